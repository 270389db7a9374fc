//! `RedisStore` against a real Redis Cluster (three masters, three replicas
//! on 127.0.0.1:7000-7005, started by `.ci/redis-cluster`; or the nodes in
//! `REDIS_CLUSTER_NODES`, comma-separated): the conformance, accounts and
//! features suites, the spread of sessions over the masters, owned writes
//! and revocations whose keys sit on different slots, and, run alone because
//! they move a master, a manual failover and a killed master that the store
//! follows by itself.

use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::aio::MultiplexedConnection;
use redis::cluster_async::ClusterConnection;
use serde_json::json;
use sessionware::store::{Record, SaveOutcome, SessionKey};
use sessionware::{RedisStore, SessionStore, UserIndex};
use sha2::{Digest, Sha256};

use crate::outage;
use crate::shared_deployment::{Deployment, Shared, exclusive, restart_down_nodes};

pub(crate) fn cluster_nodes() -> Vec<String> {
    match std::env::var("REDIS_CLUSTER_NODES") {
        Ok(nodes) => nodes.split(',').map(str::to_owned).collect(),
        Err(_) => (7000..7006)
            .map(|port| format!("redis://127.0.0.1:{port}"))
            .collect(),
    }
}

/// A prefix of a test's own.
fn unique_prefix() -> String {
    format!("sessionware-test-{:016x}:", rand::random::<u64>())
}

fn unreachable(err: impl std::fmt::Display) -> ! {
    panic!(
        "the Redis Cluster is not reachable at {:?}: {err}. Start it with \
         `bash .ci/redis-cluster` (six nodes on 127.0.0.1:7000-7005), or point \
         REDIS_CLUSTER_NODES at one.",
        cluster_nodes()
    )
}

/// The cluster's lock: the failover tests take it for themselves.
pub(crate) static CLUSTER: LazyLock<Deployment> = LazyLock::new(Deployment::default);

/// A store on the cluster under `prefix`, with no claim on the cluster: for
/// a failover test, which holds it exclusively.
async fn connect_alone(prefix: &str) -> RedisStore {
    RedisStore::connect_cluster(cluster_nodes())
        .await
        .unwrap_or_else(|err| unreachable(err))
        .key_prefix(prefix)
}

/// A store on the cluster under `prefix`, sharing the cluster with the other
/// tests (none fails a master over while it lives).
async fn connect_with_prefix(prefix: &str) -> Shared<RedisStore> {
    Shared::new(&CLUSTER, connect_alone(prefix)).await
}

/// A store on the cluster, under a prefix of its own.
async fn store() -> Shared<RedisStore> {
    connect_with_prefix(&unique_prefix()).await
}

sessionware::conformance_suite!(store(), native_expiry);
sessionware::accounts_suite!(store());
sessionware::features_suite!(store());

/// A cluster connection of the test's own, to look at the keys.
async fn direct() -> ClusterConnection {
    redis::cluster::ClusterClient::new(cluster_nodes())
        .unwrap()
        .get_async_connection()
        .await
        .unwrap_or_else(|err| unreachable(err))
}

/// A connection to each master, by address (`CLUSTER NODES` as the cluster
/// sees it now).
async fn masters() -> BTreeMap<String, MultiplexedConnection> {
    let first = &cluster_nodes()[0];
    let client = redis::Client::open(first.as_str()).unwrap();
    let mut node = client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|err| unreachable(err));
    let table: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query_async(&mut node)
        .await
        .unwrap();
    let mut masters = BTreeMap::new();
    for line in table.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let flags = fields[2];
        if flags.contains("master") && !flags.contains("fail") {
            // `ip:port@cluster-bus-port`
            let address = fields[1].split('@').next().unwrap().to_owned();
            let client = redis::Client::open(format!("redis://{address}")).unwrap();
            let connection = client.get_multiplexed_async_connection().await.unwrap();
            masters.insert(address, connection);
        }
    }
    masters
}

/// The keys under `prefix` on one node (the store's start-up probe aside).
async fn keys_on(node: &mut MultiplexedConnection, prefix: &str) -> Vec<String> {
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(node)
        .await
        .unwrap();
    keys.retain(|key| !key.ends_with("{probe}"));
    keys
}

async fn slot_of(connection: &mut ClusterConnection, key: &str) -> u16 {
    redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query_async(connection)
        .await
        .unwrap()
}

