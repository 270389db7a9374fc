//! A page-view counter on the embedded `MemoryStore`.
//!
//! ```sh
//! cargo run --example counter
//! # then open http://127.0.0.1:3000 and reload, or:
//! curl -c jar -b jar http://127.0.0.1:3000
//! ```
//!
//! The secret comes from `SESSIONWARE_SECRET` (128 hex characters) if set;
//! otherwise a random one is drawn at start, so sessions end with the process.

use std::net::SocketAddr;

use axum::{Router, routing::get};
use rand::TryRngCore as _;
use sessionware::{MemoryStore, Session, SessionError, SessionLayer};

async fn count(session: Session) -> Result<String, SessionError> {
    let n: u64 = session.get("n")?.unwrap_or(0);
    session.insert("n", n + 1)?;
    Ok(format!("You have been here {n} times before.\n"))
}

/// The secret from `SESSIONWARE_SECRET`, or 64 fresh random bytes.
fn secret() -> Vec<u8> {
    if let Ok(hex) = std::env::var("SESSIONWARE_SECRET") {
        let bytes: Option<Vec<u8>> = (0..hex.len())
            .step_by(2)
            .map(|i| {
                hex.get(i..i + 2)
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok())
            })
            .collect();
        return bytes.expect("SESSIONWARE_SECRET must be hexadecimal");
    }
    let mut secret = vec![0u8; 64];
    rand::rngs::OsRng
        .try_fill_bytes(&mut secret)
        .expect("the OS random generator works");
    secret
}

#[tokio::main]
async fn main() {
    let layer = SessionLayer::new(MemoryStore::new(), secret())
        // Plain HTTP on localhost for the demo; keep the default (true) in production.
        .secure(false);
    let app = Router::new().route("/", get(count)).layer(layer);

    let addr = SocketAddr::from(([127, 0, 0, 1], 3000));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .expect("port 3000 is free");
    println!("counter listening on http://{addr}");
    axum::serve(listener, app).await.expect("server runs");
}
