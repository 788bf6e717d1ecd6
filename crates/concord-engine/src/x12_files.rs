//! The inbound half of a file-drop partner (`transport = { kind = "file", outbox, inbox }`): a
//! loop per partner reads the interchanges the partner, or its VAN or AS2 gateway, drops into
//! `inbox`, and hands each to the same inbound path as `POST /v1/inbound/{partner}/x12`: stored
//! raw first, acknowledged, quarantined with its reasons when it has errors.
//!
//! - **Only finished files are read.** A writer writes under a temporary name and renames, as
//!   the hub does in `outbox`. Names that start with `.` or end in `.tmp` or `.part` are
//!   writes still in progress and are left alone.
//! - **Oldest first**, by modification time, then by name, one file at a time per partner: the
//!   order the partner dropped them in.
//! - **Nothing is lost or applied twice.** A file moves out of `inbox` only after the hub has
//!   stored it: to `inbox/processed/`, or to `inbox/rejected/` next to a `NAME.problem.json`
//!   with the problem the HTTP route would have answered (the interchange is also in the
//!   quarantine, to be fixed and replayed). If the hub cannot store it (the database is
//!   down), the file stays and is read again next round. Stored interchanges are deduplicated
//!   by content, so a crash between storing and moving re-reads the file and gets the same
//!   answer; no set is applied twice.
//! - **A file too large** for `hub.max_body_bytes` is not read: it moves to `rejected/` with
//!   a problem saying so.

use std::{
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use serde_json::json;

use crate::{
    error::{EngineError, Result},
    hub::Hub,
    inbound::{Inbound, InboundAnswer},
    partners::Transport,
    x12_inbound::X12,
};

/// Where a read file goes when the hub stored it and accepted it.
pub const PROCESSED: &str = "processed";
/// Where a read file goes when the hub refused it (with its `.problem.json`).
pub const REJECTED: &str = "rejected";

/// A file name another program may still be writing.
fn in_progress(name: &str) -> bool {
    name.starts_with('.') || name.ends_with(".tmp") || name.ends_with(".part")
}

/// The finished files in `dir`, oldest first (modification time, then name).
async fn waiting_files(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    let mut entries = tokio::fs::read_dir(dir).await?;
    while let Some(entry) = entries.next_entry().await? {
        let meta = entry.metadata().await?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !meta.is_file() || in_progress(&name) {
            continue;
        }
        let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        found.push((modified, name, entry.path()));
    }
    found.sort();
    Ok(found
        .into_iter()
        .map(|(_, name, path)| (name, path))
        .collect())
}

/// Moves `from` into `dir` under its own name, or, when that name is taken (the partner
/// reuses file names), under the name with a timestamp before its extension.
async fn move_into(from: &Path, dir: &Path, name: &str) -> std::io::Result<PathBuf> {
    tokio::fs::create_dir_all(dir).await?;
    let mut to = dir.join(name);
    if tokio::fs::try_exists(&to).await? {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ");
        to = match name.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() => dir.join(format!("{stem}.{stamp}.{ext}")),
            _ => dir.join(format!("{name}.{stamp}")),
        };
    }
    tokio::fs::rename(from, &to).await?;
    Ok(to)
}

impl Hub {
    /// The partner's inbox folder, when it trades by file drop.
    fn partner_inbox(&self, partner: &str) -> Option<(PathBuf, Duration)> {
        match &self.config().partners.get(partner)?.transport {
            Transport::File { inbox, poll_ms, .. } => Some((
                self.config().hub.data_dir.join(inbox),
                Duration::from_millis(*poll_ms),
            )),
            Transport::Http { .. } => None,
        }
    }

