//! The behaviour every [`Store`] must have, as one suite any adapter's tests run, a part per
//! capability (each check asks only for the part it checks). Tenants are named with a random
//! suffix so the suite can run against a shared table repeatedly.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};

use super::{
    CursorStore, CustomerLink, DeliveryStore, FlowSave, FlowStore, LinkStore, Store, StoreError,
    SyncStore, TenantStore,
};
use crate::billing::model::Source;
use crate::flow::state::{ErrorEntry, FlowState, FlowStatus};
use crate::settings::TenantSettings;

fn tenant(name: &str) -> String {
    format!("{name}-{:08x}", rand::random::<u32>())
}

fn settings(tenant: &str) -> TenantSettings {
    TenantSettings::from_value(&serde_json::json!({
        "tenant": tenant, "source": "maxio", "site": "acme-demo", "sync_start_date": "2026-01-01",
        "items": {"tax_item": {"id": "100", "type": "non_inventory"}, "discount_item": "101",
                  "products": {"1": {"id": "102", "type": "inventory"}}},
        "payments": {"payment_instruments": true},
        "refunds": {"account": "9"}
    }))
    .expect("the conformance settings are valid")
}

fn flow(uid: &str, minute: u32) -> FlowState {
    FlowState::new(
        Source::Maxio,
        uid,
        Utc.with_ymd_and_hms(2026, 1, 31, 10, minute, 0).unwrap(),
    )
}

/// Runs every check against `store`.
pub async fn run<S: Store + 'static>(store: &S) {
    settings_round_trip(store).await;
    customers_round_trip(store).await;
    item_links_round_trip(store).await;
    flow_versions_are_conditional(store).await;
    flows_saved_together(store).await;
    flows_by_status_and_counts(store).await;
    many_read_together(store).await;
    cursors(store).await;
    deliveries_are_deduplicated(store).await;
    webhook_arrival_noted(store).await;
}

/// Two writers racing on one version: exactly one wins. Needs a shareable store.
pub async fn run_concurrent<S: FlowStore + 'static>(store: Arc<S>) {
    let t = tenant("race");
    let v1 = store
        .save_flow(&t, &flow("inv_race", 0), None)
        .await
        .unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            let t = t.clone();
            tokio::spawn(async move {
                let mut state = flow("inv_race", 0);
                state.sales_order_id = Some(format!("so-{i}"));
                store.save_flow(&t, &state, Some(v1)).await
            })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(v) => {
                assert_eq!(v, v1 + 1);
                wins += 1;
            }
            Err(StoreError::Conflict { .. }) => {}
            Err(e) => panic!("unexpected store error: {e}"),
        }
    }
    assert_eq!(wins, 1, "exactly one writer advances a version");
}

async fn settings_round_trip<S: TenantStore>(store: &S) {
    let t = tenant("settings");
    assert!(store.settings(&t).await.unwrap().is_none());
    let mut s = settings(&t);
    store.put_settings(&s).await.unwrap();
    assert_eq!(store.settings(&t).await.unwrap().as_ref(), Some(&s));
    s.skip_zero_dollar = true;
    store.put_settings(&s).await.unwrap();
    assert_eq!(store.settings(&t).await.unwrap().as_ref(), Some(&s));
    assert!(store.tenants().await.unwrap().contains(&t));
}

async fn customers_round_trip<S: LinkStore>(store: &S) {
    let t = tenant("customers");
    assert!(store.customer(&t, "41870213").await.unwrap().is_none());
    let mut link = CustomerLink {
        netsuite_id: "107".into(),
        currencies: vec!["USD".into()],
        fingerprint: Some("c0ffee".into()),
    };
    store.put_customer(&t, "41870213", &link).await.unwrap();
    assert_eq!(
        store.customer(&t, "41870213").await.unwrap().as_ref(),
        Some(&link)
    );
    link.currencies.push("EUR".into());
    store.put_customer(&t, "41870213", &link).await.unwrap();
    assert_eq!(
        store.customer(&t, "41870213").await.unwrap().as_ref(),
        Some(&link)
    );
    assert!(store
        .customer(&tenant("other"), "41870213")
        .await
        .unwrap()
        .is_none());
}

