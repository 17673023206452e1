use billsync::aws::{services_from_env_with, INTAKE_AWS_TIMEOUTS};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    // Built once per cold start and shared by every invocation.
    // Short AWS timeouts: every call of an intake must end within the function's timeout.
    let services = services_from_env_with(INTAKE_AWS_TIMEOUTS).await?;
    let services = &services;
    run(service_fn(move |event: LambdaEvent<_>| async move {
        Ok::<_, Error>(billsync_webhook::handle(services, event.payload).await)
    }))
    .await
}
