//! Maxio behind the billing-source port: a consolidated invoice read with its segments' lines,
//! a segment's share of its group's payments, and the credit notes an invoice concerns.

use async_trait::async_trait;
use chrono::NaiveDate;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use rust_decimal::Decimal;

use super::client::{DateField, EventsSince, InvoiceQuery, MaxioClient, MaxioError, MAX_PER_PAGE};
use crate::billing::model::{
    CatalogEntry, Consolidation, CreditNote, Customer, Invoice, Payment, Source,
};
use crate::billing::source::{BillingSource, EventInvoice, EventPage, SourceError};

/// The store cursor of Maxio's invoice events stream: the id of the last event queued.
pub const EVENTS_CURSOR: &str = "maxio-invoice-events";
const EVENTS_PAGE: u32 = 200;

impl From<MaxioError> for SourceError {
    fn from(e: MaxioError) -> Self {
        let (retryable, not_found) = (e.is_retryable(), e.is_not_found());
        SourceError::vendor(e, retryable, not_found)
    }
}

/// Replaces an invoice's per-line discount and tax shares by their cent allocation against the
/// invoice's own 2-decimal figures (left as they are when they cannot be reconciled: the
/// validation then reports it).
fn settle_in_cents(invoice: &mut Invoice) {
    use crate::billing::model::to_cents;
    use crate::money::allocate;
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

impl MaxioClient {
    /// A segment that lists no payments while its consolidated invoice does: the group's
    /// payments are spread over the segments ([`spread_over_segments`]) and this segment takes
    /// its share, so each segment's NetSuite invoice is paid as the group is.
    async fn spread_group_payments(
        &self,
        invoice: &mut Invoice,
        parent_uid: &str,
    ) -> Result<(), SourceError> {
        let parent = MaxioClient::invoice(self, parent_uid).await?;
        if parent.payments.is_empty() {
            return Ok(());
        }
        let segments: Vec<(String, Decimal)> = self
            .segments(parent_uid)
            .try_collect::<Vec<_>>()
            .await?
            .into_iter()
            .filter_map(|s| {
                let payable = s.total_amount? - s.credit_amount.unwrap_or_default();
                Some((s.uid?, payable))
            })
            .collect();
        let shares = spread_over_segments(&parent.payments, &segments, &invoice.uid);
        let paid: Decimal = shares.iter().map(|p| p.amount).sum();
        invoice.payments = shares;
        invoice.totals.paid = paid;
        invoice.totals.due = invoice.totals.total - invoice.totals.credited - paid;
        Ok(())
    }
}

/// One segment's share of its consolidated invoice's payments, by the rule Maxio follows when
/// it settles segments itself: the payments, in the order billing lists them, fill the
/// segments' payable amounts (total less credits) in the order billing lists the segments,
/// oldest first. Every cent of a payment lands in exactly one segment (the shares of all
/// segments add up to the payment, up to what the segments can take), and a payment keeps its
/// transaction id and whole amount, so the segments' shares become one NetSuite payment.
pub fn spread_over_segments(
    payments: &[Payment],
    segments: &[(String, Decimal)],
    uid: &str,
) -> Vec<Payment> {
    let Some(index) = segments.iter().position(|(u, _)| u == uid) else {
        return Vec::new();
    };
    let start: Decimal = segments[..index].iter().map(|(_, a)| *a).sum();
    let end = start + segments[index].1.max(Decimal::ZERO);
    let mut filled = Decimal::ZERO;
    let mut shares = Vec::new();
    for p in payments {
        let (from, to) = (filled, filled + p.amount);
        filled = to;
        let share = to.min(end) - from.max(start);
        if share > Decimal::ZERO {
            shares.push(Payment {
                amount: share,
                ..p.clone()
            });
        }
    }
    shares
}

#[async_trait]
impl BillingSource for MaxioClient {
    fn source(&self) -> Source {
        Source::Maxio
    }

    async fn catalog(&self) -> Result<Option<Vec<CatalogEntry>>, SourceError> {
        let mut entries: Vec<CatalogEntry> = self.products().try_collect().await?;
        entries.extend(self.components().try_collect::<Vec<_>>().await?);
        Ok(Some(entries))
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
        if invoice.consolidation == Consolidation::Child && invoice.payments.is_empty() {
            if let Some(parent) = invoice.parent_uid.clone() {
                self.spread_group_payments(&mut invoice, &parent).await?;
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

    fn event_pages(
        &self,
        cursor: Option<String>,
        start: NaiveDate,
    ) -> BoxStream<'static, Result<EventPage, SourceError>> {
        let since = match cursor.as_deref().and_then(|c| c.parse::<u64>().ok()) {
            Some(id) => EventsSince::Id(id),
            None => EventsSince::Date(start),
        };
        self.invoice_events(since, EVENTS_PAGE)
            .try_chunks(EVENTS_PAGE as usize)
            .map(|page| {
                let page = page.map_err(|e| SourceError::from(e.1))?;
                let invoices = page
                    .iter()
                    .filter_map(|e| {
                        let uid = e.invoice.as_ref().and_then(|i| i.uid.clone());
                        if uid.is_none() {
                            tracing::warn!(event = e.id, kind = %e.event_type, "invoice event without an invoice snapshot");
                        }
                        Some(EventInvoice {
                            uid: uid?,
                            event_key: format!("ev-{}", e.id),
                        })
                    })
                    .collect();
                Ok(EventPage {
                    events: page.len(),
                    invoices,
                    cursor: page.last().map(|e| e.id.to_string()),
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
        let query = InvoiceQuery {
            date_field: DateField::IssueDate,
            start_date: from,
            end_date: to,
            per_page: MAX_PER_PAGE,
        };
        self.invoices(query)
            .try_chunks(MAX_PER_PAGE as usize)
            .then(move |page| {
                let client = client.clone();
                async move {
                    let page = page.map_err(|e| SourceError::from(e.1))?;
                    let mut out = Vec::with_capacity(page.len());
                    for invoice in page {
                        // A consolidated invoice's figures come from its group: read it as
                        // the flow does.
                        if invoice.consolidation == Consolidation::None {
                            out.push(invoice);
                        } else {
                            out.push(BillingSource::invoice(&client, &invoice.uid).await?);
                        }
                    }
                    Ok(out)
                }
            })
            .boxed()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use rust_decimal_macros::dec;

    use super::*;
    use crate::billing::model::PaymentMethod;

    #[test]
    fn a_source_error_keeps_maxios_error_as_its_source() {
        let e = SourceError::from(MaxioError::Api {
            status: 503,
            operation: "read invoice".into(),
            message: "unavailable".into(),
        });
        assert!(e.retryable && !e.not_found);
        let cause = std::error::Error::source(&e).expect("the vendor error");
        assert!(matches!(
            cause.downcast_ref::<MaxioError>(),
            Some(MaxioError::Api { status: 503, .. })
        ));
    }

    fn payment(id: &str, amount: Decimal) -> Payment {
        Payment {
            id: id.into(),
            amount,
            original_amount: amount,
            received_at: chrono::FixedOffset::east_opt(0)
                .unwrap()
                .with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
                .unwrap(),
            method: PaymentMethod::Other("check".into()),
            memo: None,
            reference: None,
            prepayment: false,
            gateway: None,
            source_type: None,
            exchange_rate: None,
        }
    }

    #[test]
    fn group_payments_fill_segments_oldest_first_to_the_cent() {
        let segments = vec![
            ("a".to_owned(), dec!(100.00)),
            ("b".to_owned(), dec!(250.00)),
            ("c".to_owned(), dec!(400.00)),
        ];
        let payments = vec![payment("1", dec!(300.00)), payment("2", dec!(450.00))];
        let share = |uid| {
            spread_over_segments(&payments, &segments, uid)
                .into_iter()
                .map(|p| (p.id, p.amount, p.original_amount))
                .collect::<Vec<_>>()
        };
        assert_eq!(share("a"), vec![("1".into(), dec!(100.00), dec!(300.00))]);
        assert_eq!(
            share("b"),
            vec![
                ("1".into(), dec!(200.00), dec!(300.00)),
                ("2".into(), dec!(50.00), dec!(450.00))
            ]
        );
        assert_eq!(share("c"), vec![("2".into(), dec!(400.00), dec!(450.00))]);
        assert!(share("z").is_empty());
    }

    #[test]
    fn a_part_payment_reaches_only_the_first_segments() {
        let segments = vec![("a".to_owned(), dec!(10.01)), ("b".to_owned(), dec!(5.00))];
        let payments = vec![payment("1", dec!(12.00))];
        let a: Decimal = spread_over_segments(&payments, &segments, "a")
            .iter()
            .map(|p| p.amount)
            .sum();
        let b: Decimal = spread_over_segments(&payments, &segments, "b")
            .iter()
            .map(|p| p.amount)
            .sum();
        assert_eq!((a, b), (dec!(10.01), dec!(1.99)));
    }
}
