//! The checks of the layer's features on the store: secret rotation, the
//! absolute timeout, the header transports, audit events and user-agent
//! binding, through real requests. The memory-only tests of the same features
//! count store calls; these look at the store itself, so each check also
//! proves that what the feature relies on (the store key, `created_at`, the
//! deadline, the user-agent binding) survives the store's round trip.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;

use super::app::{
    App, Reply, app, random_part, recorded, secret, send, send_headers, store_key, take,
};
use crate::event::{RejectionReason, SessionEvent};
use crate::expiry::Expiry;
use crate::layer::SessionLayer;
use crate::store::SessionStore;
use crate::token::Keyring;

/// The secret before a rotation (`secret()` is the one after it).
fn old_secret() -> Vec<u8> {
    secret().iter().map(|b| b ^ 0xa5).collect()
}

/// The `Max-Age` of a `Set-Cookie` header, in seconds.
fn max_age(header: &str) -> u64 {
    header
        .split("Max-Age=")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("no Max-Age in {header}"))
        .parse()
        .unwrap()
}

/// Secret rotation on the store: a cookie under a retired secret is accepted
/// and re-issued under the current one with the same random value, so the
/// same record, which re-signing neither moves nor rewrites; writes and new
/// sessions use the current secret; once the old secret is removed, its
/// cookies are refused by their tag, before any lookup.
pub async fn rotation_reissues_old_cookies_with_the_same_store_key<S: SessionStore>(store: S) {
    let store = Arc::new(store);
    let keyed = |keyring: Keyring| {
        let (layer, log) = recorded(SessionLayer::with_keyring(store.clone(), keyring));
        (app(&layer), log)
    };
    let (old_only, _) = keyed(Keyring::new(old_secret()).unwrap());
    let (rotated, rotated_log) = keyed(
        Keyring::new(secret())
            .unwrap()
            .retired(old_secret())
            .unwrap(),
    );
    let (new_only, new_log) = keyed(Keyring::new(secret()).unwrap());

    let old = send(&old_only, "/insert", None).await.cookie_pair();
    let key = store_key(&old);
    let before = store
        .load(&key)
        .await
        .unwrap()
        .expect("the session is filed under the digest of the cookie's random value");

    // A cookie under a retired secret: accepted on a read-only request, and re-issued.
    let reply = send(&rotated, "/get", Some(&old)).await;
    assert_eq!(reply.body, "Some(1)");
    let resigned = reply.cookie_pair();
    assert_ne!(resigned, old, "re-issued under the current secret");
    assert_eq!(random_part(&resigned), random_part(&old), "same store key");
    assert_eq!(
        take(&rotated_log),
        [
            SessionEvent::Loaded {
                handle: Some(key.handle())
            },
            SessionEvent::Resigned {
                handle: Some(key.handle())
            },
        ]
    );
    assert_eq!(
        store.load(&key).await.unwrap(),
        Some(before),
        "re-signing moves and rewrites nothing"
    );

    // The re-issued cookie needs only the current secret, and is not
    // re-issued again.
    let again = send(&new_only, "/get", Some(&resigned)).await;
    assert_eq!((again.body.as_str(), again.set_cookie()), ("Some(1)", None));
    assert_eq!(
        take(&new_log),
        [SessionEvent::Loaded {
            handle: Some(key.handle())
        }],
        "same session, same handle"
    );

    // A write under an old cookie saves and re-signs in one response.
    let other = send(&old_only, "/insert", None).await.cookie_pair();
    let written = send(&rotated, "/insert", Some(&other)).await;
    assert_eq!(written.body, "2");
    let rewritten = written.cookie_pair();
    assert_eq!(random_part(&rewritten), random_part(&other));
    assert_eq!(
        store
            .load(&store_key(&other))
            .await
            .unwrap()
            .unwrap()
            .data
            .get::<u64>("n")
            .unwrap(),
        Some(2)
    );
    assert_eq!(
        send(&new_only, "/get", Some(&rewritten)).await.body,
        "Some(2)"
    );

    // A new session on the rotated layer is signed with the current secret.
    let fresh = send(&rotated, "/insert", None).await.cookie_pair();
    assert_eq!(send(&new_only, "/get", Some(&fresh)).await.body, "Some(1)");
    assert_eq!(send(&old_only, "/get", Some(&fresh)).await.body, "None");

    // With the old secret removed, its cookies are guests, refused by
    // their tag (an `Unknown` would mean the store was asked).
    take(&new_log);
    let gone = send(&new_only, "/get", Some(&old)).await;
    assert_eq!((gone.body.as_str(), gone.set_cookie()), ("None", None));
    assert_eq!(
        take(&new_log),
        [SessionEvent::Rejected {
            reason: RejectionReason::BadTag
        }]
    );
    assert_eq!(
        send(&new_only, "/get", Some(&resigned)).await.body,
        "Some(1)",
        "the session itself lives on under its re-issued cookie"
    );
}

