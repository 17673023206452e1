//! The sweep: the EventBridge schedule (`rate(2 hours)`) sweeps every tenant; an invocation
//! with `{"tenant": "acme"}` is "Sync Now" for one tenant.
//!
//! The same function runs the scheduled reconcile (`{"reconcile": {}}` from a daily schedule:
//! every tenant, the 31 days up to yesterday; or `{"reconcile": {"tenant": "acme", "from":
//! "2026-11-01", "to": "2026-11-30"}}`) and backfills (`{"backfill": {"tenant": "acme",
//! "from": "2026-01-01", "to": "2026-06-30"}}`): both read billing and queue or report, as the
//! sweep does.
//!
//! How a failure ends the invocation is Lambda's retry decision: a tenant whose sweep may pass
//! by itself (an outage, a throttle) makes the scheduled invocation a function error, after
//! every other tenant was swept, so Lambda tries the event again and counts an error; a
//! failure a person must fix (no secret, unknown tenant) is reported in the answer and logged,
//! since trying again cannot help.

use billsync::service::backfill::backfill;
use billsync::service::reconcile::{reconcile_all, reconcile_and_keep, scheduled_period};
use billsync::service::sweep::{sweep_all, sweep_tenant};
use billsync::service::{ServiceError, Services};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{json, Value};

/// Days the scheduled reconcile looks back.
const RECONCILE_DAYS: u32 = 31;

#[derive(Deserialize)]
struct Range {
    tenant: Option<String>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
}

fn bad_event(message: String) -> ServiceError {
    ServiceError::BadRequest(message)
}

fn range(event: &Value, key: &str) -> Result<Range, ServiceError> {
    serde_json::from_value(event[key].clone()).map_err(|e| {
        bad_event(format!(
            "the {key} event is not {{\"tenant\", \"from\", \"to\"}} with YYYY-MM-DD dates: {e}"
        ))
    })
}

pub async fn handle(services: &Services, event: Value) -> Result<Value, ServiceError> {
    if event.get("reconcile").is_some() {
        let r = range(&event, "reconcile")?;
        let (from, to) = match (r.from, r.to) {
            (Some(f), Some(t)) => (f, t),
            _ => scheduled_period(chrono::Utc::now().date_naive(), RECONCILE_DAYS),
        };
        return Ok(match r.tenant {
            Some(t) => {
                let report = reconcile_and_keep(services, &t, from, to).await?;
                serde_json::to_value(report).expect("reports serialize")
            }
            None => {
                json!({"from": from, "to": to, "tenants": reconcile_all(services, from, to).await?})
            }
        });
    }
    if event.get("backfill").is_some() {
        let r = range(&event, "backfill")?;
        let (Some(tenant), Some(from), Some(to)) = (r.tenant, r.from, r.to) else {
            return Err(bad_event("a backfill names its tenant, from and to".into()));
        };
        let report = backfill(services, &tenant, from, to).await?;
        return Ok(serde_json::to_value(report).expect("reports serialize"));
    }
    match event.get("tenant").and_then(Value::as_str) {
        Some(tenant) => {
            let report = sweep_tenant(services, tenant).await?;
            Ok(serde_json::to_value(report).expect("reports serialize"))
        }
        None => {
            // A scheduled event (or anything else): every tenant.
            let mut swept = Vec::new();
            let mut failed = Vec::new();
            let mut retry = None;
            for result in sweep_all(services).await? {
                match result {
                    Ok(report) => swept.push(report),
                    Err(f) => {
                        tracing::error!(tenant = %f.tenant, error = %f.error, retryable = f.error.is_retryable(), "tenant sweep failed");
                        billsync::metrics::emit(
                            &f.tenant,
                            &[(billsync::metrics::Metric::SweepFailures, 1.0)],
                        );
                        failed.push(f.to_string());
                        if f.error.is_retryable() && retry.is_none() {
                            retry = Some(f.error);
                        }
                    }
                }
            }
            if let Some(e) = retry {
                return Err(e);
            }
            Ok(json!({"swept": swept, "failed": failed}))
        }
    }
}
