//! Maxio Advanced Billing API client: HTTP Basic with the site's API key, at most 4 requests
//! in flight per site (Maxio's concurrency limit), backoff on 429, and page-by-page streams.

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use futures::stream::{self, Stream, StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use url::Url;

use super::map::{self, MapError};
use super::wire;
use crate::billing::http::{self, segment as seg};
use crate::billing::model::{CatalogEntry, CreditNote, Customer, Invoice};
use crate::retry::RetryPolicy;
use crate::Secret;

/// Maxio serves at most about 4 concurrent requests per site; more are queued and slowed.
pub const MAX_CONCURRENCY: usize = 4;
/// The largest page Maxio's list endpoints serve.
pub const MAX_PER_PAGE: u32 = 200;

/// Where a Maxio site is hosted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    /// `https://<subdomain>.chargify.com`
    Us,
    /// `https://<subdomain>.ebilling.maxio.com`
    Eu,
}

#[derive(Clone, Debug)]
pub struct MaxioConfig {
    pub subdomain: String,
    pub region: Region,
    pub api_key: Secret,
    /// Replaces the host derived from subdomain and region (tests, the simulator).
    pub base_url: Option<Url>,
    /// Requests in flight at most; capped at [`MAX_CONCURRENCY`].
    pub concurrency: usize,
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
}

impl MaxioConfig {
    pub fn new(subdomain: impl Into<String>, api_key: Secret) -> Self {
        MaxioConfig {
            subdomain: subdomain.into(),
            region: Region::Us,
            api_key,
            base_url: None,
            concurrency: 2,
            // Maxio cuts every request off at 120 s.
            request_timeout: Duration::from_secs(120),
            retry: RetryPolicy {
                max_attempts: 6,
                base_delay: Duration::from_secs(2),
                max_delay: Duration::from_secs(120),
            },
        }
    }

