//! `billsync-bench floor`: what one HTTP request costs the client in CPU on this machine, with
//! nothing of billsync in it. A reqwest client on one thread (as the worker runs) sends
//! requests to a hyper server on another thread, which answers at once or after 100 ms (as the
//! simulated NetSuite does), with 1, 5 or 50 requests in flight; the client thread's own CPU
//! time (`RUSAGE_THREAD`) per request is printed. It is the scale against which the worker's
//! CPU per invoice is read: an idle process pays for every wake-up in cold caches. Then the
//! same exchange through the layers below reqwest and over bare TCP, and a DynamoDB PutItem
//! through the AWS SDK as aws-config's defaults and as billsync's loader configure it.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{server::conn::http1, service::service_fn, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use billsync::netsuite::client::http_builder;
use billsync::netsuite::config::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT};

/// CPU time (user + system) of the calling thread.
fn thread_cpu() -> Duration {
    // SAFETY: getrusage writes into the struct we own; RUSAGE_THREAD is valid on Linux.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Answers `POST /<ms>` with 204 after `ms` milliseconds, like a NetSuite create.
async fn answer(req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let delay: u64 = req
        .uri()
        .path()
        .trim_start_matches('/')
        .parse()
        .unwrap_or(0);
    // Read the body as a server must before answering on a kept-alive connection.
    let _ = req.into_body().collect().await;
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::NO_CONTENT;
    Ok(resp)
}

/// Serves each loopback connection with `serve` on a thread and runtime of its own, as the
/// simulated NetSuite runs apart from the worker.
fn serve_on_thread<F, Fut>(serve: F) -> std::net::SocketAddr
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = one_thread();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("a loopback port");
            let _ = tx.send(listener.local_addr().expect("a bound address"));
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream));
            }
        });
    });
    rx.recv().expect("the server thread starts")
}

/// An HTTP/1 server on a thread of its own answering every request with `handler`.
fn serve_http<F, Fut>(handler: F) -> std::net::SocketAddr
where
    F: Fn(Request<hyper::body::Incoming>) -> Fut + Copy + Send + 'static,
    Fut: std::future::Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send + 'static,
{
    serve_on_thread(move |stream| async move {
        let _ = http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service_fn(handler))
            .await;
    })
}

fn start_server() -> std::net::SocketAddr {
    serve_http(answer)
}

/// A runtime on the calling thread, as the worker runs.
fn one_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// A request body about the size of a sales order's JSON.
fn order_body() -> Bytes {
    Bytes::from(vec![b'x'; 1500])
}

pub fn run() {
    let addr = start_server();
    let rt = one_thread();
    let body = order_body();
    println!("client CPU per request (reqwest, one thread, loopback):");
    println!("| answer after | in flight | requests | CPU/request | wall/request |");
    println!("|---:|---:|---:|---:|---:|");
    rt.block_on(async {
        let client = reqwest::Client::new();
        // Staggered: the tasks start a fraction of the answer time apart, so their answers
        // arrive one at a time, as a worker's do (each invoice's requests follow its own
        // previous answer); otherwise equal delays make the answers arrive together.
        let runs = [
            (0u64, 1usize, false),
            (0, 5, false),
            (0, 50, false),
            (100, 1, false),
            (100, 5, false),
            (100, 5, true),
            (100, 50, false),
            (100, 50, true),
        ];
        for (delay_ms, in_flight, stagger) in runs {
            let per_task = if delay_ms == 0 { 4000 / in_flight } else { 40 };
            let url = format!("http://{addr}/{delay_ms}");
            let gap = if stagger {
                Duration::from_millis(delay_ms) / in_flight as u32
            } else {
                Duration::ZERO
            };
            let (cpu_us, wall_us) = measure(&client, &url, &body, in_flight, per_task, gap).await;
            let label = if stagger { " staggered" } else { "" };
            println!(
                "| {delay_ms} ms | {in_flight}{label} | {} | {cpu_us:.0} us | {wall_us:.0} us |",
                in_flight * per_task,
            );
        }
    });
    client_settings(&rt, addr, &body);
    hyper_direct(&rt, addr);
    hyper_pooled(&rt, addr);
    raw_tcp(&rt);
    sdk_rows(&rt);
    auth_rows();
}

