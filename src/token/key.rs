//! Keys derived from the application secret with HKDF-SHA256, one per purpose.

use std::fmt;

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::strength::{MIN_SECRET_BITS, estimated_bits};
use crate::error::{Error, ErrorKind};

/// HKDF `info` label of the cookie-signing key. Every purpose gets its own
/// label, so no two purposes share a key, and the version suffix lets a
/// future derivation change without silently reusing keys.
pub(crate) const SIGNING_LABEL: &[u8] = b"sessionware/v1/cookie-signing";

#[cfg(feature = "cookie-store")]
/// HKDF `info` label of the cookie store's sealing key: never the signing key.
pub(crate) const SEALING_LABEL: &[u8] = b"sessionware/v1/cookie-store";

/// The shortest secret accepted, in bytes. It is only the first check: a
/// secret must also look random, with at least 128 bits of estimated entropy
/// (see [`Keyring::new`]).
pub const MIN_SECRET_LEN: usize = 32;

/// A 256-bit key for one purpose, derived from the secret, with its HMAC
/// state prepared once (keying HMAC costs two SHA-256 blocks per use otherwise).
///
/// The key bytes are wiped as soon as the HMAC state is keyed. The state
/// itself (SHA-256 midstates of the key) is not wiped on drop: `hmac` 0.12
/// and `sha2` 0.10 do not implement `Zeroize` for it.
#[derive(Clone)]
pub(crate) struct DerivedKey {
    #[cfg(test)]
    bytes: Zeroizing<[u8; 32]>,
    keyed: Hmac<Sha256>,
}

