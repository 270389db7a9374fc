//! The layer driven through real requests on a `Router`: every `Session`
//! method, cookie attributes, lifecycle, headers, failures.

use crate::common;

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use common::{Faults, FaultyStore, routes, secret, send};
use http::StatusCode;
use sessionware::{ErrorKind, Expiry, MemoryStore, SameSite, Session, SessionLayer};

fn app(store: FaultyStore) -> Router {
    routes().layer(SessionLayer::new(store, secret()))
}

fn app_with(store: FaultyStore, layer: impl FnOnce(SessionLayer) -> SessionLayer) -> Router {
    routes().layer(layer(SessionLayer::new(store, secret())))
}

/// A session holding `n = 1`, and its cookie pair.
async fn with_session(app: &Router) -> String {
    let reply = send(app, "/insert", None).await;
    assert_eq!(reply.body, "1");
    reply.cookie_pair()
}

#[tokio::test]
async fn counter_round_trip_keeps_state() {
    let store = FaultyStore::default();
    let app = app(store.clone());
    let cookie = with_session(&app).await;
    assert_eq!(send(&app, "/insert", Some(&cookie)).await.body, "2");
    assert_eq!(send(&app, "/get", Some(&cookie)).await.body, "Some(2)");
    assert_eq!(store.inner.len(), 1);
}

/// A cookieless read is a guest with no lookup, no write, no cookie.
#[tokio::test]
async fn guest_read_touches_nothing() {
    let store = FaultyStore::default();
    let reply = send(&app(store.clone()), "/get", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "None");
    assert_eq!(reply.set_cookie(), None);
    assert_eq!(store.faults.lookups(), 0);
    assert_eq!(store.faults.writes(), 0);
}

