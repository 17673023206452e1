//! The concurrency governor: every NetSuite request holds a slot while it is in flight, so
//! billsync as a whole never has more requests in flight on one NetSuite account than its
//! configured share of the account's limit, however many processes (Lambda instances) run.
//!
//! # Slots
//! A [`Governor`] hands out [`Permit`]s; a permit stands for one slot, numbered `0..share`, and
//! gives it back when dropped. What a slot is depends on the backend:
//!
//! - **Local** ([`Governor::local`]): slots exist only in this process, which makes the
//!   governor a fair (FIFO) semaphore of `share` permits. Right for the local mode and tests,
//!   where one process talks to the account.
//! - **Shared** ([`Governor::shared`]): a slot is a lease in a [`SlotStore`] that every process
//!   sees (on AWS, items of the DynamoDB table: [`crate::aws::governor`]). A process takes slot
//!   `n` with an atomic conditional write that succeeds only when nobody holds `n` or its holder's
//!   lease has expired, and writes its own holder token (a random per-process id plus a counter)
//!   and an expiry `lease_ttl` ahead. Renewing and giving back are conditional on that token.
//!
//! # Why the bound holds
//! 1. The store lets at most one holder own slot `n` at a time: taking it is conditional on the
//!    slot being free or expired, and only the holder renews or frees it.
//! 2. A process gives out at most one permit per slot it holds: a slot goes back to the
//!    process's pool only when its permit is dropped, and only then can it be given to another
//!    local task (a *hand-off*) or released to the store.
//! 3. A held lease does not expire under a running request: a background keeper renews every
//!    lease older than a quarter of `lease_ttl`, every quarter of `lease_ttl`, so while DynamoDB
//!    answers a held lease always has at least half its TTL left. A hand-off happens only while
//!    the lease still has more than a quarter of its TTL; otherwise the slot is released and
//!    taken again through the store.
//! 4. Slot numbers stop below `share`, so requests in flight ≤ live leases ≤ `share`.
//!
//! Expiry is judged by the taker's clock against the holder's: clock skew between machines
//! (milliseconds with NTP) is far below the margins above. The one way past the bound is a
//! lease that expires while held because renewals failed for about half a TTL in a row (the
//! store unreachable); the keeper logs it. A client-side timeout is the other caveat every
//! client shares: NetSuite may still be working on a request the client has given up on.
//!
//! A process that crashes (or a Lambda instance that is frozen and reclaimed) never releases
//! its slots; each one comes back when its lease expires, after at most `lease_ttl`.
//!
//! # Hand-off
//! Talking to the store for every request would add a round trip (and cost) to each one. When a
//! permit is dropped and another task of this process is waiting, the slot goes straight to that
//! task: it stays held in the store, so nothing about the bound changes. Only when nobody waits
//! locally is the slot released to the store, after a short *linger* (`linger`, 200 ms): an
//! invoice's next request usually follows its previous one by one store save, and the
//! invoices of a group taken together reach NetSuite over a few round trips, so a slot kept
//! that long saves a release, a fresh take and the poll another task would wait through. Slots
//! within the process's fair part of the share (`fair_held`, `floor(share / instances)`)
//! linger longer (`fair_linger`, 1 s): the fair parts of all instances add up to at most the
//! share, so keeping one idle never keeps another instance from its own part, and below full
//! load, where the next invoice is a fraction of a second away, it saves the release and take
//! (three store calls) that a short linger would cost per request. A lingering slot is held
//! and counted like any other (the bound is unchanged); `settle` gives lingering slots back at
//! once. A slot taken up again within its linger stops its timer, so an idle worker is not
//! woken for a linger that no longer matters. When every slot is taken, waiting tasks poll
//! the store with jittered, growing delays (`poll_min` doubling up to `poll_max`), never in a
//! tight loop; the delay belongs to the process, not to one poller, so tasks that come and go
//! while another instance holds the rest of the share do not each start the series again; at
//! most as many pollers run as there are waiting tasks and free places under the limit.
//!
//! # Instances
//! A worker instance with more invoices than slots takes slots as they come free; left alone,
//! the first instance to ask would take the whole share and the others would poll the store
//! until its batch ends. With `max_held` (from [`GovernorConfig::for_instances`]: the share
//! split over the worker's concurrency, rounded up) each instance holds at most its part, so
//! every instance the queue feeds works at once. The worker keeps its part busy by taking
//! more work from the queue itself rather than giving slots back between batches
//! ([`crate::service::worker::drain_batch`]); a hand-over between instances, and the
//! polling it costs, happens only when one of them runs out of work. The caps add up to more
//! than the share when the instances do not divide it, so one instance can wait for a slot
//! beyond its fair part for as long as the others hold theirs: an instance that holds its fair
//! part asks for more only every `extra_poll` (1 s), not at the pace of the poll series, which
//! is for an instance below its fair part. The cap bounds one process only: the share still
//! bounds them all, as above.
//!
//! # Adapting to refusals (AIMD)
//! Other integrations share the account's limit, so even a correct share can meet 429s. The
//! caller reports each permit's outcome: [`Permit::refused`] for a concurrency refusal (429 or
//! NetSuite's concurrency error codes), [`Permit::succeeded`] for any other answer.
//! - On a refusal the effective limit drops to three quarters (at least one less, never below
//!   one) and no new request starts for a pause: `pause` doubling per refusal in a row, jittered,
//!   capped at `max_pause`, and never shorter than the server's `Retry-After`. Requests already
//!   in flight when the limit was cut may be refused too; those do not cut again (one cut per
//!   congestion event, as in TCP).
//! - After `grow_after` successes in a row the limit grows by one, up to `share`.
//!
//! The effective limit caps both the permits this process gives out and the slot numbers it may
//! take, so when every process has cut its limit the whole fleet runs below the lowest common
//! ceiling, not the sum of per-process ceilings.
//!
//! # Lambda
//! Releases to the store run as background tasks. A Lambda instance is frozen as soon as its
//! handler returns, so the worker awaits [`Governor::settle`] at the end of a batch; otherwise
//! its slots would stay held until the instance next runs or their leases expire.

