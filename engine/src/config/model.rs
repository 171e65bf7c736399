//! The typed lvs.cf model: one struct per block, one field per key, defaults applied.
//!
//! Keys that have a default in the original hold the effective value (`keepalive` is 2 s when the
//! file says nothing). Keys without a default are `Option`s (`backup`, `sorry_server`, `send`...).
//! Comments are carried in [`Comments`] fields that never take part in equality, so
//! `parse(format(x)) == parse(x)` compares meaning only.

use core::net::{IpAddr, SocketAddr};
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::sched::Algorithm;
use crate::time::Duration;

/// The whole of lvs.cf: the global keys, then the `virtual` and `failover` blocks in file order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LvsConfig {
    /// `serial_no`: the GUI increments it on every write [0].
    pub serial_no: u64,
    /// `primary`: public IP of the primary router (required).
    pub primary: Option<IpAddr>,
    /// `primary_private`: the primary's address on the second heartbeat path [none].
    pub primary_private: Option<IpAddr>,
    /// `primary_shared`: the primary's shared-SCSI device (Piranha's SCSI reservation; unused
    /// here, kept as written) [none].
    pub primary_shared: Option<String>,
    /// `service`: `lvs` or `fos` [lvs].
    pub service: ServiceKind,
    /// `backup_active`: 1 when a backup router runs [0: no heartbeats, a backup node exits].
    pub backup_active: bool,
    /// `backup`: public IP of the backup router [none].
    pub backup: Option<IpAddr>,
    /// `backup_private`: the backup's address on the second heartbeat path [none].
    pub backup_private: Option<IpAddr>,
    /// `backup_shared`: the backup's shared-SCSI device (unused here, kept as written) [none].
    pub backup_shared: Option<String>,
    /// `reservation_conflict_action`: `nothing` or `preempt` (shared SCSI; unused here) [none].
    pub reservation_conflict_action: Option<ConflictAction>,
    /// `sync`: Piranha's file-sync flag (parsed and unused by the original too) [0].
    pub sync: bool,
    /// Host names written where the global addresses go (`primary = lvs1.example.com`): kept
    /// as written so the file round-trips; the CLI/daemon resolves them at load
    /// ([`parse_with`](super::parse_with)), never the engine.
    pub host_names: HostNames,
    /// `heartbeat`: parsed and ignored by the original (kept verbatim so the file round-trips).
    pub heartbeat: Option<String>,
    /// `heartbeat_port`: UDP port of the heartbeats [539].
    pub heartbeat_port: u16,
    /// `keepalive`: time between heartbeats [2 s; the GUI writes 6].
    #[serde(serialize_with = "secs")]
    pub keepalive: Duration,
    /// `deadtime`: silence after which the partner is declared dead [5 s; the GUI writes 18].
    #[serde(serialize_with = "secs")]
    pub deadtime: Duration,
    /// `network`: the IPVS forwarding method for every virtual server [nat].
    pub network: Network,
    /// `nat_router`: the NAT gateway address (and device) the active router brings up [none].
    pub nat_router: Option<Vip>,
    /// `nat_nmask`: netmask of the NAT router address [none].
    pub nat_nmask: Option<IpAddr>,
    /// `debug_level`: parsed and ignored by the original (kept verbatim).
    pub debug_level: Option<String>,
    /// `monitor_links`: a link down on a VIP interface is a fault [0].
    pub monitor_links: bool,
    /// `syncdaemon`: run the IPVS connection sync daemon [0].
    pub syncdaemon: bool,
    /// `syncd_iface`: interface of the sync daemon [eth0].
    pub syncd_iface: String,
    /// `syncd_id`: sync daemon id [0].
    pub syncd_id: u8,
    /// `tcp_timeout`: IPVS TCP session timeout [0 = kernel default].
    #[serde(serialize_with = "secs")]
    pub tcp_timeout: Duration,
    /// `tcpfin_timeout`: IPVS TCP FIN timeout [0 = kernel default].
    #[serde(serialize_with = "secs")]
    pub tcpfin_timeout: Duration,
    /// `udp_timeout`: IPVS UDP timeout [0 = kernel default].
    #[serde(serialize_with = "secs")]
    pub udp_timeout: Duration,
    /// `hard_shutdown`: a dead health checker stops the whole director (and so fails over) [1].
    pub hard_shutdown: bool,
    /// `rsh_command`: the remote shell used by `load_monitor = uptime` [rsh].
    pub rsh_command: String,
    /// `active_cmd`: command run on takeover [none].
    pub active_cmd: Option<String>,
    /// `inactive_cmd`: command run on giveup [none].
    pub inactive_cmd: Option<String>,
    /// `ipvsadm`: path of ipvsadm; irrelevant with netlink, kept verbatim.
    pub ipvsadm: Option<String>,
    /// `heartbeat_protocol` (new): `piranha` (legacy 4-byte) or `v2` (authenticated)
    /// [v2 when `heartbeat_key_file` is set, else piranha]; see
    /// [`LvsConfig::effective_heartbeat_protocol`].
    pub heartbeat_protocol: Option<HeartbeatProtocol>,
    /// `heartbeat_key_file` (new): file holding the shared heartbeat key [none].
    pub heartbeat_key_file: Option<String>,
    /// `failback` (new): a returning primary takes the VIPs back [0, as the original].
    pub failback: bool,
    /// `arbiter` (new): address a router must reach before it may take over
    /// (`IP` or `IP:PORT`, default port [`DEFAULT_ARBITER_PORT`]) [none].
    pub arbiter: Option<SocketAddr>,
    /// `arp_count` (new): gratuitous ARPs sent per VIP on takeover [5].
    pub arp_count: u32,
    /// `arp_interval` (new): time between those ARPs [1 s].
    #[serde(serialize_with = "secs")]
    pub arp_interval: Duration,
    /// `arp_refresh` (new): re-announce VIPs this often while active [0 = off].
    #[serde(serialize_with = "secs")]
    pub arp_refresh: Duration,
    /// `reconcile_interval` (new): compare the kernel's IPVS table with the desired one this
    /// often [5 s].
    #[serde(serialize_with = "secs")]
    pub reconcile_interval: Duration,
    /// `hot_standby` (new): the inactive router runs its nannies and keeps its IPVS table
    /// programmed (services and real servers; no VIPs, no NAT router address, no ARP) [1].
    pub hot_standby: bool,
    /// `scale_out` (new): `none` (one active director, pulse election) or `bgp` (every director
    /// active for its VIPs, each VIP announced through BIRD while it can serve) [none].
    pub scale_out: ScaleOut,
    /// `bird_socket` (new): BIRD's control socket, for `scale_out = bgp` [/run/bird/bird.ctl].
    pub bird_socket: String,
    /// `drain_timeout` (new): after a withdrawal on drain or shutdown, how long to wait for
    /// connections to finish before stopping [30 s].
    #[serde(serialize_with = "secs")]
    pub drain_timeout: Duration,
    /// The `virtual NAME { }` blocks, in file order.
    pub virtuals: Vec<VirtualServer>,
    /// The `failover NAME { }` blocks (FOS mode), in file order.
    pub failovers: Vec<Failover>,
    /// Comments: before the first global key (`header`), before each key, at the end of file.
    #[serde(skip)]
    pub comments: Comments,
}

