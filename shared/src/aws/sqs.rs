//! The work queue on an SQS FIFO queue: one message group per invoice (messages of one invoice
//! run in order, one at a time), and the message's own deduplication id, so SQS drops a second
//! copy of the same trigger sent within its five-minute deduplication window.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::types::{
    BatchResultErrorEntry, ChangeMessageVisibilityBatchRequestEntry,
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use aws_sdk_sqs::Client;

use super::unavailable;
use crate::error::Unavailable;
use crate::queue::{Inbox, Queue, QueueDepth, QueueError, SyncMessage, Taken};

/// SQS takes at most ten entries per `SendMessageBatch`.
const BATCH: usize = 10;

/// What a bulk message's receipt starts with, so a delete goes to the queue it came from.
const BULK_RECEIPT: &str = "bulk:";

/// A [`Queue`] on an SQS FIFO queue (the URL must name a `.fifo` queue), and optionally a
/// second FIFO queue for bulk work: a FIFO queue hands out its oldest messages first, so live
/// work queued behind a backlog in one queue would wait for all of it.
#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
    /// Bulk work's queue; none: bulk work shares the one queue.
    bulk_url: Option<String>,
    /// The last receive from the bulk queue brought messages.
    bulk_seen: Arc<AtomicBool>,
}

impl SqsQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            queue_url: queue_url.into(),
            bulk_url: None,
            bulk_seen: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Bulk work goes to (and is taken from) `url`; an empty URL keeps the one queue.
    pub fn with_bulk(mut self, url: impl Into<String>) -> Self {
        let url = url.into();
        self.bulk_url = (!url.is_empty()).then_some(url);
        self
    }

    /// Up to `max` messages of `url`, waiting up to `wait` seconds for the first.
    async fn receive(&self, url: &str, max: usize, wait: i32) -> Result<Vec<Taken>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(max.clamp(1, BATCH) as i32)
            .wait_time_seconds(wait)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| QueueError(unavailable(e)))?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                let receives = m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                Some(Taken {
                    receives,
                    id: m.message_id?,
                    body: m.body.unwrap_or_default(),
                    receipt: m.receipt_handle?,
                })
            })
            .collect())
    }
}

/// An approximate count attribute as a number (absent or unreadable reads as zero).
fn count(
    attrs: &std::collections::HashMap<QueueAttributeName, String>,
    name: QueueAttributeName,
) -> u64 {
    attrs.get(&name).and_then(|v| v.parse().ok()).unwrap_or(0)
}

impl SqsQueue {
    async fn attributes(
        &self,
        url: &str,
        names: &[QueueAttributeName],
    ) -> Result<std::collections::HashMap<QueueAttributeName, String>, QueueError> {
        let mut request = self.client.get_queue_attributes().queue_url(url);
        for n in names {
            request = request.attribute_names(n.clone());
        }
        let out = request
            .send()
            .await
            .map_err(|e| QueueError(unavailable(e)))?;
        Ok(out.attributes.unwrap_or_default())
    }
}

#[async_trait]
impl Queue for SqsQueue {
    /// The queue's approximate counts, and its dead-letter queue's (found by the redrive
    /// policy's ARN: the queue's name is its last part).
    async fn depth(&self) -> Result<Option<QueueDepth>, QueueError> {
        use QueueAttributeName as A;
        let attrs = self
            .attributes(
                &self.queue_url,
                &[
                    A::ApproximateNumberOfMessages,
                    A::ApproximateNumberOfMessagesNotVisible,
                    A::RedrivePolicy,
                ],
            )
            .await?;
        let dlq_name = attrs
            .get(&A::RedrivePolicy)
            .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
            .and_then(|p| p["deadLetterTargetArn"].as_str().map(str::to_owned))
            .and_then(|arn| arn.rsplit(':').next().map(str::to_owned));
        let dead_letters = match dlq_name {
            None => None,
            Some(name) => {
                let url = self
                    .client
                    .get_queue_url()
                    .queue_name(name)
                    .send()
                    .await
                    .map_err(|e| QueueError(unavailable(e)))?
                    .queue_url
                    .unwrap_or_default();
                let dlq = self
                    .attributes(&url, &[A::ApproximateNumberOfMessages])
                    .await?;
                Some(count(&dlq, A::ApproximateNumberOfMessages))
            }
        };
        let mut depth = QueueDepth {
            waiting: count(&attrs, A::ApproximateNumberOfMessages),
            in_progress: count(&attrs, A::ApproximateNumberOfMessagesNotVisible),
            dead_letters,
        };
        // Bulk work counts with live work: both are the backlog a person looks at.
        if let Some(bulk_url) = &self.bulk_url {
            let bulk = self
                .attributes(
                    bulk_url,
                    &[
                        A::ApproximateNumberOfMessages,
                        A::ApproximateNumberOfMessagesNotVisible,
                    ],
                )
                .await?;
            depth.waiting += count(&bulk, A::ApproximateNumberOfMessages);
            depth.in_progress += count(&bulk, A::ApproximateNumberOfMessagesNotVisible);
        }
        Ok(Some(depth))
    }

