//! The AWS adapters of the ports: [`DynamoStore`] for [`crate::store::Store`], [`SqsQueue`] for
//! [`crate::queue::Queue`], [`SecretsManagerSource`] for [`crate::secrets::SecretSource`] and
//! [`DynamoSlotStore`] for the NetSuite concurrency slots ([`crate::netsuite::SlotStore`]).
//!
//! Clients are built from [`load_sdk_config`], which takes endpoints, region and credentials from
//! the standard AWS environment. Pointing billsync at a local AWS-API server is a matter of
//! setting `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_DYNAMODB`, ...), never of a code switch.
//! [`services_from_env`] wires the adapters together for a Lambda function.

pub mod dynamo;
pub mod governor;
pub mod secrets;
pub mod sqs;

#[cfg(any(test, feature = "test-support"))]
pub mod moto;

use std::sync::Arc;
use std::time::Duration;

use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::SdkConfig;

pub use dynamo::{create_table, DynamoStore};
pub use governor::DynamoSlotStore;
pub use secrets::{SecretsManagerSource, SECRET_CACHE_TTL};
pub use sqs::{parse_message, MessageError, SqsQueue};

use crate::secrets::CachedSecrets;
use crate::service::Services;

/// The environment variables a Lambda function is configured with (`template.yaml` sets them).
pub const TABLE_NAME_ENV: &str = "TABLE_NAME";
pub const QUEUE_URL_ENV: &str = "QUEUE_URL";
/// Optional: the FIFO queue bulk work (backfills, a tenant's first sweep) waits in, apart from
/// live work; unset, both share `QUEUE_URL`.
pub const BULK_QUEUE_URL_ENV: &str = "BULK_QUEUE_URL";
/// Optional; [`DEFAULT_SECRET_PREFIX`] when unset.
pub const SECRET_PREFIX_ENV: &str = "SECRET_PREFIX";
pub const DEFAULT_SECRET_PREFIX: &str = "billsync/";
/// Optional, 1 when unset: how many worker instances run at once (the worker's SQS event
/// source `MaximumConcurrency`); each holds at most `ceil(share / instances)` NetSuite slots.
pub const WORKER_INSTANCES_ENV: &str = "WORKER_INSTANCES";

/// How long a function instance keeps a tenant's settings before reading them again: a
/// settings change reaches every instance within this.
pub const SETTINGS_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// How long one attempt of an AWS call may take before it is abandoned (and retried by the
/// SDK's standard retry policy). DynamoDB and SQS answer in milliseconds; the longest wait is
/// an SQS receive's 1 s long poll.
pub const AWS_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an AWS call may take with its retries.
pub const AWS_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long an AWS call may take: one attempt, and all attempts with retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AwsTimeouts {
    pub attempt: Duration,
    pub call: Duration,
}

/// Every function but the webhook's: [`AWS_ATTEMPT_TIMEOUT`], [`AWS_CALL_TIMEOUT`].
pub const DEFAULT_AWS_TIMEOUTS: AwsTimeouts = AwsTimeouts {
    attempt: AWS_ATTEMPT_TIMEOUT,
    call: AWS_CALL_TIMEOUT,
};

/// The webhook function's: its [`crate::budgets::INTAKE_AWS_CALLS`] calls in a row must end
/// within its timeout, or Lambda could stop it between marking a delivery seen and queueing
/// it (or forgetting it when the queue refused), and the sender's retry would be dropped as a
/// repeat.
pub const INTAKE_AWS_TIMEOUTS: AwsTimeouts = AwsTimeouts {
    attempt: Duration::from_millis(700),
    call: Duration::from_millis(1500),
};

/// The SDK configuration every client is built from, loaded once at start-up.
pub async fn load_sdk_config() -> SdkConfig {
    sdk_loader().load().await
}

/// aws-config's loader with billsync's settings, before endpoint, region and credentials.
///
/// Calls are bounded by [`AWS_ATTEMPT_TIMEOUT`] and [`AWS_CALL_TIMEOUT`] instead of the SDK's
/// stalled-stream protection: that guards a body which stops moving (it was made for large
/// S3 transfers), not an answer that never starts, and it costs a large share of the client
/// CPU of a small DynamoDB call (`billsync-bench floor` measures it), of which the worker
/// makes one or two per invoice.
pub fn sdk_loader() -> aws_config::ConfigLoader {
    sdk_loader_with(DEFAULT_AWS_TIMEOUTS)
}

/// [`sdk_loader`] with other call timeouts.
pub fn sdk_loader_with(timeouts: AwsTimeouts) -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(timeouts.attempt)
                .operation_timeout(timeouts.call)
                .build(),
        )
}