/// A guest that writes gets exactly one create and one cookie.
#[tokio::test]
async fn guest_write_creates_once() {
    let store = FaultyStore::default();
    let reply = send(&app(store.clone()), "/insert", None).await;
    assert_eq!(reply.set_cookies().len(), 1);
    assert_eq!(
        store
            .faults
            .creates
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert_eq!(store.faults.writes(), 1);
}

#[tokio::test]
async fn a_route_that_ignores_the_session_is_untouched() {
    let store = FaultyStore::default();
    let app = app(store.clone());
    let cookie = with_session(&app).await;
    let reply = send(&app, "/ignore", Some(&cookie)).await;
    assert_eq!(reply.set_cookie(), None);
    assert_eq!(reply.header("vary"), None);
    assert_eq!(store.faults.lookups(), 0);
}

/// A read-only request writes nothing (default refresh fraction).
#[tokio::test]
async fn a_read_does_not_write() {
    let store = FaultyStore::default();
    let app = app(store.clone());
    let cookie = with_session(&app).await;
    let writes = store.faults.writes();
    for _ in 0..5 {
        let reply = send(&app, "/get", Some(&cookie)).await;
        assert_eq!(reply.body, "Some(1)");
        assert_eq!(reply.set_cookie(), None);
    }
    assert_eq!(store.faults.writes(), writes);
}

#[tokio::test]
async fn remove_take_clear_and_is_empty() {
    let store = FaultyStore::default();
    let app = app(store.clone());
    let cookie = with_session(&app).await;
    assert_eq!(send(&app, "/is_empty", Some(&cookie)).await.body, "false");
    assert_eq!(send(&app, "/take", Some(&cookie)).await.body, "Some(1)");
    // take emptied the session: it is deleted and the cookie cleared.
    assert_eq!(store.inner.len(), 0);
    assert_eq!(send(&app, "/get", Some(&cookie)).await.body, "None");

    let cookie = with_session(&app).await;
    let reply = send(&app, "/remove", Some(&cookie)).await;
    assert_eq!(reply.body, "true");
    assert!(reply.set_cookie().unwrap().contains("Max-Age=0"));
    assert_eq!(send(&app, "/remove", Some(&cookie)).await.body, "false");

    let cookie = with_session(&app).await;
    let reply = send(&app, "/clear", Some(&cookie)).await;
    assert!(reply.set_cookie().unwrap().contains("Max-Age=0"));
    assert_eq!(store.inner.len(), 0);
    assert_eq!(send(&app, "/is_empty", Some(&cookie)).await.body, "true");
}

/// The set cookie has secure attributes by default.
#[tokio::test]
async fn default_cookie_attributes() {
    let reply = send(&app(FaultyStore::default()), "/insert", None).await;
    let cookie = reply.set_cookie().unwrap();
    assert!(cookie.starts_with("id="), "{cookie}");
    for attribute in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");
    assert!(
        !cookie.contains("Max-Age"),
        "browser-session cookie: {cookie}"
    );
    assert_eq!(reply.header("cache-control"), Some("no-store"));
}

#[tokio::test]
async fn builder_attributes_reach_the_cookie() {
    let app = app_with(FaultyStore::default(), |l| {
        l.cookie_name("sid")
            .secure(false)
            .http_only(false)
            .same_site(SameSite::Strict)
            .path("/app")
            .domain("example.com")
            .expiry(Expiry::OnInactivity(Duration::from_secs(600)))
    });
    let cookie = send(&app, "/insert", None).await.set_cookie().unwrap();
    assert!(cookie.starts_with("sid="), "{cookie}");
    assert!(
        cookie.contains("SameSite=Strict") && cookie.contains("Path=/app"),
        "{cookie}"
    );
    assert!(
        cookie.contains("Domain=example.com") && cookie.contains("Max-Age=600"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure") && !cookie.contains("HttpOnly"),
        "{cookie}"
    );
}

/// Destroy from a nested path deletes the record and sends a removal cookie
/// with the same attributes as the set cookie.
#[tokio::test]
async fn destroy_deletes_and_removal_cookie_matches() {
    let store = FaultyStore::default();
    let app = app_with(store.clone(), |l| {
        l.cookie_name("__Host-id").same_site(SameSite::Strict)
    });
    let set = send(&app, "/insert", None).await;
    let cookie = set.cookie_pair();
    let removal = send(&app, "/a/b/destroy", Some(&cookie)).await;
    let header = removal.set_cookie().unwrap();
    assert!(header.starts_with("__Host-id=;"), "{header}");
    for attribute in [
        "Max-Age=0",
        "Secure",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
        "Expires=",
    ] {
        assert!(header.contains(attribute), "{attribute} missing: {header}");
    }
    assert!(!header.contains("Domain"), "{header}");
    assert_eq!(store.inner.len(), 0);
    // Replaying the old cookie is a guest.
    assert_eq!(send(&app, "/get", Some(&cookie)).await.body, "None");
}

/// After `cycle_id` the old cookie is a guest, the new keeps the data.
#[tokio::test]
async fn replay_after_cycle_is_a_guest() {
    let store = FaultyStore::default();
    let app = app(store.clone());
    let old = with_session(&app).await;
    let reply = send(&app, "/cycle", Some(&old)).await;
    let new = reply.cookie_pair();
    assert_ne!(new, old);
    assert_eq!(send(&app, "/get", Some(&new)).await.body, "Some(1)");
    assert_eq!(send(&app, "/get", Some(&old)).await.body, "None");
    assert_eq!(
        store.inner.len(),
        1,
        "the old record is deleted, not just abandoned"
    );
}

/// Cycle plus changes in one request still rotates, and the old id dies.
#[tokio::test]
async fn cycle_with_changes_in_the_same_request() {
    let store = FaultyStore::default();
    let app = app(store.clone());
    let old = with_session(&app).await;
    let reply = send(&app, "/login/alice", Some(&old)).await;
    let new = reply.cookie_pair();
    assert_ne!(new, old);
    assert_eq!(
        send(&app, "/user", Some(&new)).await.body,
        "Some(\"alice\")"
    );
    assert_eq!(
        send(&app, "/get", Some(&new)).await.body,
        "None",
        "login cleared the data"
    );
    assert_eq!(send(&app, "/user", Some(&old)).await.body, "None");
    assert_eq!(store.inner.len(), 1);
}

/// A planted (tossed) guest cookie does not survive the victim's login.
#[tokio::test]
async fn login_fixation_is_defeated_by_cycle() {
    let app = app(FaultyStore::default());
    let planted = with_session(&app).await; // the attacker's own valid session
    let login = send(&app, "/login/victim", Some(&planted)).await;
    let victim = login.cookie_pair();
    assert_ne!(victim, planted);
    assert_eq!(send(&app, "/user", Some(&planted)).await.body, "None");
    assert_eq!(
        send(&app, "/user", Some(&victim)).await.body,
        "Some(\"victim\")"
    );
}

/// Switching identity cycles the id; B never sees A's session.
#[tokio::test]
async fn identity_switch_without_logout() {
    let app = app(FaultyStore::default());
    let a = send(&app, "/login/a", None).await.cookie_pair();
    assert_eq!(send(&app, "/insert", Some(&a)).await.body, "1");
    let b = send(&app, "/login/b", Some(&a)).await.cookie_pair();
    assert_ne!(a, b);
    assert_eq!(send(&app, "/get", Some(&b)).await.body, "None");
    assert_eq!(send(&app, "/user", Some(&a)).await.body, "None");
}

/// Destroy on a cookieless guest writes nothing and sets no cookie.
#[tokio::test]
async fn destroy_on_a_guest_is_a_no_op() {
    let store = FaultyStore::default();
    let reply = send(&app(store.clone()), "/destroy", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.set_cookie(), None);
    assert_eq!(store.faults.writes(), 0);
}

/// A failed delete during logout is a 500, never a success.
#[tokio::test]
async fn failed_delete_on_logout_is_a_500() {
    let store = FaultyStore::default();
    let app = app(store.clone());
    let cookie = with_session(&app).await;
    Faults::set(&store.faults.fail_write, true);
    let reply = send(&app, "/destroy", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        reply.set_cookie(),
        None,
        "no removal cookie claims the logout worked"
    );
    assert_eq!(
        reply.body, "The session could not be saved; please retry.",
        "a generic text, no store details"
    );
}

/// A failed save is a 500 with a generic body and no new token.
#[tokio::test]
async fn failed_save_is_a_500_without_a_token() {
    let store = FaultyStore::default();
    let app = app(store.clone());
    let cookie = with_session(&app).await;
    Faults::set(&store.faults.fail_write, true);
    let reply = send(&app, "/insert", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.set_cookie(), None);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let reply = send(&app, "/insert", None).await;
    assert_eq!(
        reply.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "a failed create too"
    );
    Faults::set(&store.faults.fail_write, false);
    assert_eq!(
        send(&app, "/get", Some(&cookie)).await.body,
        "Some(1)",
        "pre-request state"
    );
}

/// A store down at load gives a degraded guest that is never saved; once the
/// store is back, the user's session is intact.
#[tokio::test]
async fn degraded_guest_is_never_saved() {
    let store = FaultyStore::default();
    let app = app(store.clone());
    let cookie = with_session(&app).await;
    Faults::set(&store.faults.fail_load, true);
    let reply = send(&app, "/degraded", Some(&cookie)).await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::OK, "true")
    );
    let writes = store.faults.writes();
    let reply = send(&app, "/insert", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.set_cookie(),
        None,
        "the user's cookie is not replaced"
    );
    assert_eq!(
        store.faults.writes(),
        writes,
        "nothing written during the outage"
    );
    Faults::set(&store.faults.fail_load, false);
    assert_eq!(send(&app, "/get", Some(&cookie)).await.body, "Some(1)");
    assert_eq!(send(&app, "/degraded", Some(&cookie)).await.body, "false");
}

