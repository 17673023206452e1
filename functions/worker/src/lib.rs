//! The worker: an SQS batch of invoice messages. Answers with partial batch failures
//! (`ReportBatchItemFailures`) naming only the messages worth delivering again.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use billsync::service::worker::{process_batch, Delivery};
use billsync::service::Services;

pub async fn handle(services: &Services, event: SqsEvent) -> SqsBatchResponse {
    let batch = event
        .records
        .into_iter()
        .map(|r| Delivery {
            id: r.message_id.unwrap_or_default(),
            body: r.body.unwrap_or_default(),
        })
        .collect();
    let failed = process_batch(services, batch).await;
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
