//! Operator commands on either backend: the embedded store with an in-process queue and
//! worker (local mode), or DynamoDB, SQS and Secrets Manager (`--aws`, standard AWS settings).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use billsync::flow::state::FlowStatus;
use billsync::secrets::{parse_secret, StaticSecrets};
use billsync::service::local::run_outbox;
use billsync::service::retry::{self, ErrorLogEntry, RetryRequest, RetryResponse};
use billsync::service::sweep::{sweep_tenant, SweepReport, LAST_SWEEP_CURSOR};
use billsync::service::{ServiceError, Services};
use billsync::store::sqlite::{Outbox, SqliteStore};

/// Exit codes shared by the operator commands.
/// The exit codes of every `billsync` command, one table (README, "Exit codes").
pub mod exit {
    /// Done; nothing needs a person.
    pub const OK: i32 = 0;
    /// The command ran and found failures: invoices in error, preflight errors, a demo whose
    /// books do not balance.
    pub const FAILED: i32 = 1;
    /// Bad input: a missing or malformed file, flag or setting.
    pub const BAD_INPUT: i32 = 2;
    /// NetSuite refused the login.
    pub const LOGIN_REFUSED: i32 = 3;
    /// NetSuite's role lacks a permission.
    pub const PERMISSION: i32 = 4;
    /// The store, queue, billing or NetSuite could not be reached.
    pub const UNAVAILABLE: i32 = 5;
    /// No settings are stored for the tenant.
    pub const UNKNOWN_TENANT: i32 = 6;
}

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("{0}")]
    BadInput(String),
    #[error("unknown tenant {0}: apply its settings first (billsync tenant apply <file>)")]
    UnknownTenant(String),
    #[error("{0}")]
    Unavailable(String),
    /// The command ran and found what it reports as failure (a preflight with errors).
    #[error("{0}")]
    Failed(String),
    #[error("NetSuite refused the login: {0}")]
    LoginRefused(String),
    #[error("NetSuite's role lacks a permission: {0}")]
    Permission(String),
}

impl OpsError {
    /// What to set or check, for an AWS failure whose cause says it: the region, the
    /// credentials, the table or queue the variables name, or the role's rights.
    pub fn advice(&self) -> Option<&'static str> {
        let OpsError::Unavailable(text) = self else {
            return None;
        };
        let has = |s: &str| text.contains(s);
        Some(if has("Missing Region") {
            "no AWS region: set AWS_REGION (or a region in the AWS_PROFILE's configuration)"
        } else if has("no credentials found") || has("credential provider") {
            "no AWS credentials: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or run where a role provides them"
        } else if has("ResourceNotFoundException") {
            "the table TABLE_NAME names does not exist in this region: set TABLE_NAME to the stack's TableName output and AWS_REGION to the stack's region"
        } else if has("NonExistentQueue") || has("QueueDoesNotExist") {
            "the queue QUEUE_URL names does not exist: set it to the stack's QueueUrl output"
        } else if has("AccessDenied") || has("not authorized") || has("UnrecognizedClient") {
            "these credentials may not make this call: docs/operations.md lists what each command needs"
        } else if has("ExpiredToken") {
            "the AWS session has expired: log in again (aws sso login, or new temporary credentials)"
        } else {
            return None;
        })
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            OpsError::BadInput(_) => exit::BAD_INPUT,
            OpsError::UnknownTenant(_) => exit::UNKNOWN_TENANT,
            OpsError::Unavailable(_) => exit::UNAVAILABLE,
            OpsError::Failed(_) => exit::FAILED,
            OpsError::LoginRefused(_) => exit::LOGIN_REFUSED,
            OpsError::Permission(_) => exit::PERMISSION,
        }
    }
}

impl From<ServiceError> for OpsError {
    fn from(e: ServiceError) -> Self {
        use billsync::netsuite::ErrorKind;
        match e {
            ServiceError::UnknownTenant(t) => OpsError::UnknownTenant(t),
            ServiceError::BadRequest(m) => OpsError::BadInput(m),
            ServiceError::NetSuite(n) if n.kind() == ErrorKind::Login => {
                OpsError::LoginRefused(n.to_string())
            }
            ServiceError::NetSuite(n) if n.kind() == ErrorKind::Permission => {
                OpsError::Permission(n.to_string())
            }
            other => OpsError::Unavailable(other.to_string()),
        }
    }
}

