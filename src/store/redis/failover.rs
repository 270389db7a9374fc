//! A connection to the master that Redis Sentinel names, which follows a
//! failover: on an error that says the master is gone or demoted, it asks
//! the sentinels again and reconnects to the master they name now. Each
//! write is confirmed by `WAIT` on the connection that sent it, so that a
//! master the sentinels replaced cannot acknowledge a write it will drop.

use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::sentinel::SentinelClient;
use redis::{
    Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, RedisResult, ServerErrorKind, Value,
};
use tokio::sync::Mutex;

use super::watch::{WATCH_EVERY, Watch};

/// The master of a Sentinel-monitored group; cloning it is cheap.
#[derive(Clone)]
pub(super) struct Failover {
    shared: Arc<Shared>,
    /// How writes are confirmed before they are acknowledged, if at all.
    confirm: Option<Confirmation>,
}

/// A write counts only once `replicas` replicas have it: `WAIT replicas
/// timeout`, pipelined after the write on the same connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Confirmation {
    pub(super) replicas: u32,
    pub(super) timeout: Duration,
}

impl Confirmation {
    /// The default through Sentinel: one replica, within a second.
    pub(super) const ONE_REPLICA: Self = Self {
        replicas: 1,
        timeout: Duration::from_secs(1),
    };

    fn command(self) -> Cmd {
        let mut wait = redis::cmd("WAIT");
        wait.arg(self.replicas).arg(
            u64::try_from(self.timeout.as_millis())
                .unwrap_or(u64::MAX)
                .max(1),
        );
        wait
    }

    /// The write's answer if `wait` (the `WAIT` answer) shows enough
    /// replicas, else the error that refuses to acknowledge it.
    fn check(self, answer: Value, wait: &Value) -> RedisResult<Value> {
        if matches!(answer, Value::ServerError(_)) {
            return Ok(answer); // refused: nothing was written
        }
        match wait {
            Value::Int(replicas) if *replicas >= i64::from(self.replicas) => Ok(answer),
            other => Err(RedisError::from((
                ErrorKind::Client,
                "a write to the Redis master was not confirmed by its replicas",
                format!(
                    "WAIT {} {} answered {other:?}: the master may have been replaced by a \
                     failover (then the write is lost), or its replicas are down or behind",
                    self.replicas,
                    self.timeout.as_millis()
                ),
            ))),
        }
    }
}

/// Whether `command` may write: our scripts and `SET`; not `GET`, `PING`
/// nor `SCRIPT LOAD`.
fn writes(command: &Cmd) -> bool {
    matches!(
        command.args_iter().next(),
        Some(redis::Arg::Simple(name)) if name.eq_ignore_ascii_case(b"EVALSHA")
            || name.eq_ignore_ascii_case(b"EVAL")
            || name.eq_ignore_ascii_case(b"SET")
    )
}

struct Shared {
    /// Asks the sentinels for the current master; one question at a time.
    sentinel: Mutex<SentinelClient>,
    /// The connection to the master last named, how many times a new one
    /// was named (so that requests failing together ask only once), and its
    /// address.
    master: RwLock<(u64, ConnectionManager, String)>,
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
    /// Asks the sentinels of `sentinel` for the master and connects to it,
    /// then watches `sentinels` (their URLs) for a new master of
    /// `master_name` until the last clone of the handle is dropped.
    pub(super) async fn connect(
        mut sentinel: SentinelClient,
        config: ConnectionManagerConfig,
        watch: Watch,
    ) -> RedisResult<Self> {
        let client = sentinel.async_get_client().await?;
        let address = client.get_connection_info().addr().to_string();
        let manager = ConnectionManager::new_with_config(client, config.clone()).await?;
        let shared = Arc::new(Shared {
            sentinel: Mutex::new(sentinel),
            master: RwLock::new((0, manager, address)),
            config,
        });
        tokio::spawn(keep_watching(Arc::downgrade(&shared), watch));
        Ok(Self {
            shared,
            confirm: None,
        })
    }

    /// How many times the store moved to a new master: the read cache
    /// subscribes again when it changes.
    pub(super) fn generation(&self) -> u64 {
        self.current().0
    }

    /// Confirms every later write on this handle (and its clones made
    /// after) as `confirm` says; `None` acknowledges writes unconfirmed.
    pub(super) fn confirm_writes(&mut self, confirm: Option<Confirmation>) {
        self.confirm = confirm;
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

    fn address(&self) -> String {
        let master = self
            .shared
            .master
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        master.2.clone()
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
        if self.address() == address {
            return Ok(()); // still the master: its connection reconnects by itself
        }
        let manager =
            ConnectionManager::new_with_config(client, self.shared.config.clone()).await?;
        tracing::info!(master = %address, "following Redis Sentinel to the current master");
        *self
            .shared
            .master
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = (seen + 1, manager, address);
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

/// Asks the sentinels every [`WATCH_EVERY`] which node is the master, and
/// moves to it when it is not the one in use; ends with the handle.
async fn keep_watching(shared: Weak<Shared>, mut watch: Watch) {
    let mut tick = tokio::time::interval(WATCH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if shared.strong_count() == 0 {
            return;
        }
        let named = watch.master().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let failover = Failover {
            shared,
            confirm: None,
        };
        if named.is_some_and(|named| named != failover.address()) {
            let seen = failover.generation();
            if let Err(err) = failover.follow(seen).await {
                tracing::debug!(error = %err, "the master the sentinels name is not reachable yet");
            }
        }
    }
}

fn failure_of(err: &RedisError) -> Failure {
    if err.kind() == ErrorKind::Server(ServerErrorKind::ReadOnly) {
        Failure::Demoted
    } else if err.kind() == ErrorKind::Client // unconfirmed: the master may be replaced
        || err.is_connection_dropped()
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
        let confirm = self.confirm.filter(|_| writes(cmd));
        Box::pin(self.run(
            move |mut connection| async move {
                let Some(confirm) = confirm else {
                    return connection.req_packed_command(cmd).await;
                };
                let mut pipeline = redis::pipe();
                pipeline
                    .add_command(cmd.clone())
                    .add_command(confirm.command());
                let mut answers = connection.req_packed_commands(&pipeline, 0, 2).await?;
                let wait = answers.pop().unwrap_or(Value::Nil);
                confirm.check(answers.pop().unwrap_or(Value::Nil), &wait)
            },
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
        let confirm = self.confirm.filter(|_| pipeline.cmd_iter().any(writes));
        // Every pipeline of the store is writes only: if one was refused as
        // read-only, the node was a replica and wrote none of them.
        Box::pin(self.run(
            move |mut connection| async move {
                let Some(confirm) = confirm else {
                    return connection
                        .req_packed_commands(pipeline, offset, count)
                        .await;
                };
                let mut confirmed = pipeline.clone();
                confirmed.add_command(confirm.command());
                let mut answers = connection
                    .req_packed_commands(&confirmed, offset, count + 1)
                    .await?;
                let wait = answers.pop().unwrap_or(Value::Nil);
                // Confirmed if any of them wrote; each refused one stays
                // the error it was.
                let wrote = answers
                    .iter()
                    .position(|answer| !matches!(answer, Value::ServerError(_)));
                if let Some(index) = wrote {
                    let answer = std::mem::replace(&mut answers[index], Value::Nil);
                    answers[index] = confirm.check(answer, &wait)?;
                }
                Ok(answers)
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
