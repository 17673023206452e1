//! `billsync netsuite check` as an administrator runs it, against the NetSuite simulator.

use std::process::Output;

use netsuite_sim::{NetSuiteSim, SimConfig};

/// `billsync <args>` with the simulator's TBA values in the environment.
fn billsync_tba(sim: &NetSuiteSim, args: &[&str]) -> tokio::process::Command {
    let config = sim.config();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_billsync"));
    cmd.args(args)
        .env_clear()
        .env("NETSUITE_ACCOUNT_ID", &config.account_id)
        .env("NETSUITE_CONSUMER_KEY", &config.consumer_key)
        .env("NETSUITE_CONSUMER_SECRET", &config.consumer_secret)
        .env("NETSUITE_TOKEN_ID", &config.token_id)
        .env("NETSUITE_TOKEN_SECRET", &config.token_secret)
        .env("NETSUITE_BASE_URL", sim.base_url());
    cmd
}

async fn run_check(sim: &NetSuiteSim, token_secret: &str, account: &str) -> Output {
    let mut cmd = billsync_tba(sim, &["netsuite", "check"]);
    cmd.env("NETSUITE_ACCOUNT_ID", account)
        .env("NETSUITE_TOKEN_SECRET", token_secret);
    cmd.output().await.unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test]
async fn check_succeeds_with_good_credentials() {
    let sim = NetSuiteSim::start(SimConfig {
        account_id: "1234567_SB1".into(),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let secret = sim.config().token_secret;
    // The account id as some admins paste it: lower case; the realm is still sent upper case.
    let out = run_check(&sim, &secret, "1234567_sb1").await;
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("NetSuite connection OK: account 1234567_SB1 (sandbox)"),
        "{stdout}"
    );
}

#[tokio::test]
async fn check_fails_clearly_with_a_wrong_secret() {
    let sim = NetSuiteSim::start(SimConfig::default()).await.unwrap();
    let account = sim.config().account_id;
    let wrong = "definitely-not-the-token-secret";
    let out = run_check(&sim, wrong, &account).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("NetSuite refused the login"), "{all}");
    assert!(all.contains("Login Audit Trail"), "{all}");
    assert!(all.contains("realm"), "{all}");
    assert!(
        !all.contains(wrong),
        "the secret must not be printed: {all}"
    );
}

#[tokio::test]
async fn check_reports_missing_permission_and_missing_settings() {
    let sim = NetSuiteSim::start(SimConfig::default()).await.unwrap();
    sim.add_fault(netsuite_sim::Fault::MissingPermission {
        record_type: "customer".into(),
    });
    let config = sim.config();
    let out = run_check(&sim, &config.token_secret, &config.account_id).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("lacks a permission"));

    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_billsync"))
        .args(["netsuite", "check"])
        .env_clear()
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("NETSUITE_TOKEN_SECRET is not set"));
}

