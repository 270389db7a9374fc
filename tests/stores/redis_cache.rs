//! `RedisStore`'s read cache against real Redis deployments: the store
//! suites on cached stores, two instances sharing one node, one cluster and
//! one Sentinel group (a session made on one is read on the other, a logout
//! on one is a guest on the other after the measured invalidation delay,
//! concurrent writes from both survive), a cached load that sends nothing,
//! a stale entry that costs a conflict and never an update, the bounds, and
//! a lost invalidation channel that turns the cache off until it is back.

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use redis::AsyncCommands;
use sessionware::store::SessionKey;
use sessionware::{ErrorKind, ReadCache, RedisStore, Session, SessionLayer, SessionStore};

use crate::common::{Reply, key_of, routes, secret, send};
use crate::outage::proxy_to;
use crate::redis_cluster::{CLUSTER, cluster_nodes};
use crate::redis_sentinel::{GROUP, MASTER, sentinels};
use crate::shared_deployment::{Deployment, Shared};

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn unique_prefix() -> String {
    format!("sessionware-test-{:016x}:", rand::random::<u64>())
}

fn unreachable(what: &str, err: impl std::fmt::Display) -> ! {
    panic!(
        "{what} is not reachable: {err}. Start Redis with `redis-server --daemonize yes \
         --bind 127.0.0.1 --port 6379 --save \"\" --appendonly no`, the cluster with \
         `bash .ci/redis-cluster`, the Sentinel group with `bash .ci/redis-sentinel`."
    )
}

/// A cached store on the one node under `prefix`.
async fn cached_node(prefix: &str, cache: ReadCache) -> RedisStore {
    RedisStore::connect(&redis_url())
        .await
        .unwrap_or_else(|err| unreachable("Redis", err))
        .key_prefix(prefix)
        .with_read_cache(cache)
        .await
        .unwrap_or_else(|err| unreachable("Redis pub/sub", err))
}

async fn cached_cluster(prefix: &str) -> RedisStore {
    RedisStore::connect_cluster(cluster_nodes())
        .await
        .unwrap_or_else(|err| unreachable("the Redis Cluster", err))
        .key_prefix(prefix)
        .with_read_cache(ReadCache::new())
        .await
        .unwrap_or_else(|err| unreachable("the Redis Cluster's pub/sub", err))
}

async fn cached_sentinel(prefix: &str) -> RedisStore {
    RedisStore::connect_sentinel(sentinels(), MASTER)
        .await
        .unwrap_or_else(|err| unreachable("the Redis Sentinel group", err))
        .key_prefix(prefix)
        .with_read_cache(ReadCache::new())
        .await
        .unwrap_or_else(|err| unreachable("the Sentinel master's pub/sub", err))
}

mod on_one_node {
    async fn store() -> sessionware::RedisStore {
        super::cached_node(&super::unique_prefix(), sessionware::ReadCache::new()).await
    }
    sessionware::conformance_suite!(store(), native_expiry);
    sessionware::accounts_suite!(store());
    sessionware::features_suite!(store());
}

mod on_the_cluster {
    use crate::shared_deployment::Shared;

    async fn store() -> Shared<sessionware::RedisStore> {
        Shared::new(
            &super::CLUSTER,
            super::cached_cluster(&super::unique_prefix()),
        )
        .await
    }
    sessionware::conformance_suite!(store(), native_expiry);
    sessionware::accounts_suite!(store());
}

/// The test routes plus `/set/{name}`, which sets the key `name` to `true`,
/// and `/has/{name}`.
fn app(store: RedisStore) -> Router {
    routes()
        .route(
            "/set/{name}",
            get(|s: Session, Path(name): Path<String>| async move {
                s.insert(&name, true).unwrap();
            }),
        )
        .route(
            "/has/{name}",
            get(|s: Session, Path(name): Path<String>| async move {
                s.get::<bool>(&name).unwrap().is_some().to_string()
            }),
        )
        .layer(SessionLayer::new(store, secret()))
}

