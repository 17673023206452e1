//! `billsync-bench`: throughput at the NetSuite concurrency limit.
//!
//! For each account limit C it starts the NetSuite simulator with latency L and limit C (429
//! beyond it), a Chargebee simulator holding paid non-inventory invoices of known customers, a
//! DynamoDB table and an SQS FIFO queue on a moto server, and W worker *processes* (this binary
//! with `worker`) as the template's `WorkerInstances` advises: about one per eight slots, at
//! least two, a divisor of C where there is one (2 for C = 5, 15 and 20, 5 for 40). Each
//! stands in for one Lambda instance: it receives a batch of up to 10 messages, as the event
//! source would invoke it, and runs the worker's own code on it (`drain_observed`, which also
//! takes more messages from the queue while its slots have room), NetSuite slots leased from
//! the table by the governor, at most ceil(C / W) per process. The tenant's share is C itself,
//! so the bench runs at the ceiling, never past it. Flows are kept in a SQLite file the
//! processes share (`--store dynamodb` keeps them in the table instead).
//!
//! Two phases per limit:
//! 1. throughput: N webhooks through the intake code, as many at once as API Gateway would
//!    run, held back only while the workers' depth plus two batches each wait unsynced (so they
//!    never wait for work and always take full batches); invoices per second from the first webhook to
//!    the last payment, against the bound C / (L × R), R being the NetSuite requests a paid
//!    non-inventory invoice of a known customer needs (2 made directly: invoice, payment, as
//!    a Chargebee tenant does by default; 3 through a sales order: order, invoice by
//!    transform, payment, with `--invoice-path sales_order`). Requests per invoice, 429s and how busy the C slots were come from the
//!    simulator's own counters.
//! 2. lag: N more webhooks arriving at a steady 80% of the bound; the lag of each invoice runs
//!    from its intake to the moment its flow is synced (its payment, the last record, is in
//!    NetSuite). p50 and p99.
//!
//! The bench reads the worker processes' CPU time and wake-ups (voluntary context switches)
//! per phase from /proc. The workers report their CPU time and peak memory (`getrusage`), the
//! Lambda duration they spent on batches, every DynamoDB and SQS call (an SDK interceptor) and
//! every store call; the bench turns those into calls per invoice and an AWS cost per 10,000
//! invoices at the on-demand prices below. Figures are printed, and written as JSON and as an
//! SVG chart of throughput against C when asked. `BENCH_TRACE=1` prints progress as it goes.
//!
//! moto runs through `moto_server.py` (see there: it computes a queue's attributes at most
//! every 50 ms, which moto otherwise does per message handled, and queries one partition of a
//! table, not all of it), one process for DynamoDB and one for SQS; `--plain-moto` runs one
//! as the tests do, or uses `AWS_ENDPOINT_URL`.
//!
//! ```text
//! cargo run --release -p billsync-bench -- --invoices 2000 --latency-ms 100 --limits 5,10,15,20 \
//!     --json docs/bench/results.json --chart docs/bench/throughput.svg
//! cargo run -p billsync-bench -- --smoke      # what CI runs: small, fast, checks the bound
//! cargo run --release -p billsync-bench -- floor   # CPU of one bare HTTP request here
//! cargo run --release -p billsync-bench -- --limits 5 --netsuite-auth m2m   # OAuth 2.0 logins
//! ```

mod chart;
mod count;
mod floor;
mod scenario;
mod worker;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use billing_sim::{CbInvoice, CbLine, ChargebeeSim, ChargebeeSimConfig};
use billsync::aws::dynamo::{create_table, DynamoStore};
use billsync::aws::moto;
use billsync::aws::sqs::SqsQueue;
use billsync::billing::model::Source;
use billsync::queue::{Queue as _, Reason, SyncMessage};
use billsync::service::intake::{self, WebhookRequest};
use billsync::service::worker::{drain_depth, TAKE};
use billsync::service::Services;
use billsync::settings::{InvoicePath, TenantSettings};
use billsync::store::prelude::*;
use futures::stream::{FuturesUnordered, StreamExt};
use netsuite_sim::keys::TestKeyPair;
use netsuite_sim::{M2mMapping, NetSuiteSim, SimConfig};
use serde::Serialize;
use serde_json::json;

use billsync::store::counting::CountingStore;
use billsync::store::sqlite::SqliteStore;
use count::{AwsCalls, Units};
use worker::{unix_ms, WorkerArgs, WorkerReport};

// The worker function's allocator, so the worker processes here measure what it spends.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TENANT: &str = "bench";
/// NetSuite requests of a paid non-inventory invoice of a known customer, by invoice path.
fn requests_per_invoice(path: InvoicePath) -> f64 {
    match path {
        InvoicePath::Direct => 2.0,
        InvoicePath::SalesOrder => 3.0,
    }
}
/// Customers, each synced once before measuring, so every measured invoice's customer is known.
const CUSTOMERS: usize = 20;
/// Webhook calls in flight at once while the burst is delivered.
const INTAKE_CONCURRENCY: usize = 32;
/// Invoices queued and not yet synced during the throughput phase, beyond what the workers hold
/// in progress (`service::worker::drain_depth`): two full batches per worker, so every take
/// finds a full batch, as it does behind a real backlog, and few enough that moto's
/// per-message scans of the queue stay cheap.
const BACKLOG_BATCHES_PER_WORKER: usize = 2;

/// AWS on-demand prices, us-east-1, as published for 2025 (USD).
mod price {
    /// Lambda on arm64, per GB-second of duration.
    pub const LAMBDA_GB_SECOND: f64 = 0.000_013_333_4;
    pub const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
    /// DynamoDB on-demand, per request unit.
    pub const DYNAMO_WRITE_UNIT: f64 = 0.625 / 1e6;
    pub const DYNAMO_READ_UNIT: f64 = 0.125 / 1e6;
    /// SQS FIFO, per request.
    pub const SQS_FIFO_REQUEST: f64 = 0.50 / 1e6;
    /// API Gateway HTTP API, per request.
    pub const HTTP_API_REQUEST: f64 = 1.00 / 1e6;
}

/// Memory of the functions in template.yaml, in GB.
const WORKER_GB: f64 = 0.5;
const WEBHOOK_GB: f64 = 0.25;

