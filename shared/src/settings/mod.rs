//! Tenant settings: one typed, validated document per tenant holding everything the setup
//! steps configure (item mapping, invoice rules, customer matching, accounts, forms,
//! classifications, prefixes, custom field ids).
//!
//! Loading reads the whole document and reports every problem at once (unknown keys, unknown
//! item types, a missing tax item, malformed ids), so an administrator fixes the file in one
//! pass instead of one error per run.

mod document;

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use document::Document;

use crate::billing::model::{Consolidation, Source};
use crate::netsuite::records::ItemType;

/// Whether `name` can be a tenant: letters, digits, `-` or `_`, at most 64. Names are keys,
/// secret names and path segments, so nothing else is allowed.
pub fn valid_tenant_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
}

/// A NetSuite internal id: digits only.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NsId(String);

impl NsId {
    pub fn parse(raw: &str) -> Option<NsId> {
        let t = raw.trim();
        (!t.is_empty() && t.len() <= 20 && t.chars().all(|c| c.is_ascii_digit()))
            .then(|| NsId(t.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NsId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A NetSuite item and its type (the type decides the flow: inventory waits for fulfilment).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemRef {
    pub id: NsId,
    #[serde(rename = "type")]
    pub item_type: ItemType,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemSettings {
    /// Billing product id -> NetSuite item.
    pub products: BTreeMap<String, ItemRef>,
    /// Billing component id -> NetSuite item.
    pub components: BTreeMap<String, ItemRef>,
    /// Item for ad-hoc (custom) lines, when they have no mapping.
    pub custom_default: Option<ItemRef>,
    /// Item for setup and activation fees without a mapping.
    pub setup_default: Option<ItemRef>,
    /// Item for any other line without a mapping.
    pub other_default: Option<ItemRef>,
    /// The item whose line carries the invoice's tax total (required).
    pub tax_item: ItemRef,
    /// The non-posting "Advanced Billing Discount" discount item.
    pub discount_item: NsId,
    /// Create a NetSuite item for a billed catalog entry no mapping names (Chargebee's item
    /// mapping); `None` means an unmapped line is an error to fix in the mapping.
    #[serde(default)]
    pub create_missing: Option<ItemCreation>,
    /// The item a bad-debt write-off's credit memo lines go on (Chargebee's default item for
    /// bad debts); none books them on the lines' own items.
    #[serde(default)]
    pub bad_debt_item: Option<ItemRef>,
    /// The item that carries billing's rounding adjustment (Chargebee `round_off_amount`).
    #[serde(default)]
    pub round_off_item: Option<ItemRef>,
}

/// How billsync creates NetSuite items from billing catalog entries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemCreation {
    /// `non_inventory` or `service`: items billsync creates never ship from stock.
    #[serde(rename = "type")]
    pub item_type: ItemType,
    /// Income account when the entry has no accounting code.
    pub income_account: Option<NsId>,
    pub tax_schedule: Option<NsId>,
    /// Accounting category 1 value -> NetSuite class.
    #[serde(default)]
    pub classes: BTreeMap<String, NsId>,
    /// Accounting category 2 value -> NetSuite location.
    #[serde(default)]
    pub locations: BTreeMap<String, NsId>,
    /// Accounting category 3 value -> NetSuite department.
    #[serde(default)]
    pub departments: BTreeMap<String, NsId>,
    /// Accounting category 4 value -> NetSuite revenue recognition rule.
    #[serde(default)]
    pub revenue_rules: BTreeMap<String, NsId>,
}

/// Where class, department and location of a transaction come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackingLevel {
    /// The tenant's `transactions.class/department/location` on every document.
    #[default]
    Document,
    /// The billing customer's custom fields named in `transactions.customer_tracking`, falling
    /// back to the document values.
    Customer,
}

/// Billing customer custom fields (e.g. Chargebee `cf_ns_class`) that hold NetSuite ids.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerTracking {
    pub class: Option<String>,
    pub department: Option<String>,
    pub location: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomerMatch {
    Email,
    ExternalId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExchangeRate {
    /// Send no rate: NetSuite applies its own.
    NetSuite,
    /// Send the billing system's rate.
    Billing,
}

/// Custom field script ids the integration writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomFieldIds {
    /// Customer: the billing customer id (`custentity_`).
    pub customer_billing_id: String,
    /// Customer: the billing site subdomain (`custentity_`).
    pub customer_site: String,
    /// Sales order/invoice: the billing site subdomain (`custbody_`).
    pub transaction_site: String,
    /// Sales order/invoice: the billing invoice uid (`custbody_`).
    pub transaction_invoice_uid: String,
    /// Line: the tax charged on the line in billing (`custcol_`).
    pub line_tax: String,
    /// The user's own fields: NetSuite script id (`custentity`, `custbody`, `custcol`) -> the
    /// billing customer field it is filled from (Chargebee `cf_*`) and its type. A
    /// `custentity` field goes on the customer, `custbody` on invoices and orders, `custcol`
    /// on their lines.
    #[serde(default)]
    pub from_billing: BTreeMap<String, BillingField>,
}

/// One of the user's custom fields filled from billing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingField {
    /// The billing customer's field (Chargebee `cf_industry`).
    pub from: String,
    #[serde(rename = "type")]
    pub kind: FieldKind,
}

/// How a billing field's text is written to a NetSuite custom field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// Free-form text, as it is.
    Text,
    /// A whole number.
    Integer,
    /// A decimal number (also currency and percent fields).
    Decimal,
    /// A check box: true/false, yes/no, 1/0.
    Checkbox,
    /// A date, YYYY-MM-DD.
    Date,
    /// A list/record field: the billing value is the NetSuite internal id.
    Select,
}

impl FieldKind {
    /// The JSON NetSuite takes for `text` in a field of this kind, or why it cannot be one.
    pub fn value(self, text: &str) -> Result<Value, String> {
        let t = text.trim();
        let bad = |what: &str| Err(format!("`{t}` is not {what}"));
        match self {
            FieldKind::Text => Ok(Value::String(text.to_owned())),
            FieldKind::Integer => t
                .parse::<i64>()
                .map(Value::from)
                .or_else(|_| bad("a whole number")),
            // Checked as a decimal, sent as the JSON number NetSuite takes.
            FieldKind::Decimal => match t.parse::<rust_decimal::Decimal>() {
                Ok(d) => serde_json::from_str(&d.to_string()).or_else(|_| bad("a decimal number")),
                Err(_) => bad("a decimal number"),
            },
            FieldKind::Checkbox => match t.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => Ok(Value::Bool(true)),
                "false" | "no" | "0" => Ok(Value::Bool(false)),
                _ => bad("true or false"),
            },
            FieldKind::Date => match NaiveDate::parse_from_str(t, "%Y-%m-%d") {
                Ok(d) => Ok(Value::String(d.to_string())),
                Err(_) => bad("a date (YYYY-MM-DD)"),
            },
            FieldKind::Select => match NsId::parse(t) {
                Some(id) => Ok(serde_json::json!({ "id": id.as_str() })),
                None => bad("a NetSuite internal id"),
            },
        }
    }
}

