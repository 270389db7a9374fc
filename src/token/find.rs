//! Finding our token among a request's headers: the `Cookie` headers, or
//! the header of the header transport (`Authorization: Bearer`).

use http::HeaderValue;
use http::header::GetAll;

use super::sign::Signed;
use super::{Keyring, Rejection, sign};

/// How the session token travels between client and server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Transport {
    /// In the session cookie (the default, for browsers).
    Cookie,
    /// In request header `request` (after `Bearer ` if `bearer`), with new,
    /// re-issued and cleared tokens sent back in response header `response`
    /// (for API and mobile clients).
    Header {
        request: http::HeaderName,
        response: http::HeaderName,
        bearer: bool,
    },
}

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
pub(crate) enum Presented<T = Verified<Signed>> {
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
pub(crate) enum TokenHeaders {
    None,
    One(HeaderValue),
    Many(Vec<HeaderValue>),
}

impl TokenHeaders {
    pub(crate) fn as_slice(&self) -> &[HeaderValue] {
        match self {
            Self::None => &[],
            Self::One(value) => std::slice::from_ref(value),
            Self::Many(values) => values,
        }
    }
}

impl From<GetAll<'_, HeaderValue>> for TokenHeaders {
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

/// Finds our token among the request's token headers and verifies it under
/// the keyring: see [`find_with`].
pub(crate) fn find(
    keyring: &Keyring,
    transport: &Transport,
    cookie_name: &str,
    headers: &[HeaderValue],
) -> Presented {
    find_with(transport, cookie_name, headers, |text| {
        let (value, position) = sign::verify_any(keyring.verifying(), cookie_name, text)?;
        Ok(Verified {
            value,
            retired: position > 0,
        })
    })
}

/// Finds the candidate tokens and runs `check` on each (the cookie store
/// opens sealed records with it); two candidates that check out to different
/// results are ambiguous.
///
/// With cookies, it looks among every `Cookie` header (HTTP/2 may split
/// them); a pair of ours that is not UTF-8 is skipped, while other cookies'
/// bytes, whatever they are, never affect ours; only an exact name match
/// counts. With the header transport, each
/// value of the token header is a candidate (after `Bearer ` for bearer
/// tokens; other schemes are not ours).
pub(crate) fn find_with<T: PartialEq>(
    transport: &Transport,
    cookie_name: &str,
    headers: &[HeaderValue],
    check: impl FnMut(&[u8]) -> Result<T, Rejection>,
) -> Presented<T> {
    let mut judge = Judge::new(check);
    for header in headers {
        match transport {
            Transport::Cookie => {
                // Split as bytes: other cookies' bytes (a sibling app's
                // `tracker=José`) never hide ours. Only pairs that start
                // with our name are read as text and handed to the parser,
                // which then decides whether the name matches.
                let ours = pairs(header.as_bytes())
                    .map(<[u8]>::trim_ascii_start)
                    .filter(|pair| pair.starts_with(cookie_name.as_bytes()))
                    .filter_map(|pair| std::str::from_utf8(pair).ok());
                for value in ours.filter_map(|pair| value_named(pair, cookie_name)) {
                    if !judge.offer(value) {
                        return Presented::Ambiguous;
                    }
                }
            }
            Transport::Header { bearer, .. } => {
                let Ok(text) = header.to_str() else { continue };
                let token = if *bearer {
                    match text.trim().split_once(' ') {
                        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token,
                        _ => continue,
                    }
                } else {
                    text
                };
                if !judge.offer(token.trim()) {
                    return Presented::Ambiguous;
                }
            }
        }
    }
    judge.verdict()
}

/// The `;`-separated pieces of a `Cookie` header, as `<[u8]>::split` gives
/// them, found with `memchr` rather than byte by byte.
fn pairs(header: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(header);
    std::iter::from_fn(move || {
        let current = rest?;
        Some(match memchr::memchr(b';', current) {
            Some(at) => {
                rest = Some(&current[at + 1..]);
                &current[..at]
            }
            None => {
                rest = None;
                current
            }
        })
    })
}

/// The value of `pair`, one `name=value` of a `Cookie` header, if its name
/// is `name`: what the `cookie` crate's `Cookie::parse(pair)` gives as
/// `value_trimmed()` when its `name()` is `name` (both sides of the first
/// `=` trimmed, then one pair of surrounding quotes dropped), without
/// building the cookie, which cost more than the rest of the search. A
/// property test holds the two equal.
fn value_named<'a>(pair: &'a str, name: &str) -> Option<&'a str> {
    let at = pair.bytes().position(|byte| byte == b'=')?;
    let value = pair[at + 1..].trim();
    (!name.is_empty() && pair[..at].trim() == name).then(|| {
        value
            .strip_prefix('"')
            .and_then(|inner| inner.strip_suffix('"'))
            .unwrap_or(value)
    })
}

