//! The invariants (checker oracles), judged after every step of the world. Each violation
//! names the invariant and the simulated time; the runner adds the reproduce command.

use std::collections::BTreeMap;

use piranha_engine::director::Director;
use piranha_engine::ipvs::{DestKey, ServiceKey};
use piranha_engine::pulse::Role;
use piranha_engine::time::{Duration, Instant};

use crate::clients::{Client, REACHABLE};
use crate::report::Recorder;
use crate::world::{Router, Setup};

/// One broken invariant.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    /// Which invariant (see docs/SIMULATION.md).
    pub invariant: &'static str,
    /// Simulated time, nanoseconds since the start.
    pub at_ns: u64,
    /// What was seen.
    pub detail: String,
}

impl Violation {
    /// When, as an engine instant.
    pub fn at(&self) -> Instant {
        Instant::from_nanos(self.at_ns)
    }
}

/// Slack for "at once" (a few network delays and a drain).
const NOW_SLACK: Duration = Duration::from_millis(100);

/// Scale a duration by 1.002 (the largest clock-rate error the fault model draws is 0.1%).
fn drifted(d: Duration) -> Duration {
    d + Duration::from_nanos(d.as_nanos() / 500)
}

pub(crate) struct Checker {
    pub violations: Vec<Violation>,
    pub stop: bool,
    arbiter: bool,
    /// Legacy heartbeats: a backup may wait keepalive × 1.5 on a STOPPED that is not a handover.
    legacy: bool,
    keepalive: Duration,
    deadtime: Duration,
    reconcile: Duration,
    /// No arbiter: when the backup first heard the active primary while both were active.
    dual_since: Option<Instant>,
    unconverged: [Option<Instant>; 2],
    last_beat: [Option<Instant>; 2],
    stopped_heard: [Option<Instant>; 2],
    /// The last beat each router heard before the current STOPPED run came from an active partner.
    handover: [bool; 2],
    last_from_active: [bool; 2],
    /// Role changes each router may still make (see [`Checker::fault_edge`]).
    pub role_changes: [u32; 2],
    pub window_exempt: bool,
    pub down_verdicts: [BTreeMap<(String, String), Instant>; 2],
    pub active_since: [Option<Instant>; 2],
    one_active_from: Option<Instant>,
    resumed_at: [Instant; 2],
    exempt_until: Instant,
    none_active_since: Option<Instant>,
}

impl Checker {
    pub(crate) fn new(setup: &Setup) -> Checker {
        Checker {
            violations: Vec::new(),
            stop: false,
            arbiter: setup.arbiter,
            legacy: matches!(
                setup.config.pulse.protocol,
                piranha_engine::pulse::HeartbeatProtocol::Legacy
            ),
            keepalive: setup.keepalive,
            deadtime: setup.deadtime,
            reconcile: setup.config.reconcile_interval,
            dual_since: None,
            unconverged: [None; 2],
            last_beat: [None; 2],
            stopped_heard: [None; 2],
            handover: [false; 2],
            last_from_active: [false; 2],
            role_changes: [1; 2],
            window_exempt: false,
            down_verdicts: [BTreeMap::new(), BTreeMap::new()],
            active_since: [None; 2],
            one_active_from: None,
            resumed_at: [Instant::ZERO; 2],
            exempt_until: Instant::ZERO,
            none_active_since: None,
        }
    }

    pub(crate) fn violate(
        &mut self,
        rec: &mut Recorder,
        invariant: &'static str,
        at: Instant,
        detail: String,
    ) {
        rec.trace(at, || format!("CHECK    VIOLATION {invariant}: {detail}"));
        self.violations.push(Violation {
            invariant,
            at_ns: at.as_nanos(),
            detail,
        });
        // The first violation ends the run: everything after it is noise, and shrinking wants
        // the shortest run.
        self.stop = true;
    }

