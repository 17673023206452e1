//! OAuth 2.0 client credentials (machine to machine) as NetSuite accepts it.
//!
//! The integration proves who it is with a JWT (the client assertion) signed by the private key
//! of a certificate an administrator mapped to the integration, an entity and a role; the
//! token endpoint answers with a bearer token valid for an hour. There is no refresh token:
//! the grant is repeated. NetSuite takes PS256/384/512 and ES256/384/512 assertions, not RS256.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::Secret;

/// The token endpoint, under the account's REST host (or the base URL that replaces it).
pub const TOKEN_PATH: [&str; 6] = ["services", "rest", "auth", "oauth2", "v1", "token"];
/// The scope billsync asks for: REST web services (records and SuiteQL).
pub const SCOPE: &str = "rest_webservices";
/// The form value that says the client authenticates with a signed JWT.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How long an assertion is valid: NetSuite allows up to an hour; a short life leaves little
/// to replay, and a few minutes still absorb a clock that is slightly off.
const ASSERTION_LIFETIME_SECS: i64 = 5 * 60;

/// A signing algorithm NetSuite accepts and billsync's JWT library can sign with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigningAlgorithm {
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
}

impl SigningAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlgorithm::Ps256 => "PS256",
            SigningAlgorithm::Ps384 => "PS384",
            SigningAlgorithm::Ps512 => "PS512",
            SigningAlgorithm::Es256 => "ES256",
            SigningAlgorithm::Es384 => "ES384",
        }
    }

    fn jwt(self) -> Algorithm {
        match self {
            SigningAlgorithm::Ps256 => Algorithm::PS256,
            SigningAlgorithm::Ps384 => Algorithm::PS384,
            SigningAlgorithm::Ps512 => Algorithm::PS512,
            SigningAlgorithm::Es256 => Algorithm::ES256,
            SigningAlgorithm::Es384 => Algorithm::ES384,
        }
    }
}

/// What the machine-to-machine flow needs: the integration's client id, the certificate id
/// NetSuite gave the mapping, and the certificate's private key, parsed and checked once.
#[derive(Clone)]
pub struct M2mCredentials {
    pub client_id: Secret,
    pub certificate_id: String,
    /// The key as given, to write it back into a secret; it signs through `signer`.
    private_key: Secret,
    signer: Arc<Signer>,
    /// The certificate itself (PEM), when it was given: only to warn before it expires.
    pub certificate: Option<String>,
}

struct Signer {
    key: EncodingKey,
    algorithm: SigningAlgorithm,
    /// Tells keys apart without holding them: part of the token cache's key.
    digest: [u8; 32],
}

impl fmt::Debug for M2mCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("M2mCredentials")
            .field("client_id", &self.client_id)
            .field("certificate_id", &self.certificate_id)
            .field("algorithm", &self.signer.algorithm)
            .field("private_key", &"[redacted]")
            .finish()
    }
}

/// The claims of a client assertion.
#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

