//! The cluster constructors of [`RedisStore`]: from node URLs, or from a
//! cluster client configured by the caller.

use redis::cluster::{ClusterClient, ClusterClientBuilder};

use super::RedisStore;
use super::cache::subscriber::Source;
use super::connection::{CONNECTION_TIMEOUT, Connection};
use crate::error::{Error, ErrorKind};

impl RedisStore {
    /// Connects to a Redis Cluster through `nodes` (URLs of some of its
    /// nodes, `redis://host:port`; one reachable node is enough to discover
    /// the others), checks that the masters run our scripts, and fails with a
    /// clear error if none is reachable.
    ///
    /// A command that meets a failover is retried up to 4 times, at most
    /// 500 ms apart, while the client learns the new slot map; the layer's
    /// `store_timeout` bounds the whole call. In the tests, a manual
    /// `CLUSTER FAILOVER` made no request fail; a killed master made saves
    /// of its slots fail for about 4 s (the 2 s node timeout, then the
    /// replica's election), after which they succeeded again with nothing
    /// acknowledged lost. For other settings (TLS,
    /// credentials, read timeouts), configure a client yourself and use
    /// [`from_cluster_client`](Self::from_cluster_client). See [`RedisStore`]
    /// for what is atomic on a cluster.
    ///
    /// ```no_run
    /// use sessionware::RedisStore;
    /// # async fn run() -> Result<(), sessionware::Error> {
    /// let nodes = ["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"];
    /// let store = RedisStore::connect_cluster(nodes).await?.key_prefix("myapp:");
    /// store.health().await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect_cluster(
        nodes: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> Result<Self, Error> {
        let nodes: Vec<String> = nodes
            .into_iter()
            .map(|node| node.as_ref().to_owned())
            .collect();
        let Some(first) = nodes.first().cloned() else {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                "RedisStore::connect_cluster needs at least one node URL, got 0",
            ));
        };
        let client = ClusterClientBuilder::new(nodes.clone())
            .connection_timeout(CONNECTION_TIMEOUT)
            .retries(4)
            .min_retry_wait(50)
            .max_retry_wait(500)
            .build()
            .map_err(|e| {
                Error::new(ErrorKind::InvalidConfig, "invalid Redis Cluster node URL")
                    .with_source(e)
            })?;
        let clients = nodes
            .iter()
            .map(|node| redis::Client::open(node.as_str()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                Error::new(ErrorKind::InvalidConfig, "invalid Redis Cluster node URL")
                    .with_source(e)
            })?;
        let mut store = Self::cluster_store(&client, &first).await?;
        store.source = Some(Source::Nodes(clients.into()));
        Ok(store)
    }

    /// Connects through a cluster client you configured yourself (TLS,
    /// credentials, retries, timeouts), and checks the cluster as
    /// [`connect_cluster`](Self::connect_cluster) does. Do not turn on
    /// `read_from_replicas`: a replica may still hold a session's previous
    /// version, or a session already deleted.
    pub async fn from_cluster_client(client: ClusterClient) -> Result<Self, Error> {
        Self::cluster_store(&client, "the configured nodes").await
    }

    async fn cluster_store(client: &ClusterClient, first: &str) -> Result<Self, Error> {
        let store = Self::with(Connection::cluster(client, first).await?);
        store.check().await?;
        Ok(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_cluster_without_nodes_is_a_configuration_error() {
        let err = RedisStore::connect_cluster(Vec::<String>::new())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        assert!(err.to_string().contains("got 0"), "{err}");
    }
}
