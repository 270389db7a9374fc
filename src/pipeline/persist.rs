//! The after-response step: decide what to write, write it conditionally, pick the cookie.

use std::time::SystemTime;

use super::Context;
use super::backend::{Backend, DynStore};
use super::evict::cap_sessions;
use super::save::{
    create, cycle, first_record, record_of, refreshed_cookie, resigned, save, sign_in_time, unindex,
};
use super::state::{CookieAction, Draft, Origin, State, Stored};
use crate::error::Error;
use crate::event::SessionEvent;
use crate::store::SaveOutcome;

/// Persists what the request changed, from a snapshot of the session's
/// state taken after the handler (the lock is not held across store calls).
/// The caller has already found [`nothing_to_write`] false under the lock,
/// so it is not asked again here. `Err` means the change was not saved and
/// the response must not claim success.
pub(crate) async fn persist(ctx: &Context, state: &mut State) -> Result<CookieAction, Error> {
    let store = match &ctx.backend {
        Backend::Server(store) => store.as_ref(),
        #[cfg(feature = "cookie-store")]
        Backend::Sealed(sealer) => {
            let state = std::mem::replace(state, State::guest(state.request_agent));
            return super::sealed::persist(ctx, sealer, state);
        }
    };
    // Split off, so that the save can move the data into the record
    // instead of copying it.
    if let Some(stored) = state.take_stored() {
        return persist_stored(ctx, store, state, &stored).await;
    }
    match &state.origin {
        Origin::Degraded => {
            if state.is_dirty() {
                tracing::warn!(
                    "session changes dropped: the store was unavailable when the request began"
                );
            }
            Ok(CookieAction::Keep)
        }
        Origin::Guest if state.destroyed || state.is_blank() => Ok(state.unsaved_cookie()),
        Origin::Guest => {
            let now = SystemTime::now();
            let owner = state.owner.clone();
            // Built in a block that ends before the await, so that the
            // future keeps no room for the draft and the record besides the
            // create's own.
            let (action, key) = {
                let draft = Draft {
                    data: std::mem::take(&mut state.data),
                    expiry: state.expiry,
                    created_at: if state.login { sign_in_time(now) } else { now },
                    owner: state.owner.take(),
                    metadata: state.metadata.take(),
                    agent: state.request_agent,
                    lineage: None,
                    auth: std::mem::take(&mut state.auth),
                };
                let (record, effective) = first_record(ctx, draft, now);
                create(ctx, store, record, effective, now)
            }
            .await?;
            ctx.events.emit(|| SessionEvent::Created {
                handle: Some(key.handle()),
            });
            cap_sessions(ctx, owner.as_deref()).await;
            Ok(action)
        }
        Origin::Stored(_) => unreachable!("split off above"),
        #[cfg(feature = "cookie-store")]
        Origin::Sealed(_) => Ok(CookieAction::Keep),
    }
}

/// Whether the request leaves nothing to write: decided under the lock,
/// without copying the data, for the common read-only requests.
pub(crate) fn nothing_to_write(ctx: &Context, state: &State) -> bool {
    match &state.origin {
        Origin::Degraded => !state.is_dirty(),
        Origin::Guest => (state.destroyed || state.is_blank()) && !state.ended,
        Origin::Stored(stored) => {
            !stored.resign && unchanged_until(ctx, state, stored.created_at, stored.expires_at)
        }
        #[cfg(feature = "cookie-store")]
        Origin::Sealed(sealed) => {
            !sealed.reseal && unchanged_until(ctx, state, sealed.created_at, sealed.expires_at)
        }
    }
}

/// Nothing changed, and the deadline `expires_at` needs no refresh yet.
fn unchanged_until(
    ctx: &Context,
    state: &State,
    created_at: SystemTime,
    expires_at: SystemTime,
) -> bool {
    let expiry = state.expiry.unwrap_or(ctx.config.expiry);
    !state.is_dirty()
        && !ctx
            .config
            .needs_refresh(expiry, created_at, expires_at, SystemTime::now())
}

