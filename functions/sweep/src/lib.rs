//! The sweep: the EventBridge schedule (`rate(2 hours)`) sweeps every tenant; an invocation
//! with `{"tenant": "acme"}` is "Sync Now" for one tenant.

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
            let results = sweep_all(services).await?;
            let (ok, failed): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
            for e in failed.iter().filter_map(|r| r.as_ref().err()) {
                tracing::error!(error = %e, "tenant sweep failed");
            }
            Ok(json!({
                "swept": ok.into_iter().filter_map(Result::ok).collect::<Vec<_>>(),
                "failed": failed.into_iter().filter_map(Result::err).collect::<Vec<_>>(),
            }))
        }
    }
}
