//! Test helpers: a small OAuth 1.0a HMAC-SHA256 signer written for the tests (not shared with
//! the simulator), and an HTTP/1.1 client over a raw socket, so a test can also see a
//! connection that closes without any response.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use netsuite_sim::{NetSuiteSim, SimConfig};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn enc(s: &str) -> String {
    utf8_percent_encode(s, RFC3986).to_string()
}

/// Knobs to produce wrong signatures on purpose.
#[derive(Clone, Default)]
pub struct SignOpts {
    pub realm: Option<String>,
    pub signature_method: Option<String>,
    pub consumer_secret: Option<String>,
    pub nonce: Option<String>,
    pub timestamp: Option<i64>,
    pub omit_header: bool,
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

fn fresh_nonce() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("n{nanos:09}x{n:08}")
}

/// Builds the `Authorization` header for one request.
pub fn authorization(
    cfg: &SimConfig,
    method: &str,
    host: &str,
    path: &str,
    query: Option<&str>,
    opts: &SignOpts,
) -> String {
    let nonce = opts.nonce.clone().unwrap_or_else(fresh_nonce);
    let timestamp = opts.timestamp.unwrap_or_else(now).to_string();
    let signature_method = opts
        .signature_method
        .clone()
        .unwrap_or_else(|| "HMAC-SHA256".into());
    let oauth = vec![
        ("oauth_consumer_key".to_string(), cfg.consumer_key.clone()),
        ("oauth_nonce".to_string(), nonce),
        ("oauth_signature_method".to_string(), signature_method),
        ("oauth_timestamp".to_string(), timestamp),
        ("oauth_token".to_string(), cfg.token_id.clone()),
        ("oauth_version".to_string(), "1.0".to_string()),
    ];
    let mut params: Vec<(String, String)> = oauth.iter().map(|(k, v)| (enc(k), enc(v))).collect();
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        params.push((enc(&k), enc(&v)));
    }
    params.sort();
    let joined: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let base = format!(
        "{}&{}&{}",
        method,
        enc(&format!("http://{}{}", host.to_lowercase(), path)),
        enc(&joined.join("&"))
    );
    let consumer_secret = opts
        .consumer_secret
        .clone()
        .unwrap_or_else(|| cfg.consumer_secret.clone());
    let key = format!("{}&{}", enc(&consumer_secret), enc(&cfg.token_secret));
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(base.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let realm = opts.realm.clone().unwrap_or_else(|| cfg.account_id.clone());
    let mut header = format!("OAuth realm=\"{realm}\"");
    for (k, v) in &oauth {
        header.push_str(&format!(", {k}=\"{}\"", enc(v)));
    }
    header.push_str(&format!(", oauth_signature=\"{}\"", enc(&signature)));
    header
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first error detail of a NetSuite error body: (code, detail).
    pub fn error(&self) -> (String, String) {
        let v = self.json();
        let d = &v["o:errorDetails"][0];
        (
            d["o:errorCode"].as_str().unwrap_or_default().to_string(),
            d["detail"].as_str().unwrap_or_default().to_string(),
        )
    }

    /// The internal id at the end of the `Location` header.
    pub fn location_id(&self) -> String {
        let loc = self.header("location").expect("no Location header");
        loc.rsplit('/').next().unwrap().to_string()
    }
}

/// Sends one request on a fresh connection and reads until the server closes it.
pub async fn raw(
    host: &str,
    method: &str,
    target: &str,
    headers: &[(&str, String)],
    body: Option<&[u8]>,
) -> std::io::Result<Resp> {
    let mut stream = TcpStream::connect(host).await?;
    let body = body.unwrap_or_default();
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await?;
    if buf.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "connection closed without a response",
        ));
    }
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response has no header end");
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("bad status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok(Resp {
        status,
        headers,
        body: buf[split + 4..].to_vec(),
    })
}

/// A signed REST client for one simulator.
#[derive(Clone)]
pub struct Client {
    pub sim: NetSuiteSim,
    pub host: String,
}

impl Client {
    pub fn new(sim: &NetSuiteSim) -> Client {
        Client {
            sim: sim.clone(),
            host: sim.base_url().trim_start_matches("http://").to_string(),
        }
    }

    /// `target` is the path below `/services/rest`, with an optional query string.
    pub async fn try_send(
        &self,
        method: &str,
        target: &str,
        body: Option<Value>,
        opts: &SignOpts,
    ) -> std::io::Result<Resp> {
        let full = format!("/services/rest{target}");
        let (path, query) = match full.split_once('?') {
            Some((p, q)) => (p.to_string(), Some(q.to_string())),
            None => (full.clone(), None),
        };
        let mut headers = vec![("Prefer", "transient".to_string())];
        if !opts.omit_header {
            let auth = authorization(
                &self.sim.config(),
                method,
                &self.host,
                &path,
                query.as_deref(),
                opts,
            );
            headers.push(("Authorization", auth));
        }
        let bytes = body.map(|b| b.to_string().into_bytes());
        raw(&self.host, method, &full, &headers, bytes.as_deref()).await
    }

