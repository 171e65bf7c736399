//! Property tests of nanny: for random configs and random check outcomes (with drains,
//! enables and idle stretches), the health events follow Piranha's rules counted from the
//! outcomes themselves, and the table state always agrees with the health.

use piranha_engine::nanny::{
    Check, CheckProtocol, Health, LoadMonitor, Nanny, NannyConfig, NannyEvent, NannyOutput,
    ProbeFailure, ProbeId, ProbeResult, ProbeSpec,
};
use piranha_engine::time::{Duration, Instant};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Action {
    Check { pass: bool, latency_ms: u64 },
    Drain,
    Enable,
    Idle { secs: u64 },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        8 => (any::<bool>(), 0u64..3000).prop_map(|(pass, latency_ms)| Action::Check { pass, latency_ms }),
        1 => Just(Action::Drain),
        1 => Just(Action::Enable),
        1 => (1u64..90).prop_map(|secs| Action::Idle { secs }),
    ]
}

fn nanny_config() -> impl Strategy<Value = NannyConfig> {
    (
        3u64..12,
        0u64..40,
        0u32..3,
        0u32..200,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(timeout, reentry, retries, weight, quiesce, load)| NannyConfig {
                timeout: Duration::from_secs(timeout),
                reentry: Duration::from_secs(reentry),
                retries,
                weight,
                quiesce_server: quiesce,
                load_monitor: if load {
                    LoadMonitor::Uptime
                } else {
                    LoadMonitor::None
                },
                check: Check::from_config(CheckProtocol::Tcp, 80, None, None, false, None).unwrap(),
            },
        )
}

struct Driver {
    nanny: Nanny,
    now: Instant,
    events: Vec<NannyEvent>,
    pending: Option<ProbeId>,
    last_result_at: Option<Instant>,
    results: u32,
}

impl Driver {
    fn drain(&mut self) {
        while let Some(out) = self.nanny.poll_output() {
            match out {
                NannyOutput::Event(e) => self.events.push(e),
                NannyOutput::StartProbe { id, spec } => match spec {
                    ProbeSpec::FetchLoad { .. } => {
                        // Loads answered at once, alternating idle and busy.
                        let load = if id.0 % 2 == 0 { 0.0 } else { 3.0 };
                        self.nanny
                            .handle_probe_result(self.now, id, &ProbeResult::Load(load))
                            .unwrap();
                    }
                    _ => {
                        assert!(self.pending.is_none(), "one health probe at a time");
                        let timeout = self.nanny.config().timeout;
                        match self.last_result_at {
                            // The first check starts at once.
                            None => assert_eq!(self.results, 0),
                            // The pause after the first is a jitter shorter than timeout.
                            Some(prev) if self.results == 1 => assert!(
                                self.now >= prev && self.now < prev + timeout,
                                "the first pause is a jitter within one timeout"
                            ),
                            Some(prev) => {
                                assert!(self.now >= prev + timeout, "checks are one timeout apart")
                            }
                        }
                        self.pending = Some(id);
                    }
                },
            }
        }
    }

    /// Run timers up to `until` (not answering health probes).
    fn advance(&mut self, until: Instant) {
        for _ in 0..10_000 {
            match self.nanny.poll_timeout() {
                Some((t, _)) if t <= until && self.pending.is_none() => {
                    self.now = self.now.max(t);
                    self.nanny.handle_timeout(self.now);
                    self.drain();
                }
                Some((t, _)) if t <= until => {
                    // A probe is out: only ramp/load timers (the watchdog is 2 x timeout away
                    // and answers come sooner).
                    self.now = self.now.max(t);
                    self.nanny.handle_timeout(self.now);
                    self.drain();
                }
                _ => {
                    self.now = self.now.max(until);
                    return;
                }
            }
        }
        panic!("runaway timers");
    }

