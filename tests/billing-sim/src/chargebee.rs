//! A Chargebee API v2 simulator on loopback, for tests.
//!
//! It serves the reads a sync makes (`GET /api/v2/invoices/{id}`, `customers/{id}`,
//! `credit_notes/{id}`, `transactions/{id}`, `item_prices/{id}`, `items/{id}`, the lists of
//! invoices, customers, credit notes and transactions filtered by `id[in]`, and the `events`
//! list) with the wire shape pinned by `fixtures/chargebee/`: integer amounts in minor units,
//! Unix-second dates, resources wrapped in a one-key envelope (`{"invoice": {...}}`), lists as
//! `{"list": [{"event": {...}}], "next_offset": "..."}`. Unset fields are left out rather than
//! sent as `null`.
//!
//! Records change through billing actions; each appends events whose `content` holds the
//! records as they were right after the action:
//!
//! - [`ChargebeeSim::add_customer`], [`ChargebeeSim::add_item_price`]: none;
//! - [`ChargebeeSim::add_invoice`]: `invoice_generated` (`invoice`);
//! - [`ChargebeeSim::pay`]: `payment_succeeded` (`invoice`, `transaction`, `customer`);
//! - [`ChargebeeSim::refund`]: `credit_note_created` (`credit_note`, `customer`), then
//!   `payment_refunded` (`credit_note`, `customer`, `invoice`, `transaction`);
//! - [`ChargebeeSim::credit`] (a refundable note allocated to another invoice) and
//!   [`ChargebeeSim::adjust`] (an adjustment note on its own invoice): `credit_note_created`
//!   (`credit_note`, `customer`), then `invoice_updated` (`invoice`, `customer`) for the
//!   invoice the note settled;
//! - [`ChargebeeSim::update_customer`]: `customer_changed` (`customer`);
//! - [`ChargebeeSim::update_invoice_details`]: `invoice_updated` (`invoice`, `customer`).
//!
//! Every change to a record moves its `updated_at` and `resource_version`.
//! [`ChargebeeSim::webhook`] renders a stored event as the JSON body Chargebee would POST, with
//! the endpoint's Basic credentials.
//!
//! # Request pipeline
//! 1. HTTP Basic: the user name must be the API key and the password empty (401
//!    `api_authentication_failed`);
//! 2. the concurrency gate: beyond `concurrency_limit` requests in flight, 429
//!    `api_request_limit_exceeded`;
//! 3. routing: 404 `resource_not_found` for unknown paths or records, 400 `invalid_request` for
//!    a parameter a list refuses.
//!
//! # Money
//! Every figure is an `i64` in minor units, and the identities of `fixtures/README.md` hold
//! exactly: line `amount = quantity × unit_amount`; `sub_total = Σ amount`; the document-level
//! coupon is spread over the lines pro rata to their amounts (largest remainder); a line's tax is
//! half-up on `amount − discount_amount` (tax-exclusive) or the part of it above the half-up net
//! (tax-inclusive); `total = sub_total − discounts + tax` (tax-exclusive) or
//! `sub_total − discounts` (tax-inclusive); `amount_paid + amount_adjusted + credits_applied +
//! amount_due = total`, where refundable credit notes count in `credits_applied` and adjustment
//! notes in `amount_adjusted` (see `credits`). A credit note's `amount_allocated +
//! amount_refunded + amount_available = total`.

mod catalog;
mod credits;
mod money;
mod server;
mod updates;

use std::{
    collections::BTreeMap,
    fmt,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use base64::Engine as _;
use serde_json::{json, Value};

use server::Server;

/// The first simulated instant: 2026-02-01T00:00:00Z.
const EPOCH: i64 = 1_769_904_000;

/// One simulated Chargebee site.
#[derive(Clone, PartialEq, Eq)]
pub struct ChargebeeSimConfig {
    /// The site name (`{site}.chargebee.com`); also the `business_entity_id` of every record.
    pub site: String,
    /// The HTTP Basic user name every API request must carry (with an empty password).
    pub api_key: String,
    /// The Basic credentials configured on the site's webhook endpoint.
    pub webhook_username: String,
    pub webhook_password: String,
    /// Beyond this many requests in flight, 429.
    pub concurrency_limit: usize,
}

impl Default for ChargebeeSimConfig {
    /// Obviously fake keys, for tests.
    fn default() -> Self {
        ChargebeeSimConfig {
            site: "acme-test".into(),
            api_key: "test_sim-chargebee-api-key-not-a-real-key".into(),
            webhook_username: "billsync-hook".into(),
            webhook_password: "sim-webhook-password".into(),
            concurrency_limit: 4,
        }
    }
}

/// Keys are left out so a config can be logged.
impl fmt::Debug for ChargebeeSimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChargebeeSimConfig")
            .field("site", &self.site)
            .field("api_key", &"<redacted>")
            .field("webhook_username", &self.webhook_username)
            .field("webhook_password", &"<redacted>")
            .field("concurrency_limit", &self.concurrency_limit)
            .finish()
    }
}

