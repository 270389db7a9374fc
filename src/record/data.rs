//! `SessionData`: a session's keys and their values as raw JSON text, each
//! decoded only when it is read.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::Error;

/// A session's data: each key with its value kept as compact JSON text.
///
/// Loading a session does not build a JSON tree of it: a value is parsed
/// only when [`get`](SessionData::get) asks for it, as the type asked for,
/// and a save re-encodes only the values that changed. Keys are kept sorted.
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
    /// Sorted by key, keys unique.
    entries: Vec<(String, Box<RawValue>)>,
}

impl SessionData {
    /// No data.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(key, _)| key.as_str())
    }

    /// The keys and their values as JSON text, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|(key, value)| (key.as_str(), value.get()))
    }

    fn position(&self, key: &str) -> Result<usize, usize> {
        self.entries
            .binary_search_by(|(probe, _)| probe.as_str().cmp(key))
    }

    /// The value under `key` decoded as `T`; `Ok(None)` if absent.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Serialization`](crate::ErrorKind::Serialization) if the
    /// value is not a `T`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        self.raw(key)
            .map(|raw| serde_json::from_str(raw.get()).map_err(Error::from))
            .transpose()
    }

    /// The value under `key` as JSON text, if present.
    pub fn get_json(&self, key: &str) -> Option<&str> {
        self.raw(key).map(RawValue::get)
    }

    pub(crate) fn raw(&self, key: &str) -> Option<&RawValue> {
        let at = self.position(key).ok()?;
        Some(&self.entries[at].1)
    }

    /// Stores `value` under `key` as JSON, replacing any previous value.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Serialization`](crate::ErrorKind::Serialization) if
    /// `value` does not serialize to JSON; the data is then unchanged.
    pub fn insert<T: Serialize + ?Sized>(
        &mut self,
        key: impl Into<String>,
        value: &T,
    ) -> Result<(), Error> {
        let raw = serde_json::value::to_raw_value(value)?;
        self.insert_raw(key.into(), raw);
        Ok(())
    }

    /// Stores JSON text already checked to be valid.
    pub(crate) fn insert_raw(
        &mut self,
        key: String,
        value: Box<RawValue>,
    ) -> Option<Box<RawValue>> {
        match self.position(&key) {
            Ok(at) => Some(std::mem::replace(&mut self.entries[at].1, value)),
            Err(at) => {
                self.entries.insert(at, (key, value));
                None
            }
        }
    }

    /// Adds an entry after every key so far; `false` (and nothing added) if
    /// `key` does not sort after the last one. For decoders, which read
    /// entries in order.
    pub(crate) fn push_sorted(&mut self, key: String, value: Box<RawValue>) -> bool {
        if self.entries.last().is_some_and(|(last, _)| *last >= key) {
            return false;
        }
        self.entries.push((key, value));
        true
    }

    /// Room for `additional` more entries.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.entries.reserve(additional);
    }

    /// Removes `key`; returns whether it was present.
    pub fn remove(&mut self, key: &str) -> bool {
        self.remove_raw(key).is_some()
    }

    pub(crate) fn remove_raw(&mut self, key: &str) -> Option<Box<RawValue>> {
        let at = self.position(key).ok()?;
        Some(self.entries.remove(at).1)
    }

    /// Removes every key.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// The size of the data as a JSON object, in bytes.
    pub fn json_len(&self) -> usize {
        let entries: usize = self
            .entries
            .iter()
            .map(|(key, value)| entry_len(key, value))
            .sum();
        // `{` and `}`, and one comma fewer than entries.
        2 + entries.saturating_sub(1)
    }
}

/// What one entry adds to the data's JSON: `"key":value,`.
pub(crate) fn entry_len(key: &str, value: &RawValue) -> usize {
    crate::record::json_len(&key) + value.get().len() + 2
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

impl Serialize for SessionData {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (key, value) in &self.entries {
            map.serialize_entry(key, value)?;
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
            // A `Value` always serializes.
            if let Ok(raw) = serde_json::value::to_raw_value(&value) {
                data.insert_raw(key, raw);
            }
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
        assert!(!data.push_sorted("b".into(), serde_json::value::to_raw_value(&1).unwrap()));
        assert!(data.push_sorted("zz".into(), serde_json::value::to_raw_value(&1).unwrap()));
    }

    #[test]
    fn a_value_of_another_type_is_an_error_and_stays() {
        let mut data = SessionData::new();
        data.insert("n", &"text").unwrap();
        assert!(data.get::<u64>("n").is_err());
        assert_eq!(data.get::<String>("n").unwrap().as_deref(), Some("text"));
    }
}
