//! Gratuitous ARP frames: Ethernet II header + an Ethernet/IPv4 ARP packet, zero-padded to
//! the 60-byte Ethernet minimum (the NIC adds the FCS).
//!
//! | offset | length | field | send_arp (reply) | announce (request) |
//! |-------:|-------:|-------|------------------|--------------------|
//! | 0  | 6 | Ethernet destination | targ_hw = `ff:ff:ff:ff:ff:ff` | `ff:ff:ff:ff:ff:ff` |
//! | 6  | 6 | Ethernet source      | src_hw | src_hw |
//! | 12 | 2 | ethertype            | `0x0806` | `0x0806` |
//! | 14 | 2 | hardware type        | 1 (Ethernet) | 1 |
//! | 16 | 2 | protocol type        | `0x0800` (IPv4) | `0x0800` |
//! | 18 | 1 | hardware length      | 6 | 6 |
//! | 19 | 1 | protocol length      | 4 | 4 |
//! | 20 | 2 | operation            | 2 (reply) | 1 (request) |
//! | 22 | 6 | sender MAC           | src_hw | src_hw |
//! | 28 | 4 | sender IP            | VIP | VIP |
//! | 32 | 6 | target MAC           | src_hw | `ff:ff:ff:ff:ff:ff` |
//! | 38 | 4 | target IP            | VIP | VIP |
//! | 42 | 18 | padding             | zero | zero |
//!
//! Piranha's `send_arp` sends the *reply* form (its `targ_ip` argument is ignored). The request
//! form is what keepalived (`send_gratuitous_arp_immediate`: ARPOP_REQUEST, target MAC
//! `ff:ff:ff:ff:ff:ff`, target IP = sender IP) and iputils `arping -U` (a request whose target
//! MAC is the broadcast destination) send; RFC 5227's "ARP announcement" is the same request
//! but says the target MAC SHOULD be zero and is ignored. Linux updates an existing neighbour
//! entry from either opcode, so both forms move a VIP; some switches and hosts only learn from
//! requests, hence the option. [`Repr::announce_request`] uses the keepalived/arping bytes;
//! build a [`Repr`] by hand for the RFC 5227 zero-MAC variant.

use super::{Error, Result};
use core::net::Ipv4Addr;

/// Byte ranges of the fields.
pub mod field {
    use core::ops::Range;
    /// Ethernet destination MAC.
    pub const ETH_DST: Range<usize> = 0..6;
    /// Ethernet source MAC.
    pub const ETH_SRC: Range<usize> = 6..12;
    /// Ethertype.
    pub const ETHERTYPE: Range<usize> = 12..14;
    /// ARP hardware type.
    pub const HTYPE: Range<usize> = 14..16;
    /// ARP protocol type.
    pub const PTYPE: Range<usize> = 16..18;
    /// Hardware address length.
    pub const HLEN: usize = 18;
    /// Protocol address length.
    pub const PLEN: usize = 19;
    /// Operation.
    pub const OPER: Range<usize> = 20..22;
    /// Sender hardware address.
    pub const SHA: Range<usize> = 22..28;
    /// Sender protocol address.
    pub const SPA: Range<usize> = 28..32;
    /// Target hardware address.
    pub const THA: Range<usize> = 32..38;
    /// Target protocol address.
    pub const TPA: Range<usize> = 38..42;
    /// Zero padding up to the Ethernet minimum.
    pub const PADDING: Range<usize> = 42..60;
}

/// Ethertype of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// Ethernet frame length `send_arp` sends (minimum frame without FCS).
pub const FRAME_LEN: usize = 60;
/// Shortest frame the parser accepts (header + ARP body, no padding).
pub const MIN_LEN: usize = field::TPA.end;
/// The broadcast MAC.
pub const BROADCAST: Mac = Mac([0xff; 6]);

/// An Ethernet MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Mac(pub [u8; 6]);

impl core::fmt::Display for Mac {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// ARP operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// 1.
    Request,
    /// 2.
    Reply,
}

/// A read/write view of an Ethernet frame carrying ARP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

fn mac_at(b: &[u8], r: core::ops::Range<usize>) -> Mac {
    let mut m = [0u8; 6];
    m.copy_from_slice(&b[r]);
    Mac(m)
}

fn ip_at(b: &[u8], r: core::ops::Range<usize>) -> Ipv4Addr {
    let s = &b[r];
    Ipv4Addr::new(s[0], s[1], s[2], s[3])
}

