//! Slot-indexed trees that turn the kernel's O(n) list scans into O(log n) queries.
//!
//! All three are complete binary trees over the destination slots ([`super::dest`]), whose
//! ascending index is the kernel's list order, so "earliest in the list" is "lowest slot".
//!
//! - [`Tournament`]: each node holds the winner of its subtree under a key order, ties to
//!   the lower slot. The kernel's lc/wlc/sed/nq/fo/ovf loops keep the first destination
//!   and replace it only by a *strictly* better one, i.e. they return the earliest minimum
//!   of a total preorder; the tournament returns exactly that element, whatever the
//!   tree's shape, because (key, slot) is a total order.
//! - [`MaxTree`]: "first slot at or after `s` whose value is at least `t`" (rr, wrr).
//! - [`SumTree`]: "first slot whose prefix sum reaches `t`" (twos' weighted picks).

use core::cmp::Ordering;

use super::dest::NONE;

/// A load per weight, compared by cross-multiplication as the kernel does
/// (`loh * dest->weight > doh * least->weight`), never by division.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ratio {
    pub(crate) num: u64,
    pub(crate) den: u64,
}

impl Ord for Ratio {
    fn cmp(&self, other: &Self) -> Ordering {
        let l = u128::from(self.num) * u128::from(other.den);
        let r = u128::from(other.num) * u128::from(self.den);
        l.cmp(&r)
    }
}
impl PartialOrd for Ratio {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Ratio {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Ratio {}

/// Minimum-key tournament tree; `None` keys are ineligible leaves.
#[derive(Clone, Debug)]
pub(crate) struct Tournament<K> {
    cap: usize,
    keys: Vec<Option<K>>,
    win: Vec<u32>,
}

impl<K: Ord + Copy> Tournament<K> {
    pub(crate) fn new(cap: usize) -> Self {
        assert!(cap.is_power_of_two());
        Tournament {
            cap,
            keys: vec![None; cap],
            win: vec![NONE; 2 * cap],
        }
    }

    #[inline]
    fn better(&self, a: u32, b: u32) -> u32 {
        if a == NONE {
            return b;
        }
        if b == NONE {
            return a;
        }
        // Both eligible: keys are Some.
        let (ka, kb) = (&self.keys[a as usize], &self.keys[b as usize]);
        match ka.cmp(kb) {
            Ordering::Less => a,
            Ordering::Greater => b,
            Ordering::Equal => a.min(b),
        }
    }

    /// Re-creates the tree for `cap` slots with keys from `key(slot)`. O(cap).
    pub(crate) fn rebuild(&mut self, cap: usize, mut key: impl FnMut(usize) -> Option<K>) {
        assert!(cap.is_power_of_two());
        self.cap = cap;
        self.keys.clear();
        self.keys.extend((0..cap).map(&mut key));
        self.win.clear();
        self.win.resize(2 * cap, NONE);
        for s in 0..cap {
            if self.keys[s].is_some() {
                self.win[cap + s] = s as u32;
            }
        }
        for i in (1..cap).rev() {
            self.win[i] = self.better(self.win[2 * i], self.win[2 * i + 1]);
        }
    }

    /// Sets one slot's key. O(log cap), stopping early once a subtree's winner is an
    /// unchanged other leaf (then no ancestor can change).
    pub(crate) fn set(&mut self, slot: usize, key: Option<K>) {
        debug_assert!(slot < self.cap);
        self.keys[slot] = key;
        let me = slot as u32;
        let mut i = self.cap + slot;
        self.win[i] = if key.is_some() { me } else { NONE };
        i /= 2;
        while i >= 1 {
            let old = self.win[i];
            let new = self.better(self.win[2 * i], self.win[2 * i + 1]);
            self.win[i] = new;
            if new == old && old != me {
                break;
            }
            i /= 2;
        }
    }

    /// The earliest slot holding the minimum key.
    #[inline]
    pub(crate) fn winner(&self) -> Option<usize> {
        match self.win[1] {
            NONE => None,
            s => Some(s as usize),
        }
    }
}

/// Max tree answering "first slot >= from with value >= t".
#[derive(Clone, Debug)]
pub(crate) struct MaxTree {
    cap: usize,
    max: Vec<u32>,
}

impl MaxTree {
    pub(crate) fn new(cap: usize) -> Self {
        assert!(cap.is_power_of_two());
        MaxTree {
            cap,
            max: vec![0; 2 * cap],
        }
    }

    pub(crate) fn rebuild(&mut self, cap: usize, mut value: impl FnMut(usize) -> u32) {
        assert!(cap.is_power_of_two());
        self.cap = cap;
        self.max.clear();
        self.max.resize(2 * cap, 0);
        for s in 0..cap {
            self.max[cap + s] = value(s);
        }
        for i in (1..cap).rev() {
            self.max[i] = self.max[2 * i].max(self.max[2 * i + 1]);
        }
    }

    pub(crate) fn set(&mut self, slot: usize, v: u32) {
        let mut i = self.cap + slot;
        self.max[i] = v;
        i /= 2;
        while i >= 1 {
            let m = self.max[2 * i].max(self.max[2 * i + 1]);
            if self.max[i] == m {
                break;
            }
            self.max[i] = m;
            i /= 2;
        }
    }

