//! pulse: the heartbeat and failover state machine of one router (sans-IO).
//!
//! # Contract
//!
//! - Inputs are `handle_*` methods, each taking `now`; they mutate the machine. After every
//!   input drain [`Pulse::poll_output`] until `None`, executing [`Output`]s *in order* (an
//!   action sequence must complete before a later `Transmit` is sent: fail-back relies on
//!   "VIPs down" happening before "STOPPED" leaves), then re-arm one timer at
//!   [`Pulse::poll_timeout`] and call [`Pulse::handle_timeout`] when it passes. Spurious or
//!   late `handle_timeout` calls are harmless.
//! - No clock, no I/O, no randomness: the driver passes `now` and an `incarnation` (boot
//!   epoch: it must grow at every start of the daemon, e.g. wall-clock seconds at start or a
//!   persisted counter) so the partner's replay window accepts the new run.
//! - Peer or network trouble is an [`Event`]; only a bad [`PulseConfig`] is an error.
//!
//! # Example: a driver's loop, reduced to its bones
//!
//! ```
//! use piranha_engine::pulse::{Output, Pulse, PulseConfig, Role, RouterAddrs};
//! use piranha_engine::time::Instant;
//!
//! let config = PulseConfig::new(
//!     RouterAddrs { public: "192.168.26.9".parse().unwrap(), private: None },
//!     RouterAddrs { public: "192.168.26.8".parse().unwrap(), private: None },
//! );
//! let mut pulse = Pulse::new(config, Role::Backup, 1, Instant::ZERO).unwrap();
//! let mut now = Instant::ZERO;
//! for _ in 0..10 {
//!     while let Some(output) = pulse.poll_output() {
//!         match output {
//!             Output::Transmit(t) => { /* socket.send_to(&t.bytes, t.destination) */ }
//!             Output::Action(a) => { /* run it, in order */ }
//!             Output::Event(e) => { /* log it */ }
//!         }
//!     }
//!     let (at, _why) = pulse.poll_timeout().expect("a running pulse always has a timer");
//!     now = at; // sleep until `at`, or until a datagram arrives: handle_heartbeat
//!     pulse.handle_timeout(now);
//! }
//! // Nobody answered: the lone backup took over after deadtime + keepalive (5 s + 2 s).
//! assert!(pulse.is_active());
//! ```
//!
//! # Behaviour (Piranha's, plus issue 3)
//!
//! - Both routers start **inactive** and emit [`Action::RemoveStaleVips`]. A beat goes out at
//!   once and every `keepalive` on every path (public, and private if configured).
//! - Each valid beat resets its path's deadline to now + `deadtime`. The partner is **dead**
//!   only when every path is past its deadline, or when every path reported ICMP port
//!   unreachable twice in a row with no valid beat in between (host up, daemon gone: the
//!   driver reports it with [`Pulse::handle_send_refused`]). Requiring *every* path keeps a
//!   misrouted private address from killing a healthy partner; both paths are probed at the
//!   same beat so this costs no time. An inactive router that is not faulted takes over when
//!   the partner is dead — primary and backup alike.
//! - STOPPED from the partner while inactive (not faulted) → take over at once (legacy
//!   wire, backup: see below).
//! - Partner active while I am active (dual-active): the backup sends one last beat and gives
//!   up (primary wins); the primary re-runs `active_cmd` and re-announces its VIPs.
//! - Clean start of both (v2; legacy: see below, the primary takes over on the backup's
//!   first STOPPED): a beat says whether its sender is active (the ACTIVE flag). The primary
//!   listens for `deadtime` after its start, then takes over if the backup is silent, stopped
//!   or alive-but-inactive,
//!   and stays inactive if the backup is active (no automatic fail-back). The backup never
//!   takes over from a live primary, and its first deadline is `deadtime + keepalive`, so
//!   the primary's first beats (including the ACTIVE one sent the moment it takes over)
//!   reach it first: exactly one router becomes active; if a race still makes both active,
//!   the tie-break settles it within one beat.
//! - `failback` (v2): an inactive, fault-free primary that has been up and hearing the
//!   active backup for `deadtime` sets TAKEBACK on its beats; the backup takes its VIPs down
//!   and *then* sends STOPPED; the primary takes over when STOPPED arrives. At no instant are
//!   both active. If that STOPPED is lost, the primary sees the backup inactive on its next
//!   beat and takes over (the PeerStandby rule).
//! - Child failure / link down → give up if active, send STOPPED now, and keep sending
//!   STOPPED instead of RUNNING until the fault clears; a faulted router never takes over.
//!   When the fault clears the primary listens for `deadtime` again before the
//!   PeerStandby rule applies (its STOPPED may have just made the backup active). A child
//!   failure also clears at the partner's next active beat ([`Event::FaultCleared`]), as
//!   Piranha's pulse clears it at the next RUNNING: one failure does not cost the standby
//!   role for good.
//! - No partner ([`PulseConfig::no_partner`]: `backup_active = 0`, `backup = 0.0.0.0`): no
//!   heartbeat is sent; active after `deadtime`. A datagram from one of our own addresses is
//!   never the partner's.
//! - [`Pulse::handle_shutdown`] (SIGTERM): give up if active, STOPPED on every path, release
//!   the lease, stop.
//!
//! ## Legacy wire mode
//!
//! As Piranha 0.8.6's pulse.c: an active router sends RUNNING, an inactive one STOPPED, every
//! `keepalive`; there is no other news on this wire (no ACTIVE flag, no fail-back, no
//! arbiter). So, as the original, an inactive, fault-free router takes over on its partner's
//! STOPPED, and a backup that hears RUNNING while active gives up (primary wins). Two
//! refinements remove the original's cold-start race (two old routers started together can
//! end with the *backup* active: whichever hears the other's STOPPED first activates, and a
//! primary that then hears only RUNNING stays standby):
//!
//! - A healthy inactive primary that has heard nothing from its partner yet keeps quiet. It
//!   hears the backup's STOPPED (sent at once and every keepalive) and takes over first.
//! - A backup that hears STOPPED from a primary it did not just hear active answers STOPPED
//!   at once and takes over only if the primary is still not active `keepalive × 1.5` later
//!   ([`TimerReason::StoppedGrace`]): a cold or faulted primary, not a handover. STOPPED
//!   right after RUNNING (SIGTERM, a failed child) is a handover: take over at once.
//!
//! A zero-length datagram (what piranha sent before as its standby probe) still counts as
//! "alive, standby" from an older piranha.

