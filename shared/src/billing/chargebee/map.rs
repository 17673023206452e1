//! Chargebee's wire records into the canonical model. Integer minor units become decimals by
//! the currency's exponent (JPY has none, KWD three); Unix seconds become UTC timestamps and
//! dates.

use chrono::{DateTime, FixedOffset, NaiveDate};
use rust_decimal::Decimal;

use super::wire;
use crate::billing::model::{
    from_minor_units, Address, AppliedCredit, Breakout, CatalogEntry, CatalogKind, Consolidation,
    CreditApplication, CreditNote, CreditNoteStatus, Customer, Discount, Invoice, InvoiceStatus,
    Line, LineKind, Payment, PaymentMethod, Refund, Source, Tax, Totals,
};

/// A Chargebee record that cannot be expressed in the canonical model.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Chargebee {record} {id}: {problem}")]
pub struct MapError {
    pub record: &'static str,
    pub id: String,
    pub problem: String,
}

fn text(v: &Option<String>) -> Option<String> {
    v.as_ref()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The invoice's payments the sync books, each with its transaction id: those that succeeded
/// (or carry no status) and name a transaction.
pub(crate) fn settled_payments(
    inv: &wire::Invoice,
) -> impl Iterator<Item = (&wire::LinkedPayment, String)> {
    inv.linked_payments
        .iter()
        .filter(|p| p.txn_status.as_deref().is_none_or(|s| s == "success"))
        .filter_map(|p| Some((p, text(&p.txn_id)?)))
}

pub(crate) fn timestamp(secs: i64) -> Option<DateTime<FixedOffset>> {
    DateTime::from_timestamp(secs, 0).map(|t| t.fixed_offset())
}

fn date(secs: Option<i64>) -> Option<NaiveDate> {
    secs.and_then(timestamp).map(|t| t.date_naive())
}

/// Chargebee sends floats only for rates; read them through their shortest text.
pub(crate) fn rate(v: Option<f64>) -> Option<Decimal> {
    v.and_then(|f| f.to_string().parse().ok())
}

fn address(a: &Option<wire::Address>) -> Option<Address> {
    let a = a.as_ref()?;
    let name = [text(&a.first_name), text(&a.last_name)]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let out = Address {
        // The mapping names the full name, or the company when there is no name.
        addressee: (!name.is_empty())
            .then_some(name)
            .or_else(|| text(&a.company)),
        line1: text(&a.line1),
        line2: text(&a.line2),
        line3: text(&a.line3),
        city: text(&a.city),
        state: text(&a.state_code).or_else(|| text(&a.state)),
        zip: text(&a.zip),
        country: text(&a.country),
        phone: text(&a.phone),
    };
    (!out.is_empty()).then_some(out)
}

pub fn customer(c: &wire::Customer) -> Customer {
    Customer {
        id: c.id.clone(),
        reference: None,
        email: text(&c.email),
        first_name: text(&c.first_name),
        last_name: text(&c.last_name),
        organization: text(&c.company),
        phone: text(&c.phone),
        vat_number: text(&c.vat_number),
        currency: text(&c.preferred_currency_code),
        billing_address: address(&c.billing_address),
        shipping_address: None,
        custom_fields: c
            .other
            .iter()
            .filter(|(k, _)| k.starts_with("cf_"))
            .filter_map(|(k, v)| {
                let value = match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Number(n) => n.to_string(),
                    serde_json::Value::Bool(b) => b.to_string(),
                    _ => return None,
                };
                Some((k.clone(), value))
            })
            .collect(),
    }
}

fn line_kind(l: &wire::LineItem) -> LineKind {
    match l.entity_type.as_deref() {
        Some("plan_item_price" | "plan") => LineKind::Product,
        Some("addon_item_price" | "addon" | "charge_item_price") => LineKind::Component,
        Some("plan_setup") => LineKind::Setup,
        Some("adhoc") | None => LineKind::Custom,
        Some(other) => LineKind::Other(other.to_owned()),
    }
}

