//! The audit chain: how an entry's hash is made and how a chain is checked. Pure, so tampering
//! of every kind is tested here without a database.
//!
//! Each sealed entry carries its position (`chain_seq`, 1, 2, 3 …), the hash of the entry before
//! it and its own hash over both and over every field as stored. Editing a field breaks that
//! entry's hash; deleting an entry leaves a gap; moving one breaks the links around it; cutting
//! the tail leaves the head (the last position and hash, kept apart) pointing past the end.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// The hash the first entry links to.
pub const GENESIS: &str = "genesis";

/// One audit entry as stored (the fields the hash covers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditFields {
    /// Microseconds since the Unix epoch, UTC.
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub correlation_id: Option<String>,
    pub before_digest: Option<String>,
    pub after_digest: Option<String>,
    /// The detail JSON exactly as stored (the text, not a re-serialisation).
    pub detail: String,
}

/// A sealed entry: its fields, its place in the chain and the two hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SealedEntry {
    pub chain_seq: i64,
    pub prev_hash: String,
    pub hash: String,
    #[serde(flatten)]
    pub fields: AuditFields,
}

/// SHA-256 over the position, the previous hash and every field, as a JSON array so that no
/// two different entries can produce the same input.
pub fn entry_hash(chain_seq: i64, prev_hash: &str, f: &AuditFields) -> String {
    let input = serde_json::json!([
        chain_seq,
        prev_hash,
        f.at,
        f.actor,
        f.action,
        f.subject,
        f.correlation_id,
        f.before_digest,
        f.after_digest,
        f.detail,
    ]);
    hex::encode(Sha256::digest(input.to_string().as_bytes()))
}

/// What verification found wrong, with the position it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "finding", rename_all = "snake_case")]
pub enum Finding {
    /// The entry's content no longer matches its hash.
    Edited { chain_seq: i64 },
    /// Positions missing from the chain.
    Deleted { from: i64, to: i64 },
    /// The entry links to the hash of another entry than the one before it.
    Reordered { chain_seq: i64, links_to: i64 },
    /// The entry links to a hash no entry has (the entry before it was altered or removed).
    BrokenLink { chain_seq: i64 },
    /// The head says the chain is longer than it is: the last entries were removed.
    TailDeleted { from: i64, to: i64 },
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Edited { chain_seq } => {
                write!(
                    f,
                    "entry {chain_seq} was edited: its content does not match its hash"
                )
            }
            Finding::Deleted { from, to } if from == to => write!(f, "entry {from} was deleted"),
            Finding::Deleted { from, to } => write!(f, "entries {from} to {to} were deleted"),
            Finding::Reordered {
                chain_seq,
                links_to,
            } => write!(
                f,
                "entry {chain_seq} is out of order: it follows entry {links_to} in the chain"
            ),
            Finding::BrokenLink { chain_seq } => write!(
                f,
                "entry {chain_seq} links to a hash no entry has: the entry before it was altered"
            ),
            Finding::TailDeleted { from, to } => write!(
                f,
                "entries {from} to {to} were deleted from the end (the head records {to})"
            ),
        }
    }
}

