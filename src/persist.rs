//! The after-response step: decide what to write, write it conditionally, pick the cookie.

use std::time::{Duration, SystemTime};

use cookie::Cookie;

use crate::config::Expiry;
use crate::error::{Error, ErrorKind};
use crate::event::SessionEvent;
use crate::layer::Context;
use crate::record::{Record, json_len};
use crate::session::{Origin, Session, State, Stored};
use crate::state::Draft;
use crate::store::{Backend, DynStore, SaveOutcome};
use crate::token::{SessionKey, sign};

/// How often a save is retried after version conflicts before giving up.
const MAX_SAVE_ATTEMPTS: u32 = 16;
/// The longest pause between two attempts; pauses grow from 1 ms, with jitter,
/// so that many writers of one session stop colliding in lock-step.
const MAX_BACKOFF: Duration = Duration::from_millis(50);
/// How many fresh ids are tried if one is already taken: a colliding id is
/// redrawn, never written over another session.
const MAX_CREATE_ATTEMPTS: usize = 3;

/// What to tell the browser.
#[derive(Debug)]
pub(crate) enum CookieAction {
    /// Nothing: no `Set-Cookie`.
    Keep,
    /// Set (or refresh) the session cookie.
    Set(Cookie<'static>),
    /// Tell the browser to drop the cookie.
    Remove,
}

/// Persists what the request changed. `Err` means the change was not saved
/// and the response must not claim success.
pub(crate) async fn persist(session: &Session) -> Result<CookieAction, Error> {
    let ctx = session.context();
    let state = {
        let state = session.state();
        if nothing_to_write(ctx, &state) {
            return Ok(CookieAction::Keep);
        }
        // A snapshot: the lock is not held across store calls.
        state.clone()
    };
    let store = match &ctx.backend {
        Backend::Server(store) => store.as_ref(),
        #[cfg(feature = "cookie-store")]
        Backend::Sealed(sealer) => return crate::store::cookie::persist(ctx, sealer, state),
    };
    match &state.origin {
        Origin::Unloaded => Ok(CookieAction::Keep),
        Origin::Degraded => {
            if state.is_dirty() {
                tracing::warn!(
                    "session changes dropped: the store was unavailable when the request began"
                );
            }
            Ok(CookieAction::Keep)
        }
        Origin::Guest if state.destroyed || state.is_blank() => Ok(CookieAction::Keep),
        Origin::Guest => {
            let now = SystemTime::now();
            let owner = state.owner.clone();
            let draft = Draft {
                data: state.data,
                expiry: state.expiry,
                created_at: if state.login {
                    crate::cycle::sign_in_time(now)
                } else {
                    now
                },
                owner: state.owner,
                metadata: state.metadata,
                agent: state.request_agent,
                lineage: None,
            };
            let (action, _) = create(ctx, store, draft, now).await?;
            crate::user_index::cap_sessions(ctx, owner.as_deref()).await;
            Ok(action)
        }
        Origin::Stored(stored) => persist_stored(ctx, store, &state, stored).await,
        #[cfg(feature = "cookie-store")]
        Origin::Sealed(_) => Ok(CookieAction::Keep),
    }
}

/// Whether the request leaves nothing to write: decided under the lock,
/// without copying the data, for the common read-only requests.
pub(crate) fn nothing_to_write(ctx: &Context, state: &State) -> bool {
    match &state.origin {
        Origin::Unloaded => true,
        Origin::Degraded => !state.is_dirty(),
        Origin::Guest => state.destroyed || state.is_blank(),
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
    state: &State,
    stored: &Stored,
) -> Result<CookieAction, Error> {
    let key = &stored.key;
    if state.destroyed || (state.is_dirty() && !state.cycle && state.is_blank()) {
        ctx.call(store.delete(key)).await?;
        tracing::debug!(session = %key.log_id(), "session destroyed");
        ctx.events.emit(|| SessionEvent::Destroyed {
            handle: Some(key.handle()),
        });
        unindex(ctx, state.loaded_owner(), key).await;
        return Ok(CookieAction::Remove);
    }
    if state.cycle {
        return crate::cycle::cycle(ctx, store, state, stored).await;
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
    let record = record_of(ctx, Draft::of(state, stored), now, stored.version + 1);
    match ctx.call(store.save(key, &record, stored.version)).await? {
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

/// A versioned save; on a conflict, reload and re-apply only this request's changes.
async fn save(
    ctx: &Context,
    store: &dyn DynStore,
    state: &State,
    stored: &Stored,
    now: SystemTime,
) -> Result<CookieAction, Error> {
    let key = &stored.key;
    let mut draft = Draft::of(state, stored);
    let mut version = stored.version;
    for attempt in 0..MAX_SAVE_ATTEMPTS {
        let expiry = draft.expiry;
        let record = record_of(ctx, draft, now, version + 1);
        match ctx.call(store.save(key, &record, version)).await? {
            SaveOutcome::Saved => {
                let effective = expiry.unwrap_or(ctx.config.expiry);
                return Ok(refreshed_cookie(
                    ctx,
                    stored,
                    effective,
                    record.expires_at,
                    now,
                    state.expiry_changed || stored.resign,
                ));
            }
            SaveOutcome::Missing => {
                return Ok(dropped(
                    ctx,
                    key,
                    "the session was ended by another request",
                ));
            }
            SaveOutcome::Conflict => tokio::time::sleep(backoff(attempt)).await,
        }
        let Some(current) = ctx.call(store.load(key)).await? else {
            return Ok(dropped(
                ctx,
                key,
                "the session was ended by another request",
            ));
        };
        if ctx
            .config
            .has_ended(current.created_at, current.expires_at, now)
        {
            return Ok(dropped(ctx, key, "the session expired meanwhile"));
        }
        version = current.version;
        let base_len = json_len(&current.data);
        let owner = current.owner.clone();
        draft = Draft::merged(state, current);
        if draft.is_blank() {
            ctx.call(store.delete(key)).await?;
            ctx.events.emit(|| SessionEvent::Destroyed {
                handle: Some(key.handle()),
            });
            unindex(ctx, owner.as_deref(), key).await;
            return Ok(CookieAction::Remove);
        }
        within_limit(ctx, &draft, base_len)?;
    }
    Err(Error::new(
        ErrorKind::Conflict,
        "session changed concurrently too often",
    )
    .with_detail(format!("gave up after {MAX_SAVE_ATTEMPTS} attempts")))
}

/// Removes `key` from `owner`'s index entries after its record was deleted,
/// so an index holds only live sessions. A failure is logged: the entry is
/// then pruned the next time the user's sessions are read.
pub(crate) async fn unindex(ctx: &Context, owner: Option<&str>, key: &SessionKey) {
    let (Some(owner), Some(index)) = (owner, ctx.backend.index()) else {
        return;
    };
    if let Err(err) = ctx
        .call(index.forget_keys(owner, std::slice::from_ref(key)))
        .await
    {
        tracing::warn!(session = %key.log_id(), error = %err, "could not remove a deleted session from its user's index");
    }
}

/// Refuses a merged draft whose data passes `max_data_size` and is larger
/// than the stored copy it was merged onto (`base_len` bytes): concurrent
/// requests that each stayed under the limit must not add up past it.
pub(crate) fn within_limit(ctx: &Context, draft: &Draft, base_len: usize) -> Result<(), Error> {
    let limit = ctx.config.max_data_size;
    let merged = json_len(&draft.data);
    if merged > limit && merged > base_len {
        return Err(
            Error::new(ErrorKind::TooLarge, "session data too large").with_detail(format!(
                "merging this request's changes would make it {merged} bytes as JSON, over \
                 max_data_size of {limit}; nothing was written"
            )),
        );
    }
    Ok(())
}

/// Stores the draft under a fresh id, never overwriting another session,
/// and reports it as [`SessionEvent::Created`].
async fn create(
    ctx: &Context,
    store: &dyn DynStore,
    draft: Draft,
    now: SystemTime,
) -> Result<(CookieAction, SessionKey), Error> {
    let created = create_quietly(ctx, store, draft, now).await?;
    ctx.events.emit(|| SessionEvent::Created {
        handle: Some(created.1.handle()),
    });
    Ok(created)
}

/// [`create`] without the event (a cycle reports its own).
pub(crate) async fn create_quietly(
    ctx: &Context,
    store: &dyn DynStore,
    draft: Draft,
    now: SystemTime,
) -> Result<(CookieAction, SessionKey), Error> {
    let effective = draft.expiry.unwrap_or(ctx.config.expiry);
    let record = record_of(ctx, draft, now, 1);
    for _ in 0..MAX_CREATE_ATTEMPTS {
        let value = (ctx.new_value)()?;
        let key = SessionKey::digest_of(&value);
        if ctx.call(store.create(&key, &record)).await? {
            tracing::debug!(session = %key.log_id(), "session created");
            let signed = sign(ctx.keyring.signing(), &ctx.config.cookie_name, &value);
            let cookie = ctx
                .config
                .session_cookie(signed, effective, record.expires_at, now);
            return Ok((CookieAction::Set(cookie), key));
        }
        tracing::warn!(session = %key.log_id(), "new session id already taken; drawing another");
    }
    Err(
        Error::new(ErrorKind::Store, "no free session id found").with_detail(format!(
            "{MAX_CREATE_ATTEMPTS} fresh ids were all taken; is the random generator broken?"
        )),
    )
}

fn record_of(ctx: &Context, draft: Draft, now: SystemTime, version: u64) -> Record {
    let effective = draft.expiry.unwrap_or(ctx.config.expiry);
    let deadline = ctx.config.deadline(effective, draft.created_at, now);
    let mut record = Record::new(draft.data, draft.created_at, deadline);
    record.version = version;
    record.expiry = draft.expiry;
    record.owner = draft.owner;
    record.metadata = draft.metadata;
    record.user_agent_digest = draft.agent;
    record.lineage = draft.lineage;
    record.last_seen = now;
    record
}

/// After a save: persistent cookies get their `Max-Age` pushed back; a
/// browser-session cookie is re-sent only if `resend` (its expiry changed, or
/// a retired key signed it).
fn refreshed_cookie(
    ctx: &Context,
    stored: &Stored,
    expiry: Expiry,
    expires_at: SystemTime,
    now: SystemTime,
    resend: bool,
) -> CookieAction {
    let persistent = matches!(expiry, Expiry::OnInactivity(_));
    if !(persistent || resend) {
        return CookieAction::Keep;
    }
    resigned(ctx, stored, expiry, expires_at, now)
}

/// The session's cookie, signed with the current key.
fn resigned(
    ctx: &Context,
    stored: &Stored,
    expiry: Expiry,
    expires_at: SystemTime,
    now: SystemTime,
) -> CookieAction {
    let signed = sign(
        ctx.keyring.signing(),
        &ctx.config.cookie_name,
        &stored.value,
    );
    CookieAction::Set(ctx.config.session_cookie(signed, expiry, expires_at, now))
}

/// A random pause in `[0, min(2^attempt ms, MAX_BACKOFF))`.
fn backoff(attempt: u32) -> Duration {
    let ceiling = Duration::from_millis(1u64 << attempt.min(16)).min(MAX_BACKOFF);
    ceiling.mul_f64(rand::random::<f64>())
}

/// The changes of a session that was ended meanwhile are dropped; the warning
/// is rate-limited (a client can race its own requests).
pub(crate) fn dropped(ctx: &Context, key: &SessionKey, why: &'static str) -> CookieAction {
    if let Some(suppressed) = ctx.rejections.allow() {
        tracing::warn!(session = %key.log_id(), why, suppressed, "session changes dropped; the session is not revived");
    }
    CookieAction::Keep
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
    use crate::token::RandomValue;
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
        let mut data = serde_json::Map::new();
        data.insert("owner".into(), "victim".into());
        let record = crate::Record::new(data, now, now + std::time::Duration::from_secs(600));
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
        assert_eq!(record.data["owner"], "victim");
        assert_eq!(record.version, 1);
    }

    fn app(store: MemoryStore, source: fn() -> Result<RandomValue, Error>) -> Router {
        let layer = SessionLayer::new(store, crate::token::test_secret(1)).new_value(source);
        Router::new().route("/", get(write)).layer(layer)
    }

    /// The generator repeats a live token once; another is drawn,
    /// and the other user's record is never overwritten.
    #[tokio::test]
    async fn case_35_a_colliding_token_is_redrawn_never_overwritten() {
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
    async fn case_35_a_stuck_generator_is_an_error_not_an_overwrite() {
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
