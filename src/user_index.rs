//! `UserIndex`: the sessions of one user, listed and revoked.
//!
//! A session belongs to a user once a handler calls
//! [`Session::login`](crate::Session::login); the record then names its owner,
//! and a store that keeps an index files the session under that user too.
//! The record is the truth: index entries whose session was deleted,
//! expired or cycled are pruned the next time the user's sessions are read,
//! so counts stay right without a clean-up job.

use std::future::Future;
use std::pin::Pin;
use std::time::SystemTime;

use crate::error::Error;
use crate::event::SessionEvent;
use crate::layer::Context;
use crate::record::{Record, SessionMetadata};
use crate::store::SessionStore;
use crate::token::{SessionHandle, SessionKey};

/// One live session of a user, as a "your devices" page shows it. It holds
/// the session's public [`SessionHandle`], never its cookie nor its store key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct SessionInfo {
    /// The handle to show and to pass to [`UserIndex::revoke`].
    pub handle: SessionHandle,
    /// When the session was created (for a logged-in session: the login).
    pub created_at: SystemTime,
    /// When the session was last written: a change, or a refresh of its idle
    /// deadline (so this is accurate to `refresh_fraction` of the idle span).
    pub last_seen: SystemTime,
    /// When the session ends unless it is used again.
    pub expires_at: SystemTime,
    /// What was noted about the client at login, if the layer was asked to.
    pub metadata: Option<SessionMetadata>,
}

/// Pinned future of [`ErasedUserIndex`].
pub type IndexFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send + 'a>>;

/// A store that can list and revoke the sessions of one user.
///
/// Every server-side store shipped with sessionware implements it. A store
/// implements the two primitives, [`keys_of`](Self::keys_of) and
/// [`forget`](Self::forget); the listing and revocation methods are built on
/// them and check every session's record, so an index that is behind (a
/// session deleted, expired or cycled since) never lists or revokes the
/// wrong session. Stores override them when they can do better.
///
/// A revoked session's record is deleted, so its cookie is a guest on its
/// very next request, on every instance sharing the store.
///
/// ```
/// use sessionware::{MemoryStore, UserIndex};
///
/// async fn log_out_everywhere(store: &impl UserIndex, user: &str) -> Result<u64, sessionware::Error> {
///     store.revoke_all(user).await
/// }
/// # let _ = log_out_everywhere(&MemoryStore::new(), "ferris");
/// ```
#[cfg_attr(
    feature = "cookie-store",
    doc = r#"
The cookie store keeps nothing on the server, so it has no index, and code
that needs one does not compile with it:

```compile_fail
use sessionware::{CookieStore, UserIndex};

async fn log_out_everywhere(store: &impl UserIndex, user: &str) -> Result<u64, sessionware::Error> {
    store.revoke_all(user).await
}
let _ = log_out_everywhere(&CookieStore::new(), "ferris");
```
"#
)]
pub trait UserIndex: SessionStore {
    /// The keys filed under `user`. It may hold stale entries (sessions
    /// since deleted, expired or cycled): the callers check each record.
    fn keys_of(&self, user: &str) -> impl Future<Output = Result<Vec<SessionKey>, Error>> + Send;

