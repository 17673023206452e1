//! The settings document as an administrator writes it: serde reads it into structs that
//! mirror its sections, every value kept as given ([`Field`]), every unknown key kept; then
//! [`Document::validate`] walks it once and either builds [`TenantSettings`] or lists every
//! problem with its path. Writing a document back goes through the same structs.

mod validate;
mod write;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::{
    BillingField, CustomFieldIds, CustomerMatch, CustomerTracking, ExchangeRate, InvoicePath,
    ItemCreation, ItemRef, ItemSettings, NsId, Prefixes, RevRecFields, TenantSettings,
    TrackingLevel,
};
use crate::billing::model::{Consolidation, Source};
use crate::netsuite::records::ItemType;

/// A value as the document gave it: absent (or null), one that reads as `T`, or one that does
/// not, kept whole for the problem report. Reading a document never fails on a value.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) enum Field<T> {
    #[default]
    Absent,
    Given(T),
    Bad(Value),
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Null => Field::Absent,
            v => match T::deserialize(&v) {
                Ok(t) => Field::Given(t),
                Err(_) => Field::Bad(v),
            },
        })
    }
}

impl<T: Serialize> Serialize for Field<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Absent => s.serialize_none(),
            Field::Given(t) => t.serialize(s),
            Field::Bad(v) => v.serialize(s),
        }
    }
}

impl<T> Field<T> {
    fn from_option(v: Option<T>) -> Self {
        v.map_or(Field::Absent, Field::Given)
    }
}

/// An internal id as written: text or a number, checked to be digits when validated.
type Id = Field<Value>;
/// A map whose values are internal ids.
type IdMap = Field<BTreeMap<String, Value>>;

fn id(v: &Option<NsId>) -> Id {
    Field::from_option(v.as_ref().map(|i| Value::String(i.to_string())))
}

fn id_map(m: &BTreeMap<String, NsId>) -> IdMap {
    Field::Given(
        m.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.to_string())))
            .collect(),
    )
}

/// Keys of a section, for "not a setting" problems; a test checks them against the fields.
pub(super) trait Section {
    const KNOWN: &'static [&'static str];
    /// The keys the document gave that are not fields.
    fn unknown(&self) -> &BTreeMap<String, Value>;
}

macro_rules! section {
    ($name:ident, [$($key:literal),* $(,)?]) => {
        impl Section for $name {
            const KNOWN: &'static [&'static str] = &[$($key),*];
            fn unknown(&self) -> &BTreeMap<String, Value> {
                &self.unknown
            }
        }
    };
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub(super) struct Document {
    tenant: Field<String>,
    source: Field<Source>,
    site: Field<String>,
    sync_start_date: Field<String>,
    items: Field<Items>,
    invoices: Field<Invoices>,
    customers: Field<Customers>,
    payments: Field<Payments>,
    refunds: Field<Refunds>,
    transactions: Field<Transactions>,
    prefixes: Field<PrefixDoc>,
    custom_fields: Field<CustomFields>,
    netsuite: Field<NetSuite>,
    currencies: IdMap,
    #[serde(flatten)]
    unknown: BTreeMap<String, Value>,
}
section!(
    Document,
    [
        "tenant",
        "source",
        "site",
        "sync_start_date",
        "items",
        "invoices",
        "customers",
        "payments",
        "refunds",
        "transactions",
        "prefixes",
        "custom_fields",
        "netsuite",
        "currencies"
    ]
);

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub(super) struct Items {
    products: Field<BTreeMap<String, Field<Item>>>,
    components: Field<BTreeMap<String, Field<Item>>>,
    custom_default: Field<Item>,
    setup_default: Field<Item>,
    other_default: Field<Item>,
    tax_item: Field<Item>,
    discount_item: Id,
    create_missing: Field<Creation>,
    bad_debt_item: Field<Item>,
    round_off_item: Field<Item>,
    #[serde(flatten)]
    unknown: BTreeMap<String, Value>,
}
section!(
    Items,
    [
        "products",
        "components",
        "custom_default",
        "setup_default",
        "other_default",
        "tax_item",
        "discount_item",
        "create_missing",
        "bad_debt_item",
        "round_off_item"
    ]
);

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub(super) struct Item {
    id: Id,
    #[serde(rename = "type")]
    item_type: Field<ItemType>,
    #[serde(flatten)]
    unknown: BTreeMap<String, Value>,
}
section!(Item, ["id", "type"]);

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub(super) struct Creation {
    #[serde(rename = "type")]
    item_type: Field<ItemType>,
    income_account: Id,
    tax_schedule: Id,
    classes: IdMap,
    locations: IdMap,
    departments: IdMap,
    revenue_rules: IdMap,
    #[serde(flatten)]
    unknown: BTreeMap<String, Value>,
}
section!(
    Creation,
    [
        "type",
        "income_account",
        "tax_schedule",
        "classes",
        "locations",
        "departments",
        "revenue_rules"
    ]
);

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub(super) struct Invoices {
    skip_zero_dollar: Field<bool>,
    reverse_voids: Field<bool>,
    create: Field<InvoicePath>,
    subscription_groups: Field<Consolidation>,
    revenue_recognition: Field<RevRec>,
    #[serde(flatten)]
    unknown: BTreeMap<String, Value>,
}
section!(
    Invoices,
    [
        "skip_zero_dollar",
        "reverse_voids",
        "create",
        "subscription_groups",
        "revenue_recognition"
    ]
);

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub(super) struct RevRec {
    start_field: Field<String>,
    end_field: Field<String>,
    #[serde(flatten)]
    unknown: BTreeMap<String, Value>,
}
section!(RevRec, ["start_field", "end_field"]);

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub(super) struct Customers {
    match_by: Field<CustomerMatch>,
    entity_status: Id,
    #[serde(flatten)]
    unknown: BTreeMap<String, Value>,
}
section!(Customers, ["match_by", "entity_status"]);

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub(super) struct Payments {
    payment_instruments: Field<bool>,
    payment_method: Id,
    account: Id,
    gateway_accounts: IdMap,
    payment_methods: IdMap,
    #[serde(flatten)]
    unknown: BTreeMap<String, Value>,
}
section!(
    Payments,
    [
        "payment_instruments",
        "payment_method",
        "payment_methods",
        "account",
        "gateway_accounts"
    ]
);

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub(super) struct Refunds {
    account: Id,
    ar_account: Id,
    #[serde(flatten)]
    unknown: BTreeMap<String, Value>,
}
section!(Refunds, ["account", "ar_account"]);

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub(super) struct Transactions {
    sales_order_form: Id,
    invoice_form: Id,
    subsidiary: Id,
    department: Id,
    class: Id,
    location: Id,
    terms: Id,
    exchange_rate: Field<ExchangeRate>,
    tax_override: Field<bool>,
    tracking: Field<TrackingLevel>,
    customer_tracking: Field<Tracking>,
    tax_codes: IdMap,
    untaxed_code: Id,
    #[serde(flatten)]
    unknown: BTreeMap<String, Value>,
}
section!(
    Transactions,
    [
        "sales_order_form",
        "invoice_form",
        "subsidiary",
        "department",
        "class",
        "location",
        "terms",
        "exchange_rate",
        "tax_override",
        "tracking",
        "customer_tracking",
        "tax_codes",
        "untaxed_code"
    ]
);

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub(super) struct Tracking {
    class: Field<String>,
    department: Field<String>,
    location: Field<String>,
    #[serde(flatten)]
    unknown: BTreeMap<String, Value>,
}
section!(Tracking, ["class", "department", "location"]);

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub(super) struct PrefixDoc {
    entity_id: Field<String>,
    tran_id: Field<String>,
    external_id: Field<String>,
    item: Field<String>,
    send_numbers: Field<bool>,
    #[serde(flatten)]
    unknown: BTreeMap<String, Value>,
}
section!(
    PrefixDoc,
    [
        "entity_id",
        "tran_id",
        "external_id",
        "item",
        "send_numbers"
    ]
);

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub(super) struct CustomFields {
    customer_billing_id: Field<String>,
    customer_site: Field<String>,
    transaction_site: Field<String>,
    transaction_invoice_uid: Field<String>,
    line_tax: Field<String>,
    from_billing: Field<BTreeMap<String, Value>>,
    #[serde(flatten)]
    unknown: BTreeMap<String, Value>,
}
section!(
    CustomFields,
    [
        "customer_billing_id",
        "customer_site",
        "transaction_site",
        "transaction_invoice_uid",
        "line_tax",
        "from_billing"
    ]
);

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub(super) struct NetSuite {
    concurrency: Field<Value>,
    #[serde(flatten)]
    unknown: BTreeMap<String, Value>,
}
section!(NetSuite, ["concurrency"]);