    pub fn root_url(&self) -> Result<Url, MaxioError> {
        if let Some(url) = &self.base_url {
            return Ok(url.clone());
        }
        let sub = self.subdomain.trim().to_ascii_lowercase();
        if sub.is_empty() || !sub.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(MaxioError::Config(format!(
                "`{}` is not a Maxio site subdomain",
                self.subdomain
            )));
        }
        let host = match self.region {
            Region::Us => format!("https://{sub}.chargify.com/"),
            Region::Eu => format!("https://{sub}.ebilling.maxio.com/"),
        };
        Url::parse(&host).map_err(|e| MaxioError::Config(e.to_string()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MaxioError {
    #[error("Maxio answered {status} to {operation}: {message}")]
    Api {
        status: u16,
        operation: String,
        message: String,
    },
    #[error("Maxio {operation}: {message}")]
    Transport { operation: String, message: String },
    #[error("Maxio {operation}: unexpected answer: {message}")]
    Decode { operation: String, message: String },
    #[error(transparent)]
    Map(#[from] MapError),
    #[error("Maxio settings: {0}")]
    Config(String),
}

impl MaxioError {
    /// 429, 5xx, 408 and transport failures go away by themselves; the rest need a person.
    pub fn is_retryable(&self) -> bool {
        match self {
            MaxioError::Api { status, .. } => matches!(status, 408 | 429 | 500..=599),
            MaxioError::Transport { .. } => true,
            _ => false,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, MaxioError::Api { status: 404, .. })
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            MaxioError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Which date an invoice listing filters on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateField {
    CreatedAt,
    DueDate,
    IssueDate,
    UpdatedAt,
    PaidDate,
}

impl DateField {
    fn as_str(self) -> &'static str {
        match self {
            DateField::CreatedAt => "created_at",
            DateField::DueDate => "due_date",
            DateField::IssueDate => "issue_date",
            DateField::UpdatedAt => "updated_at",
            DateField::PaidDate => "paid_date",
        }
    }
}

/// A listing of invoices by date range (inclusive whole days in the site's time zone).
#[derive(Clone, Debug)]
pub struct InvoiceQuery {
    pub date_field: DateField,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub per_page: u32,
}

/// Where to start reading invoice events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventsSince {
    /// Events with an id greater than this one.
    Id(u64),
    /// Events from this day on (the first sweep, from the sync start date).
    Date(NaiveDate),
}

struct Inner {
    http: reqwest::Client,
    root: Url,
    api_key: Secret,
    limiter: Semaphore,
    retry: RetryPolicy,
}

/// A client for one Maxio site. Clones share the connection pool and the concurrency limit.
#[derive(Clone)]
pub struct MaxioClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for MaxioClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaxioClient")
            .field("root", &self.inner.root.as_str())
            .finish_non_exhaustive()
    }
}

/// Include flags that make list endpoints return full invoice detail.
const INVOICE_DETAIL: [(&str, &str); 7] = [
    ("line_items", "true"),
    ("discounts", "true"),
    ("taxes", "true"),
    ("credits", "true"),
    ("payments", "true"),
    ("refunds", "true"),
    ("custom_fields", "true"),
];

impl MaxioClient {
    pub fn new(config: MaxioConfig) -> Result<Self, MaxioError> {
        let root = config.root_url()?;
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("billsync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| MaxioError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(MaxioClient {
            inner: Arc::new(Inner {
                http,
                root,
                api_key: config.api_key,
                limiter: Semaphore::new(config.concurrency.clamp(1, MAX_CONCURRENCY)),
                retry: config.retry,
            }),
        })
    }

    /// One invoice with all its detail (`GET /invoices/{uid}.json`).
    pub async fn invoice(&self, uid: &str) -> Result<Invoice, MaxioError> {
        Ok(map::invoice(&self.invoice_wire(uid).await?)?)
    }

    /// One invoice as Maxio sends it.
    pub async fn invoice_wire(&self, uid: &str) -> Result<wire::Invoice, MaxioError> {
        self.get_json(&format!("invoices/{}.json", seg(uid)), &[])
            .await
    }

    /// Invoices whose `date_field` falls in the range, with full detail, page by page.
    pub fn invoices(
        &self,
        query: InvoiceQuery,
    ) -> impl Stream<Item = Result<Invoice, MaxioError>> + Send + 'static {
        let client = self.clone();
        let per_page = query.per_page.clamp(1, MAX_PER_PAGE);
        pages(move |page| {
            let client = client.clone();
            let query = query.clone();
            async move {
                let mut params: Vec<(&str, String)> = vec![
                    ("date_field", query.date_field.as_str().into()),
                    ("start_date", query.start_date.to_string()),
                    ("end_date", query.end_date.to_string()),
                    ("direction", "asc".into()),
                    ("page", page.to_string()),
                    ("per_page", per_page.to_string()),
                ];
                params.extend(INVOICE_DETAIL.iter().map(|(k, v)| (*k, (*v).to_owned())));
                let body: wire::InvoicesPage = client.get_json("invoices.json", &params).await?;
                let last = body.invoices.is_empty();
                body.invoices
                    .iter()
                    .map(|i| map::invoice(i).map_err(MaxioError::from))
                    .collect::<Result<Vec<_>, _>>()
                    .map(|v| (v, last))
            }
        })
    }

