//! The NetSuite records billsync writes, typed and serialized with NetSuite's REST field
//! names: camelCase, references as `{"id": ..}` (or `{"externalId": ..}`), sublists as
//! `{"items": [..]}`, custom fields as plain properties under their script ids.
//!
//! Every field is optional on the type so one struct serves writes (only what is set goes on
//! the wire) and reads (what NetSuite chose to return). Read-only fields are skipped when
//! serializing.

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::money;

/// The REST path segment of a record type (`/services/rest/record/v1/<type>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordType {
    Customer,
    SalesOrder,
    Invoice,
    ItemFulfillment,
    CustomerDeposit,
    DepositApplication,
    CustomerPayment,
    CustomerRefund,
    CreditMemo,
    InventoryItem,
    NonInventorySaleItem,
    ServiceSaleItem,
    AssemblyItem,
    KitItem,
    DiscountItem,
    Subsidiary,
    Department,
    Classification,
    Location,
    Account,
    Currency,
    Term,
    PaymentMethod,
}

impl RecordType {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::Customer => "customer",
            RecordType::SalesOrder => "salesOrder",
            RecordType::Invoice => "invoice",
            RecordType::ItemFulfillment => "itemFulfillment",
            RecordType::CustomerDeposit => "customerDeposit",
            RecordType::DepositApplication => "depositApplication",
            RecordType::CustomerPayment => "customerPayment",
            RecordType::CustomerRefund => "customerRefund",
            RecordType::CreditMemo => "creditMemo",
            RecordType::InventoryItem => "inventoryItem",
            RecordType::NonInventorySaleItem => "nonInventorySaleItem",
            RecordType::ServiceSaleItem => "serviceSaleItem",
            RecordType::AssemblyItem => "assemblyItem",
            RecordType::KitItem => "kitItem",
            RecordType::DiscountItem => "discountItem",
            RecordType::Subsidiary => "subsidiary",
            RecordType::Department => "department",
            RecordType::Classification => "classification",
            RecordType::Location => "location",
            RecordType::Account => "account",
            RecordType::Currency => "currency",
            RecordType::Term => "term",
            RecordType::PaymentMethod => "paymentMethod",
        }
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The item types a billing product can map to (the Maxio guide's supported list, plus
/// discount for the discount line).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemType {
    Inventory,
    NonInventory,
    Service,
    Assembly,
    Kit,
    Discount,
}

impl ItemType {
    pub fn record_type(self) -> RecordType {
        match self {
            ItemType::Inventory => RecordType::InventoryItem,
            ItemType::NonInventory => RecordType::NonInventorySaleItem,
            ItemType::Service => RecordType::ServiceSaleItem,
            ItemType::Assembly => RecordType::AssemblyItem,
            ItemType::Kit => RecordType::KitItem,
            ItemType::Discount => RecordType::DiscountItem,
        }
    }

    /// The `item.itemtype` value SuiteQL reports.
    pub fn suiteql_code(self) -> &'static str {
        match self {
            ItemType::Inventory => "InvtPart",
            ItemType::NonInventory => "NonInvtPart",
            ItemType::Service => "Service",
            ItemType::Assembly => "Assembly",
            ItemType::Kit => "Kit",
            ItemType::Discount => "Discount",
        }
    }

    /// Items that ship from stock: an invoice waits for the sales order's fulfilment.
    pub fn needs_fulfilment(self) -> bool {
        matches!(
            self,
            ItemType::Inventory | ItemType::Assembly | ItemType::Kit
        )
    }
}

/// A reference to another record. NetSuite answers with `refName` too; it is never sent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordRef {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub external_id: Option<String>,
    #[serde(skip_serializing, default)]
    pub ref_name: Option<String>,
}

impl RecordRef {
    pub fn id(id: impl Into<String>) -> Self {
        RecordRef {
            id: Some(id.into()),
            ..Default::default()
        }
    }

    pub fn external(external_id: impl Into<String>) -> Self {
        RecordRef {
            external_id: Some(external_id.into()),
            ..Default::default()
        }
    }
}

/// A sublist: `{"items": [..]}`. A record read without `expandSubResources` has only links
/// here, which reads as an empty list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sublist<T> {
    #[serde(default = "Vec::new")]
    pub items: Vec<T>,
}

impl<T> Default for Sublist<T> {
    fn default() -> Self {
        Sublist { items: Vec::new() }
    }
}

