//! The simulator in CI: determinism (the same seed twice gives byte-equal traces), a few
//! hundred swarm seeds of examples/lvs.cf with and without an arbiter, schedule round trips,
//! and `piranha sim` itself.

use std::process::Command;

use piranha_engine::config;
use piranha_sim::{FaultMode, Schedule, SimConfig};

fn sim_config(src: &str) -> SimConfig {
    let parsed = config::parse("lvs.cf", src.as_bytes()).expect("config parses");
    SimConfig::from_lvs_cf(&parsed.config).expect("config maps")
}

fn example() -> String {
    std::fs::read_to_string("examples/lvs.cf").expect("examples/lvs.cf")
}

/// examples/lvs.cf with a witness (v2 heartbeats: the simulator supplies the key).
fn with_arbiter() -> String {
    example().replacen(
        "backup = 192.168.26.8\n",
        "backup = 192.168.26.8\narbiter = 192.168.26.3:5390\nheartbeat_key_file = /etc/sysconfig/ha/key\n",
        1,
    )
}

#[test]
fn same_seed_same_trace_byte_for_byte() {
    let mut cfg = sim_config(&example());
    cfg.trace = true;
    for seed in [0, 1, 7, 42] {
        let a = piranha_sim::run_seed(&cfg, seed);
        let b = piranha_sim::run_seed(&cfg, seed);
        assert!(a.trace.len() > 40, "seed {seed}: the run did something");
        assert_eq!(
            a.trace.join("\n"),
            b.trace.join("\n"),
            "seed {seed} diverged"
        );
        assert_eq!(a.stats, b.stats);
    }
    let a = piranha_sim::run_seed(&cfg, 1);
    let b = piranha_sim::run_seed(&cfg, 2);
    assert_ne!(a.trace, b.trace, "different seeds, different runs");
}

#[test]
fn a_clean_run_has_one_takeover_and_serves_clients() {
    let mut cfg = sim_config(&example());
    cfg.faults = FaultMode::None;
    let o = piranha_sim::run_seed(&cfg, 0);
    assert!(o.violations.is_empty(), "{:?}", o.violations);
    assert_eq!(o.stats.takeovers, 1, "the primary takes over once");
    assert!(o.stats.connections_ok > 2000);
    // Only before the first takeover (deadtime = 18 s, one connection per 250 ms).
    assert!(o.stats.connections_failed <= 80, "{:?}", o.stats);
    assert_eq!(o.stats.connections_failed_during_faults, 0);
}

#[test]
fn two_hundred_swarm_seeds_break_no_invariant() {
    let cfg = sim_config(&example());
    let outcomes = piranha_sim::run_seeds(&cfg, 0..200, 2);
    let failing: Vec<_> = outcomes
        .iter()
        .filter_map(|o| {
            o.violations
                .first()
                .map(|v| (o.seed, v.clone(), &o.schedule))
        })
        .collect();
    assert!(failing.is_empty(), "{failing:#?}");
    let takeovers: u64 = outcomes.iter().map(|o| o.stats.takeovers).sum();
    let failed: u64 = outcomes
        .iter()
        .map(|o| o.stats.connections_failed_during_faults)
        .sum();
    assert!(takeovers > 400, "faults moved the VIPs: {takeovers}");
    assert!(failed > 0, "faults cost client connections");
}

#[test]
fn a_hundred_swarm_seeds_with_a_witness_break_no_invariant() {
    let cfg = sim_config(&with_arbiter());
    assert!(cfg.director.pulse.arbiter.is_some());
    let outcomes = piranha_sim::run_seeds(&cfg, 0..100, 2);
    for o in &outcomes {
        assert!(
            o.violations.is_empty(),
            "seed {}: {:?} under {}",
            o.seed,
            o.violations,
            o.schedule
        );
    }
}

#[test]
fn fast_timers_with_fail_back_and_a_witness_break_no_invariant() {
    // keepalive 1 s / deadtime 3 s, fail-back, arbiter: the tightest timing the swarm meets.
    let src = with_arbiter()
        .replacen("keepalive = 6\n", "keepalive = 1\n", 1)
        .replacen("deadtime = 18\n", "deadtime = 3\nfailback = 1\n", 1);
    let cfg = sim_config(&src);
    assert!(cfg.director.pulse.failback);
    for o in piranha_sim::run_seeds(&cfg, 0..60, 2) {
        assert!(
            o.violations.is_empty(),
            "seed {}: {:?} under {}",
            o.seed,
            o.violations,
            o.schedule
        );
    }
}

#[test]
fn schedules_print_and_parse_back() {
    let cfg = sim_config(&with_arbiter());
    for seed in 0..50 {
        let s = cfg.schedule(seed);
        let back: Schedule = s.to_string().parse().expect("printed schedules parse");
        // Times print in milliseconds: the generator draws whole milliseconds.
        assert_eq!(back, s, "seed {seed}");
    }
    let list = FaultMode::parse("crash,loss").unwrap();
    let mut c = cfg.clone();
    c.faults = list;
    for seed in 0..20 {
        for f in &c.schedule(seed).0 {
            let t = f.kind.to_string();
            assert!(t.starts_with("crash:") || t.starts_with("loss:"), "{t}");
        }
    }
    assert!(FaultMode::parse("crash,nonsense").is_err());
}

