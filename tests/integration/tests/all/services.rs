//! The use cases on local adapters (SQLite store, in-process queue, static secrets) against
//! both simulators: webhook intake, sweep, worker batches, retry.

use crate::common;

use common::local::{drain, env, env_with, ns_invoice, Env};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use billing_sim::{BillingSim, DatasetSpec, PaymentKind, WebhookEvent};
use billsync::queue::local::LocalQueue;
use billsync::queue::{Queue, QueueError, SyncMessage};
use billsync::service::intake::{self, WebhookRequest};
use billsync::service::retry::{self, RetryRequest};
use billsync::service::sweep::{sweep_tenant, MAXIO_EVENTS_CURSOR};
use billsync::service::worker::{process_batch, Delivery};
use billsync::store::prelude::*;
use netsuite_sim::Fault;
use rust_decimal_macros::dec;
use serde_json::json;

fn issue(bill: &BillingSim) -> String {
    common::local::issue_on(bill, chrono::NaiveDate::from_ymd_opt(2026, 1, 5).unwrap())
}

async fn post(
    env: &Env,
    tenant: &str,
    body: &[u8],
    sig: Option<&str>,
    id: Option<&str>,
) -> intake::WebhookResponse {
    let sig = sig.map(str::to_owned);
    let id = id.map(str::to_owned);
    let header = move |name: &str| match name.to_ascii_lowercase().as_str() {
        "x-chargify-webhook-signature-hmac-sha-256" => sig.clone(),
        "x-chargify-webhook-id" => id.clone(),
        _ => None,
    };
    intake::receive(
        &env.services,
        WebhookRequest {
            tenant,
            source: "maxio",
            body,
            header: &header,
        },
    )
    .await
}

#[tokio::test]
async fn intake_queues_signed_webhooks_once_and_nothing_on_refusal() {
    let mut env = env().await;
    let uid = issue(&env.bill);
    let (id, body, sig) = env.bill.webhook_body(&WebhookEvent::InvoiceIssued {
        invoice_uid: uid.clone(),
    });
    let id = id.to_string();

    let r = post(&env, "acme", &body, Some(&sig), Some(&id)).await;
    assert_eq!(r.status, 200, "{r:?}");
    let queued = drain(&mut env.rx);
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].invoice_id(), Some(uid.as_str()));

    let again = post(&env, "acme", &body, Some(&sig), Some(&id)).await;
    assert_eq!(
        (again.status, again.message.as_str()),
        (200, "duplicate delivery")
    );
    // A captured signed body replayed under fresh, unsigned webhook ids is the same delivery.
    env.bill.reset_stats();
    for fresh in 0..200 {
        let r = post(
            &env,
            "acme",
            &body,
            Some(&sig),
            Some(&format!("replay-{fresh}")),
        )
        .await;
        assert_eq!((r.status, r.message.as_str()), (200, "duplicate delivery"));
    }
    assert!(drain(&mut env.rx).is_empty(), "replays queue nothing");
    assert_eq!(
        env.bill.stats().total_requests,
        0,
        "and read nothing from billing"
    );

    let mut tampered = body.clone();
    tampered[5] ^= 1;
    for (r, want) in [
        (
            post(&env, "acme", &tampered, Some(&sig), Some("9")).await,
            401,
        ),
        (post(&env, "acme", &body, None, Some("9")).await, 401),
        (
            post(
                &env,
                "acme",
                b"not=%zz",
                Some(&billsync::billing::maxio::webhook::sign(
                    b"not=%zz",
                    &env.bill.config().shared_key.into(),
                )),
                Some("9"),
            )
            .await,
            400,
        ),
        (
            post(&env, "acme", &vec![b'a'; 600 * 1024], Some(&sig), Some("9")).await,
            413,
        ),
        (
            post(&env, "nobody", &body, Some(&sig), Some("9")).await,
            401,
        ),
    ] {
        assert_eq!(r.status, want, "{r:?}");
        assert!(r.queued.is_empty());
    }
    assert!(drain(&mut env.rx).is_empty(), "no refusal queued anything");
}

#[tokio::test]
async fn a_payment_webhook_without_an_invoice_asks_for_a_sweep() {
    let mut env = env().await;
    let uid = issue(&env.bill);
    let txn = env.bill.pay(&uid, dec!(10), PaymentKind::CreditCard).ok();
    if let Some(txn) = txn {
        let (id, body, sig) = env.bill.webhook_body(&WebhookEvent::PaymentSuccess {
            invoice_uid: uid,
            transaction_id: txn,
        });
        let r = post(&env, "acme", &body, Some(&sig), Some(&id.to_string())).await;
        assert_eq!(r.status, 200);
        let q = drain(&mut env.rx);
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].subject, billsync::queue::Subject::Sweep);
    }
}

