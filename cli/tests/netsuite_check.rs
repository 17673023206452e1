//! `billsync netsuite check` as an administrator runs it, against the NetSuite simulator.

use std::process::Output;

use netsuite_sim::{NetSuiteSim, SimConfig};

async fn run_check(sim: &NetSuiteSim, token_secret: &str, account: &str) -> Output {
    let config = sim.config();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_billsync"));
    cmd.args(["netsuite", "check"])
        .env_clear()
        .env("NETSUITE_ACCOUNT_ID", account)
        .env("NETSUITE_CONSUMER_KEY", &config.consumer_key)
        .env("NETSUITE_CONSUMER_SECRET", &config.consumer_secret)
        .env("NETSUITE_TOKEN_ID", &config.token_id)
        .env("NETSUITE_TOKEN_SECRET", token_secret)
        .env("NETSUITE_BASE_URL", sim.base_url());
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
