//! The canonical billing model: what any billing source (Maxio Advanced Billing, Chargebee)
//! is translated into before the sync engine looks at it.
//!
//! Amounts are `Decimal`, kept exactly as the source states them: Maxio's line-level tax and
//! discount apportionments may carry more than two decimals, Chargebee's integer minor units
//! become decimals by the currency's exponent. Rounding to cents happens in one place,
//! [`to_cents`], and only where NetSuite needs cents.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Which billing system a record came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Maxio,
    Chargebee,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Maxio => "maxio",
            Source::Chargebee => "chargebee",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub use crate::money::to_cents;

/// Minor-unit exponent of an ISO 4217 currency: 2 for most, 0 for JPY/KRW and friends, 3 for
/// the dinars. Chargebee sends integer minor units, so this decides where the point goes.
pub fn currency_exponent(code: &str) -> u32 {
    match code.to_ascii_uppercase().as_str() {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// Integer minor units (Chargebee) to a decimal amount in the currency's major unit.
pub fn from_minor_units(minor: i64, currency: &str) -> Decimal {
    Decimal::new(minor, currency_exponent(currency))
}

/// A postal address as billing systems hold it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// Who the address is for (Chargebee's full name or company).
    pub addressee: Option<String>,
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub line3: Option<String>,
    pub city: Option<String>,
    /// State or province code.
    pub state: Option<String>,
    pub zip: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    pub phone: Option<String>,
}

impl Address {
    /// Billing systems send empty strings for unset fields; an address with nothing in it is
    /// no address.
    pub fn is_empty(&self) -> bool {
        [
            &self.line1,
            &self.line2,
            &self.line3,
            &self.city,
            &self.state,
            &self.zip,
            &self.country,
        ]
        .iter()
        .all(|f| f.as_deref().is_none_or(|s| s.trim().is_empty()))
    }
}

/// A billing customer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// The billing system's id (Maxio's numeric id as text, Chargebee's customer id).
    pub id: String,
    /// The merchant's own reference for the customer, when set.
    pub reference: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub organization: Option<String>,
    pub phone: Option<String>,
    pub vat_number: Option<String>,
    /// Preferred currency, when the source has one.
    pub currency: Option<String>,
    pub billing_address: Option<Address>,
    pub shipping_address: Option<Address>,
    /// The source's custom fields (Chargebee `cf_*`), for customer-level tracking.
    #[serde(default)]
    pub custom_fields: BTreeMap<String, String>,
}

impl Customer {
    /// A company when an organization name is present; otherwise a person.
    pub fn is_person(&self) -> bool {
        self.organization
            .as_deref()
            .is_none_or(|o| o.trim().is_empty())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    Draft,
    Open,
    Paid,
    Pending,
    Voided,
    Canceled,
    Processing,
}

/// Subscription groups bill either one consolidated (parent) invoice or one segment (child)
/// per subscription; a tenant syncs one of the two, never both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Consolidation {
    None,
    Parent,
    Child,
}

/// What kind of charge a line is, which decides how its NetSuite item is chosen.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "detail")]
pub enum LineKind {
    /// A product (plan) charge.
    Product,
    /// A component (add-on, usage, quantity) charge.
    Component,
    /// A one-off setup or activation fee.
    Setup,
    /// An ad-hoc or custom charge with no catalog entry.
    Custom,
    /// Anything else the source names (kept so nothing is silently dropped).
    Other(String),
}

/// One invoice or credit-note line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub uid: Option<String>,
    pub kind: LineKind,
    pub product_id: Option<String>,
    pub component_id: Option<String>,
    pub price_point_id: Option<String>,
    pub title: String,
    pub description: Option<String>,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    /// The line amount before discount and tax: the canonical line figure.
    pub subtotal: Decimal,
    /// This line's share of the invoice discounts (may carry more than two decimals).
    pub discount: Decimal,
    /// This line's tax (may carry more than two decimals).
    pub tax: Decimal,
    /// The amount already includes tax (tax-inclusive pricing).
    pub tax_included: bool,
    pub period_start: Option<NaiveDate>,
    pub period_end: Option<NaiveDate>,
    /// Where the source keeps the line's catalog entry (Chargebee's `entity_type`, e.g.
    /// `plan_item_price`), when it says.
    #[serde(default)]
    pub entity_type: Option<String>,
}

