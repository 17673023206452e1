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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_and_the_webhook_intake_serve_a_chargebee_tenant() {
    use std::sync::Arc;

    use billsync::queue::local::LocalQueue;
    use billsync::secrets::{parse_secret, StaticSecrets};
    use billsync::service::intake::{self, WebhookRequest};
    use billsync::service::local::run_until_empty;
    use billsync::service::sweep::{sweep_tenant, CHARGEBEE_EVENTS_CURSOR};
    use billsync::service::Services;

    let ns = NetSuiteSim::start(SimConfig::default()).await.unwrap();
    let demo = ns.seed_demo();
    let cb = ChargebeeSim::start(ChargebeeSimConfig::default())
        .await
        .unwrap();
    cb.add_customer("c1", None, "Ada", "Lovelace", "ada@example.com", "USD");
    let line = |n: i64| CbLine {
        entity_type: "adhoc".into(),
        entity_id: None,
        description: "Consulting".into(),
        quantity: n,
        unit_amount: 10000,
        tax_rate_percent: 0,
    };
    let first = cb.add_invoice(CbInvoice {
        customer_id: "c1".into(),
        currency: "USD".into(),
        date: 1_769_900_000,
        lines: vec![line(1)],
        ..CbInvoice::default()
    });
    let second = cb.add_invoice(CbInvoice {
        customer_id: "c1".into(),
        currency: "USD".into(),
        date: 1_769_900_100,
        lines: vec![line(2)],
        ..CbInvoice::default()
    });
    cb.pay(&first, 10000);

    let store = Arc::new(SqliteStore::in_memory().unwrap());
    store
        .put_settings(
            &TenantSettings::from_value(&json!({
                "tenant": "cb", "source": "chargebee", "site": cb.config().site, "sync_start_date": "2020-01-01",
                "items": {"custom_default": {"id": demo.item_services, "type": "service"},
                          "tax_item": {"id": demo.item_sales_tax, "type": "non_inventory"}, "discount_item": demo.item_discount},
                "payments": {"payment_instruments": true}, "refunds": {"account": demo.account_bank},
                "transactions": {"subsidiary": demo.subsidiary}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let (nc, c) = (ns.config(), cb.config());
    let secret = parse_secret(
        &json!({
            "netsuite": {"account_id": nc.account_id, "consumer_key": nc.consumer_key, "consumer_secret": nc.consumer_secret,
                         "token_id": nc.token_id, "token_secret": nc.token_secret, "base_url": ns.base_url()},
            "billing": {"api_key": c.api_key, "webhook_username": c.webhook_username, "webhook_password": c.webhook_password,
                        "base_url": cb.base_url()}
        })
        .to_string(),
    )
    .unwrap();
    let (queue, mut rx) = LocalQueue::new();
    let services = Services::new(
        store.clone(),
        Arc::new(queue),
        Arc::new(StaticSecrets::default().with("cb", secret)),
    );

    // The sweep reads the events list from the start date and queues both invoices.
    let report = sweep_tenant(&services, "cb").await.unwrap();
    assert_eq!(report.events_read, cb.event_count());
    assert_eq!(report.invoices_queued, 2);
    assert!(store
        .cursor("cb", CHARGEBEE_EVENTS_CURSOR)
        .await
        .unwrap()
        .is_some());
    run_until_empty(&services, &mut rx, |_, _| {}).await;
    assert_eq!(ns.records("invoice").len(), 2);
    assert_eq!(ns.records("customerPayment").len(), 1);

    // A webhook with the endpoint's Basic credentials is queued; wrong ones are refused.
    cb.pay(&second, 20000);
    let (body, auth) = cb.webhook(cb.event_count() - 1);
    let post = |auth: String| {
        let header =
            move |name: &str| (name.eq_ignore_ascii_case("authorization")).then(|| auth.clone());
        let body = body.clone();
        let services = services.clone();
        async move {
            intake::receive(
                &services,
                WebhookRequest {
                    tenant: "cb",
                    source: "chargebee",
                    body: &body,
                    header: &header,
                },
            )
            .await
        }
    };
    assert_eq!(post("Basic d3Jvbmc6d3Jvbmc=".into()).await.status, 401);
    let r = post(auth).await;
    assert_eq!((r.status, r.queued.len()), (200, 1), "{r:?}");
    assert_eq!(r.queued[0].invoice_id, second);
    run_until_empty(&services, &mut rx, |_, _| {}).await;
    assert_eq!(ns.records("customerPayment").len(), 2);

    // customer_changed: queued as a customer change; the worker updates the NetSuite customer.
    cb.update_customer(
        "c1",
        billing_sim::chargebee::CbCustomerUpdate {
            email: Some("ada@analytical.example.com".into()),
            ..Default::default()
        },
    );
    let (body, auth) = cb.webhook(cb.event_count() - 1);
    let header = move |name: &str| {
        name.eq_ignore_ascii_case("authorization")
            .then(|| auth.clone())
    };
    let r = intake::receive(
        &services,
        WebhookRequest {
            tenant: "cb",
            source: "chargebee",
            body: &body,
            header: &header,
        },
    )
    .await;
    assert_eq!((r.status, r.queued.len()), (200, 1), "{r:?}");
    assert_eq!(r.queued[0].customer_id(), Some("c1"));
    run_until_empty(&services, &mut rx, |_, _| {}).await;
    let customers = ns.records("customer");
    assert_eq!(customers.len(), 1);
    assert_eq!(customers[0]["email"], "ada@analytical.example.com");
}
