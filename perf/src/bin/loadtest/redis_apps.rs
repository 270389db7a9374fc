//! The Redis apps, their clean-up, and the probe of the Redis server's CPU.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store;
use tower_sessions_core_014 as core014;
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
    created: Arc<Mutex<Vec<i128>>>,
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
            created: Arc::default(),
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
                let store = Bridge {
                    inner: tower_sessions_redis_store::RedisStore::new(pool),
                    created: Arc::clone(&self.created),
                };
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
        let mut cursor = 0u64;
        let mut sessionware = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut connection)
                .await
                .map_err(|e| e.to_string())?;
            if !keys.is_empty() {
                sessionware += redis::cmd("UNLINK")
                    .arg(&keys)
                    .query_async::<u64>(&mut connection)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        let ids = std::mem::take(&mut *self.created.lock().unwrap_or_else(PoisonError::into_inner));
        let mut tower_sessions = 0u64;
        for chunk in ids.chunks(1000) {
            let keys: Vec<String> = chunk.iter().map(|&id| Id(id).to_string()).collect();
            tower_sessions += redis::cmd("UNLINK")
                .arg(&keys)
                .query_async::<u64>(&mut connection)
                .await
                .map_err(|e| e.to_string())?;
        }
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

type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = session_store::Result<T>> + Send + 'a>>;

/// `tower-sessions-redis-store` 0.16 implements tower-sessions-core 0.14's
/// `SessionStore`; this implements 0.15's (the same trait, the same
/// record) by converting the record, and notes every id created for the
/// clean-up. The methods are what `#[async_trait]` expands to.
#[derive(Debug, Clone)]
struct Bridge {
    inner: tower_sessions_redis_store::RedisStore<Pool>,
    created: Arc<Mutex<Vec<i128>>>,
}

fn to_014(record: &Record) -> core014::session::Record {
    core014::session::Record {
        id: core014::session::Id(record.id.0),
        data: record.data.clone(),
        expiry_date: record.expiry_date,
    }
}

fn from_014(error: core014::session_store::Error) -> session_store::Error {
    use core014::session_store::Error as Old;
    match error {
        Old::Encode(message) => session_store::Error::Encode(message),
        Old::Decode(message) => session_store::Error::Decode(message),
        Old::Backend(message) => session_store::Error::Backend(message),
    }
}

impl tower_sessions::SessionStore for Bridge {
    fn create<'a, 'b, 'f>(&'a self, record: &'b mut Record) -> StoreFuture<'f, ()>
    where
        'a: 'f,
        'b: 'f,
        Self: 'f,
    {
        Box::pin(async move {
            let mut old = to_014(record);
            core014::SessionStore::create(&self.inner, &mut old)
                .await
                .map_err(from_014)?;
            record.id = Id(old.id.0);
            self.created
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(old.id.0);
            Ok(())
        })
    }

    fn save<'a, 'b, 'f>(&'a self, record: &'b Record) -> StoreFuture<'f, ()>
    where
        'a: 'f,
        'b: 'f,
        Self: 'f,
    {
        Box::pin(async move {
            core014::SessionStore::save(&self.inner, &to_014(record))
                .await
                .map_err(from_014)
        })
    }

    fn load<'a, 'b, 'f>(&'a self, id: &'b Id) -> StoreFuture<'f, Option<Record>>
    where
        'a: 'f,
        'b: 'f,
        Self: 'f,
    {
        Box::pin(async move {
            let old = core014::SessionStore::load(&self.inner, &core014::session::Id(id.0))
                .await
                .map_err(from_014)?;
            Ok(old.map(|old| Record {
                id: Id(old.id.0),
                data: old.data,
                expiry_date: old.expiry_date,
            }))
        })
    }

    fn delete<'a, 'b, 'f>(&'a self, id: &'b Id) -> StoreFuture<'f, ()>
    where
        'a: 'f,
        'b: 'f,
        Self: 'f,
    {
        Box::pin(async move {
            core014::SessionStore::delete(&self.inner, &core014::session::Id(id.0))
                .await
                .map_err(from_014)
        })
    }
}
