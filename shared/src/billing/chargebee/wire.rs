//! Chargebee API v2 JSON as the API sends it: amounts in integer minor units, dates in Unix
//! seconds, ids as strings. Anything may be missing or null.

use serde::Deserialize;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Address {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub company: Option<String>,
    pub phone: Option<String>,
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub line3: Option<String>,
    pub city: Option<String>,
    pub state_code: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
    pub zip: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Customer {
    pub id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub company: Option<String>,
    pub vat_number: Option<String>,
    pub preferred_currency_code: Option<String>,
    pub billing_address: Option<Address>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
    pub deleted: Option<bool>,
    /// Everything else, among it the site's custom fields (`cf_*`).
    #[serde(flatten)]
    pub other: std::collections::BTreeMap<String, serde_json::Value>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct LineItem {
    pub id: Option<String>,
    pub date_from: Option<i64>,
    pub date_to: Option<i64>,
    pub unit_amount: Option<i64>,
    pub quantity: Option<i64>,
    pub amount: Option<i64>,
    pub is_taxed: Option<bool>,
    pub tax_amount: Option<i64>,
    pub discount_amount: Option<i64>,
    pub item_level_discount_amount: Option<i64>,
    pub description: Option<String>,
    pub entity_description: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub unit_amount_in_decimal: Option<String>,
    pub quantity_in_decimal: Option<String>,
    pub amount_in_decimal: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct LineItemDiscount {
    pub line_item_id: Option<String>,
    pub discount_type: Option<String>,
    pub coupon_id: Option<String>,
    pub entity_id: Option<String>,
    pub discount_amount: Option<i64>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct LineItemTax {
    pub line_item_id: Option<String>,
    pub tax_name: Option<String>,
    pub tax_rate: Option<f64>,
    pub tax_amount: Option<i64>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Discount {
    pub amount: Option<i64>,
    pub description: Option<String>,
    pub line_item_id: Option<String>,
    pub entity_type: Option<String>,
    pub discount_type: Option<String>,
    pub entity_id: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Tax {
    pub name: Option<String>,
    pub amount: Option<i64>,
    pub description: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct LinkedPayment {
    pub txn_id: Option<String>,
    pub applied_amount: Option<i64>,
    pub applied_at: Option<i64>,
    pub txn_status: Option<String>,
    pub txn_date: Option<i64>,
    pub txn_amount: Option<i64>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct AppliedCredit {
    pub cn_id: Option<String>,
    pub applied_amount: Option<i64>,
    pub applied_at: Option<i64>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct IssuedCreditNote {
    pub cn_id: Option<String>,
    pub cn_total: Option<i64>,
    pub cn_status: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Invoice {
    pub id: String,
    pub customer_id: Option<String>,
    pub subscription_id: Option<String>,
    pub status: Option<String>,
    pub price_type: Option<String>,
    pub date: Option<i64>,
    pub due_date: Option<i64>,
    pub paid_at: Option<i64>,
    pub currency_code: Option<String>,
    pub exchange_rate: Option<f64>,
    pub po_number: Option<String>,
    pub sub_total: Option<i64>,
    pub tax: Option<i64>,
    pub total: Option<i64>,
    pub amount_paid: Option<i64>,
    pub amount_adjusted: Option<i64>,
    pub credits_applied: Option<i64>,
    pub write_off_amount: Option<i64>,
    pub amount_due: Option<i64>,
    pub round_off_amount: Option<i64>,
    pub line_items: Vec<LineItem>,
    pub line_item_discounts: Vec<LineItemDiscount>,
    pub line_item_taxes: Vec<LineItemTax>,
    pub discounts: Vec<Discount>,
    pub taxes: Vec<Tax>,
    pub linked_payments: Vec<LinkedPayment>,
    pub applied_credits: Vec<AppliedCredit>,
    pub issued_credit_notes: Vec<IssuedCreditNote>,
    pub adjustment_credit_notes: Vec<IssuedCreditNote>,
    pub billing_address: Option<Address>,
    pub shipping_address: Option<Address>,
    pub updated_at: Option<i64>,
    pub deleted: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Allocation {
    pub invoice_id: Option<String>,
    pub allocated_amount: Option<i64>,
    pub allocated_at: Option<i64>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct LinkedRefund {
    pub txn_id: Option<String>,
    pub applied_amount: Option<i64>,
    pub applied_at: Option<i64>,
    pub txn_date: Option<i64>,
    pub txn_amount: Option<i64>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct CreditNote {
    pub id: String,
    pub customer_id: Option<String>,
    pub subscription_id: Option<String>,
    pub reference_invoice_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub status: Option<String>,
    /// Why it was raised: `write_off` for a bad-debt write-off.
    pub reason_code: Option<String>,
    pub create_reason_code: Option<String>,
    pub price_type: Option<String>,
    pub date: Option<i64>,
    pub currency_code: Option<String>,
    pub total: Option<i64>,
    pub sub_total: Option<i64>,
    pub amount_allocated: Option<i64>,
    pub amount_refunded: Option<i64>,
    pub amount_available: Option<i64>,
    pub line_items: Vec<LineItem>,
    pub line_item_discounts: Vec<LineItemDiscount>,
    pub line_item_taxes: Vec<LineItemTax>,
    pub discounts: Vec<Discount>,
    pub taxes: Vec<Tax>,
    pub allocations: Vec<Allocation>,
    pub linked_refunds: Vec<LinkedRefund>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct LinkedInvoice {
    pub invoice_id: Option<String>,
    pub applied_amount: Option<i64>,
    pub applied_at: Option<i64>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct LinkedCreditNote {
    pub cn_id: Option<String>,
    pub applied_amount: Option<i64>,
    pub cn_reference_invoice_id: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Transaction {
    pub id: String,
    pub customer_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub status: Option<String>,
    pub date: Option<i64>,
    pub amount: Option<i64>,
    pub currency_code: Option<String>,
    pub exchange_rate: Option<f64>,
    pub payment_method: Option<String>,
    pub gateway: Option<String>,
    pub id_at_gateway: Option<String>,
    pub reference_number: Option<String>,
    pub reference_transaction_id: Option<String>,
    pub refunded_txn_id: Option<String>,
    pub linked_invoices: Vec<LinkedInvoice>,
    pub linked_credit_notes: Vec<LinkedCreditNote>,
}

/// The resources an event carries, keyed by type.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Content {
    pub invoice: Option<Invoice>,
    pub customer: Option<Customer>,
    pub transaction: Option<Transaction>,
    pub credit_note: Option<CreditNote>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Event {
    pub id: String,
    pub occurred_at: Option<i64>,
    pub source: Option<String>,
    pub event_type: String,
    pub api_version: Option<String>,
    pub content: Content,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct EventEntry {
    pub event: Event,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct EventList {
    pub list: Vec<EventEntry>,
    pub next_offset: Option<String>,
}

/// Accounting details of a catalog entry: the source of the NetSuite item's name, income
/// account and tracking categories.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct AccountingDetail {
    pub sku: Option<String>,
    pub accounting_code: Option<String>,
    pub accounting_category1: Option<String>,
    pub accounting_category2: Option<String>,
    pub accounting_category3: Option<String>,
    pub accounting_category4: Option<String>,
}

/// An item price (product catalog 2.0).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ItemPrice {
    pub id: String,
    pub item_id: Option<String>,
    pub item_type: Option<String>,
    pub name: Option<String>,
    pub external_name: Option<String>,
    pub description: Option<String>,
    pub currency_code: Option<String>,
    pub accounting_detail: Option<AccountingDetail>,
}

/// A plan or add-on of product catalog 1.0: the accounting details sit on the record itself.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct LegacyCatalogEntry {
    pub id: String,
    pub name: Option<String>,
    pub invoice_name: Option<String>,
    pub description: Option<String>,
    #[serde(flatten)]
    pub accounting: AccountingDetail,
}
