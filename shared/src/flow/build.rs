//! Pure builders: the NetSuite record bodies for each flow step, from the billing record, the
//! tenant settings and the NetSuite ids already known. Nothing here talks to anything.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::errors::FlowProblem;
use super::ids::{self, Kind};
use super::lines::LinePlan;
use crate::billing::model::{self, CreditNote, Invoice, Payment, Refund};
use crate::netsuite::records::{
    Address, AddressBookLine, ApplyLine, CashTransaction, Customer, CustomerCurrency, Item,
    RecordRef, SalesTransaction, Sublist,
};
use crate::settings::{ExchangeRate, NsId, TenantSettings};

/// Whether an invoice is for this tenant to sync at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    Sync,
    Skip(String),
}

/// The invoice-level settings that decide scope: sync start date, draft/void status,
/// consolidation level, zero-dollar rule.
pub fn scope(invoice: &Invoice, settings: &TenantSettings) -> Scope {
    use model::{Consolidation as C, InvoiceStatus as S};
    if invoice.issue_date < settings.sync_start_date {
        return Scope::Skip(format!(
            "issued {}, before the sync start date {}",
            invoice.issue_date, settings.sync_start_date
        ));
    }
    match invoice.status {
        S::Draft => return Scope::Skip("a draft: not issued yet".into()),
        S::Voided | S::Canceled => {
            return Scope::Skip("voided in billing before it was synced".into())
        }
        _ => {}
    }
    match (invoice.consolidation, settings.subscription_groups) {
        (C::Parent, C::Child) => {
            return Scope::Skip("a consolidated invoice; this tenant syncs the segments".into())
        }
        (C::Child, C::Parent) => {
            return Scope::Skip(
                "a segment of a consolidated invoice; this tenant syncs consolidated invoices"
                    .into(),
            )
        }
        _ => {}
    }
    if settings.skip_zero_dollar && invoice.is_zero_dollar() {
        return Scope::Skip("a zero-dollar invoice (the tenant skips them)".into());
    }
    Scope::Sync
}

/// Where an inventory sales order stands, as its status tells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrderStage {
    /// Everything shipped: the invoice can be made (Pending Billing, or Billed already).
    Shipped,
    /// Not shipped, or only in part: the seed invoices once the order is fulfilled.
    Waiting(String),
    /// NetSuite will never bill it as it stands (cancelled, closed, or a status billsync does
    /// not know): a person must look.
    Stopped(String),
}

/// Reads a sales order's `status` as NetSuite gives it: `{id, refName}` by default, the bare
/// letter with `simpleEnumFormat`, or SuiteQL's `SalesOrd:X` form. The letters are
/// NetSuite's sales order statuses (A Pending Approval ... H Closed).
pub fn order_stage(status: Option<&serde_json::Value>) -> OrderStage {
    use serde_json::Value;
    let raw = match status {
        Some(Value::Object(o)) => o.get("id").and_then(Value::as_str).unwrap_or(""),
        Some(Value::String(s)) => s.as_str(),
        _ => "",
    };
    let letter = raw.trim().strip_prefix("SalesOrd:").unwrap_or(raw.trim());
    match letter {
        "F" | "G" => OrderStage::Shipped,
        "A" => OrderStage::Waiting("is pending approval".into()),
        "B" => OrderStage::Waiting("is not fulfilled yet (status B, Pending Fulfillment)".into()),
        "D" | "E" => OrderStage::Waiting(format!(
            "is only partly fulfilled (status {letter}); billsync makes the invoice once every line has shipped"
        )),
        "C" => OrderStage::Stopped("was cancelled in NetSuite (status C)".into()),
        "H" => OrderStage::Stopped("was closed in NetSuite before it was billed (status H)".into()),
        "" => OrderStage::Stopped("has no status in NetSuite's answer".into()),
        other => OrderStage::Stopped(format!("has a status billsync does not know (`{other}`)")),
    }
}

fn reference(id: &Option<NsId>) -> Option<RecordRef> {
    id.as_ref().map(|i| RecordRef::id(i.as_str()))
}

fn address(a: &model::Address, addressee: Option<String>) -> Address {
    Address {
        addressee: a.addressee.clone().or(addressee),
        addr1: a.line1.clone(),
        addr2: a.line2.clone(),
        addr3: a.line3.clone(),
        city: a.city.clone(),
        state: a.state.clone(),
        zip: a.zip.clone(),
        country: a
            .country
            .as_ref()
            .map(|c| RecordRef::id(c.to_ascii_uppercase())),
        addr_phone: a.phone.clone(),
        ..Default::default()
    }
}

