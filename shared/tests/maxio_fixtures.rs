//! Maxio's real schema, from fixtures generated with the official SDK's models
//! (tests/billing-sim/fixtures): every fixture parses, maps into the canonical model and adds
//! up; every webhook body verifies and decodes.

use billsync::billing::maxio::{map, webhook, wire};
use billsync::billing::model::{
    Consolidation, CreditNoteStatus, InvoiceStatus, LineKind, PaymentMethod,
};
use billsync::Secret;
use rust_decimal_macros::dec;
use serde_json::Value;

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/billing-sim/fixtures/maxio"
);

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{DIR}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn invoice(name: &str) -> billsync::billing::model::Invoice {
    let w: wire::Invoice =
        serde_json::from_str(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let inv = map::invoice(&w).unwrap_or_else(|e| panic!("{name}: {e}"));
    inv.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
    inv
}

#[test]
fn every_invoice_fixture_parses_maps_and_adds_up() {
    for name in [
        "invoice_non_inventory_paid.json",
        "invoice_inventory_open.json",
        "invoice_zero_dollar.json",
        "invoice_fully_discounted.json",
        "invoice_consolidated_parent.json",
        "invoice_segment_child.json",
        "invoice_eur_refunded.json",
        "invoice_with_credit_note_applied.json",
    ] {
        let inv = invoice(name);
        assert!(inv.uid.starts_with("inv_"), "{name}");
        assert!(!inv.customer.id.is_empty(), "{name}");
    }
}

#[test]
fn non_inventory_invoice_keeps_exact_apportionments() {
    let inv = invoice("invoice_non_inventory_paid.json");
    assert_eq!(inv.status, InvoiceStatus::Paid);
    assert_eq!(inv.currency, "USD");
    assert_eq!(
        (
            inv.totals.subtotal,
            inv.totals.discount,
            inv.totals.tax,
            inv.totals.total
        ),
        (dec!(601.5), dec!(45.11), dec!(44.51), dec!(600.9))
    );
    let line_discounts: Vec<_> = inv.lines.iter().map(|l| l.discount).collect();
    assert!(line_discounts.contains(&dec!(11.175)), "{line_discounts:?}");
    assert!(inv.lines.iter().any(|l| l.kind == LineKind::Component));
    assert!(inv.lines.iter().any(|l| l.kind == LineKind::Custom));
    assert_eq!(inv.payments.len(), 1);
    assert_eq!(inv.payments[0].amount, dec!(600.9));
    assert_eq!(inv.payments[0].method, PaymentMethod::CreditCard);
    // The numeric id is beyond 2^53; the uid is the key and nothing was lost reading it.
    let raw: Value = serde_json::from_str(&read("invoice_non_inventory_paid.json")).unwrap();
    let w: wire::Invoice = serde_json::from_value(raw.clone()).unwrap();
    assert_eq!(
        w.id.as_deref().map(str::len),
        Some(raw["id"].to_string().len())
    );
}

#[test]
fn zero_dollar_fully_discounted_and_consolidation() {
    assert!(invoice("invoice_zero_dollar.json").is_zero_dollar());
    let fd = invoice("invoice_fully_discounted.json");
    assert!(fd.is_fully_discounted() && !fd.is_zero_dollar());
    let parent = invoice("invoice_consolidated_parent.json");
    assert_eq!(parent.consolidation, Consolidation::Parent);
    assert!(parent.lines.is_empty());
    let child = invoice("invoice_segment_child.json");
    assert_eq!(child.consolidation, Consolidation::Child);
    assert_eq!(child.parent_uid.as_deref(), Some(parent.uid.as_str()));
}

#[test]
fn refunds_and_credits_link_to_their_sources() {
    let eur = invoice("invoice_eur_refunded.json");
    assert_eq!(eur.currency, "EUR");
    assert_eq!(eur.refunds.len(), 1);
    assert_eq!(eur.totals.refunded, dec!(17.14));
    let pay_ids: Vec<_> = eur.payments.iter().map(|p| p.id.clone()).collect();
    assert!(pay_ids.contains(eur.refunds[0].payment_id.as_ref().unwrap()));

    let with_credit = invoice("invoice_with_credit_note_applied.json");
    assert_eq!(with_credit.credits.len(), 1);
    assert!(with_credit.credits[0].credit_note_id.starts_with("cn_"));
    assert_eq!(with_credit.totals.credited, dec!(27.0));
}

#[test]
fn credit_notes_parse() {
    let cn: wire::CreditNote = serde_json::from_str(&read("credit_note.json")).unwrap();
    let cn = map::credit_note(&cn).unwrap();
    assert!(cn.uid.starts_with("cn_"));
    assert_eq!(cn.status, CreditNoteStatus::Applied);
    assert_eq!(cn.remaining, dec!(0));
    assert_eq!(
        cn.applications
            .iter()
            .map(|a| a.amount)
            .sum::<rust_decimal::Decimal>(),
        cn.applied
    );
    assert!(!cn.origin_invoice_uids.is_empty());
    let list: wire::CreditNotesPage =
        serde_json::from_str(&read("credit_notes_list.json")).unwrap();
    assert!(!list.credit_notes.is_empty());
}

#[test]
fn lists_events_customers_and_catalog_parse() {
    let list: wire::InvoicesPage = serde_json::from_str(&read("invoices_list.json")).unwrap();
    assert_eq!(list.invoices.len(), 2);
    for i in &list.invoices {
        map::invoice(i).unwrap().validate().unwrap();
    }
    let events: wire::InvoiceEventsPage =
        serde_json::from_str(&read("invoice_events_page.json")).unwrap();
    assert!(events.events.len() >= 9);
    assert!(
        events.events.windows(2).all(|w| w[0].id < w[1].id),
        "ascending ids"
    );
    let types: Vec<_> = events
        .events
        .iter()
        .map(|e| e.event_type.as_str())
        .collect();
    for t in [
        "issue_invoice",
        "apply_payment",
        "refund_invoice",
        "create_credit_note",
        "void_invoice",
    ] {
        assert!(types.contains(&t), "{t} missing from {types:?}");
    }
    for e in &events.events {
        if let Some(inv) = &e.invoice {
            map::invoice(inv).unwrap();
        }
    }

    let c: wire::CustomerEnvelope = serde_json::from_str(&read("customer.json")).unwrap();
    let c = map::customer(&c.customer).unwrap();
    assert!(!c.is_person());
    assert!(c.billing_address.is_some());
    let p: wire::CustomerEnvelope = serde_json::from_str(&read("customer_person.json")).unwrap();
    assert!(map::customer(&p.customer).unwrap().is_person());

    let product: wire::ProductEnvelope = serde_json::from_str(&read("product.json")).unwrap();
    assert!(map::product(&product.product)
        .unwrap()
        .accounting_code
        .is_some());
    let products: Vec<wire::ProductEnvelope> =
        serde_json::from_str(&read("products_list.json")).unwrap();
    assert!(!products.is_empty());
    let component: wire::ComponentEnvelope = serde_json::from_str(&read("component.json")).unwrap();
    assert!(map::component(&component.component).is_some());
    let components: Vec<wire::ComponentEnvelope> =
        serde_json::from_str(&read("components_list.json")).unwrap();
    assert!(!components.is_empty());
}

#[test]
fn webhook_fixtures_verify_and_decode() {
    let manifest: Value = serde_json::from_str(&read("webhooks.json")).unwrap();
    let key = Secret::new(manifest["shared_key"].as_str().unwrap());
    for w in manifest["webhooks"].as_array().unwrap() {
        let file = w["file"].as_str().unwrap();
        let body = std::fs::read(format!("{DIR}/{file}")).unwrap();
        let sig = w["signature_hmac_sha_256"].as_str().unwrap();
        let id = w["webhook_id"].to_string();
        let d = webhook::receive(&body, Some(sig), &key).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(d.delivery_id, id);
        assert_eq!(d.site_subdomain.as_deref(), Some("acme-demo"));
        match (w["event"].as_str().unwrap(), &d.event) {
            ("invoice_issued", webhook::MaxioEvent::InvoiceIssued { invoice_uid }) => {
                assert_eq!(invoice_uid, w["refers_to"]["invoice_uid"].as_str().unwrap())
            }
            (
                "payment_success",
                webhook::MaxioEvent::PaymentSuccess {
                    transaction_id,
                    subscription_id,
                    ..
                },
            ) => {
                assert_eq!(
                    transaction_id.as_deref(),
                    Some(w["refers_to"]["transaction_id"].to_string().as_str())
                );
                assert_eq!(
                    subscription_id.as_deref(),
                    Some(w["refers_to"]["subscription_id"].to_string().as_str())
                );
            }
            (
                "refund_success",
                webhook::MaxioEvent::RefundSuccess {
                    subscription_id, ..
                },
            ) => {
                assert!(subscription_id.is_some());
            }
            ("customer_update", webhook::MaxioEvent::CustomerUpdate { customer_id }) => {
                assert_eq!(customer_id, &w["refers_to"]["customer_id"].to_string());
            }
            (name, event) => panic!("{name} decoded as {event:?}"),
        }
        // One changed byte anywhere fails the signature.
        let mut tampered = body.clone();
        let mid = tampered.len() / 2;
        tampered[mid] ^= 0x01;
        assert_eq!(
            webhook::receive(&tampered, Some(sig), &key).unwrap_err(),
            webhook::WebhookError::BadSignature
        );
    }
}
