//! The NetSuite concurrency governor across processes: governors that share nothing but a
//! DynamoDB table (served by moto on loopback) keep together under one account's limit, a slot
//! left by a crashed process comes back, and a client shrinks when NetSuite refuses for
//! concurrency and still gets everything done.
//!
//! moto is not DynamoDB in one respect that matters here: its server handles requests on
//! parallel threads without a lock, so two conditional writes to one item racing each other can
//! both pass their condition (a stress run of 8 writers x 200 rounds saw it twice). DynamoDB
//! evaluates a condition and applies the write atomically per item. The tests therefore pass the
//! governors' store calls through [`OneAtATime`], which restores that atomicity; everything else
//! (the queries, conditions, expiry, and each governor's own state) is as in production.

use crate::common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use billsync::aws::dynamo::{PARTITION_KEY, SORT_KEY};
use billsync::aws::governor::{DynamoSlotStore, HOLDER, LEASE_UNTIL, POOL_PREFIX, SLOT_PREFIX};
use billsync::aws::{create_table, moto, AwsSettings};
use billsync::netsuite::governor::SlotStoreError;
use billsync::netsuite::{AccountId, Governor, GovernorConfig, NetSuiteClient, SlotStore};
use billsync::queue::local::LocalQueue;
use billsync::secrets::StaticSecrets;
use billsync::service::Services;
use billsync::store::sqlite::SqliteStore;
use common::{client_config, env_with};
use netsuite_sim::SimConfig;

/// Services on local adapters (no slot store).
fn local_services() -> Services {
    let (queue, _rx) = LocalQueue::new();
    Services::new(
        Arc::new(SqliteStore::in_memory().unwrap()),
        Arc::new(queue),
        Arc::new(StaticSecrets::default()),
    )
}

/// The DynamoDB slot store with calls taken one at a time (see the module docs).
struct OneAtATime {
    store: DynamoSlotStore,
    gate: tokio::sync::Mutex<()>,
}

