//! `PostgresStore`: sessions in a PostgreSQL table, versions checked by the database.

use std::sync::Arc;
use std::time::SystemTime;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgQueryResult, Postgres};

use super::sql::{self, Backend, Engine, Migration, Statements, Table};
use crate::error::Error;

/// The table used unless [`PostgresStore::table_name`] says otherwise.
const DEFAULT_TABLE: &str = "sessionware_sessions";
/// Appended to the table name to name its deadline index.
const INDEX_SUFFIX: &str = "_expires_at_idx";
/// Appended to the table name to name its owner index.
const OWNER_INDEX_SUFFIX: &str = "_owner_idx";
/// Postgres truncates identifiers beyond 63 bytes.
const MAX_IDENTIFIER: usize = 63;
/// Rows removed by one `DELETE` of [`SessionStore::delete_expired`](crate::SessionStore::delete_expired).
const BATCH: u64 = 1_000;
/// How this store names Postgres and itself in errors.
const BACKEND: Backend = Backend {
    name: "Postgres",
    store: "PostgresStore",
    invalid_url: "invalid Postgres URL",
};
/// The advisory lock that serializes [`PostgresStore::migrate`] across
/// instances starting together ("sessionw" in ASCII).
const MIGRATE_LOCK: i64 = 0x7365_7373_696f_6e77;
/// The latest deadline stored (9999-12-31T23:59:59.999Z); later ones are clamped.
const MAX_MILLIS: i64 = 253_402_300_799_999;

/// Sessions in a PostgreSQL table (feature `postgres-store`), on `sqlx`.
///
/// * **One statement** per load, create, save and delete. Create is
///   `INSERT .. ON CONFLICT (key) DO NOTHING`, so it never overwrites; save
///   is `UPDATE .. WHERE key = $4 AND version = $5`, so the version check and
///   the write are one atomic step in the database. Only a save that wrote
///   nothing asks a second question (does the row exist?) to tell
///   [`SaveOutcome::Conflict`](crate::store::SaveOutcome::Conflict) from [`SaveOutcome::Missing`](crate::store::SaveOutcome::Missing); that answer
///   only labels a save that already failed, so a race there cannot write
///   anything (see *Concurrent requests* in docs/threat-model.md).
/// * **Only digests reach SQL.** Every value is a bound parameter; the key is
///   the 32 bytes of the [`SessionKey`](crate::store::SessionKey) digest (a `CHECK` keeps it at 32), so
///   no cookie text is ever part of a statement.
/// * **Expired rows** are removed by [`SessionStore::delete_expired`](crate::SessionStore::delete_expired) (run it
///   with [`CleanupTask`](crate::CleanupTask)), in batches of 1,000 through
///   the index on `expires_at`. Each batch checks `expires_at <= now()` inside
///   the `DELETE` itself and skips rows locked by a save in progress, so a
///   just-refreshed session is never removed. "Now" is the
///   database's clock, one time source for every instance;
///   the layer still judges each load by its own clock.
/// * **[`UserIndex`](crate::UserIndex)**: `owner` holds the SHA-256 of the record's owner
///   (NULL for a guest), written by the statement that writes the record. A
///   user's sessions are the rows with that digest, expired or not (another
///   node's clock may still accept one), listed by
///   [`UserIndex::sessions`](crate::UserIndex::sessions) with one `SELECT` of
///   their keys and data; [`UserIndex::revoke_all`](crate::UserIndex::revoke_all)
///   `DELETE`s them, again until a statement deletes nothing, so a session
///   that changed its id meanwhile is caught.
/// * **The table**: the schema and table names are validated identifiers,
///   always quoted, so their case is kept as written.
///   [`PostgresStore::migrate`] creates (idempotently):
///
///   ```sql
///   CREATE TABLE IF NOT EXISTS "sessionware_sessions" (
///       key        BYTEA PRIMARY KEY CHECK (octet_length(key) = 32),
///       version    BIGINT NOT NULL,
///       expires_at TIMESTAMPTZ NOT NULL,
///       data       BYTEA NOT NULL, -- Record::encode, binary-safe
///       owner      BYTEA           -- SHA-256 of Record::owner, or NULL
///   );
///   CREATE INDEX IF NOT EXISTS "sessionware_sessions_expires_at_idx"
///       ON "sessionware_sessions" (expires_at);
///   CREATE INDEX IF NOT EXISTS "sessionware_sessions_owner_idx"
///       ON "sessionware_sessions" (owner) WHERE owner IS NOT NULL;
///   ```
///
///   It adds `owner` to a table of an earlier version (until it has,
///   writes and [`PostgresStore::health`] fail with an error that says so).
/// * **Connections**: a `sqlx` pool. [`PostgresStore::connect`] opens at most
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
/// use sessionware::{CleanupTask, PostgresStore, SessionLayer};
/// # async fn run(secret: &[u8]) -> Result<(), sessionware::Error> {
/// let store = PostgresStore::connect("postgres://app@127.0.0.1:5432/app")
///     .await?
///     .schema("auth")
///     .table_name("sessions");
/// store.migrate().await?; // or `store.health().await?` if the table is managed elsewhere
/// let cleanup = CleanupTask::spawn(store.clone(), Duration::from_secs(300));
/// let layer = SessionLayer::new(store, secret);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    schema: Option<Arc<str>>,
    table: Arc<str>,
    sql: Arc<Sql>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("table", &self.sql.shared.table)
            .field("connections", &self.pool.size())
            .finish_non_exhaustive()
    }
}

