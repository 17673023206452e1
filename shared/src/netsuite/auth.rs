//! OAuth 1.0a token-based authentication (TBA) as NetSuite accepts it.
//!
//! NetSuite wants HMAC-SHA256 (HMAC-SHA1 stopped working in 2023.1) and a `realm` parameter
//! holding the account id in upper case. `oauth1-request` builds the RFC 5849 base string and
//! header but ships only HMAC-SHA1 and never writes `realm`, so this module adds an
//! HMAC-SHA256 [`SignatureMethod`] and prepends the realm.

use std::fmt::{self, Display, Write as _};
use std::num::NonZeroU64;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use oauth1_request::signature_method::{Sign, SignatureMethod};
use oauth1_request::{ParameterList, Token};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::Sha256;
use url::Url;

use super::config::Credentials;

/// RFC 3986 unreserved characters stay as they are; everything else is percent-encoded.
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn pct(s: &str) -> percent_encoding::PercentEncode<'_> {
    utf8_percent_encode(s, RFC3986)
}

/// The `HMAC-SHA256` signature method for `oauth1-request`.
#[derive(Clone, Copy, Debug, Default)]
pub struct HmacSha256;

/// Signing state: the MAC is fed the base string piece by piece as the serializer walks it.
#[derive(Clone)]
pub struct HmacSha256Sign {
    mac: Hmac<Sha256>,
}

/// The finished signature, displayed base64-encoded and then percent-encoded, as the
/// `Authorization` header needs it.
pub struct HmacSha256Signature(Vec<u8>);

impl SignatureMethod for HmacSha256 {
    type Sign = HmacSha256Sign;

    fn sign_with(self, client_secret: &str, token_secret: Option<&str>) -> HmacSha256Sign {
        let key = format!("{}&{}", pct(client_secret), pct(token_secret.unwrap_or("")));
        // HMAC accepts keys of any length, so this cannot fail.
        let mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key");
        HmacSha256Sign { mac }
    }
}

/// Feeds `Display` output into the MAC without an intermediate allocation.
struct MacWriter<'a>(&'a mut Hmac<Sha256>);

impl fmt::Write for MacWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.update(s.as_bytes());
        Ok(())
    }
}

impl Sign for HmacSha256Sign {
    type Signature = HmacSha256Signature;

    fn get_signature_method_name(&self) -> &'static str {
        "HMAC-SHA256"
    }

    fn request_method(&mut self, method: &str) {
        self.mac.update(method.as_bytes());
        self.mac.update(b"&");
    }

    fn uri<T: Display>(&mut self, uri: T) {
        // The serializer hands over the base URI already percent-encoded.
        let _ = write!(MacWriter(&mut self.mac), "{uri}&");
    }

    fn parameter<V: Display>(&mut self, key: &str, value: V) {
        // Keys and values arrive encoded twice over (once as parameters, once for the base
        // string); the `=` between them is encoded once, as `%3D`.
        self.mac.update(key.as_bytes());
        self.mac.update(b"%3D");
        let _ = write!(MacWriter(&mut self.mac), "{value}");
    }

    fn delimiter(&mut self) {
        self.mac.update(b"%26");
    }

    fn end(self) -> HmacSha256Signature {
        HmacSha256Signature(self.mac.finalize().into_bytes().to_vec())
    }
}

impl Display for HmacSha256Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.0);
        write!(f, "{}", pct(&b64))
    }
}

/// Fixed nonce and timestamp, for reproducible signatures in tests only.
#[derive(Clone, Debug)]
pub struct FixedNonce {
    pub nonce: String,
    pub timestamp: u64,
}

/// Builds the `Authorization` header value for one request attempt.
///
/// Every call draws a new nonce and reads the clock, so a retry is always signed afresh
/// (NetSuite refuses a reused nonce/timestamp pair). Query parameters of `url` are signed;
/// the JSON body is not part of an OAuth 1.0a signature.
pub fn authorization_header(
    credentials: &Credentials,
    realm: &str,
    method: &str,
    url: &Url,
) -> String {
    authorization_header_with(credentials, realm, method, url, None)
}