/// A setting the process was started without.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {0} is not set")]
pub struct MissingSetting(pub &'static str);

impl MissingSetting {
    /// What to set it to, for a person running the CLI against a deployment.
    pub fn advice(&self) -> String {
        let output = match self.0 {
            TABLE_NAME_ENV => "TableName",
            QUEUE_URL_ENV => "QueueUrl",
            _ => return self.to_string(),
        };
        format!(
            "{self}: set it to the stack's {output} output (aws cloudformation describe-stacks --stack-name <stack> --query \"Stacks[0].Outputs\")"
        )
    }
}

/// Where billsync's resources are on AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsSettings {
    pub table_name: String,
    pub queue_url: String,
    /// Empty: bulk work shares `queue_url`.
    pub bulk_queue_url: String,
    pub secret_prefix: String,
    pub worker_instances: usize,
}

impl AwsSettings {
    pub fn from_env() -> Result<Self, MissingSetting> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Reads the settings through `lookup` (the environment, or a map in tests); an empty value
    /// counts as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, MissingSetting> {
        let queue = lookup(QUEUE_URL_ENV).filter(|v| !v.is_empty());
        let settings = Self::from_lookup_read_only(lookup)?;
        Ok(AwsSettings {
            queue_url: queue.ok_or(MissingSetting(QUEUE_URL_ENV))?,
            ..settings
        })
    }

    /// For a command that only reads: the queue is optional (its depth is shown when
    /// `QUEUE_URL` is set; nothing is sent).
    pub fn from_lookup_read_only(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, MissingSetting> {
        let get = |key| lookup(key).filter(|v| !v.is_empty());
        Ok(AwsSettings {
            table_name: get(TABLE_NAME_ENV).ok_or(MissingSetting(TABLE_NAME_ENV))?,
            queue_url: get(QUEUE_URL_ENV).unwrap_or_default(),
            bulk_queue_url: get(BULK_QUEUE_URL_ENV).unwrap_or_default(),
            secret_prefix: get(SECRET_PREFIX_ENV).unwrap_or_else(|| DEFAULT_SECRET_PREFIX.into()),
            worker_instances: get(WORKER_INSTANCES_ENV)
                .and_then(|v| v.trim().parse::<usize>().ok())
                .filter(|n| *n > 0)
                .unwrap_or(1),
        })
    }

    /// The ports on AWS. Secrets are cached for [`SECRET_CACHE_TTL`]. NetSuite concurrency
    /// slots are leases in the same table, shared by every function instance; the queue is
    /// also the worker's inbox; settings are kept for [`SETTINGS_CACHE_TTL`].
    pub fn services(&self, clients: AwsClients) -> Services {
        let secrets = SecretsManagerSource::new(clients.secretsmanager, &self.secret_prefix);
        let queue =
            Arc::new(SqsQueue::new(clients.sqs, &self.queue_url).with_bulk(&self.bulk_queue_url));
        let sends: Arc<dyn crate::queue::Queue> = if self.queue_url.is_empty() {
            Arc::new(NoQueue)
        } else {
            queue.clone()
        };
        Services::new(
            Arc::new(DynamoStore::new(clients.dynamodb.clone(), &self.table_name)),
            sends,
            Arc::new(CachedSecrets::new(secrets, SECRET_CACHE_TTL)),
        )
        .with_worker_instances(self.worker_instances)
        .with_slot_store(Arc::new(DynamoSlotStore::new(
            clients.dynamodb,
            &self.table_name,
        )))
        .with_inbox(queue)
        .with_settings_ttl(SETTINGS_CACHE_TTL)
    }
}

/// The queue of a read-only command run without `QUEUE_URL`: nothing to send, no depth.
struct NoQueue;

#[async_trait::async_trait]
impl crate::queue::Queue for NoQueue {
    async fn send(
        &self,
        _messages: &[crate::queue::SyncMessage],
    ) -> Result<(), crate::queue::QueueError> {
        Err(crate::queue::QueueError(crate::error::Unavailable::new(
            MissingSetting(QUEUE_URL_ENV).advice(),
        )))
    }
}

/// The AWS clients the ports run on: from one SDK configuration, or built by the caller (tests
/// and the benchmark add interceptors that watch every call).
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub secretsmanager: aws_sdk_secretsmanager::Client,
}

impl AwsClients {
    pub fn new(config: &SdkConfig) -> Self {
        AwsClients {
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
            secretsmanager: aws_sdk_secretsmanager::Client::new(config),
        }
    }
}

/// The DynamoDB store named by `TABLE_NAME`, for operator commands that need only the table.
pub async fn store_from_env() -> Result<DynamoStore, MissingSetting> {
    let table = std::env::var(TABLE_NAME_ENV)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(MissingSetting(TABLE_NAME_ENV))?;
    let config = load_sdk_config().await;
    Ok(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        table,
    ))
}

/// A Lambda function's ports, built once per cold start; fails fast on a missing setting.
pub async fn services_from_env() -> Result<Services, MissingSetting> {
    services_from_env_with(DEFAULT_AWS_TIMEOUTS).await
}

/// [`services_from_env`] with other AWS call timeouts (the webhook function's).
pub async fn services_from_env_with(timeouts: AwsTimeouts) -> Result<Services, MissingSetting> {
    let settings = AwsSettings::from_env()?;
    let config = sdk_loader_with(timeouts).load().await;
    Ok(settings.services(AwsClients::new(&config)))
}

