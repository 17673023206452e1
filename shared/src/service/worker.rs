//! The worker: a batch of queue messages, each one invoice's flow, run concurrently within the
//! tenant's NetSuite share. It reports which messages to deliver again: only those whose
//! failure may go away by itself. Failures that need a person are in the error log; their
//! messages are done.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::future::{BoxFuture, Shared};
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use tokio::time::Instant;
use tracing::Instrument;

use super::readback::read_back;
use super::sweep::sweep_tenant;
use super::Services;
use crate::billing::model::Invoice;
use crate::billing::source::Preloaded;
use crate::flow::run::{Engine, Outcome};
use crate::queue::{Inbox, QueueError, Subject, SyncMessage, Taken};
use crate::store::group::{saves_together, GroupStore};

/// How long before its deadline an invocation stops taking more messages, so that what it
/// took can finish in time.
pub const DRAIN_MARGIN: Duration = Duration::from_secs(30);

/// Messages in progress at once while draining: three per NetSuite slot this process may
/// hold, so a slot given back always finds a request waiting for it (the other messages are
/// reading billing or saving state), plus room for a full batch of ten taken at once.
const DRAIN_DEPTH_PER_SLOT: usize = 3;
/// SQS hands out at most ten messages per receive; the worker takes full batches only.
pub const TAKE: usize = 10;
/// After a take that found less than a full batch (no backlog: the queue is being served as
/// fast as it fills), the next take waits this long while work is in progress, so that a
/// trickle of webhooks is read in groups: one receive, one billing read per record kind and
/// one store read for several invoices instead of each. Below full load that adds at most this
/// to an invoice's lag; a backlog always fills the batch and is taken at once.
const TRICKLE_PAUSE: Duration = Duration::from_millis(1000);

/// Messages a process holds in progress at once while draining, given the NetSuite slots it
/// may hold: [`DRAIN_DEPTH_PER_SLOT`] per slot and room for a batch taken at once. Where a
/// group's flows save together ([`GroupStore`]), room for one batch more: a group done with
/// NetSuite and waiting for its save would otherwise keep the next take back and leave slots
/// without requests (docs/bench/notes.md has the measurement).
pub fn drain_depth(held_slots: usize, saves_together: bool) -> usize {
    DRAIN_DEPTH_PER_SLOT * held_slots + TAKE + if saves_together { TAKE } else { 0 }
}

/// A message the worker took itself may be handed back for later while the queue has handed
/// it out at most this often: each hand-back counts towards the queue's dead-letter limit (10
/// in template.yaml), so at least as many real attempts remain as the limit of 5 allowed
/// before hand-backs existed.
pub const DEFER_RECEIVES: u32 = 5;
/// Whether a message the queue has handed out `receives` times may be handed back again.
fn may_hand_back(receives: u32) -> bool {
    receives <= DEFER_RECEIVES
}

/// When a NetSuite account's places in this worker are all taken: how long a taken message of
/// that account waits in the queue before it is offered again, doubled for each earlier
/// receive.
pub const BUSY_ACCOUNT_DELAY: Duration = Duration::from_secs(5);

/// One queue message as the queue hands it over.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The queue's id for the message (SQS message id), reported back on failure.
    pub id: String,
    pub body: String,
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageOutcome {
    Done(Option<Outcome>),
    /// Deliver again later.
    Retry(String),
    /// Not run, or failed only because its NetSuite account cannot take it now (the account
    /// failing, or its places in this worker full): back in the queue after `after`, and no
    /// reason to stop taking other tenants' work.
    Defer {
        after: Duration,
        why: String,
    },
    /// Unreadable: logged and dropped (redelivering would fail the same way).
    Poison(String),
}

/// Processes a batch; returns the ids of messages to deliver again.
pub async fn process_batch(services: &Services, batch: Vec<Delivery>) -> Vec<String> {
    retries(process(services, batch).await)
}

