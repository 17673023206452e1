//! The record types the simulator knows, with the per-type facts NetSuite attaches to them
//! (URL name, id family, SuiteQL type codes, document-number prefixes).

/// Internal ids come from one sequence per family, so ids are unique inside a family.
/// NetSuite behaves the same way for transactions: an invoice and a sales order never share an id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Family {
    Entity,
    Transaction,
    Item,
    Other,
}

impl Family {
    pub(crate) fn index(self) -> usize {
        match self {
            Family::Entity => 0,
            Family::Transaction => 1,
            Family::Item => 2,
            Family::Other => 3,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum RecordType {
    Customer,
    SalesOrder,
    Invoice,
    ItemFulfillment,
    CustomerDeposit,
    CustomerPayment,
    CustomerRefund,
    CreditMemo,
    DepositApplication,
    InventoryItem,
    NonInventorySaleItem,
    ServiceSaleItem,
    AssemblyItem,
    KitItem,
    DiscountItem,
    DescriptionItem,
    OtherChargeSaleItem,
    Subsidiary,
    Department,
    Classification,
    Location,
    Account,
    Currency,
    Term,
    PaymentMethod,
}

use RecordType::*;

impl RecordType {
    pub(crate) const ALL: [RecordType; 25] = [
        Customer,
        SalesOrder,
        Invoice,
        ItemFulfillment,
        CustomerDeposit,
        CustomerPayment,
        CustomerRefund,
        CreditMemo,
        DepositApplication,
        InventoryItem,
        NonInventorySaleItem,
        ServiceSaleItem,
        AssemblyItem,
        KitItem,
        DiscountItem,
        DescriptionItem,
        OtherChargeSaleItem,
        Subsidiary,
        Department,
        Classification,
        Location,
        Account,
        Currency,
        Term,
        PaymentMethod,
    ];

    /// The camelCase name used in REST paths.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Customer => "customer",
            SalesOrder => "salesOrder",
            Invoice => "invoice",
            ItemFulfillment => "itemFulfillment",
            CustomerDeposit => "customerDeposit",
            CustomerPayment => "customerPayment",
            CustomerRefund => "customerRefund",
            CreditMemo => "creditMemo",
            DepositApplication => "depositApplication",
            InventoryItem => "inventoryItem",
            NonInventorySaleItem => "nonInventorySaleItem",
            ServiceSaleItem => "serviceSaleItem",
            AssemblyItem => "assemblyItem",
            KitItem => "kitItem",
            DiscountItem => "discountItem",
            DescriptionItem => "descriptionItem",
            OtherChargeSaleItem => "otherChargeSaleItem",
            Subsidiary => "subsidiary",
            Department => "department",
            Classification => "classification",
            Location => "location",
            Account => "account",
            Currency => "currency",
            Term => "term",
            PaymentMethod => "paymentMethod",
        }
    }

    /// NetSuite matches record type names in the URL without regard to case.
    pub(crate) fn parse(name: &str) -> Option<RecordType> {
        Self::ALL
            .iter()
            .copied()
            .find(|t| t.name().eq_ignore_ascii_case(name))
    }

    pub(crate) fn family(self) -> Family {
        match self {
            Customer => Family::Entity,
            SalesOrder | Invoice | ItemFulfillment | CustomerDeposit | CustomerPayment
            | CustomerRefund | CreditMemo | DepositApplication => Family::Transaction,
            InventoryItem | NonInventorySaleItem | ServiceSaleItem | AssemblyItem | KitItem
            | DiscountItem | DescriptionItem | OtherChargeSaleItem => Family::Item,
            Subsidiary | Department | Classification | Location | Account | Currency | Term
            | PaymentMethod => Family::Other,
        }
    }

    pub(crate) fn in_family(family: Family) -> impl Iterator<Item = RecordType> {
        Self::ALL.into_iter().filter(move |t| t.family() == family)
    }

    pub(crate) fn is_transaction(self) -> bool {
        self.family() == Family::Transaction
    }

    pub(crate) fn is_item(self) -> bool {
        self.family() == Family::Item
    }

    /// Transactions that carry an `item` sublist of priced lines.
    pub(crate) fn has_priced_lines(self) -> bool {
        matches!(self, SalesOrder | Invoice | CreditMemo)
    }

    /// Items a warehouse has to ship before the order can be billed.
    pub(crate) fn needs_fulfillment(self) -> bool {
        matches!(self, InventoryItem | AssemblyItem | KitItem)
    }

    /// Human label, used in `refName` of transactions ("Invoice #INV12").
    pub(crate) fn label(self) -> &'static str {
        match self {
            Customer => "Customer",
            SalesOrder => "Sales Order",
            Invoice => "Invoice",
            ItemFulfillment => "Item Fulfillment",
            CustomerDeposit => "Customer Deposit",
            CustomerPayment => "Payment",
            CustomerRefund => "Customer Refund",
            CreditMemo => "Credit Memo",
            DepositApplication => "Deposit Application",
            _ => self.name(),
        }
    }

    /// `transaction.type` in SuiteQL.
    pub(crate) fn tran_code(self) -> Option<&'static str> {
        Some(match self {
            SalesOrder => "SalesOrd",
            Invoice => "CustInvc",
            ItemFulfillment => "ItemShip",
            CustomerPayment => "CustPymt",
            CreditMemo => "CustCred",
            CustomerDeposit => "CustDep",
            CustomerRefund => "CustRfnd",
            DepositApplication => "DepAppl",
            _ => return None,
        })
    }

    /// Prefix of the auto-assigned document number (`tranId`).
    pub(crate) fn tran_prefix(self) -> &'static str {
        match self {
            SalesOrder => "SO",
            Invoice => "INV",
            ItemFulfillment => "IF",
            CustomerPayment => "PYMT",
            CreditMemo => "CM",
            CustomerDeposit => "DEP",
            CustomerRefund => "RFND",
            DepositApplication => "DEPAPPL",
            _ => "",
        }
    }

    /// `item.itemtype` in SuiteQL.
    pub(crate) fn item_code(self) -> Option<&'static str> {
        Some(match self {
            InventoryItem => "InvtPart",
            NonInventorySaleItem => "NonInvtPart",
            ServiceSaleItem => "Service",
            AssemblyItem => "Assembly",
            KitItem => "Kit",
            DiscountItem => "Discount",
            DescriptionItem => "Description",
            OtherChargeSaleItem => "OthCharge",
            _ => return None,
        })
    }

    /// The body field that names the customer of a transaction.
    pub(crate) fn customer_field(self) -> Option<&'static str> {
        match self {
            SalesOrder | Invoice | CreditMemo | ItemFulfillment => Some("entity"),
            CustomerPayment | CustomerDeposit | CustomerRefund | DepositApplication => {
                Some("customer")
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_case_insensitively() {
        for t in RecordType::ALL {
            assert_eq!(RecordType::parse(t.name()), Some(t));
            assert_eq!(RecordType::parse(&t.name().to_lowercase()), Some(t));
        }
        assert_eq!(RecordType::parse("employee"), None);
    }

    #[test]
    fn families_partition_the_types() {
        let total: usize = [
            Family::Entity,
            Family::Transaction,
            Family::Item,
            Family::Other,
        ]
        .into_iter()
        .map(|f| RecordType::in_family(f).count())
        .sum();
        assert_eq!(total, RecordType::ALL.len());
        assert!(RecordType::ALL
            .iter()
            .filter(|t| t.is_transaction())
            .all(|t| t.tran_code().is_some()));
        assert!(RecordType::ALL
            .iter()
            .filter(|t| t.is_item())
            .all(|t| t.item_code().is_some()));
    }
}
