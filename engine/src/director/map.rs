//! From lvs.cf ([`LvsConfig`]) to what the director's machines take: [`PulseConfig`] for pulse,
//! [`VirtualSpec`]s for lvs and the nannies, the VIPs, commands and IPVS globals.
//!
//! This is the one place where lvs.cf's words meet the engine's: a key's meaning is decided
//! here, once, for the daemon, the simulator and the web tool's preview alike.

use std::net::IpAddr;

use crate::config::{self, LvsConfig, SchedulerFlag};
use crate::ipvs::{Family, Forwarding, Protocol, ServiceFlags, ServiceKey};
use crate::lvs::{HealthSpec, RealSpec, VirtualSpec};
use crate::nanny::{Check, CheckProtocol, LoadMonitor};
use crate::ports::{IpvsTimeouts, SyncDaemon, VipAddr};
use crate::pulse::{
    Address, ArbiterConfig, ArpConfig, HeartbeatProtocol, PulseConfig, Role, RouterAddrs,
};
use crate::time::Duration;
use crate::wire::v2::Key;

use super::DirectorConfig;

/// Why lvs.cf cannot drive a director (beyond what `piranha check` already rejects).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// `service = fos` (Piranha's failover services) is parsed but not run.
    #[error(
        "service = fos (failover services) is not supported by this director; use service = lvs"
    )]
    FosUnsupported,
    /// No `primary`.
    #[error("primary is not set")]
    NoPrimary,
    /// A pair needs `backup` unless `backup_active = 0`.
    #[error("backup is not set (needed with backup_active = 1)")]
    NoBackup,
    /// The v2 heartbeat protocol (or fail-back, or an arbiter) needs a key.
    #[error("heartbeat_protocol = v2 needs heartbeat_key_file (fail-back and arbiter need v2)")]
    NoKey,
    /// A virtual server's check cannot be built (bad regex, empty program).
    #[error("virtual {virtual_name}: {reason}")]
    BadCheck {
        /// The virtual server.
        virtual_name: String,
        /// What is wrong.
        reason: String,
    },
    /// A virtual server has no address (and no fwmark).
    #[error("virtual {0}: no address")]
    NoAddress(String),
    /// A pulse setting is out of range.
    #[error("{0}")]
    Pulse(String),
}

/// Lease granted by the witness when lvs.cf names an `arbiter`: long enough to ride out a lost
/// renewal or two at the default keepalive, short enough that a dead holder is replaced quickly.
pub fn arbiter_lease(keepalive: Duration, deadtime: Duration) -> Duration {
    deadtime.max(keepalive.saturating_mul(4))
}

/// The role this node plays, from the addresses its interfaces hold (Piranha: a node is primary
/// if one of its interfaces holds `primary`, backup if one holds `backup`).
pub fn role_for(cfg: &LvsConfig, local_addrs: &[IpAddr]) -> Option<Role> {
    let holds = |a: Option<IpAddr>| a.is_some_and(|a| local_addrs.contains(&a));
    if holds(cfg.primary) || holds(cfg.primary_private) {
        Some(Role::Primary)
    } else if holds(cfg.backup) || holds(cfg.backup_private) {
        Some(Role::Backup)
    } else {
        None
    }
}

fn prefix_len(mask: Option<IpAddr>, ip: &IpAddr) -> u8 {
    match mask {
        Some(IpAddr::V4(m)) => u32::from(m).count_ones() as u8,
        Some(IpAddr::V6(m)) => u128::from(m).count_ones() as u8,
        None => match ip {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        },
    }
}

fn argv(cmd: &Option<String>) -> Option<Vec<String>> {
    let v: Vec<String> = cmd
        .as_deref()?
        .split_whitespace()
        .map(str::to_string)
        .collect();
    (!v.is_empty()).then_some(v)
}

fn forwarding(network: config::Network) -> Forwarding {
    match network {
        config::Network::Nat => Forwarding::Masq,
        config::Network::Direct => Forwarding::DirectRoute,
        config::Network::Tunnel => Forwarding::Tunnel,
    }
}

