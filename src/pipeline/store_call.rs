//! Calling the store: the `MemoryStore` answers at once, with no boxed
//! future and no timer; any other store through its boxed future, under
//! `store_timeout`.

use super::Context;
use super::backend::DynStore;
use crate::error::Error;
use crate::record::Record;
use crate::store::SaveOutcome;
use crate::token::SessionKey;

impl Context {
    /// `store.create(key, record)`.
    pub(crate) async fn create(
        &self,
        store: &dyn DynStore,
        key: &SessionKey,
        record: &Record,
    ) -> Result<bool, Error> {
        #[cfg(feature = "memory-store")]
        if let Some(memory) = store.memory() {
            return memory.create_now(key, record);
        }
        self.call(store.create(key, record)).await
    }

    /// `store.load(key)`.
    pub(crate) async fn load(
        &self,
        store: &dyn DynStore,
        key: &SessionKey,
    ) -> Result<Option<Record>, Error> {
        #[cfg(feature = "memory-store")]
        if let Some(memory) = store.memory() {
            return memory.load_now(key);
        }
        self.call(store.load(key)).await
    }

    /// `store.save(key, record, expected)`.
    pub(crate) async fn save(
        &self,
        store: &dyn DynStore,
        key: &SessionKey,
        record: &Record,
        expected: u64,
    ) -> Result<SaveOutcome, Error> {
        #[cfg(feature = "memory-store")]
        if let Some(memory) = store.memory() {
            return memory.save_now(key, record, expected);
        }
        self.call(store.save(key, record, expected)).await
    }

    /// `store.delete(key)`.
    pub(crate) async fn delete(
        &self,
        store: &dyn DynStore,
        key: &SessionKey,
    ) -> Result<bool, Error> {
        #[cfg(feature = "memory-store")]
        if let Some(memory) = store.memory() {
            return memory.delete_now(key);
        }
        self.call(store.delete(key)).await
    }
}
