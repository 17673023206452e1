//! The store as one group of queue messages sees it: the flows and customer links the group
//! needs are read together ([`FlowStore::read_many`]), and each flow then starts from that read
//! instead of a read of its own.
//!
//! Freshness is what a flow's own read would give, a few milliseconds earlier:
//! - a flow is answered from the group's read once; a second read of it, or any read after it
//!   is saved, goes to the store. Every save is conditional on the version read, so a flow
//!   another worker moved on meanwhile is a conflict, exactly as with a read of its own;
//! - a customer link is answered from the group's read or from the group's own last write of
//!   it, so the group's flows of one customer see each other's changes. Customers without a
//!   link are read from the store, so a customer another worker has just linked is found.
//!
//! Where a save costs a round trip ([`FlowStore::flow_saves_per_call`] above one: DynamoDB), the
//! group's flows also save together. A save waits until every flow of the group still running
//! is waiting to save too, or [`SAVE_WINDOW`] after the first of them, and they then go in one
//! [`FlowStore::save_flows`] call, each with its own version condition. A flow's message is done
//! only once its save is answered, as before; what the wait costs is at most the window
//! added to the moment a message is deleted from the queue, never a NetSuite request. A
//! group of one saves at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{oneshot, Notify};
use tokio::time::Instant;

use super::{
    CustomerLink, FlowSave, FlowStore, LinkStore, ManyRead, Store, StoreError, StoreResult,
};
use crate::flow::state::{FlowState, FlowStatus, Versioned};
use crate::settings::ItemRef;

type Key = (String, String);

/// The longest a flow's save waits for the rest of its group. Most groups end sooner, when
/// every flow still running waits to save; a longer window gathered no more flows per
/// transaction in the benchmark and raised the lag (docs/bench/notes.md).
pub const SAVE_WINDOW: Duration = Duration::from_millis(500);

/// A [`Store`] that answers from a group's read where it can, saves the group's flows
/// together where that saves round trips, and passes everything else on.
pub struct GroupStore<'a> {
    inner: &'a dyn Store,
    flows: Mutex<HashMap<Key, Option<Versioned<FlowState>>>>,
    customers: Mutex<HashMap<Key, CustomerLink>>,
    /// The group's flows not yet finished ([`GroupStore::flow_done`]).
    open: AtomicUsize,
    saves: Mutex<Saves>,
    /// Told when a save joins or a flow finishes: a pending batch may now be complete.
    changed: Notify,
}

#[derive(Default)]
struct Saves {
    pending: Vec<PendingSave>,
    /// When the pending saves go, however many flows are still running.
    due: Option<Instant>,
}

struct PendingSave {
    tenant: String,
    state: FlowState,
    expected: Option<u64>,
    answer: oneshot::Sender<StoreResult<u64>>,
}

/// Whether a group's flows save together on `store`: where a save is a round trip.
pub fn saves_together(store: &dyn Store) -> bool {
    store.flow_saves_per_call() > 1
}

impl<'a> GroupStore<'a> {
    /// A group of `flows` flows, each of which calls [`GroupStore::flow_done`] when finished,
    /// saving together where the store gains by it.
    pub fn for_flows(inner: &'a dyn Store, flows: usize) -> Self {
        GroupStore {
            inner,
            flows: Mutex::default(),
            customers: Mutex::default(),
            open: AtomicUsize::new(flows),
            saves: Mutex::default(),
            changed: Notify::new(),
        }
    }

    /// One of the group's flows is finished and saves no more: the others need not wait for
    /// it.
    pub fn flow_done(&self) {
        let _ = self
            .open
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        self.changed.notify_waiters();
    }

