//! Tenant settings: one typed, validated document per tenant holding everything the setup
//! steps configure (item mapping, invoice rules, customer matching, accounts, forms,
//! classifications, prefixes, custom field ids).
//!
//! Loading reads the whole document and reports every problem at once (unknown keys, unknown
//! item types, a missing tax item, malformed ids), so an administrator fixes the file in one
//! pass instead of one error per run.

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::billing::model::{Consolidation, Source};
use crate::netsuite::records::ItemType;

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
}

impl Default for CustomFieldIds {
    fn default() -> Self {
        CustomFieldIds {
            customer_billing_id: "custentity_billsync_customer_id".into(),
            customer_site: "custentity_billsync_site".into(),
            transaction_site: "custbody_billsync_site".into(),
            transaction_invoice_uid: "custbody_billsync_invoice_uid".into(),
            line_tax: "custcol_billsync_line_tax".into(),
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
    /// The NetSuite account uses Payment Instruments: send no payment method.
    pub payment_instruments: bool,
    /// The "Advanced Billing Payment" method, when Payment Instruments is off.
    pub payment_method: Option<NsId>,
    /// Bank account for payments and deposits; none means Undeposited Funds.
    pub payment_account: Option<NsId>,
    pub refund_account: NsId,
    pub refund_ar_account: Option<NsId>,
    pub sales_order_form: Option<NsId>,
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

/// Walks a JSON object, taking known keys and recording problems with their paths.
struct Reader<'a> {
    problems: &'a mut Vec<String>,
}

impl Reader<'_> {
    fn object<'v>(&mut self, v: Option<&'v Value>, path: &str) -> Option<&'v Map<String, Value>> {
        match v {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m),
            Some(_) => {
                self.problems.push(format!("`{path}` must be an object"));
                None
            }
        }
    }

    fn unknown_keys(&mut self, m: &Map<String, Value>, path: &str, known: &[&str]) {
        for k in m.keys().filter(|k| !known.contains(&k.as_str())) {
            let at = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            self.problems.push(format!(
                "`{at}` is not a setting (known here: {})",
                known.join(", ")
            ));
        }
    }

    fn string(&mut self, m: &Map<String, Value>, key: &str, path: &str) -> Option<String> {
        match m.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Some(Value::String(_)) => {
                self.problems.push(format!("`{path}{key}` is empty"));
                None
            }
            Some(_) => {
                self.problems.push(format!("`{path}{key}` must be text"));
                None
            }
        }
    }

    fn required_string(&mut self, m: &Map<String, Value>, key: &str, path: &str) -> Option<String> {
        let v = self.string(m, key, path);
        if v.is_none() && !m.contains_key(key) {
            self.problems.push(format!("`{path}{key}` is required"));
        }
        v
    }

    fn bool(&mut self, m: &Map<String, Value>, key: &str, path: &str, default: bool) -> bool {
        match m.get(key) {
            None | Some(Value::Null) => default,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.problems
                    .push(format!("`{path}{key}` must be true or false"));
                default
            }
        }
    }

    fn id_value(&mut self, v: &Value, at: &str) -> Option<NsId> {
        let parsed = match v {
            Value::String(s) => NsId::parse(s),
            Value::Number(n) => NsId::parse(&n.to_string()),
            _ => None,
        };
        if parsed.is_none() {
            self.problems.push(format!(
                "`{at}` must be a NetSuite internal id (digits), got {v}"
            ));
        }
        parsed
    }

    fn id(&mut self, m: &Map<String, Value>, key: &str, path: &str) -> Option<NsId> {
        match m.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => self.id_value(v, &format!("{path}{key}")),
        }
    }

    fn required_id(&mut self, m: &Map<String, Value>, key: &str, path: &str) -> Option<NsId> {
        if !matches!(m.get(key), Some(v) if !v.is_null()) {
            self.problems.push(format!("`{path}{key}` is required"));
            return None;
        }
        self.id(m, key, path)
    }

    fn item_type(&mut self, v: Option<&Value>, at: &str) -> Option<ItemType> {
        let known = "inventory, non_inventory, service, assembly, kit";
        match v {
            None | Some(Value::Null) => {
                self.problems
                    .push(format!("`{at}` is required (one of {known})"));
                None
            }
            Some(v) => match serde_json::from_value::<ItemType>(v.clone()) {
                Ok(ItemType::Discount) | Err(_) => {
                    self.problems.push(format!(
                        "`{at}` is {v}, not a supported item type (one of {known})"
                    ));
                    None
                }
                Ok(t) => Some(t),
            },
        }
    }

    fn item_ref(&mut self, v: Option<&Value>, at: &str) -> Option<ItemRef> {
        let m = self.object(v, at)?;
        self.unknown_keys(m, at, &["id", "type"]);
        let id = match m.get("id") {
            None | Some(Value::Null) => {
                self.problems.push(format!("`{at}.id` is required"));
                None
            }
            Some(v) => self.id_value(v, &format!("{at}.id")),
        };
        let item_type = self.item_type(m.get("type"), &format!("{at}.type"));
        Some(ItemRef {
            id: id?,
            item_type: item_type?,
        })
    }

    fn id_map(&mut self, v: Option<&Value>, at: &str) -> BTreeMap<String, NsId> {
        let Some(m) = self.object(v, at) else {
            return BTreeMap::new();
        };
        m.iter()
            .filter_map(|(k, v)| Some((k.clone(), self.id_value(v, &format!("{at}.{k}"))?)))
            .collect()
    }

    fn item_map(&mut self, v: Option<&Value>, at: &str) -> BTreeMap<String, ItemRef> {
        let Some(m) = self.object(v, at) else {
            return BTreeMap::new();
        };
        m.iter()
            .filter_map(|(k, v)| Some((k.clone(), self.item_ref(Some(v), &format!("{at}.{k}"))?)))
            .collect()
    }

    fn script_id(
        &mut self,
        m: &Map<String, Value>,
        key: &str,
        path: &str,
        prefix: &str,
        default: String,
    ) -> String {
        let Some(v) = self.string(m, key, path) else {
            return default;
        };
        let valid = v.starts_with(prefix)
            && v.len() > prefix.len()
            && v.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            self.problems.push(format!("`{path}{key}` must be a script id starting with `{prefix}` (lower case, digits, `_`), got `{v}`"));
        }
        v
    }

    fn enum_value<T: for<'de> Deserialize<'de>>(
        &mut self,
        m: &Map<String, Value>,
        key: &str,
        path: &str,
        allowed: &str,
        default: T,
    ) -> T {
        match m.get(key) {
            None | Some(Value::Null) => default,
            Some(v) => serde_json::from_value(v.clone()).unwrap_or_else(|_| {
                self.problems
                    .push(format!("`{path}{key}` is {v}; allowed: {allowed}"));
                default
            }),
        }
    }
}

