//! nanny: the health of one real server of one virtual server, as a sans-IO state machine.
//!
//! # Contract
//! - Inputs: [`Nanny::handle_timeout`] when [`Nanny::poll_timeout`] is due (spurious calls are
//!   harmless), [`Nanny::handle_probe_result`] for each [`NannyOutput::StartProbe`] the backend
//!   ran, [`Nanny::handle_drain`] / [`Nanny::handle_enable`] (the runtime override),
//!   [`Nanny::handle_set_weight`] (reload with only the weight changed).
//! - After every input, drain [`Nanny::poll_output`] until `None`, then re-arm the timer.
//! - [`Nanny::real_state`] says what the IPVS table should hold for this real server now;
//!   `lvs` builds the desired table from it. Events say why it changed.
//!
//! # Semantics (Piranha's nanny, plus `retries`, jitter and drain)
//! - `timeout` is both the probe deadline and the pause between the end of one check and the
//!   start of the next. The first check starts at once (as the original nanny's did: a
//!   takeover without a hot standby serves as soon as a real server answers); the pause after
//!   it is a jitter in `[0, timeout)` drawn from the caller's seed instead of `timeout`, so
//!   thousands of nannies started together do not stay in step, and no pause is ever longer
//!   than `timeout` (the detection bound holds from the first check on).
//! - One failed check takes the real server down (`retries = 0`); with `retries = n`, n
//!   consecutive failures are tolerated and the n+1st takes it down.
//! - Readmission needs `reentry / timeout` (at least 1) consecutive successes; the counter
//!   starts full, so a real server that has never failed is admitted on its first success.
//! - Up: the real server enters the table at weight `weight >> 5` (at least 1, so weight 0
//!   serves at 1, as in Piranha), doubled every 20 s up to `weight`. Down: it leaves the table,
//!   or with `quiesce_server` stays at weight 0 — if it was ever in it: one that never passed a
//!   check stays out (nanny quiesced only a server it had added).
//! - load_monitor: once at full weight, every 20 s the 1-minute load is fetched and the weight
//!   adjusted ([`weight::load_adjusted`]).
//! - Drain: weight 0 while it is in the table (connections finish, no new ones), regardless of
//!   health; checks go on. Enable: back to health-driven, restarting the ramp if up.
//! - A probe the backend never answers is failed after twice the timeout (a watchdog), and a
//!   late answer for it is refused with [`NannyError::UnknownProbe`].

pub mod check;
pub mod weight;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::net::IpAddr;

pub use check::{
    check_response, probe_passed, probe_spec, Check, CheckError, CheckProtocol, Expect,
    LoadMonitor, ProbeFailure, ProbeResult, ProbeSpec, ReadPlan,
};

use crate::time::{Duration, Instant};
use weight::{load_adjusted, ramp_next, ramp_start, ADJUST_INTERVAL};

/// Configuration of one nanny: the virtual server's check values plus the real server's weight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NannyConfig {
    /// Probe deadline and pause between checks (lvs.cf `timeout`, default 10 s).
    pub timeout: Duration,
    /// Time a failed real server must pass checks before it returns (lvs.cf `reentry`,
    /// default 180 s): `reentry / timeout` consecutive successes.
    pub reentry: Duration,
    /// Consecutive failures tolerated before down (new; 0 = Piranha).
    pub retries: u32,
    /// Full weight of the real server (lvs.cf server `weight`, default 1).
    pub weight: u32,
    /// Keep a failed real server in the table at weight 0 instead of removing it.
    pub quiesce_server: bool,
    /// Load-based weight adjustment.
    pub load_monitor: LoadMonitor,
    /// The health check.
    pub check: Check,
}

impl NannyConfig {
    /// Piranha's defaults (timeout 10 s, reentry 180 s, weight 1) around a check.
    pub fn new(check: Check) -> NannyConfig {
        NannyConfig {
            timeout: Duration::from_secs(10),
            reentry: Duration::from_secs(180),
            retries: 0,
            weight: 1,
            quiesce_server: false,
            load_monitor: LoadMonitor::None,
            check,
        }
    }

    /// Consecutive successes needed for readmission: `reentry / timeout`, at least 1.
    pub fn successes_to_readmit(&self) -> u32 {
        let n = self.reentry.as_nanos() / self.timeout.as_nanos().max(1);
        u32::try_from(n).unwrap_or(u32::MAX).max(1)
    }

    /// Whether two configs check the same way (everything but the weight): a nanny whose
    /// check is unchanged keeps its health state across a reload.
    pub fn same_check(&self, other: &NannyConfig) -> bool {
        NannyConfig {
            weight: other.weight,
            ..self.clone()
        } == *other
    }
}

