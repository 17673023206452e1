//! Setting a tenant up: `netsuite ids` (what a settings document can refer to), `tenant
//! setup` (what billsync creates in NetSuite) and the preflight's report.

use billsync::flow::setup::{set_up, Made, SetupRequest};
use billsync::netsuite::preflight::{declared_type, Severity};
use billsync::netsuite::{NetSuiteClient, NetSuiteError};
use billsync::service::preflight::TenantCheck;
use serde::Serialize;
use serde_json::{json, Map, Value};

/// One list of `netsuite ids`: what it is, where its ids go in the settings, the records.
#[derive(Debug, Clone, Serialize)]
pub struct IdSection {
    pub title: &'static str,
    pub setting: &'static str,
    pub rows: Vec<IdRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IdRow {
    pub id: String,
    pub name: String,
    /// The item type to declare, the currency code, the account number.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// What each list asks: title, settings key, SuiteQL, and how a row reads.
struct Question {
    title: &'static str,
    setting: &'static str,
    query: &'static str,
    name: &'static str,
    note: fn(&Map<String, Value>) -> String,
}

fn col(row: &Map<String, Value>, key: &str) -> String {
    row.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

const QUESTIONS: &[Question] = &[
    Question { title: "subsidiaries", setting: "transactions.subsidiary", query: "SELECT id, name FROM subsidiary WHERE isinactive = 'F' ORDER BY id", name: "name", note: |_| String::new() },
    Question { title: "currencies", setting: "currencies.<ISO code>", query: "SELECT id, name, symbol FROM currency WHERE isinactive = 'F' ORDER BY id", name: "name", note: |r| col(r, "symbol") },
    Question { title: "bank accounts", setting: "payments.account, refunds.account, payments.gateway_accounts", query: "SELECT id, acctnumber, fullname FROM account WHERE isinactive = 'F' AND (accttype = 'Bank' OR accttype = 'OthCurrAsset') ORDER BY id", name: "fullname", note: |r| col(r, "acctnumber") },
    Question { title: "accounts receivable", setting: "refunds.ar_account", query: "SELECT id, acctnumber, fullname FROM account WHERE isinactive = 'F' AND accttype = 'AcctRec' ORDER BY id", name: "fullname", note: |r| col(r, "acctnumber") },
    Question { title: "income accounts", setting: "items.create_missing.income_account, tenant setup --tax-account", query: "SELECT id, acctnumber, fullname FROM account WHERE isinactive = 'F' AND accttype = 'Income' ORDER BY id", name: "fullname", note: |r| col(r, "acctnumber") },
    Question { title: "items", setting: "items.* (declare the type shown)", query: "SELECT id, itemid, itemtype FROM item WHERE isinactive = 'F' ORDER BY id", name: "itemid", note: |r| {
        let code = col(r, "itemtype");
        match declared_type(&code) {
            Some(t) => format!("type {t}"),
            None => format!("{code}: not for invoice lines"),
        }
    } },
    Question { title: "tax codes", setting: "transactions.tax_codes, transactions.untaxed_code", query: "SELECT id, itemid, itemtype FROM item WHERE isinactive = 'F' AND (itemtype = 'TaxItem' OR itemtype = 'TaxGroup') ORDER BY id", name: "itemid", note: |r| col(r, "itemtype") },
    Question { title: "departments", setting: "transactions.department", query: "SELECT id, name FROM department WHERE isinactive = 'F' ORDER BY id", name: "name", note: |_| String::new() },
    Question { title: "classes", setting: "transactions.class", query: "SELECT id, name FROM classification WHERE isinactive = 'F' ORDER BY id", name: "name", note: |_| String::new() },
    Question { title: "locations", setting: "transactions.location", query: "SELECT id, name FROM location WHERE isinactive = 'F' ORDER BY id", name: "name", note: |_| String::new() },
    Question { title: "terms", setting: "transactions.terms", query: "SELECT id, name FROM term WHERE isinactive = 'F' ORDER BY id", name: "name", note: |_| String::new() },
    Question { title: "payment methods", setting: "payments.payment_method", query: "SELECT id, name FROM paymentmethod WHERE isinactive = 'F' ORDER BY id", name: "name", note: |_| String::new() },
];

/// Lists what a settings document refers to. A list the role may not read is reported in
/// its place (the rest still print).
pub async fn netsuite_ids(client: &NetSuiteClient) -> Result<Vec<IdSection>, NetSuiteError> {
    let mut out = Vec::new();
    for q in QUESTIONS {
        let mut rows = Vec::new();
        let mut offset = 0;
        loop {
            let page = match client.suiteql_page(q.query, 1000, offset).await {
                Ok(p) => p,
                Err(e) if e.kind() == billsync::netsuite::ErrorKind::Permission => {
                    rows.push(IdRow {
                        id: "-".into(),
                        name: format!("(the role may not read these: {e})"),
                        note: String::new(),
                    });
                    break;
                }
                Err(e) => return Err(e),
            };
            offset += page.items.len() as u64;
            rows.extend(page.items.iter().map(|r| IdRow {
                id: col(r, "id"),
                name: col(r, q.name),
                note: (q.note)(r),
            }));
            if !page.has_more || page.items.is_empty() {
                break;
            }
        }
        out.push(IdSection {
            title: q.title,
            setting: q.setting,
            rows,
        });
    }
    Ok(out)
}

/// The lists as text, one block each.
pub fn render_ids(sections: &[IdSection]) -> String {
    let mut out = String::new();
    for s in sections {
        out.push_str(&format!("{} ({})\n", s.title, s.setting));
        if s.rows.is_empty() {
            out.push_str("  (none)\n");
        }
        for r in &s.rows {
            out.push_str(&format!("  {:>6}  {}", r.id, r.name));
            if !r.note.is_empty() {
                out.push_str(&format!("  [{}]", r.note));
            }
            out.push('\n');
        }
    }
    out.push_str("transaction forms (transactions.sales_order_form): NetSuite lists them at Customization > Forms > Transaction Forms; leave it empty for the preferred form\n");
    out
}

/// Runs setup for a settings document and writes the ids into it. The document need not be
/// complete yet (its discount item and payment method are what this fills in).
pub async fn tenant_setup(
    client: &NetSuiteClient,
    doc: &mut Value,
    tax_item_account: Option<String>,
) -> Result<Vec<Made>, String> {
    let tenant = doc["tenant"]
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or("the settings document needs `tenant` first")?
        .to_owned();
    let namespace = doc["prefixes"]["external_id"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("bs-{tenant}"));
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let request = SetupRequest {
        namespace,
        subsidiary: text(&doc["transactions"]["subsidiary"]),
        payment_instruments: doc["payments"]["payment_instruments"] == json!(true),
        tax_item_account,
    };
    let made = set_up(client, &request).await.map_err(|e| e.to_string())?;
    for m in &made {
        let (section, key) = m.setting.split_once('.').expect("section.key");
        if !doc[section].is_object() {
            doc[section] = json!({});
        }
        doc[section][key] = if key == "tax_item" {
            json!({"id": m.id, "type": "non_inventory"})
        } else {
            json!(m.id)
        };
    }
    Ok(made)
}

/// The preflight's report as text: problems first, each with its fix, then a summary.
pub fn render_check(check: &TenantCheck) -> String {
    let mut out = String::new();
    for f in &check.findings {
        let mark = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        out.push_str(&format!(
            "{mark:<7} [{}] {}: {}\n        fix: {}\n",
            f.area, f.subject, f.problem, f.fix
        ));
    }
    let errors = check.errors();
    let warnings = check.findings.len() - errors;
    out.push_str(&format!(
        "tenant {}: {} check(s) passed, {errors} error(s), {warnings} warning(s){}\n",
        check.tenant,
        check.passed,
        if errors == 0 {
            ": ready to sync"
        } else {
            ": fix the errors above, then run the check again"
        }
    ));
    if let Some(r) = &check.resumed {
        out.push_str(&format!(
            "the tenant was paused; it is resumed and {} held invoice(s) are queued again\n",
            r.queued
        ));
    }
    out
}
