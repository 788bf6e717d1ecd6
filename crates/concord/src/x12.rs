//! `concord x12 parse FILE`: the X12 engine on one file, offline. Prints the document as JSON —
//! the envelopes and segments, each transaction set read as its typed document, and every
//! diagnostic (segment number, segment id, element position, severity, reason) — and fails when
//! any diagnostic is an error, so it can gate a partner's test files in a script.

use std::path::Path;

use anyhow::{Context, Result};
use concord_formats::x12::{self, Severity, sets::TypedSet};
use serde::Serialize;
use serde_json::json;

/// The JSON printed, fields in reading order.
#[derive(Serialize)]
struct Report<'a> {
    file: String,
    interchanges: &'a [x12::Interchange<'a>],
    documents: Vec<serde_json::Value>,
    diagnostics: Vec<x12::Diagnostic>,
}

/// Prints the report; `Ok(false)` when any diagnostic is an error (the caller exits 1).
pub fn parse(file: &Path) -> Result<bool> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let (text, encoding) = x12::parse_bytes(&bytes);
    let doc = x12::parse(&text);
    let mut diagnostics: Vec<x12::Diagnostic> = encoding
        .into_iter()
        .chain(doc.diagnostics.iter().cloned())
        .collect();
    let mut documents = Vec::new();
    for interchange in &doc.interchanges {
        for group in &interchange.groups {
            for set in &group.sets {
                let (document, found) = match TypedSet::read(set) {
                    None => (None, Vec::new()),
                    Some(Ok(parsed)) => (Some(parsed.value), parsed.warnings),
                    Some(Err(errors)) => (None, errors),
                };
                diagnostics.extend(found);
                documents.push(json!({
                    "interchange": interchange.control_number(),
                    "group": group.control_number(),
                    "set": set.id(),
                    "control_number": set.control_number(),
                    "document": document,
                }));
            }
        }
    }
    diagnostics.sort_by_key(|d| d.segment);
    let errors = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    for d in &diagnostics {
        eprintln!("{}: {d}", file.display());
    }
    eprintln!(
        "{}: {} interchange(s), {} transaction set(s), {errors} error(s), {} warning(s)",
        file.display(),
        doc.interchanges.len(),
        documents.len(),
        diagnostics.len() - errors
    );
    let report = Report {
        file: file.display().to_string(),
        interchanges: &doc.interchanges,
        documents,
        diagnostics,
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(errors == 0)
}
