//! `RedisStore`: sessions in Redis, one round trip per operation, versions checked on the server.

mod cache;
mod cluster;
mod connection;
mod failover;
mod index;
mod key;
mod listing;
mod scripts;
mod sentinel;
mod watch;

use std::future::Future;
use std::sync::Arc;

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script, ScriptInvocation, ServerErrorKind};

use self::cache::LocalCache;
use self::cache::subscriber::{self, Source};
pub use self::cache::{CacheStats, ReadCache};
use self::connection::Connection;
use self::key::RedisKey;
use self::scripts::{DELETE, INDEX, SAVE, millis, save_outcome};
use super::{SaveOutcome, SessionStore};
use crate::error::Error;
use crate::record::Record;
use crate::store::ErasedUserIndex;
#[cfg(doc)]
use crate::store::UserIndex;
use crate::token::SessionKey;

/// Bytes of the big-endian version header in front of every stored record.
const VERSION_HEADER: usize = 8;

/// Sessions in Redis (feature `redis-store`): one node
/// ([`connect`](Self::connect)), the master of a Redis Sentinel group
/// ([`connect_sentinel`](Self::connect_sentinel)) or a Redis Cluster
/// ([`connect_cluster`](Self::connect_cluster)).
///
/// * **One round trip** per operation (two for an owned write on a cluster,
///   see below). A value is an 8-byte big-endian version
///   followed by the [`Record::encode`] bytes. Load is `GET`; create is
///   `SET .. NX PXAT`, atomic "insert if absent"; save is a Lua script that
///   compares the version header and writes in one step on the server, never
///   a client-side read-then-write; delete is `DEL`. Needs Redis 6.2 or later
///   (`PXAT`), checked when connecting.
/// * **Redis expires records itself**: every write sets the key's expiry to
///   the session's deadline, so [`SessionStore::delete_expired`] has nothing to do.
///   The layer still checks the deadline on every load.
/// * **Keys** are `<prefix>{<64 hex digits of the SHA-256 digest>}`. The digest
///   is the Redis Cluster hash tag, so sessions spread over the slots and any
///   later per-session key lands on its session's slot. The prefix (default
///   `sessionware:`) is also the namespace that keeps tenants apart.
/// * **[`UserIndex`]**: the sessions of a user (records with an `owner`) are
///   filed in a set at `<prefix>user:{<64 hex digits of SHA-256(user id)>}`,
///   whose members are the sessions' digests in hex. Writing an owned record
///   adds it there with a one-key script run after the record's own command
///   (on one node pipelined with it, still one round trip), and keeps the set
///   alive at least until the record's deadline (up to a second longer), so
///   it expires with its last session. Members of deleted or expired
///   sessions are pruned when the user's sessions are read. Sessions without
///   an owner write nothing more. [`UserIndex::records_of`], which
///   [`UserIndex::sessions`] and every revocation start from, is one round
///   trip on one node and through Sentinel (a script reads the set and
///   `MGET`s its records), two on a cluster (`SMEMBERS`, then every `GET` at
///   once), whatever the number of sessions; a revocation then sends all its
///   deletions at once, and one `SREM`.
/// * **Connection**: on one node, one multiplexed connection from the `redis`
///   crate's `ConnectionManager`, which pipelines concurrent requests and
///   reconnects by itself after a failure, so the application recovers
///   without a restart. On a cluster ([`connect_cluster`](Self::connect_cluster)),
///   the crate's cluster connection: one multiplexed connection per master,
///   commands routed to their key's slot, the slot map refreshed after a
///   failover or a resharding. Through Sentinel, a `ConnectionManager` to
///   the master the sentinels name, replaced when they name another.
///
/// # On a Redis Cluster
///
/// Every command touches one key, or keys of one hash slot: a session's key
/// is its own slot (the digest is the hash tag) and so is each user's set.
/// What is atomic there is what is atomic on one node: create (`SET NX`),
/// the version-checked save (a script on the session's slot), load, delete,
/// and each update of a user's set (a script on the set's slot).
///
/// What is not atomic, on one node either, is an owned write *together with*
/// its index entry: on one node the two commands are pipelined (other
/// clients' commands may run between them); on a cluster they are two round
/// trips to two nodes, the record first, then the entry, and only a record
/// that was written is filed. `create` and `save` return after both. Nothing
/// is lost or resurrected by the gap:
///
/// * A revocation lists the set, then loads every listed record. It cannot
///   miss a session that existed before it began: a record is filed before
///   the write that created it returns, and a session moving to a fresh id
///   (`cycle_id`, a login) is created *and filed* under its new id before its
///   old record is deleted, so one of the two is always listed, and a
///   revocation that sees a listed record vanish lists again.
/// * Filing never creates a session: a member whose record is gone (deleted
///   between the two steps, or expired) is a stale entry, pruned when the
///   user's sessions are next read. The record is filed second on purpose:
///   filed first, a concurrent listing could prune the entry as stale before
///   the record exists, and the session would then be missing from its
///   owner's set.
/// * A save is version-checked on the session's own slot and never writes a
///   record that is gone, so a revoked session stays revoked whatever an
///   instance still in the gap does next.
///
/// # TLS
///
/// `rediss://` URLs (and TLS to cluster nodes) work once the `redis` crate's
/// TLS support is on: add it to your own `Cargo.toml`, and cargo builds the
/// one `redis` crate with both crates' features, e.g.
/// `redis = { version = "1", features = ["tokio-rustls-comp"] }` (or
/// `"tokio-native-tls-comp"`).
///
/// # Example
///
/// ```no_run
/// use sessionware::{RedisStore, SessionLayer};
/// # async fn run(secret: &[u8]) -> Result<(), sessionware::Error> {
/// let store = RedisStore::connect("redis://127.0.0.1:6379").await?.key_prefix("myapp:");
/// store.health().await?;
/// let layer = SessionLayer::new(store, secret);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    connection: Connection,
    prefix: Arc<str>,
    /// The invalidation channel under `prefix`.
    channel: Arc<str>,
    save: Arc<Script>,
    delete: Arc<Script>,
    index: Arc<Script>,
    list: Arc<Script>,
    /// This store's id in the invalidations it publishes.
    instance: [u8; 8],
    /// Where the read cache subscribes; `None` for a connection the caller made.
    source: Option<Source>,
    cache: Option<Arc<LocalCache>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to `url` (`redis://host:port/db`, `rediss://` for TLS when the
    /// `redis` crate's TLS feature is enabled), checks that the server runs our
    /// scripts, and fails with a clear error if it is unreachable.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        let (connection, client) = Connection::single(url).await?;
        let mut store = Self::with(connection);
        store.source = Some(Source::Node(client));
        store.check().await?;
        Ok(store)
    }

    /// Wraps a single-node connection you configured yourself (TLS,
    /// timeouts), unchecked: call [`health`](Self::health) to know it works.
    pub fn from_connection(connection: ConnectionManager) -> Self {
        Self::with(Connection::Single(connection))
    }

    fn with(connection: Connection) -> Self {
        const PREFIX: &str = "sessionware:";
        Self {
            connection,
            prefix: Arc::from(PREFIX),
            channel: Arc::from(cache::channel(PREFIX)),
            save: Arc::new(Script::new(SAVE)),
            delete: Arc::new(Script::new(DELETE)),
            index: Arc::new(Script::new(INDEX)),
            list: Arc::new(Script::new(listing::LIST)),
            instance: rand::random(),
            source: None,
            cache: None,
        }
    }

    /// Loads the scripts (on every master of a cluster) and probes `PXAT`.
    async fn check(&self) -> Result<(), Error> {
        scripts::check(
            self.connection.clone(),
            [&self.save, &self.delete, &self.index, &self.list],
            &self.prefix,
        )
        .await
    }

    /// Turns on a local read cache (see [`ReadCache`] for its bounds): loads
    /// are answered from this process when it holds the session, and every
    /// instance's change, id change, logout or revocation of a session drops
    /// it from every cache, announced on the Redis pub/sub channel
    /// `<prefix>invalidations`. Call it last, after
    /// [`key_prefix`](Self::key_prefix); clones of the store share the cache.
    ///
    /// * **No lost update**: saves are still version-checked on the server; a
    ///   save from a stale entry is a conflict, which drops the entry and
    ///   makes the layer reload from Redis and merge.
    /// * **Coherence**: a change on another instance reaches this cache
    ///   after the invalidation delay (about a millisecond on one machine:
    ///   see the README for measured figures). A request that comes within
    ///   that delay may read the value from before the change; a write it
    ///   makes is then a conflict, merged key by key exactly as if the two
    ///   requests had run at the same time. If the channel is lost, or silent
    ///   for a second, the cache is emptied and every load goes to Redis
    ///   until it is back; it never serves entries whose invalidations it
    ///   may have missed.
    /// * **Every instance publishes** its changes on that channel, cache or
    ///   not; other programs writing the same keys must publish too (or
    ///   rely on [`ReadCache::time_to_live`]).
    ///
    /// ```no_run
    /// use sessionware::{ReadCache, RedisStore};
    /// # async fn run() -> Result<(), sessionware::Error> {
    /// let store = RedisStore::connect("redis://127.0.0.1:6379")
    ///     .await?
    ///     .with_read_cache(ReadCache::new().max_entries(100_000))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`](crate::ErrorKind::InvalidConfig) for a
    /// store made by [`from_connection`](Self::from_connection) or
    /// [`from_cluster_client`](Self::from_cluster_client), whose nodes the
    /// cache cannot subscribe to; a store error if the subscription fails.
    pub async fn with_read_cache(mut self, settings: ReadCache) -> Result<Self, Error> {
        let Some(source) = self.source.clone() else {
            return Err(Error::new(
                crate::error::ErrorKind::InvalidConfig,
                "RedisStore::with_read_cache needs a store made by connect, connect_cluster or \
                 connect_sentinel: it subscribes to their nodes",
            ));
        };
        let cache = Arc::new(LocalCache::new(&settings, self.instance));
        subscriber::start(&cache, source, self.channel.to_string()).await?;
        self.cache = Some(cache);
        Ok(self)
    }

    /// What the read cache has done, or `None` without one.
    pub fn cache_stats(&self) -> Option<CacheStats> {
        self.cache.as_deref().map(LocalCache::stats)
    }

    /// The prefix of every key. Default: `sessionware:`. Give each application
    /// or tenant sharing a Redis its own.
    ///
    /// # Panics
    ///
    /// If the prefix contains `{` or `}`, which would change the cluster hash
    /// tag, or if called after [`with_read_cache`](Self::with_read_cache).
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        assert!(
            !prefix.contains(['{', '}']),
            "RedisStore::key_prefix: {prefix:?} must not contain '{{' or '}}'"
        );
        assert!(
            self.cache.is_none(),
            "RedisStore::key_prefix must come before with_read_cache, which subscribes under the prefix"
        );
        self.channel = Arc::from(cache::channel(&prefix));
        self.prefix = Arc::from(prefix);
        self
    }

    /// A cheap readiness probe: `PING`.
    pub async fn health(&self) -> Result<(), Error> {
        let mut connection = self.connection.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
            .map(drop)
            .map_err(Error::store)
    }

    /// `<prefix>{<64 hex digits>}`, written into the command that takes it.
    fn key(&self, key: &SessionKey) -> RedisKey<'_> {
        RedisKey::new(&self.prefix, key)
    }

    /// Runs a `SET .. NX` on its own: whether it created the key.
    async fn set_if_absent(&self, command: &redis::Cmd) -> Result<bool, Error> {
        let answer: Option<String> = self
            .run(|mut connection| async move { command.query_async(&mut connection).await })
            .await?;
        Ok(answer.is_some())
    }

    /// Runs the save script on its own (loading it if the server lost it).
    async fn save_once(&self, invocation: &ScriptInvocation<'_>) -> Result<SaveOutcome, Error> {
        save_outcome(
            self.run(
                |mut connection| async move { invocation.invoke_async(&mut connection).await },
            )
            .await?,
        )
    }

    /// Runs `command` on the shared connection and, if that connection turns
    /// out to have been closed (the server's idle `timeout`, a proxy or a
    /// failover), once more on the fresh one the manager opens.
    /// Never more than once. A command the server ran before the connection
    /// broke is then answered as a conflict, a taken id or an absent key,
    /// which the layer handles like any concurrent change.
    async fn run<T, F>(&self, command: impl Fn(Connection) -> F) -> Result<T, Error>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        match command(self.connection.clone()).await {
            Err(err) if err.is_connection_dropped() => {
                tracing::debug!(error = %err, "Redis connection was closed; retrying once on a new one");
                command(self.connection.clone()).await.map_err(Error::store)
            }
            other => other.map_err(Error::store),
        }
    }
}

