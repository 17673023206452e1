//! The NetSuite REST client: record service, transforms and SuiteQL over one shared HTTP
//! connection pool, signed per attempt, bounded in concurrency by a [`Governor`] (local, or
//! shared by every process through a slot store), retried only where safe.

mod bearer;
mod dry_run;
mod transport;

pub use bearer::TokenSource;
pub use dry_run::{Lookup, PlannedRequest, PREVIEW_ID};
pub use transport::Found;

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
use super::config::{AccountId, Auth, AuthMethod, Credentials, NetSuiteConfig, RetryPolicy};
use super::error::{ApiError, ErrorKind, NetSuiteError, TransportKind};
use super::governor::Governor;
use super::records::RecordType;
use transport::*;

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
    /// An `Accept` header other than JSON (the new-record form, the metadata catalog).
    accept: Option<&'static str>,
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
    auth: Authorizer,
    /// Every attempt holds one of its slots while in flight.
    governor: Governor,
    retry: RetryPolicy,
    /// A login refusal confirmed by a repeat, and when: every request fails with it, unsent,
    /// for [`LOGIN_REFUSAL_HOLD`]. NetSuite locks a user out after repeated failed logins,
    /// and a wrong secret would otherwise fail once per queued invoice.
    refused: std::sync::Mutex<Option<(Instant, NetSuiteError)>>,
    /// One request at a time repeats a login refusal to confirm it; the others wait for its
    /// verdict before sending (a wrong secret then costs one failed login per request already
    /// in flight, plus the repeat).
    confirming: Arc<tokio::sync::Mutex<()>>,
    /// A refusal is being confirmed: hold new requests until it is decided.
    suspect: Arc<std::sync::atomic::AtomicBool>,
    /// 429 answers met since the count was last taken (for the NetSuiteThrottled metric).
    throttled: std::sync::atomic::AtomicU64,
    /// A preview's client: writes are kept, not sent.
    dry_run: Option<dry_run::DryRun>,
}

/// How long a confirmed login refusal answers for NetSuite.
pub const LOGIN_REFUSAL_HOLD: Duration = Duration::from_secs(60);

/// How each request proves who sends it.
enum Authorizer {
    /// OAuth 1.0a: every attempt signed afresh with the four TBA values.
    Tba(Credentials),
    /// OAuth 2.0: a bearer token from the token endpoint, shared by every client with the
    /// same credentials.
    Bearer(Arc<TokenSource>),
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

/// The HTTP client settings NetSuite requests go out with; the benchmark's floor measures a
/// bare client built the same way.
pub fn http_builder(
    connect_timeout: Duration,
    request_timeout: Duration,
) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .timeout(request_timeout)
        .pool_idle_timeout(Duration::from_secs(60))
        // The OAuth signature covers method and URL, so a redirected request could only fail
        // or, for a write, turn into a GET: a 3xx is reported as the answer it is.
        .redirect(reqwest::redirect::Policy::none())
        // Every attempt is this client's own, signed with a new nonce and judged by its error
        // policy; reqwest's retry layer would resend a copy with the old nonce.
        .retry(reqwest::retry::never().max_retries_per_request(0))
        .user_agent(concat!("billsync/", env!("CARGO_PKG_VERSION")))
}

impl NetSuiteClient {
    /// The 429 answers this client met since the last call, and resets the count.
    pub fn take_throttled(&self) -> u64 {
        self.inner
            .throttled
            .swap(0, std::sync::atomic::Ordering::Relaxed)
    }

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
        let http = http_builder(config.connect_timeout, config.request_timeout)
            .build()
            .map_err(|e| NetSuiteError::Config(format!("cannot build the HTTP client: {e}")))?;
        let root = config.root_url();
        let auth = match config.auth {
            Auth::Tba(c) => Authorizer::Tba(c),
            Auth::M2m(c) => Authorizer::Bearer(TokenSource::shared(&root, &c, &http)),
        };
        Ok(NetSuiteClient {
            inner: Arc::new(Inner {
                http,
                root,
                account: config.account_id,
                auth,
                governor,
                retry: config.retry,
                refused: std::sync::Mutex::new(None),
                confirming: Arc::new(tokio::sync::Mutex::new(())),
                throttled: std::sync::atomic::AtomicU64::new(0),
                dry_run: None,
                suspect: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            }),
        })
    }

    /// How this client authenticates.
    pub fn auth_method(&self) -> AuthMethod {
        match self.inner.auth {
            Authorizer::Tba(_) => AuthMethod::Tba,
            Authorizer::Bearer(_) => AuthMethod::M2m,
        }
    }

    /// The OAuth 2.0 token source, for a client that authenticates that way.
    pub fn token_source(&self) -> Option<&Arc<TokenSource>> {
        match &self.inner.auth {
            Authorizer::Tba(_) => None,
            Authorizer::Bearer(t) => Some(t),
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
            accept: None,
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
            accept: None,
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

    /// The record with this external id with its `fields` (in the same request), or `None`.
    pub async fn find_by_external_id_with(
        &self,
        record_type: RecordType,
        external_id: &str,
        fields: &[&str],
    ) -> Result<Option<Found>, NetSuiteError> {
        self.lookup_external_id_with(record_type.as_str(), external_id, fields)
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
            accept: None,
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
            accept: None,
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
            accept: None,
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
            accept: None,
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
            accept: None,
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
            accept: None,
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

    /// Asks for the new-record form of a record type (`Accept: ...; type=create-form`):
    /// NetSuite answers it only to a role that may create the record, and saves nothing. The
    /// preflight's proof of a Create permission.
    pub async fn create_form(&self, record_type: RecordType) -> Result<(), NetSuiteError> {
        let call = Call {
            method: Method::POST,
            url: self.record_url(record_type, None, &[]),
            body: Some(b"{}".to_vec()),
            operation: format!("new-record form of {record_type}"),
            replay: Replay::Safe,
            suiteql: false,
            accept: Some("application/vnd.oracle.resource+json; type=create-form"),
        };
        self.response(call).await.map(drop)
    }

    /// A record's metadata (`GET /record/v1/metadata-catalog/<type>`, JSON schema): the fields
    /// this role sees on it, custom fields included where they apply.
    pub async fn metadata(&self, record_type: RecordType) -> Result<Value, NetSuiteError> {
        let mut url = self.inner.root.clone();
        url.path_segments_mut()
            .expect("root URLs have a path")
            .pop_if_empty()
            .extend(["services", "rest", "record", "v1", "metadata-catalog"])
            .push(record_type.as_str());
        let call = Call {
            method: Method::GET,
            url,
            body: None,
            operation: format!("metadata of {record_type}"),
            replay: Replay::Safe,
            suiteql: false,
            accept: Some("application/schema+json"),
        };
        let operation = call.operation.clone();
        let response = self.response(call).await?;
        read_json(response, &operation).await
    }

    /// One cheap authenticated call: proves account, credentials, token and role work.
    pub async fn check(&self) -> Result<(), NetSuiteError> {
        self.list(RecordType::Customer, 1, 0).await.map(drop)
    }
}
