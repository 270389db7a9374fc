//! Record format 2: a binary header (deadlines, version, owner, flags) and
//! the data as length-prefixed keys and raw JSON values, so a load copies
//! bytes into place and parses no JSON tree.
//!
//! ```text
//! 2 | created u64 | expires u64 | version u64 | last_seen u64 | flags
//!   | [expiry: kind u8, u64] [owner: len, utf-8] [metadata: len, JSON]
//!   | [agent digest: u64] [lineage: 16 bytes]
//!   | [authenticated at: u64] [method: len, utf-8] [credential: 32 bytes]
//!   | entry count | (key len, utf-8 key, value len, JSON value)*
//! ```
//!
//! Each bracketed field is present when its flag is set: expiry `0x01`,
//! owner `0x02`, metadata `0x04`, agent digest `0x08`, lineage `0x10`,
//! authenticated at `0x20`, method `0x40`, credential `0x80`. The flags are
//! LEB128 like the lengths, so a record without the last three (every one
//! written before they existed) has a one-byte flags field and reads as
//! before; with the credential flag it takes two bytes. Integers are
//! little-endian; lengths and the count are LEB128. Keys are strictly
//! increasing. Anything else (a short read, an unknown flag, flags not in
//! their shortest encoding, bytes left over, a key out of order, a value
//! that is not JSON) is corrupt.

use super::{Record, SessionData, from_millis, unix_millis};
use crate::expiry::Expiry;
use crate::token::SessionHandle;

/// The format byte.
pub(super) const FORMAT: u8 = 2;

const EXPIRY: u32 = 0x01;
const OWNER: u32 = 0x02;
const METADATA: u32 = 0x04;
const AGENT: u32 = 0x08;
const LINEAGE: u32 = 0x10;
const AUTHENTICATED: u32 = 0x20;
const METHOD: u32 = 0x40;
const CREDENTIAL: u32 = 0x80;
const KNOWN: u32 =
    EXPIRY | OWNER | METADATA | AGENT | LINEAGE | AUTHENTICATED | METHOD | CREDENTIAL;

/// Writes `record` in format 2 after `prefix`, into a buffer of exactly
/// the length needed (the `MemoryStore` keeps it as it is).
pub(super) fn encode(record: &Record, prefix: &[u8]) -> Vec<u8> {
    let metadata = record
        .metadata
        .as_ref()
        .and_then(|metadata| serde_json::to_vec(metadata).ok());
    let flags = flag(record.expiry.is_some(), EXPIRY)
        | flag(record.owner.is_some(), OWNER)
        | flag(metadata.is_some(), METADATA)
        | flag(record.user_agent_digest.is_some(), AGENT)
        | flag(record.lineage.is_some(), LINEAGE)
        | flag(record.authenticated_at.is_some(), AUTHENTICATED)
        | flag(record.authentication_method.is_some(), METHOD)
        | flag(record.credential_digest.is_some(), CREDENTIAL);
    let text_len = |text: Option<&[u8]>| text.map_or(0, |text| len_len(text.len()) + text.len());
    let fields = record.expiry.map_or(0, |_| 9)
        + text_len(record.owner.as_ref().map(String::as_bytes))
        + text_len(metadata.as_deref())
        + record.user_agent_digest.map_or(0, |_| 8)
        + record.lineage.map_or(0, |lineage| lineage.to_bytes().len())
        + record.authenticated_at.map_or(0, |_| 8)
        + text_len(record.authentication_method.as_ref().map(String::as_bytes))
        + record.credential_digest.map_or(0, |digest| digest.len());
    let data: usize = record
        .data
        .raw_entries()
        .map(|(key, value)| text_len(Some(key)) + text_len(Some(value)))
        .sum();
    let len = prefix.len()
        + 1
        + 32
        + len_len(flags as usize)
        + fields
        + len_len(record.data.len())
        + data;
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(prefix);
    out.push(FORMAT);
    for millis in [
        unix_millis(record.created_at),
        unix_millis(record.expires_at),
        record.version,
        unix_millis(record.last_seen),
    ] {
        out.extend_from_slice(&millis.to_le_bytes());
    }
    put_len(&mut out, flags as usize);
    if let Some(expiry) = record.expiry {
        let (kind, n) = expiry.to_wire();
        out.push(kind);
        out.extend_from_slice(&n.to_le_bytes());
    }
    if let Some(owner) = &record.owner {
        put_bytes(&mut out, owner.as_bytes());
    }
    if let Some(metadata) = &metadata {
        put_bytes(&mut out, metadata);
    }
    if let Some(digest) = record.user_agent_digest {
        out.extend_from_slice(&digest.to_le_bytes());
    }
    if let Some(lineage) = record.lineage {
        out.extend_from_slice(&lineage.to_bytes());
    }
    if let Some(at) = record.authenticated_at {
        out.extend_from_slice(&unix_millis(at).to_le_bytes());
    }
    if let Some(method) = &record.authentication_method {
        put_bytes(&mut out, method.as_bytes());
    }
    if let Some(digest) = &record.credential_digest {
        out.extend_from_slice(digest);
    }
    put_len(&mut out, record.data.len());
    for (key, value) in record.data.raw_entries() {
        put_bytes(&mut out, key);
        put_bytes(&mut out, value);
    }
    debug_assert_eq!(out.len(), len, "the length computed ahead");
    out
}

