//! What the tests of the SQL server stores (PostgreSQL, MySQL/MariaDB) share:
//! the [`Dialect`] that says what differs between the engines, the
//! [`sql_suite!`](crate::sql_suite) of tests written once for both, a store
//! on a table of its own, dropped when the test ends, records and keys, and
//! the test bodies that need no SQL text of their own.
#![allow(unreachable_pub)]

pub mod statements;
mod suite;

use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use std::sync::Mutex;

use http::StatusCode;
use sessionware::store::{ErasedUserIndex, Record, SaveOutcome, SessionKey};
use sessionware::{Error, ErrorKind, SessionHandle, SessionLayer, SessionStore, UserIndex};
use sqlx::{Connection, Database, Executor, Pool};

use crate::common::{routes, secret, send};

/// What differs between the SQL servers the [`sql_suite!`](crate::sql_suite)
/// runs on: where the server is and how to start it, the types sqlx uses for
/// it, how it quotes a name, and the SQL text of the queries the tests make
/// beside the store. In the SQL texts, `{t}` stands for the test's table,
/// quoted; values are bound, in the engine's placeholder syntax.
pub trait Dialect {
    /// The store under test.
    type Store;
    /// sqlx's database, connection and connect options for the server.
    type Database: Database;
    type Connection;
    type ConnectOptions;
    /// What a `version` column decodes to.
    type Version;

    /// The server, as the store's connect error names it.
    const NAME: &'static str;
    /// The store's type, as its errors name it.
    const STORE: &'static str;
    /// The variable that points the tests at a server, and its default.
    const URL_VAR: &'static str;
    const DEFAULT_URL: &'static str;
    /// The server, and how to start it, for the message when it is down.
    const SERVER: &'static str;
    const START: &'static str;
    /// A URL's scheme and a user of the server.
    const SCHEME: &'static str;
    const USER: &'static str;
    /// Put before the cleanup SQL: how long it may wait for a lock.
    const LOCK_TIMEOUT: &'static str;
    /// A call of the server's sleep function, for a hostile cookie.
    const SLEEP: &'static str;

    /// How many rows the table holds.
    const COUNT_ROWS: &'static str;
    /// How many indexes the table of the bound name has.
    const COUNT_INDEXES: &'static str;
    /// A table of the test's name with a key column only.
    const KEY_ONLY_TABLE: &'static str;
    /// The owner column of the row of the bound key.
    const OWNER_OF: &'static str;
    /// The key, version, deadline (unix milliseconds) and data of the rows.
    const ROW: &'static str;
    /// The key and data of the rows.
    const KEYS_AND_DATA: &'static str;
    /// Moves the row of the bound key to version 2, expiring in an hour.
    const REFRESH: &'static str;
    /// The version of every row.
    const VERSIONS: &'static str;
    /// Replaces the data column (first bind) of the row of the key (second bind).
    const SET_DATA: &'static str;

    /// `name` quoted as an identifier.
    fn quote(name: &str) -> String;
}

/// A fresh table name for one test.
pub fn table_name() -> String {
    format!("sessionware_test_{:016x}", rand::random::<u64>())
}

pub fn random_key() -> SessionKey {
    SessionKey::from_bytes(rand::random())
}

/// A record with millisecond precision living `lives_ms` (negative: expired).
pub fn record(lives_ms: i64) -> Record {
    let now = UNIX_EPOCH
        + Duration::from_millis(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64,
        );
    let deadline = if lives_ms >= 0 {
        now + Duration::from_millis(lives_ms as u64)
    } else {
        now - Duration::from_millis(lives_ms.unsigned_abs())
    };
    let mut record = Record::new(Default::default(), now, deadline);
    record.data.insert("n", &1).unwrap();
    record
}

/// A store on a table of its own; when the test ends (its last clone is
/// dropped, the layer's included), `drop` runs the cleanup SQL, which drops
/// that table or whatever else the test made.
pub struct TestStore<S> {
    pub store: S,
    pub table: String,
    guard: Arc<Cleanup>,
}

/// Runs `drop(sql)` once, when the last clone of a `TestStore` goes.
struct Cleanup {
    sql: Mutex<String>,
    drop: fn(String),
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let sql = std::mem::take(self.sql.get_mut().unwrap_or_else(|p| p.into_inner()));
        (self.drop)(sql);
    }
}

impl<S> TestStore<S> {
    /// `store` (already on `table`), cleaned up by `drop(cleanup)`.
    pub fn new(store: S, table: String, cleanup: String, drop: fn(String)) -> Self {
        Self {
            store,
            table,
            guard: Arc::new(Cleanup {
                sql: Mutex::new(cleanup),
                drop,
            }),
        }
    }

