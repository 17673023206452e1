//! Manual retry: queue given invoices or every invoice in error, or list the error log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ServiceError, Services};
use crate::flow::state::FlowStatus;
use crate::queue::{fresh_dedup_id, Reason, SyncMessage};

/// What the retry function is asked.
#[derive(Debug, Clone, Deserialize)]
pub struct RetryRequest {
    pub tenant: String,
    #[serde(default)]
    pub invoices: Vec<String>,
    #[serde(default)]
    pub all_failed: bool,
    #[serde(default)]
    pub list: bool,
}

/// One line of the error log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorLogEntry {
    /// The invoice; empty for the tenant's own entry (a pause).
    pub invoice: String,
    /// The entry is the tenant's, not an invoice's: NetSuite refused its login or a
    /// permission and its syncing is paused.
    pub tenant_wide: bool,
    pub step: String,
    pub code: Option<String>,
    pub detail: String,
    pub cause: String,
    pub fix: String,
    pub retryable: bool,
    pub since: DateTime<Utc>,
    pub attempts: u32,
    /// `settings`, `billing` or `netsuite`: where the problem lies.
    pub side: &'static str,
    /// The invoice as billing last showed it (absent when it could not be read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice_summary: Option<crate::flow::state::InvoiceSummary>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetryResponse {
    pub tenant: String,
    pub queued: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ErrorLogEntry>>,
}

/// The tenant's error log: its pause first, if it is paused, then invoices oldest first.
pub async fn error_log(
    services: &Services,
    tenant: &str,
) -> Result<Vec<ErrorLogEntry>, ServiceError> {
    services.settings(tenant).await?;
    let pause = services
        .pause(tenant)
        .await?
        .map(|p| ErrorLogEntry {
            invoice: String::new(),
            tenant_wide: true,
            step: p.error.step,
            code: p.error.code,
            detail: p.error.detail,
            cause: format!("{} Syncing is paused: invoices wait, held, and nothing else is sent to NetSuite.", p.error.cause),
            fix: format!("{} Then run `billsync tenant check` (it resumes the tenant when everything passes) or `billsync tenant resume`.", p.error.fix),
            retryable: false,
            since: p.since,
            attempts: p.probes,
            side: "netsuite",
            invoice_summary: None,
        });
    let flows = services
        .store
        .flows_with_status(tenant, FlowStatus::Error, 10_000)
        .await?;
    Ok(pause
        .into_iter()
        .chain(flows.into_iter().filter_map(|f| {
            let e = f.value.last_error?;
            Some(ErrorLogEntry {
                side: crate::flow::errors::side(&e),
                invoice_summary: f.value.summary,
                invoice: f.value.invoice_uid,
                tenant_wide: false,
                step: e.step,
                code: e.code,
                detail: e.detail,
                cause: e.cause,
                fix: e.fix,
                retryable: e.retryable,
                since: e.since,
                attempts: f.value.attempts,
            })
        }))
        .collect())
}

pub async fn handle(
    services: &Services,
    req: &RetryRequest,
) -> Result<RetryResponse, ServiceError> {
    let settings = services.settings(&req.tenant).await?;
    let mut response = RetryResponse {
        tenant: req.tenant.clone(),
        ..Default::default()
    };
    if req.list {
        response.errors = Some(error_log(services, &req.tenant).await?);
    }
    let mut invoices = req.invoices.clone();
    if req.all_failed {
        let failed = services
            .store
            .flows_with_status(&req.tenant, FlowStatus::Error, 10_000)
            .await?;
        invoices.extend(failed.into_iter().map(|f| f.value.invoice_uid));
    }
    invoices.sort();
    invoices.dedup();
    let request = fresh_dedup_id("retry");
    let messages: Vec<SyncMessage> = invoices
        .iter()
        .map(|uid| {
            SyncMessage::invoice(
                req.tenant.clone(),
                settings.source,
                uid.clone(),
                Reason::Retry,
                request.clone(),
            )
        })
        .collect();
    for chunk in messages.chunks(100) {
        services.queue.send(chunk).await?;
    }
    response.queued = invoices;
    Ok(response)
}

/// Takes an invoice out of the error log for a reason a person gives (fixed by hand in
/// NetSuite, not to be synced): its flow is skipped with the reason, and the entry and the
/// reason are kept on the flow. Returns the dismissed entry; `None` when the invoice is not
/// in error.
pub async fn dismiss(
    services: &Services,
    tenant: &str,
    invoice: &str,
    reason: &str,
) -> Result<Option<crate::flow::state::ErrorEntry>, ServiceError> {
    services.settings(tenant).await?;
    let Some(stored) = services.store.flow(tenant, invoice).await? else {
        return Ok(None);
    };
    let mut state = stored.value;
    let (FlowStatus::Error, Some(error)) = (state.status, state.last_error.take()) else {
        return Ok(None);
    };
    let now = Utc::now();
    state.status = FlowStatus::Skipped;
    state.reason = Some(format!("dismissed from the error log: {reason}"));
    state.retry_at = None;
    state.updated_at = now;
    state.dismissed = Some(crate::flow::state::Dismissal {
        at: now,
        reason: reason.to_owned(),
        error: error.clone(),
    });
    services
        .store
        .save_flow(tenant, &state, Some(stored.version))
        .await?;
    tracing::info!(tenant, invoice, reason, step = %error.step, cause = %error.cause, "error dismissed");
    Ok(Some(error))
}
