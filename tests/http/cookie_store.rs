//! `CookieStore`: the session sealed in the cookie, through real requests
//! (its size limit, what it cannot revoke, tampering, plus the guest and
//! cookie rules every store keeps).

use crate::common;

use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Captured, routes, secret, send, send_with};
use http::StatusCode;
use sessionware::{Expiry, Session, SessionEvent, SessionLayer};

fn layer() -> SessionLayer {
    SessionLayer::sealed_cookies(secret())
}

fn app() -> Router {
    app_with(layer())
}

fn app_with(layer: SessionLayer) -> Router {
    routes()
        .route(
            "/big/{bytes}",
            get(|s: Session, Path(bytes): Path<usize>| async move {
                s.insert("blob", "x".repeat(bytes)).unwrap();
                "stored"
            }),
        )
        .layer(layer)
}

/// The sealed value of a `name=value` pair.
fn value_of(pair: &str) -> &str {
    pair.split_once('=').unwrap().1
}

#[tokio::test]
async fn the_session_lives_in_the_cookie_alone() {
    let first = send(&app(), "/insert", None).await;
    assert_eq!(first.body, "1");
    let pair = first.cookie_pair();
    assert!(pair.starts_with("id="));
    // Another instance with the same secret and no shared state reads it.
    let second = send(&app(), "/insert", Some(&pair)).await;
    assert_eq!(second.body, "2");
    let updated = second.cookie_pair();
    assert_ne!(updated, pair, "a write re-seals the cookie");
    assert_eq!(send(&app(), "/get", Some(&updated)).await.body, "Some(2)");
    // Set-Cookie keeps the secure attributes and the caching headers.
    let header = first.set_cookie().unwrap();
    for attribute in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(header.contains(attribute), "{header}");
    }
    assert_eq!(first.header("cache-control"), Some("no-store"));
    assert_eq!(first.header("vary"), Some("cookie"));
}

/// A guest that only reads gets no cookie; reading a sealed session does not
/// re-seal it until the idle deadline needs a push.
#[tokio::test]
async fn reads_set_no_cookie() {
    let app = app();
    let guest = send(&app, "/get", None).await;
    assert_eq!((guest.body.as_str(), guest.set_cookie()), ("None", None));
    let pair = send(&app, "/insert", None).await.cookie_pair();
    let read = send(&app, "/get", Some(&pair)).await;
    assert_eq!((read.body.as_str(), read.set_cookie()), ("Some(1)", None));
}

#[tokio::test]
async fn an_idle_deadline_is_pushed_back_by_resealing() {
    let app = routes().layer(
        layer()
            .expiry(Expiry::OnInactivity(Duration::from_secs(600)))
            .refresh_fraction(0.0),
    );
    let pair = send(&app, "/insert", None).await.cookie_pair();
    let read = send(&app, "/get", Some(&pair)).await;
    assert_eq!(read.body, "Some(1)");
    let resealed = read.set_cookie().expect("a refreshed cookie");
    assert!(
        resealed.contains("Max-Age=600") || resealed.contains("Max-Age=599"),
        "{resealed}"
    );
    assert_ne!(resealed.split(';').next().unwrap(), pair);
}

/// A session too big for a cookie answers 500 with no Set-Cookie (the browser
/// keeps its previous cookie) and logs the size.
#[tokio::test]
async fn an_oversized_session_is_a_500_never_a_truncated_cookie() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let app = app();
    let pair = send(&app, "/insert", None).await.cookie_pair();
    let small = send(&app, "/big/2000", Some(&pair)).await;
    assert_eq!(small.status, StatusCode::OK);
    let kept = small.cookie_pair();
    assert!(kept.len() <= 4096);

    let big = send(&app, "/big/5000", Some(&kept)).await;
    assert_eq!(big.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(big.body, "The session could not be saved; please retry.");
    assert_eq!(big.set_cookie(), None);
    assert_eq!(big.header("cache-control"), Some("no-store"));
    let logs = captured.text();
    assert!(logs.contains("session is too big for a cookie"), "{logs}");
    assert!(logs.contains("limit of 4096"), "{logs}");
    // The cookie the browser kept still holds the last session that fitted.
    assert_eq!(send(&app, "/get", Some(&kept)).await.body, "Some(1)");
}

