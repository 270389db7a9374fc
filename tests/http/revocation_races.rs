//! Revocation racing a session that changes its id, made deterministic: a
//! store that holds the id change at a chosen step while the revocation runs.
//! Whatever the interleaving, a revocation that returns is final: the revoked
//! session, and whatever it was moving to, is a guest on its next request.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use common::{Reply, secret, send};
use sessionware::store::{Record, SaveOutcome, SessionKey};
use sessionware::{
    Error, MemoryStore, Session, SessionHandle, SessionLayer, SessionStore, UserIndex,
};
use tokio::sync::{Barrier, Notify};

/// Which call of the id change to hold.
const NONE: u8 = 0;
const CREATE: u8 = 1;
const DELETE: u8 = 2;

/// A `MemoryStore` that holds the next `create` or `delete` (once armed)
/// until the test releases it.
#[derive(Clone, Default)]
struct PausingStore {
    inner: MemoryStore,
    armed: Arc<AtomicU8>,
    held: Arc<Notify>,
    release: Arc<Notify>,
    /// The next `listings` index reads wait for each other at `together`.
    listings: Arc<AtomicUsize>,
    together: Arc<std::sync::Mutex<Option<Arc<Barrier>>>>,
}

impl PausingStore {
    fn arm(&self, step: u8) {
        self.armed.store(step, Ordering::SeqCst);
    }

    /// Makes the next `n` index reads wait until all `n` have started.
    fn list_together(&self, n: usize) {
        *self.together.lock().unwrap() = Some(Arc::new(Barrier::new(n)));
        self.listings.store(n, Ordering::SeqCst);
    }

    async fn maybe_hold(&self, step: u8) {
        if self
            .armed
            .compare_exchange(step, NONE, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            self.held.notify_one();
            self.release.notified().await;
        }
    }
}

impl SessionStore for PausingStore {
    async fn create(&self, key: &SessionKey, record: &Record) -> Result<bool, Error> {
        self.maybe_hold(CREATE).await;
        self.inner.create(key, record).await
    }
    async fn load(&self, key: &SessionKey) -> Result<Option<Record>, Error> {
        self.inner.load(key).await
    }
    async fn save(
        &self,
        key: &SessionKey,
        record: &Record,
        expected: u64,
    ) -> Result<SaveOutcome, Error> {
        self.inner.save(key, record, expected).await
    }
    async fn delete(&self, key: &SessionKey) -> Result<bool, Error> {
        self.maybe_hold(DELETE).await;
        self.inner.delete(key).await
    }
    async fn delete_expired(&self) -> Result<u64, Error> {
        self.inner.delete_expired().await
    }
    async fn health(&self) -> Result<(), Error> {
        self.inner.health().await
    }
    fn user_index(&self) -> Option<&dyn sessionware::store::ErasedUserIndex> {
        Some(self)
    }
}

impl UserIndex for PausingStore {
    async fn keys_of(&self, user: &str) -> Result<Vec<SessionKey>, Error> {
        let held = self
            .listings
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if held {
            let barrier = self.together.lock().unwrap().clone();
            if let Some(barrier) = barrier {
                barrier.wait().await;
            }
        }
        self.inner.keys_of(user).await
    }
    async fn forget(&self, user: &str, stale: &[SessionKey]) -> Result<(), Error> {
        self.inner.forget(user, stale).await
    }
}

fn app(store: &PausingStore, cap: Option<usize>) -> Router {
    let mut layer = SessionLayer::new(store.clone(), secret());
    if let Some(cap) = cap {
        layer = layer.max_sessions_per_user(cap);
    }
    Router::new()
        .route(
            "/login/{name}",
            get(|s: Session, Path(name): Path<String>| async move { s.login(name) }),
        )
        .route("/cycle", get(|s: Session| async move { s.cycle_id() }))
        .route(
            "/whoami",
            get(|s: Session| async move { format!("{:?}", s.user()) }),
        )
        .route(
            "/handle",
            get(|s: Session| async move { s.handle().map(|h| h.to_string()).unwrap_or_default() }),
        )
        .layer(layer)
}

/// Starts `GET /cycle` with `cookie`, holds it at `step`, runs `revoke`, then
/// lets the id change finish; returns the id change's reply.
async fn cycle_held_at<F: Future<Output = ()>>(
    store: &PausingStore,
    app: &Router,
    cookie: &str,
    step: u8,
    revoke: F,
) -> Reply {
    store.arm(step);
    let request = tokio::spawn({
        let (app, cookie) = (app.clone(), cookie.to_owned());
        async move { send(&app, "/cycle", Some(&cookie)).await }
    });
    store.held.notified().await;
    revoke.await;
    store.release.notify_one();
    request.await.unwrap()
}

async fn is_guest(app: &Router, cookie: &str) -> bool {
    send(app, "/whoami", Some(cookie)).await.body == "None"
}

/// Every cookie the client holds after the race is a guest.
async fn all_guests(app: &Router, old: &str, reply: &Reply) {
    assert!(is_guest(app, old).await, "the revoked cookie still works");
    if reply.set_cookie().is_some() {
        let new = reply.cookie_pair();
        assert!(
            is_guest(app, &new).await,
            "the id the revoked session moved to still works"
        );
    }
}

async fn signed_in(app: &Router, name: &str) -> String {
    send(app, &format!("/login/{name}"), None)
        .await
        .cookie_pair()
}

