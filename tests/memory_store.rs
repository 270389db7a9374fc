//! The conformance suite against `MemoryStore`.

mod common;
mod conformance;

use sessionware::MemoryStore;

conformance_suite!(async { MemoryStore::new() });
accounts_suite!(async { MemoryStore::new() });
features_suite!(async { MemoryStore::new() });

#[test]
fn suite_keys_are_distinct() {
    assert!(conformance::keys_are_distinct());
}
