//! Deterministic NetSuite external ids: the same billing record always maps to the same
//! external id, which is what makes every write idempotent (a retry or a crash finds the
//! record instead of making a second one).

use crate::settings::TenantSettings;

/// What kind of NetSuite record an external id names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    SalesOrder,
    Invoice,
    Deposit,
    DepositApplication,
    Payment,
    Refund,
    CreditMemo,
    /// The credit memo reversing an invoice voided after sync.
    VoidReversal,
}

impl Kind {
    fn tag(self) -> &'static str {
        match self {
            Kind::SalesOrder => "so",
            Kind::Invoice => "inv",
            Kind::Deposit => "dep",
            Kind::DepositApplication => "dap",
            Kind::Payment => "pmt",
            Kind::Refund => "rfd",
            Kind::CreditMemo => "cm",
            Kind::VoidReversal => "void",
        }
    }
}

/// NetSuite external ids allow letters, digits, `_` and `-`. An id made only of those is used
/// as it is; any other (or one that starts with the `x--` marker) is written as `x--` and the
/// hex of its bytes, so two different billing ids never share an external id.
fn clean(id: &str) -> String {
    let plain = id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain && !id.is_empty() && !id.starts_with("x--") {
        return id.to_owned();
    }
    let hex: String = id.bytes().map(|b| format!("{b:02x}")).collect();
    format!("x--{hex}")
}

/// The namespace of a tenant's transactions: the configured prefix, else `bs-<tenant>`.
pub fn namespace(settings: &TenantSettings) -> String {
    match &settings.prefixes.external_id {
        Some(p) => p.clone(),
        None => format!("bs-{}", settings.tenant),
    }
}

/// Whether two tenants' transaction external ids could be the same: their namespaces are equal,
/// or one is the other followed by `-` (tenant `a` writes `bs-a-inv-so-1` for billing invoice
/// `so-1`, which tenant `a-inv` writes for its sales order `1`). Tenants on one NetSuite account
/// must not overlap, or one would find and claim the other's records.
pub fn namespaces_overlap(a: &TenantSettings, b: &TenantSettings) -> bool {
    let (a, b) = (namespace(a), namespace(b));
    a == b || a.starts_with(&format!("{b}-")) || b.starts_with(&format!("{a}-"))
}

/// What every external id of `kind` in the tenant's namespace starts with.
pub fn prefix(settings: &TenantSettings, kind: Kind) -> String {
    format!("{}-{}-", namespace(settings), kind.tag())
}

/// External id of a transaction created for a billing record.
pub fn transaction(settings: &TenantSettings, kind: Kind, billing_id: &str) -> String {
    format!("{}{}", prefix(settings, kind), clean(billing_id))
}

/// The billing id behind a transaction external id of `kind` (the reverse of
/// [`transaction`]), or `None` for an external id of another kind or tenant.
pub fn billing_id(settings: &TenantSettings, kind: Kind, external_id: &str) -> Option<String> {
    let rest = external_id.strip_prefix(&prefix(settings, kind))?;
    match rest.strip_prefix("x--") {
        None if !rest.is_empty() => Some(rest.to_owned()),
        None => None,
        Some(hex) => {
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
                .collect::<Option<Vec<u8>>>()?;
            String::from_utf8(bytes).ok()
        }
    }
}

/// External id of a customer: the billing customer id itself (as the Maxio guide requires),
/// with the configured prefix in front when there is one (Chargebee's mapping).
pub fn customer(settings: &TenantSettings, billing_customer_id: &str) -> String {
    match &settings.prefixes.external_id {
        Some(p) => format!("{p}-{}", clean(billing_customer_id)),
        None => clean(billing_customer_id),
    }
}

/// External id of an item billsync creates: its item name (SKU or catalog name, with the item
/// prefix). A name with characters external ids do not allow keeps a readable form, other
/// characters as `-`, followed by a digest of the exact name so two names never collide.
pub fn item(item_name: &str) -> String {
    let plain = item_name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain && !item_name.is_empty() {
        return item_name.to_owned();
    }
    use sha2::{Digest, Sha256};
    let slug: String = item_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    let digest = Sha256::digest(item_name.as_bytes());
    let tag: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("{slug}-{tag}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(prefix: Option<&str>) -> TenantSettings {
        let mut doc = serde_json::json!({
            "tenant": "acme", "source": "maxio", "site": "acme-demo", "sync_start_date": "2026-01-01",
            "items": {"tax_item": {"id": "100", "type": "non_inventory"}, "discount_item": "101"},
            "payments": {"payment_instruments": true}, "refunds": {"account": "9"}
        });
        if let Some(p) = prefix {
            doc["prefixes"] = serde_json::json!({"external_id": p});
        }
        TenantSettings::from_value(&doc).unwrap()
    }

    #[test]
    fn ids_are_deterministic_and_namespaced() {
        let s = settings(None);
        assert_eq!(
            transaction(&s, Kind::SalesOrder, "inv_9qzk3w7m2x4bd"),
            "bs-acme-so-inv_9qzk3w7m2x4bd"
        );
        assert_eq!(
            transaction(&s, Kind::Payment, "880214507"),
            "bs-acme-pmt-880214507"
        );
        assert_eq!(customer(&s, "41870213"), "41870213");
        let p = settings(Some("CB-Customer"));
        assert_eq!(customer(&p, "100"), "CB-Customer-100");
        assert_eq!(
            transaction(&p, Kind::Invoice, "INV-1025"),
            "CB-Customer-inv-INV-1025"
        );
    }

    #[test]
    fn overlapping_namespaces_are_found() {
        let named = |tenant: &str, prefix: Option<&str>| {
            let mut s = settings(prefix);
            s.tenant = tenant.into();
            s
        };
        let a = named("a", None);
        assert!(namespaces_overlap(&a, &named("a-inv", None)));
        assert_eq!(
            transaction(&a, Kind::Invoice, "so-1"),
            transaction(&named("a-inv", None), Kind::SalesOrder, "1"),
            "the collision the check prevents"
        );
        assert!(!namespaces_overlap(&a, &named("ab", None)));
        assert!(namespaces_overlap(
            &named("x", Some("CB")),
            &named("y", Some("CB"))
        ));
        assert!(!namespaces_overlap(
            &named("x", Some("CB1")),
            &named("y", Some("CB2"))
        ));
        assert!(namespaces_overlap(
            &named("x", Some("bs-acme")),
            &named("acme", None)
        ));
    }

    #[test]
    fn billing_ids_come_back_from_external_ids() {
        let s = settings(None);
        for uid in ["inv_9qzk3w7m2x4bd", "a.b", "x--612e62", "ünï cödé"] {
            let eid = transaction(&s, Kind::Invoice, uid);
            assert_eq!(billing_id(&s, Kind::Invoice, &eid).as_deref(), Some(uid));
            assert_eq!(billing_id(&s, Kind::SalesOrder, &eid), None);
        }
        assert_eq!(billing_id(&s, Kind::Invoice, "other-inv-1"), None);
        assert_eq!(billing_id(&s, Kind::Invoice, "bs-acme-inv-x--6"), None);
    }

    #[test]
    fn odd_characters_cannot_collide() {
        let s = settings(None);
        let a = transaction(&s, Kind::Invoice, "a.b");
        let b = transaction(&s, Kind::Invoice, "a_b");
        let c = transaction(&s, Kind::Invoice, "a b");
        let d = transaction(&s, Kind::Invoice, "x--612e62");
        assert_eq!(a, "bs-acme-inv-x--612e62");
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
            "{a}"
        );
    }
}
