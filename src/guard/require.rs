//! `RequireSignInLayer`: the guard as a tower layer, for a whole router.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Request;
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::{GuardRejection, Kind, NO_SESSION_LAYER, signed_in_user};
use crate::pending::PendingSession;
use crate::pipeline::BoxFuture;
use crate::session::Session;

/// Lets only a signed-in user's requests reach the wrapped service: the
/// [`SignedIn`](crate::SignedIn) rule for a whole `Router` or nested router.
///
/// Any other request never reaches it and gets the same `401`, redirect
/// or `503` (set up by the [`Guard`](crate::Guard), read from the request extensions).
/// Apply it inside `SessionLayer`, whose session it loads, and with
/// `route_layer`, so that unknown paths still get their 404:
///
/// ```
/// use axum::{Router, routing::get};
/// use sessionware::{Guard, MemoryStore, RequireSignInLayer, SessionLayer};
/// # use tower::ServiceExt as _;
///
/// let admin = Router::new()
///     .route("/users", get(|| async { "the user list" }))
///     .route_layer(RequireSignInLayer::new());
/// # let secret: [u8; 64] = rand::random();
/// let app = Router::new()
///     .nest("/admin", admin)
///     .layer(Guard::new().login_path("/login"))
///     .layer(SessionLayer::new(MemoryStore::new(), &secret));
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// # let request = http::Request::get("/admin/users").body(axum::body::Body::empty()).unwrap();
///
/// let response = app.oneshot(request).await.unwrap();
/// assert_eq!(response.headers()["location"], "/login?next=%2Fadmin%2Fusers");
/// # });
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[must_use]
pub struct RequireSignInLayer {
    _private: (),
}

impl RequireSignInLayer {
    /// The layer; its answers are set up by the [`Guard`](crate::Guard).
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for RequireSignInLayer {
    type Service = RequireSignIn<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireSignIn { inner }
    }
}

/// The service [`RequireSignInLayer`] builds. Its response body must be
/// buildable from a `&'static str` (axum's `Body` is).
#[derive(Debug, Clone)]
pub struct RequireSignIn<S> {
    inner: S,
}

impl<S> RequireSignIn<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireSignIn<S>
where
    S: Service<Request<ReqBody>, Response = http::Response<ResBody>> + Clone,
    ResBody: From<&'static str>,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = RequireSignInFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let Some(pending) = request.extensions().get::<PendingSession>().cloned() else {
            tracing::error!("{NO_SESSION_LAYER}");
            let rejection = GuardRejection {
                kind: Kind::NoSession { layer: true },
            };
            let step = Step::Rejected {
                response: Some(rejection.into_http()),
            };
            return RequireSignInFuture { step };
        };
        // The service that was polled ready is the one to call, later.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let step = Step::Loading {
            load: Box::pin(async move { pending.load().await }),
            inner: Some(inner),
            request: Some(request),
        };
        RequireSignInFuture { step }
    }
}

pin_project! {
    /// The response future of [`RequireSignIn`]: it loads the session (a
    /// boxed future, as `PendingSession::load` is an `async fn`), then
    /// either calls the inner service or answers for it.
    pub struct RequireSignInFuture<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        step: Step<S, ReqBody>,
    }
}

pin_project! {
    #[project = StepProj]
    enum Step<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        Loading { load: BoxFuture<'static, Session>, inner: Option<S>, request: Option<Request<ReqBody>> },
        Calling { #[pin] future: S::Future },
        Rejected { response: Option<S::Response> },
    }
}

impl<S, ReqBody> fmt::Debug for RequireSignInFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireSignInFuture")
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Future for RequireSignInFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>, Response = http::Response<ResBody>>,
    ResBody: From<&'static str>,
{
    type Output = Result<http::Response<ResBody>, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        const DONE: &str = "RequireSignInFuture polled after completion";
        loop {
            let mut this = self.as_mut().project();
            match this.step.as_mut().project() {
                StepProj::Loading {
                    load,
                    inner,
                    request,
                } => {
                    let session = ready!(load.as_mut().poll(cx));
                    let request = request.take().expect(DONE);
                    let mut inner = inner.take().expect(DONE);
                    if let Err(rejection) =
                        signed_in_user(&session, request.extensions(), request.uri())
                    {
                        return Poll::Ready(Ok(rejection.into_http()));
                    }
                    let future = inner.call(request);
                    this.step.set(Step::Calling { future });
                }
                StepProj::Calling { future } => return future.poll(cx),
                StepProj::Rejected { response } => {
                    return Poll::Ready(Ok(response.take().expect(DONE)));
                }
            }
        }
    }
}
