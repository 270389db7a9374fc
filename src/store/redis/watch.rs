//! The watch on the sentinels: every [`WATCH_EVERY`] one sentinel is asked
//! which node is the master now, so that a failover is followed within that
//! time even by an instance that neither writes nor loses its connection.
//! Without it, such an instance keeps reading from the old master, which
//! answers until the sentinels demote it (seconds later) and meanwhile hears
//! none of the new master's writes: it would serve revoked sessions, and its
//! read cache would miss their invalidations.

use std::time::Duration;

use redis::aio::MultiplexedConnection;

/// How often the sentinels are asked: the longest an instance reads from a
/// replaced master after the sentinels promote its replica.
pub(super) const WATCH_EVERY: Duration = Duration::from_millis(250);

/// How long one sentinel may take to answer, or to accept a connection.
const ANSWER_WITHIN: Duration = Duration::from_secs(1);

/// One connection to a sentinel, kept across questions, and the sentinels
/// to open another from when it fails.
pub(super) struct Watch {
    sentinels: Vec<String>,
    master_name: String,
    connection: Option<MultiplexedConnection>,
}

impl Watch {
    pub(super) fn new(sentinels: Vec<String>, master_name: String) -> Self {
        Self {
            sentinels,
            master_name,
            connection: None,
        }
    }

    /// The address (`host:port`) a sentinel names as the master now, or
    /// `None` if no sentinel answers. During a failover the sentinels name
    /// the replica they promoted as soon as it is promoted.
    pub(super) async fn master(&mut self) -> Option<String> {
        if let Some(connection) = &mut self.connection {
            if let Some(address) = ask(connection, &self.master_name).await {
                return Some(address);
            }
            self.connection = None;
        }
        for url in &self.sentinels {
            let Ok(client) = redis::Client::open(url.as_str()) else {
                continue;
            };
            let opening = client.get_multiplexed_async_connection();
            let Ok(Ok(mut connection)) = tokio::time::timeout(ANSWER_WITHIN, opening).await else {
                continue;
            };
            if let Some(address) = ask(&mut connection, &self.master_name).await {
                self.connection = Some(connection);
                return Some(address);
            }
        }
        None
    }
}

/// `SENTINEL GET-MASTER-ADDR-BY-NAME`, as `host:port`.
async fn ask(connection: &mut MultiplexedConnection, master_name: &str) -> Option<String> {
    let mut command = redis::cmd("SENTINEL");
    command.arg("GET-MASTER-ADDR-BY-NAME").arg(master_name);
    let question = command.query_async::<Option<(String, u16)>>(connection);
    match tokio::time::timeout(ANSWER_WITHIN, question).await {
        Ok(Ok(Some((host, port)))) => Some(format!("{host}:{port}")),
        _ => None,
    }
}
