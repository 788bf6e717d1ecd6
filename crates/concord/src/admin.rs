//! `concord keys …` and `concord audit verify`: administration against the store directly, for
//! a fresh install (before any key exists) and for checking the audit chain offline.

use anyhow::{Context, Result, bail};
use chrono::Utc;
use concord_engine::{Config, Hub, governance::NewKey};
use concord_model::access::Role;
use concord_store::{Store, StoreOptions};

/// Headers that present `key` on every request of a client (demo and load harness).
pub fn bearer_headers(key: &str) -> Result<reqwest::header::HeaderMap> {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {key}").parse()?,
    );
    Ok(headers)
}

/// The actor the audit log records for a command run from a shell.
fn cli_actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    )
}

pub async fn keys_create(
    config: Config,
    name: String,
    role: &str,
    system: Option<String>,
    user: Option<String>,
    expires_in_days: Option<u32>,
) -> Result<()> {
    let role: Role = role.parse().map_err(anyhow::Error::msg)?;
    let hub = Hub::open(config).await?;
    let created = hub
        .create_key(
            NewKey {
                name,
                role,
                system,
                user,
                expires_at: expires_in_days
                    .map(|d| Utc::now() + chrono::Duration::days(i64::from(d))),
            },
            &cli_actor(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{}", created.key);
    eprintln!(
        "created key {} ({}, role {}{}); the line above is the only copy of it",
        created.record.id,
        created.record.name,
        created.record.role,
        created
            .record
            .system
            .as_deref()
            .map(|s| format!(", system {s}"))
            .unwrap_or_default()
    );
    seal_and_close(&hub).await;
    Ok(())
}

/// Seals what this command appended to the audit log (no hub may be running to do it), then
/// closes the store.
async fn seal_and_close(hub: &Hub) {
    if let Err(e) = hub.store().seal_audit(10_000).await {
        eprintln!("warning: the audit entry was stored but not sealed yet: {e}");
    }
    hub.store().close().await;
}

pub async fn keys_list(config: Config) -> Result<()> {
    let store = Store::open(StoreOptions::new(config.store_url())).await?;
    let keys = store.api_keys().await?;
    println!(
        "{:<24} {:<12} {:<10} {:<26} {:<10} name",
        "id", "role", "system", "expires", "state"
    );
    let now = Utc::now();
    for k in keys {
        let state = match (k.revoked_at, k.expires_at) {
            (Some(_), _) => "revoked",
            (None, Some(at)) if at <= now => "expired",
            _ => "active",
        };
        println!(
            "{:<24} {:<12} {:<10} {:<26} {:<10} {}",
            k.id,
            k.role,
            k.system.as_deref().unwrap_or("-"),
            k.expires_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_else(|| "never".into()),
            state,
            k.name
        );
    }
    store.close().await;
    Ok(())
}

pub async fn keys_revoke(config: Config, id: &str) -> Result<()> {
    let hub = Hub::open(config).await?;
    let key = hub
        .revoke_key(id, &cli_actor())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "revoked key {} ({}); running hubs refuse it within {} s",
        key.id,
        key.name,
        concord_engine::governance::KEY_CACHE_TTL.as_secs()
    );
    seal_and_close(&hub).await;
    Ok(())
}

/// Exits non-zero when the chain was tampered with, naming each finding.
pub async fn audit_verify(config: Config) -> Result<()> {
    let store = Store::open(StoreOptions::new(config.store_url()))
        .await
        .context("opening the store")?;
    let chain = store.audit_chain().await?;
    store.close().await;
    let findings = concord_model::audit::verify(&chain.entries, chain.head_seq, &chain.head_hash);
    if findings.is_empty() {
        println!(
            "audit log intact: {} sealed entries{}",
            chain.entries.len(),
            if chain.unsealed > 0 {
                format!(
                    ", {} appended and not sealed yet (a running hub seals them)",
                    chain.unsealed
                )
            } else {
                String::new()
            }
        );
        return Ok(());
    }
    for finding in &findings {
        println!("TAMPERED: {finding}");
    }
    bail!(
        "the audit log fails verification: {} finding(s) in {} sealed entries",
        findings.len(),
        chain.entries.len()
    )
}
