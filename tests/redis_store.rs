//! `RedisStore` against the real Redis at `REDIS_URL` (default
//! `redis://127.0.0.1:6379`): the conformance suite, then outages made by
//! cutting a proxy in front of it.
#![cfg(feature = "redis-store")]

mod common;
mod conformance;

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use common::proxy::Proxy;
use common::{routes, secret, send};
use http::StatusCode;
use sessionware::{ErrorKind, RedisStore, Session, SessionLayer};

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A store on the real Redis, under a prefix of its own.
async fn connect(url: &str) -> RedisStore {
    let store = RedisStore::connect(url).await.unwrap_or_else(|err| {
        panic!(
            "Redis is not reachable at {url}: {err}. Start it with \
             `redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save \"\" --appendonly no`, \
             or point REDIS_URL at one."
        )
    });
    store.key_prefix(format!("sessionware-test-{:016x}:", rand::random::<u64>()))
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
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let err = RedisStore::connect(&format!("redis://127.0.0.1:{port}"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store);
    assert!(
        err.to_string().contains("could not connect to Redis"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// A Redis behind a proxy the test can cut, and an app on it.
async fn behind_proxy() -> (std::sync::Arc<Proxy>, Router) {
    let target = redis_url()
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let target = tokio::net::lookup_host(target)
        .await
        .unwrap()
        .next()
        .unwrap();
    let proxy = Proxy::start(target).await;
    let store = connect(&format!("redis://{}", proxy.addr)).await;
    let cutter = proxy.clone();
    let app = routes()
        .route(
            "/cut_then_insert",
            get(move |s: Session| async move {
                cutter.cut();
                s.insert("n", 99u64).unwrap();
            }),
        )
        .layer(SessionLayer::new(store, secret()).store_timeout(Duration::from_secs(1)));
    (proxy, app)
}

/// Polls `path` until it answers `want`, for at most 10 s: the app must
/// recover by itself once Redis is back.
async fn eventually(app: &Router, path: &str, cookie: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = send(app, path, Some(cookie)).await;
        if reply.body == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{path} still answers {:?} ({})",
            reply.body,
            reply.status
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Catalogue #50 and #57: Redis unreachable at load gives a degraded guest,
/// 200, no cookie, nothing written; once it is back, the session is intact.
#[tokio::test]
async fn case_50_and_57_outage_at_load_then_recovery() {
    let (proxy, app) = behind_proxy().await;
    let cookie = send(&app, "/insert", None).await.cookie_pair();
    proxy.cut();
    let reply = send(&app, "/degraded", Some(&cookie)).await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::OK, "true")
    );
    let reply = send(&app, "/insert", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.set_cookie(),
        None,
        "the user's cookie is not replaced"
    );
    proxy.restore();
    eventually(&app, "/get", &cookie, "Some(1)").await;
}

/// Catalogue #51: Redis lost after load, before save: 500, no new token;
/// after recovery the pre-request state is there.
#[tokio::test]
async fn case_51_outage_mid_request_is_a_500() {
    let (proxy, app) = behind_proxy().await;
    let cookie = send(&app, "/insert", None).await.cookie_pair();
    let reply = send(&app, "/cut_then_insert", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.set_cookie(), None);
    proxy.restore();
    eventually(&app, "/get", &cookie, "Some(1)").await;
}
