//! What listing a user's sessions costs: the commands `RedisStore` sends for
//! `UserIndex::sessions`, counted by a proxy that reads the Redis protocol
//! between the store and the real Redis at `REDIS_URL` (default
//! `redis://127.0.0.1:6379`). One command, however many sessions, where the
//! listing built on `keys_of` and `load` sends one plus one per session.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::AsyncCommands;
use sessionware::store::SessionKey;
use sessionware::{RedisStore, SessionHandle, SessionStore, UserIndex};
use sha2::{Digest, Sha256};

use crate::common::{owned_by, user};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A proxy in front of Redis that keeps every byte its clients send.
pub(crate) struct Counter {
    addr: SocketAddr,
    sent: Arc<Mutex<Vec<u8>>>,
}

impl Counter {
    /// A counter that delays every byte from the clients by `latency`
    /// (a link's one-way delay: bytes sent together arrive together, so
    /// requests in flight at once cost one delay, requests in sequence one
    /// each).
    async fn with_latency(target: SocketAddr, latency: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&sent);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(target).await else {
                    return;
                };
                let log = Arc::clone(&log);
                tokio::spawn(async move {
                    let (mut from_client, mut to_server) = (client, server);
                    let (mut client_read, mut client_write) = from_client.split();
                    let (mut server_read, mut server_write) = to_server.split();
                    let (delayed, mut arriving) = tokio::sync::mpsc::unbounded_channel();
                    let upstream = async move {
                        let mut buffer = vec![0; 64 * 1024];
                        loop {
                            let n = client_read.read(&mut buffer).await?;
                            if n == 0 {
                                return Ok::<_, std::io::Error>(());
                            }
                            log.lock().unwrap().extend_from_slice(&buffer[..n]);
                            let due = tokio::time::Instant::now() + latency;
                            if delayed.send((due, buffer[..n].to_vec())).is_err() {
                                return Ok(());
                            }
                        }
                    };
                    let forward = async move {
                        while let Some((due, bytes)) = arriving.recv().await {
                            tokio::time::sleep_until(due).await;
                            server_write.write_all(&bytes).await?;
                        }
                        Ok::<_, std::io::Error>(())
                    };
                    let downstream = tokio::io::copy(&mut server_read, &mut client_write);
                    let _ = tokio::join!(upstream, forward, downstream);
                });
            }
        });
        Self { addr, sent }
    }

    /// How many bytes the clients have sent so far.
    pub(crate) fn mark(&self) -> usize {
        self.sent.lock().unwrap().len()
    }

    /// The names of the commands sent since `mark`.
    pub(crate) fn commands_since(&self, mark: usize) -> Vec<String> {
        commands(&self.sent.lock().unwrap()[mark..])
    }
}

/// The command names in `bytes`, a stream of RESP requests (arrays of bulk
/// strings), as clients send them.
fn commands(mut bytes: &[u8]) -> Vec<String> {
    fn line<'a>(bytes: &mut &'a [u8]) -> &'a [u8] {
        let end = bytes.windows(2).position(|w| w == b"\r\n").unwrap();
        let line = &bytes[..end];
        *bytes = &bytes[end + 2..];
        line
    }
    fn number(line: &[u8], prefix: u8) -> usize {
        assert_eq!(line[0], prefix, "not a RESP request");
        std::str::from_utf8(&line[1..]).unwrap().parse().unwrap()
    }
    let mut names = Vec::new();
    while !bytes.is_empty() {
        let count = number(line(&mut bytes), b'*');
        for i in 0..count {
            let len = number(line(&mut bytes), b'$');
            if i == 0 {
                names.push(String::from_utf8_lossy(&bytes[..len]).to_ascii_uppercase());
            }
            bytes = &bytes[len + 2..];
        }
    }
    names
}

#[test]
fn the_counter_reads_pipelined_binary_requests() {
    let stream = b"*2\r\n$3\r\nGET\r\n$3\r\n*\r\n\r\n*1\r\n$4\r\nPING\r\n";
    assert_eq!(commands(stream), ["GET", "PING"]);
}

/// A store reaching Redis through a new counter, under a prefix of its own
/// (returned too).
pub(crate) async fn counted() -> (Counter, RedisStore, String) {
    counted_with_latency(Duration::ZERO).await
}

/// [`counted`], every request delayed by `latency` on its way.
async fn counted_with_latency(latency: Duration) -> (Counter, RedisStore, String) {
    let url = redis_url();
    let target = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection_info()
        .addr()
        .to_string();
    let target = tokio::net::lookup_host(target.as_str())
        .await
        .unwrap()
        .next()
        .unwrap();
    let counter = Counter::with_latency(target, latency).await;
    let prefix = format!("sessionware-test-{:016x}:", rand::random::<u64>());
    let store = RedisStore::connect(&format!("redis://{}", counter.addr))
        .await
        .unwrap_or_else(|err| panic!("Redis is not reachable at {url}: {err}"))
        .key_prefix(prefix.as_str());
    (counter, store, prefix)
}

