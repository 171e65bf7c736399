//! rr and wrr (ip_vs_rr.c, ip_vs_wrr.c).
//!
//! rr keeps a cursor (`svc->sched_data`, a list position, initially the head) and returns
//! the first destination after it, wrapping once, that is not overloaded and has weight > 0;
//! the cursor moves to it. `del_dest` moves a cursor on the removed destination to the one
//! before it. rr has no `add_dest`/`upd_dest` hooks.
//!
//! wrr keeps `cl` (cursor), `cw` (current weight), `mw` (max weight − (gcd − 1)) and `di`
//! (gcd of positive weights); every add/del/upd resets `cl` to the head and adjusts `cw`
//! (`ip_vs_wrr_dest_changed`). The schedule loop, with its `last_pass`/`restarted`/`stop`
//! bookkeeping, is reproduced step by step. The indexed variants replace "walk to the next
//! destination with weight >= cw" by a [`MaxTree`] query.

use super::dest::{DestId, Dests};
use super::index::MaxTree;
use super::{Instant, Packet, Policy, RandomSource};

/// Round robin.
#[derive(Debug)]
pub(crate) struct Rr {
    indexed: bool,
    cursor: Option<DestId>,
    usable: MaxTree,
}

impl Rr {
    pub(crate) fn new(indexed: bool) -> Self {
        Rr {
            indexed,
            cursor: None,
            usable: MaxTree::new(16),
        }
    }

    fn scan(&self, d: &Dests) -> Option<DestId> {
        let after = self.cursor.and_then(|c| d.slot(c));
        let first: Box<dyn Iterator<Item = DestId>> = match after {
            Some(s) => Box::new(d.iter_after(s)),
            None => Box::new(d.iter()),
        };
        for id in first {
            if d.state(id).usable() {
                return Some(id);
            }
        }
        let last = self.cursor?;
        for id in d.iter() {
            if d.state(id).usable() {
                return Some(id);
            }
            if id == last {
                break;
            }
        }
        None
    }

    fn lookup(&self, d: &Dests) -> Option<DestId> {
        let from = self.cursor.and_then(|c| d.slot(c)).map_or(0, |s| s + 1);
        let slot = self
            .usable
            .first_at_least(from, 1)
            .or_else(|| self.cursor.and_then(|_| self.usable.first_at_least(0, 1)))?;
        d.at(slot)
    }
}

