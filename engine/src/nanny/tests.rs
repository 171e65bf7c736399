//! Transcript tests of nanny, grouped by state: the harness jumps to each wakeup, answers
//! probes with scripted results and records every event with its time.

use super::*;

const ADDR: [u8; 4] = [10, 11, 12, 1];

fn tcp_check() -> Check {
    Check::from_config(CheckProtocol::Tcp, 80, None, None, false, None).unwrap()
}

fn config(timeout_s: u64, reentry_s: u64, weight: u32) -> NannyConfig {
    NannyConfig {
        timeout: Duration::from_secs(timeout_s),
        reentry: Duration::from_secs(reentry_s),
        weight,
        ..NannyConfig::new(tcp_check())
    }
}

fn ok() -> ProbeResult {
    ProbeResult::Reply(b"HTTP".to_vec())
}
fn refused() -> ProbeResult {
    ProbeResult::Failed(ProbeFailure::Refused)
}

fn secs(s: u64) -> Instant {
    Instant::ZERO + Duration::from_secs(s)
}

struct Run {
    nanny: Nanny,
    now: Instant,
    events: Vec<(Instant, NannyEvent)>,
    /// Load answered to every FetchLoad (None: the fetch fails).
    load: Option<f64>,
    load_fetches: Vec<Instant>,
}

impl Run {
    /// Seed 0 with timeout T gives some jitter; tests that care about exact times use `start`.
    fn new(config: NannyConfig) -> Run {
        Run::with_seed(config, 7)
    }

    fn with_seed(config: NannyConfig, seed: u64) -> Run {
        let nanny = Nanny::new(config, ADDR.into(), 80, seed, Instant::ZERO).unwrap();
        Run {
            nanny,
            now: Instant::ZERO,
            events: Vec::new(),
            load: None,
            load_fetches: Vec::new(),
        }
    }

    fn drain(&mut self) -> Vec<(ProbeId, ProbeSpec)> {
        let mut probes = Vec::new();
        while let Some(out) = self.nanny.poll_output() {
            match out {
                NannyOutput::Event(e) => self.events.push((self.now, e)),
                NannyOutput::StartProbe { id, spec } => probes.push((id, spec)),
            }
        }
        probes
    }

    /// Jump to the next wakeup and run it; answers load fetches; returns a started health probe.
    fn wake(&mut self) -> Option<ProbeId> {
        let (at, _why) = self
            .nanny
            .poll_timeout()
            .expect("a nanny always has a timer");
        assert!(at >= self.now, "time goes forward");
        self.now = at;
        self.nanny.handle_timeout(at);
        let mut health = None;
        for (id, spec) in self.drain() {
            match spec {
                ProbeSpec::FetchLoad { .. } => {
                    self.load_fetches.push(self.now);
                    let answer = self
                        .load
                        .map_or(ProbeResult::LoadUnavailable, ProbeResult::Load);
                    self.nanny
                        .handle_probe_result(self.now, id, &answer)
                        .unwrap();
                    self.drain();
                }
                _ => {
                    assert!(health.is_none(), "one health probe at a time");
                    health = Some(id);
                }
            }
        }
        health
    }

    /// Run until the next health check starts, answer it after `latency`, return its start time.
    fn check_after(&mut self, latency: Duration, result: ProbeResult) -> Instant {
        for _ in 0..1000 {
            if let Some(id) = self.wake() {
                let started = self.now;
                // Timers due before the answer run first (ramp, load).
                let answer_at = self.now + latency;
                while let Some((t, _)) = self.nanny.poll_timeout().filter(|(t, _)| *t < answer_at) {
                    self.now = t;
                    self.nanny.handle_timeout(t);
                    assert!(self.drain().is_empty(), "no probe while one is out");
                }
                self.now = answer_at;
                self.nanny
                    .handle_probe_result(self.now, id, &result)
                    .unwrap();
                self.drain();
                return started;
            }
        }
        panic!("no health check started in 1000 wakeups");
    }

    fn check(&mut self, result: ProbeResult) -> Instant {
        self.check_after(Duration::ZERO, result)
    }

    /// Run timers (answering every health probe with success) until `until`.
    fn idle_until(&mut self, until: Instant) {
        for _ in 0..10_000 {
            match self.nanny.poll_timeout() {
                Some((t, _)) if t <= until => {
                    if let Some(id) = self.wake() {
                        self.nanny.handle_probe_result(self.now, id, &ok()).unwrap();
                        self.drain();
                    }
                }
                _ => {
                    self.now = until;
                    return;
                }
            }
        }
        panic!("too many wakeups");
    }

