//! The NetSuite half of the preflight (`billsync tenant check`): everything a tenant's
//! settings need from the account, checked before the first invoice is tried, every problem
//! listed at once with its fix. Nothing in NetSuite changes: permissions are proved by reads
//! and new-record forms, ids and fields by SuiteQL and the metadata catalog.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::{Map, Value};

use super::check::diagnose;
use super::client::NetSuiteClient;
use super::error::{ErrorKind, NetSuiteError};
use super::permissions::{Level, Permission, Probe, REQUIRED};
use super::records::{ItemType, RecordType};
use crate::settings::{NsId, TenantSettings};

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Syncing will fail (or post wrongly) until it is fixed.
    Error,
    /// Worth a look; syncing may work.
    Warning,
}

/// One problem the preflight found, with what to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// `credentials`, `permission`, `settings`, `custom field`, `period`, `preference`,
    /// `billing`.
    pub area: &'static str,
    /// What it is about: a permission key, a settings path, a field's script id.
    pub subject: String,
    pub problem: String,
    pub fix: String,
}

impl Finding {
    fn error(area: &'static str, subject: impl Into<String>, problem: String, fix: String) -> Self {
        Finding {
            severity: Severity::Error,
            area,
            subject: subject.into(),
            problem,
            fix,
        }
    }

    fn warning(
        area: &'static str,
        subject: impl Into<String>,
        problem: String,
        fix: String,
    ) -> Self {
        Finding {
            severity: Severity::Warning,
            ..Finding::error(area, subject, problem, fix)
        }
    }
}

/// What the NetSuite checks found, and how many checks passed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NetSuiteReport {
    pub findings: Vec<Finding>,
    pub passed: usize,
}

impl NetSuiteReport {
    fn ok(&mut self) {
        self.passed += 1;
    }

    fn add(&mut self, f: Finding) {
        self.findings.push(f);
    }
}

/// Runs every NetSuite check for `settings` as of `today`.
pub async fn check_netsuite(
    client: &NetSuiteClient,
    settings: &TenantSettings,
    today: NaiveDate,
) -> NetSuiteReport {
    let mut report = NetSuiteReport::default();
    match client.check().await {
        Ok(()) => report.ok(),
        // A refused read of customers is the permissions part's to name.
        Err(e) if !matches!(e.kind(), ErrorKind::Login | ErrorKind::Transport) => {}
        Err(e) => {
            // Nothing else can be asked: every request would be refused the same way.
            let advice = diagnose(
                &e,
                client.auth_method(),
                client.account_id().realm(),
                client.account_id().is_sandbox(),
                "NetSuite",
            );
            report.add(Finding::error(
                "credentials",
                "login",
                advice.headline,
                format!(
                    "{} (docs/netsuite-setup.md#4-the-integration-record-and-its-credentials)",
                    advice.hints.join("; ")
                ),
            ));
            return report;
        }
    }
    let refused = permissions(client, &mut report).await;
    let ask = Ask {
        client,
        refused: &refused,
    };
    references(&ask, settings, &mut report).await;
    custom_fields(&ask, settings, &mut report).await;
    period(&ask, today, &mut report).await;
    preferences(&ask, settings, &mut report).await;
    report
}

/// Proves each permission billsync's role needs (no settings required): what `billsync
/// netsuite check` adds to the login.
pub async fn check_permissions(client: &NetSuiteClient) -> NetSuiteReport {
    let mut report = NetSuiteReport::default();
    permissions(client, &mut report).await;
    report
}

/// The permission a refusal names ("You need the 'Lists -> Items' permission"), if it is one
/// of billsync's.
fn named_permission(e: &NetSuiteError) -> Option<&'static Permission> {
    let detail = e.api()?.detail();
    let start = detail.find("You need the '")? + "You need the '".len();
    let name = &detail[start..start + detail[start..].find('\'')?];
    let name = name.replace("->", ">");
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    REQUIRED.iter().find(|p| p.name == name)
}

