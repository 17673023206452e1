//! A Maxio Advanced Billing (formerly Chargify) API simulator on loopback, for tests and the
//! local demo.
//!
//! It serves the read endpoints a sync uses (`/invoices.json`, `/invoices/{uid}.json`,
//! `/invoices/events.json`, segments, credit notes, customers, products, components) with the
//! wire shape of Maxio's official SDK models: decimal amounts as strings printed like Ruby's
//! BigDecimal, integer ids (invoice ids beyond 2^53), dates `YYYY-MM-DD`, datetimes with the
//! site's UTC offset. The shape is pinned by the fixtures in `fixtures/maxio/`.
//!
//! The site's state changes through billing actions ([`BillingSim::issue_invoice`],
//! [`BillingSim::pay`], [`BillingSim::refund`], [`BillingSim::issue_credit_note`],
//! [`BillingSim::void`]); each appends invoice events carrying the invoice as it was right after
//! the event, the way Maxio does. [`BillingSim::start_with`] generates a deterministic site from
//! a seed. Webhooks are form-encoded and signed like Maxio's.
//!
//! # Request pipeline (API paths)
//! 1. HTTP Basic: the user name must be the API key (401 `HTTP Basic: Access denied.`);
//! 2. the concurrency gate: beyond `concurrency_limit` requests in flight, 429 with a text body;
//! 3. the configured latency, slept while holding the slot;
//! 4. a failure injected with [`BillingSim::fail_next`];
//! 5. routing and the answer: 404 `{"errors":["Not Found"]}` for unknown paths or records, 422
//!    `{"errors":[...]}` for a parameter value Maxio would refuse (a malformed date, say).
//!
//! The `/admin` API is neither authenticated nor gated nor counted.
//!
//! [`chargebee`] holds a second, separate simulator for Chargebee API v2 ([`ChargebeeSim`]), with
//! its own server, records and events.

// The invoice document is one large `json!` literal.
#![recursion_limit = "256"]

mod admin;
pub mod chargebee;
mod clock;
mod dataset;
mod model;
mod money;
mod query;
mod render;
mod rng;
mod server;
mod state;
mod webhook;

use std::{collections::BTreeMap, fmt, net::SocketAddr, sync::Arc, time::Duration};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub use chargebee::{CbInvoice, CbLine, CbPriceType, ChargebeeSim, ChargebeeSimConfig};
use server::Inner;

/// One simulated Maxio site.
#[derive(Clone, PartialEq, Eq)]
pub struct SimConfig {
    pub subdomain: String,
    /// The HTTP Basic user name every API request must carry.
    pub api_key: String,
    /// The site's webhook "Shared Key" that signs webhook bodies.
    pub shared_key: String,
    /// Maxio serves about 4 concurrent requests per site; beyond this many in flight, 429.
    pub concurrency_limit: usize,
    /// Added to every API request while it holds its concurrency slot.
    pub latency: Duration,
    pub site_id: u64,
}

impl Default for SimConfig {
    /// Obviously fake keys, for tests and the demo.
    fn default() -> Self {
        SimConfig {
            subdomain: "acme-demo".into(),
            api_key: "sim-maxio-api-key-not-a-real-key".into(),
            shared_key: "sim-maxio-shared-key-not-a-real-key".into(),
            concurrency_limit: 4,
            latency: Duration::ZERO,
            site_id: 94_213,
        }
    }
}

/// Keys are left out so a config can be logged.
impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("subdomain", &self.subdomain)
            .field("api_key", &"<redacted>")
            .field("shared_key", &"<redacted>")
            .field("concurrency_limit", &self.concurrency_limit)
            .field("latency", &self.latency)
            .field("site_id", &self.site_id)
            .finish()
    }
}

/// What [`BillingSim::start_with`] generates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetSpec {
    pub seed: u64,
    /// The first day invoices are issued on.
    pub start: NaiveDate,
    /// Invoices are issued over this many days from `start`.
    pub days: u32,
    /// Invoice records in all, segments of consolidated invoices included. The first plans walk
    /// through every kind (paid, split payments, inventory, zero-dollar, fully discounted,
    /// consolidated, processing, open, part-paid, refunded, credited, voided), so from about 20
    /// invoices on every kind is present.
    pub invoices: usize,
    /// ISO 4217 codes; customers are spread over them.
    pub currencies: Vec<String>,
}

