//! `SqliteStore` on a fresh database file per test: the conformance suite,
//! then migrations, locking, cleanup races, start-up failures and durability.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::routing::get;
use http::StatusCode;
use sessionware::store::{Record, SaveOutcome, SessionKey};
use sessionware::{ErrorKind, Session, SessionLayer, SessionStore, SqliteStore, UserIndex};
use sha2::{Digest, Sha256};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use sqlx::{Connection as _, SqliteConnection};
use tokio::sync::Barrier;

use crate::common::{routes, secret, send};

/// A fresh directory for one test. Directories of earlier runs older than an
/// hour are swept first, so repeated runs do not fill the temp directory.
fn fresh_dir() -> PathBuf {
    static SWEEP: std::sync::Once = std::sync::Once::new();
    let base = std::env::temp_dir().join("sessionware-sqlite-tests");
    SWEEP.call_once(|| {
        let hour_ago = SystemTime::now() - Duration::from_secs(3600);
        for entry in std::fs::read_dir(&base).into_iter().flatten().flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|modified| modified < hour_ago);
            if old {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    });
    let dir = base.join(format!("{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn fresh_path() -> PathBuf {
    fresh_dir().join("sessions.db")
}

/// A migrated store on a database file of its own.
async fn store_at(path: &Path) -> SqliteStore {
    let store = SqliteStore::open(path).await.unwrap();
    store.migrate().await.unwrap();
    store
}

async fn store() -> SqliteStore {
    store_at(&fresh_path()).await
}

sessionware::conformance_suite!(store());
sessionware::accounts_suite!(store());
sessionware::features_suite!(store());

/// A connection of our own to the same file, to look at or lock it.
async fn raw(path: &Path) -> SqliteConnection {
    SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(path))
        .await
        .unwrap()
}

fn key() -> SessionKey {
    SessionKey::from_bytes(rand::random())
}

fn record(lives: Duration) -> Record {
    let now = SystemTime::now();
    Record::new(Default::default(), now, now + lives)
}

fn expired() -> Record {
    let now = SystemTime::now();
    Record::new(Default::default(), now, now - Duration::from_secs(1))
}

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn health_answers_after_migrate() {
    store().await.health().await.unwrap();
}

#[tokio::test]
async fn the_file_is_in_wal_mode() {
    let path = fresh_path();
    let _store = store_at(&path).await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut raw(&path).await)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn migrate_is_idempotent_and_keeps_data() {
    let store = store().await;
    let k = key();
    assert!(store.create(&k, &record(HOUR)).await.unwrap());
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    assert!(store.load(&k).await.unwrap().is_some());
}

/// Two stores on one file under different tables see nothing of each other.
#[tokio::test]
async fn custom_table_names_keep_stores_apart() {
    let path = fresh_path();
    let first = SqliteStore::open(&path).await.unwrap().table_name("first");
    let second = SqliteStore::open(&path)
        .await
        .unwrap()
        .table_name("Second_2");
    first.migrate().await.unwrap();
    second.migrate().await.unwrap();
    let k = key();
    assert!(first.create(&k, &record(HOUR)).await.unwrap());
    assert_eq!(second.load(&k).await.unwrap(), None);
    assert!(second.create(&k, &record(HOUR)).await.unwrap());
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(&mut raw(&path).await)
            .await
            .unwrap();
    assert_eq!(tables, ["Second_2", "first"]);
}

#[tokio::test]
#[should_panic(expected = "SqliteStore::table_name: \"sessions; DROP TABLE x\"")]
async fn an_invalid_table_name_is_refused() {
    let store = SqliteStore::open(fresh_path()).await.unwrap();
    let _ = store.table_name("sessions; DROP TABLE x");
}

/// Before `migrate`, the probe and every call fail with an error that names
/// the fix, and a table of our name with other columns is refused rather than
/// used.
#[tokio::test]
async fn a_missing_migration_is_an_actionable_error() {
    let path = fresh_path();
    let store = SqliteStore::open(&path).await.unwrap();
    let err = store.health().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store);
    assert!(
        err.to_string().contains(
            "table \"sessionware_sessions\" is missing or outdated: run `SqliteStore::migrate`"
        ),
        "{err}"
    );
    let err = store.load(&key()).await.unwrap_err();
    assert!(err.to_string().contains("SqliteStore::migrate"), "{err}");

    sqlx::query("CREATE TABLE legacy (id TEXT PRIMARY KEY, payload TEXT)")
        .execute(&mut raw(&path).await)
        .await
        .unwrap();
    let legacy = store.table_name("legacy");
    let err = legacy.migrate().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store);
    assert!(err.to_string().contains("missing or outdated"), "{err}");
}