/// Proves each permission; returns the keys found missing (their findings are added).
async fn permissions(
    client: &NetSuiteClient,
    report: &mut NetSuiteReport,
) -> BTreeSet<&'static str> {
    let mut missing: BTreeSet<&'static str> = BTreeSet::new();
    for needed in REQUIRED {
        let result = match needed.probe {
            Probe::Record(rt) if needed.level == Level::View => {
                client.list(rt, 1, 0).await.map(drop)
            }
            Probe::Record(rt) => client.create_form(rt).await,
            Probe::Table(table) => client
                .suiteql_page(&format!("SELECT * FROM {table}"), 1, 0)
                .await
                .map(drop),
            Probe::Login | Probe::Unchecked => continue,
        };
        match result {
            Ok(()) => report.ok(),
            Err(e) if e.kind() == ErrorKind::Permission => {
                // A query refused for SuiteAnalytics Workbook says so: blame that, once.
                let blamed = named_permission(&e).unwrap_or(needed);
                if missing.insert(blamed.key) {
                    report.add(missing_permission(blamed));
                }
            }
            Err(e) => report.add(Finding::warning(
                "permission",
                needed.key,
                format!("could not verify {} ({}): {e}", needed.name, needed.key),
                "run the check again; if it persists, look at the error NetSuite gave".into(),
            )),
        }
    }
    missing
}

fn missing_permission(p: &Permission) -> Finding {
    let (section, name) = p.name.split_once(" > ").unwrap_or(("", p.name));
    Finding::error(
        "permission",
        p.key,
        format!(
            "the role lacks {} ({}) at {}: billsync {}",
            p.name,
            p.key,
            p.level.word(),
            p.why
        ),
        format!(
            "Setup > Users/Roles > Manage Roles > the integration's role > Permissions > {section}: add \"{name}\" at level {} (docs/netsuite-setup.md#3-the-role-and-its-permissions)",
            p.level.word()
        ),
    )
}

/// SuiteQL questions, skipping those the role may not ask (already reported).
struct Ask<'a> {
    client: &'a NetSuiteClient,
    refused: &'a BTreeSet<&'static str>,
}

type Row = Map<String, Value>;

impl Ask<'_> {
    /// Rows of a query, or `None` when its permission is known to be missing or it failed
    /// (a failure becomes a warning).
    async fn rows(
        &self,
        needs: &str,
        query: String,
        report: &mut NetSuiteReport,
    ) -> Option<Vec<Row>> {
        if self.refused.contains(needs) || self.refused.contains("REPO_ANALYTICS") {
            return None;
        }
        let mut rows = Vec::new();
        let mut offset = 0;
        loop {
            match self.client.suiteql_page(&query, 1000, offset).await {
                Ok(page) => {
                    offset += page.items.len() as u64;
                    let more = page.has_more && !page.items.is_empty();
                    rows.extend(page.items);
                    if !more {
                        return Some(rows);
                    }
                }
                Err(e) => {
                    report.add(Finding::warning(
                        "settings",
                        needs,
                        format!("could not read from NetSuite: {e}"),
                        "run the check again; if it persists, look at the error NetSuite gave"
                            .into(),
                    ));
                    return None;
                }
            }
        }
    }
}

fn text<'r>(row: &'r Row, key: &str) -> &'r str {
    row.get(key).and_then(Value::as_str).unwrap_or("")
}

fn yes(row: &Row, key: &str) -> bool {
    text(row, key) == "T"
}

/// `id = 1 OR id = 2 ...` for ids (digits only, so nothing needs quoting).
fn any_id(column: &str, ids: &BTreeSet<&str>) -> String {
    ids.iter()
        .map(|id| format!("{column} = {id}"))
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// One referenced record: the settings path that names it and what it must be.
struct Reference<'s> {
    path: String,
    id: &'s NsId,
}

