//! NetSuite errors: the `o:errorDetails` body parsed into types, and the one question the
//! sync engine asks of every failure: try again by itself, or wait for a person?

use std::fmt;

use serde::Deserialize;

use super::governor::GovernorError;

/// One entry of NetSuite's `o:errorDetails`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ErrorDetail {
    #[serde(default)]
    pub detail: String,
    #[serde(rename = "o:errorCode", default)]
    pub code: Option<String>,
    /// JSONPath into the request body, e.g. `item.items[0].item`.
    #[serde(rename = "o:errorPath", default)]
    pub path: Option<String>,
}

/// A non-2xx answer from NetSuite, with its body decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub title: String,
    pub details: Vec<ErrorDetail>,
    /// What we asked, e.g. `create salesOrder` (never headers or bodies).
    pub operation: String,
    /// The server's `Retry-After`, when it sent one.
    pub retry_after: Option<std::time::Duration>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    title: String,
    #[serde(rename = "o:errorDetails", default)]
    details: Vec<ErrorDetail>,
}

impl ApiError {
    /// Decodes NetSuite's error body; a body that is not the usual JSON is kept as the detail
    /// (a proxy's HTML page, say) so nothing is lost.
    pub fn from_body(status: u16, operation: String, body: &[u8]) -> Self {
        match serde_json::from_slice::<ErrorBody>(body) {
            Ok(b) => ApiError {
                status,
                title: b.title,
                details: b.details,
                operation,
                retry_after: None,
            },
            Err(_) => {
                let text = String::from_utf8_lossy(body);
                let text: String = text.trim().chars().take(500).collect();
                ApiError {
                    status,
                    title: String::new(),
                    details: if text.is_empty() {
                        Vec::new()
                    } else {
                        vec![ErrorDetail {
                            detail: text,
                            code: None,
                            path: None,
                        }]
                    },
                    operation,
                    retry_after: None,
                }
            }
        }
    }

    /// Whether any detail contains one of `phrases`.
    fn says(&self, phrases: &[&str]) -> bool {
        self.details
            .iter()
            .any(|d| phrases.iter().any(|p| d.detail.contains(p)))
    }

    /// The first error code, e.g. `USER_ERROR`.
    pub fn code(&self) -> Option<&str> {
        self.details.iter().find_map(|d| d.code.as_deref())
    }

