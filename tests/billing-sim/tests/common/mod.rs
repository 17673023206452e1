//! Helpers shared by the simulator's tests: an HTTP client with the site's key, fixture loading
//! and a walker that records the key sets and value types of JSON documents by path.
#![allow(dead_code)]

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    str::FromStr,
};

use billing_sim::BillingSim;
use rust_decimal::Decimal;
use serde_json::Value;

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/maxio")
}

pub fn fixture(name: &str) -> Value {
    let path = fixtures_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

pub fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixtures_dir().join(name)).expect("fixture exists")
}

/// GET with the site's API key; returns the status and the body as JSON (or a JSON string for
/// a text body).
pub async fn get(sim: &BillingSim, path_and_query: &str) -> (u16, Value) {
    let key = sim.config().api_key;
    let resp = reqwest::Client::new()
        .get(format!("{}{path_and_query}", sim.base_url()))
        .basic_auth(key, Some("x"))
        .header("Accept", "application/json")
        .send()
        .await
        .expect("the simulator answers");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

pub async fn get_ok(sim: &BillingSim, path_and_query: &str) -> Value {
    let (status, body) = get(sim, path_and_query).await;
    assert_eq!(status, 200, "GET {path_and_query}: {body}");
    body
}

pub fn dec(v: &Value) -> Decimal {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("an amount must be a string, got {v}"));
    Decimal::from_str(s).unwrap_or_else(|_| panic!("`{s}` is not a decimal"))
}

pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_u64() || n.is_i64() => "int",
        Value::Number(_) => "float",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Object key sets and leaf value kinds seen at each path (`Invoice.line_items[].uid`).
#[derive(Default, Debug)]
pub struct Shapes {
    pub objects: BTreeMap<String, BTreeSet<BTreeSet<String>>>,
    pub leaves: BTreeMap<String, BTreeSet<&'static str>>,
}

impl Shapes {
    pub fn walk(&mut self, v: &Value, path: &str) {
        match v {
            Value::Object(m) => {
                self.objects
                    .entry(path.to_owned())
                    .or_default()
                    .insert(m.keys().cloned().collect());
                for (k, x) in m {
                    self.walk(x, &format!("{path}.{k}"));
                }
            }
            Value::Array(items) => {
                self.leaves
                    .entry(path.to_owned())
                    .or_default()
                    .insert("array");
                for x in items {
                    self.walk(x, &format!("{path}[]"));
                }
            }
            other => {
                self.leaves
                    .entry(path.to_owned())
                    .or_default()
                    .insert(kind(other));
            }
        }
    }

    /// Records an invoice event under `Event`, its invoice under `Invoice`, and its data under
    /// `Event:<type>` (a credit note in the data under `CreditNote`).
    pub fn walk_event(&mut self, e: &Value) {
        let mut top = e.clone();
        let obj = top.as_object_mut().expect("an event object");
        let data = obj.remove("event_data").expect("event_data");
        let invoice = obj.remove("invoice").expect("invoice");
        obj.insert("event_data".into(), Value::Null);
        obj.insert("invoice".into(), Value::Null);
        self.walk(&top, "Event");
        self.walk(&invoice, "Invoice");
        let t = e["event_type"].as_str().expect("event_type").to_owned();
        match t.as_str() {
            "create_credit_note" => self.walk(&data, "CreditNote"),
            "refund_invoice" => {
                let mut d = data.clone();
                let cn = d
                    .as_object_mut()
                    .expect("an object")
                    .remove("credit_note_attributes")
                    .expect("credit_note_attributes");
                d["credit_note_attributes"] = Value::Null;
                self.walk(&cn, "CreditNote");
                self.walk(&d, &format!("Event:{t}"));
            }
            _ => self.walk(&data, &format!("Event:{t}")),
        }
    }
}

/// All fixture documents, by model.
pub fn fixture_shapes() -> Shapes {
    let mut s = Shapes::default();
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
        s.walk(&fixture(name), "Invoice");
    }
    for inv in fixture("invoices_list.json")["invoices"]
        .as_array()
        .unwrap()
    {
        s.walk(inv, "Invoice");
    }
    for e in fixture("invoice_events_page.json")["events"]
        .as_array()
        .unwrap()
    {
        s.walk_event(e);
    }
    s.walk(&fixture("credit_note.json"), "CreditNote");
    for cn in fixture("credit_notes_list.json")["credit_notes"]
        .as_array()
        .unwrap()
    {
        s.walk(cn, "CreditNote");
    }
    for name in ["customer.json", "customer_person.json"] {
        s.walk(&fixture(name)["customer"], "Customer");
    }
    s.walk(&fixture("product.json")["product"], "Product");
    for p in fixture("products_list.json").as_array().unwrap() {
        s.walk(&p["product"], "Product");
    }
    s.walk(&fixture("component.json")["component"], "Component");
    for c in fixture("components_list.json").as_array().unwrap() {
        s.walk(&c["component"], "Component");
    }
    s
}

pub fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}
