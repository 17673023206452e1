//! One worker process, as a Lambda instance of the worker function behaves: it takes batches
//! of up to 10 messages from the SQS FIFO queue, runs them through the worker's own code
//! (`service::worker`) on DynamoDB and the DynamoDB slot leases of the governor, deletes what
//! is done, and at the end writes what it did and what it cost to its report file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use billsync::aws::moto::on_local;
use billsync::aws::sqs::SqsQueue;
use billsync::aws::{AwsClients, AwsSettings};
use billsync::flow::state::FlowStatus;
use billsync::queue::SyncMessage;
use billsync::secrets::{parse_secret, StaticSecrets};
use billsync::service::worker::{drain_observed, Delivery, MessageOutcome, DRAIN_MARGIN};
use serde::{Deserialize, Serialize};

use crate::count::{rusage, AwsCalls, Units};
use billsync::store::counting::CountingStore;
use billsync::store::sqlite::SqliteStore;

/// The worker function's timeout in template.yaml.
const LAMBDA_TIMEOUT: Duration = Duration::from_secs(120);

/// Where a worker process finds everything.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WorkerArgs {
    pub endpoint: String,
    /// SQS's endpoint, when the queue is on a moto process of its own.
    pub sqs_endpoint: String,
    pub table: String,
    pub queue_url: String,
    /// Bulk work's queue (empty: none), taken after live work; the event source watches only
    /// `queue_url`, as on AWS.
    #[serde(default)]
    pub bulk_queue_url: String,
    /// `{tenant: secret}` as the tenant secrets are stored.
    pub secrets: PathBuf,
    /// The worker stops when this file exists and the queue gave it nothing.
    pub stop: PathBuf,
    pub report: PathBuf,
    /// Keep flows in this SQLite file (shared by the processes) instead of the table.
    pub sqlite: Option<PathBuf>,
    /// Worker processes in the run: each holds at most ceil(C / instances) slots.
    pub instances: usize,
}

/// What one worker process did.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct WorkerReport {
    pub batches: u64,
    pub messages: u64,
    /// Wall time spent on batches: what Lambda bills as duration.
    pub busy_ms: u64,
    pub cpu_ms: f64,
    /// Of `cpu_ms`, what polling the queue as the event source took (outside invocations).
    pub polling_cpu_ms: f64,
    pub max_rss_kb: u64,
    pub units: Units,
    /// AWS calls by `service:Operation`, and store calls by `store:method` when flows are in
    /// SQLite.
    pub aws_calls: BTreeMap<String, u64>,
    /// `tenant/invoice id` -> Unix milliseconds when its flow was synced.
    pub synced_at: BTreeMap<String, u64>,
    /// Per tenant: how long each of its messages was in progress in this worker, in
    /// milliseconds (handed-back ones included), and how many were handed back for later.
    #[serde(default)]
    pub in_progress_ms: BTreeMap<String, Vec<u32>>,
    #[serde(default)]
    pub deferred: BTreeMap<String, u64>,
}

pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    on_local(billsync::aws::sdk_loader(), endpoint).load().await
}

/// DynamoDB and SQS clients whose calls are counted.
pub fn clients(
    sdk: &aws_config::SdkConfig,
    sqs_endpoint: &str,
    calls: &AwsCalls,
) -> (aws_sdk_dynamodb::Client, aws_sdk_sqs::Client) {
    let dynamo = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(sdk)
            .interceptor(calls.clone())
            .build(),
    );
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(sdk)
            .endpoint_url(sqs_endpoint)
            .interceptor(calls.clone())
            .build(),
    );
    (dynamo, sqs)
}

pub fn read_secrets(path: &PathBuf) -> Result<StaticSecrets, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let mut secrets = StaticSecrets::default();
    for (tenant, secret) in doc.as_object().into_iter().flatten() {
        secrets = secrets.with(
            tenant,
            parse_secret(&secret.to_string()).map_err(|e| e.to_string())?,
        );
    }
    Ok(secrets)
}

