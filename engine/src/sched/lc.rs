//! lc, wlc, sed and nq (ip_vs_lc.c, ip_vs_wlc.c, ip_vs_sed.c, ip_vs_nq.c).
//!
//! Kernel facts reproduced by the scans:
//! - lc: skip overloaded or weight 0; least `ip_vs_dest_conn_overhead` (active·256 +
//!   inactive), replaced only when strictly smaller, so ties go to the earlier destination.
//! - wlc: `least` = first non-overloaded destination with weight > 0; then every later
//!   non-overloaded one replaces it iff `loh * dest->weight > doh * least->weight` (s64).
//!   Weight-0 destinations are not skipped in that second loop, but `loh * 0 > doh * w`
//!   never holds, so they never win.
//! - sed: as wlc with overhead = activeconns + 1.
//! - nq: skip overloaded or weight 0; the first destination with activeconns == 0 is
//!   returned at once; otherwise as sed.
//!
//! The indexed variant keeps a tournament whose key reproduces each comparison, ties
//! to the earlier slot: lc the integer overhead ([`IntTree`]); as ratios compared
//! exactly ([`RatioTree`], integer images of cross-multiplication order) wlc
//! `overhead / weight`, sed `(active + 1) / weight`, nq `0 / 1` when idle (every idle
//! server ties, so the earliest wins, and 0 is below any busy ratio) else as sed.

use super::dest::{DestId, Dests, Load};
use super::index::{IntTree, Ratio, RatioTree};
use super::{Instant, Packet, Policy, RandomSource};

/// Which of the four least-connection schedulers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Lc,
    Wlc,
    Sed,
    Nq,
}

/// lc / wlc / sed / nq.
#[derive(Debug)]
pub(crate) struct LeastConn {
    kind: Kind,
    indexed: bool,
    /// wlc, sed, nq: rational keys (compared as exact integer images).
    tree: RatioTree,
    /// lc: integer keys (the overhead), compared exactly without ratios.
    int_tree: IntTree,
}

/// wlc's comparison key for a destination, or `None` if wlc's scan would never pick it
/// (overloaded or weight 0). Shared with lblc/lblcr, whose misses run the same loop.
pub(crate) fn wlc_key(st: &Load) -> Option<Ratio> {
    st.usable().then(|| Ratio {
        num: st.overhead(),
        den: u64::from(st.weight),
    })
}

/// The kernel's wlc loop (`ip_vs_wlc_schedule`, `__ip_vs_lblc_schedule`).
pub(crate) fn wlc_scan(d: &Dests) -> Option<DestId> {
    let mut it = d.iter();
    let mut least = it.by_ref().find(|&id| d.state(id).usable())?;
    let mut loh = d.state(least).overhead();
    for id in it {
        let st = d.state(id);
        if st.overloaded {
            continue;
        }
        let doh = st.overhead();
        if u128::from(loh) * u128::from(st.weight)
            > u128::from(doh) * u128::from(d.state(least).weight)
        {
            least = id;
            loh = doh;
        }
    }
    Some(least)
}

impl LeastConn {
    pub(crate) fn new(kind: Kind, indexed: bool) -> Self {
        LeastConn {
            kind,
            indexed,
            tree: RatioTree::new(16),
            int_tree: IntTree::new(16),
        }
    }

    #[inline(always)]
    fn key(kind: Kind, st: &Load) -> Option<Ratio> {
        if !st.usable() {
            return None;
        }
        let w = u64::from(st.weight);
        let active = u64::from(st.active_conns);
        Some(match kind {
            Kind::Lc => Ratio {
                num: st.overhead(),
                den: 1,
            },
            Kind::Wlc => Ratio {
                num: st.overhead(),
                den: w,
            },
            Kind::Nq if active == 0 => Ratio { num: 0, den: 1 },
            Kind::Sed | Kind::Nq => Ratio {
                num: active + 1,
                den: w,
            },
        })
    }

