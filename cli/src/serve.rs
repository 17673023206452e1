//! `billsync serve`: the pipeline as one long-running local process for users without AWS: a
//! webhook endpoint (`POST /webhooks/{tenant}/{source}`, the same intake the Lambda runs), the
//! worker draining the in-process queue, and the sweep on a timer (two hours by default).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use billsync::service::intake::{self, WebhookRequest};
use billsync::service::local::run_outbox;
use billsync::service::sweep::sweep_all;
use billsync::store::sqlite::Outbox;

use billsync::service::Services;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use tokio::sync::watch;

/// What one client may hold of the server: without these, slow or stalled clients keep
/// connections (and bodies in memory) open for ever and starve everyone else.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// From a connection's start (or its previous request) to its headers' end.
    pub header_timeout: Duration,
    /// To read a whole body once the headers are in.
    pub body_timeout: Duration,
    /// Connections served at once; beyond them a new connection is closed at once.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_connections: 256,
        }
    }
}

/// How long the accept loop waits after a failed accept (out of descriptors, say), doubling
/// to the most; a loop that retried at once would spin on the same failure.
const ACCEPT_BACKOFF: (Duration, Duration) = (Duration::from_millis(10), Duration::from_secs(1));

/// How often the worker forgets webhook deliveries past their de-duplication window.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// A running server; dropping the handle's `stop` sender (or calling [`Server::stop`]) ends it.
pub struct Server {
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Server {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

fn reply(status: u16, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}

async fn route(
    services: Arc<Services>,
    limits: Limits,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path: Vec<String> = req
        .uri()
        .path()
        .trim_matches('/')
        .split('/')
        .map(str::to_owned)
        .collect();
    match (
        req.method().as_str(),
        path.iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice(),
    ) {
        ("GET", ["health"]) => Ok(reply(200, r#"{"status":"ok"}"#.into())),
        ("POST", ["webhooks", tenant, source]) => {
            let (tenant, source) = (tenant.to_string(), source.to_string());
            let headers = req.headers().clone();
            // One byte over the source's limit is enough to answer 413 without reading more.
            let limit = billsync::billing::webhook::max_body_bytes(&source) + 1;
            let read = Limited::new(req.into_body(), limit).collect();
            let body = match tokio::time::timeout(limits.body_timeout, read).await {
                Ok(Ok(b)) => b.to_bytes(),
                Ok(Err(_)) => vec![0u8; limit].into(),
                Err(_) => {
                    return Ok(reply(
                        408,
                        r#"{"message":"the body did not arrive in time"}"#.into(),
                    ))
                }
            };
            let header = move |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let r = intake::receive(
                &services,
                WebhookRequest {
                    tenant: &tenant,
                    source: &source,
                    body: &body,
                    header: &header,
                },
            )
            .await;
            Ok(reply(
                r.status,
                serde_json::json!({ "message": r.message }).to_string(),
            ))
        }
        _ => Ok(reply(404, r#"{"message":"not found"}"#.into())),
    }
}

/// Starts the endpoint, the worker and the sweep timer, with the default [`Limits`].
pub async fn start(
    services: Services,
    queue: Outbox,
    bind: SocketAddr,
    sweep_every: Duration,
) -> std::io::Result<Server> {
    start_with(services, queue, bind, sweep_every, Limits::default()).await
}

/// [`start`] with the given limits.
pub async fn start_with(
    services: Services,
    queue: Outbox,
    bind: SocketAddr,
    sweep_every: Duration,
    limits: Limits,
) -> std::io::Result<Server> {
    let services = Arc::new(services);
    let listener = TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    let mut tasks = Vec::new();

    let http_services = services.clone();
    let mut http_stop = stopped.clone();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    tasks.push(tokio::spawn(async move {
        let mut backoff = ACCEPT_BACKOFF.0;
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = http_stop.changed() => return,
            };
            let stream = match accepted {
                Ok((stream, _)) => {
                    backoff = ACCEPT_BACKOFF.0;
                    stream
                }
                Err(e) => {
                    tracing::warn!(error = %e, wait_ms = backoff.as_millis() as u64, "accept failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF.1);
                    continue;
                }
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                // Full: closing at once frees the descriptor; the client may try again.
                drop(stream);
                continue;
            };
            let services = http_services.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    route(services.clone(), limits, req)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(limits.header_timeout)
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
                drop(slot);
            });
        }
    }));

    let worker_services = services.clone();
    let mut worker_stop = stopped.clone();
    tasks.push(tokio::spawn(async move {
        let mut purged = tokio::time::Instant::now();
        loop {
            if purged.elapsed() >= PURGE_EVERY {
                purged = tokio::time::Instant::now();
                if let Err(e) = queue.forget_expired_deliveries() {
                    tracing::warn!(error = %e, "expired deliveries could not be forgotten");
                }
            }
            // What an earlier run left unfinished goes first.
            match run_outbox(&worker_services, &queue, |_, _| {}).await {
                Ok((_, again)) if again > 0 => {
                    tracing::warn!(count = again, "messages will be retried by the next sweep")
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "the local queue could not be read"),
            }
            // Another process on the same file queues without waking this one: look again
            // now and then.
            tokio::select! {
                _ = queue.arrived() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = worker_stop.changed() => return,
            }
        }
    }));

    let sweep_services = services.clone();
    let mut sweep_stop = stopped;
    tasks.push(tokio::spawn(async move {
        let mut tick = tokio::time::interval(sweep_every);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = sweep_stop.changed() => return,
            }
            match sweep_all(&sweep_services).await {
                Ok(results) => {
                    for r in results {
                        match r {
                            Ok(report) => tracing::info!(?report, "sweep"),
                            Err(e) => tracing::error!(error = %e, "sweep failed"),
                        }
                    }
                }
                Err(e) => tracing::error!(error = %e, "sweep failed"),
            }
        }
    }));

    Ok(Server { addr, stop, tasks })
}
