//! What pulse asks its driver to do ([`Output`]) and tells its timeline ([`Event`]).

use super::config::{Address, Role};
use crate::time::Instant;
use crate::wire::v2::NodeId;
use core::net::SocketAddr;

/// A network path pulse sends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Path {
    /// Partner's public address.
    Public,
    /// Partner's private address.
    Private,
    /// The witness.
    Arbiter,
}

/// One datagram to send from the heartbeat socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Which path (the driver reports refusals with it).
    pub path: Path,
    /// Destination address and port.
    pub destination: SocketAddr,
    /// Payload.
    pub bytes: Vec<u8>,
}

/// A side effect on this router, in the order the original performed them. The driver
/// executes actions in the order they are polled (an action it has nothing for, e.g.
/// `RunActiveCmd` without `active_cmd`, is a no-op).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// At start: remove VIPs and the NAT router address this router may still hold from a
    /// crash (it is not active).
    RemoveStaleVips,
    /// Run lvs.cf `active_cmd`.
    RunActiveCmd,
    /// Start lvs (program IPVS, start nannies).
    StartLvs,
    /// (Re)start the IPVS sync daemon as master.
    SyncDaemonMaster,
    /// Bring an address up.
    AddressUp(Address),
    /// Send one gratuitous ARP for an address.
    Announce(Address),
    /// Run lvs.cf `inactive_cmd`.
    RunInactiveCmd,
    /// (Re)start the IPVS sync daemon as backup.
    SyncDaemonBackup,
    /// Stop lvs.
    StopLvs,
    /// Take an address down.
    AddressDown(Address),
}

/// Why the partner is considered dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerDeadReason {
    /// Every path silent for `deadtime`.
    Deadtime,
    /// Every path answered ICMP port unreachable twice in a row: host up, daemon gone.
    PortUnreachable,
}

/// Why this router became active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TakeoverReason {
    /// The partner is dead.
    PeerDead(PeerDeadReason),
    /// The partner sent STOPPED (graceful stop, fault, or fail-back hand-over).
    PeerStopped,
    /// Primary only: the backup is alive but not active, after the start-up listen period.
    PeerStandby,
}

/// Why this router stopped being active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GiveupReason {
    /// Backup only: the primary is active too (dual-active tie-break).
    PrimaryWins,
    /// Backup only: fail-back, the primary asked for the VIPs.
    HandBack,
    /// The lvs child failed.
    ChildFailed,
    /// A monitored link went down.
    LinkDown,
    /// SIGTERM.
    Shutdown,
    /// The witness lease expired without renewal.
    LeaseLost,
}

/// Why a received datagram was dropped (never acted on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// Not from the partner's public/private address nor the witness.
    ForeignSource,
    /// Wrong length for the configured protocol.
    Length,
    /// Unknown magic.
    Magic,
    /// Unknown version.
    Version,
    /// v2 tag did not verify (forged, wrong key, corrupted).
    Unauthenticated,
    /// Authenticated but a field is invalid or the message is not expected from this sender.
    Malformed,
    /// A legacy packet while a key is configured.
    LegacyRefused,
    /// Node id does not match the sender's address.
    WrongNode,
    /// Incarnation older than the newest seen.
    StaleIncarnation,
    /// Sequence already seen or too old for the window.
    Replayed,
    /// A witness reply to no request of ours.
    UnexpectedReply,
    /// Authentic, but it does not echo our incarnation: sent before the partner heard this
    /// run of ours (normal for a keepalive or two after either starts), or recorded from an
    /// earlier run and replayed. It only teaches us the partner's incarnation.
    Unconfirmed,
}

/// Every decision pulse makes, with its reason: the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// The machine started in this role, inactive.
    Started {
        /// Role.
        role: Role,
    },
    /// A path carried a valid beat again after being silent (or for the first time).
    PathAlive {
        /// Which.
        path: Path,
    },
    /// A path was silent for `deadtime`.
    PathSilent {
        /// Which.
        path: Path,
    },
    /// The partner is considered dead.
    PeerDead {
        /// Why.
        reason: PeerDeadReason,
    },
    /// This router became active.
    TookOver {
        /// Why.
        why: TakeoverReason,
    },
    /// This router stopped being active.
    GaveUp {
        /// Why.
        why: GiveupReason,
    },
    /// Active primary heard the active backup: re-ran active_cmd and re-announced.
    Reannounced,
    /// Fail-back: the primary started asking the backup for the VIPs.
    TakebackRequested,
    /// The lease ran out (the witness is unreachable) while the partner is heard standby:
    /// the VIPs stay here, since nobody else may take them, until the partner falls silent,
    /// turns active, or asks for them holding a lease of its own.
    HoldingWithoutLease,
    /// A takeover is wanted but waits for the witness's lease.
    TakeoverAwaitingLease {
        /// Why the takeover is wanted.
        why: TakeoverReason,
    },
    /// The witness granted (or extended) the lease.
    LeaseGranted {
        /// Conservative local expiry.
        until: Instant,
    },
    /// The restarted witness granted us a GRACE lease we may not use (our own lease was no
    /// longer valid when it arrived); it is released.
    GraceGrantRefused,
    /// The witness refused: someone else holds the lease (or it is in its start-up grace).
    LeaseDenied {
        /// Current holder per the witness ([`NodeId::NONE`] during its grace period).
        holder: NodeId,
    },
    /// A datagram was dropped (reported at most once per path and reason per keepalive; see
    /// [`Counters`] for the full count).
    HeartbeatRejected {
        /// Path it came in on, if its source was known.
        path: Option<Path>,
        /// Why.
        why: RejectReason,
    },
    /// The partner's lvs.cf serial_no differs from ours.
    SerialMismatch {
        /// Ours.
        ours: u64,
        /// Theirs.
        theirs: u64,
    },
    /// SIGTERM handled: STOPPED sent; the machine is finished.
    ShutDown,
    /// A fault went away without the driver saying so: a child failure clears at the
    /// partner's next active beat, as Piranha's pulse clears it at the next RUNNING.
    FaultCleared {
        /// Which.
        fault: super::Fault,
    },
}

