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

use super::SessionStore;
use super::join::join_all;
use crate::error::{Error, ErrorKind};
use crate::record::{Record, SessionMetadata};
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

/// One listing of a user's records ([`UserIndex::records_of`]).
#[derive(Debug, Default)]
pub struct UserRecords {
    /// The sessions filed under the user whose record names them, expired
    /// or not (revocation does not judge deadlines: another instance's clock
    /// may still accept one).
    pub records: Vec<(SessionKey, Record)>,
    /// Whether a filed session's record was gone when read (deleted, or
    /// moved to a fresh id, since it was filed): a revocation then lists
    /// again, to find where it moved.
    pub vanished: bool,
}

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

    /// The sessions filed under `user` whose record names them, expired or
    /// not, with the entries whose record is gone or names someone else
    /// forgotten. Listing and every revocation start from it. The default
    /// reads [`keys_of`](Self::keys_of), then loads each key in turn (one
    /// round trip per session); stores override it with one query.
    fn records_of(&self, user: &str) -> impl Future<Output = Result<UserRecords, Error>> + Send
    where
        Self: Sized,
    {
        load_each(self, user)
    }

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

    /// Ends the session `handle` of `user`; `Ok(false)` if no session of
    /// theirs has that handle (a user can never revoke another's). A session
    /// that changes its id at that moment (`cycle_id`) is ended under its new
    /// id too.
    fn revoke(
        &self,
        user: &str,
        handle: &SessionHandle,
    ) -> impl Future<Output = Result<bool, Error>> + Send
    where
        Self: Sized,
    {
        async move { Ok(!revoke_line(self, user, handle).await?.is_empty()) }
    }

    /// Ends every session of `user` (a password reset, a disabled account),
    /// whatever their deadlines say on this instance's clock; returns how
    /// many records it deleted. When it returns, every session of `user`
    /// that existed when it began is ended, including one that was moving to
    /// a fresh id meanwhile.
    fn revoke_all(&self, user: &str) -> impl Future<Output = Result<u64, Error>> + Send
    where
        Self: Sized,
    {
        async move { Ok(revoke_every(self, user).await?.len() as u64) }
    }

    /// Ends every session of `user` except `keep`, and what `keep` becomes
    /// if it changes its id meanwhile ("log out everywhere else"); returns
    /// how many records it deleted.
    fn revoke_others(
        &self,
        user: &str,
        keep: &SessionHandle,
    ) -> impl Future<Output = Result<u64, Error>> + Send
    where
        Self: Sized,
    {
        async move { Ok(revoke_all_but(self, user, keep).await?.len() as u64) }
    }
}

/// [`UserIndex::revoke`], returning the handles of the records it deleted.
pub(crate) async fn revoke_line<S: UserIndex>(
    store: &S,
    user: &str,
    handle: &SessionHandle,
) -> Result<Vec<SessionHandle>, Error> {
    let listed = store.records_of(user).await?;
    let Some(line) = line_of(&listed.records, handle) else {
        return Ok(Vec::new());
    };
    let chosen = move |key: &SessionKey, record: &Record| lineage(key, record) == line;
    handles(revoke_where(store, user, listed, chosen).await)
}

/// [`UserIndex::revoke_all`] by listing, returning the handles of the
/// records it deleted (a store's faster override reports only a count).
pub(crate) async fn revoke_every<S: UserIndex>(
    store: &S,
    user: &str,
) -> Result<Vec<SessionHandle>, Error> {
    let listed = store.records_of(user).await?;
    handles(revoke_where(store, user, listed, |_, _| true).await)
}

/// [`UserIndex::revoke_others`], returning the handles of the records it
/// deleted.
pub(crate) async fn revoke_all_but<S: UserIndex>(
    store: &S,
    user: &str,
    keep: &SessionHandle,
) -> Result<Vec<SessionHandle>, Error> {
    let listed = store.records_of(user).await?;
    let keep = line_of(&listed.records, keep).unwrap_or(*keep);
    let chosen = move |key: &SessionKey, record: &Record| lineage(key, record) != keep;
    handles(revoke_where(store, user, listed, chosen).await)
}

