//! The service's destination (real server) list, in the kernel's list order, with the
//! counters every scheduler reads.
//!
//! The kernel links a new destination at the *head* of `svc->destinations`
//! (`list_add_rcu` in `__ip_vs_update_dest`), so list order is newest first; every scan and
//! every tie-break here follows that order. Destinations live in `slots`, a leaf array whose
//! ascending index is list order; a new destination takes the free slot just before the
//! current first one. When the array runs out of room at the front, or holes left by
//! removals outnumber the live destinations, it is re-laid out (compacted to the right end)
//! and every slot-indexed structure is rebuilt: amortised O(1) per add or remove.

use core::net::IpAddr;

/// Marks an empty slot or "no destination".
pub(crate) const NONE: u32 = u32::MAX;

/// Identifies a destination (real server) within one scheduler. Ids are never reused, so an
/// id held by a cache or a persistence template can never name a different server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DestId(pub u32);

impl DestId {
    pub(crate) fn index(self) -> usize {
        self.0 as usize
    }
}

/// What the scheduler needs to know about a new destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestSpec {
    /// Real server address (mh hashes it to build the destination's permutation).
    pub addr: IpAddr,
    /// Real server port (mh hashes it too).
    pub port: u16,
    /// Weight, 0 ..= `i32::MAX` as the kernel's `int`; 0 = quiesced.
    pub weight: u32,
}

/// A destination's state as the schedulers see it (`ipvsadm -Ln` columns).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestState {
    /// Address given at [`DestSpec::addr`].
    pub addr: IpAddr,
    /// Port given at [`DestSpec::port`].
    pub port: u16,
    /// Current weight (0 = quiesced).
    pub weight: u32,
    /// The latest non-zero weight (the kernel's `last_weight`, used by mh).
    pub last_weight: u32,
    /// Active connections (`ActiveConn`).
    pub active_conns: u32,
    /// Inactive connections (`InActConn`).
    pub inactive_conns: u32,
    /// The upper-threshold overload flag (`IP_VS_DEST_F_OVERLOAD`).
    pub overloaded: bool,
    /// Upper connection threshold (`-x`, 0 = none): see
    /// [`set_thresholds`](super::Scheduler::set_thresholds).
    pub upper_threshold: u32,
    /// Lower connection threshold (`-y`, 0 = none).
    pub lower_threshold: u32,
    /// Still in the service's list (false after [`remove_dest`](super::Scheduler::remove_dest):
    /// the kernel's "trash", whose counters still move as old connections end).
    pub available: bool,
}

impl DestState {
    /// `ip_vs_dest_conn_overhead`: activeconns * 256 + inactconns.
    pub fn overhead(&self) -> u64 {
        (u64::from(self.active_conns) << 8) + u64::from(self.inactive_conns)
    }
    /// `ip_vs_dest_totalconns`: active + inactive.
    pub fn total_conns(&self) -> u64 {
        u64::from(self.active_conns) + u64::from(self.inactive_conns)
    }
}

/// The part of a destination's state that scheduling and connection events touch, kept
/// apart from its address (`Cold`) so the array every event indexes at random is 28
/// bytes per server rather than 48. Field names and meanings are [`DestState`]'s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Load {
    pub(crate) weight: u32,
    pub(crate) active_conns: u32,
    pub(crate) inactive_conns: u32,
    pub(crate) upper_threshold: u32,
    pub(crate) lower_threshold: u32,
    pub(crate) overloaded: bool,
    pub(crate) available: bool,
}

/// What only table-building schedulers (mh) and [`DestState`] read.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cold {
    pub(crate) addr: IpAddr,
    pub(crate) port: u16,
    pub(crate) last_weight: u32,
}

impl Load {
    /// `ip_vs_dest_conn_overhead`: activeconns * 256 + inactconns.
    #[inline(always)]
    pub(crate) fn overhead(&self) -> u64 {
        (u64::from(self.active_conns) << 8) + u64::from(self.inactive_conns)
    }
    /// `ip_vs_dest_totalconns`: active + inactive.
    #[inline(always)]
    pub(crate) fn total_conns(&self) -> u64 {
        u64::from(self.active_conns) + u64::from(self.inactive_conns)
    }
    /// `ip_vs_bind_dest`: a new connection sets the flag at the upper threshold.
    pub(crate) fn bind_overload(&mut self) {
        if self.upper_threshold != 0 && self.total_conns() >= u64::from(self.upper_threshold) {
            self.overloaded = true;
        }
    }
    /// `ip_vs_unbind_dest`: an ended connection clears the flag below the lower threshold,
    /// or below 3/4 of the upper one when there is no lower one, or at once with neither.
    pub(crate) fn unbind_overload(&mut self) {
        let total = self.total_conns();
        let clear = if self.lower_threshold != 0 {
            total < u64::from(self.lower_threshold)
        } else if self.upper_threshold != 0 {
            total * 4 < u64::from(self.upper_threshold) * 3
        } else {
            true
        };
        if clear {
            self.overloaded = false;
        }
    }
    /// Thresholds changed: set the flag at `upper` connections or more, keep it down to
    /// the lower bound (`lower`, or 3/4 of `upper` rounded up), clear it below that or
    /// without an upper threshold.
    pub(crate) fn update_overload(&mut self) {
        if self.upper_threshold == 0 {
            self.overloaded = false;
            return;
        }
        let total = self.total_conns();
        if total >= u64::from(self.upper_threshold) {
            self.overloaded = true;
            return;
        }
        let low = if self.lower_threshold != 0 {
            self.lower_threshold
        } else {
            self.upper_threshold - self.upper_threshold / 4
        };
        if total < u64::from(low) {
            self.overloaded = false;
        }
    }
    /// The eligibility test most schedulers share: not overloaded and weight > 0.
    pub(crate) fn usable(&self) -> bool {
        !self.overloaded && self.weight > 0
    }
    /// lblc/lblcr "a less loaded server exists" test: activeconns * 2 < weight.
    pub(crate) fn underloaded(&self) -> bool {
        u64::from(self.active_conns) * 2 < u64::from(self.weight)
    }
}