/// A Lambda invocation's batch: runs it, and while `until` is ahead also takes more messages
/// from the services' inbox (the SQS queue on AWS) whenever fewer than its drain depth are in
/// progress, runs them in the same pool and deletes them when done. Returns the ids of the
/// batch's messages to deliver again. Without an inbox it runs the batch alone.
///
/// Why: NetSuite slots are leases shared by every worker instance, and an instance that
/// finishes its batch of ten gives its slots back, to be found by another instance's next
/// poll of the table. Keeping the queue's work flowing to the instance that already holds
/// slots keeps them busy and makes slot hand-overs between instances, and the table calls they
/// cost, rare. Retryable failures of taken messages are left in the queue, which delivers them
/// again after its visibility timeout, as it does for failed messages of a batch; after one,
/// the worker takes nothing more and finishes what it has.
pub async fn drain_batch(services: &Services, batch: Vec<Delivery>, until: Instant) -> Vec<String> {
    let inbox = services.inbox().cloned();
    retries(run_pool(services, batch, inbox, until, |_, _, _| {}).await)
}

/// The ids of messages whose failure may go away by itself.
fn retries(results: Vec<(String, MessageOutcome)>) -> Vec<String> {
    results
        .into_iter()
        .filter_map(|(id, r)| {
            matches!(r, MessageOutcome::Retry(_) | MessageOutcome::Defer { .. }).then_some(id)
        })
        .collect()
}

/// Processes a batch and says what happened to each message.
pub async fn process(services: &Services, batch: Vec<Delivery>) -> Vec<(String, MessageOutcome)> {
    run_pool(services, batch, None, Instant::now(), |_, _, _| {}).await
}

/// Where a message in progress came from.
enum Origin {
    /// The invocation's batch: its outcome goes back to the caller.
    Batch,
    /// Taken from the inbox by this worker, which deletes it when done (or hands it back).
    Taken { receipt: String, receives: u32 },
}

impl Origin {
    /// How often the queue has handed the message out, where it may still be handed back.
    fn hand_backs(&self) -> Option<u32> {
        match self {
            Origin::Taken { receives, .. } if may_hand_back(*receives) => Some(*receives),
            _ => None,
        }
    }
}

/// [`drain_batch`] that calls `observe` with each message the moment it is finished, with how
/// long it was in progress, and returns every outcome: the benchmark's clock for the lag from
/// intake to the invoice's last NetSuite record. Only with the `test-support` feature.
#[cfg(any(test, feature = "test-support"))]
pub async fn drain_observed(
    services: &Services,
    batch: Vec<Delivery>,
    until: Instant,
    observe: impl Fn(&Delivery, &MessageOutcome, Duration) + Sync,
) -> Vec<(String, MessageOutcome)> {
    run_pool(services, batch, services.inbox().cloned(), until, observe).await
}

