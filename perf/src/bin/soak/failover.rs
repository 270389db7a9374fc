//! One manual failover: `CLUSTER FAILOVER` sent to a replica, which then
//! takes its master's slots over in coordination with it.

use std::time::{Duration, Instant};

use sessionware_perf::redis_cluster::{self, Node};

/// How long one `CLUSTER FAILOVER` may take before it is sent again.
const PROMOTION: Duration = Duration::from_secs(10);
/// How many times it is sent.
const ATTEMPTS: u32 = 3;
/// How long the cluster may take to be ready for a failover at the start.
const READY: Duration = Duration::from_secs(30);

/// What the failover did.
pub(crate) struct Failover {
    pub(crate) master: String,
    pub(crate) replica: String,
    /// From the first command to the replica reporting itself master.
    pub(crate) took: Duration,
    /// How many `CLUSTER FAILOVER` commands were sent (1 unless one timed out).
    pub(crate) attempts: u32,
}

/// The first master (by address) with a healthy replica, and that replica.
fn pick(nodes: &[Node]) -> Option<(&Node, &Node)> {
    let mut masters: Vec<&Node> = nodes.iter().filter(|n| n.master && !n.failing).collect();
    masters.sort_by(|a, b| a.address.cmp(&b.address));
    masters.into_iter().find_map(|master| {
        nodes
            .iter()
            .find(|n| !n.master && !n.failing && n.master_id.as_deref() == Some(&master.id))
            .map(|replica| (master, replica))
    })
}

/// Whether `replica` is in sync with its master (`master_link_status:up`)
/// and sees the cluster as ok.
async fn ready(replica: &Node) -> Result<bool, String> {
    let mut connection = redis_cluster::node_connection(&replica.url()).await?;
    let replication: String = redis::cmd("INFO")
        .arg("replication")
        .query_async(&mut connection)
        .await
        .map_err(|e| e.to_string())?;
    let cluster: String = redis::cmd("CLUSTER")
        .arg("INFO")
        .query_async(&mut connection)
        .await
        .map_err(|e| e.to_string())?;
    Ok(replication
        .lines()
        .any(|l| l.trim() == "master_link_status:up")
        && cluster.lines().any(|l| l.trim() == "cluster_state:ok"))
}

/// Waits (up to 30 s) until a failover is possible: a master with a
/// replica in sync, on a cluster that is ok. A cluster just restarted, or
/// whose replica is still syncing after an earlier failover, gets the time
/// to settle; one without replicas fails here rather than in the middle.
pub(crate) async fn check(urls: &[String]) -> Result<(), String> {
    let started = Instant::now();
    loop {
        let nodes = redis_cluster::nodes(urls).await?;
        let why = match pick(&nodes) {
            None => "no master of the cluster has a healthy replica to fail over to".to_owned(),
            Some((_, replica)) => match ready(replica).await {
                Ok(true) => return Ok(()),
                Ok(false) => format!(
                    "the replica {} is not in sync with its master, or the cluster is not ok",
                    replica.address
                ),
                Err(err) => format!("{}: {err}", replica.address),
            },
        };
        if started.elapsed() > READY {
            return Err(format!(
                "not ready for a failover after {} s: {why}",
                READY.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Sends `CLUSTER FAILOVER` to a replica and waits until it is master.
pub(crate) async fn run(urls: &[String]) -> Result<Failover, String> {
    let nodes = redis_cluster::nodes(urls).await?;
    let (master, replica) =
        pick(&nodes).ok_or("no master of the cluster has a healthy replica to fail over to")?;
    let mut connection = redis_cluster::node_connection(&replica.url()).await?;
    let started = Instant::now();
    let mut attempt = 0;
    let mut sent = started;
    loop {
        // Sent again if a coordinated failover timed out (the master did
        // not answer in time): Redis aborts it then, and nothing changed.
        if attempt == 0 || (sent.elapsed() > PROMOTION && attempt < ATTEMPTS) {
            attempt += 1;
            sent = Instant::now();
            let _: String = redis::cmd("CLUSTER")
                .arg("FAILOVER")
                .query_async(&mut connection)
                .await
                .map_err(|e| format!("CLUSTER FAILOVER on {}: {e}", replica.address))?;
        }
        let role: Vec<redis::Value> = redis::cmd("ROLE")
            .query_async(&mut connection)
            .await
            .map_err(|e| format!("ROLE on {}: {e}", replica.address))?;
        if matches!(role.first(), Some(redis::Value::BulkString(role)) if role == b"master") {
            return Ok(Failover {
                master: master.address.clone(),
                replica: replica.address.clone(),
                took: started.elapsed(),
                attempts: attempt,
            });
        }
        if sent.elapsed() > PROMOTION && attempt >= ATTEMPTS {
            return Err(format!(
                "{} was not master {:.0} s after the first of {ATTEMPTS} CLUSTER FAILOVER commands",
                replica.address,
                started.elapsed().as_secs_f64()
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
