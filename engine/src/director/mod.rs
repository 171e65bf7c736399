//! director: one router's whole brain — pulse, lvs and the nannies — as one sans-IO machine.
//!
//! # Contract
//!
//! - Inputs: [`Director::handle_input`] with `now` and an [`Input`]; [`Director::handle_timeout`]
//!   when [`Director::poll_timeout`] is due (spurious or early calls are harmless).
//! - After every input drain [`Director::poll_output`] until `None`, executing outputs **in
//!   order** (pulse's takeover and giveup sequences are ordered: VIPs go down before STOPPED
//!   leaves), then re-arm one timer at [`Director::poll_timeout`].
//! - The driver reports the result of every [`Output::ApplyIpvs`] with [`Input::IpvsApplied`],
//!   of every [`Output::DumpIpvs`] with [`Input::IpvsDumped`], of every
//!   [`Output::StartProbe`] with [`Input::ProbeDone`].
//! - Operator misuse (draining a real server that does not exist) is a [`DirectorError`]; every
//!   decision and every trouble from the network or the kernel is an [`Event`].
//!
//! # How the pieces meet
//!
//! Pulse decides active/backup and emits an ordered action sequence; the director executes it:
//! `StartLvs` starts one nanny per active real server of each active virtual server and puts
//! the services in the table; `StopLvs` stops them and deletes our services; address actions
//! become VIP outputs (pulse sees all VIPs as one address, [`ALL_VIPS`], so a reload may change
//! the VIP set without re-indexing pulse). Each nanny verdict changes the desired table
//! ([`crate::lvs::desired_table`]); the director diffs it against what it believes the kernel
//! holds and emits only the difference (one changed real server = one op). Every
//! `reconcile_interval` it asks for a dump of the kernel's table and repairs drift — hand edits,
//! a flushed table — against the kernel's truth, not against its own memory.

mod io;
mod map;
mod table;
#[cfg(test)]
mod tests;

pub use io::{
    DirectorError, Event, Input, IpvsCause, Output, RealStatus, Status, TimerReason, VirtualStatus,
};
pub use map::{arbiter_lease, role_for, MapError};

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;

use crate::ipvs::{Op, ServiceKey, Table};
use crate::lvs::{self, RealId, VirtualSpec};
use crate::nanny::{Nanny, NannyTimer, ProbeId};
use crate::ports::{IpvsTimeouts, VipAddr};
use crate::pulse::{self, Action, Address, HeartbeatProtocol, Pulse, PulseConfig, Role};
use crate::time::{Duration, Instant};

/// The index pulse uses for "every VIP of every active virtual server".
pub const ALL_VIPS: u32 = 0;

pub(super) use crate::MAX_QUEUED_OUTPUTS;

/// Everything one router's director runs on; built from lvs.cf by
/// [`DirectorConfig::from_lvs_cf`].
#[derive(Debug, Clone)]
pub struct DirectorConfig {
    /// Heartbeat and failover.
    pub pulse: PulseConfig,
    /// Every virtual server (active or not), in file order.
    pub virtuals: Vec<VirtualSpec>,
    /// The distinct VIPs of the active virtual servers, brought up on takeover.
    pub vips: Vec<VipAddr>,
    /// The NAT router address (lvs.cf `nat_router`, `network = nat` only).
    pub nat_router: Option<VipAddr>,
    /// lvs.cf `active_cmd`, split (no shell).
    pub active_cmd: Option<Vec<String>>,
    /// lvs.cf `inactive_cmd`, split (no shell).
    pub inactive_cmd: Option<Vec<String>>,
    /// The IPVS connection timeouts (`tcp_timeout`...; zero keeps the kernel's).
    pub timeouts: IpvsTimeouts,
    /// `syncdaemon`: the interface and sync id.
    pub sync_daemon: Option<(String, u8)>,
    /// How often the kernel table is dumped and drift repaired.
    pub reconcile_interval: Duration,
    /// lvs.cf `hard_shutdown`: an IPVS refusal counts as the lvs child failing (fail over).
    pub hard_shutdown: bool,
    /// lvs.cf `hot_standby`: lvs (nannies and the IPVS table, not the addresses) runs from
    /// start on both routers, so a takeover only brings the VIPs up.
    pub hot_standby: bool,
}

