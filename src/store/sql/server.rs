//! The pieces only the stores that talk to a database server use: names of
//! the backend in messages, identifier checks, the checked first connection
//! and error details that name the fix.

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
pub(in crate::store) fn check_identifier(what: &str, name: &str, max: usize) -> Result<(), Error> {
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
fn parse_url<O: ConnectOptions>(url: &str, backend: Backend) -> Result<O, Error> {
    url.parse()
        .map_err(|e| Error::new(ErrorKind::InvalidConfig, backend.invalid_url).with_source(e))
}

/// `host:port/database`, to name a server in errors (never the password).
pub(in crate::store) fn server(host: &str, port: u16, database: Option<&str>) -> String {
    format!("{host}:{port}/{}", database.unwrap_or_default())
}

/// Connects to `url` (malformed, a configuration error): a lazy pool of at
/// most 10 connections waiting at most 2 s for a free one, after one direct
/// connection that must succeed within 5 s: the pool itself would retry a
/// refused connection until its acquire timeout and then report only that
/// it timed out. `address` names the server of the parsed options in the
/// error, as [`server`] writes it.
pub(in crate::store) async fn connect<DB: Database>(
    url: &str,
    backend: Backend,
    address: impl FnOnce(&<DB::Connection as Connection>::Options) -> String,
) -> Result<Pool<DB>, Error> {
    let options: <DB::Connection as Connection>::Options = parse_url(url, backend)?;
    let server = address(&options);
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

/// The error of a `migrate` that failed on `table` (the quoted name).
pub(in crate::store) fn not_created(table: &str) -> impl Fn(sqlx::Error) -> Error + Copy + '_ {
    move |e| Error::store(e).with_detail(format!("could not create the session table {table}"))
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
