//! The conformance suite: the whole [store contract](crate::store) as checks
//! to run against your own [`SessionStore`] (and [`UserIndex`]).
#![cfg_attr(
    feature = "memory-store",
    doc = r#"
# Example

In a test file of your crate, one test per check (here `MemoryStore` stands
for your store); a check can also be called on its own:

```
# use sessionware::MemoryStore as MyStore;
sessionware::conformance_suite!(async { MyStore::new() });
sessionware::accounts_suite!(async { MyStore::new() });
sessionware::features_suite!(async { MyStore::new() });

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    use sessionware::store::conformance;
    conformance::create_never_overwrites(MyStore::new()).await;
    conformance::login_cycles_and_binds(MyStore::new()).await;
}
```
"#
)]
//!
//! # The suites
//!
//! Every store shipped with sessionware passes them, against its real
//! backend. Each check is a public `async fn check<S: SessionStore>(store: S)`
//! (or `S: UserIndex`) that panics, saying what broke, when the store breaks a
//! clause of the contract; the checks that go through requests drive
//! [`SessionLayer`] over a plain tower service, so the
//! suite needs no web framework. Three macros run them:
//!
//! - [`conformance_suite!`](crate::conformance_suite): the contract's seven
//!   clauses, from [`health_answers_through_the_trait`] to
//!   [`layer_treats_expired_records_as_guests`];
//! - [`accounts_suite!`](crate::accounts_suite), for a store that implements
//!   [`UserIndex`]: listing and revoking a user's sessions at the store, and
//!   login, logout, revocation and the per-user cap through real requests;
//! - [`features_suite!`](crate::features_suite): secret rotation, the absolute
//!   timeout, the header transports, audit events and user-agent binding
//!   through real requests, each proving that what the feature relies on (the
//!   store key, `created_at`, the deadline, the user-agent binding) survives
//!   the store's round trip.
//!
//! A store whose backend expires records by itself (as Redis does) runs
//! `conformance_suite!(make, native_expiry)`, which leaves out
//! [`delete_expired_counts_exactly`]: its `delete_expired` may find nothing
//! left to count.
//!
//! # What the macros need
//!
//! Each macro expands, where it is invoked, to one
//! `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]` per check,
//! named after the check. The expression it is given is evaluated and awaited
//! once per test: it must give a store isolated from every other test (its own
//! key prefix, table or file), as the tests run at the same time. Your crate
//! needs, as dev-dependencies, sessionware with this feature and tokio with
//! `macros` and `rt-multi-thread`:
//!
//! ```toml
//! [dev-dependencies]
//! sessionware = { version = "0.1", features = ["conformance"] }
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! ```
//!
//! [`UserIndex`]: crate::store::UserIndex

mod accounts;
mod app;
mod features;

pub use self::accounts::{
    a_login_past_the_cap_signs_out_the_oldest_sign_in,
    a_revocation_is_final_while_the_session_changes_id_back_to_back,
    an_identity_switch_clears_the_previous_users_data,
    concurrent_logins_past_the_cap_leave_exactly_the_cap, index_lists_a_users_live_sessions_only,
    login_cycles_and_binds, revocation_deletes_sessions_whatever_their_deadline,
    revoke_all_and_revoke_others_count_exactly, revoke_never_reaches_another_users_session,
    revoked_sessions_are_guests_on_every_instance,
    the_index_holds_only_live_sessions_after_logouts_and_id_changes,
};
pub use self::features::{
    a_custom_token_header_carries_the_session_both_ways,
    a_shortened_max_lifetime_ends_existing_sessions, bearer_tokens_work_end_to_end,
    bind_user_agent_ends_sessions_shown_by_another_agent, events_name_sessions_by_handle,
    max_lifetime_ends_active_sessions, rotation_reissues_old_cookies_with_the_same_store_key,
};

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use self::app::{Reply, app, secret, send};
use super::{Record, SaveOutcome, SessionKey, SessionStore};
use crate::expiry::Expiry;
use crate::layer::SessionLayer;

/// Runs every check of the store contract (see [`store::conformance`]) as
/// its own test against `$make`, an expression giving a future of a fresh,
/// isolated store (`async { MyStore::new() }`, `make_store()`).
///
/// Add `, native_expiry` for a store whose backend expires records by itself
/// (Redis): its `delete_expired` may find nothing left to count, so
/// [`delete_expired_counts_exactly`] is left out.
///
/// Needs tokio with `macros` and `rt-multi-thread` in the invoking crate.
///
/// [`store::conformance`]: crate::store::conformance
/// [`delete_expired_counts_exactly`]: crate::store::conformance::delete_expired_counts_exactly
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
                $crate::store::conformance::$name(store).await;
            }
        )*
    };
}

/// Runs every check of a [`UserIndex`](crate::UserIndex) (see
/// [`store::conformance`]) as its own test against `$make`, an expression
/// giving a future of a fresh, isolated store: listing and revoking at the
/// store, and login, logout, revocation and `max_sessions_per_user` through
/// the layer.
///
/// Needs tokio with `macros` and `rt-multi-thread` in the invoking crate.
///
/// [`store::conformance`]: crate::store::conformance
#[macro_export]
macro_rules! accounts_suite {
    ($make:expr) => {
        $crate::accounts_suite!(@tests $make;
            index_lists_a_users_live_sessions_only, revoke_never_reaches_another_users_session,
            revoke_all_and_revoke_others_count_exactly, login_cycles_and_binds,
            an_identity_switch_clears_the_previous_users_data,
            revoked_sessions_are_guests_on_every_instance,
            a_login_past_the_cap_signs_out_the_oldest_sign_in,
            a_revocation_is_final_while_the_session_changes_id_back_to_back,
            concurrent_logins_past_the_cap_leave_exactly_the_cap,
            the_index_holds_only_live_sessions_after_logouts_and_id_changes,
            revocation_deletes_sessions_whatever_their_deadline);
    };
    (@tests $make:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let store = $make.await;
                $crate::store::conformance::$name(store).await;
            }
        )*
    };
}

/// Runs every check of the layer's features on the store (see
/// [`store::conformance`]) as its own test against `$make`, an expression
/// giving a future of a fresh, isolated store: secret rotation, the absolute
/// timeout, the header transports, audit events and user-agent binding.
///
/// Needs tokio with `macros` and `rt-multi-thread` in the invoking crate.
///
/// [`store::conformance`]: crate::store::conformance
#[macro_export]
macro_rules! features_suite {
    ($make:expr) => {
        $crate::features_suite!(@tests $make;
            rotation_reissues_old_cookies_with_the_same_store_key,
            max_lifetime_ends_active_sessions, a_shortened_max_lifetime_ends_existing_sessions,
            bearer_tokens_work_end_to_end, a_custom_token_header_carries_the_session_both_ways,
            events_name_sessions_by_handle, bind_user_agent_ends_sessions_shown_by_another_agent);
    };
    (@tests $make:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let store = $make.await;
                $crate::store::conformance::$name(store).await;
            }
        )*
    };
}

/// A fresh random key, as every check uses: 256 bits from the OS generator,
/// so checks sharing a backend never meet.
pub fn random_key() -> SessionKey {
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
    Record::new(map.into(), now, now + lives)
}

const MINUTE: Duration = Duration::from_secs(60);

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