fn owned(owner: Option<&str>, lives: Duration) -> Record {
    let mut record = record(lives);
    record.owner = owner.map(str::to_owned);
    record
}

fn owned_expired(owner: &str) -> Record {
    let mut record = expired();
    record.owner = Some(owner.to_owned());
    record
}

/// The columns of `table` in the file at `path`, and its index names.
async fn shape(path: &Path, table: &str) -> (Vec<(String, String)>, Vec<String>) {
    let mut raw = raw(path).await;
    let columns = sqlx::query_as("SELECT name, type FROM pragma_table_info(?1)")
        .bind(table)
        .fetch_all(&mut raw)
        .await
        .unwrap();
    let indexes = sqlx::query_scalar("SELECT name FROM pragma_index_list(?1) ORDER BY name")
        .bind(table)
        .fetch_all(&mut raw)
        .await
        .unwrap();
    (columns, indexes)
}

/// A table made by the previous version (no owner column), with a session
/// in it: until `migrate` runs again, `health` and writes name the fix; then
/// the column and its index are there, the session loads unchanged, and it
/// joins its owner's index at its next save.
#[tokio::test]
async fn migrate_upgrades_a_table_of_the_previous_version() {
    let path = fresh_path();
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let mut old_db = SqliteConnection::connect_with(&options).await.unwrap();
    // The previous version's `migrate`, verbatim.
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS \"sessionware_sessions\" (\
         key BLOB PRIMARY KEY NOT NULL CHECK (typeof(key) = 'blob' AND length(key) = 32), \
         version INTEGER NOT NULL, \
         expires_at INTEGER NOT NULL, \
         data BLOB NOT NULL); \
         CREATE INDEX IF NOT EXISTS \"sessionware_sessions_expires_at\" \
         ON \"sessionware_sessions\" (expires_at)",
    )
    .execute(&mut old_db)
    .await
    .unwrap();
    let (k, name) = (key(), "old-user");
    // As stored: to the millisecond.
    let old = Record::decode(&owned(Some(name), HOUR).encode()).unwrap();
    // The previous version's create.
    sqlx::query(
        "INSERT INTO \"sessionware_sessions\" (key, version, expires_at, data) \
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (key) DO NOTHING",
    )
    .bind(k.as_bytes().as_slice())
    .bind(1i64)
    .bind(
        old.expires_at
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
    )
    .bind(old.encode())
    .execute(&mut old_db)
    .await
    .unwrap();
    drop(old_db);

    let store = SqliteStore::open(&path).await.unwrap();
    let err = store.health().await.unwrap_err();
    assert!(
        err.to_string().contains("run `SqliteStore::migrate`"),
        "{err}"
    );
    let err = store.create(&key(), &record(HOUR)).await.unwrap_err();
    assert!(
        err.to_string().contains("run `SqliteStore::migrate`"),
        "{err}"
    );
    assert_eq!(store.load(&k).await.unwrap().as_ref(), Some(&old));

    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    assert_eq!(store.load(&k).await.unwrap().as_ref(), Some(&old));
    let (columns, indexes) = shape(&path, "sessionware_sessions").await;
    assert_eq!(
        columns.last().unwrap(),
        &("owner".to_owned(), "BLOB".to_owned())
    );
    assert!(
        indexes.contains(&"sessionware_sessions_owner".to_owned()),
        "{indexes:?}"
    );

    // Rows of the old table have no owner column yet: the next save files it.
    assert!(store.keys_of(name).await.unwrap().is_empty());
    let mut next = old.clone();
    next.version = 2;
    store.save(&k, &next, 1).await.unwrap();
    assert_eq!(store.keys_of(name).await.unwrap(), [k]);
    assert_eq!(store.sessions(name).await.unwrap().len(), 1);
}

