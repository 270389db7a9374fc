//! `MySqlStore`: sessions in a MySQL or MariaDB table, versions checked by the database.

use sqlx::mysql::{MySql, MySqlConnectOptions, MySqlDatabaseError, MySqlPool, MySqlQueryResult};
use std::sync::Arc;

use super::sql::{self, Backend, Engine, Statements, Table, Upgrade};
use crate::error::Error;

/// The table used unless [`MySqlStore::table_name`] says otherwise.
const DEFAULT_TABLE: &str = "sessionware_sessions";
/// The longest table name accepted (MySQL allows 64).
const MAX_IDENTIFIER: usize = 63;
/// Rows removed by one `DELETE` of [`SessionStore::delete_expired`](crate::SessionStore::delete_expired).
const BATCH: u64 = 1_000;
/// How this store names MySQL and itself in errors.
const BACKEND: Backend = Backend {
    name: "MySQL",
    store: "MySqlStore",
    invalid_url: "invalid MySQL URL",
};
/// MySQL error numbers that mean the migration is missing: no such table,
/// unknown column, unknown database.
const NOT_MIGRATED: [u16; 3] = [1146, 1054, 1049];
/// The database's clock in milliseconds since 1970, from two UTC `DATETIME`s
/// so that no time-zone conversion (and no daylight-saving fold) is involved.
const NOW_MILLIS: &str =
    "(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(3)) DIV 1000)";
/// `ER_LOCK_DEADLOCK`: InnoDB rolled the statement back to break a lock cycle.
const DEADLOCK: u16 = 1213;
/// `ER_DUP_FIELDNAME`, `ER_DUP_KEYNAME`: another instance's `migrate` added
/// the owner column or its index first.
const ALREADY_ADDED: [u16; 2] = [1060, 1061];
/// The columns of the connection database's table `?`, and whether it has
/// the owner index. MySQL 8 has no `ADD COLUMN IF NOT EXISTS`, so `migrate`
/// asks first (on MariaDB too, which has it).
const INSPECT: &str = "SELECT CAST(column_name AS CHAR), \
     (SELECT COUNT(*) FROM information_schema.statistics s WHERE s.table_schema = DATABASE() \
      AND s.table_name = c.table_name AND s.index_name = 'owner_idx') \
     FROM information_schema.columns c WHERE c.table_schema = DATABASE() AND c.table_name = ?";