/// A hung store at load hits the deadline and yields a degraded guest.
#[tokio::test]
async fn hung_load_hits_the_deadline() {
    let store = FaultyStore::default();
    let app = app_with(store.clone(), |l| {
        l.store_timeout(Duration::from_millis(200))
    });
    let cookie = with_session(&app).await;
    Faults::set(&store.faults.hang, true);
    let started = Instant::now();
    let reply = send(&app, "/degraded", Some(&cookie)).await;
    assert_eq!(reply.body, "true");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

/// A hung store at save hits the deadline: 500, not saved.
#[tokio::test]
async fn hung_save_is_a_500() {
    let store = FaultyStore::default();
    let app = app_with(store.clone(), |l| {
        l.store_timeout(Duration::from_millis(200))
    });
    let started = Instant::now();
    Faults::set(&store.faults.hang, true);
    let reply = send(&app, "/insert", None).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.set_cookie(), None);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(store.inner.len(), 0);
}

/// A handler's 5xx persists nothing and sets no cookie.
#[tokio::test]
async fn handler_5xx_is_not_persisted() {
    let store = FaultyStore::default();
    let app = app(store.clone());
    let reply = send(&app, "/fail", None).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.set_cookie(), None);
    assert_eq!(store.inner.len(), 0);
    let cookie = with_session(&app).await;
    send(&app, "/fail", Some(&cookie)).await;
    assert_eq!(send(&app, "/get", Some(&cookie)).await.body, "Some(1)");
}

