//! NetSuite connection settings: account, credentials (token-based auth or OAuth 2.0
//! machine to machine), limits.

use std::fmt;
use std::time::Duration;

use url::Url;

pub use super::oauth2::M2mCredentials;
pub use crate::retry::RetryPolicy;
use crate::Secret;

/// Environment variables `billsync` reads NetSuite settings from.
pub mod env {
    pub const ACCOUNT_ID: &str = "NETSUITE_ACCOUNT_ID";
    pub const CONSUMER_KEY: &str = "NETSUITE_CONSUMER_KEY";
    pub const CONSUMER_SECRET: &str = "NETSUITE_CONSUMER_SECRET";
    pub const TOKEN_ID: &str = "NETSUITE_TOKEN_ID";
    pub const TOKEN_SECRET: &str = "NETSUITE_TOKEN_SECRET";
    /// OAuth 2.0 machine to machine: the integration record's client id.
    pub const CLIENT_ID: &str = "NETSUITE_CLIENT_ID";
    /// The certificate id NetSuite shows for the mapping of the certificate.
    pub const CERTIFICATE_ID: &str = "NETSUITE_CERTIFICATE_ID";
    /// The certificate's private key as PEM text, or a file holding it.
    pub const PRIVATE_KEY: &str = "NETSUITE_PRIVATE_KEY";
    pub const PRIVATE_KEY_FILE: &str = "NETSUITE_PRIVATE_KEY_FILE";
    /// Optional: the certificate (PEM text or file), to warn before it expires.
    pub const CERTIFICATE: &str = "NETSUITE_CERTIFICATE";
    pub const CERTIFICATE_FILE: &str = "NETSUITE_CERTIFICATE_FILE";
    /// The token-based authentication set.
    pub const TBA: [&str; 4] = [CONSUMER_KEY, CONSUMER_SECRET, TOKEN_ID, TOKEN_SECRET];
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

/// How billsync authenticates to NetSuite.
#[derive(Clone, Debug)]
pub enum Auth {
    /// Token-based authentication (OAuth 1.0a), for integrations made before 2027.1.
    Tba(Credentials),
    /// OAuth 2.0 client credentials with a certificate-signed JWT.
    M2m(M2mCredentials),
}

impl From<Credentials> for Auth {
    fn from(c: Credentials) -> Self {
        Auth::Tba(c)
    }
}

impl From<M2mCredentials> for Auth {
    fn from(c: M2mCredentials) -> Self {
        Auth::M2m(c)
    }
}

/// The authentication method, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    Tba,
    M2m,
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthMethod::Tba => "token-based authentication (TBA)",
            AuthMethod::M2m => "OAuth 2.0 client credentials (M2M)",
        })
    }
}

impl Auth {
    pub fn method(&self) -> AuthMethod {
        match self {
            Auth::Tba(_) => AuthMethod::Tba,
            Auth::M2m(_) => AuthMethod::M2m,
        }
    }
}

/// Everything the NetSuite client needs.
#[derive(Clone, Debug)]
pub struct NetSuiteConfig {
    pub account_id: AccountId,
    pub auth: Auth,
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
    /// Values of both authentication methods were given.
    #[error("{0}")]
    Mixed(String),
}

/// How long a connection to NetSuite may take to open, unless configured.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one NetSuite request may take, unless configured: well inside the worker's time
/// for finishing what it took ([`crate::budgets`] checks the order).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

