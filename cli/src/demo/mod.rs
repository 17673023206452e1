//! `billsync demo`: the whole pipeline on one machine with no AWS and no NetSuite account.
//!
//! The NetSuite and Maxio simulators start in-process on loopback; a demo tenant lives in the
//! embedded store; a generated month of billing is delivered as signed webhooks to the same
//! intake the Lambda runs, the worker syncs, the warehouse fulfils the inventory orders, the
//! sweep catches what webhooks do not carry (payments, refunds, credit notes), and the summary
//! accounts for every invoice and compares totals per currency. A second pass re-reads all
//! billing events from the start and must create nothing.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use billing_sim::{BillingSim, DatasetSpec, WebhookEvent};
use billsync::billing::maxio::client::{MaxioClient, MaxioConfig};
use billsync::billing::model::CatalogKind;
use billsync::flow::state::FlowStatus;
use billsync::netsuite::records::{RecordType, SalesTransaction};
use billsync::netsuite::RecordKey;
use billsync::queue::local::LocalQueue;
use billsync::queue::SyncMessage;
use billsync::secrets::{parse_secret, StaticSecrets};
use billsync::service::intake::{self, WebhookRequest};
use billsync::service::local::run_until_empty;
use billsync::service::readback::read_back;
use billsync::service::sweep::{sweep_tenant, CHARGEBEE_EVENTS_CURSOR, MAXIO_EVENTS_CURSOR};

use crate::demo_chargebee;

mod report;

use billsync::netsuite::AuthMethod;
use billsync::service::Services;
use billsync::settings::TenantSettings;
use billsync::store::prelude::*;
use billsync::store::sqlite::SqliteStore;
use futures::TryStreamExt;
use netsuite_sim::keys::TestKeyPair;
use netsuite_sim::{DemoData, M2mMapping, NetSuiteSim, SimConfig};
pub use report::render;
pub use report::{CurrencyTotals, DemoReport, Tally};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedReceiver;

pub const TENANT: &str = "demo";

/// How the demo runs.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// Invoice records to generate (segments of consolidated invoices included).
    pub invoices: usize,
    pub seed: u64,
    /// Keep the embedded store in this file (it is reset first: the simulators start empty).
    pub state: Option<PathBuf>,
    /// Show progress on stderr.
    pub progress: bool,
    /// Use this NetSuite instead of the in-process simulator (a sandbox, or any compatible
    /// endpoint), with the ids of its records to use.
    pub netsuite: Option<ExternalNetSuite>,
    /// Invoices of the second tenant, a Chargebee site (0: Maxio only).
    pub chargebee_invoices: usize,
    /// How the demo logs in to the simulator: TBA, or OAuth 2.0 M2M with a key pair made for
    /// the run. An external NetSuite uses what its settings give.
    pub netsuite_auth: AuthMethod,
}

/// A NetSuite endpoint outside the demo: its connection settings and the internal ids of the
/// subsidiary, accounts, currencies and items the demo tenant maps to (the same keys
/// `netsuite-sim --seed-demo` creates; see infra/demo/netsuite-sim-ids.json).
#[derive(Clone, Debug)]
pub struct ExternalNetSuite {
    pub config: billsync::netsuite::NetSuiteConfig,
    pub ids: DemoData,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            invoices: 240,
            seed: 7,
            state: None,
            progress: false,
            netsuite: None,
            chargebee_invoices: 40,
            netsuite_auth: AuthMethod::Tba,
        }
    }
}

struct Progress {
    on: bool,
    tty: bool,
}

impl Progress {
    fn step(&self, what: &str, done: usize, total: usize) {
        if !self.on {
            return;
        }
        if self.tty {
            let width = 30;
            let filled = (done * width).checked_div(total).unwrap_or(width);
            eprint!(
                "\r{what:<28} [{}{}] {done}/{total}",
                "#".repeat(filled),
                " ".repeat(width - filled)
            );
            if done >= total {
                eprintln!();
            }
            let _ = std::io::stderr().flush();
        } else if done == total || done == 0 {
            eprintln!("{what}: {done}/{total}");
        }
    }