/// Checks ids of one table: each exists, is active, passes `kind`, and (for tables with a
/// subsidiary map) belongs to the tenant's subsidiary.
#[allow(clippy::too_many_arguments)]
async fn check_table(
    ask: &Ask<'_>,
    report: &mut NetSuiteReport,
    table: &str,
    permission: &str,
    label: &str,
    columns: &str,
    refs: &[Reference<'_>],
    subsidiary_map: Option<(&str, &str)>,
    subsidiary: Option<&NsId>,
    kind: impl Fn(&Reference<'_>, &Row) -> Option<(String, String)>,
) {
    if refs.is_empty() {
        return;
    }
    let ids: BTreeSet<&str> = refs.iter().map(|r| r.id.as_str()).collect();
    let Some(rows) = ask
        .rows(
            permission,
            format!("SELECT {columns} FROM {table} WHERE {}", any_id("id", &ids)),
            report,
        )
        .await
    else {
        return;
    };
    let by_id: BTreeMap<&str, &Row> = rows.iter().map(|r| (text(r, "id"), r)).collect();
    let mut usable: BTreeSet<&str> = BTreeSet::new();
    for r in refs {
        let Some(row) = by_id.get(r.id.as_str()) else {
            report.add(Finding::error(
                "settings",
                &r.path,
                format!(
                    "{} {} does not exist in NetSuite (or the role cannot see it)",
                    label, r.id
                ),
                format!("set `{}` to an id `billsync netsuite ids` lists", r.path),
            ));
            continue;
        };
        if yes(row, "isinactive") {
            report.add(Finding::error(
                "settings",
                &r.path,
                format!("{label} {} is inactive", r.id),
                format!(
                    "reactivate it in NetSuite or set `{}` to an active one",
                    r.path
                ),
            ));
            continue;
        }
        if let Some((problem, fix)) = kind(r, row) {
            report.add(Finding::error("settings", &r.path, problem, fix));
            continue;
        }
        usable.insert(r.id.as_str());
        report.ok();
    }
    let (Some((map, column)), Some(sub)) = (subsidiary_map, subsidiary) else {
        return;
    };
    if usable.is_empty() {
        return;
    }
    let Some(rows) = ask
        .rows(
            permission,
            format!(
                "SELECT {column} FROM {map} WHERE subsidiary = {sub} AND ({})",
                any_id(column, &usable)
            ),
            report,
        )
        .await
    else {
        return;
    };
    let in_subsidiary: BTreeSet<&str> = rows.iter().map(|r| text(r, column)).collect();
    for r in refs.iter().filter(|r| usable.contains(r.id.as_str())) {
        if !in_subsidiary.contains(r.id.as_str()) {
            report.add(Finding::error(
                "settings",
                &r.path,
                format!("{label} {} is not available in subsidiary {sub}", r.id),
                format!(
                    "add subsidiary {sub} to {label} {} in NetSuite (or check Include Children on a parent), or pick one of that subsidiary",
                    r.id
                ),
            ));
        }
    }
}

/// NetSuite's item type codes for a declared type: the declared type decides the flow
/// (inventory, assembly and kit items wait for fulfilment).
fn item_codes(t: ItemType) -> &'static [&'static str] {
    match t {
        ItemType::Inventory => &["InvtPart"],
        ItemType::NonInventory => &["NonInvtPart", "OthCharge"],
        ItemType::Service => &["Service"],
        ItemType::Assembly => &["Assembly"],
        ItemType::Kit => &["Kit"],
        ItemType::Discount => &["Discount"],
    }
}

/// The declared type (settings `type`) NetSuite's item type code stands for; `None` for items
/// that are not invoice lines (tax, subtotal, description, ...).
pub fn declared_type(code: &str) -> Option<&'static str> {
    Some(match code {
        "InvtPart" => "inventory",
        "NonInvtPart" | "OthCharge" => "non_inventory",
        "Service" => "service",
        "Assembly" => "assembly",
        "Kit" => "kit",
        "Discount" => "discount",
        _ => return None,
    })
}

