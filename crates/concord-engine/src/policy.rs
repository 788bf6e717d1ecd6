//! Rego policies, run with `regorus`: the requisition policy that decides each requisition, and
//! the test runner behind `concord test-policies`.
//!
//! A policy is compiled once, at start, into a `CompiledPolicy` that is evaluated through `&self`
//! from any thread; a decision is a function of its input alone (the policy gets no clock, no
//! store, no network), so the same requisition always gets the same answer from the same policy.

use std::path::{Path, PathBuf};

use concord_model::requisition::{PolicyInput, PolicyVerdict};

/// The requisition policy Concord ships with, and its tests.
pub const BUILT_IN_REQUISITION: (&str, &str) = (
    "requisition.rego",
    include_str!("../policies/requisition.rego"),
);
pub const BUILT_IN_REQUISITION_TESTS: (&str, &str) = (
    "requisition_test.rego",
    include_str!("../policies/requisition_test.rego"),
);

/// The rule every requisition policy must define.
pub const REQUISITION_ENTRYPOINT: &str = "data.concord.requisition.verdict";

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read policy {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("policy {file} does not compile: {reason}")]
    Compile { file: String, reason: String },
    #[error("policy {file}: evaluating {REQUISITION_ENTRYPOINT} failed: {reason}")]
    Eval { file: String, reason: String },
    #[error(
        "policy {file}: {REQUISITION_ENTRYPOINT} is undefined for this input (does every input reach a decision?)"
    )]
    Undefined { file: String },
    #[error("policy {file}: {REQUISITION_ENTRYPOINT} is malformed: {reason}")]
    Malformed { file: String, reason: String },
}

/// The configured requisition policy compiled (the built-in one when none is configured); a
/// failure as the config problem at `procurement.requisition_policy`.
pub fn compile_configured(
    config: &crate::Config,
) -> Result<RequisitionPolicy, crate::config::ConfigProblem> {
    let path = config
        .procurement
        .requisition_policy
        .as_ref()
        .map(|p| config.resolve(p));
    RequisitionPolicy::load(path.as_deref()).map_err(|e| crate::config::ConfigProblem {
        path: "procurement.requisition_policy".into(),
        message: e.to_string(),
    })
}

/// A compiled requisition policy.
pub struct RequisitionPolicy {
    /// Where it came from, for errors (`requisition.rego (built in)` or the configured path).
    file: String,
    compiled: regorus::CompiledPolicy,
}

impl std::fmt::Debug for RequisitionPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequisitionPolicy")
            .field("file", &self.file)
            .finish()
    }
}

impl RequisitionPolicy {
    /// The shipped policy, or the file configured in its place.
    pub fn load(path: Option<&Path>) -> Result<Self, PolicyError> {
        match path {
            None => Self::compile(
                &format!("{} (built in)", BUILT_IN_REQUISITION.0),
                BUILT_IN_REQUISITION.1,
            ),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                Self::compile(&path.display().to_string(), &text)
            }
        }
    }

    pub fn compile(file: &str, text: &str) -> Result<Self, PolicyError> {
        let fail = |reason: String| PolicyError::Compile {
            file: file.to_string(),
            reason,
        };
        let mut engine = regorus::Engine::new();
        engine
            .add_policy(file.to_string(), text.to_string())
            .map_err(|e| fail(e.to_string()))?;
        let compiled = engine
            .compile_with_entrypoint(&REQUISITION_ENTRYPOINT.into())
            .map_err(|e| fail(e.to_string()))?;
        Ok(Self {
            file: file.to_string(),
            compiled,
        })
    }

    pub fn file(&self) -> &str {
        &self.file
    }

    /// Runs the policy on one requisition's facts. The verdict is checked to decide every line
    /// once: a policy that forgets a line is an error, not a guess.
    pub fn decide(&self, input: &PolicyInput<'_>) -> Result<PolicyVerdict, PolicyError> {
        let malformed = |reason: String| PolicyError::Malformed {
            file: self.file.clone(),
            reason,
        };
        let input: regorus::Value = serde_json::to_value(input)
            .and_then(serde_json::from_value)
            .map_err(|e| malformed(format!("the input does not convert: {e}")))?;
        let out = self
            .compiled
            .eval_with_input(input)
            .map_err(|e| PolicyError::Eval {
                file: self.file.clone(),
                reason: e.to_string(),
            })?;
        if out == regorus::Value::Undefined {
            return Err(PolicyError::Undefined {
                file: self.file.clone(),
            });
        }
        let json = serde_json::to_value(&out).map_err(|e| malformed(e.to_string()))?;
        let verdict: PolicyVerdict = serde_path_to_error::deserialize(&json)
            .map_err(|e| malformed(format!("at {}: {}", e.path(), e.inner())))?;
        Ok(verdict)
    }
}

