//! `Session`: the loaded session of a request, with typed access and change
//! tracking.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::OnceCell;

use crate::client::Client;
use crate::error::{Error, ErrorKind};
use crate::expiry::Expiry;
use crate::pipeline::{Context, Origin, State};
use crate::record::{entry_len, with_json};
use crate::store::{ErasedUserIndex, SessionInfo};
use crate::token::{SessionHandle, TokenHeaders};

/// The session of the current request, loaded.
///
/// Handlers get it from the axum extractor (feature `axum`), which performs
/// the request's one store load; other tower services take the
/// [`PendingSession`](crate::PendingSession) from the request extensions and call its
/// [`load`](crate::PendingSession::load). Reading and writing are synchronous.
/// Clones share the state, so two extractors in one handler see the same
/// data, and never deadlock.
///
/// Anything that goes wrong while loading yields an empty guest session,
/// never an error. After the response, the layer saves what changed.
/// Changes made after the handler's response has been returned (for example
/// from a spawned task holding a clone) are not saved.
///
/// See the [crate documentation](crate) for a complete example.
#[derive(Clone)]
pub struct Session {
    inner: Arc<Shared>,
}

/// What a request's `PendingSession` and `Session` share: one allocation
/// per request.
pub(crate) struct Shared {
    pub(crate) ctx: Arc<Context>,
    /// The request's token headers, read by the load.
    pub(crate) cookies: TokenHeaders,
    /// What the request says about the client, kept only when the layer
    /// needs it (`login_metadata`, `bind_user_agent`).
    pub(crate) client: Option<Client>,
    /// The state, once loaded. Boxed: the state is about 500 bytes, which
    /// a load would otherwise copy into the cell through every frame that
    /// returns it, and which would make this per-request allocation large
    /// even when no handler loads the session.
    pub(crate) state: OnceCell<Box<Mutex<State>>>,
}

impl Session {
    /// The session of `shared`, whose state must be loaded: only
    /// `PendingSession` makes one, after its load.
    pub(crate) fn of_loaded(shared: Arc<Shared>) -> Self {
        debug_assert!(shared.state.initialized());
        Self { inner: shared }
    }

    pub(crate) fn context(&self) -> &Context {
        &self.inner.ctx
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        let state =
            (self.inner.state.get()).expect("a Session is only made once its state is loaded");
        state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The state to persist after the response, in the box the session
    /// keeps it in. Taken out (not copied) when this is the last handle on
    /// the session: nothing can read it again, and this one must not.
    /// Otherwise a snapshot, the changes moved to it.
    pub(crate) fn take_state_to_persist(&mut self) -> Box<Mutex<State>> {
        if let Some(shared) = Arc::get_mut(&mut self.inner)
            && let Some(state) = shared.state.take()
        {
            return state;
        }
        Box::new(Mutex::new(self.state().take_snapshot()))
    }

    /// What `login_metadata` notes about the client at login, if it is on.
    pub(crate) fn login_metadata(&self) -> Option<crate::record::SessionMetadata> {
        self.inner
            .client
            .as_ref()
            .filter(|_| self.inner.ctx.config.login_metadata)
            .map(|client| client.metadata())
    }

    /// The handle of the stored session this request loaded, if any.
    pub(crate) fn stored_handle(&self) -> Option<SessionHandle> {
        match &self.state().origin {
            Origin::Stored(stored) => Some(stored.key.handle()),
            _ => None,
        }
    }

    /// The value under `key`, deserialized as `T`; `Ok(None)` if absent.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        self.state().data.get(key)
    }

    /// Stores `value` under `key`, replacing any previous value.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Serialization`] if `value` does not serialize to JSON, and
    /// [`ErrorKind::TooLarge`] if the session's data would pass the layer's
    /// `max_data_size`; the session is then unchanged.
    pub fn insert<T: Serialize>(&self, key: &str, value: T) -> Result<(), Error> {
        // Serialized before the lock is taken: a `Serialize` impl may use
        // this session too.
        with_json(&value, |json| self.insert_json(key, json))?
    }

