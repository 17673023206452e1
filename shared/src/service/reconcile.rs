//! Reconcile: billing against NetSuite for a period, record by record and per currency. The
//! read-back ([`super::readback`]) checks the invoices billsync posted as they change; this
//! answers "do billing and NetSuite agree for November?" from both sides, including what
//! billsync never wrote (a missed invoice) and what nobody in billing made (a record in
//! billsync's namespace that billing does not know). It only reads: NetSuite by SuiteQL in
//! pages (through the tenant's governor like every request), billing by its invoice list.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use futures::TryStreamExt;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{ServiceError, Services};
use crate::billing::model::{CreditNoteStatus, Invoice, InvoiceStatus};
use crate::flow::build::{scope, Scope};
use crate::flow::ids::{self, Kind};
use crate::flow::state::FlowStatus;
use crate::netsuite::queries::TransactionRow;
use crate::settings::TenantSettings;

/// Where the last scheduled reconcile of a tenant keeps its report (JSON).
pub const LAST_REPORT_CURSOR: &str = "reconcile-last";
/// Differences a stored report keeps; the count says how many there were in all.
const STORED_DIFFERENCES: usize = 200;
/// How much later than billsync's last write a NetSuite change must be to count as someone
/// else's: clocks drift, and NetSuite stamps the record when its own processing ends.
const EDIT_MARGIN_MINUTES: i64 = 2;

/// One count and sum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub count: u64,
    pub total: Decimal,
}

impl Tally {
    fn add(&mut self, amount: Decimal) {
        self.count += 1;
        self.total += amount;
    }
}

/// One side's figures for a currency.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figures {
    pub invoices: Tally,
    pub payments: Tally,
    pub refunds: Tally,
    pub credit_notes: Tally,
    /// What customers still owe on the period's invoices.
    pub open: Decimal,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrencyFigures {
    pub currency: String,
    pub billing: Figures,
    pub netsuite: Figures,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DifferenceKind {
    MissingInNetSuite,
    NotInBilling,
    AmountDiffers,
    OpenBalanceDiffers,
    VoidedButOpen,
    EditedInNetSuite,
}

impl DifferenceKind {
    pub fn label(self) -> &'static str {
        match self {
            DifferenceKind::MissingInNetSuite => "missing in NetSuite",
            DifferenceKind::NotInBilling => "in NetSuite, not in billing",
            DifferenceKind::AmountDiffers => "amount differs",
            DifferenceKind::OpenBalanceDiffers => "open balance differs",
            DifferenceKind::VoidedButOpen => "voided in billing, open in NetSuite",
            DifferenceKind::EditedInNetSuite => "edited in NetSuite after billsync wrote it",
        }
    }
}

/// One record on which billing and NetSuite disagree, and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Difference {
    pub kind: DifferenceKind,
    /// "invoice", "payment", "refund", "credit note".
    pub record: String,
    /// The billing invoice it belongs to, when known.
    pub invoice: Option<String>,
    pub billing_id: Option<String>,
    pub netsuite_id: Option<String>,
    pub external_id: String,
    pub currency: Option<String>,
    pub billing: Option<Decimal>,
    pub netsuite: Option<Decimal>,
    pub action: String,
}

/// What one reconcile found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileReport {
    pub tenant: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub at: DateTime<Utc>,
    pub currencies: Vec<CurrencyFigures>,
    /// How many differences there are (the list may keep fewer, see `differences_left_out`).
    pub difference_count: usize,
    pub differences: Vec<Difference>,
    #[serde(default)]
    pub differences_left_out: usize,
    /// What could not be checked, and why.
    pub notes: Vec<String>,
}

impl ReconcileReport {
    pub fn is_clean(&self) -> bool {
        self.difference_count == 0
    }

    /// The report as kept for `reconcile --last`: at most [`STORED_DIFFERENCES`] listed.
    pub fn for_storage(&self) -> ReconcileReport {
        let mut kept = self.clone();
        if kept.differences.len() > STORED_DIFFERENCES {
            kept.differences_left_out += kept.differences.len() - STORED_DIFFERENCES;
            kept.differences.truncate(STORED_DIFFERENCES);
        }
        kept
    }
}

