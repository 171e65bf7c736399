//! Fault edges and director events: how the schedule changes the world, and what the world
//! learns from each router's timeline.

use piranha_engine::director::{Event, Input};
use piranha_engine::nanny::NannyEvent;
use piranha_engine::pulse;
use piranha_engine::pulse::witness::Witness;
use piranha_engine::time::Instant;

use crate::faults::FaultKind;
use crate::world::{Ev, World};

impl World {
    fn down_fault_active(&self, r: usize, crash_only: bool) -> bool {
        self.schedule.0.iter().enumerate().any(|(idx, f)| {
            self.active_faults[idx]
                && match f.kind {
                    FaultKind::Crash(x) => x == r,
                    FaultKind::DaemonCrash(x) | FaultKind::Stop(x) => x == r && !crash_only,
                    _ => false,
                }
        })
    }

    /// Restart router `r`'s host and daemon if no fault keeps them down.
    fn maybe_restart(&mut self, r: usize) {
        if !self.down_fault_active(r, true) {
            self.routers[r].host_up = true;
        }
        if self.routers[r].host_up
            && self.routers[r].director.is_none()
            && !self.down_fault_active(r, false)
        {
            self.start_daemon(r);
        }
    }

    /// Another active fault (than `idx`) matching `pred`: overlapping faults of one kind end
    /// when the last of them ends.
    fn other_active(&self, idx: usize, pred: impl Fn(&FaultKind) -> bool) -> Option<&FaultKind> {
        self.schedule
            .0
            .iter()
            .enumerate()
            .find(|(i, f)| *i != idx && self.active_faults[*i] && pred(&f.kind))
            .map(|(_, f)| &f.kind)
    }

    pub(crate) fn fault_edge(&mut self, idx: usize, start: bool) {
        if self.active_faults[idx] == start {
            return;
        }
        // The probe client sees the world as it was just before the edge.
        self.probe_fault_edge(idx, start);
        self.active_faults[idx] = start;
        let exempt = self.schedule.0.iter().enumerate().any(|(i, f)| {
            self.active_faults[i]
                && matches!(
                    f.kind,
                    FaultKind::Loss(_)
                        | FaultKind::Delay(_)
                        | FaultKind::Duplicate(_)
                        | FaultKind::Reorder(_)
                )
        });
        self.checker.fault_edge(self.now, exempt || self.healed);
        let kind = self.schedule.0[idx].kind.clone();
        self.rec.trace(self.now, || {
            format!("fault    {} {kind}", if start { "start" } else { "end" })
        });
        self.rec.fault_edge(self.now, idx, start);
        let now = self.now;
        match (kind, start) {
            (FaultKind::Crash(r), true) => {
                self.stop_daemon(r, "host crashed");
                let x = &mut self.routers[r];
                x.host_up = false;
                x.paused = false;
                x.kernel = Default::default();
                x.vips.clear();
                self.checker.daemon_gone(r);
            }
            (FaultKind::DaemonCrash(r), true) if self.routers[r].director.is_some() => {
                self.stop_daemon(r, "daemon crashed");
                self.checker.daemon_gone(r);
            }
            (FaultKind::Stop(r), true) if self.routers[r].running().is_some() => {
                let local = self.routers[r].clock.local(now);
                self.routers[r].stopping = true;
                if let Some(d) = self.routers[r].director.as_mut() {
                    let _ = d.handle_input(local, Input::Shutdown);
                }
                self.drain(r);
                self.stop_daemon(r, "daemon exited after SIGTERM");
                self.checker.daemon_gone(r);
            }
            (FaultKind::Crash(r) | FaultKind::DaemonCrash(r) | FaultKind::Stop(r), false) => {
                self.maybe_restart(r);
            }
            (FaultKind::Pause(r), true) => self.routers[r].paused = true,
            (FaultKind::Pause(r), false)
                if self.routers[r].paused
                    && self
                        .other_active(idx, |k| *k == FaultKind::Pause(r))
                        .is_none() =>
            {
                self.routers[r].paused = false;
                self.mark_resumed(r);
                // The overdue timers fire the moment the VM runs again (a lease that
                // ran out during the stall is dropped before anything else happens).
                let local = self.routers[r].clock.local(now);
                if let Some(d) = self.routers[r].director.as_mut() {
                    d.handle_timeout(local);
                }
                self.drain(r);
                self.release_held(r);
            }
            (FaultKind::Drift { router, ppm }, on) => {
                let other = self
                    .other_active(
                        idx,
                        |k| matches!(k, FaultKind::Drift { router: x, .. } if *x == router),
                    )
                    .map_or(0, |k| match k {
                        FaultKind::Drift { ppm, .. } => *ppm,
                        _ => 0,
                    });
                self.routers[router]
                    .clock
                    .set_ppm(now, if on { ppm } else { other });
            }
            (FaultKind::WitnessFail, false)
                if self
                    .other_active(idx, |k| *k == FaultKind::WitnessFail)
                    .is_some() => {}
            (FaultKind::WitnessFail, on) => {
                if let Some(w) = self.witness.as_mut() {
                    if on {
                        w.machine = None;
                    } else {
                        w.incarnation += 1;
                        w.machine = Some(Witness::new(w.config.clone(), w.incarnation, now));
                    }
                }
            }
            (FaultKind::Reload(r), false)
                if self
                    .other_active(idx, |k| *k == FaultKind::Reload(r))
                    .is_some() => {}
            (FaultKind::Reload(r), on) if self.routers[r].running().is_some() => {
                let local = self.routers[r].clock.local(now);
                let cfg = if on {
                    self.setup.reloaded.clone()
                } else {
                    self.setup.config.clone()
                };
                if let Some(d) = self.routers[r].director.as_mut() {
                    d.handle_reload(local, cfg);
                }
                self.drain(r);
            }
            (FaultKind::IpvsEdit(r), true) => self.hand_edit(r),
            _ => {}
        }
    }

