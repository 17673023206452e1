//! Chargebee behind the billing-source port.

use std::collections::HashMap;

use async_trait::async_trait;

use super::client::{ChargebeeClient, ChargebeeError};
use crate::billing::model::{CatalogEntry, CreditNote, Customer, Invoice, Line, Source};
use crate::billing::source::{BillingSource, SourceError};

impl From<ChargebeeError> for SourceError {
    fn from(e: ChargebeeError) -> Self {
        SourceError {
            retryable: e.is_retryable(),
            not_found: e.is_not_found(),
            message: e.to_string(),
        }
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
}
