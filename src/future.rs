//! `ResponseFuture`: awaits the inner service, then runs the after-response step.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::header::{CACHE_CONTROL, SET_COOKIE, VARY};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use pin_project_lite::pin_project;

use crate::event::SessionEvent;
use crate::pending::PendingSession;
use crate::pipeline::{BoxFuture, CookieAction, nothing_to_write, persist};
use crate::session::Session;
use crate::token::Transport;

pin_project! {
    /// The response future of [`SessionService`](crate::SessionService).
    ///
    /// If the handler never loaded the session, the response passes through
    /// untouched. Otherwise the layer adds `Vary: Cookie`, persists what
    /// changed and sets or clears the cookie with `Cache-Control: no-store`.
    /// A response with a 5xx status persists nothing (the handler failed, so
    /// its half-done changes are dropped). A failed save replaces the response
    /// with an empty `500 Internal Server Error`, and the error is logged.
    pub struct ResponseFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Inner { #[pin] future: F, session: Option<PendingSession> },
        Finishing { future: BoxFuture<'static, Response<B>> },
        Done,
    }
}

impl<F, B> ResponseFuture<F, B> {
    pub(crate) fn new(future: F, session: PendingSession) -> Self {
        Self {
            state: State::Inner {
                future,
                session: Some(session),
            },
        }
    }
}

impl<F, B> std::fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Default + Send + 'static,
{
    type Output = Result<Response<B>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let mut this = self.as_mut().project();
            match this.state.as_mut().project() {
                StateProj::Inner { future, session } => {
                    let mut response = ready!(future.poll(cx))?;
                    let Some(session) = session.take().and_then(|p| p.loaded()) else {
                        this.state.set(State::Done);
                        return Poll::Ready(Ok(response));
                    };
                    add_vary(response.headers_mut(), session.context().config.vary());
                    if response.status().is_server_error() {
                        if session.state().is_dirty() {
                            tracing::debug!(status = %response.status(), "handler failed; session changes not saved");
                        }
                        this.state.set(State::Done);
                        return Poll::Ready(Ok(response));
                    }
                    if nothing_to_write(session.context(), &session.state()) {
                        // The common read-only case: no store call, so no boxed future.
                        this.state.set(State::Done);
                        return Poll::Ready(Ok(response));
                    }
                    let finishing = Box::pin(finish(session, response));
                    this.state.set(State::Finishing { future: finishing });
                }
                StateProj::Finishing { future } => {
                    let response = ready!(future.as_mut().poll(cx));
                    this.state.set(State::Done);
                    return Poll::Ready(Ok(response));
                }
                StateProj::Done => panic!("ResponseFuture polled after completion"),
            }
        }
    }
}

/// Persists the session and sets the cookie on a successful response that
/// already carries `Vary: Cookie`.
async fn finish<B: Default>(session: Session, mut response: Response<B>) -> Response<B> {
    // A snapshot: the lock is not held across store calls.
    let state = session.state().clone();
    let cookie = match persist(session.context(), state).await {
        Ok(CookieAction::Keep) => return response,
        Ok(CookieAction::Set(cookie)) => cookie,
        Ok(CookieAction::Remove) => session.context().config.removal_cookie(),
        Err(err) => {
            tracing::error!(error = %err, kind = ?err.kind(), "session could not be saved; answering 500");
            let ctx = session.context();
            ctx.events.emit(|| SessionEvent::SaveFailed {
                handle: session.stored_handle(),
            });
            return failure(&session);
        }
    };
    let (name, value) = match &session.context().config.transport {
        Transport::Cookie => (SET_COOKIE, cookie.to_string()),
        // The token itself, or an empty value that tells the client to drop it.
        Transport::Header { response, .. } => (response.clone(), cookie.value().to_owned()),
    };
    match HeaderValue::try_from(value) {
        Ok(value) => {
            let headers = response.headers_mut();
            headers.append(name, value);
            forbid_storing(headers);
            response
        }
        Err(err) => {
            tracing::error!(error = %err, "session token is not a valid header value; answering 500");
            failure(&session)
        }
    }
}

/// A response that sets or clears the session's token must never be stored
/// by a shared cache. The handler's `Cache-Control` stays if it already says
/// `no-store`, or `private` without `public`; anything else (`public,
/// max-age=600` would let a shared cache hand the cookie to other users, and
/// so would a bare `max-age`) becomes `no-store`.
fn forbid_storing(headers: &mut HeaderMap) {
    let (mut no_store, mut private, mut public) = (false, false, false);
    for value in headers.get_all(CACHE_CONTROL) {
        for directive in value.to_str().unwrap_or("public").split(',') {
            let name = directive.split('=').next().unwrap_or("").trim();
            no_store |= name.eq_ignore_ascii_case("no-store");
            private |= name.eq_ignore_ascii_case("private");
            public |= name.eq_ignore_ascii_case("public") || name.eq_ignore_ascii_case("s-maxage");
        }
    }
    if no_store || (private && !public) {
        return;
    }
    if headers.contains_key(CACHE_CONTROL) {
        tracing::debug!("Cache-Control replaced by no-store: the response sets the session token");
    }
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// The response that replaces one whose session could not be saved.
fn failure<B: Default>(session: &Session) -> Response<B> {
    let mut response = Response::new(B::default());
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    add_vary(headers, session.context().config.vary());
    response
}

/// Adds `Vary: <token header>` (`cookie`, or the header transport's request
/// header) unless a `Vary` already covers it, so a shared cache never serves
/// one user's page to another (see *Logs and caches* in docs/threat-model.md).
fn add_vary(headers: &mut HeaderMap, token_header: &HeaderName) {
    let covered = headers.get_all(VARY).iter().any(|value| {
        value.to_str().is_ok_and(|text| {
            text.split(',').any(|item| {
                item.trim() == "*" || item.trim().eq_ignore_ascii_case(token_header.as_str())
            })
        })
    });
    if !covered {
        let value = if *token_header == http::header::COOKIE {
            HeaderValue::from_static("cookie")
        } else {
            HeaderValue::from(token_header.clone())
        };
        headers.append(VARY, value);
    }
}
