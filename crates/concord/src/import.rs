//! `concord import suppliers|items|exclusions FILE`: streams a CSV into the store with a
//! progress bar on stderr, a summary on stdout, and every refused row in a report file.

use std::{
    io::{IsTerminal, Write as _},
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use concord_engine::{
    config::Config,
    import::{ImportKind, ImportSummary, import_csv},
};
use concord_store::{Store, StoreOptions};

/// Draws `[#####.....]  42%  420,000 rows` on stderr: in place on a terminal, else a line at
/// each tenth of the file.
struct Progress {
    total: u64,
    tty: bool,
    last_tenth: u64,
}

impl Progress {
    fn show(&mut self, bytes: u64, rows: u64) {
        let pct = (bytes * 100)
            .checked_div(self.total)
            .unwrap_or(100)
            .min(100);
        if self.tty {
            let filled = (pct / 4) as usize;
            eprint!(
                "\r[{}{}] {pct:>3}%  {rows} rows",
                "#".repeat(filled),
                ".".repeat(25 - filled)
            );
        } else if pct / 10 > self.last_tenth {
            self.last_tenth = pct / 10;
            eprintln!("{pct:>3}%  {rows} rows");
        }
    }
}

/// Imports `file` into the store `config` names; exits non-zero when the file cannot be read
/// (bad header, unreadable); refused rows are reported, not fatal.
pub async fn run(
    config: Config,
    kind: ImportKind,
    file: &Path,
    report: Option<PathBuf>,
) -> Result<()> {
    let report = report.unwrap_or_else(|| {
        let mut name = file.as_os_str().to_owned();
        name.push(".errors.csv");
        PathBuf::from(name)
    });
    let input = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let total = input.metadata().map(|m| m.len()).unwrap_or(0);
    if config.hub.store_url.is_none() {
        std::fs::create_dir_all(&config.hub.data_dir)
            .with_context(|| format!("creating {}", config.hub.data_dir.display()))?;
    }
    let store = Store::open(StoreOptions::new(config.store_url()).bulk())
        .await
        .context("opening the store")?;
    let summary = import_into(&store, kind, input, total, &report).await;
    store.close().await;
    let summary = summary?;
    println!(
        "imported {}: {} rows read, {} applied, {} refused in {:.2} s ({} rows/s)",
        kind.name(),
        summary.rows,
        summary.applied,
        summary.failed,
        summary.seconds,
        summary.rows_per_second
    );
    if summary.failed > 0 {
        println!(
            "refused rows, with line, column and reason: {}",
            report.display()
        );
    }
    Ok(())
}

pub async fn import_into(
    store: &Store,
    kind: ImportKind,
    input: impl std::io::Read,
    total: u64,
    report: &Path,
) -> Result<ImportSummary> {
    let mut progress = Progress {
        total,
        tty: std::io::stderr().is_terminal(),
        last_tenth: 0,
    };
    let actor = format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    );
    let summary = import_csv(store, kind, input, report, &actor, |b, r| {
        progress.show(b, r)
    })
    .await
    .with_context(|| format!("importing {}", kind.name()))?;
    if progress.tty {
        eprintln!();
    }
    let _ = std::io::stderr().flush();
    Ok(summary)
}
