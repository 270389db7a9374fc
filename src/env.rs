//! A [`SessionLayer`] configured by `SESSIONWARE_*` environment variables, and
//! the development-only random secret; see [`SessionLayer::from_env`].

use rand::TryRngCore as _;
use rand::rngs::OsRng;

use crate::env_values::{
    OLD_SECRETS, SECRET, env_value, invalid, keyring, missing_secret, named, parse_bool,
    parse_duration, parse_same_site, quoted, secret_text,
};
use crate::error::Error;
use crate::expiry::Expiry;
use crate::layer::SessionLayer;
use crate::store::SessionStore;
use crate::token::Keyring;

const COOKIE_NAME: &str = "SESSIONWARE_COOKIE_NAME";
const SECURE: &str = "SESSIONWARE_SECURE";
const HTTP_ONLY: &str = "SESSIONWARE_HTTP_ONLY";
const SAME_SITE: &str = "SESSIONWARE_SAME_SITE";
const PATH: &str = "SESSIONWARE_PATH";
const DOMAIN: &str = "SESSIONWARE_DOMAIN";
const IDLE_TIMEOUT: &str = "SESSIONWARE_IDLE_TIMEOUT";
const SESSION_END_TIMEOUT: &str = "SESSIONWARE_SESSION_END_TIMEOUT";
const STORE_TIMEOUT: &str = "SESSIONWARE_STORE_TIMEOUT";
const MAX_LIFETIME: &str = "SESSIONWARE_MAX_LIFETIME";

/// The cookie attributes whose values are only wrong together (`__Host-` and
/// `__Secure-` names, `SameSite=None`): an error about their combination names them.
const ATTRIBUTES: [&str; 5] = [COOKIE_NAME, SECURE, SAME_SITE, PATH, DOMAIN];

/// Bytes drawn by [`insecure_dev_secret`]: the recommended secret length.
const DEV_SECRET_LEN: usize = 64;

const DEV_WARNING: &str = "sessionware: using insecure_dev_secret(), a random secret made \
     for this process only: sessions will not survive a restart and are not shared between \
     instances. Never use it in production: set SESSIONWARE_SECRET to 64 random bytes, hex or \
     base64 (for example `openssl rand -hex 64`).";

