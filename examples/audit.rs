//! An audit log of session events: every login, logout, cycled id,
//! expired or refused cookie becomes one JSON line on stdout, naming the
//! session by its public handle (never its cookie or store key).
//!
//! ```sh
//! cargo run --example audit
//! curl -c jar -b jar http://127.0.0.1:3000/login/ferris
//! curl -c jar -b jar http://127.0.0.1:3000/logout
//! curl -b 'id=forged' http://127.0.0.1:3000/
//! ```
//!
//! The hook runs on the request's task: here it formats a line and hands it
//! to a channel, and a separate task writes it, so a slow log never slows a
//! request.

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use sessionware::{MemoryStore, Session, SessionEvent, SessionLayer, insecure_dev_secret};
use tokio::sync::mpsc;

async fn whoami(session: Session) -> String {
    format!("{:?}\n", session.user())
}

async fn login(session: Session, Path(user): Path<String>) -> &'static str {
    session.login(user);
    "logged in\n"
}

async fn logout(session: Session) -> &'static str {
    session.logout();
    "logged out\n"
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (lines, mut pending) = mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        while let Some(line) = pending.recv().await {
            println!("{line}");
        }
    });
    let layer = SessionLayer::new(MemoryStore::new(), insecure_dev_secret())
        .secure(false) // plain HTTP on localhost for the demo
        .on_event(move |event: &SessionEvent| {
            let at = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            let mut line = serde_json::json!({ "at_ms": at });
            if let (Some(line), Ok(serde_json::Value::Object(fields))) =
                (line.as_object_mut(), serde_json::to_value(event))
            {
                line.extend(fields);
            }
            let _ = lines.send(line.to_string());
        });
    let app = Router::new()
        .route("/", get(whoami))
        .route("/login/{user}", get(login))
        .route("/logout", get(logout))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    eprintln!("audit example listening on http://127.0.0.1:3000");
    axum::serve(listener, app).await?;
    Ok(())
}