    /// Live messages to the queue, bulk ones to the bulk queue where there is one.
    async fn send(&self, messages: &[SyncMessage]) -> Result<(), QueueError> {
        let Some(bulk_url) = &self.bulk_url else {
            return self.send_to(&self.queue_url, messages).await;
        };
        let (live, bulk): (Vec<SyncMessage>, Vec<SyncMessage>) =
            messages.iter().cloned().partition(|m| m.class.is_live());
        if !live.is_empty() {
            self.send_to(&self.queue_url, &live).await?;
        }
        if !bulk.is_empty() {
            self.send_to(bulk_url, &bulk).await?;
        }
        Ok(())
    }

    async fn wake_bulk(&self) -> Result<(), QueueError> {
        if self.bulk_url.is_none() {
            return Ok(());
        }
        self.send_to(&self.queue_url, &[SyncMessage::drain()]).await
    }
}

impl SqsQueue {
    /// Sends every batch even when an entry of an earlier one fails, then reports the failures:
    /// more work lands, and a retry of the whole call is harmless thanks to deduplication.
    async fn send_to(&self, url: &str, messages: &[SyncMessage]) -> Result<(), QueueError> {
        // A webhook queues one message: a plain SendMessage, the lighter call for one.
        if let [m] = messages {
            self.client
                .send_message()
                .queue_url(url)
                .message_body(body(m)?)
                .message_group_id(m.group_id())
                .message_deduplication_id(m.deduplication_id())
                .send()
                .await
                .map_err(|e| QueueError(unavailable(e)))?;
            return Ok(());
        }
        in_batches(messages, "enqueued", |chunk| async move {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, m)| entry(i, m))
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .send_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| QueueError(unavailable(e)))?;
            Ok(out.failed)
        })
        .await
    }
}

#[async_trait]
impl Inbox for SqsQueue {
    /// A long poll of one second: SQS answers at once when messages wait, and an empty queue
    /// costs the worker at most that second before it finishes. With a bulk queue, live
    /// messages first and bulk ones for the places left: while bulk work flows the live queue
    /// is looked at without waiting and the bulk queue waits the second instead, so a backlog
    /// is taken as fast as the pool frees places and live work still comes first each time.
    async fn take(&self, max: usize) -> Result<Vec<Taken>, QueueError> {
        let Some(bulk_url) = &self.bulk_url else {
            return self.receive(&self.queue_url, max, 1).await;
        };
        let flowing = self.bulk_seen.load(Ordering::Relaxed);
        let mut taken = self
            .receive(&self.queue_url, max, if flowing { 0 } else { 1 })
            .await?;
        if taken.len() < max {
            let wait = if flowing && taken.is_empty() { 1 } else { 0 };
            let bulk = self.receive(bulk_url, max - taken.len(), wait).await?;
            self.bulk_seen.store(!bulk.is_empty(), Ordering::Relaxed);
            taken.extend(bulk.into_iter().map(|t| Taken {
                receipt: format!("{BULK_RECEIPT}{}", t.receipt),
                ..t
            }));
        }
        Ok(taken)
    }

    fn bulk_waiting(&self) -> bool {
        self.bulk_seen.load(Ordering::Relaxed)
    }

    async fn defer(&self, later: &[(String, Duration)]) -> Result<(), QueueError> {
        let (live, bulk) = self.by_queue(later.to_vec(), |(r, _)| r);
        let live_done = self.defer_in(&self.queue_url, &live).await;
        if let Some(bulk_url) = &self.bulk_url {
            self.defer_in(bulk_url, &bulk).await?;
        }
        live_done
    }

