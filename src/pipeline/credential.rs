//! Logout on credential change: the application's check of a user's current
//! credential fingerprint, and the load step that ends a session signed in
//! under an older one.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::backend::BoxFuture;
use crate::error::Error;

/// Prefixed to a fingerprint before it is hashed, so that its digest is
/// never the digest of anything else the crate hashes.
const FINGERPRINT_LABEL: &[u8] = b"sessionware/v1/credential-fingerprint\0";
/// The most users a credential cache remembers; past it, stale answers are
/// dropped, and if none is stale, all of them.
const MAX_CACHED_USERS: usize = 10_000;

/// Where the layer asks for a user's *current* credential fingerprint, to
/// end the sessions signed in before a password change (see
/// [`SessionLayer::credential_check`](crate::SessionLayer::credential_check)).
///
/// The fingerprint is whatever changes when the user's credentials do, and
/// only then: a counter bumped on every password or 2FA change (a "security
/// stamp"), or a hash of the stored password hash. Pass the same value to
/// [`Login::credential`](crate::Login::credential) at login. The session
/// keeps only its SHA-256 digest.
///
/// It is implemented for closures `Fn(String) -> impl Future<Output =
/// Result<Option<String>, Error>>`, and for your own types. `Ok(None)` means
/// the user has no fingerprint any more (deleted, disabled): their sessions
/// end. An `Err` leaves the session degraded for that request
/// ([`Session::is_degraded`](crate::Session::is_degraded)), never signed in.
///
/// # Example
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::{Arc, Mutex};
/// use sessionware::{CredentialCheck, Error, MemoryStore, SessionLayer};
///
/// /// Each user's security stamp, bumped on every password change.
/// #[derive(Clone, Default)]
/// struct Stamps(Arc<Mutex<HashMap<String, u64>>>);
///
/// impl CredentialCheck for Stamps {
///     async fn current(&self, user: &str) -> Result<Option<String>, Error> {
///         let stamps = self.0.lock().unwrap();
///         Ok(stamps.get(user).map(u64::to_string))
///     }
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let stamps = Stamps::default();
/// stamps.0.lock().unwrap().insert("ferris".into(), 1);
/// assert_eq!(stamps.current("ferris").await?.as_deref(), Some("1"));
/// # let secret: [u8; 64] = rand::random();
/// let layer = SessionLayer::new(MemoryStore::new(), &secret).credential_check(stamps);
/// # Ok::<(), Error>(())
/// # }).unwrap();
/// ```
pub trait CredentialCheck: Send + Sync + 'static {
    /// The current fingerprint of `user`, or `None` if the user has none
    /// (unknown, deleted, disabled).
    fn current(&self, user: &str) -> impl Future<Output = Result<Option<String>, Error>> + Send;
}

impl<F, Fut> CredentialCheck for F
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<String>, Error>> + Send,
{
    fn current(&self, user: &str) -> impl Future<Output = Result<Option<String>, Error>> + Send {
        self(user.to_owned())
    }
}

/// A [`CredentialCheck`] behind a pointer, as the layer keeps it.
trait ErasedCheck: Send + Sync {
    fn current<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Option<String>, Error>>;
}

impl<C: CredentialCheck> ErasedCheck for C {
    fn current<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Option<String>, Error>> {
        Box::pin(CredentialCheck::current(self, user))
    }
}

/// The layer's credential check, type-erased and cheap to clone; with a
/// cache shared by every clone.
#[derive(Clone)]
pub(crate) struct Checker {
    check: Arc<dyn ErasedCheck>,
    cache: Option<Arc<Cache>>,
}

/// The digest of each user's current fingerprint, as the check last gave
/// it, and when. Only a match is ever answered from here: a session whose
/// digest differs is always checked anew, so a login after a password
/// change is never refused on the strength of an old answer.
struct Cache {
    ttl: Duration,
    users: Mutex<HashMap<String, (Instant, [u8; 32])>>,
}

impl fmt::Debug for Checker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Checker")
            .field("cache", &self.cache.as_ref().map(|cache| cache.ttl))
            .finish_non_exhaustive()
    }
}

impl Checker {
    pub(crate) fn new(check: impl CredentialCheck) -> Self {
        Self {
            check: Arc::new(check),
            cache: None,
        }
    }