#[cfg(test)]
mod tests {
    use super::*;

    /// Each section's list of known keys is exactly its fields.
    fn keys<T: Section + Default + Serialize>() {
        let written = serde_json::to_value(T::default()).unwrap();
        let mut fields: Vec<&str> = written
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut known = T::KNOWN.to_vec();
        fields.sort_unstable();
        known.sort_unstable();
        assert_eq!(fields, known, "{}", std::any::type_name::<T>());
    }

    #[test]
    fn known_keys_are_the_fields() {
        keys::<Document>();
        keys::<Items>();
        keys::<Item>();
        keys::<Creation>();
        keys::<Invoices>();
        keys::<RevRec>();
        keys::<Customers>();
        keys::<Payments>();
        keys::<Refunds>();
        keys::<Transactions>();
        keys::<Tracking>();
        keys::<PrefixDoc>();
        keys::<CustomFields>();
        keys::<NetSuite>();
    }

    #[test]
    fn a_value_of_the_wrong_kind_is_kept_not_fatal() {
        let doc: Document = serde_json::from_value(serde_json::json!({
            "tenant": 7, "items": "none", "netsuite": {"concurrency": "four"}
        }))
        .unwrap();
        assert_eq!(doc.tenant, Field::Bad(serde_json::json!(7)));
        assert!(matches!(doc.items, Field::Bad(_)));
        let problems = doc.validate().unwrap_err();
        for needle in [
            "`tenant` must be text",
            "`items` must be an object",
            "`netsuite.concurrency` must be a whole number",
        ] {
            assert!(
                problems.iter().any(|p| p.contains(needle)),
                "{needle}: {problems:?}"
            );
        }
    }

    #[test]
    fn a_bad_key_is_reported_even_when_its_id_is_bad_too() {
        let doc: Document = serde_json::from_value(serde_json::json!({
            "currencies": {"usd": "two"},
            "payments": {"gateway_accounts": {"stripe": "nine"}}
        }))
        .unwrap();
        let problems = doc.validate().unwrap_err();
        for needle in [
            "`currencies.usd` must be an ISO 4217 code",
            "`currencies.usd` must be a NetSuite internal id",
            "`payments.gateway_accounts.stripe` must be named",
            "`payments.gateway_accounts.stripe` must be a NetSuite internal id",
        ] {
            assert!(
                problems.iter().any(|p| p.contains(needle)),
                "{needle}: {problems:?}"
            );
        }
    }
}