    /// All details joined, for messages.
    pub fn detail(&self) -> String {
        self.details
            .iter()
            .map(|d| match &d.path {
                Some(p) => format!("{} (at {p})", d.detail),
                None => d.detail.clone(),
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn kind(&self) -> ErrorKind {
        let code = self.code().unwrap_or("");
        if CONCURRENCY_CODES.contains(&code) || self.status == 429 {
            return ErrorKind::Concurrency;
        }
        if OAUTH_REFUSALS.contains(&code) {
            return ErrorKind::Login;
        }
        match (self.status, code) {
            (401, _)
            | (_, "INVALID_LOGIN" | "INVALID_LOGIN_ATTEMPT" | "INVALID_LOGIN_CREDENTIALS") => {
                ErrorKind::Login
            }
            (403, _) | (_, "INSUFFICIENT_PERMISSION" | "PERMISSION_VIOLATION") => {
                ErrorKind::Permission
            }
            (404, _) | (_, "NONEXISTENT_ID" | "RECORD_NOT_FOUND" | "RCRD_DSNT_EXIST") => {
                ErrorKind::NotFound
            }
            (_, "DUP_RCRD" | "DUPLICATE_RECORD") => ErrorKind::Duplicate,
            (_, "INVALID_INITIALIZE_REF") => ErrorKind::CannotInitialize,
            _ if self.says(CANNOT_INITIALIZE) => ErrorKind::CannotInitialize,
            _ if self.says(NOT_OPEN) => ErrorKind::NotOpen,
            (_, "INVALID_KEY_OR_REF") => ErrorKind::InvalidReference,
            (s, _) if s >= 500 => ErrorKind::Server,
            (400..=499, _) => ErrorKind::Validation,
            _ => ErrorKind::Unexpected,
        }
    }
}

/// NetSuite's words when a transform's source cannot give the target now: an order not
/// shipped yet, already billed or closed, a deposit fully applied. SOAP's code for it is
/// `INVALID_INITIALIZE_REF`; REST's code is unconfirmed, its text the same.
const CANNOT_INITIALIZE: &[&str] = &["You can not initialize"];

/// NetSuite's words when an apply line names a document that is not open any more (paid,
/// credited, voided): the first is the observed REST text, the second the older wording some
/// accounts answer with.
const NOT_OPEN: &[&str] = &[
    "Unable to find a matching line for sub-list apply",
    "Invalid apply reference key",
];

/// The token endpoint's refusals (RFC 6749 error codes): each means the login failed and
/// nothing changes until someone fixes the integration, the certificate mapping or the key.
pub const OAUTH_REFUSALS: &[&str] = &[
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
];

/// Codes NetSuite uses when the account's concurrent-request limit is exceeded. REST answers
/// 429; RESTlets and SOAP have their own codes, which an account-wide limit can surface too.
const CONCURRENCY_CODES: &[&str] = &[
    "CONCURRENCY_LIMIT_EXCEEDED",
    "SSS_REQUEST_LIMIT_EXCEEDED",
    "WS_CONCUR_SESSION_DISALLWD",
    "WS_REQUEST_BLOCKED",
    "ExceededConcurrentRequestLimitFault",
];

/// What went wrong, in the terms a sync step and an operator care about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// 401: credentials, realm, token revoked, or the role lacks "Log in using Access Tokens".
    Login,
    /// 403: the role lacks a permission.
    Permission,
    NotFound,
    /// 400 `USER_ERROR` and friends: a business rule or a field value.
    Validation,
    /// `INVALID_KEY_OR_REF`: a referenced record is missing, inactive or in another subsidiary.
    InvalidReference,
    Duplicate,
    /// A transform refused because its source cannot give the target (an order not shipped
    /// yet or already billed, a deposit fully applied): when billsync made the target before,
    /// it exists under its external id.
    CannotInitialize,
    /// An apply line names a document that is no longer open (already paid or credited):
    /// when billsync applied it before, its record exists under its external id.
    NotOpen,
    /// Over the account's concurrency limit.
    Concurrency,
    /// 5xx.
    Server,
    /// The connection failed or timed out.
    Transport,
    /// A write's answer was lost; NetSuite may or may not have committed it.
    OutcomeUnknown,
    /// NetSuite answered something we could not read.
    Protocol,
    Config,
    Unexpected,
}

/// Whether a failure can go away by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Try again later with backoff: 429, 5xx, timeouts, resets.
    Retryable,
    /// Nothing changes until someone fixes data, settings or permissions.
    NeedsPerson,
}

impl ErrorKind {
    pub fn class(self) -> ErrorClass {
        match self {
            ErrorKind::Concurrency | ErrorKind::Server | ErrorKind::Transport => {
                ErrorClass::Retryable
            }
            _ => ErrorClass::NeedsPerson,
        }
    }
}

/// How a transport failure happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportKind {
    /// No connection was made: the request never reached NetSuite.
    Connect,
    Timeout,
    /// The connection broke while the request or answer was under way.
    Interrupted,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::Connect => "could not connect",
            TransportKind::Timeout => "timed out",
            TransportKind::Interrupted => "connection lost",
        })
    }
}

/// Everything the NetSuite client can fail with. Messages carry the operation and NetSuite's
/// own detail; never a header, a credential or a request body.
#[derive(Clone, Debug, thiserror::Error)]
pub enum NetSuiteError {
    #[error("NetSuite answered {} to {}: {}", .0.status, .0.operation, summary(.0))]
    Api(ApiError),
    #[error("NetSuite {operation}: {kind}: {message}")]
    Transport {
        operation: String,
        kind: TransportKind,
        message: String,
    },
    #[error("NetSuite {operation}: the answer was lost after the request was sent, so NetSuite may have saved it; the record has no externalId to look it up by, so it was not sent again ({message})")]
    OutcomeUnknown { operation: String, message: String },
    #[error("NetSuite {operation}: unexpected answer: {message}")]
    Protocol { operation: String, message: String },
    #[error("NetSuite settings: {0}")]
    Config(String),
    /// No concurrency slot could be had (the shared slot store failed): the request was never
    /// sent, so it is safe to send later.
    #[error("NetSuite {operation}: not sent, no concurrency slot: {source}")]
    Governor {
        operation: String,
        #[source]
        source: GovernorError,
    },
    /// The account failed several requests in a row (server errors, timeouts, lost
    /// connections), so its requests wait out a hold instead of each retrying on its own.
    #[error("NetSuite {operation}: not sent: the account's last requests failed in a row, so its requests wait {}s before one tries again", .wait.as_secs().max(1))]
    Held {
        operation: String,
        wait: std::time::Duration,
    },
    /// The account answers slowly and this request waited too long for one of its slots: not
    /// sent; the message waits in the queue instead.
    #[error("NetSuite {operation}: not sent: the account answers slowly and its slots are taken; the invoice waits in the queue")]
    Busy { operation: String },
}

