//! Deleting what a run stored in Redis: sessionware's keys by their prefix
//! (unique to the run), tower-sessions-redis-store's by id (it has no prefix).

use redis::aio::MultiplexedConnection;

/// Deletes every key starting with `prefix` (`SCAN MATCH prefix*`, then
/// `UNLINK`); returns how many were deleted.
pub async fn unlink_prefixed(
    connection: &mut MultiplexedConnection,
    prefix: &str,
) -> Result<u64, String> {
    let pattern = format!("{prefix}*");
    let mut cursor = 0u64;
    let mut deleted = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(connection)
            .await
            .map_err(|e| e.to_string())?;
        if !keys.is_empty() {
            deleted += redis::cmd("UNLINK")
                .arg(&keys)
                .query_async::<u64>(connection)
                .await
                .map_err(|e| e.to_string())?;
        }
        cursor = next;
        if cursor == 0 {
            return Ok(deleted);
        }
    }
}

/// `UNLINK`s `keys`, a thousand at a time; returns how many existed.
pub async fn unlink(
    connection: &mut MultiplexedConnection,
    keys: &[String],
) -> Result<u64, String> {
    let mut deleted = 0u64;
    for chunk in keys.chunks(1000) {
        deleted += redis::cmd("UNLINK")
            .arg(chunk)
            .query_async::<u64>(connection)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(deleted)
}
