//! Server-side verification of NetSuite token-based authentication: OAuth 1.0a (RFC 5849),
//! one-legged, HMAC-SHA256, with the account id as realm.
//!
//! Written from the RFC rather than shared with our client, so a mistake on one side shows up
//! as a failing test instead of cancelling out.

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::{AuditReason, SimConfig};

/// RFC 3986 unreserved characters stay as they are; everything else is %XX (upper-case hex).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub(crate) fn pct(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

/// NetSuite rejects nonces shorter than this.
const MIN_NONCE_LEN: usize = 6;

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct AuthHeader {
    pub(crate) realm: Option<String>,
    /// Decoded `oauth_*` parameters.
    pub(crate) params: BTreeMap<String, String>,
}

/// Parses `OAuth realm="..", oauth_consumer_key="..", ...`: parameters in any order, optional
/// whitespace around separators, values percent-encoded and usually quoted.
pub(crate) fn parse_header(value: &str) -> Result<AuthHeader, String> {
    let value = value.trim();
    let (scheme, rest) = value
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("OAuth") {
        return Err("the Authorization header does not use the OAuth scheme".into());
    }
    let mut header = AuthHeader::default();
    let mut chars = rest.chars().peekable();
    loop {
        while matches!(chars.peek(), Some(c) if c.is_ascii_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' || c.is_ascii_whitespace() {
                break;
            }
            name.push(c);
            chars.next();
        }
        while matches!(chars.peek(), Some(c) if c.is_ascii_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(format!("parameter '{name}' has no value"));
        }
        while matches!(chars.peek(), Some(c) if c.is_ascii_whitespace()) {
            chars.next();
        }
        let mut raw = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut closed = false;
            for c in chars.by_ref() {
                if c == '"' {
                    closed = true;
                    break;
                }
                raw.push(c);
            }
            if !closed {
                return Err(format!("parameter '{name}' has an unterminated quote"));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' || c.is_ascii_whitespace() {
                    break;
                }
                raw.push(c);
                chars.next();
            }
        }
        let decoded = percent_decode_str(&raw)
            .decode_utf8()
            .map_err(|_| format!("parameter '{name}' is not valid UTF-8 after decoding"))?
            .into_owned();
        if name == "realm" {
            if header.realm.replace(decoded).is_some() {
                return Err("realm appears twice".into());
            }
        } else if name.starts_with("oauth_")
            && header.params.insert(name.clone(), decoded).is_some()
        {
            return Err(format!("parameter '{name}' appears twice"));
        }
        // Anything else is not an OAuth protocol parameter and takes no part in the signature.
    }
    Ok(header)
}

/// RFC 5849 §3.4.1 signature base string. `oauth` holds the header's `oauth_*` parameters;
/// `oauth_signature` is skipped here, and realm never reaches this map.
pub(crate) fn base_string(
    method: &str,
    host: &str,
    path: &str,
    query: Option<&str>,
    oauth: &BTreeMap<String, String>,
) -> String {
    let mut pairs: Vec<(String, String)> = oauth
        .iter()
        .filter(|(k, _)| k.as_str() != "oauth_signature")
        .map(|(k, v)| (pct(k), pct(v)))
        .collect();
    if let Some(q) = query {
        // Query strings are form-decoded ("+" is a space) before being re-encoded.
        pairs.extend(url::form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (pct(&k), pct(&v))));
    }
    pairs.sort();
    let normalized = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let base_uri = format!("http://{}{}", normalize_host(host), path);
    format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        pct(&base_uri),
        pct(&normalized)
    )
}

/// Lower-cases the authority and drops the default port, as §3.4.1.2 requires.
fn normalize_host(host: &str) -> String {
    let host = host.to_ascii_lowercase();
    host.strip_suffix(":80").map(str::to_string).unwrap_or(host)
}

