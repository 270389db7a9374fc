//! The owner column of the user index: what it holds for a user, the
//! session keys read back from it, and a user's live sessions made from
//! their rows.

use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::record::Record;
use crate::store::SessionInfo;
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

/// The live sessions among `entries` (a user's rows, expired or not) that
/// name `user`, most recently seen first, as
/// [`UserIndex::sessions`](crate::UserIndex::sessions) lists them.
pub(super) fn live_sessions(
    user: &str,
    entries: Vec<(SessionKey, Record)>,
    now: SystemTime,
) -> Vec<SessionInfo> {
    let mut infos: Vec<SessionInfo> = entries
        .into_iter()
        .filter(|(_, record)| record.owner.as_deref() == Some(user) && !record.is_expired(now))
        .map(|(key, record)| SessionInfo {
            handle: key.handle(),
            created_at: record.created_at,
            last_seen: record.last_seen,
            expires_at: record.expires_at,
            metadata: record.metadata,
        })
        .collect();
    infos.sort_by_key(|info| std::cmp::Reverse(info.last_seen));
    infos
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
