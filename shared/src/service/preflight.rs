//! `billsync tenant check`: the preflight of one tenant with its stored secret. NetSuite
//! (credentials, permissions, every referenced id, custom fields, the period; see
//! [`crate::netsuite::preflight`]) and billing (the API key and site, webhooks arriving), every
//! problem at once with its fix. A clean check resumes a paused tenant.

use chrono::{DateTime, NaiveDate, Utc};
use futures::StreamExt;
use serde::Serialize;

use super::pause::ResumeReport;
use super::{ServiceError, Services};
use crate::billing::model::{CatalogEntry, CatalogKind};
use crate::netsuite::preflight::{check_netsuite, Finding, Severity};
use crate::netsuite::NetSuiteClient;
use crate::settings::TenantSettings;

/// A webhook older than this is worth a look.
const QUIET_WEBHOOKS_DAYS: i64 = 7;

/// What the preflight found.
#[derive(Clone, Debug, Serialize)]
pub struct TenantCheck {
    pub tenant: String,
    pub findings: Vec<Finding>,
    /// Checks that passed.
    pub passed: usize,
    /// The tenant was paused and the clean check resumed it.
    pub resumed: Option<ResumeReport>,
}

impl TenantCheck {
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }
}

/// Where `webhook_base` is the webhook endpoint's base (`https://.../webhooks` on AWS, the
/// local `billsync serve` address otherwise), for the URL to register.
pub struct CheckOptions<'a> {
    pub today: NaiveDate,
    pub webhook_base: &'a str,
    /// Resume the tenant when nothing is wrong (the stored settings were checked).
    pub resume: bool,
}

/// Checks `settings` (stored or about to be applied) with the tenant's stored secret.
pub async fn check_tenant(
    services: &Services,
    settings: &TenantSettings,
    options: &CheckOptions<'_>,
) -> Result<TenantCheck, ServiceError> {
    let tenant = settings.tenant.as_str();
    let secret = services.secrets.tenant_secret(tenant).await?;
    let mut config = secret.netsuite_config()?;
    // A preflight reports what it sees rather than sitting through a retry schedule.
    config.retry.max_attempts = 2;
    config.request_timeout = std::time::Duration::from_secs(30);
    let client = NetSuiteClient::new(config)?;
    let ns = check_netsuite(&client, settings, options.today).await;
    let mut findings = ns.findings;
    let mut passed = ns.passed;
    let url = format!(
        "{}/{tenant}/{}",
        options.webhook_base.trim_end_matches('/'),
        settings.source.as_str()
    );
    match billing_reachable(settings, &secret).await {
        Ok(catalog) => {
            passed += 1;
            let unmapped = unmapped(settings, &catalog);
            passed += catalog.len() - unmapped.len();
            findings.extend(unmapped);
        }
        Err(message) => findings.push(Finding {
            severity: Severity::Error,
            area: "billing",
            subject: "api key".into(),
            problem: format!("{} refused or failed: {message}", settings.source.as_str()),
            fix: format!(
                "check the billing API key in the tenant's secret and that `site` is `{}` ({})",
                settings.site, "docs/netsuite-setup.md#9-billing-side"
            ),
        }),
    }
    match external_id_clash(services, settings).await? {
        None => passed += 1,
        Some(problem) => findings.push(Finding {
            severity: Severity::Error,
            area: "netsuite",
            subject: "prefixes.external_id".into(),
            problem,
            fix: "choose a prefix unique to this tenant before its first sync (docs/netsuite-setup.md)".into(),
        }),
    }
    let location = services.secrets.webhook_secret_location(tenant);
    let shape = match settings.source {
        crate::billing::model::Source::Maxio => r#"{"webhook_key": "..."}"#,
        crate::billing::model::Source::Chargebee => {
            r#"{"webhook_username": "...", "webhook_password": "..."}"#
        }
    };
    let webhook_fix = format!("put {shape} in {location} (docs/deploy.md#tenant-secrets)");
    match services.secrets.webhook_secret(tenant).await {
        Ok(w) if w.missing_for(settings.source).is_empty() => passed += 1,
        Ok(w) => findings.push(Finding {
            severity: Severity::Error,
            area: "billing",
            subject: "webhook secret".into(),
            problem: format!(
                "{location} lacks {}: every webhook is refused with 401",
                w.missing_for(settings.source).join(", ")
            ),
            fix: webhook_fix,
        }),
        Err(crate::secrets::SecretError::NotFound(_)) => findings.push(Finding {
            severity: Severity::Error,
            area: "billing",
            subject: "webhook secret".into(),
            problem: format!("{location} does not exist: every webhook is refused with 401"),
            fix: webhook_fix,
        }),
        Err(e) => findings.push(Finding {
            severity: Severity::Error,
            area: "billing",
            subject: "webhook secret".into(),
            problem: format!("{location} cannot be read: {e}"),
            fix: webhook_fix,
        }),
    }
    let last = services.store.last_webhook(tenant).await?;
    let last = last.and_then(|t| DateTime::parse_from_rfc3339(&t).ok());
    let register = format!(
        "register {url} as the webhook endpoint in {} ({})",
        settings.source.as_str(),
        "docs/netsuite-setup.md#9-billing-side"
    );
    match last {
        None => findings.push(Finding {
            severity: Severity::Warning,
            area: "billing",
            subject: "webhooks".into(),
            problem: "no webhook has arrived yet: only the two-hourly sweep will sync".into(),
            fix: register,
        }),
        Some(at)
            if Utc::now() - at.with_timezone(&Utc)
                > chrono::Duration::days(QUIET_WEBHOOKS_DAYS) =>
        {
            findings.push(Finding {
                severity: Severity::Warning,
                area: "billing",
                subject: "webhooks".into(),
                problem: format!(
                    "the last webhook arrived {}",
                    at.format("%Y-%m-%d %H:%M UTC")
                ),
                fix: format!("if billing was busy since, check the endpoint: {register}"),
            })
        }
        Some(_) => passed += 1,
    }
    findings.sort_by_key(|f| f.severity);
    let mut check = TenantCheck {
        tenant: tenant.to_owned(),
        findings,
        passed,
        resumed: None,
    };
    if options.resume && check.errors() == 0 && services.pause(tenant).await?.is_some() {
        check.resumed = Some(services.resume_tenant(tenant).await?);
    }
    Ok(check)
}