/// A panicking handler (behind CatchPanicLayer) saves nothing.
#[tokio::test]
async fn handler_panic_saves_nothing() {
    let store = FaultyStore::default();
    let app = Router::new()
        .route(
            "/panic",
            get(|s: Session| async move {
                s.insert("n", 1).unwrap();
                if !s.is_empty() {
                    panic!("handler bug");
                }
                "unreachable"
            }),
        )
        .layer(SessionLayer::new(store.clone(), secret()))
        .layer(tower_http::catch_panic::CatchPanicLayer::new());
    let reply = send(&app, "/panic", None).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.set_cookie(), None);
    assert_eq!(store.faults.writes(), 0);
}

/// Using the session adds `Vary: Cookie`; setting the cookie adds `Cache-Control: no-store`.
#[tokio::test]
async fn vary_and_cache_control() {
    let app = app(FaultyStore::default());
    let read = send(&app, "/get", None).await;
    assert_eq!(read.header("vary"), Some("cookie"));
    assert_eq!(
        read.header("cache-control"),
        None,
        "nothing set, nothing to protect"
    );
    let write = send(&app, "/insert", None).await;
    assert_eq!(write.header("vary"), Some("cookie"));
    assert_eq!(write.header("cache-control"), Some("no-store"));

    let own = Router::new()
        .route(
            "/",
            get(|s: Session| async move {
                s.insert("k", 1).unwrap();
                (
                    [
                        ("cache-control", "private, max-age=0"),
                        ("vary", "Accept, Cookie"),
                    ],
                    "",
                )
            }),
        )
        .layer(SessionLayer::new(MemoryStore::new(), secret()));
    let reply = send(&own, "/", None).await;
    assert_eq!(
        reply.header("cache-control"),
        Some("private, max-age=0"),
        "handler's own wins"
    );
    assert_eq!(
        reply.headers.get_all("vary").iter().count(),
        1,
        "no duplicate Vary"
    );
}

/// A genuine cookie for an unknown digest is a guest; nothing is created on
/// load, and a write mints a new token (strict mode).
#[tokio::test]
async fn unknown_session_is_a_guest_and_never_adopted() {
    let store = FaultyStore::default();
    let app = app(store.clone());
    let cookie = with_session(&app).await;
    send(&app, "/destroy", Some(&cookie)).await;
    let writes = store.faults.writes();
    assert_eq!(send(&app, "/get", Some(&cookie)).await.body, "None");
    assert_eq!(store.faults.writes(), writes, "load created nothing");
    let reply = send(&app, "/insert", Some(&cookie)).await;
    assert_ne!(reply.cookie_pair(), cookie);
}

