//! A NetSuite administrator's first quarter hour, played with the `billsync` command against
//! the simulators: an account with the integration's role and nothing of billsync's yet;
//! `netsuite ids`; a settings file written from those ids; `tenant setup`; the SDF project
//! deployed; `tenant check` naming what is left (unmapped products) and then clean; `tenant
//! apply`; `sync-now`, and the invoices are in NetSuite. Then the broken variants: a role
//! without sales-order create, an item of the wrong type, a missing custom field and a closed
//! period, each on its own line with its fix in one run of `tenant check`, and a wrong token
//! secret; `tenant apply` refuses them and no invoice is tried.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Instant;

use billing_sim::{BillingSim, DatasetSpec};
use billsync::netsuite::permissions::REQUIRED;
use netsuite_sim::{NetSuiteSim, SimConfig};
use serde_json::{json, Value};

struct User {
    dir: PathBuf,
    ns: NetSuiteSim,
    _bill: BillingSim,
    started: Instant,
}

impl User {
    /// A new account: the company's records and the integration's role with exactly the
    /// permissions the setup guide lists; no custom fields, discount item or payment method.
    async fn new(name: &str) -> User {
        let dir = std::env::temp_dir().join(format!("billsync-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ns = NetSuiteSim::start(SimConfig::default()).await.unwrap();
        ns.seed_fresh();
        ns.set_role_permissions(
            REQUIRED
                .iter()
                .map(|p| (p.key.to_owned(), p.level as u8))
                .collect(),
        );
        let spec = DatasetSpec {
            invoices: 8,
            ..DatasetSpec::default()
        };
        let bill = BillingSim::start_with(billing_sim::SimConfig::default(), &spec)
            .await
            .unwrap();
        let secrets = json!({ "acme": billsync_cli::demo::simulator_secret(&ns, &bill) });
        std::fs::write(dir.join("secrets.json"), secrets.to_string()).unwrap();
        User {
            dir,
            ns,
            _bill: bill,
            started: Instant::now(),
        }
    }

    /// Runs `billsync` in the user's folder, NetSuite credentials in the environment as the
    /// guide says (`token_secret` may be a wrong one).
    async fn run_with(&self, args: &[&str], token_secret: &str) -> Output {
        let c = self.ns.config();
        tokio::process::Command::new(env!("CARGO_BIN_EXE_billsync"))
            .args(args)
            .current_dir(&self.dir)
            .env_clear()
            .env("NETSUITE_ACCOUNT_ID", &c.account_id)
            .env("NETSUITE_CONSUMER_KEY", &c.consumer_key)
            .env("NETSUITE_CONSUMER_SECRET", &c.consumer_secret)
            .env("NETSUITE_TOKEN_ID", &c.token_id)
            .env("NETSUITE_TOKEN_SECRET", token_secret)
            .env("NETSUITE_BASE_URL", self.ns.base_url())
            .output()
            .await
            .unwrap()
    }

    async fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, &self.ns.config().token_secret).await
    }