/// A fresh table and an upgraded one have the same columns.
#[tokio::test]
async fn a_fresh_table_has_the_owner_column_and_its_index() {
    let path = fresh_path();
    let _store = store_at(&path).await;
    let (columns, indexes) = shape(&path, "sessionware_sessions").await;
    let names: Vec<_> = columns.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["key", "version", "expires_at", "data", "owner"]);
    assert!(
        indexes.contains(&"sessionware_sessions_owner".to_owned()),
        "{indexes:?}"
    );
}

/// `keys_of` lists every row of a user, including an expired one still in
/// the table (another node's clock may still accept it): not another user's,
/// not guests. `revoke_all` deletes all of them, expired or not.
#[tokio::test]
async fn revoke_all_deletes_expired_rows_too() {
    let store = store().await;
    let (live, stale) = (key(), key());
    store
        .create(&live, &owned(Some("alice"), HOUR))
        .await
        .unwrap();
    store.create(&stale, &owned_expired("alice")).await.unwrap();
    store
        .create(&key(), &owned(Some("bob"), HOUR))
        .await
        .unwrap();
    store.create(&key(), &owned(None, HOUR)).await.unwrap();
    let mut listed = store.keys_of("alice").await.unwrap();
    let mut expected = vec![live, stale];
    listed.sort_by_key(|key| *key.as_bytes());
    expected.sort_by_key(|key| *key.as_bytes());
    assert_eq!(listed, expected);
    assert_eq!(store.revoke_all("alice").await.unwrap(), 2);
    assert!(store.load(&live).await.unwrap().is_none());
    assert!(
        store.load(&stale).await.unwrap().is_none(),
        "an expired row is revoked too"
    );
    assert_eq!(store.keys_of("bob").await.unwrap().len(), 1);
}

/// Create and save write the owner column, the SHA-256 of the user id (NULL
/// for a guest), from the record: a logout takes the session out of the
/// index, a login files it again.
#[tokio::test]
async fn the_owner_column_is_the_digest_of_the_records_owner() {
    let path = fresh_path();
    let store = store_at(&path).await;
    let k = key();
    store.create(&k, &owned(Some("alice"), HOUR)).await.unwrap();
    let owner = || async {
        sqlx::query_scalar::<_, Option<Vec<u8>>>(
            "SELECT owner FROM sessionware_sessions WHERE key = ?1",
        )
        .bind(k.as_bytes().to_vec())
        .fetch_one(&mut raw(&path).await)
        .await
        .unwrap()
    };
    assert_eq!(owner().await, Some(Sha256::digest("alice").to_vec()));
    assert_eq!(store.keys_of("alice").await.unwrap(), [k]);
    let mut next = owned(None, HOUR);
    next.version = 2;
    assert_eq!(store.save(&k, &next, 1).await.unwrap(), SaveOutcome::Saved);
    assert_eq!(owner().await, None);
    assert!(store.keys_of("alice").await.unwrap().is_empty());
    next.owner = Some("bob".into());
    next.version = 3;
    assert_eq!(store.save(&k, &next, 2).await.unwrap(), SaveOutcome::Saved);
    assert_eq!(store.keys_of("bob").await.unwrap(), [k]);
}

/// Store down at start: a path in a missing directory, or a directory, is a
/// clear error when the store is built, quickly.
#[tokio::test]
async fn opening_an_unusable_path_is_a_clear_error() {
    let dir = fresh_dir();
    for path in [dir.join("missing").join("sessions.db"), dir.clone()] {
        let started = Instant::now();
        let err = SqliteStore::open(&path).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Store);
        let expected = format!("could not open the SQLite database at {}", path.display());
        assert!(err.to_string().contains(&expected), "{err}");
        assert!(std::error::Error::source(&err).is_some());
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}

