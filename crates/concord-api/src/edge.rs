//! The outermost layer, around every route and the fallback: whatever happens inside, the caller
//! gets problem JSON for an error (axum's own rejections included: a bad path, a malformed query,
//! an oversized body, a wrong method), a 500 problem instead of a dropped connection when a
//! handler panics, and the security headers.

use std::{any::Any, panic::AssertUnwindSafe};

use axum::{
    body::to_bytes,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use concord_engine::Rejection;
use futures::FutureExt;

use crate::problem::ApiError;

/// What the edge adds: the HSTS value when the API is served over TLS.
#[derive(Clone)]
pub(crate) struct Edge {
    pub hsts: Option<HeaderValue>,
}

impl Edge {
    pub fn new(config: &concord_engine::Config) -> Edge {
        let hsts = config.api.tls.as_ref().and_then(|tls| {
            HeaderValue::from_str(&format!(
                "max-age={}; includeSubDomains",
                tls.hsts_max_age_secs
            ))
            .ok()
        });
        Edge { hsts }
    }
}

/// The most of an error body kept as the problem's detail.
const DETAIL_MAX: usize = 2048;

pub(crate) async fn edge(State(edge): State<Edge>, request: Request, next: Next) -> Response {
    let mut response = match AssertUnwindSafe(next.run(request)).catch_unwind().await {
        Ok(response) => response,
        Err(panic) => {
            tracing::error!(panic = panic_message(&panic), "a request handler panicked");
            ApiError(Rejection::new(
                500,
                "internal",
                "Internal error",
                "the hub could not complete the request; it is logged",
            ))
            .into_response()
        }
    };
    let status = response.status();
    if (status.is_client_error() || status.is_server_error())
        && !is_problem(response.headers())
        && !is_page(response.headers())
    {
        response = into_problem(response).await;
    }
    security_headers(response.headers_mut(), edge.hsts.as_ref());
    response
}

fn panic_message(panic: &Box<dyn Any + Send>) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// The console's error pages are HTML made for a person, kept as they are.
fn is_page(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"))
}

fn is_problem(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"))
}

/// Rewrites a plain error (axum's rejections answer in text) as problem JSON, keeping the status
/// and headers such as `Allow`.
async fn into_problem(response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let text = match to_bytes(body, DETAIL_MAX).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => String::new(),
    };
    let status = parts.status;
    let kind = match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
        s if s.is_server_error() => "internal",
        _ => "http_error",
    };
    let detail = match (status, text.trim()) {
        (StatusCode::METHOD_NOT_ALLOWED, _) => {
            let allow = parts
                .headers
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            format!("this route does not take that method; it allows {allow}")
        }
        (StatusCode::PAYLOAD_TOO_LARGE, _) => {
            "the body is larger than the configured hub.max_body_bytes".to_string()
        }
        (s, _) if s.is_server_error() => {
            tracing::error!(status = %s, body = text, "an error answer without detail");
            "the hub could not complete the request; it is logged".to_string()
        }
        (_, "") => status.canonical_reason().unwrap_or("error").to_string(),
        (_, text) => text.to_string(),
    };
    let title = status.canonical_reason().unwrap_or("Error");
    let mut problem =
        ApiError(Rejection::new(status.as_u16(), kind, title, detail)).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().insert(name, value.clone());
        }
    }
    problem
}

/// Headers every answer carries; a handler may set its own `Content-Security-Policy` (the docs
/// page does), `Cache-Control` and `Referrer-Policy` (the console's pages do).
fn security_headers(headers: &mut HeaderMap, hsts: Option<&HeaderValue>) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers
        .entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("no-referrer"));
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "default-src 'none'; frame-ancestors 'none'",
        ));
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    if let Some(hsts) = hsts {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn plain(status: StatusCode, text: &'static str) -> Response {
        (status, Body::from(text)).into_response()
    }

    #[tokio::test]
    async fn plain_errors_become_problems_keeping_status_and_allow() {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET,HEAD"));
        let p = into_problem(r).await;
        assert_eq!(p.status(), 405);
        assert!(is_problem(p.headers()));
        assert_eq!(p.headers()[header::ALLOW], "GET,HEAD");
        let body = to_bytes(p.into_body(), 10_000).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v["type"].as_str().unwrap().rsplit('/').next(),
            Some("method_not_allowed")
        );
        assert!(v["detail"].as_str().unwrap().contains("GET,HEAD"));

        let p = into_problem(plain(StatusCode::BAD_REQUEST, "Invalid URL: bad %")).await;
        let body = to_bytes(p.into_body(), 10_000).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["status"], 400);
        assert_eq!(v["detail"], "Invalid URL: bad %");
    }

    #[test]
    fn hsts_only_with_tls_and_handler_csp_kept() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'self'"),
        );
        security_headers(&mut h, None);
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], "default-src 'self'");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(h.get(header::STRICT_TRANSPORT_SECURITY).is_none());
        let hsts = HeaderValue::from_static("max-age=60; includeSubDomains");
        security_headers(&mut h, Some(&hsts));
        assert_eq!(
            h[header::STRICT_TRANSPORT_SECURITY],
            "max-age=60; includeSubDomains"
        );
    }
}
