//! `SessionLayer`: the store, the keys and the cookie configuration, applied to a service.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use cookie::SameSite;
use tower_layer::Layer;

use crate::config::Config;
use crate::error::{Error, ErrorKind};
use crate::event::{Events, SessionEvent, SessionEvents};
use crate::expiry::Expiry;
use crate::pipeline::{
    Backend, Checker, Context, CredentialCheck, RejectionLog, SetCookieTemplate,
};
use crate::policy::{SaveFailure, SavePolicy};
use crate::service::SessionService;
use crate::store::SessionStore;
#[cfg(feature = "cookie-store")]
use crate::token::Sealer;
use crate::token::{Keyring, RandomValue, Transport};

/// Adds sessions to a tower service: see the [crate documentation](crate) for
/// an example, and each builder method for its default.
///
/// The configuration is checked when the layer is applied to a service
/// (normally while the router is built): an invalid cookie name, path or
/// domain, or a `__Host-`/`__Secure-` name without the attributes it needs,
/// panics there with a clear message. Call [`SessionLayer::validate`] first to
/// handle it as an error instead.
#[derive(Clone)]
#[must_use]
pub struct SessionLayer {
    backend: Backend,
    events: Events,
    keyring: Keyring,
    config: Config,
    new_value: fn() -> Result<RandomValue, Error>,
    /// One warning limit for this layer value, its clones and their services.
    rejections: Arc<RejectionLog>,
    /// `credential_check`: ends sessions signed in under an old credential.
    credential: Option<Checker>,
    /// `credential_cache`: how long a matching answer of the check is trusted.
    credential_cache: Option<Duration>,
}

impl SessionLayer {
    /// A layer over `store` (any [`SessionStore`]), with cookie keys derived
    /// from `secret`. For sessions kept in the cookie itself, see
    /// [`SessionLayer::sealed_cookies`].
    ///
    /// # Panics
    ///
    /// If `secret` is shorter than 32 bytes or easy to guess, with less than
    /// 128 bits of estimated entropy (see [`Keyring::new`]; use
    /// [`SessionLayer::try_new`] to get the error instead). Use 64 random
    /// bytes from a CSPRNG, kept in a secret manager: for example the output
    /// of `openssl rand -hex 64`.
    pub fn new(store: impl SessionStore, secret: impl AsRef<[u8]>) -> Self {
        Self::try_new(store, secret).unwrap_or_else(|err| panic!("SessionLayer::new: {err}"))
    }

    /// Like [`SessionLayer::new`], but returns a weak secret as an [`Error`]
    /// of kind [`ErrorKind::WeakSecret`].
    pub fn try_new(store: impl SessionStore, secret: impl AsRef<[u8]>) -> Result<Self, Error> {
        Ok(Self::with_keyring(store, Keyring::new(secret)?))
    }

    /// A layer over `store` with a [`Keyring`]: the current secret and the
    /// retired ones still accepted while a secret is rotated.
    pub fn with_keyring(store: impl SessionStore, keyring: Keyring) -> Self {
        Self::over(Backend::server(store), keyring)
    }

    /// A layer that keeps each session sealed in its cookie, with nothing on
    /// the server: read what that cannot do (revoke a copied cookie, merge
    /// concurrent writes, hold more than about 3 KB) in
    /// [`CookieStore`](crate::CookieStore). The sealing key is derived from
    /// `secret` under its own label, never the signing key.
    ///
    /// # Panics
    ///
    /// As [`SessionLayer::new`], for a weak secret; use
    /// [`SessionLayer::try_sealed_cookies`] to get the error instead.
    #[cfg(feature = "cookie-store")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cookie-store")))]
    pub fn sealed_cookies(secret: impl AsRef<[u8]>) -> Self {
        Self::try_sealed_cookies(secret)
            .unwrap_or_else(|err| panic!("SessionLayer::sealed_cookies: {err}"))
    }

