//! `SqliteStore`: sessions in one SQLite file, the embedded store that survives restarts.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteQueryResult, SqliteSynchronous,
};

use super::sql::{self, Engine, Migration, Statements, Table, millis};
use crate::error::{Error, ErrorKind};

/// The table used unless [`SqliteStore::table_name`] says otherwise.
const DEFAULT_TABLE: &str = "sessionware_sessions";
/// The longest table name [`SqliteStore::table_name`] accepts.
const MAX_TABLE_NAME_LEN: usize = 63;
/// Rows removed by one statement of [`SessionStore::delete_expired`](crate::SessionStore::delete_expired); the
/// write lock is released between batches so requests are not held up.
const EXPIRED_BATCH: u64 = 1_000;
/// How long a statement waits for another writer before failing with
/// `SQLITE_BUSY`, rather than hanging. Below the layer's default
/// `store_timeout` (3 s), so a locked database answers with an error of its
/// own instead of a cancelled call whose write might still land.
const BUSY_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a call waits for a free connection: an exhausted pool fails
/// quickly instead of queueing without bound.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);
/// Connections opened by [`SqliteStore::open`]. In WAL mode readers run in
/// parallel and writers take turns, so a few connections serve many requests.
const MAX_CONNECTIONS: u32 = 8;
/// SQLite's primary result code when another connection holds the lock.
const SQLITE_BUSY: i32 = 5;
/// SQLite's primary result code when a table is locked inside this process.
const SQLITE_LOCKED: i32 = 6;

/// Sessions in an SQLite database file (feature `sqlite-store`).
///
/// * **Durable and embedded**: one file, opened by [`SqliteStore::open`] in
///   WAL mode with `synchronous = NORMAL`. Sessions survive restarts and
///   crashes of the process; after a power loss the last moments of writes
///   may be missing, never a torn record. Many requests read at once; writes
///   take turns, each waiting up to 2 s for the lock before failing (never
///   hanging), and a pool of 8 connections waits up to 2 s for a free one.
/// * **Schema**: one table (default `sessionware_sessions`) of `key BLOB
///   PRIMARY KEY` (the 32 digest bytes, never cookie text), `version INTEGER`,
///   `expires_at INTEGER` (Unix milliseconds, indexed), `data BLOB` (the
///   versioned [`Record::encode`](crate::store::Record::encode) bytes) and `owner BLOB` (the SHA-256 of
///   the record's owner, NULL for a guest; indexed without the NULLs).
///   Create it with [`SqliteStore::migrate`], which also adds `owner` to a
///   table of an earlier version: opening a store never changes the schema.
/// * **[`UserIndex`](crate::UserIndex)**: a user's sessions are the rows with the digest of
///   their id, expired or not, listed by
///   [`UserIndex::sessions`](crate::UserIndex::sessions) with one `SELECT` of their keys and
///   data; [`UserIndex::revoke_all`](crate::UserIndex::revoke_all) `DELETE`s
///   them (again, until one deletes nothing). `owner` is written by the statement that writes the record.
/// * **One statement per operation**: create is `INSERT .. ON CONFLICT DO
///   NOTHING`; save is one `UPDATE .. WHERE key = ? AND version = ?`, so the
///   version check and the write are a single atomic step.
/// * **No native expiry**: run [`SessionStore::delete_expired`](crate::SessionStore::delete_expired) periodically.
///   It deletes in batches of 1,000 through the deadline index, checking the
///   deadline inside each `DELETE`, so a session refreshed meanwhile survives.
///
/// Cloning is cheap and every clone shares the same pool.
///
/// # Example
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use sessionware::{SessionStore, SqliteStore};
/// use sessionware::store::{Record, SessionKey};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// # let dir = std::env::temp_dir().join(format!("sessionware-doc-{:016x}", rand::random::<u64>()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// let store = SqliteStore::open(dir.join("sessions.db")).await?.table_name("app_sessions");
/// assert!(store.health().await.is_err(), "the table does not exist yet");
/// store.migrate().await?; // idempotent: run it at every start-up
/// store.health().await?;
///
/// let key = SessionKey::from_bytes([7; 32]);
/// let now = SystemTime::now();
/// let mut record = Record::new(Default::default(), now, now + Duration::from_secs(60));
/// record.data.insert("user", &"ferris")?;
/// assert!(store.create(&key, &record).await?);
/// let user: Option<String> = store.load(&key).await?.unwrap().data.get("user")?;
/// assert_eq!(user.as_deref(), Some("ferris"));
/// assert_eq!(store.delete_expired().await?, 0, "nothing has expired yet");
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), sessionware::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    sql: Arc<Sql>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("table", &self.sql.shared.table)
            .finish_non_exhaustive()
    }
}

