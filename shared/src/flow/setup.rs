//! What `billsync tenant setup` creates in NetSuite once per tenant, through REST: the
//! non-posting discount item every discount line uses ("Advanced Billing Discount" in the
//! Maxio guide), the payment method payments carry, and on request an item for the tax line.
//! Each is created under a deterministic external id in the tenant's namespace, so running
//! setup again finds what the first run made instead of making it twice; only Create
//! permission is needed.

use serde_json::json;

use crate::netsuite::records::{Item, RecordRef, RecordType};
use crate::netsuite::{NetSuiteClient, NetSuiteError};

/// Name of the discount item.
pub const DISCOUNT_ITEM_NAME: &str = "Advanced Billing Discount";
/// Name of the payment method (the Maxio guide's).
pub const PAYMENT_METHOD_NAME: &str = "Advanced Billing Payment";
/// Name of the tax line's item.
pub const TAX_ITEM_NAME: &str = "Advanced Billing Tax";

/// What to create, for a tenant whose external ids start with `namespace` (`bs-<tenant>`
/// unless `prefixes.external_id` says otherwise).
#[derive(Clone, Debug, Default)]
pub struct SetupRequest {
    pub namespace: String,
    /// The tenant's subsidiary, which the items are made available in.
    pub subsidiary: Option<String>,
    /// The account uses Payment Instruments: no payment method is sent, none is made.
    pub payment_instruments: bool,
    /// Make the tax line's item, posting to this income (or liability) account.
    pub tax_item_account: Option<String>,
}

/// One record setup made or found.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Made {
    pub name: &'static str,
    pub record_type: &'static str,
    pub id: String,
    pub external_id: String,
    /// An earlier setup had made it.
    pub existed: bool,
    /// The settings key its id belongs in.
    pub setting: &'static str,
}

fn external_id(namespace: &str, what: &str) -> String {
    format!("{namespace}-{what}")
}

async fn make(
    client: &NetSuiteClient,
    record_type: RecordType,
    name: &'static str,
    setting: &'static str,
    external_id: String,
    body: serde_json::Value,
) -> Result<Made, NetSuiteError> {
    let created = client.create_or_find(record_type, &body).await?;
    Ok(Made {
        name,
        record_type: record_type.as_str(),
        id: created.id,
        external_id,
        existed: created.existed,
        setting,
    })
}

/// Creates (or finds) the tenant's setup records.
pub async fn set_up(
    client: &NetSuiteClient,
    request: &SetupRequest,
) -> Result<Vec<Made>, NetSuiteError> {
    let subsidiary = request
        .subsidiary
        .as_ref()
        .map(|s| vec![RecordRef::id(s.as_str())].into());
    let mut made = Vec::new();
    let eid = external_id(&request.namespace, "discount-item");
    let discount = Item {
        external_id: Some(eid.clone()),
        item_id: Some(DISCOUNT_ITEM_NAME.into()),
        display_name: Some(DISCOUNT_ITEM_NAME.into()),
        non_posting: Some(true),
        include_children: Some(true),
        subsidiary: subsidiary.clone(),
        ..Default::default()
    };
    made.push(
        make(
            client,
            RecordType::DiscountItem,
            DISCOUNT_ITEM_NAME,
            "items.discount_item",
            eid,
            serde_json::to_value(&discount).expect("an item serializes"),
        )
        .await?,
    );
    if !request.payment_instruments {
        let eid = external_id(&request.namespace, "payment-method");
        made.push(
            make(
                client,
                RecordType::PaymentMethod,
                PAYMENT_METHOD_NAME,
                "payments.payment_method",
                eid.clone(),
                json!({"name": PAYMENT_METHOD_NAME, "externalId": eid}),
            )
            .await?,
        );
    }
    if let Some(account) = &request.tax_item_account {
        let eid = external_id(&request.namespace, "tax-item");
        let tax = Item {
            external_id: Some(eid.clone()),
            item_id: Some(TAX_ITEM_NAME.into()),
            display_name: Some(TAX_ITEM_NAME.into()),
            include_children: Some(true),
            subsidiary,
            income_account: Some(RecordRef::id(account.as_str())),
            ..Default::default()
        };
        made.push(
            make(
                client,
                RecordType::NonInventorySaleItem,
                TAX_ITEM_NAME,
                "items.tax_item",
                eid,
                serde_json::to_value(&tax).expect("an item serializes"),
            )
            .await?,
        );
    }
    Ok(made)
}
