//! Errors of the engine. A [`Rejection`] is a refusal of the input (the caller's problem, with
//! field-level detail); everything else is the hub's own failure.

use concord_model::FieldError;

/// Why an input was refused: becomes RFC 9457 problem JSON at the API edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    /// Problem type slug, e.g. `validation`, `mapping`, `supplier_unresolved`.
    pub kind: &'static str,
    pub title: String,
    pub detail: String,
    pub errors: Vec<FieldError>,
}

impl Rejection {
    pub fn new(
        status: u16,
        kind: &'static str,
        title: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            kind,
            title: title.into(),
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        Self {
            status: 422,
            kind: "validation",
            title: "The document is invalid".into(),
            detail,
            errors,
        }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        let what = what.into();
        Self::new(404, "not_found", "Not found", what)
    }

    /// The problem JSON body (without `instance`, which the API adds).
    pub fn to_problem(&self) -> serde_json::Value {
        let mut problem = serde_json::json!({
            "type": format!("https://concord.dev/problems/{}", self.kind),
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        });
        if !self.errors.is_empty() {
            problem["errors"] = serde_json::to_value(&self.errors).unwrap_or_default();
        }
        problem
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.title, self.status, self.detail)
    }
}

impl std::error::Error for Rejection {}

/// An error and its sources, `: `-separated (the reason a request failed, such as a refused
/// certificate, is often only in a source).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Rejected(Rejection),
    #[error(transparent)]
    Store(#[from] concord_store::Error),
    #[error("workflow: {0}")]
    Workflow(#[from] concord_model::workflow::contract::WorkflowError),
    /// The requisition policy failed or answered something that is not a verdict: the
    /// operator's policy is broken, not the caller's input.
    #[error("requisition policy: {0}")]
    Policy(String),
    /// The hub's config cannot do what a workflow needs (a partner's envelope, say): the
    /// operator's to fix; `concord check` reports the same.
    #[error("config: {0}")]
    Config(String),
}

impl From<Rejection> for EngineError {
    fn from(r: Rejection) -> Self {
        EngineError::Rejected(r)
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