/// Every statement, written once for the table name: those of the
/// operations every SQL store shares, and those of `migrate`.
struct Sql {
    shared: Statements,
    migration: Migration,
}

impl Sql {
    /// `table` is validated: ASCII letters, digits and `_`, so quoting it is enough.
    fn new(table: &str) -> Self {
        let t = format!("\"{table}\"");
        Self {
            migration: Migration {
                create_table: format!(
                    "CREATE TABLE IF NOT EXISTS {t} (\
                     key BLOB PRIMARY KEY NOT NULL CHECK (typeof(key) = 'blob' AND length(key) = 32), \
                     version INTEGER NOT NULL, \
                     expires_at INTEGER NOT NULL, \
                     data BLOB NOT NULL, \
                     owner BLOB)"
                ),
                columns: "SELECT name FROM pragma_table_info(?1)",
                create_index: format!(
                    "CREATE INDEX IF NOT EXISTS \"{table}_expires_at\" ON {t} (expires_at)"
                ),
                add_owner: format!("ALTER TABLE {t} ADD COLUMN owner BLOB"),
                create_owner_index: format!(
                    "CREATE INDEX IF NOT EXISTS \"{table}_owner\" ON {t} (owner) \
                     WHERE owner IS NOT NULL"
                ),
            },
            shared: Statements {
                table: table.to_owned(),
                insert: format!(
                    "INSERT INTO {t} (key, version, expires_at, data, owner) \
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (key) DO NOTHING"
                ),
                load: format!("SELECT data FROM {t} WHERE key = ?1"),
                save: format!(
                    "UPDATE {t} SET version = ?1, expires_at = ?2, data = ?3, owner = ?4 \
                     WHERE key = ?5 AND version = ?6"
                ),
                exists: format!("SELECT 1 FROM {t} WHERE key = ?1"),
                delete: format!("DELETE FROM {t} WHERE key = ?1"),
                // The deadline is checked by the DELETE itself, in the same
                // statement as the removal, so a just-refreshed row is never
                // removed; the sub-select only
                // bounds the batch, through the index on `expires_at`.
                delete_expired: format!(
                    "DELETE FROM {t} WHERE expires_at <= ?1 AND rowid IN \
                     (SELECT rowid FROM {t} WHERE expires_at <= ?1 LIMIT {EXPIRED_BATCH})"
                ),
                keys_of: format!("SELECT key FROM {t} WHERE owner = ?1"),
                records_of: format!("SELECT key, data FROM {t} WHERE owner = ?1"),
                revoke_all: format!("DELETE FROM {t} WHERE owner = ?1"),
                health: format!("SELECT key, version, expires_at, data, owner FROM {t} WHERE 0"),
            },
        }
    }
}

impl Engine for Sqlite {
    type Version = i64;

    /// Versions are stored bit for bit as signed integers, so equality is
    /// kept for every `u64`.
    fn version(version: u64) -> Result<i64, Error> {
        Ok(version.cast_signed())
    }

    /// The application's clock (SQLite runs in this process), bound to the
    /// statements that compare deadlines with the present.
    fn now() -> Option<i64> {
        Some(millis(SystemTime::now()))
    }

    fn rows_affected(done: &SqliteQueryResult) -> u64 {
        done.rows_affected()
    }

    fn duplicate_column(err: &sqlx::Error) -> bool {
        matches!(err, sqlx::Error::Database(db) if db.message().contains("duplicate column"))
    }

    /// A store error, with a hint for the two failures an operator can fix.
    fn error(table: &Table<'_, Self>, err: sqlx::Error) -> Error {
        let hint = err.as_database_error().and_then(|db| {
            let code = db.code().and_then(|c| c.parse::<i32>().ok()).unwrap_or(0) & 0xff;
            let message = db.message();
            // An earlier version's table: "no such column" when read, "has no
            // column named" when written.
            let outdated = ["no such table", "no such column", "has no column named"];
            if outdated.iter().any(|m| message.contains(m)) {
                Some(format!(
                    "table \"{}\" is missing or outdated: run `SqliteStore::migrate` at start-up \
                     (it also upgrades a table made by an earlier version)",
                    table.sql.table
                ))
            } else if code == SQLITE_BUSY || code == SQLITE_LOCKED {
                Some("the database stayed locked by another writer past the busy timeout".into())
            } else {
                None
            }
        });
        match hint {
            Some(hint) => Error::store(err).with_detail(hint),
            None => Error::store(err),
        }
    }
}

