//! Cookie attributes with secure defaults, session expiry, and timeouts.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use cookie::{Cookie, SameSite};

use crate::error::{Error, ErrorKind};
use crate::expiry::Expiry;
use crate::policy::{SaveFailure, SavePolicy};
use crate::token::Transport;

/// Browsers cap cookie lifetimes at 400 days; we never ask for more, which also
/// keeps the arithmetic far from overflow.
const MAX_COOKIE_AGE: Duration = Duration::from_secs(400 * 24 * 60 * 60);

/// A session cookie to send: its value and, for a persistent expiry, its
/// `Max-Age` in seconds; every other attribute is the layer's.
#[derive(Debug)]
pub(crate) struct SessionCookie {
    pub(crate) value: String,
    pub(crate) max_age: Option<i64>,
}

/// Everything the layer needs to know besides the store and the keys.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) cookie_name: Cow<'static, str>,
    pub(crate) secure: bool,
    pub(crate) http_only: bool,
    pub(crate) same_site: SameSite,
    pub(crate) path: Cow<'static, str>,
    pub(crate) domain: Option<Cow<'static, str>>,
    pub(crate) expiry: Expiry,
    pub(crate) session_end_timeout: Duration,
    pub(crate) refresh_fraction: f64,
    pub(crate) store_timeout: Duration,
    pub(crate) partitioned: bool,
    /// The absolute timeout: no session outlives `created_at + max_lifetime`.
    pub(crate) max_lifetime: Option<Duration>,
    /// The most bytes (as JSON) a session's data may take.
    pub(crate) max_data_size: usize,
    /// Note the client's user agent and address at login.
    pub(crate) login_metadata: bool,
    /// The header a trusted proxy puts the client's address in.
    pub(crate) client_ip_header: Option<http::HeaderName>,
    /// The most sessions one user may have; a login beyond it signs out the
    /// oldest sign-ins.
    pub(crate) max_sessions_per_user: Option<usize>,
    pub(crate) transport: Transport,
    /// Bind sessions to their `User-Agent`; a mismatch ends the session.
    pub(crate) bind_user_agent: bool,
    /// Which response statuses save the session.
    pub(crate) save_policy: SavePolicy,
    /// What answers a request whose session could not be saved.
    pub(crate) save_failure: SaveFailure,
}

/// The default of `SessionLayer::max_data_size`: 128 KiB.
pub(crate) const DEFAULT_MAX_DATA_SIZE: usize = 128 * 1024;

impl Default for Config {
    fn default() -> Self {
        Self {
            cookie_name: Cow::Borrowed("id"),
            secure: true,
            http_only: true,
            same_site: SameSite::Lax,
            path: Cow::Borrowed("/"),
            domain: None,
            expiry: Expiry::OnSessionEnd,
            session_end_timeout: Duration::from_secs(24 * 60 * 60),
            refresh_fraction: 0.1,
            store_timeout: Duration::from_secs(3),
            partitioned: false,
            max_lifetime: None,
            max_data_size: DEFAULT_MAX_DATA_SIZE,
            login_metadata: false,
            client_ip_header: None,
            max_sessions_per_user: None,
            transport: Transport::Cookie,
            bind_user_agent: false,
            save_policy: SavePolicy::default(),
            save_failure: SaveFailure::default(),
        }
    }
}

fn invalid(message: &'static str, detail: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidConfig, message).with_detail(detail)
}

/// RFC 9110 `tchar`: what a cookie name may be made of.
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