/// Runs the batch's messages side by side, and messages taken from `inbox` while `until` is
/// ahead. How many run NetSuite requests at once is bounded by the NetSuite client's
/// governor (the tenant's share, across every worker instance on AWS). Returns the batch's
/// outcomes; settles the governors before returning, since a frozen Lambda instance could
/// not give its shared slots back.
async fn run_pool<'a>(
    services: &'a Services,
    batch: Vec<Delivery>,
    inbox: Option<Arc<dyn Inbox>>,
    until: Instant,
    observe: impl Fn(&Delivery, &MessageOutcome, Duration) + Sync,
) -> Vec<(String, MessageOutcome)> {
    let run = |d: Delivery, origin: Origin, read: ReadTogether<'a>| async move {
        let started = Instant::now();
        // Tenant and subject are filled in once the body is read: every line the message
        // logs, down to the flow's steps, carries them.
        let span = tracing::info_span!(
            "message",
            message_id = %d.id,
            tenant = tracing::field::Empty,
            subject = tracing::field::Empty,
        );
        let receives = origin.hand_backs();
        let r = contained(services, &d, one(services, &d, read.clone(), receives))
            .instrument(span)
            .await;
        // The rest of the group saves without waiting for this one. Its read is done (the
        // flow awaited it) or is nothing to wait for.
        read.await.store.flow_done();
        (d, origin, r, started.elapsed())
    };
    let read = read_together(services, &batch);
    let mut running: FuturesUnordered<_> = batch
        .into_iter()
        .map(|d| run(d, Origin::Batch, read.clone()))
        .collect();
    let mut results = Vec::new();
    let mut taker = inbox.clone().map(Taker::new);
    let mut deleter = Deleter::new(inbox);
    loop {
        if let Some(t) = taker.as_mut() {
            // The depth grows as the pool meets more NetSuite accounts.
            let depth = drain_depth(
                services.held_slots_cap(),
                saves_together(services.store.as_ref()),
            );
            t.start_if_room(running.len(), depth, until);
        }
        let taking = taker.as_ref().is_some_and(Taker::in_flight);
        if running.is_empty() && !taking {
            break;
        }
        tokio::select! {
            Some((d, origin, outcome, took)) = running.next(), if !running.is_empty() => {
                observe(&d, &outcome, took);
                let retry = matches!(outcome, MessageOutcome::Retry(_));
                if let (true, Some(t)) = (retry, taker.as_mut()) {
                    t.troubled = true;
                }
                match (origin, &outcome) {
                    (Origin::Batch, _) => results.push((d.id, outcome)),
                    (Origin::Taken { receipt, receives }, MessageOutcome::Defer { after, .. }) => {
                        // Past its hand-backs it stays taken and comes back after the queue's
                        // visibility timeout, as a failed message does.
                        if may_hand_back(receives) {
                            deleter.defer(receipt, *after);
                        }
                    }
                    (Origin::Taken { receipt, .. }, _) => deleter.finished(receipt, retry),
                }
            }
            Some(()) = deleter.deleting.next(), if !deleter.deleting.is_empty() => {}
            got = async { taker.as_mut().expect("checked by the guard").answer().await }, if taking => {
                let taken = taker.as_mut().expect("checked by the guard").answered(got);
                let read = read_together(services, taken.iter().map(|(d, _, _)| d));
                running.extend(taken.into_iter().map(|(d, receipt, receives)| {
                    run(d, Origin::Taken { receipt, receives }, read.clone())
                }));
            }
        }
    }
    deleter.flush().await;
    // Bulk work waits in a queue no event source watches: a worker that stops with some left
    // (its time was up, not a failure that may pass) wakes the next.
    if let Some(t) = &taker {
        if t.inbox.bulk_waiting() && !t.troubled {
            if let Err(e) = services.queue.wake_bulk().await {
                tracing::warn!(error = %e, "could not wake a worker for the bulk work left");
            }
        }
    }
    // Shared NetSuite slots go back to the table before the function returns and is frozen.
    services.settle_governors().await;
    results
}

/// Taking more messages from the inbox while a batch runs: one receive at a time, when the
/// pool has room, and none after the queue ran dry or a failure that may pass by itself.
struct Taker {
    inbox: Arc<dyn Inbox>,
    pending: Option<BoxFuture<'static, Result<Vec<Taken>, QueueError>>>,
    /// The last receive found nothing (or failed): ask again only while work is in progress.
    queue_empty: bool,
    /// After a short answer the next receive waits until then, to read a trickle in groups.
    take_after: Option<Instant>,
    /// A failure that may go away by itself (NetSuite or billing unavailable) ends the taking:
    /// more work now would meet it too, and the queue brings it back later.
    troubled: bool,
}

impl Taker {
    fn new(inbox: Arc<dyn Inbox>) -> Self {
        Taker {
            inbox,
            pending: None,
            queue_empty: false,
            take_after: None,
            troubled: false,
        }
    }

    fn in_flight(&self) -> bool {
        self.pending.is_some()
    }

    /// Starts a receive when none is in flight, the pool has room for a full one and the
    /// invocation has time left.
    fn start_if_room(&mut self, running: usize, depth: usize, until: Instant) {
        let may_take =
            !(self.troubled || self.queue_empty && running == 0) && Instant::now() < until;
        if self.pending.is_some() || !may_take || running + TAKE > depth {
            return;
        }
        let inbox = self.inbox.clone();
        let pause = self.take_after.filter(|_| running > 0);
        self.pending = Some(
            async move {
                if let Some(at) = pause {
                    tokio::time::sleep_until(at).await;
                }
                inbox.take(TAKE).await
            }
            .boxed(),
        );
    }

