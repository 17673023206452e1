//! The use cases the Lambda functions and the local mode call: webhook intake, the sweep, the
//! worker and retry. Each takes its ports through [`Services`]; none knows where it runs.

pub mod backfill;
pub mod intake;
pub mod local;
pub mod pause;
pub mod preflight;
pub mod preview;
pub mod readback;
pub mod reconcile;
pub mod retry;
pub mod sweep;
pub mod worker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::billing::source::BillingSource;
use crate::netsuite::{AccountId, Governor, GovernorConfig, NetSuiteClient, SlotStore};
use crate::queue::{Inbox, Queue};
use crate::secrets::{SecretError, SecretSource};
use crate::settings::TenantSettings;
use crate::store::Store;

/// The ports every use case runs on.
#[derive(Clone)]
pub struct Services {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn Queue>,
    pub secrets: Arc<dyn SecretSource>,
    /// Clients per tenant, built on first use and kept for the life of the process (a warm
    /// Lambda reuses their connection pools).
    clients: Arc<Mutex<HashMap<String, TenantClients>>>,
    /// Billing clients per tenant, for uses that need no NetSuite client (the sweep).
    billing: Arc<Mutex<HashMap<String, Arc<dyn BillingSource>>>>,
    /// NetSuite concurrency governors, one per NetSuite account.
    governors: Arc<Governors>,
    /// Where the worker takes more messages itself (AWS: the SQS queue); none locally.
    inbox: Option<Arc<dyn Inbox>>,
    settings_ttl: Option<std::time::Duration>,
    settings_cache: Cache<TenantSettings>,
    /// Tenant names found to have no settings, kept like the settings.
    unknown_tenants: Cache<()>,
    /// Tenant names found to have no webhook secret, kept like the settings.
    no_webhook_secret: Cache<()>,
    /// Each tenant's pause as last read, kept like the settings.
    pause_cache: Cache<Option<pause::TenantPause>>,
    /// When this process last noted a tenant's webhook arrival.
    webhook_noted: Cache<()>,
}

/// Values per tenant with the time each was read.
type Cache<T> = Arc<Mutex<HashMap<String, (std::time::Instant, T)>>>;

/// At most this many unknown tenant names are remembered; past it the memory starts over, so
/// made-up names cannot grow it without bound.
const UNKNOWN_TENANTS_KEPT: usize = 10_000;

/// One NetSuite concurrency governor per account in this process: shared through a slot store
/// when there is one (the DynamoDB table on AWS, so every Lambda instance counts), else local.
struct Governors {
    slots: Option<Arc<dyn SlotStore>>,
    /// Worker instances that split each share (the worker's concurrency on AWS).
    instances: usize,
    by_account: Mutex<HashMap<String, Governor>>,
}

impl Governors {
    fn new(slots: Option<Arc<dyn SlotStore>>, instances: usize) -> Self {
        Governors {
            slots,
            instances: instances.max(1),
            by_account: Mutex::new(HashMap::new()),
        }
    }

    /// The account's governor, made with `share` slots on first use. Tenants on one account
    /// should carry one share: a later tenant with another share gets the first one's governor
    /// (and, across processes, the largest share in use bounds the account).
    fn get(&self, account: &AccountId, share: usize) -> Governor {
        let mut by_account = self
            .by_account
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let governor = by_account
            .entry(account.realm().to_owned())
            .or_insert_with(|| match &self.slots {
                Some(slots) => Governor::shared(
                    GovernorConfig::for_instances(share, self.instances),
                    account.realm(),
                    slots.clone(),
                ),
                None => Governor::local(share),
            });
        if governor.share() != share.max(1) {
            tracing::warn!(
                account = %account,
                share,
                in_use = governor.share(),
                "tenants on one NetSuite account have different netsuite.concurrency; using the first one's"
            );
        }
        governor.clone()
    }
}

