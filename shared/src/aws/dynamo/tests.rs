use std::sync::Arc;

use aws_sdk_dynamodb::types::TimeToLiveStatus;
use chrono::TimeZone;

use super::*;
use crate::aws::moto;
use crate::billing::model::Source;

struct Fixture {
    _moto: moto::Moto,
    client: Client,
    store: DynamoStore,
}

async fn fixture() -> Fixture {
    let moto = moto::server();
    let client = Client::new(&moto.sdk_config().await);
    let table = moto::unique("billsync-test");
    create_table(&client, &table).await.unwrap();
    Fixture {
        _moto: moto,
        store: DynamoStore::new(client.clone(), table),
        client,
    }
}

impl Fixture {
    async fn raw(&self, pk: &str, sk: &str) -> Item {
        self.client
            .get_item()
            .table_name(self.store.table())
            .set_key(Some(key(pk.into(), sk.into())))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .expect("the item exists")
    }

    /// Every item in one partition of the listing index, read directly.
    async fn index_partition(&self, partition: &str) -> Vec<Item> {
        self.client
            .query()
            .table_name(self.store.table())
            .index_name(LIST_INDEX)
            .key_condition_expression("#lpk = :lpk")
            .expression_attribute_names("#lpk", LIST_INDEX_PARTITION_KEY)
            .expression_attribute_values(":lpk", s(partition))
            .send()
            .await
            .unwrap()
            .items
            .unwrap_or_default()
    }
}