impl SessionStore for RedisStore {
    async fn health(&self) -> Result<(), Error> {
        RedisStore::health(self).await
    }

    async fn create(&self, key: &SessionKey, record: &Record) -> Result<bool, Error> {
        let ticket = self.cache.as_ref().map(|cache| cache.ticket(key));
        let value = stored(record);
        let mut command = redis::cmd("SET");
        command
            .arg(self.key(key))
            .arg(&value)
            .arg("NX")
            .arg("PXAT")
            .arg(millis(record.expires_at));
        let created = self.create_and_file(key, record, command).await;
        if let (Some(cache), Some(ticket), Ok(true)) = (&self.cache, ticket, &created) {
            cache.fill(key, ticket, &value, record.expires_at, true);
        }
        created
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<Record>, Error> {
        let Some(cache) = &self.cache else {
            return self
                .fetch(key)
                .await?
                .map(|bytes| record_of(&bytes))
                .transpose();
        };
        if let Some(value) = cache.get(key) {
            return record_of(&value).map(Some);
        }
        let ticket = cache.ticket(key);
        let Some(bytes) = self.fetch(key).await? else {
            return Ok(None);
        };
        let record = record_of(&bytes)?;
        cache.fill(key, ticket, &bytes, record.expires_at, false);
        Ok(Some(record))
    }

    async fn save(
        &self,
        key: &SessionKey,
        record: &Record,
        expected_version: u64,
    ) -> Result<SaveOutcome, Error> {
        let ticket = self.cache.as_ref().map(|cache| cache.ticket(key));
        let value = stored(record);
        let mut invocation = self.save.key(self.key(key));
        invocation
            .arg(&expected_version.to_be_bytes()[..])
            .arg(&value)
            .arg(millis(record.expires_at))
            .arg(&*self.channel)
            .arg(&cache::message(self.instance, key)[..]);
        let outcome = self.save_and_file(key, record, &invocation).await;
        if let (Some(cache), Some(ticket)) = (&self.cache, ticket) {
            match outcome {
                Ok(SaveOutcome::Saved) => cache.fill(key, ticket, &value, record.expires_at, true),
                // A conflict means the entry (if any) is stale: the layer
                // reloads, and must reach Redis.
                _ => cache.forget(key),
            }
        }
        outcome
    }

    async fn delete(&self, key: &SessionKey) -> Result<bool, Error> {
        if let Some(cache) = &self.cache {
            cache.forget(key);
        }
        let mut invocation = self.delete.key(self.key(key));
        invocation
            .arg(&*self.channel)
            .arg(&cache::message(self.instance, key)[..]);
        let invocation = &invocation;
        let removed: u64 = self
            .run(|mut connection| async move { invocation.invoke_async(&mut connection).await })
            .await?;
        if let Some(cache) = &self.cache {
            // A load that raced the deletion must not keep what it read.
            cache.forget(key);
        }
        Ok(removed > 0)
    }

    /// Redis expires records at their deadline by itself: nothing is left to remove.
    async fn delete_expired(&self) -> Result<u64, Error> {
        Ok(0)
    }

    fn user_index(&self) -> Option<&dyn ErasedUserIndex> {
        Some(self)
    }
}

impl RedisStore {
    /// Runs `command` (the `SET .. NX`) and files an owned record under its
    /// owner: whether it created the record.
    async fn create_and_file(
        &self,
        key: &SessionKey,
        record: &Record,
        command: redis::Cmd,
    ) -> Result<bool, Error> {
        let Some(owner) = &record.owner else {
            return self.set_if_absent(&command).await;
        };
        if self.connection.is_cluster() {
            // The record's key and the user's set are on different slots:
            // the record first, then (if it was created) its index entry,
            // one command each, before `create` returns.
            let created = self.set_if_absent(&command).await?;
            if created {
                self.file(&self.index_call(owner, key, record)).await?;
            }
            return Ok(created);
        }
        // The record first, then its index entry, in one round trip. The
        // entry is added even if the key was taken (then it is a stale entry,
        // pruned when read): what matters is that a created record is never
        // missing from its owner's set, nor outlives it.
        let index = self.index_call(owner, key, record);
        let mut pipeline = redis::pipe();
        pipeline.add_command(command).invoke_script(&index);
        let (answer, indexed) = self.run_pair(&pipeline).await?;
        let created = redis::from_redis_value::<Option<String>>(
            answer.extract_error().map_err(Error::store)?,
        )
        .map_err(Error::store)?
        .is_some();
        if created {
            self.indexed(indexed, &index).await?;
        }
        Ok(created)
    }

