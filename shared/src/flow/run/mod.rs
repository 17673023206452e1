//! Performing a flow: read the invoice, read what exists, do the missing steps in order,
//! persist each NetSuite id the moment NetSuite returns it, stop at the first failure.
//!
//! Every step looks before it creates (stored id, then the external id NetSuite knows), so a
//! duplicate message, a sweep racing a webhook or a crash between two steps all end in the
//! same NetSuite records.
//!
//! `Engine::steps` is the recipe; the steps live by subject: `parties` (customer, items),
//! `order` (sales order, fulfilment, invoice, updates, voids), `payments` (deposits,
//! payments, refunds) and `credits` (credit notes).

mod credits;
mod order;
mod parties;
mod payments;

use std::borrow::Cow;

use chrono::{DateTime, Duration, Utc};

use super::build::{self, Scope};
use super::errors::{self, FlowProblem};
use super::lines::{plan_lines, LinePlan};
use super::state::{ErrorEntry, FlowState, FlowStatus, Posted, Versioned};
use crate::billing::model::{Invoice, InvoiceStatus, Line};
use crate::billing::source::BillingSource;
use crate::netsuite::records::RecordType;
use crate::netsuite::{ErrorKind, NetSuiteClient, NetSuiteError};
use crate::settings::{InvoicePath, NsId, TenantSettings};
use crate::store::{StoreError, SyncStore};

/// What one run of an invoice's flow came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub status: FlowStatus,
    /// NetSuite records created by this run: (record type, internal id).
    pub created: Vec<(RecordType, String)>,
    pub error: Option<ErrorEntry>,
    /// The failure may go away by itself: the caller should try again later.
    pub retry: bool,
    /// NetSuite refused the login or a permission: the flow is held, nothing is in the error
    /// log, and the caller pauses the tenant with this entry.
    pub blocked: Option<Box<ErrorEntry>>,
}

/// Whether a NetSuite failure is the tenant's (its credentials or its role) rather than the
/// invoice's: every other invoice would meet it too.
pub fn blocks_tenant(e: &NetSuiteError) -> bool {
    matches!(e.kind(), ErrorKind::Login | ErrorKind::Permission)
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
    pub store: &'a dyn SyncStore,
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

/// What a run posts with, once the invoice is read, checked and mapped.
struct Posting<'i, 's> {
    invoice: &'i Invoice,
    /// The tenant's settings with this invoice's tracking categories and the items made for
    /// its catalog entries.
    settings: Cow<'s, TenantSettings>,
    lines: LinePlan,
    currency: Option<NsId>,
    customer_id: String,
}

/// Whether a run goes on after a step.
enum Next {
    Continue,
    Finished,
}

/// Why a run stopped early.
enum Stop {
    /// A failure recorded in the error log.
    Failed(ErrorEntry),
    /// NetSuite refused the login or a permission: the tenant's condition, not the
    /// invoice's. The flow waits, held, and the caller pauses the tenant.
    Blocked(ErrorEntry),
    /// Nothing more can happen until NetSuite or billing changes (fulfilment, a parent).
    Waiting(FlowStatus, String),
    Engine(EngineError),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Engine(EngineError::Store(e))
    }
}

