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
//! ([`crate::service::worker::drain_observed`]); a hand-over between instances, and the
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

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use async_trait::async_trait;
use rand::Rng;
use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

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
pub struct SlotStoreError(pub String);

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
        }
    }

    /// Waits for a slot. Never spins: a waiting task sleeps until a slot is handed to it, and
    /// the store is polled with growing jittered delays.
    pub async fn acquire(&self) -> Result<Permit, GovernorError> {
        let (tx, rx) = oneshot::channel();
        self.core.lock().waiters.push_back(tx);
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

enum Backend {
    Local,
    Shared {
        store: Arc<dyn SlotStore>,
        /// This governor's random id, the first half of every holder token.
        process: String,
        /// Numbers this governor's leases (the second half of a holder token).
        leases: AtomicU64,
    },
}

type Waiter = oneshot::Sender<Result<Permit, GovernorError>>;

struct Lease {
    id: u64,
    token: String,
    /// By this process's monotonic clock, measured from before the store call.
    deadline: Instant,
    /// Someone else took the slot after the lease expired.
    lost: bool,
}

#[derive(Default)]
struct Counters {
    refusals: u64,
    cuts: u64,
    grows: u64,
    handoffs: u64,
    store_acquisitions: u64,
}

struct State {
    limit: usize,
    lowest_limit: usize,
    successes: u32,
    epoch: u64,
    refusals_in_row: u32,
    paused_until: Option<Instant>,
    resume_scheduled: bool,
    /// Shared backend: after the store answered that every slot is taken, no poller of this
    /// process asks again before `poll_after`; the wait doubles per such answer up to
    /// `poll_max` (kept here, not per poller, since pollers come and go with waiting tasks).
    poll_after: Option<Instant>,
    poll_delay: Duration,
    /// Tasks waiting for a slot, first come first served.
    waiters: VecDeque<Waiter>,
    /// Slots this process holds: given out as permits or being handed to a waiter.
    held: usize,
    /// Local backend: the slot numbers not held.
    free: Vec<usize>,
    /// Shared backend: pollers running.
    fetching: usize,
    /// Shared backend: the lease of each held slot.
    leases: HashMap<usize, Lease>,
    /// Shared backend: held slots no permit uses, lingering.
    idle: Vec<Idle>,
    keeper_running: bool,
    /// Releases to the store still running.
    releases: Vec<JoinHandle<()>>,
    counters: Counters,
}

/// A held slot that no permit uses, lingering before it goes back to the store.
struct Idle {
    slot: usize,
    lease: u64,
    /// Whether it lingers for `fair_linger` (within the process's fair part).
    fair: bool,
    /// The timer that gives it back. Aborted when the slot is used again, so that an idle
    /// worker is not woken for a linger that no longer matters: at steady load nearly every
    /// finished request leaves a slot lingering, and each timer left to fire was a wake-up.
    timer: Option<tokio::task::AbortHandle>,
}

impl Idle {
    fn stop_timer(&mut self) {
        if let Some(timer) = self.timer.take() {
            timer.abort();
        }
    }
}

impl State {
    fn paused(&self, now: Instant) -> bool {
        self.paused_until.is_some_and(|t| t > now)
    }
}

struct Core {
    config: GovernorConfig,
    pool: String,
    backend: Backend,
    state: Mutex<State>,
}

/// What to do with a slot given back, decided under the lock and done after it.
enum Next {
    HandOff(Waiter, u64),
    Release(Option<String>),
    /// The slot lingers, its timer started.
    Linger,
    /// The slot was to linger, but there is no runtime to time it: give it back now.
    ReleaseIdle,
}

impl Core {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Shared slots this process may hold now: the effective limit, capped per instance.
    fn own_limit(&self, st: &State) -> usize {
        st.limit.min(self.config.max_held)
    }

    /// Gives waiting tasks what can be given now: local slots directly, shared slots through
    /// pollers. Channels are only ever sent on outside the lock: a permit that bounces back
    /// (its receiver gone) gives itself back through `give_back`, which takes the lock.
    fn pump(self: &Arc<Self>) {
        let mut deliveries = Vec::new();
        let mut lingering = Vec::new();
        {
            let mut st = self.lock();
            st.waiters.retain(|w| !w.is_closed());
            if st.waiters.is_empty() {
                return;
            }
            if st.paused(Instant::now()) {
                self.schedule_resume(&mut st);
                return;
            }
            match &self.backend {
                Backend::Local => {
                    while st.held < st.limit && !st.waiters.is_empty() {
                        let limit = st.limit;
                        // Fewer than `limit` held, so a slot below `limit` is free.
                        let Some(at) = st.free.iter().rposition(|&s| s < limit) else {
                            break;
                        };
                        let slot = st.free.swap_remove(at);
                        st.held += 1;
                        let waiter = st.waiters.pop_front().expect("checked non-empty");
                        deliveries.push((waiter, slot, st.epoch));
                    }
                }
                Backend::Shared { .. } => {
                    let now = Instant::now();
                    let ttl = self.config.lease_ttl;
                    while !st.waiters.is_empty() {
                        let limit = st.limit;
                        let usable = st.idle.iter().position(|i| {
                            i.slot < limit
                                && st.leases.get(&i.slot).is_some_and(|l| {
                                    l.id == i.lease && !l.lost && l.deadline > now + ttl / 4
                                })
                        });
                        let Some(at) = usable else { break };
                        let mut idle = st.idle.swap_remove(at);
                        idle.stop_timer();
                        let (slot, lease) = (idle.slot, idle.lease);
                        let waiter = st.waiters.pop_front().expect("checked non-empty");
                        st.counters.handoffs += 1;
                        lingering.push((waiter, slot, st.epoch, lease));
                    }
                    let wanted = st.waiters.len().saturating_sub(st.fetching);
                    let room = self.own_limit(&st).saturating_sub(st.held + st.fetching);
                    let pollers = wanted.min(room);
                    if pollers > 0 {
                        match Handle::try_current() {
                            Ok(handle) => {
                                st.fetching += pollers;
                                for _ in 0..pollers {
                                    handle.spawn(poll_store(self.clone()));
                                }
                            }
                            Err(_) => tracing::warn!(
                                "no async runtime to poll the concurrency slot store from"
                            ),
                        }
                    }
                }
            }
        }
        for (waiter, slot, epoch) in deliveries {
            self.deliver(waiter, slot, epoch, 0);
        }
        for (waiter, slot, epoch, lease) in lingering {
            self.deliver(waiter, slot, epoch, lease);
        }
    }

    fn deliver(self: &Arc<Self>, waiter: Waiter, slot: usize, epoch: u64, lease: u64) {
        let permit = Permit {
            core: Some(self.clone()),
            slot,
            epoch,
            lease,
        };
        // On failure the permit comes back and, dropped here (outside the lock), is given back.
        if let Err(bounced) = waiter.send(Ok(permit)) {
            drop(bounced);
        }
    }

    /// A permit's slot comes back: to the first waiting task (a hand-off) or to the pool.
    fn give_back(self: &Arc<Self>, slot: usize, lease: u64) {
        self.pass_on(slot, lease, true);
    }

    /// A held slot goes to the first waiting task when it may, else back to the pool (and, if
    /// shared, to the store). `handoff` says whether it comes from a finished request.
    fn pass_on(self: &Arc<Self>, slot: usize, lease: u64, handoff: bool) {
        let ttl = self.config.lease_ttl;
        let next = {
            let mut st = self.lock();
            st.waiters.retain(|w| !w.is_closed());
            let now = Instant::now();
            let fresh = match self.backend {
                Backend::Local => true,
                Backend::Shared { .. } => st
                    .leases
                    .get(&slot)
                    .is_some_and(|l| l.id == lease && !l.lost && l.deadline > now + ttl / 4),
            };
            let hand_off = fresh && slot < st.limit && st.held <= st.limit && !st.paused(now);
            match st.waiters.pop_front() {
                Some(waiter) if hand_off => {
                    if handoff {
                        st.counters.handoffs += 1;
                    }
                    Next::HandOff(waiter, st.epoch)
                }
                None if hand_off
                    && matches!(self.backend, Backend::Shared { .. })
                    && !self.config.linger.is_zero() =>
                {
                    // Nobody waits now; the same worker often asks again within a store
                    // round trip. The slot stays held (and counted) while it lingers.
                    // Within its fair part the process keeps the slot longer: no other
                    // instance's fair part needs it, and at steady load the next invoice
                    // comes before the store round trips a release and a take would cost.
                    let fair = st.idle.iter().filter(|i| i.fair).count() < self.config.fair_held;
                    let linger = if fair {
                        self.config.fair_linger
                    } else {
                        self.config.linger
                    };
                    let timer = self.linger_timer(slot, lease, linger);
                    // No runtime to time the linger on: the slot goes back at once.
                    let next = if timer.is_some() {
                        Next::Linger
                    } else {
                        Next::ReleaseIdle
                    };
                    st.idle.push(Idle {
                        slot,
                        lease,
                        fair,
                        timer,
                    });
                    next
                }
                popped => {
                    if let Some(waiter) = popped {
                        st.waiters.push_front(waiter);
                    }
                    st.held -= 1;
                    match self.backend {
                        Backend::Local => {
                            st.free.push(slot);
                            Next::Release(None)
                        }
                        Backend::Shared { .. } => {
                            // A lease that is not this permit's (it was lost and the slot taken
                            // again) stays with the permit that runs under it.
                            let ours = st.leases.get(&slot).is_some_and(|l| l.id == lease);
                            let token = ours
                                .then(|| st.leases.remove(&slot))
                                .flatten()
                                .filter(|l| !l.lost)
                                .map(|l| l.token);
                            Next::Release(token)
                        }
                    }
                }
            }
        };
        match next {
            Next::HandOff(waiter, epoch) => self.deliver(waiter, slot, epoch, lease),
            Next::Release(Some(token)) => self.release_to_store(slot, token),
            Next::Release(None) => {}
            Next::Linger => {}
            Next::ReleaseIdle => self.release_idle(Some((slot, lease))),
        }
        self.pump();
    }

    /// Starts the timer after which a lingering slot, if still idle, goes back to the store;
    /// `None` without an async runtime.
    fn linger_timer(
        self: &Arc<Self>,
        slot: usize,
        lease: u64,
        linger: Duration,
    ) -> Option<tokio::task::AbortHandle> {
        let handle = Handle::try_current().ok()?;
        let core = Arc::downgrade(self);
        let task = handle.spawn(async move {
            tokio::time::sleep(linger).await;
            if let Some(core) = core.upgrade() {
                core.release_idle(Some((slot, lease)));
            }
        });
        Some(task.abort_handle())
    }

    /// Releases one idle slot (if it is still idle under that lease), or all of them.
    fn release_idle(self: &Arc<Self>, which: Option<(usize, u64)>) {
        let tokens: Vec<(usize, String)> = {
            let mut st = self.lock();
            let chosen: Vec<(usize, u64)> = st
                .idle
                .iter()
                .map(|i| (i.slot, i.lease))
                .filter(|x| which.is_none_or(|one| *x == one))
                .collect();
            st.idle.retain_mut(|i| {
                let keep = !chosen.contains(&(i.slot, i.lease));
                if !keep {
                    // The timer that fired ends by itself; others (on settle) need not fire.
                    i.stop_timer();
                }
                keep
            });
            let mut tokens = Vec::new();
            for (slot, lease) in chosen {
                st.held -= 1;
                if st.leases.get(&slot).is_some_and(|l| l.id == lease) {
                    if let Some(l) = st.leases.remove(&slot).filter(|l| !l.lost) {
                        tokens.push((slot, l.token));
                    }
                }
            }
            tokens
        };
        for (slot, token) in tokens {
            self.release_to_store(slot, token);
        }
        self.pump();
    }

    /// Every slot was taken (or the store failed): the next poll waits. Below its fair part a
    /// process waits longer each time in a row (a last wait that ended more than `poll_max`
    /// ago starts the series again); holding it, it waits `extra_poll`.
    fn back_off_polling(&self) {
        let mut st = self.lock();
        let now = Instant::now();
        if st.held >= self.config.fair_held.max(1) {
            // A slot beyond the fair part is one another instance's fair part may need; it is
            // asked for now and then, not at the pace of a process that has too few.
            st.poll_after = Some(now + jitter(self.config.extra_poll));
            return;
        }
        let stale = st
            .poll_after
            .is_none_or(|t| now.saturating_duration_since(t) > self.config.poll_max);
        let delay = if stale {
            self.config.poll_min
        } else {
            st.poll_delay
        };
        st.poll_after = Some(now + jitter(delay));
        st.poll_delay = (delay * 2).min(self.config.poll_max);
    }

    fn release_to_store(self: &Arc<Self>, slot: usize, token: String) {
        let Backend::Shared { store, .. } = &self.backend else {
            return;
        };
        let Ok(handle) = Handle::try_current() else {
            tracing::warn!(
                slot,
                "no async runtime to release a concurrency slot; its lease will expire"
            );
            return;
        };
        let (store, pool) = (store.clone(), self.pool.clone());
        let release = handle.spawn(async move {
            if let Err(e) = store.release(&pool, slot, &token).await {
                tracing::warn!(pool = %pool, slot, error = %e, "could not release a concurrency slot; its lease will expire");
            }
        });
        let mut st = self.lock();
        st.releases.retain(|r| !r.is_finished());
        st.releases.push(release);
    }

    fn record_success(self: &Arc<Self>) {
        let grew = {
            let mut st = self.lock();
            st.refusals_in_row = 0;
            st.successes = st.successes.saturating_add(1);
            if st.successes >= self.config.grow_after && st.limit < self.config.share {
                st.limit += 1;
                st.successes = 0;
                st.counters.grows += 1;
                tracing::debug!(pool = %self.pool, limit = st.limit, "NetSuite concurrency limit grows back");
                true
            } else {
                false
            }
        };
        if grew {
            self.pump();
        }
    }

    fn record_refusal(self: &Arc<Self>, epoch: u64, retry_after: Option<Duration>) {
        let mut st = self.lock();
        st.successes = 0;
        st.counters.refusals += 1;
        let pause = if epoch == st.epoch {
            let before = st.limit;
            st.limit = cut(before);
            st.lowest_limit = st.lowest_limit.min(st.limit);
            st.epoch += 1;
            st.refusals_in_row = st.refusals_in_row.saturating_add(1);
            st.counters.cuts += 1;
            let pause = self.pause_for(st.refusals_in_row, retry_after);
            tracing::info!(
                pool = %self.pool,
                from = before,
                to = st.limit,
                pause_ms = pause.as_millis() as u64,
                "NetSuite refused a request for concurrency; fewer requests at once"
            );
            Some(pause)
        } else {
            // The same congestion: only a server hint can lengthen the pause.
            retry_after.map(|h| h.min(self.config.max_pause))
        };
        if let Some(pause) = pause {
            let until = Instant::now() + pause;
            if st.paused_until.is_none_or(|t| t < until) {
                st.paused_until = Some(until);
            }
            self.schedule_resume(&mut st);
        }
    }

    /// `pause * 2^(refusals in a row - 1)`, capped, jittered over its upper half so processes
    /// refused together do not come back together; at least the server's hint.
    fn pause_for(&self, in_row: u32, hint: Option<Duration>) -> Duration {
        let ceiling = self
            .config
            .pause
            .saturating_mul(1u32 << in_row.saturating_sub(1).min(16))
            .min(self.config.max_pause);
        let jittered = jitter(ceiling);
        match hint {
            Some(h) => jittered.max(h.min(self.config.max_pause)),
            None => jittered,
        }
    }

    /// Wakes the waiters when the pause is over (one timer task at a time).
    fn schedule_resume(self: &Arc<Self>, st: &mut State) {
        let Some(until) = st.paused_until else {
            return;
        };
        if st.resume_scheduled {
            return;
        }
        let Ok(handle) = Handle::try_current() else {
            return;
        };
        st.resume_scheduled = true;
        let core = Arc::downgrade(self);
        handle.spawn(async move {
            let mut until = until;
            loop {
                tokio::time::sleep_until(until).await;
                let Some(core) = core.upgrade() else {
                    return;
                };
                let later = {
                    let mut st = core.lock();
                    match st.paused_until {
                        Some(t) if t > Instant::now() => Some(t),
                        _ => {
                            st.paused_until = None;
                            st.resume_scheduled = false;
                            None
                        }
                    }
                };
                match later {
                    Some(t) => until = t,
                    None => {
                        core.pump();
                        return;
                    }
                }
            }
        });
    }

    fn new_token(&self) -> (u64, String) {
        match &self.backend {
            Backend::Shared {
                process, leases, ..
            } => {
                let id = leases.fetch_add(1, Ordering::Relaxed) + 1;
                (id, format!("{process}-{id}"))
            }
            Backend::Local => (0, String::new()),
        }
    }
}

/// The effective limit after a refusal: three quarters, at least one less, never below 1.
fn cut(limit: usize) -> usize {
    (limit * 3 / 4).min(limit.saturating_sub(1)).max(1)
}

/// A random duration in `[d/2, d]`.
fn jitter(d: Duration) -> Duration {
    let max = d.as_micros() as u64;
    Duration::from_micros(rand::rng().random_range(max / 2..=max))
}

/// One poller: takes a slot from the store for the first waiting task, while tasks wait and
/// the limit has room; waits with growing jittered delays while every slot is taken.
async fn poll_store(core: Arc<Core>) {
    let Backend::Shared { store, .. } = &core.backend else {
        return;
    };
    let ttl = core.config.lease_ttl;
    let mut failures = 0u32;
    loop {
        let wait = core
            .lock()
            .poll_after
            .map(|t| t.saturating_duration_since(Instant::now()));
        if let Some(wait) = wait.filter(|w| !w.is_zero()) {
            tokio::time::sleep(wait).await;
        }
        let below = {
            let mut st = core.lock();
            st.waiters.retain(|w| !w.is_closed());
            let paused = st.paused(Instant::now());
            // This poller is one of `fetching`.
            let needed = !paused
                && st.waiters.len() >= st.fetching
                && st.held + st.fetching <= core.own_limit(&st);
            if !needed {
                st.fetching -= 1;
                if paused {
                    core.schedule_resume(&mut st);
                }
                return;
            }
            st.limit
        };
        let (id, token) = core.new_token();
        let started = Instant::now();
        let taken = store.try_acquire(&core.pool, below, &token, ttl).await;
        match taken {
            Ok(Some(slot)) => {
                {
                    let mut st = core.lock();
                    st.held += 1;
                    st.counters.store_acquisitions += 1;
                    st.leases.insert(
                        slot,
                        Lease {
                            id,
                            token,
                            deadline: started + ttl,
                            lost: false,
                        },
                    );
                    if !st.keeper_running {
                        st.keeper_running = true;
                        tokio::spawn(keep_leases(Arc::downgrade(&core)));
                    }
                    st.poll_after = None;
                    st.poll_delay = core.config.poll_min;
                }
                // To the first waiting task, or back to the store if none waits any more.
                core.pass_on(slot, id, false);
                failures = 0;
                continue;
            }
            Ok(None) => failures = 0,
            Err(e) => {
                failures += 1;
                tracing::warn!(pool = %core.pool, error = %e, failures, "the concurrency slot store failed");
                if failures >= core.config.store_attempts {
                    let waiting = {
                        let mut st = core.lock();
                        st.fetching -= 1;
                        std::mem::take(&mut st.waiters)
                    };
                    for waiter in waiting {
                        let _ = waiter.send(Err(GovernorError::Store(e.clone())));
                    }
                    return;
                }
            }
        }
        core.back_off_polling();
    }
}

/// Renews held leases: every quarter TTL, each lease older than a quarter TTL. Runs while the
/// governor holds any shared slot.
async fn keep_leases(core: Weak<Core>) {
    loop {
        let tick = match core.upgrade() {
            Some(core) => core.config.lease_ttl / 4,
            None => return,
        };
        tokio::time::sleep(tick).await;
        let Some(core) = core.upgrade() else {
            return;
        };
        let Backend::Shared { store, .. } = &core.backend else {
            return;
        };
        let ttl = core.config.lease_ttl;
        let due: Vec<(usize, u64, String)> = {
            let mut st = core.lock();
            if st.leases.is_empty() {
                st.keeper_running = false;
                return;
            }
            let now = Instant::now();
            st.leases
                .iter()
                .filter(|(_, l)| !l.lost && l.deadline <= now + ttl * 3 / 4)
                .map(|(slot, l)| (*slot, l.id, l.token.clone()))
                .collect()
        };
        for (slot, id, token) in due {
            let started = Instant::now();
            let renewed = store.renew(&core.pool, slot, &token, ttl).await;
            let mut st = core.lock();
            let Some(lease) = st.leases.get_mut(&slot).filter(|l| l.id == id) else {
                continue;
            };
            match renewed {
                Ok(true) => lease.deadline = started + ttl,
                Ok(false) => {
                    lease.lost = true;
                    tracing::error!(pool = %core.pool, slot, "a concurrency slot's lease expired while held and was taken by another process");
                }
                Err(e) => {
                    tracing::warn!(pool = %core.pool, slot, error = %e, "could not renew a concurrency slot's lease")
                }
            }
        }
    }
}

/// An in-memory [`SlotStore`] for tests: leases expire by tokio's clock, so paused-time tests
/// can fast-forward through a TTL. Counts calls and can be made to fail.
#[cfg(any(test, feature = "test-support"))]
#[derive(Default)]
pub struct MemorySlotStore {
    inner: Mutex<MemoryInner>,
}

#[cfg(any(test, feature = "test-support"))]
#[derive(Default)]
struct MemoryInner {
    slots: HashMap<(String, usize), (String, Instant)>,
    acquire_calls: u64,
    failing: bool,
}

#[cfg(any(test, feature = "test-support"))]
impl MemorySlotStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, MemoryInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every call fails while set.
    pub fn set_failing(&self, failing: bool) {
        self.lock().failing = failing;
    }

    pub fn acquire_calls(&self) -> u64 {
        self.lock().acquire_calls
    }

    /// Slots of `pool` with a live lease now.
    pub fn live(&self, pool: &str) -> usize {
        let now = Instant::now();
        self.lock()
            .slots
            .iter()
            .filter(|((p, _), (_, until))| p == pool && *until > now)
            .count()
    }

    /// The holder of a slot with a live lease.
    pub fn holder(&self, pool: &str, slot: usize) -> Option<String> {
        let now = Instant::now();
        self.lock()
            .slots
            .get(&(pool.to_owned(), slot))
            .filter(|(_, until)| *until > now)
            .map(|(h, _)| h.clone())
    }
}