//! ## Arbiter (witness)
//!
//! With an arbiter a router becomes active only while it holds a valid lease from the
//! witness ([`witness::Witness`]): every takeover first asks for one and waits; an active
//! router renews every lease/4 and gives up when its lease runs out unrenewed; it then
//! keeps saying STOPPED (until it, or its partner, is active again) so a partner that still
//! reaches the witness takes over. A denial names the holder and how long its lease still
//! runs, and the waiting router asks again right then. The witness grants to at most one
//! router at a time and expiry is judged on the holder's side from the time the request
//! was sent minus a margin (which must cover the clocks' rate difference over one lease),
//! so no partition or crash makes both routers active. A restarted witness grants, for one
//! lease, only to a router saying ACTIVE, and that router uses the grant only if its own
//! lease is still valid when it arrives (see [`witness`]), so a witness restart does not
//! interrupt service.
//!
//! The price: a router that reaches neither its partner nor the witness never takes over;
//! when the active router loses the witness the service moves to the partner about one
//! margin later if the partner reaches the witness, and stops if neither does.

pub mod config;
mod decide;
mod lease;
pub mod output;
mod receive;
pub mod replay;
pub mod timer;
pub mod witness;

#[cfg(test)]
mod tests;

pub use config::{
    Address, ArbiterConfig, ArpConfig, ConfigError, HeartbeatProtocol, PulseConfig, Role,
    RouterAddrs, WITNESS_NODE_ID,
};
pub use output::{
    Action, Counters, Event, GiveupReason, Output, Path, PeerDeadReason, RejectReason,
    TakeoverReason, Transmit,
};
pub use timer::TimerReason;

use crate::time::Instant;
use crate::wire::v2::NodeId;
use core::net::{IpAddr, SocketAddr};
use lease::LeaseClient;
use replay::ReplayWindow;
use std::collections::VecDeque;
use timer::TimerTable;

pub use crate::MAX_QUEUED_OUTPUTS;

/// A fault that forbids being active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The lvs child (or, with `hard_shutdown`, a nanny) died.
    ChildFailed,
    /// A monitored link is down (`monitor_links = 1`).
    LinkDown,
}