impl SessionLayer {
    /// A layer over `store` configured by `SESSIONWARE_*` environment
    /// variables: the secret, the retired secrets, the cookie's attributes and
    /// the expiry. See [`SessionLayer::from_lookup`] for the variables and
    /// their syntax; this reads them from the process environment.
    ///
    /// A missing `SESSIONWARE_SECRET` is an error, never a silent random
    /// secret: for local development, build the layer with
    /// [`insecure_dev_secret`](crate::insecure_dev_secret) instead.
    ///
    /// # Example
    ///
    /// ```
    /// use sessionware::{Error, MemoryStore, SessionLayer};
    ///
    /// // Run with SESSIONWARE_SECRET=$(openssl rand -hex 64), and, say,
    /// // SESSIONWARE_IDLE_TIMEOUT=30m SESSIONWARE_COOKIE_NAME=__Host-id
    /// fn session_layer() -> Result<SessionLayer, Error> {
    ///     SessionLayer::from_env(MemoryStore::new())
    /// }
    ///
    /// # if std::env::var_os("SESSIONWARE_SECRET").is_none() {
    /// // Without a secret the layer is not built, and the error says what to set.
    /// let err = session_layer().unwrap_err();
    /// assert!(err.to_string().contains("SESSIONWARE_SECRET is not set"), "{err}");
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`SessionLayer::from_lookup`], and [`ErrorKind::InvalidConfig`](crate::ErrorKind::InvalidConfig)
    /// for a variable whose value is not valid UTF-8.
    pub fn from_env(store: impl SessionStore) -> Result<Self, Error> {
        let build = |keyring| SessionLayer::with_keyring(store, keyring);
        Self::from_vars(build, |name| env_value(name, std::env::var(name)))
    }

    /// [`SessionLayer::from_env`] for sessions sealed in the cookie
    /// ([`SessionLayer::sealed_cookies`]): the same variables, the same errors.
    #[cfg(feature = "cookie-store")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cookie-store")))]
    pub fn sealed_cookies_from_env() -> Result<Self, Error> {
        Self::from_vars(SessionLayer::sealed_cookies_with_keyring, |name| {
            env_value(name, std::env::var(name))
        })
    }

    /// A layer over `store` configured by `SESSIONWARE_*` variables that
    /// `lookup` returns: [`SessionLayer::from_env`] for any source, such as a
    /// secret manager, a configuration file, or a map in tests.
    ///
    /// `lookup` is called once per variable name and returns `None` for a
    /// variable that is not set. Values are trimmed of surrounding whitespace,
    /// and an empty optional variable counts as not set.
    ///
    /// | variable | value | when not set |
    /// | --- | --- | --- |
    /// | `SESSIONWARE_SECRET` | the secret: 64 random bytes (at least 32, and [hard to guess](Keyring::new)) as hex or base64, such as the output of `openssl rand -hex 64` | an error |
    /// | `SESSIONWARE_OLD_SECRETS` | retired secrets, comma-separated, at most [`MAX_RETIRED_SECRETS`](crate::MAX_RETIRED_SECRETS) (see [`Keyring`]) | none |
    /// | `SESSIONWARE_COOKIE_NAME` | [`cookie_name`](SessionLayer::cookie_name) | `id` |
    /// | `SESSIONWARE_SECURE` | [`secure`](SessionLayer::secure): `true`, `false`, `1`, `0`, `yes`, `no` | `true` |
    /// | `SESSIONWARE_HTTP_ONLY` | [`http_only`](SessionLayer::http_only), as above | `true` |
    /// | `SESSIONWARE_SAME_SITE` | [`same_site`](SessionLayer::same_site): `strict`, `lax`, `none` | `lax` |
    /// | `SESSIONWARE_PATH` | [`path`](SessionLayer::path) | `/` |
    /// | `SESSIONWARE_DOMAIN` | [`domain`](SessionLayer::domain) | none |
    /// | `SESSIONWARE_IDLE_TIMEOUT` | a duration: [`Expiry::OnInactivity`] | [`Expiry::OnSessionEnd`] |
    /// | `SESSIONWARE_SESSION_END_TIMEOUT` | a duration: [`session_end_timeout`](SessionLayer::session_end_timeout) | 24 hours |
    /// | `SESSIONWARE_STORE_TIMEOUT` | a duration: [`store_timeout`](SessionLayer::store_timeout) | 3 seconds |
    /// | `SESSIONWARE_MAX_LIFETIME` | a duration: [`max_lifetime`](SessionLayer::max_lifetime), the absolute timeout | none |
    ///
    /// A secret made only of hex digits is read as hex (an odd number of them
    /// is refused, as a truncated hex secret); any other as base64, standard
    /// or URL-safe, padded or not. Booleans and `SameSite` values ignore case.
    /// A duration is a whole number of seconds, or a whole number followed by
    /// `ms`, `s`, `m`, `h` or `d` (`90`, `30m`, `12h`). The layer is
    /// [validated](SessionLayer::validate) before it is returned.
    ///
    /// # Example
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use sessionware::{ErrorKind, MemoryStore, SessionLayer};
    ///
    /// # let secret: String = rand::random::<[u8; 64]>().iter().map(|b| format!("{b:02x}")).collect();
    /// let vars = HashMap::from([
    ///     ("SESSIONWARE_SECRET", secret.as_str()), // from `openssl rand -hex 64`
    ///     ("SESSIONWARE_COOKIE_NAME", "__Host-id"),
    ///     ("SESSIONWARE_IDLE_TIMEOUT", "30m"),
    /// ]);
    /// let lookup = |name: &str| vars.get(name).map(|value| value.to_string());
    /// let layer = SessionLayer::from_lookup(MemoryStore::new(), lookup)?;
    /// # let _ = layer;
    ///
    /// // Every error names the variable and what it expects, never a secret.
    /// let vars = HashMap::from([
    ///     ("SESSIONWARE_SECRET", secret.as_str()),
    ///     ("SESSIONWARE_SAME_SITE", "sometimes"),
    /// ]);
    /// let err = SessionLayer::from_lookup(MemoryStore::new(), |name| vars.get(name).map(|v| v.to_string()))
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    /// assert_eq!(
    ///     err.to_string(),
    ///     "invalid environment variable: SESSIONWARE_SAME_SITE: expected strict, lax or none; got \"sometimes\""
    /// );
    /// # Ok::<(), sessionware::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WeakSecret`](crate::ErrorKind::WeakSecret) for a secret that is too short or too easy to
    /// guess (see [`Keyring::new`]), and [`ErrorKind::InvalidConfig`](crate::ErrorKind::InvalidConfig) for a missing secret,
    /// a value that cannot be read, or a configuration that
    /// [`validate`](SessionLayer::validate) refuses. The message names the
    /// variable (a retired secret by its position, counting from 1, as in
    /// `SESSIONWARE_OLD_SECRETS[2]`) and what was expected; it never contains
    /// a secret.
    pub fn from_lookup(
        store: impl SessionStore,
        mut lookup: impl FnMut(&str) -> Option<String>,
    ) -> Result<Self, Error> {
        let build = |keyring| SessionLayer::with_keyring(store, keyring);
        Self::from_vars(build, |name| Ok(lookup(name)))
    }

    /// Reads every variable through `get`, which returns `None` for an unset one.
    fn from_vars(
        build: impl FnOnce(Keyring) -> SessionLayer,
        mut get: impl FnMut(&'static str) -> Result<Option<String>, Error>,
    ) -> Result<Self, Error> {
        // The secrets' text is wiped once the keys are derived.
        let secret = match secret_text(get(SECRET)?) {
            Some(secret) => secret,
            None => return Err(missing_secret()),
        };
        let old = secret_text(get(OLD_SECRETS)?);
        let keyring = keyring(&secret, old.as_deref().map(String::as_str))?;
        drop((secret, old));
        let mut optional = |name| -> Result<Option<String>, Error> {
            Ok(get(name)?
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty()))
        };
        let defaults = build(keyring);
        let mut settings = Settings {
            layer: defaults.clone(),
            defaults,
            set: Vec::new(),
        };
        settings.apply(COOKIE_NAME, optional(COOKIE_NAME)?, Ok, |l, v| {
            l.cookie_name(v)
        })?;
        settings.apply(SECURE, optional(SECURE)?, parse_bool, |l, v| l.secure(v))?;
        settings.apply(HTTP_ONLY, optional(HTTP_ONLY)?, parse_bool, |l, v| {
            l.http_only(v)
        })?;
        settings.apply(SAME_SITE, optional(SAME_SITE)?, parse_same_site, |l, v| {
            l.same_site(v)
        })?;
        settings.apply(PATH, optional(PATH)?, Ok, |l, v| l.path(v))?;
        settings.apply(DOMAIN, optional(DOMAIN)?, Ok, |l, v| l.domain(v))?;
        settings.apply(
            IDLE_TIMEOUT,
            optional(IDLE_TIMEOUT)?,
            parse_duration,
            |l, v| l.expiry(Expiry::OnInactivity(v)),
        )?;
        let end = optional(SESSION_END_TIMEOUT)?;
        settings.apply(SESSION_END_TIMEOUT, end, parse_duration, |l, v| {
            l.session_end_timeout(v)
        })?;
        let store_timeout = optional(STORE_TIMEOUT)?;
        settings.apply(STORE_TIMEOUT, store_timeout, parse_duration, |l, v| {
            l.store_timeout(v)
        })?;
        let max_lifetime = optional(MAX_LIFETIME)?;
        settings.apply(MAX_LIFETIME, max_lifetime, parse_duration, |l, v| {
            l.max_lifetime(v)
        })?;
        settings.finish()
    }
}

