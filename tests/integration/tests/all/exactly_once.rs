//! Exactly once, to the cent, for the billing shapes one invoice at a time does not show: one
//! payment for several invoices, a group payment over segments, a store that lost what it
//! knew. Each asserts NetSuite's own balances, not billsync's plan.

use crate::common;

use billing_sim::{NewInvoice, NewLine, NewSegment, PaymentKind};
use billsync::flow::run::{Engine, Outcome};
use billsync::flow::state::FlowStatus;
use billsync::store::prelude::*;
use billsync::store::sqlite::SqliteStore;
use common::world::{day, money, world, World};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

fn plan_invoice(w: &World, d: u32, quantity: Decimal) -> NewInvoice {
    NewInvoice {
        lines: vec![NewLine::Product {
            product_id: w.plan,
            quantity,
        }],
        ..NewInvoice::new(w.customer, day(d))
    }
}

fn hardware_invoice(w: &World, d: u32) -> NewInvoice {
    NewInvoice {
        lines: vec![NewLine::Product {
            product_id: w.hardware,
            quantity: dec!(1),
        }],
        ..NewInvoice::new(w.customer, day(d))
    }
}

fn total(w: &World, uid: &str) -> Decimal {
    money(&w.bill.invoice_json(uid).unwrap()["total_amount"])
}

fn due(w: &World, uid: &str) -> Decimal {
    money(&w.bill.invoice_json(uid).unwrap()["due_amount"])
}

/// NetSuite's invoice made for a billing invoice, found by its external id.
fn ns_invoice(w: &World, uid: &str) -> Value {
    let eid = format!("bs-acme-inv-{uid}");
    w.ns.records("invoice")
        .into_iter()
        .find(|r| r["externalId"] == eid.as_str())
        .unwrap_or_else(|| panic!("no NetSuite invoice {eid}"))
}

/// Every billing invoice's NetSuite open balance equals billing's amount due.
fn assert_balances_match(w: &World, uids: &[String]) {
    for uid in uids {
        assert_eq!(
            money(&ns_invoice(w, uid)["amountRemaining"]),
            due(w, uid),
            "invoice {uid}: NetSuite's amount remaining against billing's amount due"
        );
    }
}

async fn sync_with(w: &World, store: &dyn SyncStore, uid: &str) -> Outcome {
    let engine = Engine {
        netsuite: &w.netsuite,
        store,
        billing: &w.maxio,
    };
    engine.sync_invoice(&w.settings, uid).await.unwrap()
}

/// The apply lines of a NetSuite payment as (invoice id, amount).
fn applied(payment: &Value) -> Vec<(String, Decimal)> {
    let mut lines: Vec<(String, Decimal)> = payment["apply"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["apply"] != json!(false))
        .map(|l| {
            (
                l["doc"]["id"].as_str().unwrap().to_owned(),
                money(&l["amount"]),
            )
        })
        .collect();
    lines.sort();
    lines
}

#[tokio::test]
async fn one_payment_for_two_invoices_is_one_netsuite_payment_applied_to_both() {
    for second_first in [false, true] {
        let w = world(|_| {}).await;
        let a = w.bill.issue_invoice(plan_invoice(&w, 5, dec!(1)));
        let b = w.bill.issue_invoice(plan_invoice(&w, 6, dec!(2)));
        let (ta, tb) = (total(&w, &a), total(&w, &b));
        let txn = w
            .bill
            .pay_many(&[(&a, ta), (&b, tb)], PaymentKind::Check)
            .unwrap();
        let order = if second_first { [&b, &a] } else { [&a, &b] };
        for uid in order {
            let out = w.sync(uid).await;
            assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
        }
        let payments = w.ns.records("customerPayment");
        assert_eq!(
            payments.len(),
            1,
            "one NetSuite payment per billing transaction"
        );
        let p = &payments[0];
        assert_eq!(p["externalId"], format!("bs-acme-pmt-{txn}"));
        assert_eq!(money(&p["payment"]), ta + tb, "the whole transaction");
        let mut want = vec![
            (ns_invoice(&w, &a)["id"].as_str().unwrap().to_owned(), ta),
            (ns_invoice(&w, &b)["id"].as_str().unwrap().to_owned(), tb),
        ];
        want.sort();
        assert_eq!(applied(p), want, "billing's amount on each invoice");
        assert_balances_match(&w, &[a.clone(), b.clone()]);

        let before = w.counts();
        for uid in [&a, &b] {
            let again = w.sync(uid).await;
            assert_eq!(again.status, FlowStatus::Synced);
            assert!(again.created.is_empty(), "{again:?}");
        }
        assert_eq!(w.counts(), before);
        assert_eq!(applied(&w.ns.records("customerPayment")[0]), want);
    }
}