impl DirectorConfig {
    /// Every address a router of this configuration may hold: the VIPs of the active virtual
    /// servers and the NAT router address. What a stale-VIP cleanup, a reload and
    /// `piranha release` remove.
    pub fn held_addresses(&self) -> Vec<VipAddr> {
        self.vips
            .iter()
            .chain(self.nat_router.as_ref())
            .cloned()
            .collect()
    }
}

#[derive(Debug)]
struct Slot {
    nanny: Nanny,
    virtual_name: String,
    server: String,
}

/// One router's director. See the module docs for the contract.
#[derive(Debug)]
pub struct Director {
    config: DirectorConfig,
    pulse: Pulse,
    seed: u64,
    lvs_running: bool,
    nannies: BTreeMap<RealId, Slot>,
    /// Nanny wakeups, earliest first, and each nanny's current entry.
    schedule: BTreeSet<(Instant, RealId)>,
    scheduled_at: BTreeMap<RealId, Instant>,
    tickets: BTreeMap<u64, (RealId, ProbeId)>,
    next_ticket: u64,
    drained: BTreeSet<(String, String)>,
    /// Our belief of the kernel table: the last dump plus the ops applied since.
    believed: Table,
    /// Services this director created (and so may delete).
    owned: BTreeSet<ServiceKey>,
    dump_in_flight: bool,
    /// Ops emitted after the outstanding dump was requested: the driver executes outputs in
    /// order, so the dump will not show them, and they are replayed onto it.
    ops_after_dump: Vec<Op>,
    /// lvs started and the kernel's table is not known yet: hold ops until the dump.
    awaiting_first_dump: bool,
    next_reconcile: Option<Instant>,
    last_change: Option<(Instant, String)>,
    outputs: VecDeque<Output>,
    /// Own events dropped past [`MAX_QUEUED_OUTPUTS`].
    events_dropped: u64,
    /// Dumps processed so far, and for every op batch in flight the count when it was built:
    /// a refusal of a batch built from a dump newer than the last refusal is the kernel's
    /// failure, an older one is drift (a hand edit between dumps) that the dump repairs.
    dumps_seen: u64,
    batch_epochs: VecDeque<u64>,
    refused_epoch: Option<u64>,
    #[cfg(feature = "mutations")]
    mutation: Option<crate::mutation::Mutation>,
}

impl Director {
    /// A director for this router's `role`. `incarnation` must grow at every daemon start (see
    /// pulse); `seed` spreads the nannies' first checks.
    pub fn new(
        config: DirectorConfig,
        role: Role,
        incarnation: u64,
        seed: u64,
        now: Instant,
    ) -> Result<Director, DirectorError> {
        let d = Director::build(config, role, incarnation, seed, now)?;
        Ok(d.started(now))
    }

    /// [`Director::new`] with a planted bug (the simulator's mutation check only).
    #[cfg(feature = "mutations")]
    pub fn with_mutation(
        config: DirectorConfig,
        role: Role,
        incarnation: u64,
        seed: u64,
        now: Instant,
        mutation: Option<crate::mutation::Mutation>,
    ) -> Result<Director, DirectorError> {
        let mut d = Director::build(config, role, incarnation, seed, now)?;
        d.mutation = mutation;
        d.pulse.set_mutation(mutation);
        Ok(d.started(now))
    }

    fn started(mut self, now: Instant) -> Director {
        self.drain_pulse(now);
        // Every router starts inactive. As pulse.c does at start: run inactive_cmd and start
        // the sync daemon (as backup there; here master and backup at once, for good), so a
        // standby that was never active already receives the active's connections when it
        // takes over, and a hand-over never stops a master thread with updates unsent.
        if let Some(argv) = self.config.inactive_cmd.clone() {
            self.push(Output::RunCommand(argv));
        }
        if let Some(state) = self.config.sync_daemon_both() {
            self.push(Output::SetSyncDaemon(state));
        }
        if self.config.hot_standby {
            self.start_lvs(now);
        }
        self
    }

