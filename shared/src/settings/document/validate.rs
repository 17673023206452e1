//! Checking a read document: every value once, every problem with its path.

use super::*;

/// The problems found so far, each with the path of the value it concerns.
struct Check {
    problems: Vec<String>,
}

impl Check {
    fn push(&mut self, problem: String) {
        self.problems.push(problem);
    }

    /// A section: its unknown keys are problems; a value that is not an object is one too.
    fn section<'a, T: Section>(&mut self, field: &'a Field<T>, path: &str) -> Option<&'a T> {
        match field {
            Field::Absent => None,
            Field::Bad(_) => {
                self.push(format!("`{path}` must be an object"));
                None
            }
            Field::Given(t) => {
                for k in t.unknown().keys() {
                    let at = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    self.push(format!(
                        "`{at}` is not a setting (known here: {})",
                        T::KNOWN.join(", ")
                    ));
                }
                Some(t)
            }
        }
    }

    fn text(&mut self, f: &Field<String>, at: &str) -> Option<String> {
        match f {
            Field::Absent => None,
            Field::Given(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Field::Given(_) => {
                self.push(format!("`{at}` is empty"));
                None
            }
            Field::Bad(_) => {
                self.push(format!("`{at}` must be text"));
                None
            }
        }
    }

    fn required_text(&mut self, f: &Field<String>, at: &str) -> Option<String> {
        if matches!(f, Field::Absent) {
            self.push(format!("`{at}` is required"));
        }
        self.text(f, at)
    }

    fn flag(&mut self, f: &Field<bool>, at: &str, default: bool) -> bool {
        match f {
            Field::Absent => default,
            Field::Given(b) => *b,
            Field::Bad(_) => {
                self.push(format!("`{at}` must be true or false"));
                default
            }
        }
    }

    fn choice<T: Copy>(&mut self, f: &Field<T>, at: &str, allowed: &str, default: T) -> T {
        match f {
            Field::Absent => default,
            Field::Given(t) => *t,
            Field::Bad(v) => {
                self.push(format!("`{at}` is {v}; allowed: {allowed}"));
                default
            }
        }
    }

    fn id_value(&mut self, v: &Value, at: &str) -> Option<NsId> {
        let parsed = match v {
            Value::String(s) => NsId::parse(s),
            Value::Number(n) => NsId::parse(&n.to_string()),
            _ => None,
        };
        if parsed.is_none() {
            self.push(format!(
                "`{at}` must be a NetSuite internal id (digits), got {v}"
            ));
        }
        parsed
    }

    fn id(&mut self, f: &Id, at: &str) -> Option<NsId> {
        match f {
            Field::Absent => None,
            Field::Given(v) | Field::Bad(v) => self.id_value(v, at),
        }
    }

    fn required_id(&mut self, f: &Id, at: &str) -> Option<NsId> {
        if matches!(f, Field::Absent) {
            self.push(format!("`{at}` is required"));
            return None;
        }
        self.id(f, at)
    }

    /// A map section: each entry read by `entry` under its own path, in key order.
    fn map<V, T>(
        &mut self,
        f: &Field<BTreeMap<String, V>>,
        at: &str,
        mut entry: impl FnMut(&mut Self, &str, &V, &str) -> Option<T>,
    ) -> BTreeMap<String, T> {
        match f {
            Field::Absent => BTreeMap::new(),
            Field::Bad(_) => {
                self.push(format!("`{at}` must be an object"));
                BTreeMap::new()
            }
            Field::Given(m) => m
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), entry(self, k, v, &format!("{at}.{k}"))?)))
                .collect(),
        }
    }

    fn id_map(&mut self, f: &IdMap, at: &str) -> BTreeMap<String, NsId> {
        self.map(f, at, |c, _, v, at| c.id_value(v, at))
    }

    fn item(&mut self, f: &Field<Item>, at: &str) -> Option<ItemRef> {
        let item = self.section(f, at)?;
        let id = self.required_id(&item.id, &format!("{at}.id"));
        let known = "inventory, non_inventory, service, assembly, kit";
        let item_type = match &item.item_type {
            Field::Absent => {
                self.push(format!("`{at}.type` is required (one of {known})"));
                None
            }
            Field::Given(ItemType::Discount) => {
                self.push(format!(
                    "`{at}.type` is \"discount\", not a supported item type (one of {known})"
                ));
                None
            }
            Field::Bad(v) => {
                self.push(format!(
                    "`{at}.type` is {v}, not a supported item type (one of {known})"
                ));
                None
            }
            Field::Given(t) => Some(*t),
        };
        Some(ItemRef {
            id: id?,
            item_type: item_type?,
        })
    }

    fn item_map(
        &mut self,
        f: &Field<BTreeMap<String, Field<Item>>>,
        at: &str,
    ) -> BTreeMap<String, ItemRef> {
        self.map(f, at, |c, _, v, at| c.item(v, at))
    }

    fn script_id(&mut self, f: &Field<String>, at: &str, prefix: &str, default: String) -> String {
        let Some(v) = self.text(f, at) else {
            return default;
        };
        let valid = v.starts_with(prefix)
            && v.len() > prefix.len()
            && v.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            self.push(format!("`{at}` must be a script id starting with `{prefix}` (lower case, digits, `_`), got `{v}`"));
        }
        v
    }
}

