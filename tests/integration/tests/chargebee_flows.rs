//! A Chargebee tenant end to end: the Chargebee mode of the billing simulator as the source,
//! the NetSuite simulator as the target, the same engine and flows as Maxio.

use std::time::Duration;

use billing_sim::{CbInvoice, CbLine, ChargebeeSim, ChargebeeSimConfig};
use billsync::billing::chargebee::client::{ChargebeeClient, ChargebeeConfig};
use billsync::flow::run::Engine;
use billsync::flow::state::FlowStatus;
use billsync::netsuite::{NetSuiteClient, NetSuiteConfig, RetryPolicy};
use billsync::settings::TenantSettings;
use billsync::store::sqlite::SqliteStore;
use billsync::store::Store;
use netsuite_sim::{NetSuiteSim, SimConfig};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

mod common;

fn money(v: &Value) -> Decimal {
    v.to_string().trim_matches('"').parse().unwrap()
}

async fn netsuite(ns: &NetSuiteSim) -> NetSuiteClient {
    let mut config: NetSuiteConfig = common::client_config(ns);
    config.retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(10),
    };
    NetSuiteClient::new(config).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chargebee_invoice_with_payment_and_refund_lands_in_netsuite_once() {
    let ns = NetSuiteSim::start(SimConfig::default()).await.unwrap();
    let demo = ns.seed_demo();
    let cb = ChargebeeSim::start(ChargebeeSimConfig::default())
        .await
        .unwrap();
    cb.add_customer(
        "halvorsen",
        Some("Halvorsen Robotics"),
        "Ingrid",
        "Halvorsen",
        "ap@halvorsen.example.com",
        "USD",
    );
    let invoice_id = cb.add_invoice(CbInvoice {
        customer_id: "halvorsen".into(),
        currency: "USD".into(),
        date: 1_769_900_000,
        lines: vec![
            CbLine {
                entity_type: "plan_item_price".into(),
                entity_id: Some("pro-USD-monthly".into()),
                description: "Pro".into(),
                quantity: 1,
                unit_amount: 49900,
                tax_rate_percent: 10,
            },
            CbLine {
                entity_type: "addon_item_price".into(),
                entity_id: Some("seats-USD-monthly".into()),
                description: "Seats".into(),
                quantity: 3,
                unit_amount: 1500,
                tax_rate_percent: 10,
            },
        ],
        ..CbInvoice::default()
    });
    cb.pay(&invoice_id, 59840);
    cb.refund(&invoice_id, 2000);

    let settings = TenantSettings::from_value(&json!({
        "tenant": "cb", "source": "chargebee", "site": cb.config().site, "sync_start_date": "2020-01-01",
        "items": {
            "products": {"pro-USD-monthly": {"id": demo.item_subscription, "type": "service"}},
            "components": {"seats-USD-monthly": {"id": demo.item_usage, "type": "non_inventory"}},
            "custom_default": {"id": demo.item_services, "type": "service"},
            "tax_item": {"id": demo.item_sales_tax, "type": "non_inventory"},
            "discount_item": demo.item_discount
        },
        "payments": {"payment_instruments": true},
        "refunds": {"account": demo.account_bank},
        "transactions": {"subsidiary": demo.subsidiary},
        "prefixes": {"external_id": "CB"}
    }))
    .unwrap();
    let store = SqliteStore::in_memory().unwrap();
    store.put_settings(&settings).await.unwrap();
    let mut cc = ChargebeeConfig::new(cb.config().site, cb.config().api_key.into());
    cc.base_url = Some(cb.base_url().parse().unwrap());
    let chargebee = ChargebeeClient::new(cc).unwrap();
    let ns_client = netsuite(&ns).await;

    let billed = chargebee.invoice(&invoice_id).await.unwrap();
    billed.validate().unwrap();
    let engine = Engine {
        netsuite: &ns_client,
        store: &store,
        billing: &chargebee,
    };
    let out = engine.sync_invoice(&settings, &invoice_id).await.unwrap();
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");

    let invoice = &ns.records("invoice")[0];
    assert_eq!(invoice["externalId"], format!("CB-inv-{invoice_id}"));
    assert_eq!(money(&invoice["total"]), billed.totals.total);
    assert_eq!(ns.records("customer")[0]["externalId"], "CB-halvorsen");
    assert_eq!(
        ns.records("customer")[0]["companyName"],
        "Halvorsen Robotics"
    );
    assert_eq!(ns.records("customerPayment").len(), 1);
    assert_eq!(ns.records("creditMemo").len(), 1);
    let refunds = ns.records("customerRefund");
    assert_eq!(refunds.len(), 1);
    assert_eq!(money(&refunds[0]["total"]), dec!(20.00));

    let before: usize = [
        "customer",
        "salesOrder",
        "invoice",
        "customerPayment",
        "creditMemo",
        "customerRefund",
    ]
    .iter()
    .map(|t| ns.records(t).len())
    .sum();
    let again = engine.sync_invoice(&settings, &invoice_id).await.unwrap();
    assert!(again.created.is_empty(), "{again:?}");
    let after: usize = [
        "customer",
        "salesOrder",
        "invoice",
        "customerPayment",
        "creditMemo",
        "customerRefund",
    ]
    .iter()
    .map(|t| ns.records(t).len())
    .sum();
    assert_eq!(before, after);
}
