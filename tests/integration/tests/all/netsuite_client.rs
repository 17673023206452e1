//! The NetSuite client against the NetSuite simulator: every operation, every error class,
//! retries, idempotent creates after a lost answer, and the concurrency bound.

use crate::common;

use std::time::Duration;

use billsync::netsuite::records::{
    ApplyLine, CashTransaction, Customer, ItemLine, RecordRef, SalesTransaction,
};
use billsync::netsuite::{
    ErrorClass, ErrorKind, GetOptions, NetSuiteClient, NetSuiteError, RecordKey, RecordType,
    TransportKind,
};
use chrono::NaiveDate;
use common::{client_config, env, env_with, Env};
use futures::TryStreamExt;
use netsuite_sim::{Fault, SimConfig};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

fn customer(env: &Env, eid: &str, company: &str) -> Customer {
    Customer {
        external_id: Some(eid.into()),
        is_person: Some(false),
        company_name: Some(company.into()),
        email: Some(format!("{eid}@example.com")),
        subsidiary: Some(RecordRef::id(&env.subsidiary)),
        ..Default::default()
    }
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn line(item: &str, qty: Decimal, rate: Decimal) -> ItemLine {
    ItemLine {
        item: RecordRef::id(item),
        quantity: Some(qty),
        rate: Some(rate),
        amount: Some((qty * rate).round_dp(2)),
        ..Default::default()
    }
}

/// 3 x 19.99 = 59.97, discount -5.00, tax 1.23: total 56.20.
fn sales_order(env: &Env, customer_id: &str, eid: &str, item: &str) -> SalesTransaction {
    let mut discount = line(&env.items["discount"], dec!(1), dec!(-5.00));
    discount.quantity = None;
    let mut tax = line(&env.items["tax"], dec!(1), dec!(1.23));
    tax.quantity = None;
    SalesTransaction {
        external_id: Some(eid.into()),
        entity: Some(RecordRef::id(customer_id)),
        tran_date: Some(date(2026, 1, 31)),
        other_ref_num: Some("PO-77".into()),
        item: Some(vec![line(item, dec!(3), dec!(19.99)), discount, tax].into()),
        ..Default::default()
    }
}

fn money(v: &Value) -> Decimal {
    match v {
        Value::Number(n) => n.to_string().parse().unwrap(),
        Value::String(s) => s.parse().unwrap(),
        other => panic!("not an amount: {other}"),
    }
}

async fn new_customer(env: &Env, eid: &str) -> String {
    env.client
        .create(RecordType::Customer, &customer(env, eid, "Acme Ltd"))
        .await
        .unwrap()
}

#[tokio::test]
async fn create_get_find_and_delete() {
    let env = env().await;
    let id = new_customer(&env, "cust-1").await;

    let got: Customer = env
        .client
        .get(RecordType::Customer, &RecordKey::id(&id))
        .await
        .unwrap();
    assert_eq!(got.id.as_deref(), Some(id.as_str()));
    assert_eq!(got.company_name.as_deref(), Some("Acme Ltd"));

    let by_eid: Customer = env
        .client
        .get(RecordType::Customer, &RecordKey::external("cust-1"))
        .await
        .unwrap();
    assert_eq!(by_eid.id, got.id);
    assert_eq!(
        env.client
            .find_id_by_external_id(RecordType::Customer, "cust-1")
            .await
            .unwrap(),
        Some(id.clone())
    );
    let missing: Option<Customer> = env
        .client
        .find(RecordType::Customer, &RecordKey::external("nobody"))
        .await
        .unwrap();
    assert!(missing.is_none());

    env.client
        .delete(RecordType::Customer, &RecordKey::id(&id))
        .await
        .unwrap();
    assert!(env.sim.records("customer").is_empty());
    let again = env
        .client
        .delete(RecordType::Customer, &RecordKey::id(&id))
        .await
        .unwrap_err();
    assert_eq!(again.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn upsert_creates_once_then_updates() {
    let env = env().await;
    let mut c = customer(&env, "cust-up", "First Name Ltd");
    c.external_id = None; // the key is in the URL
    let first = env
        .client
        .upsert(RecordType::Customer, "cust-up", &c)
        .await
        .unwrap();
    c.company_name = Some("Renamed Ltd".into());
    let second = env
        .client
        .upsert(RecordType::Customer, "cust-up", &c)
        .await
        .unwrap();
    assert_eq!(first, second);
    let all = env.sim.records("customer");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["companyName"], "Renamed Ltd");
    assert_eq!(all[0]["externalId"], "cust-up");
}

#[tokio::test]
async fn patch_replaces_named_sublists() {
    let env = env().await;
    let cust = new_customer(&env, "cust-p").await;
    let so_id = env
        .client
        .create(
            RecordType::SalesOrder,
            &sales_order(&env, &cust, "so-p", &env.items["pro"]),
        )
        .await
        .unwrap();
    let patch = SalesTransaction {
        memo: Some("one line now".into()),
        item: Some(vec![line(&env.items["pro"], dec!(2), dec!(10.00))].into()),
        ..Default::default()
    };
    env.client
        .patch(
            RecordType::SalesOrder,
            &RecordKey::id(&so_id),
            &patch,
            &["item"],
        )
        .await
        .unwrap();
    let so: SalesTransaction = env
        .client
        .get_with(
            RecordType::SalesOrder,
            &RecordKey::id(&so_id),
            &GetOptions {
                expand_sub_resources: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(so.memo.as_deref(), Some("one line now"));
    let lines = so.item.unwrap().items;
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].amount, Some(dec!(20.00)));
}

#[tokio::test]
async fn order_to_cash_non_inventory_to_the_cent() {
    let env = env().await;
    let cust = new_customer(&env, "cust-o2c").await;
    let so_id = env
        .client
        .create(
            RecordType::SalesOrder,
            &sales_order(&env, &cust, "so-1", &env.items["pro"]),
        )
        .await
        .unwrap();

    let invoice_body = SalesTransaction {
        external_id: Some("inv-1".into()),
        tran_date: Some(date(2026, 1, 31)),
        due_date: Some(date(2026, 3, 2)),
        ..Default::default()
    };
    let inv_id = env
        .client
        .transform(
            RecordType::SalesOrder,
            &so_id,
            RecordType::Invoice,
            &invoice_body,
            &[],
        )
        .await
        .unwrap();
    let inv: SalesTransaction = env
        .client
        .get(RecordType::Invoice, &RecordKey::id(&inv_id))
        .await
        .unwrap();
    assert_eq!(inv.total, Some(dec!(56.20)));
    assert_eq!(inv.amount_remaining, Some(dec!(56.20)));
    assert_eq!(inv.created_from.and_then(|r| r.id), Some(so_id.clone()));
    assert_eq!(inv.other_ref_num.as_deref(), Some("PO-77"));

    let payment = CashTransaction {
        external_id: Some("pmt-1".into()),
        customer: Some(RecordRef::id(&cust)),
        payment: Some(dec!(56.20)),
        tran_date: Some(date(2026, 2, 1)),
        auto_apply: Some(false),
        apply: Some(
            vec![ApplyLine {
                doc: RecordRef::id(&inv_id),
                apply: true,
                amount: dec!(56.20),
            }]
            .into(),
        ),
        ..Default::default()
    };
    env.client
        .create(RecordType::CustomerPayment, &payment)
        .await
        .unwrap();
    let inv = env.sim.record("invoice", &inv_id).unwrap();
    assert_eq!(money(&inv["amountRemaining"]), dec!(0));
    assert_eq!(inv["status"]["id"], "B");
}

#[tokio::test]
async fn inventory_order_waits_for_fulfilment_and_takes_a_deposit() {
    let env = env().await;
    let cust = new_customer(&env, "cust-inv").await;
    let so_id = env
        .client
        .create(
            RecordType::SalesOrder,
            &sales_order(&env, &cust, "so-inv", &env.items["widget"]),
        )
        .await
        .unwrap();
    let invoice_body = SalesTransaction {
        external_id: Some("inv-inv".into()),
        ..Default::default()
    };
    let early = env
        .client
        .transform(
            RecordType::SalesOrder,
            &so_id,
            RecordType::Invoice,
            &invoice_body,
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(early.kind(), ErrorKind::CannotInitialize, "{early}");
    assert_eq!(early.class(), ErrorClass::NeedsPerson);

    let deposit = CashTransaction {
        external_id: Some("dep-1".into()),
        customer: Some(RecordRef::id(&cust)),
        sales_order: Some(RecordRef::id(&so_id)),
        payment: Some(dec!(56.20)),
        ..Default::default()
    };
    let dep_id = env
        .client
        .create(RecordType::CustomerDeposit, &deposit)
        .await
        .unwrap();
    assert_eq!(
        env.sim.record("customerDeposit", &dep_id).unwrap()["salesOrder"]["id"],
        so_id
    );

    env.sim.fulfill_sales_order(&so_id).unwrap();
    let fulfilled: Vec<_> = env
        .client
        .suiteql(
            format!("SELECT id, createdfrom FROM transaction WHERE type = 'ItemShip' AND createdfrom = {so_id}"),
            100,
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(fulfilled.len(), 1);

    let inv_id = env
        .client
        .transform(
            RecordType::SalesOrder,
            &so_id,
            RecordType::Invoice,
            &invoice_body,
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        money(&env.sim.record("invoice", &inv_id).unwrap()["total"]),
        dec!(56.20)
    );
}

#[tokio::test]
async fn credit_memo_and_refund() {
    let env = env().await;
    let cust = new_customer(&env, "cust-cm").await;
    let so_id = env
        .client
        .create(
            RecordType::SalesOrder,
            &sales_order(&env, &cust, "so-cm", &env.items["pro"]),
        )
        .await
        .unwrap();
    let inv_id = env
        .client
        .transform(
            RecordType::SalesOrder,
            &so_id,
            RecordType::Invoice,
            &SalesTransaction {
                external_id: Some("inv-cm".into()),
                ..Default::default()
            },
            &[],
        )
        .await
        .unwrap();
    let memo = SalesTransaction {
        external_id: Some("cm-1".into()),
        auto_apply: Some(false),
        item: Some(vec![line(&env.items["pro"], dec!(1), dec!(19.99))].into()),
        apply: Some(
            vec![ApplyLine {
                doc: RecordRef::id(&inv_id),
                apply: true,
                amount: dec!(19.99),
            }]
            .into(),
        ),
        ..Default::default()
    };
    let cm_id = env
        .client
        .transform(
            RecordType::Invoice,
            &inv_id,
            RecordType::CreditMemo,
            &memo,
            &["item"],
        )
        .await
        .unwrap();
    let inv = env.sim.record("invoice", &inv_id).unwrap();
    assert_eq!(money(&inv["amountRemaining"]), dec!(36.21));
    assert_eq!(
        env.sim.record("creditMemo", &cm_id).unwrap()["createdFrom"]["id"],
        inv_id
    );

    // Pay the rest, overpaying by 10.00, then refund the overpayment.
    let pay_id = env
        .client
        .create(
            RecordType::CustomerPayment,
            &CashTransaction {
                external_id: Some("pmt-cm".into()),
                customer: Some(RecordRef::id(&cust)),
                payment: Some(dec!(46.21)),
                apply: Some(
                    vec![ApplyLine {
                        doc: RecordRef::id(&inv_id),
                        apply: true,
                        amount: dec!(36.21),
                    }]
                    .into(),
                ),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let account = env.sim.seed(
        "account",
        json!({"acctName": "Operating bank", "acctNumber": "1000"}),
    );
    let no_account = CashTransaction {
        external_id: Some("rfnd-1".into()),
        customer: Some(RecordRef::id(&cust)),
        apply: Some(
            vec![ApplyLine {
                doc: RecordRef::id(&pay_id),
                apply: true,
                amount: dec!(10.00),
            }]
            .into(),
        ),
        ..Default::default()
    };
    let err = env
        .client
        .create(RecordType::CustomerRefund, &no_account)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation, "{err}");
    let refund = CashTransaction {
        account: Some(RecordRef::id(&account)),
        ..no_account
    };
    let rf_id = env
        .client
        .create(RecordType::CustomerRefund, &refund)
        .await
        .unwrap();
    assert_eq!(
        money(&env.sim.record("customerRefund", &rf_id).unwrap()["total"]),
        dec!(10.00)
    );
    assert_eq!(
        money(&env.sim.record("customerPayment", &pay_id).unwrap()["unapplied"]),
        dec!(0)
    );
}

#[tokio::test]
async fn suiteql_streams_every_page() {
    let env = env().await;
    for i in 0..25 {
        new_customer(&env, &format!("q-{i:02}")).await;
    }
    env.sim.reset_stats();
    let rows: Vec<_> = env
        .client
        .suiteql(
            "SELECT id, externalid, email FROM customer WHERE externalid LIKE 'q-%' ORDER BY id",
            10,
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rows.len(), 25);
    assert!(rows.iter().all(|r| !r.contains_key("links")));
    assert_eq!(
        env.sim.stats().requests_by_operation.get("suiteql"),
        Some(&3)
    );

    let by_email: Vec<_> = env
        .client
        .suiteql(
            "SELECT id FROM customer WHERE LOWER(email) = LOWER('Q-07@EXAMPLE.COM')",
            1000,
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(by_email.len(), 1);
}

#[tokio::test]
async fn wrong_secret_is_a_login_error_that_needs_a_person() {
    let env = env().await;
    let mut config = env.config.clone();
    if let billsync::netsuite::Auth::Tba(c) = &mut config.auth {
        c.token_secret = "wrong-token-secret".into();
    }
    let client = NetSuiteClient::new(config).unwrap();
    let err = client.check().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Login);
    assert_eq!(err.class(), ErrorClass::NeedsPerson);
    assert_eq!(err.status(), Some(401));
    assert_eq!(err.code(), Some("INVALID_LOGIN"));
    // One fresh-signed repeat (401 can mean overload), no more.
    assert_eq!(env.sim.stats().total_requests, 2);
    assert!(!env.sim.login_audit().is_empty());
}

#[tokio::test]
async fn business_errors_are_typed_with_netsuite_detail() {
    let env = env().await;
    let cust = new_customer(&env, "cust-err").await;
    let so = sales_order(&env, &cust, "so-err", &env.items["pro"]);
    let mut errors = Vec::new();
    env.sim.reset_stats();

    env.sim.add_fault(Fault::RequiredField {
        field: "department".into(),
        label: "Department".into(),
        record_types: vec![],
    });
    let e = env
        .client
        .create(RecordType::SalesOrder, &so)
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Validation, Some("USER_ERROR"))
    );
    assert!(
        e.to_string()
            .contains("Please enter value(s) for: Department"),
        "{e}"
    );
    errors.push(e);
    env.sim.clear_faults();

    env.sim.add_fault(Fault::ClosedTaxPeriod {
        from: date(2026, 1, 1),
        to: date(2026, 1, 31),
    });
    let e = env
        .client
        .create(RecordType::SalesOrder, &so)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation);
    assert!(e.to_string().contains("no valid open tax period"), "{e}");
    errors.push(e);
    env.sim.clear_faults();

    env.sim.add_fault(Fault::InvalidSubsidiary {
        id: env.subsidiary.clone(),
    });
    let e = env
        .client
        .create(RecordType::Customer, &customer(&env, "cust-sub", "Sub Ltd"))
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::InvalidReference, Some("INVALID_KEY_OR_REF"))
    );
    assert!(
        e.to_string().contains("Invalid subsidiary reference key"),
        "{e}"
    );
    errors.push(e);
    env.sim.clear_faults();

    env.sim
        .add_fault(Fault::InactiveCustomer { id: cust.clone() });
    let e = env
        .client
        .create(RecordType::SalesOrder, &so)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidReference);
    assert!(
        e.to_string().contains("Invalid entity reference key"),
        "{e}"
    );
    errors.push(e);
    env.sim.clear_faults();

    env.sim.add_fault(Fault::MissingPermission {
        record_type: "salesOrder".into(),
    });
    let e = env
        .client
        .create(RecordType::SalesOrder, &so)
        .await
        .unwrap_err();
    assert_eq!((e.kind(), e.status()), (ErrorKind::Permission, Some(403)));
    errors.push(e);
    env.sim.clear_faults();

    // Each needs a person, and none was sent twice: one request per failed create.
    assert_eq!(errors.len(), 5);
    assert!(errors.iter().all(|e| e.class() == ErrorClass::NeedsPerson));
    let stats = env.sim.stats();
    assert_eq!(
        stats.requests_by_operation.get("create:salesOrder"),
        Some(&4),
        "{stats:?}"
    );
    assert_eq!(
        stats.requests_by_operation.get("create:customer"),
        Some(&1),
        "{stats:?}"
    );
    assert_eq!(env.sim.records("salesOrder").len(), 0);
    env.client
        .create(RecordType::SalesOrder, &so)
        .await
        .unwrap();
    assert_eq!(env.sim.records("salesOrder").len(), 1);
}

