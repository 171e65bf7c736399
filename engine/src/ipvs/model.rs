//! The IPVS table in the kernel's own shape (include/uapi/linux/ip_vs.h), and the kernel's rules
//! for changing it.
//!
//! The same types describe what the netlink backend dumps, what `lvs` wants, and what the
//! simulator keeps as its in-memory kernel: [`Table::apply`] accepts and refuses [`Op`]s as
//! `ip_vs_ctl.c` does, with the errno the kernel would return.

use core::cmp::Ordering;
use core::fmt;
use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::sched::Algorithm;

/// The transport protocol of an address-based virtual service.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Protocol {
    /// TCP (IPPROTO_TCP 6).
    Tcp,
    /// UDP (IPPROTO_UDP 17).
    Udp,
    /// SCTP (IPPROTO_SCTP 132).
    Sctp,
}

impl Protocol {
    /// The IP protocol number the kernel uses.
    pub const fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }
    /// The name `ipvsadm -L` prints (`TCP`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

/// An address family (AF_INET 2 / AF_INET6 10).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Family {
    /// IPv4.
    Inet,
    /// IPv6.
    Inet6,
}

impl Family {
    /// The family of an address.
    pub const fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::Inet,
            IpAddr::V6(_) => Family::Inet6,
        }
    }
    /// The kernel's AF_* number.
    pub const fn number(self) -> u16 {
        match self {
            Family::Inet => 2,
            Family::Inet6 => 10,
        }
    }
    /// The netmask meaning "no persistence granularity": `0xffffffff` for IPv4 (a be32 mask),
    /// `128` for IPv6 (a prefix length).
    pub const fn full_netmask(self) -> u32 {
        match self {
            Family::Inet => u32::MAX,
            Family::Inet6 => 128,
        }
    }
}

/// Identity of a virtual service: what the kernel looks services up by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ServiceKey {
    /// `-t/-u/--sctp-service VIP:port`.
    Addr {
        /// Transport protocol.
        protocol: Protocol,
        /// The VIP.
        addr: IpAddr,
        /// The virtual port (0 = all ports, with persistence).
        port: u16,
    },
    /// `-f MARK`: packets marked by netfilter, of one address family.
    Fwmark {
        /// Address family of the service.
        family: Family,
        /// The firewall mark (non-zero).
        mark: u32,
    },
}

impl ServiceKey {
    /// The service's address family.
    pub const fn family(&self) -> Family {
        match self {
            ServiceKey::Addr { addr, .. } => Family::of(addr),
            ServiceKey::Fwmark { family, .. } => *family,
        }
    }
    /// The port destinations default to (`0` for fwmark services).
    pub const fn port(&self) -> u16 {
        match self {
            ServiceKey::Addr { port, .. } => *port,
            ServiceKey::Fwmark { .. } => 0,
        }
    }
    /// `(fwmark, af, protocol, addr, port)`: ipvsadm's listing order (`ipvs_cmp_services`):
    /// address services (fwmark 0) first, then by family, protocol, address, port.
    fn sort_tuple(&self) -> (u32, u16, u8, u128, u16) {
        match self {
            ServiceKey::Addr {
                protocol,
                addr,
                port,
            } => (
                0,
                Family::of(addr).number(),
                protocol.number(),
                addr_bits(addr),
                *port,
            ),
            ServiceKey::Fwmark { family, mark } => (*mark, family.number(), 0, 0, 0),
        }
    }
}

fn addr_bits(addr: &IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(*a)),
        IpAddr::V6(a) => u128::from(*a),
    }
}

impl Ord for ServiceKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sort_tuple().cmp(&other.sort_tuple())
    }
}
impl PartialOrd for ServiceKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for ServiceKey {
    /// `TCP 10.0.0.1:80`, `UDP [2001:db8::1]:53`, `FWM 7`, `FWM 7 IPv6`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Addr {
                protocol,
                addr,
                port,
            } => write!(f, "{} {}", protocol.as_str(), fmt_addr_port(addr, *port)),
            ServiceKey::Fwmark { family, mark } => match family {
                Family::Inet => write!(f, "FWM {mark}"),
                Family::Inet6 => write!(f, "FWM {mark} IPv6"),
            },
        }
    }
}

