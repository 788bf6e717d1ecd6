//! Credentials and the audit trail: API keys (made, checked, revoked), the bootstrap admin key,
//! audit entries for the pipeline to commit with its changes, and the sealer that chains them.
//!
//! An API key is `ck_<id>_<secret>`: the `ck_` prefix makes it recognisable in logs and secret
//! scanners, the id names it in logs and the audit log, and only the SHA-256 of the whole key is
//! stored. (A slow password hash buys nothing for 256 random bits and would cost every request.)

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use concord_model::access::{Principal, Role};
use concord_store::{ApiKeyRecord, NewAuditEntry, Write};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{
    error::{EngineError, Rejection, Result},
    hub::{Hub, sha256_hex},
};

/// Every key starts with this.
pub const KEY_PREFIX: &str = "ck_";

/// The actor recorded for changes the hub makes by itself (workflow steps, timers).
pub const SYSTEM_ACTOR: &str = "concord";

/// How long a checked key is trusted before the store is asked again. Revocation through the
/// API is immediate; through `concord keys revoke` (another process) it takes at most this.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(5);

/// The shortest bootstrap key accepted.
const MIN_BOOTSTRAP_LEN: usize = 32;

/// Why a credential was refused (always a 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no credential: send Authorization: Bearer <key>")]
    Missing,
    #[error("the credential is not an API key this hub issued")]
    Unknown,
    #[error("the bearer token is not valid: {0}")]
    Token(String),
    #[error("key {0} is revoked")]
    Revoked(String),
    #[error("key {0} expired at {1}")]
    Expired(String, DateTime<Utc>),
    #[error("key {0} has a role this build does not know: {1}")]
    BadRecord(String, String),
}

/// What to create.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub name: String,
    pub role: Role,
    /// Required for (and only for) integration keys: the system it speaks for.
    pub system: Option<String>,
    /// The person the key belongs to (required for approver keys: approvals are in their name).
    pub user: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A key just made: the secret is in `key` and is never shown again.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedKey {
    pub key: String,
    #[serde(flatten)]
    pub record: ApiKeyRecord,
}

/// Checked keys by hash, with when they were checked.
#[derive(Default)]
pub(crate) struct KeyCache {
    entries: HashMap<String, (Instant, std::sync::Arc<ApiKeyRecord>)>,
}

const KEY_CACHE_MAX: usize = 10_000;

fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the operating system's random source works");
    hex::encode(buf)
}

/// The SHA-256 of serialisable state, for before/after digests in the audit log: of its JSON
/// with keys in sorted order, so the same state always has the same digest (a contract's is the
/// digest its stored version carries).
pub fn digest_of<T: Serialize>(value: &T) -> String {
    digest_of_json(&serde_json::to_value(value).expect("audited state serialises"))
}

/// [`digest_of`] for a value already in JSON form.
pub fn digest_of_json(value: &Value) -> String {
    sha256_hex(value.to_string().as_bytes())
}

/// An audit entry to commit together with the change it witnesses.
pub fn audit(
    actor: &str,
    action: &str,
    subject: impl Into<String>,
    correlation_id: Option<&str>,
    before_digest: Option<String>,
    after_digest: Option<String>,
    detail: Value,
) -> Write {
    Write::Audit(NewAuditEntry {
        at: Utc::now(),
        actor: actor.to_string(),
        action: action.to_string(),
        subject: subject.into(),
        correlation_id: correlation_id.map(str::to_string),
        before_digest,
        after_digest,
        detail,
    })
}

fn principal_of(record: &ApiKeyRecord) -> Result<Principal, AuthError> {
    let role = record
        .role
        .parse::<Role>()
        .map_err(|e| AuthError::BadRecord(record.id.clone(), e))?;
    Ok(Principal {
        id: record.id.clone(),
        role,
        system: record.system.clone(),
        user: record.user.clone(),
    })
}

fn check_usable(record: &ApiKeyRecord, now: DateTime<Utc>) -> Result<Principal, AuthError> {
    if record.revoked_at.is_some() {
        return Err(AuthError::Revoked(record.id.clone()));
    }
    if let Some(expires_at) = record.expires_at
        && expires_at <= now
    {
        return Err(AuthError::Expired(record.id.clone(), expires_at));
    }
    principal_of(record)
}

