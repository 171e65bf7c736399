//! The director's I/O surface: what goes in ([`Input`]), what comes out ([`Output`], [`Event`]),
//! misuse ([`DirectorError`]), why it wakes ([`TimerReason`]), and the status snapshot.

use std::net::SocketAddr;

use crate::ipvs::{Op, Table};
use crate::lvs::RealId;
use crate::nanny::{NannyEvent, NannyTimer, ProbeResult, ProbeSpec, RealState};
use crate::ports::{IpvsTimeouts, SyncDaemon, VipAddr};
use crate::pulse::{self, Transmit};
use crate::time::Instant;

/// An input to the director.
#[derive(Debug, Clone)]
pub enum Input {
    /// A heartbeat datagram arrived.
    Heartbeat {
        /// Its source.
        from: SocketAddr,
        /// Its payload.
        bytes: Vec<u8>,
    },
    /// A heartbeat send on this path was answered with ICMP port unreachable.
    SendRefused(pulse::Path),
    /// A probe finished.
    ProbeDone {
        /// The ticket from [`Output::StartProbe`].
        ticket: u64,
        /// What it saw.
        result: ProbeResult,
    },
    /// The kernel's table, as dumped after [`Output::DumpIpvs`].
    IpvsDumped(Table),
    /// The outcome of the last [`Output::ApplyIpvs`]: `Ok`, or how many ops went through and
    /// why the next one was refused.
    IpvsApplied(Result<(), (usize, String)>),
    /// A monitored link went down (`monitor_links`).
    LinkDown,
    /// The monitored link is back.
    LinkUp,
    /// SIGTERM: hand over and stop.
    Shutdown,
}

/// Something for the driver to do, or to record.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send a heartbeat (or witness) datagram.
    Transmit(Transmit),
    /// Apply these ops to the kernel's IPVS table, in order; report with [`Input::IpvsApplied`].
    ApplyIpvs(Vec<Op>),
    /// Dump the kernel's table; report with [`Input::IpvsDumped`].
    DumpIpvs,
    /// Set the global IPVS timeouts.
    SetIpvsTimeouts(IpvsTimeouts),
    /// Start, switch or stop the connection-sync daemon.
    SetSyncDaemon(SyncDaemon),
    /// Bring an address up.
    AddVip(VipAddr),
    /// Take an address down (idempotent).
    RemoveVip(VipAddr),
    /// Send one gratuitous ARP for an address.
    Announce(VipAddr),
    /// Run a command (active_cmd / inactive_cmd), no shell.
    RunCommand(Vec<String>),
    /// Run a probe; report with [`Input::ProbeDone`] and this ticket.
    StartProbe {
        /// Ticket to report back.
        ticket: u64,
        /// What to run.
        spec: ProbeSpec,
    },
    /// A decision or a trouble, for the log and the timeline.
    Event(Event),
}

/// Why the director's table changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum IpvsCause {
    /// lvs started or stopped, a nanny verdict, a reload.
    Change,
    /// The kernel's dump differed from what we believed (hand edit, flush, lost op).
    Drift,
}

/// A decision or trouble, as the log and the simulator's timeline show it.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// From pulse.
    Pulse(pulse::Event),
    /// A nanny's verdict on a real server.
    Real {
        /// Virtual server name.
        virtual_name: String,
        /// Real server name.
        server: String,
        /// What happened.
        event: NannyEvent,
    },
    /// lvs started (nannies running, services going in).
    LvsStarted {
        /// Number of nannies started.
        nannies: usize,
    },
    /// lvs stopped.
    LvsStopped,
    /// Ops sent to the kernel.
    IpvsOps {
        /// How many.
        count: usize,
        /// Why.
        cause: IpvsCause,
    },
    /// The kernel refused an op.
    IpvsRefused {
        /// The kernel's words.
        reason: String,
    },
    /// A new configuration is running.
    Reloaded {
        /// Nannies kept with their health.
        kept: usize,
        /// Nannies started.
        started: usize,
        /// Nannies stopped.
        stopped: usize,
    },
    /// A reload changed something that only a restart applies; the old value stays.
    ReloadNeedsRestart {
        /// What.
        what: &'static str,
    },
    /// An operator drained or enabled a real server.
    Override {
        /// Virtual server name.
        virtual_name: String,
        /// Real server name.
        server: String,
        /// Drained (true) or enabled.
        drained: bool,
    },
}

/// Operator or driver misuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectorError {
    /// The pulse configuration is invalid.
    #[error("pulse: {0}")]
    Pulse(#[from] pulse::ConfigError),
    /// No such virtual server / real server.
    #[error("no real server {server:?} in virtual server {virtual_name:?}")]
    UnknownRealServer {
        /// Virtual server name.
        virtual_name: String,
        /// Real server name.
        server: String,
    },
    /// A probe ticket that is not outstanding.
    #[error("no outstanding probe {0}")]
    UnknownProbe(u64),
}

/// Why the director wants to be woken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerReason {
    /// A pulse timer.
    Pulse(pulse::TimerReason),
    /// A nanny timer.
    Nanny(RealId, NannyTimer),
    /// Time to dump the kernel table and repair drift.
    Reconcile,
}

/// One real server's state, for `piranha status`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RealStatus {
    /// Real server name.
    pub name: String,
    /// `addr:port`.
    pub address: String,
    /// What this router's nanny says (None while lvs is not running here).
    pub state: Option<RealState>,
}

/// One virtual server's state, for `piranha status`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VirtualStatus {
    /// Name.
    pub name: String,
    /// The IPVS service.
    pub service: String,
    /// Its real servers.
    pub servers: Vec<RealStatus>,
}

/// A snapshot for `piranha status`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Status {
    /// primary or backup.
    pub role: String,
    /// Whether this router holds the VIPs.
    pub active: bool,
    /// Whether lvs runs here (active, or a hot standby): the real servers' states are this
    /// router's own checks.
    pub lvs_running: bool,
    /// What it believes of its partner.
    pub peer: String,
    /// Last takeover or giveup: when and why.
    pub last_change: Option<(Instant, String)>,
    /// Events dropped because an output queue was not drained (0 in normal operation).
    pub events_dropped: u64,
    /// Virtual servers.
    pub virtuals: Vec<VirtualStatus>,
}
