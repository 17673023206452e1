//! Reconcile against both simulators: a clean month reports clean with equal figures, and each
//! kind of difference planted once is found once, on the record it was planted on.

use crate::common;

use common::local::{env, issue_on, ns_invoice, sweep_and_work, Env};

use billing_sim::{BillingSim, PaymentKind};
use billsync::service::reconcile::{reconcile, DifferenceKind, ReconcileReport};
use chrono::NaiveDate;
use rust_decimal_macros::dec;
use serde_json::json;

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, d).unwrap()
}

fn issue(bill: &BillingSim, on: u32) -> String {
    issue_on(bill, day(on))
}

async fn january(env: &Env) -> ReconcileReport {
    let settings = env.services.settings("acme").await.unwrap();
    reconcile(&env.services, &settings, day(1), day(31))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_clean_month_reconciles_clean_with_equal_figures() {
    let mut env = env().await;
    let paid = issue(&env.bill, 5);
    env.bill
        .pay(&paid, dec!(10), PaymentKind::CreditCard)
        .unwrap();
    issue(&env.bill, 9);
    // Issued in February: not January's.
    let later = issue_on(&env.bill, NaiveDate::from_ymd_opt(2026, 2, 2).unwrap());
    sweep_and_work(&mut env).await;

    let report = january(&env).await;
    assert!(report.is_clean(), "{report:#?}");
    assert!(report.notes.is_empty(), "{:?}", report.notes);
    assert_eq!(report.currencies.len(), 1, "{report:#?}");
    let usd = &report.currencies[0];
    assert_eq!(usd.currency, "USD");
    assert_eq!(usd.billing, usd.netsuite);
    assert_eq!(
        (usd.billing.invoices.count, usd.billing.invoices.total),
        (2, dec!(20))
    );
    assert_eq!(
        (usd.billing.payments.count, usd.billing.payments.total),
        (1, dec!(10))
    );
    assert_eq!(usd.netsuite.open, dec!(10));
    assert!(!report
        .differences
        .iter()
        .any(|d| d.invoice.as_deref() == Some(later.as_str())));
}

#[tokio::test]
async fn each_planted_difference_is_found_once_on_its_record() {
    let mut env = env().await;
    let part_paid_by_hand = issue(&env.bill, 5);
    let edited = issue(&env.bill, 6);
    let amount_changed = issue(&env.bill, 7);
    let voided = issue(&env.bill, 8);
    let clean = issue(&env.bill, 9);
    sweep_and_work(&mut env).await;
    let missing = issue(&env.bill, 10);
    let report = january(&env).await;
    let found: Vec<_> = report
        .differences
        .iter()
        .map(|d| (d.kind, d.invoice.clone()))
        .collect();
    assert_eq!(
        found,
        vec![(DifferenceKind::MissingInNetSuite, Some(missing.clone()))],
        "before any planting"
    );

    // A person pays part of one invoice in NetSuite.
    let open = ns_invoice(&env, &part_paid_by_hand);
    env.ns.seed(
        "customerPayment",
        json!({
            "customer": open["entity"],
            "payment": 4,
            "apply": {"items": [{"doc": {"id": open["id"]}, "apply": true, "amount": 4}]}
        }),
    );
    // Another edits an invoice's memo hours after billsync wrote it.
    let later = chrono::Utc::now() + chrono::Duration::hours(3);
    env.ns
        .edit_by_hand(
            "invoice",
            &format!("eid:bs-acme-inv-{edited}"),
            json!({"memo": "changed by hand"}),
            later,
        )
        .unwrap();
    // A tax engine changes another's total (now, so it is not also "edited later").
    env.ns
        .edit_by_hand(
            "invoice",
            &format!("eid:bs-acme-inv-{amount_changed}"),
            json!({"total": 11}),
            chrono::Utc::now(),
        )
        .unwrap();
    // Billing voids one after it was synced; billsync has not seen it yet.
    env.bill.void(&voided).unwrap();
    // An invoice in billsync's namespace that billing never issued.
    let customer = ns_invoice(&env, &clean)["entity"].clone();
    env.ns.seed(
        "invoice",
        json!({
            "externalId": "bs-acme-inv-ghost-1",
            "entity": customer,
            "tranDate": "2026-01-12",
            "currency": {"id": env.demo.currency_usd},
            "total": 25, "amountRemaining": 25,
            "item": {"items": [{"item": {"id": env.demo.item_services}, "quantity": 1, "rate": 25, "amount": 25}]}
        }),
    );

    let report = january(&env).await;
    let mut found: Vec<_> = report
        .differences
        .iter()
        .map(|d| (d.kind, d.invoice.clone().or(d.billing_id.clone())))
        .collect();
    found.sort();
    let mut want = vec![
        (DifferenceKind::MissingInNetSuite, Some(missing.clone())),
        (DifferenceKind::NotInBilling, Some("ghost-1".to_owned())),
        (DifferenceKind::AmountDiffers, Some(amount_changed.clone())),
        (
            DifferenceKind::OpenBalanceDiffers,
            Some(part_paid_by_hand.clone()),
        ),
        (DifferenceKind::VoidedButOpen, Some(voided.clone())),
        (DifferenceKind::EditedInNetSuite, Some(edited.clone())),
    ];
    want.sort();
    assert_eq!(found, want, "{report:#?}");
    assert_eq!(report.difference_count, 6);
    let open_diff = report
        .differences
        .iter()
        .find(|d| d.kind == DifferenceKind::OpenBalanceDiffers)
        .unwrap();
    assert_eq!(
        (open_diff.billing, open_diff.netsuite),
        (Some(dec!(10)), Some(dec!(6)))
    );
    let amount = report
        .differences
        .iter()
        .find(|d| d.kind == DifferenceKind::AmountDiffers)
        .unwrap();
    assert_eq!(
        (amount.billing, amount.netsuite),
        (Some(dec!(10)), Some(dec!(11)))
    );
    assert!(report.differences.iter().all(|d| !d.action.is_empty()));
    let missing_line = &report.differences[0];
    assert!(
        missing_line
            .action
            .contains(&format!("--invoice {missing}")),
        "{missing_line:?}"
    );
    // NetSuite's figures count what it holds, the ghost included.
    let usd = &report.currencies[0];
    assert_eq!(usd.billing.invoices.count, 5, "{usd:?}");
    assert_eq!(usd.netsuite.invoices.count, 5, "{usd:?}");

    // Syncing again repairs what billing can repair: the missing invoice and the void.
    sweep_and_work(&mut env).await;
    let after = january(&env).await;
    let kinds: Vec<_> = after.differences.iter().map(|d| d.kind).collect();
    assert!(
        !kinds.contains(&DifferenceKind::MissingInNetSuite),
        "{after:#?}"
    );
    assert!(
        !kinds.contains(&DifferenceKind::VoidedButOpen),
        "{after:#?}"
    );
}
