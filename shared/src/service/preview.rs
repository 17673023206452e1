//! Preview: what a sync of one invoice would send to NetSuite, without sending it. The flow
//! runs as the worker runs it, on a NetSuite client that sends reads and keeps writes
//! ([`NetSuiteClient::dry_run`]) and on a store that reads the real one and keeps its writes
//! in memory: so the preview finds what exists (customer links, earlier runs, records by
//! external id) exactly as a sync would, and changes nothing anywhere.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use serde::Serialize;

use super::{ServiceError, Services};
use crate::flow::run::Engine;
use crate::flow::state::{FlowState, FlowStatus, Versioned};
use crate::netsuite::client::{Lookup, PlannedRequest};
use crate::netsuite::NetSuiteClient;
use crate::settings::ItemRef;
use crate::store::{CustomerLink, FlowStore, LinkStore, StoreError, StoreResult, SyncStore};

/// What a sync of the invoice would do.
#[derive(Debug, Clone, Serialize)]
pub struct PreviewReport {
    pub tenant: String,
    pub invoice: String,
    /// Where the flow would end: synced, skipped (with the reason), in error (with the entry).
    pub status: FlowStatus,
    pub reason: Option<String>,
    pub error: Option<crate::flow::state::ErrorEntry>,
    /// The writes, in order, with their bodies.
    pub requests: Vec<PlannedRequest>,
    /// The records looked up by external id, and whether NetSuite holds each.
    pub lookups: Vec<Lookup>,
}

/// Runs the invoice's flow with nothing sent or stored.
pub async fn preview(
    services: &Services,
    tenant: &str,
    invoice_uid: &str,
) -> Result<PreviewReport, ServiceError> {
    let settings = services.settings(tenant).await?;
    let secret = services.secrets.tenant_secret(tenant).await?;
    let netsuite = NetSuiteClient::dry_run(super::netsuite_config(&settings, &secret)?)?;
    let billing = services.billing(&settings).await?;
    let store = Overlay::new(services.store.as_ref());
    let engine = Engine {
        netsuite: &netsuite,
        store: &store,
        billing: billing.as_ref(),
    };
    let outcome = engine
        .sync_invoice(&settings, invoice_uid)
        .await
        .map_err(|e| match e {
            crate::flow::run::EngineError::Store(s) => ServiceError::Store(s),
        })?;
    let reason = store
        .flow(tenant, invoice_uid)
        .await?
        .and_then(|f| f.value.reason);
    Ok(PreviewReport {
        tenant: tenant.to_owned(),
        invoice: invoice_uid.to_owned(),
        status: outcome.status,
        reason,
        error: outcome.error.or(outcome.blocked.map(|b| *b)),
        requests: netsuite.planned(),
        lookups: netsuite.lookups(),
    })
}

/// The real store for reads, memory for writes.
struct Overlay<'a, S: SyncStore + ?Sized> {
    base: &'a S,
    flows: Mutex<HashMap<(String, String), Versioned<FlowState>>>,
    customers: Mutex<HashMap<(String, String), CustomerLink>>,
    items: Mutex<HashMap<(String, String), ItemRef>>,
}

impl<'a, S: SyncStore + ?Sized> Overlay<'a, S> {
    fn new(base: &'a S) -> Self {
        Overlay {
            base,
            flows: Mutex::default(),
            customers: Mutex::default(),
            items: Mutex::default(),
        }
    }
}

fn key(tenant: &str, id: &str) -> (String, String) {
    (tenant.to_owned(), id.to_owned())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[async_trait]
impl<S: SyncStore + ?Sized> LinkStore for Overlay<'_, S> {
    async fn customer(&self, tenant: &str, billing_id: &str) -> StoreResult<Option<CustomerLink>> {
        if let Some(c) = lock(&self.customers).get(&key(tenant, billing_id)) {
            return Ok(Some(c.clone()));
        }
        self.base.customer(tenant, billing_id).await
    }

    async fn put_customer(
        &self,
        tenant: &str,
        billing_id: &str,
        link: &CustomerLink,
    ) -> StoreResult<()> {
        lock(&self.customers).insert(key(tenant, billing_id), link.clone());
        Ok(())
    }

    async fn item_link(&self, tenant: &str, entry_id: &str) -> StoreResult<Option<ItemRef>> {
        if let Some(i) = lock(&self.items).get(&key(tenant, entry_id)) {
            return Ok(Some(i.clone()));
        }
        self.base.item_link(tenant, entry_id).await
    }

    async fn put_item_link(&self, tenant: &str, entry_id: &str, item: &ItemRef) -> StoreResult<()> {
        lock(&self.items).insert(key(tenant, entry_id), item.clone());
        Ok(())
    }
}

#[async_trait]
impl<S: SyncStore + ?Sized> FlowStore for Overlay<'_, S> {
    async fn flow(
        &self,
        tenant: &str,
        invoice_uid: &str,
    ) -> StoreResult<Option<Versioned<FlowState>>> {
        if let Some(f) = lock(&self.flows).get(&key(tenant, invoice_uid)) {
            return Ok(Some(f.clone()));
        }
        self.base.flow(tenant, invoice_uid).await
    }

    async fn save_flow(
        &self,
        tenant: &str,
        state: &FlowState,
        expected: Option<u64>,
    ) -> StoreResult<u64> {
        let current = self
            .flow(tenant, &state.invoice_uid)
            .await?
            .map(|f| f.version);
        if current != expected {
            return Err(StoreError::Conflict {
                what: format!("flow {}", state.invoice_uid),
                expected,
            });
        }
        let version = current.unwrap_or(0) + 1;
        lock(&self.flows).insert(
            key(tenant, &state.invoice_uid),
            Versioned {
                value: state.clone(),
                version,
            },
        );
        Ok(version)
    }

    async fn flows_with_status(
        &self,
        tenant: &str,
        status: FlowStatus,
        limit: usize,
    ) -> StoreResult<Vec<Versioned<FlowState>>> {
        self.base.flows_with_status(tenant, status, limit).await
    }

    async fn flow_counts(&self, tenant: &str) -> StoreResult<Vec<(FlowStatus, u64)>> {
        self.base.flow_counts(tenant).await
    }
}