async fn item_links_round_trip<S: LinkStore>(store: &S) {
    use crate::netsuite::records::ItemType;
    use crate::settings::{ItemRef, NsId};
    let t = tenant("items");
    assert!(store.item_link(&t, "pro-USD").await.unwrap().is_none());
    let item = ItemRef {
        id: NsId::parse("311").unwrap(),
        item_type: ItemType::NonInventory,
    };
    store.put_item_link(&t, "pro-USD", &item).await.unwrap();
    assert_eq!(
        store.item_link(&t, "pro-USD").await.unwrap().as_ref(),
        Some(&item)
    );
    assert!(store
        .item_link(&tenant("other"), "pro-USD")
        .await
        .unwrap()
        .is_none());
}

async fn flow_versions_are_conditional<S: FlowStore>(store: &S) {
    let t = tenant("flows");
    assert!(store.flow(&t, "inv_1").await.unwrap().is_none());
    let mut state = flow("inv_1", 0);
    let v1 = store.save_flow(&t, &state, None).await.unwrap();
    assert!(matches!(
        store.save_flow(&t, &state, None).await,
        Err(StoreError::Conflict { .. })
    ));
    state.sales_order_id = Some("812".into());
    state.payments.insert("880214507".into(), "901".into());
    let v2 = store.save_flow(&t, &state, Some(v1)).await.unwrap();
    assert!(v2 > v1);
    assert!(matches!(
        store.save_flow(&t, &state, Some(v1)).await,
        Err(StoreError::Conflict { .. })
    ));
    let read = store.flow(&t, "inv_1").await.unwrap().unwrap();
    assert_eq!(read.version, v2);
    assert_eq!(read.value, state);
}

/// Saves made together are each what a save alone would be: new flows, advances, a stale
/// version refused for its own flow only, two tenants, one flow twice, and settled flows
/// leaving the listing.
async fn flows_saved_together<S: FlowStore>(store: &S) {
    let (t, u) = (tenant("together"), tenant("together-other"));
    let old = flow("inv_old", 0);
    let v_old = store.save_flow(&t, &old, None).await.unwrap();
    let mut moved = flow("inv_moved", 0);
    let v_moved = store.save_flow(&t, &moved, None).await.unwrap();
    moved.sales_order_id = Some("700".into());
    let v_moved2 = store.save_flow(&t, &moved, Some(v_moved)).await.unwrap();

    let mut advanced = old.clone();
    advanced.status = FlowStatus::Synced;
    advanced.sales_order_id = Some("812".into());
    let (new_t, new_u) = (flow("inv_new", 1), flow("inv_new", 2));
    let mut stale = moved.clone();
    stale.sales_order_id = Some("from a stale read".into());
    let mut twice = flow("inv_twice", 3);
    let twice_first = twice.clone();
    twice.sales_order_id = Some("second".into());
    let answers = store
        .save_flows(&[
            FlowSave {
                tenant: &t,
                state: &advanced,
                expected: Some(v_old),
            },
            FlowSave {
                tenant: &t,
                state: &new_t,
                expected: None,
            },
            FlowSave {
                tenant: &t,
                state: &stale,
                expected: Some(v_moved),
            },
            FlowSave {
                tenant: &u,
                state: &new_u,
                expected: None,
            },
            FlowSave {
                tenant: &t,
                state: &twice_first,
                expected: None,
            },
            // Made from the same read as the one before it: refused once that is written.
            FlowSave {
                tenant: &t,
                state: &twice,
                expected: None,
            },
        ])
        .await;
    assert_eq!(answers.len(), 6, "{answers:?}");
    assert_eq!(answers[0].as_ref().unwrap(), &(v_old + 1));
    assert_eq!(answers[1].as_ref().unwrap(), &1);
    assert!(
        matches!(answers[2], Err(StoreError::Conflict { expected: Some(v), .. }) if v == v_moved),
        "{:?}",
        answers[2]
    );
    assert_eq!(answers[3].as_ref().unwrap(), &1);
    assert_eq!(answers[4].as_ref().unwrap(), &1);
    assert!(
        matches!(answers[5], Err(StoreError::Conflict { .. })),
        "{:?}",
        answers[5]
    );

    let read = |tenant: &str, uid: &str| {
        let (tenant, uid) = (tenant.to_owned(), uid.to_owned());
        async move { store.flow(&tenant, &uid).await.unwrap().unwrap() }
    };
    let got = read(&t, "inv_old").await;
    assert_eq!((got.version, &got.value), (v_old + 1, &advanced));
    assert_eq!(read(&t, "inv_new").await.value, new_t);
    assert_eq!(read(&u, "inv_new").await.value, new_u);
    let kept = read(&t, "inv_moved").await;
    assert_eq!(
        (kept.version, &kept.value),
        (v_moved2, &moved),
        "the stale save wrote nothing"
    );
    assert_eq!(read(&t, "inv_twice").await.value, twice_first);
    let pending = store
        .flows_with_status(&t, FlowStatus::Pending, 10)
        .await
        .unwrap();
    let mut uids: Vec<&str> = pending
        .iter()
        .map(|f| f.value.invoice_uid.as_str())
        .collect();
    uids.sort_unstable();
    assert_eq!(
        uids,
        ["inv_moved", "inv_new", "inv_twice"],
        "the synced flow left the listing"
    );
    assert!(store.save_flows(&[]).await.is_empty());
}

