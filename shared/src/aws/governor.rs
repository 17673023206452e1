//! The NetSuite concurrency slots on DynamoDB: the [`SlotStore`] behind the shared
//! [`crate::netsuite::governor::Governor`], in the same table as the store.
//!
//! | `pk` | `sk` | attributes |
//! | --- | --- | --- |
//! | `GOV#<account id>` | `SLOT#<n>` | `holder` (S, absent when free), `lease_until` (N, epoch ms) |
//!
//! Slot items are created by the first write that takes them and never deleted; releasing
//! removes `holder` and `lease_until`. Every write is an `UpdateItem` with a condition:
//! - take: `attribute_not_exists(holder) OR lease_until < :now`, setting `holder` and
//!   `lease_until = :now + ttl`. DynamoDB evaluates the condition and the write atomically per
//!   item, so of two processes racing for one slot exactly one wins, and a live lease is never
//!   overwritten;
//! - renew: `holder = :me`, moving `lease_until`;
//! - release: `holder = :me`, removing both attributes (a holder whose lease expired and was
//!   taken over releases nothing).
//!
//! Finding a free slot is one strongly consistent Query of the account's partition (a few
//! small items), then a conditional write on a free slot picked at random, so processes
//! polling together rarely collide. The function needs `dynamodb:Query` and
//! `dynamodb:UpdateItem` on the table, which the worker already has.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use rand::seq::SliceRandom;

use super::dynamo::{PARTITION_KEY, SORT_KEY};
use super::unavailable;
use crate::netsuite::governor::{SlotStore, SlotStoreError};

/// The partition of an account's slots is `GOV#<account id>`.
pub const POOL_PREFIX: &str = "GOV#";
/// A slot's sort key is `SLOT#<n>`.
pub const SLOT_PREFIX: &str = "SLOT#";
/// Who holds the slot (S): a process id and a lease number.
pub const HOLDER: &str = "holder";
/// When the holder's lease ends (N, milliseconds since the Unix epoch).
pub const LEASE_UNTIL: &str = "lease_until";

/// Conditional writes tried per [`SlotStore::try_acquire`] when other processes win the race.
const TRIES: usize = 3;

type Item = HashMap<String, AttributeValue>;

/// NetSuite concurrency slots as items of the billsync table.
#[derive(Clone, Debug)]
pub struct DynamoSlotStore {
    client: Client,
    table: String,
}

impl DynamoSlotStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoSlotStore {
            client,
            table: table.into(),
        }
    }

    /// Slots of `pool` with a live lease now, by number, with their holders (for operators
    /// and tests).
    pub async fn holders(&self, pool: &str) -> Result<Vec<(usize, String)>, SlotStoreError> {
        let now = now_ms();
        let mut held: Vec<(usize, String)> = self
            .slots(pool)
            .await?
            .iter()
            .filter_map(|item| live(item, now).map(|(n, h)| (n, h.to_owned())))
            .collect();
        held.sort();
        Ok(held)
    }

    async fn slots(&self, pool: &str) -> Result<Vec<Item>, SlotStoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :slot)")
                .expression_attribute_names("#pk", PARTITION_KEY)
                .expression_attribute_names("#sk", SORT_KEY)
                .expression_attribute_values(":pk", s(pool_pk(pool)))
                .expression_attribute_values(":slot", s(SLOT_PREFIX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(failed)?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(items),
            }
        }
    }
}

