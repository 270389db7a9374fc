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

/// One stored session: the record in its compact encoded form (about 40
/// bytes beyond the data), whose header gives the deadline, the version, the
/// last write and whether a user owns it, without decoding the rest.
pub(super) struct Entry {
    pub(super) bytes: Box<[u8]>,
}

impl Entry {
    fn header(&self) -> Header {
        // Every entry is `entry_of`'s: an encoding whose header reads.
        header_of(&self.bytes).unwrap_or(Header {
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
    pub(super) map: HashMap<SessionKey, Entry, BuildHasherDefault<DigestHasher>>,
    /// How many of `map`'s sessions belong to no user, so a search for an
    /// anonymous session to evict skips the shards that have none.
    pub(super) anonymous: usize,
}

impl Shard {
    pub(super) fn insert(&mut self, key: SessionKey, entry: Entry) -> Option<Entry> {
        self.anonymous += usize::from(!entry.owned());
        let old = self.map.insert(key, entry);
        self.uncount(old.as_ref());
        old
    }

    pub(super) fn remove(&mut self, key: &SessionKey) -> Option<Entry> {
        let old = self.map.remove(key);
        self.uncount(old.as_ref());
        old
    }

    pub(super) fn uncount(&mut self, old: Option<&Entry>) {
        if old.is_some_and(|entry| !entry.owned()) {
            self.anonymous -= 1;
        }
    }

    /// The least recently seen session of the wanted class, removed.
    pub(super) fn evict(&mut self, owned: bool) -> Option<(SessionKey, Entry)> {
        if !owned && self.anonymous == 0 {
            return None;
        }
        let key = self
            .map
            .iter()
            .filter(|(_, entry)| entry.owned() == owned)
            .min_by_key(|(_, entry)| (entry.last_seen_ms() / 1000, entry.expires_ms()))
            .map(|(key, _)| *key)?;
        self.remove(&key).map(|entry| (key, entry))
    }
}

/// The stored form of `record`.
pub(super) fn entry_of(record: &Record) -> Entry {
    Entry {
        // An exact-size copy: shrinking the encoding buffer in place would
        // leave a free fragment behind every stored session.
        bytes: Box::from(record.encode().as_slice()),
    }
}
