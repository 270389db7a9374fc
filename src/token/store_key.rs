//! The key a store files a session under: the SHA-256 digest of the cookie's random value.

use std::fmt;

use sha2::{Digest, Sha256};

use super::id::RandomValue;

/// The identifier stores see: `SHA-256(random value)`, 32 bytes.
///
/// It is not a bearer credential. A leaked store dump lists digests, and no
/// cookie can be made from a digest: the cookie needs the random value it was
/// hashed from, and an HMAC tag under the application's key. Its `Debug` output
/// shows only the type name; use [`SessionKey::log_id`] to correlate log lines.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey([u8; 32]);

/// The two lowercase hex digits of every byte.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut pairs = [[0; 2]; 256];
    let mut byte = 0;
    while byte < 256 {
        pairs[byte] = [DIGITS[byte >> 4], DIGITS[byte & 0x0f]];
        byte += 1;
    }
    pairs
};

impl SessionKey {
    /// Rebuilds a key from the 32 digest bytes a store kept (for stores that list keys).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub(crate) fn digest_of(value: &RandomValue) -> Self {
        Self(Sha256::digest(value.as_bytes()).into())
    }

    /// The digest bytes, for binary-safe stores.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The digest as 64 lowercase hexadecimal characters, for text stores.
    pub fn to_hex(&self) -> String {
        self.hex().iter().map(|&digit| char::from(digit)).collect()
    }

    /// The digest as 64 lowercase hexadecimal ASCII bytes, without an
    /// allocation (the Redis store builds its keys from them).
    pub(crate) fn hex(&self) -> [u8; 64] {
        let mut text = [0; 64];
        for (pair, byte) in text.as_chunks_mut::<2>().0.iter_mut().zip(self.0) {
            *pair = HEX_PAIRS[usize::from(byte)];
        }
        text
    }

    /// The session's public name: safe to show, log or put in a URL, and no
    /// way back to this key or the cookie.
    pub fn handle(&self) -> super::SessionHandle {
        super::SessionHandle::of(&self.0)
    }

    /// The first 8 hex characters, enough to follow one session through logs
    /// and useless to an attacker (ASVS 16.2.5: never log tokens, only a hash).
    pub fn log_id(&self) -> String {
        self.to_hex()[..8].to_owned()
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_sha256_of_the_random_bytes() {
        let value = RandomValue::from_bytes([0u8; 32]);
        // SHA-256 of 32 zero bytes.
        assert_eq!(
            SessionKey::digest_of(&value).to_hex(),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
    }

    #[test]
    fn debug_hides_the_digest_and_log_id_is_a_prefix() {
        let key = SessionKey::from_bytes([0x5a; 32]);
        assert_eq!(format!("{key:?}"), "SessionKey(..)");
        assert_eq!(key.log_id(), "5a5a5a5a");
        assert_eq!(key.to_hex().len(), 64);
    }
}
