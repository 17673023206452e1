//! JSON as Maxio sends it, built from the stored records. Key sets, nesting and value types
//! follow the SDK models as the fixtures in `fixtures/maxio/` show them: amounts are strings
//! (`money::fmt`), ids integers, dates `YYYY-MM-DD`, datetimes with the site's offset. Keys the
//! SDK leaves out when unset are left out here too (an ad-hoc line's `kind`, a VAT breakout's
//! `subdivision_code`, an open credit note's `applied_date`).

use chrono::Duration;
use serde_json::{json, Map, Value};

use crate::{
    clock,
    model::*,
    money::{fmt, in_cents},
    Address, PaymentKind,
};

/// Which detail arrays an invoice carries. The index endpoint sends only totals unless asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Detail {
    pub line_items: bool,
    pub discounts: bool,
    pub taxes: bool,
    pub credits: bool,
    pub payments: bool,
    pub refunds: bool,
    pub custom_fields: bool,
}

impl Detail {
    pub const FULL: Detail = Detail {
        line_items: true,
        discounts: true,
        taxes: true,
        credits: true,
        payments: true,
        refunds: true,
        custom_fields: true,
    };
    pub const NONE: Detail = Detail {
        line_items: false,
        discounts: false,
        taxes: false,
        credits: false,
        payments: false,
        refunds: false,
        custom_fields: false,
    };
}

fn dt(t: &Time) -> Value {
    Value::String(clock::api(t))
}

fn opt<T: Into<Value>>(v: Option<T>) -> Value {
    v.map(Into::into).unwrap_or(Value::Null)
}

fn address(a: Option<&Address>) -> Value {
    match a {
        Some(a) => json!({
            "street": a.street,
            "line2": a.line2,
            "city": a.city,
            "state": a.state,
            "zip": a.zip,
            "country": a.country,
        }),
        None => json!({
            "street": null, "line2": null, "city": null, "state": null, "zip": null, "country": null,
        }),
    }
}

fn seller() -> Value {
    json!({
        "name": SELLER_NAME,
        "address": {
            "street": "500 Harbor Boulevard",
            "line2": "Suite 1200",
            "city": "Boston",
            "state": "MA",
            "zip": "02210",
            "country": "US",
        },
        "phone": "+1 617-555-0100",
        "logo_url": null,
    })
}

fn invoice_customer(c: &CustomerRec) -> Value {
    json!({
        "chargify_id": c.id,
        "first_name": c.first_name,
        "last_name": c.last_name,
        "organization": c.organization,
        "email": c.email,
        "vat_number": c.vat_number,
        "reference": c.reference,
    })
}

fn payer(c: &CustomerRec) -> Value {
    json!({
        "chargify_id": c.id,
        "first_name": c.first_name,
        "last_name": c.last_name,
        "organization": c.organization,
        "email": c.email,
        "vat_number": c.vat_number,
    })
}

/// The fields invoice lines and credit-note lines share.
fn line_common(l: &LineRec) -> Map<String, Value> {
    let comp = l.component.as_ref();
    let mut m = Map::new();
    m.insert("uid".into(), json!(l.uid));
    m.insert("title".into(), json!(l.title));
    m.insert("description".into(), json!(l.description));
    m.insert("quantity".into(), json!(fmt(l.quantity)));
    m.insert("unit_price".into(), json!(fmt(l.unit_price)));
    m.insert("subtotal_amount".into(), json!(fmt(l.subtotal)));
    m.insert("discount_amount".into(), json!(fmt(l.discount)));
    m.insert("tax_amount".into(), json!(fmt(l.tax)));
    m.insert(
        "total_amount".into(),
        json!(fmt(l.subtotal - l.discount + l.tax)),
    );
    m.insert("tax_included".into(), json!(false));
    m.insert("tiered_unit_price".into(), json!(false));
    m.insert(
        "period_range_start".into(),
        json!(clock::day(&l.period_start)),
    );
    m.insert("period_range_end".into(), json!(clock::day(&l.period_end)));
    m.insert("product_id".into(), json!(l.product_id));
    m.insert("product_version".into(), json!(l.product_version));
    m.insert("component_id".into(), opt(comp.map(|c| c.id)));
    m.insert("price_point_id".into(), opt(comp.map(|c| c.price_point_id)));
    m.insert("billing_schedule_item_id".into(), Value::Null);
    m.insert("custom_item".into(), json!(l.custom));
    m
}

