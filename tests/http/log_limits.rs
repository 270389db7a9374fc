//! The warnings a client can trigger are limited per `SessionLayer` value,
//! whatever the number of routes the layer is applied to and of connections
//! the requests come over, and they never show a cookie value. The apps run
//! inside a capture span of their own (see `capture`), so the warnings
//! counted are those of this test's requests only, whatever runs beside it.

use crate::capture::{self, Tag};
use crate::common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::serve::{self, RawReply};
use rand::Rng as _;
use sessionware::{MemoryStore, Session, SessionEvent, SessionLayer};

/// The limit the library promises: warnings per second and layer value.
const PER_SECOND: usize = 10;

/// The tag of this test's lines in the shared capture.
const TAG: &str = "log_limits";

/// The lines this test's requests logged since the captured text had `from`
/// bytes.
fn lines_since(from: usize) -> Vec<String> {
    capture::lines_since(TAG, from)
}

/// Lines containing any of `needles`.
fn count(lines: &[String], needles: &[&str]) -> usize {
    lines
        .iter()
        .filter(|line| needles.iter().any(|needle| line.contains(needle)))
        .count()
}

/// The most warnings one layer may log over `elapsed`: every wall-clock
/// second touched allows `PER_SECOND`.
fn allowed(elapsed: Duration) -> usize {
    PER_SECOND * (elapsed.as_secs_f64().ceil() as usize + 1)
}

/// 43 base64url characters of 32 random bytes: the shape of both halves of
/// a session cookie value.
fn random_part() -> String {
    URL_SAFE_NO_PAD.encode(rand::rng().random::<[u8; 32]>())
}

/// A request to send: its path and its headers.
type Request = (String, Vec<(&'static str, Vec<u8>)>);

/// Sends every request over its own connection, all at once, and returns
/// the replies in order.
async fn send_all(addr: SocketAddr, requests: Vec<Request>) -> Vec<RawReply> {
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|(path, headers)| {
            tokio::spawn(async move {
                let headers: Vec<(&str, &[u8])> =
                    headers.iter().map(|(n, v)| (*n, v.as_slice())).collect();
                serve::get(addr, &path, &headers).await
            })
        })
        .collect();
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.unwrap());
    }
    replies
}

/// Asserts that no half of any cookie value in `pairs` was logged.
fn assert_not_logged(pairs: &[String]) {
    let logs = capture::logs().text();
    for pair in pairs {
        let value = pair.strip_prefix("id=").unwrap();
        let (random, tag) = value.split_once('.').unwrap();
        assert!(
            !logs.contains(random),
            "a cookie value was logged: {random}"
        );
        assert!(!logs.contains(tag), "a cookie tag was logged: {tag}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_cookie_warnings_are_limited_per_layer_across_connections_and_routes() {
    // One layer value on 30 routes, so 30 services, each made anew for
    // every connection: they must all share one limit.
    let (layer, events) = common::recorded(SessionLayer::new(MemoryStore::new(), common::secret()));
    let mut app = Router::new();
    for n in 0..30 {
        app = app.route(
            &format!("/r{n}"),
            get(|s: Session| async move { format!("{:?}", s.get::<u64>("n").unwrap()) }),
        );
    }
    let addr = serve::serve(app.layer(layer).layer(Tag::new(TAG))).await;

    let forged: Vec<String> = (0..300)
        .map(|_| format!("id={}.{}", random_part(), random_part()))
        .collect();
    let requests = forged
        .iter()
        .enumerate()
        .map(|(i, pair)| {
            let headers = vec![("Cookie", pair.clone().into_bytes())];
            (format!("/r{}", i % 30), headers)
        })
        .collect();
    let from = capture::logs().text().len();
    let started = Instant::now();
    let replies = send_all(addr, requests).await;
    let elapsed = started.elapsed();
    for reply in &replies {
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.body, "None", "a forged cookie was accepted");
    }
    let warned = count(&lines_since(from), &["session cookie rejected"]);
    println!("forged cookies: {warned} warnings in {elapsed:?}");
    assert!(warned >= 1, "no rejected cookie was logged");
    assert!(
        warned <= allowed(elapsed),
        "{warned} rejection warnings in {elapsed:?} (at most {} allowed)",
        allowed(elapsed)
    );
    let reported = common::take(&events)
        .iter()
        .filter(|event| matches!(event, SessionEvent::Rejected { .. }))
        .count();
    assert_eq!(
        reported, 300,
        "every rejection reaches the layer's hook, even when not logged"
    );

    // A session presented with another user agent: also a client-triggered
    // warning, under the same kind of limit. 300 sessions are signed in with
    // one user agent, then each is presented once with another.
    let layer = SessionLayer::new(MemoryStore::new(), common::secret()).bind_user_agent(true);
    let app = Router::new()
        .route(
            "/login/{name}",
            get(|s: Session, Path(name): Path<String>| async move {
                s.login(name);
                "logged in"
            }),
        )
        .route(
            "/whoami",
            get(|s: Session| async move { format!("{:?}", s.user()) }),
        )
        .layer(layer)
        .layer(Tag::new(TAG));
    let addr = serve::serve(app).await;
    let logins = (0..300)
        .map(|n| {
            let headers = vec![("User-Agent", b"ua-0".to_vec())];
            (format!("/login/user{n}"), headers)
        })
        .collect();
    let mut cookies = Vec::new();
    for reply in send_all(addr, logins).await {
        assert_eq!(reply.status, 200, "{reply:?}");
        cookies.push(reply.cookie_pair());
    }
    let check = |cookie: &String| {
        let headers = vec![
            ("User-Agent", b"ua-0".to_vec()),
            ("Cookie", cookie.clone().into_bytes()),
        ];
        ("/whoami".to_owned(), headers)
    };
    // The sessions are alive for their own user agent.
    for reply in send_all(addr, cookies[..3].iter().map(check).collect()).await {
        assert!(reply.body.starts_with("Some(\"user"), "{reply:?}");
    }

    let replays = cookies
        .iter()
        .enumerate()
        .map(|(n, cookie)| {
            let headers = vec![
                ("User-Agent", format!("ua-{}", n + 1).into_bytes()),
                ("Cookie", cookie.clone().into_bytes()),
            ];
            ("/whoami".to_owned(), headers)
        })
        .collect();
    let from = capture::logs().text().len();
    let started = Instant::now();
    let replies = send_all(addr, replays).await;
    let elapsed = started.elapsed();
    for reply in &replies {
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(
            reply.body, "None",
            "a session was used with another user agent"
        );
    }
    let warned = count(
        &lines_since(from),
        &["another user agent", "session cookie rejected"],
    );
    println!("user agent mismatches: {warned} warnings in {elapsed:?}");
    assert!(warned >= 1, "no user agent mismatch was logged");
    assert!(
        warned <= allowed(elapsed),
        "{warned} user agent warnings in {elapsed:?} (at most {} allowed)",
        allowed(elapsed)
    );
    // Each mismatch ended its session, even for the user agent it was bound to.
    for reply in send_all(addr, cookies[..3].iter().map(check).collect()).await {
        assert_eq!(reply.body, "None", "{reply:?}");
    }

    assert_not_logged(&forged);
    assert_not_logged(&cookies);
}
