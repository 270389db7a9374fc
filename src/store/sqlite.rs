//! `SqliteStore`: sessions in one SQLite file, the embedded store that survives restarts.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::sql::{self, Upgrade, millis};
use super::{SaveOutcome, SessionStore};
use crate::error::Error;
use crate::record::Record;
use crate::token::SessionKey;
use crate::user_index::{ErasedUserIndex, UserIndex};

/// The table used unless [`SqliteStore::table_name`] says otherwise.
const DEFAULT_TABLE: &str = "sessionware_sessions";
/// The longest table name [`SqliteStore::table_name`] accepts.
const MAX_TABLE_NAME_LEN: usize = 63;
/// Rows removed by one statement of [`SessionStore::delete_expired`]; the
/// write lock is released between batches so requests are not held up.
const EXPIRED_BATCH: u64 = 1_000;
/// How long a statement waits for another writer before failing with
/// `SQLITE_BUSY` (catalogue #59). Below the layer's default `store_timeout`
/// (3 s), so a locked database answers with an error of its own instead of a
/// cancelled call whose write might still land.
const BUSY_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a call waits for a free connection (catalogue #54).
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
///   versioned [`Record::encode`] bytes) and `owner BLOB` (the SHA-256 of
///   the record's owner, NULL for a guest; indexed without the NULLs).
///   Create it with [`SqliteStore::migrate`], which also adds `owner` to a
///   table of an earlier version: opening a store never changes the schema.
/// * **[`UserIndex`]**: a user's sessions are the rows with the digest of
///   their id, not yet expired; [`UserIndex::revoke_all`] is one `DELETE`
///   of them. `owner` is written by the statement that writes the record.
/// * **One statement per operation**: create is `INSERT .. ON CONFLICT DO
///   NOTHING`; save is one `UPDATE .. WHERE key = ? AND version = ?`, so the
///   version check and the write are a single atomic step.
/// * **No native expiry**: run [`SessionStore::delete_expired`] periodically.
///   It deletes in batches of 1,000 through the deadline index, checking the
///   deadline inside each `DELETE`, so a session refreshed meanwhile survives.
///
/// Cloning is cheap and every clone shares the same pool.
///
/// # Example
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use sessionware::{Record, SessionKey, SessionStore, SqliteStore};
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
/// record.data.insert("user".into(), "ferris".into());
/// assert!(store.create(&key, &record).await?);
/// assert_eq!(store.load(&key).await?.unwrap().data["user"], "ferris");
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
            .field("table", &self.sql.table)
            .finish_non_exhaustive()
    }
}

/// Every statement, written once for the table name.
#[derive(Debug)]
struct Sql {
    table: String,
    create_table: String,
    create_index: String,
    columns: String,
    add_owner: String,
    create_owner_index: String,
    probe: String,
    create: String,
    load: String,
    save: String,
    exists: String,
    delete: String,
    delete_expired: String,
    keys_of: String,
    revoke_all: String,
}

impl Sql {
    /// `table` is validated: ASCII letters, digits and `_`, so quoting it is enough.
    fn new(table: &str) -> Self {
        let t = format!("\"{table}\"");
        Self {
            table: table.to_owned(),
            create_table: format!(
                "CREATE TABLE IF NOT EXISTS {t} (\
                 key BLOB PRIMARY KEY NOT NULL CHECK (typeof(key) = 'blob' AND length(key) = 32), \
                 version INTEGER NOT NULL, \
                 expires_at INTEGER NOT NULL, \
                 data BLOB NOT NULL, \
                 owner BLOB)"
            ),
            create_index: format!(
                "CREATE INDEX IF NOT EXISTS \"{table}_expires_at\" ON {t} (expires_at)"
            ),
            columns: format!("SELECT name FROM pragma_table_info('{table}')"),
            add_owner: format!("ALTER TABLE {t} ADD COLUMN owner BLOB"),
            create_owner_index: format!(
                "CREATE INDEX IF NOT EXISTS \"{table}_owner\" ON {t} (owner) \
                 WHERE owner IS NOT NULL"
            ),
            probe: format!("SELECT key, version, expires_at, data, owner FROM {t} WHERE 0"),
            create: format!(
                "INSERT INTO {t} (key, version, expires_at, data, owner) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (key) DO NOTHING"
            ),
            load: format!("SELECT data FROM {t} WHERE key = ?1"),
            save: format!(
                "UPDATE {t} SET version = ?1, expires_at = ?2, data = ?3, owner = ?6 \
                 WHERE key = ?4 AND version = ?5"
            ),
            exists: format!("SELECT 1 FROM {t} WHERE key = ?1"),
            delete: format!("DELETE FROM {t} WHERE key = ?1"),
            // The deadline is checked by the DELETE itself, in the same
            // statement as the removal (catalogue #60); the sub-select only
            // bounds the batch, through the index on `expires_at`.
            delete_expired: format!(
                "DELETE FROM {t} WHERE expires_at <= ?1 AND rowid IN \
                 (SELECT rowid FROM {t} WHERE expires_at <= ?1 LIMIT ?2)"
            ),
            keys_of: format!("SELECT key FROM {t} WHERE owner = ?1 AND expires_at > ?2"),
            revoke_all: format!("DELETE FROM {t} WHERE owner = ?1 AND expires_at > ?2"),
        }
    }
}

