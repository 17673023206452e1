//! The Lambda handlers on the AWS adapters: DynamoDB, SQS FIFO and Secrets Manager served by a
//! moto server on loopback (the test command starts it), with both simulators behind. A signed
//! webhook goes through the real queue and ends as NetSuite records.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::sqs::SqsEvent;
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use base64::Engine as _;
use billing_sim::{BillingSim, NewCustomer, NewInvoice, NewLine, NewProduct, WebhookEvent};
use billsync::aws::moto;
use billsync::aws::{create_table, AwsSettings};
use billsync::billing::model::Source;
use billsync::flow::state::FlowStatus;
use billsync::queue::{Reason, SyncMessage};
use billsync::service::Services;
use billsync::settings::TenantSettings;
use netsuite_sim::{Fault, NetSuiteSim, SimConfig};
use rust_decimal_macros::dec;
use serde_json::{json, Value};

/// The IAM actions that authorize the AWS calls a function's clients sent, and what they
/// touched: the secrets read and the table partitions (`pk`) written or read.
#[derive(Clone, Debug, Default)]
struct Actions(Arc<Mutex<BTreeSet<String>>>, Arc<Mutex<Touched>>);

#[derive(Clone, Debug, Default)]
struct Touched {
    secrets: BTreeSet<String>,
    partitions: BTreeSet<String>,
    /// DynamoDB calls that named no partition key (a scan, an index query).
    unkeyed: BTreeSet<String>,
}