/// Whether line amounts exclude or include tax.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CbPriceType {
    #[default]
    TaxExclusive,
    TaxInclusive,
}

impl CbPriceType {
    pub fn as_str(self) -> &'static str {
        match self {
            CbPriceType::TaxExclusive => "tax_exclusive",
            CbPriceType::TaxInclusive => "tax_inclusive",
        }
    }
}

/// One line of a new invoice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CbLine {
    /// `plan_item_price`, `addon_item_price`, `charge_item_price`, `plan_setup`, `adhoc`...
    pub entity_type: String,
    /// The item price id; `None` for an ad-hoc line.
    pub entity_id: Option<String>,
    pub description: String,
    pub quantity: i64,
    /// Minor units.
    pub unit_amount: i64,
    /// 0 means the line is not taxed.
    pub tax_rate_percent: u32,
}

/// A new invoice. Issued `payment_due`, due on its date (net 0).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CbInvoice {
    pub customer_id: String,
    /// ISO 4217; empty means "USD".
    pub currency: String,
    /// Unix seconds.
    pub date: i64,
    pub price_type: CbPriceType,
    pub lines: Vec<CbLine>,
    /// A document-level coupon of this many minor units (capped at the sub total), spread over
    /// the lines pro rata.
    pub coupon: Option<i64>,
    pub po_number: Option<String>,
    /// A rounding adjustment in minor units, signed (`round_off_amount`, as a site that rounds
    /// totals to a cash unit has), added to the total.
    pub round_off: i64,
    /// Where goods ship; `None` leaves `shipping_address` out. The billing address is the
    /// customer's.
    pub shipping_address: Option<CbAddress>,
}

/// A postal address: a customer's `billing_address`, or an invoice's `billing_address` or
/// `shipping_address` (the SDK names the fields alike in all three). Empty strings are left
/// out of the JSON, as unset fields are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CbAddress {
    pub first_name: String,
    pub last_name: String,
    pub company: Option<String>,
    pub line1: String,
    pub line2: Option<String>,
    pub line3: Option<String>,
    pub city: String,
    /// The subdivision code without the country prefix (`TX`, not `US-TX`).
    pub state_code: Option<String>,
    pub state: Option<String>,
    pub zip: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
}

/// A change to a customer: `None` leaves a field as it is, an empty string clears it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CbCustomerUpdate {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub company: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub vat_number: Option<String>,
    /// The site's custom fields (`cf_ns_class` -> `Services`), sent by Chargebee as top-level
    /// string keys of the customer. Every key must start with `cf_`.
    pub custom_fields: BTreeMap<String, String>,
    /// Replaces the whole `billing_address`.
    pub billing_address: Option<CbAddress>,
}

/// Chargebee's "update invoice details": the fields that may change on an issued invoice
/// without touching its money. `None` leaves a field as it is; an empty `po_number` clears it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CbInvoiceDetails {
    pub po_number: Option<String>,
    pub billing_address: Option<CbAddress>,
    pub shipping_address: Option<CbAddress>,
}

/// A price of the product catalog (2.0): what an invoice line's `entity_id` names. Its item
/// (`item_id`) is created with the first price that names it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CbItemPrice {
    pub id: String,
    pub item_id: String,
    /// `plan`, `addon` or `charge`.
    pub item_type: String,
    pub name: String,
    pub external_name: Option<String>,
    pub description: Option<String>,
    /// ISO 4217; empty means "USD".
    pub currency: String,
    /// Minor units.
    pub price: i64,
    pub sku: Option<String>,
    pub accounting_code: Option<String>,
    pub accounting_category1: Option<String>,
    pub accounting_category2: Option<String>,
    pub accounting_category3: Option<String>,
    pub accounting_category4: Option<String>,
}

/// The coupon id every document-level coupon carries.
const COUPON_ID: &str = "SIM-FLAT";

struct Event {
    id: String,
    occurred_at: i64,
    event_type: &'static str,
    content: Value,
}

