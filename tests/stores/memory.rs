//! The conformance, accounts and features suites against `MemoryStore`.

use crate::{accounts_suite, conformance, conformance_suite, features_suite};

use sessionware::MemoryStore;

conformance_suite!(async { MemoryStore::new() });
accounts_suite!(async { MemoryStore::new() });
features_suite!(async { MemoryStore::new() });

#[test]
fn suite_keys_are_distinct() {
    assert!(conformance::keys_are_distinct());
}
