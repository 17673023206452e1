//! The demo's own code path with a small month: every invoice accounted for, totals equal per
//! currency, and a second pass over all billing events creates nothing.

use billsync_cli::demo::{render, run, DemoOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_demo_accounts_for_every_invoice_to_the_cent() {
    let dir = std::env::temp_dir().join(format!("billsync-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("demo.db");
    let report = run(&DemoOptions {
        invoices: 80,
        seed: 3,
        state: Some(state.clone()),
        progress: false,
        netsuite: None,
        chargebee_invoices: 24,
        netsuite_auth: billsync::netsuite::AuthMethod::Tba,
    })
    .await
    .unwrap();
    let summary = render(&report);
    assert_eq!(report.generated, 80, "{summary}");
    assert_eq!(report.accounted(), report.generated, "{summary}");
    assert!(report.synced > 0 && report.skipped_count() > 0, "{summary}");
    assert!(report.totals.len() >= 2, "two currencies: {summary}");
    assert!(report.totals_match(), "{summary}");
    assert_eq!(report.second_pass_new_records, 0, "{summary}");
    // NetSuite's own figures were read back for every synced invoice of both tenants.
    let compared: usize = report.read_back.iter().map(|r| r.compared).sum();
    assert_eq!(
        compared,
        report.synced + report.chargebee.synced,
        "{summary}"
    );
    assert!(
        report.read_back.iter().all(|r| r.differ.is_empty()),
        "{summary}"
    );
    for kind in ["customer", "salesOrder", "invoice", "customerPayment"] {
        assert!(report.records_created[kind] > 0, "{kind}: {summary}");
    }
    // The Chargebee tenant beside it: every invoice accounted for, totals to the cent, its
    // items created from item prices.
    let cb = &report.chargebee;
    assert_eq!(cb.generated, 24, "{summary}");
    assert_eq!(cb.accounted(), cb.generated, "{summary}");
    assert!(cb.errors.is_empty() && cb.parked.is_empty(), "{summary}");
    assert!(
        cb.synced > 0 && cb.totals.iter().all(|t| t.billing == t.netsuite),
        "{summary}"
    );
    assert!(
        report.records_created["nonInventorySaleItem"] >= 4,
        "{summary}"
    );
    assert!(report.ok());
    assert!(summary.contains("accounted for"));
    assert!(summary.contains("Chargebee tenant"));
    // The state file is a real SQLite database a person can open.
    assert!(std::fs::metadata(&state).unwrap().len() > 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_can_sync_into_another_netsuite_endpoint() {
    use billsync::netsuite::{AccountId, Credentials, NetSuiteConfig};
    use billsync_cli::demo::ExternalNetSuite;
    // A NetSuite the demo did not start: it reaches it over HTTP with its credentials.
    let ns = netsuite_sim::NetSuiteSim::start(netsuite_sim::SimConfig::default())
        .await
        .unwrap();
    let ids = ns.seed_demo();
    let c = ns.config();
    let mut config = NetSuiteConfig::new(
        AccountId::parse(&c.account_id).unwrap(),
        Credentials {
            consumer_key: c.consumer_key.clone().into(),
            consumer_secret: c.consumer_secret.clone().into(),
            token_id: c.token_id.clone().into(),
            token_secret: c.token_secret.clone().into(),
        },
    );
    config.base_url = Some(ns.base_url().parse().unwrap());
    let report = run(&DemoOptions {
        invoices: 40,
        seed: 11,
        state: None,
        progress: false,
        netsuite: Some(ExternalNetSuite { config, ids }),
        chargebee_invoices: 12,
        netsuite_auth: billsync::netsuite::AuthMethod::Tba,
    })
    .await
    .unwrap();
    let summary = render(&report);
    assert!(report.ok(), "{summary}");
    assert_eq!(
        ns.records("salesOrder").len(),
        report.records_created["salesOrder"],
        "{summary}"
    );
    assert!(report.records_created["itemFulfillment"] > 0 || report.awaiting_fulfilment == 0);
}

/// The same month over OAuth 2.0 M2M: the simulator maps a key pair made for the run, and the
/// whole sync of both tenants needs one token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_reconciles_over_oauth2_with_one_token() {
    let report = run(&DemoOptions {
        invoices: 30,
        seed: 5,
        state: None,
        progress: false,
        netsuite: None,
        chargebee_invoices: 8,
        netsuite_auth: billsync::netsuite::AuthMethod::M2m,
    })
    .await
    .unwrap();
    let summary = render(&report);
    assert!(report.ok(), "{summary}");
    assert!(report.synced > 0, "{summary}");
    assert!(
        summary.contains("NetSuite login: OAuth 2.0 client credentials (M2M): 1 token request(s)"),
        "{summary}"
    );
}