    fn take_events(&mut self) -> Vec<(Instant, NannyEvent)> {
        std::mem::take(&mut self.events)
    }

    fn state(&self) -> RealState {
        self.nanny.real_state()
    }
}

mod start {
    use super::*;

    #[test]
    fn first_check_at_once_then_a_jittered_pause_within_one_interval() {
        let second = |seed| {
            let mut n = Nanny::new(config(6, 18, 1), ADDR.into(), 80, seed, secs(100)).unwrap();
            assert_eq!(n.poll_timeout(), Some((secs(100), NannyTimer::Check)));
            n.handle_timeout(secs(100));
            let Some(NannyOutput::StartProbe { id, .. }) = n.poll_output() else {
                panic!("the first check starts at once");
            };
            n.handle_probe_result(secs(100), id, &ok()).unwrap();
            while n.poll_output().is_some() {}
            let (t, why) = n.poll_timeout().unwrap();
            assert_eq!(why, NannyTimer::Check);
            t
        };
        let times: Vec<Instant> = (0..50).map(second).collect();
        assert!(times.iter().all(|t| *t >= secs(100) && *t < secs(106)));
        assert_eq!(times, (0..50).map(second).collect::<Vec<_>>());
        let distinct: std::collections::BTreeSet<_> = times.iter().collect();
        assert!(
            distinct.len() > 40,
            "jitter spreads the second checks: {distinct:?}"
        );
    }

    #[test]
    fn nothing_in_the_table_until_a_check_decides() {
        let run = Run::new(config(6, 18, 1));
        assert_eq!(run.state().health, Health::Unknown);
        assert!(!run.state().in_table);
    }

    #[test]
    fn first_success_admits_at_once_even_with_long_reentry() {
        let mut run = Run::new(config(6, 180, 1));
        let t = run.check(ok());
        assert_eq!(run.take_events(), [(t, NannyEvent::Up { weight: 1 })]);
        assert!(run.state().serving());
    }

    #[test]
    fn first_failure_is_down_and_then_reentry_applies() {
        let mut run = Run::new(config(5, 15, 1));
        let t0 = run.check(refused());
        assert_eq!(
            run.take_events(),
            [(t0, NannyEvent::Down { quiesced: false })]
        );
        // 15 / 5 = 3 successes needed; the first pause is the jitter, then one interval.
        let t1 = run.check(ok());
        assert!(t1 < t0 + Duration::from_secs(5));
        let t2 = run.check(ok());
        assert_eq!(t2, t1 + Duration::from_secs(5));
        assert!(run.take_events().is_empty());
        let t3 = run.check(ok());
        assert_eq!(run.take_events(), [(t3, NannyEvent::Up { weight: 1 })]);
    }

    #[test]
    fn invalid_config_is_refused() {
        let mut c = config(1, 1, 1);
        c.timeout = Duration::ZERO;
        assert_eq!(
            Nanny::new(c, ADDR.into(), 80, 0, Instant::ZERO).unwrap_err(),
            NannyError::ZeroTimeout
        );
        let c = config(1, 1, u32::MAX);
        assert!(matches!(
            Nanny::new(c, ADDR.into(), 80, 0, Instant::ZERO),
            Err(NannyError::WeightTooLarge(_))
        ));
    }
}

mod up {
    use super::*;

    #[test]
    fn one_failure_removes_and_checks_keep_the_interval() {
        let mut run = Run::new(config(6, 18, 1));
        // The first check, at once, and the jittered pause after it.
        let first = run.check(ok());
        assert_eq!(first, Instant::ZERO);
        assert_eq!(run.take_events(), [(first, NannyEvent::Up { weight: 1 })]);
        let t0 = run.check_after(Duration::from_millis(300), ok());
        let t1 = run.check_after(Duration::from_secs(6), refused());
        // The next check starts one timeout after the previous one ended.
        assert_eq!(t1, t0 + Duration::from_millis(300) + Duration::from_secs(6));
        let down_at = t1 + Duration::from_secs(6);
        assert_eq!(
            run.take_events(),
            [(down_at, NannyEvent::Down { quiesced: false })]
        );
        assert_eq!(
            run.state(),
            RealState {
                health: Health::Down,
                drained: false,
                in_table: false,
                weight: 0
            }
        );
    }