/// `1.2.3.4:80` or `[2001:db8::1]:80`.
pub(crate) fn fmt_addr_port(addr: &IpAddr, port: u16) -> String {
    match addr {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// Service flags (`IP_VS_SVC_F_*`), host-endian as the kernel takes them.
#[derive(
    Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct ServiceFlags(pub u32);

impl ServiceFlags {
    /// No flags.
    pub const NONE: ServiceFlags = ServiceFlags(0);
    /// Persistent service (`-p`).
    pub const PERSISTENT: ServiceFlags = ServiceFlags(0x1);
    /// Set by the kernel on every hashed (live) service; meaningless in desired state.
    pub const HASHED: ServiceFlags = ServiceFlags(0x2);
    /// One-packet scheduling (`-o`, UDP).
    pub const ONEPACKET: ServiceFlags = ServiceFlags(0x4);
    /// Scheduler flag 1 (`sh-fallback`, `mh-fallback`).
    pub const SCHED1: ServiceFlags = ServiceFlags(0x8);
    /// Scheduler flag 2 (`sh-port`, `mh-port`).
    pub const SCHED2: ServiceFlags = ServiceFlags(0x10);
    /// Scheduler flag 3 (unused by in-tree schedulers).
    pub const SCHED3: ServiceFlags = ServiceFlags(0x20);

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: ServiceFlags) -> bool {
        self.0 & other.0 == other.0
    }
    /// The flags with `other`'s bits cleared.
    pub const fn without(self, other: ServiceFlags) -> ServiceFlags {
        ServiceFlags(self.0 & !other.0)
    }
    /// The flags with `other`'s bits set.
    pub const fn with(self, other: ServiceFlags) -> ServiceFlags {
        ServiceFlags(self.0 | other.0)
    }
    /// The flags as desired state compares them: without [`ServiceFlags::HASHED`].
    pub const fn comparable(self) -> ServiceFlags {
        self.without(ServiceFlags::HASHED)
    }
}

impl fmt::Debug for ServiceFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServiceFlags({:#x})", self.0)
    }
}

/// A virtual service: everything `NEW_SERVICE`/`SET_SERVICE` carries.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Service {
    /// Identity (not editable).
    pub key: ServiceKey,
    /// Scheduler (editable).
    pub scheduler: Algorithm,
    /// Flags (editable; HASHED is the kernel's and ignored in comparisons).
    pub flags: ServiceFlags,
    /// Persistence timeout in seconds (editable; meaningful with PERSISTENT).
    pub timeout_s: u32,
    /// Persistence granularity (editable). IPv4: the mask as a number, most significant bit
    /// first (`0xffffff00` = 255.255.255.0 = `Ipv4Addr::from(netmask)`; the netlink backend
    /// sends it big-endian as the kernel's be32). IPv6: a prefix length (1..=128).
    pub netmask: u32,
    /// Persistence engine (`sip`), editable.
    pub pe_name: Option<String>,
}

impl Service {
    /// A non-persistent service with the full netmask and no flags.
    pub fn new(key: ServiceKey, scheduler: Algorithm) -> Service {
        Service {
            key,
            scheduler,
            flags: ServiceFlags::NONE,
            timeout_s: 0,
            netmask: key.family().full_netmask(),
            pe_name: None,
        }
    }

    /// Whether two services have the same configuration (HASHED ignored).
    pub fn same_config(&self, other: &Service) -> bool {
        self.key == other.key
            && self.scheduler == other.scheduler
            && self.flags.comparable() == other.flags.comparable()
            && self.timeout_s == other.timeout_s
            && self.netmask == other.netmask
            && self.pe_name == other.pe_name
    }
}

