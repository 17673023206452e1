//! The store port: settings, customer mappings, per-invoice flow state, sweep cursors and
//! webhook delivery de-duplication. One embedded implementation ([`sqlite`]) for local runs and
//! tests, one on DynamoDB for AWS; both pass `conformance`.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::flow::state::{FlowState, FlowStatus, Versioned};
use crate::settings::{ItemRef, TenantSettings};

#[cfg(any(test, feature = "test-support"))]
pub mod conformance;
#[cfg(any(test, feature = "test-support"))]
pub mod counting;
pub mod group;
pub mod sqlite;

/// Every part of the store port in scope, for code that calls a store's methods on a concrete
/// store (`use billsync::store::prelude::*`).
pub mod prelude {
    pub use super::{CursorStore as _, DeliveryStore as _, FlowStore as _, LinkStore as _};
    pub use super::{Store, SyncStore, TenantStore as _};
}

/// The NetSuite customer a billing customer is linked to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerLink {
    pub netsuite_id: String,
    /// Currencies already on the NetSuite customer.
    #[serde(default)]
    pub currencies: Vec<String>,
    /// A digest of the customer fields last written to NetSuite: a change in billing shows
    /// as a different digest and updates the record.
    #[serde(default)]
    pub fingerprint: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another writer moved the record on since it was read.
    #[error("{what} was changed by another worker (expected version {expected:?})")]
    Conflict { what: String, expected: Option<u64> },
    #[error("stored {what} cannot be read: {message}")]
    Corrupt { what: String, message: String },
    #[error("store unavailable: {0}")]
    Unavailable(crate::error::Unavailable),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// What one [`FlowStore::read_many`] found, as fresh as [`FlowStore::flow`] and [`LinkStore::customer`]
/// would have answered at the time.
#[derive(Clone, Debug, Default)]
pub struct ManyRead {
    /// Per invoice the store answered for: its flow, or `None` when it has none yet. An
    /// invoice left out was not read (its flow must be read alone).
    pub flows: HashMap<String, Option<Versioned<FlowState>>>,
    /// The customers that have a link. A customer left out may have none or was not read.
    pub customers: HashMap<String, CustomerLink>,
}

/// One flow save of [`FlowStore::save_flows`]: what [`FlowStore::save_flow`] takes.
#[derive(Clone, Copy, Debug)]
pub struct FlowSave<'s> {
    pub tenant: &'s str,
    pub state: &'s FlowState,
    pub expected: Option<u64>,
}

/// Persistence for everything billsync remembers, by capability: each part is its own port,
/// so a decorator implements only the part it changes and each part has its own conformance
/// checks. Every store implements all of them; [`Store`] names the whole.
pub trait Store: TenantStore + SyncStore + CursorStore + DeliveryStore {}

impl<T: TenantStore + SyncStore + CursorStore + DeliveryStore> Store for T {}

/// What a flow run reads and writes: its own state and the customer and item links.
pub trait SyncStore: LinkStore + FlowStore {}

impl<T: LinkStore + FlowStore> SyncStore for T {}

/// Tenants and their settings.
#[async_trait]
pub trait TenantStore: Send + Sync {
    async fn settings(&self, tenant: &str) -> StoreResult<Option<TenantSettings>>;
    async fn put_settings(&self, settings: &TenantSettings) -> StoreResult<()>;
    /// Every configured tenant.
    async fn tenants(&self) -> StoreResult<Vec<String>>;
}

/// The NetSuite records billsync linked billing customers and catalog entries to.
#[async_trait]
pub trait LinkStore: Send + Sync {
    async fn customer(&self, tenant: &str, billing_id: &str) -> StoreResult<Option<CustomerLink>>;
    async fn put_customer(
        &self,
        tenant: &str,
        billing_id: &str,
        link: &CustomerLink,
    ) -> StoreResult<()>;

    /// The NetSuite item billsync created for a billing catalog entry.
    async fn item_link(&self, tenant: &str, entry_id: &str) -> StoreResult<Option<ItemRef>>;
    async fn put_item_link(&self, tenant: &str, entry_id: &str, item: &ItemRef) -> StoreResult<()>;
}

