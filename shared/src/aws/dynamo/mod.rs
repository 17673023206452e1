//! The store on DynamoDB: one table, keyed `pk` / `sk`.
//!
//! | `pk` | `sk` | attributes |
//! | --- | --- | --- |
//! | `TENANT#<t>` | `CONFIG` | `doc` (settings JSON); listed in the index under `TENANTS` |
//! | `TENANT#<t>` | `CUSTOMER#<billing id>` | `link` (JSON) |
//! | `TENANT#<t>` | `INVOICE#<uid>` | `state` (JSON), `version` (N), `status`, `updated_at` |
//! | `TENANT#<t>` | `CURSOR#<name>` | `value` |
//! | `TENANT#<t>` | `WEBHOOK#<delivery id>` | `expires_at` (N, epoch seconds, the table's TTL) |
//! | `GOV#<account id>` | `SLOT#<n>` | NetSuite concurrency slot leases ([`super::governor`]) |
//!
//! One sparse global secondary index, [`LIST_INDEX`], holds only what needs listing:
//! - unsettled flows (pending, awaiting fulfilment, parked, error) under
//!   `TENANT#<t>#STATUS#<status>`, sorted by `<updated_at>#<uid>`. Settled flows (synced,
//!   skipped) carry no index attributes, so the index stays as small as the backlog instead of
//!   growing with every invoice ever synced;
//! - every tenant's `CONFIG` item under the single partition `TENANTS`, sorted by tenant, so
//!   listing tenants is one small Query rather than a Scan of the whole table.
//!
//! Index reads are eventually consistent: on AWS a write usually shows up in those listings
//! within a second. Everything that decides (reading a flow before advancing it) reads the base
//! table strongly consistently, and every flow write is conditional on the version read.

mod flows;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{BuildError, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, IndexStatus,
    KeySchemaElement, KeyType, KeysAndAttributes, Projection, ProjectionType, Put,
    ScalarAttributeType, TableStatus, TimeToLiveSpecification, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, SecondsFormat, Utc};

use crate::error::Unavailable;
use crate::flow::state::{FlowState, FlowStatus, Versioned};
use crate::settings::{ItemRef, TenantSettings};
use crate::store::{
    CursorStore, CustomerLink, DeliveryStore, FlowSave, FlowStore, LinkStore, ManyRead, StoreError,
    StoreResult, TenantStore,
};

// The table's schema; `template.yaml` declares exactly these.

/// Partition key (S).
pub const PARTITION_KEY: &str = "pk";
/// Sort key (S).
pub const SORT_KEY: &str = "sk";
/// The sparse listing index (unsettled flows by status, tenants).
pub const LIST_INDEX: &str = "gsi1";
/// The listing index's partition key (S).
pub const LIST_INDEX_PARTITION_KEY: &str = "gsi1pk";
/// The listing index's sort key (S).
pub const LIST_INDEX_SORT_KEY: &str = "gsi1sk";
/// The listing index copies whole items: a listing then needs no second read per flow, and the
/// index holds only the backlog and the tenants, so the copy is small.
pub const LIST_INDEX_PROJECTION: &str = "ALL";
/// The TTL attribute (N, epoch seconds) on webhook delivery items.
pub const TTL_ATTRIBUTE: &str = "expires_at";

// Item attributes. Every expression names them through placeholders, since several (`status`,
// `state`, `value`) are DynamoDB reserved words.

/// The settings document on a `CONFIG` item (JSON string).
pub const DOCUMENT: &str = "doc";
/// A customer link (JSON string).
pub const LINK: &str = "link";
/// A flow state (JSON string).
pub const STATE: &str = "state";
/// A flow's version (N), the condition of every flow write.
pub const VERSION: &str = "version";
/// A flow's status (S), as `FlowStatus::as_str`.
pub const STATUS: &str = "status";
/// When a flow last changed (S, RFC 3339 UTC with nanoseconds: sorts as it reads).
pub const UPDATED_AT: &str = "updated_at";
/// A sweep cursor's value (S).
pub const CURSOR_VALUE: &str = "value";