/// How a destination is reached (`IP_VS_CONN_F_FWD_MASK` values).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Forwarding {
    /// NAT (`-m`), 0. lvs.cf `network = nat`.
    Masq,
    /// Local node, 1.
    Local,
    /// IP-in-IP tunnel (`-i`), 2. lvs.cf `network = tunnel`.
    Tunnel,
    /// Direct routing (`-g`), 3. lvs.cf `network = direct`.
    DirectRoute,
    /// Bypass, 4.
    Bypass,
}

impl Forwarding {
    /// The kernel's number.
    pub const fn number(self) -> u32 {
        match self {
            Forwarding::Masq => 0,
            Forwarding::Local => 1,
            Forwarding::Tunnel => 2,
            Forwarding::DirectRoute => 3,
            Forwarding::Bypass => 4,
        }
    }
    /// From the kernel's number (after masking with `IP_VS_CONN_F_FWD_MASK` 0x7).
    pub const fn from_number(n: u32) -> Option<Forwarding> {
        match n {
            0 => Some(Forwarding::Masq),
            1 => Some(Forwarding::Local),
            2 => Some(Forwarding::Tunnel),
            3 => Some(Forwarding::DirectRoute),
            4 => Some(Forwarding::Bypass),
            _ => None,
        }
    }
}

/// Tunnel encapsulation (`IP_VS_CONN_F_TUNNEL_TYPE_*`).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub enum TunnelType {
    /// IP-in-IP, 0 (the only kind before Linux 5.2, and the default).
    #[default]
    Ipip,
    /// Generic UDP encapsulation, 1.
    Gue,
    /// GRE, 2.
    Gre,
}

/// Tunnel parameters of a destination. Kernels since 5.2 dump them for every destination, so
/// they are plain values with the kernel's defaults (IPIP, port 0, no flags) rather than
/// optional: a backend reading an older kernel fills in the defaults.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct TunnelParams {
    /// Encapsulation.
    pub kind: TunnelType,
    /// GUE destination port.
    pub port: u16,
    /// `IP_VS_TUNNEL_ENCAP_FLAG_*` (checksum options).
    pub flags: u16,
}

/// Identity of a destination within its service: address and port. A changed address or port
/// is a different destination.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct DestKey {
    /// Real server address.
    pub addr: IpAddr,
    /// Real server port.
    pub port: u16,
}

impl fmt::Display for DestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&fmt_addr_port(&self.addr, self.port))
    }
}

/// Connection counters the kernel reports for a destination. Read-only: never compared, never
/// sent; the kernel keeps them across `SET_DEST`.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct DestConns {
    /// ActiveConn.
    pub active: u32,
    /// InActConn.
    pub inactive: u32,
    /// PersistConn.
    pub persistent: u32,
}

/// A destination (real server) of a service: what `NEW_DEST`/`SET_DEST` carry.
///
/// Editable in place (`ip_vs_edit_dest` → `__ip_vs_update_dest`): weight, forwarding method,
/// thresholds, tunnel parameters. Address and port are the identity.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Dest {
    /// Real server address (may differ in family from the service only with tunnelling).
    pub addr: IpAddr,
    /// Real server port.
    pub port: u16,
    /// Forwarding method.
    pub fwd: Forwarding,
    /// Weight; the kernel takes an `int` and refuses negatives, so at most `i32::MAX`.
    pub weight: u32,
    /// Upper connection threshold (0 = none).
    pub u_threshold: u32,
    /// Lower connection threshold.
    pub l_threshold: u32,
    /// Tunnel parameters.
    pub tunnel: TunnelParams,
    /// Counters from a dump (ignored by comparisons and by [`Table::apply`]).
    pub conns: DestConns,
}