    fn check(&mut self, pass: bool, latency: Duration) {
        for _ in 0..1000 {
            if self.pending.is_some() {
                break;
            }
            let (t, _) = self.nanny.poll_timeout().unwrap();
            self.advance(t);
        }
        let id = self.pending.take().expect("a check started");
        self.advance(self.now + latency);
        let result = if pass {
            ProbeResult::Reply(b"HTTP/1.1 200 OK".to_vec())
        } else {
            ProbeResult::Failed(ProbeFailure::Refused)
        };
        self.nanny
            .handle_probe_result(self.now, id, &result)
            .unwrap();
        self.last_result_at = Some(self.now);
        self.results += 1;
        self.drain();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn health_follows_the_rules(config in nanny_config(), seed in any::<u64>(), actions in prop::collection::vec(action(), 1..80)) {
        let needed = config.successes_to_readmit();
        let retries = config.retries;
        let weight = config.weight;
        let quiesce = config.quiesce_server;
        let mut d = Driver {
            nanny: Nanny::new(config, [10, 0, 0, 1].into(), 80, seed, Instant::ZERO).unwrap(),
            now: Instant::ZERO,
            events: Vec::new(),
            pending: None,
            last_result_at: None,
            results: 0,
        };
        let mut health = Health::Unknown;
        let mut passes_since_fail: u32 = 0;
        let mut ever_failed_down = false;
        let mut ever_up = false;
        let mut fails_in_row: u32 = 0;
        let mut drained = false;
        for a in actions {
            match a {
                Action::Check { pass, latency_ms } => {
                    d.check(pass, Duration::from_millis(latency_ms));
                    if pass {
                        passes_since_fail += 1;
                        fails_in_row = 0;
                    } else {
                        fails_in_row += 1;
                    }
                    let events: Vec<NannyEvent> = std::mem::take(&mut d.events);
                    let ups = events.iter().filter(|e| matches!(e, NannyEvent::Up { .. })).count();
                    let downs = events.iter().filter(|e| matches!(e, NannyEvent::Down { .. })).count();
                    prop_assert!(ups + downs <= 1, "{events:?}");
                    // Down exactly when retries+1 failures in a row and not already down.
                    let expect_down = !pass && fails_in_row > retries && health != Health::Down;
                    prop_assert_eq!(downs == 1, expect_down, "{:?}", events);
                    // Up exactly when passing and enough passes since the last counted failure
                    // (a fresh nanny's counter starts full).
                    if ups == 1 {
                        prop_assert!(pass && health != Health::Up);
                        if ever_failed_down {
                            prop_assert!(passes_since_fail >= needed, "{passes_since_fail} < {needed}");
                        }
                        health = Health::Up;
                        ever_up = true;
                    }
                    if downs == 1 {
                        let quiesced_ok = matches!(events.last(), Some(NannyEvent::Down { quiesced }) if *quiesced == quiesce);
                        prop_assert!(quiesced_ok, "{:?}", events);
                        health = Health::Down;
                        ever_failed_down = true;
                    }
                    if !pass && health == Health::Down {
                        passes_since_fail = 0;
                    }
                    prop_assert!(!(pass && health == Health::Unknown), "a first pass admits");
                    if pass && health == Health::Down && passes_since_fail >= needed {
                        prop_assert!(false, "should have come up after {passes_since_fail} passes");
                    }
                }
                Action::Drain => { d.nanny.handle_drain(d.now); drained = true; d.drain(); }
                Action::Enable => { d.nanny.handle_enable(d.now); drained = false; d.drain(); }
                Action::Idle { secs } => {
                    // Ramp and load timers run; idling stops when the next check starts (it is
                    // answered by the next Check action, well before the 2 x timeout watchdog).
                    let until = d.now + Duration::from_secs(secs);
                    for _ in 0..10_000 {
                        match d.nanny.poll_timeout() {
                            Some((t, _)) if t <= until && d.pending.is_none() => d.advance(t),
                            _ => break,
                        }
                    }
                }
            }
            d.events.retain(|e| !matches!(e, NannyEvent::WeightChanged { .. } | NannyEvent::CheckFailed { .. }));
            prop_assert!(d.events.is_empty(), "health events only on checks: {:?}", d.events);
            let st = d.nanny.real_state();
            prop_assert_eq!(st.health, health);
            prop_assert_eq!(st.drained, drained);
            // Quiesce keeps in the table only a server that was once in it (nanny's isSrvUp).
            prop_assert_eq!(st.in_table, health == Health::Up || (health == Health::Down && quiesce && ever_up));
            if health != Health::Up || drained {
                prop_assert_eq!(st.weight, 0);
            } else if weight == 0 {
                // Serves at 1 (nanny's `weight >> 5`, at least 1); a light load may cap it at 0.
                prop_assert!(st.weight <= 1);
            } else {
                prop_assert!(st.weight <= weight.saturating_mul(10));
                prop_assert!(st.weight > 0);
            }
        }
    }
}
