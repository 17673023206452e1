//! Changes that move no money: a customer's contact, tax id, custom fields and billing address
//! (`customer_changed`), and an issued invoice's PO number and addresses (`invoice_updated`,
//! Chargebee's "update invoice details").
//!
//! Invoices keep the billing address they were issued with: a customer's new address shows on
//! later invoices only, or on an older one through its own details update.

use serde_json::json;

use super::{address_json, set_or_clear, stamp, CbCustomerUpdate, CbInvoiceDetails, ChargebeeSim};

impl ChargebeeSim {
    /// Sets the given fields of a customer and emits `customer_changed` (`{"customer"}`).
    ///
    /// # Panics
    /// If the customer does not exist, or a custom field's key does not start with `cf_`.
    pub fn update_customer(&self, id: &str, change: CbCustomerUpdate) {
        if let Some(key) = change.custom_fields.keys().find(|k| !k.starts_with("cf_")) {
            panic!("custom field {key:?} does not start with cf_");
        }
        let mut st = self.shared.state();
        assert!(
            st.customers.contains_key(id),
            "customer {id} does not exist"
        );
        let at = st.tick(None);
        let version = st.resource_version(at);
        let customer = st.customers.get_mut(id).expect("checked above");
        let fields = [
            ("email", &change.email),
            ("phone", &change.phone),
            ("company", &change.company),
            ("first_name", &change.first_name),
            ("last_name", &change.last_name),
            ("vat_number", &change.vat_number),
        ];
        for (key, value) in fields {
            if let Some(value) = value {
                set_or_clear(customer, key, value);
            }
        }
        for (key, value) in &change.custom_fields {
            set_or_clear(customer, key, value);
        }
        if let Some(address) = &change.billing_address {
            customer["billing_address"] = address_json(address);
        }
        stamp(customer, at, version);
        let customer = customer.clone();
        st.push_event("customer_changed", at, json!({ "customer": customer }));
    }

    /// Changes an invoice's PO number and addresses and emits `invoice_updated`
    /// (`{"invoice", "customer"}`). Amounts, lines and status stay as they are.
    ///
    /// # Panics
    /// If the invoice does not exist.
    pub fn update_invoice_details(&self, id: &str, details: CbInvoiceDetails) {
        let mut st = self.shared.state();
        assert!(st.invoices.contains_key(id), "invoice {id} does not exist");
        let at = st.tick(None);
        let version = st.resource_version(at);
        let invoice = st.invoices.get_mut(id).expect("checked above");
        if let Some(po) = &details.po_number {
            set_or_clear(invoice, "po_number", po);
        }
        if let Some(address) = &details.billing_address {
            invoice["billing_address"] = address_json(address);
        }
        if let Some(address) = &details.shipping_address {
            invoice["shipping_address"] = address_json(address);
        }
        stamp(invoice, at, version);
        let invoice = invoice.clone();
        let customer = st.customer_or_stub(invoice["customer_id"].as_str().unwrap_or_default());
        st.push_event(
            "invoice_updated",
            at,
            json!({ "invoice": invoice, "customer": customer }),
        );
    }
}
