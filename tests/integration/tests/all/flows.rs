//! Sync scenarios end to end: the Maxio billing simulator as the source, the NetSuite
//! simulator as the target, the embedded store in between. Each asserts the exact NetSuite
//! records, and that running again changes nothing.

use crate::common;

use common::world::{day, money, total_of, world, World};

use billing_sim::{Coupon, NewInvoice, NewLine, NewSegment, PaymentKind, TaxRate};
use billsync::flow::run::Engine;
use billsync::flow::state::FlowStatus;
use billsync::netsuite::NetSuiteClient;
use billsync::store::prelude::*;
use common::client_config;
use netsuite_sim::Fault;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

#[tokio::test]
async fn non_inventory_paid_invoice_syncs_once_to_the_cent() {
    let w = world(|_| {}).await;
    let uid = w.bill.issue_invoice(w.standard_invoice(5));
    let inv: Value = w.bill.invoice_json(&uid).unwrap();
    let total = money(&inv["total_amount"]);
    let txn = w.bill.pay(&uid, total, PaymentKind::CreditCard).unwrap();

    let out = w.sync(&uid).await;
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
    assert_eq!(
        out.created.len(),
        4,
        "customer, sales order, invoice, payment: {out:?}"
    );

    let so = &w.ns.records("salesOrder")[0];
    assert_eq!(so["externalId"], format!("bs-acme-so-{uid}"));
    assert_eq!(so["otherRefNum"], "PO-4411");
    assert_eq!(so["custbody_billsync_invoice_uid"], uid.as_str());
    assert_eq!(so["custbody_billsync_site"], "acme-demo");
    assert_eq!(so["subsidiary"]["id"], w.demo.subsidiary);
    let lines = so["item"]["items"].as_array().unwrap();
    // plan, discount, seats, discount, tax
    let items: Vec<&str> = lines
        .iter()
        .map(|l| l["item"]["id"].as_str().unwrap())
        .collect();
    let d = &w.demo;
    assert_eq!(
        items,
        [
            &d.item_subscription,
            &d.item_discount,
            &d.item_usage,
            &d.item_discount,
            &d.item_sales_tax
        ]
        .map(String::as_str)
    );
    assert_eq!(money(&so["total"]), total);

    let invoice = &w.ns.records("invoice")[0];
    assert_eq!(invoice["externalId"], format!("bs-acme-inv-{uid}"));
    assert_eq!(money(&invoice["total"]), total);
    assert_eq!(money(&invoice["amountRemaining"]), dec!(0));
    assert_eq!(invoice["createdFrom"]["id"], so["id"]);
    let payment = &w.ns.records("customerPayment")[0];
    assert_eq!(payment["externalId"], format!("bs-acme-pmt-{txn}"));
    assert_eq!(money(&payment["payment"]), total);
    assert!(
        payment.get("paymentMethod").is_none(),
        "Payment Instruments: no payment method"
    );

    let customer = &w.ns.records("customer")[0];
    assert_eq!(customer["externalId"], w.customer.to_string());
    assert_eq!(customer["companyName"], "Quill & Co");
    assert_eq!(customer["isPerson"], false);
    assert_eq!(
        customer["custentity_billsync_customer_id"],
        w.customer.to_string()
    );

    // Again, and again: nothing new.
    let before = w.counts();
    for _ in 0..2 {
        let again = w.sync(&uid).await;
        assert_eq!(again.status, FlowStatus::Synced);
        assert!(again.created.is_empty(), "{again:?}");
    }
    assert_eq!(w.counts(), before);
}

