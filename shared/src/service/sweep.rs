//! The sweep: every two hours (and on "Sync Now"), read the billing source's invoice events
//! since the tenant's cursor and queue each affected invoice; then queue the flows that are
//! waiting on NetSuite (fulfilment), on a parent (parked) or on a retry that is now due.
//! The cursor moves only after the page's invoices are queued, so a crash re-reads, never skips.
//! Last it queues a read-back of NetSuite's figures ([`super::readback`]).

use chrono::Utc;
use futures::TryStreamExt;
use serde::Serialize;

use super::{ServiceError, Services};
use crate::flow::run::due;
use crate::flow::state::FlowStatus;
use crate::queue::{fresh_dedup_id, Reason, Subject, SyncMessage};
use crate::settings::TenantSettings;

pub use crate::billing::chargebee::source::EVENTS_CURSOR as CHARGEBEE_EVENTS_CURSOR;
pub use crate::billing::maxio::source::EVENTS_CURSOR as MAXIO_EVENTS_CURSOR;
/// When the last sweep of a tenant finished (RFC 3339), for `billsync status`.
pub const LAST_SWEEP_CURSOR: &str = "last-sweep";
/// How the last sweep of a tenant ended ([`SweepResult`] as JSON), failed ones included.
pub const LAST_SWEEP_RESULT_CURSOR: &str = "last-sweep-result";

/// How a sweep ended, as `billsync status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SweepResult {
    pub at: chrono::DateTime<Utc>,
    pub events_read: usize,
    pub invoices_queued: usize,
    /// Why it failed; `None` when it finished.
    pub error: Option<String>,
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub tenant: String,
    pub events_read: usize,
    pub invoices_queued: usize,
    pub waiting_queued: usize,
    pub cursor_before: Option<String>,
    pub cursor_after: Option<String>,
}

/// Sweeps one tenant and records how it ended.
pub async fn sweep_tenant(services: &Services, tenant: &str) -> Result<SweepReport, ServiceError> {
    let result = sweep_once(services, tenant).await;
    if let Err(ServiceError::UnknownTenant(_)) = result {
        // Nothing to record it on: a mistyped tenant leaves no trace in the store.
        return result;
    }
    let (events_read, invoices_queued) = result
        .as_ref()
        .map_or((0, 0), |r| (r.events_read, r.invoices_queued));
    let outcome = SweepResult {
        at: Utc::now(),
        events_read,
        invoices_queued,
        error: result.as_ref().err().map(ToString::to_string),
    };
    let recorded = services
        .store
        .put_cursor(
            tenant,
            LAST_SWEEP_RESULT_CURSOR,
            &serde_json::to_string(&outcome).expect("results serialize"),
        )
        .await;
    // A sweep that failed because the store did is reported by its own error.
    if let (Err(e), Ok(_)) = (recorded, &result) {
        return Err(e.into());
    }
    result
}

async fn sweep_once(services: &Services, tenant: &str) -> Result<SweepReport, ServiceError> {
    let settings = services.settings(tenant).await?;
    let mut report = SweepReport {
        tenant: tenant.to_owned(),
        ..Default::default()
    };
    sweep_events(services, &settings, &mut report).await?;
    queue_waiting(services, &settings, &mut report).await?;
    queue_probe(services, &settings, &mut report).await?;
    // After this sweep's invoices, in a group of its own: NetSuite's figures against billing's.
    services
        .queue
        .send(&[SyncMessage {
            tenant: tenant.to_owned(),
            source: settings.source,
            subject: Subject::ReadBack,
            reason: Reason::Sweep,
            dedup_id: fresh_dedup_id("read-back"),
            queued_at: Some(Utc::now()),
            // Nobody waits for it: its SuiteQL pages wait behind live work for a slot.
            class: crate::queue::Class::Bulk,
        }])
        .await?;
    services
        .store
        .put_cursor(tenant, LAST_SWEEP_CURSOR, &Utc::now().to_rfc3339())
        .await?;
    Ok(report)
}

/// One tenant's sweep that failed, with the cause kept.
#[derive(Debug, thiserror::Error)]
#[error("{tenant}: {error}")]
pub struct TenantFailure {
    pub tenant: String,
    #[source]
    pub error: ServiceError,
}

