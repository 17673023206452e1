//! Chargebee behind the billing-source port.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::NaiveDate;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

use super::client::{ChargebeeClient, ChargebeeError};
use super::webhook::{classify, ChargebeeEvent};
use crate::billing::model::{CatalogEntry, CreditNote, Customer, Invoice, Line, Source};
use crate::billing::source::{BillingSource, EventInvoice, EventPage, SourceError};

/// The store cursor of Chargebee's events list: the newest `occurred_at` (Unix seconds) queued.
pub const EVENTS_CURSOR: &str = "chargebee-events";
const EVENTS_PAGE: u32 = 100;

impl From<ChargebeeError> for SourceError {
    fn from(e: ChargebeeError) -> Self {
        let (retryable, not_found) = (e.is_retryable(), e.is_not_found());
        SourceError::vendor(e, retryable, not_found)
    }
}

#[async_trait]
impl BillingSource for ChargebeeClient {
    fn source(&self) -> Source {
        Source::Chargebee
    }

    async fn invoice(&self, uid: &str) -> Result<Invoice, SourceError> {
        Ok(ChargebeeClient::invoice(self, uid).await?)
    }

    async fn credit_notes_for(&self, invoice: &Invoice) -> Result<Vec<CreditNote>, SourceError> {
        // Read together with the invoice (see `ChargebeeClient::invoice`).
        Ok(invoice.credit_notes.clone())
    }

    async fn customer(&self, id: &str) -> Result<Customer, SourceError> {
        Ok(ChargebeeClient::customer(self, id).await?)
    }

    async fn invoices(&self, uids: &[String]) -> HashMap<String, Invoice> {
        match ChargebeeClient::invoices(self, uids).await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, invoices = uids.len(), "reading invoices together failed; each is read on its own");
                HashMap::new()
            }
        }
    }

    async fn catalog_entry(&self, line: &Line) -> Result<Option<CatalogEntry>, SourceError> {
        match (line.entity_type.as_deref(), line.price_point_id.as_deref()) {
            (Some(kind), Some(id)) => Ok(self.catalog_entry(kind, id).await?),
            _ => Ok(None),
        }
    }

    fn event_pages(
        &self,
        cursor: Option<String>,
        start: NaiveDate,
    ) -> BoxStream<'static, Result<EventPage, SourceError>> {
        // `occurred_at[after]` is strict: ask from one second before the cursor so events
        // sharing its second are not lost; re-reading a few is harmless (flows are idempotent).
        let after = match cursor.as_deref().and_then(|c| c.parse::<i64>().ok()) {
            Some(t) => t - 1,
            None => start
                .and_hms_opt(0, 0, 0)
                .expect("midnight exists")
                .and_utc()
                .timestamp(),
        };
        self.events(after, EVENTS_PAGE)
            .try_chunks(EVENTS_PAGE as usize)
            .map(|page| {
                let page = page.map_err(|e| SourceError::from(e.1))?;
                let mut invoices = Vec::new();
                for e in &page {
                    let Some(ChargebeeEvent::Invoices { invoice_ids }) = classify(e) else {
                        continue;
                    };
                    for (n, uid) in invoice_ids.into_iter().enumerate() {
                        let event_key = match n {
                            0 => format!("ev-{}", e.id),
                            n => format!("ev-{}-{n}", e.id),
                        };
                        invoices.push(EventInvoice { uid, event_key });
                    }
                }
                Ok(EventPage {
                    events: page.len(),
                    invoices,
                    cursor: page
                        .iter()
                        .filter_map(|e| e.occurred_at)
                        .max()
                        .map(|t| t.to_string()),
                })
            })
            .boxed()
    }

    fn invoices_issued(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> BoxStream<'static, Result<Vec<Invoice>, SourceError>> {
        let client = self.clone();
        self.invoice_ids_dated(from, to)
            .map_err(SourceError::from)
            .and_then(move |ids| {
                let client = client.clone();
                async move {
                    let mut found = BillingSource::invoices(&client, &ids).await;
                    let mut out = Vec::with_capacity(ids.len());
                    for uid in &ids {
                        match found.remove(uid) {
                            Some(invoice) => out.push(invoice),
                            // Left out of the lists: read alone, it says why.
                            None => out.push(BillingSource::invoice(&client, uid).await?),
                        }
                    }
                    Ok(out)
                }
            })
            .boxed()
    }
}
