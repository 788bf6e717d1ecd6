//! Transport security and identities over real connections: the API on TLS with HSTS, outbound
//! HTTPS that verifies certificates (and trusts a system's private CA only when configured), and
//! JWT bearer tokens from an identity provider.

mod common;

use common::*;
use concord_engine::config::{JwtConfig, SecretRef, TlsConfig};
use concord_store::testing::Backend;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::Method;
use serde_json::{Value, json};

fn tls_config() -> TlsConfig {
    TlsConfig {
        cert: fixture("tls/hub.pem"),
        key: fixture("tls/hub-key.pem"),
        hsts_max_age_secs: 31_536_000,
    }
}

/// The full error chain of a failed request (the reason is in a source).
fn chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_on_tls_sends_hsts_and_security_headers() {
    let t = spawn_hub(Backend::Sqlite, |c| c.api.tls = Some(tls_config()))
        .await
        .unwrap();
    assert!(t.url.starts_with("https://127.0.0.1:"));
    let (status, body, headers) = t.request(Method::GET, "/v1/keys", None, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        headers["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["cache-control"], "no-store");

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = reqwest::get(format!("{}/healthz", t.url.replacen("https", "http", 1))).await;
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");
    // A client that does not trust the issuing CA refuses the hub's certificate.
    let untrusting = reqwest::get(format!("{}/healthz", t.url))
        .await
        .unwrap_err();
    assert!(
        chain(&untrusting).to_lowercase().contains("certificate"),
        "{}",
        chain(&untrusting)
    );
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_tls_there_is_no_hsts_but_the_other_headers_are_there() {
    let t = spawn_hub(Backend::Sqlite, |_| {}).await.unwrap();
    let (status, _, headers) = t.request(Method::GET, "/nowhere", None, &[]).await;
    assert_eq!(status, 404);
    assert!(headers.get("strict-transport-security").is_none());
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(
        headers["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );
    t.shutdown().await;
}

/// The analytics target is pointed at an HTTPS server whose certificate a private CA issued:
/// the hub refuses it until the system's `ca_file` names that CA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_https_verifies_certificates_and_trusts_only_a_configured_ca() {
    let target = spawn_hub(Backend::Sqlite, |c| c.api.tls = Some(tls_config()))
        .await
        .unwrap();
    for trust in [false, true] {
        let t = spawn_hub(Backend::Sqlite, |c| {
            c.delivery.max_attempts = 1;
            let analytics = c.systems.get_mut("analytics").unwrap();
            analytics.base_url = Some(target.url.clone());
            if trust {
                analytics.ca_file = Some(fixture("tls/ca.pem"));
            }
        })
        .await
        .unwrap();
        t.seed().await;
        let (status, body) = t
            .post(
                "/v1/contracts",
                contract("C-TLS", 1, &[(ITEM_1, "2.00")], &[]),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        let dead_error = || async {
            let (_, list) = t.get("/v1/deliveries?status=dead").await;
            list["deliveries"]
                .as_array()
                .unwrap()
                .iter()
                .find(|d| d["target"] == "analytics")
                .and_then(|d| d["last_error"].as_str().map(str::to_string))
        };
        t.eventually("the analytics delivery is dead", || async {
            dead_error().await.is_some()
        })
        .await;
        let error = dead_error().await.unwrap();
        if trust {
            // The handshake succeeded: the target itself answered (it has no such route).
            assert!(error.starts_with("HTTP 4"), "trusted CA: {error}");
        } else {
            assert!(
                error.to_lowercase().contains("certificate"),
                "untrusted CA: {error}"
            );
        }
        t.shutdown().await;
    }
    target.shutdown().await;
}

const ISSUER: &str = "https://idp.test";

fn jwt_config() -> JwtConfig {
    JwtConfig {
        algorithm: "RS256".into(),
        issuer: ISSUER.into(),
        audience: "concord".into(),
        key: SecretRef {
            env: None,
            file: Some(fixture("jwt/rs256-public.pem")),
        },
        role_claim: "concord_role".into(),
        system_claim: "concord_system".into(),
        leeway_secs: 5,
    }
}

/// A token signed with the identity provider's private key.
fn token(claims: Value) -> String {
    let pem = std::fs::read(fixture("jwt/rs256-private.pem")).unwrap();
    let mut all = json!({"iss": ISSUER, "aud": "concord", "sub": "alice",
        "exp": chrono::Utc::now().timestamp() + 300});
    for (k, v) in claims.as_object().unwrap() {
        all[k] = v.clone();
    }
    encode(
        &Header::new(Algorithm::RS256),
        &all,
        &EncodingKey::from_rsa_pem(&pem).unwrap(),
    )
    .unwrap()
}

async fn call(t: &TestHub, method: Method, path: &str, token: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .request(method, format!("{}{path}", t.url))
        .bearer_auth(token)
        .json(&json!({"eventType": "CONTRACT_APPROVED"}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_tokens_carry_a_role_and_are_checked_like_keys() {
    let t = spawn_hub(Backend::Sqlite, |c| c.auth.jwt = Some(jwt_config()))
        .await
        .unwrap();
    let buyer = token(json!({"concord_role": "buyer"}));
    assert_eq!(call(&t, Method::GET, "/v1/exceptions", &buyer).await.0, 200);
    assert_eq!(call(&t, Method::GET, "/v1/keys", &buyer).await.0, 403);

    let clm =
        token(json!({"sub": "clm-prod", "concord_role": "integration", "concord_system": "clm"}));
    assert_eq!(
        call(&t, Method::POST, "/v1/inbound/erp/contract", &clm)
            .await
            .0,
        403,
        "an integration token posted as another system"
    );
    assert_eq!(call(&t, Method::GET, "/v1/exceptions", &clm).await.0, 403);

    let expired =
        token(json!({"concord_role": "admin", "exp": chrono::Utc::now().timestamp() - 60}));
    let (status, problem) = call(&t, Method::GET, "/v1/keys", &expired).await;
    assert_eq!(status, 401);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("ExpiredSignature"),
        "{problem}"
    );
    let other_issuer = token(json!({"concord_role": "admin", "iss": "https://evil.test"}));
    assert_eq!(
        call(&t, Method::GET, "/v1/keys", &other_issuer).await.0,
        401
    );

    // The algorithm-confusion forgery: HS256 "signed" with the public key as the secret.
    let public = std::fs::read(fixture("jwt/rs256-public.pem")).unwrap();
    let forged = encode(
        &Header::new(Algorithm::HS256),
        &json!({"iss": ISSUER, "aud": "concord", "sub": "mallory", "concord_role": "admin",
                "exp": chrono::Utc::now().timestamp() + 300}),
        &EncodingKey::from_secret(&public),
    )
    .unwrap();
    assert_eq!(call(&t, Method::GET, "/v1/keys", &forged).await.0, 401);

    // A refusal is audited under the token's subject.
    t.eventually("the buyer's denial is in the audit log", || async {
        let (_, audit) = t
            .get("/v1/audit?action=access.denied&actor=jwt:alice(buyer)")
            .await;
        audit["entries"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["subject"] == "GET /v1/keys"))
    })
    .await;
    t.shutdown().await;
}
