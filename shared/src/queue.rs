//! The work queue port: a message names one invoice to look at, nothing more (the worker reads
//! the current state itself). On AWS it is an SQS FIFO queue grouped per invoice; locally, an
//! in-process channel.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::billing::model::Source;

/// Why an invoice was queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Webhook,
    Sweep,
    Fulfilment,
    Retry,
}

/// One unit of work: sync this invoice of this tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncMessage {
    pub tenant: String,
    pub source: Source,
    pub invoice_id: String,
    pub reason: Reason,
    /// Identifies the triggering event (webhook delivery, invoice event, retry request), so the
    /// queue drops a second copy of the same trigger.
    pub dedup_id: String,
}

/// A message whose invoice id starts with this carries a customer change rather than an
/// invoice: "keep the NetSuite customer in step" (no billing invoice id contains a colon).
pub const CUSTOMER_SUBJECT: &str = "customer:";

impl SyncMessage {
    /// The billing customer of a customer-change message.
    pub fn customer_id(&self) -> Option<&str> {
        self.invoice_id.strip_prefix(CUSTOMER_SUBJECT)
    }

    /// Messages of one invoice are processed in order, one at a time.
    pub fn group_id(&self) -> String {
        format!("{}:{}", self.tenant, self.invoice_id)
    }

    /// A deduplication id within SQS's rules (at most 128 characters of printable ASCII),
    /// specific to this invoice.
    pub fn deduplication_id(&self) -> String {
        let raw = format!("{}:{}:{}", self.tenant, self.invoice_id, self.dedup_id);
        let clean: String = raw.chars().filter(|c| c.is_ascii_graphic()).collect();
        if clean.len() <= 128 {
            clean
        } else {
            // Long ids keep uniqueness through a digest.
            use sha2::{Digest, Sha256};
            let digest = Sha256::digest(clean.as_bytes());
            digest.iter().map(|b| format!("{b:02x}")).collect()
        }
    }
}

/// A deduplication id for a trigger that is new every time (a sweep's re-check, a manual
/// retry): two of them in the same instant must not collapse into one.
pub fn fresh_dedup_id(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{:08x}",
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default(),
        rand::random::<u32>()
    )
}

#[derive(Debug, thiserror::Error)]
#[error("queue unavailable: {0}")]
pub struct QueueError(pub String);

#[async_trait]
pub trait Queue: Send + Sync {
    /// Enqueues every message, or fails; a failure may have enqueued some of them (a retry then
    /// repeats them, and the deduplication ids make that harmless).
    async fn send(&self, messages: &[SyncMessage]) -> Result<(), QueueError>;
}

/// A message the worker took from the queue itself, with the handle that deletes it.
#[derive(Clone, Debug)]
pub struct Taken {
    /// The queue's id for the message.
    pub id: String,
    pub body: String,
    /// What deletes it (SQS receipt handle).
    pub receipt: String,
}

/// The worker's own side of the queue: besides the batch it was invoked with, it may take more
/// messages while it has NetSuite slots to fill, and must then delete them itself. A message
/// taken and not deleted comes back after the queue's visibility timeout, as a failed message
/// of an invocation batch does.
#[async_trait]
pub trait Inbox: Send + Sync {
    /// Up to `max` waiting messages (at most 10); an empty answer means the queue has nothing
    /// more for now.
    async fn take(&self, max: usize) -> Result<Vec<Taken>, QueueError>;

    /// Deletes finished messages by receipt.
    async fn delete(&self, receipts: &[String]) -> Result<(), QueueError>;
}

/// An in-process queue for the local mode and tests: messages go to a channel the local worker
/// reads, de-duplicated by deduplication id like SQS FIFO does.
pub mod local {
    use std::collections::HashSet;
    use std::sync::Mutex;

    use async_trait::async_trait;
    use tokio::sync::mpsc;

    use super::{Queue, QueueError, SyncMessage};

    pub struct LocalQueue {
        tx: mpsc::UnboundedSender<SyncMessage>,
        seen: Mutex<HashSet<String>>,
    }

    impl LocalQueue {
        pub fn new() -> (LocalQueue, mpsc::UnboundedReceiver<SyncMessage>) {
            let (tx, rx) = mpsc::unbounded_channel();
            (
                LocalQueue {
                    tx,
                    seen: Mutex::new(HashSet::new()),
                },
                rx,
            )
        }
    }

    #[async_trait]
    impl Queue for LocalQueue {
        async fn send(&self, messages: &[SyncMessage]) -> Result<(), QueueError> {
            for m in messages {
                let fresh = self
                    .seen
                    .lock()
                    .map_err(|_| QueueError("poisoned".into()))?
                    .insert(m.deduplication_id());
                if fresh {
                    self.tx
                        .send(m.clone())
                        .map_err(|_| QueueError("the local worker has stopped".into()))?;
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(dedup: &str) -> SyncMessage {
        SyncMessage {
            tenant: "acme".into(),
            source: Source::Maxio,
            invoice_id: "inv_1".into(),
            reason: Reason::Webhook,
            dedup_id: dedup.into(),
        }
    }

    #[test]
    fn ids_follow_sqs_rules() {
        let m = msg("wh-5188700101");
        assert_eq!(m.group_id(), "acme:inv_1");
        assert_eq!(m.deduplication_id(), "acme:inv_1:wh-5188700101");
        let long = msg(&"x".repeat(300));
        assert_eq!(long.deduplication_id().len(), 64);
        assert_ne!(
            long.deduplication_id(),
            msg(&"y".repeat(300)).deduplication_id()
        );
        let spaced = msg("a b\nc");
        assert!(spaced
            .deduplication_id()
            .chars()
            .all(|c| c.is_ascii_graphic()));
    }

    #[test]
    fn fresh_ids_never_repeat_even_in_the_same_instant() {
        let ids: std::collections::HashSet<_> = (0..1000).map(|_| fresh_dedup_id("due")).collect();
        assert_eq!(ids.len(), 1000);
    }

    #[tokio::test]
    async fn the_local_queue_drops_repeats() {
        let (q, mut rx) = local::LocalQueue::new();
        q.send(&[msg("a"), msg("a"), msg("b")]).await.unwrap();
        assert_eq!(rx.recv().await.unwrap().dedup_id, "a");
        assert_eq!(rx.recv().await.unwrap().dedup_id, "b");
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn messages_are_plain_json() {
        let json = serde_json::to_value(msg("e-1")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"tenant": "acme", "source": "maxio", "invoice_id": "inv_1", "reason": "webhook", "dedup_id": "e-1"})
        );
    }
}
