//! `SessionEvent`: what happened to a session, for audit logs and metrics.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use crate::error::Error;
use crate::store::{SessionStore, UserIndex, revoke_all_but, revoke_every, revoke_line};
use crate::token::{Rejection, SessionHandle};

/// Something that happened to a session (OWASP: log the life cycle;
/// ASVS 16.3). The layer hands each one to the hook set with
/// [`SessionLayer::on_event`](crate::SessionLayer::on_event) and records it as
/// a `tracing` event with target `sessionware::event`.
///
/// Events name a session by its public [`SessionHandle`], never by its cookie
/// or store key. Sessions of the cookie store have no handle (`None`).
///
/// ```
/// use sessionware::{MemoryStore, SessionEvent, SessionLayer};
///
/// let secret: [u8; 64] = rand::random(); // in production: from your secret store
/// let layer = SessionLayer::new(MemoryStore::new(), secret)
///     .on_event(|event: &SessionEvent| {
///         if let SessionEvent::Rejected { reason } = event {
///             eprintln!("refused a session cookie: {reason:?}");
///         }
///     });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SessionEvent {
    /// A new session was stored: a guest's first write, or a login.
    Created {
        /// The new session.
        handle: Option<SessionHandle>,
    },
    /// A request loaded a live session.
    Loaded {
        /// The session.
        handle: Option<SessionHandle>,
    },
    /// The session moved to a fresh id (`cycle_id` or `login`); the old id is dead.
    Cycled {
        /// The id that was given up.
        old: Option<SessionHandle>,
        /// The new id.
        new: Option<SessionHandle>,
    },
    /// A cookie under a retired secret was re-issued under the current one.
    Resigned {
        /// The session, whose id is unchanged.
        handle: Option<SessionHandle>,
    },
    /// The session was ended by a request (`destroy`, `logout`, or emptied).
    Destroyed {
        /// The session.
        handle: Option<SessionHandle>,
    },
    /// A session of a user was revoked: by `max_sessions_per_user`, by the
    /// session helpers (`revoke_device`, `revoke_other_devices`), or through
    /// [`SessionEvents`] (an admin tool, a password reset).
    Revoked {
        /// The session.
        handle: SessionHandle,
    },
    /// A presented session was signed in under credentials that changed
    /// since (`SessionLayer::credential_check`): it was ended, and the
    /// request went on as a guest.
    CredentialChanged {
        /// The session.
        handle: Option<SessionHandle>,
    },
    /// A presented session had passed its deadline or its `max_lifetime`.
    Expired {
        /// The session.
        handle: Option<SessionHandle>,
    },
    /// A presented cookie was refused; the request went on as a guest.
    Rejected {
        /// Why.
        reason: RejectionReason,
    },
    /// The store failed while loading; the request got a degraded guest.
    LoadFailed {
        /// The session that could not be loaded.
        handle: SessionHandle,
    },
    /// The store failed while saving; the response became a 500.
    SaveFailed {
        /// The session, if it was stored already.
        handle: Option<SessionHandle>,
    },
    /// A clean-up ([`SessionEvents::delete_expired`], or a
    /// [`CleanupTask`](crate::CleanupTask) given the events) removed expired
    /// records from the store.
    Purged {
        /// How many records it removed.
        count: u64,
    },
}

/// Why a presented cookie was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RejectionReason {
    /// Not in the cookie format: wrong length, not base64url, truncated.
    Malformed,
    /// Well formed, but its tag does not verify under any key in the keyring
    /// (forged, tampered, or signed with a removed secret).
    BadTag,
    /// Genuine, but no session is stored under it (revoked, expired and
    /// purged, or from another store).
    Unknown,
    /// Several different genuine cookies of our name (cookie tossing).
    Ambiguous,
}

impl RejectionReason {
    /// The reason a token check gave, as events report it.
    pub(crate) fn of(rejection: Rejection) -> Self {
        match rejection {
            Rejection::Malformed => Self::Malformed,
            Rejection::BadTag => Self::BadTag,
        }
    }
}

impl SessionEvent {
    /// A short name for logs and metrics: `created`, `loaded`, `cycled`,
    /// `resigned`, `destroyed`, `revoked`, `credential_changed`, `expired`,
    /// `rejected`, `load_failed`, `save_failed`, `purged`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Created { .. } => "created",
            Self::Loaded { .. } => "loaded",
            Self::Cycled { .. } => "cycled",
            Self::Resigned { .. } => "resigned",
            Self::Destroyed { .. } => "destroyed",
            Self::Revoked { .. } => "revoked",
            Self::CredentialChanged { .. } => "credential_changed",
            Self::Expired { .. } => "expired",
            Self::Rejected { .. } => "rejected",
            Self::LoadFailed { .. } => "load_failed",
            Self::SaveFailed { .. } => "save_failed",
            Self::Purged { .. } => "purged",
        }
    }

    /// The session the event is about (the new one for [`SessionEvent::Cycled`]).
    pub fn handle(&self) -> Option<SessionHandle> {
        match self {
            Self::Created { handle }
            | Self::Loaded { handle }
            | Self::Resigned { handle }
            | Self::Destroyed { handle }
            | Self::CredentialChanged { handle }
            | Self::Expired { handle }
            | Self::SaveFailed { handle } => *handle,
            Self::Cycled { new, .. } => *new,
            Self::Revoked { handle } | Self::LoadFailed { handle } => Some(*handle),
            Self::Rejected { .. } | Self::Purged { .. } => None,
        }
    }
}

