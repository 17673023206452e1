//! Manual retry by function invoke: `{"tenant", "invoices": [...]}`, `{"tenant", "all_failed":
//! true}` or `{"tenant", "list": true}`. Answers with what it queued (and the error log).

use billsync::service::retry::{handle as retry, RetryRequest, RetryResponse};
use billsync::service::{ServiceError, Services};

pub async fn handle(
    services: &Services,
    request: RetryRequest,
) -> Result<RetryResponse, ServiceError> {
    retry(services, &request).await
}
