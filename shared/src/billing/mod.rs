//! Billing sources: the canonical model, the port the sync reads through
//! ([`source::BillingSource`]) and one adapter per source. This module is the one place that
//! chooses an adapter by [`Source`]; nothing outside `billing` matches on it.

pub mod chargebee;
mod http;
pub mod maxio;
pub mod model;
pub mod source;
pub mod webhook;

use std::sync::Arc;

use model::Source;
use source::{BillingSource, SourceError};

use crate::secrets::BillingSecret;

impl Source {
    /// The source's name in webhook paths and settings (`maxio`, `chargebee`).
    pub fn parse(name: &str) -> Option<Source> {
        [Source::Maxio, Source::Chargebee]
            .into_iter()
            .find(|s| s.as_str() == name)
    }

    /// The store cursor of the source's event stream.
    pub fn events_cursor(self) -> &'static str {
        match self {
            Source::Maxio => maxio::source::EVENTS_CURSOR,
            Source::Chargebee => chargebee::source::EVENTS_CURSOR,
        }
    }
}

/// The billing client of a tenant's site, from its secret.
pub fn connect(
    source: Source,
    site: &str,
    secret: &BillingSecret,
) -> Result<Arc<dyn BillingSource>, SourceError> {
    let base_url = secret
        .base_url
        .as_deref()
        .map(|raw| {
            let url: url::Url = raw
                .parse()
                .map_err(|e| SourceError::config(format!("billing base_url: {e}")))?;
            if url.scheme() != "https" && !crate::netsuite::config::in_the_clear_allowed(&url) {
                // The API key would cross the network readable by anyone on the way.
                return Err(SourceError::config(format!(
                    "billing base_url `{raw}` must start with https:// (plain http:// only to this machine, for a simulator)"
                )));
            }
            Ok(url)
        })
        .transpose()?;
    let key = secret.api_key.clone();
    Ok(match source {
        Source::Maxio => {
            let mut config = maxio::client::MaxioConfig::new(site, key);
            config.base_url = base_url;
            Arc::new(maxio::client::MaxioClient::new(config)?)
        }
        Source::Chargebee => {
            let mut config = chargebee::client::ChargebeeConfig::new(site, key);
            config.base_url = base_url;
            Arc::new(chargebee::client::ChargebeeClient::new(config)?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::BillingSecret;

    fn secret(base_url: &str) -> BillingSecret {
        serde_json::from_value(serde_json::json!({"api_key": "k", "base_url": base_url})).unwrap()
    }

    #[test]
    fn an_api_key_goes_in_the_clear_only_to_this_machine() {
        assert!(connect(Source::Maxio, "acme", &secret("http://127.0.0.1:9/")).is_ok());
        assert!(connect(
            Source::Chargebee,
            "acme",
            &secret("https://acme.chargebee.com/")
        )
        .is_ok());
        for source in [Source::Maxio, Source::Chargebee] {
            let e = connect(source, "acme", &secret("http://billing.example.com/"))
                .err()
                .unwrap();
            assert!(e.message.contains("must start with https://"), "{e}");
        }
    }
}
