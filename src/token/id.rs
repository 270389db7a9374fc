//! The random part of a session cookie: 256 bits from the operating system's CSPRNG.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRngCore as _;
use rand::rngs::OsRng;

use crate::error::{Error, ErrorKind};

/// Bytes of randomness in every session value (256 bits; OWASP asks for at least 128).
pub(crate) const RANDOM_LEN: usize = 32;
/// Length of the base64url (unpadded) text of a random value.
pub(crate) const RANDOM_TEXT_LEN: usize = 43;

/// Fills `bytes` from the OS CSPRNG (no user-space generator, so no
/// reseeding or fork-safety questions; see RUSTSEC-2026-0097).
pub(crate) fn fill_random(bytes: &mut [u8]) -> Result<(), Error> {
    OsRng.try_fill_bytes(bytes).map_err(|err| {
        Error::new(
            ErrorKind::Store,
            "the operating system's random generator failed",
        )
        .with_source(err)
    })
}

/// A session's random value. It is the bearer secret: it never appears in logs,
/// `Debug` output or stores (stores see only its SHA-256 digest).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct RandomValue([u8; RANDOM_LEN]);

impl RandomValue {
    /// Draws a fresh value from the OS CSPRNG (no user-space generator, so no
    /// reseeding or fork-safety questions; see RUSTSEC-2026-0097).
    pub(crate) fn generate() -> Result<Self, Error> {
        let mut bytes = [0u8; RANDOM_LEN];
        fill_random(&mut bytes)?;
        Ok(Self(bytes))
    }

    #[cfg(test)]
    pub(crate) fn from_bytes(bytes: [u8; RANDOM_LEN]) -> Self {
        Self(bytes)
    }

    pub(crate) fn as_bytes(&self) -> &[u8; RANDOM_LEN] {
        &self.0
    }

    /// The base64url text that goes into the cookie, before the tag.
    #[cfg(test)]
    pub(crate) fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// Parses exactly [`RANDOM_TEXT_LEN`] base64url characters; anything else is `None`.
    pub(crate) fn decode(text: &[u8]) -> Option<Self> {
        if text.len() != RANDOM_TEXT_LEN {
            return None;
        }
        let mut bytes = [0u8; RANDOM_LEN];
        match URL_SAFE_NO_PAD.decode_slice(text, &mut bytes) {
            Ok(RANDOM_LEN) => Some(Self(bytes)),
            _ => None,
        }
    }
}

impl fmt::Debug for RandomValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RandomValue(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn encodes_to_43_url_safe_characters_and_back() {
        let value = RandomValue::generate().unwrap();
        let text = value.encode();
        assert_eq!(text.len(), RANDOM_TEXT_LEN);
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(RandomValue::decode(text.as_bytes()), Some(value));
    }

    #[test]
    fn decode_rejects_wrong_lengths_and_alphabets() {
        let text = RandomValue::generate().unwrap().encode();
        assert_eq!(RandomValue::decode(&text.as_bytes()[..42]), None);
        assert_eq!(RandomValue::decode(format!("{text}A").as_bytes()), None);
        assert_eq!(RandomValue::decode(&[b'+'; RANDOM_TEXT_LEN]), None);
        assert_eq!(RandomValue::decode(b""), None);
    }

    /// 10^6 tokens, no duplicates, 256 bits each, base64url alphabet.
    #[test]
    fn a_million_tokens_never_repeat() {
        let mut seen = HashSet::with_capacity(1_000_000);
        for _ in 0..1_000_000 {
            let value = RandomValue::generate().unwrap();
            assert!(seen.insert(value.0), "a generated token repeated");
        }
    }

    /// Style rule 7: secrets never print.
    #[test]
    fn debug_shows_no_bytes() {
        let value = RandomValue::from_bytes([0xAB; RANDOM_LEN]);
        let shown = format!("{value:?}");
        assert_eq!(shown, "RandomValue(..)");
        assert!(!shown.contains(&value.encode()));
    }
}
