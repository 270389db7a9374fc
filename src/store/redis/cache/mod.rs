//! The opt-in local read cache of [`RedisStore`](super::RedisStore): records
//! kept in this process after a load or a save, dropped when any instance
//! changes or deletes them, announced on a Redis pub/sub channel.
//!
//! * **Why pub/sub rather than `CLIENT TRACKING`**: every write of a session
//!   already goes through one of our scripts, which publishes the change in
//!   the same step on the server; the invalidation channel is then one
//!   subscriber connection per instance whatever the deployment (one node,
//!   Sentinel, Cluster, where `PUBLISH` reaches every node), the server keeps
//!   no per-client table of tracked keys, and the cache is ours: bounded by
//!   entries and bytes, with counts, and able to refuse a fill that raced an
//!   invalidation (below). redis-rs's client-side cache caches commands per
//!   connection and has no hook to stop serving while its invalidations are
//!   unknown, which this cache must do.
//! * **A fill never undoes an invalidation**: each shard has an epoch that
//!   every invalidation (and every local write) moves; a load notes the
//!   epoch before its `GET` and stores its answer only if the epoch has not
//!   moved, so an answer read before a change is never cached after the
//!   change's invalidation arrived.
//! * **Never stale for long**: the subscriber pings the server every
//!   [`PING_EVERY`]; a `PONG` proves every message published before the
//!   `PING` was applied. Entries are served only within [`TRUSTED_FOR`] of
//!   the last proof; a lost or silent connection flushes the cache, which
//!   stays off (every load goes to Redis) until the subscription is back.

mod shard;
pub(super) mod subscriber;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use self::shard::Shard;
use crate::token::SessionKey;

/// How often the subscriber pings the server to prove it still receives.
pub(super) const PING_EVERY: Duration = Duration::from_millis(250);
/// How long after the last proven `PING` entries are still served.
pub(super) const TRUSTED_FOR: Duration = Duration::from_secs(1);

const SHARDS: usize = 64;

/// Settings of the local read cache of a `RedisStore`
/// ([`RedisStore::with_read_cache`](super::RedisStore::with_read_cache)).
///
/// ```
/// use std::time::Duration;
/// use sessionware::ReadCache;
///
/// let cache = ReadCache::new()
///     .max_entries(50_000)
///     .max_bytes(32 << 20)
///     .time_to_live(Duration::from_secs(30));
/// # let _ = cache;
/// ```
#[derive(Clone, Debug)]
pub struct ReadCache {
    pub(super) max_entries: usize,
    pub(super) max_bytes: usize,
    pub(super) time_to_live: Duration,
}

impl Default for ReadCache {
    fn default() -> Self {
        Self::new()
    }
}

impl ReadCache {
    /// 10,000 entries, 64 MiB, entries kept at most 60 seconds.
    pub fn new() -> Self {
        Self {
            max_entries: 10_000,
            max_bytes: 64 << 20,
            time_to_live: Duration::from_secs(60),
        }
    }

    /// At most this many sessions are kept; the least recently used go first.
    pub fn max_entries(mut self, entries: usize) -> Self {
        self.max_entries = entries;
        self
    }

    /// At most this many bytes are kept: the stored values, plus 96 bytes
    /// per entry for its key and bookkeeping.
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// An entry is read from Redis again once it is this old, even if no
    /// invalidation came: a bound for what no message announces (a key Redis
    /// evicted under `maxmemory`, or a write by a client that does not
    /// publish).
    pub fn time_to_live(mut self, ttl: Duration) -> Self {
        self.time_to_live = ttl;
        self
    }
}

/// What a `RedisStore`'s read cache has done so far
/// ([`RedisStore::cache_stats`](super::RedisStore::cache_stats)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Loads answered from the cache.
    pub hits: u64,
    /// Loads that went to Redis (including every load while the cache is off).
    pub misses: u64,
    /// Entries dropped because another instance announced a change.
    pub invalidations: u64,
    /// Times the whole cache was emptied: the invalidation channel was lost,
    /// or came back.
    pub flushes: u64,
    /// Sessions held now.
    pub entries: u64,
    /// Bytes held now, counted as [`ReadCache::max_bytes`] counts them.
    pub bytes: u64,
    /// Whether the cache serves loads now (its invalidation channel is proven live).
    pub serving: bool,
}

/// Where a load stood before asking Redis: the epoch of its key's shard.
#[derive(Clone, Copy)]
pub(super) struct Ticket {
    shard: usize,
    epoch: u64,
}

/// The cache shared by a store's clones and its subscriber task.
pub(super) struct LocalCache {
    shards: Box<[std::sync::Mutex<Shard>]>,
    time_to_live: Duration,
    /// Milliseconds after `origin` until which entries may be served; 0 when off.
    trusted_until: AtomicU64,
    origin: Instant,
    hits: AtomicU64,
    misses: AtomicU64,
    invalidations: AtomicU64,
    flushes: AtomicU64,
    /// This store's id in the messages it publishes, to skip its own.
    pub(super) instance: [u8; 8],
}