mod core;
#[cfg(any(test, feature = "test-support"))]
mod memory;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::oneshot;
use tokio::time::Instant;

tokio::task_local! {
    /// Set while bulk work runs (see [`as_bulk`]).
    static BULK_WORK: ();
}

/// Runs `work` as bulk work: each NetSuite request it makes waits for a slot behind the
/// requests of live work (webhooks, a person's retry), so a backfill takes only the slots live
/// work leaves free. Slots are still shared and never idle while bulk work waits.
pub async fn as_bulk<F: std::future::Future>(work: F) -> F::Output {
    BULK_WORK.scope((), work).await
}

/// Whether the running task does bulk work.
fn is_bulk() -> bool {
    BULK_WORK.try_with(|_| ()).is_ok()
}

use crate::error::Unavailable;

use self::core::{Backend, Core, Counters, State};
#[cfg(any(test, feature = "test-support"))]
pub use self::memory::MemorySlotStore;

/// Settings of one governor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GovernorConfig {
    /// Requests in flight at most: this integration's share of the account's limit, across
    /// every process sharing the slot store.
    pub share: usize,
    /// How long a shared slot stays taken without renewal; a crashed holder's slot comes back
    /// after this long.
    pub lease_ttl: Duration,
    /// The pause after a first refusal; it doubles with each refusal in a row.
    pub pause: Duration,
    pub max_pause: Duration,
    /// Successes in a row that grow the effective limit by one.
    pub grow_after: u32,
    /// The first wait before polling the store again when every slot is taken; it doubles.
    pub poll_min: Duration,
    pub poll_max: Duration,
    /// Store failures in a row after which waiting tasks get an error instead of a slot.
    pub store_attempts: u32,
    /// Shared slots: how long a slot nobody waits for stays with this process before it goes
    /// back to the store, for the next request of the same invoice (a store save away).
    pub linger: Duration,
    /// Shared slots: the most this process holds at once, so that every worker instance gets
    /// its part of the share (see "Instances" in the module docs). At least 1.
    pub max_held: usize,
    /// Shared slots: how many of its slots this process may keep idle for `fair_linger`
    /// instead of `linger`: its fair part, `floor(share / instances)`, which no other
    /// instance's fair part needs (see "Hand-off" in the module docs).
    pub fair_held: usize,
    pub fair_linger: Duration,
    /// Shared slots: once this process holds its fair part (at least one slot), how often it
    /// asks the store for one more while every slot is taken (see "Instances").
    pub extra_poll: Duration,
}

impl GovernorConfig {
    pub fn new(share: usize) -> Self {
        GovernorConfig {
            share: share.max(1),
            lease_ttl: Duration::from_secs(60),
            pause: Duration::from_millis(250),
            max_pause: Duration::from_secs(20),
            grow_after: 10,
            poll_min: Duration::from_millis(10),
            poll_max: Duration::from_millis(200),
            store_attempts: 6,
            linger: Duration::from_millis(200),
            max_held: share.max(1),
            fair_held: share.max(1),
            fair_linger: Duration::from_secs(1),
            extra_poll: Duration::from_secs(1),
        }
    }

