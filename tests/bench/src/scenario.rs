//! Priority and fairness: live work beside bulk work, and tenants beside each other.
//!
//! - `a`: one tenant backfills N invoices (bulk work, as `billsync backfill` queues it) while
//!   its live invoices arrive by webhook at 20% of the account's bound.
//! - `b`: two tenants on one NetSuite account; the first backfills N, both send live invoices
//!   at 10% of the bound each.
//! - `c-5xx`, `c-slow`: ten tenants on ten accounts, live invoices at 20% of each bound for
//!   a set time; after the warm-up the last account answers every request with 500, or takes
//!   2 s per request.
//!
//! Per tenant and class it prints the invoices, how many were synced, throughput against the
//! account's bound, and p50/p99/max lag (live: webhook to synced; bulk: queued to synced); per
//! account, the time for all of its invoices against the ideal N * R * L / C (and against
//! N * R * L / (0.8 C), the ideal when live work keeps its fifth), requests per invoice and
//! 429s; for every tenant, how long its messages were in progress in a worker and how many
//! were handed back for later; the workers' peak memory and AWS calls per invoice.

use super::*;

use netsuite_sim::Fault;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Kind {
    A,
    B,
    C5xx,
    CSlow,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "a" => Kind::A,
            "b" => Kind::B,
            "c-5xx" => Kind::C5xx,
            "c-slow" => Kind::CSlow,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Kind::A => "a: one tenant backfilling, its live invoices at 20% of the bound",
            Kind::B => "b: two tenants on one account, one backfilling, live at 10% each",
            Kind::C5xx => "c: ten tenants on ten accounts, the last answering 500",
            Kind::CSlow => "c: ten tenants on ten accounts, the last at 2 s per request",
        }
    }
}

/// How long live invoices arrive in the `c` scenarios.
const C_ARRIVALS: Duration = Duration::from_secs(40);
const C_TENANTS: usize = 10;
const SLOW: Duration = Duration::from_secs(2);
/// Live lag that counts as "within seconds".
const LIVE_P99_MS: u64 = 10_000;
/// How long a message of a failing account may be in progress in a worker at a time.
const HELD_MS: u32 = 5_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
enum Trouble {
    None,
    ServerErrors,
    Slow,
}

struct AccountSpec {
    trouble: Trouble,
}

