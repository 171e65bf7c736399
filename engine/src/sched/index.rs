//! Slot-indexed trees that turn the kernel's O(n) list scans into O(log n) queries.
//!
//! All are complete trees over the destination slots ([`super::dest`]), whose ascending
//! index is the kernel's list order, so "earliest in the list" is "lowest slot".
//!
//! - [`Tournament4`]: a 4-ary minimum tournament; each node holds the winner of its
//!   subtree, key inline, ties to the lower slot. The kernel's lc/wlc/sed/nq/fo/ovf loops
//!   keep the first destination and replace it only by a *strictly* better one, i.e. they
//!   return the earliest minimum of a total preorder; the tournament returns exactly that
//!   element, whatever the tree's shape, because (key, slot) is a total order.
//! - [`IntTree`]: integer keys in a [`Tournament4`] of packed `key << log2(cap) | slot`
//!   nodes, 8 bytes ([`NarrowNode`]) while the keys fit, 16 ([`IntNode`]) otherwise; the
//!   minimum of two nodes is one integer minimum. lc, fo, ovf.
//! - [`RatioTree`]: `load / weight` keys compared as the kernel cross-multiplies them,
//!   stored as exact order-preserving integer images in an [`IntTree`] (wlc, sed, nq, the
//!   lblc/lblcr miss); weights of 2^27 and more fall back to a binary [`Tournament`] of
//!   [`RatioNode`]s, which cross-multiplies.
//! - [`MaxTree`]: "first slot at or after `s` whose value is at least `t`" (rr, wrr).
//! - [`SumTree`]: "first slot whose prefix sum reaches `t`" (twos' weighted picks).

use core::cmp::Ordering;

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

/// A tournament node type: a leaf key plus its slot, and the order between nodes.
///
/// `sbits` is the tree's slot width (log2 of its leaf count): packed integer nodes put
/// the slot in that many low bits, so a smaller tree leaves more bits for the key.
pub(crate) trait TreeNode: Copy {
    /// What a leaf is keyed by.
    type Key: Copy;
    /// A leaf for `slot`; `None` = ineligible (loses to every eligible leaf).
    fn leaf(slot: usize, key: Option<Self::Key>, sbits: u32) -> Self;
    /// The better (smaller key, then lower slot) of two nodes.
    fn better(a: Self, b: Self) -> Self;
    /// The node's slot.
    fn slot(&self, sbits: u32) -> u32;
    /// Whether the node is an eligible leaf's.
    fn eligible(&self, sbits: u32) -> bool;
}

/// A [`Ratio`]-keyed node. The key is kept both exactly (`num / den`) and as the correctly
/// rounded quotient `q`. Rounding is monotone, so `q(a) < q(b)` implies `a < b` exactly;
/// only equal quotients need the exact cross-multiplication. Ineligible leaves hold a
/// sentinel (`q` = +inf).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct RatioNode {
    q: f64,
    num: u64,
    den: u32,
    slot: u32,
}

impl TreeNode for RatioNode {
    type Key = Ratio;

    fn leaf(slot: usize, key: Option<Ratio>, _sbits: u32) -> Self {
        match key {
            Some(k) => {
                // Exact conversions: num < 2^53, den <= i32::MAX.
                debug_assert!(k.num < 1 << 53 && k.den > 0 && k.den <= u64::from(u32::MAX));
                RatioNode {
                    // Via i64: one cvtsi2sd each (num < 2^53, den < 2^32 are exact).
                    q: (k.num as i64) as f64 / (k.den as i64) as f64,
                    num: k.num,
                    den: k.den as u32,
                    slot: slot as u32,
                }
            }
            None => RatioNode {
                q: f64::INFINITY,
                num: u64::MAX,
                den: 1,
                slot: slot as u32,
            },
        }
    }

    #[inline(always)]
    fn better(a: Self, b: Self) -> Self {
        if a.q < b.q {
            return a;
        }
        if b.q < a.q {
            return b;
        }
        let l = u128::from(a.num) * u128::from(b.den);
        let r = u128::from(b.num) * u128::from(a.den);
        if (l < r) | ((l == r) & (a.slot < b.slot)) {
            a
        } else {
            b
        }
    }

