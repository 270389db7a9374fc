//! The HMAC-SHA256 tag that binds a random value to our cookie name and key.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::id::{RANDOM_TEXT_LEN, RandomValue};
use super::key::DerivedKey;

/// Length of the base64url text of a 32-byte tag.
const TAG_TEXT_LEN: usize = 43;
/// Separates the random value from its tag.
const SEPARATOR: u8 = b'.';
/// The exact length of every cookie value we issue: value, separator, tag.
pub(crate) const SIGNED_LEN: usize = RANDOM_TEXT_LEN + 1 + TAG_TEXT_LEN;

/// Why a presented cookie value was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// Wrong length, missing separator, or not base64url.
    Malformed,
    /// Well formed, but the tag does not verify under our key and cookie name.
    BadTag,
}

impl Rejection {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::BadTag => "bad tag",
        }
    }
}

fn mac(key: &DerivedKey, cookie_name: &str, value_text: &[u8]) -> Hmac<Sha256> {
    let mut mac = key.mac();
    // The tag covers `name=value`: a value moved under another cookie name fails
    // its tag. A cookie name cannot contain `=`, so the input is unambiguous.
    mac.update(cookie_name.as_bytes());
    mac.update(b"=");
    mac.update(value_text);
    mac
}

/// A cookie's random value with the tag the current key gave it, as a
/// presented cookie was verified: the response can send the same cookie
/// again without computing the tag anew. Two of them are one session when
/// their values are equal.
#[derive(Clone)]
pub(crate) struct Signed {
    pub(crate) value: RandomValue,
    pub(crate) tag: [u8; 32],
}

impl PartialEq for Signed {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl std::fmt::Debug for Signed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signed(..)")
    }
}

impl Signed {
    /// The cookie value: `<base64url value>.<base64url tag>`, what
    /// [`sign`] makes for the same value and key.
    pub(crate) fn text(&self) -> String {
        let mut signed = [0u8; SIGNED_LEN];
        encode_into(self.value.as_bytes(), &mut signed[..RANDOM_TEXT_LEN]);
        text_of(signed, &self.tag)
    }
}

/// The cookie value for `value`: `<base64url value>.<base64url tag>`.
pub(crate) fn sign(key: &DerivedKey, cookie_name: &str, value: &RandomValue) -> String {
    let mut signed = [0u8; SIGNED_LEN];
    let value_text = encode_into(value.as_bytes(), &mut signed[..RANDOM_TEXT_LEN]);
    let tag = mac(key, cookie_name, value_text).finalize().into_bytes();
    text_of(signed, &tag.into())
}

/// `bytes` in base64url without padding, written to all of `out` (which
/// must be exactly as long), without the allocations and chunking of
/// `encode_string`.
fn encode_into<'o>(bytes: &[u8], out: &'o mut [u8]) -> &'o [u8] {
    let written = URL_SAFE_NO_PAD
        .encode_slice(bytes, out)
        .expect("the output fits the encoding");
    debug_assert_eq!(written, out.len());
    out
}

/// The cookie text of `signed` (its value already encoded in front) and
/// `tag`: `value.tag`.
fn text_of(mut signed: [u8; SIGNED_LEN], tag: &[u8; 32]) -> String {
    signed[RANDOM_TEXT_LEN] = SEPARATOR;
    encode_into(tag, &mut signed[RANDOM_TEXT_LEN + 1..]);
    std::str::from_utf8(&signed)
        .expect("base64 is ASCII")
        .to_owned()
}

/// Checks a presented cookie value under `key` alone.
#[cfg(test)]
pub(crate) fn verify(
    key: &DerivedKey,
    cookie_name: &str,
    signed: &[u8],
) -> Result<RandomValue, Rejection> {
    verify_any([key], cookie_name, signed).map(|(signed, _)| signed.value)
}

