//! The local mode's worker: runs the in-process queue until it is empty, in SQS-sized batches.

use tokio::sync::mpsc::UnboundedReceiver;

use super::worker::{process_batch, Delivery};
use super::Services;
use crate::queue::SyncMessage;

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
