//! `RedisStore` through Redis Sentinel (the group `mymaster`: a master on
//! 127.0.0.1:6390, a replica on 6391, sentinels on 26379-26381, started by
//! `.ci/redis-sentinel`; or the sentinels in `REDIS_SENTINELS`,
//! comma-separated): the conformance and accounts suites, and, run alone
//! because it moves the master, a failover the store follows by itself.

use std::sync::LazyLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use sessionware::store::{Record, SaveOutcome, SessionKey};
use sessionware::{RedisStore, SessionStore, UserIndex};

use crate::outage;
use crate::shared_deployment::{Deployment, Shared, exclusive, restart_down_nodes};

pub(crate) const MASTER: &str = "mymaster";

pub(crate) fn sentinels() -> Vec<String> {
    match std::env::var("REDIS_SENTINELS") {
        Ok(sentinels) => sentinels.split(',').map(str::to_owned).collect(),
        Err(_) => (26379..26382)
            .map(|port| format!("redis://127.0.0.1:{port}"))
            .collect(),
    }
}

fn unreachable(err: impl std::fmt::Display) -> ! {
    panic!(
        "the Redis Sentinel group {MASTER:?} is not reachable through {:?}: {err}. \
         Start it with `bash .ci/redis-sentinel` (master 6390, replica 6391, sentinels \
         26379-26381 on 127.0.0.1), or point REDIS_SENTINELS at yours.",
        sentinels()
    )
}

/// The Sentinel group's lock: the failover tests take it for themselves.
pub(crate) static GROUP: LazyLock<Deployment> = LazyLock::new(Deployment::default);

/// A store through the sentinels, under a prefix of its own, with no claim
/// on the group: for a failover test, which holds it exclusively.
async fn connect_alone() -> RedisStore {
    RedisStore::connect_sentinel(sentinels(), MASTER)
        .await
        .unwrap_or_else(|err| unreachable(err))
        .key_prefix(format!("sessionware-test-{:016x}:", rand::random::<u64>()))
}

/// A store through the sentinels, under a prefix of its own, sharing the
/// group with the other tests (none fails the master over while it lives).
async fn store() -> Shared<RedisStore> {
    Shared::new(&GROUP, connect_alone()).await
}

sessionware::conformance_suite!(store(), native_expiry);
sessionware::accounts_suite!(store());

#[tokio::test]
async fn health_answers() {
    store().await.health().await.unwrap();
}

/// No sentinel reachable at start: a clear error, not a hang.
#[tokio::test]
async fn connecting_to_closed_ports_is_a_clear_error() {
    let sentinels = [outage::closed_port(), outage::closed_port()]
        .map(|port| format!("redis://127.0.0.1:{port}"));
    let err = outage::refused(RedisStore::connect_sentinel(sentinels, MASTER)).await;
    assert!(
        err.to_string().contains("through the Redis Sentinels"),
        "{err}"
    );
}

/// The master's address as the first sentinel names it now.
pub(crate) async fn master_address() -> String {
    let client = redis::Client::open(sentinels()[0].as_str()).unwrap();
    let mut sentinel = client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|err| unreachable(err));
    let (host, port): (String, u16) = redis::cmd("SENTINEL")
        .arg("GET-MASTER-ADDR-BY-NAME")
        .arg(MASTER)
        .query_async(&mut sentinel)
        .await
        .unwrap();
    format!("{host}:{port}")
}

/// Whether every sentinel agrees the group is healthy and the master they
/// name has a replica in sync.
async fn settled() -> bool {
    for url in sentinels() {
        let Ok(client) = redis::Client::open(url.as_str()) else {
            return false;
        };
        let Ok(mut sentinel) = client.get_multiplexed_async_connection().await else {
            return false;
        };
        let quorum: redis::RedisResult<String> = redis::cmd("SENTINEL")
            .arg("CKQUORUM")
            .arg(MASTER)
            .query_async(&mut sentinel)
            .await;
        if !quorum.is_ok_and(|answer| answer.starts_with("OK")) {
            return false;
        }
    }
    let Ok(client) = redis::Client::open(format!("redis://{}", master_address().await)) else {
        return false;
    };
    let Ok(mut master) = client.get_multiplexed_async_connection().await else {
        return false;
    };
    let info: String = redis::cmd("INFO")
        .arg("replication")
        .query_async(&mut master)
        .await
        .unwrap_or_default();
    in_sync(&info)
}