/// A discount on the invoice, with its split over lines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discount {
    pub uid: Option<String>,
    pub title: String,
    pub code: Option<String>,
    pub amount: Decimal,
    pub breakouts: Vec<Breakout>,
}

/// A tax on the invoice, with its split over lines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tax {
    pub uid: Option<String>,
    pub title: String,
    pub percentage: Option<Decimal>,
    pub amount: Decimal,
    pub breakouts: Vec<Breakout>,
}

/// The part of a discount or tax that falls on one line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breakout {
    pub line_uid: String,
    pub amount: Decimal,
}

/// How a payment was made, as far as the accounting side cares.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    CreditCard,
    BankAccount,
    PayPal,
    ApplePay,
    Check,
    Cash,
    External,
    Other(String),
}

/// Money received against an invoice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// The source's transaction id: the key for the NetSuite payment's external id.
    pub id: String,
    /// The part of the payment applied to this invoice.
    pub amount: Decimal,
    /// The whole payment (larger when one payment is split across invoices).
    pub original_amount: Decimal,
    pub received_at: DateTime<FixedOffset>,
    pub method: PaymentMethod,
    pub memo: Option<String>,
    /// The gateway's or the bank's reference, for the check number/memo.
    pub reference: Option<String>,
    pub prepayment: bool,
    /// The payment gateway (e.g. `stripe`), which with the currency can pick the bank account.
    #[serde(default)]
    pub gateway: Option<String>,
    /// How the customer paid as the source names it (Chargebee `card`, `bank_transfer`, ...),
    /// which with the gateway can pick the NetSuite payment method.
    #[serde(default)]
    pub source_type: Option<String>,
    /// The rate of the transaction itself, where the source states one.
    #[serde(default)]
    pub exchange_rate: Option<Decimal>,
}

/// Money returned to the customer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub id: String,
    /// The payment refunded, when the source links one.
    pub payment_id: Option<String>,
    pub amount: Decimal,
    pub refunded_at: DateTime<FixedOffset>,
    pub memo: Option<String>,
    pub reference: Option<String>,
    /// The gateway that paid it out, which with the currency picks the account.
    #[serde(default)]
    pub gateway: Option<String>,
    /// The rate of the refund transaction itself, where the source states one.
    #[serde(default)]
    pub exchange_rate: Option<Decimal>,
}

impl Invoice {
    /// Every refund the invoice carries: its own and those of its credit notes.
    pub fn refunds_mut(&mut self) -> impl Iterator<Item = &mut Refund> {
        self.refunds.iter_mut().chain(
            self.credit_notes
                .iter_mut()
                .flat_map(|cn| cn.refunds.iter_mut()),
        )
    }
}

/// A credit note applied to this invoice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedCredit {
    pub credit_note_id: String,
    pub credit_note_number: Option<String>,
    pub amount: Decimal,
    pub applied_at: Option<DateTime<FixedOffset>>,
}

/// An invoice's headline figures as the source states them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub subtotal: Decimal,
    pub discount: Decimal,
    pub tax: Decimal,
    /// The rounding adjustment the source added to reach the total (Chargebee
    /// `round_off_amount`, signed): part of what the customer owes.
    #[serde(default)]
    pub round_off: Decimal,
    pub total: Decimal,
    pub credited: Decimal,
    pub paid: Decimal,
    pub refunded: Decimal,
    pub due: Decimal,
}

