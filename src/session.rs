//! `Session`: the per-request handle; one lazy load, typed access, change tracking.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::OnceCell;

use crate::client::Client;
use crate::config::Expiry;
use crate::error::{Error, ErrorKind};
use crate::layer::Context;
use crate::record::{entry_len, json_len};
pub(crate) use crate::state::{Origin, State, Stored};
use crate::token::TokenHeaders;

/// The session of the current request.
///
/// Handlers get it from the axum extractor (feature `axum`), which performs
/// the request's one store load; other tower services take it from the
/// request extensions and call [`Session::load`]. Reading and writing are
/// synchronous on the loaded state. Clones share that state, so two
/// extractors in one handler see the same data, and never deadlock.
///
/// Anything that goes wrong while loading (no cookie, a forged or malformed
/// one, an unknown or expired record, a store failure) yields an empty guest
/// session, never an error. After the response, the layer saves what changed.
/// Changes made after the handler's response has been returned (for example
/// from a spawned task holding a clone) are not saved.
///
/// See the [crate documentation](crate) for a complete example.
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

struct Inner {
    ctx: Arc<Context>,
    cookies: TokenHeaders,
    /// What the request says about the client, kept only with `login_metadata`.
    client: Option<Client>,
    loaded: OnceCell<()>,
    state: Mutex<State>,
}

impl Session {
    pub(crate) fn new(ctx: Arc<Context>, cookies: TokenHeaders, client: Option<Client>) -> Self {
        Self {
            inner: Arc::new(Inner {
                ctx,
                cookies,
                client,
                loaded: OnceCell::new(),
                state: Mutex::new(State::unloaded()),
            }),
        }
    }

