//! The conformance suite against `MemoryStore`.

mod conformance;

use sessionware::MemoryStore;

conformance_suite!(async { MemoryStore::new() });

#[test]
fn suite_keys_are_distinct() {
    assert!(conformance::keys_are_distinct());
}

/// The memory store has no native expiry: `delete_expired` removes and counts.
#[tokio::test]
async fn delete_expired_counts_what_it_removed() {
    use sessionware::{Record, SessionKey, SessionStore};
    use std::time::{Duration, SystemTime};
    let store = MemoryStore::new();
    let now = SystemTime::now();
    for n in 0..10u8 {
        let deadline = if n < 4 {
            now - Duration::from_secs(1)
        } else {
            now + Duration::from_secs(60)
        };
        let record = Record::new(Default::default(), now, deadline);
        store
            .create(&SessionKey::from_bytes([n; 32]), &record)
            .await
            .unwrap();
    }
    assert_eq!(store.delete_expired().await.unwrap(), 4);
    assert_eq!(store.len(), 6);
}
