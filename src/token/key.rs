//! Keys derived from the application secret with HKDF-SHA256, one per purpose.

use std::collections::HashSet;
use std::fmt;

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{Error, ErrorKind};

/// HKDF `info` label of the cookie-signing key. Every purpose gets its own
/// label (catalogue #6, #74), and the version suffix lets a future derivation
/// change without silently reusing keys.
pub(crate) const SIGNING_LABEL: &[u8] = b"sessionware/v1/cookie-signing";

/// The shortest secret accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

/// The fewest distinct byte values a secret must contain; it catches all-zero,
/// one-letter and short repeated-pattern secrets.
const MIN_DISTINCT_BYTES: usize = 8;

/// A 256-bit key for one purpose, derived from the secret, with its HMAC
/// state prepared once (keying HMAC costs two SHA-256 blocks per use otherwise).
#[derive(Clone)]
pub(crate) struct DerivedKey {
    #[cfg(test)]
    bytes: [u8; 32],
    keyed: Hmac<Sha256>,
}

/// HKDF-SHA256 (no salt) of `secret` under `label`: 32 bytes for one purpose.
pub(crate) fn derive_bytes(secret: &[u8], label: &[u8]) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    Hkdf::<Sha256>::new(None, secret)
        .expand(label, &mut bytes)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    bytes
}

impl DerivedKey {
    pub(crate) fn derive(secret: &[u8], label: &[u8]) -> Self {
        let bytes = derive_bytes(secret, label);
        let keyed =
            <Hmac<Sha256> as Mac>::new_from_slice(&bytes).expect("HMAC takes any key length");
        Self {
            #[cfg(test)]
            bytes,
            keyed,
        }
    }

    #[cfg(test)]
    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// A fresh HMAC-SHA256 computation under this key.
    pub(crate) fn mac(&self) -> Hmac<Sha256> {
        self.keyed.clone()
    }
}

impl fmt::Debug for DerivedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DerivedKey(..)")
    }
}

/// The keys the layer signs and verifies with.
#[derive(Clone)]
pub(crate) struct Keyring {
    signing: DerivedKey,
}

impl Keyring {
    /// Checks the secret and derives the signing key.
    pub(crate) fn from_secret(secret: &[u8]) -> Result<Self, Error> {
        check_secret(secret)?;
        Ok(Self {
            signing: DerivedKey::derive(secret, SIGNING_LABEL),
        })
    }

    pub(crate) fn signing(&self) -> &DerivedKey {
        &self.signing
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keyring(..)")
    }
}

/// Refuses secrets an attacker could guess (catalogue #73).
fn check_secret(secret: &[u8]) -> Result<(), Error> {
    if secret.len() < MIN_SECRET_LEN {
        return Err(
            Error::new(ErrorKind::WeakSecret, "secret is too short").with_detail(format!(
                "must be at least {MIN_SECRET_LEN} bytes (64 recommended), got {}",
                secret.len()
            )),
        );
    }
    let distinct = secret.iter().collect::<HashSet<_>>().len();
    if distinct < MIN_DISTINCT_BYTES {
        return Err(
            Error::new(ErrorKind::WeakSecret, "secret has too little variety").with_detail(
                format!(
                    "must contain at least {MIN_DISTINCT_BYTES} distinct byte values, got {distinct}; \
                     generate it with a CSPRNG (for example `openssl rand -hex 64`)"
                ),
            ),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catalogue #74: a pinned derivation vector, so an accidental change breaks CI.
    #[test]
    fn case_74_signing_key_derivation_is_pinned() {
        let secret: Vec<u8> = (0u8..64).collect();
        let key = DerivedKey::derive(&secret, SIGNING_LABEL);
        let hex: String = key.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, PINNED_SIGNING_KEY);
    }

    // Computed independently: HKDF-SHA256(salt = none, ikm = 0x00..0x3f, info = SIGNING_LABEL), 32 bytes.
    const PINNED_SIGNING_KEY: &str =
        "42b91d644d28d21b6b977b68bbabddc21abc0ea74613666f8914aea2d3ab427f";

    /// Catalogue #74: distinct labels give distinct keys.
    #[test]
    fn case_74_labels_separate_purposes() {
        let secret: Vec<u8> = (0u8..64).collect();
        let signing = DerivedKey::derive(&secret, SIGNING_LABEL);
        let other = DerivedKey::derive(&secret, b"sessionware/v1/cookie-store-encryption");
        assert_ne!(signing.as_bytes(), other.as_bytes());
    }

    /// Catalogue #73: short, all-zero and low-variety secrets are refused, with numbers.
    #[test]
    fn case_73_weak_secrets_are_refused() {
        let err = Keyring::from_secret(&[7u8; 16]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WeakSecret);
        assert!(err.to_string().contains("got 16"), "{err}");
        let err = Keyring::from_secret(&[0u8; 64]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WeakSecret);
        assert!(Keyring::from_secret(b"abababababababababababababababababababab").is_err());
        assert!(Keyring::from_secret(&(0u8..32).collect::<Vec<_>>()).is_ok());
    }

    #[test]
    fn debug_prints_no_key_material() {
        let keyring = Keyring::from_secret(&(0u8..64).collect::<Vec<_>>()).unwrap();
        assert_eq!(format!("{keyring:?}"), "Keyring(..)");
        assert_eq!(format!("{:?}", keyring.signing()), "DerivedKey(..)");
    }
}
