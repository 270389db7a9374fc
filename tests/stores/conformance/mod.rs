//! The conformance suite every `SessionStore` must pass (see the contract in
//! `sessionware::store`). A store's module runs all of it with
//! `conformance_suite!(async { make_store().await });`, where each call must
//! give a store isolated from every other test (own prefix, table or file).
#![allow(dead_code, unreachable_pub)]

pub mod accounts;
pub mod features;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use serde_json::{Value, json};
use sessionware::store::{Record, SaveOutcome, SessionKey};
use sessionware::{Expiry, Session, SessionLayer, SessionStore};

/// Runs every conformance check as its own test against `$make` (an async
/// block). Add `, native_expiry` for a store whose backend expires records by
/// itself (Redis): its `delete_expired` may find nothing left to count.
#[macro_export]
macro_rules! conformance_suite {
    ($make:expr) => {
        $crate::conformance_suite!($make, native_expiry);
        $crate::conformance_suite!(@tests $make; delete_expired_counts_exactly);
    };
    ($make:expr, native_expiry) => {
        $crate::conformance_suite!(@tests $make;
            health_answers_through_the_trait, create_then_load_round_trips, create_never_overwrites,
            load_of_an_absent_key_creates_nothing, save_is_conditional_on_the_version,
            concurrent_saves_of_one_version_have_one_winner, delete_reports_whether_it_removed,
            delete_expired_removes_only_expired, load_returns_expired_records_for_the_layer_to_judge,
            values_of_100_kib_round_trip, unicode_keys_and_values_round_trip,
            ten_thousand_sessions_are_counted_after_cleanup,
            layer_merges_40_concurrent_writers, layer_treats_expired_records_as_guests);
    };
    (@tests $make:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let store = $make.await;
                $crate::conformance::$name(store).await;
            }
        )*
    };
}

fn random_key() -> SessionKey {
    SessionKey::from_bytes(rand::random())
}

/// Millisecond precision, which every store keeps.
fn now() -> SystemTime {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    UNIX_EPOCH + Duration::from_millis(millis)
}

fn record(data: Value, lives: Duration) -> Record {
    let Value::Object(map) = data else {
        panic!("data must be an object")
    };
    let now = now();
    Record::new(map, now, now + lives)
}

const MINUTE: Duration = Duration::from_secs(60);

/// `SessionStore::health` reports a reachable, migrated store as healthy.
pub async fn health_answers_through_the_trait<S: SessionStore>(store: S) {
    SessionStore::health(&store).await.unwrap();
}

pub async fn create_then_load_round_trips<S: SessionStore>(store: S) {
    let key = random_key();
    let mut original = record(json!({"user": "ferris", "n": 3, "list": [1, 2]}), MINUTE);
    original.expiry = Some(Expiry::OnInactivity(Duration::from_secs(90)));
    assert!(store.create(&key, &original).await.unwrap());
    assert_eq!(store.load(&key).await.unwrap(), Some(original));
}

/// Contract 1: a create never overwrites a live record.
pub async fn create_never_overwrites<S: SessionStore>(store: S) {
    let key = random_key();
    let first = record(json!({"owner": "first"}), MINUTE);
    assert!(store.create(&key, &first).await.unwrap());
    assert!(
        !store
            .create(&key, &record(json!({"owner": "second"}), MINUTE))
            .await
            .unwrap()
    );
    assert_eq!(
        store.load(&key).await.unwrap().unwrap().data["owner"],
        "first"
    );
}

/// Contract 2: a load never creates anything.
pub async fn load_of_an_absent_key_creates_nothing<S: SessionStore>(store: S) {
    let key = random_key();
    assert_eq!(store.load(&key).await.unwrap(), None);
    assert_eq!(store.load(&key).await.unwrap(), None);
    assert!(!store.delete(&key).await.unwrap(), "load created a record");
}

