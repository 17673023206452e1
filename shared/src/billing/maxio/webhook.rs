//! Maxio webhooks: signature check on the raw body, then a strict decode of the
//! `application/x-www-form-urlencoded` body (`payload[a][b]`, `[0]` array indexes) into typed
//! events. Amounts in a webhook are never trusted: an event only says which invoice,
//! subscription or customer to read again.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::billing::webhook::Touched;
use crate::Secret;

/// Header carrying `hex(HMAC-SHA256(shared key, raw body))`.
pub const SIGNATURE_HEADER: &str = "X-Chargify-Webhook-Signature-Hmac-Sha-256";
/// Bodies larger than this are refused before any work is done on them.
pub const MAX_BODY_BYTES: usize = 512 * 1024;
/// Nesting deeper than this is not something Maxio sends.
const MAX_DEPTH: usize = 12;

/// Why a delivery was refused. The intake maps these to 401, 400 and 413.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the webhook has no {SIGNATURE_HEADER} header")]
    MissingSignature,
    #[error("the webhook signature does not match the body")]
    BadSignature,
    #[error("the webhook body is {size} bytes, over the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("the webhook body is not valid form encoding: {0}")]
    Malformed(String),
    #[error("the webhook has no `{0}`")]
    MissingField(String),
}

impl WebhookError {
    /// The HTTP status the intake answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            WebhookError::MissingSignature | WebhookError::BadSignature => 401,
            WebhookError::TooLarge { .. } => 413,
            WebhookError::Malformed(_) | WebhookError::MissingField(_) => 400,
        }
    }
}

/// Checks the body's size and signature. Nothing of the body is decoded before this passes.
pub fn verify(
    body: &[u8],
    signature: Option<&str>,
    shared_key: &Secret,
) -> Result<(), WebhookError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(WebhookError::TooLarge {
            size: body.len(),
            limit: MAX_BODY_BYTES,
        });
    }
    let given = signature
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or(WebhookError::MissingSignature)?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(shared_key.expose().as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    let expected = hex_lower(&mac.finalize().into_bytes());
    let given = given.to_ascii_lowercase();
    if expected.as_bytes().ct_eq(given.as_bytes()).into() {
        Ok(())
    } else {
        Err(WebhookError::BadSignature)
    }
}

/// The signature Maxio would send for `body` (for the simulator and tests).
pub fn sign(body: &[u8], shared_key: &Secret) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(shared_key.expose().as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    hex_lower(&mac.finalize().into_bytes())
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A decoded form body: nested maps; indexed arrays are maps keyed "0", "1", ...
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Value(String),
    /// A key given more than once: Maxio writes arrays of objects that way
    /// (`...[public_signup_pages][id]=1&...[public_signup_pages][id]=2`).
    Values(Vec<String>),
    Map(BTreeMap<String, Node>),
}

impl Node {
    /// Follows a path of keys, e.g. `["payload", "invoice", "uid"]`.
    pub fn get(&self, path: &[&str]) -> Option<&Node> {
        path.iter().try_fold(self, |node, key| match node {
            Node::Map(m) => m.get(*key),
            Node::Value(_) | Node::Values(_) => None,
        })
    }

    /// The non-empty text at a path (none when the key was repeated: it is then ambiguous).
    pub fn text(&self, path: &[&str]) -> Option<&str> {
        match self.get(path)? {
            Node::Value(v) if !v.is_empty() => Some(v.as_str()),
            _ => None,
        }
    }
}

fn percent_decode_strict(raw: &str) -> Result<String, WebhookError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        WebhookError::Malformed(format!("bad percent escape near byte {i}"))
                    })?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| WebhookError::Malformed("a value is not UTF-8 text".into()))
}

/// Splits `payload[a][b][0]` into `["payload", "a", "b", "0"]`.
fn key_path(key: &str) -> Result<Vec<String>, WebhookError> {
    let bad = || {
        WebhookError::Malformed(format!(
            "bad key `{}`",
            key.chars().take(80).collect::<String>()
        ))
    };
    let (head, mut rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => (key, ""),
    };
    if head.is_empty() || head.contains(']') {
        return Err(bad());
    }
    let mut path = vec![head.to_owned()];
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[').ok_or_else(bad)?;
        let end = inner.find(']').ok_or_else(bad)?;
        let part = &inner[..end];
        if part.contains('[') {
            return Err(bad());
        }
        path.push(part.to_owned());
        rest = &inner[end + 1..];
        if path.len() > MAX_DEPTH {
            return Err(WebhookError::Malformed("keys are nested too deeply".into()));
        }
    }
    Ok(path)
}

/// Decodes a form body into a tree. A key that is both a value and a parent is refused rather
/// than guessed at; a repeated key keeps all its values.
pub fn decode_form(body: &[u8]) -> Result<Node, WebhookError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| WebhookError::Malformed("the body is not UTF-8 text".into()))?;
    let mut root = BTreeMap::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode_strict(k)?;
        let value = percent_decode_strict(v)?;
        let path = key_path(&key)?;
        insert(&mut root, &path, value, &key)?;
    }
    if root.is_empty() {
        return Err(WebhookError::Malformed("the body is empty".into()));
    }
    Ok(Node::Map(root))
}

