//! Bearer-token authentication (docs/api.md, "Authentication"): verify the JWT, turn its claims into a
//! `Caller`. Whether that caller may do something is decided by the core.
//!
//! Authentication runs as a route layer, before any handler or body extractor: a request
//! that cannot succeed is refused before the server reads (or waits for) its body. Two
//! keys are in play. Admin tokens are verified with the token key and serve the admin
//! API; service tokens are verified only with the separate service key and serve the
//! internal endpoints, so whoever can mint admin tokens still cannot sign mail. This
//! module depends on nothing but the error type: the router hands its middleware their
//! own state.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use domain_core::{Caller, Role};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

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

impl JwtKey {
    /// Whether two settings name the same key material.
    fn same_key(&self, other: &JwtKey) -> bool {
        match (self, other) {
            (JwtKey::Hs256(a), JwtKey::Hs256(b))
            | (JwtKey::Rs256PublicPem(a), JwtKey::Rs256PublicPem(b))
            | (JwtKey::EdDsaPublicPem(a), JwtKey::EdDsaPublicPem(b)) => a == b,
            _ => false,
        }
    }
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
    /// Audience: one string or an array of them (RFC 7519 §4.1.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
}

/// The `aud` claim. RFC 7519 §4.1.3: "In the general case, the "aud" value is an array of
/// case-sensitive strings … In the special case when the JWT has one audience, the "aud"
/// value MAY be a single case-sensitive string". Identity providers send either (Keycloak
/// and Auth0 send arrays); when an audience is configured, one of the values must match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// `"aud": "scaisend"`.
    One(String),
    /// `"aud": ["scaisend", "account"]`.
    Many(Vec<String>),
}

impl From<String> for Audience {
    fn from(aud: String) -> Self {
        Audience::One(aud)
    }
}

impl From<&str> for Audience {
    fn from(aud: &str) -> Self {
        Audience::One(aud.to_owned())
    }
}

/// Verifies bearer tokens.
///
/// Tokens that verified are remembered (up to [`VERIFIED_CACHE`] of them, each at most
/// [`CACHED_TOKEN_MAX`] bytes), so that a caller sending the same token with every
/// request — the sending pipeline, once per message — pays for the signature check and
/// the claims' parsing once. A remembered token is the exact text that verified; only its
/// expiry can change what it means, and it is checked again on every use.
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
    verified: Mutex<HashMap<Box<str>, Verified>>,
}

/// A token that verified: whom it speaks for, and until when.
struct Verified {
    caller: Caller,
    exp: u64,
}

/// How many verified tokens a verifier remembers; when full, it forgets them all and
/// starts again (each costs one verification more, and memory stays bounded).
pub const VERIFIED_CACHE: usize = 10_000;

/// The longest token remembered; longer ones are verified every time.
pub const CACHED_TOKEN_MAX: usize = 4096;

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
        Ok(JwtVerifier {
            key,
            validation,
            verified: Mutex::new(HashMap::new()),
        })
    }

    /// The caller a token speaks for, or why it is refused.
    pub fn verify(&self, token: &str) -> Result<Caller, String> {
        let now = jsonwebtoken::get_current_timestamp();
        if let Some(known) = self.remembered(token, now) {
            return Ok(known);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|e| describe(e.kind()))?;
        let claims = data.claims;
        let role = Role::parse(&claims.role).map_err(|e| e.message().to_owned())?;
        let exp = claims.exp;
        let caller = Caller::new(claims.sub, role, claims.tenant_id, claims.partner_id)
            .map_err(|e| e.message().to_owned())?;
        if token.len() <= CACHED_TOKEN_MAX {
            let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            if verified.len() >= VERIFIED_CACHE {
                verified.clear();
            }
            let entry = Verified {
                caller: caller.clone(),
                exp,
            };
            verified.insert(token.into(), entry);
        }
        Ok(caller)
    }

    /// The caller of a token that verified before and has not expired since (with the
    /// same leeway as a full check). `nbf` needs no second look: it had passed when the
    /// token verified, and time only moves on.
    fn remembered(&self, token: &str, now: u64) -> Option<Caller> {
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        let known = verified.get(token)?;
        // Valid while `exp >= now - leeway`, as in the full check.
        if known.exp >= now.saturating_sub(self.validation.leeway) {
            return Some(known.caller.clone());
        }
        // Expired: forgotten, and the full check below says so.
        verified.remove(token);
        None
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

/// The authenticated caller of a request, put into the request's extensions by the
/// authentication layer before any handler runs.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // Only a route without the authentication layer lacks it: refuse rather than
        // serve such a route to anyone.
        parts
            .extensions
            .get::<Authenticated>()
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("send `Authorization: Bearer <token>`"))
    }
}