#[tokio::test]
async fn inventory_invoice_takes_a_deposit_and_waits_for_fulfilment() {
    let w = world(|_| {}).await;
    let uid = w.bill.issue_invoice(NewInvoice {
        lines: vec![NewLine::Product {
            product_id: w.hardware,
            quantity: dec!(2),
        }],
        tax: Some(TaxRate::us_sales("NY", dec!(8))),
        ..NewInvoice::new(w.customer, day(6))
    });
    let total = money(&w.bill.invoice_json(&uid).unwrap()["total_amount"]);
    w.bill.pay(&uid, total, PaymentKind::BankAccount).unwrap();

    let out = w.sync(&uid).await;
    assert_eq!(out.status, FlowStatus::AwaitingFulfilment, "{out:?}");
    assert_eq!(w.ns.records("customerDeposit").len(), 1);
    assert_eq!(w.ns.records("invoice").len(), 0);
    let so_id = w.ns.records("salesOrder")[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        w.ns.records("customerDeposit")[0]["salesOrder"]["id"],
        so_id
    );

    // Still not fulfilled: nothing new.
    assert_eq!(w.sync(&uid).await.status, FlowStatus::AwaitingFulfilment);
    assert_eq!(w.ns.records("customerDeposit").len(), 1);

    w.ns.fulfill_sales_order(&so_id).unwrap();
    let out = w.sync(&uid).await;
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
    let invoice = &w.ns.records("invoice")[0];
    assert_eq!(money(&invoice["total"]), total);
    assert_eq!(
        money(&invoice["amountRemaining"]),
        dec!(0),
        "the deposit paid it"
    );
    assert_eq!(w.ns.records("depositApplication").len(), 1);
    assert_eq!(w.ns.records("customerPayment").len(), 0);
}

#[tokio::test]
async fn zero_dollar_is_skipped_fully_discounted_still_syncs() {
    let w = world(|d| d["invoices"] = json!({"skip_zero_dollar": true})).await;
    let trial = w.bill.issue_invoice(NewInvoice {
        lines: vec![NewLine::Trial {
            product_id: w.plan,
            days: 14,
        }],
        ..NewInvoice::new(w.customer, day(3))
    });
    let out = w.sync(&trial).await;
    assert_eq!(out.status, FlowStatus::Skipped);
    let state = w.store.flow("acme", &trial).await.unwrap().unwrap().value;
    assert!(state.reason.unwrap().contains("zero-dollar"));
    assert_eq!(w.ns.records("salesOrder").len(), 0);

    let free = w.bill.issue_invoice(NewInvoice {
        lines: vec![NewLine::Product {
            product_id: w.plan,
            quantity: dec!(1),
        }],
        coupon: Some(Coupon::Percentage {
            code: "FREE".into(),
            percentage: dec!(100),
        }),
        ..NewInvoice::new(w.customer, day(3))
    });
    let out = w.sync(&free).await;
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
    let so = &w.ns.records("salesOrder")[0];
    assert_eq!(money(&so["total"]), dec!(0));
    assert_eq!(
        so["item"]["items"].as_array().unwrap().len(),
        2,
        "the line and its discount"
    );
}

#[tokio::test]
async fn before_the_start_date_is_skipped() {
    let w = world(|d| d["sync_start_date"] = json!("2026-01-10")).await;
    let uid = w.bill.issue_invoice(w.standard_invoice(9));
    let out = w.sync(&uid).await;
    assert_eq!(out.status, FlowStatus::Skipped);
    assert!(w.ns.records("customer").is_empty());
}

#[tokio::test]
async fn subscription_groups_sync_parent_or_segments_by_setting() {
    for level in ["parent", "child"] {
        let w = world(|d| d["invoices"] = json!({"subscription_groups": level})).await;
        let parent = w.bill.issue_invoice(NewInvoice {
            consolidation: billing_sim::Consolidation::Parent {
                segments: vec![
                    NewSegment {
                        lines: vec![NewLine::Product {
                            product_id: w.plan,
                            quantity: dec!(1),
                        }],
                        ..Default::default()
                    },
                    NewSegment {
                        lines: vec![NewLine::Component {
                            component_id: w.seats,
                            quantity: dec!(3),
                        }],
                        ..Default::default()
                    },
                ],
            },
            tax: Some(TaxRate::us_sales("NY", dec!(8))),
            ..NewInvoice::new(w.customer, day(7))
        });
        let parent_total = money(&w.bill.invoice_json(&parent).unwrap()["total_amount"]);
        let children = w.segments();
        assert_eq!(children.len(), 2);
        let mut statuses = vec![w.sync(&parent).await.status];
        for c in &children {
            statuses.push(w.sync(c).await.status);
        }
        let synced = statuses
            .iter()
            .filter(|s| **s == FlowStatus::Synced)
            .count();
        let skipped = statuses
            .iter()
            .filter(|s| **s == FlowStatus::Skipped)
            .count();
        let orders = w.ns.records("salesOrder");
        if level == "parent" {
            assert_eq!((synced, skipped), (1, 2), "{statuses:?}");
            assert_eq!(orders.len(), 1);
            assert_eq!(
                money(&orders[0]["total"]),
                parent_total,
                "the segments' lines add up to the parent"
            );
        } else {
            assert_eq!((synced, skipped), (2, 1), "{statuses:?}");
            assert_eq!(total_of(&orders), parent_total);
        }
    }
}

