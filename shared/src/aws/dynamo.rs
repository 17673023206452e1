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

use super::describe;
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
const WEBHOOK_PREFIX: &str = "WEBHOOK#";
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

/// What a read of a tenant's whole invoice partition returns.
#[derive(Clone, Copy)]
enum InvoiceRead {
    /// Whole items, of flows in this status.
    InStatus(FlowStatus),
    /// Only the status attribute, of every flow.
    StatusOnly,
}

/// A DynamoDB-backed [`Store`](crate::store::Store) on one table laid out as described in this module.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

/// Creating a flow: only where none exists.
const CREATE_CONDITION: &str = "attribute_not_exists(#pk)";
/// Advancing a flow: only from the version read. On a missing item `version` is absent, so
/// the condition fails as a conflict too.
const ADVANCE_CONDITION: &str = "#version = :expected";

/// One flow save as DynamoDB takes it, for UpdateItem/PutItem or a transaction alike.
struct FlowWrite {
    /// `(tenant, uid)`: one item, which a transaction may name only once.
    uid_key: (String, String),
    expected: Option<u64>,
    next: u64,
    op: WriteOp,
}

enum WriteOp {
    /// A new flow's whole item.
    Create(Item),
    Advance(FlowUpdate),
}

struct FlowUpdate {
    key: Item,
    expression: &'static str,
    names: HashMap<String, String>,
    values: Item,
}

impl FlowWrite {
    fn new(tenant: &str, state: &FlowState, expected: Option<u64>) -> StoreResult<Self> {
        let uid = &state.invoice_uid;
        let (pk, sk) = (tenant_pk(tenant), format!("{INVOICE_PREFIX}{uid}"));
        let updated = timestamp(state.updated_at);
        let listing = listed_status(state.status).then(|| {
            (
                status_partition(tenant, state.status),
                format!("{updated}#{uid}"),
            )
        });
        let next = expected.map_or(1, |v| v + 1);
        let json = encode(state)?;
        let uid_key = (tenant.to_owned(), uid.clone());

        let Some(v) = expected else {
            let mut item = key(pk, sk);
            item.insert(STATE.into(), s(json));
            item.insert(VERSION.into(), n(next));
            item.insert(STATUS.into(), s(state.status.as_str()));
            item.insert(UPDATED_AT.into(), s(updated));
            if let Some((lpk, lsk)) = listing {
                item.insert(LIST_INDEX_PARTITION_KEY.into(), s(lpk));
                item.insert(LIST_INDEX_SORT_KEY.into(), s(lsk));
            }
            return Ok(FlowWrite {
                uid_key,
                expected,
                next,
                op: WriteOp::Create(item),
            });
        };

        let mut values = HashMap::from([
            (":state".to_owned(), s(json)),
            (":next".to_owned(), n(next)),
            (":status".to_owned(), s(state.status.as_str())),
            (":updated".to_owned(), s(updated)),
            (":expected".to_owned(), n(v)),
        ]);
        // A settled flow leaves the listing index: its index attributes are removed.
        let expression = match listing {
            Some((lpk, lsk)) => {
                values.insert(":lpk".into(), s(lpk));
                values.insert(":lsk".into(), s(lsk));
                "SET #state = :state, #version = :next, #status = :status, \
                 #updated = :updated, #lpk = :lpk, #lsk = :lsk"
            }
            None => {
                "SET #state = :state, #version = :next, #status = :status, \
                 #updated = :updated REMOVE #lpk, #lsk"
            }
        };
        let names = HashMap::from([
            ("#state".to_owned(), STATE.to_owned()),
            ("#version".to_owned(), VERSION.to_owned()),
            ("#status".to_owned(), STATUS.to_owned()),
            ("#updated".to_owned(), UPDATED_AT.to_owned()),
            ("#lpk".to_owned(), LIST_INDEX_PARTITION_KEY.to_owned()),
            ("#lsk".to_owned(), LIST_INDEX_SORT_KEY.to_owned()),
        ]);
        Ok(FlowWrite {
            uid_key,
            expected,
            next,
            op: WriteOp::Advance(FlowUpdate {
                key: key(pk, sk),
                expression,
                names,
                values,
            }),
        })
    }

    fn conflict(&self) -> StoreError {
        StoreError::Conflict {
            what: format!("flow of invoice {}", self.uid_key.1),
            expected: self.expected,
        }
    }

