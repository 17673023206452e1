//! The permissions billsync's NetSuite role needs, each with its level, why, and how the
//! preflight (`billsync tenant check`) proves the role has it. The SDF role in
//! `infra/netsuite` and the table in docs/netsuite-setup.md list the same (tests hold them
//! together).

use super::records::RecordType;

/// A permission level as NetSuite orders them (`rolepermissions.permlevel`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    View = 1,
    Create = 2,
    Edit = 3,
    Full = 4,
}

impl Level {
    /// The word SDF and the role page use.
    pub fn word(self) -> &'static str {
        match self {
            Level::View => "VIEW",
            Level::Create => "CREATE",
            Level::Edit => "EDIT",
            Level::Full => "FULL",
        }
    }
}

/// How the preflight proves a permission without changing anything in NetSuite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// View: one page of the record list. Create and above: the record's new-record form
    /// (`POST` with `Accept: ...; type=create-form`), which NetSuite answers only for a role
    /// that may create the record, and which saves nothing. Edit itself cannot be proved
    /// without changing a record.
    Record(RecordType),
    /// A SuiteQL query on the table (View).
    Table(&'static str),
    /// Proved by any accepted request (the login permissions, REST Web Services).
    Login,
    /// Not proved by the preflight (the record is optional for billsync).
    Unchecked,
}

/// One permission of the role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permission {
    /// NetSuite's permission key (`permkey`).
    pub key: &'static str,
    /// Where the role page shows it: section and name.
    pub name: &'static str,
    pub level: Level,
    pub why: &'static str,
    pub probe: Probe,
}

const fn p(
    key: &'static str,
    name: &'static str,
    level: Level,
    why: &'static str,
    probe: Probe,
) -> Permission {
    Permission {
        key,
        name,
        level,
        why,
        probe,
    }
}

use Level::*;
use Probe::*;

