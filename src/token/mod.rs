//! Session tokens: the random value, the keys, the tag, and the store key.
//!
//! A cookie value is `<43 base64url chars of 256 random bits>.<43 chars of
//! HMAC-SHA256 tag>`. The tag covers the cookie name and the value under a key
//! derived by HKDF from the application secret. Stores file the session under
//! [`SessionKey`], the SHA-256 digest of the random bits.

mod handle;
mod id;
mod key;
mod sign;
mod store_key;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use cookie::Cookie;
use http::HeaderValue;
use http::header::GetAll;

pub use handle::SessionHandle;
pub(crate) use id::RandomValue;
#[cfg(all(test, feature = "cookie-store"))]
pub(crate) use key::derive_bytes;
pub use key::{Keyring, MAX_RETIRED_SECRETS, MIN_SECRET_LEN};
pub(crate) use sign::{Rejection, sign};
pub use store_key::SessionKey;

/// The most cookies of our name we look at in one request; more is an attack.
const MAX_CANDIDATES: usize = 16;

/// A genuine value, and whether a retired key (rather than the current one)
/// vouched for it, in which case the response re-issues it.
#[derive(Debug, Clone)]
pub(crate) struct Verified<T> {
    pub(crate) value: T,
    pub(crate) retired: bool,
}

/// Two copies of one value are one session, whichever key vouched for each.
impl<T: PartialEq> PartialEq for Verified<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

/// What the request's cookies held for us: by default a verified random value.
#[derive(Debug, PartialEq)]
pub(crate) enum Presented<T = Verified<RandomValue>> {
    /// No cookie of our name.
    Nothing,
    /// Cookies of our name, none genuine.
    Rejected(Rejection),
    /// More than one distinct genuine value, or too many candidates: cookie tossing.
    Ambiguous,
    /// Exactly one genuine value.
    Genuine(T),
}

/// The request's `Cookie` header values, kept without allocating in the
/// usual case of at most one header.
#[derive(Debug)]
pub(crate) enum CookieHeaders {
    None,
    One(HeaderValue),
    Many(Vec<HeaderValue>),
}

impl CookieHeaders {
    pub(crate) fn as_slice(&self) -> &[HeaderValue] {
        match self {
            Self::None => &[],
            Self::One(value) => std::slice::from_ref(value),
            Self::Many(values) => values,
        }
    }
}

impl From<GetAll<'_, HeaderValue>> for CookieHeaders {
    fn from(values: GetAll<'_, HeaderValue>) -> Self {
        let mut iter = values.iter();
        match (iter.next(), iter.next()) {
            (None, _) => Self::None,
            (Some(one), None) => Self::One(one.clone()),
            (Some(first), Some(second)) => {
                let mut all = vec![first.clone(), second.clone()];
                all.extend(iter.cloned());
                Self::Many(all)
            }
        }
    }
}

/// Finds our cookie among every `Cookie` header (HTTP/2 may split them) and
/// verifies it. Headers that are not UTF-8 are skipped whole (catalogue #15);
/// only an exact name match counts (#18).
pub(crate) fn find(keyring: &Keyring, cookie_name: &str, headers: &[HeaderValue]) -> Presented {
    find_with(cookie_name, headers, |text| {
        let (value, position) = sign::verify_any(keyring.verifying(), cookie_name, text)?;
        Ok(Verified {
            value,
            retired: position > 0,
        })
    })
}

/// [`find`] with another check of each candidate value (the cookie store
/// opens sealed records with it). Two candidates that check out to different
/// results are ambiguous.
pub(crate) fn find_with<T: PartialEq>(
    cookie_name: &str,
    headers: &[HeaderValue],
    mut check: impl FnMut(&[u8]) -> Result<T, Rejection>,
) -> Presented<T> {
    let mut genuine: Option<T> = None;
    let mut rejection = None;
    let mut candidates = 0;
    for header in headers {
        let Ok(text) = header.to_str() else { continue };
        // Only pairs that start with our name are handed to the parser; the
        // parser then decides whether the name matches exactly.
        let pairs = text.split(';').map(str::trim_start);
        let ours = pairs.filter(|pair| pair.starts_with(cookie_name));
        for cookie in ours.filter_map(|pair| Cookie::parse(pair).ok()) {
            if cookie.name() != cookie_name {
                continue;
            }
            candidates += 1;
            if candidates > MAX_CANDIDATES {
                return Presented::Ambiguous;
            }
            match check(cookie.value_trimmed().as_bytes()) {
                Ok(value) => match &genuine {
                    Some(seen) if *seen != value => return Presented::Ambiguous,
                    _ => genuine = Some(value),
                },
                Err(reason) => rejection = Some(reason),
            }
        }
    }
    match (genuine, rejection) {
        (Some(value), _) => Presented::Genuine(value),
        (None, Some(reason)) => Presented::Rejected(reason),
        (None, None) => Presented::Nothing,
    }
}

/// Warnings about rejected cookies allowed per second and layer; the rest are
/// counted and reported in the next warning, so a flood cannot become a log
/// flood (catalogue #77).
const WARNINGS_PER_SECOND: u64 = 10;

static REJECTED_TOTAL: AtomicU64 = AtomicU64::new(0);

/// Rate-limited `warn!` of rejected cookies. Never logs the value.
#[derive(Debug, Default)]
pub(crate) struct RejectionLog {
    window: AtomicU64,
    in_window: AtomicU64,
    suppressed: AtomicU64,
}

