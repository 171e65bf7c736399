//! VIP addresses over rtnetlink (neli's rtnl): `RTM_NEWADDR`/`RTM_DELADDR` with the prefix
//! length and, for IPv4, the alias label (`eth0:1`), as `ip addr add VIP/len dev eth0 label
//! eth0:1` does (IPv6 VIPs with `nodad`). Both are idempotent: "already there" and "already gone" are success. Gratuitous
//! ARP goes through [`crate::arp`].

use std::net::IpAddr;

use async_trait::async_trait;
use neli::consts::nl::NlmF;
use neli::consts::rtnl::{Ifa, IfaF, RtAddrFamily, RtScope, Rtm};
use neli::consts::socket::NlFamily;
use neli::err::RouterError;
use neli::nl::{NlPayload, Nlmsghdr};
use neli::router::synchronous::NlRouter;
use neli::rtnl::{Ifaddrmsg, IfaddrmsgBuilder, RtattrBuilder};
use neli::types::{Buffer, RtBuffer};
use neli::utils::Groups;
use piranha_engine::ports::{ArpStyle, PortError, VipAddr, Vips};

use crate::arp;

/// `EEXIST`: the address is already on the interface.
const EEXIST: i32 = 17;
/// `EADDRNOTAVAIL`: the address is not on the interface.
const EADDRNOTAVAIL: i32 = 99;
/// Longest label the kernel takes (`IFNAMSIZ` less the NUL).
const MAX_LABEL_LEN: usize = 15;

/// The real [`Vips`] port: rtnetlink for addresses, a raw datalink channel for ARP.
#[derive(Debug, Default, Clone, Copy)]
pub struct NetlinkVips;

impl NetlinkVips {
    /// The port (stateless: one netlink socket per request; VIPs change rarely).
    pub fn new() -> NetlinkVips {
        NetlinkVips
    }
}

fn refused(what: String, reason: impl ToString, errno: Option<i32>) -> PortError {
    PortError {
        what,
        reason: reason.to_string(),
        errno,
    }
}

/// The interface index of `name` (the part before `:` of a device).
pub fn ifindex(name: &str) -> Option<u32> {
    pnet_datalink::interfaces()
        .into_iter()
        .find(|i| i.name == name)
        .map(|i| i.index)
}

/// Every address this host's interfaces hold (for the primary/backup decision).
pub fn local_addresses() -> Vec<IpAddr> {
    pnet_datalink::interfaces()
        .into_iter()
        .flat_map(|i| i.ips.into_iter().map(|n| n.ip()))
        .collect()
}

fn address_request(vip: &VipAddr, add: bool) -> Result<(), PortError> {
    let verb = if add { "add" } else { "remove" };
    let what = format!(
        "{verb} address {}/{} on {}",
        vip.ip, vip.prefix_len, vip.device
    );
    let index =
        ifindex(vip.interface()).ok_or_else(|| refused(what.clone(), "no such interface", None))?;
    let (family, bytes) = match vip.ip {
        IpAddr::V4(a) => (RtAddrFamily::Inet, a.octets().to_vec()),
        IpAddr::V6(a) => (RtAddrFamily::Inet6, a.octets().to_vec()),
    };
    let attr = |t: Ifa, payload: Vec<u8>| {
        RtattrBuilder::default()
            .rta_type(t)
            .rta_payload(Buffer::from(payload))
            .build()
            .map_err(|e| refused(what.clone(), e, None))
    };
    let mut attrs = RtBuffer::new();
    attrs.push(attr(Ifa::Local, bytes.clone())?);
    attrs.push(attr(Ifa::Address, bytes)?);
    // Labels exist for IPv4 only; the kernel wants them to start with the interface name.
    if vip.ip.is_ipv4() && vip.device.len() <= MAX_LABEL_LEN {
        let mut label = vip.device.as_bytes().to_vec();
        label.push(0);
        attrs.push(attr(Ifa::Label, label)?);
    }
    // An IPv6 VIP moves between routers: duplicate address detection would hold it tentative
    // (unusable) for a second after every takeover, and mark it failed for good if the old
    // router still answers for it during a handover. Hence `nodad`.
    let flags = if vip.ip.is_ipv6() {
        IfaF::NODAD
    } else {
        IfaF::empty()
    };
    let msg = IfaddrmsgBuilder::default()
        .ifa_family(family)
        .ifa_flags(flags)
        .ifa_prefixlen(vip.prefix_len)
        .ifa_scope(RtScope::Universe)
        .ifa_index(index)
        .rtattrs(attrs)
        .build()
        .map_err(|e| refused(what.clone(), e, None))?;
    let (router, _) = NlRouter::connect(NlFamily::Route, None, Groups::empty())
        .map_err(|e| refused(what.clone(), format!("netlink: {e}"), None))?;
    let (kind, flags) = if add {
        (Rtm::Newaddr, NlmF::CREATE | NlmF::EXCL | NlmF::ACK)
    } else {
        (Rtm::Deladdr, NlmF::ACK)
    };
    let recv = router
        .send::<Rtm, Ifaddrmsg, Rtm, Ifaddrmsg>(kind, flags, NlPayload::Payload(msg))
        .map_err(|e| refused(what.clone(), format!("netlink: {e}"), None))?;
    for response in recv {
        let response: Result<Nlmsghdr<Rtm, Ifaddrmsg>, _> = response;
        match response {
            Ok(_) => {}
            Err(RouterError::Nlmsgerr(e)) => {
                let errno = -*e.error();
                let idempotent = if add {
                    errno == EEXIST
                } else {
                    errno == EADDRNOTAVAIL
                };
                if !idempotent {
                    let reason = std::io::Error::from_raw_os_error(errno);
                    return Err(refused(what, reason, Some(errno)));
                }
            }
            Err(e) => return Err(refused(what, format!("netlink: {e}"), None)),
        }
    }
    Ok(())
}

/// Add the address (blocking; idempotent).
pub fn add_blocking(vip: &VipAddr) -> Result<(), PortError> {
    address_request(vip, true)
}

/// Remove the address (blocking; idempotent).
pub fn remove_blocking(vip: &VipAddr) -> Result<(), PortError> {
    address_request(vip, false)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, PortError> + Send + 'static,
) -> Result<T, PortError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| refused("netlink request".into(), e, None))?
}

#[async_trait]
impl Vips for NetlinkVips {
    async fn add(&self, vip: &VipAddr) -> Result<(), PortError> {
        let vip = vip.clone();
        blocking(move || add_blocking(&vip)).await
    }

    async fn remove(&self, vip: &VipAddr) -> Result<(), PortError> {
        let vip = vip.clone();
        blocking(move || remove_blocking(&vip)).await
    }

    async fn announce(&self, vip: &VipAddr, style: ArpStyle) -> Result<(), PortError> {
        let vip = vip.clone();
        blocking(move || arp::announce_blocking(&vip, style)).await
    }
}
