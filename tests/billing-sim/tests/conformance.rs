//! Wire-shape conformance with the fixtures in `fixtures/maxio/`, which were generated from
//! Maxio's official SDK models and are the reference for key names, nesting and value types.
//!
//! The rule, checked over everything a generated site serves (every bare invoice, the invoice
//! index with and without include flags, every event snapshot and event payload, segments,
//! credit notes, customers, products, components):
//!
//! 1. every served object has exactly the key set of some fixture object at the same path
//!    (`Invoice.line_items[]` has three fixture shapes: product, component and ad-hoc lines);
//! 2. every served leaf has a JSON type that the fixtures show at that path;
//! 3. every fixture shape and leaf path is served somewhere (nothing the fixtures have is left
//!    out), except the `remove_payment` event, which the simulator does not produce.
//!
//! The documented departures, all allowed by the SDK models (billing-sources.md §1-§2):
//! * non-card payment methods: on invoices `{details, kind, memo, type}` (the SDK's
//!   InvoicePaymentMethod fields), in `apply_payment` events the SDK's external
//!   (`{details, kind, memo, type}`, the fixture's `remove_payment` shape) and bank-account
//!   (`{masked_account_number, masked_routing_number, type}`) payment methods; the fixtures
//!   only show cards;
//! * `apply_payment.parent_invoice_number` is an integer on a segment's share of a payment made
//!   on its consolidated invoice (the fixtures only show it null);
//! * values that may be null: a flat-amount coupon's `percentage`, the gateway fields of
//!   payments and refunds recorded by hand (check, cash), and the address fields of customers
//!   without an address (Maxio: "all fields may be null or ''");
//! * leaf types are pooled across paths that carry the same SDK model or attribute: a credit
//!   note's customer, addresses, lines, taxes and refunds are the invoice's models, and a
//!   customer's `vat_number` is the invoice customer's (the fixtures' only VAT customer appears
//!   on invoices);
//! * served invoices always carry `previous_balance_data` (an Invoice model field, present in
//!   `invoice_non_inventory_paid.json` and absent from the other invoice fixtures): the
//!   fixtures' invoice shape without it is never served (rule 3), and in the per-kind
//!   comparison a served invoice's key set is the fixture's plus exactly that key.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use billing_sim::{BillingSim, DatasetSpec, SimConfig};
use chrono::NaiveDate;
use common::*;
use serde_json::Value;

fn set(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|s| s.to_string()).collect()
}

/// Shapes the fixtures do not show but the SDK models have (see the module comment).
fn extra_shapes() -> BTreeMap<&'static str, Vec<BTreeSet<String>>> {
    let external = set(&["details", "kind", "memo", "type"]);
    let bank = set(&["masked_account_number", "masked_routing_number", "type"]);
    BTreeMap::from([
        ("Invoice.payments[].payment_method", vec![external.clone()]),
        ("Event:apply_payment.payment_method", vec![external, bank]),
    ])
}

/// Leaf types beyond the fixtures' (see the module comment).
fn extra_kinds(path: &str) -> &'static [&'static str] {
    const ADDRESS: [&str; 6] = ["street", "line2", "city", "state", "zip", "country"];
    const CUSTOMER_ADDRESS: [&str; 8] = [
        "address",
        "address_2",
        "city",
        "state",
        "state_name",
        "zip",
        "country",
        "country_name",
    ];
    let leaf = path.rsplit('.').next().unwrap_or(path);
    let parent = &path[..path.len() - leaf.len()];
    let address_parent = [
        "Invoice.billing_address.",
        "Invoice.shipping_address.",
        "CreditNote.billing_address.",
        "CreditNote.shipping_address.",
    ];
    if (address_parent.contains(&parent) && ADDRESS.contains(&leaf))
        || (parent == "Customer." && CUSTOMER_ADDRESS.contains(&leaf))
    {
        return &["null"];
    }
    match path {
        "Invoice.discounts[].percentage" => &["null"],
        "Invoice.payments[].gateway_used"
        | "Invoice.payments[].gateway_transaction_id"
        | "Invoice.refunds[].gateway_used"
        | "Invoice.refunds[].gateway_transaction_id"
        | "CreditNote.refunds[].gateway_used"
        | "CreditNote.refunds[].gateway_transaction_id" => &["null"],
        "Invoice.payments[].payment_method.details"
        | "Invoice.payments[].payment_method.kind"
        | "Invoice.payments[].payment_method.memo"
        | "Event:apply_payment.payment_method.details"
        | "Event:apply_payment.payment_method.kind"
        | "Event:apply_payment.payment_method.memo"
        | "Event:apply_payment.payment_method.masked_account_number"
        | "Event:apply_payment.payment_method.masked_routing_number" => &["string", "null"],
        "Event:apply_payment.parent_invoice_number" => &["int"],
        _ => &[],
    }
}