/// Where `RedisStore` keeps `user`'s set under `prefix`, as documented.
fn user_set(prefix: &str, user: &str) -> String {
    format!("{prefix}user:{{{:x}}}", Sha256::digest(user.as_bytes()))
}

fn session_key(prefix: &str, key: &SessionKey) -> String {
    format!("{prefix}{{{}}}", key.to_hex())
}

/// A record of `owner` that lives ten minutes, at millisecond precision (as stored).
fn record(owner: Option<&str>) -> Record {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let now = UNIX_EPOCH + Duration::from_millis(since_epoch.as_millis() as u64);
    let mut record = Record::new(
        json!({"k": "v"}).as_object().unwrap().clone().into(),
        now,
        now + Duration::from_secs(600),
    );
    record.owner = owner.map(str::to_owned);
    record
}

fn random_key() -> SessionKey {
    SessionKey::from_bytes(rand::random())
}

/// 1,000 sessions land on all three masters, each holding a fair share,
/// and nowhere else.
#[tokio::test]
async fn sessions_spread_over_every_master() {
    let prefix = unique_prefix();
    let store = connect_with_prefix(&prefix).await;
    let keys: Vec<SessionKey> = (0..1_000).map(|_| random_key()).collect();
    for key in &keys {
        assert!(store.create(key, &record(None)).await.unwrap());
    }

    let mut masters = masters().await;
    assert_eq!(masters.len(), 3, "{:?}", masters.keys());
    let mut total = 0;
    for (address, node) in &mut masters {
        let here = keys_on(node, &prefix).await.len();
        // 1,000 draws over three equal shares: below 250 is ~6 sigma away.
        assert!(here >= 250, "{address} holds only {here} of 1,000 sessions");
        total += here;
    }
    assert_eq!(total, 1_000, "every session is on exactly one master");

    for key in &keys {
        assert!(store.delete(key).await.unwrap());
    }
}

/// An owned create and save file the session in the user's set, which lives
/// on another slot (and mostly another master) than the sessions; listing
/// and `revoke_all` then reach every session across the slots.
#[tokio::test]
async fn owned_writes_and_revoke_all_work_across_slots() {
    let prefix = unique_prefix();
    let store = connect_with_prefix(&prefix).await;
    let mut cluster = direct().await;
    let user = "ferris";
    let set = user_set(&prefix, user);
    let set_slot = slot_of(&mut cluster, &set).await;

    let keys: Vec<SessionKey> = (0..12).map(|_| random_key()).collect();
    let mut crossed = 0;
    for key in &keys {
        assert!(store.create(key, &record(Some(user))).await.unwrap());
        if slot_of(&mut cluster, &session_key(&prefix, key)).await != set_slot {
            crossed += 1;
        }
    }
    assert!(crossed > 0, "the sessions' slots differ from the set's");

    // The set was dropped (as if it had expired early): a save files the
    // session again, on the set's slot.
    let _: () = redis::cmd("DEL")
        .arg(&set)
        .query_async(&mut cluster)
        .await
        .unwrap();
    let mut saved = record(Some(user));
    saved.version = 2;
    assert_eq!(
        store.save(&keys[0], &saved, 1).await.unwrap(),
        SaveOutcome::Saved
    );
    assert_eq!(store.keys_of(user).await.unwrap(), [keys[0]]);
    // A save that does not write (a conflict) files nothing.
    assert_eq!(
        store.save(&keys[1], &saved, 7).await.unwrap(),
        SaveOutcome::Conflict
    );
    assert_eq!(store.keys_of(user).await.unwrap(), [keys[0]]);
    for key in &keys[1..] {
        let mut again = record(Some(user));
        again.version = 2;
        assert_eq!(
            store.save(key, &again, 1).await.unwrap(),
            SaveOutcome::Saved
        );
    }
    assert_eq!(store.sessions(user).await.unwrap().len(), keys.len());

    // A stale entry (its session deleted behind the index's back) is pruned.
    assert!(store.delete(&keys[11]).await.unwrap());
    assert_eq!(store.sessions(user).await.unwrap().len(), keys.len() - 1);
    let members: Vec<String> = redis::cmd("SMEMBERS")
        .arg(&set)
        .query_async(&mut cluster)
        .await
        .unwrap();
    assert_eq!(members.len(), keys.len() - 1);

    assert_eq!(store.revoke_all(user).await.unwrap(), keys.len() as u64 - 1);
    for key in &keys {
        assert_eq!(store.load(key).await.unwrap(), None);
    }
    assert!(store.sessions(user).await.unwrap().is_empty());
    let left: Vec<String> = redis::cmd("SMEMBERS")
        .arg(&set)
        .query_async(&mut cluster)
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
}

