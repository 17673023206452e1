//! Webhook intake: verify, de-duplicate, enqueue, answer fast. In every refusal nothing is
//! queued; a delivery whose enqueue failed is forgotten again so the sender's retry is processed.

use std::time::Duration;

use super::{ServiceError, Services};
use crate::billing::model::Source;
use crate::billing::webhook::{self, Touched};
use crate::queue::{Reason, Subject, SyncMessage};

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

/// The answer to every delivery whose sender could not be verified, whatever the reason: a
/// wrong signature or credentials, a tenant that does not exist or has no secret. One answer
/// for all, so the endpoint does not tell a stranger which tenants exist.
pub const NOT_VERIFIED: &str = "the delivery could not be verified for this endpoint";

/// The tenant dimension of refusals whose tenant was never verified to exist: the path is the
/// sender's to choose, and a metric per made-up name would cost a custom metric each.
pub const UNVERIFIED_TENANT: &str = "(unverified)";

pub async fn receive(services: &Services, req: WebhookRequest<'_>) -> WebhookResponse {
    match handle(services, &req).await {
        Ok(r) => r,
        Err(Refusal::Webhook { refusal: e, known }) => {
            tracing::warn!(tenant = req.tenant, error = %e, "webhook refused");
            refused(if known { req.tenant } else { UNVERIFIED_TENANT });
            if e.status == 401 {
                WebhookResponse::refuse(401, NOT_VERIFIED)
            } else {
                WebhookResponse::refuse(e.status, e.message)
            }
        }
        Err(Refusal::Service(ServiceError::Secret(crate::secrets::SecretError::NotFound(t)))) => {
            tracing::warn!(tenant = %t, "webhook for a tenant without a webhook secret refused");
            refused(UNVERIFIED_TENANT);
            WebhookResponse::refuse(401, NOT_VERIFIED)
        }
        Err(Refusal::Service(e)) => {
            // The sender retries on anything but 2xx; nothing was queued.
            tracing::error!(tenant = req.tenant, error = %e, "webhook could not be processed");
            WebhookResponse::refuse(503, "temporarily unavailable")
        }
    }
}

fn refused(tenant: &str) {
    crate::metrics::emit(tenant, &[(crate::metrics::Metric::WebhooksRefused, 1.0)]);
}

enum Refusal {
    /// `known`: the tenant has a webhook secret (the refusal came after it was read).
    Webhook {
        refusal: webhook::Refusal,
        known: bool,
    },
    Service(ServiceError),
}

impl From<ServiceError> for Refusal {
    fn from(e: ServiceError) -> Self {
        Refusal::Service(e)
    }
}

impl Refusal {
    fn early(refusal: webhook::Refusal) -> Self {
        Refusal::Webhook {
            refusal,
            known: false,
        }
    }

    fn known(refusal: webhook::Refusal) -> Self {
        Refusal::Webhook {
            refusal,
            known: true,
        }
    }
}

/// The messages a delivery's subjects become.
fn subjects(touched: Touched) -> Vec<Subject> {
    match touched {
        Touched::Invoices(ids) => ids.into_iter().map(Subject::invoice).collect(),
        Touched::Customer(id) => vec![Subject::Customer { id }],
        Touched::Sweep => vec![Subject::Sweep],
        Touched::Nothing => Vec::new(),
    }
}

async fn handle(services: &Services, req: &WebhookRequest<'_>) -> Result<WebhookResponse, Refusal> {
    // Size first: nothing else is done with an oversized body.
    webhook::check_size(req.source, req.body).map_err(Refusal::early)?;
    let Some(source) = Source::parse(req.source) else {
        return Err(Refusal::early(webhook::Refusal {
            status: 404,
            message: format!("unknown billing source `{}`", req.source),
        }));
    };
    if !crate::settings::valid_tenant_name(req.tenant) {
        // No tenant has such a name: refused like any unverifiable delivery, with no lookup.
        return Err(Refusal::early(webhook::Refusal {
            status: 401,
            message: "no tenant can have this name".into(),
        }));
    }
    // Only the webhook part of the tenant's credentials, never its settings or other secrets:
    // the tenant bills with `source` if its webhook secret holds that source's credentials.
    let secret = services.webhook_secret(req.tenant).await?;
    let delivery = webhook::receive(source, req.tenant, req.body, req.header, &secret)
        .map_err(Refusal::known)?;
    let delivery_id = delivery.id;
    let subjects = subjects(delivery.touched);
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
            queued_at: Some(chrono::Utc::now()),
            class: crate::queue::Class::Live,
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
            note_arrival(services, tenant).await;
            return Ok(WebhookResponse {
                status: 200,
                message: "queued".into(),
                queued: messages,
            });
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
    note_arrival(services, tenant).await;
    Ok(WebhookResponse {
        status: 200,
        message: "queued".into(),
        queued: messages,
    })
}

/// How stale the noted arrival may get: `tenant check` asks whether webhooks arrived within
/// days, so minutes do not matter.
const NOTE_EVERY: std::time::Duration = std::time::Duration::from_secs(300);

/// Notes a verified delivery's arrival (for `tenant check` and `status`), at most every [`NOTE_EVERY`] per process; a failure
/// only costs the note.
async fn note_arrival(services: &Services, tenant: &str) {
    if !services.webhook_note_due(tenant, NOTE_EVERY) {
        return;
    }
    let now = chrono::Utc::now().to_rfc3339();
    if let Err(e) = services.store.note_webhook(tenant, &now).await {
        tracing::warn!(tenant, error = %e, "could not note the webhook's arrival");
    }
}
