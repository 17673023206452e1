//! Preview: the flow's NetSuite requests listed, none of them sent, nothing stored.

use crate::common;

use common::local::{env, issue_on};

use billing_sim::PaymentKind;
use billsync::flow::state::FlowStatus;
use billsync::service::preview::preview;
use billsync::store::prelude::*;
use rust_decimal_macros::dec;

fn writes(stats: &netsuite_sim::Stats) -> Vec<String> {
    stats
        .requests_by_operation
        .keys()
        .filter(|k| !k.starts_with("get:") && !k.starts_with("list:") && *k != "suiteql")
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_preview_lists_the_writes_of_a_sync_and_sends_none() {
    let mut env = env().await;
    let uid = issue_on(
        &env.bill,
        chrono::NaiveDate::from_ymd_opt(2026, 1, 5).unwrap(),
    );
    env.bill
        .pay(&uid, dec!(10), PaymentKind::CreditCard)
        .unwrap();
    env.ns.reset_stats();

    let p = preview(&env.services, "acme", &uid).await.unwrap();
    assert_eq!(p.status, FlowStatus::Synced, "{p:#?}");
    let ops: Vec<&str> = p.requests.iter().map(|r| r.operation.as_str()).collect();
    assert!(
        ops.contains(&"create customer") && ops.contains(&"create salesOrder"),
        "{ops:?}"
    );
    assert!(ops.iter().any(|o| o.contains("invoice")), "{ops:?}");
    assert!(ops.iter().any(|o| o.contains("customerPayment")), "{ops:?}");
    let order = p
        .requests
        .iter()
        .find(|r| r.operation == "create salesOrder")
        .unwrap();
    let body = order.body.as_ref().unwrap();
    assert_eq!(body["externalId"], format!("bs-acme-so-{uid}").as_str());
    // The order names the customer the preview would have made.
    assert!(
        body["entity"]["id"]
            .as_str()
            .unwrap()
            .starts_with("preview-"),
        "{body}"
    );
    assert!(
        p.lookups.iter().any(|l| l.found.is_none()),
        "{:?}",
        p.lookups
    );

    // NetSuite saw reads only; the store holds no flow.
    assert!(writes(&env.ns.stats()).is_empty(), "{:?}", env.ns.stats());
    assert!(env.ns.records("salesOrder").is_empty());
    assert!(env.store.flow("acme", &uid).await.unwrap().is_none());

    // Synced for real, the preview has nothing left to send.
    common::local::sweep_and_work(&mut env).await;
    let version = env.store.flow("acme", &uid).await.unwrap().unwrap().version;
    env.ns.reset_stats();
    let again = preview(&env.services, "acme", &uid).await.unwrap();
    assert_eq!(again.status, FlowStatus::Synced);
    assert!(again.requests.is_empty(), "{:#?}", again.requests);
    assert!(writes(&env.ns.stats()).is_empty());
    assert_eq!(
        env.store.flow("acme", &uid).await.unwrap().unwrap().version,
        version
    );
}