/// Polls `path` on `app` until it answers `want`, for at most `within`;
/// returns how long that took.
async fn answers_within(
    app: &Router,
    path: &str,
    cookie: &str,
    want: &str,
    within: Duration,
) -> Duration {
    let start = Instant::now();
    loop {
        let reply = send(app, path, Some(cookie)).await;
        if reply.body == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "{path} still answers {:?} after {within:?}",
            reply.body
        );
        tokio::task::yield_now().await;
    }
}

/// Two instances on `a` and `b` (each its own connection and cache, one
/// keyspace): a session made on A is read on B, a change on B is seen on A,
/// and a logout on A is a guest on B, `rounds` times; returns the delays
/// from the logout's answer to B's first guest answer, sorted.
async fn logouts_reach_the_other_instance(
    a: RedisStore,
    b: RedisStore,
    rounds: usize,
) -> Vec<Duration> {
    let (on_a, on_b) = (app(a.clone()), app(b.clone()));
    let mut delays = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let cookie = send(&on_a, "/login/alice", None).await.cookie_pair();
        assert_eq!(
            send(&on_b, "/user", Some(&cookie)).await.body,
            r#"Some("alice")"#
        );
        assert_eq!(
            send(&on_b, "/user", Some(&cookie)).await.body,
            r#"Some("alice")"#,
            "a hit"
        );
        if round == 0 {
            // A change on A reaches B's cache, and one on B reaches A's.
            assert_eq!(send(&on_a, "/insert", Some(&cookie)).await.body, "1");
            answers_within(&on_b, "/get", &cookie, "Some(1)", Duration::from_secs(2)).await;
            assert_eq!(send(&on_b, "/insert", Some(&cookie)).await.body, "2");
            answers_within(&on_a, "/get", &cookie, "Some(2)", Duration::from_secs(2)).await;
        }
        let destroyed = send(&on_a, "/destroy", Some(&cookie)).await;
        assert!(destroyed.status.is_success());
        delays.push(answers_within(&on_b, "/user", &cookie, "None", Duration::from_secs(2)).await);
    }
    let hits = b.cache_stats().unwrap().hits;
    assert!(
        hits >= rounds as u64,
        "B served {hits} loads from its cache"
    );
    delays.sort();
    delays
}

fn report(deployment: &str, delays: &[Duration]) {
    let at = |q: f64| delays[((delays.len() - 1) as f64 * q).round() as usize];
    println!(
        "invalidation delay on {deployment} ({} logouts): p50 {:?}, p99 {:?}, max {:?}",
        delays.len(),
        at(0.5),
        at(0.99),
        delays[delays.len() - 1]
    );
}

/// Writes from both instances to different keys of one session, at once:
/// every one survives (saves are version-checked on the server; a conflict
/// reloads and merges, whatever either cache held).
async fn concurrent_writes_from_both_instances_survive(a: RedisStore, b: RedisStore) {
    let (on_a, on_b) = (app(a), app(b));
    let cookie = send(&on_a, "/insert", None).await.cookie_pair();
    send(&on_b, "/get", Some(&cookie)).await;
    let writes = (0..16).map(|i| {
        let (app, cookie) = (
            if i % 2 == 0 {
                on_a.clone()
            } else {
                on_b.clone()
            },
            cookie.clone(),
        );
        tokio::spawn(async move { send(&app, &format!("/set/k{i}"), Some(&cookie)).await })
    });
    for write in writes {
        let reply: Reply = write.await.unwrap();
        assert!(reply.status.is_success(), "{}", reply.status);
    }
    for i in 0..16 {
        for app in [&on_a, &on_b] {
            answers_within(
                app,
                &format!("/has/k{i}"),
                &cookie,
                "true",
                Duration::from_secs(2),
            )
            .await;
        }
    }
}

#[tokio::test]
async fn two_instances_on_one_node_see_each_others_changes_and_logouts() {
    let prefix = unique_prefix();
    let (a, b) = (
        cached_node(&prefix, ReadCache::new()).await,
        cached_node(&prefix, ReadCache::new()).await,
    );
    let delays = logouts_reach_the_other_instance(a, b, 200).await;
    report("one node", &delays);
    assert!(delays[delays.len() * 99 / 100] < Duration::from_secs(1));
}

