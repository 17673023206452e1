//! Credential validation: the setup step where an administrator enters the credentials (TBA
//! or OAuth 2.0 M2M) and wants to hear, in plain words, whether they work and if not what to
//! look at.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::client::NetSuiteClient;
use super::config::{Auth, AuthMethod};
use super::error::{ErrorKind, NetSuiteError};
use super::oauth2::expiry_warning;

/// How far ahead a certificate's expiry is announced.
pub const CERTIFICATE_WARNING_DAYS: i64 = 30;

/// The M2M section of the setup guide, named by every OAuth 2.0 hint.
const M2M_SETUP: &str =
    "Setup > Integration > Manage Authentication > OAuth 2.0 Client Credentials (M2M) Setup";

/// A successful check.
#[derive(Debug, Clone)]
pub struct CheckReport {
    pub method: AuthMethod,
    pub account: String,
    pub sandbox: bool,
    pub endpoint: String,
    pub elapsed: Duration,
}

impl std::fmt::Display for CheckReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "NetSuite connection OK: account {}{} at {} accepted the login by {} and the role can read customers ({} ms)",
            self.account,
            if self.sandbox { " (sandbox)" } else { "" },
            self.endpoint,
            self.method,
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
            method: client.auth_method(),
            account: client.account_id().to_string(),
            sandbox: client.account_id().is_sandbox(),
            endpoint: endpoint.to_owned(),
            elapsed: started.elapsed(),
        }),
        Err(e) => Err(diagnose(
            &e,
            client.auth_method(),
            client.account_id().realm(),
            client.account_id().is_sandbox(),
            endpoint,
        )),
    }
}

/// Warnings about credentials that work now but will stop: a certificate that expires within
/// [`CERTIFICATE_WARNING_DAYS`] of `now` (or is unreadable, when one was given).
pub fn credential_warnings(auth: &Auth, now: DateTime<Utc>) -> Vec<String> {
    let Auth::M2m(m2m) = auth else {
        return Vec::new();
    };
    match m2m.certificate_expiry() {
        None => Vec::new(),
        Some(Ok(not_after)) => expiry_warning(not_after, now, CERTIFICATE_WARNING_DAYS)
            .into_iter()
            .collect(),
        Some(Err(e)) => vec![format!(
            "the certificate given cannot be read, so its expiry is not watched: {e}"
        )],
    }
}

/// What to look at for each OAuth 2.0 refusal. The token endpoint names the error class
/// (RFC 6749 codes); NetSuite's Login Audit Trail has the exact reason.
fn m2m_hints(error: &NetSuiteError, sandbox: bool) -> Vec<String> {
    let code = error.api().and_then(|a| a.code()).unwrap_or("");
    let mut hints: Vec<String> = match code {
        "invalid_grant" => vec![
            format!("the certificate id must be the one NetSuite shows for this integration, role and entity at {M2M_SETUP}"),
            "the private key must belong to the certificate mapped there: a key from another pair makes the signature invalid".into(),
            "the mapping must not be revoked and the certificate not expired (at most two years; NetSuite e-mails before it ends)".into(),
            "this machine's clock must be right: the assertion is valid from its issue time for five minutes".into(),
        ],
        "invalid_client" => vec![
            "the client id must be the integration record's Client ID (Setup > Integration > Manage Integrations), shown once when the record was saved".into(),
            "the integration record must be Enabled".into(),
        ],
        "unauthorized_client" | "unsupported_grant_type" => vec![
            "the integration record must have \"Client Credentials (Machine to Machine) Grant\" checked under OAuth 2.0".into(),
            "the account must have OAuth 2.0 enabled (Setup > Company > Enable Features > SuiteCloud > Manage Authentication)".into(),
        ],
        "invalid_scope" => vec![
            "the integration record's OAuth 2.0 scopes must include REST Web Services".into(),
        ],
        _ if error.api().is_some_and(|a| a.status == 401) => vec![
            "NetSuite issued a token but refused it for REST: the mapped role needs \"Log in using OAuth 2.0 Access Tokens\" and \"REST Web Services\"".into(),
            "the entity must be active and the role not disabled".into(),
        ],
        _ => vec![format!("check the integration record and the certificate mapping at {M2M_SETUP}")],
    };
    if sandbox {
        hints.push(format!(
            "a sandbox refresh clears certificate mappings: map the certificate again in the sandbox at {M2M_SETUP}"
        ));
    }
    hints.push("the exact reason is in NetSuite at Setup > Users/Roles > User Management > View Login Audit Trail".into());
    hints
}

/// Turns a failed check into advice. NetSuite never says *why* a login failed (only its Login
/// Audit Trail does), so a refusal lists the usual causes in the order they usually occur.
pub fn diagnose(
    error: &NetSuiteError,
    method: AuthMethod,
    realm: &str,
    sandbox: bool,
    endpoint: &str,
) -> CheckFailure {
    match error.kind() {
        ErrorKind::Login if method == AuthMethod::M2m => CheckFailure {
            headline: format!("NetSuite refused the OAuth 2.0 login: {error}"),
            hints: m2m_hints(error, sandbox),
            cause: CheckCause::LoginRefused,
        },
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
                "give the integration's role the permissions listed in docs/netsuite-setup.md#3-the-role-and-its-permissions; `billsync tenant check` names each one missing".into(),
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