fn invoice_line(l: &LineRec) -> Value {
    let mut m = line_common(l);
    m.insert("transaction_id".into(), json!(l.transaction_id));
    m.insert("hide".into(), json!(false));
    m.insert(
        "product_price_point_id".into(),
        opt(l.product_price_point_id),
    );
    if let Some(kind) = l.kind {
        m.insert("kind".into(), json!(kind));
    }
    if let Some(c) = &l.component {
        m.insert(
            "component_cost_data".into(),
            json!({
                "rates": [{
                    "component_code_id": null,
                    "price_point_id": c.price_point_id,
                    "product_id": l.product_id,
                    "quantity": fmt(l.quantity),
                    "amount": fmt(l.subtotal),
                    "pricing_scheme": "per_unit",
                    "tiers": [{
                        "starting_quantity": 1,
                        "ending_quantity": null,
                        "quantity": fmt(l.quantity),
                        "unit_price": fmt(l.unit_price),
                        "amount": fmt(l.subtotal),
                    }],
                }],
            }),
        );
    }
    Value::Object(m)
}

fn discount(d: &DiscountRec, lines: &[LineRec], amount: rust_decimal::Decimal) -> Value {
    let (kind, pct) = match &d.kind {
        DiscountKind::Percentage(p) => ("percentage", json!(fmt(*p))),
        DiscountKind::Flat(_) => ("flat_amount", Value::Null),
    };
    let eligible: rust_decimal::Decimal = lines.iter().map(|l| l.subtotal).sum();
    json!({
        "uid": d.uid,
        "title": d.title,
        "description": null,
        "code": d.code,
        "source_type": "Coupon",
        "source_id": d.source_id,
        "discount_type": kind,
        "percentage": pct,
        "eligible_amount": fmt(eligible),
        "discount_amount": fmt(amount),
        "transaction_id": d.transaction_id,
        "line_item_breakouts": lines.iter().map(|l| json!({
            "uid": l.uid,
            "eligible_amount": fmt(l.subtotal),
            "discount_amount": fmt(l.discount),
        })).collect::<Vec<_>>(),
    })
}

fn tax(t: &TaxRec, lines: &[LineRec], totals: &Totals) -> Value {
    let mut component = Map::new();
    component.insert("tax_rule_id".into(), json!(t.source_id));
    component.insert("percentage".into(), json!(fmt(t.rate.percentage)));
    component.insert("country_code".into(), json!(t.rate.country));
    // Not nullable in the SDK: a country-wide VAT simply has none.
    if let Some(sub) = &t.rate.subdivision {
        component.insert("subdivision_code".into(), json!(sub));
    }
    let mut m = json!({
        "uid": t.uid,
        "title": t.rate.title,
        "description": null,
        "source_type": "Tax",
        "source_id": t.source_id,
        "percentage": fmt(t.rate.percentage),
        "taxable_amount": fmt(totals.taxable),
        "tax_amount": fmt(totals.tax),
        "tax_exempt_amount": "0.0",
        "eu_vat": t.rate.eu_vat,
        "type": if t.rate.eu_vat { "VAT" } else { "Sales" },
        "line_item_breakouts": lines.iter().map(|l| json!({
            "uid": l.uid,
            "taxable_amount": fmt(l.taxable()),
            "tax_amount": fmt(l.tax),
            "tax_exempt_amount": "0.0",
        })).collect::<Vec<_>>(),
        "tax_component_breakouts": [Value::Object(component)],
    });
    if let Some(txn) = t.transaction_id {
        m["transaction_id"] = json!(txn);
    }
    m
}