#[async_trait]
impl SlotStore for DynamoSlotStore {
    async fn try_acquire(
        &self,
        pool: &str,
        below: usize,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<usize>, SlotStoreError> {
        let items = self.slots(pool).await?;
        let now = now_ms();
        let taken: HashSet<usize> = items
            .iter()
            .filter_map(|item| live(item, now).map(|(n, _)| n))
            .collect();
        let mut free: Vec<usize> = (0..below).filter(|n| !taken.contains(n)).collect();
        free.shuffle(&mut rand::rng());
        for slot in free.into_iter().take(TRIES) {
            let now = now_ms();
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(pool, slot)))
                .update_expression("SET #holder = :me, #until = :until")
                .condition_expression("attribute_not_exists(#holder) OR #until < :now")
                .expression_attribute_names("#holder", HOLDER)
                .expression_attribute_names("#until", LEASE_UNTIL)
                .expression_attribute_values(":me", s(holder))
                .expression_attribute_values(":until", n(now + millis(ttl)))
                .expression_attribute_values(":now", n(now))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(Some(slot)),
                // Another process took it since the query.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|se| se.is_conditional_check_failed_exception()) => {}
                Err(e) => return Err(failed(e)),
            }
        }
        Ok(None)
    }

    async fn renew(
        &self,
        pool: &str,
        slot: usize,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, SlotStoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pool, slot)))
            .update_expression("SET #until = :until")
            .condition_expression("#holder = :me")
            .expression_attribute_names("#holder", HOLDER)
            .expression_attribute_names("#until", LEASE_UNTIL)
            .expression_attribute_values(":me", s(holder))
            .expression_attribute_values(":until", n(now_ms() + millis(ttl)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(failed(e)),
        }
    }

    async fn release(&self, pool: &str, slot: usize, holder: &str) -> Result<(), SlotStoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pool, slot)))
            .update_expression("REMOVE #holder, #until")
            .condition_expression("#holder = :me")
            .expression_attribute_names("#holder", HOLDER)
            .expression_attribute_names("#until", LEASE_UNTIL)
            .expression_attribute_values(":me", s(holder))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // No longer ours: it expired and someone else holds it now.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(failed(e)),
        }
    }
}

fn pool_pk(pool: &str) -> String {
    format!("{POOL_PREFIX}{pool}")
}

fn key(pool: &str, slot: usize) -> Item {
    HashMap::from([
        (PARTITION_KEY.to_owned(), s(pool_pk(pool))),
        (SORT_KEY.to_owned(), s(format!("{SLOT_PREFIX}{slot}"))),
    ])
}

/// The slot number and holder of an item whose lease is live at `now`.
fn live(item: &Item, now: u64) -> Option<(usize, &str)> {
    let slot = match item.get(SORT_KEY) {
        Some(AttributeValue::S(sk)) => sk.strip_prefix(SLOT_PREFIX)?.parse().ok()?,
        _ => return None,
    };
    let holder = match item.get(HOLDER) {
        Some(AttributeValue::S(h)) => h.as_str(),
        _ => return None,
    };
    let until: u64 = match item.get(LEASE_UNTIL) {
        Some(AttributeValue::N(v)) => v.parse().ok()?,
        _ => return None,
    };
    (until >= now).then_some((slot, holder))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(millis)
        .unwrap_or(0)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn failed(e: impl std::error::Error + Send + Sync + 'static) -> SlotStoreError {
    SlotStoreError(unavailable(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::{create_table, moto};

    async fn store() -> (moto::Moto, DynamoSlotStore) {
        let server = moto::server();
        let config = server.sdk_config().await;
        let client = Client::new(&config);
        let table = moto::unique("billsync-gov");
        create_table(&client, &table).await.unwrap();
        (server, DynamoSlotStore::new(client, table))
    }

    #[tokio::test]
    async fn slots_are_taken_once_renewed_and_released_by_their_holder_only() {
        let (_moto, store) = store().await;
        let ttl = Duration::from_secs(60);
        let mut taken = Vec::new();
        for holder in ["a-1", "a-2", "b-1"] {
            taken.push(
                store
                    .try_acquire("ACCT", 3, holder, ttl)
                    .await
                    .unwrap()
                    .unwrap(),
            );
        }
        taken.sort();
        assert_eq!(taken, vec![0, 1, 2], "three distinct slots");
        assert_eq!(
            store.try_acquire("ACCT", 3, "c-1", ttl).await.unwrap(),
            None
        );
        // Another account's slots are separate.
        assert!(store
            .try_acquire("OTHER", 3, "c-1", ttl)
            .await
            .unwrap()
            .is_some());

        let holders = store.holders("ACCT").await.unwrap();
        let (slot, holder) = holders[0].clone();
        assert!(store.renew("ACCT", slot, &holder, ttl).await.unwrap());
        assert!(!store.renew("ACCT", slot, "intruder", ttl).await.unwrap());
        store.release("ACCT", slot, "intruder").await.unwrap();
        assert_eq!(
            store.holders("ACCT").await.unwrap().len(),
            3,
            "not released by a stranger"
        );
        store.release("ACCT", slot, &holder).await.unwrap();
        assert_eq!(store.holders("ACCT").await.unwrap().len(), 2);
        assert_eq!(
            store.try_acquire("ACCT", 3, "c-1", ttl).await.unwrap(),
            Some(slot),
            "the released slot is the free one"
        );
    }
}
