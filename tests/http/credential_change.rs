//! Logout on credential change through a `Router`: after a password change
//! every other session of the user is a guest at its next request, on the
//! memory store and on the cookie store; the session that changed it, and
//! logins after the change, stay; a failing check is a degraded session.

use crate::common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use common::{EventLog, key_of, recorded, secret, send, take};
use http::StatusCode;
use sessionware::{Error, Login, MemoryStore, Session, SessionEvent, SessionLayer, SessionStore};

/// The app's user table: each user's security stamp, bumped on every
/// password change, and switches to make the lookup fail.
#[derive(Clone, Default)]
struct Users {
    stamps: Arc<Mutex<HashMap<String, u64>>>,
    down: Arc<AtomicBool>,
    lookups: Arc<AtomicUsize>,
}

impl Users {
    fn stamp(&self, user: &str) -> String {
        let stamps = self.stamps.lock().unwrap();
        stamps.get(user).copied().unwrap_or(0).to_string()
    }

    fn change_password(&self, user: &str) -> String {
        let mut stamps = self.stamps.lock().unwrap();
        let stamp = stamps.entry(user.to_owned()).or_default();
        *stamp += 1;
        stamp.to_string()
    }

    /// The check the layer calls: a closure over the table.
    fn check(
        &self,
    ) -> impl Fn(String) -> std::future::Ready<Result<Option<String>, Error>> + Send + Sync + 'static
    {
        let users = self.clone();
        move |user: String| {
            users.lookups.fetch_add(1, Ordering::SeqCst);
            std::future::ready(if users.down.load(Ordering::SeqCst) {
                Err(Error::store(std::io::Error::other(
                    "injected: users db down",
                )))
            } else {
                Ok(Some(users.stamp(&user)))
            })
        }
    }
}

fn routes(users: &Users) -> Router {
    let (on_login, on_change) = (users.clone(), users.clone());
    Router::new()
        .route(
            "/login/{name}",
            get(move |s: Session, Path(name): Path<String>| async move {
                let stamp = on_login.stamp(&name);
                s.login_with(Login::new(name).method("password").credential(stamp));
            }),
        )
        .route(
            "/plain-login/{name}",
            get(|s: Session, Path(name): Path<String>| async move { s.login(name) }),
        )
        .route(
            "/change-password",
            get(move |s: Session| async move {
                let user = s.user().expect("signed in");
                let stamp = on_change.change_password(&user);
                // This session goes on, under the new credentials.
                s.login_with(Login::new(user).method("password").credential(stamp));
            }),
        )
        .route(
            "/me",
            get(|s: Session| async move { format!("{:?} {}", s.user(), s.is_degraded()) }),
        )
}

fn memory_app(store: &MemoryStore, users: &Users) -> (Router, EventLog) {
    let layer = SessionLayer::new(store.clone(), secret()).credential_check(users.check());
    let (layer, log) = recorded(layer);
    (routes(users).layer(layer), log)
}

