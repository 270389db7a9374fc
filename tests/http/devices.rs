//! The session's own "your devices" helpers: `devices`, `revoke_device` and
//! `revoke_other_devices` reach only the signed-in user's sessions, through
//! the layer's own store.

use crate::common;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use common::{secret, send};
use sessionware::{MemoryStore, Session, SessionHandle, SessionLayer};

fn routes() -> Router {
    Router::new()
        .route(
            "/login/{user}",
            get(|s: Session, Path(user): Path<String>| async move {
                s.login(user);
                "in"
            }),
        )
        .route(
            "/handle",
            get(|s: Session| async move { s.handle().map(|h| h.to_string()).unwrap_or_default() }),
        )
        .route(
            "/devices",
            get(|s: Session| async move {
                match s.devices().await {
                    Ok(list) => {
                        let handles: Vec<String> =
                            list.iter().map(|info| info.handle.to_string()).collect();
                        handles.join(",")
                    }
                    Err(err) => format!("error {:?}", err.kind()),
                }
            }),
        )
        .route(
            "/revoke/{handle}",
            get(|s: Session, Path(handle): Path<String>| async move {
                let handle: SessionHandle = handle.parse().unwrap();
                s.revoke_device(&handle).await.unwrap().to_string()
            }),
        )
        .route(
            "/revoke-others",
            get(|s: Session| async move { s.revoke_other_devices().await.unwrap().to_string() }),
        )
        .route(
            "/user",
            get(|s: Session| async move { s.user().unwrap_or_default() }),
        )
}

fn app(store: &MemoryStore) -> Router {
    routes().layer(SessionLayer::new(store.clone(), secret()))
}

/// Signs `user` in on a new device; returns its cookie pair and handle.
async fn sign_in(app: &Router, user: &str) -> (String, String) {
    let pair = send(app, &format!("/login/{user}"), None)
        .await
        .cookie_pair();
    let handle = send(app, "/handle", Some(&pair)).await.body;
    assert!(!handle.is_empty());
    (pair, handle)
}

#[tokio::test]
async fn devices_lists_only_the_signed_in_users_sessions() {
    let store = MemoryStore::new();
    let app = app(&store);
    let (laptop, laptop_handle) = sign_in(&app, "ferris").await;
    let (_, phone_handle) = sign_in(&app, "ferris").await;
    let (_, other_handle) = sign_in(&app, "corro").await;
    let listed = send(&app, "/devices", Some(&laptop)).await.body;
    let mut listed: Vec<&str> = listed.split(',').collect();
    listed.sort_unstable();
    let mut expected = vec![laptop_handle.as_str(), phone_handle.as_str()];
    expected.sort_unstable();
    assert_eq!(listed, expected);
    assert!(!listed.contains(&other_handle.as_str()));
    assert_eq!(
        send(&app, "/devices", None).await.body,
        "",
        "a guest has none"
    );
}

#[tokio::test]
async fn revoking_another_users_device_ends_nothing() {
    let store = MemoryStore::new();
    let app = app(&store);
    let (mine, _) = sign_in(&app, "ferris").await;
    let (theirs, their_handle) = sign_in(&app, "corro").await;
    let reply = send(&app, &format!("/revoke/{their_handle}"), Some(&mine)).await;
    assert_eq!(reply.body, "false");
    assert_eq!(send(&app, "/user", Some(&theirs)).await.body, "corro");
}

#[tokio::test]
async fn revoking_one_of_my_devices_makes_it_a_guest() {
    let store = MemoryStore::new();
    let app = app(&store);
    let (laptop, _) = sign_in(&app, "ferris").await;
    let (phone, phone_handle) = sign_in(&app, "ferris").await;
    let reply = send(&app, &format!("/revoke/{phone_handle}"), Some(&laptop)).await;
    assert_eq!(reply.body, "true");
    assert_eq!(send(&app, "/user", Some(&phone)).await.body, "");
    assert_eq!(send(&app, "/user", Some(&laptop)).await.body, "ferris");
}

#[tokio::test]
async fn revoking_the_other_devices_keeps_this_one() {
    let store = MemoryStore::new();
    let app = app(&store);
    let (laptop, laptop_handle) = sign_in(&app, "ferris").await;
    let (phone, _) = sign_in(&app, "ferris").await;
    let (tablet, _) = sign_in(&app, "ferris").await;
    let (other, _) = sign_in(&app, "corro").await;
    assert_eq!(send(&app, "/revoke-others", Some(&laptop)).await.body, "2");
    assert_eq!(send(&app, "/user", Some(&phone)).await.body, "");
    assert_eq!(send(&app, "/user", Some(&tablet)).await.body, "");
    assert_eq!(send(&app, "/user", Some(&laptop)).await.body, "ferris");
    assert_eq!(send(&app, "/user", Some(&other)).await.body, "corro");
    assert_eq!(
        send(&app, "/devices", Some(&laptop)).await.body,
        laptop_handle
    );
}

#[cfg(feature = "cookie-store")]
#[tokio::test]
async fn listing_devices_on_sealed_cookies_is_a_clear_error() {
    let app = routes().layer(SessionLayer::sealed_cookies(secret()));
    let pair = send(&app, "/login/ferris", None).await.cookie_pair();
    assert_eq!(
        send(&app, "/devices", Some(&pair)).await.body,
        format!("error {:?}", sessionware::ErrorKind::InvalidConfig)
    );
}