    /// A heartbeat datagram from router `from` reached router `to`'s daemon.
    pub(crate) fn beat_delivered(
        &mut self,
        now: Instant,
        to: usize,
        from: usize,
        stopping: bool,
        routers: &[Router; 2],
    ) {
        self.last_beat[to] = Some(now);
        if stopping {
            if self.stopped_heard[to].is_none() {
                self.stopped_heard[to] = Some(now);
                self.handover[to] = self.last_from_active[to];
            }
        } else {
            self.stopped_heard[to] = None;
        }
        self.last_from_active[to] = !stopping && routers[from].is_active();
        if !self.arbiter
            && routers[to].role == Role::Backup
            && routers[to].is_active()
            && routers[from].is_active()
        {
            self.dual_since.get_or_insert(now);
        }
    }

    pub(crate) fn role_changed(
        &mut self,
        rec: &mut Recorder,
        now: Instant,
        r: usize,
        active: bool,
    ) {
        self.active_since[r] = active.then_some(now);
        if !active {
            self.down_verdicts[r].clear();
        }
        if self.window_exempt || now < self.exempt_until {
            return;
        }
        if self.role_changes[r] == 0 {
            let detail = format!(
                "r{r} changed role more often than faults started or ended (now {})",
                if active { "active" } else { "backup" }
            );
            return self.violate(rec, "no-flapping", now, detail);
        }
        self.role_changes[r] -= 1;
    }

    /// Every fault edge allows each router one more role change; unused allowance carries
    /// over to later edges, at most three (a change caused by an edge may land after the next
    /// ones: a beat lost to a partition that already healed, a fail-back a deadtime after a
    /// restart). Lossy or slow networks exempt their windows.
    pub(crate) fn fault_edge(&mut self, now: Instant, exempt: bool) {
        for c in &mut self.role_changes {
            *c = (*c + 1).min(3);
        }
        if self.window_exempt && !exempt {
            // Datagrams held back by the network fault still arrive for a while (a reordered
            // beat is late by up to two keepalives, a duplicate by one).
            self.exempt_until = now + self.keepalive.saturating_mul(3);
        }
        self.window_exempt = exempt;
    }

    pub(crate) fn daemon_gone(&mut self, r: usize) {
        self.active_since[r] = None;
        self.down_verdicts[r].clear();
        self.unconverged[r] = None;
        self.stopped_heard[r] = None;
        self.last_from_active[r] = false;
    }

    /// A paused router runs again: its reconcile period starts over.
    pub(crate) fn resumed(&mut self, r: usize, now: Instant) {
        self.unconverged[r] = None;
        self.resumed_at[r] = now;
    }

    pub(crate) fn hand_edit(&mut self, _now: Instant, _r: usize) {}

    /// Bounds of the liveness phase after the heal: (one active, ARP, real servers back).
    pub(crate) fn liveness_times(&self, setup: &Setup) -> [Duration; 3] {
        let lease = setup.config.pulse.arbiter.map_or(Duration::ZERO, |a| {
            a.lease + self.keepalive.saturating_mul(2)
        });
        let one = self.deadtime + self.keepalive + lease + Duration::from_secs(2);
        let arp = setup.config.pulse.arp;
        let arp_time = arp.interval.saturating_mul(u64::from(arp.count));
        let clients = one + REACHABLE + arp_time + Duration::from_secs(1);
        let reals = setup
            .config
            .virtuals
            .iter()
            .filter(|v| v.active)
            .map(|v| {
                v.health.reentry
                    + v.health
                        .timeout
                        .saturating_mul(2 * (u64::from(v.health.retries) + 2))
            })
            .max()
            .unwrap_or(Duration::ZERO);
        [one, clients, one + reals + Duration::from_secs(2)]
    }

    pub(crate) fn healed(&mut self, now: Instant, setup: &Setup) {
        self.one_active_from = Some(now + self.liveness_times(setup)[0]);
        self.window_exempt = true;
    }

