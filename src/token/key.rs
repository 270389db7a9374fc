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

/// The most retired secrets a keyring holds: each one is one more HMAC for
/// every cookie that fails the current key, so hostile cookies stay cheap.
pub const MAX_RETIRED_SECRETS: usize = 8;

/// The keys derived from one secret, one per purpose.
#[derive(Clone)]
pub(crate) struct Keys {
    signing: DerivedKey,
    #[cfg(feature = "cookie-store")]
    sealing: [u8; 32],
}

impl Keys {
    fn derive(secret: &[u8]) -> Result<Self, Error> {
        check_secret(secret)?;
        Ok(Self {
            signing: DerivedKey::derive(secret, SIGNING_LABEL),
            #[cfg(feature = "cookie-store")]
            sealing: derive_bytes(secret, crate::store::cookie::SEALING_LABEL),
        })
    }
}

/// The application's secrets: the current one, which signs (and seals) every
/// new or re-issued cookie, and retired ones, which are only tried on cookies
/// the current one rejects. This is how a secret is rotated without logging
/// anyone out.
///
/// ```
/// use sessionware::{Keyring, MemoryStore, SessionLayer};
/// # let new_secret = [1u8, 2, 3, 4, 5, 6, 7, 8].repeat(8);
/// # let old_secret = [9u8, 8, 7, 6, 5, 4, 3, 2].repeat(8);
/// let keyring = Keyring::new(&new_secret)?.retired(&old_secret)?;
/// let layer = SessionLayer::with_keyring(MemoryStore::new(), keyring);
/// # Ok::<(), sessionware::Error>(())
/// ```
///
/// # Rotating a secret
///
/// 1. Deploy with the new secret current and the old one retired. A cookie
///    under the old secret is accepted and, on that same response, re-issued
///    under the new one; the session keeps its data and its store key (the
///    store files sessions under the digest of the random value, which no
///    key touches). Every instance must have the new keyring before any
///    cookie is re-issued, or instances still on the old one reject it.
/// 2. Wait for the longest session lifetime, so sessions that were not used
///    meanwhile have expired anyway.
/// 3. Remove the old secret. Cookies still under it are guests from then on,
///    without a store lookup.
///
/// If a secret leaked, skip step 2: remove it at once, which logs out every
/// session it signed.
#[derive(Clone)]
pub struct Keyring {
    current: Keys,
    retired: Vec<Keys>,
}

impl Keyring {
    /// A keyring whose current secret is `secret`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WeakSecret`] if `secret` is shorter than
    /// [`MIN_SECRET_LEN`] bytes or has fewer than 8 distinct byte values.
    pub fn new(secret: impl AsRef<[u8]>) -> Result<Self, Error> {
        Ok(Self {
            current: Keys::derive(secret.as_ref())?,
            retired: Vec::new(),
        })
    }

    /// Adds a retired secret: cookies under it are still accepted, and
    /// re-issued under the current one.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WeakSecret`] as for [`Keyring::new`], and
    /// [`ErrorKind::InvalidConfig`] beyond [`MAX_RETIRED_SECRETS`].
    pub fn retired(mut self, secret: impl AsRef<[u8]>) -> Result<Self, Error> {
        if self.retired.len() == MAX_RETIRED_SECRETS {
            return Err(
                Error::new(ErrorKind::InvalidConfig, "too many retired secrets")
                    .with_detail(format!("at most {MAX_RETIRED_SECRETS}")),
            );
        }
        self.retired.push(Keys::derive(secret.as_ref())?);
        Ok(self)
    }

    /// How many retired secrets the keyring holds.
    pub fn retired_count(&self) -> usize {
        self.retired.len()
    }

    /// The key that signs every cookie the layer issues.
    pub(crate) fn signing(&self) -> &DerivedKey {
        &self.current.signing
    }

    /// Every signing key, the current one first: the verification order.
    pub(crate) fn verifying(&self) -> impl Iterator<Item = &DerivedKey> {
        std::iter::once(&self.current)
            .chain(&self.retired)
            .map(|keys| &keys.signing)
    }

    /// Every sealing key of the cookie store, the current one first.
    #[cfg(feature = "cookie-store")]
    pub(crate) fn sealing(&self) -> impl Iterator<Item = &[u8; 32]> {
        std::iter::once(&self.current)
            .chain(&self.retired)
            .map(|keys| &keys.sealing)
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("retired", &self.retired.len())
            .finish_non_exhaustive()
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
        let err = Keyring::new([7u8; 16]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WeakSecret);
        assert!(err.to_string().contains("got 16"), "{err}");
        let err = Keyring::new([0u8; 64]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WeakSecret);
        assert!(Keyring::new(b"abababababababababababababababababababab").is_err());
        assert!(Keyring::new((0u8..32).collect::<Vec<_>>()).is_ok());
    }

    #[test]
    fn debug_prints_no_key_material() {
        let keyring = Keyring::new((0u8..64).collect::<Vec<_>>()).unwrap();
        assert_eq!(format!("{keyring:?}"), "Keyring { retired: 0, .. }");
        assert_eq!(format!("{:?}", keyring.signing()), "DerivedKey(..)");
    }
}
