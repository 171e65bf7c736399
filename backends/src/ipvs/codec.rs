//! Encoding of IPVS requests with neli's netlink types ([`super::decode`] reads the replies).
//!
//! Pure functions over bytes: no socket here, so every layout rule (see the pitfalls in
//! `ipvs-and-peers.md`) is unit-tested without a kernel (the tests cover both directions):
//! - NEW/SET_SERVICE carry SCHED_NAME, FLAGS (`{flags, mask}` with mask = all ones, HASHED never
//!   sent), TIMEOUT and NETMASK, or the kernel answers EINVAL;
//! - ports are network byte order, flags and counters host order;
//! - addresses are 16-byte `nf_inet_addr`s, read back by family;
//! - the IPv4 netmask is a be32 mask, the IPv6 one a prefix length in host order;
//! - dumped services carry HASHED, stripped here.

use std::io::Cursor;
use std::net::IpAddr;

use neli::consts::nl::NlmF;
use neli::genl::{
    AttrTypeBuilder, GenlAttrHandle, Genlmsghdr, GenlmsghdrBuilder, Nlattr, NlattrBuilder,
};
use neli::nl::{NlPayload, NlmsghdrBuilder};
use neli::types::{Buffer, GenlBuffer};
use neli::{Size, ToBytes};
use piranha_engine::ipvs::{
    Dest, Family, Forwarding, Op, Service, ServiceKey, Timeouts, TunnelParams, TunnelType,
};

use super::consts::{self, cmd, cmd_attr, daemon, dest, svc};

/// One netlink attribute with its payload already serialized.
pub type Attr = Nlattr<u16, Buffer>;
/// A parsed list of attributes (a message's top level or a nest's content).
pub type Handle<'a> = GenlAttrHandle<'a, u16>;
/// A generic netlink message of the IPVS family.
pub type GenlMsg = Genlmsghdr<u8, u16>;

/// A request could not be encoded or a reply could not be understood.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// neli refused to build a message (a payload too large for a u16 length...).
    #[error("cannot encode the request: {0}")]
    Encode(String),
    /// The kernel's reply is not what `ip_vs.h` describes.
    #[error("malformed reply from the kernel: {0}")]
    Decode(String),
}

fn enc(e: impl std::fmt::Display) -> CodecError {
    CodecError::Encode(e.to_string())
}

/// An attribute of type `ty` with `payload` as its bytes.
pub fn attr<P: Size + ToBytes>(ty: u16, payload: P) -> Result<Attr, CodecError> {
    NlattrBuilder::default()
        .nla_type(
            AttrTypeBuilder::default()
                .nla_type(ty)
                .build()
                .map_err(enc)?,
        )
        .nla_payload(payload)
        .build()
        .map_err(enc)
}

/// A nested attribute holding `inner`.
pub fn nest(ty: u16, inner: &[Attr]) -> Result<Attr, CodecError> {
    let mut outer = attr(ty, Vec::<u8>::new())?;
    for a in inner {
        outer = outer.nest(a).map_err(enc)?;
    }
    Ok(outer)
}

/// A whole netlink message: header (`nl_type` = the family id), genl header, attributes.
pub fn message(
    family: u16,
    flags: NlmF,
    seq: u32,
    command: u8,
    version: u8,
    attrs: Vec<Attr>,
) -> Result<Vec<u8>, CodecError> {
    let genl: GenlMsg = GenlmsghdrBuilder::default()
        .cmd(command)
        .version(version)
        .attrs(attrs.into_iter().collect::<GenlBuffer<u16, Buffer>>())
        .build()
        .map_err(enc)?;
    let nl = NlmsghdrBuilder::default()
        .nl_type(family)
        .nl_flags(flags)
        .nl_seq(seq)
        .nl_payload(NlPayload::Payload(genl))
        .build()
        .map_err(enc)?;
    let mut cur = Cursor::new(Vec::with_capacity(nl.padded_size()));
    nl.to_bytes(&mut cur).map_err(enc)?;
    Ok(cur.into_inner())
}

/// An IPVS request: `REQUEST | ACK`, version 1.
pub fn request(
    family: u16,
    seq: u32,
    command: u8,
    attrs: Vec<Attr>,
) -> Result<Vec<u8>, CodecError> {
    message(
        family,
        NlmF::REQUEST | NlmF::ACK,
        seq,
        command,
        consts::GENL_VERSION,
        attrs,
    )
}

