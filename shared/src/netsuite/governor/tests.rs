use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::runtime::Handle;

use super::core::cut;
use super::*;

fn config(share: usize) -> GovernorConfig {
    GovernorConfig {
        pause: Duration::from_millis(100),
        grow_after: 4,
        ..GovernorConfig::new(share)
    }
}

/// Counts requests in flight and remembers the most at once.
#[derive(Default)]
struct InFlight {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl InFlight {
    async fn request(&self, governor: &Governor, hold: Duration) {
        let permit = governor.acquire().await.unwrap();
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(n, Ordering::SeqCst);
        tokio::time::sleep(hold).await;
        self.now.fetch_sub(1, Ordering::SeqCst);
        permit.succeeded();
    }

    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

async fn run_all(governors: &[Governor], tasks_each: usize, hold: Duration) -> Arc<InFlight> {
    let counter = Arc::new(InFlight::default());
    let mut handles = Vec::new();
    for g in governors {
        for _ in 0..tasks_each {
            let (g, counter) = (g.clone(), counter.clone());
            handles.push(tokio::spawn(async move { counter.request(&g, hold).await }));
        }
    }
    for h in handles {
        h.await.unwrap();
    }
    counter
}

#[test]
fn a_cut_is_three_quarters_at_least_one_less_never_below_one() {
    let cuts: Vec<usize> = [1, 2, 3, 4, 5, 8, 20].into_iter().map(cut).collect();
    assert_eq!(cuts, vec![1, 1, 2, 3, 3, 6, 15]);
}

#[tokio::test(start_paused = true)]
async fn local_slots_bound_requests_in_flight_and_are_all_used() {
    let g = Governor::local(3);
    let counter = run_all(std::slice::from_ref(&g), 20, Duration::from_millis(10)).await;
    assert_eq!(counter.peak(), 3);
    let stats = g.stats();
    assert_eq!((stats.held, stats.waiting), (0, 0));
    assert!(stats.handoffs > 0);
}

#[tokio::test(start_paused = true)]
async fn a_refusal_cuts_once_pauses_and_successes_grow_the_limit_back() {
    let g = Governor::local_with(config(8));
    let first = g.acquire().await.unwrap();
    let second = g.acquire().await.unwrap();
    first.refused(None);
    assert_eq!(g.stats().limit, 6);
    // Started before the cut: the same congestion, no second cut.
    second.refused(None);
    let stats = g.stats();
    assert_eq!((stats.limit, stats.cuts, stats.refusals), (6, 1, 2));
    assert!(stats.paused);

    // No new request during the pause (100 ms, jittered over its upper half).
    let started = Instant::now();
    let third = g.acquire().await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(50),
        "{:?}",
        started.elapsed()
    );
    // A second refusal in a row pauses twice as long.
    third.refused(None);
    assert_eq!(g.stats().limit, 4);
    let started = Instant::now();
    let fourth = g.acquire().await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
    fourth.succeeded();

