//! The per-request state behind a `Session`: where the data came from, and
//! what the request changed.

use std::time::SystemTime;

use super::changes::ChangedKeys;
use crate::config::SessionCookie;
use crate::expiry::Expiry;
use crate::record::{Record, SessionData, SessionMetadata};
use crate::token::{RandomValue, SessionHandle, SessionKey};

/// What to tell the client after the response.
#[derive(Debug)]
pub(crate) enum CookieAction {
    /// Nothing: no `Set-Cookie`.
    Keep,
    /// Set (or refresh) the session cookie.
    Set(SessionCookie),
    /// Tell the browser to drop the cookie.
    Remove,
}

/// Where the session's data came from.
#[derive(Debug, Clone)]
pub(crate) enum Origin {
    /// No usable session was presented: a fresh, empty session.
    Guest,
    /// The store failed while loading: an empty session that is never saved,
    /// so the user's real session is untouched once the store recovers.
    Degraded,
    /// Loaded from the store.
    Stored(Stored),
    /// Opened from a cookie sealed by the cookie store.
    #[cfg(feature = "cookie-store")]
    Sealed(Sealed),
}

#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub(crate) value: RandomValue,
    pub(crate) key: SessionKey,
    pub(crate) version: u64,
    pub(crate) created_at: SystemTime,
    pub(crate) expires_at: SystemTime,
    /// A retired key signed the cookie: re-issue it under the current one.
    pub(crate) resign: bool,
    /// The tag the current key gave the presented cookie (`None` when a
    /// retired key signed it): a re-sent cookie reuses it instead of
    /// computing the HMAC again.
    pub(crate) tag: Option<[u8; 32]>,
    /// The record's lineage as loaded (see `Record::lineage`).
    pub(crate) lineage: Option<SessionHandle>,
}

impl Stored {
    /// The line this session belongs to: the handle of its first session.
    pub(crate) fn lineage(&self) -> SessionHandle {
        self.lineage.unwrap_or_else(|| self.key.handle())
    }
}

/// What a sealed cookie said besides the data.
#[cfg(feature = "cookie-store")]
#[derive(Debug, Clone)]
pub(crate) struct Sealed {
    pub(crate) created_at: SystemTime,
    pub(crate) expires_at: SystemTime,
    /// A retired key sealed the cookie: re-seal it under the current one.
    pub(crate) reseal: bool,
}

/// How and when the session's user signed in (see `Record::authenticated_at`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Auth {
    pub(crate) at: Option<SystemTime>,
    pub(crate) method: Option<String>,
    /// The digest of the credential fingerprint given at login.
    pub(crate) credential: Option<[u8; 32]>,
}

impl Auth {
    pub(crate) fn of(record: &mut Record) -> Self {
        Self {
            at: record.authenticated_at,
            method: record.authentication_method.take(),
            credential: record.credential_digest,
        }
    }

    /// Writes these into `record`.
    pub(crate) fn put(self, record: &mut Record) {
        record.authenticated_at = self.at;
        record.authentication_method = self.method;
        record.credential_digest = self.credential;
    }
}

/// The loaded data plus what this request changed.
#[derive(Debug, Clone)]
pub(crate) struct State {
    pub(crate) origin: Origin,
    pub(crate) data: SessionData,
    /// Keys this request wrote or removed, to re-apply on a conflict: each
    /// one's value now is in `data` (or, removed, is absent from it).
    pub(crate) changes: ChangedKeys,
    pub(crate) cleared: bool,
    pub(crate) cycle: bool,
    pub(crate) destroyed: bool,
    /// A per-session expiry, from the record or `set_expiry`.
    pub(crate) expiry: Option<Expiry>,
    pub(crate) expiry_changed: bool,
    /// The data's size as JSON, once an insert needed it.
    pub(crate) data_len: Option<usize>,
    /// The user the session belongs to, as loaded or set by `login`.
    pub(crate) owner: Option<String>,
    /// The loaded owner, once `destroy`, `clear` or a login as someone else
    /// took the session from them: whose index entry the write removes.
    pub(crate) former_owner: Option<String>,
    /// `login` was called: the session moves to a fresh id, owned by `owner`,
    /// and its lifetime starts afresh.
    pub(crate) login: bool,
    /// What was noted about the client at login.
    pub(crate) metadata: Option<SessionMetadata>,
    /// The user agent the loaded session is bound to.
    pub(crate) agent: Option<u64>,
    /// This request's user agent, with `bind_user_agent`: what every write
    /// binds the session to.
    pub(crate) request_agent: Option<u64>,
    /// How and when the user signed in, as loaded or set by `login`.
    pub(crate) auth: Auth,
    /// `reauthenticate` was called: `auth` is new, and wins over the stored one.
    pub(crate) reauth: bool,
    /// The presented session was ended while loading (its credentials
    /// changed): the response clears the cookie unless it sets a new one.
    pub(crate) ended: bool,
}