/// Paths whose values are the same SDK model or attribute as another path's: their leaf types
/// are pooled.
fn alias(path: &str) -> Option<String> {
    const PREFIXES: [(&str, &str); 6] = [
        ("CreditNote.customer.", "Invoice.customer."),
        ("CreditNote.billing_address.", "Invoice.billing_address."),
        ("CreditNote.shipping_address.", "Invoice.shipping_address."),
        ("CreditNote.line_items[].", "Invoice.line_items[]."),
        ("CreditNote.taxes[].", "Invoice.taxes[]."),
        ("CreditNote.refunds[].", "Invoice.refunds[]."),
    ];
    if path == "Customer.vat_number" {
        return Some("Invoice.customer.vat_number".into());
    }
    PREFIXES
        .iter()
        .find_map(|(from, to)| path.strip_prefix(from).map(|rest| format!("{to}{rest}")))
}

/// Everything the site serves, walked into shapes; also returns the raw documents by kind.
struct Served {
    shapes: Shapes,
    invoices: Vec<Value>,
    credit_notes: Vec<Value>,
    customers: Vec<Value>,
    events_page: Value,
    list_full: Value,
    list_plain: Value,
    credit_notes_list: Value,
    products_list: Value,
    components_list: Value,
    product: Value,
    component: Value,
}

async fn collect(sim: &BillingSim) -> Served {
    let mut shapes = Shapes::default();
    let mut invoices = Vec::new();
    for uid in sim.invoice_uids() {
        let inv = get_ok(sim, &format!("invoices/{uid}.json")).await;
        assert_eq!(Some(&inv), sim.invoice_json(&uid).as_ref());
        shapes.walk(&inv, "Invoice");
        invoices.push(inv);
    }
    const FLAGS: &str = "line_items=true&discounts=true&taxes=true&credits=true&payments=true&refunds=true&custom_fields=true";
    let list_full = get_ok(sim, &format!("invoices.json?per_page=200&{FLAGS}")).await;
    for inv in list_full["invoices"].as_array().unwrap() {
        shapes.walk(inv, "Invoice");
    }
    let list_plain = get_ok(sim, "invoices.json?per_page=5").await;
    let mut page = 1;
    let mut events_page = Value::Null;
    loop {
        let body = get_ok(
            sim,
            &format!(
                "invoices/events.json?with_change_invoice_status=true&per_page=200&page={page}"
            ),
        )
        .await;
        let events = body["events"].as_array().unwrap().clone();
        if page == 1 {
            events_page = body.clone();
        }
        if events.is_empty() {
            break;
        }
        for e in &events {
            shapes.walk_event(e);
        }
        page += 1;
    }
    for parent in invoices
        .iter()
        .filter(|i| i["consolidation_level"] == "parent")
    {
        let segs = get_ok(
            sim,
            &format!("invoices/{}/segments.json", parent["uid"].as_str().unwrap()),
        )
        .await;
        for s in segs["invoices"].as_array().unwrap() {
            shapes.walk(s, "Segment");
        }
    }
    let mut credit_notes = Vec::new();
    for uid in sim.credit_note_uids() {
        let cn = get_ok(sim, &format!("credit_notes/{uid}.json")).await;
        shapes.walk(&cn, "CreditNote");
        credit_notes.push(cn);
    }
    let credit_notes_list = get_ok(
        sim,
        "credit_notes.json?per_page=200&line_items=true&discounts=true&taxes=true&refunds=true&applications=true",
    )
    .await;
    for cn in credit_notes_list["credit_notes"].as_array().unwrap() {
        shapes.walk(cn, "CreditNote");
    }
    let mut customers = Vec::new();
    for id in sim.customer_ids() {
        let c = get_ok(sim, &format!("customers/{id}.json")).await;
        shapes.walk(&c["customer"], "Customer");
        customers.push(c);
    }
    let customers_list = get_ok(sim, "customers.json?per_page=200").await;
    for c in customers_list.as_array().unwrap() {
        shapes.walk(&c["customer"], "Customer");
    }
    let products_list = get_ok(sim, "products.json").await;
    for p in products_list.as_array().unwrap() {
        shapes.walk(&p["product"], "Product");
    }
    let components_list = get_ok(sim, "components.json").await;
    for c in components_list.as_array().unwrap() {
        shapes.walk(&c["component"], "Component");
    }
    let pid = products_list[0]["product"]["id"].as_u64().unwrap();
    let product = get_ok(sim, &format!("products/{pid}.json")).await;
    let cid = components_list[0]["component"]["id"].as_u64().unwrap();
    let component = get_ok(sim, &format!("components/{cid}.json")).await;
    Served {
        shapes,
        invoices,
        credit_notes,
        customers,
        events_page,
        list_full,
        list_plain,
        credit_notes_list,
        products_list,
        components_list,
        product,
        component,
    }
}

