//! Simulator throughput: one seed of 10 simulated minutes of examples/lvs.cf (swarm faults),
//! and the same with no faults. Engine events per second are printed by
//! `piranha sim --seeds N` (see docs/BENCHMARKS.md, "Simulator").

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use piranha_engine::config;
use piranha_sim::{FaultMode, SimConfig};

fn sim_config() -> SimConfig {
    let src = std::fs::read("examples/lvs.cf").expect("examples/lvs.cf");
    let parsed = config::parse("examples/lvs.cf", &src).expect("example parses");
    SimConfig::from_lvs_cf(&parsed.config).expect("example maps")
}

fn bench(c: &mut Criterion) {
    let cfg = sim_config();
    let events = piranha_sim::run_seed(&cfg, 1).stats.engine_events();
    let mut g = c.benchmark_group("sim");
    g.throughput(Throughput::Elements(events));
    g.bench_function("seed_10min", |b| b.iter(|| piranha_sim::run_seed(&cfg, 1)));
    let mut quiet = cfg.clone();
    quiet.faults = FaultMode::None;
    let events = piranha_sim::run_seed(&quiet, 1).stats.engine_events();
    g.throughput(Throughput::Elements(events));
    g.bench_function("seed_10min_no_faults", |b| {
        b.iter(|| piranha_sim::run_seed(&quiet, 1))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
