//! A connection to the master that Redis Sentinel names, which follows a
//! failover: on an error that says the master is gone or demoted, it asks
//! the sentinels again and reconnects to the master they name now.

use std::sync::{Arc, RwLock};

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::sentinel::SentinelClient;
use redis::{Cmd, Pipeline, RedisError, RedisFuture, RedisResult, ServerErrorKind, Value};
use tokio::sync::Mutex;

/// The master of a Sentinel-monitored group; cloning it is cheap.
#[derive(Clone)]
pub(super) struct Failover {
    shared: Arc<Shared>,
}

struct Shared {
    /// Asks the sentinels for the current master; one question at a time.
    sentinel: Mutex<SentinelClient>,
    /// The connection to the master last named, and how many times a new
    /// one was named (so that requests failing together ask only once).
    master: RwLock<(u64, ConnectionManager)>,
    config: ConnectionManagerConfig,
}

/// What a failed attempt calls for.
enum Failure {
    /// The node is a replica now (`READONLY`): it ran nothing, so the
    /// command is sent again to the new master.
    Demoted,
    /// The connection broke or was refused: the master may be gone. The
    /// error is returned (the store retries a dropped connection once).
    Lost,
    /// Anything else: returned as it is.
    Other,
}

impl Failover {
    /// Asks the sentinels of `sentinel` for the master and connects to it.
    pub(super) async fn connect(
        mut sentinel: SentinelClient,
        config: ConnectionManagerConfig,
    ) -> RedisResult<Self> {
        let client = sentinel.async_get_client().await?;
        let manager = ConnectionManager::new_with_config(client, config.clone()).await?;
        Ok(Self {
            shared: Arc::new(Shared {
                sentinel: Mutex::new(sentinel),
                master: RwLock::new((0, manager)),
                config,
            }),
        })
    }

    /// A client for the master the sentinels name now (the read cache
    /// subscribes there).
    pub(super) async fn master_client(&self) -> RedisResult<redis::Client> {
        self.shared.sentinel.lock().await.async_get_client().await
    }

    fn current(&self) -> (u64, ConnectionManager) {
        let master = self
            .shared
            .master
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (master.0, master.1.clone())
    }

    /// Asks the sentinels for the master again and connects to it, unless
    /// another request did so since `seen`.
    async fn follow(&self, seen: u64) -> RedisResult<()> {
        let mut sentinel = self.shared.sentinel.lock().await;
        if self.current().0 != seen {
            return Ok(());
        }
        let client = sentinel.async_get_client().await?;
        let address = client.get_connection_info().addr().to_string();
        let manager =
            ConnectionManager::new_with_config(client, self.shared.config.clone()).await?;
        tracing::info!(master = %address, "following Redis Sentinel to the current master");
        *self
            .shared
            .master
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = (seen + 1, manager);
        Ok(())
    }

    /// Runs `attempt` on the current master; after a failover, follows the
    /// sentinels (and runs it once more if the old master refused it).
    async fn run<T, F>(
        &self,
        attempt: impl Fn(ConnectionManager) -> F,
        failure: impl Fn(&RedisResult<T>) -> Failure,
    ) -> RedisResult<T>
    where
        F: Future<Output = RedisResult<T>>,
    {
        let (seen, connection) = self.current();
        let answer = attempt(connection).await;
        match failure(&answer) {
            Failure::Other => answer,
            Failure::Lost => {
                if let Err(err) = self.follow(seen).await {
                    tracing::debug!(error = %err, "Redis Sentinel named no reachable master yet");
                }
                answer
            }
            Failure::Demoted => {
                self.follow(seen).await?;
                attempt(self.current().1).await
            }
        }
    }
}

fn failure_of(err: &RedisError) -> Failure {
    if err.kind() == redis::ErrorKind::Server(ServerErrorKind::ReadOnly) {
        Failure::Demoted
    } else if err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_io_error()
        || err.is_timeout()
    {
        Failure::Lost
    } else {
        Failure::Other
    }
}

fn demoted(value: &Value) -> bool {
    matches!(value, Value::ServerError(err) if err.kind() == Some(ServerErrorKind::ReadOnly))
}

impl ConnectionLike for Failover {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(self.run(
            move |mut connection| async move { connection.req_packed_command(cmd).await },
            |answer| match answer {
                Ok(value) if demoted(value) => Failure::Demoted,
                Ok(_) => Failure::Other,
                Err(err) => failure_of(err),
            },
        ))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        // Every pipeline of the store is writes only: if one was refused as
        // read-only, the node was a replica and wrote none of them.
        Box::pin(self.run(
            move |mut connection| async move {
                connection
                    .req_packed_commands(pipeline, offset, count)
                    .await
            },
            |answer| match answer {
                Ok(values) if values.iter().any(demoted) => Failure::Demoted,
                Ok(_) => Failure::Other,
                Err(err) => failure_of(err),
            },
        ))
    }

    fn get_db(&self) -> i64 {
        self.current().1.get_db()
    }
}
