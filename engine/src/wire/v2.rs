//! The authenticated heartbeat (protocol v2), also spoken by the witness (arbiter).
//!
//! One UDP datagram of exactly [`PACKET_LEN`] = 88 bytes; integers big-endian (network order).
//!
//! | offset | length | field | meaning |
//! |-------:|-------:|-------|---------|
//! | 0  | 4  | magic        | `b"PIRA"` |
//! | 4  | 1  | version      | `2` |
//! | 5  | 1  | message      | 1 RUNNING, 2 STOPPED, 16 LEASE_REQUEST, 17 LEASE_GRANT, 18 LEASE_DENY, 19 LEASE_RELEASE |
//! | 6  | 2  | flags        | bit 0 ACTIVE (sender holds the VIPs), bit 1 TAKEBACK (fail-back: the primary asks the active backup to hand over), bit 2 FAULT (sender has a child/link fault), bit 3 GRACE (grant made during the witness's start-up grace); other bits reserved, carried as-is |
//! | 8  | 4  | node id      | the sender |
//! | 12 | 4  | lease holder | grant/deny/release: the node the lease is (or stays) with; else 0 |
//! | 16 | 4  | lease ms     | request: wanted duration; grant: granted duration; deny from a witness in its start-up grace: how long it grants nobody; else 0 |
//! | 20 | 4  | reserved     | must be zero |
//! | 24 | 8  | incarnation  | the sender's boot epoch: grows at every (re)start |
//! | 32 | 8  | sequence     | grows with every packet within one incarnation |
//! | 40 | 8  | echo         | grant/deny: the sequence of the request answered; else 0 |
//! | 48 | 8  | serial no    | the sender's lvs.cf `serial_no` (shows a config mismatch) |
//! | 56 | 32 | tag          | HMAC-SHA256 over bytes 0..56 with the shared key |
//!
//! [`Repr::parse`] checks length, magic and version, then verifies the tag in constant time
//! (`hmac`'s `verify_slice`) before it trusts any other field. Freshness (the replay window
//! over incarnation and sequence) is the receiver's job: see `pulse`.

use super::{Error, Result};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Byte ranges of the fields.
pub mod field {
    use core::ops::Range;
    /// `b"PIRA"`.
    pub const MAGIC: Range<usize> = 0..4;
    /// Protocol version.
    pub const VERSION: usize = 4;
    /// Message kind.
    pub const MESSAGE: usize = 5;
    /// Flag bits.
    pub const FLAGS: Range<usize> = 6..8;
    /// Sender node id.
    pub const NODE_ID: Range<usize> = 8..12;
    /// Lease holder node id.
    pub const LEASE_HOLDER: Range<usize> = 12..16;
    /// Lease duration in milliseconds.
    pub const LEASE_MS: Range<usize> = 16..20;
    /// Reserved, zero.
    pub const RESERVED: Range<usize> = 20..24;
    /// Sender's boot epoch.
    pub const INCARNATION: Range<usize> = 24..32;
    /// Per-incarnation sequence.
    pub const SEQUENCE: Range<usize> = 32..40;
    /// Answered request's sequence.
    pub const ECHO: Range<usize> = 40..48;
    /// lvs.cf serial_no.
    pub const SERIAL_NO: Range<usize> = 48..56;
    /// Everything the tag covers.
    pub const HEADER: Range<usize> = 0..56;
    /// HMAC-SHA256 tag.
    pub const TAG: Range<usize> = 56..88;
}

/// The magic that starts every v2 packet.
pub const MAGIC: [u8; 4] = *b"PIRA";
/// The version this module speaks.
pub const VERSION: u8 = 2;
/// Length of every v2 packet, in bytes.
pub const PACKET_LEN: usize = field::TAG.end;

/// Identity of a node (router or witness) in v2 packets. By convention primary = 1,
/// backup = 2, witness = 3; zero means "none".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NodeId(pub u32);

impl NodeId {
    /// No node.
    pub const NONE: NodeId = NodeId(0);
}