pub async fn run(args: WorkerArgs) -> Result<(), String> {
    let sdk = sdk_config(&args.endpoint).await;
    let calls = AwsCalls::default();
    let (dynamo, sqs) = clients(&sdk, &args.sqs_endpoint, &calls);
    let sqlite = match &args.sqlite {
        Some(path) => Some(Arc::new(CountingStore::new(
            SqliteStore::open(path).map_err(|e| e.to_string())?,
        ))),
        None => None,
    };
    // The worker function's own wiring, on counted clients, with the benchmark's secrets file
    // in place of Secrets Manager; flows in SQLite when asked.
    let mut services = AwsSettings {
        table_name: args.table.clone(),
        queue_url: args.queue_url.clone(),
        bulk_queue_url: args.bulk_queue_url.clone(),
        secret_prefix: String::new(),
        worker_instances: args.instances,
    }
    .services(AwsClients {
        dynamodb: dynamo,
        sqs: sqs.clone(),
        secretsmanager: aws_sdk_secretsmanager::Client::new(&sdk),
    });
    services.secrets = Arc::new(read_secrets(&args.secrets)?);
    if let Some(s) = &sqlite {
        services.store = s.clone();
    }
    // The event source's side: the live queue only, polled as Lambda polls it.
    let source: Arc<dyn billsync::queue::Inbox> =
        Arc::new(SqsQueue::new(sqs.clone(), &args.queue_url));

    let synced_at = Mutex::new(BTreeMap::new());
    let in_progress = Mutex::new((BTreeMap::new(), BTreeMap::new()));
    let mut report = WorkerReport::default();
    let trace = std::env::var_os("BENCH_TRACE").is_some();
    if trace {
        // Reports the event loop held up (a blocking call on this thread) for 30 ms or more.
        tokio::spawn(async {
            let mut at = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(10)).await;
                let late = at.elapsed().saturating_sub(Duration::from_millis(10));
                if late >= Duration::from_millis(30) {
                    eprintln!(
                        "{} worker {}: event loop held up {late:?}",
                        unix_ms(),
                        std::process::id()
                    );
                }
                at = Instant::now();
            }
        });
    }
    let mut last_end = Instant::now();
    // CPU spent polling as the event source: AWS's, not the function's. Written after every
    // poll so the bench can take it out of each phase's CPU.
    let polling_path = polling_cpu_path(&args.report);
    let mut polling = Duration::ZERO;
    loop {
        let before = rusage().0;
        let messages = source.take(10).await.map_err(|e| format!("receive: {e}"))?;
        polling += rusage().0.saturating_sub(before);
        let _ = std::fs::write(&polling_path, polling.as_micros().to_string());
        if messages.is_empty() {
            if args.stop.exists() {
                break;
            }
            continue;
        }
        let started = Instant::now();
        let gap = started.duration_since(last_end);
        let batch: Vec<Delivery> = messages
            .iter()
            .map(|m| Delivery {
                id: m.id.clone(),
                body: m.body.clone(),
            })
            .collect();
        report.messages += batch.len() as u64;
        // As a Lambda invocation with the worker's timeout: it may take more messages itself
        // until DRAIN_MARGIN before its deadline.
        let until = tokio::time::Instant::now() + LAMBDA_TIMEOUT - DRAIN_MARGIN;
        let results = drain_observed(&services, batch, until, |d, outcome, took| {
            let message = serde_json::from_str::<SyncMessage>(&d.body).ok();
            if let Some(m) = &message {
                let mut held = in_progress.lock().unwrap_or_else(PoisonError::into_inner);
                let (times, deferred): &mut (BTreeMap<String, Vec<u32>>, BTreeMap<String, u64>) =
                    &mut held;
                times
                    .entry(m.tenant.clone())
                    .or_default()
                    .push(took.as_millis() as u32);
                if matches!(outcome, MessageOutcome::Defer { .. }) {
                    *deferred.entry(m.tenant.clone()).or_default() += 1;
                }
            }
            if let MessageOutcome::Done(Some(o)) = outcome {
                if o.status == FlowStatus::Synced {
                    if let Some(m) = &message {
                        let uid = m.invoice_id().unwrap_or_default();
                        synced_at
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .insert(crate::scenario::key(&m.tenant, uid), unix_ms());
                    }
                }
            }
        })
        .await;
        // What the event source deletes after the invocation: all but the failed ones.
        let done: Vec<String> = results
            .iter()
            .filter(|(_, r)| !matches!(r, MessageOutcome::Retry(_) | MessageOutcome::Defer { .. }))
            .filter_map(|(id, _)| Some(messages.iter().find(|m| &m.id == id)?.receipt.clone()))
            .collect();
        if !done.is_empty() {
            source
                .delete(&done)
                .await
                .map_err(|e| format!("delete: {e}"))?;
        }
        // Lambda bills the handler's duration: the batch, up to its deletes (which the event
        // source mapping makes outside the function, but close enough and on the safe side).
        report.busy_ms += started.elapsed().as_millis() as u64;
        if trace {
            eprintln!(
                "batch {} msgs: gap {:?} process+delete {:?}",
                messages.len(),
                gap,
                started.elapsed()
            );
        }
        last_end = Instant::now();
        report.batches += 1;
    }
    let (cpu, rss) = rusage();
    report.cpu_ms = cpu.as_secs_f64() * 1000.0;
    report.polling_cpu_ms = polling.as_secs_f64() * 1000.0;
    report.max_rss_kb = rss;
    report.aws_calls = calls.snapshot();
    report.units = Units::of(&report.aws_calls);
    if let Some(s) = &sqlite {
        report.units = report.units.add(Units::of_store(s));
        report.aws_calls.extend(s.calls());
    }
    (report.in_progress_ms, report.deferred) = in_progress
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    report.synced_at = synced_at
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    std::fs::write(
        &args.report,
        serde_json::to_vec(&report).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    Ok(())
}

/// Where a worker keeps the CPU time (microseconds) its event source emulation has used.
pub fn polling_cpu_path(report: &std::path::Path) -> PathBuf {
    report.with_extension("polling")
}

/// CPU time the workers with these reports spent polling as the event source, so far.
pub fn polling_cpu(reports: &[PathBuf]) -> Duration {
    reports
        .iter()
        .filter_map(|r| std::fs::read_to_string(polling_cpu_path(r)).ok())
        .filter_map(|t| t.trim().parse::<u64>().ok())
        .map(Duration::from_micros)
        .sum()
}

/// Waits for a worker process's report file.
pub async fn read_report(path: &PathBuf, within: Duration) -> Result<WorkerReport, String> {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Ok(r) = serde_json::from_str(&text) {
                return Ok(r);
            }
        }
        if Instant::now() > deadline {
            return Err(format!("no worker report at {}", path.display()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
