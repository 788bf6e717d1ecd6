//! Identifiers checked at the edge: GTIN-14, GLN, NPI, UNSPSC and units of measure.
//!
//! Each is a newtype that can only be built through its parser, so code deeper in the hub never
//! sees an unchecked string. They serialise as plain strings.

use std::{borrow::Cow, fmt, str::FromStr};

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} must be {expected}, got {got:?}")]
    Format {
        kind: &'static str,
        expected: &'static str,
        got: String,
    },
    #[error("{kind} {got:?} fails its check digit (expected {expected})")]
    CheckDigit {
        kind: &'static str,
        got: String,
        expected: u8,
    },
}

/// The GS1 mod-10 check digit over `body` (all digits but the last), weights 3,1,3,… from the
/// right. GTIN-8/12/13/14, GLN and SSCC all share it.
pub fn gs1_check_digit(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| u32::from(d - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn check_gs1(kind: &'static str, s: &str) -> Result<(), IdError> {
    let bytes = s.as_bytes();
    let (body, last) = bytes.split_at(bytes.len() - 1);
    let expected = gs1_check_digit(body);
    if last[0] - b'0' == expected {
        Ok(())
    } else {
        Err(IdError::CheckDigit {
            kind,
            got: s.to_string(),
            expected,
        })
    }
}

/// Implements the string plumbing shared by every identifier newtype: `Display`, `FromStr`,
/// serde as a string (validated on the way in) and a JSON Schema with the type's pattern.
macro_rules! string_id {
    ($name:ident, $schema_name:literal, $pattern:literal, $description:literal) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = Cow::<str>::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                Cow::Borrowed($schema_name)
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({"type": "string", "pattern": $pattern, "description": $description})
            }
        }
    };
}

/// A GTIN normalised to 14 digits. GTIN-8, -12 and -13 are accepted and left-padded with zeros,
/// which is how GS1 defines their GTIN-14 form; the check digit is always verified.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gtin(String);

impl Gtin {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let s = s.trim();
        if !all_digits(s) || ![8, 12, 13, 14].contains(&s.len()) {
            return Err(IdError::Format {
                kind: "GTIN",
                expected: "8, 12, 13 or 14 digits",
                got: s.to_string(),
            });
        }
        check_gs1("GTIN", s)?;
        Ok(Self(format!("{s:0>14}")))
    }
}
string_id!(
    Gtin,
    "Gtin",
    "^[0-9]{14}$",
    "GTIN-14 with a valid GS1 check digit"
);

/// A GS1 Global Location Number: 13 digits with a GS1 check digit. Facilities are keyed by it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gln(String);

impl Gln {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let s = s.trim();
        if !all_digits(s) || s.len() != 13 {
            return Err(IdError::Format {
                kind: "GLN",
                expected: "13 digits",
                got: s.to_string(),
            });
        }
        check_gs1("GLN", s)?;
        Ok(Self(s.to_string()))
    }
}
string_id!(
    Gln,
    "Gln",
    "^[0-9]{13}$",
    "GS1 GLN with a valid check digit"
);

/// A US National Provider Identifier: 10 digits, Luhn check over the number prefixed by 80840.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Npi(String);

impl Npi {
    /// Ten digits, or fifteen when written as a card issuer number with the `80840` prefix
    /// (the form the Luhn check is defined on); either way the NPI kept is the ten digits.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let s = s.trim();
        let s = match s.strip_prefix("80840") {
            Some(rest) if s.len() == 15 => rest,
            _ => s,
        };
        if !all_digits(s) || s.len() != 10 {
            return Err(IdError::Format {
                kind: "NPI",
                expected: "10 digits (or 15 with the 80840 prefix)",
                got: s.to_string(),
            });
        }
        let expected = Self::check_digit(&s[..9]);
        if s.as_bytes()[9] - b'0' != expected {
            return Err(IdError::CheckDigit {
                kind: "NPI",
                got: s.to_string(),
                expected,
            });
        }
        Ok(Self(s.to_string()))
    }

    /// The check digit of an NPI's first nine digits: Luhn over `80840` and them.
    pub fn check_digit(nine_digits: &str) -> u8 {
        let sum: u32 = format!("80840{nine_digits}")
            .bytes()
            .rev()
            .enumerate()
            .map(|(i, b)| {
                let d = u32::from(b - b'0');
                if i % 2 == 0 {
                    let doubled = d * 2;
                    if doubled > 9 { doubled - 9 } else { doubled }
                } else {
                    d
                }
            })
            .sum();
        ((10 - sum % 10) % 10) as u8
    }
}
string_id!(
    Npi,
    "Npi",
    "^[0-9]{10}$",
    "US National Provider Identifier (Luhn with prefix 80840)"
);

