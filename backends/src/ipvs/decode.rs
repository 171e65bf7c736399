//! Decoding of the kernel's IPVS replies into the engine's types, with neli's netlink types.
//!
//! The rules: addresses are 16-byte `nf_inet_addr`s read by family (a destination's own
//! family when the kernel reports it); ports are network byte order; the IPv4 netmask is a be32
//! mask, the IPv6 one a prefix length; dumped services carry HASHED, stripped here; STATS64 is
//! preferred over STATS.

use std::io::Cursor;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use neli::consts::nl::Nlmsg;
use neli::nl::{NlPayload, Nlmsghdr};
use neli::types::Buffer;
use neli::{FromBytes, FromBytesWithInput};
use piranha_engine::ipvs::listing::ListingInfo;
use piranha_engine::ipvs::{
    Dest, DestConns, Family, Forwarding, Protocol, Service, ServiceFlags, ServiceKey, Timeouts,
    TunnelParams, TunnelType,
};
use piranha_engine::sched::Algorithm;

use super::codec::{CodecError, DaemonState, GenlMsg, Handle};
use super::consts::{self, cmd_attr, daemon, dest, info, stats, svc};

fn dec(e: impl std::fmt::Display) -> CodecError {
    CodecError::Decode(e.to_string())
}

/// What one received netlink message is.
#[derive(Debug)]
pub enum ReplyKind {
    /// An ACK (error 0).
    Ack,
    /// A refusal: the positive errno.
    Error(i32),
    /// End of a dump (with the dump's status, 0 or a negative errno).
    Done(i32),
    /// A message of the family.
    Data(GenlMsg),
}

/// One received netlink message.
#[derive(Debug)]
pub struct Reply {
    /// The sequence number of the request it answers.
    pub seq: u32,
    /// What it is.
    pub kind: ReplyKind,
}

/// Split one datagram into its messages.
pub fn parse_replies(bytes: &[u8]) -> Result<Vec<Reply>, CodecError> {
    let mut cur = Cursor::new(bytes);
    let mut out = Vec::new();
    while (cur.position() as usize) < bytes.len() {
        let msg = Nlmsghdr::<u16, Buffer>::from_bytes(&mut cur).map_err(dec)?;
        let seq = *msg.nl_seq();
        let ty = *msg.nl_type();
        let kind = match msg.nl_payload() {
            NlPayload::Ack(_) => ReplyKind::Ack,
            NlPayload::Err(e) => ReplyKind::Error(-*e.error()),
            NlPayload::DumpExtAck(e) => ReplyKind::Done(*e.error()),
            NlPayload::Empty => ReplyKind::Done(0),
            NlPayload::Payload(p) if ty == u16::from(Nlmsg::Done) => {
                let status = p
                    .as_ref()
                    .get(..4)
                    .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                    .unwrap_or(0);
                ReplyKind::Done(status)
            }
            NlPayload::Payload(p) => {
                let genl = GenlMsg::from_bytes_with_input(&mut Cursor::new(p.as_ref()), p.len())
                    .map_err(dec)?;
                ReplyKind::Data(genl)
            }
        };
        out.push(Reply { seq, kind });
    }
    Ok(out)
}

/// The raw payload of attribute `ty`.
pub fn raw<'a>(h: &'a Handle<'_>, ty: u16) -> Option<&'a [u8]> {
    h.get_attribute(ty).map(|a| a.nla_payload().as_ref())
}

fn fixed<const N: usize>(
    h: &Handle<'_>,
    ty: u16,
    what: &str,
) -> Result<Option<[u8; N]>, CodecError> {
    match raw(h, ty) {
        None => Ok(None),
        Some(b) if b.len() >= N => {
            let mut out = [0u8; N];
            out.copy_from_slice(&b[..N]);
            Ok(Some(out))
        }
        Some(b) => Err(CodecError::Decode(format!(
            "{what}: {} bytes, expected {N}",
            b.len()
        ))),
    }
}

fn u32_attr(h: &Handle<'_>, ty: u16, what: &str) -> Result<Option<u32>, CodecError> {
    Ok(fixed::<4>(h, ty, what)?.map(u32::from_ne_bytes))
}

