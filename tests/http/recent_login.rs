//! Recent-login checks through a `Router`: the sign-in time and method a
//! login records, `RecentlySignedIn` letting a fresh sign-in through and
//! sending an old one to re-authenticate (with `next`), `reauthenticate`
//! renewing it under a new cookie, and which session changes keep or drop it.

use crate::common;

use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use common::{key_of, secret, send};
use http::StatusCode;
use sessionware::{
    Guard, Login, MemoryStore, RecentlySignedIn, Session, SessionLayer, SessionStore,
};

fn routes() -> Router {
    Router::new()
        .route(
            "/login/{name}",
            get(|s: Session, Path(name): Path<String>| async move {
                s.login_with(Login::new(name).method("password"));
                "signed in"
            }),
        )
        .route(
            "/plain-login/{name}",
            get(|s: Session, Path(name): Path<String>| async move { s.login(name) }),
        )
        .route(
            "/sensitive",
            get(|RecentlySignedIn { user, .. }: RecentlySignedIn<10>| async move { user }),
        )
        .route(
            "/confirm",
            get(|s: Session| async move {
                s.reauthenticate_with("passkey");
                "confirmed"
            }),
        )
        .route(
            "/auth",
            get(|s: Session| async move {
                let age = s
                    .authenticated_at()
                    .map(|at| SystemTime::now().duration_since(at).unwrap_or_default());
                let fresh = age.map(|age| age < Duration::from_secs(60));
                format!("{:?} {fresh:?} {:?}", s.user(), s.authentication_method())
            }),
        )
        .route("/cycle", get(|s: Session| async move { s.cycle_id() }))
        .route(
            "/clear-keep",
            get(|s: Session| async move {
                s.clear();
                s.insert("cart", 1).unwrap();
                format!("{:?} {:?}", s.authenticated_at(), s.authentication_method())
            }),
        )
}

fn guarded(store: &MemoryStore, guard: Guard) -> Router {
    routes()
        .layer(guard)
        .layer(SessionLayer::new(store.clone(), secret()))
}

/// Signs `name` in and returns the cookie pair.
async fn login(app: &Router, name: &str) -> String {
    let reply = send(app, &format!("/login/{name}"), None).await;
    assert_eq!(reply.status, StatusCode::OK);
    reply.cookie_pair()
}

/// Moves the stored sign-in time of the session `pair` `by` into the past,
/// as if the login had happened then; returns the time it now holds.
async fn age(store: &MemoryStore, pair: &str, by: Duration) -> SystemTime {
    let key = key_of(pair);
    let mut record = SessionStore::load(store, &key).await.unwrap().unwrap();
    let at = record.authenticated_at.expect("a login records its time") - by;
    record.authenticated_at = Some(at);
    let version = record.version;
    record.version += 1;
    let saved = SessionStore::save(store, &key, &record, version).await;
    assert_eq!(saved.unwrap(), sessionware::store::SaveOutcome::Saved);
    at
}

async fn stored_auth(store: &MemoryStore, pair: &str) -> (Option<SystemTime>, Option<String>) {
    let record = SessionStore::load(store, &key_of(pair)).await.unwrap();
    let record = record.expect("the session is stored");
    (record.authenticated_at, record.authentication_method)
}

/// A login records when and how; the record keeps both, and a fresh login
/// passes the guard.
#[tokio::test]
async fn a_fresh_login_passes() {
    let store = MemoryStore::new();
    let app = guarded(&store, Guard::new().reauthenticate_path("/confirm"));
    let before = SystemTime::now() - Duration::from_millis(1);
    let pair = login(&app, "ferris").await;
    let (at, method) = stored_auth(&store, &pair).await;
    assert!(at.unwrap() >= before && at.unwrap() <= SystemTime::now());
    assert_eq!(method.as_deref(), Some("password"));
    let reply = send(&app, "/auth", Some(&pair)).await;
    assert_eq!(reply.body, r#"Some("ferris") Some(true) Some("password")"#);
    let reply = send(&app, "/sensitive", Some(&pair)).await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::OK, "ferris")
    );
}

/// A sign-in older than the window is sent to the re-authentication page
/// with its whole path and query as `next`; without one, to the login page;
/// without either, 401. The handler never runs.
#[tokio::test]
async fn an_old_login_must_reauthenticate() {
    let store = MemoryStore::new();
    let app = guarded(&store, Guard::new().reauthenticate_path("/confirm"));
    let pair = login(&app, "ferris").await;
    age(&store, &pair, Duration::from_secs(11 * 60)).await;
    let reply = send(&app, "/sensitive?x=1", Some(&pair)).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(
        reply.header("location"),
        Some("/confirm?next=%2Fsensitive%3Fx%3D1")
    );
    assert_eq!(reply.body, "");

    let to_login = guarded(&store, Guard::new().login_path("/login"));
    let reply = send(&to_login, "/sensitive", Some(&pair)).await;
    assert_eq!(reply.header("location"), Some("/login?next=%2Fsensitive"));
    let bare = guarded(&store, Guard::new());
    let reply = send(&bare, "/sensitive", Some(&pair)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);

    // Nine minutes old is still within ten.
    let pair = login(&app, "crab").await;
    age(&store, &pair, Duration::from_secs(9 * 60)).await;
    let reply = send(&app, "/sensitive", Some(&pair)).await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::OK, "crab")
    );
}

