//! Bulk import of master data and exclusion lists from CSV (`concord import`): streamed, in
//! batches, straight into the store, so it is safe beside a running hub on the same store (each
//! batch is one short transaction; SQLite waits its turn through `busy_timeout`).
//!
//! Every row is checked before anything is written; a bad row goes to the report file with its
//! line, column, rule and message, and the rest go on. A row is one upsert, so it is applied
//! whole or not at all. Should a batch fail in the database, it is retried row by row and only
//! the failing rows are reported.

use std::{
    io::{Read, Write as _},
    path::Path,
    time::Instant,
};

use chrono::Utc;
use concord_model::{
    FieldError, Item, PostalAddress, Supplier, parse_canonical,
    screening::{Exclusion, ExclusionColumns, ExclusionList},
};
use concord_store::{Store, Write};
use serde::Serialize;
use serde_json::{Value, json};

/// Rows per transaction. Large: each transaction rewrites the index pages it touched, and
/// inserts land all over the indexes, so the WAL traffic per row falls as batches grow
/// (measured: 5,000 rows gave 60,000 rows/s, 50,000 gave 110,000; BENCHMARKS.md). A hub
/// sharing an SQLite store waits for a batch's commit, about half a second at most.
const BATCH: usize = 50_000;

/// What is imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    Suppliers,
    Items,
    Exclusions(ExclusionList),
}

impl ImportKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Suppliers => "suppliers",
            Self::Items => "items",
            Self::Exclusions(ExclusionList::Leie) => "exclusions (OIG LEIE)",
            Self::Exclusions(ExclusionList::Sam) => "exclusions (SAM)",
        }
    }
}

/// How an import went.
#[derive(Debug, Clone, Serialize)]
pub struct ImportSummary {
    pub rows: u64,
    pub applied: u64,
    pub failed: u64,
    pub seconds: f64,
    pub rows_per_second: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Header(String),
    #[error("reading the CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("writing the report: {0}")]
    Report(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] concord_store::Error),
}

/// One parsed row, ready to write.
enum Record {
    Supplier(Supplier),
    Item(Item),
    Exclusion(Exclusion),
}

/// Reads `input` as CSV with a header row and imports every good row; bad rows are written to
/// `report` (CSV: line, column, rule, message). `progress(bytes_read, rows)` is called after
/// each batch.
pub async fn import_csv(
    store: &Store,
    kind: ImportKind,
    input: impl Read,
    report: &Path,
    actor: &str,
    mut progress: impl FnMut(u64, u64),
) -> Result<ImportSummary, ImportError> {
    let started = Instant::now();
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::Headers)
        .from_reader(input);
    let header: Vec<String> = reader.headers()?.iter().map(str::to_string).collect();
    let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
    let parse_row = RowParser::new(kind, &header_refs)?;
    let mut report_file = std::io::BufWriter::new(std::fs::File::create(report)?);
    writeln!(report_file, "line,column,rule,message")?;
    let mut summary = ImportSummary {
        rows: 0,
        applied: 0,
        failed: 0,
        seconds: 0.0,
        rows_per_second: 0,
    };
    let mut batch: Vec<(u64, Record)> = Vec::with_capacity(BATCH);
    let mut in_flight: Option<InFlight> = None;
    let mut record = csv::ByteRecord::new();
    loop {
        let more = match reader.read_byte_record(&mut record) {
            Ok(more) => more,
            Err(e) => {
                // What is committed stays committed and counted; then the error.
                if let Some(previous) = in_flight.take() {
                    settle(store, previous, &mut summary, &mut report_file).await?;
                }
                report_file.flush()?;
                return Err(e.into());
            }
        };
        if !more {
            break;
        }
        summary.rows += 1;
        let line = record.position().map_or(summary.rows + 1, |p| p.line());
        // A field that is not UTF-8 refuses its row, named, and the rest go on.
        let fields: Result<Vec<&str>, usize> = record
            .iter()
            .enumerate()
            .map(|(i, f)| std::str::from_utf8(f).map_err(|_| i))
            .collect();
        let parsed = match fields {
            Ok(fields) => parse_row.parse(&fields),
            Err(i) => Err(vec![FieldError::new(
                header
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| format!("column {}", i + 1)),
                "encoding",
                "the value is not UTF-8 text",
            )]),
        };
        match parsed {
            Ok(r) => batch.push((line, r)),
            Err(errors) => {
                summary.failed += 1;
                for e in errors {
                    report_row(&mut report_file, line, &e)?;
                }
            }
        }
        if batch.len() >= BATCH {
            // The batch commits while the next one is read: parsing and the database each
            // keep a core busy.
            let rows = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
            let writes = writes_for(rows.iter().map(|(_, r)| r), Utc::now());
            if let Some(previous) = in_flight.take() {
                settle(store, previous, &mut summary, &mut report_file).await?;
            }
            let committing = store.clone();
            in_flight = Some(tokio::spawn(async move {
                let result = committing.commit(writes).await.map(|_| ());
                (rows, result)
            }));
            progress(reader.position().byte(), summary.rows);
        }
    }
    if let Some(previous) = in_flight.take() {
        settle(store, previous, &mut summary, &mut report_file).await?;
    }
    let rows = std::mem::take(&mut batch);
    if !rows.is_empty() {
        let writes = writes_for(rows.iter().map(|(_, r)| r), Utc::now());
        let result = store.commit(writes).await.map(|_| ());
        settle_result(store, rows, result, &mut summary, &mut report_file).await?;
    }
    progress(reader.position().byte(), summary.rows);
    report_file.flush()?;
    summary.seconds = started.elapsed().as_secs_f64();
    summary.rows_per_second = (summary.rows as f64 / summary.seconds.max(1e-9)) as u64;
    // One audit entry for the whole import: who loaded what, how much.
    store
        .commit(vec![crate::governance::audit(
            actor,
            "master.imported",
            format!("import:{}", kind.name()),
            None,
            None,
            None,
            json!({"rows": summary.rows, "applied": summary.applied, "failed": summary.failed}),
        )])
        .await?;
    Ok(summary)
}