/// The database holds every session: a file `open` creates is readable and
/// writable by its owner only, and so are the `-wal` and `-shm` files SQLite
/// makes beside it, even under the usual umask 022 (which leaves files
/// world-readable). The check runs in a child process, the test binary itself
/// running this test alone, whose umask it sets (the umask is the process's,
/// so the other tests must not run under it). An existing file keeps its
/// mode.
#[cfg(unix)]
#[tokio::test]
async fn a_new_database_file_and_its_wal_and_shm_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    const CHILD: &str = "SESSIONWARE_TEST_UMASK_022";
    if std::env::var_os(CHILD).is_none() {
        // This test's path in the `stores` binary: its module path without
        // the crate's name, then its name.
        let (_, module) = module_path!().split_once("::").unwrap();
        let name = format!("{module}::a_new_database_file_and_its_wal_and_shm_are_private");
        let output = std::process::Command::new("/bin/sh")
            .args(["-c", "umask 022 && exec \"$0\" \"$@\""])
            .arg(std::env::current_exe().unwrap())
            .args([&name, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let shown = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "{shown}");
        assert!(shown.contains("1 passed"), "the child ran no test: {shown}");
        return;
    }
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let dir = fresh_dir();
    // The umask is in force: a file made without a mode of its own is world-readable.
    std::fs::write(dir.join("plain"), b"").unwrap();
    assert_eq!(mode(&dir.join("plain")), 0o644);

    let path = dir.join("sessions.db");
    let store = store_at(&path).await;
    assert!(store.create(&key(), &record(HOUR)).await.unwrap());
    let beside = |suffix: &str| {
        let mut name = path.clone().into_os_string();
        name.push(suffix);
        PathBuf::from(name)
    };
    for file in [path.clone(), beside("-wal"), beside("-shm")] {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }

    let existing = dir.join("existing.db");
    std::fs::write(&existing, b"").unwrap();
    std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o640)).unwrap();
    let store = store_at(&existing).await;
    assert!(store.create(&key(), &record(HOUR)).await.unwrap());
    assert_eq!(mode(&existing), 0o640);
}

/// A file that is not a database is refused at start-up too.
#[tokio::test]
async fn opening_a_file_that_is_not_a_database_is_a_clear_error() {
    let path = fresh_path();
    std::fs::write(&path, b"this is not an SQLite database, just some text!!").unwrap();
    let err = SqliteStore::open(&path).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store);
    assert!(err.to_string().contains("could not open"), "{err}");
}

/// Durability: sessions written through the layer are there after the store
/// is closed and the file reopened, as after a restart.
#[tokio::test]
async fn sessions_survive_reopening_the_file() {
    let path = fresh_path();
    let app = routes().layer(SessionLayer::new(store_at(&path).await, secret()));
    let cookie = send(&app, "/insert", None).await.cookie_pair();
    assert_eq!(send(&app, "/insert", Some(&cookie)).await.body, "2");
    drop(app);

    let app = routes().layer(SessionLayer::new(store_at(&path).await, secret()));
    assert_eq!(send(&app, "/get", Some(&cookie)).await.body, "Some(2)");
}

/// `delete_expired` works through more than one batch and counts exactly.
#[tokio::test]
async fn delete_expired_counts_across_batches() {
    let store = store().await;
    let live: Vec<_> = (0..10).map(|_| key()).collect();
    for k in &live {
        store.create(k, &record(HOUR)).await.unwrap();
    }
    for _ in 0..2_500 {
        store.create(&key(), &expired()).await.unwrap();
    }
    assert_eq!(store.delete_expired().await.unwrap(), 2_500);
    assert_eq!(store.delete_expired().await.unwrap(), 0);
    for k in &live {
        assert!(store.load(k).await.unwrap().is_some());
    }
}