fn handles(ended: Result<Vec<SessionKey>, Error>) -> Result<Vec<SessionHandle>, Error> {
    Ok(ended?.iter().map(SessionKey::handle).collect())
}

/// How many times a revocation lists a user's sessions again because one it
/// listed vanished under it (a session moving to a fresh id, a logout)
/// before it gives up with an error. A client changing its id back to back
/// can win a few rounds in a row against a loaded server (8 were seen to run
/// out once in a full test run); each round is one listing, so a generous
/// bound costs nothing when nothing races.
const MAX_REVOCATION_ROUNDS: usize = 64;

/// The line a record belongs to: the handle of the first session of its
/// sign-in, kept when `cycle_id` moves it to a fresh id.
fn lineage(key: &SessionKey, record: &Record) -> SessionHandle {
    record.lineage.unwrap_or_else(|| key.handle())
}

/// The line of the session `handle` among `listed`, or `handle` itself if a
/// listed session descends from it.
fn line_of(listed: &[(SessionKey, Record)], handle: &SessionHandle) -> Option<SessionHandle> {
    listed.iter().find_map(|(key, record)| {
        if key.handle() == *handle {
            Some(lineage(key, record))
        } else {
            (record.lineage == Some(*handle)).then_some(*handle)
        }
    })
}

/// [`UserIndex::records_of`] built on [`UserIndex::keys_of`] and
/// [`SessionStore::load`].
async fn load_each<S: UserIndex>(store: &S, user: &str) -> Result<UserRecords, Error> {
    let mut listed = UserRecords::default();
    let mut stale = Vec::new();
    for key in store.keys_of(user).await? {
        match store.load(&key).await? {
            Some(record) if record.owner.as_deref() == Some(user) => {
                listed.records.push((key, record));
            }
            Some(_) => stale.push(key),
            None => {
                listed.vanished = true;
                stale.push(key);
            }
        }
    }
    if !stale.is_empty() {
        store.forget(user, &stale).await?;
    }
    Ok(listed)
}

/// The sessions filed under `user` whose record is live and names them.
async fn live<S: UserIndex>(store: &S, user: &str) -> Result<Vec<(SessionKey, Record)>, Error> {
    let now = SystemTime::now();
    let mut entries = store.records_of(user).await?.records;
    entries.retain(|(_, record)| !record.is_expired(now));
    Ok(entries)
}

/// Deletes the sessions of `user` that `chosen` picks, starting from the
/// listing the caller already made, and lists again until a round saw
/// nothing vanish under it: a session that moved to a fresh id
/// while it was being revoked is then found under its new id (its new record
/// is indexed before its old one is deleted, and if the old one is gone when
/// the move deletes it, the move deletes its new record itself). Returns the
/// deleted keys.
async fn revoke_where<S: UserIndex>(
    store: &S,
    user: &str,
    first: UserRecords,
    chosen: impl Fn(&SessionKey, &Record) -> bool + Send,
) -> Result<Vec<SessionKey>, Error> {
    let mut ended = Vec::new();
    let mut listed = Some(first);
    for _ in 0..MAX_REVOCATION_ROUNDS {
        let UserRecords { records, vanished } = match listed.take() {
            Some(first) => first,
            None => store.records_of(user).await?,
        };
        let gone: Vec<SessionKey> = records
            .iter()
            .filter(|(key, record)| chosen(key, record))
            .map(|(key, _)| *key)
            .collect();
        // Every deletion in flight at once: one round trip of latency on a
        // store that pipelines (Redis) or pools (SQL), not one per session.
        let deleted = join_all(gone.iter().map(|key| store.delete(key)).collect()).await;
        let mut raced = vanished;
        for (key, deleted) in gone.iter().zip(deleted) {
            if deleted? {
                ended.push(*key);
            } else {
                raced = true;
            }
        }
        if !gone.is_empty() {
            store.forget(user, &gone).await?;
        }
        if !raced {
            return Ok(ended);
        }
    }
    Err(Error::new(
        ErrorKind::Conflict,
        "the user's sessions kept changing during a revocation",
    )
    .with_detail(format!(
        "sessions vanished under each of {MAX_REVOCATION_ROUNDS} listings"
    )))
}

