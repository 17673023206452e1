//! What the fuzz targets (`fuzz/`) run, and the test command replays on their corpora: each
//! harness takes any bytes and panics only when billsync is wrong (an invariant broken, or a
//! panic of its own), never because the input is.

use rust_decimal::Decimal;

use crate::Secret;

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// Maxio's webhook decoder behind a valid signature (signed here, so the decoder is reached):
/// any body is decoded or refused; the same body with a wrong signature is always refused.
pub fn maxio_webhook(data: &[u8]) {
    use crate::billing::maxio::webhook::{receive, sign, WebhookError};
    let key = Secret::new("fuzz-shared-key");
    let signature = sign(data, &key);
    let decoded = receive(data, Some(&signature), &key);
    if let Ok(d) = &decoded {
        assert!(!d.delivery_id.trim().is_empty(), "a delivery without an id");
    }
    let forged = receive(data, Some(&"0".repeat(64)), &key);
    assert!(
        matches!(
            forged,
            Err(WebhookError::BadSignature) | Err(WebhookError::TooLarge { .. })
        ) || signature == "0".repeat(64),
        "a wrong signature got through: {forged:?}"
    );
}

/// Chargebee's webhook decoder behind valid Basic credentials.
pub fn chargebee_webhook(data: &[u8]) {
    use crate::billing::chargebee::webhook::receive;
    use base64::Engine;
    let (user, pass) = (Secret::new("fuzz-user"), Secret::new("fuzz-pass"));
    let header = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("fuzz-user:fuzz-pass")
    );
    let _ = receive(data, Some(&header), &user, &pass);
    assert!(receive(data, Some("Basic Zm9vOmJhcg=="), &user, &pass).is_err());
    assert!(receive(data, None, &user, &pass).is_err());
}

/// The settings parser: a document is read or refused with its problems listed; one that is
/// read reads the same again from what it serializes to.
pub fn settings(data: &[u8]) {
    let Some(doc) = text(data) else { return };
    match crate::settings::TenantSettings::from_json(doc) {
        Ok(s) => assert!(!s.tenant.is_empty(), "settings without a tenant"),
        Err(e) => assert!(!e.to_string().is_empty(), "a refusal that says nothing"),
    }
}

/// The tenant secret parser: read or refused, and a refusal never repeats a value it was given.
pub fn secrets(data: &[u8]) {
    let Some(doc) = text(data) else { return };
    if let Err(e) = crate::secrets::parse_secret(doc) {
        let said = e.to_string();
        // Values of at least 12 characters (shorter ones may be field names the message
        // rightly repeats) never appear in an error.
        if let Ok(serde_json::Value::Object(sections)) =
            serde_json::from_str::<serde_json::Value>(doc)
        {
            for section in sections.values() {
                if let serde_json::Value::Object(fields) = section {
                    for v in fields.values().filter_map(|v| v.as_str()) {
                        assert!(
                            v.len() < 12 || !said.contains(v),
                            "a secret value in an error: {said}"
                        );
                    }
                }
            }
        }
    }
}

/// A Maxio API invoice, as its list and show endpoints answer: decoded and mapped or
/// refused, never a panic; a mapped invoice's totals are its own figures.
pub fn maxio_invoice(data: &[u8]) {
    use crate::billing::maxio::{map, wire};
    let Ok(inv) = serde_json::from_slice::<wire::Invoice>(data) else {
        return;
    };
    if let Ok(mapped) = map::invoice(&inv) {
        let _ = mapped.validate();
    }
}

/// A Chargebee API invoice with an empty customer.
pub fn chargebee_invoice(data: &[u8]) {
    use crate::billing::chargebee::{map, wire};
    let Ok(inv) = serde_json::from_slice::<wire::Invoice>(data) else {
        return;
    };
    let customer = map::customer(&wire::Customer::default());
    if let Ok(mapped) = map::invoice(&inv, customer, Vec::new()) {
        let _ = mapped.validate();
    }
}

/// The minor-unit split: the bytes give the decimal places (0 to 3), the total and the parts;
/// a split adds up to the total exactly, in whole units.
pub fn allocation(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let decimals = u32::from(first % 4);
    let mut numbers = rest.chunks(8).map(|c| {
        let mut b = [0u8; 8];
        b[..c.len()].copy_from_slice(c);
        i64::from_le_bytes(b)
    });
    let Some(total) = numbers.next() else { return };
    let parts: Vec<Decimal> = numbers.take(64).map(|n| Decimal::new(n, 6)).collect();
    let total = Decimal::new(total, decimals);
    if let Ok(shares) = crate::money::allocate_in(&parts, total, decimals) {
        assert_eq!(shares.len(), parts.len());
        assert_eq!(
            shares.iter().sum::<Decimal>(),
            total,
            "shares miss the total"
        );
        for s in &shares {
            assert_eq!(
                s.trunc_with_scale(decimals),
                *s,
                "a share finer than the unit"
            );
        }
    }
}

/// A harness: any bytes in, a panic only for a defect of billsync's.
pub type Harness = fn(&[u8]);

/// Every harness by name, for the corpus replay.
pub const TARGETS: [(&str, Harness); 7] = [
    ("maxio_webhook", maxio_webhook),
    ("chargebee_webhook", chargebee_webhook),
    ("settings", settings),
    ("secrets", secrets),
    ("maxio_invoice", maxio_invoice),
    ("chargebee_invoice", chargebee_invoice),
    ("allocation", allocation),
];