fn display_name(c: &model::Customer) -> Option<String> {
    c.organization.clone().or_else(|| {
        let n = [c.first_name.as_deref(), c.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        (!n.is_empty()).then_some(n)
    })
}

/// Each of the user's custom fields the billing customer has a value for: its script id, the
/// billing field it comes from, and the value as NetSuite takes it (or why it cannot be).
fn billing_values<'s>(
    settings: &'s TenantSettings,
    customer: &'s model::Customer,
) -> impl Iterator<Item = (&'s String, &'s str, Result<serde_json::Value, String>)> {
    settings
        .custom_fields
        .from_billing
        .iter()
        .filter_map(move |(script, f)| {
            let text = customer.custom_fields.get(&f.from)?;
            Some((script, f.from.as_str(), f.kind.value(text)))
        })
}

/// The user's custom fields starting with `prefix` (`custentity`, `custbody`, `custcol`),
/// filled from the billing customer's fields. A field the customer leaves empty is left out;
/// one whose value does not fit its type too ([`check_billing_fields`] refused it before
/// anything was written).
fn billing_fields(
    settings: &TenantSettings,
    customer: &model::Customer,
    prefix: &str,
) -> Vec<(String, serde_json::Value)> {
    billing_values(settings, customer)
        .filter(|(script, _, _)| script.starts_with(prefix))
        .filter_map(|(script, _, value)| Some((script.clone(), value.ok()?)))
        .collect()
}

/// Every value of the customer's that one of the user's custom fields would carry and that
/// does not fit the field's type, as one mapping problem.
pub fn check_billing_fields(
    settings: &TenantSettings,
    customer: &model::Customer,
) -> Result<(), FlowProblem> {
    let bad: Vec<String> = billing_values(settings, customer)
        .filter_map(|(script, from, value)| Some(format!("{from} -> {script}: {}", value.err()?)))
        .collect();
    if bad.is_empty() {
        return Ok(());
    }
    Err(FlowProblem::Mapping {
        detail: format!("customer {}: {}", customer.id, bad.join("; ")),
        fix: "Correct the value on the customer in billing, or the field's type in custom_fields.from_billing, then retry".into(),
    })
}

/// NetSuite keeps a currency's amounts to 0 or 2 decimals (its precision cannot be set
/// otherwise): an invoice of a three-decimal currency (KWD, BHD, OMR, JOD, TND) posts exactly
/// only when every amount is a whole number of hundredths. Any other is refused before a write,
/// since NetSuite would hold amounts that differ from billing's.
pub fn check_precision(invoice: &Invoice) -> Result<(), FlowProblem> {
    if model::currency_exponent(&invoice.currency) <= 2 {
        return Ok(());
    }
    // Line discounts and taxes are shares that planning rounds to the document's figures.
    let t = &invoice.totals;
    let amounts = [t.subtotal, t.discount, t.tax, t.round_off, t.total, t.due]
        .into_iter()
        .chain(invoice.lines.iter().map(|l| l.subtotal))
        .chain(invoice.payments.iter().map(|p| p.amount))
        .chain(invoice.refunds.iter().map(|r| r.amount))
        .chain(invoice.credit_notes.iter().flat_map(|cn| {
            [cn.total, cn.tax, cn.discount]
                .into_iter()
                .chain(cn.lines.iter().map(|l| l.subtotal))
        }));
    let Some(odd) = amounts.into_iter().find(|a| a.round_dp(2) != *a) else {
        return Ok(());
    };
    Err(FlowProblem::Person {
        code: "CURRENCY_PRECISION",
        detail: format!(
            "invoice {} in {} has an amount of {odd}: more decimals than NetSuite keeps",
            invoice.number.as_deref().unwrap_or(&invoice.uid),
            invoice.currency
        ),
        cause: "NetSuite holds a currency's amounts with at most 2 decimals (a currency's precision is 0 or 2 and cannot be changed), so it cannot hold this invoice as billing states it.".into(),
        fix: "Bill this currency in whole hundredths (0.010 steps), or post the invoice in NetSuite by hand and mark it handled; billsync will not post amounts that differ from billing's.".into(),
    })
}

