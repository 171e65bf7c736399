//! Engine bugs the simulator found, pinned as the (seed, schedule) pairs that exposed them.
//! Each ran into a violation before its fix; see docs/SIMULATION.md, "Found by the simulator".

use piranha_engine::config;
use piranha_sim::{Schedule, SimConfig};

fn sim_config(src: &str) -> SimConfig {
    let parsed = config::parse("lvs.cf", src.as_bytes()).expect("config parses");
    SimConfig::from_lvs_cf(&parsed.config).expect("config maps")
}

fn example() -> String {
    std::fs::read_to_string("examples/lvs.cf").expect("examples/lvs.cf")
}

fn run(src: &str, seed: u64, schedule: &str) -> piranha_sim::Outcome {
    let cfg = sim_config(src);
    let s: Schedule = schedule.parse().expect("schedule parses");
    let o = piranha_sim::run_schedule(&cfg, seed, s);
    assert!(o.stats.takeovers >= 1, "the run got going");
    o
}

#[test]
fn a_backup_paused_past_deadtime_does_not_take_over_on_resume() {
    // pulse: the backup's path deadlines expired during its own stall; on resume it declared
    // the live primary dead, took over, and gave up one beat later (no-flapping).
    let o = run(&example(), 5, "pause:r1@135.39s+27.43s");
    assert!(o.violations.is_empty(), "{:?}", o.violations);
    assert_eq!(o.stats.takeovers, 1);
}

#[test]
fn a_refusal_after_a_hand_edit_does_not_fault_both_routers_forever() {
    // director: deleting a real server an operator had already deleted was refused (ENOENT)
    // and, with hard_shutdown, counted as the lvs failing: both routers ended up faulted and
    // nobody served after the heal (liveness-one-active).
    let o = run(
        &example(),
        4677,
        "daemon-crash:r0@379.408s+17.539s,daemon-crash:r1@516.868s+4.309s,ipvs-edit:r0@524.553s+0s,\
         server-flap:10.11.12.1:59.184s@531.373s+61.172s,ipvs-edit:r1@597.127s+0s",
    );
    assert!(o.violations.is_empty(), "{:?}", o.violations);
}

#[test]
fn a_late_lease_release_does_not_hand_the_lease_to_both_routers() {
    // witness: a router whose lease ran out released it and asked again at once; the release
    // arrived after the new grant, freed it, and the partner was granted too (single-active).
    let arb = example().replacen(
        "backup = 192.168.26.8\n",
        "backup = 192.168.26.8\narbiter = 192.168.26.3:5390\nheartbeat_key_file = /etc/sysconfig/ha/key\n",
        1,
    );
    let o = run(&arb, 1142, "loss:212@52.302s+51.945s");
    assert!(o.violations.is_empty(), "{:?}", o.violations);
}