/// Contract 3: a save is conditional on the version, and never resurrects a
/// deleted record.
pub async fn save_is_conditional_on_the_version<S: SessionStore>(store: S) {
    let key = random_key();
    let mut current = record(json!({"n": 1}), MINUTE);
    store.create(&key, &current).await.unwrap();
    current.data.insert("n".into(), 2.into());
    current.version = 2;
    assert_eq!(
        store.save(&key, &current, 1).await.unwrap(),
        SaveOutcome::Saved
    );
    let mut stale = current.clone();
    stale.data.insert("n".into(), 99.into());
    stale.version = 2;
    assert_eq!(
        store.save(&key, &stale, 1).await.unwrap(),
        SaveOutcome::Conflict
    );
    assert_eq!(
        store.load(&key).await.unwrap(),
        Some(current),
        "a conflict writes nothing"
    );
    assert!(store.delete(&key).await.unwrap());
    assert_eq!(
        store.save(&key, &stale, 2).await.unwrap(),
        SaveOutcome::Missing
    );
    assert_eq!(
        store.load(&key).await.unwrap(),
        None,
        "a save never resurrects"
    );
}

/// Contract 3 under contention: of 16 saves expecting the same version, one wins.
pub async fn concurrent_saves_of_one_version_have_one_winner<S: SessionStore>(store: S) {
    let store = Arc::new(store);
    let key = random_key();
    store
        .create(&key, &record(json!({}), MINUTE))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut next = record(json!({ "writer": i }), MINUTE);
                next.version = 2;
                store.save(&key, &next, 1).await.unwrap()
            })
        })
        .collect();
    let mut saved = 0;
    for task in tasks {
        if task.await.unwrap() == SaveOutcome::Saved {
            saved += 1;
        }
    }
    assert_eq!(saved, 1);
}

/// Contract 4.
pub async fn delete_reports_whether_it_removed<S: SessionStore>(store: S) {
    let key = random_key();
    store
        .create(&key, &record(json!({"a": 1}), MINUTE))
        .await
        .unwrap();
    assert!(store.delete(&key).await.unwrap());
    assert!(!store.delete(&key).await.unwrap());
    assert_eq!(store.load(&key).await.unwrap(), None);
}

/// Contract 5.
pub async fn delete_expired_removes_only_expired<S: SessionStore>(store: S) {
    let live = random_key();
    let dead = random_key();
    store
        .create(&live, &record(json!({"a": 1}), MINUTE))
        .await
        .unwrap();
    let mut expired = record(json!({"a": 2}), MINUTE);
    expired.expires_at = now() - Duration::from_secs(1);
    store.create(&dead, &expired).await.unwrap();
    // Stores with native expiry (Redis) may have nothing left to remove.
    assert!(store.delete_expired().await.unwrap() <= 1);
    assert!(store.load(&live).await.unwrap().is_some());
    assert_eq!(store.load(&dead).await.unwrap(), None);
}

/// Contract 5 for stores without native expiry: the count is exact. Offsets
/// of whole seconds keep the test honest when the store judges by the
/// database's clock rather than this machine's.
pub async fn delete_expired_counts_exactly<S: SessionStore>(store: S) {
    let now = now();
    for (i, offset) in [-60_000i64, -5_000, -2_000, 5_000, 60_000]
        .into_iter()
        .enumerate()
    {
        let deadline = if offset < 0 {
            now - Duration::from_millis(offset.unsigned_abs())
        } else {
            now + Duration::from_millis(offset as u64)
        };
        let mut r = record(json!({ "i": i }), MINUTE);
        r.expires_at = deadline;
        store.create(&random_key(), &r).await.unwrap();
    }
    assert_eq!(store.delete_expired().await.unwrap(), 3);
    assert_eq!(store.delete_expired().await.unwrap(), 0);
}

/// Contract 2: expiry is the layer's call; a store may still return the record.
pub async fn load_returns_expired_records_for_the_layer_to_judge<S: SessionStore>(store: S) {
    let key = random_key();
    let mut expired = record(json!({"a": 1}), MINUTE);
    expired.expires_at = now() - Duration::from_secs(1);
    store.create(&key, &expired).await.unwrap();
    if let Some(loaded) = store.load(&key).await.unwrap() {
        assert!(loaded.is_expired(SystemTime::now()));
    }
}

pub async fn values_of_100_kib_round_trip<S: SessionStore>(store: S) {
    let key = random_key();
    let big = "x".repeat(100 * 1024);
    let original = record(json!({ "big": big }), MINUTE);
    store.create(&key, &original).await.unwrap();
    assert_eq!(store.load(&key).await.unwrap(), Some(original));
}