#[tokio::test]
async fn a_part_payment_over_two_invoices_leaves_billings_balances_open() {
    let w = world(|_| {}).await;
    let a = w.bill.issue_invoice(plan_invoice(&w, 5, dec!(1)));
    let b = w.bill.issue_invoice(plan_invoice(&w, 6, dec!(1)));
    w.bill
        .pay_many(&[(&a, dec!(100.00)), (&b, dec!(25.50))], PaymentKind::Cash)
        .unwrap();
    for uid in [&a, &b] {
        assert_eq!(w.sync(uid).await.status, FlowStatus::Synced);
    }
    let p = &w.ns.records("customerPayment")[0];
    assert_eq!(money(&p["payment"]), dec!(125.50));
    assert_balances_match(&w, &[a, b]);
}

#[tokio::test]
async fn a_group_payment_is_spread_over_the_segments() {
    for on_segments in [true, false] {
        group_payment_spread(on_segments).await;
    }
}

/// `on_segments`: billing lists the payment on each segment with its share; else on the
/// consolidated invoice alone.
async fn group_payment_spread(on_segments: bool) {
    let w = world(|d| d["invoices"] = json!({"subscription_groups": "child"})).await;
    let segment = |q| NewSegment {
        lines: vec![NewLine::Product {
            product_id: w.plan,
            quantity: q,
        }],
        ..Default::default()
    };
    let parent = w.bill.issue_invoice(NewInvoice {
        consolidation: billing_sim::Consolidation::Parent {
            segments: vec![segment(dec!(1)), segment(dec!(2)), segment(dec!(3))],
        },
        ..NewInvoice::new(w.customer, day(7))
    });
    let parent_total = total(&w, &parent);
    if on_segments {
        w.bill
            .pay(&parent, parent_total, PaymentKind::BankAccount)
            .unwrap();
    } else {
        w.bill
            .pay_parent_only(&parent, parent_total, PaymentKind::BankAccount)
            .unwrap();
    }
    let children = w.segments();
    assert_eq!(children.len(), 3);
    assert_eq!(w.sync(&parent).await.status, FlowStatus::Skipped);
    for c in &children {
        let out = w.sync(c).await;
        assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
    }
    let payments = w.ns.records("customerPayment");
    assert_eq!(payments.len(), 1);
    assert_eq!(money(&payments[0]["payment"]), parent_total);
    assert_eq!(applied(&payments[0]).len(), 3);
    for c in &children {
        assert_eq!(
            money(&ns_invoice(&w, c)["amountRemaining"]),
            dec!(0),
            "segment {c} is paid with its group"
        );
    }
    if on_segments {
        assert_balances_match(&w, &children);
    }
}

