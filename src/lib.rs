//! Sessions for [tower] and [axum]: signed random cookies, stores that only
//! ever see a digest, and a guest session whenever anything goes wrong.
//!
//! [tower]: https://docs.rs/tower
//! [axum]: https://docs.rs/axum
//!
//! # Quick start
//!
//! ```
//! use axum::{Router, routing::get};
//! use sessionware::{Error, MemoryStore, Session, SessionLayer};
//! # use tower::ServiceExt as _;
//!
//! async fn count(session: Session) -> Result<String, Error> {
//!     let n: u64 = session.get("n")?.unwrap_or(0);
//!     session.insert("n", n + 1)?;
//!     Ok(n.to_string())
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let secret: [u8; 64] = rand::random(); // in production: 64 random bytes from your secret store
//! let app = Router::new()
//!     .route("/", get(count))
//!     .layer(SessionLayer::new(MemoryStore::new(), &secret));
//!
//! let first = app.clone().oneshot(http::Request::new(axum::body::Body::empty())).await.unwrap();
//! let cookie = first.headers()["set-cookie"].to_str().unwrap();
//! assert!(cookie.starts_with("id=") && cookie.contains("HttpOnly") && cookie.contains("Secure"));
//!
//! let pair = cookie.split(';').next().unwrap();
//! let second = http::Request::builder().header("cookie", pair).body(axum::body::Body::empty()).unwrap();
//! let body = app.oneshot(second).await.unwrap().into_body();
//! let bytes = axum::body::to_bytes(body, 64).await.unwrap();
//! assert_eq!(&bytes[..], b"1");
//! # }
//! ```
//!
//! # How a request goes
//!
//! [`SessionLayer`] puts a [`PendingSession`] into each request. Only when a
//! handler extracts the [`Session`] (or calls [`PendingSession::load`]) is
//! the cookie looked for, its HMAC-SHA256 tag checked
//! (in constant time, with a key derived by HKDF from your secret), and the
//! store asked once, under the SHA-256 digest of the cookie's random value.
//! After the response the layer writes only what changed, conditionally on the
//! version it loaded, and sets or clears the cookie.
//!
//! On top of the session: the extractors `SignedIn`, `MaybeSignedIn` and
//! `SessionRequired` and the `RequireSignInLayer` guard routes (with a login
//! redirect whose `next` is checked by `safe_next`: see `Guard`; feature
//! `axum`), and [`Flash`] keeps messages for the user's next page.
//!
//! # Security model
//!
//! * **A leaked store exposes no usable cookie.** Records are filed under
//!   `SHA-256(random value)`; a cookie needs the random value itself and a tag
//!   under your key.
//! * **Forged, tampered, truncated, oversized or doubled cookies are guests**
//!   and never reach the store; rejections are logged (rate-limited) and
//!   each is a [`SessionEvent::Rejected`] of the layer that refused it.
//! * **256-bit ids from the OS CSPRNG**, never adopted from a client: an
//!   unknown id is a guest, and a write gets a fresh id.
//! * **Secure cookie defaults**: `HttpOnly`, `Secure`, `SameSite=Lax`,
//!   `Path=/`, no `Domain`, a generic name; responses that use the session get
//!   `Vary: Cookie`, and responses that set it `Cache-Control: no-store`.
//! * **Nothing is silently lost**: saves are conditional on the loaded version
//!   and concurrent changes to different keys are merged; a session ended by
//!   another request is never brought back; a failed save is a 500.
//! * **Expiry is ours to enforce**: the deadline is in the record and checked
//!   on every load, whatever the store's TTL does.
//!
//! The repository's `docs/threat-model.md` is the complete threat model: each
//! attack and failure, what sessionware does and does not protect, and the
//! test that shows it.
//!
//! # Stores
//!
//! | store | feature | use it for |
//! | --- | --- | --- |
//! | [`MemoryStore`] | `memory-store` (default) | development, tests, single-instance apps |
//! | `RedisStore` | `redis-store` | many instances, sessions that survive restarts; one node, Redis Cluster or Sentinel; an optional read cache coherent across instances |
//! | `PostgresStore` | `postgres-store` | many instances, PostgreSQL in the stack |
//! | `MySqlStore` | `mysql-store` | many instances, MySQL or MariaDB in the stack |
//! | `SqliteStore` | `sqlite-store` | one instance, sessions that survive restarts, no server |
//! | `CookieStore` | `cookie-store` | small sessions sealed in the cookie (`SessionLayer::sealed_cookies`), no server state; no server-side revocation |
//!
//! Any type implementing [`SessionStore`] can be used; the [`store`] module
//! documents the contract a store must obey, and holds what store authors
//! need (`Record`, `SessionKey`, `SaveOutcome`). Stores without native expiry want a
//! [`CleanupTask`] to free the space of expired sessions.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `axum` | yes | the [`Session`] extractor and `IntoResponse` for [`Error`], on `axum-core` |
//! | `connect-info` | no | `login_metadata` notes the socket's address from axum's `ConnectInfo` (pulls in `axum`) |
//! | `memory-store` | yes | [`MemoryStore`] |
//! | `redis-store` | no | `RedisStore`, on the `redis` crate (redis-rs 1.x: one node, Cluster, Sentinel) |
//! | `postgres-store` | no | `PostgresStore`, on `sqlx` |
//! | `mysql-store` | no | `MySqlStore`, on `sqlx` |
//! | `sqlite-store` | no | `SqliteStore`, on `sqlx` |
//! | `cookie-store` | no | `SessionLayer::sealed_cookies` (`CookieStore`), on `chacha20poly1305` |
//! | `conformance` | no | `store::conformance`: the store contract as checks and test macros, for your own store |
#![cfg_attr(docsrs, feature(doc_cfg))]

