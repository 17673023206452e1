//! One deployment, two tenants on two NetSuite accounts: an account that fails or is slow
//! costs its own tenant's work only. Its messages go back to the queue (a visibility change)
//! instead of holding the worker, and the worker goes on taking the other tenant's work.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use billsync::billing::model::Source;
use billsync::flow::state::FlowStatus;
use billsync::netsuite::outage::{FIRST_HOLD, TRIP_AFTER};
use billsync::queue::local::LocalQueue;
use billsync::queue::{Inbox, QueueError, Reason, SyncMessage, Taken};
use billsync::secrets::{parse_secret, StaticSecrets};
use billsync::service::worker::{drain_batch, BUSY_ACCOUNT_DELAY, DEFER_RECEIVES};
use billsync::service::Services;
use billsync::store::prelude::*;
use netsuite_sim::{Fault, NetSuiteSim, SimConfig};
use serde_json::json;

use crate::common::local::{env, issue_on, Env};

/// A queue that hands out scripted takes and records what the worker deletes and hands back.
#[derive(Default)]
struct Scripted {
    takes: Mutex<VecDeque<Vec<Taken>>>,
    deleted: Mutex<Vec<String>>,
    deferred: Mutex<Vec<(String, Duration)>>,
}

#[async_trait]
impl Inbox for Scripted {
    async fn take(&self, _max: usize) -> Result<Vec<Taken>, QueueError> {
        Ok(self.takes.lock().unwrap().pop_front().unwrap_or_default())
    }
    async fn delete(&self, receipts: &[String]) -> Result<(), QueueError> {
        self.deleted.lock().unwrap().extend_from_slice(receipts);
        Ok(())
    }
    async fn defer(&self, later: &[(String, Duration)]) -> Result<(), QueueError> {
        self.deferred.lock().unwrap().extend_from_slice(later);
        Ok(())
    }
}

fn taken(tenant: &str, uid: &str, receives: u32) -> Taken {
    Taken {
        id: format!("m-{tenant}-{uid}"),
        body: serde_json::to_string(&SyncMessage::invoice(
            tenant,
            Source::Maxio,
            uid,
            Reason::Webhook,
            format!("d-{uid}"),
        ))
        .unwrap(),
        receipt: format!("r-{tenant}-{uid}"),
        receives,
    }
}

/// `acme` on the first environment's account and `beta` on a second account (its own NetSuite
/// and billing site), in one deployment; beta's NetSuite share is `beta_share`.
struct Two {
    acme: Env,
    beta: Env,
    services: Services,
}

async fn two(mut beta_ns: SimConfig, beta_share: usize) -> Two {
    let acme = env().await;
    beta_ns.account_id = "TSTDRV7654321".into();
    let beta_sim = NetSuiteSim::start(beta_ns).await.unwrap();
    let beta_demo = beta_sim.seed_demo();
    let mut beta = env().await;
    beta.ns = beta_sim;
    beta.demo = beta_demo;
    let mut settings = acme.services.settings("acme").await.unwrap();
    settings.tenant = "beta".into();
    settings.site = "beta-demo".into();
    settings.netsuite_concurrency = beta_share;
    acme.store.put_settings(&settings).await.unwrap();
    let secret = |e: &Env| {
        let (nc, bc) = (e.ns.config(), e.bill.config());
        parse_secret(
            &json!({
                "netsuite": {"account_id": nc.account_id, "consumer_key": nc.consumer_key,
                             "consumer_secret": nc.consumer_secret, "token_id": nc.token_id,
                             "token_secret": nc.token_secret, "base_url": e.ns.base_url()},
                "billing": {"api_key": bc.api_key, "webhook_key": bc.shared_key,
                            "base_url": e.bill.base_url()}
            })
            .to_string(),
        )
        .unwrap()
    };
    let services = Services::new(
        acme.store.clone(),
        Arc::new(LocalQueue::new().0),
        Arc::new(
            StaticSecrets::default()
                .with("acme", secret(&acme))
                .with("beta", secret(&beta)),
        ),
    );
    Two {
        acme,
        beta,
        services,
    }
}

fn day() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 1, 5).unwrap()
}