impl Dest {
    /// A destination with no thresholds, default tunnel parameters and zero counters.
    pub fn new(addr: IpAddr, port: u16, fwd: Forwarding, weight: u32) -> Dest {
        Dest {
            addr,
            port,
            fwd,
            weight,
            u_threshold: 0,
            l_threshold: 0,
            tunnel: TunnelParams::default(),
            conns: DestConns::default(),
        }
    }
    /// The identity.
    pub const fn key(&self) -> DestKey {
        DestKey {
            addr: self.addr,
            port: self.port,
        }
    }
    /// Whether two destinations have the same configuration (counters ignored).
    pub fn same_config(&self, other: &Dest) -> bool {
        self.addr == other.addr
            && self.port == other.port
            && self.fwd == other.fwd
            && self.weight == other.weight
            && self.u_threshold == other.u_threshold
            && self.l_threshold == other.l_threshold
            && self.tunnel == other.tunnel
    }
}

/// The global connection timeouts (`ipvsadm --set TCP TCPFIN UDP`, `IPVS_CMD_SET_CONFIG`), in
/// seconds. Zero leaves the kernel's current value unchanged (as lvs.cf's default 0 means).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Timeouts {
    /// Established TCP connections (`tcp_timeout`).
    pub tcp_s: u32,
    /// TCP after FIN (`tcpfin_timeout`).
    pub tcpfin_s: u32,
    /// UDP (`udp_timeout`).
    pub udp_s: u32,
}

impl Timeouts {
    /// The values after setting `self` on a kernel holding `current` (zeros keep `current`).
    pub const fn applied_to(self, current: Timeouts) -> Timeouts {
        const fn pick(new: u32, old: u32) -> u32 {
            if new == 0 {
                old
            } else {
                new
            }
        }
        Timeouts {
            tcp_s: pick(self.tcp_s, current.tcp_s),
            tcpfin_s: pick(self.tcpfin_s, current.tcpfin_s),
            udp_s: pick(self.udp_s, current.udp_s),
        }
    }
}

/// One service and its destinations.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServiceEntry {
    /// The service.
    pub service: Service,
    /// Its destinations, in ipvsadm's order (address, port).
    pub dests: BTreeMap<DestKey, Dest>,
}

/// A whole IPVS table (one network namespace), in deterministic order.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Table {
    /// Services by key, in ipvsadm's listing order.
    pub services: BTreeMap<ServiceKey, ServiceEntry>,
}

/// One change to the table: exactly one netlink request.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Op {
    /// `IPVS_CMD_NEW_SERVICE`.
    AddService(Service),
    /// `IPVS_CMD_SET_SERVICE`: scheduler, flags, timeout, netmask, pe.
    EditService(Service),
    /// `IPVS_CMD_DEL_SERVICE` (deletes its destinations too).
    DelService(ServiceKey),
    /// `IPVS_CMD_NEW_DEST`.
    AddDest {
        /// The service it belongs to.
        service: ServiceKey,
        /// The destination.
        dest: Dest,
    },
    /// `IPVS_CMD_SET_DEST`: weight, forwarding, thresholds, tunnel.
    EditDest {
        /// The service it belongs to.
        service: ServiceKey,
        /// The destination's new configuration.
        dest: Dest,
    },
    /// `IPVS_CMD_DEL_DEST`.
    DelDest {
        /// The service it belongs to.
        service: ServiceKey,
        /// The destination.
        dest: DestKey,
    },
}

impl fmt::Display for Op {
    /// ipvsadm-like: `-A TCP 10.0.0.1:80 wlc`, `-e TCP 10.0.0.1:80 -r 10.1.1.1:80 w=3`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::AddService(s) => write!(f, "-A {} {}", s.key, s.scheduler),
            Op::EditService(s) => write!(f, "-E {} {}", s.key, s.scheduler),
            Op::DelService(k) => write!(f, "-D {k}"),
            Op::AddDest { service, dest } => {
                write!(f, "-a {service} -r {} w={}", dest.key(), dest.weight)
            }
            Op::EditDest { service, dest } => {
                write!(f, "-e {service} -r {} w={}", dest.key(), dest.weight)
            }
            Op::DelDest { service, dest } => write!(f, "-d {service} -r {dest}"),
        }
    }
}

