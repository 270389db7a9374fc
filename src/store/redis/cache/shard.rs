//! One shard of the read cache: a least-recently-used map of stored values
//! with its own bounds, and the epoch that invalidations move.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use lru::LruCache;

use crate::token::SessionKey;

/// Bytes counted per cached entry besides its value: the key, the map slot,
/// the LRU links and the value's allocation header.
const ENTRY_OVERHEAD: usize = 96;

struct Entry {
    value: Arc<[u8]>,
    filled_at: Instant,
    /// The record's deadline, when Redis drops the key.
    expires_at: SystemTime,
}

impl Entry {
    fn weight(&self) -> usize {
        self.value.len() + ENTRY_OVERHEAD
    }
}

pub(super) struct Shard {
    entries: LruCache<SessionKey, Entry>,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
    epoch: u64,
}

impl Shard {
    pub(super) fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            entries: LruCache::unbounded(),
            bytes: 0,
            max_entries,
            max_bytes,
            epoch: 0,
        }
    }

    pub(super) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Moves the epoch: tickets taken before no longer fill.
    pub(super) fn advance(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
    }

    /// The value of `key` if it was filled less than `ttl` ago and its
    /// record's deadline has not passed (Redis has dropped the key then);
    /// an older one is dropped.
    pub(super) fn get(&mut self, key: &SessionKey, ttl: Duration) -> Option<Arc<[u8]>> {
        let entry = self.entries.get(key)?;
        if entry.filled_at.elapsed() < ttl && SystemTime::now() < entry.expires_at {
            return Some(Arc::clone(&entry.value));
        }
        self.drop_entry(key);
        None
    }

    /// Keeps `value` (of a record whose deadline is `expires_at`), then
    /// drops the least recently used entries while over a bound (a value
    /// larger than the whole shard, or already past its deadline, is not
    /// kept at all).
    pub(super) fn insert(&mut self, key: SessionKey, value: Arc<[u8]>, expires_at: SystemTime) {
        let entry = Entry {
            value,
            filled_at: Instant::now(),
            expires_at,
        };
        if entry.weight() > self.max_bytes || expires_at <= SystemTime::now() {
            self.drop_entry(&key);
            return;
        }
        self.bytes += entry.weight();
        if let Some(old) = self.entries.put(key, entry) {
            self.bytes -= old.weight();
        }
        while self.entries.len() > self.max_entries || self.bytes > self.max_bytes {
            match self.entries.pop_lru() {
                Some((_, evicted)) => self.bytes -= evicted.weight(),
                None => break,
            }
        }
    }

    /// Drops `key` and moves the epoch.
    pub(super) fn remove(&mut self, key: &SessionKey) {
        self.drop_entry(key);
        self.advance();
    }

    /// Drops everything and moves the epoch.
    pub(super) fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
        self.advance();
    }

    fn drop_entry(&mut self, key: &SessionKey) {
        if let Some(old) = self.entries.pop(key) {
            self.bytes -= old.weight();
        }
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SessionKey {
        SessionKey::from_bytes([n; 32])
    }

    fn later() -> SystemTime {
        SystemTime::now() + Duration::from_secs(60)
    }

    #[test]
    fn the_least_recently_used_entry_goes_first_when_entries_are_full() {
        let mut shard = Shard::new(2, usize::MAX);
        shard.insert(key(1), Arc::from(&b"one"[..]), later());
        shard.insert(key(2), Arc::from(&b"two"[..]), later());
        assert!(shard.get(&key(1), Duration::MAX).is_some());
        shard.insert(key(3), Arc::from(&b"three"[..]), later());
        assert!(shard.get(&key(2), Duration::MAX).is_none());
        assert!(shard.get(&key(1), Duration::MAX).is_some());
        assert_eq!(shard.len(), 2);
    }

    #[test]
    fn bytes_stay_within_their_bound_and_are_counted_back_on_removal() {
        let mut shard = Shard::new(usize::MAX, 2 * (ENTRY_OVERHEAD + 10));
        for n in 0..10 {
            shard.insert(key(n), Arc::from(&[n; 10][..]), later());
            assert!(shard.bytes() <= 2 * (ENTRY_OVERHEAD + 10));
        }
        assert_eq!(shard.len(), 2);
        shard.remove(&key(9));
        shard.remove(&key(8));
        assert_eq!((shard.len(), shard.bytes()), (0, 0));
        shard.insert(key(1), Arc::from(&[0; 1_000][..]), later());
        assert_eq!(shard.len(), 0, "a value larger than the shard is not kept");
    }

    #[test]
    fn an_entry_older_than_its_time_to_live_is_not_served() {
        let mut shard = Shard::new(8, usize::MAX);
        shard.insert(key(1), Arc::from(&b"one"[..]), later());
        assert!(shard.get(&key(1), Duration::ZERO).is_none());
        assert_eq!(shard.len(), 0);
    }

    #[test]
    fn an_entry_past_its_records_deadline_is_not_served_nor_kept() {
        let mut shard = Shard::new(8, usize::MAX);
        shard.insert(
            key(1),
            Arc::from(&b"one"[..]),
            SystemTime::now() + Duration::from_millis(30),
        );
        assert!(shard.get(&key(1), Duration::MAX).is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert!(shard.get(&key(1), Duration::MAX).is_none());
        shard.insert(key(2), Arc::from(&b"two"[..]), SystemTime::now());
        assert_eq!(shard.len(), 0);
    }

    #[test]
    fn removals_and_clears_move_the_epoch() {
        let mut shard = Shard::new(8, usize::MAX);
        let start = shard.epoch();
        shard.remove(&key(1));
        shard.clear();
        assert_eq!(shard.epoch(), start + 2);
    }
}