async fn flows_by_status_and_counts<S: FlowStore>(store: &S) {
    let t = tenant("status");
    for (i, status) in [
        FlowStatus::Error,
        FlowStatus::Synced,
        FlowStatus::Error,
        FlowStatus::Parked,
    ]
    .into_iter()
    .enumerate()
    {
        let mut state = flow(&format!("inv_{i}"), i as u32);
        state.status = status;
        if status == FlowStatus::Error {
            state.last_error = Some(ErrorEntry {
                step: "create sales order".into(),
                code: Some("USER_ERROR".into()),
                detail: "Please enter value(s) for: Department.".into(),
                cause: "cause".into(),
                fix: "fix".into(),
                retryable: false,
                since: state.updated_at,
            });
        }
        store.save_flow(&t, &state, None).await.unwrap();
    }
    let errors = store
        .flows_with_status(&t, FlowStatus::Error, 10)
        .await
        .unwrap();
    let uids: Vec<_> = errors
        .iter()
        .map(|f| f.value.invoice_uid.as_str())
        .collect();
    assert_eq!(uids, ["inv_0", "inv_2"], "oldest first");
    assert!(errors[0].value.last_error.is_some());
    assert_eq!(
        store
            .flows_with_status(&t, FlowStatus::Error, 1)
            .await
            .unwrap()
            .len(),
        1
    );

    // Leaving the error status leaves the error list.
    let mut fixed = errors[0].value.clone();
    fixed.status = FlowStatus::Synced;
    fixed.last_error = None;
    store
        .save_flow(&t, &fixed, Some(errors[0].version))
        .await
        .unwrap();
    assert_eq!(
        store
            .flows_with_status(&t, FlowStatus::Error, 10)
            .await
            .unwrap()
            .len(),
        1
    );

    let counts = store.flow_counts(&t).await.unwrap();
    let count = |s| counts.iter().find(|(k, _)| *k == s).map_or(0, |(_, n)| *n);
    assert_eq!(count(FlowStatus::Synced), 2);
    assert_eq!(count(FlowStatus::Error), 1);
    assert_eq!(count(FlowStatus::Parked), 1);
    assert_eq!(count(FlowStatus::Pending), 0);
}