/// The outbound clients of one tenant.
#[derive(Clone)]
pub struct TenantClients {
    pub netsuite: NetSuiteClient,
    pub billing: Arc<dyn BillingSource>,
}

/// Why a use case could not finish, with the port's own error kept as the cause.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("unknown tenant {0}")]
    UnknownTenant(String),
    /// The request itself cannot be done as given (a malformed invocation event).
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Queue(#[from] crate::queue::QueueError),
    /// The billing source failed to answer or refused.
    #[error("billing: {0}")]
    Billing(#[from] crate::billing::source::SourceError),
    /// NetSuite failed to answer or refused.
    #[error("NetSuite: {0}")]
    NetSuite(#[from] crate::netsuite::NetSuiteError),
}

impl ServiceError {
    /// Whether the same call may succeed later with nobody changing anything (an outage, a
    /// throttle, a lost answer); otherwise a person must act first (a missing tenant or
    /// secret, a refused credential, a corrupt record).
    pub fn is_retryable(&self) -> bool {
        use crate::store::StoreError;
        match self {
            ServiceError::UnknownTenant(_) | ServiceError::BadRequest(_) => false,
            ServiceError::Secret(e) => matches!(e, SecretError::Unavailable(_)),
            ServiceError::Store(e) => !matches!(e, StoreError::Corrupt { .. }),
            ServiceError::Queue(_) => true,
            ServiceError::Billing(e) => e.retryable,
            ServiceError::NetSuite(e) => e.is_retryable(),
        }
    }

    /// The error's kind at the Lambda edge: `Retryable` or `NonRetryable`.
    pub fn error_type(&self) -> &'static str {
        if self.is_retryable() {
            "Retryable"
        } else {
            "NonRetryable"
        }
    }
}

/// A failed invocation as the Lambda runtime reports it: `errorType` says whether invoking
/// again may help, so a caller (a person, a Step Functions retry rule, an alarm) can tell an
/// outage from a problem someone must fix; the message keeps the whole cause.
#[cfg(feature = "lambda")]
impl From<ServiceError> for lambda_runtime::Diagnostic {
    fn from(e: ServiceError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.error_type().to_owned(),
            error_message: e.to_string(),
        }
    }
}

