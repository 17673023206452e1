//! Tenant credentials: one secret per tenant (on AWS a Secrets Manager secret named
//! `<prefix><tenant>`), read once and cached for a while, never logged.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Deserialize;

use crate::netsuite::{AccountId, Auth, Credentials, M2mCredentials, NetSuiteConfig};
use crate::Secret;

/// The JSON a tenant's secret holds.
#[derive(Clone, Debug, Deserialize)]
pub struct TenantSecret {
    pub netsuite: NetSuiteSecret,
    pub billing: BillingSecret,
}

/// The `netsuite` part: the account and one method's credentials. `auth` names the method:
/// `tba` (the default, so secrets written before OAuth 2.0 keep working) or `m2m`.
#[derive(Clone, Debug, Deserialize)]
pub struct NetSuiteSecret {
    pub account_id: String,
    #[serde(default)]
    pub auth: Option<String>,
    #[serde(default)]
    pub consumer_key: Option<Secret>,
    #[serde(default)]
    pub consumer_secret: Option<Secret>,
    #[serde(default)]
    pub token_id: Option<Secret>,
    #[serde(default)]
    pub token_secret: Option<Secret>,
    /// OAuth 2.0 M2M: the integration's client id, the mapping's certificate id, the
    /// certificate's private key (PEM) and, optionally, the certificate (PEM) for expiry warnings.
    #[serde(default)]
    pub client_id: Option<Secret>,
    #[serde(default)]
    pub certificate_id: Option<String>,
    #[serde(default)]
    pub private_key: Option<Secret>,
    #[serde(default)]
    pub certificate: Option<String>,
    /// Only for sandboxes given a special URL, or the simulator.
    #[serde(default)]
    pub base_url: Option<String>,
}