    /// Sets `slot`'s key in the index, rebuilding it if the key outgrew its width.
    #[inline(always)]
    fn set(&mut self, d: &Dests, slot: usize, k: Option<Ratio>) {
        let fits = if self.kind == Kind::Lc {
            self.int_tree.set(slot, k.map(|k| u128::from(k.num)))
        } else {
            self.tree.set(slot, k)
        };
        if !fits {
            self.rebuild(d);
        }
    }

    fn slot_key(kind: Kind, d: &Dests, slot: usize) -> Option<Ratio> {
        d.at(slot).and_then(|id| Self::key(kind, d.state(id)))
    }

    fn scan(&self, d: &Dests) -> Option<DestId> {
        match self.kind {
            Kind::Lc => {
                let mut least: Option<(DestId, u64)> = None;
                for id in d.iter() {
                    let st = d.state(id);
                    if st.overloaded || st.weight == 0 {
                        continue;
                    }
                    let doh = st.overhead();
                    if least.is_none_or(|(_, loh)| doh < loh) {
                        least = Some((id, doh));
                    }
                }
                least.map(|(id, _)| id)
            }
            Kind::Wlc => wlc_scan(d),
            Kind::Sed => {
                let sed = |st: &Load| u64::from(st.active_conns) + 1;
                let mut it = d.iter();
                let mut least = it.by_ref().find(|&id| d.state(id).usable())?;
                let mut loh = sed(d.state(least));
                for id in it {
                    let st = d.state(id);
                    if st.overloaded {
                        continue;
                    }
                    let doh = sed(st);
                    if u128::from(loh) * u128::from(st.weight)
                        > u128::from(doh) * u128::from(d.state(least).weight)
                    {
                        least = id;
                        loh = doh;
                    }
                }
                Some(least)
            }
            Kind::Nq => {
                let mut least: Option<(DestId, u64)> = None;
                for id in d.iter() {
                    let st = d.state(id);
                    if st.overloaded || st.weight == 0 {
                        continue;
                    }
                    let doh = u64::from(st.active_conns) + 1;
                    if st.active_conns == 0 {
                        return Some(id);
                    }
                    let better = match least {
                        None => true,
                        Some((l, loh)) => {
                            u128::from(loh) * u128::from(st.weight)
                                > u128::from(doh) * u128::from(d.state(l).weight)
                        }
                    };
                    if better {
                        least = Some((id, doh));
                    }
                }
                least.map(|(id, _)| id)
            }
        }
    }
}

impl Policy for LeastConn {
    fn rebuild(&mut self, d: &Dests) {
        if self.indexed {
            let kind = self.kind;
            let key = |s| Self::slot_key(kind, d, s);
            if kind == Kind::Lc {
                self.int_tree
                    .rebuild(d.capacity(), |s| key(s).map(|k| u128::from(k.num)));
            } else {
                self.tree.rebuild(d.capacity(), key);
            }
        }
    }
    fn refresh(&mut self, d: &Dests, slot: usize) {
        if self.indexed {
            let k = Self::slot_key(self.kind, d, slot);
            self.set(d, slot, k);
        }
    }
    #[inline]
    fn load_changed(&mut self, d: &Dests, slot: usize, id: DestId) {
        if self.indexed {
            let k = Self::key(self.kind, d.state(id));
            self.set(d, slot, k);
        }
    }
    fn tracks_load(&self) -> bool {
        self.indexed
    }
    fn schedule(
        &mut self,
        d: &Dests,
        _now: Instant,
        _pkt: &Packet,
        _rng: &mut dyn RandomSource,
    ) -> Option<DestId> {
        if self.indexed {
            let w = if self.kind == Kind::Lc {
                self.int_tree.winner()
            } else {
                self.tree.winner()
            };
            w.and_then(|s| d.at(s))
        } else {
            self.scan(d)
        }
    }
}
