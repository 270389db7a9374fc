//! axum + tower-sessions 0.15: the four routes behind its layer.

use std::time::Duration;

use ::tower_sessions::Session;
use ::tower_sessions::session::Error;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;

use super::LOGIN;

fn fail(_: Error) -> StatusCode {
    StatusCode::INTERNAL_SERVER_ERROR
}

async fn plain() -> &'static str {
    "ok"
}

async fn read(session: Session) -> Result<String, StatusCode> {
    let n: u64 = session
        .get("n")
        .await
        .map_err(fail)?
        .ok_or(StatusCode::CONFLICT)?;
    Ok(n.to_string())
}

async fn write(session: Session) -> Result<String, StatusCode> {
    let n: u64 = session
        .get("n")
        .await
        .map_err(fail)?
        .ok_or(StatusCode::CONFLICT)?;
    session.insert("n", n + 1).await.map_err(fail)?;
    Ok((n + 1).to_string())
}

async fn login(session: Session) -> Result<&'static str, StatusCode> {
    session
        .insert("user_id", LOGIN.user_id)
        .await
        .map_err(fail)?;
    session.insert("name", LOGIN.name).await.map_err(fail)?;
    session.insert("role", LOGIN.role).await.map_err(fail)?;
    session.insert("csrf", LOGIN.csrf).await.map_err(fail)?;
    session.insert("n", 0u64).await.map_err(fail)?;
    Ok("ok")
}

/// The four routes behind tower-sessions' layer over `store` (see
/// [`crate::layers::tower_sessions`] for `idle`).
pub fn tower_sessions<S>(store: S, idle: Option<Duration>) -> Router
where
    S: ::tower_sessions::SessionStore + Clone,
{
    Router::new()
        .route("/plain", get(plain))
        .route("/read", get(read))
        .route("/write", get(write))
        .route("/login", get(login))
        .layer(crate::layers::tower_sessions(store, idle))
}
