//! What the SQL stores share: deadlines as milliseconds, the owner column
//! of the user index and the upgrade of a table without it and, for the
//! server stores (Postgres, MySQL), identifier checks, the checked first
//! connection and error details that name the fix.

use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::token::SessionKey;

/// Milliseconds since the epoch, saturating, as a signed `BIGINT` or SQLite
/// integer holds them; a time before the epoch is 0.
pub(super) fn millis(time: SystemTime) -> i64 {
    i64::try_from(crate::record::unix_millis(time)).unwrap_or(i64::MAX)
}

/// Runs `batch` (a `DELETE` of at most `size` rows) until it removes fewer
/// than `size`; returns the total.
pub(super) async fn in_batches<F>(size: u64, mut batch: impl FnMut() -> F) -> Result<u64, Error>
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

/// The columns of the first version of the session table.
const BASE_COLUMNS: [&str; 4] = ["key", "version", "expires_at", "data"];
/// The column added for the user index.
pub(super) const OWNER_COLUMN: &str = "owner";

/// What the owner column holds for `user`: its SHA-256, 32 bytes. A fixed
/// size is indexable on every engine, and user ids never reach SQL text.
pub(super) fn user_digest(user: &str) -> [u8; 32] {
    Sha256::digest(user.as_bytes()).into()
}

/// The owner column of a record: the digest of its owner, NULL for none.
pub(super) fn owner_digest(owner: Option<&str>) -> Option<[u8; 32]> {
    owner.map(user_digest)
}

/// What `migrate` does to the columns of an existing table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Upgrade {
    /// Every column is there.
    Nothing,
    /// A table of the first version: add the owner column.
    AddOwner,
    /// Not a session table (other columns): leave it alone, and let the
    /// health check report it.
    Foreign,
}

/// What a table with these `columns` needs (names compared as the engines
/// do, ignoring ASCII case).
pub(super) fn upgrade<S: AsRef<str>>(columns: &[S]) -> Upgrade {
    let has = |name: &str| {
        columns
            .iter()
            .any(|c| c.as_ref().eq_ignore_ascii_case(name))
    };
    if !BASE_COLUMNS.iter().all(|c| has(c)) {
        Upgrade::Foreign
    } else if has(OWNER_COLUMN) {
        Upgrade::Nothing
    } else {
        Upgrade::AddOwner
    }
}

/// Session keys from their stored bytes (32 each, which every table checks
/// or enforces).
pub(super) fn session_keys(rows: Vec<Vec<u8>>) -> Result<Vec<SessionKey>, Error> {
    rows.into_iter()
        .map(|bytes| {
            let bytes: [u8; 32] = bytes.try_into().map_err(|bytes: Vec<u8>| {
                Error::store_message("stored session key is not 32 bytes")
                    .with_detail(format!("{} bytes", bytes.len()))
            })?;
            Ok(SessionKey::from_bytes(bytes))
        })
        .collect()
}

#[cfg(any(feature = "postgres-store", feature = "mysql-store"))]
pub(super) use server::*;

/// The pieces only the stores that talk to a database server use.
#[cfg(any(feature = "postgres-store", feature = "mysql-store"))]
mod server {
    use std::time::Duration;

    use sqlx::pool::{Pool, PoolOptions};
    use sqlx::{ConnectOptions, Connection, Database};

    use crate::error::{Error, ErrorKind};