    async fn run_owned(&self, args: Vec<String>) -> Output {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run(&args).await
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    fn settings(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.path("acme.json")).unwrap()).unwrap()
    }

    fn save(&self, doc: &Value) {
        std::fs::write(
            self.path("acme.json"),
            serde_json::to_string_pretty(doc).unwrap(),
        )
        .unwrap();
    }

    async fn check(&self) -> (Output, Value) {
        let out = self
            .run(&[
                "tenant",
                "check",
                "--tenant",
                "acme",
                "--settings",
                "acme.json",
                "--json",
                "--secrets",
                "secrets.json",
                "--state",
                "state.db",
            ])
            .await;
        let report =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
        (out, report)
    }

    /// Everything up to a clean check: ids, settings, setup, SDF, mapping.
    async fn set_up(&self) {
        // 1. What the account holds, to fill the settings with.
        let out = self.run(&["netsuite", "ids", "--json"]).await;
        assert!(out.status.success(), "{}", text(&out));
        let ids: Value = serde_json::from_slice(&out.stdout).unwrap();
        let rows = |title: &str| -> Vec<Value> {
            ids.as_array()
                .unwrap()
                .iter()
                .find(|s| s["title"] == title)
                .unwrap_or_else(|| panic!("no {title} in {ids}"))["rows"]
                .as_array()
                .unwrap()
                .clone()
        };
        let first = |title: &str| rows(title)[0]["id"].as_str().unwrap().to_owned();
        let item = |note: &str| -> String {
            rows("items")
                .iter()
                .find(|r| r["note"] == note)
                .unwrap_or_else(|| panic!("no item of {note}"))["id"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let currencies: serde_json::Map<String, Value> = rows("currencies")
            .iter()
            .map(|r| (r["note"].as_str().unwrap().to_owned(), r["id"].clone()))
            .collect();
        let service = item("type service");
        let non_inventory = item("type non_inventory");
        self.save(&json!({
            "tenant": "acme", "source": "maxio", "site": "acme-demo", "sync_start_date": "2020-01-01",
            "items": {
                "custom_default": {"id": service, "type": "service"},
                "setup_default": {"id": service, "type": "service"},
                "other_default": {"id": service, "type": "service"},
                "tax_item": {"id": non_inventory, "type": "non_inventory"}
            },
            "payments": {"account": first("bank accounts")},
            "refunds": {"account": first("bank accounts"), "ar_account": first("accounts receivable")},
            "transactions": {"subsidiary": first("subsidiaries"), "department": first("departments"),
                             "location": first("locations"), "terms": first("terms")},
            "currencies": currencies
        }));

        // 2. What billsync creates through REST; ids written into the file.
        let out = self.run(&["tenant", "setup", "acme.json", "--write"]).await;
        assert!(out.status.success(), "{}", text(&out));
        let doc = self.settings();
        assert!(doc["items"]["discount_item"].is_string(), "{doc}");
        assert!(doc["payments"]["payment_method"].is_string(), "{doc}");

        // 3. Before the SDF project is deployed, the check names each missing field.
        let (out, report) = self.check().await;
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let missing_fields = findings(&report, "custom field");
        assert_eq!(missing_fields.len(), 5, "{missing_fields:#?}");

        // 4. `suitecloud project:deploy` of infra/netsuite.
        let objects = Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/netsuite/src/Objects");
        assert_eq!(self.ns.deploy_sdf(&objects).unwrap(), 7);

        // 5. What is left: the billing catalog's entries no mapping names. Map them as the
        // findings say.
        let (_, report) = self.check().await;
        let unmapped = findings(&report, "billing");
        assert!(!unmapped.is_empty(), "{report:#}");
        let mut doc = self.settings();
        for f in &unmapped {
            let subject = f["subject"].as_str().unwrap();
            let (map, id) = subject
                .strip_prefix("items.")
                .and_then(|s| s.split_once('.'))
                .unwrap_or_else(|| panic!("not a mapping: {f}"));
            let (item, kind) = if map == "products" {
                (&service, "service")
            } else {
                (&non_inventory, "non_inventory")
            };
            doc["items"][map][id] = json!({"id": item, "type": kind});
        }
        self.save(&doc);
        let (out, report) = self.check().await;
        assert!(out.status.success(), "{}\n{report:#}", text(&out));
        assert_eq!(
            report["findings"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["severity"] == "error")
                .count(),
            0
        );
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn findings(report: &Value, area: &str) -> Vec<Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["area"] == area && f["severity"] == "error")
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_new_user_gets_from_credentials_to_synced_invoices() {
    let user = User::new("walkthrough").await;
    user.set_up().await;

    let local = ["--secrets", "secrets.json", "--state", "state.db"];
    let out = user
        .run(&[&["tenant", "apply", "acme.json"][..], &local].concat())
        .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("ready to sync"), "{}", text(&out));
    let out = user
        .run(&[&["sync-now", "--tenant", "acme"][..], &local].concat())
        .await;
    assert!(out.status.success(), "{}", text(&out));

    let out = user
        .run(&[&["errors", "--tenant", "acme"][..], &local].concat())
        .await;
    assert!(
        text(&out).contains("no invoices in error"),
        "{}",
        text(&out)
    );
    let invoices = user.ns.records("invoice");
    assert!(!invoices.is_empty(), "the first invoices are in NetSuite");
    assert!(
        user.ns.login_audit().is_empty(),
        "no failed login on the way"
    );
    println!(
        "walkthrough: {} NetSuite invoices synced, {:.1} s of commands from a fresh account",
        invoices.len(),
        user.started.elapsed().as_secs_f64()
    );
}

#[tokio::test]
async fn every_broken_prerequisite_is_named_before_any_invoice_is_tried() {
    let user = User::new("broken").await;
    user.set_up().await;

    // Four things go wrong at once.
    user.ns.set_permission("TRAN_SALESORD", 1);
    let inventory = user
        .ns
        .records("inventoryItem")
        .first()
        .map(|i| {
            i["id"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| i["id"].to_string())
        })
        .unwrap();
    let mut doc = user.settings();
    doc["items"]["custom_default"] = json!({"id": inventory, "type": "service"});
    user.save(&doc);
    let fields: Vec<_> = user
        .ns
        .custom_fields()
        .into_iter()
        .filter(|f| f.script_id != "custbody_billsync_invoice_uid")
        .collect();
    user.ns.set_custom_fields(fields);
    assert!(user.ns.close_period(chrono::Utc::now().date_naive(), true));
    user.ns.reset_stats();

    let (out, report) = user.check().await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let errors: Vec<Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .cloned()
        .collect();
    let named = |area: &str, subject: &str, words: &str| {
        let hit = errors
            .iter()
            .find(|f| f["area"] == area && f["subject"] == subject)
            .unwrap_or_else(|| panic!("no {area} finding for {subject}: {errors:#?}"));
        let all = format!("{} {}", hit["problem"], hit["fix"]);
        assert!(all.contains(words), "{subject}: {all}");
        assert!(!hit["fix"].as_str().unwrap().is_empty());
    };
    named("permission", "TRAN_SALESORD", "Sales Order");
    named(
        "settings",
        "items.custom_default",
        "of type inventory in NetSuite but declared `service`",
    );
    named(
        "custom field",
        "custbody_billsync_invoice_uid",
        "infra/netsuite",
    );
    named(
        "period",
        &format!("{}", chrono::Utc::now().date_naive().format("%b %Y")),
        "closed",
    );
    assert_eq!(errors.len(), 4, "one line each: {errors:#?}");

    // The text report shows the same, a fix under each.
    let out = user
        .run(&[
            "tenant",
            "check",
            "--tenant",
            "acme",
            "--settings",
            "acme.json",
            "--secrets",
            "secrets.json",
            "--state",
            "state.db",
        ])
        .await;
    let shown = text(&out);
    assert_eq!(
        shown.lines().filter(|l| l.starts_with("error ")).count(),
        4,
        "{shown}"
    );
    // A fix under each error, and under the warning that no webhook arrived yet.
    assert_eq!(shown.matches("fix: ").count(), 5, "{shown}");

    // Apply refuses; nothing was written to NetSuite by any of it.
    let out = user
        .run(&[
            "tenant",
            "apply",
            "acme.json",
            "--secrets",
            "secrets.json",
            "--state",
            "state.db",
        ])
        .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("not applied"), "{}", text(&out));
    let writes: u64 = user
        .ns
        .stats()
        .requests_by_operation
        .iter()
        .filter(|(op, _)| {
            op.starts_with("create:") || op.starts_with("transform") || op.starts_with("patch")
        })
        .map(|(_, n)| n)
        .sum();
    assert_eq!(writes, 0, "{:?}", user.ns.stats().requests_by_operation);
    assert!(user.ns.records("salesOrder").is_empty());

    // A wrong token secret: named as such, with the login's own advice.
    std::fs::write(
        user.path("secrets.json"),
        std::fs::read_to_string(user.path("secrets.json"))
            .unwrap()
            .replace(&user.ns.config().token_secret, "a-wrong-token-secret"),
    )
    .unwrap();
    let (out, report) = user.check().await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let login = findings(&report, "credentials");
    assert_eq!(login.len(), 1, "{report:#}");
    assert!(
        login[0]["problem"]
            .as_str()
            .unwrap()
            .contains("refused the login"),
        "{login:?}"
    );
    assert!(
        login[0]["fix"].as_str().unwrap().contains("token"),
        "{login:?}"
    );
    assert!(
        user.ns.login_audit().len() <= 2,
        "the check logs in once (and repeats once): {:?}",
        user.ns.login_audit()
    );
}

