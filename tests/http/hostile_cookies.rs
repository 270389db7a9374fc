//! Hostile and malformed cookies: every one is a guest and none reaches the
//! store, and none is logged. A counting store proves "0 lookups".

use crate::common;

use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{FaultyStore, routes, secret, send, send_with};
use hmac::{Hmac, Mac};
use http::{HeaderValue, Request, StatusCode};
use proptest::prelude::*;
use sessionware::store::{Record, SessionKey};
use sessionware::{RejectionReason, SessionEvent, SessionLayer, SessionStore};
use sha2::{Digest, Sha256};

fn app(store: FaultyStore) -> Router {
    routes().layer(SessionLayer::new(store, secret()))
}

/// Sends `cookie_lines` to `/get` and asserts: 200, guest, no lookup, no cookie.
async fn assert_guest(store: &FaultyStore, app: &Router, cookie_lines: &[&str]) {
    let before = store.faults.lookups();
    let reply = send_with(app, "/get", cookie_lines).await;
    assert_eq!(reply.status, StatusCode::OK, "{cookie_lines:?}");
    assert_eq!(reply.body, "None", "{cookie_lines:?}");
    assert_eq!(reply.set_cookie(), None, "{cookie_lines:?}");
    assert_eq!(
        store.faults.lookups(),
        before,
        "store reached for {cookie_lines:?}"
    );
}

/// A genuine cookie value, and the app that issued it.
async fn genuine() -> (FaultyStore, Router, String) {
    let store = FaultyStore::default();
    let app = app(store.clone());
    let pair = send(&app, "/insert", None).await.cookie_pair();
    let value = pair.strip_prefix("id=").unwrap().to_owned();
    (store, app, value)
}

