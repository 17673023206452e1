//! NetSuite's REST error documents, and the error type of the in-process admin API.

use serde_json::{json, Map, Value};

/// Prefix NetSuite puts in front of record-level validation messages.
pub(crate) const PREFIX: &str = "Error while accessing a resource. ";

/// Content type of every REST error response.
pub(crate) const ERROR_CONTENT_TYPE: &str = "application/vnd.oracle.resource+json; type=error";

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ErrorDetail {
    pub(crate) detail: String,
    pub(crate) code: String,
    pub(crate) path: Option<String>,
    pub(crate) query_param: Option<String>,
}

/// One REST error response: status plus `o:errorDetails`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) details: Vec<ErrorDetail>,
    /// Methods the resource does support, sent as `Allow` with a 405.
    pub(crate) allow: Option<&'static str>,
}

impl ApiError {
    pub(crate) fn new(status: u16, code: &str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            details: vec![ErrorDetail {
                detail: detail.into(),
                code: code.to_string(),
                path: None,
                query_param: None,
            }],
            allow: None,
        }
    }

    /// Points `o:errorPath` at the offending request-body property.
    pub(crate) fn at(mut self, path: impl Into<String>) -> Self {
        if let Some(d) = self.details.first_mut() {
            d.path = Some(path.into());
        }
        self
    }

    pub(crate) fn query_param(mut self, name: &str) -> Self {
        if let Some(d) = self.details.first_mut() {
            d.query_param = Some(name.to_string());
        }
        self
    }

    /// The generic business-rule failure (400 `USER_ERROR`).
    pub(crate) fn user_error(message: impl AsRef<str>) -> Self {
        Self::new(400, "USER_ERROR", format!("{PREFIX}{}", message.as_ref()))
    }

    /// Mandatory fields left empty, listed by their UI labels.
    pub(crate) fn missing_values(labels: &[String]) -> Self {
        Self::user_error(format!("Please enter value(s) for: {}.", labels.join(", ")))
    }

    /// A select field pointing at a record that does not exist or cannot be used.
    pub(crate) fn invalid_ref(kind: &str, key: &str, path: &str) -> Self {
        Self::new(
            400,
            "INVALID_KEY_OR_REF",
            format!("{PREFIX}Invalid {kind} reference key {key}."),
        )
        .at(path)
    }

    /// An apply line naming a document the record's sublist does not list (not open, another
    /// customer's, the wrong type). The wording is the one integrators report from live
    /// accounts; the code is unconfirmed.
    pub(crate) fn no_matching_line(sublist: &str, key: &str, path: &str) -> Self {
        Self::new(
            400,
            "USER_ERROR",
            format!(
                "Unable to find a matching line for sub-list {sublist} with key: [doc,line] and value: [{key},null]."
            ),
        )
        .at(path)
    }

    /// A value NetSuite cannot accept for the field. The wording follows Oracle's documented
    /// example for an unknown line item, which uses this older prefix.
    pub(crate) fn invalid_value(value: &str, field: &str, path: &str) -> Self {
        Self::new(
            400,
            "INVALID_CONTENT",
            format!(
                "Error while accessing resource: You have entered an Invalid Field Value {value} for the following field: {field}"
            ),
        )
        .at(path)
    }

    /// Unknown internal id or external id. The REST code name is not in Oracle's pages we could
    /// read; client libraries tested against live accounts show this code and wording.
    pub(crate) fn not_found() -> Self {
        Self::new(
            404,
            "NONEXISTENT_ID",
            "The record instance does not exist. Provide a valid record instance ID.",
        )
    }

    pub(crate) fn unauthorized() -> Self {
        Self::new(
            401,
            "INVALID_LOGIN",
            "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at Setup > Users/Roles > User Management > View Login Audit Trail.",
        )
    }

    /// NetSuite answers REST calls over the account's concurrency limit with 429; the body's code
    /// name is not documented anywhere we could read (unconfirmed).
    pub(crate) fn too_many_requests(limit: usize) -> Self {
        Self::new(
            429,
            "CONCURRENCY_LIMIT_EXCEEDED",
            format!(
                "Concurrent request limit exceeded. This account allows {limit} concurrent web services requests; retry the request later."
            ),
        )
    }

    pub(crate) fn bad_json(reason: impl std::fmt::Display) -> Self {
        Self::new(
            400,
            "INVALID_CONTENT",
            format!("Invalid content in the request body. {reason}"),
        )
    }

    pub(crate) fn status(&self) -> u16 {
        self.status
    }

    pub(crate) fn first_code(&self) -> &str {
        self.details.first().map(|d| d.code.as_str()).unwrap_or("")
    }

    pub(crate) fn first_detail(&self) -> &str {
        self.details
            .first()
            .map(|d| d.detail.as_str())
            .unwrap_or("")
    }

    pub(crate) fn to_json(&self) -> Value {
        let details: Vec<Value> = self
            .details
            .iter()
            .map(|d| {
                let mut m = Map::new();
                m.insert("detail".into(), json!(d.detail));
                m.insert("o:errorCode".into(), json!(d.code));
                if let Some(p) = &d.path {
                    m.insert("o:errorPath".into(), json!(p));
                }
                if let Some(q) = &d.query_param {
                    m.insert("o:errorQueryParam".into(), json!(q));
                }
                Value::Object(m)
            })
            .collect();
        json!({
            "type": type_uri(self.status),
            "title": title(self.status),
            "status": self.status,
            "o:errorDetails": details,
        })
    }
}

