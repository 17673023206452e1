use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::common::{order_body, start_with_basics, Basics, Client};

fn dec(v: &Value) -> Decimal {
    Decimal::from_str(&v.to_string()).unwrap_or_else(|_| panic!("{v} is not a number"))
}

/// A sales order billed through the invoice transform; returns (order id, invoice id).
async fn billed_order(client: &Client, b: &Basics) -> (String, String) {
    let so = client.create("salesOrder", order_body(b)).await;
    let r = client
        .post(
            &format!("/record/v1/salesOrder/{so}/!transform/invoice"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    (so, r.location_id())
}

#[tokio::test]
async fn invoice_transform_copies_lines_and_exact_totals() {
    let (sim, client, b) = start_with_basics().await;
    let so = client.create("salesOrder", order_body(&b)).await;
    let order = client.read("salesOrder", &so).await;
    assert_eq!(
        order["status"],
        json!({"id": "B", "refName": "Pending Fulfillment"})
    );
    assert!(order["tranId"].as_str().unwrap().starts_with("SO"));

    let r = client
        .post(
            &format!("/record/v1/salesOrder/{so}/!transform/invoice"),
            json!({"dueDate": "2026-03-02", "custbody_note": "from transform"}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(r
        .header("location")
        .unwrap()
        .contains("/record/v1/invoice/"));
    let inv_id = r.location_id();

    let raw = client
        .get(&format!(
            "/record/v1/invoice/{inv_id}?expandSubResources=true"
        ))
        .await;
    let text = raw.text();
    assert!(text.contains("\"amount\":59.97"), "{text}");
    assert!(text.contains("\"total\":56.2"), "{text}");
    let inv = raw.json();
    let amounts: Vec<Decimal> = inv["item"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| dec(&l["amount"]))
        .collect();
    assert_eq!(
        amounts,
        [
            Decimal::new(5997, 2),
            Decimal::new(-500, 2),
            Decimal::new(123, 2)
        ]
    );
    assert_eq!(dec(&inv["total"]), Decimal::new(5620, 2));
    assert_eq!(dec(&inv["subtotal"]), Decimal::new(5620, 2));
    assert_eq!(dec(&inv["amountRemaining"]), Decimal::new(5620, 2));
    assert_eq!(inv["status"], json!({"id": "A", "refName": "Open"}));
    assert_eq!(inv["createdFrom"]["id"], so);
    assert_eq!(inv["entity"]["id"], b.customer);
    assert_eq!(inv["department"]["id"], b.department);
    assert_eq!(inv["otherRefNum"], "PO-77");
    assert_eq!(inv["memo"], "January subscription");
    assert_eq!(inv["custbody_billing_id"], "sub_123");
    assert_eq!(inv["custbody_note"], "from transform");
    assert_eq!(inv["dueDate"], "2026-03-02");
    assert_eq!(inv["item"]["items"][0]["custcol_period"], "2026-01");
    assert_eq!(inv["item"]["items"][0]["description"], "Seats");

    let order = sim.record("salesOrder", &so).unwrap();
    assert_eq!(order["status"], json!({"id": "G", "refName": "Billed"}));
    let again = client
        .post(
            &format!("/record/v1/salesOrder/{so}/!transform/invoice"),
            json!({}),
        )
        .await;
    assert_eq!(again.status, 400);
    assert_eq!(
        again.error(),
        (
            "USER_ERROR".to_string(),
            format!("You can not initialize invoice: invalid reference {so}.")
        )
    );
    assert_eq!(
        sim.stats().requests_by_operation["transform:salesOrder->invoice"],
        2
    );

    // External ids stay unique through transforms too.
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let so = client.create("salesOrder", order_body(&b)).await;
        let r = client
            .post(
                &format!("/record/v1/salesOrder/{so}/!transform/invoice"),
                json!({"externalId": "INV-2026-001"}),
            )
            .await;
        statuses.push(r.status);
    }
    assert_eq!(statuses, [204, 400]);
}

#[tokio::test]
async fn inventory_orders_are_billed_only_after_fulfilment() {
    let (sim, client, b) = start_with_basics().await;
    let body = json!({"entity": {"id": b.customer},
        "item": {"items": [{"item": {"id": b.inventory}, "quantity": 2, "rate": 12.5},
                            {"item": {"id": b.service}, "quantity": 1, "rate": 5}]}});
    let so = client.create("salesOrder", body.clone()).await;
    let refused = client
        .post(
            &format!("/record/v1/salesOrder/{so}/!transform/invoice"),
            json!({}),
        )
        .await;
    assert_eq!(refused.status, 400);
    assert_eq!(
        refused.error().1,
        format!("You can not initialize invoice: invalid reference {so}.")
    );

    let fulfillment = sim.fulfill_sales_order(&so).unwrap();
    let f = sim.record("itemFulfillment", &fulfillment).unwrap();
    assert_eq!(f["createdFrom"]["id"], so);
    assert_eq!(f["shipStatus"]["id"], "C");
    assert_eq!(
        f["item"]["items"].as_array().unwrap().len(),
        1,
        "only the shipped item"
    );
    assert_eq!(f["item"]["items"][0]["itemReceive"], true);
    assert_eq!(
        sim.record("salesOrder", &so).unwrap()["status"],
        json!({"id": "F", "refName": "Pending Billing"})
    );
    assert!(sim.fulfill_sales_order(&so).is_err(), "already shipped");

    let billed = client
        .post(
            &format!("/record/v1/salesOrder/{so}/!transform/invoice"),
            json!({}),
        )
        .await;
    assert_eq!(billed.status, 204, "{}", billed.text());
    assert_eq!(sim.record("salesOrder", &so).unwrap()["status"]["id"], "G");

    // The same through REST: a fulfilment transform.
    let so2 = client.create("salesOrder", body).await;
    let shipped = client
        .post(
            &format!("/record/v1/salesOrder/{so2}/!transform/itemFulfillment"),
            json!({}),
        )
        .await;
    assert_eq!(shipped.status, 204, "{}", shipped.text());
    assert_eq!(sim.record("salesOrder", &so2).unwrap()["status"]["id"], "F");
}

#[tokio::test]
async fn payments_reduce_amount_remaining_until_paid_in_full() {
    let (sim, client, b) = start_with_basics().await;
    let (_so, inv) = billed_order(&client, &b).await;
    let pay = |amount: f64, applied: Value| {
        json!({"customer": {"id": b.customer}, "payment": amount, "undepFunds": true,
               "apply": {"items": [applied]}})
    };
    let first = client
        .create(
            "customerPayment",
            pay(
                20.0,
                json!({"doc": {"id": inv}, "apply": true, "amount": 20}),
            ),
        )
        .await;
    let invoice = sim.record("invoice", &inv).unwrap();
    assert_eq!(dec(&invoice["amountRemaining"]), Decimal::new(3620, 2));
    assert_eq!(dec(&invoice["amountPaid"]), Decimal::new(20, 0));
    assert_eq!(invoice["status"]["id"], "A");
    let payment = client.read("customerPayment", &first).await;
    assert_eq!(dec(&payment["applied"]), Decimal::new(20, 0));
    assert_eq!(dec(&payment["unapplied"]), Decimal::ZERO);
    assert_eq!(payment["apply"]["items"][0]["doc"]["id"], inv);

    let too_much = client
        .post(
            "/record/v1/customerPayment",
            pay(
                100.0,
                json!({"doc": {"id": inv}, "apply": true, "amount": 100}),
            ),
        )
        .await;
    assert_eq!(too_much.status, 400);
    assert_eq!(too_much.error().0, "USER_ERROR");

    // No amount on the line: the open balance is applied.
    client
        .create(
            "customerPayment",
            pay(36.2, json!({"doc": {"id": inv}, "apply": true})),
        )
        .await;
    let invoice = sim.record("invoice", &inv).unwrap();
    assert_eq!(dec(&invoice["amountRemaining"]), Decimal::ZERO);
    assert_eq!(
        invoice["status"],
        json!({"id": "B", "refName": "Paid In Full"})
    );

    // A paid invoice is no longer on the apply list.
    let closed = client
        .post(
            "/record/v1/customerPayment",
            pay(1.0, json!({"doc": {"id": inv}, "apply": true, "amount": 1})),
        )
        .await;
    assert_eq!(closed.status, 400);
    assert_eq!(closed.error().0, "USER_ERROR");
    assert!(
        closed
            .error()
            .1
            .starts_with("Unable to find a matching line for sub-list apply with key: [doc,line]"),
        "{:?}",
        closed.error()
    );

    // Deleting a payment re-opens what it paid.
    let d = client
        .delete(&format!("/record/v1/customerPayment/{first}"))
        .await;
    assert_eq!(d.status, 204);
    assert_eq!(
        dec(&sim.record("invoice", &inv).unwrap()["amountRemaining"]),
        Decimal::new(20, 0)
    );
}

#[tokio::test]
async fn credit_memos_deposits_and_refunds_consume_balances() {
    let (sim, client, b) = start_with_basics().await;
    let (so, inv) = billed_order(&client, &b).await;

    // Credit 10.00 of the invoice through the credit memo transform.
    let r = client
        .post(
            &format!("/record/v1/invoice/{inv}/!transform/creditMemo?replace=item"),
            json!({"item": {"items": [{"item": {"id": b.service}, "amount": 30}]},
                   "apply": {"items": [{"doc": {"id": inv}, "apply": true, "amount": 10}]}}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    let cm = r.location_id();
    let memo = sim.record("creditMemo", &cm).unwrap();
    assert_eq!(memo["createdFrom"]["id"], inv);
    assert_eq!(dec(&memo["total"]), Decimal::new(30, 0));
    assert_eq!(dec(&memo["applied"]), Decimal::new(10, 0));
    assert_eq!(dec(&memo["unapplied"]), Decimal::new(20, 0));
    assert_eq!(
        dec(&sim.record("invoice", &inv).unwrap()["amountRemaining"]),
        Decimal::new(4620, 2)
    );

    // A deposit taken on the order, applied to the invoice.
    let dep = client
        .create(
            "customerDeposit",
            json!({"customer": {"id": b.customer}, "payment": 30, "salesOrder": {"id": so}}),
        )
        .await;
    assert_eq!(
        dec(&sim.record("customerDeposit", &dep).unwrap()["unapplied"]),
        Decimal::new(30, 0)
    );
    let r = client
        .post(
            &format!("/record/v1/customerDeposit/{dep}/!transform/depositApplication"),
            json!({"apply": {"items": [{"doc": {"id": inv}, "apply": true, "amount": 25}]}}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(
        dec(&sim.record("customerDeposit", &dep).unwrap()["unapplied"]),
        Decimal::new(5, 0)
    );
    assert_eq!(
        dec(&sim.record("invoice", &inv).unwrap()["amountRemaining"]),
        Decimal::new(2120, 2)
    );

    // Refunds need the account the money leaves from.
    let refund = json!({"customer": {"id": b.customer},
        "apply": {"items": [{"doc": {"id": cm}, "apply": true, "amount": 20}]},
        "deposit": {"items": [{"doc": {"id": dep}, "apply": true, "amount": 5}]}});
    let missing = client
        .post("/record/v1/customerRefund", refund.clone())
        .await;
    assert_eq!(
        missing.error().1,
        "Error while accessing a resource. Please enter value(s) for: Account."
    );
    let mut with_account = refund;
    with_account["account"] = json!({"id": b.bank});
    let rf = client.create("customerRefund", with_account).await;
    assert_eq!(
        dec(&sim.record("customerRefund", &rf).unwrap()["total"]),
        Decimal::new(25, 0)
    );
    let memo = sim.record("creditMemo", &cm).unwrap();
    assert_eq!(dec(&memo["unapplied"]), Decimal::ZERO);
    assert_eq!(memo["status"]["id"], "B");
    assert_eq!(
        dec(&sim.record("customerDeposit", &dep).unwrap()["unapplied"]),
        Decimal::ZERO
    );

    // A payment may draw on a credit memo as well as cash.
    let (_so2, inv2) = billed_order(&client, &b).await;
    let cm2 = client
        .create(
            "creditMemo",
            json!({"entity": {"id": b.customer}, "createdFrom": {"id": inv2},
                   "item": {"items": [{"item": {"id": b.service}, "amount": 6.2}]}}),
        )
        .await;
    client
        .create(
            "customerPayment",
            json!({"customer": {"id": b.customer}, "payment": 50,
                   "credit": {"items": [{"doc": {"id": cm2}, "apply": true, "amount": 6.2}]},
                   "apply": {"items": [{"doc": {"id": inv2}, "apply": true, "amount": 56.2}]}}),
        )
        .await;
    assert_eq!(sim.record("invoice", &inv2).unwrap()["status"]["id"], "B");
    assert_eq!(
        dec(&sim.record("creditMemo", &cm2).unwrap()["unapplied"]),
        Decimal::ZERO
    );
}