/// Per-invoice flow state. Implementations must make [`FlowStore::save_flow`] atomic and
/// conditional, so two workers never both advance one invoice.
#[async_trait]
pub trait FlowStore: Send + Sync {
    async fn flow(
        &self,
        tenant: &str,
        invoice_uid: &str,
    ) -> StoreResult<Option<Versioned<FlowState>>>;
    /// Writes the flow state if the stored version is still `expected` (`None`: only if no state
    /// exists yet). Returns the new version; [`StoreError::Conflict`] otherwise.
    async fn save_flow(
        &self,
        tenant: &str,
        state: &FlowState,
        expected: Option<u64>,
    ) -> StoreResult<u64>;
    /// Several flow saves, each as [`FlowStore::save_flow`] would make it and answered in order,
    /// in as few round trips as the store allows. A save whose condition fails is a
    /// [`StoreError::Conflict`] for that flow alone; the others are still written. The default
    /// saves one after another.
    async fn save_flows(&self, saves: &[FlowSave<'_>]) -> Vec<StoreResult<u64>> {
        let mut answers = Vec::with_capacity(saves.len());
        for save in saves {
            answers.push(self.save_flow(save.tenant, save.state, save.expected).await);
        }
        answers
    }
    /// How many flow saves [`FlowStore::save_flows`] makes in one round trip: above one, a group
    /// of flows saves together ([`group`]). One where a save is local and costs no round
    /// trip.
    fn flow_saves_per_call(&self) -> usize {
        1
    }
    /// The flows of several invoices and the links of several customers of one tenant, in
    /// as few round trips as the store allows (one BatchGetItem per hundred keys on
    /// DynamoDB). Each answer is what [`FlowStore::flow`] or [`LinkStore::customer`] would have
    /// returned; whatever the store could not read in time is left out, and read alone later.
    /// The default reads nothing.
    async fn read_many(
        &self,
        tenant: &str,
        invoice_uids: &[String],
        customer_ids: &[String],
    ) -> StoreResult<ManyRead> {
        let _ = (tenant, invoice_uids, customer_ids);
        Ok(ManyRead::default())
    }
    /// Flows in a status, oldest update first, at most `limit`.
    async fn flows_with_status(
        &self,
        tenant: &str,
        status: FlowStatus,
        limit: usize,
    ) -> StoreResult<Vec<Versioned<FlowState>>>;
    /// How many flows are in each status.
    async fn flow_counts(&self, tenant: &str) -> StoreResult<Vec<(FlowStatus, u64)>>;
}

/// Named positions: each billing source's event cursor, the last sweep and read-back.
#[async_trait]
pub trait CursorStore: Send + Sync {
    async fn cursor(&self, tenant: &str, name: &str) -> StoreResult<Option<String>>;
    async fn put_cursor(&self, tenant: &str, name: &str, value: &str) -> StoreResult<()>;
}

/// Webhook deliveries already seen, for de-duplication.
#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Forgets a recorded delivery, so a redelivery is processed: used when enqueueing the
    /// delivery's work failed after it was recorded.
    async fn forget_delivery(&self, tenant: &str, delivery_id: &str) -> StoreResult<()>;

    /// Like [`DeliveryStore::first_delivery`], and on a first delivery queues `messages` in the same
    /// transaction, where the store holds the queue (the local mode's outbox). `None`: this
    /// store does not hold the queue; record the delivery and send the messages apart.
    async fn first_delivery_queued(
        &self,
        tenant: &str,
        delivery_id: &str,
        ttl: Duration,
        messages: &[crate::queue::SyncMessage],
    ) -> StoreResult<Option<bool>> {
        let _ = (tenant, delivery_id, ttl, messages);
        Ok(None)
    }

    /// Records a webhook delivery id; true the first time it is seen within `ttl`, false for a
    /// repeat (Maxio and Chargebee both redeliver).
    async fn first_delivery(
        &self,
        tenant: &str,
        delivery_id: &str,
        ttl: Duration,
    ) -> StoreResult<bool>;

    /// Notes when the tenant's last verified webhook was queued (RFC 3339). Kept with the
    /// deliveries: the only records the webhook intake writes.
    async fn note_webhook(&self, tenant: &str, at: &str) -> StoreResult<()>;

    /// What [`DeliveryStore::note_webhook`] last noted.
    async fn last_webhook(&self, tenant: &str) -> StoreResult<Option<String>>;
}