    pub(crate) fn context(&self) -> &Context {
        &self.inner.ctx
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The handle of the stored session this request loaded, if any.
    pub(crate) fn stored_handle(&self) -> Option<crate::SessionHandle> {
        match &self.state().origin {
            Origin::Stored(stored) => Some(stored.key.handle()),
            _ => None,
        }
    }

    pub(crate) fn is_loaded(&self) -> bool {
        self.inner.loaded.initialized()
    }

    /// Loads the session once; later calls (and clones) share the result.
    ///
    /// The axum extractor calls this for you. It never fails: whatever goes
    /// wrong leaves an empty guest session (see [`Session::is_degraded`]).
    pub async fn load(&self) {
        self.inner.loaded.get_or_init(|| self.load_once()).await;
    }

    async fn load_once(&self) {
        let ctx = &self.inner.ctx;
        let request_agent = self
            .inner
            .client
            .as_ref()
            .filter(|_| ctx.config.bind_user_agent)
            .map(Client::agent_digest);
        let state = crate::load::load(ctx, self.inner.cookies.as_slice(), request_agent).await;
        *self.state() = state;
    }

    /// Runs `f` on the loaded state; before loading it logs and returns `None`.
    fn with_loaded<R>(&self, f: impl FnOnce(&mut State) -> R) -> Option<R> {
        let mut state = self.state();
        if matches!(state.origin, Origin::Unloaded) {
            tracing::warn!("Session used before it was loaded; call `Session::load` first");
            return None;
        }
        Some(f(&mut state))
    }

    fn not_loaded() -> Error {
        Error::new(
            ErrorKind::NotLoaded,
            "the session was used before `Session::load`",
        )
    }

    /// The value under `key`, deserialized as `T`; `Ok(None)` if absent.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        self.with_loaded(|state| {
            state
                .data
                .get(key)
                .map(|value| T::deserialize(value).map_err(Error::from))
                .transpose()
        })
        .unwrap_or_else(|| Err(Self::not_loaded()))
    }

    /// Stores `value` under `key`, replacing any previous value.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Serialization`] if `value` does not serialize to JSON, and
    /// [`ErrorKind::TooLarge`] if the session's data would pass the layer's
    /// `max_data_size`; the session is then unchanged.
    pub fn insert<T: Serialize>(&self, key: &str, value: T) -> Result<(), Error> {
        let value = serde_json::to_value(value)?;
        let limit = self.inner.ctx.config.max_data_size;
        self.with_loaded(|state| {
            let before = *state.data_len.get_or_insert_with(|| json_len(&state.data));
            let old = state.data.get(key).map_or(0, |old| entry_len(key, old));
            let new = entry_len(key, &value);
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
            state.data.insert(key.to_owned(), value.clone());
            state.changes.insert(key.to_owned(), Some(value));
            Ok(())
        })
        .unwrap_or_else(|| Err(Self::not_loaded()))
    }

    /// Removes `key`; returns whether it was present.
    pub fn remove(&self, key: &str) -> bool {
        self.with_loaded(|state| {
            let Some(old) = state.data.remove(key) else {
                return false;
            };
            let freed = entry_len(key, &old);
            if let Some(len) = &mut state.data_len {
                *len = len.saturating_sub(freed);
            }
            state.changes.insert(key.to_owned(), None);
            true
        })
        .unwrap_or(false)
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
        self.with_loaded(|state| {
            state.data.clear();
            state.data_len = None;
            state.changes.clear();
            state.cleared = true;
            state.sign_out();
        });
    }

    /// Whether the session holds no data.
    pub fn is_empty(&self) -> bool {
        self.with_loaded(|state| state.data.is_empty())
            .unwrap_or(true)
    }

    /// Moves the session to a fresh id after the response: the data is kept,
    /// the new record is created, then the old one deleted, and a new cookie
    /// is set. Call it on login and on every privilege change, against
    /// session fixation. A revocation of the user that runs meanwhile ends
    /// the session under its new id too (no cookie is then set).
    pub fn cycle_id(&self) {
        self.with_loaded(|state| state.cycle = true);
    }

    /// Binds the session to `user` and, after the response, moves it to a
    /// fresh id (against fixation: see *Fixation and cookie tossing* in
    /// docs/threat-model.md) whose lifetime starts now.
    /// Data kept before login (a cart) stays, unless the session belonged to
    /// another user: then it is cleared first, and a per-session expiry of
    /// theirs ("remember me") is dropped, so the new user starts from the
    /// layer's expiry. With a store
    /// that keeps a [`UserIndex`](crate::UserIndex), the session is listed
    /// under `user` from then on; with `login_metadata` on, the client's user
    /// agent and address are noted.
    pub fn login(&self, user: impl Into<String>) {
        let user = user.into();
        let metadata = self
            .inner
            .client
            .as_ref()
            .filter(|_| self.inner.ctx.config.login_metadata)
            .map(|client| client.metadata());
        self.with_loaded(|state| {
            if state.owner.as_deref().is_some_and(|owner| owner != user) {
                // Another user's session: nothing of theirs carries over,
                // neither data nor a per-session expiry ("remember me").
                state.data.clear();
                state.changes.clear();
                state.data_len = None;
                state.cleared = true;
                state.sign_out();
                state.expiry = None;
                state.expiry_changed = true;
                state.metadata = None;
            }
            state.owner = Some(user);
            state.login = true;
            state.cycle = true;
            if metadata.is_some() {
                state.metadata = metadata;
            }
        });
    }

    /// Ends the session: the same as [`Session::destroy`].
    pub fn logout(&self) {
        self.destroy();
    }

    /// The public handle of the stored session this request loaded, as
    /// [`UserIndex`](crate::UserIndex) lists it: pass it to `revoke_others`
    /// for "log out everywhere else". `None` for a guest, a session of the
    /// cookie store, or before loading. After `login` or `cycle_id` the
    /// session gets a new handle once the response is sent.
    pub fn handle(&self) -> Option<crate::SessionHandle> {
        self.stored_handle()
    }

    /// The user the session belongs to ([`Session::login`]), if any.
    pub fn user(&self) -> Option<String> {
        self.with_loaded(|state| state.owner.clone()).flatten()
    }

    /// Ends the session: the record is deleted after the response and the
    /// browser told to drop the cookie. Later changes in this request are ignored.
    pub fn destroy(&self) {
        self.with_loaded(|state| {
            state.destroyed = true;
            state.data.clear();
            state.sign_out();
        });
    }

    /// Overrides the layer's expiry for this session only (for example a
    /// "remember me" login); it is saved with the session.
    pub fn set_expiry(&self, expiry: Expiry) {
        self.with_loaded(|state| {
            state.expiry = Some(expiry);
            state.expiry_changed = true;
        });
    }

    /// The expiry in force: this session's own, else the layer's.
    pub fn expiry(&self) -> Expiry {
        let own = self.with_loaded(|state| state.expiry).flatten();
        own.unwrap_or(self.inner.ctx.config.expiry)
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
            Origin::Unloaded => "unloaded",
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
