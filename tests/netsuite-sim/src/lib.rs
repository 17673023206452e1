//! A NetSuite SuiteTalk REST web services simulator on loopback, for tests and the local demo.
//!
//! It speaks the real protocol rather than a convenient one: OAuth 1.0a token-based
//! authentication with HMAC-SHA256 and the account id as realm, OAuth 2.0 client credentials
//! (a token endpoint that verifies certificate-signed JWT assertions, then bearer tokens), `204 No Content` with a
//! `Location` header on writes, NetSuite's error documents, a SuiteQL subset, and 429 over the
//! account's concurrency limit. Faults can be injected to exercise a client's error handling.
//!
//! # Request pipeline
//! Every `/services/rest/...` request goes through, in this order:
//! 1. OAuth verification, TBA signature or bearer token (401 `INVALID_LOGIN`; the reason goes
//!    to [`NetSuiteSim::login_audit`]);
//! 2. routing (404 for unknown record types or paths, 405 for unsupported methods);
//! 3. the concurrency gate (429 when `concurrency_limit` requests are already in flight);
//! 4. [`Fault::ServerError`], then [`Fault::MissingPermission`];
//! 5. the operation itself. Writes validate in this order: reference fields of the request body,
//!    mandatory fields (built-in ones and [`Fault::RequiredField`]), record rules (lines, totals,
//!    applications), [`Fault::InactiveCustomer`], [`Fault::InvalidSubsidiary`],
//!    [`Fault::ClosedTaxPeriod`], external-id uniqueness;
//! 6. the configured latency: the answer leaves `latency` after the request passed the gate,
//!    the work of steps 4 and 5 included, and the slot is held until then (timed by a thread
//!    of its own to within tens of microseconds, not tokio's millisecond timer);
//! 7. [`Fault::CommitThenDrop`] on a successful write: the connection closes without a response.
//!
//! `Stats::total_requests` counts every REST request including 401 and 429 answers;
//! `requests_by_operation` counts the requests that got past the concurrency gate.
//! The token endpoint (`/services/rest/auth/oauth2/v1/token`) is counted in
//! `Stats::token_requests` only, and takes no concurrency slot.
//! The `/admin` API is neither authenticated nor counted.

pub mod account;
mod admin;
mod apply;
mod clock;
mod demo;
mod error;
pub mod keys;
mod money;
mod oauth;
mod oauth2;
mod records;
mod render;
mod server;
mod store;
mod suiteql;
mod transform;
mod types;
mod world;

use std::{collections::BTreeMap, fmt, net::SocketAddr, sync::Arc, time::Duration};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use demo::DemoData;
pub use error::SimError;
pub use oauth2::M2mMapping;

use server::Inner;

/// Account and behaviour of one simulated NetSuite account.
#[derive(Clone, PartialEq, Eq)]
pub struct SimConfig {
    /// Account id as NetSuite displays it (e.g. `1234567_SB1`); the OAuth realm must equal it
    /// exactly, upper case included.
    pub account_id: String,
    pub consumer_key: String,
    pub consumer_secret: String,
    pub token_id: String,
    pub token_secret: String,
    /// Requests beyond this many in flight are answered 429.
    pub concurrency_limit: usize,
    /// How long after passing the concurrency gate a REST request is answered, its processing
    /// included; it holds its slot until then.
    pub latency: Duration,
    /// Largest accepted distance between `oauth_timestamp` and the server clock.
    pub max_clock_skew: Duration,
    /// OneWorld accounts require a subsidiary on customers.
    pub one_world: bool,
    /// An integration with the client credentials (M2M) grant and its certificate mapping;
    /// `None`: the token endpoint refuses every request.
    pub m2m: Option<M2mMapping>,
}

impl Default for SimConfig {
    /// Fixed, obviously fake credentials for tests and the demo.
    fn default() -> Self {
        SimConfig {
            account_id: "TSTDRV1234567".into(),
            consumer_key: "sim-consumer-key-not-a-real-key".into(),
            consumer_secret: "sim-consumer-secret-not-a-real-secret".into(),
            token_id: "sim-token-id-not-a-real-token".into(),
            token_secret: "sim-token-secret-not-a-real-secret".into(),
            concurrency_limit: 5,
            latency: Duration::ZERO,
            max_clock_skew: Duration::from_secs(300),
            one_world: true,
            m2m: None,
        }
    }
}