/// `reauthenticate` renews the sign-in time and records the new method,
/// keeps the user, and moves the session to a new cookie: the old one is a
/// guest from then on.
#[tokio::test]
async fn reauthenticate_renews_the_sign_in_under_a_new_cookie() {
    let store = MemoryStore::new();
    let app = guarded(&store, Guard::new().reauthenticate_path("/confirm"));
    let old = login(&app, "ferris").await;
    let aged = age(&store, &old, Duration::from_secs(3600)).await;
    assert_eq!(
        send(&app, "/sensitive", Some(&old)).await.status,
        StatusCode::SEE_OTHER
    );

    let reply = send(&app, "/confirm", Some(&old)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let new = reply.cookie_pair();
    assert_ne!(new, old, "a new id");
    let (at, method) = stored_auth(&store, &new).await;
    assert!(at.unwrap() > aged + Duration::from_secs(3000));
    assert_eq!(method.as_deref(), Some("passkey"));
    let reply = send(&app, "/sensitive", Some(&new)).await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::OK, "ferris")
    );
    assert_eq!(
        send(&app, "/sensitive", Some(&old)).await.status,
        StatusCode::UNAUTHORIZED
    );

    // A guest has nobody to re-authenticate: no session, no cookie.
    let reply = send(&app, "/confirm", None).await;
    assert_eq!(reply.set_cookie(), None);
}

/// A guest is turned away like by `SignedIn`; so is a session signed in
/// without a recorded time (a record written by an earlier version).
#[tokio::test]
async fn a_guest_or_an_unknown_sign_in_time_is_rejected() {
    let store = MemoryStore::new();
    let app = guarded(&store, Guard::new().reauthenticate_path("/confirm"));
    let reply = send(&app, "/sensitive", None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.set_cookie(), None);

    let pair = login(&app, "ferris").await;
    let key = key_of(&pair);
    let mut record = SessionStore::load(&store, &key).await.unwrap().unwrap();
    record.authenticated_at = None;
    record.authentication_method = None;
    let version = record.version;
    record.version += 1;
    SessionStore::save(&store, &key, &record, version)
        .await
        .unwrap();
    let reply = send(&app, "/sensitive", Some(&pair)).await;
    assert_eq!(reply.header("location"), Some("/confirm?next=%2Fsensitive"));
}

/// `cycle_id` keeps the sign-in time and method; a login as another user
/// replaces them; `clear` drops them (the data written after it is saved
/// without them).
#[tokio::test]
async fn cycle_keeps_the_sign_in_login_replaces_it_clear_drops_it() {
    let store = MemoryStore::new();
    let app = guarded(&store, Guard::new());
    let pair = login(&app, "ferris").await;
    let aged = age(&store, &pair, Duration::from_secs(3600)).await;

    let cycled = send(&app, "/cycle", Some(&pair)).await.cookie_pair();
    assert_ne!(cycled, pair);
    let (at, method) = stored_auth(&store, &cycled).await;
    assert_eq!((at, method.as_deref()), (Some(aged), Some("password")));

    let other = send(&app, "/plain-login/crab", Some(&cycled))
        .await
        .cookie_pair();
    let reply = send(&app, "/auth", Some(&other)).await;
    assert_eq!(reply.body, r#"Some("crab") Some(true) None"#);

    let reply = send(&app, "/clear-keep", Some(&other)).await;
    assert_eq!(reply.body, "None None");
    let pair = reply.set_cookie().map_or(other, |_| reply.cookie_pair());
    let record = SessionStore::load(&store, &key_of(&pair))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.owner, None);
    assert_eq!(record.authenticated_at, None);
    assert_eq!(record.authentication_method, None);
    assert_eq!(record.data.get::<u64>("cart").unwrap(), Some(1));
}

/// The cookie store carries the sign-in time and method in the sealed
/// record.
#[cfg(feature = "cookie-store")]
#[tokio::test]
async fn the_cookie_store_keeps_the_sign_in() {
    let app = routes()
        .layer(Guard::new())
        .layer(SessionLayer::sealed_cookies(secret()));
    let pair = login(&app, "ferris").await;
    let reply = send(&app, "/auth", Some(&pair)).await;
    assert_eq!(reply.body, r#"Some("ferris") Some(true) Some("password")"#);
    let reply = send(&app, "/sensitive", Some(&pair)).await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::OK, "ferris")
    );
    let renewed = send(&app, "/confirm", Some(&pair)).await.cookie_pair();
    let reply = send(&app, "/auth", Some(&renewed)).await;
    assert_eq!(reply.body, r#"Some("ferris") Some(true) Some("passkey")"#);
}
