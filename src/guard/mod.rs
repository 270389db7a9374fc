//! Route guards: extractors and a tower layer that let through only a
//! signed-in user, or only a session the store really loaded; and
//! `safe_next`, the check of a login page's `next` parameter.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use http::request::Parts;
use http::uri::PathAndQuery;
use http::{Extensions, HeaderValue, Request, StatusCode, Uri};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use tower_layer::Layer;
use tower_service::Service;

mod recent;
mod require;

pub use self::recent::RecentlySignedIn;
pub use self::require::{RequireSignIn, RequireSignInFuture, RequireSignInLayer};
use crate::extract::SessionRejection;
use crate::session::Session;

/// The `Retry-After` of a 503 when no [`Guard`] sets one, in seconds.
const DEFAULT_RETRY_AFTER: u64 = 5;
/// What `next` keeps unencoded: letters, digits and `-._~`; `/`, `?`, `&`,
/// `=` and `%` are encoded, so the whole path and query is one opaque value.
const NEXT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
const UNAUTHORIZED: &str = "Sign-in required";
const UNAVAILABLE: &str = "Session store unavailable; retry later";
pub(super) const NO_SESSION_LAYER: &str =
    "Missing session: is `SessionLayer` installed outside `RequireSignInLayer`?";

/// How the guards of an app turn a visitor away: the login page to send
/// them to, and how long to ask clients to wait while the store is down.
///
/// As a [`Layer`] it puts itself into each request's extensions, where
/// [`SignedIn`], [`SessionRequired`] and [`RequireSignInLayer`] read it;
/// without one they answer `401` to a visitor who is not signed in, and
/// `503` with `Retry-After: 5` while the store is down.
///
/// Apply it to the outermost `Router`, next to `SessionLayer`: it also notes
/// the request's path and query there, before `Router::nest` strips the
/// prefix, so that `next` holds the whole original path. A `Guard` applied
/// further in (to a nested `/api` router, say, without a login page)
/// overrides the outer one's settings for its routes.
///
/// # Example
///
/// ```
/// use axum::extract::Query;
/// use axum::response::Redirect;
/// use axum::{Router, routing::get};
/// use sessionware::{Guard, MemoryStore, Session, SessionLayer, SignedIn, safe_next};
/// # use tower::ServiceExt as _;
///
/// async fn account(SignedIn { user, .. }: SignedIn) -> String {
///     format!("hello, {user}")
/// }
///
/// #[derive(serde::Deserialize)]
/// struct Next {
///     next: Option<String>,
/// }
///
/// async fn login(session: Session, Query(query): Query<Next>) -> Redirect {
///     session.login("ferris"); // once the credentials are checked
///     // Back to where the user was going, but only to a path of this site.
///     Redirect::to(query.next.as_deref().and_then(safe_next).unwrap_or("/"))
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let secret: [u8; 64] = rand::random();
/// let app = Router::new()
///     .route("/account", get(account))
///     .route("/login", get(login))
///     .layer(Guard::new().login_path("/login"))
///     .layer(SessionLayer::new(MemoryStore::new(), &secret));
/// # let get = |uri: &str| http::Request::get(uri).body(axum::body::Body::empty()).unwrap();
///
/// let response = app.clone().oneshot(get("/account?tab=2")).await.unwrap();
/// assert_eq!(response.status(), 303);
/// assert_eq!(response.headers()["location"], "/login?next=%2Faccount%3Ftab%3D2");
///
/// let response = app.oneshot(get("/login?next=https://evil.example")).await.unwrap();
/// assert_eq!(response.headers()["location"], "/");
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Guard {
    login_path: Option<Arc<str>>,
    /// Where `RecentlySignedIn` sends a stale sign-in (see `recent.rs`).
    reauthenticate_path: Option<Arc<str>>,
    retry_after: u64,
}

impl Default for Guard {
    fn default() -> Self {
        Self::new()
    }
}

impl Guard {
    /// A guard that answers `401 Unauthorized` to a visitor who is not
    /// signed in, and `503` with `Retry-After: 5` while the store is down.
    pub fn new() -> Self {
        Self {
            login_path: None,
            reauthenticate_path: None,
            retry_after: DEFAULT_RETRY_AFTER,
        }
    }