impl Actions {
    fn take(&self) -> BTreeSet<String> {
        std::mem::take(&mut *self.1.lock().unwrap_or_else(PoisonError::into_inner));
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn take_touched(&self) -> Touched {
        std::mem::take(&mut *self.1.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Every `"pk": {"S": value}` in a DynamoDB request body.
fn partition_keys(body: &Value, out: &mut Vec<String>) {
    match body {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v.get("S").and_then(Value::as_str)) {
                    ("pk", Some(pk)) => out.push(pk.to_owned()),
                    _ => partition_keys(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| partition_keys(v, out)),
        _ => {}
    }
}

impl Intercept for Actions {
    fn name(&self) -> &'static str {
        "Actions"
    }

    // DynamoDB, SQS and Secrets Manager all name the operation in `X-Amz-Target`.
    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let target = request.headers().get("x-amz-target").unwrap_or_default();
        let (prefix, op) = target.split_once('.').unwrap_or(("", target));
        let service = match prefix {
            p if p.starts_with("DynamoDB") => "dynamodb",
            "AmazonSQS" => "sqs",
            p => p,
        };
        let body: Value =
            serde_json::from_slice(request.body().bytes().unwrap_or_default()).unwrap_or_default();
        {
            let mut touched = self.1.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(id) = body["SecretId"].as_str() {
                touched.secrets.insert(id.to_owned());
            }
            if service == "dynamodb" {
                let mut keys = Vec::new();
                partition_keys(&body, &mut keys);
                if keys.is_empty() {
                    touched.unkeyed.insert(op.to_owned());
                }
                touched.partitions.extend(keys);
            }
        }
        let mut actions = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if op == "TransactWriteItems" {
            // Authorized as the actions it carries.
            for item in body["TransactItems"].as_array().into_iter().flatten() {
                for kind in item.as_object().into_iter().flat_map(|o| o.keys()) {
                    let action = match kind.as_str() {
                        "ConditionCheck" => "ConditionCheckItem".to_owned(),
                        other => format!("{other}Item"),
                    };
                    actions.insert(format!("dynamodb:{action}"));
                }
            }
        } else {
            // SQS's batch calls are authorized as their single action.
            let op = match service {
                "sqs" => op.strip_suffix("Batch").unwrap_or(op),
                _ => op,
            };
            actions.insert(format!("{service}:{op}"));
        }
        Ok(())
    }
}

/// The actions `template.yaml` grants the role `function` (its `Action: [...]` lists).
fn policy_actions(function: &str) -> BTreeSet<String> {
    let granted: BTreeSet<String> = resource_lines(function)
        .iter()
        .filter_map(|line| line.strip_prefix("Action: ["))
        .flat_map(|list| {
            list.trim_end_matches(']')
                .split(',')
                .map(|a| a.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(!granted.is_empty(), "no policy found for {function}");
    granted
}

/// The lines of the block of resource `name` in template.yaml.
fn resource_lines(name: &str) -> Vec<String> {
    let path = format!("{}/../../template.yaml", env!("CARGO_MANIFEST_DIR"));
    let template = std::fs::read_to_string(path).unwrap();
    let mut inside = false;
    let mut lines = Vec::new();
    for line in template.lines() {
        // A resource: two spaces in, under `Resources:`.
        if line.len() > 2 && line.starts_with("  ") && !line[2..].starts_with(' ') {
            inside = line.trim() == format!("{name}:");
            continue;
        }
        if inside {
            lines.push(line.trim().to_owned());
        }
    }
    lines
}

/// The webhook role reaches only what its template statements confine it to: table
/// partitions matching its `dynamodb:LeadingKeys` patterns, secrets under its
/// `secret:${SecretPrefix}<path>*` resource. Both must have been touched, so a confinement
/// nobody exercised does not pass.
#[track_caller]
fn assert_confined(role: &str, touched: &Touched, prefix: &str) {
    let lines = resource_lines(role);
    let leading: Vec<String> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("dynamodb:LeadingKeys:"))
        .flat_map(|list| {
            list.trim()
                .trim_matches(|c| c == '[' || c == ']')
                .split(',')
                .map(|p| p.trim().trim_matches('"').trim_end_matches('*').to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        !leading.is_empty(),
        "{role} has no dynamodb:LeadingKeys condition"
    );
    assert!(
        !touched.partitions.is_empty(),
        "{role}: no partition touched"
    );
    for pk in &touched.partitions {
        assert!(
            leading.iter().any(|p| pk.starts_with(p.as_str())),
            "{role} touched partition {pk}, outside {leading:?}"
        );
    }
    assert!(
        touched.unkeyed.is_empty(),
        "{role} made calls no key condition can confine: {:?}",
        touched.unkeyed
    );
    let paths: Vec<String> = lines
        .iter()
        .filter_map(|l| {
            l.split_once("secret:${SecretPrefix}")
                .map(|(_, p)| p.trim_end_matches('*').to_owned())
        })
        .collect();
    assert!(!touched.secrets.is_empty(), "{role}: no secret read");
    for id in &touched.secrets {
        assert!(
            paths
                .iter()
                .any(|p| id.starts_with(&format!("{prefix}{p}"))),
            "{role} read secret {id}, outside {paths:?} under {prefix}"
        );
    }
}

#[track_caller]
fn assert_allowed(function: &str, used: &BTreeSet<String>) {
    let granted = policy_actions(function);
    let missing: Vec<&String> = used.difference(&granted).collect();
    assert!(
        missing.is_empty(),
        "{function} called {missing:?}, which its policy in template.yaml does not grant (it grants {granted:?})"
    );
}

struct Aws {
    _moto: moto::Moto,
    /// The secret prefix the functions are configured with.
    prefix: String,
    secrets: aws_sdk_secretsmanager::Client,
    /// Every AWS call of `services`, as IAM actions.
    actions: Actions,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    services: Services,
    ns: NetSuiteSim,
    bill: BillingSim,
}

fn event(name: &str) -> Value {
    let path = format!("{}/../../infra/events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn aws() -> Aws {
    aws_with(None).await
}

/// The functions' AWS world; with a key, the tenant's secret logs in to NetSuite by OAuth 2.0
/// M2M and the simulator maps the key's public half.
async fn aws_with(m2m: Option<&netsuite_sim::keys::TestKeyPair>) -> Aws {
    let moto = moto::server();
    let config = moto.sdk_config().await;
    let table = moto::unique("billsync");
    create_table(&aws_sdk_dynamodb::Client::new(&config), &table)
        .await
        .unwrap();
    let sqs = aws_sdk_sqs::Client::new(&config);
    let fifo = |name: &'static str| {
        let sqs = sqs.clone();
        async move {
            sqs.create_queue()
                .queue_name(format!("{}.fifo", moto::unique(name)))
                .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
                .send()
                .await
                .unwrap()
                .queue_url
                .unwrap()
        }
    };
    // As deployed: live work's queue, which feeds the worker, and bulk work's.
    let queue_url = fifo("invoices").await;
    let bulk_queue_url = fifo("invoices-bulk").await;
    let prefix = format!("{}/", moto::unique("billsync"));

    let ns = NetSuiteSim::start(SimConfig {
        m2m: m2m.map(|k| netsuite_sim::M2mMapping::new("aws-client", "aws-cert", &k.public_pem)),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let demo = ns.seed_demo();
    let bill = BillingSim::start(billing_sim::SimConfig::default())
        .await
        .unwrap();
    let (nc, bc) = (ns.config(), bill.config());
    let netsuite = match m2m {
        Some(k) => json!({"account_id": nc.account_id, "auth": "m2m", "client_id": "aws-client",
                          "certificate_id": "aws-cert", "private_key": k.private_pem,
                          "base_url": ns.base_url()}),
        None => json!({"account_id": nc.account_id, "consumer_key": nc.consumer_key,
                       "consumer_secret": nc.consumer_secret, "token_id": nc.token_id,
                       "token_secret": nc.token_secret, "base_url": ns.base_url()}),
    };
    // Two secrets, as deployed: the API credentials, and apart from them the webhook key.
    let secrets = aws_sdk_secretsmanager::Client::new(&config);
    secrets
        .create_secret()
        .name(format!("{prefix}acme"))
        .secret_string(
            json!({
                "netsuite": netsuite,
                "billing": {"api_key": bc.api_key, "base_url": bill.base_url()}
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    secrets
        .create_secret()
        .name(format!("{prefix}webhook/acme"))
        .secret_string(json!({"webhook_key": bc.shared_key}).to_string())
        .send()
        .await
        .unwrap();
    let settings = AwsSettings {
        table_name: table,
        queue_url: queue_url.clone(),
        bulk_queue_url: bulk_queue_url.clone(),
        secret_prefix: prefix.clone(),
        worker_instances: 1,
    };
    let actions = Actions::default();
    let services = settings.services(billsync::aws::AwsClients {
        dynamodb: aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&config)
                .interceptor(actions.clone())
                .build(),
        ),
        sqs: aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&config)
                .interceptor(actions.clone())
                .build(),
        ),
        secretsmanager: aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::config::Builder::from(&config)
                .interceptor(actions.clone())
                .build(),
        ),
    });
    let tenant = TenantSettings::from_value(&json!({
        "tenant": "acme", "source": "maxio", "site": "acme-demo", "sync_start_date": "2025-01-01",
        "items": {
            "setup_default": {"id": demo.item_services, "type": "service"},
            "tax_item": {"id": demo.item_sales_tax, "type": "non_inventory"},
            "discount_item": demo.item_discount
        },
        "payments": {"payment_instruments": true},
        "refunds": {"account": demo.account_bank},
        "transactions": {"subsidiary": demo.subsidiary}
    }))
    .unwrap();
    services.store.put_settings(&tenant).await.unwrap();
    actions.take();
    Aws {
        _moto: moto,
        prefix,
        secrets,
        actions,
        sqs,
        queue_url,
        services,
        ns,
        bill,
    }
}

impl Aws {
    fn invoice(&self) -> String {
        let product = self.bill.add_product(NewProduct {
            name: "Plan".into(),
            handle: "plan".into(),
            price: dec!(10),
            ..Default::default()
        });
        let customer = self.bill.add_customer(NewCustomer {
            first_name: "A".into(),
            last_name: "B".into(),
            email: "a@example.com".into(),
            ..Default::default()
        });
        self.bill.issue_invoice(NewInvoice {
            lines: vec![NewLine::Setup {
                product_id: product,
                amount: dec!(42.5),
            }],
            ..NewInvoice::new(
                customer,
                chrono::NaiveDate::from_ymd_opt(2026, 1, 5).unwrap(),
            )
        })
    }

    /// What the queue holds now, as the SQS event Lambda would deliver.
    async fn receive(&self) -> SqsEvent {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let mut batch = event("worker-batch.json");
        let template = batch["Records"][0].clone();
        batch["Records"] = Value::Array(
            out.messages()
                .iter()
                .map(|m| {
                    let mut r = template.clone();
                    r["messageId"] = json!(m.message_id());
                    r["body"] = json!(m.body());
                    r["receiptHandle"] = json!(m.receipt_handle());
                    r
                })
                .collect(),
        );
        serde_json::from_value(batch).unwrap()
    }

    /// Whether the invoice's flow ran and stopped on a failure that may pass by itself.
    async fn failed_for_now(&self, uid: &str) -> bool {
        let flow = self.services.store.flow("acme", uid).await.unwrap();
        flow.and_then(|f| f.value.last_error)
            .is_some_and(|e| e.retryable)
    }

    fn webhook(&self, body: &[u8], sig: &str, id: &str) -> ApiGatewayV2httpRequest {
        let mut raw = event("webhook-maxio.json");
        raw["body"] = json!(base64::engine::general_purpose::STANDARD.encode(body));
        raw["headers"]["x-chargify-webhook-signature-hmac-sha-256"] = json!(sig);
        raw["headers"]["x-chargify-webhook-id"] = json!(id);
        serde_json::from_value(raw).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_webhook_ends_as_netsuite_records_and_a_forged_one_queues_nothing() {
    webhook_to_netsuite_records(&aws().await).await;
}

/// The same with the tenant's secret in Secrets Manager holding OAuth 2.0 M2M credentials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_functions_log_in_to_netsuite_by_oauth2_from_the_tenant_secret() {
    let key = netsuite_sim::keys::TestKeyPair::ec_p256();
    let env = aws_with(Some(&key)).await;
    webhook_to_netsuite_records(&env).await;
    assert_eq!(env.ns.stats().token_requests, 1);
}

async fn webhook_to_netsuite_records(env: &Aws) {
    let uid = env.invoice();
    let (id, body, sig) = env.bill.webhook_body(&WebhookEvent::InvoiceIssued {
        invoice_uid: uid.clone(),
    });

    let forged = env.webhook(&body, &"0".repeat(64), "forged-1");
    assert_eq!(
        billsync_webhook::handle(&env.services, forged)
            .await
            .status_code,
        401
    );
    assert!(
        env.receive().await.records.is_empty(),
        "nothing queued for a bad signature"
    );

    let r =
        billsync_webhook::handle(&env.services, env.webhook(&body, &sig, &id.to_string())).await;
    assert_eq!(r.status_code, 200);
    let again =
        billsync_webhook::handle(&env.services, env.webhook(&body, &sig, &id.to_string())).await;
    assert_eq!(again.status_code, 200, "a redelivery is acknowledged");

    let batch = env.receive().await;
    assert_eq!(batch.records.len(), 1, "one message for one delivery");
    let failures = billsync_worker::handle(&env.services, batch, deadline())
        .await
        .batch_item_failures;
    assert!(failures.is_empty());
    let orders = env.ns.records("salesOrder");
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0]["custbody_billsync_invoice_uid"], uid.as_str());
    assert_eq!(env.ns.records("invoice").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_a_poisoned_and_a_retryable_message_reports_only_the_retryable() {
    let env = aws().await;
    let uid = env.invoice();
    env.ns.add_fault(Fault::ServerError { remaining: 1000 });
    let mut batch = event("worker-batch.json");
    let template = batch["Records"][0].clone();
    let mut poison = template.clone();
    poison["messageId"] = json!("poison");
    poison["body"] = json!("{\"tenant\":");
    let mut retryable = template;
    retryable["messageId"] = json!("retryable");
    retryable["body"] = json!(json!({"tenant": "acme", "source": "maxio", "invoice_id": uid, "reason": "webhook", "dedup_id": "x"}).to_string());
    batch["Records"] = json!([poison, retryable]);
    let failures = billsync_worker::handle(
        &env.services,
        serde_json::from_value(batch).unwrap(),
        deadline(),
    )
    .await
    .batch_item_failures;
    let ids: Vec<_> = failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(ids, ["retryable"]);
    assert!(env.failed_for_now(&uid).await);
}

fn message(uid: &str) -> SyncMessage {
    SyncMessage::invoice(
        "acme",
        Source::Maxio,
        uid,
        Reason::Webhook,
        format!("d-{uid}"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invocation_takes_the_rest_of_the_queue_until_its_margin() {
    let env = aws().await;
    let uids: Vec<String> = (0..23).map(|_| env.invoice()).collect();
    let messages: Vec<SyncMessage> = uids.iter().map(|u| message(u)).collect();
    env.services.queue.send(&messages).await.unwrap();

    // Past its margin already: the invocation runs its own batch and takes nothing more.
    let batch = env.receive().await;
    assert_eq!(batch.records.len(), 10);
    let r = billsync_worker::handle(&env.services, batch, tokio::time::Instant::now()).await;
    assert!(r.batch_item_failures.is_empty());
    assert_eq!(env.ns.records("salesOrder").len(), 10);

    // With time left it takes the other 13 itself, syncs them and deletes them.
    let batch = env.receive().await;
    assert_eq!(batch.records.len(), 10);
    let r = billsync_worker::handle(&env.services, batch, deadline()).await;
    assert!(r.batch_item_failures.is_empty());
    assert_eq!(env.ns.records("salesOrder").len(), 23);
    assert_eq!(
        env.ns.records("customerPayment").len(),
        0,
        "unpaid invoices"
    );
    assert!(
        env.receive().await.records.is_empty(),
        "what it took is deleted (the batch's own messages are Lambda's to delete)"
    );
    // Flows of one group saved together (TransactWriteItems): each is in the table, synced,
    // and a second run of each finds nothing to do.
    for uid in &uids {
        let flow = env.services.store.flow("acme", uid).await.unwrap().unwrap();
        assert_eq!(flow.value.status, FlowStatus::Synced, "{uid}");
        assert!(flow.value.sales_order_id.is_some(), "{uid}");
    }
    // Not the same deduplication ids: a FIFO queue would drop those as repeats.
    let again: Vec<SyncMessage> = uids
        .iter()
        .map(|u| SyncMessage {
            dedup_id: format!("again-{u}"),
            ..message(u)
        })
        .collect();
    env.services.queue.send(&again).await.unwrap();
    let batch = env.receive().await;
    assert!(!batch.records.is_empty());
    let r = billsync_worker::handle(&env.services, batch, deadline()).await;
    assert!(r.batch_item_failures.is_empty());
    assert_eq!(env.ns.records("salesOrder").len(), 23, "nothing made twice");
    assert!(env.receive().await.records.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_message_that_fails_for_now_comes_back_from_the_queue() {
    let env = aws().await;
    env.sqs
        .set_queue_attributes()
        .queue_url(&env.queue_url)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "2",
        )
        .send()
        .await
        .unwrap();
    let uid = env.invoice();
    env.ns.add_fault(Fault::ServerError { remaining: 1000 });
    env.services.queue.send(&[message(&uid)]).await.unwrap();
    let empty: SqsEvent = serde_json::from_value(json!({"Records": []})).unwrap();
    let started = std::time::Instant::now();
    let r = billsync_worker::handle(&env.services, empty, deadline()).await;
    assert!(r.batch_item_failures.is_empty());
    assert!(env.failed_for_now(&uid).await, "the taken message ran");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "after a failure that may pass, the invocation takes nothing more and returns"
    );
    // The account failed in a row, so the message was handed back for the account's hold
    // (a visibility change), not for the queue's two seconds.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert!(
        env.receive().await.records.is_empty(),
        "handed back for the hold"
    );
    let back =
        started + billsync::netsuite::outage::FIRST_HOLD + std::time::Duration::from_secs(20);
    let again = loop {
        let got = env.receive().await;
        if !got.records.is_empty() || std::time::Instant::now() > back {
            break got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    assert_eq!(again.records.len(), 1, "left in the queue, delivered again");
    assert!(again.records[0]
        .body
        .as_deref()
        .unwrap_or_default()
        .contains(&uid));
}

/// A worker invocation's deadline, as Lambda gives it with the template's 120 s timeout.
fn deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + std::time::Duration::from_secs(120)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_aws_call_a_function_makes_is_granted_by_its_policy() {
    let env = aws().await;
    let uids: Vec<String> = (0..4).map(|_| env.invoice()).collect();

    for uid in &uids {
        let (id, body, sig) = env.bill.webhook_body(&WebhookEvent::InvoiceIssued {
            invoice_uid: uid.clone(),
        });
        let r = billsync_webhook::handle(&env.services, env.webhook(&body, &sig, &id.to_string()))
            .await;
        assert_eq!(r.status_code, 200);
    }
    let touched = env.actions.take_touched();
    assert_allowed("WebhookRole", &env.actions.take());
    assert_confined("WebhookRole", &touched, &env.prefix);

    // A group of invoices read and saved together, slots leased, the rest taken and deleted.
    let batch = env.receive().await;
    assert!(batch.records.len() > 1);
    let r = billsync_worker::handle(&env.services, batch, deadline()).await;
    assert!(r.batch_item_failures.is_empty());
    assert_eq!(env.ns.records("salesOrder").len(), 4);
    let used = env.actions.take();
    for call in [
        "dynamodb:BatchGetItem",
        "dynamodb:UpdateItem",
        "sqs:ReceiveMessage",
    ] {
        assert!(
            used.contains(call),
            "the worker's run made no {call}: {used:?}"
        );
    }
    assert_allowed("WorkerRole", &used);

    let swept = billsync_sweep::handle(&env.services, json!({"tenant": "acme"})).await;
    assert!(swept.is_ok(), "{swept:?}");
    billsync_sweep::handle(&env.services, event("sweep-scheduled.json"))
        .await
        .unwrap();
    assert_allowed("SweepRole", &env.actions.take());

    for name in ["retry-list.json", "retry-all-failed.json"] {
        let request = serde_json::from_value(event(name)).unwrap();
        billsync_retry::handle(&env.services, request)
            .await
            .unwrap();
    }
    assert_allowed("RetryRole", &env.actions.take());
}

/// `billsync tenant check --aws`: the preflight of a deployed tenant, with the secret read from
/// Secrets Manager; a wrong NetSuite secret there is named as a refused login, and a passing
/// check resumes the tenant's pause kept in the table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preflight_checks_a_deployed_tenant_with_its_stored_secret() {
    use billsync::service::preflight::{check_tenant, CheckOptions};
    let aws = aws().await;
    let product = aws.bill.add_product(NewProduct {
        name: "Plan".into(),
        handle: "plan".into(),
        price: dec!(10),
        ..Default::default()
    });
    let settings = aws.services.settings("acme").await.unwrap();
    let options = CheckOptions {
        today: chrono::Utc::now().date_naive(),
        webhook_base: "https://api.example/webhooks",
        resume: true,
    };
    let check = check_tenant(&aws.services, &settings, &options)
        .await
        .unwrap();
    assert!(check.passed > 20, "{check:#?}");
    let errors: Vec<_> = check
        .findings
        .iter()
        .filter(|f| f.severity == billsync::netsuite::preflight::Severity::Error)
        .collect();
    // The only gap in this tenant's settings: the billing product no mapping names.
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].subject, format!("items.products.{product}"));
    assert!(
        check
            .findings
            .iter()
            .any(|f| f.fix.contains("https://api.example/webhooks/acme/maxio")),
        "the webhook URL to register: {check:#?}"
    );
    assert!(aws.actions.take().contains("secretsmanager:GetSecretValue"));

    // Paused (as a refused login would), the tenant is resumed only by a clean check.
    let entry = billsync::flow::state::ErrorEntry {
        step: "customer".into(),
        code: Some("INVALID_LOGIN".into()),
        detail: "Invalid login attempt.".into(),
        cause: "NetSuite refused the login.".into(),
        fix: "Correct the secret.".into(),
        retryable: false,
        since: chrono::Utc::now(),
    };
    aws.services.pause_tenant("acme", &entry).await.unwrap();
    let check = check_tenant(&aws.services, &settings, &options)
        .await
        .unwrap();
    assert!(check.resumed.is_none(), "errors remain: no resume");
    let mut fixed = settings.clone();
    fixed.items.products.insert(
        product.to_string(),
        settings.items.setup_default.clone().unwrap(),
    );
    let check = check_tenant(&aws.services, &fixed, &options).await.unwrap();
    assert!(check.resumed.is_some(), "{check:#?}");
    assert!(aws.services.pause("acme").await.unwrap().is_none());

    // A tenant deployed with its main secret only: every webhook would be refused, and the
    // check names the secret to create and what it must hold.
    let main = aws
        .secrets
        .get_secret_value()
        .secret_id(format!("{}acme", aws.prefix))
        .send()
        .await
        .unwrap();
    aws.secrets
        .create_secret()
        .name(format!("{}globex", aws.prefix))
        .secret_string(main.secret_string().unwrap())
        .send()
        .await
        .unwrap();
    let mut globex = fixed.clone();
    globex.tenant = "globex".into();
    let check = check_tenant(&aws.services, &globex, &options)
        .await
        .unwrap();
    let missing: Vec<_> = check
        .findings
        .iter()
        .filter(|f| f.subject == "webhook secret")
        .collect();
    assert_eq!(missing.len(), 1, "{check:#?}");
    let name = format!("{}webhook/globex", aws.prefix);
    assert!(
        missing[0].problem.contains(&name) && missing[0].problem.contains("401"),
        "{missing:#?}"
    );
    assert!(
        missing[0].fix.contains(r#"{"webhook_key": "..."}"#),
        "{missing:#?}"
    );
}

/// A backfill's messages wait in the bulk queue, which no event source watches: the wake it
/// sends on the live queue starts a worker, which takes the whole backlog from the bulk queue
/// with what its pool has left, and nothing waits in either queue afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_woken_worker_drains_the_bulk_queue() {
    let env = aws().await;
    let uids: Vec<String> = (0..12).map(|_| env.invoice()).collect();
    let backlog: Vec<SyncMessage> = uids.iter().map(|u| message(u).bulk()).collect();
    env.services.queue.send(&backlog).await.unwrap();
    env.services.queue.wake_bulk().await.unwrap();
    // The event source hands the worker the wake, from the live queue.
    let batch = env.receive().await;
    assert_eq!(batch.records.len(), 1, "only the wake is on the live queue");
    let r = billsync_worker::handle(&env.services, batch, deadline()).await;
    assert!(r.batch_item_failures.is_empty());
    for uid in &uids {
        let flow = env.services.store.flow("acme", uid).await.unwrap().unwrap();
        assert_eq!(flow.value.status, FlowStatus::Synced, "{uid}");
    }
    assert_eq!(env.ns.records("salesOrder").len(), 12);
    assert!(env.receive().await.records.is_empty());
    let depth = env.services.queue.depth().await.unwrap().unwrap();
    assert_eq!(depth.waiting, 0, "{depth:?}");
}