mod cleanup;
mod client;
mod config;
mod env;
mod env_values;
mod error;
mod event;
mod expiry;
#[cfg(feature = "axum")]
mod extract;
mod flash;
mod future;
#[cfg(feature = "axum")]
mod guard;
mod layer;
mod login;
mod pending;
mod pipeline;
mod policy;
mod record;
mod service;
mod session;
pub mod store;
mod token;

pub use cleanup::CleanupTask;
pub use cookie::SameSite;
pub use env::insecure_dev_secret;
pub use error::{Error, ErrorKind};
pub use event::{RejectionReason, SessionEvent, SessionEvents};
pub use expiry::Expiry;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use extract::SessionRejection;
pub use flash::{Flash, FlashLevel, FlashMessage};
pub use future::ResponseFuture;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use guard::{
    Guard, GuardRejection, GuardService, MaybeSignedIn, RecentlySignedIn, RequireSignIn,
    RequireSignInFuture, RequireSignInLayer, SessionRequired, SignedIn, safe_next,
};
pub use layer::SessionLayer;
pub use login::Login;
pub use pending::PendingSession;
pub use pipeline::CredentialCheck;
pub use policy::SavePolicy;
pub use record::SessionMetadata;
pub use service::SessionService;
pub use session::Session;
#[cfg(feature = "cookie-store")]
#[cfg_attr(docsrs, doc(cfg(feature = "cookie-store")))]
pub use store::CookieStore;
#[cfg(feature = "memory-store")]
#[cfg_attr(docsrs, doc(cfg(feature = "memory-store")))]
pub use store::MemoryStore;
#[cfg(feature = "mysql-store")]
#[cfg_attr(docsrs, doc(cfg(feature = "mysql-store")))]
pub use store::MySqlStore;
#[cfg(feature = "postgres-store")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres-store")))]
pub use store::PostgresStore;
#[cfg(feature = "sqlite-store")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite-store")))]
pub use store::SqliteStore;
#[cfg(feature = "redis-store")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis-store")))]
pub use store::{CacheStats, ReadCache, RedisStore};
pub use store::{SessionInfo, SessionStore, UserIndex};
pub use token::{Keyring, MAX_RETIRED_SECRETS, MIN_SECRET_LEN, SessionHandle};

/// Compiles the migration guide's code blocks with the doctests.
#[cfg(all(doctest, feature = "axum", feature = "memory-store"))]
#[doc = include_str!("../docs/migrating-from-tower-sessions.md")]
struct MigrationGuideDoctests;

/// Compiles the README's code blocks with the doctests.
#[cfg(all(doctest, feature = "axum", feature = "memory-store"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