fn flow(uid: &str, minute: u32, status: FlowStatus) -> FlowState {
    let at = Utc.with_ymd_and_hms(2026, 1, 31, 10, minute, 0).unwrap();
    let mut state = FlowState::new(Source::Maxio, uid, at);
    state.status = status;
    state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_conformance_suite() {
    let f = fixture().await;
    crate::store::conformance::run(&f.store).await;
    crate::store::conformance::run_concurrent(Arc::new(f.store.clone())).await;
}

#[tokio::test]
async fn the_table_is_created_as_designed() {
    let f = fixture().await;
    let table = f
        .client
        .describe_table()
        .table_name(f.store.table())
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let keys = |schema: &[KeySchemaElement]| -> Vec<(String, KeyType)> {
        schema
            .iter()
            .map(|k| (k.attribute_name().to_owned(), k.key_type().clone()))
            .collect()
    };
    assert_eq!(
        keys(table.key_schema()),
        [
            (PARTITION_KEY.to_owned(), KeyType::Hash),
            (SORT_KEY.to_owned(), KeyType::Range)
        ]
    );
    assert_eq!(
        table.billing_mode_summary().and_then(|b| b.billing_mode()),
        Some(&BillingMode::PayPerRequest)
    );
    let [index] = table.global_secondary_indexes() else {
        panic!("one global secondary index");
    };
    assert_eq!(index.index_name(), Some(LIST_INDEX));
    assert_eq!(
        keys(index.key_schema()),
        [
            (LIST_INDEX_PARTITION_KEY.to_owned(), KeyType::Hash),
            (LIST_INDEX_SORT_KEY.to_owned(), KeyType::Range)
        ]
    );
    assert_eq!(
        index.projection().and_then(|p| p.projection_type()),
        Some(&ProjectionType::All)
    );
    let ttl = f
        .client
        .describe_time_to_live()
        .table_name(f.store.table())
        .send()
        .await
        .unwrap()
        .time_to_live_description
        .unwrap();
    assert_eq!(ttl.attribute_name(), Some(TTL_ATTRIBUTE));
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
    assert!(
        create_table(&f.client, f.store.table()).await.is_err(),
        "an existing table is never taken over"
    );
}

#[tokio::test]
async fn settled_flows_leave_the_listing_index() {
    let f = fixture().await;
    let t = moto::unique("acme");
    let pk = tenant_pk(&t);
    let store = &f.store;

    let mut state = flow("inv_1", 0, FlowStatus::Error);
    let v1 = store.save_flow(&t, &state, None).await.unwrap();
    let item = f.raw(&pk, "INVOICE#inv_1").await;
    assert_eq!(
        item.get(LIST_INDEX_PARTITION_KEY),
        Some(&s(format!("TENANT#{t}#STATUS#error")))
    );
    assert_eq!(
        item.get(LIST_INDEX_SORT_KEY),
        Some(&s("2026-01-31T10:00:00.000000000Z#inv_1"))
    );
    assert_eq!(item.get(VERSION), Some(&n(1)));
    assert_eq!(item.get(STATUS), Some(&s("error")));

    // Error -> pending moves the flow between index partitions.
    state.status = FlowStatus::Pending;
    state.updated_at = Utc.with_ymd_and_hms(2026, 1, 31, 11, 0, 0).unwrap();
    let v2 = store.save_flow(&t, &state, Some(v1)).await.unwrap();
    let listed = |status| store.flows_with_status(&t, status, 10);
    assert!(listed(FlowStatus::Error).await.unwrap().is_empty());
    assert_eq!(listed(FlowStatus::Pending).await.unwrap().len(), 1);

    // Pending -> synced removes the index attributes altogether.
    state.status = FlowStatus::Synced;
    store.save_flow(&t, &state, Some(v2)).await.unwrap();
    let item = f.raw(&pk, "INVOICE#inv_1").await;
    assert!(!item.contains_key(LIST_INDEX_PARTITION_KEY), "{item:?}");
    assert!(!item.contains_key(LIST_INDEX_SORT_KEY), "{item:?}");
    assert_eq!(item.get(STATUS), Some(&s("synced")));
    assert!(listed(FlowStatus::Pending).await.unwrap().is_empty());
    for status in ["pending", "error"] {
        let partition = format!("TENANT#{t}#STATUS#{status}");
        assert!(f.index_partition(&partition).await.is_empty());
    }
    // Synced flows are still listed, from the base table.
    let synced = listed(FlowStatus::Synced).await.unwrap();
    assert_eq!(synced.len(), 1);
    assert_eq!(synced[0].version, 3);
    assert_eq!(synced[0].value, state);

    // A flow saved as skipped is never indexed.
    store
        .save_flow(&t, &flow("inv_2", 1, FlowStatus::Skipped), None)
        .await
        .unwrap();
    assert!(!f
        .raw(&pk, "INVOICE#inv_2")
        .await
        .contains_key(LIST_INDEX_PARTITION_KEY));
}

#[tokio::test]
async fn listings_are_oldest_first_and_limited() {
    let f = fixture().await;
    let t = moto::unique("acme");
    // Saved newest first, so the order comes from the index, not from insertion.
    for i in (0..25u32).rev() {
        let state = flow(&format!("inv_{i:02}"), i, FlowStatus::Parked);
        f.store.save_flow(&t, &state, None).await.unwrap();
    }
    for i in 0..5u32 {
        let state = flow(&format!("done_{i}"), 30 + i, FlowStatus::Synced);
        f.store.save_flow(&t, &state, None).await.unwrap();
    }
    let parked = f
        .store
        .flows_with_status(&t, FlowStatus::Parked, 7)
        .await
        .unwrap();
    let uids: Vec<_> = parked
        .iter()
        .map(|v| v.value.invoice_uid.as_str())
        .collect();
    assert_eq!(
        uids,
        ["inv_00", "inv_01", "inv_02", "inv_03", "inv_04", "inv_05", "inv_06"]
    );
    let synced = f
        .store
        .flows_with_status(&t, FlowStatus::Synced, 2)
        .await
        .unwrap();
    let uids: Vec<_> = synced
        .iter()
        .map(|v| v.value.invoice_uid.as_str())
        .collect();
    assert_eq!(uids, ["done_0", "done_1"]);
    assert!(f
        .store
        .flows_with_status(&t, FlowStatus::Parked, 0)
        .await
        .unwrap()
        .is_empty());
    let counts = f.store.flow_counts(&t).await.unwrap();
    assert!(counts.contains(&(FlowStatus::Parked, 25)));
    assert!(counts.contains(&(FlowStatus::Synced, 5)));
    assert!(counts.contains(&(FlowStatus::Error, 0)));
}

#[tokio::test]
async fn an_expired_delivery_not_yet_deleted_counts_as_new() {
    let f = fixture().await;
    let t = moto::unique("acme");
    let day = Duration::from_secs(86_400);
    assert!(f.store.first_delivery(&t, "d-1", day).await.unwrap());
    // In the webhook partition, never the tenant's own.
    let item = f.raw(&webhook_pk(&t), "DELIVERY#d-1").await;
    let Some(AttributeValue::N(expires)) = item.get(TTL_ATTRIBUTE) else {
        panic!("a numeric TTL attribute: {item:?}");
    };
    let expires: i64 = expires.parse().unwrap();
    assert!((expires - Utc::now().timestamp() - 86_400).abs() < 60);

    // DynamoDB may keep an expired item for days; it must not count as a repeat.
    let mut stale = key(webhook_pk(&t), "DELIVERY#d-2".into());
    let past = Utc::now().timestamp() - 3_600;
    stale.insert(TTL_ATTRIBUTE.into(), AttributeValue::N(past.to_string()));
    f.store.put(stale).await.unwrap();
    assert!(f.store.first_delivery(&t, "d-2", day).await.unwrap());
    assert!(!f.store.first_delivery(&t, "d-2", day).await.unwrap());

    // A forgotten delivery is new again; forgetting an unknown one is fine.
    f.store.forget_delivery(&t, "d-2").await.unwrap();
    assert!(f.store.first_delivery(&t, "d-2", day).await.unwrap());
    f.store.forget_delivery(&t, "never-seen").await.unwrap();
}

#[tokio::test]
async fn tenants_come_from_the_index() {
    let f = fixture().await;
    let settings = |tenant: &str| {
        TenantSettings::from_value(&serde_json::json!({
            "tenant": tenant, "source": "maxio", "site": "acme-demo",
            "sync_start_date": "2026-01-01",
            "items": {"tax_item": {"id": "100", "type": "non_inventory"},
                      "discount_item": "101"},
            "payments": {"payment_instruments": true},
            "refunds": {"account": "9"}
        }))
        .unwrap()
    };
    for t in ["globex", "acme", "initech"] {
        f.store.put_settings(&settings(t)).await.unwrap();
    }
    // Saving again does not list a tenant twice.
    f.store.put_settings(&settings("acme")).await.unwrap();
    assert_eq!(
        f.store.tenants().await.unwrap(),
        ["acme", "globex", "initech"]
    );
}

#[tokio::test]
async fn an_unreachable_table_is_unavailable() {
    let f = fixture().await;
    let gone = DynamoStore::new(f.client.clone(), moto::unique("missing"));
    let Err(StoreError::Unavailable(e)) = gone.cursor("acme", "events").await else {
        panic!("a missing table must answer unavailable");
    };
    // DynamoDB's own error stays reachable as the source, not only as text.
    let cause = std::error::Error::source(&e).expect("the SDK error");
    type GetFailure = aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::get_item::GetItemError,
        aws_sdk_dynamodb::config::http::HttpResponse,
    >;
    let sdk = cause.downcast_ref::<GetFailure>().expect("GetItem's error");
    assert!(sdk
        .as_service_error()
        .is_some_and(|s| s.is_resource_not_found_exception()));
}

/// The `Table` resource of template.yaml as (path, fields) entries: a flow mapping
/// (`- { A: x, B: y }` or `Key: { A: x }`) or a scalar (`Key: value`, as field `Key`), each under
/// the path of the keys that enclose it. Enough YAML for the table's declaration, no more.
fn template_table() -> Vec<(String, std::collections::BTreeMap<String, String>)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml"))
        .expect("template.yaml beside the crate");
    let start = text.find("\n  Table:\n").expect("a Table resource") + 1;
    let mut out = Vec::new();
    let mut stack: Vec<(usize, String)> = Vec::new();
    let flow = |s: &str| -> std::collections::BTreeMap<String, String> {
        s.trim_matches(|c| c == '{' || c == '}' || c == ' ')
            .split(',')
            .filter_map(|kv| kv.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect()
    };
    for (n, line) in text[start..].lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut indent = line.len() - trimmed.len();
        if n > 0 && indent <= 2 {
            break;
        }
        let mut content = trimmed;
        if let Some(rest) = content.strip_prefix("- ") {
            indent += 2;
            content = rest;
        }
        stack.retain(|(i, _)| *i < indent);
        let path = stack
            .iter()
            .map(|(_, k)| k.as_str())
            .collect::<Vec<_>>()
            .join("/");
        if content.starts_with('{') {
            out.push((path, flow(content)));
            continue;
        }
        let Some((key, value)) = content.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if value.starts_with('{') {
            out.push((format!("{path}/{key}"), flow(value)));
        } else if !value.is_empty() {
            out.push((path, [(key.to_owned(), value.to_owned())].into()));
        }
        stack.push((indent, key.to_owned()));
    }
    out
}