const TENANT_PREFIX: &str = "TENANT#";
const CONFIG: &str = "CONFIG";
const CUSTOMER_PREFIX: &str = "CUSTOMER#";
const ITEM_PREFIX: &str = "ITEM#";
const INVOICE_PREFIX: &str = "INVOICE#";
const CURSOR_PREFIX: &str = "CURSOR#";
/// The partition of a tenant's webhook deliveries and arrival note: apart from the tenant's
/// own (`TENANT#`), so the webhook function's role can be limited to it by a
/// `dynamodb:LeadingKeys` condition (template.yaml).
pub const WEBHOOK_PARTITION_PREFIX: &str = "WEBHOOK#";
const DELIVERY_PREFIX: &str = "DELIVERY#";
const LAST_WEBHOOK: &str = "LAST-ARRIVAL";
/// The index partition every `CONFIG` item is listed under.
const TENANTS: &str = "TENANTS";

/// BatchGetItem takes at most this many keys per call.
const BATCH_GET_MAX: usize = 100;
/// Calls per chunk of keys, the first included, while DynamoDB leaves some unprocessed.
const BATCH_GET_ROUNDS: u32 = 3;
/// The pause before asking again for unprocessed keys, times the round.
const BATCH_GET_BACKOFF: Duration = Duration::from_millis(50);

/// TransactWriteItems takes at most this many items per call.
const TRANSACT_MAX: usize = 100;
/// Calls per chunk of flow saves, the first included, while DynamoDB cancels the transaction
/// for some of its items.
const TRANSACT_ROUNDS: u32 = 3;

/// How long [`create_table`] waits for a new table to become active.
const CREATE_TIMEOUT: Duration = Duration::from_secs(300);

type Item = HashMap<String, AttributeValue>;

/// A DynamoDB-backed [`Store`](crate::store::Store) on one table laid out as described in this module.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    async fn get(&self, pk: String, sk: String) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }

    async fn put(&self, item: Item) -> StoreResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map(drop)
            .map_err(unavailable)
    }

    /// Up to `limit` items of one listing-index partition, in sort-key order.
    async fn listed(&self, partition: String, limit: Option<usize>) -> StoreResult<Vec<Item>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let remaining = limit.map(|l| l - items.len());
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(LIST_INDEX)
                .key_condition_expression("#lpk = :lpk")
                .expression_attribute_names("#lpk", LIST_INDEX_PARTITION_KEY)
                .expression_attribute_values(":lpk", s(partition.clone()))
                .scan_index_forward(true)
                .set_limit(remaining.map(|r| i32::try_from(r).unwrap_or(i32::MAX)))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            items.extend(out.items.unwrap_or_default());
            let full = limit.is_some_and(|l| items.len() >= l);
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() && !full => start = Some(k),
                _ => break,
            }
        }
        if let Some(l) = limit {
            items.truncate(l);
        }
        Ok(items)
    }
}

/// Creates the table as `template.yaml` declares it (on-demand, the sparse listing index, TTL on
/// [`TTL_ATTRIBUTE`]) and waits until it is active. Fails if the table already exists, so it
/// never quietly accepts a table of another shape.
pub async fn create_table(client: &Client, name: &str) -> StoreResult<()> {
    let string_attribute = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    let key_element = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
    };
    let index = GlobalSecondaryIndex::builder()
        .index_name(LIST_INDEX)
        .key_schema(built(key_element(LIST_INDEX_PARTITION_KEY, KeyType::Hash))?)
        .key_schema(built(key_element(LIST_INDEX_SORT_KEY, KeyType::Range))?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::from(LIST_INDEX_PROJECTION))
                .build(),
        )
        .build();
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(built(string_attribute(PARTITION_KEY))?)
        .attribute_definitions(built(string_attribute(SORT_KEY))?)
        .attribute_definitions(built(string_attribute(LIST_INDEX_PARTITION_KEY))?)
        .attribute_definitions(built(string_attribute(LIST_INDEX_SORT_KEY))?)
        .key_schema(built(key_element(PARTITION_KEY, KeyType::Hash))?)
        .key_schema(built(key_element(SORT_KEY, KeyType::Range))?)
        .global_secondary_indexes(built(index)?)
        .send()
        .await
        .map_err(unavailable)?;
    wait_until_active(client, name).await?;
    // TTL can only be switched on once the table exists.
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(built(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(TTL_ATTRIBUTE)
                .build(),
        )?)
        .send()
        .await
        .map(drop)
        .map_err(unavailable)
}

