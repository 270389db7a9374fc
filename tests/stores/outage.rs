//! Outages of a real store: down at start (a closed port), and cut mid-run by
//! a [`Proxy`] in front of it, with the test bodies every networked store
//! runs (an outage at load, an outage mid-request, idle connections closed).
#![allow(unreachable_pub)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use http::StatusCode;
use sessionware::{Error, ErrorKind, Session, SessionLayer, SessionStore};
use tokio::net::ToSocketAddrs;

use crate::common::{routes, secret, send};
use crate::proxy::Proxy;

/// A local port nothing listens on.
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Store down at start: `connect` fails with a store error, within 10 s
/// (never a hang). Returns the error for the caller's message checks.
pub async fn refused<T: std::fmt::Debug>(connect: impl Future<Output = Result<T, Error>>) -> Error {
    let started = Instant::now();
    let err = connect.await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store);
    assert!(started.elapsed() < Duration::from_secs(10));
    err
}

/// `url` with its host and port replaced by `addr`.
#[cfg(any(feature = "postgres-store", feature = "mysql-store"))] // the SQL suite's
pub fn via(url: &str, addr: std::net::SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let user = authority
        .rsplit_once('@')
        .map(|(user, _)| format!("{user}@"))
        .unwrap_or_default();
    format!("{scheme}://{user}{addr}/{path}")
}

/// A proxy to the first address `target` resolves to.
pub async fn proxy_to(target: impl ToSocketAddrs) -> Arc<Proxy> {
    let target = tokio::net::lookup_host(target)
        .await
        .unwrap()
        .next()
        .unwrap();
    Proxy::start(target).await
}

/// The test routes on `store` (reached through `proxy`), with a 1 s store
/// timeout and `/cut_then_insert`, which cuts the proxy after the load.
pub fn app_behind<S: SessionStore>(proxy: &Arc<Proxy>, store: S) -> Router {
    let cutter = proxy.clone();
    routes()
        .route(
            "/cut_then_insert",
            get(move |s: Session| async move {
                cutter.cut();
                s.insert("n", 99u64).unwrap();
            }),
        )
        .layer(SessionLayer::new(store, secret()).store_timeout(Duration::from_secs(1)))
}

/// Polls `path` until it answers `want`, for at most 10 s: the app must
/// recover by itself once the store is back.
pub async fn eventually(app: &Router, path: &str, cookie: &str, want: &str) {
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

/// The version of every row of a test's table, read (directly, not through
/// the proxy) only when awaited.
pub type Versions<'a> = Pin<Box<dyn Future<Output = Vec<u64>> + 'a>>;

/// The store unreachable at load gives a degraded guest, 200, no cookie,
/// nothing written; once it is back, the session is intact and the app works
/// again without a restart. With `versions` (a store whose rows the test can
/// read), the row is still at version 1 after the outage and the session goes
/// on from there.
pub async fn outage_at_load_then_recovery(
    proxy: &Proxy,
    app: &Router,
    versions: Option<Versions<'_>>,
) {
    let cookie = send(app, "/insert", None).await.cookie_pair();
    proxy.cut();
    let reply = send(app, "/degraded", Some(&cookie)).await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::OK, "true")
    );
    let reply = send(app, "/insert", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.set_cookie(),
        None,
        "the user's cookie is not replaced"
    );
    proxy.restore();
    eventually(app, "/get", &cookie, "Some(1)").await;
    if let Some(versions) = versions {
        assert_eq!(versions.await, [1], "nothing was written during the outage");
        assert_eq!(send(app, "/insert", Some(&cookie)).await.body, "2");
    }
}

/// The store lost after load, before save: 500, no new token; after recovery
/// the pre-request state is there. With `versions`, no partial record either:
/// the row is still at version 1, and the session goes on from there.
pub async fn outage_mid_request_is_a_500(
    proxy: &Proxy,
    app: &Router,
    versions: Option<Versions<'_>>,
) {
    let cookie = send(app, "/insert", None).await.cookie_pair();
    let reply = send(app, "/cut_then_insert", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.set_cookie(), None);
    proxy.restore();
    eventually(app, "/get", &cookie, "Some(1)").await;
    if let Some(versions) = versions {
        assert_eq!(versions.await, [1]);
        assert_eq!(send(app, "/insert", Some(&cookie)).await.body, "2");
    }
}

/// The server closes the app's idle connections (Redis' `timeout`, a
/// restarted proxy, a failover) while the store itself stays up. The next
/// request works at once, through a reconnect and at most one retry, and
/// answers from the real session; with `versions`, its save landed exactly
/// once (version 2, not 3).
pub async fn idle_connections_closed(proxy: &Proxy, app: &Router, versions: Option<Versions<'_>>) {
    let cookie = send(app, "/insert", None).await.cookie_pair();
    proxy.cut();
    proxy.restore();
    // Let the close reach the client while it is idle.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let reply = send(app, "/insert", Some(&cookie)).await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::OK, "2"),
        "the first request after the close"
    );
    if let Some(versions) = versions {
        assert_eq!(versions.await, [2], "the save landed exactly once");
    }
}
