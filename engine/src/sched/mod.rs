//! IPVS schedulers: every algorithm the kernel has, with the kernel's exact decisions.
//!
//! A [`Scheduler`] models one virtual service's scheduler: build it from a [`SchedConfig`],
//! feed it destination changes ([`add_dest`](Scheduler::add_dest),
//! [`remove_dest`](Scheduler::remove_dest), [`set_weight`](Scheduler::set_weight),
//! [`set_overloaded`](Scheduler::set_overloaded)) and connection events
//! ([`on_conn_open`](Scheduler::on_conn_open), [`on_conn_inactive`](Scheduler::on_conn_inactive),
//! [`on_conn_close`](Scheduler::on_conn_close)), and ask it where a new connection goes with
//! [`schedule`](Scheduler::schedule). Scheduling does not count the connection: call
//! `on_conn_open` with the returned destination when the connection is created, as the
//! kernel's `ip_vs_bind_dest` does.
//!
//! ```
//! use piranha_engine::sched::{Algorithm, DestSpec, Packet, SchedConfig, Scheduler};
//! use piranha_engine::time::Instant;
//! # use core::net::{IpAddr, Ipv4Addr};
//! # struct Zero;
//! # impl rand_core::TryRng for Zero { type Error = core::convert::Infallible;
//! #   fn try_next_u32(&mut self) -> Result<u32, Self::Error> { Ok(0) }
//! #   fn try_next_u64(&mut self) -> Result<u64, Self::Error> { Ok(0) }
//! #   fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), Self::Error> { d.fill(0); Ok(()) } }
//! let mut s = Scheduler::new(SchedConfig::new(Algorithm::Wlc)).unwrap();
//! let ip = |n| IpAddr::V4(Ipv4Addr::new(10, 0, 0, n));
//! let a = s.add_dest(DestSpec { addr: ip(1), port: 80, weight: 1 }).unwrap();
//! let b = s.add_dest(DestSpec { addr: ip(2), port: 80, weight: 2 }).unwrap();
//! let pkt = Packet::new(ip(100), 40000, ip(200), 80);
//! // The list is newest first (the kernel's list_add_rcu): b, a. Both idle: b wins the tie.
//! let first = s.schedule(Instant::ZERO, &pkt, &mut Zero).unwrap();
//! assert_eq!(first, b);
//! s.on_conn_open(first).unwrap();
//! // b: 256/2 = 128 > a: 0/1, so a.
//! assert_eq!(s.schedule(Instant::ZERO, &pkt, &mut Zero), Some(a));
//! ```
//!
//! Every O(n) kernel loop exists twice: [`Implementation::Scan`] mirrors the kernel's loop,
//! [`Implementation::Indexed`] answers the same question from a slot-indexed tree
//! ([`index`]) in O(log n) or O(1); the differential tests require identical decisions.
//! The kernel's sources (net/netfilter/ipvs/ip_vs_*.c) are the specification; each family's
//! file says which kernel details it reproduces.

use core::fmt;
use core::str::FromStr;

use crate::time::{Duration, Instant};

mod dest;
mod hash;
mod hashing;
mod index;
mod lc;
mod locality;
mod mh;
mod options;
mod persist;
mod rr;
mod twos;
mod weighted;

#[cfg(test)]
mod transcripts;

pub use dest::{DestId, DestSpec, DestState};
pub use options::{Implementation, Packet, RandomSource, SchedConfig, SchedError, SchedFlags};
pub use persist::{Netmask, PersistenceConfig};

use dest::Dests;

/// A scheduling algorithm, named as the kernel names it (`ipvsadm -s NAME`, lvs.cf `scheduler =`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// Round robin.
    Rr,
    /// Weighted round robin.
    Wrr,
    /// Least connections.
    Lc,
    /// Weighted least connections (Piranha's default).
    Wlc,
    /// Locality-based least connections.
    Lblc,
    /// Locality-based least connections with replication.
    Lblcr,
    /// Destination hashing.
    Dh,
    /// Source hashing.
    Sh,
    /// Shortest expected delay.
    Sed,
    /// Never queue.
    Nq,
    /// Weighted failover.
    Fo,
    /// Weighted overflow.
    Ovf,
    /// Maglev hashing.
    Mh,
    /// Weighted random twos choice.
    Twos,
}

