//! The layer driven through requests: one test binary for everything that
//! sends requests through a `Router` (or a plain tower service) and checks
//! what comes back, one module per theme. The stores' own suites are in
//! `tests/stores/`.
//!
//! All these tests share one process. A test that reads the logs does it
//! through [`capture`] (one subscriber, lines tagged per test) or through a
//! subscriber scoped to its own thread; none touches the process environment.

// Every module drives a `Router` through the `Session` extractor, most on a
// `MemoryStore`: without the default features the binary is empty.
#![cfg(all(feature = "axum", feature = "memory-store"))]

#[path = "../common/mod.rs"]
mod common;

mod capture;

mod client_binding;
mod concurrency;
#[cfg(feature = "cookie-store")]
mod cookie_store;
mod credential_change;
mod csrf;
mod devices;
mod events;
mod failure_policy;
mod flash;
mod from_env;
mod guards;
mod header_transport;
mod hostile_cookies;
mod key_rotation;
mod layer;
mod limits;
mod log_limits;
mod log_secrets;
mod memory_bounds;
mod plain_tower;
mod recent_login;
mod revocation_races;
mod secrets;
mod state_machine;
