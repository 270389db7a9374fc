//! Limits a session cannot outgrow: the absolute timeout and the data size
//! cap, through real requests.

use crate::common;

use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use common::{FaultyStore, routes, secret, send};
use http::StatusCode;
use sessionware::{ErrorKind, Expiry, Session, SessionLayer};

/// Activity every idle/4 keeps pushing the idle deadline, but the session
/// ends at `created_at + max_lifetime` all the same, and the cookie's Max-Age
/// never promised more.
#[tokio::test]
async fn continuous_activity_does_not_outlive_max_lifetime() {
    let store = FaultyStore::default();
    let layer = SessionLayer::new(store.clone(), secret())
        .expiry(Expiry::OnInactivity(Duration::from_secs(4)))
        .refresh_fraction(0.0)
        .max_lifetime(Duration::from_millis(2500));
    let app = routes().layer(layer);
    let first = send(&app, "/insert", None).await;
    let header = first.set_cookie().unwrap();
    assert!(
        header.contains("Max-Age=2;") || header.ends_with("Max-Age=2"),
        "{header}"
    );
    let cookie = first.cookie_pair();
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let reply = send(&app, "/get", Some(&cookie)).await;
        assert_eq!(reply.body, "Some(1)", "still within max_lifetime");
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    let late = send(&app, "/get", Some(&cookie)).await;
    assert_eq!((late.body.as_str(), late.set_cookie()), ("None", None));
}

/// A limit set (or shortened) after the session was saved still ends it on
/// load.
#[tokio::test]
async fn a_shortened_max_lifetime_applies_to_existing_sessions() {
    let store = FaultyStore::default();
    let unlimited = routes().layer(SessionLayer::new(store.clone(), secret()));
    let cookie = send(&unlimited, "/insert", None).await.cookie_pair();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let limited = routes()
        .layer(SessionLayer::new(store.clone(), secret()).max_lifetime(Duration::from_millis(10)));
    assert_eq!(send(&limited, "/get", Some(&cookie)).await.body, "None");
    assert_eq!(
        send(&unlimited, "/get", Some(&cookie)).await.body,
        "Some(1)"
    );
}

fn sized_app(layer: SessionLayer) -> Router {
    routes()
        .route(
            "/blob/{bytes}",
            get(|s: Session, Path(bytes): Path<usize>| async move {
                match s.insert("blob", "x".repeat(bytes)) {
                    Ok(()) => "stored".to_owned(),
                    Err(err) if err.kind() == ErrorKind::TooLarge => format!("too large: {err}"),
                    Err(err) => format!("other: {err}"),
                }
            }),
        )
        .route(
            "/blob_len",
            get(|s: Session| async move {
                s.get::<String>("blob")
                    .unwrap()
                    .map_or(0, |b| b.len())
                    .to_string()
            }),
        )
        .layer(layer)
}

/// An insert past `max_data_size` is a typed error naming the sizes; nothing
/// is truncated, and the session keeps its previous value.
#[tokio::test]
async fn an_insert_past_max_data_size_is_refused_and_changes_nothing() {
    let store = FaultyStore::default();
    let app = sized_app(SessionLayer::new(store.clone(), secret()).max_data_size(1024));
    let first = send(&app, "/blob/500", None).await;
    assert_eq!(first.body, "stored");
    let cookie = first.cookie_pair();
    let refused = send(&app, "/blob/2000", Some(&cookie)).await;
    assert_eq!(refused.status, StatusCode::OK);
    assert!(refused.body.starts_with("too large:"), "{}", refused.body);
    assert!(
        refused.body.contains("max_data_size of 1024"),
        "{}",
        refused.body
    );
    assert_eq!(
        refused.set_cookie(),
        None,
        "nothing changed, nothing written"
    );
    assert_eq!(send(&app, "/blob_len", Some(&cookie)).await.body, "500");
    // Replacing the value with a smaller one is fine.
    assert_eq!(send(&app, "/blob/900", Some(&cookie)).await.body, "stored");
    assert_eq!(send(&app, "/blob_len", Some(&cookie)).await.body, "900");
}

/// The default cap is 128 KiB: a 100 KiB value fits, a 130 KiB one does not.
#[tokio::test]
async fn the_default_cap_is_128_kib() {
    let app = sized_app(SessionLayer::new(FaultyStore::default(), secret()));
    assert_eq!(send(&app, "/blob/102400", None).await.body, "stored");
    let refused = send(&app, "/blob/133120", None).await;
    assert!(refused.body.starts_with("too large:"), "{}", refused.body);
}