#[tokio::test]
async fn revoke_all_while_the_new_id_is_not_yet_created_is_final() {
    let store = PausingStore::default();
    let app = app(&store, None);
    let cookie = signed_in(&app, "ada").await;
    let revoked = Arc::new(AtomicU8::new(0));
    let counted = Arc::clone(&revoked);
    let reply = cycle_held_at(&store, &app, &cookie, CREATE, async {
        let n = store.revoke_all("ada").await.unwrap();
        counted.store(n as u8, Ordering::SeqCst);
    })
    .await;
    assert_eq!(
        revoked.load(Ordering::SeqCst),
        1,
        "revoke_all found the session"
    );
    all_guests(&app, &cookie, &reply).await;
    assert!(store.inner.is_empty(), "no record outlives the revocation");
    assert!(store.keys_of("ada").await.unwrap().is_empty());
}

#[tokio::test]
async fn revoke_all_between_the_new_record_and_the_old_ones_deletion_is_final() {
    let store = PausingStore::default();
    let app = app(&store, None);
    let cookie = signed_in(&app, "ada").await;
    let reply = cycle_held_at(&store, &app, &cookie, DELETE, async {
        assert!(store.revoke_all("ada").await.unwrap() >= 1);
    })
    .await;
    assert!(
        reply.set_cookie().is_none(),
        "no cookie for an ended session"
    );
    all_guests(&app, &cookie, &reply).await;
    assert!(store.inner.is_empty());
}

#[tokio::test]
async fn revoking_one_handle_reaches_the_id_it_is_moving_to() {
    for step in [CREATE, DELETE] {
        let store = PausingStore::default();
        let app = app(&store, None);
        let cookie = signed_in(&app, "ada").await;
        let other = signed_in(&app, "ada").await;
        let handle: SessionHandle = send(&app, "/handle", Some(&cookie))
            .await
            .body
            .parse()
            .unwrap();
        let reply = cycle_held_at(&store, &app, &cookie, step, async {
            assert!(store.revoke("ada", &handle).await.unwrap());
        })
        .await;
        all_guests(&app, &cookie, &reply).await;
        assert!(
            !is_guest(&app, &other).await,
            "the user's other session stays"
        );
        assert_eq!(store.sessions("ada").await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn revoke_others_keeps_the_kept_session_across_its_own_id_change() {
    for step in [CREATE, DELETE] {
        let store = PausingStore::default();
        let app = app(&store, None);
        let keep = signed_in(&app, "ada").await;
        let other = signed_in(&app, "ada").await;
        let kept: SessionHandle = send(&app, "/handle", Some(&keep))
            .await
            .body
            .parse()
            .unwrap();
        // The kept session changes its id while the others are revoked.
        let reply = cycle_held_at(&store, &app, &keep, step, async {
            assert_eq!(store.revoke_others("ada", &kept).await.unwrap(), 1);
        })
        .await;
        assert!(is_guest(&app, &other).await);
        assert!(
            !is_guest(&app, &reply.cookie_pair()).await,
            "kept, under its new id"
        );
    }
}

#[tokio::test]
async fn revoke_others_reaches_another_session_changing_its_id() {
    for step in [CREATE, DELETE] {
        let store = PausingStore::default();
        let app = app(&store, None);
        let keep = signed_in(&app, "ada").await;
        let other = signed_in(&app, "ada").await;
        let kept: SessionHandle = send(&app, "/handle", Some(&keep))
            .await
            .body
            .parse()
            .unwrap();
        let reply = cycle_held_at(&store, &app, &other, step, async {
            assert!(store.revoke_others("ada", &kept).await.unwrap() >= 1);
        })
        .await;
        all_guests(&app, &other, &reply).await;
        assert!(!is_guest(&app, &keep).await);
    }
}

#[tokio::test]
async fn the_per_user_cap_reaches_a_session_changing_its_id() {
    for step in [CREATE, DELETE] {
        let store = PausingStore::default();
        let app = app(&store, Some(1));
        let old = signed_in(&app, "ada").await;
        // A new sign-in under a cap of 1 while the old session changes its id.
        let newer = Arc::new(std::sync::Mutex::new(String::new()));
        let slot = Arc::clone(&newer);
        let reply = cycle_held_at(&store, &app, &old, step, async {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            *slot.lock().unwrap() = signed_in(&app, "ada").await;
        })
        .await;
        all_guests(&app, &old, &reply).await;
        let newer = newer.lock().unwrap().clone();
        assert!(!is_guest(&app, &newer).await, "the newest sign-in stays");
        assert_eq!(store.sessions("ada").await.unwrap().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_simultaneous_logins_under_a_cap_of_one_leave_exactly_one() {
    for _ in 0..10 {
        let store = PausingStore::default();
        let app = app(&store, Some(1));
        // Both logins create their session, then both enforce the cap
        // having listed both: each must agree on which one stays.
        store.list_together(2);
        let logins = [0, 1].map(|_| {
            let app = app.clone();
            tokio::spawn(async move { signed_in(&app, "ada").await })
        });
        let mut signed = 0;
        for login in logins {
            let cookie = login.await.unwrap();
            signed += usize::from(!is_guest(&app, &cookie).await);
        }
        assert_eq!(signed, 1, "exactly one of two simultaneous logins stays");
        assert_eq!(store.sessions("ada").await.unwrap().len(), 1);
    }
}