#[cfg(any(test, feature = "test-support"))]
#[async_trait]
impl SlotStore for MemorySlotStore {
    async fn try_acquire(
        &self,
        pool: &str,
        below: usize,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<usize>, SlotStoreError> {
        let mut inner = self.lock();
        inner.acquire_calls += 1;
        if inner.failing {
            return Err(SlotStoreError("injected failure".into()));
        }
        let now = Instant::now();
        let free = (0..below).find(|n| {
            inner
                .slots
                .get(&(pool.to_owned(), *n))
                .is_none_or(|(_, until)| *until <= now)
        });
        Ok(free.inspect(|n| {
            inner
                .slots
                .insert((pool.to_owned(), *n), (holder.to_owned(), now + ttl));
        }))
    }

    async fn renew(
        &self,
        pool: &str,
        slot: usize,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, SlotStoreError> {
        let mut inner = self.lock();
        if inner.failing {
            return Err(SlotStoreError("injected failure".into()));
        }
        match inner.slots.get_mut(&(pool.to_owned(), slot)) {
            Some((h, until)) if h == holder => {
                *until = Instant::now() + ttl;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn release(&self, pool: &str, slot: usize, holder: &str) -> Result<(), SlotStoreError> {
        let mut inner = self.lock();
        if inner.failing {
            return Err(SlotStoreError("injected failure".into()));
        }
        let key = (pool.to_owned(), slot);
        if inner.slots.get(&key).is_some_and(|(h, _)| h == holder) {
            inner.slots.remove(&key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    fn config(share: usize) -> GovernorConfig {
        GovernorConfig {
            pause: Duration::from_millis(100),
            grow_after: 4,
            ..GovernorConfig::new(share)
        }
    }

    /// Counts requests in flight and remembers the most at once.
    #[derive(Default)]
    struct InFlight {
        now: AtomicUsize,
        peak: AtomicUsize,
    }

    impl InFlight {
        async fn request(&self, governor: &Governor, hold: Duration) {
            let permit = governor.acquire().await.unwrap();
            let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(n, Ordering::SeqCst);
            tokio::time::sleep(hold).await;
            self.now.fetch_sub(1, Ordering::SeqCst);
            permit.succeeded();
        }

        fn peak(&self) -> usize {
            self.peak.load(Ordering::SeqCst)
        }
    }

    async fn run_all(governors: &[Governor], tasks_each: usize, hold: Duration) -> Arc<InFlight> {
        let counter = Arc::new(InFlight::default());
        let mut handles = Vec::new();
        for g in governors {
            for _ in 0..tasks_each {
                let (g, counter) = (g.clone(), counter.clone());
                handles.push(tokio::spawn(async move { counter.request(&g, hold).await }));
            }
        }
        for h in handles {
            h.await.unwrap();
        }
        counter
    }

    #[test]
    fn a_cut_is_three_quarters_at_least_one_less_never_below_one() {
        let cuts: Vec<usize> = [1, 2, 3, 4, 5, 8, 20].into_iter().map(cut).collect();
        assert_eq!(cuts, vec![1, 1, 2, 3, 3, 6, 15]);
    }

    #[tokio::test(start_paused = true)]
    async fn local_slots_bound_requests_in_flight_and_are_all_used() {
        let g = Governor::local(3);
        let counter = run_all(std::slice::from_ref(&g), 20, Duration::from_millis(10)).await;
        assert_eq!(counter.peak(), 3);
        let stats = g.stats();
        assert_eq!((stats.held, stats.waiting), (0, 0));
        assert!(stats.handoffs > 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_cuts_once_pauses_and_successes_grow_the_limit_back() {
        let g = Governor::local_with(config(8));
        let first = g.acquire().await.unwrap();
        let second = g.acquire().await.unwrap();
        first.refused(None);
        assert_eq!(g.stats().limit, 6);
        // Started before the cut: the same congestion, no second cut.
        second.refused(None);
        let stats = g.stats();
        assert_eq!((stats.limit, stats.cuts, stats.refusals), (6, 1, 2));
        assert!(stats.paused);

        // No new request during the pause (100 ms, jittered over its upper half).
        let started = Instant::now();
        let third = g.acquire().await.unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(50),
            "{:?}",
            started.elapsed()
        );
        // A second refusal in a row pauses twice as long.
        third.refused(None);
        assert_eq!(g.stats().limit, 4);
        let started = Instant::now();
        let fourth = g.acquire().await.unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(100),
            "{:?}",
            started.elapsed()
        );
        fourth.succeeded();

        // grow_after = 4 successes in a row per step, up to the share and no further.
        for _ in 0..3 {
            g.acquire().await.unwrap().succeeded();
        }
        assert_eq!(g.stats().limit, 5);
        for _ in 0..40 {
            g.acquire().await.unwrap().succeeded();
        }
        let stats = g.stats();
        assert_eq!((stats.limit, stats.lowest_limit, stats.grows), (8, 4, 4));
    }

    #[tokio::test(start_paused = true)]
    async fn the_limit_never_drops_below_one() {
        let g = Governor::local_with(config(2));
        for _ in 0..5 {
            g.acquire().await.unwrap().refused(None);
        }
        assert_eq!(g.stats().limit, 1);
        assert_eq!(g.stats().cuts, 5);
        g.acquire().await.unwrap().succeeded();
    }

    #[tokio::test(start_paused = true)]
    async fn a_server_hint_is_the_least_pause() {
        let g = Governor::local_with(config(4));
        g.acquire()
            .await
            .unwrap()
            .refused(Some(Duration::from_secs(3)));
        let started = Instant::now();
        let _p = g.acquire().await.unwrap();
        assert!(started.elapsed() >= Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_cut_no_more_than_the_new_limit_run() {
        let g = Governor::local_with(config(4));
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(g.acquire().await.unwrap());
        }
        held.pop().unwrap().refused(None);
        assert_eq!(g.stats().limit, 3);
        // Three still run: a fourth waits past the pause, until one of them ends.
        let waiting = tokio::time::timeout(Duration::from_secs(10), g.acquire()).await;
        assert!(
            waiting.is_err(),
            "a fourth request started over the cut limit"
        );
        held.pop();
        let p = tokio::time::timeout(Duration::from_secs(10), g.acquire()).await;
        assert!(p.is_ok());
    }

    #[tokio::test]
    async fn a_cancelled_wait_loses_no_slot() {
        let g = Governor::local(1);
        let p = g.acquire().await.unwrap();
        let mut waiting = Box::pin(g.acquire());
        assert!(futures::poll!(&mut waiting).is_pending());
        // Handed to the waiting task, which gives up before taking it.
        drop(p);
        assert_eq!(g.stats().held, 1);
        drop(waiting);
        assert_eq!(g.stats().held, 0);
        let _again = g.acquire().await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn shared_governors_stay_under_the_share_together() {
        let store = Arc::new(MemorySlotStore::new());
        let governors: Vec<Governor> = (0..4)
            .map(|_| Governor::shared(config(3), "ACCT", store.clone()))
            .collect();
        let counter = run_all(&governors, 10, Duration::from_millis(30)).await;
        assert!(counter.peak() <= 3, "peak {}", counter.peak());
        assert_eq!(counter.peak(), 3, "the share is used in full");
        for g in &governors {
            g.settle().await;
            assert_eq!(g.stats().held, 0);
        }
        assert_eq!(store.live("ACCT"), 0, "every slot went back to the store");
    }

    #[tokio::test(start_paused = true)]
    async fn each_instance_holds_at_most_its_part_and_the_share_is_still_used_in_full() {
        let store = Arc::new(MemorySlotStore::new());
        let part = GovernorConfig {
            pause: Duration::from_millis(100),
            ..GovernorConfig::for_instances(5, 2)
        };
        assert_eq!(part.max_held, 3, "ceil(5 / 2)");
        let first = Governor::shared(part.clone(), "ACCT", store.clone());
        let second = Governor::shared(part, "ACCT", store.clone());
        // The first instance asks for everything before the second asks at all.
        let counter = Arc::new(InFlight::default());
        let spawn_ten = |g: &Governor| -> Vec<_> {
            (0..10)
                .map(|_| {
                    let (g, c) = (g.clone(), counter.clone());
                    tokio::spawn(async move { c.request(&g, Duration::from_millis(200)).await })
                })
                .collect()
        };
        let mut handles = spawn_ten(&first);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(first.stats().held, 3, "capped at its part");
        handles.extend(spawn_ten(&second));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(second.stats().held, 2, "the rest of the share");
        assert_eq!(counter.peak(), 5);
        for h in handles {
            h.await.unwrap();
        }
        assert_eq!(counter.peak(), 5, "never past the share");
    }

    #[tokio::test(start_paused = true)]
    async fn a_slot_passes_between_local_tasks_without_the_store() {
        let store = Arc::new(MemorySlotStore::new());
        let g = Governor::shared(config(1), "ACCT", store.clone());
        run_all(std::slice::from_ref(&g), 10, Duration::from_millis(5)).await;
        let stats = g.stats();
        assert_eq!(stats.store_acquisitions, 1);
        assert_eq!(stats.handoffs, 9);
        assert_eq!(store.acquire_calls(), 1);
        g.settle().await;
        assert_eq!(store.live("ACCT"), 0, "released once nobody waited");
    }

    #[tokio::test(start_paused = true)]
    async fn a_slot_nobody_waits_for_lingers_then_goes_back() {
        let store = Arc::new(MemorySlotStore::new());
        let g = Governor::shared(config(1), "ACCT", store.clone());
        // One instance: its fair part is the whole share.
        let linger = g.config().fair_linger;
        drop(g.acquire().await.unwrap());
        // Within the linger the same process asks again: no store call, the same lease.
        tokio::time::sleep(linger / 3).await;
        assert_eq!(store.live("ACCT"), 1, "still held while it lingers");
        let p = g.acquire().await.unwrap();
        assert_eq!(store.acquire_calls(), 1);
        drop(p);
        // Nobody asks: after the linger it is back in the store, for other processes.
        tokio::time::sleep(linger * 2).await;
        g.settle().await;
        assert_eq!(store.live("ACCT"), 0);
        let other = Governor::shared(config(1), "ACCT", store.clone());
        let _q = tokio::time::timeout(Duration::from_secs(1), other.acquire())
            .await
            .expect("another process gets it")
            .unwrap();
        // A lingering slot goes back at once when the batch settles (Lambda freezes).
        drop(_q);
        other.settle().await;
        assert_eq!(store.live("ACCT"), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lingering_slot_used_again_leaves_no_timer_behind() {
        let store = Arc::new(MemorySlotStore::new());
        let g = Governor::shared(config(1), "ACCT", store.clone());
        let tasks = || Handle::current().metrics().num_alive_tasks();
        drop(g.acquire().await.unwrap());
        let lingering = tasks();
        // A steady stream of requests: each leaves the slot lingering, the next takes it up.
        for _ in 0..50 {
            let p = g.acquire().await.unwrap();
            drop(p);
        }
        tokio::task::yield_now().await;
        assert_eq!(
            store.acquire_calls(),
            1,
            "the slot was reused, never taken again"
        );
        assert_eq!(
            tasks(),
            lingering,
            "one linger timer at a time, not one per request left to fire"
        );
        g.settle().await;
        assert_eq!(store.live("ACCT"), 0);
    }

    /// A store whose only slot `holder` has just taken for `ttl`.
    async fn only_slot_held_by(holder: &str, ttl: Duration) -> Arc<MemorySlotStore> {
        let store = Arc::new(MemorySlotStore::new());
        assert_eq!(
            store.try_acquire("ACCT", 1, holder, ttl).await.unwrap(),
            Some(0)
        );
        store
    }

    #[tokio::test(start_paused = true)]
    async fn tasks_that_come_and_go_do_not_restart_the_polling() {
        // Another process holds the only slot for a minute.
        let store = only_slot_held_by("other-1", Duration::from_secs(60)).await;
        let g = Governor::shared(config(1), "ACCT", store.clone());
        // A hundred tasks in turn, each giving up after 100 ms: ten seconds of waiting.
        for _ in 0..100 {
            let waited = tokio::time::timeout(Duration::from_millis(100), g.acquire()).await;
            assert!(waited.is_err(), "the slot is held elsewhere");
        }
        // Polls grow from poll_min to poll_max (jittered down to half): a handful to get there,
        // then one per poll_max at least and per half of it at most. A poller per task, each
        // starting from poll_min, would poll four or five times per task.
        let max = g.config().poll_max.as_secs_f64();
        let (fewest, most) = ((10.0 / max) as u64, (10.0 / (max / 2.0)) as u64 + 10);
        let polls = store.acquire_calls();
        assert!(
            (fewest..=most).contains(&polls),
            "{polls} polls in ten seconds, expected {fewest}..={most}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn only_the_fair_part_lingers_long() {
        let store = Arc::new(MemorySlotStore::new());
        // Three slots over two instances: each may hold two, and keep one idle for long.
        let part = GovernorConfig::for_instances(3, 2);
        assert_eq!((part.max_held, part.fair_held), (2, 1));
        assert!(part.fair_linger >= part.linger * 4);
        let g = Governor::shared(part.clone(), "ACCT", store.clone());
        let (a, b) = (g.acquire().await.unwrap(), g.acquire().await.unwrap());
        assert_eq!(store.live("ACCT"), 2);
        drop(a);
        drop(b);
        // The slot beyond the fair part goes back after the short linger ...
        tokio::time::sleep(part.linger * 2).await;
        assert_eq!(store.live("ACCT"), 1, "the fair part is still held");
        // ... so the other instance can have its part and the rest at once.
        let other = Governor::shared(part.clone(), "ACCT", store.clone());
        let (c, d) = (
            other.acquire().await.unwrap(),
            other.acquire().await.unwrap(),
        );
        assert_eq!(store.live("ACCT"), 3);
        // The fair part is used again within its linger without a store call ...
        let calls = store.acquire_calls();
        drop(g.acquire().await.unwrap());
        assert_eq!(store.acquire_calls(), calls);
        // ... and goes back after it.
        tokio::time::sleep(part.fair_linger * 2).await;
        assert_eq!(store.live("ACCT"), 2, "only the other instance's slots");
        drop((c, d));
        other.settle().await;
        assert_eq!(store.live("ACCT"), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slot_beyond_the_fair_part_is_asked_for_now_and_then() {
        let store = Arc::new(MemorySlotStore::new());
        // Five slots over two instances: each may hold three; the first takes its three.
        let part = GovernorConfig::for_instances(5, 2);
        assert_eq!((part.max_held, part.fair_held), (3, 2));
        let first = Governor::shared(part.clone(), "ACCT", store.clone());
        let held: Vec<_> = futures::future::join_all((0..3).map(|_| first.acquire())).await;
        assert_eq!(store.live("ACCT"), 3);
        // The second gets its fair part at once, then waits ten seconds for a third slot.
        let second = Governor::shared(part.clone(), "ACCT", store.clone());
        let fair: Vec<_> = futures::future::join_all((0..2).map(|_| second.acquire())).await;
        assert!(fair.iter().all(Result::is_ok));
        let calls = store.acquire_calls();
        let waited = tokio::time::timeout(Duration::from_secs(10), second.acquire()).await;
        assert!(waited.is_err(), "every slot is held");
        let polls = store.acquire_calls() - calls;
        // One poll per extra_poll at most (per half of it, jittered); the series of a process
        // below its fair part (poll_max 200 ms) would poll 50 to 100 times.
        let extra = part.extra_poll.as_secs_f64();
        let most = (10.0 / (extra / 2.0)) as u64 + 2;
        assert!(
            (5..=most).contains(&polls),
            "{polls} polls, expected 5..={most}"
        );
        // A slot the first instance gives back still reaches the second within extra_poll.
        drop(held);
        first.settle().await;
        let third = tokio::time::timeout(part.extra_poll * 2, second.acquire()).await;
        assert!(matches!(third, Ok(Ok(_))), "a freed slot is taken");
    }

    #[tokio::test(start_paused = true)]
    async fn an_expired_lease_comes_back() {
        // A process that took the only slot and died.
        let ttl = Duration::from_secs(60);
        let store = only_slot_held_by("ghost-1", ttl).await;
        let g = Governor::shared(config(1), "ACCT", store.clone());
        let started = Instant::now();
        let p = tokio::time::timeout(Duration::from_secs(120), g.acquire())
            .await
            .expect("the slot comes back")
            .unwrap();
        assert!(started.elapsed() >= ttl, "{:?}", started.elapsed());
        assert_ne!(store.holder("ACCT", 0).as_deref(), Some("ghost-1"));
        drop(p);
    }

    #[tokio::test(start_paused = true)]
    async fn a_held_lease_is_renewed_and_never_taken_over() {
        let store = Arc::new(MemorySlotStore::new());
        let a = Governor::shared(config(1), "ACCT", store.clone());
        let b = Governor::shared(config(1), "ACCT", store.clone());
        let long = a.acquire().await.unwrap();
        let holder = store.holder("ACCT", 0).unwrap();
        // Five TTLs later the slot is still A's: B waited all along.
        let waited = tokio::time::timeout(Duration::from_secs(300), b.acquire()).await;
        assert!(waited.is_err(), "B took a slot A still held");
        assert_eq!(store.holder("ACCT", 0), Some(holder));
        drop(long);
        let p = tokio::time::timeout(Duration::from_secs(5), b.acquire()).await;
        assert!(p.is_ok(), "B gets the slot once A gives it back");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_store_fails_the_wait_and_recovers() {
        let store = Arc::new(MemorySlotStore::new());
        let g = Governor::shared(config(2), "ACCT", store.clone());
        store.set_failing(true);
        let e = g.acquire().await.unwrap_err();
        assert!(matches!(e, GovernorError::Store(_)), "{e}");
        assert_eq!(
            store.acquire_calls(),
            6,
            "store_attempts tries, then the error"
        );
        store.set_failing(false);
        let _p = g.acquire().await.unwrap();
        assert_eq!(g.stats().held, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_holds_back_every_shared_waiter() {
        let store = Arc::new(MemorySlotStore::new());
        let g = Governor::shared(config(2), "ACCT", store.clone());
        g.acquire().await.unwrap().refused(None);
        assert_eq!(g.stats().limit, 1);
        let started = Instant::now();
        let _p = g.acquire().await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(50));
        // Slot numbers follow the cut limit too.
        assert_eq!(_p.slot(), 0);
    }
}