/// A new NetSuite customer for a billing customer.
pub fn customer(
    c: &model::Customer,
    settings: &TenantSettings,
    currency: Option<&NsId>,
) -> Customer {
    let mut out = Customer {
        external_id: Some(ids::customer(settings, &c.id)),
        entity_id: numbered(&settings.prefixes.entity_id, &c.id, settings),
        is_person: Some(c.is_person()),
        email: c.email.clone(),
        phone: c.phone.clone(),
        vat_reg_number: c.vat_number.clone(),
        subsidiary: reference(&settings.subsidiary),
        currency: currency.map(|id| RecordRef::id(id.as_str())),
        entity_status: reference(&settings.entity_status),
        ..Default::default()
    };
    if c.is_person() {
        // NetSuite needs both names for a person; billing may have neither.
        out.first_name = Some(c.first_name.clone().unwrap_or_else(|| "Customer".into()));
        out.last_name = Some(c.last_name.clone().unwrap_or_else(|| c.id.clone()));
    } else {
        out.company_name = c.organization.clone();
        out.first_name = c.first_name.clone();
        out.last_name = c.last_name.clone();
    }
    if let Some(addr) = c.billing_address.as_ref().filter(|a| !a.is_empty()) {
        out.address_book = Some(Sublist::from(vec![AddressBookLine {
            default_billing: Some(true),
            default_shipping: Some(c.shipping_address.is_none()),
            label: Some("Billing".into()),
            address_book_address: address(addr, display_name(c)),
        }]));
    }
    out.custom_fields.set(
        settings.custom_fields.customer_billing_id.clone(),
        c.id.clone(),
    );
    out.custom_fields.set(
        settings.custom_fields.customer_site.clone(),
        settings.site.clone(),
    );
    for (script, value) in billing_fields(settings, c, "custentity") {
        out.custom_fields.set(script, value);
    }
    out
}

/// The fields of a customer billsync keeps in step after creating it: names, contact details
/// and the billing address (added to the address book, which keeps the old ones).
pub fn customer_update(c: &model::Customer, settings: &TenantSettings) -> Customer {
    Customer {
        external_id: None,
        entity_id: None,
        is_person: None,
        subsidiary: None,
        currency: None,
        // Set once, when made: a person may move the customer on in NetSuite.
        entity_status: None,
        ..customer(c, settings, None)
    }
}

/// The settings for one customer's documents: with customer-level tracking, class,
/// department and location come from the billing customer's fields when set there.
pub fn tracked_settings<'s>(
    settings: &'s TenantSettings,
    customer: &model::Customer,
) -> Result<std::borrow::Cow<'s, TenantSettings>, FlowProblem> {
    use crate::settings::TrackingLevel;
    if settings.tracking != TrackingLevel::Customer {
        return Ok(std::borrow::Cow::Borrowed(settings));
    }
    let t = &settings.customer_tracking;
    let value = |field: &Option<String>, what: &str| -> Result<Option<NsId>, FlowProblem> {
        let Some(name) = field else { return Ok(None) };
        match customer.custom_fields.get(name).map(|v| v.trim()) {
            None | Some("") => Ok(None),
            Some(v) => NsId::parse(v).map(Some).ok_or_else(|| FlowProblem::Mapping {
                detail: format!(
                    "customer {} has `{name}` = `{v}`, not a NetSuite {what} internal id",
                    customer.id
                ),
                fix: format!("Set `{name}` on the billing customer to the internal id of the NetSuite {what}"),
            }),
        }
    };
    let mut out = settings.clone();
    if let Some(id) = value(&t.class, "class")? {
        out.class = Some(id);
    }
    if let Some(id) = value(&t.department, "department")? {
        out.department = Some(id);
    }
    if let Some(id) = value(&t.location, "location")? {
        out.location = Some(id);
    }
    Ok(std::borrow::Cow::Owned(out))
}

