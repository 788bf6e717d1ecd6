//! Name and address matching for supplier onboarding (is this supplier already on file?) and for
//! exclusion screening (is this supplier or provider on the OIG LEIE or the SAM exclusions?).
//!
//! Everything here is pure and deterministic. The store indexes exclusions by the keys made here
//! (`Exclusion::business_key`, `Exclusion::person_key`) and looks subjects up by `lookup_keys`,
//! so both sides must normalise the same way — which is why the normalisation lives in one place.
//!
//! `ExclusionColumns::row` and `normalize_name` run for every row of an import of about a hundred
//! thousand rows a second, so they use no regexes and allocate only the strings they return.

use std::{cmp::Ordering, fmt, str::FromStr};

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{error::FieldError, ids::Npi};

/// The supplier master's postal address, reused so a `Supplier`'s address can be screened as is
/// (and so the JSON Schema has one `PostalAddress`, not two that differ only by module).
pub use crate::master::PostalAddress;

// ---------------------------------------------------------------------------------------------
// Normalisation
// ---------------------------------------------------------------------------------------------

/// Corporate-form words that say nothing about who the organisation is. Dotted forms arrive as
/// spaced letters ("L.L.C." → "L L C"). Longer forms come first so "X P L L C" loses "P L L C",
/// not just "L L C".
const CORPORATE_SUFFIXES: &[&str] = &[
    "P L L C",
    "L L C",
    "L L P",
    "P L C",
    "INCORPORATED",
    "CORPORATION",
    "COMPANY",
    "LIMITED",
    "PLLC",
    "CORP",
    "INC",
    "LLC",
    "LLP",
    "LTD",
    "PLC",
    "L P",
    "P C",
    "P A",
    "LP",
    "CO",
    "PC",
    "PA",
];

/// A name reduced to what identifies it, so spellings of one organisation compare equal:
/// uppercase ASCII, `&` as AND, punctuation as spaces, single spaces, a leading THE and trailing
/// corporate suffixes (INC, LLC, CORP, …, repeatedly) dropped. Common Latin accents are folded
/// (É → E, ß → SS); other non-ASCII letters are dropped. May be empty.
///
/// THE and the suffixes are only dropped while another word remains, so a name that is nothing
/// but such a word ("The Company") keeps it instead of vanishing into a key that matches nothing.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    clean_into(name, &mut out);
    let start = if out.starts_with("THE ") { 4 } else { 0 };
    let kept = strip_suffixes(out.get(start..).unwrap_or_default()).len();
    out.truncate(start + kept);
    out.replace_range(..start, "");
    out
}

/// Trailing corporate suffixes off, repeatedly ("ACME CO INC" → "ACME").
fn strip_suffixes(mut name: &str) -> &str {
    while let Some(shorter) = CORPORATE_SUFFIXES
        .iter()
        .find_map(|suffix| strip_word_suffix(name, suffix))
    {
        name = shorter;
    }
    name
}

/// `name` without a trailing whole word `suffix`; `None` unless a word precedes it.
fn strip_word_suffix<'a>(name: &'a str, suffix: &str) -> Option<&'a str> {
    name.strip_suffix(suffix)?.strip_suffix(' ')
}

/// Appends `text` as uppercase ASCII words separated by single spaces: ASCII letters and digits
/// kept, `&` as the word AND, Latin accents folded, combining marks and other letters dropped,
/// everything else a word break.
fn clean_into(text: &str, out: &mut String) {
    let base = out.len();
    let mut gap = false;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            start_part(out, base, &mut gap);
            out.push(c.to_ascii_uppercase());
        } else if c == '&' {
            gap = true;
            start_part(out, base, &mut gap);
            out.push_str("AND");
            gap = true;
        } else if c.is_ascii() {
            gap = true;
        } else if let Some(folded) = fold_latin(c) {
            start_part(out, base, &mut gap);
            out.push_str(folded);
        } else if !(c.is_alphabetic() || is_combining_mark(c)) {
            gap = true;
        }
    }
}

/// Before appending to a word: one space if a word break is pending and this is not the first
/// word written since `base`.
fn start_part(out: &mut String, base: usize, gap: &mut bool) {
    if *gap && out.len() > base {
        out.push(' ');
    }
    *gap = false;
}

/// Diacritics written as separate combining characters (e.g. "e\u{301}"): part of the letter.
fn is_combining_mark(c: char) -> bool {
    ('\u{300}'..='\u{36f}').contains(&c)
}

/// The ASCII spelling of common accented Latin letters (Latin-1 and the usual Latin Extended-A).
fn fold_latin(c: char) -> Option<&'static str> {
    Some(match c {
        'À'..='Å' | 'à'..='å' | 'Ā' | 'ā' | 'Ă' | 'ă' | 'Ą' | 'ą' => "A",
        'Æ' | 'æ' => "AE",
        'Ç' | 'ç' | 'Ć' | 'ć' | 'Č' | 'č' => "C",
        'Ð' | 'ð' | 'Ď' | 'ď' | 'Đ' | 'đ' => "D",
        'È'..='Ë' | 'è'..='ë' | 'Ē' | 'ē' | 'Ė' | 'ė' | 'Ę' | 'ę' | 'Ě' | 'ě' => "E",
        'Ğ' | 'ğ' => "G",
        'Ì'..='Ï' | 'ì'..='ï' | 'Ī' | 'ī' | 'Į' | 'į' | 'İ' | 'ı' => "I",
        'Ł' | 'ł' => "L",
        'Ñ' | 'ñ' | 'Ń' | 'ń' | 'Ň' | 'ň' => "N",
        'Ò'..='Ö' | 'Ø' | 'ò'..='ö' | 'ø' | 'Ō' | 'ō' | 'Ő' | 'ő' => "O",
        'Œ' | 'œ' => "OE",
        'Ř' | 'ř' => "R",
        'Ś' | 'ś' | 'Š' | 'š' | 'Ş' | 'ş' => "S",
        'ß' => "SS",
        'Ť' | 'ť' | 'Ţ' | 'ţ' => "T",
        'Þ' | 'þ' => "TH",
        'Ù'..='Ü' | 'ù'..='ü' | 'Ū' | 'ū' | 'Ů' | 'ů' | 'Ű' | 'ű' => "U",
        'Ý' | 'ý' | 'ÿ' | 'Ÿ' => "Y",
        'Ź' | 'ź' | 'Ż' | 'ż' | 'Ž' | 'ž' => "Z",
        _ => return None,
    })
}

