//! The apps of `ipr` and `allocs`: bare axum, axum + tower-sessions 0.15 and
//! axum + sessionware, each with the same four routes doing the same work:
//!
//! * `/plain`: answers `ok` without touching the session (the client still
//!   sends a valid cookie, so only the layer's own cost shows);
//! * `/read`: reads key `n` and answers it; `409 Conflict` when there is none
//!   (no session);
//! * `/write`: reads `n`, writes `n + 1` and answers it; `409` when there is
//!   none;
//! * `/login`: inserts the five keys of [`LOGIN`] (about 100 bytes of JSON,
//!   `n` = 0) and answers `ok`; sent without a cookie, it creates a session.
//!
//! Bare axum answers `ok` on every route. Store errors are a `500` in both
//! session apps.

mod bare;
mod sessionware;
mod tower_sessions;

pub use self::bare::bare;
pub use self::sessionware::sessionware;
pub use self::tower_sessions::tower_sessions;

/// An implementation under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Impl {
    /// axum alone.
    Bare,
    /// axum + tower-sessions 0.15.
    TowerSessions,
    /// axum + sessionware.
    Sessionware,
}

impl Impl {
    /// Every implementation, in table order.
    pub const ALL: [Impl; 3] = [Impl::Bare, Impl::TowerSessions, Impl::Sessionware];

    /// The name on the command line (`--impl`).
    pub fn key(self) -> &'static str {
        match self {
            Impl::Bare => "bare",
            Impl::TowerSessions => "tower-sessions",
            Impl::Sessionware => "sessionware",
        }
    }

    /// The name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Impl::Bare => "bare axum",
            Impl::TowerSessions => "tower-sessions 0.15",
            Impl::Sessionware => "sessionware",
        }
    }

    /// The implementation named `key` (see [`Impl::key`]).
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|i| i.key() == key)
    }
}

/// A route of the apps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// `/plain`: the session untouched.
    Plain,
    /// `/read`: reads `n`.
    Read,
    /// `/write`: increments `n`.
    Write,
    /// `/login`: a new session.
    Login,
}

impl Route {
    /// Every route, in table order.
    pub const ALL: [Route; 4] = [Route::Plain, Route::Read, Route::Write, Route::Login];

    /// The name on the command line (`--routes`).
    pub fn key(self) -> &'static str {
        match self {
            Route::Plain => "plain",
            Route::Read => "read",
            Route::Write => "write",
            Route::Login => "login",
        }
    }

    /// The request path.
    pub fn path(self) -> &'static str {
        match self {
            Route::Plain => "/plain",
            Route::Read => "/read",
            Route::Write => "/write",
            Route::Login => "/login",
        }
    }

    /// Whether requests carry the session cookie (all but `/login`, which
    /// creates a session).
    pub fn sends_cookie(self) -> bool {
        self != Route::Login
    }

    /// The route named `key` (see [`Route::key`]).
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.key() == key)
    }
}

/// The data `/login` stores: the shape of a typical login session, about 100
/// bytes of JSON (`{"user_id":1234567,"name":"user-0001234567",...}`), as in
/// `benches/scale.rs`.
#[derive(Debug)]
pub struct Login {
    /// Key `user_id`.
    pub user_id: u64,
    /// Key `name`.
    pub name: &'static str,
    /// Key `role`.
    pub role: &'static str,
    /// Key `csrf`.
    pub csrf: &'static str,
}

/// What `/login` inserts, besides `n` = 0.
pub const LOGIN: Login = Login {
    user_id: 1_234_567,
    name: "user-0001234567",
    role: "member",
    csrf: "3f9c2a7d41e85b06c1d7e2f0a9b3c4d5",
};

/// A cookie pair for bare axum, of the length of sessionware's (`id=` and 87
/// characters), so every app parses a `Cookie` header of the same size.
pub fn dummy_cookie() -> String {
    format!("id={}", "x".repeat(87))
}
