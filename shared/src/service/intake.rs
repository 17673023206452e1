//! Webhook intake: verify, de-duplicate, enqueue, answer fast. In every refusal nothing is
//! queued; a delivery whose enqueue failed is forgotten again so the sender's retry is processed.

use std::time::Duration;

use super::{ServiceError, Services};
use crate::billing::maxio::webhook::{self, MaxioEvent, WebhookError};
use crate::billing::model::Source;
use crate::queue::{Reason, Subject, SyncMessage};
use crate::secrets::TenantSecret;

/// How long a delivery id is remembered: longer than any sender's retry schedule.
pub const DELIVERY_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// One webhook request, as any HTTP front end hands it over.
pub struct WebhookRequest<'a> {
    pub tenant: &'a str,
    pub source: &'a str,
    pub body: &'a [u8],
    /// Header lookup, case-insensitive.
    pub header: &'a (dyn Fn(&str) -> Option<String> + Sync),
}

/// The answer: an HTTP status and a short JSON-able message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookResponse {
    pub status: u16,
    pub message: String,
    /// What was queued (empty for refusals, duplicates and ignored events).
    pub queued: Vec<SyncMessage>,
}

impl WebhookResponse {
    fn refuse(status: u16, message: impl Into<String>) -> Self {
        WebhookResponse {
            status,
            message: message.into(),
            queued: Vec::new(),
        }
    }
}

pub async fn receive(services: &Services, req: WebhookRequest<'_>) -> WebhookResponse {
    match handle(services, &req).await {
        Ok(r) => r,
        Err(Refusal::Webhook(e)) => {
            tracing::warn!(tenant = req.tenant, error = %e, "webhook refused");
            WebhookResponse::refuse(e.http_status(), e.to_string())
        }
        Err(Refusal::Service(ServiceError::UnknownTenant(t))) => {
            WebhookResponse::refuse(404, format!("unknown tenant {t}"))
        }
        Err(Refusal::Service(ServiceError::Secret(crate::secrets::SecretError::NotFound(t)))) => {
            WebhookResponse::refuse(404, format!("tenant {t} has no credentials"))
        }
        Err(Refusal::Service(e)) => {
            // The sender retries on anything but 2xx; nothing was queued.
            tracing::error!(tenant = req.tenant, error = %e, "webhook could not be processed");
            WebhookResponse::refuse(503, "temporarily unavailable")
        }
        Err(Refusal::Other(status, message)) => WebhookResponse::refuse(status, message),
    }
}

enum Refusal {
    Webhook(WebhookError),
    Service(ServiceError),
    Other(u16, String),
}

impl From<ServiceError> for Refusal {
    fn from(e: ServiceError) -> Self {
        Refusal::Service(e)
    }
}

/// A Maxio delivery: signature, then the subject it names (an invoice, a customer, or a sweep
/// for an event that names no invoice).
fn maxio_delivery(
    req: &WebhookRequest<'_>,
    secret: &TenantSecret,
) -> Result<(String, Vec<Subject>), Refusal> {
    let key =
        secret.billing.webhook_key.as_ref().ok_or_else(|| {
            Refusal::Other(404, format!("tenant {} has no webhook key", req.tenant))
        })?;
    let delivery = webhook::receive(
        req.body,
        (req.header)(webhook::SIGNATURE_HEADER).as_deref(),
        key,
    )
    .map_err(Refusal::Webhook)?;
    let subject = match &delivery.event {
        MaxioEvent::InvoiceIssued { invoice_uid } => Some(Subject::invoice(invoice_uid)),
        MaxioEvent::PaymentSuccess {
            invoice_uid: Some(uid),
            ..
        } => Some(Subject::invoice(uid)),
        // A payment or refund that names no invoice: the sweep finds it among invoice events.
        MaxioEvent::PaymentSuccess { .. } | MaxioEvent::RefundSuccess { .. } => {
            Some(Subject::Sweep)
        }
        MaxioEvent::CustomerUpdate { customer_id } => Some(Subject::Customer {
            id: customer_id.clone(),
        }),
        MaxioEvent::CustomerCreate { .. } | MaxioEvent::Ignored { .. } => None,
    };
    Ok((delivery.delivery_id, subject.into_iter().collect()))
}