/// An idle session expires; activity before the deadline extends it.
#[tokio::test]
async fn idle_expiry_is_enforced_on_load() {
    let store = FaultyStore::default();
    let app = app_with(store.clone(), |l| {
        l.expiry(Expiry::OnInactivity(Duration::from_millis(400)))
            .refresh_fraction(0.0)
    });
    let cookie = with_session(&app).await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    let reply = send(&app, "/get", Some(&cookie)).await;
    assert_eq!(reply.body, "Some(1)");
    assert!(
        reply.set_cookie().is_some(),
        "the read refreshed the deadline and Max-Age"
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        send(&app, "/get", Some(&cookie)).await.body,
        "Some(1)",
        "extended"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        send(&app, "/get", Some(&cookie)).await.body,
        "None",
        "idle past the deadline"
    );
    assert_eq!(
        store.inner.len(),
        1,
        "the store still holds it; we enforced the deadline"
    );
}

/// `Expiry::OnSessionEnd` has a configurable server-side idle deadline.
#[tokio::test]
async fn browser_session_has_a_server_side_deadline() {
    let app = app_with(FaultyStore::default(), |l| {
        l.session_end_timeout(Duration::from_millis(200))
    });
    let cookie = with_session(&app).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(send(&app, "/get", Some(&cookie)).await.body, "None");
}

#[tokio::test]
async fn at_date_time_expiry_is_absolute() {
    let at = std::time::SystemTime::now() + Duration::from_millis(300);
    let app = app_with(FaultyStore::default(), |l| {
        l.expiry(Expiry::AtDateTime(at)).refresh_fraction(0.0)
    });
    let cookie = with_session(&app).await;
    assert_eq!(send(&app, "/get", Some(&cookie)).await.body, "Some(1)");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(send(&app, "/get", Some(&cookie)).await.body, "None");
}

/// `set_expiry` overrides the layer's expiry for one session ("remember me").
#[tokio::test]
async fn set_expiry_makes_a_persistent_cookie_for_one_session() {
    let app = app(FaultyStore::default());
    let cookie = with_session(&app).await;
    assert_eq!(
        send(&app, "/expiry", Some(&cookie)).await.body,
        "OnSessionEnd"
    );
    let reply = send(&app, "/remember", Some(&cookie)).await;
    assert!(reply.set_cookie().unwrap().contains("Max-Age=2592000"));
    assert_eq!(
        reply.cookie_pair(),
        cookie,
        "same session, same cookie value"
    );
    assert_eq!(
        send(&app, "/expiry", Some(&cookie)).await.body,
        "OnInactivity(2592000s)"
    );
}

/// Data keys named like metadata cannot change expiry.
#[tokio::test]
async fn metadata_lives_outside_the_data() {
    let app = Router::new()
        .route(
            "/",
            get(|s: Session| async move {
                for key in ["_expires_at", "expires_at", "e", "v", "_created_at"] {
                    s.insert(key, 0).unwrap();
                }
            }),
        )
        .route(
            "/expiry",
            get(|s: Session| async move { format!("{:?}", s.expiry()) }),
        )
        .layer(SessionLayer::new(MemoryStore::new(), secret()));
    let cookie = send(&app, "/", None).await.cookie_pair();
    assert_eq!(
        send(&app, "/expiry", Some(&cookie)).await.body,
        "OnSessionEnd"
    );
}

/// A missing layer is a 500 whose message names the fix, not a panic.
#[tokio::test]
async fn missing_layer_is_a_rejection_naming_the_fix() {
    let app = Router::new().route("/", get(|_s: Session| async {}));
    let reply = send(&app, "/", None).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        reply
            .body
            .contains("is `SessionLayer` installed on this route?"),
        "{}",
        reply.body
    );
}

/// Two extractors in one handler share one state, no deadlock.
#[tokio::test]
async fn two_extractors_share_one_state() {
    let store = FaultyStore::default();
    let app = Router::new()
        .route(
            "/",
            get(|a: Session, b: Session| async move {
                a.insert("k", 1).unwrap();
                b.get::<u32>("k").unwrap().unwrap().to_string()
            }),
        )
        .layer(SessionLayer::new(store.clone(), secret()));
    assert_eq!(send(&app, "/", None).await.body, "1");
    assert_eq!(store.faults.lookups(), 0);
    assert_eq!(store.inner.len(), 1);
}

