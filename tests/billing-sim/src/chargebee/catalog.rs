//! The product catalog (2.0): item prices and their items, served by `GET /item_prices/{id}`
//! and `GET /items/{id}`.
//!
//! A sync reads an item price when an invoice line names it (`entity_id`), for what the
//! NetSuite item is called and booked to: `name` / `external_name`, and `accounting_detail`
//! (`sku`, `accounting_code`, `accounting_category1`..`4`). The shape follows
//! `fixtures/chargebee/item_price.json`; the catalog changes no invoice and emits no event.

use serde_json::{json, Value};

use super::{CbItemPrice, ChargebeeSim};

/// The item family every simulated item belongs to (required by Chargebee; the fixtures' too).
const ITEM_FAMILY: &str = "billsync-suite";

impl ChargebeeSim {
    /// Adds (or replaces) an item price, and its item if the item is new. Emits no event.
    ///
    /// # Panics
    /// If `item_type` is not `plan`, `addon` or `charge`, or the item exists with another type.
    pub fn add_item_price(&self, spec: CbItemPrice) {
        let item_type = spec.item_type.as_str();
        assert!(
            matches!(item_type, "plan" | "addon" | "charge"),
            "item_type {item_type:?} is not plan, addon or charge"
        );
        let mut st = self.shared.state();
        if let Some(item) = st.items.get(&spec.item_id) {
            assert!(
                item["type"] == json!(item_type),
                "item {} is a {}, not a {item_type}",
                spec.item_id,
                item["type"]
            );
        }
        let at = st.now;
        if !st.items.contains_key(&spec.item_id) {
            let version = st.resource_version(at);
            st.items
                .insert(spec.item_id.clone(), item(&spec, at, version));
        }
        let created_at = st
            .item_prices
            .get(&spec.id)
            .map_or(json!(at), |p| p["created_at"].clone());
        let version = st.resource_version(at);
        let mut price = item_price(&spec, at, version);
        price["created_at"] = created_at;
        st.item_prices.insert(spec.id.clone(), price);
    }
}

impl ChargebeeSim {
    /// A product catalog 1.0 site's plan (`item_type` `plan`) or add-on (anything else),
    /// served by `GET /plans/{id}` or `GET /addons/{id}`: the accounting fields sit on the
    /// record itself (`sku`, `accounting_code`, `accounting_category1`..`4`), the display name
    /// in `invoice_name`. Emits no event.
    pub fn add_legacy_catalog_entry(&self, spec: CbItemPrice) {
        let mut st = self.shared.state();
        let at = st.now;
        let version = st.resource_version(at);
        let mut entry = json!({
            "id": spec.id,
            "name": spec.name,
            "price": spec.price,
            "currency_code": if spec.currency.is_empty() { "USD" } else { spec.currency.as_str() },
            "period": 1,
            "period_unit": "month",
            "pricing_model": "flat_fee",
            "status": "active",
            "taxable": true,
            "channel": "web",
            "updated_at": at,
            "resource_version": version,
        });
        for (key, value) in [
            ("invoice_name", &spec.external_name),
            ("description", &spec.description),
            ("sku", &spec.sku),
            ("accounting_code", &spec.accounting_code),
            ("accounting_category1", &spec.accounting_category1),
            ("accounting_category2", &spec.accounting_category2),
            ("accounting_category3", &spec.accounting_category3),
            ("accounting_category4", &spec.accounting_category4),
        ] {
            if let Some(v) = value {
                entry[key] = json!(v);
            }
        }
        if spec.item_type == "plan" {
            st.plans.insert(spec.id.clone(), entry);
        } else {
            entry["type"] = json!("on_off");
            entry["charge_type"] = json!("recurring");
            st.addons.insert(spec.id.clone(), entry);
        }
    }
}

fn item_price(spec: &CbItemPrice, at: i64, version: i64) -> Value {
    let currency = if spec.currency.is_empty() {
        "USD"
    } else {
        spec.currency.as_str()
    };
    let mut price = json!({
        "id": spec.id,
        "name": spec.name,
        "item_family_id": ITEM_FAMILY,
        "item_id": spec.item_id,
        "item_type": spec.item_type,
        "status": "active",
        "pricing_model": "flat_fee",
        "price": spec.price,
        "currency_code": currency,
        "is_taxable": true,
        "channel": "web",
        "created_at": at,
        "updated_at": at,
        "resource_version": version,
        "show_description_in_invoices": false,
        "show_description_in_quotes": false,
        "deleted": false,
    });
    for (key, value) in [
        ("external_name", &spec.external_name),
        ("description", &spec.description),
    ] {
        if let Some(value) = value {
            price[key] = json!(value);
        }
    }
    // Plans and add-ons recur; charges are one-off and have no period.
    if spec.item_type != "charge" {
        price["period"] = json!(1);
        price["period_unit"] = json!("month");
        price["free_quantity"] = json!(0);
    }
    if spec.item_type == "plan" {
        price["proration_type"] = json!("site_default");
    }
    let mut accounting = serde_json::Map::new();
    for (key, value) in [
        ("sku", &spec.sku),
        ("accounting_code", &spec.accounting_code),
        ("accounting_category1", &spec.accounting_category1),
        ("accounting_category2", &spec.accounting_category2),
        ("accounting_category3", &spec.accounting_category3),
        ("accounting_category4", &spec.accounting_category4),
    ] {
        if let Some(value) = value {
            accounting.insert(key.to_owned(), json!(value));
        }
    }
    if !accounting.is_empty() {
        price["accounting_detail"] = Value::Object(accounting);
    }
    price
}

/// The item, named by its id (an item price carries its own name).
fn item(spec: &CbItemPrice, at: i64, version: i64) -> Value {
    let mut item = json!({
        "id": spec.item_id,
        "name": spec.item_id,
        "external_name": spec.item_id,
        "type": spec.item_type,
        "status": "active",
        "item_family_id": ITEM_FAMILY,
        "item_applicability": "all",
        "is_shippable": false,
        "is_giftable": false,
        "enabled_for_checkout": true,
        "enabled_in_portal": true,
        "metered": false,
        "channel": "web",
        "updated_at": at,
        "resource_version": version,
        "deleted": false,
    });
    if spec.item_type != "charge" {
        item["included_in_mrr"] = json!(spec.item_type == "plan");
    }
    item
}