/// Health of the real server as nanny judges it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Health {
    /// No check has decided yet.
    Unknown,
    /// Passing.
    Up,
    /// Failed; needs `reentry` worth of successes.
    Down,
}

/// What the IPVS table should hold for this real server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct RealState {
    /// Health.
    pub health: Health,
    /// Whether the operator drained it.
    pub drained: bool,
    /// Whether it belongs in the table (up, or down/drained with quiesce).
    pub in_table: bool,
    /// Its weight there (0 when quiesced or drained).
    pub weight: u32,
}

impl RealState {
    /// In the table with a weight above zero: receiving new connections.
    pub const fn serving(&self) -> bool {
        self.in_table && self.weight > 0
    }
}

/// Identifies one probe of one nanny (unique per nanny, increasing).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct ProbeId(pub u64);

/// Why nanny wants to be woken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum NannyTimer {
    /// Start the next health check.
    Check,
    /// An outstanding probe is overdue (backend never answered).
    ProbeOverdue,
    /// Next weight-ramp doubling.
    Ramp,
    /// Fetch the load.
    LoadMonitor,
}

/// Something that happened, for `lvs`, the log and the simulator's timeline.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum NannyEvent {
    /// The real server passed and is admitted at this (starting) weight.
    Up {
        /// Weight it enters the table with.
        weight: u32,
    },
    /// The real server failed.
    Down {
        /// Kept in the table at weight 0 (`quiesce_server`).
        quiesced: bool,
    },
    /// A failed check tolerated by `retries`.
    CheckFailed {
        /// Consecutive failures so far.
        consecutive: u32,
    },
    /// Its weight in the table changed (ramp, load monitor, drain, enable, reload).
    WeightChanged {
        /// Before.
        from: u32,
        /// After.
        to: u32,
    },
}

/// An output to execute or record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NannyOutput {
    /// Run this probe and report it with [`Nanny::handle_probe_result`] and this id.
    StartProbe {
        /// Id to report back.
        id: ProbeId,
        /// What to do.
        spec: ProbeSpec,
    },
    /// Something happened.
    Event(NannyEvent),
}

/// Caller misuse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NannyError {
    /// `timeout` must be positive.
    #[error("timeout must be positive")]
    ZeroTimeout,
    /// The weight is above what the kernel accepts (`i32::MAX`), or above it once multiplied
    /// by 10 for the load monitor.
    #[error("weight {0} is too large")]
    WeightTooLarge(u32),
    /// A result for a probe that is not outstanding (never started, already answered, or
    /// given up by the watchdog).
    #[error("no outstanding probe {0:?}")]
    UnknownProbe(ProbeId),
}

use crate::MAX_QUEUED_OUTPUTS;

/// The per-(virtual, real server) health machine. See the module docs.
#[derive(Debug)]
pub struct Nanny {
    config: NannyConfig,
    addr: IpAddr,
    port: u16,
    health: Health,
    drained: bool,
    /// Passed a check since this nanny started (nanny's `isSrvUp` under quiesce).
    ever_up: bool,
    /// Health-driven weight while up (ramp, then load-adjusted).
    current: u32,
    ramping: bool,
    successes: u32,
    failures: u32,
    next_id: u64,
    next_check: Option<Instant>,
    /// The pause after the first check (then `timeout`): spreads nannies started together.
    first_pause: Option<Duration>,
    check_probe: Option<(ProbeId, Instant)>,
    load_probe: Option<(ProbeId, Instant)>,
    next_ramp: Option<Instant>,
    next_load: Option<Instant>,
    outputs: VecDeque<NannyOutput>,
    events_dropped: u64,
    #[cfg(feature = "mutations")]
    ignore_failures: bool,
}

