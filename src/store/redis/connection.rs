//! The connections [`RedisStore`](super::RedisStore) runs on: one node through a reconnecting
//! `ConnectionManager`, or a Redis Cluster through the `redis` crate's
//! cluster client, which routes each command to its key's slot.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

use super::failover::Failover;
use crate::error::{Error, ErrorKind};

/// How long opening a connection to one node may take.
pub(super) const CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);

/// One node or a cluster; cloning it is cheap (both are shared handles).
#[derive(Clone)]
pub(super) enum Connection {
    /// One node (or a proxy in front of one), reconnecting by itself.
    Single(ConnectionManager),
    /// A Redis Cluster: commands go to their key's slot, and the client
    /// follows `MOVED`/`ASK` redirections and refreshes its slot map after a
    /// failover.
    Cluster(ClusterConnection),
    /// The master a group of Redis Sentinels names, followed across failovers.
    Sentinel(Failover),
}

impl Connection {
    /// Whether keys of different slots may live on different nodes, so that
    /// a pipeline must not mix them.
    pub(super) fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }

    /// The single-node connection `url` names, with sessionware's
    /// reconnection settings, and the client it was opened with (the read
    /// cache subscribes through it).
    pub(super) async fn single(url: &str) -> Result<(Self, redis::Client), Error> {
        let client = redis::Client::open(url).map_err(|e| {
            Error::new(ErrorKind::InvalidConfig, "invalid Redis URL").with_source(e)
        })?;
        ConnectionManager::new_with_config(client.clone(), manager_config())
            .await
            .map(|manager| (Self::Single(manager), client))
            .map_err(|e| {
                Error::store(e)
                    .with_detail(format!("could not connect to Redis at {}", redacted(url)))
            })
    }

    /// A cluster connection from `client`, or an error naming the first node.
    pub(super) async fn cluster(client: &ClusterClient, first: &str) -> Result<Self, Error> {
        client
            .get_async_connection()
            .await
            .map(Self::Cluster)
            .map_err(|e| {
                Error::store(e).with_detail(format!(
                    "could not connect to the Redis Cluster at {}",
                    redacted(first)
                ))
            })
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
            Self::Sentinel(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Sentinel(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
            Self::Sentinel(connection) => connection.get_db(),
        }
    }
}

/// The settings of every single-node connection (one node, or a Sentinel's
/// master). Reconnection backs off from 100 ms, doubling, up to 500 ms
/// between attempts, and gives up after two, so a request fails fast and the
/// next one tries again. No response timeout: the layer's `store_timeout`
/// bounds every call, and a second timer per command only costs wake-ups.
pub(super) fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECTION_TIMEOUT))
        .set_response_timeout(None)
        .set_min_delay(Duration::from_millis(100))
        .set_exponent_base(2.0)
        .set_max_delay(Duration::from_millis(500))
        .set_number_of_retries(2)
}

/// The URL without its password, for error messages.
pub(super) fn redacted(url: &str) -> String {
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