/// A queue that fails from its `fail_from`-th send on.
struct FlakyQueue {
    inner: LocalQueue,
    sends: AtomicUsize,
    fail_from: usize,
}

#[async_trait]
impl Queue for FlakyQueue {
    async fn send(&self, messages: &[SyncMessage]) -> Result<(), QueueError> {
        if self.sends.fetch_add(1, Ordering::SeqCst) >= self.fail_from {
            return Err(QueueError("injected".into()));
        }
        self.inner.send(messages).await
    }
}

#[tokio::test]
async fn the_sweep_advances_its_cursor_only_after_queueing() {
    let spec = DatasetSpec {
        invoices: 150,
        ..DatasetSpec::default()
    };
    let bill = BillingSim::start_with(billing_sim::SimConfig::default(), &spec)
        .await
        .unwrap();
    let total_events = bill.event_count();
    assert!(total_events > 200, "two pages at least: {total_events}");

    // A queue that breaks after the first page: the cursor stops at that page's last event.
    let (inner, _rx) = LocalQueue::new();
    let flaky = Arc::new(FlakyQueue {
        inner,
        sends: AtomicUsize::new(0),
        fail_from: 1,
    });
    let env = env_with(bill, Some(flaky.clone())).await;
    assert!(sweep_tenant(&env.services, "acme").await.is_err());
    let cursor: u64 = env
        .store
        .cursor("acme", MAXIO_EVENTS_CURSOR)
        .await
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();

    // A working queue picks up from there and reaches the end; a second sweep queues nothing new.
    let mut env = env_with(env.bill, None).await;
    env.store
        .put_cursor("acme", MAXIO_EVENTS_CURSOR, &cursor.to_string())
        .await
        .unwrap();
    let report = sweep_tenant(&env.services, "acme").await.unwrap();
    assert_eq!(report.events_read, total_events - 200);
    assert!(report.invoices_queued > 0);
    let queued = drain(&mut env.rx);
    let (invoices, rest): (Vec<_>, Vec<_>) = queued.iter().partition(|m| m.invoice_id().is_some());
    assert_eq!(
        invoices.len(),
        report.invoices_queued + report.waiting_queued
    );
    assert_eq!(
        rest.iter().map(|m| &m.subject).collect::<Vec<_>>(),
        [&billsync::queue::Subject::ReadBack],
        "and a read-back after them"
    );
    let second = sweep_tenant(&env.services, "acme").await.unwrap();
    assert_eq!((second.events_read, second.invoices_queued), (0, 0));
    assert_eq!(second.cursor_after, report.cursor_after);
}

/// A tenant's first sweep reads back to its start date: bulk work, behind live work for
/// NetSuite's slots. Once in step, what a sweep finds is live; the read-back is bulk.
#[tokio::test]
async fn a_first_sweep_is_bulk_work_and_later_sweeps_are_live() {
    use billsync::queue::{Class, Subject};
    let mut env = env().await;
    issue(&env.bill);
    issue(&env.bill);
    sweep_tenant(&env.services, "acme").await.unwrap();
    let first = drain(&mut env.rx);
    let classes = |ms: &[SyncMessage], subject_is_invoice: bool| -> Vec<Class> {
        ms.iter()
            .filter(|m| m.invoice_id().is_some() == subject_is_invoice)
            .map(|m| m.class)
            .collect()
    };
    assert_eq!(classes(&first, true), [Class::Bulk, Class::Bulk]);
    issue(&env.bill);
    sweep_tenant(&env.services, "acme").await.unwrap();
    let later = drain(&mut env.rx);
    assert_eq!(classes(&later, true), [Class::Live]);
    let read_back: Vec<_> = later
        .iter()
        .filter(|m| m.subject == Subject::ReadBack)
        .collect();
    assert_eq!(read_back.len(), 1);
    assert_eq!(read_back[0].class, Class::Bulk);
}