impl RejectionLog {
    pub(crate) fn warn(&self, reason: &str) {
        REJECTED_TOTAL.fetch_add(1, Ordering::Relaxed);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if self.window.swap(now, Ordering::Relaxed) != now {
            self.in_window.store(0, Ordering::Relaxed);
        }
        if self.in_window.fetch_add(1, Ordering::Relaxed) < WARNINGS_PER_SECOND {
            let suppressed = self.suppressed.swap(0, Ordering::Relaxed);
            tracing::warn!(
                reason,
                suppressed,
                "session cookie rejected; request continues as a guest"
            );
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// How many presented session cookies this process has rejected (bad tag,
/// malformed, or ambiguous), for metrics and brute-force detection.
pub fn rejected_cookie_count() -> u64 {
    REJECTED_TOTAL.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring() -> Keyring {
        Keyring::new((0u8..64).collect::<Vec<_>>()).unwrap()
    }

    fn signed() -> (RandomValue, String) {
        let value = RandomValue::generate().unwrap();
        let text = sign(keyring().signing(), "id", &value);
        (value, text)
    }

    fn current(value: RandomValue) -> Verified<RandomValue> {
        Verified {
            value,
            retired: false,
        }
    }

    fn headers(lines: &[&str]) -> Vec<HeaderValue> {
        lines
            .iter()
            .map(|l| HeaderValue::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn finds_our_cookie_among_others_and_across_headers() {
        let (value, text) = signed();
        let found = find(
            &keyring(),
            "id",
            &headers(&["a=1; b=2", &format!("c=3; id={text}")]),
        );
        assert_eq!(found, Presented::Genuine(current(value)));
    }

    /// Catalogue #16: two distinct genuine values are ambiguous; one value twice is fine.
    #[test]
    fn case_16_two_genuine_values_are_ambiguous() {
        let (value, a) = signed();
        let (_, b) = signed();
        let tossed = headers(&[&format!("id={a}; id={b}")]);
        assert_eq!(find(&keyring(), "id", &tossed), Presented::Ambiguous);
        let twice = headers(&[&format!("id={a}"), &format!("id={a}")]);
        assert_eq!(
            find(&keyring(), "id", &twice),
            Presented::Genuine(current(value))
        );
    }

    /// Catalogue #18: only the exact name counts; a quoted value is unquoted.
    #[test]
    fn case_18_name_variants_do_not_match_and_quotes_are_allowed() {
        let (value, text) = signed();
        let variants = headers(&[&format!("ID={text}; Id={text}; id_={text}")]);
        assert_eq!(find(&keyring(), "id", &variants), Presented::Nothing);
        let quoted = headers(&[&format!("id=\"{text}\";")]);
        assert_eq!(
            find(&keyring(), "id", &quoted),
            Presented::Genuine(current(value))
        );
    }

    /// Catalogue #15: a non-UTF-8 header is skipped, the next one still parses.
    #[test]
    fn case_15_non_utf8_header_is_skipped() {
        let (value, text) = signed();
        let bad = HeaderValue::from_bytes(b"id=\xff\xfe; x=1").unwrap();
        let good = HeaderValue::from_str(&format!("id={text}")).unwrap();
        assert_eq!(
            find(&keyring(), "id", &[bad, good]),
            Presented::Genuine(current(value))
        );
    }

    /// Catalogue #70 and #72: a retired key still verifies, and says so; a key
    /// no longer in the ring does not.
    #[test]
    fn case_70_72_retired_keys_verify_and_removed_ones_do_not() {
        let old: Vec<u8> = (100u8..164).collect();
        let value = RandomValue::generate().unwrap();
        let text = sign(Keyring::new(&old).unwrap().signing(), "id", &value);
        let cookie = headers(&[&format!("id={text}")]);
        let rotated = keyring().retired(&old).unwrap();
        match find(&rotated, "id", &cookie) {
            Presented::Genuine(found) => assert!(found.retired && found.value == value),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            find(&keyring(), "id", &cookie),
            Presented::Rejected(Rejection::BadTag)
        );
        let (value, text) = signed();
        match find(&rotated, "id", &headers(&[&format!("id={text}")])) {
            Presented::Genuine(found) => assert!(!found.retired && found.value == value),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_keyring_holds_at_most_eight_retired_secrets_all_checked() {
        let mut ring = keyring();
        for n in 0..MAX_RETIRED_SECRETS as u8 {
            ring = ring
                .retired((n * 10..n * 10 + 40).collect::<Vec<u8>>())
                .unwrap();
        }
        assert_eq!(ring.retired_count(), MAX_RETIRED_SECRETS);
        let err = ring
            .clone()
            .retired((200u8..240).collect::<Vec<u8>>())
            .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidConfig);
        let weak = keyring().retired([0u8; 64]).unwrap_err();
        assert_eq!(weak.kind(), crate::ErrorKind::WeakSecret);
    }

    #[test]
    fn rejection_warnings_are_rate_limited_but_all_counted() {
        let log = RejectionLog::default();
        let before = rejected_cookie_count();
        for _ in 0..100 {
            log.warn("bad tag");
        }
        assert!(rejected_cookie_count() - before >= 100);
        let logged = log.in_window.load(Ordering::Relaxed);
        let suppressed = log.suppressed.load(Ordering::Relaxed);
        // Unless the second ticked over mid-loop, exactly 10 were logged.
        assert!(suppressed >= 80, "logged {logged}, suppressed {suppressed}");
    }

    #[test]
    fn too_many_candidates_are_ambiguous() {
        let line = vec!["id=x"; MAX_CANDIDATES + 1].join("; ");
        assert_eq!(
            find(&keyring(), "id", &headers(&[&line])),
            Presented::Ambiguous
        );
    }
}
