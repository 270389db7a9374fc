//! What the SQL stores share: the operations every engine runs alike on a
//! session table ([`Table`], with what sets each engine apart in
//! [`Engine`]), deadlines as milliseconds, the owner column of the user
//! index (`index`), what `migrate` does to a table and how it adds the owner
//! column to a table without it (`migrate`) and, for the server stores
//! (Postgres, MySQL), identifier checks, the checked first connection and
//! error details that name the fix (`server`).

mod impls;
mod index;
mod migrate;
#[cfg(any(feature = "postgres-store", feature = "mysql-store"))]
mod server;

pub(crate) use impls::sql_store_impls;

use std::time::SystemTime;

use sqlx::database::HasStatementCache;
use sqlx::pool::Pool;
use sqlx::query::Query;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};

#[cfg(any(feature = "postgres-store", feature = "sqlite-store"))]
pub(super) use self::migrate::Migration;
#[cfg(feature = "mysql-store")]
pub(super) use self::migrate::{Upgrade, upgrade};
#[cfg(any(feature = "postgres-store", feature = "mysql-store"))]
pub(super) use self::server::*;
use super::{SaveOutcome, UserRecords};
use crate::error::{Error, ErrorKind};
use crate::record::Record;
use crate::token::SessionKey;

/// How many times a write is tried when the engine rolled it back to break
/// a deadlock ([`Engine::deadlocked`]).
const WRITE_ATTEMPTS: u32 = 3;

/// How many `DELETE`s [`Table::revoke_all`] runs before it gives up on a
/// user whose sessions keep appearing.
const MAX_REVOKE_STATEMENTS: usize = 8;

/// Milliseconds since the epoch, saturating, as a signed `BIGINT` or SQLite
/// integer holds them; a time before the epoch is 0.
pub(super) fn millis(time: SystemTime) -> i64 {
    i64::try_from(crate::record::unix_millis(time)).unwrap_or(i64::MAX)
}

/// Runs `batch` (a `DELETE` of at most `size` rows) until it removes fewer
/// than `size`; returns the total.
async fn in_batches<F>(size: u64, mut batch: impl FnMut() -> F) -> Result<u64, Error>
where
    F: Future<Output = Result<u64, Error>>,
{
    let mut total = 0;
    loop {
        let removed = batch().await?;
        total += removed;
        if removed < size {
            return Ok(total);
        }
    }
}

/// What sets one SQL engine apart in the operations of a [`Table`].
pub(super) trait Engine: Database + HasStatementCache {
    /// A version as the table's `version` column holds it.
    type Version: for<'q> Encode<'q, Self> + Type<Self> + Copy + Send + Sync + 'static;

    /// `version` as stored, or an error if the column cannot hold it.
    fn version(version: u64) -> Result<Self::Version, Error>;

    /// A deadline as stored: milliseconds since the epoch, as [`millis`]
    /// writes them.
    fn deadline(time: SystemTime) -> i64 {
        millis(time)
    }

    /// The "now" that the statements comparing deadlines with the present
    /// take as their last parameter, or `None` where they read the
    /// database's clock. Default: `None`.
    fn now() -> Option<i64> {
        None
    }

    /// How many rows a statement wrote (for MySQL: matched).
    fn rows_affected(done: &Self::QueryResult) -> u64;

    /// Whether the engine rolled back the write that failed with `err` to
    /// break a deadlock, so that running it again is safe. Default: never.
    fn deadlocked(_err: &sqlx::Error) -> bool {
        false
    }

    /// Whether `err` says the column a statement adds exists (another
    /// instance added it first). Default: never.
    #[cfg(any(feature = "postgres-store", feature = "sqlite-store"))]
    fn duplicate_column(_err: &sqlx::Error) -> bool {
        false
    }

    /// A store error, with a detail that names the fix where there is one.
    /// Only the driver's error is kept, as the source: no data, no SQL.
    fn error(table: &Table<'_, Self>, err: sqlx::Error) -> Error;
}

/// The statements every SQL store runs alike, each store's text for its
/// table. Parameters are bound in the order given.
pub(super) struct Statements {
    /// The table as messages name it.
    pub(super) table: String,
    /// Key, version, deadline, data, owner: inserts nothing, or fails on the
    /// primary key, if the key is taken.
    pub(super) insert: String,
    /// The data under a key.
    pub(super) load: String,
    /// Version, deadline, data, owner, then the key and the expected version.
    pub(super) save: String,
    /// A row if one is stored under the key, none otherwise.
    pub(super) exists: String,
    /// Deletes the row under a key.
    pub(super) delete: String,
    /// Deletes at most one batch of rows past their deadline, checking the
    /// deadline in the `DELETE` itself; its one parameter, if any, is "now".
    pub(super) delete_expired: String,
    /// The keys of the rows of an owner digest, expired or not (the layer
    /// judges deadlines, and revocation ignores them).
    pub(super) keys_of: String,
    /// The keys and data of the rows of an owner digest, expired or not:
    /// a user's sessions in one query, for [`Table::sessions`].
    pub(super) records_of: String,
    /// Deletes the rows [`Statements::keys_of`] lists; same parameter.
    pub(super) revoke_all: String,
    /// Selects no row but names every column.
    pub(super) health: String,
}

/// A record's columns as the engine stores them, in the order the insert
/// and save statements take them.
struct Columns<V> {
    version: V,
    deadline: i64,
    data: Vec<u8>,
    owner: Option<[u8; 32]>,
}

/// A store's session table: its pool and its [`Statements`], with the
/// operations every SQL store runs alike on them.
pub(super) struct Table<'a, DB: Engine> {
    /// The store's pool.
    pub(super) pool: &'a Pool<DB>,
    /// The store's statements.
    pub(super) sql: &'a Statements,
}