#[tokio::test]
async fn concurrent_writes_from_two_instances_on_one_node_all_survive() {
    let prefix = unique_prefix();
    concurrent_writes_from_both_instances_survive(
        cached_node(&prefix, ReadCache::new()).await,
        cached_node(&prefix, ReadCache::new()).await,
    )
    .await;
}

async fn on(deployment: &Deployment) -> Shared<()> {
    Shared::new(deployment, async {}).await
}

#[tokio::test]
async fn two_instances_on_the_cluster_see_each_others_changes_and_logouts() {
    let _shared = on(&CLUSTER).await;
    let prefix = unique_prefix();
    let (a, b) = (cached_cluster(&prefix).await, cached_cluster(&prefix).await);
    let delays = logouts_reach_the_other_instance(a.clone(), b.clone(), 200).await;
    report("the cluster", &delays);
    assert!(delays[delays.len() * 99 / 100] < Duration::from_secs(1));
    concurrent_writes_from_both_instances_survive(a, b).await;
}

#[tokio::test]
async fn two_instances_through_sentinel_see_each_others_changes_and_logouts() {
    let _shared = on(&GROUP).await;
    let prefix = unique_prefix();
    let (a, b) = (
        cached_sentinel(&prefix).await,
        cached_sentinel(&prefix).await,
    );
    let delays = logouts_reach_the_other_instance(a.clone(), b.clone(), 50).await;
    report("Sentinel", &delays);
    concurrent_writes_from_both_instances_survive(a, b).await;
}

/// A load the cache answers sends no command to Redis (counted by a proxy
/// that reads the protocol), and one it cannot answer sends one `GET`.
#[tokio::test]
async fn a_cached_load_sends_no_command() {
    let (counter, plain, _) = crate::round_trips::counted().await;
    let store = plain.with_read_cache(ReadCache::new()).await.unwrap();
    let key = SessionKey::from_bytes(rand::random());
    store
        .create(&key, &crate::common::owned_by("alice", Duration::ZERO))
        .await
        .unwrap();
    let data_commands = |mark| {
        counter
            .commands_since(mark)
            .into_iter()
            .filter(|name| name != "PING" && name != "SUBSCRIBE")
            .collect::<Vec<_>>()
    };
    let mark = counter.mark();
    let loaded = store.load(&key).await.unwrap();
    assert!(loaded.is_some());
    assert_eq!(
        data_commands(mark),
        Vec::<String>::new(),
        "create filled the cache"
    );
    let stats = store.cache_stats().unwrap();
    assert_eq!((stats.hits, stats.misses), (1, 0));
    let other = SessionKey::from_bytes(rand::random());
    let mark = counter.mark();
    assert!(store.load(&other).await.unwrap().is_none());
    assert_eq!(data_commands(mark), ["GET"]);
}

/// An entry made stale behind the cache's back (a raw `SET`, which no
/// invalidation announces) costs a conflict, never an update: the write
/// from the stale entry is refused by the version check, the layer reloads
/// from Redis and merges, and both changes are kept.
#[tokio::test]
async fn a_stale_entry_costs_a_conflict_never_a_lost_update() {
    let prefix = unique_prefix();
    let store = cached_node(&prefix, ReadCache::new()).await;
    let on_a = app(store.clone());
    let cookie = send(&on_a, "/set/mine", None).await.cookie_pair();
    assert_eq!(send(&on_a, "/has/mine", Some(&cookie)).await.body, "true");
    // Behind the cache: a new version with another key, written raw.
    let key = key_of(&cookie);
    let plain = RedisStore::connect(&redis_url())
        .await
        .unwrap()
        .key_prefix(prefix.as_str());
    let mut record = plain.load(&key).await.unwrap().unwrap();
    record.data.insert("theirs", &true).unwrap();
    record.version += 1;
    let mut value = record.version.to_be_bytes().to_vec();
    value.extend_from_slice(&record.encode());
    let mut direct = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = direct
        .set(format!("{prefix}{{{}}}", key.to_hex()), value)
        .await
        .unwrap();
    assert_eq!(
        send(&on_a, "/has/theirs", Some(&cookie)).await.body,
        "false",
        "the cache still serves the old entry (nothing announced the raw write)"
    );
    assert!(
        send(&on_a, "/set/again", Some(&cookie))
            .await
            .status
            .is_success()
    );
    let stored = plain.load(&key).await.unwrap().unwrap();
    for name in ["mine", "theirs", "again"] {
        assert!(
            stored.data.get_json(name).is_some(),
            "{name} was lost: {:?}",
            stored.data
        );
    }
    assert_eq!(send(&on_a, "/has/theirs", Some(&cookie)).await.body, "true");
}

