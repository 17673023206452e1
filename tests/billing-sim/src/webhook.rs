//! Webhooks as Maxio sends them: an `application/x-www-form-urlencoded` POST whose keys keep
//! literal brackets (`payload[invoice][uid]`), whose values are percent-encoded with `%20` for
//! spaces, empty for null, and which is signed with HMAC-SHA256 of the exact body bytes.

use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::Sha256;

use crate::{
    clock,
    model::*,
    money::{fmt, in_cents, quantity_text},
    state::State,
    PaymentKind, SimError, WebhookEvent,
};

/// What stays unescaped in values: letters, digits and `-_.!~*'()`.
const VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

pub(crate) const SIGNATURE_HEADER: &str = "X-Chargify-Webhook-Signature-Hmac-Sha-256";
pub(crate) const ID_HEADER: &str = "X-Chargify-Webhook-Id";

/// A form value: null and empty both print as nothing.
enum V {
    S(String),
    N,
}

impl From<&str> for V {
    fn from(s: &str) -> V {
        V::S(s.to_owned())
    }
}
impl From<String> for V {
    fn from(s: String) -> V {
        V::S(s)
    }
}
impl From<&String> for V {
    fn from(s: &String) -> V {
        V::S(s.clone())
    }
}
impl From<u64> for V {
    fn from(n: u64) -> V {
        V::S(n.to_string())
    }
}
impl From<i64> for V {
    fn from(n: i64) -> V {
        V::S(n.to_string())
    }
}
impl From<u32> for V {
    fn from(n: u32) -> V {
        V::S(n.to_string())
    }
}
impl From<bool> for V {
    fn from(b: bool) -> V {
        V::S(if b { "true" } else { "false" }.into())
    }
}
impl<T: Into<V>> From<Option<T>> for V {
    fn from(o: Option<T>) -> V {
        o.map_or(V::N, Into::into)
    }
}

#[derive(Default)]
struct Form(Vec<(String, V)>);

impl Form {
    fn add(&mut self, key: impl Into<String>, v: impl Into<V>) {
        self.0.push((key.into(), v.into()));
    }

    /// `prefix[key]` for each pair.
    fn group(&mut self, prefix: &str, pairs: Vec<(&str, V)>) {
        for (k, v) in pairs {
            self.0.push((format!("{prefix}[{k}]"), v));
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = String::new();
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            out.push_str(k);
            out.push('=');
            if let V::S(s) = v {
                out.extend(utf8_percent_encode(s, VALUE));
            }
        }
        out.into_bytes()
    }
}

fn p(k: &str, v: impl Into<V>) -> (&str, V) {
    (k, v.into())
}

fn wh(t: &Time) -> V {
    V::S(clock::webhook(t))
}

fn customer_pairs(c: &CustomerRec) -> Vec<(&'static str, V)> {
    let a = c.address.as_ref();
    vec![
        p("id", c.id),
        p("first_name", &c.first_name),
        p("last_name", &c.last_name),
        p("organization", c.organization.clone()),
        p("email", &c.email),
        ("created_at", wh(&c.created_at)),
        ("updated_at", wh(&c.created_at)),
        p("reference", c.reference.clone()),
        p("address", a.map(|a| a.street.clone())),
        p("address_2", a.map(|a| a.line2.clone())),
        p("city", a.map(|a| a.city.clone())),
        p("state", a.map(|a| a.state.clone())),
        p("zip", a.map(|a| a.zip.clone())),
        p("country", a.map(|a| a.country.clone())),
        p("phone", c.phone.clone()),
        ("portal_invite_last_sent_at", wh(&c.created_at)),
        p("portal_invite_last_accepted_at", None::<String>),
        p("verified", false),
        ("portal_customer_created_at", wh(&c.created_at)),
        p("cc_emails", c.cc_emails.clone()),
    ]
}

fn site(form: &mut Form, st: &State) {
    form.add("payload[site][id]", st.site.site_id);
    form.add("payload[site][subdomain]", &st.site.subdomain);
}

fn invoice_entry<'a>(st: &'a State, uid: &str) -> Result<&'a crate::state::InvoiceEntry, SimError> {
    st.invoice(uid).ok_or_else(|| SimError::NotFound {
        what: "invoice",
        id: uid.to_owned(),
    })
}

