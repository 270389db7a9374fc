//! The one load of a request: find and verify the token, read the record,
//! and turn what was found into the session's state. Whatever is off (no
//! token, a refused one, an unknown, expired or foreign-bound session, a
//! store failure) gives a guest, never an error.

use std::time::SystemTime;

use http::HeaderValue;

use super::Context;
use super::backend::{Backend, DynStore};
use super::save::unindex;
#[cfg(feature = "cookie-store")]
use super::state::Sealed;
use super::state::{Auth, Origin, State, Stored};
use crate::error::Error;
use crate::event::{RejectionReason, SessionEvent};
use crate::record::Record;
use crate::token::{self, SessionKey, Signed, Verified};

/// Loads the session of a request presenting `headers` (its token headers)
/// into `state`, a guest's until then (filled in place: the state is a few
/// hundred bytes, and moving it out of this future and into its box cost
/// two copies per request).
pub(crate) async fn load(ctx: &Context, headers: &[HeaderValue], state: &mut State) {
    let name = &ctx.config.cookie_name;
    match &ctx.backend {
        Backend::Server(store) => {
            let presented = token::find(&ctx.keyring, &ctx.config.transport, name, headers);
            if let Some(verified) = ctx.accept(presented) {
                load_stored(ctx, store.as_ref(), verified, state).await;
            }
        }
        #[cfg(feature = "cookie-store")]
        Backend::Sealed(sealer) => {
            let opened = super::sealed::open_presented(ctx, sealer, headers)
                .filter(|opened| !agent_mismatch(ctx, state.request_agent, &opened.value));
            if let Some(Verified { value, retired }) = opened {
                match check_credential(ctx, &value).await {
                    Credential::Current => {}
                    Credential::Changed => {
                        tracing::info!(
                            "sealed session signed in under changed credentials; refused and cleared"
                        );
                        ctx.events
                            .emit(|| SessionEvent::CredentialChanged { handle: None });
                        state.ended = true;
                        return;
                    }
                    Credential::Unknown(err) => {
                        tracing::warn!(error = %err, "credential check failed; serving a degraded guest session");
                        state.origin = Origin::Degraded;
                        return;
                    }
                }
                let origin = Origin::Sealed(Sealed {
                    created_at: value.created_at,
                    expires_at: value.expires_at,
                    reseal: retired,
                });
                adopt(state, origin, value);
            }
        }
    }
}

async fn load_stored(
    ctx: &Context,
    store: &dyn DynStore,
    verified: Verified<Signed>,
    state: &mut State,
) {
    let Verified {
        value: Signed { value, tag },
        retired,
    } = verified;
    let key = SessionKey::digest_of(&value);
    let record = match ctx.load(store, &key).await {
        Err(err) => {
            tracing::warn!(session = %key.log_id(), error = %err, "session load failed; serving a degraded guest session");
            state.origin = Origin::Degraded;
            ctx.events.emit(|| SessionEvent::LoadFailed {
                handle: key.handle(),
            });
            return;
        }
        Ok(None) => {
            tracing::debug!(session = %key.log_id(), "unknown session; serving a guest session");
            ctx.events.emit_rejected(RejectionReason::Unknown);
            return;
        }
        Ok(Some(record)) => record,
    };
    if ctx
        .config
        .has_ended(record.created_at, record.expires_at, SystemTime::now())
    {
        tracing::debug!(session = %key.log_id(), "expired session; serving a guest session");
        ctx.events.emit(|| SessionEvent::Expired {
            handle: Some(key.handle()),
        });
        return;
    }
    if agent_mismatch(ctx, state.request_agent, &record) {
        match ctx.delete(store, &key).await {
            Ok(_) => ctx.events.emit(|| SessionEvent::Destroyed {
                handle: Some(key.handle()),
            }),
            Err(err) => {
                tracing::error!(session = %key.log_id(), error = %err, "could not delete a session bound to another user agent");
            }
        }
        return;
    }
    match check_credential(ctx, &record).await {
        Credential::Current => {}
        Credential::Changed => {
            tracing::info!(session = %key.log_id(), "session signed in under changed credentials; it is ended");
            match ctx.delete(store, &key).await {
                Ok(_) => {
                    ctx.events.emit(|| SessionEvent::CredentialChanged {
                        handle: Some(key.handle()),
                    });
                    unindex(ctx, record.owner.as_deref(), &key).await;
                }
                Err(err) => {
                    tracing::error!(session = %key.log_id(), error = %err, "could not delete a session whose credentials changed");
                }
            }
            state.ended = true;
            return;
        }
        Credential::Unknown(err) => {
            tracing::warn!(session = %key.log_id(), error = %err, "credential check failed; serving a degraded guest session");
            state.origin = Origin::Degraded;
            ctx.events.emit(|| SessionEvent::LoadFailed {
                handle: key.handle(),
            });
            return;
        }
    }
    ctx.events.emit_routine(|| SessionEvent::Loaded {
        handle: Some(key.handle()),
    });
    let origin = Origin::Stored(Stored {
        value,
        key,
        version: record.version,
        created_at: record.created_at,
        expires_at: record.expires_at,
        resign: retired,
        tag: (!retired).then_some(tag),
        lineage: record.lineage,
    });
    adopt(state, origin, record);
}

/// What the layer's credential check says of a loaded session.
enum Credential {
    /// Signed in under the user's current credentials, or nothing to check.
    Current,
    /// Signed in under credentials that have changed since: end it.
    Changed,
    /// The check failed: nobody can tell.
    Unknown(Error),
}

/// Asks the layer's credential check (if any) about a session signed in
/// with a credential fingerprint; a session without one is not checked.
async fn check_credential(ctx: &Context, record: &Record) -> Credential {
    let (Some(checker), Some(owner), Some(digest)) = (
        &ctx.credential,
        record.owner.as_deref(),
        record.credential_digest.as_ref(),
    ) else {
        return Credential::Current;
    };
    match ctx.call(checker.still_valid(owner, digest)).await {
        Ok(true) => Credential::Current,
        Ok(false) => Credential::Changed,
        Err(err) => Credential::Unknown(err),
    }
}

/// The loaded record becomes the session's state.
fn adopt(state: &mut State, origin: Origin, mut record: Record) {
    state.origin = origin;
    state.auth = Auth::of(&mut record);
    state.data = record.data;
    state.expiry = record.expiry;
    state.owner = record.owner;
    state.metadata = record.metadata;
    state.agent = record.user_agent_digest;
}

/// Whether `record` is bound to another user agent than the request's (only
/// with `bind_user_agent`): then the session ends.
fn agent_mismatch(ctx: &Context, request_agent: Option<u64>, record: &Record) -> bool {
    let mismatch = matches!(
        (request_agent, record.user_agent_digest),
        (Some(ours), Some(bound)) if ours != bound
    );
    if mismatch && let Some(suppressed) = ctx.rejections.allow() {
        tracing::warn!(
            suppressed,
            "session presented with another user agent; it is ended (bind_user_agent)"
        );
    }
    mismatch
}
