//! The embedded store: one SQLite file (open it with `sqlite3` to look inside). Used by the
//! local mode, most tests and the benchmark. One connection behind a mutex is plenty for one
//! process.
//!
//! Statements run on the calling task's thread rather than the blocking pool: each is a
//! primary-key read or write of one small row, tens of microseconds, while handing it to a
//! pool thread and waking the task again cost more than the statement (the benchmark's worker
//! CPU per invoice fell measurably when the hand-off went: docs/bench/notes.md). The price
//! is that a write waiting for another process's lock (`busy_timeout`) holds its thread for
//! that wait; write transactions here are single statements, so such waits are short.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use rusqlite::{params, Connection, OptionalExtension};

use super::{
    CursorStore, CustomerLink, DeliveryStore, FlowStore, LinkStore, ManyRead, StoreError,
    StoreResult, TenantStore,
};
use crate::error::Unavailable;
use crate::flow::state::{FlowState, FlowStatus, Versioned};
use crate::queue::{Queue, QueueError, SyncMessage};
use crate::settings::{ItemRef, TenantSettings};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS settings (tenant TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS customers (
    tenant TEXT NOT NULL, billing_id TEXT NOT NULL, link TEXT NOT NULL,
    PRIMARY KEY (tenant, billing_id));
CREATE TABLE IF NOT EXISTS items (
    tenant TEXT NOT NULL, entry_id TEXT NOT NULL, item TEXT NOT NULL,
    PRIMARY KEY (tenant, entry_id));
CREATE TABLE IF NOT EXISTS flows (
    tenant TEXT NOT NULL, invoice TEXT NOT NULL, version INTEGER NOT NULL,
    status TEXT NOT NULL, updated_at TEXT NOT NULL, state TEXT NOT NULL,
    PRIMARY KEY (tenant, invoice));
CREATE INDEX IF NOT EXISTS flows_by_status ON flows (tenant, status, updated_at);
CREATE TABLE IF NOT EXISTS cursors (
    tenant TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (tenant, name));
CREATE TABLE IF NOT EXISTS deliveries (
    tenant TEXT NOT NULL, id TEXT NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (tenant, id));
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, dedup TEXT NOT NULL UNIQUE, grp TEXT NOT NULL,
    body TEXT NOT NULL, done_at INTEGER);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (done_at, seq);
";

/// The outbox's class column (files made before it get it added): live messages are handed
/// out before bulk ones however many bulk ones wait.
const OUTBOX_CLASS: &str = "
ALTER TABLE outbox ADD COLUMN bulk INTEGER NOT NULL DEFAULT 0;
";
const OUTBOX_CLASS_INDEX: &str =
    "CREATE INDEX IF NOT EXISTS outbox_by_class ON outbox (done_at, bulk, seq);";

/// How long a finished outbox message keeps its deduplication id: a repeat of the same
/// trigger within this time is dropped, as SQS FIFO drops one within five minutes.
const OUTBOX_DEDUP_SECS: i64 = 24 * 3600;

/// A SQLite-backed [`Store`](crate::store::Store).
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    /// Set when the local mode queues through this file's outbox ([`SqliteStore::outbox`]):
    /// a webhook delivery is then recorded in the same transaction as its message.
    outbox: Option<Arc<tokio::sync::Notify>>,
}

fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(Unavailable::caused_by(e.to_string(), e))
}

