//! `PostgresStore` against the real Postgres at `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`): the conformance suite, the
//! table's own guarantees, then outages made by cutting a proxy in front of it.
//! Every test works on a table of its own, dropped when it ends.
#![cfg(feature = "postgres-store")]

mod common;
mod conformance;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use axum::Router;
use common::outage::{self, Versions};
use common::proxy::Proxy;
use common::table::{self, owned, random_key, record, user};
use common::{routes, secret, send};
use http::StatusCode;
use sessionware::{ErrorKind, PostgresStore, SessionKey, SessionLayer, SessionStore, UserIndex};
use sha2::{Digest, Sha256};
use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn unreachable(url: &str, err: impl std::fmt::Display) -> ! {
    panic!(
        "Postgres is not reachable at {url}: {err}. Start it with \
         `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, \
         or point DATABASE_URL at one."
    )
}

async fn connect(url: &str) -> PostgresStore {
    PostgresStore::connect(url)
        .await
        .unwrap_or_else(|err| unreachable(url, err))
}

/// A store on a table of its own, dropped (with `cleanup`) when the test ends.
type TestStore = table::TestStore<PostgresStore>;

impl TestStore {
    /// `store` on a fresh table, not migrated.
    fn unmigrated(store: PostgresStore) -> Self {
        let table = table::table_name();
        let cleanup = format!(r#"DROP TABLE IF EXISTS "{table}""#);
        Self::new(store.table_name(&table), table, cleanup, |cleanup| {
            table::run_alone::<PgConnection>(
                database_url(),
                format!("SET lock_timeout = '5s'; {cleanup}"),
            );
        })
    }

    /// `store` on a fresh, migrated table.
    async fn migrated(store: PostgresStore) -> Self {
        let test = Self::unmigrated(store);
        test.store.migrate().await.unwrap();
        test
    }

    /// How many rows the test's table holds.
    async fn rows(&self) -> i64 {
        sqlx::query_scalar(&format!(r#"SELECT count(*) FROM "{}""#, self.table))
            .fetch_one(self.pool())
            .await
            .unwrap()
    }
}

async fn store() -> TestStore {
    TestStore::migrated(connect(&database_url()).await).await
}

conformance_suite!(store());
accounts_suite!(store());
features_suite!(store());

#[tokio::test]
async fn health_answers() {
    store().await.health().await.unwrap();
}

/// `migrate` runs again without harm, from four instances at once, and
/// leaves one table with its primary key, its deadline and owner indexes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_is_idempotent_and_safe_to_run_concurrently() {
    let store = store().await;
    let key = random_key();
    store.create(&key, &record(60_000)).await.unwrap();
    store.migrate().await.unwrap();
    assert!(store.load(&key).await.unwrap().is_some(), "data survives");

    let fresh = TestStore::unmigrated(connect(&database_url()).await);
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let store = fresh.store.clone();
            tokio::spawn(async move { store.migrate().await })
        })
        .collect();
    for run in runs {
        run.await.unwrap().unwrap();
    }
    let indexes: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_indexes WHERE tablename = $1")
        .bind(&fresh.table)
        .fetch_one(fresh.pool())
        .await
        .unwrap();
    assert_eq!(
        indexes, 3,
        "the primary key, the deadline and owner indexes"
    );
    fresh.health().await.unwrap();
}