/// One test rule's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestResult {
    /// `data.<package>.<rule>`.
    pub name: String,
    pub file: String,
    /// `None` when it passed; why it failed otherwise.
    pub failure: Option<String>,
}

/// Runs every `test_*` rule of the test files against the policy files, OPA style: a test passes
/// when its rule is `true`; false, undefined or an error fails it.
pub fn run_tests(
    policies: &[(String, String)],
    tests: &[(String, String)],
) -> Result<Vec<TestResult>, PolicyError> {
    let mut engine = regorus::Engine::new();
    let mut packages = vec![];
    for (file, text) in policies.iter().chain(tests) {
        let package =
            engine
                .add_policy(file.clone(), text.clone())
                .map_err(|e| PolicyError::Compile {
                    file: file.clone(),
                    reason: e.to_string(),
                })?;
        packages.push(package);
    }
    let mut results = vec![];
    for ((file, text), package) in tests.iter().zip(&packages[policies.len()..]) {
        for rule in test_rule_names(text) {
            let name = format!("{package}.{rule}");
            let failure = match engine.eval_rule(name.clone()) {
                Ok(regorus::Value::Bool(true)) => None,
                Ok(regorus::Value::Undefined) => {
                    Some("undefined (a condition did not hold)".into())
                }
                Ok(other) => Some(format!("evaluated to {other}, not true")),
                Err(e) => Some(format!("error: {e}")),
            };
            results.push(TestResult {
                name,
                file: file.clone(),
                failure,
            });
        }
    }
    Ok(results)
}

/// The policy files and test files `concord test-policies` runs: the configured requisition
/// policy with every `*_test.rego` beside it (or the built-in policy with its shipped tests),
/// plus any test files named on the command line.
pub fn test_suite(
    policy: Option<&Path>,
    extra_tests: &[PathBuf],
) -> Result<PolicySuite, PolicyError> {
    let read = |path: &Path| {
        std::fs::read_to_string(path)
            .map(|text| (path.display().to_string(), text))
            .map_err(|source| PolicyError::Read {
                path: path.to_path_buf(),
                source,
            })
    };
    let mut suite = PolicySuite::default();
    match policy {
        None => {
            suite.policies.push((
                format!("{} (built in)", BUILT_IN_REQUISITION.0),
                BUILT_IN_REQUISITION.1.to_string(),
            ));
            suite.tests.push((
                format!("{} (built in)", BUILT_IN_REQUISITION_TESTS.0),
                BUILT_IN_REQUISITION_TESTS.1.to_string(),
            ));
        }
        Some(path) => {
            suite.policies.push(read(path)?);
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
            let dir = dir.unwrap_or(Path::new("."));
            let entries = std::fs::read_dir(dir).map_err(|source| PolicyError::Read {
                path: dir.to_path_buf(),
                source,
            })?;
            let mut beside: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.ends_with("_test.rego"))
                })
                .collect();
            beside.sort();
            for test in beside {
                suite.tests.push(read(&test)?);
            }
        }
    }
    for test in extra_tests {
        suite.tests.push(read(test)?);
    }
    Ok(suite)
}

/// What `concord test-policies` runs: `(file, text)` pairs.
#[derive(Debug, Default)]
pub struct PolicySuite {
    pub policies: Vec<(String, String)>,
    pub tests: Vec<(String, String)>,
}

impl PolicySuite {
    pub fn run(&self) -> Result<Vec<TestResult>, PolicyError> {
        run_tests(&self.policies, &self.tests)
    }
}