/// Sessions in a MySQL or MariaDB table (feature `mysql-store`), on `sqlx`.
///
/// * **One statement** per load, create, save and delete. Save is
///   `UPDATE .. WHERE key = ? AND version = ?`, so the version check and the
///   write are one atomic step in the database. `sqlx` connects with
///   `CLIENT_FOUND_ROWS`, so the row count is of *matched* rows, and a save
///   that happens to change nothing still counts as saved. Only a save that
///   matched nothing asks a second question (does the row exist?) to tell
///   [`SaveOutcome::Conflict`](crate::store::SaveOutcome::Conflict) from [`SaveOutcome::Missing`](crate::store::SaveOutcome::Missing); that answer
///   only labels a save that already failed, so a race there cannot write
///   anything (see *Concurrent requests* in docs/threat-model.md).
/// * **Create is a plain `INSERT`**, and only a duplicate-key error on the
///   primary key is read as "taken". `INSERT IGNORE` would also turn data
///   errors into warnings, and `ON DUPLICATE KEY UPDATE key = key` reports one
///   row for both an insert and a kept row under `CLIENT_FOUND_ROWS`: either
///   could report a session as created when it was not.
/// * **Only digests reach SQL.** Every value is a bound parameter and the key
///   is the 32 bytes of the [`SessionKey`](crate::store::SessionKey) digest in a `BINARY(32)` column, so
///   no cookie text is ever part of a statement.
/// * **Expired rows** are removed by [`SessionStore::delete_expired`](crate::SessionStore::delete_expired) (run it
///   with [`CleanupTask`](crate::CleanupTask)), oldest first in batches of
///   1,000 through the index on `expires_at`. Each `DELETE` checks the
///   deadline itself, on the row as it is locked, so a just-refreshed session
///   is never removed. "Now" is the database's clock in UTC
///   (`UTC_TIMESTAMP(3)`, whatever the session's `time_zone`), one time source
///   for every instance;
///   the layer still judges each load by its own clock.
/// * **[`UserIndex`](crate::UserIndex)**: `owner` holds the SHA-256 of the record's owner
///   (NULL for a guest), written by the statement that writes the record. A
///   user's sessions are the rows with that digest, expired or not (another
///   node's clock may still accept one), listed by
///   [`UserIndex::sessions`](crate::UserIndex::sessions) with one `SELECT` of
///   their keys and data; [`UserIndex::revoke_all`](crate::UserIndex::revoke_all)
///   `DELETE`s them, again until a statement deletes nothing, so a session
///   that changed its id meanwhile is caught.
/// * **Deadlocks are retried.** A cleanup batch locks the deadline index
///   before the rows, a save the row before the index, so InnoDB may break
///   the cycle by rolling one of them back (`ER_LOCK_DEADLOCK`). Each write
///   is one conditional statement, rolled back whole, so it is safely run
///   again, up to 3 times.
/// * **The table** (in the connection's database) has a validated name,
///   always quoted. [`MySqlStore::migrate`] creates it (idempotently):
///
///   ```sql
///   CREATE TABLE IF NOT EXISTS `sessionware_sessions` (
///       `key`        BINARY(32) NOT NULL PRIMARY KEY,
///       `version`    BIGINT UNSIGNED NOT NULL,
///       `expires_at` BIGINT NOT NULL, -- milliseconds since 1970, UTC
///       `data`       LONGBLOB NOT NULL, -- Record::encode, binary-safe
///       `owner`      BINARY(32) NULL, -- SHA-256 of Record::owner, or NULL
///       KEY `expires_at_idx` (`expires_at`),
///       KEY `owner_idx` (`owner`)
///   ) ENGINE = InnoDB
///   ```
///
///   It adds `owner` and its index to a table of an earlier version (until
///   it has, writes and [`MySqlStore::health`] fail with an error that says so).
/// * **Connections**: a `sqlx` pool. [`MySqlStore::connect`] opens at most
///   10 connections and waits at most 2 s for a free one, so an exhausted
///   pool fails requests quickly instead of queueing them without bound
///   (see *Store outages and slow stores* in docs/threat-model.md). Each
///   connection is checked before use, so after an
///   outage the next request reconnects, without restarting the application.
///
/// Cloning is cheap and every clone shares the pool.
///
/// # Example
///
/// ```no_run
/// use std::time::Duration;
/// use sessionware::{CleanupTask, MySqlStore, SessionLayer};
/// # async fn run(secret: &[u8]) -> Result<(), sessionware::Error> {
/// let store = MySqlStore::connect("mysql://app:password@127.0.0.1:3306/app")
///     .await?
///     .table_name("sessions");
/// store.migrate().await?; // or `store.health().await?` if the table is managed elsewhere
/// let cleanup = CleanupTask::spawn(store.clone(), Duration::from_secs(300));
/// let layer = SessionLayer::new(store, secret);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MySqlStore {
    pool: MySqlPool,
    sql: Arc<Sql>,
}

impl std::fmt::Debug for MySqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MySqlStore")
            .field("table", &self.sql.shared.table)
            .field("connections", &self.pool.size())
            .finish_non_exhaustive()
    }
}

/// Every statement, built once from the validated, quoted table name: those
/// of the operations every SQL store shares, and that of `migrate`.
struct Sql {
    shared: Statements,
    create_table: String,
}

