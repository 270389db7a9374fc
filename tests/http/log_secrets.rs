//! Logs name rejections and sessions by digest prefix only; no cookie value,
//! tag, secret or key ever appears. The app runs inside a capture span of its
//! own (see `capture`), so the lines read back are every event of this flow
//! and nothing logged by the tests running beside it.

use crate::capture::{self, Tag};
use crate::common;

use base64::Engine as _;
use common::{Faults, FaultyStore, routes, secret, send};
use sessionware::SessionLayer;
use sha2::Digest as _;

/// The tag of this test's lines in the shared capture.
const TAG: &str = "log_secrets";

#[tokio::test]
async fn logs_never_contain_secrets() {
    let store = FaultyStore::default();
    let app = routes()
        .layer(SessionLayer::new(store.clone(), secret()))
        .layer(Tag::new(TAG));
    let mut cookies = Vec::new();
    let first = send(&app, "/insert", None).await.cookie_pair();
    cookies.push(first.clone());
    send(&app, "/insert", Some(&first)).await;
    let cycled = send(&app, "/cycle", Some(&first)).await.cookie_pair();
    cookies.push(cycled.clone());
    // A forged tag, a replayed dead cookie, a tossed pair, a store outage, a failed save.
    let mut forged = cycled.clone().into_bytes();
    forged[60] = if forged[60] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    send(&app, "/get", Some(&forged)).await;
    send(&app, "/get", Some(&first)).await;
    let other = send(&app, "/insert", None).await.cookie_pair();
    cookies.push(other.clone());
    send(&app, "/get", Some(&format!("{cycled}; {other}"))).await;
    Faults::set(&store.faults.fail_load, true);
    send(&app, "/get", Some(&cycled)).await;
    Faults::set(&store.faults.fail_load, false);
    Faults::set(&store.faults.fail_write, true);
    send(&app, "/insert", Some(&cycled)).await;
    Faults::set(&store.faults.fail_write, false);
    send(&app, "/destroy", Some(&cycled)).await;

    let logs = capture::text(TAG);
    for expected in [
        "session cookie rejected",
        "bad tag",
        "cookie tossing",
        "session load failed",
        "could not be saved",
        "session id cycled",
        "session destroyed",
    ] {
        assert!(logs.contains(expected), "{expected:?} not logged:\n{logs}");
    }
    let secret_hex: String = secret().iter().map(|b| format!("{b:02x}")).collect();
    for pair in cookies.iter().chain([&forged]) {
        let value = pair.strip_prefix("id=").unwrap();
        let (random, tag) = (&value[..43], &value[44..]);
        assert!(!logs.contains(random), "a random value was logged:\n{logs}");
        assert!(!logs.contains(tag), "a tag was logged:\n{logs}");
        // The full digest is not logged either, only its 8-character prefix.
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(random)
            .unwrap();
        let digest: String = sha2::Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(!logs.contains(&digest), "a full digest was logged");
    }
    assert!(
        !logs.contains(&secret_hex[..16]),
        "secret bytes were logged"
    );
    assert!(
        logs.contains("session="),
        "sessions are named by digest prefix"
    );
}
