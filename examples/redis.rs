//! The counter on `RedisStore`: sessions survive restarts and are shared by
//! every instance pointed at the same Redis.
//!
//! ```sh
//! cargo run --example redis --features redis-store
//! # REDIS_URL defaults to redis://127.0.0.1:6379; SESSIONWARE_SECRET to a random key
//! ```

use axum::{Router, routing::get};
use rand::TryRngCore as _;
use sessionware::{RedisStore, Session, SessionError, SessionLayer};

async fn count(session: Session) -> Result<String, SessionError> {
    let n: u64 = session.get("n")?.unwrap_or(0);
    session.insert("n", n + 1)?;
    Ok(format!("You have been here {n} times before.\n"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let store = RedisStore::connect(&url).await?.key_prefix("counter:");
    let secret = match std::env::var("SESSIONWARE_SECRET") {
        Ok(secret) => secret.into_bytes(),
        Err(_) => {
            let mut secret = vec![0u8; 64];
            rand::rngs::OsRng.try_fill_bytes(&mut secret)?;
            secret
        }
    };
    // Plain HTTP on localhost for the demo; keep the default (true) in production.
    let layer = SessionLayer::new(store, secret).secure(false);
    let app = Router::new().route("/", get(count)).layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("redis counter listening on http://127.0.0.1:3000 (store: {url})");
    axum::serve(listener, app).await?;
    Ok(())
}