/// The destination list plus counters, shared by every scheduler implementation.
#[derive(Clone, Debug)]
pub(crate) struct Dests {
    /// By [`DestId`]; removed destinations stay (unavailable) so late connection events work.
    info: Vec<Load>,
    /// By [`DestId`], beside `info`.
    cold: Vec<Cold>,
    /// Leaves in list order; [`NONE`] is a hole.
    pub(crate) slots: Vec<u32>,
    /// By [`DestId`]: its slot, or [`NONE`] once removed.
    slot_of: Vec<u32>,
    /// First possibly-used slot; slots below it are free.
    pub(crate) front: usize,
    /// Destinations in the list.
    pub(crate) live: usize,
    /// In-list destinations with `activeconns * 2 < weight` (lblc/lblcr overload rule),
    /// kept only when `count_underloaded` (connection events skip it otherwise).
    pub(crate) underloaded: usize,
    count_underloaded: bool,
}

impl Dests {
    /// An empty list; `count_underloaded` keeps [`Self::underloaded`] up to date.
    pub(crate) fn new(count_underloaded: bool) -> Self {
        let cap = 16;
        Dests {
            info: Vec::new(),
            cold: Vec::new(),
            slots: vec![NONE; cap],
            slot_of: Vec::new(),
            front: cap,
            live: 0,
            underloaded: 0,
            count_underloaded,
        }
    }

    /// Slot count (a power of two), the size every slot-indexed structure must have.
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// The whole state of a destination, removed ones included.
    pub(crate) fn get(&self, id: DestId) -> Option<DestState> {
        let l = self.info.get(id.index())?;
        let c = &self.cold[id.index()];
        Some(DestState {
            addr: c.addr,
            port: c.port,
            weight: l.weight,
            last_weight: c.last_weight,
            active_conns: l.active_conns,
            inactive_conns: l.inactive_conns,
            overloaded: l.overloaded,
            upper_threshold: l.upper_threshold,
            lower_threshold: l.lower_threshold,
            available: l.available,
        })
    }

    /// The scheduling state of a known destination.
    #[inline(always)]
    pub(crate) fn state(&self, id: DestId) -> &Load {
        &self.info[id.index()]
    }

    /// The scheduling state of a destination, if known.
    #[inline]
    pub(crate) fn load(&self, id: DestId) -> Option<&Load> {
        self.info.get(id.index())
    }

    /// Address, port and last non-zero weight of a known destination.
    pub(crate) fn cold(&self, id: DestId) -> &Cold {
        &self.cold[id.index()]
    }

    /// Records a weight change's `last_weight` (the latest non-zero weight).
    pub(crate) fn set_last_weight(&mut self, id: DestId, weight: u32) {
        self.cold[id.index()].last_weight = weight;
    }

    /// The slot of an in-list destination.
    pub(crate) fn slot(&self, id: DestId) -> Option<usize> {
        match self.slot_of.get(id.index()) {
            Some(&s) if s != NONE => Some(s as usize),
            _ => None,
        }
    }

    /// The destination in `slot`, if any.
    pub(crate) fn at(&self, slot: usize) -> Option<DestId> {
        match self.slots.get(slot) {
            Some(&d) if d != NONE => Some(DestId(d)),
            _ => None,
        }
    }