    /// The receive in flight; only called while [`Taker::in_flight`].
    async fn answer(&mut self) -> Result<Vec<Taken>, QueueError> {
        self.pending.as_mut().expect("a receive in flight").await
    }

    /// Takes in the receive's answer: the messages it brought, with their receipts.
    fn answered(&mut self, got: Result<Vec<Taken>, QueueError>) -> Vec<(Delivery, String, u32)> {
        self.pending = None;
        match got {
            Ok(messages) => {
                self.queue_empty = messages.is_empty();
                self.take_after = (messages.len() < TAKE).then(|| Instant::now() + TRICKLE_PAUSE);
                messages
                    .into_iter()
                    .map(|m| {
                        (
                            Delivery {
                                id: m.id,
                                body: m.body,
                            },
                            m.receipt,
                            m.receives,
                        )
                    })
                    .collect()
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not take more messages; finishing what is in progress");
                self.queue_empty = true;
                Vec::new()
            }
        }
    }
}

/// Deleting taken messages once finished, a full batch at a time, alongside the flows in
/// progress (a queue call awaited in the loop would hold them up).
struct Deleter {
    inbox: Option<Arc<dyn Inbox>>,
    finished: Vec<String>,
    /// Taken messages to hand back, with their delays.
    later: Vec<(String, Duration)>,
    deleting: FuturesUnordered<BoxFuture<'static, ()>>,
}

impl Deleter {
    fn new(inbox: Option<Arc<dyn Inbox>>) -> Self {
        Deleter {
            inbox,
            finished: Vec::new(),
            later: Vec::new(),
            deleting: FuturesUnordered::new(),
        }
    }

    /// A taken message is done; one to deliver again stays in the queue.
    fn finished(&mut self, receipt: String, retry: bool) {
        if !retry {
            self.finished.push(receipt);
        }
        if self.finished.len() >= TAKE {
            let batch = std::mem::take(&mut self.finished);
            self.deleting
                .push(delete_taken(self.inbox.clone(), batch).boxed());
        }
    }

    /// A taken message goes back to the queue for `after`.
    fn defer(&mut self, receipt: String, after: Duration) {
        self.later.push((receipt, after));
        if self.later.len() >= TAKE {
            let batch = std::mem::take(&mut self.later);
            self.deleting
                .push(defer_taken(self.inbox.clone(), batch).boxed());
        }
    }

    /// Deletes what is left and waits for every delete.
    async fn flush(mut self) {
        let later = std::mem::take(&mut self.later);
        self.deleting
            .push(defer_taken(self.inbox.clone(), later).boxed());
        let rest = std::mem::take(&mut self.finished);
        self.deleting
            .push(delete_taken(self.inbox.clone(), rest).boxed());
        while self.deleting.next().await.is_some() {}
    }
}

/// Deletes finished taken messages; a failed delete only means SQS delivers them again, and
/// their flows, already synced, then cost nothing in NetSuite.
async fn delete_taken(inbox: Option<Arc<dyn Inbox>>, finished: Vec<String>) {
    let Some(inbox) = inbox.filter(|_| !finished.is_empty()) else {
        return;
    };
    if let Err(e) = inbox.delete(&finished).await {
        tracing::warn!(error = %e, "could not delete finished messages; they will be delivered again");
    }
}

/// Hands taken messages back for later; a failed call only means they come back after the
/// queue's visibility timeout instead.
async fn defer_taken(inbox: Option<Arc<dyn Inbox>>, later: Vec<(String, Duration)>) {
    let Some(inbox) = inbox.filter(|_| !later.is_empty()) else {
        return;
    };
    if let Err(e) = inbox.defer(&later).await {
        tracing::warn!(error = %e, "could not hand messages back for later; they come back after the visibility timeout");
    }
}

/// What a group of messages taken together read at once: the invoices they name, by (tenant,
/// invoice id), each taken out by its message's flow; and, through the group's store, their
/// flows and their customers' links.
struct Group<'a> {
    invoices: Mutex<HashMap<(String, String), Invoice>>,
    store: GroupStore<'a>,
}