/// The absolute timeout of the layer below.
const LIFETIME: Duration = Duration::from_millis(1500);

/// Writes every 0.5 s (each a save that would push a 10 s idle deadline back)
/// keep the session alive until `created_at + max_lifetime`, and not a moment
/// longer. The store must keep `created_at` across saves and the capped
/// deadline, and the cookie never promises more.
pub async fn max_lifetime_ends_active_sessions<S: SessionStore>(store: S) {
    let store = Arc::new(store);
    let (layer, log) = recorded(
        SessionLayer::new(store.clone(), secret())
            .expiry(Expiry::OnInactivity(Duration::from_secs(10)))
            .refresh_fraction(0.0)
            .max_lifetime(LIFETIME),
    );
    let app = app(&layer);
    let first = send(&app, "/insert", None).await;
    let header = first.set_cookie().expect("a session cookie");
    assert!(max_age(&header) <= 1, "capped by max_lifetime: {header}");
    let cookie = first.cookie_pair();
    let key = store_key(&cookie);
    let created = store.load(&key).await.unwrap().expect("stored");
    assert!(
        created.expires_at <= created.created_at + LIFETIME,
        "the stored deadline is capped too: {created:?}"
    );

    for n in 2..=3 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let reply = send(&app, "/insert", Some(&cookie)).await;
        assert_eq!(reply.body, n.to_string(), "alive within max_lifetime");
        assert!(max_age(&reply.set_cookie().expect("a saved session")) <= 1);
    }
    let saved = store.load(&key).await.unwrap().expect("stored");
    assert_eq!(
        saved.created_at, created.created_at,
        "saves keep created_at"
    );
    assert!(
        saved.expires_at <= created.created_at + LIFETIME,
        "{saved:?}"
    );
    take(&log);

    tokio::time::sleep(Duration::from_millis(700)).await;
    let late = send(&app, "/get", Some(&cookie)).await;
    assert_eq!((late.body.as_str(), late.set_cookie()), ("None", None));
    // The store may still return the record (the layer then judges it
    // expired) or may have expired it by itself (Redis): both are guests.
    let events = take(&log);
    assert!(
        events
            == [SessionEvent::Expired {
                handle: Some(key.handle())
            }]
            || events
                == [SessionEvent::Rejected {
                    reason: RejectionReason::Unknown
                }],
        "{events:?}"
    );
}

/// A limit set after the session was saved ends it on load, by the
/// `created_at` the store kept; the guest request deletes nothing, so a layer
/// without the limit still serves it.
pub async fn a_shortened_max_lifetime_ends_existing_sessions<S: SessionStore>(store: S) {
    let store = Arc::new(store);
    let unlimited = app(&SessionLayer::new(store.clone(), secret()));
    let cookie = send(&unlimited, "/insert", None).await.cookie_pair();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let limited =
        app(&SessionLayer::new(store.clone(), secret()).max_lifetime(Duration::from_millis(200)));
    let reply = send(&limited, "/get", Some(&cookie)).await;
    assert_eq!((reply.body.as_str(), reply.set_cookie()), ("None", None));
    let roomy =
        app(&SessionLayer::new(store.clone(), secret()).max_lifetime(Duration::from_secs(60)));
    assert_eq!(send(&roomy, "/get", Some(&cookie)).await.body, "Some(1)");
    assert_eq!(
        send(&unlimited, "/get", Some(&cookie)).await.body,
        "Some(1)"
    );
}