/// What authenticating costs the client per NetSuite request, apart from the exchange: a TBA
/// signature (HMAC-SHA256 over the base string) for every request; with OAuth 2.0 a bearer
/// header per request and, about once an hour per process, a signed client assertion.
fn auth_rows() {
    use billsync::netsuite::auth::authorization_header;
    use billsync::netsuite::{Credentials, M2mCredentials};
    use netsuite_sim::keys::TestKeyPair;

    let per_call = |n: u32, f: &mut dyn FnMut() -> usize| {
        let mut sink = 0usize;
        let started = thread_cpu();
        for _ in 0..n {
            sink = sink.wrapping_add(f());
        }
        std::hint::black_box(sink);
        (thread_cpu() - started).as_secs_f64() * 1e6 / f64::from(n)
    };
    let url = url::Url::parse(
        "https://1234567.suitetalk.api.netsuite.com/services/rest/record/v1/salesOrder",
    )
    .expect("a URL");
    let tba = Credentials {
        consumer_key: "ck".repeat(32).into(),
        consumer_secret: "cs".repeat(32).into(),
        token_id: "ti".repeat(32).into(),
        token_secret: "ts".repeat(32).into(),
    };
    let token = billsync::Secret::new("t".repeat(600));
    println!("\nclient CPU per NetSuite request for authentication, one thread:");
    println!("| method | what | calls | CPU/call |");
    println!("|---|---|---:|---:|");
    // Enough calls that the thread clock's tick is far below the total.
    let us = per_call(200_000, &mut || {
        authorization_header(&tba, "1234567", "POST", &url).len()
    });
    println!("| TBA | OAuth 1.0a HMAC-SHA256 header, every request | 200000 | {us:.2} us |");
    let us = per_call(2_000_000, &mut || {
        std::hint::black_box(format!("Bearer {}", token.expose())).len()
    });
    println!("| OAuth 2.0 M2M | bearer header, every request | 2000000 | {us:.2} us |");
    for (name, key) in [
        ("PS256", TestKeyPair::rsa()),
        ("ES256", TestKeyPair::ec_p256()),
    ] {
        let m2m = M2mCredentials::new("client".into(), "cert", &key.private_pem.into())
            .expect("a usable key");
        let audience = url.as_str();
        let us = per_call(200, &mut || {
            m2m.assertion(audience, chrono::Utc::now())
                .expect("signs")
                .len()
        });
        println!("| OAuth 2.0 M2M | {name} client assertion, once per token (about hourly) | 200 | {us:.0} us |");
    }
}

/// The 100 ms exchange alone and 5 staggered, through reqwest clients built three ways: the
/// default, as the NetSuite client builds it (timeouts, no redirects, no retry layer), and that
/// with HTTP/1 only and no proxy look-up.
fn client_settings(rt: &tokio::runtime::Runtime, addr: std::net::SocketAddr, body: &Bytes) {
    let netsuite = || http_builder(DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT);
    let clients = [
        ("default", reqwest::Client::new()),
        ("as NetSuite's", netsuite().build().expect("a client")),
        (
            "as NetSuite's, HTTP/1 only, no proxy",
            netsuite()
                .http1_only()
                .no_proxy()
                .build()
                .expect("a client"),
        ),
    ];
    println!();
    println!("reqwest clients built three ways, 100 ms answers:");
    println!("| client | alone | 5 staggered |");
    println!("|---|---:|---:|");
    rt.block_on(async {
        let url = format!("http://{addr}/100");
        // Alternating rounds, so that no client gets the quieter moments of the machine.
        const ROUNDS: usize = 4;
        let mut sums = vec![(0.0, 0.0); clients.len()];
        for _ in 0..ROUNDS {
            for ((_, client), sum) in clients.iter().zip(&mut sums) {
                sum.0 += measure(client, &url, body, 1, 10, Duration::ZERO).await.0;
                let gap = Duration::from_millis(20);
                sum.1 += measure(client, &url, body, 5, 10, gap).await.0;
            }
        }
        for ((name, _), (alone, staggered)) in clients.iter().zip(sums) {
            let rounds = ROUNDS as f64;
            println!(
                "| {name} | {:.0} us | {:.0} us |",
                alone / rounds,
                staggered / rounds
            );
        }
    });
}