/// Secrets are left out so a config can be logged.
impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("account_id", &self.account_id)
            .field("consumer_key", &"<redacted>")
            .field("consumer_secret", &"<redacted>")
            .field("token_id", &"<redacted>")
            .field("token_secret", &"<redacted>")
            .field("concurrency_limit", &self.concurrency_limit)
            .field("latency", &self.latency)
            .field("max_clock_skew", &self.max_clock_skew)
            .field("one_world", &self.one_world)
            .field(
                "m2m",
                &self.m2m.as_ref().map(|m| (&m.certificate_id, m.token_ttl)),
            )
            .finish()
    }
}

/// Request counters, like NetSuite's Integration Governance page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Keys like `create:customer`, `get:salesOrder`, `upsert:customer`, `patch:invoice`,
    /// `delete:customer`, `transform:salesOrder->invoice`, `list:customer`, `suiteql`.
    pub requests_by_operation: BTreeMap<String, u64>,
    pub total_requests: u64,
    /// Requests to the OAuth 2.0 token endpoint, granted or refused.
    #[serde(default)]
    pub token_requests: u64,
    pub rejected_429: u64,
    pub peak_in_flight: usize,
    pub in_flight: usize,
    /// Time requests spent inside the concurrency limit, summed over requests: divided by the
    /// limit and the elapsed time it is how busy the account's slots were.
    pub slot_busy: std::time::Duration,
}

/// Injected failures. Several can be active at once; they are checked in the order described in
/// the crate documentation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// A form or accounting preference makes `field` mandatory. Empty `record_types` means every
    /// transaction type.
    RequiredField {
        field: String,
        label: String,
        #[serde(default)]
        record_types: Vec<String>,
    },
    /// Transactions dated in `from..=to` fail to post.
    ClosedTaxPeriod { from: NaiveDate, to: NaiveDate },
    /// The customer is made inactive; writes naming it fail.
    InactiveCustomer { id: String },
    /// Writes naming this subsidiary fail.
    InvalidSubsidiary { id: String },
    /// The integration role lacks the permission for this record type.
    MissingPermission { record_type: String },
    /// The next `remaining` REST calls fail with 500.
    ServerError { remaining: u32 },
    /// The next `remaining` successful writes commit, then lose their response.
    CommitThenDrop { remaining: u32 },
    /// After `skip` successful writes, the next one commits and loses its response (once):
    /// aims a lost answer at one particular step of a flow.
    CommitThenDropOnWrite { skip: u32 },
    /// After `skip` write requests, the next write answers 500 without acting (once): stops a
    /// flow between two particular steps.
    ServerErrorOnWrite { skip: u32 },
}

/// Why a request was refused with 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditReason {
    MissingHeader,
    MalformedHeader,
    WrongRealm,
    UnknownConsumer,
    UnknownToken,
    RevokedToken,
    UnsupportedSignatureMethod,
    UnsupportedVersion,
    NonceRejected,
    NonceReused,
    TimestampSkew,
    InvalidSignature,
    /// OAuth 2.0: no integration with this client id and the client credentials grant.
    UnknownClient,
    /// OAuth 2.0: `kid` names no certificate mapped for the integration.
    UnknownCertificate,
    RevokedCertificate,
    ScopeMismatched,
    /// A bearer token that was never issued, or was revoked.
    InvalidToken,
    AccessTokenExpired,
    /// A granted token used by an entity or role that may not log in with it.
    EntityOrRoleDisabled,
}

/// One failed login, as NetSuite's Login Audit Trail would show it. Never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub time: DateTime<Utc>,
    pub reason: AuditReason,
    pub detail: String,
    pub method: String,
    pub path: String,
    pub remote_addr: String,
}

/// Handle to a running simulator. Cloning is cheap; all clones control the same server.
#[derive(Clone)]
pub struct NetSuiteSim {
    inner: Arc<Inner>,
}

impl fmt::Debug for NetSuiteSim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetSuiteSim")
            .field("base_url", &self.inner.base_url)
            .finish()
    }
}

