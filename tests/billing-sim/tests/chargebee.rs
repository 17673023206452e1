//! The Chargebee simulator over HTTP: authentication, the concurrency gate, the wire shape
//! against the fixtures, money identities, event paging and webhook bodies.

use std::collections::BTreeSet;

use base64::Engine as _;
use billing_sim::{CbInvoice, CbLine, CbPriceType, ChargebeeSim, ChargebeeSimConfig};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = format!("{}/fixtures/chargebee/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn line(entity_type: &str, quantity: i64, unit_amount: i64, tax_rate_percent: u32) -> CbLine {
    CbLine {
        entity_type: entity_type.into(),
        entity_id: (entity_type != "adhoc").then(|| format!("{entity_type}-USD")),
        description: format!("{entity_type} line"),
        quantity,
        unit_amount,
        tax_rate_percent,
    }
}

const DATE: i64 = 1_770_000_000;

async fn started() -> ChargebeeSim {
    let sim = ChargebeeSim::start(ChargebeeSimConfig::default())
        .await
        .unwrap();
    sim.add_customer(
        "halvorsen",
        Some("Halvorsen Robotics Inc."),
        "Marta",
        "Halvorsen",
        "ap@halvorsen.example.com",
        "USD",
    );
    sim.add_customer("vogt", None, "Lena", "Vogt", "lena@example.com", "EUR");
    sim
}

fn exclusive_invoice() -> CbInvoice {
    CbInvoice {
        customer_id: "halvorsen".into(),
        currency: "USD".into(),
        date: DATE,
        price_type: CbPriceType::TaxExclusive,
        lines: vec![
            line("plan_item_price", 1, 49_900, 8),
            line("addon_item_price", 12, 1_500, 8),
            line("charge_item_price", 1, 25_000, 7),
            line("adhoc", 1, 12_000, 0),
            line("plan_setup", 1, 5_001, 8),
        ],
        coupon: Some(2_503),
        po_number: Some("PO-77".into()),
    }
}

fn inclusive_invoice() -> CbInvoice {
    CbInvoice {
        customer_id: "vogt".into(),
        currency: "EUR".into(),
        date: DATE + 10,
        price_type: CbPriceType::TaxInclusive,
        lines: vec![
            line("plan_item_price", 1, 4_900, 19),
            line("addon_item_price", 3, 1_190, 19),
            line("charge_item_price", 1, 999, 7),
        ],
        coupon: Some(333),
        po_number: None,
    }
}

