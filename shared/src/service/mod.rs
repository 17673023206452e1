//! The use cases the Lambda functions and the local mode call: webhook intake, the sweep, the
//! worker and retry. Each takes its ports through [`Services`]; none knows where it runs.

pub mod intake;
pub mod local;
pub mod retry;
pub mod sweep;
pub mod worker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::billing::maxio::client::{MaxioClient, MaxioConfig};
use crate::billing::model::Source;
use crate::billing::source::BillingSource;
use crate::netsuite::NetSuiteClient;
use crate::queue::Queue;
use crate::secrets::{SecretError, SecretSource, TenantSecret};
use crate::settings::TenantSettings;
use crate::store::Store;

/// The ports every use case runs on.
#[derive(Clone)]
pub struct Services {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn Queue>,
    pub secrets: Arc<dyn SecretSource>,
    /// Clients per tenant, built on first use and kept for the life of the process (a warm
    /// Lambda reuses their connection pools).
    clients: Arc<Mutex<HashMap<String, TenantClients>>>,
}

/// The outbound clients of one tenant.
#[derive(Clone)]
pub struct TenantClients {
    pub netsuite: NetSuiteClient,
    pub billing: Arc<dyn BillingSource>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("unknown tenant {0}")]
    UnknownTenant(String),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Queue(#[from] crate::queue::QueueError),
    #[error("{0}")]
    Client(String),
}

impl Services {
    pub fn new(
        store: Arc<dyn Store>,
        queue: Arc<dyn Queue>,
        secrets: Arc<dyn SecretSource>,
    ) -> Self {
        Services {
            store,
            queue,
            secrets,
            clients: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The tenant's settings, or `UnknownTenant`.
    pub async fn settings(&self, tenant: &str) -> Result<TenantSettings, ServiceError> {
        self.store
            .settings(tenant)
            .await?
            .ok_or_else(|| ServiceError::UnknownTenant(tenant.to_owned()))
    }

    /// The tenant's NetSuite and billing clients, built once from its secret.
    pub async fn clients(&self, settings: &TenantSettings) -> Result<TenantClients, ServiceError> {
        if let Some(c) = self
            .clients
            .lock()
            .ok()
            .and_then(|m| m.get(&settings.tenant).cloned())
        {
            return Ok(c);
        }
        let secret = self.secrets.tenant_secret(&settings.tenant).await?;
        let built = build_clients(settings, &secret)?;
        if let Ok(mut m) = self.clients.lock() {
            m.insert(settings.tenant.clone(), built.clone());
        }
        Ok(built)
    }
}

/// The Maxio client for a tenant's site and key.
pub(crate) fn maxio_client(
    settings: &TenantSettings,
    secret: &TenantSecret,
) -> Result<MaxioClient, ServiceError> {
    let mut config = MaxioConfig::new(settings.site.clone(), secret.billing.api_key.clone());
    if let Some(url) = &secret.billing.base_url {
        config.base_url = Some(
            url.parse()
                .map_err(|e| ServiceError::Client(format!("billing base_url: {e}")))?,
        );
    }
    MaxioClient::new(config).map_err(|e| ServiceError::Client(e.to_string()))
}

fn build_clients(
    settings: &TenantSettings,
    secret: &TenantSecret,
) -> Result<TenantClients, ServiceError> {
    let mut ns = secret.netsuite_config()?;
    ns.concurrency = settings.netsuite_concurrency;
    let netsuite = NetSuiteClient::new(ns).map_err(|e| ServiceError::Client(e.to_string()))?;
    let billing: Arc<dyn BillingSource> = match settings.source {
        Source::Maxio => Arc::new(maxio_client(settings, secret)?),
        Source::Chargebee => {
            let mut config = crate::billing::chargebee::client::ChargebeeConfig::new(
                settings.site.clone(),
                secret.billing.api_key.clone(),
            );
            if let Some(url) = &secret.billing.base_url {
                config.base_url = Some(
                    url.parse()
                        .map_err(|e| ServiceError::Client(format!("billing base_url: {e}")))?,
                );
            }
            Arc::new(
                crate::billing::chargebee::client::ChargebeeClient::new(config)
                    .map_err(|e| ServiceError::Client(e.to_string()))?,
            )
        }
    };
    Ok(TenantClients { netsuite, billing })
}