#[tokio::test]
async fn a_worker_batch_reports_exactly_the_retryable_messages() {
    let env = env().await;
    let good = issue(&env.bill);
    let flaky = issue(&env.bill);
    let msg = |uid: &str| {
        json!({"tenant": "acme", "source": "maxio", "invoice_id": uid, "reason": "webhook", "dedup_id": "x"}).to_string()
    };
    // The first invoice syncs; then every later call fails with 500 for a while.
    let done = process_batch(
        &env.services,
        vec![Delivery {
            id: "m-good".into(),
            body: msg(&good),
        }],
    )
    .await;
    assert!(done.is_empty());
    env.ns.add_fault(Fault::ServerError { remaining: 1000 });
    let failed = process_batch(
        &env.services,
        vec![
            Delivery {
                id: "m-poison".into(),
                body: "{not json".into(),
            },
            Delivery {
                id: "m-retry".into(),
                body: msg(&flaky),
            },
        ],
    )
    .await;
    assert_eq!(failed, vec!["m-retry".to_string()]);
    env.ns.clear_faults();
    // The failures in a row hold the account; here the hold has passed and a probe got an
    // answer.
    let account = billsync::netsuite::AccountId::parse(&env.ns.config().account_id).unwrap();
    let outage = env.services.governor(&account, 5);
    assert!(outage.outage().held_for().is_some());
    outage.outage().answered();

    // A failure that needs a person is logged and acknowledged, not redelivered.
    env.ns.add_fault(Fault::RequiredField {
        field: "department".into(),
        label: "Department".into(),
        record_types: vec![],
    });
    let failed = process_batch(
        &env.services,
        vec![Delivery {
            id: "m-person".into(),
            body: msg(&flaky),
        }],
    )
    .await;
    assert!(failed.is_empty());
    let log = retry::error_log(&env.services, "acme").await.unwrap();
    assert_eq!(log.len(), 1);
    assert!(log[0].fix.contains("transactions.department"));

    // Retry: list, then all failed once the fault is gone.
    env.ns.clear_faults();
    let mut env = env;
    let r = retry::handle(
        &env.services,
        &RetryRequest {
            tenant: "acme".into(),
            invoices: vec![],
            all_failed: true,
            list: true,
        },
    )
    .await
    .unwrap();
    assert_eq!(r.queued, vec![flaky.clone()]);
    assert_eq!(r.errors.unwrap().len(), 1);
    let queued = drain(&mut env.rx);
    let batch = queued
        .iter()
        .enumerate()
        .map(|(i, m)| Delivery {
            id: format!("r{i}"),
            body: serde_json::to_string(m).unwrap(),
        })
        .collect();
    assert!(process_batch(&env.services, batch).await.is_empty());
    assert!(retry::error_log(&env.services, "acme")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(env.ns.records("salesOrder").len(), 2);
}

/// A queue message for one of the tenant's invoices, as the worker takes it.
fn taken(uid: &str) -> billsync::queue::Taken {
    billsync::queue::Taken {
        id: format!("m-{uid}"),
        body: serde_json::to_string(&SyncMessage::invoice(
            "acme",
            billsync::billing::model::Source::Maxio,
            uid,
            billsync::queue::Reason::Webhook,
            format!("d-{uid}"),
        ))
        .unwrap(),
        receipt: format!("r-{uid}"),
        receives: 1,
    }
}

/// Taken messages whose delete does not return until every taken flow is synced: the worker
/// must keep its flows (and its taking) going while a delete is under way, or it never ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flows_go_on_while_finished_messages_are_deleted() {
    use billsync::flow::state::FlowStatus;
    use billsync::queue::{Inbox, Taken};
    use billsync::service::worker::drain_batch;
    use billsync::store::sqlite::SqliteStore;
    use std::collections::VecDeque;
    use std::sync::Mutex;
    use std::time::Duration;

    struct SlowDeletes {
        takes: Mutex<VecDeque<Vec<Taken>>>,
        store: Arc<SqliteStore>,
        uids: Vec<String>,
        deleted: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl Inbox for SlowDeletes {
        async fn take(&self, _max: usize) -> Result<Vec<Taken>, QueueError> {
            Ok(self.takes.lock().unwrap().pop_front().unwrap_or_default())
        }
        async fn delete(&self, receipts: &[String]) -> Result<(), QueueError> {
            loop {
                let mut synced = 0;
                for uid in &self.uids {
                    let flow = self.store.flow("acme", uid).await.unwrap();
                    synced +=
                        usize::from(flow.is_some_and(|f| f.value.status == FlowStatus::Synced));
                }
                if synced == self.uids.len() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            self.deleted.lock().unwrap().extend_from_slice(receipts);
            Ok(())
        }
    }

    let env = env().await;
    let uids: Vec<String> = (0..20).map(|_| issue(&env.bill)).collect();
    let taken: Vec<Taken> = uids.iter().map(|u| taken(u)).collect();
    let inbox = Arc::new(SlowDeletes {
        takes: Mutex::new(taken.chunks(10).map(<[Taken]>::to_vec).collect()),
        store: env.store.clone(),
        uids: uids.clone(),
        deleted: Mutex::default(),
    });
    let services = env.services.with_inbox(inbox.clone());
    let until = tokio::time::Instant::now() + Duration::from_secs(60);
    // Generous: the wait only ends early; without concurrent deletes it never ends.
    let retries = tokio::time::timeout(
        Duration::from_secs(60),
        drain_batch(&services, Vec::new(), until),
    )
    .await
    .expect("the worker finished while a delete was waiting for its flows");
    assert!(retries.is_empty());
    let mut deleted = inbox.deleted.lock().unwrap().clone();
    deleted.sort();
    let mut receipts: Vec<String> = taken.iter().map(|t| t.receipt.clone()).collect();
    receipts.sort();
    assert_eq!(deleted, receipts, "every taken message deleted once");
}

/// Below full load the queue hands out less than a batch per take; the worker then lets the
/// next arrivals gather for a moment before taking again, while its flows run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickle_of_messages_is_taken_in_groups() {
    use billsync::queue::{Inbox, Taken};
    use billsync::service::worker::drain_batch;
    use std::collections::VecDeque;
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    struct Trickle {
        takes: Mutex<VecDeque<Vec<Taken>>>,
        /// When each take was asked for and when the one before it had answered.
        asked: Mutex<Vec<Instant>>,
        answered: Mutex<Vec<Instant>>,
    }

    #[async_trait]
    impl Inbox for Trickle {
        async fn take(&self, _max: usize) -> Result<Vec<Taken>, QueueError> {
            self.asked.lock().unwrap().push(Instant::now());
            let next = self.takes.lock().unwrap().pop_front().unwrap_or_default();
            self.answered.lock().unwrap().push(Instant::now());
            Ok(next)
        }
        async fn delete(&self, _receipts: &[String]) -> Result<(), QueueError> {
            Ok(())
        }
    }

    let env = env().await;
    let uids: Vec<String> = (0..3).map(|_| issue(&env.bill)).collect();
    let inbox = Arc::new(Trickle {
        takes: Mutex::new(uids.iter().map(|u| vec![taken(u)]).collect()),
        asked: Mutex::default(),
        answered: Mutex::default(),
    });
    let services = env.services.with_inbox(inbox.clone());
    // A batch of one keeps work in progress while the first take is answered.
    let first = billsync::service::worker::Delivery {
        id: "m-0".into(),
        body: taken(&issue(&env.bill)).body,
    };
    let until = tokio::time::Instant::now() + Duration::from_secs(60);
    assert!(drain_batch(&services, vec![first], until).await.is_empty());
    let (asked, answered) = (inbox.asked.lock().unwrap(), inbox.answered.lock().unwrap());
    assert!(asked.len() >= 2, "{} takes", asked.len());
    // Each take after a part batch waited, unless nothing was in progress any more.
    let waited = asked
        .windows(2)
        .zip(answered.iter())
        .filter(|(pair, answer)| pair[1].duration_since(**answer) >= Duration::from_millis(500))
        .count();
    assert!(waited >= 1, "no take waited after a part batch");
}

/// A payment of `amount` entered in NetSuite for `invoice` (as a person would, by hand).
fn pay_in_netsuite(env: &Env, invoice: &serde_json::Value, amount: u32) {
    env.ns.seed(
        "customerPayment",
        json!({
            "customer": invoice["entity"],
            "payment": amount,
            "apply": {"items": [{"doc": {"id": invoice["id"]}, "apply": true, "amount": amount}]}
        }),
    );
}

#[tokio::test]
async fn the_read_back_flags_what_netsuite_shows_differently_from_billing() {
    let mut env = env().await;
    let paid = issue(&env.bill);
    env.bill
        .pay(&paid, dec!(10), PaymentKind::CreditCard)
        .unwrap();
    let open = issue(&env.bill);
    common::local::sweep_and_work(&mut env).await;
    for uid in [&paid, &open] {
        let flow = env.store.flow("acme", uid).await.unwrap().unwrap().value;
        assert_eq!(flow.status, billsync::flow::state::FlowStatus::Synced);
    }
    let settings = env.services.settings("acme").await.unwrap();
    let first = billsync::service::readback::read_back(&env.services, &settings)
        .await
        .unwrap();
    assert_eq!((first.read, first.compared), (2, 2), "{first:?}");
    assert!(first.differ.is_empty(), "{first:?}");

    // A person enters a payment for the open invoice in NetSuite: billing still says it is due.
    let ns_open = ns_invoice(&env, &open);
    pay_in_netsuite(&env, &ns_open, 4);
    let second = billsync::service::readback::read_back(&env.services, &settings)
        .await
        .unwrap();
    assert_eq!(second.differ, vec![open.clone()], "{second:?}");
    let flow = env.store.flow("acme", &open).await.unwrap().unwrap().value;
    assert_eq!(flow.status, billsync::flow::state::FlowStatus::Error);
    let e = flow.last_error.unwrap();
    assert_eq!(e.code.as_deref(), Some("READ_BACK_MISMATCH"));
    assert!(
        e.detail.contains("amount remaining 6") && e.detail.contains("amount due 10"),
        "{e:?}"
    );
    let untouched = env.store.flow("acme", &paid).await.unwrap().unwrap().value;
    assert_eq!(untouched.status, billsync::flow::state::FlowStatus::Synced);
}

/// A flow that writes to NetSuite while the read-back's page is on its way (here a payment
/// recorded by billsync) is not flagged by figures read before the write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_back_does_not_flag_a_flow_that_moved_on_during_its_read() {
    let mut env = env().await;
    let open = issue(&env.bill);
    common::local::sweep_and_work(&mut env).await;
    let settings = env.services.settings("acme").await.unwrap();
    let ns_open = ns_invoice(&env, &open);
    env.ns.set_latency(std::time::Duration::from_millis(400));
    let services = env.services.clone();
    let reading =
        tokio::spawn(
            async move { billsync::service::readback::read_back(&services, &settings).await },
        );
    // The page's figures are taken when its request arrives and sent 400 ms later.
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    pay_in_netsuite(&env, &ns_open, 4);
    let flow = env.store.flow("acme", &open).await.unwrap().unwrap();
    let mut state = flow.value;
    let posted = state.posted.as_mut().unwrap();
    posted.due -= dec!(4);
    env.store
        .save_flow("acme", &state, Some(flow.version))
        .await
        .unwrap();
    let report = reading.await.unwrap().unwrap();
    assert_eq!(report.compared, 1, "{report:?}");
    assert!(report.differ.is_empty(), "{report:?}");
    let flow = env.store.flow("acme", &open).await.unwrap().unwrap().value;
    assert_eq!(flow.status, billsync::flow::state::FlowStatus::Synced);
}