    /// This check, trusting a matching answer for `ttl`.
    pub(crate) fn cached(mut self, ttl: Duration) -> Self {
        self.cache = Some(Arc::new(Cache {
            ttl,
            users: Mutex::default(),
        }));
        self
    }

    /// Whether `digest`, the one a session of `user` was signed in with,
    /// is still the digest of the user's current fingerprint.
    pub(crate) async fn still_valid(&self, user: &str, digest: &[u8; 32]) -> Result<bool, Error> {
        if let Some(cache) = &self.cache
            && cache.matches(user, digest)
        {
            return Ok(true);
        }
        let current = self.check.current(user).await?;
        let current = current.map(|current| fingerprint_digest(&current));
        if let Some(cache) = &self.cache {
            cache.note(user, current);
        }
        Ok(current.is_some_and(|current| bool::from(current.ct_eq(digest))))
    }
}

impl Cache {
    fn users(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, [u8; 32])>> {
        self.users.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the check said, less than `ttl` ago, that `digest` is current.
    fn matches(&self, user: &str, digest: &[u8; 32]) -> bool {
        self.users().get(user).is_some_and(|(at, current)| {
            at.elapsed() < self.ttl && bool::from(current.ct_eq(digest))
        })
    }

    fn note(&self, user: &str, current: Option<[u8; 32]>) {
        let mut users = self.users();
        let Some(current) = current else {
            users.remove(user);
            return;
        };
        if users.len() >= MAX_CACHED_USERS && !users.contains_key(user) {
            users.retain(|_, (at, _)| at.elapsed() < self.ttl);
            if users.len() >= MAX_CACHED_USERS {
                users.clear();
            }
        }
        users.insert(user.to_owned(), (Instant::now(), current));
    }
}

/// What a session keeps of a credential fingerprint.
pub(crate) fn fingerprint_digest(fingerprint: &str) -> [u8; 32] {
    Sha256::new()
        .chain_update(FINGERPRINT_LABEL)
        .chain_update(fingerprint.as_bytes())
        .finalize()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_closure_is_a_check_and_compares_digests() {
        let checker = Checker::new(|user: String| async move {
            Ok((user == "ferris").then(|| "stamp-2".to_owned()))
        });
        let now = fingerprint_digest("stamp-2");
        assert!(checker.still_valid("ferris", &now).await.unwrap());
        assert!(
            !checker
                .still_valid("ferris", &fingerprint_digest("stamp-1"))
                .await
                .unwrap()
        );
        assert!(
            !checker.still_valid("crab", &now).await.unwrap(),
            "no user, no session"
        );
        assert_ne!(fingerprint_digest(""), fingerprint_digest("\0"));
    }

    /// A cached match spares the lookup; a digest that differs from the
    /// cached one is always asked about (a login after the change passes at
    /// once); a cached answer expires.
    #[tokio::test]
    async fn the_cache_answers_only_matches() {
        use std::sync::atomic::{AtomicU64, Ordering};
        let stamp = Arc::new(AtomicU64::new(1));
        let lookups = Arc::new(AtomicU64::new(0));
        let (source, counter) = (Arc::clone(&stamp), Arc::clone(&lookups));
        let checker = Checker::new(move |_user: String| {
            counter.fetch_add(1, Ordering::SeqCst);
            let stamp = source.load(Ordering::SeqCst).to_string();
            async move { Ok(Some(stamp)) }
        })
        .cached(Duration::from_millis(200));
        let (one, two) = (fingerprint_digest("1"), fingerprint_digest("2"));
        assert!(checker.still_valid("ferris", &one).await.unwrap());
        assert!(checker.still_valid("ferris", &one).await.unwrap());
        assert_eq!(
            lookups.load(Ordering::SeqCst),
            1,
            "the second from the cache"
        );
        stamp.store(2, Ordering::SeqCst);
        // The old session lives on from the cache (the documented cost) ...
        assert!(checker.still_valid("ferris", &one).await.unwrap());
        // ... but the new one is asked about, and passes.
        assert!(checker.still_valid("ferris", &two).await.unwrap());
        assert_eq!(lookups.load(Ordering::SeqCst), 2);
        assert!(!checker.still_valid("ferris", &one).await.unwrap());
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(checker.still_valid("ferris", &two).await.unwrap());
        assert_eq!(lookups.load(Ordering::SeqCst), 4, "expired: asked again");
    }
}
