//! The Redis apps (one node or a cluster), their clean-up, and the probe of
//! the Redis servers' CPU.

use std::sync::PoisonError;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use sessionware_perf::redis_bridge::{Bridge, CreatedIds};
use sessionware_perf::redis_cleanup::{unlink, unlink_prefixed};
use sessionware_perf::redis_cluster;
use tower_sessions::session::Id;
use tower_sessions_redis_store::fred::prelude::{ClientLike as _, Config, Pool, ServerConfig};
use tower_sessions_redis_store::fred::types::config::ClusterDiscoveryPolicy;

use crate::apps::{App, Deployment, Flavour, sessionware_app, tower_sessions_app};
use crate::options::Options;

/// What the apps of one deployment share: where Redis is, and what they
/// left in it.
pub(crate) struct Redis {
    deployment: Deployment,
    /// The node's URL, or the cluster's node URLs.
    urls: Vec<String>,
    /// sessionware's key prefix, unique to this run and deployment.
    prefix: String,
    pool_size: usize,
    /// The ids of tower-sessions' records created in this run.
    created: CreatedIds,
}

/// A Redis app's router, and its store when it has a read cache (for the
/// hit and miss counts).
pub(crate) struct RedisApp {
    pub(crate) router: Router,
    pub(crate) cached: Option<sessionware::RedisStore>,
}

impl Redis {
    pub(crate) fn new(opts: &Options, deployment: Deployment) -> Self {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let (urls, tag) = match deployment {
            Deployment::Node => (vec![opts.redis_url.clone()], "node"),
            Deployment::Cluster => (opts.redis_cluster.clone(), "cluster"),
        };
        Self {
            deployment,
            urls,
            prefix: format!(
                "loadtest-{}-{millis}-{tag}:sessionware:",
                std::process::id()
            ),
            pool_size: opts.redis_pool,
            created: CreatedIds::default(),
        }
    }

    pub(crate) fn deployment(&self) -> Deployment {
        self.deployment
    }

    pub(crate) fn urls(&self) -> &[String] {
        &self.urls
    }

    /// sessionware's `RedisStore` on this deployment, under the run's prefix.
    async fn sessionware_store(&self) -> Result<sessionware::RedisStore, String> {
        let store = match self.deployment {
            Deployment::Node => sessionware::RedisStore::connect(&self.urls[0]).await,
            Deployment::Cluster => sessionware::RedisStore::connect_cluster(&self.urls).await,
        };
        Ok(store
            .map_err(|e| e.to_string())?
            .key_prefix(self.prefix.as_str()))
    }

    /// tower-sessions-redis-store's `fred` configuration: the node's URL, or
    /// `ServerConfig::Clustered` with every node given (fred discovers the
    /// others and opens one connection per master for each client of the
    /// pool).
    fn fred_config(&self) -> Result<Config, String> {
        match self.deployment {
            Deployment::Node => Config::from_url(&self.urls[0]).map_err(|e| e.to_string()),
            Deployment::Cluster => {
                let mut hosts = Vec::with_capacity(self.urls.len());
                for url in &self.urls {
                    let centralized =
                        Config::from_url_centralized(url).map_err(|e| format!("{url}: {e}"))?;
                    match centralized.server {
                        ServerConfig::Centralized { server } => hosts.push(server),
                        _ => return Err(format!("{url}: not a node URL")),
                    }
                }
                // Credentials and TLS as the first URL says.
                let first =
                    Config::from_url_centralized(&self.urls[0]).map_err(|e| e.to_string())?;
                Ok(Config {
                    server: ServerConfig::Clustered {
                        hosts,
                        policy: ClusterDiscoveryPolicy::default(),
                    },
                    ..first
                })
            }
        }
    }

