//! Bearer-token authentication (contract §1): verify the JWT, turn its claims into a
//! `Caller`. Whether that caller may do something is decided by the core.

use std::collections::HashSet;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use domain_core::{Caller, Role};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::state::AppState;

/// How tokens are signed.
#[derive(Clone)]
pub enum JwtKey {
    /// HS256 with a shared secret.
    Hs256(Vec<u8>),
    /// RS256, verified with an RSA public key (PEM).
    Rs256PublicPem(Vec<u8>),
    /// EdDSA (Ed25519), verified with a public key (PEM).
    EdDsaPublicPem(Vec<u8>),
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.write_str(match self {
            JwtKey::Hs256(_) => "JwtKey::Hs256(<secret>)",
            JwtKey::Rs256PublicPem(_) => "JwtKey::Rs256PublicPem",
            JwtKey::EdDsaPublicPem(_) => "JwtKey::EdDsaPublicPem",
        })
    }
}

/// What a token must satisfy.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    /// The key and algorithm.
    pub key: JwtKey,
    /// When set, the `iss` claim must equal it.
    pub issuer: Option<String>,
    /// When set, the `aud` claim must contain it.
    pub audience: Option<String>,
}

/// The claims we read and write.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The acting user.
    pub sub: String,
    /// `tenant_admin`, `tenant_viewer`, `partner_operator` or `service`.
    pub role: String,
    /// The tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The partner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<String>,
    /// Expiry, seconds since the epoch (required).
    pub exp: u64,
    /// Issued at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// Verifies bearer tokens.
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// A verifier for one key and algorithm; any other algorithm, `alg: none` included,
    /// is refused.
    pub fn new(settings: &JwtSettings) -> Result<Self, String> {
        let (key, alg) = match &settings.key {
            JwtKey::Hs256(secret) => {
                if secret.len() < 32 {
                    return Err("the HS256 secret must be at least 32 bytes".to_owned());
                }
                (DecodingKey::from_secret(secret), Algorithm::HS256)
            }
            JwtKey::Rs256PublicPem(pem) => (
                DecodingKey::from_rsa_pem(pem).map_err(|e| format!("RS256 public key: {e}"))?,
                Algorithm::RS256,
            ),
            JwtKey::EdDsaPublicPem(pem) => (
                DecodingKey::from_ed_pem(pem).map_err(|e| format!("EdDSA public key: {e}"))?,
                Algorithm::EdDSA,
            ),
        };
        let mut validation = Validation::new(alg);
        validation.required_spec_claims = HashSet::from(["exp".to_owned()]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = 30;
        match &settings.issuer {
            Some(iss) => {
                validation.set_issuer(&[iss]);
                validation.required_spec_claims.insert("iss".to_owned());
            }
            None => validation.iss = None,
        }
        match &settings.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                validation.required_spec_claims.insert("aud".to_owned());
            }
            None => validation.validate_aud = false,
        }
        Ok(JwtVerifier { key, validation })
    }

    /// The caller a token speaks for, or why it is refused.
    pub fn verify(&self, token: &str) -> Result<Caller, String> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|e| describe(e.kind()))?;
        let claims = data.claims;
        let role = Role::parse(&claims.role).map_err(|e| e.message().to_owned())?;
        Caller::new(claims.sub, role, claims.tenant_id, claims.partner_id)
            .map_err(|e| e.message().to_owned())
    }
}

/// Signs a token with an HS256 secret (the `token` command, tests).
pub fn issue_token(secret: &[u8], claims: &Claims) -> Result<String, String> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .map_err(|e| e.to_string())
}