/// The `invoices` section, checked.
struct InvoiceRules {
    skip_zero_dollar: bool,
    create: Option<InvoicePath>,
    reverse_voids: bool,
    subscription_groups: Consolidation,
    revenue_recognition: Option<RevRecFields>,
}

/// The `payments` section, checked.
struct PaymentRules {
    payment_instruments: bool,
    payment_method: Option<NsId>,
    payment_account: Option<NsId>,
    gateway_accounts: BTreeMap<String, NsId>,
    payment_methods: BTreeMap<String, NsId>,
}

/// The `transactions` section, checked.
struct TransactionRules {
    sales_order_form: Option<NsId>,
    invoice_form: Option<NsId>,
    subsidiary: Option<NsId>,
    department: Option<NsId>,
    class: Option<NsId>,
    location: Option<NsId>,
    terms: Option<NsId>,
    exchange_rate: ExchangeRate,
    tax_override: bool,
    tracking: TrackingLevel,
    customer_tracking: CustomerTracking,
    tax_codes: BTreeMap<String, NsId>,
    untaxed_code: Option<NsId>,
}

impl Document {
    /// Every value checked, section by section; the settings, or every problem found.
    pub(in crate::settings) fn validate(&self) -> Result<TenantSettings, Vec<String>> {
        let mut c = Check {
            problems: Vec::new(),
        };
        for k in self.unknown.keys() {
            c.push(format!(
                "`{k}` is not a setting (known here: {})",
                Document::KNOWN.join(", ")
            ));
        }
        let tenant = self.tenant(&mut c);
        if matches!(self.source, Field::Absent) {
            c.push("`source` is required (maxio or chargebee)".into());
        }
        let source = c.choice(&self.source, "source", "maxio, chargebee", Source::Maxio);
        let site = c.required_text(&self.site, "site");
        let start = self.start_date(&mut c);
        let items = self.items(&mut c);
        let invoices = self.invoices(&mut c);
        let empty_customers = Customers::default();
        let cust = c
            .section(&self.customers, "customers")
            .unwrap_or(&empty_customers);
        let customer_match = c.choice(
            &cust.match_by,
            "customers.match_by",
            "email, external_id",
            CustomerMatch::Email,
        );
        let entity_status = c.id(&cust.entity_status, "customers.entity_status");
        let payments = self.payments(&mut c, source);
        let empty_refunds = Refunds::default();
        let refunds = c
            .section(&self.refunds, "refunds")
            .unwrap_or(&empty_refunds);
        let refund_account = c.required_id(&refunds.account, "refunds.account");
        let refund_ar_account = c.id(&refunds.ar_account, "refunds.ar_account");
        let tx = self.transactions(&mut c);
        if source == Source::Maxio && tx.exchange_rate == ExchangeRate::Billing {
            c.push("`transactions.exchange_rate` billing works for Chargebee tenants only: Maxio states no exchange rate on invoices or payments; use net_suite".into());
        }
        let prefixes = self.prefixes(&mut c);
        let custom_fields = self.custom_fields(&mut c);
        let netsuite_concurrency = self.concurrency(&mut c);
        let currencies = c.map(&self.currencies, "currencies", |c, code, v, at| {
            if code.len() != 3 || !code.chars().all(|ch| ch.is_ascii_uppercase()) {
                c.push(format!("`{at}` must be an ISO 4217 code like USD"));
            }
            c.id_value(v, at)
        });

        let (Some(tenant), Some(site), Some(sync_start_date), Some(items), Some(refund_account)) =
            (tenant, site, start, items, refund_account)
        else {
            if c.problems.is_empty() {
                return Err(vec!["the document is incomplete".into()]);
            }
            return Err(c.problems);
        };
        if !c.problems.is_empty() {
            return Err(c.problems);
        }
        Ok(TenantSettings {
            tenant,
            source,
            site,
            sync_start_date,
            items,
            skip_zero_dollar: invoices.skip_zero_dollar,
            reverse_voids: invoices.reverse_voids,
            subscription_groups: invoices.subscription_groups,
            revenue_recognition: invoices.revenue_recognition,
            customer_match,
            entity_status,
            payment_instruments: payments.payment_instruments,
            payment_method: payments.payment_method,
            payment_account: payments.payment_account,
            refund_account,
            refund_ar_account,
            sales_order_form: tx.sales_order_form,
            invoice_path: invoices.create,
            invoice_form: tx.invoice_form,
            subsidiary: tx.subsidiary,
            department: tx.department,
            class: tx.class,
            location: tx.location,
            terms: tx.terms,
            exchange_rate: tx.exchange_rate,
            prefixes,
            custom_fields,
            netsuite_concurrency,
            gateway_accounts: payments.gateway_accounts,
            payment_methods: payments.payment_methods,
            tax_override: tx.tax_override,
            tracking: tx.tracking,
            customer_tracking: tx.customer_tracking,
            tax_codes: tx.tax_codes,
            untaxed_code: tx.untaxed_code,
            currencies,
        })
    }