#[derive(Clone, Debug)]
struct Options {
    /// How the tenant's invoices are made (`invoices.create`).
    invoice_path: InvoicePath,
    /// Priority scenarios to run (`--scenario`), with N bulk invoices (`--backfill N`).
    scenarios: Vec<scenario::Kind>,
    backfill: Option<usize>,
    /// The throughput and lag runs (off when only scenarios are asked for).
    throughput: bool,
    invoices: usize,
    latency: Duration,
    limits: Vec<usize>,
    workers: Option<usize>,
    lag: bool,
    json: Option<PathBuf>,
    chart: Option<PathBuf>,
    /// Keep flows on moto's DynamoDB rather than in a shared SQLite file.
    dynamodb_store: bool,
    /// Fail (exit 1) when a run misses these: throughput ratio, 429s, requests per invoice.
    check: bool,
    /// moto exactly as the tests run it (or at `AWS_ENDPOINT_URL`), not the bench's launcher.
    plain_moto: bool,
    /// How the workers log in to NetSuite: TBA, or OAuth 2.0 M2M (an RSA key made for the
    /// run, PS256, its public half mapped in the simulator).
    m2m: bool,
}

#[derive(Clone, Debug, Default, Serialize)]
struct Cost {
    lambda: f64,
    dynamodb: f64,
    sqs: f64,
    api_gateway: f64,
    total: f64,
}

#[derive(Clone, Debug, Default, Serialize)]
struct RunResult {
    limit: usize,
    /// NetSuite requests a paid invoice needs on the run's invoice path.
    r: f64,
    latency_ms: u64,
    workers: usize,
    invoices: usize,
    bound_per_s: f64,
    throughput_per_s: f64,
    ratio: f64,
    requests_per_invoice: f64,
    /// `tba` or `m2m`.
    netsuite_auth: String,
    /// OAuth 2.0 token requests over the whole run, warm-up included (0 with TBA).
    token_requests: u64,
    /// The throughput phase's NetSuite requests by operation (the simulator's counts).
    requests_by_operation: BTreeMap<String, u64>,
    rejected_429: u64,
    peak_in_flight: usize,
    /// How busy the account's C slots were during the throughput phase (time inside the
    /// simulator's limit / (C x elapsed)).
    slot_utilization: f64,
    arrival_per_s: f64,
    lag_p50_ms: Option<u64>,
    lag_p99_ms: Option<u64>,
    /// CPU time of the worker processes inside invocations (what the function runs), per
    /// invoice: not the polling they do as the event source, which is AWS's side.
    worker_cpu_ms_per_invoice: f64,
    /// The same over the throughput phase alone (workers busy), and over the lag phase (80% of
    /// the bound: smaller batches, more waiting).
    worker_cpu_ms_per_invoice_throughput: f64,
    worker_cpu_ms_per_invoice_lag: Option<f64>,
    /// Whole worker processes, their event source polling included, per phase.
    process_cpu_ms_per_invoice_throughput: f64,
    process_cpu_ms_per_invoice_lag: Option<f64>,
    /// Times the worker processes went to sleep waiting and were woken again (voluntary
    /// context switches), per invoice, per phase, polling included: on an idle process each
    /// one meets cold caches, which is most of what an invoice costs here.
    worker_wakeups_per_invoice_throughput: f64,
    worker_wakeups_per_invoice_lag: Option<f64>,
    /// Share of the machine's CPU time the hypervisor gave to others while this machine wanted
    /// it (`steal` in /proc/stat), per phase: the bench's processes share the cores, so stolen
    /// time shows as idle NetSuite slots and dearer wake-ups.
    host_steal_pct_throughput: f64,
    host_steal_pct_lag: Option<f64>,
    /// The machine's scale (`floor::lone_request_us`, measured before the runs): client
    /// CPU of one bare reqwest request whose answer arrives alone. Worker CPU per invoice
    /// divided by it compares across machines; milliseconds do not.
    machine_request_us: f64,
    worker_peak_rss_mb: f64,
    aws_units_per_invoice: BTreeMap<String, f64>,
    /// What the workers called per invoice: AWS operations, store methods (SQLite runs) and
    /// Chargebee resources.
    worker_calls_per_invoice: BTreeMap<String, f64>,
    cost_per_10k_invoices: Cost,
}

fn usage() -> ! {
    eprintln!(
        "usage: billsync-bench [--invoices N] [--latency-ms L] [--limits 5,15] [--workers W] \
         [--no-lag] [--store sqlite|dynamodb] [--plain-moto] [--netsuite-auth tba|m2m] \
         [--invoice-path direct|sales_order] [--scenario a|b|c-5xx|c-slow]... [--backfill N] \
         [--json FILE] [--chart FILE] [--check] | --smoke | floor"
    );
    std::process::exit(2)
}

