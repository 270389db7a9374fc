//! axum + sessionware: the four routes behind sessionware's layer.

use std::time::Duration;

use ::sessionware::{Error, Session};
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
        .map_err(fail)?
        .ok_or(StatusCode::CONFLICT)?;
    Ok(n.to_string())
}

async fn write(session: Session) -> Result<String, StatusCode> {
    let n: u64 = session
        .get("n")
        .map_err(fail)?
        .ok_or(StatusCode::CONFLICT)?;
    session.insert("n", n + 1).map_err(fail)?;
    Ok((n + 1).to_string())
}

async fn login(session: Session) -> Result<&'static str, StatusCode> {
    session.insert("user_id", LOGIN.user_id).map_err(fail)?;
    session.insert("name", LOGIN.name).map_err(fail)?;
    session.insert("role", LOGIN.role).map_err(fail)?;
    session.insert("csrf", LOGIN.csrf).map_err(fail)?;
    session.insert("n", 0u64).map_err(fail)?;
    Ok("ok")
}

/// The four routes behind sessionware's layer over `store` (see
/// [`crate::layers::sessionware`] for `idle`).
pub fn sessionware(store: impl ::sessionware::SessionStore, idle: Option<Duration>) -> Router {
    Router::new()
        .route("/plain", get(plain))
        .route("/read", get(read))
        .route("/write", get(write))
        .route("/login", get(login))
        .layer(crate::layers::sessionware(store, idle))
}