impl NetSuiteSecret {
    /// The credentials of the method `auth` names, complete; an error names what is missing
    /// or given for the other method, never a value.
    fn auth(&self) -> Result<Auth, SecretError> {
        let tba = [
            ("consumer_key", &self.consumer_key),
            ("consumer_secret", &self.consumer_secret),
            ("token_id", &self.token_id),
            ("token_secret", &self.token_secret),
        ];
        let m2m_given: Vec<&str> = [
            ("client_id", self.client_id.is_some()),
            ("certificate_id", self.certificate_id.is_some()),
            ("private_key", self.private_key.is_some()),
            ("certificate", self.certificate.is_some()),
        ]
        .into_iter()
        .filter_map(|(n, given)| given.then_some(n))
        .collect();
        let tba_given: Vec<&str> = tba
            .iter()
            .filter_map(|(n, v)| v.is_some().then_some(*n))
            .collect();
        let invalid = |m: String| SecretError::Invalid(m);
        match self.auth.as_deref().unwrap_or("tba") {
            "tba" => {
                if !m2m_given.is_empty() {
                    return Err(invalid(format!(
                        "netsuite.auth is tba but OAuth 2.0 fields are set ({}): set \"auth\": \"m2m\" or remove them",
                        m2m_given.join(", ")
                    )));
                }
                let missing: Vec<&str> = tba
                    .iter()
                    .filter_map(|(n, v)| v.is_none().then_some(*n))
                    .collect();
                if !missing.is_empty() {
                    return Err(invalid(format!(
                        "netsuite (token-based authentication) lacks {}",
                        missing.join(", ")
                    )));
                }
                let v = |s: &Option<Secret>| s.clone().unwrap_or_else(|| Secret::new(""));
                Ok(Auth::Tba(Credentials {
                    consumer_key: v(&self.consumer_key),
                    consumer_secret: v(&self.consumer_secret),
                    token_id: v(&self.token_id),
                    token_secret: v(&self.token_secret),
                }))
            }
            "m2m" => {
                if !tba_given.is_empty() {
                    return Err(invalid(format!(
                        "netsuite.auth is m2m but token-based authentication fields are set ({}): remove them",
                        tba_given.join(", ")
                    )));
                }
                let (Some(client_id), Some(certificate_id), Some(key)) =
                    (&self.client_id, &self.certificate_id, &self.private_key)
                else {
                    let missing: Vec<&str> = [
                        ("client_id", self.client_id.is_none()),
                        ("certificate_id", self.certificate_id.is_none()),
                        ("private_key", self.private_key.is_none()),
                    ]
                    .into_iter()
                    .filter_map(|(n, absent)| absent.then_some(n))
                    .collect();
                    return Err(invalid(format!(
                        "netsuite (OAuth 2.0 M2M) lacks {}",
                        missing.join(", ")
                    )));
                };
                let mut m2m = M2mCredentials::new(client_id.clone(), certificate_id, key)
                    .map_err(|e| invalid(format!("netsuite.private_key: {e}")))?;
                m2m.certificate = self.certificate.clone();
                Ok(Auth::M2m(m2m))
            }
            other => Err(invalid(format!(
                "netsuite.auth is `{other}`; it must be tba or m2m"
            ))),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct BillingSecret {
    /// Maxio API key / Chargebee API key.
    pub api_key: Secret,
    /// What verifies the tenant's webhooks (the local mode keeps it here; on AWS it is its
    /// own secret, see [`SecretSource::webhook_secret`]).
    #[serde(flatten)]
    pub webhook: WebhookSecret,
    /// Replaces the billing host (tests, the simulator).
    #[serde(default)]
    pub base_url: Option<String>,
}

/// What verifies a tenant's webhook deliveries, and nothing else: all the internet-facing
/// webhook function may read. On AWS its own secret `<prefix>webhook/<tenant>`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct WebhookSecret {
    /// Maxio's webhook shared key.
    #[serde(default)]
    pub webhook_key: Option<Secret>,
    /// Chargebee webhook Basic-auth credentials.
    #[serde(default)]
    pub webhook_username: Option<Secret>,
    #[serde(default)]
    pub webhook_password: Option<Secret>,
}

impl TenantSecret {
    /// The NetSuite client settings these credentials give.
    pub fn netsuite_config(&self) -> Result<NetSuiteConfig, SecretError> {
        let n = &self.netsuite;
        let account =
            AccountId::parse(&n.account_id).map_err(|e| SecretError::Invalid(e.to_string()))?;
        let mut config = NetSuiteConfig::new(account, n.auth()?);
        if let Some(url) = &n.base_url {
            config.base_url = Some(
                crate::netsuite::config::parse_base_url(url)
                    .map_err(|e| SecretError::Invalid(e.to_string()))?,
            );
        }
        Ok(config)
    }
}

/// The `netsuite` part of a tenant secret for `config`: what [`TenantSecret::netsuite_config`]
/// reads back. Holds credentials in clear: only for writing the secret itself.
pub fn netsuite_secret_value(config: &NetSuiteConfig) -> serde_json::Value {
    let base_url = config.base_url.as_ref().map(|u| u.to_string());
    match &config.auth {
        Auth::Tba(k) => serde_json::json!({
            "account_id": config.account_id.to_string(), "auth": "tba",
            "consumer_key": k.consumer_key.expose(), "consumer_secret": k.consumer_secret.expose(),
            "token_id": k.token_id.expose(), "token_secret": k.token_secret.expose(),
            "base_url": base_url,
        }),
        Auth::M2m(m) => serde_json::json!({
            "account_id": config.account_id.to_string(), "auth": "m2m",
            "client_id": m.client_id.expose(), "certificate_id": m.certificate_id,
            "private_key": m.private_key().expose(), "certificate": m.certificate,
            "base_url": base_url,
        }),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("no secret for tenant {0}")]
    NotFound(String),
    /// The secret exists but is not the expected JSON (the message never quotes its content).
    #[error("the tenant secret is malformed: {0}")]
    Invalid(String),
    #[error("secrets unavailable: {0}")]
    Unavailable(crate::error::Unavailable),
}

#[async_trait]
pub trait SecretSource: Send + Sync {
    async fn tenant_secret(&self, tenant: &str) -> Result<TenantSecret, SecretError>;

    /// Only what verifies the tenant's webhooks. Where the credentials are one document (the
    /// local mode), its webhook part; on AWS a secret of its own, so the webhook function
    /// never holds NetSuite or billing API credentials.
    async fn webhook_secret(&self, tenant: &str) -> Result<WebhookSecret, SecretError> {
        Ok(self.tenant_secret(tenant).await?.billing.webhook)
    }

    /// Where [`SecretSource::webhook_secret`] reads `tenant`'s, for a person to fix it.
    fn webhook_secret_location(&self, tenant: &str) -> String {
        format!("the `billing` part of tenant {tenant}'s secret")
    }
}

impl WebhookSecret {
    /// The fields `source` verifies its deliveries with that this secret lacks.
    pub fn missing_for(&self, source: crate::billing::model::Source) -> Vec<&'static str> {
        use crate::billing::model::Source;
        let fields: &[(&str, bool)] = match source {
            Source::Maxio => &[("webhook_key", self.webhook_key.is_some())],
            Source::Chargebee => &[
                ("webhook_username", self.webhook_username.is_some()),
                ("webhook_password", self.webhook_password.is_some()),
            ],
        };
        fields
            .iter()
            .filter_map(|(name, given)| (!given).then_some(*name))
            .collect()
    }
}

/// Parses a secret's JSON text without ever echoing it in an error.
pub fn parse_secret(text: &str) -> Result<TenantSecret, SecretError> {
    parse_quietly(text, r#"{"netsuite": {...}, "billing": {...}}"#)
}

/// Parses a webhook secret's JSON text without ever echoing it in an error.
pub fn parse_webhook_secret(text: &str) -> Result<WebhookSecret, SecretError> {
    parse_quietly(
        text,
        r#"{"webhook_key": ...} or {"webhook_username": ..., "webhook_password": ...}"#,
    )
}

/// serde's messages can quote input: an error keeps only the expected shape, the position and
/// the kind of problem.
fn parse_quietly<T: serde::de::DeserializeOwned>(
    text: &str,
    expected: &str,
) -> Result<T, SecretError> {
    serde_json::from_str(text).map_err(|e| {
        SecretError::Invalid(format!(
            "expected {expected} (line {}, column {}, {:?})",
            e.line(),
            e.column(),
            e.classify()
        ))
    })
}

/// Caches another source's answers for `ttl`, so a warm Lambda reads each secret once per TTL.
pub struct CachedSecrets<S> {
    inner: S,
    ttl: Duration,
    cache: Mutex<HashMap<String, (Instant, TenantSecret)>>,
    webhooks: Mutex<HashMap<String, (Instant, WebhookSecret)>>,
}

impl<S> CachedSecrets<S> {
    pub fn new(inner: S, ttl: Duration) -> Self {
        CachedSecrets {
            inner,
            ttl,
            cache: Mutex::new(HashMap::new()),
            webhooks: Mutex::new(HashMap::new()),
        }
    }
}

/// The value kept in `cache` for `tenant` if younger than `ttl`, else `fresh`'s (kept).
async fn cached<T: Clone>(
    cache: &Mutex<HashMap<String, (Instant, T)>>,
    ttl: Duration,
    tenant: &str,
    fresh: impl std::future::Future<Output = Result<T, SecretError>>,
) -> Result<T, SecretError> {
    if let Ok(cache) = cache.lock() {
        if let Some((at, s)) = cache.get(tenant) {
            if at.elapsed() < ttl {
                return Ok(s.clone());
            }
        }
    }
    let fresh = fresh.await?;
    if let Ok(mut cache) = cache.lock() {
        cache.insert(tenant.to_owned(), (Instant::now(), fresh.clone()));
    }
    Ok(fresh)
}

#[async_trait]
impl<S: SecretSource> SecretSource for CachedSecrets<S> {
    async fn tenant_secret(&self, tenant: &str) -> Result<TenantSecret, SecretError> {
        cached(
            &self.cache,
            self.ttl,
            tenant,
            self.inner.tenant_secret(tenant),
        )
        .await
    }

    async fn webhook_secret(&self, tenant: &str) -> Result<WebhookSecret, SecretError> {
        cached(
            &self.webhooks,
            self.ttl,
            tenant,
            self.inner.webhook_secret(tenant),
        )
        .await
    }

    fn webhook_secret_location(&self, tenant: &str) -> String {
        self.inner.webhook_secret_location(tenant)
    }
}

/// Secrets held in memory (the local mode reads them from a file or the environment).
#[derive(Default)]
pub struct StaticSecrets {
    secrets: HashMap<String, TenantSecret>,
}

impl StaticSecrets {
    pub fn with(mut self, tenant: &str, secret: TenantSecret) -> Self {
        self.secrets.insert(tenant.to_owned(), secret);
        self
    }
}

#[async_trait]
impl SecretSource for StaticSecrets {
    async fn tenant_secret(&self, tenant: &str) -> Result<TenantSecret, SecretError> {
        self.secrets
            .get(tenant)
            .cloned()
            .ok_or_else(|| SecretError::NotFound(tenant.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    const JSON: &str = r#"{"netsuite": {"account_id": "1234567_SB1", "consumer_key": "ck-123", "consumer_secret": "cs-456",
        "token_id": "tk-789", "token_secret": "ts-abc"}, "billing": {"api_key": "mx-key-1", "webhook_key": "mx-hook-2"}}"#;

    struct Counting(AtomicUsize);

    #[async_trait]
    impl SecretSource for Counting {
        async fn tenant_secret(&self, _: &str) -> Result<TenantSecret, SecretError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            parse_secret(JSON)
        }
    }

    #[test]
    fn the_netsuite_method_is_explicit_and_a_mix_is_named() {
        let secret = |netsuite: &str| {
            parse_secret(&format!(
                r#"{{"netsuite": {netsuite}, "billing": {{"api_key": "k"}}}}"#
            ))
            .unwrap()
            .netsuite_config()
            .unwrap_err()
            .to_string()
        };
        let e = secret(r#"{"account_id": "1", "auth": "m2m", "client_id": "cid-secret-1"}"#);
        assert!(e.contains("lacks certificate_id, private_key"), "{e}");
        assert!(!e.contains("cid-secret-1"), "values are never quoted: {e}");
        let e = secret(
            r#"{"account_id": "1", "consumer_key": "a", "consumer_secret": "b", "token_id": "c",
                "token_secret": "d", "client_id": "cid-secret-1"}"#,
        );
        assert!(
            e.contains("auth is tba but OAuth 2.0 fields are set (client_id)"),
            "{e}"
        );
        let e = secret(
            r#"{"account_id": "1", "auth": "m2m", "token_secret": "d", "client_id": "c",
                "certificate_id": "k", "private_key": "not a key"}"#,
        );
        assert!(
            e.contains("token-based authentication fields are set (token_secret)"),
            "{e}"
        );
        let e = secret(
            r#"{"account_id": "1", "auth": "m2m", "client_id": "c", "certificate_id": "k",
                "private_key": "not a key at all"}"#,
        );
        assert!(
            e.contains("netsuite.private_key") && !e.contains("not a key at all"),
            "{e}"
        );
        let e = secret(r#"{"account_id": "1", "auth": "oauth"}"#);
        assert!(e.contains("must be tba or m2m"), "{e}");
    }

    #[tokio::test]
    async fn cached_for_the_ttl() {
        let cached = CachedSecrets::new(Counting(AtomicUsize::new(0)), Duration::from_secs(300));
        for _ in 0..5 {
            cached.tenant_secret("acme").await.unwrap();
        }
        assert_eq!(cached.inner.0.load(Ordering::SeqCst), 1);
        let expiring = CachedSecrets::new(Counting(AtomicUsize::new(0)), Duration::ZERO);
        expiring.tenant_secret("acme").await.unwrap();
        expiring.tenant_secret("acme").await.unwrap();
        assert_eq!(expiring.inner.0.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn secrets_never_print_and_errors_never_quote() {
        let s = parse_secret(JSON).unwrap();
        let shown = format!("{s:?}");
        for v in [
            "cs-456",
            "ts-abc",
            "mx-key-1",
            "mx-hook-2",
            "ck-123",
            "tk-789",
        ] {
            assert!(!shown.contains(v), "{v} in {shown}");
        }
        assert_eq!(
            s.netsuite_config().unwrap().account_id.realm(),
            "1234567_SB1"
        );
        let broken =
            r#"{"netsuite": {"account_id": "1", "consumer_key": "leaky-value"}, "billing": 7}"#;
        let e = parse_secret(broken).unwrap_err().to_string();
        assert!(!e.contains("leaky-value"), "{e}");

        let hook = parse_webhook_secret(r#"{"webhook_key": "mx-hook-2"}"#).unwrap();
        assert!(!format!("{hook:?}").contains("mx-hook-2"));
        assert!(hook
            .missing_for(crate::billing::model::Source::Maxio)
            .is_empty());
        assert_eq!(
            hook.missing_for(crate::billing::model::Source::Chargebee),
            ["webhook_username", "webhook_password"]
        );
        let e = parse_webhook_secret(r#"{"webhook_key": 7, "x": "leaky-value"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            !e.contains("leaky-value") && e.contains("webhook_key"),
            "{e}"
        );
        // The local mode's one document: its billing part verifies webhooks.
        assert_eq!(s.billing.webhook.webhook_key.unwrap().expose(), "mx-hook-2");
    }
}