fn insert(
    map: &mut BTreeMap<String, Node>,
    path: &[String],
    value: String,
    key: &str,
) -> Result<(), WebhookError> {
    let conflict = || {
        WebhookError::Malformed(format!(
            "key `{}` is both a value and a group",
            key.chars().take(80).collect::<String>()
        ))
    };
    let (first, rest) = path.split_first().expect("paths are never empty");
    if rest.is_empty() {
        return match map.get_mut(first) {
            None => {
                map.insert(first.clone(), Node::Value(value));
                Ok(())
            }
            Some(slot @ Node::Value(_)) => {
                let Node::Value(previous) = std::mem::replace(slot, Node::Values(Vec::new()))
                else {
                    unreachable!("matched a value")
                };
                *slot = Node::Values(vec![previous, value]);
                Ok(())
            }
            Some(Node::Values(values)) => {
                values.push(value);
                Ok(())
            }
            Some(Node::Map(_)) => Err(conflict()),
        };
    }
    match map
        .entry(first.clone())
        .or_insert_with(|| Node::Map(BTreeMap::new()))
    {
        Node::Map(child) => insert(child, rest, value, key),
        Node::Value(_) | Node::Values(_) => Err(conflict()),
    }
}

/// What a webhook tells the sync to look at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MaxioEvent {
    /// An invoice was issued: sync it.
    InvoiceIssued {
        invoice_uid: String,
    },
    /// A payment succeeded; the invoice it paid is named when Maxio gives it.
    PaymentSuccess {
        transaction_id: Option<String>,
        invoice_uid: Option<String>,
        subscription_id: Option<String>,
        customer_id: Option<String>,
    },
    /// A refund succeeded on a subscription.
    RefundSuccess {
        refund_id: Option<String>,
        subscription_id: Option<String>,
        customer_id: Option<String>,
    },
    CustomerCreate {
        customer_id: String,
    },
    CustomerUpdate {
        customer_id: String,
    },
    /// Any other event: acknowledged and logged, nothing to do.
    Ignored {
        event: String,
    },
}

/// One accepted delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// For de-duplication: the body's `id` (signed; the same on Maxio's retries).
    pub delivery_id: String,
    pub event: MaxioEvent,
    pub site_subdomain: Option<String>,
    /// The site event behind the webhook, when given.
    pub event_id: Option<String>,
}

impl MaxioEvent {
    /// What the event asks the sync to look at.
    pub fn touched(&self) -> Touched {
        match self {
            MaxioEvent::InvoiceIssued { invoice_uid } => {
                Touched::Invoices(vec![invoice_uid.clone()])
            }
            MaxioEvent::PaymentSuccess {
                invoice_uid: Some(uid),
                ..
            } => Touched::Invoices(vec![uid.clone()]),
            // A payment or refund that names no invoice: the sweep finds it among invoice events.
            MaxioEvent::PaymentSuccess { .. } | MaxioEvent::RefundSuccess { .. } => Touched::Sweep,
            MaxioEvent::CustomerUpdate { customer_id } => Touched::Customer(customer_id.clone()),
            MaxioEvent::CustomerCreate { .. } | MaxioEvent::Ignored { .. } => Touched::Nothing,
        }
    }
}