/// A billing invoice with everything the sync needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    pub source: Source,
    /// Stable key: Maxio's `inv_…` uid (its numeric id does not fit a JS number), Chargebee's
    /// invoice id.
    pub uid: String,
    /// Customer-facing number.
    pub number: Option<String>,
    pub status: InvoiceStatus,
    pub issue_date: NaiveDate,
    pub due_date: Option<NaiveDate>,
    pub paid_date: Option<NaiveDate>,
    pub currency: String,
    /// Exchange rate to the site's base currency, when the source gives one.
    pub exchange_rate: Option<Decimal>,
    pub consolidation: Consolidation,
    pub parent_uid: Option<String>,
    pub subscription_id: Option<String>,
    pub po_number: Option<String>,
    pub customer: Customer,
    pub lines: Vec<Line>,
    pub discounts: Vec<Discount>,
    pub taxes: Vec<Tax>,
    pub payments: Vec<Payment>,
    pub refunds: Vec<Refund>,
    pub credits: Vec<AppliedCredit>,
    pub totals: Totals,
    /// Credit notes the source read together with the invoice (Chargebee), so the flow does
    /// not read them again; empty when the source reads them on demand.
    #[serde(default)]
    pub credit_notes: Vec<CreditNote>,
}

/// Where a credit note went.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditApplication {
    pub invoice_uid: String,
    pub amount: Decimal,
    pub applied_at: Option<DateTime<FixedOffset>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CreditNoteStatus {
    Open,
    Applied,
    Refunded,
    Voided,
}

/// A credit note: money owed back to the customer, applied to invoices or refunded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditNote {
    pub source: Source,
    pub uid: String,
    pub number: Option<String>,
    pub status: CreditNoteStatus,
    pub issue_date: NaiveDate,
    pub currency: String,
    pub customer_id: String,
    /// The invoices the credit note was raised against.
    pub origin_invoice_uids: Vec<String>,
    pub lines: Vec<Line>,
    pub discounts: Vec<Discount>,
    pub taxes: Vec<Tax>,
    pub subtotal: Decimal,
    pub discount: Decimal,
    pub tax: Decimal,
    pub total: Decimal,
    pub applied: Decimal,
    pub remaining: Decimal,
    pub applications: Vec<CreditApplication>,
    pub refunds: Vec<Refund>,
    /// The purchase order number of the invoice it was raised on, where the source gives it.
    #[serde(default)]
    pub po_number: Option<String>,
    /// A bad-debt write-off (Chargebee reason `write_off`): booked on the bad-debt item.
    #[serde(default)]
    pub write_off: bool,
}

impl CreditNote {
    /// What billing applied of this note to one invoice.
    pub fn applied_to(&self, invoice_uid: &str) -> Decimal {
        self.applications
            .iter()
            .filter(|a| a.invoice_uid == invoice_uid)
            .map(|a| a.amount)
            .sum()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CatalogKind {
    Product,
    Component,
}

/// A product or component: what a tenant maps to a NetSuite item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogEntry {
    pub kind: CatalogKind,
    pub id: String,
    pub handle: Option<String>,
    pub name: String,
    pub description: Option<String>,
    /// The merchant's accounting code (Maxio: "Internal ID or SKU").
    pub accounting_code: Option<String>,
    /// Maxio's item category, e.g. "Physical Goods".
    pub category: Option<String>,
    /// Stock-keeping unit (Chargebee's `accounting_detail.sku`): preferred as the item's name.
    #[serde(default)]
    pub sku: Option<String>,
    /// Chargebee's accounting categories 1-4: class, location, department, revenue rule.
    #[serde(default)]
    pub accounting_categories: [Option<String>; 4],
}

/// One figure that does not add up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mismatch {
    /// Which figure, e.g. "total_amount" or "discount dli_1 line breakouts".
    pub figure: String,
    /// What the parts add up to.
    pub computed: Decimal,
    /// What the source states.
    pub stated: Decimal,
}

impl Mismatch {
    pub fn difference(&self) -> Decimal {
        self.stated - self.computed
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: the parts add up to {} but the invoice states {} (off by {})",
            self.figure,
            self.computed,
            self.stated,
            self.difference()
        )
    }
}

/// An invoice whose figures do not add up: reported, never "fixed".
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invoice {uid} does not add up: {}", .mismatches.iter().map(|m| m.to_string()).collect::<Vec<_>>().join("; "))]
pub struct InconsistentInvoice {
    pub uid: String,
    pub mismatches: Vec<Mismatch>,
}

fn check(
    mismatches: &mut Vec<Mismatch>,
    figure: impl Into<String>,
    computed: Decimal,
    stated: Decimal,
) {
    if computed != stated {
        mismatches.push(Mismatch {
            figure: figure.into(),
            computed,
            stated,
        });
    }
}