impl Default for CustomFieldIds {
    fn default() -> Self {
        CustomFieldIds {
            customer_billing_id: "custentity_billsync_customer_id".into(),
            customer_site: "custentity_billsync_site".into(),
            transaction_site: "custbody_billsync_site".into(),
            transaction_invoice_uid: "custbody_billsync_invoice_uid".into(),
            line_tax: "custcol_billsync_line_tax".into(),
            from_billing: BTreeMap::new(),
        }
    }
}

/// Revenue-recognition start/end date line fields, filled from the service period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevRecFields {
    pub start_field: String,
    pub end_field: String,
}

/// Prefixes put in front of identifiers (Chargebee's mapping offers them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prefixes {
    pub entity_id: Option<String>,
    pub tran_id: Option<String>,
    pub external_id: Option<String>,
    /// Before the item name and external id of items billsync creates.
    #[serde(default)]
    pub item: Option<String>,
    /// Send billing's customer ids as `entityId` and its document numbers as `tranId` even
    /// without a prefix; `None`: as the source's integration does (see
    /// [`TenantSettings::sends_numbers`]).
    #[serde(default)]
    pub send_numbers: Option<bool>,
}

/// How a billing invoice becomes a NetSuite invoice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoicePath {
    /// An invoice made directly (Chargebee's own integration): one record per invoice.
    Direct,
    /// A sales order transformed into the invoice (Maxio's guide). Invoices with items a
    /// warehouse ships take this path whatever the setting, so fulfilment gates billing.
    SalesOrder,
}