/// Cleanup runs at the same moment as refreshes of sessions past their
/// deadline. Each session is either refreshed first (and survives) or deleted
/// first (and the refresh finds it missing): the deadline check and the
/// removal are one statement, so a refreshed row is never deleted, and
/// cleanup removes exactly the sessions refresh missed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_never_deletes_a_refreshed_session() {
    let store = Arc::new(store().await);
    let (mut refreshed, mut missing) = (0, 0);
    for _ in 0..100 {
        let keys: Vec<_> = (0..20).map(|_| key()).collect();
        for k in &keys {
            assert!(store.create(k, &expired()).await.unwrap());
        }
        let start = Arc::new(Barrier::new(keys.len() + 1));
        let cleaner = {
            let (store, start) = (store.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                store.delete_expired().await.unwrap()
            })
        };
        let refreshes: Vec<_> = keys
            .iter()
            .map(|&k| {
                let (store, start) = (store.clone(), start.clone());
                tokio::spawn(async move {
                    let mut fresh = record(HOUR);
                    fresh.version = 2;
                    start.wait().await;
                    (k, store.save(&k, &fresh, 1).await.unwrap())
                })
            })
            .collect();
        let mut missed = 0;
        for task in refreshes {
            match task.await.unwrap() {
                (k, SaveOutcome::Saved) => {
                    refreshed += 1;
                    let kept = store.load(&k).await.unwrap();
                    assert_eq!(kept.expect("a refreshed session was deleted").version, 2);
                }
                (_, SaveOutcome::Missing) => missed += 1,
                (_, SaveOutcome::Conflict) => panic!("nobody else saves these sessions"),
            }
        }
        assert_eq!(
            cleaner.await.unwrap(),
            missed,
            "cleanup removed what refresh missed"
        );
        missing += missed;
    }
    assert!(
        refreshed > 0 && missing > 0,
        "the race was not exercised: {refreshed} refreshed, {missing} missing"
    );
    assert_eq!(refreshed + missing, 2_000);
}

/// An app whose handlers each insert one key, and a route that counts them.
fn writers_app(layer: SessionLayer) -> Router {
    Router::new()
        .route(
            "/insert/{key}",
            get(
                |s: Session, axum::extract::Path(key): axum::extract::Path<String>| async move {
                    s.insert(&key, true).unwrap();
                },
            ),
        )
        .route(
            "/keys",
            get(|s: Session| async move {
                let mut present: Vec<u32> = (0..100)
                    .filter(|i| s.get::<bool>(&format!("k{i}")).unwrap().is_some())
                    .collect();
                present.sort_unstable();
                serde_json::to_string(&present).unwrap()
            }),
        )
        .layer(layer)
}

/// 50 concurrent writers of one session through the layer, each on its own
/// SQLite write. Every request answers within a bound, with 200 or a clean
/// 5xx; every 200 is in the stored session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_writers_land_or_fail_cleanly() {
    let app = writers_app(SessionLayer::new(store().await, secret()));
    let cookie = send(&app, "/insert/k99", None).await.cookie_pair();
    let started = Instant::now();
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let (app, cookie) = (app.clone(), cookie.clone());
            tokio::spawn(async move {
                (
                    i,
                    send(&app, &format!("/insert/k{i}"), Some(&cookie))
                        .await
                        .status,
                )
            })
        })
        .collect();
    let mut landed = vec![99];
    for task in tasks {
        let (i, status) = tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("a writer hung")
            .unwrap();
        match status {
            StatusCode::OK => landed.push(i),
            status => assert!(status.is_server_error(), "writer {i}: {status}"),
        }
    }
    assert!(started.elapsed() < Duration::from_secs(60));
    landed.sort_unstable();
    let stored: Vec<u32> =
        serde_json::from_str(&send(&app, "/keys", Some(&cookie)).await.body).unwrap();
    assert!(
        landed.iter().all(|i| stored.contains(i)),
        "a 200 was lost: landed {landed:?}, stored {stored:?}"
    );
    assert!(landed.len() > 1, "no concurrent writer got through");
}

