//! NetSuite connection settings: account, token-based-auth credentials, limits.

use std::fmt;
use std::time::Duration;

use url::Url;

pub use crate::retry::RetryPolicy;
use crate::Secret;

/// Environment variables `billsync` reads NetSuite settings from.
pub mod env {
    pub const ACCOUNT_ID: &str = "NETSUITE_ACCOUNT_ID";
    pub const CONSUMER_KEY: &str = "NETSUITE_CONSUMER_KEY";
    pub const CONSUMER_SECRET: &str = "NETSUITE_CONSUMER_SECRET";
    pub const TOKEN_ID: &str = "NETSUITE_TOKEN_ID";
    pub const TOKEN_SECRET: &str = "NETSUITE_TOKEN_SECRET";
    pub const BASE_URL: &str = "NETSUITE_BASE_URL";
    pub const CONCURRENCY: &str = "NETSUITE_CONCURRENCY";
}

/// A NetSuite account id as the account shows it (Setup > Company > Company Information),
/// e.g. `1234567`, `1234567_SB1` (sandbox) or `TSTDRV1234567`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountId(String);

impl AccountId {
    /// Accepts the display form and the URL form (`1234567-sb1`); stores the display form.
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(ConfigError::Missing(env::ACCOUNT_ID));
        }
        if !trimmed
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(ConfigError::Invalid {
                name: env::ACCOUNT_ID,
                reason: format!(
                    "`{trimmed}` is not a NetSuite account id (letters, digits and `_` only, e.g. 1234567_SB1)"
                ),
            });
        }
        // Account ids never contain `-`; one here means the URL form was pasted.
        Ok(AccountId(trimmed.replace('-', "_").to_ascii_uppercase()))
    }

    /// The OAuth `realm`: the account id in upper case. NetSuite refuses a lower-case realm.
    pub fn realm(&self) -> &str {
        &self.0
    }

    /// The account-specific REST host: lower case, `_` replaced by `-`.
    pub fn host(&self) -> String {
        format!(
            "{}.suitetalk.api.netsuite.com",
            self.0.to_ascii_lowercase().replace('_', "-")
        )
    }

    /// Sandbox accounts end in `_SB<n>`; their tokens do not survive a sandbox refresh.
    pub fn is_sandbox(&self) -> bool {
        self.0
            .rsplit_once("_SB")
            .is_some_and(|(_, n)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The four token-based-authentication values. All are held as [`Secret`]s: the consumer key
/// and token id are not secret on their own, but nothing is gained by printing them.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub consumer_key: Secret,
    pub consumer_secret: Secret,
    pub token_id: Secret,
    pub token_secret: Secret,
}

/// Everything the NetSuite client needs.
#[derive(Clone, Debug)]
pub struct NetSuiteConfig {
    pub account_id: AccountId,
    pub credentials: Credentials,
    /// Overrides the host derived from the account id: a URL the administrator was given, or a
    /// simulator on loopback. Paths (`/services/rest/...`) are appended to it.
    pub base_url: Option<Url>,
    /// Requests this process keeps in flight at most: its share of the account's limit.
    pub concurrency: usize,
    pub connect_timeout: Duration,
    /// NetSuite itself gives up on a request after 15 minutes; a sync step should not wait
    /// nearly that long.
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
}

/// A setting that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// How long a connection to NetSuite may take to open, unless configured.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one NetSuite request may take, unless configured.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

impl NetSuiteConfig {
    pub fn new(account_id: AccountId, credentials: Credentials) -> Self {
        NetSuiteConfig {
            account_id,
            credentials,
            base_url: None,
            concurrency: 4,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            retry: RetryPolicy::default(),
        }
    }

    /// Reads the `NETSUITE_*` environment variables.
    pub fn from_env() -> Result<Self, Vec<ConfigError>> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` and reports every problem at once, not the first.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Vec<ConfigError>> {
        let mut problems = Vec::new();
        let mut required = |name: &'static str| match lookup(name).filter(|v| !v.trim().is_empty())
        {
            Some(v) => Some(v.trim().to_owned()),
            None => {
                problems.push(ConfigError::Missing(name));
                None
            }
        };
        let account = required(env::ACCOUNT_ID);
        let consumer_key = required(env::CONSUMER_KEY);
        let consumer_secret = required(env::CONSUMER_SECRET);
        let token_id = required(env::TOKEN_ID);
        let token_secret = required(env::TOKEN_SECRET);

        let account = account.and_then(|a| AccountId::parse(&a).map_err(|e| problems.push(e)).ok());
        let base_url = match lookup(env::BASE_URL).filter(|v| !v.trim().is_empty()) {
            None => None,
            Some(raw) => match parse_base_url(&raw) {
                Ok(url) => Some(url),
                Err(e) => {
                    problems.push(e);
                    None
                }
            },
        };
        let concurrency = match lookup(env::CONCURRENCY).filter(|v| !v.trim().is_empty()) {
            None => None,
            Some(raw) => match raw.trim().parse::<usize>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    problems.push(ConfigError::Invalid {
                        name: env::CONCURRENCY,
                        reason: format!("`{raw}` is not a positive whole number"),
                    });
                    None
                }
            },
        };

        match (
            account,
            consumer_key,
            consumer_secret,
            token_id,
            token_secret,
        ) {
            (Some(account), Some(ck), Some(cs), Some(ti), Some(ts)) if problems.is_empty() => {
                let mut config = NetSuiteConfig::new(
                    account,
                    Credentials {
                        consumer_key: ck.into(),
                        consumer_secret: cs.into(),
                        token_id: ti.into(),
                        token_secret: ts.into(),
                    },
                );
                config.base_url = base_url;
                if let Some(n) = concurrency {
                    config.concurrency = n;
                }
                Ok(config)
            }
            _ => Err(problems),
        }
    }

    /// The root every REST path is joined to, ending in `/`.
    pub fn root_url(&self) -> Url {
        let mut url = self.base_url.clone().unwrap_or_else(|| {
            Url::parse(&format!("https://{}/", self.account_id.host()))
                .expect("account ids contain only URL-safe characters")
        });
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        url
    }
}

/// Parses a base-URL override (http or https, no query).
pub fn parse_base_url(raw: &str) -> Result<Url, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        name: env::BASE_URL,
        reason,
    };
    let url = Url::parse(raw.trim()).map_err(|e| invalid(format!("`{raw}` is not a URL: {e}")))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(invalid(format!("`{raw}` must start with https://")));
    }
    if url.query().is_some() || url.cannot_be_a_base() {
        return Err(invalid(format!(
            "`{raw}` must be a plain base URL without a query"
        )));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_realm_follow_netsuite_rules() {
        let a = AccountId::parse("1234567_SB1").unwrap();
        assert_eq!(a.realm(), "1234567_SB1");
        assert_eq!(a.host(), "1234567-sb1.suitetalk.api.netsuite.com");
        assert!(a.is_sandbox());

        let b = AccountId::parse("tstdrv123456").unwrap();
        assert_eq!(b.realm(), "TSTDRV123456");
        assert_eq!(b.host(), "tstdrv123456.suitetalk.api.netsuite.com");
        assert!(!b.is_sandbox());

        // The URL form pasted by mistake still yields the right realm.
        assert_eq!(
            AccountId::parse("1234567-sb2").unwrap().realm(),
            "1234567_SB2"
        );
        assert!(AccountId::parse("12 34").is_err());
    }

    #[test]
    fn from_lookup_lists_every_problem() {
        let errs = NetSuiteConfig::from_lookup(|name| match name {
            env::ACCOUNT_ID => Some("bad id!".into()),
            env::BASE_URL => Some("ftp://x".into()),
            env::CONCURRENCY => Some("0".into()),
            _ => None,
        })
        .unwrap_err();
        assert_eq!(errs.len(), 7, "{errs:?}");
        assert!(errs.contains(&ConfigError::Missing(env::TOKEN_SECRET)));
    }

    #[test]
    fn from_lookup_builds_a_config_and_hides_secrets() {
        let c = NetSuiteConfig::from_lookup(|name| {
            Some(match name {
                env::ACCOUNT_ID => "1234567_SB1".into(),
                env::BASE_URL => "http://127.0.0.1:9/base".into(),
                env::CONCURRENCY => "3".into(),
                other => format!("value-of-{other}"),
            })
        })
        .unwrap();
        assert_eq!(c.concurrency, 3);
        assert_eq!(c.root_url().as_str(), "http://127.0.0.1:9/base/");
        let printed = format!("{c:?}");
        assert!(
            !printed.contains("value-of-NETSUITE_TOKEN_SECRET"),
            "{printed}"
        );
        assert!(
            !printed.contains("value-of-NETSUITE_CONSUMER_SECRET"),
            "{printed}"
        );
    }

    #[test]
    fn default_root_is_the_account_host() {
        let c = NetSuiteConfig::new(
            AccountId::parse("1234567").unwrap(),
            Credentials {
                consumer_key: "a".into(),
                consumer_secret: "b".into(),
                token_id: "c".into(),
                token_secret: "d".into(),
            },
        );
        assert_eq!(
            c.root_url().as_str(),
            "https://1234567.suitetalk.api.netsuite.com/"
        );
    }
}
