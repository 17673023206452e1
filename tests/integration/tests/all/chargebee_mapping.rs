//! Chargebee's NetSuite field mapping (seed 003), row by row, Chargebee simulator in, NetSuite
//! simulator out, the records asserted as NetSuite holds them. docs/chargebee-mapping.md
//! names the test of each row; the rows by test here:
//! - customer: externalId, entityId, companyName/isPerson/names, vatRegNumber, subsidiary,
//!   address book, currency (preferred), entityStatus, customFieldList (site, id, `cf_*`);
//! - item (created): itemId/externalId, salesDescription, incomeAccount, class/location/
//!   department, revenue rules, tax schedule;
//! - invoice: made directly or via a sales order, externalId, tranId, entity, tranDate,
//!   dueDate, terms, billing/shipping address, otherRefNum, currency, class/department/
//!   location by document or customer, taxDetailsOverride, customFieldList, round-off,
//!   three-decimal currencies;
//! - line: item (bad-debt item for write-offs, assembly and kit on the order path),
//!   description, quantity, amount, isTaxable/taxCode, `custcol` fields;
//! - credit memo: from the reference invoice, externalId/tranId, tranDate, autoApply,
//!   applyList (also to another invoice), otherRefNum, taxDetailsOverride;
//! - payment/refund: externalId/tranId, amount, applyList, memo, checkNum, account by gateway
//!   and currency, paymentMethod by gateway and type, the transaction's exchange rate.

use std::collections::BTreeMap;
use std::time::Duration;

use billing_sim::chargebee::{CbAddress, CbCustomerUpdate, CbInvoiceDetails, CbItemPrice};
use billing_sim::{CbInvoice, CbLine, ChargebeeSim, ChargebeeSimConfig};
use billsync::billing::chargebee::client::{ChargebeeClient, ChargebeeConfig};
use billsync::flow::run::Engine;
use billsync::flow::state::FlowStatus;
use billsync::netsuite::{NetSuiteClient, NetSuiteConfig, RetryPolicy};
use billsync::settings::TenantSettings;
use billsync::store::prelude::*;
use billsync::store::sqlite::SqliteStore;
use netsuite_sim::{DemoData, NetSuiteSim, SimConfig};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::common;

fn money(v: &Value) -> Decimal {
    v.to_string().trim_matches('"').parse().unwrap()
}

/// NetSuite writes so far (everything but reads and queries), from the simulator's counts.
fn writes(ns: &NetSuiteSim) -> u64 {
    ns.stats()
        .requests_by_operation
        .iter()
        .filter(|(op, _)| !(op.starts_with("get:") || op.starts_with("list:") || *op == "suiteql"))
        .map(|(_, n)| n)
        .sum()
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or_default().to_owned()
}

/// Both simulators, a store and the clients, for one Chargebee tenant.
struct World {
    ns: NetSuiteSim,
    demo: DemoData,
    cb: ChargebeeSim,
    store: SqliteStore,
    netsuite: NetSuiteClient,
    chargebee: ChargebeeClient,
}

impl World {
    async fn start() -> World {
        let ns = NetSuiteSim::start(SimConfig::default()).await.unwrap();
        let demo = ns.seed_demo();
        let cb = ChargebeeSim::start(ChargebeeSimConfig::default())
            .await
            .unwrap();
        let mut config: NetSuiteConfig = common::client_config(&ns);
        config.retry = RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(2),
            max_delay: Duration::from_millis(10),
        };
        let netsuite = NetSuiteClient::new(config).unwrap();
        let mut cc = ChargebeeConfig::new(cb.config().site, cb.config().api_key.into());
        cc.base_url = Some(cb.base_url().parse().unwrap());
        let chargebee = ChargebeeClient::new(cc).unwrap();
        World {
            ns,
            demo,
            cb,
            store: SqliteStore::in_memory().unwrap(),
            netsuite,
            chargebee,
        }
    }

    /// A tenant document with `extra` merged over the base (objects merge one level deep).
    async fn settings(&self, extra: Value) -> TenantSettings {
        let d = &self.demo;
        let mut doc = json!({
            "tenant": "cb", "source": "chargebee", "site": self.cb.config().site,
            "sync_start_date": "2020-01-01",
            "items": {
                "custom_default": {"id": d.item_services, "type": "service"},
                "tax_item": {"id": d.item_sales_tax, "type": "non_inventory"},
                "discount_item": d.item_discount
            },
            "payments": {"payment_instruments": true},
            "refunds": {"account": d.account_bank},
            "transactions": {"subsidiary": d.subsidiary},
            "prefixes": {"external_id": "CB"}
        });
        for (k, v) in extra.as_object().unwrap() {
            match (doc.get_mut(k), v) {
                (Some(Value::Object(base)), Value::Object(more)) => {
                    for (k2, v2) in more {
                        base.insert(k2.clone(), v2.clone());
                    }
                }
                _ => {
                    doc[k] = v.clone();
                }
            }
        }
        let s = TenantSettings::from_value(&doc).unwrap();
        self.store.put_settings(&s).await.unwrap();
        s
    }

    fn engine(&self) -> Engine<'_> {
        Engine {
            netsuite: &self.netsuite,
            store: &self.store,
            billing: &self.chargebee,
        }
    }

    fn customer(&self, id: &str) {
        self.cb.add_customer(
            id,
            Some("Halvorsen Robotics"),
            "Ingrid",
            "Halvorsen",
            "ap@halvorsen.example.com",
            "USD",
        );
    }

    fn invoice(&self, customer: &str, lines: Vec<CbLine>) -> String {
        self.cb.add_invoice(CbInvoice {
            customer_id: customer.into(),
            currency: "USD".into(),
            date: 1_769_900_000,
            lines,
            ..CbInvoice::default()
        })
    }
}

fn plan_line(entity_id: &str, amount: i64, tax: u32) -> CbLine {
    CbLine {
        entity_type: "plan_item_price".into(),
        entity_id: Some(entity_id.into()),
        description: "Pro plan".into(),
        quantity: 1,
        unit_amount: amount,
        tax_rate_percent: tax,
    }
}

/// An ad-hoc line (the tenant's `items.custom_default`) of `amount` minor units, untaxed.
fn adhoc(amount: i64) -> CbLine {
    CbLine {
        entity_type: "adhoc".into(),
        entity_id: None,
        ..plan_line("-", amount, 0)
    }
}

fn addon_line(entity_id: &str, quantity: i64, amount: i64) -> CbLine {
    CbLine {
        entity_type: "addon_item_price".into(),
        entity_id: Some(entity_id.into()),
        description: "Seats".into(),
        quantity,
        unit_amount: amount,
        tax_rate_percent: 0,
    }
}