impl M2mCredentials {
    /// Reads the private key (PKCS#8 `PRIVATE KEY`, or PKCS#1 `RSA PRIVATE KEY`): an RSA key
    /// signs PS256, an EC P-256 key ES256 and a P-384 key ES384. The key is tried once here, so
    /// a wrong file is reported at start-up, not at the first token request. The message never
    /// quotes the key.
    pub fn new(
        client_id: Secret,
        certificate_id: impl Into<String>,
        private_key_pem: &Secret,
    ) -> Result<Self, String> {
        let certificate_id = certificate_id.into().trim().to_owned();
        if certificate_id.is_empty() {
            return Err("the certificate id is empty".into());
        }
        if client_id.expose().trim().is_empty() {
            return Err("the client id is empty".into());
        }
        let pem = normalize_pem(private_key_pem.expose());
        if pem.contains("BEGIN EC PRIVATE KEY") {
            return Err("the EC private key is in SEC1 form (BEGIN EC PRIVATE KEY); convert it to PKCS#8 with `openssl pkcs8 -topk8 -nocrypt -in key.pem -out key-pkcs8.pem`".into());
        }
        if pem.contains("ENCRYPTED PRIVATE KEY") {
            return Err("the private key is encrypted; give it without a passphrase (`openssl pkcs8 -topk8 -nocrypt`) and keep it in the secret store instead".into());
        }
        if !pem.contains("PRIVATE KEY-----") {
            return Err(
                "the private key is not PEM text (expected -----BEGIN PRIVATE KEY-----)".into(),
            );
        }
        let digest: [u8; 32] = Sha256::digest(pem.as_bytes()).into();
        let candidates: Vec<(EncodingKey, SigningAlgorithm)> = [
            EncodingKey::from_rsa_pem(pem.as_bytes())
                .ok()
                .map(|k| (k, SigningAlgorithm::Ps256)),
            EncodingKey::from_ec_pem(pem.as_bytes())
                .ok()
                .map(|k| (k.clone(), SigningAlgorithm::Es256)),
            EncodingKey::from_ec_pem(pem.as_bytes())
                .ok()
                .map(|k| (k, SigningAlgorithm::Es384)),
        ]
        .into_iter()
        .flatten()
        .collect();
        for (key, algorithm) in candidates {
            let signer = Signer {
                key,
                algorithm,
                digest,
            };
            if signer
                .sign("billsync", "check", "https://localhost/", 0)
                .is_ok()
            {
                return Ok(M2mCredentials {
                    client_id,
                    certificate_id,
                    private_key: Secret::new(pem),
                    signer: Arc::new(signer),
                    certificate: None,
                });
            }
        }
        Err("the private key is neither an RSA key (for PS256) nor an EC P-256 or P-384 key (for ES256, ES384) that can sign".into())
    }

    /// The private key's PEM text, for writing it into a tenant's secret.
    pub fn private_key(&self) -> &Secret {
        &self.private_key
    }

    pub fn algorithm(&self) -> SigningAlgorithm {
        self.signer.algorithm
    }

    /// A client assertion for the token endpoint at `audience`, issued at `now`.
    pub fn assertion(&self, audience: &str, now: DateTime<Utc>) -> Result<String, String> {
        self.signer.sign(
            self.client_id.expose(),
            &self.certificate_id,
            audience,
            now.timestamp(),
        )
    }

    /// What tells these credentials apart from others, without any of them in clear: the
    /// client id, certificate id and key, hashed.
    pub(crate) fn cache_key(&self, token_url: &str) -> String {
        let mut h = Sha256::new();
        for part in [
            token_url.as_bytes(),
            self.client_id.expose().as_bytes(),
            self.certificate_id.as_bytes(),
            &self.signer.digest,
        ] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// When the certificate stops being valid, if it was given and can be read.
    pub fn certificate_expiry(&self) -> Option<Result<DateTime<Utc>, String>> {
        self.certificate.as_deref().map(certificate_not_after)
    }
}

impl Signer {
    fn sign(&self, client_id: &str, kid: &str, audience: &str, now: i64) -> Result<String, String> {
        let mut header = Header::new(self.algorithm.jwt());
        header.typ = Some("JWT".into());
        header.kid = Some(kid.to_owned());
        let claims = Claims {
            iss: client_id,
            scope: SCOPE,
            aud: audience,
            iat: now,
            exp: now + ASSERTION_LIFETIME_SECS,
        };
        // The library's errors name the problem (key format, algorithm), never the key.
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| format!("cannot sign the client assertion: {e}"))
    }
}

/// PEM pasted into an environment variable often arrives with `\n` written out.
fn normalize_pem(text: &str) -> String {
    if text.contains('\n') {
        text.trim().to_owned()
    } else {
        text.trim().replace("\\n", "\n")
    }
}

/// The `notAfter` of a PEM certificate.
pub fn certificate_not_after(pem: &str) -> Result<DateTime<Utc>, String> {
    let pem = normalize_pem(pem);
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| format!("the certificate is not PEM: {e}"))?;
    let cert = block
        .parse_x509()
        .map_err(|e| format!("the certificate cannot be read: {e}"))?;
    let at = cert.validity().not_after.timestamp();
    DateTime::from_timestamp(at, 0).ok_or_else(|| "the certificate's expiry is out of range".into())
}