pub async fn unicode_keys_and_values_round_trip<S: SessionStore>(store: S) {
    let key = random_key();
    let original = record(
        json!({"ключ": "значение", "鍵": "🦀", "nul\u{0}": "a\u{0}b", "'; DROP TABLE x; --": "\"quoted\""}),
        MINUTE,
    );
    store.create(&key, &original).await.unwrap();
    assert_eq!(store.load(&key).await.unwrap(), Some(original));
}

/// 10,000 sessions, half expired: cleanup removes exactly those.
pub async fn ten_thousand_sessions_are_counted_after_cleanup<S: SessionStore>(store: S) {
    let store = Arc::new(store);
    let keys: Vec<_> = (0..10_000).map(|_| random_key()).collect();
    let chunks: Vec<_> = keys
        .chunks(1_000)
        .map(<[SessionKey]>::to_vec)
        .enumerate()
        .collect();
    let tasks: Vec<_> = chunks
        .into_iter()
        .map(|(chunk, keys)| {
            let store = store.clone();
            tokio::spawn(async move {
                for (i, key) in keys.iter().enumerate() {
                    let mut r = record(json!({ "i": i, "chunk": chunk }), MINUTE);
                    if i % 2 == 1 {
                        r.expires_at = now() - Duration::from_secs(1);
                    }
                    assert!(store.create(key, &r).await.unwrap());
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert!(store.delete_expired().await.unwrap() <= 5_000);
    let mut live = 0;
    for key in &keys {
        if store.load(key).await.unwrap().is_some() {
            live += 1;
        }
    }
    assert_eq!(live, 5_000);
}

fn secret() -> Vec<u8> {
    crate::common::secret()
}

async fn send(
    app: &Router,
    path: &str,
    cookie: Option<&str>,
) -> (http::StatusCode, Option<String>, String) {
    use tower::ServiceExt as _;
    let mut request = http::Request::builder().uri(path);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = app
        .clone()
        .oneshot(request.body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let set = response
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, set, String::from_utf8(body.to_vec()).unwrap())
}

fn counting_app<S: SessionStore>(
    store: S,
    layer: impl FnOnce(SessionLayer) -> SessionLayer,
) -> Router {
    Router::new()
        .route("/insert/{key}", get_route())
        .route(
            "/count",
            axum::routing::get(|s: Session| async move {
                let mut n = 0;
                for i in 0..1000 {
                    if s.get::<bool>(&format!("k{i}")).unwrap().is_some() {
                        n += 1;
                    }
                }
                n.to_string()
            }),
        )
        .layer(layer(SessionLayer::new(store, secret())))
}

fn get_route() -> axum::routing::MethodRouter {
    axum::routing::get(
        |s: Session, axum::extract::Path(key): axum::extract::Path<String>| async move {
            s.insert(&key, true).unwrap();
        },
    )
}

/// Through the layer: 40 concurrent requests of one session write different
/// keys, and none is lost (version conflicts are resolved by the layer).
pub async fn layer_merges_40_concurrent_writers<S: SessionStore>(store: S) {
    let app = counting_app(store, |l| l);
    let (_, cookie, _) = send(&app, "/insert/k999", None).await;
    let cookie = cookie.expect("a session cookie");
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let (app, cookie) = (app.clone(), cookie.clone());
            tokio::spawn(async move { send(&app, &format!("/insert/k{i}"), Some(&cookie)).await.0 })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), http::StatusCode::OK);
    }
    assert_eq!(send(&app, "/count", Some(&cookie)).await.2, "41");
}

/// Through the layer: a record past its deadline is a guest, whatever the store holds.
pub async fn layer_treats_expired_records_as_guests<S: SessionStore>(store: S) {
    let app = counting_app(store, |l| {
        l.expiry(Expiry::OnInactivity(Duration::from_millis(300)))
    });
    let (_, cookie, _) = send(&app, "/insert/k1", None).await;
    let cookie = cookie.expect("a session cookie");
    assert_eq!(send(&app, "/count", Some(&cookie)).await.2, "1");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(send(&app, "/count", Some(&cookie)).await.2, "0");
}

/// Distinct keys from `random_key`, as a sanity check of the suite itself.
pub fn keys_are_distinct() -> bool {
    let keys: HashSet<_> = (0..1000).map(|_| random_key()).collect();
    keys.len() == 1000
}
