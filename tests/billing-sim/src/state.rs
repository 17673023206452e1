//! The site's records and the billing actions that change them. Every action appends its
//! invoice events with the invoice version it produced, in ascending id and time order.

use std::{collections::HashMap, sync::Arc};

use chrono::{Duration, NaiveDate};
use rust_decimal::Decimal;

use crate::{
    clock, model::*, money::cents, rng::mix, Consolidation, Coupon, NewComponent, NewCustomer,
    NewInvoice, NewLine, NewProduct, NewSegment, PaymentKind, SimConfig, SimError, TaxRate,
};

/// Id counters. Starting points look like real Maxio ids; invoice ids exceed 2^53 like theirs.
#[derive(Debug)]
struct Ids {
    invoice: u64,
    number: u64,
    uid: u64,
    transaction: u64,
    event: u64,
    customer: u64,
    product: u64,
    component: u64,
    price_point: u64,
    subscription: u64,
    group: u64,
    credit_note: u64,
    metadatum: u64,
    source: u64,
    webhook: u64,
    site_event: u64,
}

impl Default for Ids {
    fn default() -> Self {
        Ids {
            invoice: 614_942_008_934_401_000,
            number: 1000,
            uid: 0,
            transaction: 880_214_000,
            event: 4_100_000,
            customer: 41_870_000,
            product: 6_210_000,
            component: 2_293_300,
            price_point: 2_810_400,
            subscription: 73_011_000,
            group: 228_800,
            credit_note: 0,
            metadatum: 771_200,
            source: 918_800,
            webhook: 5_188_700_000,
            site_event: 2_290_011_000,
        }
    }
}

pub(crate) struct InvoiceEntry {
    pub current: Arc<InvoiceState>,
    /// The version issued, before any later change (for `invoice_issued` webhooks).
    pub issued: Arc<InvoiceState>,
    /// Segment indexes, on a consolidated invoice.
    pub children: Vec<usize>,
}

pub(crate) struct State {
    pub site: Arc<SiteInfo>,
    pub products: Vec<Arc<ProductRec>>,
    pub components: Vec<Arc<ComponentRec>>,
    pub customers: Vec<Arc<CustomerRec>>,
    pub invoices: Vec<InvoiceEntry>,
    invoice_index: HashMap<String, usize>,
    pub credit_notes: Vec<Arc<CreditNoteState>>,
    cn_index: HashMap<String, usize>,
    pub events: Vec<Event>,
    /// Indexes of the events other than `change_invoice_status`, which are only listed on
    /// request: the common listing pages through this without scanning.
    pub plain_events: Vec<usize>,
    /// Event indexes by invoice or credit note uid.
    pub events_by_doc: HashMap<String, Vec<usize>>,
    ids: Ids,
    uid_key: u64,
    clock: Option<Time>,
    tax_sources: HashMap<String, u64>,
    coupon_sources: HashMap<String, u64>,
    /// Webhook id and site event id per webhook, so a re-send keeps its id.
    pub webhooks: HashMap<crate::WebhookEvent, (u64, u64)>,
}

/// Before anything happens on the site, records are dated from its creation.
fn site_created() -> Time {
    clock::at(
        NaiveDate::from_ymd_opt(2025, 5, 2).expect("a valid date"),
        11,
        0,
        0,
    )
}

fn not_found(what: &'static str, id: impl ToString) -> SimError {
    SimError::NotFound {
        what,
        id: id.to_string(),
    }
}

fn reject(msg: impl Into<String>) -> SimError {
    SimError::Rejected(msg.into())
}

const UID_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

impl State {
    pub fn new(config: &SimConfig, seed: Option<u64>) -> State {
        State {
            site: Arc::new(SiteInfo {
                site_id: config.site_id,
                subdomain: config.subdomain.clone(),
            }),
            products: Vec::new(),
            components: Vec::new(),
            customers: Vec::new(),
            invoices: Vec::new(),
            invoice_index: HashMap::new(),
            credit_notes: Vec::new(),
            cn_index: HashMap::new(),
            events: Vec::new(),
            plain_events: Vec::new(),
            events_by_doc: HashMap::new(),
            ids: Ids::default(),
            uid_key: mix(config.site_id ^ seed.unwrap_or(0).rotate_left(17)),
            clock: None,
            tax_sources: HashMap::new(),
            coupon_sources: HashMap::new(),
            webhooks: HashMap::new(),
        }
    }

    // ---- ids and time ----------------------------------------------------------------------

    /// A unique uid like `inv_9qzk3w7m2x4bd`: a scrambled counter (the scrambling is a
    /// bijection, so uids never collide) in 13 base-32 characters.
    pub fn uid(&mut self, prefix: &str) -> String {
        self.ids.uid += 1;
        let mut v = mix(self.ids.uid ^ self.uid_key);
        let mut out = String::with_capacity(prefix.len() + 14);
        out.push_str(prefix);
        out.push('_');
        for _ in 0..13 {
            out.push(UID_ALPHABET[(v & 31) as usize] as char);
            v >>= 5;
        }
        out
    }

    pub fn next_transaction(&mut self) -> u64 {
        self.ids.transaction += 1;
        self.ids.transaction
    }

    pub fn next_subscription(&mut self) -> u64 {
        self.ids.subscription += 1 + self.ids.subscription % 3;
        self.ids.subscription
    }

    pub fn next_webhook_ids(&mut self) -> (u64, u64) {
        self.ids.webhook += 1 + self.ids.webhook % 5;
        self.ids.site_event += 1 + self.ids.site_event % 7;
        (self.ids.webhook, self.ids.site_event)
    }

    /// The time of the next change: never before the previous one, so event ids and timestamps
    /// ascend together. Without a requested time the clock moves five minutes on.
    pub fn tick(&mut self, at: Option<Time>) -> Time {
        let t = match (self.clock, at) {
            (None, None) => site_created(),
            (None, Some(a)) => a,
            (Some(c), None) => clock::normalize(c + Duration::minutes(5)),
            (Some(c), Some(a)) => {
                let floor = clock::normalize(c + Duration::seconds(1));
                if a > floor {
                    a
                } else {
                    floor
                }
            }
        };
        self.clock = Some(t);
        t
    }

    /// When a record without its own time is created: now on the site's clock, without moving it.
    fn now_or_created(&self, at: Option<Time>) -> Time {
        at.or(self.clock).unwrap_or_else(site_created)
    }

    // ---- lookups ---------------------------------------------------------------------------

