//! The axum extractor for `Session`, and the rejection that names the fix.

use std::fmt;

use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

use crate::pending::PendingSession;
use crate::session::Session;

/// The session was requested on a route without [`SessionLayer`](crate::SessionLayer).
///
/// It answers `500 Internal Server Error` with a message naming the fix: a
/// programming error, not a client's fault.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct SessionRejection;

const MESSAGE: &str = "Missing session: is `SessionLayer` installed on this route?";

impl fmt::Display for SessionRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MESSAGE)
    }
}

impl std::error::Error for SessionRejection {}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        tracing::error!("{MESSAGE}");
        (StatusCode::INTERNAL_SERVER_ERROR, MESSAGE).into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let pending = parts
            .extensions
            .get::<PendingSession>()
            .ok_or(SessionRejection)?;
        Ok(pending.load().await)
    }
}
