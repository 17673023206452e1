//! What the simulated site stores. Invoices are kept as immutable versions: every change makes
//! a new `InvoiceState` that shares the invoice's fixed part, so an event's snapshot is one
//! reference-counted pointer and the JSON is rendered only when asked for.

use std::sync::Arc;

use chrono::{DateTime, FixedOffset, NaiveDate};
use rust_decimal::Decimal;

use crate::{Address, ComponentKind, PaymentKind, TaxRate};

pub(crate) type Time = DateTime<FixedOffset>;

/// The parts of the site every rendering needs.
#[derive(Debug)]
pub(crate) struct SiteInfo {
    pub site_id: u64,
    pub subdomain: String,
}

pub(crate) const FAMILY_ID: u64 = 1_502_114;
pub(crate) const FAMILY_NAME: &str = "Acme Cloud Suite";
pub(crate) const FAMILY_HANDLE: &str = "acme-cloud-suite";
pub(crate) const SELLER_NAME: &str = "Acme Demo Software, Inc.";
pub(crate) const PAYMENT_INSTRUCTIONS: &str =
    "Please make checks payable to Acme Demo Software, Inc.";

#[derive(Debug)]
pub(crate) struct ProductRec {
    pub id: u64,
    pub name: String,
    pub handle: String,
    pub description: String,
    pub accounting_code: Option<String>,
    pub item_category: String,
    pub price: Decimal,
    pub interval_months: u32,
    pub trial_days: Option<u32>,
    pub version: u32,
    pub price_point_id: u64,
    pub price_point_handle: String,
    pub created_at: Time,
}

impl ProductRec {
    pub fn is_physical(&self) -> bool {
        self.item_category == "Physical Goods"
    }
}

#[derive(Debug)]
pub(crate) struct ComponentRec {
    pub id: u64,
    pub name: String,
    pub handle: String,
    pub kind: ComponentKind,
    pub unit_name: String,
    pub unit_price: Decimal,
    pub accounting_code: Option<String>,
    pub item_category: String,
    pub price_point_id: u64,
    pub created_at: Time,
}

#[derive(Debug)]
pub(crate) struct CustomerRec {
    pub id: u64,
    pub first_name: String,
    pub last_name: String,
    pub organization: Option<String>,
    pub email: String,
    pub cc_emails: Option<String>,
    pub reference: Option<String>,
    pub phone: Option<String>,
    pub vat_number: Option<String>,
    pub address: Option<Address>,
    pub created_at: Time,
}

impl CustomerRec {
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Level {
    None,
    Parent,
    Child,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "none",
            Level::Parent => "parent",
            Level::Child => "child",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Open,
    Paid,
    Processing,
    Voided,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Paid => "paid",
            Status::Processing => "processing",
            Status::Voided => "voided",
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct LineRec {
    pub uid: String,
    pub title: String,
    pub description: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub subtotal: Decimal,
    pub discount: Decimal,
    pub tax: Decimal,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub transaction_id: u64,
    pub product_id: u64,
    pub product_version: u32,
    /// `None` on ad-hoc lines.
    pub product_price_point_id: Option<u64>,
    pub component: Option<LineComponent>,
    pub custom: bool,
    /// `None` on ad-hoc lines: their kind is not in Maxio's line-item kind list.
    pub kind: Option<&'static str>,
}

impl LineRec {
    pub fn taxable(&self) -> Decimal {
        self.subtotal - self.discount
    }
}

#[derive(Clone, Debug)]
pub(crate) struct LineComponent {
    pub id: u64,
    pub price_point_id: u64,
    pub unit_name: String,
}

#[derive(Clone, Debug)]
pub(crate) enum DiscountKind {
    Percentage(Decimal),
    Flat(Decimal),
}

#[derive(Clone, Debug)]
pub(crate) struct DiscountRec {
    pub uid: String,
    pub title: String,
    pub code: String,
    pub kind: DiscountKind,
    pub source_id: u64,
    pub transaction_id: u64,
}

#[derive(Clone, Debug)]
pub(crate) struct TaxRec {
    pub uid: String,
    pub rate: TaxRate,
    pub source_id: u64,
    /// Credit-note taxes have none.
    pub transaction_id: Option<u64>,
}

/// Document-level money of an invoice or credit note (2 decimals each).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Totals {
    pub subtotal: Decimal,
    pub discount: Decimal,
    pub tax: Decimal,
    pub taxable: Decimal,
}

impl Totals {
    pub fn total(&self) -> Decimal {
        self.subtotal - self.discount + self.tax
    }
}

#[derive(Clone, Debug)]
pub(crate) struct ParentRef {
    pub id: u64,
    pub uid: String,
    pub number: u64,
}

#[derive(Clone, Debug)]
pub(crate) struct CustomField {
    pub owner_type: &'static str,
    pub owner_id: u64,
    pub name: String,
    pub value: String,
    pub metadatum_id: u64,
}

/// What never changes after an invoice is issued.
#[derive(Debug)]
pub(crate) struct InvoiceFixed {
    pub id: u64,
    pub uid: String,
    pub number: u64,
    pub customer: Arc<CustomerRec>,
    pub subscription_id: u64,
    pub created_at: Time,
    pub issue_date: NaiveDate,
    pub net_terms: u32,
    pub role: String,
    pub collection_method: &'static str,
    pub currency: String,
    pub level: Level,
    pub parent: Option<ParentRef>,
    pub group_id: Option<u64>,
    pub product_id: u64,
    pub product_name: String,
    pub shipping: Option<Address>,
    pub lines: Vec<LineRec>,
    pub discount: Option<DiscountRec>,
    pub tax: Option<TaxRec>,
    pub totals: Totals,
    pub custom_fields: Vec<CustomField>,
    pub memo: String,
}

impl InvoiceFixed {
    pub fn due_date(&self) -> NaiveDate {
        self.issue_date + chrono::Duration::days(i64::from(self.net_terms))
    }
}

#[derive(Clone, Debug)]
pub(crate) struct PaymentRec {
    pub uid: String,
    pub transaction_id: u64,
    pub time: Time,
    pub original: Decimal,
    pub applied: Decimal,
    pub kind: PaymentKind,
    pub memo: String,
    pub gateway_used: Option<&'static str>,
    pub gateway_transaction_id: Option<String>,
    pub card: Card,
    /// Set on a segment's share of a payment made on its consolidated invoice.
    pub parent_invoice_number: Option<u64>,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Card {
    pub brand: &'static str,
    pub last4: &'static str,
    pub exp_month: u32,
    pub exp_year: u32,
}

impl Card {
    pub fn masked(&self) -> String {
        format!("XXXX-XXXX-XXXX-{}", self.last4)
    }