fn invoice_payment_method(p: &PaymentRec) -> Value {
    match p.kind {
        PaymentKind::CreditCard => json!({
            "type": "credit_card",
            "card_brand": p.card.brand,
            "card_expiration": p.card.expiration(),
            "last_four": null,
            "masked_card_number": p.card.masked(),
        }),
        PaymentKind::BankAccount => json!({
            "type": "ach", "kind": "ach", "details": "XXXX6789", "memo": null,
        }),
        PaymentKind::Check => json!({
            "type": "check", "kind": "check", "details": p.memo, "memo": null,
        }),
        PaymentKind::Cash => json!({
            "type": "cash", "kind": "cash", "details": null, "memo": p.memo,
        }),
    }
}

fn payment(p: &PaymentRec) -> Value {
    json!({
        "uid": p.uid,
        "transaction_id": p.transaction_id,
        "transaction_time": dt(&p.time),
        "memo": p.memo,
        "original_amount": fmt(p.original),
        "applied_amount": fmt(p.applied),
        "payment_method": invoice_payment_method(p),
        "prepayment": false,
        "gateway_handle": null,
        "gateway_used": p.gateway_used,
        "gateway_transaction_id": p.gateway_transaction_id,
    })
}

fn refund(r: &RefundRec) -> Value {
    json!({
        "transaction_id": r.transaction_id,
        "payment_id": r.payment_id,
        "memo": r.memo,
        "original_amount": fmt(r.amount),
        "applied_amount": fmt(r.amount),
        "gateway_transaction_id": r.gateway_transaction_id,
        "gateway_used": r.gateway_used,
        "gateway_handle": null,
        "ach_late_reject": false,
    })
}

fn credit(c: &CreditRec) -> Value {
    json!({
        "uid": c.uid,
        "credit_note_number": c.credit_note_number.to_string(),
        "credit_note_uid": c.credit_note_uid,
        "transaction_time": dt(&c.time),
        "memo": c.memo,
        "original_amount": fmt(c.amount),
        "applied_amount": fmt(c.amount),
    })
}

fn public_url(f: &InvoiceFixed) -> String {
    format!(
        "https://www.chargifypay.com/invoice/{}?token=t{:09}sim",
        f.uid,
        f.id % 1_000_000_000
    )
}