/// The layer being built, and the defaults each variable is first checked against alone.
struct Settings {
    defaults: SessionLayer,
    layer: SessionLayer,
    /// The cookie attributes that were set, for an error about their combination.
    set: Vec<&'static str>,
}

impl Settings {
    /// Parses `name`'s value, if set, and applies it. A value the layer's
    /// validation refuses on its own (a cookie name with a `;`, a relative
    /// path) is an error naming this variable.
    fn apply<T: Clone>(
        &mut self,
        name: &'static str,
        value: Option<String>,
        parse: impl FnOnce(String) -> Result<T, &'static str>,
        set: impl Fn(SessionLayer, T) -> SessionLayer,
    ) -> Result<(), Error> {
        let Some(text) = value else {
            return Ok(());
        };
        let shown = quoted(&text);
        let value =
            parse(text).map_err(|expected| invalid(format!("{name}: {expected}; got {shown}")))?;
        set(self.defaults.clone(), value.clone())
            .validate()
            .map_err(|err| named(name, &err))?;
        self.layer = set(self.layer.clone(), value);
        if ATTRIBUTES.contains(&name) {
            self.set.push(name);
        }
        Ok(())
    }

    /// Validates the whole configuration: what is left are combinations.
    fn finish(self) -> Result<SessionLayer, Error> {
        self.layer.validate().map_err(|err| {
            Error::new(err.kind(), "invalid combination of environment variables")
                .with_detail(format!("{err}; check {}", self.set.join(", ")))
        })?;
        Ok(self.layer)
    }
}