async fn synced(store: &dyn Store, tenant: &str, uids: &[String]) -> usize {
    let mut n = 0;
    for uid in uids {
        let flow = store.flow(tenant, uid).await.unwrap();
        n += usize::from(flow.is_some_and(|f| f.value.status == FlowStatus::Synced));
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_account_is_held_and_the_other_accounts_work_goes_on() {
    let t = two(SimConfig::default(), 5).await;
    // Different account ids, or the two would share one governor.
    assert_ne!(t.acme.ns.config().account_id, t.beta.ns.config().account_id);
    t.beta
        .ns
        .add_fault(Fault::ServerError { remaining: 100_000 });
    let beta: Vec<String> = (0..10).map(|_| issue_on(&t.beta.bill, day())).collect();
    let acme: Vec<String> = (0..10).map(|_| issue_on(&t.acme.bill, day())).collect();
    let inbox = Arc::new(Scripted::default());
    inbox.takes.lock().unwrap().extend([
        beta.iter().map(|u| taken("beta", u, 1)).collect::<Vec<_>>(),
        acme.iter().map(|u| taken("acme", u, 1)).collect(),
    ]);
    let services = t.services.clone().with_inbox(inbox.clone());
    let until = tokio::time::Instant::now() + Duration::from_secs(60);
    assert!(drain_batch(&services, Vec::new(), until).await.is_empty());

    // The worker did not stop taking when beta's account failed: acme's work is done.
    assert_eq!(synced(t.acme.store.as_ref(), "acme", &acme).await, 10);
    assert_eq!(t.acme.ns.records("salesOrder").len(), 10);
    let deleted = inbox.deleted.lock().unwrap().clone();
    assert!(acme
        .iter()
        .all(|u| deleted.contains(&format!("r-acme-{u}"))));
    // Beta's messages went back to the queue for the hold, none deleted.
    let deferred = inbox.deferred.lock().unwrap().clone();
    assert_eq!(deferred.len(), 10, "{deferred:?}");
    assert!(deferred
        .iter()
        .all(|(r, after)| r.starts_with("r-beta-") && *after <= FIRST_HOLD));
    assert!(!deleted.iter().any(|r| r.starts_with("r-beta-")));
    // Beta's NetSuite was asked a few times, not each message's six attempts.
    let asked = t.beta.ns.stats().total_requests;
    assert!(
        asked <= u64::from(2 * TRIP_AFTER),
        "{asked} requests to a failing account"
    );

    // A message of a held account that comes in the invocation's own batch is reported for
    // redelivery without a request.
    let before = t.beta.ns.stats().total_requests;
    let uid = issue_on(&t.beta.bill, day());
    let m = taken("beta", &uid, 1);
    let failed = drain_batch(
        &t.services,
        vec![billsync::service::worker::Delivery {
            id: m.id.clone(),
            body: m.body,
        }],
        until,
    )
    .await;
    assert_eq!(failed, vec![m.id]);
    assert_eq!(t.beta.ns.stats().total_requests, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_account_fills_only_its_own_places_in_the_worker() {
    let slow = SimConfig {
        latency: Duration::from_millis(40),
        ..SimConfig::default()
    };
    // One slot: beta's part of the pool is drain_depth(1) = 13 messages.
    let t = two(slow, 1).await;
    let most = billsync::service::worker::drain_depth(1, false);
    let beta: Vec<String> = (0..30).map(|_| issue_on(&t.beta.bill, day())).collect();
    let acme: Vec<String> = (0..10).map(|_| issue_on(&t.acme.bill, day())).collect();
    let inbox = Arc::new(Scripted::default());
    // Acme's first messages come first: the pool then knows two accounts and has room for
    // more of beta's messages than beta's part.
    let mut takes: Vec<Vec<Taken>> = vec![acme[..5].iter().map(|u| taken("acme", u, 1)).collect()];
    takes.extend(
        beta.chunks(10)
            .map(|c| c.iter().map(|u| taken("beta", u, 1)).collect()),
    );
    // A message handed back as often as allowed runs however full its account is.
    let last = takes[3].pop().unwrap();
    takes[3].push(Taken {
        receives: DEFER_RECEIVES + 1,
        ..last
    });
    // One handed back once before waits twice as long if it is handed back again.
    takes[3][0].receives = 2;
    let twice = takes[3][0].receipt.clone();
    takes.push(acme[5..].iter().map(|u| taken("acme", u, 1)).collect());
    inbox.takes.lock().unwrap().extend(takes);
    let services = t.services.clone().with_inbox(inbox.clone());
    let until = tokio::time::Instant::now() + Duration::from_secs(120);
    assert!(drain_batch(&services, Vec::new(), until).await.is_empty());

    assert_eq!(synced(t.acme.store.as_ref(), "acme", &acme).await, 10);
    let deferred = inbox.deferred.lock().unwrap().clone();
    assert!(deferred.iter().all(|(r, after)| r.starts_with("r-beta-")
        && *after == BUSY_ACCOUNT_DELAY * if r == &twice { 2 } else { 1 }));
    let ran = synced(t.acme.store.as_ref(), "beta", &beta).await;
    // Every beta message either ran or went back; at most `most` at once were in progress,
    // and the one out of hand-backs ran.
    assert_eq!(
        ran + deferred.len(),
        30,
        "{ran} ran, {} deferred",
        deferred.len()
    );
    assert!(
        !deferred.is_empty() && ran >= most,
        "{ran} ran, {} deferred",
        deferred.len()
    );
    assert!(!deferred
        .iter()
        .any(|(r, _)| r == &format!("r-beta-{}", beta[29])));
    assert!(t.beta.ns.stats().peak_in_flight <= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_of_a_slow_account_goes_back_unsent_rather_than_wait_in_the_worker() {
    let slow = SimConfig {
        latency: Duration::from_millis(1500),
        ..SimConfig::default()
    };
    let t = two(slow, 1).await;
    // The account has answered slowly before (as the worker learns it from its answers).
    let account = billsync::netsuite::AccountId::parse(&t.beta.ns.config().account_id).unwrap();
    let governor = t.services.governor(&account, 1);
    governor.outage().took(Duration::from_secs(2));
    assert!(governor.outage().slow());
    let beta: Vec<String> = (0..4).map(|_| issue_on(&t.beta.bill, day())).collect();
    let inbox = Arc::new(Scripted::default());
    inbox
        .takes
        .lock()
        .unwrap()
        .push_back(beta.iter().map(|u| taken("beta", u, 1)).collect());
    let services = t.services.clone().with_inbox(inbox.clone());
    let until = tokio::time::Instant::now() + Duration::from_secs(120);
    assert!(drain_batch(&services, Vec::new(), until).await.is_empty());

    // One message had the account's one slot and synced; the three behind it gave up waiting
    // for it before sending anything and went back to the queue.
    assert_eq!(synced(t.acme.store.as_ref(), "beta", &beta).await, 1);
    assert_eq!(t.beta.ns.records("salesOrder").len(), 1);
    let deferred = inbox.deferred.lock().unwrap().clone();
    assert_eq!(deferred.len(), 3, "{deferred:?}");
    assert!(deferred
        .iter()
        .all(|(_, after)| *after == BUSY_ACCOUNT_DELAY));
}
