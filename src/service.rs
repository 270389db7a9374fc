//! `SessionService`: hands each request a lazy session, then persists it.

use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use http::header::COOKIE;
use http::{Request, Response};
use tower_service::Service;

use crate::client::Client;
use crate::future::ResponseFuture;
use crate::pending::PendingSession;
use crate::pipeline::Context;
use crate::token::{TokenHeaders, Transport};

/// The service [`SessionLayer`](crate::SessionLayer) builds around yours.
///
/// Per request it copies the `Cookie` headers (a reference-count bump) into a
/// [`PendingSession`] in the request extensions, and calls the inner service.
/// Nothing is parsed, verified or loaded unless the handler uses the session.
#[derive(Debug, Clone)]
pub struct SessionService<S> {
    inner: S,
    ctx: Arc<Context>,
}

impl<S> SessionService<S> {
    pub(crate) fn new(inner: S, ctx: Arc<Context>) -> Self {
        Self { inner, ctx }
    }

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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SessionService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Default + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let source = match &self.ctx.config.transport {
            Transport::Cookie => &COOKIE,
            Transport::Header { request, .. } => request,
        };
        let cookies = TokenHeaders::from(request.headers().get_all(source));
        let config = &self.ctx.config;
        let client = (config.login_metadata || config.bind_user_agent)
            .then(|| Client::of(&request, config.client_ip_header.as_ref()));
        let pending = PendingSession::new(Arc::clone(&self.ctx), cookies, client);
        request.extensions_mut().insert(pending.clone());
        ResponseFuture::new(self.inner.call(request), pending)
    }
}