const TOKEN: HeaderName = HeaderName::from_static("session-token");

/// The token a response carries in header `name`.
fn issued(reply: &Reply, name: &str) -> String {
    reply
        .header(name)
        .unwrap_or_else(|| panic!("a {name} header in {reply:?}"))
        .to_owned()
}

async fn with_bearer(app: &App, path: &str, token: &str) -> Reply {
    send_headers(app, path, &[("authorization", &format!("Bearer {token}"))]).await
}

/// Header transport on the store: a token is issued, carries the session,
/// is filed under the digest of its random part like a cookie; a cycle
/// deletes the old id's record and kills the old token; a destroy answers
/// with an empty token and deletes the record.
pub async fn bearer_tokens_work_end_to_end<S: SessionStore>(store: S) {
    let store = Arc::new(store);
    let app = app(&SessionLayer::new(store.clone(), secret()).bearer_token(TOKEN));
    let first = send_headers(&app, "/insert", &[]).await;
    assert_eq!(first.body, "1");
    assert!(first.set_cookies().is_empty(), "no cookie in header mode");
    assert_eq!(first.header("cache-control"), Some("no-store"));
    let token = issued(&first, "session-token");
    let key = store_key(&token);
    assert!(store.load(&key).await.unwrap().is_some());

    let second = with_bearer(&app, "/insert", &token).await;
    assert_eq!(second.body, "2");
    assert_eq!(
        second.header("session-token"),
        None,
        "an unchanged token is not resent"
    );
    let as_cookie = send_headers(&app, "/get", &[("cookie", &format!("id={token}"))]).await;
    assert_eq!(as_cookie.body, "None", "a token is no cookie");

    let cycled = issued(&with_bearer(&app, "/cycle", &token).await, "session-token");
    assert_ne!(random_part(&cycled), random_part(&token));
    assert_eq!(store.load(&key).await.unwrap(), None, "the old id is gone");
    let cycled_key = store_key(&cycled);
    let moved = store.load(&cycled_key).await.unwrap().unwrap();
    assert_eq!(moved.data.get::<u64>("n").unwrap(), Some(2));
    let dead = with_bearer(&app, "/get", &token).await;
    assert_eq!(
        (dead.body.as_str(), dead.header("session-token")),
        ("None", None)
    );
    assert_eq!(with_bearer(&app, "/get", &cycled).await.body, "Some(2)");

    let destroyed = with_bearer(&app, "/destroy", &cycled).await;
    assert_eq!(
        issued(&destroyed, "session-token"),
        "",
        "an empty token tells the client to drop it"
    );
    assert_eq!(store.load(&cycled_key).await.unwrap(), None);
    let dead = with_bearer(&app, "/get", &cycled).await;
    assert_eq!(
        (dead.body.as_str(), dead.header("session-token")),
        ("None", None)
    );
}

/// `token_header`: the token is the whole value of one header, both ways,
/// including the new token of a cycle; `Authorization` is not read.
pub async fn a_custom_token_header_carries_the_session_both_ways<S: SessionStore>(store: S) {
    let store = Arc::new(store);
    let name = HeaderName::from_static("x-session");
    let app = app(&SessionLayer::new(store.clone(), secret()).token_header(name));
    let first = send_headers(&app, "/insert", &[]).await;
    assert_eq!(first.header("vary"), Some("x-session"));
    let token = issued(&first, "x-session");
    assert!(store.load(&store_key(&token)).await.unwrap().is_some());
    assert_eq!(
        send_headers(&app, "/insert", &[("x-session", &token)])
            .await
            .body,
        "2"
    );
    assert_eq!(with_bearer(&app, "/get", &token).await.body, "None");

    let cycled = issued(
        &send_headers(&app, "/cycle", &[("x-session", &token)]).await,
        "x-session",
    );
    assert_ne!(random_part(&cycled), random_part(&token));
    assert_eq!(
        send_headers(&app, "/get", &[("x-session", &token)])
            .await
            .body,
        "None"
    );
    assert_eq!(
        send_headers(&app, "/get", &[("x-session", &cycled)])
            .await
            .body,
        "Some(2)"
    );
}

