//! The `SessionStore` trait and the contract every store obeys.
//!
//! # The contract
//!
//! A store keeps [`Record`]s under [`SessionKey`]s. It never sees a cookie:
//! the key is the SHA-256 digest of the cookie's random value. Every store
//! shipped with sessionware passes the one conformance suite, which the
//! `conformance` feature makes public (see *Testing a store* below).
//!
//! 1. [`create`](SessionStore::create) inserts only if the key is absent and
//!    says whether it did. It never overwrites, even when two ids collide
//!    or a thousand sessions are created at once.
//! 2. [`load`](SessionStore::load) returns the record as stored, or `None`.
//!    It may return an expired record: the layer enforces deadlines itself.
//!    Loading never creates anything (an unknown id is never adopted).
//! 3. [`save`](SessionStore::save) writes `record` only if a record exists
//!    under `key` whose version equals `expected_version`: the check and the
//!    write are one atomic step. Otherwise it writes nothing and reports
//!    [`SaveOutcome::Conflict`] or [`SaveOutcome::Missing`]; telling those
//!    two apart may take a second read, which may race with another request
//!    (a conflict reported for a record deleted at that moment). That is safe
//!    because nothing was written, and the layer reloads either way. A save therefore never resurrects a deleted session
//!    (see *Concurrent requests* in docs/threat-model.md). A save whose
//!    `expires_at` has passed is still a save: the layer ends an emptied
//!    session that way, conditional on its version, before deleting it.
//! 4. [`delete`](SessionStore::delete) removes the record and reports
//!    whether one existed. Deleting an absent key is not an error.
//! 5. [`delete_expired`](SessionStore::delete_expired) removes records whose
//!    `expires_at` is at or before now (as [`Record::is_expired`] judges;
//!    a SQL store may take "now" from the database, one clock for every
//!    application node) and returns how many, checking the deadline in
//!    the same step as the removal so a just-refreshed record survives. A
//!    store whose backend expires records by itself (Redis) returns 0.
//! 6. Errors are [`Error`]s of kind `Store` (use [`Error::store`]); they carry
//!    the backend's error as their source and never the data.
//! 7. Futures are `Send`, and a store is shared by all requests: it must be
//!    safe to call concurrently.
//!
//! # Example
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use sessionware::{MemoryStore, SessionStore};
//! use sessionware::store::{Record, SaveOutcome, SessionKey};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let store = MemoryStore::new();
//! let key = SessionKey::from_bytes([7; 32]);
//! let now = SystemTime::now();
//! let mut record = Record::new(Default::default(), now, now + Duration::from_secs(60));
//! assert!(store.create(&key, &record).await?);
//! assert!(!store.create(&key, &record).await?, "create never overwrites");
//! record.version = 2;
//! assert_eq!(store.save(&key, &record, 1).await?, SaveOutcome::Saved);
//! assert_eq!(store.save(&key, &record, 1).await?, SaveOutcome::Conflict);
//! assert!(store.delete(&key).await?);
//! assert_eq!(store.save(&key, &record, 2).await?, SaveOutcome::Missing);
//! # Ok::<(), sessionware::Error>(())
//! # }).unwrap();
//! ```
//!
//! # Testing a store
//!
//! The `conformance` feature adds `store::conformance`: every clause above
//! (and those of [`UserIndex`]) as a public check to call on your own store,
//! and the `conformance_suite!`, `accounts_suite!` and `features_suite!`
//! macros, which expand to one `#[tokio::test]` per check. Add sessionware
//! with `features = ["conformance"]`, and tokio with `macros` and
//! `rt-multi-thread`, to your crate's dev-dependencies; the module's
//! documentation says what the checks ask of the store under test.
#![cfg_attr(
    all(feature = "conformance", feature = "memory-store"),
    doc = r#"
In a test file of your crate (here `MemoryStore` stands for your store):

```
# use sessionware::MemoryStore as MyStore;
sessionware::conformance_suite!(async { MyStore::new() });
# #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
# async fn main() {
#     sessionware::store::conformance::save_is_conditional_on_the_version(MyStore::new()).await;
# }
```
"#
)]

#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod conformance;
#[cfg(feature = "cookie-store")]
mod cookie;
mod join;
#[cfg(feature = "memory-store")]
mod memory;
#[cfg(feature = "mysql-store")]
mod mysql;
#[cfg(feature = "postgres-store")]
mod postgres;
#[cfg(feature = "redis-store")]
mod redis;
#[cfg(any(
    feature = "postgres-store",
    feature = "mysql-store",
    feature = "sqlite-store"
))]
mod sql;
#[cfg(feature = "sqlite-store")]
mod sqlite;
mod user_index;