/// The expected result written down: a cookie store cannot revoke on the
/// server. A copy of the cookie taken before `destroy` or `cycle_id` still
/// opens, until the deadline sealed inside it; from then on it is a guest,
/// whatever Max-Age the browser was given.
#[tokio::test]
async fn a_replayed_cookie_opens_until_its_sealed_deadline_then_is_a_guest() {
    let app = routes().layer(layer().expiry(Expiry::OnInactivity(Duration::from_millis(1500))));
    let stolen = send(&app, "/insert", None).await.cookie_pair();
    let cycled = send(&app, "/cycle", Some(&stolen)).await;
    assert_ne!(cycled.cookie_pair(), stolen);
    let destroyed = send(&app, "/destroy", Some(&stolen)).await;
    let removal = destroyed.set_cookie().expect("a removal cookie");
    assert!(
        removal.starts_with("id=;") && removal.contains("Max-Age=0"),
        "{removal}"
    );

    assert_eq!(send(&app, "/get", Some(&stolen)).await.body, "Some(1)");
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let late = send(&app, "/get", Some(&stolen)).await;
    assert_eq!((late.body.as_str(), late.set_cookie()), ("None", None));
}

/// A tampered nonce, ciphertext or tag is a guest, counted as a rejection,
/// and none of the sealed data reaches the handler.
#[tokio::test]
async fn tampered_cookies_are_guests() {
    let (layer, log) = common::recorded(layer());
    let app = app_with(layer);
    let pair = send(&app, "/insert", None).await.cookie_pair();
    let bytes = URL_SAFE_NO_PAD.decode(value_of(&pair)).unwrap();
    let positions = [
        0,
        23,
        24,
        bytes.len() / 2,
        bytes.len() - 17,
        bytes.len() - 1,
    ];
    for at in positions {
        let mut tampered = bytes.clone();
        tampered[at] ^= 0x20;
        let cookie = format!("id={}", URL_SAFE_NO_PAD.encode(&tampered));
        let reply = send(&app, "/get", Some(&cookie)).await;
        assert_eq!(
            (reply.body.as_str(), reply.set_cookie()),
            ("None", None),
            "byte {at}"
        );
        let rejected = common::take(&log)
            .iter()
            .any(|event| matches!(event, SessionEvent::Rejected { .. }));
        assert!(rejected, "byte {at}");
    }
    let truncated = &pair[..pair.len() - 10];
    assert_eq!(send(&app, "/get", Some(truncated)).await.body, "None");
}

#[tokio::test]
async fn another_secret_or_cookie_name_does_not_open_the_cookie() {
    let pair = send(&app(), "/insert", None).await.cookie_pair();
    let other_secret: Vec<u8> = secret().iter().map(|b| b ^ 0x55).collect();
    let other = routes().layer(SessionLayer::sealed_cookies(other_secret));
    assert_eq!(send(&other, "/get", Some(&pair)).await.body, "None");
    let renamed = routes().layer(layer().cookie_name("sid"));
    let moved = format!("sid={}", value_of(&pair));
    assert_eq!(send(&renamed, "/get", Some(&moved)).await.body, "None");
}

/// Two distinct genuine sealed cookies (cookie tossing) are a guest, as with
/// signed cookies; two copies of one cookie are fine.
#[tokio::test]
async fn two_distinct_sealed_cookies_are_a_guest() {
    let app = app();
    let one = send(&app, "/insert", None).await.cookie_pair();
    let other = send(&app, "/login/mallory", None).await.cookie_pair();
    assert_eq!(send_with(&app, "/get", &[&one, &other]).await.body, "None");
    assert_eq!(send_with(&app, "/get", &[&one, &one]).await.body, "Some(1)");
}

/// A handler that fails (`/fail` writes, then answers 503) persists nothing.
#[tokio::test]
async fn a_failed_handler_sets_no_cookie() {
    let app = app();
    let pair = send(&app, "/insert", None).await.cookie_pair();
    let failed = send(&app, "/fail", Some(&pair)).await;
    assert_eq!(failed.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(failed.set_cookie(), None);
    assert_eq!(send(&app, "/get", Some(&pair)).await.body, "Some(1)");
}

#[tokio::test]
async fn clearing_the_session_removes_the_cookie() {
    let app = app();
    let pair = send(&app, "/insert", None).await.cookie_pair();
    let cleared = send(&app, "/clear", Some(&pair)).await;
    let removal = cleared.set_cookie().expect("a removal cookie");
    assert!(removal.contains("Max-Age=0"), "{removal}");
    let guest_clear = send(&app, "/clear", None).await;
    assert_eq!(guest_clear.set_cookie(), None);
}
