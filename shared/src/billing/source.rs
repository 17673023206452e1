//! The billing-source port the sync engine reads through, and its Maxio implementation.
//! The engine never trusts a webhook for amounts: it always reads the invoice here.

use std::collections::HashMap;

use async_trait::async_trait;
use futures::TryStreamExt;

use super::chargebee::client::{ChargebeeClient, ChargebeeError};
use super::maxio::client::{MaxioClient, MaxioError};
use super::model::{CatalogEntry, Consolidation, CreditNote, Customer, Invoice, Line, Source};

/// A billing read that failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    pub message: String,
    pub retryable: bool,
    pub not_found: bool,
}

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

impl From<MaxioError> for SourceError {
    fn from(e: MaxioError) -> Self {
        SourceError {
            retryable: e.is_retryable(),
            not_found: e.is_not_found(),
            message: e.to_string(),
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
    /// A customer as billing holds it now.
    async fn customer(&self, id: &str) -> Result<Customer, SourceError>;
    /// Several invoices read together, as [`invoice`](Self::invoice) reads each, where the
    /// source can do that in fewer calls; an invoice left out is read on its own. Sources
    /// without such a read return nothing.
    async fn invoices(&self, _uids: &[String]) -> HashMap<String, Invoice> {
        HashMap::new()
    }
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
}

/// Replaces an invoice's per-line discount and tax shares by their cent allocation against the
/// invoice's own 2-decimal figures (left as they are when they cannot be reconciled: the
/// validation then reports it).
fn settle_in_cents(invoice: &mut Invoice) {
    use crate::billing::model::to_cents;
    use crate::flow::lines::allocate;
    let discounts: Vec<_> = invoice.lines.iter().map(|l| l.discount).collect();
    let taxes: Vec<_> = invoice.lines.iter().map(|l| l.tax).collect();
    if let (Ok(d), Ok(t)) = (
        allocate(&discounts, to_cents(invoice.totals.discount)),
        allocate(&taxes, to_cents(invoice.totals.tax)),
    ) {
        for ((line, d), t) in invoice.lines.iter_mut().zip(d).zip(t) {
            line.discount = d;
            line.tax = t;
        }
    }
}

#[async_trait]
impl BillingSource for MaxioClient {
    fn source(&self) -> Source {
        Source::Maxio
    }

    async fn invoice(&self, uid: &str) -> Result<Invoice, SourceError> {
        let mut invoice = MaxioClient::invoice(self, uid).await?;
        if invoice.consolidation == Consolidation::Parent && invoice.lines.is_empty() {
            // A consolidated invoice lists no lines of its own; its segments hold them.
            let children: Vec<_> = self.segments(uid).try_collect().await?;
            for child in children {
                let Some(child_uid) = child.uid else { continue };
                let mut detail = MaxioClient::invoice(self, &child_uid).await?;
                // Each segment rounds its own discount and tax to cents, and the consolidated
                // figures are the sums of those; so the segment's per-line shares are settled
                // in cents within the segment before its lines join the parent's.
                settle_in_cents(&mut detail);
                invoice.lines.extend(detail.lines);
                invoice.discounts.extend(detail.discounts);
                invoice.taxes.extend(detail.taxes);
            }
        }
        Ok(invoice)
    }

    async fn customer(&self, id: &str) -> Result<Customer, SourceError> {
        Ok(MaxioClient::customer(self, id).await?)
    }

    async fn credit_notes_for(&self, invoice: &Invoice) -> Result<Vec<CreditNote>, SourceError> {
        // Notes raised on this invoice: a refund is paid out of one, and one applied to
        // another invoice or to none is booked from here. Maxio lists them by subscription,
        // with their applications.
        let mut notes: Vec<CreditNote> = match invoice.subscription_id.as_deref() {
            Some(sub) => {
                self.credit_notes_for_subscription(Some(sub))
                    .try_filter(|cn| {
                        std::future::ready(
                            cn.origin_invoice_uids.contains(&invoice.uid)
                                || cn.applications.iter().any(|a| a.invoice_uid == invoice.uid),
                        )
                    })
                    .try_collect()
                    .await?
            }
            None => Vec::new(),
        };
        // Notes applied here from elsewhere (another subscription's invoice).
        let mut missing: Vec<&str> = invoice
            .credits
            .iter()
            .map(|c| c.credit_note_id.as_str())
            .filter(|uid| !notes.iter().any(|n| n.uid == *uid))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        for uid in missing {
            notes.push(self.credit_note(uid).await?);
        }
        notes.sort_by(|a, b| a.uid.cmp(&b.uid));
        Ok(notes)
    }
}
