//! Unsolicited IPv6 neighbour advertisements (RFC 4861 §7.2.6): what ARP's gratuitous reply is
//! to IPv4. A router that took over an IPv6 VIP multicasts one to all nodes, with the override
//! flag set and its MAC in a target link-layer address option, and every host holding a
//! neighbour entry for the VIP replaces the old router's MAC with the new one.
//!
//! | offset | length | field | value |
//! |-------:|-------:|-------|-------|
//! | 0  | 6  | Ethernet destination | `33:33:00:00:00:01` (all-nodes multicast) |
//! | 6  | 6  | Ethernet source      | the interface's MAC |
//! | 12 | 2  | ethertype            | `0x86dd` (IPv6) |
//! | 14 | 4  | version, class, flow | `6`, 0, 0 |
//! | 18 | 2  | payload length       | 32 |
//! | 20 | 1  | next header          | 58 (ICMPv6) |
//! | 21 | 1  | hop limit            | 255 (receivers drop anything else) |
//! | 22 | 16 | source               | the VIP |
//! | 38 | 16 | destination          | `ff02::1` |
//! | 54 | 1  | ICMPv6 type          | 136 (neighbour advertisement) |
//! | 55 | 1  | code                 | 0 |
//! | 56 | 2  | checksum             | over the IPv6 pseudo-header and the message |
//! | 58 | 4  | flags (R S O), reserved | O = `0x20`: override; S must be 0 to a multicast |
//! | 62 | 16 | target address       | the VIP |
//! | 78 | 1  | option type          | 2 (target link-layer address) |
//! | 79 | 1  | option length        | 1 (units of 8 bytes) |
//! | 80 | 6  | link-layer address   | the interface's MAC |
//!
//! 86 bytes, above the Ethernet minimum, so no padding. Linux (`ndisc_recv_na`) updates an
//! existing entry from such an advertisement and ignores it for an address it has no entry for
//! (unless `accept_untracked_na` is set), exactly like gratuitous ARP.

use super::arp::Mac;
use super::{Error, Result};
use core::net::Ipv6Addr;

/// Byte ranges of the fields.
pub mod field {
    use core::ops::Range;
    /// Ethernet destination MAC.
    pub const ETH_DST: Range<usize> = 0..6;
    /// Ethernet source MAC.
    pub const ETH_SRC: Range<usize> = 6..12;
    /// Ethertype.
    pub const ETHERTYPE: Range<usize> = 12..14;
    /// IPv6 version (high nibble), traffic class and flow label.
    pub const VERSION: Range<usize> = 14..18;
    /// IPv6 payload length.
    pub const PAYLOAD_LEN: Range<usize> = 18..20;
    /// IPv6 next header.
    pub const NEXT_HEADER: usize = 20;
    /// IPv6 hop limit.
    pub const HOP_LIMIT: usize = 21;
    /// IPv6 source.
    pub const SRC: Range<usize> = 22..38;
    /// IPv6 destination.
    pub const DST: Range<usize> = 38..54;
    /// The ICMPv6 message (through the end of the option).
    pub const ICMP: Range<usize> = 54..86;
    /// ICMPv6 type.
    pub const TYPE: usize = 54;
    /// ICMPv6 code.
    pub const CODE: usize = 55;
    /// ICMPv6 checksum.
    pub const CHECKSUM: Range<usize> = 56..58;
    /// R, S, O flags (top three bits) and reserved bits.
    pub const FLAGS: Range<usize> = 58..62;
    /// Target address.
    pub const TARGET: Range<usize> = 62..78;
    /// Option type.
    pub const OPT_TYPE: usize = 78;
    /// Option length in 8-byte units.
    pub const OPT_LEN: usize = 79;
    /// Target link-layer address.
    pub const OPT_LLADDR: Range<usize> = 80..86;
}

/// Ethertype of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// IPv6 next header: ICMPv6.
pub const NEXT_HEADER_ICMPV6: u8 = 58;
/// ICMPv6 type: neighbour advertisement.
pub const TYPE_NEIGHBOR_ADVERT: u8 = 136;
/// NDP option: target link-layer address.
pub const OPTION_TARGET_LLADDR: u8 = 2;
/// Length of the frame [`Repr::to_bytes`] builds.
pub const FRAME_LEN: usize = field::OPT_LLADDR.end;
/// The all-nodes multicast address.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// The Ethernet address of all-nodes (`33:33` and the low 32 bits of `ff02::1`).
pub const ALL_NODES_MAC: Mac = Mac([0x33, 0x33, 0, 0, 0, 1]);

const FLAG_ROUTER: u8 = 0x80;
const FLAG_SOLICITED: u8 = 0x40;
const FLAG_OVERRIDE: u8 = 0x20;