    async fn delete(&self, receipts: &[String]) -> Result<(), QueueError> {
        let (live, bulk) = self.by_queue(receipts.to_vec(), |r| r);
        let live_done = self.delete_from(&self.queue_url, &live).await;
        if let Some(bulk_url) = &self.bulk_url {
            self.delete_from(bulk_url, &bulk).await?;
        }
        live_done
    }
}

impl SqsQueue {
    /// Items by the queue their receipt belongs to: the live queue's, and the bulk queue's
    /// with the receipt as SQS gave it (without the prefix [`Inbox::take`] marked it with).
    fn by_queue<T>(
        &self,
        items: Vec<T>,
        receipt: impl Fn(&mut T) -> &mut String,
    ) -> (Vec<T>, Vec<T>) {
        let (mut live, mut bulk) = (Vec::new(), Vec::new());
        for mut item in items {
            let r = receipt(&mut item);
            if self.bulk_url.is_some() && r.starts_with(BULK_RECEIPT) {
                r.drain(..BULK_RECEIPT.len());
                bulk.push(item);
            } else {
                live.push(item);
            }
        }
        (live, bulk)
    }
}

impl SqsQueue {
    async fn defer_in(&self, url: &str, later: &[(String, Duration)]) -> Result<(), QueueError> {
        if later.is_empty() {
            return Ok(());
        }
        in_batches(later, "deferred", |chunk| async move {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, (r, d))| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(r)
                        // SQS's ceiling for a visibility timeout is twelve hours.
                        .visibility_timeout(d.as_secs().clamp(1, 43_200) as i32)
                        .build()
                        .map_err(|e| QueueError(Unavailable::caused_by("visibility entry", e)))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .change_message_visibility_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| QueueError(unavailable(e)))?;
            Ok(out.failed)
        })
        .await
    }

    async fn delete_from(&self, url: &str, receipts: &[String]) -> Result<(), QueueError> {
        if receipts.is_empty() {
            return Ok(());
        }
        in_batches(receipts, "deleted", |chunk| async move {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(r)
                        .build()
                        .map_err(|e| QueueError(Unavailable::caused_by("delete entry", e)))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .delete_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| QueueError(unavailable(e)))?;
            Ok(out.failed)
        })
        .await
    }
}

