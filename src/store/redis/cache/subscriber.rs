//! The read cache's subscriber: one pub/sub connection per store, which
//! applies every invalidation message, proves itself live with a `PING`
//! every [`PING_EVERY`], and on any loss flushes the cache and subscribes
//! again (flushing once more when back), until the store is dropped.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use futures_util::{FutureExt, StreamExt};
use redis::aio::{PubSubSink, PubSubStream};

use super::super::failover::Failover;
use super::{LocalCache, PING_EVERY, TRUSTED_FOR};
use crate::error::Error;

/// Where an instance subscribes: a node of its deployment.
#[derive(Clone)]
pub(crate) enum Source {
    /// The one node.
    Node(redis::Client),
    /// Any node of a cluster, tried in order (`PUBLISH` reaches every node).
    Nodes(Arc<[redis::Client]>),
    /// The master the sentinels name now.
    Sentinel(Failover),
}

impl Source {
    /// For Sentinel, how many times the store moved to a new master: a
    /// subscription made before a move listens to a node that no longer
    /// hears every write. Always 0 for one node or a cluster.
    fn generation(&self) -> u64 {
        match self {
            Self::Sentinel(failover) => failover.generation(),
            Self::Node(_) | Self::Nodes(_) => 0,
        }
    }

    async fn subscribe(&self, channel: &str) -> redis::RedisResult<(PubSubSink, PubSubStream)> {
        let clients = match self {
            Self::Node(client) => vec![client.clone()],
            Self::Nodes(clients) => clients.to_vec(),
            Self::Sentinel(failover) => vec![failover.master_client().await?],
        };
        let mut last = None;
        for client in clients {
            let attempt = async {
                let (mut sink, stream) = client.get_async_pubsub().await?.split();
                sink.subscribe(channel).await?;
                Ok::<_, redis::RedisError>((sink, stream))
            };
            match tokio::time::timeout(TRUSTED_FOR * 2, attempt).await {
                Ok(Ok(subscribed)) => return Ok(subscribed),
                Ok(Err(err)) => last = Some(err),
                Err(_) => {
                    last = Some(redis::RedisError::from(std::io::Error::from(
                        std::io::ErrorKind::TimedOut,
                    )))
                }
            }
        }
        Err(last.unwrap_or_else(|| {
            redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::NotFound))
        }))
    }
}

/// Subscribes once (so an unreachable server is an error at start-up),
/// proves the subscription live, then keeps it in a task of its own.
pub(crate) async fn start(
    cache: &Arc<LocalCache>,
    source: Source,
    channel: String,
) -> Result<(), Error> {
    let generation = source.generation();
    let (mut sink, stream) = source.subscribe(&channel).await.map_err(|e| {
        Error::store(e).with_detail("could not subscribe to the read cache's invalidation channel")
    })?;
    let sent = Instant::now();
    sink.ping::<redis::Value>().await.map_err(Error::store)?;
    cache.proven(sent);
    let subscription = (sink, stream, generation);
    tokio::spawn(keep(Arc::downgrade(cache), source, channel, subscription));
    Ok(())
}

/// A subscription, and the master generation it was made in.
type Subscription = (PubSubSink, PubSubStream, u64);

async fn keep(
    cache: Weak<LocalCache>,
    source: Source,
    channel: String,
    mut subscription: Subscription,
) {
    loop {
        follow(&cache, &source, subscription).await;
        let Some(live) = cache.upgrade() else { return };
        live.flush();
        drop(live);
        tracing::warn!(
            "the read cache lost its invalidation channel; loads go to Redis until it is back"
        );
        let mut delay = Duration::from_millis(50);
        subscription = loop {
            if cache.strong_count() == 0 {
                return;
            }
            let generation = source.generation();
            match source.subscribe(&channel).await {
                Ok((sink, stream)) => break (sink, stream, generation),
                Err(err) => {
                    tracing::debug!(error = %err, "the read cache could not subscribe again yet");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        };
        // Messages published while no one listened are unknown: start empty.
        let Some(live) = cache.upgrade() else { return };
        live.flush();
        tracing::info!("the read cache's invalidation channel is back");
    }
}

/// Applies messages and pings until the connection fails or stays silent
/// past [`TRUSTED_FOR`], the store moves to a new master, or the store is
/// dropped.
async fn follow(
    cache: &Weak<LocalCache>,
    source: &Source,
    (mut sink, mut stream, generation): Subscription,
) {
    let mut tick = tokio::time::interval(PING_EVERY);
    loop {
        tokio::select! {
            message = stream.next() => {
                let (Some(message), Some(live)) = (message, cache.upgrade()) else { return };
                live.apply(message.get_payload_bytes());
            }
            _ = tick.tick() => {
                let sent = Instant::now();
                match tokio::time::timeout(TRUSTED_FOR, sink.ping::<redis::Value>()).await {
                    Ok(Ok(_)) => {}
                    _ => return,
                }
                if source.generation() != generation {
                    return; // a new master: its writes are announced there
                }
                let Some(live) = cache.upgrade() else { return };
                // The PONG came after every message published before the
                // PING: those already wait in the stream. Apply them first.
                while let Some(next) = stream.next().now_or_never() {
                    let Some(message) = next else { return };
                    live.apply(message.get_payload_bytes());
                }
                live.proven(sent);
            }
        }
    }
}
