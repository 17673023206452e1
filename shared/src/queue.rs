//! The work queue port: a message names one subject to look at (an invoice, a customer, a
//! sweep), nothing more (the worker reads the current state itself). On AWS it is an SQS FIFO
//! queue grouped per subject; locally, an in-process channel.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::billing::model::Source;
use crate::error::Unavailable;

/// Why an invoice was queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Webhook,
    Sweep,
    Fulfilment,
    Retry,
    /// A date range re-read on request (`billsync backfill`).
    Backfill,
}

/// Whether work is live (someone is waiting for it: a webhook's invoice, a person's retry) or
/// bulk (a backlog filling in: a backfill, a new tenant's first sweep). Live work goes first
/// wherever the two wait together: for NetSuite's slots and in the local queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    #[default]
    Live,
    Bulk,
}

impl Class {
    pub fn is_live(&self) -> bool {
        *self == Class::Live
    }
}

/// What a message asks the worker to look at.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Subject {
    /// A billing invoice: run its flow.
    Invoice { id: String },
    /// A billing customer changed: keep the NetSuite customer billsync made in step.
    Customer { id: String },
    /// Run the tenant's sweep now (an event that names no invoice).
    Sweep,
    /// Compare NetSuite's figures for the invoices billsync posted with billing's.
    ReadBack,
    /// Nothing to look at: wakes a worker to take bulk work, which waits in a queue no event
    /// source watches (see [`Queue::wake_bulk`]).
    Drain,
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subject::Invoice { id } => write!(f, "invoice {id}"),
            Subject::Customer { id } => write!(f, "customer {id}"),
            Subject::Sweep => f.write_str("sweep"),
            Subject::ReadBack => f.write_str("read-back"),
            Subject::Drain => f.write_str("drain"),
        }
    }
}

impl Subject {
    pub fn invoice(id: impl Into<String>) -> Self {
        Subject::Invoice { id: id.into() }
    }

    /// The billing invoice, for an invoice subject.
    pub fn invoice_id(&self) -> Option<&str> {
        match self {
            Subject::Invoice { id } => Some(id),
            _ => None,
        }
    }

    /// The key messages of one subject are ordered by: an invoice's own id (as before
    /// subjects were typed), so old and new messages of one invoice share a group.
    fn key(&self) -> String {
        match self {
            Subject::Invoice { id } => id.clone(),
            Subject::Customer { id } => format!("customer:{id}"),
            Subject::Sweep => "*".into(),
            Subject::ReadBack => "read-back".into(),
            Subject::Drain => "drain".into(),
        }
    }
}

/// One unit of work for a tenant: a subject to look at, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "WireMessage")]
pub struct SyncMessage {
    pub tenant: String,
    pub source: Source,
    pub subject: Subject,
    pub reason: Reason,
    /// Identifies the triggering event (webhook delivery, invoice event, retry request), so the
    /// queue drops a second copy of the same trigger.
    pub dedup_id: String,
    /// When it was queued: the lag a flow reports runs from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Live unless said otherwise; messages written before classes were live.
    #[serde(default, skip_serializing_if = "Class::is_live")]
    pub class: Class,
}

/// A message as read from the queue: the typed subject, or the untyped invoice id of messages
/// queued before subjects were typed (`*` for a sweep, `customer:<id>` for a customer).
#[derive(Deserialize)]
struct WireMessage {
    tenant: String,
    source: Source,
    #[serde(default)]
    subject: Option<Subject>,
    #[serde(default)]
    invoice_id: Option<String>,
    reason: Reason,
    dedup_id: String,
    #[serde(default)]
    queued_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    class: Class,
}

impl From<WireMessage> for SyncMessage {
    fn from(w: WireMessage) -> Self {
        let subject = w.subject.unwrap_or_else(|| {
            let id = w.invoice_id.unwrap_or_default();
            match id.strip_prefix("customer:") {
                _ if id == "*" => Subject::Sweep,
                Some(customer) => Subject::Customer {
                    id: customer.to_owned(),
                },
                None => Subject::Invoice { id },
            }
        });
        SyncMessage {
            tenant: w.tenant,
            source: w.source,
            subject,
            reason: w.reason,
            dedup_id: w.dedup_id,
            queued_at: w.queued_at,
            class: w.class,
        }
    }
}

