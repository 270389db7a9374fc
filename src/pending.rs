//! `PendingSession`: what the layer puts in the request before anything is
//! loaded; its `load` gives the `Session`.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OnceCell;

use crate::client::Client;
use crate::pipeline::{Context, State, load};
use crate::session::{Session, Shared};
use crate::token::TokenHeaders;

/// The request's session before it is loaded: what
/// [`SessionLayer`](crate::SessionLayer) puts in the request extensions.
///
/// Nothing is parsed, verified or read from the store until
/// [`load`](PendingSession::load) is called, and only the [`Session`] it
/// returns can be read or changed, so no handler can act on a session that
/// was never loaded. The axum extractor for [`Session`] calls `load` for you;
/// other tower services do it themselves:
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use sessionware::PendingSession;
///
/// async fn logout(request: Request<()>) -> Result<Response<String>, Infallible> {
///     let pending = request.extensions().get::<PendingSession>().cloned();
///     let Some(pending) = pending else {
///         panic!("SessionLayer is not installed on this service");
///     };
///     let session = pending.load().await;
///     session.logout();
///     Ok(Response::new("bye".into()))
/// }
/// ```
#[derive(Clone)]
pub struct PendingSession {
    inner: Arc<Shared>,
}

impl PendingSession {
    pub(crate) fn new(ctx: Arc<Context>, cookies: TokenHeaders, client: Option<Client>) -> Self {
        Self {
            inner: Arc::new(Shared {
                ctx,
                cookies,
                client,
                state: OnceCell::new(),
            }),
        }
    }

    /// Loads the session once and returns it; later calls (and clones)
    /// return the same session, sharing its state.
    ///
    /// It never fails: whatever goes wrong (no cookie, a forged or malformed
    /// one, an unknown or expired record, a store failure) gives an empty
    /// guest session (see [`Session::is_degraded`]).
    pub async fn load(&self) -> Session {
        let inner = &self.inner;
        inner
            .state
            .get_or_init(|| async {
                let request_agent = inner
                    .client
                    .as_ref()
                    .filter(|_| inner.ctx.config.bind_user_agent)
                    .map(Client::agent_digest);
                let mut state = Box::new(Mutex::new(State::guest(request_agent)));
                let filling = state.get_mut().unwrap_or_else(PoisonError::into_inner);
                load(&inner.ctx, inner.cookies.as_slice(), filling).await;
                state
            })
            .await;
        Session::of_loaded(Arc::clone(inner))
    }

    /// The session, if a handler loaded it.
    pub(crate) fn loaded(&self) -> Option<Session> {
        self.inner
            .state
            .initialized()
            .then(|| Session::of_loaded(Arc::clone(&self.inner)))
    }
}

impl fmt::Debug for PendingSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingSession")
            .field("loaded", &self.inner.state.initialized())
            .finish_non_exhaustive()
    }
}
