//! The HTTP side: a hyper 1 accept loop with one task per connection, REST routing, the
//! concurrency gate, and the per-connection kill switch that "commit then drop" needs.

use std::{
    collections::HashSet,
    convert::Infallible,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{json, Value};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{watch, Notify},
    task::{JoinHandle, JoinSet},
};

use crate::{
    admin,
    error::{ApiError, ERROR_CONTENT_TYPE, PREFIX},
    oauth::{self, AuthRequest},
    records::{lines, WriteCtx},
    render::{self, COLLECTION_CONTENT_TYPE, SINGLE_CONTENT_TYPE},
    suiteql,
    types::RecordType,
    world::World,
    AuditEntry, AuditReason, SimConfig,
};

pub(crate) type Resp = Response<Full<Bytes>>;

/// How long `shutdown` waits for in-flight requests before cutting connections.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) struct Inner {
    world: Mutex<World>,
    pub(crate) base_url: String,
    shutdown_tx: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Inner {
    /// The state lock. A panic while holding it must not take every later request down too.
    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) async fn shutdown(&self) {
        let _ = self.shutdown_tx.send(true);
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

pub(crate) async fn start(config: SimConfig, addr: SocketAddr) -> std::io::Result<Arc<Inner>> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    // A wildcard bind is still reached through loopback by local clients.
    let ip = match local.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    };
    let base_url = format!("http://{}", SocketAddr::new(ip, local.port()));
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let inner = Arc::new(Inner {
        world: Mutex::new(World::new(config)),
        base_url,
        shutdown_tx,
        task: Mutex::new(None),
    });
    let task = tokio::spawn(accept_loop(inner.clone(), listener, shutdown_rx));
    *inner.task.lock().unwrap_or_else(PoisonError::into_inner) = Some(task);
    tracing::info!(base_url = %inner.base_url, "NetSuite simulator listening");
    Ok(inner)
}

async fn accept_loop(
    inner: Arc<Inner>,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(serve_connection(inner.clone(), stream, peer, shutdown.clone()));
                }
                Err(e) => {
                    // Typically out of file descriptors; back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.abort_all();
    }
}

async fn serve_connection(
    inner: Arc<Inner>,
    stream: TcpStream,
    peer: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let kill = Arc::new(Notify::new());
    let service_kill = kill.clone();
    let service = service_fn(move |req| {
        let inner = inner.clone();
        let kill = service_kill.clone();
        async move { Ok::<_, Infallible>(handle(inner, req, kill, peer).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let killed = kill.notified();
    tokio::pin!(killed);
    let mut draining = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
                break;
            }
            // Leaving the loop drops the connection future and with it the socket, before
            // hyper has written a single byte of the pending response.
            _ = &mut killed => {
                tracing::debug!(%peer, "dropping the connection after a committed write");
                break;
            }
            _ = shutdown.changed(), if !draining => {
                conn.as_mut().graceful_shutdown();
                draining = true;
            }
        }
    }
}

fn json_response(status: u16, content_type: &str, body: &Value) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp
}

pub(crate) fn error_response(e: &ApiError) -> Resp {
    let mut resp = json_response(e.status(), ERROR_CONTENT_TYPE, &e.to_json());
    if let Some(allow) = e.allow {
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allow));
    }
    resp
}

fn no_content(location: Option<&str>) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::NO_CONTENT;
    if let Some(v) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

async fn handle(
    inner: Arc<Inner>,
    req: Request<Incoming>,
    kill: Arc<Notify>,
    peer: SocketAddr,
) -> Resp {
    let path = req.uri().path();
    if path == "/admin" || path.starts_with("/admin/") {
        return admin::handle(&inner, req).await;
    }
    if path == TOKEN_PATH {
        return token(inner, req, peer).await;
    }
    if path.starts_with("/services/rest/") {
        return rest(inner, req, kill, peer).await;
    }
    error_response(&ApiError::new(
        404,
        "INVALID_PARAMETER",
        format!("The path {path} does not exist. REST web services live under /services/rest/."),
    ))
}

/// NetSuite's OAuth 2.0 token endpoint.
const TOKEN_PATH: &str = "/services/rest/auth/oauth2/v1/token";

