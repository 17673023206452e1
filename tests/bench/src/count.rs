//! What a run costs: AWS API calls counted by an SDK interceptor on every client (by service
//! and operation), and the process's own CPU time and peak memory from `getrusage`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemInput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use billsync::store::counting::CountingStore;
use serde::{Deserialize, Serialize};

/// The counter of keys asked for by BatchGetItem calls.
const BATCH_GET_KEYS: &str = "dynamodb:BatchGetItem keys";
/// The counter of items written by TransactWriteItems calls.
const TRANSACT_ITEMS: &str = "dynamodb:TransactWriteItems items";

/// AWS calls by `service:operation`, e.g. `dynamodb:PutItem`.
#[derive(Clone, Debug, Default)]
pub struct AwsCalls(Arc<Mutex<BTreeMap<String, u64>>>);

impl AwsCalls {
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn count(&self, key: &str) {
        self.add(key, 1);
    }

    pub fn add(&self, key: &str, n: u64) {
        *self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.to_owned())
            .or_default() += n;
    }
}

impl Intercept for AwsCalls {
    fn name(&self) -> &'static str {
        "AwsCalls"
    }

    // A batch read is billed per key: counted under `dynamodb:BatchGetItem keys`; a
    // transaction per item, twice: under `dynamodb:TransactWriteItems items`.
    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(input) = context.input().downcast_ref::<BatchGetItemInput>() {
            let keys = input
                .request_items()
                .into_iter()
                .flat_map(|items| items.values())
                .map(|k| k.keys().len() as u64)
                .sum();
            self.add(BATCH_GET_KEYS, keys);
        }
        if let Some(input) = context.input().downcast_ref::<TransactWriteItemsInput>() {
            self.add(TRANSACT_ITEMS, input.transact_items().len() as u64);
        }
        Ok(())
    }

    // Once per attempt, as AWS bills retried requests too; the operation's metadata is in the
    // config bag by then.
    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let key = cfg
            .load::<Metadata>()
            .map(|m| format!("{}:{}", m.service().to_lowercase(), m.name()))
            .unwrap_or_else(|| "unknown".into());
        self.count(&key);
        Ok(())
    }
}

/// Billing units of a set of calls, as AWS bills them (on-demand).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Units {
    /// DynamoDB read request units (strongly consistent reads of items under 4 KB: one each).
    pub dynamo_reads: u64,
    /// DynamoDB write request units (writes of items under 1 KB: one each, two in a
    /// transaction).
    pub dynamo_writes: u64,
    pub sqs_requests: u64,
}

impl Units {
    pub fn of(calls: &BTreeMap<String, u64>) -> Units {
        let mut u = Units::default();
        for (key, n) in calls {
            let (service, op) = key.split_once(':').unwrap_or(("", key));
            match service {
                "dynamodb" if matches!(op, "GetItem" | "Query" | "Scan" | "BatchGetItem keys") => {
                    u.dynamo_reads += n
                }
                "dynamodb" if op == "BatchGetItem" || op == "TransactWriteItems" => {}
                // A transactional write is billed two units per item.
                "dynamodb" if op == "TransactWriteItems items" => u.dynamo_writes += 2 * n,
                "dynamodb" if !matches!(op, "CreateTable" | "DescribeTable") => {
                    u.dynamo_writes += n
                }
                "sqs" if op != "CreateQueue" => u.sqs_requests += n,
                _ => {}
            }
        }
        u
    }

    /// What the calls a [`CountingStore`] counted would cost on DynamoDB.
    pub fn of_store<S>(store: &CountingStore<S>) -> Units {
        Units {
            dynamo_reads: store.reads(),
            dynamo_writes: store.writes(),
            sqs_requests: 0,
        }
    }

    pub fn add(self, o: Units) -> Units {
        Units {
            dynamo_reads: self.dynamo_reads + o.dynamo_reads,
            dynamo_writes: self.dynamo_writes + o.dynamo_writes,
            sqs_requests: self.sqs_requests + o.sqs_requests,
        }
    }
}

/// CPU time (user + system) and peak resident memory of this process so far.
pub fn rusage() -> (Duration, u64) {
    // SAFETY: getrusage writes into the struct we own; RUSAGE_SELF is always valid.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    // ru_maxrss (kilobytes on Linux) survives exec: a worker started by the large bench process
    // would report the bench's peak. VmHWM belongs to this program's own address space.
    let peak = peak_rss_kb().unwrap_or(ru.ru_maxrss as u64);
    (tv(ru.ru_utime) + tv(ru.ru_stime), peak)
}

/// The high-water mark of this process's resident memory, in kilobytes (Linux).
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