fn virtual_spec(v: &config::VirtualServer, fwd: Forwarding) -> Result<VirtualSpec, MapError> {
    let protocol = match v.protocol {
        config::Protocol::Tcp => Protocol::Tcp,
        config::Protocol::Udp => Protocol::Udp,
    };
    let key = match (v.fwmark, &v.address) {
        (Some(mark), addr) => ServiceKey::Fwmark {
            family: addr.as_ref().map_or(Family::Inet, |a| Family::of(&a.ip)),
            mark,
        },
        (None, Some(addr)) => ServiceKey::Addr {
            protocol,
            addr: addr.ip,
            port: v.port,
        },
        (None, None) => return Err(MapError::NoAddress(v.name.clone())),
    };
    let mut flags = ServiceFlags::NONE;
    for f in &v.scheduler_flags {
        flags = flags.with(match f {
            SchedulerFlag::ShFallback | SchedulerFlag::MhFallback => ServiceFlags::SCHED1,
            SchedulerFlag::ShPort | SchedulerFlag::MhPort => ServiceFlags::SCHED2,
        });
    }
    let netmask = match v.pmask {
        Some(IpAddr::V4(m)) => Some(u32::from(m)),
        Some(IpAddr::V6(m)) => Some(u128::from(m).count_ones()),
        None => None,
    };
    let check_protocol = match v.protocol {
        config::Protocol::Tcp => CheckProtocol::Tcp,
        config::Protocol::Udp => CheckProtocol::Udp,
    };
    let check = Check::from_config(
        check_protocol,
        v.port,
        v.send.as_deref().map(str::as_bytes),
        v.expect.as_deref().map(str::as_bytes),
        v.use_regex,
        v.send_program.as_deref(),
    )
    .map_err(|e| MapError::BadCheck {
        virtual_name: v.name.clone(),
        reason: e.to_string(),
    })?;
    let load_monitor = match v.load_monitor {
        config::LoadMonitor::None => LoadMonitor::None,
        config::LoadMonitor::Uptime => LoadMonitor::Uptime,
        config::LoadMonitor::Rup => LoadMonitor::Rup,
        config::LoadMonitor::Ruptime => LoadMonitor::Ruptime,
        // `rsh_command HOST uptime`; `piranha check` warns when rsh_command is not the word.
        config::LoadMonitor::Ssh | config::LoadMonitor::Rsh => LoadMonitor::Uptime,
    };
    Ok(VirtualSpec {
        name: v.name.clone(),
        active: v.active,
        key,
        scheduler: v.scheduler,
        flags,
        persistence_s: u32::try_from(v.persistent.as_secs()).unwrap_or(u32::MAX),
        netmask,
        forwarding: fwd,
        sorry_server: v.sorry_server.map(|ip| (ip, v.port)),
        health: HealthSpec {
            timeout: v.timeout,
            reentry: v.reentry,
            retries: v.retries,
            quiesce_server: v.quiesce_server,
            load_monitor,
            check,
        },
        servers: v
            .servers
            .iter()
            .filter_map(|s| {
                Some(RealSpec {
                    name: s.name.clone(),
                    addr: s.address?,
                    port: s.port.unwrap_or(v.port),
                    weight: s.weight,
                    active: s.active,
                })
            })
            .collect(),
    })
}

