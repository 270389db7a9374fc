//! `RedisStore` against the real Redis at `REDIS_URL` (default
//! `redis://127.0.0.1:6379`): the conformance and accounts suites, the user
//! index's keys and lifetimes, then outages made by cutting a proxy in front
//! of it.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use redis::aio::MultiplexedConnection;
use serde_json::json;
use sessionware::store::{Record, SaveOutcome, SessionKey};
use sessionware::{RedisStore, SessionStore, UserIndex};
use sha2::{Digest, Sha256};

use crate::outage;
use crate::proxy::Proxy;

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A prefix of a test's own.
fn unique_prefix() -> String {
    format!("sessionware-test-{:016x}:", rand::random::<u64>())
}

/// A store on the real Redis, under a prefix of its own.
async fn connect(url: &str) -> RedisStore {
    connect_with_prefix(url, &unique_prefix()).await
}

async fn connect_with_prefix(url: &str, prefix: &str) -> RedisStore {
    let store = RedisStore::connect(url).await.unwrap_or_else(|err| {
        panic!(
            "Redis is not reachable at {url}: {err}. Start it with \
             `redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save \"\" --appendonly no`, \
             or point REDIS_URL at one."
        )
    });
    store.key_prefix(prefix)
}

async fn store() -> RedisStore {
    connect(&redis_url()).await
}

sessionware::conformance_suite!(store(), native_expiry);
sessionware::accounts_suite!(store());
sessionware::features_suite!(store());

