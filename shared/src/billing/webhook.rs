//! Webhook deliveries of any source: checked with the tenant's credentials for that source,
//! then reduced to what the sync should look at. The HTTP front ends and the intake use this
//! and never a source's own webhook module.

use super::model::Source;
use super::{chargebee, maxio};
use crate::secrets::WebhookSecret;

/// The largest body any source may send (Chargebee's 1 MiB): what an HTTP front end reads at
/// most. Each source's own limit is checked by [`check_size`].
pub const MAX_BODY_BYTES: usize =
    if maxio::webhook::MAX_BODY_BYTES > chargebee::webhook::MAX_BODY_BYTES {
        maxio::webhook::MAX_BODY_BYTES
    } else {
        chargebee::webhook::MAX_BODY_BYTES
    };

/// The largest body `source` sends (its own documented limit); the largest of all for a
/// source billsync does not know (the delivery is refused later for that).
pub fn max_body_bytes(source: &str) -> usize {
    match Source::parse(source) {
        Some(Source::Maxio) => maxio::webhook::MAX_BODY_BYTES,
        Some(Source::Chargebee) => chargebee::webhook::MAX_BODY_BYTES,
        None => MAX_BODY_BYTES,
    }
}

/// What a delivery asks the sync to look at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Touched {
    /// These invoices (a payment or credit note can touch several); never empty.
    Invoices(Vec<String>),
    /// A customer billsync may already have created.
    Customer(String),
    /// Something the source's event stream will name (a payment that names no invoice).
    Sweep,
    /// Nothing billsync syncs.
    Nothing,
}

/// A delivery whose credentials held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// For de-duplication: an id the credentials cover, the same on the sender's retries.
    pub id: String,
    pub touched: Touched,
}

/// Why a delivery was refused: the HTTP status to answer and a short reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub status: u16,
    pub message: String,
}

impl Refusal {
    fn new(status: u16, message: impl ToString) -> Self {
        Refusal {
            status,
            message: message.to_string(),
        }
    }
}

/// Refuses a body over its source's limit before anything else is done with it.
pub fn check_size(source: &str, body: &[u8]) -> Result<(), Refusal> {
    let limit = max_body_bytes(source);
    if body.len() > limit {
        let e = maxio::webhook::WebhookError::TooLarge {
            size: body.len(),
            limit,
        };
        return Err(Refusal::new(e.http_status(), e));
    }
    Ok(())
}

/// Checks a delivery for `tenant` with its `secret` and says what it touches. A secret without
/// this source's credentials is a 401 like a wrong signature: the endpoint does not tell a
/// stranger which tenants exist or which source they bill with. `header` looks a
/// request header up by name, case-insensitively.
pub fn receive(
    source: Source,
    tenant: &str,
    body: &[u8],
    header: &dyn Fn(&str) -> Option<String>,
    secret: &WebhookSecret,
) -> Result<Delivery, Refusal> {
    match source {
        Source::Maxio => {
            let key = secret.webhook_key.as_ref().ok_or_else(|| {
                Refusal::new(401, format!("tenant {tenant} has no Maxio webhook key"))
            })?;
            let delivery = maxio::webhook::receive(
                body,
                header(maxio::webhook::SIGNATURE_HEADER).as_deref(),
                key,
            )
            .map_err(|e| Refusal::new(e.http_status(), e))?;
            Ok(Delivery {
                touched: delivery.event.touched(),
                id: delivery.delivery_id,
            })
        }
        Source::Chargebee => {
            let (Some(user), Some(pass)) = (&secret.webhook_username, &secret.webhook_password)
            else {
                return Err(Refusal::new(
                    401,
                    format!("tenant {tenant} has no Chargebee webhook credentials"),
                ));
            };
            let delivery =
                chargebee::webhook::receive(body, header("authorization").as_deref(), user, pass)
                    .map_err(|e| Refusal::new(e.http_status(), e))?;
            Ok(Delivery {
                touched: delivery.event.touched(),
                id: delivery.delivery_id,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_source_has_its_own_body_limit() {
        let body = vec![b'a'; 700 * 1024];
        assert_eq!(check_size("maxio", &body).unwrap_err().status, 413);
        assert!(check_size("chargebee", &body).is_ok());
        assert_eq!(
            check_size("chargebee", &vec![b'a'; 1024 * 1024 + 1])
                .unwrap_err()
                .status,
            413
        );
        assert_eq!(MAX_BODY_BYTES, 1024 * 1024);
    }
}
