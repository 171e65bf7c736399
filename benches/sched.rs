//! Scheduler benchmarks: every kernel scheduler, indexed vs the kernel-loop scan.
//!
//! `sched/<alg>/{indexed,scan}/<n>`: one iteration = one new-connection decision plus the
//! accounting after it (the chosen real server gains an active connection, a random
//! earlier connection ends), on n real servers with mixed weights (1..=20), in steady
//! state (about 4 connections per server). `mh/rebuild/<n>`: one weight change, which
//! rebuilds the Maglev table. `mh/disruption`: remove and re-add one of 1024 servers; the
//! fraction of table entries that move is printed for several n.
//!
//! `sched/harness/<n>`: the workload alone (packet, bookkeeping, the random connection end)
//! with no scheduler calls, the floor under every figure above.
//!
//! Run: `cargo bench --bench sched -- --noplot` (a filter such as `sched/wlc` narrows it).

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration as StdDuration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use piranha_engine::sched::{
    Algorithm, DestId, DestSpec, Implementation, Packet, SchedConfig, Scheduler,
};
use piranha_engine::time::Instant;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

const SIZES: [usize; 4] = [8, 64, 1024, 16384];

/// A tiny deterministic generator for the workload itself (xorshift64*).
struct Xs(u64);
impl Xs {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn mh_size(n: usize) -> u32 {
    if n <= 1024 {
        4093
    } else {
        131_071
    }
}

fn spec(i: usize, weight: u32) -> DestSpec {
    DestSpec {
        addr: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i as u32)),
        port: 80,
        weight,
    }
}

struct Workload {
    sched: Scheduler,
    conns: Vec<DestId>,
    xs: Xs,
    rng: ChaCha8Rng,
    now: Instant,
}

impl Workload {
    fn new(alg: Algorithm, imp: Implementation, n: usize) -> Self {
        let mut cfg = SchedConfig::new(alg).with_implementation(imp);
        cfg.mh_table_size = mh_size(n);
        let mut sched = Scheduler::new(cfg).unwrap();
        let mut xs = Xs(0x9e37_79b9_7f4a_7c15 ^ n as u64);
        for i in 0..n {
            let w = 1 + (xs.next() % 20) as u32;
            sched.add_dest(spec(i, w)).unwrap();
        }
        let mut w = Workload {
            sched,
            conns: Vec::with_capacity(4 * n + 1),
            xs,
            rng: ChaCha8Rng::seed_from_u64(7),
            now: Instant::ZERO,
        };
        for _ in 0..4 * n {
            w.open_one();
        }
        w
    }

    /// A uniform index below `len` by multiply-shift (no 64-bit division in the loop).
    fn pick(&mut self, len: usize) -> usize {
        ((u128::from(self.xs.next()) * len as u128) >> 64) as usize
    }

    fn packet(&mut self) -> Packet {
        let r = self.xs.next();
        Packet::new(
            IpAddr::V4(Ipv4Addr::from(0xc0a8_0000 | (r as u32 & 0xffff))),
            (r >> 32) as u16,
            IpAddr::V4(Ipv4Addr::from(0xac10_0000 | ((r >> 48) as u32 & 0x3ff))),
            80,
        )
    }

    fn open_one(&mut self) -> Option<DestId> {
        let pkt = self.packet();
        let d = self.sched.schedule(self.now, &pkt, &mut self.rng)?;
        self.sched.on_conn_open(d).unwrap();
        self.conns.push(d);
        Some(d)
    }

    /// One decision + its accounting + one earlier connection ending.
    fn step(&mut self) -> Option<DestId> {
        let d = self.open_one();
        if !self.conns.is_empty() {
            let i = self.pick(self.conns.len());
            let gone = self.conns.swap_remove(i);
            self.sched.on_conn_close(gone, true).unwrap();
        }
        d
    }