/// Builds a cookie value the way the format is specified, independently of
/// the crate: base64url(random) "." base64url(HMAC-SHA256(HKDF(secret, label), "id=" value)).
fn hand_made(random: &[u8; 32], label: &[u8]) -> String {
    let mut key = [0u8; 32];
    hkdf::Hkdf::<Sha256>::new(None, &secret())
        .expand(label, &mut key)
        .unwrap();
    let text = URL_SAFE_NO_PAD.encode(random);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
    mac.update(format!("id={text}").as_bytes());
    format!(
        "{text}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

/// The specified format works, and the store is keyed by SHA-256 of the
/// random bytes; the same value tagged for another purpose is a guest.
#[tokio::test]
async fn format_digest_and_purpose_separation() {
    let store = FaultyStore::default();
    let app = app(store.clone());
    let random = [0x33u8; 32];
    let key = SessionKey::from_bytes(Sha256::digest(random).into());
    let now = SystemTime::now();
    let mut data = serde_json::Map::new();
    data.insert("n".into(), 41.into());
    store
        .inner
        .create(
            &key,
            &Record::new(data.into(), now, now + Duration::from_secs(60)),
        )
        .await
        .unwrap();

    let ours = hand_made(&random, b"sessionware/v1/cookie-signing");
    assert_eq!(
        send(&app, "/get", Some(&format!("id={ours}"))).await.body,
        "Some(41)"
    );
    let csrf = hand_made(&random, b"sessionware/v1/csrf");
    assert_guest(&store, &app, &[&format!("id={csrf}")]).await;
}

/// A tag from another secret is a guest with no lookup.
#[tokio::test]
async fn foreign_secret_is_a_guest() {
    let other = FaultyStore::default();
    // Another application's secret: ours with every byte changed.
    let foreign_secret: Vec<u8> = secret().iter().map(|b| b ^ 0x5a).collect();
    let foreign_app = routes().layer(SessionLayer::new(other, foreign_secret));
    let foreign = send(&foreign_app, "/insert", None).await.cookie_pair();
    let (store, app, _) = genuine().await;
    assert_guest(&store, &app, &[&foreign]).await;
}

/// Truncated, extended, empty and short values.
#[tokio::test]
async fn wrong_lengths_are_guests() {
    let (store, app, value) = genuine().await;
    let n = value.len();
    for candidate in [&value[..n - 1], &value[..1], "", &value[..43], &value[..44]] {
        assert_guest(&store, &app, &[&format!("id={candidate}")]).await;
    }
    assert_guest(&store, &app, &[&format!("id={value}A")]).await;
}

/// An unsigned, well-formed token is a guest; a write mints a fresh one.
#[tokio::test]
async fn unsigned_token_is_never_adopted() {
    let (store, app, value) = genuine().await;
    let unsigned = format!("id={}", &value[..43]);
    assert_guest(&store, &app, &[&unsigned]).await;
    let reply = send(&app, "/insert", Some(&unsigned)).await;
    assert!(!reply.cookie_pair().contains(&value[..43]));
}

/// Garbage, another app's cookie, a sealed blob are guests, never 500.
#[tokio::test]
async fn garbage_is_a_guest() {
    let (store, app, _) = genuine().await;
    let blob = format!("id=Fe26.2**{}", "a".repeat(200));
    for line in [
        "id=!!!not-base64!!!",
        "id=s%3Aabc.def",
        blob.as_str(),
        "id=a.b.c",
    ] {
        assert_guest(&store, &app, &[line]).await;
    }
}

/// A genuine value under another cookie name is rejected.
#[tokio::test]
async fn value_moved_to_another_name_is_rejected() {
    let (_, _, value) = genuine().await;
    let store = FaultyStore::default();
    let sid_app = routes().layer(SessionLayer::new(store.clone(), secret()).cookie_name("sid"));
    assert_guest(&store, &sid_app, &[&format!("sid={value}")]).await;
}

/// The stored digest presented as the cookie is a guest.
#[tokio::test]
async fn stored_digest_is_not_a_cookie() {
    let (store, app, value) = genuine().await;
    let random = URL_SAFE_NO_PAD.decode(&value[..43]).unwrap();
    let digest = Sha256::digest(&random);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let b64 = URL_SAFE_NO_PAD.encode(digest);
    for line in [
        format!("id={hex}"),
        format!("id={b64}"),
        format!("id={b64}.{}", &value[44..]),
    ] {
        assert_guest(&store, &app, &[&line]).await;
    }
}

/// A 100 KB value is rejected by length, fast.
#[tokio::test]
async fn oversized_value_is_rejected_in_constant_time() {
    let (store, app, _) = genuine().await;
    let huge = format!("id={}", "A".repeat(100 * 1024));
    let started = Instant::now();
    assert_guest(&store, &app, &[&huge]).await;
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    let sixty_four_k = format!("id={}", "x".repeat(64 * 1024));
    assert_guest(&store, &app, &[&sixty_four_k]).await;
}

/// 10,000 pairs with ours last: found.
#[tokio::test]
async fn many_pairs_ours_last_is_found() {
    let (_, app, value) = genuine().await;
    let mut line: String = (0..10_000).map(|i| format!("c{i}=v; ")).collect();
    line.push_str(&format!("id={value}"));
    assert_eq!(send(&app, "/get", Some(&line)).await.body, "Some(1)");
}

/// Percent-encoded multibyte, raw non-UTF-8, NUL-free obs-text.
#[tokio::test]
async fn encoded_and_non_utf8_bytes_are_guests() {
    let (store, app, value) = genuine().await;
    let split = format!("id={}%C2%A3{}", &value[..41], &value[44..]);
    assert_guest(&store, &app, &[&split]).await;

    let mut raw = b"id=".to_vec();
    raw.extend_from_slice(&[0x80, 0xff, 0xc3]);
    raw.extend_from_slice(value.as_bytes());
    let request = Request::builder()
        .uri("/get")
        .header("cookie", HeaderValue::from_bytes(&raw).unwrap())
        .header("cookie", HeaderValue::from_str("other=1").unwrap())
        .body(axum::body::Body::empty())
        .unwrap();
    let reply = common::send_request(&app, request).await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::OK, "None")
    );
}

/// Two distinct genuine values, in both orders and across headers, are a guest.
#[tokio::test]
async fn duplicate_names_are_a_guest() {
    let (store, app, victim) = genuine().await;
    let attacker = send(&app, "/insert", None).await.cookie_pair();
    let victim = format!("id={victim}");
    assert_guest(&store, &app, &[&format!("{attacker}; {victim}")]).await;
    assert_guest(&store, &app, &[&format!("{victim}; {attacker}")]).await;
    assert_guest(&store, &app, &[&victim, &attacker]).await;
    // One genuine value next to junk under the same name is still found.
    let reply = send(&app, "/get", Some(&format!("id=junk; {victim}"))).await;
    assert_eq!(reply.body, "Some(1)");
}

/// The cookie split across two header lines is found.
#[tokio::test]
async fn split_headers_are_searched() {
    let (_, app, value) = genuine().await;
    let reply = send_with(&app, "/get", &["a=1; b=2", &format!("id={value}")]).await;
    assert_eq!(reply.body, "Some(1)");
}