impl<T> From<Vec<T>> for Sublist<T> {
    fn from(items: Vec<T>) -> Self {
        Sublist { items }
    }
}

/// Custom fields by script id (`custentity_*`, `custbody_*`, `custcol_*`, `custitem_*`).
/// Flattened into the record; on reads only `cust*` properties are kept, so NetSuite's other
/// read-only fields do not masquerade as custom fields.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CustomFields(pub BTreeMap<String, Value>);

impl CustomFields {
    pub fn set(&mut self, script_id: impl Into<String>, value: impl Into<Value>) {
        self.0.insert(script_id.into(), value.into());
    }

    pub fn get(&self, script_id: &str) -> Option<&Value> {
        self.0.get(script_id)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de> Deserialize<'de> for CustomFields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let all = BTreeMap::<String, Value>::deserialize(deserializer)?;
        Ok(CustomFields(
            all.into_iter()
                .filter(|(k, _)| k.starts_with("cust"))
                .collect(),
        ))
    }
}

/// A postal address (the `addressBookAddress` subrecord and transaction address subrecords).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub addressee: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub attention: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub addr1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub addr2: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub addr3: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub city: Option<String>,
    /// State or province code.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub zip: Option<String>,
    /// ISO country, written as `{"id": "US"}`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub country: Option<RecordRef>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub addr_phone: Option<String>,
}

/// One line of a customer's address book.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddressBookLine {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub default_billing: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub default_shipping: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub label: Option<String>,
    pub address_book_address: Address,
}

/// A line of a customer's `currencyList`: the currencies the customer may transact in.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerCurrency {
    pub currency: RecordRef,
}

/// `customer`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    #[serde(skip_serializing, default)]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub external_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub entity_id: Option<String>,
    /// True: the name comes from first and last name; false: from the company name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub is_person: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub company_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub vat_reg_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub subsidiary: Option<RecordRef>,
    /// Primary currency.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub currency: Option<RecordRef>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub currency_list: Option<Sublist<CustomerCurrency>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub entity_status: Option<RecordRef>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub terms: Option<RecordRef>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub is_inactive: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub address_book: Option<Sublist<AddressBookLine>>,
    #[serde(flatten, default, skip_serializing_if = "CustomFields::is_empty")]
    pub custom_fields: CustomFields,
}

/// An item line of a sales order, invoice or credit memo.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemLine {
    pub item: RecordRef,
    #[serde(
        with = "money::option",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub quantity: Option<Decimal>,
    #[serde(
        with = "money::option",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub rate: Option<Decimal>,
    #[serde(
        with = "money::option",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub amount: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
    /// Price level; `{"id": "-1"}` is the custom price a given rate needs.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub price: Option<RecordRef>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tax_code: Option<RecordRef>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub is_taxable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub department: Option<RecordRef>,
    #[serde(rename = "class", skip_serializing_if = "Option::is_none", default)]
    pub class: Option<RecordRef>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub location: Option<RecordRef>,
    #[serde(flatten, default, skip_serializing_if = "CustomFields::is_empty")]
    pub custom_fields: CustomFields,
}

/// A line of an `apply`, `deposit` or `credit` sublist: which document, how much.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyLine {
    pub doc: RecordRef,
    pub apply: bool,
    #[serde(with = "money")]
    pub amount: Decimal,
}

/// `salesOrder`, `invoice` and `creditMemo` share one body shape in NetSuite's REST schema;
/// the type aliases below name which one is meant.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SalesTransaction {
    #[serde(skip_serializing, default)]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub external_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tran_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub entity: Option<RecordRef>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub custom_form: Option<RecordRef>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tran_date: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub due_date: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub terms: Option<RecordRef>,
    /// PO/check number.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub other_ref_num: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub memo: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub subsidiary: Option<RecordRef>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub department: Option<RecordRef>,
    #[serde(rename = "class", skip_serializing_if = "Option::is_none", default)]
    pub class: Option<RecordRef>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub location: Option<RecordRef>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub currency: Option<RecordRef>,
    /// Left out when NetSuite's own exchange rate is to be used.
    #[serde(
        with = "money::option",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub exchange_rate: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub billing_address: Option<Address>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub shipping_address: Option<Address>,
    /// Credit memos: the invoice it credits.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub created_from: Option<RecordRef>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub auto_apply: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tax_details_override: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub item: Option<Sublist<ItemLine>>,
    /// Credit memos: the invoices it is applied to.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub apply: Option<Sublist<ApplyLine>>,
    #[serde(skip_serializing, default)]
    pub status: Option<RecordRef>,
    #[serde(with = "money::option", skip_serializing, default)]
    pub total: Option<Decimal>,
    #[serde(with = "money::option", skip_serializing, default)]
    pub amount_remaining: Option<Decimal>,
    #[serde(flatten, default, skip_serializing_if = "CustomFields::is_empty")]
    pub custom_fields: CustomFields,
}