/// A Chargebee delivery: Basic credentials, then the subjects the event concerns (every
/// invoice a payment paid or a credit note was applied to).
fn chargebee_delivery(
    req: &WebhookRequest<'_>,
    secret: &TenantSecret,
) -> Result<(String, Vec<Subject>), Refusal> {
    use crate::billing::chargebee::webhook as cb;
    let (Some(user), Some(pass)) = (
        &secret.billing.webhook_username,
        &secret.billing.webhook_password,
    ) else {
        return Err(Refusal::Other(
            404,
            format!("tenant {} has no webhook credentials", req.tenant),
        ));
    };
    let delivery = cb::receive(
        req.body,
        (req.header)("authorization").as_deref(),
        user,
        pass,
    )
    .map_err(|e| Refusal::Other(e.http_status(), e.to_string()))?;
    let subjects = match delivery.event {
        cb::ChargebeeEvent::Invoices { invoice_ids } => {
            invoice_ids.into_iter().map(Subject::invoice).collect()
        }
        // A change to a customer billsync already created updates it; a new customer waits
        // for its first invoice.
        cb::ChargebeeEvent::Customer { customer_id } => vec![Subject::Customer { id: customer_id }],
        cb::ChargebeeEvent::Ignored { .. } => Vec::new(),
    };
    Ok((delivery.delivery_id, subjects))
}

async fn handle(services: &Services, req: &WebhookRequest<'_>) -> Result<WebhookResponse, Refusal> {
    // Size first: nothing else is done with an oversized body.
    if req.body.len() > webhook::MAX_BODY_BYTES {
        return Err(Refusal::Webhook(WebhookError::TooLarge {
            size: req.body.len(),
            limit: webhook::MAX_BODY_BYTES,
        }));
    }
    let settings = services.settings(req.tenant).await?;
    let source = match req.source {
        "maxio" => Source::Maxio,
        "chargebee" => Source::Chargebee,
        other => {
            return Err(Refusal::Other(
                404,
                format!("unknown billing source `{other}`"),
            ))
        }
    };
    if source != settings.source {
        return Err(Refusal::Other(
            404,
            format!("tenant {} does not bill with {}", req.tenant, req.source),
        ));
    }
    let secret = services
        .secrets
        .tenant_secret(req.tenant)
        .await
        .map_err(ServiceError::from)?;
    let (delivery_id, subjects) = match source {
        Source::Maxio => maxio_delivery(req, &secret)?,
        Source::Chargebee => chargebee_delivery(req, &secret)?,
    };
    if subjects.is_empty() {
        tracing::info!(tenant = req.tenant, delivery = %delivery_id, "webhook acknowledged, nothing to sync");
        return Ok(WebhookResponse::refuse(200, "ignored"));
    }

    let tenant = req.tenant;
    // The first message keeps the delivery's own de-duplication id; the others are numbered.
    let messages: Vec<SyncMessage> = subjects
        .into_iter()
        .enumerate()
        .map(|(n, subject)| SyncMessage {
            tenant: tenant.to_owned(),
            source,
            subject,
            reason: Reason::Webhook,
            dedup_id: match n {
                0 => format!("wh-{delivery_id}"),
                n => format!("wh-{delivery_id}-{n}"),
            },
        })
        .collect();
    // Where the store holds the queue (the local mode), the delivery and its message are one
    // write: a crash between the two can neither lose the message nor answer its redelivery
    // "duplicate".
    match services
        .store
        .first_delivery_queued(tenant, &delivery_id, DELIVERY_TTL, &messages)
        .await
        .map_err(ServiceError::from)?
    {
        Some(true) => {
            return Ok(WebhookResponse {
                status: 200,
                message: "queued".into(),
                queued: messages,
            })
        }
        Some(false) => return Ok(WebhookResponse::refuse(200, "duplicate delivery")),
        None => {}
    }
    if !services
        .store
        .first_delivery(tenant, &delivery_id, DELIVERY_TTL)
        .await
        .map_err(ServiceError::from)?
    {
        return Ok(WebhookResponse::refuse(200, "duplicate delivery"));
    }
    if let Err(e) = services.queue.send(&messages).await {
        // Let the sender's retry through: forget the delivery we just recorded.
        if let Err(f) = services.store.forget_delivery(tenant, &delivery_id).await {
            tracing::error!(tenant, error = %f, "could not forget a delivery after a failed enqueue");
        }
        return Err(Refusal::Service(ServiceError::Queue(e)));
    }
    Ok(WebhookResponse {
        status: 200,
        message: "queued".into(),
        queued: messages,
    })
}
