//! fo and ovf (ip_vs_fo.c, ip_vs_ovf.c).
//!
//! - fo: the first non-overloaded destination with the highest weight (`weight > hw`,
//!   hw starting at 0, so weight 0 never wins; ties to the earlier one).
//! - ovf: skip overloaded, weight 0, or `activeconns > weight` (so activeconns == weight
//!   still qualifies); the first destination with the highest weight (`!h || w > hw`).
//!
//! Indexed: an [`IntTree`](super::index::IntTree) keyed by the integer `u32::MAX - weight` (smaller for
//! heavier), ties to the earlier slot.

use super::dest::{DestId, Dests, Load};
use super::index::IntTree;
use super::{Instant, Packet, Policy, RandomSource};

/// fo or ovf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Fo,
    Ovf,
}

/// Weighted failover / weighted overflow.
#[derive(Debug)]
pub(crate) struct Heaviest {
    kind: Kind,
    indexed: bool,
    tree: IntTree,
}

impl Heaviest {
    pub(crate) fn new(kind: Kind, indexed: bool) -> Self {
        Heaviest {
            kind,
            indexed,
            tree: IntTree::new(16),
        }
    }

    fn eligible(&self, st: &Load) -> bool {
        match self.kind {
            Kind::Fo => st.usable(),
            Kind::Ovf => st.usable() && st.active_conns <= st.weight,
        }
    }

    fn slot_key(&self, d: &Dests, slot: usize) -> Option<u128> {
        let id = d.at(slot)?;
        let st = d.state(id);
        self.eligible(st)
            .then_some(u128::from(u32::MAX - st.weight))
    }

    fn scan(&self, d: &Dests) -> Option<DestId> {
        let mut best: Option<(DestId, u32)> = None;
        for id in d.iter() {
            let st = d.state(id);
            match self.kind {
                Kind::Fo => {
                    let hw = best.map_or(0, |(_, w)| w);
                    if !st.overloaded && st.weight > hw {
                        best = Some((id, st.weight));
                    }
                }
                Kind::Ovf => {
                    let w = st.weight;
                    if st.overloaded || st.active_conns > w || w == 0 {
                        continue;
                    }
                    if best.is_none_or(|(_, hw)| w > hw) {
                        best = Some((id, w));
                    }
                }
            }
        }
        best.map(|(id, _)| id)
    }
}

impl Policy for Heaviest {
    fn rebuild(&mut self, d: &Dests) {
        if self.indexed {
            let keys: Vec<_> = (0..d.capacity()).map(|s| self.slot_key(d, s)).collect();
            self.tree.rebuild(d.capacity(), |s| keys[s]);
            debug_assert!(keys.iter().flatten().all(|&k| k < 1 << 32));
        }
    }
    fn refresh(&mut self, d: &Dests, slot: usize) {
        if self.indexed {
            let k = self.slot_key(d, slot);
            if !self.tree.set(slot, k) {
                // Only with 2^32 slots or more: 32-bit keys fit narrow nodes below that.
                self.rebuild(d);
            }
        }
    }
    fn tracks_load(&self) -> bool {
        self.indexed && self.kind == Kind::Ovf
    }
    fn schedule(
        &mut self,
        d: &Dests,
        _now: Instant,
        _pkt: &Packet,
        _rng: &mut dyn RandomSource,
    ) -> Option<DestId> {
        if self.indexed {
            self.tree.winner().and_then(|s| d.at(s))
        } else {
            self.scan(d)
        }
    }
}
