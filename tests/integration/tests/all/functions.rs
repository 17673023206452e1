//! The Lambda handlers fed the real event shapes kept in infra/events (API Gateway v2,
//! EventBridge schedule, SQS batch, manual invoke), on local adapters and both simulators.

use crate::common;

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::encodings::Body;
use aws_lambda_events::sqs::SqsEvent;
use base64::Engine as _;
use billing_sim::{NewCustomer, NewInvoice, NewLine, NewProduct, WebhookEvent};
use common::local::{drain, env};
use rust_decimal_macros::dec;
use serde_json::{json, Value};

fn event(name: &str) -> Value {
    let path = format!("{}/../../infra/events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn body_text(r: &aws_lambda_events::apigw::ApiGatewayV2httpResponse) -> String {
    match &r.body {
        Some(Body::Text(t)) => t.clone(),
        other => format!("{other:?}"),
    }
}

#[tokio::test]
async fn webhook_handler_queues_a_signed_delivery_and_refuses_a_forged_one() {
    let mut env = env().await;
    let product = env.bill.add_product(NewProduct {
        name: "Plan".into(),
        handle: "plan".into(),
        price: dec!(10),
        ..Default::default()
    });
    let customer = env.bill.add_customer(NewCustomer {
        first_name: "A".into(),
        last_name: "B".into(),
        email: "a@example.com".into(),
        ..Default::default()
    });
    let uid = env.bill.issue_invoice(NewInvoice {
        lines: vec![NewLine::Setup {
            product_id: product,
            amount: dec!(10),
        }],
        ..NewInvoice::new(
            customer,
            chrono::NaiveDate::from_ymd_opt(2026, 1, 5).unwrap(),
        )
    });
    let (id, body, sig) = env.bill.webhook_body(&WebhookEvent::InvoiceIssued {
        invoice_uid: uid.clone(),
    });

    // The recorded API Gateway shape, with this delivery's body and signature.
    let mut raw = event("webhook-maxio.json");
    raw["body"] = json!(base64::engine::general_purpose::STANDARD.encode(&body));
    raw["headers"]["x-chargify-webhook-signature-hmac-sha-256"] = json!(sig);
    raw["headers"]["x-chargify-webhook-id"] = json!(id.to_string());
    let request: ApiGatewayV2httpRequest = serde_json::from_value(raw.clone()).unwrap();
    let r = billsync_webhook::handle(&env.services, request).await;
    assert_eq!(r.status_code, 200, "{}", body_text(&r));
    let queued = drain(&mut env.rx);
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].invoice_id(), Some(uid.as_str()));

    raw["headers"]["x-chargify-webhook-signature-hmac-sha-256"] = json!("00".repeat(32));
    raw["headers"]["x-chargify-webhook-id"] = json!("forged-1");
    let forged: ApiGatewayV2httpRequest = serde_json::from_value(raw.clone()).unwrap();
    let r = billsync_webhook::handle(&env.services, forged).await;
    assert_eq!(r.status_code, 401);
    assert!(
        drain(&mut env.rx).is_empty(),
        "nothing queued for a bad signature"
    );

    raw["pathParameters"]["tenant"] = json!("someone-else");
    let unknown: ApiGatewayV2httpRequest = serde_json::from_value(raw).unwrap();
    assert_eq!(
        billsync_webhook::handle(&env.services, unknown)
            .await
            .status_code,
        401,
        "an unknown tenant is answered as a bad signature is"
    );
}

#[tokio::test]
async fn worker_handler_reports_partial_batch_failures() {
    let env = env().await;
    let mut batch = event("worker-batch.json");
    let template = batch["Records"][0].clone();
    let mut poison = template.clone();
    poison["messageId"] = json!("poison-1");
    poison["body"] = json!("not a message");
    let mut unknown = template.clone();
    unknown["messageId"] = json!("unknown-invoice");
    batch["Records"] = json!([poison, unknown]);
    let event: SqsEvent = serde_json::from_value(batch).unwrap();
    let r = billsync_worker::handle(&env.services, event, deadline()).await;
    // An unreadable message is dropped (redelivery cannot help); an invoice billing does not
    // know is logged as a billing error that needs a person: neither is redelivered.
    assert!(
        r.batch_item_failures.is_empty(),
        "{:?}",
        r.batch_item_failures
    );
}