/// USPS Publication 28 abbreviations for the words that vary most between spellings of one
/// address.
fn usps_abbreviation(word: &str) -> Option<&'static str> {
    Some(match word {
        "STREET" => "ST",
        "AVENUE" => "AVE",
        "ROAD" => "RD",
        "BOULEVARD" => "BLVD",
        "DRIVE" => "DR",
        "LANE" => "LN",
        "SUITE" => "STE",
        "NORTH" => "N",
        "SOUTH" => "S",
        "EAST" => "E",
        "WEST" => "W",
        "NORTHEAST" => "NE",
        "NORTHWEST" => "NW",
        "SOUTHEAST" => "SE",
        "SOUTHWEST" => "SW",
        "PARKWAY" => "PKWY",
        "HIGHWAY" => "HWY",
        "COURT" => "CT",
        "PLACE" => "PL",
        "APARTMENT" => "APT",
        "BUILDING" => "BLDG",
        "FLOOR" => "FL",
        _ => return None,
    })
}

/// A postal address as one comparable string, `LINE1|CITY|ST|ZIP5`: uppercase, punctuation
/// (including `#`) as spaces, USPS abbreviations for street types, directions and SUITE, and the
/// ZIP cut to its first five digits (ZIP+4 varies between records of one building).
pub fn normalize_address(line1: &str, city: &str, state: &str, zip: &str) -> String {
    let mut cleaned = String::with_capacity(line1.len());
    clean_into(line1, &mut cleaned);
    let mut out = String::with_capacity(line1.len() + city.len() + 12);
    for (i, word) in cleaned.split(' ').filter(|w| !w.is_empty()).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(usps_abbreviation(word).unwrap_or(word));
    }
    out.push('|');
    clean_into(city, &mut out);
    out.push('|');
    clean_into(state, &mut out);
    out.push('|');
    out.extend(zip.chars().filter(char::is_ascii_digit).take(5));
    out
}

/// Sørensen–Dice coefficient over character bigrams (as a multiset, spaces included), rounded to
/// two decimals: 1.0 for identical non-empty strings, 0.0 when either is empty. Bigrams make it
/// tolerant of a dropped or swapped letter and of word-order noise, which is what separates two
/// spellings of one supplier from two different suppliers.
pub fn similarity(a: &str, b: &str) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    if a == b {
        return 1.0;
    }
    let (x, y) = (sorted_bigrams(a), sorted_bigrams(b));
    let total = x.len() + y.len();
    if total == 0 {
        return 0.0;
    }
    round2(2.0 * shared_count(&x, &y) as f64 / total as f64)
}

fn sorted_bigrams(s: &str) -> Vec<(char, char)> {
    let mut pairs: Vec<(char, char)> = s.chars().zip(s.chars().skip(1)).collect();
    pairs.sort_unstable();
    pairs
}

/// Size of the multiset intersection of two sorted lists.
fn shared_count(x: &[(char, char)], y: &[(char, char)]) -> usize {
    let (mut i, mut j, mut shared) = (0, 0, 0);
    while let (Some(p), Some(q)) = (x.get(i), y.get(j)) {
        match p.cmp(q) {
            Ordering::Less => i += 1,
            Ordering::Greater => j += 1,
            Ordering::Equal => {
                shared += 1;
                i += 1;
                j += 1;
            }
        }
    }
    shared
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

// ---------------------------------------------------------------------------------------------
// Duplicate suppliers
// ---------------------------------------------------------------------------------------------

/// What onboarding knows about a supplier, new or on file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SupplierProfile {
    pub id: String,
    pub name: String,
    /// Taxpayer identification number in any punctuation (12-3456789 or 123456789).
    pub tin: Option<String>,
    pub address: Option<PostalAddress>,
}

/// An existing supplier that may be the one being onboarded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DuplicateCandidate {
    pub supplier_id: String,
    pub name: String,
    /// 0.0 to 1.0; 1.0 for the same TIN.
    pub score: f64,
    /// Why, e.g. `["same_tin"]` or `["name 0.93", "address 0.88"]`.
    pub reasons: Vec<String>,
}

/// Score at or above which a supplier is reported as a probable duplicate.
pub const DUPLICATE_THRESHOLD: f64 = 0.85;

/// Weight of the name when both suppliers have an address; the address gets the rest.
const NAME_WEIGHT: f64 = 0.7;

/// Scores each existing supplier against the new one and returns those at or above `threshold`,
/// highest first (ties by supplier id). The same TIN is decisive (1.0, "same_tin"); otherwise
/// the score is the similarity of the normalised names, weighted 0.7 against 0.3 for the
/// normalised addresses when both have one. A supplier with the new one's id is skipped (an
/// update is not a duplicate of itself).
pub fn duplicate_candidates(
    new: &SupplierProfile,
    existing: &[SupplierProfile],
    threshold: f64,
) -> Vec<DuplicateCandidate> {
    let subject = Comparable::of(new);
    let mut candidates: Vec<DuplicateCandidate> = existing
        .iter()
        .filter(|other| other.id != new.id)
        .filter_map(|other| {
            let (score, reasons) = subject.score(&Comparable::of(other));
            (score >= threshold).then(|| DuplicateCandidate {
                supplier_id: other.id.clone(),
                name: other.name.clone(),
                score,
                reasons,
            })
        })
        .collect();
    candidates.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.supplier_id.cmp(&b.supplier_id))
    });
    candidates
}

/// A supplier profile in the form it is compared in.
struct Comparable {
    name: String,
    tin: Option<String>,
    address: Option<String>,
}

impl Comparable {
    fn of(profile: &SupplierProfile) -> Self {
        Self {
            name: normalize_name(&profile.name),
            tin: profile.tin.as_deref().and_then(tin_digits),
            address: profile.address.as_ref().map(PostalAddress::normalized),
        }
    }

    fn score(&self, other: &Comparable) -> (f64, Vec<String>) {
        if self.tin.is_some() && self.tin == other.tin {
            return (1.0, vec!["same_tin".to_string()]);
        }
        let name = similarity(&self.name, &other.name);
        let mut reasons = vec![format!("name {name:.2}")];
        let score = match (&self.address, &other.address) {
            (Some(a), Some(b)) => {
                let address = similarity(a, b);
                reasons.push(format!("address {address:.2}"));
                round2(NAME_WEIGHT * name + (1.0 - NAME_WEIGHT) * address)
            }
            _ => name,
        };
        (score, reasons)
    }
}