/// Verifies and decodes a delivery: size, then signature, then the body.
pub fn receive(
    body: &[u8],
    signature: Option<&str>,
    shared_key: &Secret,
) -> Result<Delivery, WebhookError> {
    verify(body, signature, shared_key)?;
    let form = decode_form(body)?;
    let event_name = form
        .text(&["event"])
        .ok_or_else(|| WebhookError::MissingField("event".into()))?
        .to_owned();
    // The body's id, which the signature covers: Maxio sends the same id (also in the
    // unsigned X-Chargify-Webhook-Id header) on every retry and replay, and a replay of a
    // captured body under a fresh header is still the same delivery.
    let delivery_id = form
        .text(&["id"])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| WebhookError::MissingField("id".into()))?
        .to_owned();
    let own = |path: &[&str]| form.text(path).map(str::to_owned);
    let required = |path: &[&str]| {
        own(path).ok_or_else(|| {
            WebhookError::MissingField(format!(
                "payload{}",
                path[1..]
                    .iter()
                    .map(|p| format!("[{p}]"))
                    .collect::<String>()
            ))
        })
    };

    let event = match event_name.as_str() {
        "invoice_issued" => MaxioEvent::InvoiceIssued {
            invoice_uid: required(&["payload", "invoice", "uid"])?,
        },
        "payment_success" => MaxioEvent::PaymentSuccess {
            transaction_id: own(&["payload", "transaction", "id"]),
            invoice_uid: own(&["payload", "transaction", "invoice_uid"])
                .or_else(|| own(&["payload", "invoice", "uid"])),
            subscription_id: own(&["payload", "subscription", "id"]),
            customer_id: own(&["payload", "subscription", "customer", "id"]),
        },
        "refund_success" => MaxioEvent::RefundSuccess {
            refund_id: own(&["payload", "refund_id"]),
            // Since 2023-05 the subscription id moved under payload[subscription][id].
            subscription_id: own(&["payload", "subscription", "id"])
                .or_else(|| own(&["payload", "subscription_id"])),
            customer_id: own(&["payload", "subscription", "customer", "id"])
                .or_else(|| own(&["payload", "customer_id"])),
        },
        "customer_create" => MaxioEvent::CustomerCreate {
            customer_id: required(&["payload", "customer", "id"])?,
        },
        "customer_update" => MaxioEvent::CustomerUpdate {
            customer_id: required(&["payload", "customer", "id"])?,
        },
        other => MaxioEvent::Ignored {
            event: other.to_owned(),
        },
    };
    Ok(Delivery {
        delivery_id,
        event,
        site_subdomain: own(&["payload", "site", "subdomain"]),
        event_id: own(&["payload", "event_id"]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Secret {
        Secret::new("shared-key")
    }

    fn deliver(body: &str) -> Result<Delivery, WebhookError> {
        let sig = sign(body.as_bytes(), &key());
        receive(body.as_bytes(), Some(&sig), &key())
    }

    #[test]
    fn decodes_nested_keys_and_arrays() {
        let body = "id=42&event=invoice_issued&payload[invoice][uid]=inv_abc&payload[invoice][line_items][0][title]=Pro%20plan&payload[invoice][line_items][1][title]=Seats&payload[site][subdomain]=acme&payload[event_id]=99&payload[invoice][paid_date]=";
        let d = deliver(body).unwrap();
        assert_eq!(
            d.event,
            MaxioEvent::InvoiceIssued {
                invoice_uid: "inv_abc".into()
            }
        );
        assert_eq!(d.delivery_id, "42");
        assert_eq!(d.site_subdomain.as_deref(), Some("acme"));
        let form = decode_form(body.as_bytes()).unwrap();
        assert_eq!(
            form.text(&["payload", "invoice", "line_items", "0", "title"]),
            Some("Pro plan")
        );
        assert_eq!(form.text(&["payload", "invoice", "paid_date"]), None);
    }

    #[test]
    fn signature_errors() {
        let body = b"id=1&event=customer_update&payload[customer][id]=7";
        assert_eq!(
            receive(body, None, &key()),
            Err(WebhookError::MissingSignature)
        );
        let sig = sign(body, &key());
        let mut changed = body.to_vec();
        changed[3] = b'2';
        assert_eq!(
            receive(&changed, Some(&sig), &key()),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            receive(body, Some(&sig.to_uppercase()), &key())
                .unwrap()
                .event,
            MaxioEvent::CustomerUpdate {
                customer_id: "7".into()
            }
        );
        assert_eq!(WebhookError::BadSignature.http_status(), 401);
    }

    #[test]
    fn the_signed_body_id_names_the_delivery() {
        let body = b"id=1&event=signup_success";
        let sig = sign(body, &key());
        let d = receive(body, Some(&sig), &key()).unwrap();
        assert_eq!(d.delivery_id, "1");
        assert_eq!(
            d.event,
            MaxioEvent::Ignored {
                event: "signup_success".into()
            }
        );
    }

    #[test]
    fn malformed_bodies_have_typed_errors() {
        for (body, want) in [
            ("id=1&event=invoice_issued&payload[invoice][uid]=%zz", 400),
            ("id=1&event=invoice_issued&payload[invoice=x", 400),
            ("id=1&event=a&event=b", 400),
            ("id=1&payload[a]=1&payload[a][b]=2&event=x", 400),
            ("id=1&event=invoice_issued", 400),
            ("event=invoice_issued&payload[invoice][uid]=inv_1", 400),
            ("", 400),
        ] {
            let e = deliver(body).unwrap_err();
            assert_eq!(e.http_status(), want, "{body}: {e}");
        }
        let big = vec![b'a'; MAX_BODY_BYTES + 1];
        let e = receive(&big, Some("00"), &key()).unwrap_err();
        assert!(matches!(e, WebhookError::TooLarge { .. }));
        assert_eq!(e.http_status(), 413);
        let invalid_utf8 = b"id=1&event=\xff\xfe";
        let sig = sign(invalid_utf8, &key());
        assert_eq!(
            receive(invalid_utf8, Some(&sig), &key())
                .unwrap_err()
                .http_status(),
            400
        );
    }

    proptest::proptest! {
        // Any bytes at all, correctly signed so decoding is reached: an error or an event,
        // never a panic.
        #[test]
        fn never_panics_on_arbitrary_bytes(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
            let sig = sign(&body, &key());
            let _ = receive(&body, Some(&sig), &key());
        }

        // Text made of the characters that matter to the form grammar.
        #[test]
        fn never_panics_on_form_like_text(body in "[a-z_\\[\\]=&%0-9A-F+]{0,400}") {
            let sig = sign(body.as_bytes(), &key());
            let _ = receive(body.as_bytes(), Some(&sig), &key());
        }
    }
}