#[tokio::test]
async fn server_errors_are_retried_with_fresh_signatures() {
    let env = env().await;
    env.sim.add_fault(Fault::ServerError { remaining: 2 });
    env.sim.reset_stats();
    // The third attempt succeeds; the simulator refuses a reused nonce, so this also proves
    // every attempt was signed afresh.
    let id = new_customer(&env, "cust-5xx").await;
    assert_eq!(env.sim.records("customer").len(), 1);
    assert!(!id.is_empty());

    env.sim.add_fault(Fault::ServerError { remaining: 10 });
    let e = env.client.check().await.unwrap_err();
    assert_eq!(
        (e.kind(), e.class()),
        (ErrorKind::Server, ErrorClass::Retryable)
    );
    env.sim.clear_faults();
}

#[tokio::test]
async fn lost_answer_after_commit_never_makes_a_second_record() {
    let env = env().await;
    env.sim.add_fault(Fault::CommitThenDrop { remaining: 1 });
    let id = new_customer(&env, "cust-drop").await;
    let all = env.sim.records("customer");
    assert_eq!(all.len(), 1, "exactly one customer after the lost answer");
    assert_eq!(all[0]["id"].as_str(), Some(id.as_str()));

    // The same for a transform.
    let so_id = env
        .client
        .create(
            RecordType::SalesOrder,
            &sales_order(&env, &id, "so-drop", &env.items["pro"]),
        )
        .await
        .unwrap();
    env.sim.add_fault(Fault::CommitThenDrop { remaining: 1 });
    let inv_id = env
        .client
        .transform(
            RecordType::SalesOrder,
            &so_id,
            RecordType::Invoice,
            &SalesTransaction {
                external_id: Some("inv-drop".into()),
                ..Default::default()
            },
            &[],
        )
        .await
        .unwrap();
    let invoices = env.sim.records("invoice");
    assert_eq!(invoices.len(), 1);
    assert_eq!(invoices[0]["id"].as_str(), Some(inv_id.as_str()));

    // Without an externalId there is nothing to look up: the client says so and does not resend.
    env.sim.add_fault(Fault::CommitThenDrop { remaining: 1 });
    let mut anonymous = customer(&env, "x", "No External Id Ltd");
    anonymous.external_id = None;
    let e = env
        .client
        .create(RecordType::Customer, &anonymous)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OutcomeUnknown, "{e}");
    assert_eq!(env.sim.records("customer").len(), 2);
}