    fn slot(&self, _sbits: u32) -> u32 {
        self.slot
    }

    fn eligible(&self, _sbits: u32) -> bool {
        self.q != f64::INFINITY
    }
}

/// An integer-keyed node: `key << 32 | slot` in one `u128`, so (key, slot) order is one
/// branch-free integer minimum. Keys must be below [`IntNode::KEY_LIMIT`] (96 bits; the
/// value itself is the ineligible sentinel).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IntNode(u128);

impl IntNode {
    /// Keys are `< KEY_LIMIT`; `KEY_LIMIT` marks an ineligible leaf.
    pub(crate) const KEY_LIMIT: u128 = (1 << 96) - 1;
}

impl TreeNode for IntNode {
    type Key = u128;

    fn leaf(slot: usize, key: Option<u128>, _sbits: u32) -> Self {
        let k = match key {
            Some(k) => {
                debug_assert!(k < Self::KEY_LIMIT);
                k
            }
            None => Self::KEY_LIMIT,
        };
        IntNode(k << 32 | slot as u128)
    }

    #[inline(always)]
    fn better(a: Self, b: Self) -> Self {
        IntNode(a.0.min(b.0))
    }

    fn slot(&self, _sbits: u32) -> u32 {
        self.0 as u32
    }

    fn eligible(&self, _sbits: u32) -> bool {
        self.0 >> 32 != Self::KEY_LIMIT
    }
}

/// An integer-keyed node in one `u64`: `key << sbits | slot`. Half the size of an
/// [`IntNode`] and a single-instruction minimum, for keys below [`NarrowNode::key_limit`]
/// (that value is the ineligible sentinel).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NarrowNode(u64);

impl NarrowNode {
    /// Keys are `< key_limit(sbits)`; the limit itself marks an ineligible leaf.
    #[inline(always)]
    pub(crate) fn key_limit(sbits: u32) -> u64 {
        u64::MAX >> sbits
    }
}

impl TreeNode for NarrowNode {
    type Key = u64;

    #[inline(always)]
    fn leaf(slot: usize, key: Option<u64>, sbits: u32) -> Self {
        let limit = Self::key_limit(sbits);
        let k = match key {
            Some(k) => {
                debug_assert!(k < limit);
                k
            }
            None => limit,
        };
        debug_assert!((slot as u64) >> sbits == 0);
        NarrowNode(k << sbits | slot as u64)
    }

    #[inline(always)]
    fn better(a: Self, b: Self) -> Self {
        NarrowNode(a.0.min(b.0))
    }

    #[inline(always)]
    fn slot(&self, sbits: u32) -> u32 {
        (self.0 & ((1 << sbits) - 1)) as u32
    }

    fn eligible(&self, sbits: u32) -> bool {
        self.0 >> sbits != Self::key_limit(sbits)
    }
}

/// Minimum tournament tree over slots, binary; `None` keys are ineligible leaves. Used with
/// [`RatioNode`], whose comparison branches: one comparison per level is cheapest there.
#[derive(Clone, Debug)]
pub(crate) struct Tournament<N> {
    cap: usize,
    nodes: Vec<N>,
}

impl<N: TreeNode> Tournament<N> {
    pub(crate) fn new(cap: usize) -> Self {
        let mut t = Tournament {
            cap,
            nodes: Vec::new(),
        };
        t.rebuild(cap, |_| None);
        t
    }

    /// Re-creates the tree for `cap` slots with keys from `key(slot)`. O(cap).
    pub(crate) fn rebuild(&mut self, cap: usize, mut key: impl FnMut(usize) -> Option<N::Key>) {
        assert!(cap.is_power_of_two());
        self.cap = cap;
        self.nodes.clear();
        self.nodes.resize(2 * cap, N::leaf(0, None, 32));
        for s in 0..cap {
            self.nodes[cap + s] = N::leaf(s, key(s), 32);
        }
        for i in (1..cap).rev() {
            self.nodes[i] = N::better(self.nodes[2 * i], self.nodes[2 * i + 1]);
        }
    }

