//! Moving a session to a fresh id (`cycle_id`, `login`) without ever
//! letting a revocation miss it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::Error;
use crate::event::SessionEvent;
use crate::layer::Context;
use crate::persist::{CookieAction, create_quietly, dropped, unindex, within_limit};
use crate::record::{json_len, unix_millis};
use crate::state::{Draft, State, Stored};
use crate::store::DynStore;

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
    let current = ctx.call(store.load(key)).await?;
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
        if !ctx.call(store.delete(key)).await? {
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
    let (action, new_key) = create_quietly(ctx, store, draft, now).await?;
    match ctx.call(store.delete(key)).await {
        Ok(true) => unindex(ctx, old_owner.as_deref(), key).await,
        ended => {
            // Ended meanwhile (or unknown): the new record must not outlive it.
            let undone = ctx.call(store.delete(&new_key)).await;
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
        crate::user_index::cap_sessions(ctx, owner.as_deref()).await;
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
