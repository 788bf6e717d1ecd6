//! JWT bearer tokens from an identity provider: signature (one configured algorithm, never the
//! token's choice, never `none`), issuer, audience, expiry and not-before are checked; the role
//! and, for a connected system, the system it speaks for come from configured claims.

use concord_model::access::{Principal, Role};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::config::{Config, JwtConfig};

/// A verifier built once from `[auth.jwt]` (the key is read at start-up).
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
    role_claim: String,
    system_claim: String,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// Reads the key and fixes the rules; the error names the config field.
    pub fn new(jwt: &JwtConfig, config: &Config) -> Result<JwtVerifier, String> {
        let secret = jwt
            .key
            .read(config)
            .map_err(|e| format!("auth.jwt.key: {e}"))?;
        let pem = secret.expose().as_bytes();
        let (algorithm, key) = match jwt.algorithm.as_str() {
            "RS256" => (Algorithm::RS256, DecodingKey::from_rsa_pem(pem)),
            "ES256" => (Algorithm::ES256, DecodingKey::from_ec_pem(pem)),
            "HS256" if pem.len() < 32 => {
                return Err("auth.jwt.key: an HS256 secret needs at least 32 bytes".into());
            }
            "HS256" => (Algorithm::HS256, Ok(DecodingKey::from_secret(pem))),
            other => return Err(format!("auth.jwt.algorithm: {other:?} is not supported")),
        };
        let key = key.map_err(|e| {
            format!(
                "auth.jwt.key: not a PEM public key for {}: {e}",
                jwt.algorithm
            )
        })?;
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&jwt.issuer]);
        validation.set_audience(&[&jwt.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = jwt.leeway_secs;
        Ok(JwtVerifier {
            key,
            validation,
            role_claim: jwt.role_claim.clone(),
            system_claim: jwt.system_claim.clone(),
        })
    }

    /// Who the token names, or why it is refused.
    pub fn verify(&self, token: &str) -> Result<Principal, String> {
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &self.key, &self.validation)
            .map_err(|e| format!("{:?}", e.kind()))?;
        let claims = data.claims;
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        let subject = text("sub").filter(|s| !s.is_empty() && s.len() <= 200);
        let subject = subject.ok_or("the sub claim is empty or too long")?;
        let role = text(&self.role_claim)
            .ok_or_else(|| format!("no {} claim", self.role_claim))?
            .parse::<Role>()
            .map_err(|e| format!("claim {}: {e}", self.role_claim))?;
        let system = text(&self.system_claim).map(str::to_string);
        match (role, &system) {
            (Role::Integration, None) => {
                return Err(format!(
                    "an integration token needs a {} claim",
                    self.system_claim
                ));
            }
            (role, Some(_)) if role != Role::Integration => {
                return Err(format!(
                    "only integration tokens name a system, not {role} tokens"
                ));
            }
            _ => {}
        }
        Ok(Principal {
            id: format!("jwt:{subject}"),
            role,
            system,
            user: Some(subject.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    const SECRET: &str = "an-hs256-secret-of-at-least-32-bytes!";

    fn verifier() -> JwtVerifier {
        let dir = std::env::temp_dir().join(format!("concord-jwt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("jwt.secret"), format!("{SECRET}\n")).unwrap();
        let config = Config::parse_unchecked(
            r#"
            [auth.jwt]
            algorithm = "HS256"
            issuer = "https://idp.test"
            audience = "concord"
            key = { file = "jwt.secret" }
            "#,
            &dir,
        )
        .unwrap();
        assert!(config.check().is_empty(), "{:?}", config.check());
        JwtVerifier::new(config.auth.jwt.as_ref().unwrap(), &config).unwrap()
    }

    fn token(claims: Value, secret: &str, alg: Algorithm) -> String {
        encode(
            &Header::new(alg),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn claims(extra: Value) -> Value {
        let mut base = json!({"sub": "alice", "iss": "https://idp.test", "aud": "concord",
            "exp": chrono::Utc::now().timestamp() + 300, "concord_role": "buyer"});
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                base.as_object_mut().unwrap().remove(k);
            } else {
                base[k] = v.clone();
            }
        }
        base
    }

    #[test]
    fn a_good_token_names_its_principal() {
        let p = verifier()
            .verify(&token(claims(json!({})), SECRET, Algorithm::HS256))
            .unwrap();
        assert_eq!((p.id.as_str(), p.role), ("jwt:alice", Role::Buyer));
        let p = verifier()
            .verify(&token(
                claims(json!({"concord_role": "integration", "concord_system": "clm"})),
                SECRET,
                Algorithm::HS256,
            ))
            .unwrap();
        assert_eq!(p.system.as_deref(), Some("clm"));
    }

    #[test]
    fn wrong_issuer_audience_expiry_signature_or_claims_are_refused() {
        let v = verifier();
        let past = chrono::Utc::now().timestamp() - 3600;
        let future = chrono::Utc::now().timestamp() + 3600;
        for (case, bad) in [
            ("issuer", claims(json!({"iss": "https://evil.test"}))),
            ("audience", claims(json!({"aud": "someone-else"}))),
            ("expired", claims(json!({"exp": past}))),
            ("no exp", claims(json!({"exp": null}))),
            ("not yet valid", claims(json!({"nbf": future}))),
            ("no role", claims(json!({"concord_role": null}))),
            ("unknown role", claims(json!({"concord_role": "root"}))),
            (
                "integration without system",
                claims(json!({"concord_role": "integration"})),
            ),
            (
                "buyer with system",
                claims(json!({"concord_system": "clm"})),
            ),
        ] {
            let t = token(bad, SECRET, Algorithm::HS256);
            assert!(v.verify(&t).is_err(), "{case} was accepted");
        }
        let forged = token(
            claims(json!({})),
            "another-secret-of-at-least-32-bytes!!",
            Algorithm::HS256,
        );
        assert!(v.verify(&forged).unwrap_err().contains("InvalidSignature"));
        let other_alg = token(claims(json!({})), SECRET, Algorithm::HS384);
        assert!(v.verify(&other_alg).is_err(), "algorithm not pinned");
        assert!(v.verify("not.a.jwt").is_err());
    }
}