    #[test]
    fn flapping_real_server_needs_reentry_each_time() {
        // timeout 6, reentry 18: 3 consecutive successes after each failure.
        let mut run = Run::new(config(6, 18, 1));
        let script = [
            (ok(), Some(Health::Up)),
            (refused(), Some(Health::Down)),
            (ok(), None),
            (ok(), None),
            (refused(), None), // resets the streak
            (ok(), None),
            (ok(), None),
            (ok(), Some(Health::Up)),
            (refused(), Some(Health::Down)),
        ];
        let mut seen = Vec::new();
        for (result, expect) in script {
            run.check(result);
            let events = run.take_events();
            match expect {
                Some(h) => {
                    assert_eq!(events.len(), 1, "{events:?}");
                    assert_eq!(run.state().health, h);
                }
                None => assert!(events.is_empty(), "{events:?}"),
            }
            seen.push(run.state().in_table);
        }
        assert_eq!(
            seen,
            [true, false, false, false, false, false, false, true, false]
        );
    }

    #[test]
    fn a_probe_the_backend_never_answers_fails_after_twice_the_timeout() {
        let mut run = Run::new(config(5, 5, 1));
        run.check(ok());
        run.take_events();
        let id = run.wake().expect("next check");
        let started = run.now;
        assert_eq!(
            run.nanny.poll_timeout(),
            Some((started + Duration::from_secs(10), NannyTimer::ProbeOverdue))
        );
        run.wake();
        assert_eq!(
            run.take_events(),
            [(
                started + Duration::from_secs(10),
                NannyEvent::Down { quiesced: false }
            )]
        );
        assert_eq!(
            run.nanny.handle_probe_result(run.now, id, &ok()),
            Err(NannyError::UnknownProbe(id))
        );
    }
}

mod retries {
    use super::*;

    #[test]
    fn retries_tolerate_consecutive_failures() {
        let mut c = config(5, 5, 4);
        c.retries = 2;
        let mut run = Run::new(c);
        run.check(ok());
        run.idle_until(run.now + Duration::from_secs(120)); // ramped to full weight
        run.take_events();
        let a = run.check(refused());
        let b = run.check(refused());
        assert_eq!(
            run.take_events(),
            [
                (a, NannyEvent::CheckFailed { consecutive: 1 }),
                (b, NannyEvent::CheckFailed { consecutive: 2 })
            ]
        );
        assert!(run.state().serving());
        assert_eq!(run.state().weight, 4);
        // A success resets the count.
        run.check(ok());
        run.check(refused());
        run.check(refused());
        assert!(run.state().serving());
        let c3 = run.check(refused());
        let events = run.take_events();
        assert_eq!(
            events.last(),
            Some(&(c3, NannyEvent::Down { quiesced: false }))
        );
        assert!(!run.state().in_table);
    }
}

mod quiesce {
    use super::*;

    #[test]
    fn failed_server_stays_at_weight_zero_and_ramps_back() {
        let mut c = config(6, 6, 64);
        c.quiesce_server = true;
        let mut run = Run::new(c);
        let t0 = run.check(ok());
        assert_eq!(run.take_events(), [(t0, NannyEvent::Up { weight: 2 })]);
        let t1 = run.check(refused());
        assert_eq!(
            run.take_events(),
            [(t1, NannyEvent::Down { quiesced: true })]
        );
        assert_eq!(
            run.state(),
            RealState {
                health: Health::Down,
                drained: false,
                in_table: true,
                weight: 0
            }
        );
        let t2 = run.check(ok());
        assert_eq!(run.take_events(), [(t2, NannyEvent::Up { weight: 2 })]);
        assert!(run.state().serving());
    }

    #[test]
    fn quiesce_keeps_out_a_server_that_was_never_up() {
        // nanny quiesced only a server it had added (`quiesce_srv && isSrvUp`): one that
        // fails from the start never enters the table, not even at weight 0.
        let mut c = config(6, 6, 1);
        c.quiesce_server = true;
        let mut run = Run::new(c);
        let t0 = run.check(refused());
        assert_eq!(
            run.take_events(),
            [(t0, NannyEvent::Down { quiesced: true })]
        );
        assert!(!run.state().in_table, "{:?}", run.state());
        run.check(refused());
        assert!(!run.state().in_table);
        // Once it has been up, a failure keeps it at weight 0.
        run.check(ok());
        assert!(run.state().serving());
        run.check(refused());
        assert!(run.state().in_table && !run.state().serving());
    }
}