/// Short or low-variety secrets are refused when the layer is built.
#[test]
fn weak_secrets_are_refused() {
    let err = SessionLayer::try_new(MemoryStore::new(), [1u8; 16]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WeakSecret);
    assert!(
        err.to_string().contains("at least 32 bytes") && err.to_string().contains("got 16"),
        "{err}"
    );
    assert!(SessionLayer::try_new(MemoryStore::new(), [0u8; 64]).is_err());
    assert!(SessionLayer::try_new(MemoryStore::new(), secret()).is_ok());
}

#[test]
#[should_panic(expected = "secret is too short: must be at least 32 bytes (64 recommended), got 5")]
fn new_panics_with_a_clear_message_on_a_short_secret() {
    let _ = SessionLayer::new(MemoryStore::new(), "short");
}

/// A bad configuration is refused when the layer is applied.
#[test]
#[should_panic(expected = "a `__Host-` cookie requires secure(true)")]
fn host_prefix_without_secure_panics_at_startup() {
    let layer = SessionLayer::new(MemoryStore::new(), secret())
        .cookie_name("__Host-id")
        .secure(false);
    assert_eq!(
        layer.validate().unwrap_err().kind(),
        ErrorKind::InvalidConfig
    );
    let _ = routes().layer(layer);
}

#[test]
fn cookie_name_with_separators_is_invalid() {
    let layer = SessionLayer::new(MemoryStore::new(), secret()).cookie_name("id; Domain=evil.com");
    assert_eq!(
        layer.validate().unwrap_err().kind(),
        ErrorKind::InvalidConfig
    );
}

/// Routes for the sign-in flows below.
fn accounts(layer: SessionLayer) -> Router {
    use axum::extract::Path;
    Router::new()
        .route(
            "/login/{name}",
            get(|s: Session, Path(name): Path<String>| async move { s.login(name) }),
        )
        .route(
            "/remember/{name}",
            get(|s: Session, Path(name): Path<String>| async move {
                s.login(name);
                s.set_expiry(Expiry::OnInactivity(Duration::from_secs(30 * 86_400)));
            }),
        )
        .route(
            "/whoami",
            get(|s: Session| async move { format!("{:?} {}", s.user(), s.is_empty()) }),
        )
        .route(
            "/put",
            get(|s: Session| async move { s.insert("cart", 3).unwrap() }),
        )
        .route("/clear", get(|s: Session| async move { s.clear() }))
        .route(
            "/public",
            get(|s: Session| async move {
                s.insert("seen", true).unwrap();
                ([("cache-control", "public, max-age=600")], "cacheable?")
            }),
        )
        .layer(layer)
}

/// `clear` on a signed-in session signs the user out too: the session is
/// empty and anonymous, its record deleted and its cookie removed.
#[tokio::test]
async fn clear_signs_the_user_out_and_ends_the_session() {
    let store = FaultyStore::default();
    let app = accounts(SessionLayer::new(store.clone(), secret()));
    let cookie = send(&app, "/login/ada", None).await.cookie_pair();
    send(&app, "/put", Some(&cookie)).await;
    assert_eq!(
        send(&app, "/whoami", Some(&cookie)).await.body,
        "Some(\"ada\") false"
    );
    let cleared = send(&app, "/clear", Some(&cookie)).await;
    assert!(cleared.set_cookie().unwrap().contains("Max-Age=0"));
    assert_eq!(send(&app, "/whoami", Some(&cookie)).await.body, "None true");
    assert!(
        store.inner.is_empty(),
        "the cleared session's record is deleted"
    );
    assert!(
        sessionware::UserIndex::sessions(&store.inner, "ada")
            .await
            .unwrap()
            .is_empty()
    );
}

