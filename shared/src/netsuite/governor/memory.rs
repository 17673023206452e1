//! An in-memory [`SlotStore`] with real lease semantics, for tests.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::{SlotStore, SlotStoreError};

/// An in-memory [`SlotStore`] for tests: leases expire by tokio's clock, so paused-time tests
/// can fast-forward through a TTL. Counts calls and can be made to fail.
#[derive(Default)]
pub struct MemorySlotStore {
    inner: Mutex<MemoryInner>,
}

#[derive(Default)]
struct MemoryInner {
    slots: HashMap<(String, usize), (String, Instant)>,
    acquire_calls: u64,
    failing: bool,
}

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