fn report_row(out: &mut impl std::io::Write, line: u64, e: &FieldError) -> std::io::Result<()> {
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    writeln!(
        out,
        "{line},{},{},{}",
        quote(&e.path),
        quote(&e.rule),
        quote(&e.message)
    )
}

/// A batch being committed in the background, handed back with its outcome.
type InFlight = tokio::task::JoinHandle<(Vec<(u64, Record)>, Result<(), concord_store::Error>)>;

async fn settle(
    store: &Store,
    in_flight: InFlight,
    summary: &mut ImportSummary,
    report: &mut impl std::io::Write,
) -> Result<(), ImportError> {
    let (rows, result) = in_flight
        .await
        .map_err(|e| ImportError::Report(std::io::Error::other(e.to_string())))?;
    settle_result(store, rows, result, summary, report).await
}

/// Counts a committed batch; a failed one is retried row by row, each failure reported.
async fn settle_result(
    store: &Store,
    rows: Vec<(u64, Record)>,
    result: Result<(), concord_store::Error>,
    summary: &mut ImportSummary,
    report: &mut impl std::io::Write,
) -> Result<(), ImportError> {
    match result {
        Ok(()) => summary.applied += rows.len() as u64,
        Err(batch_error) => {
            tracing::warn!(error = %batch_error, "a batch failed; retrying its rows one by one");
            let now = Utc::now();
            for (line, r) in &rows {
                let writes = writes_for(std::iter::once(r), now);
                match store.commit(writes).await {
                    Ok(_) => summary.applied += 1,
                    Err(e) => {
                        summary.failed += 1;
                        report_row(report, *line, &FieldError::new("", "store", e.to_string()))?;
                    }
                }
            }
        }
    }
    Ok(())
}

fn writes_for<'a>(
    rows: impl Iterator<Item = &'a Record>,
    now: chrono::DateTime<Utc>,
) -> Vec<Write> {
    let mut writes = vec![];
    let mut exclusions = vec![];
    for r in rows {
        match r {
            Record::Exclusion(e) => exclusions.push(e.clone()),
            Record::Item(i) => writes.push(Write::UpsertItem(i.clone(), now)),
            // Payment details are not imported; the upsert keeps the ones in force (they
            // change only with two approvals).
            Record::Supplier(s) => writes.push(Write::UpsertSupplier(s.clone(), now)),
        }
    }
    if !exclusions.is_empty() {
        writes.push(Write::UpsertExclusions {
            entries: exclusions,
            at: now,
        });
    }
    writes
}

/// Turns a row into a record for one kind of file.
enum RowParser {
    Exclusions(Box<ExclusionColumns>),
    Master {
        kind: ImportKind,
        columns: Vec<String>,
    },
}

