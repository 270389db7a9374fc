//! The store contract's clauses, one public check each: what every
//! [`SessionStore`] must do, through the trait and through the layer.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::app::{Reply, app, secret, send};
use crate::expiry::Expiry;
use crate::layer::SessionLayer;
use crate::store::{Record, SaveOutcome, SessionKey, SessionStore};

/// A fresh random key, as every check uses: 256 bits from the OS generator,
/// so checks sharing a backend never meet.
pub fn random_key() -> SessionKey {
    SessionKey::from_bytes(rand::random())
}

/// Millisecond precision, which every store keeps.
pub(super) fn now() -> SystemTime {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    UNIX_EPOCH + Duration::from_millis(millis)
}

pub(super) fn record(data: Value, lives: Duration) -> Record {
    let Value::Object(map) = data else {
        panic!("data must be an object")
    };
    let now = now();
    Record::new(map.into(), now, now + lives)
}

pub(super) const MINUTE: Duration = Duration::from_secs(60);

/// Contract 7: [`SessionStore::health`] reports a reachable, migrated store
/// as healthy.
pub async fn health_answers_through_the_trait<S: SessionStore>(store: S) {
    SessionStore::health(&store).await.unwrap();
}

/// Contracts 1 and 2: a created record loads back equal, field for field.
pub async fn create_then_load_round_trips<S: SessionStore>(store: S) {
    let key = random_key();
    let mut original = record(json!({"user": "ferris", "n": 3, "list": [1, 2]}), MINUTE);
    original.expiry = Some(Expiry::OnInactivity(Duration::from_secs(90)));
    assert!(
        store.create(&key, &original).await.unwrap(),
        "create of an absent key must insert and return true"
    );
    assert_eq!(
        store.load(&key).await.unwrap(),
        Some(original),
        "load must return the record as created"
    );
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
            .unwrap(),
        "create of a taken key must return false"
    );
    assert_eq!(
        store
            .load(&key)
            .await
            .unwrap()
            .unwrap()
            .data
            .get::<String>("owner")
            .unwrap()
            .as_deref(),
        Some("first"),
        "create must never overwrite"
    );
}

/// Contract 2: a load never creates anything.
pub async fn load_of_an_absent_key_creates_nothing<S: SessionStore>(store: S) {
    let key = random_key();
    assert_eq!(
        store.load(&key).await.unwrap(),
        None,
        "an unknown key loads as None"
    );
    assert_eq!(
        store.load(&key).await.unwrap(),
        None,
        "load created a record"
    );
    assert!(!store.delete(&key).await.unwrap(), "load created a record");
}

/// Contract 3: a save is conditional on the version, and never resurrects a
/// deleted record.
pub async fn save_is_conditional_on_the_version<S: SessionStore>(store: S) {
    let key = random_key();
    let mut current = record(json!({"n": 1}), MINUTE);
    store.create(&key, &current).await.unwrap();
    current.data.insert("n", &2).unwrap();
    current.version = 2;
    assert_eq!(
        store.save(&key, &current, 1).await.unwrap(),
        SaveOutcome::Saved,
        "a save expecting the stored version must write"
    );
    let mut stale = current.clone();
    stale.data.insert("n", &99).unwrap();
    stale.version = 2;
    assert_eq!(
        store.save(&key, &stale, 1).await.unwrap(),
        SaveOutcome::Conflict,
        "a save expecting an older version must conflict"
    );
    assert_eq!(
        store.load(&key).await.unwrap(),
        Some(current),
        "a conflict writes nothing"
    );
    assert!(store.delete(&key).await.unwrap());
    assert_eq!(
        store.save(&key, &stale, 2).await.unwrap(),
        SaveOutcome::Missing,
        "a save of a deleted record must report it missing"
    );
    assert_eq!(
        store.load(&key).await.unwrap(),
        None,
        "a save never resurrects"
    );
}

/// Contract 3 for a save that ends the session: saved with a deadline long
/// past, the record is gone or expired to every later load, and a save
/// expecting the version before it is refused. The layer ends an emptied
/// session this way, so that the end cannot erase a write another request
/// saved meanwhile (that write makes the end a conflict instead).
pub async fn a_save_with_a_past_deadline_ends_the_session<S: SessionStore>(store: S) {
    let key = random_key();
    assert!(
        store
            .create(&key, &record(json!({"a": 1}), MINUTE))
            .await
            .unwrap()
    );
    let mut ended = record(json!({}), MINUTE);
    ended.version = 2;
    ended.expires_at = UNIX_EPOCH + Duration::from_millis(1);
    assert_eq!(
        store.save(&key, &ended, 1).await.unwrap(),
        SaveOutcome::Saved,
        "a save with a past deadline is still a save"
    );
    if let Some(loaded) = store.load(&key).await.unwrap() {
        assert!(
            loaded.is_expired(SystemTime::now()),
            "the ended session loads back alive: {loaded:?}"
        );
    }
    let mut late = record(json!({"b": 2}), MINUTE);
    late.version = 2;
    assert_ne!(
        store.save(&key, &late, 1).await.unwrap(),
        SaveOutcome::Saved,
        "a save of the version before the end revived the session"
    );
}

/// Contracts 3 and 7 under contention: of 16 saves expecting the same
/// version, one wins.
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
    assert_eq!(
        saved, 1,
        "saves expecting one version must have exactly one winner"
    );
}