    /// Like [`SessionLayer::sealed_cookies`], but returns a weak secret as an
    /// [`Error`] of kind [`ErrorKind::WeakSecret`].
    #[cfg(feature = "cookie-store")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cookie-store")))]
    pub fn try_sealed_cookies(secret: impl AsRef<[u8]>) -> Result<Self, Error> {
        Ok(Self::sealed_cookies_with_keyring(Keyring::new(secret)?))
    }

    /// [`SessionLayer::sealed_cookies`] with a [`Keyring`]: cookies sealed
    /// under a retired secret still open, and are re-sealed under the
    /// current one.
    #[cfg(feature = "cookie-store")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cookie-store")))]
    pub fn sealed_cookies_with_keyring(keyring: Keyring) -> Self {
        Self::over(Backend::Sealed(Sealer::new(&keyring)), keyring)
    }

    fn over(backend: Backend, keyring: Keyring) -> Self {
        Self {
            backend,
            events: Events::default(),
            keyring,
            config: Config::default(),
            new_value: RandomValue::generate,
            rejections: Arc::default(),
            credential: None,
            credential_cache: None,
        }
    }

    /// The cookie's name. Default: `id`, which says nothing about the stack.
    /// Prefer `__Host-id` when the site is served over HTTPS only: browsers then
    /// refuse the cookie from subdomains and insecure origins.
    pub fn cookie_name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.config.cookie_name = name.into();
        self
    }

    /// The `Secure` attribute. Default: `true`. Turning it off lets the cookie
    /// travel over plain HTTP; do it only for local development.
    pub fn secure(mut self, secure: bool) -> Self {
        self.config.secure = secure;
        self
    }

    /// The `HttpOnly` attribute. Default: `true`. Turning it off exposes the
    /// session cookie to page scripts, and so to any XSS.
    pub fn http_only(mut self, http_only: bool) -> Self {
        self.config.http_only = http_only;
        self
    }

    /// The `SameSite` attribute. Default: `Lax`. `Strict` is safer still;
    /// `None` requires `secure(true)` and weakens CSRF protection.
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.config.same_site = same_site;
        self
    }

    /// The `Path` attribute. Default: `/`.
    pub fn path(mut self, path: impl Into<Cow<'static, str>>) -> Self {
        self.config.path = path.into();
        self
    }

    /// The `Domain` attribute. Default: none, so only the exact host gets the
    /// cookie. Setting it shares the session with every subdomain.
    pub fn domain(mut self, domain: impl Into<Cow<'static, str>>) -> Self {
        self.config.domain = Some(domain.into());
        self
    }

    /// When sessions end. Default: [`Expiry::OnSessionEnd`].
    pub fn expiry(mut self, expiry: Expiry) -> Self {
        self.config.expiry = expiry;
        self
    }

    /// How long an [`Expiry::OnSessionEnd`] session lives on the server
    /// without a request. Default: 24 hours. The browser forgets the cookie
    /// when it closes, but a copied cookie must not live forever.
    pub fn session_end_timeout(mut self, timeout: Duration) -> Self {
        self.config.session_end_timeout = timeout;
        self
    }

    /// For idle-based expiry, the fraction of the idle span that must have
    /// elapsed before a read-only request pushes the deadline back (one
    /// conditional store write). Default: `0.1`, so an idle timeout of 60
    /// minutes is extended at most every 6 minutes and ends between 54 and 60
    /// minutes after the last request. `0.0` refreshes on every request.
    pub fn refresh_fraction(mut self, fraction: f64) -> Self {
        self.config.refresh_fraction = fraction;
        self
    }

    /// The deadline of every store call. Default: 3 seconds. A load that runs
    /// past it yields a degraded guest session; a save that does yields a 500.
    /// A write the backend had already received may still land after the
    /// deadline; it is conditional on the version, so it never overwrites a
    /// newer save nor revives a deleted session. Needs tokio's time driver
    /// (`#[tokio::main]` enables it), and keep a store's own timeouts shorter.
    pub fn store_timeout(mut self, timeout: Duration) -> Self {
        self.config.store_timeout = timeout;
        self
    }

    /// The absolute timeout: a session ends `max_lifetime` after it was
    /// created, however active it is (OWASP's absolute timeout; see *Expiry
    /// and clocks* in docs/threat-model.md). Default: none.
    /// It comes on top of the [`expiry`](Self::expiry): the earlier deadline
    /// wins, and the cookie's `Max-Age` never outlives it. A session past it
    /// is a guest on its next request, even if it was saved before the limit
    /// was set or shortened. `cycle_id` keeps the creation time.
    pub fn max_lifetime(mut self, max_lifetime: Duration) -> Self {
        self.config.max_lifetime = Some(max_lifetime);
        self
    }

    /// The most a session's data may take, measured as JSON (keys and
    /// values). Default: 128 KiB. [`Session::insert`](crate::Session::insert)
    /// refuses a value that would pass it with an error of kind
    /// [`ErrorKind::TooLarge`], and the session stays as it was: nothing is
    /// truncated or half-written.
    /// With the cookie store, the 4096-byte cookie limit applies as well.
    pub fn max_data_size(mut self, bytes: usize) -> Self {
        self.config.max_data_size = bytes;
        self
    }

    /// The `Partitioned` attribute (CHIPS): the browser keeps a separate
    /// cookie per top-level site, for sessions inside third-party iframes.
    /// Default: `false`. Requires `secure(true)`.
    pub fn partitioned(mut self, partitioned: bool) -> Self {
        self.config.partitioned = partitioned;
        self
    }

    /// Notes the client's `User-Agent` and address in the session at
    /// [`Session::login`](crate::Session::login), for "your devices" lists
    /// ([`SessionInfo::metadata`](crate::SessionInfo::metadata)). Default:
    /// `false`. This is personal data: say so in your privacy notice. The
    /// address comes from [`client_ip_header`](Self::client_ip_header) if
    /// set, else, with the `connect-info` feature, from the socket (axum's
    /// `ConnectInfo<SocketAddr>`, served with
    /// `into_make_service_with_connect_info`); otherwise no address is noted.
    pub fn login_metadata(mut self, on: bool) -> Self {
        self.config.login_metadata = on;
        self
    }

    /// The header a proxy you trust puts the client's address in (such as
    /// `x-forwarded-for`; its last entry, the address the proxy saw, is
    /// used). Only set it behind such a proxy: otherwise clients choose
    /// their own address. Default: none (the socket's address).
    pub fn client_ip_header(mut self, name: http::HeaderName) -> Self {
        self.config.client_ip_header = Some(name);
        self
    }

    /// The most sessions one user may have at once (ASVS 7.1.2). A login
    /// beyond it keeps the user's `max` most recent sign-ins, the new one
    /// among them, and revokes the older ones; their cookies are guests from
    /// their next request. Every login ranks sign-ins the same way (sign-in
    /// time, then handle), so simultaneous logins agree on who stays and
    /// exactly `max` remain. Default: unlimited. Needs a store
    /// with a [`UserIndex`](crate::UserIndex): with any other,
    /// [`validate`](Self::validate) fails and applying the layer panics.
    /// If the eviction fails (the store is down), the login still succeeds
    /// and the failure is logged.
    pub fn max_sessions_per_user(mut self, max: usize) -> Self {
        self.config.max_sessions_per_user = Some(max);
        self
    }

    /// Binds each session to the `User-Agent` it was written with: a request
    /// of the session with another user agent ends it (the record is
    /// deleted) and continues as a guest. Default: `false`. It detects the
    /// careless reuse of a stolen cookie, not a careful one (an attacker can
    /// copy the header), and a browser update logs its user out. There is
    /// deliberately no IP binding: mobile users change address all the time.
    pub fn bind_user_agent(mut self, on: bool) -> Self {
        self.config.bind_user_agent = on;
        self
    }

    /// For API and mobile clients: the token travels in `Authorization:
    /// Bearer <token>` instead of a cookie, and a new, re-issued or cleared
    /// token (empty value) comes back in response header `response` (say
    /// `session-token`). Same store, same token format, same guarantees; no
    /// cookie is read or set. Browsers reading `response` from script need it
    /// in `Access-Control-Expose-Headers`.
    pub fn bearer_token(mut self, response: http::HeaderName) -> Self {
        self.config.transport = Transport::Header {
            request: http::header::AUTHORIZATION,
            response,
            bearer: true,
        };
        self
    }

    /// Like [`bearer_token`](Self::bearer_token), with the token as the whole
    /// value of request header `name`, and sent back in the same header.
    pub fn token_header(mut self, name: http::HeaderName) -> Self {
        self.config.transport = Transport::Header {
            request: name.clone(),
            response: name,
            bearer: false,
        };
        self
    }

    /// Calls `hook` with every [`SessionEvent`]: created, loaded, cycled,
    /// re-signed, destroyed, revoked, ended by a credential change
    /// ([`credential_check`](Self::credential_check)), expired, rejected, and load or save
    /// failures (for an audit log, metrics or alerts). Each refused cookie
    /// is one [`SessionEvent::Rejected`] of this layer: count those for
    /// brute-force detection. It runs inline on the
    /// request's task: keep it quick, and hand slow work to a channel. The
    /// same events are `tracing` events with target `sessionware::event`.
    pub fn on_event(mut self, hook: impl Fn(&SessionEvent) + Send + Sync + 'static) -> Self {
        self.events = Events::with_hook(hook);
        self
    }

    /// Which responses save the session. Default:
    /// [`SavePolicy::UnlessServerError`], so a 5xx response saves nothing;
    /// [`SavePolicy::UnlessError`] skips 4xx responses too. A response that
    /// is not saved leaves the session as the request found it: no store
    /// write (no new session is created, a logout is not carried out, the
    /// idle deadline is not pushed back), no `Set-Cookie`. See
    /// [`SavePolicy`] for the details and an example.
    pub fn save_policy(mut self, policy: SavePolicy) -> Self {
        self.config.save_policy = policy;
        self
    }

    /// Builds the answer to a request whose session could not be saved (the
    /// store failed or ran past [`store_timeout`](Self::store_timeout), or
    /// with the cookie store the session outgrew a cookie); it replaces the
    /// handler's response, whose body is dropped. `respond` gets the error,
    /// to choose the status by [`Error::kind`]. Default: `500 Internal
    /// Server Error` with the text "The session could not be saved; please
    /// retry." (`text/plain; charset=utf-8`). See [`SavePolicy`]'s example.
    ///
    /// Whatever `respond` returns, the layer then removes every `Set-Cookie`
    /// (and the token header of [`bearer_token`](Self::bearer_token) or
    /// [`token_header`](Self::token_header)), sets `Cache-Control: no-store`
    /// and adds `Vary`; a status below 300 becomes a 500, since a success
    /// would tell the client its change was kept. The error is logged with
    /// its detail and reported as [`SessionEvent::SaveFailed`]: do not copy
    /// its message into the body, as it can name the store's host.
    ///
    /// The body is sent when the service's response body is axum's `Body`
    /// (every axum app), `String`, `Vec<u8>` or `Cow<'static, str>`. With any
    /// other body type the layer cannot make one (it only requires
    /// `ResBody: Default`), so the answer keeps its status and headers, less
    /// `Content-Length`, over an empty `ResBody::default()`.
    pub fn on_save_failure(
        mut self,
        respond: impl Fn(&Error) -> http::Response<Cow<'static, str>> + Send + Sync + 'static,
    ) -> Self {
        self.config.save_failure = SaveFailure::custom(respond);
        self
    }

    /// Ends every session signed in under credentials that have changed
    /// since (OWASP: invalidate sessions on a password change). At login the
    /// application passes the user's credential fingerprint
    /// ([`Login::credential`](crate::Login::credential)); on every later
    /// load of that session, `check` is asked for the user's current one
    /// (see [`CredentialCheck`]). If it no longer matches, the session is
    /// ended (its record deleted; a cookie-store cookie is refused and
    /// cleared), the request continues as a guest, and a
    /// [`SessionEvent::CredentialChanged`] is reported. If the check fails
    /// or times out (`store_timeout`), the request gets a degraded session
    /// ([`Session::is_degraded`](crate::Session::is_degraded)), never a
    /// signed-in one. The session that changed the password keeps going by
    /// signing in again with the new fingerprint (which also moves it to a
    /// fresh id).
    ///
    /// Cost: one call of `check` per request that loads a session signed in
    /// with a fingerprint; sessions without one (guests, logins without
    /// [`Login::credential`](crate::Login::credential)) cost nothing.
    /// [`credential_cache`](Self::credential_cache) brings it down to one
    /// call per user and cache period. Default: none.
    pub fn credential_check(mut self, check: impl CredentialCheck) -> Self {
        let checker = Checker::new(check);
        self.credential = Some(match self.credential_cache {
            Some(ttl) => checker.cached(ttl),
            None => checker,
        });
        self
    }

    /// Trusts the [`credential_check`](Self::credential_check)'s answer
    /// that a user's fingerprint is current for `ttl`: within it, the
    /// sessions signed in with that fingerprint are not checked again (one
    /// call per user and `ttl`, per layer value and its clones; at most
    /// 10,000 users are remembered). Default: none, every load is checked.
    /// This weakens the check: after a password change, a session signed
    /// in before it lives on for up to `ttl` on each instance that had
    /// cached the old answer. Only matches are cached: a session whose
    /// fingerprint differs from the remembered one is always checked, so a
    /// login after the change is never refused. Without a
    /// `credential_check` it does nothing.
    pub fn credential_cache(mut self, ttl: Duration) -> Self {
        self.credential_cache = Some(ttl);
        self.credential = self.credential.map(|checker| checker.cached(ttl));
        self
    }

    /// The layer's events hook, for work done outside requests (an admin
    /// revoking a user's sessions, a [`CleanupTask`](crate::CleanupTask)):
    /// what it does is reported to the [`on_event`](Self::on_event) hook
    /// and to `tracing` like the request path's events. Set `on_event`
    /// first: the handle keeps the hook it was taken with.
    pub fn events(&self) -> SessionEvents {
        SessionEvents::new(self.events.clone())
    }

    /// Checks the configuration without applying the layer.
    pub fn validate(&self) -> Result<(), Error> {
        self.config.validate()?;
        if self.config.max_sessions_per_user.is_some() && self.backend.index().is_none() {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                "max_sessions_per_user needs a store that keeps a UserIndex",
            )
            .with_detail("the cookie store and stores without `user_index()` have none"));
        }
        Ok(())
    }

    // Only `persist`'s tests swap the generator.
    #[cfg(all(test, feature = "axum", feature = "memory-store"))]
    pub(crate) fn new_value(mut self, source: fn() -> Result<RandomValue, Error>) -> Self {
        self.new_value = source;
        self
    }
}