/// Weighs the candidate tokens of one request.
struct Judge<T, F> {
    check: F,
    genuine: Option<T>,
    rejection: Option<Rejection>,
    candidates: usize,
}

impl<T: PartialEq, F: FnMut(&[u8]) -> Result<T, Rejection>> Judge<T, F> {
    fn new(check: F) -> Self {
        Self {
            check,
            genuine: None,
            rejection: None,
            candidates: 0,
        }
    }

    /// Checks one candidate; `false` once the request is ambiguous: too
    /// many candidates, or two genuine and different ones (cookie tossing).
    fn offer(&mut self, candidate: &str) -> bool {
        self.candidates += 1;
        if self.candidates > MAX_CANDIDATES {
            return false;
        }
        match (self.check)(candidate.as_bytes()) {
            Ok(value) => match &self.genuine {
                Some(seen) if *seen != value => return false,
                _ => self.genuine = Some(value),
            },
            Err(reason) => self.rejection = Some(reason),
        }
        true
    }

    fn verdict(self) -> Presented<T> {
        match (self.genuine, self.rejection) {
            (Some(value), _) => Presented::Genuine(value),
            (None, Some(reason)) => Presented::Rejected(reason),
            (None, None) => Presented::Nothing,
        }
    }
}

#[cfg(test)]
mod tests {
    use cookie::Cookie;

    use super::*;
    use crate::MAX_RETIRED_SECRETS;
    use crate::token::RandomValue;

    fn keyring() -> Keyring {
        Keyring::new(crate::token::test_secret(1)).unwrap()
    }

    fn signed() -> (RandomValue, String) {
        let value = RandomValue::generate().unwrap();
        let text = sign(keyring().signing(), "id", &value);
        (value, text)
    }

    /// A value as the current key verified it; two compare by value only,
    /// so the tag here is a placeholder.
    fn current(value: RandomValue) -> Verified<Signed> {
        Verified {
            value: Signed {
                value,
                tag: [0; 32],
            },
            retired: false,
        }
    }

    fn headers(lines: &[&str]) -> Vec<HeaderValue> {
        lines
            .iter()
            .map(|l| HeaderValue::from_str(l).unwrap())
            .collect()
    }

    proptest::proptest! {
        /// A header splits into the pieces `<[u8]>::split` gives.
        #[test]
        fn a_header_splits_as_split_splits_it(header in proptest::collection::vec(proptest::sample::select(vec![b';', b'a', b' ', 0xc3]), 0..12)) {
            let expected: Vec<&[u8]> = header.split(|&b| b == b';').collect();
            proptest::prop_assert_eq!(pairs(&header).collect::<Vec<_>>(), expected);
        }

        /// The search reads a pair as the `cookie` crate does.
        #[test]
        fn a_pair_reads_as_the_cookie_crate_reads_it(
            pair in "[ \\t\u{a0}]{0,2}(id|i|idx|)[ \\t]{0,2}(=[ \\t\u{2003}]{0,2}\"?[a-z=\"]{0,3}\"?[ \\t]{0,2})?",
        ) {
            let parsed = Cookie::parse(pair.as_str()).ok();
            let expected = parsed
                .as_ref()
                .filter(|cookie| cookie.name() == "id")
                .map(|cookie| cookie.value_trimmed());
            proptest::prop_assert_eq!(value_named(&pair, "id"), expected);
        }
    }

    fn bearer() -> Transport {
        Transport::Header {
            request: http::header::AUTHORIZATION,
            response: http::HeaderName::from_static("session-token"),
            bearer: true,
        }
    }

    #[test]
    fn bearer_tokens_are_found_after_the_scheme_only() {
        let (value, text) = signed();
        for line in [format!("Bearer {text}"), format!("bearer  {text} ")] {
            let found = find(&keyring(), &bearer(), "id", &headers(&[&line]));
            assert_eq!(found, Presented::Genuine(current(value.clone())), "{line}");
        }
        let basic = headers(&[&format!("Basic {text}")]);
        assert_eq!(
            find(&keyring(), &bearer(), "id", &basic),
            Presented::Nothing
        );
        let bare = headers(&[&text]);
        assert_eq!(find(&keyring(), &bearer(), "id", &bare), Presented::Nothing);
        let (_, other) = signed();
        let two = headers(&[&format!("Bearer {text}"), &format!("Bearer {other}")]);
        assert_eq!(
            find(&keyring(), &bearer(), "id", &two),
            Presented::Ambiguous
        );
        let forged = headers(&[&format!("Bearer {}x", &text[..text.len() - 1])]);
        assert!(matches!(
            find(&keyring(), &bearer(), "id", &forged),
            Presented::Rejected(_)
        ));
    }

