//! dh and sh: 256-bucket tables (ip_vs_dh.c, ip_vs_sh.c).
//!
//! Both tables are rebuilt from the list on every add/del/upd (`*_reassign`): dh deals the
//! buckets round robin over the list; sh gives each destination `weight` consecutive
//! buckets before moving on (a weight-0 destination still gets one bucket, since
//! `++d_count >= 0` holds at once), wrapping until all 256 are dealt. dh hashes the
//! destination address, sh the source address (plus the source port with sh-port) with
//! the multiplicative hash of [`super::hash`]. A bucket's destination is unusable when its
//! weight is 0 or it is overloaded; sh-fallback then probes `(ihash + offset) % 256` for
//! offset 0..255, re-hashing with each offset, as `ip_vs_sh_get_fallback`.
//! These are O(1) per decision already, so Scan and Indexed share this code.

use super::dest::{DestId, Dests};
use super::hash::{addr_bucket, sh_bucket};
use super::{Instant, Packet, Policy, RandomSource, SchedFlags};

const BUCKETS: usize = 256;

fn usable(d: &Dests, id: DestId) -> Option<DestId> {
    let st = d.state(id);
    (st.available && st.weight > 0 && !st.overloaded).then_some(id)
}

/// Destination hashing.
#[derive(Debug)]
pub(crate) struct Dh {
    table: Vec<Option<DestId>>,
}

impl Dh {
    pub(crate) fn new() -> Self {
        Dh {
            table: vec![None; BUCKETS],
        }
    }

    fn reassign(&mut self, d: &Dests) {
        let list: Vec<DestId> = d.iter().collect();
        for (i, b) in self.table.iter_mut().enumerate() {
            *b = if list.is_empty() {
                None
            } else {
                Some(list[i % list.len()])
            };
        }
    }
}

impl Policy for Dh {
    fn rebuild(&mut self, _d: &Dests) {}
    fn refresh(&mut self, _d: &Dests, _slot: usize) {}
    fn dests_changed(&mut self, d: &Dests) {
        self.reassign(d);
    }
    fn tracks_load(&self) -> bool {
        false
    }
    fn schedule(
        &mut self,
        d: &Dests,
        _now: Instant,
        pkt: &Packet,
        _rng: &mut dyn RandomSource,
    ) -> Option<DestId> {
        let id = self.table[addr_bucket(pkt.dst_addr, 8)]?;
        usable(d, id)
    }
}

/// Source hashing.
#[derive(Debug)]
pub(crate) struct Sh {
    flags: SchedFlags,
    table: Vec<Option<DestId>>,
}

impl Sh {
    pub(crate) fn new(flags: SchedFlags) -> Self {
        Sh {
            flags,
            table: vec![None; BUCKETS],
        }
    }

    fn reassign(&mut self, d: &Dests) {
        let list: Vec<DestId> = d.iter().collect();
        if list.is_empty() {
            self.table.fill(None);
            return;
        }
        let (mut p, mut count) = (0usize, 0u32);
        for b in self.table.iter_mut() {
            let id = list[p];
            *b = Some(id);
            count += 1;
            if count >= d.state(id).weight {
                p = (p + 1) % list.len();
                count = 0;
            }
        }
    }
}

impl Policy for Sh {
    fn rebuild(&mut self, _d: &Dests) {}
    fn refresh(&mut self, _d: &Dests, _slot: usize) {}
    fn dests_changed(&mut self, d: &Dests) {
        self.reassign(d);
    }
    fn tracks_load(&self) -> bool {
        false
    }
    fn schedule(
        &mut self,
        d: &Dests,
        _now: Instant,
        pkt: &Packet,
        _rng: &mut dyn RandomSource,
    ) -> Option<DestId> {
        let port = if self.flags.port { pkt.src_port } else { 0 };
        let ihash = sh_bucket(pkt.src_addr, port, 0);
        let first = self.table[ihash]?;
        if !self.flags.fallback || usable(d, first).is_some() {
            return usable(d, first);
        }
        for offset in 0..BUCKETS as u32 {
            let roffset = (offset + ihash as u32) % BUCKETS as u32;
            let id = self.table[sh_bucket(pkt.src_addr, port, roffset)]?;
            if let Some(id) = usable(d, id) {
                return Some(id);
            }
        }
        None
    }
}
