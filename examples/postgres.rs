//! The counter on `PostgresStore`: sessions survive restarts and are shared by
//! every instance pointed at the same database.
//!
//! ```sh
//! cargo run --example postgres --features postgres-store
//! # DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/test;
//! # SESSIONWARE_SECRET to a random key (sessions then end with the process)
//! curl -c jar -b jar http://127.0.0.1:3000
//! ```

use std::time::Duration;

use axum::{Router, routing::get};
use sessionware::{CleanupTask, Error, PostgresStore, Session, SessionLayer, insecure_dev_secret};

async fn count(session: Session) -> Result<String, Error> {
    let n: u64 = session.get("n")?.unwrap_or(0);
    session.insert("n", n + 1)?;
    Ok(format!("You have been here {n} times before.\n"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    // Fails here, with the reason, if Postgres is unreachable or the table
    // cannot be created: never at the first request.
    let store = PostgresStore::connect(&url)
        .await?
        .table_name("counter_sessions");
    store.migrate().await?;
    // Postgres keeps expired rows until they are deleted.
    let _cleanup = CleanupTask::spawn(store.clone(), Duration::from_secs(300));

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
    println!("postgres counter listening on http://127.0.0.1:3000");
    axum::serve(listener, app).await?;
    Ok(())
}
