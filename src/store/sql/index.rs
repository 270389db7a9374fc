//! The owner column of the user index: what it holds for a user, and the
//! session keys read back from it.

use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::token::SessionKey;

/// What the owner column holds for `user`: its SHA-256, 32 bytes. A fixed
/// size is indexable on every engine, and user ids never reach SQL text.
pub(super) fn user_digest(user: &str) -> [u8; 32] {
    Sha256::digest(user.as_bytes()).into()
}

/// The owner column of a record: the digest of its owner, NULL for none.
pub(super) fn owner_digest(owner: Option<&str>) -> Option<[u8; 32]> {
    owner.map(user_digest)
}

/// Session keys from their stored bytes (32 each, which every table checks
/// or enforces).
pub(super) fn session_keys(rows: Vec<Vec<u8>>) -> Result<Vec<SessionKey>, Error> {
    rows.into_iter().map(session_key).collect()
}

/// A session key from its stored bytes.
pub(super) fn session_key(bytes: Vec<u8>) -> Result<SessionKey, Error> {
    let bytes: [u8; 32] = bytes.try_into().map_err(|bytes: Vec<u8>| {
        Error::store_message("stored session key is not 32 bytes")
            .with_detail(format!("{} bytes", bytes.len()))
    })?;
    Ok(SessionKey::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_their_sha256() {
        assert_eq!(owner_digest(None), None);
        let digest = owner_digest(Some("abc")).unwrap();
        assert_eq!(digest[..4], [0xba, 0x78, 0x16, 0xbf]);
        assert!(session_keys(vec![vec![0; 31]]).is_err());
        assert_eq!(
            session_keys(vec![vec![7; 32]]).unwrap(),
            [SessionKey::from_bytes([7; 32])]
        );
    }
}
