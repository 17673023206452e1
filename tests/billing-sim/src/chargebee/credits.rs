//! Credit notes that settle invoices rather than pay money back: a refundable note allocated
//! to an open invoice ([`ChargebeeSim::credit`]), and an adjustment note that lowers what its
//! own unpaid invoice asks for ([`ChargebeeSim::adjust`]), a bad-debt write-off among them
//! ([`ChargebeeSim::write_off`], counted in `write_off_amount` instead).
//!
//! The invoice tells the two apart: refundable credits count in `credits_applied` (listed in
//! `applied_credits`), adjustments in `amount_adjusted` (listed in `adjustment_credit_notes`);
//! both lower `amount_due`, so `amount_paid + amount_adjusted + credits_applied + amount_due =
//! total` holds. The note lists where it went in `allocations`. Statuses follow Chargebee's
//! docs: a refundable note whose credits are all used, allocated or refunded, is `refunded`
//! (not `adjusted`, which only adjustment notes are).
//!
//! Each action is one change: every record is dated at the note's instant; `credit_note_created`
//! is emitted then and `invoice_updated` for the settled invoice one second later, since every
//! event has its own `occurred_at`.

use serde_json::{json, Value};

use super::{as_i64, as_str, credit_note_ref, push, stamp, CbState, ChargebeeSim, NoteKind};

impl ChargebeeSim {
    /// Issues a refundable credit note of `amount` against `invoice_id` (`CN-...`, numbered
    /// with the refunds' notes; one untaxed ad-hoc line) and allocates all of it to the open
    /// invoice `apply_to`, which is `paid` once nothing is due. Emits `credit_note_created`
    /// (`{"credit_note", "customer"}`), then `invoice_updated` for `apply_to`
    /// (`{"invoice", "customer"}`). Returns the credit note id.
    ///
    /// # Panics
    /// If either invoice does not exist, `amount` is not positive, `apply_to` is not open or
    /// has less than `amount` due, or the two invoices differ in customer or currency.
    pub fn credit(&self, invoice_id: &str, amount: i64, apply_to: &str) -> String {
        let site = self.shared.config.site.clone();
        let mut st = self.shared.state();
        let source = st
            .invoices
            .get(invoice_id)
            .unwrap_or_else(|| panic!("invoice {invoice_id} does not exist"))
            .clone();
        let target = st
            .invoices
            .get(apply_to)
            .unwrap_or_else(|| panic!("invoice {apply_to} does not exist"));
        check_settlable(target, amount);
        assert!(
            target["customer_id"] == source["customer_id"]
                && target["currency_code"] == source["currency_code"],
            "credits of {invoice_id} apply only to invoices of its customer and currency, \
             not to {apply_to}"
        );
        let mut cn = st.new_credit_note(
            &site,
            &source,
            amount,
            NoteKind::refundable(format!("Credit against {invoice_id}")),
        );
        let at = as_i64(&cn["date"]);
        cn["status"] = json!("refunded");
        cn["amount_allocated"] = json!(amount);
        cn["amount_available"] = json!(0);
        cn["refunded_at"] = json!(at);

        let version = st.resource_version(at);
        let target = st.invoices.get_mut(apply_to).expect("checked above");
        settle(target, amount, at, version);
        target["credits_applied"] = json!(as_i64(&target["credits_applied"]) + amount);
        push(
            &mut target["applied_credits"],
            json!({
                "cn_id": cn["id"],
                "applied_amount": amount,
                "applied_at": at,
                "cn_reason_code": cn["reason_code"],
                "cn_date": cn["date"],
                "cn_status": cn["status"],
            }),
        );
        push(&mut cn["allocations"], allocation(target, amount, at));

        let version = st.resource_version(at);
        let source = st.invoices.get_mut(invoice_id).expect("checked above");
        push(&mut source["issued_credit_notes"], credit_note_ref(&cn));
        stamp(source, at, version);
        emit(&mut st, cn, apply_to)
    }

