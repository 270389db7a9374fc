//! When a session ends: the expiry modes a layer or a session chooses.

use std::time::{Duration, SystemTime};

/// When a session ends.
///
/// Whatever the mode, the deadline is kept in the record and enforced by the
/// layer on every load; a store's own TTL is only a clean-up aid.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use sessionware::{Expiry, MemoryStore, SessionLayer};
///
/// let secret: [u8; 64] = rand::random(); // in production: from your secret store
/// // Sessions end after 30 idle minutes; the cookie's Max-Age follows.
/// let layer = SessionLayer::new(MemoryStore::new(), secret)
///     .expiry(Expiry::OnInactivity(Duration::from_secs(30 * 60)));
/// assert!(layer.validate().is_ok());
/// // A zero idle span is refused before the first request.
/// let layer = layer.expiry(Expiry::OnInactivity(Duration::ZERO));
/// assert!(layer.validate().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// The cookie has no `Max-Age`, so the browser drops it when it closes
    /// (OWASP prefers this). On the server the session still ends after
    /// `session_end_timeout` without a request (default 24 hours).
    OnSessionEnd,
    /// The session ends after this long without a request. The cookie carries
    /// a matching `Max-Age`; both are pushed back as the user is active.
    OnInactivity(Duration),
    /// The session ends at this instant, whatever the activity.
    AtDateTime(SystemTime),
}
