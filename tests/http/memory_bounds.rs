//! A bounded `MemoryStore` behind a real server, over real TCP connections:
//! a full store never deadlocks nor exceeds its bound, a flood of anonymous
//! visitors evicts visitors and not signed-in users, and users are evicted
//! least recently seen first.

use crate::common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::serve::{self, RawReply};
use sessionware::{Expiry, MemoryStore, Session, SessionLayer};
use sha2::Digest as _;

/// Routes to sign in, ask who is signed in, write and read a value.
fn app(store: &MemoryStore) -> Router {
    Router::new()
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
        .route(
            "/write",
            get(|s: Session| async move {
                s.insert("n", 1u64).unwrap();
                "written"
            }),
        )
        .route(
            "/login_remembered/{name}",
            get(|s: Session, Path(name): Path<String>| async move {
                s.login(name);
                s.set_expiry(Expiry::OnInactivity(Duration::from_secs(30 * 86_400)));
                "logged in for 30 days"
            }),
        )
        .route(
            "/logout",
            get(|s: Session| async move {
                s.logout();
                "logged out"
            }),
        )
        .route(
            "/read",
            get(|s: Session| async move { format!("{:?}", s.get::<u64>("n").unwrap()) }),
        )
        .layer(SessionLayer::new(store.clone(), common::secret()))
}

/// `GET path`, presenting `cookie` (a `name=value` pair) if given.
async fn get_with(addr: SocketAddr, path: &str, cookie: Option<&str>) -> RawReply {
    match cookie {
        Some(pair) => serve::get(addr, path, &[("Cookie", pair.as_bytes())]).await,
        None => serve::get(addr, path, &[]).await,
    }
}

/// Signs `name` in from a fresh client and returns its cookie pair.
async fn login(addr: SocketAddr, name: &str) -> String {
    login_at(addr, &format!("/login/{name}")).await
}

/// Signs in from a fresh client through `path` and returns the cookie pair.
async fn login_at(addr: SocketAddr, path: &str) -> String {
    let reply = get_with(addr, path, None).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.cookie_pair()
}