    /// Judge the state after one step.
    pub(crate) fn after_step(
        &mut self,
        now: Instant,
        routers: &[Router; 2],
        setup: &Setup,
        dirty: [bool; 2],
        rec: &mut Recorder,
    ) {
        let active: Vec<usize> = (0..2).filter(|&i| routers[i].is_active()).collect();
        if self.arbiter && active.len() > 1 {
            return self.violate(rec, "single-active", now, "both routers are active".into());
        }
        if active.len() < 2 {
            self.dual_since = None;
        }
        if let Some(t) = self.dual_since {
            let bound = drifted(self.keepalive) + NOW_SLACK;
            if now - t > bound {
                let detail = format!(
                    "both routers active {} after the backup heard the active primary",
                    now - t
                );
                return self.violate(rec, "dual-active-resolved", now, detail);
            }
        }
        if let Some(from) = self.one_active_from {
            // Nobody active for a moment is a hand-over (fail-back: VIPs down, then STOPPED);
            // a lost STOPPED costs at most one keepalive.
            if now >= from && active.len() == 1 {
                self.none_active_since = None;
            } else if now >= from && active.is_empty() {
                let since = *self.none_active_since.get_or_insert(now);
                if now - since > drifted(self.keepalive) + Duration::from_secs(1) {
                    let detail = format!("no router active for {} after the heal", now - since);
                    return self.violate(rec, "liveness-one-active", now, detail);
                }
            } else if now >= from {
                let detail = format!("{} routers active after the heal", active.len());
                return self.violate(rec, "liveness-one-active", now, detail);
            }
        }
        for i in 0..2 {
            let r = &routers[i];
            let Some(d) = r.running() else { continue };
            self.judge_vips(now, i, r, d, setup, rec);
            if self.stop {
                return;
            }
            if dirty[i] {
                // The active router, and a hot standby (lvs running while inactive).
                let converged = !d.lvs_running() || r.kernel.same_config(&d.desired_table());
                if converged {
                    self.unconverged[i] = None;
                } else {
                    self.unconverged[i].get_or_insert(now.max(r.resumed_at));
                }
            }
            if let Some(t) = self.unconverged[i] {
                let bound = drifted(self.reconcile) + Duration::from_secs(1);
                if now - t > bound {
                    let detail = format!(
                        "r{i}'s kernel table differs from its desired table for {}",
                        now - t
                    );
                    return self.violate(rec, "table-converges", now, detail);
                }
            }
            self.judge_failover(now, i, routers, rec);
            if self.stop {
                return;
            }
        }
    }

    fn judge_vips(
        &mut self,
        now: Instant,
        i: usize,
        r: &Router,
        d: &Director,
        setup: &Setup,
        rec: &mut Recorder,
    ) {
        if d.is_active() {
            if let Some(v) = setup.vips.iter().find(|v| !r.vips.contains(v)) {
                let detail = format!("active r{i} does not hold VIP {v}");
                self.violate(rec, "vips-follow-role", now, detail);
            }
        } else if let Some(v) = setup.vips.iter().find(|v| r.vips.contains(v)) {
            let detail = format!("inactive r{i} holds VIP {v}");
            self.violate(rec, "vips-follow-role", now, detail);
        }
    }

    /// A router that hears nothing from its partner for deadtime takes over (no arbiter), and
    /// one that hears STOPPED takes over at once.
    fn judge_failover(
        &mut self,
        now: Instant,
        b: usize,
        routers: &[Router; 2],
        rec: &mut Recorder,
    ) {
        if self.arbiter {
            return;
        }
        let r = &routers[b];
        let Some(d) = r.running() else { return };
        if d.is_active() || d.is_shut_down() || !d.pulse().faults().is_empty() {
            self.stopped_heard[b] = None;
            return;
        }
        let since = self.last_beat[b]
            .unwrap_or(Instant::ZERO)
            .max(r.started_at + self.keepalive)
            .max(r.resumed_at);
        let due = since + drifted(self.deadtime) + Duration::from_millis(250);
        if now > due {
            let detail = format!(
                "r{b} heard nothing from its partner since {since} and is still not active"
            );
            return self.violate(rec, "failover-in-deadtime", now, detail);
        }
        if let Some(t) = self.stopped_heard[b] {
            // Legacy wire: a backup hearing STOPPED from a primary it did not just hear active
            // (a cold or faulted primary, not a handover) waits keepalive × 1.5 (pulse docs).
            let grace = if self.legacy && r.role == Role::Backup && !self.handover[b] {
                drifted(self.keepalive + self.keepalive.div(2))
            } else {
                Duration::ZERO
            };
            if t >= r.started_at && t >= r.resumed_at && now > t + grace + NOW_SLACK {
                let detail = format!("r{b} heard STOPPED at {t} and did not take over");
                self.violate(rec, "stopped-handover", now, detail);
            }
        }
    }

