//! The demo's report: what was synced, counted per record type and per currency, and how it
//! is printed.

use std::collections::BTreeMap;

use billsync::service::readback::ReadBackReport;
use rust_decimal::Decimal;

use crate::demo_chargebee;

/// Billing against NetSuite for one currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrencyTotals {
    pub currency: String,
    pub invoices: usize,
    pub billing: Decimal,
    pub netsuite: Decimal,
}

/// What the demo did and found.
#[derive(Clone, Debug, Default)]
pub struct DemoReport {
    pub generated: usize,
    pub webhooks_delivered: usize,
    pub records_created: BTreeMap<String, usize>,
    pub synced: usize,
    pub awaiting_fulfilment: usize,
    pub skipped: BTreeMap<String, usize>,
    pub parked: Vec<(String, String)>,
    /// (invoice, step, cause, fix)
    pub errors: Vec<(String, String, String, String)>,
    pub fulfilled_orders: usize,
    pub totals: Vec<CurrencyTotals>,
    pub second_pass_new_records: usize,
    /// Per tenant: NetSuite's invoice figures read back against billing's.
    pub read_back: Vec<ReadBackReport>,
    /// The Chargebee tenant beside the Maxio one.
    pub chargebee: Tally,
    /// How the sync logged in to NetSuite, when it was not token-based authentication.
    pub login: Option<String>,
}

/// Where one tenant's invoices ended up.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub generated: usize,
    pub webhooks_delivered: usize,
    pub synced: usize,
    pub awaiting_fulfilment: usize,
    pub skipped: BTreeMap<String, usize>,
    pub parked: Vec<(String, String)>,
    /// (invoice, step, cause, fix)
    pub errors: Vec<(String, String, String, String)>,
    pub totals: Vec<CurrencyTotals>,
}

impl Tally {
    pub fn accounted(&self) -> usize {
        self.synced
            + self.skipped.values().sum::<usize>()
            + self.parked.len()
            + self.errors.len()
            + self.awaiting_fulfilment
    }

    pub fn ok(&self) -> bool {
        self.accounted() == self.generated && self.totals.iter().all(|t| t.billing == t.netsuite)
    }
}

impl DemoReport {
    pub fn skipped_count(&self) -> usize {
        self.skipped.values().sum()
    }

    /// Every generated invoice is synced, skipped, parked, waiting or in error.
    pub fn accounted(&self) -> usize {
        self.synced
            + self.skipped_count()
            + self.parked.len()
            + self.errors.len()
            + self.awaiting_fulfilment
    }

    pub fn totals_match(&self) -> bool {
        self.totals.iter().all(|t| t.billing == t.netsuite)
    }

    pub fn ok(&self) -> bool {
        self.accounted() == self.generated
            && self.totals_match()
            && self.second_pass_new_records == 0
            && self.read_back.iter().all(|r| r.differ.is_empty())
            && self.chargebee.ok()
    }
}

fn totals_line(t: &CurrencyTotals) -> String {
    format!(
        "  {}  {:>4} invoices  billing {:>12.2}  NetSuite {:>12.2}  {}",
        t.currency,
        t.invoices,
        t.billing,
        t.netsuite,
        if t.billing == t.netsuite {
            "✓ equal to the cent"
        } else {
            "✗ MISMATCH"
        }
    )
}

/// The summary as the command prints it.
pub fn render(report: &DemoReport) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(if report.chargebee.generated > 0 {
        "billsync demo: a month of Maxio and of Chargebee billing synced into NetSuite (simulators)"
            .into()
    } else {
        "billsync demo: a month of Maxio billing synced into NetSuite (simulators)".into()
    });
    if let Some(login) = &report.login {
        line(format!("NetSuite login: {login}"));
    }
    line(String::new());
    line("NetSuite records created".into());
    for (kind, n) in &report.records_created {
        line(format!("  {kind:<20} {n:>6}"));
    }
    if report.records_created.values().all(|n| *n == 0) {
        line("  nothing new: every record was already in NetSuite (found by external id)".into());
    }
    line(String::new());
    line(format!("Invoices generated   {:>6}", report.generated));
    line(format!("  synced             {:>6}", report.synced));
    line(format!(
        "  skipped            {:>6}",
        report.skipped_count()
    ));
    for (reason, n) in &report.skipped {
        line(format!("    {n:>4}  {reason}"));
    }
    line(format!(
        "  awaiting shipment  {:>6}",
        report.awaiting_fulfilment
    ));
    line(format!("  parked             {:>6}", report.parked.len()));
    for (uid, why) in &report.parked {
        line(format!("    {uid}: {why}"));
    }
    line(format!("  in error           {:>6}", report.errors.len()));
    for (uid, step, cause, fix) in &report.errors {
        line(format!("    {uid} at {step}: {cause} Fix: {fix}"));
    }
    let accounted = report.accounted();
    line(format!(
        "  accounted for      {accounted:>6} of {} {}",
        report.generated,
        if accounted == report.generated {
            "✓"
        } else {
            "✗"
        }
    ));
    line(String::new());
    line("Totals of synced invoices: billing vs NetSuite".into());
    for t in &report.totals {
        line(totals_line(t));
    }
    let cb = &report.chargebee;
    if cb.generated > 0 {
        line(String::new());
        line(format!(
            "Chargebee tenant `{}`: {} invoices, {} webhooks delivered",
            demo_chargebee::TENANT,
            cb.generated,
            cb.webhooks_delivered
        ));
        line(format!("  synced             {:>6}", cb.synced));
        for (reason, n) in &cb.skipped {
            line(format!("  skipped {n:>4}  {reason}"));
        }
        for (uid, why) in &cb.parked {
            line(format!("  parked  {uid}: {why}"));
        }
        for (uid, step, cause, fix) in &cb.errors {
            line(format!("  error   {uid} at {step}: {cause} Fix: {fix}"));
        }
        line(format!(
            "  accounted for      {:>6} of {} {}",
            cb.accounted(),
            cb.generated,
            if cb.accounted() == cb.generated {
                "✓"
            } else {
                "✗"
            }
        ));
        for t in &cb.totals {
            line(totals_line(t));
        }
    }
    line(String::new());
    for rb in &report.read_back {
        line(format!(
            "Read-back of NetSuite's figures, tenant `{}`: {} invoices compared with billing, {}",
            rb.tenant,
            rb.compared,
            if rb.differ.is_empty() {
                "all equal ✓".to_owned()
            } else {
                format!("{} differ ✗ (see the error log)", rb.differ.len())
            }
        ));
    }
    line(if report.second_pass_new_records == 0 {
        "Second pass over every billing event: nothing new created ✓".into()
    } else {
        format!(
            "Second pass created {} new records ✗",
            report.second_pass_new_records
        )
    });
    out
}
