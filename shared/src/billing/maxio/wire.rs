//! Maxio Advanced Billing's JSON, as the API sends it. Field names and types follow the
//! official SDK's models: decimal amounts are strings (`"59.97"`), ids are integers (some too
//! large for a JS number, so they are read as text), dates are `YYYY-MM-DD`, datetimes
//! ISO-8601 with `Z` or an offset. Anything may be missing or null.

use chrono::{DateTime, FixedOffset, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};

/// An id sent as a JSON number or string, kept as text (Maxio's invoice ids exceed 2^53, so
/// they must never pass through a float).
pub(crate) fn de_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct IdVisitor;
    impl<'de> serde::de::Visitor<'de> for IdVisitor {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an id (integer or string)")
        }
        fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok((!v.is_empty()).then(|| v.to_owned()))
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(IdVisitor)
        }
    }
    d.deserialize_option(IdVisitor)
}

/// A date that may be null, missing or `""`.
pub(crate) fn de_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
    match Option::<String>::deserialize(d)? {
        Some(s) if !s.trim().is_empty() => {
            // Some payloads carry a datetime where a date is expected; the date part is enough.
            let day = s.trim().get(..10).unwrap_or(s.trim());
            NaiveDate::parse_from_str(day, "%Y-%m-%d")
                .map(Some)
                .map_err(serde::de::Error::custom)
        }
        _ => Ok(None),
    }
}

/// An ISO-8601 datetime with `Z` or an offset; null, missing or `""` is none.
pub(crate) fn de_datetime<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<DateTime<FixedOffset>>, D::Error> {
    match Option::<String>::deserialize(d)? {
        Some(s) if !s.trim().is_empty() => parse_datetime(s.trim())
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("`{s}` is not a timestamp"))),
        _ => Ok(None),
    }
}

/// Accepts RFC 3339 (`2026-01-31T10:22:20-05:00`, `...Z`) and the webhook form
/// (`2026-01-31 10:22:20 -0500`).
pub fn parse_datetime(s: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S %z"))
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
}

