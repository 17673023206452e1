//! What a run costs: AWS API calls counted by an SDK interceptor on every client (by service
//! and operation), and the process's own CPU time and peak memory from `getrusage`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde::{Deserialize, Serialize};

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
        *self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.to_owned())
            .or_default() += 1;
    }
}

impl Intercept for AwsCalls {
    fn name(&self) -> &'static str {
        "AwsCalls"
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
    /// DynamoDB write request units (writes of items under 1 KB: one each).
    pub dynamo_writes: u64,
    pub sqs_requests: u64,
}

impl Units {
    pub fn of(calls: &BTreeMap<String, u64>) -> Units {
        let mut u = Units::default();
        for (key, n) in calls {
            let (service, op) = key.split_once(':').unwrap_or(("", key));
            match service {
                "dynamodb" if matches!(op, "GetItem" | "Query" | "Scan" | "BatchGetItem") => {
                    u.dynamo_reads += n
                }
                "dynamodb" if !matches!(op, "CreateTable" | "DescribeTable") => {
                    u.dynamo_writes += n
                }
                "sqs" if op != "CreateQueue" => u.sqs_requests += n,
                _ => {}
            }
        }
        u
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

/// A store that counts its reads and writes as DynamoDB would bill them (one request unit per
/// call: every record billsync keeps is under 1 KB to write and 4 KB to read), for runs that
/// keep flows in a shared SQLite file instead of on moto.
pub struct CountingStore<S> {
    inner: S,
    reads: std::sync::atomic::AtomicU64,
    writes: std::sync::atomic::AtomicU64,
    /// Calls by `store:<method>`, for the breakdown per invoice.
    calls: AwsCalls,
}

impl<S> CountingStore<S> {
    pub fn new(inner: S) -> Self {
        CountingStore {
            inner,
            reads: Default::default(),
            writes: Default::default(),
            calls: AwsCalls::default(),
        }
    }

    pub fn units(&self) -> Units {
        use std::sync::atomic::Ordering::Relaxed;
        Units {
            dynamo_reads: self.reads.load(Relaxed),
            dynamo_writes: self.writes.load(Relaxed),
            sqs_requests: 0,
        }
    }

    /// Calls by `store:<method>`.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.calls.snapshot()
    }

    fn read(&self, method: &str) {
        self.reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.calls.count(&format!("store:{method}"));
    }

    fn write(&self, method: &str) {
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.calls.count(&format!("store:{method}"));
    }
}

mod store_impl {
    use std::time::Duration;

    use async_trait::async_trait;
    use billsync::flow::state::{FlowState, FlowStatus, Versioned};
    use billsync::settings::{ItemRef, TenantSettings};
    use billsync::store::{CustomerLink, Store, StoreResult};

    use super::CountingStore;

    #[async_trait]
    impl<S: Store> Store for CountingStore<S> {
        async fn settings(&self, tenant: &str) -> StoreResult<Option<TenantSettings>> {
            self.read("settings");
            self.inner.settings(tenant).await
        }
        async fn put_settings(&self, settings: &TenantSettings) -> StoreResult<()> {
            self.write("put_settings");
            self.inner.put_settings(settings).await
        }
        async fn tenants(&self) -> StoreResult<Vec<String>> {
            self.read("tenants");
            self.inner.tenants().await
        }
        async fn customer(&self, tenant: &str, id: &str) -> StoreResult<Option<CustomerLink>> {
            self.read("customer");
            self.inner.customer(tenant, id).await
        }
        async fn put_customer(
            &self,
            tenant: &str,
            id: &str,
            link: &CustomerLink,
        ) -> StoreResult<()> {
            self.write("put_customer");
            self.inner.put_customer(tenant, id, link).await
        }
        async fn item_link(&self, tenant: &str, id: &str) -> StoreResult<Option<ItemRef>> {
            self.read("item_link");
            self.inner.item_link(tenant, id).await
        }
        async fn put_item_link(&self, tenant: &str, id: &str, item: &ItemRef) -> StoreResult<()> {
            self.write("put_item_link");
            self.inner.put_item_link(tenant, id, item).await
        }
        async fn flow(&self, tenant: &str, uid: &str) -> StoreResult<Option<Versioned<FlowState>>> {
            self.read("flow");
            self.inner.flow(tenant, uid).await
        }
        async fn save_flow(
            &self,
            tenant: &str,
            state: &FlowState,
            expected: Option<u64>,
        ) -> StoreResult<u64> {
            self.write("save_flow");
            self.inner.save_flow(tenant, state, expected).await
        }
        async fn flows_with_status(
            &self,
            tenant: &str,
            status: FlowStatus,
            limit: usize,
        ) -> StoreResult<Vec<Versioned<FlowState>>> {
            self.read("flows_with_status");
            self.inner.flows_with_status(tenant, status, limit).await
        }
        async fn flow_counts(&self, tenant: &str) -> StoreResult<Vec<(FlowStatus, u64)>> {
            self.read("flow_counts");
            self.inner.flow_counts(tenant).await
        }
        async fn cursor(&self, tenant: &str, name: &str) -> StoreResult<Option<String>> {
            self.read("cursor");
            self.inner.cursor(tenant, name).await
        }
        async fn put_cursor(&self, tenant: &str, name: &str, value: &str) -> StoreResult<()> {
            self.write("put_cursor");
            self.inner.put_cursor(tenant, name, value).await
        }
        async fn forget_delivery(&self, tenant: &str, id: &str) -> StoreResult<()> {
            self.write("forget_delivery");
            self.inner.forget_delivery(tenant, id).await
        }
        async fn first_delivery(&self, tenant: &str, id: &str, ttl: Duration) -> StoreResult<bool> {
            self.write("first_delivery");
            self.inner.first_delivery(tenant, id, ttl).await
        }
    }
}