/// Everything one tenant configured.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantSettings {
    pub tenant: String,
    pub source: Source,
    /// The billing site: Maxio subdomain or Chargebee site name.
    pub site: String,
    /// Invoices issued before this day are out of scope.
    pub sync_start_date: NaiveDate,
    pub items: ItemSettings,
    /// Skip invoices for zero dollars (trials, free plans); fully discounted ones still sync.
    pub skip_zero_dollar: bool,
    /// An invoice voided in billing after it reached NetSuite is reversed there by a credit
    /// memo made from the invoice (NetSuite's REST API cannot void); off, it is an error-log
    /// entry for a person.
    pub reverse_voids: bool,
    /// For subscription groups: sync the consolidated parent or the segments.
    pub subscription_groups: Consolidation,
    pub revenue_recognition: Option<RevRecFields>,
    pub customer_match: CustomerMatch,
    /// The status new customers get (`entityStatus`, e.g. "CUSTOMER-Closed Won"); none
    /// leaves NetSuite's default.
    #[serde(default)]
    pub entity_status: Option<NsId>,
    /// The NetSuite account uses Payment Instruments: send no payment method.
    pub payment_instruments: bool,
    /// The "Advanced Billing Payment" method, when Payment Instruments is off.
    pub payment_method: Option<NsId>,
    /// Bank account for payments and deposits; none means Undeposited Funds.
    pub payment_account: Option<NsId>,
    pub refund_account: NsId,
    pub refund_ar_account: Option<NsId>,
    pub sales_order_form: Option<NsId>,
    /// How invoices are made; `None`: the source's own integration's way (see
    /// [`TenantSettings::invoice_path`]). Defaulted so settings stored before it still load.
    #[serde(default)]
    pub invoice_path: Option<InvoicePath>,
    /// The invoice form for directly made invoices; none means the preferred form.
    #[serde(default)]
    pub invoice_form: Option<NsId>,
    pub subsidiary: Option<NsId>,
    pub department: Option<NsId>,
    pub class: Option<NsId>,
    pub location: Option<NsId>,
    pub terms: Option<NsId>,
    pub exchange_rate: ExchangeRate,
    pub prefixes: Prefixes,
    pub custom_fields: CustomFieldIds,
    /// This tenant's share of its NetSuite account's concurrency limit.
    pub netsuite_concurrency: usize,
    /// `<gateway>:<currency>` (e.g. `stripe:USD`) -> bank account for payments received through
    /// that gateway in that currency; others use `payment_account`.
    pub gateway_accounts: BTreeMap<String, NsId>,
    /// `<gateway>:<type>`, `<type>` or `<gateway>` (e.g. `stripe:card`, `bank_transfer`) ->
    /// NetSuite payment method, most specific first; others use `payment_method`.
    #[serde(default)]
    pub payment_methods: BTreeMap<String, NsId>,
    /// Send billing's tax on the transaction (`taxDetailsOverride`) instead of NetSuite's.
    pub tax_override: bool,
    pub tracking: TrackingLevel,
    pub customer_tracking: CustomerTracking,
    /// Billing tax name -> NetSuite tax code, set on each taxed line with `isTaxable`.
    pub tax_codes: BTreeMap<String, NsId>,
    /// Tax code for untaxed lines when `tax_codes` is used.
    pub untaxed_code: Option<NsId>,
    /// ISO currency code -> NetSuite currency internal id. Empty for a single-currency
    /// account: then no currency is sent and NetSuite uses the customer's.
    pub currencies: BTreeMap<String, NsId>,
}

