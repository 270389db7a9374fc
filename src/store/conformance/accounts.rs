//! The checks of a [`UserIndex`]: listing and revoking a user's sessions at
//! the store, and login, logout, revocation and the per-user cap through real
//! requests.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;

use super::app::{App, secret, send};
use super::{MINUTE, random_key, record};
use crate::layer::SessionLayer;
use crate::store::{Record, SessionStore, UserIndex};

/// A user name no other test uses, for backends shared between tests.
fn user(name: &str) -> String {
    format!("{name}-{:08x}", rand::random::<u32>())
}

fn owned(owner: Option<&str>, lives: Duration) -> Record {
    let mut record = record(json!({"k": 1}), lives);
    record.owner = owner.map(str::to_owned);
    record
}

/// `UserIndex::sessions` lists a user's live sessions only, most recently
/// seen first: not another user's, not an anonymous one, not an expired one,
/// and a deleted session drops out of the list.
pub async fn index_lists_a_users_live_sessions_only<S: UserIndex>(store: S) {
    let (alice, bob) = (user("alice"), user("bob"));
    let mine = [random_key(), random_key()];
    let mut first = owned(Some(&alice), MINUTE);
    first.last_seen -= Duration::from_secs(5);
    store.create(&mine[0], &first).await.unwrap();
    store
        .create(&mine[1], &owned(Some(&alice), MINUTE))
        .await
        .unwrap();
    store
        .create(&random_key(), &owned(Some(&bob), MINUTE))
        .await
        .unwrap();
    store
        .create(&random_key(), &owned(None, MINUTE))
        .await
        .unwrap();
    let expired = random_key();
    let mut stale = owned(Some(&alice), MINUTE);
    stale.expires_at = stale.created_at - Duration::from_secs(1);
    store.create(&expired, &stale).await.unwrap();

    let listed = store.sessions(&alice).await.unwrap();
    let handles: Vec<_> = listed.iter().map(|info| info.handle).collect();
    assert_eq!(
        handles,
        [mine[1].handle(), mine[0].handle()],
        "most recently seen first"
    );
    assert!(listed.iter().all(|info| info.expires_at > info.created_at));

    store.delete(&mine[1]).await.unwrap();
    let listed = store.sessions(&alice).await.unwrap();
    assert_eq!(listed.len(), 1, "deleted sessions drop out of the list");
    assert_eq!(listed[0].handle, mine[0].handle());
    assert_eq!(store.sessions(&bob).await.unwrap().len(), 1);
    assert!(store.sessions(&user("nobody")).await.unwrap().is_empty());
}

/// `UserIndex::revoke` deletes a session only for its own user, and reports
/// whether it deleted one.
pub async fn revoke_never_reaches_another_users_session<S: UserIndex>(store: S) {
    let (alice, bob) = (user("alice"), user("bob"));
    let key = random_key();
    store
        .create(&key, &owned(Some(&alice), MINUTE))
        .await
        .unwrap();
    assert!(!store.revoke(&bob, &key.handle()).await.unwrap());
    assert!(store.load(&key).await.unwrap().is_some());
    assert!(store.revoke(&alice, &key.handle()).await.unwrap());
    assert!(store.load(&key).await.unwrap().is_none());
    assert!(!store.revoke(&alice, &key.handle()).await.unwrap());
}

/// `UserIndex::revoke_others` and `revoke_all` delete exactly the user's
/// sessions they name and return how many, leaving other users' untouched.
pub async fn revoke_all_and_revoke_others_count_exactly<S: UserIndex>(store: S) {
    let (alice, bob) = (user("alice"), user("bob"));
    let keys: Vec<_> = (0..4).map(|_| random_key()).collect();
    for key in &keys {
        store
            .create(key, &owned(Some(&alice), MINUTE))
            .await
            .unwrap();
    }
    let bobs = random_key();
    store
        .create(&bobs, &owned(Some(&bob), MINUTE))
        .await
        .unwrap();
    assert_eq!(
        store
            .revoke_others(&alice, &keys[0].handle())
            .await
            .unwrap(),
        3
    );
    let left = store.sessions(&alice).await.unwrap();
    assert_eq!(
        left.iter().map(|i| i.handle).collect::<Vec<_>>(),
        [keys[0].handle()]
    );
    assert_eq!(store.revoke_all(&alice).await.unwrap(), 1);
    assert!(store.sessions(&alice).await.unwrap().is_empty());
    assert!(
        store.load(&bobs).await.unwrap().is_some(),
        "bob's session untouched"
    );
}

/// The layered application on `store`, with `max_sessions_per_user(cap)`
/// if given.
fn app<S: SessionStore>(store: &Arc<S>, cap: Option<usize>) -> App {
    let mut layer = SessionLayer::new(Arc::clone(store), secret());
    if let Some(cap) = cap {
        layer = layer.max_sessions_per_user(cap);
    }
    super::app::app(&layer)
}

