//! Per-invoice flow state: which NetSuite records exist for a billing invoice, where its flow
//! stands, and what went wrong last. Persisted after every NetSuite write, so a crash between
//! two steps resumes at the next one.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::billing::model::Source;

/// Where an invoice's flow stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowStatus {
    /// Queued or partly done; the worker will carry it on.
    Pending,
    /// Inventory sales order created; waiting for NetSuite to show it fulfilled.
    AwaitingFulfilment,
    /// A payment, refund or credit waits for a parent that does not exist yet.
    Parked,
    /// Every record the invoice needs exists in NetSuite.
    Synced,
    /// Out of scope by a setting (zero dollar, other consolidation level, before the start
    /// date); the reason is recorded.
    Skipped,
    /// Stopped at a step; needs a person (or, when retryable, a later attempt).
    Error,
    /// Waits while its tenant is paused (NetSuite refused the login or a permission): not an
    /// invoice error; resuming the tenant queues it again.
    Held,
}

impl FlowStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FlowStatus::Pending => "pending",
            FlowStatus::AwaitingFulfilment => "awaiting_fulfilment",
            FlowStatus::Parked => "parked",
            FlowStatus::Synced => "synced",
            FlowStatus::Skipped => "skipped",
            FlowStatus::Error => "error",
            FlowStatus::Held => "held",
        }
    }

    pub const ALL: [FlowStatus; 7] = [
        FlowStatus::Pending,
        FlowStatus::AwaitingFulfilment,
        FlowStatus::Parked,
        FlowStatus::Synced,
        FlowStatus::Skipped,
        FlowStatus::Error,
        FlowStatus::Held,
    ];
}

/// One entry of the error log: what failed, NetSuite's words, and what a person should do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorEntry {
    /// The flow step, e.g. "create sales order".
    pub step: String,
    /// NetSuite's error code, when NetSuite answered.
    pub code: Option<String>,
    /// NetSuite's (or billsync's) own detail text.
    pub detail: String,
    /// The likely cause, in plain words.
    pub cause: String,
    /// What to do about it.
    pub fix: String,
    /// Whether it may go away by itself (then it is retried with backoff).
    pub retryable: bool,
    /// When this error was first seen for this step.
    pub since: DateTime<Utc>,
}

/// What the flow of one billing invoice has done so far.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowState {
    pub source: Source,
    pub invoice_uid: String,
    pub status: FlowStatus,
    /// Why the invoice was skipped, or what a parked record waits for.
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub customer_id: Option<String>,
    #[serde(default)]
    pub sales_order_id: Option<String>,
    /// The order has inventory lines: the invoice waits for fulfilment.
    #[serde(default)]
    pub inventory: bool,
    #[serde(default)]
    pub fulfilled: bool,
    #[serde(default)]
    pub invoice_id: Option<String>,
    /// Billing payment id -> NetSuite customer deposit id (payments before fulfilment).
    #[serde(default)]
    pub deposits: BTreeMap<String, String>,
    /// Billing payment id -> NetSuite deposit application id.
    #[serde(default)]
    pub deposit_applications: BTreeMap<String, String>,
    /// Billing payment id -> NetSuite customer payment id.
    #[serde(default)]
    pub payments: BTreeMap<String, String>,
    /// Billing refund id -> NetSuite customer refund id.
    #[serde(default)]
    pub refunds: BTreeMap<String, String>,
    /// Billing credit note id -> NetSuite credit memo id.
    #[serde(default)]
    pub credit_memos: BTreeMap<String, String>,
    /// Credit notes raised against another invoice and applied to this one: billing credit
    /// note id -> the NetSuite credit memo whose apply list now names this invoice.
    #[serde(default)]
    pub credit_applications: BTreeMap<String, String>,
    /// Billing credit note id -> what of it billing had applied to this invoice when that
    /// was last written to the memo's apply list (a later application is added).
    #[serde(default)]
    pub credit_applied: BTreeMap<String, rust_decimal::Decimal>,
    /// Billing's figures for the invoice when its NetSuite records were last completed: what
    /// the read-back expects NetSuite's invoice to show.
    #[serde(default)]
    pub posted: Option<Posted>,
    /// What reversed the sync after billing voided the invoice: the credit memo made from the
    /// NetSuite invoice, or the sales order itself when it was closed before it was invoiced.
    #[serde(default)]
    pub reversal_id: Option<String>,
    /// Digest of the invoice fields billing may change after posting (due date, PO number,
    /// addresses) as last written to NetSuite.
    #[serde(default)]
    pub header_fingerprint: Option<String>,
    /// Billing credit note id -> digest of its updatable fields as last written.
    #[serde(default)]
    pub credit_memo_fingerprints: BTreeMap<String, String>,
    /// Failed attempts since the last success.
    #[serde(default)]
    pub attempts: u32,
    #[serde(default)]
    pub last_error: Option<ErrorEntry>,
    /// When a retryable error may be tried again.
    #[serde(default)]
    pub retry_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// The invoice as billing last showed it, for the error log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<InvoiceSummary>,
    /// The last error a person dismissed, with why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dismissed: Option<Dismissal>,
    /// Milliseconds from the queueing of the message that first synced the invoice to the end
    /// of that run: what `billsync status` takes its lag percentiles from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_ms: Option<u64>,
}

