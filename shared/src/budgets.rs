//! The time limits, each shorter than what contains it. A function's timeout (template.yaml)
//! bounds everything it calls; a call that may outlast its function is cut off by Lambda at a
//! moment the code did not choose: a delivery marked seen but never queued, a NetSuite slot
//! never given back. The constants live with what they bound; the tests here hold the order,
//! and hold template.yaml to the same figures.

use std::time::Duration;

/// The functions' `Timeout` in template.yaml.
pub const WEBHOOK_FUNCTION: Duration = Duration::from_secs(10);
pub const SWEEP_FUNCTION: Duration = Duration::from_secs(900);
pub const WORKER_FUNCTION: Duration = Duration::from_secs(120);
pub const RETRY_FUNCTION: Duration = Duration::from_secs(60);

/// The most AWS calls one webhook delivery makes in a row: the tenant's webhook secret (on a
/// cold cache), marking the delivery, the last-webhook note, queueing, and forgetting the
/// delivery when queueing failed.
pub const INTAKE_AWS_CALLS: u32 = 5;

/// The worker's queue keeps a message invisible this long after handing it out (template.yaml
/// `VisibilityTimeout`): six times the worker's timeout, so a message is not handed to a
/// second worker while the first may still run it.
pub const QUEUE_VISIBILITY: Duration = Duration::from_secs(720);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::{DEFAULT_AWS_TIMEOUTS, INTAKE_AWS_TIMEOUTS};
    use crate::netsuite::config::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT};
    use crate::service::worker::DRAIN_MARGIN;

    /// `key: <seconds>` in the block of `resource` in template.yaml.
    fn template_seconds(resource: &str, key: &str) -> Duration {
        Duration::from_secs(template_value(resource, key).parse().unwrap())
    }

    /// The value of the first `key:` in the block of `resource` in template.yaml.
    fn template_value(resource: &str, key: &str) -> String {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let template = std::fs::read_to_string(root.join("template.yaml")).unwrap();
        let mut inside = false;
        for line in template.lines() {
            if line.len() > 2 && line.starts_with("  ") && !line[2..].starts_with(' ') {
                inside = line.trim() == format!("{resource}:");
                continue;
            }
            if let Some(v) = inside
                .then(|| line.trim().strip_prefix(&format!("{key}:")))
                .flatten()
            {
                return v.trim().to_owned();
            }
        }
        panic!("no {key} in {resource}");
    }

    #[test]
    fn the_template_gives_the_functions_the_timeouts_the_code_is_built_for() {
        for (resource, budget) in [
            ("WebhookFunction", WEBHOOK_FUNCTION),
            ("SweepFunction", SWEEP_FUNCTION),
            ("WorkerFunction", WORKER_FUNCTION),
            ("RetryFunction", RETRY_FUNCTION),
        ] {
            assert_eq!(template_seconds(resource, "Timeout"), budget, "{resource}");
        }
        assert_eq!(
            template_seconds("InvoiceQueue", "VisibilityTimeout"),
            QUEUE_VISIBILITY
        );
    }

    #[test]
    fn hand_backs_leave_as_many_real_attempts_as_before_them() {
        use crate::service::worker::DEFER_RECEIVES;
        for queue in ["InvoiceQueue", "BulkQueue"] {
            let limit: u32 = template_value(queue, "maxReceiveCount").parse().unwrap();
            assert!(limit >= DEFER_RECEIVES + 5, "{queue}: {limit}");
        }
    }

    #[test]
    fn each_inner_timeout_is_shorter_than_what_contains_it() {
        // An intake's calls in a row end before Lambda stops the webhook function.
        assert!(INTAKE_AWS_TIMEOUTS.call * INTAKE_AWS_CALLS < WEBHOOK_FUNCTION);
        assert!(INTAKE_AWS_TIMEOUTS.attempt < INTAKE_AWS_TIMEOUTS.call);
        // Any other function's AWS call ends well inside the shortest of them.
        assert!(DEFAULT_AWS_TIMEOUTS.attempt < DEFAULT_AWS_TIMEOUTS.call);
        assert!(DEFAULT_AWS_TIMEOUTS.call * 2 <= RETRY_FUNCTION);
        // A NetSuite request taken just before the worker stops taking work ends before the
        // invocation does.
        assert!(DRAIN_MARGIN < WORKER_FUNCTION);
        assert!(DEFAULT_CONNECT_TIMEOUT + DEFAULT_REQUEST_TIMEOUT < WORKER_FUNCTION - DRAIN_MARGIN);
        // No message is handed to a second worker while the first may run it.
        assert!(QUEUE_VISIBILITY >= WORKER_FUNCTION * 6);
    }
}
