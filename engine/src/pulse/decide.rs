//! Decisions and their side effects: beats, takeover/giveup sequences, ARP, lease requests.

use super::config::{HeartbeatProtocol, Role};
use super::output::{Action, Event, GiveupReason, Path, PeerDeadReason, TakeoverReason};
use super::timer::TimerReason;
use super::{PathState, Pulse};
use crate::time::{Duration, Instant};
use crate::wire::legacy;
use crate::wire::v2::{self, Flags};
use core::net::SocketAddr;

impl Pulse {
    /// Are we (about to be) asking the partner for the VIPs?
    pub(super) fn wants_takeback(&self, now: Instant) -> bool {
        self.config.failback
            && self.role == Role::Primary
            && !self.active
            && !self.faulted()
            && !self.shut_down
            && self.peer.active
            && !self.peer.stopped
            && self.peer_dead.is_none()
            && self
                .peer_heard_since
                .is_some_and(|h| now >= h.max(self.healthy_since) + self.config.deadtime)
    }

    /// One beat on every path: RUNNING (flags say active / take-back), or STOPPED when
    /// faulted or shut down; on the legacy wire an inactive router says STOPPED, as Piranha's.
    pub(super) fn send_beats(&mut self, now: Instant) {
        let stopped = self.faulted() || self.shut_down || (self.lease_lost && !self.active);
        let takeback = self.wants_takeback(now);
        if takeback && !self.takeback_announced {
            self.takeback_announced = true;
            self.event(Event::TakebackRequested);
        }
        self.send_to_partner(stopped, self.active, takeback);
        if !self.shut_down {
            self.timers
                .set(TimerReason::Heartbeat, now + self.config.keepalive);
        }
    }

    pub(super) fn send_to_partner(&mut self, stopped: bool, active: bool, takeback: bool) {
        if self.config.no_partner || self.legacy_primary_quiet(stopped, active) {
            return;
        }
        let partner = self.partner_addrs();
        let port = self.config.heartbeat_port;
        let mut paths = vec![(Path::Public, partner.public)];
        if let Some(ip) = partner.private {
            paths.push((Path::Private, ip));
        }
        for (path, ip) in paths {
            let bytes = match &self.config.protocol {
                HeartbeatProtocol::Legacy => {
                    // Piranha's pulse: RUNNING while active, STOPPED otherwise.
                    let message = if active && !stopped {
                        legacy::Message::Running
                    } else {
                        legacy::Message::Stopped
                    };
                    legacy::Repr { message }.to_bytes().to_vec()
                }
                HeartbeatProtocol::V2(_) => {
                    let message = if stopped {
                        v2::Message::Stopped
                    } else {
                        v2::Message::Running
                    };
                    let flags = Flags::empty()
                        .with(Flags::ACTIVE, active)
                        .with(Flags::TAKEBACK, takeback)
                        .with(Flags::FAULT, self.faulted())
                        .with(Flags::UNLEASED, active && self.unleased)
                        .with(Flags::RELIEVE, !active && !stopped && self.relieving());
                    let seq = self.next_sequence();
                    let repr = v2::Repr {
                        echo: self.partner_incarnation,
                        ..v2::Repr::heartbeat(
                            message,
                            flags,
                            self.me,
                            self.incarnation,
                            seq,
                            self.config.serial_no,
                        )
                    };
                    self.emit_v2(&repr)
                }
            };
            self.transmit(path, SocketAddr::new(ip, port), bytes);
        }
    }

    /// Legacy wire: a healthy inactive primary that has heard nothing from its partner yet
    /// keeps quiet. Its STOPPED would make an old inactive backup take over at once ("primary
    /// inactive") and, once that backup is active, the primary would only hear RUNNING and
    /// stay standby: the backup, not the primary, would end active. Quiet, the primary hears
    /// the backup's STOPPED (sent every keepalive) and takes over first; a partner that is
    /// already active hears from us after its first beat reaches us.
    fn legacy_primary_quiet(&self, stopped: bool, active: bool) -> bool {
        matches!(self.config.protocol, HeartbeatProtocol::Legacy)
            && self.role == Role::Primary
            && !stopped
            && !active
            && !self.peer.heard
            && self.peer_dead.is_none()
    }

