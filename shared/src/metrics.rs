//! Per-tenant metrics in CloudWatch's embedded metric format: one JSON line on standard output
//! per observation, which CloudWatch Logs turns into metrics of the `billsync` namespace with
//! no PutMetricData call (and no IAM right for it). Each value is published twice: by
//! deployment and tenant (the dashboard's lines), and by deployment alone (what the alarms
//! watch, so a new tenant needs no new alarm). The deployment is template.yaml's `Env`
//! (`BILLSYNC_ENV`).
//!
//! Only inside Lambda (where `AWS_LAMBDA_FUNCTION_NAME` is set) are the lines printed: a
//! local command's output is for a person.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

/// The CloudWatch namespace of every billsync metric (template.yaml's alarms name it).
pub const NAMESPACE: &str = "billsync";

/// What billsync counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Invoices whose flow ended synced.
    Synced,
    /// Invoices that ended in the error log for a person.
    Errors,
    /// Payments, refunds or credits waiting for a parent record.
    Parked,
    /// Seconds from an invoice's message being queued to its flow ending synced.
    LagSeconds,
    /// Webhook deliveries refused (bad signature or credentials).
    WebhooksRefused,
    /// NetSuite answers of 429 (concurrency limit) the client met.
    NetSuiteThrottled,
    /// Differences the last reconcile found.
    ReconcileDifferences,
    /// A tenant whose scheduled sweep failed.
    SweepFailures,
}

impl Metric {
    pub const ALL: [Metric; 8] = [
        Metric::Synced,
        Metric::Errors,
        Metric::Parked,
        Metric::LagSeconds,
        Metric::WebhooksRefused,
        Metric::NetSuiteThrottled,
        Metric::ReconcileDifferences,
        Metric::SweepFailures,
    ];

    /// The metric's name in CloudWatch.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Synced => "Synced",
            Metric::Errors => "Errors",
            Metric::Parked => "Parked",
            Metric::LagSeconds => "LagSeconds",
            Metric::WebhooksRefused => "WebhooksRefused",
            Metric::NetSuiteThrottled => "NetSuiteThrottled",
            Metric::ReconcileDifferences => "ReconcileDifferences",
            Metric::SweepFailures => "SweepFailures",
        }
    }

    fn unit(self) -> &'static str {
        match self {
            Metric::LagSeconds => "Seconds",
            _ => "Count",
        }
    }
}

/// The embedded-metric document for one tenant's values at `at`, in deployment `env`.
pub fn document(env: &str, tenant: &str, values: &[(Metric, f64)], at: DateTime<Utc>) -> Value {
    let definitions: Vec<Value> = values
        .iter()
        .map(|(m, _)| json!({"Name": m.name(), "Unit": m.unit()}))
        .collect();
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": at.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Env", "Tenant"], ["Env"]],
                "Metrics": definitions,
            }],
        }),
    );
    root.insert("Env".into(), json!(env));
    root.insert("Tenant".into(), json!(tenant));
    for (m, v) in values {
        root.insert(m.name().into(), json!(v));
    }
    Value::Object(root)
}

/// Whether this process publishes metrics (it runs in Lambda).
fn enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some())
}

/// Documents kept instead of printed, while a test records them.
#[cfg(feature = "test-support")]
static RECORDED: std::sync::Mutex<Option<Vec<Value>>> = std::sync::Mutex::new(None);

/// Keeps every document emitted from now on (in any process, Lambda or not) for
/// [`recorded`], instead of printing it.
#[cfg(feature = "test-support")]
pub fn record() {
    *RECORDED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Vec::new());
}

/// The documents emitted since [`record`].
#[cfg(feature = "test-support")]
pub fn recorded() -> Vec<Value> {
    RECORDED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
        .unwrap_or_default()
}

/// Publishes one tenant's values (a no-op outside Lambda).
pub fn emit(tenant: &str, values: &[(Metric, f64)]) {
    if values.is_empty() {
        return;
    }
    #[cfg(feature = "test-support")]
    if let Some(kept) = RECORDED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .as_mut()
    {
        kept.push(document("test", tenant, values, Utc::now()));
        return;
    }
    if !enabled() {
        return;
    }
    use std::io::Write;
    let env = std::env::var("BILLSYNC_ENV").unwrap_or_else(|_| "default".into());
    let line = document(&env, tenant, values, Utc::now()).to_string();
    // One write of a whole line, so lines of concurrent tasks do not interleave.
    let _ = std::io::stdout()
        .lock()
        .write_all(format!("{line}\n").as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_declares_every_value_it_carries_per_tenant_and_overall() {
        let at = DateTime::parse_from_rfc3339("2026-12-07T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let doc = document(
            "prod",
            "acme",
            &[(Metric::Synced, 3.0), (Metric::LagSeconds, 1.5)],
            at,
        );
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(directive["Dimensions"], json!([["Env", "Tenant"], ["Env"]]));
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "Synced", "Unit": "Count"}, {"Name": "LagSeconds", "Unit": "Seconds"}])
        );
        assert_eq!(doc["_aws"]["Timestamp"], 1_796_637_600_000_i64);
        assert_eq!(
            (doc["Tenant"].clone(), doc["Synced"].clone()),
            (json!("acme"), json!(3.0))
        );
        // Every member a directive names is on the root, as the format requires.
        for m in directive["Metrics"].as_array().unwrap() {
            assert!(doc.get(m["Name"].as_str().unwrap()).is_some());
        }
    }

    #[test]
    fn metric_names_are_distinct() {
        let names: std::collections::BTreeSet<_> = Metric::ALL.iter().map(|m| m.name()).collect();
        assert_eq!(names.len(), Metric::ALL.len());
    }
}