    fn transact_item(&self, table: &str) -> StoreResult<TransactWriteItem> {
        Ok(match &self.op {
            WriteOp::Create(item) => TransactWriteItem::builder()
                .put(built(
                    Put::builder()
                        .table_name(table)
                        .set_item(Some(item.clone()))
                        .condition_expression(CREATE_CONDITION)
                        .expression_attribute_names("#pk", PARTITION_KEY)
                        .build(),
                )?)
                .build(),
            WriteOp::Advance(u) => TransactWriteItem::builder()
                .update(built(
                    Update::builder()
                        .table_name(table)
                        .set_key(Some(u.key.clone()))
                        .update_expression(u.expression)
                        .condition_expression(ADVANCE_CONDITION)
                        .set_expression_attribute_names(Some(u.names.clone()))
                        .set_expression_attribute_values(Some(u.values.clone()))
                        .build(),
                )?)
                .build(),
        })
    }
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

    /// Writes `writes` (distinct items, at most [`TRANSACT_MAX`]) in one transaction, and
    /// again without the items whose condition failed when DynamoDB cancels it for them.
    /// Answers each by its index.
    async fn transact(&self, writes: &[(usize, FlowWrite)]) -> Vec<(usize, StoreResult<u64>)> {
        let mut answers = Vec::with_capacity(writes.len());
        let mut left: Vec<&(usize, FlowWrite)> = writes.iter().collect();
        for round in 1..=TRANSACT_ROUNDS {
            if left.is_empty() {
                break;
            }
            let items: StoreResult<Vec<TransactWriteItem>> = left
                .iter()
                .map(|(_, w)| w.transact_item(&self.table))
                .collect();
            let sent = match items {
                Ok(items) => {
                    self.client
                        .transact_write_items()
                        .set_transact_items(Some(items))
                        .send()
                        .await
                }
                Err(e) => {
                    answers.extend(all_unavailable(&left, &e.to_string()));
                    return answers;
                }
            };
            let e = match sent {
                Ok(_) => {
                    answers.extend(left.iter().map(|(i, w)| (*i, Ok(w.next))));
                    return answers;
                }
                Err(e) => e,
            };
            let reasons: Vec<Option<String>> = match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c))
                    if c.cancellation_reasons().len() == left.len() =>
                {
                    c.cancellation_reasons()
                        .iter()
                        .map(|r| r.code().map(str::to_owned))
                        .collect()
                }
                _ => {
                    answers.extend(all_unavailable(&left, &describe(e)));
                    return answers;
                }
            };
            // Per item: `None` held and is sent again; a failed condition is that flow's
            // conflict; anything else (a concurrent transaction on the item, throttling) is
            // sent again, and unavailable after the last round.
            let mut again = Vec::new();
            for (write, code) in left.into_iter().zip(reasons) {
                match code.as_deref() {
                    Some("ConditionalCheckFailed") => {
                        answers.push((write.0, Err(write.1.conflict())))
                    }
                    None | Some("None") => again.push(write),
                    Some(other) if round < TRANSACT_ROUNDS => {
                        tracing::debug!(
                            code = other,
                            "flow save in a cancelled transaction is sent again"
                        );
                        again.push(write)
                    }
                    Some(other) => answers.push((
                        write.0,
                        Err(StoreError::Unavailable(format!(
                            "flow of invoice {}: transaction cancelled ({other})",
                            write.1.uid_key.1
                        ))),
                    )),
                }
            }
            left = again;
        }
        answers.extend(all_unavailable(
            &left,
            &format!("transaction cancelled {TRANSACT_ROUNDS} times"),
        ));
        answers
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

    /// A tenant's invoice items, read from the base table (see [`InvoiceRead`]).
    async fn invoice_items(&self, tenant: &str, read: InvoiceRead) -> StoreResult<Vec<Item>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let query = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#pk", PARTITION_KEY)
                .expression_attribute_names("#sk", SORT_KEY)
                .expression_attribute_names("#status", STATUS)
                .expression_attribute_values(":pk", s(tenant_pk(tenant)))
                .expression_attribute_values(":prefix", s(INVOICE_PREFIX))
                .set_exclusive_start_key(start);
            let query = match read {
                InvoiceRead::InStatus(status) => query
                    .filter_expression("#status = :status")
                    .expression_attribute_values(":status", s(status.as_str())),
                InvoiceRead::StatusOnly => query.projection_expression("#status"),
            };
            let out = query.send().await.map_err(unavailable)?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(items),
            }
        }
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
            return Err(StoreError::Unavailable(format!(
                "table {name} is not active after {}s",
                CREATE_TIMEOUT.as_secs()
            )));
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
impl FlowStore for DynamoStore {
    async fn flow(
        &self,
        tenant: &str,
        invoice_uid: &str,
    ) -> StoreResult<Option<Versioned<FlowState>>> {
        let sk = format!("{INVOICE_PREFIX}{invoice_uid}");
        self.get(tenant_pk(tenant), sk)
            .await?
            .map(|item| decode_flow(&item))
            .transpose()
    }

