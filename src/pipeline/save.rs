//! Writing a session: the versioned save that merges on a conflict (with
//! backoff), the creation under a fresh id, and the move to a fresh id
//! (`cycle_id`, `login`) that a revocation can never miss.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Context;
use super::backend::DynStore;
use super::evict::cap_sessions;
use super::state::{CookieAction, Draft, State, Stored};
use crate::error::{Error, ErrorKind};
use crate::event::SessionEvent;
use crate::expiry::Expiry;
use crate::record::{Record, json_len, unix_millis};
use crate::store::SaveOutcome;
use crate::token::{SessionKey, Signed, sign};

/// The deadline an emptied session is saved with to end it: long past on
/// every clock (1 ms after the epoch: Redis refuses a 0 deadline).
fn ended() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1)
}

/// How often a save is retried after version conflicts before giving up.
const MAX_SAVE_ATTEMPTS: u32 = 16;
/// The longest pause between two attempts; pauses grow from 1 ms, with jitter,
/// so that many writers of one session stop colliding in lock-step.
const MAX_BACKOFF: Duration = Duration::from_millis(50);
/// How many fresh ids are tried if one is already taken: a colliding id is
/// redrawn, never written over another session.
const MAX_CREATE_ATTEMPTS: usize = 3;

/// Moves the session to a fresh id. The old record is re-read (to keep
/// concurrent changes); if it is already gone, the session was ended
/// elsewhere and is not revived under a new id either.
///
/// The new record is created first, owned and indexed, and only then is the
/// old one deleted: at every instant one of the two is listed under the
/// user, so a revocation running meanwhile finds one of them (it lists again
/// whenever a session it listed vanished under it). If the old record is
/// already gone when this deletes it, something ended it meanwhile (a
/// revocation, a logout on another tab): the new record is deleted as well,
/// and the response sets no cookie.
pub(crate) async fn cycle(
    ctx: &Context,
    store: &dyn DynStore,
    state: &State,
    stored: &Stored,
) -> Result<CookieAction, Error> {
    let key = &stored.key;
    let now = SystemTime::now();
    let current = ctx.load(store, key).await?;
    let Some(current) = current.filter(|record| {
        !ctx.config
            .has_ended(record.created_at, record.expires_at, now)
    }) else {
        return Ok(dropped(
            ctx,
            key,
            "the session was ended by another request",
        ));
    };
    let base_len = json_len(&current.data);
    let old_owner = current.owner.clone();
    let mut draft = Draft::merged(state, current);
    if state.login {
        // A login starts a new sign-in: a new owner, a new lifetime.
        draft.owner.clone_from(&state.owner);
        draft.metadata.clone_from(&state.metadata);
        draft.created_at = sign_in_time(now);
    }
    if draft.is_blank() {
        if !ctx.delete(store, key).await? {
            return Ok(dropped(
                ctx,
                key,
                "the session was ended by another request",
            ));
        }
        ctx.events.emit(|| SessionEvent::Destroyed {
            handle: Some(key.handle()),
        });
        unindex(ctx, old_owner.as_deref(), key).await;
        return Ok(CookieAction::Remove);
    }
    within_limit(ctx, &draft, base_len)?;
    // The same user's session stays in its line, so that revoking the line
    // reaches the new id; a session that changes hands starts a new line.
    draft.lineage = (draft.owner.is_some() && draft.owner == old_owner).then(|| stored.lineage());
    let owner = draft.owner.clone();
    let (record, effective) = first_record(ctx, draft, now);
    let (action, new_key) = create(ctx, store, record, effective, now).await?;
    match ctx.delete(store, key).await {
        Ok(true) => unindex(ctx, old_owner.as_deref(), key).await,
        ended => {
            // Ended meanwhile (or unknown): the new record must not outlive it.
            let undone = ctx.delete(store, &new_key).await;
            unindex(ctx, owner.as_deref(), &new_key).await;
            ended?;
            undone?;
            return Ok(dropped(
                ctx,
                key,
                "the session was ended while its id changed",
            ));
        }
    }
    tracing::debug!(old = %key.log_id(), "session id cycled");
    ctx.events.emit(|| SessionEvent::Cycled {
        old: Some(key.handle()),
        new: Some(new_key.handle()),
    });
    if state.login {
        cap_sessions(ctx, owner.as_deref()).await;
    }
    Ok(action)
}

/// The start of a sign-in at `now`, in whole milliseconds (what stores keep)
/// and later than every earlier sign-in of this process: the per-user cap
/// ranks sign-ins by it, so of two logins in one millisecond the second is
/// still the newer.
pub(crate) fn sign_in_time(now: SystemTime) -> SystemTime {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let mut stamp = unix_millis(now);
    let previous = LAST.fetch_max(stamp, Ordering::Relaxed);
    if previous >= stamp {
        stamp = LAST.fetch_add(1, Ordering::Relaxed) + 1;
    }
    UNIX_EPOCH + Duration::from_millis(stamp)
}

