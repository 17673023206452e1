//! The Maxio client against the billing simulator: paging, event streams, concurrency, 429
//! backoff, authentication, and webhooks from delivery to de-duplication.

use std::time::Duration;

use billing_sim::{BillingSim, DatasetSpec, SimConfig, WebhookEvent};
use billsync::billing::maxio::client::{
    DateField, EventsSince, InvoiceQuery, MaxioClient, MaxioConfig,
};
use billsync::billing::maxio::webhook::{self, MaxioEvent};
use billsync::netsuite::RetryPolicy;
use billsync::store::prelude::*;
use billsync::store::sqlite::SqliteStore;
use chrono::NaiveDate;
use futures::{StreamExt, TryStreamExt};

fn client(sim: &BillingSim, key: Option<&str>, concurrency: usize) -> MaxioClient {
    let c = sim.config();
    let mut config = MaxioConfig::new(c.subdomain.clone(), key.unwrap_or(&c.api_key).into());
    config.base_url = Some(sim.base_url().parse().unwrap());
    config.concurrency = concurrency;
    config.retry = RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
    };
    MaxioClient::new(config).unwrap()
}

fn spec(invoices: usize) -> DatasetSpec {
    DatasetSpec {
        invoices,
        ..DatasetSpec::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_through_ten_thousand_events_one_page_at_a_time() {
    let sim = BillingSim::start_with(SimConfig::default(), &spec(5_000))
        .await
        .unwrap();
    let total = sim.event_count();
    assert!(total >= 10_000, "the dataset has {total} events");
    let c = client(&sim, None, 2);
    sim.reset_stats();
    // Folded as they stream: a counter and the last six ids are all that is kept.
    let (count, tail, ascending) = c
        .invoice_events(EventsSince::Id(0), 200)
        .try_fold(
            (0usize, std::collections::VecDeque::new(), true),
            |(n, mut tail, asc), e| async move {
                let asc = asc && tail.back().is_none_or(|last| e.id > *last);
                tail.push_back(e.id);
                if tail.len() > 6 {
                    tail.pop_front();
                }
                Ok((n + 1, tail, asc))
            },
        )
        .await
        .unwrap();
    assert_eq!(count, total);
    assert!(ascending, "events arrive in ascending id order");
    let pages = sim.stats().requests_by_endpoint["GET /invoices/events.json"];
    assert_eq!(
        pages as usize,
        total.div_ceil(200),
        "200-event pages, no re-reads"
    );

    // From a cursor: only what came after it.
    let rest: Vec<_> = c
        .invoice_events(EventsSince::Id(tail[0]), 200)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rest.len(), 5);
}

#[tokio::test]
async fn every_generated_invoice_parses_maps_and_adds_up() {
    let sim = BillingSim::start_with(SimConfig::default(), &spec(200))
        .await
        .unwrap();
    let c = client(&sim, None, 2);
    let query = InvoiceQuery {
        date_field: DateField::IssueDate,
        start_date: NaiveDate::from_ymd_opt(2025, 12, 1).unwrap(),
        end_date: NaiveDate::from_ymd_opt(2026, 3, 31).unwrap(),
        per_page: 50,
    };
    let invoices: Vec<_> = c.invoices(query).try_collect().await.unwrap();
    assert_eq!(invoices.len(), sim.invoice_uids().len());
    for inv in &invoices {
        inv.validate().unwrap_or_else(|e| panic!("{e}"));
    }
    // Single reads agree with the listing.
    let one = c.invoice(&invoices[7].uid).await.unwrap();
    assert_eq!(one, invoices[7]);
    let notes: Vec<_> = c.credit_notes().try_collect().await.unwrap();
    assert_eq!(notes.len(), sim.credit_note_uids().len());
    let customers: Vec<_> = c.customers().try_collect().await.unwrap();
    assert_eq!(customers.len(), sim.customer_ids().len());
    assert!(!c
        .products()
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .is_empty());
    assert!(!c
        .components()
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn stays_within_four_requests_and_backs_off_on_429() {
    let sim = BillingSim::start_with(SimConfig::default(), &spec(40))
        .await
        .unwrap();
    sim.set_latency(Duration::from_millis(20));
    let uids = sim.invoice_uids();
    let c = client(&sim, None, 16); // asks for more than Maxio allows; capped at 4
    sim.reset_stats();
    let reads = futures::stream::iter(uids.iter().take(24))
        .map(|u| c.invoice(u))
        .buffer_unordered(24)
        .collect::<Vec<_>>()
        .await;
    assert!(reads.iter().all(Result::is_ok));
    let stats = sim.stats();
    assert_eq!(stats.rejected_429, 0);
    assert!(stats.peak_in_flight <= 4, "peak {}", stats.peak_in_flight);

    sim.set_latency(Duration::ZERO);
    sim.fail_next(2, 429);
    c.invoice(&uids[0]).await.expect("served after two 429s");
    assert_eq!(sim.stats().injected_failures, 2);
}

#[tokio::test]
async fn a_wrong_api_key_is_refused_and_not_retried() {
    let sim = BillingSim::start_with(SimConfig::default(), &spec(5))
        .await
        .unwrap();
    let c = client(&sim, Some("not-the-key"), 2);
    let e = c.invoice(&sim.invoice_uids()[0]).await.unwrap_err();
    assert_eq!(e.status(), Some(401));
    assert!(!e.is_retryable());
    assert_eq!(sim.stats().unauthorized_401, 1);
    assert!(!e.to_string().contains("not-the-key"));
}

#[tokio::test]
async fn webhooks_verify_decode_and_replays_are_recognised() {
    let sim = BillingSim::start_with(SimConfig::default(), &spec(10))
        .await
        .unwrap();
    let key = billsync::Secret::new(sim.config().shared_key);
    let uid = sim.invoice_uids()[0].clone();
    let (id, body, sig) = sim.webhook_body(&WebhookEvent::InvoiceIssued {
        invoice_uid: uid.clone(),
    });
    let d = webhook::receive(&body, Some(&sig), &key).unwrap();
    assert_eq!(
        d.event,
        MaxioEvent::InvoiceIssued {
            invoice_uid: uid.clone()
        }
    );
    assert_eq!(d.site_subdomain.as_deref(), Some("acme-demo"));

    let store = SqliteStore::in_memory().unwrap();
    let ttl = Duration::from_secs(3 * 86_400);
    assert!(store
        .first_delivery("acme", &d.delivery_id, ttl)
        .await
        .unwrap());
    // Maxio resends with the same webhook id: recognised as a replay.
    let (id2, body2, sig2) = sim.webhook_body(&WebhookEvent::InvoiceIssued { invoice_uid: uid });
    assert_eq!(id2, id, "a re-send keeps its webhook id");
    let again = webhook::receive(&body2, Some(&sig2), &key).unwrap();
    assert!(!store
        .first_delivery("acme", &again.delivery_id, ttl)
        .await
        .unwrap());

    // One changed byte fails the signature.
    let mut bad = body.clone();
    bad[10] ^= 0x20;
    assert_eq!(
        webhook::receive(&bad, Some(&sig), &key).unwrap_err(),
        webhook::WebhookError::BadSignature
    );
}
