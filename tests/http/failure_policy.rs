//! The failure policy through real requests: which statuses save the
//! session (`SessionLayer::save_policy`), and what answers a failed save
//! (`SessionLayer::on_save_failure` and its default).

use crate::common;

use std::borrow::Cow;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::{Faults, FaultyStore, routes, secret, send};
use http::{Request, Response, StatusCode};
use sessionware::{ErrorKind, Expiry, PendingSession, SavePolicy, Session, SessionLayer};
use tower::{ServiceBuilder, ServiceExt as _};

/// The default answer's body, as documented on `on_save_failure`.
const SAVE_FAILED: &str = "The session could not be saved; please retry.";

/// `routes()` plus handlers that change the session and then answer an
/// error status.
fn app_with(store: FaultyStore, layer: impl FnOnce(SessionLayer) -> SessionLayer) -> Router {
    routes()
        .route(
            "/reject",
            get(|s: Session| async move {
                s.insert("n", 99u64).unwrap();
                StatusCode::UNPROCESSABLE_ENTITY
            }),
        )
        .route(
            "/destroy_forbidden",
            get(|s: Session| async move {
                s.destroy();
                StatusCode::FORBIDDEN
            }),
        )
        .route(
            "/read_crash",
            get(|s: Session| async move {
                let _ = s.get::<u64>("n");
                StatusCode::INTERNAL_SERVER_ERROR
            }),
        )
        .layer(layer(SessionLayer::new(store, secret())))
}

fn app(store: FaultyStore) -> Router {
    app_with(store, |layer| layer)
}

/// A session holding `n = 1`, and its cookie pair.
async fn with_session(app: &Router) -> String {
    let reply = send(app, "/insert", None).await;
    assert_eq!(reply.body, "1");
    reply.cookie_pair()
}

#[tokio::test]
async fn a_failed_save_answers_500_with_a_short_text_and_no_cookie() {
    let store = FaultyStore::default();
    let app = app(store.clone());
    let cookie = with_session(&app).await;
    Faults::set(&store.faults.fail_write, true);
    for (what, cookie) in [("a save", Some(cookie.as_str())), ("a create", None)] {
        let reply = send(&app, "/insert", cookie).await;
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR, "{what}");
        assert_eq!(
            reply.body, SAVE_FAILED,
            "{what}: the handler's body is replaced"
        );
        assert_eq!(
            reply.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        assert_eq!(reply.header("vary"), Some("cookie"));
        assert_eq!(reply.set_cookie(), None, "{what}");
        assert!(
            !reply.body.contains("injected"),
            "the store's error stays in the log"
        );
    }
    Faults::set(&store.faults.fail_write, false);
    assert_eq!(
        send(&app, "/get", Some(&cookie)).await.body,
        "Some(1)",
        "the session is as it was before the failed request"
    );
}

#[tokio::test]
async fn a_custom_save_failure_answer_replaces_the_default_but_never_sets_a_cookie() {
    let store = FaultyStore::default();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kinds = seen.clone();
    let app = app_with(store.clone(), |layer| {
        layer.on_save_failure(move |err| {
            kinds.lock().unwrap().push(err.kind());
            Response::builder()
                .status(StatusCode::SERVICE_UNAVAILABLE)
                .header("retry-after", "7")
                .header("content-type", "application/json")
                .header("cache-control", "public, max-age=600")
                .header("set-cookie", "other=1")
                .body(r#"{"error":"session_unavailable"}"#.into())
                .unwrap()
        })
    });
    let cookie = with_session(&app).await;
    Faults::set(&store.faults.fail_write, true);
    let reply = send(&app, "/insert", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.body, r#"{"error":"session_unavailable"}"#);
    assert_eq!(reply.header("retry-after"), Some("7"));
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(
        reply.header("cache-control"),
        Some("no-store"),
        "the layer's no-store wins"
    );
    assert_eq!(reply.header("vary"), Some("cookie"));
    assert_eq!(
        reply.set_cookie(),
        None,
        "not even the builder's own cookie"
    );
    assert_eq!(*seen.lock().unwrap(), [ErrorKind::Store]);
}

#[tokio::test]
async fn a_custom_answer_with_a_success_status_becomes_a_500() {
    let store = FaultyStore::default();
    let app = app_with(store.clone(), |layer| {
        layer.on_save_failure(|_| Response::new(Cow::Borrowed("all good")))
    });
    Faults::set(&store.faults.fail_write, true);
    let reply = send(&app, "/insert", None).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.body, "all good");
    assert_eq!(reply.set_cookie(), None);
}

/// A save that runs past `store_timeout` is a failed save like any other.
#[tokio::test]
async fn a_timed_out_save_gets_the_save_failure_answer() {
    let store = FaultyStore::default();
    let app = app_with(store.clone(), |layer| {
        layer
            .store_timeout(Duration::from_millis(100))
            .on_save_failure(|err| {
                let status = match err.kind() {
                    ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
                    _ => StatusCode::INTERNAL_SERVER_ERROR,
                };
                Response::builder().status(status).body("".into()).unwrap()
            })
    });
    Faults::set(&store.faults.hang, true);
    let reply = send(&app, "/insert", None).await;
    assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(reply.set_cookie(), None);
    assert_eq!(store.inner.len(), 0);
}

/// A handler on a plain tower service that changes the session, with a
/// body of type `B`.
async fn count<B: From<&'static str>>(request: Request<()>) -> Result<Response<B>, Infallible> {
    let session = request.extensions().get::<PendingSession>().cloned();
    let session = session.expect("layer installed").load().await;
    session.insert("n", 1u64).unwrap();
    Ok(Response::new(B::from("counted")))
}