#[tokio::test]
async fn a_refund_is_paid_out_of_a_credit_memo() {
    let w = world(|_| {}).await;
    let uid = w.bill.issue_invoice(w.standard_invoice(8));
    let total = money(&w.bill.invoice_json(&uid).unwrap()["total_amount"]);
    let txn = w.bill.pay(&uid, total, PaymentKind::CreditCard).unwrap();
    w.bill.refund(&uid, txn, dec!(20.00)).unwrap();

    let out = w.sync(&uid).await;
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
    let memos = w.ns.records("creditMemo");
    assert_eq!(memos.len(), 1);
    assert_eq!(money(&memos[0]["total"]), dec!(20.00));
    let refunds = w.ns.records("customerRefund");
    assert_eq!(refunds.len(), 1);
    assert_eq!(money(&refunds[0]["total"]), dec!(20.00));
    assert_eq!(refunds[0]["account"]["id"], w.demo.account_bank);
    let before = w.counts();
    assert!(w.sync(&uid).await.created.is_empty());
    assert_eq!(w.counts(), before);
}

#[tokio::test]
async fn a_credit_note_becomes_a_credit_memo_applied_to_the_invoice() {
    let w = world(|_| {}).await;
    let uid = w.bill.issue_invoice(w.standard_invoice(9));
    let total = money(&w.bill.invoice_json(&uid).unwrap()["total_amount"]);
    w.bill
        .issue_credit_note(&uid, dec!(25.00), "goodwill")
        .unwrap();
    w.bill
        .pay(&uid, total - dec!(25.00), PaymentKind::CreditCard)
        .unwrap();

    let out = w.sync(&uid).await;
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
    let invoice = &w.ns.records("invoice")[0];
    assert_eq!(
        money(&invoice["amountRemaining"]),
        dec!(0),
        "credit memo and payment settle it"
    );
    let memo = &w.ns.records("creditMemo")[0];
    assert_eq!(memo["createdFrom"]["id"], invoice["id"]);
    assert_eq!(money(&memo["total"]), dec!(25.00));
}

/// The flows whose every write is hit by a fault in turn.
#[derive(Clone, Copy, Debug)]
enum Flow {
    /// customer, sales order, invoice, payment
    Paid,
    /// customer, sales order, deposit, (fulfilment), invoice, deposit application
    Inventory,
    /// customer, sales order, invoice, payment, credit memo, refund
    Refunded,
}

impl Flow {
    fn writes(self) -> u32 {
        match self {
            Flow::Paid => 4,
            Flow::Inventory => 5,
            Flow::Refunded => 6,
        }
    }