    /// Issues an adjustment credit note of `amount` against the open invoice and allocates it
    /// to that invoice, lowering its `amount_due` (`paid` once nothing is due). Emits
    /// `credit_note_created` (`{"credit_note", "customer"}`), then `invoice_updated`
    /// (`{"invoice", "customer"}`). Returns the credit note id.
    ///
    /// # Panics
    /// If the invoice does not exist, `amount` is not positive, or the invoice is not open or
    /// has less than `amount` due.
    pub fn adjust(&self, invoice_id: &str, amount: i64) -> String {
        let site = self.shared.config.site.clone();
        let mut st = self.shared.state();
        let invoice = st
            .invoices
            .get(invoice_id)
            .unwrap_or_else(|| panic!("invoice {invoice_id} does not exist"))
            .clone();
        check_settlable(&invoice, amount);
        let mut cn = st.new_credit_note(
            &site,
            &invoice,
            amount,
            NoteKind::adjustment(format!("Adjustment of {invoice_id}")),
        );
        let at = as_i64(&cn["date"]);
        cn["amount_allocated"] = json!(amount);
        cn["amount_available"] = json!(0);

        let version = st.resource_version(at);
        let invoice = st.invoices.get_mut(invoice_id).expect("checked above");
        settle(invoice, amount, at, version);
        invoice["amount_adjusted"] = json!(as_i64(&invoice["amount_adjusted"]) + amount);
        push(
            &mut invoice["adjustment_credit_notes"],
            credit_note_ref(&cn),
        );
        push(&mut invoice["issued_credit_notes"], credit_note_ref(&cn));
        push(&mut cn["allocations"], allocation(invoice, amount, at));
        emit(&mut st, cn, invoice_id)
    }
}

impl ChargebeeSim {
    /// Writes off what the open invoice still asks for as bad debt (`POST
    /// /invoices/{id}/write_off`): an adjustment credit note with reason `write_off` for the
    /// amount due, allocated to the invoice, which is then `paid` with that amount as its
    /// `write_off_amount`. Emits `credit_note_created`, then `invoice_updated`. Returns the
    /// credit note id.
    ///
    /// # Panics
    /// If the invoice does not exist or asks for nothing.
    pub fn write_off(&self, invoice_id: &str) -> String {
        let site = self.shared.config.site.clone();
        let mut st = self.shared.state();
        let invoice = st
            .invoices
            .get(invoice_id)
            .unwrap_or_else(|| panic!("invoice {invoice_id} does not exist"))
            .clone();
        let amount = as_i64(&invoice["amount_due"]);
        check_settlable(&invoice, amount);
        let mut cn = st.new_credit_note(&site, &invoice, amount, NoteKind::write_off());
        let at = as_i64(&cn["date"]);
        cn["amount_allocated"] = json!(amount);
        cn["amount_available"] = json!(0);

        let version = st.resource_version(at);
        let invoice = st.invoices.get_mut(invoice_id).expect("checked above");
        settle(invoice, amount, at, version);
        invoice["write_off_amount"] = json!(amount);
        push(
            &mut invoice["adjustment_credit_notes"],
            credit_note_ref(&cn),
        );
        push(&mut cn["allocations"], allocation(invoice, amount, at));
        emit(&mut st, cn, invoice_id)
    }
}

/// Only an invoice that still asks for money can take credits, and no more than it asks for.
fn check_settlable(invoice: &Value, amount: i64) {
    let id = &invoice["id"];
    let status = invoice["status"].as_str().unwrap_or_default();
    let due = as_i64(&invoice["amount_due"]);
    assert!(amount > 0, "a credit of {amount} on invoice {id}");
    assert!(
        matches!(status, "payment_due" | "not_paid" | "posted"),
        "invoice {id} is {status}, not open"
    );
    assert!(
        amount <= due,
        "invoice {id} has {due} due, less than {amount}"
    );
}

/// Lowers what the invoice asks for by `amount`; it is paid once nothing is due.
fn settle(invoice: &mut Value, amount: i64, at: i64, version: i64) {
    let due = as_i64(&invoice["amount_due"]) - amount;
    invoice["amount_due"] = json!(due);
    invoice["amount_to_collect"] = json!(due);
    if due == 0 {
        invoice["status"] = json!("paid");
        invoice["paid_at"] = json!(at);
    }
    stamp(invoice, at, version);
}

/// The note's `allocations` entry for the invoice as it is after the allocation.
fn allocation(invoice: &Value, amount: i64, at: i64) -> Value {
    json!({
        "invoice_id": invoice["id"],
        "allocated_amount": amount,
        "allocated_at": at,
        "invoice_date": invoice["date"],
        "invoice_status": invoice["status"],
    })
}

/// Stores the note and emits `credit_note_created`, then `invoice_updated` for the invoice
/// it settled. Returns the note's id.
fn emit(st: &mut CbState, cn: Value, settled: &str) -> String {
    let cn_id = as_str(&cn["id"]);
    let at = as_i64(&cn["date"]);
    let customer = st.customer_or_stub(cn["customer_id"].as_str().unwrap_or_default());
    let invoice = st.invoices.get(settled).cloned().unwrap_or_default();
    st.credit_notes.insert(cn_id.clone(), cn.clone());
    st.push_event(
        "credit_note_created",
        at,
        json!({ "credit_note": cn, "customer": customer }),
    );
    let at = st.tick(None);
    st.push_event(
        "invoice_updated",
        at,
        json!({ "invoice": invoice, "customer": customer }),
    );
    cn_id
}
