//! Patient data kept to the minimum: identifiers that link clinical messages together (the
//! MRN, the encounter or account number) are replaced by keyed pseudonyms before anything is
//! stored, and names, dates of birth and addresses are never stored at all.
//!
//! A pseudonym is `HMAC-SHA-256(key, kind ‖ 0x00 ‖ value)`, cut to 128 bits and written as
//! `{kind}_{hex}`. The same MRN always gives the same pseudonym (so two usages of one patient
//! still belong together, and a duplicate still looks like one), while without the key nobody
//! can go from the pseudonym back to the MRN, not even by trying every MRN there is: that is
//! why it is keyed and not a plain hash. The kind is part of the input so that an MRN and an
//! account number that happen to be equal do not share a pseudonym.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::redact::Secret;

/// The smallest key accepted: 32 bytes, the size of the hash.
pub const MIN_KEY_BYTES: usize = 32;

/// What an identifier is, written into its pseudonym.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentifierKind {
    /// The patient's medical record number (PID-3, `Patient.identifier`).
    Patient,
    /// The encounter, visit or account number (PID-18, PV1-19, `Encounter`).
    Encounter,
}

impl IdentifierKind {
    pub fn prefix(self) -> &'static str {
        match self {
            IdentifierKind::Patient => "pt",
            IdentifierKind::Encounter => "enc",
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PseudonymKeyError {
    #[error("the pseudonym key has {0} bytes; at least {MIN_KEY_BYTES} are needed")]
    TooShort(usize),
}

/// Makes pseudonyms with one secret key. Holding the key only inside keeps it out of logs
/// (`Debug` prints no key).
#[derive(Clone)]
pub struct Pseudonymizer {
    key: Secret,
}

impl std::fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonymizer([key redacted])")
    }
}

impl Pseudonymizer {
    /// A key shorter than [`MIN_KEY_BYTES`] is refused: a short key could be guessed, and then
    /// every pseudonym could be reversed by trying MRNs.
    pub fn new(key: Secret) -> Result<Self, PseudonymKeyError> {
        let n = key.expose().len();
        if n < MIN_KEY_BYTES {
            return Err(PseudonymKeyError::TooShort(n));
        }
        Ok(Pseudonymizer { key })
    }

    /// The pseudonym of one identifier. Surrounding blanks do not count (`" 123"` and `"123"`
    /// are the same MRN).
    pub fn pseudonym(&self, kind: IdentifierKind, value: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.key.expose().as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(kind.prefix().as_bytes());
        mac.update(&[0]);
        mac.update(value.trim().as_bytes());
        let tag = mac.finalize().into_bytes();
        format!("{}_{}", kind.prefix(), hex::encode(&tag[..16]))
    }

    /// Whether a text already is a pseudonym of this kind (so a message redacted once and
    /// replayed is not pseudonymised twice).
    pub fn is_pseudonym(kind: IdentifierKind, value: &str) -> bool {
        value
            .strip_prefix(kind.prefix())
            .and_then(|rest| rest.strip_prefix('_'))
            .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()))
    }

    /// The pseudonym, unless the value already is one.
    pub fn pseudonymize(&self, kind: IdentifierKind, value: &str) -> String {
        if Self::is_pseudonym(kind, value.trim()) {
            value.trim().to_string()
        } else {
            self.pseudonym(kind, value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> Pseudonymizer {
        Pseudonymizer::new(Secret::new(s)).unwrap()
    }

    /// RFC 4231 test case 2 ("Jefe", "what do ya want for nothing?") checks that the HMAC is
    /// the standard one, so another implementation with the same key finds the same pseudonyms.
    #[test]
    fn hmac_is_rfc_4231() {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn same_input_same_pseudonym_and_kinds_and_keys_differ() {
        let a = key("0123456789abcdef0123456789abcdef");
        let b = key("fedcba9876543210fedcba9876543210");
        let p = a.pseudonym(IdentifierKind::Patient, "MRN12345");
        assert_eq!(p, a.pseudonym(IdentifierKind::Patient, " MRN12345 "));
        assert!(p.starts_with("pt_") && p.len() == 3 + 32, "{p}");
        assert!(!p.contains("12345"));
        assert_ne!(p, a.pseudonym(IdentifierKind::Encounter, "MRN12345"));
        assert_ne!(p, b.pseudonym(IdentifierKind::Patient, "MRN12345"));
        assert_ne!(p, a.pseudonym(IdentifierKind::Patient, "MRN12346"));
        assert!(Pseudonymizer::is_pseudonym(IdentifierKind::Patient, &p));
        assert!(!Pseudonymizer::is_pseudonym(IdentifierKind::Encounter, &p));
        assert_eq!(a.pseudonymize(IdentifierKind::Patient, &p), p);
    }

    #[test]
    fn short_keys_are_refused_and_never_printed() {
        assert_eq!(
            Pseudonymizer::new(Secret::new("short")).unwrap_err(),
            PseudonymKeyError::TooShort(5)
        );
        let k = key("0123456789abcdef0123456789abcdef");
        assert!(!format!("{k:?}").contains("0123"));
    }
}
