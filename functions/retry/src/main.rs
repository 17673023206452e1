use billsync::aws::services_from_env;
use billsync::service::retry::RetryRequest;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let services = services_from_env().await?;
    let services = &services;
    run(service_fn(
        move |event: LambdaEvent<RetryRequest>| async move {
            // A failure reaches the runtime as errorType Retryable or NonRetryable.
            billsync_retry::handle(services, event.payload).await
        },
    ))
    .await
}