/// A short stable digest of a record body, to notice when billing changed what was sent.
pub fn fingerprint<T: serde::Serialize>(body: &T) -> String {
    use sha2::{Digest, Sha256};
    let json = serde_json::to_vec(body).expect("record bodies serialize");
    let digest = Sha256::digest(&json);
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

/// The invoice fields billing may change after the invoice is posted (Chargebee's "update
/// invoice details"): PO number, due date, addresses.
pub fn invoice_update(invoice: &Invoice) -> SalesTransaction {
    SalesTransaction {
        other_ref_num: invoice.po_number.clone(),
        due_date: invoice.due_date,
        billing_address: invoice
            .customer
            .billing_address
            .as_ref()
            .map(|a| address(a, display_name(&invoice.customer))),
        shipping_address: invoice
            .customer
            .shipping_address
            .as_ref()
            .map(|a| address(a, display_name(&invoice.customer))),
        ..Default::default()
    }
}

/// The credit memo fields billing may change after the note is issued.
pub fn credit_memo_update(cn: &CreditNote, settings: &TenantSettings) -> SalesTransaction {
    SalesTransaction {
        tran_id: tran_id(settings, &cn.number),
        tran_date: Some(cn.issue_date),
        memo: Some(credit_note_memo(cn)),
        ..Default::default()
    }
}

fn credit_note_memo(cn: &CreditNote) -> String {
    match &cn.number {
        Some(n) => format!("{} credit note {n}", cn.source),
        None => format!("{} credit note {}", cn.source, cn.uid),
    }
}

/// Applies a credit memo to one more invoice (billing allocated the note there).
pub fn credit_application(invoice_id: &str, amount: Decimal) -> SalesTransaction {
    SalesTransaction {
        apply: Some(Sublist::from(vec![ApplyLine {
            doc: RecordRef::id(invoice_id),
            apply: true,
            amount,
        }])),
        ..Default::default()
    }
}

/// The change that adds an invoice to an existing customer payment's apply list (a keyed
/// sublist: the line for this invoice is added or updated, the others stay as they are).
pub fn payment_application(invoice_id: &str, amount: Decimal) -> CashTransaction {
    CashTransaction {
        apply: Some(Sublist::from(vec![ApplyLine {
            doc: RecordRef::id(invoice_id),
            apply: true,
            amount,
        }])),
        ..Default::default()
    }
}

/// A NetSuite item for a billing catalog entry (Chargebee's item mapping): name and external
/// id from the SKU, else the name, behind the item prefix; class, location, department and
/// revenue rule from the accounting categories; the income account given.
pub fn item(
    entry: &model::CatalogEntry,
    settings: &TenantSettings,
    creation: &crate::settings::ItemCreation,
    income_account: &NsId,
) -> Result<Item, FlowProblem> {
    let base = entry.sku.clone().unwrap_or_else(|| entry.name.clone());
    let name = match &settings.prefixes.item {
        Some(p) => format!("{p}{base}"),
        None => base,
    };
    // NetSuite item names hold at most 60 characters.
    let item_id: String = name.chars().take(60).collect();
    let category = |i: usize,
                    map: &std::collections::BTreeMap<String, NsId>,
                    what: &str,
                    key: &str| {
        match &entry.accounting_categories[i] {
            None => Ok(None),
            Some(v) => map.get(v).map(|id| Some(RecordRef::id(id.as_str()))).ok_or_else(|| {
                FlowProblem::Mapping {
                    detail: format!(
                        "catalog entry `{}` has accounting category {} `{v}`, which names no NetSuite {what}",
                        entry.id,
                        i + 1
                    ),
                    fix: format!("Add `\"{v}\": \"<internal id>\"` to items.create_missing.{key} in the tenant settings"),
                }
            }),
        }
    };
    let revenue_rule = category(
        3,
        &creation.revenue_rules,
        "revenue recognition rule",
        "revenue_rules",
    )?;
    let mut out = Item {
        external_id: Some(ids::item(&item_id)),
        item_id: Some(item_id),
        display_name: Some(entry.name.clone()),
        sales_description: entry.description.clone(),
        subsidiary: settings
            .subsidiary
            .as_ref()
            .map(|s| Sublist::from(vec![RecordRef::id(s.as_str())])),
        income_account: Some(RecordRef::id(income_account.as_str())),
        tax_schedule: reference(&creation.tax_schedule),
        class: category(0, &creation.classes, "class", "classes")?,
        location: category(1, &creation.locations, "location", "locations")?,
        department: category(2, &creation.departments, "department", "departments")?,
        ..Default::default()
    };
    out.revenue_recognition_rule = revenue_rule.clone();
    out.rev_rec_forecast_rule = revenue_rule;
    Ok(out)
}

/// The change that links an existing NetSuite customer (found by email) to billing: the
/// billing id in the external id and the custom fields.
pub fn customer_link(c: &model::Customer, settings: &TenantSettings) -> Customer {
    let mut out = Customer {
        external_id: Some(ids::customer(settings, &c.id)),
        ..Default::default()
    };
    out.custom_fields.set(
        settings.custom_fields.customer_billing_id.clone(),
        c.id.clone(),
    );
    out.custom_fields.set(
        settings.custom_fields.customer_site.clone(),
        settings.site.clone(),
    );
    out
}

/// The change that allows another currency on a customer.
pub fn customer_currency(currency: &NsId) -> Customer {
    Customer {
        currency_list: Some(Sublist::from(vec![CustomerCurrency {
            currency: RecordRef::id(currency.as_str()),
        }])),
        ..Default::default()
    }
}

fn exchange_rate(invoice_rate: Option<Decimal>, settings: &TenantSettings) -> Option<Decimal> {
    match settings.exchange_rate {
        ExchangeRate::NetSuite => None,
        ExchangeRate::Billing => invoice_rate,
    }
}

fn tran_id(settings: &TenantSettings, number: &Option<String>) -> Option<String> {
    numbered(&settings.prefixes.tran_id, number.as_deref()?, settings)
}

/// A NetSuite number (`entityId`, `tranId`) from billing's: with its prefix when one is set;
/// without, only where the tenant sends billing's numbers.
fn numbered(prefix: &Option<String>, number: &str, settings: &TenantSettings) -> Option<String> {
    match prefix {
        Some(p) => Some(format!("{p}-{number}")),
        None => settings.sends_numbers().then(|| number.to_owned()),
    }
}

/// The sales order for an invoice, with its planned lines.
pub fn sales_order(
    invoice: &Invoice,
    settings: &TenantSettings,
    customer_id: &str,
    currency: Option<&NsId>,
    lines: &LinePlan,
) -> SalesTransaction {
    SalesTransaction {
        external_id: Some(ids::transaction(settings, Kind::SalesOrder, &invoice.uid)),
        custom_form: reference(&settings.sales_order_form),
        ..sale(invoice, settings, customer_id, currency, lines)
    }
}

/// The invoice for a billing invoice made directly, without a sales order: the order's
/// fields, with the invoice's own external id, form and due date.
pub fn invoice(
    invoice: &Invoice,
    settings: &TenantSettings,
    customer_id: &str,
    currency: Option<&NsId>,
    lines: &LinePlan,
) -> SalesTransaction {
    SalesTransaction {
        external_id: Some(ids::transaction(settings, Kind::Invoice, &invoice.uid)),
        custom_form: reference(&settings.invoice_form),
        due_date: invoice.due_date,
        ..sale(invoice, settings, customer_id, currency, lines)
    }
}

/// What a sales order and a directly made invoice share: the customer, dates, addresses,
/// classifications, currency and lines of the billing invoice.
fn sale(
    invoice: &Invoice,
    settings: &TenantSettings,
    customer_id: &str,
    currency: Option<&NsId>,
    lines: &LinePlan,
) -> SalesTransaction {
    let mut so = SalesTransaction {
        tran_id: tran_id(settings, &invoice.number),
        entity: Some(RecordRef::id(customer_id)),
        tran_date: Some(invoice.issue_date),
        terms: reference(&settings.terms),
        other_ref_num: invoice.po_number.clone(),
        memo: Some(match &invoice.number {
            Some(n) => format!("{} invoice {n}", invoice.source),
            None => format!("{} invoice {}", invoice.source, invoice.uid),
        }),
        subsidiary: reference(&settings.subsidiary),
        department: reference(&settings.department),
        class: reference(&settings.class),
        location: reference(&settings.location),
        currency: currency.map(|c| RecordRef::id(c.as_str())),
        exchange_rate: exchange_rate(invoice.exchange_rate, settings),
        billing_address: invoice
            .customer
            .billing_address
            .as_ref()
            .map(|a| address(a, display_name(&invoice.customer))),
        shipping_address: invoice
            .customer
            .shipping_address
            .as_ref()
            .map(|a| address(a, display_name(&invoice.customer))),
        item: Some(Sublist::from(
            lines
                .lines
                .iter()
                .cloned()
                .map(|mut line| {
                    for (script, value) in billing_fields(settings, &invoice.customer, "custcol") {
                        line.custom_fields.set(script, value);
                    }
                    line
                })
                .collect::<Vec<_>>(),
        )),
        tax_details_override: settings.tax_override.then_some(true),
        ..Default::default()
    };
    so.custom_fields.set(
        settings.custom_fields.transaction_site.clone(),
        settings.site.clone(),
    );
    so.custom_fields.set(
        settings.custom_fields.transaction_invoice_uid.clone(),
        invoice.uid.clone(),
    );
    for (script, value) in billing_fields(settings, &invoice.customer, "custbody") {
        so.custom_fields.set(script, value);
    }
    so
}

/// The body of the sales order -> invoice transform: the lines come from the order.
pub fn invoice_from_order(invoice: &Invoice, settings: &TenantSettings) -> SalesTransaction {
    let mut body = SalesTransaction {
        external_id: Some(ids::transaction(settings, Kind::Invoice, &invoice.uid)),
        tran_id: tran_id(settings, &invoice.number),
        tran_date: Some(invoice.issue_date),
        due_date: invoice.due_date,
        exchange_rate: exchange_rate(invoice.exchange_rate, settings),
        ..Default::default()
    };
    body.custom_fields.set(
        settings.custom_fields.transaction_site.clone(),
        settings.site.clone(),
    );
    body.custom_fields.set(
        settings.custom_fields.transaction_invoice_uid.clone(),
        invoice.uid.clone(),
    );
    body
}

/// Fields every money movement carries: date, currency, method unless Payment Instruments,
/// bank account or Undeposited Funds, classifications.
fn cash(
    settings: &TenantSettings,
    customer_id: &str,
    date: NaiveDate,
    currency: Option<&NsId>,
    rate: Option<Decimal>,
    memo: Option<String>,
) -> CashTransaction {
    CashTransaction {
        customer: Some(RecordRef::id(customer_id)),
        tran_date: Some(date),
        currency: currency.map(|c| RecordRef::id(c.as_str())),
        exchange_rate: exchange_rate(rate, settings),
        subsidiary: reference(&settings.subsidiary),
        department: reference(&settings.department),
        class: reference(&settings.class),
        location: reference(&settings.location),
        payment_method: if settings.payment_instruments {
            None
        } else {
            reference(&settings.payment_method)
        },
        memo,
        ..Default::default()
    }
}

/// The bank account of a gateway in a currency (`payments.gateway_accounts`), if mapped.
fn gateway_account<'s>(
    settings: &'s TenantSettings,
    gateway: Option<&str>,
    currency: &str,
) -> Option<&'s NsId> {
    let key = format!("{}:{}", gateway?, currency.to_ascii_uppercase());
    settings.gateway_accounts.get(&key)
}