/// The table template.yaml deploys has the keys, index and TTL attribute this adapter reads
/// and writes (the layout is stated in both places; this keeps them one).
#[test]
fn template_yaml_declares_the_adapters_table() {
    let entries = template_table();
    let under = |path: &str| -> Vec<&std::collections::BTreeMap<String, String>> {
        entries
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, m)| m)
            .collect()
    };
    let field = |path: &str, key: &str| -> Option<String> {
        under(path).iter().find_map(|m| m.get(key).cloned())
    };
    let keys = |path: &str| -> Vec<(String, String)> {
        under(path)
            .iter()
            .filter_map(|m| Some((m.get("AttributeName")?.clone(), m.get("KeyType")?.clone())))
            .collect()
    };
    let props = "Table/Properties";
    assert_eq!(
        field(props, "BillingMode").as_deref(),
        Some("PAY_PER_REQUEST")
    );
    let mut defined: Vec<(String, String)> = under(&format!("{props}/AttributeDefinitions"))
        .iter()
        .filter_map(|m| {
            Some((
                m.get("AttributeName")?.clone(),
                m.get("AttributeType")?.clone(),
            ))
        })
        .collect();
    defined.sort();
    let mut expected: Vec<(String, String)> = [
        PARTITION_KEY,
        SORT_KEY,
        LIST_INDEX_PARTITION_KEY,
        LIST_INDEX_SORT_KEY,
    ]
    .iter()
    .map(|a| (a.to_string(), "S".to_owned()))
    .collect();
    expected.sort();
    assert_eq!(defined, expected);
    let hash_range = |h: &str, r: &str| vec![(h.into(), "HASH".into()), (r.into(), "RANGE".into())];
    assert_eq!(
        keys(&format!("{props}/KeySchema")),
        hash_range(PARTITION_KEY, SORT_KEY)
    );
    let index = format!("{props}/GlobalSecondaryIndexes");
    assert_eq!(field(&index, "IndexName").as_deref(), Some(LIST_INDEX));
    assert_eq!(
        keys(&format!("{index}/KeySchema")),
        hash_range(LIST_INDEX_PARTITION_KEY, LIST_INDEX_SORT_KEY)
    );
    assert_eq!(
        field(&format!("{index}/Projection"), "ProjectionType").as_deref(),
        Some(LIST_INDEX_PROJECTION)
    );
    let ttl = format!("{props}/TimeToLiveSpecification");
    assert_eq!(field(&ttl, "AttributeName").as_deref(), Some(TTL_ATTRIBUTE));
    assert_eq!(field(&ttl, "Enabled").as_deref(), Some("true"));
}