/// Line-level apportionments may carry fractions of a cent; they must agree with the stated
/// 2-decimal figure once rounded by [`to_cents`].
fn check_rounded(
    mismatches: &mut Vec<Mismatch>,
    figure: impl Into<String>,
    computed: Decimal,
    stated: Decimal,
) {
    if to_cents(computed) != to_cents(stated) {
        mismatches.push(Mismatch {
            figure: figure.into(),
            computed,
            stated,
        });
    }
}

impl Invoice {
    /// Checks that the parts add up to the stated totals. Every disagreement is reported with
    /// the figure and both values; nothing is adjusted.
    pub fn validate(&self) -> Result<(), InconsistentInvoice> {
        let mut m = Vec::new();
        let t = &self.totals;
        let sum = |it: &mut dyn Iterator<Item = Decimal>| it.fold(Decimal::ZERO, |a, b| a + b);

        // A consolidated parent carries no lines: its figures aggregate its segments.
        if self.consolidation != Consolidation::Parent || !self.lines.is_empty() {
            check(
                &mut m,
                "subtotal_amount (sum of line subtotals)",
                sum(&mut self.lines.iter().map(|l| l.subtotal)),
                t.subtotal,
            );
            check_rounded(
                &mut m,
                "discount_amount (sum of line discounts)",
                sum(&mut self.lines.iter().map(|l| l.discount)),
                t.discount,
            );
            check_rounded(
                &mut m,
                "tax_amount (sum of line taxes)",
                sum(&mut self.lines.iter().map(|l| l.tax)),
                t.tax,
            );
        }
        if !self.discounts.is_empty() {
            check(
                &mut m,
                "discount_amount (sum of discounts)",
                sum(&mut self.discounts.iter().map(|d| d.amount)),
                t.discount,
            );
        }
        if !self.taxes.is_empty() {
            check(
                &mut m,
                "tax_amount (sum of taxes)",
                sum(&mut self.taxes.iter().map(|x| x.amount)),
                t.tax,
            );
        }
        for d in &self.discounts {
            if !d.breakouts.is_empty() {
                let label = format!(
                    "discount {} (sum of line breakouts)",
                    d.uid.as_deref().unwrap_or(&d.title)
                );
                check_rounded(
                    &mut m,
                    label,
                    sum(&mut d.breakouts.iter().map(|b| b.amount)),
                    d.amount,
                );
            }
        }
        for x in &self.taxes {
            if !x.breakouts.is_empty() {
                let label = format!(
                    "tax {} (sum of line breakouts)",
                    x.uid.as_deref().unwrap_or(&x.title)
                );
                check_rounded(
                    &mut m,
                    label,
                    sum(&mut x.breakouts.iter().map(|b| b.amount)),
                    x.amount,
                );
            }
        }
        // Tax-inclusive prices already contain the tax.
        let tax_on_top = if self.lines.iter().any(|l| l.tax_included) {
            Decimal::ZERO
        } else {
            t.tax
        };
        check(
            &mut m,
            "total_amount (subtotal - discount + tax + round-off)",
            t.subtotal - t.discount + tax_on_top + t.round_off,
            t.total,
        );
        if m.is_empty() {
            Ok(())
        } else {
            Err(InconsistentInvoice {
                uid: self.uid.clone(),
                mismatches: m,
            })
        }
    }

    /// True when the invoice asks for no money at all before discounts (a trial or a free
    /// plan), as opposed to a fully discounted one.
    pub fn is_zero_dollar(&self) -> bool {
        self.totals.total.is_zero() && self.totals.subtotal.is_zero()
    }