fn summary(e: &ApiError) -> String {
    let code = e.code().map(|c| format!("{c}: ")).unwrap_or_default();
    let detail = e.detail();
    if detail.is_empty() {
        format!("{code}{}", e.title)
    } else {
        format!("{code}{detail}")
    }
}

impl NetSuiteError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            NetSuiteError::Api(e) => e.kind(),
            NetSuiteError::Transport { .. } => ErrorKind::Transport,
            NetSuiteError::OutcomeUnknown { .. } => ErrorKind::OutcomeUnknown,
            NetSuiteError::Protocol { .. } => ErrorKind::Protocol,
            NetSuiteError::Config(_) => ErrorKind::Config,
            // Like a connection never made: retryable, certainly not acted on.
            NetSuiteError::Governor { .. }
            | NetSuiteError::Held { .. }
            | NetSuiteError::Busy { .. } => ErrorKind::Transport,
        }
    }

    pub fn class(&self) -> ErrorClass {
        self.kind().class()
    }

    pub fn is_retryable(&self) -> bool {
        self.class() == ErrorClass::Retryable
    }

    pub fn is_not_found(&self) -> bool {
        self.kind() == ErrorKind::NotFound
    }

    /// NetSuite's error code, when NetSuite sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            NetSuiteError::Api(e) => e.code(),
            _ => None,
        }
    }

    /// The HTTP status, when NetSuite answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            NetSuiteError::Api(e) => Some(e.status),
            _ => None,
        }
    }

    pub fn api(&self) -> Option<&ApiError> {
        match self {
            NetSuiteError::Api(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: &str) -> ApiError {
        let body = serde_json::json!({
            "type": "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.1",
            "title": "Bad Request",
            "status": status,
            "o:errorDetails": [{"detail": "Error while accessing a resource. Please enter value(s) for: Department.", "o:errorCode": code, "o:errorPath": "department"}]
        });
        ApiError::from_body(
            status,
            "POST record/v1/salesOrder".into(),
            body.to_string().as_bytes(),
        )
    }

    #[test]
    fn parses_error_details() {
        let e = api(400, "USER_ERROR");
        assert_eq!(e.code(), Some("USER_ERROR"));
        assert_eq!(e.title, "Bad Request");
        assert_eq!(e.details[0].path.as_deref(), Some("department"));
        let msg = NetSuiteError::Api(e).to_string();
        assert!(
            msg.contains("400") && msg.contains("USER_ERROR") && msg.contains("Department"),
            "{msg}"
        );
    }

    #[test]
    fn classifies_retryable_versus_needs_a_person() {
        let cases = [
            (429, "", ErrorKind::Concurrency, ErrorClass::Retryable),
            (
                400,
                "SSS_REQUEST_LIMIT_EXCEEDED",
                ErrorKind::Concurrency,
                ErrorClass::Retryable,
            ),
            (
                500,
                "UNEXPECTED_ERROR",
                ErrorKind::Server,
                ErrorClass::Retryable,
            ),
            (503, "", ErrorKind::Server, ErrorClass::Retryable),
            (
                400,
                "USER_ERROR",
                ErrorKind::Validation,
                ErrorClass::NeedsPerson,
            ),
            (
                400,
                "INVALID_KEY_OR_REF",
                ErrorKind::InvalidReference,
                ErrorClass::NeedsPerson,
            ),
            (
                401,
                "INVALID_LOGIN",
                ErrorKind::Login,
                ErrorClass::NeedsPerson,
            ),
            (
                403,
                "INSUFFICIENT_PERMISSION",
                ErrorKind::Permission,
                ErrorClass::NeedsPerson,
            ),
            (
                404,
                "NONEXISTENT_ID",
                ErrorKind::NotFound,
                ErrorClass::NeedsPerson,
            ),
            (
                400,
                "DUP_RCRD",
                ErrorKind::Duplicate,
                ErrorClass::NeedsPerson,
            ),
        ];
        for (status, code, kind, class) in cases {
            let e = api(status, code);
            assert_eq!(e.kind(), kind, "{status} {code}");
            assert_eq!(e.kind().class(), class, "{status} {code}");
        }
        let t = NetSuiteError::Transport {
            operation: "GET x".into(),
            kind: TransportKind::Timeout,
            message: "timed out".into(),
        };
        assert!(t.is_retryable());
    }

    #[test]
    fn keeps_a_non_json_body_as_detail() {
        let e = ApiError::from_body(502, "GET x".into(), b"<html>Bad Gateway</html>");
        assert_eq!(e.kind(), ErrorKind::Server);
        assert!(e.detail().contains("Bad Gateway"));
    }
}
