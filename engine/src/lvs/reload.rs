//! Reload: from the old and new virtual server specs, which nannies keep running (and keep
//! their health state), which only change weight, which start and which stop.
//!
//! The IPVS side of a reload needs nothing here: `desired_table(new, states)` reconciled
//! against the kernel re-applies changed schedulers and persistence with `SET_SERVICE` and
//! removes what the new config dropped.

use std::collections::BTreeMap;

use super::{active_virtuals, RealId, VirtualSpec};
use crate::nanny::NannyConfig;

/// Every nanny the specs call for: one per active real server of each active virtual server.
pub fn nanny_configs(specs: &[VirtualSpec]) -> BTreeMap<RealId, NannyConfig> {
    let mut out = BTreeMap::new();
    for virt in active_virtuals(specs) {
        for real in virt.active_servers() {
            out.insert(virt.real_id(real), virt.nanny_config(real));
        }
    }
    out
}

/// What to do with the nannies on reload. Apply `stop` first, then `start` (an identity may be
/// in both when its check changed: its health starts over).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReloadPlan {
    /// Same identity, same check, same weight: leave alone.
    pub keep: Vec<RealId>,
    /// Same identity and check, new weight: `Nanny::handle_set_weight`, health kept.
    pub reweight: Vec<(RealId, u32)>,
    /// New nannies to create.
    pub start: Vec<(RealId, NannyConfig)>,
    /// Nannies to drop.
    pub stop: Vec<RealId>,
}

impl ReloadPlan {
    /// Nothing changes for any nanny.
    pub fn is_noop(&self) -> bool {
        self.reweight.is_empty() && self.start.is_empty() && self.stop.is_empty()
    }
}

/// The nanny changes from `old` to `new` specs (all lists in [`RealId`] order).
pub fn reload_plan(old: &[VirtualSpec], new: &[VirtualSpec]) -> ReloadPlan {
    let before = nanny_configs(old);
    let after = nanny_configs(new);
    let mut plan = ReloadPlan::default();
    for (id, was) in &before {
        match after.get(id) {
            Some(now) if now == was => plan.keep.push(*id),
            Some(now) if now.same_check(was) => plan.reweight.push((*id, now.weight)),
            _ => plan.stop.push(*id),
        }
    }
    for (id, now) in &after {
        match before.get(id) {
            Some(was) if was.same_check(now) => {}
            _ => plan.start.push((*id, now.clone())),
        }
    }
    plan
}
