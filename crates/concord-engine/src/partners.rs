//! EDI trading partners, from config: who they are in an interchange (ISA and GS ids), how we
//! write to them (version, separators, usage), how files move (a drop folder pair or HTTP POST),
//! which acknowledgements they send and expect, and the three-way match tolerances agreed with
//! them.
//!
//! ```toml
//! [x12]                          # our side of every interchange
//! isa_qualifier = "ZZ"
//! isa_id = "CONCORDHUB"
//! gs_id = "CONCORDHUB"
//!
//! [partners.medsupply]
//! supplier = "SUP-001"           # the canonical supplier this partner is
//! isa_qualifier = "ZZ"
//! isa_id = "MEDSUPPLY"
//! gs_id = "MEDSUPPLY"
//! version = "005010"             # default 004010
//! separators = { element = "*", component = ">", segment = "~", repetition = "^" }
//! acknowledgements = { functional = "999", expect_within_minutes = 30 }
//! transport = { kind = "file", outbox = "edi/medsupply/out", inbox = "edi/medsupply/in", poll_ms = 500 }
//! tolerances = { price_pct = "1", price_abs = "2.00" }
//! ```

use std::{collections::BTreeMap, path::PathBuf};

use concord_formats::x12::{Envelope, PartyId, Separators, Usage, Version};
use concord_model::matching::Tolerances;
use serde::Deserialize;

use crate::config::CredentialRef;

/// Our own ids in every interchange.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct X12Config {
    #[serde(default = "default_qualifier")]
    pub isa_qualifier: String,
    #[serde(default = "default_id")]
    pub isa_id: String,
    #[serde(default = "default_id")]
    pub gs_id: String,
}

impl Default for X12Config {
    fn default() -> Self {
        Self {
            isa_qualifier: default_qualifier(),
            isa_id: default_id(),
            gs_id: default_id(),
        }
    }
}

fn default_qualifier() -> String {
    "ZZ".into()
}

fn default_id() -> String {
    "CONCORDHUB".into()
}

/// Procurement settings: match tolerances (a partner's own `tolerances` replace them for its
/// invoices), the requisition policy, and the approval rules.
///
/// ```toml
/// [procurement]
/// requisition_policy = "policies/requisition.rego"   # default: the built-in policy
/// [procurement.approvals]
/// escalate_after = "24h"
/// levels = [{ name = "manager", above = "1000" }, { name = "director", above = "25000" }]
/// [procurement.approvals.cost_centers.CC-1]
/// approvers = { manager = ["u-40"], director = ["u-90"] }
/// [procurement.approvals.cost_centers.CC-100]
/// parent = "CC-1"
/// approvers = { manager = ["u-50"] }
/// ```
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ProcurementConfig {
    #[serde(default)]
    pub tolerances: Tolerances,
    /// A Rego file replacing the built-in requisition policy (relative to the config file).
    #[serde(default)]
    pub requisition_policy: Option<PathBuf>,
    #[serde(default)]
    pub approvals: concord_model::requisition::ApprovalRules,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerConfig {
    /// The canonical supplier id (POs for this supplier go to this partner).
    pub supplier: String,
    #[serde(default = "default_qualifier")]
    pub isa_qualifier: String,
    pub isa_id: String,
    /// GS02/GS03 application code; the ISA id when absent.
    #[serde(default)]
    pub gs_id: Option<String>,
    #[serde(default)]
    pub version: Version,
    #[serde(default)]
    pub separators: SeparatorsConfig,
    #[serde(default)]
    pub usage: Usage,
    #[serde(default)]
    pub acknowledgements: AcknowledgementsConfig,
    pub transport: Transport,
    /// Three-way match tolerances for this supplier's invoices.
    #[serde(default)]
    pub tolerances: Option<Tolerances>,
}

/// Separators as single characters; defaults `*`, `:`, `~` and (005010) `^`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SeparatorsConfig {
    pub element: char,
    pub component: char,
    pub segment: char,
    pub repetition: char,
}