pub type SalesOrder = SalesTransaction;
pub type Invoice = SalesTransaction;
pub type CreditMemo = SalesTransaction;

/// `customerPayment`, `customerDeposit` and `customerRefund`: money moving, with the
/// documents it settles.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CashTransaction {
    #[serde(skip_serializing, default)]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub external_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tran_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub customer: Option<RecordRef>,
    /// Deposits: the sales order the deposit was taken for.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sales_order: Option<RecordRef>,
    /// Payments and deposits: the amount received.
    #[serde(
        with = "money::option",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub payment: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tran_date: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub currency: Option<RecordRef>,
    #[serde(
        with = "money::option",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub exchange_rate: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub subsidiary: Option<RecordRef>,
    /// Bank account (refunds: the account paid from).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub account: Option<RecordRef>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ar_acct: Option<RecordRef>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub undep_funds: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub auto_apply: Option<bool>,
    /// Payment method. Left out when the account uses Payment Instruments.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub payment_method: Option<RecordRef>,
    /// Payment instrument, for accounts with the Payment Instruments feature.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub payment_option: Option<RecordRef>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub check_num: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub memo: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub department: Option<RecordRef>,
    #[serde(rename = "class", skip_serializing_if = "Option::is_none", default)]
    pub class: Option<RecordRef>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub location: Option<RecordRef>,
    /// Invoices (payments) or credit memos and payments (refunds) settled.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub apply: Option<Sublist<ApplyLine>>,
    /// Customer deposits applied (payments) or refunded (refunds).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub deposit: Option<Sublist<ApplyLine>>,
    /// Credit memos applied (payments).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub credit: Option<Sublist<ApplyLine>>,
    #[serde(skip_serializing, default)]
    pub status: Option<RecordRef>,
    #[serde(with = "money::option", skip_serializing, default)]
    pub total: Option<Decimal>,
    #[serde(with = "money::option", skip_serializing, default)]
    pub applied: Option<Decimal>,
    #[serde(with = "money::option", skip_serializing, default)]
    pub unapplied: Option<Decimal>,
    #[serde(flatten, default, skip_serializing_if = "CustomFields::is_empty")]
    pub custom_fields: CustomFields,
}

pub type CustomerPayment = CashTransaction;
pub type CustomerDeposit = CashTransaction;
pub type CustomerRefund = CashTransaction;