    /// A client connection was placed on `dest` by router `r`. `failing_since`: since when the
    /// real server has really been failing (None: healthy).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn connection_placed(
        &mut self,
        now: Instant,
        r: usize,
        service: &ServiceKey,
        dest: DestKey,
        failing_since: Option<Instant>,
        setup: &Setup,
        rec: &mut Recorder,
    ) {
        let Some(v) = setup.config.virtuals.iter().find(|v| v.key == *service) else {
            return;
        };
        let Some(s) = v
            .servers
            .iter()
            .find(|s| s.addr == dest.addr && s.port == dest.port)
        else {
            return;
        };
        if let Some(t) = self.down_verdicts[r].get(&(v.name.clone(), s.name.clone())) {
            if now - *t > NOW_SLACK {
                let detail = format!(
                    "r{r} placed a connection on {} ({}) which its nanny declared down at {t}",
                    s.name, dest
                );
                return self.violate(rec, "down-server-served", now, detail);
            }
        }
        if let (Some(t0), Some(active)) = (failing_since, self.active_since[r]) {
            // A paused router's nannies check nothing: the clock starts at its resume.
            let since = t0.max(active).max(self.resumed_at[r]);
            let h = &v.health;
            let bound =
                h.timeout.saturating_mul(2 * (u64::from(h.retries) + 2)) + Duration::from_secs(1);
            if now - since > drifted(bound) {
                let detail = format!(
                    "r{r} placed a connection on {} ({dest}), failing since {t0}: undetected for {}",
                    s.name,
                    now - since
                );
                self.violate(rec, "down-server-served", now, detail);
            }
        }
    }

    /// A liveness checkpoint after the heal.
    pub(crate) fn liveness(
        &mut self,
        n: u8,
        now: Instant,
        routers: &[Router; 2],
        setup: &Setup,
        clients: &[Client],
        rec: &mut Recorder,
    ) {
        let active: Vec<usize> = (0..2).filter(|&i| routers[i].is_active()).collect();
        if active.len() != 1 {
            let detail = format!("{} routers active", active.len());
            return self.violate(rec, "liveness-one-active", now, detail);
        }
        let a = active[0];
        match n {
            1 => {}
            2 => {
                for (c, client) in clients.iter().enumerate() {
                    for (_, vip) in &setup.services {
                        let holders: Vec<usize> = (0..2)
                            .filter(|&i| {
                                routers[i].host_up && routers[i].vips.contains(&(*vip).into())
                            })
                            .collect();
                        let ok = match client.fresh(now, *vip) {
                            Some(mac) => mac == routers[a].mac,
                            None => holders == [a],
                        };
                        if !ok {
                            let detail = format!(
                                "client{c} reaches {vip} elsewhere than the active r{a} (holders {holders:?})"
                            );
                            return self.violate(rec, "liveness-arp", now, detail);
                        }
                    }
                }
            }
            _ => {
                let kernel = &routers[a].kernel;
                for v in setup.config.virtuals.iter().filter(|v| v.active) {
                    let entry = kernel.get(&v.key);
                    for s in v.active_servers().filter(|s| s.weight > 0) {
                        let key = DestKey {
                            addr: s.addr,
                            port: s.port,
                        };
                        let ok = entry
                            .and_then(|e| e.dests.get(&key))
                            .is_some_and(|d| d.weight > 0);
                        if !ok {
                            let detail = format!(
                                "real server {} of {} is healthy but not serving in r{a}'s table",
                                s.name, v.name
                            );
                            return self.violate(rec, "liveness-real-servers", now, detail);
                        }
                    }
                }
            }
        }
    }
}
