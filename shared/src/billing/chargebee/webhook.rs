//! Chargebee webhooks: JSON events authenticated by the HTTP Basic credentials configured on
//! the endpoint (Chargebee signs nothing), compared in constant time before the body is read.
//! De-duplication is by event id; the worker re-reads current state, so order does not matter.

use base64::Engine as _;
use subtle::ConstantTimeEq;

use super::wire;
use crate::billing::webhook::Touched;
use crate::Secret;

/// Bodies larger than this are refused unread.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the webhook has no Basic authorization")]
    MissingCredentials,
    #[error("the webhook's Basic credentials are wrong")]
    BadCredentials,
    #[error("the webhook body is {size} bytes, over the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("the webhook body is not a Chargebee event: {0}")]
    Malformed(String),
}

impl WebhookError {
    pub fn http_status(&self) -> u16 {
        match self {
            WebhookError::MissingCredentials | WebhookError::BadCredentials => 401,
            WebhookError::TooLarge { .. } => 413,
            WebhookError::Malformed(_) => 400,
        }
    }
}

/// What an event asks the sync to look at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChargebeeEvent {
    /// The invoices to sync (generated, updated, paid, refunded, credited): one payment can
    /// pay several and one credit note can be applied to several. Never empty; no repeats.
    Invoices {
        invoice_ids: Vec<String>,
    },
    /// A customer created or changed.
    Customer {
        customer_id: String,
    },
    Ignored {
        event_type: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The event id (`ev_…`), for de-duplication.
    pub delivery_id: String,
    pub event: ChargebeeEvent,
}

impl ChargebeeEvent {
    /// What the event asks the sync to look at.
    pub fn touched(self) -> Touched {
        match self {
            ChargebeeEvent::Invoices { invoice_ids } => Touched::Invoices(invoice_ids),
            // A change to a customer billsync already created updates it; a new customer
            // waits for its first invoice.
            ChargebeeEvent::Customer { customer_id } => Touched::Customer(customer_id),
            ChargebeeEvent::Ignored { .. } => Touched::Nothing,
        }
    }
}

/// What an event concerns: the invoices (directly, every invoice a payment was applied to,
/// or a credit note's reference invoice and every invoice it was allocated to) or the customer.
pub fn classify(event: &wire::Event) -> Option<ChargebeeEvent> {
    let c = &event.content;
    let mut ids: Vec<String> = Vec::new();
    let mut add = |id: Option<&String>| {
        if let Some(id) = id {
            if !ids.contains(id) {
                ids.push(id.clone());
            }
        }
    };
    match event.event_type.as_str() {
        "invoice_generated" | "invoice_generated_with_backdating" | "invoice_updated" => {
            add(c.invoice.as_ref().map(|i| &i.id));
        }
        "payment_succeeded" | "payment_refunded" | "refund_initiated" => {
            add(c.invoice.as_ref().map(|i| &i.id));
            if let Some(t) = &c.transaction {
                for l in &t.linked_invoices {
                    add(l.invoice_id.as_ref());
                }
                for l in &t.linked_credit_notes {
                    add(l.cn_reference_invoice_id.as_ref());
                }
            }
        }
        "credit_note_created" | "credit_note_created_with_backdating" | "credit_note_updated" => {
            if let Some(cn) = &c.credit_note {
                add(cn.reference_invoice_id.as_ref());
                for a in &cn.allocations {
                    add(a.invoice_id.as_ref());
                }
            }
        }
        "customer_created" | "customer_changed" => {
            return c.customer.as_ref().map(|cu| ChargebeeEvent::Customer {
                customer_id: cu.id.clone(),
            })
        }
        _ => {}
    }
    (!ids.is_empty()).then_some(ChargebeeEvent::Invoices { invoice_ids: ids })
}

/// Checks `Authorization: Basic …` against the configured user and password.
pub fn authenticate(
    authorization: Option<&str>,
    username: &Secret,
    password: &Secret,
) -> Result<(), WebhookError> {
    // The scheme is case-insensitive (RFC 9110): "Basic", "basic", "BASIC".
    let given = authorization
        .and_then(|h| {
            let (scheme, rest) = h.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("basic").then_some(rest)
        })
        .ok_or(WebhookError::MissingCredentials)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(given.trim())
        .map_err(|_| WebhookError::BadCredentials)?;
    let expected = format!("{}:{}", username.expose(), password.expose());
    if expected.as_bytes().ct_eq(&decoded).into() {
        Ok(())
    } else {
        Err(WebhookError::BadCredentials)
    }
}

