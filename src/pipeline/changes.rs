//! `ChangedKeys`: the keys a request inserted or removed, in one buffer.

/// The keys this request changed, each once, in the order first changed.
///
/// They are kept back to back in one buffer, each after its length, so that
/// a request that changes a few keys costs one allocation, not one per key
/// plus a tree node. Lookups are linear: a request changes few keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ChangedKeys {
    bytes: Vec<u8>,
}

/// The room taken at the first change: enough for a handful of keys.
const FIRST_ROOM: usize = 64;

impl ChangedKeys {
    /// Notes `key` as changed (once, however often it changes).
    pub(crate) fn insert(&mut self, key: &str) {
        if self.contains(key) {
            return;
        }
        if self.bytes.capacity() == 0 {
            self.bytes.reserve(FIRST_ROOM.max(key.len() + 4));
        }
        let len = u32::try_from(key.len()).expect("a key shorter than 4 GiB");
        self.bytes.extend_from_slice(&len.to_le_bytes());
        self.bytes.extend_from_slice(key.as_bytes());
    }

    /// Whether `key` was changed.
    pub(crate) fn contains(&self, key: &str) -> bool {
        self.raw().any(|changed| changed == key.as_bytes())
    }

    /// Whether no key was changed.
    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Forgets every change.
    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
    }

    /// The changed keys, in the order first changed.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &str> {
        // Every key was a `&str` when inserted.
        self.raw()
            .map(|key| std::str::from_utf8(key).unwrap_or_default())
    }

    fn raw(&self) -> impl Iterator<Item = &[u8]> {
        let mut rest = self.bytes.as_slice();
        std::iter::from_fn(move || {
            let (len, tail) = rest.split_first_chunk::<4>()?;
            let (key, tail) = tail.split_at(u32::from_le_bytes(*len) as usize);
            rest = tail;
            Some(key)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_is_kept_once_in_the_order_first_changed() {
        let mut changes = ChangedKeys::default();
        assert!(changes.is_empty());
        for key in ["b", "", "a", "b", "ключ", "", "a"] {
            changes.insert(key);
        }
        assert_eq!(changes.iter().collect::<Vec<_>>(), ["b", "", "a", "ключ"]);
        assert!(changes.contains(""));
        assert!(changes.contains("ключ"));
        assert!(!changes.contains("c"));
        assert!(!changes.contains("ab"), "keys are not run together");
        changes.clear();
        assert!(changes.is_empty());
        assert_eq!(changes.iter().count(), 0);
    }

    #[test]
    fn many_and_long_keys_are_kept() {
        let mut changes = ChangedKeys::default();
        let long = "x".repeat(1000);
        changes.insert(&long);
        for n in 0..100 {
            changes.insert(&n.to_string());
        }
        assert_eq!(changes.iter().count(), 101);
        assert_eq!(changes.iter().next(), Some(long.as_str()));
        assert!(changes.contains("99"));
    }
}