    /// `GET`: the stored value of `key`.
    async fn fetch(&self, key: &SessionKey) -> Result<Option<Vec<u8>>, Error> {
        let key = &self.key(key);
        self.run(|mut connection| async move { connection.get(key).await })
            .await
    }

    /// Runs the save script `invocation` and files an owned record under its
    /// owner (see the type's docs for the order on one node and on a cluster).
    async fn save_and_file(
        &self,
        key: &SessionKey,
        record: &Record,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<SaveOutcome, Error> {
        let Some(owner) = &record.owner else {
            return self.save_once(invocation).await;
        };
        if self.connection.is_cluster() {
            // As in `create`: the version-checked save on the record's slot,
            // then, if it wrote, the index entry on the user's slot.
            let outcome = self.save_once(invocation).await?;
            if outcome == SaveOutcome::Saved {
                self.file(&self.index_call(owner, key, record)).await?;
            }
            return Ok(outcome);
        }
        // As in `create`: the record, then its index entry, pipelined; after
        // a conflict or a missing record the entry is a stale one.
        let index = self.index_call(owner, key, record);
        let mut pipeline = redis::pipe();
        pipeline.invoke_script(invocation).invoke_script(&index);
        let (answer, indexed) = self.run_pair(&pipeline).await?;
        let outcome = match answer.extract_error() {
            Ok(answer) => save_outcome(redis::from_redis_value(answer).map_err(Error::store)?)?,
            Err(err) if err.kind() == redis::ErrorKind::Server(ServerErrorKind::NoScript) => {
                // The server lost its scripts (a restart, a failover, SCRIPT
                // FLUSH) and wrote nothing: save on its own, which reloads the
                // script, then file the record again, after it.
                let outcome = self.save_once(invocation).await?;
                if outcome == SaveOutcome::Saved {
                    self.file(&index).await?;
                }
                return Ok(outcome);
            }
            Err(err) => return Err(Error::store(err)),
        };
        if outcome == SaveOutcome::Saved {
            self.indexed(indexed, &index).await?;
        }
        Ok(outcome)
    }
}

/// The record in a stored value (the version header, then the encoded record).
fn record_of(value: &[u8]) -> Result<Record, Error> {
    match value.get(VERSION_HEADER..) {
        Some(encoded) if !encoded.is_empty() => Record::decode(encoded),
        _ => Err(Error::store_message("stored session value is too short")),
    }
}

/// The stored value: the version header, then the encoded record.
fn stored(record: &Record) -> Vec<u8> {
    let encoded = record.encode();
    let mut value = Vec::with_capacity(VERSION_HEADER + encoded.len());
    value.extend_from_slice(&record.version.to_be_bytes());
    value.extend_from_slice(&encoded);
    value
}