    /// This share split between `instances` worker instances: each holds at most
    /// `ceil(share / instances)` slots, and keeps `floor(share / instances)` of them idle for
    /// `fair_linger`.
    pub fn for_instances(share: usize, instances: usize) -> Self {
        let mut config = Self::new(share);
        config.max_held = config.share.div_ceil(instances.max(1));
        config.fair_held = config.share / instances.max(1);
        config
    }
}

/// A store of shared slots, one pool of numbered slots per NetSuite account.
///
/// Implementations must make [`SlotStore::try_acquire`] atomic per slot: of two holders racing
/// for one slot, at most one succeeds while the other's lease is live.
#[async_trait]
pub trait SlotStore: Send + Sync + 'static {
    /// Leases to `holder`, for `ttl`, one slot of `pool` numbered below `below` that nobody
    /// holds or whose lease has expired. `None` when every one is held.
    async fn try_acquire(
        &self,
        pool: &str,
        below: usize,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<usize>, SlotStoreError>;

    /// Extends `holder`'s lease of `slot` to `ttl` from now; `false` when `holder` no longer
    /// holds it (it expired and someone else took it).
    async fn renew(
        &self,
        pool: &str,
        slot: usize,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, SlotStoreError>;

    /// Frees `slot` if `holder` still holds it; otherwise does nothing.
    async fn release(&self, pool: &str, slot: usize, holder: &str) -> Result<(), SlotStoreError>;
}

/// The slot store failed (unreachable, throttled, refused).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SlotStoreError(pub Unavailable);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GovernorError {
    #[error("the concurrency slot store is unavailable: {0}")]
    Store(SlotStoreError),
    #[error("the concurrency governor stopped")]
    Closed,
}

/// A snapshot of a governor, for logs and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GovernorStats {
    pub share: usize,
    /// The effective limit now.
    pub limit: usize,
    /// The lowest effective limit so far.
    pub lowest_limit: usize,
    /// Slots this process holds now (given out, or on the way to a waiting task).
    pub held: usize,
    pub waiting: usize,
    pub paused: bool,
    /// Concurrency refusals reported.
    pub refusals: u64,
    /// Times the limit was cut, and grown back.
    pub cuts: u64,
    pub grows: u64,
    /// Slots passed from a finished request straight to a waiting one.
    pub handoffs: u64,
    /// Slots taken from the shared store.
    pub store_acquisitions: u64,
}

/// Bounds the requests in flight on one NetSuite account. Cheap to clone; clones share slots.
#[derive(Clone)]
pub struct Governor {
    core: Arc<Core>,
    /// Whether the account answers at all: shared by every client of the account, as the
    /// slots are.
    outage: Arc<super::outage::Outage>,
    /// Queue messages of this process in progress on the account ([`Governor::place`]).
    places: Arc<std::sync::atomic::AtomicUsize>,
}

/// A queue message's place among the account's messages in progress in this process; given
/// back when dropped.
pub struct Place(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Governor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.core.lock();
        f.debug_struct("Governor")
            .field("pool", &self.core.pool)
            .field(
                "shared",
                &matches!(self.core.backend, Backend::Shared { .. }),
            )
            .field("share", &self.core.config.share)
            .field("limit", &st.limit)
            .finish_non_exhaustive()
    }
}

/// One slot, held until dropped. Report how the request went with [`Permit::succeeded`] or
/// [`Permit::refused`]; dropping it without a report is neutral (e.g. a transport failure).
pub struct Permit {
    core: Option<Arc<Core>>,
    slot: usize,
    /// The governor's epoch when the permit was given: a refusal of a request that started
    /// before the last cut does not cut again.
    epoch: u64,
    /// Which lease of the slot this permit runs under (0 for local slots).
    lease: u64,
}

impl std::fmt::Debug for Permit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Permit").field("slot", &self.slot).finish()
    }
}

impl Permit {
    /// The slot number, below the share.
    pub fn slot(&self) -> usize {
        self.slot
    }

    /// The request was answered without a concurrency refusal; gives the slot back.
    pub fn succeeded(self) {
        if let Some(core) = &self.core {
            core.record_success();
        }
    }

    /// NetSuite refused the request for concurrency; cuts the limit, pauses, gives the slot back.
    pub fn refused(self, retry_after: Option<Duration>) {
        if let Some(core) = &self.core {
            core.record_refusal(self.epoch, retry_after);
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(core) = self.core.take() {
            core.give_back(self.slot, self.lease);
        }
    }
}

impl Governor {
    /// An in-process governor of `share` slots.
    pub fn local(share: usize) -> Self {
        Self::local_with(GovernorConfig::new(share))
    }

