//! What the layer may note about the client: the user-agent binding
//! (detection of a cookie replayed from another browser) and the metadata
//! kept at login for "your devices" lists.

use crate::common;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::{FaultyStore, Reply, routes, secret, send_request};
use http::{HeaderName, Request};
use sessionware::{MemoryStore, Session, SessionLayer, SessionStore, UserIndex};

async fn call(app: &Router, path: &str, agent: &str, cookie: Option<&str>) -> Reply {
    let mut request = Request::builder().uri(path).header("user-agent", agent);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    send_request(app, request.body(Body::empty()).unwrap()).await
}

/// A session bound to one user agent ends when another presents its cookie:
/// the record is deleted, so even the right browser is a guest afterwards.
#[tokio::test]
async fn a_cookie_from_another_user_agent_ends_the_session() {
    let store = FaultyStore::default();
    let app = routes().layer(SessionLayer::new(store.clone(), secret()).bind_user_agent(true));
    let cookie = call(&app, "/insert", "Firefox/140", None)
        .await
        .cookie_pair();
    assert_eq!(
        call(&app, "/get", "Firefox/140", Some(&cookie)).await.body,
        "Some(1)"
    );
    let stolen = call(&app, "/get", "curl/8.5", Some(&cookie)).await;
    assert_eq!((stolen.body.as_str(), stolen.set_cookie()), ("None", None));
    assert_eq!(
        store.inner.len(),
        0,
        "the session was ended, not just refused"
    );
    assert_eq!(
        call(&app, "/get", "Firefox/140", Some(&cookie)).await.body,
        "None"
    );
}

#[tokio::test]
async fn without_binding_a_new_user_agent_is_fine() {
    let app = routes().layer(SessionLayer::new(FaultyStore::default(), secret()));
    let cookie = call(&app, "/insert", "Firefox/140", None)
        .await
        .cookie_pair();
    assert_eq!(
        call(&app, "/get", "Firefox/141", Some(&cookie)).await.body,
        "Some(1)"
    );
}

/// Sessions written before the binding was turned on are bound by their next write.
#[tokio::test]
async fn unbound_sessions_are_bound_by_their_next_write() {
    let store = FaultyStore::default();
    let before = routes().layer(SessionLayer::new(store.clone(), secret()));
    let cookie = call(&before, "/insert", "Safari/18", None)
        .await
        .cookie_pair();
    let bound = routes().layer(SessionLayer::new(store.clone(), secret()).bind_user_agent(true));
    assert_eq!(
        call(&bound, "/get", "Edge/130", Some(&cookie)).await.body,
        "Some(1)"
    );
    assert_eq!(
        call(&bound, "/insert", "Safari/18", Some(&cookie))
            .await
            .body,
        "2"
    );
    assert_eq!(
        call(&bound, "/get", "Edge/130", Some(&cookie)).await.body,
        "None"
    );
}

#[cfg(feature = "cookie-store")]
#[tokio::test]
async fn a_sealed_cookie_from_another_user_agent_is_a_guest() {
    let layer = SessionLayer::sealed_cookies(secret()).bind_user_agent(true);
    let app = routes().layer(layer);
    let cookie = call(&app, "/insert", "Firefox/140", None)
        .await
        .cookie_pair();
    assert_eq!(
        call(&app, "/get", "Firefox/140", Some(&cookie)).await.body,
        "Some(1)"
    );
    assert_eq!(
        call(&app, "/get", "curl/8.5", Some(&cookie)).await.body,
        "None"
    );
}

/// With `login_metadata`, a login notes the user agent and the address the
/// trusted proxy saw; without it, nothing is kept.
#[tokio::test]
async fn login_metadata_is_kept_only_when_asked() {
    let signin = |s: Session| async move { s.login("ferris") };
    for (on, expected_agent) in [(true, Some("Firefox/140")), (false, None)] {
        let store = MemoryStore::new();
        let layer = SessionLayer::new(store.clone(), secret())
            .login_metadata(on)
            .client_ip_header(HeaderName::from_static("x-forwarded-for"));
        let app = Router::new().route("/signin", get(signin)).layer(layer);
        let request = Request::builder()
            .uri("/signin")
            .header("user-agent", "Firefox/140")
            .header("x-forwarded-for", "198.51.100.1, 203.0.113.9")
            .body(Body::empty())
            .unwrap();
        send_request(&app, request).await.cookie_pair();
        let sessions = store.sessions("ferris").await.unwrap();
        assert_eq!(sessions.len(), 1);
        let metadata = sessions[0].metadata.clone();
        assert_eq!(
            metadata.as_ref().and_then(|m| m.user_agent.as_deref()),
            expected_agent
        );
        let ip = metadata.and_then(|m| m.ip).map(|ip| ip.to_string());
        assert_eq!(ip.as_deref(), on.then_some("203.0.113.9"));
        assert!(store.user_index().is_some());
    }
}

/// `bind_user_agent` alone binds the session to a digest of the user agent
/// and keeps no personal data: no user agent, no address in the listing.
#[tokio::test]
async fn binding_the_user_agent_alone_keeps_no_personal_data() {
    let store = MemoryStore::new();
    let layer = SessionLayer::new(store.clone(), secret())
        .bind_user_agent(true)
        .client_ip_header(HeaderName::from_static("x-forwarded-for"));
    let app = Router::new()
        .route(
            "/signin",
            get(|s: Session| async move { s.login("ferris") }),
        )
        .layer(layer);
    let request = Request::builder()
        .uri("/signin")
        .header("user-agent", "Firefox/140")
        .header("x-forwarded-for", "203.0.113.9")
        .body(Body::empty())
        .unwrap();
    send_request(&app, request).await.cookie_pair();
    let sessions = store.sessions("ferris").await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].metadata, None);
    let shown = format!("{sessions:?}");
    assert!(
        !shown.contains("Firefox") && !shown.contains("203.0.113.9"),
        "{shown}"
    );
}

/// With the `connect-info` feature and no `client_ip_header`, `login_metadata`
/// notes the socket's address, as axum's `ConnectInfo` gives it.
#[cfg(feature = "connect-info")]
#[tokio::test]
async fn login_metadata_notes_the_socket_address_with_connect_info() {
    let store = MemoryStore::new();
    let layer = SessionLayer::new(store.clone(), secret())
        .secure(false)
        .login_metadata(true);
    let app = Router::new()
        .route(
            "/signin",
            get(|s: Session| async move { s.login("ferris") }),
        )
        .layer(layer);
    let addr = crate::common::serve::serve(app).await;
    let reply = crate::common::serve::get(addr, "/signin", &[("user-agent", b"Firefox/140")]).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let sessions = store.sessions("ferris").await.unwrap();
    assert_eq!(sessions.len(), 1);
    let ip = sessions[0].metadata.as_ref().and_then(|m| m.ip);
    assert_eq!(ip.map(|ip| ip.to_string()).as_deref(), Some("127.0.0.1"));
}
