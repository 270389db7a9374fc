//! Flash messages through a `Router`: set by one request, shown once by the
//! next, in order, one session key each, so that concurrent requests of one
//! session neither lose a message nor show one twice.

use crate::common;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Redirect;
use axum::routing::get;
use common::{FaultyStore, key_of, secret, send};
use http::StatusCode;
use sessionware::{Error, Flash, FlashLevel, Session, SessionLayer, SessionStore as _};
use tokio::sync::Barrier;

/// The messages of a `take`, as `level:text` joined by `|`.
async fn show(flash: Flash) -> String {
    let shown: Vec<String> = flash
        .take()
        .into_iter()
        .map(|message| format!("{}:{}", message.level, message.text))
        .collect();
    shown.join("|")
}

fn level(name: &str) -> FlashLevel {
    match name {
        "info" => FlashLevel::Info,
        "success" => FlashLevel::Success,
        "warning" => FlashLevel::Warning,
        _ => FlashLevel::Error,
    }
}

/// The app; `barrier` holds the `/together` requests until all have loaded
/// the session.
fn app(store: FaultyStore, barrier: Arc<Barrier>) -> Router {
    Router::new()
        .route("/show", get(show))
        .route(
            "/save",
            get(|flash: Flash| async move {
                flash.success("Saved")?;
                Ok::<_, Error>(Redirect::to("/show"))
            }),
        )
        .route(
            "/add/{level}/{text}",
            get(
                |flash: Flash, Path((name, text)): Path<(String, String)>| async move {
                    flash.push(level(&name), text)
                },
            ),
        )
        .route(
            "/many/{n}",
            get(|flash: Flash, Path(n): Path<usize>| async move {
                for i in 1..=n {
                    flash.info(format!("m{i}"))?;
                }
                Ok::<_, Error>(())
            }),
        )
        .route(
            "/signin",
            get(|session: Session| async move { session.login("ferris") }),
        )
        .route(
            "/cart",
            get(|session: Session| async move { session.insert("cart", ["tea"]).unwrap() }),
        )
        .route(
            "/together/add/{tag}",
            get(
                |State(barrier): State<Arc<Barrier>>, flash: Flash, Path(tag): Path<String>| async move {
                    barrier.wait().await;
                    flash.info(format!("{tag}1"))?;
                    flash.info(format!("{tag}2"))?;
                    Ok::<_, Error>(())
                },
            ),
        )
        .route(
            "/together/show",
            get(
                |State(barrier): State<Arc<Barrier>>, flash: Flash| async move {
                    barrier.wait().await;
                    show(flash).await
                },
            ),
        )
        .with_state(barrier)
        .layer(SessionLayer::new(store, secret()))
}

fn simple() -> (Router, FaultyStore) {
    let store = FaultyStore::default();
    (app(store.clone(), Arc::new(Barrier::new(1))), store)
}

#[tokio::test]
async fn a_flash_survives_one_redirect_and_is_shown_once() {
    let (app, _) = simple();
    let reply = send(&app, "/save", None).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.header("location"), Some("/show"));
    let cookie = reply.cookie_pair();

    let reply = send(&app, "/show", Some(&cookie)).await;
    assert_eq!(reply.body, "success:Saved");
    let reply = send(&app, "/show", Some(&cookie)).await;
    assert_eq!(reply.body, "", "a message is shown once");
}

