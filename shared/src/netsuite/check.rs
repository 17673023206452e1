//! Credential validation: the setup step where an administrator enters the five values and
//! wants to hear, in plain words, whether they work and if not what to look at.

use std::time::{Duration, Instant};

use super::client::NetSuiteClient;
use super::error::{ErrorKind, NetSuiteError};

/// A successful check.
#[derive(Debug, Clone)]
pub struct CheckReport {
    pub account: String,
    pub sandbox: bool,
    pub endpoint: String,
    pub elapsed: Duration,
}

impl std::fmt::Display for CheckReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "NetSuite connection OK: account {}{} at {} accepted the token and the role can read customers ({} ms)",
            self.account,
            if self.sandbox { " (sandbox)" } else { "" },
            self.endpoint,
            self.elapsed.as_millis()
        )
    }
}

/// Why a check failed and what to look at.
#[derive(Debug, Clone)]
pub struct CheckFailure {
    pub headline: String,
    pub hints: Vec<String>,
    pub cause: CheckCause,
}

/// The kind of failure, for callers that act on it (the CLI's exit codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckCause {
    LoginRefused,
    Permission,
    Unreachable,
    Other,
}

impl std::fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}", self.headline)?;
        for hint in &self.hints {
            writeln!(f, "  - {hint}")?;
        }
        Ok(())
    }
}

/// Makes one cheap authenticated call and explains the outcome.
pub async fn check_connection(
    client: &NetSuiteClient,
    endpoint: &str,
) -> Result<CheckReport, CheckFailure> {
    let started = Instant::now();
    match client.check().await {
        Ok(()) => Ok(CheckReport {
            account: client.account_id().to_string(),
            sandbox: client.account_id().is_sandbox(),
            endpoint: endpoint.to_owned(),
            elapsed: started.elapsed(),
        }),
        Err(e) => Err(diagnose(
            &e,
            client.account_id().realm(),
            client.account_id().is_sandbox(),
            endpoint,
        )),
    }
}

/// Turns a failed check into advice. NetSuite never says *why* a login failed (only its Login
/// Audit Trail does), so a refusal lists the usual causes in the order they usually occur.
pub fn diagnose(error: &NetSuiteError, realm: &str, sandbox: bool, endpoint: &str) -> CheckFailure {
    match error.kind() {
        ErrorKind::Login => {
            let mut hints = vec![
                format!("the account id must be written as NetSuite shows it, upper case: the realm sent was `{realm}` (e.g. 1234567_SB1, not 1234567_sb1)"),
                "the consumer key and secret must be those of the integration record, which must be Enabled with Token-Based Authentication checked".into(),
                "the token id and secret must belong to a token that is not revoked and was created for this integration record, user and role".into(),
                "the token's role needs the permissions \"Log in using Access Tokens\" and \"REST Web Services\" (or \"Web Services\")".into(),
                "the exact reason is in NetSuite at Setup > Users/Roles > User Management > View Login Audit Trail".into(),
            ];
            if sandbox {
                hints.insert(3, "tokens are not copied into a sandbox: after a sandbox refresh create new tokens there".into());
            }
            CheckFailure {
                headline: format!("NetSuite refused the login: {error}"),
                hints,
                cause: CheckCause::LoginRefused,
            }
        }
        ErrorKind::Permission => CheckFailure {
            headline: format!("NetSuite accepted the login but the role lacks a permission: {error}"),
            hints: vec![
                "give the token's role Lists > Customers (Full) and the transaction permissions listed in the setup guide".into(),
                "then run the check again; a new token is not needed".into(),
            ],
            cause: CheckCause::Permission,
        },
        ErrorKind::Transport => CheckFailure {
            headline: format!("NetSuite could not be reached at {endpoint}: {error}"),
            hints: vec![
                "check the account id (it decides the host) or NETSUITE_BASE_URL if one is set".into(),
                "check that this machine can open HTTPS connections to it (proxy, firewall)".into(),
            ],
            cause: CheckCause::Unreachable,
        },
        ErrorKind::Concurrency | ErrorKind::Server => CheckFailure {
            headline: format!("NetSuite is busy or failing right now: {error}"),
            hints: vec!["try again in a few minutes; if it persists, look at Setup > Integration > Integration Governance".into()],
            cause: CheckCause::Other,
        },
        _ => CheckFailure {
            headline: format!("The NetSuite check failed: {error}"),
            hints: vec![format!("check that {endpoint} is a NetSuite REST endpoint")],
            cause: CheckCause::Other,
        },
    }
}
