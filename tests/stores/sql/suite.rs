//! The tests every SQL server store runs, written once over a [`Dialect`].
//!
//! [`Dialect`]: super::Dialect

/// Expands, in a store's module, to its scaffolding and the tests the SQL
/// server stores share: `$dialect` (a type implementing
/// [`Dialect`](crate::sql::Dialect)) says what differs. It defines, for the
/// module's own tests too:
///
/// - `url()`: the server's URL, from the dialect's variable or its default;
/// - `connect(url)`: the store, or a panic saying how to start the server;
/// - `TestStore`, with `unmigrated`, `migrated`, `rows` and `exec`: a store
///   on a table of its own, dropped when the test ends;
/// - `store()`: a migrated `TestStore`;
/// - `behind_proxy()` and `versions(..)`, for the outage tests.
///
/// Then it runs the conformance, accounts and features suites on `store()`,
/// and the tests below.
#[macro_export]
macro_rules! sql_suite {
    ($dialect:ty) => {
        use $crate::sql::Dialect as _;

        /// The store under test.
        type Store = <$dialect as $crate::sql::Dialect>::Store;

        fn url() -> String {
            std::env::var(<$dialect>::URL_VAR)
                .unwrap_or_else(|_| <$dialect>::DEFAULT_URL.to_owned())
        }

        fn unreachable(url: &str, err: impl std::fmt::Display) -> ! {
            panic!(
                "{} is not reachable at {url}: {err}. Start it with `{}`, or point {} at one.",
                <$dialect>::SERVER,
                <$dialect>::START,
                <$dialect>::URL_VAR,
            )
        }

        async fn connect(url: &str) -> Store {
            Store::connect(url)
                .await
                .unwrap_or_else(|err| unreachable(url, err))
        }

        /// A store on a table of its own, dropped (with `cleanup`) when the test ends.
        type TestStore = $crate::sql::TestStore<Store>;

        impl TestStore {
            /// `store` on a fresh table, not migrated.
            fn unmigrated(store: Store) -> Self {
                let table = $crate::sql::table_name();
                let cleanup = format!("DROP TABLE IF EXISTS {}", <$dialect>::quote(&table));
                Self::new(store.table_name(&table), table, cleanup, |cleanup| {
                    $crate::sql::run_alone::<<$dialect as $crate::sql::Dialect>::Connection>(
                        url(),
                        format!("{}{cleanup}", <$dialect>::LOCK_TIMEOUT),
                    );
                })
            }

            /// `store` on a fresh, migrated table.
            async fn migrated(store: Store) -> Self {
                let test = Self::unmigrated(store);
                test.store.migrate().await.unwrap();
                test
            }

            /// `sql` with `{t}` replaced by the test's table, quoted.
            fn sql(&self, sql: &str) -> String {
                sql.replace("{t}", &<$dialect>::quote(&self.table))
            }

            /// Runs one statement on the test's table, written with `{t}` for its name.
            #[allow(dead_code)]
            async fn exec(&self, sql: &str) {
                sqlx::raw_sql(&self.sql(sql))
                    .execute(self.pool())
                    .await
                    .unwrap();
            }

            /// How many rows the test's table holds.
            async fn rows(&self) -> i64 {
                let sql = self.sql(<$dialect>::COUNT_ROWS);
                sqlx::query_scalar(&sql)
                    .fetch_one(self.pool())
                    .await
                    .unwrap()
            }
        }

        async fn store() -> TestStore {
            TestStore::migrated(connect(&url()).await).await
        }

        sessionware::conformance_suite!(store());
        sessionware::accounts_suite!(store());
        sessionware::features_suite!(store());

        #[tokio::test]
        async fn health_answers() {
            store().await.health().await.unwrap();
        }

        /// `migrate` runs again without harm, from four instances at once,
        /// and leaves one table with its primary key, its deadline and owner
        /// indexes.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn migrate_is_idempotent_and_safe_to_run_concurrently() {
            use sessionware::SessionStore as _;
            use $crate::sql::{random_key, record};

            let store = store().await;
            let key = random_key();
            store.create(&key, &record(60_000)).await.unwrap();
            store.migrate().await.unwrap();
            assert!(store.load(&key).await.unwrap().is_some(), "data survives");

            let fresh = TestStore::unmigrated(connect(&url()).await);
            let runs: Vec<_> = (0..4)
                .map(|_| {
                    let store = fresh.store.clone();
                    tokio::spawn(async move { store.migrate().await })
                })
                .collect();
            for run in runs {
                run.await.unwrap().unwrap();
            }
            let indexes: i64 = sqlx::query_scalar(<$dialect>::COUNT_INDEXES)
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

        /// A table that was never migrated (or is missing columns) is
        /// reported by `health()` at start-up with the fix, and every later
        /// call fails with the same actionable message; a write through the
        /// layer is a 500.
        #[tokio::test]
        async fn a_missing_migration_is_an_actionable_error() {
            use http::StatusCode;
            use sessionware::{ErrorKind, SessionLayer, SessionStore as _};
            use $crate::common::{routes, secret, send};
            use $crate::sql::random_key;

            let store = TestStore::unmigrated(connect(&url()).await);
            let missing = format!(
                "the session table {} is missing or incomplete; run {}::migrate() at start-up \
                 (it also upgrades a table made by an earlier version)",
                <$dialect>::quote(&store.table),
                <$dialect>::STORE,
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

            store.exec(<$dialect>::KEY_ONLY_TABLE).await;
            let err = store.health().await.unwrap_err();
            assert!(
                err.to_string().contains(&missing),
                "incomplete table: {err}"
            );

            store.exec("DROP TABLE {t}").await;
            store.migrate().await.unwrap();
            store.health().await.unwrap();
            assert_eq!(send(&app, "/insert", None).await.status, StatusCode::OK);
        }

        /// `keys_of` lists every row of a user, expired ones included;
        /// `revoke_all` removes all of them.
        #[tokio::test]
        async fn revoke_all_deletes_expired_rows_too() {
            $crate::sql::revoke_all_deletes_expired_rows_too(&store().await).await;
        }

        /// The owner column is the SHA-256 of the user id (NULL for a guest),
        /// written by create and save from the record.
        #[tokio::test]
        async fn the_owner_column_is_the_digest_of_the_records_owner() {
            use sessionware::SessionStore as _;
            use sessionware::store::SessionKey;
            use sha2::{Digest, Sha256};
            use $crate::sql::{owned, random_key, user};

            let store = store().await;
            $crate::sql::the_owner_column_follows_the_record(&store.store).await;
            let (name, key, guest) = (user("carol"), random_key(), random_key());
            store
                .create(&key, &owned(Some(&name), 60_000))
                .await
                .unwrap();
            store.create(&guest, &owned(None, 60_000)).await.unwrap();
            let owner = |key: SessionKey| {
                let store = &store;
                async move {
                    sqlx::query_scalar::<_, Option<Vec<u8>>>(&store.sql(<$dialect>::OWNER_OF))
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
            use std::time::UNIX_EPOCH;

            use sessionware::SessionStore as _;
            use $crate::sql::{random_key, record};

            let store = store().await;
            let key = random_key();
            let record = record(60_000);
            store.create(&key, &record).await.unwrap();
            let (stored_key, version, deadline, data): (
                Vec<u8>,
                <$dialect as $crate::sql::Dialect>::Version,
                i64,
                Vec<u8>,
            ) = sqlx::query_as(&store.sql(<$dialect>::ROW))
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

        /// Cookies carrying SQL or NUL fail the MAC and never reach the
        /// store; what is stored under a real session is its 32-byte digest,
        /// which appears nowhere in the cookie, and the cookie appears
        /// nowhere in the row.
        #[tokio::test]
        async fn only_digests_reach_sql() {
            use http::StatusCode;
            use sessionware::SessionLayer;
            use sessionware::store::SessionKey;
            use $crate::common::{routes, secret, send};

            let store = store().await;
            let app = routes().layer(SessionLayer::new(store.store.clone(), secret()));
            let hostile = [
                format!("id=x'; DROP TABLE {}; --", <$dialect>::quote(&store.table)),
                format!("id=%00'%3B%20SELECT%20{}%3B--", <$dialect>::SLEEP),
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
                sqlx::query_as(&store.sql(<$dialect>::KEYS_AND_DATA))
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

        /// A row an earlier version wrote in record format 1 is read: its
        /// data, owner and deadline; a save then writes it in the current
        /// format, which is read back.
        #[tokio::test]
        async fn a_format_1_record_is_read_and_rewritten() {
            use sessionware::SessionStore as _;
            use $crate::common::format_1_record;
            use $crate::sql::{random_key, record};

            let store = store().await;
            let key = random_key();
            store.create(&key, &record(60_000)).await.unwrap();
            sqlx::query(&store.sql(<$dialect>::SET_DATA))
                .bind(format_1_record("ferris"))
                .bind(key.as_bytes().as_slice())
                .execute(store.pool())
                .await
                .unwrap();
            $crate::common::assert_format_1_record_reads_and_rewrites(&store.store, &key).await;
        }

        /// A user's sessions are listed with one statement, where the
        /// listing built on `keys_of` and `load` sends one per session.
        #[tokio::test]
        async fn listing_twenty_sessions_is_one_statement() {
            let store = store().await;
            $crate::sql::statements::twenty_sessions_are_one_statement(&store.store, &store.table)
                .await;
        }

        /// A save refreshing an expired row holds its lock while
        /// `delete_expired` runs; the deadline is checked inside the
        /// `DELETE`, on the row as it is once locked, so the refreshed row
        /// survives and only the stale one goes.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn delete_expired_spares_a_row_refreshed_meanwhile() {
            use std::time::Duration;

            use sessionware::SessionStore as _;
            use $crate::sql::{random_key, record};

            let store = store().await;
            let (refreshed, stale) = (random_key(), random_key());
            for key in [&refreshed, &stale] {
                store.create(key, &record(-1_000)).await.unwrap();
            }
            let mut refresh = store.pool().begin().await.unwrap();
            sqlx::query(&store.sql(<$dialect>::REFRESH))
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

        /// Cleanup racing refreshes under load: saves refresh half of 2,000
        /// expired rows while `delete_expired` runs (the server may pick
        /// either as a deadlock victim; the store runs the statement again).
        /// Every save that reports `Saved` keeps its row; every other row is
        /// gone, and the count returned is exactly what was removed.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn cleanup_racing_refreshes_never_removes_a_refreshed_row() {
            let store = std::sync::Arc::new(store().await);
            $crate::sql::cleanup_racing_refreshes(store.clone(), store.rows()).await;
        }

        /// With the pool's only connection busy, 20 concurrent loads each
        /// fail within the acquire timeout (300 ms) rather than queueing; a
        /// request degrades to a guest at once, and all is well once it is
        /// free.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn an_exhausted_pool_fails_within_the_acquire_timeout() {
            use std::time::Duration;

            let url = url();
            let pool =
                sqlx::pool::PoolOptions::<<$dialect as $crate::sql::Dialect>::Database>::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_millis(300))
                    .connect(&url)
                    .await
                    .unwrap_or_else(|err| unreachable(&url, err));
            let store = TestStore::migrated(Store::from_pool(pool.clone())).await;
            $crate::sql::exhausted_pool_fails_fast(&pool, &store.store).await;
        }

        /// Store down at start: building it is a clear error naming the
        /// server (never its password), not a hang; a malformed URL is a
        /// configuration error.
        #[tokio::test]
        async fn connecting_to_a_closed_port_is_a_clear_error() {
            use sessionware::ErrorKind;
            use $crate::outage;

            let scheme = <$dialect>::SCHEME;
            let port = outage::closed_port();
            let err = outage::refused(Store::connect(&format!(
                "{scheme}://{}:hunter2@127.0.0.1:{port}/test",
                <$dialect>::USER,
            )))
            .await;
            assert_eq!(
                err.to_string(),
                format!(
                    "session store failed: could not connect to {} at 127.0.0.1:{port}/test",
                    <$dialect>::NAME,
                )
            );
            assert!(!format!("{err:?}").contains("hunter2"));

            let err = Store::connect(&format!("{scheme}://[::1"))
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        }

        /// The server behind a proxy the test can cut, and an app on it.
        async fn behind_proxy() -> (
            std::sync::Arc<$crate::proxy::Proxy>,
            axum::Router,
            TestStore,
        ) {
            let options: <$dialect as $crate::sql::Dialect>::ConnectOptions =
                url().parse().unwrap();
            let proxy = $crate::outage::proxy_to((options.get_host(), options.get_port())).await;
            let url = $crate::outage::via(&url(), proxy.addr);
            let store = TestStore::migrated(connect(&url).await).await;
            let app = $crate::outage::app_behind(&proxy, store.store.clone());
            (proxy, app, store)
        }

        /// The version of every row of the store's table, read directly.
        fn versions(store: &TestStore) -> $crate::outage::Versions<'_> {
            use sqlx::Connection as _;
            Box::pin(async move {
                let mut connection =
                    <$dialect as $crate::sql::Dialect>::Connection::connect(&url())
                        .await
                        .unwrap();
                let versions: Vec<<$dialect as $crate::sql::Dialect>::Version> =
                    sqlx::query_scalar(&store.sql(<$dialect>::VERSIONS))
                        .fetch_all(&mut connection)
                        .await
                        .unwrap();
                versions
                    .into_iter()
                    .map(|v| v.try_into().unwrap())
                    .collect()
            })
        }

        /// The server unreachable at load gives a degraded guest, 200, no
        /// cookie, nothing written; once it is back, the session is intact
        /// and the app works again without a restart.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn outage_at_load_then_recovery() {
            let (proxy, app, store) = behind_proxy().await;
            $crate::outage::outage_at_load_then_recovery(&proxy, &app, Some(versions(&store)))
                .await;
        }

        /// The server lost after load, before save: 500, no new token, no
        /// partial record; after recovery the pre-request state is there.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn outage_mid_request_is_a_500() {
            let (proxy, app, store) = behind_proxy().await;
            $crate::outage::outage_mid_request_is_a_500(&proxy, &app, Some(versions(&store))).await;
        }

        /// The server closes the pool's idle connections; the next request
        /// works and its save lands once.
        #[tokio::test]
        async fn idle_connections_closed_by_the_server_are_replaced() {
            let (proxy, app, store) = behind_proxy().await;
            $crate::outage::idle_connections_closed(&proxy, &app, Some(versions(&store))).await;
        }
    };
}