/// The default port of the `arbiter` when the value has none.
pub const DEFAULT_ARBITER_PORT: u16 = 5390;

impl Default for LvsConfig {
    fn default() -> Self {
        LvsConfig {
            serial_no: 0,
            primary: None,
            primary_private: None,
            primary_shared: None,
            service: ServiceKind::Lvs,
            backup_active: false,
            backup: None,
            backup_private: None,
            backup_shared: None,
            reservation_conflict_action: None,
            sync: false,
            host_names: HostNames::default(),
            heartbeat: None,
            heartbeat_port: 539,
            keepalive: Duration::from_secs(2),
            deadtime: Duration::from_secs(5),
            network: Network::Nat,
            nat_router: None,
            nat_nmask: None,
            debug_level: None,
            monitor_links: false,
            syncdaemon: false,
            syncd_iface: "eth0".to_string(),
            syncd_id: 0,
            tcp_timeout: Duration::ZERO,
            tcpfin_timeout: Duration::ZERO,
            udp_timeout: Duration::ZERO,
            hard_shutdown: true,
            rsh_command: "rsh".to_string(),
            active_cmd: None,
            inactive_cmd: None,
            ipvsadm: None,
            heartbeat_protocol: None,
            heartbeat_key_file: None,
            failback: false,
            arbiter: None,
            arp_count: 5,
            arp_interval: Duration::from_secs(1),
            arp_refresh: Duration::ZERO,
            reconcile_interval: Duration::from_secs(5),
            hot_standby: true,
            scale_out: ScaleOut::None,
            bird_socket: "/run/bird/bird.ctl".to_string(),
            drain_timeout: Duration::from_secs(30),
            virtuals: Vec::new(),
            failovers: Vec::new(),
            comments: Comments::default(),
        }
    }
}

