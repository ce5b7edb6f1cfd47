//! A saved plan file is a review record, not a program: apply goes ahead
//! only if the plan computed under the lease makes exactly its changes,
//! before it expires.

use graphform_types::Timestamp;

use crate::plan::{Change, Plan};

use super::ApplyError;

/// Refuses a saved plan that is not what the plan computed under the lease
/// would do. The file is a review record, not a program: only its
/// agreement with the fresh plan lets apply go ahead, and what runs is the
/// fresh plan.
pub fn check_saved(saved: &Plan, fresh: &Plan, now: Timestamp) -> Result<(), ApplyError> {
    if let Some(valid_until) = saved.valid_until.filter(|until| now >= *until) {
        return Err(ApplyError::PlanExpired(valid_until));
    }
    if saved.policy_hash != fresh.policy_hash {
        return Err(ApplyError::PolicyChanged);
    }
    // Nothing left to do for the policy the plan was made from: the plan
    // was applied already (a re-run deploy job), or another apply made its
    // changes. Applying nothing is what the reviewed plan asks now.
    if fresh.changes.is_empty() {
        return Ok(());
    }
    // The reason is prose (it can say "expires in 12d"); everything else
    // of a change must be the same, in the same order.
    let key = |c: &Change| {
        (
            c.address.clone(),
            c.action,
            c.system_user_id.clone(),
            c.drift.clone(),
            c.before.clone(),
            c.after.clone(),
        )
    };
    let old: Vec<_> = saved.changes.iter().map(key).collect();
    let new: Vec<_> = fresh.changes.iter().map(key).collect();
    if old == new {
        return Ok(());
    }
    let mut addresses: Vec<String> = old
        .iter()
        .filter(|c| !new.contains(c))
        .chain(new.iter().filter(|c| !old.contains(c)))
        .map(|c| c.0.to_string())
        .collect();
    addresses.sort();
    addresses.dedup();
    if addresses.is_empty() {
        addresses.push("(the same changes, in another order)".to_owned());
    }
    Err(ApplyError::PlanDiffers(addresses))
}