mod weight_zero {
    use super::*;

    #[test]
    fn a_weight_zero_server_serves_at_weight_one_as_in_piranha() {
        // nanny: `newWeight = weight >> 5; if (newWeight <= 0) newWeight = 1;`.
        let mut run = Run::new(config(6, 6, 0));
        let t0 = run.check(ok());
        assert_eq!(run.take_events(), [(t0, NannyEvent::Up { weight: 1 })]);
        run.idle_until(run.now + Duration::from_secs(100));
        assert_eq!(run.state().weight, 1, "no ramp: 1 is not below 0");
        assert!(run.take_events().is_empty());
    }

    #[test]
    fn a_light_load_takes_a_weight_zero_server_to_zero() {
        let mut c = config(6, 6, 0);
        c.load_monitor = LoadMonitor::Uptime;
        let mut run = Run::new(c);
        run.load = Some(0.2);
        run.check(ok());
        run.idle_until(run.now + Duration::from_secs(30));
        assert_eq!(run.state().weight, 0);
        assert!(run.state().in_table);
    }
}

mod ramp {
    use super::*;

    #[test]
    fn weight_doubles_every_20_seconds_from_a_32nd() {
        // Checks every 30 s so the transcript is mostly ramp steps.
        let mut run = Run::new(config(30, 30, 100));
        let up = run.check(ok());
        run.idle_until(up + Duration::from_secs(200));
        let ramp: Vec<(u64, NannyEvent)> = run
            .take_events()
            .into_iter()
            .map(|(t, e)| ((t - up).as_secs(), e))
            .collect();
        let w = |from, to| NannyEvent::WeightChanged { from, to };
        assert_eq!(
            ramp,
            [
                (0, NannyEvent::Up { weight: 3 }),
                (20, w(3, 6)),
                (40, w(6, 12)),
                (60, w(12, 24)),
                (80, w(24, 48)),
                (100, w(48, 96)),
                (120, w(96, 100)),
            ]
        );
        assert_eq!(run.state().weight, 100);
    }

    #[test]
    fn going_down_mid_ramp_restarts_it() {
        let mut run = Run::new(config(25, 25, 100));
        run.check(ok());
        run.check(ok()); // the jittered pause: under 20 s, no doubling yet
        run.check(ok()); // 25 s later: one doubling happened
        assert_eq!(run.state().weight, 6);
        run.check(refused());
        run.take_events();
        let back = run.check(ok());
        assert_eq!(run.take_events(), [(back, NannyEvent::Up { weight: 3 })]);
    }

    #[test]
    fn weight_change_on_reload_keeps_health() {
        let mut run = Run::new(config(30, 30, 8));
        let up = run.check(ok());
        run.idle_until(up + Duration::from_secs(100));
        assert_eq!(run.state().weight, 8);
        run.take_events();
        run.nanny.handle_set_weight(run.now, 3).unwrap();
        run.drain();
        assert_eq!(
            run.take_events(),
            [(run.now, NannyEvent::WeightChanged { from: 8, to: 3 })]
        );
        assert_eq!(run.state().health, Health::Up);
    }
}

mod load_monitor {
    use super::*;

    fn monitored(weight: u32) -> Run {
        let mut c = config(60, 60, weight);
        c.load_monitor = LoadMonitor::Uptime;
        Run::new(c)
    }

    #[test]
    fn idle_server_gains_weight_up_to_ten_times() {
        let mut run = monitored(32);
        run.load = Some(0.0);
        let up = run.check(ok());
        // Ramp 1,2,4,8,16,32 takes 100 s; then +16 every 20 s up to 320.
        run.idle_until(up + Duration::from_secs(100));
        assert!(run.load_fetches.is_empty(), "no load fetch while ramping");
        assert_eq!(run.state().weight, 32);
        run.idle_until(up + Duration::from_secs(120));
        assert_eq!(run.load_fetches, [up + Duration::from_secs(120)]);
        assert_eq!(run.state().weight, 48);
        run.idle_until(up + Duration::from_secs(1000));
        assert_eq!(run.state().weight, 320);
    }