    /// Legacy wire, backup: how long after the primary's first STOPPED (from a primary not
    /// active just before) we wait before taking over. An old primary takes over when it
    /// hears our STOPPED (which we send at once) and says RUNNING at its next beat, at most
    /// a keepalive later; a primary that still is not active by then is faulted.
    pub(super) fn stopped_grace(&self) -> Duration {
        self.config.keepalive + self.config.keepalive.div(2)
    }

    /// May the partner's STOPPED make us take over now?
    fn stopped_means_takeover(&self, now: Instant) -> bool {
        let deferred = matches!(self.config.protocol, HeartbeatProtocol::Legacy)
            && self.role == Role::Backup
            && !self.peer_gave_up;
        !deferred
            || self
                .peer_stopped_since
                .is_some_and(|since| now >= since + self.stopped_grace())
    }

    pub(super) fn emit_v2(&self, repr: &v2::Repr) -> Vec<u8> {
        match &self.config.protocol {
            HeartbeatProtocol::V2(key) => repr.to_bytes(key).to_vec(),
            HeartbeatProtocol::Legacy => unreachable!("v2 packet under legacy protocol"),
        }
    }

    pub(super) fn on_timer(&mut self, now: Instant, reason: TimerReason) {
        match reason {
            TimerReason::Heartbeat => self.send_beats(now),
            TimerReason::PublicDeadline | TimerReason::PrivateDeadline => {
                let path = if reason == TimerReason::PublicDeadline {
                    Path::Public
                } else {
                    Path::Private
                };
                if let Some(s) = self.path_mut(path) {
                    if now >= s.deadline && !s.silent {
                        s.silent = true;
                        self.event(Event::PathSilent { path });
                    }
                }
            }
            TimerReason::StartupListen | TimerReason::StoppedGrace => {}
            TimerReason::ArpRepeat => {
                if self.active {
                    self.announce_round();
                    self.arp_remaining = self.arp_remaining.saturating_sub(1);
                    self.arm_arp(now);
                }
            }
            TimerReason::ArpRefresh => {
                if self.active {
                    self.announce_round();
                    self.arm_arp(now);
                }
            }
            TimerReason::LeaseRequest => self.send_lease_request(now),
            TimerReason::LeaseExpiry => {
                let valid = self.lease.as_ref().is_some_and(|l| l.valid(now));
                if !self.active || valid {
                    return;
                }
                if let Some(until) = self.partner_vouches_until(now) {
                    // The witness is out of reach but the partner is heard standby: it
                    // cannot take the VIPs (it has no lease either, or it asks for them
                    // with RELIEVE), so giving them up would leave nobody serving. Hold,
                    // and look again when the partner's last beat is too old to vouch.
                    if !self.unleased {
                        self.unleased = true;
                        self.event(Event::HoldingWithoutLease);
                        // Tell the partner at once: it may reach the witness.
                        self.send_to_partner(false, true, false);
                    }
                    self.timers.set(TimerReason::LeaseExpiry, until);
                    return;
                }
                // Keep saying STOPPED until we are active again or the partner is:
                // the partner may reach the witness when we cannot.
                self.unleased = false;
                self.lease_lost = true;
                self.deactivate(now, GiveupReason::LeaseLost);
                self.send_to_partner(true, false, false);
            }
        }
    }