fn lines(items: &[wire::LineItem], currency: &str, tax_inclusive: bool) -> Vec<Line> {
    let m = |v: Option<i64>| from_minor_units(v.unwrap_or(0), currency);
    items
        .iter()
        .map(|l| {
            let kind = line_kind(l);
            let entity = text(&l.entity_id);
            let quantity = l
                .quantity_in_decimal
                .as_deref()
                .and_then(|q| q.parse().ok())
                .unwrap_or_else(|| Decimal::from(l.quantity.unwrap_or(1)));
            Line {
                uid: text(&l.id),
                product_id: matches!(kind, LineKind::Product | LineKind::Setup)
                    .then(|| entity.clone())
                    .flatten(),
                component_id: (kind == LineKind::Component)
                    .then(|| entity.clone())
                    .flatten(),
                price_point_id: entity.clone(),
                kind,
                title: text(&l.description)
                    .or_else(|| text(&l.entity_description))
                    .unwrap_or_default(),
                description: text(&l.entity_description),
                quantity,
                unit_price: m(l.unit_amount),
                subtotal: m(l.amount),
                discount: m(l.discount_amount),
                tax: m(l.tax_amount),
                tax_included: tax_inclusive,
                period_start: date(l.date_from),
                period_end: date(l.date_to),
                entity_type: text(&l.entity_type),
            }
        })
        .collect()
}

fn discounts(
    d: &[wire::Discount],
    per_line: &[wire::LineItemDiscount],
    currency: &str,
) -> Vec<Discount> {
    d.iter()
        .map(|x| Discount {
            uid: text(&x.entity_id),
            title: text(&x.description).unwrap_or_else(|| "Discount".into()),
            code: text(&x.entity_id),
            amount: from_minor_units(x.amount.unwrap_or(0), currency),
            breakouts: per_line
                .iter()
                .filter(|b| b.entity_id.is_some() && b.entity_id == x.entity_id)
                .filter_map(|b| {
                    Some(Breakout {
                        line_uid: text(&b.line_item_id)?,
                        amount: from_minor_units(b.discount_amount.unwrap_or(0), currency),
                    })
                })
                .collect(),
        })
        .collect()
}

fn taxes(t: &[wire::Tax], per_line: &[wire::LineItemTax], currency: &str) -> Vec<Tax> {
    t.iter()
        .map(|x| Tax {
            uid: text(&x.name),
            title: text(&x.description)
                .or_else(|| text(&x.name))
                .unwrap_or_else(|| "Tax".into()),
            percentage: None,
            amount: from_minor_units(x.amount.unwrap_or(0), currency),
            breakouts: per_line
                .iter()
                .filter(|b| b.tax_name.is_some() && b.tax_name == x.name)
                .filter_map(|b| {
                    Some(Breakout {
                        line_uid: text(&b.line_item_id)?,
                        amount: from_minor_units(b.tax_amount.unwrap_or(0), currency),
                    })
                })
                .collect(),
        })
        .collect()
}