async fn references(ask: &Ask<'_>, s: &TenantSettings, report: &mut NetSuiteReport) {
    let sub = s.subsidiary.as_ref();
    if let Some(id) = sub {
        let refs = [Reference {
            path: "transactions.subsidiary".into(),
            id,
        }];
        check_table(ask, report, "subsidiary", "LIST_SUBSIDIARY", "subsidiary", "id, isinactive, iselimination", &refs, None, None, |r, row| {
            yes(row, "iselimination").then(|| (
                format!("subsidiary {} is an elimination subsidiary, which takes no sales transactions", r.id),
                "set `transactions.subsidiary` to an operating subsidiary".into(),
            ))
        })
        .await;
    }

    let currencies: Vec<(String, Reference)> = s
        .currencies
        .iter()
        .map(|(code, id)| {
            (
                code.clone(),
                Reference {
                    path: format!("currencies.{code}"),
                    id,
                },
            )
        })
        .collect();
    let codes: BTreeMap<String, String> = currencies
        .iter()
        .map(|(code, r)| (r.path.clone(), code.clone()))
        .collect();
    let refs: Vec<Reference> = currencies.into_iter().map(|(_, r)| r).collect();
    check_table(
        ask,
        report,
        "currency",
        "LIST_CURRENCY",
        "currency",
        "id, symbol, isinactive",
        &refs,
        None,
        None,
        |r, row| {
            let code = codes.get(&r.path)?;
            let symbol = text(row, "symbol");
            (!symbol.eq_ignore_ascii_case(code)).then(|| {
                (
                    format!("currency {} in NetSuite is {symbol}, not {code}", r.id),
                    format!("set `{}` to NetSuite's {code} currency", r.path),
                )
            })
        },
    )
    .await;

    // Accounts: what each setting must be.
    let mut accounts: Vec<(Reference, &'static [&'static str])> = Vec::new();
    const BANK: &[&str] = &["Bank", "OthCurrAsset"];
    if let Some(id) = &s.payment_account {
        accounts.push((
            Reference {
                path: "payments.account".into(),
                id,
            },
            BANK,
        ));
    }
    accounts.push((
        Reference {
            path: "refunds.account".into(),
            id: &s.refund_account,
        },
        BANK,
    ));
    if let Some(id) = &s.refund_ar_account {
        accounts.push((
            Reference {
                path: "refunds.ar_account".into(),
                id,
            },
            &["AcctRec"],
        ));
    }
    for (key, id) in &s.gateway_accounts {
        accounts.push((
            Reference {
                path: format!("payments.gateway_accounts.{key}"),
                id,
            },
            BANK,
        ));
    }
    if let Some(id) = s
        .items
        .create_missing
        .as_ref()
        .and_then(|c| c.income_account.as_ref())
    {
        accounts.push((
            Reference {
                path: "items.create_missing.income_account".into(),
                id,
            },
            &["Income", "OthIncome", "DeferRevenue"],
        ));
    }
    let wanted: BTreeMap<String, &'static [&'static str]> =
        accounts.iter().map(|(r, t)| (r.path.clone(), *t)).collect();
    let refs: Vec<Reference> = accounts.into_iter().map(|(r, _)| r).collect();
    check_table(
        ask,
        report,
        "account",
        "LIST_ACCOUNT",
        "account",
        "id, accttype, isinactive",
        &refs,
        Some(("accountsubsidiarymap", "account")),
        sub,
        |r, row| {
            let types = wanted.get(&r.path)?;
            let actual = text(row, "accttype");
            (!types.contains(&actual)).then(|| {
                (
                    format!(
                        "account {} is of type {actual}; `{}` needs {}",
                        r.id,
                        r.path,
                        types.join(" or ")
                    ),
                    format!(
                        "set `{}` to an account of type {}",
                        r.path,
                        types.join(" or ")
                    ),
                )
            })
        },
    )
    .await;

    // Items, with the type each is declared as.
    let mut items: Vec<(Reference, Option<ItemType>)> = Vec::new();
    for (key, item) in &s.items.products {
        items.push((
            Reference {
                path: format!("items.products.{key}"),
                id: &item.id,
            },
            Some(item.item_type),
        ));
    }
    for (key, item) in &s.items.components {
        items.push((
            Reference {
                path: format!("items.components.{key}"),
                id: &item.id,
            },
            Some(item.item_type),
        ));
    }
    for (name, item) in [
        ("custom_default", &s.items.custom_default),
        ("setup_default", &s.items.setup_default),
        ("other_default", &s.items.other_default),
    ] {
        if let Some(item) = item {
            items.push((
                Reference {
                    path: format!("items.{name}"),
                    id: &item.id,
                },
                Some(item.item_type),
            ));
        }
    }
    items.push((
        Reference {
            path: "items.tax_item".into(),
            id: &s.items.tax_item.id,
        },
        Some(s.items.tax_item.item_type),
    ));
    items.push((
        Reference {
            path: "items.discount_item".into(),
            id: &s.items.discount_item,
        },
        Some(ItemType::Discount),
    ));
    let declared: BTreeMap<String, Option<ItemType>> =
        items.iter().map(|(r, t)| (r.path.clone(), *t)).collect();
    let refs: Vec<Reference> = items.into_iter().map(|(r, _)| r).collect();
    check_table(ask, report, "item", "LIST_ITEM", "item", "id, itemid, itemtype, isinactive", &refs, Some(("itemsubsidiarymap", "item")), sub, |r, row| {
        let declared = (*declared.get(&r.path)?)?;
        let code = text(row, "itemtype");
        if item_codes(declared).contains(&code) {
            return None;
        }
        let name = text(row, "itemid");
        let really = declared_type(code).unwrap_or(code);
        let consequence = match (declared, really) {
            (ItemType::Service | ItemType::NonInventory | ItemType::Discount, "inventory" | "assembly" | "kit") =>
                " (billsync would invoice it without waiting for fulfilment)",
            (ItemType::Inventory | ItemType::Assembly | ItemType::Kit, _) =>
                " (billsync would wait for a fulfilment that never comes)",
            _ => "",
        };
        Some((
            format!("item {} ({name}) is of type {really} in NetSuite but declared `{}`{consequence}", r.id, serde_json::to_value(declared).ok()?.as_str()?),
            if declared == ItemType::Discount {
                "set `items.discount_item` to a discount item (`billsync tenant setup` creates one)".into()
            } else {
                format!("set the `type` of `{}` to `{really}`, or map it to another item", r.path)
            },
        ))
    })
    .await;

    for (table, map, permission, label, path, id) in [
        (
            "department",
            Some(("departmentsubsidiarymap", "department")),
            "LIST_DEPARTMENT",
            "department",
            "transactions.department",
            s.department.as_ref(),
        ),
        (
            "classification",
            Some(("classificationsubsidiarymap", "classification")),
            "LIST_CLASS",
            "class",
            "transactions.class",
            s.class.as_ref(),
        ),
        (
            "location",
            Some(("locationsubsidiarymap", "location")),
            "LIST_LOCATION",
            "location",
            "transactions.location",
            s.location.as_ref(),
        ),
        (
            "term",
            None,
            "ADMI_ACCOUNTINGLIST",
            "term",
            "transactions.terms",
            s.terms.as_ref(),
        ),
        (
            "paymentmethod",
            None,
            "ADMI_ACCOUNTINGLIST",
            "payment method",
            "payments.payment_method",
            s.payment_method.as_ref(),
        ),
    ] {
        let Some(id) = id else { continue };
        let refs = [Reference {
            path: path.into(),
            id,
        }];
        check_table(
            ask,
            report,
            table,
            permission,
            label,
            "id, isinactive",
            &refs,
            map,
            sub,
            |_, _| None,
        )
        .await;
    }
}