/// An item record of any supported type (inventory, non-inventory sale, service sale,
/// assembly, kit, discount).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    #[serde(skip_serializing, default)]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub external_id: Option<String>,
    /// Name/number, unique among items.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub item_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sales_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub subsidiary: Option<Sublist<RecordRef>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub include_children: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub income_account: Option<RecordRef>,
    /// Discount items: the account the discount posts to.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub account: Option<RecordRef>,
    /// Discount items: a non-posting discount changes no general-ledger account.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub non_posting: Option<bool>,
    #[serde(
        with = "money::option",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub rate: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tax_schedule: Option<RecordRef>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub revenue_recognition_rule: Option<RecordRef>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rev_rec_forecast_rule: Option<RecordRef>,
    #[serde(rename = "class", skip_serializing_if = "Option::is_none", default)]
    pub class: Option<RecordRef>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub department: Option<RecordRef>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub location: Option<RecordRef>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub is_inactive: Option<bool>,
    #[serde(flatten, default, skip_serializing_if = "CustomFields::is_empty")]
    pub custom_fields: CustomFields,
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;
    use serde_json::json;

    use super::*;

    #[test]
    fn sales_order_serializes_with_rest_field_names() {
        let mut line = ItemLine {
            item: RecordRef::id("55"),
            quantity: Some(dec!(3)),
            rate: Some(dec!(19.99)),
            amount: Some(dec!(59.97)),
            description: Some("Pro plan".into()),
            ..Default::default()
        };
        line.custom_fields.set("custcol_ab_line_tax", json!(4.95));
        let mut so = SalesOrder {
            id: Some("ignored-on-write".into()),
            external_id: Some("ab-acme-so-inv_1".into()),
            entity: Some(RecordRef::id("107")),
            tran_date: Some(NaiveDate::from_ymd_opt(2026, 1, 31).unwrap()),
            other_ref_num: Some("PO-9".into()),
            class: Some(RecordRef::id("2")),
            item: Some(vec![line].into()),
            total: Some(dec!(1)),
            ..Default::default()
        };
        so.custom_fields.set("custbody_ab_invoice_uid", "inv_1");
        let v = serde_json::to_value(&so).unwrap();
        assert_eq!(
            v,
            json!({
                "externalId": "ab-acme-so-inv_1",
                "entity": {"id": "107"},
                "tranDate": "2026-01-31",
                "otherRefNum": "PO-9",
                "class": {"id": "2"},
                "item": {"items": [{
                    "item": {"id": "55"}, "quantity": 3, "rate": 19.99, "amount": 59.97,
                    "description": "Pro plan", "custcol_ab_line_tax": 4.95
                }]},
                "custbody_ab_invoice_uid": "inv_1"
            })
        );
    }

    #[test]
    fn reads_netsuite_answers_keeping_only_custom_fields() {
        let read = json!({
            "links": [{"rel": "self", "href": "x"}],
            "id": "812",
            "tranDate": "2026-01-31",
            "entity": {"id": "107", "refName": "Acme", "links": []},
            "status": {"id": "B", "refName": "Paid In Full"},
            "total": 61.20,
            "amountRemaining": 0,
            "item": {"links": []},
            "custbody_ab_invoice_uid": "inv_1",
            "createdDate": "2026-01-31T10:00:00Z"
        });
        let inv: Invoice = serde_json::from_value(read).unwrap();
        assert_eq!(inv.id.as_deref(), Some("812"));
        assert_eq!(inv.total, Some(dec!(61.20)));
        assert_eq!(inv.amount_remaining, Some(dec!(0)));
        assert_eq!(inv.entity.unwrap().ref_name.as_deref(), Some("Acme"));
        assert_eq!(inv.item.unwrap().items.len(), 0);
        assert_eq!(inv.custom_fields.0.len(), 1);
    }

    #[test]
    fn payment_with_apply_lines() {
        let p = CustomerPayment {
            external_id: Some("ab-acme-pmt-1".into()),
            customer: Some(RecordRef::id("107")),
            payment: Some(dec!(61.20)),
            auto_apply: Some(false),
            apply: Some(
                vec![ApplyLine {
                    doc: RecordRef::id("812"),
                    apply: true,
                    amount: dec!(61.20),
                }]
                .into(),
            ),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            json!({
                "externalId": "ab-acme-pmt-1",
                "customer": {"id": "107"},
                "payment": 61.2,
                "autoApply": false,
                "apply": {"items": [{"doc": {"id": "812"}, "apply": true, "amount": 61.2}]}
            })
        );
    }

    #[test]
    fn customer_person_and_address_book() {
        let c = Customer {
            external_id: Some("cust-42".into()),
            is_person: Some(true),
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
            subsidiary: Some(RecordRef::id("1")),
            address_book: Some(
                vec![AddressBookLine {
                    default_billing: Some(true),
                    address_book_address: Address {
                        addr1: Some("1 Main St".into()),
                        country: Some(RecordRef::id("US")),
                        ..Default::default()
                    },
                    ..Default::default()
                }]
                .into(),
            ),
            ..Default::default()
        };
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(
            v["addressBook"]["items"][0]["addressBookAddress"]["country"]["id"],
            "US"
        );
        assert_eq!(v["isPerson"], true);
        assert!(v.get("id").is_none());
    }

    #[test]
    fn item_types_map_to_rest_paths() {
        assert_eq!(
            ItemType::NonInventory.record_type().as_str(),
            "nonInventorySaleItem"
        );
        assert_eq!(ItemType::Discount.record_type().as_str(), "discountItem");
        assert!(ItemType::Kit.needs_fulfilment());
        assert!(!ItemType::Service.needs_fulfilment());
    }
}
