//! The HTTP side: a hyper 1 accept loop with one task per connection, HTTP Basic, the
//! concurrency gate and routing.

use std::{
    collections::{BTreeMap, BTreeSet},
    convert::Infallible,
    net::{Ipv4Addr, SocketAddr},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex, PoisonError,
    },
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
    task::JoinHandle,
};

use super::{render_event, Shared};

type Resp = Response<Full<Bytes>>;

/// The events list's page size when `limit` is not given, and its maximum.
const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 100;

pub(super) struct Server {
    /// `http://127.0.0.1:<port>`.
    pub origin: String,
    shutdown_tx: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Server {
    pub async fn shutdown(&self) {
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

struct Ctx {
    shared: Arc<Shared>,
    in_flight: AtomicUsize,
}

/// Authorized requests by resource (`invoices`, `customers`, ...), for benchmarks.
pub(super) type Counts = Mutex<std::collections::BTreeMap<String, u64>>;

pub(super) async fn start(shared: Arc<Shared>) -> std::io::Result<Server> {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
    let origin = format!("http://{}", listener.local_addr()?);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let ctx = Arc::new(Ctx {
        shared,
        in_flight: AtomicUsize::new(0),
    });
    let task = tokio::spawn(crate::server::accept_loop(
        listener,
        shutdown_rx,
        move |stream, peer, stop| serve_connection(ctx.clone(), stream, peer, stop),
    ));
    tracing::info!(%origin, "Chargebee simulator listening");
    Ok(Server {
        origin,
        shutdown_tx,
        task: Mutex::new(Some(task)),
    })
}

async fn serve_connection(
    ctx: Arc<Ctx>,
    stream: TcpStream,
    peer: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |req| {
        let ctx = ctx.clone();
        async move { Ok::<_, Infallible>(handle(&ctx, req).await) }
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

fn json_response(status: StatusCode, body: &Value) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=utf-8"),
    );
    resp
}

/// Chargebee's error body.
fn error(status: StatusCode, kind: &str, code: &str, message: &str) -> Resp {
    json_response(
        status,
        &json!({
            "message": message,
            "type": kind,
            "api_error_code": code,
            "error_code": code,
            "error_msg": message,
            "http_status_code": status.as_u16(),
        }),
    )
}

fn not_found(message: &str) -> Resp {
    error(
        StatusCode::NOT_FOUND,
        "invalid_request",
        "resource_not_found",
        message,
    )
}

fn bad_request(param: &str, message: &str) -> Resp {
    json_response(
        StatusCode::BAD_REQUEST,
        &json!({
            "message": message,
            "type": "invalid_request",
            "api_error_code": "invalid_request",
            "error_code": "invalid_request",
            "error_msg": message,
            "error_param": param,
            "param": param,
            "http_status_code": 400,
        }),
    )
}

/// Whether the Basic credentials are the API key with an empty password.
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
    let Some(colon) = decoded.iter().position(|&b| b == b':') else {
        return false;
    };
    let (user, password) = (&decoded[..colon], &decoded[colon + 1..]);
    !api_key.is_empty() && password.is_empty() && bool::from(user.ct_eq(api_key.as_bytes()))
}

/// One concurrency slot; released when dropped.
struct Slot<'a> {
    in_flight: &'a AtomicUsize,
}

impl<'a> Slot<'a> {
    fn acquire(in_flight: &'a AtomicUsize, limit: usize) -> Option<Slot<'a>> {
        let before = in_flight.fetch_add(1, Ordering::SeqCst);
        if before >= limit {
            in_flight.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Slot { in_flight })
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn handle(ctx: &Ctx, req: Request<Incoming>) -> Resp {
    let config = &ctx.shared.config;
    if !authorized(req.headers().get(header::AUTHORIZATION), &config.api_key) {
        return error(
            StatusCode::UNAUTHORIZED,
            "authentication",
            "api_authentication_failed",
            "Sorry, authentication failed. The API key is not valid.",
        );
    }
    let Some(_slot) = Slot::acquire(&ctx.in_flight, config.concurrency_limit) else {
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            "invalid_request",
            "api_request_limit_exceeded",
            "Sorry, the request limit for this site has been exceeded. Try again later.",
        );
    };
    // Let other requests overlap with this one, as on a real server.
    tokio::task::yield_now().await;
    if req.method() != Method::GET {
        return not_found("Sorry, that endpoint is not supported.");
    }
    let path = req.uri().path();
    let Some(rest) = path.strip_prefix("/api/v2/") else {
        return not_found("Sorry, that endpoint is not supported.");
    };
    let resource = rest.split('/').next().unwrap_or_default();
    *ctx.shared
        .requests
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(resource.to_owned())
        .or_default() += 1;
    let segs: Vec<String> = rest
        .trim_end_matches('/')
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let st = ctx.shared.state();
    let query = req.uri().query().unwrap_or("");
    let (key, map, id) = match segs.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["events"] => return events(&st, query),
        ["invoices"] => return list("invoice", &st.invoices, query),
        ["customers"] => return list("customer", &st.customers, query),
        ["credit_notes"] => return list("credit_note", &st.credit_notes, query),
        ["transactions"] => return list("transaction", &st.transactions, query),
        ["invoices", id] => ("invoice", &st.invoices, id),
        ["customers", id] => ("customer", &st.customers, id),
        ["credit_notes", id] => ("credit_note", &st.credit_notes, id),
        ["transactions", id] => ("transaction", &st.transactions, id),
        ["item_prices", id] => ("item_price", &st.item_prices, id),
        ["items", id] => ("item", &st.items, id),
        ["plans", id] => ("plan", &st.plans, id),
        ["addons", id] => ("addon", &st.addons, id),
        _ => return not_found("Sorry, that endpoint is not supported."),
    };
    match map.get(id) {
        Some(doc) => json_response(StatusCode::OK, &json!({ key: doc })),
        None => not_found(&format!("Sorry, we couldn't find that {key}: {id}.")),
    }
}

/// A resource list filtered by id: `id[in]=["a","b"]` (a JSON-style list, as the client
/// libraries send it) or `id[is]=a`; by date for records that have one (`date[between]=[a,b]`,
/// `date[after]`, `date[before]`, `date[on]`, Unix seconds, bounds included for `between`
/// as Chargebee documents); `sort_by[asc]` / `sort_by[desc]` = `date`; `limit` (1 to 100,
/// default 10) and `offset` (the `next_offset` of the page before). Ids that match nothing are
/// simply absent; other filters are refused so a client cannot believe a filter applied that
/// the simulator ignored.
fn list(key: &str, map: &BTreeMap<String, Value>, query: &str) -> Resp {
    let mut ids: Option<Vec<String>> = None;
    let mut limit = DEFAULT_LIMIT;
    let mut after: Option<String> = None;
    let mut dates: Vec<(String, Vec<i64>)> = Vec::new();
    let mut by_date: Option<bool> = None;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "id[in]" => match serde_json::from_str::<Vec<String>>(&v) {
                Ok(list) => ids = Some(list),
                Err(_) => return bad_request("id[in]", &format!("id[in] : invalid value {v:?}")),
            },
            "id[is]" => ids = Some(vec![v.into_owned()]),
            op @ ("date[between]" | "date[after]" | "date[before]" | "date[on]")
                if matches!(key, "invoice" | "credit_note") =>
            {
                let parsed = if op == "date[between]" {
                    serde_json::from_str::<Vec<i64>>(&v)
                        .ok()
                        .filter(|b| b.len() == 2)
                } else {
                    v.parse::<i64>().ok().map(|t| vec![t])
                };
                match parsed {
                    Some(b) => dates.push((op.to_owned(), b)),
                    None => return bad_request(op, &format!("{op} : invalid value {v:?}")),
                }
            }
            dir @ ("sort_by[asc]" | "sort_by[desc]")
                if matches!(key, "invoice" | "credit_note") =>
            {
                if v != "date" {
                    return bad_request(dir, &format!("{dir} : cannot sort by {v}"));
                }
                by_date = Some(dir == "sort_by[desc]");
            }
            "limit" => match v.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => limit = n,
                _ => return bad_request("limit", "limit : must be between 1 and 100"),
            },
            "offset" => after = Some(v.into_owned()),
            other => {
                return bad_request(other, &format!("{other} : filter not supported"));
            }
        }
    }
    let date_of = |doc: &Value| doc.get("date").and_then(Value::as_i64).unwrap_or(0);
    let mut matching: Vec<(&String, &Value)> = match &ids {
        Some(ids) => {
            let wanted: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
            map.iter()
                .filter(|(id, _)| wanted.contains(id.as_str()))
                .collect()
        }
        None => map.iter().collect(),
    };
    for (op, b) in &dates {
        matching.retain(|(_, doc)| {
            let d = date_of(doc);
            match op.as_str() {
                "date[between]" => b[0] <= d && d <= b[1],
                "date[after]" => d > b[0],
                "date[before]" => d < b[0],
                _ => d / 86_400 == b[0] / 86_400,
            }
        });
    }
    // The offset is the sort key of the last record served: the id, or `[date, id]`.
    let sort_key = |id: &str, doc: &Value| match by_date {
        Some(_) => format!("[{},\"{id}\"]", date_of(doc)),
        None => id.to_owned(),
    };
    if let Some(desc) = by_date {
        matching.sort_by(|a, b| (date_of(a.1), a.0).cmp(&(date_of(b.1), b.0)));
        if desc {
            matching.reverse();
        }
    }
    if let Some(after) = &after {
        let position = matching
            .iter()
            .position(|(id, doc)| &sort_key(id, doc) == after);
        match (position, by_date) {
            (Some(i), Some(_)) => {
                matching.drain(..=i);
            }
            (None, Some(_)) => return bad_request("offset", "offset : invalid value"),
            (_, None) => matching.retain(|(id, _)| id.as_str() > after.as_str()),
        }
    }
    let more = matching.len() > limit;
    matching.truncate(limit);
    let list: Vec<Value> = matching
        .iter()
        .map(|(_, doc)| json!({ key: doc }))
        .collect();
    let mut body = json!({ "list": list });
    if more {
        if let Some((id, doc)) = matching.last() {
            body["next_offset"] = json!(sort_key(id, doc));
        }
    }
    json_response(StatusCode::OK, &body)
}

