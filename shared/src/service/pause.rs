//! Tenant pause: NetSuite refusing the login or a permission is the tenant's condition, not
//! an invoice's. The first refusal pauses the tenant: its invoices are held (no error-log
//! entry each, no NetSuite request each), one entry and one alarm say why, and only a probe,
//! spaced out more each time it fails, tries NetSuite again. A probe that gets through, a
//! passing `billsync tenant check` or `billsync tenant resume` resumes the tenant and queues
//! the held invoices again.
//!
//! Why: a wrong token secret used to fail every queued invoice at NetSuite, one failed login
//! each, and NetSuite locks a user out after repeated failed logins.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{ServiceError, Services};
use crate::flow::state::{ErrorEntry, FlowStatus};
use crate::queue::{fresh_dedup_id, Reason, SyncMessage};

/// The per-tenant marker the pause is kept under (next to the event cursors).
pub const PAUSE_CURSOR: &str = "pause";
/// The word a log-based alarm matches: logged once per pause.
pub const PAUSE_ALARM: &str = "TENANT_PAUSED";

/// The first probe comes this long after the pause; each failed probe doubles the wait up to
/// [`MAX_PROBE_INTERVAL`].
const FIRST_PROBE_AFTER: i64 = 120;
const MAX_PROBE_INTERVAL: i64 = 3600;

/// A paused tenant: why, since when, and when NetSuite may be tried again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantPause {
    pub since: DateTime<Utc>,
    /// The refusal that paused the tenant, with its cause and fix.
    pub error: ErrorEntry,
    /// Probes tried since the pause, all refused.
    pub probes: u32,
    pub next_probe: DateTime<Utc>,
}

impl TenantPause {
    fn new(error: ErrorEntry, now: DateTime<Utc>) -> Self {
        TenantPause {
            since: now,
            error,
            probes: 0,
            next_probe: now + Duration::seconds(FIRST_PROBE_AFTER),
        }
    }

    pub fn probe_due(&self, now: DateTime<Utc>) -> bool {
        now >= self.next_probe
    }

    /// A probe is starting: the next one waits twice as long as the last.
    fn probing(&mut self, now: DateTime<Utc>) {
        self.probes += 1;
        let wait = (FIRST_PROBE_AFTER << self.probes.min(6)).min(MAX_PROBE_INTERVAL);
        self.next_probe = now + Duration::seconds(wait);
    }
}

fn read(value: Option<String>) -> Option<TenantPause> {
    value.and_then(|v| serde_json::from_str(&v).ok())
}

impl Services {
    /// The tenant's pause, if it is paused. Cached like the settings (see
    /// [`Services::with_settings_ttl`]); this process's own pauses and resumes show at once.
    pub async fn pause(&self, tenant: &str) -> Result<Option<TenantPause>, ServiceError> {
        if let Some(ttl) = self.settings_ttl {
            let cached = self.pause_cache.lock().ok().and_then(|m| {
                m.get(tenant)
                    .filter(|(at, _)| at.elapsed() < ttl)
                    .map(|(_, p)| p.clone())
            });
            if let Some(pause) = cached {
                return Ok(pause);
            }
        }
        let pause = read(self.store.cursor(tenant, PAUSE_CURSOR).await?);
        self.remember_pause(tenant, pause.clone());
        Ok(pause)
    }

    fn remember_pause(&self, tenant: &str, pause: Option<TenantPause>) {
        if let Ok(mut m) = self.pause_cache.lock() {
            m.insert(tenant.to_owned(), (std::time::Instant::now(), pause));
        }
    }

    async fn write_pause(
        &self,
        tenant: &str,
        pause: Option<TenantPause>,
    ) -> Result<(), ServiceError> {
        let value = serde_json::to_string(&pause).expect("a pause serializes");
        self.store.put_cursor(tenant, PAUSE_CURSOR, &value).await?;
        self.remember_pause(tenant, pause);
        Ok(())
    }

