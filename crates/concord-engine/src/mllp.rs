//! The MLLP listener: HL7 v2 over TCP, one frame per message, one ACK per frame, in order.
//!
//! Each connection reads frames (`hl7::mllp::Deframer`), hands each message to
//! `Hub::receive_hl7` (parse, redact, store) and writes the ACK only after the store answered:
//! AA/AE when the message is durably stored, AR with the reason when it is not (unreadable,
//! too large, or the store failed; the sender keeps it and resends). Limits: at most
//! `mllp_max_connections` at once (one more is closed at once), `mllp_idle_timeout_ms` of
//! silence closes a connection, `mllp_max_message_bytes` per message (a larger one is skipped to
//! its end and rejected, and the connection goes on).

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use concord_formats::hl7::{
    ack::reject_unreadable,
    mllp::{Deframer, Framed, frame},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::Semaphore,
};

use crate::hub::{Hub, new_id};

/// Accepts connections until the hub shuts down.
pub async fn serve(listener: TcpListener, hub: Hub) {
    let config = hub.config().clinical.clone();
    let slots = Arc::new(Semaphore::new(config.mllp_max_connections));
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = hub.idle("mllp", Duration::from_secs(3600)) => {
                if hub.stopping() { return; }
                continue;
            }
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors and the like: back off a little, keep listening.
                tracing::warn!(error = %e, "MLLP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, limit = config.mllp_max_connections, "MLLP connection refused: the connection limit is reached");
            drop(stream);
            continue;
        };
        let hub = hub.clone();
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(e) = connection(&hub, stream).await {
                tracing::debug!(%peer, error = %e, "MLLP connection ended");
            }
        });
    }
}

async fn connection(hub: &Hub, mut stream: TcpStream) -> std::io::Result<()> {
    let config = &hub.config().clinical;
    let idle = Duration::from_millis(config.mllp_idle_timeout_ms);
    let _ = stream.set_nodelay(true);
    let peer = stream.peer_addr()?;
    let mut deframer = Deframer::new(config.mllp_max_message_bytes);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = tokio::select! {
            r = tokio::time::timeout(idle, stream.read(&mut buf)) => match r {
                Err(_) => {
                    tracing::info!(%peer, "MLLP connection idle too long; closed");
                    return Ok(());
                }
                Ok(r) => r?,
            },
            _ = hub.idle("mllp", idle) => return Ok(()),
        };
        if n == 0 {
            if deframer.in_frame() {
                tracing::warn!(%peer, "MLLP connection closed in the middle of a message; it was not stored (no ACK was sent)");
            }
            return Ok(());
        }
        for framed in deframer.push(&buf[..n]) {
            let ack = match framed {
                Framed::Message(bytes) => {
                    let receipt = hub.receive_hl7(&bytes).await;
                    if let Some(record) = receipt.to_process {
                        hub.queue_clinical(record);
                    }
                    receipt.ack
                }
                Framed::TooLarge { limit } => {
                    tracing::warn!(%peer, limit, "an HL7 message over the size limit was rejected");
                    reject_unreadable(
                        &format!(
                            "the message is larger than {limit} bytes (clinical.mllp_max_message_bytes)"
                        ),
                        &new_id("ack"),
                        Utc::now().naive_utc(),
                    )
                }
                Framed::Stray { bytes } => {
                    tracing::warn!(%peer, bytes, "bytes outside any MLLP frame were skipped");
                    continue;
                }
            };
            tokio::time::timeout(idle, stream.write_all(&frame(ack.as_bytes())))
                .await
                .map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::TimedOut, "ACK write timed out")
                })??;
        }
    }
}

/// Binds `[clinical] mllp_listen` when it is set and serves it until the hub shuts down;
/// returns the bound address (port 0 picks a free one).
pub async fn start(hub: &Hub) -> std::io::Result<Option<std::net::SocketAddr>> {
    let Some(addr) = hub.config().clinical.mllp_listen else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot listen for MLLP on {addr}: {e}"))
    })?;
    let bound = listener.local_addr()?;
    tokio::spawn(serve(listener, hub.clone()));
    tracing::info!(addr = %bound, "MLLP listener accepting HL7 v2");
    Ok(Some(bound))
}
