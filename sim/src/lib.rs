//! # piranha-sim
//!
//! The seeded simulator: two routers' [`Director`]s (and a witness when lvs.cf names an
//! `arbiter`), their in-memory IPVS kernels, real servers, clients with ARP caches on the public
//! segment and a seeded network, in simulated time — single-threaded, one event queue keyed by
//! (time, sequence), so a run is a pure function of (lvs.cf, seed, schedule).
//!
//! A run is a safety phase with faults ([`faults`]) and a liveness phase with every fault
//! healed; the invariants ([`check`]) are judged after every step. [`run_seeds`] spreads seeds
//! over threads; [`shrink`] drops and shortens faults while a violation persists.
//!
//! See docs/SIMULATION.md for the fault model, the invariants and how to reproduce a failure.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod apply;
pub mod check;
pub mod clients;
pub mod faults;
mod net;
pub mod outage;
pub mod report;
mod servers;
#[cfg(test)]
mod tests;
mod traffic;
mod world;

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use piranha_engine::config::LvsConfig;
use piranha_engine::director::{Director, DirectorConfig};
use piranha_engine::ipvs::ServiceKey;
use piranha_engine::time::{Duration, Instant};

pub use check::Violation;
pub use faults::{Fault, FaultKind, FaultMode, Schedule};
pub use outage::FaultOutage;
pub use report::{outage_summary, svg, ClassOutage, Outcome, Stats, Timeline};

use faults::WorldFacts;
use world::{Setup, World};

/// The key the simulator gives both routers and the witness when lvs.cf asks for v2 heartbeats
/// (the real daemon reads `heartbeat_key_file`).
pub const SIM_KEY: &[u8] = b"piranha-sim heartbeat key";

/// How to run.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The routers' configuration.
    pub director: DirectorConfig,
    /// Length of the safety phase (the liveness phase follows).
    pub duration: Duration,
    /// Which faults.
    pub faults: FaultMode,
    /// Keep the trace.
    pub trace: bool,
    /// Keep the timeline.
    pub timeline: bool,
    /// A planted engine bug (mutation check).
    #[cfg(feature = "mutations")]
    pub mutation: Option<piranha_engine::mutation::Mutation>,
}

impl SimConfig {
    /// From a parsed lvs.cf, with swarm faults over 10 simulated minutes.
    pub fn from_lvs_cf(cfg: &LvsConfig) -> Result<SimConfig, String> {
        let director =
            DirectorConfig::from_lvs_cf(cfg, Some(SIM_KEY)).map_err(|e| e.to_string())?;
        Ok(SimConfig {
            director,
            duration: Duration::from_secs(600),
            faults: FaultMode::Swarm,
            trace: false,
            timeline: false,
            #[cfg(feature = "mutations")]
            mutation: None,
        })
    }

    fn setup(&self) -> Setup {
        let config = self.director.clone();
        let mut servers: Vec<IpAddr> = config
            .virtuals
            .iter()
            .filter(|v| v.active)
            .flat_map(|v| v.active_servers().map(|s| s.addr))
            .collect();
        servers.sort();
        servers.dedup();
        let services = config
            .virtuals
            .iter()
            .filter(|v| v.active)
            .filter_map(|v| match v.key {
                ServiceKey::Addr {
                    addr: IpAddr::V4(a),
                    ..
                } => Some((v.key, a)),
                _ => None,
            })
            .collect();
        let vips = config
            .vips
            .iter()
            .chain(config.nat_router.as_ref())
            .map(|v| v.ip)
            .collect();
        // The reload fault: the first active real server's weight goes up by one.
        let mut reloaded = config.clone();
        if let Some(s) = reloaded
            .virtuals
            .iter_mut()
            .filter(|v| v.active)
            .flat_map(|v| v.servers.iter_mut())
            .find(|s| s.active)
        {
            s.weight = s.weight.saturating_add(1);
        }
        Setup {
            keepalive: config.pulse.keepalive,
            deadtime: config.pulse.deadtime,
            arbiter: config.pulse.arbiter.is_some(),
            servers,
            services,
            vips,
            reloaded,
            config,
        }
    }

    /// What the fault generator needs.
    pub fn facts(&self) -> WorldFacts {
        let s = self.setup();
        WorldFacts {
            duration: self.duration,
            keepalive: s.keepalive,
            deadtime: s.deadtime,
            arbiter: s.arbiter,
            private_path: s.config.pulse.primary.private.is_some(),
            servers: s.servers,
        }
    }

