//! The test harness for the AWS adapters: real SDK clients talking HTTP to a moto server on
//! loopback. The test command starts one and exports `AWS_ENDPOINT_URL`; without it, the first
//! test starts one on a free port, shares it with the tests running alongside, and the last
//! one to finish kills it. Either way it is `scripts/moto_atomic.py`: moto with DynamoDB's
//! atomic conditional writes and SQS's one receiver per message. A missing moto fails the
//! tests; it never skips them.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use aws_config::{ConfigLoader, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;

/// Generous: importing moto takes a few seconds on a busy machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);

static SHARED: Mutex<Weak<Server>> = Mutex::new(Weak::new());

/// A moto endpoint, kept up while this value lives.
pub struct Moto {
    endpoint: String,
    _server: Option<Arc<Server>>,
}

impl Moto {
    /// The server's address, for processes that reach it themselves (`AWS_ENDPOINT_URL`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// billsync's SDK configuration for this server.
    pub async fn sdk_config(&self) -> SdkConfig {
        on_local(super::sdk_loader(), &self.endpoint).load().await
    }
}

/// `loader` pointed at a local AWS-API server, with fixed dummy credentials and region, so
/// parallel tests and benchmark processes never touch the process environment.
pub fn on_local(loader: ConfigLoader, endpoint: &str) -> ConfigLoader {
    loader
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "local"))
}

/// The moto server for this test: `AWS_ENDPOINT_URL` when set, else one started here.
pub fn server() -> Moto {
    if let Some(endpoint) = std::env::var("AWS_ENDPOINT_URL")
        .ok()
        .filter(|e| !e.is_empty())
    {
        return Moto {
            endpoint,
            _server: None,
        };
    }
    let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    let server = shared.upgrade().unwrap_or_else(|| {
        let started = Arc::new(Server::start());
        *shared = Arc::downgrade(&started);
        started
    });
    Moto {
        endpoint: server.endpoint.clone(),
        _server: Some(server),
    }
}

/// A name no other test (or earlier run against the same server) uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{:016x}", rand::random::<u64>())
}

struct Server {
    endpoint: String,
    child: Child,
    log: PathBuf,
}

/// A moto server of its own, started by `script` (a Python file that runs `moto.server`'s
/// `main` with the arguments it is given, after setting moto up), never shared and never taken
/// from `AWS_ENDPOINT_URL`. The benchmark starts its tuned moto this way.
pub fn dedicated(script: &std::path::Path) -> Moto {
    let script = script.to_string_lossy().into_owned();
    let server = Server::start_with(&[script.as_str()]);
    Moto {
        endpoint: server.endpoint.clone(),
        _server: Some(Arc::new(server)),
    }
}

impl Server {
    /// moto with DynamoDB's and SQS's atomicity (see the script), as the test command runs it.
    fn start() -> Server {
        Self::start_with(&[concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../scripts/moto_atomic.py"
        )])
    }

    /// `python3 <launch...> -H 127.0.0.1 -p <free port>`.
    fn start_with(launch: &[&str]) -> Server {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = free_port();
            let log = std::env::temp_dir()
                .join(format!("billsync-moto-{}-{port}.log", std::process::id()));
            // The request log goes to a file: a pipe nobody reads would stall moto once full.
            let out = File::create(&log).expect("create the moto log file");
            let err = out.try_clone().expect("share the moto log file");
            let mut child = Command::new("python3")
                .args(launch)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot run python3 to start moto ({e}). Install Python 3 and \
                         `pip install 'moto[server]'`, run ./scripts/test.sh (which does both), \
                         or set AWS_ENDPOINT_URL to a running moto server"
                    )
                });
            if wait_until_listening(&mut child, port) {
                return Server {
                    endpoint: format!("http://127.0.0.1:{port}"),
                    child,
                    log,
                };
            }
            let output = std::fs::read_to_string(&log).unwrap_or_default();
            let _ = std::fs::remove_file(&log);
            // Another process may have taken the port between probing and binding.
            if output.contains("Address already in use") && attempt < 3 {
                continue;
            }
            let tail: String = output.lines().rev().take(20).collect::<Vec<_>>().join("\n");
            if output.contains("No module named") {
                panic!(
                    "moto is not installed for python3: run `pip install 'moto[server]'` \
                     (./scripts/test.sh installs it) or set AWS_ENDPOINT_URL to a running moto \
                     server.\n{tail}"
                );
            }
            panic!("the moto server did not start on port {port}:\n{tail}");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Exactly the child started above, by its PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// True once moto accepts connections; false if it exited. Panics (after killing it) when it
/// neither listens nor exits in time.
fn wait_until_listening(child: &mut Child, port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return false;
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the moto server did not answer on port {port} within {}s",
                START_TIMEOUT.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