    pub(crate) fn on_event(&mut self, i: usize, e: Event) {
        let now = self.now;
        self.rec.trace(now, || format!("r{i}       {e:?}"));
        match &e {
            Event::Pulse(pulse::Event::TookOver { .. }) => {
                self.stats.takeovers += 1;
                self.checker.role_changed(&mut self.rec, now, i, true);
            }
            Event::Pulse(pulse::Event::GaveUp { .. }) => {
                self.checker.role_changed(&mut self.rec, now, i, false);
            }
            Event::Real {
                virtual_name,
                server,
                event,
            } => {
                let key = (virtual_name.clone(), server.clone());
                match event {
                    NannyEvent::Down { .. } => {
                        self.checker.down_verdicts[i].insert(key, now);
                        self.rec.verdict(now, i, server, false);
                    }
                    NannyEvent::Up { .. } => {
                        self.checker.down_verdicts[i].remove(&key);
                        self.rec.verdict(now, i, server, true);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    pub(crate) fn after_step(&mut self) {
        self.probe.dirty = true;
        let dirty = self.dirty;
        self.dirty = [false; 2];
        self.checker
            .after_step(self.now, &self.routers, &self.setup, dirty, &mut self.rec);
        if self.rec.timeline_on() {
            let vip = self.setup.services.first().map(|(_, v)| *v);
            let macs = [self.routers[0].mac, self.routers[1].mac];
            let seen = vip
                .and_then(|v| self.clients[0].fresh(self.now, v))
                .and_then(|m| macs.iter().position(|x| *x == m));
            let states = [0, 1].map(|i| {
                let r = &self.routers[i];
                if !r.host_up || r.director.is_none() {
                    'D'
                } else if r.paused {
                    'P'
                } else if r.is_active() {
                    'A'
                } else {
                    'B'
                }
            });
            self.rec.sample(self.now, states, seen);
        }
    }

    /// Start the liveness phase: heal, then checkpoints. Returns the end of the run.
    pub(crate) fn start_liveness(&mut self) -> Instant {
        self.heal();
        let h = self.now;
        self.checker.healed(h, &self.setup);
        let t = self.checker.liveness_times(&self.setup);
        for (n, d) in t.iter().enumerate() {
            self.push(h + *d, Ev::Liveness(n as u8 + 1, 10));
        }
        h + t.iter().copied().max().unwrap_or_default()
            + piranha_engine::time::Duration::from_secs(1)
    }
}