/// The shared heartbeat key (from lvs.cf `heartbeat_key_file`). Debug output never shows it.
#[derive(Clone)]
pub struct Key {
    mac: HmacSha256,
}

/// The key is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("heartbeat key is empty")]
pub struct EmptyKey;

impl Key {
    /// A key from its bytes; an empty key is refused (it would authenticate nothing).
    pub fn new(bytes: &[u8]) -> core::result::Result<Key, EmptyKey> {
        if bytes.is_empty() {
            return Err(EmptyKey);
        }
        let mac = <HmacSha256 as KeyInit>::new_from_slice(bytes).map_err(|_| EmptyKey)?;
        Ok(Key { mac })
    }

    /// Whether two keys are the same key (compared by their MAC of a fixed label, so the key
    /// bytes are never kept around to compare; a reload uses it to notice a rotation).
    pub fn same_as(&self, other: &Key) -> bool {
        const LABEL: &[u8] = b"piranha heartbeat key comparison";
        self.tag(LABEL) == other.tag(LABEL)
    }

    fn tag(&self, header: &[u8]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(header);
        let out = mac.finalize().into_bytes();
        let mut tag = [0u8; 32];
        tag.copy_from_slice(&out);
        tag
    }

    fn verify(&self, header: &[u8], tag: &[u8]) -> Result<()> {
        let mut mac = self.mac.clone();
        mac.update(header);
        mac.verify_slice(tag).map_err(|_| Error::Auth)
    }
}

impl core::fmt::Debug for Key {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Key(..)")
    }
}

/// Message kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Message {
    /// Router to router: my pulse runs (like legacy RUNNING).
    Running,
    /// Router to router: I stopped or gave up (like legacy STOPPED): take over now.
    Stopped,
    /// Router to witness: grant me (or extend) the lease.
    LeaseRequest,
    /// Witness to router: the lease is yours for `lease_ms` from when you asked.
    LeaseGrant,
    /// Witness to router: the lease is held by `lease_holder`.
    LeaseDeny,
    /// Router to witness: I give the lease up (graceful stop, giveup).
    LeaseRelease,
}

impl Message {
    /// Wire value.
    pub const fn to_u8(self) -> u8 {
        match self {
            Message::Running => 1,
            Message::Stopped => 2,
            Message::LeaseRequest => 16,
            Message::LeaseGrant => 17,
            Message::LeaseDeny => 18,
            Message::LeaseRelease => 19,
        }
    }
    /// From the wire value.
    pub const fn from_u8(v: u8) -> Option<Message> {
        match v {
            1 => Some(Message::Running),
            2 => Some(Message::Stopped),
            16 => Some(Message::LeaseRequest),
            17 => Some(Message::LeaseGrant),
            18 => Some(Message::LeaseDeny),
            19 => Some(Message::LeaseRelease),
            _ => None,
        }
    }
}

/// Flag bits of a v2 header (unknown bits are kept, not interpreted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u16);

impl Flags {
    /// The sender holds the VIPs (is active).
    pub const ACTIVE: Flags = Flags(1);
    /// Fail-back: the primary asks the active backup to hand the VIPs over.
    pub const TAKEBACK: Flags = Flags(2);
    /// The sender has a child or link fault.
    pub const FAULT: Flags = Flags(4);
    /// Witness grant made during its start-up grace: usable only by a router whose lease
    /// is still valid when the grant arrives.
    pub const GRACE: Flags = Flags(8);
    /// The sender is active but its lease ran out: it holds the VIPs only because it hears its
    /// partner standby (the witness is unreachable). A partner that can get the lease should
    /// ask for the VIPs with [`Flags::RELIEVE`].
    pub const UNLEASED: Flags = Flags(16);
    /// The sender (standby) holds a valid lease and asks an unleased active partner to hand
    /// the VIPs over (it then takes over on the partner's STOPPED).
    pub const RELIEVE: Flags = Flags(32);

