//! tower-sessions-redis-store 0.16 behind tower-sessions 0.15.
//!
//! tower-sessions-redis-store 0.16, its latest release, implements the
//! `SessionStore` trait of tower-sessions-core 0.14, which is identical to
//! 0.15's; [`Bridge`] adapts it by converting the record (one copy of its map
//! per create or save, a fraction of a microsecond).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use tower_sessions::session::{Id, Record};
use tower_sessions::session_store;
use tower_sessions_core_014 as core014;
use tower_sessions_redis_store::fred::prelude::Pool;

/// The ids of the records a [`Bridge`] created, for the clean-up.
pub type CreatedIds = Arc<Mutex<Vec<i128>>>;

type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = session_store::Result<T>> + Send + 'a>>;

/// tower-sessions-redis-store's `RedisStore` as a tower-sessions 0.15
/// `SessionStore`, noting every id created when asked to. The methods are
/// what `#[async_trait]` expands to.
#[derive(Debug, Clone)]
pub struct Bridge {
    inner: tower_sessions_redis_store::RedisStore<Pool>,
    created: Option<CreatedIds>,
}

impl Bridge {
    /// The store over `pool`; with `created`, the id of every record it
    /// creates is pushed there (the bare ids are the Redis keys).
    pub fn new(pool: Pool, created: Option<CreatedIds>) -> Self {
        Self {
            inner: tower_sessions_redis_store::RedisStore::new(pool),
            created,
        }
    }
}

fn to_014(record: &Record) -> core014::session::Record {
    core014::session::Record {
        id: core014::session::Id(record.id.0),
        data: record.data.clone(),
        expiry_date: record.expiry_date,
    }
}

fn from_014(error: core014::session_store::Error) -> session_store::Error {
    use core014::session_store::Error as Old;
    match error {
        Old::Encode(message) => session_store::Error::Encode(message),
        Old::Decode(message) => session_store::Error::Decode(message),
        Old::Backend(message) => session_store::Error::Backend(message),
    }
}

impl tower_sessions::SessionStore for Bridge {
    fn create<'a, 'b, 'f>(&'a self, record: &'b mut Record) -> StoreFuture<'f, ()>
    where
        'a: 'f,
        'b: 'f,
        Self: 'f,
    {
        Box::pin(async move {
            let mut old = to_014(record);
            core014::SessionStore::create(&self.inner, &mut old)
                .await
                .map_err(from_014)?;
            record.id = Id(old.id.0);
            if let Some(created) = &self.created {
                created
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(old.id.0);
            }
            Ok(())
        })
    }

    fn save<'a, 'b, 'f>(&'a self, record: &'b Record) -> StoreFuture<'f, ()>
    where
        'a: 'f,
        'b: 'f,
        Self: 'f,
    {
        Box::pin(async move {
            core014::SessionStore::save(&self.inner, &to_014(record))
                .await
                .map_err(from_014)
        })
    }

    fn load<'a, 'b, 'f>(&'a self, id: &'b Id) -> StoreFuture<'f, Option<Record>>
    where
        'a: 'f,
        'b: 'f,
        Self: 'f,
    {
        Box::pin(async move {
            let old = core014::SessionStore::load(&self.inner, &core014::session::Id(id.0))
                .await
                .map_err(from_014)?;
            Ok(old.map(|old| Record {
                id: Id(old.id.0),
                data: old.data,
                expiry_date: old.expiry_date,
            }))
        })
    }

    fn delete<'a, 'b, 'f>(&'a self, id: &'b Id) -> StoreFuture<'f, ()>
    where
        'a: 'f,
        'b: 'f,
        Self: 'f,
    {
        Box::pin(async move {
            core014::SessionStore::delete(&self.inner, &core014::session::Id(id.0))
                .await
                .map_err(from_014)
        })
    }
}