/// Creates the database file at `path`, empty (SQLite takes an empty file for
/// a new database) and readable and writable by its owner only, unless a
/// file is there already. `create_new` makes this one atomic step, so an
/// existing file, or one made meanwhile, keeps its mode.
#[cfg(unix)]
fn create_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match created {
        Err(err) if err.kind() != std::io::ErrorKind::AlreadyExists => Err(err),
        _ => Ok(()),
    }
}

/// Elsewhere the file is created by SQLite, with the system's defaults.
#[cfg(not(unix))]
fn create_private(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Whether `name` is a table name we accept, and why not.
fn check_table_name(name: &str) -> Result<(), &'static str> {
    let mut chars = name.chars();
    match chars.next() {
        None => return Err("must not be empty"),
        Some(c) if !(c.is_ascii_alphabetic() || c == '_') => {
            return Err("must start with an ASCII letter or '_'");
        }
        Some(_) => {}
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err("may contain only ASCII letters, digits and '_'");
    }
    if name.len() > MAX_TABLE_NAME_LEN {
        return Err("must be at most 63 characters");
    }
    if name.to_ascii_lowercase().starts_with("sqlite_") {
        return Err("must not start with 'sqlite_', which SQLite reserves");
    }
    Ok(())
}

impl SqliteStore {
    /// Opens the database file at `path`, creating the file if it is missing,
    /// in WAL mode with `synchronous = NORMAL`, a 2 s busy timeout and a pool
    /// of 8 connections (2 s to acquire one). An unusable path (a missing
    /// directory, a directory, a file that is not a database, no permission)
    /// is a clear error here, not at the first request.
    ///
    /// The file holds every session's data, so on Unix a file that `open`
    /// creates is readable and writable by its owner only (mode `0600`,
    /// whatever the umask), and SQLite gives the `-wal` and `-shm` files next
    /// to it the same mode. The mode of an existing file is left as it is.
    ///
    /// Opening never changes the schema: call [`SqliteStore::migrate`] next,
    /// after [`SqliteStore::table_name`] if you use one. `path` is a file;
    /// for anything else (`:memory:`, read-only, encryption) build the pool
    /// yourself and use [`SqliteStore::from_pool`].
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let cannot_open = |err: Box<dyn std::error::Error + Send + Sync>| {
            Error::store(err).with_detail(format!(
                "could not open the SQLite database at {}",
                path.display()
            ))
        };
        create_private(path).map_err(|e| cannot_open(e.into()))?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT);
        // `connect_with` opens one connection before returning: that one
        // switches a new file to WAL, and proves the path is usable.
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| cannot_open(e.into()))?;
        Ok(Self::from_pool(pool))
    }

    /// Wraps a pool you configured yourself. Give its connections a busy
    /// timeout shorter than the layer's `store_timeout`, and use WAL mode
    /// unless you have a reason not to: [`SqliteStore::open`] does both.
    pub fn from_pool(pool: SqlitePool) -> Self {
        Self {
            pool,
            sql: Arc::new(Sql::new(DEFAULT_TABLE)),
        }
    }

    /// The table sessions are kept in. Default: `sessionware_sessions`. Its
    /// index is named `<name>_expires_at`.
    ///
    /// # Panics
    ///
    /// Unless `name` is 1 to 63 ASCII letters, digits and `_`, does not start
    /// with a digit, and does not start with `sqlite_` (reserved by SQLite).
    /// The name goes into SQL text, so anything else is refused outright.
    pub fn table_name(self, name: &str) -> Self {
        if let Err(reason) = check_table_name(name) {
            panic!("SqliteStore::table_name: {name:?} {reason}");
        }
        self.try_table_name(name)
            .unwrap_or_else(|err| panic!("SqliteStore::table_name: {err}"))
    }

    /// Like [`SqliteStore::table_name`], but returns an invalid name as an
    /// [`Error`] of kind [`ErrorKind::InvalidConfig`], for a name read from
    /// configuration.
    pub fn try_table_name(mut self, name: &str) -> Result<Self, Error> {
        if let Err(reason) = check_table_name(name) {
            return Err(
                Error::new(ErrorKind::InvalidConfig, "invalid SQL identifier")
                    .with_detail(format!("table name {name:?} {reason}")),
            );
        }
        self.sql = Arc::new(Sql::new(name));
        Ok(self)
    }

    /// The operations every SQL store shares, on this store's table.
    fn table(&self) -> Table<'_, Sqlite> {
        Table::new(&self.pool, &self.sql.shared)
    }

    /// Creates the table and its deadline and owner indexes if they do not
    /// exist, adds the owner column to a table of an earlier version, then
    /// checks the result with [`SqliteStore::health`]. Idempotent and cheap:
    /// call it at every start-up. A table of that name with other columns is
    /// an error, never altered.
    pub async fn migrate(&self) -> Result<(), Error> {
        let error = |e| self.table().error(e);
        let mut connection = self.pool.acquire().await.map_err(error)?;
        let table = &self.sql.shared.table;
        let migrated = self
            .sql
            .migration
            .run::<Sqlite>(&mut connection, table)
            .await;
        drop(connection);
        migrated.map_err(error)?;
        self.health().await
    }

    /// A cheap readiness probe: a query that reads no row but names every
    /// column, so a missing or outdated table (no [`SqliteStore::migrate`])
    /// fails here, at start-up, with an error that says what to run
    /// (see *Configuration mistakes* in docs/threat-model.md).
    pub async fn health(&self) -> Result<(), Error> {
        self.table().health().await
    }
}