/// One output of [`super::Pulse::poll_output`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send a datagram.
    Transmit(Transmit),
    /// Perform an action.
    Action(Action),
    /// Record an event.
    Event(Event),
}

/// Counters of everything received and refused (for status pages).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Valid beats from the partner.
    pub accepted: u64,
    /// Valid witness replies.
    pub witness_replies: u64,
    /// Legacy zero-length probes received (ignored).
    pub probes: u64,
    /// Dropped: foreign source.
    pub foreign_source: u64,
    /// Dropped: wrong length.
    pub bad_length: u64,
    /// Dropped: unknown magic.
    pub bad_magic: u64,
    /// Dropped: unknown version.
    pub bad_version: u64,
    /// Dropped: tag did not verify.
    pub unauthenticated: u64,
    /// Dropped: authenticated but malformed or unexpected.
    pub malformed: u64,
    /// Dropped: legacy packet under a key.
    pub legacy_refused: u64,
    /// Dropped: node id mismatch.
    pub wrong_node: u64,
    /// Dropped: older incarnation.
    pub stale: u64,
    /// Dropped: replayed sequence.
    pub replayed: u64,
    /// Dropped: witness reply matching no request.
    pub unexpected_reply: u64,
    /// Dropped: not echoing our incarnation (start-up, or a replay from an earlier run).
    pub unconfirmed: u64,
    /// ICMP port unreachable reports.
    pub send_refused: u64,
    /// Events dropped because the output queue was full (the driver did not drain it).
    pub events_dropped: u64,
}

impl Counters {
    /// Total dropped datagrams.
    pub fn rejected(&self) -> u64 {
        self.foreign_source
            + self.bad_length
            + self.bad_magic
            + self.bad_version
            + self.unauthenticated
            + self.malformed
            + self.legacy_refused
            + self.wrong_node
            + self.stale
            + self.replayed
            + self.unexpected_reply
            + self.unconfirmed
    }

    /// Datagrams dropped for this reason so far.
    pub fn of(&self, why: RejectReason) -> u64 {
        let mut copy = *self;
        *copy.slot(why)
    }

    pub(crate) fn count(&mut self, why: RejectReason) {
        *self.slot(why) += 1;
    }

    fn slot(&mut self, why: RejectReason) -> &mut u64 {
        match why {
            RejectReason::ForeignSource => &mut self.foreign_source,
            RejectReason::Length => &mut self.bad_length,
            RejectReason::Magic => &mut self.bad_magic,
            RejectReason::Version => &mut self.bad_version,
            RejectReason::Unauthenticated => &mut self.unauthenticated,
            RejectReason::Malformed => &mut self.malformed,
            RejectReason::LegacyRefused => &mut self.legacy_refused,
            RejectReason::WrongNode => &mut self.wrong_node,
            RejectReason::StaleIncarnation => &mut self.stale,
            RejectReason::Replayed => &mut self.replayed,
            RejectReason::UnexpectedReply => &mut self.unexpected_reply,
            RejectReason::Unconfirmed => &mut self.unconfirmed,
        }
    }
}

impl RejectReason {
    /// Number of reasons.
    pub const COUNT: usize = 12;

    /// Dense index, `0..COUNT`.
    pub const fn index(self) -> usize {
        match self {
            RejectReason::ForeignSource => 0,
            RejectReason::Length => 1,
            RejectReason::Magic => 2,
            RejectReason::Version => 3,
            RejectReason::Unauthenticated => 4,
            RejectReason::Malformed => 5,
            RejectReason::LegacyRefused => 6,
            RejectReason::WrongNode => 7,
            RejectReason::StaleIncarnation => 8,
            RejectReason::Replayed => 9,
            RejectReason::UnexpectedReply => 10,
            RejectReason::Unconfirmed => 11,
        }
    }
}

impl From<crate::wire::Error> for RejectReason {
    fn from(e: crate::wire::Error) -> Self {
        match e {
            crate::wire::Error::Length => RejectReason::Length,
            crate::wire::Error::Magic => RejectReason::Magic,
            crate::wire::Error::Version => RejectReason::Version,
            crate::wire::Error::Malformed => RejectReason::Malformed,
            crate::wire::Error::Auth => RejectReason::Unauthenticated,
        }
    }
}
