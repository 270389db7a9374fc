//! What a store keeps for one session, and its versioned byte encoding:
//! format 2 (binary, cheap to load) is written, formats 1 and 2 are read.

mod data;
#[cfg(feature = "memory-store")]
mod header;
mod scratch;
mod v1;
mod v2;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

pub use self::data::SessionData;
pub(crate) use self::data::entry_len;
#[cfg(feature = "memory-store")]
pub(crate) use self::header::{Header, header_of};
pub(crate) use self::scratch::with_json;
use crate::error::{Error, ErrorKind};
use crate::expiry::Expiry;

/// The largest encoded record [`Record::decode`] accepts, so a hostile or
/// corrupt store cannot make a load allocate without bound.
pub const MAX_ENCODED_LEN: usize = 16 * 1024 * 1024;

/// One session as a store keeps it.
///
/// Metadata (deadlines, version) lives beside the data, never inside it, so a
/// handler writing a key such as `_expires_at` cannot change them.
///
/// # Example
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use sessionware::store::Record;
///
/// let now = SystemTime::now();
/// let mut record = Record::new(Default::default(), now, now + Duration::from_secs(60));
/// record.data.insert("user", &"ferris")?;
/// let bytes = record.encode();
/// let user: Option<String> = Record::decode(&bytes)?.data.get("user")?;
/// assert_eq!(user.as_deref(), Some("ferris"));
/// assert!(Record::decode(&bytes[..3]).is_err(), "corrupt bytes are an error, not a panic");
/// assert!(!record.is_expired(now) && record.is_expired(now + Duration::from_secs(60)));
/// # Ok::<(), sessionware::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Record {
    /// The application's key/value data, each value decoded only when read.
    pub data: SessionData,
    /// When the session was first created.
    pub created_at: SystemTime,
    /// The server-side deadline: from this instant on the session is a guest,
    /// whatever the store still holds. Stores with native TTL may expire it then.
    pub expires_at: SystemTime,
    /// Incremented by every successful save; stores save only when the stored
    /// version equals the expected one.
    pub version: u64,
    /// A per-session expiry that overrides the layer's (`Session::set_expiry`).
    pub expiry: Option<Expiry>,
    /// The user the session belongs to (`Session::login`); stores that keep a
    /// [`UserIndex`](crate::UserIndex) file the session under it.
    pub owner: Option<String>,
    /// When the record was last written: its creation, a change, or a
    /// refresh of its idle deadline (at most every `refresh_fraction`).
    pub last_seen: SystemTime,
    /// What the layer noted about the client at login, if asked to.
    pub metadata: Option<SessionMetadata>,
    /// With `SessionLayer::bind_user_agent`: 64 bits of the SHA-256 of the
    /// `User-Agent` the session is bound to.
    pub user_agent_digest: Option<u64>,
    /// For a session moved to a fresh id by `cycle_id` (or a login of the
    /// same user): the handle of the first session of its line. `None` for
    /// a session that was never cycled, whose line is its own handle.
    /// Revocation ends a whole line, so a session that changes its id while
    /// it is revoked cannot escape under the new one.
    pub lineage: Option<crate::token::SessionHandle>,
    /// When the user last proved who they are: the `Session::login` that
    /// started the session, or a later `Session::reauthenticate`. Kept
    /// across `cycle_id`; `None` for a guest, and for sessions signed in
    /// before this was recorded (a recent-login check then asks again).
    pub authenticated_at: Option<SystemTime>,
    /// How the user signed in, as the application labelled it at login or
    /// re-authentication (`"password"`, `"passkey"`, `"sso"`); `None` if it
    /// gave no label.
    pub authentication_method: Option<String>,
    /// SHA-256 of the credential fingerprint the application gave at login
    /// (`Login::credential`): with `SessionLayer::credential_check`, the
    /// session ends once the user's current fingerprint no longer matches
    /// (after a password change). Only the digest is stored.
    pub credential_digest: Option<[u8; 32]>,
}

/// What the layer notes about the client at login when
/// `SessionLayer::login_metadata` is on: personal data, kept with the session
/// and shown in [`SessionInfo`](crate::SessionInfo) lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SessionMetadata {
    /// The `User-Agent` header, cut to 256 bytes.
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The client's address: from the socket, or from the configured
    /// trusted proxy header.
    #[serde(rename = "i", default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<std::net::IpAddr>,
}

/// Milliseconds since the Unix epoch, saturating; a time before the epoch is 0.
/// The one conversion every store uses for deadlines.
pub(crate) fn unix_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

pub(crate) fn from_millis(millis: u64) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_millis(millis))
        .unwrap_or(UNIX_EPOCH)
}

/// Bytes written by a serializer, without keeping them.
struct CountingWriter(usize);

impl std::io::Write for CountingWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The JSON size of `text` as a string, quotes and escapes included:
/// `json_len(&text)` without running the serializer.
pub(crate) fn str_json_len(text: &str) -> usize {
    let escapes: usize = text
        .bytes()
        .map(|byte| match byte {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 1,
            0..=0x1f => 5,
            _ => 0,
        })
        .sum();
    text.len() + escapes + 2
}

