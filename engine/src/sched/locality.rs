//! lblc and lblcr: locality-based least connections (ip_vs_lblc.c, ip_vs_lblcr.c).
//!
//! Both map the packet's *destination* address to a cached server (lblc) or server set
//! (lblcr). Kernel facts reproduced:
//! - A miss runs the wlc loop (`__ip_vs_lblc_schedule`) and caches its choice.
//! - `is_overloaded(dest)`: `dest->activeconns > dest->weight` and some destination in the
//!   list has `activeconns * 2 < weight` (the overload *flag* is not consulted there).
//! - lblc hit: the cached server is used iff available, weight > 0 and not `is_overloaded`;
//!   otherwise wlc picks anew and the entry is repointed. `lastuse` is refreshed on every hit.
//! - lblcr hit: `ip_vs_dest_set_min` (first available non-overloaded weight>0 member, then
//!   strictly lower `overhead/weight` among later available non-overloaded members). If the
//!   set has more than one member and `now` is after `lastmod + expiration`, the
//!   `ip_vs_dest_set_max` member (weight > 0, most loaded, earliest on ties) is dropped —
//!   after the min was taken, as in the kernel. If the min is missing or `is_overloaded`,
//!   wlc picks and the pick joins the set at its head (lastmod = now) unless already there.
//!
//! Time: entries are treated as gone once `now >= lastuse + expiration` (the sysctl,
//! default 24 h); the kernel's 60 s garbage-collection timer granularity is not modelled.
//! When the cache exceeds the kernel's `max_size` (16 × 1024 entries), entries idle for
//! `ENTRY_TIMEOUT` (6 min) are swept, as the kernel's timer does.
//! Indexed: the wlc miss is a lazily updated [`RatioTree`](super::index::RatioTree) lookup and the "some
//! destination is underloaded" test an O(1) counter. lblcr's server sets are scanned in
//! both variants, as the kernel does; they only shrink after `expiration` without change,
//! so under steady load they can grow towards the whole list.

use core::hash::{BuildHasherDefault, Hasher};
use core::net::IpAddr;
use std::collections::hash_map::Entry;
use std::collections::HashMap;

use smallvec::{smallvec, SmallVec};

use super::dest::{DestId, Dests};
use super::index::RatioTree;
use super::lc::{wlc_key, wlc_scan};
use super::{Duration, Instant, Packet, Policy, RandomSource};

/// The kernel's `max_size`: IP_VS_LBLC_TAB_SIZE * 16.
const MAX_ENTRIES: usize = 1024 * 16;
/// The kernel's `ENTRY_TIMEOUT` for the over-size sweep.
const ENTRY_TIMEOUT: Duration = Duration::from_secs(6 * 60);

/// A fixed, seedless hasher (folded 64x64->128 multiplies, as in wyhash/foldhash) so no
/// global randomness enters the engine. Keys here are addresses: `write_u128` mixes one in
/// two dependent multiplies, and the folding spreads entropy to the low bits (hashbrown's
/// bucket index) and the high ones (its control bytes) alike.
#[derive(Default)]
pub(crate) struct FixedHasher(u64);

const MIX: [u64; 3] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
];

#[inline(always)]
fn folded_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ (p >> 64) as u64
}

impl Hasher for FixedHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }
    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = folded_mul(self.0 ^ n ^ MIX[0], MIX[1]);
    }
    #[inline]
    fn write_u128(&mut self, n: u128) {
        let h = folded_mul(self.0 ^ n as u64 ^ MIX[0], MIX[1]);
        self.0 = folded_mul(h ^ (n >> 64) as u64, MIX[2]);
    }
}

/// An address as one integer map key (IPv4 as its IPv4-mapped IPv6 form): cheaper to hash
/// than `IpAddr`'s derived `Hash`.
pub(crate) fn addr_key(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
        IpAddr::V6(a) => u128::from(a),
    }
}

type Map<V> = HashMap<u128, V, BuildHasherDefault<FixedHasher>>;

/// The shared miss path: wlc, scanned or indexed, plus the underloaded test.
///
/// Misses are rare next to connection events, so the indexed wlc tree is updated lazily:
/// events only set their slot's bit in a dirty bitmap (one OR, coalescing repeated events
/// on one server) and a miss applies the dirty slots first, in slot order — or rebuilds
/// the tree when more than half are dirty.
#[derive(Debug)]
struct Miss {
    indexed: bool,
    tree: RatioTree,
    /// Bit `s % 64` of word `s / 64`: slot `s` changed since the tree last saw it.
    dirty: Vec<u64>,
    /// Bit `w % 64` of word `w / 64`: `dirty[w]` may be non-zero.
    summary: Vec<u64>,
    /// Set bits in `dirty`.
    count: usize,
}