/// A random 64-byte secret for **local development only**, with a loud
/// warning every time it is made.
///
/// Every start of the process gets a different secret, so restarting it logs
/// everyone out, and instances of one application reject each other's
/// cookies. Each call logs a `tracing` warning and prints the same warning to
/// standard error (seen even without a `tracing` subscriber). In production,
/// set `SESSIONWARE_SECRET` and use [`SessionLayer::from_env`], which never
/// falls back to this.
///
/// # Example
///
/// ```
/// use sessionware::{MemoryStore, SessionLayer, insecure_dev_secret};
///
/// // Local development only: logs out everyone at every restart.
/// let secret = insecure_dev_secret();
/// assert_eq!(secret.len(), 64);
/// let layer = SessionLayer::try_new(MemoryStore::new(), &secret)?.secure(false);
/// # let _ = layer;
/// # Ok::<(), sessionware::Error>(())
/// ```
///
/// # Panics
///
/// If the operating system's random generator fails.
pub fn insecure_dev_secret() -> Vec<u8> {
    let mut secret = vec![0u8; DEV_SECRET_LEN];
    if let Err(err) = OsRng.try_fill_bytes(&mut secret) {
        panic!("insecure_dev_secret: the operating system's random generator failed: {err}");
    }
    tracing::warn!("{DEV_WARNING}");
    eprintln!("WARNING: {DEV_WARNING}");
    secret
}

// Every layer these tests build runs on a `MemoryStore`.
#[cfg(all(test, feature = "memory-store"))]
mod tests {
    use super::*;
    use crate::MemoryStore;
    use crate::env_values::{
        EXPECTED_BOOL, EXPECTED_DURATION, EXPECTED_SAME_SITE, EXPECTED_SECRET, INVALID,
        decode_secret,
    };
    use crate::error::ErrorKind;
    use base64::Engine as _;
    use cookie::SameSite;
    use std::collections::{HashMap, HashSet};
    use std::env::VarError;
    use std::time::Duration;

    /// A fixed 64-byte test secret that passes the strength check.
    fn secret_bytes() -> Vec<u8> {
        crate::token::test_secret(1)
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn build(vars: &[(&str, &str)]) -> Result<SessionLayer, Error> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        SessionLayer::from_lookup(MemoryStore::new(), |name| vars.get(name).cloned())
    }

    fn with_secret(extra: &[(&'static str, &'static str)]) -> Result<SessionLayer, Error> {
        let secret = hex(&secret_bytes());
        let mut vars = vec![(SECRET, secret.as_str())];
        vars.extend_from_slice(extra);
        build(&vars)
    }

    #[test]
    fn hex_and_every_base64_form_decode_to_the_same_bytes() {
        use base64::engine::general_purpose::{
            STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
        };
        // 62 bytes: the base64 forms carry padding, `+`/`/` or `-`/`_`.
        let bytes: Vec<u8> = (0u8..62)
            .map(|b| b.wrapping_mul(97).wrapping_add(250))
            .collect();
        let forms = [
            hex(&bytes),
            hex(&bytes).to_uppercase(),
            STANDARD.encode(&bytes),
            STANDARD_NO_PAD.encode(&bytes),
            URL_SAFE.encode(&bytes),
            URL_SAFE_NO_PAD.encode(&bytes),
        ];
        assert!(
            forms[2].ends_with('=') && forms[2].contains(['+', '/']),
            "{}",
            forms[2]
        );
        assert!(forms[5].contains(['-', '_']), "{}", forms[5]);
        for form in &forms {
            assert_eq!(*decode_secret(SECRET, form).unwrap(), bytes, "{form}");
        }
    }

