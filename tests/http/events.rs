//! Audit events through real requests: each life-cycle step reports one
//! event, naming the session by its public handle and never by its cookie or
//! store key.

use crate::common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::{EventLog, Faults, FaultyStore, recorded, routes, secret, send, send_with, take};
use sessionware::{
    Expiry, Keyring, RejectionReason, Session, SessionEvent, SessionHandle, SessionLayer,
};
use sha2::Digest as _;

fn app_with(store: &FaultyStore) -> (Router, EventLog) {
    let (layer, log) = recorded(SessionLayer::new(store.clone(), secret()));
    let app = routes()
        .route(
            "/signin",
            get(|s: Session| async move {
                s.login("ferris");
            }),
        )
        .layer(layer);
    (app, log)
}

/// The store key of a cookie pair, as hex: what events must never show.
fn store_key_hex(pair: &str) -> String {
    use base64::Engine as _;
    let random = pair.trim_start_matches("id=").split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(random)
        .unwrap();
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn the_life_cycle_reports_one_event_per_step_by_handle() {
    let store = FaultyStore::default();
    let (app, log) = app_with(&store);
    let first = send(&app, "/insert", None).await.cookie_pair();
    let events = take(&log);
    let [
        SessionEvent::Created {
            handle: Some(created),
        },
    ] = events.as_slice()
    else {
        panic!("{events:?}")
    };
    assert_eq!(created.to_string().len(), 32);

    send(&app, "/get", Some(&first)).await;
    assert_eq!(
        take(&log),
        [SessionEvent::Loaded {
            handle: Some(*created)
        }]
    );

    let second = send(&app, "/signin", Some(&first)).await.cookie_pair();
    let events = take(&log);
    assert_eq!(events.len(), 2, "{events:?}");
    let SessionEvent::Cycled {
        old: Some(old),
        new: Some(new),
    } = events[1]
    else {
        panic!("{events:?}")
    };
    assert_eq!(old, *created);
    assert_ne!(new, old);

    send(&app, "/destroy", Some(&second)).await;
    let events = take(&log);
    assert_eq!(events[1], SessionEvent::Destroyed { handle: Some(new) });

    // No event shows a cookie, a tag or a store key.
    let json = serde_json::to_string(&[created, &old, &new]).unwrap();
    for pair in [&first, &second] {
        let value = pair.trim_start_matches("id=");
        let (random, tag) = value.split_once('.').unwrap();
        assert!(!json.contains(random) && !json.contains(tag), "{json}");
        assert!(!json.contains(&store_key_hex(pair)[..16]), "{json}");
    }
}

/// A genuine cookie whose session is gone is reported as unknown.
#[tokio::test]
async fn an_unknown_session_is_reported_as_such() {
    let store = FaultyStore::default();
    let (app, log) = app_with(&store);
    let cookie = send(&app, "/insert", None).await.cookie_pair();
    send(&app, "/destroy", Some(&cookie)).await;
    take(&log);
    send(&app, "/get", Some(&cookie)).await;
    assert_eq!(
        take(&log),
        [SessionEvent::Rejected {
            reason: RejectionReason::Unknown
        }]
    );
}

#[tokio::test]
async fn malformed_bad_tag_and_tossed_cookies_are_reported() {
    let store = FaultyStore::default();
    let (app, log) = app_with(&store);
    let genuine = send(&app, "/insert", None).await.cookie_pair();
    let other = send(&app, "/insert", None).await.cookie_pair();
    take(&log);
    // Change the tag's first character: any base64url character there
    // decodes (the last one carries padding bits and may not), so this is a
    // well-formed cookie with a wrong tag.
    let tag_start = genuine.find('.').unwrap() + 1;
    let mut forged = genuine.clone().into_bytes();
    forged[tag_start] = if forged[tag_start] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let forged = String::from_utf8(forged).unwrap();
    send(&app, "/get", Some("id=short")).await;
    send(&app, "/get", Some(&forged)).await;
    send_with(&app, "/get", &[&genuine, &other]).await;
    let events = take(&log);
    assert_eq!(
        events,
        [
            SessionEvent::Rejected {
                reason: RejectionReason::Malformed
            },
            SessionEvent::Rejected {
                reason: RejectionReason::BadTag
            },
            SessionEvent::Rejected {
                reason: RejectionReason::Ambiguous
            },
        ]
    );
}

#[tokio::test]
async fn expiry_and_store_failures_are_reported() {
    let store = FaultyStore::default();
    let (layer, log) = recorded(
        SessionLayer::new(store.clone(), secret())
            .expiry(Expiry::OnInactivity(Duration::from_millis(200))),
    );
    let app = routes().layer(layer);
    let cookie = send(&app, "/insert", None).await.cookie_pair();
    let handle = match take(&log).as_slice() {
        [SessionEvent::Created { handle: Some(h) }] => *h,
        other => panic!("{other:?}"),
    };
    Faults::set(&store.faults.fail_load, true);
    send(&app, "/get", Some(&cookie)).await;
    assert_eq!(take(&log), [SessionEvent::LoadFailed { handle }]);
    Faults::set(&store.faults.fail_load, false);
    Faults::set(&store.faults.fail_write, true);
    send(&app, "/insert", Some(&cookie)).await;
    let events = take(&log);
    assert_eq!(
        events.last(),
        Some(&SessionEvent::SaveFailed {
            handle: Some(handle)
        })
    );
    store.faults.fail_write.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(250)).await;
    send(&app, "/get", Some(&cookie)).await;
    assert_eq!(
        take(&log),
        [SessionEvent::Expired {
            handle: Some(handle)
        }]
    );
}

