//! Maxio's wire records into the canonical model.

use chrono::{DateTime, FixedOffset, NaiveTime};
use rust_decimal::Decimal;

use super::wire;
use crate::billing::model::{
    Address, AppliedCredit, Breakout, CatalogEntry, CatalogKind, Consolidation, CreditApplication,
    CreditNote, CreditNoteStatus, Customer, Discount, Invoice, InvoiceStatus, Line, LineKind,
    Payment, PaymentMethod, Refund, Source, Tax, Totals,
};

/// A Maxio record that cannot be expressed in the canonical model.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Maxio {record} {id}: {problem}")]
pub struct MapError {
    pub record: &'static str,
    pub id: String,
    pub problem: String,
}

fn amount(v: Option<Decimal>) -> Decimal {
    v.unwrap_or(Decimal::ZERO)
}

fn text(v: &Option<String>) -> Option<String> {
    v.as_ref()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn address(a: &Option<wire::Address>) -> Option<Address> {
    let a = a.as_ref()?;
    let out = Address {
        addressee: None,
        line1: text(&a.street),
        line2: text(&a.line2),
        line3: None,
        city: text(&a.city),
        state: text(&a.state),
        zip: text(&a.zip),
        country: text(&a.country),
        phone: None,
    };
    (!out.is_empty()).then_some(out)
}

fn status(s: Option<&str>) -> Result<InvoiceStatus, String> {
    Ok(match s.unwrap_or("") {
        "draft" => InvoiceStatus::Draft,
        "open" => InvoiceStatus::Open,
        "paid" => InvoiceStatus::Paid,
        "pending" => InvoiceStatus::Pending,
        "voided" => InvoiceStatus::Voided,
        "canceled" => InvoiceStatus::Canceled,
        "processing" => InvoiceStatus::Processing,
        other => return Err(format!("unknown invoice status `{other}`")),
    })
}

fn consolidation(s: Option<&str>) -> Result<Consolidation, String> {
    Ok(match s.unwrap_or("none") {
        "none" | "" => Consolidation::None,
        "parent" => Consolidation::Parent,
        "child" => Consolidation::Child,
        other => return Err(format!("unknown consolidation level `{other}`")),
    })
}

fn line_kind(l: &wire::LineItem) -> LineKind {
    if l.custom_item == Some(true) {
        return LineKind::Custom;
    }
    match l.kind.as_deref() {
        // Maxio's "initial" charge is the one-off fee taken at signup.
        Some("initial") => LineKind::Setup,
        Some(k) if k.ends_with("_component") => LineKind::Component,
        Some("baseline" | "trial") => LineKind::Product,
        Some(other) if l.component_id.is_none() && l.product_id.is_none() => {
            LineKind::Other(other.to_owned())
        }
        _ if l.component_id.is_some() => LineKind::Component,
        _ if l.product_id.is_some() => LineKind::Product,
        Some(other) => LineKind::Other(other.to_owned()),
        None => LineKind::Custom,
    }
}

fn line(l: &wire::LineItem) -> Line {
    Line {
        uid: text(&l.uid),
        kind: line_kind(l),
        product_id: l.product_id.clone(),
        component_id: l.component_id.clone(),
        price_point_id: l
            .price_point_id
            .clone()
            .or(l.product_price_point_id.clone()),
        title: text(&l.title).unwrap_or_default(),
        description: text(&l.description),
        quantity: l.quantity.unwrap_or(Decimal::ONE),
        unit_price: amount(l.unit_price),
        subtotal: amount(l.subtotal_amount),
        discount: amount(l.discount_amount),
        tax: amount(l.tax_amount),
        tax_included: l.tax_included.unwrap_or(false),
        period_start: l.period_range_start,
        period_end: l.period_range_end,
        entity_type: None,
    }
}

fn discount(d: &wire::Discount) -> Discount {
    Discount {
        uid: text(&d.uid),
        title: text(&d.title).unwrap_or_else(|| "Discount".into()),
        code: text(&d.code),
        amount: amount(d.discount_amount),
        breakouts: d
            .line_item_breakouts
            .iter()
            .filter_map(|b| {
                Some(Breakout {
                    line_uid: text(&b.uid)?,
                    amount: amount(b.discount_amount),
                })
            })
            .collect(),
    }
}

fn tax(t: &wire::Tax) -> Tax {
    Tax {
        uid: text(&t.uid),
        title: text(&t.title).unwrap_or_else(|| "Tax".into()),
        percentage: t.percentage,
        amount: amount(t.tax_amount),
        breakouts: t
            .line_item_breakouts
            .iter()
            .filter_map(|b| {
                Some(Breakout {
                    line_uid: text(&b.uid)?,
                    amount: amount(b.tax_amount),
                })
            })
            .collect(),
    }
}

fn payment_method(m: &Option<wire::PaymentMethod>) -> PaymentMethod {
    match m.as_ref().and_then(|m| m.kind.as_deref()) {
        Some("credit_card") => PaymentMethod::CreditCard,
        Some("bank_account" | "ach") => PaymentMethod::BankAccount,
        Some("paypal_account") => PaymentMethod::PayPal,
        Some("apple_pay") => PaymentMethod::ApplePay,
        Some("check") => PaymentMethod::Check,
        Some("cash") => PaymentMethod::Cash,
        Some("external") => PaymentMethod::External,
        Some(other) => PaymentMethod::Other(other.to_owned()),
        None => PaymentMethod::Other("unknown".into()),
    }
}

/// A payment's time: its transaction time, or the day an external payment was received.
fn payment_time(p: &wire::Payment, fallback: DateTime<FixedOffset>) -> DateTime<FixedOffset> {
    p.transaction_time
        .or_else(|| {
            p.received_on
                .map(|d| d.and_time(NaiveTime::MIN).and_utc().fixed_offset())
        })
        .unwrap_or(fallback)
}

fn customer_from_invoice(inv: &wire::Invoice) -> Customer {
    let c = inv.customer.clone().unwrap_or_default();
    Customer {
        id: c
            .chargify_id
            .clone()
            .or_else(|| inv.customer_id.clone())
            .unwrap_or_default(),
        reference: text(&c.reference),
        email: text(&c.email),
        first_name: text(&c.first_name),
        last_name: text(&c.last_name),
        organization: text(&c.organization),
        phone: None,
        vat_number: text(&c.vat_number),
        currency: text(&inv.currency),
        billing_address: address(&inv.billing_address),
        shipping_address: address(&inv.shipping_address),
        custom_fields: Default::default(),
    }
}

/// Maps a Maxio invoice (with its detail) into the canonical model.
pub fn invoice(inv: &wire::Invoice) -> Result<Invoice, MapError> {
    let uid = text(&inv.uid).ok_or_else(|| MapError {
        record: "invoice",
        id: inv.id.clone().unwrap_or_else(|| "?".into()),
        problem: "has no uid".into(),
    })?;
    let err = |problem: String| MapError {
        record: "invoice",
        id: uid.clone(),
        problem,
    };
    let issue_date = inv
        .issue_date
        .ok_or_else(|| err("has no issue_date".into()))?;
    let currency = text(&inv.currency).ok_or_else(|| err("has no currency".into()))?;
    let status = status(inv.status.as_deref()).map_err(&err)?;
    let consolidation = consolidation(inv.consolidation_level.as_deref()).map_err(&err)?;
    let day_start = issue_date.and_time(NaiveTime::MIN).and_utc().fixed_offset();

    let customer = customer_from_invoice(inv);
    if customer.id.is_empty() {
        return Err(err("names no customer".into()));
    }
    let payments = inv
        .payments
        .iter()
        .map(|p| {
            let id = p
                .transaction_id
                .clone()
                .or_else(|| text(&p.uid))
                .ok_or_else(|| err("has a payment without a transaction id".into()))?;
            let applied = amount(p.applied_amount.or(p.original_amount));
            Ok(Payment {
                id,
                amount: applied,
                original_amount: p.original_amount.unwrap_or(applied),
                received_at: payment_time(p, day_start),
                method: payment_method(&p.payment_method),
                memo: text(&p.memo),
                reference: text(&p.gateway_transaction_id),
                prepayment: p.prepayment.unwrap_or(false),
                gateway: None,
                source_type: None,
                exchange_rate: None,
            })
        })
        .collect::<Result<Vec<_>, MapError>>()?;
    let refunds = inv
        .refunds
        .iter()
        .map(|r| {
            let id = r
                .transaction_id
                .clone()
                .ok_or_else(|| err("has a refund without a transaction id".into()))?;
            let applied = amount(r.applied_amount.or(r.original_amount));
            Ok(Refund {
                id,
                payment_id: r.payment_id.clone(),
                amount: applied,
                refunded_at: r.transaction_time.unwrap_or(day_start),
                memo: text(&r.memo),
                reference: text(&r.gateway_transaction_id),
                gateway: None,
                exchange_rate: None,
            })
        })
        .collect::<Result<Vec<_>, MapError>>()?;
    let credits = inv
        .credits
        .iter()
        .map(|c| {
            let id = text(&c.credit_note_uid)
                .ok_or_else(|| err("has a credit without a credit note uid".into()))?;
            Ok(AppliedCredit {
                credit_note_id: id,
                credit_note_number: text(&c.credit_note_number),
                amount: amount(c.applied_amount.or(c.original_amount)),
                applied_at: c.transaction_time,
            })
        })
        .collect::<Result<Vec<_>, MapError>>()?;

    Ok(Invoice {
        source: Source::Maxio,
        uid,
        number: text(&inv.number),
        status,
        issue_date,
        due_date: inv.due_date,
        paid_date: inv.paid_date,
        currency,
        exchange_rate: None,
        consolidation,
        parent_uid: text(&inv.parent_invoice_uid),
        subscription_id: inv.subscription_id.clone(),
        // Maxio has no PO field on the invoice; merchants keep it in a custom field.
        po_number: inv
            .custom_fields
            .iter()
            .find(|f| {
                f.name.as_deref().is_some_and(|n| {
                    n.eq_ignore_ascii_case("po number") || n.eq_ignore_ascii_case("po_number")
                })
            })
            .and_then(|f| text(&f.value)),
        customer,
        lines: inv.line_items.iter().map(line).collect(),
        discounts: inv.discounts.iter().map(discount).collect(),
        taxes: inv.taxes.iter().map(tax).collect(),
        payments,
        refunds,
        credits,
        totals: Totals {
            subtotal: amount(inv.subtotal_amount),
            discount: amount(inv.discount_amount),
            tax: amount(inv.tax_amount),
            round_off: Decimal::ZERO,
            total: amount(inv.total_amount),
            credited: amount(inv.credit_amount),
            paid: amount(inv.paid_amount),
            refunded: amount(inv.refund_amount),
            due: amount(inv.due_amount),
        },
        credit_notes: Vec::new(),
    })
}

/// Maps a Maxio credit note into the canonical model.
pub fn credit_note(cn: &wire::CreditNote) -> Result<CreditNote, MapError> {
    let uid = text(&cn.uid).ok_or_else(|| MapError {
        record: "credit note",
        id: cn.number.clone().unwrap_or_else(|| "?".into()),
        problem: "has no uid".into(),
    })?;
    let err = |problem: &str| MapError {
        record: "credit note",
        id: uid.clone(),
        problem: problem.to_owned(),
    };
    let issue_date = cn.issue_date.ok_or_else(|| err("has no issue_date"))?;
    let currency = text(&cn.currency).ok_or_else(|| err("has no currency"))?;
    let customer_id = cn
        .customer_id
        .clone()
        .or_else(|| cn.customer.as_ref().and_then(|c| c.chargify_id.clone()))
        .ok_or_else(|| err("names no customer"))?;
    let status = match cn.status.as_deref() {
        Some("open") | None => CreditNoteStatus::Open,
        Some("applied") => CreditNoteStatus::Applied,
        Some("refunded") => CreditNoteStatus::Refunded,
        Some("voided") => CreditNoteStatus::Voided,
        Some(other) => return Err(err(&format!("unknown status `{other}`"))),
    };
    let day_start = issue_date.and_time(NaiveTime::MIN).and_utc().fixed_offset();
    Ok(CreditNote {
        source: Source::Maxio,
        uid,
        number: text(&cn.number),
        status,
        issue_date,
        currency,
        customer_id,
        origin_invoice_uids: cn
            .origin_invoices
            .iter()
            .filter_map(|o| text(&o.uid))
            .collect(),
        lines: cn.line_items.iter().map(line).collect(),
        discounts: cn.discounts.iter().map(discount).collect(),
        taxes: cn.taxes.iter().map(tax).collect(),
        subtotal: amount(cn.subtotal_amount),
        discount: amount(cn.discount_amount),
        tax: amount(cn.tax_amount),
        total: amount(cn.total_amount),
        applied: amount(cn.applied_amount),
        remaining: amount(cn.remaining_amount),
        applications: cn
            .applications
            .iter()
            .filter_map(|a| {
                Some(CreditApplication {
                    invoice_uid: text(&a.invoice_uid)?,
                    amount: amount(a.applied_amount),
                    applied_at: a.transaction_time,
                })
            })
            .collect(),
        refunds: cn
            .refunds
            .iter()
            .filter_map(|r| {
                Some(Refund {
                    id: r.transaction_id.clone()?,
                    payment_id: r.payment_id.clone(),
                    amount: amount(r.applied_amount.or(r.original_amount)),
                    refunded_at: r.transaction_time.unwrap_or(day_start),
                    memo: text(&r.memo),
                    reference: text(&r.gateway_transaction_id),
                    gateway: None,
                    exchange_rate: None,
                })
            })
            .collect(),
        po_number: None,
        write_off: false,
    })
}

/// Maps a Maxio customer record (flat address) into the canonical model.
pub fn customer(c: &wire::Customer) -> Result<Customer, MapError> {
    let id = c.id.clone().ok_or_else(|| MapError {
        record: "customer",
        id: c.reference.clone().unwrap_or_else(|| "?".into()),
        problem: "has no id".into(),
    })?;
    let addr = Address {
        addressee: None,
        line1: text(&c.address),
        line2: text(&c.address_2),
        line3: None,
        city: text(&c.city),
        state: text(&c.state),
        zip: text(&c.zip),
        country: text(&c.country),
        phone: text(&c.phone),
    };
    Ok(Customer {
        id,
        reference: text(&c.reference),
        email: text(&c.email),
        first_name: text(&c.first_name),
        last_name: text(&c.last_name),
        organization: text(&c.organization),
        phone: text(&c.phone),
        vat_number: text(&c.vat_number),
        currency: None,
        billing_address: (!addr.is_empty()).then_some(addr),
        shipping_address: None,
        custom_fields: Default::default(),
    })
}

pub fn product(p: &wire::Product) -> Option<CatalogEntry> {
    Some(CatalogEntry {
        kind: CatalogKind::Product,
        id: p.id.clone()?,
        handle: text(&p.handle),
        name: text(&p.name).unwrap_or_default(),
        description: text(&p.description),
        accounting_code: text(&p.accounting_code),
        category: text(&p.item_category),
        sku: None,
        accounting_categories: Default::default(),
    })
}

pub fn component(c: &wire::Component) -> Option<CatalogEntry> {
    Some(CatalogEntry {
        kind: CatalogKind::Component,
        id: c.id.clone()?,
        handle: text(&c.handle),
        name: text(&c.name).unwrap_or_default(),
        description: text(&c.description),
        accounting_code: text(&c.accounting_code),
        category: text(&c.item_category),
        sku: None,
        accounting_categories: Default::default(),
    })
}