    /// The workload's own cost, for reference: the same packet, bookkeeping and random
    /// connection end, with a fixed-function "decision" and no scheduler calls.
    fn step_harness(&mut self, n: usize) -> Option<DestId> {
        black_box(self.packet());
        let j = self.pick(n.min(self.conns.len()));
        let d = self.conns[j];
        self.conns.push(d);
        let i = self.pick(self.conns.len());
        Some(self.conns.swap_remove(i))
    }
}

fn schedulers(c: &mut Criterion) {
    let mut group = c.benchmark_group("sched/harness");
    for n in SIZES {
        let mut w: Option<Workload> = None;
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            let w =
                w.get_or_insert_with(|| Workload::new(Algorithm::Rr, Implementation::Indexed, n));
            b.iter(|| black_box(w.step_harness(n).map_or(u32::MAX, |d| d.0)))
        });
    }
    group.finish();
    for alg in Algorithm::ALL {
        let mut group = c.benchmark_group(format!("sched/{alg}"));
        for n in SIZES {
            for (name, imp) in [
                ("indexed", Implementation::Indexed),
                ("scan", Implementation::Scan),
            ] {
                // Built on first use only, so a filter skips the (slow, for mh) setup.
                let mut w: Option<Workload> = None;
                group.bench_function(BenchmarkId::new(name, n), |b| {
                    let w = w.get_or_insert_with(|| Workload::new(alg, imp, n));
                    // A u32: an `Option<DestId>` through black_box stalls store forwarding.
                    b.iter(|| black_box(w.step().map_or(u32::MAX, |d| d.0)))
                });
            }
        }
        group.finish();
    }
}

fn mh(c: &mut Criterion) {
    let mut group = c.benchmark_group("mh");
    for n in SIZES {
        let mut w: Option<Workload> = None;
        let mut flip = false;
        group.bench_function(BenchmarkId::new("rebuild", n), |b| {
            let w =
                w.get_or_insert_with(|| Workload::new(Algorithm::Mh, Implementation::Indexed, n));
            let d = w.sched.dests().next().unwrap();
            let base = w.sched.dest(d).unwrap().weight - u32::from(flip);
            b.iter(|| {
                flip = !flip;
                w.sched.set_weight(d, base + u32::from(flip)).unwrap();
            })
        });
    }
    for n in [8usize, 64, 256, 1024] {
        let (frac, owned) = disruption(n);
        println!(
            "mh/disruption n={n} table={}: {:.4} of entries moved when one server left \
             (1/n = {:.4}; the server owned {owned})",
            mh_size(n),
            frac,
            1.0 / n as f64
        );
    }
    let mut w: Option<Workload> = None;
    let mut next = 1024;
    group.bench_function("disruption", |b| {
        let w =
            w.get_or_insert_with(|| Workload::new(Algorithm::Mh, Implementation::Indexed, 1024));
        b.iter(|| {
            let victim = w.sched.dests().nth(next % 512).unwrap();
            w.sched.remove_dest(victim).unwrap();
            w.sched.add_dest(spec(next, 10)).unwrap();
            next += 1;
        })
    });
    group.finish();
}

/// Fraction of mh table entries whose server changes when one of n servers is removed.
fn disruption(n: usize) -> (f64, usize) {
    let mut cfg = SchedConfig::new(Algorithm::Mh);
    cfg.mh_table_size = mh_size(n);
    let mut s = Scheduler::new(cfg).unwrap();
    let ids: Vec<DestId> = (0..n).map(|i| s.add_dest(spec(i, 1)).unwrap()).collect();
    let before = s.mh_table().unwrap();
    let victim = ids[n / 2];
    s.remove_dest(victim).unwrap();
    let after = s.mh_table().unwrap();
    let moved = before.iter().zip(&after).filter(|(a, b)| a != b).count();
    let owned = before.iter().filter(|&&e| e == Some(victim)).count();
    (moved as f64 / before.len() as f64, owned)
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(StdDuration::from_millis(500))
        .measurement_time(StdDuration::from_secs(1))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = schedulers, mh
}
criterion_main!(benches);
