//! Rotating the secret without logging anyone out: old cookies are accepted
//! and re-issued under the current key, with the same store key; removed keys
//! make their cookies guests with no lookup.

use crate::common;

use std::time::Duration;

use axum::Router;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{FaultyStore, routes, send};
use hmac::{Hmac, Mac};
use sessionware::{Expiry, Keyring, SessionLayer};
use sha2::Sha256;

/// Two secrets unrelated as far as the keys go (HKDF sees to it).
fn old_secret() -> Vec<u8> {
    common::secret().iter().map(|b| b ^ 0x0f).collect()
}

fn new_secret() -> Vec<u8> {
    common::secret().iter().map(|b| b ^ 0xf0).collect()
}

fn app(store: &FaultyStore, keyring: Keyring) -> Router {
    routes().layer(SessionLayer::with_keyring(store.clone(), keyring))
}

fn old_only(store: &FaultyStore) -> Router {
    app(store, Keyring::new(old_secret()).unwrap())
}

fn rotated(store: &FaultyStore) -> Router {
    app(
        store,
        Keyring::new(new_secret())
            .unwrap()
            .retired(old_secret())
            .unwrap(),
    )
}

fn new_only(store: &FaultyStore) -> Router {
    app(store, Keyring::new(new_secret()).unwrap())
}

/// The random part of an `id=<random>.<tag>` pair: what the store key is the digest of.
fn random_part(pair: &str) -> &str {
    pair.trim_start_matches("id=").split('.').next().unwrap()
}

/// Verifies a cookie pair's tag independently of the crate, under `secret`.
fn tag_verifies(pair: &str, secret: &[u8]) -> bool {
    let value = pair.trim_start_matches("id=");
    let (random, tag) = value.split_once('.').unwrap();
    let mut key = [0u8; 32];
    hkdf::Hkdf::<Sha256>::new(None, secret)
        .expand(b"sessionware/v1/cookie-signing", &mut key)
        .unwrap();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
    mac.update(format!("id={random}").as_bytes());
    mac.verify_slice(&URL_SAFE_NO_PAD.decode(tag).unwrap())
        .is_ok()
}

/// A cookie under the retired key is accepted on a read-only request,
/// re-issued under the current key alone, with the same random value, so the
/// same record (no data moved, no second record).
#[tokio::test]
async fn an_old_cookie_is_accepted_and_resigned_under_the_current_key() {
    let store = FaultyStore::default();
    let old = send(&old_only(&store), "/insert", None).await.cookie_pair();
    assert!(tag_verifies(&old, &old_secret()));

    let reply = send(&rotated(&store), "/get", Some(&old)).await;
    assert_eq!(reply.body, "Some(1)");
    let resigned = reply.cookie_pair();
    assert_ne!(resigned, old);
    assert_eq!(random_part(&resigned), random_part(&old), "same store key");
    assert!(
        tag_verifies(&resigned, &new_secret()),
        "re-issued cookies are signed with the current key"
    );
    assert!(
        !tag_verifies(&resigned, &old_secret()),
        "re-issued cookies are never signed with the retired key"
    );
    assert_eq!(store.inner.len(), 1);
    assert_eq!(
        store.faults.writes(),
        1,
        "re-signing writes nothing to the store"
    );

    // The re-issued cookie needs only the current key, and is not re-issued again.
    let again = send(&new_only(&store), "/get", Some(&resigned)).await;
    assert_eq!((again.body.as_str(), again.set_cookie()), ("Some(1)", None));
}

/// A write under an old cookie saves and re-signs in one response; a new
/// session on the rotated layer is signed with the current key.
#[tokio::test]
async fn writes_and_new_sessions_use_the_current_key() {
    let store = FaultyStore::default();
    let old = send(&old_only(&store), "/insert", None).await.cookie_pair();
    let reply = send(&rotated(&store), "/insert", Some(&old)).await;
    assert_eq!(reply.body, "2");
    let resigned = reply.cookie_pair();
    assert_eq!(random_part(&resigned), random_part(&old));
    assert!(tag_verifies(&resigned, &new_secret()));

    let fresh = send(&rotated(&store), "/insert", None).await.cookie_pair();
    assert!(tag_verifies(&fresh, &new_secret()) && !tag_verifies(&fresh, &old_secret()));
}

/// An idle-expiry session re-signed on a read keeps its deadline: the
/// cookie's Max-Age does not grow past the record's.
#[tokio::test]
async fn resigning_keeps_the_deadline() {
    let store = FaultyStore::default();
    let expiry = Expiry::OnInactivity(Duration::from_secs(3600));
    let old_app = routes().layer(SessionLayer::new(store.clone(), old_secret()).expiry(expiry));
    let old = send(&old_app, "/insert", None).await.cookie_pair();
    let keyring = Keyring::new(new_secret())
        .unwrap()
        .retired(old_secret())
        .unwrap();
    let rotated = routes().layer(SessionLayer::with_keyring(store.clone(), keyring).expiry(expiry));
    let header = send(&rotated, "/get", Some(&old))
        .await
        .set_cookie()
        .unwrap();
    let max_age: u64 = header
        .split("Max-Age=")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!((3590..=3600).contains(&max_age), "{header}");
}

/// Once the old secret leaves the ring, its cookies are guests and the store
/// is not even asked.
#[tokio::test]
async fn a_removed_key_makes_its_cookies_guests_with_no_lookup() {
    let store = FaultyStore::default();
    let old = send(&old_only(&store), "/insert", None).await.cookie_pair();
    let before = store.faults.lookups();
    let reply = send(&new_only(&store), "/get", Some(&old)).await;
    assert_eq!((reply.body.as_str(), reply.set_cookie()), ("None", None));
    assert_eq!(store.faults.lookups(), before);
}

/// The cookie store rotates the same way: a cookie sealed under the retired
/// secret opens and is re-sealed under the current one, and a removed secret's
/// cookies are guests.
#[cfg(feature = "cookie-store")]
#[tokio::test]
async fn sealed_cookies_rotate_too() {
    let sealed =
        |keyring: Keyring| routes().layer(SessionLayer::sealed_cookies_with_keyring(keyring));
    let old = send(
        &sealed(Keyring::new(old_secret()).unwrap()),
        "/insert",
        None,
    )
    .await
    .cookie_pair();
    let rotated = sealed(
        Keyring::new(new_secret())
            .unwrap()
            .retired(old_secret())
            .unwrap(),
    );
    let reply = send(&rotated, "/get", Some(&old)).await;
    assert_eq!(reply.body, "Some(1)");
    let resealed = reply.cookie_pair();
    let new_only = sealed(Keyring::new(new_secret()).unwrap());
    let again = send(&new_only, "/get", Some(&resealed)).await;
    assert_eq!((again.body.as_str(), again.set_cookie()), ("Some(1)", None));
    assert_eq!(send(&new_only, "/get", Some(&old)).await.body, "None");
}