    /// Sends a visitor who is not signed in to `path` with `303 See Other`,
    /// instead of answering `401`: to `path?next=<their path and query,
    /// percent-encoded>` (or `&next=` if `path` has a query). The login
    /// handler reads `next` back through [`safe_next`]. A request whose own
    /// path `safe_next` would refuse (`//evil.example`) gets no `next`.
    /// Default: none. Do not guard the login page itself.
    ///
    /// # Panics
    ///
    /// If `path` is not a path of this site that [`safe_next`] accepts (a
    /// full URL, `//host`), or holds a `#` fragment.
    pub fn login_path(mut self, path: &str) -> Self {
        assert!(
            safe_next(path).is_some() && !path.contains('#'),
            "Guard::login_path must be a local path like \"/login\", got {path:?}"
        );
        self.login_path = Some(path.into());
        self
    }

    /// How long a `503` asks the client to wait before retrying, in its
    /// `Retry-After` header: rounded up to whole seconds, at least one.
    /// Default: 5 seconds.
    pub fn retry_after(mut self, wait: Duration) -> Self {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        self.retry_after = seconds.max(1);
        self
    }
}

impl<S> Layer<S> for Guard {
    type Service = GuardService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GuardService {
            inner,
            guard: self.clone(),
        }
    }
}

/// The request's path and query as the outermost [`Guard`] saw it.
#[derive(Clone)]
struct Target(PathAndQuery);

/// The service [`Guard`] builds: it puts the guard into each request's
/// extensions, and calls the inner service. See [`Guard`] for an example.
#[derive(Debug, Clone)]
pub struct GuardService<S> {
    inner: S,
    guard: Guard,
}

impl<S> GuardService<S> {
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

impl<S, B> Service<Request<B>> for GuardService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let target = request.uri().path_and_query().cloned();
        let extensions = request.extensions_mut();
        if let (None, Some(target)) = (extensions.get::<Target>(), target) {
            extensions.insert(Target(target));
        }
        extensions.insert(self.guard.clone());
        self.inner.call(request)
    }
}

/// The `next` value of a login link if it is safe to redirect to, that is
/// a path of this site; `None` for anything that could lead elsewhere.
///
/// Accepted: a value that starts with one `/` (not `//`, not `/\`), all
/// printable ASCII, no backslash anywhere, and that still passes these rules
/// once percent-decoded (against `/%2F%2Fevil.example`, `/%5Cevil.example`,
/// `/%09/evil.example`); starting with `/`, it has no scheme. The value
/// returned is the one given, for a `Location` header. Pass it the value
/// after the query was decoded once, as axum's `Query` gives it. See
/// [`Guard`] for a login handler that uses it.
///
/// ```
/// use sessionware::safe_next;
///
/// assert_eq!(safe_next("/account/settings?tab=2"), Some("/account/settings?tab=2"));
/// for evil in ["//evil.example", "https://evil.example", "/\\evil.example",
///              "/%2F%2Fevil.example", "/%5Cevil.example", "\t//evil.example",
///              "javascript:alert(1)"] {
///     assert_eq!(safe_next(evil), None, "{evil}");
/// }
/// ```
pub fn safe_next(next: &str) -> Option<&str> {
    if !is_local_path(next, true) {
        return None;
    }
    let decoded = percent_decode_str(next).decode_utf8().ok()?;
    is_local_path(&decoded, false).then_some(next)
}

/// One `/` first (not `//`, not `/\`), no backslash and no control
/// character anywhere; when `raw`, printable ASCII only (no space either).
fn is_local_path(path: &str, raw: bool) -> bool {
    let mut chars = path.chars();
    chars.next() == Some('/')
        && !matches!(chars.next(), Some('/' | '\\'))
        && path
            .chars()
            .all(|c| c != '\\' && !c.is_control() && (!raw || c.is_ascii_graphic()))
}

/// `login?next=<target>`, or `login` alone if the target is not a safe `next`.
fn location(login: &str, target: Option<&str>) -> Option<HeaderValue> {
    let location = match target.filter(|target| safe_next(target).is_some()) {
        Some(target) => {
            let separator = if login.contains('?') { '&' } else { '?' };
            format!(
                "{login}{separator}next={}",
                utf8_percent_encode(target, NEXT)
            )
        }
        None => login.to_owned(),
    };
    HeaderValue::try_from(location).ok()
}

