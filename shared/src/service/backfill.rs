//! Backfill: re-read billing for a date range and queue every invoice issued in it, as the
//! sweep queues what its events name. For a first sync from a start date a year back, for
//! invoices a lost webhook and an emptied store both missed, or after reconcile reports
//! invoices missing in NetSuite. Every flow is idempotent, so a second backfill of the same
//! range creates nothing in NetSuite: each flow finds its records by external id.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use futures::TryStreamExt;
use serde::Serialize;

use super::{ServiceError, Services};
use crate::billing::model::InvoiceStatus;
use crate::flow::build::{scope, Scope};
use crate::queue::{fresh_dedup_id, Reason, SyncMessage};

/// What one backfill queued.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BackfillReport {
    pub tenant: String,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// Invoices billing issued in the range.
    pub read: usize,
    pub queued: usize,
    /// Left out by the tenant's settings, by reason (queued anyway when voided, so a void
    /// after sync is reversed).
    pub out_of_scope: BTreeMap<String, usize>,
}

/// Queues the invoices billing issued from `from` to `to` (both included).
pub async fn backfill(
    services: &Services,
    tenant: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<BackfillReport, ServiceError> {
    let settings = services.settings(tenant).await?;
    let billing = services.billing(&settings).await?;
    let mut report = BackfillReport {
        tenant: tenant.to_owned(),
        from: Some(from),
        to: Some(to),
        ..Default::default()
    };
    // A key per run: a second backfill is asked for on purpose (after a fix), so it runs
    // again; its flows find their records instead of making them twice.
    let key = fresh_dedup_id("backfill");
    let mut pages = billing.invoices_issued(from, to);
    while let Some(page) = pages.try_next().await? {
        report.read += page.len();
        let mut messages = Vec::with_capacity(page.len());
        for invoice in page {
            let voided = matches!(
                invoice.status,
                InvoiceStatus::Voided | InvoiceStatus::Canceled
            );
            if let Scope::Skip(reason) = scope(&invoice, &settings) {
                *report.out_of_scope.entry(reason).or_default() += 1;
                if !voided {
                    continue;
                }
            }
            messages.push(
                SyncMessage::invoice(
                    tenant,
                    settings.source,
                    invoice.uid,
                    Reason::Backfill,
                    key.clone(),
                )
                .bulk(),
            );
        }
        services.queue.send(&messages).await?;
        report.queued += messages.len();
    }
    if report.queued > 0 {
        services.queue.wake_bulk().await?;
    }
    Ok(report)
}
