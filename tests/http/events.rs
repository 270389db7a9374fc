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
