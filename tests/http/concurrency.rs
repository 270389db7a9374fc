//! Concurrent requests on one session: no lost updates, no resurrection, no
//! deadlock.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use common::{FaultyStore, secret, send};
use sessionware::{Expiry, Session, SessionLayer};
use tokio::sync::{Barrier, Notify};

/// Lets a test hold a request after it loaded its session.
#[derive(Default)]
struct Gate {
    loaded: Notify,
    proceed: Notify,
}

fn app(
    store: FaultyStore,
    gate: Arc<Gate>,
    barrier: Arc<Barrier>,
    layer: impl FnOnce(SessionLayer) -> SessionLayer,
) -> Router {
    Router::new()
        .route(
            "/insert/{key}",
            get(|s: Session, Path(key): Path<String>| async move { s.insert(&key, true).unwrap() }),
        )
        .route(
            "/together/{key}",
            get(
                |State((_, barrier)): State<(Arc<Gate>, Arc<Barrier>)>,
                 s: Session,
                 Path(key): Path<String>| async move {
                    barrier.wait().await;
                    s.insert(&key, true).unwrap();
                },
            ),
        )
        .route(
            "/slow_insert",
            get(
                |State((gate, _)): State<(Arc<Gate>, Arc<Barrier>)>, s: Session| async move {
                    gate.loaded.notify_one();
                    gate.proceed.notified().await;
                    s.insert("late", true).unwrap();
                },
            ),
        )
        .route(
            "/slow_read",
            get(
                |State((gate, _)): State<(Arc<Gate>, Arc<Barrier>)>, s: Session| async move {
                    gate.loaded.notify_one();
                    gate.proceed.notified().await;
                    s.is_empty().to_string()
                },
            ),
        )
        .route(
            "/keys",
            get(|s: Session| async move {
                s.get::<serde_json::Value>("k0")
                    .unwrap()
                    .is_some()
                    .to_string()
            }),
        )
        .route(
            "/has_late",
            get(|s: Session| async move { s.get::<bool>("late").unwrap().is_some().to_string() }),
        )
        .route("/destroy", get(|s: Session| async move { s.destroy() }))
        .route("/cycle", get(|s: Session| async move { s.cycle_id() }))
        .with_state((gate, barrier))
        .layer(layer(SessionLayer::new(store, secret())))
}

fn simple(store: FaultyStore) -> (Router, Arc<Gate>) {
    let gate = Arc::new(Gate::default());
    (
        app(store, gate.clone(), Arc::new(Barrier::new(1)), |l| l),
        gate,
    )
}

/// 48 concurrent requests that all loaded version 1 write different keys;
/// every key survives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_to_disjoint_keys_all_survive() {
    const N: usize = 48;
    let store = FaultyStore::default();
    let app = app(
        store.clone(),
        Arc::default(),
        Arc::new(Barrier::new(N)),
        |l| l,
    );
    let cookie = send(&app, "/insert/seed", None).await.cookie_pair();
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let (app, cookie) = (app.clone(), cookie.clone());
            tokio::spawn(async move {
                send(&app, &format!("/together/k{i}"), Some(&cookie))
                    .await
                    .status
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), http::StatusCode::OK);
    }
    let key = common::key_of(&cookie);
    let record = sessionware::SessionStore::load(&store.inner, &key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.data.len(),
        N + 1,
        "lost keys: {:?}",
        record.data.keys().collect::<Vec<_>>()
    );
    assert_eq!(record.version, 1 + N as u64);
}

/// A loads, B destroys, A saves: A's save is rejected, the record stays
/// deleted, and A's response carries no new token.
#[tokio::test]
async fn logout_is_not_resurrected_by_a_late_save() {
    let store = FaultyStore::default();
    let (app, gate) = simple(store.clone());
    let cookie = send(&app, "/insert/k0", None).await.cookie_pair();
    let slow = tokio::spawn({
        let (app, cookie) = (app.clone(), cookie.clone());
        async move { send(&app, "/slow_insert", Some(&cookie)).await }
    });
    gate.loaded.notified().await;
    assert!(
        send(&app, "/destroy", Some(&cookie))
            .await
            .set_cookie()
            .unwrap()
            .contains("Max-Age=0")
    );
    gate.proceed.notify_one();
    let late = slow.await.unwrap();
    assert_eq!(late.set_cookie(), None, "no token carrying the old state");
    assert_eq!(store.inner.len(), 0, "the record stays deleted");
    assert_eq!(send(&app, "/keys", Some(&cookie)).await.body, "false");
}

