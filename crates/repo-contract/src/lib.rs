//! `repo-contract`: the contract tests of the [`DomainRepo`] and [`KeyStore`] ports,
//! written once and run against every store adapter (dev-only, never published).
//!
//! A key design decision made in this crate is that it holds the cases and their list,
//! not the harness: each case is a plain `pub async fn` over the ports, and
//! [`contract_tests!`] expands the one list into a `#[tokio::test]` per case inside each
//! adapter's test binary, given that adapter's [`Backend`]. A case added here runs against
//! every adapter; no adapter can leave one out. Where a case must look under the port —
//! the security case reads every stored byte — it goes through [`Backend`] hooks, which
//! take SQL that both dialects accept.

mod backend;
mod cases;
pub mod fixtures;
pub mod pg;

pub use backend::{Backend, Cell, Store};
pub use cases::concurrency::{
    concurrent_claimers_never_share_a_domain, concurrent_rotations_let_exactly_one_win,
};
pub use cases::crud::{
    a_row_that_does_not_decode_is_internal, any_text_is_stored_and_a_nul_comes_back_escaped,
    delete_removes_keys_checks_and_events, events_come_newest_first_in_pages,
    events_of_a_failed_write_are_not_stored, generations_of_every_algorithm_and_mode_come_back,
    insert_then_get_returns_the_same_domain, list_filters_match_the_scope_rule,
    list_pages_are_stable_under_inserts, names_are_unique_per_owner, page_limits_at_the_edges,
    sealed_keys_come_back_by_selector, update_bumps_the_version_and_stores_the_aggregate,
    zone_domains_are_those_with_a_live_cname_key,
};
pub use cases::leases::{
    a_live_lease_is_kept_and_an_expired_one_is_reclaimed, release_gives_the_lease_back,
    update_releases_only_the_holders_lease,
};
pub use cases::outage::{a_closed_store_is_unavailable, an_unreachable_store_is_unavailable};
pub use cases::pool::{
    concurrent_takers_get_each_pooled_key_once, pooled_keys_come_out_once_oldest_first_by_kind,
};
pub use cases::scope::{find_sendable_returns_own_then_shared, scopes_hide_what_they_may_not_see};
pub use cases::security::{
    a_sealed_key_copied_to_another_row_does_not_open, no_private_key_material_is_stored_in_clear,
};

pub use cases::webhooks::{
    a_disabled_endpoint_notifies_the_others, deliveries_are_leased_retried_and_logged,
    no_webhook_secret_is_stored_in_clear, webhook_endpoints_are_scoped_to_their_owner,
    webhooks_are_queued_with_the_domain_write,
};

#[doc(hidden)]
pub use tokio as __tokio;

/// Expands into one `#[tokio::test]` per contract case, each on a fresh store of
/// `$backend` (a type implementing [`Backend`]). Call it once at the top level of an
/// adapter's integration-test binary. `contract_tests!(ports $store)` expands only the
/// cases that go through the ports, for a [`Store`] without a database under it (the
/// core's in-memory fake).
#[macro_export]
macro_rules! contract_tests {
    ($backend:ty) => {
        $crate::contract_tests!(ports $backend);
        // Cases that look under the ports.
        $crate::contract_tests!(@each $backend, |store| (&store);
            delete_removes_keys_checks_and_events,
            a_row_that_does_not_decode_is_internal,
            no_private_key_material_is_stored_in_clear,
            a_sealed_key_copied_to_another_row_does_not_open,
            a_closed_store_is_unavailable,
            webhook_endpoints_are_scoped_to_their_owner,
            webhooks_are_queued_with_the_domain_write,
            deliveries_are_leased_retried_and_logged,
            a_disabled_endpoint_notifies_the_others,
            no_webhook_secret_is_stored_in_clear,
        );
        #[$crate::__tokio::test(flavor = "multi_thread", worker_threads = 2, crate = "repo_contract::__tokio")]
        async fn an_unreachable_store_is_unavailable() {
            let (repo, keys) = <$backend as $crate::Backend>::unreachable().await;
            $crate::an_unreachable_store_is_unavailable(repo, keys).await;
        }
    };
    (ports $backend:ty) => {
        // Cases that need only the repository.
        $crate::contract_tests!(@each $backend, |store| ($crate::Store::repo(&store));
            insert_then_get_returns_the_same_domain,
            list_pages_are_stable_under_inserts,
            page_limits_at_the_edges,
            list_filters_match_the_scope_rule,
            update_bumps_the_version_and_stores_the_aggregate,
            events_come_newest_first_in_pages,
            events_of_a_failed_write_are_not_stored,
            any_text_is_stored_and_a_nul_comes_back_escaped,
            names_are_unique_per_owner,
            scopes_hide_what_they_may_not_see,
            find_sendable_returns_own_then_shared,
            concurrent_rotations_let_exactly_one_win,
            concurrent_claimers_never_share_a_domain,
            a_live_lease_is_kept_and_an_expired_one_is_reclaimed,
            release_gives_the_lease_back,
            update_releases_only_the_holders_lease,
            zone_domains_are_those_with_a_live_cname_key,
        );
        // Cases that need the repository and the key store.
        $crate::contract_tests!(@each $backend,
            |store| ($crate::Store::repo(&store), &*$crate::Store::key_store(&store));
            sealed_keys_come_back_by_selector,
            generations_of_every_algorithm_and_mode_come_back,
        );
        // Cases of the key pool.
        $crate::contract_tests!(@each $backend, |store| ($crate::Store::key_pool(&store));
            pooled_keys_come_out_once_oldest_first_by_kind,
            concurrent_takers_get_each_pooled_key_once,
        );
    };
    // One test per case, each on a fresh store bound to `$store`, calling the case with
    // `$args`.
    (@each $backend:ty, |$store:ident| $args:tt; $($case:ident),* $(,)?) => {$(
        #[$crate::__tokio::test(flavor = "multi_thread", worker_threads = 2, crate = "repo_contract::__tokio")]
        async fn $case() {
            let $store = <$backend as $crate::Store>::fresh().await;
            $crate::$case $args.await;
        }
    )*};
}
