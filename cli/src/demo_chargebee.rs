//! The demo's second tenant: a Chargebee site beside the Maxio one, synced into the same
//! NetSuite by the same intake, worker and sweep. Its month exercises Chargebee's mapping:
//! NetSuite items created from item prices, customer-level tracking, tax-inclusive EUR
//! prices, payments, refunds, a credit note allocated to another invoice, and changes to a
//! customer and to an issued invoice after they reached NetSuite.

use std::collections::BTreeMap;

use billing_sim::chargebee::{CbAddress, CbCustomerUpdate, CbInvoiceDetails, CbItemPrice};
use billing_sim::{CbInvoice, CbLine, CbPriceType, ChargebeeSim, ChargebeeSimConfig};
use billsync::settings::TenantSettings;
use netsuite_sim::DemoData;
use serde_json::{json, Value};

pub const TENANT: &str = "demo-cb";

/// 2026-02-01T00:00:00Z: the simulated month starts here.
const START: i64 = 1_769_904_000;

/// A deterministic generator (64-bit LCG), so a seed gives the same month every time.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The Chargebee site of the demo and what happened on it.
pub struct ChargebeeMonth {
    pub sim: ChargebeeSim,
    pub invoices: Vec<String>,
}

const PLANS: [(&str, &str, &str, Option<&str>, i64); 3] = [
    // (item price, name, currency, sku, price in minor units)
    (
        "starter-USD-monthly",
        "Starter USD Monthly",
        "USD",
        Some("CB-START-M-USD"),
        4900,
    ),
    (
        "pro-USD-monthly",
        "Pro USD Monthly",
        "USD",
        Some("CB-PRO-M-USD"),
        19900,
    ),
    ("pro-EUR-monthly", "Pro EUR Monthly", "EUR", None, 17900),
];

const ADDONS: [(&str, &str, &str, i64); 2] = [
    ("seats-USD-monthly", "Extra Seats USD", "USD", 1500),
    ("seats-EUR-monthly", "Extra Seats EUR", "EUR", 1300),
];

fn address(city: &str, zip: &str, country: &str) -> CbAddress {
    CbAddress {
        first_name: "Accounts".into(),
        last_name: "Payable".into(),
        line1: "1 Market Street".into(),
        city: city.into(),
        zip: zip.into(),
        country: country.into(),
        ..CbAddress::default()
    }
}