/// The site's records, kept as the JSON documents the API serves.
#[derive(Default)]
struct CbState {
    now: i64,
    counter: u64,
    invoice_seq: u64,
    cn_seq: u64,
    customers: BTreeMap<String, Value>,
    invoices: BTreeMap<String, Value>,
    credit_notes: BTreeMap<String, Value>,
    transactions: BTreeMap<String, Value>,
    item_prices: BTreeMap<String, Value>,
    items: BTreeMap<String, Value>,
    /// Product catalog 1.0 (older sites): plans and add-ons carry their accounting fields.
    plans: BTreeMap<String, Value>,
    addons: BTreeMap<String, Value>,
    /// Ascending by `occurred_at`; the index is the event's sequence number.
    events: Vec<Event>,
}

impl CbState {
    fn new() -> CbState {
        CbState {
            now: EPOCH,
            invoice_seq: 1000,
            cn_seq: 1000,
            ..CbState::default()
        }
    }

    /// Moves the clock at least one second on (to `at` if that is later) and returns it, so
    /// every event has its own `occurred_at`.
    fn tick(&mut self, at: Option<i64>) -> i64 {
        self.now = (self.now + 1).max(at.unwrap_or(0));
        self.now
    }

    /// A random-looking, deterministic id: `{prefix}_` and 16 base-62 characters.
    fn rid(&mut self, prefix: &str) -> String {
        self.counter += 1;
        let mut x = self.counter.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5bd1_e995_1234_5678;
        const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let mut s = String::with_capacity(prefix.len() + 17);
        s.push_str(prefix);
        s.push('_');
        for _ in 0..16 {
            x ^= x >> 33;
            x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
            x ^= x >> 29;
            s.push(ALPHABET[(x % 62) as usize] as char);
        }
        s
    }

    fn resource_version(&mut self, at: i64) -> i64 {
        self.counter += 1;
        at * 1000 + (self.counter % 1000) as i64
    }

    fn push_event(&mut self, event_type: &'static str, at: i64, content: Value) {
        let id = self.rid("ev");
        self.events.push(Event {
            id,
            occurred_at: at,
            event_type,
            content,
        });
    }

    fn customer_or_stub(&self, id: &str) -> Value {
        self.customers
            .get(id)
            .cloned()
            .unwrap_or_else(|| json!({ "id": id, "deleted": false }))
    }
}

fn render_event(e: &Event, webhook_status: &str) -> Value {
    json!({
        "id": e.id,
        "occurred_at": e.occurred_at,
        "source": "api",
        "object": "event",
        "api_version": "v2",
        "event_type": e.event_type,
        "webhook_status": webhook_status,
        "content": e.content,
    })
}

pub(crate) struct Shared {
    config: ChargebeeSimConfig,
    state: Mutex<CbState>,
    requests: server::Counts,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, CbState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Handle to a running Chargebee simulator. Clones are cheap and control the same server.
#[derive(Clone)]
pub struct ChargebeeSim {
    shared: Arc<Shared>,
    server: Arc<Server>,
}

impl fmt::Debug for ChargebeeSim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChargebeeSim")
            .field("base_url", &self.base_url())
            .field("config", &self.shared.config)
            .finish()
    }
}

impl ChargebeeSim {
    /// Listens on `127.0.0.1`, on a free port.
    pub async fn start(config: ChargebeeSimConfig) -> std::io::Result<ChargebeeSim> {
        let shared = Arc::new(Shared {
            config,
            state: Mutex::new(CbState::new()),
            requests: Default::default(),
        });
        let server = server::start(shared.clone()).await?;
        Ok(ChargebeeSim {
            shared,
            server: Arc::new(server),
        })
    }

    /// `http://127.0.0.1:<port>/api/v2/`, the root the billsync client joins paths onto.
    pub fn base_url(&self) -> String {
        format!("{}/api/v2/", self.server.origin)
    }

    pub fn config(&self) -> ChargebeeSimConfig {
        self.shared.config.clone()
    }