/// A record billing says NetSuite should hold.
struct Expected {
    record: &'static str,
    external_id: String,
    /// The other external id the same billing record may have (a payment taken as a deposit).
    alternative: Option<String>,
    invoice: String,
    billing_id: String,
    currency: String,
    amount: Decimal,
    /// The deposit's amount, when found as the alternative.
    alternative_amount: Decimal,
    open: Option<Decimal>,
}

impl Expected {
    /// A difference on this record, as NetSuite holds it (`row`) or misses it.
    fn differs(
        &self,
        kind: DifferenceKind,
        row: Option<&TransactionRow>,
        figures: (Option<Decimal>, Option<Decimal>),
        action: String,
    ) -> Difference {
        Difference {
            kind,
            record: self.record.into(),
            invoice: Some(self.invoice.clone()),
            billing_id: Some(self.billing_id.clone()),
            netsuite_id: row.map(|r| r.id.clone()),
            external_id: row.map_or(&self.external_id, |r| &r.external_id).clone(),
            currency: Some(self.currency.clone()),
            billing: figures.0,
            netsuite: figures.1,
            action,
        }
    }
}

/// Billing's side of the period: expectations and figures.
#[derive(Default)]
struct BillingSide {
    expected: Vec<Expected>,
    /// Invoices voided in billing: (uid, currency).
    voided: Vec<(String, String)>,
    /// Every invoice uid billing issued in the period, in scope or not.
    issued: BTreeSet<String>,
    /// The external ids expected so far (a payment of several invoices is expected once).
    seen: BTreeSet<String>,
    figures: BTreeMap<String, Figures>,
}

