//! The NetSuite REST client: record service, transforms and SuiteQL over one shared HTTP
//! connection pool, signed per attempt, bounded in concurrency by a [`Governor`] (local, or
//! shared by every process through a slot store), retried only where safe.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, Stream, StreamExt, TryStreamExt};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use super::auth::authorization_header;
use super::config::{AccountId, Credentials, NetSuiteConfig, RetryPolicy};
use super::error::{ApiError, ErrorKind, NetSuiteError, TransportKind};
use super::governor::Governor;
use super::records::RecordType;

/// Identifies a record in a URL: an internal id, or an external id (`eid:` prefix).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordKey {
    Id(String),
    External(String),
}

impl RecordKey {
    pub fn id(id: impl Into<String>) -> Self {
        RecordKey::Id(id.into())
    }

    pub fn external(external_id: impl Into<String>) -> Self {
        RecordKey::External(external_id.into())
    }

    fn path_segment(&self) -> String {
        match self {
            RecordKey::Id(id) => id.clone(),
            RecordKey::External(eid) => format!("eid:{eid}"),
        }
    }
}

/// Options for reading a record.
#[derive(Clone, Debug, Default)]
pub struct GetOptions {
    /// Return sublists (`item`, `apply`, ...) inline instead of as links.
    pub expand_sub_resources: bool,
    /// Only these fields.
    pub fields: Vec<String>,
}

/// One page of a SuiteQL answer.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SuiteQlPage {
    #[serde(default)]
    pub items: Vec<Map<String, Value>>,
    #[serde(default)]
    pub has_more: bool,
    #[serde(default)]
    pub offset: u64,
    #[serde(default)]
    pub count: u64,
    #[serde(default)]
    pub total_results: u64,
}

/// One page of a record collection (`GET /record/v1/<type>`): ids only.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListPage {
    #[serde(default)]
    pub items: Vec<ListEntry>,
    #[serde(default)]
    pub has_more: bool,
    #[serde(default)]
    pub total_results: u64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ListEntry {
    pub id: String,
}

/// A record a create asked for: its internal id, and whether NetSuite already held it under
/// the body's external id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created {
    pub id: String,
    pub existed: bool,
}

/// The largest SuiteQL page NetSuite serves.
pub const SUITEQL_MAX_PAGE: u64 = 1000;

/// How a request may be repeated when its outcome is unclear.
#[derive(Clone, Debug)]
enum Replay {
    /// Reads, upserts, patches, deletes, SuiteQL: repeating changes nothing.
    Safe,
    /// A create or transform carrying an externalId: before repeating, look the record up.
    ByExternalId {
        record_type: String,
        external_id: String,
    },
    /// A create without an externalId: repeated only when NetSuite certainly did not act.
    Unsafe,
}

struct Call {
    method: Method,
    url: Url,
    body: Option<Vec<u8>>,
    operation: String,
    replay: Replay,
    suiteql: bool,
}

enum Outcome {
    Response(reqwest::Response),
    /// A lost create turned out to have been committed: this is its internal id.
    AlreadyThere(String),
}

struct Inner {
    http: reqwest::Client,
    root: Url,
    account: AccountId,
    credentials: Credentials,
    /// Every attempt holds one of its slots while in flight.
    governor: Governor,
    retry: RetryPolicy,
}

/// A NetSuite REST client. Cheap to clone; clones share the connection pool and the
/// concurrency governor, so one per process is the rule.
#[derive(Clone)]
pub struct NetSuiteClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for NetSuiteClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetSuiteClient")
            .field("account", &self.inner.account)
            .field("root", &self.inner.root.as_str())
            .field("governor", &self.inner.governor)
            .finish_non_exhaustive()
    }
}

impl NetSuiteClient {
    /// Builds the client and its HTTP connection pool (rustls), bounded by a local governor of
    /// `config.concurrency` slots: right when this process is the only one on the account.
    pub fn new(config: NetSuiteConfig) -> Result<Self, NetSuiteError> {
        let governor = Governor::local(config.concurrency);
        Self::with_governor(config, governor)
    }