impl LvsConfig {
    /// The heartbeat protocol in force: the `heartbeat_protocol` key, else `v2` when a
    /// `heartbeat_key_file` is set, else the legacy `piranha` format.
    pub fn effective_heartbeat_protocol(&self) -> HeartbeatProtocol {
        match (self.heartbeat_protocol, &self.heartbeat_key_file) {
            (Some(p), _) => p,
            (None, Some(_)) => HeartbeatProtocol::V2,
            (None, None) => HeartbeatProtocol::Piranha,
        }
    }

    /// Number of real servers over all virtual servers.
    pub fn real_server_count(&self) -> usize {
        self.virtuals.iter().map(|v| v.servers.len()).sum()
    }

    /// The virtual server called `name`.
    pub fn virtual_server(&self, name: &str) -> Option<&VirtualServer> {
        self.virtuals.iter().find(|v| v.name == name)
    }
}

/// A `virtual NAME { }` block: one IPVS service and its health checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VirtualServer {
    /// The block's name (`virtual http {`).
    pub name: String,
    /// `active`: 1 when the service is installed [0].
    pub active: bool,
    /// `address = VIP DEVICE` (required). With a host name (`address = www eth0:1`) the
    /// address is `0.0.0.0` until resolved at load; see `address_name`.
    pub address: Option<Vip>,
    /// The host name written instead of the VIP, if any (kept for the writer).
    pub address_name: Option<String>,
    /// `vip_nmask`: netmask of the VIP [none].
    pub vip_nmask: Option<IpAddr>,
    /// `sorry_server`: used when no real server is up [none].
    pub sorry_server: Option<IpAddr>,
    /// `fwmark`: the service is a firewall mark instead of VIP:port [none].
    pub fwmark: Option<u32>,
    /// `port`: number or service name [80].
    pub port: u16,
    /// `persistent`: persistence timeout [0 = off].
    #[serde(serialize_with = "secs")]
    pub persistent: Duration,
    /// `pmask`: persistence netmask [none].
    pub pmask: Option<IpAddr>,
    /// `send`: bytes the health check writes, escapes already decoded [none].
    pub send: Option<String>,
    /// `expect`: the reply prefix (or regex, or `*`) the check wants [none].
    pub expect: Option<String>,
    /// `use_regex`: `expect` is a POSIX extended regex [0].
    pub use_regex: bool,
    /// `send_program`: external check command, `%h` host and `%p` port [none].
    pub send_program: Option<String>,
    /// `load_monitor` [none].
    pub load_monitor: LoadMonitor,
    /// `load_monitor` set to a program piranha does not know (`load_monitor = mycmd`): kept
    /// as written, and no load is monitored; `load_monitor` is then `None`.
    pub load_monitor_program: Option<String>,
    /// `scheduler` [wlc].
    pub scheduler: Algorithm,
    /// `protocol` [tcp].
    pub protocol: Protocol,
    /// `timeout`: check timeout and interval between checks [10 s].
    #[serde(serialize_with = "secs")]
    pub timeout: Duration,
    /// `reentry`: time a failed server must pass checks before readmission [180 s].
    #[serde(serialize_with = "secs")]
    pub reentry: Duration,
    /// `quiesce_server`: a failed server keeps its entry with weight 0 [0].
    pub quiesce_server: bool,
    /// `retries` (new): failed checks in a row before a server is removed, beyond the first [0].
    pub retries: u32,
    /// `scheduler_flags` (new): `sh-fallback`, `sh-port`, `mh-fallback`, `mh-port` [none].
    pub scheduler_flags: BTreeSet<SchedulerFlag>,
    /// `client_monitor`: the health checker program of the original (`/usr/sbin/nanny`);
    /// piranha's checks are built in, so it is kept as written and unused [none].
    pub client_monitor: Option<String>,
    /// `start_cmd`: used by the original only in `failover` blocks; kept as written [none].
    pub start_cmd: Option<String>,
    /// `stop_cmd`: likewise [none].
    pub stop_cmd: Option<String>,
    /// `master`: the original's failover-service master host, kept as written [none].
    pub master: Option<String>,
    /// `dirs = [ a b ]`: the original's failover-service directories, kept as written [none].
    pub dirs: Vec<String>,
    /// The `server NAME { }` blocks, in file order.
    pub servers: Vec<RealServer>,
    /// Comments before the block (`header`), before each key, and before the closing `}`.
    #[serde(skip)]
    pub comments: Comments,
}