    pub fn invoice(&self, uid: &str) -> Option<&InvoiceEntry> {
        self.invoice_index.get(uid).map(|&i| &self.invoices[i])
    }

    pub fn credit_note_by_uid(&self, uid: &str) -> Option<&Arc<CreditNoteState>> {
        self.cn_index.get(uid).map(|&i| &self.credit_notes[i])
    }

    pub fn customer(&self, id: u64) -> Option<&Arc<CustomerRec>> {
        self.customers
            .binary_search_by_key(&id, |c| c.id)
            .ok()
            .map(|i| &self.customers[i])
    }

    pub fn product(&self, id: u64) -> Option<&Arc<ProductRec>> {
        self.products
            .binary_search_by_key(&id, |p| p.id)
            .ok()
            .map(|i| &self.products[i])
    }

    pub fn component(&self, id: u64) -> Option<&Arc<ComponentRec>> {
        self.components
            .binary_search_by_key(&id, |c| c.id)
            .ok()
            .map(|i| &self.components[i])
    }

    pub fn invoice_uids(&self) -> Vec<String> {
        self.invoices
            .iter()
            .map(|e| e.current.fixed.uid.clone())
            .collect()
    }

    pub fn credit_note_uids(&self) -> Vec<String> {
        self.credit_notes
            .iter()
            .map(|c| c.fixed.uid.clone())
            .collect()
    }

    // ---- catalog and customers -------------------------------------------------------------

    pub fn add_product(&mut self, p: NewProduct, at: Option<Time>) -> u64 {
        self.ids.product += 7 + self.ids.product % 11;
        self.ids.price_point += 13 + self.ids.price_point % 17;
        let handle = if p.handle.is_empty() {
            slug(&p.name)
        } else {
            p.handle
        };
        let rec = ProductRec {
            id: self.ids.product,
            description: p
                .description
                .unwrap_or_else(|| format!("{}, billed monthly", p.name)),
            name: p.name,
            price_point_handle: format!(
                "{handle}-{}",
                if p.interval_months == 12 {
                    "annual"
                } else {
                    "monthly"
                }
            ),
            handle,
            accounting_code: p.accounting_code,
            item_category: p.item_category,
            price: p.price,
            interval_months: p.interval_months.max(1),
            trial_days: p.trial_days,
            version: 1,
            price_point_id: self.ids.price_point,
            created_at: self.now_or_created(at),
        };
        let id = rec.id;
        self.products.push(Arc::new(rec));
        id
    }

    pub fn add_component(&mut self, c: NewComponent, at: Option<Time>) -> u64 {
        self.ids.component += 11 + self.ids.component % 13;
        self.ids.price_point += 13 + self.ids.price_point % 17;
        let rec = ComponentRec {
            id: self.ids.component,
            handle: if c.handle.is_empty() {
                slug(&c.name)
            } else {
                c.handle
            },
            name: c.name,
            kind: c.kind,
            unit_name: c.unit_name,
            unit_price: c.unit_price,
            accounting_code: c.accounting_code,
            item_category: c.item_category,
            price_point_id: self.ids.price_point,
            created_at: self.now_or_created(at),
        };
        let id = rec.id;
        self.components.push(Arc::new(rec));
        id
    }

    pub fn add_customer(&mut self, c: NewCustomer, at: Option<Time>) -> u64 {
        self.ids.customer += 17 + self.ids.customer % 23;
        let rec = CustomerRec {
            id: self.ids.customer,
            first_name: c.first_name,
            last_name: c.last_name,
            organization: c.organization,
            email: c.email,
            cc_emails: c.cc_emails,
            reference: c.reference,
            phone: c.phone,
            vat_number: c.vat_number,
            address: c.address,
            created_at: self.now_or_created(at),
        };
        let id = rec.id;
        self.customers.push(Arc::new(rec));
        id
    }

    fn tax_source(&mut self, title: &str) -> u64 {
        let next = 3301 + 17 * self.tax_sources.len() as u64;
        *self.tax_sources.entry(title.to_owned()).or_insert(next)
    }

    fn coupon_source(&mut self, code: &str) -> u64 {
        if let Some(&id) = self.coupon_sources.get(code) {
            return id;
        }
        self.ids.source += 18;
        self.coupon_sources.insert(code.to_owned(), self.ids.source);
        self.ids.source
    }

    // ---- events ----------------------------------------------------------------------------

    fn push_event(&mut self, at: Time, invoice: Arc<InvoiceState>, data: EventData) {
        self.ids.event += 1 + (self.ids.event % 3);
        let index = self.events.len();
        let mut docs = vec![invoice.fixed.uid.clone()];
        match &data {
            EventData::RefundInvoice { credit_note, .. }
            | EventData::CreateCreditNote { credit_note } => {
                docs.push(credit_note.fixed.uid.clone())
            }
            EventData::ApplyCreditNote { credit } => docs.push(credit.credit_note_uid.clone()),
            _ => {}
        }
        for d in docs {
            self.events_by_doc.entry(d).or_default().push(index);
        }
        if !matches!(data, EventData::ChangeInvoiceStatus { .. }) {
            self.plain_events.push(index);
        }
        self.events.push(Event {
            id: self.ids.event,
            timestamp: at,
            invoice,
            data,
        });
    }

    fn set_invoice(&mut self, index: usize, state: InvoiceState) -> Arc<InvoiceState> {
        let state = Arc::new(state);
        self.invoices[index].current = state.clone();
        state
    }

    fn index_of(&self, uid: &str) -> Result<usize, SimError> {
        self.invoice_index
            .get(uid)
            .copied()
            .ok_or_else(|| not_found("invoice", uid))
    }

    // ---- issuing ---------------------------------------------------------------------------

