//! Code shared by this crate's binaries (see `README.md`):
//!
//! * [`cli`]: `--name value` options and their environment variables;
//! * [`layers`]: the session layers, configured alike in every app;
//! * [`apps`]: the four-route apps of `ipr` (instructions per request) and
//!   `allocs` (allocations per request), which do the same work per route in
//!   every implementation;
//! * [`redis_bridge`]: tower-sessions-redis-store 0.16 behind tower-sessions
//!   0.15, for `loadtest` and `ipr`;
//! * [`redis_cleanup`]: deleting the Redis keys a run created;
//! * [`redis_cluster`]: a Redis Cluster's nodes, and deleting keys there.
//!
//! `loadtest` keeps its own routes (`/ignore`, `/read`, `/write`, `/new`) in
//! `src/bin/loadtest/apps.rs`, built on [`layers`].

pub mod apps;
pub mod cli;
pub mod layers;
pub mod redis_bridge;
pub mod redis_cleanup;
pub mod redis_cluster;