    fn tenant(&self, c: &mut Check) -> Option<String> {
        let tenant = c.required_text(&self.tenant, "tenant");
        if let Some(t) = &tenant {
            if !crate::settings::valid_tenant_name(t) {
                c.push(format!(
                    "`tenant` must be letters, digits, `-` or `_` (at most 64), got `{t}`"
                ));
            }
        }
        tenant
    }

    fn start_date(&self, c: &mut Check) -> Option<NaiveDate> {
        let text = c.required_text(&self.sync_start_date, "sync_start_date")?;
        match NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                c.push(format!(
                    "`sync_start_date` must be YYYY-MM-DD, got `{text}`"
                ));
                None
            }
        }
    }

    fn invoices(&self, c: &mut Check) -> InvoiceRules {
        let empty = Invoices::default();
        let inv = c.section(&self.invoices, "invoices").unwrap_or(&empty);
        let skip_zero_dollar = c.flag(&inv.skip_zero_dollar, "invoices.skip_zero_dollar", false);
        let reverse_voids = c.flag(&inv.reverse_voids, "invoices.reverse_voids", true);
        let create = match &inv.create {
            Field::Absent => None,
            f => Some(c.choice(
                f,
                "invoices.create",
                "direct, sales_order",
                InvoicePath::SalesOrder,
            )),
        };
        let subscription_groups = c.choice(
            &inv.subscription_groups,
            "invoices.subscription_groups",
            "parent, child",
            Consolidation::Parent,
        );
        if subscription_groups == Consolidation::None {
            c.push("`invoices.subscription_groups` must be parent or child".into());
        }
        let at = "invoices.revenue_recognition";
        let revenue_recognition = c.section(&inv.revenue_recognition, at).map(|rr| {
            let start = c.script_id(
                &rr.start_field,
                &format!("{at}.start_field"),
                "custcol",
                String::new(),
            );
            let end = c.script_id(
                &rr.end_field,
                &format!("{at}.end_field"),
                "custcol",
                String::new(),
            );
            if start.is_empty() || end.is_empty() {
                c.push(
                    "`invoices.revenue_recognition` needs both `start_field` and `end_field`"
                        .into(),
                );
            }
            RevRecFields {
                start_field: start,
                end_field: end,
            }
        });
        InvoiceRules {
            skip_zero_dollar,
            create,
            reverse_voids,
            subscription_groups,
            revenue_recognition,
        }
    }

    fn payments(&self, c: &mut Check, source: Source) -> PaymentRules {
        let empty = Payments::default();
        let pay = c.section(&self.payments, "payments").unwrap_or(&empty);
        let payment_instruments = c.flag(
            &pay.payment_instruments,
            "payments.payment_instruments",
            false,
        );
        let payment_method = c.id(&pay.payment_method, "payments.payment_method");
        if !payment_instruments && payment_method.is_none() {
            c.push("`payments.payment_method` is required unless `payments.payment_instruments` is true".into());
        }
        let payment_account = c.id(&pay.account, "payments.account");
        // Every key is checked, also one whose account id is wrong.
        let gateway_accounts = c.map(
            &pay.gateway_accounts,
            "payments.gateway_accounts",
            |c, key, v, at| {
                let valid = key.split_once(':').is_some_and(|(g, cur)| {
                    !g.is_empty() && cur.len() == 3 && cur.chars().all(|x| x.is_ascii_uppercase())
                });
                if !valid {
                    c.push(format!(
                        "`{at}` must be named <gateway>:<currency>, e.g. stripe:USD"
                    ));
                }
                c.id_value(v, at)
            },
        );
        // Chargebee's mapping: the method by gateway and payment type, most specific first.
        let payment_methods = c.map(
            &pay.payment_methods,
            "payments.payment_methods",
            |c, key, v, at| {
                let valid = !key.is_empty()
                    && key.split(':').count() <= 2
                    && key.split(':').all(|p| !p.is_empty());
                if !valid {
                    c.push(format!(
                        "`{at}` must be named <gateway>:<type>, <type> or <gateway>, e.g. stripe:card"
                    ));
                }
                c.id_value(v, at)
            },
        );
        if payment_instruments && !payment_methods.is_empty() {
            c.push("`payments.payment_methods` is unused with `payments.payment_instruments` (NetSuite takes no payment method then): remove one".into());
        }
        if source == Source::Maxio {
            // What Maxio's payments carry (billsync reads no gateway or payment type there).
            for (set, name) in [
                (!gateway_accounts.is_empty(), "gateway_accounts"),
                (!payment_methods.is_empty(), "payment_methods"),
            ] {
                if set {
                    c.push(format!("`payments.{name}` works for Chargebee tenants only: billsync reads no gateway or payment type from Maxio; use `payments.account` and `payments.payment_method`"));
                }
            }
        }
        PaymentRules {
            payment_instruments,
            payment_method,
            payment_account,
            gateway_accounts,
            payment_methods,
        }
    }

    fn transactions(&self, c: &mut Check) -> TransactionRules {
        let empty = Transactions::default();
        let tx = c
            .section(&self.transactions, "transactions")
            .unwrap_or(&empty);
        let t = |key: &str| format!("transactions.{key}");
        let tracking = c.choice(
            &tx.tracking,
            &t("tracking"),
            "document, customer",
            TrackingLevel::Document,
        );
        let customer_tracking = match c.section(&tx.customer_tracking, &t("customer_tracking")) {
            Some(ct) => CustomerTracking {
                class: c.text(&ct.class, &t("customer_tracking.class")),
                department: c.text(&ct.department, &t("customer_tracking.department")),
                location: c.text(&ct.location, &t("customer_tracking.location")),
            },
            None => CustomerTracking::default(),
        };
        if tracking == TrackingLevel::Customer && customer_tracking == CustomerTracking::default() {
            c.push("`transactions.tracking` is customer: name the customer fields in `transactions.customer_tracking` (class, department, location)".into());
        }
        TransactionRules {
            sales_order_form: c.id(&tx.sales_order_form, &t("sales_order_form")),
            invoice_form: c.id(&tx.invoice_form, &t("invoice_form")),
            subsidiary: c.id(&tx.subsidiary, &t("subsidiary")),
            department: c.id(&tx.department, &t("department")),
            class: c.id(&tx.class, &t("class")),
            location: c.id(&tx.location, &t("location")),
            terms: c.id(&tx.terms, &t("terms")),
            exchange_rate: c.choice(
                &tx.exchange_rate,
                &t("exchange_rate"),
                "net_suite, billing",
                ExchangeRate::NetSuite,
            ),
            tax_override: c.flag(&tx.tax_override, &t("tax_override"), false),
            tracking,
            customer_tracking,
            tax_codes: c.id_map(&tx.tax_codes, &t("tax_codes")),
            untaxed_code: c.id(&tx.untaxed_code, &t("untaxed_code")),
        }
    }

    fn prefixes(&self, c: &mut Check) -> Prefixes {
        let empty = PrefixDoc::default();
        let pre = c.section(&self.prefixes, "prefixes").unwrap_or(&empty);
        let prefixes = Prefixes {
            entity_id: c.text(&pre.entity_id, "prefixes.entity_id"),
            tran_id: c.text(&pre.tran_id, "prefixes.tran_id"),
            external_id: c.text(&pre.external_id, "prefixes.external_id"),
            item: c.text(&pre.item, "prefixes.item"),
            send_numbers: match &pre.send_numbers {
                Field::Absent => None,
                f => Some(c.flag(f, "prefixes.send_numbers", false)),
            },
        };
        if let Some(p) = &prefixes.external_id {
            if !p
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
            {
                c.push(format!("`prefixes.external_id` may hold only letters, digits, `-` and `_` (NetSuite external ids), got `{p}`"));
            }
        }
        prefixes
    }

    fn custom_fields(&self, c: &mut Check) -> CustomFieldIds {
        let empty = CustomFields::default();
        let cf = c
            .section(&self.custom_fields, "custom_fields")
            .unwrap_or(&empty);
        let d = CustomFieldIds::default();
        let f = |key: &str| format!("custom_fields.{key}");
        CustomFieldIds {
            customer_billing_id: c.script_id(
                &cf.customer_billing_id,
                &f("customer_billing_id"),
                "custentity",
                d.customer_billing_id,
            ),
            customer_site: c.script_id(
                &cf.customer_site,
                &f("customer_site"),
                "custentity",
                d.customer_site,
            ),
            transaction_site: c.script_id(
                &cf.transaction_site,
                &f("transaction_site"),
                "custbody",
                d.transaction_site,
            ),
            transaction_invoice_uid: c.script_id(
                &cf.transaction_invoice_uid,
                &f("transaction_invoice_uid"),
                "custbody",
                d.transaction_invoice_uid,
            ),
            line_tax: c.script_id(&cf.line_tax, &f("line_tax"), "custcol", d.line_tax),
            from_billing: c.map(&cf.from_billing, &f("from_billing"), |c, key, v, at| {
                let script = ["custentity", "custbody", "custcol"]
                    .iter()
                    .any(|p| key.starts_with(p))
                    && key
                        .chars()
                        .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_');
                if !script {
                    c.push(format!("`{at}`: the key must be a NetSuite script id starting with custentity, custbody or custcol"));
                }
                let field: Result<BillingField, _> = serde_json::from_value(v.clone());
                match field {
                    Ok(f) if !f.from.trim().is_empty() => script.then_some(f),
                    Ok(_) => {
                        c.push(format!("`{at}.from` must name the billing customer's field (Chargebee cf_...)"));
                        None
                    }
                    Err(_) => {
                        c.push(format!("`{at}` must be {{\"from\": \"cf_...\", \"type\": text|integer|decimal|checkbox|date|select}}"));
                        None
                    }
                }
            }),
        }
    }

    fn concurrency(&self, c: &mut Check) -> usize {
        let empty = NetSuite::default();
        let ns = c.section(&self.netsuite, "netsuite").unwrap_or(&empty);
        match &ns.concurrency {
            Field::Absent => 4,
            Field::Given(v) | Field::Bad(v) => match v.as_u64() {
                Some(n @ 1..=200) => n as usize,
                _ => {
                    c.push(format!(
                        "`netsuite.concurrency` must be a whole number from 1 to 200, got {v}"
                    ));
                    4
                }
            },
        }
    }

    /// The `items` section; `None` when a required item is missing or wrong.
    fn items(&self, c: &mut Check) -> Option<ItemSettings> {
        let given = c.section(&self.items, "items");
        if given.is_none() {
            c.push("`items` is required (at least `tax_item` and `discount_item`)".into());
        }
        let empty = Items::default();
        let items = given.unwrap_or(&empty);
        let products = c.item_map(&items.products, "items.products");
        let components = c.item_map(&items.components, "items.components");
        let custom_default = c.item(&items.custom_default, "items.custom_default");
        let setup_default = c.item(&items.setup_default, "items.setup_default");
        let other_default = c.item(&items.other_default, "items.other_default");
        let bad_debt_item = c.item(&items.bad_debt_item, "items.bad_debt_item");
        let round_off_item = c.item(&items.round_off_item, "items.round_off_item");
        let tax_item = match &items.tax_item {
            Field::Absent => {
                c.push(
                    "`items.tax_item` is required: the NetSuite item that carries the tax line"
                        .into(),
                );
                None
            }
            f => c.item(f, "items.tax_item"),
        };
        let discount_item = c.required_id(&items.discount_item, "items.discount_item");
        let at = "items.create_missing";
        let create_missing = c.section(&items.create_missing, at).map(|m| {
            let item_type = match &m.item_type {
                Field::Absent => ItemType::NonInventory,
                Field::Given(t @ (ItemType::NonInventory | ItemType::Service)) => *t,
                other => {
                    let v = serde_json::to_value(other).unwrap_or_default();
                    c.push(format!(
                        "`{at}.type` is {v}; billsync creates only non_inventory or service items"
                    ));
                    ItemType::NonInventory
                }
            };
            ItemCreation {
                item_type,
                income_account: c.id(&m.income_account, &format!("{at}.income_account")),
                tax_schedule: c.id(&m.tax_schedule, &format!("{at}.tax_schedule")),
                classes: c.id_map(&m.classes, &format!("{at}.classes")),
                locations: c.id_map(&m.locations, &format!("{at}.locations")),
                departments: c.id_map(&m.departments, &format!("{at}.departments")),
                revenue_rules: c.id_map(&m.revenue_rules, &format!("{at}.revenue_rules")),
            }
        });
        Some(ItemSettings {
            products,
            components,
            custom_default,
            setup_default,
            other_default,
            tax_item: tax_item?,
            discount_item: discount_item?,
            create_missing,
            bad_debt_item,
            round_off_item,
        })
    }
}
