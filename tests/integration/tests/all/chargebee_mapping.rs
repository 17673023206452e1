//! Chargebee's NetSuite field mapping, row by row: items created from item prices, tracking
//! categories by document or by customer, line tax codes, updates of records billsync owns,
//! and credit notes allocated to another invoice. Chargebee simulator in, NetSuite simulator
//! out, the records asserted as NetSuite holds them.

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
    let order = &w.ns.records("salesOrder")[0];
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
    assert!(w.ns.records("salesOrder").is_empty());
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
    let order = &w.ns.records("salesOrder")[0];
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
        w.ns.records("salesOrder")
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
    let order = &w.ns.records("salesOrder")[0];
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
    let settings = w.settings(json!({})).await;
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
