//! `MemoryStore`: the embedded store, sharded so requests on different cores rarely meet.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

mod shard;

use self::shard::{Entry, Shard, entry_of};
use super::{SaveOutcome, SessionStore};
use crate::error::Error;
use crate::record::{Record, unix_millis};
use crate::store::{ErasedUserIndex, UserIndex};
use crate::token::SessionKey;

/// Shards, each its own map under its own lock. Many, so that a sweep holds
/// each lock only briefly (about 0.1 ms per shard at a million sessions)
/// and a request waits at most that long behind it.
const SHARDS: usize = 512;

/// How many times a create in a full store evicts a session and tries again
/// to claim the room before it reports the store as full.
const MAX_ROOM_ATTEMPTS: usize = 1_000;

struct Inner {
    shards: Box<[Mutex<Shard>]>,
    len: AtomicUsize,
    max_sessions: AtomicUsize,
    /// Where the next eviction outside the new session's shard starts: just
    /// past the shard of the last one, so that the searches go round every
    /// shard in turn (a clock hand) instead of emptying the low shards first
    /// while sessions in the high ones outlive any number of newer ones.
    evict_from: AtomicUsize,
    /// The user index: the keys of each user's sessions. Deletes and
    /// evictions remove their entries; entries of expired sessions are
    /// pruned when read and by `delete_expired`.
    users: Mutex<HashMap<String, HashSet<SessionKey>>>,
}

/// An in-process store: fast, bounded if you ask, and gone when the process exits.
///
/// Sessions are spread over 512 independently locked shards, so concurrent
/// requests on different cores rarely wait for each other, nor for
/// [`delete_expired`](SessionStore::delete_expired), which holds one shard
/// at a time and yields between them; no operation ever holds two shard
/// locks at once. Records are kept encoded: a session with 100 bytes of
/// data takes about 240 bytes of memory in all.
///
/// Use it for development, tests, and single-instance deployments that accept
/// losing sessions on restart. With more than one instance, use a shared store.
/// In production, bound it with [`MemoryStore::max_sessions`] and run
/// [`SessionStore::delete_expired`] periodically, so that neither abandoned
/// sessions nor a flood of new ones can exhaust memory.
///
/// Cloning is cheap and every clone shares the same sessions.
///
/// # Example
///
/// ```
/// use sessionware::MemoryStore;
///
/// let store = MemoryStore::new().max_sessions(100_000);
/// assert!(store.is_empty());
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("len", &self.len())
            .field("max_sessions", &self.max())
            .finish()
    }
}

fn now_ms() -> u64 {
    unix_millis(SystemTime::now())
}

