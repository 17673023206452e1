//! Performing a flow: read the invoice, read what exists, do the missing steps in order,
//! persist each NetSuite id the moment NetSuite returns it, stop at the first failure.
//!
//! Every step looks before it creates (stored id, then the external id NetSuite knows), so a
//! duplicate message, a sweep racing a webhook or a crash between two steps all end in the
//! same NetSuite records.

use chrono::{DateTime, Duration, Utc};

use super::build::{self, OrderStage, Scope};
use super::errors::{self, FlowProblem};
use super::ids;
use super::lines::{item_for, plan_credit_lines, plan_lines};
use super::state::{ErrorEntry, FlowState, FlowStatus, Posted, Versioned};
use crate::billing::model::{CatalogEntry, CreditNote, Invoice, Line, LineKind};
use crate::billing::source::BillingSource;
use crate::netsuite::records::RecordType;
use crate::netsuite::{GetOptions, NetSuiteClient, NetSuiteError, RecordKey};
use crate::settings::{CustomerMatch, ItemCreation, ItemRef, NsId, TenantSettings};
use crate::store::{CustomerLink, Store, StoreError};

/// What one run of an invoice's flow came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub status: FlowStatus,
    /// NetSuite records created by this run: (record type, internal id).
    pub created: Vec<(RecordType, String)>,
    pub error: Option<ErrorEntry>,
    /// The failure may go away by itself: the caller should try again later.
    pub retry: bool,
}

/// Failures of billsync's own machinery (not of the invoice): the caller retries the message.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The pieces a flow runs with.
pub struct Engine<'a> {
    pub netsuite: &'a NetSuiteClient,
    pub store: &'a dyn Store,
    pub billing: &'a dyn BillingSource,
}

/// The working copy of a flow and where it was read from.
struct Run<'s> {
    settings: &'s TenantSettings,
    state: FlowState,
    version: Option<u64>,
    created: Vec<(RecordType, String)>,
    /// When the state was last saved (or read).
    saved_at: std::time::Instant,
}

/// How long new NetSuite ids may go unsaved while a run goes on. Every run ends with a save;
/// one that dies before it (a crash, a Lambda timeout) leaves records its state does not name,
/// and the next run finds each of them by its external id at the cost of one look-up, so
/// saving after every record would buy little for a write per record.
const REMEMBER_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

/// Why a run stopped early.
enum Stop {
    /// A failure recorded in the error log.
    Failed(ErrorEntry),
    /// Nothing more can happen until NetSuite or billing changes (fulfilment, a parent).
    Waiting(FlowStatus, String),
    Engine(EngineError),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Engine(EngineError::Store(e))
    }
}

/// Backoff for retryable failures between sweeps: 1, 2, 4 ... minutes, at most 2 hours.
fn retry_delay(attempts: u32) -> Duration {
    Duration::minutes(1i64 << attempts.saturating_sub(1).min(7))
}