/// The same 100 ms exchange through hyper's connection-level HTTP/1 client (one connection per
/// task, no pool, no middleware): how much of a request's cost is the client stack above hyper.
fn hyper_direct(rt: &tokio::runtime::Runtime, addr: std::net::SocketAddr) {
    println!();
    println!(
        "the same with hyper's own HTTP/1 client (one connection each, no pool), 100 ms answers:"
    );
    connection_rows(
        rt,
        move || async move {
            let stream = connect_nodelay(addr).await;
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .expect("an HTTP/1 handshake");
            tokio::spawn(conn);
            sender
        },
        move |mut sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>| async move {
            let req = Request::post(format!("http://{addr}/100"))
                .header("content-type", "application/json")
                .header("host", addr.to_string())
                .body(Full::new(order_body()))
                .expect("a request");
            let resp = sender.send_request(req).await.expect("an answer");
            let _ = resp.into_body().collect().await;
            sender
        },
    );
}

/// A loopback connection that sends small writes at once, as HTTP clients set theirs.
async fn connect_nodelay(addr: std::net::SocketAddr) -> tokio::net::TcpStream {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("the loopback server accepts");
    let _ = stream.set_nodelay(true);
    stream
}

/// The same through hyper-util's pooled client, the layer reqwest sends through: which part of
/// reqwest's cost is the pool and which its own layers.
fn hyper_pooled(rt: &tokio::runtime::Runtime, addr: std::net::SocketAddr) {
    use hyper_util::client::legacy::{connect::HttpConnector, Client};
    use hyper_util::rt::TokioExecutor;
    println!();
    println!(
        "the same with hyper-util's pooled client (what reqwest sends through), 100 ms answers:"
    );
    type Pooled = Client<HttpConnector, Full<Bytes>>;
    let client: Pooled = {
        let _guard = rt.enter();
        Client::builder(TokioExecutor::new()).build_http()
    };
    let post = move |client: Pooled| async move {
        let req = Request::post(format!("http://{addr}/100"))
            .header("content-type", "application/json")
            .body(Full::new(order_body()))
            .expect("a request");
        let resp = client.request(req).await.expect("an answer");
        let _ = resp.into_body().collect().await;
        client
    };
    // Each task's first request opens its connection, before the clock starts.
    connection_rows(rt, || post(client.clone()), post);
}

/// Prints rows of client CPU per exchange for 1, 5 and 5 staggered connections, each made by
/// `connect` and used by `exchange` (which hands the connection back) 40 times in a row.
fn connection_rows<C, CF, E, EF>(rt: &tokio::runtime::Runtime, connect: CF, exchange: EF)
where
    CF: Fn() -> C,
    C: std::future::Future,
    EF: Fn(C::Output) -> E + Copy,
    E: std::future::Future<Output = C::Output>,
{
    println!("| in flight | requests | CPU/request |");
    println!("|---:|---:|---:|");
    rt.block_on(async move {
        for (in_flight, stagger) in [(1usize, false), (5, false), (5, true)] {
            let each = 40;
            let gap = if stagger {
                Duration::from_millis(100) / in_flight as u32
            } else {
                Duration::ZERO
            };
            let conns = futures::future::join_all((0..in_flight).map(|_| connect())).await;
            let cpu = thread_cpu();
            let tasks = conns
                .into_iter()
                .enumerate()
                .map(|(i, mut conn)| async move {
                    tokio::time::sleep(gap * i as u32).await;
                    for _ in 0..each {
                        conn = exchange(conn).await;
                    }
                });
            futures::future::join_all(tasks).await;
            let label = if stagger { " staggered" } else { "" };
            println!(
                "| {in_flight}{label} | {} | {:.0} us |",
                in_flight * each,
                (thread_cpu() - cpu).as_secs_f64() * 1e6 / (in_flight * each) as f64
            );
        }
    });
}

/// The machine's scale for the worker's CPU figures: client CPU per bare reqwest request
/// whose 100 ms answer is the only one in flight (the floor's first 100 ms row: every answer
/// meets cold caches), on a thread and runtime of its own. Worker CPU per invoice from two
/// machines compares in multiples of this, not in milliseconds.
pub fn lone_request_us() -> f64 {
    std::thread::spawn(|| {
        let addr = start_server();
        let rt = one_thread();
        let body = order_body();
        rt.block_on(async {
            let url = format!("http://{addr}/100");
            measure(&reqwest::Client::new(), &url, &body, 1, 40, Duration::ZERO)
                .await
                .0
        })
    })
    .join()
    .expect("the calibration thread finishes")
}

