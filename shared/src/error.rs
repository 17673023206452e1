//! What the port edges share: a dependency that did not answer, with the error it gave kept
//! as the source, so a caller can log the whole chain or look inside it, not only read a line.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// The error a dependency gave, shared so the errors that carry it stay `Clone`.
pub type Cause = Arc<dyn Error + Send + Sync + 'static>;

/// A store, queue, slot store or secret source that could not be reached or refused the call:
/// `message` says what failed in our words, `cause` is the client's own error when there was one.
#[derive(Clone, Debug)]
pub struct Unavailable {
    pub message: String,
    pub cause: Option<Cause>,
}

impl Unavailable {
    /// A failure found by our own code (a partial batch, a missing answer), with no client error.
    pub fn new(message: impl Into<String>) -> Self {
        Unavailable {
            message: message.into(),
            cause: None,
        }
    }

    /// A client error, described with its whole chain and kept as the source.
    pub fn caused_by(
        message: impl Into<String>,
        cause: impl Error + Send + Sync + 'static,
    ) -> Self {
        Unavailable {
            message: message.into(),
            cause: Some(Arc::new(cause)),
        }
    }
}

impl From<String> for Unavailable {
    fn from(message: String) -> Self {
        Unavailable::new(message)
    }
}

impl From<&str> for Unavailable {
    fn from(message: &str) -> Self {
        Unavailable::new(message)
    }
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for Unavailable {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.cause.as_deref().map(|c| c as &(dyn Error + 'static))
    }
}

/// Equal when they say the same: the cause is detail, not identity.
impl PartialEq for Unavailable {
    fn eq(&self, other: &Self) -> bool {
        self.message == other.message
    }
}

impl Eq for Unavailable {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cause_is_kept_as_the_source() {
        let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "read timed out");
        let e = Unavailable::caused_by("table unavailable", io);
        assert_eq!(e.to_string(), "table unavailable");
        let source = e.source().expect("a source");
        assert_eq!(source.to_string(), "read timed out");
        assert!(source.downcast_ref::<std::io::Error>().is_some());
        assert!(Unavailable::new("partial batch").source().is_none());
    }
}
