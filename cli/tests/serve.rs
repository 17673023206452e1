//! `billsync serve` answers a signed webhook and the invoice appears in NetSuite.

use std::sync::Arc;
use std::time::Duration;

use billing_sim::{BillingSim, NewCustomer, NewInvoice, NewLine, NewProduct, WebhookEvent};
use billsync::secrets::{parse_secret, StaticSecrets};
use billsync::service::Services;
use billsync::settings::TenantSettings;
use billsync::store::prelude::*;
use billsync::store::sqlite::SqliteStore;
use netsuite_sim::{NetSuiteSim, SimConfig};
use rust_decimal::Decimal;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_webhook_becomes_netsuite_records() {
    serve_syncs_a_signed_webhook(None).await;
}

/// The same with the tenant's NetSuite login by OAuth 2.0 M2M: one token serves the sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_webhook_becomes_netsuite_records_over_oauth2() {
    let key = netsuite_sim::keys::TestKeyPair::ec_p256();
    let ns = serve_syncs_a_signed_webhook(Some(&key)).await;
    assert_eq!(ns.stats().token_requests, 1);
}

async fn serve_syncs_a_signed_webhook(
    m2m: Option<&netsuite_sim::keys::TestKeyPair>,
) -> NetSuiteSim {
    let ns = NetSuiteSim::start(SimConfig {
        m2m: m2m
            .map(|k| netsuite_sim::M2mMapping::new("serve-client", "serve-cert", &k.public_pem)),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let demo = ns.seed_demo();
    let bill = BillingSim::start(billing_sim::SimConfig::default())
        .await
        .unwrap();
    let (store, outbox) = SqliteStore::in_memory().unwrap().with_outbox();
    store
        .put_settings(
            &TenantSettings::from_value(&json!({
                "tenant": "acme", "source": "maxio", "site": "acme-demo", "sync_start_date": "2025-01-01",
                "items": {"setup_default": {"id": demo.item_services, "type": "service"},
                          "tax_item": {"id": demo.item_sales_tax, "type": "non_inventory"}, "discount_item": demo.item_discount},
                "payments": {"payment_instruments": true}, "refunds": {"account": demo.account_bank},
                "transactions": {"subsidiary": demo.subsidiary}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let mut secret = billsync_cli::demo::simulator_secret(&ns, &bill);
    secret["netsuite"] =
        billsync_cli::demo::simulator_netsuite_secret(&ns, m2m.map(|k| k.private_pem.as_str()));
    let secret = parse_secret(&secret.to_string()).unwrap();
    let services = Services::new(
        Arc::new(store),
        Arc::new(outbox.clone()),
        Arc::new(StaticSecrets::default().with("acme", secret)),
    );
    let server = billsync_cli::serve::start(
        services,
        outbox,
        "127.0.0.1:0".parse().unwrap(),
        Duration::from_secs(7200),
    )
    .await
    .unwrap();

    let product = bill.add_product(NewProduct {
        name: "Plan".into(),
        handle: "plan".into(),
        price: Decimal::TEN,
        ..Default::default()
    });
    let customer = bill.add_customer(NewCustomer {
        first_name: "Ada".into(),
        last_name: "L".into(),
        email: "ada@example.com".into(),
        ..Default::default()
    });
    let uid = bill.issue_invoice(NewInvoice {
        lines: vec![NewLine::Setup {
            product_id: product,
            amount: Decimal::new(125, 0),
        }],
        ..NewInvoice::new(
            customer,
            chrono::NaiveDate::from_ymd_opt(2026, 1, 5).unwrap(),
        )
    });
    let url = format!("http://{}/webhooks/acme/maxio", server.addr);
    let status = bill
        .send_webhook(
            &url,
            WebhookEvent::InvoiceIssued {
                invoice_uid: uid.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(status.as_u16(), 200);

    let mut waited = Duration::ZERO;
    while ns.records("invoice").is_empty() && waited < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    }
    let invoices = ns.records("invoice");
    assert_eq!(invoices.len(), 1, "the invoice reached NetSuite");
    assert_eq!(invoices[0]["custbody_billsync_invoice_uid"], uid.as_str());

    // A forged delivery is refused at the door.
    let forged = reqwest_free_post(&server.addr, b"id=1&event=invoice_issued").await;
    assert!(forged.starts_with("HTTP/1.1 401"), "{forged}");
    server.stop().await;
    ns
}

/// A raw HTTP POST without a signature header, read back as text.
async fn reqwest_free_post(addr: &std::net::SocketAddr, body: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /webhooks/acme/maxio HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

/// Slow or stalled clients cannot hold `serve`: headers and bodies have deadlines, connections
/// beyond the cap are closed at once, and `/health` answers again once the slow ones are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_and_the_server_keeps_answering() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    let (store, outbox) = SqliteStore::in_memory().unwrap().with_outbox();
    let services = Services::new(
        Arc::new(store),
        Arc::new(outbox.clone()),
        Arc::new(StaticSecrets::default()),
    );
    let limits = billsync_cli::serve::Limits {
        header_timeout: Duration::from_millis(800),
        body_timeout: Duration::from_millis(800),
        max_connections: 20,
    };
    let server = billsync_cli::serve::start_with(
        services,
        outbox,
        "127.0.0.1:0".parse().unwrap(),
        Duration::from_secs(7200),
        limits,
    )
    .await
    .unwrap();
    let addr = server.addr;
    // Reads until the server closes (Ok with what came) or `within` passes (Err).
    async fn read_all(s: &mut TcpStream, within: Duration) -> Result<String, ()> {
        let mut got = Vec::new();
        match tokio::time::timeout(within, s.read_to_end(&mut got)).await {
            Ok(_) => Ok(String::from_utf8_lossy(&got).into_owned()),
            Err(_) => Err(()),
        }
    }
    async fn health(addr: std::net::SocketAddr) -> Result<String, ()> {
        let mut s = TcpStream::connect(addr).await.map_err(|_| ())?;
        s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .map_err(|_| ())?;
        read_all(&mut s, Duration::from_secs(5)).await
    }

    // Twenty clients that never finish their headers fill the cap.
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"POST /webhooks/acme/maxio HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        slow.push(s);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Past the cap: closed at once, not left hanging.
    let started = std::time::Instant::now();
    let refused = health(addr).await;
    assert!(
        refused.as_deref().is_ok_and(|r| !r.contains("200 OK")),
        "{refused:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    // The header deadline closes every slow client.
    for s in &mut slow {
        assert!(
            read_all(s, Duration::from_secs(5)).await.is_ok(),
            "a slow client was kept"
        );
    }
    let ok = health(addr).await.unwrap();
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");

    // A body that stalls short of its length: 408, and the connection is freed.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST /webhooks/acme/maxio HTTP/1.1\r\nHost: x\r\nContent-Length: 400000\r\n\r\n0123456789")
        .await
        .unwrap();
    let answer = read_all(&mut s, Duration::from_secs(5)).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    server.stop().await;
}