fn describe(kind: &jsonwebtoken::errors::ErrorKind) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    match kind {
        K::ExpiredSignature => "the token has expired".to_owned(),
        K::ImmatureSignature => "the token is not valid yet (nbf)".to_owned(),
        K::InvalidSignature => "the token's signature does not verify".to_owned(),
        K::InvalidAlgorithm => {
            "the token is signed with an algorithm this server does not accept".to_owned()
        }
        K::InvalidIssuer => "the token's issuer is not accepted".to_owned(),
        K::InvalidAudience => "the token's audience is not accepted".to_owned(),
        K::MissingRequiredClaim(c) => format!("the token lacks the `{c}` claim"),
        _ => "the token is malformed".to_owned(),
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Caller);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("send `Authorization: Bearer <token>`"))?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, token) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header must be `Bearer <token>`")
            })?;
        state
            .jwt
            .verify(token)
            .map(Authenticated)
            .map_err(ApiError::unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
    use base64::Engine as _;

    fn pem(label: &str, der: &[u8]) -> Vec<u8> {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<String> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        )
        .into_bytes()
    }

    fn claims() -> Claims {
        let now = time::OffsetDateTime::now_utc().unix_timestamp() as u64;
        Claims {
            sub: "u1".into(),
            role: "tenant_admin".into(),
            tenant_id: Some("t1".into()),
            partner_id: Some("p1".into()),
            exp: now + 600,
            iat: Some(now),
            iss: None,
            aud: None,
        }
    }

    fn settings(key: JwtKey) -> JwtSettings {
        JwtSettings {
            key,
            issuer: None,
            audience: None,
        }
    }

    #[test]
    fn eddsa_tokens_verify_with_the_configured_public_key() {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        // The SubjectPublicKeyInfo of an Ed25519 key: a fixed header, then the key.
        let mut spki = vec![
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        spki.extend_from_slice(pair.public_key().as_ref());
        let verifier =
            JwtVerifier::new(&settings(JwtKey::EdDsaPublicPem(pem("PUBLIC KEY", &spki)))).unwrap();
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::EdDSA),
            &claims(),
            &EncodingKey::from_ed_der(pkcs8.as_ref()),
        )
        .unwrap();
        let caller = verifier.verify(&token).unwrap();
        assert_eq!(caller.role(), Role::TenantAdmin);
        // Algorithm confusion: an HS256 token is refused by a public-key verifier.
        let hs = issue_token(&[1u8; 32], &claims()).unwrap();
        assert!(verifier.verify(&hs).unwrap_err().contains("algorithm"));
        // Another key's signature is refused.
        let other = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let forged = jsonwebtoken::encode(
            &Header::new(Algorithm::EdDSA),
            &claims(),
            &EncodingKey::from_ed_der(other.as_ref()),
        )
        .unwrap();
        assert!(verifier.verify(&forged).unwrap_err().contains("signature"));
    }

    #[test]
    fn rs256_tokens_verify_with_the_configured_public_key() {
        // An RSA key pair as an identity provider would hand it over, from openssl.
        let dir = std::env::temp_dir().join(format!("scaisend-rs256-{}", ulid::Ulid::generate()));
        std::fs::create_dir_all(&dir).unwrap();
        let private = dir.join("private.pem");
        let public = dir.join("public.pem");
        let run = |args: &[&str]| {
            let status = std::process::Command::new("openssl")
                .args(args)
                .status()
                .unwrap();
            assert!(status.success(), "openssl {args:?}");
        };
        run(&[
            "genpkey",
            "-quiet",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            private.to_str().unwrap(),
        ]);
        run(&[
            "pkey",
            "-in",
            private.to_str().unwrap(),
            "-pubout",
            "-out",
            public.to_str().unwrap(),
        ]);
        let verifier = JwtVerifier::new(&settings(JwtKey::Rs256PublicPem(
            std::fs::read(&public).unwrap(),
        )))
        .unwrap();
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::RS256),
            &claims(),
            &EncodingKey::from_rsa_pem(&std::fs::read(&private).unwrap()).unwrap(),
        )
        .unwrap();
        assert_eq!(verifier.verify(&token).unwrap().role(), Role::TenantAdmin);
        let hs = issue_token(&[1u8; 32], &claims()).unwrap();
        assert!(verifier.verify(&hs).is_err());
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn issuer_and_audience_are_required_when_configured() {
        let secret = [7u8; 32];
        let verifier = JwtVerifier::new(&JwtSettings {
            key: JwtKey::Hs256(secret.to_vec()),
            issuer: Some("https://idp.example".into()),
            audience: Some("scaisend".into()),
        })
        .unwrap();
        assert!(
            verifier
                .verify(&issue_token(&secret, &claims()).unwrap())
                .is_err()
        );
        let good = Claims {
            iss: Some("https://idp.example".into()),
            aud: Some("scaisend".into()),
            ..claims()
        };
        assert!(
            verifier
                .verify(&issue_token(&secret, &good).unwrap())
                .is_ok()
        );
        let wrong = Claims {
            aud: Some("other".into()),
            ..good
        };
        assert!(
            verifier
                .verify(&issue_token(&secret, &wrong).unwrap())
                .unwrap_err()
                .contains("audience")
        );
    }

    #[test]
    fn short_hs256_secrets_and_bad_pems_are_refused() {
        assert!(JwtVerifier::new(&settings(JwtKey::Hs256(vec![1; 16]))).is_err());
        assert!(
            JwtVerifier::new(&settings(JwtKey::Rs256PublicPem(b"not a pem".to_vec()))).is_err()
        );
        assert_eq!(
            format!("{:?}", JwtKey::Hs256(vec![1; 32])),
            "JwtKey::Hs256(<secret>)"
        );
    }
}