impl FlowState {
    pub fn new(source: Source, invoice_uid: impl Into<String>, now: DateTime<Utc>) -> Self {
        FlowState {
            source,
            invoice_uid: invoice_uid.into(),
            status: FlowStatus::Pending,
            reason: None,
            customer_id: None,
            sales_order_id: None,
            inventory: false,
            fulfilled: false,
            invoice_id: None,
            deposits: BTreeMap::new(),
            deposit_applications: BTreeMap::new(),
            payments: BTreeMap::new(),
            refunds: BTreeMap::new(),
            credit_memos: BTreeMap::new(),
            credit_applications: BTreeMap::new(),
            credit_applied: BTreeMap::new(),
            reversal_id: None,
            posted: None,
            header_fingerprint: None,
            credit_memo_fingerprints: BTreeMap::new(),
            attempts: 0,
            last_error: None,
            retry_at: None,
            updated_at: now,
            summary: None,
            dismissed: None,
            lag_ms: None,
        }
    }
}

/// What a person needs to recognise an invoice in the error log, from billing's last read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceSummary {
    pub number: Option<String>,
    /// The customer's organization, else name, else email, else billing id.
    pub customer: String,
    pub total: rust_decimal::Decimal,
    pub currency: String,
    pub issued: chrono::NaiveDate,
}

impl InvoiceSummary {
    pub fn of(invoice: &crate::billing::model::Invoice) -> Self {
        let c = &invoice.customer;
        let name = [c.first_name.as_deref(), c.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let customer = c
            .organization
            .clone()
            .filter(|o| !o.is_empty())
            .or_else(|| Some(name).filter(|n| !n.is_empty()))
            .or_else(|| c.email.clone())
            .unwrap_or_else(|| c.id.clone());
        InvoiceSummary {
            number: invoice.number.clone(),
            customer,
            total: invoice.totals.total,
            currency: invoice.currency.clone(),
            issued: invoice.issue_date,
        }
    }
}

/// An error a person dismissed: the invoice leaves the error log, the entry is kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dismissal {
    pub at: DateTime<Utc>,
    pub reason: String,
    pub error: ErrorEntry,
}

/// What NetSuite's invoice should show once billsync has posted everything billing holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posted {
    /// The invoice total.
    pub total: rust_decimal::Decimal,
    /// What is still open on it (billing's amount due).
    pub due: rust_decimal::Decimal,
}

/// A stored value with the version its conditional writes are checked against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versioned<T> {
    pub value: T,
    pub version: u64,
}
