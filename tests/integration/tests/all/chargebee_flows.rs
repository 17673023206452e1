//! A Chargebee tenant end to end: the Chargebee mode of the billing simulator as the source,
//! the NetSuite simulator as the target, the same engine and flows as Maxio.

use std::sync::Arc;
use std::time::Duration;

use billing_sim::{CbInvoice, CbLine, ChargebeeSim, ChargebeeSimConfig};
use billsync::billing::chargebee::client::{ChargebeeClient, ChargebeeConfig};
use billsync::flow::run::Engine;
use billsync::flow::state::FlowStatus;
use billsync::netsuite::{NetSuiteClient, NetSuiteConfig, RetryPolicy};
use billsync::queue::local::LocalQueue;
use billsync::queue::SyncMessage;
use billsync::secrets::{parse_secret, StaticSecrets};
use billsync::service::Services;
use billsync::settings::TenantSettings;
use billsync::store::counting::CountingStore;
use billsync::store::prelude::*;
use billsync::store::sqlite::SqliteStore;
use netsuite_sim::{DemoData, NetSuiteSim, SimConfig};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

use crate::common;

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

fn chargebee(cb: &ChargebeeSim) -> ChargebeeClient {
    let mut config = ChargebeeConfig::new(cb.config().site, cb.config().api_key.into());
    config.base_url = Some(cb.base_url().parse().unwrap());
    ChargebeeClient::new(config).unwrap()
}

/// A Chargebee tenant `cb` on the services the functions use: its settings in an in-memory
/// store, its secret naming both simulators, a local queue.
async fn chargebee_services(
    ns: &NetSuiteSim,
    demo: &DemoData,
    cb: &ChargebeeSim,
) -> (
    Arc<CountingStore<SqliteStore>>,
    Services,
    tokio::sync::mpsc::UnboundedReceiver<SyncMessage>,
) {
    let store = Arc::new(CountingStore::new(SqliteStore::in_memory().unwrap()));
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
    let (queue, rx) = LocalQueue::new();
    let services = Services::new(
        store.clone(),
        Arc::new(queue),
        Arc::new(StaticSecrets::default().with("cb", secret)),
    );
    (store, services, rx)
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
    let chargebee = chargebee(&cb);
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
    use billsync::service::intake::{self, WebhookRequest};
    use billsync::service::local::run_until_empty;
    use billsync::service::sweep::{sweep_tenant, CHARGEBEE_EVENTS_CURSOR};

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
    let (store, services, mut rx) = chargebee_services(&ns, &demo, &cb).await;

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
    assert_eq!(r.queued[0].invoice_id(), Some(second.as_str()));
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

/// One Chargebee payment for two invoices, announced by one webhook: both invoices are queued
/// and NetSuite ends with both paid by one payment, not the second left open until a sweep.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_webhook_queues_every_invoice_the_payment_paid() {
    use billsync::service::intake::{self, WebhookRequest};
    use billsync::service::local::run_until_empty;
    use billsync::service::sweep::sweep_tenant;

    let ns = NetSuiteSim::start(SimConfig::default()).await.unwrap();
    let demo = ns.seed_demo();
    let cb = ChargebeeSim::start(ChargebeeSimConfig::default())
        .await
        .unwrap();
    cb.add_customer("c1", None, "Ada", "Lovelace", "ada@example.com", "USD");
    let invoice = |date: i64, quantity: i64| CbInvoice {
        customer_id: "c1".into(),
        currency: "USD".into(),
        date,
        lines: vec![CbLine {
            entity_type: "adhoc".into(),
            entity_id: None,
            description: "Consulting".into(),
            quantity,
            unit_amount: 10000,
            tax_rate_percent: 0,
        }],
        ..CbInvoice::default()
    };
    let a = cb.add_invoice(invoice(1_769_900_000, 1));
    let b = cb.add_invoice(invoice(1_769_900_100, 2));
    let (_store, services, mut rx) = chargebee_services(&ns, &demo, &cb).await;
    sweep_tenant(&services, "cb").await.unwrap();
    run_until_empty(&services, &mut rx, |_, _| {}).await;
    assert_eq!(ns.records("invoice").len(), 2);

    let events_before = cb.event_count();
    let txn = cb.pay_many(&[(&a, 10000), (&b, 20000)]);
    // Only the first of the payment's events is delivered.
    let (body, auth) = cb.webhook(events_before);
    let header =
        move |name: &str| (name.eq_ignore_ascii_case("authorization")).then(|| auth.clone());
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
    let queued: Vec<_> = r.queued.iter().filter_map(|m| m.invoice_id()).collect();
    assert_eq!(
        (r.status, queued),
        (200, vec![a.as_str(), b.as_str()]),
        "{r:?}"
    );
    let dedup: std::collections::BTreeSet<_> = r.queued.iter().map(|m| &m.dedup_id).collect();
    assert_eq!(dedup.len(), 2, "each message has its own de-duplication id");
    run_until_empty(&services, &mut rx, |_, _| {}).await;

    let payments = ns.records("customerPayment");
    assert_eq!(payments.len(), 1, "{payments:?}");
    assert_eq!(payments[0]["externalId"], format!("bs-cb-pmt-{txn}"));
    assert_eq!(money(&payments[0]["payment"]), dec!(300.00));
    for inv in ns.records("invoice") {
        assert_eq!(money(&inv["amountRemaining"]), Decimal::ZERO, "{inv}");
    }
}