/// A decimal amount sent as a string (or, defensively, a number); null or `""` is none.
pub(crate) fn de_amount<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Amount {
        S(String),
        N(serde_json::Number),
    }
    let text = match Option::<Amount>::deserialize(d)? {
        None => return Ok(None),
        Some(Amount::S(s)) => s,
        Some(Amount::N(n)) => n.to_string(),
    };
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<Decimal>()
        .or_else(|_| Decimal::from_scientific(text))
        .map(Some)
        .map_err(|_| serde::de::Error::custom(format!("`{text}` is not an amount")))
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Address {
    pub street: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub country: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct InvoiceCustomer {
    #[serde(deserialize_with = "de_id")]
    pub chargify_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub organization: Option<String>,
    pub email: Option<String>,
    pub vat_number: Option<String>,
    pub reference: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct LineItem {
    pub uid: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    #[serde(deserialize_with = "de_amount")]
    pub quantity: Option<Decimal>,
    #[serde(deserialize_with = "de_amount")]
    pub unit_price: Option<Decimal>,
    #[serde(deserialize_with = "de_amount")]
    pub subtotal_amount: Option<Decimal>,
    #[serde(deserialize_with = "de_amount")]
    pub discount_amount: Option<Decimal>,
    #[serde(deserialize_with = "de_amount")]
    pub tax_amount: Option<Decimal>,
    #[serde(deserialize_with = "de_amount")]
    pub total_amount: Option<Decimal>,
    pub tax_included: Option<bool>,
    #[serde(deserialize_with = "de_date")]
    pub period_range_start: Option<NaiveDate>,
    #[serde(deserialize_with = "de_date")]
    pub period_range_end: Option<NaiveDate>,
    #[serde(deserialize_with = "de_id")]
    pub product_id: Option<String>,
    #[serde(deserialize_with = "de_id")]
    pub component_id: Option<String>,
    #[serde(deserialize_with = "de_id")]
    pub price_point_id: Option<String>,
    #[serde(deserialize_with = "de_id")]
    pub product_price_point_id: Option<String>,
    pub custom_item: Option<bool>,
    pub kind: Option<String>,
    pub hide: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Breakout {
    pub uid: Option<String>,
    #[serde(deserialize_with = "de_amount")]
    pub discount_amount: Option<Decimal>,
    #[serde(deserialize_with = "de_amount")]
    pub tax_amount: Option<Decimal>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Discount {
    pub uid: Option<String>,
    pub title: Option<String>,
    pub code: Option<String>,
    pub source_type: Option<String>,
    pub discount_type: Option<String>,
    #[serde(deserialize_with = "de_amount")]
    pub percentage: Option<Decimal>,
    #[serde(deserialize_with = "de_amount")]
    pub discount_amount: Option<Decimal>,
    pub line_item_breakouts: Vec<Breakout>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Tax {
    pub uid: Option<String>,
    pub title: Option<String>,
    pub source_type: Option<String>,
    #[serde(deserialize_with = "de_amount")]
    pub percentage: Option<Decimal>,
    #[serde(deserialize_with = "de_amount")]
    pub tax_amount: Option<Decimal>,
    pub line_item_breakouts: Vec<Breakout>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct PaymentMethod {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub card_brand: Option<String>,
    pub last_four: Option<String>,
    pub details: Option<String>,
    pub memo: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Payment {
    #[serde(deserialize_with = "de_datetime")]
    pub transaction_time: Option<DateTime<FixedOffset>>,
    pub memo: Option<String>,
    #[serde(deserialize_with = "de_amount")]
    pub original_amount: Option<Decimal>,
    #[serde(deserialize_with = "de_amount")]
    pub applied_amount: Option<Decimal>,
    pub payment_method: Option<PaymentMethod>,
    #[serde(deserialize_with = "de_id")]
    pub transaction_id: Option<String>,
    pub prepayment: Option<bool>,
    pub gateway_transaction_id: Option<String>,
    #[serde(deserialize_with = "de_date")]
    pub received_on: Option<NaiveDate>,
    pub uid: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Refund {
    #[serde(deserialize_with = "de_id")]
    pub transaction_id: Option<String>,
    #[serde(deserialize_with = "de_id")]
    pub payment_id: Option<String>,
    pub memo: Option<String>,
    #[serde(deserialize_with = "de_amount")]
    pub original_amount: Option<Decimal>,
    #[serde(deserialize_with = "de_amount")]
    pub applied_amount: Option<Decimal>,
    pub gateway_transaction_id: Option<String>,
    #[serde(deserialize_with = "de_datetime")]
    pub transaction_time: Option<DateTime<FixedOffset>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Credit {
    pub uid: Option<String>,
    pub credit_note_number: Option<String>,
    pub credit_note_uid: Option<String>,
    #[serde(deserialize_with = "de_datetime")]
    pub transaction_time: Option<DateTime<FixedOffset>>,
    pub memo: Option<String>,
    #[serde(deserialize_with = "de_amount")]
    pub original_amount: Option<Decimal>,
    #[serde(deserialize_with = "de_amount")]
    pub applied_amount: Option<Decimal>,
}

/// `GET /invoices/{uid}.json`, an element of `/invoices.json`, or an event's snapshot.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Invoice {
    #[serde(deserialize_with = "de_id")]
    pub id: Option<String>,
    pub uid: Option<String>,
    #[serde(deserialize_with = "de_id")]
    pub customer_id: Option<String>,
    #[serde(deserialize_with = "de_id")]
    pub subscription_id: Option<String>,
    #[serde(deserialize_with = "de_id")]
    pub number: Option<String>,
    #[serde(deserialize_with = "de_date")]
    pub issue_date: Option<NaiveDate>,
    #[serde(deserialize_with = "de_date")]
    pub due_date: Option<NaiveDate>,
    #[serde(deserialize_with = "de_date")]
    pub paid_date: Option<NaiveDate>,
    #[serde(deserialize_with = "de_datetime")]
    pub created_at: Option<DateTime<FixedOffset>>,
    #[serde(deserialize_with = "de_datetime")]
    pub updated_at: Option<DateTime<FixedOffset>>,
    pub status: Option<String>,
    pub role: Option<String>,
    pub currency: Option<String>,
    pub consolidation_level: Option<String>,
    pub parent_invoice_uid: Option<String>,
    #[serde(deserialize_with = "de_id")]
    pub subscription_group_id: Option<String>,
    pub memo: Option<String>,
    pub customer: Option<InvoiceCustomer>,
    pub billing_address: Option<Address>,
    pub shipping_address: Option<Address>,
    #[serde(deserialize_with = "de_amount")]
    pub subtotal_amount: Option<Decimal>,
    #[serde(deserialize_with = "de_amount")]
    pub discount_amount: Option<Decimal>,
    #[serde(deserialize_with = "de_amount")]
    pub tax_amount: Option<Decimal>,
    #[serde(deserialize_with = "de_amount")]
    pub total_amount: Option<Decimal>,
    #[serde(deserialize_with = "de_amount")]
    pub credit_amount: Option<Decimal>,
    #[serde(deserialize_with = "de_amount")]
    pub refund_amount: Option<Decimal>,
    #[serde(deserialize_with = "de_amount")]
    pub paid_amount: Option<Decimal>,
    #[serde(deserialize_with = "de_amount")]
    pub due_amount: Option<Decimal>,
    pub line_items: Vec<LineItem>,
    pub discounts: Vec<Discount>,
    pub taxes: Vec<Tax>,
    pub credits: Vec<Credit>,
    pub refunds: Vec<Refund>,
    pub payments: Vec<Payment>,
    pub custom_fields: Vec<CustomField>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct CustomField {
    pub name: Option<String>,
    pub value: Option<String>,
    pub owner_type: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct InvoicesPage {
    pub invoices: Vec<Invoice>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct CreditNoteApplication {
    pub uid: Option<String>,
    #[serde(deserialize_with = "de_datetime")]
    pub transaction_time: Option<DateTime<FixedOffset>>,
    pub invoice_uid: Option<String>,
    pub memo: Option<String>,
    #[serde(deserialize_with = "de_amount")]
    pub applied_amount: Option<Decimal>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct OriginInvoice {
    pub uid: Option<String>,
    pub number: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct CreditNote {
    pub uid: Option<String>,
    #[serde(deserialize_with = "de_id")]
    pub customer_id: Option<String>,
    #[serde(deserialize_with = "de_id")]
    pub subscription_id: Option<String>,
    #[serde(deserialize_with = "de_id")]
    pub number: Option<String>,
    #[serde(deserialize_with = "de_date")]
    pub issue_date: Option<NaiveDate>,
    #[serde(deserialize_with = "de_date")]
    pub applied_date: Option<NaiveDate>,
    pub status: Option<String>,
    pub currency: Option<String>,
    pub memo: Option<String>,
    pub customer: Option<InvoiceCustomer>,
    #[serde(deserialize_with = "de_amount")]
    pub subtotal_amount: Option<Decimal>,
    #[serde(deserialize_with = "de_amount")]
    pub discount_amount: Option<Decimal>,
    #[serde(deserialize_with = "de_amount")]
    pub tax_amount: Option<Decimal>,
    #[serde(deserialize_with = "de_amount")]
    pub total_amount: Option<Decimal>,
    #[serde(deserialize_with = "de_amount")]
    pub applied_amount: Option<Decimal>,
    #[serde(deserialize_with = "de_amount")]
    pub remaining_amount: Option<Decimal>,
    pub line_items: Vec<LineItem>,
    pub discounts: Vec<Discount>,
    pub taxes: Vec<Tax>,
    pub refunds: Vec<Refund>,
    pub applications: Vec<CreditNoteApplication>,
    pub origin_invoices: Vec<OriginInvoice>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct CreditNotesPage {
    pub credit_notes: Vec<CreditNote>,
}

/// `GET /customers/{id}.json` answers `{"customer": {...}}`; the address is flat.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Customer {
    #[serde(deserialize_with = "de_id")]
    pub id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub organization: Option<String>,
    pub reference: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub address_2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub country: Option<String>,
    pub vat_number: Option<String>,
    #[serde(deserialize_with = "de_datetime")]
    pub created_at: Option<DateTime<FixedOffset>>,
    #[serde(deserialize_with = "de_datetime")]
    pub updated_at: Option<DateTime<FixedOffset>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct CustomerEnvelope {
    pub customer: Customer,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ProductFamily {
    #[serde(deserialize_with = "de_id")]
    pub id: Option<String>,
    pub name: Option<String>,
    pub handle: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Product {
    #[serde(deserialize_with = "de_id")]
    pub id: Option<String>,
    pub name: Option<String>,
    pub handle: Option<String>,
    pub description: Option<String>,
    pub accounting_code: Option<String>,
    pub item_category: Option<String>,
    pub product_family: Option<ProductFamily>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct ProductEnvelope {
    pub product: Product,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Component {
    #[serde(deserialize_with = "de_id")]
    pub id: Option<String>,
    pub name: Option<String>,
    pub handle: Option<String>,
    pub description: Option<String>,
    pub kind: Option<String>,
    pub accounting_code: Option<String>,
    pub item_category: Option<String>,
    pub taxable: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct ComponentEnvelope {
    pub component: Component,
}

/// One entry of `GET /invoices/events.json`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct InvoiceEvent {
    pub id: u64,
    #[serde(deserialize_with = "de_datetime")]
    pub timestamp: Option<DateTime<FixedOffset>>,
    pub event_type: String,
    pub event_data: serde_json::Value,
    /// The invoice as it was when the event completed (absent for events before 2018-09-05).
    pub invoice: Option<Invoice>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct InvoiceEventsPage {
    pub events: Vec<InvoiceEvent>,
    pub page: Option<u64>,
    pub per_page: Option<u64>,
    pub total_pages: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct T {
        #[serde(deserialize_with = "de_datetime", default)]
        at: Option<DateTime<FixedOffset>>,
        #[serde(deserialize_with = "de_id", default)]
        id: Option<String>,
        #[serde(deserialize_with = "de_amount", default)]
        amount: Option<Decimal>,
        #[serde(deserialize_with = "de_date", default)]
        day: Option<NaiveDate>,
    }

    fn t(json: &str) -> T {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn timestamps_with_z_offsets_and_the_webhook_form() {
        let z = t(r#"{"at":"2026-01-31T15:22:20Z"}"#).at.unwrap();
        let off = t(r#"{"at":"2026-01-31T10:22:20-05:00"}"#).at.unwrap();
        let hook = parse_datetime("2026-01-31 10:22:20 -0500").unwrap();
        assert_eq!(z, off);
        assert_eq!(off, hook);
        assert_eq!(off.offset().local_minus_utc(), -5 * 3600);
        assert!(t(r#"{"at":""}"#).at.is_none());
        assert!(serde_json::from_str::<T>(r#"{"at":"yesterday"}"#).is_err());
    }

    #[test]
    fn ids_beyond_two_to_the_53_stay_exact() {
        assert_eq!(
            t(r#"{"id":614942008934401537}"#).id.as_deref(),
            Some("614942008934401537")
        );
        assert_eq!(t(r#"{"id":"inv_1"}"#).id.as_deref(), Some("inv_1"));
        assert_eq!(t(r#"{"id":null}"#).id, None);
    }

    #[test]
    fn amounts_are_exact_decimals() {
        assert_eq!(
            t(r#"{"amount":"6.01425"}"#).amount.unwrap().to_string(),
            "6.01425"
        );
        assert_eq!(
            t(r#"{"amount":"600.9"}"#).amount.unwrap().to_string(),
            "600.9"
        );
        assert_eq!(t(r#"{"amount":""}"#).amount, None);
        assert!(serde_json::from_str::<T>(r#"{"amount":"12,50"}"#).is_err());
        assert_eq!(t(r#"{"day":""}"#).day, None);
        assert_eq!(
            t(r#"{"day":"2026-02-28"}"#).day,
            NaiveDate::from_ymd_opt(2026, 2, 28)
        );
    }
}
