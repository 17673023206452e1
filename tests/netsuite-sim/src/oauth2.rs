//! OAuth 2.0 client credentials (machine to machine), as NetSuite's token endpoint documents
//! it: a form with `grant_type=client_credentials` and a JWT client assertion signed with the
//! private key of the certificate mapped to the integration; PS256/384/512 or ES256/384/512,
//! `kid` = the mapping's certificate id, `iss` = the client id, `aud` = the token endpoint,
//! `scope` naming the integration's scopes, `exp` at most an hour after `iat`. Refusals are
//! RFC 6749 error bodies (`{"error": "invalid_grant"}`): 401 with `WWW-Authenticate` for an
//! unknown client, 400 for the rest. Which refusal NetSuite gives for each M2M failure is not
//! documented beyond that; the choices here follow RFC 6749's meanings.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::AuditReason;

/// The certificate mapping of one integration, entity and role.
#[derive(Clone, PartialEq, Eq)]
pub struct M2mMapping {
    pub client_id: String,
    pub certificate_id: String,
    /// PEM: the certificate NetSuite was given (`CERTIFICATE`) or its public key (`PUBLIC KEY`).
    pub public_key: String,
    /// The scopes the integration record allows.
    pub scopes: Vec<String>,
    /// How long a granted access token is valid (NetSuite: 60 minutes).
    pub token_ttl: Duration,
    /// Answer `expires_in` as a string ("3600"), as some answers are reported to have it.
    pub expires_in_as_string: bool,
    /// Whether the mapped entity and role may use the tokens: false stands for a disabled
    /// entity or a role without "Log in using OAuth 2.0 Access Tokens", where NetSuite grants
    /// a token and then refuses every request made with it.
    pub role_may_log_in: bool,
}

impl M2mMapping {
    pub fn new(client_id: &str, certificate_id: &str, public_key: &str) -> Self {
        M2mMapping {
            client_id: client_id.into(),
            certificate_id: certificate_id.into(),
            public_key: public_key.into(),
            scopes: vec!["rest_webservices".into()],
            token_ttl: Duration::from_secs(3600),
            expires_in_as_string: false,
            role_may_log_in: true,
        }
    }
}

/// A refused token request: the HTTP status, the OAuth error code, and the audit entry.
pub(crate) struct Refusal {
    pub(crate) status: u16,
    pub(crate) error: &'static str,
    pub(crate) reason: AuditReason,
    pub(crate) detail: String,
}

fn refuse(
    status: u16,
    error: &'static str,
    reason: AuditReason,
    detail: impl Into<String>,
) -> Refusal {
    Refusal {
        status,
        error,
        reason,
        detail: detail.into(),
    }
}

/// Access tokens granted and not yet expired or revoked, by value.
#[derive(Default)]
pub(crate) struct Tokens {
    valid_until: HashMap<String, i64>,
}

impl Tokens {
    pub(crate) fn granted(&self) -> Vec<String> {
        self.valid_until.keys().cloned().collect()
    }

    pub(crate) fn clear(&mut self) {
        self.valid_until.clear();
    }

    /// Whether `token` is a live access token at `now` (Unix seconds, fractional).
    pub(crate) fn check(
        &mut self,
        token: &str,
        mapping: Option<&M2mMapping>,
        now_ms: i64,
    ) -> Result<(), Refusal> {
        if mapping.is_some_and(|m| !m.role_may_log_in) {
            return Err(refuse(
                401,
                "invalid_token",
                AuditReason::EntityOrRoleDisabled,
                "the mapped entity or role may not log in with OAuth 2.0 access tokens",
            ));
        }
        self.valid_until
            .retain(|_, until| *until > now_ms - 3_600_000);
        match self.valid_until.get(token) {
            None => Err(refuse(
                401,
                "invalid_token",
                AuditReason::InvalidToken,
                "the bearer token was not issued by this account or was revoked",
            )),
            Some(until) if *until <= now_ms => Err(refuse(
                401,
                "invalid_token",
                AuditReason::AccessTokenExpired,
                "the access token has expired",
            )),
            Some(_) => Ok(()),
        }
    }
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    #[serde(default)]
    scope: Option<ScopeClaim>,
    iat: Option<i64>,
    exp: i64,
}

