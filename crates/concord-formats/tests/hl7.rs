//! The HL7 v2 reader against messages nobody on this team wrote: with `CONCORD_CORPORA` set,
//! every file of `hl7/node-hl7-complete` (ADT, ORU, ORM, SIU, BAR, MFN, MDM, DFT from several
//! vendors, some with LF segment ends). Valid files read without errors, each message with its
//! type, control id and version; the DFT^P03 reads as charges.

use std::path::PathBuf;

use concord_formats::hl7::{self, dft};

fn corpus() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("CONCORD_CORPORA")?).join("hl7/node-hl7-complete");
    assert!(dir.is_dir(), "CONCORD_CORPORA has no {}", dir.display());
    Some(dir)
}

fn files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else if path.extension().is_some_and(|e| e == "hl7") {
            out.push(path);
        }
    }
    out.sort();
    out
}

#[test]
fn every_valid_corpus_file_reads_without_errors() {
    let Some(dir) = corpus() else {
        return;
    };
    let valid = files(&dir.join("valid"));
    assert!(valid.len() >= 20, "{} files", valid.len());
    let mut messages = 0;
    for path in &valid {
        let text = std::fs::read_to_string(path).unwrap();
        let batch = hl7::parse(&text);
        let errors: Vec<String> = batch
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
        assert!(!batch.messages.is_empty(), "{}", path.display());
        for m in &batch.messages {
            let (kind, _) = m.message_type();
            assert!(
                !kind.is_empty() && !m.control_id().is_empty(),
                "{}",
                path.display()
            );
            assert!(m.version().starts_with("2."), "{}", path.display());
        }
        messages += batch.messages.len();
    }
    assert!(messages >= valid.len());
    let text = std::fs::read_to_string(dir.join("valid/mieweb/dft-example.hl7")).unwrap();
    let batch = hl7::parse(&text);
    let charges: Vec<String> = batch
        .messages
        .iter()
        .flat_map(|m| dft::read(m).unwrap().0.charges)
        .map(|c| format!("{} x{}", c.code.code, c.quantity.unwrap()))
        .collect();
    assert_eq!(
        charges[..2],
        ["73630 x1".to_string(), "76775 x1".to_string()]
    );
}

#[test]
fn every_corpus_file_reads_without_panicking_and_invalid_ones_still_parse() {
    let Some(dir) = corpus() else {
        return;
    };
    for path in files(&dir) {
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let batch = hl7::parse(&text);
        for m in &batch.messages {
            let _ = dft::read(m);
        }
        // Cut anywhere, still no panic.
        for cut in (0..text.len())
            .step_by(97)
            .filter(|c| text.is_char_boundary(*c))
        {
            let _ = hl7::parse(&text[..cut]);
        }
    }
}