async fn login(app: &Router, path: &str) -> String {
    let reply = send(app, path, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    reply.cookie_pair()
}

/// Sessions A and B of one user; A changes the password. B is a guest at its
/// next request: its record is deleted, its cookie cleared, an event says
/// why. A (signed in again with the new fingerprint) and a login after the
/// change stay; another user's session is untouched.
#[tokio::test]
async fn a_password_change_ends_every_other_session_of_the_user() {
    let store = MemoryStore::new();
    let users = Users::default();
    let (app, log) = memory_app(&store, &users);
    let a = login(&app, "/login/ferris").await;
    let b = login(&app, "/login/ferris").await;
    let other = login(&app, "/login/crab").await;
    for pair in [&a, &b] {
        assert_eq!(
            send(&app, "/me", Some(pair)).await.body,
            r#"Some("ferris") false"#
        );
    }

    let reply = send(&app, "/change-password", Some(&a)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let a = reply.cookie_pair();
    take(&log);

    let reply = send(&app, "/me", Some(&b)).await;
    assert_eq!(reply.body, "None false");
    let removal = reply.set_cookie().expect("the cookie is cleared");
    assert!(
        removal.starts_with("id=;") && removal.contains("Max-Age=0"),
        "{removal}"
    );
    assert!(
        SessionStore::load(&store, &key_of(&b))
            .await
            .unwrap()
            .is_none()
    );
    let events = take(&log);
    assert!(
        events
            .iter()
            .any(|event| matches!(event, SessionEvent::CredentialChanged { handle: Some(_) })),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .all(|event| !matches!(event, SessionEvent::Loaded { .. }))
    );

    assert_eq!(
        send(&app, "/me", Some(&a)).await.body,
        r#"Some("ferris") false"#
    );
    let c = login(&app, "/login/ferris").await;
    assert_eq!(
        send(&app, "/me", Some(&c)).await.body,
        r#"Some("ferris") false"#
    );
    assert_eq!(
        send(&app, "/me", Some(&other)).await.body,
        r#"Some("crab") false"#
    );
}

/// A failing check never lets the session through signed in: the request
/// gets a degraded session, nothing is written or cleared, and the session
/// is back once the check answers again.
#[tokio::test]
async fn a_failing_check_gives_a_degraded_session() {
    let store = MemoryStore::new();
    let users = Users::default();
    let (app, _log) = memory_app(&store, &users);
    let pair = login(&app, "/login/ferris").await;
    users.down.store(true, Ordering::SeqCst);
    let reply = send(&app, "/me", Some(&pair)).await;
    assert_eq!(reply.body, "None true");
    assert_eq!(reply.set_cookie(), None);
    users.down.store(false, Ordering::SeqCst);
    assert_eq!(
        send(&app, "/me", Some(&pair)).await.body,
        r#"Some("ferris") false"#
    );
}

/// Only sessions signed in with a fingerprint are checked: guests and
/// plain logins cost no lookup, and a plain login survives a change.
#[tokio::test]
async fn sessions_without_a_fingerprint_are_not_checked() {
    let store = MemoryStore::new();
    let users = Users::default();
    let (app, _log) = memory_app(&store, &users);
    let pair = login(&app, "/plain-login/ferris").await;
    send(&app, "/me", None).await;
    users.change_password("ferris");
    assert_eq!(
        send(&app, "/me", Some(&pair)).await.body,
        r#"Some("ferris") false"#
    );
    assert_eq!(users.lookups.load(Ordering::SeqCst), 0);
    let checked = login(&app, "/login/ferris").await;
    send(&app, "/me", Some(&checked)).await;
    assert_eq!(
        users.lookups.load(Ordering::SeqCst),
        1,
        "one lookup per request"
    );
}

/// On the cookie store, a sealed session signed in before the change is
/// refused and its cookie cleared; the changing session and later logins
/// stay; a failing check is degraded there too.
#[cfg(feature = "cookie-store")]
#[tokio::test]
async fn a_password_change_ends_sealed_sessions_too() {
    let users = Users::default();
    let layer = SessionLayer::sealed_cookies(secret()).credential_check(users.check());
    let (layer, log) = recorded(layer);
    let app = routes(&users).layer(layer);
    let a = login(&app, "/login/ferris").await;
    let b = login(&app, "/login/ferris").await;
    assert_eq!(
        send(&app, "/me", Some(&b)).await.body,
        r#"Some("ferris") false"#
    );

    let a = send(&app, "/change-password", Some(&a)).await.cookie_pair();
    take(&log);
    let reply = send(&app, "/me", Some(&b)).await;
    assert_eq!(reply.body, "None false");
    let removal = reply.set_cookie().expect("the cookie is cleared");
    assert!(removal.contains("Max-Age=0"), "{removal}");
    assert!(take(&log).contains(&SessionEvent::CredentialChanged { handle: None }));
    assert_eq!(
        send(&app, "/me", Some(&a)).await.body,
        r#"Some("ferris") false"#
    );
    let c = login(&app, "/login/ferris").await;
    assert_eq!(
        send(&app, "/me", Some(&c)).await.body,
        r#"Some("ferris") false"#
    );

    users.down.store(true, Ordering::SeqCst);
    let reply = send(&app, "/me", Some(&c)).await;
    assert_eq!(
        (reply.body.as_str(), reply.set_cookie()),
        ("None true", None)
    );
}

/// With `credential_cache`, a matching answer is trusted for the period:
/// one lookup per user and period, and a session from before the change
/// lives until the answer expires (the documented cost); a login after the
/// change is never refused on the strength of the cached answer.
#[tokio::test]
async fn a_cached_answer_is_trusted_for_its_period_only() {
    let store = MemoryStore::new();
    let users = Users::default();
    let layer = SessionLayer::new(store.clone(), secret())
        .credential_cache(std::time::Duration::from_millis(300))
        .credential_check(users.check());
    let app = routes(&users).layer(layer);
    let a = login(&app, "/login/ferris").await;
    let b = login(&app, "/login/ferris").await;
    for _ in 0..3 {
        assert_eq!(
            send(&app, "/me", Some(&b)).await.body,
            r#"Some("ferris") false"#
        );
    }
    assert_eq!(users.lookups.load(Ordering::SeqCst), 1);

    let a = send(&app, "/change-password", Some(&a)).await.cookie_pair();
    // Within the period, the old session still passes from the cache.
    let reply = send(&app, "/me", Some(&b)).await;
    assert_eq!(reply.body, r#"Some("ferris") false"#);
    let reply = send(&app, "/me", Some(&a)).await;
    assert_eq!(reply.body, r#"Some("ferris") false"#);
    let c = login(&app, "/login/ferris").await;
    assert_eq!(
        send(&app, "/me", Some(&c)).await.body,
        r#"Some("ferris") false"#
    );
    tokio::time::sleep(std::time::Duration::from_millis(350)).await;
    assert_eq!(send(&app, "/me", Some(&b)).await.body, "None false");
    assert_eq!(
        send(&app, "/me", Some(&c)).await.body,
        r#"Some("ferris") false"#
    );
}