/// The digits of a TIN, so punctuation does not hide a match. Placeholders with no non-zero
/// digit (000-00-0000, "N/A") are not TINs and must not make every such supplier "the same".
fn tin_digits(tin: &str) -> Option<String> {
    let digits: String = tin.chars().filter(char::is_ascii_digit).collect();
    let has_non_zero = digits.bytes().any(|b| b != b'0');
    has_non_zero.then_some(digits)
}

// ---------------------------------------------------------------------------------------------
// Exclusion lists
// ---------------------------------------------------------------------------------------------

/// The exclusion lists Concord screens against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExclusionList {
    /// HHS OIG List of Excluded Individuals/Entities.
    Leie,
    /// SAM.gov exclusions (the public extract).
    Sam,
}

impl ExclusionList {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Leie => "leie",
            Self::Sam => "sam",
        }
    }
}

impl fmt::Display for ExclusionList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ExclusionList {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("leie") {
            Ok(Self::Leie)
        } else if s.eq_ignore_ascii_case("sam") {
            Ok(Self::Sam)
        } else {
            Err(format!(
                "unknown exclusion list {s:?} (expected leie or sam)"
            ))
        }
    }
}

/// One entry of an exclusion list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Exclusion {
    pub list: ExclusionList,
    /// Stable key of the entry within its list, so a re-import updates instead of duplicating:
    /// for SAM the "SAM Number" (one exclusion record) or else the "Unique Entity ID"; otherwise (always for LEIE,
    /// which has no id column) "h" + 16 hex digits of an FNV-1a 64 hash over the identifying
    /// fields (names, NPI, DOB, exclusion date, address, zip) as they appear in the file, joined
    /// with '|'.
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    /// `None` for LEIE's "0000000000" or an empty column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub npi: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclusion_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excluded_on: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reinstated_on: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiver_on: Option<NaiveDate>,
}

impl Exclusion {
    /// `normalize_name(business_name)`, `None` when absent or normalising to empty.
    pub fn business_key(&self) -> Option<String> {
        self.business_name
            .as_deref()
            .map(normalize_name)
            .filter(|key| !key.is_empty())
    }

    /// `normalize_name("FIRST LAST")` for a person entry, `None` without a last name. The middle
    /// name is left out: subjects rarely carry it, and the lists abbreviate it inconsistently.
    pub fn person_key(&self) -> Option<String> {
        let last = self.last_name.as_deref()?;
        let first = self.first_name.as_deref().unwrap_or_default();
        let key = normalize_name(&format!("{first} {last}"));
        (!key.is_empty()).then_some(key)
    }

    /// In force on `date`: not reinstated on or before it.
    pub fn in_force(&self, date: NaiveDate) -> bool {
        self.reinstated_on
            .is_none_or(|reinstated| reinstated > date)
    }

    /// The name to show a reviewer: the business name, else the person's name in order.
    fn display_name(&self) -> String {
        if let Some(business) = &self.business_name {
            return business.clone();
        }
        [
            self.first_name.as_deref(),
            self.middle_name.as_deref(),
            self.last_name.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ")
    }
}

/// The columns an exclusion file may have. Discriminants index `ExclusionColumns::at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Last,
    First,
    Middle,
    Business,
    General,
    Specialty,
    Upin,
    Npi,
    Dob,
    Address,
    City,
    State,
    Zip,
    ExclType,
    ExclDate,
    ReinDate,
    WaiverDate,
    WaiverState,
    Classification,
    Uei,
    SamNumber,
}

/// Number of `Col` variants; `SamNumber` must stay the last one.
const COLS: usize = Col::SamNumber as usize + 1;

/// The LEIE's header names (UPDATED.csv). Every one is required; the waiver-state column has
/// been published under both spellings.
const LEIE_HEADERS: &[(&str, Col)] = &[
    ("LASTNAME", Col::Last),
    ("FIRSTNAME", Col::First),
    ("MIDNAME", Col::Middle),
    ("BUSNAME", Col::Business),
    ("GENERAL", Col::General),
    ("SPECIALTY", Col::Specialty),
    ("UPIN", Col::Upin),
    ("NPI", Col::Npi),
    ("DOB", Col::Dob),
    ("ADDRESS", Col::Address),
    ("CITY", Col::City),
    ("STATE", Col::State),
    ("ZIP", Col::Zip),
    ("EXCLTYPE", Col::ExclType),
    ("EXCLDATE", Col::ExclDate),
    ("REINDATE", Col::ReinDate),
    ("WAIVERDATE", Col::WaiverDate),
    ("WVRSTATE", Col::WaiverState),
    ("WAIVERSTATE", Col::WaiverState),
];

/// The SAM public extract's header names Concord reads; only a name column is required.
const SAM_HEADERS: &[(&str, Col)] = &[
    ("Classification", Col::Classification),
    ("Name", Col::Business),
    ("First", Col::First),
    ("Middle", Col::Middle),
    ("Last", Col::Last),
    ("Address 1", Col::Address),
    ("City", Col::City),
    ("State / Province", Col::State),
    ("Zip Code", Col::Zip),
    ("Unique Entity ID", Col::Uei),
    ("SAM Number", Col::SamNumber),
    ("Exclusion Type", Col::ExclType),
    ("Active Date", Col::ExclDate),
    ("Termination Date", Col::ReinDate),
    ("NPI", Col::Npi),
];

fn headers(list: ExclusionList) -> &'static [(&'static str, Col)] {
    match list {
        ExclusionList::Leie => LEIE_HEADERS,
        ExclusionList::Sam => SAM_HEADERS,
    }
}

/// Column positions found from a CSV header row, so each data row is read by position without
/// looking names up again.
#[derive(Debug, Clone)]
pub struct ExclusionColumns {
    list: ExclusionList,
    at: [Option<usize>; COLS],
}

impl ExclusionColumns {
    /// Finds the columns by name (case-insensitive, trimmed, a UTF-8 BOM ignored; the first of
    /// two equal names wins). LEIE: every LEIE column is required and the error lists all that
    /// are missing. SAM: "Name" or "Last" is required, the rest optional.
    pub fn from_header(list: ExclusionList, header: &[&str]) -> Result<ExclusionColumns, String> {
        let table = headers(list);
        let mut at = [None; COLS];
        for (i, raw) in header.iter().enumerate() {
            let name = raw.trim_start_matches('\u{feff}').trim();
            if let Some(&(_, col)) = table.iter().find(|(h, _)| h.eq_ignore_ascii_case(name)) {
                let slot = &mut at[col as usize];
                if slot.is_none() {
                    *slot = Some(i);
                }
            }
        }
        let columns = ExclusionColumns { list, at };
        columns.check_required()?;
        Ok(columns)
    }