    /// API requests answered past authentication, by resource (`invoices`, `customers`, ...).
    pub fn requests(&self) -> std::collections::BTreeMap<String, u64> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn reset_requests(&self) {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Adds (or replaces) a customer. Emits no event.
    pub fn add_customer(
        &self,
        id: &str,
        company: Option<&str>,
        first: &str,
        last: &str,
        email: &str,
        currency: &str,
    ) {
        let site = self.shared.config.site.clone();
        let mut st = self.shared.state();
        let at = st.now;
        let version = st.resource_version(at);
        let mut address = json!({
            "first_name": first,
            "last_name": last,
            "email": email,
            "validation_status": "not_validated",
        });
        let mut customer = json!({
            "id": id,
            "first_name": first,
            "last_name": last,
            "email": email,
            "allow_direct_debit": false,
            "auto_close_invoices": true,
            "auto_collection": "on",
            "business_entity_id": site,
            "card_status": "no_card",
            "channel": "web",
            "created_at": at,
            "updated_at": at,
            "deleted": false,
            "excess_payments": 0,
            "locale": "en-US",
            "net_term_days": 0,
            "pii_cleared": "active",
            "preferred_currency_code": currency,
            "promotional_credits": 0,
            "refundable_credits": 0,
            "resource_version": version,
            "taxability": "taxable",
            "unbilled_charges": 0,
        });
        if let Some(company) = company {
            customer["company"] = json!(company);
            address["company"] = json!(company);
        }
        customer["billing_address"] = address;
        st.customers.insert(id.to_owned(), customer);
    }

    /// Issues an invoice (`INV-1001`, `INV-1002`...) and emits `invoice_generated`.
    pub fn add_invoice(&self, spec: CbInvoice) -> String {
        let site = self.shared.config.site.clone();
        let mut st = self.shared.state();
        st.invoice_seq += 1;
        let id = format!("INV-{}", st.invoice_seq);
        let at = st.tick(Some(spec.date));
        let line_ids: Vec<String> = spec.lines.iter().map(|_| st.rid("li")).collect();
        let figures = money::compute(&spec);
        let currency = if spec.currency.is_empty() {
            "USD".to_owned()
        } else {
            spec.currency.clone()
        };
        let tax_label = match spec.price_type {
            CbPriceType::TaxExclusive => "Sales Tax",
            CbPriceType::TaxInclusive => "VAT",
        };
        let tax_name = |rate: u32| format!("{tax_label} {rate}%");

        let mut line_items = Vec::new();
        let mut line_item_discounts = Vec::new();
        let mut line_item_taxes = Vec::new();
        for ((line, f), lid) in spec.lines.iter().zip(&figures.lines).zip(&line_ids) {
            let taxed = line.tax_rate_percent > 0;
            let mut item = json!({
                "id": lid,
                "customer_id": spec.customer_id,
                "date_from": spec.date,
                "date_to": spec.date,
                "description": line.description,
                "entity_type": line.entity_type,
                "quantity": line.quantity,
                "unit_amount": line.unit_amount,
                "amount": f.amount,
                "discount_amount": f.discount,
                "item_level_discount_amount": 0,
                "is_taxed": taxed,
                "tax_amount": f.tax,
                "tax_rate": f64::from(line.tax_rate_percent),
                "metered": false,
                "pricing_model": if line.quantity == 1 { "flat_fee" } else { "per_unit" },
            });
            if let Some(entity_id) = &line.entity_id {
                item["entity_id"] = json!(entity_id);
            }
            if !taxed {
                item["tax_exempt_reason"] = json!("product_exempt");
            }
            line_items.push(item);
            if f.discount > 0 {
                line_item_discounts.push(json!({
                    "line_item_id": lid,
                    "discount_type": "document_level_coupon",
                    "coupon_id": COUPON_ID,
                    "entity_id": COUPON_ID,
                    "discount_amount": f.discount,
                }));
            }
            if taxed {
                line_item_taxes.push(json!({
                    "line_item_id": lid,
                    "tax_name": tax_name(line.tax_rate_percent),
                    "tax_rate": f64::from(line.tax_rate_percent),
                    "taxable_amount": f.taxable,
                    "tax_amount": f.tax,
                    "is_non_compliance_tax": false,
                    "is_partial_tax_applied": false,
                }));
            }
        }
        let taxes: Vec<Value> = figures
            .tax_by_rate
            .iter()
            .map(|(rate, amount)| {
                json!({
                    "name": tax_name(*rate),
                    "amount": amount,
                    "description": format!("{} @ {rate}%", tax_name(*rate)),
                })
            })
            .collect();
        let discounts: Vec<Value> = if figures.discount > 0 {
            vec![json!({
                "amount": figures.discount,
                "description": format!("{COUPON_ID} - flat discount"),
                "discount_type": "fixed_amount",
                "entity_id": COUPON_ID,
                "entity_type": "document_level_coupon",
            })]
        } else {
            Vec::new()
        };
        let first_invoice = !st
            .invoices
            .values()
            .any(|i| i["customer_id"] == json!(spec.customer_id));
        let version = st.resource_version(at);
        let billing_address = st
            .customers
            .get(&spec.customer_id)
            .and_then(|c| c.get("billing_address").cloned());
        let mut invoice = json!({
            "id": id,
            "customer_id": spec.customer_id,
            "status": "payment_due",
            "price_type": spec.price_type.as_str(),
            "currency_code": currency,
            "date": spec.date,
            "due_date": spec.date,
            "net_term_days": 0,
            "generated_at": spec.date,
            "updated_at": at,
            "resource_version": version,
            "deleted": false,
            "recurring": false,
            "first_invoice": first_invoice,
            "has_advance_charges": false,
            "is_gifted": false,
            "term_finalized": true,
            "channel": "web",
            "business_entity_id": site,
            "sub_total": figures.sub_total,
            "tax": figures.tax,
            "total": figures.total + spec.round_off,
            "amount_paid": 0,
            "amount_adjusted": 0,
            "credits_applied": 0,
            "write_off_amount": 0,
            "round_off_amount": spec.round_off,
            "amount_due": figures.total + spec.round_off,
            "amount_to_collect": figures.total + spec.round_off,
            "line_items": line_items,
            "line_item_discounts": line_item_discounts,
            "line_item_taxes": line_item_taxes,
            "discounts": discounts,
            "taxes": taxes,
            "linked_payments": [],
            "applied_credits": [],
            "issued_credit_notes": [],
            "adjustment_credit_notes": [],
            "dunning_attempts": [],
            "linked_orders": [],
        });
        if let Some(po) = &spec.po_number {
            invoice["po_number"] = json!(po);
        }
        if let Some(address) = billing_address {
            invoice["billing_address"] = address;
        }
        if let Some(address) = &spec.shipping_address {
            invoice["shipping_address"] = address_json(address);
        }
        if figures.total + spec.round_off == 0 {
            invoice["status"] = json!("paid");
            invoice["paid_at"] = json!(at);
        }
        st.invoices.insert(id.clone(), invoice.clone());
        st.push_event("invoice_generated", at, json!({ "invoice": invoice }));
        id
    }

    /// Records a card payment of `amount` (capped at the amount due) against the invoice and
    /// emits `payment_succeeded`. Returns the transaction id.
    ///
    /// # Panics
    /// If the invoice does not exist.
    pub fn pay(&self, invoice_id: &str, amount: i64) -> String {
        self.pay_many(&[(invoice_id, amount)])
    }

    /// One card payment applied to several invoices of a customer (the transaction's
    /// `linked_invoices` lists each with its applied amount; each invoice's `linked_payments`
    /// carries the whole transaction amount). Each part is capped at its invoice's amount due;
    /// emits `payment_succeeded` per invoice. Returns the transaction id.
    ///
    /// # Panics
    /// If an invoice does not exist.
    pub fn pay_many(&self, parts: &[(&str, i64)]) -> String {
        let site = self.shared.config.site.clone();
        let mut st = self.shared.state();
        let at = st.tick(None);
        let txn_id = st.rid("txn");
        let version = st.resource_version(at);
        let amount: i64 = parts.iter().map(|(_, a)| *a).sum();
        let mut linked = Vec::new();
        let mut invoices = Vec::new();
        for (invoice_id, part) in parts {
            let invoice = st
                .invoices
                .get_mut(*invoice_id)
                .unwrap_or_else(|| panic!("invoice {invoice_id} does not exist"));
            let due = as_i64(&invoice["amount_due"]);
            let applied = (*part).clamp(0, due);
            let paid = as_i64(&invoice["amount_paid"]) + applied;
            let due = due - applied;
            invoice["amount_paid"] = json!(paid);
            invoice["amount_due"] = json!(due);
            invoice["amount_to_collect"] = json!(due);
            invoice["updated_at"] = json!(at);
            invoice["resource_version"] = json!(version);
            if due == 0 {
                invoice["status"] = json!("paid");
                invoice["paid_at"] = json!(at);
            }
            push(
                &mut invoice["linked_payments"],
                json!({
                    "txn_id": txn_id,
                    "applied_amount": applied,
                    "applied_at": at,
                    "txn_status": "success",
                    "txn_date": at,
                    "txn_amount": amount,
                }),
            );
            linked.push(json!({
                "invoice_id": invoice_id,
                "applied_amount": applied,
                "applied_at": at,
                "invoice_date": invoice["date"],
                "invoice_total": invoice["total"],
                "invoice_status": invoice["status"],
            }));
            invoices.push(invoice.clone());
        }
        let applied: i64 = linked
            .iter()
            .map(|l| l["applied_amount"].as_i64().unwrap_or_default())
            .sum();
        let first = &invoices[0];
        let customer_id = first["customer_id"].as_str().unwrap_or_default().to_owned();
        let txn = json!({
            "id": txn_id,
            "customer_id": customer_id,
            "type": "payment",
            "status": "success",
            "date": at,
            "settled_at": at,
            "updated_at": at,
            "resource_version": version,
            "deleted": false,
            "amount": amount,
            "amount_unused": amount - applied,
            "currency_code": first["currency_code"],
            "exchange_rate": 1.0,
            "payment_method": "card",
            "gateway": "stripe",
            "gateway_account_id": "gw_sim",
            "id_at_gateway": format!("ch_{}", &txn_id[4..]),
            "reference_number": format!("ch_{}", &txn_id[4..]),
            "masked_card_number": "************4242",
            "last4": "4242",
            "initiator_type": "merchant",
            "business_entity_id": site,
            "linked_invoices": linked,
            "linked_credit_notes": [],
            "linked_refunds": [],
        });
        st.transactions.insert(txn_id.clone(), txn.clone());
        let customer = st.customer_or_stub(&customer_id);
        for invoice in invoices {
            st.push_event(
                "payment_succeeded",
                at,
                json!({ "invoice": invoice, "transaction": txn, "customer": customer }),
            );
        }
        txn_id
    }

    /// Changes fields of a stored transaction (`gateway`, `payment_method`, `exchange_rate`,
    /// `id_at_gateway`, `reference_number`, ...), as another gateway, payment type or a
    /// transaction in another currency would have it. Events already emitted keep the old
    /// copy, as a webhook that raced a change does.
    ///
    /// # Panics
    /// If the transaction does not exist.
    pub fn amend_transaction(&self, txn_id: &str, fields: Value) {
        let mut st = self.shared.state();
        let txn = st
            .transactions
            .get_mut(txn_id)
            .unwrap_or_else(|| panic!("transaction {txn_id} does not exist"));
        for (k, v) in fields.as_object().expect("an object of fields") {
            txn[k.as_str()] = v.clone();
        }
    }

    /// Issues a refundable credit note of `amount` against the invoice (one untaxed line) and
    /// refunds it in full to the card; emits `credit_note_created` and `payment_refunded`.
    /// Returns the credit note id (`CN-1001`...) and the refund transaction id.
    ///
    /// # Panics
    /// If the invoice does not exist.
    pub fn refund(&self, invoice_id: &str, amount: i64) -> (String, String) {
        let site = self.shared.config.site.clone();
        let mut st = self.shared.state();
        let mut invoice = st
            .invoices
            .get(invoice_id)
            .unwrap_or_else(|| panic!("invoice {invoice_id} does not exist"))
            .clone();
        let customer_id = invoice["customer_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let currency = invoice["currency_code"].clone();
        let mut cn = st.new_credit_note(
            &site,
            &invoice,
            amount,
            NoteKind::refundable(format!("Refund against {invoice_id}")),
        );
        let cn_id = as_str(&cn["id"]);
        let cn_at = as_i64(&cn["date"]);
        push(&mut invoice["issued_credit_notes"], credit_note_ref(&cn));
        let version = st.resource_version(cn_at);
        stamp(&mut invoice, cn_at, version);
        let customer = st.customer_or_stub(&customer_id);
        st.credit_notes.insert(cn_id.clone(), cn.clone());
        st.invoices.insert(invoice_id.to_owned(), invoice.clone());
        st.push_event(
            "credit_note_created",
            cn_at,
            json!({ "credit_note": cn, "customer": customer }),
        );

        // The refund, against the invoice's latest card payment.
        let at = st.tick(None);
        let txn_id = st.rid("txn");
        let version = st.resource_version(at);
        let payment_id = invoice["linked_payments"]
            .as_array()
            .and_then(|p| p.last())
            .and_then(|p| p["txn_id"].as_str())
            .map(str::to_owned);
        cn["status"] = json!("refunded");
        cn["amount_refunded"] = json!(amount);
        cn["amount_available"] = json!(0);
        cn["refunded_at"] = json!(at);
        stamp(&mut cn, at, version);
        push(
            &mut cn["linked_refunds"],
            json!({
                "txn_id": txn_id,
                "applied_amount": amount,
                "applied_at": at,
                "txn_status": "success",
                "txn_date": at,
                "txn_amount": amount,
                "refund_reason_code": "product_unsatisfactory",
            }),
        );
        let mut txn = json!({
            "id": txn_id,
            "customer_id": customer_id,
            "type": "refund",
            "status": "success",
            "date": at,
            "settled_at": at,
            "updated_at": at,
            "resource_version": version,
            "deleted": false,
            "amount": amount,
            "currency_code": currency,
            "exchange_rate": 1.0,
            "payment_method": "card",
            "gateway": "stripe",
            "gateway_account_id": "gw_sim",
            "id_at_gateway": format!("re_{}", &txn_id[4..]),
            "reference_number": format!("re_{}", &txn_id[4..]),
            "masked_card_number": "************4242",
            "last4": "4242",
            "business_entity_id": site,
            "linked_invoices": [],
            "linked_refunds": [],
            "linked_credit_notes": [{
                "cn_id": cn_id,
                "applied_amount": amount,
                "applied_at": at,
                "cn_reason_code": cn["reason_code"],
                "cn_create_reason_code": cn["create_reason_code"],
                "cn_date": cn["date"],
                "cn_status": "refunded",
                "cn_total": amount,
                "cn_reference_invoice_id": invoice_id,
            }],
        });
        if let Some(payment_id) = &payment_id {
            txn["refunded_txn_id"] = json!(payment_id);
            txn["reference_transaction_id"] = json!(payment_id);
            let payment_version = st.resource_version(at);
            if let Some(payment) = st.transactions.get_mut(payment_id) {
                push(
                    &mut payment["linked_refunds"],
                    json!({
                        "txn_id": txn_id,
                        "txn_status": "success",
                        "txn_date": at,
                        "txn_amount": amount,
                    }),
                );
                stamp(payment, at, payment_version);
            }
        }
        if let Some(entry) = invoice["issued_credit_notes"]
            .as_array_mut()
            .and_then(|notes| notes.iter_mut().find(|n| n["cn_id"] == json!(cn_id)))
        {
            *entry = credit_note_ref(&cn);
        }
        let version = st.resource_version(at);
        stamp(&mut invoice, at, version);
        st.credit_notes.insert(cn_id.clone(), cn.clone());
        st.invoices.insert(invoice_id.to_owned(), invoice.clone());
        st.transactions.insert(txn_id.clone(), txn.clone());
        st.push_event(
            "payment_refunded",
            at,
            json!({
                "credit_note": cn,
                "customer": customer,
                "invoice": invoice,
                "transaction": txn,
            }),
        );
        (cn_id, txn_id)
    }

    /// The invoice as the API serves it now.
    pub fn invoice_json(&self, id: &str) -> Option<Value> {
        self.shared.state().invoices.get(id).cloned()
    }

    /// What the invoice still asks for, in minor units (0 for an unknown invoice).
    pub fn invoice_due(&self, id: &str) -> i64 {
        self.invoice_json(id)
            .map(|i| as_i64(&i["amount_due"]))
            .unwrap_or_default()
    }

    /// The invoice's customer id and currency.
    pub fn invoice_party(&self, id: &str) -> (String, String) {
        let i = self.invoice_json(id).unwrap_or_default();
        let text = |k: &str| i[k].as_str().unwrap_or_default().to_owned();
        (text("customer_id"), text("currency_code"))
    }

    pub fn event_count(&self) -> usize {
        self.shared.state().events.len()
    }

    /// The stored event as the JSON body of a webhook delivery (`webhook_status` `scheduled`),
    /// and the `Authorization` header the endpoint's Basic credentials produce.
    ///
    /// # Panics
    /// If there is no event at that index.
    pub fn webhook(&self, event_index: usize) -> (Vec<u8>, String) {
        let body = {
            let st = self.shared.state();
            let event = st
                .events
                .get(event_index)
                .unwrap_or_else(|| panic!("no event at index {event_index}"));
            render_event(event, "scheduled").to_string().into_bytes()
        };
        let config = &self.shared.config;
        let credentials = format!("{}:{}", config.webhook_username, config.webhook_password);
        let header = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        );
        (body, header)
    }

    /// Stops accepting, lets requests in flight finish (up to a few seconds) and returns.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

fn as_i64(v: &Value) -> i64 {
    v.as_i64().unwrap_or_default()
}

fn as_str(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// Every change to a record moves `updated_at` and `resource_version` (Chargebee's ordering
/// key for out-of-order webhooks).
fn stamp(doc: &mut Value, at: i64, version: i64) {
    doc["updated_at"] = json!(at);
    doc["resource_version"] = json!(version);
}

/// Sets a string field, or leaves it out when `value` is empty (unset fields are left out).
fn set_or_clear(doc: &mut Value, key: &str, value: &str) {
    if let Some(o) = doc.as_object_mut() {
        if value.is_empty() {
            o.remove(key);
        } else {
            o.insert(key.to_owned(), json!(value));
        }
    }
}

/// An address as the customer's `billing_address` or the invoice's `billing_address` /
/// `shipping_address`.
fn address_json(a: &CbAddress) -> Value {
    let fields = [
        ("first_name", Some(&a.first_name)),
        ("last_name", Some(&a.last_name)),
        ("company", a.company.as_ref()),
        ("line1", Some(&a.line1)),
        ("line2", a.line2.as_ref()),
        ("line3", a.line3.as_ref()),
        ("city", Some(&a.city)),
        ("state_code", a.state_code.as_ref()),
        ("state", a.state.as_ref()),
        ("zip", Some(&a.zip)),
        ("country", Some(&a.country)),
    ];
    let mut address = json!({ "validation_status": "not_validated" });
    for (key, value) in fields {
        set_or_clear(&mut address, key, value.map_or("", String::as_str));
    }
    address
}

/// A credit note's entry in an invoice's `issued_credit_notes` or `adjustment_credit_notes`
/// (the SDK gives both the same fields).
fn credit_note_ref(cn: &Value) -> Value {
    json!({
        "cn_id": cn["id"],
        "cn_date": cn["date"],
        "cn_reason_code": cn["reason_code"],
        "cn_status": cn["status"],
        "cn_total": cn["total"],
    })
}

/// What [`CbState::new_credit_note`] issues.
struct NoteKind {
    /// `refundable` or `adjustment`.
    note_type: &'static str,
    status: &'static str,
    reason_code: &'static str,
    create_reason_code: &'static str,
    line_description: String,
}

impl NoteKind {
    /// Credits for the paid part of an invoice: refunded or allocated to other invoices.
    fn refundable(line_description: String) -> NoteKind {
        NoteKind {
            note_type: "refundable",
            status: "refund_due",
            reason_code: "product_unsatisfactory",
            create_reason_code: "Product Unsatisfactory",
            line_description,
        }
    }

    /// A reduction of the unpaid part of its own invoice; `adjusted` from the start.
    fn write_off() -> NoteKind {
        NoteKind {
            note_type: "adjustment",
            status: "adjusted",
            reason_code: "write_off",
            create_reason_code: "Write Off",
            line_description: "Write off".into(),
        }
    }

    fn adjustment(line_description: String) -> NoteKind {
        NoteKind {
            note_type: "adjustment",
            status: "adjusted",
            reason_code: "waiver",
            create_reason_code: "Waiver",
            line_description,
        }
    }
}

impl CbState {
    /// A credit note of `amount` against `invoice` (`CN-1001`, `CN-1002`...), dated now: one
    /// untaxed ad-hoc line referring to the invoice's first line, nothing used yet. The caller
    /// uses and stores it.
    fn new_credit_note(
        &mut self,
        site: &str,
        invoice: &Value,
        amount: i64,
        kind: NoteKind,
    ) -> Value {
        self.cn_seq += 1;
        let cn_id = format!("CN-{}", self.cn_seq);
        let at = self.tick(None);
        let line_id = self.rid("li");
        let version = self.resource_version(at);
        let customer_id = &invoice["customer_id"];
        let mut line = json!({
            "id": line_id,
            "customer_id": customer_id,
            "date_from": at,
            "date_to": at,
            "description": kind.line_description,
            "entity_type": "adhoc",
            "quantity": 1,
            "unit_amount": amount,
            "amount": amount,
            "discount_amount": 0,
            "item_level_discount_amount": 0,
            "is_taxed": false,
            "tax_amount": 0,
            "tax_rate": 0.0,
            "metered": false,
            "pricing_model": "flat_fee",
        });
        if let Some(reference) = invoice["line_items"]
            .as_array()
            .and_then(|lines| lines.first())
            .and_then(|l| l.get("id"))
        {
            line["reference_line_item_id"] = reference.clone();
        }
        let mut cn = json!({
            "id": cn_id,
            "customer_id": customer_id,
            "reference_invoice_id": invoice["id"],
            "type": kind.note_type,
            "status": kind.status,
            "reason_code": kind.reason_code,
            "create_reason_code": kind.create_reason_code,
            "price_type": invoice["price_type"],
            "currency_code": invoice["currency_code"],
            "date": at,
            "generated_at": at,
            "updated_at": at,
            "resource_version": version,
            "deleted": false,
            "channel": "web",
            "business_entity_id": site,
            "sub_total": amount,
            "total": amount,
            "amount_allocated": 0,
            "amount_refunded": 0,
            "amount_available": amount,
            "fractional_correction": 0,
            "round_off_amount": 0,
            "line_items": [line],
            "line_item_taxes": [],
            "discounts": [],
            "taxes": [],
            "allocations": [],
            "linked_refunds": [],
        });
        for key in ["billing_address", "shipping_address"] {
            if let Some(address) = invoice.get(key) {
                cn[key] = address.clone();
            }
        }
        cn
    }
}

fn push(array: &mut Value, item: Value) {
    if let Some(items) = array.as_array_mut() {
        items.push(item);
    } else {
        *array = Value::Array(vec![item]);
    }
}