/// Why the kernel refuses an [`Op`]; [`ApplyError::errno`] is what netlink would return.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// `NEW_SERVICE` for a key that exists (EEXIST).
    #[error("service {0} already exists")]
    ServiceExists(ServiceKey),
    /// Any other op naming a service that does not exist (ESRCH, as `ip_vs_genl_set_cmd`).
    #[error("no such service {0}")]
    NoSuchService(ServiceKey),
    /// `NEW_DEST` for a destination that exists (EEXIST).
    #[error("destination {dest} of {service} already exists")]
    DestExists {
        /// The service.
        service: ServiceKey,
        /// The destination.
        dest: DestKey,
    },
    /// `SET_DEST`/`DEL_DEST` for a destination that does not exist (ENOENT).
    #[error("no destination {dest} in {service}")]
    NoSuchDest {
        /// The service.
        service: ServiceKey,
        /// The destination.
        dest: DestKey,
    },
    /// Weight above `i32::MAX` (negative for the kernel) or lower threshold above the upper
    /// (ERANGE).
    #[error("destination {0} out of range (weight or thresholds)")]
    OutOfRange(DestKey),
    /// IPv6 netmask outside 1..=128, a fwmark of 0, or a destination of another family than
    /// its service without tunnelling (EINVAL).
    #[error("invalid argument: {0}")]
    Invalid(&'static str),
    /// A persistence engine the kernel does not know (only `sip` exists) (ENOENT).
    #[error("unknown persistence engine {0:?}")]
    UnknownPe(String),
}

impl ApplyError {
    /// The (positive) errno the kernel returns for this refusal.
    pub const fn errno(&self) -> i32 {
        match self {
            ApplyError::ServiceExists(_) | ApplyError::DestExists { .. } => 17, // EEXIST
            ApplyError::NoSuchService(_) => 3,                                  // ESRCH
            ApplyError::NoSuchDest { .. } | ApplyError::UnknownPe(_) => 2,      // ENOENT
            ApplyError::OutOfRange(_) => 34,                                    // ERANGE
            ApplyError::Invalid(_) => 22,                                       // EINVAL
        }
    }
}

impl Table {
    /// An empty table.
    pub fn new() -> Table {
        Table::default()
    }

    /// Number of services.
    pub fn service_count(&self) -> usize {
        self.services.len()
    }

    /// Number of destinations over all services.
    pub fn dest_count(&self) -> usize {
        self.services.values().map(|e| e.dests.len()).sum()
    }

    /// The entry of a service.
    pub fn get(&self, key: &ServiceKey) -> Option<&ServiceEntry> {
        self.services.get(key)
    }

    /// Insert or replace a service, keeping its destinations if it existed (builder for tests
    /// and for `lvs`; no kernel checks).
    pub fn upsert_service(&mut self, service: Service) {
        match self.services.get_mut(&service.key) {
            Some(entry) => entry.service = service,
            None => {
                self.services.insert(
                    service.key,
                    ServiceEntry {
                        service,
                        dests: BTreeMap::new(),
                    },
                );
            }
        }
    }

    /// Insert or replace a destination of an existing service (builder; no kernel checks).
    /// Returns false if the service does not exist.
    pub fn upsert_dest(&mut self, service: &ServiceKey, dest: Dest) -> bool {
        match self.services.get_mut(service) {
            Some(entry) => {
                entry.dests.insert(dest.key(), dest);
                true
            }
            None => false,
        }
    }

    /// Whether both tables hold the same configuration: same services and destinations, with
    /// HASHED and connection counters ignored.
    pub fn same_config(&self, other: &Table) -> bool {
        self.services.len() == other.services.len()
            && self
                .services
                .iter()
                .zip(other.services.iter())
                .all(|((ka, a), (kb, b))| {
                    ka == kb
                        && a.service.same_config(&b.service)
                        && a.dests.len() == b.dests.len()
                        && a.dests
                            .iter()
                            .zip(b.dests.iter())
                            .all(|((da, x), (db, y))| da == db && x.same_config(y))
                })
    }

