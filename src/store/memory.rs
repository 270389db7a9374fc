//! `MemoryStore`: the embedded store, sharded so requests on different cores rarely meet.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use super::{SaveOutcome, SessionStore};
use crate::error::Error;
use crate::record::{Record, unix_millis};
use crate::token::SessionKey;
use crate::user_index::{ErasedUserIndex, UserIndex};

const SHARDS: usize = 64;

/// Keys are SHA-256 digests of values we generated, so their bytes are already
/// uniformly distributed and cannot be chosen by a client: hashing them again
/// would be wasted work.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        if let Some(head) = bytes.first_chunk::<8>() {
            self.0 = u64::from_le_bytes(*head);
        }
    }
    fn write_usize(&mut self, _length_prefix: usize) {}
}

struct Entry {
    expires_ms: u64,
    version: u64,
    /// The record in its compact encoded form (about 50 bytes beyond the data).
    bytes: Box<[u8]>,
}

type Shard = HashMap<SessionKey, Entry, BuildHasherDefault<DigestHasher>>;

struct Inner {
    shards: Box<[Mutex<Shard>]>,
    len: AtomicUsize,
    max_sessions: AtomicUsize,
    /// The user index: the keys of each user's sessions. Entries of deleted
    /// or expired sessions are pruned when read and by `delete_expired`.
    users: Mutex<HashMap<String, HashSet<SessionKey>>>,
}

/// An in-process store: fast, bounded if you ask, and gone when the process exits.
///
/// Sessions are spread over 64 independently locked shards, so concurrent
/// requests on different cores rarely wait for each other. Records are kept
/// encoded (about 50 bytes beyond the session's own data).
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
                users: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn max(&self) -> usize {
        self.inner.max_sessions.load(Ordering::Relaxed)
    }

    /// Caps the number of sessions (default: unbounded). Creating a session in
    /// a full store first drops the expired sessions of its shard, then evicts
    /// the session closest to its deadline among those of its shard (1/64 of
    /// all sessions, so the cost of a full store stays bounded; other shards
    /// are searched only if that one is empty). Evicted users become guests.
    /// The limit applies to every clone of this store.
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
        usize::from(key.as_bytes()[31]) % SHARDS
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

    fn contains(&self, key: &SessionKey) -> bool {
        self.lock(Self::shard_index(key)).contains_key(key)
    }

    fn remove_expired(&self, shard: &mut Shard, now: u64) -> u64 {
        let before = shard.len();
        shard.retain(|_, entry| entry.expires_ms > now);
        let removed = before - shard.len();
        self.inner.len.fetch_sub(removed, Ordering::Relaxed);
        removed as u64
    }

    /// Makes room for one more session when the store is full.
    fn make_room(&self, home: usize, home_shard: &mut Shard) {
        if self.len() < self.max() {
            return;
        }
        self.remove_expired(home_shard, now_ms());
        if self.len() < self.max() {
            return;
        }
        if evict_soonest(home_shard) {
            self.inner.len.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        for index in (0..SHARDS).filter(|&i| i != home) {
            if evict_soonest(&mut self.lock(index)) {
                self.inner.len.fetch_sub(1, Ordering::Relaxed);
                return;
            }
        }
    }
}

fn evict_soonest(shard: &mut Shard) -> bool {
    let soonest = shard
        .iter()
        .min_by_key(|(_, e)| e.expires_ms)
        .map(|(k, _)| *k);
    soonest.is_some_and(|key| shard.remove(&key).is_some())
}

fn entry_of(record: &Record) -> Entry {
    Entry {
        expires_ms: unix_millis(record.expires_at),
        version: record.version,
        // An exact-size copy: shrinking the encoding buffer in place would
        // leave a free fragment behind every stored session.
        bytes: Box::from(record.encode().as_slice()),
    }
}

impl SessionStore for MemoryStore {
    /// Always `Ok`: memory cannot be unreachable.
    async fn health(&self) -> Result<(), Error> {
        Ok(())
    }

    async fn create(&self, key: &SessionKey, record: &Record) -> Result<bool, Error> {
        let entry = entry_of(record); // encoded before taking the lock
        let home = Self::shard_index(key);
        let mut shard = self.lock(home);
        if self.len() >= self.max() && !shard.contains_key(key) {
            self.make_room(home, &mut shard);
        }
        match shard.entry(*key) {
            std::collections::hash_map::Entry::Occupied(_) => Ok(false),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(entry);
                self.inner.len.fetch_add(1, Ordering::Relaxed);
                drop(shard);
                self.index(key, record);
                Ok(true)
            }
        }
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<Record>, Error> {
        let shard = self.lock(Self::shard_index(key));
        match shard.get(key) {
            Some(entry) => Record::decode(&entry.bytes).map(Some),
            None => Ok(None),
        }
    }

    async fn save(
        &self,
        key: &SessionKey,
        record: &Record,
        expected_version: u64,
    ) -> Result<SaveOutcome, Error> {
        let encoded = entry_of(record);
        let mut shard = self.lock(Self::shard_index(key));
        match shard.get_mut(key) {
            None => Ok(SaveOutcome::Missing),
            Some(entry) if entry.version != expected_version => Ok(SaveOutcome::Conflict),
            Some(entry) => {
                *entry = encoded;
                drop(shard);
                self.index(key, record);
                Ok(SaveOutcome::Saved)
            }
        }
    }

    async fn delete(&self, key: &SessionKey) -> Result<bool, Error> {
        let removed = self.lock(Self::shard_index(key)).remove(key).is_some();
        if removed {
            self.inner.len.fetch_sub(1, Ordering::Relaxed);
        }
        Ok(removed)
    }

    async fn delete_expired(&self) -> Result<u64, Error> {
        let now = now_ms();
        let mut removed = 0;
        for index in 0..SHARDS {
            removed += self.remove_expired(&mut self.lock(index), now);
        }
        // Index entries of sessions that are gone (expired, evicted, deleted).
        // Lock order: the index, then a shard; no path takes them the other
        // way round (create and save release their shard before indexing).
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