/// A neighbour advertisement carrying a target link-layer address option, in an Ethernet
/// frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Ethernet destination.
    pub eth_dst: Mac,
    /// Ethernet source, and the link-layer address advertised.
    pub mac: Mac,
    /// IPv6 source.
    pub src: Ipv6Addr,
    /// IPv6 destination.
    pub dst: Ipv6Addr,
    /// R: the sender is a router.
    pub router: bool,
    /// S: an answer to a solicitation.
    pub solicited: bool,
    /// O: replace an existing cache entry.
    pub override_: bool,
    /// The address whose link-layer address is advertised.
    pub target: Ipv6Addr,
}

/// The Internet checksum of the IPv6 pseudo-header (RFC 8200 §8.1) for an ICMPv6 `message`
/// from `src` to `dst`, and the message (its checksum field counted as it stands: zero it
/// before computing, or compute over a received message to get 0 when it is valid).
pub fn icmpv6_checksum(src: &Ipv6Addr, dst: &Ipv6Addr, message: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |bytes: &[u8]| {
        let mut chunks = bytes.chunks_exact(2);
        for c in &mut chunks {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            sum += u32::from(*last) << 8;
        }
    };
    add(&src.octets());
    add(&dst.octets());
    // Upper-layer length (32 bits) and three zero bytes plus the next header.
    let len = u32::try_from(message.len()).unwrap_or(u32::MAX);
    add(&len.to_be_bytes());
    add(&[0, 0, 0, NEXT_HEADER_ICMPV6]);
    add(message);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // The fold leaves at most 16 bits.
    !(sum as u16)
}

impl Repr {
    /// The unsolicited advertisement a router sends for `vip` after taking it over: to all
    /// nodes, from the VIP, override set, solicited clear, router clear (the VIP is a service
    /// address, not a default gateway; R set would touch hosts' router lists).
    pub fn unsolicited(vip: Ipv6Addr, mac: Mac) -> Repr {
        Repr {
            eth_dst: ALL_NODES_MAC,
            mac,
            src: vip,
            dst: ALL_NODES,
            router: false,
            solicited: false,
            override_: true,
            target: vip,
        }
    }