    /// `IPVS_CMD_FLUSH`: delete every service and destination.
    pub fn flush(&mut self) {
        self.services.clear();
    }

    /// Whether the kernel would accept this table as desired state: every service and
    /// destination passes the checks [`Table::apply`] makes (ranges, families, netmask, pe).
    /// Returns the first refusal in table order.
    pub fn validate(&self) -> Result<(), ApplyError> {
        for entry in self.services.values() {
            check_service(&entry.service)?;
            for dest in entry.dests.values() {
                check_dest(&entry.service.key, dest)?;
            }
        }
        Ok(())
    }

    /// Apply one op with the kernel's semantics; on error the table is unchanged.
    ///
    /// The kernel sets HASHED on every service it holds, so services added or edited here
    /// carry it too (as a dump would show). Counters start at zero on add and are kept on edit.
    pub fn apply(&mut self, op: &Op) -> Result<(), ApplyError> {
        match op {
            Op::AddService(svc) => {
                check_service(svc)?;
                if self.services.contains_key(&svc.key) {
                    return Err(ApplyError::ServiceExists(svc.key));
                }
                let mut svc = svc.clone();
                svc.flags = svc.flags.with(ServiceFlags::HASHED);
                self.services.insert(
                    svc.key,
                    ServiceEntry {
                        service: svc,
                        dests: BTreeMap::new(),
                    },
                );
            }
            Op::EditService(svc) => {
                let entry = self
                    .services
                    .get_mut(&svc.key)
                    .ok_or(ApplyError::NoSuchService(svc.key))?;
                check_service(svc)?;
                let mut svc = svc.clone();
                svc.flags = svc.flags.with(ServiceFlags::HASHED);
                entry.service = svc;
            }
            Op::DelService(key) => {
                self.services
                    .remove(key)
                    .ok_or(ApplyError::NoSuchService(*key))?;
            }
            Op::AddDest { service, dest } => {
                let entry = self
                    .services
                    .get_mut(service)
                    .ok_or(ApplyError::NoSuchService(*service))?;
                check_dest(service, dest)?;
                if entry.dests.contains_key(&dest.key()) {
                    return Err(ApplyError::DestExists {
                        service: *service,
                        dest: dest.key(),
                    });
                }
                let mut dest = dest.clone();
                dest.conns = DestConns::default();
                entry.dests.insert(dest.key(), dest);
            }
            Op::EditDest { service, dest } => {
                let entry = self
                    .services
                    .get_mut(service)
                    .ok_or(ApplyError::NoSuchService(*service))?;
                check_dest(service, dest)?;
                let slot = entry
                    .dests
                    .get_mut(&dest.key())
                    .ok_or(ApplyError::NoSuchDest {
                        service: *service,
                        dest: dest.key(),
                    })?;
                let conns = slot.conns;
                *slot = dest.clone();
                slot.conns = conns;
            }
            Op::DelDest { service, dest } => {
                let entry = self
                    .services
                    .get_mut(service)
                    .ok_or(ApplyError::NoSuchService(*service))?;
                entry.dests.remove(dest).ok_or(ApplyError::NoSuchDest {
                    service: *service,
                    dest: *dest,
                })?;
            }
        }
        Ok(())
    }
}

/// The kernel's service argument checks (`ip_vs_genl_parse_service`, `ip_vs_add_service`).
fn check_service(svc: &Service) -> Result<(), ApplyError> {
    match svc.key {
        ServiceKey::Fwmark { mark: 0, .. } => return Err(ApplyError::Invalid("fwmark 0")),
        ServiceKey::Fwmark { .. } | ServiceKey::Addr { .. } => {}
    }
    if svc.key.family() == Family::Inet6 && !(1..=128).contains(&svc.netmask) {
        return Err(ApplyError::Invalid(
            "IPv6 netmask must be a prefix length 1..=128",
        ));
    }
    match svc.pe_name.as_deref() {
        None | Some("sip") => Ok(()),
        Some(other) => Err(ApplyError::UnknownPe(other.to_string())),
    }
}