fn need<T>(v: Option<T>, what: &str) -> Result<T, CodecError> {
    v.ok_or_else(|| CodecError::Decode(format!("missing {what}")))
}

/// A string attribute (NUL-terminated on the wire).
pub fn string_attr(h: &Handle<'_>, ty: u16) -> Option<String> {
    raw(h, ty).map(|b| {
        let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        String::from_utf8_lossy(&b[..end]).into_owned()
    })
}

fn addr_from(family: Family, b: [u8; 16]) -> IpAddr {
    match family {
        Family::Inet => IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])),
        Family::Inet6 => IpAddr::V6(Ipv6Addr::from(b)),
    }
}

fn family_from(n: u16) -> Result<Family, CodecError> {
    match n {
        2 => Ok(Family::Inet),
        10 => Ok(Family::Inet6),
        other => Err(CodecError::Decode(format!("address family {other}"))),
    }
}

/// Traffic counters of a service or destination (`ipvsadm --stats/--rate`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Connections scheduled.
    pub conns: u64,
    /// Incoming packets.
    pub inpkts: u64,
    /// Outgoing packets.
    pub outpkts: u64,
    /// Incoming bytes.
    pub inbytes: u64,
    /// Outgoing bytes.
    pub outbytes: u64,
    /// Connections per second (rate estimator).
    pub cps: u64,
    /// Incoming packets per second.
    pub inpps: u64,
    /// Outgoing packets per second.
    pub outpps: u64,
    /// Incoming bytes per second.
    pub inbps: u64,
    /// Outgoing bytes per second.
    pub outbps: u64,
}

/// Counters from a STATS64 nest (every counter u64) or, on kernels without it, a STATS nest
/// (u32 counters, u64 byte counts). Padding attributes are skipped.
pub fn decode_stats(h: &Handle<'_>) -> Result<Stats, CodecError> {
    let get = |ty: u16| -> Result<u64, CodecError> {
        match raw(h, ty) {
            None => Ok(0),
            Some(b) if b.len() == 8 => Ok(u64::from_ne_bytes([
                b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
            ])),
            Some(b) if b.len() == 4 => Ok(u64::from(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))),
            Some(b) => Err(CodecError::Decode(format!(
                "stats attribute {ty}: {} bytes",
                b.len()
            ))),
        }
    };
    Ok(Stats {
        conns: get(stats::CONNS)?,
        inpkts: get(stats::INPKTS)?,
        outpkts: get(stats::OUTPKTS)?,
        inbytes: get(stats::INBYTES)?,
        outbytes: get(stats::OUTBYTES)?,
        cps: get(stats::CPS)?,
        inpps: get(stats::INPPS)?,
        outpps: get(stats::OUTPPS)?,
        inbps: get(stats::INBPS)?,
        outbps: get(stats::OUTBPS)?,
    })
}

fn nested_stats(h: &Handle<'_>, t64: u16, t32: u16) -> Result<Option<Stats>, CodecError> {
    for ty in [t64, t32] {
        if h.get_attribute(ty).is_some() {
            let inner = h.get_nested_attributes::<u16>(ty).map_err(dec)?;
            return decode_stats(&inner).map(Some);
        }
    }
    Ok(None)
}

/// A service as dumped, with its counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceDump {
    /// The service, HASHED stripped.
    pub service: Service,
    /// Its counters (STATS64, or STATS on old kernels).
    pub stats: Option<Stats>,
}