impl TenantSettings {
    /// Parses and validates a settings document (JSON).
    pub fn from_json(text: &str) -> Result<TenantSettings, SettingsError> {
        let value: Value = serde_json::from_str(text).map_err(|e| SettingsError {
            problems: vec![format!("not valid JSON: {e}")],
        })?;
        Self::from_value(&value)
    }

    pub fn from_value(value: &Value) -> Result<TenantSettings, SettingsError> {
        let mut problems = Vec::new();
        let settings = {
            let mut r = Reader {
                problems: &mut problems,
            };
            let Some(root) = r.object(Some(value), "(document)") else {
                return Err(SettingsError {
                    problems: vec!["the document must be a JSON object".into()],
                });
            };
            r.unknown_keys(
                root,
                "",
                &[
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
                    "currencies",
                ],
            );
            let tenant = r.required_string(root, "tenant", "");
            if let Some(t) = &tenant {
                if !t
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                    || t.len() > 64
                {
                    r.problems.push(format!(
                        "`tenant` must be letters, digits, `-` or `_` (at most 64), got `{t}`"
                    ));
                }
            }
            let source = r.enum_value(root, "source", "", "maxio, chargebee", Source::Maxio);
            if root.get("source").is_none() {
                r.problems
                    .push("`source` is required (maxio or chargebee)".into());
            }
            let site = r.required_string(root, "site", "");
            let start = r
                .required_string(root, "sync_start_date", "")
                .and_then(|s| {
                    NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                        .map_err(|_| {
                            r.problems
                                .push(format!("`sync_start_date` must be YYYY-MM-DD, got `{s}`"))
                        })
                        .ok()
                });

            // items
            let items_obj = r.object(root.get("items"), "items");
            if items_obj.is_none() {
                r.problems
                    .push("`items` is required (at least `tax_item` and `discount_item`)".into());
            }
            let empty = Map::new();
            let items = items_obj.unwrap_or(&empty);
            r.unknown_keys(
                items,
                "items",
                &[
                    "products",
                    "components",
                    "custom_default",
                    "setup_default",
                    "other_default",
                    "tax_item",
                    "discount_item",
                    "create_missing",
                ],
            );
            let products = r.item_map(items.get("products"), "items.products");
            let components = r.item_map(items.get("components"), "items.components");
            let custom_default = r.item_ref(items.get("custom_default"), "items.custom_default");
            let setup_default = r.item_ref(items.get("setup_default"), "items.setup_default");
            let other_default = r.item_ref(items.get("other_default"), "items.other_default");
            let tax_item = if items.get("tax_item").is_none_or(Value::is_null) {
                r.problems.push(
                    "`items.tax_item` is required: the NetSuite item that carries the tax line"
                        .into(),
                );
                None
            } else {
                r.item_ref(items.get("tax_item"), "items.tax_item")
            };
            let discount_item = r.required_id(items, "discount_item", "items.");
            let create_missing = r
                .object(items.get("create_missing"), "items.create_missing")
                .map(|m| {
                    let at = "items.create_missing";
                    r.unknown_keys(
                        m,
                        at,
                        &[
                            "type",
                            "income_account",
                            "tax_schedule",
                            "classes",
                            "locations",
                            "departments",
                            "revenue_rules",
                        ],
                    );
                    let item_type = match m.get("type") {
                        None | Some(Value::Null) => ItemType::NonInventory,
                        Some(v) => match serde_json::from_value::<ItemType>(v.clone()) {
                            Ok(t @ (ItemType::NonInventory | ItemType::Service)) => t,
                            _ => {
                                r.problems.push(format!(
                                    "`{at}.type` is {v}; billsync creates only non_inventory or service items"
                                ));
                                ItemType::NonInventory
                            }
                        },
                    };
                    ItemCreation {
                        item_type,
                        income_account: r.id(m, "income_account", "items.create_missing."),
                        tax_schedule: r.id(m, "tax_schedule", "items.create_missing."),
                        classes: r.id_map(m.get("classes"), "items.create_missing.classes"),
                        locations: r.id_map(m.get("locations"), "items.create_missing.locations"),
                        departments: r
                            .id_map(m.get("departments"), "items.create_missing.departments"),
                        revenue_rules: r
                            .id_map(m.get("revenue_rules"), "items.create_missing.revenue_rules"),
                    }
                });

            // invoices
            let inv = r.object(root.get("invoices"), "invoices").unwrap_or(&empty);
            r.unknown_keys(
                inv,
                "invoices",
                &[
                    "skip_zero_dollar",
                    "reverse_voids",
                    "subscription_groups",
                    "revenue_recognition",
                ],
            );
            let skip_zero_dollar = r.bool(inv, "skip_zero_dollar", "invoices.", false);
            let reverse_voids = r.bool(inv, "reverse_voids", "invoices.", true);
            let groups = r.enum_value(
                inv,
                "subscription_groups",
                "invoices.",
                "parent, child",
                Consolidation::Parent,
            );
            if groups == Consolidation::None {
                r.problems
                    .push("`invoices.subscription_groups` must be parent or child".into());
            }
            let revenue_recognition = r.object(inv.get("revenue_recognition"), "invoices.revenue_recognition").map(|rr| {
                r.unknown_keys(rr, "invoices.revenue_recognition", &["start_field", "end_field"]);
                let start = r.script_id(rr, "start_field", "invoices.revenue_recognition.", "custcol", String::new());
                let end = r.script_id(rr, "end_field", "invoices.revenue_recognition.", "custcol", String::new());
                if start.is_empty() || end.is_empty() {
                    r.problems.push("`invoices.revenue_recognition` needs both `start_field` and `end_field`".into());
                }
                RevRecFields { start_field: start, end_field: end }
            });

            // customers
            let cust = r
                .object(root.get("customers"), "customers")
                .unwrap_or(&empty);
            r.unknown_keys(cust, "customers", &["match_by"]);
            let customer_match = r.enum_value(
                cust,
                "match_by",
                "customers.",
                "email, external_id",
                CustomerMatch::Email,
            );

            // payments and refunds
            let pay = r.object(root.get("payments"), "payments").unwrap_or(&empty);
            r.unknown_keys(
                pay,
                "payments",
                &[
                    "payment_instruments",
                    "payment_method",
                    "account",
                    "gateway_accounts",
                ],
            );
            let payment_instruments = r.bool(pay, "payment_instruments", "payments.", false);
            let payment_method = r.id(pay, "payment_method", "payments.");
            if !payment_instruments && payment_method.is_none() {
                r.problems.push("`payments.payment_method` is required unless `payments.payment_instruments` is true".into());
            }
            let payment_account = r.id(pay, "account", "payments.");
            let mut gateway_accounts = BTreeMap::new();
            if let Some(m) = r.object(pay.get("gateway_accounts"), "payments.gateway_accounts") {
                for (key, v) in m {
                    let valid = key.split_once(':').is_some_and(|(g, c)| {
                        !g.is_empty() && c.len() == 3 && c.chars().all(|x| x.is_ascii_uppercase())
                    });
                    if !valid {
                        r.problems.push(format!("`payments.gateway_accounts.{key}` must be named <gateway>:<currency>, e.g. stripe:USD"));
                    }
                    if let Some(id) = r.id_value(v, &format!("payments.gateway_accounts.{key}")) {
                        gateway_accounts.insert(key.clone(), id);
                    }
                }
            }
            let refunds = r.object(root.get("refunds"), "refunds").unwrap_or(&empty);
            r.unknown_keys(refunds, "refunds", &["account", "ar_account"]);
            let refund_account = r.required_id(refunds, "account", "refunds.");
            let refund_ar_account = r.id(refunds, "ar_account", "refunds.");

            // transactions
            let tx = r
                .object(root.get("transactions"), "transactions")
                .unwrap_or(&empty);
            r.unknown_keys(
                tx,
                "transactions",
                &[
                    "sales_order_form",
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
                    "untaxed_code",
                ],
            );
            let sales_order_form = r.id(tx, "sales_order_form", "transactions.");
            let subsidiary = r.id(tx, "subsidiary", "transactions.");
            let department = r.id(tx, "department", "transactions.");
            let class = r.id(tx, "class", "transactions.");
            let location = r.id(tx, "location", "transactions.");
            let terms = r.id(tx, "terms", "transactions.");
            let exchange_rate = r.enum_value(
                tx,
                "exchange_rate",
                "transactions.",
                "net_suite, billing",
                ExchangeRate::NetSuite,
            );
            let tax_override = r.bool(tx, "tax_override", "transactions.", false);
            let tracking = r.enum_value(
                tx,
                "tracking",
                "transactions.",
                "document, customer",
                TrackingLevel::Document,
            );
            let customer_tracking = match r.object(
                tx.get("customer_tracking"),
                "transactions.customer_tracking",
            ) {
                Some(m) => {
                    let at = "transactions.customer_tracking.";
                    r.unknown_keys(
                        m,
                        "transactions.customer_tracking",
                        &["class", "department", "location"],
                    );
                    CustomerTracking {
                        class: r.string(m, "class", at),
                        department: r.string(m, "department", at),
                        location: r.string(m, "location", at),
                    }
                }
                None => CustomerTracking::default(),
            };
            if tracking == TrackingLevel::Customer
                && customer_tracking == CustomerTracking::default()
            {
                r.problems.push("`transactions.tracking` is customer: name the customer fields in `transactions.customer_tracking` (class, department, location)".into());
            }
            let tax_codes = r.id_map(tx.get("tax_codes"), "transactions.tax_codes");
            let untaxed_code = r.id(tx, "untaxed_code", "transactions.");

            // prefixes
            let pre = r.object(root.get("prefixes"), "prefixes").unwrap_or(&empty);
            r.unknown_keys(
                pre,
                "prefixes",
                &["entity_id", "tran_id", "external_id", "item"],
            );
            let prefixes = Prefixes {
                entity_id: r.string(pre, "entity_id", "prefixes."),
                tran_id: r.string(pre, "tran_id", "prefixes."),
                external_id: r.string(pre, "external_id", "prefixes."),
                item: r.string(pre, "item", "prefixes."),
            };
            if let Some(p) = &prefixes.external_id {
                if !p
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    r.problems.push(format!("`prefixes.external_id` may hold only letters, digits, `-` and `_` (NetSuite external ids), got `{p}`"));
                }
            }

            // custom fields
            let cf = r
                .object(root.get("custom_fields"), "custom_fields")
                .unwrap_or(&empty);
            r.unknown_keys(
                cf,
                "custom_fields",
                &[
                    "customer_billing_id",
                    "customer_site",
                    "transaction_site",
                    "transaction_invoice_uid",
                    "line_tax",
                ],
            );
            let d = CustomFieldIds::default();
            let custom_fields = CustomFieldIds {
                customer_billing_id: r.script_id(
                    cf,
                    "customer_billing_id",
                    "custom_fields.",
                    "custentity",
                    d.customer_billing_id,
                ),
                customer_site: r.script_id(
                    cf,
                    "customer_site",
                    "custom_fields.",
                    "custentity",
                    d.customer_site,
                ),
                transaction_site: r.script_id(
                    cf,
                    "transaction_site",
                    "custom_fields.",
                    "custbody",
                    d.transaction_site,
                ),
                transaction_invoice_uid: r.script_id(
                    cf,
                    "transaction_invoice_uid",
                    "custom_fields.",
                    "custbody",
                    d.transaction_invoice_uid,
                ),
                line_tax: r.script_id(cf, "line_tax", "custom_fields.", "custcol", d.line_tax),
            };

            let ns = r.object(root.get("netsuite"), "netsuite").unwrap_or(&empty);
            r.unknown_keys(ns, "netsuite", &["concurrency"]);
            let netsuite_concurrency = match ns.get("concurrency") {
                None | Some(Value::Null) => 4,
                Some(v) => {
                    match v.as_u64() {
                        Some(n @ 1..=200) => n as usize,
                        _ => {
                            r.problems.push(format!("`netsuite.concurrency` must be a whole number from 1 to 200, got {v}"));
                            4
                        }
                    }
                }
            };

            let mut currencies = BTreeMap::new();
            if let Some(m) = r.object(root.get("currencies"), "currencies") {
                for (code, v) in m {
                    if code.len() != 3 || !code.chars().all(|c| c.is_ascii_uppercase()) {
                        r.problems.push(format!(
                            "`currencies.{code}` must be an ISO 4217 code like USD"
                        ));
                    }
                    if let Some(id) = r.id_value(v, &format!("currencies.{code}")) {
                        currencies.insert(code.clone(), id);
                    }
                }
            }

            (|| {
                Some(TenantSettings {
                    tenant: tenant?,
                    source,
                    site: site?,
                    sync_start_date: start?,
                    items: ItemSettings {
                        products,
                        components,
                        custom_default,
                        setup_default,
                        other_default,
                        tax_item: tax_item?,
                        discount_item: discount_item?,
                        create_missing,
                    },
                    skip_zero_dollar,
                    reverse_voids,
                    subscription_groups: groups,
                    revenue_recognition,
                    customer_match,
                    payment_instruments,
                    payment_method,
                    payment_account,
                    refund_account: refund_account?,
                    refund_ar_account,
                    sales_order_form,
                    subsidiary,
                    department,
                    class,
                    location,
                    terms,
                    exchange_rate,
                    prefixes,
                    custom_fields,
                    netsuite_concurrency,
                    gateway_accounts,
                    tax_override,
                    tracking,
                    customer_tracking,
                    tax_codes,
                    untaxed_code,
                    currencies,
                })
            })()
        };
        match settings {
            Some(s) if problems.is_empty() => Ok(s),
            _ => {
                if problems.is_empty() {
                    problems.push("the document is incomplete".into());
                }
                Err(SettingsError { problems })
            }
        }
    }

    /// Serializes back to the document form `from_json` reads.
    pub fn to_document(&self) -> Value {
        let item = |i: &ItemRef| serde_json::json!({"id": i.id, "type": i.item_type});
        let map = |m: &BTreeMap<String, ItemRef>| {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), item(v))).collect())
        };
        serde_json::json!({
            "tenant": self.tenant,
            "source": self.source,
            "site": self.site,
            "sync_start_date": self.sync_start_date.to_string(),
            "items": {
                "products": map(&self.items.products),
                "components": map(&self.items.components),
                "custom_default": self.items.custom_default.as_ref().map(item),
                "setup_default": self.items.setup_default.as_ref().map(item),
                "other_default": self.items.other_default.as_ref().map(item),
                "tax_item": item(&self.items.tax_item),
                "discount_item": self.items.discount_item,
                "create_missing": self.items.create_missing,
            },
            "invoices": {
                "skip_zero_dollar": self.skip_zero_dollar,
                "reverse_voids": self.reverse_voids,
                "subscription_groups": self.subscription_groups,
                "revenue_recognition": self.revenue_recognition,
            },
            "customers": {"match_by": self.customer_match},
            "payments": {
                "payment_instruments": self.payment_instruments,
                "payment_method": self.payment_method,
                "account": self.payment_account,
                "gateway_accounts": self.gateway_accounts,
            },
            "refunds": {"account": self.refund_account, "ar_account": self.refund_ar_account},
            "transactions": {
                "sales_order_form": self.sales_order_form,
                "subsidiary": self.subsidiary,
                "department": self.department,
                "class": self.class,
                "location": self.location,
                "terms": self.terms,
                "exchange_rate": self.exchange_rate,
                "tax_override": self.tax_override,
                "tracking": self.tracking,
                "customer_tracking": self.customer_tracking,
                "tax_codes": self.tax_codes,
                "untaxed_code": self.untaxed_code,
            },
            "prefixes": self.prefixes,
            "custom_fields": self.custom_fields,
            "netsuite": {"concurrency": self.netsuite_concurrency},
            "currencies": self.currencies,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn example() -> Value {
        serde_json::json!({
            "tenant": "acme",
            "source": "maxio",
            "site": "acme-demo",
            "sync_start_date": "2026-01-01",
            "items": {
                "products": {"3101": {"id": "102", "type": "non_inventory"}, "3102": {"id": 105, "type": "inventory"}},
                "components": {"4101": {"id": "104", "type": "service"}},
                "custom_default": {"id": "103", "type": "service"},
                "tax_item": {"id": "100", "type": "non_inventory"},
                "discount_item": "101"
            },
            "invoices": {"skip_zero_dollar": true, "subscription_groups": "child",
                         "revenue_recognition": {"start_field": "custcol_rev_start", "end_field": "custcol_rev_end"}},
            "customers": {"match_by": "email"},
            "payments": {"payment_instruments": false, "payment_method": "7", "gateway_accounts": {"stripe:USD": "9"}},
            "refunds": {"account": "9"},
            "transactions": {"subsidiary": "1", "department": "4", "exchange_rate": "billing", "tax_override": true},
            "prefixes": {"external_id": "ab"},
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
        assert_eq!(s.custom_fields, CustomFieldIds::default());
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
        let text = include_str!("../../infra/tenants/example.json");
        let s = super::TenantSettings::from_json(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.tenant, "acme");
        assert_eq!(s.currencies.len(), 2);
    }

    /// So is the Chargebee example, and it round-trips through the stored form.
    #[test]
    fn the_shipped_chargebee_example_loads_and_round_trips() {
        use super::{TenantSettings, TrackingLevel};
        let text = include_str!("../../infra/tenants/chargebee-example.json");
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
        let mut doc: serde_json::Value =
            serde_json::from_str(include_str!("../../infra/tenants/chargebee-example.json"))
                .unwrap();
        doc["transactions"]["customer_tracking"] = serde_json::json!({});
        let e = super::TenantSettings::from_value(&doc).unwrap_err();
        assert!(e.to_string().contains("customer_tracking"), "{e}");
        doc["items"]["create_missing"]["type"] = serde_json::json!("inventory");
        let e = super::TenantSettings::from_value(&doc).unwrap_err();
        assert!(e.to_string().contains("non_inventory or service"), "{e}");
    }
}