fn title(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Error",
    }
}

fn type_uri(status: u16) -> &'static str {
    const BASE: &str = "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html";
    match status {
        // Oracle's 401 example carries the bare RFC 2616 section URI, without a fragment.
        401 => BASE,
        400 => "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.1",
        403 => "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.4",
        404 => "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.5",
        405 => "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.6",
        429 => "https://tools.ietf.org/html/rfc6585#section-4",
        500 => "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.5.1",
        _ => BASE,
    }
}

/// Errors of the in-process admin API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("unknown record type '{0}'")]
    UnknownRecordType(String),
    #[error("{record_type} {id} does not exist")]
    NotFound { record_type: String, id: String },
    /// The simulated NetSuite refused the operation, with the error it would send over REST.
    #[error("NetSuite refused the operation ({status} {code}): {detail}")]
    Rejected {
        status: u16,
        code: String,
        detail: String,
    },
}

impl From<ApiError> for SimError {
    fn from(e: ApiError) -> Self {
        SimError::Rejected {
            status: e.status,
            code: e.first_code().to_string(),
            detail: e.first_detail().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_netsuite_error_shape() {
        let e = ApiError::invalid_ref("entity", "42", "entity");
        let v = e.to_json();
        assert_eq!(v["status"], 400);
        assert_eq!(v["title"], "Bad Request");
        assert_eq!(v["o:errorDetails"][0]["o:errorCode"], "INVALID_KEY_OR_REF");
        assert_eq!(
            v["o:errorDetails"][0]["detail"],
            "Error while accessing a resource. Invalid entity reference key 42."
        );
        assert_eq!(v["o:errorDetails"][0]["o:errorPath"], "entity");
        let unauthorized = ApiError::unauthorized().to_json();
        assert!(unauthorized["o:errorDetails"][0]
            .get("o:errorPath")
            .is_none());
        assert_eq!(
            unauthorized["type"],
            "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html"
        );
    }

    #[test]
    fn missing_values_lists_labels() {
        let e = ApiError::missing_values(&["Company Name".into(), "Primary Subsidiary".into()]);
        assert_eq!(
            e.first_detail(),
            "Error while accessing a resource. Please enter value(s) for: Company Name, Primary Subsidiary."
        );
    }
}