/// The kernel's destination checks (`ip_vs_genl_set_cmd`, `ip_vs_add_dest`/`ip_vs_edit_dest`).
fn check_dest(service: &ServiceKey, dest: &Dest) -> Result<(), ApplyError> {
    if i32::try_from(dest.weight).is_err() || dest.l_threshold > dest.u_threshold {
        return Err(ApplyError::OutOfRange(dest.key()));
    }
    if Family::of(&dest.addr) != service.family() && dest.fwd != Forwarding::Tunnel {
        return Err(ApplyError::Invalid(
            "a destination of another address family needs tunnel forwarding",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(addr: &str, port: u16) -> ServiceKey {
        ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: addr.parse().unwrap(),
            port,
        }
    }

    fn dest(addr: &str, port: u16, weight: u32) -> Dest {
        Dest::new(addr.parse().unwrap(), port, Forwarding::Masq, weight)
    }

    #[test]
    fn add_twice_is_eexist_and_missing_is_esrch_or_enoent() {
        let k = tcp("10.0.0.1", 80);
        let mut t = Table::new();
        t.apply(&Op::AddService(Service::new(k, Algorithm::Wlc)))
            .unwrap();
        let e = t
            .apply(&Op::AddService(Service::new(k, Algorithm::Rr)))
            .unwrap_err();
        assert_eq!(e, ApplyError::ServiceExists(k));
        assert_eq!(e.errno(), 17);
        assert_eq!(t.get(&k).unwrap().service.scheduler, Algorithm::Wlc);

        let other = tcp("10.0.0.2", 80);
        let e = t.apply(&Op::DelService(other)).unwrap_err();
        assert_eq!(e.errno(), 3);
        let d = dest("10.1.0.1", 80, 1);
        let e = t
            .apply(&Op::EditDest {
                service: k,
                dest: d.clone(),
            })
            .unwrap_err();
        assert_eq!(e.errno(), 2);
        t.apply(&Op::AddDest {
            service: k,
            dest: d.clone(),
        })
        .unwrap();
        let e = t
            .apply(&Op::AddDest {
                service: k,
                dest: d.clone(),
            })
            .unwrap_err();
        assert_eq!(e.errno(), 17);
        assert_eq!(t.dest_count(), 1);
    }

    #[test]
    fn kernel_sets_hashed_and_comparison_ignores_it() {
        let k = tcp("10.0.0.1", 80);
        let svc = Service::new(k, Algorithm::Wlc);
        let mut t = Table::new();
        t.apply(&Op::AddService(svc.clone())).unwrap();
        let stored = &t.get(&k).unwrap().service;
        assert_eq!(stored.flags, ServiceFlags::HASHED);
        assert_ne!(stored, &svc);
        assert!(stored.same_config(&svc));
    }

    #[test]
    fn deleting_a_service_deletes_its_dests() {
        let k = tcp("10.0.0.1", 80);
        let mut t = Table::new();
        t.apply(&Op::AddService(Service::new(k, Algorithm::Rr)))
            .unwrap();
        for i in 1..=3 {
            t.apply(&Op::AddDest {
                service: k,
                dest: dest(&format!("10.1.0.{i}"), 80, i),
            })
            .unwrap();
        }
        assert_eq!(t.dest_count(), 3);
        t.apply(&Op::DelService(k)).unwrap();
        assert_eq!(t.dest_count(), 0);
        // Re-adding starts empty.
        t.apply(&Op::AddService(Service::new(k, Algorithm::Rr)))
            .unwrap();
        assert_eq!(t.dest_count(), 0);
    }

    #[test]
    fn range_and_family_checks() {
        let k = tcp("10.0.0.1", 80);
        let mut t = Table::new();
        t.apply(&Op::AddService(Service::new(k, Algorithm::Rr)))
            .unwrap();
        let mut d = dest("10.1.0.1", 80, 1);
        d.weight = 1 << 31;
        assert_eq!(
            t.apply(&Op::AddDest {
                service: k,
                dest: d.clone()
            })
            .unwrap_err()
            .errno(),
            34
        );
        d.weight = 1;
        d.l_threshold = 5;
        d.u_threshold = 4;
        assert_eq!(
            t.apply(&Op::AddDest {
                service: k,
                dest: d.clone()
            })
            .unwrap_err()
            .errno(),
            34
        );
        let v6 = dest("2001:db8::1", 80, 1);
        assert_eq!(
            t.apply(&Op::AddDest {
                service: k,
                dest: v6.clone()
            })
            .unwrap_err()
            .errno(),
            22
        );
        let mut tun = v6;
        tun.fwd = Forwarding::Tunnel;
        t.apply(&Op::AddDest {
            service: k,
            dest: tun,
        })
        .unwrap();
        let mut bad6 = Service::new(
            ServiceKey::Fwmark {
                family: Family::Inet6,
                mark: 3,
            },
            Algorithm::Rr,
        );
        bad6.netmask = 129;
        assert_eq!(t.apply(&Op::AddService(bad6)).unwrap_err().errno(), 22);
    }

    #[test]
    fn validate_finds_what_apply_would_refuse() {
        let k = tcp("10.0.0.1", 80);
        let mut t = Table::new();
        t.upsert_service(Service::new(k, Algorithm::Wlc));
        t.upsert_dest(&k, dest("10.1.0.1", 80, 1));
        assert_eq!(t.validate(), Ok(()));
        let mut bad = dest("10.1.0.2", 80, 1);
        bad.l_threshold = 1;
        t.upsert_dest(&k, bad.clone());
        assert_eq!(t.validate(), Err(ApplyError::OutOfRange(bad.key())));
        t.flush();
        assert_eq!((t.service_count(), t.validate()), (0, Ok(())));
    }

    #[test]
    fn edit_dest_keeps_counters() {
        let k = tcp("10.0.0.1", 80);
        let mut t = Table::new();
        t.apply(&Op::AddService(Service::new(k, Algorithm::Wlc)))
            .unwrap();
        let d = dest("10.1.0.1", 80, 1);
        t.apply(&Op::AddDest {
            service: k,
            dest: d.clone(),
        })
        .unwrap();
        t.services
            .get_mut(&k)
            .unwrap()
            .dests
            .get_mut(&d.key())
            .unwrap()
            .conns
            .active = 7;
        let mut d2 = d.clone();
        d2.weight = 5;
        t.apply(&Op::EditDest {
            service: k,
            dest: d2,
        })
        .unwrap();
        let got = &t.get(&k).unwrap().dests[&d.key()];
        assert_eq!((got.weight, got.conns.active), (5, 7));
    }

    #[test]
    fn service_order_is_ipvsadms() {
        let keys = [
            ServiceKey::Fwmark {
                family: Family::Inet,
                mark: 2,
            },
            ServiceKey::Addr {
                protocol: Protocol::Udp,
                addr: "10.0.0.1".parse().unwrap(),
                port: 53,
            },
            tcp("2001:db8::1", 80),
            tcp("10.0.0.9", 80),
            tcp("10.0.0.10", 80),
            ServiceKey::Fwmark {
                family: Family::Inet,
                mark: 1,
            },
        ];
        let mut sorted = keys.to_vec();
        sorted.sort();
        let shown: Vec<String> = sorted.iter().map(|k| k.to_string()).collect();
        assert_eq!(
            shown,
            [
                "TCP 10.0.0.9:80",
                "TCP 10.0.0.10:80",
                "UDP 10.0.0.1:53",
                "TCP [2001:db8::1]:80",
                "FWM 1",
                "FWM 2"
            ]
        );
    }
}