impl fmt::Debug for SessionLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionLayer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        if let Err(err) = self.validate() {
            panic!("invalid SessionLayer configuration: {err}");
        }
        let ctx = Context {
            backend: self.backend.clone(),
            keyring: self.keyring.clone(),
            config: self.config.clone(),
            new_value: self.new_value,
            rejections: Arc::clone(&self.rejections),
            events: self.events.clone(),
            credential: self.credential.clone(),
            set_cookie: SetCookieTemplate::new(&self.config),
        };
        SessionService::new(inner, Arc::new(ctx))
    }
}

#[cfg(all(test, feature = "memory-store"))]
mod tests {
    use super::*;
    use crate::MemoryStore;

    /// Style rule 7: no secret or key material in `Debug` output.
    #[test]
    fn debug_shows_configuration_but_no_secret() {
        use base64::Engine as _;
        // A secret given as text, so that its text could show: base64 of random bytes.
        let secret = base64::engine::general_purpose::STANDARD.encode(crate::token::test_secret(1));
        let layer = SessionLayer::new(MemoryStore::new(), &secret);
        let shown = format!("{layer:?}");
        assert!(shown.contains("cookie_name: \"id\""), "{shown}");
        assert!(
            !shown.contains(&secret[..16]) && !shown.contains("Keyring"),
            "{shown}"
        );
        let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
        assert!(!shown.contains(&hex[..16]));
    }
}