/// A UNSPSC commodity code: 8 digits (segment, family, class, commodity).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Unspsc(String);

impl Unspsc {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let s = s.trim();
        if !all_digits(s) || s.len() != 8 {
            return Err(IdError::Format {
                kind: "UNSPSC",
                expected: "8 digits",
                got: s.to_string(),
            });
        }
        Ok(Self(s.to_string()))
    }

    /// The class: the first six digits. Items of one class are substitutes for price advice.
    pub fn class(&self) -> &str {
        &self.0[..6]
    }
}
string_id!(
    Unspsc,
    "Unspsc",
    "^[0-9]{8}$",
    "UNSPSC commodity code (8 digits)"
);

/// A unit of measure code (X12 355 / UN/ECE style: EA, BX, CA, PK, …), upper-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uom(String);

impl Uom {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let s = s.trim();
        if !(2..=3).contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(IdError::Format {
                kind: "UOM",
                expected: "a 2 or 3 character unit code such as EA, BX or CA",
                got: s.to_string(),
            });
        }
        Ok(Self(s.to_ascii_uppercase()))
    }
}
string_id!(
    Uom,
    "Uom",
    "^[A-Za-z0-9]{2,3}$",
    "Unit of measure code, e.g. EA, BX, CA"
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn gtin_accepts_known_good_and_pads_to_14() {
        assert_eq!(
            Gtin::parse("00614141000012").unwrap().as_str(),
            "00614141000012"
        );
        // GTIN-13 and GTIN-12 of GS1's own examples.
        assert_eq!(
            Gtin::parse("4006381333931").unwrap().as_str(),
            "04006381333931"
        );
        assert_eq!(
            Gtin::parse("036000291452").unwrap().as_str(),
            "00036000291452"
        );
    }

    #[test]
    fn gtin_rejects_bad_check_digit_and_format() {
        assert!(matches!(
            Gtin::parse("00614141000013"),
            Err(IdError::CheckDigit { expected: 2, .. })
        ));
        assert!(matches!(
            Gtin::parse("0061414100001X"),
            Err(IdError::Format { .. })
        ));
        assert!(matches!(Gtin::parse("123"), Err(IdError::Format { .. })));
        assert!(matches!(Gtin::parse(""), Err(IdError::Format { .. })));
    }

    #[test]
    fn gln_checks_digit() {
        assert!(Gln::parse("0614141000005").is_ok());
        assert!(Gln::parse("0614141000006").is_err());
        assert!(Gln::parse("061414100000").is_err());
    }

    #[test]
    fn npi_luhn_with_prefix() {
        // CMS's published example NPI.
        assert!(Npi::parse("1234567893").is_ok());
        assert!(Npi::parse("1234567890").is_err());
        // The card-issuer form: 80840 + the NPI, checked the same way, kept as ten digits.
        assert_eq!(
            Npi::parse("808401234567893").unwrap().as_str(),
            "1234567893"
        );
        assert!(Npi::parse("808401234567890").is_err());
        assert!(
            Npi::parse("80840123456789").is_err(),
            "14 digits is neither form"
        );
    }

    #[test]
    fn uom_is_uppercased_and_bounded() {
        assert_eq!(Uom::parse("ea").unwrap().as_str(), "EA");
        assert!(Uom::parse("E").is_err());
        assert!(Uom::parse("EACH").is_err());
    }

    #[test]
    fn unspsc_class_is_first_six_digits() {
        assert_eq!(Unspsc::parse("42295105").unwrap().class(), "422951");
        assert!(Unspsc::parse("4229510").is_err());
    }

    proptest! {
        /// Any 13 digits plus the computed check digit is a valid GTIN, and changing the check
        /// digit to anything else makes it invalid.
        #[test]
        fn gtin_check_digit_roundtrip(body in "[0-9]{13}", wrong in 0u8..10) {
            let check = gs1_check_digit(body.as_bytes());
            let good = format!("{body}{check}");
            prop_assert!(Gtin::parse(&good).is_ok());
            if wrong != check {
                let bad = format!("{body}{wrong}");
                prop_assert!(Gtin::parse(&bad).is_err(), "accepted a bad check digit");
            }
        }

        /// A single-digit substitution anywhere is always caught by the GS1 check digit.
        #[test]
        fn gln_single_substitution_detected(body in "[0-9]{12}", pos in 0usize..13, delta in 1u8..10) {
            let check = gs1_check_digit(body.as_bytes());
            let mut digits: Vec<u8> = format!("{body}{check}").into_bytes();
            digits[pos] = b'0' + (digits[pos] - b'0' + delta) % 10;
            let mutated = String::from_utf8(digits).unwrap();
            prop_assert!(Gln::parse(&mutated).is_err());
        }
    }
}
