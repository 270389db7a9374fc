//! Route guards through a `Router`: `SignedIn` and `MaybeSignedIn`, the
//! login redirect and its `next` (never an open redirect), the
//! `RequireSignInLayer` on a nested router, and the 503 of a degraded store.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query};
use axum::response::Redirect;
use axum::routing::get;
use common::{Faults, FaultyStore, Reply, secret, send};
use http::StatusCode;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use sessionware::{
    Guard, MaybeSignedIn, RecentlySignedIn, RequireSignInLayer, Session, SessionLayer,
    SessionRequired, SignedIn, safe_next,
};

#[derive(serde::Deserialize)]
struct Next {
    next: Option<String>,
}

/// Counts the requests that reached the guarded handlers.
#[derive(Clone, Default)]
struct Reached(Arc<AtomicUsize>);

impl Reached {
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
    fn hit(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// The app's routes, without the outer layers.
fn routes(reached: &Reached) -> Router {
    let (admin_hits, checkout_hits) = (reached.clone(), reached.clone());
    let sensitive_hits = reached.clone();
    let admin = Router::new()
        .route(
            "/users",
            get(move || async move {
                admin_hits.hit();
                "the user list"
            }),
        )
        .route_layer(RequireSignInLayer::new());
    let shop = Router::new().route(
        "/cart",
        get(|signed_in: SignedIn| async move { format!("cart of {}", signed_in.user) }),
    );
    let api = Router::new()
        .route(
            "/me",
            get(|signed_in: SignedIn| async move { signed_in.user }),
        )
        .layer(Guard::new());
    Router::new()
        .route(
            "/account",
            get(|SignedIn { user, .. }: SignedIn| async move { format!("hello {user}") }),
        )
        .route(
            "/account/settings",
            get(|SignedIn { user, .. }: SignedIn| async move { format!("settings of {user}") }),
        )
        .route(
            "/maybe",
            get(|maybe: MaybeSignedIn| async move { format!("{:?}", maybe.user) }),
        )
        .route(
            "/checkout",
            get(
                move |SessionRequired(session): SessionRequired| async move {
                    checkout_hits.hit();
                    session.insert("ordered", true).unwrap();
                    "ordered"
                },
            ),
        )
        .route(
            "/sensitive",
            get(move |recent: RecentlySignedIn<10>| async move {
                sensitive_hits.hit();
                format!("sensitive for {}", recent.user)
            }),
        )
        .route(
            "/signin/{name}",
            get(|session: Session, Path(name): Path<String>| async move {
                session.login(name);
                "signed in"
            }),
        )
        .route(
            "/login",
            get(|session: Session, Query(query): Query<Next>| async move {
                session.login("ferris");
                Redirect::to(query.next.as_deref().and_then(safe_next).unwrap_or("/"))
            }),
        )
        .nest("/admin", admin)
        .nest("/shop", shop)
        .nest("/api", api)
}

fn app_with(store: FaultyStore, guard: Option<Guard>, reached: &Reached) -> Router {
    let routes = routes(reached);
    let routes = match guard {
        Some(guard) => routes.layer(guard),
        None => routes,
    };
    routes.layer(SessionLayer::new(store, secret()))
}

/// The app with a login page at `/login`.
fn app() -> (Router, Reached) {
    let reached = Reached::default();
    let guard = Guard::new().login_path("/login");
    (
        app_with(FaultyStore::default(), Some(guard), &reached),
        reached,
    )
}

async fn signed_in(app: &Router, user: &str) -> String {
    send(app, &format!("/signin/{user}"), None)
        .await
        .cookie_pair()
}

fn assert_turned_away(reply: &Reply, status: StatusCode) {
    assert_eq!(reply.status, status, "{reply:?}");
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(reply.set_cookie(), None);
}

#[tokio::test]
async fn a_guest_on_a_signed_in_route_gets_401_without_cookie_or_caching() {
    let reached = Reached::default();
    let store = FaultyStore::default();
    let app = app_with(store.clone(), None, &reached);
    let reply = send(&app, "/account", None).await;
    assert_turned_away(&reply, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.body, "Sign-in required");
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(reply.header("location"), None);
    assert_eq!(store.faults.writes(), 0);
}

#[tokio::test]
async fn a_signed_in_user_gets_their_id() {
    let (app, _) = app();
    let cookie = signed_in(&app, "ferris").await;
    let reply = send(&app, "/account", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "hello ferris");
}

#[tokio::test]
async fn with_a_login_path_a_guest_is_redirected_with_the_encoded_next() {
    let (app, _) = app();
    let reply = send(&app, "/account/settings?tab=2", None).await;
    assert_turned_away(&reply, StatusCode::SEE_OTHER);
    assert_eq!(
        reply.header("location"),
        Some("/login?next=%2Faccount%2Fsettings%3Ftab%3D2")
    );
}

#[tokio::test]
async fn the_login_round_trip_returns_to_the_page_asked_for() {
    let (app, _) = app();
    let reply = send(&app, "/account/settings?tab=2", None).await;
    let login = reply.header("location").unwrap().to_owned();

    let reply = send(&app, &login, None).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.header("location"), Some("/account/settings?tab=2"));
    let cookie = reply.cookie_pair();

    let reply = send(&app, "/account/settings?tab=2", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "settings of ferris");
}

#[tokio::test]
async fn the_login_page_never_redirects_off_the_site() {
    let (app, _) = app();
    let hostile = [
        "//evil.example",
        "https://evil.example",
        "/\\evil.example",
        "/%2F%2Fevil.example",
        "/%2f%2fevil.example",
        "/%5Cevil.example",
        "/%09/evil.example",
        "\t//evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "evil.example",
    ];
    for next in hostile {
        assert_eq!(safe_next(next), None, "{next:?}");
        let query = utf8_percent_encode(next, NON_ALPHANUMERIC);
        let reply = send(&app, &format!("/login?next={query}"), None).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(reply.header("location"), Some("/"), "{next:?}");
    }
    // Not decoded by the query parser either: the raw form is refused too.
    let reply = send(&app, "/login?next=/%252F%252Fevil.example", None).await;
    assert_eq!(reply.header("location"), Some("/"));

    let good = "/account/settings?tab=2";
    assert_eq!(safe_next(good), Some(good));
    let query = utf8_percent_encode(good, NON_ALPHANUMERIC);
    let reply = send(&app, &format!("/login?next={query}"), None).await;
    assert_eq!(reply.header("location"), Some(good));
}

#[tokio::test]
async fn a_request_path_that_could_leave_the_site_gets_no_next() {
    // The whole router guarded (`layer`, not `route_layer`), so that even
    // the fallback of an odd path answers with the login redirect.
    let guard = Guard::new().login_path("/login");
    let app = Router::new()
        .fallback(|| async { "fallback" })
        .layer(RequireSignInLayer::new())
        .layer(guard)
        .layer(SessionLayer::new(FaultyStore::default(), secret()));
    let addr = common::serve::serve(app).await;
    for path in [
        "//evil.example",
        "//evil.example/x?y=1",
        "/%2F%2Fevil.example",
        "/%5Cevil.example",
    ] {
        let (status, location) = raw_get(addr, path).await;
        assert_eq!(status, "303", "{path}");
        assert_eq!(location.as_deref(), Some("/login"), "{path}");
    }
    let (status, location) = raw_get(addr, "/ok?a=1").await;
    assert_eq!(status, "303");
    assert_eq!(location.as_deref(), Some("/login?next=%2Fok%3Fa%3D1"));
}

/// The status and `Location` of a raw `GET path` over TCP, sent as is (the
/// serve helper keeps only `Set-Cookie` among the headers).
async fn raw_get(addr: std::net::SocketAddr, path: &str) -> (String, Option<String>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw);
    let mut lines = text.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().to_owned();
    let location = lines.take_while(|line| !line.is_empty()).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("location")
            .then(|| value.trim().to_owned())
    });
    (status, location)
}