/// What [`FlowStore::read_many`] answers is what the single reads would; keys may repeat, and
/// more than one batch call's worth (100 on DynamoDB) are read.
async fn many_read_together<S: SyncStore>(store: &S) {
    let t = tenant("many");
    let v = store.save_flow(&t, &flow("inv_a", 1), None).await.unwrap();
    let mut b = flow("inv_b", 2);
    b.status = FlowStatus::Synced;
    store.save_flow(&t, &b, None).await.unwrap();
    let link = CustomerLink {
        netsuite_id: "107".into(),
        currencies: vec!["USD".into()],
        fingerprint: None,
    };
    store.put_customer(&t, "c1", &link).await.unwrap();
    store
        .save_flow(&tenant("other"), &flow("inv_c", 3), None)
        .await
        .unwrap();

    let mut uids: Vec<String> = (0..150).map(|i| format!("inv_none_{i}")).collect();
    uids.extend(["inv_a", "inv_b", "inv_c", "inv_a"].map(String::from));
    let customers = ["c1", "c2", "c1"].map(String::from);
    let read = store.read_many(&t, &uids, &customers).await.unwrap();
    assert_eq!(read.flows.len(), 153, "every distinct invoice is answered");
    let a = read.flows["inv_a"].as_ref().expect("inv_a has a flow");
    assert_eq!((a.version, &a.value), (v, &flow("inv_a", 1)));
    let b_read = read.flows["inv_b"].as_ref().expect("inv_b has a flow");
    assert_eq!(b_read.value.status, FlowStatus::Synced);
    assert!(read.flows["inv_c"].is_none(), "another tenant's flow");
    assert!(read.flows["inv_none_149"].is_none());
    assert_eq!(read.customers.len(), 1, "only linked customers");
    assert_eq!(read.customers["c1"], link);
}

async fn cursors<S: CursorStore>(store: &S) {
    let t = tenant("cursors");
    assert!(store
        .cursor(&t, "maxio-invoice-events")
        .await
        .unwrap()
        .is_none());
    store
        .put_cursor(&t, "maxio-invoice-events", "4100238")
        .await
        .unwrap();
    store
        .put_cursor(&t, "maxio-invoice-events", "4100240")
        .await
        .unwrap();
    assert_eq!(
        store
            .cursor(&t, "maxio-invoice-events")
            .await
            .unwrap()
            .as_deref(),
        Some("4100240")
    );
    assert!(store.cursor(&t, "other").await.unwrap().is_none());
}

async fn deliveries_are_deduplicated<S: DeliveryStore>(store: &S) {
    let t = tenant("hooks");
    let day = Duration::from_secs(86_400);
    assert!(store.first_delivery(&t, "5188700101", day).await.unwrap());
    assert!(
        !store.first_delivery(&t, "5188700101", day).await.unwrap(),
        "a replay is recognised"
    );
    assert!(store.first_delivery(&t, "5188700102", day).await.unwrap());
    assert!(store
        .first_delivery(&tenant("other"), "5188700101", day)
        .await
        .unwrap());
    // A forgotten delivery (its enqueue failed) is processed when it comes again.
    store.forget_delivery(&t, "5188700102").await.unwrap();
    assert!(store.first_delivery(&t, "5188700102", day).await.unwrap());
    // An entry past its time to live no longer counts.
    assert!(store
        .first_delivery(&t, "short-lived", Duration::ZERO)
        .await
        .unwrap());
    assert!(store.first_delivery(&t, "short-lived", day).await.unwrap());
}

async fn webhook_arrival_noted<S: DeliveryStore>(store: &S) {
    let t = tenant("noted");
    assert!(store.last_webhook(&t).await.unwrap().is_none());
    store
        .note_webhook(&t, "2026-12-07T09:00:00+00:00")
        .await
        .unwrap();
    store
        .note_webhook(&t, "2026-12-07T09:05:00+00:00")
        .await
        .unwrap();
    assert_eq!(
        store.last_webhook(&t).await.unwrap().as_deref(),
        Some("2026-12-07T09:05:00+00:00")
    );
    assert!(store
        .last_webhook(&tenant("unnoted"))
        .await
        .unwrap()
        .is_none());
}