/// `scope` as one string ("a b" or "a,b") or a list.
#[derive(Deserialize)]
#[serde(untagged)]
enum ScopeClaim {
    One(String),
    Many(Vec<String>),
}

impl ScopeClaim {
    fn scopes(&self) -> BTreeSet<String> {
        match self {
            ScopeClaim::One(s) => s
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            ScopeClaim::Many(v) => v.iter().cloned().collect(),
        }
    }
}

/// NetSuite's accepted assertion algorithms; RS256 is not among them.
const ALGORITHMS: [Algorithm; 5] = [
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// Checks a token request and, when it holds, grants a token valid until `now_ms + ttl`.
/// Returns the answer's JSON body.
pub(crate) fn grant(
    form: &[u8],
    token_url: &str,
    mapping: Option<&M2mMapping>,
    revoked: bool,
    max_skew: Duration,
    tokens: &mut Tokens,
    now_ms: i64,
) -> Result<serde_json::Value, Refusal> {
    let fields: HashMap<String, String> = url::form_urlencoded::parse(form).into_owned().collect();
    let field = |name: &str| fields.get(name).map(String::as_str);
    if field("grant_type") != Some("client_credentials") {
        return Err(refuse(
            400,
            "unsupported_grant_type",
            AuditReason::MalformedHeader,
            format!(
                "grant_type {:?} is not client_credentials",
                field("grant_type")
            ),
        ));
    }
    if field("client_assertion_type")
        != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    {
        return Err(refuse(
            400,
            "invalid_request",
            AuditReason::MalformedHeader,
            "client_assertion_type is not jwt-bearer",
        ));
    }
    let jwt = field("client_assertion").ok_or_else(|| {
        refuse(
            400,
            "invalid_request",
            AuditReason::MalformedHeader,
            "no client_assertion",
        )
    })?;
    let Some(mapping) = mapping else {
        return Err(refuse(
            400,
            "unauthorized_client",
            AuditReason::UnknownClient,
            "no integration on this account has the client credentials grant",
        ));
    };
    let header = jsonwebtoken::decode_header(jwt).map_err(|e| {
        refuse(
            400,
            "invalid_request",
            AuditReason::MalformedHeader,
            format!("the assertion is not a JWT: {e}"),
        )
    })?;
    if header
        .typ
        .as_deref()
        .is_some_and(|t| !t.eq_ignore_ascii_case("JWT"))
    {
        return Err(refuse(
            400,
            "invalid_request",
            AuditReason::MalformedHeader,
            "typ is not JWT",
        ));
    }
    if !ALGORITHMS.contains(&header.alg) {
        return Err(refuse(
            400,
            "invalid_grant",
            AuditReason::UnsupportedSignatureMethod,
            format!(
                "{:?} is not an accepted algorithm (PS256/384/512, ES256/384/512)",
                header.alg
            ),
        ));
    }
    // The client is known by the issuer before anything is verified.
    let unverified: Claims = jsonwebtoken::dangerous::insecure_decode(jwt)
        .map_err(|e| {
            refuse(
                400,
                "invalid_request",
                AuditReason::MalformedHeader,
                format!("the assertion's claims cannot be read: {e}"),
            )
        })?
        .claims;
    if unverified.iss != mapping.client_id {
        return Err(refuse(
            401,
            "invalid_client",
            AuditReason::UnknownClient,
            "iss is not the client id of an integration record",
        ));
    }
    if header.kid.as_deref() != Some(mapping.certificate_id.as_str()) {
        return Err(refuse(
            400,
            "invalid_grant",
            AuditReason::UnknownCertificate,
            "kid names no certificate mapped for this integration",
        ));
    }
    if revoked {
        return Err(refuse(
            400,
            "invalid_grant",
            AuditReason::RevokedCertificate,
            "the certificate mapping was revoked",
        ));
    }
    let key = decoding_key(&mapping.public_key, header.alg)
        .map_err(|e| refuse(400, "invalid_grant", AuditReason::InvalidSignature, e))?;
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[token_url]);
    validation.set_issuer(&[mapping.client_id.as_str()]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
    validation.leeway = max_skew.as_secs();
    let claims: Claims = jsonwebtoken::decode(jwt, &key, &validation)
        .map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            let reason = match e.kind() {
                K::ExpiredSignature => AuditReason::TimestampSkew,
                K::InvalidAudience => AuditReason::WrongRealm,
                K::InvalidSignature => AuditReason::InvalidSignature,
                _ => AuditReason::InvalidSignature,
            };
            refuse(
                400,
                "invalid_grant",
                reason,
                format!("the assertion does not verify: {e}"),
            )
        })?
        .claims;
    let now = now_ms / 1000;
    let skew = max_skew.as_secs() as i64;
    let iat = claims.iat.unwrap_or(i64::MAX);
    if iat > now + skew {
        return Err(refuse(
            400,
            "invalid_grant",
            AuditReason::TimestampSkew,
            "iat is in the future",
        ));
    }
    if claims.exp - iat > 3600 {
        return Err(refuse(
            400,
            "invalid_grant",
            AuditReason::TimestampSkew,
            "exp is more than 60 minutes after iat",
        ));
    }
    let asked = claims
        .scope
        .as_ref()
        .map(ScopeClaim::scopes)
        .unwrap_or_default();
    let allowed: BTreeSet<String> = mapping.scopes.iter().cloned().collect();
    if asked.is_empty() || !asked.is_subset(&allowed) {
        return Err(refuse(
            400,
            "invalid_scope",
            AuditReason::ScopeMismatched,
            format!("scope {asked:?} is not within the integration's {allowed:?}"),
        ));
    }
    let token = {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
    };
    let ttl_ms = mapping.token_ttl.as_millis() as i64;
    tokens.valid_until.insert(token.clone(), now_ms + ttl_ms);
    let seconds = mapping.token_ttl.as_secs();
    let expires_in = if mapping.expires_in_as_string {
        serde_json::Value::String(seconds.to_string())
    } else {
        serde_json::Value::from(seconds)
    };
    Ok(serde_json::json!({"access_token": token, "token_type": "bearer", "expires_in": expires_in}))
}

