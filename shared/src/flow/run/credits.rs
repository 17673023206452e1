//! Credit notes: booked from the invoice they were raised on, applied wherever billing
//! applied them (later ones too, other invoices too), left as customer credit otherwise.

use chrono::Utc;

use super::{Engine, Posting, Run, Stop};
use crate::billing::model::CreditNote;
use crate::flow::build;
use crate::flow::errors::FlowProblem;
use crate::flow::ids;
use crate::flow::lines::plan_credit_lines;
use crate::flow::state::FlowStatus;
use crate::netsuite::records::RecordType;
use crate::netsuite::RecordKey;
use crate::settings::TenantSettings;

impl Engine<'_> {
    /// Notes raised on this invoice (applied here, elsewhere or nowhere) and notes raised
    /// elsewhere and applied here. A source that reads notes with the invoice answers from
    /// it; Maxio lists them.
    pub(super) async fn credit_notes(
        &self,
        run: &mut Run<'_>,
        p: &Posting<'_, '_>,
        invoice_id: &str,
    ) -> Result<Vec<CreditNote>, Stop> {
        let invoice = p.invoice;
        let notes: Vec<CreditNote> = self.billing.credit_notes_for(invoice).await.map_err(|e| {
            Self::problem(
                "read credit notes",
                FlowProblem::Billing {
                    detail: e.message,
                    retryable: e.retryable,
                },
            )
        })?;
        for cn in &notes {
            let raised_here =
                cn.origin_invoice_uids.is_empty() || cn.origin_invoice_uids.contains(&invoice.uid);
            if raised_here {
                self.book_credit_note(run, &p.settings, cn, &invoice.uid, invoice_id)
                    .await?;
            } else {
                self.apply_foreign_credit(run, &p.settings, cn, &invoice.uid, invoice_id)
                    .await?;
            }
        }
        Ok(notes)
    }

    /// The credit memo of a note raised on this invoice: made from the invoice, applied here
    /// for what billing applied here; left unapplied, as customer credit, for the rest (the
    /// invoices it was applied to add themselves). Found instead when another invoice's flow
    /// made it first.
    pub(super) async fn book_credit_note(
        &self,
        run: &mut Run<'_>,
        settings: &TenantSettings,
        cn: &CreditNote,
        invoice_uid: &str,
        invoice_id: &str,
    ) -> Result<(), Stop> {
        if let Some(memo_id) = run.state.credit_memos.get(&cn.uid).cloned() {
            return self
                .follow_application(run, cn, &memo_id, invoice_uid, invoice_id)
                .await;
        }
        let made = self
            .credit_memo(settings, cn, invoice_id, invoice_uid, invoice_id)
            .await?;
        run.state
            .credit_applied
            .insert(cn.uid.clone(), cn.applied_to(invoice_uid));
        run.state
            .credit_memos
            .insert(cn.uid.clone(), made.id.clone());
        run.state.credit_memo_fingerprints.insert(
            cn.uid.clone(),
            build::fingerprint(&build::credit_memo_update(cn, settings)),
        );
        if made.existed {
            run.state.updated_at = Utc::now();
            return Ok(());
        }
        self.remember(run, RecordType::CreditMemo, &made.id).await
    }

    /// Makes (or finds) a note's credit memo from the NetSuite invoice it was raised on,
    /// applied to `apply_to` for what billing applied to `apply_uid`; when it already existed,
    /// sets that one apply line on it.
    pub(super) async fn credit_memo(
        &self,
        settings: &TenantSettings,
        cn: &CreditNote,
        origin_id: &str,
        apply_uid: &str,
        apply_to: &str,
    ) -> Result<crate::netsuite::Created, Stop> {
        let cn_lines = plan_credit_lines(cn, settings)
            .map_err(|p| Self::problem("map credit note lines", FlowProblem::Lines(p)))?;
        let body = build::credit_memo(cn, settings, apply_uid, apply_to, &cn_lines);
        let made = self
            .netsuite
            .transform_or_find(
                RecordType::Invoice,
                origin_id,
                RecordType::CreditMemo,
                &body,
                &["item"],
            )
            .await
            .map_err(|e| Self::failed("create credit memo", &e))?;
        let amount = cn.applied_to(apply_uid);
        if made.existed && !amount.is_zero() {
            self.apply_credit(&made.id, apply_to, amount).await?;
        }
        Ok(made)
    }

    pub(super) async fn apply_credit(
        &self,
        memo_id: &str,
        invoice_id: &str,
        amount: rust_decimal::Decimal,
    ) -> Result<(), Stop> {
        self.netsuite
            .patch(
                RecordType::CreditMemo,
                &RecordKey::id(memo_id),
                &build::credit_application(invoice_id, amount),
                &[],
            )
            .await
            .map_err(|e| Self::failed("apply credit memo", &e))
    }

    /// Adds this invoice to the apply list of the credit memo of a note raised on another
    /// invoice. When no memo exists yet and that invoice is in NetSuite, this flow makes the
    /// memo from it; until that invoice reaches NetSuite the credit waits (parked).
    pub(super) async fn apply_foreign_credit(
        &self,
        run: &mut Run<'_>,
        settings: &TenantSettings,
        cn: &CreditNote,
        invoice_uid: &str,
        invoice_id: &str,
    ) -> Result<(), Stop> {
        if let Some(memo_id) = run.state.credit_applications.get(&cn.uid).cloned() {
            return self
                .follow_application(run, cn, &memo_id, invoice_uid, invoice_id)
                .await;
        }
        let amount = cn.applied_to(invoice_uid);
        if amount.is_zero() {
            return Ok(());
        }
        let tenant = run.settings.tenant.clone();
        // The origin flow's record of the memo and of its invoice, else NetSuite's.
        let mut memo_id = None;
        let mut origin_id = None;
        for origin in &cn.origin_invoice_uids {
            if let Some(flow) = self.store.flow(&tenant, origin).await? {
                memo_id = memo_id.or_else(|| flow.value.credit_memos.get(&cn.uid).cloned());
                origin_id = origin_id.or(flow.value.invoice_id);
            }
        }
        if memo_id.is_none() {
            let external_id = ids::transaction(settings, ids::Kind::CreditMemo, &cn.uid);
            memo_id = self
                .netsuite
                .find_id_by_external_id(RecordType::CreditMemo, &external_id)
                .await
                .map_err(|e| Self::failed("find credit memo", &e))?;
        }
        let memo_id = match memo_id {
            Some(id) => {
                self.apply_credit(&id, invoice_id, amount).await?;
                id
            }
            None => {
                if origin_id.is_none() {
                    for origin in &cn.origin_invoice_uids {
                        let external_id = ids::transaction(settings, ids::Kind::Invoice, origin);
                        origin_id = self
                            .netsuite
                            .find_id_by_external_id(RecordType::Invoice, &external_id)
                            .await
                            .map_err(|e| Self::failed("find invoice", &e))?;
                        if origin_id.is_some() {
                            break;
                        }
                    }
                }
                let Some(origin_id) = origin_id else {
                    return Err(Stop::Waiting(
                        FlowStatus::Parked,
                        format!(
                            "credit note {} waits for its invoice {} to reach NetSuite",
                            cn.uid,
                            cn.origin_invoice_uids.join(", ")
                        ),
                    ));
                };
                let made = self
                    .credit_memo(settings, cn, &origin_id, invoice_uid, invoice_id)
                    .await?;
                if !made.existed {
                    run.created.push((RecordType::CreditMemo, made.id.clone()));
                }
                made.id
            }
        };
        run.state
            .credit_applications
            .insert(cn.uid.clone(), memo_id);
        run.state.credit_applied.insert(cn.uid.clone(), amount);
        run.state.updated_at = Utc::now();
        self.save(run).await?;
        Ok(())
    }

    /// A note already on NetSuite whose application to this invoice billing has changed
    /// since it was written (applied again later): the memo's line for this invoice is set to
    /// billing's amount. Flows from before this was kept take the current amount as written.
    pub(super) async fn follow_application(
        &self,
        run: &mut Run<'_>,
        cn: &CreditNote,
        memo_id: &str,
        invoice_uid: &str,
        invoice_id: &str,
    ) -> Result<(), Stop> {
        let want = cn.applied_to(invoice_uid);
        match run.state.credit_applied.get(&cn.uid) {
            Some(had) if *had != want => {
                self.apply_credit(memo_id, invoice_id, want).await?;
            }
            Some(_) => return Ok(()),
            None => {}
        }
        run.state.credit_applied.insert(cn.uid.clone(), want);
        run.state.updated_at = Utc::now();
        Ok(())
    }
}
