//! `SessionData`: a session's keys and their values as raw JSON text, each
//! decoded only when it is read.

use std::fmt;
use std::ops::Range;

use serde::de::DeserializeOwned;
use serde::ser::{Error as _, SerializeMap};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::Error;

/// A session's data: each key with its value kept as compact JSON text.
///
/// Loading a session does not build a JSON tree of it: a value is parsed
/// only when [`get`](SessionData::get) asks for it, as the type asked for,
/// and a save re-encodes only the values that changed. Keys are kept sorted.
/// All keys and values share one buffer, so a loaded session costs two
/// allocations however many keys it has.
///
/// ```
/// use sessionware::store::SessionData;
///
/// let mut data = SessionData::new();
/// data.insert("user", &"ferris")?;
/// data.insert("visits", &3)?;
/// assert_eq!(data.get::<String>("user")?.as_deref(), Some("ferris"));
/// assert_eq!(data.get_json("visits"), Some("3"));
/// assert_eq!(serde_json::to_string(&data)?, r#"{"user":"ferris","visits":3}"#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct SessionData {
    /// The keys and values, back to back; a replaced or removed one leaves
    /// its bytes behind until the data is encoded again.
    text: String,
    /// Sorted by key, keys unique.
    entries: Vec<Entry>,
}

/// The room taken at the first insert into empty data: most sessions hold
/// a few small values, and growing from nothing would take several
/// reallocations.
const FIRST_ENTRIES: usize = 8;
const FIRST_TEXT: usize = 128;

/// Where one key and its value are in the text.
#[derive(Clone, Copy)]
struct Entry {
    key: (usize, usize),
    value: (usize, usize),
}

fn range((start, end): (usize, usize)) -> Range<usize> {
    start..end
}

impl SessionData {
    /// No data.
    pub fn new() -> Self {
        Self::default()
    }

    /// Room for `entries` more entries and `text` more bytes of keys and values.
    pub(crate) fn with_capacity(entries: usize, text: usize) -> Self {
        Self {
            text: String::with_capacity(text),
            entries: Vec::with_capacity(entries),
        }
    }

    /// The data of `text` (keys and values back to back) and the ranges of
    /// each key and value in it, keys sorted and unique; `None` unless
    /// `text` is UTF-8 and every range ends on a character boundary.
    pub(crate) fn from_parts(
        text: Vec<u8>,
        ranges: Vec<((usize, usize), (usize, usize))>,
    ) -> Option<Self> {
        let text = String::from_utf8(text).ok()?;
        let boundaries = ranges.iter().all(|&((start, _), (middle, end))| {
            text.is_char_boundary(start)
                && text.is_char_boundary(middle)
                && text.is_char_boundary(end)
        });
        let entries = ranges
            .into_iter()
            .map(|(key, value)| Entry { key, value })
            .collect();
        boundaries.then_some(Self { text, entries })
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn key_of(&self, entry: &Entry) -> &str {
        &self.text[range(entry.key)]
    }

    fn value_of(&self, entry: &Entry) -> &str {
        &self.text[range(entry.value)]
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|entry| self.key_of(entry))
    }

    /// The keys and their values as bytes, in key order (for encoders:
    /// no character-boundary checks).
    pub(crate) fn raw_entries(&self) -> impl ExactSizeIterator<Item = (&[u8], &[u8])> {
        let text = self.text.as_bytes();
        self.entries
            .iter()
            .map(move |entry| (&text[range(entry.key)], &text[range(entry.value)]))
    }