    // grow_after = 4 successes in a row per step, up to the share and no further.
    for _ in 0..3 {
        g.acquire().await.unwrap().succeeded();
    }
    assert_eq!(g.stats().limit, 5);
    for _ in 0..40 {
        g.acquire().await.unwrap().succeeded();
    }
    let stats = g.stats();
    assert_eq!((stats.limit, stats.lowest_limit, stats.grows), (8, 4, 4));
}

#[tokio::test(start_paused = true)]
async fn the_limit_never_drops_below_one() {
    let g = Governor::local_with(config(2));
    for _ in 0..5 {
        g.acquire().await.unwrap().refused(None);
    }
    assert_eq!(g.stats().limit, 1);
    assert_eq!(g.stats().cuts, 5);
    g.acquire().await.unwrap().succeeded();
}

#[tokio::test(start_paused = true)]
async fn a_server_hint_is_the_least_pause() {
    let g = Governor::local_with(config(4));
    g.acquire()
        .await
        .unwrap()
        .refused(Some(Duration::from_secs(3)));
    let started = Instant::now();
    let _p = g.acquire().await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn after_a_cut_no_more_than_the_new_limit_run() {
    let g = Governor::local_with(config(4));
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(g.acquire().await.unwrap());
    }
    held.pop().unwrap().refused(None);
    assert_eq!(g.stats().limit, 3);
    // Three still run: a fourth waits past the pause, until one of them ends.
    let waiting = tokio::time::timeout(Duration::from_secs(10), g.acquire()).await;
    assert!(
        waiting.is_err(),
        "a fourth request started over the cut limit"
    );
    held.pop();
    let p = tokio::time::timeout(Duration::from_secs(10), g.acquire()).await;
    assert!(p.is_ok());
}

#[tokio::test]
async fn a_cancelled_wait_loses_no_slot() {
    let g = Governor::local(1);
    let p = g.acquire().await.unwrap();
    let mut waiting = Box::pin(g.acquire());
    assert!(futures::poll!(&mut waiting).is_pending());
    // Handed to the waiting task, which gives up before taking it.
    drop(p);
    assert_eq!(g.stats().held, 1);
    drop(waiting);
    assert_eq!(g.stats().held, 0);
    let _again = g.acquire().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn shared_governors_stay_under_the_share_together() {
    let store = Arc::new(MemorySlotStore::new());
    let governors: Vec<Governor> = (0..4)
        .map(|_| Governor::shared(config(3), "ACCT", store.clone()))
        .collect();
    let counter = run_all(&governors, 10, Duration::from_millis(30)).await;
    assert!(counter.peak() <= 3, "peak {}", counter.peak());
    assert_eq!(counter.peak(), 3, "the share is used in full");
    for g in &governors {
        g.settle().await;
        assert_eq!(g.stats().held, 0);
    }
    assert_eq!(store.live("ACCT"), 0, "every slot went back to the store");
}

#[tokio::test(start_paused = true)]
async fn each_instance_holds_at_most_its_part_and_the_share_is_still_used_in_full() {
    let store = Arc::new(MemorySlotStore::new());
    let part = GovernorConfig {
        pause: Duration::from_millis(100),
        ..GovernorConfig::for_instances(5, 2)
    };
    assert_eq!(part.max_held, 3, "ceil(5 / 2)");
    let first = Governor::shared(part.clone(), "ACCT", store.clone());
    let second = Governor::shared(part, "ACCT", store.clone());
    // The first instance asks for everything before the second asks at all.
    let counter = Arc::new(InFlight::default());
    let spawn_ten = |g: &Governor| -> Vec<_> {
        (0..10)
            .map(|_| {
                let (g, c) = (g.clone(), counter.clone());
                tokio::spawn(async move { c.request(&g, Duration::from_millis(200)).await })
            })
            .collect()
    };
    let mut handles = spawn_ten(&first);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(first.stats().held, 3, "capped at its part");
    handles.extend(spawn_ten(&second));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(second.stats().held, 2, "the rest of the share");
    assert_eq!(counter.peak(), 5);
    for h in handles {
        h.await.unwrap();
    }
    assert_eq!(counter.peak(), 5, "never past the share");
}

#[tokio::test(start_paused = true)]
async fn a_slot_passes_between_local_tasks_without_the_store() {
    let store = Arc::new(MemorySlotStore::new());
    let g = Governor::shared(config(1), "ACCT", store.clone());
    run_all(std::slice::from_ref(&g), 10, Duration::from_millis(5)).await;
    let stats = g.stats();
    assert_eq!(stats.store_acquisitions, 1);
    assert_eq!(stats.handoffs, 9);
    assert_eq!(store.acquire_calls(), 1);
    g.settle().await;
    assert_eq!(store.live("ACCT"), 0, "released once nobody waited");
}

#[tokio::test(start_paused = true)]
async fn a_slot_nobody_waits_for_lingers_then_goes_back() {
    let store = Arc::new(MemorySlotStore::new());
    let g = Governor::shared(config(1), "ACCT", store.clone());
    // One instance: its fair part is the whole share.
    let linger = g.config().fair_linger;
    drop(g.acquire().await.unwrap());
    // Within the linger the same process asks again: no store call, the same lease.
    tokio::time::sleep(linger / 3).await;
    assert_eq!(store.live("ACCT"), 1, "still held while it lingers");
    let p = g.acquire().await.unwrap();
    assert_eq!(store.acquire_calls(), 1);
    drop(p);
    // Nobody asks: after the linger it is back in the store, for other processes.
    tokio::time::sleep(linger * 2).await;
    g.settle().await;
    assert_eq!(store.live("ACCT"), 0);
    let other = Governor::shared(config(1), "ACCT", store.clone());
    let _q = tokio::time::timeout(Duration::from_secs(1), other.acquire())
        .await
        .expect("another process gets it")
        .unwrap();
    // A lingering slot goes back at once when the batch settles (Lambda freezes).
    drop(_q);
    other.settle().await;
    assert_eq!(store.live("ACCT"), 0);
}

#[tokio::test(start_paused = true)]
async fn a_lingering_slot_used_again_leaves_no_timer_behind() {
    let store = Arc::new(MemorySlotStore::new());
    let g = Governor::shared(config(1), "ACCT", store.clone());
    let tasks = || Handle::current().metrics().num_alive_tasks();
    drop(g.acquire().await.unwrap());
    let lingering = tasks();
    // A steady stream of requests: each leaves the slot lingering, the next takes it up.
    for _ in 0..50 {
        let p = g.acquire().await.unwrap();
        drop(p);
    }
    tokio::task::yield_now().await;
    assert_eq!(
        store.acquire_calls(),
        1,
        "the slot was reused, never taken again"
    );
    assert_eq!(
        tasks(),
        lingering,
        "one linger timer at a time, not one per request left to fire"
    );
    g.settle().await;
    assert_eq!(store.live("ACCT"), 0);
}

/// A store whose only slot `holder` has just taken for `ttl`.
async fn only_slot_held_by(holder: &str, ttl: Duration) -> Arc<MemorySlotStore> {
    let store = Arc::new(MemorySlotStore::new());
    assert_eq!(
        store.try_acquire("ACCT", 1, holder, ttl).await.unwrap(),
        Some(0)
    );
    store
}

#[tokio::test(start_paused = true)]
async fn tasks_that_come_and_go_do_not_restart_the_polling() {
    // Another process holds the only slot for a minute.
    let store = only_slot_held_by("other-1", Duration::from_secs(60)).await;
    let g = Governor::shared(config(1), "ACCT", store.clone());
    // A hundred tasks in turn, each giving up after 100 ms: ten seconds of waiting.
    for _ in 0..100 {
        let waited = tokio::time::timeout(Duration::from_millis(100), g.acquire()).await;
        assert!(waited.is_err(), "the slot is held elsewhere");
    }
    // Polls grow from poll_min to poll_max (jittered down to half): a handful to get there,
    // then one per poll_max at least and per half of it at most. A poller per task, each
    // starting from poll_min, would poll four or five times per task.
    let max = g.config().poll_max.as_secs_f64();
    let (fewest, most) = ((10.0 / max) as u64, (10.0 / (max / 2.0)) as u64 + 10);
    let polls = store.acquire_calls();
    assert!(
        (fewest..=most).contains(&polls),
        "{polls} polls in ten seconds, expected {fewest}..={most}"
    );
}

#[tokio::test(start_paused = true)]
async fn only_the_fair_part_lingers_long() {
    let store = Arc::new(MemorySlotStore::new());
    // Three slots over two instances: each may hold two, and keep one idle for long.
    let part = GovernorConfig::for_instances(3, 2);
    assert_eq!((part.max_held, part.fair_held), (2, 1));
    assert!(part.fair_linger >= part.linger * 4);
    let g = Governor::shared(part.clone(), "ACCT", store.clone());
    let (a, b) = (g.acquire().await.unwrap(), g.acquire().await.unwrap());
    assert_eq!(store.live("ACCT"), 2);
    drop(a);
    drop(b);
    // The slot beyond the fair part goes back after the short linger ...
    tokio::time::sleep(part.linger * 2).await;
    assert_eq!(store.live("ACCT"), 1, "the fair part is still held");
    // ... so the other instance can have its part and the rest at once.
    let other = Governor::shared(part.clone(), "ACCT", store.clone());
    let (c, d) = (
        other.acquire().await.unwrap(),
        other.acquire().await.unwrap(),
    );
    assert_eq!(store.live("ACCT"), 3);
    // The fair part is used again within its linger without a store call ...
    let calls = store.acquire_calls();
    drop(g.acquire().await.unwrap());
    assert_eq!(store.acquire_calls(), calls);
    // ... and goes back after it.
    tokio::time::sleep(part.fair_linger * 2).await;
    assert_eq!(store.live("ACCT"), 2, "only the other instance's slots");
    drop((c, d));
    other.settle().await;
    assert_eq!(store.live("ACCT"), 0);
}

#[tokio::test(start_paused = true)]
async fn a_slot_beyond_the_fair_part_is_asked_for_now_and_then() {
    let store = Arc::new(MemorySlotStore::new());
    // Five slots over two instances: each may hold three; the first takes its three.
    let part = GovernorConfig::for_instances(5, 2);
    assert_eq!((part.max_held, part.fair_held), (3, 2));
    let first = Governor::shared(part.clone(), "ACCT", store.clone());
    let held: Vec<_> = futures::future::join_all((0..3).map(|_| first.acquire())).await;
    assert_eq!(store.live("ACCT"), 3);
    // The second gets its fair part at once, then waits ten seconds for a third slot.
    let second = Governor::shared(part.clone(), "ACCT", store.clone());
    let fair: Vec<_> = futures::future::join_all((0..2).map(|_| second.acquire())).await;
    assert!(fair.iter().all(Result::is_ok));
    let calls = store.acquire_calls();
    let waited = tokio::time::timeout(Duration::from_secs(10), second.acquire()).await;
    assert!(waited.is_err(), "every slot is held");
    let polls = store.acquire_calls() - calls;
    // One poll per extra_poll at most (per half of it, jittered); the series of a process
    // below its fair part (poll_max 200 ms) would poll 50 to 100 times.
    let extra = part.extra_poll.as_secs_f64();
    let most = (10.0 / (extra / 2.0)) as u64 + 2;
    assert!(
        (5..=most).contains(&polls),
        "{polls} polls, expected 5..={most}"
    );
    // A slot the first instance gives back still reaches the second within extra_poll.
    drop(held);
    first.settle().await;
    let third = tokio::time::timeout(part.extra_poll * 2, second.acquire()).await;
    assert!(matches!(third, Ok(Ok(_))), "a freed slot is taken");
}

#[tokio::test(start_paused = true)]
async fn an_expired_lease_comes_back() {
    // A process that took the only slot and died.
    let ttl = Duration::from_secs(60);
    let store = only_slot_held_by("ghost-1", ttl).await;
    let g = Governor::shared(config(1), "ACCT", store.clone());
    let started = Instant::now();
    let p = tokio::time::timeout(Duration::from_secs(120), g.acquire())
        .await
        .expect("the slot comes back")
        .unwrap();
    assert!(started.elapsed() >= ttl, "{:?}", started.elapsed());
    assert_ne!(store.holder("ACCT", 0).as_deref(), Some("ghost-1"));
    drop(p);
}

#[tokio::test(start_paused = true)]
async fn a_held_lease_is_renewed_and_never_taken_over() {
    let store = Arc::new(MemorySlotStore::new());
    let a = Governor::shared(config(1), "ACCT", store.clone());
    let b = Governor::shared(config(1), "ACCT", store.clone());
    let long = a.acquire().await.unwrap();
    let holder = store.holder("ACCT", 0).unwrap();
    // Five TTLs later the slot is still A's: B waited all along.
    let waited = tokio::time::timeout(Duration::from_secs(300), b.acquire()).await;
    assert!(waited.is_err(), "B took a slot A still held");
    assert_eq!(store.holder("ACCT", 0), Some(holder));
    drop(long);
    let p = tokio::time::timeout(Duration::from_secs(5), b.acquire()).await;
    assert!(p.is_ok(), "B gets the slot once A gives it back");
}

#[tokio::test(start_paused = true)]
async fn a_failing_store_fails_the_wait_and_recovers() {
    let store = Arc::new(MemorySlotStore::new());
    let g = Governor::shared(config(2), "ACCT", store.clone());
    store.set_failing(true);
    let e = g.acquire().await.unwrap_err();
    assert!(matches!(e, GovernorError::Store(_)), "{e}");
    assert_eq!(
        store.acquire_calls(),
        6,
        "store_attempts tries, then the error"
    );
    store.set_failing(false);
    let _p = g.acquire().await.unwrap();
    assert_eq!(g.stats().held, 1);
}

#[tokio::test(start_paused = true)]
async fn a_refusal_holds_back_every_shared_waiter() {
    let store = Arc::new(MemorySlotStore::new());
    let g = Governor::shared(config(2), "ACCT", store.clone());
    g.acquire().await.unwrap().refused(None);
    assert_eq!(g.stats().limit, 1);
    let started = Instant::now();
    let _p = g.acquire().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(50));
    // Slot numbers follow the cut limit too.
    assert_eq!(_p.slot(), 0);
}

/// Live work takes the next free slot before bulk work that has waited longer, and bulk work
/// still gets every slot live work leaves.
#[tokio::test(start_paused = true)]
async fn live_work_takes_the_next_slot_before_bulk_work_that_waited_longer() {
    let g = Governor::local(1);
    let held = g.acquire().await.unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for (name, bulk) in [
        ("bulk-1", true),
        ("live-1", false),
        ("bulk-2", true),
        ("live-2", false),
    ] {
        let (g, order) = (g.clone(), order.clone());
        let work = async move {
            let permit = g.acquire().await.unwrap();
            order.lock().unwrap().push(name);
            tokio::time::sleep(Duration::from_millis(10)).await;
            permit.succeeded();
        };
        tasks.push(tokio::spawn(async move {
            if bulk {
                as_bulk(work).await
            } else {
                work.await
            }
        }));
        // Each waits in turn, in this order.
        for _ in 0..5 {
            tokio::task::yield_now().await;
        }
    }
    held.succeeded();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        *order.lock().unwrap(),
        ["live-1", "live-2", "bulk-1", "bulk-2"]
    );
}
