//! Bare axum: the four routes without any session layer.

use axum::Router;
use axum::routing::get;

/// The four routes, each answering `ok`.
pub fn bare() -> Router {
    async fn ok() -> &'static str {
        "ok"
    }
    Router::new()
        .route("/plain", get(ok))
        .route("/read", get(ok))
        .route("/write", get(ok))
        .route("/login", get(ok))
}
