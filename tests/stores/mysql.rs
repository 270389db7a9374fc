//! `MySqlStore` against the real MySQL or MariaDB at `MYSQL_URL` (default
//! `mysql://root@127.0.0.1:3306/test`): the conformance suite, the table's
//! own guarantees, then outages made by cutting a proxy in front of it (the
//! tests shared with Postgres are in `sql_suite!`). Every test works on a
//! table of its own, dropped when it ends.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use sessionware::{ErrorKind, MySqlStore, SessionStore, UserIndex};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlPool};

use crate::sql::{self, owned, random_key, record, user};
use crate::sql_suite;

/// What MySQL and MariaDB say and do differently.
struct MySql;

impl sql::Dialect for MySql {
    type Store = MySqlStore;
    type Database = sqlx::MySql;
    type Connection = MySqlConnection;
    type ConnectOptions = MySqlConnectOptions;
    type Version = u64;

    const NAME: &'static str = "MySQL";
    const STORE: &'static str = "MySqlStore";
    const URL_VAR: &'static str = "MYSQL_URL";
    const DEFAULT_URL: &'static str = "mysql://root@127.0.0.1:3306/test";
    const SERVER: &'static str = "MySQL/MariaDB";
    const START: &'static str =
        "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd";
    const SCHEME: &'static str = "mysql";
    const USER: &'static str = "root";
    const LOCK_TIMEOUT: &'static str = "SET SESSION lock_wait_timeout = 5; ";
    const SLEEP: &'static str = "SLEEP(10)";

    const COUNT_ROWS: &'static str = "SELECT COUNT(*) FROM {t}";
    const COUNT_INDEXES: &'static str = "SELECT COUNT(DISTINCT index_name) \
        FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = ?";
    const KEY_ONLY_TABLE: &'static str = "CREATE TABLE {t} (`key` BINARY(32) PRIMARY KEY)";
    const OWNER_OF: &'static str = "SELECT `owner` FROM {t} WHERE `key` = ?";
    const ROW: &'static str = "SELECT `key`, `version`, `expires_at`, `data` FROM {t}";
    const KEYS_AND_DATA: &'static str = "SELECT `key`, `data` FROM {t}";
    const REFRESH: &'static str = "UPDATE {t} SET `version` = 2, \
        `expires_at` = (UNIX_TIMESTAMP() + 3600) * 1000 WHERE `key` = ?";
    const VERSIONS: &'static str = "SELECT `version` FROM {t}";
    const SET_DATA: &'static str = "UPDATE {t} SET `data` = ? WHERE `key` = ?";

    fn quote(name: &str) -> String {
        format!("`{name}`")
    }
}

sql_suite!(MySql);

/// Names that are not plain identifiers are refused when the store is built,
/// with a message naming the rule; the limit itself is accepted.
#[tokio::test]
async fn invalid_identifiers_are_refused() {
    let lazy = MySqlStore::from_pool(MySqlPool::connect_lazy(&url()).unwrap());
    let long = "t".repeat(64);
    let bad = [
        "",
        "1sessions",
        "a b",
        "a-b",
        "a.b",
        "x`; DROP TABLE users; --",
        "sessions\0",
        "séances",
        &long,
    ];
    for name in bad {
        let panic = catch_unwind(AssertUnwindSafe(|| lazy.clone().table_name(name)))
            .expect_err(&format!("table_name({name:?}) was accepted"));
        let message = panic.downcast_ref::<String>().unwrap();
        assert!(
            message.contains("ASCII letters, digits or underscores"),
            "{message}"
        );
    }
    let _ = lazy.table_name(&"t".repeat(63));
}

/// The columns and indexes of the test's table, by name.
async fn shape(store: &TestStore) -> (Vec<(String, String)>, Vec<String>) {
    let columns = sqlx::query_as(
        "SELECT CAST(column_name AS CHAR), CAST(column_type AS CHAR) \
         FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ? \
         ORDER BY ordinal_position",
    )
    .bind(&store.table)
    .fetch_all(store.pool())
    .await
    .unwrap();
    let indexes = sqlx::query_scalar(
        "SELECT DISTINCT CAST(index_name AS CHAR) FROM information_schema.statistics \
         WHERE table_schema = DATABASE() AND table_name = ?",
    )
    .bind(&store.table)
    .fetch_all(store.pool())
    .await
    .unwrap();
    let mut indexes: Vec<String> = indexes;
    indexes.sort();
    (columns, indexes)
}

