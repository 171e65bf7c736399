//! Client hosts on the public segment: an ARP cache that learns only from the gratuitous ARP
//! frames routers put on the wire (parsed with the same `engine::wire::arp` code the real
//! backend emits them with), and a scheduler that places their connections.
//!
//! The ARP cache models Linux's with its defaults (`arp_accept = 0`, `base_reachable_time`
//! 30 s, `locktime` 1 s), not smoltcp's: a gratuitous ARP (request or reply, sender IP = target
//! IP) updates an entry the host already has but creates none, and is ignored within
//! [`LOCKTIME`] of the entry's last update when it names another MAC (so in a dual-active
//! announce race the first router keeps the client for a second); an entry is trusted for
//! [`REACHABLE`], then re-resolved by asking the segment (every host holding the address answers;
//! the last answer wins, drawn from the seed).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use piranha_engine::ipvs::{DestKey, ServiceEntry, ServiceKey};
use piranha_engine::time::{Duration, Instant};
use piranha_engine::wire::arp::{self, Mac};

/// How long a learned entry is trusted (Linux `base_reachable_time`).
pub const REACHABLE: Duration = Duration::from_secs(30);
/// An entry updated this recently ignores a different MAC (Linux `locktime`).
pub const LOCKTIME: Duration = Duration::from_secs(1);

/// One client host.
#[derive(Debug, Default)]
pub struct Client {
    cache: BTreeMap<Ipv4Addr, (Mac, Instant)>,
}

impl Client {
    /// Feed one frame from the segment. Returns a line for the trace when an entry changed.
    pub fn learn(&mut self, now: Instant, frame: &[u8]) -> Option<String> {
        let repr = arp::Repr::parse_bytes(frame).ok()?;
        if !repr.is_gratuitous() {
            return None;
        }
        // arp_accept = 0: only an address this host already resolved is updated.
        let entry = self.cache.get_mut(&repr.sender_ip)?;
        let moved = entry.0 != repr.sender_hw;
        if moved && now.saturating_duration_since(entry.1) < LOCKTIME {
            return None;
        }
        *entry = (repr.sender_hw, now);
        moved.then(|| format!("arp {} is-at {}", repr.sender_ip, repr.sender_hw))
    }

    /// The MAC this client sends to for `vip` now: a fresh entry, or a new resolution among the
    /// `holders` (router indices whose host answers for the VIP).
    pub fn resolve(
        &mut self,
        now: Instant,
        vip: Ipv4Addr,
        holders: &[usize],
        macs: &[Mac; 2],
        pick: u64,
    ) -> Option<Mac> {
        if let Some(mac) = self.fresh(now, vip) {
            return Some(mac);
        }
        if holders.is_empty() {
            return None;
        }
        let mac = macs[holders[(pick % holders.len() as u64) as usize]];
        self.cache.insert(vip, (mac, now));
        Some(mac)
    }

    /// The fresh entry for `vip`, if any.
    pub fn fresh(&self, now: Instant, vip: Ipv4Addr) -> Option<Mac> {
        self.cache
            .get(&vip)
            .filter(|(_, at)| now.saturating_duration_since(*at) < REACHABLE)
            .map(|(m, _)| *m)
    }
}

/// Places a new connection on one destination of a service, as the kernel's scheduler does.
/// The simulator uses [`WeightedRoundRobin`]; `engine::sched` plugs in here once it lands.
pub trait Placer: Send {
    /// The destination for a new connection (None: no destination has weight).
    fn place(&mut self, service: &ServiceKey, entry: &ServiceEntry) -> Option<DestKey>;
}

/// Weighted round-robin over destinations with weight > 0 (weight-0 ones, quiesced, get no
/// new connections — the kernel's rule for every scheduler).
#[derive(Debug, Default)]
pub struct WeightedRoundRobin {
    next: BTreeMap<ServiceKey, u64>,
}

impl Placer for WeightedRoundRobin {
    fn place(&mut self, service: &ServiceKey, entry: &ServiceEntry) -> Option<DestKey> {
        let total: u64 = entry.dests.values().map(|d| u64::from(d.weight)).sum();
        if total == 0 {
            return None;
        }
        let n = self.next.entry(*service).or_insert(0);
        let mut slot = *n % total;
        *n = n.wrapping_add(1);
        for d in entry.dests.values() {
            let w = u64::from(d.weight);
            if slot < w {
                return Some(d.key());
            }
            slot -= w;
        }
        None
    }
}