async fn site() -> (BillingSim, Served) {
    let spec = DatasetSpec {
        seed: 42,
        start: NaiveDate::from_ymd_opt(2026, 1, 5).unwrap(),
        days: 30,
        invoices: 160,
        currencies: vec!["USD".into(), "EUR".into()],
    };
    let sim = BillingSim::start_with(SimConfig::default(), &spec)
        .await
        .unwrap();
    let served = collect(&sim).await;
    (sim, served)
}

fn diff(a: &BTreeSet<String>, b: &BTreeSet<String>) -> String {
    let extra: Vec<_> = a.difference(b).collect();
    let missing: Vec<_> = b.difference(a).collect();
    format!("extra {extra:?}, missing {missing:?}")
}

/// Strings that must be decimals (`"149.0"`), dates and datetimes, by key name.
fn check_formats(path: &str, v: &Value, problems: &mut Vec<String>) {
    let Some(s) = v.as_str() else { return };
    let leaf = path.rsplit('.').next().unwrap_or(path);
    let decimal = |s: &str| {
        let (int, frac) = s
            .trim_start_matches('-')
            .split_once('.')
            .unwrap_or(("", ""));
        !int.is_empty()
            && !frac.is_empty()
            && int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit())
    };
    let is_amount = (leaf.ends_with("amount") && !leaf.ends_with("in_cents"))
        || ["quantity", "unit_price", "percentage", "amount"].contains(&leaf);
    if is_amount && !path.starts_with("Product") && !path.starts_with("Component") && !decimal(s) {
        problems.push(format!("{path}: `{s}` is not a decimal string"));
    }
    let date_key =
        leaf.ends_with("_date") || leaf.ends_with("_on") || leaf.starts_with("period_range");
    if date_key && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_err() {
        problems.push(format!("{path}: `{s}` is not a YYYY-MM-DD date"));
    }
    let time_key = leaf.ends_with("_at") || leaf == "timestamp" || leaf == "transaction_time";
    // RFC 3339 with a numeric offset, as the site's zone prints it (never a bare `Z` here).
    let with_offset = s.len() > 19 && (s[19..].contains('+') || s[19..].contains('-'));
    if time_key && (chrono::DateTime::parse_from_rfc3339(s).is_err() || !with_offset) {
        problems.push(format!(
            "{path}: `{s}` is not an ISO-8601 datetime with an offset"
        ));
    }
}