    async fn save_flow(
        &self,
        tenant: &str,
        state: &FlowState,
        expected: Option<u64>,
    ) -> StoreResult<u64> {
        let write = FlowWrite::new(tenant, state, expected)?;
        let (next, conflict) = (write.next, write.conflict());
        match write.op {
            WriteOp::Create(item) => self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression(CREATE_CONDITION)
                .expression_attribute_names("#pk", PARTITION_KEY)
                .send()
                .await
                .map(drop)
                .map_err(|e| refused(e, conflict)),
            WriteOp::Advance(u) => self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(u.key))
                .update_expression(u.expression)
                .condition_expression(ADVANCE_CONDITION)
                .set_expression_attribute_names(Some(u.names))
                .set_expression_attribute_values(Some(u.values))
                .send()
                .await
                .map(drop)
                .map_err(|e| refused(e, conflict)),
        }?;
        Ok(next)
    }

    /// One save alone is [`FlowStore::save_flow`]; several go in TransactWriteItems calls of up to
    /// a hundred, each item with its own version condition, as BatchWriteItem could not carry.
    /// A transaction is all or nothing: when DynamoDB cancels it, the items whose condition
    /// failed are conflicts and the rest are sent again without them.
    async fn save_flows(&self, saves: &[FlowSave<'_>]) -> Vec<StoreResult<u64>> {
        match saves {
            [] => return Vec::new(),
            [one] => return vec![self.save_flow(one.tenant, one.state, one.expected).await],
            _ => {}
        }
        let mut answers: Vec<Option<StoreResult<u64>>> = saves.iter().map(|_| None).collect();
        let mut writes = Vec::new();
        for (i, save) in saves.iter().enumerate() {
            match FlowWrite::new(save.tenant, save.state, save.expected) {
                Ok(w) => writes.push((i, w)),
                Err(e) => answers[i] = Some(Err(e)),
            }
        }
        // A transaction may not name one item twice: a second save of a flow waits for the
        // next call (and, conditional on the version the first replaces, is a conflict).
        while !writes.is_empty() {
            let mut seen = HashSet::new();
            let (now, later): (Vec<_>, Vec<_>) = writes
                .into_iter()
                .partition(|(_, w)| seen.insert(w.uid_key.clone()));
            writes = later;
            for chunk in now.chunks(TRANSACT_MAX) {
                for (i, answer) in self.transact(chunk).await {
                    answers[i] = Some(answer);
                }
            }
        }
        answers
            .into_iter()
            .map(|a| a.unwrap_or_else(|| Err(StoreError::Unavailable("flow save not made".into()))))
            .collect()
    }

    fn flow_saves_per_call(&self) -> usize {
        TRANSACT_MAX
    }

    /// BatchGetItem, a hundred keys per call, strongly consistent as [`FlowStore::flow`] is. Keys
    /// DynamoDB leaves unprocessed (throttling, or over 16 MB) are asked again twice, then left
    /// out of the answer for their flows to read alone.
    async fn read_many(
        &self,
        tenant: &str,
        invoice_uids: &[String],
        customer_ids: &[String],
    ) -> StoreResult<ManyRead> {
        let pk = tenant_pk(tenant);
        let flow_sk = |uid: &String| format!("{INVOICE_PREFIX}{uid}");
        let customer_sk = |id: &String| format!("{CUSTOMER_PREFIX}{id}");
        // DynamoDB refuses a batch that names one key twice.
        let mut sks: Vec<String> = invoice_uids.iter().map(flow_sk).collect();
        sks.extend(customer_ids.iter().map(customer_sk));
        sks.sort_unstable();
        sks.dedup();
        let mut found: HashMap<String, Item> = HashMap::new();
        let mut unread: HashSet<String> = HashSet::new();
        for chunk in sks.chunks(BATCH_GET_MAX) {
            let mut keys: Vec<Item> = chunk.iter().map(|sk| key(pk.clone(), sk.clone())).collect();
            for round in 0..BATCH_GET_ROUNDS {
                if keys.is_empty() {
                    break;
                }
                if round > 0 {
                    tokio::time::sleep(BATCH_GET_BACKOFF * round).await;
                }
                let request = built(
                    KeysAndAttributes::builder()
                        .set_keys(Some(keys))
                        .consistent_read(true)
                        .build(),
                )?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(unavailable)?;
                for item in out
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default()
                {
                    let sk = string(&item, SORT_KEY, "batch read")?.to_owned();
                    found.insert(sk, item);
                }
                keys = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
            }
            for k in &keys {
                unread.insert(string(k, SORT_KEY, "unprocessed key")?.to_owned());
            }
        }
        let mut read = ManyRead::default();
        for uid in invoice_uids {
            let sk = flow_sk(uid);
            if !unread.contains(&sk) {
                let flow = found.get(&sk).map(decode_flow).transpose()?;
                read.flows.insert(uid.clone(), flow);
            }
        }
        for id in customer_ids {
            if let Some(item) = found.get(&customer_sk(id)) {
                read.customers.insert(id.clone(), decode_link(item)?);
            }
        }
        Ok(read)
    }

    /// Unsettled statuses come from the listing index. Synced and skipped flows are not indexed
    /// (that would copy every invoice ever synced), so those listings read the tenant's whole
    /// invoice partition and sort it here: a rare operator query, traded for a small index and
    /// cheaper writes on the hot path.
    async fn flows_with_status(
        &self,
        tenant: &str,
        status: FlowStatus,
        limit: usize,
    ) -> StoreResult<Vec<Versioned<FlowState>>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        if listed_status(status) {
            return self
                .listed(status_partition(tenant, status), Some(limit))
                .await?
                .iter()
                .map(decode_flow)
                .collect();
        }
        let mut flows = self
            .invoice_items(tenant, InvoiceRead::InStatus(status))
            .await?
            .iter()
            .map(decode_flow)
            .collect::<StoreResult<Vec<_>>>()?;
        flows.sort_by(|a, b| {
            (a.value.updated_at, &a.value.invoice_uid)
                .cmp(&(b.value.updated_at, &b.value.invoice_uid))
        });
        flows.truncate(limit);
        Ok(flows)
    }

    /// Reads only the status of every invoice item in the tenant's partition. An operator
    /// command, not a hot path; a per-status counter item would make every flow write a
    /// transaction.
    async fn flow_counts(&self, tenant: &str) -> StoreResult<Vec<(FlowStatus, u64)>> {
        let items = self.invoice_items(tenant, InvoiceRead::StatusOnly).await?;
        let mut counts: Vec<(FlowStatus, u64)> = FlowStatus::ALL.iter().map(|s| (*s, 0)).collect();
        for item in &items {
            let name = string(item, STATUS, "flow status")?;
            let entry = counts
                .iter_mut()
                .find(|(s, _)| s.as_str() == name)
                .ok_or_else(|| corrupt("flow status", format!("unknown status {name:?}")))?;
            entry.1 += 1;
        }
        Ok(counts)
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
                tenant_pk(tenant),
                format!("{WEBHOOK_PREFIX}{delivery_id}"),
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
        let mut item = key(tenant_pk(tenant), format!("{WEBHOOK_PREFIX}{delivery_id}"));
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
}