impl Services {
    pub fn new(
        store: Arc<dyn Store>,
        queue: Arc<dyn Queue>,
        secrets: Arc<dyn SecretSource>,
    ) -> Self {
        Services {
            store,
            queue,
            secrets,
            clients: Arc::new(Mutex::new(HashMap::new())),
            billing: Arc::new(Mutex::new(HashMap::new())),
            governors: Arc::new(Governors::new(None, 1)),
            inbox: None,
            settings_ttl: None,
            settings_cache: Arc::new(Mutex::new(HashMap::new())),
            unknown_tenants: Arc::new(Mutex::new(HashMap::new())),
            no_webhook_secret: Arc::new(Mutex::new(HashMap::new())),
            pause_cache: Arc::new(Mutex::new(HashMap::new())),
            webhook_noted: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Shares NetSuite concurrency slots with every process using `slots` (on AWS, the
    /// DynamoDB table: see [`crate::aws::governor`]) instead of bounding this process alone.
    pub fn with_slot_store(mut self, slots: Arc<dyn SlotStore>) -> Self {
        self.governors = Arc::new(Governors::new(Some(slots), self.governors.instances));
        self
    }

    /// Splits each account's share between `instances` worker processes: each holds at most
    /// `ceil(share / instances)` shared slots, so every instance the queue feeds can work.
    pub fn with_worker_instances(mut self, instances: usize) -> Self {
        self.governors = Arc::new(Governors::new(self.governors.slots.clone(), instances));
        self
    }

    /// Lets the worker take more messages from the queue itself while it has NetSuite slots
    /// to fill (see [`worker::drain_batch`]).
    pub fn with_inbox(mut self, inbox: Arc<dyn Inbox>) -> Self {
        self.inbox = Some(inbox);
        self
    }

    pub fn inbox(&self) -> Option<&Arc<dyn Inbox>> {
        self.inbox.as_ref()
    }

    /// How many slots this process may hold on any account it has talked to so far.
    pub fn held_slots_cap(&self) -> usize {
        self.governors
            .by_account
            .lock()
            .map(|m| m.values().map(|g| g.config().max_held).sum())
            .unwrap_or_default()
    }

    /// The concurrency governor of a NetSuite account in this process.
    pub fn governor(&self, account: &AccountId, share: usize) -> Governor {
        self.governors.get(account, share)
    }

    /// Waits until every NetSuite concurrency slot given back has reached the slot store. A
    /// Lambda function calls it before returning, since a frozen instance runs nothing.
    pub async fn settle_governors(&self) {
        let governors: Vec<Governor> = self
            .governors
            .by_account
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        for governor in governors {
            governor.settle().await;
        }
    }

    /// The tenant's settings, or `UnknownTenant`.
    pub async fn settings(&self, tenant: &str) -> Result<TenantSettings, ServiceError> {
        if let Some(ttl) = self.settings_ttl {
            let cached = self.settings_cache.lock().ok().and_then(|m| {
                m.get(tenant)
                    .filter(|(at, _)| at.elapsed() < ttl)
                    .map(|(_, s)| s.clone())
            });
            if let Some(settings) = cached {
                return Ok(settings);
            }
        }
        if self.known_absent(&self.unknown_tenants, tenant) {
            return Err(ServiceError::UnknownTenant(tenant.to_owned()));
        }
        let Some(settings) = self.store.settings(tenant).await? else {
            self.remember_absent(&self.unknown_tenants, tenant);
            return Err(ServiceError::UnknownTenant(tenant.to_owned()));
        };
        if self.settings_ttl.is_some() {
            if let Ok(mut m) = self.settings_cache.lock() {
                m.insert(
                    tenant.to_owned(),
                    (std::time::Instant::now(), settings.clone()),
                );
            }
        }
        Ok(settings)
    }

    /// What verifies the tenant's webhooks (see [`SecretSource::webhook_secret`]); a tenant
    /// found to have none is remembered like settings, so requests naming made-up tenants cost
    /// no Secrets Manager read each.
    pub async fn webhook_secret(
        &self,
        tenant: &str,
    ) -> Result<crate::secrets::WebhookSecret, ServiceError> {
        if self.known_absent(&self.no_webhook_secret, tenant) {
            return Err(SecretError::NotFound(tenant.to_owned()).into());
        }
        match self.secrets.webhook_secret(tenant).await {
            Err(SecretError::NotFound(t)) => {
                self.remember_absent(&self.no_webhook_secret, tenant);
                Err(SecretError::NotFound(t).into())
            }
            other => Ok(other?),
        }
    }

    /// Whether `tenant` was found absent from `cache` within the settings' time to live.
    fn known_absent(&self, cache: &Cache<()>, tenant: &str) -> bool {
        let Some(ttl) = self.settings_ttl else {
            return false;
        };
        cache
            .lock()
            .ok()
            .and_then(|m| m.get(tenant).map(|(at, _)| at.elapsed() < ttl))
            .unwrap_or(false)
    }

    /// Remembers `tenant` as absent (only where settings are kept); past
    /// [`UNKNOWN_TENANTS_KEPT`] names the memory starts over, so made-up names cannot grow it
    /// without bound.
    fn remember_absent(&self, cache: &Cache<()>, tenant: &str) {
        if self.settings_ttl.is_none() {
            return;
        }
        if let Ok(mut m) = cache.lock() {
            if m.len() >= UNKNOWN_TENANTS_KEPT {
                m.clear();
            }
            m.insert(tenant.to_owned(), (std::time::Instant::now(), ()));
        }
    }

    /// Keeps each tenant's settings for `ttl` after reading them, instead of reading them for
    /// every message: a change reaches a running worker within `ttl`.
    pub fn with_settings_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.settings_ttl = Some(ttl);
        self
    }

    /// The tenant's billing client, built once from its secret.
    pub async fn billing(
        &self,
        settings: &TenantSettings,
    ) -> Result<Arc<dyn BillingSource>, ServiceError> {
        if let Some(c) = self.cached_billing(&settings.tenant) {
            return Ok(c);
        }
        let secret = self.secrets.tenant_secret(&settings.tenant).await?;
        self.billing_from(settings, &secret)
    }

    fn cached_billing(&self, tenant: &str) -> Option<Arc<dyn BillingSource>> {
        self.billing
            .lock()
            .ok()
            .and_then(|m| m.get(tenant).cloned())
    }

    /// The cached billing client, or one built from `secret` (already read by the caller).
    fn billing_from(
        &self,
        settings: &TenantSettings,
        secret: &crate::secrets::TenantSecret,
    ) -> Result<Arc<dyn BillingSource>, ServiceError> {
        if let Some(c) = self.cached_billing(&settings.tenant) {
            return Ok(c);
        }
        let built = crate::billing::connect(settings.source, &settings.site, &secret.billing)?;
        if let Ok(mut m) = self.billing.lock() {
            m.insert(settings.tenant.clone(), built.clone());
        }
        Ok(built)
    }

    /// Whether a webhook's arrival should be written now: at most once per `every` per tenant
    /// and process, so a busy site costs the table no write per delivery.
    pub fn webhook_note_due(&self, tenant: &str, every: std::time::Duration) -> bool {
        let Ok(mut m) = self.webhook_noted.lock() else {
            return true;
        };
        let now = std::time::Instant::now();
        match m.get(tenant) {
            Some((at, ())) if now.duration_since(*at) < every => false,
            _ => {
                m.insert(tenant.to_owned(), (now, ()));
                true
            }
        }
    }

    /// Drops the tenant's cached clients: the next use reads its secret again (after a
    /// refused login, the secret may have been corrected meanwhile).
    pub fn forget_clients(&self, tenant: &str) {
        if let Ok(mut m) = self.clients.lock() {
            m.remove(tenant);
        }
        if let Ok(mut m) = self.billing.lock() {
            m.remove(tenant);
        }
    }

    /// The flows of `uids` that exist, read together where the store can ([`FlowStore::read_many`])
    /// and one by one for what it left out.
    ///
    /// [`FlowStore::read_many`]: crate::store::FlowStore::read_many
    pub async fn flows(
        &self,
        tenant: &str,
        uids: &[String],
    ) -> Result<
        HashMap<String, crate::flow::state::Versioned<crate::flow::state::FlowState>>,
        ServiceError,
    > {
        let mut many = self.store.read_many(tenant, uids, &[]).await?.flows;
        let mut out = HashMap::with_capacity(uids.len());
        for uid in uids {
            let flow = match many.remove(uid) {
                Some(f) => f,
                None => self.store.flow(tenant, uid).await?,
            };
            if let Some(f) = flow {
                out.insert(uid.clone(), f);
            }
        }
        Ok(out)
    }

    /// The tenant's NetSuite and billing clients, built once from its secret.
    pub async fn clients(&self, settings: &TenantSettings) -> Result<TenantClients, ServiceError> {
        if let Some(c) = self
            .clients
            .lock()
            .ok()
            .and_then(|m| m.get(&settings.tenant).cloned())
        {
            return Ok(c);
        }
        let secret = self.secrets.tenant_secret(&settings.tenant).await?;
        let built = TenantClients {
            netsuite: netsuite_client(settings, &secret, &self.governors)?,
            // From the secret just read: a billing client not built yet costs no second read.
            billing: self.billing_from(settings, &secret)?,
        };
        // Messages starting together may each have built one: all use the first, so they
        // share one connection pool and one memory of a refused login.
        match self.clients.lock() {
            Ok(mut m) => Ok(m.entry(settings.tenant.clone()).or_insert(built).clone()),
            Err(_) => Ok(built),
        }
    }
}

/// The tenant's NetSuite client, bounded by its account's governor, sized by the tenant's
/// `netsuite.concurrency`: shared across processes when `governors` has a slot store (AWS),
/// local otherwise.
fn netsuite_client(
    settings: &TenantSettings,
    secret: &crate::secrets::TenantSecret,
    governors: &Governors,
) -> Result<NetSuiteClient, ServiceError> {
    let ns = netsuite_config(settings, secret)?;
    let governor = governors.get(&ns.account_id, ns.concurrency);
    Ok(NetSuiteClient::with_governor(ns, governor)?)
}

/// The tenant's NetSuite configuration: its secret's, sized by its settings.
pub(crate) fn netsuite_config(
    settings: &TenantSettings,
    secret: &crate::secrets::TenantSecret,
) -> Result<crate::netsuite::NetSuiteConfig, ServiceError> {
    let mut ns = secret.netsuite_config()?;
    ns.concurrency = settings.netsuite_concurrency;
    Ok(ns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::source::SourceError;
    use crate::store::StoreError;

    /// Every log-based alarm of template.yaml matches a message the code logs: renaming one
    /// would silence the alarm without anyone noticing.
    #[test]
    fn every_log_alarm_matches_a_message_the_code_logs() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let template = std::fs::read_to_string(root.join("template.yaml")).unwrap();
        let mut code = String::new();
        let mut dirs = vec![root.join("shared/src"), root.join("functions")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    code.push_str(&std::fs::read_to_string(&path).unwrap());
                }
            }
        }
        let marker = "$.fields.message = \"";
        let mut filters = 0;
        for (i, _) in template.match_indices(marker) {
            let rest = &template[i + marker.len()..];
            let message = &rest[..rest.find('"').unwrap()];
            assert!(
                code.contains(&format!("\"{message}\"")),
                "template.yaml alarms on the log message {message:?}, which no code logs"
            );
            filters += 1;
        }
        assert!(filters >= 3, "{filters} message filters");
    }

