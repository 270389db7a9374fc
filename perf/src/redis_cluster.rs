//! A Redis Cluster seen from outside: its nodes (`CLUSTER NODES`), and
//! deleting what a run stored there, key by key on the node that owns it.

use redis::aio::MultiplexedConnection;
use redis1::cluster::ClusterClient;
use redis1::cluster_async::ClusterConnection;
use tokio::task::JoinSet;

/// Concurrent tasks that delete keys.
const DELETERS: usize = 32;

/// One node of the cluster, as `CLUSTER NODES` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The node's id.
    pub id: String,
    /// `host:port`.
    pub address: String,
    /// Whether it is a master (else a replica).
    pub master: bool,
    /// For a replica, the id of its master.
    pub master_id: Option<String>,
    /// Whether the cluster flags it as failing or without an address.
    pub failing: bool,
}

impl Node {
    /// `redis://host:port`.
    pub fn url(&self) -> String {
        format!("redis://{}", self.address)
    }
}

/// Parses the answer of `CLUSTER NODES`.
pub fn parse_nodes(table: &str) -> Vec<Node> {
    table
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            if fields.len() < 8 {
                return None;
            }
            let flags = fields[2];
            // `ip:port@cluster-bus-port[,hostname]`
            let address = fields[1].split(['@', ',']).next().unwrap_or("").to_owned();
            Some(Node {
                id: fields[0].to_owned(),
                master: flags.contains("master"),
                master_id: (fields[3] != "-").then(|| fields[3].to_owned()),
                failing: flags.contains("fail")
                    || flags.contains("noaddr")
                    || address.starts_with(':'),
                address,
            })
        })
        .collect()
}

/// A connection to one node (not cluster-aware).
pub async fn node_connection(url: &str) -> Result<MultiplexedConnection, String> {
    redis::Client::open(url)
        .map_err(|e| e.to_string())?
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| format!("cannot connect to {url}: {e}"))
}

/// The cluster's nodes, asked of the first of `urls` that answers.
pub async fn nodes(urls: &[String]) -> Result<Vec<Node>, String> {
    let mut last = String::from("no node URL given");
    for url in urls {
        match node_connection(url).await {
            Ok(mut connection) => {
                let table: String = redis::cmd("CLUSTER")
                    .arg("NODES")
                    .query_async(&mut connection)
                    .await
                    .map_err(|e| format!("CLUSTER NODES on {url}: {e}"))?;
                return Ok(parse_nodes(&table));
            }
            Err(err) => last = err,
        }
    }
    Err(last)
}

/// A cluster-aware connection, which routes each command to its key's node.
pub async fn cluster_connection(urls: &[String]) -> Result<ClusterConnection, String> {
    ClusterClient::new(urls.to_vec())
        .map_err(|e| e.to_string())?
        .get_async_connection()
        .await
        .map_err(|e| format!("cannot connect to the Redis Cluster: {e}"))
}

/// Deletes every key starting with `prefix` on every master (`SCAN MATCH`
/// on each, then one `UNLINK` per key, as keys of different slots cannot
/// share a command); returns how many were deleted.
pub async fn unlink_prefixed(urls: &[String], prefix: &str) -> Result<u64, String> {
    unlink_matching(urls, &format!("{prefix}*")).await
}

/// Deletes every key that matches the glob `pattern` on every master;
/// returns how many were deleted.
pub async fn unlink_matching(urls: &[String], pattern: &str) -> Result<u64, String> {
    let mut keys = Vec::new();
    for node in nodes(urls).await? {
        if !node.master || node.failing {
            continue;
        }
        let mut connection = node_connection(&node.url()).await?;
        let mut cursor = 0u64;
        loop {
            let (next, found): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut connection)
                .await
                .map_err(|e| format!("SCAN on {}: {e}", node.address))?;
            keys.extend(found);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
    }
    unlink(urls, keys).await
}

/// `UNLINK`s each of `keys` on the node that owns it, a few dozen at a
/// time; returns how many existed.
pub async fn unlink(urls: &[String], keys: Vec<String>) -> Result<u64, String> {
    if keys.is_empty() {
        return Ok(0);
    }
    let connection = cluster_connection(urls).await?;
    let mut tasks = JoinSet::new();
    let per_task = keys.len().div_ceil(DELETERS);
    let mut keys = keys;
    while !keys.is_empty() {
        let chunk = keys.split_off(keys.len().saturating_sub(per_task));
        let mut connection = connection.clone();
        tasks.spawn(async move {
            let mut deleted = 0u64;
            for key in chunk {
                deleted += redis1::cmd("UNLINK")
                    .arg(&key)
                    .query_async::<u64>(&mut connection)
                    .await
                    .map_err(|e| format!("UNLINK: {e}"))?;
            }
            Ok::<u64, String>(deleted)
        });
    }
    let mut deleted = 0;
    while let Some(result) = tasks.join_next().await {
        deleted += result.map_err(|e| e.to_string())??;
    }
    Ok(deleted)
}
