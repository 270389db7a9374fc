//! `SessionHandle`: the public name of a session, for device lists, audit
//! events and revocation.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorKind};

/// Domain separation: a handle is never a prefix of the store key itself.
const HANDLE_LABEL: &[u8] = b"sessionware/v1/handle\0";

/// A session's public name: 128 bits of `SHA-256(label ‖ store key)`, shown
/// as 32 hexadecimal characters.
///
/// It is safe to show a user ("your devices"), put in a URL or an audit log:
/// it is neither the cookie nor the store key, and neither can be derived
/// from it. It stays the same when the secret rotates, and changes when the
/// session's id is cycled (a login makes a new handle).
///
/// ```
/// use sessionware::{SessionHandle};
/// use sessionware::store::{SessionKey};
///
/// let handle = SessionKey::from_bytes([7; 32]).handle();
/// let text = handle.to_string();
/// assert_eq!(text.len(), 32);
/// assert_eq!(text.parse::<SessionHandle>()?, handle);
/// assert!("not a handle".parse::<SessionHandle>().is_err());
/// # Ok::<(), sessionware::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionHandle([u8; 16]);

impl SessionHandle {
    /// The handle whose 16 bytes are `bytes` (as a record stores a lineage).
    pub(crate) fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The handle's 16 bytes.
    pub(crate) fn to_bytes(self) -> [u8; 16] {
        self.0
    }

    /// The handle of the store key whose bytes are `key`.
    pub(crate) fn of(key: &[u8; 32]) -> Self {
        let digest = Sha256::new()
            .chain_update(HANDLE_LABEL)
            .chain_update(key)
            .finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Self(bytes)
    }
}

impl fmt::Display for SessionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionHandle({self})")
    }
}

impl FromStr for SessionHandle {
    type Err = Error;

    /// Parses the one textual form of a handle, as [`Display`](fmt::Display)
    /// writes it: exactly 32 lowercase hexadecimal digits (`0-9`, `a-f`).
    /// Anything else (uppercase, a sign, whitespace, another length) is
    /// refused, so equal handles always have equal text.
    fn from_str(text: &str) -> Result<Self, Error> {
        let invalid = || {
            Error::new(ErrorKind::InvalidHandle, "invalid session handle")
                .with_detail("expected 32 lowercase hexadecimal digits (0-9, a-f)")
        };
        let digit = |b: u8| match b {
            b'0'..=b'9' => Ok(b - b'0'),
            b'a'..=b'f' => Ok(b - b'a' + 10),
            _ => Err(invalid()),
        };
        let text = text.as_bytes();
        if text.len() != 32 {
            return Err(invalid());
        }
        let mut bytes = [0u8; 16];
        for (byte, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
            *byte = (digit(pair[0])? << 4) | digit(pair[1])?;
        }
        Ok(Self(bytes))
    }
}

impl serde::Serialize for SessionHandle {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for SessionHandle {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::SessionKey;

    #[test]
    fn a_handle_is_not_the_store_key_and_is_stable() {
        let key = SessionKey::from_bytes([0x5a; 32]);
        let handle = SessionHandle::of(key.as_bytes());
        assert_eq!(handle, key.handle());
        assert!(!key.to_hex().contains(&handle.to_string()));
        assert_ne!(handle, SessionKey::from_bytes([0x5b; 32]).handle());
        // Pinned, so the derivation cannot change unnoticed (Python:
        // hashlib.sha256(b"sessionware/v1/handle\0" + b"\x5a" * 32).hexdigest()[:32]).
        assert_eq!(handle.to_string(), PINNED);
    }

    const PINNED: &str = "4fc6b30063f1c830f32954956c74ecff";

    /// A handle has exactly one text: what `Display` writes parses back to
    /// the same handle, and every other spelling of it is refused.
    #[test]
    fn only_the_canonical_lowercase_text_parses() {
        for seed in 0..=255u8 {
            let handle = SessionKey::from_bytes([seed; 32]).handle();
            let text = handle.to_string();
            assert_eq!(text.parse::<SessionHandle>().unwrap(), handle);
            assert!(text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        }
        let canonical = PINNED;
        let error = canonical[1..].parse::<SessionHandle>().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidHandle);
        assert_eq!(
            error.to_string(),
            "invalid session handle: expected 32 lowercase hexadecimal digits (0-9, a-f)"
        );
        let others = [
            canonical.to_uppercase(),
            format!("{}F{}", &canonical[..2], &canonical[3..]),
            // `u8::from_str_radix` accepts a sign: "+f" is 15 to it.
            format!("+f{}", &canonical[2..]),
            format!("-f{}", &canonical[2..]),
            format!(" {}", &canonical[1..]),
            format!("{}\n", &canonical[..31]),
            format!("{canonical} "),
            format!("{}\t{}", &canonical[..16], &canonical[17..]),
            canonical[..31].to_owned(),
            format!("{canonical}0"),
            format!("0x{}", &canonical[2..]),
            format!("{}é{}", &canonical[..15], &canonical[17..]),
            format!("{}٣{}", &canonical[..15], &canonical[17..]),
            format!("{}\u{ff46}", &canonical[..29]),
        ];
        for other in &others {
            assert!(other.parse::<SessionHandle>().is_err(), "{other:?}");
            let json = serde_json::to_string(other).unwrap();
            assert!(
                serde_json::from_str::<SessionHandle>(&json).is_err(),
                "{json}"
            );
        }
        assert_eq!(others[1].len(), 32);
        assert_eq!(others[2].len(), 32);
        assert_eq!(others[11].len(), 32);
        assert_eq!(others[12].len(), 32);
    }

    #[test]
    fn parse_round_trips_and_refuses_garbage() {
        let handle = SessionKey::from_bytes([1; 32]).handle();
        assert_eq!(handle.to_string().parse::<SessionHandle>().unwrap(), handle);
        for bad in ["", "zz", &"g".repeat(32), &"a".repeat(31), &"é".repeat(16)] {
            assert!(bad.parse::<SessionHandle>().is_err(), "{bad:?}");
        }
        let json = serde_json::to_string(&handle).unwrap();
        assert_eq!(
            serde_json::from_str::<SessionHandle>(&json).unwrap(),
            handle
        );
    }
}
