//! The conformance suite: the whole [store contract](crate::store) as checks
//! to run against your own [`SessionStore`] (and [`UserIndex`]).
#![cfg_attr(
    feature = "memory-store",
    doc = r#"
# Example

In a test file of your crate, one test per check (here `MemoryStore` stands
for your store); a check can also be called on its own:

```
# use sessionware::MemoryStore as MyStore;
sessionware::conformance_suite!(async { MyStore::new() });
sessionware::accounts_suite!(async { MyStore::new() });
sessionware::features_suite!(async { MyStore::new() });

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    use sessionware::store::conformance;
    conformance::create_never_overwrites(MyStore::new()).await;
    conformance::login_cycles_and_binds(MyStore::new()).await;
}
```
"#
)]
//!
//! # The suites
//!
//! Every store shipped with sessionware passes them, against its real
//! backend. Each check is a public `async fn check<S: SessionStore>(store: S)`
//! (or `S: UserIndex`) that panics, saying what broke, when the store breaks a
//! clause of the contract; the checks that go through requests drive
//! [`SessionLayer`] over a plain tower service, so the
//! suite needs no web framework. Three macros run them:
//!
//! - [`conformance_suite!`](crate::conformance_suite): the contract's seven
//!   clauses, from [`health_answers_through_the_trait`] to
//!   [`layer_treats_expired_records_as_guests`];
//! - [`accounts_suite!`](crate::accounts_suite), for a store that implements
//!   [`UserIndex`]: listing and revoking a user's sessions at the store, and
//!   login, logout, revocation and the per-user cap through real requests;
//! - [`features_suite!`](crate::features_suite): secret rotation, the absolute
//!   timeout, the header transports, audit events and user-agent binding
//!   through real requests, each proving that what the feature relies on (the
//!   store key, `created_at`, the deadline, the user-agent binding) survives
//!   the store's round trip.
//!
//! A store whose backend expires records by itself (as Redis does) runs
//! `conformance_suite!(make, native_expiry)`, which leaves out
//! [`delete_expired_counts_exactly`]: its `delete_expired` may find nothing
//! left to count.
//!
//! # What the macros need
//!
//! Each macro expands, where it is invoked, to one
//! `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]` per check,
//! named after the check. The expression it is given is evaluated and awaited
//! once per test: it must give a store isolated from every other test (its own
//! key prefix, table or file), as the tests run at the same time. Your crate
//! needs, as dev-dependencies, sessionware with this feature and tokio with
//! `macros` and `rt-multi-thread`:
//!
//! ```toml
//! [dev-dependencies]
//! sessionware = { version = "0.1", features = ["conformance"] }
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! ```
//!
//! [`SessionStore`]: crate::store::SessionStore
//! [`SessionLayer`]: crate::SessionLayer
//! [`UserIndex`]: crate::store::UserIndex

mod accounts;
mod app;
mod contract;
mod features;

pub use self::accounts::{
    a_login_past_the_cap_signs_out_the_oldest_sign_in,
    a_revocation_is_final_while_the_session_changes_id_back_to_back,
    an_identity_switch_clears_the_previous_users_data,
    concurrent_logins_past_the_cap_leave_exactly_the_cap, index_lists_a_users_live_sessions_only,
    login_cycles_and_binds, revocation_deletes_sessions_whatever_their_deadline,
    revoke_all_and_revoke_others_count_exactly, revoke_never_reaches_another_users_session,
    revoked_sessions_are_guests_on_every_instance,
    the_index_holds_only_live_sessions_after_logouts_and_id_changes,
};
use self::contract::{MINUTE, record};
pub use self::contract::{
    a_save_with_a_past_deadline_ends_the_session, concurrent_saves_of_one_version_have_one_winner,
    create_never_overwrites, create_then_load_round_trips, delete_expired_counts_exactly,
    delete_expired_removes_only_expired, delete_reports_whether_it_removed,
    health_answers_through_the_trait, layer_merges_40_concurrent_writers,
    layer_treats_expired_records_as_guests, load_of_an_absent_key_creates_nothing,
    load_returns_expired_records_for_the_layer_to_judge, random_key,
    save_is_conditional_on_the_version, ten_thousand_sessions_are_counted_after_cleanup,
    unicode_keys_and_values_round_trip, values_of_100_kib_round_trip,
};
pub use self::features::{
    a_custom_token_header_carries_the_session_both_ways,
    a_shortened_max_lifetime_ends_existing_sessions, bearer_tokens_work_end_to_end,
    bind_user_agent_ends_sessions_shown_by_another_agent, events_name_sessions_by_handle,
    max_lifetime_ends_active_sessions, rotation_reissues_old_cookies_with_the_same_store_key,
};

/// Runs every check of the store contract (see [`store::conformance`]) as
/// its own test against `$make`, an expression giving a future of a fresh,
/// isolated store (`async { MyStore::new() }`, `make_store()`).
///
/// Add `, native_expiry` for a store whose backend expires records by itself
/// (Redis): its `delete_expired` may find nothing left to count, so
/// [`delete_expired_counts_exactly`] is left out.
///
/// Needs tokio with `macros` and `rt-multi-thread` in the invoking crate.
///
/// [`store::conformance`]: crate::store::conformance
/// [`delete_expired_counts_exactly`]: crate::store::conformance::delete_expired_counts_exactly
#[macro_export]
macro_rules! conformance_suite {
    ($make:expr) => {
        $crate::conformance_suite!($make, native_expiry);
        $crate::conformance_suite!(@tests $make; delete_expired_counts_exactly);
    };
    ($make:expr, native_expiry) => {
        $crate::conformance_suite!(@tests $make;
            health_answers_through_the_trait, create_then_load_round_trips, create_never_overwrites,
            load_of_an_absent_key_creates_nothing, save_is_conditional_on_the_version,
            a_save_with_a_past_deadline_ends_the_session,
            concurrent_saves_of_one_version_have_one_winner, delete_reports_whether_it_removed,
            delete_expired_removes_only_expired, load_returns_expired_records_for_the_layer_to_judge,
            values_of_100_kib_round_trip, unicode_keys_and_values_round_trip,
            ten_thousand_sessions_are_counted_after_cleanup,
            layer_merges_40_concurrent_writers, layer_treats_expired_records_as_guests);
    };
    (@tests $make:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let store = $make.await;
                $crate::store::conformance::$name(store).await;
            }
        )*
    };
}

/// Runs every check of a [`UserIndex`](crate::UserIndex) (see
/// [`store::conformance`]) as its own test against `$make`, an expression
/// giving a future of a fresh, isolated store: listing and revoking at the
/// store, and login, logout, revocation and `max_sessions_per_user` through
/// the layer.
///
/// Needs tokio with `macros` and `rt-multi-thread` in the invoking crate.
///
/// [`store::conformance`]: crate::store::conformance
#[macro_export]
macro_rules! accounts_suite {
    ($make:expr) => {
        $crate::accounts_suite!(@tests $make;
            index_lists_a_users_live_sessions_only, revoke_never_reaches_another_users_session,
            revoke_all_and_revoke_others_count_exactly, login_cycles_and_binds,
            an_identity_switch_clears_the_previous_users_data,
            revoked_sessions_are_guests_on_every_instance,
            a_login_past_the_cap_signs_out_the_oldest_sign_in,
            a_revocation_is_final_while_the_session_changes_id_back_to_back,
            concurrent_logins_past_the_cap_leave_exactly_the_cap,
            the_index_holds_only_live_sessions_after_logouts_and_id_changes,
            revocation_deletes_sessions_whatever_their_deadline);
    };
    (@tests $make:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let store = $make.await;
                $crate::store::conformance::$name(store).await;
            }
        )*
    };
}

/// Runs every check of the layer's features on the store (see
/// [`store::conformance`]) as its own test against `$make`, an expression
/// giving a future of a fresh, isolated store: secret rotation, the absolute
/// timeout, the header transports, audit events and user-agent binding.
///
/// Needs tokio with `macros` and `rt-multi-thread` in the invoking crate.
///
/// [`store::conformance`]: crate::store::conformance
#[macro_export]
macro_rules! features_suite {
    ($make:expr) => {
        $crate::features_suite!(@tests $make;
            rotation_reissues_old_cookies_with_the_same_store_key,
            max_lifetime_ends_active_sessions, a_shortened_max_lifetime_ends_existing_sessions,
            bearer_tokens_work_end_to_end, a_custom_token_header_carries_the_session_both_ways,
            events_name_sessions_by_handle, bind_user_agent_ends_sessions_shown_by_another_agent);
    };
    (@tests $make:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let store = $make.await;
                $crate::store::conformance::$name(store).await;
            }
        )*
    };
}