    #[test]
    fn odd_length_hex_is_refused_rather_than_read_as_base64() {
        let text = &hex(&secret_bytes())[..127];
        let err = decode_secret(SECRET, text).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        assert!(
            err.to_string()
                .contains("SESSIONWARE_SECRET: hex needs an even number of digits, got 127"),
            "{err}"
        );
    }

    #[test]
    fn a_secret_neither_hex_nor_base64_names_the_variable_and_the_encodings() {
        let err =
            build(&[(SECRET, "not*base64*or*hex*at*all*not*base64*or*hex*at*all")]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        assert_eq!(
            err.to_string(),
            format!(
                "invalid environment variable: SESSIONWARE_SECRET: {EXPECTED_SECRET}; got 49 characters"
            )
        );
    }

    #[test]
    fn a_missing_or_blank_secret_is_a_clear_error_pointing_to_the_dev_secret() {
        for vars in [&[][..], &[(SECRET, "")][..], &[(SECRET, "  \n")][..]] {
            let err = build(vars).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidConfig);
            let text = err.to_string();
            assert!(text.contains("SESSIONWARE_SECRET is not set"), "{text}");
            assert!(text.contains("insecure_dev_secret()"), "{text}");
        }
    }

    #[test]
    fn a_weak_secret_is_weak_secret_naming_the_variable() {
        let err = build(&[(SECRET, &hex(&[7u8; 16]))]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WeakSecret);
        assert_eq!(
            err.to_string(),
            "invalid environment variable: SESSIONWARE_SECRET: secret is too short: \
             must be at least 32 bytes (64 recommended), got 16"
        );
        let err = build(&[(SECRET, &hex(&[0u8; 64]))]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WeakSecret);
        assert!(
            err.to_string()
                .contains("SESSIONWARE_SECRET: secret is too easy to guess"),
            "{err}"
        );
    }

    /// Long enough but guessable secrets are refused in either encoding, and
    /// the error says how to make a good one.
    #[test]
    fn a_guessable_secret_is_refused_with_advice_in_hex_and_base64() {
        use base64::engine::general_purpose::STANDARD;
        let weak = [b"Passw0rd!".repeat(4), (0u8..64).collect()];
        for form in weak.iter().flat_map(|w| [hex(w), STANDARD.encode(w)]) {
            let err = build(&[(SECRET, &form)]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::WeakSecret, "{form}");
            let text = err.to_string();
            assert!(text.contains("bits of estimated entropy"), "{text}");
            assert!(text.contains("`openssl rand -hex 64`"), "{text}");
            let err = build(&[(SECRET, &hex(&secret_bytes())), (OLD_SECRETS, &form)]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::WeakSecret, "{form}");
        }
    }

    /// Decoded secrets, and their text, sit in buffers wiped on drop. Freed
    /// memory cannot be observed reliably; the types are checked instead.
    #[test]
    fn decoded_secrets_and_their_text_zeroize_on_drop() {
        fn zeroize_on_drop<T: zeroize::ZeroizeOnDrop>(_: &T) {}
        let good = hex(&secret_bytes());
        zeroize_on_drop(&decode_secret(SECRET, &good).unwrap());
        let text = secret_text(Some(format!(" \t{good}\n"))).unwrap();
        zeroize_on_drop(&text);
        assert_eq!(text.as_str(), good);
        assert!(secret_text(Some(" \n ".into())).is_none());
        assert!(secret_text(None).is_none());
    }

