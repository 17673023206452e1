//! The error catalog: every failure a flow can stop on, turned into an error-log entry with
//! NetSuite's own words, a plain-language cause and a fix. It covers the Maxio guide's
//! troubleshooting table and billsync's own checks.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::lines::LineProblem;
use super::state::ErrorEntry;
use crate::billing::model::InconsistentInvoice;
use crate::netsuite::{ErrorKind, NetSuiteError};

/// Where the setup guide lists the role's permissions, for fixes that point there.
pub const PERMISSIONS_GUIDE: &str = "docs/netsuite-setup.md#3-the-role-and-its-permissions";
/// Where the setup guide explains the integration record and its credentials.
pub const CREDENTIALS_GUIDE: &str =
    "docs/netsuite-setup.md#4-the-integration-record-and-its-credentials";

/// Where an entry's problem lies, for the error log: `settings` (a mapping to add),
/// `billing` (billing's data or billing unreachable) or `netsuite` (NetSuite refused or holds
/// something a person must look at).
pub fn side(entry: &ErrorEntry) -> &'static str {
    match entry.code.as_deref() {
        Some("UNMAPPED_ITEM" | "UNMAPPED_TAX" | "UNMAPPED_VALUE") => "settings",
        Some("BILLING_READ" | "INVOICE_DOES_NOT_ADD_UP" | "NO_SYNC_FLOW" | "PENNY_CHECK") => {
            "billing"
        }
        _ => "netsuite",
    }
}

/// A problem found by billsync itself, before or instead of asking NetSuite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlowProblem {
    Lines(LineProblem),
    Inconsistent(InconsistentInvoice),
    /// The invoice fits none of the flows (e.g. a consolidated invoice without segments).
    NoFlow(String),
    /// Billing could not be read.
    Billing {
        detail: String,
        retryable: bool,
    },
    /// NetSuite holds something billsync will not change by itself (an order cancelled or
    /// closed there, a voided invoice with money applied): a person decides.
    Person {
        code: &'static str,
        detail: String,
        cause: String,
        fix: String,
    },
    /// A billing value (accounting code or category, a customer's tracking field) has no
    /// NetSuite counterpart.
    Mapping {
        detail: String,
        fix: String,
    },
}

fn entry(
    step: &str,
    code: Option<&str>,
    detail: String,
    cause: &str,
    fix: String,
    retryable: bool,
    now: DateTime<Utc>,
) -> ErrorEntry {
    ErrorEntry {
        step: step.to_owned(),
        code: code.map(str::to_owned),
        detail,
        cause: cause.to_owned(),
        fix,
        retryable,
        since: now,
    }
}

/// `Please enter value(s) for: Department.` -> `Department`.
fn missing_field(detail: &str) -> Option<String> {
    let rest =
        &detail[detail.find("Please enter value(s) for:")? + "Please enter value(s) for:".len()..];
    Some(rest.trim().trim_end_matches('.').trim().to_owned()).filter(|s| !s.is_empty())
}

