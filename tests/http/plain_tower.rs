//! `SessionLayer` on a plain tower service, without axum's extractor: the
//! handler takes the `PendingSession` from the request extensions and loads
//! it; only the loaded `Session` can be read or changed.

use crate::common;

use std::convert::Infallible;

use http::{Request, Response};
use sessionware::{MemoryStore, PendingSession, SessionLayer};
use tower::{ServiceBuilder, ServiceExt as _};

async fn count(request: Request<()>) -> Result<Response<String>, Infallible> {
    let pending = request
        .extensions()
        .get::<PendingSession>()
        .cloned()
        .expect("layer installed");
    let session = pending.load().await;
    let n = session.get::<u32>("n").unwrap().unwrap_or(0);
    session.insert("n", n + 1).unwrap();
    let again = pending.load().await;
    let shared = again.get::<u32>("n").unwrap() == Some(n + 1);
    Ok(Response::new(format!("{n} {shared}")))
}

async fn logout(request: Request<()>) -> Result<Response<String>, Infallible> {
    let pending = request.extensions().get::<PendingSession>().cloned();
    let session = pending.expect("layer installed").load().await;
    session.logout();
    Ok(Response::new("bye".to_owned()))
}

fn cookie_of(response: &Response<String>) -> String {
    response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn works_on_any_http_service() {
    let store = MemoryStore::new();
    let layer = SessionLayer::new(store.clone(), common::secret());
    let service = ServiceBuilder::new().layer(layer.clone()).service_fn(count);
    let first = service.clone().oneshot(Request::new(())).await.unwrap();
    assert_eq!(
        first.body(),
        "0 true",
        "a second load returns the same session"
    );
    let cookie = cookie_of(&first);
    let second = Request::builder()
        .header("cookie", &cookie)
        .body(())
        .unwrap();
    let second = service.oneshot(second).await.unwrap();
    assert_eq!(second.body(), "1 true");

    // A plain-tower logout ends the stored session: it cannot be called on
    // a session that was never loaded.
    let logout = ServiceBuilder::new().layer(layer).service_fn(logout);
    let request = Request::builder()
        .header("cookie", &cookie)
        .body(())
        .unwrap();
    let reply = logout.oneshot(request).await.unwrap();
    let removal = reply.headers()["set-cookie"].to_str().unwrap();
    assert!(
        removal.contains("Max-Age=0"),
        "the cookie is cleared: {removal}"
    );
    assert_eq!(store.len(), 0, "the record is deleted");
}
