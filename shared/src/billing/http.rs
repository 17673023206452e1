//! The one way both billing clients read their API: a GET with Basic credentials, under an
//! optional concurrency limit, tried again on what goes away by itself.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{ACCEPT, RETRY_AFTER};
use tokio::sync::Semaphore;
use url::Url;

use crate::retry::RetryPolicy;
use crate::Secret;

/// A path segment with anything outside `[A-Za-z0-9_-]` percent-encoded, so an id can never
/// change the path or add a query.
pub(crate) fn segment(s: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'_').remove(b'-');
    percent_encoding::utf8_percent_encode(s, KEEP).to_string()
}

/// `path` under `root`, with `query` appended.
pub(crate) fn url(root: &Url, path: &str, query: &[(&str, String)]) -> Result<Url, String> {
    let mut url = root
        .join(path)
        .map_err(|e| format!("bad path {path}: {e}"))?;
    if !query.is_empty() {
        url.query_pairs_mut()
            .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
    }
    Ok(url)
}

/// Why one attempt failed, for the client to turn into its own error.
pub(crate) enum Failure {
    /// No answer, or the body could not be read.
    Transport(String),
    /// An answer other than 2xx.
    Status { status: u16, body: Bytes },
}

/// How a client reaches its API.
pub(crate) struct Api<'a> {
    pub http: &'a reqwest::Client,
    /// Basic credentials: user and password.
    pub user: &'a Secret,
    pub password: &'a str,
    pub retry: &'a RetryPolicy,
    pub limiter: Option<&'a Semaphore>,
    /// The vendor's name, for logs.
    pub vendor: &'static str,
}

impl Api<'_> {
    /// The body of a 2xx answer to `GET url`. `error` turns a failed attempt into the client's
    /// error; `retryable` says which of those are tried again, after the policy's pause (at
    /// least the server's `Retry-After`).
    pub(crate) async fn get<E: std::fmt::Display>(
        &self,
        url: &Url,
        operation: &str,
        error: impl Fn(Failure) -> E,
        retryable: impl Fn(&E) -> bool,
    ) -> Result<Bytes, E> {
        let mut attempt = 1;
        loop {
            let (result, hint) = self.attempt(url).await;
            let e = match result {
                Ok(body) => return Ok(body),
                Err(failure) => error(failure),
            };
            if !retryable(&e) || attempt >= self.retry.max_attempts {
                return Err(e);
            }
            let delay = self.retry.delay(attempt, hint);
            tracing::warn!(vendor = self.vendor, %operation, attempt, delay_ms = delay.as_millis() as u64, error = %e, "billing request failed; trying again");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    async fn attempt(&self, url: &Url) -> (Result<Bytes, Failure>, Option<Duration>) {
        let _permit = match self.limiter {
            Some(l) => Some(l.acquire().await.expect("never closed")),
            None => None,
        };
        let sent = self
            .http
            .get(url.clone())
            .basic_auth(self.user.expose(), Some(self.password))
            .header(ACCEPT, "application/json")
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return (Err(Failure::Transport(e.without_url().to_string())), None),
        };
        let status = response.status();
        let hint = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
            .map(Duration::from_secs);
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return (Err(Failure::Transport(e.without_url().to_string())), None),
        };
        tracing::debug!(
            vendor = self.vendor,
            status = status.as_u16(),
            "billing API answered"
        );
        if status.is_success() {
            return (Ok(body), None);
        }
        (
            Err(Failure::Status {
                status: status.as_u16(),
                body,
            }),
            hint,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_stays_one_path_segment() {
        assert_eq!(segment("inv_1-A"), "inv_1-A");
        assert_eq!(segment("a/b?c=d"), "a%2Fb%3Fc%3Dd");
        assert_eq!(segment("é"), "%C3%A9");
        let root = Url::parse("https://x.example/api/v2/").unwrap();
        let u = url(&root, &format!("plans/{}", segment("../x")), &[]).unwrap();
        assert_eq!(u.as_str(), "https://x.example/api/v2/plans/%2E%2E%2Fx");
    }
}
