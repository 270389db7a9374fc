//! CSRF, with tower-http's `CsrfLayer` in front of the session layer, as the
//! examples and the demo set it up: `SameSite=Lax` keeps the cookie off
//! cross-site posts, but a post from another origin of the same site (another
//! port, a sibling subdomain) carries it, and only the CSRF layer stops it.

use crate::common;

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use common::{FaultyStore, secret, send, send_request};
use http::{Request, StatusCode};
use sessionware::{Session, SessionLayer};
use tower_http::csrf::CsrfLayer;

fn app(store: FaultyStore) -> Router {
    Router::new()
        .route(
            "/count",
            post(|session: Session| async move {
                let n = session.get::<u64>("n").unwrap().unwrap_or(0) + 1;
                session.insert("n", n).unwrap();
                n.to_string()
            }),
        )
        .route(
            "/n",
            get(
                |session: Session| async move { format!("{:?}", session.get::<u64>("n").unwrap()) },
            ),
        )
        .layer(CsrfLayer::new())
        .layer(SessionLayer::new(store, secret()))
}

/// `POST /count` from `cookie`'s browser, with the given request headers.
async fn post_count(app: &Router, cookie: &str, headers: &[(&str, &str)]) -> StatusCode {
    let mut request = Request::post("/count")
        .header("host", "app.example")
        .header("cookie", cookie);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send_request(app, request.body(Body::empty()).unwrap())
        .await
        .status
}

#[tokio::test]
async fn a_post_from_another_origin_is_refused_before_the_session_is_touched() {
    let store = FaultyStore::default();
    let app = app(store.clone());
    let same_origin = [("sec-fetch-site", "same-origin")];
    let created = send_request(
        &app,
        Request::post("/count")
            .header("host", "app.example")
            .header("sec-fetch-site", "same-origin")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let cookie = created.cookie_pair();
    let (writes, lookups) = (store.faults.writes(), store.faults.lookups());

    // What SameSite=Lax lets through: another origin of the same site, and
    // a browser that sends only `Origin`.
    for headers in [
        &[("sec-fetch-site", "same-site")][..],
        &[("sec-fetch-site", "cross-site")][..],
        &[("origin", "http://evil.example")][..],
        &[("origin", "http://app.example:8080")][..],
    ] {
        assert_eq!(
            post_count(&app, &cookie, headers).await,
            StatusCode::FORBIDDEN,
            "{headers:?}"
        );
    }
    assert_eq!(store.faults.writes(), writes, "a refused post wrote");
    assert_eq!(store.faults.lookups(), lookups, "a refused post loaded");
    assert_eq!(send(&app, "/n", Some(&cookie)).await.body, "Some(1)");

    // The application's own forms still work.
    for headers in [
        &same_origin[..],
        &[("origin", "http://app.example")][..],
        &[("sec-fetch-site", "none")][..],
    ] {
        assert_eq!(
            post_count(&app, &cookie, headers).await,
            StatusCode::OK,
            "{headers:?}"
        );
    }
    assert_eq!(send(&app, "/n", Some(&cookie)).await.body, "Some(4)");
}
