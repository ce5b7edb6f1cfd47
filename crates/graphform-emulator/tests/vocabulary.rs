//! Where the emulator's scope vocabulary and the policy's differ, and why.
//!
//! The emulator shares no code with what it tests, so it keeps its own
//! list of system-user scopes (`graphform_emulator::SYSTEM_USER_SCOPES`)
//! beside the policy's (`graphform_spec::scopes`). This test, and only this
//! test, reads both: every difference must be one listed here with its
//! reason, and a new one (a scope added to one list and not the other)
//! fails until it is either mirrored or explained. See issue 11.

use std::collections::BTreeSet;

/// Scopes the policy accepts that the emulator refuses with 3962.
const POLICY_ONLY: &[&str] = &[
    // The four below are capability-gated (graph-api.md §10): Meta grants
    // them only to apps with the `business_creative_asset_management`
    // capability, which comes through an app review. A policy may ask for
    // them (a real app can have the capability); the emulated apps have no
    // capabilities, so the emulator refuses them, which is how a tenant
    // without the capability answers.
    "business_creative_insights",
    "business_creative_insights_share",
    "business_creative_management",
    "business_data_management",
    // These two are gated the same way behind the
    // `commerce_public_api_beta_testing` capability (graph-api.md §10).
    "commerce_account_read_reports",
    "commerce_manage_accounts",
];

/// Scopes the emulator accepts that the policy refuses. None: a policy that
/// validates but cannot be applied is the direction that may differ, never
/// the other.
const EMULATOR_ONLY: &[&str] = &[];

/// Every scope either side knows.
fn known_scopes() -> BTreeSet<&'static str> {
    graphform_spec::scopes::SYSTEM_USER_SCOPES
        .iter()
        .chain(graphform_emulator::SYSTEM_USER_SCOPES.iter())
        .copied()
        .collect()
}

/// Asserts that the scopes `accepts` accepts and `refuses` refuses are
/// exactly `intended`.
#[track_caller]
fn assert_accepted_only_by(
    accepts: fn(&str) -> bool,
    refuses: fn(&str) -> bool,
    intended: &[&str],
    hint: &str,
) {
    let only: BTreeSet<&str> = known_scopes()
        .into_iter()
        .filter(|scope| accepts(scope) && !refuses(scope))
        .collect();
    let intended: BTreeSet<&str> = intended.iter().copied().collect();
    assert_eq!(only, intended, "{hint}");
}

#[test]
fn the_policy_accepts_only_the_capability_gated_scopes_the_emulator_refuses() {
    assert_accepted_only_by(
        graphform_spec::scopes::is_system_user_scope,
        graphform_emulator::is_system_user_scope,
        POLICY_ONLY,
        "the policy accepts scopes the emulator refuses; mirror them in the \
         emulator's vocabulary.rs or list them in POLICY_ONLY with the reason",
    );
}

#[test]
fn the_emulator_accepts_no_scope_the_policy_refuses() {
    assert_accepted_only_by(
        graphform_emulator::is_system_user_scope,
        graphform_spec::scopes::is_system_user_scope,
        EMULATOR_ONLY,
        "the emulator accepts scopes the policy refuses; add them to the \
         policy's scopes.rs or list them in EMULATOR_ONLY with the reason",
    );
}

#[test]
fn each_side_accepts_exactly_its_own_list() {
    // The comparison above goes through the predicates the two sides use;
    // they must agree with the lists the comparison draws its scopes from.
    for scope in known_scopes() {
        assert_eq!(
            graphform_spec::scopes::is_system_user_scope(scope),
            graphform_spec::scopes::SYSTEM_USER_SCOPES.contains(&scope),
            "policy: {scope}"
        );
        assert_eq!(
            graphform_emulator::is_system_user_scope(scope),
            graphform_emulator::SYSTEM_USER_SCOPES.contains(&scope),
            "emulator: {scope}"
        );
    }
}
