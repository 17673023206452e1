//! Tenant pause: a wrong NetSuite credential is the tenant's condition. With 200 invoices
//! queued, NetSuite sees a handful of failed logins (not one per invoice), the error log has
//! one entry (the tenant's), and after the fix everything syncs: by `tenant resume`, or by
//! the back-off probe on its own.

use crate::common;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use billing_sim::{BillingSim, DatasetSpec};
use billsync::flow::state::FlowStatus;
use billsync::queue::local::LocalQueue;
use billsync::secrets::{parse_secret, SecretError, SecretSource, TenantSecret};
use billsync::service::local::run_until_empty;
use billsync::service::pause::{TenantPause, PAUSE_CURSOR};
use billsync::service::retry::error_log;
use billsync::service::sweep::sweep_tenant;
use billsync::service::Services;
use billsync::settings::ItemRef;
use billsync::store::prelude::*;
use serde_json::json;
use tokio::sync::mpsc::UnboundedReceiver;

/// A tenant secret an operator can correct while the services run.
struct Editable(Mutex<TenantSecret>);

#[async_trait]
impl SecretSource for Editable {
    async fn tenant_secret(&self, _: &str) -> Result<TenantSecret, SecretError> {
        Ok(self.0.lock().unwrap().clone())
    }
}

fn secret(env: &common::local::Env, token_secret: &str) -> TenantSecret {
    let nc = env.ns.config();
    let bc = env.bill.config();
    parse_secret(
        &json!({
            "netsuite": {"account_id": nc.account_id, "consumer_key": nc.consumer_key, "consumer_secret": nc.consumer_secret,
                         "token_id": nc.token_id, "token_secret": token_secret, "base_url": env.ns.base_url()},
            "billing": {"api_key": bc.api_key, "webhook_key": bc.shared_key, "base_url": env.bill.base_url()}
        })
        .to_string(),
    )
    .unwrap()
}

struct Paused {
    env: common::local::Env,
    services: Services,
    rx: UnboundedReceiver<billsync::queue::SyncMessage>,
    secrets: Arc<Editable>,
    queued: usize,
}

/// 200 invoices synced with a wrong token secret.
async fn paused_tenant() -> Paused {
    let spec = DatasetSpec {
        invoices: 200,
        ..DatasetSpec::default()
    };
    let bill = BillingSim::start_with(billing_sim::SimConfig::default(), &spec)
        .await
        .unwrap();
    let env = common::local::env_with(bill, None).await;
    // Every billed product and component mapped to a service item, so nothing but the login
    // can stop an invoice.
    let mut settings = env.store.settings("acme").await.unwrap().unwrap();
    let item: ItemRef =
        serde_json::from_value(json!({"id": env.demo.item_services, "type": "service"})).unwrap();
    for uid in env.bill.invoice_uids() {
        let invoice = env.bill.invoice_json(&uid).unwrap();
        for line in invoice["line_items"].as_array().into_iter().flatten() {
            for (key, map) in [
                ("product_id", &mut settings.items.products),
                ("component_id", &mut settings.items.components),
            ] {
                if let Some(id) = line[key].as_u64() {
                    map.insert(id.to_string(), item.clone());
                }
            }
        }
    }
    env.store.put_settings(&settings).await.unwrap();
    let secrets = Arc::new(Editable(Mutex::new(secret(&env, "a-wrong-token-secret"))));
    let (queue, rx) = LocalQueue::new();
    let services = Services::new(env.store.clone(), Arc::new(queue), secrets.clone());
    let mut rx = rx;
    let report = sweep_tenant(&services, "acme").await.unwrap();
    assert!(report.invoices_queued >= 200, "{report:?}");
    run_until_empty(&services, &mut rx, |_, _| {}).await;
    // A sweep may queue an invoice twice (once per page its events are on): one flow each.
    // Every flow is held but those out of scope, which never reach NetSuite.
    let store = env.store.as_ref();
    let queued: u64 = store
        .flow_counts("acme")
        .await
        .unwrap()
        .iter()
        .map(|(_, n)| n)
        .sum();
    let held = count(store, FlowStatus::Held).await;
    assert_eq!(held + count(store, FlowStatus::Skipped).await, queued);
    assert!(queued >= 200 && held > 190, "{held} of {queued} held");
    let queued = queued as usize;
    Paused {
        env,
        services,
        rx,
        secrets,
        queued,
    }
}

async fn count(store: &dyn Store, status: FlowStatus) -> u64 {
    store
        .flow_counts("acme")
        .await
        .unwrap()
        .into_iter()
        .find(|(s, _)| *s == status)
        .map(|(_, n)| n)
        .unwrap_or(0)
}