/// Contract 4: a delete reports whether it removed a record, and deleting
/// an absent key is no error.
pub async fn delete_reports_whether_it_removed<S: SessionStore>(store: S) {
    let key = random_key();
    store
        .create(&key, &record(json!({"a": 1}), MINUTE))
        .await
        .unwrap();
    assert!(
        store.delete(&key).await.unwrap(),
        "delete of a record must return true"
    );
    assert!(
        !store.delete(&key).await.unwrap(),
        "delete of an absent key must return false"
    );
    assert_eq!(
        store.load(&key).await.unwrap(),
        None,
        "a deleted record must not load"
    );
}

/// Contract 5: `delete_expired` removes the expired record and keeps the
/// live one.
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
    let removed = store.delete_expired().await.unwrap();
    assert!(
        removed <= 1,
        "delete_expired counted {removed} of 1 expired record"
    );
    assert!(
        store.load(&live).await.unwrap().is_some(),
        "delete_expired removed a live record"
    );
    assert_eq!(
        store.load(&dead).await.unwrap(),
        None,
        "delete_expired left an expired record"
    );
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
    assert_eq!(
        store.delete_expired().await.unwrap(),
        3,
        "3 of 5 records are expired"
    );
    assert_eq!(
        store.delete_expired().await.unwrap(),
        0,
        "a second cleanup finds nothing"
    );
}

/// Contract 2: expiry is the layer's call; a store may still return the record.
pub async fn load_returns_expired_records_for_the_layer_to_judge<S: SessionStore>(store: S) {
    let key = random_key();
    let mut expired = record(json!({"a": 1}), MINUTE);
    expired.expires_at = now() - Duration::from_secs(1);
    store.create(&key, &expired).await.unwrap();
    if let Some(loaded) = store.load(&key).await.unwrap() {
        assert!(
            loaded.is_expired(SystemTime::now()),
            "load changed the deadline: {loaded:?}"
        );
    }
}

/// Contract 2: a record holding a 100 KiB value loads back as stored.
pub async fn values_of_100_kib_round_trip<S: SessionStore>(store: S) {
    let key = random_key();
    let big = "x".repeat(100 * 1024);
    let original = record(json!({ "big": big }), MINUTE);
    store.create(&key, &original).await.unwrap();
    let loaded = store.load(&key).await.unwrap();
    assert!(
        loaded == Some(original),
        "a 100 KiB value did not load back as stored"
    );
}

/// Contract 2: non-ASCII, NUL and SQL-looking keys and values load back as
/// stored.
pub async fn unicode_keys_and_values_round_trip<S: SessionStore>(store: S) {
    let key = random_key();
    let original = record(
        json!({"ключ": "значение", "鍵": "🦀", "nul\u{0}": "a\u{0}b", "'; DROP TABLE x; --": "\"quoted\""}),
        MINUTE,
    );
    store.create(&key, &original).await.unwrap();
    assert_eq!(
        store.load(&key).await.unwrap(),
        Some(original),
        "unicode, NUL and quotes must round-trip"
    );
}

/// Contracts 1, 5 and 7 at scale: 10,000 sessions created from 10 tasks,
/// half expired; cleanup removes exactly those.
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
                    assert!(
                        store.create(key, &r).await.unwrap(),
                        "a fresh key was taken"
                    );
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let removed = store.delete_expired().await.unwrap();
    assert!(
        removed <= 5_000,
        "delete_expired counted {removed} of 5,000 expired records"
    );
    let mut live = 0;
    for key in &keys {
        if store.load(key).await.unwrap().is_some() {
            live += 1;
        }
    }
    assert_eq!(live, 5_000, "of 5,000 live and 5,000 expired records");
}

/// The `name=value` pair of the first `Set-Cookie` of `reply`.
fn session_cookie(reply: &Reply) -> String {
    let header = reply.header("set-cookie").expect("a session cookie");
    header.split(';').next().unwrap().to_owned()
}

/// Contracts 3 and 7 through the layer: 40 concurrent requests of one
/// session write different keys, and none is lost (version conflicts are
/// resolved by the layer).
pub async fn layer_merges_40_concurrent_writers<S: SessionStore>(store: S) {
    let app = app(&SessionLayer::new(store, secret()));
    let cookie = session_cookie(&send(&app, "/insert/k999", None).await);
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let (app, cookie) = (app.clone(), cookie.clone());
            tokio::spawn(async move {
                send(&app, &format!("/insert/k{i}"), Some(&cookie))
                    .await
                    .status
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(
            task.await.unwrap(),
            http::StatusCode::OK,
            "a concurrent write failed"
        );
    }
    let count = send(&app, "/count", Some(&cookie)).await.body;
    assert_eq!(count, "41", "writes of 41 requests, some lost");
}

/// Contract 2 through the layer: a record past its deadline is a guest,
/// whatever the store holds.
pub async fn layer_treats_expired_records_as_guests<S: SessionStore>(store: S) {
    let app = app(&SessionLayer::new(store, secret())
        .expiry(Expiry::OnInactivity(Duration::from_millis(300))));
    let cookie = session_cookie(&send(&app, "/insert/k1", None).await);
    assert_eq!(
        send(&app, "/count", Some(&cookie)).await.body,
        "1",
        "the session is live"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let count = send(&app, "/count", Some(&cookie)).await.body;
    assert_eq!(count, "0", "an expired session must be a guest");
}