    /// In-list destinations in list order (head first).
    pub(crate) fn iter(&self) -> impl Iterator<Item = DestId> + '_ {
        self.slots[self.front..]
            .iter()
            .filter(|&&d| d != NONE)
            .map(|&d| DestId(d))
    }

    /// In-list destinations strictly after `slot`, in list order.
    pub(crate) fn iter_after(&self, slot: usize) -> impl Iterator<Item = DestId> + '_ {
        let start = (slot + 1).max(self.front).min(self.slots.len());
        self.slots[start..]
            .iter()
            .filter(|&&d| d != NONE)
            .map(|&d| DestId(d))
    }

    /// The in-list destination just before `slot` in list order.
    pub(crate) fn prev(&self, slot: usize) -> Option<DestId> {
        self.slots[self.front.min(slot)..slot]
            .iter()
            .rev()
            .find(|&&d| d != NONE)
            .map(|&d| DestId(d))
    }

    /// Links a new destination at the head of the list. Returns its id and whether the
    /// slots were re-laid out (every slot-indexed structure must then be rebuilt).
    pub(crate) fn add(&mut self, spec: DestSpec) -> (DestId, bool) {
        let id = DestId(u32::try_from(self.info.len()).expect("fewer than 2^32 destinations"));
        assert!(id.0 != NONE, "destination id space exhausted");
        self.info.push(Load {
            weight: spec.weight,
            active_conns: 0,
            inactive_conns: 0,
            upper_threshold: 0,
            lower_threshold: 0,
            overloaded: false,
            available: true,
        });
        self.cold.push(Cold {
            addr: spec.addr,
            port: spec.port,
            last_weight: spec.weight,
        });
        self.slot_of.push(NONE);
        let relaid = if self.front == 0 {
            self.relayout(1);
            true
        } else {
            false
        };
        self.front -= 1;
        self.slots[self.front] = id.0;
        self.slot_of[id.index()] = self.front as u32;
        self.live += 1;
        if self.count_underloaded && self.info[id.index()].underloaded() {
            self.underloaded += 1;
        }
        (id, relaid)
    }

    /// Unlinks a destination. Returns its old slot and whether the slots were re-laid out.
    pub(crate) fn remove(&mut self, id: DestId) -> Option<(usize, bool)> {
        let slot = self.slot(id)?;
        if self.count_underloaded && self.info[id.index()].underloaded() {
            self.underloaded -= 1;
        }
        self.info[id.index()].available = false;
        self.slots[slot] = NONE;
        self.slot_of[id.index()] = NONE;
        self.live -= 1;
        let holes = self.slots.len() - self.front - self.live;
        let relaid = holes > self.live.max(64);
        if relaid {
            self.relayout(0);
        }
        Some((slot, relaid))
    }

    /// Applies `f` to a destination's state, keeping the underloaded count. Returns its
    /// slot if it is in the list, and `f`'s result; `None` for an unknown id.
    #[inline]
    pub(crate) fn update<R>(
        &mut self,
        id: DestId,
        f: impl FnOnce(&mut Load) -> R,
    ) -> Option<(Option<usize>, R)> {
        let st = self.info.get_mut(id.index())?;
        let slot = match self.slot_of[id.index()] {
            NONE => None,
            s => Some(s as usize),
        };
        if !self.count_underloaded {
            return Some((slot, f(st)));
        }
        let in_list = slot.is_some();
        let before = in_list && st.underloaded();
        let r = f(st);
        let after = in_list && st.underloaded();
        // Branch-free: +1, -1 or 0.
        self.underloaded = (self.underloaded + usize::from(after)) - usize::from(before);
        Some((slot, r))
    }

    /// Compacts live destinations to the right end of a fresh array with at least `room`
    /// free slots (and as many as live ones) at the front.
    fn relayout(&mut self, room: usize) {
        let live: Vec<u32> = self.iter().map(|d| d.0).collect();
        let cap = (2 * live.len() + room + 16).next_power_of_two();
        self.slots = vec![NONE; cap];
        self.front = cap - live.len();
        for (i, d) in live.into_iter().enumerate() {
            self.slots[self.front + i] = d;
            self.slot_of[d as usize] = (self.front + i) as u32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    fn spec(w: u32) -> DestSpec {
        DestSpec {
            addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            port: 80,
            weight: w,
        }
    }

    #[test]
    fn list_order_is_newest_first_like_list_add_rcu() {
        let mut d = Dests::new(true);
        let a = d.add(spec(1)).0;
        let b = d.add(spec(1)).0;
        let c = d.add(spec(1)).0;
        assert_eq!(d.iter().collect::<Vec<_>>(), vec![c, b, a]);
        d.remove(b).unwrap();
        assert_eq!(d.iter().collect::<Vec<_>>(), vec![c, a]);
        assert_eq!(d.prev(d.slot(a).unwrap()), Some(c));
        assert_eq!(d.prev(d.slot(c).unwrap()), None);
        assert!(!d.state(b).available);
    }

    #[test]
    fn relayout_keeps_order_through_growth_and_churn() {
        let mut d = Dests::new(true);
        let mut ids = Vec::new();
        for i in 0..1000u32 {
            ids.push(d.add(spec(i % 7)).0);
            if i % 3 == 0 {
                let gone = ids.remove(ids.len() / 2);
                d.remove(gone).unwrap();
            }
        }
        let want: Vec<DestId> = ids.iter().rev().copied().collect();
        assert_eq!(d.iter().collect::<Vec<_>>(), want);
        assert_eq!(d.live, want.len());
        let under = want.iter().filter(|&&i| d.state(i).underloaded()).count();
        assert_eq!(d.underloaded, under);
    }
}