impl Default for SeparatorsConfig {
    fn default() -> Self {
        Self {
            element: '*',
            component: ':',
            segment: '~',
            repetition: '^',
        }
    }
}

impl SeparatorsConfig {
    pub fn separators(&self, version: Version) -> Result<Separators, String> {
        let byte = |name: &str, c: char| -> Result<u8, String> {
            u8::try_from(c)
                .ok()
                .filter(u8::is_ascii)
                .ok_or_else(|| format!("the {name} separator {c:?} is not an ASCII character"))
        };
        let seps = Separators {
            element: byte("element", self.element)?,
            component: byte("component", self.component)?,
            segment: byte("segment", self.segment)?,
            repetition: match version {
                Version::V4010 => None,
                Version::V5010 => Some(byte("repetition", self.repetition)?),
            },
        };
        seps.check()?;
        Ok(seps)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgementsConfig {
    /// What we send back for each group received: `997`, `999` or `none`.
    #[serde(default = "default_functional")]
    pub functional: AckChoice,
    /// A PO or other interchange we sent that has no 997/999 after this long raises an exception.
    #[serde(default = "default_expect_within")]
    pub expect_within_minutes: u32,
}

impl Default for AcknowledgementsConfig {
    fn default() -> Self {
        Self {
            functional: default_functional(),
            expect_within_minutes: default_expect_within(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum AckChoice {
    #[serde(rename = "997")]
    Functional997,
    #[serde(rename = "999")]
    Implementation999,
    #[serde(rename = "none")]
    None,
}

fn default_functional() -> AckChoice {
    AckChoice::Functional997
}

fn default_poll_ms() -> u64 {
    1_000
}

fn default_expect_within() -> u32 {
    60
}

/// How interchanges move between the hub and the partner.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Transport {
    /// A folder pair: we write to `outbox` (a temporary name, then renamed), the partner (or its
    /// VAN/AS2 gateway) drops files in `inbox`, which the hub reads every `poll_ms` (default
    /// 1,000) and files away into `inbox/processed/` or `inbox/rejected/`
    /// ([`crate::x12_files`]). Relative paths are resolved from the data directory.
    File {
        outbox: PathBuf,
        inbox: PathBuf,
        #[serde(default = "default_poll_ms")]
        poll_ms: u64,
    },
    /// HTTP POST of each interchange to `url`; the partner posts its own to
    /// `/v1/inbound/{partner}/x12`.
    Http {
        url: String,
        #[serde(default)]
        credentials: Option<CredentialRef>,
    },
}

impl PartnerConfig {
    pub fn gs_id(&self) -> &str {
        self.gs_id.as_deref().unwrap_or(&self.isa_id)
    }

    /// How we write interchanges to this partner.
    pub fn envelope(&self, ours: &X12Config) -> Result<Envelope, String> {
        Ok(Envelope {
            sender: PartyId {
                qualifier: ours.isa_qualifier.clone(),
                id: ours.isa_id.clone(),
            },
            receiver: PartyId {
                qualifier: self.isa_qualifier.clone(),
                id: self.isa_id.clone(),
            },
            gs_sender: ours.gs_id.clone(),
            gs_receiver: self.gs_id().to_string(),
            version: self.version,
            separators: self.separators.separators(self.version)?,
            usage: self.usage,
            ack_requested: false,
            line_breaks: true,
        })
    }

    pub fn tolerances<'a>(&'a self, procurement: &'a ProcurementConfig) -> &'a Tolerances {
        self.tolerances.as_ref().unwrap_or(&procurement.tolerances)
    }
}

/// The partner whose ISA sender is (`qualifier`, `id`), for an interchange that arrives.
pub fn by_isa_sender<'a>(
    partners: &'a BTreeMap<String, PartnerConfig>,
    qualifier: &str,
    id: &str,
) -> Option<(&'a str, &'a PartnerConfig)> {
    partners
        .iter()
        .find(|(_, p)| p.isa_qualifier == qualifier && p.isa_id == id)
        .map(|(k, p)| (k.as_str(), p))
}

fn check_ids(
    at: &str,
    qualifier: &str,
    isa_id: &str,
    gs_id: &str,
    problem: &mut impl FnMut(String, String),
) {
    let printable = |s: &str| s.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    if qualifier.len() != 2 || !qualifier.bytes().all(|b| b.is_ascii_alphanumeric()) {
        problem(
            format!("{at}.isa_qualifier"),
            format!("{qualifier:?} must be 2 letters or digits (ZZ, 01, 12…)"),
        );
    }
    if isa_id.trim().is_empty() || isa_id.len() > 15 || !printable(isa_id) {
        problem(
            format!("{at}.isa_id"),
            format!("{isa_id:?} must be 1–15 printable characters"),
        );
    }
    if gs_id.len() < 2 || gs_id.len() > 15 || !printable(gs_id) {
        problem(
            format!("{at}.gs_id"),
            format!("{gs_id:?} must be 2–15 printable characters"),
        );
    }
}

fn check_tolerances(at: &str, t: &Tolerances, problem: &mut impl FnMut(String, String)) {
    for (field, value) in [
        ("quantity_pct", t.quantity_pct),
        ("price_pct", t.price_pct),
        ("price_abs", t.price_abs),
        ("total_abs", t.total_abs),
    ] {
        if value.is_sign_negative() {
            problem(
                format!("{at}.{field}"),
                format!("{value} must not be negative"),
            );
        }
    }
}

/// Every problem with `[x12]`, `[procurement]` and `[partners.*]`, each with its path.
pub fn check(
    ours: &X12Config,
    procurement: &ProcurementConfig,
    partners: &BTreeMap<String, PartnerConfig>,
    problem: &mut impl FnMut(String, String),
) {
    check_ids(
        "x12",
        &ours.isa_qualifier,
        &ours.isa_id,
        &ours.gs_id,
        problem,
    );
    check_tolerances("procurement.tolerances", &procurement.tolerances, problem);
    for (path, message) in procurement.approvals.check() {
        problem(format!("procurement.approvals.{path}"), message);
    }
    let mut seen: BTreeMap<(&str, &str), &str> = BTreeMap::new();
    for (id, p) in partners {
        let at = format!("partners.{id}");
        if !crate::config::is_config_id(id) {
            problem(
                at.clone(),
                "partner ids may hold only letters, digits, - and _".into(),
            );
        }
        if p.supplier.trim().is_empty() {
            problem(
                format!("{at}.supplier"),
                "must name the canonical supplier id".into(),
            );
        }
        check_ids(&at, &p.isa_qualifier, &p.isa_id, p.gs_id(), problem);
        if (p.isa_qualifier.as_str(), p.isa_id.as_str())
            == (ours.isa_qualifier.as_str(), ours.isa_id.as_str())
        {
            problem(
                format!("{at}.isa_id"),
                "is the hub's own ISA id ([x12].isa_id)".into(),
            );
        }
        if let Some(other) = seen.insert((&p.isa_qualifier, &p.isa_id), id) {
            problem(
                format!("{at}.isa_id"),
                format!(
                    "{}:{} is also partner {other:?}'s: inbound interchanges could not tell them apart",
                    p.isa_qualifier, p.isa_id
                ),
            );
        }
        if let Err(reason) = p.separators.separators(p.version) {
            problem(format!("{at}.separators"), reason);
        }
        match &p.transport {
            Transport::File {
                outbox,
                inbox,
                poll_ms,
            } => {
                if *poll_ms < 10 {
                    problem(
                        format!("{at}.transport.poll_ms"),
                        format!("{poll_ms} ms would spin; use at least 10"),
                    );
                }
                if outbox.as_os_str().is_empty() || inbox.as_os_str().is_empty() {
                    problem(
                        format!("{at}.transport"),
                        "needs both outbox and inbox folders".into(),
                    );
                } else if outbox == inbox {
                    problem(
                        format!("{at}.transport.inbox"),
                        "must differ from outbox (we would read our own files)".into(),
                    );
                }
            }
            Transport::Http { url, .. } => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    problem(
                        format!("{at}.transport.url"),
                        format!("{url:?} must be an http:// or https:// URL"),
                    );
                }
            }
        }
        if p.acknowledgements.expect_within_minutes == 0 {
            problem(
                format!("{at}.acknowledgements.expect_within_minutes"),
                "must be at least 1".into(),
            );
        }
        if let Some(t) = &p.tolerances {
            check_tolerances(&format!("{at}.tolerances"), t, problem);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;

    #[test]
    fn a_partner_config_gives_the_envelope_we_write_with() {
        let config: Config = toml::from_str(
            r#"
            [x12]
            isa_id = "MERCYHUB"
            [partners.medsupply]
            supplier = "SUP-001"
            isa_id = "MEDSUPPLY"
            version = "005010"
            separators = { component = ">" }
            transport = { kind = "file", outbox = "edi/out", inbox = "edi/in" }
            tolerances = { price_pct = "1" }
            "#,
        )
        .unwrap();
        assert!(config.check().is_empty(), "{:?}", config.check());
        let p = &config.partners["medsupply"];
        let env = p.envelope(&config.x12).unwrap();
        assert_eq!(
            (
                env.sender.id.as_str(),
                env.receiver.id.as_str(),
                env.gs_receiver.as_str()
            ),
            ("MERCYHUB", "MEDSUPPLY", "MEDSUPPLY")
        );
        assert_eq!(env.separators.component, b'>');
        assert_eq!(env.separators.repetition, Some(b'^'));
        assert_eq!(
            p.tolerances(&config.procurement).price_pct,
            rust_decimal::Decimal::ONE
        );
        assert_eq!(
            p.tolerances(&config.procurement).price_abs,
            config.procurement.tolerances.price_abs
        );
        assert!(super::by_isa_sender(&config.partners, "ZZ", "MEDSUPPLY").is_some());
        assert!(super::by_isa_sender(&config.partners, "01", "MEDSUPPLY").is_none());
    }

    #[test]
    fn every_partner_problem_is_reported_with_its_path() {
        let config: Config = toml::from_str(
            r#"
            [partners.a]
            supplier = ""
            isa_qualifier = "Z"
            isa_id = "SAMEPARTNERIDXX1"
            separators = { element = "*", segment = "*" }
            transport = { kind = "file", outbox = "x", inbox = "x", poll_ms = 1 }
            tolerances = { price_abs = "-1" }
            [partners.b]
            supplier = "SUP-2"
            isa_id = "CONCORDHUB"
            transport = { kind = "http", url = "ftp://partner" }
            acknowledgements = { functional = "999", expect_within_minutes = 0 }
            [partners.c]
            supplier = "SUP-3"
            isa_id = "TWIN"
            transport = { kind = "http", url = "https://c.example" }
            [partners.d]
            supplier = "SUP-4"
            isa_id = "TWIN"
            transport = { kind = "http", url = "https://d.example" }
            "#,
        )
        .unwrap();
        let paths: Vec<String> = config.check().into_iter().map(|p| p.path).collect();
        for expected in [
            "partners.a.supplier",
            "partners.a.isa_qualifier",
            "partners.a.isa_id",
            // The GS id defaults to the ISA id, which is too long for it as well.
            "partners.a.gs_id",
            "partners.a.separators",
            "partners.a.transport.inbox",
            "partners.a.transport.poll_ms",
            "partners.a.tolerances.price_abs",
            "partners.b.isa_id",
            "partners.b.transport.url",
            "partners.b.acknowledgements.expect_within_minutes",
            "partners.d.isa_id",
        ] {
            assert!(
                paths.iter().any(|p| p == expected),
                "{expected} not in {paths:?}"
            );
        }
        assert_eq!(paths.len(), 12, "{paths:?}");
    }
}