    /// Pauses the tenant for `error` (a refused login or permission). A tenant already paused
    /// stays paused from its first refusal: one entry and one alarm per pause.
    pub async fn pause_tenant(
        &self,
        tenant: &str,
        error: &ErrorEntry,
    ) -> Result<TenantPause, ServiceError> {
        let now = Utc::now();
        if let Some(p) = read(self.store.cursor(tenant, PAUSE_CURSOR).await?) {
            self.remember_pause(tenant, Some(p.clone()));
            return Ok(p);
        }
        let pause = TenantPause::new(error.clone(), now);
        // The cached client is kept: it remembers the refusal and fails the messages already
        // in progress without a login each. A probe reads the secret again.
        self.write_pause(tenant, Some(pause.clone())).await?;
        tracing::error!(
            alarm = PAUSE_ALARM,
            tenant,
            step = %error.step,
            code = ?error.code,
            cause = %error.cause,
            fix = %error.fix,
            "{PAUSE_ALARM}: NetSuite refused the tenant's login or a permission; its syncing is paused until a probe, `billsync tenant check` or `billsync tenant resume` gets through"
        );
        Ok(pause)
    }

    /// Claims the probe when one is due: true for the caller that may try NetSuite now (the
    /// next probe is pushed back first, so other messages of this process keep holding).
    pub async fn claim_probe(&self, tenant: &str) -> Result<bool, ServiceError> {
        let now = Utc::now();
        let Some(mut pause) = read(self.store.cursor(tenant, PAUSE_CURSOR).await?) else {
            return Ok(true);
        };
        if !pause.probe_due(now) {
            self.remember_pause(tenant, Some(pause));
            return Ok(false);
        }
        pause.probing(now);
        self.write_pause(tenant, Some(pause)).await?;
        self.forget_clients(tenant);
        Ok(true)
    }

    /// Resumes a paused tenant and queues its held invoices (held invoices of a tenant not
    /// paused, if any, are queued all the same).
    pub async fn resume_tenant(&self, tenant: &str) -> Result<ResumeReport, ServiceError> {
        let settings = self.settings(tenant).await?;
        let was = read(self.store.cursor(tenant, PAUSE_CURSOR).await?);
        if was.is_some() {
            self.write_pause(tenant, None).await?;
            tracing::info!(tenant, "tenant resumed; held invoices are queued again");
        }
        self.forget_clients(tenant);
        let held = self
            .store
            .flows_with_status(tenant, FlowStatus::Held, 100_000)
            .await?;
        let run = fresh_dedup_id("resume");
        let messages: Vec<SyncMessage> = held
            .iter()
            .map(|f| {
                SyncMessage::invoice(
                    tenant,
                    settings.source,
                    f.value.invoice_uid.clone(),
                    Reason::Retry,
                    run.clone(),
                )
            })
            .collect();
        for chunk in messages.chunks(100) {
            self.queue.send(chunk).await?;
        }
        Ok(ResumeReport {
            tenant: tenant.to_owned(),
            was_paused: was,
            queued: messages.len(),
        })
    }
}

/// What resuming a tenant did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ResumeReport {
    pub tenant: String,
    pub was_paused: Option<TenantPause>,
    pub queued: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> ErrorEntry {
        ErrorEntry {
            step: "customer".into(),
            code: Some("INVALID_LOGIN".into()),
            detail: "Invalid login attempt.".into(),
            cause: "NetSuite refused the login.".into(),
            fix: "Run `billsync tenant check`.".into(),
            retryable: false,
            since: Utc::now(),
        }
    }

    #[test]
    fn probes_are_spaced_out_more_each_time_and_capped() {
        let now = Utc::now();
        let mut p = TenantPause::new(entry(), now);
        assert!(!p.probe_due(now));
        assert!(p.probe_due(now + Duration::seconds(FIRST_PROBE_AFTER)));
        let mut waits = Vec::new();
        for _ in 0..10 {
            p.probing(now);
            waits.push((p.next_probe - now).num_seconds());
        }
        assert_eq!(&waits[..4], &[240, 480, 960, 1920]);
        assert!(waits.iter().all(|w| *w <= MAX_PROBE_INTERVAL));
        assert_eq!(*waits.last().unwrap(), MAX_PROBE_INTERVAL);
    }

    #[test]
    fn the_deployed_alarm_matches_what_a_pause_logs() {
        let template =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml"))
                .unwrap();
        assert!(
            template.contains(&format!("$.fields.alarm = \"{PAUSE_ALARM}\"")),
            "template.yaml's metric filter must match the pause's log field"
        );
    }

    #[test]
    fn a_cleared_or_unreadable_marker_is_no_pause() {
        assert_eq!(read(Some("null".into())), None);
        assert_eq!(read(Some("garbage".into())), None);
        assert_eq!(read(None), None);
        let p = TenantPause::new(entry(), Utc::now());
        assert_eq!(read(Some(serde_json::to_string(&p).unwrap())), Some(p));
    }
}
