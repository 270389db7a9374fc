//! The trait impls every SQL store shares, generated over its `Table`.

/// The `SessionStore` and `UserIndex` impls of a SQL store: every operation
/// is its [`Table`]'s (`$store::table()`), the index is the row's `owner`
/// column (so there is nothing to forget), and `delete_expired` removes
/// `$batch` rows per statement until a batch comes back short.
macro_rules! sql_store_impls {
    ($store:ty, $batch:expr) => {
        impl $crate::store::SessionStore for $store {
            async fn health(&self) -> Result<(), $crate::error::Error> {
                <$store>::health(self).await
            }

            async fn create(
                &self,
                key: &$crate::token::SessionKey,
                record: &$crate::record::Record,
            ) -> Result<bool, $crate::error::Error> {
                self.table().create(key, record).await
            }

            async fn load(
                &self,
                key: &$crate::token::SessionKey,
            ) -> Result<Option<$crate::record::Record>, $crate::error::Error> {
                self.table().load(key).await
            }

            /// One conditional `UPDATE`. When it changes no row, a second
            /// query tells a conflict from a missing record; that answer may
            /// already be stale, which is safe: nothing was written.
            async fn save(
                &self,
                key: &$crate::token::SessionKey,
                record: &$crate::record::Record,
                expected_version: u64,
            ) -> Result<$crate::store::SaveOutcome, $crate::error::Error> {
                self.table().save(key, record, expected_version).await
            }

            async fn delete(
                &self,
                key: &$crate::token::SessionKey,
            ) -> Result<bool, $crate::error::Error> {
                self.table().delete(key).await
            }

            /// Deletes expired rows in batches (one short statement each)
            /// until a batch comes back short; returns the total.
            async fn delete_expired(&self) -> Result<u64, $crate::error::Error> {
                self.table().delete_expired($batch).await
            }

            fn user_index(&self) -> Option<&dyn $crate::store::ErasedUserIndex> {
                Some(self)
            }
        }

        /// The index is the `owner` column of each row: nothing to forget.
        impl $crate::store::UserIndex for $store {
            /// The keys of `user`'s rows whose deadline has not passed.
            async fn keys_of(
                &self,
                user: &str,
            ) -> Result<Vec<$crate::token::SessionKey>, $crate::error::Error> {
                self.table().keys_of(user).await
            }

            async fn forget(
                &self,
                _user: &str,
                _stale: &[$crate::token::SessionKey],
            ) -> Result<(), $crate::error::Error> {
                Ok(())
            }

            /// One query for the keys and records of `user`'s rows,
            /// instead of a load per key: every listing and revocation
            /// starts with it.
            async fn records_of(
                &self,
                user: &str,
            ) -> Result<$crate::store::UserRecords, $crate::error::Error> {
                self.table().records_of(user).await
            }

            /// One `DELETE` of the rows `keys_of` lists; returns how many.
            async fn revoke_all(&self, user: &str) -> Result<u64, $crate::error::Error> {
                self.table().revoke_all(user).await
            }
        }
    };
}

pub(crate) use sql_store_impls;