    /// No flags.
    pub const fn empty() -> Flags {
        Flags(0)
    }
    /// Are all bits of `other` set?
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
    /// `self` with `other`'s bits set or cleared.
    pub const fn with(self, other: Flags, on: bool) -> Flags {
        if on {
            Flags(self.0 | other.0)
        } else {
            Flags(self.0 & !other.0)
        }
    }
}

/// A read/write view of a v2 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

fn be_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(b);
    u32::from_be_bytes(a)
}

fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    u64::from_be_bytes(a)
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap without checking (accessors may panic until [`check_len`](Self::check_len) passes).
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }
    /// Wrap, checking the length is exactly [`PACKET_LEN`].
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    /// Exactly [`PACKET_LEN`] bytes.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() == PACKET_LEN {
            Ok(())
        } else {
            Err(Error::Length)
        }
    }
    /// The inner buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }
    /// Magic bytes.
    pub fn magic(&self) -> [u8; 4] {
        let m = &self.b()[field::MAGIC];
        [m[0], m[1], m[2], m[3]]
    }
    /// Version byte.
    pub fn version(&self) -> u8 {
        self.b()[field::VERSION]
    }
    /// Raw message byte.
    pub fn message(&self) -> u8 {
        self.b()[field::MESSAGE]
    }
    /// Flag bits.
    pub fn flags(&self) -> Flags {
        let f = &self.b()[field::FLAGS];
        Flags(u16::from_be_bytes([f[0], f[1]]))
    }
    /// Sender node id.
    pub fn node_id(&self) -> NodeId {
        NodeId(be_u32(&self.b()[field::NODE_ID]))
    }
    /// Lease holder.
    pub fn lease_holder(&self) -> NodeId {
        NodeId(be_u32(&self.b()[field::LEASE_HOLDER]))
    }
    /// Lease duration (ms).
    pub fn lease_ms(&self) -> u32 {
        be_u32(&self.b()[field::LEASE_MS])
    }
    /// Reserved word.
    pub fn reserved(&self) -> u32 {
        be_u32(&self.b()[field::RESERVED])
    }
    /// Incarnation.
    pub fn incarnation(&self) -> u64 {
        be_u64(&self.b()[field::INCARNATION])
    }
    /// Sequence.
    pub fn sequence(&self) -> u64 {
        be_u64(&self.b()[field::SEQUENCE])
    }
    /// Echoed request sequence.
    pub fn echo(&self) -> u64 {
        be_u64(&self.b()[field::ECHO])
    }
    /// Config serial.
    pub fn serial_no(&self) -> u64 {
        be_u64(&self.b()[field::SERIAL_NO])
    }
    /// The tag bytes.
    pub fn tag(&self) -> &[u8] {
        &self.b()[field::TAG]
    }
    /// Verify the tag under `key` (constant time).
    pub fn verify(&self, key: &Key) -> Result<()> {
        key.verify(&self.b()[field::HEADER], self.tag())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn bm(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }
    fn put(&mut self, r: core::ops::Range<usize>, v: &[u8]) {
        self.bm()[r].copy_from_slice(v);
    }
    /// Write the tag for the current header under `key`.
    pub fn fill_tag(&mut self, key: &Key) {
        let tag = key.tag(&self.b()[field::HEADER]);
        self.put(field::TAG, &tag);
    }
}

/// The meaning of a v2 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Kind.
    pub message: Message,
    /// Flag bits.
    pub flags: Flags,
    /// Sender.
    pub node_id: NodeId,
    /// Lease holder (lease messages), else [`NodeId::NONE`].
    pub lease_holder: NodeId,
    /// Lease duration in milliseconds (lease messages), else 0.
    pub lease_ms: u32,
    /// Sender's boot epoch.
    pub incarnation: u64,
    /// Sender's per-incarnation sequence.
    pub sequence: u64,
    /// Answered request's sequence (grant/deny), else 0.
    pub echo: u64,
    /// Sender's lvs.cf serial_no.
    pub serial_no: u64,
}