    fn build(
        config: DirectorConfig,
        role: Role,
        incarnation: u64,
        seed: u64,
        now: Instant,
    ) -> Result<Director, DirectorError> {
        let pulse = Pulse::new(config.pulse.clone(), role, incarnation, now)?;
        let d = Director {
            config,
            pulse,
            seed,
            lvs_running: false,
            nannies: BTreeMap::new(),
            schedule: BTreeSet::new(),
            scheduled_at: BTreeMap::new(),
            tickets: BTreeMap::new(),
            next_ticket: 0,
            drained: BTreeSet::new(),
            believed: Table::new(),
            owned: BTreeSet::new(),
            dump_in_flight: false,
            ops_after_dump: Vec::new(),
            awaiting_first_dump: false,
            next_reconcile: None,
            last_change: None,
            outputs: VecDeque::new(),
            events_dropped: 0,
            dumps_seen: 0,
            batch_epochs: VecDeque::new(),
            refused_epoch: None,
            #[cfg(feature = "mutations")]
            mutation: None,
        };
        Ok(d)
    }

    /// The configuration running.
    pub fn config(&self) -> &DirectorConfig {
        &self.config
    }

    /// Whether this router is active (holds the VIPs, runs lvs).
    pub fn is_active(&self) -> bool {
        self.pulse.is_active()
    }

    /// The pulse machine (read-only: counters, peer state, role).
    pub fn pulse(&self) -> &Pulse {
        &self.pulse
    }

    /// Whether pulse has shut down (after [`Input::Shutdown`]): the driver may exit once the
    /// outputs are drained.
    pub fn is_shut_down(&self) -> bool {
        self.pulse.is_shut_down()
    }

    /// Whether lvs runs here: nannies checking and the IPVS table programmed (while active,
    /// and on a hot standby).
    pub fn lvs_running(&self) -> bool {
        self.lvs_running
    }

    /// The table the kernel must hold now (empty while lvs is not running: inactive without
    /// `hot_standby`).
    pub fn desired_table(&self) -> Table {
        if !self.lvs_running {
            return Table::new();
        }
        lvs::desired_table(&self.config.virtuals, |id| {
            self.nannies.get(id).map(|s| s.nanny.real_state())
        })
    }

    /// A snapshot for `piranha status`.
    pub fn status(&self) -> Status {
        let virtuals = self
            .config
            .virtuals
            .iter()
            .map(|v| VirtualStatus {
                name: v.name.clone(),
                service: v.key.to_string(),
                servers: v
                    .servers
                    .iter()
                    .map(|r| RealStatus {
                        name: r.name.clone(),
                        address: SocketAddr::new(r.addr, r.port).to_string(),
                        state: self
                            .nannies
                            .get(&v.real_id(r))
                            .map(|s| s.nanny.real_state()),
                    })
                    .collect(),
            })
            .collect();
        Status {
            role: format!("{:?}", self.pulse.role()).to_lowercase(),
            active: self.pulse.is_active(),
            lvs_running: self.lvs_running,
            peer: format!("{:?}", self.pulse.peer_state()),
            last_change: self.last_change.clone(),
            events_dropped: self.events_dropped(),
            virtuals,
        }
    }

