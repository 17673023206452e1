//! Chargebee API v2 client: `https://<site>.chargebee.com/api/v2`, HTTP Basic with the API key
//! as user name and an empty password, backoff on 429, events paged by `offset`/`next_offset`.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use futures::future::try_join_all;
use futures::stream::{self, Stream, TryStreamExt};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use url::Url;

use super::{map, wire};
use crate::billing::http::{self, segment as seg};
use crate::billing::model::{CatalogEntry, CreditNote, Customer, Invoice, Payment, Refund};
use crate::retry::RetryPolicy;
use crate::Secret;

#[derive(Clone, Debug)]
pub struct ChargebeeConfig {
    pub site: String,
    pub api_key: Secret,
    /// Replaces `https://<site>.chargebee.com/api/v2/` (tests, the simulator).
    pub base_url: Option<Url>,
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
}

impl ChargebeeConfig {
    pub fn new(site: impl Into<String>, api_key: Secret) -> Self {
        ChargebeeConfig {
            site: site.into(),
            api_key,
            base_url: None,
            request_timeout: Duration::from_secs(60),
            retry: RetryPolicy {
                max_attempts: 6,
                base_delay: Duration::from_secs(1),
                max_delay: Duration::from_secs(60),
            },
        }
    }

    pub fn root_url(&self) -> Result<Url, ChargebeeError> {
        if let Some(u) = &self.base_url {
            return Ok(u.clone());
        }
        let site = self.site.trim().to_ascii_lowercase();
        if site.is_empty() || !site.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(ChargebeeError::Config(format!(
                "`{}` is not a Chargebee site name",
                self.site
            )));
        }
        Url::parse(&format!("https://{site}.chargebee.com/api/v2/"))
            .map_err(|e| ChargebeeError::Config(e.to_string()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ChargebeeError {
    #[error("Chargebee answered {status} to {operation}: {message}")]
    Api {
        status: u16,
        operation: String,
        message: String,
    },
    #[error("Chargebee {operation}: {message}")]
    Transport { operation: String, message: String },
    #[error("Chargebee {operation}: unexpected answer: {message}")]
    Decode { operation: String, message: String },
    #[error(transparent)]
    Map(#[from] map::MapError),
    #[error("Chargebee settings: {0}")]
    Config(String),
}

impl ChargebeeError {
    pub fn is_retryable(&self) -> bool {
        match self {
            ChargebeeError::Api { status, .. } => matches!(status, 429 | 500..=599),
            ChargebeeError::Transport { .. } => true,
            _ => false,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, ChargebeeError::Api { status: 404, .. })
    }
}

#[derive(Deserialize)]
struct ItemPriceEnvelope {
    item_price: wire::ItemPrice,
}

#[derive(Deserialize)]
struct PlanEnvelope {
    plan: wire::LegacyCatalogEntry,
}

#[derive(Deserialize)]
struct AddonEnvelope {
    addon: wire::LegacyCatalogEntry,
}

#[derive(Deserialize)]
struct InvoiceEnvelope {
    invoice: wire::Invoice,
}

#[derive(Deserialize)]
struct CustomerEnvelope {
    customer: wire::Customer,
}

#[derive(Deserialize)]
struct CreditNoteEnvelope {
    credit_note: wire::CreditNote,
}

#[derive(Deserialize)]
struct TransactionEnvelope {
    transaction: wire::Transaction,
}

#[derive(Deserialize)]
struct ListPage<E> {
    list: Vec<E>,
    next_offset: Option<String>,
}

/// The most records a Chargebee list call returns (`limit`), and so the most ids per `id[in]`.
const LIST_MAX: usize = 100;

/// Every credit note that concerns the invoice, once: refunds are paid out of the notes raised
/// against it, and the flow posts them all as credit memos.
fn note_ids(inv: &wire::Invoice) -> Vec<String> {
    let mut ids: Vec<String> = inv
        .issued_credit_notes
        .iter()
        .chain(&inv.adjustment_credit_notes)
        .filter_map(|c| c.cn_id.clone())
        .chain(inv.applied_credits.iter().filter_map(|c| c.cn_id.clone()))
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// The invoice in the model, with its customer and its credit notes (payments still without
/// their transactions' references).
fn assemble(
    inv: &wire::Invoice,
    customer: Customer,
    notes: Vec<CreditNote>,
) -> Result<Invoice, ChargebeeError> {
    let refunds = notes
        .iter()
        .filter(|cn| cn.origin_invoice_uids.contains(&inv.id))
        .flat_map(|cn| cn.refunds.iter().cloned())
        .collect();
    let mut mapped = map::invoice(inv, customer, refunds)?;
    mapped.credit_notes = notes;
    // Chargebee's mapping gives a credit memo the PO number of the invoice it credits.
    for cn in &mut mapped.credit_notes {
        if cn.origin_invoice_uids.contains(&inv.id) {
            cn.po_number.clone_from(&mapped.po_number);
        }
    }
    Ok(mapped)
}

/// The invoice lists payments by id only; the transactions carry the references. Chargebee's
/// mapping: memo = id at gateway, else the reference number.
fn take_references(p: &mut Payment, t: &wire::Transaction) {
    p.memo = t.id_at_gateway.clone().or(t.reference_number.clone());
    p.reference = t.reference_number.clone();
    p.gateway = t.gateway.clone();
    p.source_type = t.payment_method.clone();
    p.exchange_rate = map::rate(t.exchange_rate);
}

/// A refund's transaction: the same memo and check number as a payment's, and the gateway
/// and rate it was paid out at.
fn take_refund_references(r: &mut Refund, t: &wire::Transaction) {
    r.memo = t.id_at_gateway.clone().or(t.reference_number.clone());
    r.reference = t.reference_number.clone();
    r.gateway = t.gateway.clone();
    r.exchange_rate = map::rate(t.exchange_rate);
}

/// The ids of the refund transactions an invoice carries, once each.
fn refund_ids(inv: &mut Invoice) -> Vec<String> {
    let mut ids: Vec<String> = inv.refunds_mut().map(|r| r.id.clone()).collect();
    ids.sort();
    ids.dedup();
    ids
}

struct Inner {
    http: reqwest::Client,
    root: Url,
    api_key: Secret,
    retry: RetryPolicy,
}

/// A client for one Chargebee site.
#[derive(Clone)]
pub struct ChargebeeClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ChargebeeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChargebeeClient")
            .field("root", &self.inner.root.as_str())
            .finish_non_exhaustive()
    }
}

impl ChargebeeClient {
    pub fn new(config: ChargebeeConfig) -> Result<Self, ChargebeeError> {
        let root = config.root_url()?;
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            // The API answers where it is asked; a redirect would mean a misconfigured site.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("billsync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ChargebeeError::Config(e.to_string()))?;
        Ok(ChargebeeClient {
            inner: Arc::new(Inner {
                http,
                root,
                api_key: config.api_key,
                retry: config.retry,
            }),
        })
    }

    pub async fn customer(&self, id: &str) -> Result<Customer, ChargebeeError> {
        let e: CustomerEnvelope = self.get(&format!("customers/{}", seg(id)), &[]).await?;
        Ok(map::customer(&e.customer))
    }

    pub async fn credit_note(&self, id: &str) -> Result<CreditNote, ChargebeeError> {
        let e: CreditNoteEnvelope = self.get(&format!("credit_notes/{}", seg(id)), &[]).await?;
        Ok(map::credit_note(&e.credit_note)?)
    }

    pub async fn transaction(&self, id: &str) -> Result<wire::Transaction, ChargebeeError> {
        let e: TransactionEnvelope = self.get(&format!("transactions/{}", seg(id)), &[]).await?;
        Ok(e.transaction)
    }

    /// An invoice with its customer, its payments' references and the refunds of its credit
    /// notes: everything the sync needs.
    pub async fn invoice(&self, id: &str) -> Result<Invoice, ChargebeeError> {
        let e: InvoiceEnvelope = self.get(&format!("invoices/{}", seg(id)), &[]).await?;
        let inv = e.invoice;
        // The customer, the credit notes and the payments' transactions are read side by
        // side: one round trip after the invoice's instead of one after another.
        let note_ids = note_ids(&inv);
        let txn_ids: Vec<String> = map::settled_payments(&inv).map(|(_, id)| id).collect();
        let (customer, notes, txns) = match inv.customer_id.as_deref() {
            Some(c) => futures::try_join!(
                self.customer(c),
                try_join_all(note_ids.iter().map(|id| self.credit_note(id))),
                try_join_all(txn_ids.iter().map(|id| self.transaction(id))),
            )?,
            None => {
                return Err(map::MapError {
                    record: "invoice",
                    id: inv.id,
                    problem: "names no customer".into(),
                }
                .into())
            }
        };
        let mut mapped = assemble(&inv, customer, notes)?;
        // The payments are `settled_payments`, so each one's transaction was read above.
        for p in &mut mapped.payments {
            if let Some(t) = txns.iter().find(|t| t.id == p.id) {
                take_references(p, t);
            }
        }
        // Refunds are named by the credit notes, so their transactions come a round trip
        // later, and only for invoices that have any.
        let refunds = refund_ids(&mut mapped);
        if !refunds.is_empty() {
            let txns = try_join_all(refunds.iter().map(|id| self.transaction(id))).await?;
            for r in mapped.refunds_mut() {
                if let Some(t) = txns.iter().find(|t| t.id == r.id) {
                    take_refund_references(r, t);
                }
            }
        }
        Ok(mapped)
    }

    /// Many invoices, each as [`invoice`](Self::invoice) reads it, in one list call per kind
    /// of record (invoices, customers, credit notes, transactions) for up to 100 invoices
    /// instead of three or more reads for each. Chargebee limits calls per minute per site
    /// (150 on test sites, 1,000 or 3,500 on live plans), which reading invoice by invoice
    /// would spend several times faster than NetSuite can take the invoices.
    ///
    /// Invoices the lists do not cover entirely (unknown or deleted, a record they name
    /// missing, a figure that does not map) are left out: read one by one, they get the error
    /// that says why.
    pub async fn invoices(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, Invoice>, ChargebeeError> {
        let wanted: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
        let ids: Vec<&str> = wanted.iter().copied().collect();
        let invoices: Vec<wire::Invoice> = self
            .list_by_id::<InvoiceEnvelope>("invoices", &ids)
            .await?
            .into_iter()
            .map(|e| e.invoice)
            .filter(|i| wanted.contains(i.id.as_str()))
            .collect();

        let customer_ids: BTreeSet<&str> = invoices
            .iter()
            .filter_map(|i| i.customer_id.as_deref())
            .collect();
        let customers: HashMap<String, Customer> = self
            .list_by_id::<CustomerEnvelope>(
                "customers",
                &customer_ids.into_iter().collect::<Vec<_>>(),
            )
            .await?
            .into_iter()
            .map(|e| (e.customer.id.clone(), map::customer(&e.customer)))
            .collect();

        let all_notes: BTreeSet<String> = invoices.iter().flat_map(note_ids).collect();
        let all_notes: Vec<&str> = all_notes.iter().map(String::as_str).collect();
        let notes: HashMap<String, CreditNote> = self
            .list_by_id::<CreditNoteEnvelope>("credit_notes", &all_notes)
            .await?
            .into_iter()
            .filter_map(|e| {
                Some((
                    e.credit_note.id.clone(),
                    map::credit_note(&e.credit_note).ok()?,
                ))
            })
            .collect();

        let mut mapped: Vec<Invoice> = Vec::with_capacity(invoices.len());
        for inv in &invoices {
            let Some(customer) = inv.customer_id.as_deref().and_then(|c| customers.get(c)) else {
                continue;
            };
            let Some(its_notes) = note_ids(inv)
                .into_iter()
                .map(|id| notes.get(&id).cloned())
                .collect::<Option<Vec<_>>>()
            else {
                continue;
            };
            if let Ok(m) = assemble(inv, customer.clone(), its_notes) {
                mapped.push(m);
            }
        }

        let refunds: Vec<String> = mapped.iter_mut().flat_map(refund_ids).collect();
        let txn_ids: BTreeSet<&str> = mapped
            .iter()
            .flat_map(|i| i.payments.iter().map(|p| p.id.as_str()))
            .chain(refunds.iter().map(String::as_str))
            .collect();
        let txns: HashMap<String, wire::Transaction> = self
            .list_by_id::<TransactionEnvelope>(
                "transactions",
                &txn_ids.into_iter().collect::<Vec<_>>(),
            )
            .await?
            .into_iter()
            .map(|e| (e.transaction.id.clone(), e.transaction))
            .collect();
        let mut out = HashMap::with_capacity(mapped.len());
        'invoices: for mut inv in mapped {
            for r in inv.refunds_mut() {
                match txns.get(&r.id) {
                    Some(t) => take_refund_references(r, t),
                    None => continue 'invoices,
                }
            }
            for p in &mut inv.payments {
                match txns.get(&p.id) {
                    Some(t) => take_references(p, t),
                    None => continue 'invoices,
                }
            }
            out.insert(inv.uid.clone(), inv);
        }
        Ok(out)
    }

    /// The ids of invoices dated from `from` to `to` (whole UTC days, both included), oldest
    /// first, a list page at a time (`date[between]`, `sort_by[asc]=date`).
    pub fn invoice_ids_dated(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> impl Stream<Item = Result<Vec<String>, ChargebeeError>> + Send + 'static {
        let client = self.clone();
        let start = from
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc()
            .timestamp();
        let end = to
            .and_hms_opt(23, 59, 59)
            .expect("the last second exists")
            .and_utc()
            .timestamp();
        stream::try_unfold(Some(None::<String>), move |offset| {
            let client = client.clone();
            async move {
                let Some(offset) = offset else {
                    return Ok::<_, ChargebeeError>(None);
                };
                let mut q = vec![
                    ("date[between]", format!("[{start},{end}]")),
                    ("sort_by[asc]", "date".to_owned()),
                    ("limit", LIST_MAX.to_string()),
                ];
                if let Some(o) = offset {
                    q.push(("offset", o));
                }
                let page: ListPage<InvoiceEnvelope> = client.get("invoices", &q).await?;
                let next = page.next_offset.clone().filter(|o| !o.is_empty()).map(Some);
                let ids = page.list.into_iter().map(|e| e.invoice.id).collect();
                Ok(Some((ids, next)))
            }
        })
    }

    /// Records of one resource by id, `LIST_MAX` ids per list call (`id[in]`).
    async fn list_by_id<E: DeserializeOwned>(
        &self,
        resource: &str,
        ids: &[&str],
    ) -> Result<Vec<E>, ChargebeeError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(LIST_MAX) {
            let filter = serde_json::to_string(chunk).expect("a list of strings serializes");
            let mut offset: Option<String> = None;
            loop {
                let mut q = vec![("id[in]", filter.clone()), ("limit", LIST_MAX.to_string())];
                if let Some(o) = offset.take() {
                    q.push(("offset", o));
                }
                let page: ListPage<E> = self.get(resource, &q).await?;
                out.extend(page.list);
                match page.next_offset.filter(|o| !o.is_empty()) {
                    Some(o) => offset = Some(o),
                    None => break,
                }
            }
        }
        Ok(out)
    }

    /// The catalog entry an invoice line names: `entity_type` says where it lives (item prices
    /// on product catalog 2.0 sites, plans and add-ons on 1.0 sites). `None` for lines of no
    /// catalog entry (ad-hoc charges, setup fees).
    pub async fn catalog_entry(
        &self,
        entity_type: &str,
        entity_id: &str,
    ) -> Result<Option<CatalogEntry>, ChargebeeError> {
        let id = seg(entity_id);
        Ok(match entity_type {
            "plan_item_price" | "addon_item_price" | "charge_item_price" => {
                let e: ItemPriceEnvelope = self.get(&format!("item_prices/{id}"), &[]).await?;
                Some(map::item_price(&e.item_price))
            }
            "plan" => {
                let e: PlanEnvelope = self.get(&format!("plans/{id}"), &[]).await?;
                Some(map::legacy_entry(&e.plan, true))
            }
            "addon" => {
                let e: AddonEnvelope = self.get(&format!("addons/{id}"), &[]).await?;
                Some(map::legacy_entry(&e.addon, false))
            }
            _ => None,
        })
    }

    /// Events from `after` (Unix seconds), oldest first, page by page (`next_offset`).
    pub fn events(
        &self,
        after: i64,
        limit: u32,
    ) -> impl Stream<Item = Result<wire::Event, ChargebeeError>> + Send + 'static {
        let client = self.clone();
        let limit = limit.clamp(1, 100);
        stream::try_unfold(Some(None::<String>), move |offset| {
            let client = client.clone();
            async move {
                let Some(offset) = offset else {
                    return Ok::<_, ChargebeeError>(None);
                };
                let mut q = vec![
                    ("occurred_at[after]", after.to_string()),
                    ("sort_by[asc]", "occurred_at".to_owned()),
                    ("limit", limit.to_string()),
                ];
                if let Some(o) = offset {
                    q.push(("offset", o));
                }
                let page: wire::EventList = client.get("events", &q).await?;
                let next = page.next_offset.clone().filter(|o| !o.is_empty()).map(Some);
                let events = page.list.into_iter().map(|e| Ok(e.event));
                Ok(Some((stream::iter(events), next)))
            }
        })
        .try_flatten()
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, ChargebeeError> {
        let url = http::url(&self.inner.root, path, query).map_err(ChargebeeError::Config)?;
        let operation = format!("GET {path}");
        let api = http::Api {
            http: &self.inner.http,
            // The API key is the user; the password is empty.
            user: &self.inner.api_key,
            password: "",
            retry: &self.inner.retry,
            limiter: None,
            vendor: "Chargebee",
        };
        let body = api
            .get(
                &url,
                &operation,
                |failure| match failure {
                    http::Failure::Transport(message) => ChargebeeError::Transport {
                        operation: operation.clone(),
                        message,
                    },
                    http::Failure::Status { status, body } => ChargebeeError::Api {
                        status,
                        operation: operation.clone(),
                        message: error_message(&body),
                    },
                },
                ChargebeeError::is_retryable,
            )
            .await?;
        serde_json::from_slice(&body).map_err(|e| ChargebeeError::Decode {
            operation,
            message: e.to_string(),
        })
    }
}

/// Chargebee's error bodies carry a `message`; anything else is shown as text.
fn error_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct ErrorBody {
        message: Option<String>,
    }
    serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.message)
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(300).collect())
}
