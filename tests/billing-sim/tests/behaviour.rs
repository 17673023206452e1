//! The simulator's behaviour over HTTP: money identities on every generated invoice, HTTP Basic,
//! the concurrency gate, paging, the event cursor, injected failures, billing actions, signed
//! webhooks and determinism.

mod common;

use std::{
    collections::{BTreeSet, HashMap},
    convert::Infallible,
    str::FromStr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use billing_sim::{
    BillingSim, ComponentKind, Consolidation, Coupon, DatasetSpec, NewComponent, NewCustomer,
    NewInvoice, NewLine, NewProduct, NewSegment, PaymentKind, SimConfig, SimError, TaxRate,
    WebhookEvent,
};
use chrono::NaiveDate;
use common::*;
use hmac::{Hmac, Mac};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{json, Value};
use sha2::Sha256;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn r2(x: Decimal) -> Decimal {
    x.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

fn sum(items: &Value, field: &str) -> Decimal {
    items
        .as_array()
        .map(|a| a.iter().map(|x| dec(&x[field])).sum())
        .unwrap_or_default()
}

fn spec(seed: u64, invoices: usize) -> DatasetSpec {
    DatasetSpec {
        seed,
        start: NaiveDate::from_ymd_opt(2026, 2, 1).unwrap(),
        days: 30,
        invoices,
        currencies: vec!["USD".into(), "EUR".into(), "GBP".into()],
    }
}

/// The identities the fixtures satisfy (fixtures/README.md, "Money identities").
fn check_invoice(inv: &Value, problems: &mut Vec<String>) {
    let uid = inv["uid"].as_str().unwrap_or("?").to_owned();
    let mut fail = |what: &str| problems.push(format!("{uid}: {what}"));
    let a = |k: &str| dec(&inv[k]);
    for k in [
        "subtotal_amount",
        "discount_amount",
        "tax_amount",
        "total_amount",
        "credit_amount",
        "paid_amount",
        "refund_amount",
        "due_amount",
    ] {
        if a(k) != r2(a(k)) {
            fail(&format!("{k} has more than 2 decimals"));
        }
        if a(k) < Decimal::ZERO {
            fail(&format!("{k} is negative"));
        }
    }
    if a("total_amount") != a("subtotal_amount") - a("discount_amount") + a("tax_amount") {
        fail("total != subtotal - discount + tax");
    }
    if a("due_amount") != a("total_amount") - a("credit_amount") - a("paid_amount") {
        fail("due != total - credit - paid");
    }
    if a("paid_amount") != sum(&inv["payments"], "applied_amount") {
        fail("paid != sum of payments");
    }
    if a("credit_amount") != sum(&inv["credits"], "applied_amount") {
        fail("credit != sum of credits");
    }
    if a("refund_amount") != sum(&inv["refunds"], "applied_amount") {
        fail("refund != sum of refunds");
    }
    let payment_ids: BTreeSet<u64> = inv["payments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["transaction_id"].as_u64().unwrap())
        .collect();
    for r in inv["refunds"].as_array().unwrap() {
        if !payment_ids.contains(&r["payment_id"].as_u64().unwrap()) {
            fail("a refund names a payment not on the invoice");
        }
    }
    let paid = inv["status"] == "paid";
    if paid != (a("due_amount").is_zero() && inv["status"] != "voided") && inv["status"] != "voided"
    {
        fail("status paid iff nothing is due");
    }
    if paid != inv["paid_date"].is_string() {
        fail("paid_date is set iff paid");
    }
    let lines = inv["line_items"].as_array().unwrap();
    if inv["consolidation_level"] == "parent" {
        if !lines.is_empty() {
            fail("a consolidated invoice has lines of its own");
        }
        return;
    }
    if a("subtotal_amount") != sum(&inv["line_items"], "subtotal_amount") {
        fail("subtotal != sum of line subtotals");
    }
    let mut line_disc: HashMap<String, Decimal> = HashMap::new();
    let mut line_tax: HashMap<String, Decimal> = HashMap::new();
    for disc in inv["discounts"].as_array().unwrap() {
        let bo = &disc["line_item_breakouts"];
        if dec(&disc["discount_amount"]) != r2(sum(bo, "discount_amount")) {
            fail("discount != rounded sum of its breakouts");
        }
        if dec(&disc["eligible_amount"]) != sum(bo, "eligible_amount") {
            fail("eligible != sum of breakouts");
        }
        for b in bo.as_array().unwrap() {
            *line_disc
                .entry(b["uid"].as_str().unwrap().into())
                .or_default() += dec(&b["discount_amount"]);
        }
    }
    for tax in inv["taxes"].as_array().unwrap() {
        let bo = &tax["line_item_breakouts"];
        if dec(&tax["tax_amount"]) != r2(sum(bo, "tax_amount")) {
            fail("tax != rounded sum of its breakouts");
        }
        if dec(&tax["taxable_amount"]) != r2(sum(bo, "taxable_amount")) {
            fail("taxable != rounded sum of breakouts");
        }
        for b in bo.as_array().unwrap() {
            *line_tax
                .entry(b["uid"].as_str().unwrap().into())
                .or_default() += dec(&b["tax_amount"]);
        }
    }
    if a("discount_amount") != sum(&inv["discounts"], "discount_amount") {
        fail("discount != sum of discounts");
    }
    if a("tax_amount") != sum(&inv["taxes"], "tax_amount") {
        fail("tax != sum of taxes");
    }
    for l in lines {
        let u = l["uid"].as_str().unwrap();
        let ld = line_disc.get(u).copied().unwrap_or_default();
        let lt = line_tax.get(u).copied().unwrap_or_default();
        if dec(&l["discount_amount"]) != ld || dec(&l["tax_amount"]) != lt {
            fail("line discount/tax != its breakouts");
        }
        if dec(&l["total_amount"]) != dec(&l["subtotal_amount"]) - ld + lt {
            fail("line total != subtotal - discount + tax");
        }
    }
}

fn check_credit_note(cn: &Value, problems: &mut Vec<String>) {
    let a = |k: &str| dec(&cn[k]);
    let uid = cn["uid"].as_str().unwrap_or("?");
    if a("total_amount") != a("subtotal_amount") - a("discount_amount") + a("tax_amount") {
        problems.push(format!("{uid}: total"));
    }
    if a("remaining_amount") != a("total_amount") - a("applied_amount") {
        problems.push(format!("{uid}: remaining"));
    }
    if sum(&cn["applications"], "applied_amount") + sum(&cn["refunds"], "applied_amount")
        != a("applied_amount")
    {
        problems.push(format!("{uid}: applied"));
    }
    if (cn["status"] == "applied") != a("remaining_amount").is_zero() {
        problems.push(format!("{uid}: status"));
    }
    let tax_bo: Decimal = cn["taxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| sum(&t["line_item_breakouts"], "tax_amount"))
        .sum();
    if r2(tax_bo) != a("tax_amount")
        || a("subtotal_amount") != sum(&cn["line_items"], "subtotal_amount")
    {
        problems.push(format!("{uid}: lines"));
    }
}

async fn all_events(sim: &BillingSim, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for page in 1.. {
        let body = get_ok(
            sim,
            &format!("invoices/events.json?{query}&per_page=200&page={page}"),
        )
        .await;
        let events = body["events"].as_array().unwrap();
        if events.is_empty() {
            break;
        }
        out.extend(events.iter().cloned());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn money_identities_hold_for_every_generated_invoice_and_snapshot() {
    let sim = BillingSim::start_with(SimConfig::default(), &spec(9, 300))
        .await
        .unwrap();
    assert_eq!(sim.invoice_uids().len(), 300);
    let mut problems = Vec::new();
    let mut by_uid = HashMap::new();
    for uid in sim.invoice_uids() {
        let inv = sim.invoice_json(&uid).unwrap();
        check_invoice(&inv, &mut problems);
        by_uid.insert(uid, inv);
    }
    // Consolidated invoices sum their segments, which point back at them.
    for inv in by_uid
        .values()
        .filter(|i| i["consolidation_level"] == "parent")
    {
        let uid = inv["uid"].as_str().unwrap();
        let segs = get_ok(&sim, &format!("invoices/{uid}/segments.json")).await;
        let segs = segs["invoices"].as_array().unwrap();
        assert!(segs.len() >= 2);
        for k in [
            "subtotal_amount",
            "discount_amount",
            "tax_amount",
            "total_amount",
            "paid_amount",
            "due_amount",
        ] {
            let total: Decimal = segs.iter().map(|s| dec(&s[k])).sum();
            assert_eq!(total, dec(&inv[k]), "{uid} {k}");
        }
        for s in segs {
            assert_eq!(s["parent_invoice_uid"], inv["uid"]);
            assert_eq!(
                s["parent_invoice_number"].as_u64().unwrap().to_string(),
                inv["number"].as_str().unwrap()
            );
            assert_eq!(s["status"], inv["status"]);
        }
    }
    // Every snapshot in the event stream, too; ids and timestamps ascend together.
    let events = all_events(&sim, "with_change_invoice_status=true").await;
    assert_eq!(events.len(), sim.event_count());
    let mut last = (0u64, String::new());
    for e in &events {
        check_invoice(&e["invoice"], &mut problems);
        let id = e["id"].as_u64().unwrap();
        let ts = chrono::DateTime::parse_from_rfc3339(e["timestamp"].as_str().unwrap()).unwrap();
        assert!(id > last.0, "ids ascend");
        if !last.1.is_empty() {
            assert!(
                ts >= chrono::DateTime::parse_from_rfc3339(&last.1).unwrap(),
                "timestamps ascend"
            );
        }
        last = (id, e["timestamp"].as_str().unwrap().to_owned());
        match e["event_type"].as_str().unwrap() {
            "refund_invoice" => {
                check_credit_note(&e["event_data"]["credit_note_attributes"], &mut problems)
            }
            "create_credit_note" => check_credit_note(&e["event_data"], &mut problems),
            "apply_payment" => {
                let txn = &e["event_data"]["transaction_id"];
                assert!(e["invoice"]["payments"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| &p["transaction_id"] == txn));
            }
            _ => {}
        }
    }
    for uid in sim.credit_note_uids() {
        check_credit_note(
            &get_ok(&sim, &format!("credit_notes/{uid}.json")).await,
            &mut problems,
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // Every kind the Maxio guide names is in the dataset.
    let all: Vec<&Value> = by_uid.values().collect();
    let has = |f: &dyn Fn(&Value) -> bool| all.iter().any(|i| f(i));
    let zero = Decimal::ZERO;
    assert!(has(
        &|i| i["product_name"] == "Edge Gateway Appliance" || i["product_name"] == "Sensor Kit"
    ));
    assert!(has(&|i| dec(&i["subtotal_amount"]) == zero));
    assert!(has(
        &|i| dec(&i["subtotal_amount"]) > zero && dec(&i["total_amount"]) == zero
    ));
    assert!(has(&|i| i["consolidation_level"] == "parent"));
    assert!(has(&|i| i["payments"].as_array().unwrap().len() >= 2));
    assert!(has(&|i| i["status"] == "open"));
    assert!(has(&|i| i["status"] == "voided"));
    assert!(has(&|i| i["status"] == "processing"));
    assert!(has(
        &|i| dec(&i["refund_amount"]) > zero && dec(&i["refund_amount"]) < dec(&i["paid_amount"])
    ));
    assert!(has(&|i| dec(&i["credit_amount"]) > zero));
    assert!(has(&|i| i["discounts"][0]["discount_type"] == "flat_amount"));
    assert!(has(&|i| i["custom_fields"][0]["name"] == "PO Number"));
    assert!(has(&|i| i["line_items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["kind"] == "initial")));
    let currencies: BTreeSet<&str> = all
        .iter()
        .map(|i| i["currency"].as_str().unwrap())
        .collect();
    assert_eq!(currencies, BTreeSet::from(["EUR", "GBP", "USD"]));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_basic_with_the_api_key_only() {
    let sim = BillingSim::start(SimConfig::default()).await.unwrap();
    let url = format!("{}invoices.json", sim.base_url());
    let http = reqwest::Client::new();
    let none = http.get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert!(none.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(
        none.text().await.unwrap().trim(),
        "HTTP Basic: Access denied."
    );
    let wrong = http
        .get(&url)
        .basic_auth("not-the-key", Some("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    // Maxio checks only the key: any password, or none, passes.
    for password in [Some("x"), Some("anything"), None] {
        let ok = http
            .get(&url)
            .basic_auth(sim.config().api_key, password)
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        assert_eq!(ok.json::<Value>().await.unwrap(), json!({ "invoices": [] }));
    }
    let stats = sim.stats();
    assert_eq!((stats.unauthorized_401, stats.total_requests), (2, 5));
    assert_eq!(stats.requests_by_endpoint["GET /invoices.json"], 3);
    // The admin API is open and uncounted.
    let admin: Value = http
        .get(format!("{}admin/stats", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(admin["unauthorized_401"], 2);
    assert_eq!(sim.stats().total_requests, 5);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_concurrency_limit_answers_429_and_records_the_peak() {
    let config = SimConfig {
        latency: Duration::from_millis(800),
        ..SimConfig::default()
    };
    let sim = BillingSim::start(config).await.unwrap();
    let http = reqwest::Client::new();
    let key = sim.config().api_key;
    let calls = (0..10).map(|_| {
        let req = http
            .get(format!("{}customers.json", sim.base_url()))
            .basic_auth(&key, Some("x"));
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    });
    let results = futures_join(calls).await;
    let ok = results.iter().filter(|(s, _)| *s == 200).count();
    let limited: Vec<_> = results.iter().filter(|(s, _)| *s == 429).collect();
    assert_eq!((ok, limited.len()), (4, 6), "{results:?}");
    assert!(limited[0].1.contains("Too many requests") && limited[0].1.contains("Reference"));
    let stats = sim.stats();
    assert_eq!(
        (stats.rejected_429, stats.peak_in_flight, stats.in_flight),
        (6, 4, 0)
    );
    // Latency changes at run time.
    sim.set_latency(Duration::ZERO);
    let t = Instant::now();
    get_ok(&sim, "customers.json").await;
    assert!(t.elapsed() < Duration::from_millis(500));
    sim.shutdown().await;
}

/// Runs futures concurrently on the current task (no extra dependency).
async fn futures_join<F>(futs: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_clamps_per_page_and_ends_with_an_empty_page() {
    let sim = BillingSim::start_with(SimConfig::default(), &spec(3, 250))
        .await
        .unwrap();
    let count = |v: &Value| v["invoices"].as_array().unwrap().len();
    assert_eq!(count(&get_ok(&sim, "invoices.json").await), 20);
    assert_eq!(
        count(&get_ok(&sim, "invoices.json?per_page=1000").await),
        200
    );
    assert_eq!(
        count(&get_ok(&sim, "invoices.json?per_page=200&page=2").await),
        50
    );
    assert_eq!(
        count(&get_ok(&sim, "invoices.json?per_page=200&page=3").await),
        0
    );
    assert_eq!(count(&get_ok(&sim, "invoices.json?page=99").await), 0);
    // Default order is by number, descending; asc on request.
    let desc = get_ok(&sim, "invoices.json?per_page=3").await;
    let asc = get_ok(&sim, "invoices.json?per_page=3&direction=asc").await;
    let num = |v: &Value, i: usize| v["invoices"][i]["sequence_number"].as_u64().unwrap();
    assert!(num(&desc, 0) > num(&desc, 1) && num(&asc, 0) < num(&asc, 1));
    // Filters: date range inclusive, status, consolidation level, customer.
    let feb3 = get_ok(&sim, "invoices.json?per_page=200&date_field=issue_date&start_date=2026-02-03&end_date=2026-02-03").await;
    let days: BTreeSet<&str> = feb3["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["issue_date"].as_str().unwrap())
        .collect();
    assert_eq!(days, BTreeSet::from(["2026-02-03"]));
    let parents = get_ok(
        &sim,
        "invoices.json?per_page=200&consolidation_level=parent&status=paid,processing",
    )
    .await;
    assert!(parents["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["consolidation_level"] == "parent"));
    let first = &sim.invoice_json(&sim.invoice_uids()[0]).unwrap();
    let cid = first["customer_id"].as_u64().unwrap();
    let mine = get_ok(
        &sim,
        &format!("invoices.json?per_page=200&customer_ids={cid}"),
    )
    .await;
    assert!(mine["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["customer_id"] == cid));
    // Customers, products and components page too (a client loops until an empty page).
    let customers = get_ok(&sim, "customers.json?per_page=200")
        .await
        .as_array()
        .unwrap()
        .len();
    assert_eq!(customers, sim.customer_ids().len());
    assert!(get_ok(&sim, "products.json?page=2")
        .await
        .as_array()
        .unwrap()
        .is_empty());
    assert!(get_ok(&sim, "components.json?page=2")
        .await
        .as_array()
        .unwrap()
        .is_empty());
    // Events: per_page clamps to 200 and total_pages is reported.
    let ev = get_ok(&sim, "invoices/events.json?per_page=1000").await;
    assert_eq!(ev["per_page"], 200);
    assert_eq!(ev["events"].as_array().unwrap().len(), 200);
    let total = ev["total_pages"].as_u64().unwrap();
    let past = get_ok(
        &sim,
        &format!("invoices/events.json?per_page=200&page={}", total + 1),
    )
    .await;
    assert!(past["events"].as_array().unwrap().is_empty());
    // Bad values are 422 with Maxio's error document; unknown paths and records 404.
    let (status, body) = get(&sim, "invoices.json?start_date=yesterday").await;
    assert_eq!(status, 422);
    assert!(body["errors"][0].as_str().unwrap().contains("start_date"));
    assert_eq!(
        get(&sim, "invoices/inv_nope.json").await,
        (404, json!({ "errors": ["Not Found"] }))
    );
    assert_eq!(get(&sim, "Invoices.json").await.0, 404);
    assert_eq!(get(&sim, "invoices").await.0, 404);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_since_id_is_exclusive_and_ascending() {
    let sim = BillingSim::start_with(SimConfig::default(), &spec(5, 120))
        .await
        .unwrap();
    let page = get_ok(
        &sim,
        "invoices/events.json?with_change_invoice_status=true&per_page=50",
    )
    .await;
    let ids: Vec<u64> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_u64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let cursor = ids[9];
    let after = get_ok(
        &sim,
        &format!(
            "invoices/events.json?with_change_invoice_status=true&per_page=5&since_id={cursor}"
        ),
    )
    .await;
    let next: Vec<u64> = after["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_u64().unwrap())
        .collect();
    assert_eq!(next, ids[10..15]);
    // change_invoice_status only on request; event_types and invoice_uid filter.
    let all = all_events(&sim, "with_change_invoice_status=true").await;
    let plain = all_events(&sim, "x=1").await;
    let changes = all
        .iter()
        .filter(|e| e["event_type"] == "change_invoice_status")
        .count();
    assert!(changes > 0);
    assert_eq!(plain.len() + changes, all.len());
    let pays = all_events(&sim, "event_types=apply_payment,refund_invoice").await;
    assert!(pays
        .iter()
        .all(|e| ["apply_payment", "refund_invoice"].contains(&e["event_type"].as_str().unwrap())));
    assert_eq!(
        pays.len(),
        all.iter()
            .filter(|e| ["apply_payment", "refund_invoice"]
                .contains(&e["event_type"].as_str().unwrap()))
            .count()
    );
    let uid = sim.invoice_uids()[3].clone();
    let one = all_events(
        &sim,
        &format!("invoice_uid={uid}&with_change_invoice_status=true"),
    )
    .await;
    assert!(!one.is_empty() && one.iter().all(|e| e["invoice"]["uid"] == uid.as_str()));
    // since_date: events from that day on.
    let since = get_ok(
        &sim,
        "invoices/events.json?since_date=2026-02-15&per_page=200",
    )
    .await;
    assert!(since["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["timestamp"].as_str().unwrap() >= "2026-02-15"));
    // The snapshot is the invoice as of the event: an issue_invoice event of a later-paid
    // invoice still shows nothing paid.
    let issued = all.iter().find(|e| {
        e["event_type"] == "issue_invoice"
            && e["invoice"]["status"] == "open"
            && sim
                .invoice_json(e["invoice"]["uid"].as_str().unwrap())
                .unwrap()["status"]
                == "paid"
    });
    let issued = issued.expect("an invoice paid after issue");
    assert_eq!(issued["invoice"]["paid_amount"], "0.0");
    assert_eq!(issued["event_data"]["from_status"], "draft");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_events_page_through_quickly() {
    let t = Instant::now();
    let sim = BillingSim::start_with(SimConfig::default(), &spec(11, 5000))
        .await
        .unwrap();
    let generated = t.elapsed();
    assert!(sim.event_count() >= 10_000, "{} events", sim.event_count());
    // The client's way: a fixed cursor and increasing pages, until a page says it is the last.
    let t = Instant::now();
    let mut seen = 0usize;
    let mut last_id = 0u64;
    let mut page = 1;
    loop {
        let body = get_ok(&sim, &format!("invoices/events.json?since_id=0&with_change_invoice_status=true&per_page=200&page={page}")).await;
        for e in body["events"].as_array().unwrap() {
            let id = e["id"].as_u64().unwrap();
            assert!(id > last_id);
            last_id = id;
            seen += 1;
        }
        if page >= body["total_pages"].as_u64().unwrap() {
            break;
        }
        page += 1;
    }
    let paged = t.elapsed();
    assert_eq!(seen, sim.event_count());
    // Generous bounds for a debug build on a busy machine; quadratic work would take minutes.
    assert!(
        generated < Duration::from_secs(30),
        "generation took {generated:?}"
    );
    assert!(paged < Duration::from_secs(90), "paging took {paged:?}");
    sim.shutdown().await;
}

fn decode_keys(body: &[u8]) -> BTreeSet<String> {
    // Key paths with array indexes dropped, so bodies with different line counts compare.
    std::str::from_utf8(body)
        .unwrap()
        .split('&')
        .map(|pair| {
            let key = pair.split_once('=').map_or(pair, |(k, _)| k);
            let mut out = String::new();
            for part in key.split('[') {
                let part = part.trim_end_matches(']');
                if part.chars().all(|c| c.is_ascii_digit()) && !part.is_empty() {
                    out.push_str("[]");
                } else if out.is_empty() {
                    out.push_str(part);
                } else {
                    out.push_str(&format!("[{part}]"));
                }
            }
            out
        })
        .collect()
}

fn hmac_hex(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

type Received = Arc<Mutex<Vec<(HashMap<String, String>, Vec<u8>)>>>;

/// A webhook endpoint on loopback that records what it receives and answers `status`.
async fn receiver(status: u16) -> (String, Received) {
    use http_body_util::BodyExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks/maxio", listener.local_addr().unwrap());
    let got: Received = Arc::default();
    let sink = got.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let sink = sink.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let sink = sink.clone();
                        async move {
                            let headers = req
                                .headers()
                                .iter()
                                .map(|(k, v)| {
                                    (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())
                                })
                                .collect();
                            let body = req.into_body().collect().await.unwrap().to_bytes().to_vec();
                            sink.lock().unwrap().push((headers, body));
                            let mut resp = hyper::Response::new(http_body_util::Full::new(
                                bytes::Bytes::new(),
                            ));
                            *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                            Ok::<_, Infallible>(resp)
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_signed_stable_and_shaped_like_the_fixtures() {
    let config = SimConfig {
        shared_key: "billsync-fixture-shared-key".into(),
        ..SimConfig::default()
    };
    let sim = BillingSim::start_with(config.clone(), &spec(21, 120))
        .await
        .unwrap();
    // An invoice with a component line and an ad-hoc line, like the fixture's.
    let uid = sim
        .invoice_uids()
        .into_iter()
        .find(|u| {
            let inv = sim.invoice_json(u).unwrap();
            let lines = inv["line_items"].as_array().unwrap();
            inv["consolidation_level"] == "none"
                && lines.iter().any(|l| !l["component_id"].is_null())
                && lines.iter().any(|l| l["custom_item"] == true)
                && !inv["payments"].as_array().unwrap().is_empty()
        })
        .expect("an invoice with component and ad-hoc lines, paid");
    let issued = WebhookEvent::InvoiceIssued {
        invoice_uid: uid.clone(),
    };
    let (id, body, signature) = sim.webhook_body(&issued);
    assert_eq!(signature, hmac_hex(b"billsync-fixture-shared-key", &body));
    let text = std::str::from_utf8(&body).unwrap();
    assert!(text.starts_with(&format!(
        "id={id}&event=invoice_issued&payload[site][id]=94213&payload[site][subdomain]=acme-demo&"
    )));
    assert!(text.contains(&format!("payload[invoice][uid]={uid}&")));
    assert!(text.contains("&payload[event_id]=") && !text.ends_with('\n'));
    assert!(!text.contains('+') && !text.contains(' '), "spaces are %20");
    assert_eq!(
        decode_keys(&body),
        decode_keys(&fixture_bytes("webhook_invoice_issued.txt"))
    );
    // Re-building gives the same id and the same bytes; another event another id.
    assert_eq!(
        sim.webhook_body(&issued),
        (id, body.clone(), signature.clone())
    );
    let inv = sim.invoice_json(&uid).unwrap();
    let txn = inv["payments"][0]["transaction_id"].as_u64().unwrap();
    let paid = WebhookEvent::PaymentSuccess {
        invoice_uid: uid.clone(),
        transaction_id: txn,
    };
    let (pid, pbody, _) = sim.webhook_body(&paid);
    assert_ne!(pid, id);
    assert_eq!(
        decode_keys(&pbody),
        decode_keys(&fixture_bytes("webhook_payment_success.txt"))
    );
    let cust = WebhookEvent::CustomerUpdate {
        customer_id: inv["customer_id"].as_u64().unwrap(),
    };
    assert_eq!(
        decode_keys(&sim.webhook_body(&cust).1),
        decode_keys(&fixture_bytes("webhook_customer_update.txt"))
    );
    let refunded = sim
        .invoice_uids()
        .into_iter()
        .map(|u| sim.invoice_json(&u).unwrap())
        .find(|i| !i["refunds"].as_array().unwrap().is_empty())
        .unwrap();
    let refund = WebhookEvent::RefundSuccess {
        invoice_uid: refunded["uid"].as_str().unwrap().into(),
        refund_id: refunded["refunds"][0]["transaction_id"].as_u64().unwrap(),
    };
    assert_eq!(
        decode_keys(&sim.webhook_body(&refund).1),
        decode_keys(&fixture_bytes("webhook_refund_success.txt"))
    );
    let other = sim
        .webhook_body(&WebhookEvent::Other {
            event: "subscription_state_change".into(),
        })
        .1;
    assert_eq!(
        decode_keys(&other),
        BTreeSet::from(
            [
                "id",
                "event",
                "payload[site][id]",
                "payload[site][subdomain]",
                "payload[event_id]"
            ]
            .map(String::from)
        )
    );
    assert!(matches!(
        sim.try_webhook_body(&WebhookEvent::InvoiceIssued {
            invoice_uid: "inv_nope".into()
        }),
        Err(SimError::NotFound { .. })
    ));

    // Delivery: the same bytes, headers and id on every send, and the receiver's status back.
    let (url, got) = receiver(200).await;
    assert_eq!(sim.send_webhook(&url, issued.clone()).await.unwrap(), 200);
    assert_eq!(sim.send_webhook(&url, issued.clone()).await.unwrap(), 200);
    let (failing, _) = receiver(500).await;
    assert_eq!(
        sim.send_webhook(&failing, issued.clone()).await.unwrap(),
        500
    );
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 2);
    for (headers, received) in &got {
        assert_eq!(received, &body);
        assert_eq!(headers["content-type"], "application/x-www-form-urlencoded");
        assert_eq!(headers["x-chargify-webhook-id"], id.to_string());
        let sig = &headers["x-chargify-webhook-signature-hmac-sha-256"];
        assert_eq!(sig, &hmac_hex(config.shared_key.as_bytes(), received));
    }
    // The admin API sends too.
    let (url2, got2) = receiver(200).await;
    let answer: Value = reqwest::Client::new()
        .post(format!("{}admin/webhooks/send", sim.base_url()))
        .json(&json!({ "url": url2, "event": { "type": "invoice_issued", "invoice_uid": uid } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer, json!({ "webhook_id": id, "status": 200 }));
    assert_eq!(got2.lock().unwrap()[0].1, body);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seed_gives_the_same_site() {
    let a = BillingSim::start_with(SimConfig::default(), &spec(77, 90))
        .await
        .unwrap();
    let b = BillingSim::start_with(SimConfig::default(), &spec(77, 90))
        .await
        .unwrap();
    let c = BillingSim::start_with(SimConfig::default(), &spec(78, 90))
        .await
        .unwrap();
    const FLAGS: &str = "per_page=200&line_items=true&discounts=true&taxes=true&credits=true&payments=true&refunds=true&custom_fields=true";
    let dump = |sim: BillingSim| async move {
        json!({
            "invoices": get_ok(&sim, &format!("invoices.json?{FLAGS}")).await,
            "events": all_events(&sim, "with_change_invoice_status=true").await,
            "credit_notes": get_ok(&sim, "credit_notes.json?per_page=200&line_items=true&taxes=true&refunds=true&applications=true").await,
            "customers": get_ok(&sim, "customers.json?per_page=200").await,
            "products": get_ok(&sim, "products.json").await,
            "components": get_ok(&sim, "components.json").await,
        })
    };
    let (da, db, dc) = (
        dump(a.clone()).await,
        dump(b.clone()).await,
        dump(c.clone()).await,
    );
    assert_eq!(da, db);
    assert_ne!(da["invoices"], dc["invoices"]);
    for sim in [a, b, c] {
        sim.shutdown().await;
    }
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
}

/// A small catalog and one customer on an empty site.
fn small_site(sim: &BillingSim) -> (u64, u64, u64) {
    let plan = sim.add_product(NewProduct {
        name: "Team Plan".into(),
        handle: "team-plan".into(),
        accounting_code: Some("4000-SAAS-TEAM".into()),
        item_category: "Business Software".into(),
        price: d("149"),
        ..NewProduct::default()
    });
    let seats = sim.add_component(NewComponent {
        name: "API Seats".into(),
        handle: "api-seats".into(),
        kind: ComponentKind::QuantityBasedComponent,
        accounting_code: Some("4010-SAAS-SEATS".into()),
        unit_price: d("1.25"),
        unit_name: "seat".into(),
        ..NewComponent::default()
    });
    let customer = sim.add_customer(NewCustomer {
        first_name: "Harriet".into(),
        last_name: "Quill".into(),
        organization: Some("Northwind Robotics LLC".into()),
        email: "harriet.quill@example.com".into(),
        reference: Some("nwr-0001".into()),
        address: Some(billing_sim::Address {
            street: "77 Foundry Street".into(),
            line2: "Floor 3".into(),
            city: "Albany".into(),
            state: "NY".into(),
            zip: "12207".into(),
            country: "US".into(),
        }),
        ..NewCustomer::default()
    });
    (plan, seats, customer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn billing_actions_reproduce_the_fixture_figures_and_append_events() {
    let sim = BillingSim::start(SimConfig::default()).await.unwrap();
    let (plan, seats, customer) = small_site(&sim);
    // The figures of invoice_non_inventory_paid.json.
    let mut spec = NewInvoice::new(customer, day(2));
    spec.lines = vec![
        NewLine::Product {
            product_id: plan,
            quantity: Decimal::ONE,
        },
        NewLine::Component {
            component_id: seats,
            quantity: d("162"),
        },
        NewLine::Custom {
            title: "Onboarding workshop (remote, 4h)".into(),
            description: "One-time onboarding workshop".into(),
            quantity: Decimal::ONE,
            unit_price: d("250"),
        },
    ];
    spec.coupon = Some(Coupon::Percentage {
        code: "PARTNER75".into(),
        percentage: d("7.5"),
    });
    spec.tax = Some(TaxRate::us_sales("NY", d("8")));
    spec.po_number = Some("PO-88231".into());
    let uid = sim.issue_invoice(spec);
    let inv = sim.invoice_json(&uid).unwrap();
    assert_eq!(get_ok(&sim, &format!("invoices/{uid}.json")).await, inv);
    let fx = fixture("invoice_non_inventory_paid.json");
    for k in [
        "subtotal_amount",
        "discount_amount",
        "tax_amount",
        "total_amount",
    ] {
        assert_eq!(inv[k], fx[k], "{k}");
    }
    for (i, l) in inv["line_items"].as_array().unwrap().iter().enumerate() {
        for k in [
            "subtotal_amount",
            "discount_amount",
            "tax_amount",
            "total_amount",
            "quantity",
            "unit_price",
        ] {
            assert_eq!(l[k], fx["line_items"][i][k], "line {i} {k}");
        }
    }
    assert_eq!(inv["taxes"][0]["taxable_amount"], "556.39");
    assert_eq!(inv["custom_fields"][0]["value"], "PO-88231");
    assert_eq!(
        (inv["status"].as_str(), inv["due_amount"].as_str()),
        (Some("open"), Some("600.9"))
    );

    // Two payments, the second settling it.
    let p1 = sim.pay(&uid, d("100"), PaymentKind::Check).unwrap();
    assert!(matches!(
        sim.pay(&uid, d("600"), PaymentKind::CreditCard),
        Err(SimError::Rejected(_))
    ));
    let p2 = sim.pay(&uid, d("500.9"), PaymentKind::CreditCard).unwrap();
    let inv = sim.invoice_json(&uid).unwrap();
    assert_eq!(
        (inv["status"].as_str(), inv["due_amount"].as_str()),
        (Some("paid"), Some("0.0"))
    );
    assert!(inv["paid_date"].is_string());
    assert!(matches!(
        sim.pay(&uid, d("1"), PaymentKind::CreditCard),
        Err(SimError::Rejected(_))
    ));
    // A partial refund of the card payment makes a credit note with it.
    assert!(matches!(
        sim.refund(&uid, p2, d("600")),
        Err(SimError::Rejected(_))
    ));
    assert!(matches!(
        sim.refund(&uid, 1, d("1")),
        Err(SimError::NotFound { .. })
    ));
    let r = sim.refund(&uid, p2, d("17.14")).unwrap();
    let inv = sim.invoice_json(&uid).unwrap();
    assert_eq!(inv["refund_amount"], "17.14");
    assert_eq!(inv["refunds"][0]["payment_id"], p2);
    assert_eq!(inv["refunds"][0]["transaction_id"], r);
    assert_eq!(inv["status"], "paid");
    assert!(matches!(sim.void(&uid), Err(SimError::Rejected(_))));

    // A credit note on a second invoice, then the rest paid.
    let mut spec = NewInvoice::new(customer, day(3));
    spec.lines = vec![
        NewLine::Product {
            product_id: plan,
            quantity: Decimal::ONE,
        },
        NewLine::Component {
            component_id: seats,
            quantity: d("60"),
        },
    ];
    spec.tax = Some(TaxRate::us_sales("NY", d("8")));
    let x = sim.issue_invoice(spec);
    let cn = sim
        .issue_credit_note(&x, d("27"), "Credit for 20 unused API seats")
        .unwrap();
    let inv = sim.invoice_json(&x).unwrap();
    assert_eq!(
        (inv["credit_amount"].as_str(), inv["due_amount"].as_str()),
        (Some("27.0"), Some("214.92"))
    );
    assert_eq!(inv["credits"][0]["credit_note_uid"], cn.as_str());
    let note = get_ok(&sim, &format!("credit_notes/{cn}.json")).await;
    assert_eq!(
        (note["status"].as_str(), note["total_amount"].as_str()),
        (Some("applied"), Some("27.0"))
    );
    assert_eq!(
        (
            note["subtotal_amount"].as_str(),
            note["tax_amount"].as_str()
        ),
        (Some("25.0"), Some("2.0"))
    );
    sim.pay(&x, d("214.92"), PaymentKind::CreditCard).unwrap();
    assert_eq!(sim.invoice_json(&x).unwrap()["status"], "paid");

    // A consolidated invoice: the payment on the parent settles its segments.
    let mut spec = NewInvoice::new(customer, day(5));
    spec.tax = Some(TaxRate::us_sales("OH", d("7.5")));
    spec.consolidation = Consolidation::Parent {
        segments: vec![
            NewSegment {
                lines: vec![
                    NewLine::Product {
                        product_id: plan,
                        quantity: Decimal::ONE,
                    },
                    NewLine::Component {
                        component_id: seats,
                        quantity: d("30"),
                    },
                ],
                ..NewSegment::default()
            },
            NewSegment {
                lines: vec![NewLine::Custom {
                    title: "Starter Plan".into(),
                    description: "Second subscription".into(),
                    quantity: Decimal::ONE,
                    unit_price: d("49"),
                }],
                ..NewSegment::default()
            },
        ],
    };
    let parent = sim.issue_invoice(spec);
    let p = sim.invoice_json(&parent).unwrap();
    assert_eq!(
        (
            p["subtotal_amount"].as_str(),
            p["tax_amount"].as_str(),
            p["total_amount"].as_str()
        ),
        (Some("235.5"), Some("17.67"), Some("253.17"))
    );
    let segs = get_ok(&sim, &format!("invoices/{parent}/segments.json")).await;
    let child = segs["invoices"][0]["uid"].as_str().unwrap().to_owned();
    assert_eq!(segs["invoices"][0]["total_amount"], "200.49");
    assert!(
        segs["invoices"][0].get("line_items").is_none(),
        "segments are totals only"
    );
    assert!(matches!(
        sim.pay(&child, d("1"), PaymentKind::CreditCard),
        Err(SimError::Rejected(_))
    ));
    assert!(matches!(sim.void(&parent), Err(SimError::Rejected(_))));
    let before = sim.event_count();
    let txn = sim
        .pay(&parent, d("253.17"), PaymentKind::BankAccount)
        .unwrap();
    assert_eq!(
        sim.event_count(),
        before + 3,
        "one apply_payment per segment and the parent"
    );
    for u in sim.invoice_uids().iter().filter(|u| {
        let i = sim.invoice_json(u).unwrap();
        i["consolidation_level"] != "none"
    }) {
        let i = sim.invoice_json(u).unwrap();
        assert_eq!(i["status"], "paid", "{u}");
        assert_eq!(i["payments"][0]["transaction_id"], txn);
    }
    let child_events = all_events(&sim, &format!("invoice_uid={child}")).await;
    let pay_event = child_events
        .iter()
        .find(|e| e["event_type"] == "apply_payment")
        .unwrap();
    assert_eq!(
        pay_event["event_data"]["parent_invoice_number"]
            .as_u64()
            .unwrap()
            .to_string(),
        p["number"].as_str().unwrap()
    );

    // A void.
    let mut spec = NewInvoice::new(customer, day(6));
    spec.lines = vec![NewLine::Product {
        product_id: plan,
        quantity: Decimal::ONE,
    }];
    let v = sim.issue_invoice(spec);
    sim.void(&v).unwrap();
    assert_eq!(sim.invoice_json(&v).unwrap()["status"], "voided");
    assert!(matches!(
        sim.pay(&v, d("1"), PaymentKind::CreditCard),
        Err(SimError::Rejected(_))
    ));

    // Every action appended events, ascending, each with its snapshot.
    let events = all_events(&sim, "with_change_invoice_status=true").await;
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    for t in [
        "issue_invoice",
        "apply_payment",
        "refund_invoice",
        "create_credit_note",
        "apply_credit_note",
        "void_invoice",
    ] {
        assert!(types.contains(&t), "{t}");
    }
    let refund_event = events
        .iter()
        .find(|e| e["event_type"] == "refund_invoice")
        .unwrap();
    assert_eq!(refund_event["event_data"]["refund_id"], r);
    assert_eq!(
        refund_event["event_data"]["credit_note_attributes"]["refunds"][0]["transaction_id"],
        r
    );
    let created = events
        .iter()
        .find(|e| e["event_type"] == "create_credit_note")
        .unwrap();
    assert_eq!(created["event_data"]["status"], "open");
    assert!(created["event_data"].get("applied_date").is_none());
    assert_eq!(created["invoice"]["credit_amount"], "0.0");
    assert_eq!(
        sim.credit_note_uids().len(),
        2,
        "the refund's note and the applied one"
    );
    let _ = p1;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_failures_and_the_admin_api() {
    let sim = BillingSim::start(SimConfig::default()).await.unwrap();
    let (plan, _, customer) = small_site(&sim);
    sim.fail_next(2, 500);
    let (s1, b1) = get(&sim, "products.json").await;
    assert_eq!(
        (s1, b1),
        (500, json!({ "errors": ["Internal Server Error"] }))
    );
    assert_eq!(get(&sim, "products.json").await.0, 500);
    assert_eq!(get(&sim, "products.json").await.0, 200);
    sim.fail_next(1, 429);
    let (s, body) = get(&sim, "products.json").await;
    assert_eq!(s, 429);
    assert!(body.as_str().unwrap().contains("Too many requests"));
    assert_eq!(sim.stats().injected_failures, 3);

    let http = reqwest::Client::new();
    let admin = |path: &str| format!("{}admin/{path}", sim.base_url());
    let spec = json!({
        "customer_id": customer,
        "currency": "USD",
        "issue_date": "2026-03-02",
        "lines": [{ "type": "product", "product_id": plan, "quantity": "2" }],
        "tax": { "title": "NY Sales Tax", "percentage": "8", "country": "US", "subdivision": "NY" },
    });
    let created: Value = http
        .post(admin("invoices"))
        .json(&spec)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let uid = created["uid"].as_str().unwrap().to_owned();
    assert_eq!(sim.invoice_json(&uid).unwrap()["total_amount"], "321.84");
    let paid = http
        .post(admin("pay"))
        .json(&json!({ "invoice_uid": uid, "amount": "321.84", "method": "credit_card" }))
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 200);
    let txn = paid.json::<Value>().await.unwrap()["transaction_id"]
        .as_u64()
        .unwrap();
    let refund = http
        .post(admin("refund"))
        .json(&json!({ "invoice_uid": uid, "payment_id": txn, "amount": 20 }))
        .send()
        .await
        .unwrap();
    assert_eq!(refund.status(), 200);
    let again = http
        .post(admin("pay"))
        .json(&json!({ "invoice_uid": uid, "amount": "1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 422);
    let missing = http
        .post(admin("void"))
        .json(&json!({ "invoice_uid": "inv_nope" }))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let stats: Value = http
        .get(admin("stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["injected_failures"], 3);
    assert_eq!(sim.invoice_json(&uid).unwrap()["refund_amount"], "20.0");
    // Customers by id and by reference.
    let c = get_ok(&sim, &format!("customers/{customer}.json")).await;
    assert_eq!(c["customer"]["reference"], "nwr-0001");
    assert_eq!(
        get_ok(&sim, "customers/lookup.json?reference=nwr-0001").await,
        c
    );
    sim.shutdown().await;
}