/// `String` bodies carry the text; a body type the layer cannot fill
/// (here `()`) keeps status and headers over an empty body.
#[tokio::test]
async fn a_plain_tower_service_gets_the_answer_its_body_type_can_hold() {
    let store = FaultyStore::default();
    Faults::set(&store.faults.fail_write, true);
    let layer = SessionLayer::new(store.clone(), secret());

    let text = ServiceBuilder::new()
        .layer(layer.clone())
        .service_fn(count::<String>);
    let reply = text.oneshot(Request::new(())).await.unwrap();
    assert_eq!(reply.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.body(), SAVE_FAILED);
    assert!(reply.headers().get("set-cookie").is_none());

    let layer = layer.on_save_failure(|_| {
        Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .header("content-length", "4")
            .body("down".into())
            .unwrap()
    });
    let unit = ServiceBuilder::new()
        .layer(layer)
        .service_fn(|request: Request<()>| async move {
            count::<String>(request)
                .await
                .map(|response| response.map(|_| ()))
        });
    let reply = unit.oneshot(Request::new(())).await.unwrap();
    assert_eq!(reply.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.headers()["cache-control"], "no-store");
    assert!(
        reply.headers().get("content-length").is_none(),
        "no length for a body that is not sent"
    );
    assert!(reply.headers().get("set-cookie").is_none());
}

#[tokio::test]
async fn a_4xx_saves_under_the_default_policy() {
    let store = FaultyStore::default();
    let app = app(store.clone());
    let reply = send(&app, "/reject", None).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let cookie = reply.cookie_pair();
    assert_eq!(store.faults.writes(), 1, "the new session was created");
    assert_eq!(send(&app, "/get", Some(&cookie)).await.body, "Some(99)");
}

/// Under `UnlessError` a 4xx writes nothing and sets no cookie: a guest's
/// session is not created, a stored session keeps its data, and a destroy
/// is not carried out.
#[tokio::test]
async fn a_4xx_saves_nothing_under_unless_error() {
    let store = FaultyStore::default();
    let app = app_with(store.clone(), |layer| {
        layer.save_policy(SavePolicy::UnlessError)
    });
    let reply = send(&app, "/reject", None).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.set_cookie(), None);
    assert_eq!(reply.header("vary"), Some("cookie"));
    assert_eq!(store.faults.writes(), 0, "no session was created");
    assert_eq!(store.inner.len(), 0);

    let cookie = with_session(&app).await;
    let writes = store.faults.writes();
    let reply = send(&app, "/reject", Some(&cookie)).await;
    assert_eq!(reply.set_cookie(), None);
    let reply = send(&app, "/destroy_forbidden", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.set_cookie(), None, "no removal cookie");
    assert_eq!(store.faults.writes(), writes, "no save, no delete");
    assert_eq!(send(&app, "/get", Some(&cookie)).await.body, "Some(1)");
    let reply = send(&app, "/insert", Some(&cookie)).await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::OK, "2"),
        "a 2xx still saves"
    );
    assert_eq!(store.faults.writes(), writes + 1);
}

/// By default a 5xx writes nothing: no new session, no save, and not even
/// the deadline refresh a read would otherwise make.
#[tokio::test]
async fn a_5xx_never_saves_by_default() {
    let store = FaultyStore::default();
    let app = app_with(store.clone(), |layer| {
        layer
            .expiry(Expiry::OnInactivity(Duration::from_secs(600)))
            .refresh_fraction(0.0)
    });
    let reply = send(&app, "/fail", None).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.set_cookie(), None);
    assert_eq!(store.faults.writes(), 0, "no session was created");

    let cookie = with_session(&app).await;
    let writes = store.faults.writes();
    tokio::time::sleep(Duration::from_millis(20)).await;
    for path in ["/fail", "/read_crash"] {
        let reply = send(&app, path, Some(&cookie)).await;
        assert!(reply.status.is_server_error(), "{path}");
        assert_eq!(reply.set_cookie(), None, "{path}");
    }
    assert_eq!(store.faults.writes(), writes, "no save, no refresh");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let reply = send(&app, "/get", Some(&cookie)).await;
    assert_eq!(reply.body, "Some(1)");
    assert!(
        reply.set_cookie().is_some(),
        "the same read on a 200 refreshes the deadline"
    );
    assert_eq!(store.faults.writes(), writes + 1);
}

#[tokio::test]
async fn always_saves_even_a_5xx() {
    let store = FaultyStore::default();
    let app = app_with(store.clone(), |layer| layer.save_policy(SavePolicy::Always));
    let reply = send(&app, "/fail", None).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    let cookie = reply.cookie_pair();
    assert_eq!(send(&app, "/get", Some(&cookie)).await.body, "Some(1000)");
}

/// With the header transport, the answer carries no token either, even one
/// the builder put there, and varies on the token's request header.
#[tokio::test]
async fn a_save_failure_answer_carries_no_token_over_the_header_transport() {
    let store = FaultyStore::default();
    let app = app_with(store.clone(), |layer| {
        layer
            .bearer_token(http::HeaderName::from_static("session-token"))
            .on_save_failure(|_| {
                Response::builder()
                    .status(StatusCode::SERVICE_UNAVAILABLE)
                    .header("session-token", "forged")
                    .body("down".into())
                    .unwrap()
            })
    });
    let first = common::send_headers(&app, "/insert", &[]).await;
    let token = first.header("session-token").expect("a token").to_owned();
    Faults::set(&store.faults.fail_write, true);
    let bearer = format!("Bearer {token}");
    let reply = common::send_headers(&app, "/insert", &[("authorization", &bearer)]).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.body, "down");
    assert_eq!(reply.header("session-token"), None);
    assert_eq!(reply.header("vary"), Some("authorization"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
}