type ReadTogether<'a> = Shared<BoxFuture<'a, Arc<Group<'a>>>>;

/// Reads what a group of messages needs together, tenant by tenant: the invoices, where the
/// tenant's billing source can ([`BillingSource::invoices`]): for ten Chargebee invoices, at
/// most four list calls instead of thirty reads or more, which keeps a site's per-minute API
/// allowance for the rest of its integrations; then their flows and customer links in one
/// store read ([`FlowStore::read_many`]: one DynamoDB BatchGetItem instead of two GetItems per
/// invoice). Each message waits for its group's read before its flow starts, and on
/// DynamoDB the group's flows save together ([`GroupStore`]).
///
/// [`BillingSource::invoices`]: crate::billing::source::BillingSource::invoices
/// [`FlowStore::read_many`]: crate::store::FlowStore::read_many
fn read_together<'a, 'd>(
    services: &'a Services,
    group: impl IntoIterator<Item = &'d Delivery>,
) -> ReadTogether<'a> {
    let mut by_tenant: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut messages = 0;
    for d in group {
        messages += 1;
        if let Ok(m) = serde_json::from_str::<SyncMessage>(&d.body) {
            if let Some(uid) = m.invoice_id() {
                by_tenant
                    .entry(m.tenant.clone())
                    .or_default()
                    .push(uid.to_owned());
            }
        }
    }
    async move {
        let group = Group {
            invoices: Mutex::default(),
            store: GroupStore::for_flows(services.store.as_ref(), messages),
        };
        // One invoice alone costs the same either way; its flow reads it.
        for (tenant, uids) in by_tenant.into_iter().filter(|(_, u)| u.len() > 1) {
            let Ok(settings) = services.settings(&tenant).await else {
                continue;
            };
            let Ok(clients) = services.clients(&settings).await else {
                continue;
            };
            let invoices = clients.billing.invoices(&uids).await;
            let customers: Vec<String> = invoices.values().map(|i| i.customer.id.clone()).collect();
            group.store.read(&tenant, &uids, &customers).await;
            let mut read = group
                .invoices
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            read.extend(
                invoices
                    .into_iter()
                    .map(|(uid, i)| ((tenant.clone(), uid), i)),
            );
        }
        Arc::new(group)
    }
    .boxed()
    .shared()
}

async fn one(
    services: &Services,
    d: &Delivery,
    read: ReadTogether<'_>,
    receives: Option<u32>,
) -> MessageOutcome {
    let message: SyncMessage = match serde_json::from_str(&d.body) {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(message_id = %d.id, error = %e, "unreadable queue message dropped");
            return MessageOutcome::Poison(e.to_string());
        }
    };
    // Bulk work's NetSuite requests wait behind live work's for a slot.
    match message.class {
        crate::queue::Class::Live => run_one(services, read, message, receives).await,
        crate::queue::Class::Bulk => {
            crate::netsuite::as_bulk(run_one(services, read, message, receives)).await
        }
    }
}

