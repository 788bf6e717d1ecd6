//! `concord bench mllp`: HL7 v2 over MLLP into a fresh SQLite store.
//!
//! Phase 1 (throughput): `connections` senders, each sending a DFT^P03 and waiting for its ACK
//! before the next (as MLLP senders do); every ACK must be AA, which the hub sends only after
//! the redacted message is committed. Phase 2 (latency): messages due at a fixed rate, each
//! one's ACK time measured from when it was due (so a slow ACK delays the ones behind it and
//! that delay counts). The usage worker is not started: this measures intake (parse, redact,
//! pseudonymise, store, ACK); what the workflow does with a message is measured elsewhere.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, ensure};
use concord_engine::{Config, Hub};
use concord_formats::hl7::mllp::{Deframer, Framed, frame};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use super::{Report, tempdir};

/// A DFT^P03 of realistic size (about 700 bytes) with patient data to redact.
fn message(k: usize) -> Vec<u8> {
    let text = format!(
        "MSH|^~\\&|EPIC|MERCY|CONCORD|HUB|20261121093000||DFT^P03|B-{k}|P|2.7\r\
         EVN|P03|20261121093000\r\
         PID|1||MRN{k:08}^^^MERCY^MR||Patient^Test^Q||19800214|F|||12 Elm St^^Springfield^IL^62701||(217)555-0101|||||ACC-{k}|123-45-6789\r\
         NK1|1|Patient^Next|SPO|12 Elm St^^Springfield^IL^62701\r\
         PV1|1|O|OR^04^1^MERCY|||||||CAR|||||||||V-{k}\r\
         FT1|1|||20261121093000||CG|IMP-1001^Guidewire^CDM|||1|45.00|45.00|CATH^Cath lab||||||||||||92928^PCI^CPT\r\
         FT1|2|||20261121093000||CG|IMP-2002^Stent^CDM|||1|||CATH^Cath lab||||||||||||92928^PCI^CPT\r\
         PRT|1|AD||SPLY^Supplied^HL70912||||||(01)00614141999996(17)281231(10)LOT{k}(21)SN{k}\r\
         NTE|1||Patient tolerated the procedure\r"
    );
    frame(text.as_bytes())
}

/// Sends one framed message and reads its ACK; errors unless it is AA.
async fn exchange(stream: &mut TcpStream, framed: &[u8]) -> Result<()> {
    stream.write_all(framed).await?;
    let mut deframer = Deframer::new(64 * 1024);
    let mut chunk = [0u8; 512];
    loop {
        let n = stream.read(&mut chunk).await?;
        ensure!(n > 0, "the hub closed the connection before the ACK");
        if let Some(Framed::Message(ack)) = deframer.push(&chunk[..n]).into_iter().next() {
            let ack = String::from_utf8_lossy(&ack);
            ensure!(ack.contains("\rMSA|AA|"), "not accepted: {ack}");
            return Ok(());
        }
    }
}

pub async fn run(
    messages: usize,
    connections: usize,
    rate: u32,
    latency_messages: usize,
    min_per_sec: u64,
    max_p99_ms: u64,
) -> Result<()> {
    let dir = tempdir::Dir::new()?;
    let mut config = Config::default();
    config.hub.data_dir = dir.0.clone();
    config.clinical.mllp_listen = Some("127.0.0.1:0".parse()?);
    config.clinical.mllp_max_connections = connections.max(1) + 1;
    let hub = Hub::open(config).await?;
    let addr = concord_engine::mllp::start(&hub)
        .await?
        .context("the MLLP listener did not start")?;

    // Phase 1: as fast as the senders can go.
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(messages)));
    let started = Instant::now();
    let mut tasks = vec![];
    for _ in 0..connections.max(1) {
        let (next, latencies) = (next.clone(), latencies.clone());
        tasks.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            loop {
                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if k >= messages {
                    return anyhow::Ok(());
                }
                let framed = message(k);
                let t0 = Instant::now();
                exchange(&mut stream, &framed).await?;
                latencies
                    .lock()
                    .expect("latencies")
                    .push(t0.elapsed().as_micros() as u64);
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let elapsed = started.elapsed();
    let stored = stored_count(&hub).await?;
    ensure!(
        stored >= messages as i64,
        "only {stored} of {messages} messages are stored"
    );
    let per_sec = messages as f64 / elapsed.as_secs_f64();
    Report {
        name: format!("MLLP DFT^P03 stored and acknowledged (AA), {connections} connections"),
        n: messages,
        elapsed,
        latencies_us: std::mem::take(&mut *latencies.lock().expect("latencies")),
    }
    .print();

    // Phase 2: a steady rate, ACK latency from each message's due time.
    let offset = messages;
    let senders = 16usize;
    let due_latencies = Arc::new(Mutex::new(Vec::with_capacity(latency_messages)));
    let started = Instant::now();
    let mut tasks = vec![];
    for s in 0..senders {
        let due_latencies = due_latencies.clone();
        tasks.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            for k in (s..latency_messages).step_by(senders) {
                let due = started + Duration::from_secs_f64(k as f64 / f64::from(rate.max(1)));
                tokio::time::sleep_until(due.into()).await;
                exchange(&mut stream, &message(offset + k)).await?;
                due_latencies
                    .lock()
                    .expect("latencies")
                    .push(due.elapsed().as_micros() as u64);
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let mut lat = std::mem::take(&mut *due_latencies.lock().expect("latencies"));
    lat.sort_unstable();
    let p99_ms = lat
        .get(((lat.len() as f64 - 1.0) * 0.99).round() as usize)
        .copied()
        .unwrap_or(0) as f64
        / 1000.0;
    Report {
        name: format!("MLLP ACK latency at {rate}/s"),
        n: latency_messages,
        elapsed: started.elapsed(),
        latencies_us: lat,
    }
    .print();
    hub.shutdown();
    hub.store().close().await;
    ensure!(
        per_sec >= min_per_sec as f64,
        "{per_sec:.0} messages/s is under the target of {min_per_sec}/s"
    );
    ensure!(
        p99_ms <= max_p99_ms as f64,
        "ACK p99 {p99_ms:.2} ms at {rate}/s is over the target of {max_p99_ms} ms"
    );
    Ok(())
}

async fn stored_count(hub: &Hub) -> Result<i64> {
    Ok(hub
        .store()
        .inbox_counts()
        .await?
        .into_iter()
        .map(|(_, n)| n)
        .sum())
}