fn u16_at(b: &[u8], r: core::ops::Range<usize>) -> u16 {
    let s = &b[r];
    u16::from_be_bytes([s[0], s[1]])
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap without checking.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }
    /// Wrap, checking at least [`MIN_LEN`] bytes.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    /// At least [`MIN_LEN`] bytes (padding and trailing bytes are not inspected).
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() >= MIN_LEN {
            Ok(())
        } else {
            Err(Error::Length)
        }
    }
    /// The inner buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
    /// Ethernet destination.
    pub fn eth_dst(&self) -> Mac {
        mac_at(self.buffer.as_ref(), field::ETH_DST)
    }
    /// Ethernet source.
    pub fn eth_src(&self) -> Mac {
        mac_at(self.buffer.as_ref(), field::ETH_SRC)
    }
    /// Ethertype.
    pub fn ethertype(&self) -> u16 {
        u16_at(self.buffer.as_ref(), field::ETHERTYPE)
    }
    /// Hardware type.
    pub fn htype(&self) -> u16 {
        u16_at(self.buffer.as_ref(), field::HTYPE)
    }
    /// Protocol type.
    pub fn ptype(&self) -> u16 {
        u16_at(self.buffer.as_ref(), field::PTYPE)
    }
    /// Hardware address length.
    pub fn hlen(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }
    /// Protocol address length.
    pub fn plen(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }
    /// Raw operation.
    pub fn oper(&self) -> u16 {
        u16_at(self.buffer.as_ref(), field::OPER)
    }
    /// Sender MAC.
    pub fn sender_hw(&self) -> Mac {
        mac_at(self.buffer.as_ref(), field::SHA)
    }
    /// Sender IP.
    pub fn sender_ip(&self) -> Ipv4Addr {
        ip_at(self.buffer.as_ref(), field::SPA)
    }
    /// Target MAC.
    pub fn target_hw(&self) -> Mac {
        mac_at(self.buffer.as_ref(), field::THA)
    }
    /// Target IP.
    pub fn target_ip(&self) -> Ipv4Addr {
        ip_at(self.buffer.as_ref(), field::TPA)
    }
}

/// The meaning of an Ethernet/IPv4 ARP frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Ethernet destination.
    pub eth_dst: Mac,
    /// Ethernet source.
    pub eth_src: Mac,
    /// Request or reply.
    pub operation: Operation,
    /// Sender MAC.
    pub sender_hw: Mac,
    /// Sender IP.
    pub sender_ip: Ipv4Addr,
    /// Target MAC.
    pub target_hw: Mac,
    /// Target IP.
    pub target_ip: Ipv4Addr,
}

impl Repr {
    /// Exactly what `send_arp -i DEV VIP src_hw <bcast> ffffffffffff` sends: an ARP reply to
    /// the broadcast MAC with sender and target both `src_hw`/`vip`.
    pub fn send_arp_reply(vip: Ipv4Addr, src_hw: Mac) -> Repr {
        Repr {
            eth_dst: BROADCAST,
            eth_src: src_hw,
            operation: Operation::Reply,
            sender_hw: src_hw,
            sender_ip: vip,
            target_hw: src_hw,
            target_ip: vip,
        }
    }

    /// A gratuitous ARP request as keepalived and `arping -U` send it (target MAC broadcast).
    pub fn announce_request(vip: Ipv4Addr, src_hw: Mac) -> Repr {
        Repr {
            operation: Operation::Request,
            target_hw: BROADCAST,
            ..Self::send_arp_reply(vip, src_hw)
        }
    }

    /// Is this a gratuitous ARP (sender IP = target IP), i.e. an announcement that
    /// `sender_ip` is at `sender_hw`?
    pub fn is_gratuitous(&self) -> bool {
        self.sender_ip == self.target_ip
    }