fn walk_formats(v: &Value, path: &str, problems: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                walk_formats(x, &format!("{path}.{k}"), problems);
            }
        }
        Value::Array(a) => {
            for x in a {
                walk_formats(x, &format!("{path}[]"), problems);
            }
        }
        other => check_formats(path, other, problems),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_shapes_match_the_fixture_shapes() {
    let (sim, served) = site().await;
    let fixtures = fixture_shapes();
    let extra = extra_shapes();
    let mut problems = Vec::new();

    // Segments are invoices served totals-only: the same shape without the detail arrays.
    let mut shapes = served.shapes;
    let segment_objects: Vec<_> = shapes
        .objects
        .iter()
        .filter(|(p, _)| p.starts_with("Segment"))
        .map(|(p, s)| (p.clone(), s.clone()))
        .collect();
    for (path, sets) in segment_objects {
        let as_invoice = path.replacen("Segment", "Invoice", 1);
        for s in sets {
            let detail = set(&[
                "line_items",
                "discounts",
                "taxes",
                "credits",
                "payments",
                "refunds",
                "custom_fields",
            ]);
            let full: BTreeSet<String> = if path == "Segment" {
                s.union(&detail).cloned().collect()
            } else {
                s.clone()
            };
            if !fixtures
                .objects
                .get(&as_invoice)
                .is_some_and(|f| f.contains(&full))
            {
                problems.push(format!(
                    "{path}: shape {s:?} is not an invoice shape without detail"
                ));
            }
        }
    }
    shapes.objects.retain(|p, _| !p.starts_with("Segment"));
    shapes.leaves.retain(|p, _| !p.starts_with("Segment"));

    // 1. Every served object shape is a fixture shape (or a documented extra).
    for (path, sets) in &shapes.objects {
        let known = fixtures.objects.get(path);
        let allowed = extra.get(path.as_str());
        for s in sets {
            let ok = known.is_some_and(|k| k.contains(s)) || allowed.is_some_and(|a| a.contains(s));
            if !ok {
                let nearest = known
                    .and_then(|k| k.iter().min_by_key(|f| f.symmetric_difference(s).count()))
                    .map(|f| diff(s, f))
                    .unwrap_or_else(|| "no fixture object at this path".into());
                problems.push(format!(
                    "{path}: served keys are no fixture shape: {nearest}"
                ));
            }
        }
    }
    // 2. Every served leaf type is one the fixtures show there (or a documented extra).
    for (path, kinds) in &shapes.leaves {
        let known = fixtures.leaves.get(path);
        for k in kinds {
            let pooled = alias(path).and_then(|a| fixtures.leaves.get(&a));
            let ok = known.is_some_and(|f| f.contains(k))
                || pooled.is_some_and(|f| f.contains(k))
                || extra_kinds(path).contains(k)
                || alias(path).is_some_and(|a| extra_kinds(&a).contains(k));
            if !ok {
                problems.push(format!("{path}: served a {k}, the fixtures have {known:?}"));
            }
        }
    }
    // 3. Nothing the fixtures show is left out.
    for (path, sets) in &fixtures.objects {
        if path.starts_with("Event:remove_payment") {
            continue;
        }
        for s in sets {
            let mut with_balance = s.clone();
            with_balance.insert("previous_balance_data".into());
            if path == "Invoice" && shapes.objects[path].contains(&with_balance) {
                continue;
            }
            if !shapes.objects.get(path).is_some_and(|x| x.contains(s)) {
                problems.push(format!("{path}: fixture shape {s:?} is never served"));
            }
        }
    }
    for path in fixtures.leaves.keys() {
        if !path.starts_with("Event:remove_payment") && !shapes.leaves.contains_key(path) {
            problems.push(format!("{path}: fixture leaf is never served"));
        }
    }
    // Value formats: decimal strings, dates, datetimes with offsets.
    for inv in &served.invoices {
        walk_formats(inv, "Invoice", &mut problems);
    }
    walk_formats(&served.events_page, "EventsPage", &mut problems);
    for cn in &served.credit_notes {
        walk_formats(cn, "CreditNote", &mut problems);
    }
    problems.sort();
    problems.dedup();
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    // Ids beyond 2^53 arrive as exact JSON integers.
    assert!(served
        .invoices
        .iter()
        .all(|i| i["id"].as_u64().is_some_and(|id| id > 1 << 53)));
    sim.shutdown().await;
}