impl TenantSettings {
    /// How this tenant's invoices are made: as configured, else as the source's own NetSuite
    /// integration makes them (Chargebee directly, Maxio through a sales order).
    pub fn invoice_path(&self) -> InvoicePath {
        self.invoice_path.unwrap_or(match self.source {
            Source::Chargebee => InvoicePath::Direct,
            Source::Maxio => InvoicePath::SalesOrder,
        })
    }

    /// Whether customers get billing's id as `entityId` and documents its number as `tranId`
    /// (with the prefix when one is set): as configured, else as the source's integration
    /// does (Chargebee's mapping sets both; Maxio's guide leaves them to NetSuite).
    pub fn sends_numbers(&self) -> bool {
        self.prefixes
            .send_numbers
            .unwrap_or(self.source == Source::Chargebee)
    }

    /// The NetSuite currency for an ISO code; `Ok(None)` when currencies are not mapped at all.
    pub fn currency(&self, code: &str) -> Result<Option<&NsId>, String> {
        if self.currencies.is_empty() {
            return Ok(None);
        }
        self.currencies
            .get(&code.to_ascii_uppercase())
            .map(Some)
            .ok_or_else(|| format!("currency {code} is not in the tenant's `currencies` map"))
    }
}

/// A settings document with problems; every one is listed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the settings document has {} problem(s):\n{}", .problems.len(), .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct SettingsError {
    pub problems: Vec<String>,
}

impl TenantSettings {
    /// Parses and validates a settings document (JSON).
    pub fn from_json(text: &str) -> Result<TenantSettings, SettingsError> {
        let value: Value = serde_json::from_str(text).map_err(|e| SettingsError {
            problems: vec![format!("not valid JSON: {e}")],
        })?;
        Self::from_value(&value)
    }

    /// Reads a settings document into its sections, then checks every value: the settings,
    /// or every problem with its path.
    pub fn from_value(value: &Value) -> Result<TenantSettings, SettingsError> {
        if !value.is_object() {
            return Err(SettingsError {
                problems: vec!["the document must be a JSON object".into()],
            });
        }
        let doc = Document::deserialize(value).map_err(|e| SettingsError {
            problems: vec![format!("the document cannot be read: {e}")],
        })?;
        doc.validate()
            .map_err(|problems| SettingsError { problems })
    }