    /// Sets one slot's key. O(log cap), stopping early once a subtree's winner is an
    /// unchanged other leaf (then no ancestor can change).
    pub(crate) fn set(&mut self, slot: usize, key: Option<N::Key>) {
        debug_assert!(slot < self.cap);
        let me = slot as u32;
        let mut i = self.cap + slot;
        let mut cur = N::leaf(slot, key, 32);
        self.nodes[i] = cur;
        while i > 1 {
            let new = N::better(cur, self.nodes[i ^ 1]);
            i /= 2;
            let old = self.nodes[i];
            self.nodes[i] = new;
            if new.slot(32) == old.slot(32) && old.slot(32) != me {
                break;
            }
            cur = new;
        }
    }

    /// The earliest slot holding the minimum key, if any leaf is eligible.
    #[inline]
    pub(crate) fn winner(&self) -> Option<usize> {
        let root = self.nodes[1];
        root.eligible(32).then_some(root.slot(32) as usize)
    }
}

/// Minimum tournament tree over slots, 4-ary; `None` keys are ineligible leaves. Used with
/// [`IntNode`], whose comparison is a branch-free minimum.
///
/// The tree is 4-ary (root at 0, children of `i` at `4i + 1 ..= 4i + 4`): an update walk
/// compares the changed node with the minimum of its three siblings, which does not depend
/// on the changed node, so each level adds one comparison to the walk's dependency chain
/// and there are half as many levels as in a binary tree.
#[derive(Clone, Debug)]
pub(crate) struct Tournament4<N> {
    /// Leaves (a power of 4, at least the slot count).
    cap: usize,
    /// Index of the first leaf: (cap - 1) / 3.
    base: usize,
    /// log2(cap): the slot width of packed nodes.
    sbits: u32,
    nodes: Vec<N>,
}

impl<N: TreeNode> Tournament4<N> {
    pub(crate) fn new(cap: usize) -> Self {
        let mut t = Tournament4 {
            cap: 1,
            base: 0,
            sbits: 0,
            nodes: Vec::new(),
        };
        t.rebuild(cap, |_| None);
        t
    }

    /// The slot width of a tree for `slots` slots: log2 of the next power of 4, at least 2.
    pub(crate) fn slot_bits_for(slots: usize) -> u32 {
        let mut sbits = 2;
        while 1usize << sbits < slots {
            sbits += 2;
        }
        sbits
    }

    /// Re-creates the tree for `slots` slots with keys from `key(slot)`. O(slots).
    pub(crate) fn rebuild(&mut self, slots: usize, mut key: impl FnMut(usize) -> Option<N::Key>) {
        let sbits = Self::slot_bits_for(slots);
        let cap = 1 << sbits;
        self.cap = cap;
        self.sbits = sbits;
        self.base = (cap - 1) / 3;
        self.nodes.clear();
        self.nodes.resize(self.base + cap, N::leaf(0, None, sbits));
        for s in 0..cap {
            let k = if s < slots { key(s) } else { None };
            self.nodes[self.base + s] = N::leaf(s, k, sbits);
        }
        for i in (0..self.base).rev() {
            let c = 4 * i + 1;
            let (a, b) = (
                N::better(self.nodes[c], self.nodes[c + 1]),
                N::better(self.nodes[c + 2], self.nodes[c + 3]),
            );
            self.nodes[i] = N::better(a, b);
        }
    }

