//! A page-view counter on the embedded `MemoryStore`.
//!
//! ```sh
//! cargo run --example counter
//! # then open http://127.0.0.1:3000 and reload, or:
//! curl -c jar -b jar http://127.0.0.1:3000
//! ```
//!
//! With `SESSIONWARE_SECRET` set (64 random bytes as hex or base64, such as
//! `SESSIONWARE_SECRET=$(openssl rand -hex 64)`), the layer comes from the
//! environment (`SessionLayer::from_env`); otherwise a random secret is drawn
//! at start (with a warning), so sessions end with the process.

use std::net::SocketAddr;

use axum::{Router, routing::get};
use sessionware::{Error, MemoryStore, Session, SessionLayer, insecure_dev_secret};

async fn count(session: Session) -> Result<String, Error> {
    let n: u64 = session.get("n")?.unwrap_or(0);
    session.insert("n", n + 1)?;
    Ok(format!("You have been here {n} times before.\n"))
}

#[tokio::main]
async fn main() {
    let store = MemoryStore::new();
    let layer = match std::env::var_os("SESSIONWARE_SECRET") {
        Some(_) => SessionLayer::from_env(store).unwrap_or_else(|err| panic!("{err}")),
        None => SessionLayer::new(store, insecure_dev_secret()),
    }
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
