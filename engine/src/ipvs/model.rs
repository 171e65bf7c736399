//! Services and destinations in the kernel's own shape (include/uapi/linux/ip_vs.h).
//!
//! The same types describe what the netlink backend dumps, what `lvs` wants, and what the
//! simulator keeps as its in-memory kernel (see [`super::table`]).

use core::cmp::Ordering;
use core::fmt;
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
    /// Counters from a dump (ignored by comparisons and by [`Table::apply`](super::table::Table::apply)).
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