async fn wait_until_active(client: &Client, name: &str) -> StoreResult<()> {
    let deadline = tokio::time::Instant::now() + CREATE_TIMEOUT;
    loop {
        let out = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(unavailable)?;
        if let Some(table) = out.table {
            let indexes_active = table
                .global_secondary_indexes()
                .iter()
                .all(|i| i.index_status() == Some(&IndexStatus::Active));
            if table.table_status() == Some(&TableStatus::Active) && indexes_active {
                return Ok(());
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(StoreError::Unavailable(Unavailable::new(format!(
                "table {name} is not active after {}s",
                CREATE_TIMEOUT.as_secs()
            ))));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[async_trait]
impl TenantStore for DynamoStore {
    async fn settings(&self, tenant: &str) -> StoreResult<Option<TenantSettings>> {
        let Some(item) = self.get(tenant_pk(tenant), CONFIG.to_owned()).await? else {
            return Ok(None);
        };
        let doc = string(&item, DOCUMENT, "settings")?;
        TenantSettings::from_json(doc)
            .map(Some)
            .map_err(|e| corrupt("settings", e))
    }

    async fn put_settings(&self, settings: &TenantSettings) -> StoreResult<()> {
        let mut item = key(tenant_pk(&settings.tenant), CONFIG.to_owned());
        item.insert(DOCUMENT.into(), s(settings.to_document().to_string()));
        item.insert(LIST_INDEX_PARTITION_KEY.into(), s(TENANTS));
        item.insert(LIST_INDEX_SORT_KEY.into(), s(settings.tenant.clone()));
        self.put(item).await
    }

    /// One Query of the listing index's `TENANTS` partition (see the module docs).
    async fn tenants(&self) -> StoreResult<Vec<String>> {
        self.listed(TENANTS.to_owned(), None)
            .await?
            .iter()
            .map(|item| string(item, LIST_INDEX_SORT_KEY, "tenant listing").map(str::to_owned))
            .collect()
    }
}

#[async_trait]
impl LinkStore for DynamoStore {
    async fn customer(&self, tenant: &str, billing_id: &str) -> StoreResult<Option<CustomerLink>> {
        let sk = format!("{CUSTOMER_PREFIX}{billing_id}");
        let Some(item) = self.get(tenant_pk(tenant), sk).await? else {
            return Ok(None);
        };
        decode_link(&item).map(Some)
    }

    async fn put_customer(
        &self,
        tenant: &str,
        billing_id: &str,
        link: &CustomerLink,
    ) -> StoreResult<()> {
        let mut item = key(tenant_pk(tenant), format!("{CUSTOMER_PREFIX}{billing_id}"));
        item.insert(LINK.into(), s(encode(link)?));
        self.put(item).await
    }

    async fn item_link(&self, tenant: &str, entry_id: &str) -> StoreResult<Option<ItemRef>> {
        let sk = format!("{ITEM_PREFIX}{entry_id}");
        let Some(item) = self.get(tenant_pk(tenant), sk).await? else {
            return Ok(None);
        };
        decode("item link", string(&item, LINK, "item link")?).map(Some)
    }

    async fn put_item_link(&self, tenant: &str, entry_id: &str, link: &ItemRef) -> StoreResult<()> {
        let mut item = key(tenant_pk(tenant), format!("{ITEM_PREFIX}{entry_id}"));
        item.insert(LINK.into(), s(encode(link)?));
        self.put(item).await
    }
}

#[async_trait]
impl CursorStore for DynamoStore {
    async fn cursor(&self, tenant: &str, name: &str) -> StoreResult<Option<String>> {
        let sk = format!("{CURSOR_PREFIX}{name}");
        let Some(item) = self.get(tenant_pk(tenant), sk).await? else {
            return Ok(None);
        };
        string(&item, CURSOR_VALUE, "cursor").map(|v| Some(v.to_owned()))
    }

    async fn put_cursor(&self, tenant: &str, name: &str, value: &str) -> StoreResult<()> {
        let mut item = key(tenant_pk(tenant), format!("{CURSOR_PREFIX}{name}"));
        item.insert(CURSOR_VALUE.into(), s(value));
        self.put(item).await
    }
}

#[async_trait]
impl DeliveryStore for DynamoStore {
    async fn forget_delivery(&self, tenant: &str, delivery_id: &str) -> StoreResult<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(
                webhook_pk(tenant),
                format!("{DELIVERY_PREFIX}{delivery_id}"),
            )))
            .send()
            .await
            .map(drop)
            .map_err(unavailable)
    }

    /// DynamoDB deletes expired items lazily (often days later), so the condition treats an
    /// item whose `expires_at` has passed as absent. An entry expiring this very second counts
    /// as expired, as in the embedded store.
    async fn first_delivery(
        &self,
        tenant: &str,
        delivery_id: &str,
        ttl: Duration,
    ) -> StoreResult<bool> {
        let now = Utc::now().timestamp();
        let expires = now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX));
        let mut item = key(
            webhook_pk(tenant),
            format!("{DELIVERY_PREFIX}{delivery_id}"),
        );
        item.insert(TTL_ATTRIBUTE.into(), AttributeValue::N(expires.to_string()));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk) OR #expires <= :now")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_names("#expires", TTL_ATTRIBUTE)
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) => match e.as_service_error() {
                Some(se) if se.is_conditional_check_failed_exception() => Ok(false),
                _ => Err(unavailable(e)),
            },
        }
    }

    async fn note_webhook(&self, tenant: &str, at: &str) -> StoreResult<()> {
        let mut item = key(webhook_pk(tenant), LAST_WEBHOOK.into());
        item.insert(CURSOR_VALUE.into(), s(at));
        self.put(item).await
    }

    async fn last_webhook(&self, tenant: &str) -> StoreResult<Option<String>> {
        let Some(item) = self.get(webhook_pk(tenant), LAST_WEBHOOK.into()).await? else {
            return Ok(None);
        };
        Ok(Some(
            string(&item, CURSOR_VALUE, "webhook note")?.to_owned(),
        ))
    }
}