/// Runs one step of the recipe in its own span, so what it logs names the step.
async fn step<T>(name: &'static str, work: impl std::future::Future<Output = T>) -> T {
    use tracing::Instrument;
    work.instrument(tracing::info_span!("step", step = name))
        .await
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
        self.sync_queued_invoice(settings, invoice_uid, None).await
    }

    /// [`Self::sync_invoice`] for a message queued at `queued_at`: the first run that syncs the
    /// invoice records its lag from then.
    pub async fn sync_queued_invoice(
        &self,
        settings: &TenantSettings,
        invoice_uid: &str,
        queued_at: Option<chrono::DateTime<Utc>>,
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
            Err(Stop::Blocked(entry)) => {
                run.state.status = FlowStatus::Held;
                run.state.reason = Some(format!("tenant paused: {}", entry.cause));
                run.state.updated_at = now;
                self.save(&mut run).await?;
                return Ok(Outcome {
                    status: FlowStatus::Held,
                    created: run.created,
                    error: None,
                    retry: false,
                    blocked: Some(Box::new(entry)),
                });
            }
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
                    if run.state.lag_ms.is_none() {
                        run.state.lag_ms =
                            queued_at.map(|at| (now - at).num_milliseconds().max(0) as u64);
                    }
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
            blocked: None,
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
        let entry = errors::from_netsuite(step, e, Utc::now());
        if blocks_tenant(e) {
            Stop::Blocked(entry)
        } else {
            Stop::Failed(entry)
        }
    }

    fn problem(step: &str, p: FlowProblem) -> Stop {
        Stop::Failed(errors::from_problem(step, &p, Utc::now()))
    }

    /// The recipe. Each step does its part only when NetSuite does not hold it yet, and stops
    /// the run (waiting or failed) when it cannot.
    async fn steps(&self, run: &mut Run<'_>) -> Result<(), Stop> {
        let invoice = step("read invoice", self.read_invoice(run)).await?;
        run.state.summary = Some(super::state::InvoiceSummary::of(&invoice));
        if let Scope::Skip(reason) = build::scope(&invoice, run.settings) {
            if let Next::Finished =
                step("out of scope", self.left_scope(run, &invoice, reason)).await?
            {
                return Ok(());
            }
        }
        let p = step("prepare", self.prepare(run, &invoice)).await?;
        // Goods a warehouse ships, and flows that already made an order, keep the order path.
        let direct = p.settings.invoice_path() == InvoicePath::Direct
            && !run.state.inventory
            && run.state.sales_order_id.is_none();
        let invoice_id = if direct {
            step("invoice", self.direct_invoice(run, &p)).await?
        } else {
            let so_id = step("sales order", self.sales_order(run, &p)).await?;
            step("fulfilment", self.await_fulfilment(run, &p, &so_id)).await?;
            step("invoice", self.invoice_from_order(run, &p, &so_id)).await?
        };
        step("payments", self.payments(run, &p)).await?;
        let notes = step("credit notes", self.credit_notes(run, &p, &invoice_id)).await?;
        step("refunds", self.refunds(run, &p, &notes)).await?;
        step(
            "updates",
            self.follow_updates(run, &invoice, &invoice_id, &notes, &p.settings),
        )
        .await?;
        run.state.posted = Some(Posted {
            total: invoice.totals.total,
            due: invoice.totals.due,
        });
        Ok(())
    }

    /// The invoice as billing holds it now.
    async fn read_invoice(&self, run: &Run<'_>) -> Result<Invoice, Stop> {
        self.billing
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
            })
    }

    /// An invoice the tenant's settings leave out: skipped when NetSuite holds nothing of it,
    /// reversed when billing voided it after it was posted, kept as it is otherwise.
    async fn left_scope(
        &self,
        run: &mut Run<'_>,
        invoice: &Invoice,
        reason: String,
    ) -> Result<Next, Stop> {
        let voided = matches!(
            invoice.status,
            InvoiceStatus::Voided | InvoiceStatus::Canceled
        );
        let posted =
            |run: &Run<'_>| run.state.sales_order_id.is_some() || run.state.invoice_id.is_some();
        if !posted(run) && voided {
            // A store that lost this flow: NetSuite tells whether it was posted.
            self.find_posted(run, &invoice.uid).await?;
        }
        if !posted(run) {
            return Err(Stop::Waiting(FlowStatus::Skipped, reason));
        }
        if voided {
            self.reverse_void(run, invoice).await?;
            return Ok(Next::Finished);
        }
        // Already in NetSuite: billing changed a setting's view of it; keep what exists.
        tracing::warn!(invoice = %invoice.uid, %reason, "invoice left scope after it was synced");
        Ok(Next::Continue)
    }

    /// Checks the invoice, maps what it names (tracking categories, items, lines, currency)
    /// and finds or makes its customer.
    async fn prepare<'i, 's>(
        &self,
        run: &mut Run<'s>,
        invoice: &'i Invoice,
    ) -> Result<Posting<'i, 's>, Stop> {
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
        build::check_precision(invoice)
            .map_err(|p| Self::problem("check currency precision", p))?;
        let mut settings = build::tracked_settings(run.settings, &invoice.customer)
            .map_err(|p| Self::problem("map tracking categories", p))?;
        build::check_billing_fields(&settings, &invoice.customer)
            .map_err(|p| Self::problem("map custom fields", p))?;
        let catalog_lines: Vec<&Line> = invoice
            .lines
            .iter()
            .chain(invoice.credit_notes.iter().flat_map(|cn| cn.lines.iter()))
            .collect();
        self.ensure_items(run, &catalog_lines, &mut settings)
            .await?;
        let lines = plan_lines(invoice, &settings)
            .map_err(|p| Self::problem("map invoice lines", FlowProblem::Lines(p)))?;
        let currency = settings
            .currency(&invoice.currency)
            .map_err(|e| Self::problem("map currency", FlowProblem::NoFlow(e)))?
            .cloned();
        run.state.inventory = lines.inventory;
        let customer_id = self
            .ensure_customer(run, invoice, currency.as_ref())
            .await?;
        Ok(Posting {
            invoice,
            settings,
            lines,
            currency,
            customer_id,
        })
    }
}

/// Holds an invoice without running its flow, while its tenant is paused: the flow keeps
/// what it has done and waits, held, for the tenant to resume. A synced flow is held too:
/// the message may carry a change (a payment, a void) that only a run would book.
pub async fn hold(
    store: &dyn SyncStore,
    settings: &TenantSettings,
    invoice_uid: &str,
    reason: &str,
) -> Result<FlowStatus, EngineError> {
    let tenant = settings.tenant.as_str();
    let (mut state, version) = match store.flow(tenant, invoice_uid).await? {
        Some(Versioned { value, version }) => (value, Some(version)),
        None => (
            FlowState::new(settings.source, invoice_uid, Utc::now()),
            None,
        ),
    };
    if state.status == FlowStatus::Held && version.is_some() {
        return Ok(state.status);
    }
    state.status = FlowStatus::Held;
    state.reason = Some(reason.to_owned());
    state.updated_at = Utc::now();
    store.save_flow(tenant, &state, version).await?;
    Ok(FlowStatus::Held)
}

/// Which flows are due for another attempt at `now`.
pub fn due(state: &FlowState, now: DateTime<Utc>) -> bool {
    match state.status {
        FlowStatus::Error => {
            state.last_error.as_ref().is_some_and(|e| e.retryable)
                && state.retry_at.is_none_or(|t| t <= now)
        }
        FlowStatus::Pending
        | FlowStatus::AwaitingFulfilment
        | FlowStatus::Parked
        | FlowStatus::Held => true,
        FlowStatus::Synced | FlowStatus::Skipped => false,
    }
}