/// A custom field billsync writes: its settings path, script id, kind and value type.
fn wanted_fields(s: &TenantSettings) -> Vec<(String, String, &'static str, &'static str)> {
    let cf = &s.custom_fields;
    let mut out = vec![
        (
            "custom_fields.customer_billing_id".to_owned(),
            cf.customer_billing_id.clone(),
            "ENTITY",
            "Free-Form Text",
        ),
        (
            "custom_fields.customer_site".to_owned(),
            cf.customer_site.clone(),
            "ENTITY",
            "Free-Form Text",
        ),
        (
            "custom_fields.transaction_site".to_owned(),
            cf.transaction_site.clone(),
            "BODY",
            "Free-Form Text",
        ),
        (
            "custom_fields.transaction_invoice_uid".to_owned(),
            cf.transaction_invoice_uid.clone(),
            "BODY",
            "Free-Form Text",
        ),
        (
            "custom_fields.line_tax".to_owned(),
            cf.line_tax.clone(),
            "COLUMN",
            "Currency",
        ),
    ];
    if let Some(rr) = &s.revenue_recognition {
        out.push((
            "invoices.revenue_recognition.start_field".into(),
            rr.start_field.clone(),
            "COLUMN",
            "Date",
        ));
        out.push((
            "invoices.revenue_recognition.end_field".into(),
            rr.end_field.clone(),
            "COLUMN",
            "Date",
        ));
    }
    out
}