/// Both token verifiers: the admin API's and the internal endpoints'.
#[derive(Debug)]
pub struct Authenticator {
    admin: JwtVerifier,
    service: JwtVerifier,
}

impl Authenticator {
    /// Verifiers for admin tokens and for service tokens. The two keys must differ:
    /// with one key, whoever mints admin tokens could mint service tokens too.
    pub fn new(admin: &JwtSettings, service: &JwtSettings) -> Result<Self, String> {
        if admin.key.same_key(&service.key) {
            return Err("the service token key must differ from the admin token key".to_owned());
        }
        Ok(Authenticator {
            admin: JwtVerifier::new(admin)?,
            service: JwtVerifier::new(service).map_err(|e| format!("service tokens: {e}"))?,
        })
    }

    /// The caller of an admin-API request: a token verified with the admin key. A valid
    /// service token is recognised and refused with `403`.
    fn admin_caller(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let token = bearer(headers)?;
        self.admin.verify(token).map_err(|why| {
            if self.service.verify(token).is_ok() {
                ApiError::forbidden("service tokens may call the internal endpoints only")
            } else {
                ApiError::unauthorized(why)
            }
        })
    }

    /// The caller of an internal request: a token verified with the service key and
    /// carrying role `service`. A valid admin-key token, whatever its role, is refused
    /// with `403`: it is authentic, but not a credential for these endpoints.
    fn service_caller(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let token = bearer(headers)?;
        match self.service.verify(token) {
            Ok(caller) => {
                caller.check_service()?;
                Ok(caller)
            }
            Err(_) if self.admin.verify(token).is_ok() => Err(ApiError::forbidden(
                "the internal endpoints take only a service token, signed with the service key",
            )),
            Err(why) => Err(ApiError::unauthorized(why)),
        }
    }
}

/// Route layer of the admin API: authenticates before the handler (and its body
/// extractor) runs.
pub(crate) async fn admin_only(
    State(auth): State<Arc<Authenticator>>,
    request: Request,
    next: Next,
) -> Response {
    let caller = auth.admin_caller(request.headers());
    proceed(caller, request, next).await
}

/// Route layer of the internal endpoints: only service tokens get past it, and they get
/// past it before the body is read.
pub(crate) async fn service_only(
    State(auth): State<Arc<Authenticator>>,
    request: Request,
    next: Next,
) -> Response {
    let caller = auth.service_caller(request.headers());
    proceed(caller, request, next).await
}

async fn proceed(caller: Result<Caller, ApiError>, mut request: Request, next: Next) -> Response {
    match caller {
        Ok(caller) => {
            request.extensions_mut().insert(Authenticated(caller));
            next.run(request).await
        }
        Err(e) => e.into_response(),
    }
}