    pub fn expiration(&self) -> String {
        format!("{:02}/{}", self.exp_month, self.exp_year)
    }
}

#[derive(Clone, Debug)]
pub(crate) struct CreditRec {
    pub uid: String,
    pub credit_note_number: u64,
    pub credit_note_uid: String,
    pub time: Time,
    pub memo: String,
    pub amount: Decimal,
}

#[derive(Clone, Debug)]
pub(crate) struct RefundRec {
    pub transaction_id: u64,
    pub payment_id: u64,
    pub memo: String,
    pub amount: Decimal,
    pub gateway_used: Option<&'static str>,
    pub gateway_transaction_id: Option<String>,
    pub time: Time,
}

/// One version of an invoice.
#[derive(Clone, Debug)]
pub(crate) struct InvoiceState {
    pub fixed: Arc<InvoiceFixed>,
    pub status: Status,
    pub updated_at: Time,
    pub paid_date: Option<NaiveDate>,
    pub payments: Vec<PaymentRec>,
    pub credits: Vec<CreditRec>,
    pub refunds: Vec<RefundRec>,
}

impl InvoiceState {
    pub fn total(&self) -> Decimal {
        self.fixed.totals.total()
    }
    pub fn paid(&self) -> Decimal {
        self.payments.iter().map(|p| p.applied).sum()
    }
    pub fn credited(&self) -> Decimal {
        self.credits.iter().map(|c| c.amount).sum()
    }
    pub fn refunded(&self) -> Decimal {
        self.refunds.iter().map(|r| r.amount).sum()
    }
    pub fn due(&self) -> Decimal {
        self.total() - self.credited() - self.paid()
    }
}

/// What never changes after a credit note is created.
#[derive(Debug)]
pub(crate) struct CreditNoteFixed {
    pub uid: String,
    pub number: u64,
    pub invoice: Arc<InvoiceFixed>,
    pub issue_date: NaiveDate,
    pub memo: String,
    pub lines: Vec<LineRec>,
    pub tax: Option<TaxRec>,
    pub totals: Totals,
}

#[derive(Clone, Debug)]
pub(crate) struct CnApplication {
    pub uid: String,
    pub time: Time,
    pub invoice_uid: String,
    pub memo: String,
    pub amount: Decimal,
}

#[derive(Clone, Debug)]
pub(crate) struct CreditNoteState {
    pub fixed: Arc<CreditNoteFixed>,
    pub applied_date: Option<NaiveDate>,
    pub applications: Vec<CnApplication>,
    pub refunds: Vec<RefundRec>,
}

impl CreditNoteState {
    pub fn applied(&self) -> Decimal {
        self.applications.iter().map(|a| a.amount).sum::<Decimal>()
            + self.refunds.iter().map(|r| r.amount).sum::<Decimal>()
    }
}

#[derive(Clone, Debug)]
pub(crate) enum EventData {
    IssueInvoice {
        to_status: Status,
    },
    ApplyPayment {
        payment: PaymentRec,
    },
    FailedPayment {
        amount: Decimal,
        memo: String,
        transaction_id: u64,
    },
    RefundInvoice {
        refund: RefundRec,
        credit_note: Arc<CreditNoteState>,
    },
    CreateCreditNote {
        credit_note: Arc<CreditNoteState>,
    },
    ApplyCreditNote {
        credit: CreditRec,
    },
    VoidInvoice {
        memo: String,
        reason: String,
        time: Time,
    },
    ChangeInvoiceStatus {
        from: Status,
        to: Status,
        amount: Decimal,
        gateway_trans_id: String,
    },
}

impl EventData {
    pub fn event_type(&self) -> &'static str {
        match self {
            EventData::IssueInvoice { .. } => "issue_invoice",
            EventData::ApplyPayment { .. } => "apply_payment",
            EventData::FailedPayment { .. } => "failed_payment",
            EventData::RefundInvoice { .. } => "refund_invoice",
            EventData::CreateCreditNote { .. } => "create_credit_note",
            EventData::ApplyCreditNote { .. } => "apply_credit_note",
            EventData::VoidInvoice { .. } => "void_invoice",
            EventData::ChangeInvoiceStatus { .. } => "change_invoice_status",
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Event {
    pub id: u64,
    pub timestamp: Time,
    pub invoice: Arc<InvoiceState>,
    pub data: EventData,
}