/// The payload of an event (everything between the site and the event id).
fn payload(st: &State, event: &WebhookEvent, form: &mut Form) -> Result<&'static str, SimError> {
    Ok(match event {
        WebhookEvent::InvoiceIssued { invoice_uid } => {
            // The invoice as issued, whatever happened to it since.
            let inv = invoice_entry(st, invoice_uid)?.issued.clone();
            let f = &*inv.fixed;
            form.group(
                "payload[invoice]",
                vec![
                    p("uid", &f.uid),
                    p("number", f.number.to_string()),
                    p("role", &f.role),
                    p("due_date", clock::day(&f.due_date())),
                    p("issue_date", clock::day(&f.issue_date)),
                    p("paid_date", inv.paid_date.map(|d| clock::day(&d))),
                    p("due_amount", fmt(inv.due())),
                    p("paid_amount", fmt(inv.paid())),
                    p("tax_amount", fmt(f.totals.tax)),
                    p("refund_amount", fmt(inv.refunded())),
                    p("total_amount", fmt(inv.total())),
                    p("status_amount", fmt(inv.total())),
                    p("product_name", &f.product_name),
                    p("consolidation_level", f.level.as_str()),
                ],
            );
            for (i, l) in f.lines.iter().enumerate() {
                let pre = format!("payload[invoice][line_items][{i}]");
                let comp = l.component.as_ref();
                form.group(
                    &pre,
                    vec![
                        p("uid", &l.uid),
                        p("title", &l.title),
                        p("description", &l.description),
                        p("quantity", quantity_text(l.quantity)),
                        p("quantity_delta", None::<String>),
                        p("unit_price", fmt(l.unit_price)),
                        p("period_range_start", clock::day(&l.period_start)),
                        p("period_range_end", clock::day(&l.period_end)),
                        p("amount", fmt(l.subtotal)),
                        p("line_references", None::<String>),
                        p("pricing_details_index", None::<String>),
                    ],
                );
                if let Some(c) = comp {
                    form.group(
                        &format!("{pre}[pricing_details][0]"),
                        vec![
                            p(
                                "label",
                                format!(
                                    "{} {}s x ${}",
                                    quantity_text(l.quantity),
                                    c.unit_name,
                                    fmt(l.unit_price)
                                ),
                            ),
                            p("amount", fmt(l.subtotal)),
                        ],
                    );
                }
                form.group(
                    &pre,
                    vec![
                        p("tax_code", None::<String>),
                        p("tax_amount", fmt(l.tax)),
                        p("product_id", l.product_id),
                        p("product_price_point_id", l.product_price_point_id),
                        p("price_point_id", comp.map(|c| c.price_point_id)),
                        p("component_id", comp.map(|c| c.id)),
                        p("billing_schedule_item_id", None::<String>),
                        p("custom_item", l.custom),
                    ],
                );
            }
            "invoice_issued"
        }
        WebhookEvent::PaymentSuccess {
            invoice_uid,
            transaction_id,
        } => {
            let inv = invoice_entry(st, invoice_uid)?.current.clone();
            let pay = inv
                .payments
                .iter()
                .find(|x| x.transaction_id == *transaction_id)
                .cloned()
                .ok_or_else(|| SimError::NotFound {
                    what: "payment",
                    id: transaction_id.to_string(),
                })?;
            let f = &*inv.fixed;
            let c = &*f.customer;
            let product = st.product(f.product_id).cloned();
            let price_cents = product.as_ref().map_or(0, |x| in_cents(x.price));
            let first = f.lines.first();
            let period_end = first.map(|l| l.period_end).unwrap_or(f.issue_date);
            let renews = clock::at(
                period_end,
                f.created_at.format("%H").to_string().parse().unwrap_or(6),
                0,
                0,
            );
            let payment_type = match pay.kind {
                PaymentKind::CreditCard => "credit_card",
                PaymentKind::BankAccount => "bank_account",
                PaymentKind::Check | PaymentKind::Cash => "external",
            };
            form.group(
                "payload[subscription]",
                vec![
                    p("id", f.subscription_id),
                    p("state", "active"),
                    p("trial_started_at", None::<String>),
                    p("trial_ended_at", None::<String>),
                    ("activated_at", wh(&c.created_at)),
                    ("created_at", wh(&c.created_at)),
                    ("updated_at", wh(&pay.time)),
                    p("expires_at", None::<String>),
                    p("balance_in_cents", 0u64),
                    ("current_period_ends_at", wh(&renews)),
                    ("next_assessment_at", wh(&renews)),
                    p("canceled_at", None::<String>),
                    p("cancellation_message", None::<String>),
                    p("next_product_id", None::<String>),
                    p("cancel_at_end_of_period", false),
                    p("payment_collection_method", f.collection_method),
                    p("snap_day", None::<String>),
                    p("cancellation_method", None::<String>),
                    ("current_period_started_at", wh(&f.created_at)),
                    p("previous_state", "active"),
                    p(
                        "signup_payment_id",
                        871_000_000 + f.subscription_id % 1_000_000,
                    ),
                    p(
                        "signup_revenue",
                        format!("{:.2}", rust_decimal::Decimal::new(price_cents, 2)),
                    ),
                    p("delayed_cancel_at", None::<String>),
                    p("coupon_code", f.discount.as_ref().map(|d| d.code.clone())),
                    p("total_revenue_in_cents", in_cents(inv.paid())),
                    p("product_price_in_cents", price_cents),
                    p(
                        "product_version_number",
                        product.as_ref().map(|x| x.version),
                    ),
                    p("payment_type", payment_type),
                    p("referral_code", None::<String>),
                    p("coupon_use_count", u64::from(f.discount.is_some())),
                    p("coupon_uses_allowed", None::<String>),
                    p(
                        "product_price_point_id",
                        product.as_ref().map(|x| x.price_point_id),
                    ),
                ],
            );
            form.group("payload[subscription][customer]", customer_pairs(c));
            if let Some(x) = &product {
                form.group(
                    "payload[subscription][product]",
                    vec![
                        p("id", x.id),
                        p("name", &x.name),
                        p("handle", &x.handle),
                        p("description", &x.description),
                        p("accounting_code", x.accounting_code.clone()),
                        p("price_in_cents", price_cents),
                        p("interval", x.interval_months),
                        p("interval_unit", "month"),
                        p("archived_at", None::<String>),
                        p("taxable", true),
                        p("version_number", x.version),
                    ],
                );
                form.group(
                    "payload[subscription][product][product_family]",
                    vec![
                        p("id", FAMILY_ID),
                        p("name", FAMILY_NAME),
                        p("description", None::<String>),
                        p("handle", FAMILY_HANDLE),
                        p("accounting_code", None::<String>),
                    ],
                );
                form.group(
                    "payload[subscription][product][public_signup_pages]",
                    vec![
                        p("id", x.id % 100_000),
                        p("return_url", None::<String>),
                        p("return_params", None::<String>),
                        p(
                            "url",
                            format!(
                                "https://{}.chargifypay.com/subscribe/{}",
                                st.site.subdomain, x.handle
                            ),
                        ),
                    ],
                );
            }
            let card = pay.card;
            let a = c.address.as_ref();
            form.group(
                "payload[subscription][credit_card]",
                vec![
                    p("id", 19_900_000 + c.id % 100_000),
                    p("first_name", &c.first_name),
                    p("last_name", &c.last_name),
                    p("masked_card_number", card.masked()),
                    p("card_type", card.brand),
                    p("expiration_month", card.exp_month),
                    p("expiration_year", card.exp_year),
                    p("customer_id", c.id),
                    p("current_vault", "stripe_connect"),
                    p("vault_token", format!("pm_1Sim{}", c.id)),
                    p("billing_address", a.map(|a| a.street.clone())),
                    p("billing_city", a.map(|a| a.city.clone())),
                    p("billing_state", a.map(|a| a.state.clone())),
                    p("billing_zip", a.map(|a| a.zip.clone())),
                    p("billing_country", a.map(|a| a.country.clone())),
                    p("customer_vault_token", format!("cus_Sim{}", c.id)),
                    p("billing_address_2", a.map(|a| a.line2.clone())),
                    p("payment_type", "credit_card"),
                ],
            );
            let cents = in_cents(pay.applied);
            let is_card = pay.kind == PaymentKind::CreditCard;
            form.group(
                "payload[transaction]",
                vec![
                    p("id", pay.transaction_id),
                    p("subscription_id", f.subscription_id),
                    p("type", "Payment"),
                    p("kind", None::<String>),
                    p("transaction_type", "payment"),
                    p("success", true),
                    p("amount_in_cents", cents),
                    p("memo", &pay.memo),
                    ("created_at", wh(&pay.time)),
                    p("starting_balance_in_cents", cents),
                    p("ending_balance_in_cents", 0u64),
                    p("gateway_used", pay.gateway_used),
                    p("gateway_transaction_id", pay.gateway_transaction_id.clone()),
                    p("gateway_response_code", None::<String>),
                    p("gateway_order_id", None::<String>),
                    p("payment_id", None::<String>),
                    p("product_id", f.product_id),
                    p("tax_id", None::<String>),
                    p("component_id", None::<String>),
                    p("statement_id", None::<String>),
                    p("customer_id", c.id),
                    p("card_number", is_card.then(|| card.masked())),
                    p("card_expiration", is_card.then(|| card.expiration())),
                    p("card_type", is_card.then_some(card.brand)),
                    p(
                        "refunded_amount_in_cents",
                        in_cents(
                            inv.refunds
                                .iter()
                                .filter(|r| r.payment_id == pay.transaction_id)
                                .map(|r| r.amount)
                                .sum(),
                        ),
                    ),
                    p("invoice_id", None::<String>),
                ],
            );
            "payment_success"
        }
        WebhookEvent::RefundSuccess {
            invoice_uid,
            refund_id,
        } => {
            let inv = invoice_entry(st, invoice_uid)?.current.clone();
            let refund = inv
                .refunds
                .iter()
                .find(|r| r.transaction_id == *refund_id)
                .cloned()
                .ok_or_else(|| SimError::NotFound {
                    what: "refund",
                    id: refund_id.to_string(),
                })?;
            let payment = inv
                .payments
                .iter()
                .find(|x| x.transaction_id == refund.payment_id);
            let f = &*inv.fixed;
            let c = &*f.customer;
            form.add("payload[subscription][id]", f.subscription_id);
            form.add("payload[subscription][state]", "active");
            form.add("payload[subscription][customer][id]", c.id);
            form.add(
                "payload[subscription][customer][organization]",
                c.organization.clone(),
            );
            form.add("payload[subscription][customer][email]", &c.email);
            form.add("payload[refund_id]", refund.transaction_id);
            form.add(
                "payload[gateway_transaction_id]",
                refund.gateway_transaction_id.clone(),
            );
            form.add("payload[product_id]", f.product_id);
            form.add(
                "payload[payment_amount_in_cents]",
                payment.map(|x| in_cents(x.applied)),
            );
            form.add("payload[refund_amount_in_cents]", in_cents(refund.amount));
            form.add("payload[memo]", &refund.memo);
            form.0.push(("payload[timestamp]".into(), wh(&refund.time)));
            "refund_success"
        }
        WebhookEvent::CustomerUpdate { customer_id } => {
            let c = st
                .customer(*customer_id)
                .ok_or_else(|| SimError::NotFound {
                    what: "customer",
                    id: customer_id.to_string(),
                })?;
            let mut pairs = customer_pairs(c);
            pairs.extend([
                p("vat_number", c.vat_number.clone()),
                p("tax_exempt", false),
                p("parent_id", None::<String>),
                p("locale", None::<String>),
            ]);
            form.group("payload[customer]", pairs);
            "customer_update"
        }
        WebhookEvent::Other { .. } => "",
    })
}

