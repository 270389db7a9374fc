//! The cookie store's branch of the pipeline: the session's record sealed
//! into the cookie, opened on load and sealed again after the response.

use std::time::SystemTime;

use http::HeaderValue;

use super::Context;
use super::state::{CookieAction, Origin, State};
use crate::error::Error;
use crate::event::SessionEvent;
use crate::record::Record;
use crate::token::{self, Rejection, Sealer, Verified};

/// Opens one sealed cookie value into a record. Anything but an authentic,
/// readable record is a rejection.
fn open(sealer: &Sealer, cookie_name: &str, text: &[u8]) -> Result<Verified<Record>, Rejection> {
    let Verified { value, retired } = sealer.open(cookie_name, text)?;
    // Authentic but unreadable: a record format this version does not know.
    let record = Record::decode(&value).map_err(|_| Rejection::Malformed)?;
    Ok(Verified {
        value: record,
        retired,
    })
}

/// The record sealed in the request's cookies: exactly one genuine cookie
/// of our name whose sealed deadline has not passed, else `None` (a guest).
pub(crate) fn open_presented(
    ctx: &Context,
    sealer: &Sealer,
    headers: &[HeaderValue],
) -> Option<Verified<Record>> {
    let name = &ctx.config.cookie_name;
    let transport = &ctx.config.transport;
    let presented = token::find_with(transport, name, headers, |value| open(sealer, name, value));
    let opened = ctx.accept(presented)?;
    let record = &opened.value;
    if ctx
        .config
        .has_ended(record.created_at, record.expires_at, SystemTime::now())
    {
        ctx.events.emit(|| SessionEvent::Expired { handle: None });
        return None;
    }
    ctx.events
        .emit_routine(|| SessionEvent::Loaded { handle: None });
    Some(opened)
}

/// The after-response step of a cookie-store session: a freshly sealed
/// cookie, a removal, or nothing. No I/O, so nothing can fail but the size.
pub(crate) fn persist(ctx: &Context, sealer: &Sealer, state: State) -> Result<CookieAction, Error> {
    let now = SystemTime::now();
    let (created_at, sealed_deadline, reseal) = match &state.origin {
        Origin::Sealed(sealed) => (sealed.created_at, Some(sealed.expires_at), sealed.reseal),
        Origin::Guest => (now, None, false),
        Origin::Degraded | Origin::Stored(_) => return Ok(CookieAction::Keep),
    };
    let created_at = if state.login { now } else { created_at };
    if state.destroyed || state.is_blank() {
        let had_cookie = sealed_deadline.is_some() && state.is_dirty();
        if !had_cookie {
            return Ok(state.unsaved_cookie());
        }
        ctx.events.emit(|| SessionEvent::Destroyed { handle: None });
        return Ok(CookieAction::Remove);
    }
    let expiry = state.expiry.unwrap_or(ctx.config.expiry);
    let mut deadline = ctx.config.deadline(expiry, created_at, now);
    if let Some(sealed_deadline) = sealed_deadline
        && !state.is_dirty()
        && !ctx
            .config
            .needs_refresh(expiry, created_at, sealed_deadline, now)
    {
        if !reseal {
            return Ok(CookieAction::Keep);
        }
        // Re-sealed under the current key only: the deadline stays.
        deadline = sealed_deadline;
    }
    let event = match sealed_deadline {
        None => Some(SessionEvent::Created { handle: None }),
        Some(_) if state.cycle => Some(SessionEvent::Cycled {
            old: None,
            new: None,
        }),
        Some(_) if reseal && !state.is_dirty() => Some(SessionEvent::Resigned { handle: None }),
        Some(_) => None,
    };
    let mut record = Record::new(state.data, created_at, deadline);
    record.expiry = state.expiry;
    record.owner = state.owner;
    record.metadata = state.metadata;
    record.user_agent_digest = state.request_agent.or(state.agent);
    state.auth.put(&mut record);
    record.last_seen = now;
    let value = sealer.seal(&ctx.config.cookie_name, &record.encode())?;
    if let Some(event) = event {
        ctx.events.emit(|| event);
    }
    Ok(CookieAction::Set(ctx.config.session_cookie_parts(
        value,
        expiry,
        record.expires_at,
        now,
    )))
}