impl Hub {
    /// Who presents `token` (the part after `Bearer `): an API key (`ck_…`) or, when
    /// `[auth.jwt]` is configured, a JWT.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        if !token.starts_with(KEY_PREFIX)
            && let Some(jwt) = &self.inner.jwt
            && token.bytes().filter(|b| *b == b'.').count() == 2
        {
            return jwt.verify(token).map_err(AuthError::Token);
        }
        let hash = sha256_hex(token.as_bytes());
        let now = Utc::now();
        let cached = self
            .inner
            .keys
            .lock()
            .entries
            .get(&hash)
            .filter(|(at, _)| at.elapsed() < KEY_CACHE_TTL)
            .map(|(_, record)| std::sync::Arc::clone(record));
        if let Some(record) = cached {
            return check_usable(&record, now);
        }
        let record = self
            .store()
            .api_key_by_hash(&hash)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "reading API keys failed");
                AuthError::Unknown
            })?
            .ok_or(AuthError::Unknown)?;
        let mut cache = self.inner.keys.lock();
        if cache.entries.len() >= KEY_CACHE_MAX {
            cache.entries.clear();
        }
        cache
            .entries
            .insert(hash, (Instant::now(), std::sync::Arc::new(record.clone())));
        drop(cache);
        check_usable(&record, now)
    }

    fn check_new_key(&self, new: &NewKey) -> Result<()> {
        let problem = match (new.role, &new.system) {
            (Role::Integration, None) => {
                Some("an integration key must name the system it speaks for".to_string())
            }
            (Role::Integration, Some(system)) if !self.config().knows_system(system) => Some(
                format!("no system, trading partner or clinical system {system:?} is configured"),
            ),
            (role, Some(_)) if role != Role::Integration => Some(format!(
                "only integration keys name a system, not {role} keys"
            )),
            _ => None,
        };
        if let Some(detail) = problem {
            return Err(Rejection::invalid(vec![concord_model::FieldError::new(
                "system",
                "integration_system",
                detail,
            )])
            .into());
        }
        if let Some(user) = &new.user {
            let mut errors = vec![];
            concord_model::master::check_id("user", user, &mut errors);
            if !errors.is_empty() {
                return Err(Rejection::invalid(errors).into());
            }
        }
        if new.name.trim().is_empty() || new.name.len() > 200 {
            return Err(Rejection::invalid(vec![concord_model::FieldError::new(
                "name",
                "length",
                "a key needs a name of 1 to 200 characters",
            )])
            .into());
        }
        Ok(())
    }

    /// Makes a key; the answer holds the only copy of the secret.
    pub async fn create_key(&self, new: NewKey, actor: &str) -> Result<CreatedKey> {
        self.check_new_key(&new)?;
        let id = format!("k_{}", random_token(6));
        let key = format!("{KEY_PREFIX}{id}_{}", random_token(32));
        let record = ApiKeyRecord {
            id: id.clone(),
            name: new.name,
            role: new.role.as_str().to_string(),
            system: new.system,
            user: new.user,
            created_at: Utc::now(),
            created_by: actor.to_string(),
            expires_at: new.expires_at,
            revoked_at: None,
        };
        self.commit(vec![
            Write::InsertApiKey {
                key: record.clone(),
                hash: sha256_hex(key.as_bytes()),
            },
            audit(
                actor,
                "key.created",
                format!("key:{id}"),
                None,
                None,
                Some(digest_of(&record)),
                json!({"name": record.name, "role": record.role, "system": record.system, "user": record.user, "expires_at": record.expires_at}),
            ),
        ])
        .await?;
        Ok(CreatedKey { key, record })
    }

    /// Revokes a key at once (and forgets it from this instance's cache).
    pub async fn revoke_key(&self, id: &str, actor: &str) -> Result<ApiKeyRecord> {
        let before = self
            .store()
            .api_key(id)
            .await?
            .ok_or_else(|| Rejection::not_found(format!("no key {id}")))?;
        if before.revoked_at.is_some() {
            return Ok(before);
        }
        let now = Utc::now();
        let mut after = before.clone();
        after.revoked_at = Some(now);
        self.commit(vec![
            Write::RevokeApiKey {
                id: id.to_string(),
                at: now,
            },
            audit(
                actor,
                "key.revoked",
                format!("key:{id}"),
                None,
                Some(digest_of(&before)),
                Some(digest_of(&after)),
                json!({"name": before.name, "role": before.role}),
            ),
        ])
        .await?;
        self.inner
            .keys
            .lock()
            .entries
            .retain(|_, (_, record)| record.id != id);
        Ok(after)
    }

    /// Installs the bootstrap admin key from the environment, once: a second start with the same
    /// key changes nothing.
    pub async fn install_bootstrap_key(&self, key: &concord_model::Secret) -> Result<()> {
        let key = key.expose();
        if key.len() < MIN_BOOTSTRAP_LEN {
            return Err(EngineError::Rejected(Rejection::new(
                400,
                "weak_bootstrap_key",
                "The bootstrap admin key is too short",
                format!(
                    "CONCORD_BOOTSTRAP_ADMIN_KEY must be at least {MIN_BOOTSTRAP_LEN} characters"
                ),
            )));
        }
        let hash = sha256_hex(key.as_bytes());
        if self.store().api_key_by_hash(&hash).await?.is_some() {
            return Ok(());
        }
        let id = format!("k_bootstrap_{}", &hash[..8]);
        let record = ApiKeyRecord {
            id: id.clone(),
            name: "bootstrap admin (CONCORD_BOOTSTRAP_ADMIN_KEY)".into(),
            role: Role::Admin.as_str().into(),
            system: None,
            user: None,
            created_at: Utc::now(),
            created_by: SYSTEM_ACTOR.into(),
            expires_at: None,
            revoked_at: None,
        };
        let installed = self
            .commit(vec![
                audit(
                    SYSTEM_ACTOR,
                    "key.created",
                    format!("key:{id}"),
                    None,
                    None,
                    Some(digest_of(&record)),
                    json!({"name": record.name, "role": record.role, "bootstrap": true}),
                ),
                Write::InsertApiKey {
                    key: record,
                    hash: hash.clone(),
                },
            ])
            .await;
        match installed {
            // Another instance starting on the same store at the same moment installed it.
            Err(_) if self.store().api_key_by_hash(&hash).await?.is_some() => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// Witnesses the config the hub starts on. Config takes effect at start, so a start on a
    /// config (or mapping) different from the last one recorded is the reload: it is audited
    /// as `config.reloaded` with the before and after fingerprints; the first start as
    /// `config.loaded`; an unchanged restart adds nothing.
    pub async fn record_config(&self) -> Result<()> {
        let after = sha256_hex(
            format!(
                "{} {}",
                self.config().fingerprint(),
                self.inner.mappings.fingerprint()
            )
            .as_bytes(),
        );
        let last = self
            .store()
            .audit_entries(&concord_store::AuditFilter {
                subject: Some("config".into()),
                limit: 1,
                ..Default::default()
            })
            .await?;
        let before = last.first().and_then(|e| e.entry.after_digest.clone());
        let action = match &before {
            Some(b) if *b == after => return Ok(()),
            Some(_) => "config.reloaded",
            None => "config.loaded",
        };
        let systems: Vec<&String> = self.config().systems.keys().collect();
        self.commit(vec![audit(
            SYSTEM_ACTOR,
            action,
            "config",
            None,
            before,
            Some(after),
            json!({"systems": systems, "base_dir": self.config().base_dir}),
        )])
        .await?;
        Ok(())
    }

    /// Records a refused request (a bad credential or a missing scope).
    pub async fn audit_denied(&self, actor: &str, route: &str, status: u16, reason: &str) {
        let entry = audit(
            actor,
            "access.denied",
            route.to_string(),
            None,
            None,
            None,
            json!({"status": status, "reason": reason}),
        );
        if let Err(e) = self.commit(vec![entry]).await {
            tracing::error!(error = %e, "recording a denied request in the audit log failed");
        }
    }
}

/// How many entries the sealer chains per transaction.
const SEAL_BATCH: u32 = 1000;

/// Chains appended audit entries shortly after they are committed.
pub(crate) async fn run_sealer(hub: Hub) {
    loop {
        hub.beat("audit_sealer");
        // One sealer at a time among instances sharing the store: two would read the same
        // unsealed entries and all but one would have its chain refused (safe, but wasted).
        let sealed = async {
            let _one = hub.lock_workflow("concord:audit_sealer").await?;
            Ok::<_, crate::EngineError>(hub.store().seal_audit(SEAL_BATCH).await?)
        };
        match sealed.await {
            Ok(n) if n == SEAL_BATCH as usize => continue, // more may be waiting
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "sealing the audit log failed"),
        }
        if hub.stopping() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = hub.inner.stop.notified() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(role: &str) -> ApiKeyRecord {
        ApiKeyRecord {
            id: "k_1".into(),
            name: "n".into(),
            role: role.into(),
            system: None,
            user: None,
            created_at: Utc::now(),
            created_by: "t".into(),
            expires_at: None,
            revoked_at: None,
        }
    }

    #[test]
    fn revoked_expired_and_unknown_role_keys_are_refused() {
        let now = Utc::now();
        assert_eq!(
            check_usable(&record("viewer"), now).unwrap().role,
            Role::Viewer
        );
        let mut revoked = record("admin");
        revoked.revoked_at = Some(now);
        assert_eq!(
            check_usable(&revoked, now),
            Err(AuthError::Revoked("k_1".into()))
        );
        let mut expired = record("admin");
        expired.expires_at = Some(now - chrono::Duration::seconds(1));
        assert!(matches!(
            check_usable(&expired, now),
            Err(AuthError::Expired(..))
        ));
        assert!(matches!(
            check_usable(&record("root"), now),
            Err(AuthError::BadRecord(..))
        ));
    }

    #[test]
    fn random_tokens_are_hex_and_differ() {
        let (a, b) = (random_token(32), random_token(32));
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