/// The signed-in user of `session`, or how to turn the request away.
pub(super) fn signed_in_user(
    session: &Session,
    extensions: &Extensions,
    uri: &Uri,
) -> Result<String, GuardRejection> {
    let guard = extensions.get::<Guard>();
    if session.is_degraded() {
        return Err(unavailable(guard));
    }
    if let Some(user) = session.user() {
        return Ok(user);
    }
    let location = guard.and_then(|guard| {
        let login = guard.login_path.as_deref()?;
        let target = match extensions.get::<Target>() {
            Some(Target(target)) => Some(target.as_str()),
            None => uri.path_and_query().map(PathAndQuery::as_str),
        };
        location(login, target)
    });
    Err(GuardRejection {
        kind: Kind::SignIn { location },
    })
}

fn unavailable(guard: Option<&Guard>) -> GuardRejection {
    let retry_after = guard.map_or(DEFAULT_RETRY_AFTER, |guard| guard.retry_after);
    GuardRejection {
        kind: Kind::Unavailable { retry_after },
    }
}

/// Why a guard turned a request away; as a response, what the client gets.
///
/// * not signed in: `401 Unauthorized` with a short text, or `303 See Other`
///   to the [`Guard`]'s login page;
/// * the store failed while loading the session: `503 Service Unavailable`
///   with `Retry-After`;
/// * no `SessionLayer` outside the route: `500` naming the fix.
///
/// Every one carries `Cache-Control: no-store`.
#[derive(Debug)]
pub struct GuardRejection {
    pub(super) kind: Kind,
}

#[derive(Debug)]
pub(super) enum Kind {
    SignIn { location: Option<HeaderValue> },
    Unavailable { retry_after: u64 },
    NoSession { layer: bool },
}

impl GuardRejection {
    /// The status of the response: 401, 303, 503 or 500.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            Kind::SignIn { location: None } => StatusCode::UNAUTHORIZED,
            Kind::SignIn { location: Some(_) } => StatusCode::SEE_OTHER,
            Kind::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Kind::NoSession { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn message(&self) -> &'static str {
        match self.kind {
            Kind::SignIn { location: None } => UNAUTHORIZED,
            Kind::SignIn { location: Some(_) } => "",
            Kind::Unavailable { .. } => UNAVAILABLE,
            Kind::NoSession { .. } => NO_SESSION_LAYER,
        }
    }

    /// The response, with any body that a text can become.
    fn into_http<B: From<&'static str>>(self) -> http::Response<B> {
        let message = self.message();
        let mut response = http::Response::new(B::from(message));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        match self.kind {
            Kind::SignIn {
                location: Some(location),
            } => {
                headers.insert(LOCATION, location);
            }
            Kind::Unavailable { retry_after } => {
                headers.insert(RETRY_AFTER, HeaderValue::from(retry_after));
            }
            Kind::SignIn { location: None } | Kind::NoSession { .. } => {}
        }
        if !message.is_empty() {
            let text = HeaderValue::from_static("text/plain; charset=utf-8");
            headers.insert(CONTENT_TYPE, text);
        }
        response
    }
}

impl fmt::Display for GuardRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::SignIn { location: Some(_) } => f.write_str("sign-in required: redirected"),
            Kind::NoSession { layer: false } => fmt::Display::fmt(&SessionRejection, f),
            _ => f.write_str(self.message()),
        }
    }
}

impl std::error::Error for GuardRejection {}

impl IntoResponse for GuardRejection {
    fn into_response(self) -> Response {
        match self.kind {
            Kind::NoSession { layer: false } => SessionRejection.into_response(),
            Kind::NoSession { layer: true } => {
                tracing::error!("{NO_SESSION_LAYER}");
                self.into_http()
            }
            _ => self.into_http(),
        }
    }
}

async fn session_of<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
) -> Result<Session, GuardRejection> {
    Session::from_request_parts(parts, state)
        .await
        .map_err(|SessionRejection| GuardRejection {
            kind: Kind::NoSession { layer: false },
        })
}