/// After every master lost its scripts (`SCRIPT FLUSH`, as after a restart
/// or a failover to a replica that never loaded them), owned creates and
/// saves still land and are still filed under their owner.
#[tokio::test]
async fn owned_writes_are_indexed_after_the_masters_lost_their_scripts() {
    let prefix = unique_prefix();
    let store = connect_with_prefix(&prefix).await;
    let mut cluster = direct().await;
    let flush = || redis::cmd("SCRIPT").arg("FLUSH").to_owned();

    let _: () = flush().query_async(&mut cluster).await.unwrap();
    let key = random_key();
    let mut owned = record(Some("judy"));
    assert!(store.create(&key, &owned).await.unwrap());
    assert_eq!(store.keys_of("judy").await.unwrap(), [key]);

    let _: () = flush().query_async(&mut cluster).await.unwrap();
    owned.version = 2;
    assert_eq!(
        store.save(&key, &owned, 1).await.unwrap(),
        SaveOutcome::Saved
    );
    assert_eq!(store.load(&key).await.unwrap(), Some(owned));
    assert_eq!(store.revoke_all("judy").await.unwrap(), 1);
}

#[tokio::test]
async fn health_answers() {
    store().await.health().await.unwrap();
}

/// No node reachable at start: a clear error, not a hang.
#[tokio::test]
async fn connecting_to_closed_ports_is_a_clear_error() {
    let nodes = [outage::closed_port(), outage::closed_port()]
        .map(|port| format!("redis://127.0.0.1:{port}"));
    let err = outage::refused(RedisStore::connect_cluster(nodes)).await;
    assert!(
        err.to_string()
            .contains("could not connect to the Redis Cluster"),
        "{err}"
    );
}

/// `CLUSTER NODES` as the first reachable node sees it: one line per node.
async fn cluster_nodes_table() -> String {
    let mut cluster = direct().await;
    redis::cmd("CLUSTER")
        .arg("NODES")
        .query_async(&mut cluster)
        .await
        .unwrap()
}

/// The address (`ip:port`) of the master serving `slot` and of its replica
/// (`None` while the table shows none, as during a failover).
fn master_and_replica_of(table: &str, slot: u16) -> (String, Option<String>) {
    let lines: Vec<Vec<&str>> = table
        .lines()
        .map(|line| line.split(' ').collect())
        .collect();
    let address = |fields: &[&str]| fields[1].split('@').next().unwrap().to_owned();
    let serves = |fields: &[&str]| {
        fields[8..].iter().any(|range| {
            let (low, high) = range.split_once('-').unwrap_or((range, range));
            matches!((low.parse::<u16>(), high.parse::<u16>()), (Ok(low), Ok(high)) if (low..=high).contains(&slot))
        })
    };
    let master = lines
        .iter()
        .find(|fields| fields[2].contains("master") && serves(fields))
        .expect("a master serves every slot");
    let replica = lines
        .iter()
        .find(|fields| fields[3] == master[0] && !fields[2].contains("fail"))
        .map(|fields| address(fields));
    (address(master), replica)
}

