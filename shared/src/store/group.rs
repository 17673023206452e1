//! The store as one group of queue messages sees it: the flows and customer links the group
//! needs are read together ([`Store::read_many`]), and each flow then starts from that read
//! instead of a read of its own.
//!
//! Freshness is what a flow's own read would give, a few milliseconds earlier:
//! - a flow is answered from the group's read once; a second read of it, or any read after it
//!   is saved, goes to the store. Every save is conditional on the version read, so a flow
//!   another worker moved on meanwhile is a conflict, exactly as with a read of its own;
//! - a customer link is answered from the group's read or from the group's own last write of
//!   it, so the group's flows of one customer see each other's changes. Customers without a
//!   link are read from the store, so a customer another worker has just linked is found.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;

use super::{CustomerLink, ManyRead, Store, StoreResult};
use crate::flow::state::{FlowState, FlowStatus, Versioned};
use crate::settings::{ItemRef, TenantSettings};

type Key = (String, String);

/// A [`Store`] that answers from a group's read where it can and passes everything else on.
pub struct GroupStore<'a> {
    inner: &'a dyn Store,
    flows: Mutex<HashMap<Key, Option<Versioned<FlowState>>>>,
    customers: Mutex<HashMap<Key, CustomerLink>>,
}

impl<'a> GroupStore<'a> {
    pub fn new(inner: &'a dyn Store) -> Self {
        GroupStore {
            inner,
            flows: Mutex::default(),
            customers: Mutex::default(),
        }
    }

    /// Reads the flows of `invoice_uids` and the links of `customer_ids` of one tenant
    /// together. A failed read only means each flow reads for itself.
    pub async fn read(&self, tenant: &str, invoice_uids: &[String], customer_ids: &[String]) {
        match self
            .inner
            .read_many(tenant, invoice_uids, customer_ids)
            .await
        {
            Ok(read) => self.add(tenant, read),
            Err(e) => {
                tracing::warn!(tenant, error = %e, "could not read a group's flows together; each reads its own")
            }
        }
    }