/// The token endpoint: grants a bearer token for a verified client assertion, or answers an
/// RFC 6749 error body. It takes no concurrency slot.
async fn token(inner: Arc<Inner>, req: Request<Incoming>, peer: SocketAddr) -> Resp {
    let (parts, body) = req.into_parts();
    if parts.method != Method::POST {
        return oauth_error(405, "invalid_request", None);
    }
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return oauth_error(400, "invalid_request", None),
    };
    let form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return oauth_error(400, "invalid_request", None);
    }
    let token_url = format!("{}{TOKEN_PATH}", inner.base_url);
    let now = Utc::now();
    let mut guard = inner.world();
    let w = &mut *guard;
    w.stats.token_requests += 1;
    let mapping = w.config.m2m.clone();
    match crate::oauth2::grant(
        &body,
        &token_url,
        mapping.as_ref(),
        w.m2m_revoked,
        w.config.max_clock_skew,
        &mut w.tokens,
        now.timestamp_millis(),
    ) {
        Ok(answer) => json_response(200, "application/json", &answer),
        Err(refusal) => {
            tracing::info!(reason = ?refusal.reason, %peer, "token request refused");
            w.audit.push(audit_entry(
                now,
                (refusal.reason, refusal.detail),
                &parts.method,
                TOKEN_PATH,
                peer,
            ));
            let realm = (refusal.status == 401).then(|| w.config.account_id.clone());
            oauth_error(refusal.status, refusal.error, realm)
        }
    }
}

/// A refused login as the Login Audit Trail shows it.
fn audit_entry(
    time: DateTime<Utc>,
    (reason, detail): (AuditReason, String),
    method: &Method,
    path: &str,
    peer: SocketAddr,
) -> AuditEntry {
    AuditEntry {
        time,
        reason,
        detail,
        method: method.to_string(),
        path: path.to_owned(),
        remote_addr: peer.to_string(),
    }
}