    /// Sets one slot's key. O(log4 cap), stopping early once a subtree's winner is an
    /// unchanged other leaf (then no ancestor can change).
    #[inline]
    pub(crate) fn set(&mut self, slot: usize, key: Option<N::Key>) {
        debug_assert!(slot < self.cap);
        let me = slot as u32;
        let sbits = self.sbits;
        let mut i = self.base + slot;
        let mut cur = N::leaf(slot, key, sbits);
        self.nodes[i] = cur;
        while i > 0 {
            let p = (i - 1) / 4;
            let c = 4 * p + 1;
            let k = i - c;
            // The three siblings, in any order: `better` is a total-order minimum.
            let s1 = self.nodes[c + ((k + 1) & 3)];
            let s2 = self.nodes[c + ((k + 2) & 3)];
            let s3 = self.nodes[c + ((k + 3) & 3)];
            let new = N::better(cur, N::better(N::better(s1, s2), s3));
            let old = self.nodes[p];
            self.nodes[p] = new;
            if new.slot(sbits) == old.slot(sbits) && old.slot(sbits) != me {
                break;
            }
            cur = new;
            i = p;
        }
    }

    /// The earliest slot holding the minimum key, if any leaf is eligible.
    #[inline]
    pub(crate) fn winner(&self) -> Option<usize> {
        let root = self.nodes[0];
        root.eligible(self.sbits)
            .then_some(root.slot(self.sbits) as usize)
    }
}

/// A minimum tournament over integer keys below [`IntNode::KEY_LIMIT`], ties to the lower
/// slot, stored as narrowly as the keys allow: [`NarrowNode`]s (8 bytes, one-instruction
/// minimum) while every key fits beside the slot in 64 bits, [`IntNode`]s otherwise.
///
/// The width is chosen at [`Self::rebuild`] from the keys present; a later key too wide
/// for narrow nodes makes [`Self::set`] refuse, and the caller rebuilds (wide). So a tree
/// widens at most once per rebuild, and only narrows again when rebuilt for another
/// reason (relayout, scale change).
#[derive(Clone, Debug)]
pub(crate) struct IntTree {
    narrow: bool,
    n: Tournament4<NarrowNode>,
    w: Tournament4<IntNode>,
}

impl IntTree {
    pub(crate) fn new(cap: usize) -> Self {
        IntTree {
            narrow: true,
            n: Tournament4::new(cap),
            w: Tournament4::new(1),
        }
    }

    /// Re-creates the tree for `slots` slots with keys from `key(slot)`. O(slots). Builds
    /// narrow in one pass; only if some key is too wide for that does it build again, wide
    /// (calling `key` a second time per slot).
    pub(crate) fn rebuild(&mut self, slots: usize, key: impl Fn(usize) -> Option<u128>) {
        let sbits = Tournament4::<NarrowNode>::slot_bits_for(slots);
        let limit = u128::from(NarrowNode::key_limit(sbits));
        let mut fits = true;
        self.n.rebuild(slots, |s| {
            let k = key(s)?;
            fits &= k < limit;
            // A too-wide key's narrow tree is discarded below.
            (k < limit).then_some(k as u64)
        });
        self.narrow = fits;
        if !fits {
            self.w.rebuild(slots, key);
        }
    }

    /// Sets one slot's key, O(log cap). Returns `false`, changing nothing, when the key is
    /// too wide for the current nodes: the caller must then [`Self::rebuild`].
    #[inline]
    #[must_use]
    pub(crate) fn set(&mut self, slot: usize, key: Option<u128>) -> bool {
        if self.narrow {
            match key {
                Some(k) if k >= u128::from(NarrowNode::key_limit(self.n.sbits)) => false,
                _ => {
                    self.n.set(slot, key.map(|k| k as u64));
                    true
                }
            }
        } else {
            self.w.set(slot, key);
            true
        }
    }

    /// The earliest slot holding the minimum key, if any leaf is eligible.
    #[inline]
    pub(crate) fn winner(&self) -> Option<usize> {
        if self.narrow {
            self.n.winner()
        } else {
            self.w.winner()
        }
    }
}

/// Weights (ratio denominators) up to `2^MAX_DEN_BITS - 1` use the integer tree.
const MAX_DEN_BITS: u32 = 27;

