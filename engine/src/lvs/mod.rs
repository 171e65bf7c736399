//! lvs: what the IPVS table must hold, from the virtual servers' specs and the nannies' states.
//!
//! Piranha's lvsd added each active virtual server as a service, started a nanny per active real
//! server, and let the nannies add and remove real servers; when none of a virtual's real
//! servers was up it added the `sorry_server`. Here the same decisions are one pure function,
//! [`desired_table`], whose output `ipvs::reconcile` diffs against the kernel's dump, and a
//! reload is [`reload_plan`] (which nannies to keep, retune, start and stop) plus that same diff
//! (so a changed scheduler or persistence is re-applied, which the original forgot).

pub mod reload;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::IpAddr;

pub use reload::{nanny_configs, reload_plan, ReloadPlan};

use crate::ipvs::{Dest, Forwarding, Service, ServiceFlags, ServiceKey, Table};
use crate::nanny::{Check, LoadMonitor, NannyConfig, RealState};
use crate::sched::Algorithm;
use crate::time::Duration;

/// The health-check part of a virtual server: shared by all its real servers' nannies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthSpec {
    /// Probe deadline and interval (lvs.cf `timeout`).
    pub timeout: Duration,
    /// lvs.cf `reentry`.
    pub reentry: Duration,
    /// Consecutive failures tolerated (new key `retries`, default 0).
    pub retries: u32,
    /// lvs.cf `quiesce_server`.
    pub quiesce_server: bool,
    /// lvs.cf `load_monitor`.
    pub load_monitor: LoadMonitor,
    /// `send`/`expect`/`use_regex`/`send_program`, see [`Check::from_config`].
    pub check: Check,
}

/// A real server of a virtual server (lvs.cf `server NAME { }`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealSpec {
    /// Its name in lvs.cf.
    pub name: String,
    /// `address`.
    pub addr: IpAddr,
    /// `port` (the virtual's port when not given; the config layer fills it in).
    pub port: u16,
    /// `weight` (default 1).
    pub weight: u32,
    /// `active`: inactive real servers get no nanny and no table entry.
    pub active: bool,
}

/// A virtual server (lvs.cf `virtual NAME { }`) as the engine needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualSpec {
    /// Its name in lvs.cf.
    pub name: String,
    /// `active`: inactive virtual servers get no service and no nannies.
    pub active: bool,
    /// VIP + protocol + port, or fwmark.
    pub key: ServiceKey,
    /// `scheduler`.
    pub scheduler: Algorithm,
    /// Extra service flags (ONEPACKET, scheduler flags); PERSISTENT follows `persistence_s`.
    pub flags: ServiceFlags,
    /// `persistent` seconds (0 = off).
    pub persistence_s: u32,
    /// `pmask` (see [`Service::netmask`] for the encoding); `None` = the full mask.
    pub netmask: Option<u32>,
    /// From the global `network` (nat → Masq, direct → DirectRoute, tunnel → Tunnel).
    pub forwarding: Forwarding,
    /// `sorry_server` address and port (weight 1 when no real server is up).
    pub sorry_server: Option<(IpAddr, u16)>,
    /// The checks.
    pub health: HealthSpec,
    /// Real servers, in file order.
    pub servers: Vec<RealSpec>,
}

/// Identity of a nanny / real server across reloads: the virtual service it belongs to (VIP +
/// protocol + port, as Piranha matched virtuals) and the real server's address and port.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct RealId {
    /// The virtual service.
    pub service: ServiceKey,
    /// Real server address.
    pub addr: IpAddr,
    /// Real server port.
    pub port: u16,
}