/// An OAuth 2.0 error answer; a 401 names the realm in `WWW-Authenticate`, as NetSuite's does.
fn oauth_error(status: u16, error: &str, realm: Option<String>) -> Resp {
    let mut resp = json_response(status, "application/json", &json!({ "error": error }));
    if let Some(v) = realm.and_then(|r| HeaderValue::from_str(&format!("Basic realm=\"{r}\"")).ok())
    {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

/// One concurrency slot; released when dropped, however the request ends.
struct Slot {
    inner: Arc<Inner>,
    since: std::time::Instant,
}

impl Slot {
    fn acquire(inner: &Arc<Inner>) -> Result<Slot, usize> {
        let mut w = inner.world();
        let limit = w.config.concurrency_limit;
        if w.stats.in_flight >= limit {
            w.stats.rejected_429 += 1;
            return Err(limit);
        }
        w.stats.in_flight += 1;
        w.stats.peak_in_flight = w.stats.peak_in_flight.max(w.stats.in_flight);
        Ok(Slot {
            inner: inner.clone(),
            since: std::time::Instant::now(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut w = self.inner.world();
        w.stats.in_flight = w.stats.in_flight.saturating_sub(1);
        w.stats.slot_busy += self.since.elapsed();
    }
}

async fn rest(
    inner: Arc<Inner>,
    req: Request<Incoming>,
    kill: Arc<Notify>,
    peer: SocketAddr,
) -> Resp {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => return error_response(&ApiError::bad_json(e)),
    };
    let path = parts.uri.path();
    let query = parts.uri.query();
    let now = Utc::now();

    let authorized = {
        let mut guard = inner.world();
        let w = &mut *guard;
        w.stats.total_requests += 1;
        let request = AuthRequest {
            method: parts.method.as_str(),
            host: parts
                .headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .or_else(|| parts.uri.authority().map(|a| a.as_str())),
            path,
            query,
            authorization: parts
                .headers
                .get(header::AUTHORIZATION)
                .and_then(|h| h.to_str().ok()),
        };
        let checked = match request
            .authorization
            .and_then(|a| a.strip_prefix("Bearer "))
        {
            Some(token) => w
                .tokens
                .check(token.trim(), w.config.m2m.as_ref(), now.timestamp_millis())
                .map_err(|r| oauth::AuthFailure {
                    reason: r.reason,
                    detail: r.detail,
                }),
            None => oauth::verify(
                &request,
                &w.config,
                w.revoked,
                &mut w.nonces,
                now.timestamp(),
            ),
        };
        match checked {
            Ok(()) => true,
            Err(failure) => {
                tracing::info!(reason = ?failure.reason, %peer, "login refused");
                w.audit.push(audit_entry(
                    now,
                    (failure.reason, failure.detail),
                    &parts.method,
                    path,
                    peer,
                ));
                false
            }
        }
    };
    if !authorized {
        return error_response(&ApiError::unauthorized());
    }

    let route = match Route::parse(&parts.method, path) {
        Ok(Route::Record {
            rt,
            op: RecordOp::Create,
        }) if parts
            .headers
            .get(header::ACCEPT)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|a| a.contains("type=create-form")) =>
        {
            Route::Record {
                rt,
                op: RecordOp::CreateForm,
            }
        }
        Ok(r) => r,
        Err(e) => return error_response(&e),
    };
    let slot = match Slot::acquire(&inner) {
        Ok(slot) => slot,
        Err(limit) => return error_response(&ApiError::too_many_requests(limit)),
    };
    // The answer leaves `latency` after the request took its slot, the work included: the
    // response time a client measures, which the slot is held for and no longer.
    let answer_at = std::time::Instant::now() + inner.world().config.latency;

    let result = {
        let mut w = inner.world();
        *w.stats
            .requests_by_operation
            .entry(route.operation())
            .or_default() += 1;
        if w.take_server_error() || (route.is_write() && w.take_server_error_on_write()) {
            Err(w.server_error())
        } else if let Err(e) = route.authorize(&w, &body) {
            Err(e)
        } else if let Some(rt) = route
            .record_types()
            .into_iter()
            .find(|t| w.permission_denied(*t))
        {
            Err(ApiError::new(
                403,
                "INSUFFICIENT_PERMISSION",
                format!(
                    "{PREFIX}Permission Violation: the role of this integration has no permission for {} records.",
                    rt.name()
                ),
            ))
        } else {
            dispatch(&mut w, &inner.base_url, &route, query, &body, now)
        }
    };
    let committed_write = route.is_write() && result.is_ok();
    let response = match result {
        Ok(resp) => resp,
        Err(e) => error_response(&e),
    };
    crate::clock::until(answer_at).await;
    drop(slot);
    if committed_write && {
        let mut w = inner.world();
        w.take_commit_then_drop() || w.take_commit_then_drop_on_write()
    } {
        kill.notify_one();
        // The connection task drops this future together with the connection.
        std::future::pending::<()>().await;
    }
    response
}

/// What a REST path asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Record {
        rt: RecordType,
        op: RecordOp,
    },
    SuiteQl,
    Options,
    /// `GET /record/v1/metadata-catalog/<record>`: the record's JSON schema.
    Metadata(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum RecordOp {
    List,
    /// `POST /record/v1/<type>` asking for the new-record form (`Accept: ...;
    /// type=create-form`): the defaults of a record the role could create; nothing is saved.
    CreateForm,
    Get(String),
    GetSublist(String, String),
    Create,
    Patch(String),
    Upsert(String),
    Delete(String),
    Transform(String, RecordType),
}

fn unknown_type(name: &str) -> ApiError {
    // The code NetSuite uses here is unconfirmed; clients tested live report the wording.
    ApiError::new(
        404,
        "INVALID_PARAMETER",
        format!("Record type '{name}' does not exist."),
    )
}

fn method_not_allowed(method: &Method, path: &str, allow: &'static str) -> ApiError {
    let mut e = ApiError::new(
        405,
        "INVALID_PARAMETER",
        format!("The {method} method is not allowed on {path}."),
    );
    e.allow = Some(allow);
    e
}

fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

impl Route {
    /// Refuses what the integration role has no permission for: a read needs View, a create
    /// (or the new-record form) Create, a change Edit, a delete Full; any SuiteQL query needs
    /// SuiteAnalytics Workbook and the queried table's permission.
    fn authorize(&self, w: &World, body: &[u8]) -> Result<(), ApiError> {
        use crate::account::{record_permission, table_permission, CREATE, EDIT, FULL, VIEW};
        let role = &w.role;
        match self {
            Route::Options => Ok(()),
            Route::Metadata(_) => Ok(()),
            Route::SuiteQl => {
                role.require(crate::account::SUITEQL_PERMISSION, VIEW)?;
                let q = serde_json::from_slice::<Value>(body).ok();
                let table = q
                    .as_ref()
                    .and_then(|q| q.get("q"))
                    .and_then(Value::as_str)
                    .and_then(suiteql::table_of);
                match table.as_deref().and_then(table_permission) {
                    Some(p) => role.require(p, VIEW),
                    None => Ok(()),
                }
            }
            Route::Record { rt, op } => {
                let level = match op {
                    RecordOp::List | RecordOp::Get(_) | RecordOp::GetSublist(..) => VIEW,
                    RecordOp::Create | RecordOp::CreateForm => CREATE,
                    RecordOp::Patch(_) | RecordOp::Upsert(_) => EDIT,
                    RecordOp::Delete(_) => FULL,
                    RecordOp::Transform(_, target) => {
                        role.require(record_permission(*rt), VIEW)?;
                        return role.require(record_permission(*target), CREATE);
                    }
                };
                role.require(record_permission(*rt), level)
            }
        }
    }

    fn parse(method: &Method, path: &str) -> Result<Route, ApiError> {
        if method == Method::OPTIONS {
            return Ok(Route::Options);
        }
        let rest = path.trim_start_matches("/services/rest");
        if rest.trim_end_matches('/') == "/query/v1/suiteql" {
            return if method == Method::POST {
                Ok(Route::SuiteQl)
            } else {
                Err(method_not_allowed(method, path, "POST"))
            };
        }
        let Some(record_path) = rest.strip_prefix("/record/v1/") else {
            return Err(ApiError::new(
                404,
                "INVALID_PARAMETER",
                format!("The resource {path} does not exist."),
            ));
        };
        let segs: Vec<String> = record_path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(decode)
            .collect();
        if let [catalog, record] = segs.as_slice() {
            if catalog == "metadata-catalog" {
                return if method == Method::GET {
                    Ok(Route::Metadata(record.clone()))
                } else {
                    Err(method_not_allowed(method, path, "GET"))
                };
            }
        }
        let Some(first) = segs.first() else {
            return Err(unknown_type(""));
        };
        let rt = RecordType::parse(first).ok_or_else(|| unknown_type(first))?;
        let not_allowed = |allow| Err(method_not_allowed(method, path, allow));
        let op = match segs.as_slice() {
            [_] => match *method {
                Method::GET => RecordOp::List,
                Method::POST => RecordOp::Create,
                _ => return not_allowed("GET, POST"),
            },
            [_, key] => {
                let by_external_id = key.starts_with("eid:");
                match *method {
                    Method::GET => RecordOp::Get(key.clone()),
                    Method::PATCH => RecordOp::Patch(key.clone()),
                    Method::DELETE => RecordOp::Delete(key.clone()),
                    // Upsert exists only for external ids; NetSuite refuses PUT on an internal
                    // id (status and code here unconfirmed).
                    Method::PUT if by_external_id => RecordOp::Upsert(key.clone()),
                    _ if by_external_id => return not_allowed("GET, PATCH, PUT, DELETE"),
                    _ => return not_allowed("GET, PATCH, DELETE"),
                }
            }
            [_, key, bang, target] if bang == "!transform" => {
                let target = RecordType::parse(target).ok_or_else(|| unknown_type(target))?;
                if *method != Method::POST {
                    return not_allowed("POST");
                }
                RecordOp::Transform(key.clone(), target)
            }
            [_, key, sub] => {
                if *method != Method::GET {
                    return not_allowed("GET");
                }
                RecordOp::GetSublist(key.clone(), sub.clone())
            }
            _ => {
                return Err(ApiError::new(
                    404,
                    "INVALID_PARAMETER",
                    format!("The resource {path} does not exist."),
                ))
            }
        };
        Ok(Route::Record { rt, op })
    }

    fn operation(&self) -> String {
        match self {
            Route::SuiteQl => "suiteql".into(),
            Route::Options => "options".into(),
            Route::Metadata(r) => format!("metadata:{r}"),
            Route::Record { rt, op } => {
                let t = rt.name();
                match op {
                    RecordOp::List => format!("list:{t}"),
                    RecordOp::Get(_) | RecordOp::GetSublist(_, _) => format!("get:{t}"),
                    RecordOp::Create => format!("create:{t}"),
                    RecordOp::CreateForm => format!("create-form:{t}"),
                    RecordOp::Patch(_) => format!("patch:{t}"),
                    RecordOp::Upsert(_) => format!("upsert:{t}"),
                    RecordOp::Delete(_) => format!("delete:{t}"),
                    RecordOp::Transform(_, target) => format!("transform:{t}->{}", target.name()),
                }
            }
        }
    }

    fn is_write(&self) -> bool {
        matches!(
            self,
            Route::Record {
                op: RecordOp::Create
                    | RecordOp::Patch(_)
                    | RecordOp::Upsert(_)
                    | RecordOp::Delete(_)
                    | RecordOp::Transform(_, _),
                ..
            }
        )
    }

    fn record_types(&self) -> Vec<RecordType> {
        match self {
            Route::Record {
                rt,
                op: RecordOp::Transform(_, target),
            } => vec![*rt, *target],
            Route::Record { rt, .. } => vec![*rt],
            _ => Vec::new(),
        }
    }
}

/// Query parameters, decoded.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(query: Option<&str>) -> Params {
        Params(
            query
                .map(|q| {
                    url::form_urlencoded::parse(q.as_bytes())
                        .into_owned()
                        .collect()
                })
                .unwrap_or_default(),
        )
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn list(&self, name: &str) -> HashSet<String> {
        self.get(name)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `limit`/`offset` paging: limit 1..=1000 (default 1000), offset >= 0.
    fn paging(&self) -> Result<(usize, usize), ApiError> {
        let bad = |name: &str, v: &str, why: &str| {
            ApiError::new(
                400,
                "INVALID_PARAMETER",
                format!("Invalid value '{v}' for query parameter '{name}': {why}."),
            )
            .query_param(name)
        };
        let limit = match self.get("limit") {
            None => 1000,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=1000).contains(&n) => n,
                _ => return Err(bad("limit", v, "it must be a whole number from 1 to 1000")),
            },
        };
        let offset = match self.get("offset") {
            None => 0,
            Some(v) => v
                .parse::<usize>()
                .map_err(|_| bad("offset", v, "it must be a whole number of 0 or more"))?,
        };
        Ok((limit, offset))
    }
}

fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(ApiError::bad_json)
}