/// Maps a Chargebee invoice. The customer comes separately (an invoice carries only its id);
/// refunds come from the invoice's credit notes.
pub fn invoice(
    inv: &wire::Invoice,
    customer: Customer,
    refunds: Vec<Refund>,
) -> Result<Invoice, MapError> {
    let err = |problem: &str| MapError {
        record: "invoice",
        id: inv.id.clone(),
        problem: problem.to_owned(),
    };
    let currency = text(&inv.currency_code).ok_or_else(|| err("has no currency_code"))?;
    let issue_date = date(inv.date).ok_or_else(|| err("has no date"))?;
    let status = match inv.status.as_deref() {
        Some("paid") => InvoiceStatus::Paid,
        Some("posted" | "payment_due" | "not_paid") => InvoiceStatus::Open,
        Some("voided") => InvoiceStatus::Voided,
        Some("pending") => InvoiceStatus::Pending,
        other => return Err(err(&format!("unknown status {other:?}"))),
    };
    let tax_inclusive = inv.price_type.as_deref() == Some("tax_inclusive");
    let m = |v: Option<i64>| from_minor_units(v.unwrap_or(0), &currency);
    let day_start = issue_date
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .fixed_offset();
    let discounts = discounts(&inv.discounts, &inv.line_item_discounts, &currency);
    Ok(Invoice {
        source: Source::Chargebee,
        uid: inv.id.clone(),
        number: Some(inv.id.clone()),
        status,
        issue_date,
        due_date: date(inv.due_date),
        paid_date: date(inv.paid_at),
        exchange_rate: rate(inv.exchange_rate),
        consolidation: Consolidation::None,
        parent_uid: None,
        subscription_id: text(&inv.subscription_id),
        po_number: text(&inv.po_number),
        customer: Customer {
            billing_address: address(&inv.billing_address).or(customer.billing_address.clone()),
            shipping_address: address(&inv.shipping_address),
            ..customer
        },
        lines: lines(&inv.line_items, &currency, tax_inclusive),
        taxes: taxes(&inv.taxes, &inv.line_item_taxes, &currency),
        payments: settled_payments(inv)
            .map(|(p, id)| {
                let applied = m(p.applied_amount);
                Payment {
                    id,
                    amount: applied,
                    original_amount: p
                        .txn_amount
                        .map(|a| from_minor_units(a, &currency))
                        .unwrap_or(applied),
                    received_at: p
                        .txn_date
                        .or(p.applied_at)
                        .and_then(timestamp)
                        .unwrap_or(day_start),
                    method: PaymentMethod::Other("chargebee".into()),
                    memo: None,
                    reference: None,
                    prepayment: false,
                    gateway: None,
                    source_type: None,
                    exchange_rate: None,
                }
            })
            .collect(),
        refunds,
        credits: inv
            .applied_credits
            .iter()
            .filter_map(|c| {
                Some(AppliedCredit {
                    credit_note_id: text(&c.cn_id)?,
                    credit_note_number: text(&c.cn_id),
                    amount: m(c.applied_amount),
                    applied_at: c.applied_at.and_then(timestamp),
                })
            })
            .collect(),
        totals: Totals {
            subtotal: m(inv.sub_total),
            discount: discounts.iter().map(|d| d.amount).sum(),
            tax: m(inv.tax),
            round_off: m(inv.round_off_amount),
            total: m(inv.total),
            credited: m(inv.credits_applied),
            paid: m(inv.amount_paid),
            refunded: Decimal::ZERO,
            due: m(inv.amount_due),
        },
        discounts,
        credit_notes: Vec::new(),
        currency,
    })
}

pub fn credit_note(cn: &wire::CreditNote) -> Result<CreditNote, MapError> {
    let err = |problem: &str| MapError {
        record: "credit note",
        id: cn.id.clone(),
        problem: problem.to_owned(),
    };
    let currency = text(&cn.currency_code).ok_or_else(|| err("has no currency_code"))?;
    let issue_date = date(cn.date).ok_or_else(|| err("has no date"))?;
    let m = |v: Option<i64>| from_minor_units(v.unwrap_or(0), &currency);
    let tax_inclusive = cn.price_type.as_deref() == Some("tax_inclusive");
    let status = match cn.status.as_deref() {
        Some("adjusted") => CreditNoteStatus::Applied,
        Some("refunded") => CreditNoteStatus::Refunded,
        Some("refund_due") | None => CreditNoteStatus::Open,
        Some("voided") => CreditNoteStatus::Voided,
        Some(other) => return Err(err(&format!("unknown status {other}"))),
    };
    let day_start = issue_date
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .fixed_offset();
    let discounts = discounts(&cn.discounts, &cn.line_item_discounts, &currency);
    let taxes = taxes(&cn.taxes, &cn.line_item_taxes, &currency);
    Ok(CreditNote {
        source: Source::Chargebee,
        uid: cn.id.clone(),
        number: Some(cn.id.clone()),
        status,
        issue_date,
        customer_id: text(&cn.customer_id).ok_or_else(|| err("names no customer"))?,
        origin_invoice_uids: text(&cn.reference_invoice_id).into_iter().collect(),
        write_off: cn.reason_code.as_deref() == Some("write_off"),
        lines: lines(&cn.line_items, &currency, tax_inclusive),
        subtotal: m(cn.sub_total),
        discount: discounts.iter().map(|d| d.amount).sum(),
        tax: taxes.iter().map(|t| t.amount).sum(),
        total: m(cn.total),
        applied: m(cn.amount_allocated),
        remaining: m(cn.amount_available),
        applications: cn
            .allocations
            .iter()
            .filter_map(|a| {
                Some(CreditApplication {
                    invoice_uid: text(&a.invoice_id)?,
                    amount: m(a.allocated_amount),
                    applied_at: a.allocated_at.and_then(timestamp),
                })
            })
            .collect(),
        refunds: cn
            .linked_refunds
            .iter()
            .filter_map(|r| {
                Some(Refund {
                    id: text(&r.txn_id)?,
                    payment_id: None,
                    amount: m(r.applied_amount),
                    refunded_at: r
                        .txn_date
                        .or(r.applied_at)
                        .and_then(timestamp)
                        .unwrap_or(day_start),
                    memo: None,
                    reference: None,
                    gateway: None,
                    exchange_rate: None,
                })
            })
            .collect(),
        po_number: None,
        discounts,
        taxes,
        currency,
    })
}