impl NetSuiteSim {
    /// Starts on an ephemeral loopback port.
    pub async fn start(config: SimConfig) -> std::io::Result<NetSuiteSim> {
        Self::start_on(config, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    pub async fn start_on(config: SimConfig, addr: SocketAddr) -> std::io::Result<NetSuiteSim> {
        let inner = server::start(config, addr).await?;
        Ok(NetSuiteSim { inner })
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash. REST lives under `/services/rest/`.
    pub fn base_url(&self) -> String {
        self.inner.base_url.clone()
    }

    pub fn config(&self) -> SimConfig {
        self.inner.world().config.clone()
    }

    /// Every stored record of a type, as full JSON (ids, external ids, sublists as `{"items"}`).
    pub fn records(&self, record_type: &str) -> Vec<Value> {
        self.inner.world().records(record_type)
    }

    /// One stored record by internal id (or `eid:<externalId>`).
    pub fn record(&self, record_type: &str, id: &str) -> Option<Value> {
        self.inner.world().record(record_type, id)
    }

    /// Inserts a record without authentication, mandatory-field checks or faults, and returns
    /// its internal id. A numeric `"id"` in the body is kept. References that do not resolve are
    /// stored as given.
    ///
    /// # Panics
    /// On an unknown record type or a body the simulator cannot store (see [`Self::try_seed`]).
    pub fn seed(&self, record_type: &str, body: Value) -> String {
        match self.try_seed(record_type, body) {
            Ok(id) => id,
            Err(e) => panic!("seeding {record_type} failed: {e}"),
        }
    }

    /// Like [`Self::seed`], reporting problems instead of panicking.
    pub fn try_seed(&self, record_type: &str, body: Value) -> Result<String, SimError> {
        self.inner.world().seed(record_type, body)
    }

    /// Changes a record as a person in the UI would (fields set as given, `lastModifiedDate`
    /// stamped `at`); `key` is an internal id or `eid:<externalId>`.
    pub fn edit_by_hand(
        &self,
        record_type: &str,
        key: &str,
        changes: Value,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), SimError> {
        self.inner
            .world()
            .edit_by_hand(record_type, key, changes, at)
    }

    /// Seeds the reference data of the local demo (see [`DemoData`]).
    pub fn seed_demo(&self) -> DemoData {
        demo::seed(self)
    }

    /// Seeds a company as it is before anyone set it up for billsync: subsidiary, currencies,
    /// accounts, items, departments and terms, but none of billsync's custom fields and no
    /// discount item (`item_discount` is empty).
    pub fn seed_fresh(&self) -> DemoData {
        demo::seed_fresh(self)
    }

    pub fn stats(&self) -> Stats {
        self.inner.world().stats.clone()
    }

    /// Zeroes the counters; requests still in flight stay counted in `in_flight`.
    pub fn reset_stats(&self) {
        self.inner.world().reset_stats();
    }

    pub fn add_fault(&self, fault: Fault) {
        self.inner.world().add_fault(fault);
    }

    /// Removes all faults and reactivates customers that [`Fault::InactiveCustomer`] deactivated.
    pub fn clear_faults(&self) {
        self.inner.world().clear_faults();
    }

    pub fn faults(&self) -> Vec<Fault> {
        self.inner.world().faults.clone()
    }

    /// A warehouse user ships the whole order: creates the item fulfillment and moves the order
    /// to Pending Billing. Returns the fulfillment's internal id.
    pub fn fulfill_sales_order(&self, sales_order_id: &str) -> Result<String, SimError> {
        self.inner.world().fulfill_sales_order(sales_order_id)
    }

    /// Shows a sales order in a status the simulator does not reach by itself (NetSuite's
    /// `D` Partially Fulfilled or `E` Pending Billing/Partially Fulfilled after a warehouse
    /// ships part of it, `C` Cancelled), until a write recomputes it.
    pub fn show_sales_order_status(
        &self,
        sales_order_id: &str,
        letter: &str,
        name: &str,
    ) -> Result<(), SimError> {
        let mut world = self.inner.world();
        let id = world
            .lookup_key(types::RecordType::SalesOrder, sales_order_id)
            .ok_or_else(|| SimError::NotFound {
                record_type: "salesOrder".into(),
                id: sales_order_id.into(),
            })?;
        let order = world
            .store
            .get_mut(types::RecordType::SalesOrder, id)
            .expect("looked up above");
        order.insert(
            "status".into(),
            serde_json::json!({"id": letter, "refName": name}),
        );
        Ok(())
    }

    pub fn set_latency(&self, latency: Duration) {
        self.inner.world().config.latency = latency;
    }

    pub fn set_concurrency_limit(&self, limit: usize) {
        self.inner.world().config.concurrency_limit = limit;
    }

    /// Revokes the access token: every later request is refused with 401.
    pub fn revoke_token(&self) {
        self.inner.world().revoked = true;
    }

    /// Revokes the OAuth 2.0 certificate mapping: its tokens stop working and the token
    /// endpoint refuses new ones (`invalid_grant`).
    pub fn revoke_m2m_mapping(&self) {
        let mut w = self.inner.world();
        w.m2m_revoked = true;
        w.tokens.clear();
    }

    /// The bearer tokens granted and still valid (for tests that look for them in logs).
    pub fn granted_tokens(&self) -> Vec<String> {
        self.inner.world().tokens.granted()
    }

    /// Lets the mapped role log in with its tokens, or not (a role without "Log in using
    /// OAuth 2.0 Access Tokens": tokens are granted, every request with one is refused).
    pub fn set_role_may_log_in(&self, allowed: bool) {
        if let Some(m) = self.inner.world().config.m2m.as_mut() {
            m.role_may_log_in = allowed;
        }
    }

    /// Invalidates every bearer token granted so far, as an early expiry would; the mapping
    /// stays and new tokens are granted.
    pub fn expire_tokens(&self) {
        self.inner.world().tokens.clear();
    }

    /// Restricts the integration role to these permissions (key -> level, 1 view to 4 full);
    /// keys not named are missing. By default the role has every permission.
    pub fn set_role_permissions(&self, levels: BTreeMap<String, u8>) {
        self.inner.world().role.levels = Some(levels);
    }

    /// Changes one permission of a restricted role (0 removes it).
    pub fn set_permission(&self, key: &str, level: u8) {
        let mut w = self.inner.world();
        let levels = w.role.levels.get_or_insert_with(BTreeMap::new);
        if level == 0 {
            levels.remove(key);
        } else {
            levels.insert(key.to_owned(), level);
        }
    }

    /// The accounting periods (monthly, open, 2020 to 2030 unless changed).
    pub fn accounting_periods(&self) -> Vec<account::AccountingPeriod> {
        self.inner.world().periods.clone()
    }

    /// Closes (or reopens) the period that contains `day`; false when none does.
    pub fn close_period(&self, day: NaiveDate, closed: bool) -> bool {
        let mut w = self.inner.world();
        let mut found = false;
        for p in w
            .periods
            .iter_mut()
            .filter(|p| p.start <= day && day <= p.end)
        {
            p.closed = closed;
            found = true;
        }
        found
    }

    /// The account's custom fields.
    pub fn custom_fields(&self) -> Vec<account::CustomField> {
        self.inner.world().custom_fields.clone()
    }

    /// Replaces the account's custom fields.
    pub fn set_custom_fields(&self, fields: Vec<account::CustomField>) {
        self.inner.world().custom_fields = fields;
    }

    /// Deploys the custom fields of an SDF project's `Objects` folder, as `suitecloud
    /// project:deploy` would: fields with the same script id are replaced.
    pub fn deploy_sdf(&self, objects: &std::path::Path) -> Result<usize, String> {
        let fields = account::custom_fields_from_sdf(objects)?;
        let mut w = self.inner.world();
        for f in &fields {
            w.custom_fields
                .retain(|old| !old.script_id.eq_ignore_ascii_case(&f.script_id));
            w.custom_fields.push(f.clone());
        }
        Ok(fields.len())
    }

    pub fn login_audit(&self) -> Vec<AuditEntry> {
        self.inner.world().audit.clone()
    }

    /// Stops accepting connections, lets in-flight requests finish (for up to five seconds) and
    /// waits for the server task. Affects every clone of this handle.
    pub async fn shutdown(self) {
        self.inner.shutdown().await;
    }
}