impl SyncMessage {
    /// A message about one invoice.
    pub fn invoice(
        tenant: impl Into<String>,
        source: Source,
        invoice_id: impl Into<String>,
        reason: Reason,
        dedup_id: impl Into<String>,
    ) -> Self {
        SyncMessage {
            tenant: tenant.into(),
            source,
            subject: Subject::invoice(invoice_id),
            reason,
            dedup_id: dedup_id.into(),
            queued_at: Some(chrono::Utc::now()),
            class: Class::Live,
        }
    }

    /// The same message as bulk work.
    pub fn bulk(mut self) -> Self {
        self.class = Class::Bulk;
        self
    }

    /// The billing invoice of an invoice message.
    pub fn invoice_id(&self) -> Option<&str> {
        self.subject.invoice_id()
    }

    /// The billing customer of a customer-change message.
    pub fn customer_id(&self) -> Option<&str> {
        match &self.subject {
            Subject::Customer { id } => Some(id),
            _ => None,
        }
    }

    /// Messages of one subject are processed in order, one at a time.
    pub fn group_id(&self) -> String {
        sqs_id(format!("{}:{}", self.tenant, self.subject.key()))
    }

    /// A deduplication id within SQS's rules, specific to this subject.
    pub fn deduplication_id(&self) -> String {
        sqs_id(format!(
            "{}:{}:{}",
            self.tenant,
            self.subject.key(),
            self.dedup_id
        ))
    }
}

