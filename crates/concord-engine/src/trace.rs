//! W3C Trace Context (`traceparent`) and how it meets the correlation id.
//!
//! A transaction's correlation id and its trace id are one identity: a correlation id the hub
//! makes (`corr_` and 32 hex digits, a UUIDv7) *is* a 128-bit trace id, and a request that
//! arrives with a `traceparent` but no `X-Correlation-Id` gets `corr_<its trace id>` as its
//! correlation id. Every delivery then sends `traceparent` with that trace id, so the systems
//! on both sides of the hub see one trace without the hub storing any trace state. A correlation
//! id chosen by a caller in another shape is hashed into a trace id (stable, so every delivery
//! of the transaction carries the same one).
//!
//! Pure: no I/O; the span id is passed in.

use sha2::{Digest, Sha256};

/// A parsed `traceparent` (version 00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: [u8; 16],
    pub parent_id: [u8; 8],
    pub sampled: bool,
}

fn hex_bytes<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != N * 2 || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

impl TraceParent {
    /// Parses a header value as W3C Trace Context level 1 asks: lower-case hex, version not
    /// `ff`, ids not all zero. A version above 00 is read for its first four fields (the spec's
    /// forward compatibility). `None` for anything else: the caller starts a new trace, as the
    /// spec says an invalid header must be treated.
    pub fn parse(value: &str) -> Option<TraceParent> {
        let value = value.trim();
        let mut parts = value.split('-');
        let version = hex_bytes::<1>(parts.next()?)?[0];
        let trace_id = hex_bytes::<16>(parts.next()?)?;
        let parent_id = hex_bytes::<8>(parts.next()?)?;
        let flags = hex_bytes::<1>(parts.next()?)?[0];
        let rest_ok = match version {
            0xff => false,
            0 => parts.next().is_none(),
            _ => true,
        };
        (rest_ok && trace_id != [0; 16] && parent_id != [0; 8]).then_some(TraceParent {
            trace_id,
            parent_id,
            sampled: flags & 1 == 1,
        })
    }

    /// The header value (version 00).
    pub fn header(&self) -> String {
        format!(
            "00-{}-{}-{:02x}",
            hex::encode(self.trace_id),
            hex::encode(self.parent_id),
            u8::from(self.sampled)
        )
    }
}

/// The correlation id of a transaction that arrived with this trace.
pub fn correlation_for(trace: &TraceParent) -> String {
    format!("corr_{}", hex::encode(trace.trace_id))
}

/// The trace id of a transaction: its correlation id's own 128 bits when it is `corr_` and 32
/// hex digits, else the first 16 bytes of the id's SHA-256.
pub fn trace_id_of(correlation_id: &str) -> [u8; 16] {
    if let Some(id) = correlation_id
        .strip_prefix("corr_")
        .and_then(hex_bytes::<16>)
        .filter(|id| *id != [0; 16])
    {
        return id;
    }
    let digest = Sha256::digest(correlation_id.as_bytes());
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    id
}

/// The `traceparent` a delivery of this transaction carries, with the hub's span `span_id`.
pub fn outbound(correlation_id: &str, span_id: [u8; 8]) -> TraceParent {
    TraceParent {
        trace_id: trace_id_of(correlation_id),
        // A zero span id is invalid; the caller's random one is all but never zero.
        parent_id: if span_id == [0; 8] { [1; 8] } else { span_id },
        sampled: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_spec_example_round_trips() {
        let t = TraceParent::parse(EXAMPLE).unwrap();
        assert!(t.sampled);
        assert_eq!(hex::encode(t.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(t.header(), EXAMPLE);
        assert_eq!(correlation_for(&t), "corr_4bf92f3577b34da6a3ce929d0e0e4736");
    }

    #[test]
    fn invalid_headers_are_not_traces() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
            "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad}");
        }
        // A later version may add fields; the first four are still read.
        assert!(
            TraceParent::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-more")
                .is_some_and(|t| !t.sampled)
        );
    }

    #[test]
    fn a_transaction_keeps_one_trace_id() {
        let t = TraceParent::parse(EXAMPLE).unwrap();
        let corr = correlation_for(&t);
        assert_eq!(trace_id_of(&corr), t.trace_id);
        let out = outbound(&corr, [7; 8]);
        assert_eq!(out.trace_id, t.trace_id);
        assert_eq!(
            out.header(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0707070707070707-01"
        );
        // The hub's own ids are UUIDv7 hex: used as they are.
        let own = "corr_0190f5a2b3c47d8e9f0a1b2c3d4e5f60";
        assert_eq!(
            hex::encode(trace_id_of(own)),
            "0190f5a2b3c47d8e9f0a1b2c3d4e5f60"
        );
        // A caller's own shape is hashed, the same way every time, never to zero.
        let theirs = trace_id_of("ORDER-77/REV-2");
        assert_eq!(theirs, trace_id_of("ORDER-77/REV-2"));
        assert_ne!(theirs, trace_id_of("ORDER-77/REV-3"));
        assert_ne!(theirs, [0; 16]);
        assert_eq!(outbound(own, [0; 8]).parent_id, [1; 8]);
    }
}
