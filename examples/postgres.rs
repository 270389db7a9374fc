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
use rand::TryRngCore as _;
use sessionware::{CleanupTask, PostgresStore, Session, SessionError, SessionLayer};

async fn count(session: Session) -> Result<String, SessionError> {
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
    println!("postgres counter listening on http://127.0.0.1:3000");
    axum::serve(listener, app).await?;
    Ok(())
}