#[tokio::test]
async fn over_the_account_limit_is_retried_until_served() {
    let env = env_with(SimConfig {
        concurrency_limit: 2,
        latency: Duration::from_millis(30),
        ..SimConfig::default()
    })
    .await;
    // This client allows more in flight than the account does: some requests get 429.
    let mut config = client_config(&env.sim);
    config.concurrency = 6;
    config.retry.max_attempts = 30;
    let client = NetSuiteClient::new(config).unwrap();
    let calls = (0..12).map(|_| client.check());
    let results = futures::future::join_all(calls).await;
    assert!(
        results.iter().all(|r| r.is_ok()),
        "{:?}",
        results.iter().find(|r| r.is_err())
    );
    let stats = env.sim.stats();
    assert!(
        stats.rejected_429 > 0,
        "the limit was exceeded and answered with 429"
    );
    assert!(stats.peak_in_flight <= 2);
}

#[tokio::test]
async fn the_client_keeps_to_its_share_of_the_limit() {
    let env = env_with(SimConfig {
        concurrency_limit: 5,
        latency: Duration::from_millis(25),
        ..SimConfig::default()
    })
    .await;
    let mut config = client_config(&env.sim);
    config.concurrency = 3;
    let client = NetSuiteClient::new(config).unwrap();
    let results = futures::future::join_all((0..20).map(|_| client.check())).await;
    assert!(results.iter().all(Result::is_ok));
    let stats = env.sim.stats();
    assert_eq!(stats.rejected_429, 0);
    assert_eq!(
        stats.peak_in_flight, 3,
        "three in flight at once, never more"
    );
}