    pub fn local_with(config: GovernorConfig) -> Self {
        Self::build(config, String::from("local"), Backend::Local)
    }

    /// A governor whose slots are leases in `store`, shared with every process using the same
    /// `pool` (the NetSuite account id).
    pub fn shared(
        config: GovernorConfig,
        pool: impl Into<String>,
        store: Arc<dyn SlotStore>,
    ) -> Self {
        let backend = Backend::Shared {
            store,
            process: format!("{:016x}", rand::random::<u64>()),
            leases: AtomicU64::new(0),
        };
        Self::build(config, pool.into(), backend)
    }

    fn build(mut config: GovernorConfig, pool: String, backend: Backend) -> Self {
        config.share = config.share.max(1);
        config.grow_after = config.grow_after.max(1);
        config.store_attempts = config.store_attempts.max(1);
        config.max_held = config.max_held.clamp(1, config.share);
        config.fair_held = config.fair_held.min(config.max_held);
        let state = State {
            limit: config.share,
            lowest_limit: config.share,
            successes: 0,
            epoch: 0,
            refusals_in_row: 0,
            paused_until: None,
            poll_after: None,
            poll_delay: config.poll_min,
            resume_scheduled: false,
            waiters: VecDeque::new(),
            held: 0,
            free: (0..config.share).rev().collect(),
            fetching: 0,
            leases: HashMap::new(),
            idle: Vec::new(),
            keeper_running: false,
            releases: Vec::new(),
            counters: Counters::default(),
        };
        Governor {
            core: Arc::new(Core {
                config,
                pool,
                backend,
                state: Mutex::new(state),
            }),
            outage: Arc::default(),
            places: Arc::default(),
        }
    }

    /// A place for one more queue message of this account in progress in this process, if
    /// fewer than `most` are (`force`: regardless). The worker bounds each account's messages so
    /// that one whose NetSuite is slow fills at most its own part of the pool.
    pub fn place(&self, most: usize, force: bool) -> Option<Place> {
        use std::sync::atomic::Ordering;
        self.places
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (force || n < most).then_some(n + 1)
            })
            .ok()
            .map(|_| Place(self.places.clone()))
    }

    /// The account's run of failures and any hold it caused ([`super::outage`]).
    pub fn outage(&self) -> &super::outage::Outage {
        &self.outage
    }

    /// Waits for a slot. Never spins: a waiting task sleeps until a slot is handed to it, and
    /// the store is polled with growing jittered delays.
    pub async fn acquire(&self) -> Result<Permit, GovernorError> {
        let (tx, rx) = oneshot::channel();
        let bulk = is_bulk();
        {
            let mut st = self.core.lock();
            // Live work queues behind live work only; bulk work behind everything.
            let at = match bulk {
                true => st.waiters.len(),
                false => st
                    .waiters
                    .iter()
                    .position(|w| w.bulk)
                    .unwrap_or(st.waiters.len()),
            };
            st.waiters.insert(at, core::Waiter::new(tx, bulk));
        }
        self.core.pump();
        // A permit sent after this future was dropped is dropped with the channel, which gives
        // its slot back: cancelling a wait never loses a slot.
        rx.await.unwrap_or(Err(GovernorError::Closed))
    }

    pub fn config(&self) -> &GovernorConfig {
        &self.core.config
    }

    pub fn share(&self) -> usize {
        self.core.config.share
    }

    /// Whether slots are shared through a store.
    pub fn is_shared(&self) -> bool {
        matches!(self.core.backend, Backend::Shared { .. })
    }

    pub fn stats(&self) -> GovernorStats {
        let st = self.core.lock();
        GovernorStats {
            share: self.core.config.share,
            limit: st.limit,
            lowest_limit: st.lowest_limit,
            held: st.held,
            waiting: st.waiters.iter().filter(|w| !w.is_closed()).count(),
            paused: st.paused_until.is_some_and(|t| t > Instant::now()),
            refusals: st.counters.refusals,
            cuts: st.counters.cuts,
            grows: st.counters.grows,
            handoffs: st.counters.handoffs,
            store_acquisitions: st.counters.store_acquisitions,
        }
    }

    /// Waits until every slot given back so far has reached the store. Call before a Lambda
    /// handler returns (see the module docs).
    pub async fn settle(&self) {
        // Lingering slots go back now: a frozen instance cannot let them expire.
        self.core.release_idle(None);
        let pending = std::mem::take(&mut self.core.lock().releases);
        for release in pending {
            let _ = release.await;
        }
    }
}
