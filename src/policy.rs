//! The failure policy: which responses save the session, and what answers
//! when a save fails.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Response, StatusCode};

use crate::error::Error;

/// Which response statuses save the session
/// ([`SessionLayer::save_policy`](crate::SessionLayer::save_policy)).
///
/// A response the policy does not save leaves the session exactly as the
/// request found it: no store write of any kind (no save, no create, no
/// delete), so a guest's new session is not created, a `destroy` or `logout`
/// is not carried out, an idle deadline is not pushed back and a cookie
/// signed under a retired secret is not re-signed; and no `Set-Cookie` (or
/// token header) is sent. `Vary` is still added. Whatever the handler
/// changed is dropped, with a `debug!` log.
///
/// # Example
///
/// ```
/// use axum::{Router, http::StatusCode, routing::get};
/// use sessionware::{MemoryStore, SavePolicy, Session, SessionLayer};
/// # use tower::ServiceExt as _;
///
/// async fn rejected(session: Session) -> StatusCode {
///     session.insert("attempts", 1).unwrap();
///     StatusCode::UNPROCESSABLE_ENTITY
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemoryStore::new();
/// let secret: [u8; 64] = rand::random();
/// let layer = SessionLayer::new(store.clone(), &secret)
///     // A 4xx (or 5xx) response leaves the session as the request found it.
///     .save_policy(SavePolicy::UnlessError)
///     // A failed save answers 503 with this body, instead of the default 500.
///     .on_save_failure(|_err| {
///         http::Response::builder()
///             .status(StatusCode::SERVICE_UNAVAILABLE)
///             .header("retry-after", "5")
///             .body("Your change was not saved; please retry in a moment.".into())
///             .unwrap()
///     });
/// let app = Router::new().route("/", get(rejected)).layer(layer);
/// # let request = http::Request::get("/").body(axum::body::Body::empty()).unwrap();
///
/// let response = app.oneshot(request).await.unwrap();
/// assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
/// assert!(response.headers().get("set-cookie").is_none());
/// assert_eq!(store.len(), 0, "nothing was created");
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SavePolicy {
    /// Every response saves except a 5xx (server error): the handler failed,
    /// so its half-done changes are dropped. The default.
    #[default]
    UnlessServerError,
    /// Only a response below 400 saves (1xx, 2xx and 3xx: a redirect after
    /// a login still saves); a 4xx or 5xx saves nothing. For apps whose
    /// handlers change the session before they validate the request.
    UnlessError,
    /// Every response saves, even a 5xx: a failed handler's half-done
    /// changes are kept, and a `logout` is carried out although the
    /// response says the request failed. Only for handlers that answer 5xx
    /// on purpose after deciding what the session should hold.
    Always,
}

impl SavePolicy {
    /// Whether a response with `status` saves the session.
    pub(crate) fn saves(self, status: StatusCode) -> bool {
        match self {
            Self::UnlessServerError => !status.is_server_error(),
            Self::UnlessError => status.as_u16() < 400,
            Self::Always => true,
        }
    }
}

/// The body of the default answer to a failed save.
pub(crate) const SAVE_FAILED: &str = "The session could not be saved; please retry.";

type Respond = dyn Fn(&Error) -> Response<Cow<'static, str>> + Send + Sync;

/// What answers a request whose session could not be saved: the default
/// `500`, or the app's builder (`SessionLayer::on_save_failure`).
#[derive(Clone, Default)]
pub(crate) struct SaveFailure(Option<Arc<Respond>>);

impl SaveFailure {
    pub(crate) fn custom(
        respond: impl Fn(&Error) -> Response<Cow<'static, str>> + Send + Sync + 'static,
    ) -> Self {
        Self(Some(Arc::new(respond)))
    }

    /// The answer to `err`, before the layer's own headers are enforced.
    pub(crate) fn respond(&self, err: &Error) -> Response<Cow<'static, str>> {
        match &self.0 {
            Some(respond) => respond(err),
            None => default_response(),
        }
    }
}

impl fmt::Debug for SaveFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Some(_) => "SaveFailure(custom)",
            None => "SaveFailure(default)",
        })
    }
}

/// `500 Internal Server Error`, `Cache-Control: no-store` and a short text
/// that names no store, host or error.
fn default_response() -> Response<Cow<'static, str>> {
    let mut response = Response::new(Cow::Borrowed(SAVE_FAILED));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_policy_saves_the_statuses_it_names() {
        let statuses = [200, 204, 303, 400, 401, 404, 422, 500, 503];
        let saved = |policy: SavePolicy| -> Vec<u16> {
            statuses
                .into_iter()
                .filter(|&s| policy.saves(StatusCode::from_u16(s).unwrap()))
                .collect()
        };
        assert_eq!(
            saved(SavePolicy::default()),
            [200, 204, 303, 400, 401, 404, 422]
        );
        assert_eq!(saved(SavePolicy::UnlessError), [200, 204, 303]);
        assert_eq!(saved(SavePolicy::Always), statuses);
    }

    #[test]
    fn debug_says_which_answer_without_calling_it() {
        assert_eq!(
            format!("{:?}", SaveFailure::default()),
            "SaveFailure(default)"
        );
        let custom = SaveFailure::custom(|_| Response::new(Cow::Borrowed("")));
        assert_eq!(format!("{custom:?}"), "SaveFailure(custom)");
    }
}