    /// Parse: Ethernet/IPv4 ARP, opcode 1 or 2.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        if packet.ethertype() != ETHERTYPE_ARP
            || packet.htype() != 1
            || packet.ptype() != 0x0800
            || packet.hlen() != 6
            || packet.plen() != 4
        {
            return Err(Error::Malformed);
        }
        let operation = match packet.oper() {
            1 => Operation::Request,
            2 => Operation::Reply,
            _ => return Err(Error::Malformed),
        };
        Ok(Repr {
            eth_dst: packet.eth_dst(),
            eth_src: packet.eth_src(),
            operation,
            sender_hw: packet.sender_hw(),
            sender_ip: packet.sender_ip(),
            target_hw: packet.target_hw(),
            target_ip: packet.target_ip(),
        })
    }

    /// Parse raw bytes.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Repr> {
        Self::parse(&Packet::new_checked(bytes)?)
    }

    /// Bytes [`emit`](Self::emit) writes: always the padded 60.
    pub const fn buffer_len(&self) -> usize {
        FRAME_LEN
    }

    /// Write the frame, padding zeroed, into a buffer of at least [`FRAME_LEN`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        let b = &mut packet.buffer.as_mut()[..FRAME_LEN];
        b[field::ETH_DST].copy_from_slice(&self.eth_dst.0);
        b[field::ETH_SRC].copy_from_slice(&self.eth_src.0);
        b[field::ETHERTYPE].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
        b[field::HTYPE].copy_from_slice(&1u16.to_be_bytes());
        b[field::PTYPE].copy_from_slice(&0x0800u16.to_be_bytes());
        b[field::HLEN] = 6;
        b[field::PLEN] = 4;
        let op: u16 = match self.operation {
            Operation::Request => 1,
            Operation::Reply => 2,
        };
        b[field::OPER].copy_from_slice(&op.to_be_bytes());
        b[field::SHA].copy_from_slice(&self.sender_hw.0);
        b[field::SPA].copy_from_slice(&self.sender_ip.octets());
        b[field::THA].copy_from_slice(&self.target_hw.0);
        b[field::TPA].copy_from_slice(&self.target_ip.octets());
        b[field::PADDING].fill(0);
    }

    /// The 60-byte frame.
    pub fn to_bytes(&self) -> [u8; FRAME_LEN] {
        let mut p = Packet::new_unchecked([0u8; FRAME_LEN]);
        self.emit(&mut p);
        p.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MAC: Mac = Mac([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
    const VIP: Ipv4Addr = Ipv4Addr::new(192, 168, 26, 10);

    /// `send_arp -i eth0 192.168.26.10 525400123456 192.168.26.255 ffffffffffff`.
    const SEND_ARP_FRAME: [u8; 60] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // dst broadcast
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56, // src
        0x08, 0x06, // ARP
        0x00, 0x01, 0x08, 0x00, 6, 4, // Ethernet, IPv4, 6, 4
        0x00, 0x02, // reply
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 192, 168, 26, 10, // sender
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 192, 168, 26, 10, // target
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // padding
    ];

    #[test]
    fn send_arp_frame_bytes() {
        let r = Repr::send_arp_reply(VIP, MAC);
        assert_eq!(r.to_bytes(), SEND_ARP_FRAME);
        assert_eq!(r.buffer_len(), 60);
        assert_eq!(Repr::parse_bytes(&SEND_ARP_FRAME), Ok(r));
        assert!(r.is_gratuitous());
    }

    #[test]
    fn announce_request_bytes() {
        let b = Repr::announce_request(VIP, MAC).to_bytes();
        let mut want = SEND_ARP_FRAME;
        want[21] = 1;
        want[32..38].copy_from_slice(&[0xff; 6]);
        assert_eq!(b, want);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.oper(), 1);
        assert_eq!(p.target_hw(), BROADCAST);
        assert_eq!(p.target_ip(), VIP);
    }

    #[test]
    fn rfc5227_zero_mac_round_trips() {
        let r = Repr {
            target_hw: Mac([0; 6]),
            ..Repr::announce_request(VIP, MAC)
        };
        assert_eq!(Repr::parse_bytes(&r.to_bytes()), Ok(r));
        assert_eq!(r.target_hw.to_string(), "00:00:00:00:00:00");
        assert_eq!(MAC.to_string(), "52:54:00:12:34:56");
    }

    #[test]
    fn unpadded_frames_parse_short_and_wrong_ones_do_not() {
        assert!(Repr::parse_bytes(&SEND_ARP_FRAME[..42]).is_ok());
        assert_eq!(Repr::parse_bytes(&SEND_ARP_FRAME[..41]), Err(Error::Length));
        for (i, v) in [(12, 0x86), (15, 6), (16, 0x86), (18, 8), (19, 16), (21, 3)] {
            let mut f = SEND_ARP_FRAME;
            f[i] = v;
            assert_eq!(Repr::parse_bytes(&f), Err(Error::Malformed), "byte {i}");
        }
    }

    #[test]
    fn emit_clears_dirty_padding() {
        let mut p = Packet::new_unchecked([0xaau8; 64]);
        Repr::send_arp_reply(VIP, MAC).emit(&mut p);
        let b = p.into_inner();
        assert_eq!(&b[..60], &SEND_ARP_FRAME[..]);
        assert_eq!(&b[60..], &[0xaa; 4]);
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(r) = Repr::parse_bytes(&bytes) {
                prop_assert!(bytes.len() >= MIN_LEN);
                prop_assert_eq!(&r.to_bytes()[..MIN_LEN], &bytes[..MIN_LEN]);
            }
        }

        #[test]
        fn round_trip(ip in any::<u32>(), mac in any::<[u8; 6]>(), request in any::<bool>()) {
            let ip = Ipv4Addr::from(ip);
            let r = if request { Repr::announce_request(ip, Mac(mac)) } else { Repr::send_arp_reply(ip, Mac(mac)) };
            prop_assert_eq!(Repr::parse_bytes(&r.to_bytes()), Ok(r));
        }
    }
}