fn tenant_pk(tenant: &str) -> String {
    format!("{TENANT_PREFIX}{tenant}")
}

fn status_partition(tenant: &str, status: FlowStatus) -> String {
    format!("{TENANT_PREFIX}{tenant}#STATUS#{}", status.as_str())
}

/// Whether flows in this status are in the listing index.
fn listed_status(status: FlowStatus) -> bool {
    !matches!(status, FlowStatus::Synced | FlowStatus::Skipped)
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
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if e.as_service_error().and_then(ProvideErrorMetadata::code)
        == Some("ConditionalCheckFailedException")
    {
        conflict
    } else {
        unavailable(e)
    }
}

/// Every save of `writes` answered as the store unavailable, for `why`.
fn all_unavailable(writes: &[&(usize, FlowWrite)], why: &str) -> Vec<(usize, StoreResult<u64>)> {
    writes
        .iter()
        .map(|(i, w)| {
            let message = format!("flow of invoice {}: {why}", w.uid_key.1);
            (*i, Err(StoreError::Unavailable(message)))
        })
        .collect()
}

fn corrupt(what: &str, message: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        what: what.to_owned(),
        message: message.to_string(),
    }
}

fn unavailable(e: impl std::error::Error) -> StoreError {
    StoreError::Unavailable(describe(e))
}

fn built<T>(r: Result<T, BuildError>) -> StoreResult<T> {
    r.map_err(|e| StoreError::Unavailable(format!("table definition: {e}")))
}

#[cfg(test)]
mod tests {
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
        let item = f.raw(&tenant_pk(&t), "WEBHOOK#d-1").await;
        let Some(AttributeValue::N(expires)) = item.get(TTL_ATTRIBUTE) else {
            panic!("a numeric TTL attribute: {item:?}");
        };
        let expires: i64 = expires.parse().unwrap();
        assert!((expires - Utc::now().timestamp() - 86_400).abs() < 60);

        // DynamoDB may keep an expired item for days; it must not count as a repeat.
        let mut stale = key(tenant_pk(&t), "WEBHOOK#d-2".into());
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
        assert!(matches!(
            gone.cursor("acme", "events").await,
            Err(StoreError::Unavailable(_))
        ));
    }
}
