//! The machinery behind [`super::Governor`]: slot state, hand-off, lingering, store polling,
//! lease keeping and the limit's cuts and growth (see the module docs of `governor`).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use rand::Rng;
use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{GovernorConfig, GovernorError, Permit, SlotStore};

pub(super) enum Backend {
    Local,
    Shared {
        store: Arc<dyn SlotStore>,
        /// This governor's random id, the first half of every holder token.
        process: String,
        /// Numbers this governor's leases (the second half of a holder token).
        leases: AtomicU64,
    },
}

/// A task waiting for a slot. Live work waits ahead of bulk work (see [`super::as_bulk`]):
/// a backfill uses the slots live work leaves, and a webhook's invoice takes the next one.
pub(super) struct Waiter {
    tx: oneshot::Sender<Result<Permit, GovernorError>>,
    pub(super) bulk: bool,
}

impl Waiter {
    pub(super) fn new(tx: oneshot::Sender<Result<Permit, GovernorError>>, bulk: bool) -> Self {
        Waiter { tx, bulk }
    }

    pub(super) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    pub(super) fn send(
        self,
        answer: Result<Permit, GovernorError>,
    ) -> Result<(), Result<Permit, GovernorError>> {
        self.tx.send(answer)
    }
}

pub(super) struct Lease {
    pub(super) id: u64,
    pub(super) token: String,
    /// By this process's monotonic clock, measured from before the store call.
    pub(super) deadline: Instant,
    /// Someone else took the slot after the lease expired.
    pub(super) lost: bool,
}

#[derive(Default)]
pub(super) struct Counters {
    pub(super) refusals: u64,
    pub(super) cuts: u64,
    pub(super) grows: u64,
    pub(super) handoffs: u64,
    pub(super) store_acquisitions: u64,
}

pub(super) struct State {
    pub(super) limit: usize,
    pub(super) lowest_limit: usize,
    pub(super) successes: u32,
    pub(super) epoch: u64,
    pub(super) refusals_in_row: u32,
    pub(super) paused_until: Option<Instant>,
    pub(super) resume_scheduled: bool,
    /// Shared backend: after the store answered that every slot is taken, no poller of this
    /// process asks again before `poll_after`; the wait doubles per such answer up to
    /// `poll_max` (kept here, not per poller, since pollers come and go with waiting tasks).
    pub(super) poll_after: Option<Instant>,
    pub(super) poll_delay: Duration,
    /// Tasks waiting for a slot: live work first come first served, then bulk work so.
    pub(super) waiters: VecDeque<Waiter>,
    /// Slots this process holds: given out as permits or being handed to a waiter.
    pub(super) held: usize,
    /// Local backend: the slot numbers not held.
    pub(super) free: Vec<usize>,
    /// Shared backend: pollers running.
    pub(super) fetching: usize,
    /// Shared backend: the lease of each held slot.
    pub(super) leases: HashMap<usize, Lease>,
    /// Shared backend: held slots no permit uses, lingering.
    pub(super) idle: Vec<Idle>,
    pub(super) keeper_running: bool,
    /// Releases to the store still running.
    pub(super) releases: Vec<JoinHandle<()>>,
    pub(super) counters: Counters,
}

/// A held slot that no permit uses, lingering before it goes back to the store.
pub(super) struct Idle {
    pub(super) slot: usize,
    pub(super) lease: u64,
    /// Whether it lingers for `fair_linger` (within the process's fair part).
    pub(super) fair: bool,
    /// The timer that gives it back. Aborted when the slot is used again, so that an idle
    /// worker is not woken for a linger that no longer matters: at steady load nearly every
    /// finished request leaves a slot lingering, and each timer left to fire was a wake-up.
    pub(super) timer: Option<tokio::task::AbortHandle>,
}

impl Idle {
    pub(super) fn stop_timer(&mut self) {
        if let Some(timer) = self.timer.take() {
            timer.abort();
        }
    }
}

impl State {
    pub(super) fn paused(&self, now: Instant) -> bool {
        self.paused_until.is_some_and(|t| t > now)
    }
}

pub(super) struct Core {
    pub(super) config: GovernorConfig,
    pub(super) pool: String,
    pub(super) backend: Backend,
    pub(super) state: Mutex<State>,
}

/// What to do with a slot given back, decided under the lock and done after it.
pub(super) enum Next {
    HandOff(Waiter, u64),
    Release(Option<String>),
    /// The slot lingers, its timer started.
    Linger,
    /// The slot was to linger, but there is no runtime to time it: give it back now.
    ReleaseIdle,
}

impl Core {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Shared slots this process may hold now: the effective limit, capped per instance.
    pub(super) fn own_limit(&self, st: &State) -> usize {
        st.limit.min(self.config.max_held)
    }

    /// Gives waiting tasks what can be given now: local slots directly, shared slots through
    /// pollers. Channels are only ever sent on outside the lock: a permit that bounces back
    /// (its receiver gone) gives itself back through `give_back`, which takes the lock.
    pub(super) fn pump(self: &Arc<Self>) {
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

    pub(super) fn deliver(self: &Arc<Self>, waiter: Waiter, slot: usize, epoch: u64, lease: u64) {
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
    pub(super) fn give_back(self: &Arc<Self>, slot: usize, lease: u64) {
        self.pass_on(slot, lease, true);
    }

    /// A held slot goes to the first waiting task when it may, else back to the pool (and, if
    /// shared, to the store). `handoff` says whether it comes from a finished request.
    pub(super) fn pass_on(self: &Arc<Self>, slot: usize, lease: u64, handoff: bool) {
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
    pub(super) fn linger_timer(
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
    pub(super) fn release_idle(self: &Arc<Self>, which: Option<(usize, u64)>) {
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
    pub(super) fn back_off_polling(&self) {
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

    pub(super) fn release_to_store(self: &Arc<Self>, slot: usize, token: String) {
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

    pub(super) fn record_success(self: &Arc<Self>) {
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

    pub(super) fn record_refusal(self: &Arc<Self>, epoch: u64, retry_after: Option<Duration>) {
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
    pub(super) fn pause_for(&self, in_row: u32, hint: Option<Duration>) -> Duration {
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
    pub(super) fn schedule_resume(self: &Arc<Self>, st: &mut State) {
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

    pub(super) fn new_token(&self) -> (u64, String) {
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
pub(super) fn cut(limit: usize) -> usize {
    (limit * 3 / 4).min(limit.saturating_sub(1)).max(1)
}

/// A random duration in `[d/2, d]`.
pub(super) fn jitter(d: Duration) -> Duration {
    let max = d.as_micros() as u64;
    Duration::from_micros(rand::rng().random_range(max / 2..=max))
}

/// One poller: takes a slot from the store for the first waiting task, while tasks wait and
/// the limit has room; waits with growing jittered delays while every slot is taken.
pub(super) async fn poll_store(core: Arc<Core>) {
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
pub(super) async fn keep_leases(core: Weak<Core>) {
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