async fn custom_fields(ask: &Ask<'_>, s: &TenantSettings, report: &mut NetSuiteReport) {
    let wanted = wanted_fields(s);
    let filter = wanted
        .iter()
        .map(|(_, id, _, _)| {
            format!(
                "UPPER(scriptid) = '{}'",
                id.to_ascii_uppercase().replace('\'', "''")
            )
        })
        .collect::<Vec<_>>()
        .join(" OR ");
    let Some(rows) = ask
        .rows(
            "ADMI_CUSTFIELD",
            format!("SELECT scriptid, fieldtype, fieldvaluetype FROM customfield WHERE {filter}"),
            report,
        )
        .await
    else {
        return;
    };
    let by_id: BTreeMap<String, &Row> = rows
        .iter()
        .map(|r| (text(r, "scriptid").to_ascii_uppercase(), r))
        .collect();
    let deploy = "deploy infra/netsuite with the SuiteCloud CLI, or create it by hand (docs/netsuite-setup.md#2-custom-fields-and-the-integration-role-sdf)".to_string();
    let mut present = Vec::new();
    for (path, id, kind, value_type) in &wanted {
        let Some(row) = by_id.get(&id.to_ascii_uppercase()) else {
            report.add(Finding::error(
                "custom field",
                id.as_str(),
                format!("custom field {id} (`{path}`) does not exist in NetSuite"),
                deploy.clone(),
            ));
            continue;
        };
        let (actual_kind, actual_type) = (text(row, "fieldtype"), text(row, "fieldvaluetype"));
        let same_type = actual_type.eq_ignore_ascii_case(value_type);
        if actual_kind != *kind || (!same_type && KNOWN_VALUE_TYPES.contains(&actual_type)) {
            report.add(Finding::error(
                "custom field",
                id.as_str(),
                format!("custom field {id} is a {actual_kind} field of type {actual_type}; billsync writes a {kind} field of type {value_type}"),
                format!("recreate {id} as a {value_type} {kind} field, or set `{path}` to one"),
            ));
            continue;
        }
        if !same_type {
            // A type name this check does not know: NetSuite's wording is not documented.
            report.add(Finding::warning(
                "custom field",
                id.as_str(),
                format!("custom field {id} has type \"{actual_type}\", which this check cannot compare with {value_type}"),
                format!("check in NetSuite that {id} is a {value_type} field"),
            ));
        }
        present.push((id.clone(), *kind));
    }
    // Applies-to: the record's metadata shows a custom field only where it applies; line fields
    // under the item sublist's element, when the schema describes it.
    let mut on: Vec<(RecordType, BTreeSet<String>, Option<BTreeSet<String>>)> = Vec::new();
    for rt in [
        RecordType::Customer,
        RecordType::SalesOrder,
        RecordType::Invoice,
    ] {
        if !present.iter().any(|(_, k)| appears_on(k, rt)) {
            continue;
        }
        match ask.client.metadata(rt).await {
            Ok(schema) => {
                let props = |v: &Value| -> BTreeSet<String> {
                    v.get("properties")
                        .and_then(Value::as_object)
                        .map(|m| m.keys().map(|k| k.to_ascii_lowercase()).collect())
                        .unwrap_or_default()
                };
                let lines = schema
                    .get("definitions")
                    .and_then(|d| d.get(format!("{}-itemElement", rt.as_str())))
                    .map(props);
                on.push((rt, props(&schema), lines));
            }
            Err(e) => report.add(Finding::warning(
                "custom field",
                rt.as_str(),
                format!(
                    "could not read the {rt} metadata to see where the custom fields apply: {e}"
                ),
                "run the check again".into(),
            )),
        }
    }
    for (id, kind) in &present {
        let mut missing_on = Vec::new();
        let mut unknown_on = Vec::new();
        for (rt, body, lines) in on.iter().filter(|(rt, _, _)| appears_on(kind, *rt)) {
            let seen = if *kind == "COLUMN" {
                lines.as_ref()
            } else {
                Some(body)
            };
            match seen {
                Some(fields) if fields.contains(&id.to_ascii_lowercase()) => {}
                Some(_) => missing_on.push(rt.as_str()),
                None => unknown_on.push(rt.as_str()),
            }
        }
        if !unknown_on.is_empty() {
            report.add(Finding::warning(
                "custom field",
                id.as_str(),
                format!("the {} metadata does not describe its item lines, so where {id} applies is not verified", unknown_on.join(", ")),
                format!("check that {id} has \"Applies To: Sale Item\" in NetSuite"),
            ));
        }
        if missing_on.is_empty() {
            report.ok();
        } else {
            let flag = match *kind {
                "ENTITY" => "Applies To: Customer",
                "COLUMN" => "Applies To: Sale Item",
                _ => "Applies To: Sale",
            };
            report.add(Finding::error(
                "custom field",
                id.as_str(),
                format!(
                    "custom field {id} does not apply to {} (or the role cannot see it there)",
                    missing_on.join(", ")
                ),
                format!("open {id} in NetSuite and check \"{flag}\" (the SDF project sets it)"),
            ));
        }
    }
}

