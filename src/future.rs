//! `ResponseFuture`: awaits the inner service, then runs the after-response step.

use std::any::Any;
use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::PoisonError;
use std::task::{Context, Poll, ready};

use http::header::{CACHE_CONTROL, CONTENT_LENGTH, SET_COOKIE, VARY};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use pin_project_lite::pin_project;

use crate::config::SessionCookie;
use crate::error::{Error, ErrorKind};
use crate::event::SessionEvent;
use crate::pending::PendingSession;
use crate::pipeline::{BoxFuture, CookieAction, Origin, nothing_to_write, persist};
use crate::session::Session;
use crate::token::Transport;

pin_project! {
    /// The response future of [`SessionService`](crate::SessionService).
    ///
    /// If the handler never loaded the session, the response passes through
    /// untouched. Otherwise the layer adds `Vary: Cookie`, persists what
    /// changed and sets or clears the cookie with `Cache-Control: no-store`.
    /// A response whose status the [`SavePolicy`](crate::SavePolicy) skips
    /// (by default a 5xx: the handler failed, so its half-done changes are
    /// dropped) persists nothing. A failed save replaces the response with
    /// the answer of
    /// [`SessionLayer::on_save_failure`](crate::SessionLayer::on_save_failure)
    /// (by default a `500 Internal Server Error` with a short text), and the
    /// error is logged.
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
                    let status = response.status();
                    if !session.context().config.save_policy.saves(status) {
                        if session.state().is_dirty() {
                            tracing::debug!(%status, "session changes not saved: the save policy skips this status");
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
async fn finish<B: Default + 'static>(
    mut session: Session,
    mut response: Response<B>,
) -> Response<B> {
    // Taken out or a snapshot: no lock is held across store calls.
    let mut state = session.take_state_to_persist();
    let state = state.get_mut().unwrap_or_else(PoisonError::into_inner);
    let stored_key = match &state.origin {
        Origin::Stored(stored) => Some(stored.key),
        _ => None,
    };
    let cookie = match persist(session.context(), state).await {
        Ok(CookieAction::Keep) => return response,
        Ok(CookieAction::Set(cookie)) => Cookie::Session(cookie),
        Ok(CookieAction::Remove) => Cookie::Removal,
        Err(err) => {
            tracing::error!(error = %err, kind = ?err.kind(), "session could not be saved; answering with the save-failure response");
            let ctx = session.context();
            ctx.events.emit(|| SessionEvent::SaveFailed {
                handle: stored_key.map(|key| key.handle()),
            });
            return failure(&session, &err);
        }
    };
    let ctx = session.context();
    let (name, value) = match (&ctx.config.transport, cookie) {
        (Transport::Cookie, Cookie::Session(cookie)) => (SET_COOKIE, ctx.set_cookie.text(&cookie)),
        (Transport::Cookie, Cookie::Removal) => {
            (SET_COOKIE, ctx.config.removal_cookie().to_string())
        }
        // The token itself, or an empty value that tells the client to drop it.
        (Transport::Header { response, .. }, Cookie::Session(cookie)) => {
            (response.clone(), cookie.value)
        }
        (Transport::Header { response, .. }, Cookie::Removal) => (response.clone(), String::new()),
    };
    match HeaderValue::try_from(value) {
        Ok(value) => {
            let headers = response.headers_mut();
            headers.append(name, value);
            forbid_storing(headers);
            response
        }
        Err(err) => {
            tracing::error!(error = %err, "session token is not a valid header value; answering with the save-failure response");
            let err = Error::new(
                ErrorKind::InvalidConfig,
                "session token is not a valid header value",
            );
            failure(&session, &err)
        }
    }
}

/// The cookie a response sets.
enum Cookie {
    Session(SessionCookie),
    Removal,
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

/// The response that replaces one whose session could not be saved: the
/// layer's save-failure answer to `err`, with no token, `no-store`, `Vary`,
/// and never a success status.
fn failure<B: Default + 'static>(session: &Session, err: &Error) -> Response<B> {
    let config = &session.context().config;
    let (mut parts, text) = config.save_failure.respond(err).into_parts();
    if parts.status.as_u16() < 300 {
        tracing::warn!(status = %parts.status, "on_save_failure answered a success status; answering 500 instead");
        parts.status = StatusCode::INTERNAL_SERVER_ERROR;
    }
    let headers = &mut parts.headers;
    headers.remove(SET_COOKIE);
    if let Transport::Header { response, .. } = &config.transport {
        headers.remove(response);
    }
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    add_vary(headers, config.vary());
    let body = body_of(text).unwrap_or_else(|| {
        parts.headers.remove(CONTENT_LENGTH);
        B::default()
    });
    Response::from_parts(parts, body)
}

/// `text` as a body of type `B`, for the body types that can hold one
/// without a trait bound on `B`: axum's `Body`, `String`, `Vec<u8>` and
/// `Cow<'static, str>`. `None` for any other.
fn body_of<B: 'static>(text: Cow<'static, str>) -> Option<B> {
    let mut body = None::<B>;
    let slot: &mut dyn Any = &mut body;
    #[cfg(feature = "axum")]
    if let Some(slot) = slot.downcast_mut::<Option<axum_core::body::Body>>() {
        *slot = Some(text.into());
        return body;
    }
    if let Some(slot) = slot.downcast_mut::<Option<String>>() {
        *slot = Some(text.into_owned());
    } else if let Some(slot) = slot.downcast_mut::<Option<Vec<u8>>>() {
        *slot = Some(text.into_owned().into_bytes());
    } else if let Some(slot) = slot.downcast_mut::<Option<Cow<'static, str>>>() {
        *slot = Some(text);
    }
    body
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