#[tokio::test]
async fn messages_come_back_in_the_order_they_were_added_with_their_levels() {
    let (app, _) = simple();
    let cookie = send(&app, "/add/info/a", None).await.cookie_pair();
    send(&app, "/add/error/b", Some(&cookie)).await;
    send(&app, "/add/warning/c", Some(&cookie)).await;
    send(&app, "/add/success/d", Some(&cookie)).await;
    let reply = send(&app, "/many/3", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = send(&app, "/show", Some(&cookie)).await;
    assert_eq!(
        reply.body,
        "info:a|error:b|warning:c|success:d|info:m1|info:m2|info:m3"
    );
}

#[tokio::test]
async fn each_message_is_a_session_key_of_its_own() {
    let (app, store) = simple();
    let cookie = send(&app, "/signin", None).await.cookie_pair();
    let cookie = send(&app, "/many/2", Some(&cookie))
        .await
        .set_cookie()
        .map_or(cookie, |set| set.split(';').next().unwrap().to_owned());
    let record = store.inner.load(&key_of(&cookie)).await.unwrap().unwrap();
    let keys: Vec<&str> = record.data.keys().collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(
        keys.iter().all(|key| key.starts_with("_flash.")),
        "{keys:?}"
    );
    let first = record.data.get_json(keys[0]).unwrap();
    assert_eq!(first, r#"{"level":"info","text":"m1"}"#);
}

#[tokio::test]
async fn a_guest_page_that_only_reads_flashes_writes_nothing() {
    let (app, store) = simple();
    let reply = send(&app, "/show", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "");
    assert_eq!(reply.set_cookie(), None);
    assert_eq!(store.faults.writes(), 0);
    assert_eq!(store.inner.len(), 0);
}

#[tokio::test]
async fn a_signed_in_user_who_reads_every_message_stays_signed_in() {
    let (app, store) = simple();
    let cookie = send(&app, "/signin", None).await.cookie_pair();
    send(&app, "/add/info/hello", Some(&cookie)).await;
    let reply = send(&app, "/show", Some(&cookie)).await;
    assert_eq!(reply.body, "info:hello");
    assert_eq!(reply.set_cookie(), None, "the session is kept, not cleared");
    let record = store.inner.load(&key_of(&cookie)).await.unwrap().unwrap();
    assert_eq!(record.owner.as_deref(), Some("ferris"));
    assert!(record.data.is_empty());
}

#[tokio::test]
async fn at_most_32_messages_wait_and_the_oldest_go_first() {
    let (app, _) = simple();
    let cookie = send(&app, "/many/40", None).await.cookie_pair();
    let reply = send(&app, "/show", Some(&cookie)).await;
    let expected: Vec<String> = (9..=40).map(|i| format!("info:m{i}")).collect();
    assert_eq!(reply.body, expected.join("|"));
}

/// Two requests add messages while a third reads, all three having loaded
/// the same version of the session (the barrier), so their saves conflict
/// and merge. The reader shows the messages that were there when it
/// loaded; the sequential reads after it show the added ones, each once.
async fn concurrent_adds_and_a_read(setup: &str) {
    const ROUNDS: usize = 20;
    let store = FaultyStore::default();
    let app = app(store.clone(), Arc::new(Barrier::new(3)));
    let cookie = send(&app, setup, None).await.cookie_pair();
    let saves = || store.faults.saves.load(std::sync::atomic::Ordering::SeqCst);
    let saves_before = saves();
    let mut shown: BTreeMap<String, usize> = BTreeMap::new();
    for round in 0..ROUNDS {
        let (a, b) = (format!("a{round}-"), format!("b{round}-"));
        let seed = format!("/add/info/s{round}");
        assert_eq!(
            send(&app, &seed, Some(&cookie)).await.status,
            StatusCode::OK
        );

        let (path_a, path_b) = (format!("/together/add/{a}"), format!("/together/add/{b}"));
        let (added_a, added_b, read) = tokio::join!(
            send(&app, &path_a, Some(&cookie)),
            send(&app, &path_b, Some(&cookie)),
            send(&app, "/together/show", Some(&cookie)),
        );
        for reply in [&added_a, &added_b, &read] {
            assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
            assert_eq!(reply.set_cookie(), None, "the session lives on");
        }
        assert_eq!(read.body, format!("info:s{round}"), "round {round}");

        let after = send(&app, "/show", Some(&cookie)).await.body;
        let after: Vec<&str> = after.split('|').collect();
        let position = |text: &str| after.iter().position(|m| *m == format!("info:{text}"));
        for tag in [&a, &b] {
            let (first, second) = (position(&format!("{tag}1")), position(&format!("{tag}2")));
            assert!(
                first.is_some() && second.is_some() && first < second,
                "round {round}: {after:?}"
            );
        }
        assert_eq!(after.len(), 4, "round {round}: {after:?}");
        assert_eq!(send(&app, "/show", Some(&cookie)).await.body, "");
        for message in after.into_iter().chain([read.body.as_str()]) {
            *shown.entry(message.to_owned()).or_default() += 1;
        }
    }
    // Per round: the seed, three saves from one version, the read after.
    // At least two of the three conflict and merge, each a second save.
    assert!(saves() - saves_before >= ROUNDS as u64 * 7, "the merge ran");
    assert_eq!(shown.len(), ROUNDS * 5, "every message was shown");
    assert!(shown.values().all(|&n| n == 1), "none shown twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_adds_and_a_read_of_a_signed_in_session_lose_and_repeat_nothing() {
    concurrent_adds_and_a_read("/signin").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_adds_and_a_read_of_a_guest_with_a_cart_lose_and_repeat_nothing() {
    concurrent_adds_and_a_read("/cart").await;
}

/// A guest whose session holds nothing but a flash reads it (emptying the
/// session, which ends it) while another request of the same guest adds a
/// message: the add is saved first, and the read, which loaded the older
/// version, must not end the session over it. Its end is a conflict, the
/// merge keeps the new message, and the session lives on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_that_empties_a_guest_session_keeps_a_message_added_meanwhile() {
    // `loaded`: the reader, the adder and the test, once both loaded the
    // session; `release`: the reader and the test, once the add was saved.
    let (loaded, release) = (Arc::new(Barrier::new(3)), Arc::new(Barrier::new(2)));
    let store = FaultyStore::default();
    let (on_read, on_add) = ((loaded.clone(), release.clone()), loaded.clone());
    let app = Router::new()
        .route(
            "/add/{text}",
            get(|flash: Flash, Path(text): Path<String>| async move { flash.info(text) }),
        )
        .route(
            "/read",
            get(move |flash: Flash| async move {
                on_read.0.wait().await;
                on_read.1.wait().await;
                show(flash).await
            }),
        )
        .route(
            "/add-after-load",
            get(move |flash: Flash| async move {
                on_add.wait().await;
                flash.info("late")
            }),
        )
        .route("/show", get(show))
        .layer(SessionLayer::new(store.clone(), secret()));

    let cookie = send(&app, "/add/early", None).await.cookie_pair();
    let reader = tokio::spawn({
        let (app, cookie) = (app.clone(), cookie.clone());
        async move { send(&app, "/read", Some(&cookie)).await }
    });
    let adder = tokio::spawn({
        let (app, cookie) = (app.clone(), cookie.clone());
        async move { send(&app, "/add-after-load", Some(&cookie)).await }
    });
    loaded.wait().await;
    let added = adder.await.unwrap();
    assert_eq!(added.status, StatusCode::OK, "{added:?}");
    release.wait().await;
    let read = reader.await.unwrap();

    assert_eq!(read.body, "info:early");
    assert_eq!(read.set_cookie(), None, "the session lives on: {read:?}");
    assert!(
        store.inner.load(&key_of(&cookie)).await.unwrap().is_some(),
        "the record is kept"
    );
    assert_eq!(send(&app, "/show", Some(&cookie)).await.body, "info:late");
    // Emptied with nothing racing it, the session ends as before.
    assert!(store.inner.load(&key_of(&cookie)).await.unwrap().is_none());
}