impl LocalCache {
    pub(super) fn new(settings: &ReadCache, instance: [u8; 8]) -> Self {
        let per_shard = |total: usize| total.div_ceil(SHARDS).max(1);
        Self {
            shards: (0..SHARDS)
                .map(|_| {
                    std::sync::Mutex::new(Shard::new(
                        per_shard(settings.max_entries),
                        per_shard(settings.max_bytes),
                    ))
                })
                .collect(),
            time_to_live: settings.time_to_live,
            trusted_until: AtomicU64::new(0),
            origin: Instant::now(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            flushes: AtomicU64::new(0),
            instance,
        }
    }

    fn shard_of(key: &SessionKey) -> usize {
        usize::from(key.as_bytes()[0]) % SHARDS
    }

    fn lock(&self, shard: usize) -> std::sync::MutexGuard<'_, Shard> {
        self.shards[shard]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_millis()).unwrap_or(u64::MAX)
    }

    fn serving(&self) -> bool {
        self.millis(Instant::now()) < self.trusted_until.load(Ordering::Acquire)
    }

    /// The stored value of `key` if the cache holds a fresh one and serves.
    pub(super) fn get(&self, key: &SessionKey) -> Option<Arc<[u8]>> {
        let found = if self.serving() {
            self.lock(Self::shard_of(key)).get(key, self.time_to_live)
        } else {
            None
        };
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Notes where `key`'s shard stands before asking Redis for it.
    pub(super) fn ticket(&self, key: &SessionKey) -> Ticket {
        let shard = Self::shard_of(key);
        Ticket {
            shard,
            epoch: self.lock(shard).epoch(),
        }
    }

    /// Keeps `value` as `key`'s until the record's deadline `expires_at`, unless an invalidation or a local write
    /// reached its shard since `ticket` was taken or the cache does not
    /// serve. A local write (`written`) then moves the epoch itself, so no
    /// load that began before it can store an older value over it.
    pub(super) fn fill(
        &self,
        key: &SessionKey,
        ticket: Ticket,
        value: &[u8],
        expires_at: SystemTime,
        written: bool,
    ) {
        if !self.serving() {
            return;
        }
        let mut shard = self.lock(ticket.shard);
        if shard.epoch() != ticket.epoch {
            if written {
                // Whatever the shard holds for `key` is older than this
                // write: kept, it would serve this instance its own change
                // undone (no message of its own ever drops it).
                shard.remove(key);
            }
            return;
        }
        shard.insert(*key, Arc::from(value), expires_at);
        if written {
            shard.advance();
        }
    }

    /// Drops `key` and moves its shard's epoch: for a change this instance
    /// made (or could not confirm), and for each announced one.
    pub(super) fn forget(&self, key: &SessionKey) {
        self.lock(Self::shard_of(key)).remove(key);
    }

    /// An invalidation message from the channel: `instance id ‖ digest`.
    /// This instance's own messages are skipped: its writes already updated it.
    pub(super) fn apply(&self, message: &[u8]) {
        let Some((instance, digest)) = message.split_first_chunk::<8>() else {
            return;
        };
        let Ok(digest) = <[u8; 32]>::try_from(digest) else {
            return;
        };
        if *instance == self.instance {
            return;
        }
        self.forget(&SessionKey::from_bytes(digest));
        self.invalidations.fetch_add(1, Ordering::Relaxed);
    }

    /// Every message published before `sent` has been applied: serve until
    /// `sent` + [`TRUSTED_FOR`].
    pub(super) fn proven(&self, sent: Instant) {
        let until = self.millis(sent + TRUSTED_FOR).max(1);
        self.trusted_until.fetch_max(until, Ordering::AcqRel);
    }

    /// Stops serving and empties every shard (moving every epoch, so no load
    /// begun before can fill it): the channel was lost, or is back after a
    /// loss during which messages may have gone unseen.
    pub(super) fn flush(&self) {
        self.trusted_until.store(0, Ordering::Release);
        for shard in 0..SHARDS {
            self.lock(shard).clear();
        }
        self.flushes.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn stats(&self) -> CacheStats {
        let (mut entries, mut bytes) = (0, 0);
        for shard in 0..SHARDS {
            let shard = self.lock(shard);
            entries += shard.len() as u64;
            bytes += shard.bytes() as u64;
        }
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            invalidations: self.invalidations.load(Ordering::Relaxed),
            flushes: self.flushes.load(Ordering::Relaxed),
            entries,
            bytes,
            serving: self.serving(),
        }
    }
}

