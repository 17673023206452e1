//! From billing lines to NetSuite item lines, to the cent.
//!
//! Each billing line becomes a line of its mapped item; a discounted line is followed by a
//! line of the discount item; the invoice's tax total is one line of the tax item, and each
//! line carries its own tax in a custom column. Billing apportions discount and tax per line
//! with fractions of a cent; NetSuite needs cents, so per-line shares are allocated by the
//! largest-remainder method ([`crate::money::allocate`]), which keeps their sum equal to the
//! invoice's own 2-decimal figure.
//! The result is penny-checked against the invoice total before anything is sent.

use rust_decimal::Decimal;

use crate::billing::model::{CreditNote, Invoice, Line, LineKind, Tax};
use crate::money::{allocate, to_cents};
use crate::netsuite::records::{ItemLine, RecordRef};
use crate::settings::{ItemRef, NsId, TenantSettings};

/// Why an invoice's lines cannot be posted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineProblem {
    /// A line whose product/component has no NetSuite item and no default applies.
    Unmapped { title: String, what: String },
    /// A taxed line whose billing tax has no NetSuite tax code in `transactions.tax_codes`.
    UnmappedTax { title: String, tax: String },
    /// The lines NetSuite would total differ from the billing total.
    PennyCheck { computed: Decimal, stated: Decimal },
    /// Discount or tax shares cannot be made to add up to the invoice's figure.
    Allocation {
        figure: &'static str,
        detail: String,
    },
}

/// The NetSuite lines for an invoice.
#[derive(Clone, Debug, PartialEq)]
pub struct LinePlan {
    pub lines: Vec<ItemLine>,
    /// Any line maps to an item that ships from stock.
    pub inventory: bool,
    /// What NetSuite will total these lines to.
    pub total: Decimal,
}

pub(crate) fn item_for<'a>(
    line: &Line,
    settings: &'a TenantSettings,
) -> Result<&'a ItemRef, LineProblem> {
    let items = &settings.items;
    let by_product = || line.product_id.as_ref().and_then(|p| items.products.get(p));
    let found = match &line.kind {
        LineKind::Component => line
            .component_id
            .as_ref()
            .and_then(|c| items.components.get(c)),
        LineKind::Product => by_product(),
        LineKind::Setup => items.setup_default.as_ref().or_else(by_product),
        LineKind::Custom => items.custom_default.as_ref(),
        LineKind::Other(_) => items.other_default.as_ref(),
    };
    found.ok_or_else(|| LineProblem::Unmapped {
        title: line.title.clone(),
        what: match &line.kind {
            LineKind::Component => {
                format!("component {}", line.component_id.as_deref().unwrap_or("?"))
            }
            LineKind::Product => format!("product {}", line.product_id.as_deref().unwrap_or("?")),
            LineKind::Setup => "setup fee (set items.setup_default or map the product)".into(),
            LineKind::Custom => "ad-hoc line (set items.custom_default)".into(),
            LineKind::Other(k) => format!("line kind `{k}` (set items.other_default)"),
        },
    })
}

/// The line's tax code under `transactions.tax_codes`: the code of the billing tax that
/// taxes the line (its breakouts name the line), or `untaxed_code` for a line with no tax.
fn tax_code<'a>(
    line: &Line,
    taxes: &[Tax],
    settings: &'a TenantSettings,
) -> Result<(bool, Option<&'a NsId>), LineProblem> {
    let uid = line.uid.as_deref();
    let tax = taxes.iter().find(|t| {
        t.breakouts
            .iter()
            .any(|b| Some(b.line_uid.as_str()) == uid && !b.amount.is_zero())
    });
    match tax {
        None if line.tax.is_zero() => Ok((false, settings.untaxed_code.as_ref())),
        None => Err(LineProblem::UnmappedTax {
            title: line.title.clone(),
            tax: "(a tax no billing tax line names)".into(),
        }),
        // Keyed by the tax's name (Chargebee `tax_name`), or its full title.
        Some(t) => match t
            .uid
            .as_ref()
            .and_then(|name| settings.tax_codes.get(name))
            .or_else(|| settings.tax_codes.get(&t.title))
        {
            Some(code) => Ok((true, Some(code))),
            None => Err(LineProblem::UnmappedTax {
                title: line.title.clone(),
                tax: t.uid.clone().unwrap_or_else(|| t.title.clone()),
            }),
        },
    }
}

/// Builds the NetSuite item lines for `invoice` under `settings`.
pub fn plan_lines(invoice: &Invoice, settings: &TenantSettings) -> Result<LinePlan, LineProblem> {
    let mut plan = plan(
        &invoice.lines,
        &invoice.taxes,
        invoice.totals.discount,
        invoice.totals.tax,
        invoice.totals.total - invoice.totals.round_off,
        settings,
    )?;
    let round_off = to_cents(invoice.totals.round_off);
    if !round_off.is_zero() {
        // What the customer owes includes billing's rounding: a line of its own, so the
        // NetSuite total is billing's to the cent.
        let Some(item) = &settings.items.round_off_item else {
            return Err(LineProblem::Unmapped {
                title: format!("rounding adjustment of {round_off}"),
                what: "rounding adjustment (set items.round_off_item)".into(),
            });
        };
        plan.lines.push(ItemLine {
            item: RecordRef::id(item.id.as_str()),
            quantity: Some(Decimal::ONE),
            rate: Some(round_off),
            amount: Some(round_off),
            description: Some("Rounding adjustment".into()),
            price: Some(RecordRef::id("-1")),
            ..Default::default()
        });
        plan.total += round_off;
    }
    Ok(plan)
}