/// One invoice version.
pub(crate) fn invoice(site: &SiteInfo, s: &InvoiceState, detail: Detail) -> Value {
    let f = &*s.fixed;
    let c = &*f.customer;
    let is_parent = f.level == Level::Parent;
    let is_child = f.level == Level::Child;
    let parent = f.parent.as_ref();
    let mut m = json!({
        "id": f.id,
        "uid": f.uid,
        "site_id": site.site_id,
        "customer_id": c.id,
        "subscription_id": f.subscription_id,
        "number": f.number.to_string(),
        "sequence_number": f.number,
        "transaction_time": dt(&f.created_at),
        "created_at": dt(&f.created_at),
        "updated_at": dt(&s.updated_at),
        "issue_date": clock::day(&f.issue_date),
        "due_date": clock::day(&f.due_date()),
        "paid_date": s.paid_date.map(|d| clock::day(&d)),
        "status": s.status.as_str(),
        "role": f.role,
        "parent_invoice_id": parent.map(|p| p.id),
        "collection_method": f.collection_method,
        "payment_instructions": PAYMENT_INSTRUCTIONS,
        "currency": f.currency,
        "consolidation_level": f.level.as_str(),
        "parent_invoice_uid": parent.map(|p| p.uid.clone()),
        "subscription_group_id": f.group_id,
        "parent_invoice_number": if is_child { parent.map(|p| p.number) } else { None },
        "group_primary_subscription_id": if is_parent { Some(f.subscription_id) } else { None },
        "product_name": f.product_name,
        "product_family_name": FAMILY_NAME,
        "seller": seller(),
        "customer": invoice_customer(c),
        "payer": payer(c),
        "recipient_emails": [c.email],
        "net_terms": f.net_terms,
        "memo": f.memo,
        "billing_address": address(c.address.as_ref()),
        "shipping_address": address(f.shipping.as_ref().or(c.address.as_ref())),
        "subtotal_amount": fmt(f.totals.subtotal),
        "discount_amount": fmt(f.totals.discount),
        "tax_amount": fmt(f.totals.tax),
        "total_amount": fmt(s.total()),
        "credit_amount": fmt(s.credited()),
        "debit_amount": "0.0",
        "refund_amount": fmt(s.refunded()),
        "paid_amount": fmt(s.paid()),
        "due_amount": fmt(s.due()),
        "debits": [],
        "display_settings": {
            "hide_zero_subtotal_lines": false,
            "include_discounts_on_lines": false,
        },
        "branding_theme_id": null,
        "public_url": public_url(f),
        "public_url_expires_on": clock::day(&(f.issue_date + Duration::days(90))),
        "previous_balance_data": {
            "captured_at": dt(&f.created_at),
            "invoices": [],
        },
    });
    let obj = m.as_object_mut().expect("an object");
    if detail.line_items {
        obj.insert(
            "line_items".into(),
            f.lines.iter().map(invoice_line).collect(),
        );
    }
    if detail.discounts {
        let v: Vec<Value> = f
            .discount
            .iter()
            .map(|d| discount(d, &f.lines, f.totals.discount))
            .collect();
        obj.insert("discounts".into(), v.into());
    }
    if detail.taxes {
        let v: Vec<Value> = f.tax.iter().map(|t| tax(t, &f.lines, &f.totals)).collect();
        obj.insert("taxes".into(), v.into());
    }
    if detail.credits {
        obj.insert("credits".into(), s.credits.iter().map(credit).collect());
    }
    if detail.payments {
        obj.insert("payments".into(), s.payments.iter().map(payment).collect());
    }
    if detail.refunds {
        obj.insert("refunds".into(), s.refunds.iter().map(refund).collect());
    }
    if detail.custom_fields {
        let v: Vec<Value> = f
            .custom_fields
            .iter()
            .map(|cf| {
                json!({
                    "owner_id": cf.owner_id,
                    "owner_type": cf.owner_type,
                    "name": cf.name,
                    "value": cf.value,
                    "metadatum_id": cf.metadatum_id,
                })
            })
            .collect();
        obj.insert("custom_fields".into(), v.into());
    }
    m
}

/// Which detail arrays a credit note carries in the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CnDetail {
    pub line_items: bool,
    pub discounts: bool,
    pub taxes: bool,
    pub refunds: bool,
    pub applications: bool,
}

impl CnDetail {
    pub const FULL: CnDetail = CnDetail {
        line_items: true,
        discounts: true,
        taxes: true,
        refunds: true,
        applications: true,
    };
}

pub(crate) fn credit_note(site: &SiteInfo, cn: &CreditNoteState, detail: CnDetail) -> Value {
    let f = &*cn.fixed;
    let inv = &*f.invoice;
    let c = &*inv.customer;
    let total = f.totals.total();
    let applied = cn.applied();
    let remaining = total - applied;
    let mut m = json!({
        "uid": f.uid,
        "site_id": site.site_id,
        "customer_id": c.id,
        "subscription_id": inv.subscription_id,
        "number": f.number.to_string(),
        "sequence_number": f.number,
        "issue_date": clock::day(&f.issue_date),
        "status": if remaining.is_zero() { "applied" } else { "open" },
        "currency": inv.currency,
        "memo": f.memo,
        "seller": seller(),
        "customer": invoice_customer(c),
        "billing_address": address(c.address.as_ref()),
        "shipping_address": address(inv.shipping.as_ref().or(c.address.as_ref())),
        "subtotal_amount": fmt(f.totals.subtotal),
        "discount_amount": fmt(f.totals.discount),
        "tax_amount": fmt(f.totals.tax),
        "total_amount": fmt(total),
        "applied_amount": fmt(applied),
        "remaining_amount": fmt(remaining),
        "origin_invoices": [{ "uid": inv.uid, "number": inv.number.to_string() }],
    });
    let obj = m.as_object_mut().expect("an object");
    // Not nullable in the SDK: a note not yet applied has no applied_date at all.
    if let Some(d) = cn.applied_date {
        obj.insert("applied_date".into(), json!(clock::day(&d)));
    }
    if detail.line_items {
        let lines: Vec<Value> = f
            .lines
            .iter()
            .map(|l| Value::Object(line_common(l)))
            .collect();
        obj.insert("line_items".into(), lines.into());
    }
    if detail.discounts {
        obj.insert("discounts".into(), json!([]));
    }
    if detail.taxes {
        let v: Vec<Value> = f.tax.iter().map(|t| tax(t, &f.lines, &f.totals)).collect();
        obj.insert("taxes".into(), v.into());
    }
    if detail.refunds {
        obj.insert("refunds".into(), cn.refunds.iter().map(refund).collect());
    }
    if detail.applications {
        let v: Vec<Value> = cn
            .applications
            .iter()
            .map(|a| {
                json!({
                    "uid": a.uid,
                    "transaction_time": dt(&a.time),
                    "invoice_uid": a.invoice_uid,
                    "memo": a.memo,
                    "applied_amount": fmt(a.amount),
                })
            })
            .collect();
        obj.insert("applications".into(), v.into());
    }
    m
}

