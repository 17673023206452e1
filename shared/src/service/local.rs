//! The local mode's worker: runs the queue until it is empty, in SQS-sized batches: the
//! durable outbox of the store's file ([`run_outbox`]), or an in-process channel (tests, the
//! demo).

use tokio::sync::mpsc::UnboundedReceiver;

use super::worker::{process_batch, Delivery};
use super::Services;
use crate::queue::SyncMessage;
use crate::store::sqlite::Outbox;
use crate::store::StoreError;

/// Processes queued messages (and any they cause) until none are left. `on_progress` gets
/// (done, known so far). Returns the number of messages processed and of those that asked to
/// be delivered again (locally they wait for the next sweep, which re-queues due flows).
pub async fn run_until_empty(
    services: &Services,
    rx: &mut UnboundedReceiver<SyncMessage>,
    mut on_progress: impl FnMut(usize, usize),
) -> (usize, usize) {
    let (mut done, mut again) = (0, 0);
    loop {
        let mut batch = Vec::new();
        while let Ok(m) = rx.try_recv() {
            batch.push(m);
        }
        if batch.is_empty() {
            return (done, again);
        }
        let total = done + batch.len();
        for chunk in batch.chunks(10) {
            let deliveries = chunk
                .iter()
                .enumerate()
                .map(|(i, m)| Delivery {
                    id: format!("local-{done}-{i}"),
                    body: serde_json::to_string(m).expect("queue messages serialize"),
                })
                .collect();
            again += process_batch(services, deliveries).await.len();
            done += chunk.len();
            on_progress(done, total);
        }
    }
}

/// Processes the outbox's messages (and any they cause) until none are left, at most one per
/// invoice at a time, finishing each only after its flow has run: a process killed at any
/// moment leaves what it had not finished for the next start. Returns (messages processed,
/// those that asked to be delivered again; locally they wait for the next sweep).
pub async fn run_outbox(
    services: &Services,
    outbox: &Outbox,
    mut on_progress: impl FnMut(usize, usize),
) -> Result<(usize, usize), StoreError> {
    let (mut done, mut again) = (0, 0);
    loop {
        let batch = outbox.pending(10)?;
        if batch.is_empty() {
            return Ok((done, again));
        }
        let deliveries = batch
            .iter()
            .map(|p| Delivery {
                id: p.seq.to_string(),
                body: serde_json::to_string(&p.message).expect("queue messages serialize"),
            })
            .collect();
        again += process_batch(services, deliveries).await.len();
        let seqs: Vec<i64> = batch.iter().map(|p| p.seq).collect();
        outbox.finish(&seqs)?;
        done += batch.len();
        on_progress(done, done + outbox.waiting()? as usize);
    }
}
