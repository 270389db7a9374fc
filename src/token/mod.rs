//! Session tokens: the random value, the keys, the tag, and the store key.
//!
//! A cookie value is `<43 base64url chars of 256 random bits>.<43 chars of
//! HMAC-SHA256 tag>`. The tag covers the cookie name and the value under a key
//! derived by HKDF from the application secret. Stores file the session under
//! [`SessionKey`], the SHA-256 digest of the random bits.

mod find;
mod handle;
mod id;
mod key;
mod sign;
mod store_key;
mod strength;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

#[cfg(feature = "cookie-store")]
pub(crate) use find::find_with;
pub(crate) use find::{Presented, TokenHeaders, Verified, find};
pub use handle::SessionHandle;
pub(crate) use id::RandomValue;
#[cfg(feature = "cookie-store")]
pub(crate) use id::fill_random;
#[cfg(all(test, feature = "cookie-store"))]
pub(crate) use key::derive_bytes;
#[cfg(test)]
pub(crate) use key::test_secret;
pub use key::{Keyring, MAX_RETIRED_SECRETS, MIN_SECRET_LEN};
pub(crate) use sign::{Rejection, sign};
pub use store_key::SessionKey;

/// Warnings a client can trigger (rejected cookies, a session presented
/// with another user agent, changes dropped) allowed per second and
/// `SessionLayer`; the rest are counted and reported in the next warning, so
/// a flood cannot become a log flood.
const WARNINGS_PER_SECOND: u64 = 10;

static REJECTED_TOTAL: AtomicU64 = AtomicU64::new(0);

/// The rate limit of the warnings clients can trigger: one per
/// `SessionLayer` value, shared by its clones and by every service it makes
/// (axum applies a layer once per route, and per connection). Never logs a
/// cookie value.
#[derive(Debug, Default)]
pub(crate) struct RejectionLog {
    window: AtomicU64,
    in_window: AtomicU64,
    suppressed: AtomicU64,
}

impl RejectionLog {
    /// Logs a rejected cookie (rate-limited) and counts it.
    pub(crate) fn warn(&self, reason: &str) {
        REJECTED_TOTAL.fetch_add(1, Ordering::Relaxed);
        if let Some(suppressed) = self.allow() {
            tracing::warn!(
                reason,
                suppressed,
                "session cookie rejected; request continues as a guest"
            );
        }
    }

    /// Whether a warning may be logged now: `Some(n)` with the number of
    /// warnings suppressed since the last one logged, or `None` (counted).
    pub(crate) fn allow(&self) -> Option<u64> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        // Only the first caller of a new second opens its window; a caller
        // that read the clock just before the boundary never reopens it.
        let window = self.window.load(Ordering::Relaxed);
        if now > window
            && self
                .window
                .compare_exchange(window, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.in_window.store(0, Ordering::Relaxed);
        }
        if self.in_window.fetch_add(1, Ordering::Relaxed) < WARNINGS_PER_SECOND {
            Some(self.suppressed.swap(0, Ordering::Relaxed))
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// How many presented session cookies this process has rejected (bad tag,
/// malformed, or ambiguous), for metrics and brute-force detection.
pub fn rejected_cookie_count() -> u64 {
    REJECTED_TOTAL.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejection_warnings_are_rate_limited_but_all_counted() {
        let log = RejectionLog::default();
        let before = rejected_cookie_count();
        for _ in 0..100 {
            log.warn("bad tag");
        }
        assert!(rejected_cookie_count() - before >= 100);
        let logged = log.in_window.load(Ordering::Relaxed);
        let suppressed = log.suppressed.load(Ordering::Relaxed);
        // Unless the second ticked over mid-loop, exactly 10 were logged.
        assert!(suppressed >= 80, "logged {logged}, suppressed {suppressed}");
    }
}