/// Runs `call` on every chunk of at most [`BATCH`] items, even after an entry of an earlier
/// chunk failed, then reports the failed entries together (`what` names what did not happen).
async fn in_batches<'a, T, F, Fut>(items: &'a [T], what: &str, call: F) -> Result<(), QueueError>
where
    F: Fn(&'a [T]) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<BatchResultErrorEntry>, QueueError>>,
{
    let mut failed = Vec::new();
    for chunk in items.chunks(BATCH) {
        failed.extend(call(chunk).await?);
    }
    all_done(what, &failed, items.len())
}

fn body(m: &SyncMessage) -> Result<String, QueueError> {
    serde_json::to_string(m).map_err(|e| QueueError(Unavailable::caused_by("message encoding", e)))
}

fn entry(index: usize, m: &SyncMessage) -> Result<SendMessageBatchRequestEntry, QueueError> {
    SendMessageBatchRequestEntry::builder()
        .id(index.to_string())
        .message_body(body(m)?)
        .message_group_id(m.group_id())
        .message_deduplication_id(m.deduplication_id())
        .build()
        .map_err(|e| QueueError(Unavailable::caused_by("message entry", e)))
}

/// Names how many entries failed and SQS's error codes; never a body, and not SQS's messages
/// either, which may quote parts of one.
fn all_done(what: &str, failed: &[BatchResultErrorEntry], total: usize) -> Result<(), QueueError> {
    if failed.is_empty() {
        return Ok(());
    }
    let mut codes: Vec<&str> = failed.iter().map(|f| f.code()).collect();
    codes.sort_unstable();
    codes.dedup();
    Err(QueueError(Unavailable::new(format!(
        "{} of {total} messages were not {what} (SQS codes: {})",
        failed.len(),
        codes.join(", ")
    ))))
}

/// A queue message body that is not a [`SyncMessage`].
#[derive(Debug, thiserror::Error)]
#[error("not a sync message: {0}")]
pub struct MessageError(String);

/// Reads a message body as the worker receives it.
pub fn parse_message(body: &str) -> Result<SyncMessage, MessageError> {
    serde_json::from_str(body).map_err(|e| MessageError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};

    use super::*;
    use crate::billing::model::Source;
    use crate::queue::Reason;

    fn msg(invoice: &str, dedup: &str) -> SyncMessage {
        SyncMessage::invoice("acme", Source::Maxio, invoice, Reason::Webhook, dedup)
    }

    async fn fifo_queue(client: &Client) -> String {
        let name = format!("{}.fifo", crate::aws::moto::unique("billsync-test"));
        client
            .create_queue()
            .queue_name(name)
            .attributes(QueueAttributeName::FifoQueue, "true")
            .send()
            .await
            .expect("create the FIFO queue")
            .queue_url
            .expect("a queue URL")
    }

    /// Receives (and deletes) until `expected` messages arrived, then checks nothing else is
    /// waiting. Returns (group id, body) in arrival order.
    async fn drain(client: &Client, url: &str, expected: usize) -> Vec<(String, String)> {
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let out = client
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
                .send()
                .await
                .expect("receive");
            let messages = out.messages.unwrap_or_default();
            let done = got.len() >= expected && messages.is_empty();
            for m in messages {
                let group = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
                    .cloned()
                    .expect("FIFO messages carry their group id");
                got.push((group, m.body().unwrap_or_default().to_owned()));
                client
                    .delete_message()
                    .queue_url(url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
            if done {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} of {expected} messages arrived",
                got.len()
            );
        }
    }

    #[tokio::test]
    async fn batches_of_ten_keep_group_order_and_bodies() {
        let moto = crate::aws::moto::server();
        let client = Client::new(&moto.sdk_config().await);
        let url = fifo_queue(&client).await;
        let queue = SqsQueue::new(client.clone(), &url);

        // Five invoices, five triggers each, interleaved: 25 messages, three batches.
        let sent: Vec<SyncMessage> = (0..5)
            .flat_map(|trigger| {
                (0..5).map(move |inv| msg(&format!("inv_{inv}"), &format!("e-{trigger}")))
            })
            .collect();
        queue.send(&sent).await.unwrap();

        let got = drain(&client, &url, sent.len()).await;
        assert_eq!(got.len(), 25, "every message arrives exactly once");
        let mut per_group: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (group, body) in &got {
            let m = parse_message(body).unwrap();
            assert_eq!(&m.group_id(), group);
            assert!(sent.contains(&m));
            per_group.entry(group.clone()).or_default().push(m.dedup_id);
        }
        assert_eq!(per_group.len(), 5);
        for triggers in per_group.values() {
            assert_eq!(
                triggers,
                &["e-0", "e-1", "e-2", "e-3", "e-4"],
                "in send order"
            );
        }
    }

    #[tokio::test]
    async fn depth_counts_waiting_in_progress_and_dead_letters() {
        let moto = crate::aws::moto::server();
        let client = Client::new(&moto.sdk_config().await);
        let dlq_url = fifo_queue(&client).await;
        let dlq_arn = client
            .get_queue_attributes()
            .queue_url(&dlq_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()[&QueueAttributeName::QueueArn]
            .clone();
        let name = format!("{}.fifo", crate::aws::moto::unique("billsync-depth"));
        let url = client
            .create_queue()
            .queue_name(name)
            .attributes(QueueAttributeName::FifoQueue, "true")
            .attributes(
                QueueAttributeName::RedrivePolicy,
                serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 10})
                    .to_string(),
            )
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let queue = SqsQueue::new(client.clone(), &url);
        let sent: Vec<SyncMessage> = (0..3)
            .map(|i| msg(&format!("inv_{i}"), &format!("e-{i}")))
            .collect();
        queue.send(&sent).await.unwrap();
        client
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(1)
            .send()
            .await
            .unwrap();
        let depth = queue.depth().await.unwrap().expect("SQS tells its depth");
        assert_eq!(
            depth,
            QueueDepth {
                waiting: 2,
                in_progress: 1,
                dead_letters: Some(0)
            }
        );
    }

    /// With a bulk queue: bulk messages wait there and live ones in the queue; a take hands
    /// out live messages first though the bulk ones are older, then bulk ones for the places
    /// left; deletes go to the queue each came from; a wake is a drain message on the live
    /// queue (which the worker's event source watches).
    #[tokio::test]
    async fn live_work_is_taken_before_an_older_bulk_backlog() {
        let moto = crate::aws::moto::server();
        let client = Client::new(&moto.sdk_config().await);
        let (live_url, bulk_url) = (fifo_queue(&client).await, fifo_queue(&client).await);
        let q = SqsQueue::new(client.clone(), &live_url).with_bulk(&bulk_url);
        let backlog: Vec<SyncMessage> = (0..25)
            .map(|n| msg(&format!("old-{n}"), "b").bulk())
            .collect();
        q.send(&backlog).await.unwrap();
        q.send(&[msg("today", "w")]).await.unwrap();
        let invoice = |t: &Taken| {
            serde_json::from_str::<SyncMessage>(&t.body)
                .unwrap()
                .invoice_id()
                .unwrap()
                .to_owned()
        };
        let first = q.take(10).await.unwrap();
        assert_eq!(first.len(), 10);
        assert_eq!(invoice(&first[0]), "today", "live first");
        assert!(first[1..].iter().all(|t| invoice(t).starts_with("old-")));
        assert!(q.bulk_waiting());
        q.delete(&first.iter().map(|t| t.receipt.clone()).collect::<Vec<_>>())
            .await
            .unwrap();
        // What is left: 16 bulk messages, none live.
        let mut rest = 0;
        loop {
            let more = q.take(10).await.unwrap();
            if more.is_empty() {
                break;
            }
            rest += more.len();
            q.delete(&more.iter().map(|t| t.receipt.clone()).collect::<Vec<_>>())
                .await
                .unwrap();
        }
        assert_eq!(
            rest, 16,
            "every bulk message once, each deleted from its queue"
        );
        assert!(!q.bulk_waiting());

        q.wake_bulk().await.unwrap();
        let woken = drain(&client, &live_url, 1).await;
        let drain_message: SyncMessage = serde_json::from_str(&woken[0].1).unwrap();
        assert_eq!(drain_message.subject, crate::queue::Subject::Drain);
        // Without a bulk queue there is nothing to wake.
        let one = SqsQueue::new(client.clone(), &live_url);
        one.wake_bulk().await.unwrap();
        assert!(drain(&client, &live_url, 0).await.is_empty());
    }

    #[tokio::test]
    async fn a_repeated_trigger_is_delivered_once() {
        let moto = crate::aws::moto::server();
        let client = Client::new(&moto.sdk_config().await);
        let url = fifo_queue(&client).await;
        let queue = SqsQueue::new(client.clone(), &url);

        let first = msg("inv_1", "wh-5188700101");
        queue.send(std::slice::from_ref(&first)).await.unwrap();
        queue.send(std::slice::from_ref(&first)).await.unwrap();
        // Same invoice, another trigger: a distinct deduplication id, so it is kept.
        let second = msg("inv_1", "wh-5188700102");
        queue.send(std::slice::from_ref(&second)).await.unwrap();

        let got = drain(&client, &url, 2).await;
        let bodies: Vec<SyncMessage> = got.iter().map(|(_, b)| parse_message(b).unwrap()).collect();
        assert_eq!(bodies, [first, second]);
    }

    #[tokio::test]
    async fn an_unreachable_queue_is_an_error_without_bodies() {
        let moto = crate::aws::moto::server();
        let client = Client::new(&moto.sdk_config().await);
        let url = fifo_queue(&client).await;
        let missing = format!("{}-gone.fifo", url.trim_end_matches(".fifo"));
        let queue = SqsQueue::new(client, missing);
        let e = queue
            .send(&[msg("inv_1", "secretive-trigger")])
            .await
            .unwrap_err()
            .to_string();
        assert!(!e.contains("secretive-trigger"), "{e}");
    }

    #[test]
    fn failed_entries_are_counted_not_quoted() {
        let entry = |id: &str, code: &str| {
            BatchResultErrorEntry::builder()
                .id(id)
                .sender_fault(true)
                .code(code)
                .message("body {\"tenant\":\"acme\"} rejected")
                .build()
                .unwrap()
        };
        let e = all_done(
            "enqueued",
            &[
                entry("0", "InvalidParameterValue"),
                entry("3", "InvalidParameterValue"),
            ],
            25,
        )
        .unwrap_err()
        .to_string();
        assert!(all_done("deleted", &[], 3).is_ok());
        assert_eq!(
            e,
            "queue unavailable: 2 of 25 messages were not enqueued (SQS codes: InvalidParameterValue)"
        );
    }

    #[test]
    fn message_bodies_parse_back() {
        let m = msg("inv_7", "e-1");
        assert_eq!(
            parse_message(&serde_json::to_string(&m).unwrap()).unwrap(),
            m
        );
        assert!(parse_message("{\"tenant\": \"acme\"}").is_err());
        assert!(parse_message("not json").is_err());
    }
}