async fn assert_all_synced(p: &Paused) {
    let store = p.env.store.as_ref();
    assert_eq!(count(store, FlowStatus::Held).await, 0);
    assert_eq!(count(store, FlowStatus::Error).await, 0);
    let synced = count(store, FlowStatus::Synced).await;
    let skipped = count(store, FlowStatus::Skipped).await;
    let waiting =
        count(store, FlowStatus::AwaitingFulfilment).await + count(store, FlowStatus::Parked).await;
    assert_eq!(
        (synced + skipped + waiting) as usize,
        p.queued,
        "every queued invoice ended somewhere"
    );
    assert!(synced > 150, "{synced} synced");
    assert!(error_log(&p.services, "acme").await.unwrap().is_empty());
    assert!(
        !p.env.ns.records("invoice").is_empty(),
        "NetSuite holds the invoices"
    );
}

#[tokio::test]
async fn a_wrong_secret_pauses_the_tenant_once_and_resuming_syncs_everything() {
    let mut p = paused_tenant().await;
    let store = p.env.store.as_ref();

    // A handful of failed logins at NetSuite, not one per invoice.
    let failed_logins = p.env.ns.login_audit().len();
    println!(
        "wrong token secret, {} invoices queued: {failed_logins} failed logins at NetSuite",
        p.queued
    );
    assert!(
        (1..=6).contains(&failed_logins),
        "{failed_logins} failed logins for {} invoices",
        p.queued
    );
    // One entry, the tenant's; no invoice in error; every invoice held.
    let held = count(store, FlowStatus::Held).await;
    let log = error_log(&p.services, "acme").await.unwrap();
    assert_eq!(log.len(), 1, "{log:#?}");
    assert!(log[0].tenant_wide);
    assert!(
        log[0].cause.contains("refused the login"),
        "{}",
        log[0].cause
    );
    assert!(log[0].fix.contains("tenant check"), "{}", log[0].fix);
    assert_eq!(count(store, FlowStatus::Error).await, 0);
    assert!(p.env.ns.records("invoice").is_empty());

    // Work arriving while paused waits too, without a login.
    sweep_tenant(&p.services, "acme").await.unwrap();
    run_until_empty(&p.services, &mut p.rx, |_, _| {}).await;
    assert_eq!(p.env.ns.login_audit().len(), failed_logins);

    // The operator corrects the secret and resumes the tenant: everything syncs.
    let good = p.env.ns.config().token_secret;
    *p.secrets.0.lock().unwrap() = secret(&p.env, &good);
    let resumed = p.services.resume_tenant("acme").await.unwrap();
    assert!(resumed.was_paused.is_some());
    assert_eq!(resumed.queued, held as usize);
    run_until_empty(&p.services, &mut p.rx, |_, _| {}).await;
    assert_all_synced(&p).await;
    assert_eq!(p.env.ns.login_audit().len(), failed_logins);
    assert!(p.services.pause("acme").await.unwrap().is_none());
}

/// Makes the paused tenant's probe due (as time passing would), then sweeps and works the
/// queue: the sweep queues one held invoice as the probe.
async fn probe_now(p: &mut Paused, mut pause: TenantPause) {
    pause.next_probe = chrono::Utc::now();
    let value = serde_json::to_string(&pause).unwrap();
    p.env
        .store
        .put_cursor("acme", PAUSE_CURSOR, &value)
        .await
        .unwrap();
    sweep_tenant(&p.services, "acme").await.unwrap();
    run_until_empty(&p.services, &mut p.rx, |_, _| {}).await;
}

#[tokio::test]
async fn the_probe_resumes_the_tenant_by_itself_once_the_secret_is_fixed() {
    let mut p = paused_tenant().await;
    let failed_logins = p.env.ns.login_audit().len();

    // A probe that is due while the secret is still wrong: one more failed login at most,
    // and the tenant stays paused with the next probe further off.
    let pause = p.services.pause("acme").await.unwrap().expect("paused");
    probe_now(&mut p, pause).await;
    let after_probe = p.env.ns.login_audit().len();
    assert!(
        after_probe > failed_logins && after_probe <= failed_logins + 2,
        "{failed_logins} -> {after_probe}"
    );
    let still = p
        .services
        .pause("acme")
        .await
        .unwrap()
        .expect("still paused");
    assert_eq!(still.probes, 1);
    assert!(still.next_probe > chrono::Utc::now() + chrono::Duration::seconds(200));
    assert_eq!(error_log(&p.services, "acme").await.unwrap().len(), 1);

    // The secret is corrected; the next due probe gets through and resumes the tenant.
    let good = p.env.ns.config().token_secret;
    *p.secrets.0.lock().unwrap() = secret(&p.env, &good);
    probe_now(&mut p, still).await;
    assert!(p.services.pause("acme").await.unwrap().is_none());
    assert_all_synced(&p).await;
}
