//! What the Redis cells leave in Redis, and deleting it after each of them.
//!
//! sessionware's keys carry a prefix unique to the `ipr measure` run, given
//! to every server it starts (`--redis-prefix`); tower-sessions-redis-store
//! has no prefix and files a record under its bare session id, which is the
//! cookie's value, so the driver deletes the ids of every cookie it was
//! given. On SIGINT, SIGTERM or SIGHUP the driver deletes them before it
//! exits (`interrupt`); should it be killed outright, every key still expires
//! on its own after the apps' idle timeout (`serve::REDIS_IDLE`, one hour).

use sessionware_perf::redis_cleanup::{unlink, unlink_prefixed};

#[derive(Clone)]
pub(crate) struct RedisKeys {
    url: String,
    prefix: String,
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))
}

impl RedisKeys {
    /// Checks that Redis answers at `url`.
    pub(crate) fn new(url: &str) -> Result<Self, String> {
        let keys = Self {
            url: url.to_owned(),
            prefix: crate::serve::unique_prefix(),
        };
        runtime()?.block_on(async {
            let mut connection = keys.connect().await?;
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
                .map_err(|e| format!("Redis at {}: {e}", keys.url))
        })?;
        Ok(keys)
    }

    /// The prefix of sessionware's keys.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    async fn connect(&self) -> Result<redis::aio::MultiplexedConnection, String> {
        redis::Client::open(self.url.as_str())
            .map_err(|e| e.to_string())?
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| format!("cannot connect to Redis at {}: {e}", self.url))
    }

    /// Deletes sessionware's keys and the records of `tower_sessions_ids`;
    /// says how many there were.
    pub(crate) fn delete(&self, tower_sessions_ids: &[String]) -> Result<String, String> {
        runtime()?.block_on(async {
            let mut connection = self.connect().await?;
            let sessionware = unlink_prefixed(&mut connection, &self.prefix).await?;
            let tower_sessions = unlink(&mut connection, tower_sessions_ids).await?;
            Ok(format!(
                "deleted {sessionware} sessionware keys and {tower_sessions} tower-sessions records"
            ))
        })
    }
}
