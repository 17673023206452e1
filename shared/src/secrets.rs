//! Tenant credentials: one secret per tenant (on AWS a Secrets Manager secret named
//! `<prefix><tenant>`), read once and cached for a while, never logged.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Deserialize;

use crate::netsuite::{AccountId, Credentials, NetSuiteConfig};
use crate::Secret;

/// The JSON a tenant's secret holds.
#[derive(Clone, Debug, Deserialize)]
pub struct TenantSecret {
    pub netsuite: NetSuiteSecret,
    pub billing: BillingSecret,
}

#[derive(Clone, Debug, Deserialize)]
pub struct NetSuiteSecret {
    pub account_id: String,
    pub consumer_key: Secret,
    pub consumer_secret: Secret,
    pub token_id: Secret,
    pub token_secret: Secret,
    /// Only for sandboxes given a special URL, or the simulator.
    #[serde(default)]
    pub base_url: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct BillingSecret {
    /// Maxio API key / Chargebee API key.
    pub api_key: Secret,
    /// Maxio's webhook shared key.
    #[serde(default)]
    pub webhook_key: Option<Secret>,
    /// Chargebee webhook Basic-auth credentials.
    #[serde(default)]
    pub webhook_username: Option<Secret>,
    #[serde(default)]
    pub webhook_password: Option<Secret>,
    /// Replaces the billing host (tests, the simulator).
    #[serde(default)]
    pub base_url: Option<String>,
}

impl TenantSecret {
    /// The NetSuite client settings these credentials give.
    pub fn netsuite_config(&self) -> Result<NetSuiteConfig, SecretError> {
        let n = &self.netsuite;
        let account =
            AccountId::parse(&n.account_id).map_err(|e| SecretError::Invalid(e.to_string()))?;
        let mut config = NetSuiteConfig::new(
            account,
            Credentials {
                consumer_key: n.consumer_key.clone(),
                consumer_secret: n.consumer_secret.clone(),
                token_id: n.token_id.clone(),
                token_secret: n.token_secret.clone(),
            },
        );
        if let Some(url) = &n.base_url {
            config.base_url = Some(
                crate::netsuite::config::parse_base_url(url)
                    .map_err(|e| SecretError::Invalid(e.to_string()))?,
            );
        }
        Ok(config)
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
}

/// Parses a secret's JSON text without ever echoing it in an error.
pub fn parse_secret(text: &str) -> Result<TenantSecret, SecretError> {
    serde_json::from_str(text).map_err(|e| {
        // serde's messages can quote input; keep only the position and the kind of problem.
        SecretError::Invalid(format!(
            "expected {{\"netsuite\": {{...}}, \"billing\": {{...}}}} (line {}, column {}, {:?})",
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
}

impl<S> CachedSecrets<S> {
    pub fn new(inner: S, ttl: Duration) -> Self {
        CachedSecrets {
            inner,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }
}

#[async_trait]
impl<S: SecretSource> SecretSource for CachedSecrets<S> {
    async fn tenant_secret(&self, tenant: &str) -> Result<TenantSecret, SecretError> {
        if let Ok(cache) = self.cache.lock() {
            if let Some((at, s)) = cache.get(tenant) {
                if at.elapsed() < self.ttl {
                    return Ok(s.clone());
                }
            }
        }
        let fresh = self.inner.tenant_secret(tenant).await?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(tenant.to_owned(), (Instant::now(), fresh.clone()));
        }
        Ok(fresh)
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
    }
}