fn item_price(id: &str, item_type: &str, name: &str, sku: Option<&str>) -> CbItemPrice {
    CbItemPrice {
        id: id.into(),
        item_id: id.split('-').next().unwrap_or(id).into(),
        item_type: item_type.into(),
        name: name.into(),
        external_name: Some(name.into()),
        description: Some(format!("{name}, billed monthly")),
        currency: "USD".into(),
        price: 49900,
        sku: sku.map(str::to_owned),
        accounting_code: None,
        accounting_category1: None,
        accounting_category2: None,
        accounting_category3: None,
        accounting_category4: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_are_created_from_item_prices_once_with_their_accounting_details() {
    let w = World::start().await;
    let class_saas = w.ns.seed("classification", json!({"name": "SaaS"}));
    w.cb.add_item_price(CbItemPrice {
        accounting_code: Some("4000 Subscription Revenue".into()),
        accounting_category1: Some("SaaS".into()),
        accounting_category2: Some("HQ".into()),
        accounting_category3: Some("Sales".into()),
        ..item_price(
            "pro-USD-monthly",
            "plan",
            "Pro Plan USD Monthly",
            Some("BS-PRO-M-USD"),
        )
    });
    // No SKU: the name is the item name; no accounting code: the configured income account.
    w.cb.add_item_price(item_price(
        "seats-USD-monthly",
        "addon",
        "Extra Seats",
        None,
    ));
    w.customer("halvorsen");
    let settings = w
        .settings(json!({
            "items": {"create_missing": {
                "type": "non_inventory",
                "income_account": w.demo.account_revenue,
                "classes": {"SaaS": class_saas},
                "locations": {"HQ": w.demo.location_main},
                "departments": {"Sales": w.demo.department_sales}
            }},
            "prefixes": {"external_id": "CB", "item": "CB-"}
        }))
        .await;
    let first = w.invoice(
        "halvorsen",
        vec![
            plan_line("pro-USD-monthly", 49900, 0),
            addon_line("seats-USD-monthly", 3, 1500),
        ],
    );
    let out = w.engine().sync_invoice(&settings, &first).await.unwrap();
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");

    let items = w.ns.records("nonInventorySaleItem");
    let pro = items
        .iter()
        .find(|i| i["itemId"] == "CB-BS-PRO-M-USD")
        .unwrap_or_else(|| panic!("no item named after the SKU in {items:#?}"));
    assert_eq!(pro["externalId"], "CB-BS-PRO-M-USD");
    assert_eq!(pro["displayName"], "Pro Plan USD Monthly");
    assert_eq!(
        pro["salesDescription"],
        "Pro Plan USD Monthly, billed monthly"
    );
    assert_eq!(id_of(&pro["incomeAccount"]), w.demo.account_revenue);
    assert_eq!(id_of(&pro["class"]), class_saas);
    assert_eq!(id_of(&pro["location"]), w.demo.location_main);
    assert_eq!(id_of(&pro["department"]), w.demo.department_sales);
    let seats = items
        .iter()
        .find(|i| i["itemId"] == "CB-Extra Seats")
        .unwrap_or_else(|| panic!("no item named after the catalog name in {items:#?}"));
    assert_eq!(id_of(&seats["incomeAccount"]), w.demo.account_revenue);
    let pro_id = id_of(pro);
    let order = &w.ns.records("invoice")[0];
    let line_items: Vec<String> = order["item"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| id_of(&l["item"]))
        .collect();
    assert!(line_items.contains(&pro_id), "{line_items:?}");
    assert!(line_items.contains(&id_of(seats)), "{line_items:?}");

    // A second invoice of the same prices reuses the items: none is created again.
    let second = w.invoice("halvorsen", vec![plan_line("pro-USD-monthly", 49900, 0)]);
    let out = w.engine().sync_invoice(&settings, &second).await.unwrap();
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
    assert_eq!(w.ns.records("nonInventorySaleItem").len(), items.len());
    assert!(
        out.created
            .iter()
            .all(|(t, _)| !t.as_str().contains("Item")),
        "{out:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmapped_accounting_category_is_an_error_with_the_setting_to_add() {
    let w = World::start().await;
    w.cb.add_item_price(CbItemPrice {
        accounting_category1: Some("Hardware".into()),
        ..item_price("box-USD", "charge", "Edge Box", Some("EDGE-1"))
    });
    w.customer("halvorsen");
    let settings = w
        .settings(json!({"items": {"create_missing": {"income_account": w.demo.account_revenue}}}))
        .await;
    let inv = w.invoice(
        "halvorsen",
        vec![CbLine {
            entity_type: "charge_item_price".into(),
            ..plan_line("box-USD", 19900, 0)
        }],
    );
    let out = w.engine().sync_invoice(&settings, &inv).await.unwrap();
    assert_eq!(out.status, FlowStatus::Error);
    let e = out.error.unwrap();
    assert_eq!(e.code.as_deref(), Some("UNMAPPED_VALUE"));
    assert!(e.detail.contains("Hardware"), "{e:?}");
    assert!(e.fix.contains("items.create_missing.classes"), "{e:?}");
    assert!(w.ns.records("invoice").is_empty());
    assert!(w
        .ns
        .records("nonInventorySaleItem")
        .iter()
        .all(|i| i["itemId"] != "EDGE-1"));

    // An accounting code no NetSuite account carries is named too.
    w.cb.add_item_price(CbItemPrice {
        accounting_code: Some("9999 Nowhere".into()),
        ..item_price("other-USD", "charge", "Other", None)
    });
    let inv = w.invoice(
        "halvorsen",
        vec![CbLine {
            entity_type: "charge_item_price".into(),
            ..plan_line("other-USD", 100, 0)
        }],
    );
    let out = w.engine().sync_invoice(&settings, &inv).await.unwrap();
    let e = out.error.unwrap();
    assert_eq!(e.step, "find income account");
    assert!(e.detail.contains("9999 Nowhere"), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_level_tracking_takes_class_department_location_from_the_customer() {
    let w = World::start().await;
    let class_emea = w.ns.seed("classification", json!({"name": "EMEA"}));
    w.customer("halvorsen");
    w.cb.update_customer(
        "halvorsen",
        CbCustomerUpdate {
            custom_fields: BTreeMap::from([
                ("cf_ns_class".to_owned(), class_emea.clone()),
                (
                    "cf_ns_department".to_owned(),
                    w.demo.department_services.clone(),
                ),
            ]),
            ..CbCustomerUpdate::default()
        },
    );
    let settings = w
        .settings(json!({"transactions": {
            "subsidiary": w.demo.subsidiary,
            "department": w.demo.department_sales,
            "location": w.demo.location_main,
            "tracking": "customer",
            "customer_tracking": {"class": "cf_ns_class", "department": "cf_ns_department", "location": "cf_ns_location"}
        }}))
        .await;
    let inv = w.invoice(
        "halvorsen",
        vec![CbLine {
            entity_type: "adhoc".into(),
            entity_id: None,
            ..plan_line("-", 10000, 0)
        }],
    );
    w.cb.pay(&inv, 10000);
    let out = w.engine().sync_invoice(&settings, &inv).await.unwrap();
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
    let order = &w.ns.records("invoice")[0];
    // The customer's fields win; the document value fills what the customer leaves unset.
    assert_eq!(id_of(&order["class"]), class_emea);
    assert_eq!(id_of(&order["department"]), w.demo.department_services);
    assert_eq!(id_of(&order["location"]), w.demo.location_main);
    let payment = &w.ns.records("customerPayment")[0];
    assert_eq!(id_of(&payment["class"]), class_emea);
    assert_eq!(id_of(&payment["department"]), w.demo.department_services);

    // With document-level tracking the same customer gets the tenant's values.
    let doc_level = w
        .settings(json!({"tenant": "cb-doc", "transactions": {
            "subsidiary": w.demo.subsidiary, "department": w.demo.department_sales
        }, "prefixes": {"external_id": "CBD"}}))
        .await;
    let inv2 = w.invoice(
        "halvorsen",
        vec![CbLine {
            entity_type: "adhoc".into(),
            entity_id: None,
            ..plan_line("-", 5000, 0)
        }],
    );
    let out = w.engine().sync_invoice(&doc_level, &inv2).await.unwrap();
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
    let order =
        w.ns.records("invoice")
            .into_iter()
            .find(|o| {
                o["externalId"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("CBD")
            })
            .unwrap();
    assert_eq!(id_of(&order["department"]), w.demo.department_sales);
    assert!(order.get("class").is_none_or(Value::is_null), "{order}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_carry_is_taxable_and_the_mapped_tax_code() {
    let w = World::start().await;
    w.customer("halvorsen");
    let settings = w
        .settings(json!({
            "items": {
                "products": {"pro-USD-monthly": {"id": w.demo.item_subscription, "type": "service"}},
                "components": {"seats-USD-monthly": {"id": w.demo.item_usage, "type": "non_inventory"}}
            },
            "transactions": {"subsidiary": w.demo.subsidiary, "tax_codes": {"Sales Tax 10%": "18"}, "untaxed_code": "17"}
        }))
        .await;
    let inv = w.invoice(
        "halvorsen",
        vec![
            plan_line("pro-USD-monthly", 49900, 10),
            addon_line("seats-USD-monthly", 2, 1500),
        ],
    );
    let out = w.engine().sync_invoice(&settings, &inv).await.unwrap();
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
    let order = &w.ns.records("invoice")[0];
    let lines = order["item"]["items"].as_array().unwrap();
    let line_of = |item: &str| {
        lines
            .iter()
            .find(|l| id_of(&l["item"]) == item)
            .unwrap_or_else(|| panic!("no line of item {item} in {lines:#?}"))
    };
    let pro = line_of(&w.demo.item_subscription);
    assert_eq!(pro["isTaxable"], true);
    assert_eq!(id_of(&pro["taxCode"]), "18");
    let seats = line_of(&w.demo.item_usage);
    assert_eq!(seats["isTaxable"], false);
    assert_eq!(id_of(&seats["taxCode"]), "17");
    // The billed tax still reaches NetSuite to the cent.
    let billed = w.chargebee.invoice(&inv).await.unwrap();
    assert_eq!(money(&order["total"]), billed.totals.total);

    // A tax the mapping does not name stops the invoice with the key to add.
    let other = w
        .settings(json!({
            "tenant": "cb-other", "prefixes": {"external_id": "CBO"},
            "items": {"products": {"pro-USD-monthly": {"id": w.demo.item_subscription, "type": "service"}},
                      "components": {"seats-USD-monthly": {"id": w.demo.item_usage, "type": "non_inventory"}}},
            "transactions": {"subsidiary": w.demo.subsidiary, "tax_codes": {"VAT 20%": "19"}}
        }))
        .await;
    let out = w.engine().sync_invoice(&other, &inv).await.unwrap();
    let e = out.error.unwrap();
    assert_eq!(e.code.as_deref(), Some("UNMAPPED_TAX"));
    assert!(e.fix.contains("\"Sales Tax 10%\""), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn billing_updates_reach_the_invoice_and_customer_billsync_made() {
    let w = World::start().await;
    w.customer("halvorsen");
    let settings = w.settings(json!({})).await;
    let adhoc = CbLine {
        entity_type: "adhoc".into(),
        entity_id: None,
        ..plan_line("-", 25000, 0)
    };
    let inv = w.invoice("halvorsen", vec![adhoc]);
    let out = w.engine().sync_invoice(&settings, &inv).await.unwrap();
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
    let ns_invoice_id = id_of(&w.ns.records("invoice")[0]);
    let customer_id = id_of(&w.ns.records("customer")[0]);
    let before = writes(&w.ns);

    // Nothing changed: a rerun writes nothing.
    w.engine().sync_invoice(&settings, &inv).await.unwrap();
    assert_eq!(writes(&w.ns), before, "an unchanged rerun must not write");

    // Chargebee "update invoice details": PO number and billing address.
    w.cb.update_invoice_details(
        &inv,
        CbInvoiceDetails {
            po_number: Some("PO-4471".into()),
            billing_address: Some(CbAddress {
                first_name: "Ingrid".into(),
                last_name: "Halvorsen".into(),
                company: Some("Halvorsen Robotics".into()),
                line1: "Storgata 1".into(),
                city: "Oslo".into(),
                zip: "0155".into(),
                country: "NO".into(),
                ..CbAddress::default()
            }),
            shipping_address: None,
        },
    );
    let out = w.engine().sync_invoice(&settings, &inv).await.unwrap();
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
    assert!(out.created.is_empty(), "an update creates nothing: {out:?}");
    let updated = w.ns.record("invoice", &ns_invoice_id).unwrap();
    assert_eq!(updated["otherRefNum"], "PO-4471");
    assert_eq!(updated["billingAddress"]["city"], "Oslo");
    assert_eq!(w.ns.records("invoice").len(), 1);

    // Chargebee customer_changed: the NetSuite customer follows.
    w.cb.update_customer(
        "halvorsen",
        CbCustomerUpdate {
            email: Some("finance@halvorsen.example.com".into()),
            phone: Some("+47 22 00 00 00".into()),
            company: Some("Halvorsen Robotics AS".into()),
            ..CbCustomerUpdate::default()
        },
    );
    let result = w
        .engine()
        .sync_customer(&settings, "halvorsen")
        .await
        .unwrap();
    assert_eq!(result.unwrap().as_deref(), Some(customer_id.as_str()));
    let customer = w.ns.record("customer", &customer_id).unwrap();
    assert_eq!(customer["email"], "finance@halvorsen.example.com");
    assert_eq!(customer["phone"], "+47 22 00 00 00");
    assert_eq!(customer["companyName"], "Halvorsen Robotics AS");
    assert_eq!(w.ns.records("customer").len(), 1);

    // A customer billsync never created is left for its first invoice.
    w.cb.add_customer(
        "newco",
        Some("NewCo"),
        "N",
        "C",
        "n@newco.example.com",
        "USD",
    );
    let none = w.engine().sync_customer(&settings, "newco").await.unwrap();
    assert_eq!(none.unwrap(), None);
    assert_eq!(w.ns.records("customer").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credit_note_allocated_to_another_invoice_is_applied_there() {
    let w = World::start().await;
    w.customer("halvorsen");
    let settings = w.settings(json!({})).await;
    let adhoc = |amount| CbLine {
        entity_type: "adhoc".into(),
        entity_id: None,
        ..plan_line("-", amount, 0)
    };
    let a = w.invoice("halvorsen", vec![adhoc(30000)]);
    w.cb.pay(&a, 30000);
    let b = w.invoice("halvorsen", vec![adhoc(20000)]);
    // Invoice B first: the note raised against A is not in NetSuite yet, so B parks.
    let cn = w.cb.credit(&a, 5000, &b);
    let out_b = w.engine().sync_invoice(&settings, &b).await.unwrap();
    assert_eq!(out_b.status, FlowStatus::Parked, "{out_b:?}");

    let out_a = w.engine().sync_invoice(&settings, &a).await.unwrap();
    assert_eq!(out_a.status, FlowStatus::Synced, "{out_a:?}");
    let memos = w.ns.records("creditMemo");
    assert_eq!(memos.len(), 1);
    assert_eq!(memos[0]["externalId"], format!("CB-cm-{cn}"));
    assert_eq!(money(&memos[0]["total"]), Decimal::new(5000, 2));

    let out_b = w.engine().sync_invoice(&settings, &b).await.unwrap();
    assert_eq!(out_b.status, FlowStatus::Synced, "{out_b:?}");
    let ns_b =
        w.ns.records("invoice")
            .into_iter()
            .find(|i| i["externalId"] == format!("CB-inv-{b}"))
            .unwrap();
    // B owes 200.00 less the 50.00 credit, as billing says.
    assert_eq!(money(&ns_b["amountRemaining"]), Decimal::new(15000, 2));
    let billed_b = w.chargebee.invoice(&b).await.unwrap();
    assert_eq!(money(&ns_b["amountRemaining"]), billed_b.totals.due);
    assert_eq!(w.ns.records("creditMemo").len(), 1);

    // Reruns of both change nothing.
    let before = writes(&w.ns);
    w.engine().sync_invoice(&settings, &a).await.unwrap();
    w.engine().sync_invoice(&settings, &b).await.unwrap();
    assert_eq!(writes(&w.ns), before);
}

#[tokio::test]
async fn one_transaction_for_two_invoices_is_one_netsuite_payment() {
    let w = World::start().await;
    w.customer("halvorsen");
    let settings = w.settings(json!({})).await;
    let adhoc = |amount| CbLine {
        entity_type: "adhoc".into(),
        entity_id: None,
        ..plan_line("-", amount, 0)
    };
    let a = w.invoice("halvorsen", vec![adhoc(10000)]);
    let b = w.invoice("halvorsen", vec![adhoc(5000)]);
    let txn = w.cb.pay_many(&[(&a, 10000), (&b, 5000)]);
    for uid in [&b, &a] {
        let out = w.engine().sync_invoice(&settings, uid).await.unwrap();
        assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
    }
    let payments = w.ns.records("customerPayment");
    assert_eq!(
        payments.len(),
        1,
        "one NetSuite payment per Chargebee transaction"
    );
    assert_eq!(payments[0]["externalId"], format!("CB-pmt-{txn}"));
    assert_eq!(money(&payments[0]["payment"]), Decimal::new(15000, 2));
    for inv in w.ns.records("invoice") {
        assert_eq!(money(&inv["amountRemaining"]), Decimal::ZERO, "{inv}");
    }
    let before = writes(&w.ns);
    for uid in [&a, &b] {
        w.engine().sync_invoice(&settings, uid).await.unwrap();
    }
    assert_eq!(writes(&w.ns), before);
}

#[tokio::test]
async fn a_write_off_after_sync_closes_the_netsuite_invoice() {
    let w = World::start().await;
    w.customer("halvorsen");
    // Chargebee's default item for bad debts takes every line of a write-off.
    let bad_debt = w.ns.seed(
        "nonInventorySaleItem",
        json!({"itemId": "Bad Debt", "incomeAccount": {"id": w.demo.account_revenue}}),
    );
    let settings = w
        .settings(json!({"items": {"bad_debt_item": {"id": bad_debt, "type": "non_inventory"}}}))
        .await;
    let inv = w.invoice(
        "halvorsen",
        vec![CbLine {
            entity_type: "adhoc".into(),
            entity_id: None,
            ..plan_line("-", 12000, 0)
        }],
    );
    w.cb.pay(&inv, 2000);
    let out = w.engine().sync_invoice(&settings, &inv).await.unwrap();
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
    let cn = w.cb.write_off(&inv);
    let out = w.engine().sync_invoice(&settings, &inv).await.unwrap();
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
    let memos = w.ns.records("creditMemo");
    assert_eq!(memos.len(), 1, "the write-off reaches NetSuite");
    assert_eq!(memos[0]["externalId"], format!("CB-cm-{cn}"));
    assert_eq!(money(&memos[0]["total"]), Decimal::new(10000, 2));
    let items: Vec<String> = memos[0]["item"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| id_of(&l["item"]))
        .collect();
    assert_eq!(items, vec![bad_debt.clone()], "on the bad-debt item");
    let ns_inv = w.ns.records("invoice")[0].clone();
    assert_eq!(money(&ns_inv["amountRemaining"]), Decimal::ZERO);
    let billed = w.chargebee.invoice(&inv).await.unwrap();
    assert_eq!(billed.totals.due, Decimal::ZERO);
    let before = writes(&w.ns);
    w.engine().sync_invoice(&settings, &inv).await.unwrap();
    assert_eq!(writes(&w.ns), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_catalog_1_site_gets_items_from_its_plans_and_addons() {
    let w = World::start().await;
    w.cb.add_legacy_catalog_entry(CbItemPrice {
        accounting_code: Some("4000".into()),
        accounting_category4: Some("Ratable".into()),
        ..item_price(
            "enterprise-annual",
            "plan",
            "Enterprise Annual",
            Some("ENT-A"),
        )
    });
    w.cb.add_legacy_catalog_entry(item_price("api-calls", "addon", "API Calls", None));
    w.customer("halvorsen");
    let settings = w
        .settings(json!({"items": {"create_missing": {
            "type": "service",
            "income_account": w.demo.account_bank,
            "tax_schedule": "1",
            "revenue_rules": {"Ratable": "3"}
        }}}))
        .await;
    let inv = w.invoice(
        "halvorsen",
        vec![
            CbLine {
                entity_type: "plan".into(),
                ..plan_line("enterprise-annual", 120000, 0)
            },
            CbLine {
                entity_type: "addon".into(),
                ..addon_line("api-calls", 10, 100)
            },
        ],
    );
    let out = w.engine().sync_invoice(&settings, &inv).await.unwrap();
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
    let items = w.ns.records("serviceSaleItem");
    let plan = items.iter().find(|i| i["itemId"] == "ENT-A").unwrap();
    // The accounting code is the account number: the revenue account, not the default.
    assert_eq!(id_of(&plan["incomeAccount"]), w.demo.account_revenue);
    assert_eq!(id_of(&plan["revenueRecognitionRule"]), "3");
    assert_eq!(id_of(&plan["revRecForecastRule"]), "3");
    assert_eq!(id_of(&plan["taxSchedule"]), "1");
    let addon = items.iter().find(|i| i["itemId"] == "API Calls").unwrap();
    assert_eq!(id_of(&addon["incomeAccount"]), w.demo.account_bank);
    // A name with a space keeps a readable external id plus a digest of the exact name.
    let eid = addon["externalId"].as_str().unwrap();
    assert!(
        eid.starts_with("API-Calls-") && eid.len() == "API-Calls-".len() + 8,
        "{eid}"
    );
}

/// Chargebee's integration makes NetSuite invoices directly: a paid invoice of a known
/// customer is two writes (the invoice, the payment), no sales order. `invoices.create:
/// sales_order` keeps the order path, and so do goods a warehouse ships whatever the setting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoices_are_made_directly_unless_an_order_is_asked_for_or_goods_ship() {
    let w = World::start().await;
    w.customer("halvorsen");
    let settings = w.settings(json!({})).await;
    let first = w.invoice("halvorsen", vec![adhoc(10000)]);
    w.cb.pay(&first, 10000);
    let out = w.engine().sync_invoice(&settings, &first).await.unwrap();
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");

    // A known customer's paid invoice: exactly two writes.
    let paid = w.invoice("halvorsen", vec![adhoc(24900)]);
    w.cb.pay(&paid, 24900);
    let before = writes(&w.ns);
    let out = w.engine().sync_invoice(&settings, &paid).await.unwrap();
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
    assert_eq!(writes(&w.ns) - before, 2, "{:?}", w.ns.stats());
    assert!(w.ns.records("salesOrder").is_empty());
    let made =
        w.ns.records("invoice")
            .into_iter()
            .find(|r| r["externalId"] == format!("CB-inv-{paid}").as_str())
            .unwrap();
    assert!(made.get("createdFrom").is_none_or(Value::is_null), "{made}");
    assert_eq!(money(&made["total"]), Decimal::new(249, 0));
    assert_eq!(money(&made["amountRemaining"]), Decimal::ZERO);
    assert_eq!(made["item"]["items"].as_array().unwrap().len(), 1);

    // Asked for: an order, then the invoice made from it.
    let via_order = w
        .settings(
            json!({"tenant": "cb-so", "prefixes": {"external_id": "CBO"},
                         "invoices": {"create": "sales_order"}}),
        )
        .await;
    let third = w.invoice("halvorsen", vec![adhoc(5000)]);
    let out = w.engine().sync_invoice(&via_order, &third).await.unwrap();
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
    let orders = w.ns.records("salesOrder");
    assert_eq!(orders.len(), 1);
    let from_order =
        w.ns.records("invoice")
            .into_iter()
            .find(|r| r["externalId"] == format!("CBO-inv-{third}").as_str())
            .unwrap();
    assert_eq!(id_of(&from_order["createdFrom"]), id_of(&orders[0]));

    // Goods: the order path, waiting for the warehouse, whatever the setting.
    let goods = w
        .settings(json!({"tenant": "cb-goods", "prefixes": {"external_id": "CBG"},
                         "items": {"custom_default": {"id": w.demo.item_hardware, "type": "inventory"}}}))
        .await;
    let boxed = w.invoice(
        "halvorsen",
        vec![CbLine {
            entity_type: "adhoc".into(),
            entity_id: None,
            ..plan_line("-", 19900, 0)
        }],
    );
    let out = w.engine().sync_invoice(&goods, &boxed).await.unwrap();
    assert_eq!(out.status, FlowStatus::AwaitingFulfilment, "{out:?}");
    assert_eq!(w.ns.records("salesOrder").len(), 2);
}

/// Chargebee's mapping: the customer's entityId is its Chargebee id, each document's tranId
/// its Chargebee id (invoice, payment, credit note, refund), with the prefix when one is set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entity_and_transaction_numbers_are_chargebees_with_an_optional_prefix() {
    let w = World::start().await;
    w.customer("halvorsen");
    let settings = w.settings(json!({})).await;
    let inv = w.invoice("halvorsen", vec![adhoc(10000)]);
    let txn = w.cb.pay(&inv, 10000);
    let (note, refund) = w.cb.refund(&inv, 2500);
    let out = w.engine().sync_invoice(&settings, &inv).await.unwrap();
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
    let only = |t: &str| {
        let records = w.ns.records(t);
        assert_eq!(records.len(), 1, "{t}: {records:#?}");
        records[0].clone()
    };
    assert_eq!(only("customer")["entityId"], "halvorsen");
    assert_eq!(only("invoice")["tranId"], inv.as_str());
    assert_eq!(only("customerPayment")["tranId"], txn.as_str());
    assert_eq!(only("creditMemo")["tranId"], note.as_str());
    assert_eq!(only("customerRefund")["tranId"], refund.as_str());

    // With prefixes, the same numbers behind them.
    let prefixed = w
        .settings(json!({"tenant": "cb-p", "prefixes": {"external_id": "CBP", "entity_id": "CE", "tran_id": "CT"}}))
        .await;
    w.customer("ostby");
    let second = w.invoice("ostby", vec![adhoc(5000)]);
    let out = w.engine().sync_invoice(&prefixed, &second).await.unwrap();
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
    assert!(w
        .ns
        .records("customer")
        .iter()
        .any(|c| c["entityId"] == "CE-ostby"));
    assert!(w
        .ns
        .records("invoice")
        .iter()
        .any(|i| i["tranId"] == format!("CT-{second}").as_str()));

    // Maxio's guide leaves numbering to NetSuite; so does a tenant that turns it off.
    let off = w
        .settings(
            json!({"tenant": "cb-off", "prefixes": {"external_id": "CBX", "send_numbers": false}}),
        )
        .await;
    w.customer("vik");
    let third = w.invoice("vik", vec![adhoc(5000)]);
    let out = w.engine().sync_invoice(&off, &third).await.unwrap();
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
    let made =
        w.ns.records("invoice")
            .into_iter()
            .find(|i| i["externalId"] == format!("CBX-inv-{third}").as_str())
            .unwrap();
    assert_ne!(made["tranId"], third.as_str(), "{made}");
}

/// Chargebee's mapping for money: each payment's method by its gateway and payment type, its
/// account by gateway and currency, memo the id at the gateway (else the reference number),
/// check number the reference number, and the rate of its own transaction. Refunds the same:
/// memo, check number, the gateway's account and their own rate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_and_refunds_take_method_account_memo_and_rate_from_their_transactions() {
    let w = World::start().await;
    let card = w.ns.seed("paymentMethod", json!({"name": "Card"}));
    let bank = w.ns.seed("paymentMethod", json!({"name": "Bank transfer"}));
    let other = w.ns.seed("paymentMethod", json!({"name": "Chargebee"}));
    let stripe_usd = w.ns.seed(
        "account",
        json!({"acctNumber": "1010", "acctName": "Stripe USD", "acctType": {"id": "Bank"}}),
    );
    w.customer("halvorsen");
    let settings = w
        .settings(json!({
            "payments": {"payment_instruments": false, "payment_method": other,
                         "payment_methods": {"stripe:card": card, "bank_transfer": bank},
                         "gateway_accounts": {"stripe:USD": stripe_usd}},
            "transactions": {"subsidiary": w.demo.subsidiary, "exchange_rate": "billing"}
        }))
        .await;
    let inv = w.invoice("halvorsen", vec![adhoc(30000)]);
    let by_card = w.cb.pay(&inv, 10000);
    let by_bank = w.cb.pay(&inv, 10000);
    w.cb.amend_transaction(
        &by_bank,
        json!({"gateway": "gocardless", "payment_method": "bank_transfer", "exchange_rate": 0.92,
               "id_at_gateway": null, "reference_number": "BT-77"}),
    );
    let by_adyen = w.cb.pay(&inv, 5000);
    w.cb.amend_transaction(&by_adyen, json!({"gateway": "adyen"}));
    let (_, refund) = w.cb.refund(&inv, 2500);
    w.cb.amend_transaction(
        &refund,
        json!({"id_at_gateway": "re_GW1", "reference_number": "RN-5", "exchange_rate": 0.95}),
    );
    let out = w.engine().sync_invoice(&settings, &inv).await.unwrap();
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");

    let payment = |txn: &str| {
        w.ns.records("customerPayment")
            .into_iter()
            .find(|p| p["externalId"] == format!("CB-pmt-{txn}").as_str())
            .unwrap_or_else(|| panic!("no payment for {txn}"))
    };
    let p = payment(&by_card);
    assert_eq!(id_of(&p["paymentMethod"]), card);
    assert_eq!(id_of(&p["account"]), stripe_usd);
    assert_eq!(p["memo"], format!("ch_{}", &by_card[4..]).as_str());
    assert_eq!(p["checkNum"], format!("ch_{}", &by_card[4..]).as_str());
    assert_eq!(money(&p["exchangeRate"]), Decimal::ONE);
    let p = payment(&by_bank);
    assert_eq!(id_of(&p["paymentMethod"]), bank, "by payment type alone");
    assert_eq!(
        p["memo"], "BT-77",
        "the reference number without an id at the gateway"
    );
    assert_eq!(p["checkNum"], "BT-77");
    assert_eq!(
        money(&p["exchangeRate"]),
        Decimal::new(92, 2),
        "the transaction's own rate"
    );
    assert_eq!(p["undepFunds"], true, "no account for gocardless:USD");
    let p = payment(&by_adyen);
    assert_eq!(
        id_of(&p["paymentMethod"]),
        other,
        "neither adyen:card nor adyen is mapped"
    );

    let refunds = w.ns.records("customerRefund");
    assert_eq!(refunds.len(), 1);
    let r = &refunds[0];
    assert_eq!(r["externalId"], format!("CB-rfd-{refund}").as_str());
    assert_eq!(r["memo"], "re_GW1");
    assert_eq!(r["checkNum"], "RN-5");
    assert_eq!(
        id_of(&r["account"]),
        stripe_usd,
        "the gateway's account, not refunds.account"
    );
    assert_eq!(money(&r["exchangeRate"]), Decimal::new(95, 2));
}

/// Chargebee's credit memo rows: the PO number of the invoice it credits as otherRefNum, and
/// taxDetailsOverride when the tenant overrides tax (on the invoice too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credit_memos_carry_the_po_number_and_the_tax_override() {
    let w = World::start().await;
    w.customer("halvorsen");
    let settings = w
        .settings(json!({"transactions": {"subsidiary": w.demo.subsidiary, "tax_override": true}}))
        .await;
    let inv = w.cb.add_invoice(CbInvoice {
        customer_id: "halvorsen".into(),
        currency: "USD".into(),
        date: 1_769_900_000,
        lines: vec![adhoc(20000)],
        po_number: Some("PO-4471".into()),
        ..CbInvoice::default()
    });
    let note = w.cb.adjust(&inv, 5000);
    let out = w.engine().sync_invoice(&settings, &inv).await.unwrap();
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
    let made = &w.ns.records("invoice")[0];
    assert_eq!(made["otherRefNum"], "PO-4471");
    assert_eq!(made["taxDetailsOverride"], true);
    let memos = w.ns.records("creditMemo");
    assert_eq!(memos.len(), 1);
    assert_eq!(memos[0]["externalId"], format!("CB-cm-{note}").as_str());
    assert_eq!(memos[0]["otherRefNum"], "PO-4471");
    assert_eq!(memos[0]["taxDetailsOverride"], true);
    assert_eq!(money(&made["amountRemaining"]), Decimal::new(150, 0));
}

/// Chargebee's customer rows: entityStatus from the settings (on creation only), the
/// customer's preferred currency as its currency with the invoice's added when it differs, and
/// the user's own fields filled from Chargebee `cf_*` fields by type, on the customer, the
/// invoice and its lines. A value that does not fit its type stops the invoice before any
/// write, naming the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_get_status_preferred_currency_and_the_users_own_fields() {
    let w = World::start().await;
    w.cb.add_customer(
        "fjord",
        Some("Fjord Freight"),
        "Ola",
        "Nordmann",
        "ap@fjord.example.com",
        "EUR",
    );
    w.cb.update_customer(
        "fjord",
        CbCustomerUpdate {
            custom_fields: BTreeMap::from([
                ("cf_industry".to_owned(), "Logistics".to_owned()),
                ("cf_seats".to_owned(), "40".to_owned()),
                ("cf_key_account".to_owned(), "yes".to_owned()),
                ("cf_region".to_owned(), "7".to_owned()),
            ]),
            ..Default::default()
        },
    );
    let fields = json!({
        "custentity_industry": {"from": "cf_industry", "type": "text"},
        "custentity_seats": {"from": "cf_seats", "type": "integer"},
        "custentity_key_account": {"from": "cf_key_account", "type": "checkbox"},
        "custbody_region": {"from": "cf_region", "type": "select"},
        "custcol_industry": {"from": "cf_industry", "type": "text"}
    });
    let settings = w
        .settings(json!({
            "customers": {"entity_status": "13"},
            "currencies": {"USD": w.demo.currency_usd, "EUR": w.demo.currency_eur},
            "custom_fields": {"from_billing": fields}
        }))
        .await;
    let inv = w.invoice("fjord", vec![adhoc(10000)]);
    let out = w.engine().sync_invoice(&settings, &inv).await.unwrap();
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
    let customer = &w.ns.records("customer")[0];
    assert_eq!(id_of(&customer["entityStatus"]), "13");
    assert_eq!(
        id_of(&customer["currency"]),
        w.demo.currency_eur,
        "the preferred currency"
    );
    let currencies: Vec<String> = customer["currencyList"]["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no currency list: {customer}"))
        .iter()
        .map(|c| id_of(&c["currency"]))
        .collect();
    assert!(currencies.contains(&w.demo.currency_usd), "{currencies:?}");
    assert_eq!(customer["custentity_industry"], "Logistics");
    assert_eq!(customer["custentity_seats"], 40);
    assert_eq!(customer["custentity_key_account"], true);
    let made = &w.ns.records("invoice")[0];
    assert_eq!(id_of(&made["custbody_region"]), "7");
    assert_eq!(id_of(&made["currency"]), w.demo.currency_usd);
    assert_eq!(made["item"]["items"][0]["custcol_industry"], "Logistics");

    // A value that is not its field's type: an error naming it, nothing written.
    w.cb.update_customer(
        "fjord",
        CbCustomerUpdate {
            custom_fields: BTreeMap::from([("cf_seats".to_owned(), "forty".to_owned())]),
            ..Default::default()
        },
    );
    let before = writes(&w.ns);
    let second = w.invoice("fjord", vec![adhoc(5000)]);
    let out = w.engine().sync_invoice(&settings, &second).await.unwrap();
    assert_eq!(out.status, FlowStatus::Error, "{out:?}");
    let e = out.error.unwrap();
    assert!(
        e.detail.contains("cf_seats -> custentity_seats") && e.detail.contains("forty"),
        "{e:?}"
    );
    assert_eq!(writes(&w.ns), before);
}

/// A rounding adjustment (Chargebee `round_off_amount`) is part of what the customer owes: a
/// line on the tenant's round-off item, so NetSuite's total and balance are billing's to the
/// cent; without the item, an error that names the setting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rounding_adjustment_is_a_line_of_its_own() {
    let w = World::start().await;
    w.customer("halvorsen");
    let rounding = w.ns.seed(
        "nonInventorySaleItem",
        json!({"itemId": "Rounding", "incomeAccount": {"id": w.demo.account_revenue}}),
    );
    let inv = w.cb.add_invoice(CbInvoice {
        customer_id: "halvorsen".into(),
        currency: "USD".into(),
        date: 1_769_900_000,
        lines: vec![adhoc(9998)],
        round_off: 2,
        ..CbInvoice::default()
    });
    let without = w.settings(json!({})).await;
    let out = w.engine().sync_invoice(&without, &inv).await.unwrap();
    assert_eq!(out.status, FlowStatus::Error, "{out:?}");
    assert!(out.error.unwrap().fix.contains("items.round_off_item"));

    let settings = w
        .settings(json!({"items": {"round_off_item": {"id": rounding, "type": "non_inventory"}}}))
        .await;
    w.cb.pay(&inv, 5000);
    let out = w.engine().sync_invoice(&settings, &inv).await.unwrap();
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
    let made = &w.ns.records("invoice")[0];
    assert_eq!(money(&made["total"]), Decimal::new(10000, 2));
    assert_eq!(money(&made["amountRemaining"]), Decimal::new(5000, 2));
    let round_line = made["item"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| id_of(&l["item"]) == rounding)
        .cloned()
        .unwrap_or_else(|| panic!("no rounding line: {made}"));
    assert_eq!(money(&round_line["amount"]), Decimal::new(2, 2));
}

/// Three-decimal currencies: NetSuite keeps 0 or 2 decimals, so a KWD invoice of whole
/// hundredths posts exactly, and one with a third decimal is refused before any write with
/// an entry saying why and what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_decimal_currencies_post_exactly_or_are_refused() {
    let w = World::start().await;
    w.cb.add_customer(
        "souk",
        Some("Souk Trading"),
        "Fatima",
        "Ali",
        "ap@souk.example.com",
        "KWD",
    );
    let settings = w.settings(json!({})).await;
    let kwd = |amount: i64| {
        w.cb.add_invoice(CbInvoice {
            customer_id: "souk".into(),
            currency: "KWD".into(),
            date: 1_769_900_000,
            lines: vec![adhoc(amount)],
            ..CbInvoice::default()
        })
    };
    let exact = kwd(12_340);
    w.cb.pay(&exact, 12_340);
    let out = w.engine().sync_invoice(&settings, &exact).await.unwrap();
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
    let made = &w.ns.records("invoice")[0];
    assert_eq!(money(&made["total"]), Decimal::new(1234, 2));
    assert_eq!(money(&made["amountRemaining"]), Decimal::ZERO);

    let before = writes(&w.ns);
    let odd = kwd(12_345);
    let out = w.engine().sync_invoice(&settings, &odd).await.unwrap();
    assert_eq!(out.status, FlowStatus::Error, "{out:?}");
    let e = out.error.unwrap();
    assert_eq!(e.code.as_deref(), Some("CURRENCY_PRECISION"));
    assert!(
        e.detail.contains("12.345") && e.detail.contains("KWD"),
        "{e:?}"
    );
    assert!(e.cause.contains("at most 2 decimals"), "{e:?}");
    assert_eq!(writes(&w.ns), before);
}

/// The rows the other tests leave: the customer's person/company fields, VAT number,
/// subsidiary, address book and billsync's site and id fields; the invoice's customer, dates,
/// terms, addresses, site and uid fields, and each line's description, quantity and amount;
/// the credit memo's date and `autoApply`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_remaining_customer_invoice_line_and_memo_rows() {
    let w = World::start().await;
    w.customer("halvorsen");
    let street = CbAddress {
        first_name: "Ingrid".into(),
        last_name: "Halvorsen".into(),
        company: Some("Halvorsen Robotics".into()),
        line1: "Dronning Eufemias gate 16".into(),
        city: "Oslo".into(),
        zip: "0191".into(),
        country: "NO".into(),
        ..Default::default()
    };
    w.cb.update_customer(
        "halvorsen",
        CbCustomerUpdate {
            vat_number: Some("NO923609016".into()),
            billing_address: Some(street.clone()),
            ..Default::default()
        },
    );
    w.cb.add_customer("solo", None, "Kari", "Solberg", "kari@example.com", "USD");
    let settings = w
        .settings(
            json!({
                "transactions": {"subsidiary": w.demo.subsidiary, "terms": w.demo.term_net30},
                "items": {"components": {"seats-USD-monthly": {"id": w.demo.item_usage, "type": "non_inventory"}}}
            }),
        )
        .await;
    let inv = w.cb.add_invoice(CbInvoice {
        customer_id: "halvorsen".into(),
        currency: "USD".into(),
        date: 1_769_900_000,
        lines: vec![addon_line("seats-USD-monthly", 3, 1500)],
        shipping_address: Some(CbAddress {
            line1: "Havnegata 1".into(),
            city: "Bergen".into(),
            ..street.clone()
        }),
        ..CbInvoice::default()
    });
    let note = w.cb.adjust(&inv, 1000);
    let out = w.engine().sync_invoice(&settings, &inv).await.unwrap();
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
    let site = w.cb.config().site;

    let customer = &w.ns.records("customer")[0];
    assert_eq!(customer["isPerson"], false);
    assert_eq!(customer["companyName"], "Halvorsen Robotics");
    assert_eq!(customer["vatRegNumber"], "NO923609016");
    assert_eq!(id_of(&customer["subsidiary"]), w.demo.subsidiary);
    assert_eq!(customer["custentity_billsync_site"], site.as_str());
    assert_eq!(customer["custentity_billsync_customer_id"], "halvorsen");
    let book = &customer["addressBook"]["items"][0];
    assert_eq!(book["defaultBilling"], true);
    let a = &book["addressBookAddress"];
    assert_eq!(
        (&a["addr1"], &a["city"], &a["zip"]),
        (
            &json!("Dronning Eufemias gate 16"),
            &json!("Oslo"),
            &json!("0191")
        )
    );
    assert_eq!(id_of(&a["country"]), "NO");

    let made = &w.ns.records("invoice")[0];
    assert_eq!(id_of(&made["entity"]), id_of(customer));
    let day = chrono::DateTime::from_timestamp(1_769_900_000, 0)
        .unwrap()
        .date_naive();
    assert_eq!(made["tranDate"], day.to_string().as_str());
    assert_eq!(made["dueDate"], day.to_string().as_str());
    assert_eq!(id_of(&made["terms"]), w.demo.term_net30);
    assert_eq!(made["shippingAddress"]["city"], "Bergen");
    assert_eq!(made["billingAddress"]["city"], "Oslo");
    assert_eq!(made["custbody_billsync_site"], site.as_str());
    assert_eq!(made["custbody_billsync_invoice_uid"], inv.as_str());
    let line = &made["item"]["items"][0];
    assert_eq!(money(&line["quantity"]), Decimal::new(3, 0));
    assert_eq!(money(&line["amount"]), Decimal::new(4500, 2));
    assert!(
        line["description"].as_str().is_some_and(|d| !d.is_empty()),
        "{line}"
    );

    let memo = &w.ns.records("creditMemo")[0];
    assert_eq!(memo["externalId"], format!("CB-cm-{note}").as_str());
    assert_eq!(memo["autoApply"], false);
    assert!(memo["tranDate"].as_str().is_some(), "{memo}");
    assert_eq!(id_of(&memo["entity"]), id_of(customer));

    // A customer with no company is a person, with both names.
    let solo = w.invoice("solo", vec![adhoc(1000)]);
    let out = w.engine().sync_invoice(&settings, &solo).await.unwrap();
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
    let person =
        w.ns.records("customer")
            .into_iter()
            .find(|c| c["custentity_billsync_customer_id"] == "solo")
            .unwrap();
    assert_eq!(person["isPerson"], true);
    assert_eq!(
        (&person["firstName"], &person["lastName"]),
        (&json!("Kari"), &json!("Solberg"))
    );
}

/// Assembly and kit items ship from stock like inventory: an invoice naming them takes the
/// order path under `invoices.create: direct`, waits for the warehouse, and is invoiced from
/// the order once shipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assembly_and_kit_items_wait_for_fulfilment_on_the_order_path() {
    let w = World::start().await;
    w.customer("halvorsen");
    let income = json!({"id": w.demo.account_revenue});
    let assembly = w.ns.seed(
        "assemblyItem",
        json!({"itemId": "Edge Box", "incomeAccount": income}),
    );
    let kit = w.ns.seed(
        "kitItem",
        json!({"itemId": "Starter Kit", "incomeAccount": income}),
    );
    let settings = w
        .settings(json!({"items": {
            "components": {
                "box-USD": {"id": assembly, "type": "assembly"},
                "kit-USD": {"id": kit, "type": "kit"}
            }
        }}))
        .await;
    let inv = w.invoice(
        "halvorsen",
        vec![
            addon_line("box-USD", 1, 19900),
            addon_line("kit-USD", 2, 4900),
        ],
    );
    let out = w.engine().sync_invoice(&settings, &inv).await.unwrap();
    assert_eq!(out.status, FlowStatus::AwaitingFulfilment, "{out:?}");
    let orders = w.ns.records("salesOrder");
    assert_eq!(orders.len(), 1);
    assert!(w.ns.records("invoice").is_empty());
    w.ns.fulfill_sales_order(&id_of(&orders[0])).unwrap();
    let out = w.engine().sync_invoice(&settings, &inv).await.unwrap();
    assert_eq!(out.status, FlowStatus::Synced, "{out:?}");
    let made = &w.ns.records("invoice")[0];
    assert_eq!(id_of(&made["createdFrom"]), id_of(&orders[0]));
    assert_eq!(money(&made["total"]), Decimal::new(29700, 2));
}