#[test]
fn piranha_sim_prints_the_summary_line_last() {
    let out = Command::new(env!("CARGO_BIN_EXE_piranha"))
        .args([
            "sim",
            "-c",
            "examples/lvs.cf",
            "--seeds",
            "4",
            "--duration",
            "2m",
        ])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let last = stdout.lines().last().unwrap();
    assert!(
        last.starts_with("sim: seeds=4 violations=0 sim_time=") && last.contains(" wall="),
        "{last}"
    );
    let trace = |seed: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_piranha"))
            .args([
                "sim",
                "-c",
                "examples/lvs.cf",
                "--seed",
                seed,
                "--duration",
                "3m",
                "--trace",
            ])
            .output()
            .expect("runs");
        let s = String::from_utf8(o.stdout).unwrap();
        // Everything but the wall-clock figure is deterministic.
        s.lines()
            .filter(|l| !l.starts_with("sim: "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let a = trace("5");
    assert!(a.contains("TookOver"), "{a}");
    assert_eq!(a, trace("5"));
}

#[test]
fn timeline_svg_has_a_lane_per_router_and_fault() {
    let dir = std::env::temp_dir().join(format!("piranha-sim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let svg = dir.join("t.svg");
    let out = Command::new(env!("CARGO_BIN_EXE_piranha"))
        .args(["sim", "-c", "examples/lvs.cf", "--seed", "0", "--timeline"])
        .arg(&svg)
        .output()
        .expect("runs");
    assert!(out.status.success());
    let s = std::fs::read_to_string(&svg).unwrap();
    assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
    assert!(s.contains("r0 primary") && s.contains("r1 backup") && s.contains("VIP via client0"));
    assert!(s.contains("pause:r1"), "fault lanes are labelled");
    let _ = std::fs::remove_dir_all(&dir);
}

/// One fault on its own: the probe client's outage, and whether `outage-bounded` judged it.
fn lone_fault(src: &str, fault: &str) -> piranha_sim::FaultOutage {
    let mut cfg = sim_config(src);
    cfg.duration = piranha_engine::time::Duration::from_secs(200);
    let schedule: Schedule = fault.parse().expect("schedule parses");
    cfg.faults = FaultMode::Exact(schedule);
    let o = piranha_sim::run_seed(&cfg, 3);
    assert!(o.violations.is_empty(), "{fault}: {:?}", o.violations);
    assert_eq!(o.outages[0].class, "startup");
    assert_eq!(o.outages.len(), 2, "startup and the fault: {:?}", o.outages);
    o.outages[1].clone()
}

#[test]
fn a_lone_fault_is_judged_and_its_outage_measured() {
    let ms = |ns: u64| ns / 1_000_000;
    // examples/lvs.cf: keepalive 6, deadtime 18, timeout 6, hot standby.
    let stop = lone_fault(&example(), "stop:r0@100s+40s");
    assert_eq!(stop.class, "stop");
    assert!(stop.bound_ns.is_some(), "judged: {stop:?}");
    // The hot standby takes over on STOPPED with its table ready: within a probe round or two.
    assert!(ms(stop.outage_ns) <= 40, "SIGTERM hand-over: {stop:?}");
    let crash = lone_fault(&example(), "crash:r0@100s+40s");
    assert!(crash.bound_ns.is_some(), "judged: {crash:?}");
    // Detected by deadtime since the last beat (at most a keepalive before the crash).
    let o = ms(crash.outage_ns);
    assert!((12_000..=18_100).contains(&o), "host crash: {crash:?}");
    let fail = lone_fault(&example(), "server-fail:10.11.12.2@100s+40s");
    assert!(fail.bound_ns.is_some(), "judged: {fail:?}");
    assert!(
        fail.outage_ns > 0 && ms(fail.outage_ns) <= 6_100,
        "a failing real server takes requests until its next check: {fail:?}"
    );
    // Cold standby: every real server checked at once at takeover, so the hand-over is as
    // quick as far as a client sees in the simulator (checks answer in 100 µs here).
    let cold = example().replacen("deadtime = 18\n", "deadtime = 18\nhot_standby = 0\n", 1);
    let stop = lone_fault(&cold, "stop:r0@100s+40s");
    assert!(ms(stop.outage_ns) <= 40, "cold SIGTERM hand-over: {stop:?}");
}

#[test]
fn losing_only_the_witness_costs_no_client_a_request() {
    // Both routers up and hearing each other, the witness gone for a minute (its lease runs
    // out meanwhile): the active router holds the VIPs, and outage-bounded judges it
    // (keepalive + 100 ms, for the hand-over the witness's return may bring).
    let mut cfg = sim_config(&with_arbiter());
    cfg.duration = piranha_engine::time::Duration::from_secs(300);
    let schedule: Schedule = "witness-fail@100s+60s".parse().expect("schedule parses");
    cfg.faults = FaultMode::Exact(schedule);
    for seed in 1..=5 {
        let o = piranha_sim::run_seed(&cfg, seed);
        assert!(o.violations.is_empty(), "seed {seed}: {:?}", o.violations);
        let w = o
            .outages
            .iter()
            .find(|x| x.class == "witness-fail")
            .unwrap_or_else(|| panic!("seed {seed}: {:?}", o.outages));
        assert!(w.bound_ns.is_some(), "judged: {w:?}");
        assert!(w.outage_ns <= 1_000_000_000, "seed {seed}: {w:?}");
    }
}
