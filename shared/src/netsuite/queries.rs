//! The SuiteQL billsync asks, each as a typed question: the query text lives here and nowhere
//! else, and every value from outside is quoted as a SuiteQL string.

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};
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

/// A transaction billsync may have written, with what reconcile compares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionRow {
    pub id: String,
    pub external_id: String,
    /// SuiteQL's type code: `CustInvc`, `CustPymt`, `CustDep`, `CustRfnd`, `CustCred`.
    pub code: String,
    pub date: Option<NaiveDate>,
    /// The amount in the transaction's currency, without sign (SuiteQL signs some types).
    pub total: Decimal,
    /// What is still open (invoices) or unapplied (credit memos).
    pub remaining: Option<Decimal>,
    /// The currency's internal id.
    pub currency: Option<String>,
    /// When it last changed, on the integration user's clock (see [`NetSuiteClient::account_clock`]).
    pub modified: Option<NaiveDateTime>,
}

/// The transaction types billsync writes that carry money.
const MONEY_TYPES: &str = "('CustInvc', 'CustPymt', 'CustDep', 'CustRfnd', 'CustCred')";

/// The columns of [`TransactionRow`], dates formatted so no account preference changes them.
const TRANSACTION_COLUMNS: &str =
    "SELECT id, externalid, type, TO_CHAR(trandate, 'YYYY-MM-DD') AS day, \
     foreigntotal, foreignamountremaining, currency, \
     TO_CHAR(lastmodifieddate, 'YYYY-MM-DD HH24:MI:SS') AS modified FROM transaction";

/// External ids per `IN` list: well under SuiteQL's query length limit.
const IN_LIST: usize = 200;

fn transaction_row(r: &Map<String, Value>) -> Option<TransactionRow> {
    Some(TransactionRow {
        id: string(r, "id")?,
        external_id: string(r, "externalid")?,
        code: string(r, "type")?,
        date: string(r, "day").and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()),
        total: money(r, "foreigntotal").unwrap_or_default().abs(),
        remaining: money(r, "foreignamountremaining").map(|d| d.abs()),
        currency: string(r, "currency"),
        modified: string(r, "modified")
            .and_then(|d| NaiveDateTime::parse_from_str(&d, "%Y-%m-%d %H:%M:%S").ok()),
    })
}

impl NetSuiteClient {
    /// Invoice `id`'s total and amount remaining as NetSuite shows them now (one record read,
    /// not SuiteQL, so a write just made is seen); `None` when NetSuite does not show both.
    pub async fn invoice_figures(
        &self,
        id: &str,
    ) -> Result<Option<(Decimal, Decimal)>, NetSuiteError> {
        use super::client::GetOptions;
        use super::records::RecordType;
        let shown: Value = self
            .get_with(
                RecordType::Invoice,
                &super::RecordKey::id(id),
                &GetOptions {
                    fields: vec!["total".into(), "amountRemaining".into()],
                    ..Default::default()
                },
            )
            .await?;
        let amount = |k: &str| {
            shown
                .get(k)
                .and_then(|v| v.to_string().trim_matches('"').parse::<Decimal>().ok())
        };
        Ok(amount("total").zip(amount("amountRemaining")))
    }

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

    /// Money transactions whose external id starts with `prefix` and whose date falls from
    /// `from` to `to`, every page, in id order.
    pub async fn transactions_dated(
        &self,
        prefix: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<TransactionRow>, NetSuiteError> {
        let q = format!(
            "{TRANSACTION_COLUMNS} WHERE externalid LIKE {} AND type IN {MONEY_TYPES} \
             AND trandate >= TO_DATE('{}', 'YYYY-MM-DD') AND trandate <= TO_DATE('{}', 'YYYY-MM-DD') \
             ORDER BY id",
            text(&format!("{prefix}%")),
            from.format("%Y-%m-%d"),
            to.format("%Y-%m-%d")
        );
        self.transaction_rows(q).await
    }

    /// The money transactions with these external ids, whatever their date.
    pub async fn transactions_with_external_ids(
        &self,
        external_ids: &[String],
    ) -> Result<Vec<TransactionRow>, NetSuiteError> {
        let mut out = Vec::new();
        for chunk in external_ids.chunks(IN_LIST) {
            let list: Vec<String> = chunk.iter().map(|e| text(e)).collect();
            let q = format!(
                "{TRANSACTION_COLUMNS} WHERE externalid IN ({}) AND type IN {MONEY_TYPES} ORDER BY id",
                list.join(", ")
            );
            out.extend(self.transaction_rows(q).await?);
        }
        Ok(out)
    }

    /// Every row of a [`TRANSACTION_COLUMNS`] query, pages of the largest size.
    async fn transaction_rows(&self, q: String) -> Result<Vec<TransactionRow>, NetSuiteError> {
        use futures::TryStreamExt;
        let rows: Vec<Map<String, Value>> = self.suiteql(q, SUITEQL_MAX_PAGE).try_collect().await?;
        Ok(rows.iter().filter_map(transaction_row).collect())
    }

    /// The time now on the clock SuiteQL shows datetimes by (the integration user's time
    /// zone), to read `lastmodifieddate` against.
    pub async fn account_clock(&self) -> Result<Option<NaiveDateTime>, NetSuiteError> {
        let page = self
            .suiteql_page(
                "SELECT TO_CHAR(SYSDATE, 'YYYY-MM-DD HH24:MI:SS') AS now FROM dual",
                1,
                0,
            )
            .await?;
        Ok(page
            .items
            .first()
            .and_then(|r| string(r, "now"))
            .and_then(|d| NaiveDateTime::parse_from_str(&d, "%Y-%m-%d %H:%M:%S").ok()))
    }

    /// Currency codes by internal id (SuiteQL's `currency.symbol` is the ISO code).
    pub async fn currency_codes(&self) -> Result<HashMap<String, String>, NetSuiteError> {
        let page = self
            .suiteql_page(
                "SELECT id, symbol FROM currency ORDER BY id",
                SUITEQL_MAX_PAGE,
                0,
            )
            .await?;
        Ok(page
            .items
            .iter()
            .filter_map(|r| Some((string(r, "id")?, string(r, "symbol")?)))
            .collect())
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