/// Client CPU and wall time per request (microseconds) of `in_flight` tasks, each sending
/// `each` requests one after the other, task `i` starting `i * gap` after the first; the
/// connections are warmed up first, off the clock.
async fn measure(
    client: &reqwest::Client,
    url: &str,
    body: &Bytes,
    in_flight: usize,
    each: usize,
    gap: Duration,
) -> (f64, f64) {
    let send_all = |each: usize, gap: Duration| {
        futures::future::join_all((0..in_flight).map(move |i| async move {
            tokio::time::sleep(gap * i as u32).await;
            for _ in 0..each {
                let resp = client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .expect("the loopback server answers");
                let _ = resp.bytes().await;
            }
        }))
    };
    send_all(2, Duration::ZERO).await;
    let (cpu, wall) = (thread_cpu(), Instant::now());
    send_all(each, gap).await;
    let n = (in_flight * each) as f64;
    (
        (thread_cpu() - cpu).as_secs_f64() * 1e6 / n,
        wall.elapsed().as_secs_f64() * 1e6 / n,
    )
}

/// The same staggered 100 ms exchange over plain TCP sockets on the same runtime, no HTTP
/// client or server: what a wake-up for one answer costs on this machine before any library
/// work.
fn raw_tcp(rt: &tokio::runtime::Runtime) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const REQUEST: usize = 1500;
    const ANSWER: usize = 300;
    let addr = serve_on_thread(|mut stream| async move {
        let mut request = vec![0u8; REQUEST];
        while stream.read_exact(&mut request).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if stream.write_all(&[b'y'; ANSWER]).await.is_err() {
                break;
            }
        }
    });
    println!();
    println!("the same without HTTP (tokio TCP sockets, 100 ms answers):");
    connection_rows(
        rt,
        move || connect_nodelay(addr),
        |mut stream: tokio::net::TcpStream| async move {
            let mut answer = [0u8; ANSWER];
            stream.write_all(&[b'x'; REQUEST]).await.expect("a write");
            stream.read_exact(&mut answer).await.expect("an answer");
            stream
        },
    );
}

/// Answers every request with `{}` after 100 ms, as DynamoDB answers a PutItem.
async fn answer_as_dynamodb(
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let _ = req.into_body().collect().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut resp = Response::new(Full::new(Bytes::from_static(b"{}")));
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    Ok(resp)
}

/// Client CPU of a flow-sized conditional DynamoDB PutItem through the AWS SDK, its 100 ms
/// answer alone, with the SDK configured by aws-config's defaults and by billsync's loader.
fn sdk_rows(rt: &tokio::runtime::Runtime) {
    use aws_sdk_dynamodb::types::AttributeValue;
    let addr = serve_http(answer_as_dynamodb);
    let endpoint = format!("http://{addr}");
    println!();
    println!("aws-sdk-dynamodb PutItem (1.3 kB item, conditional), 100 ms answers, alone:");
    println!("| SDK configured by | CPU/call |");
    println!("|---|---:|");
    rt.block_on(async {
        let configs = [
            (
                "aws-config's defaults",
                aws_config::defaults(aws_config::BehaviorVersion::latest()),
            ),
            ("billsync's loader", billsync::aws::sdk_loader()),
        ];
        let mut clients = Vec::new();
        for (name, loader) in configs {
            let sdk = billsync::aws::moto::on_local(loader, &endpoint)
                .load()
                .await;
            clients.push((name, aws_sdk_dynamodb::Client::new(&sdk), Duration::ZERO));
        }
        let put = |client: &aws_sdk_dynamodb::Client| {
            client
                .put_item()
                .table_name("billsync")
                .item("pk", AttributeValue::S("tenant#acme".into()))
                .item("sk", AttributeValue::S("invoice#1".into()))
                .item("state", AttributeValue::S("x".repeat(1300)))
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", "pk")
                .send()
        };
        for (_, client, _) in &clients {
            for _ in 0..2 {
                put(client).await.expect("the loopback server answers");
            }
        }
        // Alternating rounds, so that neither configuration gets the quieter moments.
        const ROUNDS: u32 = 4;
        const EACH: u32 = 10;
        for _ in 0..ROUNDS {
            for (_, client, spent) in &mut clients {
                let cpu = thread_cpu();
                for _ in 0..EACH {
                    put(client).await.expect("the loopback server answers");
                }
                *spent += thread_cpu() - cpu;
            }
        }
        for (name, _, spent) in clients {
            let us = spent.as_secs_f64() * 1e6 / f64::from(ROUNDS * EACH);
            println!("| {name} | {us:.0} us |");
        }
    });
}