    /// Builds the client bounded by `governor` instead of a local one: a shared governor keeps
    /// every process together under the account's limit. `config.concurrency` is then unused;
    /// the governor's share is the bound. Clients of one account should share one governor.
    pub fn with_governor(
        config: NetSuiteConfig,
        governor: Governor,
    ) -> Result<Self, NetSuiteError> {
        let http = Self::http_client(&config)?;
        Ok(Self::with_parts(config, http, governor))
    }

    fn http_client(config: &NetSuiteConfig) -> Result<reqwest::Client, NetSuiteError> {
        Self::http_builder(config.connect_timeout, config.request_timeout)
            .build()
            .map_err(|e| NetSuiteError::Config(format!("cannot build the HTTP client: {e}")))
    }

    /// The HTTP client settings NetSuite requests go out with (the benchmark's floor measures
    /// a bare client built the same way).
    pub fn http_builder(
        connect_timeout: Duration,
        request_timeout: Duration,
    ) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .timeout(request_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            // The OAuth signature covers method and URL, so a redirected request could only
            // fail or, for a write, turn into a GET: a 3xx is reported as the answer it is.
            .redirect(reqwest::redirect::Policy::none())
            // Every attempt is this client's own, signed with a new nonce and judged by its
            // error policy; reqwest's retry layer would resend a copy with the old nonce.
            .retry(reqwest::retry::never().max_retries_per_request(0))
            .user_agent(concat!("billsync/", env!("CARGO_PKG_VERSION")))
    }

    /// Uses an existing `reqwest::Client` (to share one pool across clients), with a local
    /// governor of `config.concurrency` slots.
    pub fn with_http_client(config: NetSuiteConfig, http: reqwest::Client) -> Self {
        let governor = Governor::local(config.concurrency);
        Self::with_parts(config, http, governor)
    }

    /// An existing `reqwest::Client` and a governor.
    pub fn with_parts(config: NetSuiteConfig, http: reqwest::Client, governor: Governor) -> Self {
        NetSuiteClient {
            inner: Arc::new(Inner {
                http,
                root: config.root_url(),
                account: config.account_id,
                credentials: config.credentials,
                governor,
                retry: config.retry,
            }),
        }
    }

    /// The governor bounding this client's requests.
    pub fn governor(&self) -> &Governor {
        &self.inner.governor
    }

    pub fn account_id(&self) -> &AccountId {
        &self.inner.account
    }

    /// Creates a record; returns its internal id (from the `Location` of NetSuite's 204).
    ///
    /// A body with an `externalId` is safe to send again: after a lost answer the client first
    /// looks the external id up and returns the record NetSuite already saved, and a create
    /// whose external id NetSuite already holds for this record type returns that record.
    pub async fn create<T: Serialize + ?Sized>(
        &self,
        record_type: RecordType,
        body: &T,
    ) -> Result<String, NetSuiteError> {
        Ok(self.create_or_find(record_type, body).await?.id)
    }

    /// Like [`Self::create`], also telling whether the record is new or was already there
    /// under the body's external id (made by an earlier run, or by another billing record's
    /// flow that shares it, as the invoices of one payment do).
    pub async fn create_or_find<T: Serialize + ?Sized>(
        &self,
        record_type: RecordType,
        body: &T,
    ) -> Result<Created, NetSuiteError> {
        let body = to_json(body)?;
        let replay = replay_for(record_type, &body);
        let url = self.record_url(record_type, None, &[]);
        let call = Call {
            method: Method::POST,
            url,
            body: Some(body),
            operation: format!("create {record_type}"),
            replay,
            suiteql: false,
        };
        self.created(call).await
    }

    /// Reads a record.
    pub async fn get<T: DeserializeOwned>(
        &self,
        record_type: RecordType,
        key: &RecordKey,
    ) -> Result<T, NetSuiteError> {
        self.get_with(record_type, key, &GetOptions::default())
            .await
    }