impl State {
    /// A fresh, empty guest session of a request whose user-agent digest
    /// is `request_agent` (when sessions are bound to it).
    pub(crate) fn guest(request_agent: Option<u64>) -> Self {
        Self {
            origin: Origin::Guest,
            data: SessionData::new(),
            changes: ChangedKeys::default(),
            cleared: false,
            cycle: false,
            destroyed: false,
            expiry: None,
            expiry_changed: false,
            data_len: None,
            owner: None,
            former_owner: None,
            login: false,
            metadata: None,
            agent: None,
            request_agent,
            auth: Auth::default(),
            reauth: false,
            ended: false,
        }
    }

    /// The cookie of a session that writes nothing: cleared if the session
    /// was ended while loading, else left alone.
    pub(crate) fn unsaved_cookie(&self) -> CookieAction {
        if self.ended {
            CookieAction::Remove
        } else {
            CookieAction::Keep
        }
    }

    /// Nothing worth keeping: no data and no owner.
    pub(crate) fn is_blank(&self) -> bool {
        self.data.is_empty() && self.owner.is_none()
    }

    /// What the after-response step persists: a copy whose change log is
    /// moved out of `self` rather than copied (one allocation per changed
    /// key, and only a conflict's merge reads it). The request's response is
    /// out, so nothing persists `self` again.
    pub(crate) fn take_snapshot(&mut self) -> State {
        let changes = std::mem::take(&mut self.changes);
        let mut snapshot = self.clone();
        snapshot.changes = changes;
        snapshot
    }

    /// The stored origin, split off (the origin left is `Guest`); `None`,
    /// and nothing changed, for any other origin.
    pub(crate) fn take_stored(&mut self) -> Option<Stored> {
        match std::mem::replace(&mut self.origin, Origin::Guest) {
            Origin::Stored(stored) => Some(stored),
            other => {
                self.origin = other;
                None
            }
        }
    }

    /// Whether this request asked for anything to be written.
    pub(crate) fn is_dirty(&self) -> bool {
        !self.changes.is_empty()
            || self.cleared
            || self.cycle
            || self.destroyed
            || self.expiry_changed
    }

    /// Signs the session out: no owner any more, and the loaded one is
    /// remembered so that its index entry goes with the write.
    pub(crate) fn sign_out(&mut self) {
        if let Some(owner) = self.owner.take() {
            self.former_owner.get_or_insert(owner);
        }
        self.auth = Auth::default();
    }

    /// The owner whose index lists the loaded session.
    pub(crate) fn loaded_owner(&self) -> Option<&str> {
        self.former_owner.as_deref().or(self.owner.as_deref())
    }

    /// Applies this request's changes on top of `base` (a fresher copy).
    pub(crate) fn merge_onto(&self, mut base: SessionData) -> SessionData {
        if self.cleared {
            base.clear();
        }
        for key in self.changes.iter() {
            match self.data.get_json(key) {
                Some(json) => base.insert_json(key, json),
                None => {
                    base.remove(key);
                }
            }
        }
        base
    }
}

/// What the next version of a record holds, before its deadline is set.
pub(crate) struct Draft {
    pub(crate) data: SessionData,
    pub(crate) expiry: Option<Expiry>,
    pub(crate) created_at: SystemTime,
    pub(crate) owner: Option<String>,
    pub(crate) metadata: Option<SessionMetadata>,
    pub(crate) agent: Option<u64>,
    pub(crate) lineage: Option<SessionHandle>,
    pub(crate) auth: Auth,
}

impl Draft {
    /// The session as this request left it, its data moved out of `state`
    /// (a save that must merge puts it back first).
    pub(crate) fn taking(state: &mut State, stored: &Stored) -> Self {
        Self {
            data: std::mem::take(&mut state.data),
            expiry: state.expiry,
            created_at: stored.created_at,
            owner: state.owner.clone(),
            metadata: state.metadata.clone(),
            agent: state.request_agent.or(state.agent),
            lineage: stored.lineage,
            auth: state.auth.clone(),
        }
    }

    /// This request's changes on top of a fresher copy of the record.
    pub(crate) fn merged(state: &State, mut current: Record) -> Self {
        // A sign-out, login or re-authentication of this request wins.
        let auth = if state.cleared || state.login || state.reauth {
            state.auth.clone()
        } else {
            Auth::of(&mut current)
        };
        Self {
            data: state.merge_onto(current.data),
            expiry: if state.expiry_changed {
                state.expiry
            } else {
                current.expiry
            },
            created_at: current.created_at,
            // A cleared session is signed out, whatever the stored copy says.
            owner: if state.cleared {
                state.owner.clone()
            } else {
                current.owner
            },
            metadata: current.metadata,
            agent: state.request_agent.or(current.user_agent_digest),
            lineage: current.lineage,
            auth,
        }
    }

    pub(crate) fn is_blank(&self) -> bool {
        self.data.is_empty() && self.owner.is_none()
    }
}
