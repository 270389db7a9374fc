//! `PostgresStore` against the real Postgres at `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`): the conformance suite, the
//! table's own guarantees, then outages made by cutting a proxy in front of
//! it (the tests shared with MySQL are in `sql_suite!`). Every test works on
//! a table of its own, dropped when it ends.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::UNIX_EPOCH;

use sessionware::{PostgresStore, SessionStore, UserIndex};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool};

use crate::sql::{self, owned, random_key, record, user};
use crate::sql_suite;

/// What Postgres says and does differently.
struct Postgres;

impl sql::Dialect for Postgres {
    type Store = PostgresStore;
    type Database = sqlx::Postgres;
    type Connection = PgConnection;
    type ConnectOptions = PgConnectOptions;
    type Version = i64;

    const NAME: &'static str = "Postgres";
    const STORE: &'static str = "PostgresStore";
    const URL_VAR: &'static str = "DATABASE_URL";
    const DEFAULT_URL: &'static str = "postgres://postgres@127.0.0.1:5432/test";
    const SERVER: &'static str = "Postgres";
    const START: &'static str =
        "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start";
    const SCHEME: &'static str = "postgres";
    const USER: &'static str = "postgres";
    const LOCK_TIMEOUT: &'static str = "SET lock_timeout = '5s'; ";
    const SLEEP: &'static str = "pg_sleep(10)";

    const COUNT_ROWS: &'static str = "SELECT count(*) FROM {t}";
    const COUNT_INDEXES: &'static str = "SELECT count(*) FROM pg_indexes WHERE tablename = $1";
    const KEY_ONLY_TABLE: &'static str = "CREATE TABLE {t} (key BYTEA PRIMARY KEY)";
    const OWNER_OF: &'static str = "SELECT owner FROM {t} WHERE key = $1";
    const ROW: &'static str =
        "SELECT key, version, (extract(epoch FROM expires_at) * 1000)::bigint, data FROM {t}";
    const KEYS_AND_DATA: &'static str = "SELECT key, data FROM {t}";
    const REFRESH: &'static str =
        "UPDATE {t} SET version = 2, expires_at = now() + interval '1 hour' WHERE key = $1";
    const VERSIONS: &'static str = "SELECT version FROM {t}";
    const SET_DATA: &'static str = "UPDATE {t} SET data = $1 WHERE key = $2";

    fn quote(name: &str) -> String {
        format!("\"{name}\"")
    }
}

sql_suite!(Postgres);

/// Names that are not plain identifiers are refused when the store is built,
/// with a message naming the rule; the limits themselves are accepted.
#[tokio::test]
async fn invalid_identifiers_are_refused() {
    let lazy = PostgresStore::from_pool(PgPool::connect_lazy(&url()).unwrap());
    let long = "t".repeat(64);
    let bad = [
        "",
        "1sessions",
        "a b",
        "a-b",
        "a.b",
        r#"x"; DROP TABLE users; --"#,
        "sessions\0",
        "séances",
        &long,
    ];
    let refused = |what: &str, build: &dyn Fn() -> PostgresStore| {
        let panic =
            catch_unwind(AssertUnwindSafe(build)).expect_err(&format!("{what} was accepted"));
        let message = panic.downcast_ref::<String>().unwrap().clone();
        assert!(
            message.contains("ASCII letters, digits or underscores"),
            "{message}"
        );
    };
    for name in bad {
        refused(&format!("table_name({name:?})"), &|| {
            lazy.clone().table_name(name)
        });
        refused(&format!("schema({name:?})"), &|| lazy.clone().schema(name));
    }
    refused("a 49-byte table name", &|| {
        lazy.clone().table_name(&"t".repeat(49))
    });
    let _ = lazy.table_name(&"t".repeat(48)).schema(&"s".repeat(63));
}

