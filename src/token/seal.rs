//! Sealing bytes into a cookie value with XChaCha20-Poly1305, for the cookie
//! store: the AEAD alone, on bytes; what the bytes mean is the pipeline's.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};

use super::{Keyring, Rejection, Verified, fill_random};
use crate::error::{Error, ErrorKind};

/// The most bytes a cookie's name, `=` and value may take: browsers drop
/// bigger cookies silently (RFC 6265 section 6.1 asks for at least 4096).
pub const MAX_COOKIE_LEN: usize = 4096;

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// The ciphers of one layer's cookie store: the current key first, then the
/// retired ones, which only open. Each cipher wipes its key when dropped, and
/// each seal or open its one-time ChaCha20 and Poly1305 state.
#[derive(Clone)]
pub(crate) struct Sealer {
    ciphers: Vec<XChaCha20Poly1305>,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    pub(crate) fn new(keyring: &Keyring) -> Self {
        let ciphers = keyring
            .sealing()
            .map(|key| XChaCha20Poly1305::new(Key::from_slice(key)))
            .collect();
        Self { ciphers }
    }

    /// The cookie value sealing `plain` under `cookie_name`: base64url of a
    /// fresh nonce, the ciphertext and the tag. Refuses a cookie browsers
    /// would drop (name, `=` and value over 4096 bytes).
    pub(crate) fn seal(&self, cookie_name: &str, plain: &[u8]) -> Result<String, Error> {
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce)?;
        let payload = Payload {
            msg: plain,
            aad: cookie_name.as_bytes(),
        };
        let sealed = self.ciphers[0]
            .encrypt(XNonce::from_slice(&nonce), payload)
            .map_err(|_| Error::new(ErrorKind::Serialization, "session could not be sealed"))?;
        let cookie_len = cookie_name.len()
            + 1
            + base64::encoded_len(NONCE_LEN + sealed.len(), false).unwrap_or(usize::MAX);
        if cookie_len > MAX_COOKIE_LEN {
            return Err(
                Error::new(ErrorKind::TooLarge, "session is too big for a cookie").with_detail(
                    format!(
                        "the sealed cookie would take {cookie_len} bytes (name and value), over the \
                         browsers' limit of {MAX_COOKIE_LEN}; the session encodes to {} bytes. \
                         Keep less in the session or use a server-side store",
                        plain.len()
                    ),
                ),
            );
        }
        let mut bytes = Vec::with_capacity(NONCE_LEN + sealed.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Opens a cookie value sealed under `cookie_name`, trying the current
    /// key, then the retired ones. Nothing is returned unless the tag verified.
    pub(crate) fn open(
        &self,
        cookie_name: &str,
        text: &[u8],
    ) -> Result<Verified<Vec<u8>>, Rejection> {
        if text.len() > MAX_COOKIE_LEN {
            return Err(Rejection::Malformed);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| Rejection::Malformed)?;
        if bytes.len() < NONCE_LEN + TAG_LEN {
            return Err(Rejection::Malformed);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let payload = || Payload {
            msg: sealed,
            aad: cookie_name.as_bytes(),
        };
        self.ciphers
            .iter()
            .enumerate()
            .find_map(|(position, cipher)| {
                let plain = cipher.decrypt(XNonce::from_slice(nonce), payload()).ok()?;
                Some(Verified {
                    value: plain,
                    retired: position > 0,
                })
            })
            .ok_or(Rejection::BadTag)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::token::key::{SEALING_LABEL, SIGNING_LABEL, derive_bytes};
    use crate::token::test_secret;

    const PLAIN: &[u8] = br#"{"user":"ferris"}"#;

    fn sealer() -> Sealer {
        sealer_of(1)
    }

    /// A sealer under the test secret numbered `seed`.
    fn sealer_of(seed: u8) -> Sealer {
        Sealer::new(&Keyring::new(test_secret(seed)).unwrap())
    }

    fn raw(value: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(value).unwrap()
    }

    /// The sealing key's derivation is pinned and differs from the signing key.
    #[test]
    fn sealing_key_derivation_is_pinned_and_separate() {
        let secret: Vec<u8> = (0u8..64).collect();
        let key = derive_bytes(&secret, SEALING_LABEL);
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        // Computed independently (Python hmac): HKDF-SHA256(no salt, 0x00..0x3f, SEALING_LABEL).
        assert_eq!(
            hex,
            "1790fd27230165bbf6705c7668f3288af7cf7509855fbfb8b7030aa3b0f4818a"
        );
        assert_ne!(key, derive_bytes(&secret, SIGNING_LABEL));
    }

    #[test]
    fn sealed_bytes_open_and_hide_the_data() {
        let sealer = sealer();
        let value = sealer.seal("id", PLAIN).unwrap();
        assert!(!value.contains("ferris"));
        assert!(!String::from_utf8_lossy(&raw(&value)).contains("ferris"));
        let opened = sealer.open("id", value.as_bytes()).unwrap();
        assert_eq!(opened.value, PLAIN);
        assert!(!opened.retired);
        assert_ne!(
            value,
            sealer.seal("id", PLAIN).unwrap(),
            "a fresh nonce each time"
        );
    }

    /// A million seals under one key repeat no nonce.
    #[test]
    fn a_million_seals_repeat_no_nonce() {
        let sealer = sealer();
        let mut nonces = HashSet::with_capacity(1_000_000);
        for _ in 0..1_000_000 {
            let value = sealer.seal("id", PLAIN).unwrap();
            let nonce: [u8; NONCE_LEN] = raw(&value)[..NONCE_LEN].try_into().unwrap();
            assert!(
                nonces.insert(nonce),
                "nonce repeated after {} seals",
                nonces.len()
            );
        }
    }

    /// Flipping any bit of the nonce, ciphertext or tag fails
    /// to open; nothing is returned but the rejection.
    #[test]
    fn any_tampered_byte_fails_to_open() {
        let sealer = sealer();
        let bytes = raw(&sealer.seal("id", PLAIN).unwrap());
        assert!(bytes.len() > NONCE_LEN + TAG_LEN);
        for at in 0..bytes.len() {
            for bit in [0x01u8, 0x80] {
                let mut tampered = bytes.clone();
                tampered[at] ^= bit;
                let text = URL_SAFE_NO_PAD.encode(&tampered);
                assert_eq!(
                    sealer.open("id", text.as_bytes()),
                    Err(Rejection::BadTag),
                    "byte {at} bit {bit:#x}"
                );
            }
        }
        let truncated = URL_SAFE_NO_PAD.encode(&bytes[..NONCE_LEN + TAG_LEN - 1]);
        assert_eq!(
            sealer.open("id", truncated.as_bytes()),
            Err(Rejection::Malformed)
        );
        assert_eq!(sealer.open("id", b"not base64!"), Err(Rejection::Malformed));
    }

    /// The cookie name is associated data, and another secret is another key.
    #[test]
    fn another_name_or_secret_does_not_open() {
        let value = sealer().seal("id", PLAIN).unwrap();
        assert_eq!(
            sealer().open("other", value.as_bytes()),
            Err(Rejection::BadTag)
        );
        let other = sealer_of(2);
        assert_eq!(other.open("id", value.as_bytes()), Err(Rejection::BadTag));
    }

    /// Bytes that would make the cookie pass 4096 bytes are refused, with the size.
    #[test]
    fn a_cookie_over_4096_bytes_is_refused_with_its_size() {
        let sealer = sealer();
        // Find the largest payload that still fits, then one byte more.
        let fits = (0..4096)
            .rev()
            .find(|&n| sealer.seal("id", &vec![b'x'; n]).is_ok())
            .unwrap();
        let value = sealer.seal("id", &vec![b'x'; fits]).unwrap();
        assert!("id=".len() + value.len() <= MAX_COOKIE_LEN);
        assert!(
            "id=".len() + value.len() > MAX_COOKIE_LEN - 4,
            "the limit is used up to the last base64 group"
        );
        let plain = fits + 1;
        let err = sealer.seal("id", &vec![b'x'; plain]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TooLarge);
        // The size in the message, computed independently: name, '=', and
        // base64 (unpadded) of nonce, ciphertext and tag.
        let sealed = NONCE_LEN + plain + TAG_LEN;
        let expected = 3 + (sealed * 4).div_ceil(3);
        assert!(expected > MAX_COOKIE_LEN);
        let message = err.to_string();
        assert!(
            message.contains(&format!("would take {expected} bytes")),
            "{message}"
        );
        assert!(
            message.contains(&format!("encodes to {plain} bytes")),
            "{message}"
        );
        assert!(message.contains("limit of 4096"), "{message}");
    }

    /// Rotation for sealed cookies: a retired key still opens
    /// (and says so), a removed one does not.
    #[test]
    fn retired_keys_open_and_removed_ones_do_not() {
        let old = sealer_of(3);
        let value = old.seal("id", PLAIN).unwrap();
        let rotated = Sealer::new(
            &Keyring::new(test_secret(1))
                .unwrap()
                .retired(test_secret(3))
                .unwrap(),
        );
        let opened = rotated.open("id", value.as_bytes()).unwrap();
        assert!(opened.retired);
        assert_eq!(opened.value, PLAIN);
        let resealed = rotated.seal("id", &opened.value).unwrap();
        assert!(!rotated.open("id", resealed.as_bytes()).unwrap().retired);
        assert_eq!(
            old.open("id", resealed.as_bytes()),
            Err(Rejection::BadTag),
            "re-sealed under the current key only"
        );
        assert_eq!(
            sealer().open("id", value.as_bytes()),
            Err(Rejection::BadTag)
        );
    }

    #[test]
    fn debug_shows_no_key() {
        assert_eq!(format!("{:?}", sealer()), "Sealer(..)");
    }

    /// The sealing keys are wiped when a sealer is dropped. Freed memory
    /// cannot be observed reliably; this checks the types instead.
    #[test]
    fn sealing_keys_zeroize_on_drop() {
        fn zeroize_on_drop<T: zeroize::ZeroizeOnDrop>(_: &T) {}
        let sealer = sealer();
        zeroize_on_drop(&sealer.ciphers[0]);
        zeroize_on_drop(&derive_bytes(&test_secret(1), SEALING_LABEL));
    }
}
