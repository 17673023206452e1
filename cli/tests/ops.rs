//! The operator commands as an operator runs them, on the embedded store against both
//! simulators: tenant apply, sync-now, status, errors, retry; and their refusals.

use std::path::Path;
use std::process::Output;

use billing_sim::{BillingSim, NewCustomer, NewInvoice, NewLine, NewProduct};
use netsuite_sim::{Fault, NetSuiteSim, SimConfig};
use rust_decimal::Decimal;
use serde_json::json;

async fn billsync(dir: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_billsync"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .output()
        .await
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn issue(bill: &BillingSim, product: u64, customer: u64, amount: i64) -> String {
    bill.issue_invoice(NewInvoice {
        lines: vec![NewLine::Setup {
            product_id: product,
            amount: Decimal::new(amount, 0),
        }],
        ..NewInvoice::new(
            customer,
            chrono::NaiveDate::from_ymd_opt(2026, 1, 5).unwrap(),
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_syncs_reads_the_error_log_and_retries() {
    let dir = std::env::temp_dir().join(format!("billsync-ops-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ns = NetSuiteSim::start(SimConfig::default()).await.unwrap();
    let demo = ns.seed_demo();
    let bill = BillingSim::start(billing_sim::SimConfig::default())
        .await
        .unwrap();
    let product = bill.add_product(NewProduct {
        name: "Plan".into(),
        handle: "plan".into(),
        price: Decimal::TEN,
        ..Default::default()
    });
    let customer = bill.add_customer(NewCustomer {
        first_name: "Ada".into(),
        last_name: "L".into(),
        email: "ada@example.com".into(),
        ..Default::default()
    });
    let first = issue(&bill, product, customer, 30);

    let secrets = json!({ "acme": billsync_cli::demo::simulator_secret(&ns, &bill) });
    std::fs::write(dir.join("secrets.json"), secrets.to_string()).unwrap();
    std::fs::write(
        dir.join("acme.json"),
        json!({
            "tenant": "acme", "source": "maxio", "site": "acme-demo", "sync_start_date": "2025-01-01",
            "items": {"setup_default": {"id": demo.item_services, "type": "service"},
                      "tax_item": {"id": demo.item_sales_tax, "type": "non_inventory"}, "discount_item": demo.item_discount},
            "payments": {"payment_instruments": true}, "refunds": {"account": demo.account_bank},
            "transactions": {"subsidiary": demo.subsidiary}
        })
        .to_string(),
    )
    .unwrap();
    let local = ["--state", "state.db", "--secrets", "secrets.json"];
    fn with<'a>(cmd: &[&'a str], local: &[&'a str]) -> Vec<&'a str> {
        [cmd, local].concat()
    }

    let out = billsync(
        &dir,
        &["tenant", "apply", "acme.json", "--state", "state.db"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));

    let out = billsync(&dir, &with(&["sync-now", "--tenant", "acme"], &local)).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("invoices queued"), "{}", text(&out));
    // Not a terminal: progress in plain lines, no bar, no colour codes.
    assert!(
        text(&out).contains("syncing: ") && text(&out).contains("messages worked"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains('\x1b') && !text(&out).contains('\r'));
    assert_eq!(ns.records("salesOrder").len(), 1);

    // A Department becomes mandatory; the next invoice stops there.
    ns.add_fault(Fault::RequiredField {
        field: "department".into(),
        label: "Department".into(),
        record_types: vec![],
    });
    let second = issue(&bill, product, customer, 45);
    // An invoice ended in error: the summary says so and the exit code is 1.
    let out = billsync(&dir, &with(&["sync-now", "--tenant", "acme"], &local)).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("1 in error (see `billsync errors`)"),
        "{}",
        text(&out)
    );
    let out = billsync(&dir, &with(&["errors", "--tenant", "acme"], &local)).await;
    let log = text(&out);
    assert!(
        log.contains(&second) && log.contains("transactions.department"),
        "{log}"
    );
    assert!(!log.contains(&first), "{log}");

    let out = billsync(&dir, &with(&["status", "--tenant", "acme"], &local)).await;
    let status = text(&out);
    assert!(
        status.contains("synced") && status.contains("error"),
        "{status}"
    );
    assert!(!status.contains("(never)"), "a sweep ran: {status}");
    assert!(
        status.contains("last sweep result")
            && status.contains("ok: ")
            && status.contains("invoices queued"),
        "{status}"
    );
    assert!(
        status.contains("lag, last 24 h         p50 ")
            && status.contains("(1 invoices, queued to synced)"),
        "{status}"
    );

    ns.clear_faults();
    let out = billsync(
        &dir,
        &with(&["retry", "--tenant", "acme", "--all-failed"], &local),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("invoices: 1 synced")
            && text(&out).contains("0 invoice(s) in the error log"),
        "{}",
        text(&out)
    );
    assert_eq!(ns.records("salesOrder").len(), 2);

    // A preview of a new invoice lists what a sync would send and sends none of it.
    let third = issue(&bill, product, customer, 12);
    let out = billsync(
        &dir,
        &with(
            &["preview", "--tenant", "acme", "--invoice", &third],
            &local,
        ),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("request(s) would be sent")
            && shown.contains("POST /services/rest/record/v1/salesOrder  (create salesOrder)")
            && shown.contains(&format!("\"externalId\": \"bs-acme-so-{third}\""))
            && shown.contains("the flow would end synced"),
        "{shown}"
    );
    assert_eq!(ns.records("salesOrder").len(), 2);
    let out = billsync(
        &dir,
        &with(
            &["preview", "--tenant", "acme", "--invoice", &first],
            &local,
        ),
    )
    .await;
    assert!(
        text(&out).contains("no writes: NetSuite already holds what billing holds"),
        "{}",
        text(&out)
    );

    // January's reconcile finds the invoice not synced yet; a backfill syncs it, and a second
    // one makes nothing; then January is clean.
    let january = ["--from", "2026-01-01", "--to", "2026-01-31"];
    let reconcile = with(
        &[&["reconcile", "--tenant", "acme"][..], &january].concat(),
        &local,
    );
    let out = billsync(&dir, &reconcile).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("- missing in NetSuite: invoice {third}")),
        "{}",
        text(&out)
    );
    let backfill = with(
        &[&["backfill", "--tenant", "acme"][..], &january].concat(),
        &local,
    );
    let out = billsync(&dir, &backfill).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("3 invoice(s) issued in the range, 3 queued")
            && text(&out).contains("invoices: 3 synced"),
        "{}",
        text(&out)
    );
    assert_eq!(ns.records("salesOrder").len(), 3);
    let out = billsync(&dir, &backfill).await;
    assert!(text(&out).contains("invoices: 3 synced"), "{}", text(&out));
    assert_eq!(
        ns.records("salesOrder").len(),
        3,
        "a second backfill makes nothing"
    );
    assert_eq!(ns.records("invoice").len(), 3);
    let out = billsync(&dir, &reconcile).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("clean: billing and NetSuite agree"),
        "{}",
        text(&out)
    );
    // An invoice in billsync's namespace that billing never issued: exit 1, with its action.
    ns.seed(
        "invoice",
        json!({
            "externalId": "bs-acme-inv-ghost", "entity": {"id": ns.records("customer")[0]["id"]},
            "tranDate": "2026-01-20", "currency": {"id": demo.currency_usd}, "total": 5, "amountRemaining": 5,
            "item": {"items": [{"item": {"id": demo.item_services}, "quantity": 1, "rate": 5, "amount": 5}]}
        }),
    );
    let out = billsync(
        &dir,
        &with(
            &[&["reconcile", "--tenant", "acme"][..], &january].concat(),
            &local,
        ),
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("- in NetSuite, not in billing: invoice ghost")
            && text(&out).contains("1 difference:"),
        "{}",
        text(&out)
    );
    let out = billsync(
        &dir,
        &with(&["reconcile", "--tenant", "acme", "--last"], &local),
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(2),
        "nothing kept yet: {}",
        text(&out)
    );

    // Refusals, with exit codes scripts can use.
    assert_eq!(
        billsync(&dir, &with(&["errors", "--tenant", "nobody"], &local))
            .await
            .status
            .code(),
        Some(6)
    );
    assert_eq!(
        billsync(&dir, &with(&["retry", "--tenant", "acme"], &local))
            .await
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        billsync(&dir, &["tenant", "apply", "missing.json"])
            .await
            .status
            .code(),
        Some(2),
        "a missing file is bad input"
    );
    std::fs::write(dir.join("bad.json"), "{ nope").unwrap();
    let out = billsync(&dir, &["tenant", "validate", "bad.json"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("not valid JSON"));
    let out = billsync(
        &dir,
        &[
            "sync-now",
            "--tenant",
            "acme",
            "--state",
            "state.db",
            "--secrets",
            "bad.json",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `status` reads the cursor of the tenant's own billing source: a Chargebee tenant shows the
/// newest event time it queued, not Maxio's cursor ("none yet" for ever).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_a_chargebee_tenants_own_event_cursor() {
    use billing_sim::{CbInvoice, CbLine, ChargebeeSim, ChargebeeSimConfig};

    let dir = std::env::temp_dir().join(format!("billsync-ops-cb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ns = NetSuiteSim::start(SimConfig::default()).await.unwrap();
    let demo = ns.seed_demo();
    let cb = ChargebeeSim::start(ChargebeeSimConfig::default())
        .await
        .unwrap();
    cb.add_customer("c1", None, "Ada", "Lovelace", "ada@example.com", "USD");
    cb.add_invoice(CbInvoice {
        customer_id: "c1".into(),
        currency: "USD".into(),
        date: 1_769_900_000,
        lines: vec![CbLine {
            entity_type: "adhoc".into(),
            entity_id: None,
            description: "Consulting".into(),
            quantity: 1,
            unit_amount: 10000,
            tax_rate_percent: 0,
        }],
        ..CbInvoice::default()
    });
    let nc = ns.config();
    let secrets = json!({ "cb": {
        "netsuite": {"account_id": nc.account_id, "consumer_key": nc.consumer_key,
                     "consumer_secret": nc.consumer_secret, "token_id": nc.token_id,
                     "token_secret": nc.token_secret, "base_url": ns.base_url()},
        "billing": billsync_cli::demo_chargebee::secret(&cb)
    }});
    std::fs::write(dir.join("secrets.json"), secrets.to_string()).unwrap();
    let mut settings = billsync_cli::demo_chargebee::settings_document(&cb, &demo);
    settings["tenant"] = json!("cb");
    std::fs::write(dir.join("cb.json"), settings.to_string()).unwrap();
    let local = ["--state", "state.db", "--secrets", "secrets.json"];

    let out = billsync(&dir, &["tenant", "apply", "cb.json", "--state", "state.db"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let out = billsync(
        &dir,
        &[&["sync-now", "--tenant", "cb"][..], &local].concat(),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(ns.records("invoice").len(), 1);

    let out = billsync(&dir, &[&["status", "--tenant", "cb"][..], &local].concat()).await;
    let status = text(&out);
    let cursor = status
        .lines()
        .find_map(|l| l.trim().strip_prefix("billing event cursor"))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no cursor line: {status}"));
    assert!(
        cursor.parse::<i64>().is_ok_and(|t| t >= 1_769_900_000),
        "the Chargebee cursor is the newest event time: {status}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn read_only_commands_create_no_state_file() {
    let dir = std::env::temp_dir().join(format!("billsync-readonly-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for args in [
        &["status", "--tenant", "acme"][..],
        &["errors", "--tenant", "acme"][..],
    ] {
        let out = billsync(&dir, args).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains("no state at billsync.db"),
            "{}",
            text(&out)
        );
    }
    assert!(
        std::fs::read_dir(&dir).unwrap().next().is_none(),
        "no file was created"
    );
}