#[tokio::test]
async fn transport_failures_are_retryable() {
    // Nothing listens on this port once the simulator is gone.
    let env = env().await;
    let config = env.config.clone();
    env.sim.shutdown().await;
    let client = NetSuiteClient::new(config).unwrap();
    let e = client.check().await.unwrap_err();
    assert!(matches!(
        e,
        NetSuiteError::Transport {
            kind: TransportKind::Connect,
            ..
        }
    ));
    assert!(e.is_retryable());

    let env = env_with(SimConfig {
        latency: Duration::from_millis(400),
        ..SimConfig::default()
    })
    .await;
    let mut config = env.config.clone();
    config.request_timeout = Duration::from_millis(100);
    config.retry.max_attempts = 2;
    let e = NetSuiteClient::new(config)
        .unwrap()
        .check()
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            NetSuiteError::Transport {
                kind: TransportKind::Timeout,
                ..
            }
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn items_are_created_typed_and_external_ids_are_unique() {
    use billsync::netsuite::records::{Item, ItemType};
    let env = env().await;
    let discount = Item {
        external_id: Some("ab-acme-item-discount".into()),
        item_id: Some("Advanced Billing Discount".into()),
        non_posting: Some(true),
        ..Default::default()
    };
    let id = env
        .client
        .create(ItemType::Discount.record_type(), &discount)
        .await
        .unwrap();
    let back: Item = env
        .client
        .get(RecordType::DiscountItem, &RecordKey::id(&id))
        .await
        .unwrap();
    assert_eq!(back.item_id.as_deref(), Some("Advanced Billing Discount"));
    assert_eq!(back.non_posting, Some(true));

    let service = Item {
        external_id: Some("ab-acme-item-setup".into()),
        item_id: Some("Setup fee".into()),
        sales_description: Some("One-off onboarding".into()),
        ..Default::default()
    };
    env.client
        .create(ItemType::Service.record_type(), &service)
        .await
        .unwrap();
    // A second record with a taken external id is refused on the first attempt, typed.
    let dup = env
        .client
        .create(ItemType::NonInventory.record_type(), &discount)
        .await
        .unwrap_err();
    assert_eq!(dup.kind(), ErrorKind::Duplicate, "{dup}");
    assert_eq!(env.sim.records("serviceSaleItem").len(), 1);
}

#[tokio::test]
async fn a_create_after_a_crash_finds_the_record_already_saved() {
    // A process that died after NetSuite committed but before it stored the id sends the same
    // create again on its next run; the deterministic external id leads it to the record.
    let env = env().await;
    let first = new_customer(&env, "cust-crash").await;
    let again = new_customer(&env, "cust-crash").await;
    assert_eq!(first, again);
    assert_eq!(env.sim.records("customer").len(), 1);
}
