//! Money billing collected and paid out: customer deposits before fulfilment, one customer
//! payment per billing transaction, deposit applications and refunds.

use chrono::Utc;

use super::{Engine, Posting, Run, Stop};
use crate::billing::model::{CreditNote, Invoice};
use crate::flow::build;
use crate::flow::ids;
use crate::flow::state::FlowStatus;
use crate::netsuite::records::RecordType;
use crate::netsuite::RecordKey;
use crate::settings::{NsId, TenantSettings};

impl Engine<'_> {
    /// Each billing payment of the invoice: a deposit taken before fulfilment is applied to
    /// the invoice; any other becomes (or joins) its transaction's customer payment.
    pub(super) async fn payments(
        &self,
        run: &mut Run<'_>,
        p: &Posting<'_, '_>,
    ) -> Result<(), Stop> {
        for payment in &p.invoice.payments {
            if let Some(dep_id) = run.state.deposits.get(&payment.id).cloned() {
                if !run.state.deposit_applications.contains_key(&payment.id) {
                    self.apply_deposit(run, &p.settings, payment, &dep_id)
                        .await?;
                }
            } else if !run.state.payments.contains_key(&payment.id) {
                self.pay(
                    run,
                    &p.settings,
                    p.invoice,
                    payment,
                    &p.customer_id,
                    p.currency.as_ref(),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Each refund, paid out of the credit memo of the note it refunds; a refund whose note
    /// has no memo yet waits for it.
    pub(super) async fn refunds(
        &self,
        run: &mut Run<'_>,
        p: &Posting<'_, '_>,
        notes: &[CreditNote],
    ) -> Result<(), Stop> {
        for r in &p.invoice.refunds {
            if run.state.refunds.contains_key(&r.id) {
                continue;
            }
            let memo = notes
                .iter()
                .find(|cn| cn.refunds.iter().any(|x| x.id == r.id))
                .and_then(|cn| run.state.credit_memos.get(&cn.uid).cloned());
            let Some(memo_id) = memo else {
                return Err(Stop::Waiting(
                    FlowStatus::Parked,
                    format!("refund {} waits for the credit note it is paid from", r.id),
                ));
            };
            let body = build::refund(
                p.invoice,
                r,
                &p.settings,
                &p.customer_id,
                &memo_id,
                p.currency.as_ref(),
            );
            let id = self
                .netsuite
                .create(RecordType::CustomerRefund, &body)
                .await
                .map_err(|e| Self::failed("create customer refund", &e))?;
            run.state.refunds.insert(r.id.clone(), id.clone());
            self.remember(run, RecordType::CustomerRefund, &id).await?;
        }
        Ok(())
    }

    /// Customer deposits on the sales order for the payments billing took before fulfilment.
    /// A payment NetSuite already holds as a customer payment (a run from a lost or emptied
    /// store, after fulfilment) is not taken twice. A transaction that also paid other
    /// invoices is no deposit: a deposit belongs to one order, and the transaction is one
    /// customer payment, which this invoice joins once it exists ([`Self::pay`]).
    pub(super) async fn deposits(
        &self,
        run: &mut Run<'_>,
        settings: &TenantSettings,
        invoice: &Invoice,
        customer_id: &str,
        so_id: &str,
        currency: Option<&NsId>,
    ) -> Result<(), Stop> {
        for p in &invoice.payments {
            if run.state.deposits.contains_key(&p.id)
                || run.state.payments.contains_key(&p.id)
                || p.original_amount > p.amount
            {
                continue;
            }
            let as_payment = ids::transaction(settings, ids::Kind::Payment, &p.id);
            if let Some(id) = self
                .netsuite
                .find_id_by_external_id(RecordType::CustomerPayment, &as_payment)
                .await
                .map_err(|e| Self::failed("find customer payment", &e))?
            {
                run.state.payments.insert(p.id.clone(), id);
                continue;
            }
            let body = build::deposit(invoice, p, settings, customer_id, so_id, currency);
            let id = self
                .netsuite
                .create(RecordType::CustomerDeposit, &body)
                .await
                .map_err(|e| Self::failed("create customer deposit", &e))?;
            run.state.deposits.insert(p.id.clone(), id.clone());
            self.remember(run, RecordType::CustomerDeposit, &id).await?;
        }
        Ok(())
    }

    /// Applies a payment's customer deposit to the invoice (a deposit application).
    pub(super) async fn apply_deposit(
        &self,
        run: &mut Run<'_>,
        settings: &TenantSettings,
        p: &crate::billing::model::Payment,
        dep_id: &str,
    ) -> Result<(), Stop> {
        let invoice_id = run
            .state
            .invoice_id
            .clone()
            .expect("deposits are applied once the invoice exists");
        let body = build::deposit_application(p, settings, &invoice_id);
        let id = self
            .netsuite
            .transform(
                RecordType::CustomerDeposit,
                dep_id,
                RecordType::DepositApplication,
                &body,
                &[],
            )
            .await
            .map_err(|e| Self::failed("apply customer deposit", &e))?;
        run.state
            .deposit_applications
            .insert(p.id.clone(), id.clone());
        self.remember(run, RecordType::DepositApplication, &id)
            .await
    }

    /// Books this invoice's part of a billing payment: the transaction's one customer payment,
    /// created for the whole transaction, or extended to this invoice when another invoice of
    /// the transaction made it. For an inventory invoice a deposit NetSuite already holds for
    /// the payment (a lost or emptied store) is applied instead of paying twice.
    pub(super) async fn pay(
        &self,
        run: &mut Run<'_>,
        settings: &TenantSettings,
        invoice: &Invoice,
        p: &crate::billing::model::Payment,
        customer_id: &str,
        currency: Option<&NsId>,
    ) -> Result<(), Stop> {
        let invoice_id = run
            .state
            .invoice_id
            .clone()
            .expect("payments are booked once the invoice exists");
        let invoice_id = invoice_id.as_str();
        if run.state.inventory && p.original_amount <= p.amount {
            let as_deposit = ids::transaction(settings, ids::Kind::Deposit, &p.id);
            if let Some(dep_id) = self
                .netsuite
                .find_id_by_external_id(RecordType::CustomerDeposit, &as_deposit)
                .await
                .map_err(|e| Self::failed("find customer deposit", &e))?
            {
                run.state.deposits.insert(p.id.clone(), dep_id.clone());
                return self.apply_deposit(run, settings, p, &dep_id).await;
            }
        }
        let body = build::payment(invoice, p, settings, customer_id, invoice_id, currency);
        let made = self
            .netsuite
            .create_or_find(RecordType::CustomerPayment, &body)
            .await
            .map_err(|e| Self::failed("create customer payment", &e))?;
        run.state.payments.insert(p.id.clone(), made.id.clone());
        if !made.existed {
            return self
                .remember(run, RecordType::CustomerPayment, &made.id)
                .await;
        }
        // Made by another invoice of the transaction (or an earlier run of this one): the
        // apply line for this invoice is added, or set again to billing's amount.
        self.netsuite
            .patch(
                RecordType::CustomerPayment,
                &RecordKey::id(&made.id),
                &build::payment_application(invoice_id, p.amount),
                &[],
            )
            .await
            .map_err(|e| Self::failed("apply customer payment", &e))?;
        run.state.updated_at = Utc::now();
        Ok(())
    }
}