    /// Joins the group's pending saves and waits for the answer, writing the batch itself
    /// when it is due and no other flow has.
    async fn save_together(
        &self,
        tenant: &str,
        state: &FlowState,
        expected: Option<u64>,
    ) -> StoreResult<u64> {
        let (answer, mut answered) = oneshot::channel();
        {
            let mut saves = lock(&self.saves);
            saves.pending.push(PendingSave {
                tenant: tenant.to_owned(),
                state: state.clone(),
                expected,
                answer,
            });
            saves
                .due
                .get_or_insert_with(|| Instant::now() + SAVE_WINDOW);
        }
        // No one else need wake: if this save completes the batch, this flow writes it below.
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(batch) = self.take_due() {
                self.write(batch).await;
                continue;
            }
            match answered.try_recv() {
                Ok(answer) => return answer,
                Err(oneshot::error::TryRecvError::Closed) => return Err(abandoned()),
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            let due = lock(&self.saves).due;
            tokio::select! {
                answer = &mut answered => return answer.unwrap_or_else(|_| Err(abandoned())),
                () = &mut changed => {}
                () = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {}
            }
        }
    }

    /// The pending saves, if they should go now.
    fn take_due(&self) -> Option<Vec<PendingSave>> {
        let mut saves = lock(&self.saves);
        let waiting = saves.pending.len();
        let due = waiting > 0
            && (waiting >= self.open.load(Ordering::SeqCst)
                || waiting >= self.inner.flow_saves_per_call()
                || saves.due.is_some_and(|at| Instant::now() >= at));
        due.then(|| {
            saves.due = None;
            std::mem::take(&mut saves.pending)
        })
    }

    async fn write(&self, batch: Vec<PendingSave>) {
        let saves: Vec<FlowSave<'_>> = batch
            .iter()
            .map(|p| FlowSave {
                tenant: &p.tenant,
                state: &p.state,
                expected: p.expected,
            })
            .collect();
        let answers = self.inner.save_flows(&saves).await;
        // A save left unanswered finds its channel closed: abandoned.
        for (pending, answer) in batch.into_iter().zip(answers) {
            let _ = pending.answer.send(answer);
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

/// The answer to a save whose batch was dropped unwritten or unanswered.
fn abandoned() -> StoreError {
    StoreError::Unavailable("the flow's save was abandoned before the store answered".into())
}

fn key(tenant: &str, id: &str) -> Key {
    (tenant.to_owned(), id.to_owned())
}

#[async_trait]
impl LinkStore for GroupStore<'_> {
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
}

#[async_trait]
impl FlowStore for GroupStore<'_> {
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
        if saves_together(self.inner) && self.open.load(Ordering::SeqCst) > 1 {
            self.save_together(tenant, state, expected).await
        } else {
            self.inner.save_flow(tenant, state, expected).await
        }
    }