    pub async fn send_with(
        &self,
        method: &str,
        target: &str,
        body: Option<Value>,
        opts: &SignOpts,
    ) -> Resp {
        self.try_send(method, target, body, opts)
            .await
            .unwrap_or_else(|e| panic!("{method} {target} failed: {e}"))
    }

    pub async fn send(&self, method: &str, target: &str, body: Option<Value>) -> Resp {
        self.send_with(method, target, body, &SignOpts::default())
            .await
    }

    pub async fn get(&self, target: &str) -> Resp {
        self.send("GET", target, None).await
    }

    pub async fn post(&self, target: &str, body: Value) -> Resp {
        self.send("POST", target, Some(body)).await
    }

    pub async fn patch(&self, target: &str, body: Value) -> Resp {
        self.send("PATCH", target, Some(body)).await
    }

    pub async fn put(&self, target: &str, body: Value) -> Resp {
        self.send("PUT", target, Some(body)).await
    }

    pub async fn delete(&self, target: &str) -> Resp {
        self.send("DELETE", target, None).await
    }

    pub async fn suiteql(&self, q: &str, paging: &str) -> Resp {
        self.post(&format!("/query/v1/suiteql{paging}"), json!({ "q": q }))
            .await
    }

    /// Creates a record and returns its id, failing the test on anything but 204.
    pub async fn create(&self, record_type: &str, body: Value) -> String {
        let r = self.post(&format!("/record/v1/{record_type}"), body).await;
        assert_eq!(r.status, 204, "create {record_type}: {}", r.text());
        r.location_id()
    }

    /// Reads a record with its sublists expanded.
    pub async fn read(&self, record_type: &str, id: &str) -> Value {
        let r = self
            .get(&format!(
                "/record/v1/{record_type}/{id}?expandSubResources=true"
            ))
            .await;
        assert_eq!(r.status, 200, "get {record_type} {id}: {}", r.text());
        r.json()
    }
}

/// Ids of the reference data most tests need.
pub struct Basics {
    pub subsidiary: String,
    pub department: String,
    pub bank: String,
    pub service: String,
    pub inventory: String,
    pub discount: String,
    pub tax: String,
    pub customer: String,
}

pub async fn start() -> (NetSuiteSim, Client) {
    start_with(SimConfig::default()).await
}

pub async fn start_with(config: SimConfig) -> (NetSuiteSim, Client) {
    let sim = NetSuiteSim::start(config).await.expect("simulator starts");
    let client = Client::new(&sim);
    (sim, client)
}

/// A simulator with a subsidiary, a department, items and one customer.
pub async fn start_with_basics() -> (NetSuiteSim, Client, Basics) {
    let (sim, client) = start().await;
    let subsidiary = sim.seed("subsidiary", json!({"name": "Parent Company"}));
    let department = sim.seed("department", json!({"name": "Sales"}));
    let usd = sim.seed("currency", json!({"name": "USD"}));
    let bank = sim.seed("account", json!({"acctNumber": "1000", "acctName": "Bank"}));
    let service = sim.seed(
        "serviceSaleItem",
        json!({"itemId": "Subscription", "externalId": "SKU-SUB"}),
    );
    let inventory = sim.seed(
        "inventoryItem",
        json!({"itemId": "Token", "externalId": "SKU-TOKEN"}),
    );
    let discount = sim.seed(
        "discountItem",
        json!({"itemId": "Advanced Billing Discount"}),
    );
    let tax = sim.seed("nonInventorySaleItem", json!({"itemId": "Sales Tax"}));
    let customer = sim.seed(
        "customer",
        json!({"companyName": "Acme Corp", "externalId": "CUST-ACME", "email": "billing@acme.test",
               "subsidiary": {"id": subsidiary}, "currency": {"id": usd}}),
    );
    let basics = Basics {
        subsidiary,
        department,
        bank,
        service,
        inventory,
        discount,
        tax,
        customer,
    };
    (sim, client, basics)
}

/// The sales order of the exactness test: 3 x 19.99, a 5.00 discount, 1.23 tax.
pub fn order_body(b: &Basics) -> Value {
    json!({
        "entity": {"id": b.customer},
        "tranDate": "2026-01-31",
        "otherRefNum": "PO-77",
        "memo": "January subscription",
        "custbody_billing_id": "sub_123",
        "department": {"id": b.department},
        "item": {"items": [
            {"item": {"id": b.service}, "quantity": 3, "rate": 19.99, "description": "Seats", "custcol_period": "2026-01"},
            {"item": {"id": b.discount}, "rate": -5.00},
            {"item": {"id": b.tax}, "amount": 1.23}
        ]}
    })
}