/// Moves the master of an owned session's slot to its replica with
/// `fail_over` (given the master's and the replica's addresses) during a
/// steady stream of saves: saves may fail for the failover's duration, then
/// succeed again through the same store (the client follows the new slot
/// map); no acknowledged save is lost, and the session is still filed under
/// its user.
async fn saves_follow_a_failover(how: &str, fail_over: impl AsyncFnOnce(&str, &str)) {
    let prefix = unique_prefix();
    let store = connect_alone(&prefix).await;
    let mut cluster = direct().await;
    let user = "ferris";
    let key = random_key();
    let mut saved = record(Some(user));
    assert!(store.create(&key, &saved).await.unwrap());
    let name = session_key(&prefix, &key);
    let slot = slot_of(&mut cluster, &name).await;
    // A node restarted by an earlier failover test may still be joining as
    // a replica: wait for the slot's master to have one.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (master, replica) = loop {
        match master_and_replica_of(&cluster_nodes_table().await, slot) {
            (master, Some(replica)) => break (master, replica),
            (master, None) => {
                assert!(Instant::now() < deadline, "{master} has no replica");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };

    // Replication is asynchronous: a master that dies takes the writes its
    // replica has not received yet. Wait until the replica has the session;
    // every later save goes to the new master.
    let mut on_replica = node(&replica).await;
    let _: () = redis::cmd("READONLY")
        .query_async(&mut on_replica)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !redis::cmd("EXISTS")
        .arg(&name)
        .query_async::<bool>(&mut on_replica)
        .await
        .unwrap()
    {
        assert!(Instant::now() < deadline, "{replica} never got {name}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    fail_over(&master, &replica).await;

    let started = Instant::now();
    let (mut failed, mut in_a_row) = (0, 0);
    loop {
        let now_master = master_and_replica_of(&cluster_nodes_table().await, slot).0;
        if in_a_row >= 5 && now_master == replica {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "saves did not recover within 30 s ({failed} failed, slot {slot} on {now_master})"
        );
        let mut next = saved.clone();
        next.version += 1;
        match store.save(&key, &next, saved.version).await {
            Ok(SaveOutcome::Saved) => {
                saved = next;
                // Five in a row once the table shows the new master.
                if now_master == replica {
                    in_a_row += 1;
                }
            }
            Ok(other) => panic!("save of version {} answered {other:?}", next.version),
            Err(_) => {
                failed += 1;
                in_a_row = 0;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(store.load(&key).await.unwrap(), Some(saved.clone()));
    assert_eq!(store.keys_of(user).await.unwrap(), [key]);
    assert_eq!(store.revoke_all(user).await.unwrap(), 1);
    eprintln!(
        "{how} of slot {slot}: {master} -> {replica}, {failed} saves failed, {} acknowledged, recovered after {:?}",
        saved.version - 1,
        started.elapsed()
    );
}

/// A connection straight to one node (`ip:port`).
async fn node(address: &str) -> MultiplexedConnection {
    redis::Client::open(format!("redis://{address}"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// `CLUSTER FAILOVER` on the replica: a manual failover, which pauses the
/// master's clients until the replica has caught up. Moves a master, so it
/// runs while no other test uses the cluster.
#[tokio::test]
async fn a_failover_is_followed_without_losing_acknowledged_saves() {
    let _alone = exclusive(&CLUSTER).await;
    saves_follow_a_failover("CLUSTER FAILOVER", async |_, replica| {
        let _: () = redis::cmd("CLUSTER")
            .arg("FAILOVER")
            .query_async(&mut node(replica).await)
            .await
            .unwrap();
    })
    .await;
}

/// The master process dies (`SHUTDOWN NOSAVE`): the other masters notice
/// after the node timeout (2 s in `.ci/redis-cluster`) and promote its
/// replica. `.ci/redis-cluster` then brings the dead node back; it rejoins
/// as a replica.
#[tokio::test]
async fn a_killed_master_is_followed_without_losing_acknowledged_saves() {
    let _alone = exclusive(&CLUSTER).await;
    saves_follow_a_failover("master killed", async |master, _| {
        // The server closes the connection instead of answering.
        let _ = redis::cmd("SHUTDOWN")
            .arg("NOSAVE")
            .query_async::<()>(&mut node(master).await)
            .await;
    })
    .await;
    restart_down_nodes("redis-cluster").await;
}

/// A cluster client configured by the application works as the node URLs do.
#[tokio::test]
async fn a_cluster_client_of_your_own_is_checked_and_used() {
    let client = redis::cluster::ClusterClient::builder(cluster_nodes())
        .connection_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let store = Shared::new(&CLUSTER, async {
        RedisStore::from_cluster_client(client)
            .await
            .unwrap_or_else(|err| unreachable(err))
            .key_prefix(unique_prefix())
    })
    .await;
    let key = random_key();
    let owned = record(Some("grace"));
    assert!(store.create(&key, &owned).await.unwrap());
    assert_eq!(store.load(&key).await.unwrap(), Some(owned));
    assert_eq!(store.revoke_all("grace").await.unwrap(), 1);
}
