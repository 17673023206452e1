//! The Chargebee simulator over HTTP: authentication, the concurrency gate, the wire shape
//! against the fixtures, money identities, event paging and webhook bodies; the catalog,
//! customer and invoice-detail changes, and credit notes that settle other invoices.

use std::collections::BTreeSet;

use base64::Engine as _;
use billing_sim::chargebee::{CbAddress, CbCustomerUpdate, CbInvoiceDetails, CbItemPrice};
use billing_sim::{CbInvoice, CbLine, CbPriceType, ChargebeeSim, ChargebeeSimConfig};
use serde_json::{json, Value};

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
        round_off: 0,
        shipping_address: None,
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
        round_off: 0,
        shipping_address: None,
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
        i(&inv["amount_paid"])
            + i(&inv["amount_adjusted"])
            + i(&inv["credits_applied"])
            + i(&inv["amount_due"]),
        total
    );
    assert_eq!(i(&inv["amount_to_collect"]), i(&inv["amount_due"]));
    assert_eq!(inv["status"] == "paid", i(&inv["amount_due"]) == 0);
    assert_eq!(
        i(&inv["amount_paid"]),
        sum(&inv["linked_payments"], "applied_amount")
    );
    assert_eq!(
        i(&inv["credits_applied"]),
        sum(&inv["applied_credits"], "applied_amount")
    );
}

/// The fixture a resource of this content key is checked against. `invoice_paid.json` lacks
/// credits; they come from `invoice_credited.json`, and `adjustment_credit_notes` entries have
/// the fields of `issued_credit_notes` ones (the SDK models both alike).
fn resource_fixture(key: &str) -> Value {
    match key {
        "invoice" => {
            let mut inv = fixture("invoice_paid.json");
            inv["invoice"]["applied_credits"] =
                fixture("invoice_credited.json")["invoice"]["applied_credits"].clone();
            inv["invoice"]["adjustment_credit_notes"] =
                inv["invoice"]["issued_credit_notes"].clone();
            inv
        }
        "customer" => fixture("customer.json"),
        "credit_note" => fixture("credit_note.json"),
        "transaction" => fixture("transaction_payment.json"),
        "item_price" => fixture("item_price.json"),
        "item" => fixture("items_list.json")["list"][0].clone(),
        other => panic!("no fixture for {other}"),
    }
}

/// Every key of the resource is one its fixture has; a customer's custom fields (`cf_*`,
/// site-defined) excepted.
fn assert_resource_keys(key: &str, doc: &Value) {
    let mut doc = doc.clone();
    if key == "customer" {
        doc.as_object_mut()
            .unwrap()
            .retain(|k, _| !k.starts_with("cf_"));
    }
    assert_keys_subset(&json!({ key: doc }), &resource_fixture(key), key);
}

/// The event's own keys against the fixture event of its type, its content resource by
/// resource.
fn assert_event_keys(event: &Value) {
    let page = fixture("events_page.json");
    let fixture_event = page["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"]["event_type"] == event["event_type"])
        .unwrap_or_else(|| panic!("no fixture event of type {}", event["event_type"]));
    let mut bare = event.clone();
    bare.as_object_mut().unwrap().remove("content");
    assert_keys_subset(&bare, &fixture_event["event"], "event");
    for (key, doc) in event["content"].as_object().unwrap() {
        assert_resource_keys(key, doc);
    }
}

