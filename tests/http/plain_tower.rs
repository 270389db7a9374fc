//! `SessionLayer` on a plain tower service, without axum's extractor: the
//! handler takes the `Session` from the request extensions and loads it.

use crate::common;

use std::convert::Infallible;

use http::{Request, Response};
use sessionware::{MemoryStore, Session, SessionLayer};
use tower::{ServiceBuilder, ServiceExt as _};

async fn count(request: Request<()>) -> Result<Response<String>, Infallible> {
    let session = request
        .extensions()
        .get::<Session>()
        .cloned()
        .expect("layer installed");
    let before_load = session.get::<u32>("n").unwrap_err().kind();
    session.load().await;
    let n = session.get::<u32>("n").unwrap().unwrap_or(0);
    session.insert("n", n + 1).unwrap();
    Ok(Response::new(format!("{n} {before_load:?}")))
}

#[tokio::test]
async fn works_on_any_http_service() {
    let service = ServiceBuilder::new()
        .layer(SessionLayer::new(MemoryStore::new(), common::secret()))
        .service_fn(count);
    let first = service.clone().oneshot(Request::new(())).await.unwrap();
    assert_eq!(
        first.body(),
        "0 NotLoaded",
        "before `load` the session reports NotLoaded"
    );
    let cookie = first.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let second = Request::builder()
        .header("cookie", cookie)
        .body(())
        .unwrap();
    let second = service.oneshot(second).await.unwrap();
    assert_eq!(second.body(), "1 NotLoaded");
}
