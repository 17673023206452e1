//! Two billing sites on one NetSuite account, in one deployment. Billing customer ids are only
//! unique within a site, so two sites' customers can carry the same id, and with it the same
//! NetSuite external id: the second tenant must not claim the first one's customer. Transaction
//! namespaces that could produce each other's external ids are refused before a sync.

use std::sync::Arc;

use billing_sim::BillingSim;
use billsync::flow::state::FlowStatus;
use billsync::queue::local::LocalQueue;
use billsync::secrets::{parse_secret, StaticSecrets};
use billsync::service::preflight::external_id_clash;
use billsync::service::retry::{self, RetryRequest};
use billsync::service::Services;
use billsync::settings::TenantSettings;
use billsync::store::prelude::*;
use serde_json::json;

use crate::common::local::{env, issue_on, work_queued};

fn day() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 1, 5).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_site_on_one_account_never_claims_the_first_sites_customer() {
    let acme = env().await;
    let globex_bill = BillingSim::start(billing_sim::SimConfig::default())
        .await
        .unwrap();
    let acme_invoice = issue_on(&acme.bill, day());
    let globex_invoice = issue_on(&globex_bill, day());
    let customer_of = |bill: &BillingSim, uid: &str| {
        bill.invoice_json(uid).unwrap()["customer_id"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(
        customer_of(&acme.bill, &acme_invoice),
        customer_of(&globex_bill, &globex_invoice),
        "the two sites' customers share an id, as separate sites' customers can"
    );

    // One deployment: one store, both tenants' secrets, one queue.
    let mut globex = acme.services.settings("acme").await.unwrap();
    globex.tenant = "globex".into();
    globex.site = "globex-demo".into();
    acme.store.put_settings(&globex).await.unwrap();
    let (nc, bc, gc) = (acme.ns.config(), acme.bill.config(), globex_bill.config());
    let secret = |bc: &billing_sim::SimConfig, url: &str| {
        parse_secret(
            &json!({
                "netsuite": {"account_id": nc.account_id, "consumer_key": nc.consumer_key,
                             "consumer_secret": nc.consumer_secret, "token_id": nc.token_id,
                             "token_secret": nc.token_secret, "base_url": acme.ns.base_url()},
                "billing": {"api_key": bc.api_key, "webhook_key": bc.shared_key, "base_url": url}
            })
            .to_string(),
        )
        .unwrap()
    };
    let (queue, mut rx) = LocalQueue::new();
    let services = Services::new(
        acme.store.clone(),
        Arc::new(queue),
        Arc::new(
            StaticSecrets::default()
                .with("acme", secret(&bc, &acme.bill.base_url()))
                .with("globex", secret(&gc, &globex_bill.base_url())),
        ),
    );

    for tenant in ["acme", "globex"] {
        billsync::service::sweep::sweep_tenant(&services, tenant)
            .await
            .unwrap();
        work_queued(&services, &mut rx).await;
    }
    let customers = acme.ns.records("customer");
    assert_eq!(customers.len(), 1, "{customers:#?}");
    assert_eq!(customers[0]["custentity_billsync_site"], "acme-demo");
    let flow = |tenant: &'static str, uid: String| {
        let store = acme.store.clone();
        async move { store.flow(tenant, &uid).await.unwrap().unwrap().value }
    };
    let acme_flow = flow("acme", acme_invoice.clone()).await;
    assert_eq!(acme_flow.status, FlowStatus::Synced);
    let globex_flow = flow("globex", globex_invoice.clone()).await;
    assert_eq!(globex_flow.status, FlowStatus::Error);
    let error = globex_flow.last_error.unwrap();
    assert!(
        error.detail.contains("belongs to billing site `acme-demo`")
            && error.fix.contains("prefixes.external_id"),
        "{error:?}"
    );
    assert_eq!(
        acme.ns.records("salesOrder").len(),
        1,
        "nothing on acme's customer"
    );

    // The fix the entry names: globex's own prefix, then a retry.
    globex.prefixes.external_id = Some("gx".into());
    acme.store.put_settings(&globex).await.unwrap();
    retry::handle(
        &services,
        &RetryRequest {
            tenant: "globex".into(),
            invoices: vec![globex_invoice.clone()],
            all_failed: false,
            list: false,
        },
    )
    .await
    .unwrap();
    work_queued(&services, &mut rx).await;
    let globex_flow = flow("globex", globex_invoice.clone()).await;
    assert_eq!(globex_flow.status, FlowStatus::Synced, "{globex_flow:?}");
    let customers = acme.ns.records("customer");
    assert_eq!(customers.len(), 2);
    let orders = acme.ns.records("salesOrder");
    assert_eq!(orders.len(), 2);
    assert_ne!(
        acme_flow.customer_id, globex_flow.customer_id,
        "each site's invoice on its own customer"
    );
}

#[tokio::test]
async fn tenants_whose_external_ids_could_meet_are_refused() {
    let acme = env().await;
    let stored = acme.services.settings("acme").await.unwrap();
    let named = |tenant: &str, prefix: Option<&str>| {
        let mut s: TenantSettings = stored.clone();
        s.tenant = tenant.into();
        s.prefixes.external_id = prefix.map(str::to_owned);
        s
    };
    // `bs-acme-inv-so-1` is acme's invoice for billing invoice `so-1` and `acme-inv`'s
    // sales order for billing invoice `1`.
    for (tenant, prefix) in [
        ("acme-inv", None),
        ("other", Some("bs-acme")),
        ("x", Some("bs")),
    ] {
        let clash = external_id_clash(&acme.services, &named(tenant, prefix))
            .await
            .unwrap();
        let clash = clash.unwrap_or_else(|| panic!("{tenant} {prefix:?} passed"));
        assert!(
            clash.contains("acme") && clash.contains("prefixes.external_id"),
            "{clash}"
        );
    }
    for (tenant, prefix) in [("acmeinv", None), ("other", Some("gx")), ("acme", None)] {
        assert_eq!(
            external_id_clash(&acme.services, &named(tenant, prefix))
                .await
                .unwrap(),
            None,
            "{tenant} {prefix:?}"
        );
    }
}