/// Compares the key sets of two documents of the same kind, recursing into nested objects
/// (arrays are covered element by element by the shape test above).
fn same_keys(
    served: &Value,
    fixture: &Value,
    path: &str,
    top_extra: &BTreeSet<String>,
    problems: &mut Vec<String>,
) {
    let (Some(s), Some(f)) = (served.as_object(), fixture.as_object()) else {
        return;
    };
    let sk: BTreeSet<String> = s.keys().cloned().collect();
    let fk: BTreeSet<String> = f.keys().cloned().chain(top_extra.iter().cloned()).collect();
    if sk != fk {
        problems.push(format!("{path}: {}", diff(&sk, &fk)));
    }
    for (k, fv) in f {
        if let Some(sv) = s.get(k) {
            if fv.is_object() {
                same_keys(sv, fv, &format!("{path}.{k}"), &BTreeSet::new(), problems);
            }
            if kind(sv) != kind(fv) && kind(sv) != "null" && kind(fv) != "null" {
                problems.push(format!(
                    "{path}.{k}: served {} where the fixture has {}",
                    kind(sv),
                    kind(fv)
                ));
            }
        }
    }
}

fn find<'a>(invoices: &'a [Value], what: &str, pred: impl Fn(&Value) -> bool) -> &'a Value {
    invoices
        .iter()
        .find(|i| pred(i))
        .unwrap_or_else(|| panic!("the generated site has no {what} invoice"))
}