impl Default for DatasetSpec {
    fn default() -> Self {
        DatasetSpec {
            seed: 1,
            start: NaiveDate::from_ymd_opt(2026, 1, 1).expect("a valid date"),
            days: 30,
            invoices: 200,
            currencies: vec!["USD".into(), "EUR".into()],
        }
    }
}

/// A postal address. Empty strings are sent as empty strings, as Maxio does.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Address {
    pub street: String,
    pub line2: String,
    pub city: String,
    /// State or province code (`NY`, `HH`).
    pub state: String,
    pub zip: String,
    /// ISO 3166 alpha-2 code.
    pub country: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewProduct {
    pub name: String,
    pub handle: String,
    pub accounting_code: Option<String>,
    /// "Physical Goods" marks an inventory product; also "Business Software", "Digital
    /// Services", "Consumer Software", "Other".
    pub item_category: String,
    pub price: Decimal,
    pub interval_months: u32,
    pub description: Option<String>,
    pub trial_days: Option<u32>,
}

impl Default for NewProduct {
    fn default() -> Self {
        NewProduct {
            name: String::new(),
            handle: String::new(),
            accounting_code: None,
            item_category: "Business Software".into(),
            price: Decimal::ZERO,
            interval_months: 1,
            description: None,
            trial_days: None,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentKind {
    MeteredComponent,
    #[default]
    QuantityBasedComponent,
    OnOffComponent,
    PrepaidUsageComponent,
    EventBasedComponent,
}

impl ComponentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentKind::MeteredComponent => "metered_component",
            ComponentKind::QuantityBasedComponent => "quantity_based_component",
            ComponentKind::OnOffComponent => "on_off_component",
            ComponentKind::PrepaidUsageComponent => "prepaid_usage_component",
            ComponentKind::EventBasedComponent => "event_based_component",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewComponent {
    pub name: String,
    pub handle: String,
    pub kind: ComponentKind,
    pub accounting_code: Option<String>,
    pub unit_price: Decimal,
    /// "seat", "call", "plan"...
    pub unit_name: String,
    pub item_category: String,
}

impl Default for NewComponent {
    fn default() -> Self {
        NewComponent {
            name: String::new(),
            handle: String::new(),
            kind: ComponentKind::default(),
            accounting_code: None,
            unit_price: Decimal::ZERO,
            unit_name: "unit".into(),
            item_category: "Business Software".into(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewCustomer {
    pub first_name: String,
    pub last_name: String,
    /// A company customer; `None` for a person.
    pub organization: Option<String>,
    pub email: String,
    pub cc_emails: Option<String>,
    /// The merchant's own id for the customer.
    pub reference: Option<String>,
    pub phone: Option<String>,
    pub vat_number: Option<String>,
    /// `None`: a customer without an address (every address field is then null).
    pub address: Option<Address>,
}

/// One line of a new invoice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NewLine {
    /// The product's recurring charge (`kind` "baseline") for one period.
    Product { product_id: u64, quantity: Decimal },
    /// A component charge at the component's unit price.
    Component {
        component_id: u64,
        quantity: Decimal,
    },
    /// An ad-hoc line (`custom_item` true, no `kind`).
    Custom {
        title: String,
        description: String,
        quantity: Decimal,
        unit_price: Decimal,
    },
    /// A one-time setup fee (`kind` "initial").
    Setup { product_id: u64, amount: Decimal },
    /// A free trial period of the product (`kind` "trial", price 0).
    Trial { product_id: u64, days: u32 },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Coupon {
    /// A percentage of every line.
    Percentage { code: String, percentage: Decimal },
    /// A fixed amount, spread over the lines in proportion to their subtotals.
    FlatAmount { code: String, amount: Decimal },
}

/// A tax applied to every line, after discounts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxRate {
    /// "NY Sales Tax", "VAT (DE 19%)".
    pub title: String,
    pub percentage: Decimal,
    pub country: String,
    /// The state for US sales tax; `None` for a country-wide VAT.
    #[serde(default)]
    pub subdivision: Option<String>,
    /// An EU VAT (`eu_vat` true, `type` "VAT"); otherwise a sales tax.
    #[serde(default)]
    pub eu_vat: bool,
}

impl TaxRate {
    pub fn us_sales(state: &str, percentage: Decimal) -> TaxRate {
        TaxRate {
            title: format!("{state} Sales Tax"),
            percentage,
            country: "US".into(),
            subdivision: Some(state.into()),
            eu_vat: false,
        }
    }

    pub fn vat(country: &str, percentage: Decimal) -> TaxRate {
        TaxRate {
            title: format!("VAT ({country} {}%)", percentage.normalize()),
            percentage,
            country: country.into(),
            subdivision: None,
            eu_vat: true,
        }
    }
}

/// One segment of a consolidated invoice: the charges of one subscription of the group.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewSegment {
    pub lines: Vec<NewLine>,
    /// Defaults to the consolidated invoice's coupon.
    pub coupon: Option<Coupon>,
    /// Defaults to the consolidated invoice's tax.
    pub tax: Option<TaxRate>,
    pub subscription_id: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "level", rename_all = "snake_case")]
pub enum Consolidation {
    /// A plain invoice (`consolidation_level` "none").
    #[default]
    None,
    /// A consolidated invoice (`parent`) with no lines of its own, whose totals are the sums of
    /// its segments (`child` invoices, issued with it).
    Parent { segments: Vec<NewSegment> },
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CollectionMethod {
    #[default]
    Automatic,
    Remittance,
}

impl CollectionMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            CollectionMethod::Automatic => "automatic",
            CollectionMethod::Remittance => "remittance",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewInvoice {
    pub customer_id: u64,
    /// ISO 4217; empty means "USD".
    pub currency: String,
    pub issue_date: NaiveDate,
    /// Days from issue to due.
    pub net_terms: u32,
    pub collection_method: CollectionMethod,
    /// Invoice lines; empty for a consolidated invoice, whose lines live on its segments.
    pub lines: Vec<NewLine>,
    pub coupon: Option<Coupon>,
    pub tax: Option<TaxRate>,
    /// Kept in a "PO Number" subscription custom field, where Maxio merchants keep it.
    pub po_number: Option<String>,
    pub consolidation: Consolidation,
    /// The subscription's product, for invoices with only ad-hoc lines; otherwise the product
    /// of the first product line.
    pub product_id: Option<u64>,
    pub subscription_id: Option<u64>,
    /// `signup`, `renewal`, `adhoc`...; by default `signup` with a setup or trial line, `adhoc`
    /// with only custom lines, `renewal` otherwise.
    pub role: Option<String>,
    pub memo: Option<String>,
    /// Where goods ship; defaults to the customer's address.
    pub shipping_address: Option<Address>,
}

impl NewInvoice {
    pub fn new(customer_id: u64, issue_date: NaiveDate) -> NewInvoice {
        NewInvoice {
            customer_id,
            currency: "USD".into(),
            issue_date,
            ..NewInvoice::default()
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentKind {
    #[default]
    CreditCard,
    /// ACH direct debit.
    BankAccount,
    /// Recorded by the merchant (external).
    Check,
    /// Recorded by the merchant (external).
    Cash,
}

/// A webhook the site can send.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WebhookEvent {
    InvoiceIssued {
        invoice_uid: String,
    },
    PaymentSuccess {
        invoice_uid: String,
        transaction_id: u64,
    },
    RefundSuccess {
        invoice_uid: String,
        refund_id: u64,
    },
    CustomerUpdate {
        customer_id: u64,
    },
    /// Any other event name, with only the site and event id in its payload.
    Other {
        event: String,
    },
}

/// Request counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Requests past authentication and the concurrency gate, by route
    /// (`GET /invoices/{uid}.json`, `GET /invoices/events.json`, ...).
    pub requests_by_endpoint: BTreeMap<String, u64>,
    /// Every API request, 401 and 429 answers included.
    pub total_requests: u64,
    pub unauthorized_401: u64,
    /// Refused by the concurrency gate.
    pub rejected_429: u64,
    /// Answered with a status set by [`BillingSim::fail_next`].
    pub injected_failures: u64,
    pub peak_in_flight: usize,
    pub in_flight: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("{what} {id} does not exist")]
    NotFound { what: &'static str, id: String },
    /// The action is not possible in the record's state (Maxio would answer 422).
    #[error("{0}")]
    Rejected(String),
    #[error("webhook delivery failed: {0}")]
    Webhook(String),
}

/// Handle to a running simulator. Clones are cheap and control the same server.
#[derive(Clone)]
pub struct BillingSim {
    inner: Arc<Inner>,
}

impl fmt::Debug for BillingSim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BillingSim")
            .field("base_url", &self.inner.base_url)
            .finish()
    }
}

impl BillingSim {
    /// An empty site on an ephemeral loopback port.
    pub async fn start(config: SimConfig) -> std::io::Result<BillingSim> {
        Self::start_on(config, None, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// A site with a generated dataset (deterministic for a spec), on an ephemeral loopback
    /// port.
    pub async fn start_with(config: SimConfig, spec: &DatasetSpec) -> std::io::Result<BillingSim> {
        Self::start_on(config, Some(spec), SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Like [`Self::start`] / [`Self::start_with`], on a given address.
    pub async fn start_on(
        config: SimConfig,
        spec: Option<&DatasetSpec>,
        addr: SocketAddr,
    ) -> std::io::Result<BillingSim> {
        let mut site = state::State::new(&config, spec.map(|s| s.seed));
        if let Some(spec) = spec {
            dataset::generate(&mut site, spec);
        }
        let inner = server::start(config, site, addr).await?;
        Ok(BillingSim { inner })
    }

    /// `http://127.0.0.1:<port>/`, with the trailing slash a client joins `invoices.json` to.
    pub fn base_url(&self) -> String {
        format!("{}/", self.inner.base_url)
    }

    pub fn config(&self) -> SimConfig {
        self.inner.runtime().config.clone()
    }

    pub fn add_product(&self, p: NewProduct) -> u64 {
        self.inner.state().add_product(p, None)
    }

    pub fn add_component(&self, c: NewComponent) -> u64 {
        self.inner.state().add_component(c, None)
    }

    pub fn add_customer(&self, c: NewCustomer) -> u64 {
        self.inner.state().add_customer(c, None)
    }

    /// Issues an invoice (and, for a consolidated one, its segments) and returns its uid.
    ///
    /// # Panics
    /// When the spec names an unknown customer, product or component, or has no lines; see
    /// [`Self::try_issue_invoice`].
    pub fn issue_invoice(&self, spec: NewInvoice) -> String {
        match self.try_issue_invoice(spec) {
            Ok(uid) => uid,
            Err(e) => panic!("cannot issue the invoice: {e}"),
        }
    }

    /// Like [`Self::issue_invoice`], reporting a bad spec instead of panicking.
    pub fn try_issue_invoice(&self, spec: NewInvoice) -> Result<String, SimError> {
        self.inner.state().issue(&spec, None)
    }

    /// Records a payment (`apply_payment` event); the invoice is paid when nothing is due. A
    /// payment on a consolidated invoice is spread over its segments, each getting its own
    /// `apply_payment` event. Returns the payment's transaction id.
    pub fn pay(
        &self,
        invoice_uid: &str,
        amount: Decimal,
        method: PaymentKind,
    ) -> Result<u64, SimError> {
        self.inner.state().pay(invoice_uid, amount, method, None)
    }

    /// One payment transaction for several invoices of one customer, each paid the amount
    /// given (Maxio's `POST /invoices/payments.json`). Returns the shared transaction id.
    pub fn pay_many(
        &self,
        parts: &[(&str, Decimal)],
        method: PaymentKind,
    ) -> Result<u64, SimError> {
        let parts: Vec<(String, Decimal)> =
            parts.iter().map(|(u, a)| ((*u).to_owned(), *a)).collect();
        self.inner.state().pay_invoices(&parts, method, None, true)
    }

    /// A payment on a consolidated invoice that is listed on it alone: its segments show no
    /// payment entries, as some sites show group payments.
    pub fn pay_parent_only(
        &self,
        parent_uid: &str,
        amount: Decimal,
        method: PaymentKind,
    ) -> Result<u64, SimError> {
        self.inner
            .state()
            .pay_invoices(&[(parent_uid.to_owned(), amount)], method, None, false)
    }

    /// Refunds part or all of a payment (`refund_invoice` event, with the credit note the refund
    /// creates). Returns the refund's transaction id.
    pub fn refund(
        &self,
        invoice_uid: &str,
        payment_id: u64,
        amount: Decimal,
    ) -> Result<u64, SimError> {
        self.inner
            .state()
            .refund(invoice_uid, payment_id, amount, None)
    }

    /// Creates a credit note for `amount` (tax included) and applies it to the invoice
    /// (`create_credit_note`, then `apply_credit_note`). Returns the credit note's uid.
    pub fn issue_credit_note(
        &self,
        invoice_uid: &str,
        amount: Decimal,
        memo: &str,
    ) -> Result<String, SimError> {
        self.inner
            .state()
            .credit_note(invoice_uid, amount, memo, None)
    }

    /// Raises a credit note for `amount` (tax included) on an invoice and leaves it
    /// unapplied (`create_credit_note`). Returns the credit note's uid.
    pub fn raise_credit_note(
        &self,
        invoice_uid: &str,
        amount: Decimal,
        memo: &str,
    ) -> Result<String, SimError> {
        self.inner
            .state()
            .raise_credit_note(invoice_uid, amount, memo, None)
    }

    /// Applies part of a credit note's remaining amount to an open invoice of its customer,
    /// the one it was raised on or another (`apply_credit_note` on that invoice).
    pub fn apply_credit_note(
        &self,
        credit_note_uid: &str,
        invoice_uid: &str,
        amount: Decimal,
    ) -> Result<(), SimError> {
        self.inner
            .state()
            .apply_credit_note(credit_note_uid, invoice_uid, amount, None)
    }

    /// Voids an open invoice without payments or credits (`void_invoice` event). Like Maxio,
    /// consolidated invoices and their segments cannot be voided.
    pub fn void(&self, invoice_uid: &str) -> Result<(), SimError> {
        self.inner
            .state()
            .void(invoice_uid, "Voided by the merchant", None)
    }

    /// Exactly what `GET /invoices/{uid}.json` serves.
    pub fn invoice_json(&self, uid: &str) -> Option<serde_json::Value> {
        let (site, inv) = {
            let st = self.inner.state();
            (st.site.clone(), st.invoice(uid)?.current.clone())
        };
        Some(render::invoice(&site, &inv, render::Detail::FULL))
    }

    /// Every invoice uid (segments included), in issue order.
    pub fn invoice_uids(&self) -> Vec<String> {
        self.inner.state().invoice_uids()
    }

    /// Every credit note uid, in creation order.
    pub fn credit_note_uids(&self) -> Vec<String> {
        self.inner.state().credit_note_uids()
    }

    /// Every customer id, in creation order.
    pub fn customer_ids(&self) -> Vec<u64> {
        self.inner.state().customers.iter().map(|c| c.id).collect()
    }

    pub fn event_count(&self) -> usize {
        self.inner.state().events.len()
    }

    pub fn stats(&self) -> Stats {
        self.inner.runtime().stats.clone()
    }

    pub fn reset_stats(&self) {
        let mut rt = self.inner.runtime();
        let in_flight = rt.stats.in_flight;
        rt.stats = Stats {
            in_flight,
            ..Stats::default()
        };
    }

    pub fn set_latency(&self, d: Duration) {
        self.inner.runtime().config.latency = d;
    }

    pub fn set_concurrency_limit(&self, limit: usize) {
        self.inner.runtime().config.concurrency_limit = limit;
    }

    /// The next `n` API calls (past authentication and the gate) answer `status`, with the body
    /// Maxio sends for it (a text body for 429, `{"errors":[...]}` otherwise).
    pub fn fail_next(&self, n: u32, status: u16) {
        self.inner.runtime().fail_next = (n > 0).then_some((n, status));
    }

    /// Builds, signs and POSTs a webhook; returns the receiver's status. Re-sending the same
    /// event re-sends the same bytes under the same webhook id.
    pub async fn send_webhook(
        &self,
        url: &str,
        event: WebhookEvent,
    ) -> Result<reqwest::StatusCode, SimError> {
        let (id, body, signature) = self.try_webhook_body(&event)?;
        webhook::send(&self.inner.http, url, id, body, &signature).await
    }

    /// The webhook id, body and signature [`Self::send_webhook`] would send.
    ///
    /// # Panics
    /// When the event names an unknown invoice, payment, refund or customer.
    pub fn webhook_body(&self, event: &WebhookEvent) -> (u64, Vec<u8>, String) {
        match self.try_webhook_body(event) {
            Ok(v) => v,
            Err(e) => panic!("cannot build the webhook: {e}"),
        }
    }

    /// Like [`Self::webhook_body`], reporting unknown records instead of panicking.
    pub fn try_webhook_body(
        &self,
        event: &WebhookEvent,
    ) -> Result<(u64, Vec<u8>, String), SimError> {
        let key = self.inner.runtime().config.shared_key.clone();
        let (id, body) = webhook::build(&mut self.inner.state(), event)?;
        let signature = webhook::sign(key.as_bytes(), &body);
        Ok((id, body, signature))
    }

    /// Stops accepting connections, lets in-flight requests finish (up to five seconds) and
    /// waits for the server. Affects every clone of this handle.
    pub async fn shutdown(self) {
        self.inner.shutdown().await;
    }
}