    pub fn is_fully_discounted(&self) -> bool {
        self.totals.total.is_zero() && !self.totals.subtotal.is_zero()
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn line(uid: &str, subtotal: Decimal, discount: Decimal, tax: Decimal) -> Line {
        Line {
            uid: Some(uid.into()),
            kind: LineKind::Product,
            product_id: Some("1".into()),
            component_id: None,
            price_point_id: None,
            title: "Pro".into(),
            description: None,
            quantity: dec!(1),
            unit_price: subtotal,
            subtotal,
            discount,
            tax,
            tax_included: false,
            period_start: None,
            period_end: None,
            entity_type: None,
        }
    }

    fn invoice() -> Invoice {
        Invoice {
            source: Source::Maxio,
            uid: "inv_1".into(),
            number: Some("1001".into()),
            status: InvoiceStatus::Open,
            issue_date: NaiveDate::from_ymd_opt(2026, 1, 31).unwrap(),
            due_date: None,
            paid_date: None,
            currency: "USD".into(),
            exchange_rate: None,
            consolidation: Consolidation::None,
            parent_uid: None,
            subscription_id: None,
            po_number: None,
            customer: Customer::default(),
            lines: vec![
                line("li_1", dec!(100.00), dec!(6.01425), dec!(7.5)),
                line("li_2", dec!(20.00), dec!(1.20285), dec!(1.5)),
            ],
            discounts: vec![Discount {
                uid: Some("dli_1".into()),
                title: "10% coupon".into(),
                code: Some("TEN".into()),
                amount: dec!(7.22),
                breakouts: vec![
                    Breakout {
                        line_uid: "li_1".into(),
                        amount: dec!(6.01425),
                    },
                    Breakout {
                        line_uid: "li_2".into(),
                        amount: dec!(1.20285),
                    },
                ],
            }],
            taxes: vec![],
            payments: vec![],
            refunds: vec![],
            credits: vec![],
            totals: Totals {
                subtotal: dec!(120.00),
                discount: dec!(7.22),
                tax: dec!(9.00),
                total: dec!(121.78),
                due: dec!(121.78),
                ..Default::default()
            },
            credit_notes: vec![],
        }
    }

    #[test]
    fn a_consistent_invoice_validates() {
        invoice().validate().unwrap();
    }

    #[test]
    fn a_wrong_total_is_reported_with_figure_and_difference() {
        let mut inv = invoice();
        inv.totals.total = dec!(121.79);
        let err = inv.validate().unwrap_err();
        assert_eq!(err.mismatches.len(), 1);
        let m = &err.mismatches[0];
        assert!(m.figure.starts_with("total_amount"));
        assert_eq!(
            (m.computed, m.stated, m.difference()),
            (dec!(121.78), dec!(121.79), dec!(0.01))
        );
        assert!(err.to_string().contains("off by 0.01"), "{err}");
        // Nothing was "fixed".
        assert_eq!(inv.totals.total, dec!(121.79));
    }

    #[test]
    fn every_mismatch_is_listed() {
        let mut inv = invoice();
        inv.lines[1].subtotal = dec!(21.00);
        inv.discounts[0].breakouts[1].amount = dec!(2.00);
        let err = inv.validate().unwrap_err();
        let figures: Vec<_> = err.mismatches.iter().map(|m| m.figure.as_str()).collect();
        assert!(
            figures.iter().any(|f| f.starts_with("subtotal_amount")),
            "{figures:?}"
        );
        assert!(
            figures.iter().any(|f| f.starts_with("discount dli_1")),
            "{figures:?}"
        );
    }

    #[test]
    fn rounding_rule_and_minor_units() {
        assert_eq!(to_cents(dec!(6.01425)), dec!(6.01));
        assert_eq!(to_cents(dec!(0.005)), dec!(0.01));
        assert_eq!(to_cents(dec!(-0.005)), dec!(-0.01));
        assert_eq!(to_cents(dec!(2.675)), dec!(2.68));
        assert_eq!(from_minor_units(12345, "USD"), dec!(123.45));
        assert_eq!(from_minor_units(12345, "JPY"), dec!(12345));
        assert_eq!(from_minor_units(12345, "KWD"), dec!(12.345));
    }

    #[test]
    fn zero_dollar_versus_fully_discounted() {
        let mut inv = invoice();
        inv.totals = Totals {
            subtotal: dec!(50),
            discount: dec!(50),
            total: dec!(0),
            ..Default::default()
        };
        assert!(inv.is_fully_discounted() && !inv.is_zero_dollar());
        inv.totals.subtotal = dec!(0);
        inv.totals.discount = dec!(0);
        assert!(inv.is_zero_dollar() && !inv.is_fully_discounted());
    }
}
