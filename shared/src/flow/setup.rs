//! What the integration sets up in NetSuite once per tenant: the non-posting discount item
//! every discount line uses ("Advanced Billing Discount" in the Maxio guide).

use super::ids;
use crate::netsuite::records::{Item, RecordType};
use crate::netsuite::{NetSuiteClient, NetSuiteError};
use crate::settings::TenantSettings;

/// Name of the discount item the integration creates.
pub const DISCOUNT_ITEM_NAME: &str = "Advanced Billing Discount";

/// The discount item's external id for this tenant.
pub fn discount_item_external_id(settings: &TenantSettings) -> String {
    format!("{}-discount-item", ids::namespace(settings))
}

/// Creates the non-posting discount item if this tenant has none yet (idempotent: an upsert
/// by external id), and returns its internal id for `items.discount_item`.
pub async fn ensure_discount_item(
    client: &NetSuiteClient,
    settings: &TenantSettings,
) -> Result<String, NetSuiteError> {
    let item = Item {
        item_id: Some(DISCOUNT_ITEM_NAME.into()),
        display_name: Some(DISCOUNT_ITEM_NAME.into()),
        non_posting: Some(true),
        include_children: Some(true),
        subsidiary: settings
            .subsidiary
            .as_ref()
            .map(|s| vec![crate::netsuite::records::RecordRef::id(s.as_str())].into()),
        ..Default::default()
    };
    client
        .upsert(
            RecordType::DiscountItem,
            &discount_item_external_id(settings),
            &item,
        )
        .await
}
