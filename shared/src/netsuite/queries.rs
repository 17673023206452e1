//! The SuiteQL billsync asks, each as a typed question: the query text lives here and nowhere
//! else, and every value from outside is quoted as a SuiteQL string.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::client::{NetSuiteClient, SUITEQL_MAX_PAGE};
use super::NetSuiteError;

/// `s` as a SuiteQL string literal.
fn text(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn string(row: &Map<String, Value>, key: &str) -> Option<String> {
    row.get(key)?.as_str().map(str::to_owned)
}

/// An amount as SuiteQL gives it (text or a number), read as the record service's are.
fn money(row: &Map<String, Value>, key: &str) -> Option<Decimal> {
    super::money::deserialize(row.get(key)?).ok()
}

/// A customer found by email.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerRow {
    pub id: String,
    pub external_id: Option<String>,
}

/// An invoice's own figures, in its currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvoiceFigures {
    pub id: String,
    pub external_id: String,
    pub total: Decimal,
    pub remaining: Decimal,
}

/// One page of an answer, and whether more follow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rows<T> {
    pub rows: Vec<T>,
    /// Rows NetSuite returned, including any that did not read as `T`.
    pub read: usize,
    pub has_more: bool,
}

impl NetSuiteClient {
    /// The ids of accounts whose number is `code` or whose name is `code` (any case), lowest
    /// first; at most two, enough to tell one from several.
    pub async fn accounts_named(&self, code: &str) -> Result<Vec<String>, NetSuiteError> {
        let q = format!(
            "SELECT id FROM account WHERE acctnumber = {code} OR LOWER(accountsearchdisplaynamecopy) = LOWER({code}) OR LOWER(accountsearchdisplayname) = LOWER({code}) ORDER BY id",
            code = text(code)
        );
        let page = self.suiteql_page(&q, 2, 0).await?;
        Ok(page.items.iter().filter_map(|r| string(r, "id")).collect())
    }

    /// Customers whose email is `email` (any case), lowest id first; at most ten.
    pub async fn customers_by_email(&self, email: &str) -> Result<Vec<CustomerRow>, NetSuiteError> {
        let q = format!(
            "SELECT id, externalid FROM customer WHERE LOWER(email) = LOWER({}) ORDER BY id",
            text(email)
        );
        let page = self.suiteql_page(&q, 10, 0).await?;
        Ok(page
            .items
            .iter()
            .filter_map(|r| {
                Some(CustomerRow {
                    id: string(r, "id")?,
                    external_id: string(r, "externalid"),
                })
            })
            .collect())
    }

    /// Invoices whose external id starts with `prefix` and that changed on or after `since`,
    /// a page of the largest size from `offset`, in id order.
    pub async fn invoices_changed_since(
        &self,
        prefix: &str,
        since: NaiveDate,
        offset: u64,
    ) -> Result<Rows<InvoiceFigures>, NetSuiteError> {
        let q = format!(
            "SELECT id, externalid, foreigntotal, foreignamountremaining FROM transaction \
             WHERE type = 'CustInvc' AND externalid LIKE {} \
             AND lastmodifieddate >= TO_DATE('{}', 'YYYY-MM-DD') ORDER BY id",
            text(&format!("{prefix}%")),
            since.format("%Y-%m-%d")
        );
        let page = self.suiteql_page(&q, SUITEQL_MAX_PAGE, offset).await?;
        Ok(Rows {
            rows: page
                .items
                .iter()
                .filter_map(|r| {
                    Some(InvoiceFigures {
                        id: string(r, "id")?,
                        external_id: string(r, "externalid")?,
                        total: money(r, "foreigntotal")?,
                        remaining: money(r, "foreignamountremaining").unwrap_or_default(),
                    })
                })
                .collect(),
            read: page.items.len(),
            has_more: page.has_more,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quote_in_a_value_stays_inside_its_literal() {
        assert_eq!(text("o'brien@example.com"), "'o''brien@example.com'");
        assert_eq!(text("x' OR '1'='1"), "'x'' OR ''1''=''1'");
    }
}