/// `customfield.fieldvaluetype` names a mismatch is reported for; another name is only a
/// warning, since NetSuite does not document the list.
const KNOWN_VALUE_TYPES: &[&str] = &[
    "Free-Form Text",
    "Currency",
    "Date",
    "Date/Time",
    "Check Box",
    "Integer Number",
    "Decimal Number",
    "Percent",
    "List/Record",
    "Multiple Select",
    "Long Text",
    "Text Area",
    "Email Address",
    "Phone Number",
    "Hyperlink",
];

/// Whether a field of `kind` (ENTITY, BODY, COLUMN) belongs on `rt`'s form.
fn appears_on(kind: &str, rt: RecordType) -> bool {
    match rt {
        RecordType::Customer => kind == "ENTITY",
        _ => kind != "ENTITY",
    }
}

async fn period(ask: &Ask<'_>, today: NaiveDate, report: &mut NetSuiteReport) {
    let day = today.format("%Y-%m-%d");
    let Some(rows) = ask
        .rows(
            "ADMI_ACCTPERIODS",
            format!(
                "SELECT id, periodname, closed, arlocked, alllocked FROM accountingperiod \
                 WHERE isposting = 'T' AND isquarter = 'F' AND isyear = 'F' AND isadjust = 'F' \
                 AND startdate <= TO_DATE('{day}', 'YYYY-MM-DD') AND enddate >= TO_DATE('{day}', 'YYYY-MM-DD')"
            ),
            report,
        )
        .await
    else {
        return;
    };
    let Some(row) = rows.first() else {
        report.add(Finding::warning(
            "period",
            day.to_string(),
            format!("no accounting period covers today ({day})"),
            "if the account uses accounting periods, create this year's at Setup > Accounting > Manage Accounting Periods".into(),
        ));
        return;
    };
    let name = text(row, "periodname");
    let state = if yes(row, "closed") {
        Some("closed")
    } else if yes(row, "alllocked") || yes(row, "arlocked") {
        Some("locked for A/R")
    } else {
        None
    };
    match state {
        None => report.ok(),
        Some(state) => report.add(Finding::error(
            "period",
            name,
            format!("the current accounting period {name} is {state}: NetSuite refuses invoices and payments dated today"),
            format!("reopen {name} (or unlock A/R) at Setup > Accounting > Manage Accounting Periods, or sync after the next period opens"),
        )),
    }
}

async fn preferences(ask: &Ask<'_>, s: &TenantSettings, report: &mut NetSuiteReport) {
    // NetSuite gives an integration no way to read "Make Departments/Classes/Locations
    // Mandatory"; when the account uses the segment and the settings leave it empty, say so.
    for (table, permission, label, path, set) in [
        (
            "department",
            "LIST_DEPARTMENT",
            "Departments",
            "transactions.department",
            s.department.is_some(),
        ),
        (
            "classification",
            "LIST_CLASS",
            "Classes",
            "transactions.class",
            s.class.is_some(),
        ),
        (
            "location",
            "LIST_LOCATION",
            "Locations",
            "transactions.location",
            s.location.is_some(),
        ),
    ] {
        if set {
            continue;
        }
        let Some(rows) = ask
            .rows(
                permission,
                format!("SELECT id FROM {table} WHERE isinactive = 'F'"),
                report,
            )
            .await
        else {
            continue;
        };
        if !rows.is_empty() {
            report.add(Finding::warning(
                "preference",
                path,
                format!("the account has {label} but `{path}` is empty; if Accounting Preferences make {label} mandatory, every invoice will fail"),
                format!("check Setup > Accounting > Accounting Preferences > Make {label} Mandatory; if it is on, set `{path}` (NetSuite does not let an integration read that preference)"),
            ));
        }
    }
}
