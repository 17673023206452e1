//! `/admin`: the in-process operations over HTTP, for the local demo and for tests in other
//! processes. Not authenticated, not gated and not counted. Bodies are JSON mirroring the Rust
//! API; amounts may be strings or numbers.

use std::{sync::Arc, time::Duration};

use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use rust_decimal::Decimal;
use serde::{de::DeserializeOwned, Deserialize};
use serde_json::json;

use crate::{
    render,
    server::{json_response, Inner, Resp},
    webhook, NewInvoice, PaymentKind, SimError, WebhookEvent,
};

fn error(status: StatusCode, message: impl std::fmt::Display) -> Resp {
    json_response(status, &json!({ "error": message.to_string() }))
}

fn sim_error(e: &SimError) -> Resp {
    let status = match e {
        SimError::NotFound { .. } => StatusCode::NOT_FOUND,
        SimError::Rejected(_) => StatusCode::UNPROCESSABLE_ENTITY,
        SimError::Webhook(_) => StatusCode::BAD_GATEWAY,
    };
    error(status, e)
}

/// Reads a JSON request body; an empty body counts as `{}`.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let body: &[u8] = if body.is_empty() { b"{}" } else { body };
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

fn bad(message: String) -> Resp {
    error(StatusCode::BAD_REQUEST, message)
}

#[derive(Deserialize)]
struct Pay {
    invoice_uid: String,
    amount: Decimal,
    #[serde(default)]
    method: PaymentKind,
}

#[derive(Deserialize)]
struct Refund {
    invoice_uid: String,
    payment_id: u64,
    amount: Decimal,
}

#[derive(Deserialize)]
struct CreditNote {
    invoice_uid: String,
    amount: Decimal,
    #[serde(default)]
    memo: String,
}

#[derive(Deserialize)]
struct Void {
    invoice_uid: String,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Deserialize)]
struct Send {
    url: String,
    event: WebhookEvent,
}

#[derive(Deserialize)]
struct FailNext {
    count: u32,
    status: u16,
}

#[derive(Deserialize)]
struct ConfigChange {
    latency_ms: Option<u64>,
    concurrency_limit: Option<usize>,
}

pub(crate) async fn handle(inner: &Arc<Inner>, req: Request<Incoming>) -> Resp {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let path = parts.uri.path().trim_start_matches("/admin");
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let result: Result<Resp, Resp> =
        match (&parts.method, segs.as_slice()) {
            (&Method::GET, ["stats"]) => Ok(json_response(
                StatusCode::OK,
                &json!(inner.runtime().stats.clone()),
            )),
            (&Method::POST, ["stats", "reset"]) => {
                let mut rt = inner.runtime();
                let in_flight = rt.stats.in_flight;
                rt.stats = crate::Stats {
                    in_flight,
                    ..Default::default()
                };
                Ok(json_response(StatusCode::OK, &json!({})))
            }
            (&Method::GET, ["invoices"]) => Ok(json_response(
                StatusCode::OK,
                &json!(inner.state().invoice_uids()),
            )),
            (&Method::POST, ["invoices"]) => parse::<NewInvoice>(&body).map_err(bad).map(|spec| {
                match inner.state().issue(&spec, None) {
                    Ok(uid) => json_response(StatusCode::CREATED, &json!({ "uid": uid })),
                    Err(e) => sim_error(&e),
                }
            }),
            (&Method::GET, ["invoices", uid]) => {
                let st = inner.state();
                Ok(match st.invoice(uid) {
                    Some(e) => json_response(
                        StatusCode::OK,
                        &render::invoice(&st.site, &e.current, render::Detail::FULL),
                    ),
                    None => error(
                        StatusCode::NOT_FOUND,
                        format!("invoice {uid} does not exist"),
                    ),
                })
            }
            (&Method::POST, ["pay"]) => parse::<Pay>(&body).map_err(bad).map(|b| {
                match inner.state().pay(&b.invoice_uid, b.amount, b.method, None) {
                    Ok(id) => json_response(StatusCode::OK, &json!({ "transaction_id": id })),
                    Err(e) => sim_error(&e),
                }
            }),
            (&Method::POST, ["refund"]) => parse::<Refund>(&body).map_err(bad).map(|b| match inner
                .state()
                .refund(&b.invoice_uid, b.payment_id, b.amount, None)
            {
                Ok(id) => json_response(StatusCode::OK, &json!({ "refund_id": id })),
                Err(e) => sim_error(&e),
            }),
            (&Method::POST, ["credit-note"]) => parse::<CreditNote>(&body).map_err(bad).map(|b| {
                match inner
                    .state()
                    .credit_note(&b.invoice_uid, b.amount, &b.memo, None)
                {
                    Ok(uid) => json_response(StatusCode::OK, &json!({ "uid": uid })),
                    Err(e) => sim_error(&e),
                }
            }),
            (&Method::POST, ["void"]) => parse::<Void>(&body).map_err(bad).map(|b| {
                let reason = b
                    .reason
                    .unwrap_or_else(|| "Voided by the merchant".to_owned());
                match inner.state().void(&b.invoice_uid, &reason, None) {
                    Ok(()) => json_response(StatusCode::OK, &json!({})),
                    Err(e) => sim_error(&e),
                }
            }),
            (&Method::POST, ["webhooks", "send"]) => match parse::<Send>(&body) {
                Ok(b) => {
                    let key = inner.runtime().config.shared_key.clone();
                    let built = webhook::build(&mut inner.state(), &b.event);
                    Ok(match built {
                        Ok((id, body)) => {
                            let sig = webhook::sign(key.as_bytes(), &body);
                            match webhook::send(&inner.http, &b.url, id, body, &sig).await {
                                Ok(status) => json_response(
                                    StatusCode::OK,
                                    &json!({ "webhook_id": id, "status": status.as_u16() }),
                                ),
                                Err(e) => sim_error(&e),
                            }
                        }
                        Err(e) => sim_error(&e),
                    })
                }
                Err(m) => Err(bad(m)),
            },
            (&Method::POST, ["fail-next"]) => parse::<FailNext>(&body).map_err(bad).map(|b| {
                inner.runtime().fail_next = (b.count > 0).then_some((b.count, b.status));
                json_response(StatusCode::OK, &json!({}))
            }),
            (&Method::POST, ["config"]) => parse::<ConfigChange>(&body).map_err(bad).map(|b| {
                let mut rt = inner.runtime();
                if let Some(ms) = b.latency_ms {
                    rt.config.latency = Duration::from_millis(ms);
                }
                if let Some(limit) = b.concurrency_limit {
                    rt.config.concurrency_limit = limit;
                }
                json_response(
                    StatusCode::OK,
                    &json!({
                        "latency_ms": rt.config.latency.as_millis() as u64,
                        "concurrency_limit": rt.config.concurrency_limit,
                    }),
                )
            }),
            _ => Err(error(
                StatusCode::NOT_FOUND,
                format!("no admin operation {} {path}", parts.method),
            )),
        };
    result.unwrap_or_else(|resp| resp)
}