impl Config {
    /// Refuses configurations that would misbehave or weaken security
    /// (see *Configuration mistakes* in docs/threat-model.md): it runs when the
    /// layer is applied to a service.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        let name = self.cookie_name.as_ref();
        if name.is_empty() || !name.bytes().all(is_token_char) {
            return Err(invalid(
                "invalid cookie name",
                format!("{name:?} must be a non-empty RFC 9110 token"),
            ));
        }
        let path = self.path.as_ref();
        if !path.starts_with('/')
            || path
                .bytes()
                .any(|b| b == b';' || !(0x21..0x7f).contains(&b))
        {
            return Err(invalid(
                "invalid cookie path",
                format!(
                    "{path:?} must start with '/' and hold no ';', space or control characters"
                ),
            ));
        }
        let is_host = |d: &str| {
            !d.is_empty()
                && d.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        };
        if let Some(domain) = self.domain.as_deref().filter(|d| !is_host(d)) {
            return Err(invalid(
                "invalid cookie domain",
                format!("{domain:?} must be a host name"),
            ));
        }
        if name.starts_with("__Host-") && (!self.secure || path != "/" || self.domain.is_some()) {
            return Err(invalid(
                "a `__Host-` cookie requires secure(true), path(\"/\") and no domain",
                name.to_owned(),
            ));
        }
        if name.starts_with("__Secure-") && !self.secure {
            return Err(invalid(
                "a `__Secure-` cookie requires secure(true)",
                name.to_owned(),
            ));
        }
        if self.partitioned && !self.secure {
            return Err(invalid(
                "a partitioned cookie requires secure(true)",
                "browsers reject it otherwise",
            ));
        }
        if self.max_sessions_per_user == Some(0) {
            return Err(invalid("max_sessions_per_user must be at least 1", "got 0"));
        }
        if self.max_lifetime.is_some_and(|max| max.is_zero()) {
            return Err(invalid("max_lifetime must be longer than zero", "got 0s"));
        }
        if self.same_site == SameSite::None && !self.secure {
            return Err(invalid(
                "SameSite=None requires secure(true)",
                "browsers reject it otherwise",
            ));
        }
        if !(0.0..=1.0).contains(&self.refresh_fraction) {
            return Err(invalid(
                "refresh_fraction must be within 0.0..=1.0",
                self.refresh_fraction.to_string(),
            ));
        }
        if self.store_timeout.is_zero() || self.session_end_timeout.is_zero() {
            return Err(invalid(
                "timeouts must be longer than zero",
                format!(
                    "store_timeout {:?}, session_end_timeout {:?}",
                    self.store_timeout, self.session_end_timeout
                ),
            ));
        }
        if self.expiry == Expiry::OnInactivity(Duration::ZERO) {
            return Err(invalid(
                "Expiry::OnInactivity needs a duration longer than zero",
                "got 0s",
            ));
        }
        Ok(())
    }

    /// The request header responses vary on: the one that carries the token.
    pub(crate) fn vary(&self) -> &http::HeaderName {
        match &self.transport {
            Transport::Cookie => &http::header::COOKIE,
            Transport::Header { request, .. } => request,
        }
    }

    /// The idle span that `expiry` pushes back on activity, if any.
    pub(crate) fn idle_span(&self, expiry: Expiry) -> Option<Duration> {
        match expiry {
            Expiry::OnSessionEnd => Some(self.session_end_timeout),
            Expiry::OnInactivity(span) => Some(span),
            Expiry::AtDateTime(_) => None,
        }
    }

    /// The server-side deadline of a session with `expiry`, created at
    /// `created_at` and active at `now`: the expiry's, or the end of its
    /// `max_lifetime` if that comes first (the absolute timeout).
    pub(crate) fn deadline(
        &self,
        expiry: Expiry,
        created_at: SystemTime,
        now: SystemTime,
    ) -> SystemTime {
        let by_expiry = match expiry {
            Expiry::AtDateTime(at) => at,
            _ => {
                let span = self.idle_span(expiry).unwrap_or(MAX_COOKIE_AGE);
                now.checked_add(span).unwrap_or(now + MAX_COOKIE_AGE)
            }
        };
        match self.lifetime_end(created_at) {
            Some(end) => by_expiry.min(end),
            None => by_expiry,
        }
    }

    /// When a session created at `created_at` reaches its `max_lifetime`;
    /// `None` without one, or when it lies beyond what a clock can tell.
    fn lifetime_end(&self, created_at: SystemTime) -> Option<SystemTime> {
        created_at.checked_add(self.max_lifetime?)
    }

    /// Whether a session created at `created_at` with the deadline
    /// `expires_at` is over at `now`: its deadline passed, or its
    /// `max_lifetime` (which may have been shortened since it was saved).
    pub(crate) fn has_ended(
        &self,
        created_at: SystemTime,
        expires_at: SystemTime,
        now: SystemTime,
    ) -> bool {
        expires_at <= now || self.lifetime_end(created_at).is_some_and(|end| end <= now)
    }

    /// Whether a read-only request should push the deadline back: only once
    /// `refresh_fraction` of the idle span has elapsed since the last push,
    /// and only if the deadline would move (not when `max_lifetime` caps it).
    pub(crate) fn needs_refresh(
        &self,
        expiry: Expiry,
        created_at: SystemTime,
        expires_at: SystemTime,
        now: SystemTime,
    ) -> bool {
        let Some(span) = self.idle_span(expiry) else {
            return false;
        };
        let remaining = expires_at.duration_since(now).unwrap_or_default();
        // Saturating: any span and fraction `validate` accepts (even
        // `Duration::MAX` and 1.0) is computed without a panic.
        let threshold =
            Duration::try_from_secs_f64(span.as_secs_f64() * self.refresh_fraction).unwrap_or(span);
        span.saturating_sub(remaining) >= threshold
            && self.deadline(expiry, created_at, now) > expires_at
    }

    fn base_cookie(&self, value: String) -> Cookie<'static> {
        let mut cookie = Cookie::new(self.cookie_name.clone(), value);
        cookie.set_secure(self.secure);
        cookie.set_http_only(self.http_only);
        cookie.set_same_site(self.same_site);
        cookie.set_path(self.path.clone());
        if self.partitioned {
            cookie.set_partitioned(true);
        }
        if let Some(domain) = &self.domain {
            cookie.set_domain(domain.clone());
        }
        cookie
    }

    /// The cookie that carries `value`. Persistent expiries get a `Max-Age`
    /// that never outlives the server-side deadline.
    pub(crate) fn session_cookie(
        &self,
        value: String,
        expiry: Expiry,
        expires_at: SystemTime,
        now: SystemTime,
    ) -> Cookie<'static> {
        let parts = self.session_cookie_parts(value, expiry, expires_at, now);
        let mut cookie = self.base_cookie(parts.value);
        if let Some(secs) = parts.max_age {
            cookie.set_max_age(cookie::time::Duration::seconds(secs));
        }
        cookie
    }

    /// What varies in [`session_cookie`](Self::session_cookie) from one
    /// response to the next: the value, and the `Max-Age` in seconds.
    pub(crate) fn session_cookie_parts(
        &self,
        value: String,
        expiry: Expiry,
        expires_at: SystemTime,
        now: SystemTime,
    ) -> SessionCookie {
        let max_age = (expiry != Expiry::OnSessionEnd).then(|| {
            let age = expires_at
                .duration_since(now)
                .unwrap_or_default()
                .min(MAX_COOKIE_AGE);
            i64::try_from(age.as_secs()).unwrap_or(0)
        });
        SessionCookie { value, max_age }
    }

    /// The cookie that deletes ours: same name, Path, Domain, Secure, HttpOnly
    /// and SameSite, empty value, `Max-Age=0` and an `Expires` in the past.
    pub(crate) fn removal_cookie(&self) -> Cookie<'static> {
        let mut cookie = self.base_cookie(String::new());
        cookie.make_removal();
        cookie
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(change: impl FnOnce(&mut Config)) -> Result<(), Error> {
        let mut config = Config::default();
        change(&mut config);
        config.validate()
    }

    /// Injection characters in name, path or domain are refused.
    #[test]
    fn injection_characters_are_refused() {
        for bad in ["a;b", "a,b", "a b", "a\r\nb", "a=b", ""] {
            assert!(
                with(|c| c.cookie_name = bad.to_owned().into()).is_err(),
                "{bad:?}"
            );
        }
        for bad in ["/a;b", "/a b", "/a\nb", "relative"] {
            assert!(with(|c| c.path = bad.to_owned().into()).is_err(), "{bad:?}");
        }
        for bad in ["ex;ample.com", "a b.com", ""] {
            assert!(
                with(|c| c.domain = Some(bad.to_owned().into())).is_err(),
                "{bad:?}"
            );
        }
        assert!(with(|_| {}).is_ok());
    }

    /// `__Host-` needs Secure, Path=/ and no Domain; SameSite=None needs Secure.
    #[test]
    fn prefix_rules_are_enforced() {
        let host = |c: &mut Config| c.cookie_name = "__Host-id".into();
        assert!(with(host).is_ok());
        assert!(
            with(|c| {
                host(c);
                c.secure = false
            })
            .is_err()
        );
        assert!(
            with(|c| {
                host(c);
                c.path = "/app".into()
            })
            .is_err()
        );
        assert!(
            with(|c| {
                host(c);
                c.domain = Some("example.com".into())
            })
            .is_err()
        );
        assert!(
            with(|c| {
                c.cookie_name = "__Secure-id".into();
                c.secure = false
            })
            .is_err()
        );
        assert!(
            with(|c| {
                c.same_site = SameSite::None;
                c.secure = false
            })
            .is_err()
        );
    }

    /// Max-Age never exceeds the deadline, is never negative, and is clamped.
    #[test]
    fn max_age_is_bounded_by_the_deadline() {
        let config = Config::default();
        let now = SystemTime::now();
        let expiry = Expiry::OnInactivity(Duration::from_secs(600));
        let cookie = config.session_cookie("v".into(), expiry, now + Duration::from_secs(600), now);
        assert_eq!(cookie.max_age(), Some(cookie::time::Duration::seconds(600)));
        let past = Expiry::AtDateTime(now - Duration::from_secs(5));
        let cookie = config.session_cookie("v".into(), past, now - Duration::from_secs(5), now);
        assert_eq!(cookie.max_age(), Some(cookie::time::Duration::ZERO));
        let far = now + Duration::from_secs(u64::from(u32::MAX) * 100);
        let cookie = config.session_cookie("v".into(), Expiry::AtDateTime(far), far, now);
        assert_eq!(cookie.max_age(), Some(cookie::time::Duration::days(400)));
        let browser = config.session_cookie("v".into(), Expiry::OnSessionEnd, far, now);
        assert_eq!(browser.max_age(), None);
    }

    #[test]
    fn refresh_happens_only_after_the_configured_fraction() {
        let config = Config::default();
        let span = Duration::from_secs(1000);
        let expiry = Expiry::OnInactivity(span);
        let now = SystemTime::now();
        assert!(!config.needs_refresh(expiry, now, now + Duration::from_secs(950), now));
        assert!(config.needs_refresh(expiry, now, now + Duration::from_secs(900), now));
        assert!(!config.needs_refresh(Expiry::AtDateTime(now), now, now, now));
    }

    /// `max_lifetime` caps every deadline at `created_at +
    /// max_lifetime`, a capped deadline is not "refreshed" by rewriting it,
    /// and a session past it has ended whatever its stored deadline says.
    #[test]
    fn max_lifetime_caps_deadlines_and_ends_sessions() {
        let config = Config {
            max_lifetime: Some(Duration::from_secs(3600)),
            ..Config::default()
        };
        let idle = Expiry::OnInactivity(Duration::from_secs(600));
        let created = SystemTime::now();
        let late = created + Duration::from_secs(3300);
        let end = created + Duration::from_secs(3600);
        assert_eq!(
            config.deadline(idle, created, created),
            created + Duration::from_secs(600)
        );
        assert_eq!(config.deadline(idle, created, late), end);
        assert!(!config.needs_refresh(idle, created, end, late + Duration::from_secs(200)));
        assert!(!config.has_ended(created, end, end - Duration::from_millis(1)));
        assert!(config.has_ended(created, end, end));
        let far = created + Duration::from_secs(86_400);
        assert!(
            config.has_ended(created, far, end),
            "a deadline saved before the cap"
        );
        assert!(!Config::default().has_ended(created, far, end));
        let zero = Config {
            max_lifetime: Some(Duration::ZERO),
            ..Config::default()
        };
        assert!(zero.validate().is_err());
    }

    #[test]
    fn partitioned_cookies_need_secure_and_carry_the_attribute() {
        let config = Config {
            partitioned: true,
            ..Config::default()
        };
        assert_eq!(config.removal_cookie().partitioned(), Some(true));
        let now = SystemTime::now();
        let set = config.session_cookie("v".into(), Expiry::OnSessionEnd, now, now);
        assert!(set.to_string().contains("Partitioned"), "{set}");
        let insecure = Config {
            secure: false,
            ..config
        };
        assert!(insecure.validate().is_err());
    }

    #[test]
    fn removal_cookie_keeps_every_attribute() {
        let config = Config {
            domain: Some("example.com".into()),
            path: "/app".into(),
            ..Config::default()
        };
        let removal = config.removal_cookie();
        assert_eq!(removal.value(), "");
        assert_eq!(removal.max_age(), Some(cookie::time::Duration::ZERO));
        assert_eq!(removal.domain(), Some("example.com"));
        assert_eq!(removal.path(), Some("/app"));
        assert_eq!(removal.secure(), Some(true));
        assert_eq!(removal.http_only(), Some(true));
        assert_eq!(removal.same_site(), Some(SameSite::Lax));
    }

    mod arithmetic {
        use super::*;
        use proptest::prelude::*;
        use std::time::UNIX_EPOCH;

        fn duration() -> impl Strategy<Value = Duration> {
            prop_oneof![
                Just(Duration::ZERO),
                Just(Duration::MAX),
                (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
                (0u64..10_000_000).prop_map(Duration::from_millis),
            ]
        }

        fn time() -> impl Strategy<Value = SystemTime> {
            // From the epoch to about 584 million years on: every deadline a
            // record can decode to.
            any::<u64>().prop_map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
        }

        fn expiry() -> impl Strategy<Value = Expiry> {
            prop_oneof![
                Just(Expiry::OnSessionEnd),
                duration().prop_map(Expiry::OnInactivity),
                time().prop_map(Expiry::AtDateTime),
            ]
        }

        proptest! {
            /// Whatever durations and fraction `validate` accepts, the deadline
            /// arithmetic of a request never panics, at any instants.
            #[test]
            fn deadline_arithmetic_never_panics(
                expiry in expiry(),
                session_end in duration(),
                lifetime in proptest::option::of(duration()),
                fraction in prop_oneof![Just(0.0f64), Just(1.0f64), 0.0f64..=1.0],
                created_at in time(),
                expires_at in time(),
                now in time(),
            ) {
                let config = Config {
                    expiry,
                    session_end_timeout: session_end,
                    max_lifetime: lifetime,
                    refresh_fraction: fraction,
                    ..Config::default()
                };
                prop_assume!(config.validate().is_ok());
                let deadline = config.deadline(expiry, created_at, now);
                let _ = config.has_ended(created_at, deadline, now);
                let _ = config.needs_refresh(expiry, created_at, expires_at, now);
                let _ = config.session_cookie("v".into(), expiry, expires_at, now);
            }
        }
    }
}