/// `next_offset`: the sort key of the last event served, `["<occurred_at ms>","<sequence>"]`.
fn offset_of(occurred_at: i64, seq: usize) -> String {
    format!("[\"{}\",\"{seq}\"]", occurred_at * 1000)
}

fn parse_offset(s: &str) -> Option<(i64, usize)> {
    let inner = s.trim().strip_prefix('[')?.strip_suffix(']')?;
    let (a, b) = inner.split_once(',')?;
    let unquote = |x: &str| {
        x.trim()
            .strip_prefix('"')?
            .strip_suffix('"')
            .map(str::to_owned)
    };
    let ms: i64 = unquote(a)?.parse().ok()?;
    let seq: usize = unquote(b)?.parse().ok()?;
    Some((ms / 1000, seq))
}

fn events(st: &super::CbState, query: &str) -> Resp {
    let mut after = None;
    let mut before = None;
    let mut descending = false;
    let mut limit = DEFAULT_LIMIT;
    let mut offset = None;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "occurred_at[after]" | "occurred_at[before]" => {
                let Ok(t) = v.parse::<i64>() else {
                    return bad_request(&k, &format!("{k} : invalid timestamp {v:?}"));
                };
                if k.ends_with("[after]") {
                    after = Some(t);
                } else {
                    before = Some(t);
                }
            }
            "sort_by[asc]" | "sort_by[desc]" => {
                if v != "occurred_at" {
                    return bad_request(&k, &format!("{k} : cannot sort by {v:?}"));
                }
                descending = k.as_ref() == "sort_by[desc]";
            }
            "limit" => match v.parse::<usize>() {
                Ok(n) if n >= 1 => limit = n.min(MAX_LIMIT),
                _ => return bad_request("limit", "limit : must be between 1 and 100"),
            },
            "offset" => match parse_offset(&v) {
                Some(o) => offset = Some(o),
                None => return bad_request("offset", "offset : invalid value"),
            },
            _ => {}
        }
    }
    let mut matching: Vec<(usize, &super::Event)> = st
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| after.is_none_or(|t| e.occurred_at > t))
        .filter(|(_, e)| before.is_none_or(|t| e.occurred_at < t))
        .collect();
    matching.sort_by_key(|(seq, e)| (e.occurred_at, *seq));
    if descending {
        matching.reverse();
    }
    if let Some(cursor) = offset {
        matching.retain(|(seq, e)| {
            let key = (e.occurred_at, *seq);
            if descending {
                key < cursor
            } else {
                key > cursor
            }
        });
    }
    let more = matching.len() > limit;
    matching.truncate(limit);
    let list: Vec<Value> = matching
        .iter()
        .map(|(_, e)| json!({ "event": render_event(e, "not_configured") }))
        .collect();
    let mut body = json!({ "list": list });
    if more {
        if let Some((seq, e)) = matching.last() {
            body["next_offset"] = json!(offset_of(e.occurred_at, *seq));
        }
    }
    json_response(StatusCode::OK, &body)
}
