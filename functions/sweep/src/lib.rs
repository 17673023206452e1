//! The sweep: the EventBridge schedule (`rate(2 hours)`) sweeps every tenant; an invocation
//! with `{"tenant": "acme"}` is "Sync Now" for one tenant.
//!
//! How a failure ends the invocation is Lambda's retry decision: a tenant whose sweep may pass
//! by itself (an outage, a throttle) makes the scheduled invocation a function error, after
//! every other tenant was swept, so Lambda tries the event again and counts an error; a
//! failure a person must fix (no secret, unknown tenant) is reported in the answer and logged,
//! since trying again cannot help.

use billsync::service::sweep::{sweep_all, sweep_tenant};
use billsync::service::{ServiceError, Services};
use serde_json::{json, Value};

pub async fn handle(services: &Services, event: Value) -> Result<Value, ServiceError> {
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
