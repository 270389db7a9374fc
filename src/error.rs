//! The crate's one error type: opaque, classified by [`ErrorKind`], keeping its source.

use std::error::Error as StdError;
use std::fmt;

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// What went wrong, for callers that branch on it.
///
/// The message of an [`Error`] gives the details (with numbers where there are
/// any); the kind is the stable part to match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The application secret is too short or too easy to guess (see
    /// [`Keyring::new`](crate::Keyring::new)).
    WeakSecret,
    /// A cookie attribute or layer option is invalid (checked when the layer is built).
    InvalidConfig,
    /// A value could not be serialized into, or deserialized out of, the session.
    Serialization,
    /// The session store failed (connection, query, I/O).
    Store,
    /// A store call ran past `store_timeout`.
    Timeout,
    /// The session was changed concurrently and could not be reconciled in time.
    Conflict,
    /// A text is not a session handle (see
    /// [`SessionHandle`](crate::SessionHandle)'s `FromStr`): for example a
    /// handle in a URL that a client changed. Answer 400 or 404.
    InvalidHandle,
    /// The session is too big to keep: with `CookieStore`, the sealed cookie
    /// would pass the browsers' 4096-byte limit.
    TooLarge,
}

/// The error of every fallible sessionware operation.
///
/// It is opaque on purpose: match on [`Error::kind`], read the message for
/// people, and follow [`std::error::Error::source`] to the underlying cause.
/// With the `axum` feature it answers `500 Internal Server Error` with a
/// generic body, so store or driver details never reach a client.
///
/// # Example
///
/// ```
/// use sessionware::{ErrorKind, MemoryStore, SessionLayer};
///
/// let err = SessionLayer::try_new(MemoryStore::new(), "too short").unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::WeakSecret);
/// assert_eq!(
///     err.to_string(),
///     "secret is too short: must be at least 32 bytes (64 recommended), got 9"
/// );
/// ```
pub struct Error {
    kind: ErrorKind,
    message: &'static str,
    detail: Option<String>,
    source: Option<BoxError>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: &'static str) -> Self {
        Self {
            kind,
            message,
            detail: None,
            source: None,
        }
    }

    /// Attaches a detail (numbers, a name; never session data) that the
    /// message shows after a colon.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Attaches the underlying cause.
    pub(crate) fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// A store failure wrapping the backend's own error; for store implementors.
    pub fn store(source: impl Into<BoxError>) -> Self {
        Self::new(ErrorKind::Store, "session store failed").with_source(source)
    }

    /// A store failure described in words; for store implementors.
    pub fn store_message(message: &'static str) -> Self {
        Self::new(ErrorKind::Store, message)
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("message", &self.to_string())
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message)?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

impl From<serde_json::Error> for Error {
    fn from(err: serde_json::Error) -> Self {
        Self::new(
            ErrorKind::Serialization,
            "session value could not be (de)serialized",
        )
        .with_source(err)
    }
}

#[cfg(feature = "axum")]
impl axum_core::response::IntoResponse for Error {
    fn into_response(self) -> axum_core::response::Response {
        tracing::error!(error = %self, kind = ?self.kind, "session error in handler");
        (
            http::StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error",
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_carries_detail_and_source_is_kept() {
        let io = std::io::Error::other("connection refused");
        let err = Error::store(io).with_detail("after 3 attempts");
        assert_eq!(err.kind(), ErrorKind::Store);
        assert_eq!(err.to_string(), "session store failed: after 3 attempts");
        assert_eq!(err.source().unwrap().to_string(), "connection refused");
    }
}