    pub(crate) fn value(&self, slot: usize) -> u32 {
        self.max[self.cap + slot]
    }

    /// The lowest slot `>= from` whose value is `>= t` (t >= 1).
    pub(crate) fn first_at_least(&self, from: usize, t: u32) -> Option<usize> {
        debug_assert!(t >= 1);
        if from >= self.cap {
            return None;
        }
        // Walk up from the leaf `from`, looking at right siblings, then descend.
        let mut i = self.cap + from;
        if self.max[i] >= t {
            return Some(from);
        }
        loop {
            // Move to the next subtree to the right at this level.
            while i & 1 == 1 {
                i /= 2;
                if i == 0 {
                    return None;
                }
            }
            i += 1; // right sibling
            if self.max[i] >= t {
                break;
            }
        }
        while i < self.cap {
            i = if self.max[2 * i] >= t {
                2 * i
            } else {
                2 * i + 1
            };
        }
        Some(i - self.cap)
    }
}

/// Sum tree answering "first slot whose inclusive prefix sum reaches t".
#[derive(Clone, Debug)]
pub(crate) struct SumTree {
    cap: usize,
    sum: Vec<u64>,
}

impl SumTree {
    pub(crate) fn new(cap: usize) -> Self {
        assert!(cap.is_power_of_two());
        SumTree {
            cap,
            sum: vec![0; 2 * cap],
        }
    }

    pub(crate) fn rebuild(&mut self, cap: usize, mut value: impl FnMut(usize) -> u64) {
        assert!(cap.is_power_of_two());
        self.cap = cap;
        self.sum.clear();
        self.sum.resize(2 * cap, 0);
        for s in 0..cap {
            self.sum[cap + s] = value(s);
        }
        for i in (1..cap).rev() {
            self.sum[i] = self.sum[2 * i] + self.sum[2 * i + 1];
        }
    }

    pub(crate) fn set(&mut self, slot: usize, v: u64) {
        let mut i = self.cap + slot;
        let old = self.sum[i];
        if old == v {
            return;
        }
        while i >= 1 {
            self.sum[i] = self.sum[i] - old + v;
            i /= 2;
        }
    }

    pub(crate) fn total(&self) -> u64 {
        self.sum[1]
    }

    /// The lowest slot whose inclusive prefix sum is `>= t`, for `1 <= t <= total`.
    pub(crate) fn find(&self, mut t: u64) -> Option<usize> {
        if t == 0 || t > self.total() {
            return None;
        }
        let mut i = 1;
        while i < self.cap {
            if self.sum[2 * i] >= t {
                i *= 2;
            } else {
                t -= self.sum[2 * i];
                i = 2 * i + 1;
            }
        }
        Some(i - self.cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_compares_like_cross_multiplication() {
        let a = Ratio { num: 512, den: 2 }; // 256
        let b = Ratio { num: 768, den: 3 }; // 256
        let c = Ratio { num: 257, den: 1 };
        assert_eq!(a, b);
        assert!(a < c);
        assert!(c > b);
    }

    #[test]
    fn tournament_returns_earliest_minimum() {
        let mut t: Tournament<u32> = Tournament::new(8);
        t.rebuild(8, |s| {
            [
                None,
                Some(5),
                Some(3),
                Some(3),
                None,
                Some(4),
                Some(9),
                None,
            ][s]
        });
        assert_eq!(t.winner(), Some(2));
        t.set(2, Some(7));
        assert_eq!(t.winner(), Some(3));
        t.set(3, None);
        assert_eq!(t.winner(), Some(5));
        t.set(0, Some(4));
        assert_eq!(t.winner(), Some(0));
        for s in 0..8 {
            t.set(s, None);
        }
        assert_eq!(t.winner(), None);
    }

    #[test]
    fn max_tree_finds_first_at_least() {
        let mut m = MaxTree::new(8);
        m.rebuild(8, |s| [0, 3, 0, 1, 5, 0, 2, 0][s]);
        assert_eq!(m.first_at_least(0, 1), Some(1));
        assert_eq!(m.first_at_least(2, 1), Some(3));
        assert_eq!(m.first_at_least(2, 4), Some(4));
        assert_eq!(m.first_at_least(5, 3), None);
        assert_eq!(m.first_at_least(5, 2), Some(6));
        m.set(4, 0);
        assert_eq!(m.first_at_least(0, 4), None);
        assert_eq!(m.first_at_least(7, 1), None);
    }

    #[test]
    fn sum_tree_finds_prefix() {
        let mut t = SumTree::new(4);
        t.rebuild(4, |s| [2, 0, 3, 1][s]);
        assert_eq!(t.total(), 6);
        assert_eq!(t.find(1), Some(0));
        assert_eq!(t.find(2), Some(0));
        assert_eq!(t.find(3), Some(2));
        assert_eq!(t.find(5), Some(2));
        assert_eq!(t.find(6), Some(3));
        assert_eq!(t.find(7), None);
        t.set(0, 0);
        assert_eq!(t.find(1), Some(2));
    }
}
