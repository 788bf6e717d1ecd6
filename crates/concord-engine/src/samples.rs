//! Contract tests for mappings: the sample payloads kept beside each inbound mapping
//! (`contract.in.jq` → `contract.in.samples/*.json`) are run through it and the result checked
//! against the canonical model, exactly as the pipeline would. When a SaaS vendor changes its
//! payload, a new sample from it fails here, before production does.
//!
//! A sample named `*.invalid.json` must be refused (it shows the mapping stops bad input); every
//! other sample must pass.

use std::path::{Path, PathBuf};

use crate::{
    config::Config,
    inbound::{check_canonical, map_inbound},
    mapping::MappingRegistry,
};

/// What one sample did.
#[derive(Debug, Clone)]
pub struct SampleOutcome {
    /// The mapping's place in the config, e.g. `systems.clm.inbound.contract`.
    pub route: String,
    pub sample: PathBuf,
    /// `None` when the sample behaved as its name says; otherwise why not.
    pub failure: Option<String>,
}

/// The outcome of every sample of every inbound mapping, and the routes that have none.
#[derive(Debug, Clone, Default)]
pub struct SampleReport {
    pub outcomes: Vec<SampleOutcome>,
    pub without_samples: Vec<String>,
}

impl SampleReport {
    pub fn failed(&self) -> usize {
        self.outcomes.iter().filter(|o| o.failure.is_some()).count()
    }
}

/// The samples folder of a mapping file: `x.in.jq` → `x.in.samples`.
pub fn samples_dir(mapping: &Path) -> PathBuf {
    mapping.with_extension("samples")
}

/// Runs every inbound mapping's samples.
pub fn run(config: &Config, mappings: &MappingRegistry) -> SampleReport {
    let mut report = SampleReport::default();
    for (system_id, system) in &config.systems {
        for (message_type, route) in &system.inbound {
            let name = format!("systems.{system_id}.inbound.{message_type}");
            let dir = samples_dir(&config.resolve(&route.mapping));
            let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect();
            files.sort();
            if files.is_empty() {
                report.without_samples.push(name);
                continue;
            }
            for sample in files {
                let failure = try_sample(mappings, system_id, message_type, &sample);
                report.outcomes.push(SampleOutcome {
                    route: name.clone(),
                    sample,
                    failure,
                });
            }
        }
    }
    report
}

fn try_sample(
    mappings: &MappingRegistry,
    system: &str,
    message_type: &str,
    sample: &Path,
) -> Option<String> {
    let expect_refusal = sample
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".invalid.json"));
    let body = match std::fs::read(sample) {
        Ok(bytes) => crate::inbound::stored_text(&bytes),
        Err(e) => return Some(format!("cannot read it: {e}")),
    };
    let outcome = map_inbound(mappings, system, message_type, &body)
        .and_then(|canonical| check_canonical(message_type, &canonical));
    match (outcome, expect_refusal) {
        (Ok(()), false) => None,
        (Err(_), true) => None,
        (Ok(()), true) => Some("it is named .invalid.json but the mapping accepted it".into()),
        (Err(rejection), false) if rejection.errors.is_empty() => Some(rejection.to_string()),
        (Err(rejection), false) => Some(
            rejection
                .errors
                .iter()
                .map(|e| format!("{}: {} ({})", e.path, e.message, e.rule))
                .collect::<Vec<_>>()
                .join("\n      "),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_sit_beside_their_mapping() {
        assert_eq!(
            samples_dir(Path::new("m/clm/contract.in.jq")),
            PathBuf::from("m/clm/contract.in.samples")
        );
    }
}
