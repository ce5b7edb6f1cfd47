//! `renamed_from` (as Terraform's `moved`): the planner sees the state as
//! it will be once the renames are made — the system user under its new
//! name, its records and tokens under the new address — and plans a
//! `rename` for each system user and a `move` for each stored token whose
//! record moves. Nothing is revoked or issued for a rename: the rest of the
//! plan is what the policy asks of the renamed objects.
//!
//! A rename interrupted after some records moved is planned again from
//! where it stopped: a record already at the new address stays; a copy
//! left at the old one is forgotten (see `Planner::removed_tokens`).

use std::collections::BTreeMap;

use graphform_spec::Spec;
use graphform_types::{SystemUserAddress, TokenAddress};

use crate::state::State;

/// What the renames of a policy do to the state, before any is made.
#[derive(Default)]
pub(super) struct Renames {
    /// System users to rename: new address → (old address, Meta ID, and
    /// whether Meta still lists the old name).
    pub(super) users: BTreeMap<SystemUserAddress, (SystemUserAddress, String, bool)>,
    /// Token records to move: new address → address in the store.
    pub(super) tokens: BTreeMap<TokenAddress, TokenAddress>,
}

/// The state as the planner sees it once `spec`'s renames are made, and
/// the renames that get it there. Without a rename to make, `None`.
pub(super) fn view(spec: &Spec, state: &State) -> Option<(State, Renames)> {
    // Most policies rename nothing: no copy of the state for them.
    let renames_any = |user: &graphform_spec::SystemUser| {
        user.renamed_from.is_some() || user.tokens.iter().any(|t| t.renamed_from.is_some())
    };
    if !spec
        .businesses
        .iter()
        .any(|b| b.system_users.iter().any(renames_any))
    {
        return None;
    }
    let mut renames = Renames::default();
    let mut view = state.clone();
    for business in &spec.businesses {
        for user in &business.system_users {
            let new = SystemUserAddress::new(&business.name, &user.name);
            if let Some(old_name) = &user.renamed_from {
                let old = SystemUserAddress::new(&business.name, old_name);
                rename_user(&mut view, &mut renames, &old, &new);
            }
            for token in &user.tokens {
                let Some(old_name) = &token.renamed_from else {
                    continue;
                };
                let to = TokenAddress::new(&business.name, &user.name, &token.name);
                let from = TokenAddress::new(&business.name, &user.name, old_name);
                move_token(&mut view, &mut renames, &from, &to);
            }
        }
    }
    let renamed = !renames.users.is_empty() || !renames.tokens.is_empty();
    renamed.then_some((view, renames))
}

/// Renames `old` to `new` in the view when Meta's system user under the
/// old name (or the one recorded for it) is there to rename, and nothing
/// is recorded for the new name yet.
fn rename_user(
    view: &mut State,
    renames: &mut Renames,
    old: &SystemUserAddress,
    new: &SystemUserAddress,
) {
    if view.document.system_users.contains_key(new) {
        return;
    }
    let recorded = view.document.system_users.get(old).cloned();
    let Some(listed) = view.businesses.get_mut(old.business()) else {
        return;
    };
    let users = &mut listed.system_users;
    let candidates: Vec<usize> = (0..users.len())
        .filter(|&i| match &recorded {
            Some(id) => users[i].id == *id,
            None => users[i].name == old.name(),
        })
        .collect();
    let [index] = candidates.as_slice() else {
        return;
    };
    let user = &mut users[*index];
    if user.name != old.name() && user.name != new.name() {
        // Renamed to something else outside graphform: not this rename.
        return;
    }
    if users
        .iter()
        .any(|u| u.name == new.name() && u.id != users[*index].id)
    {
        // Another system user already has the new name.
        return;
    }
    let user = &mut users[*index];
    let still_old = user.name == old.name();
    new.name().clone_into(&mut user.name);
    let id = user.id.clone();
    let document = &mut view.document;
    document.system_users.remove(old);
    document.system_users.insert(new.clone(), id.clone());
    let installs: Vec<_> = document
        .installs
        .keys()
        .filter(|install| install.system_user() == old)
        .cloned()
        .collect();
    for install in installs {
        if let Some(record) = document.installs.remove(&install) {
            document.installs.insert(new.install(install.app()), record);
        }
    }
    let tokens: Vec<TokenAddress> = view
        .tokens
        .keys()
        .filter(|token| token.system_user() == old)
        .cloned()
        .collect();
    for token in tokens {
        let to = TokenAddress::new(new.business(), new.name(), token.name());
        move_token(view, renames, &token, &to);
    }
    renames
        .users
        .insert(new.clone(), (old.clone(), id, still_old));
}

/// Moves the record at `from` to `to` in the view, unless `to` has one.
/// `from` may itself be a view address of a record moved already (a token
/// renamed within a renamed system user): the move names the store's.
fn move_token(view: &mut State, renames: &mut Renames, from: &TokenAddress, to: &TokenAddress) {
    if view.tokens.contains_key(to) {
        return;
    }
    let Some(record) = view.tokens.remove(from) else {
        return;
    };
    view.tokens.insert(to.clone(), record);
    if let Some(at) = view.document.retiring.remove(from) {
        view.document.retiring.insert(to.clone(), at);
    }
    let stored = renames.tokens.remove(from).unwrap_or_else(|| from.clone());
    renames.tokens.insert(to.clone(), stored);
}

/// Where the next apply's renames take the records stored at `stored`:
/// new address → address in the store, for `graphform status` (which
/// reads the store and the state document, not Meta's listing). The moves
/// are `view`'s: a system user's rename takes each of its records to the
/// same token name under the new name unless one is there (and not when
/// the new name already has a recorded system user), then a token's
/// rename takes its record to the new name unless one is there.
pub(crate) fn stored_moves<'a>(
    spec: &Spec,
    stored: impl IntoIterator<Item = &'a TokenAddress>,
    recorded_users: &BTreeMap<SystemUserAddress, String>,
) -> BTreeMap<TokenAddress, TokenAddress> {
    // Address once the renames are made → address in the store.
    let mut view: BTreeMap<TokenAddress, TokenAddress> =
        stored.into_iter().map(|a| (a.clone(), a.clone())).collect();
    let relocate = |view: &mut BTreeMap<TokenAddress, TokenAddress>,
                    from: &TokenAddress,
                    to: &TokenAddress| {
        if view.contains_key(to) {
            return;
        }
        if let Some(at) = view.remove(from) {
            view.insert(to.clone(), at);
        }
    };
    for business in &spec.businesses {
        for user in &business.system_users {
            let new = SystemUserAddress::new(&business.name, &user.name);
            if let Some(old_name) = &user.renamed_from {
                let old = SystemUserAddress::new(&business.name, old_name);
                if !recorded_users.contains_key(&new) {
                    let moving: Vec<TokenAddress> = view
                        .keys()
                        .filter(|token| token.system_user() == &old)
                        .cloned()
                        .collect();
                    for token in moving {
                        relocate(&mut view, &token, &new.token(token.name()));
                    }
                }
            }
            for token in &user.tokens {
                if let Some(old_name) = &token.renamed_from {
                    relocate(&mut view, &new.token(old_name), &new.token(&token.name));
                }
            }
        }
    }
    view.into_iter().filter(|(to, from)| to != from).collect()
}