/// The NetSuite payment method of a payment by its gateway and type
/// (`payments.payment_methods`, most specific first); `None` keeps the tenant's one method.
fn payment_method<'s>(settings: &'s TenantSettings, p: &Payment) -> Option<&'s NsId> {
    if settings.payment_instruments {
        return None;
    }
    let (gateway, kind) = (p.gateway.as_deref(), p.source_type.as_deref());
    let keys = [
        gateway.zip(kind).map(|(g, k)| format!("{g}:{k}")),
        kind.map(str::to_owned),
        gateway.map(str::to_owned),
    ];
    keys.into_iter()
        .flatten()
        .find_map(|k| settings.payment_methods.get(&k))
}

fn payment_memo(p: &Payment) -> Option<String> {
    p.memo.clone().or_else(|| p.reference.clone())
}

fn deposit_account(settings: &TenantSettings, mut t: CashTransaction) -> CashTransaction {
    match &settings.payment_account {
        Some(acct) => {
            t.account = Some(RecordRef::id(acct.as_str()));
            t.undep_funds = Some(false);
        }
        None => t.undep_funds = Some(true),
    }
    t
}

/// Money received for a billing payment: amount, date, reference, account; `kind` decides the
/// external id (a payment or a deposit).
fn received(
    invoice: &Invoice,
    p: &Payment,
    kind: Kind,
    settings: &TenantSettings,
    customer_id: &str,
    currency: Option<&NsId>,
) -> CashTransaction {
    let date = p.received_at.date_naive();
    let mut t = cash(
        settings,
        customer_id,
        date,
        currency,
        p.exchange_rate.or(invoice.exchange_rate),
        payment_memo(p),
    );
    if let Some(method) = payment_method(settings, p) {
        t.payment_method = Some(RecordRef::id(method.as_str()));
    }
    t.external_id = Some(ids::transaction(settings, kind, &p.id));
    t.tran_id = tran_id(settings, &Some(p.id.clone()));
    t.payment = Some(p.amount);
    t.check_num = p.reference.clone();
    match gateway_account(settings, p.gateway.as_deref(), &invoice.currency) {
        // The gateway's settlement account for this currency: deposited, not undeposited.
        Some(acct) => {
            t.account = Some(RecordRef::id(acct.as_str()));
            t.undep_funds = Some(false);
            t
        }
        None => deposit_account(settings, t),
    }
}