    /// Replaces the cleanup SQL (for a test that makes more than the table).
    #[cfg(feature = "postgres-store")] // only its schema test needs it
    pub fn set_cleanup(&self, sql: String) {
        *self.guard.sql.lock().unwrap() = sql;
    }
}

impl<S: Clone> Clone for TestStore<S> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            table: self.table.clone(),
            guard: self.guard.clone(),
        }
    }
}

impl<S> Deref for TestStore<S> {
    type Target = S;
    fn deref(&self) -> &S {
        &self.store
    }
}

/// Every call goes to the store, `health` included (the trait's default
/// would always answer `Ok`).
impl<S: SessionStore> SessionStore for TestStore<S> {
    async fn health(&self) -> Result<(), Error> {
        self.store.health().await
    }
    async fn create(&self, key: &SessionKey, record: &Record) -> Result<bool, Error> {
        self.store.create(key, record).await
    }
    async fn load(&self, key: &SessionKey) -> Result<Option<Record>, Error> {
        self.store.load(key).await
    }
    async fn save(
        &self,
        key: &SessionKey,
        record: &Record,
        expected: u64,
    ) -> Result<SaveOutcome, Error> {
        self.store.save(key, record, expected).await
    }
    async fn delete(&self, key: &SessionKey) -> Result<bool, Error> {
        self.store.delete(key).await
    }
    async fn delete_expired(&self) -> Result<u64, Error> {
        self.store.delete_expired().await
    }
    fn user_index(&self) -> Option<&dyn ErasedUserIndex> {
        self.store.user_index()
    }
}

/// Every call goes to the store, its own `revoke_all` included.
impl<S: UserIndex> UserIndex for TestStore<S> {
    async fn keys_of(&self, user: &str) -> Result<Vec<SessionKey>, Error> {
        self.store.keys_of(user).await
    }
    async fn forget(&self, user: &str, stale: &[SessionKey]) -> Result<(), Error> {
        self.store.forget(user, stale).await
    }
    async fn sessions(&self, user: &str) -> Result<Vec<sessionware::SessionInfo>, Error> {
        self.store.sessions(user).await
    }
    async fn revoke(&self, user: &str, handle: &SessionHandle) -> Result<bool, Error> {
        self.store.revoke(user, handle).await
    }
    async fn revoke_all(&self, user: &str) -> Result<u64, Error> {
        self.store.revoke_all(user).await
    }
    async fn revoke_others(&self, user: &str, keep: &SessionHandle) -> Result<u64, Error> {
        self.store.revoke_others(user, keep).await
    }
}

/// Runs `sql` on a connection of its own to `url`, on a thread of its own,
/// from any context (`Drop` included, which cannot await).
pub fn run_alone<C>(url: String, sql: String)
where
    C: Connection + 'static,
    for<'c> &'c mut C: Executor<'c>,
{
    let _ = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            if let Ok(mut connection) = C::connect(&url).await {
                let _ = sqlx::raw_sql(&sql).execute(&mut connection).await;
                let _ = connection.close().await;
            }
        });
    })
    .join();
}

/// With the only connection of `pool` (whose acquire timeout is 300 ms) busy,
/// 20 concurrent loads of `store` (on that pool) each fail within the acquire
/// timeout rather than queueing; a request degrades to a guest at once, and
/// all is well once it is free.
pub async fn exhausted_pool_fails_fast<DB: Database, S: SessionStore + Clone>(
    pool: &Pool<DB>,
    store: &S,
) {
    let app = routes().layer(SessionLayer::new(store.clone(), secret()));
    let cookie = send(&app, "/insert", None).await.cookie_pair();

    let held = pool.acquire().await.unwrap();
    let started = Instant::now();
    let loads: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.load(&random_key()).await })
        })
        .collect();
    for load in loads {
        let err = load.await.unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Store);
        assert!(
            err.to_string().contains("acquire timeout of 300ms"),
            "{err}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let reply = send(&app, "/degraded", Some(&cookie)).await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::OK, "true")
    );

    drop(held);
    assert_eq!(send(&app, "/get", Some(&cookie)).await.body, "Some(1)");
}

