//! No credential value reaches a log line or an error message, whatever happens: success,
//! refused login, retries, lost answers. Logs are captured at TRACE level for every target.

use crate::common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use billsync::netsuite::records::{Customer, RecordRef};
use billsync::netsuite::{NetSuiteClient, RecordKey, RecordType};
use common::{client_config, env_with};
use netsuite_sim::{Fault, SimConfig};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const CONSUMER_KEY: &str = "CK-3b9e1d7a55c04f2e";
const CONSUMER_SECRET: &str = "CS-d41f0a9c8e7b6a5f";
const TOKEN_ID: &str = "TK-77aa12bc34de56f0";
const TOKEN_SECRET: &str = "TS-9c0ffee5eed5b00c";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_logs_or_errors() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let env = env_with(SimConfig {
        consumer_key: CONSUMER_KEY.into(),
        consumer_secret: CONSUMER_SECRET.into(),
        token_id: TOKEN_ID.into(),
        token_secret: TOKEN_SECRET.into(),
        ..SimConfig::default()
    })
    .await;
    let mut messages = vec![format!("{:?}", env.config), format!("{:?}", env.client)];

    // Success, with a retry after a 5xx and an idempotent create after a lost answer.
    env.sim.add_fault(Fault::ServerError { remaining: 1 });
    env.sim.add_fault(Fault::CommitThenDrop { remaining: 1 });
    let customer = Customer {
        external_id: Some("leak-1".into()),
        company_name: Some("Leak Test Ltd".into()),
        is_person: Some(false),
        subsidiary: Some(RecordRef::id(&env.subsidiary)),
        ..Default::default()
    };
    let id = env
        .client
        .create(RecordType::Customer, &customer)
        .await
        .unwrap();
    let _: Customer = env
        .client
        .get(RecordType::Customer, &RecordKey::id(&id))
        .await
        .unwrap();

    // Failures of every kind, with their Display and Debug forms.
    let mut wrong = client_config(&env.sim);
    wrong.credentials.token_secret = format!("{TOKEN_SECRET}-but-wrong").into();
    let wrong_client = NetSuiteClient::new(wrong.clone()).unwrap();
    let e = wrong_client.check().await.unwrap_err();
    messages.push(e.to_string());
    messages.push(format!("{e:?}"));
    messages.push(format!("{wrong:?}"));

    env.sim.add_fault(Fault::MissingPermission {
        record_type: "customer".into(),
    });
    let e = env.client.check().await.unwrap_err();
    messages.push(e.to_string());
    messages.push(format!("{e:?}"));
    env.sim.clear_faults();

    let e = env
        .client
        .get::<Customer>(RecordType::Customer, &RecordKey::external("missing"))
        .await
        .unwrap_err();
    messages.push(format!("{e} {e:?}"));
    messages.push(format!("{:?}", env.sim.login_audit()));

    env.sim.shutdown().await;
    let e = env.client.check().await.unwrap_err();
    messages.push(format!("{e} {e:?}"));

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("NetSuite answered"), "logging was captured");
    for secret in [CONSUMER_SECRET, TOKEN_SECRET, CONSUMER_KEY, TOKEN_ID] {
        if let Some(line) = logs.lines().find(|l| l.contains(secret)) {
            panic!("{secret} appears in the logs: {line}");
        }
        for m in &messages {
            assert!(!m.contains(secret), "{secret} appears in: {m}");
        }
    }
}