/// Every statement, built once from the validated, quoted names: those of
/// the operations every SQL store shares, and those of `migrate`.
struct Sql {
    shared: Statements,
    migration: Migration,
}

/// The column names of a table, by the quoted name `search_path` resolves.
const COLUMNS: &str = "SELECT attname::text FROM pg_attribute \
     WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped";

impl Sql {
    fn new(schema: Option<&str>, table: &str) -> Self {
        let t = match schema {
            Some(schema) => format!(r#""{schema}"."{table}""#),
            None => format!(r#""{table}""#),
        };
        // `to_timestamp` takes float8 seconds, which keep the milliseconds
        // (to within 30 µs as late as the year 9999; the index needs no more).
        let deadline = |n: u8| format!("to_timestamp(${n}::float8 / 1000)");
        Self {
            migration: Migration {
                create_table: format!(
                    "CREATE TABLE IF NOT EXISTS {t} (\
                     key BYTEA PRIMARY KEY CHECK (octet_length(key) = 32), \
                     version BIGINT NOT NULL, \
                     expires_at TIMESTAMPTZ NOT NULL, \
                     data BYTEA NOT NULL, \
                     owner BYTEA)"
                ),
                columns: COLUMNS,
                create_index: format!(
                    r#"CREATE INDEX IF NOT EXISTS "{table}{INDEX_SUFFIX}" ON {t} (expires_at)"#
                ),
                add_owner: format!("ALTER TABLE {t} ADD COLUMN IF NOT EXISTS owner BYTEA"),
                // Without guests (NULL): the index holds logged-in sessions only.
                create_owner_index: format!(
                    r#"CREATE INDEX IF NOT EXISTS "{table}{OWNER_INDEX_SUFFIX}" ON {t} (owner) WHERE owner IS NOT NULL"#
                ),
            },
            shared: Statements {
                insert: format!(
                    "INSERT INTO {t} (key, version, expires_at, data, owner) \
                     VALUES ($1, $2, {}, $4, $5) ON CONFLICT (key) DO NOTHING",
                    deadline(3)
                ),
                load: format!("SELECT data FROM {t} WHERE key = $1"),
                save: format!(
                    "UPDATE {t} SET version = $1, expires_at = {}, data = $3, owner = $4 \
                     WHERE key = $5 AND version = $6",
                    deadline(2)
                ),
                exists: format!("SELECT 1 FROM {t} WHERE key = $1"),
                delete: format!("DELETE FROM {t} WHERE key = $1"),
                // The outer deadline check re-evaluates each row as it is deleted;
                // SKIP LOCKED leaves rows a save is refreshing to the next run.
                delete_expired: format!(
                    "DELETE FROM {t} WHERE key IN (SELECT key FROM {t} WHERE expires_at <= now() \
                     LIMIT {BATCH} FOR UPDATE SKIP LOCKED) AND expires_at <= now()"
                ),
                keys_of: format!("SELECT key FROM {t} WHERE owner = $1"),
                records_of: format!("SELECT key, data FROM {t} WHERE owner = $1"),
                revoke_all: format!("DELETE FROM {t} WHERE owner = $1"),
                health: format!("SELECT key, version, expires_at, data, owner FROM {t} LIMIT 0"),
                table: t,
            },
        }
    }
}

impl Engine for Postgres {
    type Version = i64;

    /// A version as Postgres' `BIGINT`.
    fn version(version: u64) -> Result<i64, Error> {
        i64::try_from(version).map_err(|_| {
            Error::store_message("session version exceeds the BIGINT range")
                .with_detail(version.to_string())
        })
    }

    /// Milliseconds since the epoch, clamped to [`MAX_MILLIS`].
    fn deadline(time: SystemTime) -> i64 {
        sql::millis(time).min(MAX_MILLIS)
    }

    fn rows_affected(done: &PgQueryResult) -> u64 {
        done.rows_affected()
    }

    fn error(table: &Table<'_, Self>, err: sqlx::Error) -> Error {
        // undefined_table, invalid_schema_name, undefined_column
        let not_migrated = err
            .as_database_error()
            .is_some_and(|db| matches!(db.code().as_deref(), Some("42P01" | "3F000" | "42703")));
        sql::error(err, not_migrated, BACKEND, &table.sql.table, table.pool)
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host:5432/database`, with
    /// `sslmode` and the other `sqlx` URL options) and fails with a clear
    /// error if the server cannot be reached within 5 s or refuses the login.
    ///
    /// The pool opens at most 10 connections and waits at most 2 s for a free
    /// one; build your own pool and use [`PostgresStore::from_pool`] to
    /// change that. Call [`PostgresStore::migrate`] or
    /// [`PostgresStore::health`] next, so that a missing table is reported at
    /// start-up rather than at the first request.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        let pool = sql::connect::<Postgres>(url, BACKEND, |o: &PgConnectOptions| {
            sql::server(o.get_host(), o.get_port(), o.get_database())
        })
        .await?;
        Ok(Self::from_pool(pool))
    }

    /// Uses a pool you configured yourself (size, timeouts, TLS), on the
    /// default table `sessionware_sessions` in the connection's `search_path`.
    ///
    /// Keep an `acquire_timeout` (sqlx's default is 30 s) shorter than the
    /// layer's `store_timeout`, so that an exhausted pool fails fast.
    pub fn from_pool(pool: PgPool) -> Self {
        Self {
            pool,
            schema: None,
            table: Arc::from(DEFAULT_TABLE),
            sql: Arc::new(Sql::new(None, DEFAULT_TABLE)),
        }
    }

    /// The table holding the sessions. Default: `sessionware_sessions`.
    ///
    /// # Panics
    ///
    /// If `name` is not 1 to 48 ASCII letters, digits or underscores starting
    /// with a letter or an underscore. 48 leaves room for the index name,
    /// `<name>_expires_at_idx`, within Postgres' 63-byte limit. Names are
    /// quoted in SQL, so `Sessions` and `sessions` are different tables.
    pub fn table_name(self, name: &str) -> Self {
        self.try_table_name(name)
            .unwrap_or_else(|err| panic!("PostgresStore::table_name: {err}"))
    }

    /// Like [`PostgresStore::table_name`], but returns an invalid name as an
    /// [`Error`] of kind [`ErrorKind::InvalidConfig`](crate::ErrorKind::InvalidConfig), for a name read from
    /// configuration.
    pub fn try_table_name(mut self, name: &str) -> Result<Self, Error> {
        sql::check_identifier("table name", name, MAX_IDENTIFIER - INDEX_SUFFIX.len())?;
        self.table = Arc::from(name);
        self.sql = Arc::new(Sql::new(self.schema.as_deref(), name));
        Ok(self)
    }

    /// The schema holding the table. Default: none, so the table is found
    /// through the connection's `search_path` (usually `public`).
    /// [`PostgresStore::migrate`] creates the schema if it is missing.
    ///
    /// # Panics
    ///
    /// If `name` is not 1 to 63 ASCII letters, digits or underscores starting
    /// with a letter or an underscore.
    pub fn schema(self, name: &str) -> Self {
        self.try_schema(name)
            .unwrap_or_else(|err| panic!("PostgresStore::schema: {err}"))
    }

    /// Like [`PostgresStore::schema`], but returns an invalid name as an
    /// [`Error`] of kind [`ErrorKind::InvalidConfig`](crate::ErrorKind::InvalidConfig).
    pub fn try_schema(mut self, name: &str) -> Result<Self, Error> {
        sql::check_identifier("schema name", name, MAX_IDENTIFIER)?;
        self.schema = Some(Arc::from(name));
        self.sql = Arc::new(Sql::new(Some(name), &self.table));
        Ok(self)
    }

    /// The pool, to share with the rest of the application.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The operations every SQL store shares, on this store's table.
    fn table(&self) -> Table<'_, Postgres> {
        Table::new(&self.pool, &self.sql.shared)
    }

    /// Creates the schema (if one was set and it is missing), the table and
    /// its deadline and owner indexes; does nothing for those that exist, and
    /// adds the owner column to a table of an earlier version. Safe to run at
    /// every start-up, from every instance at once: a transaction-scoped
    /// advisory lock serializes concurrent runs. Needs the `CREATE` privilege
    /// (on the database for a new schema, on the schema for the table), and
    /// to own a table it upgrades.
    pub async fn migrate(&self) -> Result<(), Error> {
        let failed = sql::not_created(&self.sql.shared.table);
        let mut tx = self.pool.begin().await.map_err(|e| self.table().error(e))?;
        self.migrate_on(&mut tx).await.map_err(failed)?;
        tx.commit().await.map_err(failed)
    }

    /// The statements of [`PostgresStore::migrate`], on its transaction.
    async fn migrate_on(&self, connection: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATE_LOCK)
            .execute(&mut *connection)
            .await?;
        if let Some(schema) = &self.schema {
            // Checked first: `CREATE SCHEMA IF NOT EXISTS` needs the database's
            // CREATE privilege even when the schema exists.
            let exists: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
                    .bind(&**schema)
                    .fetch_one(&mut *connection)
                    .await?;
            if !exists {
                let create = format!(r#"CREATE SCHEMA IF NOT EXISTS "{schema}""#);
                sqlx::query(&create)
                    .persistent(false)
                    .execute(&mut *connection)
                    .await?;
            }
        }
        let table = &self.sql.shared.table;
        self.sql.migration.run::<Postgres>(connection, table).await
    }

    /// A cheap readiness probe: selects no rows from the table, naming every
    /// column, so an unreachable server, a missing or incomplete migration
    /// and an exhausted pool are all reported.
    pub async fn health(&self) -> Result<(), Error> {
        self.table().health().await
    }
}

sql::sql_store_impls!(PostgresStore, BATCH);

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn statements_quote_the_names() {
        let sql = Sql::new(Some("auth"), "Sessions");
        assert_eq!(sql.shared.table, r#""auth"."Sessions""#);
        assert!(sql.migration.create_index.starts_with(
            r#"CREATE INDEX IF NOT EXISTS "Sessions_expires_at_idx" ON "auth"."Sessions""#
        ));
        assert!(sql.migration.create_owner_index.starts_with(
            r#"CREATE INDEX IF NOT EXISTS "Sessions_owner_idx" ON "auth"."Sessions""#
        ));
    }

    #[test]
    fn deadlines_are_clamped() {
        let millis = Postgres::deadline;
        assert_eq!(millis(UNIX_EPOCH), 0);
        assert_eq!(millis(UNIX_EPOCH + Duration::from_millis(1_234)), 1_234);
        assert_eq!(
            millis(UNIX_EPOCH + Duration::from_secs(1 << 40)),
            MAX_MILLIS
        );
    }
}