#[tokio::test]
async fn maybe_signed_in_serves_guests_and_users_and_sets_no_cookie() {
    let (app, _) = app();
    let reply = send(&app, "/maybe", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "None");
    assert_eq!(reply.set_cookie(), None);

    let cookie = signed_in(&app, "ferris").await;
    let reply = send(&app, "/maybe", Some(&cookie)).await;
    assert_eq!(reply.body, r#"Some("ferris")"#);
    assert_eq!(reply.set_cookie(), None);
}

#[tokio::test]
async fn the_layer_keeps_guests_out_of_a_nested_router() {
    let (app, reached) = app();
    let reply = send(&app, "/admin/users?page=2", None).await;
    assert_turned_away(&reply, StatusCode::SEE_OTHER);
    assert_eq!(
        reply.header("location"),
        Some("/login?next=%2Fadmin%2Fusers%3Fpage%3D2"),
        "the next of a nested route is the whole original path"
    );
    assert_eq!(reached.count(), 0, "the inner service never ran");

    let cookie = signed_in(&app, "ferris").await;
    let reply = send(&app, "/admin/users", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "the user list");
    assert_eq!(reached.count(), 1);

    // An unknown path under the guarded router is still a 404.
    let reply = send(&app, "/admin/nothing", None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_layer_without_a_guard_answers_401() {
    let reached = Reached::default();
    let app = app_with(FaultyStore::default(), None, &reached);
    let reply = send(&app, "/admin/users", None).await;
    assert_turned_away(&reply, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.body, "Sign-in required");
    assert_eq!(reached.count(), 0);
}

#[tokio::test]
async fn a_nested_signed_in_route_redirects_with_the_full_path() {
    let (app, _) = app();
    let reply = send(&app, "/shop/cart", None).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.header("location"), Some("/login?next=%2Fshop%2Fcart"));
    let cookie = signed_in(&app, "ferris").await;
    let reply = send(&app, "/shop/cart", Some(&cookie)).await;
    assert_eq!(reply.body, "cart of ferris");
}

#[tokio::test]
async fn an_inner_guard_without_login_path_answers_401_for_its_routes() {
    let (app, _) = app();
    let reply = send(&app, "/api/me", None).await;
    assert_turned_away(&reply, StatusCode::UNAUTHORIZED);
    let reply = send(&app, "/account", None).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_layer_without_session_layer_names_the_fix() {
    let app = Router::new()
        .route("/", get(|| async { "secret" }))
        .route_layer(RequireSignInLayer::new());
    let reply = send(&app, "/", None).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(reply.body.contains("`SessionLayer`"), "{}", reply.body);
    assert_ne!(reply.body, "secret");

    let app = Router::new().route("/", get(|s: SignedIn| async move { s.user }));
    let reply = send(&app, "/", None).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(reply.body.contains("`SessionLayer`"), "{}", reply.body);
}

#[tokio::test]
async fn a_degraded_store_gets_503_with_retry_after_and_no_handler_runs() {
    let (store, reached) = (FaultyStore::default(), Reached::default());
    let app = app_with(
        store.clone(),
        Some(Guard::new().login_path("/login")),
        &reached,
    );
    let cookie = signed_in(&app, "ferris").await;
    Faults::set(&store.faults.fail_load, true);

    for path in ["/checkout", "/account", "/admin/users", "/sensitive"] {
        let reply = send(&app, path, Some(&cookie)).await;
        assert_turned_away(&reply, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(reply.header("retry-after"), Some("5"), "{path}");
        assert_eq!(reply.body, "Session store unavailable; retry later");
    }
    // Without a cookie there is nothing to load: a guest, sent to log in.
    let reply = send(&app, "/account", None).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reached.count(), 0, "no guarded handler ran");

    Faults::set(&store.faults.fail_load, false);
    let reply = send(&app, "/checkout", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = send(&app, "/account", Some(&cookie)).await;
    assert_eq!(
        reply.body, "hello ferris",
        "the session outlived the outage"
    );
    let reply = send(&app, "/sensitive", Some(&cookie)).await;
    assert_eq!(reply.body, "sensitive for ferris", "a fresh sign-in passes");
}

#[tokio::test]
async fn the_retry_after_of_the_503_is_configurable() {
    let (store, reached) = (FaultyStore::default(), Reached::default());
    let guard = Guard::new().retry_after(Duration::from_secs(30));
    let app = app_with(store.clone(), Some(guard), &reached);
    let cookie = signed_in(&app, "ferris").await;
    Faults::set(&store.faults.fail_load, true);
    let reply = send(&app, "/checkout", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{reply:?}");
    assert_eq!(reply.header("retry-after"), Some("30"));
    assert_eq!(reached.count(), 0);
}

#[tokio::test]
async fn session_required_lets_a_guest_through_when_the_store_works() {
    let (app, reached) = app();
    let reply = send(&app, "/checkout", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "ordered");
    assert!(reply.set_cookie().is_some());
    assert_eq!(reached.count(), 1);
}