#[tokio::test]
async fn partitioned_cookies_say_so() {
    let app = routes().layer(SessionLayer::new(FaultyStore::default(), secret()).partitioned(true));
    let header = send(&app, "/insert", None).await.set_cookie().unwrap();
    assert!(header.contains("Partitioned"), "{header}");
    let cookie = header.split(';').next().unwrap().to_owned();
    let removal = send(&app, "/destroy", Some(&cookie))
        .await
        .set_cookie()
        .unwrap();
    assert!(removal.contains("Partitioned"), "{removal}");
}

/// Concurrent requests that each stay under `max_data_size` cannot add up
/// past it: the merge after a version conflict checks the limit again, and a
/// merge that would pass it fails its request (500) and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_cannot_merge_a_session_past_max_data_size() {
    const LIMIT: usize = 1024;
    let store = FaultyStore::default();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(16));
    let app = Router::new()
        .route(
            "/start",
            get(|s: Session| async move { s.insert("n", 0).unwrap() }),
        )
        .route(
            "/fill/{key}",
            get(
                |axum::extract::State(barrier): axum::extract::State<
                    std::sync::Arc<tokio::sync::Barrier>,
                >,
                 s: Session,
                 Path(key): Path<String>| async move {
                    // Everyone loads the same version before anyone saves.
                    barrier.wait().await;
                    s.insert(&key, "x".repeat(900)).unwrap();
                },
            ),
        )
        .route(
            "/keys",
            get(|s: Session| async move {
                (0..16)
                    .filter(|i| s.get::<String>(&format!("k{i}")).unwrap().is_some())
                    .count()
                    .to_string()
            }),
        )
        .with_state(barrier)
        .layer(SessionLayer::new(store.clone(), secret()).max_data_size(LIMIT));
    let cookie = send(&app, "/start", None).await.cookie_pair();
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..16 {
        let (app, cookie) = (app.clone(), cookie.clone());
        requests.spawn(async move { send(&app, &format!("/fill/k{i}"), Some(&cookie)).await });
    }
    let replies = requests.join_all().await;
    let saved = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    let failed = replies
        .iter()
        .filter(|r| r.status == StatusCode::INTERNAL_SERVER_ERROR)
        .count();
    assert_eq!(saved + failed, 16);
    assert_eq!(saved, 1, "only one 900-byte value fits under {LIMIT} bytes");
    assert_eq!(send(&app, "/keys", Some(&cookie)).await.body, "1");
    let key = common::key_of(&cookie);
    let record = sessionware::SessionStore::load(&store.inner, &key)
        .await
        .unwrap()
        .unwrap();
    let size = serde_json::to_vec(&record.data).unwrap().len();
    assert!(
        size <= LIMIT,
        "stored session of {size} bytes, limit {LIMIT}"
    );
}

/// Every configuration `validate` accepts is panic-free on every request,
/// even an idle span of `Duration::MAX` refreshed at every request.
#[tokio::test]
async fn extreme_durations_and_fractions_never_panic_a_request() {
    for (span, fraction, lifetime) in [
        (Duration::MAX, 1.0, None),
        (Duration::MAX, 0.0, Some(Duration::MAX)),
        (Duration::from_nanos(1), 1.0, Some(Duration::from_nanos(1))),
        (Duration::from_secs(u64::MAX / 2), 0.5, Some(Duration::MAX)),
    ] {
        let layer = SessionLayer::new(FaultyStore::default(), secret())
            .expiry(Expiry::OnInactivity(span))
            .refresh_fraction(fraction);
        let layer = match lifetime {
            Some(max) => layer.max_lifetime(max),
            None => layer,
        };
        layer.validate().unwrap();
        let app = routes().layer(layer);
        let first = send(&app, "/insert", None).await;
        assert_eq!(first.status, StatusCode::OK, "{span:?} {fraction}");
        if first.set_cookie().is_some() {
            let cookie = first.cookie_pair();
            for path in ["/get", "/insert", "/get"] {
                let reply = send(&app, path, Some(&cookie)).await;
                assert_eq!(reply.status, StatusCode::OK, "{span:?} {fraction} {path}");
            }
        }
    }
}
