//! Bearer tokens for OAuth 2.0 machine-to-machine clients: one token per set of credentials in
//! the process, fetched by one request however many requests wait for it, renewed a few
//! minutes before it expires, fetched again once when NetSuite stops accepting it, and a
//! refusal remembered for a while so a revoked mapping does not turn into a storm of token
//! requests.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError, Weak};

use serde::de::Error as _;

use super::*;
use crate::netsuite::error::ErrorDetail;
use crate::netsuite::oauth2::{M2mCredentials, ASSERTION_TYPE, TOKEN_PATH};
use crate::Secret;

/// Renew this long before the token's end: a request signed just before the end may still be
/// in flight when it comes.
const RENEW_BEFORE: Duration = Duration::from_secs(5 * 60);
/// A refusal a person must fix (unknown certificate, bad signature, grant not enabled) is
/// answered from memory for this long instead of asking NetSuite again for every request.
const REFUSAL_HOLD: Duration = Duration::from_secs(60);

pub(crate) const TOKEN_OPERATION: &str = "get an OAuth 2.0 access token";

/// Gives out the bearer token of one set of M2M credentials.
pub struct TokenSource {
    http: reqwest::Client,
    url: Url,
    credentials: M2mCredentials,
    state: tokio::sync::Mutex<State>,
    requests: AtomicU64,
}

#[derive(Default)]
struct State {
    token: Option<Token>,
    refused: Option<(NetSuiteError, Instant)>,
}

struct Token {
    value: Secret,
    renew_at: Instant,
    expires_at: Instant,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("url", &self.url.as_str())
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

/// Token sources by credentials: clients of one account and integration share one token,
/// whichever tenant or command built them.
fn registry() -> &'static Mutex<HashMap<String, Weak<TokenSource>>> {
    static SOURCES: OnceLock<Mutex<HashMap<String, Weak<TokenSource>>>> = OnceLock::new();
    SOURCES.get_or_init(Default::default)
}

impl TokenSource {
    /// The token source of these credentials at `root`'s token endpoint, shared with every
    /// client of this process that has the same ones.
    pub(crate) fn shared(
        root: &Url,
        credentials: &M2mCredentials,
        http: &reqwest::Client,
    ) -> Arc<TokenSource> {
        let url = token_url(root);
        let key = credentials.cache_key(url.as_str());
        let mut sources = registry().lock().unwrap_or_else(PoisonError::into_inner);
        sources.retain(|_, s| s.strong_count() > 0);
        if let Some(source) = sources.get(&key).and_then(Weak::upgrade) {
            return source;
        }
        let source = Arc::new(TokenSource {
            http: http.clone(),
            url,
            credentials: credentials.clone(),
            state: Default::default(),
            requests: AtomicU64::new(0),
        });
        sources.insert(key, Arc::downgrade(&source));
        source
    }

    /// Token requests this source made, answered or not.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// A token to send now. Waits while another caller fetches one.
    pub(crate) async fn bearer(&self) -> Result<Secret, NetSuiteError> {
        let mut state = self.state.lock().await;
        let now = Instant::now();
        if let Some(t) = state.token.as_ref().filter(|t| now < t.renew_at) {
            return Ok(t.value.clone());
        }
        if let Some((e, at)) = &state.refused {
            if at.elapsed() < REFUSAL_HOLD {
                return Err(e.clone());
            }
        }
        match self.fetch().await {
            Ok(token) => {
                let value = token.value.clone();
                state.token = Some(token);
                state.refused = None;
                Ok(value)
            }
            Err(e) => {
                // A token still valid keeps serving through a passing failure to renew it.
                if let Some(t) = state
                    .token
                    .as_ref()
                    .filter(|t| Instant::now() < t.expires_at)
                {
                    if e.is_retryable() {
                        return Ok(t.value.clone());
                    }
                }
                state.token = None;
                if !e.is_retryable() {
                    state.refused = Some((e.clone(), Instant::now()));
                }
                Err(e)
            }
        }
    }