/// The catalog entry behind an invoice line: an item price, or a 1.0 plan or add-on.
pub fn item_price(p: &wire::ItemPrice) -> CatalogEntry {
    let a = p.accounting_detail.clone().unwrap_or_default();
    catalog_entry(
        &p.id,
        p.item_type.as_deref() == Some("plan"),
        text(&p.name).or_else(|| text(&p.external_name)),
        text(&p.description).or_else(|| text(&p.external_name)),
        a,
    )
}

pub fn legacy_entry(e: &wire::LegacyCatalogEntry, plan: bool) -> CatalogEntry {
    catalog_entry(
        &e.id,
        plan,
        text(&e.name).or_else(|| text(&e.invoice_name)),
        text(&e.description).or_else(|| text(&e.invoice_name)),
        e.accounting.clone(),
    )
}

fn catalog_entry(
    id: &str,
    plan: bool,
    name: Option<String>,
    description: Option<String>,
    a: wire::AccountingDetail,
) -> CatalogEntry {
    CatalogEntry {
        kind: if plan {
            CatalogKind::Product
        } else {
            CatalogKind::Component
        },
        id: id.to_owned(),
        handle: None,
        name: name.unwrap_or_else(|| id.to_owned()),
        description,
        accounting_code: text(&a.accounting_code),
        category: None,
        sku: text(&a.sku),
        accounting_categories: [
            text(&a.accounting_category1),
            text(&a.accounting_category2),
            text(&a.accounting_category3),
            text(&a.accounting_category4),
        ],
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn inv(json: serde_json::Value) -> wire::Invoice {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn minor_units_follow_the_currency() {
        let base = serde_json::json!({
            "id": "INV-1", "customer_id": "c1", "status": "paid", "price_type": "tax_exclusive",
            "date": 1769900000, "currency_code": "USD", "sub_total": 12345, "tax": 1000, "total": 13345,
            "amount_paid": 13345, "amount_due": 0,
            "line_items": [{"id": "li1", "entity_type": "plan_item_price", "entity_id": "pro-USD-monthly",
                            "quantity": 1, "unit_amount": 12345, "amount": 12345, "tax_amount": 1000, "description": "Pro"}],
            "taxes": [{"name": "VAT", "amount": 1000}],
            "linked_payments": [{"txn_id": "txn_1", "applied_amount": 13345, "txn_status": "success", "txn_date": 1769900100}]
        });
        let i = invoice(
            &inv(base.clone()),
            Customer {
                id: "c1".into(),
                ..Default::default()
            },
            vec![],
        )
        .unwrap();
        assert_eq!(i.totals.total, dec!(133.45));
        assert_eq!(i.lines[0].kind, LineKind::Product);
        assert_eq!(i.lines[0].product_id.as_deref(), Some("pro-USD-monthly"));
        assert_eq!(i.payments[0].amount, dec!(133.45));
        i.validate().unwrap();

        let mut jpy = base;
        jpy["currency_code"] = "JPY".into();
        let i = invoice(
            &inv(jpy),
            Customer {
                id: "c1".into(),
                ..Default::default()
            },
            vec![],
        )
        .unwrap();
        assert_eq!(i.totals.total, dec!(13345));
    }

    #[test]
    fn tax_inclusive_lines_carry_their_tax() {
        let i = invoice(
            &inv(serde_json::json!({
                "id": "INV-2", "status": "paid", "price_type": "tax_inclusive", "date": 1769900000,
                "currency_code": "EUR", "sub_total": 11900, "tax": 1900, "total": 11900,
                "line_items": [{"id": "li1", "entity_type": "adhoc", "quantity": 1, "amount": 11900, "tax_amount": 1900}],
                "taxes": [{"name": "VAT", "amount": 1900}]
            })),
            Customer { id: "c".into(), ..Default::default() },
            vec![],
        )
        .unwrap();
        assert!(i.lines[0].tax_included);
        assert_eq!(i.lines[0].kind, LineKind::Custom);
        i.validate().unwrap();
    }
}
