//! One lock per shared Redis deployment (the cluster, the Sentinel group).
//! Every test that uses one holds a read guard, through its store; a test
//! that fails a master over takes the write guard, so it runs while no other
//! test uses that deployment, and no other test starts until it is done.

use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;

use sessionware::store::{ErasedUserIndex, Record, SaveOutcome, SessionKey, UserRecords};
use sessionware::{Error, SessionHandle, SessionInfo, SessionStore, UserIndex};
use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

/// The lock of one deployment.
pub(crate) type Deployment = Arc<RwLock<()>>;

/// Waits until no other test uses `deployment`, and keeps it to itself.
pub(crate) async fn exclusive(deployment: &Deployment) -> OwnedRwLockWriteGuard<()> {
    Arc::clone(deployment).write_owned().await
}

/// Runs `.ci/<script>` (`redis-cluster`, `redis-sentinel`), which brings
/// the nodes of a deployment that are down back into it.
pub(crate) async fn restart_down_nodes(script: &str) {
    let path = format!("{}/.ci/{script}", env!("CARGO_MANIFEST_DIR"));
    let restarted = tokio::process::Command::new("bash")
        .arg(&path)
        .status()
        .await
        .unwrap();
    assert!(restarted.success(), "{path} failed");
}

/// A store that holds a read guard of its deployment while it lives.
pub(crate) struct Shared<S> {
    store: S,
    _guard: OwnedRwLockReadGuard<()>,
}

impl<S> Shared<S> {
    /// Takes a read guard of `deployment` (waiting for a failover test to
    /// finish), then makes the store.
    pub(crate) async fn new(deployment: &Deployment, make: impl Future<Output = S>) -> Self {
        let guard = Arc::clone(deployment).read_owned().await;
        Self {
            store: make.await,
            _guard: guard,
        }
    }
}

impl<S> Deref for Shared<S> {
    type Target = S;

    fn deref(&self) -> &S {
        &self.store
    }
}

impl<S: SessionStore> SessionStore for Shared<S> {
    fn create(
        &self,
        key: &SessionKey,
        record: &Record,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        self.store.create(key, record)
    }
    fn load(&self, key: &SessionKey) -> impl Future<Output = Result<Option<Record>, Error>> + Send {
        self.store.load(key)
    }
    fn save(
        &self,
        key: &SessionKey,
        record: &Record,
        expected_version: u64,
    ) -> impl Future<Output = Result<SaveOutcome, Error>> + Send {
        self.store.save(key, record, expected_version)
    }
    fn delete(&self, key: &SessionKey) -> impl Future<Output = Result<bool, Error>> + Send {
        self.store.delete(key)
    }
    fn delete_expired(&self) -> impl Future<Output = Result<u64, Error>> + Send {
        self.store.delete_expired()
    }
    fn health(&self) -> impl Future<Output = Result<(), Error>> + Send {
        self.store.health()
    }
    fn user_index(&self) -> Option<&dyn ErasedUserIndex> {
        self.store.user_index()
    }
}

impl<S: UserIndex> UserIndex for Shared<S> {
    fn keys_of(&self, user: &str) -> impl Future<Output = Result<Vec<SessionKey>, Error>> + Send {
        self.store.keys_of(user)
    }
    fn forget(
        &self,
        user: &str,
        stale: &[SessionKey],
    ) -> impl Future<Output = Result<(), Error>> + Send {
        self.store.forget(user, stale)
    }
    fn records_of(&self, user: &str) -> impl Future<Output = Result<UserRecords, Error>> + Send {
        self.store.records_of(user)
    }
    fn sessions(&self, user: &str) -> impl Future<Output = Result<Vec<SessionInfo>, Error>> + Send {
        self.store.sessions(user)
    }
    fn revoke(
        &self,
        user: &str,
        handle: &SessionHandle,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        self.store.revoke(user, handle)
    }
    fn revoke_all(&self, user: &str) -> impl Future<Output = Result<u64, Error>> + Send {
        self.store.revoke_all(user)
    }
    fn revoke_others(
        &self,
        user: &str,
        keep: &SessionHandle,
    ) -> impl Future<Output = Result<u64, Error>> + Send {
        self.store.revoke_others(user, keep)
    }
}