    /// Issues an invoice at `at` (default: the issue date at 06:00, or later if the site's clock
    /// is already past it).
    pub fn issue(&mut self, spec: &NewInvoice, at: Option<Time>) -> Result<String, SimError> {
        let customer = self
            .customer(spec.customer_id)
            .cloned()
            .ok_or_else(|| not_found("customer", spec.customer_id))?;
        let segments: Vec<NewSegment> = match &spec.consolidation {
            Consolidation::None => {
                if spec.lines.is_empty() {
                    return Err(reject("an invoice needs at least one line"));
                }
                Vec::new()
            }
            Consolidation::Parent { segments } => {
                if !spec.lines.is_empty() {
                    return Err(reject(
                        "a consolidated invoice has no lines of its own: put them on segments",
                    ));
                }
                if segments.is_empty() || segments.iter().any(|s| s.lines.is_empty()) {
                    return Err(reject("a consolidated invoice needs segments with lines"));
                }
                segments.clone()
            }
        };
        // Validate every reference before allocating anything.
        let all_lines = spec
            .lines
            .iter()
            .chain(segments.iter().flat_map(|s| s.lines.iter()));
        for l in all_lines {
            self.check_line(l)?;
        }
        let main_product = self.main_product(spec.product_id, &spec.lines)?;
        for s in &segments {
            self.main_product(spec.product_id, &s.lines)?;
        }

        let currency = if spec.currency.trim().is_empty() {
            "USD".to_owned()
        } else {
            spec.currency.trim().to_ascii_uppercase()
        };
        let default_at = clock::at(spec.issue_date, 6, 0, 0);
        let common = Common {
            customer,
            currency,
            issue_date: spec.issue_date,
            net_terms: spec.net_terms,
            collection_method: spec.collection_method.as_str(),
            memo: spec
                .memo
                .clone()
                .unwrap_or_else(|| "Thank you for your business.".into()),
            shipping: spec.shipping_address.clone(),
            po_number: spec.po_number.clone(),
        };

        if segments.is_empty() {
            let t = self.tick(Some(at.unwrap_or(default_at)));
            let sub = spec
                .subscription_id
                .unwrap_or_else(|| self.next_subscription());
            let role = role_for(spec.role.as_deref(), &spec.lines);
            let (id, uid, number) = self.invoice_ids();
            let fixed = self.build_fixed(
                &common,
                Ident { id, uid, number },
                t,
                sub,
                role,
                main_product.as_ref(),
                &spec.lines,
                spec.coupon.as_ref(),
                spec.tax.as_ref(),
                Level::None,
                None,
                None,
            );
            let uid = fixed.uid.clone();
            self.issue_fixed(fixed, t);
            return Ok(uid);
        }

        // Consolidated: the parent's ids come first (its number precedes the segments'), the
        // segments are issued first, then the parent that sums them.
        let (pid, puid, pnumber) = self.invoice_ids();
        self.ids.group += 3 + self.ids.group % 5;
        let group = self.ids.group;
        let parent_ref = ParentRef {
            id: pid,
            uid: puid.clone(),
            number: pnumber,
        };
        let mut child_indexes = Vec::new();
        let mut totals = Totals::default();
        let mut primary_sub = None;
        let first_at = at.unwrap_or(default_at);
        for (i, seg) in segments.iter().enumerate() {
            let t = self.tick(Some(first_at));
            let sub = seg
                .subscription_id
                .or(if i == 0 { spec.subscription_id } else { None })
                .unwrap_or_else(|| self.next_subscription());
            primary_sub.get_or_insert(sub);
            let role = role_for(spec.role.as_deref(), &seg.lines);
            let product = self.main_product(spec.product_id, &seg.lines)?;
            let (id, uid, number) = self.invoice_ids();
            let fixed = self.build_fixed(
                &common,
                Ident { id, uid, number },
                t,
                sub,
                role,
                product.as_ref(),
                &seg.lines,
                seg.coupon.as_ref().or(spec.coupon.as_ref()),
                seg.tax.as_ref().or(spec.tax.as_ref()),
                Level::Child,
                Some(parent_ref.clone()),
                Some(group),
            );
            totals.subtotal += fixed.totals.subtotal;
            totals.discount += fixed.totals.discount;
            totals.tax += fixed.totals.tax;
            totals.taxable += fixed.totals.taxable;
            child_indexes.push(self.issue_fixed(fixed, t));
        }
        let t = self.tick(Some(first_at));
        let first_child = self.invoices[child_indexes[0]].current.fixed.clone();
        let parent = InvoiceFixed {
            id: pid,
            uid: puid.clone(),
            number: pnumber,
            customer: common.customer.clone(),
            subscription_id: primary_sub.expect("at least one segment"),
            created_at: t,
            issue_date: common.issue_date,
            net_terms: common.net_terms,
            role: first_child.role.clone(),
            collection_method: common.collection_method,
            currency: common.currency.clone(),
            level: Level::Parent,
            parent: None,
            group_id: Some(group),
            product_id: first_child.product_id,
            product_name: first_child.product_name.clone(),
            shipping: common.shipping.clone(),
            lines: Vec::new(),
            discount: None,
            tax: None,
            totals,
            custom_fields: Vec::new(),
            memo: common.memo.clone(),
        };
        let parent_index = self.issue_fixed(parent, t);
        self.invoices[parent_index].children = child_indexes;
        Ok(puid)
    }

    fn invoice_ids(&mut self) -> (u64, String, u64) {
        self.ids.invoice += 57 + self.ids.invoice % 7;
        self.ids.number += 1;
        let uid = self.uid("inv");
        (self.ids.invoice, uid, self.ids.number)
    }

    fn check_line(&self, l: &NewLine) -> Result<(), SimError> {
        let bad_amount = |d: Decimal| d.is_sign_negative();
        match l {
            NewLine::Product {
                product_id,
                quantity,
            } => {
                self.product(*product_id)
                    .ok_or_else(|| not_found("product", product_id))?;
                if bad_amount(*quantity) {
                    return Err(reject("a quantity cannot be negative"));
                }
            }
            NewLine::Component {
                component_id,
                quantity,
            } => {
                self.component(*component_id)
                    .ok_or_else(|| not_found("component", component_id))?;
                if bad_amount(*quantity) {
                    return Err(reject("a quantity cannot be negative"));
                }
            }
            NewLine::Custom {
                quantity,
                unit_price,
                ..
            } => {
                if bad_amount(*quantity) || bad_amount(*unit_price) {
                    return Err(reject("ad-hoc lines take positive amounts"));
                }
            }
            NewLine::Setup { product_id, amount } => {
                self.product(*product_id)
                    .ok_or_else(|| not_found("product", product_id))?;
                if bad_amount(*amount) {
                    return Err(reject("a setup fee cannot be negative"));
                }
            }
            NewLine::Trial { product_id, .. } => {
                self.product(*product_id)
                    .ok_or_else(|| not_found("product", product_id))?;
            }
        }
        Ok(())
    }