    fn has(&self, col: Col) -> bool {
        self.at[col as usize].is_some()
    }

    fn check_required(&self) -> Result<(), String> {
        match self.list {
            ExclusionList::Leie => {
                let missing: Vec<&str> = LEIE_HEADERS
                    .iter()
                    .filter(|&&(name, col)| name != "WAIVERSTATE" && !self.has(col))
                    .map(|&(name, col)| {
                        if col == Col::WaiverState {
                            "WVRSTATE (or WAIVERSTATE)"
                        } else {
                            name
                        }
                    })
                    .collect();
                if missing.is_empty() {
                    Ok(())
                } else {
                    Err(format!(
                        "LEIE header is missing column(s): {}",
                        missing.join(", ")
                    ))
                }
            }
            ExclusionList::Sam if self.has(Col::Business) || self.has(Col::Last) => Ok(()),
            ExclusionList::Sam => {
                Err("SAM header needs a \"Name\" or a \"Last\" column".to_string())
            }
        }
    }

    /// The file's name for a column, used as the path of a row's errors.
    fn name_of(&self, col: Col) -> &'static str {
        headers(self.list)
            .iter()
            .find(|&&(_, c)| c == col)
            .map_or("", |&(name, _)| name)
    }

    /// A column's trimmed value in `fields`; `None` when the column or the value is absent.
    fn get<'a>(&self, fields: &[&'a str], col: Col) -> Option<&'a str> {
        self.at[col as usize]
            .and_then(|i| fields.get(i).copied())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    fn text(&self, fields: &[&str], col: Col) -> Option<String> {
        self.get(fields, col).map(str::to_string)
    }

    /// One data row → an `Exclusion`, or every problem in it as `FieldError`s whose path is the
    /// column name (e.g. "EXCLDATE") and rule "date", "required" or "npi".
    ///
    /// LEIE dates are YYYYMMDD, with "00000000" or empty meaning none; SAM dates are MM/DD/YYYY
    /// or YYYY-MM-DD, empty (or SAM's "Indefinite" termination) meaning none. A LEIE row needs
    /// BUSNAME or LASTNAME. An NPI that is present and not all zeros must pass `Npi::parse`.
    /// SAM: an "Individual" uses First/Middle/Last, anything else "Name" as the business name;
    /// "Termination Date" is the reinstatement.
    pub fn row(&self, fields: &[&str]) -> Result<Exclusion, Vec<FieldError>> {
        match self.list {
            ExclusionList::Leie => self.leie_row(fields),
            ExclusionList::Sam => self.sam_row(fields),
        }
    }

    fn leie_row(&self, fields: &[&str]) -> Result<Exclusion, Vec<FieldError>> {
        let get = |col| self.get(fields, col);
        let mut errors = Vec::new();
        let (last, business) = (get(Col::Last), get(Col::Business));
        if last.is_none() && business.is_none() {
            errors.push(FieldError::new(
                self.name_of(Col::Business),
                "required",
                "a LEIE row needs BUSNAME or LASTNAME",
            ));
        }
        let npi = self.npi(fields, &mut errors);
        let excluded_on = self.date(fields, Col::ExclDate, &mut errors);
        let reinstated_on = self.date(fields, Col::ReinDate, &mut errors);
        let waiver_on = self.date(fields, Col::WaiverDate, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        let key = hashed_key(&[
            last,
            get(Col::First),
            get(Col::Middle),
            business,
            get(Col::Npi),
            get(Col::Dob),
            get(Col::ExclDate),
            get(Col::Address),
            get(Col::Zip),
        ]);
        Ok(Exclusion {
            list: ExclusionList::Leie,
            key,
            business_name: business.map(str::to_string),
            last_name: last.map(str::to_string),
            first_name: self.text(fields, Col::First),
            middle_name: self.text(fields, Col::Middle),
            npi,
            address: self.text(fields, Col::Address),
            city: self.text(fields, Col::City),
            state: self.text(fields, Col::State),
            zip: self.text(fields, Col::Zip),
            exclusion_type: self.text(fields, Col::ExclType),
            excluded_on,
            reinstated_on,
            waiver_on,
        })
    }

    fn sam_row(&self, fields: &[&str]) -> Result<Exclusion, Vec<FieldError>> {
        let get = |col| self.get(fields, col);
        let mut errors = Vec::new();
        let individual =
            get(Col::Classification).is_some_and(|c| c.eq_ignore_ascii_case("individual"));
        let name = get(Col::Business);
        // A person's name is in First/Middle/Last; fall back to "Name" for an individual entered
        // without a last name, and to First/Middle/Last for an entity with no "Name".
        let person = (individual && get(Col::Last).is_some()) || name.is_none();
        let (business, first, middle, last) = if person {
            (None, get(Col::First), get(Col::Middle), get(Col::Last))
        } else {
            (name, None, None, None)
        };
        if business.is_none() && last.is_none() {
            let col = if individual { Col::Last } else { Col::Business };
            errors.push(FieldError::new(
                self.name_of(col),
                "required",
                "a SAM row needs a Name, or a Last name for an individual",
            ));
        }
        let npi = self.npi(fields, &mut errors);
        let excluded_on = self.date(fields, Col::ExclDate, &mut errors);
        let reinstated_on = self.date(fields, Col::ReinDate, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        let key = get(Col::SamNumber).or_else(|| get(Col::Uei)).map_or_else(
            || {
                hashed_key(&[
                    last,
                    first,
                    middle,
                    business,
                    get(Col::Npi),
                    None,
                    get(Col::ExclDate),
                    get(Col::Address),
                    get(Col::Zip),
                ])
            },
            str::to_string,
        );
        Ok(Exclusion {
            list: ExclusionList::Sam,
            key,
            business_name: business.map(str::to_string),
            last_name: last.map(str::to_string),
            first_name: first.map(str::to_string),
            middle_name: middle.map(str::to_string),
            npi,
            address: self.text(fields, Col::Address),
            city: self.text(fields, Col::City),
            state: self.text(fields, Col::State),
            zip: self.text(fields, Col::Zip),
            exclusion_type: self.text(fields, Col::ExclType),
            excluded_on,
            reinstated_on,
            waiver_on: None,
        })
    }

    /// The row's NPI: absent or all zeros (LEIE's filler) is none; anything else must be valid.
    fn npi(&self, fields: &[&str], errors: &mut Vec<FieldError>) -> Option<String> {
        let raw = self.get(fields, Col::Npi)?;
        if raw.bytes().all(|b| b == b'0') {
            return None;
        }
        match Npi::parse(raw) {
            Ok(npi) => Some(npi.as_str().to_string()),
            Err(e) => {
                errors.push(FieldError::new(
                    self.name_of(Col::Npi),
                    "npi",
                    e.to_string(),
                ));
                None
            }
        }
    }

    fn date(&self, fields: &[&str], col: Col, errors: &mut Vec<FieldError>) -> Option<NaiveDate> {
        let raw = self.get(fields, col)?;
        let parsed = match self.list {
            ExclusionList::Leie => leie_date(raw),
            ExclusionList::Sam => sam_date(raw),
        };
        parsed.unwrap_or_else(|expected| {
            errors.push(FieldError::new(
                self.name_of(col),
                "date",
                format!("{raw:?} is not a date ({expected})"),
            ));
            None
        })
    }
}

/// LEIE dates: YYYYMMDD, all zeros meaning none.
fn leie_date(raw: &str) -> Result<Option<NaiveDate>, &'static str> {
    const EXPECTED: &str = "expected YYYYMMDD";
    if raw.bytes().all(|b| b == b'0') {
        return Ok(None);
    }
    if raw.len() != 8 {
        return Err(EXPECTED);
    }
    ymd(raw.get(..4), raw.get(4..6), raw.get(6..))
        .map(Some)
        .ok_or(EXPECTED)
}