/// `schema()` puts the table in that schema, which `migrate` creates.
#[tokio::test]
async fn schema_holds_the_table_and_migrate_creates_it() {
    let schema = format!("sessionware_test_schema_{:08x}", rand::random::<u32>());
    let store = TestStore::unmigrated(connect(&url()).await.schema(&schema));
    store.set_cleanup(format!(r#"DROP SCHEMA IF EXISTS "{schema}" CASCADE"#));
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    let key = random_key();
    assert!(store.create(&key, &record(60_000)).await.unwrap());
    assert!(store.load(&key).await.unwrap().is_some());
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = $2",
    )
    .bind(&schema)
    .bind(&store.table)
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(tables, 1);
}

/// A table made by the previous version (no owner column), with a session
/// in it: until `migrate` runs again, `health` and writes name the fix; then
/// the column and its index are there, the session loads unchanged, and it
/// joins its owner's index at its next save. Four instances upgrading at
/// once all succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_upgrades_a_table_of_the_previous_version() {
    let store = TestStore::unmigrated(connect(&url()).await);
    let t = &store.table;
    // The previous version's `migrate`, verbatim.
    sqlx::raw_sql(&format!(
        "CREATE TABLE IF NOT EXISTS \"{t}\" (\
         key BYTEA PRIMARY KEY CHECK (octet_length(key) = 32), \
         version BIGINT NOT NULL, \
         expires_at TIMESTAMPTZ NOT NULL, \
         data BYTEA NOT NULL); \
         CREATE INDEX IF NOT EXISTS \"{t}_expires_at_idx\" ON \"{t}\" (expires_at)"
    ))
    .execute(store.pool())
    .await
    .unwrap();
    let (key, name) = (random_key(), user("old"));
    let old = owned(Some(&name), 60_000);
    // The previous version's create.
    sqlx::query(&format!(
        "INSERT INTO \"{t}\" (key, version, expires_at, data) \
         VALUES ($1, $2, to_timestamp($3::float8 / 1000), $4) ON CONFLICT (key) DO NOTHING"
    ))
    .bind(key.as_bytes().as_slice())
    .bind(1i64)
    .bind(
        old.expires_at
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
    )
    .bind(old.encode())
    .execute(store.pool())
    .await
    .unwrap();

    let fix = "run PostgresStore::migrate() at start-up";
    let err = store.health().await.unwrap_err();
    assert!(err.to_string().contains(fix), "{err}");
    let err = store
        .create(&random_key(), &record(60_000))
        .await
        .unwrap_err();
    assert!(err.to_string().contains(fix), "{err}");
    assert_eq!(store.load(&key).await.unwrap().as_ref(), Some(&old));

    let runs: Vec<_> = (0..4)
        .map(|_| {
            let store = store.store.clone();
            tokio::spawn(async move { store.migrate().await })
        })
        .collect();
    for run in runs {
        run.await.unwrap().unwrap();
    }
    store.migrate().await.unwrap();
    store.health().await.unwrap();
    assert_eq!(store.load(&key).await.unwrap().as_ref(), Some(&old));
    let column: String = sqlx::query_scalar(
        "SELECT data_type::text FROM information_schema.columns \
         WHERE table_name = $1 AND column_name = 'owner'",
    )
    .bind(t)
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(column, "bytea");
    let index: String = sqlx::query_scalar("SELECT indexdef FROM pg_indexes WHERE indexname = $1")
        .bind(format!("{t}_owner_idx"))
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert!(
        index.ends_with("(owner) WHERE (owner IS NOT NULL)"),
        "{index}"
    );

    // Rows of the old table have no owner column yet: the next save files it.
    assert!(store.keys_of(&name).await.unwrap().is_empty());
    let mut next = old.clone();
    next.version = 2;
    store.save(&key, &next, 1).await.unwrap();
    assert_eq!(store.keys_of(&name).await.unwrap(), [key]);
    assert_eq!(store.sessions(&name).await.unwrap().len(), 1);
}

/// `delete_expired` works through several batches and counts every row.
#[tokio::test]
async fn delete_expired_removes_every_batch() {
    let store = store().await;
    sqlx::raw_sql(&format!(
        r#"INSERT INTO "{}" SELECT decode(lpad(to_hex(i), 64, '0'), 'hex'), 1,
           now() - interval '1 second', '\x01'::bytea FROM generate_series(1, 2500) AS i"#,
        store.table
    ))
    .execute(store.pool())
    .await
    .unwrap();
    let live = random_key();
    store.create(&live, &record(60_000)).await.unwrap();
    assert_eq!(store.delete_expired().await.unwrap(), 2_500);
    assert_eq!(store.delete_expired().await.unwrap(), 0);
    assert!(store.load(&live).await.unwrap().is_some());
}
