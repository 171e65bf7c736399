//! Received datagrams: authenticate, check freshness, then act.

use super::config::{HeartbeatProtocol, Role, WITNESS_NODE_ID};
use super::output::{Event, GiveupReason, Path, RejectReason};
use super::{Action, Pulse};
use crate::time::{Duration, Instant};
use crate::wire::legacy;
use crate::wire::v2::{self, Flags};
use core::net::SocketAddr;

/// What an accepted beat from the partner says.
#[derive(Debug, Clone, Copy)]
pub(super) struct Beat {
    stopped: bool,
    active: bool,
    takeback: bool,
    /// v2 only: active without a lease / asking an unleased active partner for the VIPs.
    unleased: bool,
    relieve: bool,
}

impl Pulse {
    /// A datagram arrived on the heartbeat socket from `from` (partner beats and witness
    /// replies alike). Anything not from the partner's public/private address or the
    /// witness, unauthenticated, stale, replayed or malformed is dropped, counted and
    /// reported as [`Event::HeartbeatRejected`]; it never changes a decision.
    pub fn handle_heartbeat(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        if self.shut_down {
            return;
        }
        if self
            .lease
            .as_ref()
            .is_some_and(|l| l.config().address == from)
        {
            self.on_witness_reply(now, bytes);
            self.evaluate(now);
            return;
        }
        let Some(path) = self.path_of(from.ip()) else {
            self.reject(now, None, RejectReason::ForeignSource);
            return;
        };
        match self.parse_beat(bytes) {
            Ok(Some(beat)) => self.on_beat(now, path, beat),
            Ok(None) => {
                if std::mem::take(&mut self.echo_reply_due) {
                    self.send_beats(now);
                }
            }
            Err(why) => self.reject(now, Some(path), why),
        }
        self.evaluate(now);
    }

    /// Count a dropped datagram; report it as an event at most once per path and reason per
    /// `keepalive` (a flood must not flood the timeline; the counters count everything).
    fn reject(&mut self, now: Instant, path: Option<Path>, why: RejectReason) {
        self.counters.count(why);
        let by_path = match path {
            None => 0,
            Some(Path::Public) => 1,
            Some(Path::Private) => 2,
            Some(Path::Arbiter) => 3,
        };
        let slot = &mut self.reject_reported[by_path][why.index()];
        if slot.is_none_or(|t| now >= t + self.config.keepalive) {
            *slot = Some(now);
            self.event(Event::HeartbeatRejected { path, why });
        }
    }

    fn parse_beat(&mut self, bytes: &[u8]) -> Result<Option<Beat>, RejectReason> {
        let key = match &self.config.protocol {
            HeartbeatProtocol::Legacy => {
                if bytes.is_empty() {
                    // An inactive partner's probe (this implementation's legacy mode):
                    // alive, not active.
                    self.counters.probes += 1;
                    return Ok(Some(Beat {
                        stopped: false,
                        active: false,
                        takeback: false,
                        unleased: false,
                        relieve: false,
                    }));
                }
                let repr = legacy::Repr::parse_bytes(bytes)?;
                return match repr.message {
                    legacy::Message::Running => Ok(Some(Beat {
                        stopped: false,
                        active: true,
                        takeback: false,
                        unleased: false,
                        relieve: false,
                    })),
                    legacy::Message::Stopped => Ok(Some(Beat {
                        stopped: true,
                        active: false,
                        takeback: false,
                        unleased: false,
                        relieve: false,
                    })),
                    _ => Err(RejectReason::Malformed),
                };
            }
            HeartbeatProtocol::V2(key) => key,
        };
        if bytes.len() == legacy::PACKET_LEN && legacy::Repr::parse_bytes(bytes).is_ok() {
            return Err(RejectReason::LegacyRefused);
        }
        let repr = v2::Repr::parse_bytes(bytes, key)?;
        if repr.node_id != self.role.partner().node_id() {
            return Err(RejectReason::WrongNode);
        }
        let stopped = match repr.message {
            v2::Message::Running => false,
            v2::Message::Stopped => true,
            _ => return Err(RejectReason::Malformed),
        };
        // Freshness across restarts: the partner echoes the incarnation of ours it last
        // heard. A beat recorded during an earlier run of ours echoes that run, so a replay
        // after our restart (a STOPPED, a stream of RUNNING) is refused however new it looks
        // to the replay window, which starts empty at every start. Learning the partner's
        // incarnation from the beat first lets both sides converge in a round trip.
        let learned = repr.incarnation > self.partner_incarnation;
        self.partner_incarnation = self.partner_incarnation.max(repr.incarnation);
        if repr.echo != self.incarnation {
            if repr.echo == 0 || self.counters.accepted == 0 {
                // The partner has not heard this run of ours yet (either of us just
                // started): expected, counted but not reported. A run of the partner's we
                // did not know is answered at once with a beat that echoes it, so the two
                // converge in a round trip rather than a keepalive.
                self.counters.count(RejectReason::Unconfirmed);
                self.echo_reply_due |= learned;
                return Ok(None);
            }
            return Err(RejectReason::Unconfirmed);
        }
        self.window
            .check_and_update(repr.incarnation, repr.sequence)?;
        if repr.serial_no != self.config.serial_no && self.last_serial_seen != Some(repr.serial_no)
        {
            self.event(Event::SerialMismatch {
                ours: self.config.serial_no,
                theirs: repr.serial_no,
            });
        }
        self.last_serial_seen = Some(repr.serial_no);
        Ok(Some(Beat {
            stopped,
            active: !stopped && repr.flags.contains(Flags::ACTIVE),
            takeback: repr.flags.contains(Flags::TAKEBACK),
            unleased: !stopped && repr.flags.contains(Flags::UNLEASED),
            relieve: !stopped && repr.flags.contains(Flags::RELIEVE),
        }))
    }

