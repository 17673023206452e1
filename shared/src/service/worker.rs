//! The worker: a batch of queue messages, each one invoice's flow, run concurrently within the
//! tenant's NetSuite share. It reports which messages to deliver again: only those whose
//! failure may go away by itself. Failures that need a person are in the error log; their
//! messages are done.

use futures::stream::{self, StreamExt};
use tracing::Instrument;

use super::intake::SWEEP;
use super::sweep::sweep_tenant;
use super::Services;
use crate::flow::run::{Engine, Outcome};
use crate::queue::SyncMessage;

/// One queue message as the queue hands it over.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The queue's id for the message (SQS message id), reported back on failure.
    pub id: String,
    pub body: String,
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageOutcome {
    Done(Option<Outcome>),
    /// Deliver again later.
    Retry(String),
    /// Unreadable: logged and dropped (redelivering would fail the same way).
    Poison(String),
}

/// Processes a batch; returns the ids of messages to deliver again.
pub async fn process_batch(services: &Services, batch: Vec<Delivery>) -> Vec<String> {
    let results = process(services, batch).await;
    results
        .into_iter()
        .filter_map(|(id, r)| matches!(r, MessageOutcome::Retry(_)).then_some(id))
        .collect()
}

/// Processes a batch and says what happened to each message.
pub async fn process(services: &Services, batch: Vec<Delivery>) -> Vec<(String, MessageOutcome)> {
    process_observed(services, batch, |_, _| {}).await
}

/// Like [`process`], calling `observe` with each message the moment it is finished (the
/// benchmark's clock for the lag from intake to the invoice's last NetSuite record).
pub async fn process_observed(
    services: &Services,
    batch: Vec<Delivery>,
    observe: impl Fn(&Delivery, &MessageOutcome) + Sync,
) -> Vec<(String, MessageOutcome)> {
    let observe = &observe;
    // Messages of different invoices run side by side; how many at once is bounded below by
    // the NetSuite client's concurrency governor (the tenant's share, across every worker
    // instance on AWS), so a generous buffer is fine.
    let width = batch.len().max(1);
    let results = stream::iter(batch)
        .map(|d| async move {
            let span = tracing::info_span!("message", message_id = %d.id);
            let r = one(services, &d).instrument(span).await;
            observe(&d, &r);
            (d.id, r)
        })
        .buffer_unordered(width)
        .collect()
        .await;
    // Shared NetSuite slots go back to the table before the function returns and is frozen.
    services.settle_governors().await;
    results
}

async fn one(services: &Services, d: &Delivery) -> MessageOutcome {
    let message: SyncMessage = match serde_json::from_str(&d.body) {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(message_id = %d.id, error = %e, "unreadable queue message dropped");
            return MessageOutcome::Poison(e.to_string());
        }
    };
    if message.invoice_id == SWEEP {
        return match sweep_tenant(services, &message.tenant).await {
            Ok(report) => {
                tracing::info!(?report, "sweep on request");
                MessageOutcome::Done(None)
            }
            Err(e) => MessageOutcome::Retry(e.to_string()),
        };
    }
    let settings = match services.settings(&message.tenant).await {
        Ok(s) => s,
        Err(super::ServiceError::UnknownTenant(t)) => {
            return MessageOutcome::Poison(format!("unknown tenant {t}"))
        }
        Err(e) => return MessageOutcome::Retry(e.to_string()),
    };
    let clients = match services.clients(&settings).await {
        Ok(c) => c,
        Err(e) => return MessageOutcome::Retry(e.to_string()),
    };
    let engine = Engine {
        netsuite: &clients.netsuite,
        store: services.store.as_ref(),
        billing: clients.billing.as_ref(),
    };
    if let Some(customer_id) = message.customer_id() {
        return match engine.sync_customer(&settings, customer_id).await {
            Ok(Ok(updated)) => {
                tracing::info!(tenant = %message.tenant, customer = %customer_id, netsuite_id = ?updated, "customer change handled");
                MessageOutcome::Done(None)
            }
            Ok(Err(e)) if e.retryable => MessageOutcome::Retry(e.detail),
            Ok(Err(e)) => {
                tracing::warn!(tenant = %message.tenant, customer = %customer_id, step = %e.step, cause = %e.cause, "customer change needs a person");
                MessageOutcome::Done(None)
            }
            Err(e) => MessageOutcome::Retry(e.to_string()),
        };
    }
    match engine.sync_invoice(&settings, &message.invoice_id).await {
        Ok(outcome) if outcome.retry => MessageOutcome::Retry(
            outcome
                .error
                .as_ref()
                .map(|e| e.detail.clone())
                .unwrap_or_default(),
        ),
        Ok(outcome) => {
            if let Some(e) = &outcome.error {
                tracing::warn!(tenant = %message.tenant, invoice = %message.invoice_id, step = %e.step, cause = %e.cause, "invoice needs a person");
            }
            MessageOutcome::Done(Some(outcome))
        }
        Err(e) => MessageOutcome::Retry(e.to_string()),
    }
}
