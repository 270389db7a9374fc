//! `RedisStore` against the real Redis at `REDIS_URL` (default
//! `redis://127.0.0.1:6379`): the conformance suite, then outages made by
//! cutting a proxy in front of it.
#![cfg(feature = "redis-store")]

mod common;
mod conformance;

use std::sync::Arc;

use axum::Router;
use common::outage;
use common::proxy::Proxy;
use sessionware::RedisStore;

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

conformance_suite!(store(), native_expiry);

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

/// Catalogue #50 and #57: Redis unreachable at load gives a degraded guest,
/// 200, no cookie, nothing written; once it is back, the session is intact.
#[tokio::test]
async fn case_50_and_57_outage_at_load_then_recovery() {
    let (proxy, app, prefix) = behind_proxy_with_prefix().await;
    outage::outage_at_load_then_recovery(&proxy, &app, Some(versions(prefix))).await;
}

/// Catalogue #55: Redis closes the idle connection; the next request works
/// and its save lands once.
#[tokio::test]
async fn case_55_an_idle_connection_closed_by_the_server_is_reopened() {
    let (proxy, app, prefix) = behind_proxy_with_prefix().await;
    outage::idle_connections_closed(&proxy, &app, Some(versions(prefix))).await;
}

/// Catalogue #51: Redis lost after load, before save: 500, no new token;
/// after recovery the pre-request state is there.
#[tokio::test]
async fn case_51_outage_mid_request_is_a_500() {
    let (proxy, app) = behind_proxy().await;
    outage::outage_mid_request_is_a_500(&proxy, &app, None).await;
}
