//! Who may do what: roles, the scopes each role holds, and the one decision every request
//! goes through ([`authorize`]). Pure, so the whole role × access matrix is tested here and
//! again over HTTP.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// What a route needs. Read scopes are separate from the actions that change things, so a
/// viewer or an auditor can see everything and change nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    ContractsRead,
    ContractsWrite,
    MasterRead,
    MasterWrite,
    PricesRead,
    DeliveriesRead,
    DeliveriesReplay,
    TransactionsRead,
    ExceptionsRead,
    /// Resolve exceptions in the workbench (accept a variance, reject an invoice, retry…).
    ExceptionsResolve,
    QuarantineRead,
    QuarantineReplay,
    AuditRead,
    KeysManage,
    /// Submit requisitions.
    RequisitionsWrite,
    /// Approve or reject requisitions (the approver role; the requester never).
    RequisitionsApprove,
    /// The API's own description (OpenAPI, schemas, the reference page).
    ApiDocs,
    /// `GET /metrics`: counts and gauges without ids (what a Prometheus scraper reads).
    MetricsRead,
    /// Submit a new supplier for onboarding, or ask for a change of a supplier's payment
    /// details.
    SuppliersRequest,
    /// Approve or reject supplier onboardings and payment-detail changes (never one's own).
    SuppliersApprove,
}

impl Scope {
    pub const ALL: [Scope; 20] = [
        Scope::ContractsRead,
        Scope::ContractsWrite,
        Scope::MasterRead,
        Scope::MasterWrite,
        Scope::PricesRead,
        Scope::DeliveriesRead,
        Scope::DeliveriesReplay,
        Scope::TransactionsRead,
        Scope::ExceptionsRead,
        Scope::ExceptionsResolve,
        Scope::QuarantineRead,
        Scope::QuarantineReplay,
        Scope::AuditRead,
        Scope::KeysManage,
        Scope::RequisitionsWrite,
        Scope::RequisitionsApprove,
        Scope::ApiDocs,
        Scope::MetricsRead,
        Scope::SuppliersRequest,
        Scope::SuppliersApprove,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ContractsRead => "contracts:read",
            Scope::ContractsWrite => "contracts:write",
            Scope::MasterRead => "master:read",
            Scope::MasterWrite => "master:write",
            Scope::PricesRead => "prices:read",
            Scope::DeliveriesRead => "deliveries:read",
            Scope::DeliveriesReplay => "deliveries:replay",
            Scope::TransactionsRead => "transactions:read",
            Scope::ExceptionsRead => "exceptions:read",
            Scope::ExceptionsResolve => "exceptions:resolve",
            Scope::QuarantineRead => "quarantine:read",
            Scope::QuarantineReplay => "quarantine:replay",
            Scope::AuditRead => "audit:read",
            Scope::KeysManage => "keys:manage",
            Scope::RequisitionsWrite => "requisitions:write",
            Scope::RequisitionsApprove => "requisitions:approve",
            Scope::ApiDocs => "api:docs",
            Scope::MetricsRead => "metrics:read",
            Scope::SuppliersRequest => "suppliers:request",
            Scope::SuppliersApprove => "suppliers:approve",
        }
    }
}

/// A principal's role. An integration principal also names the one system it speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including keys.
    Admin,
    /// A connected system: may post to its own inbound endpoints and nothing else.
    Integration,
    /// Operations staff: replays deliveries and quarantined messages, maintains master data.
    Operator,
    /// Buys: prices, contracts, its transactions and exceptions.
    Buyer,
    /// Approves contracts (and, in part 3, requisitions): may submit contracts.
    Approver,
    /// Accounts payable: transactions, deliveries, exceptions (and resolving them).
    ApClerk,
    /// Reads everything, including the audit log; changes nothing.
    Auditor,
    /// Reads business data; changes nothing; no audit log.
    Viewer,
}

impl Role {
    pub const ALL: [Role; 8] = [
        Role::Admin,
        Role::Integration,
        Role::Operator,
        Role::Buyer,
        Role::Approver,
        Role::ApClerk,
        Role::Auditor,
        Role::Viewer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Integration => "integration",
            Role::Operator => "operator",
            Role::Buyer => "buyer",
            Role::Approver => "approver",
            Role::ApClerk => "ap_clerk",
            Role::Auditor => "auditor",
            Role::Viewer => "viewer",
        }
    }

    /// The scopes the role holds: the one table of who may do what.
    pub fn scopes(self) -> &'static [Scope] {
        use Scope::*;
        match self {
            Role::Admin => &Scope::ALL,
            Role::Integration => &[],
            Role::Operator => &[
                ApiDocs,
                MetricsRead,
                ContractsRead,
                MasterRead,
                MasterWrite,
                PricesRead,
                DeliveriesRead,
                DeliveriesReplay,
                TransactionsRead,
                ExceptionsRead,
                ExceptionsResolve,
                QuarantineRead,
                QuarantineReplay,
                SuppliersRequest,
            ],
            Role::Buyer => &[
                ApiDocs,
                ContractsRead,
                MasterRead,
                PricesRead,
                TransactionsRead,
                ExceptionsRead,
                RequisitionsWrite,
                SuppliersRequest,
            ],
            Role::Approver => &[
                ApiDocs,
                ContractsRead,
                ContractsWrite,
                MasterRead,
                PricesRead,
                TransactionsRead,
                ExceptionsRead,
                ExceptionsResolve,
                RequisitionsApprove,
                SuppliersApprove,
            ],
            Role::ApClerk => &[
                ApiDocs,
                ContractsRead,
                MasterRead,
                PricesRead,
                DeliveriesRead,
                TransactionsRead,
                ExceptionsRead,
                ExceptionsResolve,
                SuppliersRequest,
            ],
            Role::Auditor => &[
                ApiDocs,
                MetricsRead,
                ContractsRead,
                MasterRead,
                PricesRead,
                DeliveriesRead,
                TransactionsRead,
                ExceptionsRead,
                QuarantineRead,
                AuditRead,
            ],
            Role::Viewer => &[
                ApiDocs,
                MetricsRead,
                ContractsRead,
                MasterRead,
                PricesRead,
                DeliveriesRead,
                TransactionsRead,
                ExceptionsRead,
                QuarantineRead,
            ],
        }
    }

    pub fn has(self, scope: Scope) -> bool {
        self.scopes().contains(&scope)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown role {s:?}; expected one of {}",
                    Role::ALL.map(Role::as_str).join(", ")
                )
            })
    }
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    /// The credential's public id (an API key id, or a token's subject).
    pub id: String,
    pub role: Role,
    /// For integration principals: the system they speak for.
    pub system: Option<String>,
    /// The person behind the credential (a key's `user`, a token's subject): who approves a
    /// requisition, compared with who requested it.
    pub user: Option<String>,
}