/// Cleanup racing refreshes under load: saves in four lanes refresh half of
/// 2,000 expired rows while `delete_expired` runs. Every save that reports
/// `Saved` keeps its row; every other row is gone, and the count returned is
/// exactly what was removed. `rows` counts the table's rows when awaited, at
/// the end.
pub async fn cleanup_racing_refreshes<S: SessionStore>(
    store: Arc<S>,
    rows: impl Future<Output = i64>,
) {
    let keys: Arc<Vec<SessionKey>> = Arc::new((0..2_000).map(|_| random_key()).collect());
    let creators: Vec<_> = keys
        .chunks(200)
        .map(|chunk| {
            let (store, chunk) = (store.clone(), chunk.to_vec());
            tokio::spawn(async move {
                for key in chunk {
                    assert!(store.create(&key, &record(-1_000)).await.unwrap());
                }
            })
        })
        .collect();
    for task in creators {
        task.await.unwrap();
    }
    let cleanup = {
        let store = store.clone();
        tokio::spawn(async move { store.delete_expired().await.unwrap() })
    };
    let refreshers: Vec<_> = (0..4)
        .map(|lane| {
            let (store, keys) = (store.clone(), keys.clone());
            tokio::spawn(async move {
                let mut saved = Vec::new();
                for key in keys.iter().skip(lane).step_by(8) {
                    let mut next = record(60_000);
                    next.version = 2;
                    if store.save(key, &next, 1).await.unwrap() == SaveOutcome::Saved {
                        saved.push(*key);
                    }
                }
                saved
            })
        })
        .collect();
    let mut saved = Vec::new();
    for task in refreshers {
        saved.extend(task.await.unwrap());
    }
    let removed = cleanup.await.unwrap();
    for key in &saved {
        let row = store.load(key).await.unwrap();
        assert_eq!(
            row.map(|r| r.version),
            Some(2),
            "a refreshed row was deleted"
        );
    }
    assert_eq!(
        rows.await as usize,
        saved.len(),
        "only refreshed rows are left"
    );
    assert_eq!(removed as usize, keys.len() - saved.len());
}

/// A record of `owner` living `lives_ms` (negative: expired).
pub fn owned(owner: Option<&str>, lives_ms: i64) -> Record {
    let mut record = record(lives_ms);
    record.owner = owner.map(str::to_owned);
    record
}

/// A user id no other test uses.
pub fn user(name: &str) -> String {
    format!("{name}-{:08x}", rand::random::<u32>())
}

/// `keys_of` lists every row of a user, including one the database's clock
/// judges expired (another node's clock may still accept it): not another
/// user's, not guests. `revoke_all` deletes all of them, expired or not.
pub async fn revoke_all_deletes_expired_rows_too<S: UserIndex>(store: &S) {
    let (alice, bob) = (user("alice"), user("bob"));
    let (live, expired) = (random_key(), random_key());
    store
        .create(&live, &owned(Some(&alice), 60_000))
        .await
        .unwrap();
    store
        .create(&expired, &owned(Some(&alice), -1_000))
        .await
        .unwrap();
    store
        .create(&random_key(), &owned(Some(&bob), 60_000))
        .await
        .unwrap();
    store
        .create(&random_key(), &owned(None, 60_000))
        .await
        .unwrap();
    let mut listed = store.keys_of(&alice).await.unwrap();
    let mut expected = vec![live, expired];
    listed.sort_by_key(|key| *key.as_bytes());
    expected.sort_by_key(|key| *key.as_bytes());
    assert_eq!(listed, expected);
    assert_eq!(store.revoke_all(&alice).await.unwrap(), 2);
    assert!(store.load(&live).await.unwrap().is_none());
    assert!(
        store.load(&expired).await.unwrap().is_none(),
        "an expired row is revoked too"
    );
    assert_eq!(store.keys_of(&bob).await.unwrap().len(), 1);
}

/// Create and save write the owner column from the record: a logout (no
/// owner) takes the session out of the index, a login files it again.
pub async fn the_owner_column_follows_the_record<S: UserIndex>(store: &S) {
    let (alice, bob) = (user("alice"), user("bob"));
    let key = random_key();
    store
        .create(&key, &owned(Some(&alice), 60_000))
        .await
        .unwrap();
    assert_eq!(store.keys_of(&alice).await.unwrap(), [key]);
    let mut next = owned(None, 60_000);
    next.version = 2;
    assert_eq!(
        store.save(&key, &next, 1).await.unwrap(),
        SaveOutcome::Saved
    );
    assert!(store.keys_of(&alice).await.unwrap().is_empty());
    next.owner = Some(bob.clone());
    next.version = 3;
    assert_eq!(
        store.save(&key, &next, 2).await.unwrap(),
        SaveOutcome::Saved
    );
    assert_eq!(store.keys_of(&bob).await.unwrap(), [key]);
    assert!(store.keys_of(&alice).await.unwrap().is_empty());
}
