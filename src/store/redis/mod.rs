//! `RedisStore`: sessions in Redis, one round trip per operation, versions checked on the server.

mod index;
mod scripts;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};

use self::scripts::{INDEX, SAVE, check, millis, save_outcome};
use super::{SaveOutcome, SessionStore};
use crate::error::{Error, ErrorKind};
use crate::record::Record;
use crate::store::ErasedUserIndex;
#[cfg(doc)]
use crate::store::UserIndex;
use crate::token::SessionKey;

/// Bytes of the big-endian version header in front of every stored record.
const VERSION_HEADER: usize = 8;

/// Sessions in Redis (feature `redis-store`).
///
/// * **One round trip** per operation. A value is an 8-byte big-endian version
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
///   adds it there with a one-key script, pipelined after the record's own
///   command (still one round trip), and keeps the set alive at least until
///   the record's deadline (up to a second longer), so it expires with its
///   last session. Members of deleted or expired sessions are pruned when the
///   user's sessions are read. Sessions without an owner write nothing more.
/// * **Connection**: one multiplexed connection from the `redis` crate's
///   `ConnectionManager`, which pipelines concurrent requests and reconnects
///   by itself after a failure, so the application recovers without a restart.
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
    connection: ConnectionManager,
    prefix: Arc<str>,
    save: Arc<Script>,
    index: Arc<Script>,
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
        let client = redis::Client::open(url).map_err(|e| {
            Error::new(ErrorKind::InvalidConfig, "invalid Redis URL").with_source(e)
        })?;
        // Reconnection backs off up to 500 ms between attempts (the crate's
        // default factor grows the second delay to 100 s), and gives up after
        // two, so a request fails fast and the next one tries again. No
        // response timeout: the layer's `store_timeout` bounds every call, and
        // a second timer per command only costs wake-ups.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(2))
            .set_factor(2)
            .set_max_delay(500)
            .set_number_of_retries(2);
        let connection = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| {
                Error::store(e)
                    .with_detail(format!("could not connect to Redis at {}", redacted(url)))
            })?;
        let store = Self::from_connection(connection);
        check(
            store.connection.clone(),
            [&store.save, &store.index],
            &store.prefix,
        )
        .await?;
        Ok(store)
    }

    /// Wraps a connection you configured yourself (TLS, sentinel, timeouts).
    pub fn from_connection(connection: ConnectionManager) -> Self {
        Self {
            connection,
            prefix: Arc::from("sessionware:"),
            save: Arc::new(Script::new(SAVE)),
            index: Arc::new(Script::new(INDEX)),
        }
    }

    /// The prefix of every key. Default: `sessionware:`. Give each application
    /// or tenant sharing a Redis its own.
    ///
    /// # Panics
    ///
    /// If the prefix contains `{` or `}`, which would change the cluster hash tag.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        assert!(
            !prefix.contains(['{', '}']),
            "RedisStore::key_prefix: {prefix:?} must not contain '{{' or '}}'"
        );
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

    fn key(&self, key: &SessionKey) -> String {
        format!("{}{{{}}}", self.prefix, key.to_hex())
    }

    /// Runs `command` on the shared connection and, if that connection turns
    /// out to have been closed (the server's idle `timeout`, a proxy or a
    /// failover), once more on the fresh one the manager opens.
    /// Never more than once. A command the server ran before the connection
    /// broke is then answered as a conflict, a taken id or an absent key,
    /// which the layer handles like any concurrent change.
    async fn run<T, F>(&self, command: impl Fn(ConnectionManager) -> F) -> Result<T, Error>
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
        let mut command = redis::cmd("SET");
        command
            .arg(self.key(key))
            .arg(stored(record))
            .arg("NX")
            .arg("PXAT")
            .arg(millis(record.expires_at));
        let Some(owner) = &record.owner else {
            let command = &command;
            let answer: Option<String> = self
                .run(|mut connection| async move { command.query_async(&mut connection).await })
                .await?;
            return Ok(answer.is_some());
        };
        // The record first, then its index entry, in one round trip. The
        // entry is added even if the key was taken (then it is a stale entry,
        // pruned when read): what matters is that a created record is never
        // missing from its owner's set, nor outlives it.
        let index = self.index_call(owner, key, record);
        let mut pipeline = redis::pipe();
        pipeline.add_command(command).invoke_script(&index);
        let (answer, indexed) = self.run_pair(&pipeline).await?;
        let created = redis::from_owned_redis_value::<Option<String>>(
            answer.extract_error().map_err(Error::store)?,
        )
        .map_err(Error::store)?
        .is_some();
        if created {
            self.indexed(indexed, &index).await?;
        }
        Ok(created)
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<Record>, Error> {
        let key = &self.key(key);
        let bytes: Option<Vec<u8>> = self
            .run(|mut connection| async move { connection.get(key).await })
            .await?;
        match bytes {
            None => Ok(None),
            Some(bytes) if bytes.len() > VERSION_HEADER => {
                Record::decode(&bytes[VERSION_HEADER..]).map(Some)
            }
            Some(_) => Err(Error::store_message("stored session value is too short")),
        }
    }

    async fn save(
        &self,
        key: &SessionKey,
        record: &Record,
        expected_version: u64,
    ) -> Result<SaveOutcome, Error> {
        let mut invocation = self.save.key(self.key(key));
        invocation
            .arg(&expected_version.to_be_bytes()[..])
            .arg(stored(record))
            .arg(millis(record.expires_at));
        let Some(owner) = &record.owner else {
            let invocation = &invocation;
            let outcome: i64 = self
                .run(|mut connection| async move { invocation.invoke_async(&mut connection).await })
                .await?;
            return save_outcome(outcome);
        };
        // As in `create`: the record, then its index entry, pipelined; after
        // a conflict or a missing record the entry is a stale one.
        let index = self.index_call(owner, key, record);
        let mut pipeline = redis::pipe();
        pipeline.invoke_script(&invocation).invoke_script(&index);
        let (answer, indexed) = self.run_pair(&pipeline).await?;
        let outcome = match answer.extract_error() {
            Ok(answer) => {
                save_outcome(redis::from_owned_redis_value(answer).map_err(Error::store)?)?
            }
            Err(err) if err.kind() == redis::ErrorKind::NoScriptError => {
                // The server lost its scripts (a restart, a failover, SCRIPT
                // FLUSH) and wrote nothing: save on its own, which reloads the
                // script, then file the record again, after it.
                let invocation = &invocation;
                let outcome = save_outcome(
                    self.run(|mut connection| async move {
                        invocation.invoke_async(&mut connection).await
                    })
                    .await?,
                )?;
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

    async fn delete(&self, key: &SessionKey) -> Result<bool, Error> {
        let key = &self.key(key);
        let removed: u64 = self
            .run(|mut connection| async move { connection.del(key).await })
            .await?;
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

/// The stored value: the version header, then the encoded record.
fn stored(record: &Record) -> Vec<u8> {
    let encoded = record.encode();
    let mut value = Vec::with_capacity(VERSION_HEADER + encoded.len());
    value.extend_from_slice(&record.version.to_be_bytes());
    value.extend_from_slice(&encoded);
    value
}

/// The URL without its password, for error messages.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_credentials_in_messages() {
        assert_eq!(
            redacted("redis://user:pw@host:6379/0"),
            "redis://***@host:6379/0"
        );
        assert_eq!(redacted("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }
}