impl SqliteStore {
    /// Opens (creating if needed) the database file.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        let conn = Connection::open(path.as_ref()).map_err(unavailable)?;
        Self::init(conn)
    }

    /// A private in-memory database (tests).
    pub fn in_memory() -> StoreResult<Self> {
        Self::init(Connection::open_in_memory().map_err(unavailable)?)
    }

    fn init(conn: Connection) -> StoreResult<Self> {
        // WAL lets a person read the file with sqlite3 while billsync writes.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(unavailable)?;
        // In WAL mode NORMAL syncs at checkpoints, not at every commit: a crash of billsync
        // loses nothing, a power cut at most the last commits, which the deterministic
        // external ids make harmless (the next run finds those records in NetSuite).
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(unavailable)?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(unavailable)?;
        conn.execute_batch(SCHEMA).map_err(unavailable)?;
        let has_class: bool = conn
            .query_row(
                "SELECT COUNT(*) FROM pragma_table_info('outbox') WHERE name = 'bulk'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(unavailable)?
            > 0;
        if !has_class {
            conn.execute_batch(OUTBOX_CLASS).map_err(unavailable)?;
        }
        conn.execute_batch(OUTBOX_CLASS_INDEX)
            .map_err(unavailable)?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            outbox: None,
        })
    }

    /// This store with its durable queue: messages sent to the returned [`Outbox`] are rows of
    /// the same file, so nothing queued is lost when the process dies, and a webhook delivery
    /// is recorded in the same transaction as its message.
    pub fn with_outbox(mut self) -> (Self, Outbox) {
        let notify = Arc::new(tokio::sync::Notify::new());
        self.outbox = Some(notify.clone());
        let outbox = Outbox {
            conn: self.conn.clone(),
            notify,
        };
        (self, outbox)
    }

    async fn with<T>(&self, f: impl FnOnce(&mut Connection) -> StoreResult<T>) -> StoreResult<T> {
        let mut guard = self
            .conn
            .lock()
            .map_err(|_| StoreError::Unavailable("a previous store call panicked".into()))?;
        f(&mut guard)
    }
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        what: what.to_owned(),
        message: e.to_string(),
    })
}

fn flow_row(c: &Connection, tenant: &str, uid: &str) -> rusqlite::Result<Option<(String, i64)>> {
    c.prepare_cached("SELECT state, version FROM flows WHERE tenant = ?1 AND invoice = ?2")?
        .query_row([tenant, uid], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
}

fn link_row(c: &Connection, tenant: &str, billing_id: &str) -> rusqlite::Result<Option<String>> {
    c.prepare_cached("SELECT link FROM customers WHERE tenant = ?1 AND billing_id = ?2")?
        .query_row([tenant, billing_id], |r| r.get(0))
        .optional()
}

fn versioned((state, version): (String, i64)) -> StoreResult<Versioned<FlowState>> {
    Ok(Versioned {
        value: decode("flow state", &state)?,
        version: version as u64,
    })
}

fn encode<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("store records always serialize")
}

#[async_trait]
impl TenantStore for SqliteStore {
    async fn settings(&self, tenant: &str) -> StoreResult<Option<TenantSettings>> {
        let tenant = tenant.to_owned();
        let doc: Option<String> = self
            .with(move |c| {
                c.query_row(
                    "SELECT doc FROM settings WHERE tenant = ?1",
                    [&tenant],
                    |r| r.get(0),
                )
                .optional()
                .map_err(unavailable)
            })
            .await?;
        doc.map(|d| {
            TenantSettings::from_json(&d).map_err(|e| StoreError::Corrupt {
                what: "settings".into(),
                message: e.to_string(),
            })
        })
        .transpose()
    }

    async fn put_settings(&self, settings: &TenantSettings) -> StoreResult<()> {
        let tenant = settings.tenant.clone();
        let doc = settings.to_document().to_string();
        self.with(move |c| {
            c.execute(
                "INSERT INTO settings (tenant, doc) VALUES (?1, ?2)
                 ON CONFLICT (tenant) DO UPDATE SET doc = excluded.doc",
                params![tenant, doc],
            )
            .map(drop)
            .map_err(unavailable)
        })
        .await
    }

    async fn tenants(&self) -> StoreResult<Vec<String>> {
        self.with(|c| {
            let mut stmt = c
                .prepare("SELECT tenant FROM settings ORDER BY tenant")
                .map_err(unavailable)?;
            let rows = stmt.query_map([], |r| r.get(0)).map_err(unavailable)?;
            rows.collect::<Result<Vec<String>, _>>()
                .map_err(unavailable)
        })
        .await
    }
}

#[async_trait]
impl LinkStore for SqliteStore {
    async fn customer(&self, tenant: &str, billing_id: &str) -> StoreResult<Option<CustomerLink>> {
        let link = self
            .with(|c| link_row(c, tenant, billing_id).map_err(unavailable))
            .await?;
        link.map(|l| decode("customer link", &l)).transpose()
    }