/// Name variants do not match.
#[tokio::test]
async fn only_the_exact_name_matches() {
    let (store, app, value) = genuine().await;
    for name in ["ID", "Id", "id_", " id2", "xid"] {
        assert_guest(&store, &app, &[&format!("{name}={value}")]).await;
    }
}

/// Empty values and bare names.
#[tokio::test]
async fn empty_and_bare_are_guests() {
    let (store, app, _) = genuine().await;
    for line in ["id=", "id", "id=;id=", ";;;", "="] {
        assert_guest(&store, &app, &[line]).await;
    }
}

/// A flood of bad cookies stays guests, each is reported to the layer's
/// event hook as a rejection, and no lookup happens.
#[tokio::test]
async fn flood_of_bad_tags_is_reported_not_looked_up() {
    let (store, _, value) = genuine().await;
    let (layer, log) = common::recorded(SessionLayer::new(store.clone(), secret()));
    let app = routes().layer(layer);
    for i in 0..2_000u32 {
        let mut bytes = value.clone().into_bytes();
        let replacement =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"[(i / 40) as usize % 52];
        if bytes[44 + (i as usize % 40)] == replacement {
            continue;
        }
        bytes[44 + (i as usize % 40)] = replacement;
        let line = format!("id={}", String::from_utf8(bytes).unwrap());
        let reply = send(&app, "/get", Some(&line)).await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    assert_eq!(store.faults.lookups(), 0);
    let rejected = common::take(&log)
        .iter()
        .filter(|event| {
            matches!(
                event,
                SessionEvent::Rejected {
                    reason: RejectionReason::BadTag | RejectionReason::Malformed
                }
            )
        })
        .count();
    assert!(rejected >= 1_900, "{rejected} rejections reported");
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary Cookie header bytes never panic, never 500, never reach the store.
    #[test]
    fn arbitrary_cookie_headers_are_harmless(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let Ok(header) = HeaderValue::from_bytes(&bytes) else { return Ok(()) };
        runtime().block_on(async {
            let store = FaultyStore::default();
            let app = app(store.clone());
            let request = Request::builder().uri("/get").header("cookie", header)
                .body(axum::body::Body::empty()).unwrap();
            let reply = common::send_request(&app, request).await;
            assert_eq!(reply.status, StatusCode::OK);
            assert_eq!(store.faults.lookups(), 0);
        });
    }

    /// Any single-byte substitution of a genuine cookie is a guest.
    #[test]
    fn single_byte_substitutions_are_guests(position in 0usize..87, byte in any::<u8>()) {
        runtime().block_on(async {
            let (store, app, value) = genuine().await;
            let mut bytes = value.into_bytes();
            prop_assume!(bytes[position] != byte);
            bytes[position] = byte;
            let Ok(header) = HeaderValue::from_bytes(&[b"id=".as_slice(), &bytes].concat()) else { return Ok(()) };
            let request = Request::builder().uri("/get").header("cookie", header)
                .body(axum::body::Body::empty()).unwrap();
            let before = store.faults.lookups();
            let reply = common::send_request(&app, request).await;
            prop_assert_eq!(reply.body.as_str(), "None");
            prop_assert_eq!(store.faults.lookups(), before);
            Ok(())
        })?;
    }
}

/// Other cookies' bytes never hide ours: a sibling app's `tracker=José` (as
/// UTF-8 or Latin-1 bytes, before or after ours, in the same header) leaves
/// our well-formed cookie found.
#[tokio::test]
async fn non_ascii_bytes_in_other_cookies_never_hide_ours() {
    let (_store, app, value) = genuine().await;
    let ours = format!("id={value}");
    let utf8 = "tracker=Jos\u{e9}".as_bytes().to_vec();
    let latin1 = b"tracker=Jos\xe9".to_vec();
    for other in [utf8, latin1, b"x=\x80\xff; y=1".to_vec()] {
        for ours_first in [true, false] {
            let mut raw = Vec::new();
            let (first, second) = if ours_first {
                (ours.as_bytes(), other.as_slice())
            } else {
                (other.as_slice(), ours.as_bytes())
            };
            raw.extend_from_slice(first);
            raw.extend_from_slice(b"; ");
            raw.extend_from_slice(second);
            let request = Request::builder()
                .uri("/get")
                .header("cookie", HeaderValue::from_bytes(&raw).unwrap())
                .body(axum::body::Body::empty())
                .unwrap();
            let reply = common::send_request(&app, request).await;
            assert_eq!(reply.body, "Some(1)", "{:?}", String::from_utf8_lossy(&raw));
        }
    }
}