/// A versioned save; on a conflict, reload and re-apply only this request's changes.
///
/// A session the request emptied (no data, no owner left) is ended the same
/// way: saved blank with a deadline long past, which every store treats as
/// gone (Redis drops the key at once), and only if it is still the version
/// this request loaded; then its record is deleted. A delete alone would
/// erase a write another request saved meanwhile (a flash message, an item
/// in a cart); this end is a conflict instead, and the merge keeps that
/// write.
pub(crate) async fn save(
    ctx: &Context,
    store: &dyn DynStore,
    state: &mut State,
    stored: &Stored,
    now: SystemTime,
) -> Result<CookieAction, Error> {
    let key = &stored.key;
    let mut version = stored.version;
    // The loop carries the record, not the draft: what a future holds across
    // its awaits it allocates with every write.
    let (mut record, mut emptied) =
        attempt_record(ctx, Draft::taking(state, stored), now, version + 1);
    let mut owner = state.loaded_owner().map(str::to_owned);
    for attempt in 0..MAX_SAVE_ATTEMPTS {
        match ctx.save(store, key, &record, version).await? {
            SaveOutcome::Saved if emptied => {
                // Boxed, like the other rare paths below: an ordinary save's
                // future (allocated with every write) has no room for them.
                return Box::pin(end_emptied(ctx, store, key, owner.as_deref())).await;
            }
            SaveOutcome::Saved => {
                let effective = record.expiry.unwrap_or(ctx.config.expiry);
                return Ok(refreshed_cookie(
                    ctx,
                    stored,
                    effective,
                    record.expires_at,
                    now,
                    state.expiry_changed || stored.resign,
                ));
            }
            SaveOutcome::Missing if emptied => return Ok(CookieAction::Remove),
            SaveOutcome::Missing => {
                return Ok(dropped(
                    ctx,
                    key,
                    "the session was ended by another request",
                ));
            }
            SaveOutcome::Conflict => {
                // The data this attempt wrote holds this request's value of
                // every key it changed (its own, or merged onto a fresher
                // copy): the next merge reads them from there.
                state.data = std::mem::take(&mut record.data);
                Box::pin(tokio::time::sleep(backoff(attempt))).await;
            }
        }
        let Some(current) = Box::pin(ctx.load(store, key)).await? else {
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
        owner.clone_from(&current.owner);
        let draft = Draft::merged(state, current);
        if !draft.is_blank() {
            within_limit(ctx, &draft, base_len)?;
        }
        (record, emptied) = attempt_record(ctx, draft, now, version + 1);
    }
    Err(Error::new(
        ErrorKind::Conflict,
        "session changed concurrently too often",
    )
    .with_detail(format!("gave up after {MAX_SAVE_ATTEMPTS} attempts")))
}

/// The record one save attempt writes, and whether it ends an emptied
/// session (then its deadline is long past).
fn attempt_record(ctx: &Context, draft: Draft, now: SystemTime, version: u64) -> (Record, bool) {
    let emptied = draft.is_blank();
    let mut record = record_of(ctx, draft, now, version);
    if emptied {
        record.expires_at = ended();
    }
    (record, emptied)
}

/// Deletes an emptied session that a save has just ended: no request can
/// save over it any more (one that loaded it sees a guest), so the expired
/// record is deleted now rather than left for the store's cleanup.
async fn end_emptied(
    ctx: &Context,
    store: &dyn DynStore,
    key: &SessionKey,
    owner: Option<&str>,
) -> Result<CookieAction, Error> {
    ctx.delete(store, key).await?;
    tracing::debug!(session = %key.log_id(), "emptied session ended");
    ctx.events.emit(|| SessionEvent::Destroyed {
        handle: Some(key.handle()),
    });
    unindex(ctx, owner, key).await;
    Ok(CookieAction::Remove)
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
    let merged = draft.data.json_len();
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

/// The record a new session starts as, and its effective expiry.
pub(crate) fn first_record(ctx: &Context, draft: Draft, now: SystemTime) -> (Record, Expiry) {
    let effective = draft.expiry.unwrap_or(ctx.config.expiry);
    (record_of(ctx, draft, now, 1), effective)
}

/// Stores `record` (from [`first_record`]) under a fresh id, never
/// overwriting another session. It takes the record, not the draft: a
/// future holds its arguments to the end. The caller reports the creation.
pub(crate) async fn create(
    ctx: &Context,
    store: &dyn DynStore,
    record: Record,
    effective: Expiry,
    now: SystemTime,
) -> Result<(CookieAction, SessionKey), Error> {
    for _ in 0..MAX_CREATE_ATTEMPTS {
        let value = (ctx.new_value)()?;
        let key = SessionKey::digest_of(&value);
        if ctx.create(store, &key, &record).await? {
            tracing::debug!(session = %key.log_id(), "session created");
            let signed = sign(ctx.keyring.signing(), &ctx.config.cookie_name, &value);
            let cookie = ctx
                .config
                .session_cookie_parts(signed, effective, record.expires_at, now);
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

pub(crate) fn record_of(ctx: &Context, draft: Draft, now: SystemTime, version: u64) -> Record {
    let effective = draft.expiry.unwrap_or(ctx.config.expiry);
    let deadline = ctx.config.deadline(effective, draft.created_at, now);
    let mut record = Record::new(draft.data, draft.created_at, deadline);
    record.version = version;
    record.expiry = draft.expiry;
    record.owner = draft.owner;
    record.metadata = draft.metadata;
    record.user_agent_digest = draft.agent;
    record.lineage = draft.lineage;
    draft.auth.put(&mut record);
    record.last_seen = now;
    record
}

/// After a save: persistent cookies get their `Max-Age` pushed back; a
/// browser-session cookie is re-sent only if `resend` (its expiry changed, or
/// a retired key signed it).
pub(crate) fn refreshed_cookie(
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
pub(crate) fn resigned(
    ctx: &Context,
    stored: &Stored,
    expiry: Expiry,
    expires_at: SystemTime,
    now: SystemTime,
) -> CookieAction {
    let signed = match stored.tag {
        // The presented cookie, which the current key signed: the same text.
        Some(tag) if !stored.resign => Signed {
            value: stored.value.clone(),
            tag,
        }
        .text(),
        _ => sign(
            ctx.keyring.signing(),
            &ctx.config.cookie_name,
            &stored.value,
        ),
    };
    CookieAction::Set(
        ctx.config
            .session_cookie_parts(signed, expiry, expires_at, now),
    )
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
