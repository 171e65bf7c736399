//! Gratuitous ARP through pnet's datalink channel (a raw `AF_PACKET` socket): the frames are
//! built by `piranha_engine::wire::arp`, byte for byte what Piranha's `send_arp` sends (or the
//! request form some switches prefer). IPv6 VIPs are announced the same way with an unsolicited
//! neighbour advertisement (`piranha_engine::wire::ndp`), through the same director outputs, so
//! `arp_count`, `arp_interval` and `arp_refresh` apply to both.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use piranha_engine::ports::{ArpStyle, PortError, VipAddr};
use piranha_engine::wire::arp::{Mac, Repr, FRAME_LEN};
use piranha_engine::wire::ndp;
use pnet_datalink::Channel;

fn refused(what: String, reason: impl ToString) -> PortError {
    PortError {
        what,
        reason: reason.to_string(),
        errno: None,
    }
}

/// The hardware address of interface `name`.
pub fn interface_mac(name: &str) -> Option<Mac> {
    pnet_datalink::interfaces()
        .into_iter()
        .find(|i| i.name == name)
        .and_then(|i| i.mac)
        .map(|m| Mac(m.octets()))
}

/// Send one raw Ethernet frame out of interface `name` (blocking).
pub fn send_frame(name: &str, frame: &[u8]) -> Result<(), PortError> {
    let what = format!("send announcement frame on {name}");
    let iface = pnet_datalink::interfaces()
        .into_iter()
        .find(|i| i.name == name)
        .ok_or_else(|| refused(what.clone(), "no such interface"))?;
    let config = pnet_datalink::Config {
        read_timeout: Some(std::time::Duration::from_millis(1)),
        ..Default::default()
    };
    let (mut tx, _rx) = match pnet_datalink::channel(&iface, config) {
        Ok(Channel::Ethernet(tx, rx)) => (tx, rx),
        Ok(_) => return Err(refused(what, "not an Ethernet channel")),
        Err(e) => {
            return Err(PortError {
                what,
                reason: e.to_string(),
                errno: e.raw_os_error(),
            })
        }
    };
    match tx.send_to(frame, None) {
        Some(Ok(())) => Ok(()),
        Some(Err(e)) => Err(PortError {
            what,
            reason: e.to_string(),
            errno: e.raw_os_error(),
        }),
        None => Err(refused(what, "the channel refused the frame")),
    }
}

/// The frame announcing `ip` from `mac` in `style`.
pub fn announcement(ip: Ipv4Addr, mac: Mac, style: ArpStyle) -> [u8; FRAME_LEN] {
    match style {
        ArpStyle::GratuitousReply => Repr::send_arp_reply(ip, mac),
        ArpStyle::GratuitousRequest => Repr::announce_request(ip, mac),
    }
    .to_bytes()
}

/// The unsolicited neighbour advertisement announcing IPv6 `ip` from `mac`.
pub fn advertisement(ip: Ipv6Addr, mac: Mac) -> [u8; ndp::FRAME_LEN] {
    ndp::Repr::unsolicited(ip, mac).to_bytes()
}

/// Announce a VIP from its interface's hardware address (blocking): a gratuitous ARP for an
/// IPv4 VIP (in `style`), an unsolicited neighbour advertisement (override set, target
/// link-layer address option) for an IPv6 one.
pub fn announce_blocking(vip: &VipAddr, style: ArpStyle) -> Result<(), PortError> {
    let dev = vip.interface();
    let mac = interface_mac(dev).ok_or_else(|| {
        refused(
            format!("announce {} on {dev}", vip.ip),
            "no hardware address",
        )
    })?;
    match vip.ip {
        IpAddr::V4(ip) => send_frame(dev, &announcement(ip, mac, style)),
        IpAddr::V6(ip) => send_frame(dev, &advertisement(ip, mac)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcement_is_send_arp_bytes() {
        let mac = Mac([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        let f = announcement(
            Ipv4Addr::new(192, 168, 26, 10),
            mac,
            ArpStyle::GratuitousReply,
        );
        assert_eq!(&f[0..6], &[0xff; 6]);
        assert_eq!(&f[6..12], &mac.0);
        assert_eq!(&f[12..14], &[0x08, 0x06]);
        assert_eq!(&f[20..22], &[0, 2], "Piranha sends a reply");
        assert_eq!(&f[28..32], &[192, 168, 26, 10]);
        assert_eq!(&f[32..38], &mac.0, "target MAC = sender MAC");
        let r = announcement(Ipv4Addr::new(10, 0, 0, 1), mac, ArpStyle::GratuitousRequest);
        assert_eq!(&r[20..22], &[0, 1]);
        assert_eq!(&r[32..38], &[0xff; 6]);
    }

    #[test]
    fn ipv6_advertisement_overrides_from_our_mac() {
        let mac = Mac([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        let ip: Ipv6Addr = "2001:db8::10".parse().unwrap();
        let f = advertisement(ip, mac);
        let r = ndp::Repr::parse(&f).unwrap();
        assert!(r.override_ && !r.solicited && !r.router);
        assert_eq!((r.target, r.mac, r.dst), (ip, mac, ndp::ALL_NODES));
    }
}