/// A minimum tournament over [`Ratio`] keys that compares them as exact integers.
///
/// Every denominator in the tree is below `2^bits`; a ratio `n / d` is stored as its
/// *image* `floor(n * 2^(2 bits) / d)`. The image is exact for ordering: if `a/b < c/e`
/// then `c*b - a*e >= 1`, so `c/e - a/b >= 1/(b e) > 2^-(2 bits)` and the scaled values
/// are more than 1 apart, so their floors differ; equal ratios have equal images. So the
/// earliest minimum of the images is the earliest minimum of the ratios, as the kernel's
/// cross-multiplying loop finds it, and the tree is an [`IntTree`] with its branch-free
/// integer minimum. Numerators (`active * 256 + inactive`) are below 2^41, so with
/// `bits <= 27` an image is below 2^95 and fits [`IntNode`]'s 96-bit key; small loads and
/// weights fit the 8-byte [`NarrowNode`].
///
/// `bits` follows the largest weight seen: a larger one rebuilds the tree (at most once
/// per doubling of the largest weight); a rebuild also lowers it to the current maximum.
/// Weights of 2^27 and above (the kernel allows up to 2^31 - 1) switch to a
/// [`Tournament<RatioNode>`], which cross-multiplies exactly at any size.
#[derive(Clone, Debug)]
pub(crate) struct RatioTree {
    /// Every denominator is `< 2^bits`; `bits > MAX_DEN_BITS` selects `wide`.
    bits: u32,
    int: IntTree,
    wide: Tournament<RatioNode>,
}

impl RatioTree {
    pub(crate) fn new(cap: usize) -> Self {
        RatioTree {
            bits: 1,
            int: IntTree::new(cap),
            wide: Tournament::new(1),
        }
    }

    /// The image of `r` at scale `2^shift` (integer mode only).
    #[inline(always)]
    fn image(r: Ratio, shift: u32) -> u128 {
        debug_assert!(r.num < 1 << 41 && r.den > 0 && u128::from(r.den).pow(2) <= 1 << shift);
        if r.num.leading_zeros() >= shift {
            // One 64-bit division: the common case (small loads and weights).
            u128::from((r.num << shift) / r.den)
        } else {
            (u128::from(r.num) << shift) / u128::from(r.den)
        }
    }

    fn bits_for(den: u64) -> u32 {
        (64 - den.leading_zeros()).max(1)
    }

    /// Re-creates the tree for `cap` slots with keys from `key(slot)`: once per slot to
    /// find the scale, then once more to build (twice if the images need wide nodes). O(cap),
    /// no allocation once the tree has grown.
    pub(crate) fn rebuild(&mut self, cap: usize, key: impl Fn(usize) -> Option<Ratio>) {
        let max_den = (0..cap).filter_map(&key).map(|r| r.den).max().unwrap_or(1);
        self.bits = Self::bits_for(max_den);
        let shift = 2 * self.bits;
        if self.bits <= MAX_DEN_BITS {
            self.int
                .rebuild(cap, |s| key(s).map(|r| Self::image(r, shift)));
        } else {
            self.wide.rebuild(cap, key);
        }
    }

    /// Sets one slot's key, O(log cap). Returns `false`, changing nothing, when the key's
    /// denominator does not fit the current scale or its image the current node width:
    /// the caller must then [`Self::rebuild`].
    #[inline(always)]
    #[must_use]
    pub(crate) fn set(&mut self, slot: usize, key: Option<Ratio>) -> bool {
        if let Some(r) = key {
            if r.den >> self.bits != 0 {
                return false;
            }
        }
        if self.bits <= MAX_DEN_BITS {
            let shift = 2 * self.bits;
            self.int.set(slot, key.map(|r| Self::image(r, shift)))
        } else {
            self.wide.set(slot, key);
            true
        }
    }

