//! Tenant credentials from Secrets Manager, two secrets per tenant: `<prefix><tenant>` holds
//! the JSON [`TenantSecret`] describes (NetSuite and billing API credentials), read by the
//! sweep and worker functions; `<prefix>webhook/<tenant>` holds only what verifies the
//! tenant's webhooks ([`WebhookSecret`]), all the internet-facing webhook function may read.
//! Tenant names cannot contain `/`, so no tenant's main secret lies under `<prefix>webhook/`.
//!
//! Wrap the source in [`CachedSecrets`] with [`SECRET_CACHE_TTL`] where the clients are built:
//! a warm Lambda then reads each tenant's secret once per five minutes, and a rotated secret is
//! picked up within that time.
//!
//! [`CachedSecrets`]: crate::secrets::CachedSecrets

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;

use super::unavailable;
use crate::secrets::{
    parse_secret, parse_webhook_secret, SecretError, SecretSource, TenantSecret, WebhookSecret,
};

/// How long a secret read from Secrets Manager is reused.
pub const SECRET_CACHE_TTL: Duration = Duration::from_secs(300);

/// A [`SecretSource`] reading `<prefix><tenant>` from Secrets Manager.
#[derive(Clone, Debug)]
pub struct SecretsManagerSource {
    client: Client,
    prefix: String,
}

impl SecretsManagerSource {
    /// `prefix` is prepended to the tenant, e.g. `billsync/` gives `billsync/acme`.
    pub fn new(client: Client, prefix: impl Into<String>) -> Self {
        SecretsManagerSource {
            client,
            prefix: prefix.into(),
        }
    }
}

/// Where a tenant's webhook secret lies under the prefix.
pub const WEBHOOK_SECRETS: &str = "webhook/";

/// The name of `tenant`'s webhook secret under `prefix`.
pub fn webhook_secret_name(prefix: &str, tenant: &str) -> String {
    format!("{prefix}{WEBHOOK_SECRETS}{tenant}")
}

impl SecretsManagerSource {
    /// The secret's text; `NotFound` names the tenant.
    async fn read(&self, name: String, tenant: &str) -> Result<String, SecretError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(name)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(se) if se.is_resource_not_found_exception() => {
                    SecretError::NotFound(tenant.to_owned())
                }
                // Error responses carry no secret text, only the request's outcome.
                _ => SecretError::Unavailable(unavailable(e)),
            })?;
        out.secret_string().map(str::to_owned).ok_or_else(|| {
            SecretError::Invalid("the secret holds binary data, not a JSON string".into())
        })
    }
}

#[async_trait]
impl SecretSource for SecretsManagerSource {
    async fn tenant_secret(&self, tenant: &str) -> Result<TenantSecret, SecretError> {
        parse_secret(
            &self
                .read(format!("{}{tenant}", self.prefix), tenant)
                .await?,
        )
    }

    /// Never the tenant's main secret: the webhook function's role may not read it.
    async fn webhook_secret(&self, tenant: &str) -> Result<WebhookSecret, SecretError> {
        if tenant.contains('/') {
            // Would name another path under the prefix.
            return Err(SecretError::NotFound(tenant.to_owned()));
        }
        parse_webhook_secret(
            &self
                .read(webhook_secret_name(&self.prefix, tenant), tenant)
                .await?,
        )
    }

    fn webhook_secret_location(&self, tenant: &str) -> String {
        format!(
            "the Secrets Manager secret {}",
            webhook_secret_name(&self.prefix, tenant)
        )
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use aws_sdk_secretsmanager::primitives::Blob;

    use super::*;
    use crate::aws::moto;
    use crate::secrets::CachedSecrets;

    const JSON: &str = r#"{"netsuite": {"account_id": "1234567_SB1", "consumer_key": "ck-123",
        "consumer_secret": "cs-456", "token_id": "tk-789", "token_secret": "ts-abc"},
        "billing": {"api_key": "mx-key-1", "webhook_key": "mx-hook-2"}}"#;

    struct Fixture {
        _moto: moto::Moto,
        client: Client,
        prefix: String,
    }

    async fn fixture() -> Fixture {
        let moto = moto::server();
        let client = Client::new(&moto.sdk_config().await);
        Fixture {
            _moto: moto,
            client,
            prefix: format!("{}/", moto::unique("billsync-test")),
        }
    }

    impl Fixture {
        async fn create(&self, tenant: &str, text: &str) {
            self.client
                .create_secret()
                .name(format!("{}{tenant}", self.prefix))
                .secret_string(text)
                .send()
                .await
                .expect("create the secret");
        }

        fn source(&self) -> SecretsManagerSource {
            SecretsManagerSource::new(self.client.clone(), &self.prefix)
        }
    }

    #[tokio::test]
    async fn reads_a_tenant_secret() {
        let f = fixture().await;
        f.create("acme", JSON).await;
        let secret = f.source().tenant_secret("acme").await.unwrap();
        assert_eq!(
            secret.netsuite_config().unwrap().account_id.realm(),
            "1234567_SB1"
        );
        assert_eq!(secret.billing.api_key.expose(), "mx-key-1");
    }

    #[tokio::test]
    async fn a_missing_secret_is_not_found() {
        let f = fixture().await;
        f.create("acme", JSON).await;
        match f.source().tenant_secret("globex").await {
            Err(SecretError::NotFound(t)) => assert_eq!(t, "globex"),
            other => panic!("expected NotFound, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_malformed_secret_is_invalid_and_not_quoted() {
        let f = fixture().await;
        let broken =
            r#"{"netsuite": {"account_id": "1", "consumer_key": "leaky-value"}, "billing": 7}"#;
        f.create("acme", broken).await;
        f.create("plain", "leaky-plain-text").await;
        for tenant in ["acme", "plain"] {
            match f.source().tenant_secret(tenant).await {
                Err(e @ SecretError::Invalid(_)) => {
                    let shown = format!("{e} {e:?}");
                    assert!(!shown.contains("leaky"), "{shown}");
                }
                other => panic!("expected Invalid, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_binary_secret_is_invalid() {
        let f = fixture().await;
        f.client
            .create_secret()
            .name(format!("{}acme", f.prefix))
            .secret_binary(Blob::new(JSON.as_bytes()))
            .send()
            .await
            .expect("create the secret");
        assert!(matches!(
            f.source().tenant_secret("acme").await,
            Err(SecretError::Invalid(_))
        ));
    }

    /// Counts the reads that reach the wrapped source.
    struct Counting<S> {
        inner: S,
        calls: Arc<AtomicUsize>,
    }

    #[async_trait]
    impl<S: SecretSource> SecretSource for Counting<S> {
        async fn tenant_secret(&self, tenant: &str) -> Result<TenantSecret, SecretError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.inner.tenant_secret(tenant).await
        }
    }

    #[tokio::test]
    async fn the_cache_reads_secrets_manager_once_per_ttl() {
        let f = fixture().await;
        f.create("acme", JSON).await;
        let calls = Arc::new(AtomicUsize::new(0));
        let cached = CachedSecrets::new(
            Counting {
                inner: f.source(),
                calls: calls.clone(),
            },
            SECRET_CACHE_TTL,
        );
        let first = cached.tenant_secret("acme").await.unwrap();
        let second = cached.tenant_secret("acme").await.unwrap();
        assert_eq!(first.netsuite.account_id, second.netsuite.account_id);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
