//! The sweep: every two hours (and on "Sync Now"), read the billing source's invoice events
//! since the tenant's cursor and queue each affected invoice; then queue the flows that are
//! waiting on NetSuite (fulfilment), on a parent (parked) or on a retry that is now due.
//! The cursor moves only after the page's invoices are queued, so a crash re-reads, never skips.
//! Last it queues a read-back of NetSuite's figures ([`super::readback`]).

use chrono::Utc;
use futures::TryStreamExt;
use serde::Serialize;

use super::{ServiceError, Services};
use crate::billing::maxio::client::{EventsSince, MaxioClient};
use crate::billing::model::Source;
use crate::flow::run::due;
use crate::flow::state::FlowStatus;
use crate::queue::{fresh_dedup_id, Reason, Subject, SyncMessage};
use crate::settings::TenantSettings;

/// The cursor of Maxio's invoice events stream.
pub const MAXIO_EVENTS_CURSOR: &str = "maxio-invoice-events";
/// The cursor of Chargebee's events list: the newest `occurred_at` (Unix seconds) queued.
pub const CHARGEBEE_EVENTS_CURSOR: &str = "chargebee-events";
/// When the last sweep of a tenant finished (RFC 3339), for `billsync status`.
pub const LAST_SWEEP_CURSOR: &str = "last-sweep";
const PAGE: u32 = 200;

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

/// Sweeps one tenant.
pub async fn sweep_tenant(services: &Services, tenant: &str) -> Result<SweepReport, ServiceError> {
    let settings = services.settings(tenant).await?;
    let mut report = SweepReport {
        tenant: tenant.to_owned(),
        ..Default::default()
    };
    match settings.source {
        Source::Maxio => sweep_maxio_events(services, &settings, &mut report).await?,
        Source::Chargebee => sweep_chargebee_events(services, &settings, &mut report).await?,
    }
    queue_waiting(services, &settings, &mut report).await?;
    // After this sweep's invoices, in a group of its own: NetSuite's figures against billing's.
    services
        .queue
        .send(&[SyncMessage {
            tenant: tenant.to_owned(),
            source: settings.source,
            subject: Subject::ReadBack,
            reason: Reason::Sweep,
            dedup_id: fresh_dedup_id("read-back"),
        }])
        .await?;
    services
        .store
        .put_cursor(tenant, LAST_SWEEP_CURSOR, &Utc::now().to_rfc3339())
        .await?;
    Ok(report)
}

/// Sweeps every configured tenant; one tenant's failure does not stop the others.
pub async fn sweep_all(
    services: &Services,
) -> Result<Vec<Result<SweepReport, String>>, ServiceError> {
    let mut out = Vec::new();
    for tenant in services.store.tenants().await? {
        out.push(
            sweep_tenant(services, &tenant)
                .await
                .map_err(|e| format!("{tenant}: {e}")),
        );
    }
    Ok(out)
}

async fn maxio_client(
    services: &Services,
    settings: &TenantSettings,
) -> Result<MaxioClient, ServiceError> {
    let secret = services.secrets.tenant_secret(&settings.tenant).await?;
    super::maxio_client(settings, &secret)
}

