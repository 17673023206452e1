//! The HTTP side: a hyper 1 accept loop with one task per connection, HTTP Basic, the
//! concurrency gate, injected failures and routing.

use std::{
    convert::Infallible,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use base64::Engine as _;
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{json, Value};
use subtle::ConstantTimeEq;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
    task::{JoinHandle, JoinSet},
};

use crate::{
    admin,
    query::{self, Params},
    render,
    state::State,
    SimConfig, Stats,
};

pub(crate) type Resp = Response<Full<Bytes>>;

/// How long `shutdown` waits for in-flight requests before cutting connections.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings that change while running, and the counters.
pub(crate) struct Runtime {
    pub config: SimConfig,
    pub stats: Stats,
    /// Remaining injected failures and their status.
    pub fail_next: Option<(u32, u16)>,
}

pub(crate) struct Inner {
    state: Mutex<State>,
    runtime: Mutex<Runtime>,
    pub(crate) base_url: String,
    /// For sending webhooks.
    pub(crate) http: reqwest::Client,
    shutdown_tx: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Inner {
    /// The site's records. A panic while holding the lock must not take every later request
    /// down too.
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn runtime(&self) -> MutexGuard<'_, Runtime> {
        self.runtime.lock().unwrap_or_else(PoisonError::into_inner)
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

pub(crate) async fn start(
    config: SimConfig,
    state: State,
    addr: SocketAddr,
) -> std::io::Result<Arc<Inner>> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    // A wildcard bind is still reached through loopback by local clients.
    let ip = match local.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    };
    let base_url = format!("http://{}", SocketAddr::new(ip, local.port()));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .user_agent(concat!("billing-sim/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(std::io::Error::other)?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let inner = Arc::new(Inner {
        state: Mutex::new(state),
        runtime: Mutex::new(Runtime {
            config,
            stats: Stats::default(),
            fail_next: None,
        }),
        base_url,
        http,
        shutdown_tx,
        task: Mutex::new(None),
    });
    let served = inner.clone();
    let task = tokio::spawn(accept_loop(
        listener,
        shutdown_rx,
        move |stream, peer, stop| serve_connection(served.clone(), stream, peer, stop),
    ));
    *inner.task.lock().unwrap_or_else(PoisonError::into_inner) = Some(task);
    tracing::info!(base_url = %inner.base_url, "Maxio billing simulator listening");
    Ok(inner)
}

/// Accepts connections until shutdown, each served by `serve`, then drains them (briefly):
/// shared by the Maxio and Chargebee servers.
pub(crate) async fn accept_loop<F, Fut>(
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
    serve: F,
) where
    F: Fn(TcpStream, SocketAddr, watch::Receiver<bool>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(serve(stream, peer, shutdown.clone()));
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
    let service = service_fn(move |req| {
        let inner = inner.clone();
        async move { Ok::<_, Infallible>(handle(inner, req).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let mut draining = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
                break;
            }
            _ = shutdown.changed(), if !draining => {
                conn.as_mut().graceful_shutdown();
                draining = true;
            }
        }
    }
}

fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Resp {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

pub(crate) fn json_response(status: StatusCode, body: &Value) -> Resp {
    respond(status, "application/json; charset=utf-8", body.to_string())
}

/// Rails' `{"errors": [...]}`.
fn errors(status: StatusCode, messages: &[&str]) -> Resp {
    json_response(status, &json!({ "errors": messages }))
}

fn not_found() -> Resp {
    errors(StatusCode::NOT_FOUND, &["Not Found"])
}

fn unauthorized() -> Resp {
    let mut resp = respond(
        StatusCode::UNAUTHORIZED,
        "text/plain; charset=utf-8",
        "HTTP Basic: Access denied.\n",
    );
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"Application\""),
    );
    resp
}

/// Maxio's answer over the concurrency limit: a short text with a reference code.
fn too_many(reference: u64) -> Resp {
    respond(
        StatusCode::TOO_MANY_REQUESTS,
        "text/plain; charset=utf-8",
        format!(
            "Too many requests: this site has too many API requests in progress. \
             Slow down and try again later. Reference: {reference:08x}\n"
        ),
    )
}

