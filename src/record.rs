//! What a store keeps for one session, and its versioned byte encoding.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind};
use crate::expiry::Expiry;

/// The first byte of every encoded record; bump it when the layout changes so
/// stored records can be migrated rather than misread.
const FORMAT_V1: u8 = 1;

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
/// record.data.insert("user".into(), "ferris".into());
/// let bytes = record.encode();
/// assert_eq!(Record::decode(&bytes)?.data["user"], "ferris");
/// assert!(Record::decode(&bytes[..3]).is_err(), "corrupt bytes are an error, not a panic");
/// assert!(!record.is_expired(now) && record.is_expired(now + Duration::from_secs(60)));
/// # Ok::<(), sessionware::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Record {
    /// The application's key/value data.
    pub data: Map<String, Value>,
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

/// The stored layout of format 1. Short field names keep small records small.
#[derive(Deserialize)]
struct Wire {
    c: u64,
    e: u64,
    v: u64,
    #[serde(default)]
    x: Option<(u8, u64)>,
    #[serde(default)]
    u: Option<String>,
    #[serde(default)]
    s: Option<u64>,
    #[serde(default)]
    m: Option<SessionMetadata>,
    #[serde(default)]
    g: Option<u64>,
    #[serde(default)]
    l: Option<String>,
    d: Map<String, Value>,
}

/// [`Wire`] for writing, borrowing the data instead of copying it.
#[derive(Serialize)]
struct WireRef<'a> {
    c: u64,
    e: u64,
    v: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    x: Option<(u8, u64)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    u: Option<&'a str>,
    s: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    m: Option<&'a SessionMetadata>,
    #[serde(skip_serializing_if = "Option::is_none")]
    g: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    l: Option<String>,
    d: &'a Map<String, Value>,
}

/// Milliseconds since the Unix epoch, saturating; a time before the epoch is 0.
/// The one conversion every store uses for deadlines.
pub(crate) fn unix_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn from_millis(millis: u64) -> SystemTime {
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

/// The JSON size of `value`.
pub(crate) fn json_len(value: &impl Serialize) -> usize {
    let mut counter = CountingWriter(0);
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => counter.0,
        Err(_) => usize::MAX,
    }
}

/// What one entry adds to the data's JSON: `"key":value,`.
pub(crate) fn entry_len(key: &str, value: &Value) -> usize {
    json_len(&key) + json_len(value) + 2
}

impl Record {
    /// A new record at version 1.
    pub fn new(data: Map<String, Value>, created_at: SystemTime, expires_at: SystemTime) -> Self {
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
        }
    }

    /// Whether the deadline has passed at `now`.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        self.expires_at <= now
    }

    /// The versioned, binary-safe encoding stores may keep as bytes.
    pub fn encode(&self) -> Vec<u8> {
        let wire = WireRef {
            c: unix_millis(self.created_at),
            e: unix_millis(self.expires_at),
            v: self.version,
            x: self.expiry.map(Expiry::to_wire),
            u: self.owner.as_deref(),
            s: unix_millis(self.last_seen),
            m: self.metadata.as_ref(),
            g: self.user_agent_digest,
            l: self.lineage.map(|handle| handle.to_string()),
            d: &self.data,
        };
        let mut bytes = Vec::with_capacity(64 + self.data.len() * 16);
        bytes.push(FORMAT_V1);
        serde_json::to_writer(&mut bytes, &wire).expect("a JSON map always serializes");
        bytes
    }

    /// Decodes [`Record::encode`]'s output. Unknown versions, oversized input
    /// and corrupt bytes are errors, never panics.
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
            Some((&FORMAT_V1, json)) => {
                let wire: Wire = serde_json::from_slice(json)
                    .map_err(|e| corrupt("invalid format 1 payload".into()).with_source(e))?;
                let created_at = from_millis(wire.c);
                Ok(Self {
                    data: wire.d,
                    created_at,
                    expires_at: from_millis(wire.e),
                    version: wire.v,
                    expiry: wire.x.and_then(Expiry::from_wire),
                    owner: wire.u,
                    last_seen: wire.s.map_or(created_at, from_millis),
                    metadata: wire.m,
                    user_agent_digest: wire.g,
                    lineage: match wire.l {
                        Some(text) => Some(
                            text.parse()
                                .map_err(|_| corrupt("invalid lineage handle".into()))?,
                        ),
                        None => None,
                    },
                })
            }
            Some((version, _)) => Err(corrupt(format!("unknown format version {version}"))),
            None => Err(corrupt("empty".into())),
        }
    }
}

impl Expiry {
    fn to_wire(self) -> (u8, u64) {
        match self {
            Expiry::OnSessionEnd => (0, 0),
            Expiry::OnInactivity(d) => (1, u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            Expiry::AtDateTime(t) => (2, unix_millis(t)),
        }
    }

    fn from_wire((kind, n): (u8, u64)) -> Option<Self> {
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
        let mut data = Map::new();
        data.insert("user".into(), Value::from("ferris"));
        data.insert("ключ".into(), Value::from(42));
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
        record
    }

    /// Records written before owners existed still decode, with none.
    #[test]
    fn records_without_owner_fields_decode() {
        let mut bytes = vec![FORMAT_V1];
        bytes.extend_from_slice(br#"{"c":1000,"e":2000,"v":3,"d":{"k":1}}"#);
        let record = Record::decode(&bytes).unwrap();
        assert_eq!(
            (record.owner, record.metadata, record.version),
            (None, None, 3)
        );
        assert_eq!(record.last_seen, record.created_at);
    }

    #[test]
    fn encode_then_decode_is_identity() {
        let record = sample();
        let bytes = record.encode();
        assert_eq!(bytes[0], FORMAT_V1);
        assert_eq!(Record::decode(&bytes).unwrap(), record);
    }

    /// Truncated, random and unknown-version bytes are errors.
    #[test]
    fn corrupt_bytes_are_errors_not_panics() {
        let bytes = sample().encode();
        assert!(Record::decode(&bytes[..bytes.len() / 2]).is_err());
        assert!(Record::decode(&[]).is_err());
        assert!(Record::decode(&[9, b'{', b'}']).is_err());
        assert!(Record::decode(&[FORMAT_V1, 0xff, 0x00, 0x13]).is_err());
    }

    /// A record over `MAX_ENCODED_LEN` is refused before it is decoded, with
    /// its size in the message.
    #[test]
    fn an_oversized_record_is_refused_before_decoding() {
        let mut bytes = sample().encode();
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

    /// JSON nested 10,000 deep fails cleanly (serde_json's recursion limit).
    #[test]
    fn deep_nesting_is_bounded() {
        let mut bytes = vec![FORMAT_V1];
        bytes.extend_from_slice(br#"{"c":0,"e":0,"v":1,"d":{"k":"#);
        bytes.extend(std::iter::repeat_n(b'[', 10_000));
        assert!(Record::decode(&bytes).is_err());
    }
}