/// Audit events on the store: created, loaded, cycled and destroyed, each
/// naming the session by the handle of the store key its cookie maps to;
/// an old id after a cycle or destroy is reported unknown; no event shows
/// a cookie, a tag or a store key.
pub async fn events_name_sessions_by_handle<S: SessionStore>(store: S) {
    let store = Arc::new(store);
    let (layer, log) = recorded(SessionLayer::new(store.clone(), secret()));
    let app = app(&layer);
    let mut all = Vec::new();
    let mut step = |expected: Vec<SessionEvent>| {
        let events = take(&log);
        assert_eq!(events, expected);
        all.extend(events);
    };

    let first = send(&app, "/insert", None).await.cookie_pair();
    let one = store_key(&first).handle();
    assert_eq!(one.to_string().len(), 32);
    step(vec![SessionEvent::Created { handle: Some(one) }]);

    send(&app, "/get", Some(&first)).await;
    step(vec![SessionEvent::Loaded { handle: Some(one) }]);

    let second = send(&app, "/cycle", Some(&first)).await.cookie_pair();
    let two = store_key(&second).handle();
    assert_ne!(two, one);
    step(vec![
        SessionEvent::Loaded { handle: Some(one) },
        SessionEvent::Cycled {
            old: Some(one),
            new: Some(two),
        },
    ]);

    assert_eq!(send(&app, "/get", Some(&first)).await.body, "None");
    step(vec![SessionEvent::Rejected {
        reason: RejectionReason::Unknown,
    }]);

    send(&app, "/destroy", Some(&second)).await;
    step(vec![
        SessionEvent::Loaded { handle: Some(two) },
        SessionEvent::Destroyed { handle: Some(two) },
    ]);

    assert_eq!(send(&app, "/get", Some(&second)).await.body, "None");
    step(vec![SessionEvent::Rejected {
        reason: RejectionReason::Unknown,
    }]);

    let shown = format!("{} {all:?}", serde_json::to_string(&all).unwrap());
    for pair in [&first, &second] {
        let (random, tag) = pair.trim_start_matches("id=").split_once('.').unwrap();
        assert!(!shown.contains(random) && !shown.contains(tag), "{shown}");
        assert!(!shown.contains(&store_key(pair).to_hex()[..16]), "{shown}");
    }
}

/// `bind_user_agent(true)` on the store: the binding survives the store's
/// round trip, so the same user agent keeps the session, and another one
/// ends it: a guest, the record deleted, the owner's cookie dead too.
pub async fn bind_user_agent_ends_sessions_shown_by_another_agent<S: SessionStore>(store: S) {
    let store = Arc::new(store);
    let (layer, log) = recorded(SessionLayer::new(store.clone(), secret()).bind_user_agent(true));
    let app = app(&layer);
    let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
    let as_agent = |agent: &'static str, path: &'static str, cookie: String| {
        let app = app.clone();
        async move { send_headers(&app, path, &[("user-agent", agent), ("cookie", &cookie)]).await }
    };
    let first = send_headers(&app, "/insert", &[("user-agent", firefox)]).await;
    let cookie = first.cookie_pair();
    let key = store_key(&cookie);
    assert_eq!(
        as_agent(firefox, "/insert", cookie.clone()).await.body,
        "2",
        "the same user agent keeps the session"
    );
    assert_eq!(
        as_agent(firefox, "/get", cookie.clone()).await.body,
        "Some(2)"
    );
    take(&log);

    let stolen = as_agent("curl/8.5.0", "/get", cookie.clone()).await;
    assert_eq!((stolen.body.as_str(), stolen.set_cookie()), ("None", None));
    let events = take(&log);
    assert_eq!(
        events,
        [SessionEvent::Destroyed {
            handle: Some(key.handle())
        }],
        "one event: the session ended, not also an unknown cookie"
    );
    assert_eq!(
        store.load(&key).await.unwrap(),
        None,
        "the record is deleted"
    );
    assert_eq!(
        as_agent(firefox, "/get", cookie).await.body,
        "None",
        "the session is over for its own user agent too"
    );
}
