//! The fixed fields at the start of an encoded record, read without
//! decoding the rest: what an in-memory store needs to judge versions,
//! deadlines and eviction order while it keeps only the bytes.

use super::v2;

/// The fixed fields of an encoded record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) expires_ms: u64,
    pub(crate) version: u64,
    pub(crate) last_seen_ms: u64,
    pub(crate) owned: bool,
}

/// Offsets in format 2: the format byte, then `created`, `expires`,
/// `version` and `last_seen` as little-endian `u64`s, then the flags.
const EXPIRES: usize = 9;
const VERSION: usize = 17;
const LAST_SEEN: usize = 25;
const FLAGS: usize = 33;
/// The flag bit of a record that names an owner.
const OWNER: u8 = 2;

/// The header of `bytes`, an encoding [`Record::encode`](super::Record::encode)
/// made; `None` for anything else.
pub(crate) fn header_of(bytes: &[u8]) -> Option<Header> {
    if bytes.first() != Some(&v2::FORMAT) {
        return None;
    }
    let u64_at = |at: usize| {
        let field = bytes.get(at..at + 8)?;
        Some(u64::from_le_bytes(field.try_into().ok()?))
    };
    Some(Header {
        expires_ms: u64_at(EXPIRES)?,
        version: u64_at(VERSION)?,
        last_seen_ms: u64_at(LAST_SEEN)?,
        owned: bytes.get(FLAGS)? & OWNER != 0,
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::record::{Record, SessionData, unix_millis};

    /// The header read from the bytes is what the record said, for owned
    /// and anonymous records alike.
    #[test]
    fn the_header_matches_the_encoded_record() {
        for owner in [None, Some("ferris")] {
            let created = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
            let mut record = Record::new(
                SessionData::new(),
                created,
                created + Duration::from_secs(60),
            );
            record.version = 42;
            record.last_seen = created + Duration::from_secs(7);
            record.owner = owner.map(str::to_owned);
            let header = header_of(&record.encode()).unwrap();
            assert_eq!(
                header,
                Header {
                    expires_ms: unix_millis(record.expires_at),
                    version: 42,
                    last_seen_ms: unix_millis(record.last_seen),
                    owned: owner.is_some(),
                }
            );
        }
        assert_eq!(header_of(&[1, b'{']), None);
        assert_eq!(header_of(&[v2::FORMAT, 0, 0]), None);
    }
}