impl Principal {
    /// How the principal appears in logs and the audit log, e.g. `k_3f9a0c2b1d4e(admin)`,
    /// `jwt:u-17(approver)` or `k_…(integration:clm)`.
    pub fn actor(&self) -> String {
        match &self.system {
            Some(system) => format!("{}({}:{system})", self.id, self.role),
            None => format!("{}({})", self.id, self.role),
        }
    }
}

/// What a route requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credential needed (health and readiness only).
    Open,
    /// A principal whose role holds the scope.
    Scope(Scope),
    /// An integration principal for the system named in the path, or an admin.
    OwnInbound,
    /// An integration principal for the clinical system (`[clinical] system`: routes such as
    /// FHIR intake name no system in their path), or an admin. The caller passes that system
    /// as `path_system`.
    ClinicalInbound,
}

/// Why a principal was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("role {role} lacks the scope {scope}")]
    MissingScope { role: Role, scope: &'static str },
    #[error("an integration credential for {own} may not post as {requested}")]
    OtherSystem { own: String, requested: String },
    #[error("role {0} may not post inbound messages; use an integration credential")]
    NotIntegration(Role),
}

/// The decision for an authenticated principal. `path_system` is the `{system}` of an inbound
/// route.
pub fn authorize(
    principal: &Principal,
    access: Access,
    path_system: Option<&str>,
) -> Result<(), Denied> {
    match access {
        Access::Open => Ok(()),
        Access::Scope(scope) if principal.role.has(scope) => Ok(()),
        Access::Scope(scope) => Err(Denied::MissingScope {
            role: principal.role,
            scope: scope.as_str(),
        }),
        Access::OwnInbound | Access::ClinicalInbound => {
            match (principal.role, &principal.system, path_system) {
                (Role::Admin, _, _) => Ok(()),
                (Role::Integration, Some(own), Some(requested)) if own == requested => Ok(()),
                (Role::Integration, own, requested) => Err(Denied::OtherSystem {
                    own: own.clone().unwrap_or_default(),
                    requested: requested.unwrap_or_default().to_string(),
                }),
                (role, _, _) => Err(Denied::NotIntegration(role)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role, system: Option<&str>) -> Principal {
        Principal {
            user: None,
            id: "k_test".into(),
            role,
            system: system.map(str::to_string),
        }
    }

    #[test]
    fn roles_parse_and_print_as_one_name() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().unwrap_err().contains("ap_clerk"));
    }

    #[test]
    fn admin_holds_every_scope_and_only_admin_and_auditor_read_the_audit_log() {
        for scope in Scope::ALL {
            assert!(Role::Admin.has(scope));
        }
        let readers: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| r.has(Scope::AuditRead))
            .collect();
        assert_eq!(readers, vec![Role::Admin, Role::Auditor]);
        let key_managers: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| r.has(Scope::KeysManage))
            .collect();
        assert_eq!(key_managers, vec![Role::Admin]);
    }

    #[test]
    fn read_only_roles_hold_no_write_scope() {
        let writes = [
            Scope::ContractsWrite,
            Scope::MasterWrite,
            Scope::DeliveriesReplay,
            Scope::QuarantineReplay,
            Scope::KeysManage,
        ];
        for role in [Role::Auditor, Role::Viewer, Role::Buyer, Role::ApClerk] {
            for scope in writes {
                assert!(!role.has(scope), "{role} must not hold {}", scope.as_str());
            }
        }
    }

    #[test]
    fn integration_principals_post_only_as_their_own_system() {
        let clm = principal(Role::Integration, Some("clm"));
        assert_eq!(authorize(&clm, Access::OwnInbound, Some("clm")), Ok(()));
        assert!(matches!(
            authorize(&clm, Access::OwnInbound, Some("erp")),
            Err(Denied::OtherSystem { .. })
        ));
        for scope in Scope::ALL {
            assert!(authorize(&clm, Access::Scope(scope), None).is_err());
        }
        let admin = principal(Role::Admin, None);
        assert_eq!(authorize(&admin, Access::OwnInbound, Some("erp")), Ok(()));
        for role in Role::ALL {
            if !matches!(role, Role::Admin | Role::Integration) {
                assert_eq!(
                    authorize(&principal(role, None), Access::OwnInbound, Some("clm")),
                    Err(Denied::NotIntegration(role))
                );
            }
        }
        // An integration principal without a system (a broken record) is refused.
        assert!(
            authorize(
                &principal(Role::Integration, None),
                Access::OwnInbound,
                Some("clm")
            )
            .is_err()
        );
    }
}