struct TenantSpec {
    name: String,
    account: usize,
    backfill: usize,
    live: usize,
    live_per_s: f64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ClassFigures {
    class: &'static str,
    invoices: usize,
    synced: usize,
    per_s: f64,
    /// Of the account's bound C / (L * R).
    share_of_bound: f64,
    p50_ms: Option<u64>,
    p99_ms: Option<u64>,
    max_ms: Option<u64>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct TenantFigures {
    tenant: String,
    account: usize,
    classes: Vec<ClassFigures>,
    /// Messages of this tenant in progress in a worker (run, or found unable to run and
    /// handed back), in milliseconds.
    in_progress_p50_ms: Option<u32>,
    in_progress_p99_ms: Option<u32>,
    in_progress_max_ms: Option<u32>,
    handed_back: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct AccountFigures {
    account: usize,
    trouble: String,
    limit: usize,
    bound_per_s: f64,
    invoices: usize,
    bulk: usize,
    /// From the first message to the last invoice of the account synced.
    took_s: f64,
    /// The account's invoices per second over that time, against the bound.
    ratio: f64,
    /// N * R * L / C for the bulk invoices alone, and with live work's fifth taken out.
    backfill_ideal_s: Option<f64>,
    backfill_ideal_with_live_s: Option<f64>,
    /// From the first bulk message to the last bulk invoice synced.
    backfill_s: Option<f64>,
    requests_per_invoice: f64,
    rejected_429: u64,
    peak_in_flight: usize,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ScenarioResult {
    pub scenario: String,
    limit: usize,
    latency_ms: u64,
    r: f64,
    workers: usize,
    accounts: Vec<AccountFigures>,
    tenants: Vec<TenantFigures>,
    worker_peak_rss_mb: f64,
    /// Every AWS call the workers made (and the bench's own queueing), per invoice synced.
    aws_calls_per_invoice: BTreeMap<String, f64>,
    sqs_requests_per_invoice: f64,
    dynamodb_units_per_invoice: f64,
    /// The acceptance checks this run missed (empty: all held).
    pub missed: Vec<String>,
}

fn specs(kind: Kind, n: usize, bound: f64) -> (Vec<AccountSpec>, Vec<TenantSpec>) {
    let healthy = || AccountSpec {
        trouble: Trouble::None,
    };
    let tenant = |i: usize, account: usize, backfill: usize, live: usize, share: f64| TenantSpec {
        name: format!("t{i}"),
        account,
        backfill,
        live,
        live_per_s: share * bound,
    };
    match kind {
        // Live invoices for as long as the backfill takes with four fifths of the account.
        Kind::A => (vec![healthy()], vec![tenant(0, 0, n, n / 4, 0.2)]),
        Kind::B => (
            vec![healthy()],
            vec![tenant(0, 0, n, n / 8, 0.1), tenant(1, 0, 0, n / 8, 0.1)],
        ),
        Kind::C5xx | Kind::CSlow => {
            let live = (0.2 * bound * C_ARRIVALS.as_secs_f64()) as usize;
            let mut accounts: Vec<AccountSpec> = (0..C_TENANTS).map(|_| healthy()).collect();
            accounts[C_TENANTS - 1].trouble = if kind == Kind::C5xx {
                Trouble::ServerErrors
            } else {
                Trouble::Slow
            };
            let tenants = (0..C_TENANTS).map(|i| tenant(i, i, 0, live, 0.2)).collect();
            (accounts, tenants)
        }
    }
}

/// A tenant's invoice as the workers report it: `tenant/invoice id`.
pub fn key(tenant: &str, id: &str) -> String {
    format!("{tenant}/{id}")
}

pub async fn run(
    moto: &moto::Moto,
    sqs_endpoint: &str,
    opts: &Options,
    kind: Kind,
    n: usize,
) -> Result<ScenarioResult, String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let limit = opts.limits.first().copied().unwrap_or(5);
    let r = requests_per_invoice(opts.invoice_path);
    let latency = opts.latency;
    let bound = limit as f64 / (latency.as_secs_f64() * r);
    let workers = opts.workers.unwrap_or_else(|| default_workers(limit));
    let (account_specs, tenant_specs) = specs(kind, n, bound);

    // NetSuite accounts, and one Chargebee site per tenant.
    let mut accounts = Vec::new();
    for (i, _) in account_specs.iter().enumerate() {
        let ns = NetSuiteSim::start(SimConfig {
            account_id: format!("TSTDRV{:07}", 1000 + i),
            concurrency_limit: limit,
            latency,
            ..SimConfig::default()
        })
        .await
        .map_err(|x| e(&x))?;
        let demo = ns.seed_demo();
        accounts.push((ns, demo));
    }
    let mut sites = Vec::new();
    for t in &tenant_specs {
        let cb = chargebee_site(format!("bench-{}", t.name)).await?;
        sites.push(cb);
    }
    struct Invoices {
        warm: Vec<(String, usize)>,
        bulk: Vec<(String, usize)>,
        live: Vec<(String, usize)>,
    }
    let invoices: Vec<Invoices> = tenant_specs
        .iter()
        .zip(&sites)
        .map(|(t, cb)| {
            let warm = (0..CUSTOMERS).map(|c| paid_invoice(cb, c, c)).collect();
            let bulk = (0..t.backfill)
                .map(|i| paid_invoice(cb, i % CUSTOMERS, CUSTOMERS + i))
                .collect();
            let live = (0..t.live)
                .map(|i| paid_invoice(cb, i % CUSTOMERS, CUSTOMERS + t.backfill + i))
                .collect();
            Invoices { warm, bulk, live }
        })
        .collect();

    // The AWS side, settings and secrets of every tenant.
    let sdk = worker::sdk_config(moto.endpoint()).await;
    let calls = AwsCalls::default();
    let (dynamo, sqs) = worker::clients(&sdk, sqs_endpoint, &calls);
    let table = moto::unique("prio");
    create_table(&dynamo, &table).await.map_err(|x| e(&x))?;
    let (queue_url, bulk_queue_url) = create_queues(&sqs, &table).await?;
    let dir = std::env::temp_dir().join(&table);
    std::fs::create_dir_all(&dir).map_err(|x| e(&x))?;
    let sqlite = dir.join("flows.db");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&sqlite).map_err(|x| e(&x))?);
    let mut secrets = serde_json::Map::new();
    for (t, cb) in tenant_specs.iter().zip(&sites) {
        let (ns, demo) = &accounts[t.account];
        let mut settings = tenant_settings(&t.name, cb, demo, limit, opts.invoice_path);
        // Tenants sharing an account keep their external ids apart.
        settings["prefixes"] = json!({"external_id": t.name});
        let settings = TenantSettings::from_value(&settings).map_err(|x| e(&x))?;
        store.put_settings(&settings).await.map_err(|x| e(&x))?;
        secrets.insert(t.name.clone(), tenant_secret(ns, cb, None));
    }
    let secrets_path = dir.join("secrets.json");
    std::fs::write(
        &secrets_path,
        serde_json::Value::Object(secrets).to_string(),
    )
    .map_err(|x| e(&x))?;

    let intake_services = Services::new(
        store.clone(),
        Arc::new(SqsQueue::new(sqs.clone(), &queue_url)),
        Arc::new(worker::read_secrets(&secrets_path)?),
    );
    let deliver = |(t, id, event): &(usize, String, usize)| {
        let signed = sites[*t].webhook(*event);
        let services = intake_services.clone();
        let (tenant, id) = (tenant_specs[*t].name.clone(), id.clone());
        async move {
            let (at, _, status, queued) = webhook(&services, &tenant, signed).await;
            (key(&tenant, &id), at, status, queued)
        }
    };
    let mut intake_at: BTreeMap<String, u64> = BTreeMap::new();
    let mut record = |(k, at, status, queued): (String, u64, u16, usize)| {
        intake_at.insert(k.clone(), at);
        if status != 200 || queued != 1 {
            Err(format!("webhook for {k}: status {status}, {queued} queued"))
        } else {
            Ok(())
        }
    };

    let (children, report_paths, stop) = spawn_workers(
        moto.endpoint(),
        sqs_endpoint,
        &table,
        &queue_url,
        &bulk_queue_url,
        &secrets_path,
        Some(sqlite.clone()),
        &dir,
        workers,
    )?;

    // Warm-up: every customer of every tenant synced once.
    let warm: Vec<(usize, String, usize)> = invoices
        .iter()
        .enumerate()
        .flat_map(|(t, inv)| inv.warm.iter().map(move |(id, ev)| (t, id.clone(), *ev)))
        .collect();
    paced(&warm, 50.0, &deliver, &mut record).await?;
    for (a, (ns, _)) in accounts.iter().enumerate() {
        let on_it = tenant_specs.iter().filter(|t| t.account == a).count();
        wait_for_payments(ns, (on_it * CUSTOMERS) as u64, Duration::from_secs(180)).await?;
    }
    for ((ns, _), spec) in accounts.iter().zip(&account_specs) {
        ns.reset_stats();
        match spec.trouble {
            Trouble::None => {}
            Trouble::ServerErrors => ns.add_fault(Fault::ServerError {
                remaining: u32::MAX,
            }),
            Trouble::Slow => ns.set_latency(SLOW),
        }
    }

    // The measured phase: bulk work queued at once, live invoices paced per tenant.
    let started_ms = unix_ms();
    let t0 = Instant::now();
    let queue = SqsQueue::new(sqs.clone(), &queue_url).with_bulk(&bulk_queue_url);
    let mut bulk_sent_at = BTreeMap::new();
    for (t, inv) in invoices.iter().enumerate() {
        let tenant = &tenant_specs[t].name;
        let messages: Vec<SyncMessage> = inv
            .bulk
            .iter()
            .map(|(id, _)| {
                SyncMessage::invoice(tenant, Source::Chargebee, id, Reason::Backfill, "backfill")
                    .bulk()
            })
            .collect();
        for chunk in messages.chunks(100) {
            queue.send(chunk).await.map_err(|x| e(&x))?;
        }
        for (id, _) in &inv.bulk {
            bulk_sent_at.insert(key(tenant, id), unix_ms());
        }
    }
    if invoices.iter().any(|i| !i.bulk.is_empty()) {
        queue.wake_bulk().await.map_err(|x| e(&x))?;
    }
    // Every tenant's arrivals on one clock.
    let mut arrivals: Vec<(Duration, (usize, String, usize))> = Vec::new();
    for (t, inv) in invoices.iter().enumerate() {
        let every = Duration::from_secs_f64(1.0 / tenant_specs[t].live_per_s);
        arrivals.extend(
            inv.live
                .iter()
                .enumerate()
                .map(|(i, (id, ev))| (every * i as u32, (t, id.clone(), *ev))),
        );
    }
    arrivals.sort_by_key(|(at, _)| *at);
    scheduled(&arrivals, &deliver, &mut record).await?;
    // Healthy accounts finish everything; a troubled one is not waited for.
    for (a, (ns, _)) in accounts.iter().enumerate() {
        if account_specs[a].trouble != Trouble::None {
            continue;
        }
        let want: usize = tenant_specs
            .iter()
            .zip(&invoices)
            .filter(|(t, _)| t.account == a)
            .map(|(_, i)| i.bulk.len() + i.live.len())
            .sum();
        let budget = Duration::from_secs_f64(120.0 + 4.0 * want as f64 / bound);
        wait_for_payments(ns, want as u64, budget).await?;
    }
    let elapsed = t0.elapsed();

    let reports = stop_workers(children, &report_paths, &stop, Duration::from_secs(150)).await?;
    let synced_at = synced_times(&reports);

    // Figures per tenant and class.
    let mut tenants = Vec::new();
    let mut synced_total = 0usize;
    for (t, spec) in tenant_specs.iter().enumerate() {
        let mut classes = Vec::new();
        for (class, list, from) in [
            ("live", &invoices[t].live, &intake_at),
            ("bulk", &invoices[t].bulk, &bulk_sent_at),
        ] {
            if list.is_empty() {
                continue;
            }
            let mut lags = Vec::new();
            let mut last = started_ms;
            for (id, _) in list {
                let k = key(&spec.name, id);
                if let (Some(done), Some(start)) = (synced_at.get(&k), from.get(&k)) {
                    lags.push(done.saturating_sub(*start));
                    last = last.max(*done);
                }
            }
            lags.sort_unstable();
            synced_total += lags.len();
            let secs = (last.saturating_sub(started_ms) as f64 / 1000.0).max(0.001);
            let per_s = lags.len() as f64 / secs;
            classes.push(ClassFigures {
                class,
                invoices: list.len(),
                synced: lags.len(),
                per_s,
                share_of_bound: per_s / bound,
                p50_ms: percentile(&lags, 0.50),
                p99_ms: percentile(&lags, 0.99),
                max_ms: lags.last().copied(),
            });
        }
        let mut held: Vec<u32> = reports
            .iter()
            .flat_map(|r| r.in_progress_ms.get(&spec.name).into_iter().flatten())
            .copied()
            .collect();
        held.sort_unstable();
        let held64: Vec<u64> = held.iter().map(|&x| u64::from(x)).collect();
        tenants.push(TenantFigures {
            tenant: spec.name.clone(),
            account: spec.account,
            classes,
            in_progress_p50_ms: percentile(&held64, 0.50).map(|x| x as u32),
            in_progress_p99_ms: percentile(&held64, 0.99).map(|x| x as u32),
            in_progress_max_ms: held.last().copied(),
            handed_back: reports
                .iter()
                .filter_map(|r| r.deferred.get(&spec.name))
                .sum(),
        });
    }

    // Figures per account.
    let mut account_figures = Vec::new();
    for (a, ((ns, _), spec)) in accounts.iter().zip(&account_specs).enumerate() {
        let stats = ns.stats();
        let mut last = started_ms;
        let mut last_bulk = None::<u64>;
        let (mut count, mut bulk_count) = (0usize, 0usize);
        for (t, tspec) in tenant_specs.iter().enumerate() {
            if tspec.account != a {
                continue;
            }
            for (class, list) in [("live", &invoices[t].live), ("bulk", &invoices[t].bulk)] {
                count += list.len();
                for (id, _) in list {
                    if let Some(done) = synced_at.get(&key(&tspec.name, id)) {
                        last = last.max(*done);
                        if class == "bulk" {
                            last_bulk = Some(last_bulk.unwrap_or(0).max(*done));
                        }
                    }
                }
                if class == "bulk" {
                    bulk_count += list.len();
                }
            }
        }
        let took = last.saturating_sub(started_ms) as f64 / 1000.0;
        let writes: u64 = stats
            .requests_by_operation
            .iter()
            .filter(|(op, _)| op.starts_with("create:") || op.starts_with("transform:"))
            .map(|(_, n)| n)
            .sum();
        let synced_here = payments(ns) as f64;
        let ideal =
            (bulk_count > 0).then(|| bulk_count as f64 * r * latency.as_secs_f64() / limit as f64);
        account_figures.push(AccountFigures {
            account: a,
            trouble: format!("{:?}", spec.trouble),
            limit,
            bound_per_s: bound,
            invoices: count,
            bulk: bulk_count,
            took_s: took,
            // Nothing synced (an account that only failed): no rate to give.
            ratio: if took > 0.0 {
                count as f64 / took / bound
            } else {
                0.0
            },
            backfill_ideal_s: ideal,
            backfill_ideal_with_live_s: ideal.map(|i| i / 0.8),
            backfill_s: last_bulk.map(|l| l.saturating_sub(started_ms) as f64 / 1000.0),
            requests_per_invoice: if synced_here > 0.0 {
                writes as f64 / synced_here
            } else {
                0.0
            },
            rejected_429: stats.rejected_429,
            peak_in_flight: stats.peak_in_flight,
        });
    }

    let processed = synced_total.max(1) as f64;
    let own = Units::of(&calls.snapshot());
    let units = reports.iter().fold(own, |u, r| u.add(r.units));
    let mut aws_calls: BTreeMap<String, f64> = BTreeMap::new();
    for (k, v) in calls.snapshot() {
        *aws_calls.entry(k).or_default() += v as f64 / processed;
    }
    for r in &reports {
        for (k, v) in &r.aws_calls {
            if !k.starts_with("store:") {
                *aws_calls.entry(k.clone()).or_default() += *v as f64 / processed;
            }
        }
    }
    let rss = reports
        .iter()
        .map(|r| r.max_rss_kb)
        .max()
        .unwrap_or_default();

    let mut result = ScenarioResult {
        scenario: kind.name().into(),
        limit,
        latency_ms: latency.as_millis() as u64,
        r,
        workers,
        accounts: account_figures,
        tenants,
        worker_peak_rss_mb: rss as f64 / 1024.0,
        aws_calls_per_invoice: aws_calls,
        sqs_requests_per_invoice: units.sqs_requests as f64 / processed,
        dynamodb_units_per_invoice: (units.dynamo_reads + units.dynamo_writes) as f64 / processed,
        missed: Vec::new(),
    };
    result.missed = missed(&result, kind, n);
    if std::env::var_os("BENCH_TRACE").is_some() {
        eprintln!("  scenario took {elapsed:?}");
    }

    for (ns, _) in accounts {
        ns.shutdown().await;
    }
    for cb in sites {
        cb.shutdown().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = sqs.delete_queue().queue_url(&queue_url).send().await;
    let _ = sqs.delete_queue().queue_url(&bulk_queue_url).send().await;
    let _ = dynamo.delete_table().table_name(&table).send().await;
    Ok(result)
}

/// The acceptance figures this run missed. A small backfill (the smoke run) is checked for
/// what holds at any size: R exact, no 429, live lag within seconds.
fn missed(r: &ScenarioResult, kind: Kind, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let full = n >= 1000;
    for a in &r.accounts {
        if a.trouble != "None" {
            continue;
        }
        if a.rejected_429 > 0 {
            out.push(format!(
                "account {}: {} answers of 429",
                a.account, a.rejected_429
            ));
        }
        if (a.requests_per_invoice - r.r).abs() > 1e-9 {
            out.push(format!(
                "account {}: {:.3} requests per invoice, not {}",
                a.account, a.requests_per_invoice, r.r
            ));
        }
        if full && matches!(kind, Kind::A | Kind::B) {
            if a.ratio < 0.95 {
                out.push(format!(
                    "account {}: {:.1}% of its bound",
                    a.account,
                    100.0 * a.ratio
                ));
            }
            if let (Some(took), Some(ideal)) = (a.backfill_s, a.backfill_ideal_with_live_s) {
                if took > 1.10 * ideal {
                    out.push(format!(
                        "account {}: backfill {took:.1} s, over 110% of {ideal:.1} s",
                        a.account
                    ));
                }
            }
        }
    }
    for t in &r.tenants {
        let troubled = r.accounts[t.account].trouble != "None";
        if troubled {
            if kind == Kind::C5xx && t.in_progress_max_ms.unwrap_or(0) > HELD_MS {
                out.push(format!(
                    "{}: a message held a worker place {} ms",
                    t.tenant,
                    t.in_progress_max_ms.unwrap_or(0)
                ));
            }
            continue;
        }
        for c in &t.classes {
            if c.synced < c.invoices {
                out.push(format!(
                    "{} {}: {} of {} synced",
                    t.tenant, c.class, c.synced, c.invoices
                ));
            }
            if c.class == "live" && c.p99_ms.unwrap_or(u64::MAX) >= LIVE_P99_MS {
                out.push(format!("{} live: p99 lag {:?} ms", t.tenant, c.p99_ms));
            }
        }
    }
    out
}

fn ms(v: Option<u64>) -> String {
    v.map_or("-".into(), |v| format!("{v} ms"))
}

pub fn print(r: &ScenarioResult) {
    println!(
        "scenario {}  C = {}  L = {} ms  R = {}  workers {}",
        r.scenario, r.limit, r.latency_ms, r.r, r.workers
    );
    println!("| account | trouble | invoices | bulk | took | ratio | backfill | ideal N*R*L/C | ideal with live's fifth | req/inv | 429 | peak in flight |");
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for a in &r.accounts {
        let pct = |x: Option<f64>| match (a.backfill_s, x) {
            (Some(t), Some(i)) => format!("{i:.1} s ({:.0}%)", 100.0 * t / i),
            _ => "-".into(),
        };
        println!(
            "| {} | {} | {} | {} | {:.1} s | {:.1}% | {} | {} | {} | {:.3} | {} | {} |",
            a.account,
            a.trouble,
            a.invoices,
            a.bulk,
            a.took_s,
            100.0 * a.ratio,
            a.backfill_s.map_or("-".into(), |t| format!("{t:.1} s")),
            pct(a.backfill_ideal_s),
            pct(a.backfill_ideal_with_live_s),
            a.requests_per_invoice,
            a.rejected_429,
            a.peak_in_flight
        );
    }
    println!("| tenant | account | class | invoices | synced | per s | of bound | p50 lag | p99 lag | max lag | in worker p50 | p99 | max | handed back |");
    println!("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for t in &r.tenants {
        for c in &t.classes {
            println!(
                "| {} | {} | {} | {} | {} | {:.2} | {:.1}% | {} | {} | {} | {} | {} | {} | {} |",
                t.tenant,
                t.account,
                c.class,
                c.invoices,
                c.synced,
                c.per_s,
                100.0 * c.share_of_bound,
                ms(c.p50_ms),
                ms(c.p99_ms),
                ms(c.max_ms),
                ms(t.in_progress_p50_ms.map(u64::from)),
                ms(t.in_progress_p99_ms.map(u64::from)),
                ms(t.in_progress_max_ms.map(u64::from)),
                t.handed_back
            );
        }
    }
    println!(
        "  workers: peak RSS {:.1} MB; per invoice synced: SQS {:.2} requests, DynamoDB {:.2} units; {}",
        r.worker_peak_rss_mb,
        r.sqs_requests_per_invoice,
        r.dynamodb_units_per_invoice,
        listed(&r.aws_calls_per_invoice, |v| format!("{v:.2}"))
    );
    if r.missed.is_empty() {
        println!("  acceptance: every check held");
    } else {
        for m in &r.missed {
            println!("  missed: {m}");
        }
    }
}