impl Algorithm {
    /// Every algorithm, in the order Piranha's documentation and then the kernel list them.
    pub const ALL: [Algorithm; 14] = [
        Algorithm::Rr,
        Algorithm::Wrr,
        Algorithm::Lc,
        Algorithm::Wlc,
        Algorithm::Lblc,
        Algorithm::Lblcr,
        Algorithm::Dh,
        Algorithm::Sh,
        Algorithm::Sed,
        Algorithm::Nq,
        Algorithm::Fo,
        Algorithm::Ovf,
        Algorithm::Mh,
        Algorithm::Twos,
    ];

    /// The kernel's name (`wlc`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::Rr => "rr",
            Algorithm::Wrr => "wrr",
            Algorithm::Lc => "lc",
            Algorithm::Wlc => "wlc",
            Algorithm::Lblc => "lblc",
            Algorithm::Lblcr => "lblcr",
            Algorithm::Dh => "dh",
            Algorithm::Sh => "sh",
            Algorithm::Sed => "sed",
            Algorithm::Nq => "nq",
            Algorithm::Fo => "fo",
            Algorithm::Ovf => "ovf",
            Algorithm::Mh => "mh",
            Algorithm::Twos => "twos",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not one of the kernel's schedulers.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown scheduler {0:?} (expected one of rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos)")]
pub struct UnknownAlgorithm(pub String);

impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownAlgorithm(s.to_string()))
    }
}

/// The per-algorithm part: kernel hooks plus the slot-indexed structures.
pub(crate) trait Policy: fmt::Debug + Send {
    /// The slots were re-laid out (or the policy is new): rebuild slot-indexed state.
    fn rebuild(&mut self, d: &Dests);
    /// Recompute slot-indexed state for one slot (its destination changed or left).
    fn refresh(&mut self, d: &Dests, slot: usize);
    /// A connection event changed in-list destination `id`'s counters (or overload flag);
    /// it sits in `slot`. The hot path of every load-tracking policy.
    #[inline]
    fn load_changed(&mut self, d: &Dests, slot: usize, _id: DestId) {
        self.refresh(d, slot);
    }
    /// Any of the three hooks below, for the schedulers that rebuild a table on every change
    /// (dh, sh, mh, wrr): they implement this one instead of all three.
    fn dests_changed(&mut self, _d: &Dests) {}
    /// The kernel's `add_dest` hook, after the destination was linked at the head.
    fn dest_added(&mut self, d: &Dests, _id: DestId) {
        self.dests_changed(d);
    }
    /// The kernel's `del_dest` hook; `prev` was the destination before it in the list.
    fn dest_removed(&mut self, d: &Dests, _id: DestId, _prev: Option<DestId>) {
        self.dests_changed(d);
    }
    /// The kernel's `upd_dest` hook (weight changed).
    fn dest_updated(&mut self, d: &Dests, _id: DestId) {
        self.dests_changed(d);
    }
    /// Whether connection counters feed this policy's index (skip refreshes if not).
    fn tracks_load(&self) -> bool {
        true
    }
    /// mh's lookup table, for measurements.
    fn mh_table(&self) -> Option<Vec<Option<DestId>>> {
        None
    }
    /// The kernel's `schedule`.
    fn schedule(
        &mut self,
        d: &Dests,
        now: Instant,
        pkt: &Packet,
        rng: &mut dyn RandomSource,
    ) -> Option<DestId>;
}

/// One virtual service's scheduler: the destination list, its counters, and the algorithm.
///
/// Contract: destinations are listed newest first, as the kernel links them; removed
/// destinations keep their counters (connections to them may still end) but never receive
/// new connections; every method is O(log n) amortised with [`Implementation::Indexed`]
/// (mh/sh/dh/wrr rebuild their tables on destination changes as the kernel does).
#[derive(Debug)]
pub struct Scheduler {
    config: SchedConfig,
    dests: Dests,
    policy: Box<dyn Policy>,
    /// `policy.tracks_load()`, cached: connection events skip the policy when false.
    tracks_load: bool,
    persistence: Option<persist::Templates>,
}