/// A warning when the certificate expires within `days` of `now` (or has expired).
pub fn expiry_warning(not_after: DateTime<Utc>, now: DateTime<Utc>, days: i64) -> Option<String> {
    let left = not_after - now;
    if left <= chrono::Duration::zero() {
        return Some(format!(
            "the OAuth 2.0 certificate expired on {}: NetSuite refuses its tokens; make a new key pair and certificate and map it at Setup > Integration > Manage Authentication > OAuth 2.0 Client Credentials (M2M) Setup",
            not_after.format("%Y-%m-%d")
        ));
    }
    (left <= chrono::Duration::days(days)).then(|| {
        format!(
            "the OAuth 2.0 certificate expires on {} ({} days from now): map a new certificate at Setup > Integration > Manage Authentication > OAuth 2.0 Client Credentials (M2M) Setup and put its id and key in billsync's settings before then",
            not_after.format("%Y-%m-%d"),
            left.num_days()
        )
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    /// A self-signed test certificate (public data only) valid until 2027-12-06 21:40:13 UTC.
    const CERTIFICATE: &str = "-----BEGIN CERTIFICATE-----
MIIBnjCCAUOgAwIBAgIUUxPB78wcxa+HppTkp+pu1rf0xGEwCgYIKoZIzj0EAwIw
JDEiMCAGA1UEAwwZYmlsbHN5bmMgdGVzdCBjZXJ0aWZpY2F0ZTAeFw0yNjEyMDYy
MTQwMTNaFw0yNzEyMDYyMTQwMTNaMCQxIjAgBgNVBAMMGWJpbGxzeW5jIHRlc3Qg
Y2VydGlmaWNhdGUwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAR5d/tS/fCzb/hW
qlX8zusZr8GaIKhrKOah4LLH5ffrnQV3msgL3OU/2UMML5EaW2Ug2wir5njs8rWl
MMPZ1fcvo1MwUTAdBgNVHQ4EFgQUpAwLt4zLLjSpsGPR7b7waUt0wNAwHwYDVR0j
BBgwFoAUpAwLt4zLLjSpsGPR7b7waUt0wNAwDwYDVR0TAQH/BAUwAwEB/zAKBggq
hkjOPQQDAgNJADBGAiEA3Tgv2i7dEAzhDqCG25YxHRbkitWVUHZojiriDUu/FFYC
IQC/hpWIORPPW+Qk5YbDQcSG5OPd4dbBXm/BGRiFhc6xJg==
-----END CERTIFICATE-----";

    #[test]
    fn a_certificates_expiry_is_read_and_announced_a_month_ahead() {
        let not_after = certificate_not_after(CERTIFICATE).unwrap();
        assert_eq!(
            not_after,
            Utc.with_ymd_and_hms(2027, 12, 6, 21, 40, 13).unwrap()
        );
        // As pasted into an environment variable, with the newlines written out.
        let one_line = CERTIFICATE.replace('\n', "\\n");
        assert_eq!(certificate_not_after(&one_line).unwrap(), not_after);

        let far = Utc.with_ymd_and_hms(2027, 10, 1, 0, 0, 0).unwrap();
        assert_eq!(expiry_warning(not_after, far, 30), None);
        let near = Utc.with_ymd_and_hms(2027, 11, 20, 0, 0, 0).unwrap();
        let warning = expiry_warning(not_after, near, 30).expect("a warning");
        assert!(
            warning.contains("2027-12-06") && warning.contains("16 days"),
            "{warning}"
        );
        let after = Utc.with_ymd_and_hms(2028, 1, 1, 0, 0, 0).unwrap();
        assert!(expiry_warning(not_after, after, 30)
            .unwrap()
            .contains("expired"));
        assert!(certificate_not_after("not a certificate").is_err());
    }

    #[test]
    fn keys_that_cannot_sign_are_refused_with_what_to_do() {
        let sec1 =
            Secret::new("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----");
        let e = M2mCredentials::new("client".into(), "cert", &sec1).unwrap_err();
        assert!(e.contains("openssl pkcs8 -topk8"), "{e}");
        let garbage = Secret::new("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----");
        let e = M2mCredentials::new("client".into(), "cert", &garbage).unwrap_err();
        assert!(!e.contains("AAAA"), "the key is never quoted: {e}");
        let e = M2mCredentials::new("client".into(), " ", &garbage).unwrap_err();
        assert!(e.contains("certificate id"), "{e}");
    }
}
