//! Shared setup: a NetSuite simulator on loopback and a client pointed at it.

#![allow(dead_code)]

pub mod local;
pub mod world;

use std::time::Duration;

use billsync::netsuite::config::parse_base_url;
use billsync::netsuite::{AccountId, Credentials, NetSuiteClient, NetSuiteConfig, RetryPolicy};
use netsuite_sim::{NetSuiteSim, SimConfig};
use serde_json::json;

pub struct Env {
    pub sim: NetSuiteSim,
    pub client: NetSuiteClient,
    pub config: NetSuiteConfig,
    pub subsidiary: String,
    /// Item ids by name: "pro" (non-inventory), "widget" (inventory), "tax", "discount".
    pub items: std::collections::HashMap<&'static str, String>,
}

pub fn client_config(sim: &NetSuiteSim) -> NetSuiteConfig {
    let sc = sim.config();
    let mut config = NetSuiteConfig::new(
        AccountId::parse(&sc.account_id).unwrap(),
        Credentials {
            consumer_key: sc.consumer_key.clone().into(),
            consumer_secret: sc.consumer_secret.clone().into(),
            token_id: sc.token_id.clone().into(),
            token_secret: sc.token_secret.clone().into(),
        },
    );
    config.base_url = Some(parse_base_url(&sim.base_url()).unwrap());
    config.request_timeout = Duration::from_secs(10);
    // Fast backoff so retry tests take milliseconds.
    config.retry = RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(40),
    };
    config
}

pub async fn env() -> Env {
    env_with(SimConfig::default()).await
}

pub async fn env_with(sim_config: SimConfig) -> Env {
    let sim = NetSuiteSim::start(sim_config)
        .await
        .expect("simulator starts");
    let subsidiary = sim.seed("subsidiary", json!({"name": "Parent Company"}));
    let mut items = std::collections::HashMap::new();
    items.insert(
        "pro",
        sim.seed(
            "nonInventorySaleItem",
            json!({"itemId": "Pro plan", "externalId": "item-pro"}),
        ),
    );
    items.insert(
        "widget",
        sim.seed(
            "inventoryItem",
            json!({"itemId": "Widget", "externalId": "item-widget"}),
        ),
    );
    items.insert(
        "tax",
        sim.seed(
            "nonInventorySaleItem",
            json!({"itemId": "Sales tax", "externalId": "item-tax"}),
        ),
    );
    items.insert(
        "discount",
        sim.seed(
            "discountItem",
            json!({"itemId": "Advanced Billing Discount", "externalId": "item-discount", "nonPosting": true}),
        ),
    );
    let config = client_config(&sim);
    let client = NetSuiteClient::new(config.clone()).unwrap();
    Env {
        sim,
        client,
        config,
        subsidiary,
        items,
    }
}

/// Runs one of `tests/integration/scripts`' independent verifiers (Python) on `cases`, sent as
/// JSON on stdin; its JSON answer. `needs` names what the test command installs for it: a
/// missing package fails the test rather than skipping it.
pub fn python_verifier(
    script: &str,
    cases: &[serde_json::Value],
    needs: &str,
) -> Vec<serde_json::Value> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let path = format!("{}/scripts/{script}", env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new("python3")
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 must be on PATH for the cross-checks");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(cases).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{script} failed (is {needs} installed? the test command installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