/// The JSON size of `value`.
pub(crate) fn json_len(value: &impl Serialize) -> usize {
    let mut counter = CountingWriter(0);
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => counter.0,
        Err(_) => usize::MAX,
    }
}

impl Record {
    /// A new record at version 1.
    pub fn new(data: SessionData, created_at: SystemTime, expires_at: SystemTime) -> Self {
        Self {
            data,
            created_at,
            expires_at,
            version: 1,
            expiry: None,
            owner: None,
            last_seen: created_at,
            metadata: None,
            user_agent_digest: None,
            lineage: None,
            authenticated_at: None,
            authentication_method: None,
            credential_digest: None,
        }
    }

    /// Whether the deadline has passed at `now`.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        self.expires_at <= now
    }

    /// The versioned, binary-safe encoding stores keep as bytes: format 2.
    pub fn encode(&self) -> Vec<u8> {
        v2::encode(self, &[])
    }

    /// `prefix` followed by [`Record::encode`]'s bytes, in one allocation.
    #[cfg(any(feature = "memory-store", test))]
    pub(crate) fn encode_after(&self, prefix: &[u8]) -> Vec<u8> {
        v2::encode(self, prefix)
    }

    /// Decodes [`Record::encode`]'s output, and records written in format 1
    /// by earlier versions. Unknown formats, oversized input and corrupt
    /// bytes are errors, never panics.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        let corrupt = |detail: String| {
            Error::new(
                ErrorKind::Serialization,
                "stored session record is unreadable",
            )
            .with_detail(detail)
        };
        if bytes.len() > MAX_ENCODED_LEN {
            return Err(corrupt(format!(
                "{} bytes exceeds the limit of {MAX_ENCODED_LEN}",
                bytes.len()
            )));
        }
        match bytes.split_first() {
            Some((&v2::FORMAT, rest)) => {
                v2::decode(rest).map_err(|why| corrupt(format!("format 2: {why}")))
            }
            Some((&v1::FORMAT, json)) => v1::decode(json).map_err(|err| {
                let detail = err.to_string();
                corrupt(format!("format 1: {detail}")).with_source(err)
            }),
            Some((version, _)) => Err(corrupt(format!("unknown format version {version}"))),
            None => Err(corrupt("empty".into())),
        }
    }
}