/// Decode the content of a SERVICE nest.
pub fn decode_service(h: &Handle<'_>) -> Result<ServiceDump, CodecError> {
    let af = need(fixed::<2>(h, svc::AF, "service AF")?, "service AF")?;
    let family = family_from(u16::from_ne_bytes(af))?;
    let mark = u32_attr(h, svc::FWMARK, "service FWMARK")?.unwrap_or(0);
    let key = if mark != 0 {
        ServiceKey::Fwmark { family, mark }
    } else {
        let proto = need(
            fixed::<2>(h, svc::PROTOCOL, "PROTOCOL")?,
            "service PROTOCOL",
        )?;
        let protocol = match u16::from_ne_bytes(proto) {
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            132 => Protocol::Sctp,
            other => return Err(CodecError::Decode(format!("IP protocol {other}"))),
        };
        let addr = need(fixed::<16>(h, svc::ADDR, "service ADDR")?, "service ADDR")?;
        let port = need(fixed::<2>(h, svc::PORT, "service PORT")?, "service PORT")?;
        ServiceKey::Addr {
            protocol,
            addr: addr_from(family, addr),
            port: u16::from_be_bytes(port),
        }
    };
    let sched = need(string_attr(h, svc::SCHED_NAME), "SCHED_NAME")?;
    let scheduler: Algorithm = sched.parse().map_err(dec)?;
    let flags = need(fixed::<8>(h, svc::FLAGS, "FLAGS")?, "service FLAGS")?;
    let flags = ServiceFlags(u32::from_ne_bytes([flags[0], flags[1], flags[2], flags[3]]));
    let netmask = need(fixed::<4>(h, svc::NETMASK, "NETMASK")?, "service NETMASK")?;
    let netmask = match family {
        Family::Inet => u32::from_be_bytes(netmask),
        Family::Inet6 => u32::from_ne_bytes(netmask),
    };
    let service = Service {
        key,
        scheduler,
        flags: flags.comparable(),
        timeout_s: u32_attr(h, svc::TIMEOUT, "TIMEOUT")?.unwrap_or(0),
        netmask,
        pe_name: string_attr(h, svc::PE_NAME).filter(|p| !p.is_empty()),
    };
    Ok(ServiceDump {
        service,
        stats: nested_stats(h, svc::STATS64, svc::STATS)?,
    })
}

/// A destination as dumped, with its counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DestDump {
    /// The destination with its connection counts.
    pub dest: Dest,
    /// Its counters.
    pub stats: Option<Stats>,
}

/// Decode the content of a DEST nest; `service_family` is used when the kernel predates
/// DEST_ATTR_ADDR_FAMILY (3.18).
pub fn decode_dest(h: &Handle<'_>, service_family: Family) -> Result<DestDump, CodecError> {
    let family = match fixed::<2>(h, dest::ADDR_FAMILY, "ADDR_FAMILY")? {
        Some(b) => family_from(u16::from_ne_bytes(b))?,
        None => service_family,
    };
    let addr = need(fixed::<16>(h, dest::ADDR, "dest ADDR")?, "dest ADDR")?;
    let port = need(fixed::<2>(h, dest::PORT, "dest PORT")?, "dest PORT")?;
    let fwd = need(u32_attr(h, dest::FWD_METHOD, "FWD_METHOD")?, "FWD_METHOD")?;
    let fwd = Forwarding::from_number(fwd & consts::FWD_MASK)
        .ok_or_else(|| CodecError::Decode(format!("forwarding method {fwd}")))?;
    let kind = match fixed::<1>(h, dest::TUN_TYPE, "TUN_TYPE")?.map(|b| b[0]) {
        None | Some(0) => TunnelType::Ipip,
        Some(1) => TunnelType::Gue,
        Some(2) => TunnelType::Gre,
        Some(other) => return Err(CodecError::Decode(format!("tunnel type {other}"))),
    };
    let dest = Dest {
        addr: addr_from(family, addr),
        port: u16::from_be_bytes(port),
        fwd,
        weight: need(u32_attr(h, dest::WEIGHT, "WEIGHT")?, "WEIGHT")?,
        u_threshold: u32_attr(h, dest::U_THRESH, "U_THRESH")?.unwrap_or(0),
        l_threshold: u32_attr(h, dest::L_THRESH, "L_THRESH")?.unwrap_or(0),
        tunnel: TunnelParams {
            kind,
            port: fixed::<2>(h, dest::TUN_PORT, "TUN_PORT")?
                .map(u16::from_be_bytes)
                .unwrap_or(0),
            flags: fixed::<2>(h, dest::TUN_FLAGS, "TUN_FLAGS")?
                .map(u16::from_ne_bytes)
                .unwrap_or(0),
        },
        conns: DestConns {
            active: u32_attr(h, dest::ACTIVE_CONNS, "ACTIVE_CONNS")?.unwrap_or(0),
            inactive: u32_attr(h, dest::INACT_CONNS, "INACT_CONNS")?.unwrap_or(0),
            persistent: u32_attr(h, dest::PERSIST_CONNS, "PERSIST_CONNS")?.unwrap_or(0),
        },
    };
    Ok(DestDump {
        dest,
        stats: nested_stats(h, dest::STATS64, dest::STATS)?,
    })
}

