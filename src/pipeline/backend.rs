//! Where a layer's requests keep sessions: a server-side store behind boxed
//! futures, or the cookie store's sealer.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::error::Error;
use crate::record::Record;
#[cfg(feature = "memory-store")]
use crate::store::MemoryStore;
use crate::store::{ErasedUserIndex, SaveOutcome, SessionStore};
#[cfg(feature = "cookie-store")]
use crate::token::Sealer;
use crate::token::SessionKey;

/// What a layer's requests use to load and keep sessions.
#[derive(Clone)]
pub(crate) enum Backend {
    /// A [`SessionStore`]; cookies carry a signed random value.
    Server(Arc<dyn DynStore>),
    /// The cookie store; cookies carry the sealed record.
    #[cfg(feature = "cookie-store")]
    Sealed(Sealer),
}

impl Backend {
    /// The backend of a server-side store.
    pub(crate) fn server(store: impl SessionStore) -> Self {
        Self::Server(Arc::new(store))
    }

    /// The store's user index, if it keeps one.
    pub(crate) fn index(&self) -> Option<&dyn ErasedUserIndex> {
        match self {
            Self::Server(store) => store.index(),
            #[cfg(feature = "cookie-store")]
            Self::Sealed(_) => None,
        }
    }
}

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// [`SessionStore`] with boxed futures, so the layer and `Session` need no
/// type parameter for the store.
pub(crate) trait DynStore: Send + Sync + 'static {
    fn create<'a>(
        &'a self,
        key: &'a SessionKey,
        record: &'a Record,
    ) -> BoxFuture<'a, Result<bool, Error>>;
    fn load<'a>(&'a self, key: &'a SessionKey) -> BoxFuture<'a, Result<Option<Record>, Error>>;
    fn save<'a>(
        &'a self,
        key: &'a SessionKey,
        record: &'a Record,
        expected: u64,
    ) -> BoxFuture<'a, Result<SaveOutcome, Error>>;
    fn delete<'a>(&'a self, key: &'a SessionKey) -> BoxFuture<'a, Result<bool, Error>>;
    fn index(&self) -> Option<&dyn ErasedUserIndex>;
    /// The store as the `MemoryStore` it is, whose calls answer at once.
    #[cfg(feature = "memory-store")]
    fn memory(&self) -> Option<&MemoryStore>;
}

impl<S: SessionStore> DynStore for S {
    fn create<'a>(
        &'a self,
        key: &'a SessionKey,
        record: &'a Record,
    ) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(SessionStore::create(self, key, record))
    }
    fn load<'a>(&'a self, key: &'a SessionKey) -> BoxFuture<'a, Result<Option<Record>, Error>> {
        Box::pin(SessionStore::load(self, key))
    }
    fn save<'a>(
        &'a self,
        key: &'a SessionKey,
        record: &'a Record,
        expected: u64,
    ) -> BoxFuture<'a, Result<SaveOutcome, Error>> {
        Box::pin(SessionStore::save(self, key, record, expected))
    }
    fn delete<'a>(&'a self, key: &'a SessionKey) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(SessionStore::delete(self, key))
    }
    fn index(&self) -> Option<&dyn ErasedUserIndex> {
        SessionStore::user_index(self)
    }
    #[cfg(feature = "memory-store")]
    fn memory(&self) -> Option<&MemoryStore> {
        (self as &dyn std::any::Any).downcast_ref()
    }
}
