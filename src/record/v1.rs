//! Record format 1, as earlier versions wrote it: one JSON object after the
//! format byte. Still read; never written (except by tests that check it is
//! read).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Record, SessionData, SessionMetadata, from_millis};
use crate::expiry::Expiry;

/// The format byte.
pub(super) const FORMAT: u8 = 1;

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
    /// The data, each value kept as its JSON text: no tree is built.
    d: BTreeMap<String, Box<RawValue>>,
}

/// Reads format 1 (the JSON after the format byte).
pub(super) fn decode(json: &[u8]) -> Result<Record, serde_json::Error> {
    let wire: Wire = serde_json::from_slice(json)?;
    let created_at = from_millis(wire.c);
    let lineage = match wire.l {
        Some(text) => Some(
            text.parse()
                .map_err(|_| serde::de::Error::custom("invalid lineage handle"))?,
        ),
        None => None,
    };
    let text = wire
        .d
        .iter()
        .map(|(key, value)| key.len() + value.get().len())
        .sum();
    let mut data = SessionData::with_capacity(wire.d.len(), text);
    for (key, value) in &wire.d {
        data.push_sorted(key, value.get());
    }
    Ok(Record {
        data,
        created_at,
        expires_at: from_millis(wire.e),
        version: wire.v,
        expiry: wire.x.and_then(Expiry::from_wire),
        owner: wire.u,
        last_seen: wire.s.map_or(created_at, from_millis),
        metadata: wire.m,
        user_agent_digest: wire.g,
        lineage,
        // Format 1 predates them.
        authenticated_at: None,
        authentication_method: None,
        credential_digest: None,
    })
}

/// Writes `record` in format 1, as earlier versions did: for tests that
/// check such records are still read.
#[cfg(test)]
pub(crate) fn encode(record: &Record) -> Vec<u8> {
    use super::unix_millis;
    let wire = serde_json::json!({
        "c": unix_millis(record.created_at),
        "e": unix_millis(record.expires_at),
        "v": record.version,
        "x": record.expiry.map(Expiry::to_wire),
        "u": record.owner,
        "s": unix_millis(record.last_seen),
        "m": record.metadata,
        "g": record.user_agent_digest,
        "l": record.lineage.map(|handle| handle.to_string()),
        "d": record.data,
    });
    let mut bytes = vec![FORMAT];
    serde_json::to_writer(&mut bytes, &wire).expect("JSON always serializes");
    bytes
}