impl Expiry {
    pub(crate) fn to_wire(self) -> (u8, u64) {
        match self {
            Expiry::OnSessionEnd => (0, 0),
            Expiry::OnInactivity(d) => (1, u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            Expiry::AtDateTime(t) => (2, unix_millis(t)),
        }
    }

    pub(crate) fn from_wire((kind, n): (u8, u64)) -> Option<Self> {
        match kind {
            0 => Some(Expiry::OnSessionEnd),
            1 => Some(Expiry::OnInactivity(Duration::from_millis(n))),
            2 => Some(Expiry::AtDateTime(from_millis(n))),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        let mut data = SessionData::new();
        data.insert("user", &"ferris").unwrap();
        data.insert("ключ", &42).unwrap();
        data.insert(
            "nested",
            &serde_json::json!({"a": [1, 2.5, null], "b": "\"q\""}),
        )
        .unwrap();
        let now = from_millis(1_700_000_000_123);
        let mut record = Record::new(data, now, now + Duration::from_secs(60));
        record.version = 7;
        record.expiry = Some(Expiry::OnInactivity(Duration::from_secs(90)));
        record.owner = Some("ferris".into());
        record.last_seen = now + Duration::from_secs(5);
        record.metadata = Some(SessionMetadata {
            user_agent: Some("curl/8".into()),
            ip: Some("192.0.2.7".parse().unwrap()),
        });
        record.user_agent_digest = Some(u64::MAX - 7);
        record.lineage = Some(crate::token::SessionKey::from_bytes([3; 32]).handle());
        record
    }

    /// Records written before owners existed still decode, with none.
    #[test]
    fn records_without_owner_fields_decode() {
        let mut bytes = vec![v1::FORMAT];
        bytes.extend_from_slice(br#"{"c":1000,"e":2000,"v":3,"d":{"k":1}}"#);
        let record = Record::decode(&bytes).unwrap();
        assert_eq!(
            (record.owner, record.metadata, record.version),
            (None, None, 3)
        );
        assert_eq!(record.last_seen, record.created_at);
        assert_eq!(record.data.get::<u64>("k").unwrap(), Some(1));
    }

    #[test]
    fn str_json_len_is_the_serializers_length() {
        let mut texts: Vec<String> = (0u8..=0x7f).map(|b| char::from(b).to_string()).collect();
        texts.extend(["", "plain", "é ключ \u{1F980}", "a\"b\\c\u{7f}\u{0}"].map(String::from));
        for text in &texts {
            assert_eq!(str_json_len(text), json_len(text), "{text:?}");
        }
    }

    #[test]
    fn encode_then_decode_is_identity() {
        let record = sample();
        let bytes = record.encode();
        assert_eq!(bytes[0], v2::FORMAT);
        assert_eq!(Record::decode(&bytes).unwrap(), record);
        let minimal = Record::new(SessionData::new(), UNIX_EPOCH, UNIX_EPOCH);
        assert_eq!(Record::decode(&minimal.encode()).unwrap(), minimal);
    }

    /// A record written in format 1 by an earlier version reads as the same
    /// record, every field and value included.
    #[test]
    fn format_1_records_are_still_read() {
        let record = sample();
        let bytes = v1::encode(&record);
        assert_eq!(bytes[0], v1::FORMAT);
        assert_eq!(Record::decode(&bytes).unwrap(), record);
    }

    /// Format 2 is smaller than format 1 for the same record.
    #[test]
    fn format_2_is_smaller_than_format_1() {
        let record = sample();
        assert!(record.encode().len() < v1::encode(&record).len());
    }

    /// Truncated, random and unknown-version bytes are errors.
    #[test]
    fn corrupt_bytes_are_errors_not_panics() {
        for bytes in [sample().encode(), v1::encode(&sample())] {
            for cut in 0..bytes.len() {
                assert!(Record::decode(&bytes[..cut]).is_err(), "cut at {cut}");
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(Record::decode(&longer).is_err());
        }
        assert!(Record::decode(&[]).is_err());
        assert!(Record::decode(&[9, b'{', b'}']).is_err());
        assert!(Record::decode(&[v1::FORMAT, 0xff, 0x00, 0x13]).is_err());
    }

    /// Hostile format 2 bytes: unknown flags, a huge length or count, keys
    /// out of order, an empty value are errors; a value that is not JSON is
    /// an error when it is read, and the rest of the session still reads.
    #[test]
    fn hostile_format_2_bytes_are_errors() {
        let header = |flags: u8| {
            let mut bytes = vec![v2::FORMAT];
            bytes.extend_from_slice(&[0; 32]);
            bytes.push(flags);
            bytes
        };
        let mut unknown = header(0x80);
        unknown.push(0);
        assert!(Record::decode(&unknown).is_err());
        let mut huge = header(0);
        huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert!(Record::decode(&huge).is_err());
        let entry = |bytes: &mut Vec<u8>, key: &str, value: &str| {
            bytes.push(key.len() as u8);
            bytes.extend_from_slice(key.as_bytes());
            bytes.push(value.len() as u8);
            bytes.extend_from_slice(value.as_bytes());
        };
        let mut unsorted = header(0);
        unsorted.push(2);
        entry(&mut unsorted, "b", "1");
        entry(&mut unsorted, "a", "1");
        assert!(Record::decode(&unsorted).is_err());
        let mut empty = header(0);
        empty.push(1);
        entry(&mut empty, "a", "");
        assert!(Record::decode(&empty).is_err());
        let mut not_json = header(0);
        not_json.push(2);
        entry(&mut not_json, "a", "{x");
        entry(&mut not_json, "b", "7");
        let record = Record::decode(&not_json).unwrap();
        assert!(record.data.get::<serde_json::Value>("a").is_err());
        assert_eq!(record.data.get::<u64>("b").unwrap(), Some(7));
        assert!(serde_json::to_string(&record.data).is_err());
        let mut fine = header(0);
        fine.push(1);
        entry(&mut fine, "a", "[1]");
        assert_eq!(
            Record::decode(&fine).unwrap().data.get_json("a"),
            Some("[1]")
        );
    }

    /// A record over `MAX_ENCODED_LEN` is refused before it is decoded, with
    /// its size in the message.
    #[test]
    fn an_oversized_record_is_refused_before_decoding() {
        // Format 1 tolerates trailing whitespace, so padding keeps it valid.
        let mut bytes = v1::encode(&sample());
        bytes.resize(MAX_ENCODED_LEN + 1, b' ');
        let err = Record::decode(&bytes).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Serialization);
        assert!(
            err.to_string()
                .contains(&format!("{}", MAX_ENCODED_LEN + 1)),
            "{err}"
        );
        bytes.truncate(MAX_ENCODED_LEN);
        assert!(
            Record::decode(&bytes).is_ok(),
            "at the limit it still decodes"
        );
    }

    /// JSON nested 10,000 deep fails cleanly (serde_json's recursion limit):
    /// when the record is decoded in format 1, when the value is read in
    /// format 2.
    #[test]
    fn deep_nesting_is_bounded() {
        let mut bytes = vec![v1::FORMAT];
        bytes.extend_from_slice(br#"{"c":0,"e":0,"v":1,"d":{"k":"#);
        bytes.extend(std::iter::repeat_n(b'[', 10_000));
        assert!(Record::decode(&bytes).is_err());
        let mut bytes = vec![v2::FORMAT];
        bytes.extend_from_slice(&[0; 33]);
        bytes.extend_from_slice(&[1, 1, b'k', 0x90, 0x4e]);
        bytes.extend(std::iter::repeat_n(b'[', 10_000));
        let record = Record::decode(&bytes).unwrap();
        assert!(record.data.get::<serde_json::Value>("k").is_err());
    }
}