    /// The app `app` over this deployment; call it on the server runtime.
    pub(crate) async fn app(&self, app: App, idle: Duration) -> Result<RedisApp, String> {
        if app.deployment() != Some(self.deployment) {
            return Err(format!(
                "{} does not use {}",
                app.name(),
                self.deployment.name()
            ));
        }
        match app.flavour() {
            Some(Flavour::Sessionware) => Ok(RedisApp {
                router: sessionware_app(self.sessionware_store().await?, Some(idle)),
                cached: None,
            }),
            Some(Flavour::SessionwareCache) => {
                let store = crate::cache::with_read_cache(self.sessionware_store().await?).await?;
                Ok(RedisApp {
                    router: sessionware_app(store.clone(), Some(idle)),
                    cached: Some(store),
                })
            }
            Some(Flavour::TowerSessions) => {
                let pool = Pool::new(self.fred_config()?, None, None, None, self.pool_size)
                    .map_err(|e| e.to_string())?;
                pool.init().await.map_err(|e| e.to_string())?;
                let store = Bridge::new(pool, Some(CreatedIds::clone(&self.created)));
                Ok(RedisApp {
                    router: tower_sessions_app(store, Some(idle)),
                    cached: None,
                })
            }
            None => Err(format!("{} does not use Redis", app.name())),
        }
    }

    /// Connections of its own to every node, for `INFO` and the clean-up;
    /// call it on the client runtime.
    pub(crate) async fn probe(&self) -> Result<Probe, String> {
        let urls = match self.deployment {
            Deployment::Node => self.urls.clone(),
            Deployment::Cluster => redis_cluster::nodes(&self.urls)
                .await?
                .into_iter()
                .filter(|node| !node.failing)
                .map(|node| node.url())
                .collect(),
        };
        let mut connections = Vec::with_capacity(urls.len());
        let mut local = true;
        for url in &urls {
            let client = redis::Client::open(url.as_str()).map_err(|e| e.to_string())?;
            let connection = client
                .get_multiplexed_async_connection()
                .await
                .map_err(|e| format!("cannot connect to Redis at {url}: {e}"))?;
            let host = client.get_connection_info().addr.to_string();
            local &= ["127.", "localhost", "[::1]", "::1", "unix:"]
                .iter()
                .any(|p| host.starts_with(p))
                || host.starts_with('/');
            connections.push(connection);
        }
        Ok(Probe { connections, local })
    }

    /// Deletes what this run stored: sessionware's keys under the run's
    /// prefix, and tower-sessions' records by the ids created.
    pub(crate) async fn cleanup(&self, probe: &Probe) -> Result<String, String> {
        let pattern = format!("{}*", self.prefix);
        let ids = std::mem::take(&mut *self.created.lock().unwrap_or_else(PoisonError::into_inner));
        let keys: Vec<String> = ids.iter().map(|&id| Id(id).to_string()).collect();
        let (sessionware, tower_sessions) = match self.deployment {
            Deployment::Node => {
                let mut connection = probe.connections[0].clone();
                (
                    unlink_prefixed(&mut connection, &self.prefix).await?,
                    unlink(&mut connection, &keys).await?,
                )
            }
            Deployment::Cluster => (
                redis_cluster::unlink_prefixed(&self.urls, &self.prefix).await?,
                redis_cluster::unlink(&self.urls, keys).await?,
            ),
        };
        Ok(format!(
            "{}: deleted {sessionware} sessionware keys ({pattern}) and \
             {tower_sessions} of {} tower-sessions records",
            self.deployment.name(),
            ids.len()
        ))
    }
}

/// Reads the Redis servers' CPU time (every node of a cluster, replicas too).
pub(crate) struct Probe {
    connections: Vec<redis::aio::MultiplexedConnection>,
    local: bool,
}

impl Probe {
    /// The Redis servers' CPU time (user + system, `INFO cpu`) so far,
    /// summed over the nodes.
    pub(crate) async fn cpu(&self) -> Option<Duration> {
        let mut seconds = 0.0;
        for connection in &self.connections {
            let mut connection = connection.clone();
            let info: String = redis::cmd("INFO")
                .arg("cpu")
                .query_async(&mut connection)
                .await
                .ok()?;
            for line in info.lines() {
                if let Some(value) = line
                    .strip_prefix("used_cpu_sys:")
                    .or_else(|| line.strip_prefix("used_cpu_user:"))
                {
                    seconds += value.trim().parse::<f64>().ok()?;
                }
            }
        }
        Some(Duration::from_secs_f64(seconds))
    }

    /// Whether the servers run on this machine (their CPU is then not
    /// counted as other programs' load).
    pub(crate) fn local(&self) -> bool {
        self.local
    }
}
