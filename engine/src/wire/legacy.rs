//! Piranha's legacy heartbeat: one UDP datagram of exactly 4 bytes, a magic number written in
//! the sender's *host* byte order (little-endian on the x86 machines Piranha ran on).
//!
//! | offset | length | field |
//! |-------:|-------:|-------|
//! | 0      | 4      | magic (host byte order of the sender) |
//!
//! | magic        | meaning |
//! |--------------|---------|
//! | `0xbdaddbda` | LVS: RUNNING |
//! | `0xadbddabd` | LVS: STOPPED |
//! | `0xbeefbabe` | FOS: RUNNING |
//! | `0xdeadbeef` | FOS: STOPPED |
//! | `0xdeaddada` | FOS: STOPME  |
//!
//! No byte-swapped magic equals another magic, so [`Repr::parse`] accepts both byte orders
//! without ambiguity; [`Repr::emit`] writes little-endian, so the bytes on the wire are exactly
//! those of an old pulse on x86. There is no authentication: anyone who can reach port 539
//! can forge these (that is why [`super::v2`] exists).

use super::{Error, Result};

/// Byte ranges of the fields.
pub mod field {
    use core::ops::Range;
    /// The 4-byte magic.
    pub const MAGIC: Range<usize> = 0..4;
}

/// Length of every legacy heartbeat, in bytes.
pub const PACKET_LEN: usize = 4;

/// The known magic numbers (as integers; see the module table).
pub mod magic {
    /// LVS RUNNING.
    pub const RUNNING: u32 = 0xbdad_dbda;
    /// LVS STOPPED.
    pub const STOPPED: u32 = 0xadbd_dabd;
    /// FOS RUNNING.
    pub const FOS_RUNNING: u32 = 0xbeef_babe;
    /// FOS STOPPED.
    pub const FOS_STOPPED: u32 = 0xdead_beef;
    /// FOS STOPME: ask the partner to stop.
    pub const FOS_STOPME: u32 = 0xdead_dada;
}

/// What a legacy heartbeat says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Message {
    /// LVS mode: the sender's pulse is running (`0xbdaddbda`).
    Running,
    /// LVS mode: the sender's pulse stopped / gave up (`0xadbddabd`).
    Stopped,
    /// FOS mode: running (`0xbeefbabe`).
    FosRunning,
    /// FOS mode: stopped (`0xdeadbeef`).
    FosStopped,
    /// FOS mode: "stop me" (`0xdeaddada`).
    FosStopMe,
}

impl Message {
    /// The magic number of this message.
    pub const fn magic(self) -> u32 {
        match self {
            Message::Running => magic::RUNNING,
            Message::Stopped => magic::STOPPED,
            Message::FosRunning => magic::FOS_RUNNING,
            Message::FosStopped => magic::FOS_STOPPED,
            Message::FosStopMe => magic::FOS_STOPME,
        }
    }

    /// The message with this magic number, if any.
    pub const fn from_magic(value: u32) -> Option<Message> {
        match value {
            magic::RUNNING => Some(Message::Running),
            magic::STOPPED => Some(Message::Stopped),
            magic::FOS_RUNNING => Some(Message::FosRunning),
            magic::FOS_STOPPED => Some(Message::FosStopped),
            magic::FOS_STOPME => Some(Message::FosStopMe),
            _ => None,
        }
    }
}

/// Byte order a legacy heartbeat was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// Little-endian (an x86 sender).
    Little,
    /// Big-endian (a big-endian sender).
    Big,
}

/// A read/write view of a legacy heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap a buffer without checking its length (accessors may panic until
    /// [`check_len`](Self::check_len) passes).
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap a buffer, checking that it is exactly [`PACKET_LEN`] bytes.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Exactly 4 bytes, as the original demanded (`recvfrom` length must be 4).
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

    fn raw(&self) -> [u8; 4] {
        let b = &self.buffer.as_ref()[field::MAGIC];
        [b[0], b[1], b[2], b[3]]
    }

    /// The magic read as little-endian.
    pub fn magic_le(&self) -> u32 {
        u32::from_le_bytes(self.raw())
    }

    /// The magic read as big-endian.
    pub fn magic_be(&self) -> u32 {
        u32::from_be_bytes(self.raw())
    }

    /// The known message and the byte order it was written in, if the magic is known in
    /// either order.
    pub fn message(&self) -> Option<(Message, ByteOrder)> {
        if let Some(m) = Message::from_magic(self.magic_le()) {
            return Some((m, ByteOrder::Little));
        }
        Message::from_magic(self.magic_be()).map(|m| (m, ByteOrder::Big))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Write `value` little-endian (as an x86 pulse would).
    pub fn set_magic_le(&mut self, value: u32) {
        self.buffer.as_mut()[field::MAGIC].copy_from_slice(&value.to_le_bytes());
    }
}