    /// One pass over a file-drop partner's inbox: every finished file, oldest first, through
    /// the inbound path. Errors only when the folder itself cannot be read.
    async fn read_partner_inbox(&self, partner: &str) -> Result<()> {
        let (dir, _) = self.partner_inbox(partner).ok_or_else(|| {
            EngineError::Config(format!("partner {partner:?} does not trade by file drop"))
        })?;
        let io = |what: String, e: std::io::Error| EngineError::Config(format!("{what}: {e}"));
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| io(format!("creating {}", dir.display()), e))?;
        let files = waiting_files(&dir)
            .await
            .map_err(|e| io(format!("reading {}", dir.display()), e))?;
        for (name, path) in files {
            if let Err(e) = self.take_file(partner, &dir, &name, &path).await {
                // Most likely the store: the rest would fail the same way. Next round.
                tracing::warn!(partner, file = %path.display(), error = %e,
                    "could not take an interchange from the partner's inbox; left in place");
                break;
            }
        }
        Ok(())
    }

    /// Reads, stores and files one interchange: into `processed/` when accepted, into
    /// `rejected/` with its problem when refused.
    async fn take_file(&self, partner: &str, dir: &Path, name: &str, path: &Path) -> Result<()> {
        let io = |what: &str, e: std::io::Error| {
            EngineError::Config(format!("{what} {}: {e}", path.display()))
        };
        let limit = self.config().hub.max_body_bytes;
        let size = tokio::fs::metadata(path)
            .await
            .map_err(|e| io("reading", e))?
            .len();
        let answer = if size > limit as u64 {
            InboundAnswer {
                status: 413,
                body: json!({
                    "type": "https://concord.dev/problems/too-large",
                    "title": "File too large",
                    "status": 413,
                    "detail": format!("{name} is {size} bytes; hub.max_body_bytes allows {limit}"),
                }),
                replayed: false,
            }
        } else {
            let body = tokio::fs::read(path).await.map_err(|e| io("reading", e))?;
            let message = Inbound {
                system: partner.to_string(),
                message_type: X12.into(),
                idempotency_key: None,
                correlation_id: None,
                content_type: "application/edi-x12".into(),
                body,
                actor: Some(format!("file:{partner}")),
            };
            match self.receive(message).await {
                Ok(answer) => answer,
                // Refused before it was stored: the file itself is the only copy, kept.
                Err(EngineError::Rejected(rejection)) => InboundAnswer {
                    status: rejection.status,
                    body: rejection.to_problem(),
                    replayed: false,
                },
                Err(e) => return Err(e),
            }
        };
        if answer.status < 400 {
            let to = move_into(path, &dir.join(PROCESSED), name)
                .await
                .map_err(|e| io("moving", e))?;
            tracing::info!(partner, file = %to.display(), "interchange taken from the partner's inbox");
            return Ok(());
        }
        let rejected = dir.join(REJECTED);
        let to = move_into(path, &rejected, name)
            .await
            .map_err(|e| io("moving", e))?;
        let problem_name = format!(
            "{}.problem.json",
            to.file_name().unwrap_or_default().to_string_lossy()
        );
        let problem = serde_json::to_vec_pretty(&answer.body).unwrap_or_default();
        tokio::fs::write(rejected.join(&problem_name), problem)
            .await
            .map_err(|e| io("writing the problem of", e))?;
        tracing::warn!(partner, file = %to.display(), status = answer.status,
            "interchange from the partner's inbox refused; see its .problem.json");
        Ok(())
    }
}

/// The loop of one file-drop partner: a pass over its inbox every `poll_ms`.
async fn run_partner(hub: Hub, partner: String, every: Duration) {
    while !hub.stopping() {
        if let Err(e) = hub.read_partner_inbox(&partner).await {
            tracing::error!(partner, error = %e, "reading the partner's inbox failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = hub.inner.stop.notified() => {}
        }
    }
}

/// Starts one inbox loop per file-drop partner.
pub(crate) fn start(hub: &Hub) -> Vec<tokio::task::JoinHandle<()>> {
    hub.config()
        .partners
        .keys()
        .filter_map(|name| {
            let (_, every) = hub.partner_inbox(name)?;
            Some(tokio::spawn(run_partner(hub.clone(), name.clone(), every)))
        })
        .collect()
}
