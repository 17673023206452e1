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
    for kind in ["customer", "salesOrder", "invoice", "customerPayment"] {
        assert!(report.records_created[kind] > 0, "{kind}: {summary}");
    }
    assert!(report.ok());
    assert!(summary.contains("accounted for"));
    // The state file is a real SQLite database a person can open.
    assert!(std::fs::metadata(&state).unwrap().len() > 0);
    std::fs::remove_dir_all(&dir).unwrap();
}