    /// The frame's bytes, checksum included.
    pub fn to_bytes(&self) -> [u8; FRAME_LEN] {
        let mut b = [0u8; FRAME_LEN];
        b[field::ETH_DST].copy_from_slice(&self.eth_dst.0);
        b[field::ETH_SRC].copy_from_slice(&self.mac.0);
        b[field::ETHERTYPE].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
        b[field::VERSION.start] = 0x60;
        let payload = (field::ICMP.end - field::ICMP.start) as u16;
        b[field::PAYLOAD_LEN].copy_from_slice(&payload.to_be_bytes());
        b[field::NEXT_HEADER] = NEXT_HEADER_ICMPV6;
        b[field::HOP_LIMIT] = 255;
        b[field::SRC].copy_from_slice(&self.src.octets());
        b[field::DST].copy_from_slice(&self.dst.octets());
        b[field::TYPE] = TYPE_NEIGHBOR_ADVERT;
        b[field::CODE] = 0;
        b[field::FLAGS.start] = (if self.router { FLAG_ROUTER } else { 0 })
            | (if self.solicited { FLAG_SOLICITED } else { 0 })
            | (if self.override_ { FLAG_OVERRIDE } else { 0 });
        b[field::TARGET].copy_from_slice(&self.target.octets());
        b[field::OPT_TYPE] = OPTION_TARGET_LLADDR;
        b[field::OPT_LEN] = 1;
        b[field::OPT_LLADDR].copy_from_slice(&self.mac.0);
        let sum = icmpv6_checksum(&self.src, &self.dst, &b[field::ICMP]);
        b[field::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
        b
    }

    /// Parse a frame this module builds (any R/S/O flags): checks the ethertype, the IPv6
    /// header, hop limit 255, type and code, the checksum and the option; never panics.
    pub fn parse(b: &[u8]) -> Result<Repr> {
        if b.len() < FRAME_LEN {
            return Err(Error::Length);
        }
        let u16_at = |r: core::ops::Range<usize>| u16::from_be_bytes([b[r.start], b[r.start + 1]]);
        let mac_at = |r: core::ops::Range<usize>| {
            let mut m = [0u8; 6];
            m.copy_from_slice(&b[r]);
            Mac(m)
        };
        let ip_at = |r: core::ops::Range<usize>| {
            let mut a = [0u8; 16];
            a.copy_from_slice(&b[r]);
            Ipv6Addr::from(a)
        };
        if u16_at(field::ETHERTYPE) != ETHERTYPE_IPV6 || b[field::NEXT_HEADER] != NEXT_HEADER_ICMPV6
        {
            return Err(Error::Magic);
        }
        if b[field::VERSION.start] >> 4 != 6 {
            return Err(Error::Version);
        }
        let payload = usize::from(u16_at(field::PAYLOAD_LEN));
        if payload != field::ICMP.end - field::ICMP.start || b.len() < field::ICMP.start + payload {
            return Err(Error::Length);
        }
        if b[field::HOP_LIMIT] != 255
            || b[field::TYPE] != TYPE_NEIGHBOR_ADVERT
            || b[field::CODE] != 0
            || b[field::OPT_TYPE] != OPTION_TARGET_LLADDR
            || b[field::OPT_LEN] != 1
        {
            return Err(Error::Malformed);
        }
        let (src, dst) = (ip_at(field::SRC), ip_at(field::DST));
        if icmpv6_checksum(&src, &dst, &b[field::ICMP]) != 0 {
            return Err(Error::Auth);
        }
        let flags = b[field::FLAGS.start];
        Ok(Repr {
            eth_dst: mac_at(field::ETH_DST),
            mac: mac_at(field::OPT_LLADDR),
            src,
            dst,
            router: flags & FLAG_ROUTER != 0,
            solicited: flags & FLAG_SOLICITED != 0,
            override_: flags & FLAG_OVERRIDE != 0,
            target: ip_at(field::TARGET),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MAC: Mac = Mac([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);

    fn vip() -> Ipv6Addr {
        "fd00:77::50".parse().unwrap()
    }

    #[test]
    fn unsolicited_advert_layout() {
        let f = Repr::unsolicited(vip(), MAC).to_bytes();
        assert_eq!(f.len(), 86);
        assert_eq!(&f[0..6], &[0x33, 0x33, 0, 0, 0, 1]);
        assert_eq!(&f[6..12], &MAC.0);
        assert_eq!(&f[12..14], &[0x86, 0xdd]);
        assert_eq!(f[14], 0x60);
        assert_eq!(&f[18..20], &[0, 32]);
        assert_eq!((f[20], f[21]), (58, 255));
        assert_eq!(&f[22..38], &vip().octets());
        assert_eq!(&f[38..54], &ALL_NODES.octets());
        assert_eq!((f[54], f[55]), (136, 0));
        assert_eq!(&f[58..62], &[0x20, 0, 0, 0], "override only");
        assert_eq!(&f[62..78], &vip().octets());
        assert_eq!(&f[78..80], &[2, 1]);
        assert_eq!(&f[80..86], &MAC.0);
    }

    /// The checksum of one advertisement worked out by hand from RFC 1071's definition:
    /// pseudo-header words (fd00 0077 0 … 0050, ff02 0 … 0001, length 0x20, next header 0x3a),
    /// then the message (8800 0000 2000 0000, the target, 0201 5254 0012 3456).
    #[test]
    fn checksum_known_value() {
        let f = Repr::unsolicited(vip(), MAC).to_bytes();
        let words: [u32; 28] = [
            0xfd00, 0x0077, 0, 0, 0, 0, 0, 0x0050, // source
            0xff02, 0, 0, 0, 0, 0, 0, 0x0001, // destination
            0x0020, 0x003a, // length, next header
            0x8800, 0x2000, // type/code, flags
            0xfd00, 0x0077, 0x0050, // target (non-zero words)
            0x0201, 0x5254, 0x0012, 0x3456, 0,
        ];
        let mut sum: u32 = words.iter().sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        let expect = !(sum as u16);
        assert_eq!(u16::from_be_bytes([f[56], f[57]]), expect);
        // Over the finished message the checksum verifies to zero.
        assert_eq!(icmpv6_checksum(&vip(), &ALL_NODES, &f[field::ICMP]), 0);
    }

    #[test]
    fn round_trip_and_corruption_detected() {
        let r = Repr::unsolicited(vip(), MAC);
        let f = r.to_bytes();
        assert_eq!(Repr::parse(&f), Ok(r));
        for i in field::SRC.start..FRAME_LEN {
            let mut bad = f;
            bad[i] ^= 0x01;
            assert!(Repr::parse(&bad) != Ok(r), "flip at {i} unnoticed");
        }
        let mut hop = f;
        hop[field::HOP_LIMIT] = 64;
        assert_eq!(Repr::parse(&hop), Err(Error::Malformed));
        assert_eq!(Repr::parse(&f[..85]), Err(Error::Length));
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = Repr::parse(&bytes);
        }

        #[test]
        fn every_built_frame_verifies(vip in any::<[u8; 16]>(), mac in any::<[u8; 6]>()) {
            let r = Repr::unsolicited(Ipv6Addr::from(vip), Mac(mac));
            prop_assert_eq!(Repr::parse(&r.to_bytes()), Ok(r));
        }
    }
}
