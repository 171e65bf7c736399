//! twos: power of two choices (ip_vs_twos.c).
//!
//! The kernel sums the weights of non-overloaded destinations with weight > 0, draws
//! `rweight1 = get_random_u32() % (total + 1)` then `rweight2` the same way, walks the list
//! subtracting each eligible weight and takes, for each draw, the first destination where
//! the remainder drops to <= 0. It returns choice2 iff `weight2 * overhead1 >
//! weight1 * overhead2`, computed in the kernel's 32-bit `int` (wrapping here, as the
//! kernel's two's-complement code does). Given the same two random numbers this module
//! decides the same. Indexed: a [`SumTree`] of eligible weights finds both picks in
//! O(log n) ("first slot whose prefix sum reaches max(r, 1)").

use super::dest::{DestId, Dests, Load};
use super::index::SumTree;
use super::{Instant, Packet, Policy, RandomSource};

/// Weighted random twos choice.
#[derive(Debug)]
pub(crate) struct Twos {
    indexed: bool,
    weights: SumTree,
}

/// `ip_vs_dest_conn_overhead` as the kernel's `int`.
fn overhead_i32(st: &Load) -> i32 {
    (st.active_conns as i32)
        .wrapping_shl(8)
        .wrapping_add(st.inactive_conns as i32)
}

fn eligible_weight(st: &Load) -> u64 {
    if st.usable() {
        u64::from(st.weight)
    } else {
        0
    }
}

impl Twos {
    pub(crate) fn new(indexed: bool) -> Self {
        Twos {
            indexed,
            weights: SumTree::new(16),
        }
    }

    fn decide(d: &Dests, c1: DestId, c2: DestId) -> DestId {
        let (s1, s2) = (d.state(c1), d.state(c2));
        let (w1, w2) = (s1.weight as i32, s2.weight as i32);
        if w2.wrapping_mul(overhead_i32(s1)) > w1.wrapping_mul(overhead_i32(s2)) {
            c2
        } else {
            c1
        }
    }

    fn scan(d: &Dests, rng: &mut dyn RandomSource) -> Option<DestId> {
        let mut total: u64 = 0;
        let mut any = false;
        for id in d.iter() {
            let st = d.state(id);
            if st.usable() {
                total += u64::from(st.weight);
                any = true;
            }
        }
        if !any {
            return None;
        }
        total += 1;
        let mut r1 = (u64::from(rng.next_random_u32()) % total) as i64;
        let mut r2 = (u64::from(rng.next_random_u32()) % total) as i64;
        let (mut c1, mut c2) = (None, None);
        for id in d.iter() {
            let st = d.state(id);
            if !st.usable() {
                continue;
            }
            r1 -= i64::from(st.weight);
            r2 -= i64::from(st.weight);
            if r1 <= 0 && c1.is_none() {
                c1 = Some(id);
            }
            if r2 <= 0 && c2.is_none() {
                c2 = Some(id);
            }
            if c1.is_some() && c2.is_some() {
                break;
            }
        }
        let (c1, c2) = (c1.expect("r1 < total"), c2.expect("r2 < total"));
        Some(Self::decide(d, c1, c2))
    }

    fn lookup(&self, d: &Dests, rng: &mut dyn RandomSource) -> Option<DestId> {
        let sum = self.weights.total();
        if sum == 0 {
            return None;
        }
        let total = sum + 1;
        let r1 = u64::from(rng.next_random_u32()) % total;
        let r2 = u64::from(rng.next_random_u32()) % total;
        let pick = |r: u64| {
            let slot = self.weights.find(r.max(1)).expect("1 <= r <= sum");
            d.at(slot).expect("weighted slot holds a destination")
        };
        Some(Self::decide(d, pick(r1), pick(r2)))
    }
}

impl Policy for Twos {
    fn rebuild(&mut self, d: &Dests) {
        if self.indexed {
            self.weights.rebuild(d.capacity(), |s| {
                d.at(s).map_or(0, |id| eligible_weight(d.state(id)))
            });
        }
    }
    fn refresh(&mut self, d: &Dests, slot: usize) {
        if self.indexed {
            let v = d.at(slot).map_or(0, |id| eligible_weight(d.state(id)));
            self.weights.set(slot, v);
        }
    }
    fn tracks_load(&self) -> bool {
        false
    }
    fn schedule(
        &mut self,
        d: &Dests,
        _now: Instant,
        _pkt: &Packet,
        rng: &mut dyn RandomSource,
    ) -> Option<DestId> {
        if self.indexed {
            self.lookup(d, rng)
        } else {
            Self::scan(d, rng)
        }
    }
}