/// Checks a presented cookie value under each key in turn (the current one
/// first); returns the value and the position of the key that signed it.
/// The length is checked before any decoding, so hostile input costs O(1)
/// (a 100 KB value is refused by its length alone), and each tag comparison
/// is constant-time (`Mac::verify_slice` uses `subtle`). See *Forged and
/// tampered cookies* in docs/threat-model.md.
pub(crate) fn verify_any<'k>(
    keys: impl IntoIterator<Item = &'k DerivedKey>,
    cookie_name: &str,
    signed: &[u8],
) -> Result<(Signed, usize), Rejection> {
    if signed.len() != SIGNED_LEN || signed[RANDOM_TEXT_LEN] != SEPARATOR {
        return Err(Rejection::Malformed);
    }
    let (value_text, rest) = signed.split_at(RANDOM_TEXT_LEN);
    let tag_text = &rest[1..];
    let mut tag = [0u8; 32];
    match URL_SAFE_NO_PAD.decode_slice(tag_text, &mut tag) {
        Ok(32) => {}
        _ => return Err(Rejection::Malformed),
    }
    let value = RandomValue::decode(value_text).ok_or(Rejection::Malformed)?;
    keys.into_iter()
        .position(|key| mac(key, cookie_name, value_text).verify_slice(&tag).is_ok())
        .map(|position| (Signed { value, tag }, position))
        .ok_or(Rejection::BadTag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> DerivedKey {
        DerivedKey::derive(&[seed; 40], b"test")
    }

    #[test]
    fn a_signed_value_verifies_to_itself() {
        let value = RandomValue::generate().unwrap();
        let signed = sign(&key(1), "id", &value);
        assert_eq!(signed.len(), SIGNED_LEN);
        assert_eq!(verify(&key(1), "id", signed.as_bytes()), Ok(value));
    }

    /// A verified cookie sent again from its kept tag is byte for byte the
    /// cookie `sign` makes: no HMAC is needed to re-send it.
    #[test]
    fn a_verified_cookie_is_resent_unchanged_from_its_tag() {
        for _ in 0..100 {
            let value = RandomValue::generate().unwrap();
            let signed = sign(&key(1), "id", &value);
            let (verified, position) = verify_any([&key(1)], "id", signed.as_bytes()).unwrap();
            assert_eq!(position, 0);
            assert_eq!(verified.text(), signed);
        }
    }

    /// A tag under another key, or over another cookie name, is a bad tag.
    #[test]
    fn other_key_or_name_is_a_bad_tag() {
        let signed = sign(&key(1), "id", &RandomValue::generate().unwrap());
        assert_eq!(
            verify(&key(2), "id", signed.as_bytes()),
            Err(Rejection::BadTag)
        );
        assert_eq!(
            verify(&key(1), "sid", signed.as_bytes()),
            Err(Rejection::BadTag)
        );
    }

    /// Truncated, extended and odd lengths are malformed, no panic.
    #[test]
    fn every_length_but_the_exact_one_is_malformed() {
        let signed = sign(&key(1), "id", &RandomValue::generate().unwrap());
        for len in 0..SIGNED_LEN {
            assert_eq!(
                verify(&key(1), "id", &signed.as_bytes()[..len]),
                Err(Rejection::Malformed)
            );
        }
        let longer = format!("{signed}A");
        assert_eq!(
            verify(&key(1), "id", longer.as_bytes()),
            Err(Rejection::Malformed)
        );
    }

    /// Every single-bit flip is rejected.
    #[test]
    fn every_bit_flip_is_rejected() {
        let signed = sign(&key(1), "id", &RandomValue::generate().unwrap());
        for i in 0..signed.len() {
            for bit in 0..8 {
                let mut bytes = signed.clone().into_bytes();
                bytes[i] ^= 1 << bit;
                assert!(
                    verify(&key(1), "id", &bytes).is_err(),
                    "flip {i}:{bit} accepted"
                );
            }
        }
    }

    /// A multibyte character at the split offset never panics.
    #[test]
    fn multibyte_at_the_split_offset_is_malformed() {
        let mut text = "A".repeat(RANDOM_TEXT_LEN - 1);
        text.push('£');
        text.push_str(&"B".repeat(SIGNED_LEN - text.len()));
        assert_eq!(text.len(), SIGNED_LEN);
        assert_eq!(
            verify(&key(1), "id", text.as_bytes()),
            Err(Rejection::Malformed)
        );
    }
}