/// HKDF-SHA256 (no salt) of `secret` under `label`: 32 bytes for one purpose,
/// wiped when dropped.
pub(crate) fn derive_bytes(secret: &[u8], label: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(None, secret)
        .expand(label, bytes.as_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    bytes
}

impl DerivedKey {
    pub(crate) fn derive(secret: &[u8], label: &[u8]) -> Self {
        let bytes = derive_bytes(secret, label);
        let keyed = <Hmac<Sha256> as Mac>::new_from_slice(bytes.as_ref())
            .expect("HMAC takes any key length");
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

/// The keys derived from one secret, one per purpose. The sealing key's
/// bytes are wiped when dropped; the signing key as far as `hmac` allows
/// (see [`DerivedKey`]).
#[derive(Clone)]
pub(crate) struct Keys {
    signing: DerivedKey,
    #[cfg(feature = "cookie-store")]
    sealing: Zeroizing<[u8; 32]>,
}

impl Keys {
    fn derive(secret: &[u8]) -> Result<Self, Error> {
        check_secret(secret)?;
        Ok(Self {
            signing: DerivedKey::derive(secret, SIGNING_LABEL),
            #[cfg(feature = "cookie-store")]
            sealing: derive_bytes(secret, SEALING_LABEL),
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
/// # let new_secret: [u8; 64] = rand::random(); // in production: from your secret store
/// # let old_secret: [u8; 64] = rand::random();
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
    /// Use 64 random bytes from a CSPRNG, kept in a secret manager: for
    /// example the output of `openssl rand -hex 64`, which
    /// `SESSIONWARE_SECRET` ([`SessionLayer::from_env`](crate::SessionLayer::from_env))
    /// takes as it is (hex or base64).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WeakSecret`] if `secret` is shorter than
    /// [`MIN_SECRET_LEN`] bytes, or if it is guessable: it must have at least
    /// 128 bits of estimated entropy. The estimate gives each byte the bits of
    /// the smallest usual alphabet holding the secret (digits, hex, letters,
    /// printable ASCII, any byte), nothing to bytes that continue a sequence
    /// (`1234`, `abcd`, any fixed step) or repeat an earlier 3-byte pattern
    /// or separator, and about 13 bits to each word. Random bytes and their
    /// hex or base64 text pass with a wide margin; counting, repeated blocks,
    /// `Passw0rd!`-style text and passphrases of fewer than ten words are
    /// refused. The error says how many bits the secret has.
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
            .map(|keys| &*keys.sealing)
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("retired", &self.retired.len())
            .finish_non_exhaustive()
    }
}

/// Refuses secrets an attacker could guess: too short, or with too little
/// estimated entropy (see [`estimated_bits`]).
fn check_secret(secret: &[u8]) -> Result<(), Error> {
    if secret.len() < MIN_SECRET_LEN {
        return Err(
            Error::new(ErrorKind::WeakSecret, "secret is too short").with_detail(format!(
                "must be at least {MIN_SECRET_LEN} bytes (64 recommended), got {}",
                secret.len()
            )),
        );
    }
    let bits = estimated_bits(secret);
    if bits < MIN_SECRET_BITS {
        return Err(
            Error::new(ErrorKind::WeakSecret, "secret is too easy to guess").with_detail(format!(
                "it has about {} bits of estimated entropy, at least {MIN_SECRET_BITS} needed; \
                 use 64 random bytes, for example from `openssl rand -hex 64` \
                 (SESSIONWARE_SECRET takes them as hex or base64)",
                bits.floor()
            )),
        );
    }
    Ok(())
}

/// A fixed 64-byte secret for unit tests, one per `seed`: SHA-256 output, so
/// it passes the strength check. Test-only; never use a fixed secret.
#[cfg(test)]
pub(crate) fn test_secret(seed: u8) -> Vec<u8> {
    use sha2::Digest as _;
    (0u8..2)
        .flat_map(|half| {
            Sha256::new()
                .chain_update(b"sessionware unit-test secret")
                .chain_update([seed, half])
                .finalize()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pinned derivation vector, so an accidental change breaks CI.
    #[test]
    fn signing_key_derivation_is_pinned() {
        let secret: Vec<u8> = (0u8..64).collect();
        let key = DerivedKey::derive(&secret, SIGNING_LABEL);
        let hex: String = key.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, PINNED_SIGNING_KEY);
    }

    // Computed independently: HKDF-SHA256(salt = none, ikm = 0x00..0x3f, info = SIGNING_LABEL), 32 bytes.
    const PINNED_SIGNING_KEY: &str =
        "42b91d644d28d21b6b977b68bbabddc21abc0ea74613666f8914aea2d3ab427f";

    /// Distinct labels give distinct keys.
    #[test]
    fn labels_separate_purposes() {
        let secret: Vec<u8> = (0u8..64).collect();
        let signing = DerivedKey::derive(&secret, SIGNING_LABEL);
        let other = DerivedKey::derive(&secret, b"sessionware/v1/cookie-store-encryption");
        assert_ne!(signing.as_bytes(), other.as_bytes());
    }

    /// Short, all-zero and low-variety secrets are refused, with numbers.
    #[test]
    fn weak_secrets_are_refused() {
        let err = Keyring::new([7u8; 16]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WeakSecret);
        assert!(err.to_string().contains("got 16"), "{err}");
        let err = Keyring::new([0u8; 64]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WeakSecret);
        assert!(Keyring::new(b"abababababababababababababababababababab").is_err());
        assert!(Keyring::new(test_secret(1)).is_ok());
    }

    /// A long enough but guessable secret is refused with its estimate, the
    /// bar, and how to make a good one; a retired secret is checked alike.
    #[test]
    fn guessable_secrets_are_refused_with_the_estimate_and_advice() {
        let err = Keyring::new([0u8; 64]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WeakSecret);
        assert_eq!(
            err.to_string(),
            "secret is too easy to guess: it has about 16 bits of estimated entropy, at least \
             128 needed; use 64 random bytes, for example from `openssl rand -hex 64` \
             (SESSIONWARE_SECRET takes them as hex or base64)"
        );
        for weak in [
            b"12345678".repeat(4),
            b"Passw0rd!".repeat(4),
            (0u8..64).collect(),
        ] {
            let err = Keyring::new(&weak).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::WeakSecret, "{weak:?}");
            let err = Keyring::new(test_secret(1))
                .unwrap()
                .retired(&weak)
                .unwrap_err();
            assert!(err.to_string().contains("openssl rand -hex 64"), "{err}");
        }
        let strong = Keyring::new(test_secret(1))
            .unwrap()
            .retired(test_secret(2));
        assert_eq!(strong.unwrap().retired_count(), 1);
    }

    /// Derived key bytes are wiped when dropped. Memory after a drop cannot be
    /// observed reliably, so this checks the types: it fails to compile if a
    /// key is ever kept in a type that does not zeroize on drop.
    #[test]
    fn derived_key_bytes_zeroize_on_drop() {
        fn zeroize_on_drop<T: zeroize::ZeroizeOnDrop>(_: &T) {}
        let secret = test_secret(1);
        zeroize_on_drop(&derive_bytes(&secret, SIGNING_LABEL));
        zeroize_on_drop(&DerivedKey::derive(&secret, SIGNING_LABEL).bytes);
        #[cfg(feature = "cookie-store")]
        zeroize_on_drop(&Keyring::new(&secret).unwrap().current.sealing);
    }

    #[test]
    fn debug_prints_no_key_material() {
        let keyring = Keyring::new(test_secret(1)).unwrap();
        assert_eq!(format!("{keyring:?}"), "Keyring { retired: 0, .. }");
        assert_eq!(format!("{:?}", keyring.signing()), "DerivedKey(..)");
    }
}
