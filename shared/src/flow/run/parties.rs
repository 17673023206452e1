//! The parties and things an invoice names: its NetSuite customer (found, linked, created,
//! kept in step) and items for catalog entries no mapping names.

use chrono::Utc;

use super::{Engine, EngineError, Run, Stop};
use crate::billing::model::{CatalogEntry, Invoice, Line, LineKind};
use crate::flow::build;
use crate::flow::errors::{self, FlowProblem};
use crate::flow::ids;
use crate::flow::lines::item_for;
use crate::flow::state::ErrorEntry;
use crate::netsuite::records::RecordType;
use crate::netsuite::RecordKey;
use crate::settings::{CustomerMatch, ItemCreation, ItemRef, NsId, TenantSettings};
use crate::store::CustomerLink;

impl Engine<'_> {
    /// NetSuite items for catalog entries no mapping names, created from the billing catalog
    /// (Chargebee's item mapping) once and remembered; `settings` then maps them.
    pub(super) async fn ensure_items(
        &self,
        run: &mut Run<'_>,
        lines: &[&Line],
        settings: &mut std::borrow::Cow<'_, TenantSettings>,
    ) -> Result<(), Stop> {
        let Some(creation) = settings.items.create_missing.clone() else {
            return Ok(());
        };
        let tenant = run.settings.tenant.clone();
        for line in lines {
            if !matches!(line.kind, LineKind::Product | LineKind::Component)
                || item_for(line, settings).is_ok()
            {
                continue;
            }
            let Some(entry_id) = line.price_point_id.clone() else {
                continue;
            };
            let link = match self.store.item_link(&tenant, &entry_id).await? {
                Some(link) => link,
                None => {
                    let entry = self.billing.catalog_entry(line).await.map_err(|e| {
                        Self::problem(
                            "read catalog entry",
                            FlowProblem::Billing {
                                detail: e.message,
                                retryable: e.retryable,
                            },
                        )
                    })?;
                    // No catalog entry: the line stays unmapped and planning reports it.
                    let Some(entry) = entry else { continue };
                    let income = self.income_account(&entry, &creation).await?;
                    let body = build::item(&entry, settings, &creation, &income)
                        .map_err(|p| Self::problem("create item", p))?;
                    let kind = creation.item_type.record_type();
                    let id = self
                        .netsuite
                        .create(kind, &body)
                        .await
                        .map_err(|e| Self::failed("create item", &e))?;
                    run.created.push((kind, id.clone()));
                    let link = ItemRef {
                        id: NsId::parse(&id).ok_or_else(|| {
                            Self::problem(
                                "create item",
                                FlowProblem::NoFlow(format!("NetSuite gave item id `{id}`")),
                            )
                        })?,
                        item_type: creation.item_type,
                    };
                    self.store.put_item_link(&tenant, &entry_id, &link).await?;
                    link
                }
            };
            let s = settings.to_mut();
            s.items.products.insert(entry_id.clone(), link.clone());
            s.items.components.insert(entry_id, link);
        }
        Ok(())
    }

    /// The income account for a new item: the NetSuite account whose number or name is the
    /// entry's accounting code, else the configured default.
    pub(super) async fn income_account(
        &self,
        entry: &CatalogEntry,
        creation: &ItemCreation,
    ) -> Result<NsId, Stop> {
        let step = "find income account";
        if let Some(code) = &entry.accounting_code {
            let ids = self
                .netsuite
                .accounts_named(code)
                .await
                .map_err(|e| Self::failed(step, &e))?;
            let found = ids.first().and_then(|id| NsId::parse(id));
            return found.ok_or_else(|| {
                Self::problem(
                    step,
                    FlowProblem::Mapping {
                        detail: format!(
                            "catalog entry `{}` has accounting code `{code}`, and no NetSuite account has that number or name",
                            entry.id
                        ),
                        fix: "Create the account in NetSuite or correct the accounting code in billing".into(),
                    },
                )
            });
        }
        creation.income_account.clone().ok_or_else(|| {
            Self::problem(
                step,
                FlowProblem::Mapping {
                    detail: format!("catalog entry `{}` has no accounting code", entry.id),
                    fix: "Give the entry an accounting code in billing, or set items.create_missing.income_account".into(),
                },
            )
        })
    }

    /// The NetSuite customer for the invoice's billing customer: the stored link; else the
    /// record carrying our external id; else (matching by email) one with that email and no
    /// other external id; else a new one. Adds the invoice currency when the customer lacks it.
    pub(super) async fn ensure_customer(
        &self,
        run: &mut Run<'_>,
        invoice: &Invoice,
        currency: Option<&NsId>,
    ) -> Result<String, Stop> {
        let settings = run.settings;
        let tenant = settings.tenant.as_str();
        let billing = &invoice.customer;
        let step = "find or create customer";
        let current = build::fingerprint(&build::customer_update(billing, settings));
        let mut link = self.store.customer(tenant, &billing.id).await?;
        if link.is_none() {
            let external_id = ids::customer(settings, &billing.id);
            let mut found = self.customer_by_external_id(settings, &external_id).await?;
            if found.is_none() && settings.customer_match == CustomerMatch::Email {
                if let Some(email) = billing.email.as_deref() {
                    let rows = self
                        .netsuite
                        .customers_by_email(email)
                        .await
                        .map_err(|e| Self::failed(step, &e))?;
                    let candidate = rows
                        .iter()
                        .find(|r| r.external_id.as_deref().is_none_or(|x| x == external_id));
                    if let Some(id) = candidate.map(|r| r.id.as_str()) {
                        let body = build::customer_link(billing, settings);
                        self.netsuite
                            .patch(RecordType::Customer, &RecordKey::id(id), &body, &[])
                            .await
                            .map_err(|e| Self::failed("link customer found by email", &e))?;
                        found = Some(id.to_owned());
                    }
                }
            }
            let (id, currencies) = match found {
                // An existing customer's currencies are unknown: add ours to be sure.
                Some(id) => (id, Vec::new()),
                None => {
                    // The customer's preferred currency is its primary one (Chargebee's
                    // mapping); the invoice's, when it differs, is added below.
                    let preferred = billing
                        .currency
                        .as_deref()
                        .and_then(|code| Some((settings.currency(code).ok()??, code)));
                    let (primary, code) = match preferred {
                        Some((id, code)) => (Some(id), code.to_ascii_uppercase()),
                        None => (currency, invoice.currency.clone()),
                    };
                    let body = build::customer(billing, settings, primary);
                    let id = self
                        .netsuite
                        .create(RecordType::Customer, &body)
                        .await
                        .map_err(|e| Self::failed("create customer", &e))?;
                    run.created.push((RecordType::Customer, id.clone()));
                    (id, vec![code])
                }
            };
            let new_link = CustomerLink {
                netsuite_id: id,
                currencies,
                fingerprint: Some(current.clone()),
            };
            self.store
                .put_customer(tenant, &billing.id, &new_link)
                .await?;
            link = Some(new_link);
        }
        let mut link = link.expect("set above");
        self.follow_customer(tenant, billing, &mut link, &current, settings)
            .await?;
        if let Some(cur) = currency {
            if !link
                .currencies
                .iter()
                .any(|c| c.eq_ignore_ascii_case(&invoice.currency))
            {
                self.netsuite
                    .patch(
                        RecordType::Customer,
                        &RecordKey::id(&link.netsuite_id),
                        &build::customer_currency(cur),
                        &[],
                    )
                    .await
                    .map_err(|e| Self::failed("add currency to customer", &e))?;
                link.currencies.push(invoice.currency.clone());
                self.store.put_customer(tenant, &billing.id, &link).await?;
            }
        }
        run.state.customer_id = Some(link.netsuite_id.clone());
        Ok(link.netsuite_id)
    }
    /// The NetSuite customer carrying `external_id`, if it is this tenant's to claim: one
    /// whose billing-site field names another site belongs to another tenant on the same
    /// NetSuite account (billing customer ids are only unique within a site), and claiming it
    /// would put this tenant's invoices on someone else's customer.
    async fn customer_by_external_id(
        &self,
        settings: &TenantSettings,
        external_id: &str,
    ) -> Result<Option<String>, Stop> {
        let step = "find or create customer";
        let site_field = settings.custom_fields.customer_site.as_str();
        let Some(found) = self
            .netsuite
            .find_by_external_id_with(RecordType::Customer, external_id, &[site_field])
            .await
            .map_err(|e| Self::failed(step, &e))?
        else {
            return Ok(None);
        };
        let site = found
            .fields
            .get(site_field)
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        if !site.is_empty() && site != settings.site {
            return Err(Self::problem(
                step,
                FlowProblem::Mapping {
                    detail: format!(
                        "NetSuite customer {} has external id `{external_id}` but belongs to billing site `{site}`, not `{}`",
                        found.id, settings.site
                    ),
                    fix: "Two tenants on one NetSuite account need customer external ids of their own: set prefixes.external_id to a prefix unique to this tenant (its site name, say) before its first sync, then retry".into(),
                },
            ));
        }
        Ok(Some(found.id))
    }

    /// Keeps a linked NetSuite customer in step with billing: patches it when the billing
    /// customer changed since it was last written (links from before digests were kept take
    /// the current one as written).
    pub(super) async fn follow_customer(
        &self,
        tenant: &str,
        billing: &crate::billing::model::Customer,
        link: &mut CustomerLink,
        current: &str,
        settings: &TenantSettings,
    ) -> Result<(), Stop> {
        match link.fingerprint.as_deref() {
            Some(old) if old == current => return Ok(()),
            Some(_) => {
                self.netsuite
                    .patch(
                        RecordType::Customer,
                        &RecordKey::id(&link.netsuite_id),
                        &build::customer_update(billing, settings),
                        &[],
                    )
                    .await
                    .map_err(|e| Self::failed("update customer", &e))?;
                tracing::info!(customer = %billing.id, netsuite_id = %link.netsuite_id, "customer updated from billing");
            }
            None => {}
        }
        link.fingerprint = Some(current.to_owned());
        self.store.put_customer(tenant, &billing.id, link).await?;
        Ok(())
    }

    /// A billing customer changed (Chargebee `customer_changed`): update the NetSuite customer
    /// billsync links it to. A customer with no link yet is created with its first invoice.
    /// Returns the NetSuite id when there was a record to keep in step.
    pub async fn sync_customer(
        &self,
        settings: &TenantSettings,
        customer_id: &str,
    ) -> Result<Result<Option<String>, ErrorEntry>, EngineError> {
        let tenant = settings.tenant.as_str();
        let Some(mut link) = self.store.customer(tenant, customer_id).await? else {
            return Ok(Ok(None));
        };
        let billing = match self.billing.customer(customer_id).await {
            Ok(c) => c,
            Err(e) => {
                return Ok(Err(errors::from_problem(
                    "read customer",
                    &FlowProblem::Billing {
                        detail: e.message,
                        retryable: e.retryable,
                    },
                    Utc::now(),
                )))
            }
        };
        let current = build::fingerprint(&build::customer_update(&billing, settings));
        match self
            .follow_customer(tenant, &billing, &mut link, &current, settings)
            .await
        {
            Ok(()) => Ok(Ok(Some(link.netsuite_id))),
            Err(Stop::Failed(entry)) => Ok(Err(entry)),
            // The tenant's condition: the change comes back once the tenant is resumed.
            Err(Stop::Blocked(entry)) => Ok(Err(ErrorEntry {
                retryable: true,
                ..entry
            })),
            Err(Stop::Engine(e)) => Err(e),
            Err(Stop::Waiting(..)) => Ok(Ok(Some(link.netsuite_id))),
        }
    }
}