/// SAM dates: MM/DD/YYYY (the CSV extract) or YYYY-MM-DD; "Indefinite" (a termination date
/// that will never come) is none.
fn sam_date(raw: &str) -> Result<Option<NaiveDate>, &'static str> {
    if raw.eq_ignore_ascii_case("indefinite") {
        return Ok(None);
    }
    let date = if let Some((month, rest)) = raw.split_once('/') {
        rest.split_once('/')
            .filter(|(_, year)| year.len() == 4)
            .and_then(|(day, year)| ymd(Some(year), Some(month), Some(day)))
    } else {
        raw.split_once('-')
            .filter(|(year, _)| year.len() == 4)
            .and_then(|(year, rest)| {
                let (month, day) = rest.split_once('-')?;
                ymd(Some(year), Some(month), Some(day))
            })
    };
    date.map(Some).ok_or("expected MM/DD/YYYY or YYYY-MM-DD")
}

fn ymd(year: Option<&str>, month: Option<&str>, day: Option<&str>) -> Option<NaiveDate> {
    let year = i32::try_from(number(year?)?).ok()?;
    NaiveDate::from_ymd_opt(year, number(month?)?, number(day?)?)
}

/// A short run of ASCII digits as a number (no sign, no spaces, at most four digits).
fn number(s: &str) -> Option<u32> {
    let digits = !s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| s.bytes().fold(0, |n, b| n * 10 + u32::from(b - b'0')))
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// "h" + FNV-1a 64 of the fields joined with '|' (absent = empty). FNV is not cryptographic and
/// need not be: the key only has to be stable across imports and distinct between entries.
fn hashed_key(parts: &[Option<&str>]) -> String {
    let mut hash = FNV_OFFSET;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hash = fnv1a(hash, b"|");
        }
        hash = fnv1a(hash, part.unwrap_or_default().as_bytes());
    }
    format!("h{hash:016x}")
}

fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

// ---------------------------------------------------------------------------------------------
// Screening
// ---------------------------------------------------------------------------------------------

/// An exclusion entry that matches a screened subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ExclusionHit {
    pub list: ExclusionList,
    pub key: String,
    /// "npi", "business_name" or "person_name".
    pub matched_on: String,
    /// The entry's name as listed, for the reviewer.
    pub name: String,
    pub exclusion_type: Option<String>,
    pub excluded_on: Option<NaiveDate>,
}

/// Screens a subject (a supplier's name, optionally an NPI) against candidate entries, which the
/// store has already narrowed to those sharing the NPI or a name key. An entry hits when it is in
/// force on `today` and its NPI equals the subject's, or its business key equals the subject's
/// normalised name, or its person key equals the normalised name or its first/last-swapped form
/// ("SMITH JOHN" for "JOHN SMITH"). One hit per entry, the NPI preferred, ordered by list then
/// key.
pub fn screen(
    name: &str,
    npi: Option<&str>,
    candidates: &[Exclusion],
    today: NaiveDate,
) -> Vec<ExclusionHit> {
    let keys = lookup_keys(name);
    // All zeros is LEIE's "no NPI"; it must not match every entry without one.
    let npi = npi.map(str::trim).filter(|n| n.bytes().any(|b| b != b'0'));
    let mut hits: Vec<ExclusionHit> = candidates
        .iter()
        .filter(|entry| entry.in_force(today))
        .filter_map(|entry| matched_on(entry, npi, &keys).map(|how| hit(entry, how)))
        .collect();
    hits.sort_by(|a, b| {
        a.list
            .as_str()
            .cmp(b.list.as_str())
            .then_with(|| a.key.cmp(&b.key))
    });
    // The store may hand over one entry twice (found by NPI and by name).
    hits.dedup_by(|a, b| a.list == b.list && a.key == b.key);
    hits
}

/// Why `entry` matches, if it does: NPI first, as the strongest evidence.
fn matched_on(entry: &Exclusion, npi: Option<&str>, keys: &[String]) -> Option<&'static str> {
    if npi.is_some() && entry.npi.as_deref() == npi {
        return Some("npi");
    }
    let name_key = keys.first()?;
    if entry.business_key().as_ref() == Some(name_key) {
        return Some("business_name");
    }
    if entry.person_key().is_some_and(|key| keys.contains(&key)) {
        return Some("person_name");
    }
    None
}

fn hit(entry: &Exclusion, matched_on: &str) -> ExclusionHit {
    ExclusionHit {
        list: entry.list,
        key: entry.key.clone(),
        matched_on: matched_on.to_string(),
        name: entry.display_name(),
        exclusion_type: entry.exclusion_type.clone(),
        excluded_on: entry.excluded_on,
    }
}