/// Sweeps every configured tenant; one tenant's failure does not stop the others.
pub async fn sweep_all(
    services: &Services,
) -> Result<Vec<Result<SweepReport, TenantFailure>>, ServiceError> {
    let mut out = Vec::new();
    for tenant in services.store.tenants().await? {
        out.push(
            sweep_tenant(services, &tenant)
                .await
                .map_err(|error| TenantFailure { tenant, error }),
        );
    }
    // Bulk work a worker left after a failure that may pass (it wakes no other then) resumes
    // from here at the latest; a wake with nothing waiting costs one empty invocation.
    if let Err(e) = services.queue.wake_bulk().await {
        tracing::warn!(error = %e, "could not wake a worker for bulk work");
    }
    Ok(out)
}

/// Reads the source's events from the tenant's cursor and queues each invoice they concern;
/// the cursor moves after each page is queued.
async fn sweep_events(
    services: &Services,
    settings: &TenantSettings,
    report: &mut SweepReport,
) -> Result<(), ServiceError> {
    let tenant = settings.tenant.as_str();
    let cursor_name = settings.source.events_cursor();
    let cursor = services.store.cursor(tenant, cursor_name).await?;
    report.cursor_before = cursor.clone();
    let billing = services.billing(settings).await?;
    // A tenant's first sweep reads back to its start date: a backlog, bulk work.
    let first = cursor.is_none();
    let mut pages = billing.event_pages(cursor, settings.sync_start_date);
    while let Some(page) = pages.try_next().await.map_err(ServiceError::Billing)? {
        report.events_read += page.events;
        let mut messages: Vec<SyncMessage> = Vec::new();
        for invoice in page.invoices {
            // One message per invoice per page is enough: the worker reads the whole invoice.
            if messages
                .iter()
                .any(|m| m.invoice_id() == Some(invoice.uid.as_str()))
            {
                continue;
            }
            let message = SyncMessage::invoice(
                tenant,
                settings.source,
                invoice.uid,
                Reason::Sweep,
                invoice.event_key,
            );
            messages.push(if first { message.bulk() } else { message });
        }
        services.queue.send(&messages).await?;
        report.invoices_queued += messages.len();
        if let Some(value) = page.cursor {
            // Only now: everything up to this page's last event is safely queued.
            services
                .store
                .put_cursor(tenant, cursor_name, &value)
                .await?;
            report.cursor_after = Some(value);
        }
    }
    if report.cursor_after.is_none() {
        report.cursor_after = report.cursor_before.clone();
    }
    if first && report.invoices_queued > 0 {
        services.queue.wake_bulk().await?;
    }
    Ok(())
}

async fn queue_waiting(
    services: &Services,
    settings: &TenantSettings,
    report: &mut SweepReport,
) -> Result<(), ServiceError> {
    let tenant = settings.tenant.as_str();
    let now = Utc::now();
    let run = fresh_dedup_id("due");
    for status in [
        FlowStatus::AwaitingFulfilment,
        FlowStatus::Parked,
        FlowStatus::Error,
        FlowStatus::Pending,
    ] {
        let flows = services
            .store
            .flows_with_status(tenant, status, 10_000)
            .await?;
        let messages: Vec<SyncMessage> = flows
            .iter()
            .filter(|f| due(&f.value, now))
            .map(|f| {
                let reason = if status == FlowStatus::AwaitingFulfilment {
                    Reason::Fulfilment
                } else {
                    Reason::Retry
                };
                // A new id per sweep: each sweep's re-check must not be dropped as a repeat.
                SyncMessage::invoice(
                    tenant,
                    f.value.source,
                    f.value.invoice_uid.clone(),
                    reason,
                    run.clone(),
                )
            })
            .collect();
        for chunk in messages.chunks(100) {
            services.queue.send(chunk).await?;
        }
        report.waiting_queued += messages.len();
    }
    Ok(())
}

/// A paused tenant whose probe is due gets one held invoice queued, so the probe happens even
/// when no new work arrives.
async fn queue_probe(
    services: &Services,
    settings: &TenantSettings,
    report: &mut SweepReport,
) -> Result<(), ServiceError> {
    let tenant = settings.tenant.as_str();
    let Some(pause) = services.pause(tenant).await? else {
        return Ok(());
    };
    if !pause.probe_due(Utc::now()) {
        return Ok(());
    }
    let held = services
        .store
        .flows_with_status(tenant, FlowStatus::Held, 1)
        .await?;
    let messages: Vec<SyncMessage> = held
        .iter()
        .map(|f| {
            SyncMessage::invoice(
                tenant,
                f.value.source,
                f.value.invoice_uid.clone(),
                Reason::Retry,
                fresh_dedup_id("probe"),
            )
        })
        .collect();
    services.queue.send(&messages).await?;
    report.waiting_queued += messages.len();
    Ok(())
}
