//! `RedisStore`: sessions in Redis, one round trip per operation, versions checked on the server.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Pipeline, Script, ScriptInvocation, Value};
use sha2::{Digest, Sha256};

use super::{SaveOutcome, SessionStore};
use crate::error::{Error, ErrorKind};
use crate::record::{Record, unix_millis};
use crate::token::SessionKey;
use crate::user_index::{ErasedUserIndex, UserIndex};

/// Writes only if the stored version header (the value's first 8 bytes) is the
/// expected one, and moves the expiry to the new deadline: 0 missing,
/// 1 conflict, 2 saved.
const SAVE: &str = r"
local version = redis.call('GETRANGE', KEYS[1], 0, 7)
if version == '' then return 0 end
if version ~= ARGV[1] then return 1 end
redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3])
return 2";

/// Files a session digest (`ARGV[1]`) in a user's set (`KEYS[1]`, the only
/// key, so the script stays on one cluster slot) and makes the set live at
/// least until `ARGV[2]` (unix ms). It never shortens the set's life: the
/// set's expiry is estimated as the clock read *after* `PTTL` plus that TTL,
/// which is never earlier than the real expiry, and moved only if that is
/// before `ARGV[2]` (`PEXPIRETIME` would be exact but needs Redis 7). A set
/// without an expiry keeps none. An `ARGV[2]` in the past empties a new set
/// at once and leaves an existing one alone.
const INDEX: &str = r"
local ttl = redis.call('PTTL', KEYS[1])
redis.call('SADD', KEYS[1], ARGV[1])
if ttl == -1 then return 0 end
local wanted = tonumber(ARGV[2])
if ttl >= 0 then
  local now = redis.call('TIME')
  if now[1] * 1000 + math.floor(now[2] / 1000) + ttl >= wanted then return 0 end
end
redis.call('PEXPIREAT', KEYS[1], wanted)
return 1";

/// How long a user's set outlives the deadline of its longest-lived session,
/// at most: margin for the millisecond rounding of the script's estimate.
const INDEX_SLACK_MS: u64 = 1_000;

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

/// A deadline for `PXAT`, which refuses 0.
fn millis(time: SystemTime) -> u64 {
    unix_millis(time).max(1)
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
        store.check().await?;
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

    /// Loads the scripts and tries `SET .. NX PXAT` on a probe key, so a
    /// server without Lua or `PXAT` is refused at start-up rather than at the
    /// first login (catalogue #56). Loaded scripts also spare the first
    /// pipelined owned write a `NOSCRIPT` answer.
    async fn check(&self) -> Result<(), Error> {
        let mut connection = self.connection.clone();
        let too_old = |e| {
            Error::store(e)
                .with_detail("the Redis server refused our commands (Redis 6.2 or later is needed)")
        };
        for script in [&self.save, &self.index] {
            script
                .prepare_invoke()
                .load_async(&mut connection)
                .await
                .map_err(too_old)?;
        }
        let probe = format!("{}{{probe}}", self.prefix);
        let in_a_second = millis(SystemTime::now() + Duration::from_secs(1));
        redis::cmd("SET")
            .arg(probe)
            .arg(0)
            .arg("NX")
            .arg("PXAT")
            .arg(in_a_second)
            .query_async::<Option<String>>(&mut connection)
            .await
            .map_err(too_old)?;
        Ok(())
    }

    fn key(&self, key: &SessionKey) -> String {
        format!("{}{{{}}}", self.prefix, key.to_hex())
    }

    /// The key of `user`'s set of session digests. The user id is hashed, so
    /// no id (with `{`, `}`, or any length) can change the hash tag or the
    /// key's size.
    fn user_key(&self, user: &str) -> String {
        format!(
            "{}user:{{{:x}}}",
            self.prefix,
            Sha256::digest(user.as_bytes())
        )
    }

    /// The index script's call filing `key` under `owner` until `record`'s
    /// deadline.
    fn index_call(&self, owner: &str, key: &SessionKey, record: &Record) -> ScriptInvocation<'_> {
        let mut invocation = self.index.key(self.user_key(owner));
        invocation
            .arg(key.to_hex())
            .arg(millis(record.expires_at).saturating_add(INDEX_SLACK_MS));
        invocation
    }

    /// Runs `pipeline` (the record's command, then the index script) and
    /// returns the two answers, a server error in either one being an answer
    /// rather than the failure of the whole pipeline.
    async fn run_pair(&self, pipeline: &Pipeline) -> Result<(Value, Value), Error> {
        let answers =
            self.run(|mut connection| async move {
                connection.req_packed_commands(pipeline, 0, 2).await
            })
            .await?;
        match <[Value; 2]>::try_from(answers) {
            Ok([record, index]) => Ok((record, index)),
            Err(answers) => Err(Error::store_message("unexpected answer to a pipeline")
                .with_detail(format!("{} answers for 2 commands", answers.len()))),
        }
    }

    /// Checks the pipelined index script's `answer` for a record that was
    /// written, and runs the script again on its own if it failed (`NOSCRIPT`
    /// after a server restart, which this reloads it for, or any other
    /// error): a written record is always filed under its owner.
    async fn indexed(&self, answer: Value, invocation: &ScriptInvocation<'_>) -> Result<(), Error> {
        match answer.extract_error() {
            Ok(_) => Ok(()),
            Err(err) => {
                tracing::debug!(error = %err, "the pipelined user index update failed; running it again");
                self.file(invocation).await
            }
        }
    }

    /// Runs the index script on its own (loading it if the server lost it).
    async fn file(&self, invocation: &ScriptInvocation<'_>) -> Result<(), Error> {
        let _: i64 = self
            .run(|mut connection| async move { invocation.invoke_async(&mut connection).await })
            .await?;
        Ok(())
    }

    /// Runs `command` on the shared connection and, if that connection turns
    /// out to have been closed (the server's idle `timeout`, a proxy or a
    /// failover), once more on the fresh one the manager opens (catalogue #55).
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

/// A set per user (see [`RedisStore`]); `SMEMBERS` and `SREM`, one round trip each.
impl UserIndex for RedisStore {
    async fn keys_of(&self, user: &str) -> Result<Vec<SessionKey>, Error> {
        let set = &self.user_key(user);
        let members: Vec<Vec<u8>> = self
            .run(|mut connection| async move { connection.smembers(set).await })
            .await?;
        Ok(members
            .iter()
            .filter_map(|member| parse_hex(member))
            .map(SessionKey::from_bytes)
            .collect())
    }

    async fn forget(&self, user: &str, stale: &[SessionKey]) -> Result<(), Error> {
        if stale.is_empty() {
            return Ok(());
        }
        let set = &self.user_key(user);
        let members = &stale.iter().map(SessionKey::to_hex).collect::<Vec<_>>();
        let _: u64 = self
            .run(|mut connection| async move { connection.srem(set, members).await })
            .await?;
        Ok(())
    }
}

fn save_outcome(answer: i64) -> Result<SaveOutcome, Error> {
    match answer {
        2 => Ok(SaveOutcome::Saved),
        1 => Ok(SaveOutcome::Conflict),
        0 => Ok(SaveOutcome::Missing),
        other => Err(
            Error::store_message("unexpected answer from the save script")
                .with_detail(other.to_string()),
        ),
    }
}

/// The 32 bytes of 64 hex digits (either case), or `None`.
fn parse_hex(text: &[u8]) -> Option<[u8; 32]> {
    fn digit(c: u8) -> Option<u8> {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    }
    if text.len() != 64 {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (byte, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
        *byte = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(bytes)
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