    fn expected(self) -> [(&'static str, usize); 8] {
        let (inv, pay, dep, dap, cm, rf) = match self {
            Flow::Paid => (1, 1, 0, 0, 0, 0),
            Flow::Inventory => (1, 0, 1, 1, 0, 0),
            Flow::Refunded => (1, 1, 0, 0, 1, 1),
        };
        [
            ("customer", 1),
            ("salesOrder", 1),
            ("invoice", inv),
            ("customerPayment", pay),
            ("customerDeposit", dep),
            ("depositApplication", dap),
            ("creditMemo", cm),
            ("customerRefund", rf),
        ]
    }

    async fn setup(self) -> (World, String) {
        let w = world(|_| {}).await;
        let spec = match self {
            Flow::Inventory => NewInvoice {
                lines: vec![NewLine::Product {
                    product_id: w.hardware,
                    quantity: dec!(3),
                }],
                tax: Some(TaxRate::us_sales("NY", dec!(8))),
                ..NewInvoice::new(w.customer, day(5))
            },
            _ => w.standard_invoice(5),
        };
        let uid = w.bill.issue_invoice(spec);
        let total = money(&w.bill.invoice_json(&uid).unwrap()["total_amount"]);
        let txn = w.bill.pay(&uid, total, PaymentKind::CreditCard).unwrap();
        if let Flow::Refunded = self {
            w.bill.refund(&uid, txn, dec!(12.34)).unwrap();
        }
        (w, uid)
    }
}

/// Runs the flow to its end as the sweep would: again after a failure, and after fulfilling
/// an order that waits for it.
async fn drive(w: &World, uid: &str, netsuite: &NetSuiteClient) -> Vec<FlowStatus> {
    let engine = Engine {
        netsuite,
        store: &w.store,
        billing: &w.maxio,
    };
    let mut seen = Vec::new();
    for _ in 0..4 {
        let out = engine.sync_invoice(&w.settings, uid).await.unwrap();
        seen.push(out.status);
        match out.status {
            FlowStatus::AwaitingFulfilment => {
                let so = w.ns.records("salesOrder")[0]["id"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                w.ns.fulfill_sales_order(&so).unwrap();
            }
            FlowStatus::Synced => break,
            _ => {}
        }
    }
    seen
}

#[tokio::test]
async fn a_lost_answer_at_any_step_of_any_flow_never_duplicates() {
    for flow in [Flow::Paid, Flow::Inventory, Flow::Refunded] {
        for step in 0..flow.writes() {
            let (w, uid) = flow.setup().await;
            w.ns.add_fault(Fault::CommitThenDropOnWrite { skip: step });
            let seen = drive(&w, &uid, &w.netsuite).await;
            assert_eq!(
                seen.last(),
                Some(&FlowStatus::Synced),
                "{flow:?} step {step}: {seen:?}"
            );
            assert!(
                w.ns.faults().is_empty(),
                "{flow:?} step {step}: the fault fired"
            );
            w.sync(&uid).await;
            assert_eq!(w.counts(), flow.expected(), "{flow:?} step {step}");
        }
    }
}

#[tokio::test]
async fn a_worker_stopped_between_any_two_steps_of_any_flow_converges() {
    for flow in [Flow::Paid, Flow::Inventory, Flow::Refunded] {
        for step in 0..flow.writes() {
            let (w, uid) = flow.setup().await;
            // A client that gives up at once stands in for a worker that dies mid-flow.
            let mut config = client_config(&w.ns);
            config.retry.max_attempts = 1;
            let fragile = NetSuiteClient::new(config).unwrap();
            w.ns.add_fault(Fault::ServerErrorOnWrite { skip: step });
            let seen = drive(&w, &uid, &fragile).await;
            assert!(
                seen.contains(&FlowStatus::Error),
                "{flow:?} step {step}: {seen:?}"
            );
            let seen = drive(&w, &uid, &w.netsuite).await;
            assert_eq!(
                seen.last(),
                Some(&FlowStatus::Synced),
                "{flow:?} step {step}: {seen:?}"
            );
            assert_eq!(w.counts(), flow.expected(), "{flow:?} step {step}");
        }
    }
}

#[tokio::test]
async fn an_inventory_payment_after_fulfilment_is_a_customer_payment() {
    let (w, uid) = {
        let w = world(|_| {}).await;
        let uid = w.bill.issue_invoice(NewInvoice {
            lines: vec![NewLine::Product {
                product_id: w.hardware,
                quantity: dec!(1),
            }],
            ..NewInvoice::new(w.customer, day(5))
        });
        (w, uid)
    };
    assert_eq!(w.sync(&uid).await.status, FlowStatus::AwaitingFulfilment);
    let so = w.ns.records("salesOrder")[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    w.ns.fulfill_sales_order(&so).unwrap();
    assert_eq!(w.sync(&uid).await.status, FlowStatus::Synced);
    let total = money(&w.bill.invoice_json(&uid).unwrap()["total_amount"]);
    w.bill.pay(&uid, total, PaymentKind::Check).unwrap();
    let out = w.sync(&uid).await;
    assert_eq!(out.status, FlowStatus::Synced);
    assert_eq!(w.ns.records("customerDeposit").len(), 0);
    assert_eq!(w.ns.records("customerPayment").len(), 1);
    assert_eq!(
        money(&w.ns.records("invoice")[0]["amountRemaining"]),
        dec!(0)
    );
}

#[tokio::test]
async fn troubleshooting_errors_are_logged_with_cause_and_fix_then_retried() {
    let w = world(|_| {}).await;
    let uid = w.bill.issue_invoice(w.standard_invoice(5));
    w.ns.add_fault(Fault::RequiredField {
        field: "department".into(),
        label: "Department".into(),
        record_types: vec![],
    });
    let out = w.sync(&uid).await;
    assert_eq!(out.status, FlowStatus::Error);
    let e = out.error.unwrap();
    assert_eq!(e.step, "create sales order");
    assert!(e.detail.contains("Please enter value(s) for: Department"));
    assert!(e.fix.contains("transactions.department"));
    assert!(!out.retry);
    let logged = w
        .store
        .flows_with_status("acme", FlowStatus::Error, 10)
        .await
        .unwrap();
    assert_eq!(logged.len(), 1);

    w.ns.clear_faults();
    let out = w.sync(&uid).await;
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
    assert!(w
        .store
        .flows_with_status("acme", FlowStatus::Error, 10)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn unmapped_products_wait_for_a_mapping() {
    let w = world(|d| {
        d["items"]["components"] = json!({});
    })
    .await;
    let uid = w.bill.issue_invoice(w.standard_invoice(5));
    let out = w.sync(&uid).await;
    assert_eq!(out.status, FlowStatus::Error);
    let e = out.error.unwrap();
    assert_eq!(e.code.as_deref(), Some("UNMAPPED_ITEM"));
    assert!(
        e.fix.contains(&format!("component {}", w.seats)),
        "{}",
        e.fix
    );
    assert!(w.ns.records("salesOrder").is_empty(), "nothing posted");
}

#[tokio::test]
async fn customers_are_found_by_email_once_and_linked() {
    let w = world(|_| {}).await;
    // The finance team created the customer by hand before the integration.
    let existing = w.ns.seed(
        "customer",
        json!({"companyName": "Quill & Co", "email": "HARRIET@quill.example.com", "subsidiary": {"id": w.demo.subsidiary}}),
    );
    let first = w.bill.issue_invoice(w.standard_invoice(5));
    assert_eq!(w.sync(&first).await.status, FlowStatus::Synced);
    let customers = w.ns.records("customer");
    assert_eq!(customers.len(), 1, "matched by email, not created");
    assert_eq!(customers[0]["id"], existing);
    assert_eq!(
        customers[0]["externalId"],
        w.customer.to_string(),
        "the billing id lands in the external id"
    );
    // A later invoice in another currency adds the currency, not a customer.
    let eur = w.bill.issue_invoice(NewInvoice {
        currency: "EUR".into(),
        ..w.standard_invoice(6)
    });
    assert_eq!(w.sync(&eur).await.status, FlowStatus::Synced);
    assert_eq!(w.ns.records("customer").len(), 1);
    let so =
        w.ns.records("salesOrder")
            .into_iter()
            .find(|s| s["currency"]["id"] == w.demo.currency_eur);
    assert!(so.is_some(), "the EUR order carries EUR");
}

#[tokio::test]
async fn every_troubleshooting_error_is_logged_and_a_retry_completes_once_fixed() {
    type MakeFault = Box<dyn Fn(&World) -> Fault>;
    let cases: Vec<(&str, MakeFault, &str)> = vec![
        (
            "tax period",
            Box::new(|_| Fault::ClosedTaxPeriod {
                from: day(1),
                to: day(31),
            }),
            "Manage Tax Periods",
        ),
        (
            "join permission",
            Box::new(|_| Fault::MissingPermission {
                record_type: "customer".into(),
            }),
            "permission",
        ),
        (
            "subsidiary",
            Box::new(|w| Fault::InvalidSubsidiary {
                id: w.demo.subsidiary.clone(),
            }),
            "Cross-Subsidiary",
        ),
        (
            "department",
            Box::new(|_| Fault::RequiredField {
                field: "department".into(),
                label: "Department".into(),
                record_types: vec![],
            }),
            "transactions.department",
        ),
    ];
    for (name, fault, fix) in cases {
        let w = world(|_| {}).await;
        let uid = w.bill.issue_invoice(w.standard_invoice(5));
        w.ns.add_fault(fault(&w));
        let out = w.sync(&uid).await;
        // A missing permission is the tenant's condition: the invoice is held, not in error,
        // and the entry goes to the tenant's pause.
        let e = if name == "join permission" {
            assert_eq!(out.status, FlowStatus::Held, "{name}");
            assert!(out.error.is_none(), "{name}");
            *out.blocked.expect("the tenant's entry")
        } else {
            assert_eq!(out.status, FlowStatus::Error, "{name}");
            out.error.expect("an error entry")
        };
        assert!(e.fix.contains(fix), "{name}: {e:?}");
        assert!(!e.cause.is_empty() && !e.detail.is_empty(), "{name}");
        w.ns.clear_faults();
        assert_eq!(w.sync(&uid).await.status, FlowStatus::Synced, "{name}");
    }

    // An inactive customer: the entry names it; once active again the retry completes.
    let w = world(|_| {}).await;
    let first = w.bill.issue_invoice(w.standard_invoice(5));
    assert_eq!(w.sync(&first).await.status, FlowStatus::Synced);
    let cust = w.ns.records("customer")[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    w.ns.add_fault(Fault::InactiveCustomer { id: cust.clone() });
    let second = w.bill.issue_invoice(w.standard_invoice(6));
    let e = w.sync(&second).await.error.expect("an error entry");
    assert!(e.fix.contains(&cust) && e.fix.contains("Inactive"), "{e:?}");
    w.ns.clear_faults();
    assert_eq!(w.sync(&second).await.status, FlowStatus::Synced);
}

#[tokio::test]
async fn document_settings_reach_every_record() {
    let w = world(|d| {
        d["payments"] =
            json!({"payment_instruments": false, "payment_method": "9", "account": "9"});
        d["refunds"]["ar_account"] = json!("7");
        d["transactions"] = json!({
            "subsidiary": "1", "department": "4", "location": "6", "sales_order_form": "101",
            "exchange_rate": "net_suite"
        });
        d["prefixes"] = json!({"external_id": "ab-acme", "tran_id": "AB"});
        d["customers"] = json!({"match_by": "external_id"});
    })
    .await;
    let uid = w.bill.issue_invoice(w.standard_invoice(5));
    let total = money(&w.bill.invoice_json(&uid).unwrap()["total_amount"]);
    let txn = w.bill.pay(&uid, total, PaymentKind::Check).unwrap();
    w.bill.refund(&uid, txn, dec!(5.00)).unwrap();
    let out = w.sync(&uid).await;
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");

    let so = &w.ns.records("salesOrder")[0];
    assert_eq!(so["externalId"], format!("ab-acme-so-{uid}"));
    assert_eq!(so["department"]["id"], "4");
    assert_eq!(so["location"]["id"], "6");
    assert_eq!(so["customForm"]["id"], "101");
    assert!(so["tranId"].as_str().unwrap().starts_with("AB-"));
    // NetSuite's own rate: billsync sends none.
    assert!(so.get("exchangeRate").is_none(), "{so}");
    let payment = &w.ns.records("customerPayment")[0];
    assert_eq!(payment["externalId"], format!("ab-acme-pmt-{txn}"));
    assert_eq!(
        payment["paymentMethod"]["id"], "9",
        "no Payment Instruments: the method is sent"
    );
    assert_eq!(payment["account"]["id"], "9");
    assert_eq!(payment["undepFunds"], false);
    let refund = &w.ns.records("customerRefund")[0];
    assert_eq!(refund["arAcct"]["id"], "7");
    assert_eq!(refund["paymentMethod"]["id"], "9");
    let customer = &w.ns.records("customer")[0];
    assert_eq!(customer["externalId"], format!("ab-acme-{}", w.customer));
}

#[tokio::test]
async fn setup_creates_its_records_once() {
    use billsync::flow::setup::{set_up, SetupRequest};
    let w = world(|_| {}).await;
    let request = SetupRequest {
        namespace: "bs-acme".into(),
        subsidiary: Some(w.demo.subsidiary.clone()),
        payment_instruments: false,
        tax_item_account: Some(w.demo.account_revenue.clone()),
    };
    let first = set_up(&w.netsuite, &request).await.unwrap();
    let again = set_up(&w.netsuite, &request).await.unwrap();
    assert_eq!(first.len(), 3);
    for (a, b) in first.iter().zip(&again) {
        assert_eq!(a.id, b.id, "{}", a.name);
        assert!(!a.existed && b.existed, "{}", a.name);
    }
    let ours = |rt: &str, eid: &str| -> Vec<serde_json::Value> {
        w.ns.records(rt)
            .into_iter()
            .filter(|i| i["externalId"] == eid)
            .collect()
    };
    let discount = ours("discountItem", "bs-acme-discount-item");
    assert_eq!(discount.len(), 1);
    assert_eq!(discount[0]["itemId"], "Advanced Billing Discount");
    assert_eq!(discount[0]["nonPosting"], true);
    let method = ours("paymentMethod", "bs-acme-payment-method");
    assert_eq!(method.len(), 1);
    assert_eq!(method[0]["name"], "Advanced Billing Payment");
    assert_eq!(ours("nonInventorySaleItem", "bs-acme-tax-item").len(), 1);
}

#[tokio::test]
async fn more_settings_reach_the_records() {
    let mut w = world(|d| {
        d["invoices"] = json!({"revenue_recognition": {"start_field": "custcol_rr_start", "end_field": "custcol_rr_end"}});
        d["prefixes"] = json!({"entity_id": "MX"});
        d["customers"] = json!({"match_by": "external_id"});
        d["custom_fields"] = json!({"line_tax": "custcol_ab_tax", "transaction_invoice_uid": "custbody_ab_uid"});
    })
    .await;
    let class =
        w.ns.seed("classification", json!({"name": "Subscriptions"}));
    w.settings.class = billsync::settings::NsId::parse(&class);
    // A customer the finance team keyed by the billing id already: linked, not created.
    let existing = w.ns.seed(
        "customer",
        json!({"companyName": "Quill & Co", "externalId": w.customer.to_string(), "subsidiary": {"id": w.demo.subsidiary}}),
    );
    let uid = w.bill.issue_invoice(NewInvoice {
        lines: vec![
            NewLine::Setup {
                product_id: w.plan,
                amount: dec!(99.0),
            },
            NewLine::Product {
                product_id: w.plan,
                quantity: dec!(1),
            },
            NewLine::Custom {
                title: "Consulting".into(),
                description: "2 hours".into(),
                quantity: dec!(2),
                unit_price: dec!(125.0),
            },
        ],
        tax: Some(TaxRate::us_sales("NY", dec!(8.875))),
        ..NewInvoice::new(w.customer, day(12))
    });
    let out = w.sync(&uid).await;
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
    assert_eq!(w.ns.records("customer").len(), 1);
    assert_eq!(w.ns.records("customer")[0]["id"], existing);

    let so = &w.ns.records("salesOrder")[0];
    assert_eq!(so["class"]["id"], class);
    assert_eq!(so["custbody_ab_uid"], uid.as_str());
    let lines = so["item"]["items"].as_array().unwrap();
    let items: Vec<&str> = lines
        .iter()
        .map(|l| l["item"]["id"].as_str().unwrap())
        .collect();
    let d = &w.demo;
    // setup fee and consulting fall back to their default items; one tax line closes it.
    assert_eq!(
        items,
        [
            &d.item_services,
            &d.item_subscription,
            &d.item_services,
            &d.item_sales_tax
        ]
        .map(String::as_str)
    );
    assert!(lines[1]["custcol_rr_start"].is_string() && lines[1]["custcol_rr_end"].is_string());
    let taxes: Decimal = lines[..3].iter().map(|l| money(&l["custcol_ab_tax"])).sum();
    assert_eq!(
        taxes,
        money(&lines[3]["amount"]),
        "the tax column adds up to the tax line"
    );
    assert_eq!(
        money(&so["total"]),
        money(&w.bill.invoice_json(&uid).unwrap()["total_amount"])
    );
}

/// A new site's first invoice names every missing mapping in one pass, not one per retry; and
/// the error log shows the invoice as a person knows it.
#[tokio::test]
async fn every_unmapped_line_of_an_invoice_is_named_at_once() {
    let w = world(|d| {
        d["items"]["products"] = json!({});
        d["items"]["components"] = json!({});
    })
    .await;
    let uid = w.bill.issue_invoice(w.standard_invoice(5));
    let out = w.sync(&uid).await;
    assert_eq!(out.status, FlowStatus::Error);
    let e = out.error.unwrap();
    let (plan, seats) = (w.plan.to_string(), w.seats.to_string());
    assert!(
        e.fix.contains(&format!("product {plan}")) && e.fix.contains(&format!("component {seats}")),
        "{e:?}"
    );
    assert_eq!(billsync::flow::errors::side(&e), "settings");
    let state = w.store.flow("acme", &uid).await.unwrap().unwrap().value;
    let summary = state.summary.expect("the invoice as billing shows it");
    assert_eq!(summary.customer, "Quill & Co");
    assert_eq!(summary.currency, "USD");
    assert!(summary.number.is_some());
    assert!(summary.total > rust_decimal::Decimal::ZERO);
}