/// Authenticates and decodes a delivery.
pub fn receive(
    body: &[u8],
    authorization: Option<&str>,
    username: &Secret,
    password: &Secret,
) -> Result<Delivery, WebhookError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(WebhookError::TooLarge {
            size: body.len(),
            limit: MAX_BODY_BYTES,
        });
    }
    authenticate(authorization, username, password)?;
    let event: wire::Event = serde_json::from_slice(body).map_err(|e| {
        WebhookError::Malformed(format!("line {}, column {}", e.line(), e.column()))
    })?;
    if event.id.is_empty() || event.event_type.is_empty() {
        return Err(WebhookError::Malformed("no event id or type".into()));
    }
    let kind = classify(&event);
    Ok(Delivery {
        delivery_id: event.id.clone(),
        event: kind.unwrap_or(ChargebeeEvent::Ignored {
            event_type: event.event_type,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(user: &str, pass: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        )
    }

    #[test]
    fn credentials_then_event() {
        let (u, p) = (Secret::new("billsync-hook"), Secret::new("s3cret"));
        let body = br#"{"id":"ev_1","event_type":"invoice_generated","occurred_at":1769900000,"content":{"invoice":{"id":"INV-9"}}}"#;
        let d = receive(body, Some(&auth("billsync-hook", "s3cret")), &u, &p).unwrap();
        assert_eq!(d.delivery_id, "ev_1");
        assert_eq!(
            d.event,
            ChargebeeEvent::Invoices {
                invoice_ids: vec!["INV-9".into()]
            }
        );
        assert_eq!(
            receive(body, Some(&auth("billsync-hook", "nope")), &u, &p),
            Err(WebhookError::BadCredentials)
        );
        assert_eq!(receive(body, None, &u, &p).unwrap_err().http_status(), 401);
        assert_eq!(
            receive(b"{", Some(&auth("billsync-hook", "s3cret")), &u, &p)
                .unwrap_err()
                .http_status(),
            400
        );
        let pay = br#"{"id":"ev_2","event_type":"payment_succeeded","content":{"transaction":{"id":"txn_1","linked_invoices":[{"invoice_id":"INV-9","applied_amount":100}]}}}"#;
        assert_eq!(
            receive(pay, Some(&auth("billsync-hook", "s3cret")), &u, &p)
                .unwrap()
                .event,
            ChargebeeEvent::Invoices {
                invoice_ids: vec!["INV-9".into()]
            }
        );
        let other = br#"{"id":"ev_3","event_type":"subscription_paused","content":{}}"#;
        assert!(matches!(
            receive(other, Some(&auth("billsync-hook", "s3cret")), &u, &p)
                .unwrap()
                .event,
            ChargebeeEvent::Ignored { .. }
        ));
    }

    #[test]
    fn the_basic_scheme_is_read_in_any_case() {
        let (u, p) = (Secret::new("billsync-hook"), Secret::new("s3cret"));
        let good = auth("billsync-hook", "s3cret");
        let token = good.strip_prefix("Basic ").unwrap();
        for scheme in ["Basic", "basic", "BASIC", "bAsIc"] {
            let header = format!("{scheme} {token}");
            assert_eq!(authenticate(Some(&header), &u, &p), Ok(()), "{scheme}");
        }
        assert_eq!(
            authenticate(Some(&format!("Bearer {token}")), &u, &p),
            Err(WebhookError::MissingCredentials)
        );
        assert_eq!(
            authenticate(Some(&format!("Basic{token}")), &u, &p),
            Err(WebhookError::MissingCredentials)
        );
    }

    #[test]
    fn a_payment_or_credit_note_names_every_invoice_it_touches() {
        let event = |json: &str| classify(&serde_json::from_str::<wire::Event>(json).unwrap());
        let pay = r#"{"id":"ev_4","event_type":"payment_succeeded","content":{
            "invoice":{"id":"INV-1"},
            "transaction":{"id":"txn_9","linked_invoices":[
                {"invoice_id":"INV-1","applied_amount":10000},
                {"invoice_id":"INV-2","applied_amount":5000}]}}}"#;
        assert_eq!(
            event(pay),
            Some(ChargebeeEvent::Invoices {
                invoice_ids: vec!["INV-1".into(), "INV-2".into()]
            })
        );
        let note = r#"{"id":"ev_5","event_type":"credit_note_updated","content":{
            "credit_note":{"id":"CN-1","reference_invoice_id":"INV-1",
                "allocations":[{"invoice_id":"INV-3","allocated_amount":700}]}}}"#;
        assert_eq!(
            event(note),
            Some(ChargebeeEvent::Invoices {
                invoice_ids: vec!["INV-1".into(), "INV-3".into()]
            })
        );
        let empty = r#"{"id":"ev_6","event_type":"payment_succeeded","content":{}}"#;
        assert_eq!(event(empty), None);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1024)) {
            let (u, p) = (Secret::new("u"), Secret::new("p"));
            let _ = receive(&body, Some(&auth("u", "p")), &u, &p);
        }
    }
}