/// Every permission billsync's role needs, at the least level that works.
pub const REQUIRED: &[Permission] = &[
    p(
        "TRAN_SALESORD",
        "Transactions > Sales Order",
        Edit,
        "creates sales orders and closes their lines when billing voids an invoice",
        Record(RecordType::SalesOrder),
    ),
    p(
        "TRAN_CUSTINVC",
        "Transactions > Invoice",
        Edit,
        "bills sales orders into invoices (transform) and reads their open balance",
        Record(RecordType::Invoice),
    ),
    p(
        "TRAN_CUSTPYMT",
        "Transactions > Customer Payment",
        Edit,
        "creates one payment per billing transaction and extends its apply list",
        Record(RecordType::CustomerPayment),
    ),
    p(
        "TRAN_CUSTCRED",
        "Transactions > Credit Memo",
        Edit,
        "creates credit memos for credit notes and void reversals, and applies them",
        Record(RecordType::CreditMemo),
    ),
    p(
        "TRAN_CUSTDEP",
        "Transactions > Customer Deposit",
        Create,
        "books payments received before an inventory order is billed",
        Record(RecordType::CustomerDeposit),
    ),
    p(
        "TRAN_DEPAPPL",
        "Transactions > Deposit Application",
        Create,
        "applies those deposits to the invoice",
        Record(RecordType::DepositApplication),
    ),
    p(
        "TRAN_CUSTRFND",
        "Transactions > Customer Refund",
        Create,
        "creates refunds",
        Record(RecordType::CustomerRefund),
    ),
    p(
        "TRAN_ITEMSHIP",
        "Transactions > Item Fulfillment",
        View,
        "reads whether an inventory order has shipped",
        Record(RecordType::ItemFulfillment),
    ),
    p(
        "TRAN_FIND",
        "Transactions > Find Transaction",
        View,
        "finds its own records and reads NetSuite's totals back (SuiteQL on transactions)",
        Table("transaction"),
    ),
    p(
        "LIST_CUSTJOB",
        "Lists > Customers",
        Edit,
        "creates customers and keeps their name, email and currencies in step",
        Record(RecordType::Customer),
    ),
    p(
        "LIST_ITEM",
        "Lists > Items",
        Create,
        "reads mapped items; `tenant setup` creates the discount item",
        Record(RecordType::DiscountItem),
    ),
    p(
        "LIST_ACCOUNT",
        "Lists > Accounts",
        View,
        "checks the bank and A/R accounts settings name",
        Table("account"),
    ),
    p(
        "LIST_CURRENCY",
        "Lists > Currency",
        View,
        "checks the currencies settings map",
        Table("currency"),
    ),
    p(
        "LIST_SUBSIDIARY",
        "Lists > Subsidiaries",
        View,
        "checks the subsidiary and what belongs to it",
        Table("subsidiary"),
    ),
    p(
        "LIST_DEPARTMENT",
        "Lists > Departments",
        View,
        "checks the department settings name",
        Table("department"),
    ),
    p(
        "LIST_CLASS",
        "Lists > Classes",
        View,
        "checks the class settings name",
        Table("classification"),
    ),
    p(
        "LIST_LOCATION",
        "Lists > Locations",
        View,
        "checks the location settings name",
        Table("location"),
    ),
    p(
        "LIST_TAXITEM",
        "Lists > Tax Records",
        View,
        "lets `netsuite ids` list tax codes for `tax_codes`",
        Unchecked,
    ),
    p(
        "ADMI_ACCOUNTINGLIST",
        "Setup > Accounting Lists",
        Create,
        "reads terms and payment methods; `tenant setup` creates the payment method",
        Record(RecordType::PaymentMethod),
    ),
    p(
        "ADMI_ACCTPERIODS",
        "Setup > Manage Accounting Periods",
        View,
        "checks that the current accounting period is open",
        Table("accountingperiod"),
    ),
    p(
        "ADMI_CUSTFIELD",
        "Setup > Custom Fields",
        View,
        "checks that billsync's custom fields exist with the right type",
        Table("customfield"),
    ),
    p(
        "ADMI_RESTWEBSERVICES",
        "Setup > REST Web Services",
        Full,
        "every request goes through REST web services",
        Login,
    ),
    p(
        "ADMI_LOGIN_OAUTH",
        "Setup > Log in using Access Tokens",
        Full,
        "token-based authentication (TBA) logins",
        Login,
    ),
    p(
        "ADMI_LOGIN_OAUTH2",
        "Setup > Log in using OAuth 2.0 Access Tokens",
        Full,
        "OAuth 2.0 machine-to-machine logins",
        Login,
    ),
    p(
        "REPO_ANALYTICS",
        "Reports > SuiteAnalytics Workbook",
        View,
        "SuiteQL queries",
        Table("transaction"),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(path: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(path)
    }

    fn level(word: &str) -> Option<Level> {
        [View, Create, Edit, Full]
            .into_iter()
            .find(|l| l.word() == word)
    }

    #[test]
    fn the_sdf_role_grants_every_permission_at_its_level() {
        let text = std::fs::read_to_string(repo(
            "infra/netsuite/src/Objects/customrole_billsync_integration.xml",
        ))
        .unwrap();
        let doc = roxmltree::Document::parse(&text).unwrap();
        let granted: Vec<(String, Level)> = doc
            .descendants()
            .filter(|n| n.has_tag_name("permission"))
            .map(|n| {
                let text = |tag| {
                    n.children()
                        .find(|c| c.has_tag_name(tag))
                        .and_then(|c| c.text())
                        .unwrap_or_default()
                        .trim()
                        .to_owned()
                };
                let word = text("permlevel");
                (text("permkey"), level(&word).expect("a known level word"))
            })
            .collect();
        for needed in REQUIRED {
            let has = granted.iter().find(|(k, _)| k == needed.key);
            assert!(
                has.is_some_and(|(_, l)| *l >= needed.level),
                "the SDF role must grant {} at {} (has {has:?})",
                needed.key,
                needed.level.word()
            );
        }
        assert_eq!(
            granted.len(),
            REQUIRED.len(),
            "no permission beyond the list"
        );
    }

    #[test]
    fn the_setup_guide_lists_every_permission() {
        let guide = std::fs::read_to_string(repo("docs/netsuite-setup.md")).unwrap();
        for needed in REQUIRED {
            assert!(
                guide.contains(needed.key),
                "{} is not in docs/netsuite-setup.md",
                needed.key
            );
        }
    }

    /// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens.
    fn anchor(heading: &str) -> String {
        heading
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect()
    }

    fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs" || e == "md") {
                out.push(path);
            }
        }
    }

    #[test]
    fn every_link_into_the_setup_guide_names_a_section_that_exists() {
        let guide = std::fs::read_to_string(repo("docs/netsuite-setup.md")).unwrap();
        let anchors: Vec<String> = guide
            .lines()
            .filter_map(|l| l.strip_prefix("## "))
            .map(anchor)
            .collect();
        let mut files = Vec::new();
        for dir in ["shared/src", "cli/src", "functions", "docs"] {
            sources(&repo(dir), &mut files);
        }
        files.push(repo("README.md"));
        let mut links = 0;
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (i, _) in text.match_indices("netsuite-setup.md#") {
                let rest = &text[i + "netsuite-setup.md#".len()..];
                let link: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    .collect();
                if link.is_empty() {
                    continue;
                }
                assert!(
                    anchors.iter().any(|a| a == &link),
                    "{} links to netsuite-setup.md#{link}, which is not a section ({anchors:?})",
                    file.display()
                );
                links += 1;
            }
        }
        assert!(links >= 10, "the fixes link into the guide ({links} links)");
    }

    #[test]
    fn the_sdf_fields_are_well_formed_and_match_the_settings_defaults() {
        let dir = repo("infra/netsuite/src/Objects");
        let mut script_ids = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let doc = roxmltree::Document::parse(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let id = doc.root_element().attribute("scriptid").unwrap().to_owned();
            assert_eq!(
                path.file_stem().unwrap().to_str().unwrap(),
                id,
                "SDF names each object's file after its script id"
            );
            let limit = if id.starts_with("custbody") { 38 } else { 40 };
            assert!(id.len() <= limit, "{id} is longer than {limit}");
            script_ids.push(id);
        }
        let defaults = crate::settings::CustomFieldIds::default();
        for id in [
            &defaults.customer_billing_id,
            &defaults.customer_site,
            &defaults.transaction_site,
            &defaults.transaction_invoice_uid,
            &defaults.line_tax,
        ] {
            assert!(script_ids.contains(id), "the SDF project lacks {id}");
        }
        assert!(script_ids.contains(&"customrole_billsync_integration".to_owned()));
    }
}