fn flag(on: bool, bit: u32) -> u32 {
    if on { bit } else { 0 }
}

/// How many bytes `put_len` writes for `len`.
fn len_len(len: usize) -> usize {
    (usize::BITS - len.leading_zeros()).max(1).div_ceil(7) as usize
}

fn put_len(out: &mut Vec<u8>, mut len: usize) {
    loop {
        let low = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

/// Reads format 2 (the bytes after the format byte). `Err` names what is
/// wrong, for the corrupt-record error.
pub(super) fn decode(bytes: &[u8]) -> Result<Record, &'static str> {
    let mut input = Input(bytes);
    let created_at = from_millis(input.u64()?);
    let expires_at = from_millis(input.u64()?);
    let version = input.u64()?;
    let last_seen = from_millis(input.u64()?);
    let flags = input.flags()?;
    if flags & !KNOWN != 0 {
        return Err("unknown flags");
    }
    let expiry = if flags & EXPIRY != 0 {
        let kind = input.byte()?;
        let n = input.u64()?;
        Some(Expiry::from_wire((kind, n)).ok_or("unknown expiry kind")?)
    } else {
        None
    };
    let owner = if flags & OWNER != 0 {
        Some(input.text()?.to_owned())
    } else {
        None
    };
    let metadata = if flags & METADATA != 0 {
        Some(serde_json::from_slice(input.bytes()?).map_err(|_| "invalid metadata")?)
    } else {
        None
    };
    let user_agent_digest = if flags & AGENT != 0 {
        Some(input.u64()?)
    } else {
        None
    };
    let lineage = if flags & LINEAGE != 0 {
        Some(SessionHandle::from_bytes(input.array()?))
    } else {
        None
    };
    let authenticated_at = if flags & AUTHENTICATED != 0 {
        Some(from_millis(input.u64()?))
    } else {
        None
    };
    let authentication_method = if flags & METHOD != 0 {
        Some(input.text()?.to_owned())
    } else {
        None
    };
    let credential_digest = if flags & CREDENTIAL != 0 {
        Some(input.array()?)
    } else {
        None
    };
    let data = entries(&mut input)?;
    Ok(Record {
        data,
        created_at,
        expires_at,
        version,
        expiry,
        owner,
        last_seen,
        metadata,
        user_agent_digest,
        lineage,
        authenticated_at,
        authentication_method,
        credential_digest,
    })
}

/// The data section: a count, then each key and its value, length first.
///
/// Every entry takes at least two bytes, and its text fewer bytes than the
/// input left: a hostile count cannot make this reserve more than the input
/// could hold. A value is not checked to be JSON here: `get` parses it, and
/// refuses one that is not.
///
/// When every length fits in one byte (below 128, the usual case), those
/// bytes are ASCII, so the section copied whole is the data's text: one
/// copy and one UTF-8 check, each range pointing past its length byte.
/// Otherwise the keys and values are copied into one buffer one by one.
fn entries(input: &mut Input<'_>) -> Result<SessionData, &'static str> {
    let count = input.len()?;
    let section = input.0;
    let mut ranges = Vec::with_capacity(count.min(section.len() / 2));
    let mut one_byte_lengths = true;
    let mut previous: &[u8] = &[];
    for at in 0..count {
        let key = input.bytes()?;
        let value = input.bytes()?;
        if value.is_empty() {
            return Err("an empty value");
        }
        if at > 0 && key <= previous {
            return Err("keys out of order");
        }
        previous = key;
        one_byte_lengths &= key.len() < 0x80 && value.len() < 0x80;
        let key_start = offset(section, key);
        let value_start = offset(section, value);
        ranges.push((
            (key_start, key_start + key.len()),
            (value_start, value_start + value.len()),
        ));
    }
    if !input.0.is_empty() {
        return Err("bytes after the last entry");
    }
    // Room for a request to replace a small value without reallocating.
    let mut text = Vec::with_capacity(section.len() + WRITE_ROOM);
    if one_byte_lengths {
        text.extend_from_slice(section);
    } else {
        for (key, value) in &mut ranges {
            for range in [key, value] {
                let start = text.len();
                text.extend_from_slice(&section[range.0..range.1]);
                *range = (start, text.len());
            }
        }
    }
    SessionData::from_parts(text, ranges).ok_or("text is not UTF-8")
}

/// Spare room in a decoded session's text for the values a request writes.
const WRITE_ROOM: usize = 32;

/// Where `part`, a slice of `whole`, starts in it.
fn offset(whole: &[u8], part: &[u8]) -> usize {
    part.as_ptr() as usize - whole.as_ptr() as usize
}

/// The bytes not read yet.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if n > self.0.len() {
            return Err("truncated");
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, &'static str> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], &'static str> {
        let mut array = [0u8; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    /// The flags: LEB128 in its shortest form, at most three bytes.
    fn flags(&mut self) -> Result<u32, &'static str> {
        let mut flags = 0u32;
        for shift in [0, 7, 14] {
            let byte = self.byte()?;
            flags |= u32::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return if byte == 0 && shift > 0 {
                    Err("flags not in their shortest form")
                } else {
                    Ok(flags)
                };
            }
        }
        Err("flags too long")
    }

    fn u64(&mut self) -> Result<u64, &'static str> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A LEB128 length or count; at most the bytes left (every entry takes
    /// two bytes or more), so none can make a decoder allocate past the input.
    fn len(&mut self) -> Result<usize, &'static str> {
        // One byte below 128, the usual case, is the whole length.
        if let Some((&byte, rest)) = self.0.split_first()
            && byte < 0x80
        {
            self.0 = rest;
            let len = usize::from(byte);
            return if len <= rest.len() {
                Ok(len)
            } else {
                Err("length past the end")
            };
        }
        let mut len = 0usize;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            len |= usize::from(byte & 0x7f)
                .checked_shl(shift)
                .ok_or("length overflows")?;
            if byte & 0x80 == 0 {
                return if len <= self.0.len() {
                    Ok(len)
                } else {
                    Err("length past the end")
                };
            }
        }
        Err("length too long")
    }

    fn bytes(&mut self) -> Result<&'a [u8], &'static str> {
        let len = self.len()?;
        self.take(len)
    }

    fn text(&mut self) -> Result<&'a str, &'static str> {
        std::str::from_utf8(self.bytes()?).map_err(|_| "text is not UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::record::{Record, SessionData};

    fn signed_in() -> Record {
        let now = from_millis(1_700_000_000_123);
        let mut record = Record::new(SessionData::new(), now, now + Duration::from_secs(60));
        record.owner = Some("ferris".into());
        record.lineage = Some(crate::token::SessionKey::from_bytes([3; 32]).handle());
        record.authenticated_at = Some(now - Duration::from_secs(30));
        record.authentication_method = Some("passkey".into());
        record.credential_digest = Some([7; 32]);
        record
    }

    #[test]
    fn len_len_is_what_put_len_writes() {
        for len in [0, 1, 0x7f, 0x80, 0x3fff, 0x4000, usize::MAX] {
            let mut out = Vec::new();
            put_len(&mut out, len);
            assert_eq!(len_len(len), out.len(), "{len}");
        }
    }

    /// Long keys and values (two-byte lengths) are copied one by one; short
    /// ones come from the section copied whole: both read back the same.
    #[test]
    fn long_and_short_entries_read_back() {
        for size in [1, 127, 128, 300] {
            let mut data = SessionData::new();
            data.insert("a", &"x".repeat(size)).unwrap();
            data.insert(&"k".repeat(size), &1).unwrap();
            data.insert("é", &"ü").unwrap();
            let now = from_millis(1_700_000_000_000);
            let record = Record::new(data, now, now);
            let bytes = record.encode();
            assert_eq!(Record::decode(&bytes).unwrap(), record, "{size}");
            assert_eq!(record.encode_after(b"pre")[3..], bytes[..]);
        }
    }

    /// The sign-in fields round-trip, each alone and all together.
    #[test]
    fn sign_in_fields_round_trip() {
        let full = signed_in();
        let bytes = Record::encode(&full);
        assert_eq!(Record::decode(&bytes).unwrap(), full);
        for drop in 0..3 {
            let mut record = full.clone();
            match drop {
                0 => record.authenticated_at = None,
                1 => record.authentication_method = None,
                _ => record.credential_digest = None,
            }
            assert_eq!(Record::decode(&record.encode()).unwrap(), record);
        }
    }

    /// A record without them encodes exactly as before they existed (one
    /// flags byte, the old bits only), and decodes with `None`.
    #[test]
    fn records_without_sign_in_fields_keep_the_old_layout() {
        let mut record = signed_in();
        record.authenticated_at = None;
        record.authentication_method = None;
        record.credential_digest = None;
        let bytes = record.encode();
        assert_eq!(bytes[33], (OWNER | LINEAGE) as u8, "one flags byte");
        // Written by the previous version: flags byte, owner, lineage, no entries.
        let mut old = bytes[..33].to_vec();
        old.push(0x12);
        old.push(6);
        old.extend_from_slice(b"ferris");
        old.extend_from_slice(&record.lineage.unwrap().to_bytes());
        old.push(0);
        assert_eq!(old, bytes);
        let decoded = Record::decode(&old).unwrap();
        assert_eq!(decoded.authenticated_at, None);
        assert_eq!(decoded.authentication_method, None);
        assert_eq!(decoded.credential_digest, None);
        assert_eq!(decoded.owner.as_deref(), Some("ferris"));
    }

    /// With the credential flag the flags take two bytes; a flag beyond the
    /// known ones, and flags padded with a zero byte, are corrupt.
    #[test]
    fn flags_are_leb128_in_their_shortest_form() {
        let bytes = signed_in().encode();
        assert_eq!(&bytes[33..35], &[0xf2, 0x01]);
        let with_flags = |flags: &[u8]| {
            let mut bytes = bytes[..33].to_vec();
            bytes.extend_from_slice(flags);
            bytes.push(0);
            Record::decode(&bytes)
        };
        assert!(with_flags(&[0]).is_ok());
        assert!(with_flags(&[0x80, 0x02]).is_err(), "unknown flag 0x100");
        assert!(with_flags(&[0x80, 0x00]).is_err(), "padded");
        assert!(with_flags(&[0x81, 0x80, 0x80, 0x00]).is_err(), "too long");
        for cut in 0..bytes.len() {
            assert!(Record::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }
}