/// An id as SQS takes group and deduplication ids (at most 128 printable ASCII characters):
/// `raw` itself when it is one, else `h-` and the SHA-256 of `raw` (66 characters). Only a
/// digest of the whole id keeps two ids apart: dropping the characters SQS refuses would make
/// `a\u{1}b` and `ab` one id, and cutting a long one would merge those that share a start.
fn sqs_id(raw: String) -> String {
    if raw.len() <= 128 && !raw.is_empty() && raw.chars().all(|c| c.is_ascii_graphic()) {
        return raw;
    }
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(raw.as_bytes());
    format!(
        "h-{}",
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
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
pub struct QueueError(pub Unavailable);

#[async_trait]
pub trait Queue: Send + Sync {
    /// Enqueues every message, or fails; a failure may have enqueued some of them (a retry then
    /// repeats them, and the deduplication ids make that harmless).
    async fn send(&self, messages: &[SyncMessage]) -> Result<(), QueueError>;

    /// How many messages wait and are in progress, and in the dead-letter queue, where the
    /// queue can say (SQS); `None` otherwise.
    async fn depth(&self) -> Result<Option<QueueDepth>, QueueError> {
        Ok(None)
    }

    /// Wakes a worker for bulk work, where bulk work waits apart from live work (on AWS, a
    /// queue of its own that no event source watches): sent after queueing bulk work, and by
    /// a worker that stops while bulk work still waits. Nothing where the two wait together.
    async fn wake_bulk(&self) -> Result<(), QueueError> {
        Ok(())
    }
}

impl SyncMessage {
    /// The message [`Queue::wake_bulk`] sends: it names no tenant and asks for nothing; the
    /// worker it wakes takes bulk work with what its pool has left.
    pub fn drain() -> Self {
        SyncMessage {
            tenant: String::new(),
            source: Source::Maxio,
            subject: Subject::Drain,
            reason: Reason::Backfill,
            dedup_id: fresh_dedup_id("drain"),
            queued_at: Some(chrono::Utc::now()),
            class: Class::Live,
        }
    }
}

/// A queue's backlog, as `billsync status --aws` shows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct QueueDepth {
    /// Waiting to be received.
    pub waiting: u64,
    /// Received and not yet deleted (in a worker's hands).
    pub in_progress: u64,
    /// In the dead-letter queue, when the queue has one.
    pub dead_letters: Option<u64>,
}

/// A message the worker took from the queue itself, with the handle that deletes it.
#[derive(Clone, Debug)]
pub struct Taken {
    /// The queue's id for the message.
    pub id: String,
    pub body: String,
    /// What deletes it (SQS receipt handle).
    pub receipt: String,
    /// How many times the queue has handed it out, this time included (SQS's
    /// `ApproximateReceiveCount`; 1 where the queue cannot say).
    pub receives: u32,
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

    /// Hands taken messages back to come again after their delay (SQS: their visibility
    /// timeout changed). Each counts as a receive towards the queue's dead-letter limit.
    /// Where a queue cannot, they come back after the queue's own visibility timeout.
    async fn defer(&self, _later: &[(String, std::time::Duration)]) -> Result<(), QueueError> {
        Ok(())
    }

    /// Whether the last look at bulk work found some waiting: a worker that stops then wakes
    /// another ([`Queue::wake_bulk`]) so the backlog keeps draining.
    fn bulk_waiting(&self) -> bool {
        false
    }
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
        SyncMessage::invoice("acme", Source::Maxio, "inv_1", Reason::Webhook, dedup)
    }

    #[test]
    fn ids_follow_sqs_rules() {
        let m = msg("wh-5188700101");
        assert_eq!(m.group_id(), "acme:inv_1");
        assert_eq!(m.deduplication_id(), "acme:inv_1:wh-5188700101");
        let long = msg(&"x".repeat(300));
        assert_eq!(long.deduplication_id().len(), 66);
        assert_ne!(
            long.deduplication_id(),
            msg(&"y".repeat(300)).deduplication_id()
        );
        let spaced = msg("a b\nc");
        assert!(spaced
            .deduplication_id()
            .chars()
            .all(|c| c.is_ascii_graphic()));
        // Ids that differ only in characters SQS refuses stay apart.
        assert_ne!(
            msg("a\u{1}b").deduplication_id(),
            msg("ab").deduplication_id()
        );
        assert_ne!(msg("a b").deduplication_id(), msg("ab").deduplication_id());
        // A group id of any length or character is one SQS takes.
        let odd =
            SyncMessage::invoice("acme", Source::Maxio, "ü".repeat(200), Reason::Webhook, "e");
        let group = odd.group_id();
        assert!(
            group.len() <= 128 && group.chars().all(|c| c.is_ascii_graphic()),
            "{group}"
        );
        assert_ne!(
            group,
            SyncMessage::invoice("acme", Source::Maxio, "ü".repeat(201), Reason::Webhook, "e")
                .group_id()
        );
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
    fn messages_are_plain_json_with_a_typed_subject() {
        let sent = msg("e-1");
        let json = serde_json::to_value(&sent).unwrap();
        let mut plain = json.clone();
        let queued = plain.as_object_mut().unwrap().remove("queued_at").unwrap();
        assert!(queued.as_str().unwrap().ends_with('Z'), "{queued}");
        assert_eq!(
            plain,
            serde_json::json!({"tenant": "acme", "source": "maxio", "subject": {"kind": "invoice", "id": "inv_1"}, "reason": "webhook", "dedup_id": "e-1"})
        );
        let back: SyncMessage = serde_json::from_value(json).unwrap();
        assert_eq!(back, sent);
        // A message from before queued_at reads with none, and as live work.
        let old: SyncMessage = serde_json::from_value(plain).unwrap();
        assert_eq!(old.queued_at, None);
        assert_eq!(old.class, Class::Live);
        // Bulk work says so; live work, the default, is not written.
        let bulk = serde_json::to_value(sent.clone().bulk()).unwrap();
        assert_eq!(bulk["class"], "bulk");
        assert_eq!(
            serde_json::from_value::<SyncMessage>(bulk).unwrap().class,
            Class::Bulk
        );
    }

    #[test]
    fn messages_queued_before_subjects_were_typed_still_read() {
        let old = |id: &str| {
            serde_json::from_value::<SyncMessage>(serde_json::json!(
                {"tenant": "acme", "source": "maxio", "invoice_id": id, "reason": "sweep", "dedup_id": "e-1"}
            ))
            .unwrap()
        };
        assert_eq!(old("inv_1").subject, Subject::invoice("inv_1"));
        assert_eq!(old("*").subject, Subject::Sweep);
        assert_eq!(
            old("customer:42").subject,
            Subject::Customer { id: "42".into() }
        );
        // Same FIFO group and deduplication id as the typed message of the same subject.
        assert_eq!(old("inv_1").group_id(), msg("x").group_id());
        assert_eq!(old("customer:42").group_id(), "acme:customer:42");
        assert_eq!(old("*").group_id(), "acme:*");
    }
}