impl VirtualServer {
    /// A virtual server with every key at its default.
    pub fn new(name: impl Into<String>) -> Self {
        VirtualServer {
            name: name.into(),
            active: false,
            address: None,
            address_name: None,
            vip_nmask: None,
            sorry_server: None,
            fwmark: None,
            port: 80,
            persistent: Duration::ZERO,
            pmask: None,
            send: None,
            expect: None,
            use_regex: false,
            send_program: None,
            load_monitor: LoadMonitor::None,
            load_monitor_program: None,
            scheduler: Algorithm::Wlc,
            protocol: Protocol::Tcp,
            timeout: Duration::from_secs(10),
            reentry: Duration::from_secs(180),
            quiesce_server: false,
            retries: 0,
            scheduler_flags: BTreeSet::new(),
            client_monitor: None,
            start_cmd: None,
            stop_cmd: None,
            master: None,
            dirs: Vec::new(),
            servers: Vec::new(),
            comments: Comments::default(),
        }
    }
}

/// A `server NAME { }` block inside a virtual server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RealServer {
    /// The block's name.
    pub name: String,
    /// `address` (required); `None` while a host name is unresolved (see `address_name`).
    pub address: Option<IpAddr>,
    /// The host name written instead of the address, if any (kept for the writer).
    pub address_name: Option<String>,
    /// `active`: 1 when the server takes part [0].
    pub active: bool,
    /// `weight` [1].
    pub weight: u32,
    /// `port` [none: the virtual server's port]; see [`RealServer::port_or`].
    pub port: Option<u16>,
    /// Comments before the block, before each key, and before the closing `}`.
    #[serde(skip)]
    pub comments: Comments,
}

impl RealServer {
    /// A real server with every key at its default.
    pub fn new(name: impl Into<String>) -> Self {
        RealServer {
            name: name.into(),
            address: None,
            address_name: None,
            active: false,
            weight: 1,
            port: None,
            comments: Comments::default(),
        }
    }

    /// The port connections go to: its own `port`, else the virtual server's.
    pub fn port_or(&self, virtual_server: &VirtualServer) -> u16 {
        self.port.unwrap_or(virtual_server.port)
    }
}

/// A `failover NAME { }` block (FOS mode: a service moved between the routers, no IPVS).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Failover {
    /// The block's name.
    pub name: String,
    /// `address = IP DEVICE` of the service [none]; `0.0.0.0` while a host name is unresolved.
    pub address: Option<Vip>,
    /// The host name written instead of the address, if any (kept for the writer).
    pub address_name: Option<String>,
    /// `active` [0].
    pub active: bool,
    /// `port` [0].
    pub port: u16,
    /// `send` [none].
    pub send: Option<String>,
    /// `expect` [none].
    pub expect: Option<String>,
    /// `use_regex` [0].
    pub use_regex: bool,
    /// `send_program` [none].
    pub send_program: Option<String>,
    /// `timeout` [10 s].
    #[serde(serialize_with = "secs")]
    pub timeout: Duration,
    /// `start_cmd`: starts the service on takeover [none].
    pub start_cmd: Option<String>,
    /// `stop_cmd`: stops it on giveup [none].
    pub stop_cmd: Option<String>,
    /// The keys of a `virtual` block the original also read in a `failover` block
    /// (`reentry`, `vip_nmask`, `scheduler`...): unused in FOS mode, kept as written, by key
    /// name, each value in its canonical form.
    pub extra: BTreeMap<String, String>,
    /// `server NAME { }` blocks inside the failover block: the original parsed them there;
    /// unused in FOS mode, kept as written.
    pub servers: Vec<RealServer>,
    /// Comments before the block, before each key, and before the closing `}`.
    #[serde(skip)]
    pub comments: Comments,
}

impl Failover {
    /// A failover service with every key at its default.
    pub fn new(name: impl Into<String>) -> Self {
        Failover {
            name: name.into(),
            address: None,
            address_name: None,
            active: false,
            port: 0,
            send: None,
            expect: None,
            use_regex: false,
            send_program: None,
            timeout: Duration::from_secs(10),
            start_cmd: None,
            stop_cmd: None,
            extra: BTreeMap::new(),
            servers: Vec::new(),
            comments: Comments::default(),
        }
    }
}

/// Host names written where an address of the global block goes, as written (`None`: the
/// key holds a literal address or is absent).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HostNames {
    /// `primary`.
    pub primary: Option<String>,
    /// `primary_private`.
    pub primary_private: Option<String>,
    /// `backup`.
    pub backup: Option<String>,
    /// `backup_private`.
    pub backup_private: Option<String>,
    /// `nat_router` (its address is `0.0.0.0` until resolved).
    pub nat_router: Option<String>,
}

/// `reservation_conflict_action`: what the original did on a shared-SCSI reservation conflict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConflictAction {
    /// Keep running.
    Nothing,
    /// Preempt the other node's reservation.
    Preempt,
}