    /// Serializes back to the document form `from_json` reads.
    pub fn to_document(&self) -> Value {
        serde_json::to_value(Document::from(self)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn example() -> Value {
        serde_json::json!({
            "tenant": "acme",
            "source": "chargebee",
            "site": "acme-demo",
            "sync_start_date": "2026-01-01",
            "items": {
                "products": {"3101": {"id": "102", "type": "non_inventory"}, "3102": {"id": 105, "type": "inventory"}},
                "components": {"4101": {"id": "104", "type": "service"}},
                "custom_default": {"id": "103", "type": "service"},
                "tax_item": {"id": "100", "type": "non_inventory"},
                "discount_item": "101",
                "bad_debt_item": {"id": "106", "type": "non_inventory"},
                "round_off_item": {"id": "107", "type": "non_inventory"}
            },
            "invoices": {"skip_zero_dollar": true, "subscription_groups": "child", "create": "sales_order",
                         "revenue_recognition": {"start_field": "custcol_rev_start", "end_field": "custcol_rev_end"}},
            "customers": {"match_by": "email", "entity_status": "13"},
            "payments": {"payment_instruments": false, "payment_method": "7", "gateway_accounts": {"stripe:USD": "9"},
                         "payment_methods": {"stripe:card": "8", "bank_transfer": "10"}},
            "refunds": {"account": "9"},
            "transactions": {"subsidiary": "1", "department": "4", "exchange_rate": "billing", "tax_override": true,
                             "invoice_form": "120"},
            "prefixes": {"external_id": "ab", "send_numbers": false},
            "custom_fields": {"from_billing": {"custentity_industry": {"from": "cf_industry", "type": "text"}}},
            "currencies": {"USD": "2", "EUR": "3"}
        })
    }

    #[test]
    fn a_complete_document_loads_and_round_trips() {
        let s = TenantSettings::from_value(&example()).unwrap();
        assert_eq!(s.items.products["3102"].item_type, ItemType::Inventory);
        assert_eq!(s.items.products["3102"].id.as_str(), "105");
        assert_eq!(s.subscription_groups, Consolidation::Child);
        assert_eq!(s.exchange_rate, ExchangeRate::Billing);
        assert_eq!(s.invoice_path(), InvoicePath::SalesOrder);
        assert!(!s.sends_numbers());
        assert_eq!(s.payment_methods.len(), 2);
        assert_eq!(
            s.custom_fields.from_billing["custentity_industry"].kind,
            FieldKind::Text
        );
        assert_eq!(s.netsuite_concurrency, 4);
        let again = TenantSettings::from_value(&s.to_document()).unwrap();
        assert_eq!(again, s);
    }

    #[test]
    fn every_problem_is_listed_not_just_the_first() {
        let mut doc = example();
        doc["items"]["products"]["3101"]["type"] = "gift_card".into();
        doc["items"].as_object_mut().unwrap().remove("tax_item");
        doc["items"]["components"]["4101"]["id"] = "ITEM-9".into();
        doc["refunds"] = serde_json::json!({});
        doc["custom_fields"] = serde_json::json!({"line_tax": "custbody_wrong"});
        doc["colour"] = "blue".into();
        let err = TenantSettings::from_value(&doc).unwrap_err();
        let all = err.to_string();
        for needle in [
            "items.products.3101.type",
            "items.tax_item` is required",
            "items.components.4101.id",
            "refunds.account` is required",
            "custom_fields.line_tax",
            "`colour` is not a setting",
        ] {
            assert!(all.contains(needle), "missing `{needle}` in:\n{all}");
        }
        assert_eq!(err.problems.len(), 6, "{all}");
    }

    #[test]
    fn what_maxio_cannot_feed_is_refused_and_defaults_follow_the_source() {
        let mut doc = example();
        doc["source"] = "maxio".into();
        let all = TenantSettings::from_value(&doc).unwrap_err().to_string();
        for needle in [
            "payments.gateway_accounts` works for Chargebee tenants only",
            "payments.payment_methods` works for Chargebee tenants only",
            "transactions.exchange_rate` billing works for Chargebee tenants only",
        ] {
            assert!(all.contains(needle), "missing `{needle}` in:\n{all}");
        }
        for (source, path, numbers) in [
            ("maxio", InvoicePath::SalesOrder, false),
            ("chargebee", InvoicePath::Direct, true),
        ] {
            let mut doc = example();
            doc["source"] = source.into();
            doc["payments"] = serde_json::json!({"payment_instruments": true});
            doc["transactions"] = serde_json::json!({"subsidiary": "1"});
            doc["invoices"] = serde_json::json!({});
            doc["prefixes"] = serde_json::json!({});
            let s = TenantSettings::from_value(&doc).unwrap();
            assert_eq!(
                (s.invoice_path(), s.sends_numbers()),
                (path, numbers),
                "{source}"
            );
        }
    }

    #[test]
    fn custom_fields_from_billing_are_typed() {
        for (kind, text, json) in [
            (FieldKind::Text, " Oslo ", serde_json::json!(" Oslo ")),
            (FieldKind::Integer, "40", serde_json::json!(40)),
            (FieldKind::Decimal, "12.50", serde_json::json!(12.5)),
            (FieldKind::Checkbox, "Yes", serde_json::json!(true)),
            (FieldKind::Checkbox, "0", serde_json::json!(false)),
            (
                FieldKind::Date,
                "2026-12-07",
                serde_json::json!("2026-12-07"),
            ),
            (FieldKind::Select, "7", serde_json::json!({"id": "7"})),
        ] {
            assert_eq!(kind.value(text).unwrap(), json, "{kind:?} {text}");
        }
        for (kind, text) in [
            (FieldKind::Integer, "forty"),
            (FieldKind::Checkbox, "maybe"),
            (FieldKind::Date, "07.12.2026"),
            (FieldKind::Select, "Logistics"),
        ] {
            assert!(kind.value(text).is_err(), "{kind:?} {text}");
        }
        let mut doc = example();
        doc["custom_fields"] = serde_json::json!({"from_billing": {
            "custbody_x": {"from": "cf_x", "type": "colour"},
            "industry": {"from": "cf_industry", "type": "text"}
        }});
        let all = TenantSettings::from_value(&doc).unwrap_err().to_string();
        assert!(
            all.contains("custom_fields.from_billing.custbody_x` must be"),
            "{all}"
        );
        assert!(
            all.contains("custom_fields.from_billing.industry`: the key must be"),
            "{all}"
        );
    }

    #[test]
    fn payment_method_is_needed_only_without_payment_instruments() {
        let mut doc = example();
        doc["payments"] = serde_json::json!({"payment_instruments": false});
        assert!(TenantSettings::from_value(&doc)
            .unwrap_err()
            .to_string()
            .contains("payment_method"));
        doc["payments"] = serde_json::json!({"payment_instruments": true});
        assert!(TenantSettings::from_value(&doc).is_ok());
    }

    #[test]
    fn bad_json_is_one_clear_problem() {
        let err = TenantSettings::from_json("{ not json").unwrap_err();
        assert!(err.problems[0].starts_with("not valid JSON"));
    }
}

#[cfg(test)]
mod example_document {
    /// The example in infra/tenants stays a valid document.
    #[test]
    fn the_shipped_example_loads() {
        let text = include_str!("../../../infra/tenants/example.json");
        let s = super::TenantSettings::from_json(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.tenant, "acme");
        assert_eq!(s.currencies.len(), 2);
    }

    /// So is the Chargebee example, and it round-trips through the stored form.
    #[test]
    fn the_shipped_chargebee_example_loads_and_round_trips() {
        use super::{TenantSettings, TrackingLevel};
        let text = include_str!("../../../infra/tenants/chargebee-example.json");
        let s = TenantSettings::from_json(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.tracking, TrackingLevel::Customer);
        let creation = s.items.create_missing.as_ref().unwrap();
        assert_eq!(creation.revenue_rules.len(), 1);
        assert_eq!(s.tax_codes.len(), 2);
        assert_eq!(s.prefixes.item.as_deref(), Some("CB-"));
        let again = TenantSettings::from_value(&s.to_document()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again, s);
    }

    #[test]
    fn customer_tracking_needs_the_customer_fields() {
        let mut doc: serde_json::Value = serde_json::from_str(include_str!(
            "../../../infra/tenants/chargebee-example.json"
        ))
        .unwrap();
        doc["transactions"]["customer_tracking"] = serde_json::json!({});
        let e = super::TenantSettings::from_value(&doc).unwrap_err();
        assert!(e.to_string().contains("customer_tracking"), "{e}");
        doc["items"]["create_missing"]["type"] = serde_json::json!("inventory");
        let e = super::TenantSettings::from_value(&doc).unwrap_err();
        assert!(e.to_string().contains("non_inventory or service"), "{e}");
    }
}