/// Where commands run.
pub struct Backend {
    pub services: Services,
    /// Local mode: the durable queue the in-process worker drains.
    local: Option<Outbox>,
}

/// Reads a local secrets file: `{"<tenant>": {"netsuite": {...}, "billing": {...}}, ...}`.
fn local_secrets(path: Option<&Path>) -> Result<StaticSecrets, OpsError> {
    let Some(path) = path else {
        return Ok(StaticSecrets::default());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| OpsError::BadInput(format!("cannot read {}: {e}", path.display())))?;
    let all: HashMap<String, serde_json::Value> = serde_json::from_str(&text).map_err(|e| {
        OpsError::BadInput(format!(
            "{} is not a JSON object of tenant secrets (line {}, column {})",
            path.display(),
            e.line(),
            e.column()
        ))
    })?;
    let mut secrets = StaticSecrets::default();
    for (tenant, value) in all {
        let secret = parse_secret(&value.to_string())
            .map_err(|e| OpsError::BadInput(format!("{}: tenant {tenant}: {e}", path.display())))?;
        secrets = secrets.with(&tenant, secret);
    }
    Ok(secrets)
}

/// The local ports: the embedded store with its durable queue (the outbox in the same file),
/// secrets from a file.
pub fn local_services(
    state: &Path,
    secrets: Option<&Path>,
) -> Result<(Services, Outbox), OpsError> {
    let (store, outbox) = SqliteStore::open(state)
        .map_err(|e| OpsError::Unavailable(format!("cannot open {}: {e}", state.display())))?
        .with_outbox();
    let services = Services::new(
        Arc::new(store),
        Arc::new(outbox.clone()),
        Arc::new(local_secrets(secrets)?),
    );
    Ok((services, outbox))
}

impl Backend {
    pub async fn open(
        aws: bool,
        state: &Path,
        secrets: Option<&Path>,
    ) -> Result<Backend, OpsError> {
        Self::open_for(aws, state, secrets, false).await
    }

    /// A backend for a command that only reads: on AWS, `QUEUE_URL` may be unset.
    pub async fn open_read_only(
        aws: bool,
        state: &Path,
        secrets: Option<&Path>,
    ) -> Result<Backend, OpsError> {
        Self::open_for(aws, state, secrets, true).await
    }

    async fn open_for(
        aws: bool,
        state: &Path,
        secrets: Option<&Path>,
        read_only: bool,
    ) -> Result<Backend, OpsError> {
        if aws {
            use billsync::aws::{AwsClients, AwsSettings};
            let lookup = |key: &str| std::env::var(key).ok();
            let settings = if read_only {
                AwsSettings::from_lookup_read_only(lookup)
            } else {
                AwsSettings::from_lookup(lookup)
            }
            .map_err(|e| OpsError::BadInput(e.advice()))?;
            let config = billsync::aws::load_sdk_config().await;
            if config.region().is_none() {
                return Err(OpsError::BadInput(
                    "no AWS region: set AWS_REGION (or a region in the AWS_PROFILE's configuration)"
                        .into(),
                ));
            }
            let services = settings.services(AwsClients::new(&config));
            return Ok(Backend {
                services,
                local: None,
            });
        }
        let (services, outbox) = local_services(state, secrets)?;
        Ok(Backend {
            services,
            local: Some(outbox),
        })
    }

    /// Local mode: work what is queued now, with whatever an earlier run left unfinished. On
    /// AWS the worker function does it.
    pub async fn settle(&mut self) -> Option<(usize, usize)> {
        let outbox = self.local.as_ref()?;
        let mut progress = crate::progress::Progress::new("syncing");
        let worked = run_outbox(&self.services, outbox, |done, total| {
            progress.update(done, total)
        })
        .await;
        progress.finish();
        match worked {
            Ok(worked) => Some(worked),
            Err(e) => {
                tracing::error!(error = %e, "the local queue could not be read");
                Some((0, 0))
            }
        }
    }
}

