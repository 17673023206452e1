//! The account's setup as an integration meets it: the role's permissions, the accounting
//! periods and the custom fields. An account fresh from provisioning has periods but none of
//! billsync's fields; [`crate::NetSuiteSim::deploy_sdf`] adds them from the SDF project's XML
//! objects, as `suitecloud project:deploy` would.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::types::RecordType;

/// Permission levels as `rolepermissions.permlevel` gives them.
pub const VIEW: u8 = 1;
pub const CREATE: u8 = 2;
pub const EDIT: u8 = 3;
pub const FULL: u8 = 4;

/// The permission (key and the name NetSuite's refusal quotes) a record type needs.
pub(crate) fn record_permission(rt: RecordType) -> (&'static str, &'static str) {
    use RecordType::*;
    match rt {
        Customer => ("LIST_CUSTJOB", "Lists -> Customers"),
        SalesOrder => ("TRAN_SALESORD", "Transactions -> Sales Order"),
        Invoice => ("TRAN_CUSTINVC", "Transactions -> Invoice"),
        ItemFulfillment => ("TRAN_ITEMSHIP", "Transactions -> Item Fulfillment"),
        CustomerDeposit => ("TRAN_CUSTDEP", "Transactions -> Customer Deposit"),
        CustomerPayment => ("TRAN_CUSTPYMT", "Transactions -> Customer Payment"),
        CustomerRefund => ("TRAN_CUSTRFND", "Transactions -> Customer Refund"),
        CreditMemo => ("TRAN_CUSTCRED", "Transactions -> Credit Memo"),
        DepositApplication => ("TRAN_DEPAPPL", "Transactions -> Deposit Application"),
        InventoryItem | NonInventorySaleItem | ServiceSaleItem | AssemblyItem | KitItem
        | DiscountItem | DescriptionItem | OtherChargeSaleItem => ("LIST_ITEM", "Lists -> Items"),
        Subsidiary => ("LIST_SUBSIDIARY", "Lists -> Subsidiaries"),
        Department => ("LIST_DEPARTMENT", "Lists -> Departments"),
        Classification => ("LIST_CLASS", "Lists -> Classes"),
        Location => ("LIST_LOCATION", "Lists -> Locations"),
        Account => ("LIST_ACCOUNT", "Lists -> Accounts"),
        Currency => ("LIST_CURRENCY", "Lists -> Currency"),
        Term | PaymentMethod => ("ADMI_ACCOUNTINGLIST", "Setup -> Accounting Lists"),
    }
}

/// The permission a SuiteQL table needs (the Records Catalog's), besides SuiteAnalytics
/// Workbook for any query.
pub(crate) fn table_permission(table: &str) -> Option<(&'static str, &'static str)> {
    Some(match table {
        "transaction" => ("TRAN_FIND", "Transactions -> Find Transaction"),
        "customer" => record_permission(RecordType::Customer),
        "item" | "itemsubsidiarymap" => record_permission(RecordType::InventoryItem),
        "account" | "accountsubsidiarymap" => record_permission(RecordType::Account),
        "subsidiary" => record_permission(RecordType::Subsidiary),
        "currency" => record_permission(RecordType::Currency),
        "department" | "departmentsubsidiarymap" => record_permission(RecordType::Department),
        "classification" | "classificationsubsidiarymap" => {
            record_permission(RecordType::Classification)
        }
        "location" | "locationsubsidiarymap" => record_permission(RecordType::Location),
        "term" | "paymentmethod" => record_permission(RecordType::Term),
        "accountingperiod" => ("ADMI_ACCTPERIODS", "Setup -> Manage Accounting Periods"),
        "customfield" => ("ADMI_CUSTFIELD", "Setup -> Custom Fields"),
        _ => return None,
    })
}

/// Any SuiteQL query needs this.
pub(crate) const SUITEQL_PERMISSION: (&str, &str) =
    ("REPO_ANALYTICS", "Reports -> SuiteAnalytics Workbook");

/// NetSuite's refusal when the role lacks a permission (observed wording; REST status and
/// code observed in client code, not in Oracle's text).
pub(crate) fn refusal(label: &str) -> ApiError {
    ApiError::new(
        403,
        "INSUFFICIENT_PERMISSION",
        format!("{}Permission Violation: You need the '{label}' permission to access this page. Please contact your account administrator.", crate::error::PREFIX),
    )
}

/// One accounting period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountingPeriod {
    pub id: u64,
    pub name: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub closed: bool,
    /// A/R locked: sales transactions may not post in it.
    pub ar_locked: bool,
}