async fn get(sim: &ChargebeeSim, path: &str) -> (u16, Value) {
    let key = sim.config().api_key;
    let resp = reqwest::Client::new()
        .get(format!("{}{path}", sim.base_url()))
        .basic_auth(key, Some(""))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// Every key of `actual`, at every depth, is a key the fixture has at that position (array
/// elements are compared against the union of the fixture's elements).
fn assert_keys_subset(actual: &Value, fixture: &Value, path: &str) {
    match (actual, fixture) {
        (Value::Object(a), Value::Object(f)) => {
            for (k, v) in a {
                let Some(fv) = f.get(k) else {
                    panic!("{path}.{k} is not in the fixture");
                };
                assert_keys_subset(v, fv, &format!("{path}.{k}"));
            }
        }
        (Value::Array(a), Value::Array(f)) => {
            if a.is_empty() {
                return;
            }
            let mut union = serde_json::Map::new();
            for item in f {
                if let Value::Object(o) = item {
                    for (k, v) in o {
                        union.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
            }
            if union.is_empty() {
                assert!(
                    a.iter().all(|v| !v.is_object()),
                    "{path}: objects where the fixture has none"
                );
                return;
            }
            for (i, item) in a.iter().enumerate() {
                assert_keys_subset(item, &Value::Object(union.clone()), &format!("{path}[{i}]"));
            }
        }
        _ => {}
    }
}

fn i(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not an integer: {v}"))
}

fn sum(v: &Value, key: &str) -> i64 {
    v.as_array().unwrap().iter().map(|x| i(&x[key])).sum()
}

fn assert_identities(inv: &Value) {
    let lines = inv["line_items"].as_array().unwrap();
    for l in lines {
        assert_eq!(i(&l["amount"]), i(&l["quantity"]) * i(&l["unit_amount"]));
        let id = &l["id"];
        let discounts: i64 = inv["line_item_discounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| &d["line_item_id"] == id)
            .map(|d| i(&d["discount_amount"]))
            .sum();
        assert_eq!(i(&l["discount_amount"]), discounts);
        let taxes: i64 = inv["line_item_taxes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| &t["line_item_id"] == id)
            .map(|t| i(&t["tax_amount"]))
            .sum();
        assert_eq!(i(&l["tax_amount"]), taxes);
    }
    let sub_total = i(&inv["sub_total"]);
    let discount = sum(&inv["discounts"], "amount");
    let tax = i(&inv["tax"]);
    let total = i(&inv["total"]);
    assert_eq!(sub_total, sum(&inv["line_items"], "amount"));
    assert_eq!(discount, sum(&inv["line_items"], "discount_amount"));
    assert_eq!(tax, sum(&inv["line_items"], "tax_amount"));
    assert_eq!(tax, sum(&inv["taxes"], "amount"));
    match inv["price_type"].as_str().unwrap() {
        "tax_exclusive" => assert_eq!(total, sub_total - discount + tax),
        "tax_inclusive" => assert_eq!(total, sub_total - discount),
        other => panic!("price_type {other}"),
    }
    assert_eq!(
        i(&inv["amount_paid"]) + i(&inv["credits_applied"]) + i(&inv["amount_due"]),
        total
    );
    assert_eq!(
        i(&inv["amount_paid"]),
        sum(&inv["linked_payments"], "applied_amount")
    );
    assert_eq!(
        i(&inv["credits_applied"]),
        sum(&inv["applied_credits"], "applied_amount")
    );
}

#[tokio::test]
async fn basic_auth_needs_the_key_and_an_empty_password() {
    let sim = started().await;
    let url = format!("{}customers/halvorsen", sim.base_url());
    let key = sim.config().api_key;
    let client = reqwest::Client::new();
    for req in [
        client.get(&url),
        client.get(&url).basic_auth("wrong-key", Some("")),
        client.get(&url).basic_auth(&key, Some("secret")),
    ] {
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 401);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["api_error_code"], "api_authentication_failed");
        assert_eq!(body["http_status_code"], 401);
        assert!(body["message"].is_string());
    }
    let (status, body) = get(&sim, "customers/halvorsen").await;
    assert_eq!(status, 200);
    assert_eq!(body["customer"]["company"], "Halvorsen Robotics Inc.");
    let (status, body) = get(&sim, "invoices/INV-9999").await;
    assert_eq!(status, 404);
    assert_eq!(body["api_error_code"], "resource_not_found");
    assert_eq!(body["http_status_code"], 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn over_the_concurrency_limit_is_429() {
    let sim = ChargebeeSim::start(ChargebeeSimConfig {
        concurrency_limit: 0,
        ..ChargebeeSimConfig::default()
    })
    .await
    .unwrap();
    let (status, body) = get(&sim, "events").await;
    assert_eq!(status, 429);
    assert_eq!(body["api_error_code"], "api_request_limit_exceeded");
    sim.shutdown().await;
}

#[tokio::test]
async fn records_use_only_keys_the_fixtures_have() {
    let sim = started().await;
    let id = sim.add_invoice(exclusive_invoice());
    assert_eq!(id, "INV-1001");
    let (_, before) = get(&sim, &format!("invoices/{id}")).await;
    let total = i(&before["invoice"]["total"]);
    let payment = sim.pay(&id, total);
    let (cn, refund) = sim.refund(&id, 1_000);

    let (status, inv) = get(&sim, &format!("invoices/{id}")).await;
    assert_eq!(status, 200);
    let fixture_keys: BTreeSet<String> = fixture("invoice_paid.json")["invoice"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let keys: BTreeSet<String> = inv["invoice"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert!(
        keys.is_subset(&fixture_keys),
        "keys the fixture lacks: {:?}",
        keys.difference(&fixture_keys).collect::<Vec<_>>()
    );
    assert_keys_subset(&inv, &fixture("invoice_paid.json"), "invoice");
    assert_eq!(
        inv["invoice"]["issued_credit_notes"][0]["cn_id"],
        cn.as_str()
    );
    assert_eq!(
        inv["invoice"]["linked_payments"][0]["txn_id"],
        payment.as_str()
    );

    let (_, c) = get(&sim, "customers/halvorsen").await;
    assert_keys_subset(&c, &fixture("customer.json"), "customer");
    let (_, note) = get(&sim, &format!("credit_notes/{cn}")).await;
    assert_keys_subset(&note, &fixture("credit_note.json"), "credit_note");
    assert_eq!(note["credit_note"]["reference_invoice_id"], id.as_str());
    assert_eq!(
        note["credit_note"]["linked_refunds"][0]["txn_id"],
        refund.as_str()
    );
    let (_, pay) = get(&sim, &format!("transactions/{payment}")).await;
    assert_keys_subset(&pay, &fixture("transaction_payment.json"), "payment");
    assert_eq!(pay["transaction"]["type"], "payment");
    assert_eq!(
        pay["transaction"]["linked_invoices"][0]["invoice_id"],
        id.as_str()
    );
    assert_eq!(
        pay["transaction"]["linked_refunds"][0]["txn_id"],
        refund.as_str()
    );
    let (_, re) = get(&sim, &format!("transactions/{refund}")).await;
    assert_keys_subset(&re, &fixture("transaction_refund.json"), "refund");
    assert_eq!(re["transaction"]["refunded_txn_id"], payment.as_str());
    assert_eq!(
        re["transaction"]["linked_credit_notes"][0]["cn_reference_invoice_id"],
        id.as_str()
    );

    let (_, page) = get(&sim, "events?limit=100").await;
    let events_fixture = fixture("events_page.json");
    for item in page["list"].as_array().unwrap() {
        let event = &item["event"];
        let fixture_event = events_fixture["list"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["event"]["event_type"] == event["event_type"])
            .unwrap_or_else(|| panic!("no fixture event of type {}", event["event_type"]));
        assert_keys_subset(item, fixture_event, "event");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn money_identities_hold_in_minor_units() {
    let sim = started().await;
    let ex = sim.add_invoice(exclusive_invoice());
    let inc = sim.add_invoice(inclusive_invoice());
    for id in [&ex, &inc] {
        let (_, inv) = get(&sim, &format!("invoices/{id}")).await;
        let inv = &inv["invoice"];
        assert_identities(inv);
        assert_eq!(inv["status"], "payment_due");
        assert_eq!(i(&inv["amount_due"]), i(&inv["total"]));
    }
    let (_, inv) = get(&sim, &format!("invoices/{ex}")).await;
    assert_eq!(
        i(&inv["invoice"]["sub_total"]),
        49_900 + 18_000 + 25_000 + 12_000 + 5_001
    );
    assert_eq!(sum(&inv["invoice"]["discounts"], "amount"), 2_503);
    let (_, inv) = get(&sim, &format!("invoices/{inc}")).await;
    assert_eq!(i(&inv["invoice"]["total"]), 4_900 + 3_570 + 999 - 333);

    // A part payment, then the rest, then a refund.
    let total = i(&inv["invoice"]["total"]);
    sim.pay(&inc, 1_000);
    let (_, inv) = get(&sim, &format!("invoices/{inc}")).await;
    assert_identities(&inv["invoice"]);
    assert_eq!(inv["invoice"]["status"], "payment_due");
    assert_eq!(i(&inv["invoice"]["amount_due"]), total - 1_000);
    sim.pay(&inc, total - 1_000);
    sim.refund(&inc, 500);
    let (_, inv) = get(&sim, &format!("invoices/{inc}")).await;
    assert_identities(&inv["invoice"]);
    assert_eq!(inv["invoice"]["status"], "paid");
    assert_eq!(i(&inv["invoice"]["amount_due"]), 0);
    assert_eq!(inv["invoice"]["issued_credit_notes"][0]["cn_total"], 500);
    sim.shutdown().await;
}

#[tokio::test]
async fn events_page_by_next_offset_and_after_is_strict() {
    let sim = started().await;
    for n in 0..6 {
        let id = sim.add_invoice(CbInvoice {
            date: DATE + n * 100,
            ..exclusive_invoice()
        });
        if n % 2 == 0 {
            let (_, inv) = get(&sim, &format!("invoices/{id}")).await;
            sim.pay(&id, i(&inv["invoice"]["total"]));
        }
    }
    sim.refund("INV-1001", 700);
    let count = sim.event_count();
    assert_eq!(count, 6 + 3 + 2);

    let mut seen = Vec::new();
    let mut offset: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut query = vec![
            ("occurred_at[after]".to_owned(), "0".to_owned()),
            ("sort_by[asc]".to_owned(), "occurred_at".to_owned()),
            ("limit".to_owned(), "4".to_owned()),
        ];
        if let Some(o) = &offset {
            query.push(("offset".to_owned(), o.clone()));
        }
        let resp = reqwest::Client::new()
            .get(format!("{}events", sim.base_url()))
            .basic_auth(sim.config().api_key, Some(""))
            .query(&query)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let page: Value = resp.json().await.unwrap();
        pages += 1;
        let list = page["list"].as_array().unwrap();
        assert!(list.len() <= 4);
        for item in list {
            let e = &item["event"];
            assert_eq!(e["object"], "event");
            assert_eq!(e["api_version"], "v2");
            assert_eq!(e["source"], "api");
            assert!(e["id"].as_str().unwrap().starts_with("ev_"));
            seen.push((i(&e["occurred_at"]), e["id"].as_str().unwrap().to_owned()));
        }
        match page.get("next_offset") {
            Some(Value::String(o)) => offset = Some(o.clone()),
            None => break,
            Some(other) => panic!("next_offset {other}"),
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), count);
    assert!(
        seen.windows(2).all(|w| w[0].0 < w[1].0),
        "ascending, distinct"
    );
    let ids: BTreeSet<&String> = seen.iter().map(|(_, id)| id).collect();
    assert_eq!(ids.len(), count);

    // Strictly after the fourth event's time: the fifth on.
    let pivot = seen[3].0;
    let (_, page) = get(
        &sim,
        &format!("events?occurred_at%5Bafter%5D={pivot}&sort_by%5Basc%5D=occurred_at&limit=100"),
    )
    .await;
    let after: Vec<String> = page["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["id"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = seen[4..].iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(after, expected);
    assert!(page.get("next_offset").is_none());

    let (status, body) = get(&sim, "events?offset=garbage").await;
    assert_eq!(status, 400);
    assert_eq!(body["api_error_code"], "invalid_request");
    sim.shutdown().await;
}

#[tokio::test]
async fn webhook_bodies_are_events_with_basic_credentials() {
    let sim = started().await;
    let id = sim.add_invoice(exclusive_invoice());
    let (_, inv) = get(&sim, &format!("invoices/{id}")).await;
    let txn = sim.pay(&id, i(&inv["invoice"]["total"]));

    let config = sim.config();
    let expected_auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            config.webhook_username, config.webhook_password
        ))
    );
    let (body, auth) = sim.webhook(1);
    assert_eq!(auth, expected_auth);
    let event: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(event["event_type"], "payment_succeeded");
    assert_eq!(event["webhook_status"], "scheduled");
    assert_eq!(event["content"]["transaction"]["id"], txn.as_str());
    assert_eq!(event["content"]["invoice"]["status"], "paid");
    assert_eq!(event["content"]["customer"]["id"], "halvorsen");
    assert_keys_subset(
        &event,
        &fixture("webhook_payment_succeeded.json"),
        "webhook",
    );

    let (body, _) = sim.webhook(0);
    let event: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(event["event_type"], "invoice_generated");
    // The snapshot is the invoice as generated, before the payment.
    assert_eq!(event["content"]["invoice"]["status"], "payment_due");
    let (_, page) = get(&sim, "events").await;
    assert_eq!(page["list"][0]["event"]["id"], event["id"]);
    sim.shutdown().await;
}