/// A sync batch's invoices are read with one list call per kind of record, and each comes out
/// exactly as reading it alone gives it; the worker uses that read for a batch's flows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_chargebee_invoices_is_read_in_one_list_call_per_record_kind() {
    use std::collections::BTreeMap;

    use billsync::billing::model::Source;
    use billsync::queue::Reason;
    use billsync::service::worker::{process, Delivery, MessageOutcome};

    let ns = NetSuiteSim::start(SimConfig::default()).await.unwrap();
    let demo = ns.seed_demo();
    let cb = ChargebeeSim::start(ChargebeeSimConfig::default())
        .await
        .unwrap();
    cb.add_customer("c1", None, "Ada", "Lovelace", "ada@example.com", "USD");
    cb.add_customer(
        "c2",
        Some("Vogt GmbH"),
        "Lena",
        "Vogt",
        "lena@example.com",
        "USD",
    );
    let invoice = |customer: &str, date: i64, cents: i64| {
        cb.add_invoice(CbInvoice {
            customer_id: customer.into(),
            currency: "USD".into(),
            date,
            lines: vec![CbLine {
                entity_type: "adhoc".into(),
                entity_id: None,
                description: "Consulting".into(),
                quantity: 1,
                unit_amount: cents,
                tax_rate_percent: 0,
            }],
            ..CbInvoice::default()
        })
    };
    let paid = invoice("c1", 1_769_900_000, 10_000);
    cb.pay(&paid, 10_000);
    let refunded = invoice("c1", 1_769_900_100, 20_000);
    cb.pay(&refunded, 20_000);
    cb.refund(&refunded, 5_000);
    let adjusted = invoice("c2", 1_769_900_200, 30_000);
    cb.adjust(&adjusted, 1_000);
    let partly_paid = invoice("c2", 1_769_900_300, 40_000);
    cb.pay(&partly_paid, 15_000);
    let ids = vec![
        paid.clone(),
        refunded.clone(),
        adjusted.clone(),
        partly_paid.clone(),
        "inv_not_there".to_owned(),
        paid.clone(),
    ];

    let client = chargebee(&cb);
    cb.reset_requests();
    let together = client.invoices(&ids).await.unwrap();
    assert_eq!(
        cb.requests(),
        BTreeMap::from(
            ["invoices", "customers", "credit_notes", "transactions"].map(|r| (r.to_owned(), 1))
        )
    );
    let mut keys: Vec<&String> = together.keys().collect();
    keys.sort();
    let mut expected = vec![&paid, &refunded, &adjusted, &partly_paid];
    expected.sort();
    assert_eq!(keys, expected);
    for id in expected {
        let alone = client.invoice(id).await.unwrap();
        assert_eq!(together[id], alone, "{id}");
    }
    assert!(!together[&refunded].refunds.is_empty());
    assert!(!together[&adjusted].credit_notes.is_empty());
    // The payment's references come from its transaction, read in the transactions list.
    assert!(
        together[&paid].payments[0].gateway.is_some(),
        "{:?}",
        together[&paid].payments
    );

    // The worker reads its batch together and every flow still syncs once.
    let (store, services, _rx) = chargebee_services(&ns, &demo, &cb).await;
    let message = |id: &String| Delivery {
        id: format!("m-{id}"),
        body: serde_json::to_string(&SyncMessage::invoice(
            "cb",
            Source::Chargebee,
            id.as_str(),
            Reason::Webhook,
            format!("test-{id}"),
        ))
        .unwrap(),
    };
    let batch: Vec<Delivery> = [&paid, &refunded, &adjusted, &partly_paid]
        .into_iter()
        .map(message)
        .collect();
    cb.reset_requests();
    store.reset();
    let outcomes = process(&services, batch).await;
    for (id, outcome) in &outcomes {
        assert!(
            matches!(outcome, MessageOutcome::Done(Some(o)) if o.error.is_none()),
            "{id}: {outcome:?}"
        );
    }
    assert_eq!(
        cb.requests().get("invoices"),
        Some(&1),
        "{:?}",
        cb.requests()
    );
    assert_eq!(
        cb.requests().get("customers"),
        Some(&1),
        "{:?}",
        cb.requests()
    );
    // The group's flows come from one store read, none is read alone.
    assert_eq!(store.count("read_many"), 1, "{:?}", store.calls());
    assert_eq!(store.count("flow"), 0, "{:?}", store.calls());
    assert_eq!(store.count("save_flow"), 4, "{:?}", store.calls());
    assert_eq!(ns.records("invoice").len(), 4);
    assert_eq!(ns.records("customerPayment").len(), 3);
    for id in [&paid, &refunded, &adjusted, &partly_paid] {
        let flow = store.flow("cb", id).await.unwrap().unwrap();
        assert_eq!(flow.value.status, FlowStatus::Synced, "{id}");
    }

    // Now both customers are linked: a next group reads its flows and both links in one
    // store read, and its flows read nothing more (but their settings, which these services
    // keep no copy of).
    let more = [
        invoice("c1", 1_769_900_400, 5_000),
        invoice("c2", 1_769_900_500, 6_000),
    ];
    cb.pay(&more[0], 5_000);
    cb.pay(&more[1], 6_000);
    let batch = more.iter().map(message).collect();
    store.reset();
    let outcomes = process(&services, batch).await;
    assert!(outcomes
        .iter()
        .all(|(_, o)| matches!(o, MessageOutcome::Done(Some(o)) if o.error.is_none())));
    assert_eq!(
        store.calls(),
        BTreeMap::from(
            [
                // Each message asks whether its tenant is paused.
                ("store:cursor", 2),
                ("store:read_many", 1),
                ("store:save_flow", 2),
                ("store:settings", 3)
            ]
            .map(|(k, n)| (k.to_owned(), n))
        )
    );
    assert_eq!(ns.records("customer").len(), 2, "no customer twice");
}

