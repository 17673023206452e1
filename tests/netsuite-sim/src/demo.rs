//! Reference data for the local demo: what a fresh OneWorld account configured for the sync
//! would contain before the first run.

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::{records::WriteCtx, types::RecordType, world::World, NetSuiteSim};

/// Internal ids of the seeded demo records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoData {
    pub subsidiary: String,
    pub currency_usd: String,
    pub currency_eur: String,
    pub department_sales: String,
    pub department_services: String,
    pub location_main: String,
    pub account_receivable: String,
    pub account_undeposited_funds: String,
    pub account_bank: String,
    pub account_revenue: String,
    pub term_net30: String,
    pub item_sales_tax: String,
    pub item_discount: String,
    pub item_subscription: String,
    pub item_services: String,
    pub item_usage: String,
    pub item_hardware: String,
}

pub(crate) fn seed(sim: &NetSuiteSim) -> DemoData {
    seed_world(&mut sim.inner.world())
}

/// An account set up for the sync: the company's records, billsync's custom fields and the
/// discount item.
pub(crate) fn seed_world(w: &mut World) -> DemoData {
    w.custom_fields = crate::account::billsync_fields();
    seed_company(w, true)
}

/// The company's records only, as an account is before anyone set it up for billsync: no
/// custom fields and no discount item (`item_discount` is empty).
pub(crate) fn seed_fresh(sim: &NetSuiteSim) -> DemoData {
    seed_company(&mut sim.inner.world(), false)
}

fn seed_company(w: &mut World, discount_item: bool) -> DemoData {
    let ctx = WriteCtx::seed(Utc::now());
    let mut put = |rt: RecordType, body: Value| -> String {
        match w.create(rt, body, &ctx) {
            Ok(id) => id.to_string(),
            // The bodies below are fixed; failing here is a bug in this file.
            Err(e) => panic!("demo seed of {} failed: {}", rt.name(), e.first_detail()),
        }
    };
    let subsidiary = put(RecordType::Subsidiary, json!({"name": "Parent Company"}));
    let currency_usd = put(
        RecordType::Currency,
        json!({"name": "USD", "symbol": "USD", "isBaseCurrency": true}),
    );
    let currency_eur = put(
        RecordType::Currency,
        json!({"name": "EUR", "symbol": "EUR", "isBaseCurrency": false}),
    );
    let department_sales = put(RecordType::Department, json!({"name": "Sales"}));
    let department_services = put(
        RecordType::Department,
        json!({"name": "Professional Services"}),
    );
    let location_main = put(RecordType::Location, json!({"name": "Main Warehouse"}));
    let account_receivable = put(
        RecordType::Account,
        json!({"acctNumber": "1100", "acctName": "Accounts Receivable", "acctType": {"id": "AcctRec"}}),
    );
    let account_undeposited_funds = put(
        RecordType::Account,
        json!({"acctNumber": "1050", "acctName": "Undeposited Funds", "acctType": {"id": "OthCurrAsset"}}),
    );
    let account_bank = put(
        RecordType::Account,
        json!({"acctNumber": "1000", "acctName": "Operating Bank", "acctType": {"id": "Bank"}}),
    );
    let account_revenue = put(
        RecordType::Account,
        json!({"acctNumber": "4000", "acctName": "Subscription Revenue", "acctType": {"id": "Income"}}),
    );
    let term_net30 = put(
        RecordType::Term,
        json!({"name": "Net 30", "daysUntilNetDue": 30}),
    );
    let income = json!({"id": account_revenue});
    let item_sales_tax = put(
        RecordType::NonInventorySaleItem,
        json!({"itemId": "Sales Tax", "displayName": "Sales Tax", "incomeAccount": income}),
    );
    let item_discount = if discount_item {
        put(
            RecordType::DiscountItem,
            json!({"itemId": "Advanced Billing Discount", "displayName": "Advanced Billing Discount", "account": income}),
        )
    } else {
        String::new()
    };
    let item_subscription = put(
        RecordType::ServiceSaleItem,
        json!({"itemId": "Platform Subscription", "displayName": "Platform Subscription", "incomeAccount": income}),
    );
    let item_services = put(
        RecordType::ServiceSaleItem,
        json!({"itemId": "Implementation Services", "displayName": "Implementation Services", "incomeAccount": income}),
    );
    let item_usage = put(
        RecordType::NonInventorySaleItem,
        json!({"itemId": "Usage Overage", "displayName": "Usage Overage", "incomeAccount": income}),
    );
    let item_hardware = put(
        RecordType::InventoryItem,
        json!({"itemId": "Hardware Token", "displayName": "Hardware Token", "incomeAccount": income}),
    );
    // The subsidiary was created before its currency existed; link them now.
    if let (Ok(sub), Ok(usd)) = (subsidiary.parse::<u64>(), currency_usd.parse::<u64>()) {
        let currency = w
            .store
            .get(RecordType::Currency, usd)
            .map(|r| crate::records::resolved_ref(RecordType::Currency, usd, r));
        if let (Some(rec), Some(currency)) =
            (w.store.get_mut(RecordType::Subsidiary, sub), currency)
        {
            rec.insert("currency".into(), currency);
        }
    }
    DemoData {
        subsidiary,
        currency_usd,
        currency_eur,
        department_sales,
        department_services,
        location_main,
        account_receivable,
        account_undeposited_funds,
        account_bank,
        account_revenue,
        term_net30,
        item_sales_tax,
        item_discount,
        item_subscription,
        item_services,
        item_usage,
        item_hardware,
    }
}
