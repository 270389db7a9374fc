//! The conformance, accounts and features suites against `MemoryStore`.

use sessionware::MemoryStore;
use sessionware::store::conformance;

sessionware::conformance_suite!(async { MemoryStore::new() });
sessionware::accounts_suite!(async { MemoryStore::new() });
sessionware::features_suite!(async { MemoryStore::new() });

/// The suite's keys are distinct, as a sanity check of the suite itself.
#[test]
fn suite_keys_are_distinct() {
    let keys: std::collections::HashSet<_> = (0..1000).map(|_| conformance::random_key()).collect();
    assert_eq!(keys.len(), 1000);
}