/// A login as another user over a "remember me" session starts from the
/// layer's expiry: B never inherits A's persistent 30-day cookie.
#[tokio::test]
async fn a_login_as_another_user_does_not_inherit_a_remembered_expiry() {
    let app = accounts(SessionLayer::new(MemoryStore::new(), secret()));
    let remembered = send(&app, "/remember/alice", None).await;
    assert!(remembered.set_cookie().unwrap().contains("Max-Age="));
    let as_b = send(&app, "/login/bob", Some(&remembered.cookie_pair())).await;
    let header = as_b.set_cookie().unwrap();
    assert!(
        !header.contains("Max-Age"),
        "a browser-session cookie: {header}"
    );
    assert_eq!(
        send(&app, "/whoami", Some(&as_b.cookie_pair())).await.body,
        "Some(\"bob\") true"
    );
    // The same user logging in again keeps what they chose.
    let again = send(&app, "/remember/carol", None).await.cookie_pair();
    let relogin = send(&app, "/login/carol", Some(&again)).await;
    assert!(relogin.set_cookie().unwrap().contains("Max-Age="));
}

/// A response that sets the session cookie is never publicly cacheable,
/// whatever `Cache-Control` the handler chose.
#[tokio::test]
async fn a_response_setting_the_cookie_is_never_publicly_cacheable() {
    let app = accounts(SessionLayer::new(MemoryStore::new(), secret()));
    let reply = send(&app, "/public", None).await;
    assert!(reply.set_cookie().is_some());
    let values: Vec<_> = reply.headers.get_all("cache-control").iter().collect();
    assert_eq!(values.len(), 1, "{values:?}");
    assert_eq!(values[0], "no-store");
    // A response that sets no cookie keeps the handler's choice.
    let cookie = reply.cookie_pair();
    let unchanged = send(&app, "/public", Some(&cookie)).await;
    if unchanged.set_cookie().is_none() {
        assert_eq!(
            unchanged.headers.get("cache-control").unwrap(),
            "public, max-age=600"
        );
    }
}

/// A `MemoryStore` behind a wrapper that keeps no user index.
#[derive(Clone, Default)]
struct WithoutIndex(MemoryStore);

impl sessionware::SessionStore for WithoutIndex {
    async fn create(
        &self,
        key: &sessionware::store::SessionKey,
        record: &sessionware::store::Record,
    ) -> Result<bool, sessionware::Error> {
        self.0.create(key, record).await
    }
    async fn load(
        &self,
        key: &sessionware::store::SessionKey,
    ) -> Result<Option<sessionware::store::Record>, sessionware::Error> {
        self.0.load(key).await
    }
    async fn save(
        &self,
        key: &sessionware::store::SessionKey,
        record: &sessionware::store::Record,
        expected: u64,
    ) -> Result<sessionware::store::SaveOutcome, sessionware::Error> {
        self.0.save(key, record, expected).await
    }
    async fn delete(
        &self,
        key: &sessionware::store::SessionKey,
    ) -> Result<bool, sessionware::Error> {
        self.0.delete(key).await
    }
    async fn delete_expired(&self) -> Result<u64, sessionware::Error> {
        self.0.delete_expired().await
    }
    async fn health(&self) -> Result<(), sessionware::Error> {
        self.0.health().await
    }
}

/// `max_sessions_per_user` needs a store that keeps a user index: with one
/// that does not, the configuration is an error at start-up, and applying
/// the layer panics with it, rather than a cap silently not enforced.
#[test]
fn a_per_user_cap_without_a_user_index_is_refused_at_start_up() {
    let layer = SessionLayer::new(WithoutIndex::default(), secret()).max_sessions_per_user(2);
    let err = layer.validate().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(err.to_string().contains("UserIndex"), "{err}");
    let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Router::<()>::new().layer(layer.clone())
    }));
    assert!(applied.is_err(), "applying the layer panics");
    SessionLayer::new(WithoutIndex::default(), secret())
        .validate()
        .unwrap();
    SessionLayer::new(MemoryStore::new(), secret())
        .max_sessions_per_user(2)
        .validate()
        .unwrap();
}