/// Every event, oldest first.
async fn all_events(sim: &ChargebeeSim) -> Vec<Value> {
    let (status, page) = get(sim, "events?sort_by%5Basc%5D=occurred_at&limit=100").await;
    assert_eq!(status, 200);
    assert!(page.get("next_offset").is_none());
    page["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].clone())
        .collect()
}

/// The last `n` events, oldest first, with distinct, ascending `occurred_at`.
async fn last_events(sim: &ChargebeeSim, n: usize) -> Vec<Value> {
    let events = all_events(sim).await;
    assert!(events.len() >= n);
    let last = events[events.len() - n..].to_vec();
    assert!(last
        .windows(2)
        .all(|w| i(&w[0]["occurred_at"]) < i(&w[1]["occurred_at"])));
    last
}

fn austin_office() -> CbAddress {
    CbAddress {
        first_name: "Marta".into(),
        last_name: "Halvorsen".into(),
        company: Some("Halvorsen Robotics Inc.".into()),
        line1: "1200 Congress Ave".into(),
        line2: Some("Suite 400".into()),
        line3: Some("Attn: Accounts Payable".into()),
        city: "Austin".into(),
        state_code: Some("TX".into()),
        state: Some("Texas".into()),
        zip: "78701".into(),
        country: "US".into(),
    }
}

fn riverside_dock() -> CbAddress {
    CbAddress {
        first_name: "Dev".into(),
        last_name: "Okafor".into(),
        line1: "88 Riverside Dr".into(),
        city: "Austin".into(),
        state_code: Some("TX".into()),
        zip: "78741".into(),
        country: "US".into(),
        ..CbAddress::default()
    }
}

/// The fixture's `pro-plan-USD-Monthly`, field for field.
fn pro_plan_usd() -> CbItemPrice {
    CbItemPrice {
        id: "pro-plan-USD-Monthly".into(),
        item_id: "pro-plan".into(),
        item_type: "plan".into(),
        name: "Pro Plan USD Monthly".into(),
        external_name: Some("Pro Plan USD Monthly".into()),
        description: Some("Pro tier of the billing workspace, billed monthly in USD".into()),
        currency: "USD".into(),
        price: 49_900,
        sku: Some("BS-PRO-M-USD".into()),
        accounting_code: Some("4000 Subscription Revenue".into()),
        accounting_category1: Some("SaaS".into()),
        accounting_category2: Some("US-Austin".into()),
        accounting_category3: Some("Sales".into()),
        accounting_category4: Some("Ratable over term".into()),
    }
}

/// An open USD invoice of 10 000 for Halvorsen: one untaxed line, no coupon.
fn open_invoice(date: i64) -> CbInvoice {
    CbInvoice {
        date,
        lines: vec![line("plan_item_price", 1, 10_000, 0)],
        coupon: None,
        po_number: None,
        ..exclusive_invoice()
    }
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

#[tokio::test]
async fn item_prices_and_items_are_served_in_the_fixture_shape() {
    let sim = started().await;
    sim.add_item_price(pro_plan_usd());
    sim.add_item_price(CbItemPrice {
        id: "extra-seats-EUR-Monthly".into(),
        item_id: "extra-seats".into(),
        item_type: "addon".into(),
        name: "Extra Seats EUR Monthly".into(),
        currency: "EUR".into(),
        price: 1_190,
        ..CbItemPrice::default()
    });
    sim.add_item_price(CbItemPrice {
        id: "onboarding-USD".into(),
        item_id: "onboarding".into(),
        item_type: "charge".into(),
        name: "Onboarding Package USD".into(),
        price: 25_000,
        sku: Some("BS-ONB-USD".into()),
        ..CbItemPrice::default()
    });
    assert_eq!(sim.event_count(), 0, "the catalog emits no event");

    // The fixture's price, but for the instants.
    let (status, body) = get(&sim, "item_prices/pro-plan-USD-Monthly").await;
    assert_eq!(status, 200);
    let mut served = body["item_price"].clone();
    let mut expected = fixture("item_price.json")["item_price"].clone();
    for key in ["created_at", "updated_at", "resource_version"] {
        assert!(served[key].is_i64(), "{key}");
        served.as_object_mut().unwrap().remove(key);
        expected.as_object_mut().unwrap().remove(key);
    }
    assert_eq!(served, expected);

    // Nothing optional set: no accounting_detail, description or external name.
    let (_, body) = get(&sim, "item_prices/extra-seats-EUR-Monthly").await;
    let seats = &body["item_price"];
    assert_resource_keys("item_price", seats);
    for key in [
        "accounting_detail",
        "description",
        "external_name",
        "proration_type",
    ] {
        assert!(seats.get(key).is_none(), "{key}");
    }
    assert_eq!(seats["currency_code"], "EUR");
    assert_eq!(seats["price"], 1_190);
    assert_eq!(seats["item_type"], "addon");
    assert_eq!(seats["period_unit"], "month");
    assert_eq!(seats["status"], "active");
    assert_eq!(seats["pricing_model"], "flat_fee");
    assert_eq!(seats["is_taxable"], true);

    // A charge: one-off (no period), USD by default, only the sku set.
    let (_, body) = get(&sim, "item_prices/onboarding-USD").await;
    let onboarding = &body["item_price"];
    assert_resource_keys("item_price", onboarding);
    assert_eq!(onboarding["currency_code"], "USD");
    assert_eq!(
        onboarding["accounting_detail"],
        json!({ "sku": "BS-ONB-USD" })
    );
    assert!(onboarding.get("period").is_none());

    for (id, kind, in_mrr) in [
        ("pro-plan", "plan", Some(true)),
        ("extra-seats", "addon", Some(false)),
        ("onboarding", "charge", None),
    ] {
        let (status, body) = get(&sim, &format!("items/{id}")).await;
        assert_eq!(status, 200, "{id}");
        let item = &body["item"];
        assert_resource_keys("item", item);
        assert_eq!(item["id"], id);
        assert_eq!(item["type"], kind);
        assert_eq!(item["status"], "active");
        assert_eq!(item["item_family_id"], "billsync-suite");
        assert_eq!(item.get("included_in_mrr").and_then(Value::as_bool), in_mrr);
    }

    // A second price of an item keeps the item; a price added again is replaced.
    sim.add_item_price(CbItemPrice {
        id: "pro-plan-EUR-Monthly".into(),
        currency: "EUR".into(),
        price: 4_900,
        ..pro_plan_usd()
    });
    sim.add_item_price(CbItemPrice {
        price: 59_900,
        sku: None,
        ..pro_plan_usd()
    });
    let (_, body) = get(&sim, "item_prices/pro-plan-USD-Monthly").await;
    assert_eq!(body["item_price"]["price"], 59_900);
    assert!(body["item_price"]["accounting_detail"].get("sku").is_none());
    let (_, body) = get(&sim, "item_prices/pro-plan-EUR-Monthly").await;
    assert_eq!(body["item_price"]["item_id"], "pro-plan");

    for path in ["item_prices/nope-USD", "items/nope"] {
        let (status, body) = get(&sim, path).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(body["api_error_code"], "resource_not_found");
    }
    sim.shutdown().await;
}

#[tokio::test]
#[should_panic(expected = "is a \"plan\", not a addon")]
async fn an_item_keeps_its_type() {
    let sim = started().await;
    sim.add_item_price(pro_plan_usd());
    sim.add_item_price(CbItemPrice {
        id: "pro-plan-addon".into(),
        item_type: "addon".into(),
        ..pro_plan_usd()
    });
}

#[tokio::test]
async fn customer_changes_set_only_the_given_fields() {
    let sim = started().await;
    let (_, before) = get(&sim, "customers/halvorsen").await;
    let before = before["customer"].clone();
    sim.update_customer(
        "halvorsen",
        CbCustomerUpdate {
            email: Some("billing@halvorsen.example.com".into()),
            phone: Some("+1 512 555 0100".into()),
            vat_number: Some("US-EIN-74-1234567".into()),
            custom_fields: [("cf_ns_class", "Hardware"), ("cf_ns_department", "Sales")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            billing_address: Some(austin_office()),
            ..CbCustomerUpdate::default()
        },
    );
    let (_, after) = get(&sim, "customers/halvorsen").await;
    let c = &after["customer"];
    assert_resource_keys("customer", c);
    assert_eq!(c["email"], "billing@halvorsen.example.com");
    assert_eq!(c["phone"], "+1 512 555 0100");
    assert_eq!(c["vat_number"], "US-EIN-74-1234567");
    assert_eq!(c["cf_ns_class"], "Hardware");
    assert_eq!(c["cf_ns_department"], "Sales");
    assert_eq!(
        c["billing_address"],
        json!({
            "first_name": "Marta",
            "last_name": "Halvorsen",
            "company": "Halvorsen Robotics Inc.",
            "line1": "1200 Congress Ave",
            "line2": "Suite 400",
            "line3": "Attn: Accounts Payable",
            "city": "Austin",
            "state_code": "TX",
            "state": "Texas",
            "zip": "78701",
            "country": "US",
            "validation_status": "not_validated",
        })
    );
    for key in [
        "first_name",
        "last_name",
        "company",
        "created_at",
        "preferred_currency_code",
    ] {
        assert_eq!(c[key], before[key], "{key}");
    }
    assert!(i(&c["updated_at"]) > i(&before["updated_at"]));
    assert!(i(&c["resource_version"]) > i(&before["resource_version"]));

    let events = all_events(&sim).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["event_type"], "customer_changed");
    assert_eq!(events[0]["occurred_at"], c["updated_at"]);
    assert_eq!(events[0]["content"], json!({ "customer": c }));
    assert_event_keys(&events[0]);

    // An empty string clears a field; what is not named stays.
    sim.update_customer(
        "halvorsen",
        CbCustomerUpdate {
            phone: Some(String::new()),
            company: Some("Halvorsen Robotics AS".into()),
            custom_fields: [("cf_ns_class".to_owned(), "Services".to_owned())].into(),
            ..CbCustomerUpdate::default()
        },
    );
    let (_, again) = get(&sim, "customers/halvorsen").await;
    let again = &again["customer"];
    assert!(again.get("phone").is_none());
    assert_eq!(again["company"], "Halvorsen Robotics AS");
    assert_eq!(again["cf_ns_class"], "Services");
    for key in ["email", "vat_number", "cf_ns_department", "billing_address"] {
        assert_eq!(again[key], c[key], "{key}");
    }
    assert!(i(&again["resource_version"]) > i(&c["resource_version"]));
    let last = last_events(&sim, 2).await;
    assert_eq!(last[1]["event_type"], "customer_changed");
    assert_eq!(last[1]["content"]["customer"], *again);

    // The other customer is untouched.
    let (_, vogt) = get(&sim, "customers/vogt").await;
    assert_eq!(vogt["customer"]["email"], "lena@example.com");
    sim.shutdown().await;
}

#[tokio::test]
#[should_panic(expected = "customer nobody does not exist")]
async fn changing_an_unknown_customer_panics() {
    let sim = started().await;
    sim.update_customer("nobody", CbCustomerUpdate::default());
}

#[tokio::test]
async fn invoice_details_change_without_touching_money() {
    let sim = started().await;
    let id = sim.add_invoice(CbInvoice {
        shipping_address: Some(riverside_dock()),
        ..exclusive_invoice()
    });
    let (_, before) = get(&sim, &format!("invoices/{id}")).await;
    let before = before["invoice"].clone();
    assert_resource_keys("invoice", &before);
    assert_eq!(
        before["shipping_address"],
        json!({
            "first_name": "Dev",
            "last_name": "Okafor",
            "line1": "88 Riverside Dr",
            "city": "Austin",
            "state_code": "TX",
            "zip": "78741",
            "country": "US",
            "validation_status": "not_validated",
        })
    );
    // Issued with the customer's billing address.
    let (_, customer) = get(&sim, "customers/halvorsen").await;
    assert_eq!(
        before["billing_address"],
        customer["customer"]["billing_address"]
    );

    let events = sim.event_count();
    sim.update_invoice_details(
        &id,
        CbInvoiceDetails {
            po_number: Some("PO-HR-2026-0117".into()),
            billing_address: Some(austin_office()),
            shipping_address: Some(CbAddress {
                line2: Some("Building C".into()),
                ..riverside_dock()
            }),
        },
    );
    assert_eq!(sim.event_count(), events + 1);
    let (_, after) = get(&sim, &format!("invoices/{id}")).await;
    let after = &after["invoice"];
    assert_resource_keys("invoice", after);
    assert_identities(after);
    assert_eq!(after["po_number"], "PO-HR-2026-0117");
    assert_eq!(after["billing_address"]["line3"], "Attn: Accounts Payable");
    assert_eq!(after["billing_address"]["state_code"], "TX");
    assert!(after["billing_address"].get("email").is_none());
    assert_eq!(after["shipping_address"]["line2"], "Building C");
    assert_eq!(after["shipping_address"]["first_name"], "Dev");
    let mut unchanged = before.clone();
    for key in [
        "po_number",
        "billing_address",
        "shipping_address",
        "updated_at",
        "resource_version",
    ] {
        unchanged[key] = after[key].clone();
    }
    assert_eq!(
        *after, unchanged,
        "only the details, updated_at and resource_version change"
    );
    assert!(i(&after["updated_at"]) > i(&before["updated_at"]));
    assert!(i(&after["resource_version"]) > i(&before["resource_version"]));
    // The customer keeps its own address.
    let (_, again) = get(&sim, "customers/halvorsen").await;
    assert_eq!(again, customer);

    let last = last_events(&sim, 1).await;
    assert_eq!(last[0]["event_type"], "invoice_updated");
    assert_eq!(last[0]["content"]["invoice"], *after);
    assert_eq!(last[0]["content"]["customer"], customer["customer"]);
    assert_event_keys(&last[0]);

    // An empty PO number clears it; the addresses stay.
    sim.update_invoice_details(
        &id,
        CbInvoiceDetails {
            po_number: Some(String::new()),
            ..CbInvoiceDetails::default()
        },
    );
    let (_, cleared) = get(&sim, &format!("invoices/{id}")).await;
    assert!(cleared["invoice"].get("po_number").is_none());
    assert_eq!(
        cleared["invoice"]["shipping_address"],
        after["shipping_address"]
    );
    assert_eq!(
        cleared["invoice"]["billing_address"],
        after["billing_address"]
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_credit_note_allocated_to_another_invoice_settles_it() {
    let sim = started().await;
    let paid = sim.add_invoice(exclusive_invoice());
    let (_, inv) = get(&sim, &format!("invoices/{paid}")).await;
    sim.pay(&paid, i(&inv["invoice"]["total"]));
    let open = sim.add_invoice(open_invoice(DATE + 100));

    let events = sim.event_count();
    let cn_id = sim.credit(&paid, 4_000, &open);
    assert_eq!(cn_id, "CN-1001");
    assert_eq!(sim.event_count(), events + 2);

    let (status, cn) = get(&sim, &format!("credit_notes/{cn_id}")).await;
    assert_eq!(status, 200);
    let cn = &cn["credit_note"];
    assert_resource_keys("credit_note", cn);
    let at = i(&cn["date"]);
    assert_eq!(cn["type"], "refundable");
    // Every credit used: Chargebee's `refunded`, whether allocated or paid out.
    assert_eq!(cn["status"], "refunded");
    assert_eq!(cn["reference_invoice_id"], paid.as_str());
    assert_eq!(cn["customer_id"], "halvorsen");
    assert_eq!(cn["currency_code"], "USD");
    assert_eq!(cn["total"], 4_000);
    assert_eq!(cn["sub_total"], 4_000);
    assert_eq!(cn["amount_allocated"], 4_000);
    assert_eq!(cn["amount_refunded"], 0);
    assert_eq!(cn["amount_available"], 0);
    assert_eq!(cn["refunded_at"], at);
    assert_eq!(cn["linked_refunds"], json!([]));
    let lines = cn["line_items"].as_array().unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["entity_type"], "adhoc");
    assert_eq!(lines[0]["amount"], 4_000);
    assert_eq!(lines[0]["is_taxed"], false);
    assert_eq!(
        cn["tax"],
        Value::Null,
        "the SDK has no tax on a credit note"
    );
    assert_eq!(
        cn["allocations"],
        json!([{
            "allocated_amount": 4_000,
            "allocated_at": at,
            "invoice_id": open,
            "invoice_date": DATE + 100,
            "invoice_status": "payment_due",
        }])
    );

    let (_, target) = get(&sim, &format!("invoices/{open}")).await;
    let target = &target["invoice"];
    assert_resource_keys("invoice", target);
    assert_identities(target);
    assert_eq!(target["total"], 10_000);
    assert_eq!(target["credits_applied"], 4_000);
    assert_eq!(target["amount_due"], 6_000);
    assert_eq!(target["amount_adjusted"], 0);
    assert_eq!(target["status"], "payment_due");
    assert!(target.get("paid_at").is_none());
    assert_eq!(target["updated_at"], at);
    assert_eq!(
        target["applied_credits"],
        json!([{
            "cn_id": cn_id,
            "applied_amount": 4_000,
            "applied_at": at,
            "cn_reason_code": "product_unsatisfactory",
            "cn_date": at,
            "cn_status": "refunded",
        }])
    );
    assert_eq!(target["issued_credit_notes"], json!([]));

    let (_, source) = get(&sim, &format!("invoices/{paid}")).await;
    let source = &source["invoice"];
    assert_identities(source);
    assert_eq!(source["status"], "paid");
    assert_eq!(
        source["issued_credit_notes"],
        json!([{
            "cn_id": cn_id,
            "cn_date": at,
            "cn_reason_code": "product_unsatisfactory",
            "cn_status": "refunded",
            "cn_total": 4_000,
        }])
    );
    assert_eq!(source["applied_credits"], json!([]));
    assert_eq!(source["updated_at"], at);

    let last = last_events(&sim, 2).await;
    assert_eq!(last[0]["event_type"], "credit_note_created");
    assert_eq!(last[0]["occurred_at"], at);
    assert_eq!(last[0]["content"]["credit_note"], *cn);
    assert_eq!(last[0]["content"]["customer"]["id"], "halvorsen");
    assert_eq!(last[1]["event_type"], "invoice_updated");
    assert_eq!(last[1]["content"]["invoice"], *target);
    assert_eq!(last[1]["content"]["customer"]["id"], "halvorsen");
    for e in &last {
        assert_event_keys(e);
    }

    // Refunds number their notes in the same series.
    let (refund_cn, _) = sim.refund(&paid, 100);
    assert_eq!(refund_cn, "CN-1002");

    // The rest of what is due: the target is paid by credits alone.
    let rest = sim.credit(&paid, 6_000, &open);
    assert_eq!(rest, "CN-1003");
    let (_, target) = get(&sim, &format!("invoices/{open}")).await;
    let target = &target["invoice"];
    assert_identities(target);
    assert_eq!(target["status"], "paid");
    assert_eq!(target["amount_due"], 0);
    assert_eq!(target["amount_to_collect"], 0);
    assert_eq!(target["credits_applied"], 10_000);
    assert_eq!(target["amount_paid"], 0);
    assert_eq!(target["applied_credits"].as_array().unwrap().len(), 2);
    let (_, cn) = get(&sim, &format!("credit_notes/{rest}")).await;
    assert_eq!(target["paid_at"], cn["credit_note"]["date"]);
    assert_eq!(
        cn["credit_note"]["allocations"][0]["invoice_status"],
        "paid"
    );
    let (_, source) = get(&sim, &format!("invoices/{paid}")).await;
    let issued: Vec<&Value> = source["invoice"]["issued_credit_notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| &n["cn_id"])
        .collect();
    assert_eq!(issued, ["CN-1001", "CN-1002", "CN-1003"]);
    sim.shutdown().await;
}

#[tokio::test]
#[should_panic(expected = "has 10000 due, less than 10001")]
async fn a_credit_beyond_what_is_due_panics() {
    let sim = started().await;
    let paid = sim.add_invoice(exclusive_invoice());
    let open = sim.add_invoice(open_invoice(DATE + 100));
    sim.credit(&paid, 10_001, &open);
}

#[tokio::test]
#[should_panic(expected = "is paid, not open")]
async fn a_credit_to_a_paid_invoice_panics() {
    let sim = started().await;
    let first = sim.add_invoice(open_invoice(DATE));
    let second = sim.add_invoice(open_invoice(DATE + 100));
    sim.pay(&second, 10_000);
    sim.credit(&first, 1_000, &second);
}

#[tokio::test]
async fn an_adjustment_lowers_what_its_own_invoice_asks_for() {
    let sim = started().await;
    let id = sim.add_invoice(inclusive_invoice());
    let (_, inv) = get(&sim, &format!("invoices/{id}")).await;
    let total = i(&inv["invoice"]["total"]);

    let events = sim.event_count();
    let cn_id = sim.adjust(&id, 1_000);
    assert_eq!(cn_id, "CN-1001");
    assert_eq!(sim.event_count(), events + 2);
    let (_, cn) = get(&sim, &format!("credit_notes/{cn_id}")).await;
    let cn = &cn["credit_note"];
    assert_resource_keys("credit_note", cn);
    let at = i(&cn["date"]);
    assert_eq!(cn["type"], "adjustment");
    assert_eq!(cn["status"], "adjusted");
    assert_eq!(cn["reference_invoice_id"], id.as_str());
    assert_eq!(cn["customer_id"], "vogt");
    assert_eq!(cn["currency_code"], "EUR");
    assert_eq!(cn["price_type"], "tax_inclusive");
    assert_eq!(cn["total"], 1_000);
    assert_eq!(cn["amount_allocated"], 1_000);
    assert_eq!(cn["amount_refunded"], 0);
    assert_eq!(cn["amount_available"], 0);
    assert!(cn.get("refunded_at").is_none());
    assert_eq!(
        cn["allocations"],
        json!([{
            "allocated_amount": 1_000,
            "allocated_at": at,
            "invoice_id": id,
            "invoice_date": DATE + 10,
            "invoice_status": "payment_due",
        }])
    );

    let (_, inv) = get(&sim, &format!("invoices/{id}")).await;
    let inv = &inv["invoice"];
    assert_resource_keys("invoice", inv);
    assert_identities(inv);
    assert_eq!(inv["total"], total, "an adjustment leaves the total");
    assert_eq!(inv["amount_adjusted"], 1_000);
    assert_eq!(inv["credits_applied"], 0);
    assert_eq!(inv["applied_credits"], json!([]));
    assert_eq!(inv["amount_due"], total - 1_000);
    assert_eq!(inv["status"], "payment_due");
    let entry = json!([{
        "cn_id": cn_id,
        "cn_date": at,
        "cn_reason_code": "waiver",
        "cn_status": "adjusted",
        "cn_total": 1_000,
    }]);
    assert_eq!(inv["adjustment_credit_notes"], entry);
    assert_eq!(inv["issued_credit_notes"], entry);

    let last = last_events(&sim, 2).await;
    assert_eq!(last[0]["event_type"], "credit_note_created");
    assert_eq!(last[0]["content"]["credit_note"], *cn);
    assert_eq!(last[0]["content"]["customer"]["id"], "vogt");
    assert_eq!(last[1]["event_type"], "invoice_updated");
    assert_eq!(last[1]["content"]["invoice"], *inv);
    for e in &last {
        assert_event_keys(e);
    }

    // A payment, then an adjustment of the rest: paid, nothing due.
    sim.pay(&id, 2_000);
    let rest = total - 1_000 - 2_000;
    let last_cn = sim.adjust(&id, rest);
    let (_, inv) = get(&sim, &format!("invoices/{id}")).await;
    let inv = &inv["invoice"];
    assert_identities(inv);
    assert_eq!(inv["status"], "paid");
    assert_eq!(inv["amount_due"], 0);
    assert_eq!(inv["amount_paid"], 2_000);
    assert_eq!(inv["amount_adjusted"], 1_000 + rest);
    assert_eq!(inv["adjustment_credit_notes"][1]["cn_id"], last_cn.as_str());
    let (_, cn) = get(&sim, &format!("credit_notes/{last_cn}")).await;
    assert_eq!(inv["paid_at"], cn["credit_note"]["date"]);
    assert_eq!(
        cn["credit_note"]["allocations"][0]["invoice_status"],
        "paid"
    );
    sim.shutdown().await;
}

#[tokio::test]
#[should_panic(expected = "is paid, not open")]
async fn adjusting_a_paid_invoice_panics() {
    let sim = started().await;
    let id = sim.add_invoice(open_invoice(DATE));
    sim.pay(&id, 10_000);
    sim.adjust(&id, 1);
}

#[tokio::test]
async fn lists_filter_by_id_in_and_page_by_next_offset() {
    let sim = started().await;
    let ids: Vec<String> = (0..5)
        .map(|k| sim.add_invoice(open_invoice(DATE + k)))
        .collect();
    let filter = |ids: &[&str]| {
        let list = serde_json::to_string(ids).unwrap();
        url::form_urlencoded::byte_serialize(list.as_bytes()).collect::<String>()
    };

    // Unknown ids are absent, not an error; each record comes in its one-key envelope.
    let wanted = [ids[0].as_str(), ids[3].as_str(), "INV-NOPE"];
    let (status, body) = get(&sim, &format!("invoices?id[in]={}", filter(&wanted))).await;
    assert_eq!(status, 200, "{body}");
    let got: BTreeSet<&str> = body["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["invoice"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, BTreeSet::from([ids[0].as_str(), ids[3].as_str()]));
    assert!(body.get("next_offset").is_none(), "{body}");

    // Two per page: three pages, every invoice once.
    let all: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut seen = Vec::new();
    let mut offset: Option<String> = None;
    loop {
        let mut path = format!("invoices?id[in]={}&limit=2", filter(&all));
        if let Some(o) = &offset {
            path.push_str(&format!("&offset={o}"));
        }
        let (status, body) = get(&sim, &path).await;
        assert_eq!(status, 200, "{body}");
        for e in body["list"].as_array().unwrap() {
            seen.push(e["invoice"]["id"].as_str().unwrap().to_owned());
        }
        match body["next_offset"].as_str() {
            Some(o) => offset = Some(o.to_owned()),
            None => break,
        }
    }
    seen.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(seen, expected);

    let (status, body) = get(&sim, "customers?id[in]=%5B%22vogt%22%5D").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["list"][0]["customer"]["id"], "vogt");

    // A malformed list and a filter the simulator does not apply are refused, not ignored.
    let (status, body) = get(&sim, "invoices?id[in]=INV-1").await;
    assert_eq!(
        (status, body["param"].as_str()),
        (400, Some("id[in]")),
        "{body}"
    );
    let (status, body) = get(&sim, "invoices?status[is]=paid").await;
    assert_eq!(
        (status, body["param"].as_str()),
        (400, Some("status[is]")),
        "{body}"
    );
    let (status, _) = get(&sim, "transactions?limit=101").await;
    assert_eq!(status, 400);
}