impl Repr {
    /// A heartbeat (RUNNING / STOPPED) with no lease fields.
    pub fn heartbeat(
        message: Message,
        flags: Flags,
        node_id: NodeId,
        incarnation: u64,
        sequence: u64,
        serial_no: u64,
    ) -> Repr {
        Repr {
            message,
            flags,
            node_id,
            lease_holder: NodeId::NONE,
            lease_ms: 0,
            incarnation,
            sequence,
            echo: 0,
            serial_no,
        }
    }

    /// Parse and authenticate. Order: length, magic, version, tag, then field values.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>, key: &Key) -> Result<Repr> {
        packet.check_len()?;
        if packet.magic() != MAGIC {
            return Err(Error::Magic);
        }
        if packet.version() != VERSION {
            return Err(Error::Version);
        }
        packet.verify(key)?;
        let message = Message::from_u8(packet.message()).ok_or(Error::Malformed)?;
        if packet.reserved() != 0 {
            return Err(Error::Malformed);
        }
        Ok(Repr {
            message,
            flags: packet.flags(),
            node_id: packet.node_id(),
            lease_holder: packet.lease_holder(),
            lease_ms: packet.lease_ms(),
            incarnation: packet.incarnation(),
            sequence: packet.sequence(),
            echo: packet.echo(),
            serial_no: packet.serial_no(),
        })
    }

    /// Parse raw bytes.
    pub fn parse_bytes(bytes: &[u8], key: &Key) -> Result<Repr> {
        Self::parse(&Packet::new_checked(bytes)?, key)
    }

    /// Bytes [`emit`](Self::emit) writes.
    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }

    /// Write into a packet of [`PACKET_LEN`] bytes, tag included.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>, key: &Key) {
        packet.put(field::MAGIC, &MAGIC);
        packet.bm()[field::VERSION] = VERSION;
        packet.bm()[field::MESSAGE] = self.message.to_u8();
        packet.put(field::FLAGS, &self.flags.0.to_be_bytes());
        packet.put(field::NODE_ID, &self.node_id.0.to_be_bytes());
        packet.put(field::LEASE_HOLDER, &self.lease_holder.0.to_be_bytes());
        packet.put(field::LEASE_MS, &self.lease_ms.to_be_bytes());
        packet.put(field::RESERVED, &[0; 4]);
        packet.put(field::INCARNATION, &self.incarnation.to_be_bytes());
        packet.put(field::SEQUENCE, &self.sequence.to_be_bytes());
        packet.put(field::ECHO, &self.echo.to_be_bytes());
        packet.put(field::SERIAL_NO, &self.serial_no.to_be_bytes());
        packet.fill_tag(key);
    }

    /// The packet's bytes.
    pub fn to_bytes(&self, key: &Key) -> [u8; PACKET_LEN] {
        let mut p = Packet::new_unchecked([0u8; PACKET_LEN]);
        self.emit(&mut p, key);
        p.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key() -> Key {
        Key::new(b"correct horse battery staple").unwrap()
    }

    fn running() -> Repr {
        Repr::heartbeat(
            Message::Running,
            Flags::ACTIVE,
            NodeId(1),
            0x0102_0304_0506_0708,
            42,
            7,
        )
    }

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let k = Key::new(b"Jefe").unwrap();
        let tag = k.tag(b"what do ya want for nothing?");
        let want = [
            0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95,
            0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9,
            0x64, 0xec, 0x38, 0x43,
        ];
        assert_eq!(tag, want);
    }

    #[test]
    fn header_bytes_are_the_documented_layout() {
        let b = running().to_bytes(&key());
        assert_eq!(b.len(), 88);
        let want_header: [u8; 56] = [
            b'P', b'I', b'R', b'A', 2, 1, 0, 1, // magic, version, RUNNING, flags=ACTIVE
            0, 0, 0, 1, // node 1
            0, 0, 0, 0, // lease holder
            0, 0, 0, 0, // lease ms
            0, 0, 0, 0, // reserved
            1, 2, 3, 4, 5, 6, 7, 8, // incarnation
            0, 0, 0, 0, 0, 0, 0, 42, // sequence
            0, 0, 0, 0, 0, 0, 0, 0, // echo
            0, 0, 0, 0, 0, 0, 0, 7, // serial
        ];
        assert_eq!(&b[..56], &want_header[..]);
        assert_eq!(&b[56..], &key().tag(&want_header)[..]);
    }

    #[test]
    fn round_trip_every_message() {
        for m in [
            Message::Running,
            Message::Stopped,
            Message::LeaseRequest,
            Message::LeaseGrant,
            Message::LeaseDeny,
            Message::LeaseRelease,
        ] {
            let r = Repr {
                message: m,
                flags: Flags(0xfff0).with(Flags::FAULT, true),
                node_id: NodeId(3),
                lease_holder: NodeId(2),
                lease_ms: 15_000,
                incarnation: u64::MAX,
                sequence: 9,
                echo: 8,
                serial_no: 1,
            };
            assert_eq!(Repr::parse_bytes(&r.to_bytes(&key()), &key()), Ok(r));
        }
    }

    #[test]
    fn wrong_key_or_any_flipped_bit_is_rejected() {
        let b = running().to_bytes(&key());
        let other = Key::new(b"another key").unwrap();
        assert_eq!(Repr::parse_bytes(&b, &other), Err(Error::Auth));
        for i in 0..PACKET_LEN {
            let mut c = b;
            c[i] ^= 0x01;
            let err = Repr::parse_bytes(&c, &key()).unwrap_err();
            let want = match i {
                0..=3 => Error::Magic,
                4 => Error::Version,
                _ => Error::Auth,
            };
            assert_eq!(err, want, "bit flip at byte {i}");
        }
    }

    #[test]
    fn authenticated_but_invalid_fields_are_malformed() {
        let mut p = Packet::new_unchecked(running().to_bytes(&key()));
        p.bm()[field::MESSAGE] = 99;
        p.fill_tag(&key());
        assert_eq!(Repr::parse(&p, &key()), Err(Error::Malformed));
        let mut p = Packet::new_unchecked(running().to_bytes(&key()));
        p.bm()[field::RESERVED.start] = 1;
        p.fill_tag(&key());
        assert_eq!(Repr::parse(&p, &key()), Err(Error::Malformed));
    }

    #[test]
    fn legacy_packets_and_lengths_are_rejected() {
        assert_eq!(
            Repr::parse_bytes(&[0xda, 0xdb, 0xad, 0xbd], &key()),
            Err(Error::Length)
        );
        let b = running().to_bytes(&key());
        assert_eq!(Repr::parse_bytes(&b[..87], &key()), Err(Error::Length));
        let mut long = b.to_vec();
        long.push(0);
        assert_eq!(Repr::parse_bytes(&long, &key()), Err(Error::Length));
        assert_eq!(Key::new(b"").unwrap_err(), EmptyKey);
        assert_eq!(format!("{:?}", key()), "Key(..)");
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
            prop_assert!(Repr::parse_bytes(&bytes, &key()).is_err() || bytes.len() == PACKET_LEN);
        }

        #[test]
        fn parse_never_panics_with_valid_prefix(tail in proptest::collection::vec(any::<u8>(), 84)) {
            let mut b = vec![b'P', b'I', b'R', b'A'];
            b.extend_from_slice(&tail);
            b[4] = 2;
            // A random tag never verifies.
            prop_assert!(Repr::parse_bytes(&b, &key()).is_err());
        }

        #[test]
        fn round_trip_any(m in 0u8..6, flags in any::<u16>(), node in any::<u32>(), inc in any::<u64>(), seq in any::<u64>(), serial in any::<u64>()) {
            let message = [Message::Running, Message::Stopped, Message::LeaseRequest,
                Message::LeaseGrant, Message::LeaseDeny, Message::LeaseRelease][m as usize];
            let r = Repr::heartbeat(message, Flags(flags), NodeId(node), inc, seq, serial);
            prop_assert_eq!(Repr::parse_bytes(&r.to_bytes(&key()), &key()), Ok(r));
        }
    }
}
