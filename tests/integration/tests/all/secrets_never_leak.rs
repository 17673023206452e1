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
const M2M_CLIENT_ID: &str = "CID-5e7f00d1a2b3c4d5";

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
    if let billsync::netsuite::Auth::Tba(c) = &mut wrong.auth {
        c.token_secret = format!("{TOKEN_SECRET}-but-wrong").into();
    }
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

    // OAuth 2.0 M2M: a token granted, used, refused early and fetched again, then a revoked
    // mapping; the client id, the key, the assertions and the tokens stay out of every line.
    let key = netsuite_sim::keys::TestKeyPair::rsa();
    let m2m_sim = netsuite_sim::NetSuiteSim::start(SimConfig {
        m2m: Some(netsuite_sim::M2mMapping::new(
            M2M_CLIENT_ID,
            "cert-1",
            &key.public_pem,
        )),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let mut m2m = billsync::netsuite::NetSuiteConfig::new(
        billsync::netsuite::AccountId::parse(&m2m_sim.config().account_id).unwrap(),
        billsync::netsuite::M2mCredentials::new(
            M2M_CLIENT_ID.into(),
            "cert-1",
            &key.private_pem.clone().into(),
        )
        .unwrap(),
    );
    m2m.base_url = client_config(&m2m_sim).base_url;
    let m2m_client = NetSuiteClient::new(m2m.clone()).unwrap();
    messages.push(format!("{m2m:?} {m2m_client:?}"));
    m2m_client.list(RecordType::Customer, 1, 0).await.unwrap();
    let mut tokens = m2m_sim.granted_tokens();
    m2m_sim.expire_tokens();
    m2m_client.list(RecordType::Customer, 1, 0).await.unwrap();
    tokens.extend(m2m_sim.granted_tokens());
    assert_eq!(tokens.len(), 2, "two tokens were granted");
    m2m_sim.revoke_m2m_mapping();
    let e = m2m_client.check().await.unwrap_err();
    messages.push(format!("{e} {e:?}"));
    messages.push(format!("{:?}", m2m_sim.login_audit()));
    let key_body = key.private_pem.lines().nth(2).unwrap().to_owned();

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("NetSuite answered"), "logging was captured");
    let m2m_secrets = [M2M_CLIENT_ID.to_owned(), key_body, "PRIVATE KEY".to_owned()];
    let all = [CONSUMER_SECRET, TOKEN_SECRET, CONSUMER_KEY, TOKEN_ID]
        .into_iter()
        .map(str::to_owned)
        .chain(m2m_secrets)
        .chain(tokens)
        // Every JWT (a client assertion) starts with the encoding of `{"`.
        .chain(["eyJ".to_owned()]);
    for secret in all {
        let secret = secret.as_str();
        if let Some(line) = logs.lines().find(|l| l.contains(secret)) {
            panic!("{secret} appears in the logs: {line}");
        }
        for m in &messages {
            assert!(!m.contains(secret), "{secret} appears in: {m}");
        }
    }
}