    /// The segments (child invoices) of a consolidated invoice, totals only.
    pub fn segments(
        &self,
        parent_uid: &str,
    ) -> impl Stream<Item = Result<wire::Invoice, MaxioError>> + Send + 'static {
        let client = self.clone();
        let path = format!("invoices/{}/segments.json", seg(parent_uid));
        pages(move |page| {
            let client = client.clone();
            let path = path.clone();
            async move {
                let params = [
                    ("page", page.to_string()),
                    ("per_page", MAX_PER_PAGE.to_string()),
                ];
                let body: wire::InvoicesPage = client.get_json(&path, &params).await?;
                let last = body.invoices.is_empty();
                Ok((body.invoices, last))
            }
        })
    }

    /// Invoice events in ascending order from a cursor: the sweep's backbone. Each event
    /// carries a snapshot of its invoice.
    pub fn invoice_events(
        &self,
        since: EventsSince,
        per_page: u32,
    ) -> impl Stream<Item = Result<wire::InvoiceEvent, MaxioError>> + Send + 'static {
        let client = self.clone();
        let per_page = per_page.clamp(1, MAX_PER_PAGE);
        pages(move |page| {
            let client = client.clone();
            async move {
                let mut params = vec![
                    ("page", page.to_string()),
                    ("per_page", per_page.to_string()),
                    ("with_change_invoice_status", "true".to_owned()),
                ];
                match since {
                    EventsSince::Id(id) => params.push(("since_id", id.to_string())),
                    EventsSince::Date(d) => params.push(("since_date", d.to_string())),
                }
                let body: wire::InvoiceEventsPage =
                    client.get_json("invoices/events.json", &params).await?;
                let last = body.events.is_empty()
                    || body.total_pages.is_some_and(|t| u64::from(page) >= t);
                Ok((body.events, last))
            }
        })
    }

    pub async fn credit_note(&self, uid: &str) -> Result<CreditNote, MaxioError> {
        let cn: wire::CreditNote = self
            .get_json(&format!("credit_notes/{}.json", seg(uid)), &[])
            .await?;
        Ok(map::credit_note(&cn)?)
    }

    /// All credit notes with their detail, page by page.
    pub fn credit_notes(
        &self,
    ) -> impl Stream<Item = Result<CreditNote, MaxioError>> + Send + 'static {
        self.credit_notes_for_subscription(None)
    }

    /// Credit notes with their detail, of one subscription when given, page by page.
    pub fn credit_notes_for_subscription(
        &self,
        subscription_id: Option<&str>,
    ) -> impl Stream<Item = Result<CreditNote, MaxioError>> + Send + 'static {
        let client = self.clone();
        let subscription_id = subscription_id.map(str::to_owned);
        pages(move |page| {
            let client = client.clone();
            let subscription_id = subscription_id.clone();
            async move {
                let mut params = vec![
                    ("page", page.to_string()),
                    ("per_page", MAX_PER_PAGE.to_string()),
                    ("line_items", "true".into()),
                    ("discounts", "true".into()),
                    ("taxes", "true".into()),
                    ("refunds", "true".into()),
                    ("applications", "true".into()),
                ];
                if let Some(id) = subscription_id {
                    params.push(("subscription_id", id));
                }
                let body: wire::CreditNotesPage =
                    client.get_json("credit_notes.json", &params).await?;
                let last = body.credit_notes.is_empty();
                body.credit_notes
                    .iter()
                    .map(|c| map::credit_note(c).map_err(MaxioError::from))
                    .collect::<Result<Vec<_>, _>>()
                    .map(|v| (v, last))
            }
        })
    }

    pub async fn customer(&self, id: &str) -> Result<Customer, MaxioError> {
        let env: wire::CustomerEnvelope = self
            .get_json(&format!("customers/{}.json", seg(id)), &[])
            .await?;
        Ok(map::customer(&env.customer)?)
    }

    pub fn customers(&self) -> impl Stream<Item = Result<Customer, MaxioError>> + Send + 'static {
        self.plain_list("customers.json", |c: &wire::CustomerEnvelope| {
            map::customer(&c.customer)
                .map(Some)
                .map_err(MaxioError::from)
        })
    }

    /// The product catalog, for item mapping.
    pub fn products(
        &self,
    ) -> impl Stream<Item = Result<CatalogEntry, MaxioError>> + Send + 'static {
        self.plain_list("products.json", |p: &wire::ProductEnvelope| {
            Ok(map::product(&p.product))
        })
    }

    /// The component catalog, for item mapping.
    pub fn components(
        &self,
    ) -> impl Stream<Item = Result<CatalogEntry, MaxioError>> + Send + 'static {
        self.plain_list("components.json", |c: &wire::ComponentEnvelope| {
            Ok(map::component(&c.component))
        })
    }

    /// A list endpoint answering a bare JSON array of envelopes, paged with page/per_page;
    /// `map` turns each envelope into an item (or skips it with `None`).
    fn plain_list<E, T, F>(
        &self,
        path: &'static str,
        map: F,
    ) -> impl Stream<Item = Result<T, MaxioError>> + Send + 'static
    where
        E: serde::de::DeserializeOwned + Send + 'static,
        T: Send + 'static,
        F: Fn(&E) -> Result<Option<T>, MaxioError> + Copy + Send + Sync + 'static,
    {
        let client = self.clone();
        pages(move |page| {
            let client = client.clone();
            async move {
                let params = [
                    ("page", page.to_string()),
                    ("per_page", MAX_PER_PAGE.to_string()),
                ];
                let body: Vec<E> = client.get_json(path, &params).await?;
                let items = body
                    .iter()
                    .map(map)
                    .filter_map(Result::transpose)
                    .collect::<Result<Vec<T>, _>>()?;
                // An empty page ends the listing; a page whose entries were all skipped does not.
                Ok((items, body.is_empty()))
            }
        })
    }

    /// GET with Basic auth under the concurrency limit, retrying what goes away by itself.
    async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, MaxioError> {
        let url = http::url(&self.inner.root, path, query).map_err(MaxioError::Config)?;
        let operation = format!("GET /{path}");
        let api = http::Api {
            http: &self.inner.http,
            // Maxio checks only the key; the password is conventionally "x".
            user: &self.inner.api_key,
            password: "x",
            retry: &self.inner.retry,
            limiter: Some(&self.inner.limiter),
            vendor: "Maxio",
        };
        let body = api
            .get(
                &url,
                &operation,
                |failure| match failure {
                    http::Failure::Transport(message) => MaxioError::Transport {
                        operation: operation.clone(),
                        message,
                    },
                    http::Failure::Status { status, body } => MaxioError::Api {
                        status,
                        operation: operation.clone(),
                        message: error_message(&body),
                    },
                },
                MaxioError::is_retryable,
            )
            .await?;
        serde_json::from_slice(&body).map_err(|e| MaxioError::Decode {
            operation,
            message: e.to_string(),
        })
    }
}