impl AccountingPeriod {
    /// Whether a sales transaction dated `d` is refused by this period.
    pub(crate) fn refuses(&self, d: NaiveDate) -> bool {
        self.start <= d && d <= self.end && (self.closed || self.ar_locked)
    }
}

/// Monthly posting periods, all open, from January of `first_year` to December of `last_year`.
pub(crate) fn monthly_periods(first_year: i32, last_year: i32) -> Vec<AccountingPeriod> {
    let mut out = Vec::new();
    for year in first_year..=last_year {
        for month in 1..=12 {
            let start = NaiveDate::from_ymd_opt(year, month, 1).expect("a valid month");
            let next = if month == 12 {
                NaiveDate::from_ymd_opt(year + 1, 1, 1)
            } else {
                NaiveDate::from_ymd_opt(year, month + 1, 1)
            }
            .expect("a valid month");
            out.push(AccountingPeriod {
                id: out.len() as u64 + 1,
                name: format!("{} {}", start.format("%b"), start.year()),
                start,
                end: next.pred_opt().expect("a day before"),
                closed: false,
                ar_locked: false,
            });
        }
    }
    out
}

/// Where a custom field sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// `custentity_`: entities (customers).
    Entity,
    /// `custbody_`: transaction bodies.
    Body,
    /// `custcol_`: transaction lines.
    Column,
}

impl FieldKind {
    /// `customfield.fieldtype`.
    pub(crate) fn code(self) -> &'static str {
        match self {
            FieldKind::Entity => "ENTITY",
            FieldKind::Body => "BODY",
            FieldKind::Column => "COLUMN",
        }
    }
}

/// A custom field as the account holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomField {
    pub script_id: String,
    pub label: String,
    pub kind: FieldKind,
    /// The SDF field type (`TEXT`, `CURRENCY`, `DATE`, ...).
    pub field_type: String,
    /// Records whose REST metadata shows the field (`customer`, `salesOrder`, `invoice`, ...).
    pub applies_to: Vec<String>,
}

impl CustomField {
    /// `customfield.fieldvaluetype`: the type as the UI names it.
    pub(crate) fn value_type(&self) -> &str {
        match self.field_type.as_str() {
            "TEXT" => "Free-Form Text",
            "CURRENCY" => "Currency",
            "DATE" => "Date",
            "CHECKBOX" => "Check Box",
            "INTEGER" => "Integer Number",
            "SELECT" => "List/Record",
            other => other,
        }
    }
}

/// Which records an SDF applies-to flag puts a field on.
const APPLIES_TO: &[(&str, &[&str])] = &[
    ("appliestocustomer", &["customer"]),
    ("bodysale", &["salesOrder", "invoice", "creditMemo"]),
    ("bodycustomerpayment", &["customerPayment"]),
    ("colsale", &["salesOrder", "invoice", "creditMemo"]),
];

/// Reads the custom fields of an SDF project's `Objects` folder: entity, transaction body and
/// transaction column fields (other objects are skipped).
pub fn custom_fields_from_sdf(objects: &Path) -> Result<Vec<CustomField>, String> {
    let mut files: Vec<_> = std::fs::read_dir(objects)
        .map_err(|e| format!("{}: {e}", objects.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if let Some(field) =
            custom_field_from_xml(&text).map_err(|e| format!("{}: {e}", path.display()))?
        {
            out.push(field);
        }
    }
    Ok(out)
}

/// One SDF object as a custom field; `None` for objects of other kinds.
pub fn custom_field_from_xml(text: &str) -> Result<Option<CustomField>, String> {
    let doc = roxmltree::Document::parse(text).map_err(|e| format!("not well-formed XML: {e}"))?;
    let root = doc.root_element();
    let kind = match root.tag_name().name() {
        "entitycustomfield" => FieldKind::Entity,
        "transactionbodycustomfield" => FieldKind::Body,
        "transactioncolumncustomfield" => FieldKind::Column,
        _ => return Ok(None),
    };
    let child = |name: &str| {
        root.children()
            .find(|n| n.has_tag_name(name))
            .and_then(|n| n.text())
            .map(str::trim)
    };
    let script_id = root.attribute("scriptid").ok_or("no scriptid")?;
    let mut applies_to: Vec<String> = APPLIES_TO
        .iter()
        .filter(|(flag, _)| child(flag) == Some("T"))
        .flat_map(|(_, records)| records.iter().map(|r| r.to_string()))
        .collect();
    applies_to.sort();
    applies_to.dedup();
    Ok(Some(CustomField {
        script_id: script_id.to_owned(),
        label: child("label").unwrap_or_default().to_owned(),
        kind,
        field_type: child("fieldtype").unwrap_or("TEXT").to_owned(),
        applies_to,
    }))
}

/// The SDF objects of billsync's project (`infra/netsuite`), built in.
pub(crate) const BILLSYNC_SDF_OBJECTS: &[&str] = &[
    include_str!("../../../infra/netsuite/src/Objects/custentity_billsync_customer_id.xml"),
    include_str!("../../../infra/netsuite/src/Objects/custentity_billsync_site.xml"),
    include_str!("../../../infra/netsuite/src/Objects/custbody_billsync_site.xml"),
    include_str!("../../../infra/netsuite/src/Objects/custbody_billsync_invoice_uid.xml"),
    include_str!("../../../infra/netsuite/src/Objects/custcol_billsync_line_tax.xml"),
    include_str!("../../../infra/netsuite/src/Objects/custcol_billsync_rev_start.xml"),
    include_str!("../../../infra/netsuite/src/Objects/custcol_billsync_rev_end.xml"),
];

/// The custom fields billsync's SDF project creates: an account set up for the sync has them.
pub fn billsync_fields() -> Vec<CustomField> {
    BILLSYNC_SDF_OBJECTS
        .iter()
        .filter_map(|text| custom_field_from_xml(text).ok().flatten())
        .collect()
}

/// The role's permissions: `None` grants everything (an administrator-like role, the
/// default), else each key's level.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Role {
    pub(crate) levels: Option<BTreeMap<String, u8>>,
}

