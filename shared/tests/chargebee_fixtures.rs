//! Chargebee's real schema, from fixtures checked against the official `chargebee` SDK's models
//! (tests/billing-sim/fixtures/chargebee): everything parses, maps into the canonical model in
//! the right minor units, adds up, and plans to NetSuite lines whose total is the invoice's.

use billsync::billing::chargebee::{map, webhook, wire};
use billsync::billing::model::{LineKind, Refund};
use billsync::Secret;
use rust_decimal_macros::dec;
use serde::Deserialize;
use serde_json::Value;

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/billing-sim/fixtures/chargebee"
);

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{DIR}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[derive(Deserialize)]
struct InvoiceEnvelope {
    invoice: wire::Invoice,
}
#[derive(Deserialize)]
struct CustomerEnvelope {
    customer: wire::Customer,
}
#[derive(Deserialize)]
struct CreditNoteEnvelope {
    credit_note: wire::CreditNote,
}
#[derive(Deserialize)]
struct TransactionEnvelope {
    transaction: wire::Transaction,
}

fn customer() -> billsync::billing::model::Customer {
    let c: CustomerEnvelope = serde_json::from_str(&read("customer.json")).unwrap();
    map::customer(&c.customer)
}

fn credit_note() -> billsync::billing::model::CreditNote {
    let c: CreditNoteEnvelope = serde_json::from_str(&read("credit_note.json")).unwrap();
    map::credit_note(&c.credit_note).unwrap()
}

