//! The read-back: NetSuite's own figures for the invoices billsync posted, compared with
//! billing's. A flow says synced when every record it needs exists; this says whether NetSuite
//! shows what billing shows (a tax engine or a form default can change a total; a record made
//! by hand can pay an invoice twice). It reads NetSuite in pages of SuiteQL, a request per
//! thousand invoices, so it costs the sync itself nothing.

use chrono::{Duration, NaiveDate, Utc};
use serde::Serialize;

use super::{ServiceError, Services};
use crate::flow::ids::{self, Kind};
use crate::flow::state::{ErrorEntry, FlowStatus};
use crate::netsuite::queries::InvoiceFigures;
use crate::settings::TenantSettings;

/// When the last read-back of a tenant started (RFC 3339).
pub const READ_BACK_CURSOR: &str = "read-back";

/// What one read-back found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReadBackReport {
    pub tenant: String,
    /// NetSuite invoices of billsync's read.
    pub read: usize,
    /// Of those, flows whose figures were compared.
    pub compared: usize,
    /// Flows now in error because NetSuite and billing differ.
    pub differ: Vec<String>,
}

/// Compares the invoices NetSuite changed since the day before the last read-back (the first
/// one: since the sync start date) with what their flows last posted. A difference turns the
/// flow into an error entry with both figures.
pub async fn read_back(
    services: &Services,
    settings: &TenantSettings,
) -> Result<ReadBackReport, ServiceError> {
    let tenant = settings.tenant.as_str();
    let started = Utc::now();
    let since: NaiveDate = services
        .store
        .cursor(tenant, READ_BACK_CURSOR)
        .await?
        .and_then(|c| chrono::DateTime::parse_from_rfc3339(&c).ok())
        .map(|t| t.date_naive() - Duration::days(1))
        .unwrap_or(settings.sync_start_date);
    let clients = services.clients(settings).await?;
    let prefix = ids::prefix(settings, Kind::Invoice);
    let mut report = ReadBackReport {
        tenant: tenant.to_owned(),
        ..Default::default()
    };
    let mut offset = 0;
    loop {
        let page = clients
            .netsuite
            .invoices_changed_since(&prefix, since, offset)
            .await
            .map_err(ServiceError::NetSuite)?;
        let shown: Vec<(String, InvoiceFigures)> = page
            .rows
            .into_iter()
            .filter_map(|row| {
                Some((
                    ids::billing_id(settings, Kind::Invoice, &row.external_id)?,
                    row,
                ))
            })
            .collect();
        report.read += page.read;
        compare(services, settings, &clients.netsuite, &shown, &mut report).await?;
        if !page.has_more || page.read == 0 {
            break;
        }
        offset += page.read as u64;
    }
    services
        .store
        .put_cursor(tenant, READ_BACK_CURSOR, &started.to_rfc3339())
        .await?;
    Ok(report)
}

/// Compares NetSuite's figures with what the flows posted. The page was read before the
/// flows, and a flow may have written to NetSuite in between (a void reversal, a payment): a
/// difference is confirmed by reading the invoice again after the flow was read, and the flow
/// is saved only if it has not moved on since.
async fn compare(
    services: &Services,
    settings: &TenantSettings,
    netsuite: &crate::netsuite::NetSuiteClient,
    shown: &[(String, InvoiceFigures)],
    report: &mut ReadBackReport,
) -> Result<(), ServiceError> {
    let tenant = settings.tenant.as_str();
    let uids: Vec<String> = shown.iter().map(|(uid, _)| uid.clone()).collect();
    let mut flows = services.flows(tenant, &uids).await?;
    for (uid, s) in shown {
        let Some(flow) = flows.remove(uid) else {
            continue;
        };
        let (Some(posted), FlowStatus::Synced) = (flow.value.posted, flow.value.status) else {
            continue;
        };
        report.compared += 1;
        if posted.total == s.total && posted.due == s.remaining {
            continue;
        }
        let now = netsuite
            .invoice_figures(&s.id)
            .await
            .map_err(ServiceError::NetSuite)?;
        if now == Some((posted.total, posted.due)) {
            continue;
        }
        let (total, remaining) = now.unwrap_or((s.total, s.remaining));
        let mut state = flow.value;
        state.status = FlowStatus::Error;
        state.last_error = Some(ErrorEntry {
            step: "read back".into(),
            code: Some("READ_BACK_MISMATCH".into()),
            detail: format!(
                "NetSuite invoice {} shows total {} and amount remaining {}; billing invoice {} has total {} and amount due {}",
                s.id, total, remaining, uid, posted.total, posted.due
            ),
            cause: "NetSuite's figures for the invoice differ from billing's after billsync posted it: a tax engine or form default changed the total, or a payment, credit or edit was made in NetSuite by hand.".into(),
            fix: "Open both invoices and find what NetSuite holds that billing does not (or the reverse); correct it in NetSuite, then retry the invoice so billsync checks it again.".into(),
            retryable: false,
            since: Utc::now(),
        });
        state.updated_at = Utc::now();
        match services
            .store
            .save_flow(tenant, &state, Some(flow.version))
            .await
        {
            Ok(_) => {
                tracing::warn!(tenant, invoice = %uid, netsuite_id = %s.id, "NetSuite's figures differ from billing's");
                report.differ.push(uid.clone());
            }
            // The flow moved on meanwhile: the next read-back looks again.
            Err(crate::store::StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