#[async_trait]
impl SlotStore for OneAtATime {
    async fn try_acquire(
        &self,
        pool: &str,
        below: usize,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<usize>, SlotStoreError> {
        let _one = self.gate.lock().await;
        self.store.try_acquire(pool, below, holder, ttl).await
    }

    async fn renew(
        &self,
        pool: &str,
        slot: usize,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, SlotStoreError> {
        let _one = self.gate.lock().await;
        self.store.renew(pool, slot, holder, ttl).await
    }

    async fn release(&self, pool: &str, slot: usize, holder: &str) -> Result<(), SlotStoreError> {
        let _one = self.gate.lock().await;
        self.store.release(pool, slot, holder).await
    }
}

struct Table {
    _moto: moto::Moto,
    client: aws_sdk_dynamodb::Client,
    name: String,
    store: DynamoSlotStore,
    /// What the governors use: the same store, one call at a time.
    slots: Arc<OneAtATime>,
}

async fn table() -> Table {
    let moto = moto::server();
    let config = moto.sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let name = moto::unique("billsync-gov");
    create_table(&client, &name).await.unwrap();
    let store = DynamoSlotStore::new(client.clone(), &name);
    let slots = Arc::new(OneAtATime {
        store: store.clone(),
        gate: tokio::sync::Mutex::new(()),
    });
    Table {
        _moto: moto,
        client,
        name,
        store,
        slots,
    }
}

/// One governor per simulated Lambda instance: nothing shared but the table.
fn processes(table: &Table, pool: &str, share: usize, count: usize) -> Vec<Governor> {
    (0..count)
        .map(|_| Governor::shared(GovernorConfig::new(share), pool, table.slots.clone()))
        .collect()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A slot item as a process that took it and then died would have left it.
async fn leave_slot(table: &Table, pool: &str, slot: usize, holder: &str, lease_until: u64) {
    table
        .client
        .put_item()
        .table_name(&table.name)
        .set_item(Some(HashMap::from([
            (
                PARTITION_KEY.to_owned(),
                AttributeValue::S(format!("{POOL_PREFIX}{pool}")),
            ),
            (
                SORT_KEY.to_owned(),
                AttributeValue::S(format!("{SLOT_PREFIX}{slot}")),
            ),
            (HOLDER.to_owned(), AttributeValue::S(holder.to_owned())),
            (
                LEASE_UNTIL.to_owned(),
                AttributeValue::N(lease_until.to_string()),
            ),
        ])))
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separate_processes_never_exceed_the_account_limit_together() {
    const SHARE: usize = 3;
    let table = table().await;
    let env = env_with(SimConfig {
        concurrency_limit: SHARE,
        latency: Duration::from_millis(40),
        ..SimConfig::default()
    })
    .await;
    let account = env.config.account_id.realm().to_owned();

    // Four processes, each with its own client and governor, eight requests at once each:
    // with per-process limits of 3 they would put up to 12 in flight.
    let clients: Vec<NetSuiteClient> = processes(&table, &account, SHARE, 4)
        .into_iter()
        .map(|g| NetSuiteClient::with_governor(client_config(&env.sim), g).unwrap())
        .collect();
    let calls = clients.iter().flat_map(|c| (0..8).map(move |_| c.check()));
    let results = futures::future::join_all(calls).await;
    assert!(
        results.iter().all(Result::is_ok),
        "{:?}",
        results.iter().find(|r| r.is_err())
    );

    let stats = env.sim.stats();
    assert_eq!(
        stats.rejected_429, 0,
        "NetSuite never had to refuse: {stats:?}"
    );
    assert!(stats.peak_in_flight <= SHARE, "{stats:?}");
    assert_eq!(stats.requests_by_operation["list:customer"], 32);
    for c in &clients {
        c.governor().settle().await;
        let g = c.governor().stats();
        assert!(g.store_acquisitions > 0, "every process took slots: {g:?}");
        assert_eq!((g.held, g.cuts), (0, 0), "{g:?}");
    }
    assert!(
        table.store.holders(&account).await.unwrap().is_empty(),
        "every slot went back to the table"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_processes_hold_at_most_the_share_at_once() {
    const SHARE: usize = 3;
    let table = table().await;
    let governors = processes(&table, "TSTDRV42", SHARE, 6);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for g in &governors {
        for _ in 0..6 {
            let (g, in_flight, peak) = (g.clone(), in_flight.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                let permit = g.acquire().await.unwrap();
                assert!(permit.slot() < SHARE);
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                permit.succeeded();
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let peak = peak.load(Ordering::SeqCst);
    assert!(
        peak <= SHARE,
        "{peak} in flight at once over a share of {SHARE}"
    );
    assert!(peak >= 1);
}

#[tokio::test]
async fn a_slot_left_by_a_crashed_process_comes_back() {
    let table = table().await;
    let ttl = Duration::from_secs(60);
    let now = now_ms();

    // Two live leases and one that ran out: only the expired one can be taken.
    leave_slot(&table, "ACCT1", 0, "crashed-a", now + 3_600_000).await;
    leave_slot(&table, "ACCT1", 1, "crashed-a", now + 3_600_000).await;
    leave_slot(&table, "ACCT1", 2, "crashed-b", now - 1_000).await;
    let store = &table.store;
    assert_eq!(
        store.try_acquire("ACCT1", 3, "me-1", ttl).await.unwrap(),
        Some(2)
    );
    assert_eq!(
        store.try_acquire("ACCT1", 3, "me-2", ttl).await.unwrap(),
        None
    );
    // The late holder cannot release or renew what is now someone else's.
    store.release("ACCT1", 2, "crashed-b").await.unwrap();
    assert!(!store.renew("ACCT1", 2, "crashed-b", ttl).await.unwrap());
    assert_eq!(
        store.holders("ACCT1").await.unwrap(),
        vec![
            (0, "crashed-a".to_owned()),
            (1, "crashed-a".to_owned()),
            (2, "me-1".to_owned())
        ]
    );

    // Every slot held by a process that died a moment ago: a governor waits (polling, not
    // spinning) and gets one once the lease runs out, never before.
    let until = now_ms() + 1_500;
    for slot in 0..3 {
        leave_slot(&table, "ACCT2", slot, "crashed-c", until).await;
    }
    let g = Governor::shared(GovernorConfig::new(3), "ACCT2", table.slots.clone());
    let permit = tokio::time::timeout(Duration::from_secs(60), g.acquire())
        .await
        .expect("the slot comes back after its lease")
        .unwrap();
    assert!(
        now_ms() > until,
        "a live lease was taken over: {} <= {until}",
        now_ms()
    );
    let holders = table.store.holders("ACCT2").await.unwrap();
    assert_eq!(holders.len(), 1, "{holders:?}");
    assert_eq!(holders[0].0, permit.slot());
    assert_ne!(holders[0].1, "crashed-c");
    drop(permit);
    g.settle().await;
    assert!(table.store.holders("ACCT2").await.unwrap().is_empty());
}

#[tokio::test]
async fn the_client_shrinks_on_429_and_still_completes_every_request() {
    let env = env_with(SimConfig {
        concurrency_limit: 2,
        latency: Duration::from_millis(30),
        ..SimConfig::default()
    })
    .await;
    // The tenant's share says 6, but other integrations leave the account only 2.
    let mut config = client_config(&env.sim);
    config.concurrency = 6;
    config.retry.max_attempts = 30;
    let client = NetSuiteClient::new(config).unwrap();
    let results = futures::future::join_all((0..30).map(|_| client.check())).await;
    assert!(
        results.iter().all(Result::is_ok),
        "{:?}",
        results.iter().find(|r| r.is_err())
    );

    let sim = env.sim.stats();
    assert!(sim.rejected_429 > 0, "the account limit was met: {sim:?}");
    assert!(sim.peak_in_flight <= 2, "{sim:?}");
    let g = client.governor().stats();
    assert!(g.refusals > 0 && g.cuts > 0, "{g:?}");
    assert!(g.lowest_limit < 6, "the limit shrank: {g:?}");
    assert!(
        g.cuts <= g.refusals,
        "one cut per congestion event at most: {g:?}"
    );
}

#[tokio::test]
async fn aws_services_share_slots_and_local_services_do_not() {
    let table = table().await;
    let account = AccountId::parse("TSTDRV7").unwrap();
    let moto = moto::server();
    let aws = AwsSettings {
        table_name: table.name.clone(),
        queue_url: "http://127.0.0.1:1/unused.fifo".into(),
        bulk_queue_url: String::new(),
        secret_prefix: "unused/".into(),
        worker_instances: 2,
    }
    .services(billsync::aws::AwsClients::new(&moto.sdk_config().await));
    let shared = aws.governor(&account, 3);
    assert!(shared.is_shared());
    assert_eq!(shared.share(), 3);
    assert_eq!(
        shared.config().max_held,
        2,
        "each of two worker instances holds at most ceil(3 / 2) slots"
    );
    let permit = shared.acquire().await.unwrap();
    assert_eq!(
        table.store.holders(account.realm()).await.unwrap().len(),
        1,
        "the slot is a lease in the service's table"
    );
    drop(permit);
    aws.settle_governors().await;
    assert!(table
        .store
        .holders(account.realm())
        .await
        .unwrap()
        .is_empty());

    assert!(!local_services().governor(&account, 3).is_shared());
}

/// `Services` keeps one governor per account: tenants of one account share its slots.
#[tokio::test]
async fn one_governor_per_account() {
    let services = local_services();
    let a = AccountId::parse("TSTDRV1").unwrap();
    let b = AccountId::parse("TSTDRV2").unwrap();
    let _p = services.governor(&a, 1).acquire().await.unwrap();
    assert_eq!(services.governor(&a, 1).stats().held, 1);
    assert_eq!(services.governor(&b, 1).stats().held, 0);
}