/// Builds the NetSuite credit memo lines for a credit note (amounts positive, as NetSuite
/// records a credit memo's lines).
pub fn plan_credit_lines(
    cn: &CreditNote,
    settings: &TenantSettings,
) -> Result<LinePlan, LineProblem> {
    if let (true, Some(bad_debt)) = (cn.write_off, &settings.items.bad_debt_item) {
        // Chargebee's mapping: a write-off is bad debt, whatever it wrote off.
        let mut on_bad_debt = settings.clone();
        on_bad_debt.items.custom_default = Some(bad_debt.clone());
        let lines: Vec<Line> = cn
            .lines
            .iter()
            .cloned()
            .map(|mut l| {
                l.kind = LineKind::Custom;
                l
            })
            .collect();
        return plan(
            &lines,
            &cn.taxes,
            cn.discount,
            cn.tax,
            cn.total,
            &on_bad_debt,
        );
    }
    plan(
        &cn.lines,
        &cn.taxes,
        cn.discount,
        cn.tax,
        cn.total,
        settings,
    )
}

/// Every line without an item, as one problem: a new site's first invoice names all its
/// missing mappings in one pass instead of one per retry.
fn unmapped_at_once(lines: &[Line], settings: &TenantSettings) -> Result<(), LineProblem> {
    let mut titles: Vec<String> = Vec::new();
    let mut whats: Vec<String> = Vec::new();
    for line in lines {
        if let Err(LineProblem::Unmapped { title, what }) = item_for(line, settings) {
            if !whats.contains(&what) {
                whats.push(what);
            }
            titles.push(title);
        }
    }
    if whats.is_empty() {
        return Ok(());
    }
    Err(LineProblem::Unmapped {
        title: titles.join("`, `"),
        what: whats.join(" and "),
    })
}

fn plan(
    doc_lines: &[Line],
    doc_taxes: &[Tax],
    discount_total: Decimal,
    tax_total: Decimal,
    stated_total: Decimal,
    settings: &TenantSettings,
) -> Result<LinePlan, LineProblem> {
    let allocation =
        |figure: &'static str| move |detail| LineProblem::Allocation { figure, detail };
    let discounts = allocate(
        &doc_lines.iter().map(|l| l.discount).collect::<Vec<_>>(),
        to_cents(discount_total),
    )
    .map_err(allocation("discount"))?;
    let taxes = allocate(
        &doc_lines.iter().map(|l| l.tax).collect::<Vec<_>>(),
        to_cents(tax_total),
    )
    .map_err(allocation("tax"))?;

    unmapped_at_once(doc_lines, settings)?;
    let mut lines = Vec::new();
    let mut inventory = false;
    for ((line, discount), tax) in doc_lines.iter().zip(&discounts).zip(&taxes) {
        let item = item_for(line, settings)?;
        inventory |= item.item_type.needs_fulfilment();
        // Tax-inclusive prices carry the tax inside; NetSuite gets it on the tax line instead.
        let amount = to_cents(line.subtotal)
            - if line.tax_included {
                *tax
            } else {
                Decimal::ZERO
            };
        let quantity = if line.quantity.is_zero() {
            Decimal::ONE
        } else {
            line.quantity
        };
        let rate = if (line.unit_price * quantity) == amount {
            line.unit_price
        } else {
            (amount / quantity).round_dp(8).normalize()
        };
        let mut out = ItemLine {
            item: RecordRef::id(item.id.as_str()),
            quantity: Some(quantity.normalize()),
            rate: Some(rate),
            amount: Some(amount),
            description: Some(match &line.description {
                Some(d) if !d.is_empty() => format!("{}\n{d}", line.title),
                _ => line.title.clone(),
            }),
            // A given rate needs the custom price level.
            price: Some(RecordRef::id("-1")),
            ..Default::default()
        };
        out.custom_fields.set(
            settings.custom_fields.line_tax.clone(),
            serde_json::json!(tax.to_string()),
        );
        if !settings.tax_codes.is_empty() {
            let (taxable, code) = tax_code(line, doc_taxes, settings)?;
            out.is_taxable = Some(taxable);
            out.tax_code = code.map(|c| RecordRef::id(c.as_str()));
        }
        if let (Some(rr), Some(start), Some(end)) = (
            &settings.revenue_recognition,
            line.period_start,
            line.period_end,
        ) {
            out.custom_fields
                .set(rr.start_field.clone(), start.to_string());
            out.custom_fields.set(rr.end_field.clone(), end.to_string());
        }
        lines.push(out);
        if !discount.is_zero() {
            lines.push(ItemLine {
                item: RecordRef::id(settings.items.discount_item.as_str()),
                rate: Some(-*discount),
                amount: Some(-*discount),
                description: Some(format!("Discount on {}", line.title)),
                ..Default::default()
            });
        }
    }
    let tax_total = to_cents(tax_total);
    if !tax_total.is_zero() {
        let names: Vec<_> = doc_taxes.iter().map(|t| t.title.as_str()).collect();
        lines.push(ItemLine {
            item: RecordRef::id(settings.items.tax_item.id.as_str()),
            quantity: Some(Decimal::ONE),
            rate: Some(tax_total),
            amount: Some(tax_total),
            description: Some(if names.is_empty() {
                "Tax".into()
            } else {
                names.join(", ")
            }),
            price: Some(RecordRef::id("-1")),
            ..Default::default()
        });
    }

    let total: Decimal = lines.iter().filter_map(|l| l.amount).sum();
    if total != stated_total {
        return Err(LineProblem::PennyCheck {
            computed: total,
            stated: stated_total,
        });
    }
    Ok(LinePlan {
        lines,
        inventory,
        total,
    })
}