sql::sql_store_impls!(SqliteStore, EXPIRED_BATCH);

#[cfg(test)]
mod tests {
    use super::*;

    /// The fallible twin refuses what the panicking setter refuses, as an
    /// error of kind `InvalidConfig` naming the table, and accepts the rest.
    #[tokio::test]
    async fn try_table_name_returns_the_error_instead_of_panicking() {
        let store = migrated_in_memory().await;
        let err = store
            .clone()
            .try_table_name("sessions; DROP TABLE x")
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        assert!(
            err.to_string().contains("\"sessions; DROP TABLE x\""),
            "{err}"
        );
        assert!(store.try_table_name("app_sessions").is_ok());
    }

    #[test]
    fn table_names_are_checked() {
        for good in ["sessions", "_s", "App_Sessions_2", &"a".repeat(63)] {
            assert_eq!(check_table_name(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "1sessions",
            "sessions;",
            "a\"b",
            "a b",
            "sessiöns",
            "sqlite_master",
            "SQLITE_x",
            &"a".repeat(64),
        ] {
            assert!(check_table_name(bad).is_err(), "{bad:?}");
        }
    }

    /// A migrated store on a private in-memory database, table `t`.
    async fn migrated_in_memory() -> SqliteStore {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(SqliteConnectOptions::new().in_memory(true))
            .await
            .unwrap();
        let store = SqliteStore::from_pool(pool).table_name("t");
        store.migrate().await.unwrap();
        store
    }

    /// The batched delete finds expired rows through the deadline index,
    /// never by scanning the table.
    #[tokio::test]
    async fn delete_expired_uses_the_deadline_index() {
        let store = migrated_in_memory().await;
        let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(&format!(
            "EXPLAIN QUERY PLAN {}",
            store.sql.shared.delete_expired
        ))
        .bind(0i64)
        .fetch_all(&store.pool)
        .await
        .unwrap();
        let plan: Vec<_> = plan.into_iter().map(|row| row.3).collect();
        assert!(
            plan.iter().any(|step| step.contains("INDEX t_expires_at")),
            "{plan:?}"
        );
        assert!(
            !plan.iter().any(|step| step.starts_with("SCAN")),
            "{plan:?}"
        );
    }

    /// A user's sessions are found through the owner index (which leaves
    /// guests out), for the keys, the listing and `revoke_all`.
    #[tokio::test]
    async fn keys_of_uses_the_owner_index() {
        let store = migrated_in_memory().await;
        let shared = &store.sql.shared;
        for statement in [&shared.keys_of, &shared.records_of, &shared.revoke_all] {
            let plan: Vec<(i64, i64, i64, String)> =
                sqlx::query_as(&format!("EXPLAIN QUERY PLAN {statement}"))
                    .bind([0u8; 32].as_slice())
                    .bind(0i64)
                    .fetch_all(&store.pool)
                    .await
                    .unwrap();
            let plan: Vec<_> = plan.into_iter().map(|row| row.3).collect();
            assert!(
                plan.iter().any(|step| step.contains("INDEX t_owner")),
                "{plan:?}"
            );
        }
    }

    #[test]
    fn versions_keep_equality_across_the_sign_bit() {
        let version = |v| Sqlite::version(v).unwrap();
        assert_eq!(version(u64::MAX), -1);
        assert_ne!(version(u64::MAX), version(u64::MAX - 1));
    }
}
