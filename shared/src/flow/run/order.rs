//! The order and invoice a billing invoice becomes, and what happens to them afterwards:
//! updates billing makes, voids after sync, and finding them again from an empty store.

use super::{Engine, Posting, Run, Stop};
use crate::billing::model::{CreditNote, Invoice};
use crate::flow::build::{self, OrderStage};
use crate::flow::errors::FlowProblem;
use crate::flow::ids;
use crate::flow::state::{FlowStatus, Posted};
use crate::netsuite::records::RecordType;
use crate::netsuite::{GetOptions, RecordKey};
use crate::settings::{InvoicePath, TenantSettings};

impl Engine<'_> {
    /// The invoice's sales order: the one the flow made, else a new one.
    pub(super) async fn sales_order(
        &self,
        run: &mut Run<'_>,
        p: &Posting<'_, '_>,
    ) -> Result<String, Stop> {
        self.first_record(run, p, RecordType::SalesOrder).await
    }

    /// The NetSuite invoice made directly from the billing invoice (no sales order): the one
    /// the flow made, else a new one.
    pub(super) async fn direct_invoice(
        &self,
        run: &mut Run<'_>,
        p: &Posting<'_, '_>,
    ) -> Result<String, Stop> {
        self.first_record(run, p, RecordType::Invoice).await
    }

    /// The record the billing invoice's lines go on first, a sales order or an invoice: the
    /// one the flow made, else a new one (found by its external id if a crash lost its save).
    async fn first_record(
        &self,
        run: &mut Run<'_>,
        p: &Posting<'_, '_>,
        kind: RecordType,
    ) -> Result<String, Stop> {
        let order = kind == RecordType::SalesOrder;
        fn made(state: &mut crate::flow::state::FlowState, order: bool) -> &mut Option<String> {
            match order {
                true => &mut state.sales_order_id,
                false => &mut state.invoice_id,
            }
        }
        if let Some(id) = made(&mut run.state, order).clone() {
            return Ok(id);
        }
        let (build, step): (fn(_, _, _, _, _) -> _, _) = match order {
            true => (build::sales_order, "create sales order"),
            false => (build::invoice, "create invoice"),
        };
        let body = build(
            p.invoice,
            &p.settings,
            &p.customer_id,
            p.currency.as_ref(),
            &p.lines,
        );
        let id = self
            .netsuite
            .create(kind, &body)
            .await
            .map_err(|e| Self::failed(step, &e))?;
        *made(&mut run.state, order) = Some(id.clone());
        self.remember(run, kind, &id).await?;
        Ok(id)
    }

    /// An order of goods is invoiced once NetSuite shows it shipped. Until then the run waits,
    /// and money billing collected meanwhile becomes customer deposits on the order (the
    /// seed); once shipped it is a payment on the invoice.
    pub(super) async fn await_fulfilment(
        &self,
        run: &mut Run<'_>,
        p: &Posting<'_, '_>,
        so_id: &str,
    ) -> Result<(), Stop> {
        if !run.state.inventory || run.state.invoice_id.is_some() || run.state.fulfilled {
            return Ok(());
        }
        let so: serde_json::Value = self
            .netsuite
            .get_with(
                RecordType::SalesOrder,
                &RecordKey::id(so_id),
                &GetOptions {
                    fields: vec!["status".into()],
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| Self::failed("check fulfilment", &e))?;
        match build::order_stage(so.get("status")) {
            OrderStage::Shipped => {
                run.state.fulfilled = true;
                Ok(())
            }
            OrderStage::Waiting(why) => {
                self.deposits(
                    run,
                    &p.settings,
                    p.invoice,
                    &p.customer_id,
                    so_id,
                    p.currency.as_ref(),
                )
                .await?;
                Err(Stop::Waiting(
                    FlowStatus::AwaitingFulfilment,
                    format!("sales order {so_id} {why}"),
                ))
            }
            OrderStage::Stopped(why) => Err(Self::problem(
                "check fulfilment",
                FlowProblem::Person {
                    code: "ORDER_NOT_BILLABLE",
                    detail: format!("sales order {so_id} {why}"),
                    cause: "NetSuite will not invoice the order as it stands, while billing says the sale stands.".into(),
                    fix: "Open the sales order in NetSuite: reopen it if it was cancelled or closed by mistake, or void the invoice in billing if the sale is off; then retry.".into(),
                },
            )),
        }
    }

    /// The NetSuite invoice, made from the sales order.
    pub(super) async fn invoice_from_order(
        &self,
        run: &mut Run<'_>,
        p: &Posting<'_, '_>,
        so_id: &str,
    ) -> Result<String, Stop> {
        if let Some(id) = run.state.invoice_id.clone() {
            return Ok(id);
        }
        let body = build::invoice_from_order(p.invoice, &p.settings);
        let id = self
            .netsuite
            .transform(
                RecordType::SalesOrder,
                so_id,
                RecordType::Invoice,
                &body,
                &[],
            )
            .await
            .map_err(|e| Self::failed("create invoice from sales order", &e))?;
        run.state.invoice_id = Some(id.clone());
        self.remember(run, RecordType::Invoice, &id).await?;
        Ok(id)
    }

    /// Billing changed a posted document (Chargebee "update invoice details", a credit note
    /// re-dated): patch the NetSuite record billsync made. A digest of the fields as last
    /// written tells; flows from before digests were kept take the current one as written.
    pub(super) async fn follow_updates(
        &self,
        run: &mut Run<'_>,
        invoice: &Invoice,
        invoice_id: &str,
        notes: &[CreditNote],
        settings: &TenantSettings,
    ) -> Result<(), Stop> {
        let header = build::invoice_update(invoice);
        let digest = build::fingerprint(&header);
        match &run.state.header_fingerprint {
            Some(old) if *old != digest => {
                self.netsuite
                    .patch(
                        RecordType::Invoice,
                        &RecordKey::id(invoice_id),
                        &header,
                        &[],
                    )
                    .await
                    .map_err(|e| Self::failed("update invoice", &e))?;
                tracing::info!(invoice = %invoice.uid, netsuite_id = %invoice_id, "invoice updated from billing");
                run.state.header_fingerprint = Some(digest);
            }
            Some(_) => {}
            None => run.state.header_fingerprint = Some(digest),
        }
        for cn in notes {
            let Some(memo_id) = run.state.credit_memos.get(&cn.uid).cloned() else {
                continue;
            };
            let body = build::credit_memo_update(cn, settings);
            let digest = build::fingerprint(&body);
            match run.state.credit_memo_fingerprints.get(&cn.uid) {
                Some(old) if *old != digest => {
                    self.netsuite
                        .patch(RecordType::CreditMemo, &RecordKey::id(&memo_id), &body, &[])
                        .await
                        .map_err(|e| Self::failed("update credit memo", &e))?;
                }
                Some(_) => continue,
                None => {}
            }
            run.state
                .credit_memo_fingerprints
                .insert(cn.uid.clone(), digest);
        }
        Ok(())
    }

    /// Closes every line of a sales order billing voided before it was invoiced (NetSuite's
    /// REST API has no void; a closed order is what a person would do by hand).
    pub(super) async fn close_order(&self, run: &mut Run<'_>, so_id: &str) -> Result<(), Stop> {
        let step = "close sales order";
        if run.state.reversal_id.as_deref() == Some(so_id) {
            return Ok(());
        }
        let order: serde_json::Value = self
            .netsuite
            .get_with(
                RecordType::SalesOrder,
                &RecordKey::id(so_id),
                &GetOptions {
                    expand_sub_resources: true,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| Self::failed(step, &e))?;
        if build::order_stage(order.get("status")) == OrderStage::Shipped {
            return Err(Self::problem(
                step,
                FlowProblem::Person {
                    code: "VOID_NOT_REVERSED",
                    detail: format!("invoice {} was voided in billing after NetSuite shipped sales order {so_id}", run.state.invoice_uid),
                    cause: "The goods left the warehouse; closing the order would hide a shipment billing no longer charges for.".into(),
                    fix: format!("Decide in NetSuite how sales order {so_id} is settled (a return authorization, or an invoice and a credit memo), then mark this invoice handled."),
                },
            ));
        }
        let open_lines: Vec<serde_json::Value> = order
            .pointer("/item/items")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
            .filter(|l| l.get("isClosed").and_then(|c| c.as_bool()) != Some(true))
            .filter_map(|l| l.get("line").cloned())
            .map(|line| serde_json::json!({"line": line, "isClosed": true}))
            .collect();
        if !open_lines.is_empty() {
            self.netsuite
                .patch(
                    RecordType::SalesOrder,
                    &RecordKey::id(so_id),
                    &serde_json::json!({"item": {"items": open_lines}}),
                    &[],
                )
                .await
                .map_err(|e| Self::failed(step, &e))?;
        }
        // The order is its own reversal; nothing stays open for the read-back to compare.
        run.state.reversal_id = Some(so_id.to_owned());
        run.state.posted = None;
        Ok(())
    }

    /// Fills in the sales order, invoice and void reversal NetSuite holds for a billing
    /// invoice, found by their external ids.
    pub(super) async fn find_posted(&self, run: &mut Run<'_>, uid: &str) -> Result<(), Stop> {
        let settings = run.settings;
        let find = |rt: RecordType, kind: ids::Kind| {
            let eid = ids::transaction(settings, kind, uid);
            async move {
                self.netsuite
                    .find_id_by_external_id(rt, &eid)
                    .await
                    .map_err(|e| Self::failed("find posted records", &e))
            }
        };
        run.state.sales_order_id = find(RecordType::SalesOrder, ids::Kind::SalesOrder).await?;
        // A directly made invoice has no order before it.
        if run.state.sales_order_id.is_some() || settings.invoice_path() == InvoicePath::Direct {
            run.state.invoice_id = find(RecordType::Invoice, ids::Kind::Invoice).await?;
        }
        if run.state.invoice_id.is_some() {
            run.state.reversal_id = find(RecordType::CreditMemo, ids::Kind::VoidReversal).await?;
        }
        Ok(())
    }

    /// An invoice voided in billing after billsync posted it. NetSuite's REST API has no void:
    /// an open, untouched NetSuite invoice is reversed by a credit memo made from it for its
    /// whole amount; anything else (only an order, deposits, payments or credits applied, the
    /// tenant's setting off) is an error entry naming the NetSuite record and what to do.
    pub(super) async fn reverse_void(
        &self,
        run: &mut Run<'_>,
        invoice: &Invoice,
    ) -> Result<(), Stop> {
        let step = "reverse void";
        if run.state.reversal_id.is_some() {
            return Ok(());
        }
        let person = |detail: String, fix: String| {
            Self::problem(
                step,
                FlowProblem::Person {
                    code: "VOID_NOT_REVERSED",
                    detail,
                    cause: "Billing voided the invoice after billsync posted it, and billsync cannot reverse NetSuite's records safely by itself.".into(),
                    fix,
                },
            )
        };
        let Some(ns_invoice) = run.state.invoice_id.clone() else {
            // Only the order exists: closing it is the reversal, unless money sits on it.
            let so = run.state.sales_order_id.clone().unwrap_or_default();
            if !run.state.deposits.is_empty() {
                return Err(person(
                    format!("invoice {} was voided in billing after billsync made sales order {so} in NetSuite, which has customer deposits", invoice.uid),
                    format!("Refund or reapply the customer deposits on sales order {so}, close the order in NetSuite, then retry."),
                ));
            }
            return self.close_order(run, &so).await;
        };
        if !run.settings.reverse_voids {
            return Err(person(
                format!("invoice {} was voided in billing after it was posted as NetSuite invoice {ns_invoice}", invoice.uid),
                format!("Void or credit NetSuite invoice {ns_invoice} by hand, or set invoices.reverse_voids to true and retry."),
            ));
        }
        let Some((total, open)) = self
            .netsuite
            .invoice_figures(&ns_invoice)
            .await
            .map_err(|e| Self::failed(step, &e))?
        else {
            return Err(person(
                format!(
                    "NetSuite invoice {ns_invoice} did not show its total and amount remaining"
                ),
                "Check the token role can read invoices, then retry.".into(),
            ));
        };
        if open != total {
            // A reversal whose flow save a crash lost has already closed the invoice: found by
            // its external id, it is the one billsync made.
            let eid = ids::transaction(run.settings, ids::Kind::VoidReversal, &invoice.uid);
            if let Some(id) = self
                .netsuite
                .find_id_by_external_id(RecordType::CreditMemo, &eid)
                .await
                .map_err(|e| Self::failed(step, &e))?
            {
                run.state.reversal_id = Some(id);
                run.state.posted = Some(Posted {
                    total,
                    due: rust_decimal::Decimal::ZERO,
                });
                return Ok(());
            }
            return Err(person(
                format!("invoice {} was voided in billing, but NetSuite invoice {ns_invoice} has {} of {total} paid or credited", invoice.uid, total - open),
                format!("Unapply or refund what was applied to NetSuite invoice {ns_invoice}, then retry so billsync reverses it; or credit it by hand."),
            ));
        }
        let body = build::void_reversal(invoice, run.settings, &ns_invoice, total);
        let made = self
            .netsuite
            .transform_or_find(
                RecordType::Invoice,
                &ns_invoice,
                RecordType::CreditMemo,
                &body,
                &[],
            )
            .await
            .map_err(|e| Self::failed(step, &e))?;
        run.state.reversal_id = Some(made.id.clone());
        run.state.posted = Some(Posted {
            total,
            due: rust_decimal::Decimal::ZERO,
        });
        if made.existed {
            return Ok(());
        }
        self.remember(run, RecordType::CreditMemo, &made.id).await
    }
}
