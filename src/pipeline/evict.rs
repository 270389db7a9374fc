//! The per-user cap: after a login, keep the user's newest sign-ins.

use crate::event::SessionEvent;

use super::Context;

/// After a login: with `max_sessions_per_user`, keeps the user's `max` most
/// recent sign-ins and revokes the older ones. Concurrent logins agree on
/// the order, so exactly `max` remain. A failure is logged; the login stands.
pub(crate) async fn cap_sessions(ctx: &Context, owner: Option<&str>) {
    let (Some(user), Some(max)) = (owner, ctx.config.max_sessions_per_user) else {
        return;
    };
    let Some(index) = ctx.backend.index() else {
        return;
    };
    match ctx.call(index.keep_newest(user, max)).await {
        Ok(revoked) => {
            for handle in revoked {
                ctx.events.emit(|| SessionEvent::Revoked { handle });
                tracing::info!(session = %handle, "session evicted: max_sessions_per_user reached");
            }
        }
        Err(err) => tracing::error!(error = %err, "could not enforce max_sessions_per_user"),
    }
}