fn event_payment_method(p: &PaymentRec) -> Value {
    match p.kind {
        PaymentKind::CreditCard => json!({
            "type": "credit_card",
            "card_brand": p.card.brand,
            "card_expiration": p.card.expiration(),
            "last_four": null,
            "masked_card_number": p.card.masked(),
        }),
        PaymentKind::BankAccount => json!({
            "type": "bank_account",
            "masked_account_number": "XXXX6789",
            "masked_routing_number": "XXXX0021",
        }),
        PaymentKind::Check => json!({
            "type": "external", "kind": "check", "details": p.memo, "memo": null,
        }),
        PaymentKind::Cash => json!({
            "type": "external", "kind": "cash", "details": null, "memo": p.memo,
        }),
    }
}

fn event_data(site: &SiteInfo, e: &Event) -> Value {
    let inv = &*e.invoice;
    let level = inv.fixed.level.as_str();
    match &e.data {
        EventData::IssueInvoice { to_status } => json!({
            "consolidation_level": level,
            "from_status": "draft",
            "to_status": to_status.as_str(),
            "due_amount": fmt(inv.due()),
            "total_amount": fmt(inv.total()),
        }),
        EventData::ApplyPayment { payment } => json!({
            "consolidation_level": level,
            "memo": payment.memo,
            "original_amount": fmt(payment.original),
            "applied_amount": fmt(payment.applied),
            "transaction_time": dt(&payment.time),
            "payment_method": event_payment_method(payment),
            "transaction_id": payment.transaction_id,
            "parent_invoice_number": payment.parent_invoice_number,
            "remaining_prepayment_amount": null,
            "prepayment": false,
            "external": matches!(payment.kind, PaymentKind::Check | PaymentKind::Cash),
        }),
        // The SDK types both amounts as integers: exact cents, and whole currency units (the
        // cents of `applied_amount` are cut off, since the type cannot carry them).
        EventData::FailedPayment {
            amount,
            memo,
            transaction_id,
        } => json!({
            "amount_in_cents": in_cents(*amount),
            "applied_amount": in_cents(*amount) / 100,
            "memo": memo,
            "payment_method": "credit_card",
            "transaction_id": transaction_id,
        }),
        EventData::RefundInvoice {
            refund,
            credit_note: cn,
        } => json!({
            "apply_credit": false,
            "consolidation_level": level,
            "credit_note_attributes": credit_note(site, cn, CnDetail::FULL),
            "memo": refund.memo,
            "original_amount": fmt(refund.amount),
            "payment_id": refund.payment_id,
            "refund_amount": fmt(refund.amount),
            "refund_id": refund.transaction_id,
            "transaction_time": dt(&refund.time),
        }),
        EventData::CreateCreditNote { credit_note: cn } => credit_note(site, cn, CnDetail::FULL),
        EventData::ApplyCreditNote { credit } => json!({
            "uid": credit.uid,
            "credit_note_number": credit.credit_note_number.to_string(),
            "credit_note_uid": credit.credit_note_uid,
            "original_amount": fmt(credit.amount),
            "applied_amount": fmt(credit.amount),
            "transaction_time": dt(&credit.time),
            "memo": credit.memo,
            "role": "general",
            "consolidated_invoice": false,
            "applied_credit_notes": [],
        }),
        EventData::VoidInvoice { memo, reason, time } => json!({
            "credit_note_attributes": null,
            "memo": memo,
            "applied_amount": null,
            "transaction_time": dt(time),
            "is_advance_invoice": false,
            "reason": reason,
        }),
        EventData::ChangeInvoiceStatus {
            from,
            to,
            amount,
            gateway_trans_id,
        } => json!({
            "gateway_trans_id": gateway_trans_id,
            "amount": fmt(*amount),
            "from_status": from.as_str(),
            "to_status": to.as_str(),
            "consolidation_level": level,
        }),
    }
}

