//! The billing-source port the sync engine reads through; each source implements it in its
//! own module (`billing::maxio::source`, `billing::chargebee::source`).
//! The engine never trusts a webhook for amounts: it always reads the invoice here.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::NaiveDate;
use futures::stream::BoxStream;

use super::model::{CatalogEntry, CreditNote, Customer, Invoice, Line, Source};
use crate::error::Cause;

/// A billing read that failed: what the engine decides on (may it retry, is the record gone)
/// and the vendor client's own error kept as the source.
#[derive(Debug, Clone)]
pub struct SourceError {
    pub message: String,
    pub retryable: bool,
    pub not_found: bool,
    pub cause: Option<Cause>,
}

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SourceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // The vendor error itself, not the `Arc` around it, so callers can downcast it.
        self.cause
            .as_deref()
            .map(|c| c as &(dyn std::error::Error + 'static))
    }
}

impl SourceError {
    /// A client that cannot be built from the tenant's settings or secret.
    pub fn config(message: impl Into<String>) -> Self {
        SourceError {
            message: message.into(),
            retryable: false,
            not_found: false,
            cause: None,
        }
    }

    /// A vendor client's error, judged by the adapter that knows what it means.
    pub fn vendor(
        e: impl std::error::Error + Send + Sync + 'static,
        retryable: bool,
        not_found: bool,
    ) -> Self {
        SourceError {
            message: e.to_string(),
            retryable,
            not_found,
            cause: Some(std::sync::Arc::new(e)),
        }
    }
}

#[async_trait]
pub trait BillingSource: Send + Sync {
    fn source(&self) -> Source;
    /// The invoice as billing holds it now, with every line (a consolidated invoice's lines
    /// are its segments' lines).
    async fn invoice(&self, uid: &str) -> Result<Invoice, SourceError>;
    /// Credit notes that concern this invoice: applied to it, or raised against it (refunds).
    async fn credit_notes_for(&self, invoice: &Invoice) -> Result<Vec<CreditNote>, SourceError>;
    /// The catalog entry a line was billed from, for creating its NetSuite item; `None` when
    /// the line has none or the source does not offer it.
    async fn catalog_entry(&self, _line: &Line) -> Result<Option<CatalogEntry>, SourceError> {
        Ok(None)
    }
    /// Every product and component a mapping may name, for the preflight; `None` when the
    /// source maps items another way (Chargebee's item mapping creates them).
    async fn catalog(&self) -> Result<Option<Vec<CatalogEntry>>, SourceError> {
        Ok(None)
    }
    /// A customer as billing holds it now.
    async fn customer(&self, id: &str) -> Result<Customer, SourceError>;
    /// Several invoices read together, as [`invoice`](Self::invoice) reads each, where the
    /// source can do that in fewer calls; an invoice left out is read on its own. Sources
    /// without such a read return nothing.
    async fn invoices(&self, _uids: &[String]) -> HashMap<String, Invoice> {
        HashMap::new()
    }
    /// The source's events after `cursor` (a value an earlier page gave; from the start of
    /// `start` when there is none), a page at a time, each page with the invoices its events
    /// concern and the cursor that follows it.
    fn event_pages(
        &self,
        cursor: Option<String>,
        start: NaiveDate,
    ) -> BoxStream<'static, Result<EventPage, SourceError>>;
    /// Invoices issued from `from` to `to` (whole days in the site's time zone, both
    /// included), a page at a time, each with the figures [`invoice`](Self::invoice) gives.
    /// What reconcile compares and backfill queues.
    fn invoices_issued(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> BoxStream<'static, Result<Vec<Invoice>, SourceError>>;
}

/// One page of a source's event stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventPage {
    /// How many events the page held.
    pub events: usize,
    /// The invoices the events concern, in event order; one invoice may appear more than once.
    pub invoices: Vec<EventInvoice>,
    /// The cursor to keep once this page's invoices are queued; `None` leaves it as it was.
    pub cursor: Option<String>,
}

/// An invoice an event concerns, with a key naming the event (for de-duplicating the message).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventInvoice {
    pub uid: String,
    pub event_key: String,
}

/// A source with one invoice already read (by [`BillingSource::invoices`], for a batch): the
/// first read of that invoice is answered from it, everything else goes to the source.
pub struct Preloaded<'a> {
    source: &'a dyn BillingSource,
    invoice: std::sync::Mutex<Option<Invoice>>,
}

impl<'a> Preloaded<'a> {
    pub fn new(source: &'a dyn BillingSource, invoice: Option<Invoice>) -> Self {
        Preloaded {
            source,
            invoice: std::sync::Mutex::new(invoice),
        }
    }

    fn take(&self, uid: &str) -> Option<Invoice> {
        let mut slot = self
            .invoice
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Once only: a flow that reads again wants billing as it is by then.
        slot.take_if(|i| i.uid == uid)
    }
}

#[async_trait]
impl BillingSource for Preloaded<'_> {
    fn source(&self) -> Source {
        self.source.source()
    }

    async fn invoice(&self, uid: &str) -> Result<Invoice, SourceError> {
        match self.take(uid) {
            Some(invoice) => Ok(invoice),
            None => self.source.invoice(uid).await,
        }
    }

    async fn credit_notes_for(&self, invoice: &Invoice) -> Result<Vec<CreditNote>, SourceError> {
        self.source.credit_notes_for(invoice).await
    }

    async fn catalog_entry(&self, line: &Line) -> Result<Option<CatalogEntry>, SourceError> {
        self.source.catalog_entry(line).await
    }

    async fn customer(&self, id: &str) -> Result<Customer, SourceError> {
        self.source.customer(id).await
    }

    async fn invoices(&self, uids: &[String]) -> HashMap<String, Invoice> {
        self.source.invoices(uids).await
    }

    fn event_pages(
        &self,
        cursor: Option<String>,
        start: NaiveDate,
    ) -> BoxStream<'static, Result<EventPage, SourceError>> {
        self.source.event_pages(cursor, start)
    }

    fn invoices_issued(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> BoxStream<'static, Result<Vec<Invoice>, SourceError>> {
        self.source.invoices_issued(from, to)
    }
}