/// The token of `Authorization: Bearer <token>`.
fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("send `Authorization: Bearer <token>`"))?;
    value
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthorized("the Authorization header must be `Bearer <token>`"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
    use base64::Engine as _;
    use domain_core::events::Actor;

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

    fn audience_verifier(secret: &[u8]) -> JwtVerifier {
        JwtVerifier::new(&JwtSettings {
            key: JwtKey::Hs256(secret.to_vec()),
            issuer: None,
            audience: Some("scaisend".into()),
        })
        .unwrap()
    }

    #[test]
    fn aud_may_be_a_string_or_an_array_and_one_value_must_match() {
        let secret = [9u8; 32];
        let verifier = audience_verifier(&secret);
        let with = |aud: Option<Audience>| {
            verifier.verify(&issue_token(&secret, &Claims { aud, ..claims() }).unwrap())
        };
        assert!(with(Some(Audience::One("scaisend".into()))).is_ok());
        // Keycloak and Auth0 send arrays.
        assert!(
            with(Some(Audience::Many(vec![
                "account".into(),
                "scaisend".into()
            ])))
            .is_ok()
        );
        let e = with(Some(Audience::Many(vec!["account".into(), "other".into()]))).unwrap_err();
        assert!(e.contains("audience"), "{e}");
        let e = with(Some(Audience::Many(vec![]))).unwrap_err();
        assert!(e.contains("audience"), "{e}");
        let e = with(None).unwrap_err();
        assert!(e.contains("`aud`"), "{e}");
        // Without a configured audience any `aud`, string or array, is accepted.
        let open = JwtVerifier::new(&settings(JwtKey::Hs256(secret.to_vec()))).unwrap();
        let array = Claims {
            aud: Some(Audience::Many(vec!["x".into(), "y".into()])),
            ..claims()
        };
        assert!(open.verify(&issue_token(&secret, &array).unwrap()).is_ok());
    }

    #[test]
    fn the_aud_claim_reads_and_writes_both_forms() {
        let one: Claims = serde_json::from_value(serde_json::json!({
            "sub": "u", "role": "service", "exp": 1, "aud": "a"
        }))
        .unwrap();
        assert_eq!(one.aud, Some(Audience::One("a".into())));
        let many: Claims = serde_json::from_value(serde_json::json!({
            "sub": "u", "role": "service", "exp": 1, "aud": ["a", "b"]
        }))
        .unwrap();
        assert_eq!(many.aud, Some(Audience::Many(vec!["a".into(), "b".into()])));
        assert_eq!(
            serde_json::to_value(&many).unwrap()["aud"],
            serde_json::json!(["a", "b"])
        );
    }

    const ADMIN_SECRET: [u8; 32] = [1; 32];
    const SERVICE_SECRET: [u8; 32] = [2; 32];

    fn authenticator() -> Authenticator {
        Authenticator::new(
            &settings(JwtKey::Hs256(ADMIN_SECRET.to_vec())),
            &settings(JwtKey::Hs256(SERVICE_SECRET.to_vec())),
        )
        .unwrap()
    }

    fn headers(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        h
    }

    fn service_claims() -> Claims {
        Claims {
            role: "service".into(),
            tenant_id: None,
            partner_id: None,
            ..claims()
        }
    }

    /// A key that is neither the admin key nor the service key.
    const STRANGER: [u8; 32] = [3; 32];

    /// The status a caller lookup answers: 200 for a caller, else the refusal's.
    fn status(result: Result<Caller, ApiError>) -> u16 {
        result.map_or_else(|e| e.status().as_u16(), |_| 200)
    }

    /// Asserts the status `lookup` answers for a token signed with each key and claims.
    fn assert_statuses(
        lookup: impl Fn(&HeaderMap) -> Result<Caller, ApiError>,
        cases: impl IntoIterator<Item = (&'static [u8; 32], Claims, u16, &'static str)>,
    ) {
        for (secret, claims, expected, why) in cases {
            let token = issue_token(secret, &claims).unwrap();
            assert_eq!(status(lookup(&headers(&token))), expected, "{why}");
        }
    }

    #[test]
    fn the_internal_endpoints_take_only_tokens_signed_with_the_service_key() {
        let auth = authenticator();
        assert_statuses(
            |h| auth.service_caller(h),
            [
                (
                    &SERVICE_SECRET,
                    service_claims(),
                    200,
                    "the service key and role",
                ),
                // Authentic, yet no credential here: the admin key, whatever the role.
                (
                    &ADMIN_SECRET,
                    service_claims(),
                    403,
                    "role `service` signed with the admin key",
                ),
                (&ADMIN_SECRET, claims(), 403, "an admin role"),
                (
                    &SERVICE_SECRET,
                    claims(),
                    403,
                    "the service key with another role",
                ),
                (&STRANGER, service_claims(), 401, "neither key"),
            ],
        );
        assert_eq!(status(auth.service_caller(&HeaderMap::new())), 401);
    }

    #[test]
    fn the_admin_api_refuses_service_key_tokens() {
        let auth = authenticator();
        assert_statuses(
            |h| auth.admin_caller(h),
            [
                (&ADMIN_SECRET, claims(), 200, "the admin key"),
                (&SERVICE_SECRET, service_claims(), 403, "a service token"),
                (
                    &SERVICE_SECRET,
                    claims(),
                    403,
                    "a tenant role signed with the service key",
                ),
                (&STRANGER, claims(), 401, "neither key"),
            ],
        );
    }

    #[test]
    fn the_two_keys_must_differ() {
        let same = settings(JwtKey::Hs256(ADMIN_SECRET.to_vec()));
        let e = Authenticator::new(&same, &same).unwrap_err();
        assert!(e.contains("differ"), "{e}");
    }

    fn hs256() -> (JwtVerifier, &'static [u8]) {
        let secret: &'static [u8] = b"a secret of at least thirty-two bytes!!";
        let verifier = JwtVerifier::new(&settings(JwtKey::Hs256(secret.to_vec()))).unwrap();
        (verifier, secret)
    }

    /// A token that verified is answered from memory until it expires (with the same
    /// leeway), then checked in full again; a token of other text is never taken for it.
    #[test]
    fn verified_tokens_are_remembered_until_they_expire() {
        let (verifier, secret) = hs256();
        let c = claims();
        let token = issue_token(secret, &c).unwrap();
        let caller = verifier.verify(&token).unwrap();
        assert_eq!(
            verifier.remembered(&token, c.exp),
            Some(caller),
            "remembered up to its expiry"
        );
        assert!(
            verifier.remembered(&token, c.exp + 30).is_some(),
            "and through the leeway"
        );
        assert!(
            verifier.remembered(&token, c.exp + 31).is_none(),
            "not after"
        );
        assert!(
            verifier.remembered(&token, c.exp).is_none(),
            "an expired token is forgotten, not kept"
        );

        // One changed character of the signature: not the remembered text, and refused.
        let token = issue_token(secret, &c).unwrap();
        verifier.verify(&token).unwrap();
        let mut forged = token.clone().into_bytes();
        let last = forged.len() - 2;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        assert!(verifier.verify(&forged).is_err());
        // The same claims signed with another secret: refused.
        let other = issue_token(b"another secret of thirty-two bytes or more", &c).unwrap();
        assert!(verifier.verify(&other).is_err());
    }

    /// Memory stays bounded however many distinct tokens come, and tokens over the size
    /// limit are verified every time instead of being kept.
    #[test]
    fn the_verified_token_memory_is_bounded() {
        let (verifier, secret) = hs256();
        let mut c = claims();
        for i in 0..=VERIFIED_CACHE {
            c.sub = format!("u{i}");
            verifier.verify(&issue_token(secret, &c).unwrap()).unwrap();
            assert!(verifier.verified.lock().unwrap().len() <= VERIFIED_CACHE);
        }
        c.sub = "u".repeat(CACHED_TOKEN_MAX);
        let long = issue_token(secret, &c).unwrap();
        assert_eq!(verifier.verify(&long).unwrap().actor(), Actor::User(c.sub));
        assert!(verifier.remembered(&long, c.exp).is_none());
    }
}