fn invoice(name: &str, refunds: Vec<Refund>) -> billsync::billing::model::Invoice {
    let w: InvoiceEnvelope =
        serde_json::from_str(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let inv =
        map::invoice(&w.invoice, customer(), refunds).unwrap_or_else(|e| panic!("{name}: {e}"));
    inv.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
    inv
}

#[test]
fn every_invoice_maps_and_adds_up_in_its_own_minor_units() {
    let paid = invoice("invoice_paid.json", credit_note().refunds);
    assert_eq!(paid.totals.total, dec!(1098.92));
    assert_eq!(paid.totals.discount, dec!(74.90));
    assert_eq!(paid.payments.len(), 1);
    assert_eq!(paid.refunds.len(), 1, "the refund paid out of CN-1003");
    let kinds: Vec<_> = paid.lines.iter().map(|l| l.kind.clone()).collect();
    assert!(
        kinds.contains(&LineKind::Product)
            && kinds.contains(&LineKind::Component)
            && kinds.contains(&LineKind::Setup)
            && kinds.contains(&LineKind::Custom)
    );

    let eur = invoice("invoice_tax_inclusive_eur.json", vec![]);
    assert!(eur.lines.iter().all(|l| l.tax_included));
    assert_eq!(eur.totals.total, dec!(84.70));
    let jpy = invoice("invoice_jpy.json", vec![]);
    assert_eq!(jpy.totals.total, dec!(4100), "JPY has no minor unit");
    let credited = invoice("invoice_credited.json", vec![]);
    assert_eq!(credited.credits.len(), 1);
    assert_eq!(credited.totals.credited, dec!(40.00));
}

#[test]
fn credit_note_transactions_and_customers() {
    let cn = credit_note();
    assert_eq!(cn.total, dec!(64.95));
    assert_eq!(
        cn.applications
            .iter()
            .map(|a| a.amount)
            .sum::<rust_decimal::Decimal>(),
        cn.applied
    );
    assert_eq!(cn.origin_invoice_uids, vec!["INV-1025".to_string()]);
    let pay: TransactionEnvelope = serde_json::from_str(&read("transaction_payment.json")).unwrap();
    assert_eq!(pay.transaction.kind.as_deref(), Some("payment"));
    assert!(!pay.transaction.linked_invoices.is_empty());
    let refund: TransactionEnvelope =
        serde_json::from_str(&read("transaction_refund.json")).unwrap();
    assert_eq!(refund.transaction.kind.as_deref(), Some("refund"));
    assert!(!customer().is_person());
    let person: CustomerEnvelope = serde_json::from_str(&read("customer_person.json")).unwrap();
    assert!(map::customer(&person.customer).is_person());
}

#[test]
fn events_name_the_invoices_they_concern() {
    for (file, more) in [("events_page.json", true), ("events_last_page.json", false)] {
        let page: wire::EventList = serde_json::from_str(&read(file)).unwrap();
        assert_eq!(page.next_offset.is_some(), more, "{file}");
        for e in &page.list {
            let kind = webhook::classify(&e.event);
            if e.event.event_type.starts_with("invoice_")
                || e.event.event_type.starts_with("payment_")
                || e.event.event_type.starts_with("credit_note")
            {
                assert!(
                    matches!(kind, Some(webhook::ChargebeeEvent::Invoices { .. })),
                    "{}: {kind:?}",
                    e.event.event_type
                );
            }
        }
    }
}

#[test]
fn webhook_fixtures_authenticate_and_decode() {
    let manifest: Value = serde_json::from_str(&read("webhooks.json")).unwrap();
    let auth = &manifest["authentication"];
    let (user, pass) = (
        Secret::new(auth["username"].as_str().unwrap()),
        Secret::new(auth["password"].as_str().unwrap()),
    );
    let header = auth["authorization_header"].as_str().unwrap();
    for w in manifest["webhooks"].as_array().unwrap() {
        let body = read(w["file"].as_str().unwrap());
        let d = webhook::receive(body.as_bytes(), Some(header), &user, &pass).unwrap();
        assert_eq!(d.delivery_id, w["event_id"].as_str().unwrap());
        assert_eq!(
            d.event,
            webhook::ChargebeeEvent::Invoices {
                invoice_ids: vec![w["content"]["invoice"].as_str().unwrap().to_owned()]
            }
        );
        assert_eq!(
            webhook::receive(
                body.as_bytes(),
                Some("Basic YmlsbHN5bmMtaG9vazp3cm9uZw=="),
                &user,
                &pass
            )
            .unwrap_err(),
            webhook::WebhookError::BadCredentials
        );
    }
}

#[test]
fn chargebee_invoices_plan_to_netsuite_lines_to_the_cent() {
    use billsync::flow::lines::{plan_credit_lines, plan_lines};
    let settings = billsync::settings::TenantSettings::from_value(&serde_json::json!({
        "tenant": "cb", "source": "chargebee", "site": "acme-test", "sync_start_date": "2026-01-01",
        "items": {
            "products": {"pro-plan-USD-Monthly": {"id": "102", "type": "service"},
                         "pro-plan-EUR-Monthly": {"id": "102", "type": "service"}},
            "components": {"extra-seats-USD-Monthly": {"id": "104", "type": "non_inventory"},
                           "extra-seats-EUR-Monthly": {"id": "104", "type": "non_inventory"},
                           "onboarding-USD": {"id": "103", "type": "service"},
                           "api-overage-JPY": {"id": "104", "type": "non_inventory"}},
            "custom_default": {"id": "103", "type": "service"},
            "setup_default": {"id": "103", "type": "service"},
            "tax_item": {"id": "100", "type": "non_inventory"},
            "discount_item": "101"
        },
        "payments": {"payment_instruments": true}, "refunds": {"account": "9"}
    }))
    .unwrap();
    for name in [
        "invoice_paid.json",
        "invoice_tax_inclusive_eur.json",
        "invoice_jpy.json",
        "invoice_credited.json",
    ] {
        let inv = invoice(name, vec![]);
        let plan = plan_lines(&inv, &settings).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(plan.total, inv.totals.total, "{name}");
    }
    let cn = credit_note();
    assert_eq!(plan_credit_lines(&cn, &settings).unwrap().total, cn.total);
}