    async fn put_customer(
        &self,
        tenant: &str,
        billing_id: &str,
        link: &CustomerLink,
    ) -> StoreResult<()> {
        let (tenant, id, link) = (tenant.to_owned(), billing_id.to_owned(), encode(link));
        self.with(move |c| {
            c.execute(
                "INSERT INTO customers (tenant, billing_id, link) VALUES (?1, ?2, ?3)
                 ON CONFLICT (tenant, billing_id) DO UPDATE SET link = excluded.link",
                params![tenant, id, link],
            )
            .map(drop)
            .map_err(unavailable)
        })
        .await
    }

    async fn item_link(&self, tenant: &str, entry_id: &str) -> StoreResult<Option<ItemRef>> {
        let (tenant, id) = (tenant.to_owned(), entry_id.to_owned());
        let item: Option<String> = self
            .with(move |c| {
                c.query_row(
                    "SELECT item FROM items WHERE tenant = ?1 AND entry_id = ?2",
                    [&tenant, &id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(unavailable)
            })
            .await?;
        item.map(|i| decode("item link", &i)).transpose()
    }

    async fn put_item_link(&self, tenant: &str, entry_id: &str, item: &ItemRef) -> StoreResult<()> {
        let (tenant, id, item) = (tenant.to_owned(), entry_id.to_owned(), encode(item));
        self.with(move |c| {
            c.execute(
                "INSERT INTO items (tenant, entry_id, item) VALUES (?1, ?2, ?3)
                 ON CONFLICT (tenant, entry_id) DO UPDATE SET item = excluded.item",
                params![tenant, id, item],
            )
            .map(drop)
            .map_err(unavailable)
        })
        .await
    }
}

#[async_trait]
impl FlowStore for SqliteStore {
    async fn flow(
        &self,
        tenant: &str,
        invoice_uid: &str,
    ) -> StoreResult<Option<Versioned<FlowState>>> {
        let row = self
            .with(|c| flow_row(c, tenant, invoice_uid).map_err(unavailable))
            .await?;
        row.map(versioned).transpose()
    }

    /// One lock and one read transaction for the lot, so the answers are one snapshot.
    async fn read_many(
        &self,
        tenant: &str,
        invoice_uids: &[String],
        customer_ids: &[String],
    ) -> StoreResult<ManyRead> {
        let (flows, links) = self
            .with(|c| {
                let tx = c.transaction().map_err(unavailable)?;
                let mut flows = Vec::with_capacity(invoice_uids.len());
                for uid in invoice_uids {
                    flows.push((uid, flow_row(&tx, tenant, uid).map_err(unavailable)?));
                }
                let mut links = Vec::with_capacity(customer_ids.len());
                for id in customer_ids {
                    if let Some(link) = link_row(&tx, tenant, id).map_err(unavailable)? {
                        links.push((id, link));
                    }
                }
                tx.finish().map_err(unavailable)?;
                Ok((flows, links))
            })
            .await?;
        let mut read = ManyRead::default();
        for (uid, row) in flows {
            read.flows
                .insert(uid.clone(), row.map(versioned).transpose()?);
        }
        for (id, link) in links {
            read.customers
                .insert(id.clone(), decode("customer link", &link)?);
        }
        Ok(read)
    }

    async fn save_flow(
        &self,
        tenant: &str,
        state: &FlowState,
        expected: Option<u64>,
    ) -> StoreResult<u64> {
        let tenant = tenant.to_owned();
        let uid = state.invoice_uid.clone();
        let status = state.status.as_str();
        let updated = state.updated_at.to_rfc3339();
        let json = encode(state);
        self.with(move |c| {
            let changed = match expected {
                None => c
                    .prepare_cached("INSERT INTO flows (tenant, invoice, version, status, updated_at, state)
                         VALUES (?1, ?2, 1, ?3, ?4, ?5) ON CONFLICT DO NOTHING")
                    .and_then(|mut s| s.execute(params![tenant, uid, status, updated, json]))
                    .map_err(unavailable)?,
                Some(v) => c
                    .prepare_cached("UPDATE flows SET version = version + 1, status = ?3, updated_at = ?4, state = ?5
                         WHERE tenant = ?1 AND invoice = ?2 AND version = ?6")
                    .and_then(|mut s| s.execute(params![tenant, uid, status, updated, json, v as i64]))
                    .map_err(unavailable)?,
            };
            if changed == 1 {
                Ok(expected.map_or(1, |v| v + 1))
            } else {
                Err(StoreError::Conflict {
                    what: format!("flow of invoice {uid}"),
                    expected,
                })
            }
        })
        .await
    }

    async fn flows_with_status(
        &self,
        tenant: &str,
        status: FlowStatus,
        limit: usize,
    ) -> StoreResult<Vec<Versioned<FlowState>>> {
        let tenant = tenant.to_owned();
        let rows: Vec<(String, i64)> = self
            .with(move |c| {
                let mut stmt = c
                    .prepare(
                        "SELECT state, version FROM flows WHERE tenant = ?1 AND status = ?2
                         ORDER BY updated_at, invoice LIMIT ?3",
                    )
                    .map_err(unavailable)?;
                let rows = stmt
                    .query_map(params![tenant, status.as_str(), limit as i64], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .map_err(unavailable)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(unavailable)
            })
            .await?;
        rows.into_iter().map(versioned).collect()
    }

    async fn flow_counts(&self, tenant: &str) -> StoreResult<Vec<(FlowStatus, u64)>> {
        let tenant = tenant.to_owned();
        let rows: Vec<(String, i64)> = self
            .with(move |c| {
                let mut stmt = c
                    .prepare("SELECT status, COUNT(*) FROM flows WHERE tenant = ?1 GROUP BY status")
                    .map_err(unavailable)?;
                let rows = stmt
                    .query_map([&tenant], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(unavailable)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(unavailable)
            })
            .await?;
        Ok(FlowStatus::ALL
            .iter()
            .map(|s| {
                let n = rows
                    .iter()
                    .find(|(name, _)| name == s.as_str())
                    .map_or(0, |(_, n)| *n as u64);
                (*s, n)
            })
            .collect())
    }
}

#[async_trait]
impl CursorStore for SqliteStore {
    async fn cursor(&self, tenant: &str, name: &str) -> StoreResult<Option<String>> {
        let (tenant, name) = (tenant.to_owned(), name.to_owned());
        self.with(move |c| {
            c.query_row(
                "SELECT value FROM cursors WHERE tenant = ?1 AND name = ?2",
                [&tenant, &name],
                |r| r.get(0),
            )
            .optional()
            .map_err(unavailable)
        })
        .await
    }

    async fn put_cursor(&self, tenant: &str, name: &str, value: &str) -> StoreResult<()> {
        let (tenant, name, value) = (tenant.to_owned(), name.to_owned(), value.to_owned());
        self.with(move |c| {
            c.execute(
                "INSERT INTO cursors (tenant, name, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (tenant, name) DO UPDATE SET value = excluded.value",
                params![tenant, name, value],
            )
            .map(drop)
            .map_err(unavailable)
        })
        .await
    }
}

#[async_trait]
impl DeliveryStore for SqliteStore {
    async fn forget_delivery(&self, tenant: &str, delivery_id: &str) -> StoreResult<()> {
        let (tenant, id) = (tenant.to_owned(), delivery_id.to_owned());
        self.with(move |c| {
            c.execute(
                "DELETE FROM deliveries WHERE tenant = ?1 AND id = ?2",
                params![tenant, id],
            )
            .map(drop)
            .map_err(unavailable)
        })
        .await
    }

    async fn first_delivery_queued(
        &self,
        tenant: &str,
        delivery_id: &str,
        ttl: Duration,
        messages: &[SyncMessage],
    ) -> StoreResult<Option<bool>> {
        let Some(notify) = self.outbox.clone() else {
            return Ok(None);
        };
        let (tenant, id) = (tenant.to_owned(), delivery_id.to_owned());
        let rows = outbox_rows(messages);
        let now = Utc::now().timestamp();
        let expires = now + ttl.as_secs() as i64;
        let first = self
            .with(move |c| {
                let tx = c.transaction().map_err(unavailable)?;
                tx.execute("DELETE FROM deliveries WHERE tenant = ?1 AND id = ?2 AND expires_at <= ?3", params![tenant, id, now])
                    .map_err(unavailable)?;
                let first = tx
                    .execute(
                        "INSERT INTO deliveries (tenant, id, expires_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                        params![tenant, id, expires],
                    )
                    .map_err(unavailable)?
                    == 1;
                if first {
                    insert_outbox(&tx, &rows)?;
                }
                tx.commit().map_err(unavailable)?;
                Ok(first)
            })
            .await?;
        notify.notify_one();
        Ok(Some(first))
    }

    async fn first_delivery(
        &self,
        tenant: &str,
        delivery_id: &str,
        ttl: Duration,
    ) -> StoreResult<bool> {
        let (tenant, id) = (tenant.to_owned(), delivery_id.to_owned());
        let now = Utc::now().timestamp();
        let expires = now + ttl.as_secs() as i64;
        self.with(move |c| {
            let tx = c.transaction().map_err(unavailable)?;
            // An expired entry counts as unseen, as a TTL'd DynamoDB item would.
            tx.execute("DELETE FROM deliveries WHERE tenant = ?1 AND id = ?2 AND expires_at <= ?3", params![tenant, id, now])
                .map_err(unavailable)?;
            let inserted = tx
                .execute(
                    "INSERT INTO deliveries (tenant, id, expires_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                    params![tenant, id, expires],
                )
                .map_err(unavailable)?;
            tx.commit().map_err(unavailable)?;
            Ok(inserted == 1)
        })
        .await
    }

    // One file holds everything locally: the note is a cursor of its own name.
    async fn note_webhook(&self, tenant: &str, at: &str) -> StoreResult<()> {
        self.put_cursor(tenant, LAST_WEBHOOK_CURSOR, at).await
    }

    async fn last_webhook(&self, tenant: &str) -> StoreResult<Option<String>> {
        self.cursor(tenant, LAST_WEBHOOK_CURSOR).await
    }
}

/// The cursor the local store keeps the last webhook's arrival in (the name earlier versions
/// wrote, so a local file keeps its note).
const LAST_WEBHOOK_CURSOR: &str = "last-webhook";

/// An outbox row: (deduplication id, ordering group, body, bulk).
type OutboxRow = (String, String, String, bool);

fn outbox_rows(messages: &[SyncMessage]) -> Vec<OutboxRow> {
    messages
        .iter()
        .map(|m| {
            (
                m.deduplication_id(),
                m.group_id(),
                serde_json::to_string(m).expect("queue messages serialize"),
                !m.class.is_live(),
            )
        })
        .collect()
}

/// Inserts messages, dropping one whose deduplication id is already there (queued, or
/// finished within [`OUTBOX_DEDUP_SECS`]).
fn insert_outbox(c: &Connection, rows: &[OutboxRow]) -> StoreResult<()> {
    let mut insert = c
        .prepare_cached(
            "INSERT INTO outbox (dedup, grp, body, bulk) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (dedup) DO NOTHING",
        )
        .map_err(unavailable)?;
    for (dedup, grp, body, bulk) in rows {
        insert
            .execute(params![dedup, grp, body, bulk])
            .map_err(unavailable)?;
    }
    Ok(())
}

/// The local mode's durable queue: a table of the store's file. A message stays until the
/// worker has finished it, so a process killed at any moment finds its unfinished work at the
/// next start. Several processes on one file share it; a message two of them take at once
/// runs twice, which the flows' conditional saves and NetSuite's external ids make harmless.
#[derive(Clone)]
pub struct Outbox {
    conn: Arc<Mutex<Connection>>,
    notify: Arc<tokio::sync::Notify>,
}

/// A message waiting in the outbox.
#[derive(Clone, Debug)]
pub struct Pending {
    pub seq: i64,
    pub message: SyncMessage,
}

impl Outbox {
    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> StoreResult<T>) -> StoreResult<T> {
        let mut guard = self
            .conn
            .lock()
            .map_err(|_| StoreError::Unavailable("a previous store call panicked".into()))?;
        f(&mut guard)
    }

    /// Up to `limit` unfinished messages, live ones first, each class oldest first, at most
    /// one per ordering group (an invoice's second message waits until its first is finished;
    /// a live one may pass a bulk one of its group, which is harmless: a flow reads the
    /// invoice's current state whatever message woke it).
    pub fn pending(&self, limit: usize) -> StoreResult<Vec<Pending>> {
        let rows: Vec<(i64, String, String)> = self.with(|c| {
            let mut q = c
                .prepare_cached(
                    "SELECT seq, grp, body FROM outbox WHERE done_at IS NULL AND bulk = ?1 ORDER BY seq LIMIT 1000",
                )
                .map_err(unavailable)?;
            let mut rows = Vec::new();
            for bulk in [false, true] {
                rows.extend(
                    q.query_map([bulk], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                        .map_err(unavailable)?
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(unavailable)?,
                );
            }
            Ok(rows)
        })?;
        let mut groups = std::collections::HashSet::new();
        let mut out = Vec::new();
        for (seq, grp, body) in rows {
            if out.len() >= limit {
                break;
            }
            if !groups.insert(grp) {
                continue;
            }
            out.push(Pending {
                seq,
                message: decode("queued message", &body)?,
            });
        }
        Ok(out)
    }

    /// Marks messages finished; their deduplication ids are kept for a day.
    pub fn finish(&self, seqs: &[i64]) -> StoreResult<()> {
        let now = Utc::now().timestamp();
        self.with(|c| {
            let tx = c.transaction().map_err(unavailable)?;
            {
                let mut done = tx
                    .prepare_cached("UPDATE outbox SET done_at = ?1 WHERE seq = ?2")
                    .map_err(unavailable)?;
                for seq in seqs {
                    done.execute(params![now, seq]).map_err(unavailable)?;
                }
            }
            tx.execute(
                "DELETE FROM outbox WHERE done_at IS NOT NULL AND done_at < ?1",
                params![now - OUTBOX_DEDUP_SECS],
            )
            .map_err(unavailable)?;
            tx.commit().map_err(unavailable)
        })
    }

    /// Forgets webhook deliveries whose de-duplication window has passed (a long-running
    /// `serve` would otherwise keep every delivery id it ever saw); returns how many.
    pub fn forget_expired_deliveries(&self) -> StoreResult<usize> {
        let now = Utc::now().timestamp();
        self.with(|c| {
            c.execute(
                "DELETE FROM deliveries WHERE expires_at <= ?1",
                params![now],
            )
            .map_err(unavailable)
        })
    }

    /// How many messages wait.
    pub fn waiting(&self) -> StoreResult<u64> {
        self.with(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM outbox WHERE done_at IS NULL",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(unavailable)
        })
    }

    /// Resolves when a message may have arrived since the last call.
    pub async fn arrived(&self) {
        self.notify.notified().await
    }
}

#[async_trait]
impl Queue for Outbox {
    async fn send(&self, messages: &[SyncMessage]) -> Result<(), QueueError> {
        let rows = outbox_rows(messages);
        self.with(|c| {
            let tx = c.transaction().map_err(unavailable)?;
            insert_outbox(&tx, &rows)?;
            tx.commit().map_err(unavailable)
        })
        .map_err(|e| QueueError(Unavailable::caused_by(e.to_string(), e)))?;
        self.notify.notify_one();
        Ok(())
    }

    /// Messages not yet finished; the local queue has no dead letters.
    async fn depth(&self) -> Result<Option<crate::queue::QueueDepth>, QueueError> {
        let waiting = self
            .waiting()
            .map_err(|e| QueueError(Unavailable::caused_by(e.to_string(), e)))?;
        Ok(Some(crate::queue::QueueDepth {
            waiting,
            in_progress: 0,
            dead_letters: None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn expired_deliveries_are_forgotten_and_live_ones_kept() {
        use crate::store::DeliveryStore;
        use std::time::Duration;
        let (store, outbox) = SqliteStore::in_memory().unwrap().with_outbox();
        assert!(store
            .first_delivery("acme", "old", Duration::ZERO)
            .await
            .unwrap());
        assert!(store
            .first_delivery("acme", "new", Duration::from_secs(3600))
            .await
            .unwrap());
        assert_eq!(outbox.forget_expired_deliveries().unwrap(), 1);
        // The live one is still a repeat; the forgotten one is new again.
        assert!(!store
            .first_delivery("acme", "new", Duration::from_secs(3600))
            .await
            .unwrap());
        assert_eq!(outbox.forget_expired_deliveries().unwrap(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn passes_the_conformance_suite() {
        let store = SqliteStore::in_memory().unwrap();
        crate::store::conformance::run(&store).await;
        crate::store::conformance::run_concurrent(Arc::new(store)).await;
    }

    #[tokio::test]
    async fn a_file_database_keeps_state_across_opens() {
        let dir = std::env::temp_dir().join(format!("billsync-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.db");
        let _ = std::fs::remove_file(&path);
        {
            let s = SqliteStore::open(&path).unwrap();
            s.put_cursor("t", "events", "42").await.unwrap();
        }
        let s = SqliteStore::open(&path).unwrap();
        assert_eq!(
            s.cursor("t", "events").await.unwrap().as_deref(),
            Some("42")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn message(invoice: &str, dedup: &str) -> SyncMessage {
        SyncMessage::invoice(
            "t",
            crate::billing::model::Source::Maxio,
            invoice,
            crate::queue::Reason::Webhook,
            dedup,
        )
    }

    /// A backlog of bulk work does not hold up live work: the live message is handed out
    /// first however many bulk ones wait before it; then bulk, oldest first. A file made before
    /// messages had a class gets the column.
    #[tokio::test]
    async fn live_messages_are_handed_out_before_any_waiting_bulk() {
        let dir = std::env::temp_dir().join(format!("billsync-classes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.db");
        let _ = std::fs::remove_file(&path);
        {
            // A file as earlier versions made it: no class column.
            let c = Connection::open(&path).unwrap();
            c.execute_batch(SCHEMA).unwrap();
            c.execute(
                "INSERT INTO outbox (dedup, grp, body) VALUES ('old', 't:old', ?1)",
                [serde_json::to_string(&message("old", "1")).unwrap()],
            )
            .unwrap();
        }
        let (_, outbox) = SqliteStore::open(&path).unwrap().with_outbox();
        let backlog: Vec<SyncMessage> = (0..1500)
            .map(|n| message(&format!("bulk-{n}"), "1").bulk())
            .collect();
        outbox.send(&backlog).await.unwrap();
        outbox.send(&[message("live", "1")]).await.unwrap();
        let first: Vec<String> = outbox
            .pending(3)
            .unwrap()
            .iter()
            .map(|p| p.message.invoice_id().unwrap().to_owned())
            .collect();
        assert_eq!(first, ["old", "live", "bulk-0"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn the_outbox_keeps_queued_work_until_it_is_finished() {
        let dir = std::env::temp_dir().join(format!("billsync-outbox-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.db");
        let _ = std::fs::remove_file(&path);
        {
            let (_, outbox) = SqliteStore::open(&path).unwrap().with_outbox();
            outbox
                .send(&[message("a", "1"), message("a", "2"), message("b", "1")])
                .await
                .unwrap();
            // The same trigger again is dropped, as SQS FIFO drops it.
            outbox.send(&[message("a", "1")]).await.unwrap();
            // Taken, not finished: the process dies here.
            assert_eq!(outbox.pending(10).unwrap().len(), 2);
        }
        let (_, outbox) = SqliteStore::open(&path).unwrap().with_outbox();
        assert_eq!(outbox.waiting().unwrap(), 3, "nothing lost");
        let first = outbox.pending(10).unwrap();
        let names: Vec<_> = first
            .iter()
            .map(|p| p.message.invoice_id().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["a", "b"], "one message per invoice at a time");
        outbox
            .finish(&first.iter().map(|p| p.seq).collect::<Vec<_>>())
            .unwrap();
        let second = outbox.pending(10).unwrap();
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].message.dedup_id, "2");
        outbox.finish(&[second[0].seq]).unwrap();
        assert!(outbox.pending(10).unwrap().is_empty());
        // A finished trigger still counts as seen.
        outbox.send(&[message("a", "1")]).await.unwrap();
        assert_eq!(outbox.waiting().unwrap(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_delivery_and_its_message_are_one_write() {
        let plain = SqliteStore::in_memory().unwrap();
        let ttl = Duration::from_secs(60);
        assert_eq!(
            plain
                .first_delivery_queued("t", "d1", ttl, &[message("a", "wh-d1")])
                .await
                .unwrap(),
            None,
            "without an outbox the caller queues"
        );
        let (store, outbox) = SqliteStore::in_memory().unwrap().with_outbox();
        let first = store
            .first_delivery_queued("t", "d1", ttl, &[message("a", "wh-d1")])
            .await
            .unwrap();
        assert_eq!(first, Some(true));
        assert_eq!(outbox.waiting().unwrap(), 1);
        let again = store
            .first_delivery_queued("t", "d1", ttl, &[message("a", "wh-d1")])
            .await
            .unwrap();
        assert_eq!(again, Some(false));
        assert_eq!(outbox.waiting().unwrap(), 1);
        assert!(!store.first_delivery("t", "d1", ttl).await.unwrap());
    }
}
