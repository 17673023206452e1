//! A billing world for flow scenarios: the Maxio billing simulator as the source, the
//! NetSuite simulator as the target, the embedded store in between, with a demo catalog
//! (plan, inventory hardware, seats) and one customer.

use std::time::Duration;

use billing_sim::{
    BillingSim, Coupon, NewComponent, NewCustomer, NewInvoice, NewLine, NewProduct, TaxRate,
};
use billsync::billing::maxio::client::{MaxioClient, MaxioConfig};
use billsync::flow::run::{Engine, Outcome};
use billsync::netsuite::{NetSuiteClient, RetryPolicy};
use billsync::settings::TenantSettings;
use billsync::store::prelude::*;
use billsync::store::sqlite::SqliteStore;
use chrono::NaiveDate;
use netsuite_sim::{DemoData, NetSuiteSim, SimConfig};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

use super::client_config;

pub struct World {
    pub ns: NetSuiteSim,
    pub bill: BillingSim,
    pub store: SqliteStore,
    pub netsuite: NetSuiteClient,
    pub maxio: MaxioClient,
    pub settings: TenantSettings,
    pub demo: DemoData,
    pub plan: u64,
    pub hardware: u64,
    pub seats: u64,
    pub customer: u64,
}

pub fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, d).unwrap()
}

pub async fn world(adjust: impl FnOnce(&mut Value)) -> World {
    let ns = NetSuiteSim::start(SimConfig::default()).await.unwrap();
    let demo = ns.seed_demo();
    let bill = BillingSim::start(billing_sim::SimConfig::default())
        .await
        .unwrap();
    let plan = bill.add_product(NewProduct {
        name: "Team Plan".into(),
        handle: "team-plan".into(),
        price: dec!(149.0),
        ..Default::default()
    });
    let hardware = bill.add_product(NewProduct {
        name: "Hardware Token".into(),
        handle: "hardware-token".into(),
        item_category: "Physical Goods".into(),
        price: dec!(49.0),
        ..Default::default()
    });
    let seats = bill.add_component(NewComponent {
        name: "Seats".into(),
        handle: "seats".into(),
        unit_price: dec!(7.5),
        ..Default::default()
    });
    let customer = bill.add_customer(NewCustomer {
        first_name: "Harriet".into(),
        last_name: "Quill".into(),
        organization: Some("Quill & Co".into()),
        email: "harriet@quill.example.com".into(),
        address: Some(billing_sim::Address {
            street: "1 Main St".into(),
            city: "Albany".into(),
            state: "NY".into(),
            zip: "12207".into(),
            country: "US".into(),
            ..Default::default()
        }),
        ..Default::default()
    });
    let mut doc = json!({
        "tenant": "acme", "source": "maxio", "site": "acme-demo", "sync_start_date": "2026-01-01",
        "items": {
            "products": {plan.to_string(): {"id": demo.item_subscription, "type": "service"},
                         hardware.to_string(): {"id": demo.item_hardware, "type": "inventory"}},
            "components": {seats.to_string(): {"id": demo.item_usage, "type": "non_inventory"}},
            "custom_default": {"id": demo.item_services, "type": "service"},
            "setup_default": {"id": demo.item_services, "type": "service"},
            "tax_item": {"id": demo.item_sales_tax, "type": "non_inventory"},
            "discount_item": demo.item_discount
        },
        "payments": {"payment_instruments": true},
        "refunds": {"account": demo.account_bank},
        "transactions": {"subsidiary": demo.subsidiary},
        "currencies": {"USD": demo.currency_usd, "EUR": demo.currency_eur}
    });
    adjust(&mut doc);
    let settings = TenantSettings::from_value(&doc).unwrap();
    let store = SqliteStore::in_memory().unwrap();
    store.put_settings(&settings).await.unwrap();
    let mut ns_config = client_config(&ns);
    ns_config.retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(10),
    };
    let netsuite = NetSuiteClient::new(ns_config).unwrap();
    let bc = bill.config();
    let mut mc = MaxioConfig::new(bc.subdomain.clone(), bc.api_key.clone().into());
    mc.base_url = Some(bill.base_url().parse().unwrap());
    mc.retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(10),
    };
    let maxio = MaxioClient::new(mc).unwrap();
    World {
        ns,
        bill,
        store,
        netsuite,
        maxio,
        settings,
        demo,
        plan,
        hardware,
        seats,
        customer,
    }
}

impl World {
    pub async fn sync(&self, uid: &str) -> Outcome {
        let engine = Engine {
            netsuite: &self.netsuite,
            store: &self.store,
            billing: &self.maxio,
        };
        engine.sync_invoice(&self.settings, uid).await.unwrap()
    }

    /// Every segment of a consolidated invoice billing holds, in issue order.
    pub fn segments(&self) -> Vec<String> {
        self.bill
            .invoice_uids()
            .into_iter()
            .filter(|u| self.bill.invoice_json(u).unwrap()["consolidation_level"] == "child")
            .collect()
    }

    pub fn counts(&self) -> Vec<(&'static str, usize)> {
        [
            "customer",
            "salesOrder",
            "invoice",
            "customerPayment",
            "customerDeposit",
            "depositApplication",
            "creditMemo",
            "customerRefund",
        ]
        .into_iter()
        .map(|t| (t, self.ns.records(t).len()))
        .collect()
    }

    /// Team plan + 4 seats + a 10% coupon + 8% NY tax.
    pub fn standard_invoice(&self, d: u32) -> NewInvoice {
        NewInvoice {
            lines: vec![
                NewLine::Product {
                    product_id: self.plan,
                    quantity: dec!(1),
                },
                NewLine::Component {
                    component_id: self.seats,
                    quantity: dec!(4),
                },
            ],
            coupon: Some(Coupon::Percentage {
                code: "TEN".into(),
                percentage: dec!(10),
            }),
            tax: Some(TaxRate::us_sales("NY", dec!(8))),
            po_number: Some("PO-4411".into()),
            ..NewInvoice::new(self.customer, day(d))
        }
    }
}

pub fn money(v: &Value) -> Decimal {
    v.to_string().trim_matches('"').parse().unwrap()
}

pub fn total_of(records: &[Value]) -> Decimal {
    records.iter().map(|r| money(&r["total"])).sum()
}