/// A signed-in user, required: the user id ([`Session::user`]) and the
/// session.
///
/// Without a user the request is turned away with `401 Unauthorized`, or
/// redirected to the login page of the [`Guard`] (see its example). While
/// the store is down ([`Session::is_degraded`]) nobody can be known to be
/// signed in: the answer is `503` with `Retry-After`, not a trip to the
/// login page. [`RequireSignInLayer`] applies the same rule to a whole router.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The user the session belongs to.
    pub user: String,
    /// The request's session.
    pub session: Session,
}

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = GuardRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let session = session_of(parts, state).await?;
        let user = signed_in_user(&session, &parts.extensions, &parts.uri)?;
        Ok(Self { user, session })
    }
}

/// The signed-in user if there is one, and the session: for pages that
/// work either way ("Sign in" or "Hello, ferris"). A guest, and a session
/// the store failed to load, have `user: None`. Reading it never sets a
/// cookie.
#[derive(Debug, Clone)]
pub struct MaybeSignedIn {
    /// The user the session belongs to, if any.
    pub user: Option<String>,
    /// The request's session.
    pub session: Session,
}

impl<S: Send + Sync> FromRequestParts<S> for MaybeSignedIn {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state).await?;
        let user = session.user();
        Ok(Self { user, session })
    }
}

/// The session, only if the store really loaded it: for routes that must
/// not run as a guest when the store is down (a checkout, an admin page).
///
/// When loading failed ([`Session::is_degraded`]) it answers `503 Service
/// Unavailable` with the `Retry-After` of the [`Guard`] (default 5
/// seconds), instead of running the handler on an empty session whose
/// changes would be dropped. A guest whose store works passes.
#[derive(Debug, Clone)]
pub struct SessionRequired(pub Session);

impl<S: Send + Sync> FromRequestParts<S> for SessionRequired {
    type Rejection = GuardRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let session = session_of(parts, state).await?;
        if session.is_degraded() {
            return Err(unavailable(parts.extensions.get::<Guard>()));
        }
        Ok(Self(session))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_next_accepts_local_paths() {
        for good in [
            "/",
            "/account/settings?tab=2",
            "/a%20b",
            "/search?q=a//b#top",
        ] {
            assert_eq!(safe_next(good), Some(good), "{good}");
        }
    }

    #[test]
    fn safe_next_refuses_every_way_off_the_site() {
        for evil in [
            "",
            "evil.example",
            "//evil.example",
            "///evil.example",
            "https://evil.example",
            "/\\evil.example",
            "/x\\y",
            "\\\\evil.example",
            "/%2F%2Fevil.example",
            "/%2f/evil.example",
            "/%5Cevil.example",
            "/%5cevil.example",
            "%2F%2Fevil.example",
            "/%09/evil.example",
            "/\t/evil.example",
            "\t//evil.example",
            " //evil.example",
            "/\n/evil.example",
            "/%0A/evil.example",
            "/%00",
            "/%FF",
            "/caf\u{e9}",
            "/ /evil.example",
            "javascript:alert(1)",
            "/\u{7f}",
        ] {
            assert_eq!(safe_next(evil), None, "{evil:?}");
        }
    }

    #[test]
    fn location_encodes_the_whole_target_and_drops_an_unsafe_one() {
        let at = |login, target| location(login, target).unwrap();
        assert_eq!(at("/login", Some("/a b")), "/login");
        assert_eq!(
            at("/login", Some("/a/b?c=1&d=%2F")),
            "/login?next=%2Fa%2Fb%3Fc%3D1%26d%3D%252F"
        );
        assert_eq!(at("/login?lang=en", Some("/x")), "/login?lang=en&next=%2Fx");
        assert_eq!(at("/login", Some("//evil.example")), "/login");
        assert_eq!(at("/login", None), "/login");
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let secs = |wait| Guard::new().retry_after(wait).retry_after;
        assert_eq!(secs(Duration::ZERO), 1);
        assert_eq!(secs(Duration::from_millis(1500)), 2);
        assert_eq!(secs(Duration::from_secs(30)), 30);
    }

    #[test]
    #[should_panic(expected = "must be a local path")]
    fn a_login_url_elsewhere_is_refused() {
        let _ = Guard::new().login_path("https://login.example/");
    }
}