    fn insert_json(&self, key: &str, json: &str) -> Result<(), Error> {
        let limit = self.inner.ctx.config.max_data_size;
        let mut guard = self.state();
        let state = &mut *guard;
        let before = *state.data_len.get_or_insert_with(|| state.data.json_len());
        let position = state.data.position(key);
        let old = state
            .data
            .json_at(position)
            .map_or(0, |old| entry_len(key, old));
        let new = entry_len(key, json);
        let after = before - old.min(before) + new;
        if after > limit && new > old {
            return Err(
                Error::new(ErrorKind::TooLarge, "session data too large").with_detail(format!(
                    "inserting {key:?} would make it {after} bytes as JSON, over \
                     max_data_size of {limit}"
                )),
            );
        }
        state.data_len = Some(after);
        state.data.insert_json_at(position, key, json);
        state.changes.insert(key);
        Ok(())
    }

    /// Removes `key`; returns whether it was present.
    pub fn remove(&self, key: &str) -> bool {
        let mut guard = self.state();
        let state = &mut *guard;
        let Some(freed) = state.data.get_json(key).map(|old| entry_len(key, old)) else {
            return false;
        };
        state.data.remove(key);
        if let Some(len) = &mut state.data_len {
            *len = len.saturating_sub(freed);
        }
        state.changes.insert(key);
        true
    }