/// Whether `INFO replication` of a master shows its one replica online and
/// caught up with every write the master took.
fn in_sync(info: &str) -> bool {
    let field = |line: &str, name: &str| {
        line.split([',', ':'])
            .find_map(|part| part.strip_prefix(name)?.strip_prefix('='))
            .map(str::to_owned)
    };
    let offset = info
        .lines()
        .find_map(|line| line.strip_prefix("master_repl_offset:"));
    let replica = info.lines().find(|line| line.starts_with("slave0:"));
    match (offset, replica) {
        (Some(offset), Some(replica)) => {
            info.contains("role:master")
                && info.contains("connected_slaves:1")
                && field(replica, "state").as_deref() == Some("online")
                && field(replica, "offset").as_deref() == Some(offset.trim())
        }
        _ => false,
    }
}

pub(crate) async fn until_settled() {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !settled().await {
        assert!(
            Instant::now() < deadline,
            "the Sentinel group did not settle in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A record of `user` at `version`, holding `n`, at millisecond precision.
fn record(user: &str, version: u64, n: u64) -> Record {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let now = UNIX_EPOCH + Duration::from_millis(since_epoch.as_millis() as u64);
    let mut record = Record::new(
        json!({ "n": n }).as_object().unwrap().clone().into(),
        now,
        now + Duration::from_secs(600),
    );
    record.owner = Some(user.to_owned());
    record.version = version;
    record
}

/// Whether the node at `address` no longer takes writes as a master: the
/// sentinels demoted it, or it is down. Until then, writes that reach it
/// are not yet known lost or kept.
async fn demoted_or_down(address: &str) -> bool {
    let Ok(client) = redis::Client::open(format!("redis://{address}")) else {
        return true;
    };
    let connecting = tokio::time::timeout(
        Duration::from_secs(1),
        client.get_multiplexed_async_connection(),
    );
    let Ok(Ok(mut node)) = connecting.await else {
        return true;
    };
    let role: redis::RedisResult<Vec<redis::Value>> =
        redis::cmd("ROLE").query_async(&mut node).await;
    !matches!(role.as_deref(), Ok([redis::Value::BulkString(name), ..]) if name == b"master")
}

/// Moves the master of the group with `fail_over` during a steady stream
/// of saves of one owned session: saves may fail for the failover's
/// duration, then succeed again on the new master through the same store,
/// without a new `connect`. The stream goes on until the old master has been
/// demoted (or is down), so that writes it took after the promotion have
/// been dropped by then: every acknowledged save must still be there, and
/// the session still filed under its user.
async fn saves_follow_a_failover(how: &str, fail_over: impl AsyncFnOnce(&str)) {
    until_settled().await;
    let store = connect_alone().await;
    let user = "ferris";
    let key = SessionKey::from_bytes(rand::random());
    assert!(store.create(&key, &record(user, 1, 0)).await.unwrap());
    until_settled().await;
    let before = master_address().await;
    fail_over(&before).await;

    // A new version every 20 ms until the new master took five in a row and
    // the old one is demoted. A failed save may still have been written (and
    // kept, if the replica had it): a conflict then reloads, as the layer does.
    let started = Instant::now();
    let (mut version, mut acknowledged) = (1, 1);
    let (mut failed, mut in_a_row) = (0, 0);
    loop {
        if in_a_row >= 5 && master_address().await != before && demoted_or_down(&before).await {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(75),
            "saves did not recover within 75 s ({failed} failed, master {})",
            master_address().await
        );
        match store
            .save(&key, &record(user, version + 1, version), version)
            .await
        {
            Ok(SaveOutcome::Saved) => {
                version += 1;
                acknowledged = version;
                in_a_row += 1;
            }
            Ok(SaveOutcome::Conflict) => {
                let stored = store
                    .load(&key)
                    .await
                    .unwrap()
                    .expect("the session survives");
                assert!(stored.version > version, "a conflict with an older version");
                version = stored.version;
                in_a_row = 0;
            }
            Ok(other) => panic!("save of version {} answered {other:?}", version + 1),
            Err(_) => {
                failed += 1;
                in_a_row = 0;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stored = store
        .load(&key)
        .await
        .unwrap()
        .expect("the session survives");
    assert!(
        stored.version >= acknowledged,
        "acknowledged saves were lost: version {acknowledged} was acknowledged, {} is stored",
        stored.version
    );
    assert_eq!(
        stored.data.get::<u64>("n").unwrap(),
        Some(stored.version - 1)
    );
    assert_eq!(store.keys_of(user).await.unwrap(), [key]);
    assert_eq!(store.revoke_all(user).await.unwrap(), 1);
    eprintln!(
        "{how}: master {before} -> {}, {failed} saves failed, {} acknowledged, recovered after {:?}",
        master_address().await,
        acknowledged - 1,
        started.elapsed()
    );
}

/// A master with an outside connection, to fail it over or shut it down.
pub(crate) async fn node(address: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(format!("redis://{address}"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// `SENTINEL FAILOVER`: the master is demoted to a replica (and answers
/// writes with `READONLY`) while its replica is promoted.
#[tokio::test]
async fn a_failover_is_followed_without_losing_acknowledged_saves() {
    let _alone = exclusive(&GROUP).await;
    saves_follow_a_failover("SENTINEL FAILOVER", async |before| {
        let before = before.to_owned();
        tokio::spawn(async move { fail_over_by_hand(&before).await });
    })
    .await;
    until_settled().await;
}

/// `SENTINEL FAILOVER` until the sentinels name another master than
/// `before`. A failover the sentinels start may abort (a replica restarted
/// moments ago is not promoted in time): it is asked for again.
pub(crate) async fn fail_over_by_hand(before: &str) {
    let started = Instant::now();
    loop {
        let mut sentinel = node(sentinels()[0].trim_start_matches("redis://")).await;
        // INPROG while a failover runs: then it is waited for.
        let _ = redis::cmd("SENTINEL")
            .arg("FAILOVER")
            .arg(MASTER)
            .query_async::<()>(&mut sentinel)
            .await;
        let asked = Instant::now();
        while asked.elapsed() < Duration::from_secs(12) {
            if master_address().await != before {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the sentinels did not fail {before} over in 60 s"
        );
    }
}

/// The master process dies (`SHUTDOWN NOSAVE`): the sentinels notice after
/// `down-after-milliseconds` and promote the replica. Writes wait for a
/// replica's confirmation, so the new master takes none until the dead node
/// is back, as a replica of it: `.ci/redis-sentinel` brings it back once the
/// sentinels name the new master.
#[tokio::test]
async fn a_killed_master_is_followed_without_losing_acknowledged_saves() {
    let _alone = exclusive(&GROUP).await;
    saves_follow_a_failover("master killed", async |master| {
        let mut node = node(master).await;
        // The server closes the connection instead of answering.
        let _ = redis::cmd("SHUTDOWN")
            .arg("NOSAVE")
            .query_async::<()>(&mut node)
            .await;
        let old = master.to_owned();
        tokio::spawn(async move {
            while master_address().await == old {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            restart_down_nodes("redis-sentinel").await;
        });
    })
    .await;
    restart_down_nodes("redis-sentinel").await;
    until_settled().await;
}

/// A write that fewer replicas confirm than the store asks for is an
/// error, not an acknowledged save: the group has one replica, and this
/// store waits for two.
#[tokio::test]
async fn a_write_the_replicas_do_not_confirm_is_not_acknowledged() {
    let store = store().await;
    let confirming_two = connect_alone()
        .await
        .confirm_writes(2, Duration::from_millis(100))
        .unwrap();
    let key = SessionKey::from_bytes(rand::random());
    let err = confirming_two
        .create(&key, &record("ferris", 1, 0))
        .await
        .unwrap_err();
    let cause = std::error::Error::source(&err).map(ToString::to_string);
    assert!(
        cause
            .as_deref()
            .is_some_and(|cause| cause.contains("not confirmed")),
        "{err:?}"
    );
    // One replica is what the default asks for, and it confirms.
    let other = SessionKey::from_bytes(rand::random());
    assert!(store.create(&other, &record("ferris", 1, 0)).await.unwrap());
}