/// Backfill and reconcile read Chargebee's invoice list by date: a range's invoices are
/// queued once each, synced, and reconcile clean; a second backfill creates nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chargebee_month_backfills_once_and_reconciles_clean() {
    use billsync::billing::source::BillingSource;
    use billsync::service::backfill::backfill;
    use billsync::service::local::run_until_empty;
    use billsync::service::reconcile::reconcile;
    use chrono::NaiveDate;
    use futures::TryStreamExt;

    let ns = NetSuiteSim::start(SimConfig::default()).await.unwrap();
    let demo = ns.seed_demo();
    let cb = ChargebeeSim::start(ChargebeeSimConfig::default())
        .await
        .unwrap();
    cb.add_customer("c1", None, "Ada", "Lovelace", "ada@example.com", "USD");
    let invoice = |date: i64, units: i64| CbInvoice {
        customer_id: "c1".into(),
        currency: "USD".into(),
        date,
        lines: vec![CbLine {
            entity_type: "adhoc".into(),
            entity_id: None,
            description: "Consulting".into(),
            quantity: units,
            unit_amount: 10000,
            tax_rate_percent: 0,
        }],
        ..CbInvoice::default()
    };
    let paid = cb.add_invoice(invoice(1_768_046_400, 1));
    let open = cb.add_invoice(invoice(1_768_910_400, 2));
    let february = cb.add_invoice(invoice(1_770_120_000, 3));
    cb.pay(&paid, 10000);
    let (_store, services, mut rx) = chargebee_services(&ns, &demo, &cb).await;
    let (from, to) = (
        NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        NaiveDate::from_ymd_opt(2026, 1, 31).unwrap(),
    );

    let report = backfill(&services, "cb", from, to).await.unwrap();
    assert_eq!((report.read, report.queued), (2, 2), "{report:?}");
    let queued: Vec<SyncMessage> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
    assert_eq!(queued.len(), 2);
    assert!(
        queued
            .iter()
            .all(|m| m.class == billsync::queue::Class::Bulk),
        "a backfill is bulk work: {queued:?}"
    );
    let batch: Vec<billsync::service::worker::Delivery> = queued
        .iter()
        .enumerate()
        .map(|(i, m)| billsync::service::worker::Delivery {
            id: format!("b{i}"),
            body: serde_json::to_string(m).unwrap(),
        })
        .collect();
    assert!(billsync::service::worker::process_batch(&services, batch)
        .await
        .is_empty());
    run_until_empty(&services, &mut rx, |_, _| {}).await;
    for uid in [&paid, &open] {
        let flow = services.store.flow("cb", uid).await.unwrap().unwrap();
        assert_eq!(flow.value.status, FlowStatus::Synced, "{uid}");
    }
    assert!(services
        .store
        .flow("cb", &february)
        .await
        .unwrap()
        .is_none());
    let made = (
        ns.records("invoice").len(),
        ns.records("customerPayment").len(),
    );
    assert_eq!(made, (2, 1));

    let settings = services.settings("cb").await.unwrap();
    let r = reconcile(&services, &settings, from, to).await.unwrap();
    assert!(r.is_clean(), "{r:#?}");
    let usd = &r.currencies[0];
    assert_eq!(usd.billing, usd.netsuite);
    assert_eq!(usd.billing.invoices.total, dec!(300));
    assert_eq!(usd.netsuite.open, dec!(200));

    // Twice: everything is queued again and nothing new is made.
    let again = backfill(&services, "cb", from, to).await.unwrap();
    assert_eq!(again.queued, 2);
    assert_eq!(run_until_empty(&services, &mut rx, |_, _| {}).await, (2, 0));
    assert_eq!(
        (
            ns.records("invoice").len(),
            ns.records("customerPayment").len()
        ),
        made
    );

    // The list is read in pages of 100 (date, then id order), each invoice once.
    for n in 0..101 {
        cb.add_invoice(invoice(1_768_046_400 + n, 1));
    }
    let listed: Vec<String> = chargebee(&cb)
        .invoices_issued(from, to)
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .into_iter()
        .flatten()
        .map(|i| i.uid)
        .collect();
    let distinct: std::collections::BTreeSet<_> = listed.iter().collect();
    assert_eq!((listed.len(), distinct.len()), (103, 103));
}