impl MemoryStore {
    /// An empty, unbounded store.
    pub fn new() -> Self {
        let shards = (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect();
        Self {
            inner: Arc::new(Inner {
                shards,
                len: AtomicUsize::new(0),
                max_sessions: AtomicUsize::new(usize::MAX),
                evict_from: AtomicUsize::new(0),
                users: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn max(&self) -> usize {
        self.inner.max_sessions.load(Ordering::Relaxed)
    }

    /// Caps the number of sessions (default: unbounded). Creating a session
    /// in a full store first drops the expired sessions of its shard, then
    /// evicts one session, in this order:
    ///
    /// 1. an anonymous session (one that belongs to no user), the least
    ///    recently seen of the new session's shard, else of the next shard
    ///    that holds one, going round the shards from where the last such
    ///    search stopped;
    /// 2. only if no anonymous session is left anywhere, a signed-in user's
    ///    session, chosen the same way.
    ///
    /// So a flood of new visitors evicts other visitors, never a signed-in
    /// user while a visitor's session is left, and as the searches go round
    /// every shard in turn, the oldest visitors go first. Each search covers
    /// one shard (1/512 of all sessions) at a time, so a full store stays
    /// cheap. Evicted
    /// sessions are guests on their next request. The limit applies to every
    /// clone of this store and is never exceeded, whatever the concurrency.
    pub fn max_sessions(self, max: usize) -> Self {
        self.inner.max_sessions.store(max.max(1), Ordering::Relaxed);
        self
    }

    /// How many sessions are held, expired or not.
    pub fn len(&self) -> usize {
        self.inner.len.load(Ordering::Relaxed)
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard_index(key: &SessionKey) -> usize {
        let bytes = key.as_bytes();
        usize::from(u16::from_le_bytes([bytes[30], bytes[31]])) % SHARDS
    }

    fn lock(&self, index: usize) -> MutexGuard<'_, Shard> {
        // A panic while holding a shard cannot leave a map half-updated in a
        // way that matters here, so a poisoned lock is still usable.
        self.inner.shards[index]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn users(&self) -> MutexGuard<'_, HashMap<String, HashSet<SessionKey>>> {
        self.inner.users.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Files `key` under the record's owner, if it has one.
    fn index(&self, key: &SessionKey, record: &Record) {
        if let Some(owner) = &record.owner {
            self.users().entry(owner.clone()).or_default().insert(*key);
        }
    }

    /// Removes a deleted or evicted session's index entry. Called with no
    /// shard lock held.
    fn unindex(&self, key: &SessionKey, entry: &Entry) {
        if !entry.owned() {
            return;
        }
        let Some(owner) = Record::decode(entry.encoded()).ok().and_then(|r| r.owner) else {
            return;
        };
        let mut users = self.users();
        if let Some(keys) = users.get_mut(&owner) {
            keys.remove(key);
            if keys.is_empty() {
                users.remove(&owner);
            }
        }
    }

    fn contains(&self, key: &SessionKey) -> bool {
        self.lock(Self::shard_index(key)).contains(key)
    }

    /// Takes the entries of `shard` whose deadline is before `now` out of
    /// it; the caller drops them once the shard's lock is released.
    fn take_expired(&self, shard: &mut Shard, now: u64) -> Vec<Entry> {
        let expired = shard.take_expired(now);
        self.inner.len.fetch_sub(expired.len(), Ordering::Relaxed);
        expired
    }

    /// Claims room for one more session, evicting while the store is full.
    fn claim_room(&self, home: usize) -> Result<(), Error> {
        for _ in 0..MAX_ROOM_ATTEMPTS {
            let len = self.len();
            if len < self.max() {
                let claimed = self.inner.len.compare_exchange(
                    len,
                    len + 1,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                );
                if claimed.is_ok() {
                    return Ok(());
                }
            } else if !self.evict_one(home) {
                // Every session is a claim not yet inserted: let it land.
                std::thread::yield_now();
            }
        }
        Err(
            Error::store_message("MemoryStore is full").with_detail(format!(
                "no room for a new session after {MAX_ROOM_ATTEMPTS} evictions; \
                 max_sessions is {}",
                self.max()
            )),
        )
    }

    /// Evicts the least recently seen session of one class from shard
    /// `index`, if it holds one.
    fn evict_from_shard(&self, index: usize, owned: bool) -> bool {
        let evicted = self.lock(index).evict(owned);
        let Some((key, entry)) = evicted else {
            return false;
        };
        self.inner.len.fetch_sub(1, Ordering::Relaxed);
        self.unindex(&key, &entry);
        true
    }

    /// Frees one place: an expired session of the home shard, else an
    /// anonymous session, else a user's (see [`MemoryStore::max_sessions`]).
    /// Locks one shard at a time.
    fn evict_one(&self, home: usize) -> bool {
        let expired = self.take_expired(&mut self.lock(home), now_ms());
        if !expired.is_empty() {
            return true;
        }
        for owned in [false, true] {
            if self.evict_from_shard(home, owned) {
                return true;
            }
            let start = self.inner.evict_from.load(Ordering::Relaxed);
            for step in 0..SHARDS {
                let index = (start + step) % SHARDS;
                if index != home && self.evict_from_shard(index, owned) {
                    self.inner.evict_from.store(index + 1, Ordering::Relaxed);
                    return true;
                }
            }
        }
        false
    }
}

/// The store's calls, answered at once: the layer calls these directly,
/// with no boxed future and no timeout (memory cannot hang).
impl MemoryStore {
    pub(crate) fn create_now(&self, key: &SessionKey, record: &Record) -> Result<bool, Error> {
        let entry = entry_of(key, record); // encoded before taking a lock
        let home = Self::shard_index(key);
        // Room is claimed first: a taken key (a broken random generator) is
        // found under the lock below and gives the claim back.
        self.claim_room(home)?;
        let mut shard = self.lock(home);
        if shard.taken(key) {
            drop(shard);
            self.inner.len.fetch_sub(1, Ordering::Relaxed);
            return Ok(false);
        }
        shard.insert(key, entry);
        drop(shard);
        self.index(key, record);
        Ok(true)
    }

    pub(crate) fn load_now(&self, key: &SessionKey) -> Result<Option<Record>, Error> {
        let shard = self.lock(Self::shard_index(key));
        match shard.get(key) {
            Some(entry) => Record::decode(entry.encoded()).map(Some),
            None => Ok(None),
        }
    }

    pub(crate) fn save_now(
        &self,
        key: &SessionKey,
        record: &Record,
        expected_version: u64,
    ) -> Result<SaveOutcome, Error> {
        let encoded = entry_of(key, record);
        let mut shard = self.lock(Self::shard_index(key));
        match shard.get(key) {
            None => Ok(SaveOutcome::Missing),
            Some(entry) if entry.version() != expected_version => Ok(SaveOutcome::Conflict),
            Some(_) => {
                shard.insert(key, encoded);
                drop(shard);
                self.index(key, record);
                Ok(SaveOutcome::Saved)
            }
        }
    }

    pub(crate) fn delete_now(&self, key: &SessionKey) -> Result<bool, Error> {
        let removed = self.lock(Self::shard_index(key)).remove(key);
        let Some(entry) = removed else {
            return Ok(false);
        };
        self.inner.len.fetch_sub(1, Ordering::Relaxed);
        self.unindex(key, &entry);
        Ok(true)
    }
}

impl SessionStore for MemoryStore {
    /// Always `Ok`: memory cannot be unreachable.
    async fn health(&self) -> Result<(), Error> {
        Ok(())
    }

    async fn create(&self, key: &SessionKey, record: &Record) -> Result<bool, Error> {
        self.create_now(key, record)
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<Record>, Error> {
        self.load_now(key)
    }

    async fn save(
        &self,
        key: &SessionKey,
        record: &Record,
        expected_version: u64,
    ) -> Result<SaveOutcome, Error> {
        self.save_now(key, record, expected_version)
    }

    async fn delete(&self, key: &SessionKey) -> Result<bool, Error> {
        self.delete_now(key)
    }

    async fn delete_expired(&self) -> Result<u64, Error> {
        let now = now_ms();
        let mut removed = 0;
        for index in 0..SHARDS {
            let expired = self.take_expired(&mut self.lock(index), now);
            removed += expired.len() as u64;
            // Freed outside the lock; then requests on this worker run
            // before the next shard (a sweep over a million sessions takes
            // tens of milliseconds in all).
            drop(expired);
            tokio::task::yield_now().await;
        }
        // Index entries of sessions that are gone (expired, evicted, deleted).
        // Lock order: the index, then a shard; no path takes them the other
        // way round (every write releases its shard before indexing).
        self.users().retain(|_, keys| {
            keys.retain(|key| self.contains(key));
            !keys.is_empty()
        });
        Ok(removed)
    }

    fn user_index(&self) -> Option<&dyn ErasedUserIndex> {
        Some(self)
    }
}

impl UserIndex for MemoryStore {
    async fn keys_of(&self, user: &str) -> Result<Vec<SessionKey>, Error> {
        let users = self.users();
        Ok(users
            .get(user)
            .map_or_else(Vec::new, |keys| keys.iter().copied().collect()))
    }

    async fn forget(&self, user: &str, stale: &[SessionKey]) -> Result<(), Error> {
        let mut users = self.users();
        if let Some(keys) = users.get_mut(user) {
            for key in stale {
                keys.remove(key);
            }
            if keys.is_empty() {
                users.remove(user);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn record(expires_in: u64) -> Record {
        let now = SystemTime::now();
        Record::new(
            Default::default(),
            now,
            now + Duration::from_secs(expires_in),
        )
    }

    /// Keys that all fall in shard 0, so eviction order is exact.
    fn key(n: u8) -> SessionKey {
        let mut bytes = [0u8; 32];
        bytes[0] = n;
        SessionKey::from_bytes(bytes)
    }

    #[tokio::test]
    async fn a_full_store_evicts_the_session_closest_to_expiry() {
        let store = MemoryStore::new().max_sessions(3);
        store.create(&key(1), &record(300)).await.unwrap();
        store.create(&key(2), &record(100)).await.unwrap();
        store.create(&key(3), &record(200)).await.unwrap();
        store.create(&key(4), &record(400)).await.unwrap();
        assert_eq!(store.len(), 3);
        assert!(
            store.load(&key(2)).await.unwrap().is_none(),
            "soonest to expire is evicted"
        );
        for n in [1, 3, 4] {
            assert!(store.load(&key(n)).await.unwrap().is_some());
        }
    }

    /// A key filed in shard `shard`, told apart from others by `n`.
    fn key_in_shard(shard: u16, n: u8) -> SessionKey {
        let mut bytes = [0u8; 32];
        bytes[0] = n;
        bytes[30..32].copy_from_slice(&shard.to_le_bytes());
        SessionKey::from_bytes(bytes)
    }

    #[tokio::test]
    async fn evictions_go_round_the_shards_so_the_oldest_visitor_in_the_last_shard_goes_too() {
        // The oldest session sits in the last shard, 64 newer ones in
        // shards 200 to 263. Each of 65 new sessions lands in an empty low
        // shard, so every eviction searches other shards. Searching from
        // shard 0 each time would evict the new sessions one after another
        // and keep the oldest for ever; going round evicts the 64, then it.
        let store = MemoryStore::new().max_sessions(65);
        let oldest = key_in_shard(511, 0);
        store.create(&oldest, &record(100)).await.unwrap();
        for n in 0..64 {
            store
                .create(&key_in_shard(200 + n, 0), &record(100))
                .await
                .unwrap();
        }
        for n in 0..65 {
            store
                .create(&key_in_shard(1 + n, 0), &record(100))
                .await
                .unwrap();
        }
        assert_eq!(store.len(), 65);
        assert!(
            store.load(&oldest).await.unwrap().is_none(),
            "the oldest session outlived 65 newer ones"
        );
        for n in 0..65 {
            let new = key_in_shard(1 + n, 0);
            assert!(
                store.load(&new).await.unwrap().is_some(),
                "new session {n} evicted"
            );
        }
    }

    #[tokio::test]
    async fn a_full_store_drops_expired_sessions_first() {
        let store = MemoryStore::new().max_sessions(2);
        store.create(&key(1), &record(0)).await.unwrap();
        store.create(&key(2), &record(100)).await.unwrap();
        store.create(&key(3), &record(50)).await.unwrap();
        assert_eq!(store.len(), 2);
        assert!(store.load(&key(2)).await.unwrap().is_some());
        assert!(store.load(&key(3)).await.unwrap().is_some());
    }
}