/// `... reference key 1234.` -> `1234`.
fn reference_key(detail: &str, marker: &str) -> String {
    detail
        .find(marker)
        .map(|i| {
            detail[i + marker.len()..]
                .trim()
                .trim_end_matches('.')
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .unwrap_or_default()
}

/// An error-log entry for a NetSuite failure at `step`.
pub fn from_netsuite(step: &str, error: &NetSuiteError, now: DateTime<Utc>) -> ErrorEntry {
    let detail = error
        .api()
        .map(|a| a.detail())
        .unwrap_or_else(|| error.to_string());
    let code = error.code();
    let retryable = error.is_retryable();
    let e =
        |cause: &str, fix: String| entry(step, code, detail.clone(), cause, fix, retryable, now);

    if let Some(field) = missing_field(&detail) {
        let setting = match field.to_ascii_lowercase().as_str() {
            "department" => Some("transactions.department"),
            "class" => Some("transactions.class"),
            "location" => Some("transactions.location"),
            "subsidiary" | "primary subsidiary" => Some("transactions.subsidiary"),
            "account" => Some("refunds.account"),
            _ => None,
        };
        let fix = match setting {
            Some(s) => format!("Set `{s}` in the tenant settings to the {field} NetSuite should use (or make {field} optional on the transaction form), then retry."),
            None => format!("Make {field} optional on the form billsync uses (transactions.sales_order_form, or transactions.invoice_form for invoices made directly) or tell us how it should be filled, then retry."),
        };
        return e(&format!("Your NetSuite configuration requires {field} on this record and billsync did not send one."), fix);
    }
    if detail.contains("no valid open tax period")
        || detail.contains("not within an open accounting period")
        || detail.contains("not within the date range of your accounting period")
    {
        return e(
            "NetSuite has no open tax or accounting period for the transaction date.",
            "In NetSuite create or reopen the period for that date (Setup > Accounting > Manage Tax Periods, and Manage Accounting Periods), then retry.".into(),
        );
    }
    if detail.contains("reference to join for which you do not have a permission") {
        return e(
            "The token's role lacks a permission NetSuite needs for a search.",
            format!("Give the integration's role the permissions listed in {PERMISSIONS_GUIDE} (Setup > Users/Roles > Manage Roles); `billsync tenant check` names each one missing. Then retry."),
        );
    }
    if detail.contains("Invalid subsidiary reference key") {
        let key = reference_key(&detail, "reference key");
        return e(
            "The subsidiary is inactive, or the token's role cannot access it.",
            format!("In NetSuite open the token role (Setup > Users/Roles > Manage Roles), give it access to subsidiary {key} and check Allow Cross-Subsidiary Record Viewing; make sure the subsidiary is active. Then retry."),
        );
    }
    if detail.contains("Invalid entity reference key") {
        let key = reference_key(&detail, "reference key");
        return e(
            "The NetSuite customer is inactive or cannot be used from this subsidiary.",
            format!("Find customer internal id {key} in NetSuite and uncheck Inactive; in a multi-subsidiary account enable Multi-Subsidiary Customer (Setup > Company > Enable Features). Then retry."),
        );
    }
    match error.kind() {
        ErrorKind::CannotInitialize => return e(
            "NetSuite will not make this record from its source (the sales order is not fulfilled yet, or already billed or closed; or the deposit is fully applied), and holds no record with billsync's external id for it.",
            "Open the source record named in the detail in NetSuite: if it still has to ship, fulfil it; if a person billed, closed or applied it by hand, delete or void that record so billing's own can be made, then retry.".into(),
        ),
        ErrorKind::NotOpen => return e(
            "The invoice or credit this record applies to is no longer open in NetSuite (paid, credited or voided there), and NetSuite holds no record with billsync's external id for this one.",
            "Open the document named in the detail in NetSuite and see what closed it: if a payment or credit was entered by hand, delete it and retry, so the books carry billing's own record.".into(),
        ),
        _ => {}
    }
    let item_path = error.api().is_some_and(|a| {
        a.details
            .iter()
            .any(|d| d.path.as_deref().is_some_and(|p| p.starts_with("item.")))
    });
    if detail.contains("for the following field: item")
        || (code == Some("INVALID_KEY_OR_REF")
            && (item_path || detail.contains("Invalid item reference")))
    {
        return e(
            "A NetSuite item in the item mapping does not exist or cannot be used.",
            "Check the item ids in the tenant settings (items.*) against Lists > Accounting > Items, then retry.".into(),
        );
    }
    match error.kind() {
        ErrorKind::Login => e(
            "NetSuite refused the login.",
            format!("Correct the tenant's NetSuite credentials (its secret; {CREDENTIALS_GUIDE}); `billsync tenant check --tenant <tenant>` says what NetSuite refuses."),
        ),
        ErrorKind::Permission => e(
            "The integration's role lacks a permission for this record.",
            format!("Give the role the permission NetSuite names above, at the level listed in {PERMISSIONS_GUIDE}; `billsync tenant check --tenant <tenant>` lists every one missing."),
        ),
        ErrorKind::Concurrency => e(
            "NetSuite's concurrency limit for the account was reached.",
            "Nothing to do: billsync retries with backoff. If it persists, lower netsuite.concurrency or check other integrations at Setup > Integration > Integration Governance.".into(),
        ),
        ErrorKind::Server | ErrorKind::Transport => e(
            "NetSuite was unreachable or failed for a moment.",
            "Nothing to do: billsync retries with backoff.".into(),
        ),
        ErrorKind::OutcomeUnknown => e(
            "NetSuite's answer was lost and the record has no external id to look up.",
            "Check in NetSuite whether the record was created, then retry.".into(),
        ),
        ErrorKind::InvalidReference => e(
            "A record this one refers to is missing, inactive or in another subsidiary.",
            "Check the referenced record named in the detail, then retry.".into(),
        ),
        _ => e(
            "NetSuite refused the record.",
            "Read NetSuite's detail above, correct the data or settings it names, then retry.".into(),
        ),
    }
}

fn money(d: Decimal) -> String {
    d.to_string()
}

/// An error-log entry for a problem billsync found itself.
pub fn from_problem(step: &str, problem: &FlowProblem, now: DateTime<Utc>) -> ErrorEntry {
    match problem {
        FlowProblem::Lines(LineProblem::Unmapped { title, what }) => entry(
            step,
            Some("UNMAPPED_ITEM"),
            format!("line `{title}`: no NetSuite item for {what}"),
            "A billing product or component is not mapped to a NetSuite item.",
            format!("Map {what} to a NetSuite item in the tenant settings (items.products / items.components or a default), apply the settings, then retry."),
            false,
            now,
        ),
        FlowProblem::Lines(LineProblem::UnmappedTax { title, tax }) => entry(
            step,
            Some("UNMAPPED_TAX"),
            format!("line `{title}`: no NetSuite tax code for billing tax `{tax}`"),
            "The tenant maps billing taxes to NetSuite tax codes, and this tax is not mapped.",
            format!("Add `\"{tax}\": \"<tax code internal id>\"` to transactions.tax_codes in the tenant settings, apply them, then retry."),
            false,
            now,
        ),
        FlowProblem::Lines(LineProblem::PennyCheck { computed, stated }) => entry(
            step,
            Some("PENNY_CHECK"),
            format!("NetSuite lines would total {} but the billing invoice total is {} (off by {})", money(*computed), money(*stated), money(*stated - *computed)),
            "The lines billsync would send do not add up to the billing total; nothing was posted.",
            "Check the invoice's lines, discounts and taxes in billing (tax-inclusive prices, manual adjustments). Retry once billing is corrected, or report the invoice with both figures.".into(),
            false,
            now,
        ),
        FlowProblem::Lines(LineProblem::Allocation { figure, detail }) => entry(
            step,
            Some("PENNY_CHECK"),
            format!("{figure}: {detail}"),
            "The invoice's per-line figures cannot be reconciled with its total.",
            "Check the invoice in billing; retry once it is corrected.".into(),
            false,
            now,
        ),
        FlowProblem::Inconsistent(e) => entry(
            step,
            Some("INVOICE_DOES_NOT_ADD_UP"),
            e.to_string(),
            "The billing invoice's own figures do not add up; billsync never posts a mismatched transaction.",
            "Correct the invoice in billing (or report it to the billing vendor with the figures above), then retry.".into(),
            false,
            now,
        ),
        FlowProblem::NoFlow(why) => entry(
            step,
            Some("NO_SYNC_FLOW"),
            format!("No sync flow defined for this invoice: {why}"),
            "billsync could not select a sync flow for the billing invoice.",
            "Check the invoice's kind and the tenant's invoice settings; if they look right, report the invoice.".into(),
            false,
            now,
        ),
        FlowProblem::Person {
            code,
            detail,
            cause,
            fix,
        } => entry(step, Some(code), detail.clone(), cause, fix.clone(), false, now),
        FlowProblem::Mapping { detail, fix } => entry(
            step,
            Some("UNMAPPED_VALUE"),
            detail.clone(),
            "A value from billing has no NetSuite counterpart, so the record cannot be built.",
            format!("{fix}, then retry."),
            false,
            now,
        ),
        FlowProblem::Billing { detail, retryable } => entry(
            step,
            Some("BILLING_READ"),
            detail.clone(),
            "The billing system could not be read.",
            if *retryable { "Nothing to do: billsync retries with backoff.".into() } else { "Check the billing API key and site in the tenant's secret and settings, then retry.".into() },
            *retryable,
            now,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netsuite::ApiError;

    fn ns(status: u16, code: &str, detail: &str) -> NetSuiteError {
        NetSuiteError::Api(ApiError {
            status,
            title: "Bad Request".into(),
            details: vec![crate::netsuite::ErrorDetail {
                detail: detail.into(),
                code: Some(code.into()),
                path: None,
            }],
            operation: "create salesOrder".into(),
            retry_after: None,
        })
    }

    #[test]
    fn troubleshooting_table() {
        let now = Utc::now();
        let dept = from_netsuite(
            "create sales order",
            &ns(
                400,
                "USER_ERROR",
                "Error while accessing a resource. Please enter value(s) for: Department.",
            ),
            now,
        );
        assert!(dept.fix.contains("transactions.department"), "{dept:?}");
        assert!(!dept.retryable);
        let tax = from_netsuite("s", &ns(400, "USER_ERROR", "Insert Transaction failed: no valid open tax period for date 1/31/2026. Please visit Setup->Manage Tax Periods to setup a new tax period."), now);
        assert!(tax.fix.contains("Manage Tax Periods"));
        let join = from_netsuite("s", &ns(400, "USER_ERROR", "Search error occurred: Your search contains a reference to join for which you do not have a permission: customer"), now);
        assert!(join.cause.contains("permission"));
        let sub = from_netsuite(
            "s",
            &ns(
                400,
                "INVALID_KEY_OR_REF",
                "Error while accessing a resource. Invalid subsidiary reference key 3.",
            ),
            now,
        );
        assert!(
            sub.fix.contains("subsidiary 3") && sub.fix.contains("Cross-Subsidiary"),
            "{}",
            sub.fix
        );
        let ent = from_netsuite(
            "s",
            &ns(
                400,
                "INVALID_KEY_OR_REF",
                "Error while accessing a resource. Invalid entity reference key 107.",
            ),
            now,
        );
        assert!(ent.fix.contains("107") && ent.fix.contains("Inactive"));
        let busy = from_netsuite(
            "s",
            &ns(429, "CONCURRENCY_LIMIT_EXCEEDED", "over the limit"),
            now,
        );
        assert!(busy.retryable);
        let flow = from_problem(
            "plan",
            &FlowProblem::NoFlow("consolidated invoice without segments".into()),
            now,
        );
        assert_eq!(flow.code.as_deref(), Some("NO_SYNC_FLOW"));
        assert!(flow.detail.starts_with("No sync flow defined"));
    }

    fn at(mut e: NetSuiteError, path: &str) -> NetSuiteError {
        if let NetSuiteError::Api(a) = &mut e {
            a.details[0].path = Some(path.into());
        }
        e
    }

    #[test]
    fn a_used_up_source_or_closed_document_is_not_an_item_problem() {
        let now = Utc::now();
        let billed = from_netsuite(
            "create invoice from sales order",
            &ns(
                400,
                "USER_ERROR",
                "You can not initialize invoice: invalid reference 7281.",
            ),
            now,
        );
        assert!(billed.cause.contains("already billed"), "{billed:?}");
        for detail in [
            "Unable to find a matching line for sub-list apply with key: [doc,line] and value: [12345,null].",
            "Error while accessing a resource. Invalid apply reference key 12345.",
        ] {
            let paid = from_netsuite(
                "create customer payment",
                &at(ns(400, "INVALID_KEY_OR_REF", detail), "apply.items[0].doc"),
                now,
            );
            assert!(paid.cause.contains("no longer open"), "{paid:?}");
            assert!(!paid.cause.contains("item mapping"), "{paid:?}");
        }
        let item = from_netsuite(
            "create sales order",
            &at(
                ns(
                    400,
                    "INVALID_KEY_OR_REF",
                    "Error while accessing a resource. Invalid item reference key 999.",
                ),
                "item.items[0].item",
            ),
            now,
        );
        assert!(item.cause.contains("item mapping"), "{item:?}");
    }
}
