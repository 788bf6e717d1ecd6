//! RFC 9457 problem details: every error the API returns is `application/problem+json` naming
//! what was wrong, where and why — and never leaks internals (store errors are logged, not sent).

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use concord_engine::{EngineError, Rejection};
use concord_model::FieldError;

/// An API error: a refusal with detail, or an internal failure.
#[derive(Debug)]
pub struct ApiError(pub Rejection);

impl ApiError {
    pub fn bad_request(
        kind: &'static str,
        detail: impl Into<String>,
        errors: Vec<FieldError>,
    ) -> Self {
        let mut r = Rejection::new(400, kind, "The request is invalid", detail);
        r.errors = errors;
        ApiError(r)
    }

    pub fn field(status: u16, path: &str, rule: &str, message: String) -> Self {
        let mut r = Rejection::new(
            status,
            "validation",
            "The request is invalid",
            message.clone(),
        );
        r.errors = vec![FieldError::new(path, rule, message)];
        ApiError(r)
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        ApiError(r)
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Rejected(r) => ApiError(r),
            other => {
                tracing::error!(error = %other, "request failed inside the hub");
                ApiError(Rejection::new(
                    500,
                    "internal",
                    "Internal error",
                    "the hub could not complete the request; it is logged",
                ))
            }
        }
    }
}

impl From<concord_store::Error> for ApiError {
    fn from(e: concord_store::Error) -> Self {
        EngineError::Store(e).into()
    }
}

/// Writes a problem body with the right media type.
pub fn problem_response(status: u16, body: serde_json::Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        problem_response(self.0.status, self.0.to_problem())
    }
}
