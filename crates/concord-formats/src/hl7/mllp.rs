//! MLLP (the Minimal Lower Layer Protocol of HL7 v2): each message travels as
//! `0x0B message 0x1C 0x0D`. [`Deframer`] finds frames in whatever the socket delivers, in
//! pieces of any size; it never panics and bounds its memory by the largest frame allowed.

/// Start of block (vertical tab).
pub const START: u8 = 0x0B;
/// End of block (file separator), followed by [`CR`].
pub const END: u8 = 0x1C;
pub const CR: u8 = 0x0D;

/// One message framed for the wire.
pub fn frame(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 3);
    out.push(START);
    out.extend_from_slice(message);
    out.extend_from_slice(&[END, CR]);
    out
}

/// What the deframer found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framed {
    /// A whole message (without its framing bytes).
    Message(Vec<u8>),
    /// A frame longer than the limit: its bytes were discarded up to its end, so the next
    /// frame reads normally. The sender gets a reject naming the limit.
    TooLarge { limit: usize },
    /// Bytes outside any frame (noise, a sender that does not frame): skipped, counted.
    Stray { bytes: usize },
}

/// Splits a byte stream into MLLP frames.
#[derive(Debug)]
pub struct Deframer {
    limit: usize,
    buf: Vec<u8>,
    /// Inside a frame (after `0x0B`).
    open: bool,
    /// Inside a frame that outgrew the limit: skipping to its end.
    skipping: bool,
    /// The previous byte was `0x1C` (its `0x0D` may come in the next read).
    saw_end: bool,
    stray: usize,
}

impl Deframer {
    /// `limit`: the largest message accepted, in bytes.
    pub fn new(limit: usize) -> Self {
        Deframer {
            limit,
            buf: vec![],
            open: false,
            skipping: false,
            saw_end: false,
            stray: 0,
        }
    }

    /// Whether a frame has started and not ended (a connection closed now cut a message).
    pub fn in_frame(&self) -> bool {
        self.open
    }

    /// Feeds bytes read from the socket; returns what they completed, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Framed> {
        let mut out = vec![];
        for &b in bytes {
            if !self.open {
                if b == START {
                    if self.stray > 0 {
                        out.push(Framed::Stray { bytes: self.stray });
                        self.stray = 0;
                    }
                    self.open = true;
                    self.skipping = false;
                    self.saw_end = false;
                    self.buf.clear();
                } else if !(b == CR || b == b'\n') {
                    // A line end between frames is common and harmless; anything else is noise.
                    self.stray += 1;
                }
                continue;
            }
            if self.saw_end {
                self.saw_end = false;
                if b == CR {
                    self.open = false;
                    if self.skipping {
                        out.push(Framed::TooLarge { limit: self.limit });
                    } else {
                        out.push(Framed::Message(std::mem::take(&mut self.buf)));
                    }
                    continue;
                }
                if b == START {
                    // A sender that ends frames without the CR: the frame ended at 0x1C.
                    out.push(if self.skipping {
                        Framed::TooLarge { limit: self.limit }
                    } else {
                        Framed::Message(std::mem::take(&mut self.buf))
                    });
                    self.buf.clear();
                    self.skipping = false;
                    continue;
                }
                // 0x1C inside the message: keep it as data.
                self.keep(END);
            }
            if b == END {
                self.saw_end = true;
            } else if b == START {
                // A new start inside a frame: the sender gave up on the last one. Keep the
                // new frame; the cut one is noise.
                self.stray += self.buf.len() + 1;
                self.buf.clear();
                self.skipping = false;
            } else {
                self.keep(b);
            }
        }
        out
    }

    fn keep(&mut self, b: u8) {
        if self.skipping {
            return;
        }
        if self.buf.len() >= self.limit {
            self.skipping = true;
            self.buf = vec![];
            return;
        }
        self.buf.push(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn frames_split_anywhere_come_out_whole() {
        let mut wire = frame(b"MSH|one");
        wire.extend(frame(b"MSH|two\x1cstill two"));
        for cut in 0..wire.len() {
            let mut d = Deframer::new(1024);
            let mut got = d.push(&wire[..cut]);
            got.extend(d.push(&wire[cut..]));
            assert_eq!(
                got,
                [
                    Framed::Message(b"MSH|one".to_vec()),
                    Framed::Message(b"MSH|two\x1cstill two".to_vec())
                ],
                "cut at {cut}"
            );
            assert!(!d.in_frame());
        }
    }

    #[test]
    fn a_frame_ended_without_its_cr_still_ends_at_the_next_start() {
        let mut d = Deframer::new(64);
        let got = d.push(b"\x0bMSH|one\x1c\x0bMSH|two\x1c\r");
        assert_eq!(
            got,
            [
                Framed::Message(b"MSH|one".to_vec()),
                Framed::Message(b"MSH|two".to_vec())
            ]
        );
    }

    #[test]
    fn too_large_frames_are_skipped_to_their_end_and_noise_is_counted() {
        let mut d = Deframer::new(4);
        let mut wire = b"junk\r\n".to_vec();
        wire.extend(frame(b"123456789"));
        wire.extend(frame(b"1234"));
        assert_eq!(
            d.push(&wire),
            [
                Framed::Stray { bytes: 4 },
                Framed::TooLarge { limit: 4 },
                Framed::Message(b"1234".to_vec())
            ]
        );
        assert!(d.push(&[START, b'x']).is_empty());
        assert!(d.in_frame());
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic_and_stay_bounded(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let mut d = Deframer::new(64);
            for f in d.push(&bytes) {
                if let Framed::Message(m) = f {
                    prop_assert!(m.len() <= 64);
                }
            }
            prop_assert!(d.buf.len() <= 64);
        }
    }
}
