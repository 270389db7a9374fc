//! The per-request cost of sessionware, measured through a real `axum::Router`.
//!
//! Each request goes through `tower::ServiceExt::oneshot` on a current-thread
//! tokio runtime, with the `MemoryStore`. Four groups, one per scenario; each
//! compares bare axum (the same route without any session layer), axum with
//! tower-sessions 0.15, and axum with sessionware:
//!
//! * `ignore`: the handler does not take the session; a valid cookie is sent.
//! * `read`: the handler reads one key of an existing session (cookie
//!   verification and one store load).
//! * `write`: the handler increments one key of an existing session
//!   (verification, load, and a versioned save).
//! * `new`: no cookie is sent and the handler inserts one key, so every
//!   request creates a session and gets a `Set-Cookie`.
//!
//! Run from `perf/` with `cargo bench --bench request_path` (about a minute);
//! add a filter such as `-- read` to run one group.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{BenchmarkGroup, Criterion, measurement::WallTime};
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderValue, Request, StatusCode};
use tokio::runtime::Runtime;
use tower::ServiceExt as _;

/// A 64-byte secret: bench-only; never use a fixed secret (generate one with
/// `openssl rand -hex 64`).
fn secret() -> Vec<u8> {
    const HEX: &str = "0703ac1333f08af316890faadd10edd3985cb6998d1f05b9b8ea2a9c6095a307\
                       5c54529fe62652588a8eba7383131d7f78b61c85a44cca48654dd6e9657bd2e7";
    (0..HEX.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&HEX[i..i + 2], 16).unwrap())
        .collect()
}

/// Routes of the same shape as the session apps, but without any session.
fn bare_app() -> Router {
    async fn ok() -> &'static str {
        "ok"
    }
    Router::new()
        .route("/ignore", get(ok))
        .route("/read", get(ok))
        .route("/write", get(ok))
        .route("/new", get(ok))
}

fn sessionware_app() -> Router {
    use sessionware::{Error, MemoryStore, Session, SessionLayer};

    async fn ignore() -> &'static str {
        "ok"
    }
    async fn read(session: Session) -> Result<String, Error> {
        let n: u64 = session.get("n")?.unwrap_or(0);
        Ok(n.to_string())
    }
    async fn write(session: Session) -> Result<String, Error> {
        let n: u64 = session.get("n")?.unwrap_or(0);
        session.insert("n", n + 1)?;
        Ok(n.to_string())
    }
    async fn new(session: Session) -> Result<&'static str, Error> {
        session.insert("n", 0u64)?;
        Ok("ok")
    }
    Router::new()
        .route("/ignore", get(ignore))
        .route("/read", get(read))
        .route("/write", get(write))
        .route("/new", get(new))
        .layer(SessionLayer::new(MemoryStore::new(), secret()).secure(false))
}

fn tower_sessions_app() -> Router {
    use tower_sessions::{MemoryStore, Session, SessionManagerLayer};

    async fn ignore() -> &'static str {
        "ok"
    }
    async fn read(session: Session) -> Result<String, StatusCode> {
        let n: Option<u64> = session
            .get("n")
            .await
            .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
        Ok(n.unwrap_or(0).to_string())
    }
    async fn write(session: Session) -> Result<String, StatusCode> {
        let fail = |_| StatusCode::INTERNAL_SERVER_ERROR;
        let n: u64 = session.get("n").await.map_err(fail)?.unwrap_or(0);
        session.insert("n", n + 1).await.map_err(fail)?;
        Ok(n.to_string())
    }
    async fn new(session: Session) -> Result<&'static str, StatusCode> {
        session
            .insert("n", 0u64)
            .await
            .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
        Ok("ok")
    }
    Router::new()
        .route("/ignore", get(ignore))
        .route("/read", get(read))
        .route("/write", get(write))
        .route("/new", get(new))
        .layer(SessionManagerLayer::new(MemoryStore::default()).with_secure(false))
}

fn request(path: &str, cookie: Option<&HeaderValue>) -> Request<Body> {
    let mut request = Request::get(path).body(Body::empty()).unwrap();
    if let Some(cookie) = cookie {
        request.headers_mut().insert(COOKIE, cookie.clone());
    }
    request
}

/// Creates a session through `/write` and returns its `name=value` cookie
/// pair; for an app without sessions, a dummy pair of the same length as
/// sessionware's, so every app parses the same `Cookie` header.
fn session_cookie(rt: &Runtime, app: &Router) -> HeaderValue {
    let response = rt
        .block_on(app.clone().oneshot(request("/write", None)))
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    match response.headers().get(SET_COOKIE) {
        Some(set_cookie) => {
            let pair = set_cookie.to_str().unwrap().split(';').next().unwrap();
            HeaderValue::from_str(pair).unwrap()
        }
        None => HeaderValue::from_str(&format!("id={}", "x".repeat(87))).unwrap(),
    }
}

/// The apps under comparison, by the name their results are filed under.
///
/// `with_state(())` turns every handler into a finished route once, as
/// `axum::serve` does per connection; a bare `Router<()>` called as a service
/// would instead apply the layers again on every request.
fn apps() -> [(&'static str, Router); 3] {
    [
        ("bare_axum", bare_app().with_state(())),
        ("tower_sessions", tower_sessions_app().with_state(())),
        ("sessionware", sessionware_app().with_state(())),
    ]
}

fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group
}

/// One group: every app answers `path`, with its own session cookie when
/// `with_cookie`, and every response must be 200.
fn scenario(c: &mut Criterion, rt: &Runtime, path: &'static str, with_cookie: bool) {
    let mut group = group(c, path.trim_start_matches('/'));
    for (name, app) in apps() {
        let cookie = with_cookie.then(|| session_cookie(rt, &app));
        group.bench_function(name, |b| {
            b.to_async(rt).iter(|| {
                let app = app.clone();
                let request = request(path, cookie.as_ref());
                async move {
                    let response = app.oneshot(request).await.unwrap();
                    assert_eq!(response.status(), StatusCode::OK, "{name} {path}");
                    response
                }
            });
        });
    }
    group.finish();
}

fn request_path(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    scenario(c, &rt, "/ignore", true);
    scenario(c, &rt, "/read", true);
    scenario(c, &rt, "/write", true);
    scenario(c, &rt, "/new", false);
}

// What `criterion_group!`/`criterion_main!` expand to, minus the undocumented
// `pub fn` that the crate's `missing_docs` lint would reject.
fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    request_path(&mut criterion);
    criterion.final_summary();
}