impl<'a, DB: Engine> Table<'a, DB> {
    /// The table of `sql` on `pool`.
    pub(super) fn new(pool: &'a Pool<DB>, sql: &'a Statements) -> Self {
        Self { pool, sql }
    }
}

impl<DB: Engine> Table<'_, DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q [u8]>: Encode<'q, DB>,
    i64: for<'q> Encode<'q, DB> + Type<DB>,
    Vec<u8>: for<'r> Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    /// Inserts `record` unless `key` is taken; whether it did.
    pub(super) async fn create(&self, key: &SessionKey, record: &Record) -> Result<bool, Error> {
        let columns = Self::columns(record)?;
        let inserted = self
            .write(|| {
                let query = sqlx::query(&self.sql.insert).bind(key.as_bytes().as_slice());
                Self::bind(query, &columns)
            })
            .await;
        match inserted {
            Ok(done) => Ok(DB::rows_affected(&done) == 1),
            // The primary key is the table's only unique key: this is "taken".
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => Ok(false),
            Err(e) => Err(self.error(e)),
        }
    }

    /// The record under `key`, or `None`.
    pub(super) async fn load(&self, key: &SessionKey) -> Result<Option<Record>, Error> {
        let bytes: Option<Vec<u8>> = sqlx::query_scalar(&self.sql.load)
            .bind(key.as_bytes().as_slice())
            .fetch_optional(self.pool)
            .await
            .map_err(|e| self.error(e))?;
        bytes.map(|bytes| Record::decode(&bytes)).transpose()
    }

    /// Writes `record` if the stored version is `expected_version`, in one
    /// conditional `UPDATE`; only if that wrote nothing, asks whether the
    /// row exists, to tell a conflict from a missing record.
    pub(super) async fn save(
        &self,
        key: &SessionKey,
        record: &Record,
        expected_version: u64,
    ) -> Result<SaveOutcome, Error> {
        let (columns, expected) = (Self::columns(record)?, DB::version(expected_version)?);
        let done = self
            .write(|| {
                Self::bind(sqlx::query(&self.sql.save), &columns)
                    .bind(key.as_bytes().as_slice())
                    .bind(expected)
            })
            .await
            .map_err(|e| self.error(e))?;
        if DB::rows_affected(&done) > 0 {
            return Ok(SaveOutcome::Saved);
        }
        // Nothing was written; this only says why.
        let row = sqlx::query(&self.sql.exists)
            .bind(key.as_bytes().as_slice())
            .fetch_optional(self.pool)
            .await
            .map_err(|e| self.error(e))?;
        Ok(match row {
            Some(_) => SaveOutcome::Conflict,
            None => SaveOutcome::Missing,
        })
    }

    /// Deletes the row under `key`; whether there was one.
    pub(super) async fn delete(&self, key: &SessionKey) -> Result<bool, Error> {
        let done = self
            .write(|| sqlx::query(&self.sql.delete).bind(key.as_bytes().as_slice()))
            .await
            .map_err(|e| self.error(e))?;
        Ok(DB::rows_affected(&done) > 0)
    }

    /// Deletes expired rows a batch of `batch` at a time (one short
    /// transaction each) until a batch comes back short; returns the total.
    /// A "now" the engine binds is read once, so the loop always ends.
    pub(super) async fn delete_expired(&self, batch: u64) -> Result<u64, Error> {
        let now = DB::now();
        in_batches(batch, || async {
            let done = self
                .write(|| at(sqlx::query(&self.sql.delete_expired), now))
                .await
                .map_err(|e| self.error(e))?;
            Ok(DB::rows_affected(&done))
        })
        .await
    }

    /// The keys of `user`'s rows, expired or not.
    pub(super) async fn keys_of(&self, user: &str) -> Result<Vec<SessionKey>, Error> {
        let digest = index::user_digest(user);
        let query = sqlx::query_scalar(&self.sql.keys_of).bind(digest.as_slice());
        let rows: Vec<Vec<u8>> = query
            .fetch_all(self.pool)
            .await
            .map_err(|e| self.error(e))?;
        index::session_keys(rows)
    }

    /// The rows of `user` whose record names them, expired or not, from one
    /// query ([`Statements::records_of`]) instead of a load per key. A row
    /// is its own index entry, so nothing is ever stale or vanished here.
    pub(super) async fn records_of(&self, user: &str) -> Result<UserRecords, Error> {
        let digest = index::user_digest(user);
        let rows = sqlx::query(&self.sql.records_of)
            .bind(digest.as_slice())
            .fetch_all(self.pool)
            .await
            .map_err(|e| self.error(e))?;
        let mut listed = UserRecords::default();
        for row in rows {
            let key: Vec<u8> = row.try_get(0).map_err(|e| self.error(e))?;
            let data: Vec<u8> = row.try_get(1).map_err(|e| self.error(e))?;
            let record = Record::decode(&data)?;
            if record.owner.as_deref() == Some(user) {
                listed.records.push((index::session_key(key)?, record));
            }
        }
        Ok(listed)
    }

    /// Deletes every row of `user`, expired or not (another node's clock
    /// may still accept one), and repeats the `DELETE` until one deletes
    /// nothing: a session that moved to a fresh id while the first ran (its
    /// new row inserted after that statement's snapshot) is deleted by the
    /// next. Returns how many rows were deleted.
    pub(super) async fn revoke_all(&self, user: &str) -> Result<u64, Error> {
        let digest = index::user_digest(user);
        let mut total = 0;
        for _ in 0..MAX_REVOKE_STATEMENTS {
            let done = self
                .write(|| sqlx::query(&self.sql.revoke_all).bind(digest.as_slice()))
                .await
                .map_err(|e| self.error(e))?;
            let deleted = DB::rows_affected(&done);
            if deleted == 0 {
                return Ok(total);
            }
            total += deleted;
        }
        Err(Error::new(
            ErrorKind::Conflict,
            "the user's sessions kept changing during a revocation",
        )
        .with_detail(format!(
            "each of {MAX_REVOKE_STATEMENTS} DELETE statements found new rows"
        )))
    }

    /// Selects no rows from the table, naming every column.
    pub(super) async fn health(&self) -> Result<(), Error> {
        sqlx::query(&self.sql.health)
            .execute(self.pool)
            .await
            .map(drop)
            .map_err(|e| self.error(e))
    }

    /// `record`'s columns, as the engine stores them.
    fn columns(record: &Record) -> Result<Columns<DB::Version>, Error> {
        Ok(Columns {
            version: DB::version(record.version)?,
            deadline: DB::deadline(record.expires_at),
            data: record.encode(),
            owner: index::owner_digest(record.owner.as_deref()),
        })
    }

    /// `query` with `columns` bound next, in their order.
    fn bind<'q>(
        query: Query<'q, DB, DB::Arguments<'q>>,
        columns: &'q Columns<DB::Version>,
    ) -> Query<'q, DB, DB::Arguments<'q>> {
        query
            .bind(columns.version)
            .bind(columns.deadline)
            .bind(columns.data.as_slice())
            .bind(columns.owner.as_ref().map(|o| o.as_slice()))
    }

    /// Runs the write `build` makes, again if the engine rolled it back to
    /// break a deadlock.
    async fn write<'q>(
        &self,
        build: impl Fn() -> Query<'q, DB, DB::Arguments<'q>>,
    ) -> Result<DB::QueryResult, sqlx::Error> {
        let mut attempt = 1;
        loop {
            match build().execute(self.pool).await {
                Err(err) if attempt < WRITE_ATTEMPTS && DB::deadlocked(&err) => attempt += 1,
                done => return done,
            }
        }
    }

    /// A store error for `err` ([`Engine::error`]).
    pub(super) fn error(&self, err: sqlx::Error) -> Error {
        DB::error(self, err)
    }
}

/// `query` with `now` bound last, where the engine binds it.
fn at<'q, DB: Engine>(
    query: Query<'q, DB, DB::Arguments<'q>>,
    now: Option<i64>,
) -> Query<'q, DB, DB::Arguments<'q>>
where
    i64: Encode<'q, DB> + Type<DB>,
{
    match now {
        Some(now) => query.bind(now),
        None => query,
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn millis_saturate_and_start_at_the_epoch() {
        assert_eq!(millis(UNIX_EPOCH), 0);
        assert_eq!(millis(UNIX_EPOCH + Duration::from_millis(1_234)), 1_234);
        assert_eq!(millis(UNIX_EPOCH - Duration::from_secs(1)), 0);
    }
}