    /// A valid sign of life on `path`: reset its deadline and refusal count.
    fn mark_path_alive(&mut self, path: Path, now: Instant) {
        let deadtime = self.config.deadtime;
        #[cfg(feature = "mutations")] // MUTATION: the deadline one keepalive late
        let deadtime = deadtime
            + if self.mutated(crate::mutation::Mutation::DeadtimeOffByOne) {
                self.config.keepalive
            } else {
                crate::time::Duration::ZERO
            };
        let Some(state) = self.path_mut(path) else {
            return;
        };
        state.refused = 0;
        state.deadline = now + deadtime;
        let was_quiet = state.silent || !state.heard;
        state.silent = false;
        state.heard = true;
        let deadline = state.deadline;
        let reason = match path {
            Path::Private => super::TimerReason::PrivateDeadline,
            _ => super::TimerReason::PublicDeadline,
        };
        self.timers.set(reason, deadline);
        if was_quiet {
            self.event(Event::PathAlive { path });
        }
    }

    fn on_beat(&mut self, now: Instant, path: Path, beat: Beat) {
        self.counters.accepted += 1;
        self.mark_path_alive(path, now);
        if self.peer_dead.take().is_some() || self.peer_heard_since.is_none() {
            self.peer_heard_since = Some(now);
        }
        let was_active = self.peer.heard && self.peer.active && !self.peer.stopped;
        let was_stopped = self.peer.heard && self.peer.stopped;
        self.peer.heard = true;
        if !beat.stopped {
            self.peer_stopped_since = None;
            self.peer_gave_up = false;
            self.timers.stop(super::TimerReason::StoppedGrace);
        } else if !was_stopped {
            self.peer_stopped_since = Some(now);
            self.peer_gave_up = was_active;
            let legacy = matches!(self.config.protocol, HeartbeatProtocol::Legacy);
            if legacy && self.role == Role::Backup && !was_active && !self.active {
                // Tell the (perhaps cold-starting) primary at once that we are inactive:
                // it takes over on our STOPPED. Take over ourselves only if it does not.
                let at = now + self.stopped_grace();
                self.timers.set(super::TimerReason::StoppedGrace, at);
                self.send_beats(now);
            }
        }
        self.peer.stopped = beat.stopped;
        #[cfg(feature = "mutations")] // MUTATION: STOPPED read as RUNNING
        if self.mutated(crate::mutation::Mutation::IgnoreStopped) {
            self.peer.stopped = false;
        }
        self.peer.active = beat.active;
        self.peer.takeback = beat.takeback;
        self.peer.unleased = beat.active && beat.unleased;
        self.peer.relieve = beat.relieve;
        if beat.active {
            self.lease_lost = false;
            if self.child_failed {
                // As Piranha's pulse: the partner runs the service, our child failure is
                // history; we are a standby again (and may take over when it fails).
                self.child_failed = false;
                self.event(Event::FaultCleared {
                    fault: super::Fault::ChildFailed,
                });
                if !self.faulted() {
                    self.healthy_since = now;
                }
            }
        }
        if !self.active {
            if self.peer.unleased && self.lease.is_some() {
                // The partner holds the VIPs without a lease: ask the witness for one, so
                // that we can relieve it (arbitrated again) if we reach the witness.
                self.seek_relief(now);
            }
            return;
        }
        if self.unleased && (beat.active || beat.relieve) {
            // An active partner holds a lease (it activates only with one), and a relieving
            // one has just been granted one: either way the VIPs are its. Down first, then
            // STOPPED, so that it takes over on it and we are never both active.
            self.unleased = false;
            self.lease_lost = true;
            self.deactivate(now, GiveupReason::LeaseLost);
            self.send_to_partner(true, false, false);
            return;
        }
        if beat.active {
            match self.role {
                #[cfg(feature = "mutations")] // MUTATION: the backup keeps its VIPs
                Role::Backup if self.mutated(crate::mutation::Mutation::NoPrimaryTieBreak) => {}
                Role::Backup => {
                    // Primary wins: one last beat (still ACTIVE, so the primary
                    // re-announces over our ARP), then give up.
                    self.send_to_partner(false, true, false);
                    self.deactivate(now, GiveupReason::PrimaryWins);
                }
                Role::Primary => {
                    // The same claim arrives once per path: re-announce once per half
                    // keepalive at most.
                    let half = self.config.keepalive.div(2);
                    if self.last_reannounce.is_none_or(|t| now >= t + half) {
                        self.last_reannounce = Some(now);
                        self.event(Event::Reannounced);
                        self.action(Action::RunActiveCmd);
                        self.start_arp_burst(now);
                    }
                }
            }
        } else if beat.takeback && self.role == Role::Backup && self.config.failback {
            // VIPs down first, then STOPPED: never both active.
            self.deactivate(now, GiveupReason::HandBack);
            self.send_to_partner(true, false, false);
        }
    }