impl Sql {
    fn new(table: &str) -> Self {
        let t = format!("`{table}`");
        Self {
            create_table: format!(
                "CREATE TABLE IF NOT EXISTS {t} (\
                 `key` BINARY(32) NOT NULL PRIMARY KEY, \
                 `version` BIGINT UNSIGNED NOT NULL, \
                 `expires_at` BIGINT NOT NULL, \
                 `data` LONGBLOB NOT NULL, \
                 `owner` BINARY(32) NULL, \
                 KEY `expires_at_idx` (`expires_at`), \
                 KEY `owner_idx` (`owner`)) ENGINE = InnoDB"
            ),
            shared: Statements {
                insert: format!(
                    "INSERT INTO {t} (`key`, `version`, `expires_at`, `data`, `owner`) \
                     VALUES (?, ?, ?, ?, ?)"
                ),
                load: format!("SELECT `data` FROM {t} WHERE `key` = ?"),
                save: format!(
                    "UPDATE {t} SET `version` = ?, `expires_at` = ?, `data` = ?, `owner` = ? \
                     WHERE `key` = ? AND `version` = ?"
                ),
                exists: format!("SELECT 1 FROM {t} WHERE `key` = ?"),
                delete: format!("DELETE FROM {t} WHERE `key` = ?"),
                // Ordered by the index (which ends with the primary key), so the
                // statement is deterministic for statement-based replication.
                delete_expired: format!(
                    "DELETE FROM {t} WHERE `expires_at` <= {NOW_MILLIS} \
                     ORDER BY `expires_at`, `key` LIMIT {BATCH}"
                ),
                keys_of: format!("SELECT `key` FROM {t} WHERE `owner` = ?"),
                records_of: format!("SELECT `key`, `data` FROM {t} WHERE `owner` = ?"),
                revoke_all: format!("DELETE FROM {t} WHERE `owner` = ?"),
                health: format!(
                    "SELECT `key`, `version`, `expires_at`, `data`, `owner` FROM {t} LIMIT 0"
                ),
                table: t,
            },
        }
    }
}

/// The MySQL error number of `err`, if it is a MySQL error.
fn number(err: &sqlx::Error) -> Option<u16> {
    err.as_database_error()?
        .try_downcast_ref::<MySqlDatabaseError>()
        .map(MySqlDatabaseError::number)
}

impl Engine for MySql {
    type Version = u64;

    fn version(version: u64) -> Result<u64, Error> {
        Ok(version)
    }

    fn rows_affected(done: &MySqlQueryResult) -> u64 {
        done.rows_affected()
    }

    /// A deadlock victim: InnoDB rolled the whole statement back.
    fn deadlocked(err: &sqlx::Error) -> bool {
        number(err) == Some(DEADLOCK)
    }

    fn error(table: &Table<'_, Self>, err: sqlx::Error) -> Error {
        let not_migrated = number(&err).is_some_and(|n| NOT_MIGRATED.contains(&n));
        sql::error(err, not_migrated, BACKEND, &table.sql.table, table.pool)
    }
}

