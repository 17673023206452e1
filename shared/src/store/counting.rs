//! A store that counts what is asked of it, for tests and the benchmark: calls by method, and
//! the request units DynamoDB would bill for them (one per record read or written: every
//! record billsync keeps is under 1 KB to write and 4 KB to read; a batch read is billed per
//! key asked for, found or not; a transactional write two per item).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;

use super::{
    CursorStore, CustomerLink, DeliveryStore, FlowSave, FlowStore, LinkStore, ManyRead, Store,
    StoreResult, TenantStore,
};
use crate::flow::state::{FlowState, FlowStatus, Versioned};
use crate::settings::{ItemRef, TenantSettings};

pub struct CountingStore<S> {
    inner: S,
    reads: AtomicU64,
    writes: AtomicU64,
    calls: Mutex<BTreeMap<String, u64>>,
    saves_per_call: Option<usize>,
}

impl<S> CountingStore<S> {
    pub fn new(inner: S) -> Self {
        CountingStore {
            inner,
            reads: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            calls: Mutex::default(),
            saves_per_call: None,
        }
    }

    /// One that says it saves up to `n` flows per call, as a store with round trips does, so
    /// that tests over a local store see flows saved together.
    pub fn saving_together(inner: S, n: usize) -> Self {
        CountingStore {
            saves_per_call: Some(n),
            ..Self::new(inner)
        }
    }

    /// Read request units so far.
    pub fn reads(&self) -> u64 {
        self.reads.load(Relaxed)
    }

    /// Write request units so far.
    pub fn writes(&self) -> u64 {
        self.writes.load(Relaxed)
    }

    /// Calls so far by `store:<method>`.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Calls of one method so far.
    pub fn count(&self, method: &str) -> u64 {
        self.calls()
            .get(&format!("store:{method}"))
            .copied()
            .unwrap_or(0)
    }

    /// Forgets the counts.
    pub fn reset(&self) {
        self.reads.store(0, Relaxed);
        self.writes.store(0, Relaxed);
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    fn call(&self, method: &str) {
        *self
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(format!("store:{method}"))
            .or_default() += 1;
    }

    fn read(&self, method: &str) {
        self.reads.fetch_add(1, Relaxed);
        self.call(method);
    }

    fn write(&self, method: &str) {
        self.writes.fetch_add(1, Relaxed);
        self.call(method);
    }
}

#[async_trait]
impl<S: Store> TenantStore for CountingStore<S> {
    async fn settings(&self, tenant: &str) -> StoreResult<Option<TenantSettings>> {
        self.read("settings");
        self.inner.settings(tenant).await
    }

    async fn put_settings(&self, settings: &TenantSettings) -> StoreResult<()> {
        self.write("put_settings");
        self.inner.put_settings(settings).await
    }

    async fn tenants(&self) -> StoreResult<Vec<String>> {
        self.read("tenants");
        self.inner.tenants().await
    }
}

#[async_trait]
impl<S: Store> LinkStore for CountingStore<S> {
    async fn customer(&self, tenant: &str, id: &str) -> StoreResult<Option<CustomerLink>> {
        self.read("customer");
        self.inner.customer(tenant, id).await
    }

    async fn put_customer(&self, tenant: &str, id: &str, link: &CustomerLink) -> StoreResult<()> {
        self.write("put_customer");
        self.inner.put_customer(tenant, id, link).await
    }

    async fn item_link(&self, tenant: &str, id: &str) -> StoreResult<Option<ItemRef>> {
        self.read("item_link");
        self.inner.item_link(tenant, id).await
    }

    async fn put_item_link(&self, tenant: &str, id: &str, item: &ItemRef) -> StoreResult<()> {
        self.write("put_item_link");
        self.inner.put_item_link(tenant, id, item).await
    }
}

#[async_trait]
impl<S: Store> FlowStore for CountingStore<S> {
    async fn flow(&self, tenant: &str, uid: &str) -> StoreResult<Option<Versioned<FlowState>>> {
        self.read("flow");
        self.inner.flow(tenant, uid).await
    }

    async fn save_flow(
        &self,
        tenant: &str,
        state: &FlowState,
        expected: Option<u64>,
    ) -> StoreResult<u64> {
        self.write("save_flow");
        self.inner.save_flow(tenant, state, expected).await
    }

    async fn save_flows(&self, saves: &[FlowSave<'_>]) -> Vec<StoreResult<u64>> {
        // Saves made together in one call are a transaction, billed two units each.
        let per_save = if saves.len() > 1 && self.flow_saves_per_call() > 1 {
            2
        } else {
            1
        };
        self.writes
            .fetch_add(per_save * saves.len() as u64, Relaxed);
        self.call("save_flows");
        self.inner.save_flows(saves).await
    }

    fn flow_saves_per_call(&self) -> usize {
        self.saves_per_call
            .unwrap_or_else(|| self.inner.flow_saves_per_call())
    }

    async fn read_many(
        &self,
        tenant: &str,
        uids: &[String],
        customers: &[String],
    ) -> StoreResult<ManyRead> {
        let mut keys: Vec<(bool, &String)> = uids.iter().map(|u| (true, u)).collect();
        keys.extend(customers.iter().map(|c| (false, c)));
        keys.sort_unstable();
        keys.dedup();
        self.reads.fetch_add(keys.len() as u64, Relaxed);
        self.call("read_many");
        self.inner.read_many(tenant, uids, customers).await
    }

    async fn flows_with_status(
        &self,
        tenant: &str,
        status: FlowStatus,
        limit: usize,
    ) -> StoreResult<Vec<Versioned<FlowState>>> {
        self.read("flows_with_status");
        self.inner.flows_with_status(tenant, status, limit).await
    }

    async fn flow_counts(&self, tenant: &str) -> StoreResult<Vec<(FlowStatus, u64)>> {
        self.read("flow_counts");
        self.inner.flow_counts(tenant).await
    }
}

#[async_trait]
impl<S: Store> CursorStore for CountingStore<S> {
    async fn cursor(&self, tenant: &str, name: &str) -> StoreResult<Option<String>> {
        self.read("cursor");
        self.inner.cursor(tenant, name).await
    }

    async fn put_cursor(&self, tenant: &str, name: &str, value: &str) -> StoreResult<()> {
        self.write("put_cursor");
        self.inner.put_cursor(tenant, name, value).await
    }
}

#[async_trait]
impl<S: Store> DeliveryStore for CountingStore<S> {
    async fn forget_delivery(&self, tenant: &str, id: &str) -> StoreResult<()> {
        self.write("forget_delivery");
        self.inner.forget_delivery(tenant, id).await
    }

    async fn first_delivery(&self, tenant: &str, id: &str, ttl: Duration) -> StoreResult<bool> {
        self.write("first_delivery");
        self.inner.first_delivery(tenant, id, ttl).await
    }

    async fn note_webhook(&self, tenant: &str, at: &str) -> StoreResult<()> {
        self.write("note_webhook");
        self.inner.note_webhook(tenant, at).await
    }

    async fn last_webhook(&self, tenant: &str) -> StoreResult<Option<String>> {
        self.read("last_webhook");
        self.inner.last_webhook(tenant).await
    }
}