pub(crate) fn event(site: &SiteInfo, e: &Event) -> Value {
    json!({
        "id": e.id,
        "timestamp": dt(&e.timestamp),
        "event_type": e.data.event_type(),
        "event_data": event_data(site, e),
        "invoice": invoice(site, &e.invoice, Detail::FULL),
    })
}

fn state_name(country: &str, state: &str) -> String {
    let name = match (country, state) {
        ("US", "NY") => "New York",
        ("US", "OH") => "Ohio",
        ("US", "OR") => "Oregon",
        ("US", "CA") => "California",
        ("US", "TX") => "Texas",
        ("US", "MA") => "Massachusetts",
        ("US", "WA") => "Washington",
        ("US", "IL") => "Illinois",
        ("US", "CO") => "Colorado",
        ("DE", "HH") => "Hamburg",
        ("DE", "BE") => "Berlin",
        ("DE", "BY") => "Bayern",
        ("FR", "IDF") => "Île-de-France",
        ("NL", "NH") => "Noord-Holland",
        ("GB", "LND") => "London",
        ("CA", "ON") => "Ontario",
        _ => state,
    };
    name.to_owned()
}

fn country_name(country: &str) -> String {
    match country {
        "US" => "United States",
        "DE" => "Germany",
        "FR" => "France",
        "NL" => "Netherlands",
        "GB" => "United Kingdom",
        "CA" => "Canada",
        "IE" => "Ireland",
        other => other,
    }
    .to_owned()
}

/// The inner object of `{"customer": ...}`: the address is flat on a customer.
pub(crate) fn customer(c: &CustomerRec) -> Value {
    let a = c.address.as_ref();
    let field = |f: fn(&Address) -> &String| a.map(|a| f(a).clone());
    json!({
        "id": c.id,
        "first_name": c.first_name,
        "last_name": c.last_name,
        "email": c.email,
        "cc_emails": c.cc_emails,
        "organization": c.organization,
        "reference": c.reference,
        "created_at": dt(&c.created_at),
        "updated_at": dt(&c.created_at),
        "address": field(|a| &a.street),
        "address_2": field(|a| &a.line2),
        "city": field(|a| &a.city),
        "state": field(|a| &a.state),
        "state_name": a.map(|a| state_name(&a.country, &a.state)),
        "zip": field(|a| &a.zip),
        "country": field(|a| &a.country),
        "country_name": a.map(|a| country_name(&a.country)),
        "phone": c.phone,
        "verified": false,
        "portal_customer_created_at": dt(&c.created_at),
        "portal_invite_last_sent_at": dt(&c.created_at),
        "portal_invite_last_accepted_at": null,
        "tax_exempt": false,
        "vat_number": c.vat_number,
        "parent_id": null,
        "locale": null,
        "default_subscription_group_uid": null,
        "salesforce_id": null,
        "tax_exempt_reason": null,
        "default_auto_renewal_profile_id": null,
    })
}