impl Policy for Rr {
    fn rebuild(&mut self, d: &Dests) {
        if self.indexed {
            self.usable.rebuild(d.capacity(), |s| {
                d.at(s).map_or(0, |id| u32::from(d.state(id).usable()))
            });
        }
    }
    fn refresh(&mut self, d: &Dests, slot: usize) {
        if self.indexed {
            let v = d.at(slot).map_or(0, |id| u32::from(d.state(id).usable()));
            self.usable.set(slot, v);
        }
    }
    fn dest_removed(&mut self, _d: &Dests, id: DestId, prev: Option<DestId>) {
        if self.cursor == Some(id) {
            self.cursor = prev;
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
        _rng: &mut dyn RandomSource,
    ) -> Option<DestId> {
        let hit = if self.indexed {
            self.lookup(d)
        } else {
            self.scan(d)
        }?;
        self.cursor = Some(hit);
        Some(hit)
    }
}

/// Weighted round robin.
#[derive(Debug)]
pub(crate) struct Wrr {
    indexed: bool,
    cl: Option<DestId>,
    cw: i64,
    mw: i64,
    di: i64,
    /// Weight if not overloaded, else 0.
    weights: MaxTree,
}

fn gcd(mut a: i64, mut b: i64) -> i64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Wrr {
    pub(crate) fn new(indexed: bool) -> Self {
        Wrr {
            indexed,
            cl: None,
            cw: 0,
            mw: 0,
            di: 1,
            weights: MaxTree::new(16),
        }
    }

    /// `ip_vs_wrr_dest_changed` (and, with cw = 0, `ip_vs_wrr_init_svc`).
    fn dest_changed(&mut self, d: &Dests) {
        let mut g = 0i64;
        let mut max = 0i64;
        for id in d.iter() {
            let w = i64::from(d.state(id).weight);
            if w > 0 {
                g = if g > 0 { gcd(w, g) } else { w };
            }
            max = max.max(w);
        }
        self.cl = None;
        self.di = if g > 0 { g } else { 1 };
        self.mw = max - (self.di - 1);
        if self.cw > self.mw || self.cw == 0 {
            self.cw = self.mw;
        } else if self.di > 1 {
            self.cw = (self.cw / self.di) * self.di + 1;
        }
    }

    /// The next slot after `pos` (head = None) holding a non-overloaded destination with
    /// weight >= cw, and whether `stop` came first.
    fn next(&self, d: &Dests, pos: Option<usize>, stop: Option<usize>) -> Walk {
        if self.indexed {
            let from = pos.map_or(0, |p| p + 1);
            let found = self.weights.first_at_least(from, self.cw as u32);
            match (found, stop) {
                (Some(f), Some(s)) if s >= from && s < f => Walk::Stop(s),
                (None, Some(s)) if s >= from => Walk::Stop(s),
                (Some(f), _) => Walk::Found(f),
                (None, _) => Walk::End,
            }
        } else {
            let start = pos.map_or(d.front, |p| p + 1);
            for s in start..d.capacity() {
                let Some(id) = d.at(s) else { continue };
                let st = d.state(id);
                if !st.overloaded && i64::from(st.weight) >= self.cw {
                    return Walk::Found(s);
                }
                if Some(s) == stop {
                    return Walk::Stop(s);
                }
            }
            Walk::End
        }
    }
}

enum Walk {
    Found(usize),
    Stop(usize),
    End,
}

impl Policy for Wrr {
    fn rebuild(&mut self, d: &Dests) {
        if self.indexed {
            self.weights.rebuild(d.capacity(), |s| {
                d.at(s).map_or(0, |id| {
                    let st = d.state(id);
                    if st.overloaded {
                        0
                    } else {
                        st.weight
                    }
                })
            });
        }
    }
    fn refresh(&mut self, d: &Dests, slot: usize) {
        if self.indexed {
            let v = d.at(slot).map_or(0, |id| {
                let st = d.state(id);
                if st.overloaded {
                    0
                } else {
                    st.weight
                }
            });
            if self.weights.value(slot) != v {
                self.weights.set(slot, v);
            }
        }
    }
    fn dests_changed(&mut self, d: &Dests) {
        self.dest_changed(d);
    }
    fn tracks_load(&self) -> bool {
        false
    }
    fn schedule(
        &mut self,
        d: &Dests,
        _now: Instant,
        _pkt: &Packet,
        _rng: &mut dyn RandomSource,
    ) -> Option<DestId> {
        if self.mw == 0 {
            return None;
        }
        let last = self.cl.and_then(|c| d.slot(c));
        let mut pos = last;
        let mut stop: Option<usize> = None;
        let mut last_pass = false;
        let mut restarted = false;
        // Each pass lowers cw by di; after a restart at most mw/di + 1 more passes.
        let bound = 2 * (self.mw / self.di.max(1) + 2);
        for _ in 0..bound {
            match self.next(d, pos, stop) {
                Walk::Found(s) => {
                    let id = d.at(s);
                    self.cl = id;
                    return id;
                }
                Walk::Stop(s) => {
                    self.cl = d.at(s);
                    return None;
                }
                Walk::End => {}
            }
            pos = None;
            self.cw -= self.di;
            if self.cw <= 0 {
                self.cw = self.mw;
                if last_pass || last.is_none() {
                    self.cl = None;
                    return None;
                }
                restarted = true;
            }
            last_pass = self.cw <= self.di;
            if last_pass && restarted && last.is_some() {
                stop = last;
            }
        }
        unreachable!("wrr loop exceeded its bound");
    }
}