/// The channel every `RedisStore` under `prefix` publishes its changes on.
pub(super) fn channel(prefix: &str) -> String {
    format!("{prefix}invalidations")
}

/// The message announcing a change of `key` by `instance`.
pub(super) fn message(instance: [u8; 8], key: &SessionKey) -> [u8; 40] {
    let mut message = [0; 40];
    message[..8].copy_from_slice(&instance);
    message[8..].copy_from_slice(key.as_bytes());
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    const SELF: [u8; 8] = [1; 8];
    const OTHER: [u8; 8] = [2; 8];

    fn key(n: u8) -> SessionKey {
        SessionKey::from_bytes([n; 32])
    }

    fn later() -> SystemTime {
        SystemTime::now() + Duration::from_secs(60)
    }

    /// A cache whose channel has just been proven live.
    fn serving() -> LocalCache {
        let cache = LocalCache::new(&ReadCache::new(), SELF);
        cache.proven(Instant::now());
        cache
    }

    #[test]
    fn nothing_is_served_before_the_channel_is_proven_nor_after_the_proof_lapses() {
        let cache = LocalCache::new(&ReadCache::new(), SELF);
        let ticket = cache.ticket(&key(1));
        cache.fill(&key(1), ticket, b"v1", later(), false);
        assert!(cache.get(&key(1)).is_none(), "filled before any proof");
        // Times count in milliseconds from the cache's creation.
        std::thread::sleep(Duration::from_millis(10));
        cache.proven(Instant::now() - TRUSTED_FOR - Duration::from_millis(5));
        let ticket = cache.ticket(&key(1));
        cache.fill(&key(1), ticket, b"v1", later(), false);
        assert!(cache.get(&key(1)).is_none(), "the proof has lapsed");
        cache.proven(Instant::now());
        let ticket = cache.ticket(&key(1));
        cache.fill(&key(1), ticket, b"v1", later(), false);
        assert_eq!(cache.get(&key(1)).as_deref(), Some(&b"v1"[..]));
    }

    #[test]
    fn a_load_that_began_before_an_invalidation_does_not_fill() {
        let cache = serving();
        let ticket = cache.ticket(&key(1));
        // Another instance changes the session while this load's GET is out.
        cache.apply(&message(OTHER, &key(1)));
        cache.fill(&key(1), ticket, b"old", later(), false);
        assert!(cache.get(&key(1)).is_none());
        assert_eq!(cache.stats().invalidations, 1);
    }

    #[test]
    fn a_local_write_refuses_loads_that_began_before_it() {
        let cache = serving();
        let load = cache.ticket(&key(1));
        let save = cache.ticket(&key(1));
        cache.fill(&key(1), save, b"new", later(), true);
        cache.fill(&key(1), load, b"old", later(), false);
        assert_eq!(cache.get(&key(1)).as_deref(), Some(&b"new"[..]));
    }

    #[test]
    fn a_local_write_that_cannot_fill_drops_the_older_entry() {
        let cache = serving();
        let ticket = cache.ticket(&key(1));
        cache.fill(&key(1), ticket, b"v1", later(), true);
        // Two saves of two sessions of one shard at once: the second to
        // finish finds the epoch moved by the first.
        let first = cache.ticket(&key(1));
        let second = cache.ticket(&key(1 + 64));
        cache.fill(&key(1 + 64), second, b"other", later(), true);
        cache.fill(&key(1), first, b"v2", later(), true);
        assert!(
            cache.get(&key(1)).is_none(),
            "v1 would undo this instance's own write"
        );
    }

    #[test]
    fn this_instances_own_messages_are_skipped_and_others_drop_the_entry() {
        let cache = serving();
        let ticket = cache.ticket(&key(1));
        cache.fill(&key(1), ticket, b"v1", later(), true);
        cache.apply(&message(SELF, &key(1)));
        assert!(cache.get(&key(1)).is_some(), "its own write's message");
        cache.apply(&message(OTHER, &key(1)));
        assert!(cache.get(&key(1)).is_none());
        cache.apply(b"too short");
        assert_eq!(cache.stats().invalidations, 1);
    }

    #[test]
    fn a_flush_empties_stops_serving_and_refuses_earlier_loads() {
        let cache = serving();
        let ticket = cache.ticket(&key(1));
        cache.fill(&key(1), ticket, b"v1", later(), false);
        let pending = cache.ticket(&key(2));
        cache.flush();
        let stats = cache.stats();
        assert_eq!((stats.entries, stats.serving, stats.flushes), (0, false, 1));
        cache.proven(Instant::now());
        cache.fill(&key(2), pending, b"v2", later(), false);
        assert!(
            cache.get(&key(2)).is_none(),
            "a load begun before the flush"
        );
        assert!(cache.stats().serving);
    }
}