impl Miss {
    fn new(indexed: bool) -> Self {
        Miss {
            indexed,
            tree: RatioTree::new(16),
            dirty: vec![0; 1],
            summary: vec![0; 1],
            count: 0,
        }
    }
    fn rebuild(&mut self, d: &Dests) {
        if self.indexed {
            self.tree.rebuild(d.capacity(), |s| {
                d.at(s).and_then(|id| wlc_key(d.state(id)))
            });
            let words = d.capacity().div_ceil(64);
            self.dirty.clear();
            self.dirty.resize(words, 0);
            self.summary.clear();
            self.summary.resize(words.div_ceil(64), 0);
            self.count = 0;
        }
    }
    #[inline]
    fn refresh(&mut self, _d: &Dests, slot: usize) {
        if self.indexed {
            let (w, bit) = (slot / 64, 1u64 << (slot % 64));
            self.count += usize::from(self.dirty[w] & bit == 0);
            self.dirty[w] |= bit;
            self.summary[w / 64] |= 1 << (w % 64);
        }
    }
    fn wlc(&mut self, d: &Dests) -> Option<DestId> {
        if !self.indexed {
            return wlc_scan(d);
        }
        if self.count > d.capacity() / 2 {
            self.rebuild(d);
        } else {
            let mut fits = true;
            for (j, sum) in self.summary.iter_mut().enumerate() {
                while *sum != 0 {
                    let w = j * 64 + sum.trailing_zeros() as usize;
                    *sum &= *sum - 1;
                    let word = &mut self.dirty[w];
                    while *word != 0 {
                        let slot = w * 64 + word.trailing_zeros() as usize;
                        *word &= *word - 1;
                        fits &= self
                            .tree
                            .set(slot, d.at(slot).and_then(|id| wlc_key(d.state(id))));
                    }
                }
            }
            self.count = 0;
            if !fits {
                self.rebuild(d);
            }
        }
        self.tree.winner().and_then(|s| d.at(s))
    }
    /// The kernel's `is_overloaded(dest, svc)`.
    fn is_overloaded(&self, d: &Dests, id: DestId) -> bool {
        let st = d.state(id);
        if st.active_conns <= st.weight {
            return false;
        }
        if self.indexed {
            d.underloaded > 0
        } else {
            d.iter().any(|o| d.state(o).underloaded())
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct LblcEntry {
    dest: DestId,
    lastuse: Instant,
}

fn expired(lastuse: Instant, expiration: Duration, now: Instant) -> bool {
    lastuse.checked_add(expiration).is_some_and(|t| now >= t)
}

/// Sweeps idle entries once the cache passes the kernel's size limit.
fn sweep<V>(map: &mut Map<V>, now: Instant, lastuse: impl Fn(&V) -> Instant, next: &mut usize) {
    if map.len() > MAX_ENTRIES && map.len() >= *next {
        map.retain(|_, v| !expired(lastuse(v), ENTRY_TIMEOUT, now));
        *next = (map.len() * 2).max(MAX_ENTRIES);
    }
}

/// Locality-based least connections.
#[derive(Debug)]
pub(crate) struct Lblc {
    expiration: Duration,
    miss: Miss,
    cache: Map<LblcEntry>,
    next_sweep: usize,
}

impl Lblc {
    pub(crate) fn new(expiration: Duration, indexed: bool) -> Self {
        Lblc {
            expiration,
            miss: Miss::new(indexed),
            cache: Map::default(),
            next_sweep: MAX_ENTRIES,
        }
    }
}

impl Policy for Lblc {
    fn rebuild(&mut self, d: &Dests) {
        self.miss.rebuild(d);
    }
    fn refresh(&mut self, d: &Dests, slot: usize) {
        self.miss.refresh(d, slot);
    }
    fn schedule(
        &mut self,
        d: &Dests,
        now: Instant,
        pkt: &Packet,
        _rng: &mut dyn RandomSource,
    ) -> Option<DestId> {
        let key = addr_key(pkt.dst_addr);
        let exp = self.expiration;
        // One probe: a live entry is used or re-pointed in place; an idle one (the kernel
        // has freed it) is replaced, or removed when no server is left.
        let dest = match self.cache.entry(key) {
            Entry::Occupied(mut o) => {
                let en = o.get_mut();
                if expired(en.lastuse, exp, now) {
                    let Some(dest) = self.miss.wlc(d) else {
                        o.remove();
                        return None;
                    };
                    *en = LblcEntry { dest, lastuse: now };
                    dest
                } else {
                    en.lastuse = now;
                    let st = d.state(en.dest);
                    if st.available && st.weight > 0 && !self.miss.is_overloaded(d, en.dest) {
                        return Some(en.dest);
                    }
                    en.dest = self.miss.wlc(d)?;
                    en.dest
                }
            }
            Entry::Vacant(v) => {
                let dest = self.miss.wlc(d)?;
                v.insert(LblcEntry { dest, lastuse: now });
                dest
            }
        };
        sweep(&mut self.cache, now, |e| e.lastuse, &mut self.next_sweep);
        Some(dest)
    }
}

#[derive(Clone, Debug)]
struct LblcrEntry {
    /// Head first, as `list_add_rcu` builds it.
    set: SmallVec<[DestId; 4]>,
    lastmod: Instant,
    lastuse: Instant,
}

/// `ip_vs_dest_set_min`.
fn set_min(d: &Dests, set: &[DestId]) -> Option<DestId> {
    let ok = |id: DestId| {
        let st = d.state(id);
        !st.overloaded && st.weight > 0 && st.available
    };
    let start = set.iter().position(|&id| ok(id))?;
    let mut least = set[start];
    let mut loh = d.state(least).overhead();
    for &id in &set[start + 1..] {
        let st = d.state(id);
        if st.overloaded {
            continue;
        }
        let doh = st.overhead();
        if u128::from(loh) * u128::from(st.weight)
            > u128::from(doh) * u128::from(d.state(least).weight)
            && st.available
        {
            least = id;
            loh = doh;
        }
    }
    Some(least)
}

/// `ip_vs_dest_set_max`.
fn set_max(d: &Dests, set: &[DestId]) -> Option<DestId> {
    let start = set.iter().position(|&id| d.state(id).weight > 0)?;
    let mut most = set[start];
    let mut moh = d.state(most).overhead();
    for &id in &set[start + 1..] {
        let st = d.state(id);
        let doh = st.overhead();
        if u128::from(moh) * u128::from(st.weight)
            < u128::from(doh) * u128::from(d.state(most).weight)
            && st.weight > 0
        {
            most = id;
            moh = doh;
        }
    }
    Some(most)
}

/// Locality-based least connections with replication.
#[derive(Debug)]
pub(crate) struct Lblcr {
    expiration: Duration,
    miss: Miss,
    cache: Map<LblcrEntry>,
    next_sweep: usize,
}

impl Lblcr {
    pub(crate) fn new(expiration: Duration, indexed: bool) -> Self {
        Lblcr {
            expiration,
            miss: Miss::new(indexed),
            cache: Map::default(),
            next_sweep: MAX_ENTRIES,
        }
    }
}

impl Policy for Lblcr {
    fn rebuild(&mut self, d: &Dests) {
        self.miss.rebuild(d);
    }
    fn refresh(&mut self, d: &Dests, slot: usize) {
        self.miss.refresh(d, slot);
    }
    fn schedule(
        &mut self,
        d: &Dests,
        now: Instant,
        pkt: &Packet,
        _rng: &mut dyn RandomSource,
    ) -> Option<DestId> {
        let key = addr_key(pkt.dst_addr);
        let exp = self.expiration;
        // An idle entry is the kernel's freed one: the miss path below replaces it (or
        // removes it when no server is left), as if it had never been found.
        if let Some(en) = self
            .cache
            .get_mut(&key)
            .filter(|e| !expired(e.lastuse, exp, now))
        {
            en.lastuse = now;
            let dest = set_min(d, &en.set);
            let stale = en.lastmod.checked_add(exp).is_some_and(|t| now > t);
            if en.set.len() > 1 && stale {
                if let Some(m) = set_max(d, &en.set) {
                    en.set.retain(|x| *x != m);
                    en.lastmod = now;
                }
            }
            if let Some(dest) = dest {
                if !self.miss.is_overloaded(d, dest) {
                    return Some(dest);
                }
            }
            let dest = self.miss.wlc(d)?;
            if !en.set.contains(&dest) {
                en.set.insert(0, dest);
                en.lastmod = now;
            }
            return Some(dest);
        }
        let Some(dest) = self.miss.wlc(d) else {
            self.cache.remove(&key);
            return None;
        };
        self.cache.insert(
            key,
            LblcrEntry {
                set: smallvec![dest],
                lastmod: now,
                lastuse: now,
            },
        );
        sweep(&mut self.cache, now, |e| e.lastuse, &mut self.next_sweep);
        Some(dest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::dest::DestSpec;
    use core::net::Ipv4Addr;

    /// The lazily updated miss tree against the kernel's wlc loop on a list large enough
    /// for a multi-word dirty summary (more than 4096 slots).
    #[test]
    fn lazy_miss_tree_matches_wlc_scan_on_large_lists() {
        let mut d = Dests::new(true);
        let mut miss = Miss::new(true);
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut ids = Vec::new();
        for i in 0..5_000u32 {
            let spec = DestSpec {
                addr: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)),
                port: 80,
                weight: 1 + (next() % 20) as u32,
            };
            let (id, relaid) = d.add(spec);
            if relaid {
                miss.rebuild(&d);
            } else {
                miss.refresh(&d, d.slot(id).unwrap());
            }
            ids.push(id);
        }
        assert!(d.capacity() > 64 * 64, "{}", d.capacity());
        miss.rebuild(&d);
        for round in 0..300 {
            // A burst of connection events on random servers, then a miss.
            for _ in 0..(next() % 200) {
                let id = ids[next() as usize % ids.len()];
                let open = next() % 2 == 0;
                let (slot, ()) = d
                    .update(id, |st| {
                        if open {
                            st.active_conns += 1;
                        } else if st.active_conns > 0 {
                            st.active_conns -= 1;
                        } else {
                            st.inactive_conns += 1;
                        }
                    })
                    .unwrap();
                miss.refresh(&d, slot.unwrap());
            }
            assert_eq!(miss.wlc(&d), wlc_scan(&d), "round {round}");
        }
    }
}