/// A hook set with `SessionLayer::on_event`.
type Hook = Arc<dyn Fn(&SessionEvent) + Send + Sync>;

/// The layer's event hook, if any.
#[derive(Clone, Default)]
pub(crate) struct Events {
    hook: Option<Hook>,
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events")
            .field("hook", &self.hook.is_some())
            .finish()
    }
}

impl Events {
    pub(crate) fn with_hook(hook: impl Fn(&SessionEvent) + Send + Sync + 'static) -> Self {
        Self {
            hook: Some(Arc::new(hook)),
        }
    }

    /// Hands a life-cycle event to the hook and logs it at `INFO` (`WARN`
    /// for failures). The event is only built if someone listens.
    pub(crate) fn emit(&self, event: impl FnOnce() -> SessionEvent) {
        let traced = tracing::enabled!(target: "sessionware::event", tracing::Level::INFO);
        self.dispatch(traced, event);
    }

    /// [`Events::emit`] for the event of every request ([`SessionEvent::Loaded`]),
    /// logged at `DEBUG` only.
    pub(crate) fn emit_routine(&self, event: impl FnOnce() -> SessionEvent) {
        let traced = tracing::enabled!(target: "sessionware::event", tracing::Level::DEBUG);
        self.dispatch(traced, event);
    }

    /// A refused cookie goes to the hook only: its log line is the
    /// rate-limited warning, so a flood of bad cookies is not a log flood.
    pub(crate) fn emit_rejected(&self, reason: RejectionReason) {
        if let Some(hook) = &self.hook {
            hook(&SessionEvent::Rejected { reason });
        }
    }

    fn dispatch(&self, traced: bool, event: impl FnOnce() -> SessionEvent) {
        if self.hook.is_none() && !traced {
            return;
        }
        let event = event();
        if traced {
            let handle = event.handle().map(|h| h.to_string());
            let session = handle.as_deref().unwrap_or("-");
            let name = event.name();
            match &event {
                SessionEvent::LoadFailed { .. } | SessionEvent::SaveFailed { .. } => {
                    tracing::warn!(target: "sessionware::event", event = name, session);
                }
                SessionEvent::Loaded { .. } => {
                    tracing::debug!(target: "sessionware::event", event = name, session);
                }
                _ => tracing::info!(target: "sessionware::event", event = name, session),
            }
        }
        if let Some(hook) = &self.hook {
            hook(&event);
        }
    }
}

/// A layer's events hook, for work done outside requests: revoking a user's
/// sessions from an admin tool or a password reset, and cleaning up expired
/// records. What it does is reported like the request path's events: to the
/// [`on_event`](crate::SessionLayer::on_event) hook and as `tracing` events.
/// Get it from [`SessionLayer::events`](crate::SessionLayer::events).
///
/// ```
/// use sessionware::{MemoryStore, SessionEvent, SessionLayer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sessionware::Error> {
/// let store = MemoryStore::new();
/// let secret: [u8; 64] = rand::random();
/// let layer = SessionLayer::new(store.clone(), &secret)
///     .on_event(|event: &SessionEvent| eprintln!("{}", event.name()));
/// let events = layer.events();
/// // A password reset: every session of the user ends, each reported.
/// let ended = events.revoke_all(&store, "ferris").await?;
/// assert_eq!(ended, 0);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Default)]
pub struct SessionEvents {
    events: Events,
}

impl fmt::Debug for SessionEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionEvents")
            .field("hook", &self.events.hook.is_some())
            .finish()
    }
}

impl SessionEvents {
    pub(crate) fn new(events: Events) -> Self {
        Self { events }
    }

    fn revoked(&self, ended: Vec<SessionHandle>) -> u64 {
        for &handle in &ended {
            self.events.emit(|| SessionEvent::Revoked { handle });
        }
        ended.len() as u64
    }

    /// [`UserIndex::revoke`] on `store`, reporting each ended session as
    /// [`SessionEvent::Revoked`].
    pub async fn revoke<S: UserIndex>(
        &self,
        store: &S,
        user: &str,
        handle: &SessionHandle,
    ) -> Result<bool, Error> {
        Ok(self.revoked(revoke_line(store, user, handle).await?) > 0)
    }

    /// [`UserIndex::revoke_all`] on `store`, reporting each ended session as
    /// [`SessionEvent::Revoked`]. It lists the sessions to name them, so a
    /// store's one-statement `revoke_all` is not used.
    pub async fn revoke_all<S: UserIndex>(&self, store: &S, user: &str) -> Result<u64, Error> {
        Ok(self.revoked(revoke_every(store, user).await?))
    }

    /// [`UserIndex::revoke_others`] on `store`, reporting each ended session
    /// as [`SessionEvent::Revoked`].
    pub async fn revoke_others<S: UserIndex>(
        &self,
        store: &S,
        user: &str,
        keep: &SessionHandle,
    ) -> Result<u64, Error> {
        Ok(self.revoked(revoke_all_but(store, user, keep).await?))
    }

    /// [`SessionStore::delete_expired`] on `store`, reporting what it removed
    /// as [`SessionEvent::Purged`] (nothing when it removed nothing).
    pub async fn delete_expired<S: SessionStore>(&self, store: &S) -> Result<u64, Error> {
        let count = store.delete_expired().await?;
        if count > 0 {
            self.events.emit(|| SessionEvent::Purged { count });
        }
        Ok(count)
    }
}