    /// Removes `key` and returns its value as `T`. If the value is not a `T`,
    /// it stays in the session and the error is returned.
    pub fn take<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        let value = self.get(key)?;
        if value.is_some() {
            self.remove(key);
        }
        Ok(value)
    }

    /// Removes every key and signs the user out: afterwards [`is_empty`]
    /// is true and [`user`] is `None`. Unless the request inserts again, the
    /// stored session is deleted after the response and its cookie cleared.
    /// To drop data but stay signed in, [`remove`] the keys one by one.
    ///
    /// [`is_empty`]: Session::is_empty
    /// [`user`]: Session::user
    /// [`remove`]: Session::remove
    pub fn clear(&self) {
        let mut guard = self.state();
        let state = &mut *guard;
        state.data.clear();
        state.data_len = None;
        state.changes.clear();
        state.cleared = true;
        state.sign_out();
    }

    /// Whether the session holds no data.
    pub fn is_empty(&self) -> bool {
        self.state().data.is_empty()
    }

    /// Moves the session to a fresh id after the response: the data is kept,
    /// the new record is created, then the old one deleted, and a new cookie
    /// is set. Call it on login and on every privilege change, against
    /// session fixation. A revocation of the user that runs meanwhile ends
    /// the session under its new id too (no cookie is then set).
    pub fn cycle_id(&self) {
        self.state().cycle = true;
    }

    /// Ends the session: the same as [`Session::destroy`].
    pub fn logout(&self) {
        self.destroy();
    }

    /// The public handle of the stored session this request loaded, as
    /// [`UserIndex`](crate::UserIndex) lists it: pass it to `revoke_others`
    /// for "log out everywhere else". `None` for a guest, a session of the
    /// cookie store. After `login` or `cycle_id` the
    /// session gets a new handle once the response is sent.
    pub fn handle(&self) -> Option<SessionHandle> {
        self.stored_handle()
    }

    /// The user the session belongs to ([`Session::login`]), if any.
    pub fn user(&self) -> Option<String> {
        self.state().owner.clone()
    }

    /// Ends the session: the record is deleted after the response and the
    /// browser told to drop the cookie. Later changes in this request are ignored.
    pub fn destroy(&self) {
        let mut guard = self.state();
        let state = &mut *guard;
        state.destroyed = true;
        state.data.clear();
        state.sign_out();
    }

    /// Overrides the layer's expiry for this session only (for example a
    /// "remember me" login); it is saved with the session.
    pub fn set_expiry(&self, expiry: Expiry) {
        let mut guard = self.state();
        let state = &mut *guard;
        state.expiry = Some(expiry);
        state.expiry_changed = true;
    }

    /// The expiry in force: this session's own, else the layer's.
    pub fn expiry(&self) -> Expiry {
        let own = self.state().expiry;
        own.unwrap_or(self.inner.ctx.config.expiry)
    }

    /// The live sessions of this session's user, most recently seen first:
    /// the rows of a "your devices" page. It reads the layer's own store, for
    /// the user this session belongs to, so a handler cannot list another
    /// user's sessions. A guest has none. Compare each
    /// [`SessionInfo::handle`] with [`Session::handle`] to mark "this device".
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] if the layer's store keeps no
    /// [`UserIndex`](crate::UserIndex) (the cookie store has none), and the
    /// store's own errors.
    pub async fn devices(&self) -> Result<Vec<SessionInfo>, Error> {
        let Some((index, user)) = self.own_index()? else {
            return Ok(Vec::new());
        };
        self.inner.ctx.call(index.sessions_of(&user)).await
    }

    /// Ends the session `handle` if it is one of this user's sessions (a
    /// "sign out that device" button); `Ok(false)` if it is not, so a
    /// handle from another user's list ends nothing. Each ended session is
    /// reported as [`SessionEvent::Revoked`](crate::SessionEvent::Revoked).
    /// Errors as for [`Session::devices`].
    pub async fn revoke_device(&self, handle: &SessionHandle) -> Result<bool, Error> {
        let Some((index, user)) = self.own_index()? else {
            return Ok(false);
        };
        let ended = self.inner.ctx.call(index.revoke_one(&user, handle)).await?;
        Ok(self.report_revoked(&ended) > 0)
    }

    /// Ends every other session of this user and keeps this one ("sign out
    /// everywhere else", after a password change); returns how many it
    /// ended, each reported as
    /// [`SessionEvent::Revoked`](crate::SessionEvent::Revoked). Errors as for
    /// [`Session::devices`].
    pub async fn revoke_other_devices(&self) -> Result<u64, Error> {
        let Some((index, user)) = self.own_index()? else {
            return Ok(0);
        };
        let ctx = &self.inner.ctx;
        let ended = match self.stored_handle() {
            Some(keep) => ctx.call(index.revoke_others_of(&user, &keep)).await?,
            None => ctx.call(index.revoke_all_of(&user)).await?,
        };
        Ok(self.report_revoked(&ended))
    }

    /// Reports each ended session to the layer's events; returns how many.
    fn report_revoked(&self, ended: &[SessionHandle]) -> u64 {
        for &handle in ended {
            self.inner
                .ctx
                .events
                .emit(|| crate::event::SessionEvent::Revoked { handle });
        }
        ended.len() as u64
    }

    /// The layer's user index and this session's user; `None` for a guest.
    fn own_index(&self) -> Result<Option<(&dyn ErasedUserIndex, String)>, Error> {
        let Some(index) = self.inner.ctx.backend.index() else {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                "listing or revoking a user's devices needs a store that keeps a UserIndex",
            )
            .with_detail("the cookie store and stores without `user_index()` have none"));
        };
        Ok(self.user().map(|user| (index, user)))
    }

    /// Whether loading failed because the store was unavailable. The session
    /// is then an empty guest that will not be saved; routes that need the
    /// real session (checkout, admin) can answer 503 instead.
    pub fn is_degraded(&self) -> bool {
        matches!(self.state().origin, Origin::Degraded)
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        let origin = match state.origin {
            Origin::Guest => "guest",
            Origin::Degraded => "degraded",
            Origin::Stored(_) => "stored",
            #[cfg(feature = "cookie-store")]
            Origin::Sealed(_) => "sealed",
        };
        f.debug_struct("Session")
            .field("origin", &origin)
            .field("keys", &state.data.len())
            .finish_non_exhaustive()
    }
}