    /// Feed one input. See the module docs.
    pub fn handle_input(&mut self, now: Instant, input: Input) -> Result<(), DirectorError> {
        match input {
            Input::Heartbeat { from, bytes } => self.pulse.handle_heartbeat(now, from, &bytes),
            Input::SendRefused(path) => self.pulse.handle_send_refused(now, path),
            Input::LinkDown => self.pulse.handle_link_down(now),
            Input::LinkUp => self.pulse.handle_link_up(now),
            Input::Shutdown => {
                self.pulse.handle_shutdown(now);
                self.drain_pulse(now);
                // The daemon leaves: a hot standby's table (nobody would keep it) goes too.
                self.stop_lvs(now);
            }
            Input::ProbeDone { ticket, result } => {
                let (id, probe) = self
                    .tickets
                    .remove(&ticket)
                    .ok_or(DirectorError::UnknownProbe(ticket))?;
                // A nanny stopped since (giveup, reload) no longer cares.
                if let Some(slot) = self.nannies.get_mut(&id) {
                    // The nanny's watchdog may already have failed the probe: that is the
                    // nanny's verdict, and this late answer is not an error of the driver's.
                    let _ = slot.nanny.handle_probe_result(now, probe, &result);
                    self.drain_nanny(id);
                }
            }
            Input::IpvsDumped(actual) => {
                self.dump_in_flight = false;
                self.dumps_seen += 1;
                self.believed = actual;
                for op in std::mem::take(&mut self.ops_after_dump) {
                    let _ = self.believed.apply(&op);
                }
                let cause = if self.awaiting_first_dump {
                    IpvsCause::Change
                } else {
                    IpvsCause::Drift
                };
                self.awaiting_first_dump = false;
                self.sync_table(now, cause);
            }
            Input::IpvsApplied(result) => {
                let epoch = self.batch_epochs.pop_front().unwrap_or(self.dumps_seen);
                match result {
                    Ok(()) => self.refused_epoch = None,
                    Err((_, reason)) => {
                        self.push(Output::Event(Event::IpvsRefused { reason }));
                        // A batch built on a belief older than the last refusal's repair may
                        // fail on a hand edit made between dumps (ENOENT deleting what an
                        // operator already deleted): drift, repaired from the dump below.
                        // Refused again after a fresh dump, the kernel is failing.
                        let persistent = self.refused_epoch.is_some_and(|e| epoch > e);
                        if self.refused_epoch.is_none() {
                            self.refused_epoch = Some(self.dumps_seen);
                        }
                        // Only the active router's lvs failing fails over (a hot
                        // standby's refusals are repaired by the next dump, as drift is).
                        if persistent
                            && self.config.hard_shutdown
                            && self.lvs_running
                            && self.pulse.is_active()
                        {
                            self.pulse.handle_child_failed(now);
                        }
                        // What the kernel holds is now unknown: ask it.
                        self.request_dump();
                    }
                }
            }
        }
        self.drain_pulse(now);
        Ok(())
    }

    /// Drain (`drained = true`) or enable a real server at runtime, by lvs.cf names. Kept across
    /// lvs restarts and reloads while the real server exists.
    pub fn handle_override(
        &mut self,
        now: Instant,
        virtual_name: &str,
        server: &str,
        drained: bool,
    ) -> Result<(), DirectorError> {
        let id = self
            .config
            .virtuals
            .iter()
            .filter(|v| v.name == virtual_name)
            .flat_map(|v| {
                v.servers
                    .iter()
                    .filter(|r| r.name == server)
                    .map(|r| v.real_id(r))
            })
            .next()
            .ok_or_else(|| DirectorError::UnknownRealServer {
                virtual_name: virtual_name.to_string(),
                server: server.to_string(),
            })?;
        let key = (virtual_name.to_string(), server.to_string());
        if drained {
            self.drained.insert(key);
        } else {
            self.drained.remove(&key);
        }
        self.push(Output::Event(Event::Override {
            virtual_name: virtual_name.to_string(),
            server: server.to_string(),
            drained,
        }));
        if let Some(slot) = self.nannies.get_mut(&id) {
            if drained {
                slot.nanny.handle_drain(now);
            } else {
                slot.nanny.handle_enable(now);
            }
            self.drain_nanny(id);
        }
        Ok(())
    }