    #[test]
    fn old_secret_errors_name_the_variable_and_the_position() {
        let good = hex(&secret_bytes());
        let short = hex(&[1u8, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        let cases = [
            (
                format!("{good},{short}"),
                ErrorKind::WeakSecret,
                "SESSIONWARE_OLD_SECRETS[2] (of 2, counting from 1): secret is too short",
            ),
            (
                format!("{good}, !!, {good}"),
                ErrorKind::InvalidConfig,
                "SESSIONWARE_OLD_SECRETS[2] (of 3, counting from 1): expected hex",
            ),
            (
                format!("{good},,{good}"),
                ErrorKind::InvalidConfig,
                "SESSIONWARE_OLD_SECRETS[2] (of 3, counting from 1) is empty",
            ),
            (
                format!("{good},"),
                ErrorKind::InvalidConfig,
                "SESSIONWARE_OLD_SECRETS[2] (of 2, counting from 1) is empty",
            ),
            (
                [good.as_str(); 9].join(","),
                ErrorKind::InvalidConfig,
                "SESSIONWARE_OLD_SECRETS: at most 8 retired secrets, got 9",
            ),
        ];
        for (old, kind, expected) in cases {
            let err = build(&[(SECRET, &good), (OLD_SECRETS, &old)]).unwrap_err();
            assert_eq!(err.kind(), kind, "{err}");
            assert!(err.to_string().contains(expected), "{err}");
        }
        let layer = build(&[
            (SECRET, &good),
            (OLD_SECRETS, &[good.as_str(); 8].join(" , ")),
        ]);
        assert!(layer.is_ok());
    }

    /// Every variable but the secrets, with a bad value and what its error must say.
    #[test]
    fn every_variable_with_a_bad_value_gives_an_error_naming_it() {
        let cases = [
            (COOKIE_NAME, "a;b", "invalid cookie name"),
            (SECURE, "maybe", EXPECTED_BOOL),
            (HTTP_ONLY, "2", EXPECTED_BOOL),
            (SAME_SITE, "sometimes", EXPECTED_SAME_SITE),
            (PATH, "relative", "invalid cookie path"),
            (DOMAIN, "ex ample.com", "invalid cookie domain"),
            (IDLE_TIMEOUT, "30 minutes", EXPECTED_DURATION),
            (IDLE_TIMEOUT, "0", "longer than zero"),
            (SESSION_END_TIMEOUT, "-5", EXPECTED_DURATION),
            (SESSION_END_TIMEOUT, "1.5h", EXPECTED_DURATION),
            (STORE_TIMEOUT, "0ms", "longer than zero"),
            (STORE_TIMEOUT, "99999999999999999999d", EXPECTED_DURATION),
            (STORE_TIMEOUT, "999999999999999999d", "too large"),
        ];
        for (name, value, expected) in cases {
            let err = with_secret(&[(name, value)]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{name}={value}");
            let text = err.to_string();
            assert!(
                text.starts_with(&format!("{INVALID}: {name}")),
                "{name}={value}: {text}"
            );
            assert!(text.contains(expected), "{name}={value}: {text}");
        }
    }

    #[test]
    fn values_are_read_in_every_documented_form() {
        for (value, expected) in [
            ("TRUE", true),
            ("yes", true),
            ("1", true),
            ("No", false),
            ("0", false),
            (" false ", false),
        ] {
            assert_eq!(parse_bool(value.trim().to_owned()), Ok(expected), "{value}");
        }
        for (value, expected) in [
            ("Strict", SameSite::Strict),
            ("LAX", SameSite::Lax),
            ("none", SameSite::None),
        ] {
            assert_eq!(parse_same_site(value.to_owned()), Ok(expected), "{value}");
        }
        let secs = Duration::from_secs;
        for (value, expected) in [
            ("90", secs(90)),
            ("90s", secs(90)),
            ("30m", secs(1800)),
            ("30 m", secs(1800)),
            ("12h", secs(43_200)),
            ("7d", secs(604_800)),
            ("500ms", Duration::from_millis(500)),
        ] {
            assert_eq!(parse_duration(value.to_owned()), Ok(expected), "{value}");
        }
    }

    #[test]
    fn settings_reach_the_layer_and_blank_ones_keep_the_default() {
        let layer = with_secret(&[
            (COOKIE_NAME, "__Secure-sid"),
            (SECURE, " yes "),
            (HTTP_ONLY, ""),
            (SAME_SITE, "strict"),
            (PATH, "/app"),
            (DOMAIN, "example.com"),
            (IDLE_TIMEOUT, "30m"),
            (SESSION_END_TIMEOUT, "2h"),
            (STORE_TIMEOUT, "500ms"),
            (MAX_LIFETIME, "12h"),
        ])
        .unwrap();
        let shown = format!("{layer:?}");
        for part in [
            "cookie_name: \"__Secure-sid\"",
            "secure: true",
            "http_only: true",
            "same_site: Strict",
            "path: \"/app\"",
            "domain: Some(\"example.com\")",
            "expiry: OnInactivity(1800s)",
            "session_end_timeout: 7200s",
            "store_timeout: 500ms",
            "max_lifetime: Some(43200s)",
        ] {
            assert!(shown.contains(part), "{part} in {shown}");
        }
        let shown = format!("{:?}", with_secret(&[]).unwrap());
        assert!(
            shown.contains("expiry: OnSessionEnd") && shown.contains("cookie_name: \"id\""),
            "{shown}"
        );
    }

    #[test]
    fn invalid_combinations_are_errors_naming_the_variables_not_panics() {
        let err = with_secret(&[(SAME_SITE, "none"), (SECURE, "false")]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        assert_eq!(
            err.to_string(),
            "invalid combination of environment variables: SameSite=None requires secure(true): \
             browsers reject it otherwise; check SESSIONWARE_SECURE, SESSIONWARE_SAME_SITE"
        );
        let err = with_secret(&[(COOKIE_NAME, "__Host-id"), (DOMAIN, "example.com")]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("`__Host-` cookie requires"), "{text}");
        assert!(
            text.ends_with("check SESSIONWARE_COOKIE_NAME, SESSIONWARE_DOMAIN"),
            "{text}"
        );
    }

    #[test]
    fn a_non_utf8_environment_value_is_an_error_naming_the_variable() {
        assert_eq!(env_value(SECURE, Ok("1".into())).unwrap(), Some("1".into()));
        assert_eq!(env_value(SECURE, Err(VarError::NotPresent)).unwrap(), None);
        let err = env_value(SECRET, Err(VarError::NotUnicode("\u{fffd}".into()))).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        assert_eq!(
            err.to_string(),
            "invalid environment variable: SESSIONWARE_SECRET is not valid UTF-8"
        );
    }

    /// Style rule 7: whatever goes wrong, no secret's text reaches an error's
    /// message or `Debug`, nor the `Debug` of a layer that was built.
    #[test]
    fn secret_values_never_appear_in_errors_or_debug() {
        let good = hex(&secret_bytes());
        let weak = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";
        let bad = "SECRET!SECRET!SECRET!SECRET!SECRET!SECRET!";
        let odd = &good[..101];
        let failures = [
            vec![(SECRET, weak)],
            vec![(SECRET, bad)],
            vec![(SECRET, odd)],
            vec![(SECRET, good.as_str()), (OLD_SECRETS, weak)],
            vec![(SECRET, good.as_str()), (OLD_SECRETS, bad)],
            vec![(SECRET, good.as_str()), (OLD_SECRETS, odd)],
            vec![(SECRET, good.as_str()), (SAME_SITE, "none"), (SECURE, "no")],
        ];
        let leaks = |text: &str| {
            [good.as_str(), weak, bad, odd]
                .iter()
                .any(|secret| text.contains(&secret[..16]) || text.contains("SECRET!"))
        };
        for vars in failures {
            let err = build(&vars).unwrap_err();
            for text in [err.to_string(), format!("{err:?}")] {
                assert!(!leaks(&text), "{vars:?}: {text}");
            }
        }
        let layer = build(&[(SECRET, &good), (OLD_SECRETS, &good)]).unwrap();
        assert!(!leaks(&format!("{layer:?}")));
    }

    #[test]
    fn insecure_dev_secret_is_64_random_bytes_and_new_each_call() {
        let first = insecure_dev_secret();
        let second = insecure_dev_secret();
        assert_eq!(first.len(), 64);
        assert_ne!(first, second);
        // 64 uniform bytes have about 57 distinct values; fewer than 40 is a broken generator.
        let distinct = first.iter().collect::<HashSet<_>>().len();
        assert!(distinct >= 40, "{distinct} distinct values");
        assert!(Keyring::new(&first).is_ok());
    }
}