#[tokio::test]
async fn the_cache_stays_within_its_bounds() {
    let store = cached_node(
        &unique_prefix(),
        ReadCache::new().max_entries(64).max_bytes(1 << 30),
    )
    .await;
    for _ in 0..500 {
        let key = SessionKey::from_bytes(rand::random());
        store
            .create(&key, &crate::common::owned_by("alice", Duration::ZERO))
            .await
            .unwrap();
        store.load(&key).await.unwrap();
    }
    let stats = store.cache_stats().unwrap();
    assert!(stats.entries <= 64 && stats.entries > 0, "{stats:?}");
    let store = cached_node(&unique_prefix(), ReadCache::new().max_bytes(64 * 1024)).await;
    for _ in 0..500 {
        let key = SessionKey::from_bytes(rand::random());
        store
            .create(&key, &crate::common::owned_by("alice", Duration::ZERO))
            .await
            .unwrap();
    }
    let stats = store.cache_stats().unwrap();
    assert!(stats.bytes <= 64 * 1024 && stats.entries > 0, "{stats:?}");
}

/// The invalidation channel cut: the cache empties and stops serving (no
/// entry whose invalidation may be lost is ever read), a change made
/// meanwhile by another instance is what this one reads once Redis is
/// reachable again, and the cache serves again once it has subscribed anew.
#[tokio::test]
async fn a_lost_invalidation_channel_turns_the_cache_off_until_it_is_back() {
    let target = redis_url()
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let proxy = proxy_to(target).await;
    let prefix = unique_prefix();
    let url = format!("redis://{}", proxy.addr);
    let behind = RedisStore::connect(&url)
        .await
        .unwrap()
        .key_prefix(prefix.as_str())
        .with_read_cache(ReadCache::new())
        .await
        .unwrap();
    let other = cached_node(&prefix, ReadCache::new()).await;
    let key = SessionKey::from_bytes(rand::random());
    other
        .create(&key, &crate::common::owned_by("alice", Duration::ZERO))
        .await
        .unwrap();
    behind.load(&key).await.unwrap().unwrap();
    behind.load(&key).await.unwrap().unwrap();
    assert_eq!(behind.cache_stats().unwrap().hits, 1);

    proxy.cut();
    let deadline = Instant::now() + Duration::from_secs(3);
    while behind.cache_stats().unwrap().serving {
        assert!(
            Instant::now() < deadline,
            "the cache still serves without its channel"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats = behind.cache_stats().unwrap();
    assert_eq!(stats.entries, 0, "emptied: {stats:?}");
    assert!(stats.flushes >= 1);
    assert!(
        behind.load(&key).await.is_err(),
        "Redis is unreachable: no cached answer"
    );
    // Meanwhile, another instance ends the session.
    assert!(other.delete(&key).await.unwrap());

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !behind.cache_stats().unwrap().serving {
        assert!(Instant::now() < deadline, "the cache did not come back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let reloaded = loop {
        match behind.load(&key).await {
            Ok(found) => break found,
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    assert!(reloaded.is_none(), "the deleted session was served again");
}

#[tokio::test]
async fn a_store_on_a_connection_of_your_own_cannot_cache() {
    let client = redis::Client::open(redis_url()).unwrap();
    let manager = redis::aio::ConnectionManager::new(client)
        .await
        .unwrap_or_else(|err| unreachable("Redis", err));
    let err = RedisStore::from_connection(manager)
        .with_read_cache(ReadCache::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(err.to_string().contains("connect_cluster"), "{err}");
}

#[tokio::test]
#[should_panic(expected = "must come before with_read_cache")]
async fn a_prefix_after_the_cache_is_refused() {
    let _ = cached_node(&unique_prefix(), ReadCache::new())
        .await
        .key_prefix("late:");
}

/// The store is dropped: its subscriber ends with it (no connection left behind).
#[tokio::test]
async fn dropping_the_store_ends_its_subscription() {
    let prefix = unique_prefix();
    let mut direct = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let channel = format!("{prefix}invalidations");
    let subscribers = async |direct: &mut redis::aio::MultiplexedConnection| {
        let counts: Vec<(String, u64)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(&channel)
            .query_async(direct)
            .await
            .unwrap();
        counts[0].1
    };
    let store = cached_node(&prefix, ReadCache::new()).await;
    assert_eq!(subscribers(&mut direct).await, 1);
    drop(store);
    let deadline = Instant::now() + Duration::from_secs(3);
    while subscribers(&mut direct).await > 0 {
        assert!(
            Instant::now() < deadline,
            "the subscription outlived its store"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `SENTINEL FAILOVER` between two instances. Once the sentinels name the
/// new master, the cached instance's store and its cache's subscription
/// move there within two seconds, instead of staying on the old one, which
/// hears none of the new master's writes until the sentinels demote it (up
/// to ten seconds later here); and a change made through the other instance
/// reaches it within a second, as before the failover. The writer connects after
/// the failover and confirms nothing with replicas, so that its change
/// lands on the new master as soon as it is named (before the old one is
/// demoted).
#[tokio::test]
async fn after_a_sentinel_failover_changes_still_reach_the_other_instances_cache() {
    use crate::redis_sentinel::{fail_over_by_hand, master_address, node, until_settled};
    use sessionware::store::{Record, SaveOutcome};

    let _alone = crate::shared_deployment::exclusive(&GROUP).await;
    until_settled().await;
    let prefix = unique_prefix();
    let reader = cached_sentinel(&prefix).await;
    let key = SessionKey::from_bytes(rand::random());
    let record = |version: u64| {
        let now = std::time::SystemTime::now();
        let mut record = Record::new(Default::default(), now, now + Duration::from_secs(600));
        record.version = version;
        record
    };
    assert!(reader.create(&key, &record(1)).await.unwrap());
    until_settled().await;
    for _ in 0..2 {
        assert_eq!(reader.load(&key).await.unwrap().unwrap().version, 1);
    }
    assert!(
        reader.cache_stats().unwrap().hits >= 1,
        "the reader caches it"
    );

    let before = master_address().await;
    let started = Instant::now();
    fail_over_by_hand(&before).await;
    let switched = Instant::now();

    // The reader's subscription moves to the new master: the old one hears
    // the new master's writes only once the sentinels demote it.
    let new_master = master_address().await;
    let mut on_new_master = node(&new_master).await;
    let channel = format!("{prefix}invalidations");
    loop {
        let (_, listeners): (String, u64) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(&channel)
            .query_async(&mut on_new_master)
            .await
            .unwrap();
        if listeners > 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30)
                && Instant::now() < switched + Duration::from_secs(2),
            "2 s after the sentinels named {new_master}, the reader's cache does not listen there"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Connected now, the writer (without a cache of its own) starts on the
    // new master.
    let writer = RedisStore::connect_sentinel(sentinels(), MASTER)
        .await
        .unwrap()
        .key_prefix(&prefix)
        .confirm_writes(0, Duration::ZERO)
        .unwrap();
    let mut version = 1;
    let saved_at = loop {
        assert!(
            started.elapsed() < Duration::from_secs(75),
            "no save in 75 s"
        );
        match writer.save(&key, &record(version + 1), version).await {
            Ok(SaveOutcome::Saved) => break Instant::now(),
            Ok(SaveOutcome::Conflict) => {
                version = writer.load(&key).await.unwrap().unwrap().version
            }
            Ok(SaveOutcome::Missing) => panic!("the session vanished"),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    let saved = version + 1;
    loop {
        match reader.load(&key).await {
            Ok(Some(loaded)) if loaded.version >= saved => break,
            other => assert!(
                saved_at.elapsed() < Duration::from_secs(1),
                "a second after the save of version {saved} on the new master, the other \
                 instance still reads {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eprintln!(
        "Sentinel failover: the other instance read the change {:?} after it was saved",
        saved_at.elapsed()
    );
    until_settled().await;
}