/// A 64-bit mix of the seed (splitmix64's finaliser): the jitter's only randomness.
fn mix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Nanny {
    /// A nanny for `addr:port`: first check at `now`, the second a jitter in `[0, timeout)`
    /// (from `seed`) after the first ends, then every `timeout`.
    pub fn new(
        config: NannyConfig,
        addr: IpAddr,
        port: u16,
        seed: u64,
        now: Instant,
    ) -> Result<Nanny, NannyError> {
        validate(&config)?;
        let jitter = Duration::from_nanos(mix(seed) % config.timeout.as_nanos());
        let successes = config.successes_to_readmit();
        Ok(Nanny {
            config,
            addr,
            port,
            health: Health::Unknown,
            drained: false,
            ever_up: false,
            current: 0,
            ramping: false,
            successes,
            failures: 0,
            next_id: 0,
            next_check: Some(now),
            first_pause: Some(jitter),
            check_probe: None,
            load_probe: None,
            next_ramp: None,
            next_load: None,
            outputs: VecDeque::new(),
            events_dropped: 0,
            #[cfg(feature = "mutations")]
            ignore_failures: false,
        })
    }

    /// Plant the "failed checks are never acted on" bug (simulator's mutation check only).
    #[cfg(feature = "mutations")]
    pub fn set_ignore_failures(&mut self, on: bool) {
        self.ignore_failures = on;
    }

    /// The configuration.
    pub fn config(&self) -> &NannyConfig {
        &self.config
    }

    /// The real server's address and port.
    pub fn target(&self) -> (IpAddr, u16) {
        (self.addr, self.port)
    }

    /// What the table should hold for this real server now.
    pub fn real_state(&self) -> RealState {
        let in_table = match self.health {
            Health::Up => true,
            Health::Down => self.config.quiesce_server && self.ever_up,
            Health::Unknown => false,
        };
        let weight = if !in_table || self.drained || self.health != Health::Up {
            0
        } else {
            self.current
        };
        RealState {
            health: self.health,
            drained: self.drained,
            in_table,
            weight,
        }
    }

    /// The earliest deadline and why.
    pub fn poll_timeout(&self) -> Option<(Instant, NannyTimer)> {
        [
            self.next_check.map(|t| (t, NannyTimer::Check)),
            self.check_probe.map(|(_, t)| (t, NannyTimer::ProbeOverdue)),
            self.load_probe.map(|(_, t)| (t, NannyTimer::ProbeOverdue)),
            self.next_ramp.map(|t| (t, NannyTimer::Ramp)),
            self.next_load.map(|t| (t, NannyTimer::LoadMonitor)),
        ]
        .into_iter()
        .flatten()
        .min_by_key(|(t, _)| *t)
    }

    /// The next output, until `None`.
    pub fn poll_output(&mut self) -> Option<NannyOutput> {
        self.outputs.pop_front()
    }

    /// Run every timer that is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.check_probe.is_some_and(|(_, t)| t <= now) {
            self.check_probe = None;
            self.judge(now, false);
        }
        if self.load_probe.is_some_and(|(_, t)| t <= now) {
            self.load_probe = None;
        }
        if self.next_check.is_some_and(|t| t <= now) {
            self.next_check = None;
            let id = self.fresh_id();
            let spec = probe_spec(
                &self.config.check,
                self.addr,
                self.port,
                self.config.timeout,
            );
            self.check_probe = Some((id, now + self.watchdog()));
            self.push(NannyOutput::StartProbe { id, spec });
        }
        if self.next_ramp.is_some_and(|t| t <= now) {
            self.next_ramp = None;
            self.ramp_step(now);
        }
        if self.next_load.is_some_and(|t| t <= now) {
            self.next_load = Some(now + ADJUST_INTERVAL);
            if self.load_probe.is_none() && self.health == Health::Up && !self.ramping {
                let id = self.fresh_id();
                let spec = ProbeSpec::FetchLoad {
                    method: self.config.load_monitor,
                    addr: self.addr,
                    timeout: self.config.timeout,
                };
                self.load_probe = Some((id, now + self.watchdog()));
                self.push(NannyOutput::StartProbe { id, spec });
            }
        }
    }

    /// The backend's report for probe `id`.
    pub fn handle_probe_result(
        &mut self,
        now: Instant,
        id: ProbeId,
        result: &ProbeResult,
    ) -> Result<(), NannyError> {
        if self.check_probe.is_some_and(|(p, _)| p == id) {
            self.check_probe = None;
            let passed = probe_passed(&self.config.check, result);
            self.judge(now, passed);
            return Ok(());
        }
        if self.load_probe.is_some_and(|(p, _)| p == id) {
            self.load_probe = None;
            if let ProbeResult::Load(load) = result {
                self.apply_load(*load);
            }
            return Ok(());
        }
        Err(NannyError::UnknownProbe(id))
    }

    /// Operator override: weight 0 regardless of health (checks go on).
    pub fn handle_drain(&mut self, _now: Instant) {
        let before = self.real_state();
        self.drained = true;
        self.report_weight(before);
    }

    /// Remove the override: health decides again; an up real server ramps up anew.
    pub fn handle_enable(&mut self, now: Instant) {
        if !self.drained {
            return;
        }
        let before = self.real_state();
        self.drained = false;
        if self.health == Health::Up {
            self.start_ramp(now);
        }
        self.report_weight(before);
    }

    /// Reload changed only the real server's weight: keep the health, rescale the weight.
    pub fn handle_set_weight(&mut self, now: Instant, weight: u32) -> Result<(), NannyError> {
        validate(&NannyConfig {
            weight,
            ..self.config.clone()
        })?;
        let before = self.real_state();
        self.config.weight = weight;
        if self.health == Health::Up {
            // Weight 0 serves at 1, as on coming up.
            let full = weight.max(1);
            if self.ramping {
                self.current = self.current.min(full);
                if self.current >= weight {
                    self.finish_ramp(now);
                }
            } else {
                self.current = full;
            }
        }
        self.report_weight(before);
        Ok(())
    }

    fn watchdog(&self) -> Duration {
        self.config.timeout.saturating_mul(2)
    }

    fn fresh_id(&mut self) -> ProbeId {
        self.next_id += 1;
        ProbeId(self.next_id)
    }

    fn push(&mut self, out: NannyOutput) {
        // The one rule (see [`MAX_QUEUED_OUTPUTS`]): probe requests always queue, events past
        // the limit are dropped and counted.
        if self.outputs.len() >= MAX_QUEUED_OUTPUTS && matches!(out, NannyOutput::Event(_)) {
            self.events_dropped += 1;
            return;
        }
        self.outputs.push_back(out);
    }

    /// Events dropped because the output queue was full (the driver did not drain it).
    pub fn events_dropped(&self) -> u64 {
        self.events_dropped
    }

    fn event(&mut self, e: NannyEvent) {
        self.push(NannyOutput::Event(e));
    }

    /// One check finished (or was given up): update health, schedule the next one.
    fn judge(&mut self, now: Instant, passed: bool) {
        #[cfg(feature = "mutations")] // MUTATION: a failed check is never acted on
        let passed = passed || self.ignore_failures;
        let pause = self.first_pause.take().unwrap_or(self.config.timeout);
        self.next_check = Some(now + pause);
        let needed = self.config.successes_to_readmit();
        if passed {
            self.failures = 0;
            if self.health != Health::Up {
                self.successes = self.successes.saturating_add(1);
                if self.successes >= needed {
                    self.come_up(now);
                }
            }
            return;
        }
        self.failures = self.failures.saturating_add(1);
        if self.failures <= self.config.retries {
            if self.health == Health::Down {
                self.successes = 0;
            }
            self.event(NannyEvent::CheckFailed {
                consecutive: self.failures,
            });
            return;
        }
        self.successes = 0;
        if self.health != Health::Down {
            self.go_down();
        }
    }

    fn come_up(&mut self, now: Instant) {
        debug_assert_ne!(self.health, Health::Up);
        self.health = Health::Up;
        self.ever_up = true;
        self.start_ramp(now);
        let weight = self.real_state().weight;
        self.event(NannyEvent::Up { weight });
    }

    fn go_down(&mut self) {
        self.health = Health::Down;
        self.current = 0;
        self.ramping = false;
        self.next_ramp = None;
        self.next_load = None;
        self.load_probe = None;
        self.event(NannyEvent::Down {
            quiesced: self.config.quiesce_server,
        });
    }

    fn start_ramp(&mut self, now: Instant) {
        self.current = ramp_start(self.config.weight);
        self.next_load = None;
        if self.current < self.config.weight {
            self.ramping = true;
            self.next_ramp = Some(now + ADJUST_INTERVAL);
        } else {
            self.finish_ramp(now);
        }
    }

    fn finish_ramp(&mut self, now: Instant) {
        self.ramping = false;
        self.next_ramp = None;
        if self.config.load_monitor != LoadMonitor::None {
            self.next_load = Some(now + ADJUST_INTERVAL);
        }
    }

    fn ramp_step(&mut self, now: Instant) {
        if self.health != Health::Up || !self.ramping {
            return;
        }
        let before = self.real_state();
        self.current = ramp_next(self.current, self.config.weight);
        if self.current >= self.config.weight {
            self.finish_ramp(now);
        } else {
            self.next_ramp = Some(now + ADJUST_INTERVAL);
        }
        self.report_weight(before);
    }

    fn apply_load(&mut self, load: f64) {
        if self.health != Health::Up || self.ramping {
            return;
        }
        if let Some(w) = load_adjusted(self.current, self.config.weight, load) {
            let before = self.real_state();
            self.current = w;
            self.report_weight(before);
        }
    }

    /// Emit `WeightChanged` if the table weight moved while the real server stayed in it.
    fn report_weight(&mut self, before: RealState) {
        let after = self.real_state();
        if before.in_table && after.in_table && before.weight != after.weight {
            self.event(NannyEvent::WeightChanged {
                from: before.weight,
                to: after.weight,
            });
        }
    }
}

fn validate(config: &NannyConfig) -> Result<(), NannyError> {
    if config.timeout == Duration::ZERO {
        return Err(NannyError::ZeroTimeout);
    }
    let max = if config.load_monitor == LoadMonitor::None {
        i32::MAX as u32
    } else {
        i32::MAX as u32 / 10
    };
    if config.weight > max {
        return Err(NannyError::WeightTooLarge(config.weight));
    }
    Ok(())
}
