//! `billsync-bench floor`: what one HTTP request costs the client in CPU on this machine, with
//! nothing of billsync in it. A reqwest client on one thread (as the worker runs) sends
//! requests to a hyper server on another thread, which answers at once or after 100 ms (as the
//! simulated NetSuite does), with 1, 5 or 50 requests in flight; the client thread's own CPU
//! time (`RUSAGE_THREAD`) per request is printed. It is the scale against which the worker's
//! CPU per invoice is read: an idle process pays for every wake-up in cold caches.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{server::conn::http1, service::service_fn, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

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

fn start_server() -> std::net::SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("a loopback port");
            let _ = tx.send(listener.local_addr().expect("a bound address"));
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service_fn(answer))
                        .await;
                });
            }
        });
    });
    rx.recv().expect("the server thread starts")
}

pub fn run() {
    let addr = start_server();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    // About the size of a sales order's JSON.
    let body = Bytes::from(vec![b'x'; 1500]);
    println!("client CPU per request (reqwest, one thread, loopback):");
    println!("| answer after | in flight | requests | CPU/request | wall/request |");
    println!("|---:|---:|---:|---:|---:|");
    rt.block_on(async {
        let client = reqwest::Client::new();
        for delay_ms in [0u64, 100] {
            for in_flight in [1usize, 5, 50] {
                let per_task = if delay_ms == 0 { 4000 / in_flight } else { 40 };
                let url = format!("http://{addr}/{delay_ms}");
                // Warm the connections up first.
                send_all(&client, &url, &body, in_flight, 2).await;
                let (cpu, wall) = (thread_cpu(), Instant::now());
                send_all(&client, &url, &body, in_flight, per_task).await;
                let n = (in_flight * per_task) as f64;
                println!(
                    "| {delay_ms} ms | {in_flight} | {} | {:.0} us | {:.0} us |",
                    in_flight * per_task,
                    (thread_cpu() - cpu).as_secs_f64() * 1e6 / n,
                    wall.elapsed().as_secs_f64() * 1e6 / n
                );
            }
        }
    });
}

/// `in_flight` tasks, each sending `each` requests one after the other.
async fn send_all(
    client: &reqwest::Client,
    url: &str,
    body: &Bytes,
    in_flight: usize,
    each: usize,
) {
    let tasks = (0..in_flight).map(|_| async move {
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
    });
    futures::future::join_all(tasks).await;
}
