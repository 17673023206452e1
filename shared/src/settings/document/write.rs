//! Writing settings back as a document, through the same sections that read it.

use super::*;

fn item(i: &ItemRef) -> Field<Item> {
    Field::Given(Item {
        id: Field::Given(Value::String(i.id.to_string())),
        item_type: Field::Given(i.item_type),
        unknown: BTreeMap::new(),
    })
}

fn items(m: &BTreeMap<String, ItemRef>) -> Field<BTreeMap<String, Field<Item>>> {
    Field::Given(m.iter().map(|(k, v)| (k.clone(), item(v))).collect())
}

fn text(v: &Option<String>) -> Field<String> {
    Field::from_option(v.clone())
}

impl From<&TenantSettings> for Document {
    fn from(s: &TenantSettings) -> Self {
        let creation = s.items.create_missing.as_ref().map(|m| Creation {
            item_type: Field::Given(m.item_type),
            income_account: id(&m.income_account),
            tax_schedule: id(&m.tax_schedule),
            classes: id_map(&m.classes),
            locations: id_map(&m.locations),
            departments: id_map(&m.departments),
            revenue_rules: id_map(&m.revenue_rules),
            unknown: BTreeMap::new(),
        });
        Document {
            tenant: Field::Given(s.tenant.clone()),
            source: Field::Given(s.source),
            site: Field::Given(s.site.clone()),
            sync_start_date: Field::Given(s.sync_start_date.to_string()),
            items: Field::Given(Items {
                products: items(&s.items.products),
                components: items(&s.items.components),
                custom_default: s.items.custom_default.as_ref().map_or(Field::Absent, item),
                setup_default: s.items.setup_default.as_ref().map_or(Field::Absent, item),
                other_default: s.items.other_default.as_ref().map_or(Field::Absent, item),
                tax_item: item(&s.items.tax_item),
                discount_item: id(&Some(s.items.discount_item.clone())),
                create_missing: Field::from_option(creation),
                bad_debt_item: s.items.bad_debt_item.as_ref().map_or(Field::Absent, item),
                round_off_item: s.items.round_off_item.as_ref().map_or(Field::Absent, item),
                unknown: BTreeMap::new(),
            }),
            invoices: Field::Given(Invoices {
                skip_zero_dollar: Field::Given(s.skip_zero_dollar),
                reverse_voids: Field::Given(s.reverse_voids),
                create: Field::from_option(s.invoice_path),
                subscription_groups: Field::Given(s.subscription_groups),
                revenue_recognition: Field::from_option(s.revenue_recognition.as_ref().map(|r| {
                    RevRec {
                        start_field: Field::Given(r.start_field.clone()),
                        end_field: Field::Given(r.end_field.clone()),
                        unknown: BTreeMap::new(),
                    }
                })),
                unknown: BTreeMap::new(),
            }),
            customers: Field::Given(Customers {
                match_by: Field::Given(s.customer_match),
                entity_status: id(&s.entity_status),
                unknown: BTreeMap::new(),
            }),
            payments: Field::Given(Payments {
                payment_instruments: Field::Given(s.payment_instruments),
                payment_method: id(&s.payment_method),
                account: id(&s.payment_account),
                gateway_accounts: id_map(&s.gateway_accounts),
                payment_methods: id_map(&s.payment_methods),
                unknown: BTreeMap::new(),
            }),
            refunds: Field::Given(Refunds {
                account: id(&Some(s.refund_account.clone())),
                ar_account: id(&s.refund_ar_account),
                unknown: BTreeMap::new(),
            }),
            transactions: Field::Given(Transactions {
                sales_order_form: id(&s.sales_order_form),
                invoice_form: id(&s.invoice_form),
                subsidiary: id(&s.subsidiary),
                department: id(&s.department),
                class: id(&s.class),
                location: id(&s.location),
                terms: id(&s.terms),
                exchange_rate: Field::Given(s.exchange_rate),
                tax_override: Field::Given(s.tax_override),
                tracking: Field::Given(s.tracking),
                customer_tracking: Field::Given(Tracking {
                    class: text(&s.customer_tracking.class),
                    department: text(&s.customer_tracking.department),
                    location: text(&s.customer_tracking.location),
                    unknown: BTreeMap::new(),
                }),
                tax_codes: id_map(&s.tax_codes),
                untaxed_code: id(&s.untaxed_code),
                unknown: BTreeMap::new(),
            }),
            prefixes: Field::Given(PrefixDoc {
                entity_id: text(&s.prefixes.entity_id),
                tran_id: text(&s.prefixes.tran_id),
                external_id: text(&s.prefixes.external_id),
                item: text(&s.prefixes.item),
                send_numbers: Field::from_option(s.prefixes.send_numbers),
                unknown: BTreeMap::new(),
            }),
            custom_fields: Field::Given(CustomFields {
                customer_billing_id: Field::Given(s.custom_fields.customer_billing_id.clone()),
                customer_site: Field::Given(s.custom_fields.customer_site.clone()),
                transaction_site: Field::Given(s.custom_fields.transaction_site.clone()),
                transaction_invoice_uid: Field::Given(
                    s.custom_fields.transaction_invoice_uid.clone(),
                ),
                line_tax: Field::Given(s.custom_fields.line_tax.clone()),
                from_billing: if s.custom_fields.from_billing.is_empty() {
                    Field::Absent
                } else {
                    Field::Given(
                        s.custom_fields
                            .from_billing
                            .iter()
                            .map(|(k, f)| {
                                (k.clone(), serde_json::to_value(f).unwrap_or(Value::Null))
                            })
                            .collect(),
                    )
                },
                unknown: BTreeMap::new(),
            }),
            netsuite: Field::Given(NetSuite {
                concurrency: Field::Given(Value::from(s.netsuite_concurrency as u64)),
                unknown: BTreeMap::new(),
            }),
            currencies: id_map(&s.currencies),
            unknown: BTreeMap::new(),
        }
    }
}
