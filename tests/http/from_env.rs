//! `SessionLayer::from_lookup` (what `from_env` runs on the process
//! environment) through a real `Router`: the encodings of one secret sign the
//! same cookies, retired secrets rotate, and cookie attributes and expiry come
//! from the variables. No test touches the process environment.

use crate::common;

use std::collections::HashMap;

use axum::Router;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::{FaultyStore, routes, secret, send};
use sessionware::SessionLayer;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Secrets unrelated to `secret()` as far as the keys go (HKDF sees to it).
fn old_secret() -> Vec<u8> {
    secret().iter().map(|b| b ^ 0x0f).collect()
}

fn other_secret() -> Vec<u8> {
    secret().iter().map(|b| b ^ 0xf0).collect()
}

/// An app whose layer is configured by `vars`, as `from_env` would read them.
fn app(store: &FaultyStore, vars: &[(&str, String)]) -> Router {
    let vars: HashMap<&str, &String> = vars.iter().map(|(k, v)| (*k, v)).collect();
    let layer =
        SessionLayer::from_lookup(store.clone(), |name| vars.get(name).map(|v| v.to_string()))
            .unwrap();
    routes().layer(layer)
}

/// A cookie issued under the hex form of the secret is valid, and not
/// re-issued, under its standard and URL-safe base64 forms; a different
/// secret rejects it, so the check can fail.
#[tokio::test]
async fn hex_and_base64_forms_of_one_secret_accept_each_others_cookies() {
    let store = FaultyStore::default();
    let from_hex = app(&store, &[("SESSIONWARE_SECRET", hex(&secret()))]);
    let pair = send(&from_hex, "/insert", None).await.cookie_pair();

    for form in [STANDARD.encode(secret()), URL_SAFE_NO_PAD.encode(secret())] {
        let from_base64 = app(&store, &[("SESSIONWARE_SECRET", form.clone())]);
        let reply = send(&from_base64, "/get", Some(&pair)).await;
        assert_eq!(
            (reply.body.as_str(), reply.set_cookie()),
            ("Some(1)", None),
            "{form}"
        );
    }
    let other = app(&store, &[("SESSIONWARE_SECRET", hex(&other_secret()))]);
    assert_eq!(send(&other, "/get", Some(&pair)).await.body, "None");
}

/// A cookie signed under a secret listed in `SESSIONWARE_OLD_SECRETS` is
/// accepted and re-issued under `SESSIONWARE_SECRET`; without the list it is a guest.
#[tokio::test]
async fn a_cookie_under_an_old_secret_is_accepted_and_reissued() {
    let store = FaultyStore::default();
    let old_app = routes().layer(SessionLayer::new(store.clone(), old_secret()));
    let old = send(&old_app, "/insert", None).await.cookie_pair();

    let current = ("SESSIONWARE_SECRET", hex(&secret()));
    let retired = format!(
        "{}, {}",
        STANDARD.encode(other_secret()),
        hex(&old_secret())
    );
    let rotated = app(
        &store,
        &[current.clone(), ("SESSIONWARE_OLD_SECRETS", retired)],
    );
    let reply = send(&rotated, "/get", Some(&old)).await;
    assert_eq!(reply.body, "Some(1)");
    let reissued = reply.cookie_pair();
    assert_ne!(reissued, old);

    let current_only = app(&store, &[current]);
    assert_eq!(send(&current_only, "/get", Some(&old)).await.body, "None");
    let again = send(&current_only, "/get", Some(&reissued)).await;
    assert_eq!((again.body.as_str(), again.set_cookie()), ("Some(1)", None));
}

/// Every cookie attribute and the idle expiry set in the variables show in
/// the `Set-Cookie` header; unset ones keep the secure defaults.
#[tokio::test]
async fn cookie_attributes_and_idle_expiry_come_from_the_variables() {
    let store = FaultyStore::default();
    let vars = [
        ("SESSIONWARE_SECRET", hex(&secret())),
        ("SESSIONWARE_COOKIE_NAME", "sid".to_owned()),
        ("SESSIONWARE_SECURE", "false".to_owned()),
        ("SESSIONWARE_HTTP_ONLY", "No".to_owned()),
        ("SESSIONWARE_SAME_SITE", "Strict".to_owned()),
        ("SESSIONWARE_PATH", "/".to_owned()),
        ("SESSIONWARE_DOMAIN", "example.com".to_owned()),
        ("SESSIONWARE_IDLE_TIMEOUT", "30m".to_owned()),
    ];
    let header = send(&app(&store, &vars), "/insert", None)
        .await
        .set_cookie()
        .unwrap();
    assert!(header.starts_with("sid="), "{header}");
    for part in [
        "SameSite=Strict",
        "Path=/",
        "Domain=example.com",
        "Max-Age=1800",
    ] {
        assert!(header.contains(part), "{part} in {header}");
    }
    assert!(
        !header.contains("Secure") && !header.contains("HttpOnly"),
        "{header}"
    );

    let defaults = app(&store, &[("SESSIONWARE_SECRET", hex(&secret()))]);
    let header = send(&defaults, "/insert", None).await.set_cookie().unwrap();
    assert!(header.starts_with("id="), "{header}");
    for part in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(header.contains(part), "{part} in {header}");
    }
    assert!(
        !header.contains("Max-Age") && !header.contains("Domain"),
        "{header}"
    );
}

/// `insecure_dev_secret` warns loudly every time it is called (every start).
#[test]
fn insecure_dev_secret_warns_on_every_call() {
    let captured = common::Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        sessionware::insecure_dev_secret();
        sessionware::insecure_dev_secret();
    });
    let logged = captured.text();
    assert_eq!(logged.matches(" WARN ").count(), 2, "{logged}");
    assert_eq!(
        logged.matches("set SESSIONWARE_SECRET").count(),
        2,
        "{logged}"
    );
    assert!(logged.contains("will not survive a restart"), "{logged}");
}

/// A guessable secret is refused whatever its encoding, as the current or a
/// retired secret: the error is `WeakSecret`, names the variable, gives the
/// estimate and says how to make a good one. The first one is the hex secret
/// the `from_lookup` documentation used to show.
#[test]
fn a_guessable_secret_from_the_environment_is_refused_with_advice() {
    let old_doc_secret = "0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0";
    let weak = [
        old_doc_secret.to_owned(),
        hex(b"my-app-session-secret-2024-production-key"),
        STANDARD.encode(b"Passw0rd!".repeat(4)),
        URL_SAFE_NO_PAD.encode([7u8, 1, 2, 3, 4, 5, 6, 8].repeat(8)),
    ];
    for value in weak {
        for (name, vars) in [
            (
                "SESSIONWARE_SECRET",
                vec![("SESSIONWARE_SECRET", value.clone())],
            ),
            (
                "SESSIONWARE_OLD_SECRETS[1]",
                vec![
                    ("SESSIONWARE_SECRET", hex(&secret())),
                    ("SESSIONWARE_OLD_SECRETS", value.clone()),
                ],
            ),
        ] {
            let vars: HashMap<&str, String> = vars.into_iter().collect();
            let err = SessionLayer::from_lookup(FaultyStore::default(), |n| vars.get(n).cloned())
                .unwrap_err();
            assert_eq!(err.kind(), sessionware::ErrorKind::WeakSecret, "{value}");
            let text = err.to_string();
            assert!(text.contains(name), "{text}");
            assert!(
                text.contains("bits of estimated entropy, at least 128"),
                "{text}"
            );
            assert!(text.contains("`openssl rand -hex 64`"), "{text}");
            assert!(!text.contains(&value[..16]), "the secret leaked: {text}");
        }
    }
}