#[tokio::test]
async fn resigning_and_eviction_are_reported() {
    let store = FaultyStore::default();
    let old: Vec<u8> = secret().iter().map(|b| b ^ 0xa5).collect();
    let cookie = send(
        &routes().layer(SessionLayer::new(store.clone(), &old)),
        "/insert",
        None,
    )
    .await
    .cookie_pair();
    let keyring = Keyring::new(secret()).unwrap().retired(&old).unwrap();
    let (layer, log) = recorded(SessionLayer::with_keyring(store.clone(), keyring));
    let app = routes().layer(layer);
    send(&app, "/get", Some(&cookie)).await;
    let events = take(&log);
    assert!(
        matches!(
            events.as_slice(),
            [SessionEvent::Loaded { .. }, SessionEvent::Resigned { .. }]
        ),
        "{events:?}"
    );
    assert_eq!(
        events[0].handle(),
        events[1].handle(),
        "same session, same handle"
    );

    let (layer, log) =
        recorded(SessionLayer::new(store.clone(), secret()).max_sessions_per_user(1));
    let app = routes()
        .route("/signin", get(|s: Session| async move { s.login("gale") }))
        .layer(layer);
    send(&app, "/signin", None).await;
    let first: Option<SessionHandle> = take(&log)[0].handle();
    send(&app, "/signin", None).await;
    let events = take(&log);
    assert!(
        events.contains(&SessionEvent::Revoked {
            handle: first.unwrap()
        }),
        "{events:?}"
    );
}

#[cfg(feature = "cookie-store")]
#[tokio::test]
async fn cookie_store_events_carry_no_handle() {
    let (layer, log) = recorded(SessionLayer::sealed_cookies(secret()));
    let app = routes().layer(layer);
    let cookie = send(&app, "/insert", None).await.cookie_pair();
    send(&app, "/get", Some(&cookie)).await;
    send(&app, "/destroy", Some(&cookie)).await;
    let names: Vec<_> = take(&log).iter().map(SessionEvent::name).collect();
    assert_eq!(names, ["created", "loaded", "loaded", "destroyed"]);
}

/// The handles of the `Revoked` events in `events`, sorted.
fn revoked(events: &[SessionEvent]) -> Vec<SessionHandle> {
    let mut handles: Vec<SessionHandle> = events
        .iter()
        .filter_map(|event| match event {
            SessionEvent::Revoked { handle } => Some(*handle),
            _ => None,
        })
        .collect();
    handles.sort_unstable();
    handles
}

/// Signs `user` in on a new device of `app`; returns the cookie pair and the
/// session's handle (read back through `/handle`).
async fn device(app: &Router, user: &str) -> (String, SessionHandle) {
    let pair = send(app, &format!("/as/{user}"), None).await.cookie_pair();
    let handle = send(app, "/handle", Some(&pair))
        .await
        .body
        .parse()
        .unwrap();
    (pair, handle)
}