/// A verification key from the mapped certificate or public key, for `alg`'s family.
fn decoding_key(pem_text: &str, alg: Algorithm) -> Result<DecodingKey, String> {
    use x509_parser::prelude::*;
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem_text.trim().as_bytes())
        .map_err(|e| format!("the mapped key is not PEM: {e}"))?;
    let spki_der;
    let spki = match pem.label.as_str() {
        "CERTIFICATE" => {
            let cert = pem
                .parse_x509()
                .map_err(|e| format!("bad certificate: {e}"))?;
            spki_der = cert.public_key().raw.to_vec();
            SubjectPublicKeyInfo::from_der(&spki_der)
                .map_err(|e| e.to_string())?
                .1
        }
        "PUBLIC KEY" => {
            SubjectPublicKeyInfo::from_der(&pem.contents)
                .map_err(|e| e.to_string())?
                .1
        }
        other => {
            return Err(format!(
                "a mapping holds a certificate or public key, not {other}"
            ))
        }
    };
    let point = spki.subject_public_key.data.to_vec();
    let rsa = spki.algorithm.algorithm == x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION;
    match alg {
        Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512 if rsa => {
            Ok(DecodingKey::from_rsa_der(&point))
        }
        Algorithm::ES256 | Algorithm::ES384 if !rsa => Ok(DecodingKey::from_ec_der(&point)),
        _ => Err(format!("{alg:?} does not fit the mapped key")),
    }
}