fn parse(args: &[String]) -> Options {
    let mut o = Options {
        scenarios: Vec::new(),
        backfill: None,
        throughput: true,
        invoice_path: InvoicePath::Direct,
        invoices: 2000,
        latency: Duration::from_millis(100),
        limits: vec![5, 15],
        workers: None,
        lag: true,
        json: None,
        chart: None,
        dynamodb_store: false,
        check: false,
        plain_moto: false,
        m2m: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().unwrap_or_else(|| usage());
        match a.as_str() {
            "--invoices" => o.invoices = value().parse().unwrap_or_else(|_| usage()),
            "--latency-ms" => {
                o.latency = Duration::from_millis(value().parse().unwrap_or_else(|_| usage()))
            }
            "--limits" => {
                o.limits = value()
                    .split(',')
                    .map(|x| x.trim().parse().unwrap_or_else(|_| usage()))
                    .collect()
            }
            "--workers" => o.workers = Some(value().parse().unwrap_or_else(|_| usage())),
            "--no-lag" => o.lag = false,
            "--json" => o.json = Some(value().into()),
            "--chart" => o.chart = Some(value().into()),
            "--check" => o.check = true,
            "--backfill" => o.backfill = Some(value().parse().unwrap_or_else(|_| usage())),
            "--scenario" => {
                o.scenarios
                    .push(scenario::Kind::parse(&value()).unwrap_or_else(|| usage()));
                o.throughput = false;
            }
            "--invoice-path" => match value().as_str() {
                "direct" => o.invoice_path = InvoicePath::Direct,
                "sales_order" => o.invoice_path = InvoicePath::SalesOrder,
                _ => usage(),
            },
            "--plain-moto" => o.plain_moto = true,
            "--netsuite-auth" => match value().as_str() {
                "m2m" => o.m2m = true,
                "tba" => o.m2m = false,
                _ => usage(),
            },
            "--store" => match value().as_str() {
                "dynamodb" => o.dynamodb_store = true,
                "sqlite" => o.dynamodb_store = false,
                _ => usage(),
            },
            // Small enough for CI: the bound must still hold and R must be exact.
            "--smoke" => {
                o.invoices = 40;
                o.latency = Duration::from_millis(100);
                o.limits = vec![5];
                o.check = true;
                o.scenarios = vec![scenario::Kind::A];
                o.backfill = Some(100);
                o.throughput = true;
            }
            _ => usage(),
        }
    }
    o
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("floor") {
        floor::run();
        return;
    }
    if args.first().map(String::as_str) == Some("worker") {
        // One thread, as the worker function runs (a Lambda of 512 MB has a third of a core).
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let spec: WorkerArgs = serde_json::from_str(args.get(1).map(String::as_str).unwrap_or(""))
            .unwrap_or_else(|e| {
                eprintln!("worker: bad arguments: {e}");
                std::process::exit(2)
            });
        if let Err(e) = runtime.block_on(worker::run(spec)) {
            eprintln!("worker: {e}");
            std::process::exit(1);
        }
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let opts = parse(&args);
    let code = runtime.block_on(bench(opts));
    std::process::exit(code);
}

async fn bench(opts: Options) -> i32 {
    // Before moto starts, on a quiet machine, so the scale is the machine's own.
    let machine_request_us = tokio::task::spawn_blocking(floor::lone_request_us)
        .await
        .unwrap_or_default();
    println!(
        "machine scale: a bare reqwest request answered alone costs {machine_request_us:.0} us of client CPU here (billsync-bench floor, 1 in flight)"
    );
    // DynamoDB and SQS on two moto processes: each answers one request at a time in Python
    // (one interpreter lock), and in one process the queue's calls and the table's wait for
    // each other, which AWS's services never do.
    let script = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/moto_server.py"));
    let (moto, moto_sqs) = if opts.plain_moto {
        (moto::server(), None)
    } else {
        (moto::dedicated(&script), Some(moto::dedicated(&script)))
    };
    let sqs_endpoint = moto_sqs.as_ref().unwrap_or(&moto).endpoint().to_owned();
    let mut results = Vec::new();
    let limits: &[usize] = if opts.throughput { &opts.limits } else { &[] };
    for &limit in limits {
        match run_once(&moto, &sqs_endpoint, &opts, limit, machine_request_us).await {
            Ok(r) => {
                print_result(&r);
                results.push(r);
            }
            Err(e) => {
                eprintln!("run at C = {limit} failed: {e}");
                return 1;
            }
        }
    }
    if !results.is_empty() {
        print_table(&results);
    }
    let mut scenarios = Vec::new();
    for &kind in &opts.scenarios {
        let n = opts.backfill.unwrap_or(2000);
        match scenario::run(&moto, &sqs_endpoint, &opts, kind, n).await {
            Ok(r) => {
                scenario::print(&r);
                scenarios.push(r);
            }
            Err(e) => {
                eprintln!("scenario {kind:?} failed: {e}");
                return 1;
            }
        }
    }
    if let Some(path) = &opts.json {
        let doc = json!({
            "command": command_line(),
            "machine_cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            "results": results,
            "scenarios": scenarios,
        });
        if let Err(e) = std::fs::write(path, serde_json::to_string_pretty(&doc).unwrap_or_default())
        {
            eprintln!("cannot write {}: {e}", path.display());
        }
    }
    if let Some(path) = &opts.chart {
        let points: Vec<(usize, f64, f64)> = results
            .iter()
            .map(|r| (r.limit, r.bound_per_s, r.throughput_per_s))
            .collect();
        if let Err(e) = std::fs::write(path, chart::svg(&points, opts.latency)) {
            eprintln!("cannot write {}: {e}", path.display());
        }
    }
    if opts.check {
        let mut ok = true;
        for r in &results {
            if (r.requests_per_invoice - r.r).abs() > f64::EPSILON {
                eprintln!(
                    "C = {}: {} requests per invoice, not {}",
                    r.limit, r.requests_per_invoice, r.r
                );
                ok = false;
            }
            if r.rejected_429 > 0 {
                eprintln!("C = {}: {} answers of 429", r.limit, r.rejected_429);
                ok = false;
            }
            if r.peak_in_flight > r.limit {
                eprintln!(
                    "C = {}: {} requests in flight at once",
                    r.limit, r.peak_in_flight
                );
                ok = false;
            }
        }
        for r in &scenarios {
            for m in &r.missed {
                eprintln!("{}: {m}", r.scenario);
                ok = false;
            }
        }
        if !ok {
            return 1;
        }
    }
    0
}

/// This run's command, the program by its name rather than where it was built.
fn command_line() -> String {
    std::env::args()
        .enumerate()
        .map(|(i, a)| match i {
            0 => std::path::Path::new(&a)
                .file_name()
                .map_or(a.clone(), |n| n.to_string_lossy().into_owned()),
            _ => a,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Worker processes, as the template advises for the worker's concurrency: about one instance
/// per eight slots of the share (each keeps its slots busy by taking work from the queue), at
/// least two, and where one exists a number that divides the share, so that the instances'
/// parts add up to it and none waits for a slot beyond its fair part. Fewer, busier instances
/// spend less CPU per invoice: their answers come closer together, so a wake-up finds caches
/// warmer and sometimes more than one answer (C = 15, `--no-lag`, same code: 1.01 ms per
/// invoice with 3 instances, 0.95 with 2).
fn default_workers(limit: usize) -> usize {
    let most = limit.div_ceil(8).max(2);
    (2..=most).rev().find(|w| limit % w == 0).unwrap_or(most)
}

struct Children(Vec<Child>);

impl Children {
    /// CPU time the worker processes have used so far (user + system, from /proc; Linux).
    fn cpu(&self) -> Duration {
        // SAFETY: sysconf with a valid name only reads a constant.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let secs: f64 = self
            .0
            .iter()
            .filter_map(|c| std::fs::read_to_string(format!("/proc/{}/stat", c.id())).ok())
            .filter_map(|stat| {
                // Fields after the parenthesised name: state is the 3rd, utime the 14th.
                let rest = stat.rsplit_once(')')?.1;
                let f: Vec<&str> = rest.split_whitespace().collect();
                Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / ticks)
            })
            .sum();
        Duration::from_secs_f64(secs)
    }

    /// Voluntary context switches of the worker processes so far (from /proc; Linux).
    fn wakeups(&self) -> u64 {
        self.0
            .iter()
            .filter_map(|c| std::fs::read_to_string(format!("/proc/{}/status", c.id())).ok())
            .filter_map(|status| {
                let line = status
                    .lines()
                    .find(|l| l.starts_with("voluntary_ctxt_switches:"))?;
                line.split_whitespace().nth(1)?.parse::<u64>().ok()
            })
            .sum()
    }
}

/// The machine's CPU time so far, all cores, in clock ticks (the `cpu` line of /proc/stat).
struct CpuTimes {
    total: u64,
    steal: u64,
}

impl CpuTimes {
    fn now() -> Self {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        // user nice system idle iowait irq softirq steal (guest time is within user).
        let ticks: Vec<u64> = stat
            .lines()
            .find(|l| l.starts_with("cpu "))
            .map(|l| {
                l.split_whitespace()
                    .skip(1)
                    .take(8)
                    .filter_map(|v| v.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        CpuTimes {
            total: ticks.iter().sum(),
            steal: ticks.get(7).copied().unwrap_or_default(),
        }
    }

    fn steal_pct_since(&self, before: &CpuTimes) -> f64 {
        let total = self.total.saturating_sub(before.total);
        if total == 0 {
            return 0.0;
        }
        100.0 * self.steal.saturating_sub(before.steal) as f64 / total as f64
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A Chargebee site with room to spare and [`CUSTOMERS`] customers.
async fn chargebee_site(site: String) -> Result<ChargebeeSim, String> {
    let cb = ChargebeeSim::start(ChargebeeSimConfig {
        concurrency_limit: 1024,
        site,
        ..ChargebeeSimConfig::default()
    })
    .await
    .map_err(|x| x.to_string())?;
    for c in 0..CUSTOMERS {
        cb.add_customer(
            &format!("cust-{c}"),
            Some(&format!("Customer {c} Inc")),
            "Pat",
            "Doe",
            &format!("ap{c}@example.com"),
            "USD",
        );
    }
    Ok(cb)
}

/// One Chargebee webhook (`body` with its Basic `auth`) through the intake, as the webhook
/// function runs it: when it arrived, how long the intake took, its status and how many
/// messages it queued.
async fn webhook(
    services: &Services,
    tenant: &str,
    (body, auth): (Vec<u8>, String),
) -> (u64, Duration, u16, usize) {
    let header = move |name: &str| {
        name.eq_ignore_ascii_case("authorization")
            .then(|| auth.clone())
    };
    let at = unix_ms();
    let started = Instant::now();
    let r = intake::receive(
        services,
        WebhookRequest {
            tenant,
            source: "chargebee",
            body: &body,
            header: &header,
        },
    )
    .await;
    (at, started.elapsed(), r.status, r.queued.len())
}

/// One paid non-inventory invoice: its id and the index of its `invoice_generated` event.
fn paid_invoice(cb: &ChargebeeSim, customer: usize, n: usize) -> (String, usize) {
    let event = cb.event_count();
    let amount = 10_000 + (n as i64 % 97) * 100;
    let id = cb.add_invoice(CbInvoice {
        customer_id: format!("cust-{customer}"),
        currency: "USD".into(),
        date: 1_769_904_000 + n as i64,
        lines: vec![CbLine {
            entity_type: "adhoc".into(),
            entity_id: None,
            description: "Platform subscription".into(),
            quantity: 1,
            unit_amount: amount,
            tax_rate_percent: 0,
        }],
        ..CbInvoice::default()
    });
    cb.pay(&id, amount);
    (id, event)
}

fn payments(ns: &NetSuiteSim) -> u64 {
    ns.stats()
        .requests_by_operation
        .get("create:customerPayment")
        .copied()
        .unwrap_or_default()
}

async fn wait_for_payments(ns: &NetSuiteSim, want: u64, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let t0 = Instant::now();
    let mut last = (0u64, Instant::now());
    let trace = std::env::var_os("BENCH_TRACE").is_some();
    // Requests in flight, sampled every turn: their mean over a second is how busy the slots were.
    let mut in_flight = (0usize, 0usize);
    while payments(ns) < want {
        if trace {
            in_flight = (in_flight.0 + ns.stats().in_flight, in_flight.1 + 1);
        }
        if trace && last.1.elapsed() >= Duration::from_secs(1) {
            let p = payments(ns);
            eprintln!(
                "  t={:>5.1}s payments {p} (+{}) in flight {:.1} on average",
                t0.elapsed().as_secs_f64(),
                p - last.0,
                in_flight.0 as f64 / in_flight.1.max(1) as f64
            );
            last = (p, Instant::now());
            in_flight = (0, 0);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "only {} of {want} payments reached NetSuite in {timeout:?}",
                payments(ns)
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// The live and bulk FIFO queues, as template.yaml makes them (no event source watches the
/// bulk one; the worker processes poll the live one as Lambda's would).
async fn create_queues(sqs: &aws_sdk_sqs::Client, table: &str) -> Result<(String, String), String> {
    let mut urls = Vec::new();
    for name in [format!("{table}.fifo"), format!("{table}-bulk.fifo")] {
        let url = sqs
            .create_queue()
            .queue_name(name)
            .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
                // As template.yaml: six times the worker's timeout.
                "720",
            )
            .send()
            .await
            .map_err(|x| format!("{x:?}"))?
            .queue_url
            .unwrap_or_default();
        urls.push(url);
    }
    let bulk = urls.pop().unwrap_or_default();
    Ok((urls.pop().unwrap_or_default(), bulk))
}

/// A Chargebee tenant's settings on the simulators' demo data, with the account share `limit`.
fn tenant_settings(
    tenant: &str,
    cb: &ChargebeeSim,
    demo: &netsuite_sim::DemoData,
    limit: usize,
    path: InvoicePath,
) -> serde_json::Value {
    json!({
        "tenant": tenant, "source": "chargebee", "site": cb.config().site,
        "sync_start_date": "2020-01-01",
        "items": {
            "custom_default": {"id": demo.item_subscription, "type": "service"},
            "tax_item": {"id": demo.item_sales_tax, "type": "non_inventory"},
            "discount_item": demo.item_discount
        },
        "payments": {"payment_instruments": true},
        "refunds": {"account": demo.account_bank},
        "transactions": {"subsidiary": demo.subsidiary},
        "netsuite": {"concurrency": limit},
        "invoices": {"create": path}
    })
}

/// A tenant's secret: TBA (or OAuth 2.0 with `key`) on `ns`, the API key and webhook login of
/// `cb`.
fn tenant_secret(
    ns: &NetSuiteSim,
    cb: &ChargebeeSim,
    key: Option<&TestKeyPair>,
) -> serde_json::Value {
    let (nc, cc) = (ns.config(), cb.config());
    let netsuite = match (key, &nc.m2m) {
        (Some(k), Some(m)) => json!({"account_id": nc.account_id, "auth": "m2m",
                     "client_id": m.client_id, "certificate_id": m.certificate_id,
                     "private_key": k.private_pem, "base_url": ns.base_url()}),
        _ => json!({"account_id": nc.account_id, "consumer_key": nc.consumer_key,
                     "consumer_secret": nc.consumer_secret, "token_id": nc.token_id,
                     "token_secret": nc.token_secret, "base_url": ns.base_url()}),
    };
    json!({
        "netsuite": netsuite,
        "billing": {"api_key": cc.api_key, "webhook_username": cc.webhook_username,
                    "webhook_password": cc.webhook_password, "base_url": cb.base_url()}
    })
}

/// Starts `workers` worker processes (this binary with `worker`); returns them, their report
/// files and the file whose presence stops them.
#[allow(clippy::too_many_arguments)]
fn spawn_workers(
    endpoint: &str,
    sqs_endpoint: &str,
    table: &str,
    queue_url: &str,
    bulk_queue_url: &str,
    secrets: &std::path::Path,
    sqlite: Option<PathBuf>,
    dir: &std::path::Path,
    workers: usize,
) -> Result<(Children, Vec<PathBuf>, PathBuf), String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let exe = std::env::current_exe().map_err(|x| e(&x))?;
    let stop = dir.join("stop");
    let mut children = Children(Vec::new());
    let mut report_paths = Vec::new();
    for w in 0..workers {
        let report = dir.join(format!("worker-{w}.json"));
        let args = WorkerArgs {
            endpoint: endpoint.to_owned(),
            sqs_endpoint: sqs_endpoint.to_owned(),
            table: table.to_owned(),
            queue_url: queue_url.to_owned(),
            bulk_queue_url: bulk_queue_url.to_owned(),
            secrets: secrets.to_owned(),
            stop: stop.clone(),
            report: report.clone(),
            sqlite: sqlite.clone(),
            instances: workers,
        };
        let child = Command::new(&exe)
            .arg("worker")
            .arg(serde_json::to_string(&args).map_err(|x| e(&x))?)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .map_err(|x| e(&x))?;
        children.0.push(child);
        report_paths.push(report);
    }
    Ok((children, report_paths, stop))
}

/// Stops the worker processes and reads their reports.
async fn stop_workers(
    children: Children,
    report_paths: &[PathBuf],
    stop: &std::path::Path,
    within: Duration,
) -> Result<Vec<WorkerReport>, String> {
    std::fs::write(stop, b"stop").map_err(|x| x.to_string())?;
    let mut reports = Vec::new();
    for p in report_paths {
        reports.push(worker::read_report(p, within).await?);
    }
    drop(children);
    Ok(reports)
}

/// When each invoice was synced (`tenant/invoice id`), from every worker's report.
fn synced_times(reports: &[WorkerReport]) -> BTreeMap<String, u64> {
    reports
        .iter()
        .flat_map(|r| r.synced_at.iter())
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

/// Delivers `items` at `per_s` a second, each on its tick whether or not earlier ones have
/// finished, and records every answer.
async fn paced<T, Fut>(
    items: &[T],
    per_s: f64,
    deliver: &impl Fn(&T) -> Fut,
    record: &mut impl FnMut(Fut::Output) -> Result<(), String>,
) -> Result<(), String>
where
    Fut: std::future::Future,
{
    let interval = Duration::from_secs_f64(1.0 / per_s);
    let at: Vec<(Duration, &T)> = items
        .iter()
        .enumerate()
        .map(|(i, item)| (interval * i as u32, item))
        .collect();
    scheduled(&at, &|item: &&T| deliver(item), record).await
}

/// Delivers each item at its offset from now, whether or not earlier ones have finished, and
/// records every answer.
async fn scheduled<T, Fut>(
    items: &[(Duration, T)],
    deliver: &impl Fn(&T) -> Fut,
    record: &mut impl FnMut(Fut::Output) -> Result<(), String>,
) -> Result<(), String>
where
    Fut: std::future::Future,
{
    let t0 = tokio::time::Instant::now();
    let mut pending = FuturesUnordered::new();
    for (offset, item) in items {
        let at = t0 + *offset;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(at) => break,
                Some(r) = pending.next(), if !pending.is_empty() => record(r)?,
            }
        }
        pending.push(deliver(item));
    }
    while let Some(r) = pending.next().await {
        record(r)?;
    }
    Ok(())
}

fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

async fn run_once(
    moto: &moto::Moto,
    sqs_endpoint: &str,
    opts: &Options,
    limit: usize,
    machine_request_us: f64,
) -> Result<RunResult, String> {
    let n = opts.invoices;
    let r = requests_per_invoice(opts.invoice_path);
    let bound = limit as f64 / (opts.latency.as_secs_f64() * r);
    let workers = opts.workers.unwrap_or_else(|| default_workers(limit));
    let e = |e: &dyn std::fmt::Display| e.to_string();

    // NetSuite at limit C with latency L; billing with room to spare.
    let key = opts.m2m.then(TestKeyPair::rsa);
    let ns = NetSuiteSim::start(SimConfig {
        concurrency_limit: limit,
        latency: opts.latency,
        m2m: key
            .as_ref()
            .map(|k| M2mMapping::new("bench-client", "bench-certificate", &k.public_pem)),
        ..SimConfig::default()
    })
    .await
    .map_err(|x| e(&x))?;
    let demo = ns.seed_demo();
    let cb = chargebee_site(ChargebeeSimConfig::default().site).await?;
    let warm: Vec<(String, usize)> = (0..CUSTOMERS).map(|c| paid_invoice(&cb, c, c)).collect();
    let burst: Vec<(String, usize)> = (0..n)
        .map(|i| paid_invoice(&cb, i % CUSTOMERS, CUSTOMERS + i))
        .collect();
    let steady: Vec<(String, usize)> = if opts.lag {
        (0..n)
            .map(|i| paid_invoice(&cb, i % CUSTOMERS, CUSTOMERS + n + i))
            .collect()
    } else {
        Vec::new()
    };
    // The AWS side on moto: table, FIFO queue, tenant settings and secret.
    let sdk = worker::sdk_config(moto.endpoint()).await;
    let calls = AwsCalls::default();
    let (dynamo, sqs) = worker::clients(&sdk, sqs_endpoint, &calls);
    let table = moto::unique("bench");
    create_table(&dynamo, &table).await.map_err(|x| e(&x))?;
    let (queue_url, bulk_queue_url) = create_queues(&sqs, &table).await?;
    let dir = std::env::temp_dir().join(&table);
    std::fs::create_dir_all(&dir).map_err(|x| e(&x))?;
    let sqlite = (!opts.dynamodb_store).then(|| dir.join("flows.db"));
    let counted = match &sqlite {
        Some(path) => Some(Arc::new(CountingStore::new(
            SqliteStore::open(path).map_err(|x| e(&x))?,
        ))),
        None => None,
    };
    let store: Arc<dyn Store> = match &counted {
        Some(s) => s.clone(),
        None => Arc::new(DynamoStore::new(dynamo.clone(), &table)),
    };
    let settings = TenantSettings::from_value(&tenant_settings(
        TENANT,
        &cb,
        &demo,
        limit,
        opts.invoice_path,
    ))
    .map_err(|x| e(&x))?;
    store.put_settings(&settings).await.map_err(|x| e(&x))?;
    let secret = tenant_secret(&ns, &cb, key.as_ref());
    let secrets_path = dir.join("secrets.json");
    std::fs::write(&secrets_path, json!({ TENANT: secret }).to_string()).map_err(|x| e(&x))?;

    // The intake, as the webhook function runs it.
    let intake_services = Services::new(
        store.clone(),
        Arc::new(SqsQueue::new(sqs.clone(), &queue_url)),
        Arc::new(worker::read_secrets(&secrets_path)?),
    );
    let mut webhook_ms = 0.0f64;
    let mut webhooks = 0u64;
    let mut intake_at: BTreeMap<String, u64> = BTreeMap::new();
    let deliver = |(id, event): &(String, usize)| {
        let signed = cb.webhook(*event);
        let services = intake_services.clone();
        let id = id.clone();
        async move {
            let (at, took, status, queued) = webhook(&services, TENANT, signed).await;
            (id, at, took, status, queued)
        }
    };

    // The worker processes.
    let (children, report_paths, stop) = spawn_workers(
        moto.endpoint(),
        sqs_endpoint,
        &table,
        &queue_url,
        &bulk_queue_url,
        &secrets_path,
        sqlite.clone(),
        &dir,
        workers,
    )?;

    let mut record = |(id, at, took, status, queued): (String, u64, Duration, u16, usize)| {
        webhook_ms += took.as_secs_f64() * 1000.0;
        webhooks += 1;
        intake_at.insert(id.clone(), at);
        if status != 200 || queued != 1 {
            Err(format!(
                "webhook for {id}: status {status}, {queued} queued"
            ))
        } else {
            Ok(())
        }
    };

    // Warm-up: every customer synced once; then the counters start from zero.
    for inv in &warm {
        record(deliver(inv).await)?;
    }
    wait_for_payments(&ns, CUSTOMERS as u64, Duration::from_secs(120)).await?;
    let warm_tokens = ns.stats().token_requests;
    ns.reset_stats();

    // 1. Throughput: N webhooks arrive faster than the workers can sync them (as many calls at
    // once as API Gateway would run), so the queue never runs dry; the clock runs from the
    // first webhook to the last payment. The intake holds back while BACKLOG invoices wait:
    // moto's SQS scans its whole queue for every message it hands out, so a queue of
    // thousands would measure moto, not billsync (SQS itself has no such cost).
    let cpu_before = children.cpu();
    let wakeups_before = children.wakeups();
    let steal_before = CpuTimes::now();
    let polling_before = worker::polling_cpu(&report_paths);
    let started = Instant::now();
    let backlog = workers
        * (drain_depth(limit.div_ceil(workers), opts.dynamodb_store)
            + BACKLOG_BATCHES_PER_WORKER * TAKE);
    let mut next = 0usize;
    let mut intake = FuturesUnordered::new();
    let trace = std::env::var_os("BENCH_TRACE").is_some();
    let mut traced = Instant::now();
    while next < burst.len() || !intake.is_empty() {
        while next < burst.len()
            && intake.len() < INTAKE_CONCURRENCY
            && (next as u64) < payments(&ns) + backlog as u64
        {
            intake.push(deliver(&burst[next]));
            next += 1;
        }
        tokio::select! {
            Some(r) = intake.next(), if !intake.is_empty() => record(r)?,
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
        if trace && traced.elapsed() >= Duration::from_secs(1) {
            eprintln!(
                "  t={:>5.1}s intake {next} payments {} in flight {}",
                started.elapsed().as_secs_f64(),
                payments(&ns),
                ns.stats().in_flight
            );
            traced = Instant::now();
        }
    }
    drop(intake);
    if trace {
        eprintln!(
            "  t={:>5.1}s all webhooks in",
            started.elapsed().as_secs_f64()
        );
    }
    let budget = Duration::from_secs_f64(60.0 + 4.0 * n as f64 / bound);
    wait_for_payments(&ns, n as u64, budget).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_burst = children.cpu().saturating_sub(cpu_before);
    let wakeups_burst = children.wakeups().saturating_sub(wakeups_before);
    let steal_burst = CpuTimes::now();
    let polling_burst = worker::polling_cpu(&report_paths).saturating_sub(polling_before);
    let stats = ns.stats();
    let throughput = n as f64 / elapsed;

    // 2. Lag: arrivals at a steady 80% of the bound.
    let arrival = 0.8 * bound;
    let mut lags = Vec::new();
    if opts.lag {
        ns.reset_stats();
        paced(&steady, arrival, &deliver, &mut record).await?;
        wait_for_payments(&ns, n as u64, Duration::from_secs(120)).await?;
    }
    let lag_stats = ns.stats();

    // Without a lag phase the counters were not reset, so its figures are the first phase's.
    let lag_tokens = if opts.lag {
        lag_stats.token_requests
    } else {
        0
    };
    let steal_steady = CpuTimes::now();
    let cpu_steady = children.cpu().saturating_sub(cpu_before + cpu_burst);
    let wakeups_steady = children
        .wakeups()
        .saturating_sub(wakeups_before + wakeups_burst);
    let polling_steady =
        worker::polling_cpu(&report_paths).saturating_sub(polling_before + polling_burst);

    // Stop the workers and read what they did.
    let reports = stop_workers(children, &report_paths, &stop, Duration::from_secs(60)).await?;
    let synced_at = synced_times(&reports);
    for (id, _) in &steady {
        let (Some(done), Some(start)) =
            (synced_at.get(&scenario::key(TENANT, id)), intake_at.get(id))
        else {
            return Err(format!("invoice {id} has no completion time"));
        };
        lags.push(done.saturating_sub(*start));
    }
    lags.sort_unstable();
    // Costs over every invoice the workers synced.
    let processed = (warm.len() + burst.len() + steady.len()) as f64;
    let cpu_ms: f64 = reports.iter().map(|r| r.cpu_ms - r.polling_cpu_ms).sum();
    let rss = reports
        .iter()
        .map(|r| r.max_rss_kb)
        .max()
        .unwrap_or_default();
    let busy_s: f64 = reports.iter().map(|r| r.busy_ms as f64 / 1000.0).sum();
    let batches: u64 = reports.iter().map(|r| r.batches).sum();
    let own = Units::of(&calls.snapshot());
    let own = counted
        .as_ref()
        .map_or(own, |c| own.add(Units::of_store(c)));
    let units = reports.iter().fold(own, |u, r| u.add(r.units));
    let mut worker_calls: BTreeMap<String, f64> = BTreeMap::new();
    for r in &reports {
        for (k, v) in &r.aws_calls {
            *worker_calls.entry(k.clone()).or_default() += *v as f64 / processed;
        }
    }
    for (k, v) in cb.requests() {
        worker_calls.insert(format!("chargebee:{k}"), v as f64 / processed);
    }
    let per_10k = 10_000.0 / processed;
    let per_invoice = |cpu: Duration| cpu.as_secs_f64() * 1000.0 / n as f64;
    let lambda = (busy_s * WORKER_GB + webhook_ms / 1000.0 * WEBHOOK_GB) * price::LAMBDA_GB_SECOND
        + (batches + webhooks) as f64 * price::LAMBDA_REQUEST;
    let dynamodb = units.dynamo_writes as f64 * price::DYNAMO_WRITE_UNIT
        + units.dynamo_reads as f64 * price::DYNAMO_READ_UNIT;
    let sqs_cost = units.sqs_requests as f64 * price::SQS_FIFO_REQUEST;
    let api = webhooks as f64 * price::HTTP_API_REQUEST;
    let cost = Cost {
        lambda: lambda * per_10k,
        dynamodb: dynamodb * per_10k,
        sqs: sqs_cost * per_10k,
        api_gateway: api * per_10k,
        total: (lambda + dynamodb + sqs_cost + api) * per_10k,
    };
    ns.shutdown().await;
    cb.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    // The next limit's run starts on a moto that holds nothing of this one.
    let _ = sqs.delete_queue().queue_url(&queue_url).send().await;
    let _ = sqs.delete_queue().queue_url(&bulk_queue_url).send().await;
    let _ = dynamo.delete_table().table_name(&table).send().await;

    Ok(RunResult {
        r,
        limit,
        latency_ms: opts.latency.as_millis() as u64,
        workers,
        invoices: n,
        bound_per_s: bound,
        throughput_per_s: throughput,
        ratio: throughput / bound,
        requests_per_invoice: stats.total_requests as f64 / n as f64,
        netsuite_auth: if opts.m2m { "m2m" } else { "tba" }.into(),
        token_requests: warm_tokens + stats.token_requests + lag_tokens,
        requests_by_operation: stats.requests_by_operation.clone(),
        rejected_429: stats.rejected_429 + lag_stats.rejected_429,
        peak_in_flight: stats.peak_in_flight.max(lag_stats.peak_in_flight),
        slot_utilization: stats.slot_busy.as_secs_f64() / (limit as f64 * elapsed),
        arrival_per_s: arrival,
        lag_p50_ms: percentile(&lags, 0.50),
        lag_p99_ms: percentile(&lags, 0.99),
        worker_cpu_ms_per_invoice: cpu_ms / processed,
        worker_cpu_ms_per_invoice_throughput: per_invoice(cpu_burst.saturating_sub(polling_burst)),
        worker_cpu_ms_per_invoice_lag: opts
            .lag
            .then(|| per_invoice(cpu_steady.saturating_sub(polling_steady))),
        process_cpu_ms_per_invoice_throughput: per_invoice(cpu_burst),
        process_cpu_ms_per_invoice_lag: opts.lag.then(|| per_invoice(cpu_steady)),
        worker_wakeups_per_invoice_throughput: wakeups_burst as f64 / n as f64,
        worker_wakeups_per_invoice_lag: opts.lag.then(|| wakeups_steady as f64 / n as f64),
        host_steal_pct_throughput: steal_burst.steal_pct_since(&steal_before),
        host_steal_pct_lag: opts.lag.then(|| steal_steady.steal_pct_since(&steal_burst)),
        machine_request_us,
        worker_peak_rss_mb: rss as f64 / 1024.0,
        aws_units_per_invoice: BTreeMap::from([
            (
                "dynamodb_read_units".into(),
                units.dynamo_reads as f64 / processed,
            ),
            (
                "dynamodb_write_units".into(),
                units.dynamo_writes as f64 / processed,
            ),
            ("sqs_requests".into(), units.sqs_requests as f64 / processed),
            (
                "lambda_invocations".into(),
                (batches + webhooks) as f64 / processed,
            ),
        ]),
        worker_calls_per_invoice: worker_calls,
        cost_per_10k_invoices: cost,
    })
}

/// `key value, key value, ...`
fn listed<V>(map: &BTreeMap<String, V>, value: impl Fn(&V) -> String) -> String {
    map.iter()
        .map(|(k, v)| format!("{k} {}", value(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_result(r: &RunResult) {
    println!(
        "C = {:>2}  L = {} ms  workers {}  N = {}",
        r.limit, r.latency_ms, r.workers, r.invoices
    );
    println!(
        "  throughput {:>7.2} invoices/s  bound C/(L*R) {:>7.2} (R = {})  ratio {:>5.1}%",
        r.throughput_per_s,
        r.bound_per_s,
        r.r,
        r.ratio * 100.0
    );
    println!(
        "  NetSuite requests/invoice {:.3}  429 answers {}  peak in flight {}  slots busy {:.1}%",
        r.requests_per_invoice,
        r.rejected_429,
        r.peak_in_flight,
        r.slot_utilization * 100.0
    );
    println!(
        "  NetSuite requests by operation: {}",
        listed(&r.requests_by_operation, u64::to_string)
    );
    println!(
        "  NetSuite login {}: {} token request(s) over the run, {} worker process(es); worker CPU {:.0} us per NetSuite request draining",
        r.netsuite_auth,
        r.token_requests,
        r.workers,
        r.worker_cpu_ms_per_invoice_throughput * 1000.0 / r.requests_per_invoice.max(1.0)
    );
    if let (Some(p50), Some(p99)) = (r.lag_p50_ms, r.lag_p99_ms) {
        println!(
            "  lag at {:.1} invoices/s (80% of bound): p50 {} ms  p99 {} ms",
            r.arrival_per_s, p50, p99
        );
    }
    println!(
        "  worker CPU in invocations {:.3} ms/invoice over the run ({:.3} while draining{})  peak RSS {:.1} MB",
        r.worker_cpu_ms_per_invoice,
        r.worker_cpu_ms_per_invoice_throughput,
        r.worker_cpu_ms_per_invoice_lag
            .map(|l| format!(", {l:.3} at 80% load"))
            .unwrap_or_default(),
        r.worker_peak_rss_mb
    );
    println!(
        "  with the event source's polling (emulated in the worker processes): {:.3} ms/invoice draining{}",
        r.process_cpu_ms_per_invoice_throughput,
        r.process_cpu_ms_per_invoice_lag
            .map(|l| format!(", {l:.3} at 80% load"))
            .unwrap_or_default(),
    );
    println!(
        "  worker wake-ups (voluntary context switches, polling included): {:.2}/invoice draining{}",
        r.worker_wakeups_per_invoice_throughput,
        r.worker_wakeups_per_invoice_lag
            .map(|l| format!(", {l:.2} at 80% load"))
            .unwrap_or_default(),
    );
    if r.machine_request_us > 0.0 {
        println!(
            "  worker CPU per invoice in bare requests answered alone ({:.0} us here): {:.1} draining{}",
            r.machine_request_us,
            r.worker_cpu_ms_per_invoice_throughput * 1000.0 / r.machine_request_us,
            r.worker_cpu_ms_per_invoice_lag
                .map(|l| format!(", {:.1} at 80% load", l * 1000.0 / r.machine_request_us))
                .unwrap_or_default(),
        );
    }
    println!(
        "  CPU time stolen by the host: {:.1}% draining{}",
        r.host_steal_pct_throughput,
        r.host_steal_pct_lag
            .map(|l| format!(", {l:.1}% at 80% load"))
            .unwrap_or_default(),
    );
    let u = &r.aws_units_per_invoice;
    println!(
        "  per invoice: DynamoDB {:.1} reads, {:.1} writes; SQS {:.2} requests; Lambda {:.2} invocations",
        u["dynamodb_read_units"], u["dynamodb_write_units"], u["sqs_requests"], u["lambda_invocations"]
    );
    println!(
        "  worker calls per invoice: {}",
        listed(&r.worker_calls_per_invoice, |v| format!("{v:.2}"))
    );
    let c = &r.cost_per_10k_invoices;
    println!(
        "  AWS cost per 10,000 invoices: ${:.4} (Lambda {:.4}, DynamoDB {:.4}, SQS {:.4}, API Gateway {:.4})",
        c.total, c.lambda, c.dynamodb, c.sqs, c.api_gateway
    );
}

fn print_table(results: &[RunResult]) {
    println!();
    println!("|  C | bound/s | invoices/s | ratio | slots busy | req/inv | 429 | p50 lag | p99 lag | CPU/inv draining | CPU/inv at 80% | peak RSS | $/10k | steal draining |");
    println!("|---:|--------:|-----------:|------:|-----------:|--------:|----:|--------:|--------:|--------:|--------:|--------:|------:|------:|");
    for r in results {
        let ms = |v: Option<u64>| v.map_or("-".into(), |v| format!("{v} ms"));
        println!(
            "| {} | {:.2} | {:.2} | {:.1}% | {:.1}% | {:.2} | {} | {} | {} | {:.2} ms | {} | {:.0} MB | {:.4} | {:.1}% |",
            r.limit,
            r.bound_per_s,
            r.throughput_per_s,
            r.ratio * 100.0,
            r.slot_utilization * 100.0,
            r.requests_per_invoice,
            r.rejected_429,
            ms(r.lag_p50_ms),
            ms(r.lag_p99_ms),
            r.worker_cpu_ms_per_invoice_throughput,
            r.worker_cpu_ms_per_invoice_lag
                .map_or("-".into(), |c| format!("{c:.2} ms")),
            r.worker_peak_rss_mb,
            r.cost_per_10k_invoices.total,
            r.host_steal_pct_throughput
        );
    }
}

#[cfg(test)]
mod tests {
    use super::default_workers;

    #[test]
    fn workers_divide_the_share_where_they_can() {
        // C = 5 and 15 have no divisor near C / 8: two instances, one of them waits for a
        // slot beyond its fair part.
        assert_eq!(default_workers(5), 2);
        assert_eq!(default_workers(10), 2);
        assert_eq!(default_workers(15), 2);
        assert_eq!(default_workers(20), 2);
        assert_eq!(default_workers(30), 3);
        assert_eq!(default_workers(40), 5);
        assert_eq!(default_workers(1), 2);
    }
}