/// An address brought up on a device: `address = 192.168.26.10 eth0:1` (also `nat_router`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Vip {
    /// The address.
    pub ip: IpAddr,
    /// The interface, possibly an alias (`eth0:1`).
    pub device: String,
}

/// `scale_out`: how directors share the VIPs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScaleOut {
    /// One active director (pulse election), the original's model.
    None,
    /// Every director active; each VIP announced over BGP (by BIRD) while this director can
    /// serve it, and routers spread flows over the directors by ECMP.
    Bgp,
}

/// `network`: how IPVS forwards to the real servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// Direct routing (`ipvsadm -g`).
    Direct,
    /// Masquerading (`ipvsadm -m`), Piranha's default.
    Nat,
    /// IP-in-IP tunnelling (`ipvsadm -i`).
    Tunnel,
}

/// `protocol` of a virtual server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP (default).
    Tcp,
    /// UDP.
    Udp,
}

/// `load_monitor`: how the real servers' load is fetched to adjust weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadMonitor {
    /// No load monitoring (default).
    None,
    /// `rsh_command host uptime`.
    Uptime,
    /// `rup host`.
    Rup,
    /// `ruptime`.
    Ruptime,
    /// `ssh HOST uptime` (the original's nanny ran `ssh` itself; piranha runs
    /// `rsh_command HOST uptime`, so set `rsh_command = ssh`).
    Ssh,
    /// `rsh HOST uptime` (likewise through `rsh_command`).
    Rsh,
}

/// `heartbeat_protocol`: the heartbeat wire format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HeartbeatProtocol {
    /// The original 4-byte magic, unauthenticated.
    Piranha,
    /// Versioned, HMAC-SHA256 authenticated heartbeats.
    V2,
}

/// `service`: what the routers do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceKind {
    /// Load balancing with IPVS (default).
    Lvs,
    /// Failover services (`failover` blocks), no IPVS.
    Fos,
}

/// One of the IPVS scheduler flags (`ipvsadm -b`), valid only with its scheduler.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum SchedulerFlag {
    /// `sh-fallback`: sh skips unavailable servers.
    #[serde(rename = "sh-fallback")]
    ShFallback,
    /// `sh-port`: sh hashes the source port too.
    #[serde(rename = "sh-port")]
    ShPort,
    /// `mh-fallback`: mh skips unavailable servers.
    #[serde(rename = "mh-fallback")]
    MhFallback,
    /// `mh-port`: mh hashes the source port too.
    #[serde(rename = "mh-port")]
    MhPort,
}

impl SchedulerFlag {
    /// Every flag.
    pub const ALL: [SchedulerFlag; 4] = [
        SchedulerFlag::ShFallback,
        SchedulerFlag::ShPort,
        SchedulerFlag::MhFallback,
        SchedulerFlag::MhPort,
    ];

    /// The name used in lvs.cf and by ipvsadm.
    pub const fn as_str(self) -> &'static str {
        match self {
            SchedulerFlag::ShFallback => "sh-fallback",
            SchedulerFlag::ShPort => "sh-port",
            SchedulerFlag::MhFallback => "mh-fallback",
            SchedulerFlag::MhPort => "mh-port",
        }
    }

    /// The only scheduler the flag applies to.
    pub const fn scheduler(self) -> Algorithm {
        match self {
            SchedulerFlag::ShFallback | SchedulerFlag::ShPort => Algorithm::Sh,
            SchedulerFlag::MhFallback | SchedulerFlag::MhPort => Algorithm::Mh,
        }
    }
}

/// Comment lines kept for the canonical writer. They never affect equality (`==` is always
/// true), so two configs that differ only in comments are equal.
#[derive(Clone, Debug, Default)]
pub struct Comments {
    /// Lines before the block header (for the globals: before the first key).
    pub header: Vec<String>,
    /// Lines before a key, by key name; written before that key wherever the writer puts it.
    pub keys: BTreeMap<String, Vec<String>>,
    /// Lines before the closing `}` (for the globals: at the end of the file).
    pub end: Vec<String>,
}

impl Comments {
    /// No comment at all.
    pub fn is_empty(&self) -> bool {
        self.header.is_empty() && self.keys.is_empty() && self.end.is_empty()
    }
}

impl PartialEq for Comments {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}
impl Eq for Comments {}

/// Serialize a duration as (fractional) seconds, the unit lvs.cf uses.
fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    if Duration::from_secs(d.as_secs()) == *d {
        s.serialize_u64(d.as_secs())
    } else {
        s.serialize_f64(d.as_secs_f64())
    }
}