/// Maxio's error bodies are `{"errors": [...]}` (or a string), sometimes plain text.
fn error_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Errors {
        List { errors: Vec<serde_json::Value> },
        One { errors: serde_json::Value },
    }
    match serde_json::from_slice::<Errors>(body) {
        Ok(Errors::List { errors }) => errors
            .iter()
            .map(|e| {
                e.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| e.to_string())
            })
            .collect::<Vec<_>>()
            .join("; "),
        Ok(Errors::One { errors }) => errors.to_string(),
        Err(_) => String::from_utf8_lossy(body).chars().take(300).collect(),
    }
}

/// Reads pages 1, 2, ... until `fetch` says a page was the last (an empty page, or the last of
/// `total_pages`), yielding items as they arrive: one page in memory at a time.
fn pages<T, F, Fut>(fetch: F) -> impl Stream<Item = Result<T, MaxioError>> + Send + 'static
where
    T: Send + 'static,
    F: Fn(u32) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(Vec<T>, bool), MaxioError>> + Send + 'static,
{
    let fetch = Arc::new(fetch);
    stream::try_unfold(Some(1u32), move |page| {
        let fetch = fetch.clone();
        async move {
            let Some(page) = page else {
                return Ok::<_, MaxioError>(None);
            };
            let (items, last) = fetch(page).await?;
            let next = (!last).then_some(page + 1);
            Ok(Some((stream::iter(items.into_iter().map(Ok)), next)))
        }
    })
    .try_flatten()
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_follow_the_region() {
        let mut c = MaxioConfig::new("Acme-Demo", Secret::new("k"));
        assert_eq!(
            c.root_url().unwrap().as_str(),
            "https://acme-demo.chargify.com/"
        );
        c.region = Region::Eu;
        assert_eq!(
            c.root_url().unwrap().as_str(),
            "https://acme-demo.ebilling.maxio.com/"
        );
        c.subdomain = "evil.example.com/x".into();
        assert!(c.root_url().is_err());
        c.base_url = Some(Url::parse("http://127.0.0.1:9/").unwrap());
        assert_eq!(c.root_url().unwrap().as_str(), "http://127.0.0.1:9/");
    }

    #[test]
    fn the_key_never_shows() {
        let c = MaxioConfig::new("acme", Secret::new("super-secret-key"));
        assert!(!format!("{c:?}").contains("super-secret-key"));
    }
}