pub async fn sync_now(
    b: &mut Backend,
    tenant: &str,
) -> Result<(SweepReport, Option<(usize, usize)>), OpsError> {
    let report = sweep_tenant(&b.services, tenant).await?;
    let worked = b.settle().await;
    Ok((report, worked))
}

/// What became of work just queued: locally, the messages worked and where their invoices
/// ended (printed; `Failed` when any ended in error); on AWS, where to follow it.
pub async fn report_worked(
    b: &Backend,
    tenant: &str,
    started: chrono::DateTime<chrono::Utc>,
    worked: Option<(usize, usize)>,
) -> Result<(), OpsError> {
    let Some((done, again)) = worked else {
        println!("queued: the worker function syncs them; `billsync status --aws` follows it");
        return Ok(());
    };
    println!("worked {done} messages locally; {again} will be retried by the next sweep");
    let summary = summarize(b, tenant, started).await?;
    println!("invoices: {}", summary.line());
    match summary.errors.len() {
        0 => Ok(()),
        n => Err(OpsError::Failed(format!("{n} invoice(s) ended in error"))),
    }
}

/// Where the invoices a local run touched ended, by their flows' last change.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RunSummary {
    pub synced: usize,
    /// Skipped, by reason.
    pub skipped: std::collections::BTreeMap<String, usize>,
    pub parked: usize,
    pub awaiting_fulfilment: usize,
    pub held: usize,
    pub pending: usize,
    /// Invoices in error that are retried by themselves (NetSuite or billing unavailable).
    pub retrying: usize,
    /// Invoices that ended in the error log for a person to fix.
    pub errors: Vec<String>,
}

impl RunSummary {
    /// One line: "12 synced, 6 skipped (zero dollar 4, before the start date 2), 2 awaiting
    /// fulfilment, 1 in error".
    pub fn line(&self) -> String {
        let mut parts = vec![format!("{} synced", self.synced)];
        let skipped: usize = self.skipped.values().sum();
        if skipped > 0 {
            let reasons: Vec<String> = self
                .skipped
                .iter()
                .map(|(r, n)| format!("{r} {n}"))
                .collect();
            parts.push(format!("{skipped} skipped ({})", reasons.join(", ")));
        }
        for (n, what) in [
            (self.awaiting_fulfilment, "awaiting fulfilment"),
            (self.parked, "parked"),
            (self.held, "held (tenant paused)"),
            (self.pending, "pending"),
            (
                self.retrying,
                "to be retried (NetSuite or billing unavailable)",
            ),
            (self.errors.len(), "in error (see `billsync errors`)"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        parts.join(", ")
    }
}

/// The flows of `tenant` changed at or after `since`, counted by where they ended.
pub async fn summarize(
    b: &Backend,
    tenant: &str,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<RunSummary, OpsError> {
    let mut summary = RunSummary::default();
    for status in FlowStatus::ALL {
        let flows = b
            .services
            .store
            .flows_with_status(tenant, status, 100_000)
            .await
            .map_err(|e| OpsError::Unavailable(e.to_string()))?;
        for f in flows.into_iter().filter(|f| f.value.updated_at >= since) {
            let f = f.value;
            match status {
                FlowStatus::Synced => summary.synced += 1,
                FlowStatus::Skipped => {
                    *summary
                        .skipped
                        .entry(f.reason.unwrap_or_else(|| "no reason".into()))
                        .or_default() += 1
                }
                FlowStatus::Parked => summary.parked += 1,
                FlowStatus::AwaitingFulfilment => summary.awaiting_fulfilment += 1,
                FlowStatus::Held => summary.held += 1,
                FlowStatus::Pending => summary.pending += 1,
                FlowStatus::Error if f.last_error.as_ref().is_some_and(|e| e.retryable) => {
                    summary.retrying += 1
                }
                FlowStatus::Error => summary.errors.push(f.invoice_uid),
            }
        }
    }
    Ok(summary)
}

pub async fn errors(b: &Backend, tenant: &str) -> Result<Vec<ErrorLogEntry>, OpsError> {
    Ok(retry::error_log(&b.services, tenant).await?)
}

pub async fn retry(
    b: &mut Backend,
    tenant: &str,
    invoices: Vec<String>,
    all_failed: bool,
) -> Result<(RetryResponse, Option<(usize, usize)>), OpsError> {
    if invoices.is_empty() && !all_failed {
        return Err(OpsError::BadInput(
            "name invoices with --invoice or use --all-failed".into(),
        ));
    }
    let req = RetryRequest {
        tenant: tenant.to_owned(),
        invoices,
        all_failed,
        list: false,
    };
    let response = retry::handle(&b.services, &req).await?;
    let worked = b.settle().await;
    Ok((response, worked))
}

/// Counts per flow state, the event cursor, the last sweep and webhook, what waits longest
/// and whether the tenant is paused.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    pub tenant: String,
    pub source: String,
    pub counts: std::collections::BTreeMap<&'static str, u64>,
    pub cursor: Option<String>,
    pub last_sweep: Option<String>,
    pub last_webhook: Option<String>,
    /// The invoice waiting longest (pending, awaiting fulfilment, parked or held), and since
    /// when its flow last moved.
    pub oldest_waiting: Option<(String, chrono::DateTime<chrono::Utc>)>,
    /// The tenant's pause, when NetSuite refused its login or a permission.
    pub pause: Option<billsync::service::pause::TenantPause>,
    /// The work queue's backlog (every tenant's: the queue is shared).
    pub queue: Option<billsync::queue::QueueDepth>,
    /// How the last sweep ended (a failed one included).
    pub last_sweep_result: Option<billsync::service::sweep::SweepResult>,
    /// Lag from queue to synced of the invoices first synced in the last 24 hours.
    pub lag: Option<Lag>,
}

/// Lag percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Lag {
    pub invoices: usize,
    pub p50_ms: u64,
    pub p90_ms: u64,
    pub p99_ms: u64,
    pub max_ms: u64,
}

impl Lag {
    /// Nearest-rank percentiles of `samples`; `None` for none.
    pub fn of(mut samples: Vec<u64>) -> Option<Lag> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let rank = |p: usize| samples[(samples.len() * p).div_ceil(100).max(1) - 1];
        Some(Lag {
            invoices: samples.len(),
            p50_ms: rank(50),
            p90_ms: rank(90),
            p99_ms: rank(99),
            max_ms: *samples.last().expect("not empty"),
        })
    }
}