/// Names of the rules in a module that start with `test_` at the beginning of a line (how rule
/// heads are written), each once.
fn test_rule_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = vec![];
    for line in text.lines() {
        if !line.starts_with("test_") {
            continue;
        }
        let name: String = line
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use concord_model::requisition::{Decision, LineDecision, LineFacts, Requisition};

    fn builtin() -> Vec<(String, String)> {
        vec![(
            BUILT_IN_REQUISITION.0.to_string(),
            BUILT_IN_REQUISITION.1.to_string(),
        )]
    }

    #[test]
    fn the_shipped_policy_passes_its_own_tests() {
        let tests = vec![(
            BUILT_IN_REQUISITION_TESTS.0.to_string(),
            BUILT_IN_REQUISITION_TESTS.1.to_string(),
        )];
        let results = run_tests(&builtin(), &tests).unwrap();
        assert!(results.len() >= 6, "{results:?}");
        let failed: Vec<_> = results.iter().filter(|r| r.failure.is_some()).collect();
        assert!(failed.is_empty(), "{failed:#?}");
    }

    #[test]
    fn a_failing_test_is_reported_with_its_name_and_why() {
        let tests = vec![(
            "t.rego".to_string(),
            "package t\nimport rego.v1\ntest_wrong if {\n  data.concord.requisition.max_price_variance_pct == 7\n}\ntest_right if { true }\n"
                .to_string(),
        )];
        let results = run_tests(&builtin(), &tests).unwrap();
        assert_eq!(results.len(), 2);
        assert_eq!(results[0].name, "data.t.test_wrong");
        assert!(results[0].failure.as_deref().unwrap().contains("undefined"));
        assert_eq!(results[1].failure, None);
    }

    #[test]
    fn broken_policies_are_refused_with_the_file_named() {
        let err =
            RequisitionPolicy::compile("bad.rego", "package concord.requisition\nverdict := {")
                .unwrap_err();
        assert!(
            matches!(err, PolicyError::Compile { ref file, .. } if file == "bad.rego"),
            "{err}"
        );
        // A policy without the entrypoint does not compile into a requisition policy.
        let err = RequisitionPolicy::compile("other.rego", "package other\nimport rego.v1\nx := 1")
            .unwrap_err();
        assert!(err.to_string().contains("other.rego"), "{err}");
    }

    fn decide(
        policy: &RequisitionPolicy,
        facts: &[LineFacts],
    ) -> Result<PolicyVerdict, PolicyError> {
        let req: Requisition = serde_json::from_value(serde_json::json!({
            "id": "R-1", "requester": "u-17", "facility": "0614141000005", "cost_center": "CC-100",
            "lines": [{"gtin": "00614141000012", "quantity": 1, "uom": "EA", "unit_price": "9.00"}]
        }))
        .unwrap();
        policy.decide(&PolicyInput {
            requisition: &req,
            lines: facts,
            total: req.total(),
            approval_levels: vec![],
        })
    }

    fn fact(json: serde_json::Value) -> LineFacts {
        let mut base = serde_json::json!({
            "line": 1, "gtin": "00614141000012", "quantity": 1, "uom": "EA", "unit_price": "9.00",
            "item_known": true, "price_over_contract": false, "uom_differs": false,
            "price_variance_pct": "0", "contracts_not_admitting": [], "alternatives": []
        });
        for (k, v) in json.as_object().unwrap() {
            base[k] = v.clone();
        }
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn the_shipped_policy_decides_typed_facts() {
        let policy = RequisitionPolicy::load(None).unwrap();
        let on = fact(
            serde_json::json!({"contract": {"contract_id": "C-1", "version": 1, "unit_price": "9.00", "uom": "EA"}}),
        );
        let v = decide(&policy, std::slice::from_ref(&on)).unwrap();
        assert_eq!(v.decision, Decision::Approved);
        assert_eq!(v.lines[0].decision, LineDecision::OnContract);
        let off = fact(
            serde_json::json!({"line": 2, "alternatives": [{"gtin": "00614141000029", "contract_id": "C-2", "unit_price": "8.00", "uom": "EA"}]}),
        );
        let v = decide(&policy, &[on, off]).unwrap();
        assert_eq!(v.decision, Decision::Refused);
        assert_eq!(v.lines.len(), 2);
    }

    #[test]
    fn a_policy_that_answers_nothing_or_nonsense_is_an_error() {
        let undefined = RequisitionPolicy::compile(
            "u.rego",
            "package concord.requisition\nimport rego.v1\nverdict := 1 if { false }",
        )
        .unwrap();
        assert!(matches!(
            decide(&undefined, &[fact(serde_json::json!({}))]),
            Err(PolicyError::Undefined { .. })
        ));
        let nonsense = RequisitionPolicy::compile(
            "n.rego",
            "package concord.requisition\nimport rego.v1\nverdict := {\"decision\": \"maybe\", \"lines\": []}",
        )
        .unwrap();
        let err = decide(&nonsense, &[fact(serde_json::json!({}))]).unwrap_err();
        assert!(err.to_string().contains("decision"), "{err}");
    }
}