    /// The earliest slot holding the minimum ratio, if any leaf is eligible.
    #[inline]
    pub(crate) fn winner(&self) -> Option<usize> {
        if self.bits <= MAX_DEN_BITS {
            self.int.winner()
        } else {
            self.wide.winner()
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
            // Branch-free descent: the direction is a coin flip for the predictor.
            let left = self.sum[2 * i];
            let right = usize::from(left < t);
            t -= left * right as u64;
            i = 2 * i + right;
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

    fn r(n: u64) -> Option<Ratio> {
        Some(Ratio { num: n, den: 1 })
    }

    #[test]
    fn tournament_returns_earliest_minimum() {
        let mut t: Tournament<RatioNode> = Tournament::new(8);
        let keys = [None, r(5), r(3), r(3), None, r(4), r(9), None];
        t.rebuild(8, |s| keys[s]);
        assert_eq!(t.winner(), Some(2));
        t.set(2, r(7));
        assert_eq!(t.winner(), Some(3));
        t.set(3, None);
        assert_eq!(t.winner(), Some(5));
        t.set(0, r(4));
        assert_eq!(t.winner(), Some(0));
        // 8/2 = 4/1: equal ratios, the lower slot (0) keeps it.
        t.set(5, Some(Ratio { num: 8, den: 2 }));
        assert_eq!(t.winner(), Some(0));
        t.set(0, None);
        assert_eq!(t.winner(), Some(5));
        for s in 0..8 {
            t.set(s, None);
        }
        assert_eq!(t.winner(), None);
    }

    #[test]
    fn int_tournament_matches_ratio_tournament_on_integers() {
        let keys = [
            None,
            Some(5u128),
            Some(3),
            Some(3),
            None,
            Some(4),
            Some(9),
            None,
        ];
        let mut a: Tournament4<IntNode> = Tournament4::new(8);
        let mut b: Tournament<RatioNode> = Tournament::new(8);
        a.rebuild(8, |s| keys[s]);
        b.rebuild(8, |s| {
            keys[s].map(|n| Ratio {
                num: n as u64,
                den: 1,
            })
        });
        assert_eq!(a.winner(), Some(2));
        for (slot, k) in [
            (2, Some(9)),
            (3, None),
            (7, Some(4)),
            (5, Some(1)),
            (5, None),
        ] {
            a.set(slot, k);
            b.set(
                slot,
                k.map(|n| Ratio {
                    num: n as u64,
                    den: 1,
                }),
            );
            assert_eq!(a.winner(), b.winner());
        }
        assert_eq!(a.winner(), Some(7));
        for s in 0..8 {
            a.set(s, None);
        }
        assert_eq!(a.winner(), None);
    }

    /// The earliest minimum by the kernel's cross-multiplication, by brute force.
    fn earliest_min(keys: &[Option<Ratio>]) -> Option<usize> {
        let mut best: Option<usize> = None;
        for (s, k) in keys.iter().enumerate() {
            if let Some(k) = k {
                if best.is_none_or(|b| *k < keys[b].unwrap()) {
                    best = Some(s);
                }
            }
        }
        best
    }

    #[test]
    fn ratio_tree_is_exact_across_scales() {
        // Denominators from 1 to i32::MAX: the integer images (small and 128-bit
        // divisions), scale growth, the cross-multiplying fallback and the way back.
        let dens = [
            1u64,
            2,
            3,
            7,
            20,
            1 << 11,
            65_535,
            (1 << 26) + 3,
            1 << 27,
            i32::MAX as u64,
        ];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..40 {
            let cap = 16 << (round % 3);
            let mut keys: Vec<Option<Ratio>> = vec![None; cap];
            let mut t = RatioTree::new(cap);
            let top = 1 + round % dens.len();
            for step in 0..2_000 {
                let slot = next() as usize % cap;
                let key = (next() % 5 != 0).then(|| {
                    let den = dens[next() as usize % top];
                    // Small numerators make ties and near-ties; large ones reach 2^41.
                    let num = match next() % 3 {
                        0 => next() % 64,
                        1 => next() % 8 * den,
                        _ => next() % (1 << 41),
                    };
                    Ratio { num, den }
                });
                keys[slot] = key;
                if !t.set(slot, key) {
                    t.rebuild(cap, |s| keys[s]);
                }
                if step % 500 == 0 {
                    t.rebuild(cap, |s| keys[s]);
                }
                assert_eq!(t.winner(), earliest_min(&keys), "round {round} step {step}");
            }
        }
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