/// What this router believes about its partner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerState {
    /// Nothing heard yet and not yet dead.
    Unknown,
    /// Considered dead.
    Dead(PeerDeadReason),
    /// Alive and active.
    Active,
    /// Alive, not active, healthy.
    Standby,
    /// Said STOPPED (stopping, faulted, or handing over). On the legacy wire every inactive
    /// router says STOPPED: a partner alive and not active is [`PeerState::Standby`] there.
    Stopped,
}

#[derive(Debug, Clone, Copy)]
struct PathState {
    deadline: Instant,
    silent: bool,
    heard: bool,
    refused: u8,
}

#[derive(Debug, Clone, Copy, Default)]
struct PeerView {
    heard: bool,
    active: bool,
    stopped: bool,
    takeback: bool,
    /// Its beats say it is active without a lease ([`Flags::UNLEASED`](crate::wire::v2::Flags)).
    unleased: bool,
    /// Its beats ask us, unleased, to hand the VIPs over.
    relieve: bool,
}

/// The heartbeat/failover machine of one router. See the module docs for the contract.
#[derive(Debug)]
pub struct Pulse {
    config: PulseConfig,
    role: Role,
    me: NodeId,
    incarnation: u64,
    sequence: u64,
    listen_end: Instant,
    active: bool,
    child_failed: bool,
    link_down: bool,
    shut_down: bool,
    healthy_since: Instant,
    public: PathState,
    private: Option<PathState>,
    peer: PeerView,
    peer_dead: Option<PeerDeadReason>,
    peer_heard_since: Option<Instant>,
    /// Start of the partner's current run of STOPPED beats.
    peer_stopped_since: Option<Instant>,
    /// That run followed an active beat: the partner gave up (SIGTERM, fault).
    peer_gave_up: bool,
    last_serial_seen: Option<u64>,
    window: ReplayWindow,
    /// The newest incarnation of the partner seen in an authentic beat: echoed in ours, so
    /// the partner accepts only beats sent after we heard its current run.
    partner_incarnation: u64,
    /// A beat echoing a newly learned partner incarnation is owed right away.
    echo_reply_due: bool,
    lease: Option<LeaseClient>,
    pending_takeover: Option<TakeoverReason>,
    lease_lost: bool,
    /// Active without a valid lease, held because the partner is heard standby.
    unleased: bool,
    /// Last report per (path or none, reason): a flood on one path cannot hide another's.
    reject_reported: [[Option<Instant>; RejectReason::COUNT]; 4],
    last_reannounce: Option<Instant>,
    takeback_announced: bool,
    arp_remaining: u32,
    addresses: Vec<Address>,
    timers: TimerTable,
    out: VecDeque<Output>,
    counters: Counters,
    #[cfg(feature = "mutations")]
    mutation: Option<crate::mutation::Mutation>,
}

impl Pulse {
    /// Start a router's pulse at `now`, inactive. `incarnation` must grow across restarts.
    pub fn new(
        config: PulseConfig,
        role: Role,
        incarnation: u64,
        now: Instant,
    ) -> Result<Pulse, ConfigError> {
        config.validate()?;
        let mut addresses: Vec<Address> = Vec::with_capacity(config.addresses.len());
        for a in &config.addresses {
            if !addresses.contains(a) {
                addresses.push(*a);
            }
        }
        let first_deadline = match role {
            Role::Primary => now + config.deadtime,
            Role::Backup => now + config.deadtime + config.keepalive,
        };
        let path = PathState {
            deadline: first_deadline,
            silent: false,
            heard: false,
            refused: 0,
        };
        let private = config.addrs(role.partner()).private.map(|_| path);
        let lease = config.arbiter.map(LeaseClient::new);
        let mut p = Pulse {
            listen_end: now + config.deadtime,
            config,
            role,
            me: role.node_id(),
            incarnation,
            sequence: 0,
            active: false,
            child_failed: false,
            link_down: false,
            shut_down: false,
            healthy_since: now,
            public: path,
            private,
            peer: PeerView::default(),
            peer_dead: None,
            peer_heard_since: None,
            peer_stopped_since: None,
            peer_gave_up: false,
            last_serial_seen: None,
            window: ReplayWindow::default(),
            partner_incarnation: 0,
            echo_reply_due: false,
            lease,
            pending_takeover: None,
            lease_lost: false,
            unleased: false,
            reject_reported: [[None; RejectReason::COUNT]; 4],
            last_reannounce: None,
            takeback_announced: false,
            arp_remaining: 0,
            addresses,
            timers: TimerTable::default(),
            out: VecDeque::new(),
            counters: Counters::default(),
            #[cfg(feature = "mutations")]
            mutation: None,
        };
        p.event(Event::Started { role });
        p.action(Action::RemoveStaleVips);
        p.timers.set(TimerReason::PublicDeadline, first_deadline);
        if p.private.is_some() {
            p.timers.set(TimerReason::PrivateDeadline, first_deadline);
        }
        if role == Role::Primary {
            p.timers.set(TimerReason::StartupListen, p.listen_end);
        }
        p.send_beats(now);
        Ok(p)
    }