    /// Apply a new configuration (SIGHUP). Nannies of unchanged real servers keep their health;
    /// changed schedulers and persistence reach the kernel through the next diff. Settings only a
    /// restart can apply (heartbeat addresses, timing, protocol) keep their old values and say so.
    pub fn handle_reload(&mut self, now: Instant, new: DirectorConfig) {
        let old_pulse = &self.config.pulse;
        let addrs_changed = old_pulse.primary != new.pulse.primary
            || old_pulse.backup != new.pulse.backup
            || old_pulse.heartbeat_port != new.pulse.heartbeat_port;
        let timing_changed =
            old_pulse.keepalive != new.pulse.keepalive || old_pulse.deadtime != new.pulse.deadtime;
        // A key (or protocol) applied by a reload on one router only would make each reject
        // the other's beats until the second reload: both declare the partner dead and both
        // take the VIPs. The running key stays until a restart; a rotation is done by
        // restarting the routers in turn (docs/OPERATIONS.md).
        let key_changed = match (&old_pulse.protocol, &new.pulse.protocol) {
            (HeartbeatProtocol::Legacy, HeartbeatProtocol::Legacy) => false,
            (HeartbeatProtocol::V2(a), HeartbeatProtocol::V2(b)) => !a.same_as(b),
            _ => true,
        };
        if key_changed {
            self.push(Output::Event(Event::ReloadNeedsRestart {
                what: "heartbeat key or protocol",
            }));
        }
        if addrs_changed {
            self.push(Output::Event(Event::ReloadNeedsRestart {
                what: "heartbeat addresses",
            }));
        }
        if timing_changed {
            self.push(Output::Event(Event::ReloadNeedsRestart {
                what: "keepalive/deadtime",
            }));
        }
        let plan = lvs::reload_plan(&self.config.virtuals, &new.virtuals);
        let (mut kept, mut started, mut stopped) = (plan.keep.len(), 0, 0);
        let old_vips = std::mem::take(&mut self.config.vips);
        let old_nat = self.config.nat_router.take();
        let pulse_cfg = self.config.pulse.clone();
        self.config = DirectorConfig {
            pulse: pulse_cfg,
            ..new
        };
        // hot_standby switched on a standby: lvs starts or stops here (the active router runs
        // lvs either way). start_lvs starts every nanny of the new configuration.
        let serving = self.pulse.is_active();
        if !self.lvs_running && self.config.hot_standby && !self.pulse.is_shut_down() {
            self.start_lvs(now);
            (kept, started) = (0, self.nannies.len());
        } else if self.lvs_running && !self.config.hot_standby && !serving {
            (kept, stopped) = (0, self.nannies.len());
            self.stop_lvs(now);
        } else if self.lvs_running {
            for id in &plan.stop {
                self.stop_nanny(id);
                stopped += 1;
            }
            for (id, weight) in &plan.reweight {
                if let Some(slot) = self.nannies.get_mut(id) {
                    let _ = slot.nanny.handle_set_weight(now, *weight);
                }
                self.drain_nanny(*id);
            }
            let names = self.real_server_names();
            for (id, config) in plan.start {
                if let Some(names) = names.get(&id) {
                    started += usize::from(self.start_nanny(now, id, config, names.clone()));
                }
            }
            self.sync_table(now, IpvsCause::Change);
        }
        if serving {
            // Addresses: the new set up (and announced), the vanished ones down.
            let new_addrs = self.all_addresses();
            for old in old_vips.iter().chain(old_nat.as_ref()) {
                if !new_addrs.contains(old) {
                    self.push(Output::RemoveVip(old.clone()));
                }
            }
            for vip in &new_addrs {
                if !old_vips.contains(vip) && old_nat.as_ref() != Some(vip) {
                    self.push(Output::AddVip(vip.clone()));
                    self.push(Output::Announce(vip.clone()));
                }
            }
        }
        self.push(Output::Event(Event::Reloaded {
            kept,
            started,
            stopped,
        }));
    }

    /// Wake up: run every due timer. Spurious calls are harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.pulse.handle_timeout(now);
        self.drain_pulse(now);
        // Bounded: each nanny is due at most once per call (it reschedules into the future).
        let due: Vec<RealId> = self
            .schedule
            .iter()
            .take_while(|(at, _)| *at <= now)
            .map(|(_, id)| *id)
            .collect();
        for id in due {
            if let Some(slot) = self.nannies.get_mut(&id) {
                slot.nanny.handle_timeout(now);
                self.drain_nanny(id);
            }
        }
        if self.next_reconcile.is_some_and(|t| t <= now) {
            self.next_reconcile = Some(now + self.config.reconcile_interval);
            self.request_dump();
        }
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The earliest deadline and why.
    pub fn poll_timeout(&self) -> Option<(Instant, TimerReason)> {
        let mut best: Option<(Instant, TimerReason)> = self
            .pulse
            .poll_timeout()
            .map(|(t, r)| (t, TimerReason::Pulse(r)));
        let mut consider = |t: Instant, r: TimerReason| {
            if best.is_none_or(|(b, _)| t < b) {
                best = Some((t, r));
            }
        };
        if let Some(&(t, id)) = self.schedule.first() {
            let reason = self
                .nannies
                .get(&id)
                .and_then(|s| s.nanny.poll_timeout())
                .map_or(NannyTimer::Check, |(_, r)| r);
            consider(t, TimerReason::Nanny(id, reason));
        }
        if let Some(t) = self.next_reconcile {
            consider(t, TimerReason::Reconcile);
        }
        best
    }