pub(crate) fn sign(base: &str, consumer_secret: &str, token_secret: &str) -> String {
    let key = format!("{}&{}", pct(consumer_secret), pct(token_secret));
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(base.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Nonces seen per token, remembered as long as their timestamp could still pass the skew check.
#[derive(Default)]
pub(crate) struct NonceCache {
    seen: HashMap<(String, String, String), i64>,
}

impl NonceCache {
    fn check_and_remember(
        &mut self,
        token: &str,
        nonce: &str,
        timestamp: &str,
        ts: i64,
        now: i64,
        max_skew: i64,
    ) -> bool {
        if self.seen.len() > 4096 {
            self.seen.retain(|_, t| (now - *t).abs() <= max_skew + 1);
        }
        let key = (token.to_string(), nonce.to_string(), timestamp.to_string());
        if self.seen.contains_key(&key) {
            return false;
        }
        self.seen.insert(key, ts);
        true
    }
}

/// What the verifier needs from one HTTP request.
pub(crate) struct AuthRequest<'a> {
    pub(crate) method: &'a str,
    pub(crate) host: Option<&'a str>,
    pub(crate) path: &'a str,
    pub(crate) query: Option<&'a str>,
    pub(crate) authorization: Option<&'a str>,
}

pub(crate) struct AuthFailure {
    pub(crate) reason: AuditReason,
    /// For the audit trail; never holds a secret.
    pub(crate) detail: String,
}

fn fail(reason: AuditReason, detail: impl Into<String>) -> AuthFailure {
    AuthFailure {
        reason,
        detail: detail.into(),
    }
}

/// Checks one request. Cheap structural checks come first, the signature next, and the nonce is
/// only remembered once the signature proved the request genuine, so a forged request cannot
/// burn a nonce of the real client.
pub(crate) fn verify(
    req: &AuthRequest<'_>,
    config: &SimConfig,
    token_revoked: bool,
    nonces: &mut NonceCache,
    now: i64,
) -> Result<(), AuthFailure> {
    let raw = req
        .authorization
        .ok_or_else(|| fail(AuditReason::MissingHeader, "no Authorization header"))?;
    let header = parse_header(raw).map_err(|e| fail(AuditReason::MalformedHeader, e))?;

    match header.realm.as_deref() {
        None => return Err(fail(AuditReason::WrongRealm, "no realm in the header")),
        Some(realm) if realm != config.account_id => {
            return Err(fail(
                AuditReason::WrongRealm,
                format!(
                "realm '{realm}' does not match account '{}' (the comparison is case-sensitive)",
                config.account_id
            ),
            ))
        }
        Some(_) => {}
    }

    for name in [
        "oauth_consumer_key",
        "oauth_token",
        "oauth_signature_method",
        "oauth_timestamp",
        "oauth_nonce",
        "oauth_signature",
    ] {
        if !header.params.contains_key(name) {
            return Err(fail(
                AuditReason::MalformedHeader,
                format!("{name} is missing"),
            ));
        }
    }
    let p = |name: &str| header.params.get(name).map(String::as_str).unwrap_or("");

    let method = p("oauth_signature_method");
    if method != "HMAC-SHA256" {
        return Err(fail(
            AuditReason::UnsupportedSignatureMethod,
            format!("signature method '{method}' is not accepted; only HMAC-SHA256 is"),
        ));
    }
    if let Some(version) = header.params.get("oauth_version") {
        if version != "1.0" {
            return Err(fail(
                AuditReason::UnsupportedVersion,
                format!("oauth_version '{version}' is not 1.0"),
            ));
        }
    }
    if p("oauth_consumer_key") != config.consumer_key {
        return Err(fail(
            AuditReason::UnknownConsumer,
            "the consumer key does not belong to any integration record",
        ));
    }
    if p("oauth_token") != config.token_id {
        return Err(fail(AuditReason::UnknownToken, "the token id is not known"));
    }
    if token_revoked {
        return Err(fail(
            AuditReason::RevokedToken,
            "the access token has been revoked",
        ));
    }

    let timestamp = p("oauth_timestamp");
    let ts: i64 = timestamp.parse().map_err(|_| {
        fail(
            AuditReason::MalformedHeader,
            "oauth_timestamp is not a whole number of seconds",
        )
    })?;
    let max_skew = i64::try_from(config.max_clock_skew.as_secs()).unwrap_or(i64::MAX);
    if (now - ts).abs() > max_skew {
        return Err(fail(
            AuditReason::TimestampSkew,
            format!(
                "timestamp is {} s away from server time (limit {max_skew} s)",
                now - ts
            ),
        ));
    }
    let nonce = p("oauth_nonce");
    if nonce.chars().count() < MIN_NONCE_LEN {
        return Err(fail(
            AuditReason::NonceRejected,
            format!("nonce shorter than {MIN_NONCE_LEN} characters"),
        ));
    }

    let host = req.host.ok_or_else(|| {
        fail(
            AuditReason::MalformedHeader,
            "no Host header to build the base URI from",
        )
    })?;
    let base = base_string(req.method, host, req.path, req.query, &header.params);
    let expected = sign(&base, &config.consumer_secret, &config.token_secret);
    let given = p("oauth_signature");
    if !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
        // The base string is what a client author needs to compare, but it carries the consumer
        // key and token id, which are credentials too: log it with those two values masked.
        let shown = [
            config.consumer_key.as_str(),
            config.token_id.as_str(),
            &header
                .params
                .get("oauth_consumer_key")
                .cloned()
                .unwrap_or_default(),
            &header
                .params
                .get("oauth_token")
                .cloned()
                .unwrap_or_default(),
        ]
        .iter()
        .filter(|v| !v.is_empty())
        // In the base string a value appears encoded twice over.
        .fold(base.clone(), |b, v| b.replace(&pct(&pct(v)), "[masked]"));
        tracing::debug!(base_string = %shown, "OAuth signature mismatch");
        return Err(fail(
            AuditReason::InvalidSignature,
            "signature does not match the request",
        ));
    }

    if !nonces.check_and_remember(p("oauth_token"), nonce, timestamp, ts, now, max_skew) {
        return Err(fail(
            AuditReason::NonceReused,
            "this nonce and timestamp were already used with this token",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of RFC 5849 §3.4.1.1, with its form-body parameters moved into the
    /// query string (NetSuite signs no bodies) so the parameter set and thus the string match.
    #[test]
    fn base_string_matches_rfc_5849_example() {
        let header = parse_header(
            r#"OAuth realm="Example",
               oauth_consumer_key="9djdj82h48djs9d2",
               oauth_token="kkk9d7dh3k39sjv7",
               oauth_signature_method="HMAC-SHA1",
               oauth_timestamp="137131201",
               oauth_nonce="7d8f3e4a",
               oauth_signature="bYT5CMsGcbgUdFHObYMEfcx6bsw%3D""#,
        )
        .unwrap();
        assert_eq!(header.realm.as_deref(), Some("Example"));
        assert_eq!(
            header.params["oauth_signature"],
            "bYT5CMsGcbgUdFHObYMEfcx6bsw="
        );
        let base = base_string(
            "post",
            "EXAMPLE.COM",
            "/request",
            Some("b5=%3D%253D&a3=a&c%40=&a2=r%20b&c2&a3=2+q"),
            &header.params,
        );
        assert_eq!(
            base,
            "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q\
             %26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_\
             key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_m\
             ethod%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk\
             9d7dh3k39sjv7"
        );
    }

    #[test]
    fn default_port_is_dropped_and_others_kept() {
        let empty = BTreeMap::new();
        assert!(base_string("GET", "Host:80", "/p", None, &empty)
            .starts_with("GET&http%3A%2F%2Fhost%2Fp&"));
        assert!(base_string("GET", "127.0.0.1:8080", "/p", None, &empty)
            .starts_with("GET&http%3A%2F%2F127.0.0.1%3A8080%2Fp&"));
    }

    #[test]
    fn header_parsing_tolerates_spacing_and_rejects_duplicates() {
        let h = parse_header("OAuth   oauth_nonce = \"abc%20def\" ,realm=\"R\",oauth_token=tok")
            .unwrap();
        assert_eq!(h.params["oauth_nonce"], "abc def");
        assert_eq!(h.params["oauth_token"], "tok");
        assert_eq!(h.realm.as_deref(), Some("R"));
        assert!(parse_header("Bearer abc").is_err());
        assert!(parse_header("OAuth oauth_nonce=\"a\", oauth_nonce=\"b\"").is_err());
        assert!(parse_header("OAuth oauth_nonce=\"abc").is_err());
    }

    #[test]
    fn hmac_sha256_signature_is_base64_of_the_mac() {
        // The key is the two secrets, each percent-encoded, joined by '&'.
        let sig = sign("data", "a b", "c");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"a%20b&c").unwrap();
        mac.update(b"data");
        let expected =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(sig, expected);
        assert_eq!(sig.len(), 44);
    }
}