async fn sweep_maxio_events(
    services: &Services,
    settings: &TenantSettings,
    report: &mut SweepReport,
) -> Result<(), ServiceError> {
    let tenant = settings.tenant.as_str();
    let cursor = services.store.cursor(tenant, MAXIO_EVENTS_CURSOR).await?;
    report.cursor_before = cursor.clone();
    let since = match cursor.as_deref().and_then(|c| c.parse::<u64>().ok()) {
        Some(id) => EventsSince::Id(id),
        None => EventsSince::Date(settings.sync_start_date),
    };
    let client = maxio_client(services, settings).await?;
    let mut events = Box::pin(client.invoice_events(since, PAGE).try_chunks(PAGE as usize));
    while let Some(page) = events
        .try_next()
        .await
        .map_err(|e| ServiceError::Client(format!("reading invoice events: {}", e.1)))?
    {
        report.events_read += page.len();
        let mut messages: Vec<SyncMessage> = Vec::new();
        for e in &page {
            let Some(uid) = e.invoice.as_ref().and_then(|i| i.uid.clone()) else {
                tracing::warn!(tenant, event = e.id, kind = %e.event_type, "invoice event without an invoice snapshot");
                continue;
            };
            // One message per invoice per page is enough: the worker reads the whole invoice.
            if messages
                .iter()
                .any(|m| m.invoice_id() == Some(uid.as_str()))
            {
                continue;
            }
            messages.push(SyncMessage::invoice(
                tenant,
                Source::Maxio,
                uid,
                Reason::Sweep,
                format!("ev-{}", e.id),
            ));
        }
        services.queue.send(&messages).await?;
        report.invoices_queued += messages.len();
        if let Some(last) = page.last() {
            // Only now: everything up to this event is safely queued.
            let value = last.id.to_string();
            services
                .store
                .put_cursor(tenant, MAXIO_EVENTS_CURSOR, &value)
                .await?;
            report.cursor_after = Some(value);
        }
    }
    if report.cursor_after.is_none() {
        report.cursor_after = report.cursor_before.clone();
    }
    Ok(())
}

async fn sweep_chargebee_events(
    services: &Services,
    settings: &TenantSettings,
    report: &mut SweepReport,
) -> Result<(), ServiceError> {
    use crate::billing::chargebee::client::{ChargebeeClient, ChargebeeConfig};
    use crate::billing::chargebee::webhook::{classify, ChargebeeEvent};
    let tenant = settings.tenant.as_str();
    let cursor = services
        .store
        .cursor(tenant, CHARGEBEE_EVENTS_CURSOR)
        .await?;
    report.cursor_before = cursor.clone();
    // `occurred_at[after]` is strict: ask from one second before the cursor so events sharing
    // its second are not lost; re-reading a few is harmless (the worker is idempotent).
    let after = match cursor.as_deref().and_then(|c| c.parse::<i64>().ok()) {
        Some(t) => t - 1,
        None => settings
            .sync_start_date
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc()
            .timestamp(),
    };
    let secret = services.secrets.tenant_secret(tenant).await?;
    let mut config = ChargebeeConfig::new(settings.site.clone(), secret.billing.api_key.clone());
    if let Some(url) = &secret.billing.base_url {
        config.base_url = Some(
            url.parse()
                .map_err(|e| ServiceError::Client(format!("billing base_url: {e}")))?,
        );
    }
    let client = ChargebeeClient::new(config).map_err(|e| ServiceError::Client(e.to_string()))?;
    let mut events = Box::pin(client.events(after, 100).try_chunks(100));
    while let Some(page) = events
        .try_next()
        .await
        .map_err(|e| ServiceError::Client(format!("reading events: {}", e.1)))?
    {
        report.events_read += page.len();
        let mut messages: Vec<SyncMessage> = Vec::new();
        for e in &page {
            let Some(ChargebeeEvent::Invoices { invoice_ids }) = classify(e) else {
                continue;
            };
            for (n, invoice_id) in invoice_ids.into_iter().enumerate() {
                if messages
                    .iter()
                    .any(|m| m.invoice_id() == Some(invoice_id.as_str()))
                {
                    continue;
                }
                messages.push(SyncMessage::invoice(
                    tenant,
                    Source::Chargebee,
                    invoice_id,
                    Reason::Sweep,
                    match n {
                        0 => format!("ev-{}", e.id),
                        n => format!("ev-{}-{n}", e.id),
                    },
                ));
            }
        }
        services.queue.send(&messages).await?;
        report.invoices_queued += messages.len();
        if let Some(newest) = page.iter().filter_map(|e| e.occurred_at).max() {
            let value = newest.to_string();
            services
                .store
                .put_cursor(tenant, CHARGEBEE_EVENTS_CURSOR, &value)
                .await?;
            report.cursor_after = Some(value);
        }
    }
    if report.cursor_after.is_none() {
        report.cursor_after = report.cursor_before.clone();
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
