//! The Redis apps, their clean-up, and the probe of the Redis server's CPU.

use std::sync::PoisonError;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use sessionware_perf::redis_bridge::{Bridge, CreatedIds};
use sessionware_perf::redis_cleanup::{unlink, unlink_prefixed};
use tower_sessions::session::Id;
use tower_sessions_redis_store::fred::prelude::{ClientLike as _, Config, Pool};

use crate::apps::{App, sessionware_app, tower_sessions_app};
use crate::options::Options;

/// What the Redis apps share: where Redis is, and what they left in it.
pub(crate) struct Redis {
    url: String,
    /// sessionware's key prefix, unique to this run.
    prefix: String,
    pool_size: usize,
    /// The ids of tower-sessions' records created in this run.
    created: CreatedIds,
}

impl Redis {
    pub(crate) fn new(opts: &Options) -> Result<Self, String> {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        Ok(Self {
            url: opts.redis_url.clone(),
            prefix: format!("loadtest-{}-{millis}:sessionware:", std::process::id()),
            pool_size: opts.redis_pool,
            created: CreatedIds::default(),
        })
    }

    /// The app `app` over Redis; call it on the server runtime.
    pub(crate) async fn router(&self, app: App, idle: Duration) -> Result<Router, String> {
        match app {
            App::SessionwareRedis => {
                let store = sessionware::RedisStore::connect(&self.url)
                    .await
                    .map_err(|e| e.to_string())?
                    .key_prefix(self.prefix.as_str());
                Ok(sessionware_app(store, Some(idle)))
            }
            App::TowerSessionsRedis => {
                let config = Config::from_url(&self.url).map_err(|e| e.to_string())?;
                let pool = Pool::new(config, None, None, None, self.pool_size)
                    .map_err(|e| e.to_string())?;
                pool.init().await.map_err(|e| e.to_string())?;
                let store = Bridge::new(pool, Some(CreatedIds::clone(&self.created)));
                Ok(tower_sessions_app(store, Some(idle)))
            }
            other => Err(format!("{} does not use Redis", other.name())),
        }
    }

    /// A connection of its own for `INFO` and the clean-up; call it on the
    /// client runtime.
    pub(crate) async fn probe(&self) -> Result<Probe, String> {
        let client = redis::Client::open(self.url.as_str()).map_err(|e| e.to_string())?;
        let connection = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| format!("cannot connect to Redis: {e}"))?;
        let host = client.get_connection_info().addr.to_string();
        let local = ["127.", "localhost", "[::1]", "::1", "unix:"]
            .iter()
            .any(|p| host.starts_with(p))
            || host.starts_with('/');
        Ok(Probe { connection, local })
    }

    /// Deletes what this run stored: sessionware's keys under the run's
    /// prefix, and tower-sessions' records by the ids created.
    pub(crate) async fn cleanup(&self, probe: &Probe) -> Result<String, String> {
        let mut connection = probe.connection.clone();
        let pattern = format!("{}*", self.prefix);
        let sessionware = unlink_prefixed(&mut connection, &self.prefix).await?;
        let ids = std::mem::take(&mut *self.created.lock().unwrap_or_else(PoisonError::into_inner));
        let keys: Vec<String> = ids.iter().map(|&id| Id(id).to_string()).collect();
        let tower_sessions = unlink(&mut connection, &keys).await?;
        Ok(format!(
            "deleted {sessionware} sessionware keys ({pattern}) and \
             {tower_sessions} of {} tower-sessions records",
            ids.len()
        ))
    }
}

/// Reads the Redis server's CPU time.
pub(crate) struct Probe {
    connection: redis::aio::MultiplexedConnection,
    local: bool,
}

impl Probe {
    /// The Redis server's CPU time (user + system, `INFO cpu`) so far.
    pub(crate) async fn cpu(&self) -> Option<Duration> {
        let mut connection = self.connection.clone();
        let info: String = redis::cmd("INFO")
            .arg("cpu")
            .query_async(&mut connection)
            .await
            .ok()?;
        let mut seconds = 0.0;
        for line in info.lines() {
            if let Some(value) = line
                .strip_prefix("used_cpu_sys:")
                .or_else(|| line.strip_prefix("used_cpu_user:"))
            {
                seconds += value.trim().parse::<f64>().ok()?;
            }
        }
        Some(Duration::from_secs_f64(seconds))
    }

    /// Whether the server runs on this machine (its CPU is then not
    /// counted as other programs' load).
    pub(crate) fn local(&self) -> bool {
        self.local
    }
}