/// Billing shapes whose NetSuite records a resync must find, not make again.
async fn mixed_book(w: &World) -> Vec<String> {
    let paid = w.bill.issue_invoice(w.standard_invoice(3));
    w.bill
        .pay(&paid, total(w, &paid), PaymentKind::CreditCard)
        .unwrap();
    let a = w.bill.issue_invoice(plan_invoice(w, 4, dec!(1)));
    let b = w.bill.issue_invoice(plan_invoice(w, 4, dec!(2)));
    w.bill
        .pay_many(
            &[(&a, total(w, &a)), (&b, total(w, &b))],
            PaymentKind::Check,
        )
        .unwrap();
    let credited = w.bill.issue_invoice(plan_invoice(w, 5, dec!(1)));
    w.bill
        .issue_credit_note(&credited, dec!(20.00), "Goodwill")
        .unwrap();
    let refunded = w.bill.issue_invoice(plan_invoice(w, 5, dec!(1)));
    let txn = w
        .bill
        .pay(&refunded, total(w, &refunded), PaymentKind::CreditCard)
        .unwrap();
    w.bill.refund(&refunded, txn, dec!(30.00)).unwrap();
    let open = w.bill.issue_invoice(plan_invoice(w, 6, dec!(1)));

    // Inventory: one paid before fulfilment (a deposit), one paid after (a payment).
    let early = w.bill.issue_invoice(hardware_invoice(w, 6));
    w.bill
        .pay(&early, total(w, &early), PaymentKind::BankAccount)
        .unwrap();
    let late = w.bill.issue_invoice(hardware_invoice(w, 7));
    vec![paid, a, b, credited, refunded, open, early, late]
}

/// Syncs every invoice until none moves on, fulfilling orders as a warehouse would and paying
/// the late inventory invoice once its order has shipped.
async fn sync_book(w: &World, store: &dyn SyncStore, uids: &[String]) {
    for _round in 0..3 {
        for uid in uids {
            let out = sync_with(w, store, uid).await;
            assert!(out.error.is_none(), "{uid}: {out:?}");
        }
        for so in w.ns.records("salesOrder") {
            if so["status"]["id"] == "B" {
                w.ns.fulfill_sales_order(so["id"].as_str().unwrap())
                    .unwrap();
            }
        }
        let late = uids.last().unwrap();
        if due(w, late) > Decimal::ZERO && !w.ns.records("invoice").is_empty() {
            let made =
                w.ns.records("invoice")
                    .iter()
                    .any(|r| r["externalId"] == format!("bs-acme-inv-{late}").as_str());
            if made {
                w.bill.pay(late, due(w, late), PaymentKind::Check).unwrap();
            }
        }
    }
    for uid in uids {
        let state = store.flow("acme", uid).await.unwrap().unwrap().value;
        assert_eq!(state.status, FlowStatus::Synced, "{uid}: {state:?}");
    }
}

#[tokio::test]
async fn a_resync_from_an_empty_store_creates_nothing() {
    let w = world(|_| {}).await;
    let uids = mixed_book(&w).await;
    sync_book(&w, &w.store, &uids).await;
    assert_balances_match(&w, &uids);
    let before = w.counts();
    assert_eq!(
        w.ns.records("customerDeposit").len(),
        1,
        "the early inventory payment"
    );

    let empty = SqliteStore::in_memory().unwrap();
    empty.put_settings(&w.settings).await.unwrap();
    for uid in &uids {
        let out = sync_with(&w, &empty, uid).await;
        assert_eq!(out.status, FlowStatus::Synced, "{uid}: {out:?}");
    }
    assert_eq!(w.counts(), before, "nothing made twice");
    assert_balances_match(&w, &uids);
}

#[tokio::test]
async fn a_store_that_lost_the_invoice_and_payment_ids_finds_them() {
    let w = world(|_| {}).await;
    let uids = mixed_book(&w).await;
    sync_book(&w, &w.store, &uids).await;
    let before = w.counts();
    // As after a crash between NetSuite's answers and the save of their ids: the order is
    // known, what was made from it is not.
    for uid in &uids {
        let v = w.store.flow("acme", uid).await.unwrap().unwrap();
        let mut state = v.value;
        state.invoice_id = None;
        state.fulfilled = false;
        state.payments.clear();
        state.deposits.clear();
        state.deposit_applications.clear();
        state.credit_memos.clear();
        state.refunds.clear();
        state.status = FlowStatus::Pending;
        w.store
            .save_flow("acme", &state, Some(v.version))
            .await
            .unwrap();
    }
    for uid in &uids {
        let out = w.sync(uid).await;
        assert_eq!(out.status, FlowStatus::Synced, "{uid}: {out:?}");
        assert!(out.error.is_none());
    }
    assert_eq!(w.counts(), before, "nothing made twice");
    assert_balances_match(&w, &uids);
}

