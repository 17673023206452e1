use netsuite_sim::{AuditReason, NetSuiteSim, SimConfig};

use crate::common::{now, start, start_with, Client, Resp, SignOpts};

const LOGIN_DETAIL: &str = "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at Setup > Users/Roles > User Management > View Login Audit Trail.";

/// Checks the exact 401 document and returns the audited reason.
fn assert_refused(sim: &NetSuiteSim, r: &Resp) -> AuditReason {
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("application/vnd.oracle.resource+json; type=error")
    );
    let body = r.json();
    assert_eq!(body["title"], "Unauthorized");
    assert_eq!(body["status"], 401);
    assert_eq!(
        body["type"],
        "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html"
    );
    assert_eq!(body["o:errorDetails"][0]["o:errorCode"], "INVALID_LOGIN");
    assert_eq!(body["o:errorDetails"][0]["detail"], LOGIN_DETAIL);
    let audit = sim.login_audit();
    let last = audit.last().expect("the refusal is audited");
    let cfg = sim.config();
    for secret in [&cfg.consumer_secret, &cfg.token_secret] {
        assert!(
            !last.detail.contains(secret.as_str()),
            "audit leaks a secret"
        );
    }
    last.reason
}

#[tokio::test]
async fn valid_signature_with_query_parameters_is_accepted() {
    let (sim, client) = start().await;
    let r = client.get("/record/v1/customer?limit=5&offset=0").await;
    assert_eq!(r.status, 200, "{}", r.text());
    // Encoded characters in path and query are part of what is signed.
    let r = client
        .get("/record/v1/customer/eid:A%20B%2BC?fields=companyName,email&expandSubResources=true")
        .await;
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(sim.login_audit().is_empty());
}

#[tokio::test]
async fn wrong_secret_is_refused_as_bad_signature() {
    let (sim, client) = start().await;
    let opts = SignOpts {
        consumer_secret: Some("not-the-secret".into()),
        ..SignOpts::default()
    };
    let r = client
        .send_with("GET", "/record/v1/customer", None, &opts)
        .await;
    assert_eq!(assert_refused(&sim, &r), AuditReason::InvalidSignature);
}

#[tokio::test]
async fn hmac_sha1_is_refused() {
    let (sim, client) = start().await;
    let opts = SignOpts {
        signature_method: Some("HMAC-SHA1".into()),
        ..SignOpts::default()
    };
    let r = client
        .send_with("GET", "/record/v1/customer", None, &opts)
        .await;
    assert_eq!(
        assert_refused(&sim, &r),
        AuditReason::UnsupportedSignatureMethod
    );
}

#[tokio::test]
async fn lower_case_realm_is_refused() {
    let config = SimConfig {
        account_id: "1234567_SB1".into(),
        ..SimConfig::default()
    };
    let (sim, client) = start_with(config).await;
    let ok = client.get("/record/v1/customer").await;
    assert_eq!(ok.status, 200);
    let opts = SignOpts {
        realm: Some("1234567_sb1".into()),
        ..SignOpts::default()
    };
    let r = client
        .send_with("GET", "/record/v1/customer", None, &opts)
        .await;
    assert_eq!(assert_refused(&sim, &r), AuditReason::WrongRealm);
}

#[tokio::test]
async fn replayed_nonce_is_refused() {
    let (sim, client) = start().await;
    let opts = SignOpts {
        nonce: Some("fixed-nonce-123".into()),
        timestamp: Some(now()),
        ..SignOpts::default()
    };
    let first = client
        .send_with("GET", "/record/v1/customer", None, &opts)
        .await;
    assert_eq!(first.status, 200);
    let again = client
        .send_with("GET", "/record/v1/customer", None, &opts)
        .await;
    assert_eq!(assert_refused(&sim, &again), AuditReason::NonceReused);
}

#[tokio::test]
async fn skewed_timestamp_is_refused() {
    let (sim, client) = start().await;
    let opts = SignOpts {
        timestamp: Some(now() - 600),
        ..SignOpts::default()
    };
    let r = client
        .send_with("GET", "/record/v1/customer", None, &opts)
        .await;
    assert_eq!(assert_refused(&sim, &r), AuditReason::TimestampSkew);
}

#[tokio::test]
async fn short_nonce_missing_header_and_revoked_token_are_refused() {
    let (sim, client) = start().await;
    let short = SignOpts {
        nonce: Some("abc".into()),
        ..SignOpts::default()
    };
    let r = client
        .send_with("GET", "/record/v1/customer", None, &short)
        .await;
    assert_eq!(assert_refused(&sim, &r), AuditReason::NonceRejected);

    let none = SignOpts {
        omit_header: true,
        ..SignOpts::default()
    };
    let r = client
        .send_with("GET", "/record/v1/customer", None, &none)
        .await;
    assert_eq!(assert_refused(&sim, &r), AuditReason::MissingHeader);

    sim.revoke_token();
    let r = client.get("/record/v1/customer").await;
    assert_eq!(assert_refused(&sim, &r), AuditReason::RevokedToken);
    assert_eq!(sim.login_audit().len(), 3);
    // Refused requests count as requests, but never reach an operation.
    let stats = sim.stats();
    assert_eq!(stats.total_requests, 3);
    assert!(stats.requests_by_operation.is_empty());
}

#[tokio::test]
async fn a_second_simulator_does_not_accept_foreign_credentials() {
    let (_sim, client) = start().await;
    let other = NetSuiteSim::start(SimConfig {
        consumer_key: "another-key".into(),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    // Sign with the first simulator's credentials, send to the second.
    let foreign = Client {
        sim: client.sim.clone(),
        host: other.base_url().trim_start_matches("http://").to_string(),
    };
    let r = foreign.get("/record/v1/customer").await;
    assert_eq!(assert_refused(&other, &r), AuditReason::UnknownConsumer);
    other.shutdown().await;
}
