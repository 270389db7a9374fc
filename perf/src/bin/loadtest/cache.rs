//! sessionware's local read cache on `RedisStore`, for the "+ cache" rows.

/// `store` with a read cache of the library's default settings
/// (`ReadCache::new()`): one more connection, the cache's pub/sub subscriber.
pub(crate) async fn with_read_cache(
    store: sessionware::RedisStore,
) -> Result<sessionware::RedisStore, String> {
    store
        .with_read_cache(sessionware::ReadCache::new())
        .await
        .map_err(|e| format!("read cache: {e}"))
}

/// The cache's hits and misses so far, when `store` has a cache.
pub(crate) fn counts(store: &sessionware::RedisStore) -> Option<(u64, u64)> {
    store.cache_stats().map(|stats| (stats.hits, stats.misses))
}