/// Compares billing and NetSuite for invoices issued from `from` to `to` and everything
/// attached to them (payments, refunds, credit notes), plus every money transaction in
/// billsync's namespace dated in the period.
pub async fn reconcile(
    services: &Services,
    settings: &TenantSettings,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<ReconcileReport, ServiceError> {
    let tenant = settings.tenant.as_str();
    let clients = services.clients(settings).await?;
    let mut notes = Vec::new();

    let invoices: Vec<Invoice> = clients
        .billing
        .invoices_issued(from, to)
        .try_collect::<Vec<Vec<Invoice>>>()
        .await?
        .into_iter()
        .flatten()
        .collect();
    let mut billing = BillingSide::default();
    for invoice in &invoices {
        expect(&clients, settings, invoice, &mut billing).await?;
    }

    // NetSuite: what is dated in the period, then whatever billing expects that was not.
    let namespace = format!("{}-", ids::namespace(settings));
    let mut rows: HashMap<String, TransactionRow> = clients
        .netsuite
        .transactions_dated(&namespace, from, to)
        .await?
        .into_iter()
        .map(|row| (row.external_id.clone(), row))
        .collect();
    let dated: BTreeSet<String> = rows.keys().cloned().collect();
    let mut wanted: Vec<String> = billing
        .expected
        .iter()
        .flat_map(|e| std::iter::once(e.external_id.clone()).chain(e.alternative.clone()))
        .chain(
            billing
                .voided
                .iter()
                .map(|(uid, _)| ids::transaction(settings, Kind::Invoice, uid)),
        )
        .filter(|e| !rows.contains_key(e))
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    for row in clients
        .netsuite
        .transactions_with_external_ids(&wanted)
        .await?
    {
        rows.insert(row.external_id.clone(), row);
    }
    let codes = clients.netsuite.currency_codes().await?;

    // billsync's last write per invoice, to tell its own changes from a person's.
    let uids: Vec<String> = billing.issued.iter().cloned().collect();
    let written: HashMap<String, DateTime<Utc>> = services
        .flows(tenant, &uids)
        .await?
        .into_iter()
        .map(|(uid, f)| (uid, f.value.updated_at))
        .collect();
    let clock = match clients.netsuite.account_clock().await {
        Ok(Some(now)) => Some(zone_offset(now, Utc::now())),
        Ok(None) | Err(_) => {
            notes.push("NetSuite's clock could not be read (SELECT SYSDATE FROM dual), so edits made in NetSuite by hand were not looked for.".into());
            None
        }
    };

    let mut differences = Vec::new();
    let mut netsuite_figures: BTreeMap<String, Figures> = BTreeMap::new();
    let mut matched: BTreeSet<String> = BTreeSet::new();
    let tenant_flag = format!("--tenant {tenant}");
    for e in &billing.expected {
        let found = rows.get(&e.external_id).map(|r| (r, e.amount)).or_else(|| {
            e.alternative
                .as_ref()
                .and_then(|a| rows.get(a))
                .map(|r| (r, e.alternative_amount))
        });
        let Some((row, amount)) = found else {
            differences.push(e.differs(
                DifferenceKind::MissingInNetSuite,
                None,
                (Some(e.amount), None),
                format!(
                    "billsync retry {tenant_flag} --invoice {} syncs it (or backfill the period)",
                    e.invoice
                ),
            ));
            continue;
        };
        if !matched.insert(row.external_id.clone()) {
            continue;
        }
        tally(&mut netsuite_figures, &e.currency, row, e.record);
        if row.total != amount {
            differences.push(e.differs(
                DifferenceKind::AmountDiffers,
                Some(row),
                (Some(amount), Some(row.total)),
                "Open both records and find what changed the amount (a tax engine, a form default, an edit); correct NetSuite, then retry the invoice.".into(),
            ));
        }
        if let (Some(open), Some(remaining)) = (e.open, row.remaining) {
            if open != remaining {
                differences.push(e.differs(
                    DifferenceKind::OpenBalanceDiffers,
                    Some(row),
                    (Some(open), Some(remaining)),
                    format!(
                        "A payment or credit is on one side only: billsync retry {tenant_flag} --invoice {} applies billing's; one made in NetSuite by hand must be undone there.",
                        e.invoice
                    ),
                ));
            }
        }
        if let (Some(offset), Some(modified), Some(wrote)) =
            (clock, row.modified, written.get(&e.invoice))
        {
            if edited_after(modified, offset, *wrote) {
                differences.push(e.differs(
                    DifferenceKind::EditedInNetSuite,
                    Some(row),
                    (None, None),
                    "Read the record's System Notes in NetSuite: billing is the source of truth, so undo the change there or make it in billing.".into(),
                ));
            }
        }
    }
    for (uid, currency) in &billing.voided {
        let external_id = ids::transaction(settings, Kind::Invoice, uid);
        let Some(row) = rows.get(&external_id) else {
            continue;
        };
        matched.insert(external_id.clone());
        let open = row.remaining.unwrap_or_default();
        if open > Decimal::ZERO {
            differences.push(Difference {
                kind: DifferenceKind::VoidedButOpen,
                record: "invoice".into(),
                invoice: Some(uid.clone()),
                billing_id: Some(uid.clone()),
                netsuite_id: Some(row.id.clone()),
                external_id,
                currency: Some(currency.clone()),
                billing: Some(Decimal::ZERO),
                netsuite: Some(open),
                action: format!(
                    "billsync retry {tenant_flag} --invoice {uid} posts the reversing credit memo; if NetSuite refuses it, void the invoice there by hand."
                ),
            });
        }
    }

    // Dated in the period, in billsync's namespace, and no billing record of the period.
    let unmatched: Vec<&TransactionRow> = dated
        .iter()
        .filter(|e| !matched.contains(*e))
        .filter_map(|e| rows.get(e))
        .collect();
    if !unmatched.is_empty() {
        let known = netsuite_ids_in_flows(services, tenant).await?;
        for row in unmatched {
            let Some((record, kind)) = record_of(settings, &row.external_id) else {
                continue;
            };
            if known.contains(&row.id) {
                continue;
            }
            if kind == Kind::Invoice {
                let uid =
                    ids::billing_id(settings, Kind::Invoice, &row.external_id).unwrap_or_default();
                if billing.issued.contains(&uid) {
                    continue;
                }
                match clients.billing.invoice(&uid).await {
                    Err(e) if e.not_found => {}
                    Err(e) => return Err(e.into()),
                    // Billing has it, issued on another day: the other period's reconcile
                    // compares it.
                    Ok(_) => continue,
                }
            }
            let currency = row.currency.as_ref().and_then(|c| codes.get(c)).cloned();
            tally(
                &mut netsuite_figures,
                currency.as_deref().unwrap_or("?"),
                row,
                record,
            );
            differences.push(Difference {
                kind: DifferenceKind::NotInBilling,
                record: record.into(),
                invoice: None,
                billing_id: ids::billing_id(settings, kind, &row.external_id),
                netsuite_id: Some(row.id.clone()),
                external_id: row.external_id.clone(),
                currency,
                billing: None,
                netsuite: Some(row.total),
                action: "billsync holds no record of it and billing lists none: find who made it (System Notes); if it was made in error, void it in NetSuite (billsync never deletes).".into(),
            });
        }
    }

    differences.sort_by(|a, b| {
        (a.kind, &a.invoice, &a.external_id).cmp(&(b.kind, &b.invoice, &b.external_id))
    });
    let currencies: BTreeSet<String> = billing
        .figures
        .keys()
        .chain(netsuite_figures.keys())
        .cloned()
        .collect();
    let currencies = currencies
        .into_iter()
        .map(|c| CurrencyFigures {
            billing: billing.figures.get(&c).cloned().unwrap_or_default(),
            netsuite: netsuite_figures.get(&c).cloned().unwrap_or_default(),
            currency: c,
        })
        .collect();
    Ok(ReconcileReport {
        tenant: tenant.to_owned(),
        from,
        to,
        at: Utc::now(),
        currencies,
        difference_count: differences.len(),
        differences,
        differences_left_out: 0,
        notes,
    })
}

/// Reconciles one tenant, keeps the report for `reconcile --last`, publishes the difference
/// count as a metric and logs an alarm line when there are any.
pub async fn reconcile_and_keep(
    services: &Services,
    tenant: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<ReconcileReport, ServiceError> {
    let settings = services.settings(tenant).await?;
    let report = reconcile(services, &settings, from, to).await?;
    let kept = serde_json::to_string(&report.for_storage()).expect("reports serialize");
    services
        .store
        .put_cursor(tenant, LAST_REPORT_CURSOR, &kept)
        .await?;
    crate::metrics::emit(
        tenant,
        &[(
            crate::metrics::Metric::ReconcileDifferences,
            report.difference_count as f64,
        )],
    );
    if !report.is_clean() {
        tracing::warn!(
            alarm = "RECONCILE_DIFFERENCES",
            tenant,
            %from,
            %to,
            differences = report.difference_count,
            "billing and NetSuite differ; `billsync reconcile --last` lists each difference with its action"
        );
    }
    Ok(report)
}

/// The report the last [`reconcile_and_keep`] of a tenant kept.
pub async fn last_report(
    services: &Services,
    tenant: &str,
) -> Result<Option<ReconcileReport>, ServiceError> {
    services.settings(tenant).await?;
    let Some(text) = services.store.cursor(tenant, LAST_REPORT_CURSOR).await? else {
        return Ok(None);
    };
    serde_json::from_str(&text).map(Some).map_err(|e| {
        ServiceError::Store(crate::store::StoreError::Corrupt {
            what: format!("the last reconcile report of {tenant}"),
            message: e.to_string(),
        })
    })
}

/// The period the scheduled reconcile compares: the `days` days up to yesterday (today's
/// invoices may still be on their way).
pub fn scheduled_period(today: NaiveDate, days: u32) -> (NaiveDate, NaiveDate) {
    let to = today - Duration::days(1);
    (to - Duration::days(i64::from(days.max(1)) - 1), to)
}

/// One tenant's scheduled reconcile: its difference count, or why it could not run.
#[derive(Debug, Serialize)]
pub struct TenantReconcile {
    pub tenant: String,
    pub differences: Option<usize>,
    pub error: Option<String>,
}

/// Reconciles every tenant for the period; one tenant's failure does not stop the others.
pub async fn reconcile_all(
    services: &Services,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<TenantReconcile>, ServiceError> {
    let mut out = Vec::new();
    for tenant in services.store.tenants().await? {
        let result = reconcile_and_keep(services, &tenant, from, to).await;
        if let Err(e) = &result {
            tracing::error!(tenant = %tenant, error = %e, "reconcile failed");
        }
        out.push(TenantReconcile {
            differences: result.as_ref().ok().map(|r| r.difference_count),
            error: result.err().map(|e| e.to_string()),
            tenant,
        });
    }
    Ok(out)
}

/// Adds what billing says NetSuite should hold for one invoice.
async fn expect(
    clients: &super::TenantClients,
    settings: &TenantSettings,
    invoice: &Invoice,
    side: &mut BillingSide,
) -> Result<(), ServiceError> {
    side.issued.insert(invoice.uid.clone());
    let currency = invoice.currency.to_ascii_uppercase();
    if matches!(
        invoice.status,
        InvoiceStatus::Voided | InvoiceStatus::Canceled
    ) {
        side.voided.push((invoice.uid.clone(), currency));
        return Ok(());
    }
    if scope(invoice, settings) != Scope::Sync {
        return Ok(());
    }
    let figures = side.figures.entry(currency.clone()).or_default();
    let base = |record: &'static str, kind: Kind, id: &str, amount: Decimal| Expected {
        record,
        external_id: ids::transaction(settings, kind, id),
        alternative: None,
        invoice: invoice.uid.clone(),
        billing_id: id.to_owned(),
        currency: currency.clone(),
        amount,
        alternative_amount: amount,
        open: None,
    };
    figures.invoices.add(invoice.totals.total);
    figures.open += invoice.totals.due;
    let mut out = vec![Expected {
        open: Some(invoice.totals.due),
        ..base("invoice", Kind::Invoice, &invoice.uid, invoice.totals.total)
    }];
    for p in &invoice.payments {
        // One NetSuite payment for a transaction that paid several invoices.
        let whole = p.original_amount.max(p.amount);
        let mut e = base("payment", Kind::Payment, &p.id, whole);
        e.alternative = Some(ids::transaction(settings, Kind::Deposit, &p.id));
        e.alternative_amount = p.amount;
        out.push(e);
    }
    for r in &invoice.refunds {
        out.push(base("refund", Kind::Refund, &r.id, r.amount));
    }
    if !invoice.credits.is_empty() || !invoice.refunds.is_empty() {
        for cn in clients.billing.credit_notes_for(invoice).await? {
            if cn.status == CreditNoteStatus::Voided {
                continue;
            }
            out.push(base("credit note", Kind::CreditMemo, &cn.uid, cn.total));
            for r in &cn.refunds {
                out.push(base("refund", Kind::Refund, &r.id, r.amount));
            }
        }
    }
    for e in out {
        if !side.seen.insert(e.external_id.clone()) {
            continue;
        }
        let figures = side.figures.entry(currency.clone()).or_default();
        match e.record {
            "payment" => figures.payments.add(e.amount),
            "refund" => figures.refunds.add(e.amount),
            "credit note" => figures.credit_notes.add(e.amount),
            _ => {}
        }
        side.expected.push(e);
    }
    Ok(())
}

fn tally(
    figures: &mut BTreeMap<String, Figures>,
    currency: &str,
    row: &TransactionRow,
    record: &str,
) {
    let f = figures.entry(currency.to_owned()).or_default();
    match record {
        "invoice" => {
            f.invoices.add(row.total);
            f.open += row.remaining.unwrap_or_default();
        }
        "payment" => f.payments.add(row.total),
        "refund" => f.refunds.add(row.total),
        "credit note" => f.credit_notes.add(row.total),
        _ => {}
    }
}

/// What an external id of billsync's namespace names; `None` for kinds reconcile leaves out
/// (sales orders, deposit applications, the credit memos reversing voided invoices).
fn record_of(settings: &TenantSettings, external_id: &str) -> Option<(&'static str, Kind)> {
    [
        ("invoice", Kind::Invoice),
        ("payment", Kind::Payment),
        ("payment", Kind::Deposit),
        ("refund", Kind::Refund),
        ("credit note", Kind::CreditMemo),
    ]
    .into_iter()
    .find(|(_, kind)| external_id.starts_with(&ids::prefix(settings, *kind)))
}

/// The NetSuite ids the tenant's flows hold, for a record dated in the period that belongs
/// to an invoice of another period (a payment received after the month it paid).
async fn netsuite_ids_in_flows(
    services: &Services,
    tenant: &str,
) -> Result<BTreeSet<String>, ServiceError> {
    let mut known = BTreeSet::new();
    for status in [
        FlowStatus::Synced,
        FlowStatus::Error,
        FlowStatus::Pending,
        FlowStatus::Parked,
        FlowStatus::AwaitingFulfilment,
        FlowStatus::Held,
    ] {
        for f in services
            .store
            .flows_with_status(tenant, status, usize::MAX)
            .await?
        {
            let s = f.value;
            known.extend(s.invoice_id);
            known.extend(s.deposits.into_values());
            known.extend(s.payments.into_values());
            known.extend(s.refunds.into_values());
            known.extend(s.credit_memos.into_values());
        }
    }
    Ok(known)
}

/// The offset of NetSuite's datetime clock from UTC, to the quarter hour.
fn zone_offset(account_now: NaiveDateTime, utc_now: DateTime<Utc>) -> Duration {
    let minutes = (account_now - utc_now.naive_utc()).num_minutes();
    let quarters = (minutes as f64 / 15.0).round() as i64;
    Duration::minutes(quarters * 15)
}

/// Whether a record NetSuite stamped `modified` (on its clock, `offset` from UTC) changed
/// after billsync last wrote at `wrote`. The offset is today's; a stamp from before a
/// daylight-saving change may be an hour off, so only a change more than an hour after
/// billsync's counts.
fn edited_after(modified: NaiveDateTime, offset: Duration, wrote: DateTime<Utc>) -> bool {
    let earliest = modified - offset - Duration::hours(1);
    earliest > wrote.naive_utc() + Duration::minutes(EDIT_MARGIN_MINUTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn the_scheduled_period_ends_yesterday() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        assert_eq!(
            scheduled_period(today, 31),
            (
                NaiveDate::from_ymd_opt(2026, 11, 6).unwrap(),
                NaiveDate::from_ymd_opt(2026, 12, 6).unwrap()
            )
        );
    }

    #[test]
    fn the_account_clock_gives_its_zone_to_the_quarter_hour() {
        let utc = DateTime::parse_from_rfc3339("2026-11-05T18:00:07Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            zone_offset(at("2026-11-05 10:00:09"), utc),
            Duration::hours(-8)
        );
        assert_eq!(
            zone_offset(at("2026-11-05 23:30:01"), utc),
            Duration::minutes(330)
        );
    }

    #[test]
    fn only_a_change_well_after_billsyncs_write_counts_as_an_edit() {
        let wrote = DateTime::parse_from_rfc3339("2026-11-05T18:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let pst = Duration::hours(-8);
        // billsync's own write, seen on a Pacific clock, and the same an hour off (DST).
        assert!(!edited_after(at("2026-11-05 10:00:30"), pst, wrote));
        assert!(!edited_after(at("2026-11-05 11:00:30"), pst, wrote));
        assert!(edited_after(at("2026-11-05 13:00:00"), pst, wrote));
    }
}
