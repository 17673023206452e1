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