/// A deadline refresh from a request that began before logout does not
/// recreate the record.
#[tokio::test]
async fn refresh_after_logout_does_not_revive() {
    let store = FaultyStore::default();
    let gate = Arc::new(Gate::default());
    let app = app(
        store.clone(),
        gate.clone(),
        Arc::new(Barrier::new(1)),
        |l| {
            l.expiry(Expiry::OnInactivity(Duration::from_secs(60)))
                .refresh_fraction(0.0)
        },
    );
    let cookie = send(&app, "/insert/k0", None).await.cookie_pair();
    let slow = tokio::spawn({
        let (app, cookie) = (app.clone(), cookie.clone());
        async move { send(&app, "/slow_read", Some(&cookie)).await }
    });
    gate.loaded.notified().await;
    send(&app, "/destroy", Some(&cookie)).await;
    gate.proceed.notify_one();
    let late = slow.await.unwrap();
    assert_eq!(late.body, "false", "it did read the session it loaded");
    assert_eq!(late.set_cookie(), None);
    assert_eq!(store.inner.len(), 0);
}

/// A request still holding the old id after a cycle cannot recreate the old
/// digest, nor add its change to the new session.
#[tokio::test]
async fn cycle_racing_an_old_cookie() {
    let store = FaultyStore::default();
    let (app, gate) = simple(store.clone());
    let old = send(&app, "/insert/k0", None).await.cookie_pair();
    let slow = tokio::spawn({
        let (app, old) = (app.clone(), old.clone());
        async move { send(&app, "/slow_insert", Some(&old)).await }
    });
    gate.loaded.notified().await;
    let new = send(&app, "/cycle", Some(&old)).await.cookie_pair();
    gate.proceed.notify_one();
    assert_eq!(slow.await.unwrap().set_cookie(), None);
    assert_eq!(store.inner.len(), 1, "only the new session exists");
    assert_eq!(send(&app, "/keys", Some(&old)).await.body, "false");
    assert_eq!(send(&app, "/keys", Some(&new)).await.body, "true");
    assert_eq!(send(&app, "/has_late", Some(&new)).await.body, "false");
}

/// 1,000 concurrent cookieless first writes: 1,000 distinct tokens and records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_new_sessions() {
    let store = FaultyStore::default();
    let (app, _) = simple(store.clone());
    let tasks: Vec<_> = (0..1_000)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { send(&app, "/insert/k0", None).await.cookie_pair() })
        })
        .collect();
    let mut cookies = std::collections::HashSet::new();
    for task in tasks {
        cookies.insert(task.await.unwrap());
    }
    assert_eq!(cookies.len(), 1_000);
    assert_eq!(store.inner.len(), 1_000);
}

/// A clone kept by a spawned task past the response causes no panic; its late
/// changes are not saved (documented), and 10^5 requests keep the store flat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clones_outliving_the_response_and_many_requests() {
    let store = FaultyStore::default();
    let done = Arc::new(Notify::new());
    let app = Router::new()
        .route(
            "/spawn",
            get(|State(done): State<Arc<Notify>>, s: Session| async move {
                s.insert("now", 1).unwrap();
                let kept = s.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    kept.insert("later", 2).unwrap();
                    kept.cycle_id();
                    done.notify_one();
                });
            }),
        )
        .route(
            "/later",
            get(|s: Session| async move { format!("{:?}", s.get::<u32>("later").unwrap()) }),
        )
        .with_state(done.clone())
        .layer(SessionLayer::new(store.clone(), secret()));
    let cookie = send(&app, "/spawn", None).await.cookie_pair();
    done.notified().await;
    assert_eq!(send(&app, "/later", Some(&cookie)).await.body, "None");
    for _ in 0..100_000 {
        send(&app, "/later", Some(&cookie)).await;
    }
    assert_eq!(store.inner.len(), 1);
}