    fn on_witness_reply(&mut self, now: Instant, bytes: &[u8]) {
        let HeartbeatProtocol::V2(key) = &self.config.protocol else {
            return;
        };
        let repr = match v2::Repr::parse_bytes(bytes, key) {
            Ok(r) => r,
            Err(e) => return self.reject(now, Some(Path::Arbiter), e.into()),
        };
        if repr.node_id != WITNESS_NODE_ID {
            return self.reject(now, Some(Path::Arbiter), RejectReason::WrongNode);
        }
        let Some(lease) = self.lease.as_mut() else {
            return;
        };
        if let Err(why) = lease
            .window
            .check_and_update(repr.incarnation, repr.sequence)
        {
            return self.reject(now, Some(Path::Arbiter), why);
        }
        let result = match repr.message {
            v2::Message::LeaseGrant if repr.lease_holder == self.me => {
                let grace = repr.flags.contains(Flags::GRACE);
                lease
                    .on_grant(repr.echo, repr.lease_ms, grace, now)
                    .map(|until| match until {
                        Some(until) => Event::LeaseGranted { until },
                        None => Event::GraceGrantRefused,
                    })
            }
            v2::Message::LeaseDeny => lease.on_deny(repr.echo).map(|()| Event::LeaseDenied {
                holder: repr.lease_holder,
            }),
            _ => Err(RejectReason::Malformed),
        };
        match result {
            Err(why) => self.reject(now, Some(Path::Arbiter), why),
            Ok(event) => {
                self.counters.witness_replies += 1;
                self.event(event);
                match event {
                    Event::LeaseGranted { until } if self.active => {
                        // (a router holding without a lease is arbitrated again)
                        self.unleased = false;
                        self.timers.set(super::TimerReason::LeaseExpiry, until);
                    }
                    Event::LeaseGranted { .. }
                        if self.pending_takeover.is_some() && !self.faulted() => {}
                    // Keep it: our next beats ask the unleased partner for the VIPs.
                    Event::LeaseGranted { .. } if self.relieving() => self.send_beats(now),
                    // A grant we cannot or no longer want to use: hand it back.
                    Event::LeaseGranted { .. } | Event::GraceGrantRefused => {
                        self.release_lease(now, true);
                    }
                    // The witness says when the holder's lease ends: ask again right then.
                    Event::LeaseDenied { .. }
                        if repr.lease_ms > 0
                            && (self.pending_takeover.is_some() || self.peer.unleased) =>
                    {
                        let at = now + Duration::from_millis(u64::from(repr.lease_ms));
                        let armed = self.timers.get(super::TimerReason::LeaseRequest);
                        if armed.is_none_or(|t| at < t) {
                            self.timers.set(super::TimerReason::LeaseRequest, at);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}