/// The service of a GET_SERVICE dump message.
pub fn service_of(msg: &GenlMsg) -> Result<ServiceDump, CodecError> {
    let top = msg.attrs().get_attr_handle();
    let h = top
        .get_nested_attributes::<u16>(cmd_attr::SERVICE)
        .map_err(dec)?;
    decode_service(&h)
}

/// The destination of a GET_DEST dump message.
pub fn dest_of(msg: &GenlMsg, service_family: Family) -> Result<DestDump, CodecError> {
    let top = msg.attrs().get_attr_handle();
    let h = top
        .get_nested_attributes::<u16>(cmd_attr::DEST)
        .map_err(dec)?;
    decode_dest(&h, service_family)
}

/// The daemon of a GET_DAEMON dump message.
pub fn daemon_of(msg: &GenlMsg) -> Result<DaemonState, CodecError> {
    let top = msg.attrs().get_attr_handle();
    let h = top
        .get_nested_attributes::<u16>(cmd_attr::DAEMON)
        .map_err(dec)?;
    let group = match fixed::<4>(&h, daemon::MCAST_GROUP, "MCAST_GROUP")? {
        Some(b) => Some(IpAddr::V4(Ipv4Addr::from(b))),
        None => fixed::<16>(&h, daemon::MCAST_GROUP6, "MCAST_GROUP6")?
            .map(|b| IpAddr::V6(Ipv6Addr::from(b))),
    };
    Ok(DaemonState {
        state: need(u32_attr(&h, daemon::STATE, "STATE")?, "daemon STATE")?,
        iface: string_attr(&h, daemon::MCAST_IFN).unwrap_or_default(),
        sync_id: u32_attr(&h, daemon::SYNC_ID, "SYNC_ID")?.unwrap_or(0),
        maxlen: fixed::<2>(&h, daemon::SYNC_MAXLEN, "SYNC_MAXLEN")?
            .map(u16::from_ne_bytes)
            .unwrap_or(0),
        group,
        port: fixed::<2>(&h, daemon::MCAST_PORT, "MCAST_PORT")?
            .map(u16::from_ne_bytes)
            .unwrap_or(0),
        ttl: fixed::<1>(&h, daemon::MCAST_TTL, "MCAST_TTL")?
            .map(|b| b[0])
            .unwrap_or(0),
    })
}

/// The timeouts of a GET_CONFIG reply.
pub fn timeouts_of(msg: &GenlMsg) -> Result<Timeouts, CodecError> {
    let h = msg.attrs().get_attr_handle();
    Ok(Timeouts {
        tcp_s: u32_attr(&h, cmd_attr::TIMEOUT_TCP, "TIMEOUT_TCP")?.unwrap_or(0),
        tcpfin_s: u32_attr(&h, cmd_attr::TIMEOUT_TCP_FIN, "TIMEOUT_TCP_FIN")?.unwrap_or(0),
        udp_s: u32_attr(&h, cmd_attr::TIMEOUT_UDP, "TIMEOUT_UDP")?.unwrap_or(0),
    })
}

/// The version and connection table size of a GET_INFO reply.
pub fn info_of(msg: &GenlMsg) -> Result<ListingInfo, CodecError> {
    let h = msg.attrs().get_attr_handle();
    let v = need(u32_attr(&h, info::VERSION, "VERSION")?, "INFO VERSION")?;
    Ok(ListingInfo {
        version: ((v >> 16) as u8, (v >> 8) as u8, v as u8),
        conn_tab_size: need(
            u32_attr(&h, info::CONN_TAB_SIZE, "CONN_TAB_SIZE")?,
            "CONN_TAB_SIZE",
        )?,
    })
}
