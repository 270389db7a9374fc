//! The counter on `RedisStore`: sessions survive restarts and are shared by
//! every instance pointed at the same Redis.
//!
//! ```sh
//! cargo run --example redis --features redis-store
//! # REDIS_URL defaults to redis://127.0.0.1:6379; SESSIONWARE_SECRET to a random key;
//! # REDIS_READ_CACHE=1 turns on the local read cache (kept coherent across
//! # instances through Redis pub/sub)
//! ```

use axum::{Router, routing::get};
use sessionware::{Error, ReadCache, RedisStore, Session, SessionLayer, insecure_dev_secret};

async fn count(session: Session) -> Result<String, Error> {
    let n: u64 = session.get("n")?.unwrap_or(0);
    session.insert("n", n + 1)?;
    Ok(format!("You have been here {n} times before.\n"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let mut store = RedisStore::connect(&url).await?.key_prefix("counter:");
    if std::env::var_os("REDIS_READ_CACHE").is_some() {
        // Last, after the prefix: the cache subscribes under it.
        store = store.with_read_cache(ReadCache::new()).await?;
    }
    // With SESSIONWARE_SECRET (hex or base64) sessions stay valid across
    // restarts; without it, a random secret is drawn (with a warning).
    let layer = match std::env::var_os("SESSIONWARE_SECRET") {
        Some(_) => SessionLayer::from_env(store)?,
        None => SessionLayer::new(store, insecure_dev_secret()),
    };
    // Plain HTTP on localhost for the demo; keep the default (true) in production.
    let layer = layer.secure(false);
    let app = Router::new().route("/", get(count)).layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("redis counter listening on http://127.0.0.1:3000 (store: {url})");
    axum::serve(listener, app).await?;
    Ok(())
}
