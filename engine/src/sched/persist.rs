//! Persistence (`ipvsadm -p TIMEOUT -M NETMASK`): connection templates in front of any
//! scheduler (ip_vs_core.c `ip_vs_sched_persist`, ip_vs_conn.c `ip_vs_check_template`).
//!
//! A template maps the client address masked by the persistence netmask to a destination.
//! A new connection whose client matches a live template goes to the template's
//! destination without asking the scheduler — even if that destination is quiesced
//! (weight 0) or overloaded, as in the kernel — unless the destination left the service,
//! or `expire_quiescent_template` (the sysctl) is set and its weight is 0. Otherwise the
//! scheduler decides and a template is created.
//!
//! Time: a template lives `timeout` after its last use. The kernel also keeps a template
//! alive while connections it controls are open (`n_control`); that is not modelled, so
//! long-lived connections do not extend it here. Expired templates are swept whenever the
//! map doubles, so it stays bounded by the live clients.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::collections::HashMap;

use core::hash::BuildHasherDefault;

use super::dest::{DestId, Dests};
use super::locality::{addr_key, FixedHasher};
use super::{Duration, Instant, Packet};

/// The persistence netmask: IPv4 as a mask (`-M 255.255.255.0`), IPv6 as a prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Netmask {
    /// IPv4 mask (default 255.255.255.255).
    pub v4: Ipv4Addr,
    /// IPv6 prefix length, 0 ..= 128 (default 128).
    pub v6_prefix: u8,
}

impl Default for Netmask {
    fn default() -> Self {
        Netmask {
            v4: Ipv4Addr::BROADCAST,
            v6_prefix: 128,
        }
    }
}

impl Netmask {
    /// The client network an address belongs to.
    pub fn apply(&self, addr: IpAddr) -> IpAddr {
        match addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & u32::from(self.v4))),
            IpAddr::V6(a) => {
                let p = u32::from(self.v6_prefix.min(128));
                let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
            }
        }
    }
}

/// A persistent service's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PersistenceConfig {
    /// Persistence timeout (`-p`, kernel default 300 s).
    pub timeout: Duration,
    /// Client grouping (`-M`).
    pub netmask: Netmask,
    /// The `expire_quiescent_template` sysctl: drop templates pointing at weight-0 servers.
    pub expire_quiescent_template: bool,
}

impl PersistenceConfig {
    /// `timeout` with a host netmask and the kernel's default sysctl (off).
    pub fn new(timeout: Duration) -> Self {
        PersistenceConfig {
            timeout,
            netmask: Netmask::default(),
            expire_quiescent_template: false,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Template {
    dest: DestId,
    expires: Instant,
}

/// The template table.
#[derive(Debug)]
pub(crate) struct Templates {
    config: PersistenceConfig,
    map: HashMap<u128, Template, BuildHasherDefault<FixedHasher>>,
    next_sweep: usize,
}

impl Templates {
    pub(crate) fn new(config: PersistenceConfig) -> Self {
        Templates {
            config,
            map: HashMap::default(),
            next_sweep: 1024,
        }
    }

    /// A live template's destination for this client, refreshing it.
    pub(crate) fn lookup(&mut self, d: &Dests, now: Instant, pkt: &Packet) -> Option<DestId> {
        let key = addr_key(self.config.netmask.apply(pkt.src_addr));
        let t = self.map.get_mut(&key)?;
        let st = d.state(t.dest);
        let quiesced = self.config.expire_quiescent_template && st.weight == 0;
        if now >= t.expires || !st.available || quiesced {
            self.map.remove(&key);
            return None;
        }
        t.expires = now.checked_add(self.config.timeout).unwrap_or(Instant::MAX);
        Some(t.dest)
    }

    pub(crate) fn insert(&mut self, now: Instant, pkt: &Packet, dest: DestId) {
        let key = addr_key(self.config.netmask.apply(pkt.src_addr));
        let expires = now.checked_add(self.config.timeout).unwrap_or(Instant::MAX);
        self.map.insert(key, Template { dest, expires });
        if self.map.len() >= self.next_sweep {
            self.map.retain(|_, t| now < t.expires);
            self.next_sweep = (self.map.len() * 2).max(1024);
        }
    }
}