fn product_family() -> Value {
    json!({
        "id": FAMILY_ID,
        "name": FAMILY_NAME,
        "handle": FAMILY_HANDLE,
        "accounting_code": null,
        "description": "Subscription software and edge hardware",
        "created_at": "2025-05-02T11:00:00-04:00",
        "updated_at": "2025-05-02T11:00:00-04:00",
        "archived_at": null,
    })
}

/// The inner object of `{"product": ...}`.
pub(crate) fn product(site: &SiteInfo, p: &ProductRec) -> Value {
    let trial = p.trial_days;
    json!({
        "id": p.id,
        "name": p.name,
        "handle": p.handle,
        "description": p.description,
        "accounting_code": p.accounting_code,
        "request_credit_card": true,
        "expiration_interval": null,
        "expiration_interval_unit": "never",
        "created_at": dt(&p.created_at),
        "updated_at": dt(&p.created_at),
        "price_in_cents": in_cents(p.price),
        "interval": p.interval_months,
        "interval_unit": "month",
        "initial_charge_in_cents": null,
        "trial_price_in_cents": trial.map(|_| 0),
        "trial_interval": trial,
        "trial_interval_unit": trial.map(|_| "day"),
        "archived_at": null,
        "require_credit_card": true,
        "return_params": "",
        "taxable": true,
        "update_return_url": "",
        "initial_charge_after_trial": false,
        "version_number": p.version,
        "update_return_params": "",
        "product_family": product_family(),
        "public_signup_pages": [{
            "id": p.id % 100_000,
            "return_url": null,
            "return_params": null,
            "url": format!("https://{}.chargifypay.com/subscribe/{}", site.subdomain, p.handle),
        }],
        "product_price_point_name": "Default",
        "request_billing_address": true,
        "require_billing_address": true,
        "require_shipping_address": p.is_physical(),
        "tax_code": null,
        "default_product_price_point_id": p.price_point_id,
        "use_site_exchange_rate": true,
        "item_category": p.item_category,
        "product_price_point_id": p.price_point_id,
        "product_price_point_handle": p.price_point_handle,
        "unspsc_code": null,
    })
}

/// The inner object of `{"component": ...}`.
pub(crate) fn component(site: &SiteInfo, c: &ComponentRec) -> Value {
    let per_unit = c.kind != crate::ComponentKind::OnOffComponent;
    let unit_price = fmt(c.unit_price);
    json!({
        "id": c.id,
        "name": c.name,
        "handle": c.handle,
        "pricing_scheme": if per_unit { Some("per_unit") } else { None },
        "unit_name": c.unit_name,
        "unit_price": unit_price,
        "product_family_id": FAMILY_ID,
        "product_family_name": FAMILY_NAME,
        "product_family_handle": FAMILY_HANDLE,
        "price_per_unit_in_cents": null,
        "kind": c.kind.as_str(),
        "archived": false,
        "description": format!("{} add-on", c.name),
        "default_price_point_id": c.price_point_id,
        "prices": [{
            "id": c.price_point_id + 500_000,
            "component_id": c.id,
            "starting_quantity": 1,
            "ending_quantity": null,
            "unit_price": unit_price,
            "price_point_id": c.price_point_id,
            "formatted_unit_price": format!("${unit_price}"),
            "segment_id": null,
        }],
        "price_point_count": 1,
        "price_points_url": format!(
            "https://{}.chargify.com/components/{}/price_points", site.subdomain, c.id
        ),
        "default_price_point_name": "Original",
        "taxable": true,
        "tax_code": null,
        "recurring": true,
        "upgrade_charge": "prorated",
        "downgrade_credit": "none",
        "created_at": dt(&c.created_at),
        "updated_at": dt(&c.created_at),
        "archived_at": null,
        "hide_date_range_on_invoice": false,
        "allow_fractional_quantities": false,
        "item_category": c.item_category,
        "use_site_exchange_rate": true,
        "accounting_code": c.accounting_code,
        "interval": 1,
        "interval_unit": "month",
        "unspsc_code": null,
    })
}