impl RealId {
    /// A per-nanny seed for the first check's jitter, from the director's seed and this
    /// identity (FNV-1a over the fields): stable across reloads and restarts, different for
    /// every real server, so nannies started together spread over one interval.
    pub fn nanny_seed(&self, base_seed: u64) -> u64 {
        let mut bytes: Vec<u8> = Vec::with_capacity(48);
        bytes.extend_from_slice(&base_seed.to_le_bytes());
        match self.service {
            ServiceKey::Addr {
                protocol,
                addr,
                port,
            } => {
                bytes.push(protocol.number());
                push_addr(&mut bytes, &addr);
                bytes.extend_from_slice(&port.to_le_bytes());
            }
            ServiceKey::Fwmark { family, mark } => {
                bytes.extend_from_slice(&family.number().to_le_bytes());
                bytes.extend_from_slice(&mark.to_le_bytes());
            }
        }
        push_addr(&mut bytes, &self.addr);
        bytes.extend_from_slice(&self.port.to_le_bytes());
        bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    }
}

fn push_addr(bytes: &mut Vec<u8>, addr: &IpAddr) {
    match addr {
        IpAddr::V4(a) => bytes.extend_from_slice(&a.octets()),
        IpAddr::V6(a) => bytes.extend_from_slice(&a.octets()),
    }
}

impl VirtualSpec {
    /// The IPVS service for this virtual server.
    pub fn service(&self) -> Service {
        let mut svc = Service::new(self.key, self.scheduler);
        svc.flags = self.flags.without(ServiceFlags::HASHED);
        if self.persistence_s > 0 {
            svc.flags = svc.flags.with(ServiceFlags::PERSISTENT);
        } else {
            svc.flags = svc.flags.without(ServiceFlags::PERSISTENT);
        }
        svc.timeout_s = self.persistence_s;
        if let Some(mask) = self.netmask {
            svc.netmask = mask;
        }
        svc
    }

    /// The identity of one of its real servers.
    pub fn real_id(&self, real: &RealSpec) -> RealId {
        RealId {
            service: self.key,
            addr: real.addr,
            port: real.port,
        }
    }

    /// The nanny configuration for one of its real servers.
    pub fn nanny_config(&self, real: &RealSpec) -> NannyConfig {
        NannyConfig {
            timeout: self.health.timeout,
            reentry: self.health.reentry,
            retries: self.health.retries,
            weight: real.weight,
            quiesce_server: self.health.quiesce_server,
            load_monitor: self.health.load_monitor,
            check: self.health.check.clone(),
        }
    }

    /// Its active real servers, first of each identity (duplicates are the validator's
    /// business; the first one wins everywhere).
    pub fn active_servers(&self) -> impl Iterator<Item = &RealSpec> {
        let mut seen: Vec<(IpAddr, u16)> = Vec::new();
        self.servers.iter().filter(move |r| {
            if !r.active || seen.contains(&(r.addr, r.port)) {
                return false;
            }
            seen.push((r.addr, r.port));
            true
        })
    }
}

/// The active virtual servers, first of each service key.
pub fn active_virtuals(specs: &[VirtualSpec]) -> impl Iterator<Item = &VirtualSpec> {
    let mut seen: BTreeMap<ServiceKey, ()> = BTreeMap::new();
    specs
        .iter()
        .filter(move |v| v.active && seen.insert(v.key, ()).is_none())
}

/// The table the kernel must hold: one service per active virtual server; a destination per
/// active real server whose nanny puts it in the table, at the nanny's weight (ramped,
/// load-adjusted, 0 when quiesced or drained); and the sorry server (weight 1) while no real
/// server of that virtual is serving (in the table with a weight above 0). A real server whose
/// state is unknown to `state` (no nanny yet) is not in the table.
pub fn desired_table<F>(specs: &[VirtualSpec], state: F) -> Table
where
    F: Fn(&RealId) -> Option<RealState>,
{
    let mut table = Table::new();
    for virt in active_virtuals(specs) {
        table.upsert_service(virt.service());
        let mut serving = false;
        for real in virt.active_servers() {
            let Some(st) = state(&virt.real_id(real)) else {
                continue;
            };
            if !st.in_table {
                continue;
            }
            serving |= st.serving();
            let dest = Dest::new(real.addr, real.port, virt.forwarding, st.weight);
            table.upsert_dest(&virt.key, dest);
        }
        if let (false, Some((addr, port))) = (serving, virt.sorry_server) {
            table.upsert_dest(&virt.key, Dest::new(addr, port, virt.forwarding, 1));
        }
    }
    table
}