impl MySqlStore {
    /// Connects to `url` (`mysql://user:password@host:3306/database`, with
    /// `ssl-mode` and the other `sqlx` URL options) and fails with a clear
    /// error if the server cannot be reached within 5 s or refuses the login.
    ///
    /// The pool opens at most 10 connections and waits at most 2 s for a free
    /// one; build your own pool and use [`MySqlStore::from_pool`] to change
    /// that. Call [`MySqlStore::migrate`] or [`MySqlStore::health`] next, so
    /// that a missing table is reported at start-up rather than at the first
    /// request.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        let pool = sql::connect::<MySql>(url, BACKEND, |o: &MySqlConnectOptions| {
            sql::server(o.get_host(), o.get_port(), o.get_database())
        })
        .await?;
        Ok(Self::from_pool(pool))
    }

    /// Uses a pool you configured yourself (size, timeouts, TLS), on the
    /// default table `sessionware_sessions` of the connection's database.
    ///
    /// Keep an `acquire_timeout` (sqlx's default is 30 s) shorter than the
    /// layer's `store_timeout`, so that an exhausted pool fails fast.
    pub fn from_pool(pool: MySqlPool) -> Self {
        Self {
            pool,
            sql: Arc::new(Sql::new(DEFAULT_TABLE)),
        }
    }

    /// The table holding the sessions, in the connection's database.
    /// Default: `sessionware_sessions`.
    ///
    /// # Panics
    ///
    /// If `name` is not 1 to 63 ASCII letters, digits or underscores starting
    /// with a letter or an underscore. Whether `Sessions` and `sessions` are
    /// one table depends on the server's `lower_case_table_names`.
    pub fn table_name(self, name: &str) -> Self {
        self.try_table_name(name)
            .unwrap_or_else(|err| panic!("MySqlStore::table_name: {err}"))
    }

    /// Like [`MySqlStore::table_name`], but returns an invalid name as an
    /// [`Error`] of kind [`ErrorKind::InvalidConfig`](crate::ErrorKind::InvalidConfig), for a name read from
    /// configuration.
    pub fn try_table_name(mut self, name: &str) -> Result<Self, Error> {
        sql::check_identifier("table name", name, MAX_IDENTIFIER)?;
        self.sql = Arc::new(Sql::new(name));
        Ok(self)
    }

    /// The pool, to share with the rest of the application.
    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// The operations every SQL store shares, on this store's table.
    fn table(&self) -> Table<'_, MySql> {
        Table::new(&self.pool, &self.sql.shared)
    }

    /// Creates the table with its deadline and owner indexes if it does not
    /// exist, and adds the owner column and its index to a table of an
    /// earlier version; then checks the table with [`MySqlStore::health`].
    /// Safe to run at every start-up, from every instance at once (the
    /// server serializes `CREATE TABLE`, and an `ALTER TABLE` that another
    /// instance ran first is taken as done). Needs the `CREATE` privilege,
    /// and `ALTER` to upgrade a table. A table of that name with other
    /// columns is never altered.
    pub async fn migrate(&self) -> Result<(), Error> {
        let failed = sql::not_created(&self.sql.shared.table);
        self.upgrade().await.map_err(failed)?;
        self.health().await
    }

    /// The statements of [`MySqlStore::migrate`].
    async fn upgrade(&self) -> Result<(), sqlx::Error> {
        sqlx::query(&self.sql.create_table)
            .persistent(false)
            .execute(&self.pool)
            .await?;
        let name = self.sql.shared.table.trim_matches('`');
        // Another instance may add the column or the index between our look
        // and our `ALTER`: then look again.
        for _ in 0..3 {
            let rows: Vec<(String, i64)> = sqlx::query_as(INSPECT)
                .bind(name)
                .fetch_all(&self.pool)
                .await?;
            let columns: Vec<&str> = rows.iter().map(|(column, _)| column.as_str()).collect();
            let add_column = match sql::upgrade(&columns) {
                Upgrade::Foreign => return Ok(()), // left to `health` to report
                upgrade => upgrade == Upgrade::AddOwner,
            };
            let add_index = rows.first().is_some_and(|&(_, indexed)| indexed == 0);
            let changes = [
                add_column.then_some("ADD COLUMN `owner` BINARY(32) NULL"),
                add_index.then_some("ADD KEY `owner_idx` (`owner`)"),
            ];
            let changes: Vec<&str> = changes.into_iter().flatten().collect();
            if changes.is_empty() {
                return Ok(());
            }
            let alter = format!(
                "ALTER TABLE {} {}",
                self.sql.shared.table,
                changes.join(", ")
            );
            match sqlx::query(&alter)
                .persistent(false)
                .execute(&self.pool)
                .await
            {
                Err(err) if number(&err).is_some_and(|n| ALREADY_ADDED.contains(&n)) => {}
                done => return done.map(drop),
            }
        }
        Ok(()) // and `health` reports what is still missing
    }

    /// A cheap readiness probe: selects no rows from the table, naming every
    /// column, so an unreachable server, a missing or incomplete migration
    /// and an exhausted pool are all reported.
    pub async fn health(&self) -> Result<(), Error> {
        self.table().health().await
    }
}

sql::sql_store_impls!(MySqlStore, BATCH);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_quote_the_name() {
        let sql = Sql::new("Sessions");
        assert_eq!(sql.shared.table, "`Sessions`");
        assert!(sql.shared.load.contains("FROM `Sessions` WHERE `key` = ?"));
    }
}