    fn push(&mut self, out: Output) {
        // The one rule (see [`MAX_QUEUED_OUTPUTS`]): every action, transmit and request
        // queues (a dropped RemoveVip would leave two routers holding a VIP); only events past
        // the limit are dropped, and counted.
        if self.outputs.len() >= MAX_QUEUED_OUTPUTS && matches!(out, Output::Event(_)) {
            self.events_dropped += 1;
            return;
        }
        self.outputs.push_back(out);
    }

    /// Events dropped because an output queue was full, over the director, pulse and every
    /// nanny (shown in status).
    pub fn events_dropped(&self) -> u64 {
        self.events_dropped
            + self.pulse.counters().events_dropped
            + self
                .nannies
                .values()
                .map(|s| s.nanny.events_dropped())
                .sum::<u64>()
    }

    fn drain_pulse(&mut self, now: Instant) {
        while let Some(out) = self.pulse.poll_output() {
            match out {
                pulse::Output::Transmit(t) => self.push(Output::Transmit(t)),
                pulse::Output::Event(e) => {
                    match e {
                        pulse::Event::TookOver { why } => {
                            self.last_change = Some((now, format!("took over: {why:?}")));
                        }
                        pulse::Event::GaveUp { why } => {
                            self.last_change = Some((now, format!("gave up: {why:?}")));
                        }
                        _ => {}
                    }
                    self.push(Output::Event(Event::Pulse(e)));
                }
                pulse::Output::Action(a) => self.run_action(now, a),
            }
        }
    }

    /// Every address this router may hold: the VIPs and the NAT router address.
    fn all_addresses(&self) -> Vec<VipAddr> {
        self.config.held_addresses()
    }

    fn addresses(&self, a: Address) -> Vec<VipAddr> {
        match a {
            Address::NatRouter => self.config.nat_router.iter().cloned().collect(),
            Address::Vip(_) => self.config.vips.clone(),
        }
    }

    fn run_action(&mut self, now: Instant, action: Action) {
        match action {
            #[cfg(feature = "mutations")] // MUTATION: stale VIPs kept at start
            Action::RemoveStaleVips
                if self.mutation == Some(crate::mutation::Mutation::KeepStaleVips) => {}
            Action::RemoveStaleVips => {
                let all = self.all_addresses();
                for vip in all {
                    self.push(Output::RemoveVip(vip));
                }
            }
            Action::RunActiveCmd => {
                if let Some(argv) = self.config.active_cmd.clone() {
                    self.push(Output::RunCommand(argv));
                }
            }
            Action::RunInactiveCmd => {
                if let Some(argv) = self.config.inactive_cmd.clone() {
                    self.push(Output::RunCommand(argv));
                }
            }
            // Both threads run from start to exit (SyncDaemon::Both): a role change switches
            // nothing. (Stopping the master at a giveup dropped its unsent updates: the
            // end-to-end VM test saw every long-lived connection reset at a SIGTERM.)
            Action::SyncDaemonMaster | Action::SyncDaemonBackup => {}
            Action::AddressUp(a) => {
                for vip in self.addresses(a) {
                    self.push(Output::AddVip(vip));
                }
            }
            #[cfg(feature = "mutations")] // MUTATION: no gratuitous ARP
            Action::Announce(_) if self.mutation == Some(crate::mutation::Mutation::NoAnnounce) => {
            }
            Action::Announce(a) => {
                for vip in self.addresses(a) {
                    self.push(Output::Announce(vip));
                }
            }
            Action::AddressDown(a) => {
                for vip in self.addresses(a) {
                    self.push(Output::RemoveVip(vip));
                }
            }
            // On a hot standby lvs is already running (started with the director).
            Action::StartLvs => self.start_lvs(now),
            // Giving up keeps a hot standby's nannies and table; shutting down does not.
            Action::StopLvs if self.config.hot_standby && !self.pulse.is_shut_down() => {}
            Action::StopLvs => self.stop_lvs(now),
        }
    }
}