/// A table made by the previous version (no owner column), with a session
/// in it: until `migrate` runs again, `health` and writes name the fix; then
/// the column and its index are there, the session loads unchanged, and it
/// joins its owner's index at its next save. Four instances upgrading at
/// once all succeed (MySQL 8 has no `ADD COLUMN IF NOT EXISTS`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_upgrades_a_table_of_the_previous_version() {
    let store = TestStore::unmigrated(connect(&url()).await);
    // The previous version's `migrate`, verbatim.
    store
        .exec(
            "CREATE TABLE IF NOT EXISTS {t} (\
             `key` BINARY(32) NOT NULL PRIMARY KEY, \
             `version` BIGINT UNSIGNED NOT NULL, \
             `expires_at` BIGINT NOT NULL, \
             `data` LONGBLOB NOT NULL, \
             KEY `expires_at_idx` (`expires_at`)) ENGINE = InnoDB",
        )
        .await;
    let (key, name) = (random_key(), user("old"));
    let old = owned(Some(&name), 60_000);
    // The previous version's create.
    sqlx::query(&format!(
        "INSERT INTO `{}` (`key`, `version`, `expires_at`, `data`) VALUES (?, ?, ?, ?)",
        store.table
    ))
    .bind(key.as_bytes().as_slice())
    .bind(1u64)
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

    let fix = "run MySqlStore::migrate() at start-up";
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
    let (columns, indexes) = shape(&store).await;
    assert_eq!(
        columns.last().unwrap(),
        &("owner".to_owned(), "binary(32)".to_owned())
    );
    assert_eq!(indexes, ["PRIMARY", "expires_at_idx", "owner_idx"]);

    // Rows of the old table have no owner column yet: the next save files it.
    assert!(store.keys_of(&name).await.unwrap().is_empty());
    let mut next = old.clone();
    next.version = 2;
    store.save(&key, &next, 1).await.unwrap();
    assert_eq!(store.keys_of(&name).await.unwrap(), [key]);
    assert_eq!(store.sessions(&name).await.unwrap().len(), 1);
}

/// A table of that name with other columns is reported, never altered.
#[tokio::test]
async fn migrate_never_alters_a_table_of_other_columns() {
    let store = TestStore::unmigrated(connect(&url()).await);
    store
        .exec("CREATE TABLE {t} (`id` INT PRIMARY KEY, `payload` TEXT)")
        .await;
    let err = store.migrate().await.unwrap_err();
    assert!(err.to_string().contains("missing or incomplete"), "{err}");
    let (columns, _) = shape(&store).await;
    assert_eq!(columns.len(), 2, "{columns:?}");
}

/// Create is a plain `INSERT`: a data error (here a column too small for
/// the record) is an error, never a silent "not created" or a truncated
/// record, as `INSERT IGNORE` would make it.
#[tokio::test]
async fn create_reports_data_errors_instead_of_ignoring_them() {
    let store = TestStore::unmigrated(connect(&url()).await);
    store
        .exec(
            "CREATE TABLE {t} (`key` BINARY(32) NOT NULL PRIMARY KEY, \
             `version` BIGINT UNSIGNED NOT NULL, `expires_at` BIGINT NOT NULL, \
             `data` TINYBLOB NOT NULL, `owner` BINARY(32) NULL)",
        )
        .await;
    let mut big = record(60_000);
    big.data.insert("big", &"x".repeat(1_000)).unwrap();
    let err = store.create(&random_key(), &big).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store);
    assert_eq!(store.rows().await, 0, "nothing half-written");
}

/// `delete_expired` works through several batches and counts every row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_expired_removes_every_batch() {
    let store = Arc::new(store().await);
    let creators: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..250 {
                    store.create(&random_key(), &record(-1_000)).await.unwrap();
                }
            })
        })
        .collect();
    for task in creators {
        task.await.unwrap();
    }
    let live = random_key();
    store.create(&live, &record(60_000)).await.unwrap();
    assert_eq!(store.delete_expired().await.unwrap(), 2_500);
    assert_eq!(store.delete_expired().await.unwrap(), 0);
    assert!(store.load(&live).await.unwrap().is_some());
}