async fn run_one(
    services: &Services,
    read: ReadTogether<'_>,
    message: SyncMessage,
    receives: Option<u32>,
) -> MessageOutcome {
    if message.subject == Subject::Drain {
        // It only woke this worker: the taking that follows does the work.
        return MessageOutcome::Done(None);
    }
    let span = tracing::Span::current();
    span.record("tenant", message.tenant.as_str());
    span.record("subject", tracing::field::display(&message.subject));
    if message.subject == Subject::Sweep {
        return match sweep_tenant(services, &message.tenant).await {
            Ok(report) => {
                tracing::info!(?report, "sweep on request");
                MessageOutcome::Done(None)
            }
            Err(e) => MessageOutcome::Retry(e.to_string()),
        };
    }
    let settings = match services.settings(&message.tenant).await {
        Ok(s) => s,
        Err(super::ServiceError::UnknownTenant(t)) => {
            return MessageOutcome::Poison(format!("unknown tenant {t}"))
        }
        Err(e) => return MessageOutcome::Retry(e.to_string()),
    };
    // A paused tenant's work waits without asking NetSuite, except for the probe.
    let paused = match services.pause(&message.tenant).await {
        Ok(p) => p,
        Err(e) => return MessageOutcome::Retry(e.to_string()),
    };
    let probing = match &paused {
        None => false,
        Some(p) if p.probe_due(chrono::Utc::now()) && message.invoice_id().is_some() => {
            match services.claim_probe(&message.tenant).await {
                Ok(claimed) => claimed,
                Err(e) => return MessageOutcome::Retry(e.to_string()),
            }
        }
        Some(_) => false,
    };
    if paused.is_some() && !probing {
        return hold(&settings, &message, &read).await;
    }
    if message.subject == Subject::ReadBack {
        return match read_back(services, &settings).await {
            Ok(report) => {
                tracing::info!(?report, "read-back");
                MessageOutcome::Done(None)
            }
            Err(e) => MessageOutcome::Retry(e.to_string()),
        };
    }
    let clients = match services.clients(&settings).await {
        Ok(c) => c,
        Err(e) => return MessageOutcome::Retry(e.to_string()),
    };
    // An account that keeps failing is not asked now: its messages go back to the queue and
    // the worker goes on with other accounts' work.
    let governor = clients.netsuite.governor();
    if let Some(wait) = governor.outage().held_for() {
        return MessageOutcome::Defer {
            after: wait,
            why: format!(
                "NetSuite account {} is failing",
                clients.netsuite.account_id()
            ),
        };
    }
    // Each account's messages fill at most what the pool keeps for one account, so a slow
    // one cannot take the places other accounts' work needs. Where the account's answers are
    // slow its requests are most of a message's time: one message per slot and one waiting
    // keep its slots busy, and more would only wait in the worker.
    let held = governor.config().max_held;
    let most = if governor.outage().slow() {
        held + 1
    } else {
        drain_depth(held, saves_together(services.store.as_ref()))
    };
    let account = clients.netsuite.account_id();
    let Some(_place) = governor.place(most, receives.is_none()) else {
        // Later each time, so a backlog of a slow account is offered less and less often
        // before it runs regardless.
        let n = receives.unwrap_or(1).clamp(1, DEFER_RECEIVES);
        return MessageOutcome::Defer {
            after: BUSY_ACCOUNT_DELAY * (1 << (n - 1)),
            why: format!("NetSuite account {account} has {most} messages in progress here"),
        };
    };
    // Boxed: the flow's future is large, and held in two ways below.
    let work = Box::pin(run_invoice(
        services, read, &message, &settings, &clients, probing,
    ));
    // A message the worker took itself may go back unfinished if its account turned slow.
    let outcome = match receives {
        Some(_) => crate::netsuite::outage::sheddable(work).await,
        None => work.await,
    };
    let outage = governor.outage();
    match (outcome, outage.held_for()) {
        // Failed because the account is failing: not a reason to stop other accounts' work.
        (MessageOutcome::Retry(why), Some(after)) => MessageOutcome::Defer { after, why },
        // Sent back unsent, or failed, on an account that answers slowly: the same.
        (MessageOutcome::Retry(why), None) if outage.slow() => MessageOutcome::Defer {
            after: BUSY_ACCOUNT_DELAY,
            why,
        },
        (outcome, _) => outcome,
    }
}