    async fn save_flows(&self, saves: &[FlowSave<'_>]) -> Vec<StoreResult<u64>> {
        for save in saves {
            lock(&self.flows).remove(&key(save.tenant, &save.state.invoice_uid));
        }
        self.inner.save_flows(saves).await
    }

    fn flow_saves_per_call(&self) -> usize {
        self.inner.flow_saves_per_call()
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
        let group = GroupStore::for_flows(&store, 1);
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
        let group = GroupStore::for_flows(&store, 1);
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

    mod saving_together {
        use super::*;
        use crate::store::counting::CountingStore;
        use futures::future::join_all;

        fn store() -> CountingStore<SqliteStore> {
            CountingStore::saving_together(SqliteStore::in_memory().unwrap(), 100)
        }

        fn state(uid: &str) -> FlowState {
            FlowState::new(Source::Maxio, uid, Utc::now())
        }

        #[tokio::test(start_paused = true)]
        async fn a_groups_flows_that_all_save_go_in_one_call_at_once() {
            let store = store();
            let old = store.save_flow("t", &state("inv_0"), None).await.unwrap();
            store.reset();
            let group = GroupStore::for_flows(&store, 3);
            let started = Instant::now();
            let (a, b) = (state("inv_0"), state("inv_1"));
            let mut c = state("inv_2");
            c.status = FlowStatus::Synced;
            let answers = join_all([
                group.save_flow("t", &a, Some(old)),
                group.save_flow("t", &b, None),
                group.save_flow("t", &c, None),
            ])
            .await;
            assert_eq!(
                answers.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
                [old + 1, 1, 1]
            );
            assert_eq!(store.count("save_flows"), 1);
            assert_eq!(store.count("save_flow"), 0);
            assert_eq!(store.writes(), 6, "a transaction bills two units per item");
            assert_eq!(
                started.elapsed(),
                Duration::ZERO,
                "nobody was left to wait for"
            );
            let synced = store.flow("t", "inv_2").await.unwrap().unwrap();
            assert_eq!(synced.value.status, FlowStatus::Synced);
        }

        /// Two of `group`'s flows save while another finishes `after` they start; how long
        /// the saves took.
        async fn two_save_one_finishes(
            group: &GroupStore<'_>,
            uids: [&str; 2],
            after: Duration,
        ) -> Duration {
            let started = Instant::now();
            let (a, b) = (state(uids[0]), state(uids[1]));
            let saves = join_all([
                group.save_flow("t", &a, None),
                group.save_flow("t", &b, None),
            ]);
            let finish = async {
                tokio::time::sleep(after).await;
                group.flow_done();
            };
            let (answers, ()) = tokio::join!(saves, finish);
            assert!(answers.iter().all(Result::is_ok), "{answers:?}");
            started.elapsed()
        }

        #[tokio::test(start_paused = true)]
        async fn a_finished_flow_is_not_waited_for_and_a_running_one_only_for_the_window() {
            let store = store();
            // Of four, one finishes without saving and the fourth runs past the window.
            let group = GroupStore::for_flows(&store, 4);
            let took =
                two_save_one_finishes(&group, ["inv_a", "inv_b"], Duration::from_millis(50)).await;
            assert_eq!(took, SAVE_WINDOW, "waited for the running flow, no longer");
            assert_eq!(store.count("save_flows"), 1);

            // Of three, the saves go as soon as the third has finished.
            let group = GroupStore::for_flows(&store, 3);
            let took =
                two_save_one_finishes(&group, ["inv_c", "inv_d"], Duration::from_millis(20)).await;
            assert_eq!(took, Duration::from_millis(20));
            assert_eq!(store.count("save_flows"), 2);
        }

        #[tokio::test(start_paused = true)]
        async fn a_conflict_in_a_batch_is_its_own_flows_alone() {
            let store = store();
            let v1 = store.save_flow("t", &state("inv_x"), None).await.unwrap();
            let mut moved = state("inv_x");
            moved.sales_order_id = Some("9".into());
            store.save_flow("t", &moved, Some(v1)).await.unwrap();
            let group = GroupStore::for_flows(&store, 2);
            let (stale, fresh) = (state("inv_x"), state("inv_y"));
            let answers = join_all([
                group.save_flow("t", &stale, Some(v1)),
                group.save_flow("t", &fresh, None),
            ])
            .await;
            assert!(
                matches!(answers[0], Err(StoreError::Conflict { .. })),
                "{answers:?}"
            );
            assert_eq!(answers[1].as_ref().unwrap(), &1);
            assert_eq!(
                store.flow("t", "inv_y").await.unwrap().unwrap().value,
                fresh
            );
        }

        #[tokio::test(start_paused = true)]
        async fn a_group_of_one_or_a_local_store_saves_alone_at_once() {
            let store = store();
            let group = GroupStore::for_flows(&store, 1);
            group.save_flow("t", &state("inv_1"), None).await.unwrap();
            assert_eq!(
                (store.count("save_flow"), store.count("save_flows")),
                (1, 0)
            );

            let local = CountingStore::new(SqliteStore::in_memory().unwrap());
            let group = GroupStore::for_flows(&local, 5);
            group.save_flow("t", &state("inv_1"), None).await.unwrap();
            assert_eq!(
                (local.count("save_flow"), local.count("save_flows")),
                (1, 0)
            );
        }
    }
}