    #[test]
    fn a_webhook_arrival_is_noted_at_most_once_per_interval() {
        let (queue, _rx) = crate::queue::local::LocalQueue::new();
        let services = Services::new(
            Arc::new(crate::store::sqlite::SqliteStore::in_memory().unwrap()),
            Arc::new(queue),
            Arc::new(crate::secrets::StaticSecrets::default()),
        );
        let minute = std::time::Duration::from_secs(60);
        assert!(services.webhook_note_due("acme", minute));
        assert!(
            !services.webhook_note_due("acme", minute),
            "noted a moment ago"
        );
        assert!(services.webhook_note_due("globex", minute), "per tenant");
        assert!(services.webhook_note_due("acme", std::time::Duration::ZERO));
    }

    #[test]
    fn only_what_can_pass_by_itself_is_retryable() {
        let billing = |retryable| {
            ServiceError::Billing(SourceError {
                message: "x".into(),
                retryable,
                not_found: false,
                cause: None,
            })
        };
        assert!(billing(true).is_retryable());
        assert!(!billing(false).is_retryable());
        assert!(!ServiceError::UnknownTenant("t".into()).is_retryable());
        assert!(!ServiceError::Secret(SecretError::NotFound("t".into())).is_retryable());
        assert!(ServiceError::Secret(SecretError::Unavailable("down".into())).is_retryable());
        assert!(ServiceError::Store(StoreError::Unavailable("down".into())).is_retryable());
        let corrupt = StoreError::Corrupt {
            what: "flow".into(),
            message: "bad".into(),
        };
        assert!(!ServiceError::Store(corrupt).is_retryable());
        let refused = ServiceError::NetSuite(crate::netsuite::NetSuiteError::Config("x".into()));
        assert!(!refused.is_retryable());
        assert!(billing(true).to_string().starts_with("billing: "));
    }
}
