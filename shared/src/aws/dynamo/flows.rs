//! Flow state on the table: conditional saves (alone, or together in transactions), reads of
//! one flow or many, and the listings by status.

use super::*;

/// What a read of a tenant's whole invoice partition returns.
#[derive(Clone, Copy)]
enum InvoiceRead {
    /// Whole items, of flows in this status.
    InStatus(FlowStatus),
    /// Only the status attribute, of every flow.
    StatusOnly,
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
                    answers.extend(all_unavailable(
                        &left,
                        &Unavailable::caused_by(e.to_string(), e),
                    ));
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
                    answers.extend(all_unavailable(&left, &crate::aws::unavailable(e)));
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
                        Err(StoreError::Unavailable(Unavailable::new(format!(
                            "flow of invoice {}: transaction cancelled ({other})",
                            write.1.uid_key.1
                        )))),
                    )),
                }
            }
            left = again;
        }
        answers.extend(all_unavailable(
            &left,
            &Unavailable::new(format!("transaction cancelled {TRANSACT_ROUNDS} times")),
        ));
        answers
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
fn status_partition(tenant: &str, status: FlowStatus) -> String {
    format!("{TENANT_PREFIX}{tenant}#STATUS#{}", status.as_str())
}

/// Whether flows in this status are in the listing index.
fn listed_status(status: FlowStatus) -> bool {
    !matches!(status, FlowStatus::Synced | FlowStatus::Skipped)
}

/// Every save of `writes` answered as the store unavailable, for `why` (its cause shared by all).
fn all_unavailable(
    writes: &[&(usize, FlowWrite)],
    why: &Unavailable,
) -> Vec<(usize, StoreResult<u64>)> {
    writes
        .iter()
        .map(|(i, w)| {
            let each = Unavailable {
                message: format!("flow of invoice {}: {why}", w.uid_key.1),
                cause: why.cause.clone(),
            };
            (*i, Err(StoreError::Unavailable(each)))
        })
        .collect()
}