impl NetSuiteConfig {
    pub fn new(account_id: AccountId, auth: impl Into<Auth>) -> Self {
        NetSuiteConfig {
            account_id,
            auth: auth.into(),
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
    /// Credentials are either the four TBA values or the OAuth 2.0 M2M ones, not a mix.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Vec<ConfigError>> {
        let mut problems = Vec::new();
        let given = |name: &str| {
            lookup(name)
                .filter(|v| !v.trim().is_empty())
                .map(|v| v.trim().to_owned())
        };
        let account = match given(env::ACCOUNT_ID) {
            Some(a) => AccountId::parse(&a).map_err(|e| problems.push(e)).ok(),
            None => {
                problems.push(ConfigError::Missing(env::ACCOUNT_ID));
                None
            }
        };
        let auth = auth_from_lookup(&given)
            .map_err(|e| problems.extend(e))
            .ok();

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

        match (account, auth) {
            (Some(account), Some(auth)) if problems.is_empty() => {
                let mut config = NetSuiteConfig::new(account, auth);
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

/// The credentials among the `NETSUITE_*` values: the TBA set or the M2M set, complete. With
/// neither, the TBA names are reported missing (the method every existing setup uses).
fn auth_from_lookup(given: &impl Fn(&str) -> Option<String>) -> Result<Auth, Vec<ConfigError>> {
    let tba_given: Vec<&str> = env::TBA
        .into_iter()
        .filter(|n| given(n).is_some())
        .collect();
    let m2m_names = [
        env::CLIENT_ID,
        env::CERTIFICATE_ID,
        env::PRIVATE_KEY,
        env::PRIVATE_KEY_FILE,
    ];
    let m2m_given: Vec<&str> = m2m_names
        .into_iter()
        .filter(|n| given(n).is_some())
        .collect();
    if !tba_given.is_empty() && !m2m_given.is_empty() {
        let tba_missing: Vec<&str> = env::TBA
            .into_iter()
            .filter(|n| given(n).is_none())
            .collect();
        let m2m_missing = m2m_missing(given);
        let state = |missing: &[&str]| {
            if missing.is_empty() {
                "complete".to_owned()
            } else {
                format!("missing {}", missing.join(", "))
            }
        };
        return Err(vec![ConfigError::Mixed(format!(
            "both token-based authentication ({}) and OAuth 2.0 M2M ({}) values are set; the TBA set is {}, the M2M set is {}: keep one set and unset the other",
            tba_given.join(", "),
            m2m_given.join(", "),
            state(&tba_missing),
            state(&m2m_missing)
        ))]);
    }
    if m2m_given.is_empty() {
        let missing: Vec<ConfigError> = env::TBA
            .into_iter()
            .filter(|n| given(n).is_none())
            .map(ConfigError::Missing)
            .collect();
        if !missing.is_empty() {
            return Err(missing);
        }
        let v = |name: &str| Secret::new(given(name).unwrap_or_default());
        return Ok(Auth::Tba(Credentials {
            consumer_key: v(env::CONSUMER_KEY),
            consumer_secret: v(env::CONSUMER_SECRET),
            token_id: v(env::TOKEN_ID),
            token_secret: v(env::TOKEN_SECRET),
        }));
    }
    let missing = m2m_missing(given);
    if !missing.is_empty() {
        return Err(missing.into_iter().map(ConfigError::Missing).collect());
    }
    let key = match (given(env::PRIVATE_KEY), given(env::PRIVATE_KEY_FILE)) {
        (Some(_), Some(_)) => {
            return Err(vec![ConfigError::Mixed(format!(
                "both {} and {} are set: give the key one way",
                env::PRIVATE_KEY,
                env::PRIVATE_KEY_FILE
            ))])
        }
        (Some(text), None) => Secret::new(text),
        (None, Some(path)) => Secret::new(read_file(env::PRIVATE_KEY_FILE, &path)?),
        (None, None) => unreachable!("checked as missing above"),
    };
    let mut m2m = M2mCredentials::new(
        Secret::new(given(env::CLIENT_ID).unwrap_or_default()),
        given(env::CERTIFICATE_ID).unwrap_or_default(),
        &key,
    )
    .map_err(|reason| {
        vec![ConfigError::Invalid {
            name: env::PRIVATE_KEY,
            reason,
        }]
    })?;
    m2m.certificate = match (given(env::CERTIFICATE), given(env::CERTIFICATE_FILE)) {
        (Some(text), _) => Some(text),
        (None, Some(path)) => Some(read_file(env::CERTIFICATE_FILE, &path)?),
        (None, None) => None,
    };
    Ok(Auth::M2m(m2m))
}

/// The M2M values not given (the key counts as given either way).
fn m2m_missing(given: &impl Fn(&str) -> Option<String>) -> Vec<&'static str> {
    let mut missing: Vec<&'static str> = [env::CLIENT_ID, env::CERTIFICATE_ID]
        .into_iter()
        .filter(|n| given(n).is_none())
        .collect();
    if given(env::PRIVATE_KEY).is_none() && given(env::PRIVATE_KEY_FILE).is_none() {
        missing.push(env::PRIVATE_KEY);
    }
    missing
}

/// A file named by a setting; the error names the setting and the path, never the content.
fn read_file(name: &'static str, path: &str) -> Result<String, Vec<ConfigError>> {
    std::fs::read_to_string(path).map_err(|e| {
        vec![ConfigError::Invalid {
            name,
            reason: format!("cannot read `{path}`: {e}"),
        }]
    })
}

/// Parses a base-URL override (http or https, no query).
/// Whether `url` may be plain `http://`: only to this machine (a simulator on loopback), where
/// no network can read the credentials a request carries.
pub fn in_the_clear_allowed(url: &Url) -> bool {
    if url.scheme() != "http" {
        return false;
    }
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

pub fn parse_base_url(raw: &str) -> Result<Url, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        name: env::BASE_URL,
        reason,
    };
    let url = Url::parse(raw.trim()).map_err(|e| invalid(format!("`{raw}` is not a URL: {e}")))?;
    if !in_the_clear_allowed(&url) && url.scheme() != "https" {
        return Err(invalid(format!(
            "`{raw}` must start with https:// (plain http:// only to this machine, for a simulator)"
        )));
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
    fn plain_http_goes_only_to_this_machine() {
        for ok in [
            "https://1234567.suitetalk.api.netsuite.com",
            "http://127.0.0.1:8080/",
            "http://localhost:9/x",
            "http://[::1]:9/",
        ] {
            assert!(parse_base_url(ok).is_ok(), "{ok}");
        }
        for refused in [
            "http://1234567.suitetalk.api.netsuite.com",
            "http://10.0.0.5/",
            "http://localhost.example.com/",
            "ftp://127.0.0.1/",
        ] {
            let e = parse_base_url(refused).unwrap_err().to_string();
            assert!(e.contains("https://"), "{refused}: {e}");
        }
    }

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
                // The TBA set only: a value for an OAuth 2.0 name too would be a mix.
                other if env::TBA.contains(&other) => format!("value-of-{other}"),
                _ => return None,
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
    fn credentials_of_both_methods_are_refused_naming_the_complete_set() {
        let errs = NetSuiteConfig::from_lookup(|name| match name {
            env::ACCOUNT_ID => Some("1234567".into()),
            env::CLIENT_ID => Some("client".into()),
            n if env::TBA.contains(&n) => Some("x".into()),
            _ => None,
        })
        .unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        let text = errs[0].to_string();
        assert!(text.contains("the TBA set is complete"), "{text}");
        assert!(
            text.contains("the M2M set is missing NETSUITE_CERTIFICATE_ID, NETSUITE_PRIVATE_KEY"),
            "{text}"
        );

        // The M2M set alone, incomplete: what is missing is named; an unreadable key file too.
        let errs = NetSuiteConfig::from_lookup(|name| match name {
            env::ACCOUNT_ID => Some("1234567".into()),
            env::CLIENT_ID => Some("client".into()),
            env::PRIVATE_KEY_FILE => Some("/nonexistent/billsync-key.pem".into()),
            _ => None,
        })
        .unwrap_err();
        assert_eq!(errs, vec![ConfigError::Missing(env::CERTIFICATE_ID)]);
        let errs = NetSuiteConfig::from_lookup(|name| match name {
            env::ACCOUNT_ID => Some("1234567".into()),
            env::CLIENT_ID => Some("client".into()),
            env::CERTIFICATE_ID => Some("cert".into()),
            env::PRIVATE_KEY_FILE => Some("/nonexistent/billsync-key.pem".into()),
            _ => None,
        })
        .unwrap_err();
        assert!(
            errs[0]
                .to_string()
                .contains("NETSUITE_PRIVATE_KEY_FILE is invalid: cannot read"),
            "{errs:?}"
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
