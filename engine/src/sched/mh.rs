//! mh: Maglev hashing (ip_vs_mh.c).
//!
//! Kernel facts reproduced:
//! - Each destination's permutation: `offset = hsiphash(addr+port, hash1) % M`,
//!   `skip = hsiphash(addr+port, hash2) % (M - 1) + 1`, with the fixed keys of
//!   `generate_hash_secret` (exact 64-bit-kernel hash, see [`super::hash`]).
//! - Weights: `turns = ((last_weight / gcd) >> rshift) ?: (last_weight != 0)`, with gcd of
//!   the positive `last_weight`s and `rshift = max(0, fls(max_weight / gcd) - MH_TAB_BITS)`.
//!   `last_weight` is the latest non-zero weight, so quiescing (weight 0) does not move
//!   table entries; the quiesced destination is only skipped at lookup.
//! - Populate: rounds over the list in list order; each destination with turns >= 1 claims
//!   `turns` entries per round, each at the next free position of its permutation.
//! - Every add/del/upd rebuilds the table (O(M)); with more destinations than entries the
//!   kernel refuses (-EINVAL) and the table stays as it was; with no positive weight it is
//!   emptied.
//! - Lookup: `hsiphash(src + port, hash1) % M`; an unavailable entry (weight 0 or
//!   overloaded) gives no destination, or with mh-fallback the probe sequence
//!   `roffset = (offset + ihash) % M` re-hashed with that offset, stopping at an empty entry.
//! - `MH_TAB_BITS` is half the kernel's `CONFIG_IP_VS_MH_TAB_INDEX` (12 for 4093 → 6). For
//!   a size that is not one of the kernel's primes, the index of the next kernel size up
//!   is used (capped at 17).

use super::dest::{DestId, Dests, NONE};
use super::hash::{mh_hash, MH_KEY1, MH_KEY2};
use super::{Instant, Packet, Policy, RandomSource, SchedError, SchedFlags};

/// The kernel's default table size (CONFIG_IP_VS_MH_TAB_INDEX = 12).
pub(crate) const DEFAULT_TABLE_SIZE: u32 = 4093;

/// The table sizes the kernel offers, for CONFIG_IP_VS_MH_TAB_INDEX 8 ..= 17.
const KERNEL_PRIMES: [u32; 10] = [
    251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071,
];

fn is_prime(n: u32) -> bool {
    if n < 2 {
        return false;
    }
    let mut i = 2u64;
    while i * i <= u64::from(n) {
        if u64::from(n) % i == 0 {
            return false;
        }
        i += 1;
    }
    true
}

/// `fls`: the 1-based index of the highest set bit, 0 for 0.
fn fls(x: u64) -> u32 {
    64 - x.leading_zeros()
}

/// Maglev hashing.
#[derive(Debug)]
pub(crate) struct Mh {
    size: u32,
    tab_bits: u32,
    flags: SchedFlags,
    table: Vec<u32>,
}

impl Mh {
    pub(crate) fn new(size: u32, flags: SchedFlags) -> Result<Self, SchedError> {
        if !is_prime(size) {
            return Err(SchedError::TableSizeNotPrime(size));
        }
        let index = 8 + KERNEL_PRIMES
            .iter()
            .take_while(|&&p| p < size)
            .count()
            .min(9) as u32;
        Ok(Mh {
            size,
            tab_bits: index / 2,
            flags,
            table: vec![NONE; size as usize],
        })
    }

    /// The lookup table, entry by entry.
    pub(crate) fn entries(&self) -> Vec<Option<DestId>> {
        self.table
            .iter()
            .map(|&e| (e != NONE).then_some(DestId(e)))
            .collect()
    }