async fn persist_stored(
    ctx: &Context,
    store: &dyn DynStore,
    state: &mut State,
    stored: &Stored,
) -> Result<CookieAction, Error> {
    let key = &stored.key;
    // `destroy` and `logout` win over any concurrent write: the record goes
    // whatever its version. An emptied session is ended by `save`, and only
    // as the version this request loaded.
    if state.destroyed {
        ctx.delete(store, key).await?;
        tracing::debug!(session = %key.log_id(), "session destroyed");
        ctx.events.emit(|| SessionEvent::Destroyed {
            handle: Some(key.handle()),
        });
        unindex(ctx, state.loaded_owner(), key).await;
        return Ok(CookieAction::Remove);
    }
    if state.cycle {
        // Boxed: the id change is rare and its future the largest, so the
        // common save does not carry (and allocate) room for it.
        return Box::pin(cycle(ctx, store, state, stored)).await;
    }
    let now = SystemTime::now();
    let expiry = state.expiry.unwrap_or(ctx.config.expiry);
    if state.is_dirty() {
        return save(ctx, store, state, stored, now).await;
    }
    if !ctx
        .config
        .needs_refresh(expiry, stored.created_at, stored.expires_at, now)
    {
        return Ok(if stored.resign {
            // Same value, same store key: only the tag is new (secret rotation).
            ctx.events.emit(|| SessionEvent::Resigned {
                handle: Some(key.handle()),
            });
            resigned(ctx, stored, expiry, stored.expires_at, now)
        } else {
            CookieAction::Keep
        });
    }
    // A read-only request pushes the idle deadline back. It is a conditional
    // write of the data as loaded: if anyone saved or deleted meanwhile, their
    // write stands and this refresh is skipped (a late refresh never revives a
    // logged-out session: see *Concurrent requests* in docs/threat-model.md).
    let record = record_of(ctx, Draft::taking(state, stored), now, stored.version + 1);
    match ctx.save(store, key, &record, stored.version).await? {
        SaveOutcome::Saved => Ok(refreshed_cookie(
            ctx,
            stored,
            expiry,
            record.expires_at,
            now,
            stored.resign,
        )),
        outcome => {
            tracing::debug!(session = %key.log_id(), ?outcome, "deadline refresh skipped");
            Ok(CookieAction::Keep)
        }
    }
}

// Requests through a `Router` to the `Session` extractor, on a `MemoryStore`.
#[cfg(all(test, feature = "axum", feature = "memory-store"))]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use http::{Request, StatusCode};
    use tower::ServiceExt as _;

    use super::*;
    use crate::token::{RandomValue, SessionKey};
    use crate::{MemoryStore, Session, SessionLayer, SessionStore};

    const TAKEN: [u8; 32] = [0x42; 32];

    async fn write(session: Session) -> &'static str {
        session.insert("owner", "newcomer").unwrap();
        "ok"
    }

    /// A store already holding the victim's session under the digest of `TAKEN`.
    async fn store_with_victim() -> MemoryStore {
        let store = MemoryStore::new();
        let now = std::time::SystemTime::now();
        let mut data = crate::store::SessionData::new();
        data.insert("owner", &"victim").unwrap();
        let record =
            crate::store::Record::new(data, now, now + std::time::Duration::from_secs(600));
        let key = SessionKey::digest_of(&RandomValue::from_bytes(TAKEN));
        assert!(SessionStore::create(&store, &key, &record).await.unwrap());
        store
    }

    async fn victim_intact(store: &MemoryStore) {
        let key = SessionKey::digest_of(&RandomValue::from_bytes(TAKEN));
        let record = SessionStore::load(store, &key)
            .await
            .unwrap()
            .expect("victim's record survives");
        assert_eq!(
            record.data.get::<String>("owner").unwrap().as_deref(),
            Some("victim")
        );
        assert_eq!(record.version, 1);
    }

    fn app(store: MemoryStore, source: fn() -> Result<RandomValue, Error>) -> Router {
        let layer = SessionLayer::new(store, crate::token::test_secret(1)).new_value(source);
        Router::new().route("/", get(write)).layer(layer)
    }

    /// The generator repeats a live token once; another is drawn,
    /// and the other user's record is never overwritten.
    #[tokio::test]
    async fn a_colliding_token_is_redrawn_never_overwritten() {
        static CALLS: AtomicUsize = AtomicUsize::new(0);
        fn once_taken() -> Result<RandomValue, Error> {
            if CALLS.fetch_add(1, Ordering::SeqCst) == 0 {
                Ok(RandomValue::from_bytes(TAKEN))
            } else {
                RandomValue::generate()
            }
        }
        let store = store_with_victim().await;
        let response = app(store.clone(), once_taken)
            .oneshot(Request::new(Body::empty()))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().contains_key("set-cookie"));
        assert_eq!(CALLS.load(Ordering::SeqCst), 2);
        assert_eq!(store.len(), 2);
        victim_intact(&store).await;
    }

    /// A generator that only repeats the live token yields a 500, not an overwrite.
    #[tokio::test]
    async fn a_stuck_generator_is_an_error_not_an_overwrite() {
        fn always_taken() -> Result<RandomValue, Error> {
            Ok(RandomValue::from_bytes(TAKEN))
        }
        let store = store_with_victim().await;
        let response = app(store.clone(), always_taken)
            .oneshot(Request::new(Body::empty()))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!response.headers().contains_key("set-cookie"));
        assert_eq!(store.len(), 1);
        victim_intact(&store).await;
    }
}