impl Scheduler {
    /// A scheduler with no destinations yet.
    pub fn new(config: SchedConfig) -> Result<Self, SchedError> {
        let indexed = config.implementation == Implementation::Indexed;
        let policy: Box<dyn Policy> = match config.algorithm {
            Algorithm::Rr => Box::new(rr::Rr::new(indexed)),
            Algorithm::Wrr => Box::new(rr::Wrr::new(indexed)),
            Algorithm::Lc => Box::new(lc::LeastConn::new(lc::Kind::Lc, indexed)),
            Algorithm::Wlc => Box::new(lc::LeastConn::new(lc::Kind::Wlc, indexed)),
            Algorithm::Sed => Box::new(lc::LeastConn::new(lc::Kind::Sed, indexed)),
            Algorithm::Nq => Box::new(lc::LeastConn::new(lc::Kind::Nq, indexed)),
            Algorithm::Fo => Box::new(weighted::Heaviest::new(weighted::Kind::Fo, indexed)),
            Algorithm::Ovf => Box::new(weighted::Heaviest::new(weighted::Kind::Ovf, indexed)),
            Algorithm::Lblc => Box::new(locality::Lblc::new(config.locality_expiration, indexed)),
            Algorithm::Lblcr => Box::new(locality::Lblcr::new(config.locality_expiration, indexed)),
            Algorithm::Dh => Box::new(hashing::Dh::new()),
            Algorithm::Sh => Box::new(hashing::Sh::new(config.flags)),
            Algorithm::Mh => Box::new(mh::Mh::new(config.mh_table_size, config.flags)?),
            Algorithm::Twos => Box::new(twos::Twos::new(indexed)),
        };
        let mut s = Scheduler {
            config,
            dests: Dests::new(matches!(
                config.algorithm,
                Algorithm::Lblc | Algorithm::Lblcr
            )),
            tracks_load: policy.tracks_load(),
            policy,
            persistence: config.persistence.map(persist::Templates::new),
        };
        s.policy.rebuild(&s.dests);
        Ok(s)
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &SchedConfig {
        &self.config
    }

    /// Adds a destination at the head of the list (`ipvsadm -a`), as the kernel links it.
    pub fn add_dest(&mut self, spec: DestSpec) -> Result<DestId, SchedError> {
        check_weight(spec.weight)?;
        let (id, relaid) = self.dests.add(spec);
        if relaid {
            self.policy.rebuild(&self.dests);
        } else if let Some(slot) = self.dests.slot(id) {
            self.policy.refresh(&self.dests, slot);
        }
        self.policy.dest_added(&self.dests, id);
        Ok(id)
    }

    /// Removes a destination from the list (`ipvsadm -d`). Its connections may still end.
    pub fn remove_dest(&mut self, id: DestId) -> Result<(), SchedError> {
        let slot = self.in_list(id)?;
        let prev = self.dests.prev(slot);
        let (slot, relaid) = self.dests.remove(id).expect("checked in list");
        if relaid {
            self.policy.rebuild(&self.dests);
        } else {
            self.policy.refresh(&self.dests, slot);
        }
        self.policy.dest_removed(&self.dests, id, prev);
        Ok(())
    }

    /// Changes a destination's weight (`ipvsadm -e -w`); 0 quiesces it.
    pub fn set_weight(&mut self, id: DestId, weight: u32) -> Result<(), SchedError> {
        check_weight(weight)?;
        let slot = self.in_list(id)?;
        self.dests.update(id, |st| st.weight = weight);
        if weight != 0 {
            self.dests.set_last_weight(id, weight);
        }
        self.policy.refresh(&self.dests, slot);
        self.policy.dest_updated(&self.dests, id);
        Ok(())
    }

    /// Sets a destination's connection thresholds (`ipvsadm -x UPPER -y LOWER`, 0 = none).
    /// From then on connection events drive the overload flag as the kernel does: a new
    /// connection sets it when active + inactive reaches `upper`; an ended one clears it
    /// below `lower`, or below 3/4 of `upper` without a lower threshold. Changed thresholds
    /// re-evaluate the flag at once by the same rule (set at `upper` or more, kept down to
    /// the lower bound, cleared below it or with `upper` = 0): what Debian's 6.1 kernel
    /// does, as the kernel differential (tests/kernel_sched.rs) measured, and what newer
    /// kernels' `ip_vs_dest_update_overload` does; older ones only cleared the flag when
    /// `upper` became 0 or grew. Like any `ipvsadm -e`, the scheduler's `upd_dest` hook
    /// runs (wrr restarts from the list head, sh/mh rebuild).
    pub fn set_thresholds(&mut self, id: DestId, upper: u32, lower: u32) -> Result<(), SchedError> {
        let slot = self.in_list(id)?;
        self.dests.update(id, |st| {
            if (st.upper_threshold, st.lower_threshold) != (upper, lower) {
                st.upper_threshold = upper;
                st.lower_threshold = lower;
                st.update_overload();
            }
        });
        self.policy.refresh(&self.dests, slot);
        // Any `ipvsadm -e` goes through __ip_vs_update_dest, which calls upd_dest.
        self.policy.dest_updated(&self.dests, id);
        Ok(())
    }

    /// Sets or clears the upper-threshold overload flag (`IP_VS_DEST_F_OVERLOAD`) directly,
    /// for callers that model thresholds themselves (see [`Self::set_thresholds`]).
    pub fn set_overloaded(&mut self, id: DestId, overloaded: bool) -> Result<(), SchedError> {
        let slot = self.in_list(id)?;
        self.dests.update(id, |st| st.overloaded = overloaded);
        self.policy.refresh(&self.dests, slot);
        Ok(())
    }

    /// A new connection to `id` was created; it is counted active, as Debian's 6.1 kernel
    /// counts a new TCP connection from its first SYN on (measured by the kernel
    /// differential, tests/kernel_sched.rs). A new UDP connection counts *inactive* in
    /// the kernel, for good (`__ip_vs_update_dest` puts `IP_VS_CONN_F_INACTIVE` in the
    /// destination's connection flags and only TCP state changes move a connection to
    /// active): model it with this followed by [`on_conn_inactive`](Self::on_conn_inactive)
    /// (the overload flag is decided here, on active + inactive, either way).
    pub fn on_conn_open(&mut self, id: DestId) -> Result<(), SchedError> {
        let (slot, flipped) = self
            .dests
            .update(id, |st| {
                let was = st.overloaded;
                st.active_conns += 1;
                st.bind_overload();
                was != st.overloaded
            })
            .ok_or(SchedError::UnknownDest(id))?;
        self.load_changed(id, slot, flipped);
        Ok(())
    }

    /// An active connection became inactive (e.g. TCP FIN_WAIT/TIME_WAIT).
    pub fn on_conn_inactive(&mut self, id: DestId) -> Result<(), SchedError> {
        let (slot, ok) = self
            .dests
            .update(id, |st| {
                if st.active_conns == 0 {
                    return false;
                }
                st.active_conns -= 1;
                st.inactive_conns += 1;
                true
            })
            .ok_or(SchedError::UnknownDest(id))?;
        if !ok {
            return Err(SchedError::NoSuchConnection(id, "active"));
        }
        self.load_changed(id, slot, false);
        Ok(())
    }

    /// A connection to `id` ended; `was_active` says which counter it was in.
    pub fn on_conn_close(&mut self, id: DestId, was_active: bool) -> Result<(), SchedError> {
        // `None`: no such connection (the counter is 0), nothing changed.
        let (slot, flipped) = self
            .dests
            .update(id, |st| {
                let n = if was_active {
                    &mut st.active_conns
                } else {
                    &mut st.inactive_conns
                };
                *n = n.checked_sub(1)?;
                let was = st.overloaded;
                st.unbind_overload();
                Some(was != st.overloaded)
            })
            .ok_or(SchedError::UnknownDest(id))?;
        let Some(flipped) = flipped else {
            let which = if was_active { "active" } else { "inactive" };
            return Err(SchedError::NoSuchConnection(id, which));
        };
        self.load_changed(id, slot, flipped);
        Ok(())
    }

    /// Where a new connection goes, or `None` ("no destination available"). Persistent
    /// services consult their templates first. `now` drives lblc/lblcr and persistence
    /// expiry; `rng` is only drawn from by twos (two `u32`s per decision).
    pub fn schedule<R: RandomSource + ?Sized>(
        &mut self,
        now: Instant,
        pkt: &Packet,
        rng: &mut R,
    ) -> Option<DestId> {
        let mut rng = DynRng(rng);
        if let Some(t) = self.persistence.as_mut() {
            if let Some(id) = t.lookup(&self.dests, now, pkt) {
                return Some(id);
            }
        }
        let chosen = self.policy.schedule(&self.dests, now, pkt, &mut rng)?;
        debug_assert!(
            self.dests.slot(chosen).is_some(),
            "chose a removed destination"
        );
        if let Some(t) = self.persistence.as_mut() {
            t.insert(now, pkt, chosen);
        }
        Some(chosen)
    }

    /// A destination's state, including removed ones.
    pub fn dest(&self, id: DestId) -> Option<DestState> {
        self.dests.get(id)
    }

    /// The destinations in the list, in the kernel's list order (newest first).
    pub fn dests(&self) -> impl Iterator<Item = DestId> + '_ {
        self.dests.iter()
    }

