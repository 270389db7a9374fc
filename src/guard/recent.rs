//! `RecentlySignedIn`: a signed-in user who proved who they are within the
//! last few minutes, for sensitive actions (changing the email or the
//! password, deleting the account, paying).

use std::time::{Duration, SystemTime};

use axum_core::extract::FromRequestParts;
use http::request::Parts;
use http::uri::PathAndQuery;

use super::{Guard, GuardRejection, Kind, Target, location, safe_next, session_of, signed_in_user};
use crate::session::Session;

/// A signed-in user whose last sign-in ([`Session::authenticated_at`]:
/// the login, or a [`Session::reauthenticate`]) is at most `MINUTES`
/// minutes old.
///
/// A visitor who is not signed in is turned away as by
/// [`SignedIn`](crate::SignedIn) (`401`, or the [`Guard`]'s login page; `503`
/// while the store is down). A sign-in older than `MINUTES`, or of unknown
/// age (signed in by a version that did not record it), gets `401
/// Unauthorized`, or `303 See Other` to the [`Guard`]'s
/// [`reauthenticate_path`](Guard::reauthenticate_path) (else its login page)
/// with `next` set as for the login page. The re-authentication handler
/// checks the password again, calls [`Session::reauthenticate`], and
/// redirects to `next` through [`safe_next`](crate::safe_next).
///
/// # Example
///
/// ```
/// use axum::{Router, routing::get};
/// use sessionware::{Guard, MemoryStore, RecentlySignedIn, Session, SessionLayer};
/// # use tower::ServiceExt as _;
///
/// async fn delete_account(RecentlySignedIn { user, .. }: RecentlySignedIn<10>) -> String {
///     format!("deleting {user}")
/// }
///
/// async fn confirm(session: Session) -> &'static str {
///     session.reauthenticate(); // once the password is checked again
///     "confirmed"
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # let secret: [u8; 64] = rand::random();
/// let app = Router::new()
///     .route("/account/delete", get(delete_account))
///     .route("/confirm", get(confirm))
///     .route("/login", get(|session: Session| async move { session.login("ferris") }))
///     .layer(Guard::new().login_path("/login").reauthenticate_path("/confirm"))
///     .layer(SessionLayer::new(MemoryStore::new(), &secret));
/// # let get = |uri: &str| http::Request::get(uri).body(axum::body::Body::empty()).unwrap();
///
/// // A guest goes to the login page.
/// let response = app.clone().oneshot(get("/account/delete")).await.unwrap();
/// assert_eq!(response.headers()["location"], "/login?next=%2Faccount%2Fdelete");
///
/// // Just signed in: within the 10 minutes.
/// let response = app.clone().oneshot(get("/login")).await.unwrap();
/// let cookie = response.headers()["set-cookie"].to_str().unwrap();
/// let mut request = get("/account/delete");
/// request.headers_mut().insert("cookie", cookie.split(';').next().unwrap().parse().unwrap());
/// let response = app.oneshot(request).await.unwrap();
/// assert_eq!(response.status(), 200);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RecentlySignedIn<const MINUTES: u64> {
    /// The user the session belongs to.
    pub user: String,
    /// The request's session.
    pub session: Session,
}

impl Guard {
    /// Where [`RecentlySignedIn`] sends a user whose sign-in is too old,
    /// with `303 See Other` and `next` as for
    /// [`login_path`](Guard::login_path): a page that asks for the password
    /// again and calls [`Session::reauthenticate`]. Default: none, and the
    /// login page is used; without either the answer is `401`.
    ///
    /// # Panics
    ///
    /// If `path` is not a path of this site that [`safe_next`] accepts, or
    /// holds a `#` fragment.
    pub fn reauthenticate_path(mut self, path: &str) -> Self {
        assert!(
            safe_next(path).is_some() && !path.contains('#'),
            "Guard::reauthenticate_path must be a local path like \"/confirm\", got {path:?}"
        );
        self.reauthenticate_path = Some(path.into());
        self
    }
}

/// Whether a sign-in at `at` is at most `window` old at `now`. A time in the
/// future (clocks of two servers) counts as recent; an unknown one does not.
fn is_recent(at: Option<SystemTime>, window: Duration, now: SystemTime) -> bool {
    at.is_some_and(|at| now.duration_since(at).map_or(true, |age| age <= window))
}

/// The rejection of a sign-in that is too old.
fn stale(parts: &Parts) -> GuardRejection {
    let guard = parts.extensions.get::<Guard>();
    let location = guard.and_then(|guard| {
        let path = guard
            .reauthenticate_path
            .as_deref()
            .or(guard.login_path.as_deref())?;
        let target = match parts.extensions.get::<Target>() {
            Some(Target(target)) => Some(target.as_str()),
            None => parts.uri.path_and_query().map(PathAndQuery::as_str),
        };
        location(path, target)
    });
    GuardRejection {
        kind: Kind::SignIn { location },
    }
}

impl<S: Send + Sync, const MINUTES: u64> FromRequestParts<S> for RecentlySignedIn<MINUTES> {
    type Rejection = GuardRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let session = session_of(parts, state).await?;
        let user = signed_in_user(&session, &parts.extensions, &parts.uri)?;
        let window = Duration::from_secs(MINUTES.saturating_mul(60));
        if !is_recent(session.authenticated_at(), window, SystemTime::now()) {
            return Err(stale(parts));
        }
        Ok(Self { user, session })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_means_within_the_window() {
        let now = SystemTime::now();
        let minute = Duration::from_secs(60);
        assert!(is_recent(Some(now), minute, now));
        assert!(is_recent(Some(now - minute), minute, now));
        assert!(!is_recent(Some(now - minute * 2), minute, now));
        assert!(is_recent(Some(now + minute), minute, now), "clock skew");
        assert!(!is_recent(None, minute, now));
    }

    #[test]
    #[should_panic(expected = "must be a local path")]
    fn a_reauthenticate_url_elsewhere_is_refused() {
        let _ = Guard::new().reauthenticate_path("//evil.example/confirm");
    }
}