/// Creates twenty sessions of `user`, seen 0 to 19 s ago; their handles,
/// most recently seen first.
async fn twenty_sessions_of(store: &RedisStore, user: &str) -> Vec<SessionHandle> {
    let mut handles = Vec::new();
    for i in 0..20 {
        let key = SessionKey::from_bytes(rand::random());
        store
            .create(&key, &owned_by(user, Duration::from_secs(i)))
            .await
            .unwrap();
        handles.push(key.handle());
    }
    handles
}

/// Twenty sessions are listed with one command (an `EVALSHA` of the listing
/// script), not `SMEMBERS` and twenty `GET`s, and in the same order.
#[tokio::test]
async fn listing_twenty_sessions_is_one_command_on_one_node() {
    let (counter, store, _) = counted().await;
    let alice = user("alice");
    let keys = twenty_sessions_of(&store, &alice).await;
    let mark = counter.mark();
    let listed = store.sessions(&alice).await.unwrap();
    let sent = counter.commands_since(mark);
    assert_eq!(
        listed.iter().map(|info| info.handle).collect::<Vec<_>>(),
        keys,
        "most recently seen first"
    );
    assert_eq!(sent, ["EVALSHA"], "one round trip for 20 sessions");
    // What the listing built on the index's primitives costs, for comparison.
    let mark = counter.mark();
    for key in store.keys_of(&alice).await.unwrap() {
        store.load(&key).await.unwrap();
    }
    assert_eq!(counter.commands_since(mark).len(), 21);
}

/// The one-command listing prunes as the listing it replaces does: the
/// member of a deleted session in the script itself, that of a record now
/// owned by someone else with one `SREM`; both leave the user's set.
#[tokio::test]
async fn the_listing_forgets_gone_and_foreign_records() {
    let (counter, store, prefix) = counted().await;
    let (alice, bob) = (user("alice"), user("bob"));
    let [kept, deleted, taken] = [(); 3].map(|()| SessionKey::from_bytes(rand::random()));
    for key in [&kept, &deleted, &taken] {
        store
            .create(key, &owned_by(&alice, Duration::ZERO))
            .await
            .unwrap();
    }
    store.delete(&deleted).await.unwrap();
    let mut record = store.load(&taken).await.unwrap().unwrap();
    let version = record.version;
    record.owner = Some(bob.clone());
    record.version += 1;
    store.save(&taken, &record, version).await.unwrap();

    let mark = counter.mark();
    let listed = store.sessions(&alice).await.unwrap();
    assert_eq!(counter.commands_since(mark), ["EVALSHA", "SREM"]);
    assert_eq!(
        listed.iter().map(|info| info.handle).collect::<Vec<_>>(),
        [kept.handle()]
    );
    let mut direct = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let set = format!("{}user:{{{:x}}}", prefix, Sha256::digest(alice.as_bytes()));
    let members: Vec<String> = direct.smembers(&set).await.unwrap();
    assert_eq!(members, [kept.to_hex()], "only the live member is left");
    assert_eq!(store.sessions(&bob).await.unwrap().len(), 1);
}

/// The script reads and prunes in chunks of 500 (Lua's `unpack` has a
/// limit): 1,200 sessions, 600 of them deleted, are still one command.
#[tokio::test]
async fn a_listing_past_the_scripts_chunks_is_still_one_command() {
    let (counter, store, _) = counted().await;
    let alice = user("alice");
    let keys: Vec<SessionKey> = (0..1_200)
        .map(|_| SessionKey::from_bytes(rand::random()))
        .collect();
    for key in &keys {
        store
            .create(key, &owned_by(&alice, Duration::ZERO))
            .await
            .unwrap();
    }
    for key in keys.iter().step_by(2) {
        store.delete(key).await.unwrap();
    }
    let mark = counter.mark();
    assert_eq!(store.sessions(&alice).await.unwrap().len(), 600);
    assert_eq!(counter.commands_since(mark), ["EVALSHA"]);
    assert_eq!(store.keys_of(&alice).await.unwrap().len(), 600, "pruned");
}

/// Revoking twenty sessions sends the twenty deletions at once: the listing,
/// then every deletion in flight together, then one `SREM`, three delays of
/// the link where deleting in turn cost one per session (22).
#[tokio::test]
async fn revoking_twenty_sessions_takes_three_round_trips() {
    const LATENCY: Duration = Duration::from_millis(40);
    let (counter, store, _) = counted_with_latency(LATENCY).await;
    let alice = user("alice");
    twenty_sessions_of(&store, &alice).await;
    let mark = counter.mark();
    let started = std::time::Instant::now();
    assert_eq!(store.revoke_all(&alice).await.unwrap(), 20);
    let took = started.elapsed();
    let sent = counter.commands_since(mark);
    assert_eq!(sent.len(), 22, "{sent:?}");
    assert_eq!(sent.iter().filter(|name| *name == "EVALSHA").count(), 21);
    assert_eq!(sent.last().map(String::as_str), Some("SREM"));
    assert!(
        took < LATENCY * 6,
        "revoke_all took {took:?}: more than 6 link delays of {LATENCY:?}"
    );
    assert!(store.sessions(&alice).await.unwrap().is_empty());
}
