//! Signing in: [`Login`] says who signed in, how, and under which
//! credentials; [`Session::login_with`] records it, and
//! [`Session::reauthenticate`] renews it before a sensitive action.

use std::fmt;
use std::time::SystemTime;

use crate::pipeline::fingerprint_digest;
use crate::record::{from_millis, unix_millis};
use crate::session::Session;

/// The longest method label kept, in bytes; a longer one is cut.
const MAX_METHOD_LEN: usize = 64;

/// A sign-in, for [`Session::login_with`]: the user, and optionally how
/// they proved who they are and the fingerprint of their credentials. See
/// [`Session::login`].
///
/// # Example
///
/// ```
/// use axum::{Router, routing::get};
/// use sessionware::{Login, MemoryStore, Session, SessionLayer};
/// # use tower::ServiceExt as _;
///
/// async fn sign_in(session: Session) -> &'static str {
///     // Once the password is checked:
///     session.login_with(Login::new("ferris").method("password"));
///     assert!(session.authenticated_at().is_some());
///     "signed in"
/// }
///
/// async fn whoami(session: Session) -> String {
///     let method = session.authentication_method();
///     format!("{:?} by {method:?}", session.user())
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # let secret: [u8; 64] = rand::random();
/// let app = Router::new()
///     .route("/login", get(sign_in))
///     .route("/whoami", get(whoami))
///     .layer(SessionLayer::new(MemoryStore::new(), &secret));
/// # let get = |uri: &str| http::Request::get(uri).body(axum::body::Body::empty()).unwrap();
///
/// let response = app.clone().oneshot(get("/login")).await.unwrap();
/// let cookie = response.headers()["set-cookie"].to_str().unwrap();
/// let pair = cookie.split(';').next().unwrap();
/// let mut request = get("/whoami");
/// request.headers_mut().insert("cookie", pair.parse().unwrap());
/// let body = app.oneshot(request).await.unwrap().into_body();
/// let bytes = axum::body::to_bytes(body, 1024).await.unwrap();
/// assert_eq!(&bytes[..], br#"Some("ferris") by Some("password")"#);
/// # }
/// ```
#[derive(Clone)]
#[must_use]
pub struct Login {
    user: String,
    method: Option<String>,
    credential: Option<String>,
}

impl Login {
    /// A sign-in of `user`, with no method and no credential fingerprint.
    pub fn new(user: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            method: None,
            credential: None,
        }
    }

    /// How the user signed in: a short label of your choice (`"password"`,
    /// `"passkey"`, `"sso"`), kept with the session and read back with
    /// [`Session::authentication_method`]. Cut to 64 bytes. Default: none.
    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(cut(method.into(), MAX_METHOD_LEN));
        self
    }

    /// The user's credential fingerprint at this sign-in: a value that
    /// changes whenever their credentials do (a security-stamp counter, a
    /// hash of the password hash; never the password itself). With
    /// [`SessionLayer::credential_check`](crate::SessionLayer::credential_check),
    /// the session ends once the user's current fingerprint differs. Only
    /// its SHA-256 digest is kept. Default: none (the session is never
    /// checked).
    pub fn credential(mut self, fingerprint: impl Into<String>) -> Self {
        self.credential = Some(fingerprint.into());
        self
    }
}

/// The credential fingerprint is left out.
impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login")
            .field("user", &self.user)
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn cut(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// Now, in whole milliseconds: what the record keeps.
fn now_millis() -> SystemTime {
    from_millis(unix_millis(SystemTime::now()))
}

impl Session {
    /// Binds the session to `user` and, after the response, moves it to a
    /// fresh id (against fixation: see *Fixation and cookie tossing* in
    /// docs/threat-model.md) whose lifetime starts now.
    /// Data kept before login (a cart) stays, unless the session belonged to
    /// another user: then it is cleared first, and a per-session expiry of
    /// theirs ("remember me") is dropped, so the new user starts from the
    /// layer's expiry. With a store
    /// that keeps a [`UserIndex`](crate::UserIndex), the session is listed
    /// under `user` from then on; with `login_metadata` on, the client's user
    /// agent and address are noted. The sign-in time is recorded
    /// ([`Session::authenticated_at`]); to record how the user signed in, or
    /// a credential fingerprint, use [`Session::login_with`].
    pub fn login(&self, user: impl Into<String>) {
        self.login_with(Login::new(user));
    }

    /// [`Session::login`], recording how the user signed in and their
    /// credential fingerprint as `login` says. The sign-in time, method and
    /// fingerprint of any earlier login are replaced.
    pub fn login_with(&self, login: Login) {
        let Login {
            user,
            method,
            credential,
        } = login;
        let metadata = self.login_metadata();
        let mut guard = self.state();
        let state = &mut *guard;
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
        state.auth.at = Some(now_millis());
        state.auth.method = method;
        state.auth.credential = credential.as_deref().map(fingerprint_digest);
        if metadata.is_some() {
            state.metadata = metadata;
        }
    }

    /// Records that the signed-in user proved who they are again (asked
    /// for their password before a sensitive action): the sign-in time
    /// becomes now, the user, method and credential fingerprint stay, and
    /// the session moves to a fresh id after the response, as at login.
    /// Unlike a login, it does not restart the session's lifetime
    /// (`max_lifetime` still counts from the login).
    /// A guest has nobody to re-authenticate: nothing happens.
    pub fn reauthenticate(&self) {
        self.renew_sign_in(None);
    }

    /// [`Session::reauthenticate`], recording `method` (cut to 64 bytes) as
    /// how the user signed in this time.
    pub fn reauthenticate_with(&self, method: impl Into<String>) {
        self.renew_sign_in(Some(cut(method.into(), MAX_METHOD_LEN)));
    }

    fn renew_sign_in(&self, method: Option<String>) {
        let mut state = self.state();
        if state.owner.is_none() {
            return;
        }
        state.auth.at = Some(now_millis());
        if method.is_some() {
            state.auth.method = method;
        }
        state.reauth = true;
        state.cycle = true;
    }

    /// When the user last proved who they are: the [`login`](Session::login)
    /// or [`reauthenticate`](Session::reauthenticate), in whole milliseconds.
    /// `None` for a guest, and for a session signed in by a version that did
    /// not record it. [`RecentlySignedIn`](crate::RecentlySignedIn) (feature
    /// `axum`) guards routes with it.
    pub fn authenticated_at(&self) -> Option<SystemTime> {
        self.state().auth.at
    }

    /// How the user signed in, as [`Login::method`] or
    /// [`Session::reauthenticate_with`] labelled it; `None` for a guest or
    /// when no label was given.
    pub fn authentication_method(&self) -> Option<String> {
        self.state().auth.method.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_cut_at_a_character_boundary() {
        assert_eq!(cut("password".into(), 64), "password");
        assert_eq!(cut("é".repeat(40), 64), "é".repeat(32));
        assert_eq!(cut(format!("a{}", "é".repeat(40)), 64).len(), 63);
    }

    #[test]
    fn debug_leaves_the_fingerprint_out() {
        let login = Login::new("ferris")
            .method("password")
            .credential("stamp-9f86d081");
        let shown = format!("{login:?}");
        assert!(shown.contains("ferris") && shown.contains("password"));
        assert!(!shown.contains("9f86d081"), "{shown}");
    }
}