#[tokio::test]
async fn sweep_handler_runs_on_schedule_and_on_sync_now() {
    let env = env().await;
    let all = billsync_sweep::handle(&env.services, event("sweep-scheduled.json"))
        .await
        .unwrap();
    assert_eq!(all["swept"].as_array().unwrap().len(), 1, "{all}");
    let one = billsync_sweep::handle(&env.services, event("sweep-sync-now.json"))
        .await
        .unwrap();
    assert_eq!(one["tenant"], "acme");
}

#[tokio::test]
async fn retry_handler_lists_and_queues() {
    let mut env = env().await;
    for name in [
        "retry-list.json",
        "retry-all-failed.json",
        "retry-invoices.json",
    ] {
        let req = serde_json::from_value(event(name)).unwrap();
        let r = billsync_retry::handle(&env.services, req).await.unwrap();
        assert_eq!(r.tenant, "acme");
        if name == "retry-invoices.json" {
            assert_eq!(r.queued, vec!["inv_9qzk3w7m2x4bd".to_string()]);
            assert_eq!(drain(&mut env.rx).len(), 1);
        }
    }
}

/// A worker invocation's deadline, as Lambda gives it with the template's 120 s timeout.
fn deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + std::time::Duration::from_secs(120)
}

/// A scheduled sweep answers a failure a person must fix (a tenant without credentials) in its
/// result, and ends with a function error only for one that may pass by itself (the queue
/// refusing), so Lambda's retry of the event is spent where it can help.
#[tokio::test]
async fn a_scheduled_sweep_fails_the_invocation_only_for_retryable_failures() {
    use billsync::queue::{Queue, QueueError, SyncMessage};
    use billsync::store::prelude::*;

    let env = env().await;
    let mut orphan = env.services.settings("acme").await.unwrap();
    orphan.tenant = "orphan".into();
    env.store.put_settings(&orphan).await.unwrap();
    let answer = billsync_sweep::handle(&env.services, event("sweep-scheduled.json"))
        .await
        .unwrap();
    assert_eq!(answer["swept"].as_array().unwrap().len(), 1, "{answer}");
    let failed = answer["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{answer}");
    assert!(
        failed[0].as_str().unwrap().starts_with("orphan: "),
        "{answer}"
    );

    struct Refusing;
    #[async_trait::async_trait]
    impl Queue for Refusing {
        async fn send(&self, _: &[SyncMessage]) -> Result<(), QueueError> {
            Err(QueueError("throttled".into()))
        }
    }
    let refusing = billsync::service::Services::new(
        env.store.clone(),
        std::sync::Arc::new(Refusing),
        env.services.secrets.clone(),
    );
    let e = billsync_sweep::handle(&refusing, event("sweep-scheduled.json"))
        .await
        .unwrap_err();
    assert!(e.is_retryable(), "{e}");
    // What the runtime reports for it: the kind a caller's retry rule matches on.
    let reported = lambda_runtime::Diagnostic::from(e);
    assert_eq!(reported.error_type, "Retryable");
    assert!(reported.error_message.contains("throttled"), "{reported:?}");
}

/// Sync Now and a manual retry of a tenant nobody set up end as `NonRetryable`: invoking again
/// cannot help until someone adds the tenant.
#[tokio::test]
async fn manual_invocations_report_a_problem_a_person_must_fix_as_non_retryable() {
    let env = env().await;
    let e = billsync_sweep::handle(&env.services, serde_json::json!({"tenant": "nobody"}))
        .await
        .unwrap_err();
    let reported = lambda_runtime::Diagnostic::from(e);
    assert_eq!(reported.error_type, "NonRetryable");
    assert!(reported.error_message.contains("nobody"), "{reported:?}");
    let req =
        serde_json::from_value(serde_json::json!({"tenant": "nobody", "list": true})).unwrap();
    let e = billsync_retry::handle(&env.services, req)
        .await
        .unwrap_err();
    assert_eq!(
        lambda_runtime::Diagnostic::from(e).error_type,
        "NonRetryable"
    );
}