    #[test]
    fn overloaded_server_drops_back_but_not_below_weight() {
        let mut run = monitored(32);
        run.load = Some(0.0);
        let up = run.check(ok());
        run.idle_until(up + Duration::from_secs(200));
        let high = run.state().weight;
        assert_eq!(high, 32 + 5 * 16);
        run.load = Some(9.0); // − 16 · 2 per fetch
        run.idle_until(up + Duration::from_secs(220));
        assert_eq!(run.state().weight, high - 32);
        run.idle_until(up + Duration::from_secs(400));
        assert_eq!(run.state().weight, 32);
        // Small changes (|Δ| < weight/4 = 8) are not applied: L = 1.05 → −16·0.368 = −5.9,
        // 42.1 truncated to 42: Δ = 6.
        run.load = Some(0.0);
        run.idle_until(up + Duration::from_secs(420));
        assert_eq!(run.state().weight, 48);
        run.load = Some(1.05);
        run.idle_until(up + Duration::from_secs(500));
        assert_eq!(run.state().weight, 48);
        // Truncation counts: L = 1.1 → −16·0.464 = −7.43, but 40.57 truncates to 40: Δ = 8
        // meets the threshold (nanny's int arithmetic), then 32.57 → 32.
        run.load = Some(1.1);
        run.idle_until(up + Duration::from_secs(520));
        assert_eq!(run.state().weight, 40);
        run.idle_until(up + Duration::from_secs(540));
        assert_eq!(run.state().weight, 32);
    }

    #[test]
    fn failed_fetch_changes_nothing() {
        let mut run = monitored(8);
        run.load = None;
        let up = run.check(ok());
        run.idle_until(up + Duration::from_secs(300));
        assert!(!run.load_fetches.is_empty());
        assert_eq!(run.state().weight, 8);
    }
}

mod drain {
    use super::*;

    #[test]
    fn drain_zeroes_the_weight_regardless_of_health_and_enable_ramps_back() {
        let mut run = Run::new(config(6, 6, 64));
        run.check(ok());
        run.idle_until(run.now + Duration::from_secs(200));
        assert_eq!(run.state().weight, 64);
        run.take_events();

        run.nanny.handle_drain(run.now);
        run.drain();
        assert_eq!(
            run.take_events(),
            [(run.now, NannyEvent::WeightChanged { from: 64, to: 0 })]
        );
        assert!(run.state().in_table && !run.state().serving() && run.state().drained);

        // Health checks go on: a failure removes it, a success brings it back, still drained.
        run.check(refused());
        assert!(!run.state().in_table);
        let back = run.check(ok());
        assert_eq!(
            run.take_events().last(),
            Some(&(back, NannyEvent::Up { weight: 0 }))
        );
        assert!(run.state().in_table && run.state().weight == 0);

        run.nanny.handle_enable(run.now);
        run.drain();
        assert_eq!(
            run.take_events(),
            [(run.now, NannyEvent::WeightChanged { from: 0, to: 2 })]
        );
        // Enabling twice is harmless.
        run.nanny.handle_enable(run.now);
        assert!(run.drain().is_empty());
        assert!(run.take_events().is_empty());
    }

    #[test]
    fn draining_a_down_server_changes_nothing_in_the_table() {
        let mut run = Run::new(config(6, 6, 1));
        run.check(refused());
        run.take_events();
        run.nanny.handle_drain(run.now);
        run.drain();
        assert!(run.take_events().is_empty());
        assert!(!run.state().in_table);
    }
}

#[test]
fn undrained_outputs_drop_and_count_events_instead_of_panicking() {
    // Regression: the nanny panicked once 64 outputs were undrained. Events past the shared
    // limit are dropped and counted; nothing else is.
    let mut r = Run::new(config(6, 18, 1));
    for _ in 0..5 {
        r.check_after(Duration::from_millis(1), ok());
    }
    r.drain();
    let now = r.now;
    let n = &mut r.nanny;
    for _ in 0..crate::MAX_QUEUED_OUTPUTS + 10 {
        n.handle_drain(now);
        n.handle_enable(now);
    }
    assert!(n.events_dropped() > 0);
    let mut queued = 0;
    while n.poll_output().is_some() {
        queued += 1;
    }
    assert!(queued >= crate::MAX_QUEUED_OUTPUTS);
}