fn tenant_pk(tenant: &str) -> String {
    format!("{TENANT_PREFIX}{tenant}")
}

fn webhook_pk(tenant: &str) -> String {
    format!("{WEBHOOK_PARTITION_PREFIX}{tenant}")
}

/// Fixed width, so the text order of index sort keys is the time order.
fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn key(pk: String, sk: String) -> Item {
    HashMap::from([
        (PARTITION_KEY.to_owned(), AttributeValue::S(pk)),
        (SORT_KEY.to_owned(), AttributeValue::S(sk)),
    ])
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn string<'a>(item: &'a Item, name: &str, what: &str) -> StoreResult<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        _ => Err(corrupt(what, format!("no string attribute {name}"))),
    }
}

fn decode_flow(item: &Item) -> StoreResult<Versioned<FlowState>> {
    let version = match item.get(VERSION) {
        Some(AttributeValue::N(v)) => v.parse().map_err(|e| corrupt("flow version", e))?,
        _ => return Err(corrupt("flow state", "no numeric version")),
    };
    Ok(Versioned {
        value: decode("flow state", string(item, STATE, "flow state")?)?,
        version,
    })
}

fn decode_link(item: &Item) -> StoreResult<CustomerLink> {
    decode("customer link", string(item, LINK, "customer link")?)
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| corrupt(what, e))
}

fn encode<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| corrupt("record to write", e))
}

/// `conflict` when DynamoDB refused a write on its condition, else the store unavailable.
fn refused<E, R>(e: SdkError<E, R>, conflict: StoreError) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if e.as_service_error().and_then(ProvideErrorMetadata::code)
        == Some("ConditionalCheckFailedException")
    {
        conflict
    } else {
        unavailable(e)
    }
}

fn corrupt(what: &str, message: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        what: what.to_owned(),
        message: message.to_string(),
    }
}

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Unavailable(super::unavailable(e))
}

fn built<T>(r: Result<T, BuildError>) -> StoreResult<T> {
    r.map_err(|e| StoreError::Unavailable(Unavailable::caused_by("table definition", e)))
}
