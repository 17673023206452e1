//! The worker: an SQS batch of invoice messages. Answers with partial batch failures
//! (`ReportBatchItemFailures`) naming only the messages worth delivering again. While its
//! NetSuite slots have room and time is left, it also takes more messages from the queue
//! itself (see `billsync::service::worker::drain_batch`).

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use billsync::service::worker::{drain_batch, Delivery, DRAIN_MARGIN};
use billsync::service::Services;
use tokio::time::Instant;

/// Handles one invocation; `deadline` is when Lambda stops it. More messages are taken only
/// until [`DRAIN_MARGIN`] before it.
pub async fn handle(services: &Services, event: SqsEvent, deadline: Instant) -> SqsBatchResponse {
    let batch = event
        .records
        .into_iter()
        .map(|r| Delivery {
            id: r.message_id.unwrap_or_default(),
            body: r.body.unwrap_or_default(),
        })
        .collect();
    let until = deadline
        .checked_sub(DRAIN_MARGIN)
        .unwrap_or_else(Instant::now);
    let failed = drain_batch(services, batch, until).await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    response
}

/// The invocation's deadline on this process's clock, from Lambda's (milliseconds since the
/// Unix epoch).
pub fn deadline_from_epoch_ms(deadline_ms: u64) -> Instant {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    Instant::now() + std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}