/// A connection of the test's own, straight to Redis, to look at the keys.
async fn direct() -> MultiplexedConnection {
    let client = redis::Client::open(redis_url()).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

/// Where `RedisStore` keeps `user`'s set under `prefix`, as documented.
fn user_set(prefix: &str, user: &str) -> String {
    format!("{prefix}user:{{{:x}}}", Sha256::digest(user.as_bytes()))
}

/// Every key under `prefix` (the store's start-up probe aside).
async fn keys(connection: &mut MultiplexedConnection, prefix: &str) -> Vec<String> {
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(connection)
        .await
        .unwrap();
    keys.retain(|key| !key.ends_with("{probe}"));
    keys.sort();
    keys
}

fn unix_ms(time: SystemTime) -> i64 {
    i64::try_from(time.duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

/// A lower bound of the instant `key` expires (unix ms), from `PTTL` (which
/// Redis 6.2 has too): the clock before asking plus the time left then.
/// Panics if the key is absent or never expires.
async fn expires_no_earlier_than(connection: &mut MultiplexedConnection, key: &str) -> i64 {
    let before = unix_ms(SystemTime::now());
    let left: i64 = redis::cmd("PTTL")
        .arg(key)
        .query_async(connection)
        .await
        .unwrap();
    assert!(left >= 0, "{key} should exist and expire, PTTL is {left}");
    before + left
}

/// A record of `user` that lives `lives` from now, at millisecond precision.
fn owned_by(user: Option<&str>, lives: Duration) -> Record {
    let now = UNIX_EPOCH + Duration::from_millis(unix_ms(SystemTime::now()) as u64);
    let mut record = Record::new(
        json!({"k": "v"}).as_object().unwrap().clone().into(),
        now,
        now + lives,
    );
    record.owner = user.map(str::to_owned);
    record
}

fn random_key() -> SessionKey {
    SessionKey::from_bytes(rand::random())
}

/// The user's set never expires before any of its sessions: not after a
/// create, not after a shorter-lived session joins, not after a save that
/// moves a deadline later. (`revoke_all` must find every live session.)
#[tokio::test]
async fn the_user_set_outlives_its_longest_lived_session() {
    let prefix = unique_prefix();
    let store = connect_with_prefix(&redis_url(), &prefix).await;
    let mut redis = direct().await;
    let user = "grace";
    let set = user_set(&prefix, user);

    let long = random_key();
    let mut long_record = owned_by(Some(user), Duration::from_secs(600));
    assert!(store.create(&long, &long_record).await.unwrap());
    let after_create = expires_no_earlier_than(&mut redis, &set).await;
    assert!(after_create >= unix_ms(long_record.expires_at));

    // A shorter-lived session must not shorten the set's life.
    let short = random_key();
    let mut short_record = owned_by(Some(user), Duration::from_secs(60));
    assert!(store.create(&short, &short_record).await.unwrap());
    assert!(expires_no_earlier_than(&mut redis, &set).await >= unix_ms(long_record.expires_at));

    // A save moving the short one's deadline past the long one's lengthens it.
    short_record.version = 2;
    short_record.expires_at = long_record.expires_at + Duration::from_secs(300);
    assert_eq!(
        store.save(&short, &short_record, 1).await.unwrap(),
        SaveOutcome::Saved
    );
    assert!(expires_no_earlier_than(&mut redis, &set).await >= unix_ms(short_record.expires_at));

    // A save moving the long one's deadline, but less far, shortens nothing.
    long_record.version = 2;
    long_record.expires_at += Duration::from_secs(60);
    assert_eq!(
        store.save(&long, &long_record, 1).await.unwrap(),
        SaveOutcome::Saved
    );
    let longest = unix_ms(short_record.expires_at);
    assert!(expires_no_earlier_than(&mut redis, &set).await >= longest);
    // ...and the set does not linger much beyond its last session either.
    let left: i64 = redis::cmd("PTTL")
        .arg(&set)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(
        unix_ms(SystemTime::now()) + left <= longest + 5_000,
        "{left}"
    );

    let mut members: Vec<String> = redis::cmd("SMEMBERS")
        .arg(&set)
        .query_async(&mut redis)
        .await
        .unwrap();
    members.sort();
    let mut expected = vec![long.to_hex(), short.to_hex()];
    expected.sort();
    assert_eq!(
        members, expected,
        "members are the sessions' digests in hex"
    );
    assert_eq!(store.revoke_all(user).await.unwrap(), 2);
}

/// Sessions without an owner write nothing beyond their own key, and the
/// stored value of every session, owned or not, is still the 8-byte
/// big-endian version followed by `Record::encode`.
#[tokio::test]
async fn anonymous_sessions_create_no_user_set_and_values_keep_their_layout() {
    let prefix = unique_prefix();
    let store = connect_with_prefix(&redis_url(), &prefix).await;
    let mut redis = direct().await;

    let guest = random_key();
    let mut record = owned_by(None, Duration::from_secs(60));
    assert!(store.create(&guest, &record).await.unwrap());
    record.version = 2;
    assert_eq!(
        store.save(&guest, &record, 1).await.unwrap(),
        SaveOutcome::Saved
    );
    let session_key = format!("{prefix}{{{}}}", guest.to_hex());
    assert_eq!(keys(&mut redis, &prefix).await, [session_key.as_str()]);
    let value: Vec<u8> = redis::cmd("GET")
        .arg(&session_key)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(value, [&2u64.to_be_bytes()[..], &record.encode()].concat());

    let member = random_key();
    let mut owned = owned_by(Some("heidi"), Duration::from_secs(60));
    assert!(store.create(&member, &owned).await.unwrap());
    owned.version = 7;
    assert_eq!(
        store.save(&member, &owned, 1).await.unwrap(),
        SaveOutcome::Saved
    );
    let value: Vec<u8> = redis::cmd("GET")
        .arg(format!("{prefix}{{{}}}", member.to_hex()))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(value, [&7u64.to_be_bytes()[..], &owned.encode()].concat());
    assert_eq!(keys(&mut redis, &prefix).await.len(), 3);
}

/// User ids are hashed into the key: braces, spaces and unicode neither
/// break the cluster hash tag nor mix users up.
#[tokio::test]
async fn user_ids_with_braces_spaces_and_unicode_work() {
    let prefix = unique_prefix();
    let store = connect_with_prefix(&redis_url(), &prefix).await;
    let mut redis = direct().await;
    let odd = "{ }} ferris 🦀 {x} é\n";
    let plain = "{x}";

    let keys_of_odd = [random_key(), random_key()];
    for key in &keys_of_odd {
        assert!(
            store
                .create(key, &owned_by(Some(odd), Duration::from_secs(60)))
                .await
                .unwrap()
        );
    }
    let other = random_key();
    assert!(
        store
            .create(&other, &owned_by(Some(plain), Duration::from_secs(60)))
            .await
            .unwrap()
    );

    let sets: Vec<String> = keys(&mut redis, &prefix)
        .await
        .into_iter()
        .filter(|key| key.starts_with(&format!("{prefix}user:")))
        .collect();
    let mut expected = vec![user_set(&prefix, odd), user_set(&prefix, plain)];
    expected.sort();
    assert_eq!(sets, expected);
    for set in &sets {
        let tag = &set[prefix.len() + "user:".len()..];
        assert_eq!(tag.len(), 66, "{{ + 64 hex digits + }}: {set}");
        assert!(tag[1..65].bytes().all(|b| b.is_ascii_hexdigit()));
    }

    let mut listed: Vec<_> = store
        .sessions(odd)
        .await
        .unwrap()
        .iter()
        .map(|info| info.handle)
        .collect();
    listed.sort_by_key(|handle| format!("{handle:?}"));
    let mut wanted: Vec<_> = keys_of_odd.iter().map(SessionKey::handle).collect();
    wanted.sort_by_key(|handle| format!("{handle:?}"));
    assert_eq!(listed, wanted);
    assert_eq!(store.sessions(plain).await.unwrap().len(), 1);
    assert_eq!(store.revoke_all(odd).await.unwrap(), 2);
    assert!(store.sessions(odd).await.unwrap().is_empty());
    assert!(
        store.load(&other).await.unwrap().is_some(),
        "the other user's session stays"
    );
}

/// Members that are not 64 hex digits (written by hand, or by something
/// else) are ignored rather than failing the listing.
#[tokio::test]
async fn malformed_members_of_a_user_set_are_ignored() {
    let prefix = unique_prefix();
    let store = connect_with_prefix(&redis_url(), &prefix).await;
    let mut redis = direct().await;
    let key = random_key();
    assert!(
        store
            .create(&key, &owned_by(Some("ivan"), Duration::from_secs(60)))
            .await
            .unwrap()
    );
    let _: u64 = redis::cmd("SADD")
        .arg(user_set(&prefix, "ivan"))
        .arg("not hex")
        .arg("zz".repeat(32))
        .arg(&b"\xff\x00"[..])
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(store.keys_of("ivan").await.unwrap(), [key]);
    assert_eq!(store.sessions("ivan").await.unwrap().len(), 1);
}

/// After the server lost its scripts (a restart, a failover, `SCRIPT
/// FLUSH`), owned creates and saves still land and are still filed under
/// their owner. Every store call reloads a missing script, so flushing the
/// scripts does not disturb the tests running beside this one.
#[tokio::test]
async fn owned_writes_are_indexed_after_the_server_lost_its_scripts() {
    let prefix = unique_prefix();
    let store = connect_with_prefix(&redis_url(), &prefix).await;
    let mut redis = direct().await;
    let flush = || redis::cmd("SCRIPT").arg("FLUSH").to_owned();

    let _: () = flush().query_async(&mut redis).await.unwrap();
    let key = random_key();
    let mut record = owned_by(Some("judy"), Duration::from_secs(60));
    assert!(store.create(&key, &record).await.unwrap());
    assert_eq!(store.keys_of("judy").await.unwrap(), [key]);

    let _: () = flush().query_async(&mut redis).await.unwrap();
    let set = user_set(&prefix, "judy");
    let _: () = redis::cmd("DEL")
        .arg(&set)
        .query_async(&mut redis)
        .await
        .unwrap();
    record.version = 2;
    record.expires_at += Duration::from_secs(600);
    assert_eq!(
        store.save(&key, &record, 1).await.unwrap(),
        SaveOutcome::Saved
    );
    assert_eq!(store.keys_of("judy").await.unwrap(), [key]);
    assert!(expires_no_earlier_than(&mut redis, &set).await >= unix_ms(record.expires_at));
    assert_eq!(store.load(&key).await.unwrap(), Some(record));
}

#[tokio::test]
async fn health_answers() {
    store().await.health().await.unwrap();
}

/// Store down at start: building it is a clear error, not a hang.
#[tokio::test]
async fn connecting_to_a_closed_port_is_a_clear_error() {
    let port = outage::closed_port();
    let err = outage::refused(RedisStore::connect(&format!("redis://127.0.0.1:{port}"))).await;
    assert!(
        err.to_string().contains("could not connect to Redis"),
        "{err}"
    );
}

/// A Redis behind a proxy the test can cut, and an app on it.
async fn behind_proxy() -> (Arc<Proxy>, Router) {
    let (proxy, app, _) = behind_proxy_with_prefix().await;
    (proxy, app)
}

/// [`behind_proxy`], and the prefix of the store's keys.
async fn behind_proxy_with_prefix() -> (Arc<Proxy>, Router, String) {
    let target = redis_url()
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let proxy = outage::proxy_to(target).await;
    let prefix = unique_prefix();
    let store = connect_with_prefix(&format!("redis://{}", proxy.addr), &prefix).await;
    let app = outage::app_behind(&proxy, store);
    (proxy, app, prefix)
}

/// The version header of every key under `prefix`, read straight from
/// Redis (not through the proxy) when awaited.
fn versions(prefix: String) -> outage::Versions<'static> {
    Box::pin(async move {
        let client = redis::Client::open(redis_url()).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}*"))
            .query_async(&mut connection)
            .await
            .unwrap();
        let mut versions = Vec::new();
        for key in keys {
            let header: Vec<u8> = redis::cmd("GETRANGE")
                .arg(&key)
                .arg(0)
                .arg(7)
                .query_async(&mut connection)
                .await
                .unwrap();
            versions.push(u64::from_be_bytes(header.try_into().unwrap()));
        }
        versions
    })
}

/// Redis unreachable at load gives a degraded guest, 200, no cookie, nothing
/// written; once it is back, the session is intact.
#[tokio::test]
async fn outage_at_load_then_recovery() {
    let (proxy, app, prefix) = behind_proxy_with_prefix().await;
    outage::outage_at_load_then_recovery(&proxy, &app, Some(versions(prefix))).await;
}

/// Redis closes the idle connection; the next request works and its save
/// lands once.
#[tokio::test]
async fn an_idle_connection_closed_by_the_server_is_reopened() {
    let (proxy, app, prefix) = behind_proxy_with_prefix().await;
    outage::idle_connections_closed(&proxy, &app, Some(versions(prefix))).await;
}

/// Redis lost after load, before save: 500, no new token; after recovery the
/// pre-request state is there.
#[tokio::test]
async fn outage_mid_request_is_a_500() {
    let (proxy, app) = behind_proxy().await;
    outage::outage_mid_request_is_a_500(&proxy, &app, None).await;
}

/// A value an earlier version wrote in record format 1 (the version header,
/// then the format byte and one JSON object) is read: its data, owner and
/// deadline; a save then writes it in the current format, which is read back.
#[tokio::test]
async fn a_format_1_record_is_read_and_rewritten() {
    let prefix = unique_prefix();
    let store = connect_with_prefix(&redis_url(), &prefix).await;
    let mut redis = direct().await;
    let key = random_key();
    let mut value = 1u64.to_be_bytes().to_vec();
    value.extend_from_slice(&crate::common::format_1_record("ferris"));
    let name = format!("{prefix}{{{}}}", key.to_hex());
    let _: () = redis::cmd("SET")
        .arg(&name)
        .arg(value)
        .arg("PX")
        .arg(60_000)
        .query_async(&mut redis)
        .await
        .unwrap();
    crate::common::assert_format_1_record_reads_and_rewrites(&store, &key).await;
    let _: () = redis::cmd("DEL")
        .arg(&name)
        .query_async(&mut redis)
        .await
        .unwrap();
}

/// A connection configured by the application works as a URL does.
#[tokio::test]
async fn a_connection_of_your_own_is_used() {
    let client = redis::Client::open(redis_url()).unwrap();
    let connection = redis::aio::ConnectionManager::new(client).await.unwrap();
    let store = RedisStore::from_connection(connection).key_prefix(unique_prefix());
    store.health().await.unwrap();
    let key = random_key();
    let record = owned_by(Some("heidi"), Duration::from_secs(60));
    assert!(store.create(&key, &record).await.unwrap());
    assert_eq!(store.load(&key).await.unwrap(), Some(record));
    assert_eq!(store.revoke_all("heidi").await.unwrap(), 1);
}
