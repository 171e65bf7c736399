//! The mutation check: every planted engine bug (feature `mutations`) must be caught by the
//! simulator's invariants within 1,000 swarm seeds. The always-on test stops at the first
//! seed that catches each bug; the ignored one scores all 1,000 seeds.

use piranha_engine::config;
use piranha_engine::mutation::Mutation;
use piranha_sim::SimConfig;

fn sim_config() -> SimConfig {
    let src = std::fs::read("examples/lvs.cf").expect("examples/lvs.cf");
    let parsed = config::parse("examples/lvs.cf", &src).expect("example parses");
    SimConfig::from_lvs_cf(&parsed.config).expect("example maps")
}

/// The first seed in `0..limit` whose run breaks an invariant under `m`.
fn first_catch(m: Mutation, limit: u64) -> Option<(u64, &'static str)> {
    let mut cfg = sim_config();
    cfg.mutation = Some(m);
    (0..limit).find_map(|seed| {
        let o = piranha_sim::run_seed(&cfg, seed);
        o.violations.first().map(|v| (seed, v.invariant))
    })
}

#[test]
fn every_planted_bug_is_caught_within_the_first_seeds() {
    let mut missed = Vec::new();
    for m in Mutation::ALL {
        match first_catch(m, 1000) {
            Some((seed, inv)) => println!("{:<26} caught by seed {seed:>4}: {inv}", m.name()),
            None => missed.push(m.name()),
        }
    }
    assert!(
        missed.is_empty(),
        "not caught within 1,000 seeds: {missed:?}"
    );
}

#[test]
fn the_unmutated_engine_passes_the_same_seeds() {
    let cfg = sim_config();
    for seed in 0..20 {
        let o = piranha_sim::run_seed(&cfg, seed);
        assert!(o.violations.is_empty(), "seed {seed}: {:?}", o.violations);
    }
}

#[test]
#[ignore = "1,000 seeds per planted bug: run with --release -- --ignored"]
fn mutation_score_over_1000_seeds() {
    let cfg = sim_config();
    for m in Mutation::ALL {
        let mut c = cfg.clone();
        c.mutation = Some(m);
        let outcomes = piranha_sim::run_seeds(&c, 0..1000, 2);
        let caught = outcomes.iter().filter(|o| !o.violations.is_empty()).count();
        println!("{:<26} caught by {caught:>4} / 1000 seeds", m.name());
        assert!(caught > 0, "{} never caught", m.name());
    }
}

#[test]
fn shrinking_keeps_the_violation_with_fewer_faults_and_reproduces() {
    let mut cfg = sim_config();
    cfg.mutation = Some(Mutation::IgnoreStopped);
    let (seed, _) = first_catch(Mutation::IgnoreStopped, 1000).expect("caught");
    let o = piranha_sim::run_seed(&cfg, seed);
    let original: piranha_sim::Schedule = o.schedule.parse().unwrap();
    let (small, shrunk) = piranha_sim::shrink(&cfg, &o, 100);
    assert!(
        !small.0.is_empty() && small.0.len() < original.0.len(),
        "{small}"
    );
    assert_eq!(shrunk.violations[0].invariant, "stopped-handover");
    assert!(
        small
            .0
            .iter()
            .any(|f| f.kind.to_string().starts_with("stop:")),
        "{small}"
    );
    let again = piranha_sim::run_schedule(&cfg, seed, small.clone());
    assert_eq!(
        again.violations, shrunk.violations,
        "the shrunk schedule reproduces"
    );
}
