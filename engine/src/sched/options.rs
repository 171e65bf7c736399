//! What a [`Scheduler`](super::Scheduler) is built from and fed: its configuration, the
//! packet it decides on, its random source, and its errors.

use core::net::IpAddr;

use super::{mh, Algorithm, DestId, Duration, PersistenceConfig};

/// Which implementation of the kernel's loops a [`Scheduler`] runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Implementation {
    /// Slot-indexed trees: O(log n) or O(1) per decision and per event.
    #[default]
    Indexed,
    /// The kernel's loops as written: O(n) per decision for lc, wlc, sed, nq, fo, ovf,
    /// twos and lblc/lblcr misses. The reference the indexed one is tested against.
    Scan,
}

/// The service's scheduler flags (`ipvsadm -b`): `SCHED1` is sh-fallback / mh-fallback,
/// `SCHED2` is sh-port / mh-port. Other schedulers ignore them, as the kernel does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SchedFlags {
    /// sh-fallback / mh-fallback: when the hashed server is unavailable, probe onwards.
    pub fallback: bool,
    /// sh-port / mh-port: hash the client's source port as well as its address.
    pub port: bool,
}

impl SchedFlags {
    /// `IP_VS_SVC_F_SCHED1`: sh-fallback / mh-fallback.
    pub const SCHED1: u32 = 0x0008;
    /// `IP_VS_SVC_F_SCHED2`: sh-port / mh-port.
    pub const SCHED2: u32 = 0x0010;

    /// From a service's kernel flags word (other bits ignored).
    pub fn from_service_flags(flags: u32) -> Self {
        SchedFlags {
            fallback: flags & Self::SCHED1 != 0,
            port: flags & Self::SCHED2 != 0,
        }
    }

    /// The `SCHED1`/`SCHED2` bits of a service's kernel flags word.
    pub fn to_service_flags(self) -> u32 {
        (if self.fallback { Self::SCHED1 } else { 0 }) | (if self.port { Self::SCHED2 } else { 0 })
    }
}

/// How to build a [`Scheduler`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchedConfig {
    /// The kernel scheduler to model.
    pub algorithm: Algorithm,
    /// Indexed (fast, default) or the kernel's plain scan.
    pub implementation: Implementation,
    /// sh/mh flags.
    pub flags: SchedFlags,
    /// mh lookup table size: a prime (kernel default 4093; the kernel offers 251 ... 131071).
    pub mh_table_size: u32,
    /// lblc/lblcr `lblc_expiration` / `lblcr_expiration` sysctl (default 24 h).
    pub locality_expiration: Duration,
    /// Persistent service (`ipvsadm -p TIMEOUT -M NETMASK`), or `None`.
    pub persistence: Option<PersistenceConfig>,
}

impl SchedConfig {
    /// Kernel defaults for `algorithm`: indexed, no flags, mh table 4093, 24 h locality
    /// expiration, not persistent.
    pub fn new(algorithm: Algorithm) -> Self {
        SchedConfig {
            algorithm,
            implementation: Implementation::Indexed,
            flags: SchedFlags::default(),
            mh_table_size: mh::DEFAULT_TABLE_SIZE,
            locality_expiration: Duration::from_secs(24 * 60 * 60),
            persistence: None,
        }
    }
    /// The same configuration with another implementation.
    pub fn with_implementation(mut self, implementation: Implementation) -> Self {
        self.implementation = implementation;
        self
    }
}

/// The part of a new connection's first packet the schedulers look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Packet {
    /// Client address (sh, mh, persistence).
    pub src_addr: IpAddr,
    /// Client port (sh-port, mh-port).
    pub src_port: u16,
    /// Address the client connected to (dh, lblc, lblcr).
    pub dst_addr: IpAddr,
    /// Port the client connected to.
    pub dst_port: u16,
}

impl Packet {
    /// A packet from `src_addr:src_port` to `dst_addr:dst_port`.
    pub fn new(src_addr: IpAddr, src_port: u16, dst_addr: IpAddr, dst_port: u16) -> Self {
        Packet {
            src_addr,
            src_port,
            dst_addr,
            dst_port,
        }
    }
}

/// Caller misuse of a [`Scheduler`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SchedError {
    /// No destination with this id was ever added.
    #[error("unknown destination {0:?}")]
    UnknownDest(DestId),
    /// The destination was removed from the service.
    #[error("destination {0:?} was removed")]
    RemovedDest(DestId),
    /// Weights are the kernel's `int`: at most `i32::MAX`.
    #[error("weight {0} is larger than the kernel allows ({max})", max = i32::MAX)]
    WeightTooLarge(u32),
    /// The connection event does not match the destination's counters.
    #[error("destination {0:?} has no {1} connection to end")]
    NoSuchConnection(DestId, &'static str),
    /// mh needs a prime table size of at least 2.
    #[error("mh table size {0} is not a prime")]
    TableSizeNotPrime(u32),
}

/// A source of random numbers for twos (`get_random_u32()` in the kernel). Implemented for
/// every `rand_core::Rng`; pass a seeded generator for reproducible runs.
pub trait RandomSource {
    /// The next uniformly random `u32`.
    fn next_random_u32(&mut self) -> u32;
}

impl<R: rand_core::Rng + ?Sized> RandomSource for R {
    fn next_random_u32(&mut self) -> u32 {
        self.next_u32()
    }
}