/// Starts the Chargebee simulator and bills a month: `invoices` invoices over a handful of
/// customers, most paid, some refunded, one credit note moved to another invoice.
pub async fn start(seed: u64, invoices: usize, demo: &DemoData) -> std::io::Result<ChargebeeMonth> {
    let sim = ChargebeeSim::start(ChargebeeSimConfig::default()).await?;
    let mut rng = Rng(seed ^ 0x00c0_ffee);
    for (id, name, currency, sku, price) in PLANS {
        sim.add_item_price(CbItemPrice {
            id: id.into(),
            item_id: id.rsplitn(3, '-').last().unwrap_or(id).into(),
            item_type: "plan".into(),
            name: name.into(),
            external_name: Some(name.into()),
            description: Some(format!("{name} subscription")),
            currency: currency.into(),
            price,
            sku: sku.map(str::to_owned),
            accounting_code: Some("4000 Subscription Revenue".into()),
            accounting_category2: Some("Main".into()),
            accounting_category3: Some("Sales".into()),
            ..CbItemPrice::default()
        });
    }
    for (id, name, currency, price) in ADDONS {
        sim.add_item_price(CbItemPrice {
            id: id.into(),
            item_id: "seats".into(),
            item_type: "addon".into(),
            name: name.into(),
            currency: currency.into(),
            price,
            // No accounting code: the tenant's default income account applies.
            ..CbItemPrice::default()
        });
    }
    let customers = [
        ("cb-northwind", Some("Northwind Traders"), "USD"),
        ("cb-fabrikam", Some("Fabrikam GmbH"), "EUR"),
        ("cb-contoso", Some("Contoso Ltd"), "USD"),
        ("cb-lovelace", None, "USD"),
        ("cb-muller", None, "EUR"),
    ];
    for (id, company, currency) in customers {
        sim.add_customer(
            id,
            company,
            "Alex",
            id.trim_start_matches("cb-"),
            &format!("billing@{}.example.com", id.trim_start_matches("cb-")),
            currency,
        );
    }
    // Customer-level tracking: Fabrikam books to the services department.
    sim.update_customer(
        "cb-fabrikam",
        CbCustomerUpdate {
            custom_fields: BTreeMap::from([(
                "cf_ns_department".to_owned(),
                demo.department_services.clone(),
            )]),
            ..CbCustomerUpdate::default()
        },
    );

    let mut ids = Vec::with_capacity(invoices);
    for n in 0..invoices {
        let (customer, _, currency) = customers[n % customers.len()];
        let eur = currency == "EUR";
        let plan = if eur {
            PLANS[2]
        } else {
            PLANS[rng.below(2) as usize]
        };
        let addon = if eur { ADDONS[1] } else { ADDONS[0] };
        let tax = if eur {
            19
        } else {
            [0, 7, 8][rng.below(3) as usize]
        };
        let mut lines = vec![CbLine {
            entity_type: "plan_item_price".into(),
            entity_id: Some(plan.0.into()),
            description: plan.1.into(),
            quantity: 1,
            unit_amount: plan.4,
            tax_rate_percent: tax,
        }];
        if rng.below(2) == 0 {
            lines.push(CbLine {
                entity_type: "addon_item_price".into(),
                entity_id: Some(addon.0.into()),
                description: addon.1.into(),
                quantity: 1 + rng.below(9) as i64,
                unit_amount: addon.3,
                tax_rate_percent: tax,
            });
        }
        if rng.below(5) == 0 {
            lines.push(CbLine {
                entity_type: "adhoc".into(),
                entity_id: None,
                description: "Onboarding workshop".into(),
                quantity: 1,
                unit_amount: 25000,
                tax_rate_percent: tax,
            });
        }
        let id = sim.add_invoice(CbInvoice {
            customer_id: customer.into(),
            currency: currency.into(),
            date: START + (n as i64) * 3_600,
            // European prices include VAT.
            price_type: if eur {
                CbPriceType::TaxInclusive
            } else {
                CbPriceType::TaxExclusive
            },
            lines,
            coupon: (rng.below(6) == 0).then_some(1_000),
            po_number: (rng.below(4) == 0).then(|| format!("PO-{}", 7000 + n)),
            ..CbInvoice::default()
        });
        ids.push(id);
    }
    // Most invoices are paid in full; some of the paid ones are partly refunded.
    let mut open = Vec::new();
    for id in &ids {
        let due = sim.invoice_due(id);
        if rng.below(5) == 0 {
            open.push(id.clone());
            continue;
        }
        sim.pay(id, due);
        if rng.below(8) == 0 {
            sim.refund(id, (due / 4).max(1));
        }
    }
    // A credit note raised against the first paid invoice goes to an open invoice of the
    // same customer and currency.
    if let Some(target) = open.first() {
        let (customer, currency) = sim.invoice_party(target);
        let source = ids
            .iter()
            .find(|id| {
                !open.contains(id) && sim.invoice_party(id) == (customer.clone(), currency.clone())
            })
            .cloned();
        if let Some(source) = source {
            let amount = (sim.invoice_due(target) / 5).max(1);
            sim.credit(&source, amount, target);
        }
    }
    // After posting, billing changes a customer and an invoice's details.
    sim.update_customer(
        "cb-northwind",
        CbCustomerUpdate {
            email: Some("ap@northwind.example.com".into()),
            phone: Some("+1 206 555 0100".into()),
            ..CbCustomerUpdate::default()
        },
    );
    if let Some(first) = ids.first() {
        sim.update_invoice_details(
            first,
            CbInvoiceDetails {
                po_number: Some("PO-CHANGED-1".into()),
                billing_address: Some(address("Seattle", "98101", "US")),
                shipping_address: None,
            },
        );
    }
    Ok(ChargebeeMonth { sim, invoices: ids })
}

/// The Chargebee tenant's settings: items created from item prices (SKU or name, `CB-`
/// prefix), department by customer, the demo account's currencies.
pub fn settings(sim: &ChargebeeSim, demo: &DemoData) -> Result<TenantSettings, String> {
    TenantSettings::from_value(&settings_document(sim, demo)).map_err(|e| e.to_string())
}

/// The settings document of [`settings`], as `billsync tenant apply` reads it.
pub fn settings_document(sim: &ChargebeeSim, demo: &DemoData) -> serde_json::Value {
    json!({
        "tenant": TENANT, "source": "chargebee", "site": sim.config().site, "sync_start_date": "2025-01-01",
        "items": {
            "custom_default": {"id": demo.item_services, "type": "service"},
            "tax_item": {"id": demo.item_sales_tax, "type": "non_inventory"},
            "discount_item": demo.item_discount,
            "create_missing": {
                "type": "non_inventory",
                "income_account": demo.account_revenue,
                "locations": {"Main": demo.location_main},
                "departments": {"Sales": demo.department_sales}
            }
        },
        "payments": {"payment_instruments": true},
        "refunds": {"account": demo.account_bank},
        "transactions": {
            "subsidiary": demo.subsidiary,
            "department": demo.department_sales,
            "tracking": "customer",
            "customer_tracking": {"department": "cf_ns_department"}
        },
        "prefixes": {"external_id": "CB", "item": "CB-"},
        "currencies": {"USD": demo.currency_usd, "EUR": demo.currency_eur}
    })
}

/// The `billing` part of the tenant secret.
pub fn secret(sim: &ChargebeeSim) -> Value {
    let c = sim.config();
    json!({"api_key": c.api_key, "webhook_username": c.webhook_username,
           "webhook_password": c.webhook_password, "base_url": sim.base_url()})
}