    /// The subscription's product: given, or that of the first product-bound line.
    fn main_product(
        &self,
        given: Option<u64>,
        lines: &[NewLine],
    ) -> Result<Option<Arc<ProductRec>>, SimError> {
        if let Some(id) = given {
            return self
                .product(id)
                .cloned()
                .map(Some)
                .ok_or_else(|| not_found("product", id));
        }
        let from_lines = lines.iter().find_map(|l| match l {
            NewLine::Product { product_id, .. }
            | NewLine::Setup { product_id, .. }
            | NewLine::Trial { product_id, .. } => Some(*product_id),
            _ => None,
        });
        match from_lines {
            Some(id) => Ok(self.product(id).cloned()),
            None if self.products.is_empty() => Err(reject(
                "an invoice needs a product: add one, or name it in product_id",
            )),
            // Component and ad-hoc lines belong to a subscription, hence to a product.
            None => Ok(self.products.first().cloned()),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn build_fixed(
        &mut self,
        common: &Common,
        ident: Ident,
        created_at: Time,
        subscription_id: u64,
        role: String,
        product: Option<&Arc<ProductRec>>,
        lines: &[NewLine],
        coupon: Option<&Coupon>,
        tax: Option<&TaxRate>,
        level: Level,
        parent: Option<ParentRef>,
        group_id: Option<u64>,
    ) -> InvoiceFixed {
        let product = product
            .expect("validated: every invoice has a product")
            .clone();
        let mut recs: Vec<LineRec> = lines
            .iter()
            .map(|l| self.line_rec(l, &product, common.issue_date))
            .collect();
        let discount = coupon.map(|c| {
            let (code, kind, title) = match c {
                Coupon::Percentage { code, percentage } => (
                    code.clone(),
                    DiscountKind::Percentage(*percentage),
                    format!("{code} ({}%)", percentage.normalize()),
                ),
                Coupon::FlatAmount { code, amount } => (
                    code.clone(),
                    DiscountKind::Flat(*amount),
                    format!("{code} ({} off)", crate::money::fmt(*amount)),
                ),
            };
            let source_id = self.coupon_source(&code);
            DiscountRec {
                uid: self.uid("dli"),
                title,
                code,
                kind,
                source_id,
                transaction_id: self.next_transaction(),
            }
        });
        let tax = tax.map(|t| TaxRec {
            uid: self.uid("tli"),
            source_id: self.tax_source(&t.title),
            rate: t.clone(),
            transaction_id: Some(self.next_transaction()),
        });
        let totals = price(
            &mut recs,
            discount.as_ref().map(|d| &d.kind),
            tax.as_ref().map(|t| &t.rate),
        );
        let mut custom_fields = Vec::new();
        if let Some(po) = &common.po_number {
            self.ids.metadatum += 44;
            custom_fields.push(CustomField {
                owner_type: "Subscription",
                owner_id: subscription_id,
                name: "PO Number".into(),
                value: po.clone(),
                metadatum_id: self.ids.metadatum,
            });
        }
        InvoiceFixed {
            id: ident.id,
            uid: ident.uid,
            number: ident.number,
            customer: common.customer.clone(),
            subscription_id,
            created_at,
            issue_date: common.issue_date,
            net_terms: common.net_terms,
            role,
            collection_method: common.collection_method,
            currency: common.currency.clone(),
            level,
            parent,
            group_id,
            product_id: product.id,
            product_name: product.name.clone(),
            shipping: common.shipping.clone(),
            lines: recs,
            discount,
            tax,
            totals,
            custom_fields,
            memo: common.memo.clone(),
        }
    }

    fn line_rec(&mut self, l: &NewLine, main: &Arc<ProductRec>, issue: NaiveDate) -> LineRec {
        let period = |months: u32| (issue, clock::add_months(issue, months));
        let describe = |(s, e): (NaiveDate, NaiveDate)| {
            format!("{} - {}", clock::us_day(&s), clock::us_day(&e))
        };
        let uid = self.uid("li");
        let transaction_id = self.next_transaction();
        let base = |title: String,
                    description: String,
                    quantity: Decimal,
                    unit_price: Decimal,
                    (start, end): (NaiveDate, NaiveDate),
                    product: &ProductRec| LineRec {
            uid: uid.clone(),
            title,
            description,
            quantity,
            unit_price,
            // Maxio charges whole cents per line.
            subtotal: cents(quantity * unit_price),
            discount: Decimal::ZERO,
            tax: Decimal::ZERO,
            period_start: start,
            period_end: end,
            transaction_id,
            product_id: product.id,
            product_version: product.version,
            product_price_point_id: Some(product.price_point_id),
            component: None,
            custom: false,
            kind: Some("baseline"),
        };
        match l {
            NewLine::Product {
                product_id,
                quantity,
            } => {
                let p = self.product(*product_id).expect("validated").clone();
                let span = period(p.interval_months);
                base(p.name.clone(), describe(span), *quantity, p.price, span, &p)
            }
            NewLine::Component {
                component_id,
                quantity,
            } => {
                let c = self.component(*component_id).expect("validated").clone();
                let span = period(1);
                let units = if *quantity == Decimal::ONE {
                    c.unit_name.clone()
                } else {
                    format!("{}s", c.unit_name)
                };
                let desc = format!(
                    "{}: {} {units}\n{}",
                    c.name,
                    crate::money::quantity_text(*quantity),
                    describe(span)
                );
                let mut rec = base(c.name.clone(), desc, *quantity, c.unit_price, span, main);
                rec.kind = Some(c.kind.as_str());
                rec.component = Some(LineComponent {
                    id: c.id,
                    price_point_id: c.price_point_id,
                    unit_name: c.unit_name.clone(),
                });
                rec
            }
            NewLine::Custom {
                title,
                description,
                quantity,
                unit_price,
            } => {
                let mut rec = base(
                    title.clone(),
                    description.clone(),
                    *quantity,
                    *unit_price,
                    (issue, issue),
                    main,
                );
                rec.custom = true;
                rec.kind = None;
                rec.product_price_point_id = None;
                rec
            }
            NewLine::Setup { product_id, amount } => {
                let p = self.product(*product_id).expect("validated").clone();
                let mut rec = base(
                    format!("{} setup fee", p.name),
                    "One-time setup fee".into(),
                    Decimal::ONE,
                    *amount,
                    (issue, issue),
                    &p,
                );
                rec.kind = Some("initial");
                rec
            }
            NewLine::Trial { product_id, days } => {
                let p = self.product(*product_id).expect("validated").clone();
                let span = (issue, issue + Duration::days(i64::from(*days)));
                let mut rec = base(
                    p.name.clone(),
                    format!("Trial: {}", describe(span)),
                    Decimal::ONE,
                    Decimal::ZERO,
                    span,
                    &p,
                );
                rec.kind = Some("trial");
                rec
            }
        }
    }

    /// Records an issued invoice: zero-total invoices are paid on issue, as Maxio does.
    fn issue_fixed(&mut self, fixed: InvoiceFixed, t: Time) -> usize {
        let zero = fixed.totals.total().is_zero();
        let state = Arc::new(InvoiceState {
            status: if zero { Status::Paid } else { Status::Open },
            updated_at: t,
            paid_date: zero.then(|| t.date_naive()),
            payments: Vec::new(),
            credits: Vec::new(),
            refunds: Vec::new(),
            fixed: Arc::new(fixed),
        });
        let index = self.invoices.len();
        self.invoice_index.insert(state.fixed.uid.clone(), index);
        self.invoices.push(InvoiceEntry {
            current: state.clone(),
            issued: state.clone(),
            children: Vec::new(),
        });
        let to_status = state.status;
        self.push_event(t, state, EventData::IssueInvoice { to_status });
        index
    }

    // ---- payments --------------------------------------------------------------------------

    pub fn pay(
        &mut self,
        uid: &str,
        amount: Decimal,
        kind: PaymentKind,
        at: Option<Time>,
    ) -> Result<u64, SimError> {
        self.pay_invoices(&[(uid.to_owned(), amount)], kind, at, true)
    }

    /// One payment transaction spread over several invoices of one customer (Maxio's Record
    /// Payment for Multiple Invoices): every invoice gets its own payment entry with the
    /// shared transaction id, the whole amount as `original_amount` and its part as
    /// `applied_amount`.
    pub fn pay_invoices(
        &mut self,
        parts: &[(String, Decimal)],
        kind: PaymentKind,
        at: Option<Time>,
        to_segments: bool,
    ) -> Result<u64, SimError> {
        if parts.is_empty() {
            return Err(reject("a payment names at least one invoice"));
        }
        let mut indexes = Vec::with_capacity(parts.len());
        for (uid, amount) in parts {
            let index = self.index_of(uid)?;
            let inv = &self.invoices[index].current;
            if inv.fixed.level == Level::Child {
                return Err(reject(format!(
                    "invoice {uid} is a segment of {}: pay the consolidated invoice",
                    inv.fixed
                        .parent
                        .as_ref()
                        .map(|p| p.uid.as_str())
                        .unwrap_or("?")
                )));
            }
            if !matches!(inv.status, Status::Open | Status::Processing) {
                return Err(reject(format!(
                    "invoice {uid} is {} and takes no payment",
                    inv.status.as_str()
                )));
            }
            if *amount <= Decimal::ZERO || *amount != cents(*amount) {
                return Err(reject("a payment is a positive amount in whole cents"));
            }
            if *amount > inv.due() {
                return Err(reject(format!(
                    "the payment {amount} exceeds the amount due {}",
                    crate::money::fmt(inv.due())
                )));
            }
            if indexes.contains(&index) {
                return Err(reject(format!("invoice {uid} is named twice")));
            }
            if let Some(&first) = indexes.first() {
                let a: &InvoiceState = &self.invoices[first].current;
                if a.fixed.customer.id != inv.fixed.customer.id
                    || a.fixed.currency != inv.fixed.currency
                {
                    return Err(reject(
                        "one payment pays invoices of one customer in one currency",
                    ));
                }
            }
            indexes.push(index);
        }
        let total: Decimal = parts.iter().map(|(_, a)| *a).sum();
        let inv = self.invoices[indexes[0]].current.clone();
        let t = self.tick(at);
        let transaction_id = self.next_transaction();
        let customer = inv.fixed.customer.clone();
        let card = card_for(customer.id);
        let (gateway_used, gateway_transaction_id, memo) = match kind {
            PaymentKind::CreditCard => (
                Some("stripe_connect"),
                Some(format!("pi_3{}", gateway_suffix(transaction_id))),
                format!(
                    "{} - {}: {}",
                    customer.full_name(),
                    inv.fixed.product_name,
                    payment_word(&inv.fixed.role)
                ),
            ),
            PaymentKind::BankAccount => (
                Some("stripe_connect"),
                Some(format!("py_3{}", gateway_suffix(transaction_id))),
                format!(
                    "{} - {}: ACH payment",
                    customer.full_name(),
                    inv.fixed.product_name
                ),
            ),
            PaymentKind::Check => (
                None,
                None,
                format!("Check #{}", 1000 + transaction_id % 9000),
            ),
            PaymentKind::Cash => (None, None, "Cash received at the front desk".into()),
        };
        let payment = |uid: String, applied: Decimal, parent_number: Option<u64>| PaymentRec {
            uid,
            transaction_id,
            time: t,
            original: total,
            applied,
            kind,
            memo: memo.clone(),
            gateway_used,
            gateway_transaction_id: gateway_transaction_id.clone(),
            card,
            parent_invoice_number: parent_number,
        };

        for (&index, (_, amount)) in indexes.iter().zip(parts) {
            let inv = self.invoices[index].current.clone();
            // A consolidated invoice's payment settles its segments first, oldest first (unless
            // the site shows it on the consolidated invoice alone).
            let children = if to_segments {
                self.invoices[index].children.clone()
            } else {
                Vec::new()
            };
            let mut left = *amount;
            for ci in children {
                let child = self.invoices[ci].current.clone();
                let share = left.min(child.due());
                if share <= Decimal::ZERO {
                    continue;
                }
                left -= share;
                let uid = self.uid("pmt");
                let p = payment(uid, share, Some(inv.fixed.number));
                self.apply_payment(ci, child, p, t);
            }
            let uid = self.uid("pmt");
            let p = payment(uid, *amount, None);
            self.apply_payment(index, inv, p, t);
        }
        Ok(transaction_id)
    }

    fn apply_payment(&mut self, index: usize, inv: Arc<InvoiceState>, p: PaymentRec, t: Time) {
        let mut next = (*inv).clone();
        next.payments.push(p.clone());
        next.updated_at = t;
        if next.due().is_zero() {
            next.status = Status::Paid;
            next.paid_date = Some(t.date_naive());
        }
        let state = self.set_invoice(index, next);
        self.push_event(t, state, EventData::ApplyPayment { payment: p });
    }

    /// A declined card charge: an event only, the invoice stays as it was.
    pub fn failed_payment(&mut self, uid: &str, at: Option<Time>) -> Result<(), SimError> {
        let index = self.index_of(uid)?;
        let inv = self.invoices[index].current.clone();
        let t = self.tick(at);
        let transaction_id = self.next_transaction();
        let mut next = (*inv).clone();
        next.updated_at = t;
        let amount = inv.due();
        let state = self.set_invoice(index, next);
        self.push_event(
            t,
            state,
            EventData::FailedPayment {
                amount,
                memo: "Card declined: insufficient funds".into(),
                transaction_id,
            },
        );
        Ok(())
    }

    /// A consolidated invoice (and its segments) awaiting an ACH settlement.
    pub fn mark_processing(&mut self, uid: &str, at: Option<Time>) -> Result<(), SimError> {
        let index = self.index_of(uid)?;
        let inv = self.invoices[index].current.clone();
        if inv.status != Status::Open {
            return Err(reject(format!("invoice {uid} is not open")));
        }
        let t = self.tick(at);
        let gateway_trans_id = format!(
            "ach_{}",
            gateway_suffix(self.ids.transaction + 1).to_ascii_uppercase()
        );
        let mut targets = self.invoices[index].children.clone();
        targets.push(index);
        for i in targets {
            let cur = self.invoices[i].current.clone();
            if cur.status != Status::Open {
                continue;
            }
            let mut next = (*cur).clone();
            next.status = Status::Processing;
            next.updated_at = t;
            let amount = next.due();
            let state = self.set_invoice(i, next);
            self.push_event(
                t,
                state,
                EventData::ChangeInvoiceStatus {
                    from: Status::Open,
                    to: Status::Processing,
                    amount,
                    gateway_trans_id: gateway_trans_id.clone(),
                },
            );
        }
        Ok(())
    }

    // ---- refunds and credit notes ----------------------------------------------------------

    pub fn refund(
        &mut self,
        uid: &str,
        payment_id: u64,
        amount: Decimal,
        at: Option<Time>,
    ) -> Result<u64, SimError> {
        let index = self.index_of(uid)?;
        let inv = self.invoices[index].current.clone();
        if inv.fixed.level == Level::Parent {
            return Err(reject(format!(
                "invoice {uid} is consolidated: refund the payment on a segment"
            )));
        }
        let payment = inv
            .payments
            .iter()
            .find(|p| p.transaction_id == payment_id)
            .cloned()
            .ok_or_else(|| not_found("payment", payment_id))?;
        let refunded: Decimal = inv
            .refunds
            .iter()
            .filter(|r| r.payment_id == payment_id)
            .map(|r| r.amount)
            .sum();
        if amount <= Decimal::ZERO || amount != cents(amount) {
            return Err(reject("a refund is a positive amount in whole cents"));
        }
        if amount > payment.applied - refunded {
            return Err(reject(format!(
                "the refund {amount} exceeds what is left of payment {payment_id}"
            )));
        }
        let t = self.tick(at);
        let refund_id = self.next_transaction();
        let memo = format!("Refund: {}", inv.fixed.product_name);
        let refund = RefundRec {
            transaction_id: refund_id,
            payment_id,
            memo: memo.clone(),
            amount,
            gateway_used: payment.gateway_used,
            // Numeric, as the SDK's refund webhook model types it.
            gateway_transaction_id: payment
                .gateway_used
                .map(|_| (8_816_170_000_000_000 + refund_id).to_string()),
            time: t,
        };
        let cn = self.new_credit_note(&inv.fixed, amount, &memo, t);
        let cn = Arc::new(CreditNoteState {
            fixed: cn,
            applied_date: Some(t.date_naive()),
            applications: Vec::new(),
            refunds: vec![refund.clone()],
        });
        self.store_credit_note(cn.clone());
        let mut next = (*inv).clone();
        next.refunds.push(refund.clone());
        next.updated_at = t;
        let state = self.set_invoice(index, next);
        self.push_event(
            t,
            state,
            EventData::RefundInvoice {
                refund,
                credit_note: cn,
            },
        );
        Ok(refund_id)
    }

    pub fn credit_note(
        &mut self,
        uid: &str,
        amount: Decimal,
        memo: &str,
        at: Option<Time>,
    ) -> Result<String, SimError> {
        let inv = self.invoices[self.index_of(uid)?].current.clone();
        if !matches!(inv.status, Status::Open | Status::Processing) {
            return Err(reject(format!(
                "invoice {uid} is {}: nothing is due to credit",
                inv.status.as_str()
            )));
        }
        if amount > inv.due() {
            return Err(reject(format!(
                "a credit note is a positive amount in whole cents, at most the amount due {}",
                crate::money::fmt(inv.due())
            )));
        }
        let cn_uid = self.raise_credit_note(uid, amount, memo, at)?;
        self.apply_credit_note(&cn_uid, uid, amount, at)?;
        Ok(cn_uid)
    }

    /// A credit note raised on an invoice and left unapplied (`create_credit_note`): its
    /// remaining amount is the customer's to apply later, anywhere.
    pub fn raise_credit_note(
        &mut self,
        uid: &str,
        amount: Decimal,
        memo: &str,
        at: Option<Time>,
    ) -> Result<String, SimError> {
        let index = self.index_of(uid)?;
        let inv = self.invoices[index].current.clone();
        // A credit on a segment would leave its consolidated invoice's due behind.
        if inv.fixed.level != Level::None {
            return Err(reject(format!(
                "invoice {uid} is part of a consolidated invoice: credit notes apply to plain invoices"
            )));
        }
        if !matches!(inv.status, Status::Open | Status::Processing | Status::Paid) {
            return Err(reject(format!(
                "invoice {uid} is {}: it takes no credit note",
                inv.status.as_str()
            )));
        }
        if amount <= Decimal::ZERO || amount != cents(amount) || amount > inv.total() {
            return Err(reject(format!(
                "a credit note is a positive amount in whole cents, at most the invoice total {}",
                crate::money::fmt(inv.total())
            )));
        }
        let memo = if memo.trim().is_empty() {
            "Credit".to_owned()
        } else {
            memo.to_owned()
        };
        let t1 = self.tick(at);
        let fixed = self.new_credit_note(&inv.fixed, amount, &memo, t1);
        let cn_uid = fixed.uid.clone();
        let open = Arc::new(CreditNoteState {
            fixed,
            applied_date: None,
            applications: Vec::new(),
            refunds: Vec::new(),
        });
        self.store_credit_note(open.clone());
        let mut next = (*inv).clone();
        next.updated_at = t1;
        let state = self.set_invoice(index, next);
        self.push_event(t1, state, EventData::CreateCreditNote { credit_note: open });
        Ok(cn_uid)
    }

    /// Applies part of a credit note's remaining amount to an open invoice of the same
    /// customer and currency, the one it was raised on or another (`apply_credit_note` on
    /// that invoice).
    pub fn apply_credit_note(
        &mut self,
        cn_uid: &str,
        invoice_uid: &str,
        amount: Decimal,
        at: Option<Time>,
    ) -> Result<(), SimError> {
        let cn_index = *self
            .cn_index
            .get(cn_uid)
            .ok_or_else(|| not_found("credit note", cn_uid))?;
        let cn = self.credit_notes[cn_index].clone();
        let index = self.index_of(invoice_uid)?;
        let inv = self.invoices[index].current.clone();
        if inv.fixed.level != Level::None {
            return Err(reject(format!(
                "invoice {invoice_uid} is part of a consolidated invoice: credit notes apply to plain invoices"
            )));
        }
        if !matches!(inv.status, Status::Open | Status::Processing) {
            return Err(reject(format!(
                "invoice {invoice_uid} is {}: nothing is due to credit",
                inv.status.as_str()
            )));
        }
        if inv.fixed.customer.id != cn.fixed.invoice.customer.id
            || inv.fixed.currency != cn.fixed.invoice.currency
        {
            return Err(reject(
                "a credit note applies to its customer's invoices in its currency",
            ));
        }
        let remaining = cn.fixed.totals.total() - cn.applied();
        if amount <= Decimal::ZERO
            || amount != cents(amount)
            || amount > inv.due()
            || amount > remaining
        {
            return Err(reject(format!(
                "an application is a positive amount in whole cents, at most the amount due {} and the credit remaining {}",
                crate::money::fmt(inv.due()),
                crate::money::fmt(remaining)
            )));
        }
        let t = self.tick(at);
        let credit = CreditRec {
            uid: self.uid("cdt"),
            credit_note_number: cn.fixed.number,
            credit_note_uid: cn_uid.to_owned(),
            time: t,
            memo: cn.fixed.memo.clone(),
            amount,
        };
        let mut note = (*cn).clone();
        note.applications.push(CnApplication {
            uid: credit.uid.clone(),
            time: t,
            invoice_uid: invoice_uid.to_owned(),
            memo: cn.fixed.memo.clone(),
            amount,
        });
        if note.applied() == note.fixed.totals.total() {
            note.applied_date = Some(t.date_naive());
        }
        self.credit_notes[cn_index] = Arc::new(note);
        let mut next = (*inv).clone();
        next.credits.push(credit.clone());
        next.updated_at = t;
        if next.due().is_zero() {
            next.status = Status::Paid;
            next.paid_date = Some(t.date_naive());
        }
        let state = self.set_invoice(index, next);
        self.push_event(t, state, EventData::ApplyCreditNote { credit });
        Ok(())
    }

    /// A credit note for `amount`, tax included: one line crediting the invoice's main charge,
    /// taxed at the invoice's rate (the net is rounded to cents, the tax is the rest, so the
    /// note's total is exactly `amount`).
    fn new_credit_note(
        &mut self,
        inv: &Arc<InvoiceFixed>,
        amount: Decimal,
        memo: &str,
        t: Time,
    ) -> Arc<CreditNoteFixed> {
        self.ids.credit_note += 1;
        let number = self.ids.credit_note;
        let uid = self.uid("cn");
        let model = inv
            .lines
            .iter()
            .find(|l| !l.custom)
            .or(inv.lines.first())
            .cloned()
            .expect("credited invoices have lines");
        let rate = inv
            .tax
            .as_ref()
            .map(|t| t.rate.percentage)
            .unwrap_or_default();
        let net = cents(amount / (Decimal::ONE + rate / Decimal::ONE_HUNDRED));
        let tax_amount = amount - net;
        let line = LineRec {
            uid: self.uid("cnli"),
            title: model.title.clone(),
            description: memo.to_owned(),
            quantity: Decimal::ONE,
            unit_price: net,
            subtotal: net,
            discount: Decimal::ZERO,
            tax: tax_amount,
            period_start: model.period_start,
            period_end: model.period_end,
            transaction_id: 0,
            product_id: model.product_id,
            product_version: model.product_version,
            product_price_point_id: model.product_price_point_id,
            component: model.component.clone(),
            custom: model.custom,
            kind: model.kind,
        };
        let tax = inv.tax.as_ref().map(|t| TaxRec {
            uid: String::new(),
            rate: t.rate.clone(),
            source_id: t.source_id,
            transaction_id: None,
        });
        let tax = tax.map(|mut t| {
            t.uid = self.uid("cntli");
            t
        });
        Arc::new(CreditNoteFixed {
            uid,
            number,
            invoice: inv.clone(),
            issue_date: t.date_naive(),
            memo: memo.to_owned(),
            totals: Totals {
                subtotal: net,
                discount: Decimal::ZERO,
                tax: tax_amount,
                taxable: net,
            },
            lines: vec![line],
            tax,
        })
    }

    fn store_credit_note(&mut self, cn: Arc<CreditNoteState>) -> usize {
        let index = self.credit_notes.len();
        self.cn_index.insert(cn.fixed.uid.clone(), index);
        self.credit_notes.push(cn);
        index
    }

    // ---- voids -----------------------------------------------------------------------------

    pub fn void(&mut self, uid: &str, reason: &str, at: Option<Time>) -> Result<(), SimError> {
        let index = self.index_of(uid)?;
        let inv = self.invoices[index].current.clone();
        if inv.fixed.level != Level::None {
            return Err(reject(format!(
                "invoice {uid} is part of a consolidated invoice and cannot be voided"
            )));
        }
        if inv.status != Status::Open {
            return Err(reject(format!(
                "invoice {uid} is {} and cannot be voided",
                inv.status.as_str()
            )));
        }
        if !inv.payments.is_empty() || !inv.credits.is_empty() {
            return Err(reject(format!(
                "invoice {uid} has payments or credits applied and cannot be voided"
            )));
        }
        let t = self.tick(at);
        let mut next = (*inv).clone();
        next.status = Status::Voided;
        next.updated_at = t;
        let state = self.set_invoice(index, next);
        self.push_event(
            t,
            state,
            EventData::VoidInvoice {
                memo: "Voided".into(),
                reason: reason.to_owned(),
                time: t,
            },
        );
        Ok(())
    }
}

struct Common {
    customer: Arc<CustomerRec>,
    currency: String,
    issue_date: NaiveDate,
    net_terms: u32,
    collection_method: &'static str,
    memo: String,
    shipping: Option<crate::Address>,
    po_number: Option<String>,
}

struct Ident {
    id: u64,
    uid: String,
    number: u64,
}

fn role_for(given: Option<&str>, lines: &[NewLine]) -> String {
    if let Some(r) = given {
        return r.to_owned();
    }
    if lines
        .iter()
        .any(|l| matches!(l, NewLine::Setup { .. } | NewLine::Trial { .. }))
    {
        "signup".into()
    } else if lines.iter().all(|l| matches!(l, NewLine::Custom { .. })) {
        "adhoc".into()
    } else {
        "renewal".into()
    }
}

fn payment_word(role: &str) -> &'static str {
    match role {
        "renewal" => "Renewal payment",
        "signup" => "Signup payment",
        _ => "Payment",
    }
}

/// A gateway-looking suffix derived from a transaction id.
fn gateway_suffix(n: u64) -> String {
    let mut v = mix(n);
    let alphabet = b"0123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let mut s = String::with_capacity(16);
    for _ in 0..16 {
        s.push(alphabet[(v % alphabet.len() as u64) as usize] as char);
        v /= alphabet.len() as u64;
        if v == 0 {
            v = mix(n.wrapping_add(s.len() as u64));
        }
    }
    s
}

/// The card a customer keeps on file (fake test card numbers).
fn card_for(customer_id: u64) -> Card {
    const CARDS: [(&str, &str); 4] = [
        ("visa", "1111"),
        ("master", "4444"),
        ("american_express", "8431"),
        ("visa", "4242"),
    ];
    let (brand, last4) = CARDS[(customer_id % 4) as usize];
    Card {
        brand,
        last4,
        exp_month: 1 + (customer_id % 12) as u32,
        exp_year: 2027 + (customer_id % 4) as u32,
    }
}

pub(crate) fn slug(name: &str) -> String {
    let mut out = String::new();
    for ch in name.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// Prices the lines in place and returns the document figures. Per-line discount and tax stay
/// exact (they may carry 3-4 decimals); the document discount and tax are the cent rounding of
/// their sums, half away from zero. A flat discount is spread over the lines in whole cents,
/// in proportion to their subtotals, so its breakouts add up to it exactly.
pub(crate) fn price(
    lines: &mut [LineRec],
    discount: Option<&DiscountKind>,
    tax: Option<&TaxRate>,
) -> Totals {
    let subtotal: Decimal = lines.iter().map(|l| l.subtotal).sum();
    match discount {
        Some(DiscountKind::Percentage(p)) => {
            let p = (*p).clamp(Decimal::ZERO, Decimal::ONE_HUNDRED);
            for l in lines.iter_mut() {
                l.discount = l.subtotal * p / Decimal::ONE_HUNDRED;
            }
        }
        Some(DiscountKind::Flat(a)) if !subtotal.is_zero() => {
            let a = cents((*a).clamp(Decimal::ZERO, subtotal));
            for l in lines.iter_mut() {
                l.discount = cents(a * l.subtotal / subtotal);
            }
            // Settle the rounding difference a cent at a time on lines with room.
            let cent = Decimal::new(1, 2);
            let mut diff = a - lines.iter().map(|l| l.discount).sum::<Decimal>();
            while !diff.is_zero() {
                let mut moved = false;
                for l in lines.iter_mut() {
                    if diff > Decimal::ZERO && l.discount < l.subtotal {
                        l.discount += cent;
                        diff -= cent;
                        moved = true;
                    } else if diff < Decimal::ZERO && l.discount > Decimal::ZERO {
                        l.discount -= cent;
                        diff += cent;
                        moved = true;
                    }
                    if diff.is_zero() {
                        break;
                    }
                }
                if !moved {
                    break;
                }
            }
        }
        _ => {}
    }
    if let Some(t) = tax {
        for l in lines.iter_mut() {
            l.tax = l.taxable() * t.percentage / Decimal::ONE_HUNDRED;
        }
    }
    Totals {
        subtotal,
        discount: cents(lines.iter().map(|l| l.discount).sum()),
        tax: cents(lines.iter().map(|l| l.tax).sum()),
        taxable: cents(lines.iter().map(|l| l.taxable()).sum()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn line(sub: &str) -> LineRec {
        let day = NaiveDate::from_ymd_opt(2026, 1, 31).unwrap();
        LineRec {
            uid: String::new(),
            title: String::new(),
            description: String::new(),
            quantity: Decimal::ONE,
            unit_price: d(sub),
            subtotal: d(sub),
            discount: Decimal::ZERO,
            tax: Decimal::ZERO,
            period_start: day,
            period_end: day,
            transaction_id: 0,
            product_id: 1,
            product_version: 1,
            product_price_point_id: None,
            component: None,
            custom: false,
            kind: None,
        }
    }

    #[test]
    fn reproduces_the_fixture_figures() {
        // invoice_non_inventory_paid: 149 + 202.5 + 250, 7.5% coupon, 8% tax.
        let mut lines = vec![line("149"), line("202.5"), line("250")];
        let t = price(
            &mut lines,
            Some(&DiscountKind::Percentage(d("7.5"))),
            Some(&TaxRate::us_sales("NY", d("8"))),
        );
        assert_eq!(lines[0].discount, d("11.175"));
        assert_eq!(lines[1].tax, d("14.985"));
        assert_eq!(
            (t.subtotal, t.discount, t.tax),
            (d("601.5"), d("45.11"), d("44.51"))
        );
        assert_eq!(t.taxable, d("556.39"));
        assert_eq!(t.total(), d("600.9"));
    }

    #[test]
    fn flat_discounts_split_in_whole_cents() {
        let mut lines = vec![line("149"), line("202.5"), line("250")];
        let t = price(&mut lines, Some(&DiscountKind::Flat(d("10"))), None);
        assert_eq!(t.discount, d("10"));
        assert_eq!(lines.iter().map(|l| l.discount).sum::<Decimal>(), d("10"));
        assert!(lines.iter().all(|l| l.discount == cents(l.discount)));
        let mut lines = vec![line("0.01"), line("0.01"), line("0.01")];
        let t = price(&mut lines, Some(&DiscountKind::Flat(d("0.02"))), None);
        assert_eq!(t.discount, d("0.02"));
    }

    #[test]
    fn uids_are_unique_and_well_formed() {
        let mut st = State::new(&SimConfig::default(), Some(3));
        let uids: std::collections::HashSet<String> = (0..10_000).map(|_| st.uid("inv")).collect();
        assert_eq!(uids.len(), 10_000);
        assert!(uids.iter().all(|u| u.len() == 17 && u.starts_with("inv_")));
    }
}