/// Who the session of `cookie` belongs to, as `/whoami` says.
async fn whoami(addr: SocketAddr, cookie: &str) -> String {
    let reply = get_with(addr, "/whoami", Some(cookie)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.body
}

/// `count` cookieless `GET /write`, `batch` at a time, each over its own
/// connection; every reply must be a 200 that sets a cookie.
async fn first_visits(addr: SocketAddr, count: usize, batch: usize) {
    let mut left = count;
    while left > 0 {
        let now = left.min(batch);
        left -= now;
        let tasks: Vec<_> = (0..now)
            .map(|_| tokio::spawn(serve::get(addr, "/write", &[])))
            .collect();
        for task in tasks {
            let reply = task.await.unwrap();
            assert_eq!(reply.status, 200, "{reply:?}");
            assert_eq!(reply.set_cookies.len(), 1, "{reply:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_store_never_deadlocks_under_concurrent_first_visits() {
    for bound in [1, 4, 32, 64] {
        let store = MemoryStore::new().max_sessions(bound);
        // The server runs on 4 worker threads of its own: if its store
        // deadlocks, this runtime's timeout still fires.
        let addr = serve::serve_on_own_runtime(app(&store), 4);
        let all = first_visits(addr, 256, 256);
        tokio::time::timeout(Duration::from_secs(60), all)
            .await
            .unwrap_or_else(|_| {
                panic!("max_sessions({bound}): 256 concurrent first visits hung for 60 s")
            });
        assert!(
            store.len() <= bound,
            "max_sessions({bound}) holds {} sessions",
            store.len()
        );
        assert!(!store.is_empty(), "max_sessions({bound}): nothing stored");
    }
}

#[tokio::test]
async fn anonymous_visitors_cannot_evict_signed_in_users() {
    let store = MemoryStore::new().max_sessions(100);
    let addr = serve::serve(app(&store)).await;

    // A visitor writes before anyone signs in: the oldest session of all.
    let early = get_with(addr, "/write", None).await.cookie_pair();
    assert_eq!(get_with(addr, "/read", Some(&early)).await.body, "Some(1)");

    let mut users = Vec::new();
    for n in 0..20 {
        let name = format!("user{n}");
        let cookie = login(addr, &name).await;
        users.push((name, cookie));
    }
    first_visits(addr, 1_000, 50).await;

    for (name, cookie) in &users {
        assert_eq!(
            whoami(addr, cookie).await,
            format!("Some({name:?})"),
            "{name} was evicted by anonymous visitors"
        );
    }
    assert!(store.len() <= 100, "{} sessions held", store.len());
    // The anonymous sessions are the ones that made room.
    assert_eq!(whoami(addr, &early).await, "None");
    assert_eq!(
        get_with(addr, "/read", Some(&early)).await.body,
        "None",
        "the early visitor's session survived 1,000 newer visitors"
    );
}

/// The `MemoryStore` shard a cookie's session is filed in, as the store
/// picks it: the last two bytes of its store key (the SHA-256 of the
/// cookie's random value), little-endian, modulo 512.
fn shard_of(pair: &str) -> u16 {
    let value = pair.strip_prefix("id=").unwrap();
    let random = URL_SAFE_NO_PAD.decode(&value[..43]).unwrap();
    let digest = sha2::Sha256::digest(random);
    u16::from_le_bytes([digest[30], digest[31]]) % 512
}

/// Signs in through `path`, signing out and in again until the session is
/// filed in `shard` (one chance in 512 each time; 10,000 tries all miss once
/// in about 300 million runs).
async fn login_in_shard(addr: SocketAddr, path: &str, shard: u16) -> String {
    for _ in 0..10_000 {
        let cookie = login_at(addr, path).await;
        if shard_of(&cookie) == shard {
            return cookie;
        }
        let out = get_with(addr, "/logout", Some(&cookie)).await;
        assert_eq!(out.status, 200, "{out:?}");
    }
    panic!("no session of {path} landed in shard {shard} in 10,000 logins");
}

/// With no anonymous session left, a full store evicts the least recently
/// seen user of the shard it searches (the new session's, else the first
/// that holds a user), not the longest signed in. The three users' sessions
/// are put in one shard, so whichever shard the fourth login lands in, that
/// is the shard searched. user2, the least recently seen, has the latest
/// deadline (30 days, the others 24 hours): the order is not the deadline's.
#[tokio::test]
async fn signed_in_users_are_evicted_least_recently_seen_first_when_no_visitor_is_left() {
    // `last_seen` has a resolution of one second: steps are 1.1 s apart.
    let step = Duration::from_millis(1_100);
    let store = MemoryStore::new().max_sessions(3);
    let addr = serve::serve(app(&store)).await;

    let user1 = login(addr, "user1").await;
    let shard = shard_of(&user1);
    tokio::time::sleep(step).await;
    let user2 = login_in_shard(addr, "/login_remembered/user2", shard).await;
    tokio::time::sleep(step).await;
    let user3 = login_in_shard(addr, "/login/user3", shard).await;
    assert_eq!(store.len(), 3, "the sessions signed out are gone");
    tokio::time::sleep(step).await;
    // user1 is seen again: user2 is now the least recently seen.
    let wrote = get_with(addr, "/write", Some(&user1)).await;
    assert_eq!(wrote.status, 200, "{wrote:?}");
    tokio::time::sleep(step).await;
    let user4 = login(addr, "user4").await;

    assert_eq!(store.len(), 3);
    assert_eq!(whoami(addr, &user2).await, "None", "user2 was not evicted");
    for (name, cookie) in [("user1", &user1), ("user3", &user3), ("user4", &user4)] {
        assert_eq!(
            whoami(addr, cookie).await,
            format!("Some({name:?})"),
            "{name} was evicted instead of user2"
        );
    }
    assert_eq!(get_with(addr, "/read", Some(&user1)).await.body, "Some(1)");
}