/// `billsync netsuite check` with only the OAuth 2.0 M2M variables, the key given as a file.
async fn run_m2m_check(sim: &NetSuiteSim, private_pem: &str) -> Output {
    let dir = std::env::temp_dir().join(format!(
        "billsync-m2m-check-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("private.pem");
    std::fs::write(&key, private_pem).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_billsync"))
        .args(["netsuite", "check"])
        .env_clear()
        .env("NETSUITE_ACCOUNT_ID", sim.config().account_id)
        .env("NETSUITE_CLIENT_ID", M2M_CLIENT)
        .env("NETSUITE_CERTIFICATE_ID", M2M_CERTIFICATE)
        .env("NETSUITE_PRIVATE_KEY_FILE", &key)
        .env("NETSUITE_BASE_URL", sim.base_url())
        .output()
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    out
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

const M2M_CLIENT: &str = "sim-m2m-client-id-not-a-real-one";
const M2M_CERTIFICATE: &str = "sim-certificate-id-7";

async fn m2m_sim(public_pem: &str) -> NetSuiteSim {
    NetSuiteSim::start(SimConfig {
        m2m: Some(netsuite_sim::M2mMapping::new(
            M2M_CLIENT,
            M2M_CERTIFICATE,
            public_pem,
        )),
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn m2m_check_succeeds_with_the_mapped_key() {
    let key = netsuite_sim::keys::TestKeyPair::rsa();
    let sim = m2m_sim(&key.public_pem).await;
    let out = run_m2m_check(&sim, &key.private_pem).await;
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("NetSuite connection OK"), "{stdout}");
    assert!(
        stdout.contains("OAuth 2.0 client credentials (M2M)"),
        "{stdout}"
    );
    assert_eq!(sim.stats().token_requests, 1);
}

#[tokio::test]
async fn m2m_check_with_another_key_names_the_certificate_mapping() {
    let mapped = netsuite_sim::keys::TestKeyPair::rsa();
    let other = netsuite_sim::keys::TestKeyPair::rsa();
    let sim = m2m_sim(&mapped.public_pem).await;
    let out = run_m2m_check(&sim, &other.private_pem).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains("NetSuite refused the OAuth 2.0 login"),
        "{all}"
    );
    assert!(all.contains("invalid_grant"), "{all}");
    assert!(
        all.contains("OAuth 2.0 Client Credentials (M2M) Setup"),
        "the advice names where the certificate is mapped: {all}"
    );
    assert!(
        all.contains("private key must belong to the certificate"),
        "{all}"
    );
    assert!(
        !all.contains("PRIVATE KEY") && !all.contains(M2M_CLIENT),
        "neither key nor client id is printed: {all}"
    );
}

#[tokio::test]
async fn mixed_credentials_are_refused_with_the_complete_set_named() {
    let key = netsuite_sim::keys::TestKeyPair::ec_p256();
    let sim = m2m_sim(&key.public_pem).await;
    let out = billsync_tba(&sim, &["netsuite", "check"])
        .env("NETSUITE_CLIENT_ID", M2M_CLIENT)
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("the TBA set is complete"), "{all}");
    assert!(
        all.contains("the M2M set is missing NETSUITE_CERTIFICATE_ID, NETSUITE_PRIVATE_KEY"),
        "{all}"
    );
}

#[tokio::test]
async fn m2m_check_names_the_role_permission_when_tokens_are_refused() {
    let key = netsuite_sim::keys::TestKeyPair::ec_p256();
    let sim = m2m_sim(&key.public_pem).await;
    sim.set_role_may_log_in(false);
    let out = run_m2m_check(&sim, &key.private_pem).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains("Log in using OAuth 2.0 Access Tokens"),
        "the advice names the role permission: {all}"
    );
}

#[tokio::test]
async fn m2m_check_without_the_grant_names_the_integration_setting() {
    let key = netsuite_sim::keys::TestKeyPair::ec_p256();
    // An account where no integration has the client credentials grant.
    let sim = NetSuiteSim::start(SimConfig::default()).await.unwrap();
    let out = run_m2m_check(&sim, &key.private_pem).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("unauthorized_client"), "{all}");
    assert!(
        all.contains("Client Credentials (Machine to Machine) Grant"),
        "the advice names the integration setting: {all}"
    );
}

#[tokio::test]
async fn check_names_a_permission_the_role_lacks_though_the_login_works() {
    let sim = NetSuiteSim::start(SimConfig::default()).await.unwrap();
    let config = sim.config();
    // The role of the setup guide, but Sales Order only at View: every invoice would fail.
    sim.set_role_permissions(
        billsync::netsuite::permissions::REQUIRED
            .iter()
            .map(|p| (p.key.to_owned(), p.level as u8))
            .collect(),
    );
    let out = run_check(&sim, &config.token_secret, &config.account_id).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("The role has the"), "{}", text(&out));

    sim.set_permission("TRAN_SALESORD", 1);
    let out = run_check(&sim, &config.token_secret, &config.account_id).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("NetSuite connection OK"), "{all}");
    assert!(
        all.contains("the role lacks Transactions > Sales Order (TRAN_SALESORD) at EDIT"),
        "{all}"
    );
    assert!(all.contains("Manage Roles"), "{all}");
    assert!(
        sim.records("salesOrder").is_empty(),
        "proved without writing"
    );
}

/// `billsync netsuite ids | head -1`: the reader goes away after one line; the command ends
/// quietly instead of panicking on the closed pipe.
#[tokio::test]
async fn output_into_a_closed_pipe_ends_quietly() {
    use tokio::io::AsyncBufReadExt;
    let sim = NetSuiteSim::start(SimConfig::default()).await.unwrap();
    sim.seed_demo();
    // More than a pipe holds, so the command is still writing when the reader leaves.
    for i in 0..3000 {
        sim.seed(
            "serviceSaleItem",
            serde_json::json!({"itemId": format!("Service item number {i:05} with a long name")}),
        );
    }
    let mut child = billsync_tba(&sim, &["netsuite", "ids"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().unwrap();
    assert!(first.starts_with("subsidiaries"), "{first}");
    drop(lines);
    let out = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "{stderr}");
}