/// The webhook id and body. The first build of an event fixes its webhook id and site event
/// id; later builds reuse them, and the body depends only on stored records, so a re-send is
/// byte-identical.
pub(crate) fn build(st: &mut State, event: &WebhookEvent) -> Result<(u64, Vec<u8>), SimError> {
    let mut body = Form::default();
    let name = payload(st, event, &mut body)?;
    let name = match event {
        WebhookEvent::Other { event } => event.as_str(),
        _ => name,
    };
    if name.is_empty() {
        return Err(SimError::Rejected("a webhook needs an event name".into()));
    }
    let (webhook_id, event_id) = match st.webhooks.get(event) {
        Some(ids) => *ids,
        None => {
            let ids = st.next_webhook_ids();
            st.webhooks.insert(event.clone(), ids);
            ids
        }
    };
    let mut form = Form::default();
    form.add("id", webhook_id);
    form.add("event", name);
    site(&mut form, st);
    form.0.extend(body.0);
    form.add("payload[event_id]", event_id);
    Ok((webhook_id, form.encode()))
}

/// Hex HMAC-SHA256 of the exact body bytes, keyed with the site's shared key.
pub(crate) fn sign(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(crate) async fn send(
    http: &reqwest::Client,
    url: &str,
    id: u64,
    body: Vec<u8>,
    signature: &str,
) -> Result<reqwest::StatusCode, SimError> {
    let resp = http
        .post(url)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(ID_HEADER, id.to_string())
        .header(SIGNATURE_HEADER, signature)
        .body(body)
        .send()
        .await
        .map_err(|e| SimError::Webhook(e.without_url().to_string()))?;
    Ok(resp.status())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_values_like_maxio() {
        let mut f = Form::default();
        f.add(
            "payload[invoice][title]",
            "Onboarding workshop (remote, 4h)",
        );
        f.add("payload[x]", None::<String>);
        f.add("payload[email]", "harriet.quill@example.com");
        f.add("payload[phone]", "+1 518-555-0142");
        f.add("payload[desc]", "API Seats: 162 seats\n01/31/2026");
        assert_eq!(
            String::from_utf8(f.encode()).unwrap(),
            "payload[invoice][title]=Onboarding%20workshop%20(remote%2C%204h)&payload[x]=\
             &payload[email]=harriet.quill%40example.com&payload[phone]=%2B1%20518-555-0142\
             &payload[desc]=API%20Seats%3A%20162%20seats%0A01%2F31%2F2026"
        );
    }

    #[test]
    fn signs_the_fixture_body() {
        let body = include_bytes!("../fixtures/maxio/webhook_refund_success.txt");
        assert_eq!(
            sign(b"billsync-fixture-shared-key", body),
            "5905e6ab1774f10df9309d8212a4b1491da37cf86c554bacd38a6f27b1de4fe8"
        );
    }
}