fn key_id(w: &World, rt: RecordType, key: &str) -> Result<u64, ApiError> {
    w.lookup_key(rt, key).ok_or_else(ApiError::not_found)
}

fn dispatch(
    w: &mut World,
    base: &str,
    route: &Route,
    query: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Resp, ApiError> {
    let params = Params::parse(query);
    let ctx = || WriteCtx::api(params.list("replace"), now);
    let (rt, op) = match route {
        Route::Options => return Ok(no_content(None)),
        Route::SuiteQl => return suiteql_page(w, base, &params, body),
        Route::Metadata(record) => {
            let rt = RecordType::parse(record).ok_or_else(|| unknown_type(record))?;
            return Ok(json_response(
                200,
                "application/schema+json",
                &crate::account::metadata(rt.name(), &w.custom_fields),
            ));
        }
        Route::Record { rt, op } => (*rt, op),
    };
    match op {
        RecordOp::List => {
            if params.get("q").is_some() {
                return Err(ApiError::new(
                    400,
                    "INVALID_PARAMETER",
                    "The q filter of record collections is not supported by this simulator; use SuiteQL.",
                )
                .query_param("q"));
            }
            let (limit, offset) = params.paging()?;
            let ids = w.store.ids(rt);
            Ok(json_response(
                200,
                COLLECTION_CONTENT_TYPE,
                &render::render_list(base, rt, &ids, limit, offset),
            ))
        }
        RecordOp::Get(key) => {
            let id = key_id(w, rt, key)?;
            let rec = w.store.get(rt, id).ok_or_else(ApiError::not_found)?;
            let expand = params
                .get("expandSubResources")
                .is_some_and(|v| v.eq_ignore_ascii_case("true"));
            let fields = params.get("fields").map(|_| params.list("fields"));
            let value = render::render_record(&w.store, base, rt, id, rec, expand, fields.as_ref());
            Ok(json_response(200, SINGLE_CONTENT_TYPE, &value))
        }
        RecordOp::GetSublist(key, name) => {
            let id = key_id(w, rt, key)?;
            let rec = w.store.get(rt, id).ok_or_else(ApiError::not_found)?;
            let items = rec.get(name).and_then(lines).ok_or_else(|| {
                ApiError::new(
                    404,
                    "INVALID_PARAMETER",
                    format!(
                        "The sub-resource {name} does not exist on {} records.",
                        rt.name()
                    ),
                )
            })?;
            let href = format!("{}/{name}", render::record_url(base, rt, id));
            Ok(json_response(
                200,
                COLLECTION_CONTENT_TYPE,
                &render::render_sublist(&w.store, base, &href, name, items),
            ))
        }
        RecordOp::CreateForm => Ok(json_response(
            200,
            SINGLE_CONTENT_TYPE,
            &json!({"links": [], "customForm": {"id": "-1"}}),
        )),
        RecordOp::Create => {
            let id = w.create(rt, parse_body(body)?, &ctx())?;
            // A create sent to itemFulfillment/depositApplication still lands on that type.
            Ok(no_content(Some(&render::record_url(base, rt, id))))
        }
        RecordOp::Patch(key) => {
            let id = key_id(w, rt, key)?;
            w.update(rt, id, parse_body(body)?, &ctx())?;
            Ok(no_content(Some(&render::record_url(base, rt, id))))
        }
        RecordOp::Upsert(key) => {
            let external = key.trim_start_matches("eid:");
            let id = w.upsert(rt, external, parse_body(body)?, &ctx())?;
            Ok(no_content(Some(&render::record_url(base, rt, id))))
        }
        RecordOp::Delete(key) => {
            let id = key_id(w, rt, key)?;
            w.delete(rt, id, &ctx())?;
            Ok(no_content(None))
        }
        RecordOp::Transform(key, target) => {
            let id = key_id(w, rt, key)?;
            let new_id = w.transform(rt, id, *target, parse_body(body)?, &ctx())?;
            Ok(no_content(Some(&render::record_url(base, *target, new_id))))
        }
    }
}

fn suiteql_page(w: &World, base: &str, params: &Params, body: &[u8]) -> Result<Resp, ApiError> {
    let (limit, offset) = params.paging()?;
    let body = parse_body(body)?;
    let q = body.get("q").and_then(Value::as_str).ok_or_else(|| {
        ApiError::new(
            400,
            "INVALID_CONTENT",
            "Invalid content in the request body. The query must be given as a string in the 'q' property.",
        )
    })?;
    if let Some(table) = suiteql::table_of(q).filter(|t| w.table_denied(t)) {
        // Wording as specified for the sync's error handling (unconfirmed).
        return Err(ApiError::new(
            400,
            "USER_ERROR",
            format!("Search error occurred: Your search contains a reference to join for which you do not have a permission: {table}"),
        ));
    }
    let (items, total) = suiteql::run(w, q, limit, offset)?;
    let href = format!("{base}/services/rest/query/v1/suiteql");
    let value = json!({
        "links": render::page_links(&href, limit, offset, total),
        "count": items.len(),
        "hasMore": offset + items.len() < total,
        "items": items,
        "offset": offset,
        "totalResults": total,
    });
    Ok(json_response(200, COLLECTION_CONTENT_TYPE, &value))
}

pub(crate) fn plain_json(status: StatusCode, body: &Value) -> Resp {
    json_response(status.as_u16(), "application/json", body)
}

pub(crate) fn empty(status: StatusCode) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = status;
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_record_paths() {
        let r = Route::parse(
            &Method::POST,
            "/services/rest/record/v1/salesOrder/12/!transform/invoice",
        )
        .unwrap();
        assert_eq!(r.operation(), "transform:salesOrder->invoice");
        assert!(r.is_write());
        let r = Route::parse(&Method::PUT, "/services/rest/record/v1/customer/eid%3AC-1").unwrap();
        assert_eq!(
            r,
            Route::Record {
                rt: RecordType::Customer,
                op: RecordOp::Upsert("eid:C-1".into())
            }
        );
        assert_eq!(
            Route::parse(&Method::PUT, "/services/rest/record/v1/customer/12")
                .unwrap_err()
                .status,
            405
        );
        assert_eq!(
            Route::parse(&Method::GET, "/services/rest/record/v1/employee/1")
                .unwrap_err()
                .status,
            404
        );
        assert_eq!(
            Route::parse(&Method::POST, "/services/rest/query/v1/suiteql").unwrap(),
            Route::SuiteQl
        );
        assert_eq!(
            Route::parse(&Method::GET, "/services/rest/record/v1/invoice")
                .unwrap()
                .operation(),
            "list:invoice"
        );
    }

    #[test]
    fn paging_is_bounded() {
        assert_eq!(Params::parse(None).paging().unwrap(), (1000, 0));
        assert_eq!(
            Params::parse(Some("limit=5&offset=10")).paging().unwrap(),
            (5, 10)
        );
        assert_eq!(
            Params::parse(Some("limit=1001"))
                .paging()
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            Params::parse(Some("limit=0")).paging().unwrap_err().status,
            400
        );
        assert_eq!(
            Params::parse(Some("offset=-1"))
                .paging()
                .unwrap_err()
                .status,
            400
        );
    }
}