    fn line(&self, text: &str) {
        if self.on {
            eprintln!("{text}");
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DemoError(String);

fn err(e: impl std::fmt::Display) -> DemoError {
    DemoError(e.to_string())
}

/// A tenant secret (the JSON a Secrets Manager secret or `--secrets` file holds) for the two
/// simulators: their fake credentials and loopback addresses.
pub fn simulator_secret(ns: &NetSuiteSim, bill: &BillingSim) -> Value {
    let bc = bill.config();
    json!({
        "netsuite": simulator_netsuite_secret(ns, None),
        "billing": {"api_key": bc.api_key, "webhook_key": bc.shared_key, "base_url": bill.base_url()}
    })
}

/// The `netsuite` part of a tenant secret for the simulator: its TBA values, or, given the
/// private key of its OAuth 2.0 mapping, the M2M ones.
pub fn simulator_netsuite_secret(ns: &NetSuiteSim, private_key: Option<&str>) -> Value {
    let nc = ns.config();
    match (&nc.m2m, private_key) {
        (Some(m), Some(key)) => json!({"account_id": nc.account_id, "auth": "m2m",
            "client_id": m.client_id, "certificate_id": m.certificate_id,
            "private_key": key, "base_url": ns.base_url()}),
        _ => json!({"account_id": nc.account_id, "consumer_key": nc.consumer_key,
            "consumer_secret": nc.consumer_secret, "token_id": nc.token_id,
            "token_secret": nc.token_secret, "base_url": ns.base_url()}),
    }
}

/// Where the demo's NetSuite records go.
enum Target {
    /// The in-process simulator, with the private key of its OAuth 2.0 mapping when the demo
    /// logs in that way.
    Sim(NetSuiteSim, Option<String>),
    External(
        billsync::netsuite::NetSuiteClient,
        Box<billsync::netsuite::NetSuiteConfig>,
    ),
}

const COUNTED: [(&str, RecordType); 10] = [
    ("nonInventorySaleItem", RecordType::NonInventorySaleItem),
    ("customer", RecordType::Customer),
    ("salesOrder", RecordType::SalesOrder),
    ("invoice", RecordType::Invoice),
    ("customerPayment", RecordType::CustomerPayment),
    ("customerDeposit", RecordType::CustomerDeposit),
    ("depositApplication", RecordType::DepositApplication),
    ("creditMemo", RecordType::CreditMemo),
    ("customerRefund", RecordType::CustomerRefund),
    ("itemFulfillment", RecordType::ItemFulfillment),
];

impl Target {
    fn describe(&self) -> String {
        match self {
            Target::Sim(ns, _) => format!("NetSuite simulator {}", ns.base_url()),
            Target::External(_, c) => format!("NetSuite {} ({})", c.root_url(), c.account_id),
        }
    }

    /// The `netsuite` part of the tenant secret.
    fn secret(&self) -> Value {
        match self {
            Target::Sim(ns, key) => simulator_netsuite_secret(ns, key.as_deref()),
            Target::External(_, c) => billsync::secrets::netsuite_secret_value(c),
        }
    }

    /// Records per type NetSuite holds now.
    async fn counts(&self) -> Result<BTreeMap<String, usize>, DemoError> {
        let mut out = BTreeMap::new();
        for (name, rt) in COUNTED {
            let n = match self {
                Target::Sim(ns, _) => ns.records(name).len(),
                Target::External(client, _) => {
                    client.list(rt, 1, 0).await.map_err(err)?.total_results as usize
                }
            };
            out.insert(name.to_owned(), n);
        }
        Ok(out)
    }

    /// The warehouse ships a sales order.
    async fn fulfil(&self, sales_order: &str) -> Result<(), DemoError> {
        match self {
            Target::Sim(ns, _) => ns.fulfill_sales_order(sales_order).map(drop).map_err(err),
            Target::External(client, _) => client
                .transform(
                    RecordType::SalesOrder,
                    sales_order,
                    RecordType::ItemFulfillment,
                    &json!({}),
                    &[],
                )
                .await
                .map(drop)
                .map_err(err),
        }
    }

    async fn invoice_total(&self, id: &str) -> Decimal {
        match self {
            Target::Sim(ns, _) => ns
                .record("invoice", id)
                .map(|r| money(&r["total"]))
                .unwrap_or_default(),
            Target::External(client, _) => client
                .get::<SalesTransaction>(RecordType::Invoice, &RecordKey::id(id))
                .await
                .ok()
                .and_then(|i| i.total)
                .unwrap_or_default(),
        }
    }
}

/// The tenant's settings: every catalog entry mapped to one of the simulator's demo items.
pub async fn settings(bill: &BillingSim, demo: &DemoData) -> Result<TenantSettings, DemoError> {
    let config = bill.config();
    let mut mc = MaxioConfig::new(config.subdomain.clone(), config.api_key.clone().into());
    mc.base_url = Some(bill.base_url().parse().map_err(err)?);
    let maxio = MaxioClient::new(mc).map_err(err)?;
    let mut products = serde_json::Map::new();
    for p in maxio
        .products()
        .try_collect::<Vec<_>>()
        .await
        .map_err(err)?
    {
        let physical = p.category.as_deref() == Some("Physical Goods");
        let item = if physical {
            json!({"id": demo.item_hardware, "type": "inventory"})
        } else {
            json!({"id": demo.item_subscription, "type": "service"})
        };
        products.insert(p.id, item);
    }
    let mut components = serde_json::Map::new();
    for c in maxio
        .components()
        .try_collect::<Vec<_>>()
        .await
        .map_err(err)?
    {
        debug_assert_eq!(c.kind, CatalogKind::Component);
        components.insert(
            c.id,
            json!({"id": demo.item_usage, "type": "non_inventory"}),
        );
    }
    TenantSettings::from_value(&json!({
        "tenant": TENANT, "source": "maxio", "site": config.subdomain, "sync_start_date": "2025-01-01",
        "items": {
            "products": products, "components": components,
            "custom_default": {"id": demo.item_services, "type": "service"},
            "setup_default": {"id": demo.item_services, "type": "service"},
            "other_default": {"id": demo.item_services, "type": "service"},
            "tax_item": {"id": demo.item_sales_tax, "type": "non_inventory"},
            "discount_item": demo.item_discount
        },
        "invoices": {"skip_zero_dollar": true, "subscription_groups": "parent"},
        "payments": {"payment_instruments": true},
        "refunds": {"account": demo.account_bank},
        "transactions": {"subsidiary": demo.subsidiary},
        "currencies": {"USD": demo.currency_usd, "EUR": demo.currency_eur}
    }))
    .map_err(err)
}

/// Runs the worker until the queue is empty.
async fn drain(
    services: &Services,
    rx: &mut UnboundedReceiver<SyncMessage>,
    progress: &Progress,
    what: &str,
) {
    run_until_empty(services, rx, |done, total| progress.step(what, done, total)).await;
}

fn money(v: &Value) -> Decimal {
    v.to_string().trim_matches('"').parse().unwrap_or_default()
}

/// Runs the demo end to end.
pub async fn run(opts: &DemoOptions) -> Result<DemoReport, DemoError> {
    let progress = Progress {
        on: opts.progress,
        tty: std::io::stderr().is_terminal(),
    };
    let (target, demo) = match &opts.netsuite {
        None => {
            // With OAuth 2.0, a key pair made for this run and its public half mapped in the
            // simulator, as an administrator maps a certificate.
            let key = (opts.netsuite_auth == AuthMethod::M2m).then(TestKeyPair::ec_p256);
            let config = SimConfig {
                m2m: key
                    .as_ref()
                    .map(|k| M2mMapping::new("demo-m2m-client", "demo-certificate", &k.public_pem)),
                ..SimConfig::default()
            };
            let ns = NetSuiteSim::start(config).await.map_err(err)?;
            let demo = ns.seed_demo();
            (Target::Sim(ns, key.map(|k| k.private_pem)), demo)
        }
        Some(ext) => {
            let client =
                billsync::netsuite::NetSuiteClient::new(ext.config.clone()).map_err(err)?;
            (
                Target::External(client, Box::new(ext.config.clone())),
                ext.ids.clone(),
            )
        }
    };
    let spec = DatasetSpec {
        seed: opts.seed,
        invoices: opts.invoices,
        ..DatasetSpec::default()
    };
    let bill = BillingSim::start_with(billing_sim::SimConfig::default(), &spec)
        .await
        .map_err(err)?;
    progress.line(&format!(
        "{} · Maxio simulator {} ({} invoices, {} events)",
        target.describe(),
        bill.base_url(),
        bill.invoice_uids().len(),
        bill.event_count()
    ));

    let store: Arc<SqliteStore> = Arc::new(match &opts.state {
        Some(path) => {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
            SqliteStore::open(path).map_err(err)?
        }
        None => SqliteStore::in_memory().map_err(err)?,
    });
    let settings = settings(&bill, &demo).await?;
    store.put_settings(&settings).await.map_err(err)?;
    let bc = bill.config();
    let secret = json!({
        "netsuite": target.secret(),
        "billing": {"api_key": bc.api_key, "webhook_key": bc.shared_key, "base_url": bill.base_url()}
    });
    let secret = parse_secret(&secret.to_string()).map_err(err)?;
    let mut secrets = StaticSecrets::default().with(TENANT, secret);
    let chargebee = if opts.chargebee_invoices > 0 {
        let month = demo_chargebee::start(opts.seed, opts.chargebee_invoices, &demo)
            .await
            .map_err(err)?;
        progress.line(&format!(
            "Chargebee simulator {} ({} invoices, {} events)",
            month.sim.base_url(),
            month.invoices.len(),
            month.sim.event_count()
        ));
        let settings = demo_chargebee::settings(&month.sim, &demo).map_err(err)?;
        store.put_settings(&settings).await.map_err(err)?;
        let secret =
            json!({"netsuite": target.secret(), "billing": demo_chargebee::secret(&month.sim)});
        secrets = secrets.with(
            demo_chargebee::TENANT,
            parse_secret(&secret.to_string()).map_err(err)?,
        );
        Some(month)
    } else {
        None
    };
    let tenants: Vec<&str> = std::iter::once(TENANT)
        .chain(chargebee.as_ref().map(|_| demo_chargebee::TENANT))
        .collect();
    let before_run = target.counts().await?;
    let (queue, mut rx) = LocalQueue::new();
    let services = Services::new(store.clone(), Arc::new(queue), Arc::new(secrets));

    let uids = bill.invoice_uids();
    let mut report = DemoReport {
        generated: uids.len(),
        ..Default::default()
    };

    // 1. Webhooks, signed like Maxio's, into the Lambda's intake code.
    for (i, uid) in uids.iter().enumerate() {
        let (id, body, sig) = bill.webhook_body(&WebhookEvent::InvoiceIssued {
            invoice_uid: uid.clone(),
        });
        let (id, sig) = (id.to_string(), sig);
        let header = move |name: &str| match name.to_ascii_lowercase().as_str() {
            "x-chargify-webhook-signature-hmac-sha-256" => Some(sig.clone()),
            "x-chargify-webhook-id" => Some(id.clone()),
            _ => None,
        };
        let r = intake::receive(
            &services,
            WebhookRequest {
                tenant: TENANT,
                source: "maxio",
                body: &body,
                header: &header,
            },
        )
        .await;
        if r.status == 200 {
            report.webhooks_delivered += 1;
        }
        progress.step("delivering webhooks", i + 1, uids.len());
    }
    // Every Chargebee event, as the site's webhook endpoint sends it (Basic credentials).
    if let Some(month) = &chargebee {
        let events = month.sim.event_count();
        for i in 0..events {
            let (body, auth) = month.sim.webhook(i);
            let header = move |name: &str| {
                name.eq_ignore_ascii_case("authorization")
                    .then(|| auth.clone())
            };
            let r = intake::receive(
                &services,
                WebhookRequest {
                    tenant: demo_chargebee::TENANT,
                    source: "chargebee",
                    body: &body,
                    header: &header,
                },
            )
            .await;
            if r.status == 200 {
                report.chargebee.webhooks_delivered += 1;
            }
            progress.step("delivering Chargebee webhooks", i + 1, events);
        }
    }
    drain(&services, &mut rx, &progress, "syncing invoices").await;

    // 2. The sweep: payments, refunds and credit notes arrive as invoice events.
    for t in &tenants {
        sweep_tenant(&services, t).await.map_err(err)?;
    }
    drain(&services, &mut rx, &progress, "sweep: syncing changes").await;

    // 3. The warehouse ships the inventory orders; the next sweep invoices them.
    let waiting = store
        .flows_with_status(TENANT, FlowStatus::AwaitingFulfilment, 100_000)
        .await
        .map_err(err)?;
    for (i, f) in waiting.iter().enumerate() {
        if let Some(so) = &f.value.sales_order_id {
            target.fulfil(so).await?;
            report.fulfilled_orders += 1;
        }
        progress.step("fulfilling orders", i + 1, waiting.len());
    }
    for t in &tenants {
        sweep_tenant(&services, t).await.map_err(err)?;
    }
    drain(&services, &mut rx, &progress, "sweep: after fulfilment").await;
    report.records_created = target
        .counts()
        .await?
        .into_iter()
        .map(|(k, n)| {
            let was = before_run.get(&k).copied().unwrap_or(0);
            (k, n.saturating_sub(was))
        })
        .collect();

    // 4. Again, from the first billing event: nothing new may appear.
    let before: usize = report.records_created.values().sum();
    store
        .put_cursor(TENANT, MAXIO_EVENTS_CURSOR, "0")
        .await
        .map_err(err)?;
    if chargebee.is_some() {
        store
            .put_cursor(demo_chargebee::TENANT, CHARGEBEE_EVENTS_CURSOR, "0")
            .await
            .map_err(err)?;
    }
    for t in &tenants {
        sweep_tenant(&services, t).await.map_err(err)?;
    }
    drain(&services, &mut rx, &progress, "second pass").await;
    let after: usize =
        target.counts().await?.values().sum::<usize>() - before_run.values().sum::<usize>();
    report.second_pass_new_records = after.saturating_sub(before);

    // 5. NetSuite's own figures read back and compared with billing's (a difference would be
    // an error entry); then account for every invoice and compare totals.
    for t in &tenants {
        let settings = services.settings(t).await.map_err(err)?;
        report
            .read_back
            .push(read_back(&services, &settings).await.map_err(err)?);
    }
    let maxio = tally(store.as_ref(), TENANT, &uids, &target, |uid| {
        let billing = bill.invoice_json(uid).unwrap_or_default();
        let currency = billing["currency"].as_str().unwrap_or("?").to_owned();
        (currency, money(&billing["total_amount"]))
    })
    .await?;
    report.synced = maxio.synced;
    report.awaiting_fulfilment = maxio.awaiting_fulfilment;
    report.skipped = maxio.skipped;
    report.parked = maxio.parked;
    report.errors = maxio.errors;
    report.totals = maxio.totals;
    if let Some(month) = &chargebee {
        let delivered = report.chargebee.webhooks_delivered;
        report.chargebee = tally(
            store.as_ref(),
            demo_chargebee::TENANT,
            &month.invoices,
            &target,
            |id| {
                let (_, currency) = month.sim.invoice_party(id);
                let total = month
                    .sim
                    .invoice_json(id)
                    .and_then(|i| i["total"].as_i64())
                    .unwrap_or_default();
                let total = billsync::billing::model::from_minor_units(total, &currency);
                (currency, total)
            },
        )
        .await?;
        report.chargebee.webhooks_delivered = delivered;
    }
    if let Target::Sim(ns, Some(_)) = &target {
        report.login = Some(format!(
            "OAuth 2.0 client credentials (M2M): {} token request(s) for the whole run",
            ns.stats().token_requests
        ));
    }
    Ok(report)
}

/// Where each of a tenant's invoices ended up, and billing vs NetSuite totals per currency
/// over the synced ones. `billing_total` gives an invoice's currency and billed total.
async fn tally(
    store: &SqliteStore,
    tenant: &str,
    uids: &[String],
    target: &Target,
    billing_total: impl Fn(&str) -> (String, Decimal),
) -> Result<Tally, DemoError> {
    let mut out = Tally {
        generated: uids.len(),
        ..Tally::default()
    };
    let mut totals: BTreeMap<String, CurrencyTotals> = BTreeMap::new();
    for uid in uids {
        let Some(flow) = store.flow(tenant, uid).await.map_err(err)? else {
            out.errors.push((
                uid.clone(),
                "none".into(),
                "never reached the worker".into(),
                "run the sweep".into(),
            ));
            continue;
        };
        let f = flow.value;
        match f.status {
            FlowStatus::Synced => {
                out.synced += 1;
                let (currency, billed) = billing_total(uid);
                let ns_total = match f.invoice_id.as_deref() {
                    Some(id) => target.invoice_total(id).await,
                    None => Decimal::ZERO,
                };
                let t = totals.entry(currency.clone()).or_insert(CurrencyTotals {
                    currency,
                    invoices: 0,
                    billing: Decimal::ZERO,
                    netsuite: Decimal::ZERO,
                });
                t.invoices += 1;
                t.billing += billed;
                t.netsuite += ns_total;
            }
            FlowStatus::Skipped => {
                *out.skipped.entry(f.reason.unwrap_or_default()).or_default() += 1
            }
            FlowStatus::Parked => out.parked.push((uid.clone(), f.reason.unwrap_or_default())),
            FlowStatus::AwaitingFulfilment => out.awaiting_fulfilment += 1,
            FlowStatus::Error | FlowStatus::Pending | FlowStatus::Held => {
                let e = f.last_error.clone();
                out.errors.push((
                    uid.clone(),
                    e.as_ref()
                        .map(|e| e.step.clone())
                        .unwrap_or_else(|| f.status.as_str().into()),
                    e.as_ref().map(|e| e.cause.clone()).unwrap_or_default(),
                    e.as_ref().map(|e| e.fix.clone()).unwrap_or_default(),
                ));
            }
        }
    }
    out.totals = totals.into_values().collect();
    Ok(out)
}