    /// `ip_vs_mh_dest_changed`: gcd, rshift, permutation and populate.
    fn reassign(&mut self, d: &Dests) {
        let m = self.size as usize;
        if d.live > m {
            return;
        }
        let list: Vec<DestId> = d.iter().collect();
        let mut gcd = 0u64;
        let mut max = 0u64;
        for &id in &list {
            let w = u64::from(d.cold(id).last_weight);
            if w > 0 {
                gcd = if gcd > 0 { gcd_u64(w, gcd) } else { w };
            }
            max = max.max(w);
        }
        if gcd < 1 {
            self.table.fill(NONE);
            return;
        }
        let rshift = fls(max / gcd).saturating_sub(self.tab_bits);
        struct Setup {
            perm: usize,
            skip: usize,
            turns: u64,
        }
        let mut setup: Vec<Setup> = list
            .iter()
            .map(|&id| {
                let st = d.cold(id);
                let offset = mh_hash(st.addr, st.port, &MH_KEY1, 0) as usize % m;
                let skip = mh_hash(st.addr, st.port, &MH_KEY2, 0) as usize % (m - 1) + 1;
                let lw = u64::from(st.last_weight);
                let t = (lw / gcd) >> rshift;
                let turns = if t != 0 { t } else { u64::from(lw != 0) };
                Setup {
                    perm: offset,
                    skip,
                    turns,
                }
            })
            .collect();
        let mut taken = vec![false; m];
        let mut n = 0usize;
        let mut dt_count = 0u64;
        // Each round fills at least one entry (some turns >= 1), so at most m rounds.
        'fill: for _round in 0..m {
            let mut i = 0;
            while i < list.len() {
                let ds = &mut setup[i];
                if ds.turns < 1 {
                    i += 1;
                    continue;
                }
                let mut c = ds.perm;
                while taken[c] {
                    ds.perm += ds.skip;
                    if ds.perm >= m {
                        ds.perm -= m;
                    }
                    c = ds.perm;
                }
                taken[c] = true;
                self.table[c] = list[i].0;
                n += 1;
                if n == m {
                    break 'fill;
                }
                dt_count += 1;
                if dt_count >= ds.turns {
                    dt_count = 0;
                    i += 1;
                }
            }
        }
        assert_eq!(n, m, "mh populate fills every entry");
    }

    fn usable(d: &Dests, e: u32) -> Option<DestId> {
        let st = d.state(DestId(e));
        (st.weight > 0 && !st.overloaded).then_some(DestId(e))
    }
}

fn gcd_u64(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Policy for Mh {
    fn rebuild(&mut self, _d: &Dests) {}
    fn refresh(&mut self, _d: &Dests, _slot: usize) {}
    fn dests_changed(&mut self, d: &Dests) {
        self.reassign(d);
    }
    fn tracks_load(&self) -> bool {
        false
    }
    fn mh_table(&self) -> Option<Vec<Option<DestId>>> {
        Some(self.entries())
    }
    fn schedule(
        &mut self,
        d: &Dests,
        _now: Instant,
        pkt: &Packet,
        _rng: &mut dyn RandomSource,
    ) -> Option<DestId> {
        let port = if self.flags.port { pkt.src_port } else { 0 };
        let m = self.size;
        let ihash = mh_hash(pkt.src_addr, port, &MH_KEY1, 0) % m;
        let e = self.table[ihash as usize];
        if e == NONE {
            return None;
        }
        if let Some(id) = Self::usable(d, e) {
            return Some(id);
        }
        if !self.flags.fallback {
            return None;
        }
        for offset in 0..m {
            let roffset = ((u64::from(offset) + u64::from(ihash)) % u64::from(m)) as u32;
            let e = self.table[(mh_hash(pkt.src_addr, port, &MH_KEY1, roffset) % m) as usize];
            if e == NONE {
                break;
            }
            if let Some(id) = Self::usable(d, e) {
                return Some(id);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_table_bits() {
        assert_eq!(Mh::new(4093, SchedFlags::default()).unwrap().tab_bits, 6);
        assert_eq!(Mh::new(251, SchedFlags::default()).unwrap().tab_bits, 4);
        assert_eq!(Mh::new(131071, SchedFlags::default()).unwrap().tab_bits, 8);
        assert_eq!(Mh::new(65537, SchedFlags::default()).unwrap().tab_bits, 8);
        assert!(Mh::new(4096, SchedFlags::default()).is_err());
        assert!(Mh::new(1, SchedFlags::default()).is_err());
    }
}