/// While another process holds the write lock, reads go on (WAL) and writes
/// fail after the busy timeout with a clear error, never a hang; through the
/// layer that is a 500. Once the lock is gone, all is well.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_fails_writes_in_bounded_time() {
    let path = fresh_path();
    let store = store_at(&path).await;
    let existing = key();
    store.create(&existing, &record(HOUR)).await.unwrap();
    let app = routes().layer(SessionLayer::new(store.clone(), secret()));

    let mut locker = raw(&path).await;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut locker)
        .await
        .unwrap();

    assert!(
        store.load(&existing).await.unwrap().is_some(),
        "readers are not blocked"
    );
    let started = Instant::now();
    let err = store.create(&key(), &record(HOUR)).await.unwrap_err();
    let waited = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::Store);
    assert!(err.to_string().contains("locked"), "{err}");
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_secs(5),
        "waited {waited:?}"
    );
    let started = Instant::now();
    let reply = send(&app, "/insert", None).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.set_cookie(), None);
    assert!(started.elapsed() < Duration::from_secs(5));

    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();
    let cookie = send(&app, "/insert", None).await.cookie_pair();
    assert_eq!(send(&app, "/get", Some(&cookie)).await.body, "Some(1)");
}

/// A cookie carrying SQL never reaches SQL. It fails its MAC and is a guest;
/// the table holds only 32-byte binary digests and binary records.
#[tokio::test]
async fn cookie_text_never_reaches_sql() {
    let path = fresh_path();
    let app = routes().layer(SessionLayer::new(store_at(&path).await, secret()));
    let cookie = send(&app, "/insert", None).await.cookie_pair();
    for hostile in [
        "id='; DROP TABLE sessionware_sessions; --",
        "id=x' OR '1'='1",
        "id=%00%27%3B",
    ] {
        let reply = send(&app, "/get", Some(hostile)).await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (StatusCode::OK, "None")
        );
    }
    assert_eq!(send(&app, "/get", Some(&cookie)).await.body, "Some(1)");
    let rows: Vec<(String, i64, String)> =
        sqlx::query_as("SELECT typeof(key), length(key), typeof(data) FROM sessionware_sessions")
            .fetch_all(&mut raw(&path).await)
            .await
            .unwrap();
    assert_eq!(rows, [("blob".to_owned(), 32, "blob".to_owned())]);
}

#[tokio::test]
async fn debug_shows_the_table_only() {
    let store = SqliteStore::open(fresh_path())
        .await
        .unwrap()
        .table_name("app");
    assert_eq!(format!("{store:?}"), "SqliteStore { table: \"app\", .. }");
}

/// `from_pool` uses the pool as given, with the default table.
#[tokio::test]
async fn from_pool_wraps_a_pool_of_your_own() {
    let path = fresh_path();
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let store = SqliteStore::from_pool(SqlitePool::connect_with(options).await.unwrap());
    store.migrate().await.unwrap();
    let k = key();
    assert!(store.create(&k, &record(HOUR)).await.unwrap());
    assert!(store.delete(&k).await.unwrap());
}

/// A row an earlier version wrote in record format 1 is read: its data,
/// owner and deadline; a save then writes it in the current format, which is
/// read back.
#[tokio::test]
async fn a_format_1_record_is_read_and_rewritten() {
    let path = fresh_path();
    let store = store_at(&path).await;
    let key = key();
    store
        .create(&key, &record(Duration::from_secs(60)))
        .await
        .unwrap();
    sqlx::query("UPDATE \"sessionware_sessions\" SET data = ?1 WHERE key = ?2")
        .bind(crate::common::format_1_record("ferris"))
        .bind(key.as_bytes().as_slice())
        .execute(&mut raw(&path).await)
        .await
        .unwrap();
    crate::common::assert_format_1_record_reads_and_rewrites(&store, &key).await;
}