    /// The keys and their values as JSON text, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|entry| (self.key_of(entry), self.value_of(entry)))
    }

    /// Where `key` is (`Ok`) or would go (`Err`). Keys compare as bytes,
    /// which for UTF-8 is their order as strings.
    pub(crate) fn position(&self, key: &str) -> Result<usize, usize> {
        let text = self.text.as_bytes();
        self.entries
            .binary_search_by(|entry| text[range(entry.key)].cmp(key.as_bytes()))
    }

    /// The value at `position`'s answer, if the key is there.
    pub(crate) fn json_at(&self, position: Result<usize, usize>) -> Option<&str> {
        let at = position.ok()?;
        Some(self.value_of(&self.entries[at]))
    }

    /// The value under `key` decoded as `T`; `Ok(None)` if absent.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Serialization`](crate::ErrorKind::Serialization) if the
    /// value is not a `T` (or, read from a corrupt store, not JSON).
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        self.get_json(key)
            .map(|json| serde_json::from_str(json).map_err(Error::from))
            .transpose()
    }

    /// The value under `key` as JSON text, if present.
    pub fn get_json(&self, key: &str) -> Option<&str> {
        let at = self.position(key).ok()?;
        Some(self.value_of(&self.entries[at]))
    }

    /// Stores `value` under `key` as JSON, replacing any previous value.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Serialization`](crate::ErrorKind::Serialization) if
    /// `value` does not serialize to JSON; the data is then unchanged.
    pub fn insert<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Error> {
        super::with_json(value, |json| self.insert_json(key, json))
    }

    /// Stores `json`, JSON text this crate wrote, under `key`.
    pub(crate) fn insert_json(&mut self, key: &str, json: &str) {
        self.insert_json_at(self.position(key), key, json);
    }

    /// [`insert_json`](Self::insert_json) at `position`, the answer of
    /// [`position`](Self::position) for `key` with no change since.
    pub(crate) fn insert_json_at(&mut self, position: Result<usize, usize>, key: &str, json: &str) {
        if self.entries.capacity() == 0 {
            self.entries.reserve(FIRST_ENTRIES);
            self.text.reserve(FIRST_TEXT.max(key.len() + json.len()));
        }
        let value = self.append(json);
        match position {
            Ok(at) => self.entries[at].value = value,
            Err(at) => {
                let key = self.append(key);
                self.entries.insert(at, Entry { key, value });
            }
        }
    }

    fn append(&mut self, text: &str) -> (usize, usize) {
        let start = self.text.len();
        self.text.push_str(text);
        (start, self.text.len())
    }

    /// Adds an entry after every key so far; `false` (and nothing added) if
    /// `key` does not sort after the last one. For decoders, which read
    /// entries in order.
    pub(crate) fn push_sorted(&mut self, key: &str, json: &str) -> bool {
        if self
            .entries
            .last()
            .is_some_and(|last| self.key_of(last) >= key)
        {
            return false;
        }
        let key = self.append(key);
        let value = self.append(json);
        self.entries.push(Entry { key, value });
        true
    }

    /// Removes `key`; returns whether it was present.
    pub fn remove(&mut self, key: &str) -> bool {
        match self.position(key) {
            Ok(at) => {
                self.entries.remove(at);
                true
            }
            Err(_) => false,
        }
    }

    /// Removes every key.
    pub fn clear(&mut self) {
        self.text.clear();
        self.entries.clear();
    }

    /// The size of the data as a JSON object, in bytes.
    pub fn json_len(&self) -> usize {
        let entries: usize = self.iter().map(|(key, json)| entry_len(key, json)).sum();
        // `{` and `}`, and one comma fewer than entries.
        2 + entries.saturating_sub(1)
    }
}

/// What one entry adds to the data's JSON: `"key":value,`.
pub(crate) fn entry_len(key: &str, json: &str) -> usize {
    crate::record::str_json_len(key) + json.len() + 2
}

impl PartialEq for SessionData {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl fmt::Debug for SessionData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// As a JSON object. A value that is not JSON (read from a corrupt store)
/// is an error.
impl Serialize for SessionData {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (key, json) in self.iter() {
            let raw: &RawValue = serde_json::from_str(json).map_err(S::Error::custom)?;
            map.serialize_entry(key, raw)?;
        }
        map.end()
    }
}

/// A JSON object's entries become the data; each value is kept as its
/// compact JSON text.
impl From<Map<String, Value>> for SessionData {
    fn from(map: Map<String, Value>) -> Self {
        let mut data = Self::new();
        for (key, value) in map {
            data.insert_json(&key, &value.to_string());
        }
        data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_len_is_the_length_of_the_json_object() {
        let mut data = SessionData::new();
        assert_eq!(data.json_len(), serde_json::to_string(&data).unwrap().len());
        data.insert("a", &1).unwrap();
        data.insert("ключ \"q\"", &vec!["x"; 3]).unwrap();
        data.insert("z", &serde_json::json!({"n": null})).unwrap();
        assert_eq!(data.json_len(), serde_json::to_string(&data).unwrap().len());
    }

    #[test]
    fn keys_stay_sorted_and_unique() {
        let mut data = SessionData::new();
        for key in ["m", "a", "z", "a"] {
            data.insert(key, &key).unwrap();
        }
        assert_eq!(data.keys().collect::<Vec<_>>(), ["a", "m", "z"]);
        assert!(data.remove("m"));
        assert!(!data.remove("m"));
        assert!(!data.push_sorted("b", "1"));
        assert!(data.push_sorted("zz", "1"));
        assert_eq!(data.keys().collect::<Vec<_>>(), ["a", "z", "zz"]);
    }

    /// A replaced value reads as the new one; equality ignores the bytes a
    /// replacement or removal left behind.
    #[test]
    fn replaced_values_read_back_and_compare_by_content() {
        let mut data = SessionData::new();
        data.insert("a", &"first").unwrap();
        data.insert("b", &2).unwrap();
        data.insert("a", &"second").unwrap();
        data.remove("b");
        let mut fresh = SessionData::new();
        fresh.insert("a", &"second").unwrap();
        assert_eq!(data.get::<String>("a").unwrap().as_deref(), Some("second"));
        assert_eq!(data, fresh);
    }

    #[test]
    fn a_value_of_another_type_is_an_error_and_stays() {
        let mut data = SessionData::new();
        data.insert("n", &"text").unwrap();
        assert!(data.get::<u64>("n").is_err());
        assert_eq!(data.get::<String>("n").unwrap().as_deref(), Some("text"));
    }
}