    /// How long the partner's last beat vouches that it is standby: `Some(until)` while it
    /// was heard within the hold window, saying it is neither active nor stopped. The window,
    /// `min(2 keepalive, deadtime / 2)`, ends before the partner can declare us dead (our
    /// last beat + deadtime, at least deadtime - keepalive after its last beat reached us),
    /// so a partition makes us give up before the partner may take over; with deadtime at
    /// most 2 keepalive there is no such window and no holding.
    pub(super) fn partner_vouches_until(&self, now: Instant) -> Option<Instant> {
        let (k, d) = (self.config.keepalive, self.config.deadtime);
        if d <= k.saturating_mul(2) {
            return None;
        }
        let window = k.saturating_mul(2).min(d.div(2));
        if !self.peer.heard || self.peer.active || self.peer.stopped || self.peer_dead.is_some() {
            return None;
        }
        let last_heard = [Some(self.public), self.private]
            .into_iter()
            .flatten()
            .filter(|p| p.heard)
            .map(|p| p.deadline.saturating_duration_since(Instant::ZERO))
            .max()?
            .saturating_sub(d);
        let until = Instant::ZERO + last_heard + window;
        (now < until).then_some(until)
    }

    /// Standby, holding a valid lease, while the partner is active without one: our beats
    /// ask it for the VIPs.
    pub(super) fn relieving(&self) -> bool {
        !self.active
            && !self.faulted()
            && !self.shut_down
            && self.peer.unleased
            && self
                .lease
                .as_ref()
                .is_some_and(|l| l.valid_until().is_some())
    }

    /// Ask the witness for a lease on behalf of an unleased active partner (at most one
    /// request in flight: the request timer paces retries).
    pub(super) fn seek_relief(&mut self, now: Instant) {
        if self.faulted() || self.shut_down || self.relieving() {
            return;
        }
        if self.timers.get(TimerReason::LeaseRequest).is_none() {
            self.send_lease_request(now);
        }
    }

    pub(super) fn update_peer_dead(&mut self, now: Instant) {
        let paths: Vec<PathState> = [Some(self.public), self.private]
            .into_iter()
            .flatten()
            .collect();
        let reason = if paths.iter().all(|p| now >= p.deadline) {
            Some(PeerDeadReason::Deadtime)
        } else if paths.iter().all(|p| p.refused >= 2) {
            Some(PeerDeadReason::PortUnreachable)
        } else {
            None
        };
        if let (Some(reason), None) = (reason, self.peer_dead) {
            self.peer_dead = Some(reason);
            self.peer_heard_since = None;
            self.event(Event::PeerDead { reason });
        }
    }

    /// Level-triggered takeover decision for an inactive router.
    pub(super) fn evaluate(&mut self, now: Instant) {
        if self.shut_down || self.active || self.faulted() {
            self.pending_takeover = None;
            return;
        }
        let why = if let Some(r) = self.peer_dead {
            Some(TakeoverReason::PeerDead(r))
        } else if self.peer.heard && self.peer.stopped && self.stopped_means_takeover(now) {
            Some(TakeoverReason::PeerStopped)
        } else if self.role == Role::Primary
            && now >= self.listen_end
            && self.peer.heard
            && !self.peer.active
        {
            Some(TakeoverReason::PeerStandby)
        } else {
            None
        };
        let Some(why) = why else {
            self.pending_takeover = None;
            return;
        };
        match &self.lease {
            None => self.activate(now, why),
            Some(l) if l.valid(now) => self.activate(now, why),
            Some(_) => {
                if self.pending_takeover != Some(why) {
                    self.pending_takeover = Some(why);
                    self.event(Event::TakeoverAwaitingLease { why });
                }
                if self.timers.get(TimerReason::LeaseRequest).is_none() {
                    self.send_lease_request(now);
                }
            }
        }
    }

    pub(super) fn activate(&mut self, now: Instant, why: TakeoverReason) {
        assert!(!self.active && !self.faulted() && !self.shut_down);
        // The arbiter's invariant: never active without a valid lease.
        debug_assert!(self.lease.as_ref().is_none_or(|l| l.valid(now)));
        self.active = true;
        self.lease_lost = false;
        self.pending_takeover = None;
        self.takeback_announced = false;
        self.event(Event::TookOver { why });
        self.action(Action::RunActiveCmd);
        self.action(Action::StartLvs);
        if self.config.syncdaemon {
            self.action(Action::SyncDaemonMaster);
        }
        for a in self.addresses.clone() {
            self.action(Action::AddressUp(a));
        }
        self.start_arp_burst(now);
        if let Some(until) = self.lease.as_ref().and_then(|l| l.valid_until()) {
            self.timers.set(TimerReason::LeaseExpiry, until);
            let next = now + self.lease_interval(true);
            self.timers.set(TimerReason::LeaseRequest, next);
        }
        // Tell the partner at once that we are active.
        self.send_beats(now);
    }

