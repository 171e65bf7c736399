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

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};

use piranha_engine::ipvs::{DestKey, Service, ServiceEntry, ServiceFlags, ServiceKey};
use piranha_engine::sched::{
    DestId, DestSpec, Packet, PersistenceConfig, SchedConfig, SchedFlags, Scheduler,
};
use piranha_engine::time::{Duration, Instant};
use piranha_engine::wire::arp::{self, Mac};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

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

    /// How long ago the entry for `vip` was last updated (None: never resolved).
    pub fn age(&self, now: Instant, vip: Ipv4Addr) -> Option<Duration> {
        self.cache
            .get(&vip)
            .map(|(_, at)| now.saturating_duration_since(*at))
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
pub trait Placer: Send {
    /// The destination for a new connection from `client` on `router` (None: no destination
    /// can take it).
    fn place(
        &mut self,
        now: Instant,
        router: usize,
        service: &ServiceKey,
        entry: &ServiceEntry,
        client: (IpAddr, u16),
    ) -> Option<DestKey>;
}

/// Connections each (router, service) keeps open before the oldest ends: enough that the
/// connection-counting schedulers (lc, wlc, sed, nq, lblc...) see real, uneven load.
const OPEN_CONNECTIONS_MAX: usize = 64;

/// One router's kernel scheduler for one service, kept in step with the router's IPVS table.
struct ServiceScheduler {
    scheduler: Scheduler,
    /// The table's destinations as the scheduler knows them.
    ids: BTreeMap<DestKey, DestId>,
    /// Open connections, oldest first.
    open: VecDeque<DestId>,
    /// The service settings this scheduler was built for (a change rebuilds it).
    built_for: Service,
}

/// The kernel's own scheduling (`engine::sched`) per router and service: the scheduler named
/// in the router's table, persistence and scheduler flags included, fed the table's weights and
/// the connections it placed. A failover starts the new router's scheduler from its own state,
/// as the kernel does.
pub struct KernelPlacer {
    schedulers: BTreeMap<(usize, ServiceKey), ServiceScheduler>,
    rng: ChaCha8Rng,
}

impl KernelPlacer {
    /// A placer whose random choices (twos) come from `seed`.
    pub fn new(seed: u64) -> KernelPlacer {
        KernelPlacer {
            schedulers: BTreeMap::new(),
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5c4e_d01e),
        }
    }
}

fn sched_config(service: &Service) -> SchedConfig {
    let mut config = SchedConfig::new(service.scheduler);
    config.flags = SchedFlags::from_service_flags(service.flags.0);
    if service.flags.contains(ServiceFlags::PERSISTENT) {
        let mut p = PersistenceConfig::new(Duration::from_secs(u64::from(service.timeout_s)));
        p.expire_quiescent_template = true;
        if let ServiceKey::Addr {
            addr: IpAddr::V4(_),
            ..
        } = service.key
        {
            p.netmask.v4 = Ipv4Addr::from(service.netmask);
        }
        config.persistence = Some(p);
    }
    config
}

impl ServiceScheduler {
    fn new(service: &Service) -> Option<ServiceScheduler> {
        Some(ServiceScheduler {
            scheduler: Scheduler::new(sched_config(service)).ok()?,
            ids: BTreeMap::new(),
            open: VecDeque::new(),
            built_for: service.clone(),
        })
    }

    /// Follow the table: new destinations added, vanished ones removed, weights updated.
    fn sync(&mut self, entry: &ServiceEntry) {
        let gone: Vec<DestKey> = self
            .ids
            .keys()
            .filter(|k| !entry.dests.contains_key(k))
            .copied()
            .collect();
        for k in gone {
            if let Some(id) = self.ids.remove(&k) {
                let _ = self.scheduler.remove_dest(id);
            }
        }
        for (k, d) in &entry.dests {
            match self.ids.get(k) {
                Some(&id) => {
                    if self
                        .scheduler
                        .dest(id)
                        .is_some_and(|st| st.weight != d.weight)
                    {
                        let _ = self.scheduler.set_weight(id, d.weight);
                    }
                }
                None => {
                    let spec = DestSpec {
                        addr: d.addr,
                        port: d.port,
                        weight: d.weight,
                    };
                    if let Ok(id) = self.scheduler.add_dest(spec) {
                        self.ids.insert(*k, id);
                    }
                }
            }
        }
    }
}

impl Placer for KernelPlacer {
    fn place(
        &mut self,
        now: Instant,
        router: usize,
        service: &ServiceKey,
        entry: &ServiceEntry,
        client: (IpAddr, u16),
    ) -> Option<DestKey> {
        let slot = (router, *service);
        if self
            .schedulers
            .get(&slot)
            .is_some_and(|s| s.built_for != entry.service)
        {
            self.schedulers.remove(&slot);
        }
        let s = match self.schedulers.entry(slot) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(ServiceScheduler::new(&entry.service)?)
            }
        };
        s.sync(entry);
        let (dst_addr, dst_port) = match service {
            ServiceKey::Addr { addr, port, .. } => (*addr, *port),
            ServiceKey::Fwmark { .. } => (client.0, 0),
        };
        let pkt = Packet::new(client.0, client.1, dst_addr, dst_port);
        let id = s.scheduler.schedule(now, &pkt, &mut self.rng)?;
        let _ = s.scheduler.on_conn_open(id);
        s.open.push_back(id);
        if s.open.len() > OPEN_CONNECTIONS_MAX {
            if let Some(old) = s.open.pop_front() {
                let _ = s.scheduler.on_conn_close(old, true);
            }
        }
        s.ids.iter().find(|(_, v)| **v == id).map(|(k, _)| *k)
    }
}

/// Weighted round-robin over destinations with weight > 0 (weight-0 ones, quiesced, get no
/// new connections — the kernel's rule for every scheduler). A reference placer for tests.
#[derive(Debug, Default)]
pub struct WeightedRoundRobin {
    next: BTreeMap<ServiceKey, u64>,
}

impl Placer for WeightedRoundRobin {
    fn place(
        &mut self,
        _now: Instant,
        _router: usize,
        service: &ServiceKey,
        entry: &ServiceEntry,
        _client: (IpAddr, u16),
    ) -> Option<DestKey> {
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
