//! `/admin`: the in-process operations over HTTP, for the local demo and for tests in other
//! processes. Not authenticated and not counted in the statistics.

use std::{sync::Arc, time::Duration};

use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::{de::DeserializeOwned, Deserialize};
use serde_json::{json, Value};

use crate::{
    demo,
    error::SimError,
    server::{empty, plain_json, Inner, Resp},
    Fault,
};

#[derive(Deserialize)]
struct ConfigChange {
    latency_ms: Option<u64>,
    concurrency_limit: Option<usize>,
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Resp {
    plain_json(status, &json!({ "error": message.to_string() }))
}

fn sim_error(e: &SimError) -> Resp {
    let status = match e {
        SimError::UnknownRecordType(_) | SimError::NotFound { .. } => StatusCode::NOT_FOUND,
        SimError::Rejected { status, .. } => {
            StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST)
        }
    };
    error(status, e)
}

/// Reads a JSON request body; an empty body counts as `{}`.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let body: &[u8] = if body.is_empty() { b"{}" } else { body };
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

fn known_type(t: &str) -> bool {
    crate::types::RecordType::parse(t).is_some()
}

pub(crate) async fn handle(inner: &Arc<Inner>, req: Request<Incoming>) -> Resp {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let path = parts.uri.path().trim_start_matches("/admin");
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let method = &parts.method;
    match (method, segs.as_slice()) {
        (&Method::GET, ["records", t]) if known_type(t) => {
            plain_json(StatusCode::OK, &Value::Array(inner.world().records(t)))
        }
        (&Method::GET, ["records", t, id]) if known_type(t) => {
            let key = percent_encoding::percent_decode_str(id).decode_utf8_lossy();
            match inner.world().record(t, &key) {
                Some(r) => plain_json(StatusCode::OK, &r),
                None => error(StatusCode::NOT_FOUND, format!("{t} {key} does not exist")),
            }
        }
        (&Method::POST, ["records", t]) => match parse::<Value>(&body) {
            Ok(b) => match inner.world().seed(t, b) {
                Ok(id) => plain_json(StatusCode::CREATED, &json!({ "id": id })),
                Err(e) => sim_error(&e),
            },
            Err(message) => error(StatusCode::BAD_REQUEST, message),
        },
        (&Method::GET, ["records", t, ..]) => {
            error(StatusCode::NOT_FOUND, format!("unknown record type '{t}'"))
        }
        (&Method::GET, ["stats"]) => plain_json(StatusCode::OK, &json!(inner.world().stats)),
        (&Method::POST, ["stats", "reset"]) => {
            inner.world().reset_stats();
            empty(StatusCode::NO_CONTENT)
        }
        (&Method::GET, ["faults"]) => plain_json(StatusCode::OK, &json!(inner.world().faults)),
        (&Method::POST, ["faults"]) => match parse::<Fault>(&body) {
            Ok(f) => {
                inner.world().add_fault(f);
                empty(StatusCode::NO_CONTENT)
            }
            Err(message) => error(StatusCode::BAD_REQUEST, message),
        },
        (&Method::DELETE, ["faults"]) => {
            inner.world().clear_faults();
            empty(StatusCode::NO_CONTENT)
        }
        (&Method::POST, ["sales-orders", id, "fulfill"]) => {
            match inner.world().fulfill_sales_order(id) {
                Ok(f) => plain_json(StatusCode::OK, &json!({ "id": f })),
                Err(e) => sim_error(&e),
            }
        }
        (&Method::GET, ["config"]) => {
            let w = inner.world();
            let c = &w.config;
            plain_json(
                StatusCode::OK,
                &json!({
                    "account_id": c.account_id,
                    "latency_ms": c.latency.as_millis(),
                    "concurrency_limit": c.concurrency_limit,
                    "max_clock_skew_s": c.max_clock_skew.as_secs(),
                    "one_world": c.one_world,
                    "token_revoked": w.revoked,
                }),
            )
        }
        (&Method::POST, ["config"]) => match parse::<ConfigChange>(&body) {
            Ok(change) => {
                let mut w = inner.world();
                if let Some(ms) = change.latency_ms {
                    w.config.latency = Duration::from_millis(ms);
                }
                if let Some(limit) = change.concurrency_limit {
                    w.config.concurrency_limit = limit;
                }
                empty(StatusCode::NO_CONTENT)
            }
            Err(message) => error(StatusCode::BAD_REQUEST, message),
        },
        (&Method::POST, ["revoke-token"]) => {
            inner.world().revoked = true;
            empty(StatusCode::NO_CONTENT)
        }
        (&Method::GET, ["login-audit"]) => plain_json(StatusCode::OK, &json!(inner.world().audit)),
        (&Method::POST, ["seed-demo"]) => {
            let data = demo::seed_world(&mut inner.world());
            plain_json(StatusCode::OK, &json!(data))
        }
        _ => error(
            StatusCode::NOT_FOUND,
            format!("no admin operation {method} /admin{path}"),
        ),
    }
}