    /// Pool size of a server store's `connect`.
    const MAX_CONNECTIONS: u32 = 10;
    /// How long a server store's `connect` pool waits for a free connection.
    /// Shorter than the layer's default `store_timeout` (3 s), so an exhausted
    /// pool is reported as such rather than as a timeout.
    const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);
    /// How long a server store's `connect` waits for its first connection.
    const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

    /// How a server store names its backend in messages.
    #[derive(Debug, Clone, Copy)]
    pub(in crate::store) struct Backend {
        /// The server, as in "could not connect to Postgres at ..".
        pub(in crate::store) name: &'static str,
        /// The store type, as in "run PostgresStore::migrate() at start-up".
        pub(in crate::store) store: &'static str,
        /// The message of a malformed URL, as in "invalid Postgres URL".
        pub(in crate::store) invalid_url: &'static str,
    }

    /// Checks a schema or table name: 1 to `max` ASCII letters, digits or
    /// underscores, not starting with a digit.
    pub(in crate::store) fn check_identifier(
        what: &str,
        name: &str,
        max: usize,
    ) -> Result<(), Error> {
        let valid = (1..=max).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if valid {
            return Ok(());
        }
        Err(
            Error::new(ErrorKind::InvalidConfig, "invalid SQL identifier").with_detail(format!(
                "{what} {name:?} must be 1 to {max} ASCII letters, digits or underscores, \
                 not starting with a digit"
            )),
        )
    }

    /// Parses a connection URL; a malformed one is a configuration error.
    pub(in crate::store) fn parse_url<O: ConnectOptions>(
        url: &str,
        backend: Backend,
    ) -> Result<O, Error> {
        url.parse()
            .map_err(|e| Error::new(ErrorKind::InvalidConfig, backend.invalid_url).with_source(e))
    }

    /// `host:port/database`, to name a server in errors (never the password).
    pub(in crate::store) fn server(host: &str, port: u16, database: Option<&str>) -> String {
        format!("{host}:{port}/{}", database.unwrap_or_default())
    }

    /// A lazy pool of at most 10 connections waiting at most 2 s for a free
    /// one, after one direct connection that must succeed within 5 s: the
    /// pool itself would retry a refused connection until its acquire
    /// timeout and then report only that it timed out. `server` names the
    /// server in the error, as [`server`] writes it.
    pub(in crate::store) async fn connect<DB: Database>(
        options: <DB::Connection as Connection>::Options,
        backend: Backend,
        server: &str,
    ) -> Result<Pool<DB>, Error> {
        let failed =
            |e: Error| e.with_detail(format!("could not connect to {} at {server}", backend.name));
        match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
            Ok(Ok(connection)) => {
                let _ = connection.close().await;
            }
            Ok(Err(e)) => return Err(failed(Error::store(e))),
            Err(_) => {
                return Err(failed(Error::store(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer within {CONNECT_TIMEOUT:?}"),
                ))));
            }
        }
        Ok(PoolOptions::<DB>::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options))
    }

    /// A store error, with a detail that names the fix where there is one:
    /// `not_migrated` says whether the driver reported a missing table, schema
    /// or column of `table` (the quoted name). Only the driver's error is
    /// kept, as the source: no data, no SQL.
    pub(in crate::store) fn error<DB: Database>(
        err: sqlx::Error,
        not_migrated: bool,
        backend: Backend,
        table: &str,
        pool: &Pool<DB>,
    ) -> Error {
        let detail = match &err {
            sqlx::Error::Database(_) if not_migrated => format!(
                "the session table {table} is missing or incomplete; run {}::migrate() at \
                 start-up (it also upgrades a table made by an earlier version)",
                backend.store
            ),
            sqlx::Error::PoolTimedOut => format!(
                "no connection free within the pool's acquire timeout of {:?} (pool exhausted or {} unreachable)",
                pool.options().get_acquire_timeout(),
                backend.name
            ),
            sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
                format!("the connection to {} failed", backend.name)
            }
            _ => return Error::store(err),
        };
        Error::store(err).with_detail(detail)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn identifiers_are_checked() {
            for good in ["sessions", "_s", "Sessions_2", &"s".repeat(48)] {
                assert!(check_identifier("table name", good, 48).is_ok(), "{good}");
            }
            for bad in [
                "",
                "1s",
                "a b",
                "a-b",
                "a\"b",
                "a`b",
                "a;b",
                "ä",
                &"s".repeat(49),
            ] {
                let err = check_identifier("table name", bad, 48).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{bad}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn upgrades_are_read_from_the_columns() {
        let first = ["key", "version", "expires_at", "data"];
        assert_eq!(upgrade(&first), Upgrade::AddOwner);
        assert_eq!(
            upgrade(&[&first[..], &["OWNER"]].concat()),
            Upgrade::Nothing
        );
        assert_eq!(upgrade(&["id", "payload"]), Upgrade::Foreign);
        assert_eq!(upgrade(&["key", "data", "owner"]), Upgrade::Foreign);
        assert_eq!(upgrade::<&str>(&[]), Upgrade::Foreign);
    }

    #[test]
    fn owners_are_their_sha256() {
        assert_eq!(owner_digest(None), None);
        let digest = owner_digest(Some("abc")).unwrap();
        assert_eq!(digest[..4], [0xba, 0x78, 0x16, 0xbf]);
        assert!(session_keys(vec![vec![0; 31]]).is_err());
        assert_eq!(
            session_keys(vec![vec![7; 32]]).unwrap(),
            [SessionKey::from_bytes([7; 32])]
        );
    }

    #[test]
    fn millis_saturate_and_start_at_the_epoch() {
        assert_eq!(millis(UNIX_EPOCH), 0);
        assert_eq!(millis(UNIX_EPOCH + Duration::from_millis(1_234)), 1_234);
        assert_eq!(millis(UNIX_EPOCH - Duration::from_secs(1)), 0);
    }
}