    fn add(&self, tenant: &str, read: ManyRead) {
        let key = |id: String| (tenant.to_owned(), id);
        lock(&self.flows).extend(read.flows.into_iter().map(|(id, f)| (key(id), f)));
        lock(&self.customers).extend(read.customers.into_iter().map(|(id, c)| (key(id), c)));
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn key(tenant: &str, id: &str) -> Key {
    (tenant.to_owned(), id.to_owned())
}

#[async_trait]
impl Store for GroupStore<'_> {
    async fn settings(&self, tenant: &str) -> StoreResult<Option<TenantSettings>> {
        self.inner.settings(tenant).await
    }
    async fn put_settings(&self, settings: &TenantSettings) -> StoreResult<()> {
        self.inner.put_settings(settings).await
    }
    async fn tenants(&self) -> StoreResult<Vec<String>> {
        self.inner.tenants().await
    }

    async fn customer(&self, tenant: &str, billing_id: &str) -> StoreResult<Option<CustomerLink>> {
        let known = lock(&self.customers).get(&key(tenant, billing_id)).cloned();
        match known {
            Some(link) => Ok(Some(link)),
            None => self.inner.customer(tenant, billing_id).await,
        }
    }
    async fn put_customer(
        &self,
        tenant: &str,
        billing_id: &str,
        link: &CustomerLink,
    ) -> StoreResult<()> {
        self.inner.put_customer(tenant, billing_id, link).await?;
        lock(&self.customers).insert(key(tenant, billing_id), link.clone());
        Ok(())
    }

    async fn item_link(&self, tenant: &str, entry_id: &str) -> StoreResult<Option<ItemRef>> {
        self.inner.item_link(tenant, entry_id).await
    }
    async fn put_item_link(&self, tenant: &str, entry_id: &str, item: &ItemRef) -> StoreResult<()> {
        self.inner.put_item_link(tenant, entry_id, item).await
    }

    async fn flow(
        &self,
        tenant: &str,
        invoice_uid: &str,
    ) -> StoreResult<Option<Versioned<FlowState>>> {
        let read = lock(&self.flows).remove(&key(tenant, invoice_uid));
        match read {
            Some(flow) => Ok(flow),
            None => self.inner.flow(tenant, invoice_uid).await,
        }
    }
    async fn save_flow(
        &self,
        tenant: &str,
        state: &FlowState,
        expected: Option<u64>,
    ) -> StoreResult<u64> {
        // A flow saved without having been read first must not later be answered from the
        // group's read: that version is gone.
        lock(&self.flows).remove(&key(tenant, &state.invoice_uid));
        self.inner.save_flow(tenant, state, expected).await
    }
    async fn read_many(
        &self,
        tenant: &str,
        invoice_uids: &[String],
        customer_ids: &[String],
    ) -> StoreResult<ManyRead> {
        self.inner
            .read_many(tenant, invoice_uids, customer_ids)
            .await
    }
    async fn flows_with_status(
        &self,
        tenant: &str,
        status: FlowStatus,
        limit: usize,
    ) -> StoreResult<Vec<Versioned<FlowState>>> {
        self.inner.flows_with_status(tenant, status, limit).await
    }
    async fn flow_counts(&self, tenant: &str) -> StoreResult<Vec<(FlowStatus, u64)>> {
        self.inner.flow_counts(tenant).await
    }

    async fn cursor(&self, tenant: &str, name: &str) -> StoreResult<Option<String>> {
        self.inner.cursor(tenant, name).await
    }
    async fn put_cursor(&self, tenant: &str, name: &str, value: &str) -> StoreResult<()> {
        self.inner.put_cursor(tenant, name, value).await
    }
    async fn forget_delivery(&self, tenant: &str, delivery_id: &str) -> StoreResult<()> {
        self.inner.forget_delivery(tenant, delivery_id).await
    }
    async fn first_delivery(
        &self,
        tenant: &str,
        delivery_id: &str,
        ttl: Duration,
    ) -> StoreResult<bool> {
        self.inner.first_delivery(tenant, delivery_id, ttl).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::model::Source;
    use crate::store::sqlite::SqliteStore;
    use chrono::Utc;

    fn link(id: &str) -> CustomerLink {
        CustomerLink {
            netsuite_id: id.into(),
            currencies: vec!["USD".into()],
            fingerprint: None,
        }
    }

    #[tokio::test]
    async fn a_flow_is_answered_from_the_group_read_once_then_from_the_store() {
        let store = SqliteStore::in_memory().unwrap();
        let v1 = store
            .save_flow(
                "t",
                &FlowState::new(Source::Maxio, "inv_1", Utc::now()),
                None,
            )
            .await
            .unwrap();
        let group = GroupStore::new(&store);
        let uids = ["inv_1".to_owned(), "inv_2".to_owned()];
        group.read("t", &uids, &[]).await;
        // Moved on by another worker after the group read it.
        let mut moved = FlowState::new(Source::Maxio, "inv_1", Utc::now());
        moved.status = FlowStatus::Synced;
        let v2 = store.save_flow("t", &moved, Some(v1)).await.unwrap();

        let first = group.flow("t", "inv_1").await.unwrap().unwrap();
        assert_eq!(first.version, v1, "the group's read answers first");
        // Saving from the stale read is a conflict, as with a read of its own.
        assert!(group.save_flow("t", &first.value, Some(v1)).await.is_err());
        let again = group.flow("t", "inv_1").await.unwrap().unwrap();
        assert_eq!(
            (again.version, again.value.status),
            (v2, FlowStatus::Synced)
        );
        // Known to have no flow yet; a new one saves unconditionally on absence.
        assert!(group.flow("t", "inv_2").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_customer_link_is_the_group_read_or_the_groups_own_last_write() {
        let store = SqliteStore::in_memory().unwrap();
        store.put_customer("t", "c1", &link("7")).await.unwrap();
        let group = GroupStore::new(&store);
        group
            .read("t", &[], &["c1".to_owned(), "c2".to_owned()])
            .await;
        // c2 had no link when read; another worker links it meanwhile: the group finds it.
        store.put_customer("t", "c2", &link("8")).await.unwrap();
        assert_eq!(group.customer("t", "c2").await.unwrap(), Some(link("8")));

        let mut more = link("7");
        more.currencies.push("EUR".into());
        group.put_customer("t", "c1", &more).await.unwrap();
        assert_eq!(group.customer("t", "c1").await.unwrap(), Some(more.clone()));
        assert_eq!(store.customer("t", "c1").await.unwrap(), Some(more));
        // Other tenants are not answered from this tenant's read.
        assert!(group.customer("u", "c1").await.unwrap().is_none());
    }
}