/// The meaning of a legacy heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// What it says.
    pub message: Message,
}

impl Repr {
    /// Parse a checked packet; either byte order is accepted.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        packet
            .message()
            .map(|(message, _)| Repr { message })
            .ok_or(Error::Magic)
    }

    /// Parse raw bytes (a convenience for `Packet::new_checked` then [`Repr::parse`]).
    pub fn parse_bytes(bytes: &[u8]) -> Result<Repr> {
        Self::parse(&Packet::new_checked(bytes)?)
    }

    /// Bytes [`emit`](Self::emit) writes.
    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }

    /// Write the magic little-endian into a packet of [`PACKET_LEN`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_magic_le(self.message.magic());
    }

    /// The 4 bytes of this heartbeat, little-endian.
    pub fn to_bytes(&self) -> [u8; PACKET_LEN] {
        let mut packet = Packet::new_unchecked([0u8; PACKET_LEN]);
        self.emit(&mut packet);
        packet.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What an x86 Piranha pulse puts on the wire for RUNNING and STOPPED.
    const X86_RUNNING: [u8; 4] = [0xda, 0xdb, 0xad, 0xbd];
    const X86_STOPPED: [u8; 4] = [0xbd, 0xda, 0xbd, 0xad];

    #[test]
    fn x86_bytes_parse() {
        assert_eq!(
            Repr::parse_bytes(&X86_RUNNING),
            Ok(Repr {
                message: Message::Running
            })
        );
        assert_eq!(
            Repr::parse_bytes(&X86_STOPPED),
            Ok(Repr {
                message: Message::Stopped
            })
        );
        let p = Packet::new_checked(&X86_RUNNING[..]).unwrap();
        assert_eq!(p.message(), Some((Message::Running, ByteOrder::Little)));
    }

    #[test]
    fn big_endian_sender_accepted() {
        let be = magic::STOPPED.to_be_bytes();
        assert_eq!(be, [0xad, 0xbd, 0xda, 0xbd]);
        let p = Packet::new_checked(&be[..]).unwrap();
        assert_eq!(p.message(), Some((Message::Stopped, ByteOrder::Big)));
    }

    #[test]
    fn emit_is_little_endian_like_x86() {
        assert_eq!(
            Repr {
                message: Message::Running
            }
            .to_bytes(),
            X86_RUNNING
        );
        assert_eq!(
            Repr {
                message: Message::Stopped
            }
            .to_bytes(),
            X86_STOPPED
        );
    }

    #[test]
    fn fos_magics_round_trip() {
        for m in [
            Message::Running,
            Message::Stopped,
            Message::FosRunning,
            Message::FosStopped,
            Message::FosStopMe,
        ] {
            let r = Repr { message: m };
            assert_eq!(Repr::parse_bytes(&r.to_bytes()), Ok(r));
            assert_eq!(Repr::parse_bytes(&m.magic().to_be_bytes()), Ok(r));
        }
        assert_eq!(
            Repr::parse_bytes(&[0xef, 0xbe, 0xad, 0xde]),
            Ok(Repr {
                message: Message::FosStopped
            })
        );
    }

    #[test]
    fn no_swapped_magic_collides() {
        let all = [
            magic::RUNNING,
            magic::STOPPED,
            magic::FOS_RUNNING,
            magic::FOS_STOPPED,
            magic::FOS_STOPME,
        ];
        for a in all {
            for b in all {
                assert_ne!(a.swap_bytes(), b, "{a:#x} swapped is {b:#x}");
            }
        }
    }

    #[test]
    fn wrong_length_or_magic_rejected() {
        assert_eq!(Repr::parse_bytes(&[]), Err(Error::Length));
        assert_eq!(Repr::parse_bytes(&X86_RUNNING[..3]), Err(Error::Length));
        assert_eq!(
            Repr::parse_bytes(&[0xda, 0xdb, 0xad, 0xbd, 0]),
            Err(Error::Length)
        );
        assert_eq!(Repr::parse_bytes(&[0, 0, 0, 0]), Err(Error::Magic));
        // A half-swapped magic is not a magic.
        assert_eq!(
            Repr::parse_bytes(&[0xdb, 0xda, 0xbd, 0xad]),
            Err(Error::Magic)
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            let r = Repr::parse_bytes(&bytes);
            if let Ok(repr) = r {
                prop_assert_eq!(bytes.len(), 4);
                let v = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                prop_assert!(v == repr.message.magic() || v.swap_bytes() == repr.message.magic());
            }
        }
    }
}