/// A customer payment for a whole billing transaction, applied to this invoice for what
/// billing applied here. The transaction's other invoices add themselves to its apply list as
/// they reach NetSuite ([`payment_application`]); until then the rest is unapplied, as the
/// money is in billing.
pub fn payment(
    invoice: &Invoice,
    p: &Payment,
    settings: &TenantSettings,
    customer_id: &str,
    invoice_id: &str,
    currency: Option<&NsId>,
) -> CashTransaction {
    let mut t = received(invoice, p, Kind::Payment, settings, customer_id, currency);
    t.payment = Some(p.original_amount.max(p.amount));
    t.auto_apply = Some(false);
    t.apply = Some(Sublist::from(vec![ApplyLine {
        doc: RecordRef::id(invoice_id),
        apply: true,
        amount: p.amount,
    }]));
    t
}

/// A customer deposit on the sales order for a payment taken before fulfilment.
pub fn deposit(
    invoice: &Invoice,
    p: &Payment,
    settings: &TenantSettings,
    customer_id: &str,
    sales_order_id: &str,
    currency: Option<&NsId>,
) -> CashTransaction {
    let mut t = received(invoice, p, Kind::Deposit, settings, customer_id, currency);
    t.sales_order = Some(RecordRef::id(sales_order_id));
    t
}

