//! The header transport for API and mobile clients: the token in
//! `Authorization: Bearer` (or a header of your choice), new and re-issued
//! tokens in a response header, and the same guarantees as cookies.

use crate::common;

use axum::Router;
use common::{FaultyStore, Reply, routes, secret, send_headers};
use http::HeaderName;
use sessionware::{Keyring, SessionLayer};

const TOKEN: HeaderName = HeaderName::from_static("session-token");

fn bearer_app(store: &FaultyStore) -> Router {
    routes().layer(SessionLayer::new(store.clone(), secret()).bearer_token(TOKEN))
}

async fn with_token(app: &Router, path: &str, token: &str) -> Reply {
    send_headers(app, path, &[("authorization", &format!("Bearer {token}"))]).await
}

fn issued(reply: &Reply) -> String {
    reply
        .header("session-token")
        .expect("a session-token header")
        .to_owned()
}

#[tokio::test]
async fn a_bearer_token_carries_the_session_and_no_cookie_is_involved() {
    let store = FaultyStore::default();
    let app = bearer_app(&store);
    let first = send_headers(&app, "/insert", &[]).await;
    assert_eq!(first.body, "1");
    assert!(first.set_cookies().is_empty(), "no cookie in header mode");
    assert_eq!(first.header("cache-control"), Some("no-store"));
    assert_eq!(first.header("vary"), Some("authorization"));
    let token = issued(&first);
    assert_eq!(token.len(), 87, "the same signed format as cookies");

    let second = with_token(&app, "/insert", &token).await;
    assert_eq!(second.body, "2");
    assert_eq!(
        second.header("session-token"),
        None,
        "an unchanged token is not resent"
    );
    // The token is not accepted as a cookie, nor under another scheme.
    let as_cookie = send_headers(&app, "/get", &[("cookie", &format!("id={token}"))]).await;
    assert_eq!(as_cookie.body, "None");
    let basic = send_headers(
        &app,
        "/get",
        &[("authorization", &format!("Basic {token}"))],
    )
    .await;
    assert_eq!(basic.body, "None");
}

/// Over headers as with cookies: after a cycle or a destroy the old token is
/// a guest; a destroy answers with an empty token.
#[tokio::test]
async fn cycled_and_destroyed_tokens_are_dead() {
    let store = FaultyStore::default();
    let app = bearer_app(&store);
    let token = issued(&send_headers(&app, "/insert", &[]).await);
    let cycled = issued(&with_token(&app, "/cycle", &token).await);
    assert_ne!(cycled, token);
    assert_eq!(with_token(&app, "/get", &token).await.body, "None");
    assert_eq!(with_token(&app, "/get", &cycled).await.body, "Some(1)");
    let destroyed = with_token(&app, "/destroy", &cycled).await;
    assert_eq!(
        issued(&destroyed),
        "",
        "an empty token tells the client to drop it"
    );
    assert_eq!(with_token(&app, "/get", &cycled).await.body, "None");
}

/// Forged, truncated and doubled tokens are guests with no store lookup.
#[tokio::test]
async fn hostile_tokens_are_guests_before_the_store() {
    let store = FaultyStore::default();
    let app = bearer_app(&store);
    let token = issued(&send_headers(&app, "/insert", &[]).await);
    let other = issued(&send_headers(&app, "/insert", &[]).await);
    let before = store.faults.lookups();
    let mut forged = token.clone().into_bytes();
    forged[50] = if forged[50] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    for bad in [forged.as_str(), &token[..40], "", "x.y"] {
        let reply = with_token(&app, "/get", bad).await;
        assert_eq!(
            (reply.body.as_str(), reply.header("session-token")),
            ("None", None),
            "{bad:?}"
        );
    }
    let doubled = send_headers(
        &app,
        "/get",
        &[
            ("authorization", &format!("Bearer {token}")),
            ("authorization", &format!("Bearer {other}")),
        ],
    )
    .await;
    assert_eq!(doubled.body, "None");
    assert_eq!(store.faults.lookups(), before);
}

#[tokio::test]
async fn a_custom_header_carries_the_token_both_ways() {
    let store = FaultyStore::default();
    let name = HeaderName::from_static("x-session");
    let app = routes().layer(SessionLayer::new(store.clone(), secret()).token_header(name));
    let first = send_headers(&app, "/insert", &[]).await;
    let token = first.header("x-session").unwrap().to_owned();
    assert_eq!(first.header("vary"), Some("x-session"));
    assert_eq!(
        send_headers(&app, "/get", &[("x-session", &token)])
            .await
            .body,
        "Some(1)"
    );
}

/// Rotation works the same: a token under a retired secret is accepted and
/// re-issued under the current one in the response header.
#[tokio::test]
async fn a_token_under_a_retired_secret_is_reissued_in_the_header() {
    let store = FaultyStore::default();
    let old: Vec<u8> = secret().iter().map(|b| b ^ 0x3c).collect();
    let old_app = routes().layer(SessionLayer::new(store.clone(), &old).bearer_token(TOKEN));
    let token = issued(&send_headers(&old_app, "/insert", &[]).await);
    let keyring = Keyring::new(secret()).unwrap().retired(&old).unwrap();
    let app =
        routes().layer(SessionLayer::with_keyring(store.clone(), keyring).bearer_token(TOKEN));
    let reply = with_token(&app, "/get", &token).await;
    assert_eq!(reply.body, "Some(1)");
    let reissued = issued(&reply);
    assert_ne!(reissued, token);
    assert_eq!(
        with_token(&bearer_app(&store), "/get", &reissued)
            .await
            .body,
        "Some(1)"
    );
}

#[cfg(feature = "cookie-store")]
#[tokio::test]
async fn the_cookie_store_seals_into_the_header_too() {
    let app = routes().layer(SessionLayer::sealed_cookies(secret()).bearer_token(TOKEN));
    let token = issued(&send_headers(&app, "/insert", &[]).await);
    assert_eq!(with_token(&app, "/insert", &token).await.body, "2");
}
