use aws_lambda_events::sqs::SqsEvent;
use billsync::aws::services_from_env;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

// mimalloc keeps freed blocks in per-thread lists that stay in cache: the worker allocates
// and frees small buffers on every NetSuite answer, which glibc's malloc made costly
// (docs/bench/notes.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

// One thread: a worker of 512 MB has about a third of a vCPU, and its tasks mostly wait on
// NetSuite; a single-threaded runtime spends no CPU handing them between threads.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let services = services_from_env().await?;
    let services = &services;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = billsync_worker::deadline_from_epoch_ms(event.context.deadline);
        Ok::<_, Error>(billsync_worker::handle(services, event.payload, deadline).await)
    }))
    .await
}