fn injected(status: u16, count: u64) -> Resp {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status == StatusCode::TOO_MANY_REQUESTS {
        return too_many(count);
    }
    let reason = status.canonical_reason().unwrap_or("Error");
    errors(status, &[reason])
}

/// Whether the Basic credentials name the API key (any password: Maxio checks only the key).
fn authorized(header: Option<&HeaderValue>, api_key: &str) -> bool {
    let Some(value) = header.and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let Some(encoded) = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))
    else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let user = match decoded.iter().position(|&b| b == b':') {
        Some(i) => &decoded[..i],
        None => &decoded[..],
    };
    !api_key.is_empty() && bool::from(user.ct_eq(api_key.as_bytes()))
}

/// One concurrency slot; released when dropped, however the request ends.
struct Slot {
    inner: Arc<Inner>,
}

impl Slot {
    fn acquire(inner: &Arc<Inner>) -> Result<Slot, u64> {
        let mut rt = inner.runtime();
        if rt.stats.in_flight >= rt.config.concurrency_limit {
            rt.stats.rejected_429 += 1;
            return Err(rt.stats.total_requests);
        }
        rt.stats.in_flight += 1;
        rt.stats.peak_in_flight = rt.stats.peak_in_flight.max(rt.stats.in_flight);
        Ok(Slot {
            inner: inner.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut rt = self.inner.runtime();
        rt.stats.in_flight = rt.stats.in_flight.saturating_sub(1);
    }
}

async fn handle(inner: Arc<Inner>, req: Request<Incoming>) -> Resp {
    let path = req.uri().path().to_owned();
    if path == "/admin" || path.starts_with("/admin/") {
        return admin::handle(&inner, req).await;
    }
    let (latency, ok) = {
        let mut rt = inner.runtime();
        rt.stats.total_requests += 1;
        let ok = authorized(req.headers().get(header::AUTHORIZATION), &rt.config.api_key);
        if !ok {
            rt.stats.unauthorized_401 += 1;
        }
        (rt.config.latency, ok)
    };
    if !ok {
        return unauthorized();
    }
    let _slot = match Slot::acquire(&inner) {
        Ok(slot) => slot,
        Err(reference) => return too_many(reference),
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let route = Route::parse(req.method(), &path);
    {
        let mut rt = inner.runtime();
        *rt.stats
            .requests_by_endpoint
            .entry(route.name().to_owned())
            .or_default() += 1;
        if let Some((left, status)) = rt.fail_next {
            rt.fail_next = (left > 1).then_some((left - 1, status));
            rt.stats.injected_failures += 1;
            return injected(status, rt.stats.total_requests);
        }
    }
    let params = Params::parse(req.uri().query());
    match serve(&inner, &route, &params) {
        Ok(Some(body)) => json_response(StatusCode::OK, &body),
        Ok(None) => not_found(),
        Err(message) => errors(StatusCode::UNPROCESSABLE_ENTITY, &[&message]),
    }
}

/// What an API path asks for. Paths are case-sensitive and end in `.json`, as on Maxio.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Invoices,
    Invoice(String),
    Segments(String),
    Events,
    CreditNotes,
    CreditNote(String),
    Customers,
    Customer(String),
    CustomerLookup,
    Products,
    Product(String),
    ProductByHandle(String),
    Components,
    Component(String),
    Unknown,
}

impl Route {
    fn parse(method: &Method, path: &str) -> Route {
        if method != Method::GET {
            return Route::Unknown;
        }
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let json = |s: &str| s.strip_suffix(".json").map(decode);
        match segs.as_slice() {
            ["invoices.json"] => Route::Invoices,
            ["invoices", "events.json"] => Route::Events,
            ["invoices", uid, "segments.json"] => Route::Segments(decode(uid)),
            ["invoices", file] => json(file).map_or(Route::Unknown, Route::Invoice),
            ["credit_notes.json"] => Route::CreditNotes,
            ["credit_notes", file] => json(file).map_or(Route::Unknown, Route::CreditNote),
            ["customers.json"] => Route::Customers,
            ["customers", "lookup.json"] => Route::CustomerLookup,
            ["customers", file] => json(file).map_or(Route::Unknown, Route::Customer),
            ["products.json"] => Route::Products,
            ["products", "handle", file] => {
                json(file).map_or(Route::Unknown, Route::ProductByHandle)
            }
            ["products", file] => json(file).map_or(Route::Unknown, Route::Product),
            ["components.json"] => Route::Components,
            ["components", file] => json(file).map_or(Route::Unknown, Route::Component),
            _ => Route::Unknown,
        }
    }

    /// The key in `Stats::requests_by_endpoint`.
    fn name(&self) -> &'static str {
        match self {
            Route::Invoices => "GET /invoices.json",
            Route::Invoice(_) => "GET /invoices/{uid}.json",
            Route::Segments(_) => "GET /invoices/{uid}/segments.json",
            Route::Events => "GET /invoices/events.json",
            Route::CreditNotes => "GET /credit_notes.json",
            Route::CreditNote(_) => "GET /credit_notes/{uid}.json",
            Route::Customers => "GET /customers.json",
            Route::Customer(_) => "GET /customers/{id}.json",
            Route::CustomerLookup => "GET /customers/lookup.json",
            Route::Products => "GET /products.json",
            Route::Product(_) => "GET /products/{id}.json",
            Route::ProductByHandle(_) => "GET /products/handle/{handle}.json",
            Route::Components => "GET /components.json",
            Route::Component(_) => "GET /components/{id}.json",
            Route::Unknown => "unknown",
        }
    }
}

fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

/// `Ok(None)` is a 404; `Err` a 422 with the message.
fn serve(inner: &Inner, route: &Route, p: &Params) -> Result<Option<Value>, String> {
    if let Route::Events = route {
        // Render outside the lock: a page of full snapshots is the largest answer served.
        let (site, page) = {
            let st = inner.state();
            (st.site.clone(), query::events(&st, p)?)
        };
        let events: Vec<Value> = page
            .events
            .iter()
            .map(|e| render::event(&site, e))
            .collect();
        return Ok(Some(json!({
            "events": events,
            "page": page.page,
            "per_page": page.per_page,
            "total_pages": page.total_pages,
        })));
    }
    let st = inner.state();
    let id = |s: &str| s.parse::<u64>().ok();
    Ok(match route {
        Route::Invoices => Some(query::invoices(&st, p)?),
        Route::Invoice(uid) => st
            .invoice(uid)
            .map(|e| render::invoice(&st.site, &e.current, render::Detail::FULL)),
        Route::Segments(uid) => query::segments(&st, uid, p)?,
        Route::Events => unreachable!("answered above"),
        Route::CreditNotes => Some(query::credit_notes(&st, p)?),
        Route::CreditNote(uid) => st
            .credit_note_by_uid(uid)
            .map(|c| render::credit_note(&st.site, c, render::CnDetail::FULL)),
        Route::Customers => Some(query::customers(&st, p)?),
        Route::Customer(cid) => id(cid)
            .and_then(|i| st.customer(i))
            .map(|c| json!({ "customer": render::customer(c) })),
        Route::CustomerLookup => p.get("reference").and_then(|r| {
            st.customers
                .iter()
                .find(|c| c.reference.as_deref() == Some(r))
                .map(|c| json!({ "customer": render::customer(c) }))
        }),
        Route::Products => Some(query::products(&st, p)?),
        Route::Product(pid) => id(pid)
            .and_then(|i| st.product(i))
            .map(|x| json!({ "product": render::product(&st.site, x) })),
        Route::ProductByHandle(h) => st
            .products
            .iter()
            .find(|x| &x.handle == h)
            .map(|x| json!({ "product": render::product(&st.site, x) })),
        Route::Components => Some(query::components(&st, p)?),
        Route::Component(cid) => id(cid)
            .and_then(|i| st.component(i))
            .map(|x| json!({ "component": render::component(&st.site, x) })),
        Route::Unknown => None,
    })
}