    /// The schedule `seed` runs with.
    pub fn schedule(&self, seed: u64) -> Schedule {
        faults::generate(seed, &self.faults, &self.facts())
    }
}

/// Run one seed.
pub fn run_seed(cfg: &SimConfig, seed: u64) -> Outcome {
    run_schedule(cfg, seed, cfg.schedule(seed))
}

/// Run one seed with an explicit schedule (a reproduction or a shrunk case).
pub fn run_schedule(cfg: &SimConfig, seed: u64, schedule: Schedule) -> Outcome {
    let text = schedule.to_string();
    let mut w = World::new(cfg, seed, schedule, cfg.setup());
    w.rec.set_schedule(&w.schedule.clone());
    let heal_at = Instant::ZERO + cfg.duration;
    let mut end = heal_at;
    if w.run_until(heal_at) {
        end = w.start_liveness();
        w.run_until(end);
    }
    let sim_end = w.now;
    let outages = w.probe.finish(sim_end);
    let (trace, timeline) = w.rec.finish(end.max(sim_end), heal_at);
    Outcome {
        seed: w.seed(),
        schedule: text,
        violations: std::mem::take(&mut w.checker.violations),
        stats: w.stats.clone(),
        outages,
        sim_time_ns: sim_end.as_nanos(),
        trace,
        timeline,
    }
}

/// Run seeds `seeds` on `threads` threads (each seed single-threaded); outcomes in seed order.
pub fn run_seeds(cfg: &SimConfig, seeds: std::ops::Range<u64>, threads: usize) -> Vec<Outcome> {
    let next = AtomicU64::new(seeds.start);
    let out = Mutex::new(Vec::with_capacity((seeds.end - seeds.start) as usize));
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= seeds.end {
                    return;
                }
                let o = run_seed(cfg, seed);
                out.lock().expect("no thread panics holding it").push(o);
            });
        }
    });
    let mut v = out.into_inner().expect("no thread panicked");
    v.sort_by_key(|o| o.seed);
    v
}

/// Shrink a failing seed's schedule: drop faults, then shorten them, while a violation of the
/// same invariant persists. Bounded by `budget` reruns. Returns the smallest failing schedule
/// and its outcome.
pub fn shrink(cfg: &SimConfig, failing: &Outcome, budget: usize) -> (Schedule, Outcome) {
    let Some(first) = failing.violations.first() else {
        return (
            failing.schedule.parse().unwrap_or_default(),
            failing.clone(),
        );
    };
    let invariant = first.invariant;
    let mut best: Schedule = failing.schedule.parse().unwrap_or_default();
    let mut best_out = failing.clone();
    let mut runs = 0;
    let still_fails = |s: &Schedule, runs: &mut usize| -> Option<Outcome> {
        *runs += 1;
        let o = run_schedule(cfg, failing.seed, s.clone());
        o.violations
            .first()
            .is_some_and(|v| v.invariant == invariant)
            .then_some(o)
    };
    // Faults starting after the violation cannot have caused it.
    let cut = Duration::from_nanos(first.at_ns);
    let early = Schedule(best.0.iter().filter(|f| f.at <= cut).cloned().collect());
    if early.0.len() < best.0.len() {
        if let Some(o) = still_fails(&early, &mut runs) {
            best = early;
            best_out = o;
        }
    }
    let mut changed = true;
    while changed && runs < budget {
        changed = false;
        let mut i = 0;
        while i < best.0.len() && runs < budget {
            let mut s = best.clone();
            s.0.remove(i);
            if let Some(o) = still_fails(&s, &mut runs) {
                best = s;
                best_out = o;
                changed = true;
            } else {
                i += 1;
            }
        }
        for i in 0..best.0.len() {
            if runs >= budget {
                break;
            }
            let mut s = best.clone();
            let len = s.0[i].len;
            if len < Duration::from_secs(2) {
                continue;
            }
            s.0[i].len = Duration::from_millis(len.div(2).as_millis());
            if let Some(o) = still_fails(&s, &mut runs) {
                best = s;
                best_out = o;
                changed = true;
            }
        }
    }
    (best, best_out)
}

/// Check that a director can be built from this configuration (so every run starts).
pub fn validate(cfg: &SimConfig) -> Result<(), String> {
    Director::new(
        cfg.director.clone(),
        piranha_engine::pulse::Role::Primary,
        1,
        0,
        Instant::ZERO,
    )
    .map(|_| ())
    .map_err(|e| e.to_string())
}