fn amount(v: &Value, key: &str) -> rust_decimal::Decimal {
    dec(&v[key])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fixture_kind_has_its_key_set() {
    let (sim, served) = site().await;
    let inv = &served.invoices;
    let pbd = set(&["previous_balance_data"]);
    let none = BTreeSet::new();
    let zero = rust_decimal::Decimal::ZERO;
    let physical = |i: &Value| {
        ["Edge Gateway Appliance", "Sensor Kit"].contains(&i["product_name"].as_str().unwrap_or(""))
    };
    let cases: Vec<(&str, &Value, &BTreeSet<String>)> = vec![
        (
            "invoice_non_inventory_paid.json",
            find(inv, "paid non-inventory", |i| {
                i["consolidation_level"] == "none"
                    && i["status"] == "paid"
                    && !physical(i)
                    && !i["payments"].as_array().unwrap().is_empty()
            }),
            &none,
        ),
        (
            "invoice_inventory_open.json",
            find(inv, "open inventory", |i| {
                physical(i) && i["status"] == "open"
            }),
            &pbd,
        ),
        (
            "invoice_zero_dollar.json",
            find(inv, "zero-dollar", |i| amount(i, "subtotal_amount") == zero),
            &pbd,
        ),
        (
            "invoice_fully_discounted.json",
            find(inv, "fully discounted", |i| {
                amount(i, "subtotal_amount") > zero && amount(i, "total_amount") == zero
            }),
            &pbd,
        ),
        (
            "invoice_consolidated_parent.json",
            find(inv, "consolidated", |i| {
                i["consolidation_level"] == "parent"
            }),
            &pbd,
        ),
        (
            "invoice_segment_child.json",
            find(inv, "segment", |i| i["consolidation_level"] == "child"),
            &pbd,
        ),
        (
            "invoice_eur_refunded.json",
            find(inv, "refunded EUR", |i| {
                i["currency"] == "EUR" && !i["refunds"].as_array().unwrap().is_empty()
            }),
            &pbd,
        ),
        (
            "invoice_with_credit_note_applied.json",
            find(inv, "credited and paid", |i| {
                i["status"] == "paid" && !i["credits"].as_array().unwrap().is_empty()
            }),
            &pbd,
        ),
    ];
    let mut problems = Vec::new();
    for (name, served_doc, extra) in cases {
        same_keys(served_doc, &fixture(name), name, extra, &mut problems);
    }

    // The index with every include flag, and without any (totals only, no detail arrays).
    let list = fixture("invoices_list.json");
    assert_eq!(keys(&served.list_full), keys(&list));
    same_keys(
        &served.list_full["invoices"][0],
        &list["invoices"][0],
        "invoices_list.json",
        &none,
        &mut problems,
    );
    let detail = set(&[
        "line_items",
        "discounts",
        "taxes",
        "credits",
        "payments",
        "refunds",
        "custom_fields",
    ]);
    for i in served.list_plain["invoices"].as_array().unwrap() {
        let k = keys(i);
        assert!(
            k.is_disjoint(&detail),
            "totals-only listing carries detail: {k:?}"
        );
        let expected: BTreeSet<String> = keys(&list["invoices"][0])
            .difference(&detail)
            .cloned()
            .collect();
        assert_eq!(k, expected);
    }

    // The events page: wrapper and event keys.
    let page = fixture("invoice_events_page.json");
    assert_eq!(keys(&served.events_page), keys(&page));
    for e in served.events_page["events"].as_array().unwrap() {
        assert_eq!(keys(e), keys(&page["events"][0]));
    }
    for (k, v) in [("page", 1), ("per_page", 200)] {
        assert_eq!(served.events_page[k], v);
    }
    assert!(served.events_page["total_pages"].as_u64().unwrap() >= 1);

    // Credit notes: bare (applied) and the index with every include flag.
    let applied = served
        .credit_notes
        .iter()
        .find(|c| !c["applications"].as_array().unwrap().is_empty())
        .expect("an applied credit note");
    same_keys(
        applied,
        &fixture("credit_note.json"),
        "credit_note.json",
        &none,
        &mut problems,
    );
    let cn_list = fixture("credit_notes_list.json");
    assert_eq!(keys(&served.credit_notes_list), keys(&cn_list));
    for c in served.credit_notes_list["credit_notes"].as_array().unwrap() {
        same_keys(
            c,
            &cn_list["credit_notes"][0],
            "credit_notes_list.json",
            &none,
            &mut problems,
        );
    }

    // Customers: a company and a person (wrapped in {"customer": ...}).
    let company = served
        .customers
        .iter()
        .find(|c| !c["customer"]["organization"].is_null())
        .unwrap();
    let person = served
        .customers
        .iter()
        .find(|c| c["customer"]["organization"].is_null())
        .unwrap();
    same_keys(
        company,
        &fixture("customer.json"),
        "customer.json",
        &none,
        &mut problems,
    );
    same_keys(
        person,
        &fixture("customer_person.json"),
        "customer_person.json",
        &none,
        &mut problems,
    );
    assert!(
        served
            .customers
            .iter()
            .any(|c| c["customer"]["address"].is_null()),
        "some customers have no address"
    );

    // Catalog: bare and listed (bare arrays of wrappers).
    same_keys(
        &served.product,
        &fixture("product.json"),
        "product.json",
        &none,
        &mut problems,
    );
    same_keys(
        &served.component,
        &fixture("component.json"),
        "component.json",
        &none,
        &mut problems,
    );
    let products = fixture("products_list.json");
    for p in served.products_list.as_array().unwrap() {
        same_keys(p, &products[0], "products_list.json", &none, &mut problems);
    }
    let components = fixture("components_list.json");
    for c in served.components_list.as_array().unwrap() {
        same_keys(
            c,
            &components[0],
            "components_list.json",
            &none,
            &mut problems,
        );
    }
    assert!(served
        .products_list
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["product"]["item_category"] == "Physical Goods"));

    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    sim.shutdown().await;
}