fn devices_app(store: &FaultyStore) -> (Router, EventLog, sessionware::SessionEvents) {
    let (layer, log) = recorded(SessionLayer::new(store.clone(), secret()));
    let events = layer.events();
    let app = Router::new()
        .route(
            "/as/{user}",
            get(|s: Session, axum::extract::Path(user): axum::extract::Path<String>| async move {
                s.login(user);
            }),
        )
        .route(
            "/handle",
            get(|s: Session| async move { s.handle().map(|h| h.to_string()).unwrap_or_default() }),
        )
        .route(
            "/revoke/{handle}",
            get(|s: Session, axum::extract::Path(handle): axum::extract::Path<SessionHandle>| async move {
                s.revoke_device(&handle).await.unwrap().to_string()
            }),
        )
        .route(
            "/revoke-others",
            get(|s: Session| async move { s.revoke_other_devices().await.unwrap().to_string() }),
        )
        .layer(layer);
    (app, log, events)
}

/// The session's own revocation helpers report each session they end.
#[tokio::test]
async fn sessions_ended_by_the_device_helpers_are_reported() {
    let store = FaultyStore::default();
    let (app, log, _) = devices_app(&store);
    let (laptop, laptop_handle) = device(&app, "ferris").await;
    let (_, phone) = device(&app, "ferris").await;
    let (_, tablet) = device(&app, "ferris").await;
    take(&log);
    let reply = send(&app, &format!("/revoke/{phone}"), Some(&laptop)).await;
    assert_eq!(reply.body, "true");
    assert_eq!(revoked(&take(&log)), [phone]);
    assert_eq!(send(&app, "/revoke-others", Some(&laptop)).await.body, "1");
    assert_eq!(revoked(&take(&log)), [tablet]);
    assert_eq!(
        send(&app, "/handle", Some(&laptop)).await.body,
        laptop_handle.to_string(),
        "the device that asked stays signed in"
    );
}

/// Revocations through the layer's `events()` handle (an admin tool, a
/// password reset) report each session they end, like the request path.
#[tokio::test]
async fn revocations_through_the_layer_events_are_reported() {
    let store = FaultyStore::default();
    let (app, log, events) = devices_app(&store);
    let (_, one) = device(&app, "ferris").await;
    let (_, two) = device(&app, "ferris").await;
    let (_, three) = device(&app, "ferris").await;
    let (_, other) = device(&app, "corro").await;
    take(&log);
    assert!(events.revoke(&store, "ferris", &one).await.unwrap());
    assert_eq!(revoked(&take(&log)), [one]);
    assert!(
        !events.revoke(&store, "ferris", &other).await.unwrap(),
        "not ferris's"
    );
    assert!(revoked(&take(&log)).is_empty());
    assert_eq!(
        events.revoke_others(&store, "ferris", &two).await.unwrap(),
        1
    );
    assert_eq!(revoked(&take(&log)), [three]);
    assert_eq!(events.revoke_all(&store, "ferris").await.unwrap(), 1);
    assert_eq!(revoked(&take(&log)), [two]);
    assert_eq!(events.revoke_all(&store, "corro").await.unwrap(), 1);
    assert_eq!(revoked(&take(&log)), [other]);
}

/// A clean-up given the layer's events reports what each run removed.
#[tokio::test]
async fn a_cleanup_run_reports_what_it_purged() {
    use sessionware::store::{Record, SessionKey};
    use sessionware::{CleanupTask, SessionStore as _};

    let store = sessionware::MemoryStore::new();
    let (layer, log) = recorded(SessionLayer::new(store.clone(), secret()));
    let now = std::time::SystemTime::now();
    for n in 0..3u8 {
        let past = Record::new(Default::default(), now, now - Duration::from_secs(1));
        store
            .create(&SessionKey::from_bytes([n; 32]), &past)
            .await
            .unwrap();
    }
    let live = Record::new(Default::default(), now, now + Duration::from_secs(60));
    store
        .create(&SessionKey::from_bytes([9; 32]), &live)
        .await
        .unwrap();
    let task =
        CleanupTask::spawn_reporting(store.clone(), Duration::from_secs(3600), layer.events());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while store.len() != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the clean-up never ran"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    task.stop().await;
    assert_eq!(take(&log), [SessionEvent::Purged { count: 3 }]);
}
