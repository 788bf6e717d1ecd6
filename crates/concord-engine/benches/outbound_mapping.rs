//! Outbound mapping cost: what a delivery pays to turn the canonical document into a target's
//! native body.
//!
//! `cargo bench -p concord-engine --bench outbound_mapping` runs the demo's purchasing-suite
//! contract mapping (`examples/demo/mappings/purchasing/contract.out.jq`) on a delivery's input
//! (the contract with 1 and with 20 lines, the target, the references and the time) two ways,
//! one run at a time on this thread: `Mapping::run`, which hands the JSON value to jaq as it is
//! and builds the output directly, and close to the way through text that `run` took before
//! (the input written out and parsed by jaq, the output written out and parsed again; the output
//! is also built directly first, so this column costs a little more than the old way did).
//! Prints µs per run.

use std::{hint::black_box, path::Path, time::Instant};

use concord_engine::mapping::Mapping;
use serde_json::{Value, json};

/// The allocator the `concord` binary runs with, so that the figures are the hub's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RUNS: usize = 20_000;

fn delivery_input(lines: usize) -> Value {
    let lines: Vec<Value> = (0..lines)
        .map(|n| {
            json!({"gtin": format!("0061414{n:07}"), "uom": "EA", "price_breaks": [
                {"min_quantity": 1, "unit_price": "12.50"}, {"min_quantity": 100, "unit_price": "11.75"}]})
        })
        .collect();
    json!({
        "contract": {"id": "C-100", "version": 3, "supplier_id": "S-1", "status": "approved",
            "effective_date": "2026-01-01", "expiration_date": "2026-12-31",
            "eligibility": {"facilities": ["0614141000005"], "groups": ["east"]}, "lines": lines},
        "target": "purchasing",
        "xref": {"supplier": "V-0001"},
        "occurred_at": "2026-12-07T23:00:00.000000Z"
    })
}

fn per_run_us(mut f: impl FnMut() -> Value) -> f64 {
    for _ in 0..RUNS / 10 {
        black_box(f());
    }
    let started = Instant::now();
    for _ in 0..RUNS {
        black_box(f());
    }
    started.elapsed().as_secs_f64() * 1e6 / RUNS as f64
}

fn main() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/demo/mappings/purchasing/contract.out.jq");
    let mapping =
        Mapping::load(&file, "purchasing contract out").expect("the demo mapping compiles");
    for lines in [1, 20] {
        let input = delivery_input(lines);
        let direct = mapping.run(&input).expect("maps");
        let through_text = || {
            let text = input.to_string();
            let out = mapping.run_bytes(text.as_bytes()).expect("maps");
            serde_json::from_str::<Value>(&out.to_string()).expect("JSON")
        };
        assert_eq!(direct, through_text(), "both ways give the same body");
        let direct_us = per_run_us(|| mapping.run(&input).expect("maps"));
        let text_us = per_run_us(through_text);
        println!(
            "outbound contract mapping, {lines} line(s): run {direct_us:.1} µs; through text {text_us:.1} µs ({RUNS} runs each)"
        );
    }
}