/// The flow of one invoice message (or a customer change) once its clients and place are had.
async fn run_invoice(
    services: &Services,
    read: ReadTogether<'_>,
    message: &SyncMessage,
    settings: &crate::settings::TenantSettings,
    clients: &super::TenantClients,
    probing: bool,
) -> MessageOutcome {
    let group = read.await;
    let invoice = group
        .invoices
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&(
            message.tenant.clone(),
            message.invoice_id().unwrap_or_default().to_owned(),
        ));
    let billing = Preloaded::new(clients.billing.as_ref(), invoice);
    let engine = Engine {
        netsuite: &clients.netsuite,
        store: &group.store,
        billing: &billing,
    };
    if let Some(customer_id) = message.customer_id() {
        return match engine.sync_customer(settings, customer_id).await {
            Ok(Ok(updated)) => {
                tracing::info!(tenant = %message.tenant, customer = %customer_id, netsuite_id = ?updated, "customer change handled");
                MessageOutcome::Done(None)
            }
            Ok(Err(e)) if e.retryable => MessageOutcome::Retry(e.detail),
            Ok(Err(e)) => {
                tracing::warn!(tenant = %message.tenant, customer = %customer_id, step = %e.step, cause = %e.cause, "customer change needs a person");
                MessageOutcome::Done(None)
            }
            Err(e) => MessageOutcome::Retry(e.to_string()),
        };
    }
    let Some(invoice_id) = message.invoice_id() else {
        return MessageOutcome::Poison(format!("no work for subject {:?}", message.subject));
    };
    let result = engine
        .sync_queued_invoice(settings, invoice_id, message.queued_at)
        .await;
    if let Ok(outcome) = &result {
        publish(message, outcome, clients.netsuite.take_throttled());
    }
    match result {
        Ok(outcome) if outcome.blocked.is_some() => {
            let entry = outcome.blocked.as_ref().expect("checked by the guard");
            if let Err(e) = services.pause_tenant(&message.tenant, entry).await {
                // The flow is held; the pause will be recorded by the next refusal.
                tracing::warn!(tenant = %message.tenant, error = %e, "could not record the tenant's pause");
            }
            MessageOutcome::Done(Some(outcome))
        }
        Ok(outcome) if probing => {
            // The probe got through: NetSuite takes the tenant's credentials again.
            match services.resume_tenant(&message.tenant).await {
                Ok(report) => {
                    tracing::info!(tenant = %message.tenant, queued = report.queued, "probe got through; tenant resumed")
                }
                Err(e) => {
                    tracing::warn!(tenant = %message.tenant, error = %e, "probe got through but resuming failed")
                }
            }
            MessageOutcome::Done(Some(outcome))
        }
        Ok(outcome) if outcome.retry => MessageOutcome::Retry(
            outcome
                .error
                .as_ref()
                .map(|e| e.detail.clone())
                .unwrap_or_default(),
        ),
        Ok(outcome) => {
            if let Some(e) = &outcome.error {
                tracing::warn!(tenant = %message.tenant, invoice = %invoice_id, step = %e.step, cause = %e.cause, "invoice needs a person");
            }
            MessageOutcome::Done(Some(outcome))
        }
        Err(e) => MessageOutcome::Retry(e.to_string()),
    }
}

/// The tenant's metrics for one invoice's run: where it ended, its lag when it synced, and
/// the 429s met meanwhile.
fn publish(message: &SyncMessage, outcome: &Outcome, throttled: u64) {
    use crate::flow::state::FlowStatus;
    use crate::metrics::{emit, Metric};
    let mut values = Vec::with_capacity(3);
    match outcome.status {
        FlowStatus::Synced => {
            values.push((Metric::Synced, 1.0));
            if let Some(at) = message.queued_at {
                let lag = (chrono::Utc::now() - at).num_milliseconds().max(0) as f64 / 1000.0;
                values.push((Metric::LagSeconds, lag));
            }
        }
        FlowStatus::Error if !outcome.retry => values.push((Metric::Errors, 1.0)),
        FlowStatus::Parked => values.push((Metric::Parked, 1.0)),
        _ => {}
    }
    if throttled > 0 {
        values.push((Metric::NetSuiteThrottled, throttled as f64));
    }
    emit(&message.tenant, &values);
}

/// Runs one message's work so that a panic in it (a defect in billsync, not a fault of the
/// data) ends that message only: the invoice gets an error entry saying so and the worker goes
/// on with the others; the message is not delivered again, since it would fail the same way.
async fn contained(
    services: &Services,
    d: &Delivery,
    work: impl std::future::Future<Output = MessageOutcome>,
) -> MessageOutcome {
    use futures::FutureExt;
    let panic = match std::panic::AssertUnwindSafe(work).catch_unwind().await {
        Ok(outcome) => return outcome,
        Err(panic) => panic,
    };
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    tracing::error!(message_id = %d.id, panic = %what, "a message's work panicked");
    if let Ok(message) = serde_json::from_str::<SyncMessage>(&d.body) {
        if let Some(uid) = message.invoice_id() {
            if let Err(e) =
                record_defect(services, &message.tenant, message.source, uid, &what).await
            {
                tracing::error!(invoice = %uid, error = %e, "could not record the defect on the invoice");
            }
        }
    }
    MessageOutcome::Poison(format!("panicked: {what}"))
}

