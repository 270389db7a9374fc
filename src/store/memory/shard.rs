//! One shard of the `MemoryStore`: its map, its count of anonymous
//! sessions, and the stored form of a record.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::record::{Header, Record, header_of};
use crate::token::SessionKey;

/// Keys are SHA-256 digests of values we generated, so their bytes are already
/// uniformly distributed and cannot be chosen by a client: hashing them again
/// would be wasted work.
#[derive(Default)]
pub(super) struct DigestHasher(u64);

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

/// The map's key: the first half of a session's digest. The second half
/// leads the entry's bytes, where it costs 16 bytes of the entry's
/// allocation instead of 16 bytes in every bucket of the map (which holds
/// about twice as many buckets as sessions).
type Half = [u8; 16];

const HALF: usize = 16;

fn halves(key: &SessionKey) -> (&Half, &Half) {
    let (head, tail) = key.as_bytes().split_at(HALF);
    (
        head.try_into().expect("a digest has two halves"),
        tail.try_into().expect("a digest has two halves"),
    )
}

/// One stored session: the second half of its key, then the record in its
/// compact encoded form (about 40 bytes beyond the data), whose header gives
/// the deadline, the version, the last write and whether a user owns it,
/// without decoding the rest.
pub(super) struct Entry {
    bytes: Box<[u8]>,
}

impl Entry {
    /// The encoded record.
    pub(super) fn encoded(&self) -> &[u8] {
        &self.bytes[HALF..]
    }

    fn tail(&self) -> &[u8] {
        &self.bytes[..HALF]
    }

    /// The whole key of the entry filed under `head`.
    fn key(&self, head: &Half) -> SessionKey {
        let mut key = [0; 32];
        key[..HALF].copy_from_slice(head);
        key[HALF..].copy_from_slice(self.tail());
        SessionKey::from_bytes(key)
    }

    fn header(&self) -> Header {
        // Every entry is `entry_of`'s: an encoding whose header reads.
        header_of(self.encoded()).unwrap_or(Header {
            expires_ms: 0,
            version: 0,
            last_seen_ms: 0,
            owned: false,
        })
    }

    /// The record's deadline, in milliseconds.
    pub(super) fn expires_ms(&self) -> u64 {
        self.header().expires_ms
    }

    /// The record's version.
    pub(super) fn version(&self) -> u64 {
        self.header().version
    }

    /// Whether the session belongs to a user: anonymous sessions are evicted first.
    pub(super) fn owned(&self) -> bool {
        self.header().owned
    }

    /// When the record was last written, in milliseconds: the eviction
    /// order within each class.
    fn last_seen_ms(&self) -> u64 {
        self.header().last_seen_ms
    }
}

/// One lock's worth of sessions.
#[derive(Default)]
pub(super) struct Shard {
    map: HashMap<Half, Entry, BuildHasherDefault<DigestHasher>>,
    /// How many of `map`'s sessions belong to no user, so a search for an
    /// anonymous session to evict skips the shards that have none.
    pub(super) anonymous: usize,
}

impl Shard {
    /// The session stored under `key`.
    pub(super) fn get(&self, key: &SessionKey) -> Option<&Entry> {
        let (head, tail) = halves(key);
        self.map
            .get(head)
            .filter(|entry| entry.tail() == tail.as_slice())
    }

    /// Whether a session is stored under `key`.
    pub(super) fn contains(&self, key: &SessionKey) -> bool {
        self.get(key).is_some()
    }

    /// Whether `key` cannot be created: a session is stored under it, or
    /// under another key with the same first half (one chance in 2^128
    /// between two random digests; the creator then draws another id).
    pub(super) fn taken(&self, key: &SessionKey) -> bool {
        self.map.contains_key(halves(key).0)
    }

    /// Stores `entry` (made by [`entry_of`] for `key`), replacing `key`'s.
    /// The caller has checked that the first half is free or `key`'s own.
    pub(super) fn insert(&mut self, key: &SessionKey, entry: Entry) -> Option<Entry> {
        self.anonymous += usize::from(!entry.owned());
        let old = self.map.insert(*halves(key).0, entry);
        self.uncount(old.as_ref());
        old
    }

    pub(super) fn remove(&mut self, key: &SessionKey) -> Option<Entry> {
        self.get(key)?;
        let old = self.map.remove(halves(key).0);
        self.uncount(old.as_ref());
        old
    }

    fn uncount(&mut self, old: Option<&Entry>) {
        if old.is_some_and(|entry| !entry.owned()) {
            self.anonymous -= 1;
        }
    }

    /// Takes the sessions whose deadline is at or before `now` out.
    pub(super) fn take_expired(&mut self, now: u64) -> Vec<Entry> {
        let expired: Vec<Entry> = self
            .map
            .extract_if(|_, entry| entry.expires_ms() <= now)
            .map(|(_, entry)| entry)
            .collect();
        self.anonymous -= expired.iter().filter(|entry| !entry.owned()).count();
        expired
    }

    /// The least recently seen session of the wanted class, removed.
    pub(super) fn evict(&mut self, owned: bool) -> Option<(SessionKey, Entry)> {
        if !owned && self.anonymous == 0 {
            return None;
        }
        let head = *self
            .map
            .iter()
            .filter(|(_, entry)| entry.owned() == owned)
            .min_by_key(|(_, entry)| (entry.last_seen_ms() / 1000, entry.expires_ms()))
            .map(|(head, _)| head)?;
        let entry = self.map.remove(&head)?;
        self.uncount(Some(&entry));
        Some((entry.key(&head), entry))
    }
}

/// The stored form of `record` under `key`: the key's second half, then the
/// encoded record, in one exact-size allocation (shrinking a larger buffer
/// in place would leave a free fragment behind every stored session).
pub(super) fn entry_of(key: &SessionKey, record: &Record) -> Entry {
    Entry {
        bytes: record.encode_after(halves(key).1).into_boxed_slice(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::SessionData;
    use std::time::{Duration, SystemTime};

    fn record() -> Record {
        let now = SystemTime::now();
        Record::new(SessionData::new(), now, now + Duration::from_secs(60))
    }

    #[test]
    fn keys_sharing_a_first_half_never_read_each_others_session() {
        let mut shard = Shard::default();
        let ours = SessionKey::from_bytes([1; 32]);
        let mut bytes = [1; 32];
        bytes[31] = 2;
        let twin = SessionKey::from_bytes(bytes);
        shard.insert(&ours, entry_of(&ours, &record()));
        assert!(shard.contains(&ours));
        assert!(!shard.contains(&twin), "same first half, other key");
        assert!(shard.taken(&twin), "so it cannot be created either");
        assert!(shard.remove(&twin).is_none());
        assert!(shard.contains(&ours));
        let (evicted, _) = shard.evict(false).unwrap();
        assert_eq!(evicted, ours, "the whole key comes back from its halves");
    }
}