/// The body of the deposit -> deposit application transform, applying it to the invoice.
pub fn deposit_application(
    p: &Payment,
    settings: &TenantSettings,
    invoice_id: &str,
) -> CashTransaction {
    CashTransaction {
        external_id: Some(ids::transaction(settings, Kind::DepositApplication, &p.id)),
        tran_date: Some(p.received_at.date_naive()),
        apply: Some(Sublist::from(vec![ApplyLine {
            doc: RecordRef::id(invoice_id),
            apply: true,
            amount: p.amount,
        }])),
        ..Default::default()
    }
}

/// The body of the invoice -> credit memo transform for a credit note: its own lines replace
/// the invoice's, applied to the invoice for what billing applied there.
pub fn credit_memo(
    cn: &CreditNote,
    settings: &TenantSettings,
    invoice_uid: &str,
    invoice_id: &str,
    lines: &LinePlan,
) -> SalesTransaction {
    let applied = cn.applied_to(invoice_uid);
    let mut body = SalesTransaction {
        external_id: Some(ids::transaction(settings, Kind::CreditMemo, &cn.uid)),
        tran_id: tran_id(settings, &cn.number),
        tran_date: Some(cn.issue_date),
        memo: Some(credit_note_memo(cn)),
        other_ref_num: cn.po_number.clone(),
        tax_details_override: settings.tax_override.then_some(true),
        auto_apply: Some(false),
        item: Some(Sublist::from(lines.lines.clone())),
        apply: (!applied.is_zero()).then(|| {
            Sublist::from(vec![ApplyLine {
                doc: RecordRef::id(invoice_id),
                apply: true,
                amount: applied,
            }])
        }),
        ..Default::default()
    };
    body.custom_fields.set(
        settings.custom_fields.transaction_site.clone(),
        settings.site.clone(),
    );
    body
}

/// The body of the invoice -> credit memo transform that reverses a NetSuite invoice billing
/// voided after sync: the invoice's own lines, applied to it for its whole amount.
pub fn void_reversal(
    invoice: &Invoice,
    settings: &TenantSettings,
    invoice_id: &str,
    total: Decimal,
) -> SalesTransaction {
    let mut body = SalesTransaction {
        external_id: Some(ids::transaction(settings, Kind::VoidReversal, &invoice.uid)),
        memo: Some(format!(
            "Reverses invoice {} voided in billing",
            invoice.number.as_deref().unwrap_or(&invoice.uid)
        )),
        auto_apply: Some(false),
        apply: Some(Sublist::from(vec![ApplyLine {
            doc: RecordRef::id(invoice_id),
            apply: true,
            amount: total,
        }])),
        ..Default::default()
    };
    body.custom_fields.set(
        settings.custom_fields.transaction_site.clone(),
        settings.site.clone(),
    );
    body
}

