//! `SetCookieTemplate`: our `Set-Cookie` text, written from attributes the
//! `cookie` crate renders once per layer.

use std::fmt::Write as _;
use std::time::UNIX_EPOCH;

use crate::config::{Config, SessionCookie};
use crate::expiry::Expiry;

/// The `Set-Cookie` text of the layer's session cookies.
///
/// Every attribute but `Max-Age` is the same on every response, so the
/// `cookie` crate renders them once, when the layer is applied; a response
/// then writes `name=value`, those attributes and its `Max-Age` into one
/// string, which is exactly the crate's rendering of the whole cookie (it
/// puts `Max-Age` after every attribute we set), without building a
/// `Cookie` and formatting it attribute by attribute each time. A test
/// holds the two equal.
#[derive(Debug)]
pub(crate) struct SetCookieTemplate {
    /// `name=`.
    head: String,
    /// `; HttpOnly; SameSite=Lax; Secure; Path=/` and so on.
    attributes: String,
}

impl SetCookieTemplate {
    pub(crate) fn new(config: &Config) -> Self {
        let empty =
            config.session_cookie(String::new(), Expiry::OnSessionEnd, UNIX_EPOCH, UNIX_EPOCH);
        let rendered = empty.to_string();
        let head = format!("{}=", config.cookie_name);
        let attributes = rendered
            .strip_prefix(head.as_str())
            .expect("a cookie renders as name=value first")
            .to_owned();
        Self { head, attributes }
    }

    /// The `Set-Cookie` text of `cookie`, in a string exactly as long as its
    /// capacity (so the header value takes it over without another
    /// allocation).
    pub(crate) fn text(&self, cookie: &SessionCookie) -> String {
        let max_age = cookie
            .max_age
            .map_or(0, |secs| MAX_AGE.len() + decimal_len(secs));
        let len = self.head.len() + cookie.value.len() + self.attributes.len() + max_age;
        let mut text = String::with_capacity(len);
        text.push_str(&self.head);
        text.push_str(&cookie.value);
        text.push_str(&self.attributes);
        if let Some(secs) = cookie.max_age {
            write!(text, "{MAX_AGE}{secs}").expect("writing to a String cannot fail");
        }
        debug_assert_eq!(text.len(), len, "the length computed ahead");
        text
    }
}

const MAX_AGE: &str = "; Max-Age=";

/// How many characters `n` takes in decimal.
fn decimal_len(n: i64) -> usize {
    let sign = usize::from(n < 0);
    let digits = n.unsigned_abs().checked_ilog10().map_or(1, |log| log + 1);
    sign + digits as usize
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use cookie::SameSite;

    use super::*;

    #[test]
    fn decimal_len_counts_digits_and_sign() {
        for n in [0, 1, 9, 10, 99, 100, 86_400, i64::MAX, -1, -10, i64::MIN] {
            assert_eq!(decimal_len(n), n.to_string().len(), "{n}");
        }
    }

    /// Every combination of the attributes we set, with and without a
    /// `Max-Age`: the template writes what the `cookie` crate renders.
    #[test]
    fn the_text_is_the_cookie_crates_rendering() {
        let now = SystemTime::now();
        for bits in 0..64u32 {
            let on = |bit: u32| bits & (1 << bit) != 0;
            let config = Config {
                cookie_name: if on(0) {
                    "id".into()
                } else {
                    "__Host-session".into()
                },
                secure: on(1),
                http_only: on(2),
                same_site: [SameSite::Lax, SameSite::Strict, SameSite::None][(bits % 3) as usize],
                path: if on(3) { "/".into() } else { "/app".into() },
                domain: on(4).then(|| "example.com".into()),
                partitioned: on(5),
                ..Config::default()
            };
            let template = SetCookieTemplate::new(&config);
            for expiry in [
                Expiry::OnSessionEnd,
                Expiry::OnInactivity(Duration::from_secs(600)),
            ] {
                let deadline = now + Duration::from_secs(600);
                let parts = config.session_cookie_parts("v.tag".into(), expiry, deadline, now);
                let expected = config
                    .session_cookie("v.tag".into(), expiry, deadline, now)
                    .to_string();
                assert_eq!(template.text(&parts), expected, "{config:?} {expiry:?}");
            }
        }
    }
}
