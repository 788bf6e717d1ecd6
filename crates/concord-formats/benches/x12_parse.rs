//! X12 parse throughput on one core (part 3 target: at least 200 MB/s).
//!
//! `cargo bench -p concord-formats --bench x12_parse` builds a file of ~64 MB from the repository's
//! 850/855/856/810 samples (each interchange with its own control number) and times, on this
//! thread only: the envelope parse with all its checks, then the parse plus the typed read of
//! every set. `CONCORD_BENCH_X12=FILE` times a file of your own instead.

use std::time::{Duration, Instant};

use concord_formats::x12::{self, sets::TypedSet};

const SAMPLES: [&str; 4] = [
    include_str!("../tests/data/po-850-004010.edi"),
    include_str!("../tests/data/poack-855-005010.edi"),
    include_str!("../tests/data/asn-856-004010.edi"),
    include_str!("../tests/data/invoice-810-004010.edi"),
];

fn corpus(target: usize) -> String {
    let mut out = String::with_capacity(target + 4096);
    let mut n = 0u32;
    while out.len() < target {
        let sample = SAMPLES[n as usize % SAMPLES.len()];
        let control = sample.split('*').nth(13).unwrap();
        out.push_str(&sample.replace(control, &format!("{:09}", n + 1)));
        n += 1;
    }
    out
}

/// `cargo bench … -- typed` runs only the benchmarks whose name contains `typed`.
fn selected(name: &str) -> bool {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()))
}

fn time<F: FnMut() -> usize>(name: &str, bytes: usize, runs: usize, mut f: F) {
    if !selected(name) {
        return;
    }
    let mut samples: Vec<Duration> = Vec::new();
    let mut check = 0;
    for _ in 0..runs {
        let start = Instant::now();
        check = std::hint::black_box(f());
        samples.push(start.elapsed());
    }
    samples.sort();
    let mb = bytes as f64 / 1e6;
    println!(
        "{name}: {:.1} MB, {check} sets; best {:.0} MB/s, median {:.0} MB/s",
        mb,
        mb / samples[0].as_secs_f64(),
        mb / samples[runs / 2].as_secs_f64()
    );
}

fn main() {
    let input = match std::env::var("CONCORD_BENCH_X12") {
        Ok(path) => std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")),
        Err(_) => corpus(64 << 20),
    };
    let sets = |doc: &x12::Document<'_>| -> usize {
        doc.interchanges
            .iter()
            .flat_map(|i| &i.groups)
            .map(|g| g.sets.len())
            .sum()
    };
    let doc = x12::parse(&input);
    assert!(
        std::env::var("CONCORD_BENCH_X12").is_ok() || doc.diagnostics.is_empty(),
        "the benchmark corpus must be clean: {:?}",
        &doc.diagnostics[..doc.diagnostics.len().min(3)]
    );
    drop(doc);
    time("x12 parse (envelopes checked)", input.len(), 7, || {
        sets(&x12::parse(&input))
    });
    time(
        "x12 parse + typed read of every set",
        input.len(),
        5,
        || {
            let doc = x12::parse(&input);
            let mut read = 0;
            for set in doc
                .interchanges
                .iter()
                .flat_map(|i| &i.groups)
                .flat_map(|g| &g.sets)
            {
                read += usize::from(TypedSet::read(set).is_some_and(|r| r.is_ok()));
            }
            read
        },
    );
}