#[tokio::test]
async fn a_payment_taken_after_netsuite_fulfilled_the_order_is_a_payment() {
    let w = world(|_| {}).await;
    let uid = w.bill.issue_invoice(hardware_invoice(&w, 5));
    assert_eq!(w.sync(&uid).await.status, FlowStatus::AwaitingFulfilment);
    let so = w.ns.records("salesOrder")[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Shipped in NetSuite, then paid in billing before billsync looked again.
    w.ns.fulfill_sales_order(&so).unwrap();
    w.bill
        .pay(&uid, total(&w, &uid), PaymentKind::Check)
        .unwrap();
    let out = w.sync(&uid).await;
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
    assert_eq!(w.ns.records("customerDeposit").len(), 0);
    assert_eq!(w.ns.records("customerPayment").len(), 1);
    assert_balances_match(&w, &[uid]);
}

/// The apply lines of a NetSuite credit memo as (invoice id, amount).
fn memo_applied(memo: &Value) -> Vec<(String, Decimal)> {
    match memo["apply"]["items"].as_array() {
        Some(_) => applied(memo),
        None => Vec::new(),
    }
}

#[tokio::test]
async fn a_credit_note_applied_to_another_invoice_is_booked_there() {
    for origin_first in [true, false] {
        let w = world(|_| {}).await;
        let a = w.bill.issue_invoice(plan_invoice(&w, 5, dec!(1)));
        let b = w.bill.issue_invoice(plan_invoice(&w, 6, dec!(1)));
        let cn = w
            .bill
            .raise_credit_note(&a, dec!(20.00), "Goodwill")
            .unwrap();
        w.bill.apply_credit_note(&cn, &b, dec!(20.00)).unwrap();
        if !origin_first {
            // The credit waits for the invoice it was raised on; the sweep runs it again.
            let out = w.sync(&b).await;
            assert_eq!(out.status, FlowStatus::Parked, "{out:?}");
            let state = w.store.flow("acme", &b).await.unwrap().unwrap().value;
            assert!(state.reason.unwrap().contains(&a));
        }
        for uid in [&a, &b] {
            let out = w.sync(uid).await;
            assert_eq!(out.status, FlowStatus::Synced, "{uid}: {out:?}");
        }
        let memos = w.ns.records("creditMemo");
        assert_eq!(memos.len(), 1, "one credit memo per credit note");
        let memo = &memos[0];
        assert_eq!(memo["externalId"], format!("bs-acme-cm-{cn}"));
        assert_eq!(memo["createdFrom"]["id"], ns_invoice(&w, &a)["id"]);
        assert_eq!(money(&memo["total"]), dec!(20.00));
        assert_eq!(
            memo_applied(memo),
            vec![(
                ns_invoice(&w, &b)["id"].as_str().unwrap().to_owned(),
                dec!(20.00)
            )]
        );
        assert_balances_match(&w, &[a.clone(), b.clone()]);
        let before = w.counts();
        for uid in [&a, &b] {
            assert!(w.sync(uid).await.created.is_empty());
        }
        assert_eq!(w.counts(), before);
    }
}

#[tokio::test]
async fn an_unapplied_credit_note_is_customer_credit_in_netsuite() {
    let w = world(|_| {}).await;
    let a = w.bill.issue_invoice(plan_invoice(&w, 5, dec!(1)));
    let cn = w
        .bill
        .raise_credit_note(&a, dec!(15.00), "Service credit")
        .unwrap();
    let out = w.sync(&a).await;
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
    let memos = w.ns.records("creditMemo");
    assert_eq!(memos.len(), 1, "the note is booked, not dropped");
    assert_eq!(memos[0]["externalId"], format!("bs-acme-cm-{cn}"));
    assert_eq!(money(&memos[0]["total"]), dec!(15.00));
    assert_eq!(money(&memos[0]["unapplied"]), dec!(15.00));
    assert_balances_match(&w, std::slice::from_ref(&a));

    // Applied later, partly here and partly to a new invoice.
    let b = w.bill.issue_invoice(plan_invoice(&w, 8, dec!(1)));
    w.bill.apply_credit_note(&cn, &a, dec!(5.00)).unwrap();
    w.bill.apply_credit_note(&cn, &b, dec!(10.00)).unwrap();
    for uid in [&a, &b] {
        let out = w.sync(uid).await;
        assert_eq!(out.status, FlowStatus::Synced, "{uid}: {out:?}");
    }
    let memos = w.ns.records("creditMemo");
    assert_eq!(memos.len(), 1);
    assert_eq!(money(&memos[0]["unapplied"]), dec!(0));
    assert_balances_match(&w, &[a, b]);
}

#[tokio::test]
async fn a_void_after_sync_is_reversed_in_netsuite() {
    let w = world(|_| {}).await;
    let uid = w.bill.issue_invoice(plan_invoice(&w, 5, dec!(2)));
    assert_eq!(w.sync(&uid).await.status, FlowStatus::Synced);
    let posted = ns_invoice(&w, &uid);
    w.bill.void(&uid).unwrap();

    let out = w.sync(&uid).await;
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
    let memos = w.ns.records("creditMemo");
    assert_eq!(memos.len(), 1, "the void reaches NetSuite");
    assert_eq!(memos[0]["externalId"], format!("bs-acme-void-{uid}"));
    assert_eq!(memos[0]["createdFrom"]["id"], posted["id"]);
    assert_eq!(money(&memos[0]["total"]), money(&posted["total"]));
    assert_eq!(money(&ns_invoice(&w, &uid)["amountRemaining"]), dec!(0));
    let before = w.counts();
    assert!(w.sync(&uid).await.created.is_empty());
    assert_eq!(w.counts(), before);

    // From an empty store the reversal is found, not made again.
    let empty = SqliteStore::in_memory().unwrap();
    empty.put_settings(&w.settings).await.unwrap();
    let out = sync_with(&w, &empty, &uid).await;
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
    assert_eq!(w.counts(), before);
}

/// Killed after NetSuite made the reversal and before the flow recorded it: the flow still says
/// synced with the invoice open, NetSuite has the invoice credited. The next run finds the
/// reversal it made instead of calling the credited invoice a person's problem.
#[tokio::test]
async fn a_reversal_whose_save_was_lost_is_found_not_refused() {
    let w = world(|_| {}).await;
    let uid = w.bill.issue_invoice(plan_invoice(&w, 5, dec!(2)));
    assert_eq!(w.sync(&uid).await.status, FlowStatus::Synced);
    let before_void = w.store.flow("acme", &uid).await.unwrap().unwrap().value;
    w.bill.void(&uid).unwrap();
    assert_eq!(w.sync(&uid).await.status, FlowStatus::Synced);
    let made = w.ns.records("creditMemo");
    assert_eq!(made.len(), 1);

    let now = w.store.flow("acme", &uid).await.unwrap().unwrap();
    w.store
        .save_flow("acme", &before_void, Some(now.version))
        .await
        .unwrap();
    let out = w.sync(&uid).await;
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
    assert_eq!(w.ns.records("creditMemo").len(), 1, "no second reversal");
    let flow = w.store.flow("acme", &uid).await.unwrap().unwrap().value;
    assert_eq!(flow.reversal_id.as_deref(), made[0]["id"].as_str());
    assert_eq!(flow.posted.unwrap().due, dec!(0));
    assert_eq!(money(&ns_invoice(&w, &uid)["amountRemaining"]), dec!(0));
}

#[tokio::test]
async fn a_void_netsuite_cannot_take_back_by_itself_is_an_error_for_a_person() {
    // The tenant keeps reversals for people.
    let w = world(|d| d["invoices"] = json!({"reverse_voids": false})).await;
    let uid = w.bill.issue_invoice(plan_invoice(&w, 5, dec!(1)));
    assert_eq!(w.sync(&uid).await.status, FlowStatus::Synced);
    w.bill.void(&uid).unwrap();
    let out = w.sync(&uid).await;
    assert_eq!(out.status, FlowStatus::Error, "{out:?}");
    let e = out.error.unwrap();
    let id = ns_invoice(&w, &uid)["id"].as_str().unwrap().to_owned();
    assert!(
        e.detail.contains(&id) && e.fix.contains("reverse_voids"),
        "{e:?}"
    );
    assert!(w.ns.records("creditMemo").is_empty());

    // An inventory order not yet shipped is closed; one already shipped is for a person.
    for shipped in [false, true] {
        let w = world(|_| {}).await;
        let uid = w.bill.issue_invoice(hardware_invoice(&w, 5));
        assert_eq!(w.sync(&uid).await.status, FlowStatus::AwaitingFulfilment);
        let so = w.ns.records("salesOrder")[0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        if shipped {
            w.ns.fulfill_sales_order(&so).unwrap();
        }
        w.bill.void(&uid).unwrap();
        let out = w.sync(&uid).await;
        let order = w.ns.record("salesOrder", &so).unwrap();
        if shipped {
            assert_eq!(out.status, FlowStatus::Error, "{out:?}");
            let e = out.error.unwrap();
            assert!(
                e.detail.contains(&so) && e.code.as_deref() == Some("VOID_NOT_REVERSED"),
                "{e:?}"
            );
            assert_eq!(order["status"]["id"], "F");
        } else {
            assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
            assert_eq!(order["status"]["id"], "H", "closed in NetSuite");
            assert!(w.ns.records("invoice").is_empty());
            let before = w.counts();
            assert_eq!(w.sync(&uid).await.status, FlowStatus::Synced);
            assert_eq!(w.counts(), before);
        }
    }
}

#[tokio::test]
async fn a_partly_fulfilled_order_waits_with_its_reason_and_a_cancelled_one_is_an_error() {
    let w = world(|_| {}).await;
    let uid = w.bill.issue_invoice(hardware_invoice(&w, 5));
    assert_eq!(w.sync(&uid).await.status, FlowStatus::AwaitingFulfilment);
    let so = w.ns.records("salesOrder")[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (letter, name) in [
        ("D", "Partially Fulfilled"),
        ("E", "Pending Billing/Partially Fulfilled"),
    ] {
        w.ns.show_sales_order_status(&so, letter, name).unwrap();
        let out = w.sync(&uid).await;
        assert_eq!(out.status, FlowStatus::AwaitingFulfilment, "{out:?}");
        let reason = w
            .store
            .flow("acme", &uid)
            .await
            .unwrap()
            .unwrap()
            .value
            .reason;
        assert!(
            reason
                .as_deref()
                .is_some_and(|r| r.contains("partly fulfilled")),
            "{reason:?}"
        );
        assert!(w.ns.records("invoice").is_empty());
    }
    w.ns.show_sales_order_status(&so, "C", "Cancelled").unwrap();
    let out = w.sync(&uid).await;
    assert_eq!(out.status, FlowStatus::Error, "{out:?}");
    let e = out.error.unwrap();
    assert_eq!(e.code.as_deref(), Some("ORDER_NOT_BILLABLE"));
    assert!(e.detail.contains("cancelled"), "{e:?}");

    // Shipped in full: the invoice is made.
    w.ns.show_sales_order_status(&so, "B", "Pending Fulfillment")
        .unwrap();
    w.ns.fulfill_sales_order(&so).unwrap();
    assert_eq!(w.sync(&uid).await.status, FlowStatus::Synced);
    assert_eq!(w.ns.records("invoice").len(), 1);
}
