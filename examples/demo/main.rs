//! A small server-rendered web app on sessionware: sign up and log in (with
//! "remember me" or for the browser session), a counter, flash messages after
//! every action, a "your devices" page with "sign out this device" and "sign
//! out everywhere else", a settings page that asks for a sign-in of the last
//! minute (else the password again) where a password change signs out every
//! other device, and log out. Forms are protected against CSRF by
//! tower-http's `CsrfLayer` (the `Origin` / `Sec-Fetch-Site` checks).
//!
//! ```sh
//! cargo run --example demo
//! # then open http://127.0.0.1:3000
//! ```
//!
//! It keeps sessions in the `MemoryStore`. With `DEMO_STORE=redis`,
//! `postgres` or `sqlite` (and the matching cargo feature, e.g.
//! `--features redis-store`) it uses that store instead, from `REDIS_URL`,
//! `DATABASE_URL` or `SQLITE_PATH` (defaults: the local services, and
//! `demo-sessions.db`). `DEMO_ADDR` changes the address (default
//! `127.0.0.1:3000`). The cookie is sent over plain HTTP (`secure(false)`)
//! because the demo serves plain HTTP on localhost: keep the default in
//! production, behind HTTPS.

mod pages;
mod routes;
mod users;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::{Next, from_fn};
use axum::response::Response;
use axum::routing::{get, post};
use sessionware::{Guard, SessionLayer, SessionStore, insecure_dev_secret};
use tower_http::csrf::CsrfLayer;

use crate::routes::App;
use crate::users::Users;

/// The header the demo's own middleware fills with the socket's address, for
/// the devices page (behind a proxy, name the proxy's header instead).
const CLIENT_IP: &str = "x-demo-client-ip";

/// Puts the socket's address in [`CLIENT_IP`], replacing whatever the
/// client sent there.
async fn client_ip(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    let value =
        HeaderValue::from_str(&peer.ip().to_string()).expect("an address is a header value");
    request.headers_mut().insert(CLIENT_IP, value);
    next.run(request).await
}

/// The session layer over `store`: from `SESSIONWARE_*` variables when a
/// secret is set, else with a random development secret. Sessions signed in
/// under an old password end at their next request.
fn layer(store: impl SessionStore, users: &Users) -> SessionLayer {
    let layer = match std::env::var_os("SESSIONWARE_SECRET") {
        Some(_) => SessionLayer::from_env(store).unwrap_or_else(|err| panic!("{err}")),
        None => SessionLayer::new(store, insecure_dev_secret()),
    };
    // Plain HTTP on localhost for the demo; keep the default (true) in production.
    let users = users.clone();
    layer
        .secure(false)
        .login_metadata(true)
        .client_ip_header(HeaderName::from_static(CLIENT_IP))
        .credential_check(move |user: String| {
            let stamp = users.stamp(&user).map(|stamp| stamp.to_string());
            async move { Ok(stamp) }
        })
}

/// The store `DEMO_STORE` names.
async fn session_layer(users: &Users) -> SessionLayer {
    let store = std::env::var("DEMO_STORE").unwrap_or_else(|_| "memory".into());
    match store.as_str() {
        "memory" => layer(sessionware::MemoryStore::new().max_sessions(100_000), users),
        #[cfg(feature = "redis-store")]
        "redis" => {
            let url =
                std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
            let store = sessionware::RedisStore::connect(&url)
                .await
                .unwrap_or_else(|err| panic!("{err}"));
            layer(store.key_prefix("sessionware-demo:"), users)
        }
        #[cfg(feature = "postgres-store")]
        "postgres" => {
            let url = std::env::var("DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
            let store = sessionware::PostgresStore::connect(&url)
                .await
                .unwrap_or_else(|err| panic!("{err}"));
            store.migrate().await.unwrap_or_else(|err| panic!("{err}"));
            layer(store, users)
        }
        #[cfg(feature = "sqlite-store")]
        "sqlite" => {
            let path = std::env::var("SQLITE_PATH").unwrap_or_else(|_| "demo-sessions.db".into());
            let store = sessionware::SqliteStore::open(&path)
                .await
                .unwrap_or_else(|err| panic!("{err}"));
            store.migrate().await.unwrap_or_else(|err| panic!("{err}"));
            layer(store, users)
        }
        other => panic!(
            "DEMO_STORE={other}: expected memory, redis, postgres or sqlite (with its cargo feature)"
        ),
    }
}

/// The demo's routes, guarded, CSRF-protected and with sessions.
pub(crate) fn app(users: Users, sessions: SessionLayer) -> Router {
    Router::new()
        .route("/", get(routes::home))
        .route("/count", post(routes::count))
        .route("/signup", get(routes::signup_page).post(routes::signup))
        .route("/login", get(routes::login_page).post(routes::login))
        .route("/logout", post(routes::logout))
        .route("/devices", get(routes::devices))
        .route("/devices/revoke-others", post(routes::revoke_others))
        .route("/devices/{handle}/revoke", post(routes::revoke_device))
        .route("/settings", get(routes::settings))
        .route("/settings/password", post(routes::change_password))
        .route("/reauth", get(routes::reauth_page).post(routes::reauth))
        .with_state(App { users })
        .layer(CsrfLayer::new())
        .layer(
            Guard::new()
                .login_path("/login")
                .reauthenticate_path("/reauth"),
        )
        .layer(sessions)
        .layer(from_fn(client_ip))
}

#[tokio::main]
async fn main() {
    let addr: SocketAddr = std::env::var("DEMO_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:3000".into())
        .parse()
        .expect("DEMO_ADDR is an address such as 127.0.0.1:3000");
    let users = Users::default();
    let app = app(users.clone(), session_layer(&users).await);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .unwrap_or_else(|err| panic!("cannot listen on {addr}: {err}"));
    println!("sessionware demo on http://{addr}");
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service).await.expect("server runs");
}