/// A customer refund paying out a credit memo's unapplied amount.
pub fn refund(
    invoice: &Invoice,
    r: &Refund,
    settings: &TenantSettings,
    customer_id: &str,
    credit_memo_id: &str,
    currency: Option<&NsId>,
) -> CashTransaction {
    let mut t = cash(
        settings,
        customer_id,
        r.refunded_at.date_naive(),
        currency,
        r.exchange_rate.or(invoice.exchange_rate),
        r.memo.clone().or_else(|| r.reference.clone()),
    );
    t.external_id = Some(ids::transaction(settings, Kind::Refund, &r.id));
    t.tran_id = tran_id(settings, &Some(r.id.clone()));
    // Paid out through the gateway the payments came in by, from its account in the
    // currency (Chargebee's mapping); else the tenant's refund account.
    let account = gateway_account(settings, r.gateway.as_deref(), &invoice.currency)
        .unwrap_or(&settings.refund_account);
    t.account = Some(RecordRef::id(account.as_str()));
    t.ar_acct = reference(&settings.refund_ar_account);
    t.check_num = r.reference.clone();
    t.apply = Some(Sublist::from(vec![ApplyLine {
        doc: RecordRef::id(credit_memo_id),
        apply: true,
        amount: r.amount,
    }]));
    t
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use rust_decimal_macros::dec;

    use super::*;
    use crate::billing::model::{Consolidation, InvoiceStatus, PaymentMethod, Source, Totals};

    #[test]
    fn order_status_in_every_shape_netsuite_gives() {
        use serde_json::json;
        for v in [
            json!({"id": "F", "refName": "Pending Billing"}),
            json!("F"),
            json!("SalesOrd:G"),
        ] {
            assert_eq!(order_stage(Some(&v)), OrderStage::Shipped, "{v}");
        }
        for v in [
            json!({"id": "B"}),
            json!("A"),
            json!("D"),
            json!({"id": "E"}),
        ] {
            assert!(
                matches!(order_stage(Some(&v)), OrderStage::Waiting(_)),
                "{v}"
            );
        }
        let OrderStage::Waiting(partial) = order_stage(Some(&json!("D"))) else {
            panic!()
        };
        assert!(partial.contains("partly fulfilled"), "{partial}");
        for v in [
            json!("C"),
            json!({"id": "H"}),
            json!("pendingBilling"),
            json!(null),
            json!({"refName": "x"}),
        ] {
            assert!(
                matches!(order_stage(Some(&v)), OrderStage::Stopped(_)),
                "{v}"
            );
        }
        assert!(matches!(order_stage(None), OrderStage::Stopped(_)));
    }

    fn settings() -> TenantSettings {
        TenantSettings::from_value(&serde_json::json!({
            "tenant": "cb", "source": "chargebee", "site": "acme-test", "sync_start_date": "2026-01-01",
            "items": {"tax_item": {"id": "100", "type": "non_inventory"}, "discount_item": "101"},
            "payments": {"payment_instruments": true, "account": "8", "gateway_accounts": {"stripe:USD": "9"}},
            "refunds": {"account": "9"},
            "transactions": {"tax_override": true}
        }))
        .unwrap()
    }

    fn invoice(currency: &str) -> Invoice {
        Invoice {
            source: Source::Chargebee,
            uid: "INV-1".into(),
            number: Some("INV-1".into()),
            status: InvoiceStatus::Paid,
            issue_date: NaiveDate::from_ymd_opt(2026, 2, 1).unwrap(),
            due_date: None,
            paid_date: None,
            currency: currency.into(),
            exchange_rate: None,
            consolidation: Consolidation::None,
            parent_uid: None,
            subscription_id: None,
            po_number: None,
            customer: model::Customer {
                id: "c".into(),
                ..Default::default()
            },
            lines: vec![],
            discounts: vec![],
            taxes: vec![],
            payments: vec![],
            refunds: vec![],
            credits: vec![],
            totals: Totals::default(),
            credit_notes: vec![],
        }
    }

    fn billing_payment(gateway: Option<&str>) -> Payment {
        Payment {
            id: "txn_1".into(),
            amount: dec!(10),
            original_amount: dec!(10),
            received_at: chrono::Utc
                .with_ymd_and_hms(2026, 2, 1, 10, 0, 0)
                .unwrap()
                .fixed_offset(),
            method: PaymentMethod::CreditCard,
            memo: Some("ch_3Nx".into()),
            reference: Some("ref-1".into()),
            prepayment: false,
            gateway: gateway.map(str::to_owned),
            source_type: None,
            exchange_rate: None,
        }
    }

    #[test]
    fn the_gateway_and_currency_pick_the_account() {
        let s = settings();
        let by_gateway = payment(
            &invoice("USD"),
            &billing_payment(Some("stripe")),
            &s,
            "1",
            "2",
            None,
        );
        assert_eq!(by_gateway.account.and_then(|a| a.id).as_deref(), Some("9"));
        assert_eq!(by_gateway.undep_funds, Some(false));
        let other_currency = payment(
            &invoice("EUR"),
            &billing_payment(Some("stripe")),
            &s,
            "1",
            "2",
            None,
        );
        assert_eq!(
            other_currency.account.and_then(|a| a.id).as_deref(),
            Some("8"),
            "falls back to payments.account"
        );
        assert_eq!(by_gateway.memo.as_deref(), Some("ch_3Nx"));
        assert_eq!(by_gateway.check_num.as_deref(), Some("ref-1"));
    }

    #[test]
    fn tax_override_reaches_the_order() {
        let s = settings();
        let plan = super::super::lines::LinePlan {
            lines: vec![],
            inventory: false,
            total: dec!(0),
        };
        let so = sales_order(&invoice("USD"), &s, "1", None, &plan);
        assert_eq!(so.tax_details_override, Some(true));
    }
}