    pub(super) fn deactivate(&mut self, now: Instant, why: GiveupReason) {
        assert!(self.active);
        self.active = false;
        self.unleased = false;
        self.event(Event::GaveUp { why });
        self.action(Action::RunInactiveCmd);
        if self.config.syncdaemon {
            self.action(Action::SyncDaemonBackup);
        }
        self.action(Action::StopLvs);
        for a in self.addresses.clone() {
            self.action(Action::AddressDown(a));
        }
        self.arp_remaining = 0;
        self.timers.stop(TimerReason::ArpRepeat);
        self.timers.stop(TimerReason::ArpRefresh);
        self.release_lease(now, false);
    }

    pub(super) fn start_arp_burst(&mut self, now: Instant) {
        self.arp_remaining = self.config.arp.count;
        if self.arp_remaining > 0 {
            self.announce_round();
            self.arp_remaining -= 1;
        }
        self.arm_arp(now);
    }

    pub(super) fn arm_arp(&mut self, now: Instant) {
        self.timers.stop(TimerReason::ArpRepeat);
        self.timers.stop(TimerReason::ArpRefresh);
        if self.arp_remaining > 0 {
            self.timers
                .set(TimerReason::ArpRepeat, now + self.config.arp.interval);
        } else if let Some(r) = self.config.arp.refresh {
            self.timers.set(TimerReason::ArpRefresh, now + r);
        }
    }

    pub(super) fn announce_round(&mut self) {
        for a in self.addresses.clone() {
            self.action(Action::Announce(a));
        }
    }

    pub(super) fn lease_interval(&self, active: bool) -> Duration {
        self.lease.as_ref().map_or(self.config.keepalive, |l| {
            l.request_interval(self.config.keepalive, active)
        })
    }

    pub(super) fn send_lease_request(&mut self, now: Instant) {
        self.timers.stop(TimerReason::LeaseRequest);
        let relief = !self.active && self.peer.unleased && !self.faulted() && !self.shut_down;
        if self.lease.is_none() || !(self.active || self.pending_takeover.is_some() || relief) {
            return;
        }
        let seq = self.next_sequence();
        let Some(lease) = self.lease.as_mut() else {
            return;
        };
        lease.note_request(seq, now);
        let repr = v2::Repr {
            lease_ms: lease.request_ms(),
            ..v2::Repr::heartbeat(
                v2::Message::LeaseRequest,
                Flags::empty().with(Flags::ACTIVE, self.active),
                self.me,
                self.incarnation,
                seq,
                self.config.serial_no,
            )
        };
        let dest = lease.config().address;
        let bytes = self.emit_v2(&repr);
        self.transmit(Path::Arbiter, dest, bytes);
        let next = now + self.lease_interval(self.active);
        self.timers.set(TimerReason::LeaseRequest, next);
    }

    pub(super) fn release_lease(&mut self, _now: Instant, force: bool) {
        // The request timer stays: it stops by itself once no lease is wanted.
        self.timers.stop(TimerReason::LeaseExpiry);
        let Some(lease) = self.lease.as_mut() else {
            return;
        };
        let had = lease.valid_until().is_some();
        lease.release();
        if !had && !force {
            return;
        }
        let dest = lease.config().address;
        let seq = self.next_sequence();
        let repr = v2::Repr {
            lease_holder: self.me,
            ..v2::Repr::heartbeat(
                v2::Message::LeaseRelease,
                Flags::empty(),
                self.me,
                self.incarnation,
                seq,
                self.config.serial_no,
            )
        };
        let bytes = self.emit_v2(&repr);
        self.transmit(Path::Arbiter, dest, bytes);
    }
}