    /// Drops `stale` keys from `user`'s entries (a no-op for stores whose
    /// index is the record itself).
    fn forget(
        &self,
        user: &str,
        stale: &[SessionKey],
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// The live sessions of `user`, most recently seen first.
    fn sessions(&self, user: &str) -> impl Future<Output = Result<Vec<SessionInfo>, Error>> + Send
    where
        Self: Sized,
    {
        async move {
            let mut infos: Vec<SessionInfo> = live(self, user)
                .await?
                .into_iter()
                .map(|(key, record)| info(&key, record))
                .collect();
            infos.sort_by_key(|info| std::cmp::Reverse(info.last_seen));
            Ok(infos)
        }
    }

    /// Ends the session `handle` of `user`; `Ok(false)` if no live session
    /// of theirs has that handle (a user can never revoke another's).
    fn revoke(
        &self,
        user: &str,
        handle: &SessionHandle,
    ) -> impl Future<Output = Result<bool, Error>> + Send
    where
        Self: Sized,
    {
        async move {
            let target = live(self, user)
                .await?
                .into_iter()
                .find(|(key, _)| key.handle() == *handle);
            let Some((key, _)) = target else {
                return Ok(false);
            };
            let removed = self.delete(&key).await?;
            self.forget(user, &[key]).await?;
            Ok(removed)
        }
    }

    /// Ends every session of `user` (a password reset, a disabled account);
    /// returns how many.
    fn revoke_all(&self, user: &str) -> impl Future<Output = Result<u64, Error>> + Send
    where
        Self: Sized,
    {
        revoke_where(self, user, |_| true)
    }

    /// Ends every session of `user` except `keep` ("log out everywhere
    /// else"); returns how many.
    fn revoke_others(
        &self,
        user: &str,
        keep: &SessionHandle,
    ) -> impl Future<Output = Result<u64, Error>> + Send
    where
        Self: Sized,
    {
        let keep = *keep;
        revoke_where(self, user, move |key| key.handle() != keep)
    }
}

/// The sessions filed under `user` whose record is live and names them; the
/// other entries are forgotten.
async fn live<S: UserIndex>(store: &S, user: &str) -> Result<Vec<(SessionKey, Record)>, Error> {
    let now = SystemTime::now();
    let mut live = Vec::new();
    let mut stale = Vec::new();
    for key in store.keys_of(user).await? {
        match store.load(&key).await? {
            Some(record) if record.owner.as_deref() == Some(user) && !record.is_expired(now) => {
                live.push((key, record));
            }
            _ => stale.push(key),
        }
    }
    if !stale.is_empty() {
        store.forget(user, &stale).await?;
    }
    Ok(live)
}

async fn revoke_where<S: UserIndex>(
    store: &S,
    user: &str,
    mut chosen: impl FnMut(&SessionKey) -> bool + Send,
) -> Result<u64, Error> {
    let mut removed = 0;
    let mut gone = Vec::new();
    for (key, _) in live(store, user).await? {
        if chosen(&key) {
            removed += u64::from(store.delete(&key).await?);
            gone.push(key);
        }
    }
    if !gone.is_empty() {
        store.forget(user, &gone).await?;
    }
    Ok(removed)
}

fn info(key: &SessionKey, record: Record) -> SessionInfo {
    SessionInfo {
        handle: key.handle(),
        created_at: record.created_at,
        last_seen: record.last_seen,
        expires_at: record.expires_at,
        metadata: record.metadata,
    }
}

/// [`UserIndex`] behind a reference, for code that holds a store of unknown
/// type (the layer's `max_sessions_per_user`). Implemented for every
/// [`UserIndex`]; a store that implements [`UserIndex`] returns `Some(self)`
/// from [`SessionStore::user_index`].
pub trait ErasedUserIndex: Send + Sync {
    /// [`UserIndex::sessions`].
    fn sessions_of<'a>(&'a self, user: &'a str) -> IndexFuture<'a, Vec<SessionInfo>>;
    /// [`UserIndex::revoke`].
    fn revoke_one<'a>(&'a self, user: &'a str, handle: &'a SessionHandle) -> IndexFuture<'a, bool>;
}

impl<S: UserIndex> ErasedUserIndex for S {
    fn sessions_of<'a>(&'a self, user: &'a str) -> IndexFuture<'a, Vec<SessionInfo>> {
        Box::pin(self.sessions(user))
    }
    fn revoke_one<'a>(&'a self, user: &'a str, handle: &'a SessionHandle) -> IndexFuture<'a, bool> {
        Box::pin(self.revoke(user, handle))
    }
}

/// After a login: with `max_sessions_per_user`, revokes the user's least
/// recently seen sessions beyond the cap, never `new` (catalogue #40). A
/// failure is logged; the login stands.
pub(crate) async fn cap_sessions(ctx: &Context, owner: Option<&str>, new: &SessionKey) {
    let (Some(user), Some(max)) = (owner, ctx.config.max_sessions_per_user) else {
        return;
    };
    let Some(index) = ctx.backend.index() else {
        return;
    };
    let new = new.handle();
    let evict = async {
        // Most recently seen first; the new session is kept whatever its rank.
        let sessions = index.sessions_of(user).await?;
        let older = sessions.iter().filter(|info| info.handle != new);
        for info in older.skip(max.saturating_sub(1)) {
            index.revoke_one(user, &info.handle).await?;
            ctx.events.emit(|| SessionEvent::Revoked {
                handle: info.handle,
            });
            tracing::info!(session = %info.handle, "session evicted: max_sessions_per_user reached");
        }
        Ok::<(), Error>(())
    };
    if let Err(err) = ctx.call(evict).await {
        tracing::error!(error = %err, "could not enforce max_sessions_per_user");
    }
}