/// An IPVS dump request: `REQUEST | DUMP`.
pub fn dump_request(
    family: u16,
    seq: u32,
    command: u8,
    attrs: Vec<Attr>,
) -> Result<Vec<u8>, CodecError> {
    message(
        family,
        NlmF::REQUEST | NlmF::DUMP,
        seq,
        command,
        consts::GENL_VERSION,
        attrs,
    )
}

/// The 16-byte `nf_inet_addr` (an IPv4 address in its first 4 bytes).
pub fn inet_addr(addr: &IpAddr) -> [u8; 16] {
    let mut out = [0u8; 16];
    match addr {
        IpAddr::V4(a) => out[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => out = a.octets(),
    }
    out
}

/// The NETMASK payload: a be32 mask for IPv4, a host-order prefix length for IPv6.
pub fn netmask_bytes(family: Family, netmask: u32) -> [u8; 4] {
    match family {
        Family::Inet => netmask.to_be_bytes(),
        Family::Inet6 => netmask.to_ne_bytes(),
    }
}

/// The attributes identifying a service (what the kernel looks it up by).
pub fn service_id(key: &ServiceKey) -> Result<Vec<Attr>, CodecError> {
    let af = key.family().number().to_ne_bytes();
    Ok(match key {
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => vec![
            attr(svc::AF, af)?,
            attr(svc::PROTOCOL, u16::from(protocol.number()).to_ne_bytes())?,
            attr(svc::ADDR, inet_addr(addr))?,
            attr(svc::PORT, port.to_be_bytes())?,
        ],
        ServiceKey::Fwmark { mark, .. } => {
            vec![attr(svc::AF, af)?, attr(svc::FWMARK, mark.to_ne_bytes())?]
        }
    })
}

/// The SERVICE nest naming a service only (destination ops, delete, dest dumps).
pub fn service_id_nest(key: &ServiceKey) -> Result<Attr, CodecError> {
    nest(cmd_attr::SERVICE, &service_id(key)?)
}

/// The full SERVICE nest of NEW/SET_SERVICE: identity plus every mandatory attribute.
pub fn service_nest(s: &Service) -> Result<Attr, CodecError> {
    let mut attrs = service_id(&s.key)?;
    attrs.push(attr(svc::SCHED_NAME, s.scheduler.as_str())?);
    let mut flags = [0u8; 8];
    flags[..4].copy_from_slice(&s.flags.comparable().0.to_ne_bytes());
    flags[4..].copy_from_slice(&u32::MAX.to_ne_bytes());
    attrs.push(attr(svc::FLAGS, flags)?);
    attrs.push(attr(svc::TIMEOUT, s.timeout_s.to_ne_bytes())?);
    attrs.push(attr(
        svc::NETMASK,
        netmask_bytes(s.key.family(), s.netmask),
    )?);
    if let Some(pe) = s.pe_name.as_deref().filter(|p| !p.is_empty()) {
        attrs.push(attr(svc::PE_NAME, pe)?);
    }
    nest(cmd_attr::SERVICE, &attrs)
}

fn dest_id(addr: &IpAddr, port: u16) -> Result<Vec<Attr>, CodecError> {
    Ok(vec![
        attr(dest::ADDR, inet_addr(addr))?,
        attr(dest::PORT, port.to_be_bytes())?,
        attr(dest::ADDR_FAMILY, Family::of(addr).number().to_ne_bytes())?,
    ])
}

/// The full DEST nest of NEW/SET_DEST.
pub fn dest_nest(d: &Dest) -> Result<Attr, CodecError> {
    let mut attrs = dest_id(&d.addr, d.port)?;
    attrs.push(attr(dest::FWD_METHOD, d.fwd.number().to_ne_bytes())?);
    attrs.push(attr(dest::WEIGHT, d.weight.to_ne_bytes())?);
    attrs.push(attr(dest::U_THRESH, d.u_threshold.to_ne_bytes())?);
    attrs.push(attr(dest::L_THRESH, d.l_threshold.to_ne_bytes())?);
    if d.fwd == Forwarding::Tunnel && d.tunnel != TunnelParams::default() {
        let kind: u8 = match d.tunnel.kind {
            TunnelType::Ipip => 0,
            TunnelType::Gue => 1,
            TunnelType::Gre => 2,
        };
        attrs.push(attr(dest::TUN_TYPE, [kind])?);
        attrs.push(attr(dest::TUN_PORT, d.tunnel.port.to_be_bytes())?);
        attrs.push(attr(dest::TUN_FLAGS, d.tunnel.flags.to_ne_bytes())?);
    }
    nest(cmd_attr::DEST, &attrs)
}

/// The command and attributes of one table op.
pub fn op_request(op: &Op) -> Result<(u8, Vec<Attr>), CodecError> {
    Ok(match op {
        Op::AddService(s) => (cmd::NEW_SERVICE, vec![service_nest(s)?]),
        Op::EditService(s) => (cmd::SET_SERVICE, vec![service_nest(s)?]),
        Op::DelService(k) => (cmd::DEL_SERVICE, vec![service_id_nest(k)?]),
        Op::AddDest { service, dest } => (
            cmd::NEW_DEST,
            vec![service_id_nest(service)?, dest_nest(dest)?],
        ),
        Op::EditDest { service, dest } => (
            cmd::SET_DEST,
            vec![service_id_nest(service)?, dest_nest(dest)?],
        ),
        Op::DelDest { service, dest: key } => (
            cmd::DEL_DEST,
            vec![
                service_id_nest(service)?,
                nest(cmd_attr::DEST, &dest_id(&key.addr, key.port)?)?,
            ],
        ),
    })
}

/// SET_CONFIG attributes: only the non-zero timeouts (zero keeps the kernel's value).
pub fn timeouts_attrs(t: &Timeouts) -> Result<Vec<Attr>, CodecError> {
    let mut attrs = Vec::new();
    for (ty, v) in [
        (cmd_attr::TIMEOUT_TCP, t.tcp_s),
        (cmd_attr::TIMEOUT_TCP_FIN, t.tcpfin_s),
        (cmd_attr::TIMEOUT_UDP, t.udp_s),
    ] {
        if v != 0 {
            attrs.push(attr(ty, v.to_ne_bytes())?);
        }
    }
    Ok(attrs)
}

/// A running connection-synchronisation thread, as GET_DAEMON reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonState {
    /// `IP_VS_STATE_MASTER` (1) or `IP_VS_STATE_BACKUP` (2).
    pub state: u32,
    /// Multicast interface.
    pub iface: String,
    /// Sync id.
    pub sync_id: u32,
    /// Largest sync message (0: the kernel's default; reported since Linux 4.3).
    pub maxlen: u16,
    /// Multicast group (reported since Linux 4.3).
    pub group: Option<IpAddr>,
    /// Multicast port (0: default).
    pub port: u16,
    /// Multicast TTL (0: default).
    pub ttl: u8,
}

