//! The store port: settings, customer mappings, per-invoice flow state, sweep cursors and
//! webhook delivery de-duplication. One embedded implementation ([`sqlite`]) for local runs and
//! tests, one on DynamoDB for AWS; both pass [`conformance`].

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
    Unavailable(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// What one [`Store::read_many`] found, as fresh as [`Store::flow`] and [`Store::customer`]
/// would have answered at the time.
#[derive(Clone, Debug, Default)]
pub struct ManyRead {
    /// Per invoice the store answered for: its flow, or `None` when it has none yet. An
    /// invoice left out was not read (its flow must be read alone).
    pub flows: HashMap<String, Option<Versioned<FlowState>>>,
    /// The customers that have a link. A customer left out may have none or was not read.
    pub customers: HashMap<String, CustomerLink>,
}

/// One flow save of [`Store::save_flows`]: what [`Store::save_flow`] takes.
#[derive(Clone, Copy, Debug)]
pub struct FlowSave<'s> {
    pub tenant: &'s str,
    pub state: &'s FlowState,
    pub expected: Option<u64>,
}

/// Persistence for everything billsync remembers. Implementations must make
/// [`Store::save_flow`] atomic and conditional, so two workers never both advance one invoice.
#[async_trait]
pub trait Store: Send + Sync {
    async fn settings(&self, tenant: &str) -> StoreResult<Option<TenantSettings>>;
    async fn put_settings(&self, settings: &TenantSettings) -> StoreResult<()>;
    /// Every configured tenant.
    async fn tenants(&self) -> StoreResult<Vec<String>>;

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
    /// Several flow saves, each as [`Store::save_flow`] would make it and answered in order,
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
    /// How many flow saves [`Store::save_flows`] makes in one round trip: above one, a group
    /// of flows saves together ([`group`]). One where a save is local and costs no round
    /// trip.
    fn flow_saves_per_call(&self) -> usize {
        1
    }
    /// The flows of several invoices and the links of several customers of one tenant, in
    /// as few round trips as the store allows (one BatchGetItem per hundred keys on
    /// DynamoDB). Each answer is what [`Store::flow`] or [`Store::customer`] would have
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

    async fn cursor(&self, tenant: &str, name: &str) -> StoreResult<Option<String>>;
    async fn put_cursor(&self, tenant: &str, name: &str, value: &str) -> StoreResult<()>;

    /// Forgets a recorded delivery, so a redelivery is processed: used when enqueueing the
    /// delivery's work failed after it was recorded.
    async fn forget_delivery(&self, tenant: &str, delivery_id: &str) -> StoreResult<()>;

    /// Like [`Store::first_delivery`], and on a first delivery queues `messages` in the same
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
}