/// Versions are stored bit for bit as signed integers, so equality is kept
/// for every `u64`.
fn version(version: u64) -> i64 {
    version.cast_signed()
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
    /// Opening never changes the schema: call [`SqliteStore::migrate`] next,
    /// after [`SqliteStore::table_name`] if you use one. `path` is a file;
    /// for anything else (`:memory:`, read-only, encryption) build the pool
    /// yourself and use [`SqliteStore::from_pool`].
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
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
            .map_err(|e| {
                Error::store(e).with_detail(format!(
                    "could not open the SQLite database at {}",
                    path.display()
                ))
            })?;
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
    pub fn table_name(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        if let Err(reason) = check_table_name(&name) {
            panic!("SqliteStore::table_name: {name:?} {reason}");
        }
        self.sql = Arc::new(Sql::new(&name));
        self
    }

    /// Creates the table and its deadline and owner indexes if they do not
    /// exist, adds the owner column to a table of an earlier version, then
    /// checks the result with [`SqliteStore::health`]. Idempotent and cheap:
    /// call it at every start-up. A table of that name with other columns is
    /// an error, never altered.
    pub async fn migrate(&self) -> Result<(), Error> {
        for statement in [&self.sql.create_table, &self.sql.create_index] {
            sqlx::query(statement)
                .execute(&self.pool)
                .await
                .map_err(|e| self.fail(e))?;
        }
        let columns: Vec<String> = sqlx::query_scalar(&self.sql.columns)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.fail(e))?;
        if sql::upgrade(&columns) == Upgrade::AddOwner {
            match sqlx::query(&self.sql.add_owner).execute(&self.pool).await {
                // Another process added it since we looked.
                Err(sqlx::Error::Database(db)) if db.message().contains("duplicate column") => {}
                Err(e) => return Err(self.fail(e)),
                Ok(_) => {}
            }
        }
        sqlx::query(&self.sql.create_owner_index)
            .execute(&self.pool)
            .await
            .map_err(|e| self.fail(e))?;
        self.health().await
    }

    /// A cheap readiness probe: a query that reads no row but names every
    /// column, so a missing or outdated table (no [`SqliteStore::migrate`])
    /// fails here, at start-up, with an error that says what to run
    /// (catalogue #56).
    pub async fn health(&self) -> Result<(), Error> {
        sqlx::query(&self.sql.probe)
            .fetch_optional(&self.pool)
            .await
            .map(drop)
            .map_err(|e| self.fail(e))
    }

    /// A store error, with a hint for the two failures an operator can fix.
    fn fail(&self, err: sqlx::Error) -> Error {
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
                    self.sql.table
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

impl SessionStore for SqliteStore {
    async fn health(&self) -> Result<(), Error> {
        SqliteStore::health(self).await
    }

    async fn create(&self, key: &SessionKey, record: &Record) -> Result<bool, Error> {
        let done = sqlx::query(&self.sql.create)
            .bind(key.as_bytes().as_slice())
            .bind(version(record.version))
            .bind(millis(record.expires_at))
            .bind(record.encode())
            .bind(sql::owner_digest(record.owner.as_deref()).map(Vec::from))
            .execute(&self.pool)
            .await
            .map_err(|e| self.fail(e))?;
        Ok(done.rows_affected() == 1)
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<Record>, Error> {
        let bytes: Option<Vec<u8>> = sqlx::query_scalar(&self.sql.load)
            .bind(key.as_bytes().as_slice())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.fail(e))?;
        bytes.map(|bytes| Record::decode(&bytes)).transpose()
    }

    /// One conditional `UPDATE`. When it changes no row, a second query tells
    /// a conflict from a missing record. That answer may already be stale,
    /// which is safe: nothing was written, and the layer treats both outcomes
    /// as "reload before writing" or "the session is gone".
    async fn save(
        &self,
        key: &SessionKey,
        record: &Record,
        expected_version: u64,
    ) -> Result<SaveOutcome, Error> {
        let done = sqlx::query(&self.sql.save)
            .bind(version(record.version))
            .bind(millis(record.expires_at))
            .bind(record.encode())
            .bind(key.as_bytes().as_slice())
            .bind(version(expected_version))
            .bind(sql::owner_digest(record.owner.as_deref()).map(Vec::from))
            .execute(&self.pool)
            .await
            .map_err(|e| self.fail(e))?;
        if done.rows_affected() > 0 {
            return Ok(SaveOutcome::Saved);
        }
        let exists: Option<i64> = sqlx::query_scalar(&self.sql.exists)
            .bind(key.as_bytes().as_slice())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.fail(e))?;
        Ok(match exists {
            Some(_) => SaveOutcome::Conflict,
            None => SaveOutcome::Missing,
        })
    }

    async fn delete(&self, key: &SessionKey) -> Result<bool, Error> {
        let done = sqlx::query(&self.sql.delete)
            .bind(key.as_bytes().as_slice())
            .execute(&self.pool)
            .await
            .map_err(|e| self.fail(e))?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes records whose deadline has passed (`expires_at <= now`, as
    /// [`Record::is_expired`] judges), 1,000 per statement, until a batch
    /// comes back short. `now` is read once, so records expiring during the
    /// run wait for the next one and the loop always ends.
    async fn delete_expired(&self) -> Result<u64, Error> {
        let now = millis(SystemTime::now());
        sql::in_batches(EXPIRED_BATCH, || async {
            let done = sqlx::query(&self.sql.delete_expired)
                .bind(now)
                .bind(EXPIRED_BATCH.cast_signed())
                .execute(&self.pool)
                .await
                .map_err(|e| self.fail(e))?;
            Ok(done.rows_affected())
        })
        .await
    }

    fn user_index(&self) -> Option<&dyn ErasedUserIndex> {
        Some(self)
    }
}

/// The index is the `owner` column of each row: nothing to forget.
impl UserIndex for SqliteStore {
    /// The keys of `user`'s rows whose deadline has not passed.
    async fn keys_of(&self, user: &str) -> Result<Vec<SessionKey>, Error> {
        let rows: Vec<Vec<u8>> = sqlx::query_scalar(&self.sql.keys_of)
            .bind(sql::user_digest(user).as_slice())
            .bind(millis(SystemTime::now()))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.fail(e))?;
        sql::session_keys(rows)
    }

    async fn forget(&self, _user: &str, _stale: &[SessionKey]) -> Result<(), Error> {
        Ok(())
    }

    /// One `DELETE` of the rows [`UserIndex::keys_of`] lists; returns how many.
    async fn revoke_all(&self, user: &str) -> Result<u64, Error> {
        let done = sqlx::query(&self.sql.revoke_all)
            .bind(sql::user_digest(user).as_slice())
            .bind(millis(SystemTime::now()))
            .execute(&self.pool)
            .await
            .map_err(|e| self.fail(e))?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// The batched delete finds expired rows through the deadline index,
    /// never by scanning the table.
    #[tokio::test]
    async fn delete_expired_uses_the_deadline_index() {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(SqliteConnectOptions::new().in_memory(true))
            .await
            .unwrap();
        let store = SqliteStore::from_pool(pool).table_name("t");
        store.migrate().await.unwrap();
        let plan: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN {}", store.sql.delete_expired))
                .bind(0i64)
                .bind(10i64)
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
    /// guests out), for the listing and for `revoke_all`.
    #[tokio::test]
    async fn keys_of_uses_the_owner_index() {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(SqliteConnectOptions::new().in_memory(true))
            .await
            .unwrap();
        let store = SqliteStore::from_pool(pool).table_name("t");
        store.migrate().await.unwrap();
        for statement in [&store.sql.keys_of, &store.sql.revoke_all] {
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
        assert_eq!(version(u64::MAX), -1);
        assert_ne!(version(u64::MAX), version(u64::MAX - 1));
    }
}