    /// NetSuite refused `used`: the next caller fetches a new token, unless another already
    /// replaced it (many requests refused at once cost one new token, not one each).
    pub(crate) async fn refused(&self, used: &Secret) {
        let mut state = self.state.lock().await;
        if state.token.as_ref().is_some_and(|t| &t.value == used) {
            state.token = None;
        }
    }

    async fn fetch(&self) -> Result<Token, NetSuiteError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let assertion = self
            .credentials
            .assertion(self.url.as_str(), chrono::Utc::now())
            .map_err(NetSuiteError::Config)?;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_assertion_type", ASSERTION_TYPE)
            .append_pair("client_assertion", &assertion)
            .finish();
        let started = Instant::now();
        let response = self
            .http
            .post(self.url.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| transport_error(TOKEN_OPERATION, &e))?;
        let status = response.status();
        tracing::debug!(
            status = status.as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "NetSuite token endpoint answered"
        );
        if !status.is_success() {
            let retry_after = retry_after(&response);
            let bytes = response.bytes().await.unwrap_or_default();
            let mut api = token_error(status.as_u16(), &bytes);
            api.retry_after = retry_after;
            return Err(NetSuiteError::Api(api));
        }
        let granted: Granted = read_json(response, TOKEN_OPERATION).await?;
        if !granted.token_type.eq_ignore_ascii_case("bearer") {
            return Err(NetSuiteError::Protocol {
                operation: TOKEN_OPERATION.into(),
                message: format!("token type `{}`, expected bearer", granted.token_type),
            });
        }
        let life = Duration::from_secs(granted.expires_in);
        // A short-lived token (a test's) is renewed at half its life.
        let margin = RENEW_BEFORE.min(life / 2);
        Ok(Token {
            value: Secret::new(granted.access_token),
            renew_at: started + life - margin,
            expires_at: started + life,
        })
    }
}

/// The token endpoint under `root`.
fn token_url(root: &Url) -> Url {
    let mut url = root.clone();
    url.path_segments_mut()
        .expect("root URLs have a path")
        .pop_if_empty()
        .extend(TOKEN_PATH);
    url
}

/// The token endpoint's answer.
#[derive(Deserialize)]
struct Granted {
    access_token: String,
    #[serde(deserialize_with = "seconds")]
    expires_in: u64,
    token_type: String,
}

/// `expires_in` as a number or, as some NetSuite answers have it, a string.
fn seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| D::Error::custom("not a whole number")),
        Value::String(s) => s.trim().parse().map_err(D::Error::custom),
        other => Err(D::Error::custom(format!("expected seconds, got {other}"))),
    }
}

/// An OAuth 2.0 error answer (`{"error": "invalid_grant", "error_description": ...}`) as an
/// [`ApiError`] whose code is the OAuth error; another body is kept as its text.
fn token_error(status: u16, body: &[u8]) -> ApiError {
    #[derive(Deserialize)]
    struct OAuthError {
        error: String,
        #[serde(default)]
        error_description: Option<String>,
    }
    match serde_json::from_slice::<OAuthError>(body) {
        Ok(e) => ApiError {
            status,
            title: String::new(),
            details: vec![ErrorDetail {
                detail: e
                    .error_description
                    .unwrap_or_else(|| oauth_error_meaning(&e.error).into()),
                code: Some(e.error),
                path: None,
            }],
            operation: TOKEN_OPERATION.into(),
            retry_after: None,
        },
        Err(_) => ApiError::from_body(status, TOKEN_OPERATION.into(), body),
    }
}

/// RFC 6749's meaning of each error code, for answers that carry no description.
fn oauth_error_meaning(code: &str) -> &'static str {
    match code {
        "invalid_request" => "the token request is malformed",
        "invalid_client" => "the client id is not known or the client cannot use this grant",
        "invalid_grant" => "the client assertion was refused (certificate, signature, key or time)",
        "unauthorized_client" => "the integration may not use the client credentials grant",
        "unsupported_grant_type" => "the grant type is not supported",
        "invalid_scope" => "the integration is not allowed the requested scope",
        _ => "the token request was refused",
    }
}