/// Keeps the `max` most recent sign-ins of `user` and revokes the rest;
/// returns the handles it revoked. The sessions of one line (a sign-in
/// moving to a fresh id) count once. The order (sign-in time, then handle)
/// is the same for every caller, so concurrent logins agree on who stays:
/// exactly `max` sign-ins remain, the newest.
async fn keep_newest<S: UserIndex>(
    store: &S,
    user: &str,
    max: usize,
) -> Result<Vec<SessionHandle>, Error> {
    let listed = store.records_of(user).await?;
    let now = SystemTime::now();
    let mut lines: Vec<(SystemTime, SessionHandle)> = Vec::new();
    for (key, record) in listed.records.iter().filter(|(_, r)| !r.is_expired(now)) {
        let line = lineage(key, record);
        match lines.iter_mut().find(|(_, seen)| *seen == line) {
            Some((signed_in, _)) => *signed_in = (*signed_in).max(record.created_at),
            None => lines.push((record.created_at, line)),
        }
    }
    if lines.len() <= max {
        return Ok(Vec::new());
    }
    lines.sort_unstable_by(|a, b| b.cmp(a));
    // Only the lines this listing ranked out: a sign-in that arrives while
    // this runs is left to its own login's check.
    let evicted: Vec<SessionHandle> = lines.iter().skip(max).map(|(_, line)| *line).collect();
    let chosen = move |key: &SessionKey, record: &Record| evicted.contains(&lineage(key, record));
    let ended = revoke_where(store, user, listed, chosen).await?;
    Ok(ended.iter().map(SessionKey::handle).collect())
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
    /// [`UserIndex::revoke`], returning the handles of the records it
    /// deleted (the session and what it moved to meanwhile), for events.
    fn revoke_one<'a>(
        &'a self,
        user: &'a str,
        handle: &'a SessionHandle,
    ) -> IndexFuture<'a, Vec<SessionHandle>>;
    /// [`UserIndex::revoke_others`], returning the handles it deleted.
    fn revoke_others_of<'a>(
        &'a self,
        user: &'a str,
        keep: &'a SessionHandle,
    ) -> IndexFuture<'a, Vec<SessionHandle>>;
    /// [`UserIndex::revoke_all`], returning the handles it deleted (by
    /// listing: a store's faster `revoke_all` reports only a count).
    fn revoke_all_of<'a>(&'a self, user: &'a str) -> IndexFuture<'a, Vec<SessionHandle>>;
    /// [`UserIndex::forget`]: drops entries whose records were deleted.
    fn forget_keys<'a>(&'a self, user: &'a str, keys: &'a [SessionKey]) -> IndexFuture<'a, ()>;
    /// Keeps the `max` most recent sign-ins of `user` and revokes the
    /// others; returns the handles of the revoked sessions.
    fn keep_newest<'a>(&'a self, user: &'a str, max: usize) -> IndexFuture<'a, Vec<SessionHandle>>;
}

impl<S: UserIndex> ErasedUserIndex for S {
    fn sessions_of<'a>(&'a self, user: &'a str) -> IndexFuture<'a, Vec<SessionInfo>> {
        Box::pin(self.sessions(user))
    }
    fn revoke_one<'a>(
        &'a self,
        user: &'a str,
        handle: &'a SessionHandle,
    ) -> IndexFuture<'a, Vec<SessionHandle>> {
        Box::pin(revoke_line(self, user, handle))
    }
    fn revoke_others_of<'a>(
        &'a self,
        user: &'a str,
        keep: &'a SessionHandle,
    ) -> IndexFuture<'a, Vec<SessionHandle>> {
        Box::pin(revoke_all_but(self, user, keep))
    }
    fn revoke_all_of<'a>(&'a self, user: &'a str) -> IndexFuture<'a, Vec<SessionHandle>> {
        Box::pin(revoke_every(self, user))
    }
    fn forget_keys<'a>(&'a self, user: &'a str, keys: &'a [SessionKey]) -> IndexFuture<'a, ()> {
        Box::pin(self.forget(user, keys))
    }
    fn keep_newest<'a>(&'a self, user: &'a str, max: usize) -> IndexFuture<'a, Vec<SessionHandle>> {
        Box::pin(keep_newest(self, user, max))
    }
}
