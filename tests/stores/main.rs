//! Every store against its real backend: one test binary with the
//! conformance, accounts and features suites (the public
//! `sessionware::store::conformance`, through its macros) run against each
//! store, and each store's own guarantees, one module per store. A module is
//! compiled with its store's feature; the Redis, PostgreSQL and MySQL/MariaDB
//! modules need their server running and fail, saying how to start it, when
//! it is not (they never skip).

// The suites are the `conformance` feature's; the stores' own tests drive a
// `Router` through the `Session` extractor and compare with a `MemoryStore`.
// Without those three features the binary is empty (`cargo test --features
// "redis-store conformance" --test stores` runs the Redis suite on its own).
#![cfg(all(feature = "axum", feature = "memory-store", feature = "conformance"))]

#[path = "../common/mod.rs"]
mod common;

#[cfg(any(
    feature = "redis-store",
    feature = "postgres-store",
    feature = "mysql-store"
))]
mod outage;
#[cfg(any(
    feature = "redis-store",
    feature = "postgres-store",
    feature = "mysql-store"
))]
mod proxy;
#[cfg(any(feature = "postgres-store", feature = "mysql-store"))]
mod sql;

mod memory;
#[cfg(feature = "mysql-store")]
mod mysql;
#[cfg(feature = "postgres-store")]
mod postgres;
#[cfg(feature = "redis-store")]
mod redis;
#[cfg(feature = "redis-store")]
mod redis_cache;
#[cfg(feature = "redis-store")]
mod redis_cluster;
#[cfg(feature = "redis-store")]
mod redis_sentinel;
#[cfg(feature = "redis-store")]
mod round_trips;
#[cfg(feature = "redis-store")]
mod shared_deployment;
#[cfg(feature = "sqlite-store")]
mod sqlite;