/// Puts an invoice in the error log for a defect of billsync's own.
async fn record_defect(
    services: &Services,
    tenant: &str,
    source: crate::billing::model::Source,
    uid: &str,
    what: &str,
) -> Result<(), crate::store::StoreError> {
    use crate::flow::state::{ErrorEntry, FlowState, FlowStatus};
    let now = chrono::Utc::now();
    let stored = services.store.flow(tenant, uid).await?;
    let version = stored.as_ref().map(|f| f.version);
    let mut state = stored.map_or_else(|| FlowState::new(source, uid, now), |f| f.value);
    state.status = FlowStatus::Error;
    state.last_error = Some(ErrorEntry {
        step: "internal".into(),
        code: Some("DEFECT".into()),
        detail: what.to_owned(),
        cause: "billsync stopped on this invoice because of a defect in billsync itself, not because of the invoice's data.".into(),
        fix: "Report it with this entry (and the invoice, without credentials); after an upgrade, `billsync retry` runs it again. The other invoices are not affected.".into(),
        retryable: false,
        since: now,
    });
    state.updated_at = now;
    services
        .store
        .save_flow(tenant, &state, version)
        .await
        .map(|_| ())
}

/// A paused tenant's message: an invoice is held (resuming queues it again), a read-back is
/// dropped (the next sweep asks for another), a customer change waits in the queue.
async fn hold(
    settings: &crate::settings::TenantSettings,
    message: &SyncMessage,
    read: &ReadTogether<'_>,
) -> MessageOutcome {
    let Some(invoice_id) = message.invoice_id() else {
        return match message.subject {
            Subject::ReadBack | Subject::Drain => MessageOutcome::Done(None),
            _ => MessageOutcome::Retry(format!("tenant {} is paused", message.tenant)),
        };
    };
    let group = read.clone().await;
    match crate::flow::run::hold(&group.store, settings, invoice_id, "tenant paused").await {
        Ok(_) => MessageOutcome::Done(None),
        Err(e) => MessageOutcome::Retry(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::model::Source;
    use crate::queue::{local::LocalQueue, Reason};
    use crate::secrets::StaticSecrets;
    use crate::store::sqlite::SqliteStore;
    use crate::store::FlowStore;

    #[tokio::test]
    async fn a_panic_ends_its_message_only_and_leaves_an_error_entry() {
        let store = Arc::new(SqliteStore::in_memory().unwrap());
        let services = Services::new(
            store.clone(),
            Arc::new(LocalQueue::new().0),
            Arc::new(StaticSecrets::default()),
        );
        let message = SyncMessage::invoice("acme", Source::Maxio, "inv_1", Reason::Webhook, "e-1");
        let d = Delivery {
            id: "m-1".into(),
            body: serde_json::to_string(&message).unwrap(),
        };
        let outcome = contained(&services, &d, async { panic!("index out of bounds") }).await;
        assert!(
            matches!(&outcome, MessageOutcome::Poison(m) if m.contains("index out of bounds")),
            "{outcome:?}"
        );
        let flow = store.flow("acme", "inv_1").await.unwrap().unwrap().value;
        assert_eq!(flow.status, crate::flow::state::FlowStatus::Error);
        let e = flow.last_error.unwrap();
        assert_eq!(
            (e.code.as_deref(), e.detail.as_str(), e.retryable),
            (Some("DEFECT"), "index out of bounds", false)
        );
        // Work that does not panic passes through untouched.
        let fine = contained(&services, &d, async { MessageOutcome::Done(None) }).await;
        assert_eq!(fine, MessageOutcome::Done(None));
    }
}