#[tokio::test]
async fn a_wrong_secret_pauses_the_tenant_and_a_passing_check_resumes_it() {
    let user = User::new("paused").await;
    user.set_up().await;
    let local = ["--secrets", "secrets.json", "--state", "state.db"];
    let with = |cmd: &[&'static str]| -> Vec<&'static str> { [cmd, &local[..]].concat() };
    let out = user.run(&with(&["tenant", "apply", "acme.json"])).await;
    assert!(out.status.success(), "{}", text(&out));

    // The token secret in the tenant's secret is rotated wrongly; the first sync pauses.
    let good = std::fs::read_to_string(user.path("secrets.json")).unwrap();
    let token = user.ns.config().token_secret;
    std::fs::write(
        user.path("secrets.json"),
        good.replace(&token, "a-wrong-token-secret"),
    )
    .unwrap();
    let out = user.run(&with(&["sync-now", "--tenant", "acme"])).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(user.ns.records("invoice").is_empty());
    assert!(
        user.ns.login_audit().len() <= 6,
        "{:?}",
        user.ns.login_audit().len()
    );

    let out = user.run(&with(&["errors", "--tenant", "acme"])).await;
    let log = text(&out);
    assert!(log.contains("refused the login"), "{log}");
    assert!(log.contains("Syncing is paused"), "{log}");
    assert_eq!(
        log.matches("fix:").count(),
        1,
        "one entry, the tenant's: {log}"
    );
    let out = user.run(&with(&["status", "--tenant", "acme"])).await;
    let status = text(&out);
    assert!(status.contains("PAUSED since"), "{status}");
    assert!(status.contains("held "), "{status}");
    let out = user
        .run(&with(&["status", "--tenant", "acme", "--json"]))
        .await;
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["source"], "maxio");
    assert!(status["counts"]["held"].as_u64().unwrap() > 0, "{status:#}");
    assert!(status["pause"]["error"]["cause"].is_string(), "{status:#}");
    assert!(status["oldest_waiting"][0].is_string(), "{status:#}");
    assert_eq!(
        status["queue"]["waiting"], 0,
        "held invoices leave the queue: {status:#}"
    );

    // The secret is corrected; the check passes, resumes the tenant and the held invoices sync.
    std::fs::write(user.path("secrets.json"), good).unwrap();
    let out = user
        .run(&with(&["tenant", "check", "--tenant", "acme"]))
        .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("it is resumed"), "{}", text(&out));
    assert!(
        !user.ns.records("invoice").is_empty(),
        "the held invoices synced"
    );
    let out = user.run(&with(&["status", "--tenant", "acme"])).await;
    assert!(
        text(&out).contains("syncing                active"),
        "{}",
        text(&out)
    );
    let out = user.run(&with(&["errors", "--tenant", "acme"])).await;
    assert!(
        text(&out).contains("no invoices in error"),
        "{}",
        text(&out)
    );
}