/// Names that are not plain identifiers are refused when the store is built,
/// with a message naming the rule; the limits themselves are accepted.
#[tokio::test]
async fn invalid_identifiers_are_refused() {
    let lazy = PostgresStore::from_pool(PgPool::connect_lazy(&database_url()).unwrap());
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
    let store = TestStore::unmigrated(connect(&database_url()).await.schema(&schema));
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

/// Catalogue #56: a table that was never migrated (or is missing columns) is
/// reported by `health()` at start-up with the fix, and every later call
/// fails with the same actionable message; a write through the layer is a 500.
#[tokio::test]
async fn case_56_a_missing_migration_is_an_actionable_error() {
    let store = TestStore::unmigrated(connect(&database_url()).await);
    let missing = format!(
        r#"the session table "{}" is missing or incomplete; run PostgresStore::migrate() at start-up (it also upgrades a table made by an earlier version)"#,
        store.table
    );
    let err = store.health().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store);
    assert_eq!(err.to_string(), format!("session store failed: {missing}"));
    let err = store.load(&random_key()).await.unwrap_err();
    assert!(err.to_string().contains(&missing), "{err}");

    let app = routes().layer(SessionLayer::new(store.store.clone(), secret()));
    assert_eq!(
        send(&app, "/insert", None).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );

    sqlx::raw_sql(&format!(
        r#"CREATE TABLE "{}" (key BYTEA PRIMARY KEY)"#,
        store.table
    ))
    .execute(store.pool())
    .await
    .unwrap();
    let err = store.health().await.unwrap_err();
    assert!(
        err.to_string().contains(&missing),
        "incomplete table: {err}"
    );

    sqlx::raw_sql(&format!(r#"DROP TABLE "{}""#, store.table))
        .execute(store.pool())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store.health().await.unwrap();
    assert_eq!(send(&app, "/insert", None).await.status, StatusCode::OK);
}

/// A table made by the previous version (no owner column), with a session
/// in it: until `migrate` runs again, `health` and writes name the fix; then
/// the column and its index are there, the session loads unchanged, and it
/// joins its owner's index at its next save. Four instances upgrading at
/// once all succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_upgrades_a_table_of_the_previous_version() {
    let store = TestStore::unmigrated(connect(&database_url()).await);
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

/// `keys_of` lists live sessions only, by the database's clock; `revoke_all`
/// removes exactly those.
#[tokio::test]
async fn revoke_all_deletes_expired_rows_too() {
    table::revoke_all_deletes_expired_rows_too(&store().await).await;
}

/// The owner column is the SHA-256 of the user id (NULL for a guest),
/// written by create and save from the record.
#[tokio::test]
async fn the_owner_column_is_the_digest_of_the_records_owner() {
    let store = store().await;
    table::the_owner_column_follows_the_record(&store.store).await;
    let (name, key, guest) = (user("carol"), random_key(), random_key());
    store
        .create(&key, &owned(Some(&name), 60_000))
        .await
        .unwrap();
    store.create(&guest, &owned(None, 60_000)).await.unwrap();
    let owner = |key: SessionKey| {
        let store = &store;
        async move {
            sqlx::query_scalar::<_, Option<Vec<u8>>>(&format!(
                r#"SELECT owner FROM "{}" WHERE key = $1"#,
                store.table
            ))
            .bind(key.as_bytes().to_vec())
            .fetch_one(store.pool())
            .await
            .unwrap()
        }
    };
    assert_eq!(owner(key).await, Some(Sha256::digest(&name).to_vec()));
    assert_eq!(owner(guest).await, None);
}

/// The row is the 32 digest bytes, the version, the deadline (to the
/// millisecond) and `Record::encode`'s bytes, unchanged.
#[tokio::test]
async fn rows_hold_the_digest_and_the_encoded_record() {
    let store = store().await;
    let key = random_key();
    let record = record(60_000);
    store.create(&key, &record).await.unwrap();
    let (stored_key, version, deadline, data): (Vec<u8>, i64, i64, Vec<u8>) = sqlx::query_as(
        &format!(
            r#"SELECT key, version, (extract(epoch FROM expires_at) * 1000)::bigint, data FROM "{}""#,
            store.table
        ),
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(stored_key, key.as_bytes());
    assert_eq!(version, 1);
    let millis = record
        .expires_at
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    assert_eq!(deadline as u128, millis);
    assert_eq!(data, record.encode(), "binary-safe: the exact bytes");
}

/// Catalogue #59: cookies carrying SQL or NUL fail the MAC and never reach
/// the store; what is stored under a real session is its 32-byte digest,
/// which appears nowhere in the cookie, and the cookie appears nowhere in the row.
#[tokio::test]
async fn case_59_only_digests_reach_sql() {
    let store = store().await;
    let app = routes().layer(SessionLayer::new(store.store.clone(), secret()));
    let hostile = [
        format!(r#"id=x'; DROP TABLE "{}"; --"#, store.table),
        "id=%00'%3B%20SELECT%20pg_sleep(10)%3B--".to_owned(),
        format!("id={}", "' OR '1'='1".repeat(20)),
    ];
    for cookie in &hostile {
        let reply = send(&app, "/insert", Some(cookie)).await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    assert_eq!(
        store.rows().await,
        3,
        "each hostile cookie was a guest who got a fresh session"
    );

    let cookie = send(&app, "/insert", None).await.cookie_pair();
    let value = cookie.split_once('=').unwrap().1;
    let stored: Vec<(Vec<u8>, Vec<u8>)> =
        sqlx::query_as(&format!(r#"SELECT key, data FROM "{}""#, store.table))
            .fetch_all(store.pool())
            .await
            .unwrap();
    for (key, data) in stored {
        assert_eq!(key.len(), 32, "only digests are stored");
        let key = SessionKey::from_bytes(key.try_into().unwrap());
        assert!(!value.contains(&key.to_hex()));
        assert!(!data.windows(value.len()).any(|w| w == value.as_bytes()));
    }
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

/// Catalogue #60: a save refreshing an expired row holds its lock while
/// `delete_expired` runs; the deadline is checked inside the `DELETE`, so
/// the refreshed row survives and only the stale one goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_60_delete_expired_spares_a_row_refreshed_meanwhile() {
    let store = store().await;
    let (refreshed, stale) = (random_key(), random_key());
    for key in [&refreshed, &stale] {
        store.create(key, &record(-1_000)).await.unwrap();
    }
    let mut refresh = store.pool().begin().await.unwrap();
    sqlx::query(&format!(
        r#"UPDATE "{}" SET version = 2, expires_at = now() + interval '1 hour' WHERE key = $1"#,
        store.table
    ))
    .bind(refreshed.as_bytes().as_slice())
    .execute(&mut *refresh)
    .await
    .unwrap();
    let cleanup = {
        let store = store.store.clone();
        tokio::spawn(async move { store.delete_expired().await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    refresh.commit().await.unwrap();
    assert_eq!(cleanup.await.unwrap().unwrap(), 1);
    assert!(
        store.load(&refreshed).await.unwrap().is_some(),
        "refreshed row deleted"
    );
    assert!(store.load(&stale).await.unwrap().is_none());
}

/// Catalogue #60 under load: saves refresh half of 2,000 expired rows while
/// `delete_expired` runs. Every save that reports `Saved` keeps its row; every
/// other row is gone, and the count returned is exactly what was removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_60_cleanup_racing_refreshes_never_removes_a_refreshed_row() {
    let store = Arc::new(store().await);
    table::cleanup_racing_refreshes(store.clone(), store.rows()).await;
}

/// Catalogue #54: with the pool's only connection busy, 20 concurrent loads
/// each fail within the acquire timeout (300 ms) rather than queueing; a
/// request degrades to a guest at once, and all is well once it is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_54_an_exhausted_pool_fails_within_the_acquire_timeout() {
    let url = database_url();
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_millis(300))
        .connect(&url)
        .await
        .unwrap_or_else(|err| unreachable(&url, err));
    let store = TestStore::migrated(PostgresStore::from_pool(pool.clone())).await;
    table::exhausted_pool_fails_fast(&pool, &store.store).await;
}

/// Store down at start: building it is a clear error naming the server
/// (never its password), not a hang; a malformed URL is a configuration error.
#[tokio::test]
async fn connecting_to_a_closed_port_is_a_clear_error() {
    let port = outage::closed_port();
    let err = outage::refused(PostgresStore::connect(&format!(
        "postgres://postgres:hunter2@127.0.0.1:{port}/test"
    )))
    .await;
    assert_eq!(
        err.to_string(),
        format!("session store failed: could not connect to Postgres at 127.0.0.1:{port}/test")
    );
    assert!(!format!("{err:?}").contains("hunter2"));

    let err = PostgresStore::connect("postgres://[::1").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
}

/// A Postgres behind a proxy the test can cut, and an app on it.
async fn behind_proxy() -> (Arc<Proxy>, Router, TestStore) {
    let options: PgConnectOptions = database_url().parse().unwrap();
    let proxy = outage::proxy_to((options.get_host(), options.get_port())).await;
    let url = outage::via(&database_url(), proxy.addr);
    let store = TestStore::migrated(connect(&url).await).await;
    let app = outage::app_behind(&proxy, store.store.clone());
    (proxy, app, store)
}

/// The version of every row of the store's table, read directly.
fn versions(store: &TestStore) -> Versions<'_> {
    Box::pin(async move {
        let mut connection = PgConnection::connect(&database_url()).await.unwrap();
        let versions: Vec<i64> =
            sqlx::query_scalar(&format!(r#"SELECT version FROM "{}""#, store.table))
                .fetch_all(&mut connection)
                .await
                .unwrap();
        versions
            .into_iter()
            .map(|v| v.try_into().unwrap())
            .collect()
    })
}

/// Catalogue #50 and #57: Postgres unreachable at load gives a degraded
/// guest, 200, no cookie, nothing written; once it is back, the session is
/// intact and the app works again without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_50_and_57_outage_at_load_then_recovery() {
    let (proxy, app, store) = behind_proxy().await;
    outage::outage_at_load_then_recovery(&proxy, &app, Some(versions(&store))).await;
}

/// Catalogue #51: Postgres lost after load, before save: 500, no new token,
/// no partial record; after recovery the pre-request state is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_51_outage_mid_request_is_a_500() {
    let (proxy, app, store) = behind_proxy().await;
    outage::outage_mid_request_is_a_500(&proxy, &app, Some(versions(&store))).await;
}

/// Catalogue #55: the server closes the pool's idle connections; the next
/// request works and its save lands once.
#[tokio::test]
async fn case_55_idle_connections_closed_by_the_server_are_replaced() {
    let (proxy, app, store) = behind_proxy().await;
    outage::idle_connections_closed(&proxy, &app, Some(versions(&store))).await;
}