/// Another tenant of this deployment whose NetSuite external ids could be `settings`'s (see
/// [`crate::flow::ids::namespaces_overlap`]), as a sentence saying what to change.
pub async fn external_id_clash(
    services: &Services,
    settings: &TenantSettings,
) -> Result<Option<String>, ServiceError> {
    for other in services.store.tenants().await? {
        if other == settings.tenant {
            continue;
        }
        let Some(theirs) = services.store.settings(&other).await? else {
            continue;
        };
        if crate::flow::ids::namespaces_overlap(settings, &theirs) {
            return Ok(Some(format!(
                "tenant {}'s NetSuite external ids could be tenant {other}'s (namespaces `{}` and `{}`): set prefixes.external_id to a prefix no other tenant starts with",
                settings.tenant,
                crate::flow::ids::namespace(settings),
                crate::flow::ids::namespace(&theirs)
            )));
        }
    }
    Ok(None)
}

/// One page of the source's events proves the API key and the site; then the catalog is
/// read (where the source maps items by catalog id).
async fn billing_reachable(
    settings: &TenantSettings,
    secret: &crate::secrets::TenantSecret,
) -> Result<Vec<CatalogEntry>, String> {
    let billing = crate::billing::connect(settings.source, &settings.site, &secret.billing)
        .map_err(|e| e.to_string())?;
    let mut pages = billing.event_pages(None, settings.sync_start_date);
    if let Some(Err(e)) = pages.next().await {
        return Err(e.message);
    }
    Ok(billing
        .catalog()
        .await
        .map_err(|e| e.message)?
        .unwrap_or_default())
}

/// Catalog entries no mapping names: every invoice line billed from them would stop at
/// "map invoice lines".
fn unmapped(settings: &TenantSettings, catalog: &[CatalogEntry]) -> Vec<Finding> {
    if settings.items.create_missing.is_some() {
        return Vec::new();
    }
    catalog
        .iter()
        .filter(|e| match e.kind {
            CatalogKind::Product => !settings.items.products.contains_key(&e.id),
            CatalogKind::Component => !settings.items.components.contains_key(&e.id),
        })
        .map(|e| {
            let (kind, map) = match e.kind {
                CatalogKind::Component => ("component", "items.components"),
                _ => ("product", "items.products"),
            };
            Finding {
                severity: Severity::Error,
                area: "billing",
                subject: format!("{map}.{}", e.id),
                problem: format!(
                    "{kind} {} ({}) is not mapped to a NetSuite item: invoices billing it would stop",
                    e.id, e.name
                ),
                fix: format!(
                    "add \"{}\": {{\"id\": \"<item id>\", \"type\": \"<type>\"}} to `{map}` (`billsync netsuite ids` lists the items and their types)",
                    e.id
                ),
            }
        })
        .collect()
}