/// A planted guest cookie does not survive login; the session now names its
/// user and is listed under them.
pub async fn login_cycles_and_binds<S: UserIndex>(store: S) {
    let store = Arc::new(store);
    let app = app(&store, None);
    let name = user("carol");
    let planted = send(&app, "/put/cart", None).await.cookie_pair();
    let login = send(&app, &format!("/login/{name}"), Some(&planted)).await;
    let cookie = login.cookie_pair();
    assert_ne!(cookie, planted);
    assert_eq!(send(&app, "/whoami", Some(&planted)).await.body, "None");
    assert_eq!(
        send(&app, "/whoami", Some(&cookie)).await.body,
        format!("Some({name:?})")
    );
    assert_eq!(
        send(&app, "/secret", Some(&cookie)).await.body,
        "Some(\"cart\")",
        "guest data kept"
    );
    let listed = store.sessions(&name).await.unwrap();
    assert_eq!(listed.len(), 1);
    let shown = format!("{listed:?}");
    let random = cookie.trim_start_matches("id=").split('.').next().unwrap();
    assert!(!shown.contains(random), "a listing never shows the cookie");
    // Logout ends it, and the list with it.
    let out = send(&app, "/logout", Some(&cookie)).await;
    assert!(out.set_cookie().unwrap().contains("Max-Age=0"));
    assert_eq!(send(&app, "/whoami", Some(&cookie)).await.body, "None");
    assert!(store.sessions(&name).await.unwrap().is_empty());
}

/// Logging in as B on A's session clears A's data.
pub async fn an_identity_switch_clears_the_previous_users_data<S: UserIndex>(store: S) {
    let store = Arc::new(store);
    let app = app(&store, None);
    let (a, b) = (user("alice"), user("bob"));
    let as_a = send(&app, &format!("/login/{a}"), None).await.cookie_pair();
    send(&app, "/put/alices-secret", Some(&as_a)).await;
    let as_b = send(&app, &format!("/login/{b}"), Some(&as_a))
        .await
        .cookie_pair();
    assert_eq!(
        send(&app, "/whoami", Some(&as_b)).await.body,
        format!("Some({b:?})")
    );
    assert_eq!(send(&app, "/secret", Some(&as_b)).await.body, "None");
    assert!(store.sessions(&a).await.unwrap().is_empty());
    assert_eq!(store.sessions(&b).await.unwrap().len(), 1);
}

/// After `revoke_all`, each of the user's cookies is a guest on its next
/// request, on another instance sharing the store too.
pub async fn revoked_sessions_are_guests_on_every_instance<S: UserIndex>(store: S) {
    let store = Arc::new(store);
    let (one, two) = (app(&store, None), app(&store, None));
    let name = user("dave");
    let other = user("erin");
    let mut cookies = Vec::new();
    for _ in 0..3 {
        cookies.push(
            send(&one, &format!("/login/{name}"), None)
                .await
                .cookie_pair(),
        );
    }
    let erins = send(&one, &format!("/login/{other}"), None)
        .await
        .cookie_pair();
    for cookie in &cookies {
        assert_eq!(
            send(&two, "/whoami", Some(cookie)).await.body,
            format!("Some({name:?})")
        );
    }
    assert_eq!(store.revoke_all(&name).await.unwrap(), 3);
    for cookie in &cookies {
        assert_eq!(send(&two, "/whoami", Some(cookie)).await.body, "None");
        assert_eq!(send(&one, "/whoami", Some(cookie)).await.body, "None");
    }
    assert_eq!(
        send(&two, "/whoami", Some(&erins)).await.body,
        format!("Some({other:?})")
    );
}

/// With a cap of 2, a third login signs out the user's oldest sign-in,
/// even one used a moment ago; the others, and the new one, stay.
pub async fn a_login_past_the_cap_signs_out_the_oldest_sign_in<S: UserIndex>(store: S) {
    let store = Arc::new(store);
    let app = app(&store, Some(2));
    let name = user("frank");
    let login = format!("/login/{name}");
    let first = send(&app, &login, None).await.cookie_pair();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second = send(&app, &login, None).await.cookie_pair();
    tokio::time::sleep(Duration::from_millis(20)).await;
    send(&app, "/put/recent", Some(&first)).await; // used last, yet signed in first
    tokio::time::sleep(Duration::from_millis(20)).await;
    let third = send(&app, &login, None).await.cookie_pair();
    let me = format!("Some({name:?})");
    assert_eq!(
        send(&app, "/whoami", Some(&first)).await.body,
        "None",
        "the oldest sign-in is signed out"
    );
    assert_eq!(send(&app, "/whoami", Some(&second)).await.body, me);
    assert_eq!(send(&app, "/whoami", Some(&third)).await.body, me);
    assert_eq!(store.sessions(&name).await.unwrap().len(), 2);
}

