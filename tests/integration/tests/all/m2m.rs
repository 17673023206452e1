//! NetSuite OAuth 2.0 machine to machine: billsync's assertions, token cache and bearer
//! requests against the simulator's token endpoint, and its assertions checked by PyJWT.

use std::time::Duration;

use billsync::netsuite::{
    AccountId, ErrorKind, M2mCredentials, NetSuiteClient, NetSuiteConfig, RecordType,
};
use billsync::Secret;
use netsuite_sim::keys::TestKeyPair;
use netsuite_sim::{AuditReason, M2mMapping, NetSuiteSim, SimConfig};
use serde_json::{json, Value};

const CLIENT_ID: &str = "sim-m2m-client-id-not-a-real-one";
const CERTIFICATE_ID: &str = "sim-certificate-id-1";

fn credentials(key: &TestKeyPair) -> M2mCredentials {
    M2mCredentials::new(
        Secret::new(CLIENT_ID),
        CERTIFICATE_ID,
        &Secret::new(key.private_pem.clone()),
    )
    .expect("a usable key")
}

async fn sim_for(key: &TestKeyPair, ttl: Duration) -> NetSuiteSim {
    let mut mapping = M2mMapping::new(CLIENT_ID, CERTIFICATE_ID, &key.public_pem);
    mapping.token_ttl = ttl;
    let sim = NetSuiteSim::start(SimConfig {
        m2m: Some(mapping),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    sim.seed(
        "customer",
        json!({"companyName": "Acme", "externalId": "c-1"}),
    );
    sim
}

fn client(sim: &NetSuiteSim, key: &TestKeyPair) -> NetSuiteClient {
    let mut config = NetSuiteConfig::new(
        AccountId::parse(&sim.config().account_id).unwrap(),
        credentials(key),
    );
    config.base_url = Some(billsync::netsuite::config::parse_base_url(&sim.base_url()).unwrap());
    config.concurrency = 5;
    config.retry.base_delay = Duration::from_millis(5);
    config.retry.max_delay = Duration::from_millis(20);
    NetSuiteClient::new(config).unwrap()
}

async fn read_customers(client: &NetSuiteClient, n: usize) -> Vec<Result<(), ErrorKind>> {
    let reads = (0..n).map(|_| async {
        client
            .list(RecordType::Customer, 10, 0)
            .await
            .map(|_| ())
            .map_err(|e| e.kind())
    });
    futures::future::join_all(reads).await
}

#[tokio::test]
async fn many_concurrent_requests_share_one_token() {
    let key = TestKeyPair::rsa();
    let sim = sim_for(&key, Duration::from_secs(3600)).await;
    let client = client(&sim, &key);
    let results = read_customers(&client, 40).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(sim.stats().token_requests, 1);
    // A second client with the same credentials (another tenant on the account) reuses it.
    let other = self::client(&sim, &key);
    assert!(read_customers(&other, 5).await.iter().all(Result::is_ok));
    assert_eq!(sim.stats().token_requests, 1);
    assert_eq!(client.token_source().unwrap().requests(), 1);
}

#[tokio::test]
async fn an_ec_key_signs_es256_and_a_string_expires_in_is_read() {
    let key = TestKeyPair::ec_p256();
    let mut mapping = M2mMapping::new(CLIENT_ID, CERTIFICATE_ID, &key.public_pem);
    mapping.expires_in_as_string = true;
    let sim = NetSuiteSim::start(SimConfig {
        m2m: Some(mapping),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    assert_eq!(credentials(&key).algorithm().as_str(), "ES256");
    let client = client(&sim, &key);
    assert!(read_customers(&client, 3).await.iter().all(Result::is_ok));
    assert_eq!(sim.stats().token_requests, 1);
}

#[tokio::test]
async fn a_token_is_renewed_before_it_expires() {
    let key = TestKeyPair::rsa();
    // A short life: the client renews at half of it, before NetSuite would refuse the token.
    let sim = sim_for(&key, Duration::from_secs(2)).await;
    let client = client(&sim, &key);
    assert!(read_customers(&client, 3).await.iter().all(Result::is_ok));
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert!(read_customers(&client, 3).await.iter().all(Result::is_ok));
    assert_eq!(sim.stats().token_requests, 2);
    assert!(
        sim.login_audit().is_empty(),
        "no request went out with a stale token: {:?}",
        sim.login_audit()
    );
}

#[tokio::test]
async fn a_refused_token_is_fetched_again_once() {
    let key = TestKeyPair::rsa();
    let sim = sim_for(&key, Duration::from_secs(3600)).await;
    let client = client(&sim, &key);
    assert!(read_customers(&client, 1).await[0].is_ok());
    // NetSuite stops accepting the token early: ten requests at once are refused, one new
    // token serves all of them.
    sim.expire_tokens();
    let results = read_customers(&client, 10).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(sim.stats().token_requests, 2);
    let refusals = sim.login_audit().len();
    assert!(
        (1..=10).contains(&refusals),
        "each request is refused at most once: {refusals}"
    );
}

#[tokio::test]
async fn a_revoked_mapping_is_a_clear_login_error_without_a_storm() {
    let key = TestKeyPair::rsa();
    let sim = sim_for(&key, Duration::from_secs(3600)).await;
    let client = client(&sim, &key);
    assert!(read_customers(&client, 1).await[0].is_ok());
    sim.revoke_m2m_mapping();
    let before = sim.stats();
    let results = read_customers(&client, 30).await;
    assert!(
        results.iter().all(|r| *r == Err(ErrorKind::Login)),
        "{results:?}"
    );
    let after = sim.stats();
    // One new token asked for (and refused); the refusal answers everyone else from memory.
    assert_eq!(after.token_requests - before.token_requests, 1);
    assert!(
        after.total_requests - before.total_requests <= 30,
        "each request reached NetSuite at most once: {}",
        after.total_requests - before.total_requests
    );
    let e = client
        .list(RecordType::Customer, 1, 0)
        .await
        .expect_err("still refused");
    let text = e.to_string();
    assert!(text.contains("invalid_grant"), "{text}");
    assert!(sim
        .login_audit()
        .iter()
        .any(|a| a.reason == AuditReason::RevokedCertificate));
}

/// Tokens are granted but every request with one is refused (the role lacks "Log in using
/// OAuth 2.0 Access Tokens"): each request is tried with a new token once, then fails as a
/// login error; nothing loops.
#[tokio::test]
async fn a_role_that_cannot_use_its_tokens_fails_without_looping() {
    let key = TestKeyPair::rsa();
    let sim = sim_for(&key, Duration::from_secs(3600)).await;
    sim.set_role_may_log_in(false);
    let client = client(&sim, &key);
    let results = read_customers(&client, 10).await;
    assert!(
        results.iter().all(|r| *r == Err(ErrorKind::Login)),
        "{results:?}"
    );
    let stats = sim.stats();
    assert!(
        stats.total_requests <= 20,
        "at most two REST attempts per request: {}",
        stats.total_requests
    );
    assert!(
        (2..=11).contains(&stats.token_requests),
        "one token, then at most one new token per refused request: {}",
        stats.token_requests
    );
    assert!(sim
        .login_audit()
        .iter()
        .all(|a| a.reason == AuditReason::EntityOrRoleDisabled));
}

#[tokio::test]
async fn a_key_that_is_not_the_mapped_one_is_refused() {
    let mapped = TestKeyPair::rsa();
    let other = TestKeyPair::rsa();
    let sim = sim_for(&mapped, Duration::from_secs(3600)).await;
    let client = client(&sim, &other);
    let results = read_customers(&client, 3).await;
    assert!(
        results.iter().all(|r| *r == Err(ErrorKind::Login)),
        "{results:?}"
    );
    assert_eq!(sim.stats().token_requests, 1);
    assert!(sim
        .login_audit()
        .iter()
        .all(|a| a.reason == AuditReason::InvalidSignature));
}

/// PyJWT (with `cryptography`), installed by the test command, accepts billsync's assertions
/// for both key kinds; without it this test fails rather than skips.
#[test]
fn pyjwt_accepts_billsync_assertions() {
    let audience =
        "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/auth/oauth2/v1/token";
    let cases: Vec<Value> = [TestKeyPair::rsa(), TestKeyPair::ec_p256()]
        .iter()
        .map(|key| {
            let c = credentials(key);
            json!({
                "assertion": c.assertion(audience, chrono::Utc::now()).unwrap(),
                "public_key": key.public_pem,
                "audience": audience,
                "client_id": CLIENT_ID,
                "certificate_id": CERTIFICATE_ID,
                "algorithm": c.algorithm().as_str(),
            })
        })
        .collect();
    let verdicts = crate::common::python_verifier(
        "verify_jwt_assertions.py",
        &cases,
        "pyjwt with cryptography",
    );
    assert_eq!(verdicts.len(), 2);
    for v in &verdicts {
        assert_eq!(v["valid"], true, "{v}");
        assert_eq!(v["claims"]["scope"], "rest_webservices", "{v}");
    }
    assert_eq!(verdicts[0]["header"]["alg"], "PS256");
    assert_eq!(verdicts[1]["header"]["alg"], "ES256");

    // And the check can fail: an assertion checked against another key is refused.
    let mut wrong = cases[0].clone();
    wrong["public_key"] = json!(TestKeyPair::rsa().public_pem);
    let verdicts = crate::common::python_verifier(
        "verify_jwt_assertions.py",
        &[wrong],
        "pyjwt with cryptography",
    );
    assert_eq!(verdicts[0]["valid"], false, "{}", verdicts[0]);
}

/// The token endpoint as a client with a wrong clock meets it: an assertion issued ten minutes
/// in the future, and one that expired an hour ago, are both refused as `invalid_grant`.
#[tokio::test]
async fn assertions_outside_their_time_window_are_refused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let key = TestKeyPair::ec_p256();
    let sim = sim_for(&key, Duration::from_secs(3600)).await;
    let token_url = format!("{}/services/rest/auth/oauth2/v1/token", sim.base_url());
    let now = chrono::Utc::now();
    for issued in [
        now + chrono::Duration::minutes(10),
        now - chrono::Duration::hours(1),
    ] {
        let assertion = credentials(&key).assertion(&token_url, issued).unwrap();
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair(
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            )
            .append_pair("client_assertion", &assertion)
            .finish();
        let addr = sim.base_url().trim_start_matches("http://").to_owned();
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST /services/rest/auth/oauth2/v1/token HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(body.as_bytes()).await.unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert!(answer.contains(r#"{"error":"invalid_grant"}"#), "{answer}");
    }
    let audit = sim.login_audit();
    assert_eq!(audit.len(), 2, "{audit:?}");
    assert!(
        audit.iter().all(|a| a.reason == AuditReason::TimestampSkew),
        "{audit:?}"
    );
}