/// An SDK error with its whole cause chain, each cause as it displays itself (the SDK's own
/// `Display` says only "service error", and its debug form dumps the raw response).
fn describe(e: impl std::error::Error) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = cause.source();
    }
    parts.join(": ")
}

/// An SDK error as the port edges carry it: described with its chain, and kept as the source.
pub(crate) fn unavailable(
    e: impl std::error::Error + Send + Sync + 'static,
) -> crate::error::Unavailable {
    crate::error::Unavailable::caused_by(describe(&e), e)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::queue::{Reason, SyncMessage};

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn settings_fail_fast_and_default_the_prefix() {
        let full = [
            (TABLE_NAME_ENV, "billsync"),
            (QUEUE_URL_ENV, "https://q/x.fifo"),
        ];
        let s = AwsSettings::from_lookup(lookup(&full)).unwrap();
        assert_eq!(s.secret_prefix, DEFAULT_SECRET_PREFIX);
        assert_eq!(s.worker_instances, 1);
        let with_instances = [
            (TABLE_NAME_ENV, "billsync"),
            (QUEUE_URL_ENV, "https://q/x.fifo"),
            (WORKER_INSTANCES_ENV, "3"),
        ];
        let s = AwsSettings::from_lookup(lookup(&with_instances)).unwrap();
        assert_eq!(s.worker_instances, 3);
        let e = AwsSettings::from_lookup(lookup(&[(TABLE_NAME_ENV, "billsync")])).unwrap_err();
        assert_eq!(e.to_string(), "environment variable QUEUE_URL is not set");
        let e = AwsSettings::from_lookup(lookup(&[(TABLE_NAME_ENV, ""), (QUEUE_URL_ENV, "q")]))
            .unwrap_err();
        assert_eq!(e.0, TABLE_NAME_ENV);
    }

    #[tokio::test]
    async fn services_reach_every_resource() {
        let server = moto::server();
        let config = server.sdk_config().await;
        let table = moto::unique("billsync-test");
        create_table(&aws_sdk_dynamodb::Client::new(&config), &table)
            .await
            .unwrap();
        let queue_url = aws_sdk_sqs::Client::new(&config)
            .create_queue()
            .queue_name(format!("{}.fifo", moto::unique("billsync-test")))
            .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let settings = AwsSettings {
            table_name: table,
            queue_url,
            bulk_queue_url: String::new(),
            secret_prefix: format!("{}/", moto::unique("billsync-test")),
            worker_instances: 2,
        };
        let services = settings.services(AwsClients::new(&config));

        services
            .store
            .put_cursor("acme", "events", "7")
            .await
            .unwrap();
        assert_eq!(
            services
                .store
                .cursor("acme", "events")
                .await
                .unwrap()
                .as_deref(),
            Some("7")
        );
        let message = SyncMessage::invoice(
            "acme",
            crate::billing::model::Source::Maxio,
            "inv_1",
            Reason::Sweep,
            "e-1",
        );
        services
            .queue
            .send(std::slice::from_ref(&message))
            .await
            .unwrap();
        // The same queue is the worker's inbox: it takes the message and deletes it.
        let inbox = services.inbox().expect("the queue is the worker's inbox");
        let taken = inbox.take(10).await.unwrap();
        assert_eq!(taken.len(), 1);
        assert_eq!(parse_message(&taken[0].body).unwrap(), message);
        inbox.delete(&[taken[0].receipt.clone()]).await.unwrap();
        assert!(inbox.take(10).await.unwrap().is_empty(), "deleted for good");
        assert!(matches!(
            services.secrets.tenant_secret("acme").await,
            Err(crate::secrets::SecretError::NotFound(_))
        ));
    }

    /// A table endpoint that accepts connections and never answers: without a bound, the
    /// worker would wait on it until Lambda's timeout, holding its NetSuite slots.
    #[tokio::test(start_paused = true)]
    async fn a_call_that_gets_no_answer_ends_at_the_call_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let silent = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        let sdk = moto::on_local(sdk_loader(), &format!("http://{addr}"))
            .load()
            .await;
        assert!(!sdk
            .stalled_stream_protection()
            .is_some_and(|s| s.is_enabled()));
        let started = tokio::time::Instant::now();
        let call = aws_sdk_dynamodb::Client::new(&sdk)
            .get_item()
            .table_name("billsync")
            .key("pk", aws_sdk_dynamodb::types::AttributeValue::S("t".into()))
            .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("s".into()))
            .send();
        // Unbounded, the call would wait for ever: this outer limit turns that into a failure.
        let result = tokio::time::timeout(AWS_CALL_TIMEOUT * 4, call)
            .await
            .expect("the call ends by its own timeout");
        let waited = started.elapsed();
        assert!(result.is_err(), "no answer is an error");
        assert!(
            waited >= AWS_ATTEMPT_TIMEOUT && waited <= AWS_CALL_TIMEOUT + Duration::from_secs(1),
            "ended after {waited:?}"
        );
        silent.abort();
    }
}