impl Engine<'_> {
    /// Runs the flow of one billing invoice as far as it can go now.
    pub async fn sync_invoice(
        &self,
        settings: &TenantSettings,
        invoice_uid: &str,
    ) -> Result<Outcome, EngineError> {
        let tenant = settings.tenant.as_str();
        let stored = self.store.flow(tenant, invoice_uid).await?;
        let (state, version) = match stored {
            Some(Versioned { value, version }) => (value, Some(version)),
            None => (
                FlowState::new(settings.source, invoice_uid, Utc::now()),
                None,
            ),
        };
        let mut run = Run {
            settings,
            state,
            version,
            created: Vec::new(),
            saved_at: std::time::Instant::now(),
        };
        let result = self.steps(&mut run).await;
        let now = Utc::now();
        let (status, error) = match result {
            Ok(()) => (FlowStatus::Synced, None),
            Err(Stop::Engine(e)) => return Err(e),
            Err(Stop::Waiting(status, reason)) => {
                run.state.reason = Some(reason);
                (status, None)
            }
            Err(Stop::Failed(entry)) => (FlowStatus::Error, Some(entry)),
        };
        let retry = error.as_ref().is_some_and(|e| e.retryable);
        run.state.status = status;
        match &error {
            Some(entry) => {
                run.state.attempts += 1;
                // Keep the first time this same failure was seen.
                let since = match &run.state.last_error {
                    Some(prev) if prev.step == entry.step && prev.detail == entry.detail => {
                        prev.since
                    }
                    _ => entry.since,
                };
                run.state.last_error = Some(ErrorEntry {
                    since,
                    ..entry.clone()
                });
                run.state.retry_at = retry.then(|| now + retry_delay(run.state.attempts));
            }
            None => {
                run.state.attempts = 0;
                run.state.last_error = None;
                run.state.retry_at = None;
                if status == FlowStatus::Synced {
                    run.state.reason = None;
                }
            }
        }
        run.state.updated_at = now;
        self.save(&mut run).await?;
        Ok(Outcome {
            status: run.state.status,
            created: run.created,
            error: run.state.last_error.clone().filter(|_| error.is_some()),
            retry,
        })
    }

    async fn save(&self, run: &mut Run<'_>) -> Result<(), StoreError> {
        let v = self
            .store
            .save_flow(&run.settings.tenant, &run.state, run.version)
            .await?;
        run.version = Some(v);
        run.saved_at = std::time::Instant::now();
        Ok(())
    }

    /// Records a new NetSuite id; saves the state when it has gone unsaved for
    /// [`REMEMBER_AFTER`] (the run's last save writes it otherwise).
    async fn remember(&self, run: &mut Run<'_>, kind: RecordType, id: &str) -> Result<(), Stop> {
        run.created.push((kind, id.to_owned()));
        run.state.updated_at = Utc::now();
        if run.saved_at.elapsed() >= REMEMBER_AFTER {
            self.save(run).await?;
        }
        Ok(())
    }

    fn failed(step: &str, e: &NetSuiteError) -> Stop {
        Stop::Failed(errors::from_netsuite(step, e, Utc::now()))
    }

    fn problem(step: &str, p: FlowProblem) -> Stop {
        Stop::Failed(errors::from_problem(step, &p, Utc::now()))
    }

    async fn steps(&self, run: &mut Run<'_>) -> Result<(), Stop> {
        let settings = run.settings;
        let invoice = self
            .billing
            .invoice(&run.state.invoice_uid)
            .await
            .map_err(|e| {
                Self::problem(
                    "read invoice",
                    FlowProblem::Billing {
                        detail: e.message,
                        retryable: e.retryable,
                    },
                )
            })?;

        if let Scope::Skip(reason) = build::scope(&invoice, settings) {
            let voided = matches!(
                invoice.status,
                crate::billing::model::InvoiceStatus::Voided
                    | crate::billing::model::InvoiceStatus::Canceled
            );
            if run.state.sales_order_id.is_none() && voided {
                // A store that lost this flow: NetSuite tells whether it was posted.
                self.find_posted(run, &invoice.uid).await?;
            }
            if run.state.sales_order_id.is_none() {
                return Err(Stop::Waiting(FlowStatus::Skipped, reason));
            }
            if voided {
                return self.reverse_void(run, &invoice).await;
            }
            // Already in NetSuite: billing changed a setting's view of it; keep what exists.
            tracing::warn!(invoice = %invoice.uid, %reason, "invoice left scope after it was synced");
        }
        if invoice.lines.is_empty() && !invoice.totals.total.is_zero() {
            return Err(Self::problem(
                "choose sync flow",
                FlowProblem::NoFlow(format!(
                    "invoice {} asks for {} {} but has no lines to post",
                    invoice.uid, invoice.totals.total, invoice.currency
                )),
            ));
        }
        invoice
            .validate()
            .map_err(|e| Self::problem("check invoice totals", FlowProblem::Inconsistent(e)))?;
        let mut effective = build::tracked_settings(settings, &invoice.customer)
            .map_err(|p| Self::problem("map tracking categories", p))?;
        let catalog_lines: Vec<&Line> = invoice
            .lines
            .iter()
            .chain(invoice.credit_notes.iter().flat_map(|cn| cn.lines.iter()))
            .collect();
        self.ensure_items(run, &catalog_lines, &mut effective)
            .await?;
        let settings: &TenantSettings = &effective;
        let lines = plan_lines(&invoice, settings)
            .map_err(|p| Self::problem("map invoice lines", FlowProblem::Lines(p)))?;
        let currency = settings
            .currency(&invoice.currency)
            .map_err(|e| Self::problem("map currency", FlowProblem::NoFlow(e)))?
            .cloned();
        run.state.inventory = lines.inventory;

        let customer_id = self
            .ensure_customer(run, &invoice, currency.as_ref())
            .await?;

        let so_id = match run.state.sales_order_id.clone() {
            Some(id) => id,
            None => {
                let body =
                    build::sales_order(&invoice, settings, &customer_id, currency.as_ref(), &lines);
                let id = self
                    .netsuite
                    .create(RecordType::SalesOrder, &body)
                    .await
                    .map_err(|e| Self::failed("create sales order", &e))?;
                run.state.sales_order_id = Some(id.clone());
                self.remember(run, RecordType::SalesOrder, &id).await?;
                id
            }
        };

        if run.state.inventory && run.state.invoice_id.is_none() && !run.state.fulfilled {
            let so: serde_json::Value = self
                .netsuite
                .get_with(
                    RecordType::SalesOrder,
                    &RecordKey::id(&so_id),
                    &GetOptions {
                        fields: vec!["status".into()],
                        ..Default::default()
                    },
                )
                .await
                .map_err(|e| Self::failed("check fulfilment", &e))?;
            match build::order_stage(so.get("status")) {
                OrderStage::Shipped => run.state.fulfilled = true,
                OrderStage::Waiting(why) => {
                    // Money collected before fulfilment is a deposit on the order (the seed);
                    // once NetSuite shows the order shipped it is a payment on the invoice.
                    self.deposits(
                        run,
                        settings,
                        &invoice,
                        &customer_id,
                        &so_id,
                        currency.as_ref(),
                    )
                    .await?;
                    return Err(Stop::Waiting(
                        FlowStatus::AwaitingFulfilment,
                        format!("sales order {so_id} {why}"),
                    ));
                }
                OrderStage::Stopped(why) => {
                    return Err(Self::problem(
                        "check fulfilment",
                        FlowProblem::Person {
                            code: "ORDER_NOT_BILLABLE",
                            detail: format!("sales order {so_id} {why}"),
                            cause: "NetSuite will not invoice the order as it stands, while billing says the sale stands.".into(),
                            fix: "Open the sales order in NetSuite: reopen it if it was cancelled or closed by mistake, or void the invoice in billing if the sale is off; then retry.".into(),
                        },
                    ));
                }
            }
        }

        let invoice_id = match run.state.invoice_id.clone() {
            Some(id) => id,
            None => {
                let body = build::invoice_from_order(&invoice, settings);
                let id = self
                    .netsuite
                    .transform(
                        RecordType::SalesOrder,
                        &so_id,
                        RecordType::Invoice,
                        &body,
                        &[],
                    )
                    .await
                    .map_err(|e| Self::failed("create invoice from sales order", &e))?;
                run.state.invoice_id = Some(id.clone());
                self.remember(run, RecordType::Invoice, &id).await?;
                id
            }
        };

        for p in &invoice.payments {
            if let Some(dep_id) = run.state.deposits.get(&p.id).cloned() {
                if !run.state.deposit_applications.contains_key(&p.id) {
                    self.apply_deposit(run, settings, p, &dep_id).await?;
                }
            } else if !run.state.payments.contains_key(&p.id) {
                self.pay(run, settings, &invoice, p, &customer_id, currency.as_ref())
                    .await?;
            }
        }

        // Notes raised on this invoice (applied here, elsewhere or nowhere) and notes raised
        // elsewhere and applied here. A source that reads notes with the invoice answers from
        // it; Maxio lists them.
        let notes: Vec<CreditNote> =
            self.billing.credit_notes_for(&invoice).await.map_err(|e| {
                Self::problem(
                    "read credit notes",
                    FlowProblem::Billing {
                        detail: e.message,
                        retryable: e.retryable,
                    },
                )
            })?;
        for cn in &notes {
            let raised_here =
                cn.origin_invoice_uids.is_empty() || cn.origin_invoice_uids.contains(&invoice.uid);
            if raised_here {
                self.book_credit_note(run, settings, cn, &invoice.uid, &invoice_id)
                    .await?;
            } else {
                self.apply_foreign_credit(run, settings, cn, &invoice.uid, &invoice_id)
                    .await?;
            }
        }

        for r in &invoice.refunds {
            if run.state.refunds.contains_key(&r.id) {
                continue;
            }
            let memo = notes
                .iter()
                .find(|cn| cn.refunds.iter().any(|x| x.id == r.id))
                .and_then(|cn| run.state.credit_memos.get(&cn.uid).cloned());
            let Some(memo_id) = memo else {
                return Err(Stop::Waiting(
                    FlowStatus::Parked,
                    format!("refund {} waits for the credit note it is paid from", r.id),
                ));
            };
            let body = build::refund(
                &invoice,
                r,
                settings,
                &customer_id,
                &memo_id,
                currency.as_ref(),
            );
            let id = self
                .netsuite
                .create(RecordType::CustomerRefund, &body)
                .await
                .map_err(|e| Self::failed("create customer refund", &e))?;
            run.state.refunds.insert(r.id.clone(), id.clone());
            self.remember(run, RecordType::CustomerRefund, &id).await?;
        }

        self.follow_updates(run, &invoice, &invoice_id, &notes, settings)
            .await?;
        run.state.posted = Some(Posted {
            total: invoice.totals.total,
            due: invoice.totals.due,
        });
        Ok(())
    }

    /// Billing changed a posted document (Chargebee "update invoice details", a credit note
    /// re-dated): patch the NetSuite record billsync made. A digest of the fields as last
    /// written tells; flows from before digests were kept take the current one as written.
    async fn follow_updates(
        &self,
        run: &mut Run<'_>,
        invoice: &Invoice,
        invoice_id: &str,
        notes: &[CreditNote],
        settings: &TenantSettings,
    ) -> Result<(), Stop> {
        let header = build::invoice_update(invoice);
        let digest = build::fingerprint(&header);
        match &run.state.header_fingerprint {
            Some(old) if *old != digest => {
                self.netsuite
                    .patch(
                        RecordType::Invoice,
                        &RecordKey::id(invoice_id),
                        &header,
                        &[],
                    )
                    .await
                    .map_err(|e| Self::failed("update invoice", &e))?;
                tracing::info!(invoice = %invoice.uid, netsuite_id = %invoice_id, "invoice updated from billing");
                run.state.header_fingerprint = Some(digest);
            }
            Some(_) => {}
            None => run.state.header_fingerprint = Some(digest),
        }
        for cn in notes {
            let Some(memo_id) = run.state.credit_memos.get(&cn.uid).cloned() else {
                continue;
            };
            let body = build::credit_memo_update(cn, settings);
            let digest = build::fingerprint(&body);
            match run.state.credit_memo_fingerprints.get(&cn.uid) {
                Some(old) if *old != digest => {
                    self.netsuite
                        .patch(RecordType::CreditMemo, &RecordKey::id(&memo_id), &body, &[])
                        .await
                        .map_err(|e| Self::failed("update credit memo", &e))?;
                }
                Some(_) => continue,
                None => {}
            }
            run.state
                .credit_memo_fingerprints
                .insert(cn.uid.clone(), digest);
        }
        Ok(())
    }

    /// Closes every line of a sales order billing voided before it was invoiced (NetSuite's
    /// REST API has no void; a closed order is what a person would do by hand).
    async fn close_order(&self, run: &mut Run<'_>, so_id: &str) -> Result<(), Stop> {
        let step = "close sales order";
        if run.state.reversal_id.as_deref() == Some(so_id) {
            return Ok(());
        }
        let order: serde_json::Value = self
            .netsuite
            .get_with(
                RecordType::SalesOrder,
                &RecordKey::id(so_id),
                &GetOptions {
                    expand_sub_resources: true,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| Self::failed(step, &e))?;
        if build::order_stage(order.get("status")) == OrderStage::Shipped {
            return Err(Self::problem(
                step,
                FlowProblem::Person {
                    code: "VOID_NOT_REVERSED",
                    detail: format!("invoice {} was voided in billing after NetSuite shipped sales order {so_id}", run.state.invoice_uid),
                    cause: "The goods left the warehouse; closing the order would hide a shipment billing no longer charges for.".into(),
                    fix: format!("Decide in NetSuite how sales order {so_id} is settled (a return authorization, or an invoice and a credit memo), then mark this invoice handled."),
                },
            ));
        }
        let open_lines: Vec<serde_json::Value> = order
            .pointer("/item/items")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
            .filter(|l| l.get("isClosed").and_then(|c| c.as_bool()) != Some(true))
            .filter_map(|l| l.get("line").cloned())
            .map(|line| serde_json::json!({"line": line, "isClosed": true}))
            .collect();
        if !open_lines.is_empty() {
            self.netsuite
                .patch(
                    RecordType::SalesOrder,
                    &RecordKey::id(so_id),
                    &serde_json::json!({"item": {"items": open_lines}}),
                    &[],
                )
                .await
                .map_err(|e| Self::failed(step, &e))?;
        }
        // The order is its own reversal; nothing stays open for the read-back to compare.
        run.state.reversal_id = Some(so_id.to_owned());
        run.state.posted = None;
        Ok(())
    }

    /// Fills in the sales order, invoice and void reversal NetSuite holds for a billing
    /// invoice, found by their external ids.
    async fn find_posted(&self, run: &mut Run<'_>, uid: &str) -> Result<(), Stop> {
        let settings = run.settings;
        let find = |rt: RecordType, kind: ids::Kind| {
            let eid = ids::transaction(settings, kind, uid);
            async move {
                self.netsuite
                    .find_id_by_external_id(rt, &eid)
                    .await
                    .map_err(|e| Self::failed("find posted records", &e))
            }
        };
        run.state.sales_order_id = find(RecordType::SalesOrder, ids::Kind::SalesOrder).await?;
        if run.state.sales_order_id.is_some() {
            run.state.invoice_id = find(RecordType::Invoice, ids::Kind::Invoice).await?;
        }
        if run.state.invoice_id.is_some() {
            run.state.reversal_id = find(RecordType::CreditMemo, ids::Kind::VoidReversal).await?;
        }
        Ok(())
    }

    /// An invoice voided in billing after billsync posted it. NetSuite's REST API has no void:
    /// an open, untouched NetSuite invoice is reversed by a credit memo made from it for its
    /// whole amount; anything else (only an order, deposits, payments or credits applied, the
    /// tenant's setting off) is an error entry naming the NetSuite record and what to do.
    async fn reverse_void(&self, run: &mut Run<'_>, invoice: &Invoice) -> Result<(), Stop> {
        let step = "reverse void";
        if run.state.reversal_id.is_some() {
            return Ok(());
        }
        let person = |detail: String, fix: String| {
            Self::problem(
                step,
                FlowProblem::Person {
                    code: "VOID_NOT_REVERSED",
                    detail,
                    cause: "Billing voided the invoice after billsync posted it, and billsync cannot reverse NetSuite's records safely by itself.".into(),
                    fix,
                },
            )
        };
        let Some(ns_invoice) = run.state.invoice_id.clone() else {
            // Only the order exists: closing it is the reversal, unless money sits on it.
            let so = run.state.sales_order_id.clone().unwrap_or_default();
            if !run.state.deposits.is_empty() {
                return Err(person(
                    format!("invoice {} was voided in billing after billsync made sales order {so} in NetSuite, which has customer deposits", invoice.uid),
                    format!("Refund or reapply the customer deposits on sales order {so}, close the order in NetSuite, then retry."),
                ));
            }
            return self.close_order(run, &so).await;
        };
        if !run.settings.reverse_voids {
            return Err(person(
                format!("invoice {} was voided in billing after it was posted as NetSuite invoice {ns_invoice}", invoice.uid),
                format!("Void or credit NetSuite invoice {ns_invoice} by hand, or set invoices.reverse_voids to true and retry."),
            ));
        }
        let posted: serde_json::Value = self
            .netsuite
            .get_with(
                RecordType::Invoice,
                &RecordKey::id(&ns_invoice),
                &GetOptions {
                    fields: vec!["total".into(), "amountRemaining".into()],
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| Self::failed(step, &e))?;
        let amount = |k: &str| {
            posted.get(k).and_then(|v| {
                v.to_string()
                    .trim_matches('"')
                    .parse::<rust_decimal::Decimal>()
                    .ok()
            })
        };
        let (Some(total), Some(open)) = (amount("total"), amount("amountRemaining")) else {
            return Err(person(
                format!(
                    "NetSuite invoice {ns_invoice} did not show its total and amount remaining"
                ),
                "Check the token role can read invoices, then retry.".into(),
            ));
        };
        if open != total {
            return Err(person(
                format!("invoice {} was voided in billing, but NetSuite invoice {ns_invoice} has {} of {total} paid or credited", invoice.uid, total - open),
                format!("Unapply or refund what was applied to NetSuite invoice {ns_invoice}, then retry so billsync reverses it; or credit it by hand."),
            ));
        }
        let body = build::void_reversal(invoice, run.settings, &ns_invoice, total);
        let made = self
            .netsuite
            .transform_or_find(
                RecordType::Invoice,
                &ns_invoice,
                RecordType::CreditMemo,
                &body,
                &[],
            )
            .await
            .map_err(|e| Self::failed(step, &e))?;
        run.state.reversal_id = Some(made.id.clone());
        run.state.posted = Some(Posted {
            total,
            due: rust_decimal::Decimal::ZERO,
        });
        if made.existed {
            return Ok(());
        }
        self.remember(run, RecordType::CreditMemo, &made.id).await
    }

    /// Customer deposits on the sales order for the payments billing took before fulfilment.
    /// A payment NetSuite already holds as a customer payment (a run from a lost or emptied
    /// store, after fulfilment) is not taken twice. A transaction that also paid other
    /// invoices is no deposit: a deposit belongs to one order, and the transaction is one
    /// customer payment, which this invoice joins once it exists ([`Self::pay`]).
    async fn deposits(
        &self,
        run: &mut Run<'_>,
        settings: &TenantSettings,
        invoice: &Invoice,
        customer_id: &str,
        so_id: &str,
        currency: Option<&NsId>,
    ) -> Result<(), Stop> {
        for p in &invoice.payments {
            if run.state.deposits.contains_key(&p.id)
                || run.state.payments.contains_key(&p.id)
                || p.original_amount > p.amount
            {
                continue;
            }
            let as_payment = ids::transaction(settings, ids::Kind::Payment, &p.id);
            if let Some(id) = self
                .netsuite
                .find_id_by_external_id(RecordType::CustomerPayment, &as_payment)
                .await
                .map_err(|e| Self::failed("find customer payment", &e))?
            {
                run.state.payments.insert(p.id.clone(), id);
                continue;
            }
            let body = build::deposit(invoice, p, settings, customer_id, so_id, currency);
            let id = self
                .netsuite
                .create(RecordType::CustomerDeposit, &body)
                .await
                .map_err(|e| Self::failed("create customer deposit", &e))?;
            run.state.deposits.insert(p.id.clone(), id.clone());
            self.remember(run, RecordType::CustomerDeposit, &id).await?;
        }
        Ok(())
    }

    /// Applies a payment's customer deposit to the invoice (a deposit application).
    async fn apply_deposit(
        &self,
        run: &mut Run<'_>,
        settings: &TenantSettings,
        p: &crate::billing::model::Payment,
        dep_id: &str,
    ) -> Result<(), Stop> {
        let invoice_id = run
            .state
            .invoice_id
            .clone()
            .expect("deposits are applied once the invoice exists");
        let body = build::deposit_application(p, settings, &invoice_id);
        let id = self
            .netsuite
            .transform(
                RecordType::CustomerDeposit,
                dep_id,
                RecordType::DepositApplication,
                &body,
                &[],
            )
            .await
            .map_err(|e| Self::failed("apply customer deposit", &e))?;
        run.state
            .deposit_applications
            .insert(p.id.clone(), id.clone());
        self.remember(run, RecordType::DepositApplication, &id)
            .await
    }

    /// Books this invoice's part of a billing payment: the transaction's one customer payment,
    /// created for the whole transaction, or extended to this invoice when another invoice of
    /// the transaction made it. For an inventory invoice a deposit NetSuite already holds for
    /// the payment (a lost or emptied store) is applied instead of paying twice.
    async fn pay(
        &self,
        run: &mut Run<'_>,
        settings: &TenantSettings,
        invoice: &Invoice,
        p: &crate::billing::model::Payment,
        customer_id: &str,
        currency: Option<&NsId>,
    ) -> Result<(), Stop> {
        let invoice_id = run
            .state
            .invoice_id
            .clone()
            .expect("payments are booked once the invoice exists");
        let invoice_id = invoice_id.as_str();
        if run.state.inventory && p.original_amount <= p.amount {
            let as_deposit = ids::transaction(settings, ids::Kind::Deposit, &p.id);
            if let Some(dep_id) = self
                .netsuite
                .find_id_by_external_id(RecordType::CustomerDeposit, &as_deposit)
                .await
                .map_err(|e| Self::failed("find customer deposit", &e))?
            {
                run.state.deposits.insert(p.id.clone(), dep_id.clone());
                return self.apply_deposit(run, settings, p, &dep_id).await;
            }
        }
        let body = build::payment(invoice, p, settings, customer_id, invoice_id, currency);
        let made = self
            .netsuite
            .create_or_find(RecordType::CustomerPayment, &body)
            .await
            .map_err(|e| Self::failed("create customer payment", &e))?;
        run.state.payments.insert(p.id.clone(), made.id.clone());
        if !made.existed {
            return self
                .remember(run, RecordType::CustomerPayment, &made.id)
                .await;
        }
        // Made by another invoice of the transaction (or an earlier run of this one): the
        // apply line for this invoice is added, or set again to billing's amount.
        self.netsuite
            .patch(
                RecordType::CustomerPayment,
                &RecordKey::id(&made.id),
                &build::payment_application(invoice_id, p.amount),
                &[],
            )
            .await
            .map_err(|e| Self::failed("apply customer payment", &e))?;
        run.state.updated_at = Utc::now();
        Ok(())
    }

    /// The credit memo of a note raised on this invoice: made from the invoice, applied here
    /// for what billing applied here; left unapplied, as customer credit, for the rest (the
    /// invoices it was applied to add themselves). Found instead when another invoice's flow
    /// made it first.
    async fn book_credit_note(
        &self,
        run: &mut Run<'_>,
        settings: &TenantSettings,
        cn: &CreditNote,
        invoice_uid: &str,
        invoice_id: &str,
    ) -> Result<(), Stop> {
        if let Some(memo_id) = run.state.credit_memos.get(&cn.uid).cloned() {
            return self
                .follow_application(run, cn, &memo_id, invoice_uid, invoice_id)
                .await;
        }
        let made = self
            .credit_memo(settings, cn, invoice_id, invoice_uid, invoice_id)
            .await?;
        run.state
            .credit_applied
            .insert(cn.uid.clone(), cn.applied_to(invoice_uid));
        run.state
            .credit_memos
            .insert(cn.uid.clone(), made.id.clone());
        run.state.credit_memo_fingerprints.insert(
            cn.uid.clone(),
            build::fingerprint(&build::credit_memo_update(cn, settings)),
        );
        if made.existed {
            run.state.updated_at = Utc::now();
            return Ok(());
        }
        self.remember(run, RecordType::CreditMemo, &made.id).await
    }

    /// Makes (or finds) a note's credit memo from the NetSuite invoice it was raised on,
    /// applied to `apply_to` for what billing applied to `apply_uid`; when it already existed,
    /// sets that one apply line on it.
    async fn credit_memo(
        &self,
        settings: &TenantSettings,
        cn: &CreditNote,
        origin_id: &str,
        apply_uid: &str,
        apply_to: &str,
    ) -> Result<crate::netsuite::Created, Stop> {
        let cn_lines = plan_credit_lines(cn, settings)
            .map_err(|p| Self::problem("map credit note lines", FlowProblem::Lines(p)))?;
        let body = build::credit_memo(cn, settings, apply_uid, apply_to, &cn_lines);
        let made = self
            .netsuite
            .transform_or_find(
                RecordType::Invoice,
                origin_id,
                RecordType::CreditMemo,
                &body,
                &["item"],
            )
            .await
            .map_err(|e| Self::failed("create credit memo", &e))?;
        let amount = cn.applied_to(apply_uid);
        if made.existed && !amount.is_zero() {
            self.apply_credit(&made.id, apply_to, amount).await?;
        }
        Ok(made)
    }

    async fn apply_credit(
        &self,
        memo_id: &str,
        invoice_id: &str,
        amount: rust_decimal::Decimal,
    ) -> Result<(), Stop> {
        self.netsuite
            .patch(
                RecordType::CreditMemo,
                &RecordKey::id(memo_id),
                &build::credit_application(invoice_id, amount),
                &[],
            )
            .await
            .map_err(|e| Self::failed("apply credit memo", &e))
    }

    /// Adds this invoice to the apply list of the credit memo of a note raised on another
    /// invoice. When no memo exists yet and that invoice is in NetSuite, this flow makes the
    /// memo from it; until that invoice reaches NetSuite the credit waits (parked).
    async fn apply_foreign_credit(
        &self,
        run: &mut Run<'_>,
        settings: &TenantSettings,
        cn: &CreditNote,
        invoice_uid: &str,
        invoice_id: &str,
    ) -> Result<(), Stop> {
        if let Some(memo_id) = run.state.credit_applications.get(&cn.uid).cloned() {
            return self
                .follow_application(run, cn, &memo_id, invoice_uid, invoice_id)
                .await;
        }
        let amount = cn.applied_to(invoice_uid);
        if amount.is_zero() {
            return Ok(());
        }
        let tenant = run.settings.tenant.clone();
        // The origin flow's record of the memo and of its invoice, else NetSuite's.
        let mut memo_id = None;
        let mut origin_id = None;
        for origin in &cn.origin_invoice_uids {
            if let Some(flow) = self.store.flow(&tenant, origin).await? {
                memo_id = memo_id.or_else(|| flow.value.credit_memos.get(&cn.uid).cloned());
                origin_id = origin_id.or(flow.value.invoice_id);
            }
        }
        if memo_id.is_none() {
            let external_id = ids::transaction(settings, ids::Kind::CreditMemo, &cn.uid);
            memo_id = self
                .netsuite
                .find_id_by_external_id(RecordType::CreditMemo, &external_id)
                .await
                .map_err(|e| Self::failed("find credit memo", &e))?;
        }
        let memo_id = match memo_id {
            Some(id) => {
                self.apply_credit(&id, invoice_id, amount).await?;
                id
            }
            None => {
                if origin_id.is_none() {
                    for origin in &cn.origin_invoice_uids {
                        let external_id = ids::transaction(settings, ids::Kind::Invoice, origin);
                        origin_id = self
                            .netsuite
                            .find_id_by_external_id(RecordType::Invoice, &external_id)
                            .await
                            .map_err(|e| Self::failed("find invoice", &e))?;
                        if origin_id.is_some() {
                            break;
                        }
                    }
                }
                let Some(origin_id) = origin_id else {
                    return Err(Stop::Waiting(
                        FlowStatus::Parked,
                        format!(
                            "credit note {} waits for its invoice {} to reach NetSuite",
                            cn.uid,
                            cn.origin_invoice_uids.join(", ")
                        ),
                    ));
                };
                let made = self
                    .credit_memo(settings, cn, &origin_id, invoice_uid, invoice_id)
                    .await?;
                if !made.existed {
                    run.created.push((RecordType::CreditMemo, made.id.clone()));
                }
                made.id
            }
        };
        run.state
            .credit_applications
            .insert(cn.uid.clone(), memo_id);
        run.state.credit_applied.insert(cn.uid.clone(), amount);
        run.state.updated_at = Utc::now();
        self.save(run).await?;
        Ok(())
    }

    /// A note already on NetSuite whose application to this invoice billing has changed
    /// since it was written (applied again later): the memo's line for this invoice is set to
    /// billing's amount. Flows from before this was kept take the current amount as written.
    async fn follow_application(
        &self,
        run: &mut Run<'_>,
        cn: &CreditNote,
        memo_id: &str,
        invoice_uid: &str,
        invoice_id: &str,
    ) -> Result<(), Stop> {
        let want = cn.applied_to(invoice_uid);
        match run.state.credit_applied.get(&cn.uid) {
            Some(had) if *had != want => {
                self.apply_credit(memo_id, invoice_id, want).await?;
            }
            Some(_) => return Ok(()),
            None => {}
        }
        run.state.credit_applied.insert(cn.uid.clone(), want);
        run.state.updated_at = Utc::now();
        Ok(())
    }

    /// NetSuite items for catalog entries no mapping names, created from the billing catalog
    /// (Chargebee's item mapping) once and remembered; `settings` then maps them.
    async fn ensure_items(
        &self,
        run: &mut Run<'_>,
        lines: &[&Line],
        settings: &mut std::borrow::Cow<'_, TenantSettings>,
    ) -> Result<(), Stop> {
        let Some(creation) = settings.items.create_missing.clone() else {
            return Ok(());
        };
        let tenant = run.settings.tenant.clone();
        for line in lines {
            if !matches!(line.kind, LineKind::Product | LineKind::Component)
                || item_for(line, settings).is_ok()
            {
                continue;
            }
            let Some(entry_id) = line.price_point_id.clone() else {
                continue;
            };
            let link = match self.store.item_link(&tenant, &entry_id).await? {
                Some(link) => link,
                None => {
                    let entry = self.billing.catalog_entry(line).await.map_err(|e| {
                        Self::problem(
                            "read catalog entry",
                            FlowProblem::Billing {
                                detail: e.message,
                                retryable: e.retryable,
                            },
                        )
                    })?;
                    // No catalog entry: the line stays unmapped and planning reports it.
                    let Some(entry) = entry else { continue };
                    let income = self.income_account(&entry, &creation).await?;
                    let body = build::item(&entry, settings, &creation, &income)
                        .map_err(|p| Self::problem("create item", p))?;
                    let kind = creation.item_type.record_type();
                    let id = self
                        .netsuite
                        .create(kind, &body)
                        .await
                        .map_err(|e| Self::failed("create item", &e))?;
                    run.created.push((kind, id.clone()));
                    let link = ItemRef {
                        id: NsId::parse(&id).ok_or_else(|| {
                            Self::problem(
                                "create item",
                                FlowProblem::NoFlow(format!("NetSuite gave item id `{id}`")),
                            )
                        })?,
                        item_type: creation.item_type,
                    };
                    self.store.put_item_link(&tenant, &entry_id, &link).await?;
                    link
                }
            };
            let s = settings.to_mut();
            s.items.products.insert(entry_id.clone(), link.clone());
            s.items.components.insert(entry_id, link);
        }
        Ok(())
    }

    /// The income account for a new item: the NetSuite account whose number or name is the
    /// entry's accounting code, else the configured default.
    async fn income_account(
        &self,
        entry: &CatalogEntry,
        creation: &ItemCreation,
    ) -> Result<NsId, Stop> {
        let step = "find income account";
        if let Some(code) = &entry.accounting_code {
            let ids = self
                .netsuite
                .accounts_named(code)
                .await
                .map_err(|e| Self::failed(step, &e))?;
            let found = ids.first().and_then(|id| NsId::parse(id));
            return found.ok_or_else(|| {
                Self::problem(
                    step,
                    FlowProblem::Mapping {
                        detail: format!(
                            "catalog entry `{}` has accounting code `{code}`, and no NetSuite account has that number or name",
                            entry.id
                        ),
                        fix: "Create the account in NetSuite or correct the accounting code in billing".into(),
                    },
                )
            });
        }
        creation.income_account.clone().ok_or_else(|| {
            Self::problem(
                step,
                FlowProblem::Mapping {
                    detail: format!("catalog entry `{}` has no accounting code", entry.id),
                    fix: "Give the entry an accounting code in billing, or set items.create_missing.income_account".into(),
                },
            )
        })
    }

    /// The NetSuite customer for the invoice's billing customer: the stored link; else the
    /// record carrying our external id; else (matching by email) one with that email and no
    /// other external id; else a new one. Adds the invoice currency when the customer lacks it.
    async fn ensure_customer(
        &self,
        run: &mut Run<'_>,
        invoice: &Invoice,
        currency: Option<&NsId>,
    ) -> Result<String, Stop> {
        let settings = run.settings;
        let tenant = settings.tenant.as_str();
        let billing = &invoice.customer;
        let step = "find or create customer";
        let current = build::fingerprint(&build::customer_update(billing, settings));
        let mut link = self.store.customer(tenant, &billing.id).await?;
        if link.is_none() {
            let external_id = ids::customer(settings, &billing.id);
            let mut found = self
                .netsuite
                .find_id_by_external_id(RecordType::Customer, &external_id)
                .await
                .map_err(|e| Self::failed(step, &e))?;
            if found.is_none() && settings.customer_match == CustomerMatch::Email {
                if let Some(email) = billing.email.as_deref() {
                    let rows = self
                        .netsuite
                        .customers_by_email(email)
                        .await
                        .map_err(|e| Self::failed(step, &e))?;
                    let candidate = rows
                        .iter()
                        .find(|r| r.external_id.as_deref().is_none_or(|x| x == external_id));
                    if let Some(id) = candidate.map(|r| r.id.as_str()) {
                        let body = build::customer_link(billing, settings);
                        self.netsuite
                            .patch(RecordType::Customer, &RecordKey::id(id), &body, &[])
                            .await
                            .map_err(|e| Self::failed("link customer found by email", &e))?;
                        found = Some(id.to_owned());
                    }
                }
            }
            let (id, currencies) = match found {
                // An existing customer's currencies are unknown: add ours to be sure.
                Some(id) => (id, Vec::new()),
                None => {
                    let body = build::customer(billing, settings, currency);
                    let id = self
                        .netsuite
                        .create(RecordType::Customer, &body)
                        .await
                        .map_err(|e| Self::failed("create customer", &e))?;
                    run.created.push((RecordType::Customer, id.clone()));
                    (id, vec![invoice.currency.clone()])
                }
            };
            let new_link = CustomerLink {
                netsuite_id: id,
                currencies,
                fingerprint: Some(current.clone()),
            };
            self.store
                .put_customer(tenant, &billing.id, &new_link)
                .await?;
            link = Some(new_link);
        }
        let mut link = link.expect("set above");
        self.follow_customer(tenant, billing, &mut link, &current, settings)
            .await?;
        if let Some(cur) = currency {
            if !link
                .currencies
                .iter()
                .any(|c| c.eq_ignore_ascii_case(&invoice.currency))
            {
                self.netsuite
                    .patch(
                        RecordType::Customer,
                        &RecordKey::id(&link.netsuite_id),
                        &build::customer_currency(cur),
                        &[],
                    )
                    .await
                    .map_err(|e| Self::failed("add currency to customer", &e))?;
                link.currencies.push(invoice.currency.clone());
                self.store.put_customer(tenant, &billing.id, &link).await?;
            }
        }
        run.state.customer_id = Some(link.netsuite_id.clone());
        Ok(link.netsuite_id)
    }
}

impl Engine<'_> {
    /// Keeps a linked NetSuite customer in step with billing: patches it when the billing
    /// customer changed since it was last written (links from before digests were kept take
    /// the current one as written).
    async fn follow_customer(
        &self,
        tenant: &str,
        billing: &crate::billing::model::Customer,
        link: &mut CustomerLink,
        current: &str,
        settings: &TenantSettings,
    ) -> Result<(), Stop> {
        match link.fingerprint.as_deref() {
            Some(old) if old == current => return Ok(()),
            Some(_) => {
                self.netsuite
                    .patch(
                        RecordType::Customer,
                        &RecordKey::id(&link.netsuite_id),
                        &build::customer_update(billing, settings),
                        &[],
                    )
                    .await
                    .map_err(|e| Self::failed("update customer", &e))?;
                tracing::info!(customer = %billing.id, netsuite_id = %link.netsuite_id, "customer updated from billing");
            }
            None => {}
        }
        link.fingerprint = Some(current.to_owned());
        self.store.put_customer(tenant, &billing.id, link).await?;
        Ok(())
    }

    /// A billing customer changed (Chargebee `customer_changed`): update the NetSuite customer
    /// billsync links it to. A customer with no link yet is created with its first invoice.
    /// Returns the NetSuite id when there was a record to keep in step.
    pub async fn sync_customer(
        &self,
        settings: &TenantSettings,
        customer_id: &str,
    ) -> Result<Result<Option<String>, ErrorEntry>, EngineError> {
        let tenant = settings.tenant.as_str();
        let Some(mut link) = self.store.customer(tenant, customer_id).await? else {
            return Ok(Ok(None));
        };
        let billing = match self.billing.customer(customer_id).await {
            Ok(c) => c,
            Err(e) => {
                return Ok(Err(errors::from_problem(
                    "read customer",
                    &FlowProblem::Billing {
                        detail: e.message,
                        retryable: e.retryable,
                    },
                    Utc::now(),
                )))
            }
        };
        let current = build::fingerprint(&build::customer_update(&billing, settings));
        match self
            .follow_customer(tenant, &billing, &mut link, &current, settings)
            .await
        {
            Ok(()) => Ok(Ok(Some(link.netsuite_id))),
            Err(Stop::Failed(entry)) => Ok(Err(entry)),
            Err(Stop::Engine(e)) => Err(e),
            Err(Stop::Waiting(..)) => Ok(Ok(Some(link.netsuite_id))),
        }
    }
}

/// Which flows are due for another attempt at `now`.
pub fn due(state: &FlowState, now: DateTime<Utc>) -> bool {
    match state.status {
        FlowStatus::Error => {
            state.last_error.as_ref().is_some_and(|e| e.retryable)
                && state.retry_at.is_none_or(|t| t <= now)
        }
        FlowStatus::Pending | FlowStatus::AwaitingFulfilment | FlowStatus::Parked => true,
        FlowStatus::Synced | FlowStatus::Skipped => false,
    }
}
