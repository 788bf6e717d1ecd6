//! Values that must not reach a log: secrets (never shown) and text that may carry patient data
//! (hidden unless the operator turns it on for a debugging session).
//!
//! Both are wrappers whose `Debug` and `Display` do the redaction, so the safe thing is what
//! happens by default: a `tracing` field, an error message or a panic that formats one of them
//! prints the placeholder. Reading the value is an explicit, greppable call.

use std::{
    fmt,
    sync::atomic::{AtomicBool, Ordering},
};

/// A secret (an API key, a signing key, a password). It has no `Serialize` on purpose: it can
/// neither be logged nor echoed in an answer by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that uses it (a header, a key check).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Whether [`Phi`] values are printed. Off unless the operator sets `[log] show_patient_data`
/// (or `CONCORD_LOG_PATIENT_DATA=1`); one switch for the process, because logging is too.
static SHOW_PATIENT_DATA: AtomicBool = AtomicBool::new(false);

/// Turns printing of [`Phi`] values on or off for the whole process.
pub fn show_patient_data(on: bool) {
    SHOW_PATIENT_DATA.store(on, Ordering::Relaxed);
}

/// Text that may carry patient data: a rejection reason quoting a message, a target system's
/// error body. Logged as `[redacted: N bytes]` unless patient data is switched on.
pub struct Phi<'a>(pub &'a str);

impl fmt::Display for Phi<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if SHOW_PATIENT_DATA.load(Ordering::Relaxed) {
            f.write_str(self.0)
        } else {
            write!(f, "[redacted: {} bytes]", self.0.len())
        }
    }
}

impl fmt::Debug for Phi<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("ck_k_1_abcdef");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(format!("{s:?}"), "Secret([redacted])");
        assert_eq!(format!("{:?}", Some(&s)), "Some(Secret([redacted]))");
        assert_eq!(s.expose(), "ck_k_1_abcdef");
    }

    /// The only test that flips the switch, so it cannot race another.
    #[test]
    fn patient_data_is_hidden_unless_switched_on() {
        let reason = "PID-5 Doe^Jane is not a name we know";
        assert_eq!(Phi(reason).to_string(), "[redacted: 36 bytes]");
        assert_eq!(format!("{:?}", Phi(reason)), "[redacted: 36 bytes]");
        show_patient_data(true);
        assert_eq!(Phi(reason).to_string(), reason);
        show_patient_data(false);
        assert!(!Phi(reason).to_string().contains("Doe"));
    }
}