    /// Plant a bug (simulator's mutation check only).
    #[cfg(feature = "mutations")]
    pub fn set_mutation(&mut self, mutation: Option<crate::mutation::Mutation>) {
        self.mutation = mutation;
    }

    #[cfg(feature = "mutations")]
    fn mutated(&self, m: crate::mutation::Mutation) -> bool {
        self.mutation == Some(m)
    }

    // ----- inputs -------------------------------------------------------------------

    /// The timer armed from [`poll_timeout`](Self::poll_timeout) passed (calling early or
    /// twice is harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.shut_down {
            return;
        }
        self.forgive_own_stall(now);
        for reason in TimerReason::ALL {
            if self.timers.take_expired(reason, now) {
                self.on_timer(now, reason);
            }
        }
        self.update_peer_dead(now);
        self.evaluate(now);
    }

    /// A stall of this router (VM pause, SIGSTOP) shows as the heartbeat timer firing more
    /// than a keepalive late: the partner's silence during it is ours, not its. Give every
    /// path a keepalive and a half (at most deadtime) to be heard before judging the partner.
    /// Found by the simulator: a backup paused past deadtime took over on resume and gave up
    /// again one beat later (a dual-active blip and two ARP moves for nothing).
    fn forgive_own_stall(&mut self, now: Instant) {
        let keepalive = self.config.keepalive;
        let stalled = self
            .timers
            .get(TimerReason::Heartbeat)
            .is_some_and(|due| now > due + keepalive);
        if !stalled || self.active {
            return;
        }
        let grace = now + (keepalive + keepalive.div(2)).min(self.config.deadtime);
        for (reason, path) in [
            (TimerReason::PublicDeadline, Some(&mut self.public)),
            (TimerReason::PrivateDeadline, self.private.as_mut()),
        ] {
            if let Some(p) = path {
                if p.deadline < grace {
                    p.deadline = grace;
                    self.timers.set(reason, grace);
                }
            }
        }
    }

    /// The transport got ICMP port unreachable (ECONNREFUSED) for a datagram sent on `path`.
    pub fn handle_send_refused(&mut self, now: Instant, path: Path) {
        if self.shut_down {
            return;
        }
        self.counters.send_refused += 1;
        if let Some(state) = self.path_mut(path) {
            state.refused = state.refused.saturating_add(1);
        }
        self.update_peer_dead(now);
        self.evaluate(now);
    }

    /// A fault appeared: give up if active and tell the partner STOPPED.
    pub fn handle_fault(&mut self, now: Instant, fault: Fault) {
        if self.shut_down {
            return;
        }
        let was_faulted = self.faulted();
        match fault {
            Fault::ChildFailed => self.child_failed = true,
            Fault::LinkDown => self.link_down = true,
        }
        self.pending_takeover = None;
        if self.active {
            let why = match fault {
                Fault::ChildFailed => GiveupReason::ChildFailed,
                Fault::LinkDown => GiveupReason::LinkDown,
            };
            self.deactivate(now, why);
        }
        if !was_faulted {
            self.send_beats(now);
        }
    }

    /// A fault went away (child restarted, link up again).
    pub fn handle_fault_cleared(&mut self, now: Instant, fault: Fault) {
        if self.shut_down {
            return;
        }
        match fault {
            Fault::ChildFailed => self.child_failed = false,
            Fault::LinkDown => self.link_down = false,
        }
        if !self.faulted() {
            // Our STOPPED may just have made the partner active and its ACTIVE beat may
            // still be on the way: listen again before the PeerStandby rule may fire.
            self.healthy_since = now;
            self.listen_end = self.listen_end.max(now + self.config.deadtime);
            if self.role == Role::Primary {
                self.timers.set(TimerReason::StartupListen, self.listen_end);
            }
            self.send_beats(now);
            self.evaluate(now);
        }
    }

    /// Shorthand for [`handle_fault`](Self::handle_fault)`(now, Fault::ChildFailed)`.
    pub fn handle_child_failed(&mut self, now: Instant) {
        self.handle_fault(now, Fault::ChildFailed);
    }

    /// Shorthand for [`handle_fault`](Self::handle_fault)`(now, Fault::LinkDown)`.
    pub fn handle_link_down(&mut self, now: Instant) {
        self.handle_fault(now, Fault::LinkDown);
    }

    /// Shorthand for [`handle_fault_cleared`](Self::handle_fault_cleared)`(now, Fault::LinkDown)`.
    pub fn handle_link_up(&mut self, now: Instant) {
        self.handle_fault_cleared(now, Fault::LinkDown);
    }

    /// SIGTERM: give up if active, send STOPPED on every path, release the lease; the
    /// machine then ignores every input and has no timer.
    pub fn handle_shutdown(&mut self, now: Instant) {
        if self.shut_down {
            return;
        }
        if self.active {
            self.deactivate(now, GiveupReason::Shutdown);
        } else {
            self.release_lease(now, false);
        }
        self.shut_down = true;
        self.send_beats(now);
        self.timers.clear();
        self.event(Event::ShutDown);
    }

    // ----- outputs and status -------------------------------------------------------

    /// Next output, in order; drain until `None` after every input.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Earliest deadline and why; `None` once shut down.
    pub fn poll_timeout(&self) -> Option<(Instant, TimerReason)> {
        self.timers.next()
    }

    /// Is this router active (holding the VIPs) as far as pulse decided?
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// This router's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Has [`handle_shutdown`](Self::handle_shutdown) run?
    pub fn is_shut_down(&self) -> bool {
        self.shut_down
    }

    /// Receive/refusal counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Current faults.
    pub fn faults(&self) -> Vec<Fault> {
        let mut f = Vec::new();
        if self.child_failed {
            f.push(Fault::ChildFailed);
        }
        if self.link_down {
            f.push(Fault::LinkDown);
        }
        f
    }

    /// What this router believes about its partner.
    pub fn peer_state(&self) -> PeerState {
        if let Some(r) = self.peer_dead {
            PeerState::Dead(r)
        } else if !self.peer.heard {
            PeerState::Unknown
        } else if self.peer.stopped && !matches!(self.config.protocol, HeartbeatProtocol::Legacy) {
            PeerState::Stopped
        } else if self.peer.active {
            PeerState::Active
        } else {
            PeerState::Standby
        }
    }

    /// Conservative local expiry of the witness lease, if one was granted.
    pub fn lease_valid_until(&self) -> Option<Instant> {
        self.lease.as_ref().and_then(|l| l.valid_until())
    }

    // ----- internals ----------------------------------------------------------------

    fn faulted(&self) -> bool {
        self.child_failed || self.link_down
    }

    fn partner_addrs(&self) -> RouterAddrs {
        self.config.addrs(self.role.partner())
    }

    fn path_mut(&mut self, path: Path) -> Option<&mut PathState> {
        match path {
            Path::Public => Some(&mut self.public),
            Path::Private => self.private.as_mut(),
            Path::Arbiter => None,
        }
    }

    fn path_of(&self, ip: IpAddr) -> Option<Path> {
        // No partner, or our own datagram (a partner address that is ours, looped back):
        // never a sign of life of a partner.
        let own = self.config.addrs(self.role);
        if self.config.no_partner || ip == own.public || own.private == Some(ip) {
            return None;
        }
        let p = self.partner_addrs();
        if ip == p.public {
            Some(Path::Public)
        } else if p.private == Some(ip) {
            Some(Path::Private)
        } else {
            None
        }
    }

    fn push(&mut self, o: Output) {
        if self.out.len() >= MAX_QUEUED_OUTPUTS && matches!(o, Output::Event(_)) {
            self.counters.events_dropped += 1;
            return;
        }
        self.out.push_back(o);
    }

    fn event(&mut self, e: Event) {
        self.push(Output::Event(e));
    }

    fn action(&mut self, a: Action) {
        self.push(Output::Action(a));
    }

    fn next_sequence(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence
    }

    fn transmit(&mut self, path: Path, destination: SocketAddr, bytes: Vec<u8>) {
        self.push(Output::Transmit(Transmit {
            path,
            destination,
            bytes,
        }));
    }
}
