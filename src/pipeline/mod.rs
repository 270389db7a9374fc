//! The request pipeline, crate-private: what one layer's requests share
//! ([`Context`]), the one load of a request, and the after-response step.
//! It never imports the public shell (`session`, `layer`, `service`,
//! `future`); the shell calls into it.

mod backend;
mod changes;
mod credential;
mod evict;
mod load;
mod persist;
mod save;
#[cfg(feature = "cookie-store")]
mod sealed;
mod set_cookie;
mod state;
mod store_call;

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) use backend::{Backend, BoxFuture};
pub use credential::CredentialCheck;
pub(crate) use credential::{Checker, fingerprint_digest};
pub(crate) use load::load;
pub(crate) use persist::{nothing_to_write, persist};
pub(crate) use set_cookie::SetCookieTemplate;
pub(crate) use state::{CookieAction, Origin, State};

use crate::config::Config;
use crate::error::{Error, ErrorKind};
use crate::event::{Events, RejectionReason};
use crate::token::{Keyring, Presented, RandomValue};

/// What every request of one layer shares.
pub(crate) struct Context {
    pub(crate) backend: Backend,
    pub(crate) keyring: Keyring,
    pub(crate) config: Config,
    /// Where fresh session values come from; tests swap it to force collisions.
    pub(crate) new_value: fn() -> Result<RandomValue, Error>,
    /// The rate limit of client-triggered warnings, shared by every clone of
    /// the layer and every service it makes.
    pub(crate) rejections: std::sync::Arc<RejectionLog>,
    pub(crate) events: Events,
    /// The application's check of a user's current credential fingerprint
    /// (`SessionLayer::credential_check`), asked at every load of a session
    /// signed in with one.
    pub(crate) credential: Option<Checker>,
    /// Our `Set-Cookie` text's fixed part, rendered from `config`.
    pub(crate) set_cookie: SetCookieTemplate,
}

impl Context {
    /// Runs a store call under `store_timeout`; a hung store is a failed one.
    /// A call that answers at once (the memory store) arms no timer.
    pub(crate) async fn call<T>(
        &self,
        call: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let mut call = std::pin::pin!(call);
        let first = std::future::poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx))).await;
        if let Poll::Ready(result) = first {
            return result;
        }
        // Boxed: the timer is large, and every future awaiting a store call
        // would otherwise carry room for it.
        match Box::pin(tokio::time::timeout(self.config.store_timeout, call)).await {
            Ok(result) => result,
            Err(_) => Err(
                Error::new(ErrorKind::Timeout, "session store call timed out")
                    .with_detail(format!("no answer within {:?}", self.config.store_timeout)),
            ),
        }
    }

    /// The genuine value among the request's cookies, if exactly one.
    /// Refusals are logged (rate-limited) and reported as events.
    pub(crate) fn accept<T>(&self, presented: Presented<T>) -> Option<T> {
        let reason = match presented {
            Presented::Nothing => return None,
            Presented::Genuine(value) => return Some(value),
            Presented::Rejected(reason) => {
                self.rejections.warn(reason.as_str());
                RejectionReason::of(reason)
            }
            Presented::Ambiguous => {
                self.rejections
                    .warn("several distinct genuine session cookies (cookie tossing?)");
                RejectionReason::Ambiguous
            }
        };
        self.events.emit_rejected(reason);
        None
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Warnings a client can trigger (rejected cookies, a session presented
/// with another user agent, changes dropped) allowed per second and
/// `SessionLayer`; the rest are counted and reported in the next warning, so
/// a flood cannot become a log flood.
const WARNINGS_PER_SECOND: u64 = 10;

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
    /// Logs a rejected cookie (rate-limited).
    pub(crate) fn warn(&self, reason: &str) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejection_warnings_are_rate_limited() {
        let log = RejectionLog::default();
        for _ in 0..100 {
            log.warn("bad tag");
        }
        let logged = log.in_window.load(Ordering::Relaxed);
        let suppressed = log.suppressed.load(Ordering::Relaxed);
        // Unless the second ticked over mid-loop, exactly 10 were logged.
        assert!(suppressed >= 80, "logged {logged}, suppressed {suppressed}");
    }
}