/// The name keys to look a subject up by: `normalize_name(name)`, then the form with its first
/// and last words swapped when that differs (lists write "LAST FIRST", forms "First Last").
/// Empty when the name normalises to nothing.
pub fn lookup_keys(name: &str) -> Vec<String> {
    let key = normalize_name(name);
    if key.is_empty() {
        return Vec::new();
    }
    let swapped = swap_first_last(&key)
        .map(|s| normalize_name(&s))
        .filter(|s| !s.is_empty() && *s != key);
    let mut keys = vec![key];
    keys.extend(swapped);
    keys
}

/// "A B C" → "C B A"; `None` for a single word.
fn swap_first_last(key: &str) -> Option<String> {
    let (first, rest) = key.split_once(' ')?;
    Some(match rest.rsplit_once(' ') {
        Some((middle, last)) => format!("{last} {middle} {first}"),
        None => format!("{rest} {first}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEIE_HEADER: &str = "LASTNAME,FIRSTNAME,MIDNAME,BUSNAME,GENERAL,SPECIALTY,UPIN,NPI,DOB,\
        ADDRESS,CITY,STATE,ZIP,EXCLTYPE,EXCLDATE,REINDATE,WAIVERDATE,WVRSTATE";
    const LEIE_PERSON: &str = "SMITH,JOHN,A,,IND- LIC HC SERV PRO,NURSE/NURSES AIDE,,0000000000,\
        19600101,123 MAIN ST,ANYTOWN,OH,43210,1128a1,20200115,00000000,00000000,";
    const LEIE_BUSINESS: &str = ",,,ACME HOME HEALTH LLC,BUSINESS,HOME HEALTH AGENCY,,1234567893,\
        ,1 ELM ST,SPRINGFIELD,IL,62701,1128b7,20190301,00000000,00000000,";
    const SAM_HEADER: &str = "Classification,Name,Prefix,First,Middle,Last,Suffix,Address 1,City,\
        State / Province,Country,Zip Code,Unique Entity ID,Exclusion Type,Active Date,\
        Termination Date,SAM Number,NPI";

    fn split(line: &str) -> Vec<&str> {
        line.split(',').collect()
    }

    fn columns(list: ExclusionList, header: &str) -> ExclusionColumns {
        ExclusionColumns::from_header(list, &split(header)).unwrap()
    }

    fn leie(row: &str) -> Result<Exclusion, Vec<FieldError>> {
        columns(ExclusionList::Leie, LEIE_HEADER).row(&split(row))
    }

    fn sam(row: &str) -> Result<Exclusion, Vec<FieldError>> {
        columns(ExclusionList::Sam, SAM_HEADER).row(&split(row))
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn profile(id: &str, name: &str, tin: Option<&str>, line1: Option<&str>) -> SupplierProfile {
        SupplierProfile {
            id: id.to_string(),
            name: name.to_string(),
            tin: tin.map(str::to_string),
            address: line1.map(|line1| PostalAddress {
                line1: line1.to_string(),
                city: "Anytown".to_string(),
                state: "OH".to_string(),
                zip: "43210-1234".to_string(),
            }),
        }
    }

    #[test]
    fn names_normalise_to_what_identifies_them() {
        assert_eq!(
            normalize_name("The Acme Medical Supply, Inc."),
            "ACME MEDICAL SUPPLY"
        );
        assert_eq!(
            normalize_name("The Acme Medical Supply, Inc."),
            normalize_name("ACME MEDICAL SUPPLY")
        );
        assert_eq!(normalize_name("Smith & Sons L.L.C."), "SMITH AND SONS");
        assert_eq!(normalize_name("Acme Co., Inc."), "ACME");
        assert_eq!(normalize_name("  o'brien-jones   p.c. "), "O BRIEN JONES");
        assert_eq!(normalize_name("Société Générale Ltd"), "SOCIETE GENERALE");
        assert_eq!(normalize_name("Socie\u{301}te\u{301}"), "SOCIETE");
        assert_eq!(normalize_name("Straße GmbH"), "STRASSE GMBH");
        // Suffix-like endings of real words stay; only whole words go.
        assert_eq!(normalize_name("Zinc Works"), "ZINC WORKS");
        assert_eq!(normalize_name("Ace Zinc"), "ACE ZINC");
        // A name that is only a suffix or THE keeps it; punctuation alone is empty.
        assert_eq!(normalize_name("The"), "THE");
        assert_eq!(normalize_name("Company"), "COMPANY");
        assert_eq!(normalize_name(" .,- "), "");
        assert_eq!(normalize_name("Теремок"), "");
    }

    #[test]
    fn addresses_normalise_to_usps_form() {
        assert_eq!(
            normalize_address(
                "123 North Main Street, Suite #200",
                "Anytown",
                " oh ",
                "43210-1234"
            ),
            "123 N MAIN ST STE 200|ANYTOWN|OH|43210"
        );
        assert_eq!(
            normalize_address("123 N. Main St., Ste 200", "ANYTOWN", "OH", "43210"),
            normalize_address(
                "123 North Main Street Suite 200",
                "Anytown",
                "Oh",
                "432101234"
            )
        );
    }

    #[test]
    fn similarity_is_bounded_and_symmetric() {
        assert_eq!(similarity("ACME", "ACME"), 1.0);
        assert_eq!(similarity("", "ACME"), 0.0);
        assert_eq!(similarity("ACME", ""), 0.0);
        assert_eq!(similarity("", ""), 0.0);
        assert_eq!(similarity("A", "B"), 0.0);
        assert_eq!(
            similarity("ACME MEDICAL SUPPLY", "ACME MEDICAL SUPPLIES"),
            0.89
        );
        assert_eq!(similarity("NIGHT", "NACHT"), 0.25);
        let pairs = [
            ("ACME", "ACME MEDICAL"),
            ("ZENITH SURGICAL", "ACME MEDICAL"),
            ("AAAA", "AA"),
            ("ÉÉ", "EE"),
        ];
        for (a, b) in pairs {
            let s = similarity(a, b);
            assert!((0.0..=1.0).contains(&s), "{a} / {b}: {s}");
            assert_eq!(s, similarity(b, a), "{a} / {b}");
            assert!(s < 1.0, "different strings scored 1.0");
        }
    }

    #[test]
    fn same_tin_in_another_spelling_is_a_duplicate() {
        let new = profile(
            "new",
            "Acme Medical Supplies, LLC",
            Some("12-3456789"),
            None,
        );
        let existing = [
            profile("s9", "Totally Different Holdings", Some("123456789"), None),
            profile("s8", "Other Firm", Some("98-7654321"), None),
        ];
        let found = duplicate_candidates(&new, &existing, DUPLICATE_THRESHOLD);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].supplier_id, "s9");
        assert_eq!(found[0].score, 1.0);
        assert_eq!(found[0].reasons, ["same_tin"]);
    }

    #[test]
    fn placeholder_tins_do_not_match() {
        let new = profile("new", "Alpha", Some("00-0000000"), None);
        let existing = [profile("s1", "Omega", Some("000000000"), None)];
        assert!(duplicate_candidates(&new, &existing, DUPLICATE_THRESHOLD).is_empty());
    }

    #[test]
    fn near_identical_name_at_the_same_address_is_a_duplicate() {
        let new = profile(
            "new",
            "Acme Medical Supplies, LLC",
            None,
            Some("123 Main Street, Suite 200"),
        );
        let existing = [
            profile(
                "s2",
                "Zenith Surgical Partners",
                None,
                Some("123 Main St Ste 200"),
            ),
            profile(
                "s1",
                "ACME MEDICAL SUPPLY INC",
                None,
                Some("123 Main St., Ste. 200"),
            ),
            // The supplier being updated is not its own duplicate.
            profile(
                "new",
                "Acme Medical Supplies, LLC",
                None,
                Some("123 Main Street, Suite 200"),
            ),
        ];
        let found = duplicate_candidates(&new, &existing, DUPLICATE_THRESHOLD);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].supplier_id, "s1");
        assert_eq!(found[0].score, 0.92);
        assert_eq!(found[0].reasons, ["name 0.89", "address 1.00"]);

        // With a low threshold the unrelated one appears, below, with its lower score.
        let all = duplicate_candidates(&new, &existing, 0.0);
        let ids: Vec<&str> = all.iter().map(|c| c.supplier_id.as_str()).collect();
        assert_eq!(ids, ["s1", "s2"]);
        assert!(all[1].score < DUPLICATE_THRESHOLD);
    }

    #[test]
    fn name_alone_scores_without_addresses() {
        let new = profile("new", "Acme Medical Supply", None, None);
        let existing = [profile(
            "s1",
            "The Acme Medical Supply, Inc.",
            None,
            Some("1 Elm St"),
        )];
        let found = duplicate_candidates(&new, &existing, DUPLICATE_THRESHOLD);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].score, 1.0);
        assert_eq!(found[0].reasons, ["name 1.00"]);
    }

    #[test]
    fn exclusion_list_names_round_trip() {
        for list in [ExclusionList::Leie, ExclusionList::Sam] {
            assert_eq!(list.as_str().parse::<ExclusionList>(), Ok(list));
        }
        assert_eq!(" SAM ".parse::<ExclusionList>(), Ok(ExclusionList::Sam));
        assert!("ofac".parse::<ExclusionList>().is_err());
    }

    #[test]
    fn leie_header_lists_every_missing_column() {
        let header = "LASTNAME,MIDNAME,BUSNAME,GENERAL,SPECIALTY,UPIN,NPI,DOB,ADDRESS,CITY,STATE,\
            ZIP,EXCLTYPE,REINDATE,WAIVERDATE";
        let err = ExclusionColumns::from_header(ExclusionList::Leie, &split(header)).unwrap_err();
        assert!(err.contains("FIRSTNAME"), "{err}");
        assert!(err.contains("EXCLDATE"), "{err}");
        assert!(err.contains("WVRSTATE"), "{err}");
        assert!(!err.contains("LASTNAME"), "{err}");
    }

    #[test]
    fn leie_header_is_case_insensitive_with_bom_and_either_waiver_spelling() {
        let header = format!(
            "\u{feff}{}",
            LEIE_HEADER
                .to_lowercase()
                .replace("wvrstate", " WaiverState ")
        );
        let cols = ExclusionColumns::from_header(ExclusionList::Leie, &split(&header)).unwrap();
        let entry = cols.row(&split(LEIE_PERSON)).unwrap();
        assert_eq!(entry.last_name.as_deref(), Some("SMITH"));
    }

    #[test]
    fn leie_person_row() {
        let entry = leie(LEIE_PERSON).unwrap();
        assert_eq!(entry.list, ExclusionList::Leie);
        assert_eq!(entry.last_name.as_deref(), Some("SMITH"));
        assert_eq!(entry.first_name.as_deref(), Some("JOHN"));
        assert_eq!(entry.middle_name.as_deref(), Some("A"));
        assert_eq!(entry.business_name, None);
        assert_eq!(entry.npi, None);
        assert_eq!(entry.zip.as_deref(), Some("43210"));
        assert_eq!(entry.exclusion_type.as_deref(), Some("1128a1"));
        assert_eq!(entry.excluded_on, Some(date(2020, 1, 15)));
        assert_eq!(entry.reinstated_on, None);
        assert_eq!(entry.waiver_on, None);
        assert_eq!(entry.person_key().as_deref(), Some("JOHN SMITH"));
        assert_eq!(entry.business_key(), None);

        assert!(
            entry.key.starts_with('h') && entry.key.len() == 17,
            "{}",
            entry.key
        );
        assert_eq!(leie(LEIE_PERSON).unwrap().key, entry.key);
        let other = leie(&LEIE_PERSON.replace("JOHN", "JANE")).unwrap();
        assert_ne!(other.key, entry.key);
    }

    #[test]
    fn leie_business_row() {
        let entry = leie(LEIE_BUSINESS).unwrap();
        assert_eq!(entry.business_name.as_deref(), Some("ACME HOME HEALTH LLC"));
        assert_eq!(entry.business_key().as_deref(), Some("ACME HOME HEALTH"));
        assert_eq!(entry.person_key(), None);
        assert_eq!(entry.npi.as_deref(), Some("1234567893"));
        assert_eq!(entry.excluded_on, Some(date(2019, 3, 1)));
    }

    #[test]
    fn leie_row_errors_name_their_column() {
        let bad_date = leie(&LEIE_PERSON.replace("20200115", "20201345")).unwrap_err();
        assert_eq!(bad_date.len(), 1);
        assert_eq!(
            (bad_date[0].path.as_str(), bad_date[0].rule.as_str()),
            ("EXCLDATE", "date")
        );

        let bad_npi = leie(&LEIE_BUSINESS.replace("1234567893", "1234567890")).unwrap_err();
        assert_eq!(
            (bad_npi[0].path.as_str(), bad_npi[0].rule.as_str()),
            ("NPI", "npi")
        );

        let nameless = leie(&LEIE_PERSON.replacen("SMITH", "", 1)).unwrap_err();
        assert_eq!(nameless[0].rule, "required");

        // Every problem at once, and a short row is read as missing values, not a panic.
        let several = leie(",,,,x,y,,123,,,,,,,2020,9999").unwrap_err();
        let rules: Vec<&str> = several.iter().map(|e| e.rule.as_str()).collect();
        assert_eq!(rules, ["required", "npi", "date", "date"]);
        assert!(leie("").is_err());
    }

    #[test]
    fn sam_firm_row_keyed_by_its_sam_number() {
        let row = "Firm,Acme Surgical Supply Inc,,,,,,1 Main St,Dayton,OH,USA,45402,ABC123DEF456,\
            Ineligible (Proceedings Completed),01/15/2021,Indefinite,S4MR3R6X9,";
        let entry = sam(row).unwrap();
        assert_eq!(entry.list, ExclusionList::Sam);
        assert_eq!(entry.key, "S4MR3R6X9", "the SAM Number names the record");
        assert_eq!(
            entry.business_key().as_deref(),
            Some("ACME SURGICAL SUPPLY")
        );
        assert_eq!(entry.state.as_deref(), Some("OH"));
        assert_eq!(entry.excluded_on, Some(date(2021, 1, 15)));
        assert_eq!(entry.reinstated_on, None);
        assert_eq!(
            entry.exclusion_type.as_deref(),
            Some("Ineligible (Proceedings Completed)")
        );
    }

    #[test]
    fn sam_individual_row_keyed_by_sam_number_then_hash() {
        let row = "Individual,,,Jane,Q,Doe,,5 Oak Ave,Austin,TX,USA,73301,,Prohibition/Restriction,\
            2022-03-01,2023-03-01,S4MRABCDE,";
        let entry = sam(row).unwrap();
        assert_eq!(entry.key, "S4MRABCDE");
        assert_eq!(entry.person_key().as_deref(), Some("JANE DOE"));
        assert_eq!(entry.business_name, None);
        assert_eq!(entry.reinstated_on, Some(date(2023, 3, 1)));
        assert!(!entry.in_force(date(2023, 3, 1)));
        assert!(entry.in_force(date(2023, 2, 28)));

        let unkeyed = sam(&row.replace("S4MRABCDE", "")).unwrap();
        assert!(unkeyed.key.starts_with('h') && unkeyed.key.len() == 17);

        let bad = sam(&row.replace("2022-03-01", "2022-13-01")).unwrap_err();
        assert_eq!(
            (bad[0].path.as_str(), bad[0].rule.as_str()),
            ("Active Date", "date")
        );
        let nameless = sam("Firm,,,,,,,,,,,,,,,,,").unwrap_err();
        assert_eq!(
            (nameless[0].path.as_str(), nameless[0].rule.as_str()),
            ("Name", "required")
        );
    }

    #[test]
    fn sam_header_needs_a_name_column() {
        assert!(
            ExclusionColumns::from_header(ExclusionList::Sam, &["Classification", "City"]).is_err()
        );
        assert!(ExclusionColumns::from_header(ExclusionList::Sam, &["last"]).is_ok());
    }

    fn screening_entries() -> Vec<Exclusion> {
        let reinstated = leie(
            &LEIE_PERSON
                .replace("SMITH,JOHN", "DOE,JANE")
                .replace("20200115,00000000", "20200115,20210101"),
        )
        .unwrap();
        vec![
            leie(LEIE_PERSON).unwrap(),
            leie(LEIE_BUSINESS).unwrap(),
            reinstated,
        ]
    }

    #[test]
    fn screen_hits_by_npi_business_and_swapped_person_name() {
        let entries = screening_entries();
        let today = date(2025, 6, 1);

        let by_npi = screen("Someone Else LLC", Some("1234567893"), &entries, today);
        assert_eq!(by_npi.len(), 1);
        assert_eq!(by_npi[0].matched_on, "npi");
        assert_eq!(by_npi[0].name, "ACME HOME HEALTH LLC");

        let by_business = screen("Acme Home Health, Inc.", None, &entries, today);
        assert_eq!(by_business.len(), 1);
        assert_eq!(by_business[0].matched_on, "business_name");
        assert_eq!(by_business[0].excluded_on, Some(date(2019, 3, 1)));

        // NPI is preferred when both match; the entry is reported once.
        let both = screen("Acme Home Health", Some("1234567893"), &entries, today);
        assert_eq!(both.len(), 1);
        assert_eq!(both[0].matched_on, "npi");

        let swapped = screen("Smith, John", None, &entries, today);
        assert_eq!(swapped.len(), 1);
        assert_eq!(swapped[0].matched_on, "person_name");
        assert_eq!(swapped[0].name, "JOHN A SMITH");
        assert_eq!(screen("John Smith", None, &entries, today).len(), 1);

        assert!(screen("Unrelated Person", None, &entries, today).is_empty());
    }

    #[test]
    fn screen_ignores_reinstated_entries() {
        let entries = screening_entries();
        assert!(screen("Jane Doe", None, &entries, date(2025, 6, 1)).is_empty());
        // Before the reinstatement it was in force.
        let earlier = screen("Jane Doe", None, &entries, date(2020, 6, 1));
        assert_eq!(earlier.len(), 1);
        assert_eq!(earlier[0].matched_on, "person_name");
    }

    #[test]
    fn screen_orders_by_list_then_key_and_reports_each_entry_once() {
        let mut entries = screening_entries();
        let sam_row = "Firm,Acme Home Health LLC,,,,,,,,,,,ZZZ999,,01/01/2020,,,";
        entries.insert(0, sam(sam_row).unwrap());
        entries.push(entries[2].clone());
        let hits = screen("ACME HOME HEALTH", None, &entries, date(2025, 6, 1));
        let lists: Vec<ExclusionList> = hits.iter().map(|h| h.list).collect();
        assert_eq!(lists, [ExclusionList::Leie, ExclusionList::Sam]);
        assert_eq!(hits[1].key, "ZZZ999");
    }

    #[test]
    fn lookup_keys_include_the_swapped_form() {
        assert_eq!(lookup_keys("John Smith"), ["JOHN SMITH", "SMITH JOHN"]);
        assert_eq!(
            lookup_keys("Smith, John A"),
            ["SMITH JOHN A", "A JOHN SMITH"]
        );
        assert_eq!(lookup_keys("Acme"), ["ACME"]);
        assert_eq!(lookup_keys("Bob Bob"), ["BOB BOB"]);
        assert!(lookup_keys("  ").is_empty());
    }
}