impl Role {
    pub(crate) fn level(&self, key: &str) -> u8 {
        match &self.levels {
            None => FULL,
            Some(levels) => levels.get(key).copied().unwrap_or(0),
        }
    }

    /// Refuses unless the role has `key` at `level` at least.
    pub(crate) fn require(&self, (key, label): (&str, &str), level: u8) -> Result<(), ApiError> {
        if self.level(key) >= level {
            Ok(())
        } else {
            Err(refusal(label))
        }
    }
}

/// A record's REST metadata (`GET /record/v1/metadata-catalog/<record>`, JSON schema): the
/// standard fields billsync reads and the custom fields that apply to the record, body fields
/// as properties and line fields under the item sublist's definition.
pub(crate) fn metadata(record: &str, fields: &[CustomField]) -> serde_json::Value {
    use serde_json::{json, Map, Value};
    let property = |f: &CustomField| {
        let ty = match f.field_type.as_str() {
            "CURRENCY" | "INTEGER" | "FLOAT" | "PERCENT" => "number",
            "CHECKBOX" => "boolean",
            _ => "string",
        };
        let mut p = json!({"title": f.label, "type": ty, "x-ns-custom-field": true});
        if f.field_type == "DATE" {
            p["format"] = json!("date");
        }
        p
    };
    let applies = |f: &&CustomField| f.applies_to.iter().any(|r| r == record);
    let mut body = Map::new();
    body.insert(
        "id".into(),
        json!({"type": "string", "title": "Internal ID"}),
    );
    body.insert(
        "externalId".into(),
        json!({"type": "string", "title": "External ID"}),
    );
    let mut lines = Map::new();
    for f in fields.iter().filter(applies) {
        match f.kind {
            FieldKind::Column => lines.insert(f.script_id.clone(), property(f)),
            FieldKind::Entity | FieldKind::Body => body.insert(f.script_id.clone(), property(f)),
        };
    }
    json!({
        "type": "object",
        "properties": Value::Object(body),
        "definitions": {
            format!("{record}-itemElement"): {"type": "object", "properties": Value::Object(lines)}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_fields_are_every_field_of_the_sdf_project() {
        let dir = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../infra/netsuite/src/Objects"
        ));
        let mut from_disk = custom_fields_from_sdf(dir).unwrap();
        let mut built_in = billsync_fields();
        from_disk.sort_by(|a, b| a.script_id.cmp(&b.script_id));
        built_in.sort_by(|a, b| a.script_id.cmp(&b.script_id));
        assert_eq!(built_in, from_disk);
        assert_eq!(built_in.len(), 7);
    }

    #[test]
    fn periods_refuse_only_their_own_closed_days() {
        let mut periods = monthly_periods(2026, 2026);
        assert_eq!(periods.len(), 12);
        assert_eq!(
            periods[1].end,
            NaiveDate::from_ymd_opt(2026, 2, 28).unwrap()
        );
        periods[1].closed = true;
        let day = |m, d| NaiveDate::from_ymd_opt(2026, m, d).unwrap();
        assert!(periods.iter().any(|p| p.refuses(day(2, 14))));
        assert!(!periods.iter().any(|p| p.refuses(day(3, 1))));
    }
}