/// What a message logs names its tenant, its subject and the flow step it was in.
#[tokio::test(flavor = "current_thread")]
async fn a_message_logs_with_its_tenant_subject_and_step() {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);
    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);

    let env = env().await;
    let uid = issue(&env.bill);
    env.ns.add_fault(Fault::ServerError { remaining: 1000 });
    let failed = process_batch(
        &env.services,
        vec![Delivery {
            id: "m-1".into(),
            body: serde_json::to_string(&SyncMessage::invoice(
                "acme",
                billsync::billing::model::Source::Maxio,
                &uid,
                billsync::queue::Reason::Webhook,
                "d-1",
            ))
            .unwrap(),
        }],
    )
    .await;
    assert_eq!(failed, vec!["m-1".to_string()]);
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    let line = logs
        .lines()
        .find(|l| l.contains("step{step=\"prepare\"}") && l.contains("NetSuite"))
        .unwrap_or_else(|| panic!("no line from a step: {logs}"));
    assert!(
        line.contains("tenant=\"acme\"")
            && line.contains(&format!("subject=invoice {uid}"))
            && line.contains("message_id=m-1"),
        "{line}"
    );
}

/// A failed sweep is recorded with its cause for `status`; a sweep of a tenant that does not
/// exist leaves nothing behind.
#[tokio::test]
async fn a_failed_sweep_is_recorded_and_an_unknown_tenant_leaves_no_trace() {
    use billsync::service::sweep::{SweepResult, LAST_SWEEP_RESULT_CURSOR};
    let env = env().await;
    let mut settings = env.services.settings("acme").await.unwrap();
    settings.tenant = "nosecret".into();
    env.store.put_settings(&settings).await.unwrap();

    assert!(sweep_tenant(&env.services, "nosecret").await.is_err());
    let kept: SweepResult = serde_json::from_str(
        &env.store
            .cursor("nosecret", LAST_SWEEP_RESULT_CURSOR)
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert!(
        kept.error.as_deref().unwrap_or("").contains("nosecret"),
        "{kept:?}"
    );

    sweep_tenant(&env.services, "acme").await.unwrap();
    let ok: SweepResult = serde_json::from_str(
        &env.store
            .cursor("acme", LAST_SWEEP_RESULT_CURSOR)
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(ok.error, None);

    assert!(sweep_tenant(&env.services, "nobody").await.is_err());
    assert_eq!(
        env.store
            .cursor("nobody", LAST_SWEEP_RESULT_CURSOR)
            .await
            .unwrap(),
        None
    );
}

/// Counts the webhook-secret reads that reach the wrapped source; the whole secret is never
/// asked for.
struct WebhookSecretReads {
    inner: Arc<dyn billsync::secrets::SecretSource>,
    reads: AtomicUsize,
}

#[async_trait]
impl billsync::secrets::SecretSource for WebhookSecretReads {
    async fn tenant_secret(
        &self,
        tenant: &str,
    ) -> Result<billsync::secrets::TenantSecret, billsync::secrets::SecretError> {
        panic!("the intake read {tenant}'s whole secret")
    }

    async fn webhook_secret(
        &self,
        tenant: &str,
    ) -> Result<billsync::secrets::WebhookSecret, billsync::secrets::SecretError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.webhook_secret(tenant).await
    }
}

/// A stranger learns nothing from the answers: an unknown tenant, a tenant without a secret,
/// a malformed tenant name, a source the tenant has no credentials for and a wrong signature
/// all get the same 401; unknown names are remembered, not read again. The intake reads only
/// webhook secrets, never settings.
#[tokio::test]
async fn an_unknown_tenant_looks_like_a_bad_signature_and_is_read_once() {
    use billsync::service::Services;
    use billsync::store::counting::CountingStore;
    use std::time::Duration;
    let env = env().await;
    let counting = Arc::new(CountingStore::new(env.store.as_ref().clone()));
    let secrets = Arc::new(WebhookSecretReads {
        inner: env.services.secrets.clone(),
        reads: AtomicUsize::new(0),
    });
    let (queue, _rx) = LocalQueue::new();
    let services = Services::new(counting.clone(), Arc::new(queue), secrets.clone())
        .with_settings_ttl(Duration::from_secs(60));
    let mut settings = env.services.settings("acme").await.unwrap();
    settings.tenant = "nosecret".into();
    counting.put_settings(&settings).await.unwrap();
    let uid = issue(&env.bill);
    let (id, body, sig) = env
        .bill
        .webhook_body(&WebhookEvent::InvoiceIssued { invoice_uid: uid });
    let post = |tenant: &'static str, source: &'static str, sig: String| {
        let (body, id, services) = (body.clone(), id.to_string(), services.clone());
        async move {
            let header = move |name: &str| match name.to_ascii_lowercase().as_str() {
                "x-chargify-webhook-signature-hmac-sha-256" => Some(sig.clone()),
                "x-chargify-webhook-id" => Some(id.clone()),
                _ => None,
            };
            intake::receive(
                &services,
                WebhookRequest {
                    tenant,
                    source,
                    body: &body,
                    header: &header,
                },
            )
            .await
        }
    };
    let ghost = post("ghost", "maxio", sig.clone()).await;
    let no_secret = post("nosecret", "maxio", sig.clone()).await;
    let forged = post("acme", "maxio", "0".repeat(64)).await;
    let other_source = post("acme", "chargebee", sig.clone()).await;
    let odd_name = post("../acme", "maxio", sig.clone()).await;
    for r in [&ghost, &no_secret, &forged, &other_source, &odd_name] {
        assert_eq!(
            (r.status, r.message.as_str()),
            (401, intake::NOT_VERIFIED),
            "{r:?}"
        );
        assert!(r.queued.is_empty());
    }
    assert_eq!(counting.count("settings"), 0, "{:?}", counting.calls());
    let reads = secrets.reads.load(Ordering::SeqCst);
    for _ in 0..5 {
        assert_eq!(post("ghost", "maxio", sig.clone()).await.status, 401);
    }
    assert_eq!(
        secrets.reads.load(Ordering::SeqCst),
        reads,
        "an unknown name is remembered"
    );
    assert_eq!(post("acme", "maxio", sig.clone()).await.status, 200);
    assert_eq!(counting.count("settings"), 0, "{:?}", counting.calls());
}