#[cfg(feature = "redis-store")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis-store")))]
pub use self::redis::{CacheStats, ReadCache, RedisStore};
#[cfg(feature = "cookie-store")]
#[cfg_attr(docsrs, doc(cfg(feature = "cookie-store")))]
pub use cookie::{CookieStore, MAX_COOKIE_LEN};
#[cfg(feature = "memory-store")]
#[cfg_attr(docsrs, doc(cfg(feature = "memory-store")))]
pub use memory::MemoryStore;
#[cfg(feature = "mysql-store")]
#[cfg_attr(docsrs, doc(cfg(feature = "mysql-store")))]
pub use mysql::MySqlStore;
#[cfg(feature = "postgres-store")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres-store")))]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite-store")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite-store")))]
pub use sqlite::SqliteStore;
pub use user_index::{ErasedUserIndex, IndexFuture, SessionInfo, UserIndex, UserRecords};
pub(crate) use user_index::{revoke_all_but, revoke_every, revoke_line};

pub use crate::record::{MAX_ENCODED_LEN, Record, SessionData};
pub use crate::token::SessionKey;

use std::future::Future;

use crate::error::Error;

/// What a conditional [`SessionStore::save`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveOutcome {
    /// The record was written.
    Saved,
    /// A record exists, but its version is not the expected one: another
    /// request saved first. Nothing was written.
    Conflict,
    /// No record exists under the key (destroyed, cycled or expired and
    /// purged). Nothing was written.
    Missing,
}

/// A place to keep sessions. Read the [module documentation](self) for the
/// contract every implementation must obey.
pub trait SessionStore: Send + Sync + 'static {
    /// Inserts `record` under `key` if the key is absent; `Ok(false)` if it was taken.
    fn create(
        &self,
        key: &SessionKey,
        record: &Record,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    /// The record under `key`, expired or not, or `None`.
    fn load(&self, key: &SessionKey) -> impl Future<Output = Result<Option<Record>, Error>> + Send;

    /// Writes `record` if the stored version equals `expected_version`.
    fn save(
        &self,
        key: &SessionKey,
        record: &Record,
        expected_version: u64,
    ) -> impl Future<Output = Result<SaveOutcome, Error>> + Send;

    /// Removes the record under `key`; `Ok(true)` if there was one.
    fn delete(&self, key: &SessionKey) -> impl Future<Output = Result<bool, Error>> + Send;

    /// Removes every record past its deadline; returns how many.
    fn delete_expired(&self) -> impl Future<Output = Result<u64, Error>> + Send;

    /// A cheap readiness probe (for a `/ready` endpoint or a start-up check):
    /// `Ok` if the store can serve requests. There is no default on purpose:
    /// a wrapper around another store must forward it, not report `Ok`.
    fn health(&self) -> impl Future<Output = Result<(), Error>> + Send;

    /// This store's [`UserIndex`], if it keeps one: a store
    /// that implements it returns `Some(self)`. The layer needs it for
    /// `max_sessions_per_user`. Default: `None`.
    fn user_index(&self) -> Option<&dyn ErasedUserIndex> {
        None
    }
}

/// A shared store is a store: the same sessions behind every clone of the `Arc`.
impl<S: SessionStore> SessionStore for std::sync::Arc<S> {
    fn create(
        &self,
        key: &SessionKey,
        record: &Record,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        S::create(self, key, record)
    }
    fn load(&self, key: &SessionKey) -> impl Future<Output = Result<Option<Record>, Error>> + Send {
        S::load(self, key)
    }
    fn save(
        &self,
        key: &SessionKey,
        record: &Record,
        expected_version: u64,
    ) -> impl Future<Output = Result<SaveOutcome, Error>> + Send {
        S::save(self, key, record, expected_version)
    }
    fn delete(&self, key: &SessionKey) -> impl Future<Output = Result<bool, Error>> + Send {
        S::delete(self, key)
    }
    fn delete_expired(&self) -> impl Future<Output = Result<u64, Error>> + Send {
        S::delete_expired(self)
    }
    fn health(&self) -> impl Future<Output = Result<(), Error>> + Send {
        S::health(self)
    }
    fn user_index(&self) -> Option<&dyn ErasedUserIndex> {
        S::user_index(self)
    }
}

/// A shared index is an index.
impl<S: UserIndex> UserIndex for std::sync::Arc<S> {
    fn keys_of(&self, user: &str) -> impl Future<Output = Result<Vec<SessionKey>, Error>> + Send {
        S::keys_of(self, user)
    }
    fn forget(
        &self,
        user: &str,
        stale: &[SessionKey],
    ) -> impl Future<Output = Result<(), Error>> + Send {
        S::forget(self, user, stale)
    }
    fn records_of(&self, user: &str) -> impl Future<Output = Result<UserRecords, Error>> + Send {
        S::records_of(self, user)
    }
    fn revoke_all(&self, user: &str) -> impl Future<Output = Result<u64, Error>> + Send {
        S::revoke_all(self, user)
    }
}