    #[test]
    fn finds_our_cookie_among_others_and_across_headers() {
        let (value, text) = signed();
        let found = find(
            &keyring(),
            &Transport::Cookie,
            "id",
            &headers(&["a=1; b=2", &format!("c=3; id={text}")]),
        );
        assert_eq!(found, Presented::Genuine(current(value)));
    }

    /// Two distinct genuine values are ambiguous (cookie tossing); one value twice is fine.
    #[test]
    fn two_genuine_values_are_ambiguous() {
        let (value, a) = signed();
        let (_, b) = signed();
        let tossed = headers(&[&format!("id={a}; id={b}")]);
        assert_eq!(
            find(&keyring(), &Transport::Cookie, "id", &tossed),
            Presented::Ambiguous
        );
        let twice = headers(&[&format!("id={a}"), &format!("id={a}")]);
        assert_eq!(
            find(&keyring(), &Transport::Cookie, "id", &twice),
            Presented::Genuine(current(value))
        );
    }

    /// Only the exact name counts; a quoted value is unquoted.
    #[test]
    fn name_variants_do_not_match_and_quotes_are_allowed() {
        let (value, text) = signed();
        let variants = headers(&[&format!("ID={text}; Id={text}; id_={text}")]);
        assert_eq!(
            find(&keyring(), &Transport::Cookie, "id", &variants),
            Presented::Nothing
        );
        let quoted = headers(&[&format!("id=\"{text}\";")]);
        assert_eq!(
            find(&keyring(), &Transport::Cookie, "id", &quoted),
            Presented::Genuine(current(value))
        );
    }

    /// A non-UTF-8 header is skipped, the next one still parses.
    #[test]
    fn non_utf8_header_is_skipped() {
        let (value, text) = signed();
        let bad = HeaderValue::from_bytes(b"id=\xff\xfe; x=1").unwrap();
        let good = HeaderValue::from_str(&format!("id={text}")).unwrap();
        assert_eq!(
            find(&keyring(), &Transport::Cookie, "id", &[bad, good]),
            Presented::Genuine(current(value))
        );
    }

    /// Rotation: a retired key still verifies, and says so; a key
    /// no longer in the ring does not.
    #[test]
    fn retired_keys_verify_and_removed_ones_do_not() {
        let old = crate::token::test_secret(2);
        let value = RandomValue::generate().unwrap();
        let text = sign(Keyring::new(&old).unwrap().signing(), "id", &value);
        let cookie = headers(&[&format!("id={text}")]);
        let rotated = keyring().retired(&old).unwrap();
        match find(&rotated, &Transport::Cookie, "id", &cookie) {
            Presented::Genuine(found) => assert!(found.retired && found.value.value == value),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            find(&keyring(), &Transport::Cookie, "id", &cookie),
            Presented::Rejected(Rejection::BadTag)
        );
        let (value, text) = signed();
        match find(
            &rotated,
            &Transport::Cookie,
            "id",
            &headers(&[&format!("id={text}")]),
        ) {
            Presented::Genuine(found) => assert!(!found.retired && found.value.value == value),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_keyring_holds_at_most_eight_retired_secrets_all_checked() {
        let mut ring = keyring();
        for n in 0..MAX_RETIRED_SECRETS as u8 {
            ring = ring.retired(crate::token::test_secret(10 + n)).unwrap();
        }
        assert_eq!(ring.retired_count(), MAX_RETIRED_SECRETS);
        let err = ring
            .clone()
            .retired(crate::token::test_secret(200))
            .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidConfig);
        let weak = keyring().retired([0u8; 64]).unwrap_err();
        assert_eq!(weak.kind(), crate::ErrorKind::WeakSecret);
    }

    #[test]
    fn too_many_candidates_are_ambiguous() {
        let line = vec!["id=x"; MAX_CANDIDATES + 1].join("; ");
        assert_eq!(
            find(&keyring(), &Transport::Cookie, "id", &headers(&[&line])),
            Presented::Ambiguous
        );
    }
}