#[tokio::test]
async fn the_error_log_groups_filters_and_dismisses() {
    let user = User::new("errors").await;
    user.set_up().await;
    let local = ["--secrets", "secrets.json", "--state", "state.db"];
    let with = |cmd: &[&'static str]| -> Vec<&'static str> { [cmd, &local[..]].concat() };
    assert!(user
        .run(&with(&["tenant", "apply", "acme.json"]))
        .await
        .status
        .success());
    // The account starts to require a class on every transaction; the settings give none.
    user.ns.add_fault(netsuite_sim::Fault::RequiredField {
        field: "class".into(),
        label: "Class".into(),
        record_types: vec![],
    });
    let out = user.run(&with(&["sync-now", "--tenant", "acme"])).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    let out = user
        .run(&with(&["errors", "--tenant", "acme", "--json"]))
        .await;
    let entries: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(entries.len() >= 2, "{entries:#?}");
    for e in &entries {
        assert_eq!(e["side"], "netsuite");
        assert!(e["invoice_summary"]["customer"].is_string(), "{e}");
        assert!(e["fix"].as_str().unwrap().contains("Class"), "{e}");
    }
    let out = user
        .run(&with(&["errors", "--tenant", "acme", "--group"]))
        .await;
    let grouped = text(&out);
    assert!(
        grouped.starts_with(&format!("{} x ", entries.len())),
        "one group for the one cause: {grouped}"
    );
    let out = user
        .run(&with(&[
            "errors",
            "--tenant",
            "acme",
            "--cause",
            "no such words",
            "--json",
        ]))
        .await;
    assert_eq!(
        serde_json::from_slice::<Vec<Value>>(&out.stdout)
            .unwrap()
            .len(),
        0
    );

    let first = entries[0]["invoice"].as_str().unwrap().to_owned();
    let dismiss = |reason: &'static str| {
        user.run_owned(vec![
            "errors".into(),
            "dismiss".into(),
            "--tenant".into(),
            "acme".into(),
            "--invoice".into(),
            first.clone(),
            "--reason".into(),
            reason.into(),
            "--secrets".into(),
            "secrets.json".into(),
            "--state".into(),
            "state.db".into(),
        ])
    };
    let out = dismiss("entered by hand in NetSuite").await;
    assert!(out.status.success(), "{}", text(&out));
    let out = user
        .run(&with(&["errors", "--tenant", "acme", "--json"]))
        .await;
    let left: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(left.len(), entries.len() - 1);
    assert!(left.iter().all(|e| e["invoice"] != first.as_str()));
    // Dismissing it again: it is not in the log any more.
    let out = dismiss("again").await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}