impl DaemonState {
    /// A thread in `state` (master 1, backup 2) on `iface` with `sync_id`, kernel defaults
    /// for the rest.
    pub fn new(state: u32, iface: &str, sync_id: u32) -> DaemonState {
        DaemonState {
            state,
            iface: iface.to_string(),
            sync_id,
            maxlen: 0,
            group: None,
            port: 0,
            ttl: 0,
        }
    }

    /// Whether both describe the same thread as NEW_DAEMON configures it (role, interface,
    /// id); the kernel's defaults for the rest are not compared.
    pub fn same_thread(&self, other: &DaemonState) -> bool {
        self.state == other.state && self.iface == other.iface && self.sync_id == other.sync_id
    }
}

/// The DAEMON nest of NEW_DAEMON (full) or DEL_DAEMON (state only).
pub fn daemon_nest(d: &DaemonState, full: bool) -> Result<Attr, CodecError> {
    if d.iface.len() >= consts::IFNAME_MAXLEN {
        return Err(CodecError::Encode(format!(
            "interface name {:?} longer than {} bytes",
            d.iface,
            consts::IFNAME_MAXLEN - 1
        )));
    }
    let mut attrs = vec![attr(daemon::STATE, d.state.to_ne_bytes())?];
    if full {
        attrs.push(attr(daemon::MCAST_IFN, d.iface.as_str())?);
        attrs.push(attr(daemon::SYNC_ID, d.sync_id.to_ne_bytes())?);
    }
    nest(cmd_attr::DAEMON, &attrs)
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