    /// How many destinations are in the list.
    pub fn len(&self) -> usize {
        self.dests.live
    }

    /// No destination in the list.
    pub fn is_empty(&self) -> bool {
        self.dests.live == 0
    }

    /// mh only: the lookup table (destination per entry), for disruption measurements.
    pub fn mh_table(&self) -> Option<Vec<Option<DestId>>> {
        self.policy.mh_table()
    }

    #[inline]
    fn load_changed(&mut self, id: DestId, slot: Option<usize>, flag_flipped: bool) {
        if self.tracks_load || flag_flipped {
            if let Some(slot) = slot {
                self.policy.load_changed(&self.dests, slot, id);
            }
        }
    }

    fn known(&self, id: DestId) -> Result<&dest::Load, SchedError> {
        self.dests.load(id).ok_or(SchedError::UnknownDest(id))
    }

    fn in_list(&self, id: DestId) -> Result<usize, SchedError> {
        self.known(id)?;
        self.dests.slot(id).ok_or(SchedError::RemovedDest(id))
    }
}

fn check_weight(weight: u32) -> Result<(), SchedError> {
    if weight > i32::MAX as u32 {
        return Err(SchedError::WeightTooLarge(weight));
    }
    Ok(())
}

/// Adapts a `?Sized` random source to `&mut dyn RandomSource`.
struct DynRng<'a, R: RandomSource + ?Sized>(&'a mut R);

impl<R: RandomSource + ?Sized> RandomSource for DynRng<'_, R> {
    fn next_random_u32(&mut self) -> u32 {
        self.0.next_random_u32()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_flags_map_sched1_and_sched2() {
        let f = SchedFlags::from_service_flags(0x0001 | 0x0008 | 0x0010);
        assert_eq!(
            f,
            SchedFlags {
                fallback: true,
                port: true
            }
        );
        assert_eq!(f.to_service_flags(), 0x18);
        assert_eq!(
            SchedFlags::from_service_flags(0x0002),
            SchedFlags::default()
        );
    }

    #[test]
    fn names_round_trip() {
        for a in Algorithm::ALL {
            assert_eq!(a.as_str().parse::<Algorithm>(), Ok(a));
        }
        assert!("WLC".parse::<Algorithm>().is_err());
        assert!("".parse::<Algorithm>().is_err());
    }
}
