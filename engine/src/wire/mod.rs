//! Wire formats, smoltcp-style: each format is a zero-copy [`Packet`](legacy::Packet) view over
//! any `T: AsRef<[u8]>` with `new_checked` (after which no accessor panics), byte ranges in a
//! `field` module, and a `Repr` (the parsed meaning) with `parse`, `buffer_len` and `emit`.
//!
//! - [`legacy`]: Piranha's 4-byte heartbeat magic (RUNNING / STOPPED, plus the FOS magics),
//!   accepted in either byte order, emitted little-endian like an x86 pulse.
//! - [`v2`]: the authenticated heartbeat: versioned header, node id, incarnation, sequence,
//!   state (or a witness lease message), config serial and an HMAC-SHA256 tag.
//! - [`arp`]: the gratuitous ARP frame `send_arp` builds (and the request variant that
//!   keepalived and `arping -U` send), with a parser for the simulator's hosts.
//! - [`ndp`]: the unsolicited IPv6 neighbour advertisement that announces an IPv6 VIP.
//!
//! Every parser returns an [`Error`] on arbitrary input and never panics; each module has a
//! proptest that feeds it arbitrary bytes.

pub mod arp;
pub mod legacy;
pub mod ndp;
pub mod v2;

/// Why bytes were not accepted as a packet of the format being parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Error {
    /// The buffer is shorter (or, for fixed-size formats, longer) than the format requires.
    #[error("wrong length for this format")]
    Length,
    /// The magic number is not one this format knows.
    #[error("unknown magic")]
    Magic,
    /// A version this implementation does not speak.
    #[error("unsupported version")]
    Version,
    /// A field holds a value the format does not allow.
    #[error("malformed field")]
    Malformed,
    /// The authentication tag does not match the contents under our key.
    #[error("authentication tag mismatch")]
    Auth,
}

/// Result of a wire operation.
pub type Result<T> = core::result::Result<T, Error>;
