//! The Lua scripts of [`RedisStore`]: their sources, what the save
//! script's answer means, and the start-up check that loads them.

use std::time::{Duration, SystemTime};

use redis::Script;

use super::connection::Connection;
use crate::error::Error;
use crate::record::unix_millis;
use crate::store::SaveOutcome;

/// A deadline for `PXAT`, which refuses 0.
pub(super) fn millis(time: SystemTime) -> u64 {
    unix_millis(time).max(1)
}

/// Writes only if the stored version header (the value's first 8 bytes) is the
/// expected one, and moves the expiry to the new deadline: 0 missing,
/// 1 conflict, 2 saved. A write publishes `ARGV[5]` on the invalidation
/// channel `ARGV[4]`, for the read caches of every instance.
pub(super) const SAVE: &str = r"
local version = redis.call('GETRANGE', KEYS[1], 0, 7)
if version == '' then return 0 end
if version ~= ARGV[1] then return 1 end
redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 2";

/// Deletes `KEYS[1]` and, if it existed, publishes `ARGV[2]` on the
/// invalidation channel `ARGV[1]`, in one step: no instance can read the
/// record from its cache once the deletion is announced, and none misses
/// the announcement of a deletion that happened.
pub(super) const DELETE: &str = r"
local removed = redis.call('DEL', KEYS[1])
if removed > 0 then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
return removed";

/// Files a session digest (`ARGV[1]`) in a user's set (`KEYS[1]`, the only
/// key, so the script stays on one cluster slot) and makes the set live at
/// least until `ARGV[2]` (unix ms). It never shortens the set's life: the
/// set's expiry is estimated as the clock read *after* `PTTL` plus that TTL,
/// which is never earlier than the real expiry, and moved only if that is
/// before `ARGV[2]` (`PEXPIRETIME` would be exact but needs Redis 7). A set
/// without an expiry keeps none. An `ARGV[2]` in the past empties a new set
/// at once and leaves an existing one alone.
pub(super) const INDEX: &str = r"
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

/// Loads the scripts and tries `SET .. NX PXAT` on a probe key under
/// `prefix`, so a server without Lua or `PXAT` is refused at start-up rather
/// than at the first login. Loaded scripts also spare the first pipelined
/// owned write a `NOSCRIPT` answer.
pub(super) async fn check(
    mut connection: Connection,
    scripts: [&Script; 4],
    prefix: &str,
) -> Result<(), Error> {
    {
        let too_old = |e| {
            Error::store(e)
                .with_detail("the Redis server refused our commands (Redis 6.2 or later is needed)")
        };
        for script in scripts {
            script
                .prepare_invoke()
                .load_async(&mut connection)
                .await
                .map_err(too_old)?;
        }
        let probe = format!("{prefix}{{probe}}");
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
}

/// What the [`SAVE`] script's answer means.
pub(super) fn save_outcome(answer: i64) -> Result<SaveOutcome, Error> {
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
