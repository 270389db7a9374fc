//! The counter on `SqliteStore`: sessions kept in one file, so they survive
//! restarts with no server to run.
//!
//! ```sh
//! cargo run --example sqlite --features sqlite-store
//! # SQLITE_PATH defaults to sessions.db; SESSIONWARE_SECRET to a random key
//! curl -c jar -b jar http://127.0.0.1:3000
//! ```
//!
//! Set `SESSIONWARE_SECRET` (64 random bytes as hex or base64:
//! `SESSIONWARE_SECRET=$(openssl rand -hex 64)`) to keep sessions valid
//! across restarts: with a random secret, the old cookies no longer verify.

use std::time::Duration;

use axum::{Router, routing::get};
use sessionware::{Error, Session, SessionLayer, SessionStore, SqliteStore, insecure_dev_secret};

async fn count(session: Session) -> Result<String, Error> {
    let n: u64 = session.get("n")?.unwrap_or(0);
    session.insert("n", n + 1)?;
    Ok(format!("You have been here {n} times before.\n"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::var("SQLITE_PATH").unwrap_or_else(|_| "sessions.db".into());
    let store = SqliteStore::open(&path).await?;
    // Creates the table and its index on first run; a no-op afterwards.
    store.migrate().await?;

    // SQLite does not expire rows by itself: remove expired sessions every 10 minutes.
    let cleaner = store.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(600));
        loop {
            every.tick().await;
            match cleaner.delete_expired().await {
                Ok(removed) => println!("removed {removed} expired sessions"),
                Err(err) => eprintln!("cleanup failed: {err}"),
            }
        }
    });

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
    println!("sqlite counter listening on http://127.0.0.1:3000 (store: {path})");
    axum::serve(listener, app).await?;
    Ok(())
}