    /// Reads a record with options (expanded sublists, selected fields).
    pub async fn get_with<T: DeserializeOwned>(
        &self,
        record_type: RecordType,
        key: &RecordKey,
        options: &GetOptions,
    ) -> Result<T, NetSuiteError> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if options.expand_sub_resources {
            query.push(("expandSubResources", "true".into()));
        }
        if !options.fields.is_empty() {
            query.push(("fields", options.fields.join(",")));
        }
        let call = Call {
            method: Method::GET,
            url: self.record_url(record_type, Some(key), &query),
            body: None,
            operation: format!("get {record_type} {}", key.path_segment()),
            replay: Replay::Safe,
            suiteql: false,
        };
        let operation = call.operation.clone();
        let response = self.response(call).await?;
        read_json(response, &operation).await
    }

    /// Reads a record, or `None` when NetSuite has none with that key.
    pub async fn find<T: DeserializeOwned>(
        &self,
        record_type: RecordType,
        key: &RecordKey,
    ) -> Result<Option<T>, NetSuiteError> {
        match self.get(record_type, key).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The internal id of the record of this type with this external id, if any.
    pub async fn find_id_by_external_id(
        &self,
        record_type: RecordType,
        external_id: &str,
    ) -> Result<Option<String>, NetSuiteError> {
        self.lookup_external_id(record_type.as_str(), external_id)
            .await
    }

    /// Creates or updates the record with this external id (`PUT .../eid:<id>`); returns its
    /// internal id. Idempotent by construction.
    pub async fn upsert<T: Serialize + ?Sized>(
        &self,
        record_type: RecordType,
        external_id: &str,
        body: &T,
    ) -> Result<String, NetSuiteError> {
        let key = RecordKey::external(external_id);
        let call = Call {
            method: Method::PUT,
            url: self.record_url(record_type, Some(&key), &[]),
            body: Some(to_json(body)?),
            operation: format!("upsert {record_type} eid:{external_id}"),
            replay: Replay::Safe,
            suiteql: false,
        };
        let operation = call.operation.clone();
        let response = self.response(call).await?;
        match location_id(&response) {
            Some(id) => Ok(id),
            // Not every NetSuite version sends a Location on upsert; the external id finds it.
            None => self
                .lookup_external_id(record_type.as_str(), external_id)
                .await?
                .ok_or_else(|| NetSuiteError::Protocol {
                    operation,
                    message: "upsert succeeded but the record is not found by its external id"
                        .into(),
                }),
        }
    }

    /// Updates the given fields. Sublists named in `replace` (e.g. `["item"]`) are replaced
    /// whole by the lines in the body; other sublists get the body's lines added.
    pub async fn patch<T: Serialize + ?Sized>(
        &self,
        record_type: RecordType,
        key: &RecordKey,
        body: &T,
        replace: &[&str],
    ) -> Result<(), NetSuiteError> {
        let query: Vec<(&str, String)> = if replace.is_empty() {
            Vec::new()
        } else {
            vec![("replace", replace.join(","))]
        };
        let call = Call {
            method: Method::PATCH,
            url: self.record_url(record_type, Some(key), &query),
            body: Some(to_json(body)?),
            operation: format!("update {record_type} {}", key.path_segment()),
            replay: Replay::Safe,
            suiteql: false,
        };
        self.response(call).await.map(drop)
    }

    /// Deletes a record. Deleting one that is already gone is an error (`NotFound`).
    pub async fn delete(
        &self,
        record_type: RecordType,
        key: &RecordKey,
    ) -> Result<(), NetSuiteError> {
        let call = Call {
            method: Method::DELETE,
            url: self.record_url(record_type, Some(key), &[]),
            body: None,
            operation: format!("delete {record_type} {}", key.path_segment()),
            replay: Replay::Safe,
            suiteql: false,
        };
        self.response(call).await.map(drop)
    }

    /// Creates a `target` record from a `source` record (e.g. sales order -> invoice), with
    /// `body` as the target's extra or overriding fields. Returns the new record's id.
    /// `replace` names sublists whose copied lines the body's lines replace.
    pub async fn transform<T: Serialize + ?Sized>(
        &self,
        source: RecordType,
        source_id: &str,
        target: RecordType,
        body: &T,
        replace: &[&str],
    ) -> Result<String, NetSuiteError> {
        Ok(self
            .transform_or_find(source, source_id, target, body, replace)
            .await?
            .id)
    }

    /// Like [`Self::transform`], also telling whether the target was already there under the
    /// body's external id.
    pub async fn transform_or_find<T: Serialize + ?Sized>(
        &self,
        source: RecordType,
        source_id: &str,
        target: RecordType,
        body: &T,
        replace: &[&str],
    ) -> Result<Created, NetSuiteError> {
        let body = to_json(body)?;
        let replay = replay_for(target, &body);
        let mut url = self.record_url(source, Some(&RecordKey::id(source_id)), &[]);
        url.path_segments_mut()
            .expect("record URLs have a path")
            .push("!transform")
            .push(target.as_str());
        if !replace.is_empty() {
            url.query_pairs_mut()
                .append_pair("replace", &replace.join(","));
        }
        let call = Call {
            method: Method::POST,
            url,
            body: Some(body),
            operation: format!("transform {source} {source_id} to {target}"),
            replay,
            suiteql: false,
        };
        self.created(call).await
    }

    /// One page of record ids (`GET /record/v1/<type>?limit=&offset=`).
    pub async fn list(
        &self,
        record_type: RecordType,
        limit: u64,
        offset: u64,
    ) -> Result<ListPage, NetSuiteError> {
        let query = [("limit", limit.to_string()), ("offset", offset.to_string())];
        let call = Call {
            method: Method::GET,
            url: self.record_url(record_type, None, &query),
            body: None,
            operation: format!("list {record_type}"),
            replay: Replay::Safe,
            suiteql: false,
        };
        let operation = call.operation.clone();
        let response = self.response(call).await?;
        read_json(response, &operation).await
    }

    /// One page of a SuiteQL query. `limit` is capped at NetSuite's 1000.
    pub async fn suiteql_page(
        &self,
        query: &str,
        limit: u64,
        offset: u64,
    ) -> Result<SuiteQlPage, NetSuiteError> {
        let limit = limit.clamp(1, SUITEQL_MAX_PAGE);
        let mut url = self
            .inner
            .root
            .join("services/rest/query/v1/suiteql")
            .expect("static path");
        url.query_pairs_mut()
            .append_pair("limit", &limit.to_string())
            .append_pair("offset", &offset.to_string());
        let call = Call {
            method: Method::POST,
            url,
            body: Some(to_json(&serde_json::json!({ "q": query }))?),
            operation: "SuiteQL query".into(),
            replay: Replay::Safe,
            suiteql: true,
        };
        let response = self.response(call).await?;
        let mut page: SuiteQlPage = read_json(response, "SuiteQL query").await?;
        for row in &mut page.items {
            row.remove("links");
        }
        Ok(page)
    }

    /// All rows of a SuiteQL query, fetched page by page as the stream is read. Rows are
    /// NetSuite's: lower-case column names, values as strings, NULL columns absent. Order
    /// the query by a unique key so pages do not shift under it.
    pub fn suiteql(
        &self,
        query: impl Into<String>,
        page_size: u64,
    ) -> impl Stream<Item = Result<Map<String, Value>, NetSuiteError>> + Send + 'static {
        let client = self.clone();
        let query = query.into();
        let page_size = page_size.clamp(1, SUITEQL_MAX_PAGE);
        stream::try_unfold(Some(0u64), move |offset| {
            let client = client.clone();
            let query = query.clone();
            async move {
                let Some(offset) = offset else {
                    return Ok(None);
                };
                let page = client.suiteql_page(&query, page_size, offset).await?;
                let next = (page.has_more && !page.items.is_empty())
                    .then(|| offset + page.items.len() as u64);
                Ok(Some((stream::iter(page.items.into_iter().map(Ok)), next)))
            }
        })
        .try_flatten()
    }

    /// All rows of a SuiteQL query decoded into `T`.
    pub fn suiteql_as<T: DeserializeOwned + Send + 'static>(
        &self,
        query: impl Into<String>,
        page_size: u64,
    ) -> impl Stream<Item = Result<T, NetSuiteError>> + Send + 'static {
        self.suiteql(query, page_size).map(|row| {
            row.and_then(|row| {
                serde_json::from_value(Value::Object(row)).map_err(|e| NetSuiteError::Protocol {
                    operation: "SuiteQL query".into(),
                    message: format!("row does not have the expected columns: {e}"),
                })
            })
        })
    }

    /// One cheap authenticated call: proves account, credentials, token and role work.
    pub async fn check(&self) -> Result<(), NetSuiteError> {
        self.list(RecordType::Customer, 1, 0).await.map(drop)
    }

    fn record_url(
        &self,
        record_type: RecordType,
        key: Option<&RecordKey>,
        query: &[(&str, String)],
    ) -> Url {
        let mut url = self.inner.root.clone();
        {
            let mut segments = url.path_segments_mut().expect("root URLs have a path");
            segments.pop_if_empty();
            segments.extend(["services", "rest", "record", "v1", record_type.as_str()]);
            if let Some(key) = key {
                segments.push(&key.path_segment());
            }
        }
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        url
    }

    async fn created(&self, call: Call) -> Result<Created, NetSuiteError> {
        let operation = call.operation.clone();
        match self.execute(call).await? {
            Outcome::AlreadyThere(id) => Ok(Created { id, existed: true }),
            Outcome::Response(response) => location_id(&response)
                .map(|id| Created { id, existed: false })
                .ok_or_else(|| NetSuiteError::Protocol {
                    operation,
                    message: "NetSuite did not say where the new record is (no Location header)"
                        .into(),
                }),
        }
    }

    async fn response(&self, call: Call) -> Result<reqwest::Response, NetSuiteError> {
        match self.execute(call).await? {
            Outcome::Response(r) => Ok(r),
            // Only creates and transforms replay by external id.
            Outcome::AlreadyThere(_) => unreachable!("safe calls never look up an external id"),
        }
    }

    /// Sends a call, retrying what is safe to retry with jittered exponential backoff.
    async fn execute(&self, call: Call) -> Result<Outcome, NetSuiteError> {
        let policy = &self.inner.retry;
        let mut attempt = 1u32;
        let mut login_retried = false;
        loop {
            let result = self.attempt(&call, attempt).await;
            let error = match result {
                Ok(response) => return Ok(Outcome::Response(response)),
                Err(e) => e,
            };

            // A taken external id means an earlier attempt (this call's, or a run that died
            // before it could remember the answer) was saved: external ids are deterministic per
            // billing record, so that record is the one this create stands for. NetSuite checks
            // its business rules before the external id, so when that earlier attempt consumed
            // the source (an order billed, an invoice paid) the answer is a refusal of the
            // rules instead, in wordings not all documented: any business-rule refusal of a
            // create with an external id is looked up the same way, at one read.
            if matches!(
                error.kind(),
                ErrorKind::Duplicate
                    | ErrorKind::CannotInitialize
                    | ErrorKind::NotOpen
                    | ErrorKind::Validation
            ) {
                if let Replay::ByExternalId {
                    record_type,
                    external_id,
                } = &call.replay
                {
                    if let Some(id) = self.lookup_external_id(record_type, external_id).await? {
                        return Ok(Outcome::AlreadyThere(id));
                    }
                }
            }

            // NetSuite sometimes answers a burst over its concurrency limit with 401 instead of
            // 429; one fresh-signed repeat tells the two apart.
            let transient_login = error.kind() == ErrorKind::Login && !login_retried;
            // The governor already waited out its store's failures; retrying here would only
            // keep the message from going back to the queue.
            let no_slot = matches!(error, NetSuiteError::Governor { .. });
            if !(error.is_retryable() || transient_login)
                || no_slot
                || attempt >= policy.max_attempts
            {
                return Err(error);
            }
            if transient_login {
                login_retried = true;
            }

            match &call.replay {
                Replay::Safe => {}
                Replay::ByExternalId {
                    record_type,
                    external_id,
                } => {
                    if self.may_have_committed(&error) {
                        if let Some(id) = self.lookup_external_id(record_type, external_id).await? {
                            tracing::info!(
                                operation = %call.operation,
                                internal_id = %id,
                                "answer was lost but NetSuite had saved the record; using it"
                            );
                            return Ok(Outcome::AlreadyThere(id));
                        }
                    }
                }
                Replay::Unsafe => {
                    if self.may_have_committed(&error) {
                        return Err(NetSuiteError::OutcomeUnknown {
                            operation: call.operation.clone(),
                            message: error.to_string(),
                        });
                    }
                }
            }

            let delay = backoff(policy, attempt, &error);
            tracing::warn!(
                operation = %call.operation,
                attempt,
                delay_ms = delay.as_millis() as u64,
                error = %error,
                "NetSuite request failed; trying again"
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// Whether NetSuite may have acted on a request that failed this way. A refusal for
    /// concurrency, a login refusal, a connection never made and a request never sent (no
    /// concurrency slot) are certain no-ops.
    fn may_have_committed(&self, error: &NetSuiteError) -> bool {
        !matches!(error.kind(), ErrorKind::Concurrency | ErrorKind::Login)
            && !matches!(
                error,
                NetSuiteError::Transport {
                    kind: TransportKind::Connect,
                    ..
                } | NetSuiteError::Governor { .. }
            )
    }

    /// Looks a record up by external id, retrying transient failures itself.
    async fn lookup_external_id(
        &self,
        record_type: &str,
        external_id: &str,
    ) -> Result<Option<String>, NetSuiteError> {
        let mut url = self.inner.root.clone();
        url.path_segments_mut()
            .expect("root URLs have a path")
            .pop_if_empty()
            .extend(["services", "rest", "record", "v1", record_type])
            .push(&format!("eid:{external_id}"));
        url.query_pairs_mut().append_pair("fields", "id,externalId");
        let call = Call {
            method: Method::GET,
            url,
            body: None,
            operation: format!("get {record_type} eid:{external_id}"),
            replay: Replay::Safe,
            suiteql: false,
        };
        let policy = &self.inner.retry;
        let mut attempt = 1;
        loop {
            match self.attempt(&call, attempt).await {
                Ok(response) => {
                    let found: IdOnly = read_json(response, &call.operation).await?;
                    return Ok(Some(found.id));
                }
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e)
                    if e.is_retryable()
                        && !matches!(e, NetSuiteError::Governor { .. })
                        && attempt < policy.max_attempts =>
                {
                    tokio::time::sleep(backoff(policy, attempt, &e)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One signed request holding a concurrency slot, reporting to the governor whether
    /// NetSuite refused it for concurrency.
    async fn attempt(&self, call: &Call, attempt: u32) -> Result<reqwest::Response, NetSuiteError> {
        let permit =
            self.inner
                .governor
                .acquire()
                .await
                .map_err(|source| NetSuiteError::Governor {
                    operation: call.operation.clone(),
                    source,
                })?;
        let started = Instant::now();

        let auth = authorization_header(
            &self.inner.credentials,
            self.inner.account.realm(),
            call.method.as_str(),
            &call.url,
        );
        let mut headers = HeaderMap::new();
        let mut auth_value = HeaderValue::from_str(&auth).map_err(|_| {
            NetSuiteError::Config(
                "credentials contain characters not allowed in an HTTP header".into(),
            )
        })?;
        auth_value.set_sensitive(true);
        headers.insert(AUTHORIZATION, auth_value);
        if call.suiteql {
            headers.insert("Prefer", HeaderValue::from_static("transient"));
        }
        let mut request = self
            .inner
            .http
            .request(call.method.clone(), call.url.clone())
            .headers(headers);
        if let Some(body) = &call.body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }

        let result = request.send().await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                let kind = transport_kind(&e);
                tracing::debug!(operation = %call.operation, attempt, elapsed_ms, %kind, "NetSuite request failed in transport");
                return Err(NetSuiteError::Transport {
                    operation: call.operation.clone(),
                    kind,
                    message: error_chain(&e),
                });
            }
        };
        let status = response.status();
        tracing::debug!(operation = %call.operation, attempt, elapsed_ms, status = status.as_u16(), "NetSuite answered");
        if status.is_success() {
            permit.succeeded();
            return Ok(response);
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let body = response.bytes().await.unwrap_or_default();
        let mut api = ApiError::from_body(status.as_u16(), call.operation.clone(), &body);
        api.retry_after = retry_after.map(Duration::from_secs);
        // A refusal for concurrency shrinks the limit. A 401 (sometimes NetSuite's answer to a
        // burst) and a 5xx say nothing either way; any other answer says there was room.
        match api.kind() {
            ErrorKind::Concurrency => permit.refused(api.retry_after),
            ErrorKind::Login | ErrorKind::Server => drop(permit),
            _ => permit.succeeded(),
        }
        Err(NetSuiteError::Api(api))
    }
}

#[derive(Deserialize)]
struct IdOnly {
    id: String,
}

/// The pause before the next attempt; a `Retry-After` counts only for refusals that invite it.
fn backoff(policy: &RetryPolicy, attempt: u32, error: &NetSuiteError) -> Duration {
    let hint = match error.kind() {
        ErrorKind::Concurrency | ErrorKind::Server => error.api().and_then(|a| a.retry_after),
        _ => None,
    };
    policy.delay(attempt, hint)
}

/// The error and its causes on one line ("error sending request: connection refused"),
/// without the URL (it is in the operation already).
fn error_chain(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.dedup();
    let head = if e.is_timeout() {
        "request timed out".to_owned()
    } else if e.is_connect() {
        "connection failed".to_owned()
    } else {
        "request failed".to_owned()
    };
    std::iter::once(head)
        .chain(parts)
        .collect::<Vec<_>>()
        .join(": ")
}

fn transport_kind(e: &reqwest::Error) -> TransportKind {
    if e.is_connect() {
        TransportKind::Connect
    } else if e.is_timeout() {
        TransportKind::Timeout
    } else {
        TransportKind::Interrupted
    }
}

fn replay_for(record_type: RecordType, body: &[u8]) -> Replay {
    #[derive(Deserialize)]
    struct ExternalIdOnly {
        #[serde(rename = "externalId")]
        external_id: Option<String>,
    }
    match serde_json::from_slice::<ExternalIdOnly>(body) {
        Ok(ExternalIdOnly {
            external_id: Some(eid),
        }) if !eid.is_empty() => Replay::ByExternalId {
            record_type: record_type.as_str().to_owned(),
            external_id: eid,
        },
        _ => Replay::Unsafe,
    }
}

fn to_json<T: Serialize + ?Sized>(body: &T) -> Result<Vec<u8>, NetSuiteError> {
    serde_json::to_vec(body)
        .map_err(|e| NetSuiteError::Config(format!("record cannot be written as JSON: {e}")))
}

async fn read_json<T: DeserializeOwned>(
    response: reqwest::Response,
    operation: &str,
) -> Result<T, NetSuiteError> {
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| NetSuiteError::Transport {
            operation: operation.to_owned(),
            kind: TransportKind::Interrupted,
            message: e.without_url().to_string(),
        })?;
    if status == StatusCode::NO_CONTENT || bytes.is_empty() {
        return Err(NetSuiteError::Protocol {
            operation: operation.to_owned(),
            message: format!("expected a JSON body, got {status} with none"),
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| NetSuiteError::Protocol {
        operation: operation.to_owned(),
        message: format!("cannot read the answer: {e}"),
    })
}

/// The internal id at the end of a `Location` header.
fn location_id(response: &reqwest::Response) -> Option<String> {
    let location = response.headers().get(LOCATION)?.to_str().ok()?;
    let id = location.trim_end_matches('/').rsplit('/').next()?;
    (!id.is_empty() && !id.starts_with("eid:")).then(|| id.to_owned())
}