/// Columns of the supplier file (`id` and `name` required).
pub const SUPPLIER_COLUMNS: &[&str] = &[
    "id", "name", "tin", "npi", "gln", "line1", "city", "state", "zip",
];
/// Columns of the item file (`gtin`, `description`, `unspsc`, `uom` required); `packaging` is
/// `BX=10;CS=100`.
pub const ITEM_COLUMNS: &[&str] = &[
    "gtin",
    "description",
    "unspsc",
    "uom",
    "vendor_part",
    "supplier_id",
    "udi_di",
    "manufacturer",
    "manufacturer_part",
    "packaging",
];

impl RowParser {
    fn new(kind: ImportKind, header: &[&str]) -> Result<RowParser, ImportError> {
        match kind {
            ImportKind::Exclusions(list) => ExclusionColumns::from_header(list, header)
                .map(|c| RowParser::Exclusions(Box::new(c)))
                .map_err(ImportError::Header),
            ImportKind::Suppliers | ImportKind::Items => {
                let (known, required): (&[&str], &[&str]) = if kind == ImportKind::Suppliers {
                    (SUPPLIER_COLUMNS, &["id", "name"])
                } else {
                    (ITEM_COLUMNS, &["gtin", "description", "unspsc", "uom"])
                };
                let columns: Vec<String> = header
                    .iter()
                    .map(|h| h.trim().to_ascii_lowercase())
                    .collect();
                let unknown: Vec<&String> = columns
                    .iter()
                    .filter(|c| !known.contains(&c.as_str()))
                    .collect();
                let missing: Vec<&&str> = required
                    .iter()
                    .filter(|r| !columns.iter().any(|c| c == *r))
                    .collect();
                if !unknown.is_empty() || !missing.is_empty() {
                    return Err(ImportError::Header(format!(
                        "the {} file's header: missing {missing:?}, unknown {unknown:?}; the columns are {known:?}",
                        kind.name()
                    )));
                }
                Ok(RowParser::Master { kind, columns })
            }
        }
    }

    fn parse(&self, fields: &[&str]) -> Result<Record, Vec<FieldError>> {
        match self {
            RowParser::Exclusions(columns) => columns.row(fields).map(Record::Exclusion),
            RowParser::Master { kind, columns } => {
                let get = |name: &str| {
                    columns
                        .iter()
                        .position(|c| c == name)
                        .and_then(|i| fields.get(i))
                        .map(|v| v.trim())
                        .filter(|v| !v.is_empty())
                };
                if *kind == ImportKind::Suppliers {
                    let mut doc =
                        json!({"id": get("id").unwrap_or(""), "name": get("name").unwrap_or("")});
                    for f in ["tin", "npi", "gln"] {
                        if let Some(v) = get(f) {
                            doc[f] = json!(v);
                        }
                    }
                    let address = ["line1", "city", "state", "zip"].map(get);
                    if address.iter().any(Option::is_some) {
                        let [line1, city, state, zip] = address.map(|v| v.unwrap_or(""));
                        doc["address"] = serde_json::to_value(PostalAddress {
                            line1: line1.into(),
                            city: city.into(),
                            state: state.into(),
                            zip: zip.into(),
                        })
                        .unwrap_or_default();
                    }
                    parse_canonical::<Supplier>(&doc).map(Record::Supplier)
                } else {
                    let mut doc = json!({});
                    for f in ITEM_COLUMNS.iter().filter(|f| **f != "packaging") {
                        if let Some(v) = get(f) {
                            doc[*f] = json!(v);
                        }
                    }
                    for f in ["gtin", "description", "unspsc", "uom"] {
                        if doc.get(f).is_none() {
                            doc[f] = json!("");
                        }
                    }
                    if let Some(p) = get("packaging") {
                        doc["packaging"] = packaging(p)?;
                    }
                    parse_canonical::<Item>(&doc).map(Record::Item)
                }
            }
        }
    }
}

/// `BX=10;CS=100` → packaging levels.
fn packaging(text: &str) -> Result<Value, Vec<FieldError>> {
    let mut levels = vec![];
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((uom, quantity)) = part.split_once('=') else {
            return Err(vec![FieldError::new(
                "packaging",
                "packaging_format",
                format!("{part:?} is not UOM=quantity (BX=10;CS=100)"),
            )]);
        };
        let quantity: u32 = quantity.trim().parse().map_err(|_| {
            vec![FieldError::new(
                "packaging",
                "packaging_format",
                format!("{part:?}: the quantity is not a whole number"),
            )]
        })?;
        levels.push(json!({"uom": uom.trim(), "quantity": quantity}));
    }
    // The levels themselves (units, at least 2 per pack) are checked when the item is parsed.
    Ok(Value::Array(levels))
}