/// The sweep function runs backfills and reconciles as invoked: the scheduled reconcile keeps
/// each tenant's report for `reconcile --last`; an event it cannot read is NonRetryable.
#[tokio::test]
async fn sweep_handler_backfills_and_keeps_the_scheduled_reconcile() {
    use billsync::service::reconcile::{last_report, reconcile_and_keep};
    use billsync::service::worker::{process_batch, Delivery};

    let mut env = env().await;
    let uid = common::local::issue_on(
        &env.bill,
        chrono::NaiveDate::from_ymd_opt(2026, 1, 5).unwrap(),
    );
    let queued = billsync_sweep::handle(&env.services, event("sweep-backfill.json"))
        .await
        .unwrap();
    assert_eq!(
        (queued["read"].clone(), queued["queued"].clone()),
        (json!(1), json!(1))
    );
    let batch: Vec<Delivery> = drain(&mut env.rx)
        .iter()
        .map(|m| Delivery {
            id: "m".into(),
            body: serde_json::to_string(m).unwrap(),
        })
        .collect();
    assert_eq!(batch.len(), 1);
    assert!(process_batch(&env.services, batch).await.is_empty());
    assert_eq!(env.ns.records("invoice").len(), 1);

    // The schedule's event covers the 31 days up to yesterday: January is long past, so its
    // invoice is outside and the report is clean; a tenant's own range finds it.
    let scheduled = billsync_sweep::handle(&env.services, event("sweep-reconcile-scheduled.json"))
        .await
        .unwrap();
    assert_eq!(
        scheduled["tenants"][0]["differences"],
        json!(0),
        "{scheduled}"
    );
    assert!(last_report(&env.services, "acme")
        .await
        .unwrap()
        .unwrap()
        .is_clean());
    let from = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let to = chrono::NaiveDate::from_ymd_opt(2026, 1, 31).unwrap();
    env.ns
        .edit_by_hand(
            "invoice",
            &format!("eid:bs-acme-inv-{uid}"),
            json!({"total": 12}),
            chrono::Utc::now(),
        )
        .unwrap();
    let report = reconcile_and_keep(&env.services, "acme", from, to)
        .await
        .unwrap();
    assert_eq!(report.difference_count, 1);
    let kept = last_report(&env.services, "acme").await.unwrap().unwrap();
    assert_eq!((kept.from, kept.difference_count), (from, 1));

    let bad = billsync_sweep::handle(&env.services, json!({"backfill": {"tenant": "acme"}}))
        .await
        .unwrap_err();
    assert_eq!(bad.error_type(), "NonRetryable");
    let bad = billsync_sweep::handle(&env.services, json!({"reconcile": {"from": "last week"}}))
        .await
        .unwrap_err();
    assert_eq!(bad.error_type(), "NonRetryable", "{bad}");
}

/// The worker publishes a synced invoice (with its lag) and the intake a refused delivery, as
/// embedded metrics of the tenant.
#[tokio::test]
async fn a_synced_invoice_and_a_refused_webhook_become_tenant_metrics() {
    use billsync::service::intake::{self, WebhookRequest};

    billsync::metrics::record();
    let mut env = env().await;
    common::local::issue_on(
        &env.bill,
        chrono::NaiveDate::from_ymd_opt(2026, 1, 5).unwrap(),
    );
    common::local::sweep_and_work(&mut env).await;
    let header = |_: &str| Some("forged".to_owned());
    let refused = intake::receive(
        &env.services,
        WebhookRequest {
            tenant: "acme",
            source: "maxio",
            body: b"event=test&id=1",
            header: &header,
        },
    )
    .await;
    assert_eq!(refused.status, 401);

    let docs: Vec<Value> = billsync::metrics::recorded()
        .into_iter()
        .filter(|d| d["Tenant"] == "acme")
        .collect();
    let synced = docs
        .iter()
        .find(|d| d.get("Synced").is_some())
        .unwrap_or_else(|| panic!("no Synced metric in {docs:?}"));
    let lag = synced["LagSeconds"].as_f64().unwrap();
    assert!((0.0..60.0).contains(&lag), "{synced}");
    assert_eq!(
        synced["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "billsync"
    );
    assert!(
        docs.iter().any(|d| d["WebhooksRefused"] == json!(1.0)),
        "{docs:?}"
    );
}