/// A revocation that returns is final: a client changing its session's id
/// back to back (each request with the newest cookie) while the user is
/// revoked ends up a guest under every id it was ever given.
pub async fn a_revocation_is_final_while_the_session_changes_id_back_to_back<S: UserIndex>(
    store: S,
) {
    let store = Arc::new(store);
    let app = app(&store, None);
    for round in 0..20 {
        let name = user("gina");
        let first = send(&app, &format!("/login/{name}"), None)
            .await
            .cookie_pair();
        let stop = Arc::new(AtomicBool::new(false));
        let cycler = tokio::spawn({
            let (app, stop, first) = (app.clone(), Arc::clone(&stop), first.clone());
            async move {
                let mut seen = vec![first];
                while !stop.load(Ordering::SeqCst) {
                    let reply = send(&app, "/cycle", seen.last().map(String::as_str)).await;
                    if reply.status != http::StatusCode::OK || reply.set_cookie().is_none() {
                        break; // ended: a guest changes nothing
                    }
                    seen.push(reply.cookie_pair());
                }
                seen
            }
        });
        tokio::time::sleep(Duration::from_millis(u64::from(rand::random::<u8>() % 8))).await;
        let revoked = store.revoke_all(&name).await.unwrap();
        stop.store(true, Ordering::SeqCst);
        let seen = cycler.await.unwrap();
        assert!(revoked >= 1, "round {round}: revoke_all found nothing");
        for cookie in &seen {
            assert_eq!(
                send(&app, "/whoami", Some(cookie)).await.body,
                "None",
                "round {round}: a session escaped revoke_all by changing its id ({} ids)",
                seen.len()
            );
        }
        assert!(store.sessions(&name).await.unwrap().is_empty());
    }
}

/// Simultaneous logins of one user under `max_sessions_per_user(n)` agree on
/// who stays: exactly `n` sessions remain, never fewer.
pub async fn concurrent_logins_past_the_cap_leave_exactly_the_cap<S: UserIndex>(store: S) {
    let store = Arc::new(store);
    for (cap, logins) in [(1, 2), (1, 2), (1, 5), (2, 6), (3, 8)] {
        let app = app(&store, Some(cap));
        let name = user("hana");
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..logins {
            let (app, path) = (app.clone(), format!("/login/{name}"));
            tasks.spawn(async move { send(&app, &path, None).await.cookie_pair() });
        }
        let cookies = tasks.join_all().await;
        let me = format!("Some({name:?})");
        let mut signed_in = 0;
        for cookie in &cookies {
            signed_in += usize::from(send(&app, "/whoami", Some(cookie)).await.body == me);
        }
        assert_eq!(signed_in, cap, "{logins} logins under a cap of {cap}");
        assert_eq!(store.sessions(&name).await.unwrap().len(), cap);
    }
}

/// Logout, `clear`, and moving to a fresh id remove the old index entry with
/// the record: the index never holds more than the user's live sessions.
pub async fn the_index_holds_only_live_sessions_after_logouts_and_id_changes<S: UserIndex>(
    store: S,
) {
    let store = Arc::new(store);
    let app = app(&store, None);
    let name = user("ivan");
    let login = format!("/login/{name}");
    for _ in 0..20 {
        let cookie = send(&app, &login, None).await.cookie_pair();
        let cycled = send(&app, "/cycle", Some(&cookie)).await.cookie_pair();
        send(&app, "/logout", Some(&cycled)).await;
    }
    assert!(store.keys_of(&name).await.unwrap().is_empty());
    let mut cookie = send(&app, &login, None).await.cookie_pair();
    for _ in 0..10 {
        cookie = send(&app, "/cycle", Some(&cookie)).await.cookie_pair();
    }
    cookie = send(&app, &login, Some(&cookie)).await.cookie_pair();
    assert_eq!(store.keys_of(&name).await.unwrap().len(), 1);
    let cleared = send(&app, "/clear", Some(&cookie)).await;
    assert!(cleared.set_cookie().unwrap().contains("Max-Age=0"));
    assert!(store.keys_of(&name).await.unwrap().is_empty());
}

/// Revocation deletes every session of the user, including one this
/// instance's clock (or the database's) already judges expired: another
/// node whose clock is behind may still accept it.
pub async fn revocation_deletes_sessions_whatever_their_deadline<S: UserIndex>(store: S) {
    let name = user("judy");
    let live = random_key();
    store
        .create(&live, &owned(Some(&name), MINUTE))
        .await
        .unwrap();
    let [ending, single] = [random_key(), random_key()];
    for key in [&ending, &single] {
        let mut record = owned(Some(&name), MINUTE);
        record.expires_at = record.created_at + Duration::from_millis(300);
        store.create(key, &record).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    // A store with its own expiry (Redis) may have dropped them already.
    if store.load(&single).await.unwrap().is_some() {
        assert!(store.revoke(&name, &single.handle()).await.unwrap());
    }
    let present = store.load(&ending).await.unwrap().is_some();
    assert_eq!(
        store.revoke_all(&name).await.unwrap(),
        1 + u64::from(present)
    );
    for key in [&live, &ending, &single] {
        assert!(store.load(key).await.unwrap().is_none());
    }
}