impl DirectorConfig {
    /// Map a parsed (and validated) lvs.cf. `key` is the content of `heartbeat_key_file`, read
    /// by the driver (the engine does no I/O).
    pub fn from_lvs_cf(cfg: &LvsConfig, key: Option<&[u8]>) -> Result<DirectorConfig, MapError> {
        if cfg.service == config::ServiceKind::Fos {
            return Err(MapError::FosUnsupported);
        }
        let primary = cfg.primary.ok_or(MapError::NoPrimary)?;
        // A lone router (backup_active = 0, or `backup = 0.0.0.0` as the original GUI writes
        // when redundancy is off) has no partner: no heartbeats; it becomes active after
        // deadtime, as Piranha's primary does.
        let backup = cfg.backup.filter(|b| !b.is_unspecified());
        let no_partner = !cfg.backup_active || (backup.is_none() && cfg.backup.is_some());
        let backup = match backup {
            Some(b) => b,
            None if no_partner => primary,
            None => return Err(MapError::NoBackup),
        };
        let wants_v2 = match cfg.heartbeat_protocol {
            Some(config::HeartbeatProtocol::V2) => true,
            Some(config::HeartbeatProtocol::Piranha) => false,
            None => cfg.heartbeat_key_file.is_some(),
        };
        let protocol = if wants_v2 {
            let bytes = key.ok_or(MapError::NoKey)?;
            HeartbeatProtocol::V2(Key::new(bytes).map_err(|_| MapError::NoKey)?)
        } else {
            HeartbeatProtocol::Legacy
        };
        let fwd = forwarding(cfg.network);
        let mut vips: Vec<VipAddr> = Vec::new();
        let mut virtuals = Vec::with_capacity(cfg.virtuals.len());
        for v in &cfg.virtuals {
            let spec = virtual_spec(v, fwd)?;
            if v.active {
                if let Some(a) = &v.address {
                    let vip = VipAddr {
                        ip: a.ip,
                        prefix_len: prefix_len(v.vip_nmask, &a.ip),
                        device: a.device.clone(),
                    };
                    if !vips.iter().any(|x| x.ip == vip.ip) {
                        vips.push(vip);
                    }
                }
            }
            virtuals.push(spec);
        }
        let nat_router = match (cfg.network, &cfg.nat_router) {
            (config::Network::Nat, Some(r)) => Some(VipAddr {
                ip: r.ip,
                prefix_len: prefix_len(cfg.nat_nmask, &r.ip),
                device: r.device.clone(),
            }),
            _ => None,
        };
        let mut addresses = Vec::new();
        if nat_router.is_some() {
            addresses.push(Address::NatRouter);
        }
        addresses.push(Address::Vip(super::ALL_VIPS));
        // The private path needs both addresses; with one of them it is unused (`piranha check`
        // warns), as the original ignored a `backup_private` without `primary_private`.
        let both_private = cfg.primary_private.is_some() && cfg.backup_private.is_some();
        let mut pulse = PulseConfig::new(
            RouterAddrs {
                public: primary,
                private: cfg.primary_private.filter(|_| both_private),
            },
            RouterAddrs {
                public: backup,
                private: if no_partner {
                    cfg.primary_private.filter(|_| both_private)
                } else {
                    cfg.backup_private.filter(|_| both_private)
                },
            },
        );
        pulse.heartbeat_port = cfg.heartbeat_port;
        pulse.keepalive = cfg.keepalive;
        pulse.deadtime = cfg.deadtime;
        pulse.protocol = protocol;
        pulse.serial_no = cfg.serial_no;
        pulse.failback = cfg.failback;
        pulse.arbiter = cfg.arbiter.map(|address| ArbiterConfig {
            address,
            lease: arbiter_lease(cfg.keepalive, cfg.deadtime),
            safety_margin: cfg.keepalive.div(2),
        });
        pulse.arp = ArpConfig {
            count: cfg.arp_count,
            interval: cfg.arp_interval,
            refresh: (cfg.arp_refresh > Duration::ZERO).then_some(cfg.arp_refresh),
        };
        pulse.syncdaemon = cfg.syncdaemon;
        pulse.addresses = addresses;
        pulse.no_partner = no_partner;
        pulse
            .validate()
            .map_err(|e| MapError::Pulse(e.to_string()))?;
        Ok(DirectorConfig {
            pulse,
            virtuals,
            vips,
            nat_router,
            active_cmd: argv(&cfg.active_cmd),
            inactive_cmd: argv(&cfg.inactive_cmd),
            timeouts: IpvsTimeouts {
                tcp: cfg.tcp_timeout,
                tcp_fin: cfg.tcpfin_timeout,
                udp: cfg.udp_timeout,
            },
            sync_daemon: cfg
                .syncdaemon
                .then(|| (cfg.syncd_iface.clone(), cfg.syncd_id)),
            reconcile_interval: cfg.reconcile_interval,
            hard_shutdown: cfg.hard_shutdown,
            hot_standby: cfg.hot_standby,
        })
    }

    /// What a director runs with `syncdaemon = 1`: master and backup at once, on both routers
    /// (see [`SyncDaemon::Both`]); `None` when `syncdaemon = 0`.
    pub fn sync_daemon_both(&self) -> Option<SyncDaemon> {
        let (iface, sync_id) = self.sync_daemon.clone()?;
        Some(SyncDaemon::Both { iface, sync_id })
    }

    /// The sync daemon state for a role (`None` when `syncdaemon = 0`).
    pub fn sync_daemon_state(&self, master: bool) -> Option<SyncDaemon> {
        let (iface, sync_id) = self.sync_daemon.clone()?;
        Some(if master {
            SyncDaemon::Master { iface, sync_id }
        } else {
            SyncDaemon::Backup { iface, sync_id }
        })
    }
}