fn seconds(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

impl Status {
    /// The status as text, with colours when `colour`.
    pub fn render(&self, colour: bool) -> String {
        use crate::progress::{paint, Colour};
        let mut out = format!("tenant {} ({} source)\n", self.tenant, self.source);
        for (status, n) in &self.counts {
            out.push_str(&format!("  {status:<22} {n:>8}\n"));
        }
        let or = |v: &Option<String>, none: &str| v.clone().unwrap_or_else(|| none.to_owned());
        out.push_str(&format!(
            "  billing event cursor   {}\n",
            or(&self.cursor, "(none yet)")
        ));
        out.push_str(&format!(
            "  last sweep             {}\n",
            or(&self.last_sweep, "(never)")
        ));
        if let Some(r) = &self.last_sweep_result {
            let how = match &r.error {
                None => format!(
                    "ok: {} events read, {} invoices queued",
                    r.events_read, r.invoices_queued
                ),
                Some(e) => format!("{}: {e}", paint("FAILED", Colour::Red, colour)),
            };
            out.push_str(&format!(
                "  last sweep result      {} {how}\n",
                r.at.format("%Y-%m-%d %H:%M UTC")
            ));
        }
        out.push_str(&format!(
            "  last webhook           {}\n",
            or(&self.last_webhook, "(none yet)")
        ));
        if let Some(l) = &self.lag {
            out.push_str(&format!(
                "  lag, last 24 h         p50 {}, p90 {}, p99 {}, max {} ({} invoices, queued to synced)\n",
                seconds(l.p50_ms),
                seconds(l.p90_ms),
                seconds(l.p99_ms),
                seconds(l.max_ms),
                l.invoices
            ));
        }
        if let Some((uid, since)) = &self.oldest_waiting {
            out.push_str(&format!(
                "  oldest waiting         {uid} since {}\n",
                since.format("%Y-%m-%d %H:%M UTC")
            ));
        }
        if let Some(q) = &self.queue {
            out.push_str(&format!(
                "  queue (all tenants)    {} waiting, {} in progress{}\n",
                q.waiting,
                q.in_progress,
                q.dead_letters
                    .map(|d| format!(", {d} dead letters"))
                    .unwrap_or_default()
            ));
        }
        match &self.pause {
            None => out.push_str(&format!(
                "  syncing                {}\n",
                paint("active", Colour::Green, colour)
            )),
            Some(p) => {
                out.push_str(&format!(
                    "  syncing                {} since {} at step {}: {}\n",
                    paint("PAUSED", Colour::Red, colour),
                    p.since.format("%Y-%m-%d %H:%M UTC"),
                    p.error.step,
                    p.error.cause
                ));
                out.push_str(&format!("                         fix: {}\n", p.error.fix));
                out.push_str(&format!(
                    "                         next probe {} ({} tried); `billsync tenant check` or `tenant resume` resumes it\n",
                    p.next_probe.format("%Y-%m-%d %H:%M UTC"),
                    p.probes
                ));
            }
        }
        out
    }
}

pub async fn status(b: &Backend, tenant: &str) -> Result<Status, OpsError> {
    let settings = b.services.settings(tenant).await?;
    let store = &b.services.store;
    let unavailable = |e: billsync::store::StoreError| OpsError::Unavailable(e.to_string());
    let mut oldest_waiting: Option<(String, chrono::DateTime<chrono::Utc>)> = None;
    for waiting in [
        FlowStatus::Pending,
        FlowStatus::AwaitingFulfilment,
        FlowStatus::Parked,
        FlowStatus::Held,
    ] {
        for f in store
            .flows_with_status(tenant, waiting, 100_000)
            .await
            .map_err(unavailable)?
        {
            if oldest_waiting
                .as_ref()
                .is_none_or(|(_, at)| f.value.updated_at < *at)
            {
                oldest_waiting = Some((f.value.invoice_uid, f.value.updated_at));
            }
        }
    }
    let day_ago = chrono::Utc::now() - chrono::Duration::hours(24);
    let lags: Vec<u64> = store
        .flows_with_status(tenant, FlowStatus::Synced, 100_000)
        .await
        .map_err(unavailable)?
        .into_iter()
        .filter(|f| f.value.updated_at >= day_ago)
        .filter_map(|f| f.value.lag_ms)
        .collect();
    let last_sweep_result = store
        .cursor(tenant, billsync::service::sweep::LAST_SWEEP_RESULT_CURSOR)
        .await
        .map_err(unavailable)?
        .and_then(|text| serde_json::from_str(&text).ok());
    Ok(Status {
        tenant: tenant.to_owned(),
        source: settings.source.as_str().to_owned(),
        last_sweep_result,
        lag: Lag::of(lags),
        counts: store
            .flow_counts(tenant)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(|(s, n)| (s.as_str(), n))
            .collect(),
        cursor: store
            .cursor(tenant, settings.source.events_cursor())
            .await
            .map_err(unavailable)?,
        last_sweep: store
            .cursor(tenant, LAST_SWEEP_CURSOR)
            .await
            .map_err(unavailable)?,
        last_webhook: store.last_webhook(tenant).await.map_err(unavailable)?,
        oldest_waiting,
        pause: b.services.pause(tenant).await?,
        queue: b
            .services
            .queue
            .depth()
            .await
            .map_err(|e| OpsError::Unavailable(e.to_string()))?,
    })
}

#[cfg(test)]
mod tests {
    use super::Lag;

    #[test]
    fn lag_percentiles_are_nearest_rank() {
        assert_eq!(Lag::of(vec![]), None);
        let l = Lag::of((1..=100).rev().collect()).unwrap();
        assert_eq!(
            (l.invoices, l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms),
            (100, 50, 90, 99, 100)
        );
        let one = Lag::of(vec![7]).unwrap();
        assert_eq!((one.p50_ms, one.p99_ms), (7, 7));
    }
}

/// Which entries of the error log to show.
#[derive(Debug, Default, Clone)]
pub struct ErrorFilter {
    /// Text the cause, fix or detail contains (any case).
    pub cause: Option<String>,
    /// First seen on or after this day.
    pub since: Option<chrono::NaiveDate>,
}

impl ErrorFilter {
    pub fn keeps(&self, e: &ErrorLogEntry) -> bool {
        let text = |t: &str| {
            let t = t.to_lowercase();
            [&e.cause, &e.fix, &e.detail]
                .iter()
                .any(|f| f.to_lowercase().contains(&t))
        };
        self.cause.as_deref().is_none_or(text)
            && self.since.is_none_or(|d| e.since.date_naive() >= d)
    }
}

fn age(since: chrono::DateTime<chrono::Utc>) -> String {
    let d = chrono::Utc::now() - since;
    match (d.num_days(), d.num_hours(), d.num_minutes()) {
        (days, _, _) if days >= 1 => format!("{days} d"),
        (_, hours, _) if hours >= 1 => format!("{hours} h"),
        (_, _, minutes) => format!("{minutes} min"),
    }
}

/// What identifies an entry to a person: the invoice number, customer, amount and date.
fn headline(e: &ErrorLogEntry) -> String {
    if e.tenant_wide {
        return "(whole tenant)".into();
    }
    match &e.invoice_summary {
        Some(s) => format!(
            "{} {} | {} | {} {} | issued {}",
            s.number.as_deref().unwrap_or("(no number)"),
            e.invoice,
            s.customer,
            s.currency,
            s.total,
            s.issued
        ),
        None => e.invoice.clone(),
    }
}

/// The error log for people: one block per entry, lines as long as their text (no column
/// padding, so nothing wraps into a second column on a narrow terminal).
pub fn error_report(entries: &[ErrorLogEntry]) -> String {
    if entries.is_empty() {
        return "no invoices in error\n".into();
    }
    let mut out = String::new();
    for e in entries {
        out.push_str(&format!("{}\n", headline(e)));
        out.push_str(&format!(
            "  {} side, step {}{}, since {} ({} ago{})\n",
            e.side,
            e.step,
            e.code
                .as_deref()
                .map(|c| format!(", code {c}"))
                .unwrap_or_default(),
            e.since.format("%Y-%m-%d %H:%M UTC"),
            age(e.since),
            if e.attempts > 1 {
                format!(", {} attempts", e.attempts)
            } else {
                String::new()
            }
        ));
        out.push_str(&format!("  cause: {}\n  fix: {}\n", e.cause, e.fix));
        if !e.detail.is_empty() {
            let who = if e.side == "netsuite" {
                "NetSuite said"
            } else {
                "detail"
            };
            out.push_str(&format!("  {who}: {}\n", e.detail));
        }
    }
    out.push_str(&format!(
        "{} entr{} in the error log\n",
        entries.len(),
        if entries.len() == 1 { "y" } else { "ies" }
    ));
    out
}

/// The error log grouped by cause: each cause once, with its fix, how many and which.
pub fn error_groups(entries: &[ErrorLogEntry]) -> String {
    if entries.is_empty() {
        return "no invoices in error\n".into();
    }
    let mut groups: std::collections::BTreeMap<(&str, &str), Vec<&ErrorLogEntry>> =
        std::collections::BTreeMap::new();
    for e in entries {
        groups.entry((&e.cause, e.side)).or_default().push(e);
    }
    let mut ordered: Vec<_> = groups.into_iter().collect();
    ordered.sort_by_key(|(_, es)| std::cmp::Reverse(es.len()));
    let mut out = String::new();
    for ((cause, side), es) in ordered {
        out.push_str(&format!("{} x {cause} ({side} side)\n", es.len()));
        // Fixes name the entry's own values; show each distinct one.
        let mut fixes: Vec<&str> = es.iter().map(|e| e.fix.as_str()).collect();
        fixes.sort();
        fixes.dedup();
        for fix in fixes.iter().take(5) {
            out.push_str(&format!("  fix: {fix}\n"));
        }
        if fixes.len() > 5 {
            out.push_str(&format!("  ... and {} more fixes\n", fixes.len() - 5));
        }
        let names: Vec<String> = es.iter().map(|e| headline(e)).collect();
        out.push_str(&format!("  invoices: {}\n", names.join("; ")));
    }
    out
}
