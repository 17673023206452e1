//! A tenant wired on local adapters (SQLite store, in-process queue, static secrets) against
//! both simulators.

use std::sync::Arc;

use billing_sim::BillingSim;
use billsync::queue::local::LocalQueue;
use billsync::queue::{Queue, SyncMessage};
use billsync::secrets::{parse_secret, StaticSecrets};
use billsync::service::Services;
use billsync::settings::TenantSettings;
use billsync::store::prelude::*;
use billsync::store::sqlite::SqliteStore;
use netsuite_sim::{NetSuiteSim, SimConfig};
use serde_json::json;
use tokio::sync::mpsc::UnboundedReceiver;

pub struct Env {
    pub ns: NetSuiteSim,
    pub demo: netsuite_sim::DemoData,
    pub bill: BillingSim,
    pub store: Arc<SqliteStore>,
    pub services: Services,
    pub rx: UnboundedReceiver<SyncMessage>,
}

pub async fn env_with(bill: BillingSim, queue: Option<Arc<dyn Queue>>) -> Env {
    let ns = NetSuiteSim::start(SimConfig::default()).await.unwrap();
    let demo = ns.seed_demo();
    let settings = TenantSettings::from_value(&json!({
        "tenant": "acme", "source": "maxio", "site": "acme-demo", "sync_start_date": "2025-01-01",
        "items": {
            "custom_default": {"id": demo.item_services, "type": "service"},
            "setup_default": {"id": demo.item_services, "type": "service"},
            "other_default": {"id": demo.item_services, "type": "service"},
            "tax_item": {"id": demo.item_sales_tax, "type": "non_inventory"},
            "discount_item": demo.item_discount
        },
        "payments": {"payment_instruments": true},
        "refunds": {"account": demo.account_bank},
        "transactions": {"subsidiary": demo.subsidiary}
    }))
    .unwrap();
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    store.put_settings(&settings).await.unwrap();
    let nc = ns.config();
    let bc = bill.config();
    let secret = parse_secret(
        &json!({
            "netsuite": {"account_id": nc.account_id, "consumer_key": nc.consumer_key, "consumer_secret": nc.consumer_secret,
                         "token_id": nc.token_id, "token_secret": nc.token_secret, "base_url": ns.base_url()},
            "billing": {"api_key": bc.api_key, "webhook_key": bc.shared_key, "base_url": bill.base_url()}
        })
        .to_string(),
    )
    .unwrap();
    let (local, rx) = LocalQueue::new();
    let queue: Arc<dyn Queue> = queue.unwrap_or_else(|| Arc::new(local));
    let services = Services::new(
        store.clone(),
        queue,
        Arc::new(StaticSecrets::default().with("acme", secret)),
    );
    Env {
        ns,
        demo,
        bill,
        store,
        services,
        rx,
    }
}

pub async fn env() -> Env {
    env_with(
        BillingSim::start(billing_sim::SimConfig::default())
            .await
            .unwrap(),
        None,
    )
    .await
}

pub fn drain(rx: &mut UnboundedReceiver<SyncMessage>) -> Vec<SyncMessage> {
    let mut out = Vec::new();
    while let Ok(m) = rx.try_recv() {
        out.push(m);
    }
    out
}

/// Issues a one-line invoice of 10.00 to a new customer, on `on`.
pub fn issue_on(bill: &BillingSim, on: chrono::NaiveDate) -> String {
    use billing_sim::{NewCustomer, NewInvoice, NewLine, NewProduct};
    let product = bill.add_product(NewProduct {
        name: "Plan".into(),
        handle: "plan".into(),
        price: rust_decimal_macros::dec!(10),
        ..Default::default()
    });
    let customer = bill.add_customer(NewCustomer {
        first_name: "Ada".into(),
        last_name: "L".into(),
        email: "ada@example.com".into(),
        ..Default::default()
    });
    bill.issue_invoice(NewInvoice {
        lines: vec![NewLine::Setup {
            product_id: product,
            amount: rust_decimal_macros::dec!(10),
        }],
        ..NewInvoice::new(customer, on)
    })
}

/// Sweeps the tenant and works every queued message once, as the worker would; panics if a
/// message would be retried.
pub async fn sweep_and_work(env: &mut Env) {
    billsync::service::sweep::sweep_tenant(&env.services, "acme")
        .await
        .unwrap();
    work_queued(&env.services, &mut env.rx).await;
}

/// Works every message `rx` holds once, as the worker would; panics if one would be retried.
pub async fn work_queued(services: &Services, rx: &mut UnboundedReceiver<SyncMessage>) {
    use billsync::service::worker::{process_batch, Delivery};
    let batch: Vec<Delivery> = drain(rx)
        .iter()
        .enumerate()
        .map(|(i, m)| Delivery {
            id: format!("m{i}"),
            body: serde_json::to_string(m).unwrap(),
        })
        .collect();
    assert!(process_batch(services, batch).await.is_empty());
}

/// NetSuite's invoice for the tenant's billing invoice `uid`, found by its external id.
pub fn ns_invoice(env: &Env, uid: &str) -> serde_json::Value {
    env.ns
        .records("invoice")
        .into_iter()
        .find(|r| r["externalId"] == format!("bs-acme-inv-{uid}").as_str())
        .unwrap()
}