/// Checks a chain given in `chain_seq` order against its head; an empty answer means intact.
pub fn verify(entries: &[SealedEntry], head_seq: i64, head_hash: &str) -> Vec<Finding> {
    let by_hash: std::collections::HashMap<&str, i64> = entries
        .iter()
        .map(|e| (e.hash.as_str(), e.chain_seq))
        .collect();
    let mut findings = Vec::new();
    let mut expected_seq = 1;
    let mut prev_hash = GENESIS.to_string();
    for e in entries {
        let mut gap = false;
        if e.chain_seq > expected_seq {
            findings.push(Finding::Deleted {
                from: expected_seq,
                to: e.chain_seq - 1,
            });
            gap = true;
        }
        let mut moved = false;
        if !gap && e.prev_hash != prev_hash {
            match by_hash.get(e.prev_hash.as_str()) {
                Some(&links_to) => {
                    moved = true;
                    findings.push(Finding::Reordered {
                        chain_seq: e.chain_seq,
                        links_to,
                    });
                }
                None if e.prev_hash == GENESIS => {
                    moved = true;
                    findings.push(Finding::Reordered {
                        chain_seq: e.chain_seq,
                        links_to: 0,
                    });
                }
                None => findings.push(Finding::BrokenLink {
                    chain_seq: e.chain_seq,
                }),
            }
        }
        if !moved && entry_hash(e.chain_seq, &e.prev_hash, &e.fields) != e.hash {
            findings.push(Finding::Edited {
                chain_seq: e.chain_seq,
            });
        }
        expected_seq = e.chain_seq + 1;
        prev_hash = e.hash.clone();
    }
    let last = expected_seq - 1;
    if head_seq > last {
        findings.push(Finding::TailDeleted {
            from: last + 1,
            to: head_seq,
        });
    } else if head_seq == last && last > 0 && head_hash != prev_hash {
        findings.push(Finding::Edited { chain_seq: last });
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(i: i64) -> AuditFields {
        AuditFields {
            at: 1_700_000_000_000_000 + i,
            actor: format!("k_{i}(admin)"),
            action: "key.created".into(),
            subject: format!("key:k_{i}"),
            correlation_id: None,
            before_digest: None,
            after_digest: Some(format!("{i:064}")),
            detail: format!("{{\"n\":{i}}}"),
        }
    }

    fn chain(n: i64) -> (Vec<SealedEntry>, i64, String) {
        let mut prev = GENESIS.to_string();
        let mut out = Vec::new();
        for i in 1..=n {
            let f = fields(i);
            let hash = entry_hash(i, &prev, &f);
            out.push(SealedEntry {
                chain_seq: i,
                prev_hash: prev.clone(),
                hash: hash.clone(),
                fields: f,
            });
            prev = hash;
        }
        (out, n, prev)
    }

    #[test]
    fn an_intact_chain_verifies() {
        let (entries, seq, hash) = chain(6);
        assert_eq!(verify(&entries, seq, &hash), vec![]);
        assert_eq!(verify(&[], 0, GENESIS), vec![]);
    }

    #[test]
    fn an_edit_is_found_at_its_entry() {
        let (mut entries, seq, hash) = chain(6);
        entries[2].fields.actor = "someone else".into();
        assert_eq!(
            verify(&entries, seq, &hash),
            vec![Finding::Edited { chain_seq: 3 }]
        );
        let (mut entries, seq, hash) = chain(6);
        entries[4].fields.detail = "{\"n\":999}".into();
        assert_eq!(
            verify(&entries, seq, &hash),
            vec![Finding::Edited { chain_seq: 5 }]
        );
    }

    #[test]
    fn a_deletion_is_found_in_the_middle_and_at_the_end() {
        let (mut entries, seq, hash) = chain(6);
        entries.remove(2);
        assert_eq!(
            verify(&entries, seq, &hash),
            vec![Finding::Deleted { from: 3, to: 3 }]
        );
        let (mut entries, seq, hash) = chain(6);
        entries.truncate(4);
        assert_eq!(
            verify(&entries, seq, &hash),
            vec![Finding::TailDeleted { from: 5, to: 6 }]
        );
    }

    #[test]
    fn a_reorder_is_found() {
        let (mut entries, seq, hash) = chain(6);
        // Swap the positions of entries 3 and 4 (what swapping their chain_seq does).
        let (a, b) = (entries[2].clone(), entries[3].clone());
        entries[2] = SealedEntry { chain_seq: 3, ..b };
        entries[3] = SealedEntry { chain_seq: 4, ..a };
        // Each moved entry, and the one after them, names the position it really follows.
        assert_eq!(
            verify(&entries, seq, &hash),
            vec![
                Finding::Reordered {
                    chain_seq: 3,
                    links_to: 4
                },
                Finding::Reordered {
                    chain_seq: 4,
                    links_to: 2
                },
                Finding::Reordered {
                    chain_seq: 5,
                    links_to: 3
                },
            ]
        );
    }

    #[test]
    fn a_rehashed_edit_still_breaks_the_next_link() {
        // An editor who recomputes the edited entry's hash breaks the link of the entry after.
        let (mut entries, seq, hash) = chain(5);
        entries[1].fields.actor = "forged".into();
        entries[1].hash = entry_hash(2, &entries[1].prev_hash, &entries[1].fields);
        assert_eq!(
            verify(&entries, seq, &hash),
            vec![Finding::BrokenLink { chain_seq: 3 }]
        );
    }
}