/// [`authorization_header`] with an optional fixed nonce and timestamp.
pub fn authorization_header_with(
    credentials: &Credentials,
    realm: &str,
    method: &str,
    url: &Url,
    fixed: Option<&FixedNonce>,
) -> String {
    let token = Token::from_parts(
        credentials.consumer_key.expose(),
        credentials.consumer_secret.expose(),
        credentials.token_id.expose(),
        credentials.token_secret.expose(),
    );
    let mut builder = oauth1_request::Builder::with_token(token, HmacSha256);
    builder.version(true);
    if let Some(fixed) = fixed {
        builder.nonce(fixed.nonce.as_str());
        builder.timestamp(NonZeroU64::new(fixed.timestamp));
    }

    // `oauth1-request` wants the URI without its query and the query as signed parameters.
    let mut base = url.clone();
    base.set_query(None);
    base.set_fragment(None);
    let params: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let params = ParameterList::new(params);

    let header = builder.authorize(&method.to_ascii_uppercase(), base.as_str(), &params);
    let rest = header.strip_prefix("OAuth ").unwrap_or(&header);
    format!("OAuth realm=\"{}\",{rest}", pct(realm))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;

    fn creds() -> Credentials {
        Credentials {
            consumer_key: Secret::new("ck-example"),
            consumer_secret: Secret::new("cs-example"),
            token_id: Secret::new("tk-example"),
            token_secret: Secret::new("ts-example"),
        }
    }

    /// Independent reference computation of the RFC 5849 signature, written out longhand.
    fn reference_signature(method: &str, url: &Url, nonce: &str, ts: u64) -> String {
        let mut params: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        for (k, v) in [
            ("oauth_consumer_key", "ck-example"),
            ("oauth_token", "tk-example"),
            ("oauth_signature_method", "HMAC-SHA256"),
            ("oauth_nonce", nonce),
            ("oauth_version", "1.0"),
        ] {
            params.push((k.into(), v.into()));
        }
        params.push(("oauth_timestamp".into(), ts.to_string()));
        let mut enc: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (pct(k).to_string(), pct(v).to_string()))
            .collect();
        enc.sort();
        let normalized = enc
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let mut base_uri = url.clone();
        base_uri.set_query(None);
        let base = format!("{}&{}&{}", method, pct(base_uri.as_str()), pct(&normalized));
        let mut mac = Hmac::<Sha256>::new_from_slice(b"cs-example&ts-example").unwrap();
        mac.update(base.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }

    fn header_param<'a>(header: &'a str, name: &str) -> &'a str {
        let start = header.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        let end = start + header[start..].find('"').unwrap();
        &header[start..end]
    }

    #[test]
    fn signature_matches_a_longhand_rfc5849_computation() {
        let url = Url::parse(
            "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/query/v1/suiteql?limit=10&offset=20",
        )
        .unwrap();
        let fixed = FixedNonce {
            nonce: "abcdef123456".into(),
            timestamp: 1_700_000_000,
        };
        let h = authorization_header_with(&creds(), "1234567_SB1", "post", &url, Some(&fixed));
        assert!(h.starts_with("OAuth realm=\"1234567_SB1\","), "{h}");
        assert_eq!(header_param(&h, "oauth_signature_method"), "HMAC-SHA256");
        assert_eq!(header_param(&h, "oauth_version"), "1.0");
        let sig = percent_encoding::percent_decode_str(header_param(&h, "oauth_signature"))
            .decode_utf8()
            .unwrap()
            .into_owned();
        assert_eq!(
            sig,
            reference_signature("POST", &url, "abcdef123456", 1_700_000_000)
        );
    }

    #[test]
    fn every_call_gets_a_fresh_nonce() {
        let url =
            Url::parse("https://x.suitetalk.api.netsuite.com/services/rest/record/v1/customer/1")
                .unwrap();
        let a = authorization_header(&creds(), "X", "GET", &url);
        let b = authorization_header(&creds(), "X", "GET", &url);
        let (na, nb) = (
            header_param(&a, "oauth_nonce"),
            header_param(&b, "oauth_nonce"),
        );
        assert_ne!(na, nb);
        assert!(na.len() >= 6);
    }

    #[test]
    fn header_never_contains_the_secrets() {
        let url = Url::parse("https://x.suitetalk.api.netsuite.com/a").unwrap();
        let h = authorization_header(&creds(), "X", "GET", &url);
        assert!(!h.contains("cs-example") && !h.contains("ts-example"));
    }
}
