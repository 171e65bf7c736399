//! `piranha bench sched`: every IPVS scheduler (engine::sched, which makes the kernel's
//! decisions: tests/kernel_sched.rs) on one workload, for someone choosing a scheduler.
//!
//! Workloads: synthetic (Poisson arrivals, Pareto-distributed durations, heterogeneous
//! weights, repeat clients) or a CSV of `time,client,duration` lines. By default the first
//! real server fails at 40% of the run (its connections are lost) and returns at 70%.
//!
//! Per scheduler: decisions per second (wall clock of the whole simulated run, i.e. each
//! decision with the accounting of its connection's open and close: the only figure that
//! varies between runs), load imbalance sampled 200 times (max/mean of the weight-normalised
//! active connections, and their coefficient of variation), the share of clients that move
//! when a server leaves or joins (probe clients connecting in turn to the scheduler before
//! and after the change), and persistence hits (returning clients sent to the same server
//! as last time). Everything but decisions/s is a function of the seed and the options.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant as WallClock;

use anyhow::{bail, Context};
use piranha_engine::sched::{
    Algorithm, DestId, DestSpec, Packet, PersistenceConfig, SchedConfig, Scheduler,
};
use piranha_engine::time::{Duration, Instant};
use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Arguments of `piranha bench sched`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  piranha bench sched                                  all schedulers, synthetic workload
  piranha bench sched --schedulers wlc,mh,sh --json    three of them, as JSON
  piranha bench sched --csv conns.csv --svg plots/     your connections (time,client,duration)")]
pub struct Args {
    /// Read connections from this CSV (`time,client,duration` per line: seconds, an address
    /// or any name, seconds; an optional header line) instead of the synthetic workload.
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// The schedulers to compare, comma-separated (default: all 14).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    schedulers: Vec<Algorithm>,
    /// Real servers; weights are drawn from 1..=10 with the seed.
    #[arg(long, default_value_t = 16)]
    servers: usize,
    /// Synthetic: connections.
    #[arg(long, default_value_t = 100_000)]
    conns: usize,
    /// Synthetic: arrivals per second (Poisson).
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Synthetic: mean connection duration in seconds (Pareto, shape 1.5: heavy-tailed).
    #[arg(long, default_value_t = 5.0)]
    mean_duration: f64,
    /// Synthetic: distinct client addresses (each connection picks one uniformly).
    #[arg(long, default_value_t = 10_000)]
    clients: u32,
    /// Addresses the clients connect to (dh, lblc and lblcr hash them; 1 = one VIP).
    #[arg(long, default_value_t = 1)]
    targets: u32,
    /// Persistence timeout in seconds (`ipvsadm -p`); 0 = not persistent.
    #[arg(long, default_value_t = 0)]
    persistence: u64,
    /// Keep every server up (no failure at 40% and return at 70%).
    #[arg(long)]
    no_failure: bool,
    /// Seed of the workload, the weights and twos' random choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print JSON instead of the table.
    #[arg(long)]
    json: bool,
    /// Also write one SVG plot per metric into this folder.
    #[arg(long, value_name = "DIR")]
    svg: Option<PathBuf>,
}

/// One connection of the workload.
#[derive(Clone, Debug)]
struct Arrival {
    t_ns: u64,
    client: IpAddr,
    duration_ns: u64,
    target: IpAddr,
}

struct Workload {
    name: String,
    arrivals: Vec<Arrival>,
    weights: Vec<u32>,
    /// (fail, return) times of server 0.
    failure: Option<(u64, u64)>,
}

#[derive(Debug, serde::Serialize)]
struct Outcome {
    scheduler: String,
    decisions: u64,
    no_destination: u64,
    decisions_per_sec: f64,
    imbalance_max_mean: f64,
    imbalance_cv: f64,
    /// `None` when every probe client was on the leaving server (fo: all on the heaviest).
    moved_on_leave: Option<f64>,
    moved_on_join: Option<f64>,
    persistence_hits: f64,
    lost_on_failure: u64,
    /// (seconds, max/mean, cv) samples.
    series: Vec<(f64, f64, f64)>,
}

fn secs_ns(s: f64) -> u64 {
    (s * 1e9).round() as u64
}

fn unit(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

fn target(k: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0xc0a8_0001 + k))
}

fn weights(n: usize, rng: &mut ChaCha8Rng) -> Vec<u32> {
    (0..n).map(|_| 1 + (rng.next_u32() % 10)).collect()
}

fn synthetic(a: &Args, rng: &mut ChaCha8Rng) -> anyhow::Result<Vec<Arrival>> {
    let positive = |x: f64| x.is_finite() && x > 0.0;
    if !positive(a.rate) || !positive(a.mean_duration) || a.clients == 0 {
        bail!("--rate, --mean-duration and --clients must be positive");
    }
    let shape = 1.5;
    let scale = a.mean_duration * (shape - 1.0) / shape;
    let mut t = 0.0f64;
    let mut out = Vec::with_capacity(a.conns);
    for _ in 0..a.conns {
        t += -(1.0 - unit(rng)).ln() / a.rate;
        // Pareto, capped at 1000 means so one draw cannot outlast everything.
        let d = (scale / (1.0 - unit(rng)).powf(1.0 / shape)).min(1000.0 * a.mean_duration);
        let c = rng.next_u32() % a.clients;
        let k = rng.next_u32() % a.targets.max(1);
        out.push(Arrival {
            t_ns: secs_ns(t),
            client: IpAddr::V4(Ipv4Addr::from(0x0a00_0001 + c)),
            duration_ns: secs_ns(d),
            target: target(k),
        });
    }
    Ok(out)
}

/// FNV-1a, to turn a client name that is not an address into one.
fn name_addr(name: &str) -> IpAddr {
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (h & 0x00ff_ffff)))
}

/// Parses `time,client,duration` lines; errors name FILE:LINE.
fn parse_csv(name: &str, text: &str, targets: u32) -> anyhow::Result<Vec<Arrival>> {
    let mut out: Vec<Arrival> = Vec::new();
    let mut prev = 0.0f64;
    let mut first = true;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if f.len() != 3 {
            bail!(
                "{name}:{n}: expected 3 fields (time,client,duration), found {}",
                f.len()
            );
        }
        let was_first = std::mem::replace(&mut first, false);
        let time = match f[0].parse::<f64>() {
            Ok(t) => t,
            Err(_) if was_first && f[0].eq_ignore_ascii_case("time") => continue,
            Err(_) => bail!("{name}:{n}: time {:?} is not a number of seconds", f[0]),
        };
        if !time.is_finite() || time < 0.0 {
            bail!("{name}:{n}: time {time} must be a non-negative number of seconds");
        }
        if time < prev {
            bail!("{name}:{n}: time {time} is before the previous line's {prev}: sort the file by time");
        }
        prev = time;
        let duration = match f[2].parse::<f64>() {
            Ok(d) if d.is_finite() && d >= 0.0 => d,
            _ => bail!(
                "{name}:{n}: duration {:?} is not a non-negative number of seconds",
                f[2]
            ),
        };
        if f[1].is_empty() {
            bail!("{name}:{n}: empty client");
        }
        let client = f[1].parse::<IpAddr>().unwrap_or_else(|_| name_addr(f[1]));
        let k = out.len() as u32 % targets.max(1);
        out.push(Arrival {
            t_ns: secs_ns(time),
            client,
            duration_ns: secs_ns(duration),
            target: target(k),
        });
    }
    if out.is_empty() {
        bail!("{name}: no connections (expected time,client,duration lines)");
    }
    Ok(out)
}

fn server_spec(i: usize, weight: u32) -> DestSpec {
    DestSpec {
        addr: IpAddr::V4(Ipv4Addr::from(0x0ac8_0001 + i as u32)),
        port: 80,
        weight,
    }
}

fn config(alg: Algorithm, persistence: u64) -> SchedConfig {
    let mut c = SchedConfig::new(alg);
    if persistence > 0 {
        c.persistence = Some(PersistenceConfig::new(Duration::from_secs(persistence)));
    }
    c
}

/// One scheduler through the whole workload.
fn simulate(alg: Algorithm, w: &Workload, a: &Args, bar: &indicatif::ProgressBar) -> Outcome {
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed ^ 0x7457_6f73);
    let mut s = Scheduler::new(config(alg, a.persistence)).expect("valid configuration");
    // Server index <-> current DestId.
    let mut ids: Vec<Option<DestId>> = Vec::new();
    let mut server_of: HashMap<DestId, usize> = HashMap::new();
    for (i, &wt) in w.weights.iter().enumerate() {
        let id = s.add_dest(server_spec(i, wt)).expect("valid weight");
        ids.push(Some(id));
        server_of.insert(id, i);
    }
    let mut ends: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
    let mut dest_of: Vec<Option<DestId>> = vec![None; w.arrivals.len()];
    let window = secs_ns(if a.persistence > 0 {
        a.persistence as f64
    } else {
        300.0
    });
    let mut last: HashMap<IpAddr, (u64, usize)> = HashMap::new();
    let (mut hits, mut chances, mut none, mut lost) = (0u64, 0u64, 0u64, 0u64);
    let span = w.arrivals.last().map_or(1, |x| x.t_ns.max(1));
    let step = (span / 200).max(1);
    let mut next_sample = step;
    let mut series = Vec::new();
    let (mut failed, mut returned) = (false, false);
    let started = WallClock::now();
    for (i, arr) in w.arrivals.iter().enumerate() {
        while let Some(&Reverse((end, c))) = ends.peek() {
            if end > arr.t_ns {
                break;
            }
            ends.pop();
            if let Some(d) = dest_of[c].take() {
                s.on_conn_close(d, true).expect("open connection");
            }
        }
        if let Some((fail_at, return_at)) = w.failure {
            if !failed && arr.t_ns >= fail_at {
                failed = true;
                if let Some(id) = ids[0].take() {
                    s.remove_dest(id).expect("in the list");
                    for d in dest_of.iter_mut().filter(|d| **d == Some(id)) {
                        *d = None;
                        s.on_conn_close(id, true).expect("open connection");
                        lost += 1;
                    }
                }
            }
            if failed && !returned && arr.t_ns >= return_at {
                returned = true;
                let id = s.add_dest(server_spec(0, w.weights[0])).expect("valid");
                ids[0] = Some(id);
                server_of.insert(id, 0);
            }
        }
        while arr.t_ns >= next_sample {
            series.push(sample(&s, next_sample));
            next_sample += step;
        }
        let port = 1024 + (i % 64_000) as u16;
        let pkt = Packet::new(arr.client, port, arr.target, 80);
        let now = Instant::from_nanos(arr.t_ns);
        match s.schedule(now, &pkt, &mut rng) {
            Some(d) => {
                s.on_conn_open(d).expect("known destination");
                dest_of[i] = Some(d);
                ends.push(Reverse((arr.t_ns.saturating_add(arr.duration_ns), i)));
                let server = server_of[&d];
                if let Some(&(t, prev)) = last.get(&arr.client) {
                    if arr.t_ns - t <= window {
                        chances += 1;
                        hits += u64::from(prev == server);
                    }
                }
                last.insert(arr.client, (arr.t_ns, server));
            }
            None => none += 1,
        }
        if i % 4096 == 4095 {
            bar.inc(4096);
        }
    }
    bar.inc(w.arrivals.len() as u64 % 4096);
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    let n = series.len().max(1) as f64;
    Outcome {
        scheduler: alg.to_string(),
        decisions: w.arrivals.len() as u64,
        no_destination: none,
        decisions_per_sec: w.arrivals.len() as f64 / elapsed,
        imbalance_max_mean: series.iter().map(|x| x.1).sum::<f64>() / n,
        imbalance_cv: series.iter().map(|x| x.2).sum::<f64>() / n,
        moved_on_leave: disruption(alg, &w.weights, a, true),
        moved_on_join: disruption(alg, &w.weights, a, false),
        persistence_hits: if chances == 0 {
            0.0
        } else {
            hits as f64 / chances as f64
        },
        lost_on_failure: lost,
        series,
    }
}

/// (seconds, max/mean, cv) of the weight-normalised active connections of the servers
/// that can take connections (in the list, weight > 0).
fn sample(s: &Scheduler, t_ns: u64) -> (f64, f64, f64) {
    let loads: Vec<(f64, f64)> = s
        .dests()
        .filter_map(|d| s.dest(d))
        .filter(|st| st.weight > 0)
        .map(|st| (f64::from(st.active_conns), f64::from(st.weight)))
        .collect();
    let total: f64 = loads.iter().map(|x| x.0).sum();
    let wsum: f64 = loads.iter().map(|x| x.1).sum();
    let t = t_ns as f64 / 1e9;
    if total == 0.0 || loads.is_empty() {
        return (t, 1.0, 0.0);
    }
    let norm: Vec<f64> = loads.iter().map(|(a, w)| a / w).collect();
    let max = norm.iter().cloned().fold(0.0, f64::max);
    let mean = norm.iter().sum::<f64>() / norm.len() as f64;
    let var = norm.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / norm.len() as f64;
    (t, max / (total / wsum), var.sqrt() / mean)
}

/// The share of probe clients whose server changes when server 0 leaves (clients that
/// were on server 0 excluded: they must move), or when a new server joins.
fn disruption(alg: Algorithm, weights: &[u32], a: &Args, leave: bool) -> Option<f64> {
    const PROBES: u32 = 2000;
    let run = |servers: &[(usize, u32)]| -> Vec<Option<usize>> {
        let mut rng = ChaCha8Rng::seed_from_u64(a.seed ^ 0x6d6f_7665);
        let mut s = Scheduler::new(config(alg, 0)).expect("valid configuration");
        let mut server_of = HashMap::new();
        for &(i, w) in servers {
            server_of.insert(s.add_dest(server_spec(i, w)).expect("valid"), i);
        }
        (0..PROBES)
            .map(|c| {
                let client = IpAddr::V4(Ipv4Addr::from(0xac10_0000 + c));
                let pkt = Packet::new(client, 1024 + c as u16, target(c % a.targets.max(1)), 80);
                let d = s.schedule(Instant::ZERO, &pkt, &mut rng)?;
                s.on_conn_open(d).expect("known");
                Some(server_of[&d])
            })
            .collect()
    };
    let all: Vec<(usize, u32)> = weights.iter().copied().enumerate().collect();
    let (before, after) = if leave {
        (run(&all), run(&all[1..]))
    } else {
        let mut more = all.clone();
        let median = {
            let mut w = weights.to_vec();
            w.sort_unstable();
            w.get(w.len() / 2).copied().unwrap_or(1)
        };
        more.push((weights.len(), median));
        (run(&all), run(&more))
    };
    let considered: Vec<(Option<usize>, Option<usize>)> = before
        .into_iter()
        .zip(after)
        .filter(|(b, _)| !(leave && *b == Some(0)))
        .collect();
    if considered.is_empty() {
        return None;
    }
    Some(considered.iter().filter(|(b, a)| b != a).count() as f64 / considered.len() as f64)
}

fn human(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

fn percent(x: Option<f64>) -> String {
    x.map_or("n/a".to_string(), |v| format!("{:.1}%", v * 100.0))
}

fn table(w: &Workload, out: &[Outcome]) -> String {
    let mut s = format!("{}\n", w.name);
    let _ = writeln!(
        s,
        "{:<6} {:>11} {:>9} {:>6} {:>8} {:>12} {:>11} {:>12}",
        "sched",
        "decisions/s",
        "max/mean",
        "cv",
        "no-dest",
        "moved-leave",
        "moved-join",
        "persist-hits"
    );
    for o in out {
        let _ = writeln!(
            s,
            "{:<6} {:>11} {:>9.2} {:>6.3} {:>8} {:>12} {:>11} {:>11.1}%",
            o.scheduler,
            human(o.decisions_per_sec),
            o.imbalance_max_mean,
            o.imbalance_cv,
            o.no_destination,
            percent(o.moved_on_leave),
            percent(o.moved_on_join),
            o.persistence_hits * 100.0
        );
    }
    s
}

const COLORS: [&str; 14] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A line chart: one polyline per series of (x, y).
fn line_svg(title: &str, ylabel: &str, series: &[(String, Vec<(f64, f64)>)]) -> String {
    let (w, h, l, r, t, b) = (760.0, 420.0, 60.0, 110.0, 40.0, 40.0);
    let xmax = series
        .iter()
        .flat_map(|s| s.1.iter().map(|p| p.0))
        .fold(1e-9, f64::max);
    let ymax = series
        .iter()
        .flat_map(|s| s.1.iter().map(|p| p.1))
        .fold(1e-9, f64::max)
        * 1.05;
    let x = |v: f64| l + v / xmax * (w - l - r);
    let y = |v: f64| h - b - v / ymax * (h - t - b);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{l}\" y=\"24\" font-size=\"15\">{}</text>\n\
         <line x1=\"{l}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n\
         <line x1=\"{l}\" y1=\"{t}\" x2=\"{l}\" y2=\"{}\" stroke=\"black\"/>\n\
         <text x=\"{}\" y=\"{}\">time (s)</text>\n\
         <text x=\"12\" y=\"{}\" transform=\"rotate(-90 12 {})\">{}</text>\n",
        esc(title),
        h - b,
        w - r,
        h - b,
        h - b,
        (w - r) / 2.0,
        h - 8.0,
        h / 2.0,
        h / 2.0,
        esc(ylabel)
    );
    for k in 0..=4 {
        let v = ymax * f64::from(k) / 4.0;
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{v:.2}</text>",
            l - 4.0,
            y(v) + 4.0
        );
        let xv = xmax * f64::from(k) / 4.0;
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{xv:.0}</text>",
            x(xv),
            h - b + 14.0
        );
    }
    for (i, (name, pts)) in series.iter().enumerate() {
        let c = COLORS[i % COLORS.len()];
        let path: Vec<String> = pts
            .iter()
            .map(|&(a, v)| format!("{:.1},{:.1}", x(a), y(v)))
            .collect();
        let _ = writeln!(
            s,
            "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"1.5\" points=\"{}\"/>\n\
             <text x=\"{}\" y=\"{}\" fill=\"{c}\">{}</text>",
            path.join(" "),
            w - r + 8.0,
            t + 14.0 * i as f64,
            esc(name)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// A bar chart, one bar per (name, value).
fn bar_svg(title: &str, unit: &str, bars: &[(String, f64)]) -> String {
    let (w, h, l, t, b) = (760.0, 360.0, 60.0, 40.0, 40.0);
    let vmax = bars.iter().map(|x| x.1).fold(1e-9, f64::max) * 1.1;
    let bw = (w - l - 20.0) / bars.len().max(1) as f64;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{l}\" y=\"24\" font-size=\"15\">{}</text>\n\
         <line x1=\"{l}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n",
        esc(title),
        h - b,
        w - 20.0,
        h - b
    );
    for (i, (name, v)) in bars.iter().enumerate() {
        let bh = v / vmax * (h - t - b);
        let x0 = l + bw * i as f64 + bw * 0.15;
        let _ = writeln!(
            s,
            "<rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"{}\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"10\">{}</text>\n\
             <text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            h - b - bh,
            bw * 0.7,
            COLORS[i % COLORS.len()],
            x0 + bw * 0.35,
            h - b - bh - 3.0,
            esc(&format!("{}{unit}", human_plain(*v))),
            x0 + bw * 0.35,
            h - b + 14.0,
            esc(name)
        );
    }
    s.push_str("</svg>\n");
    s
}

fn human_plain(v: f64) -> String {
    if v >= 1e3 {
        human(v)
    } else if v >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn write_svgs(dir: &Path, out: &[Outcome]) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let lines = |f: fn(&(f64, f64, f64)) -> f64| -> Vec<(String, Vec<(f64, f64)>)> {
        out.iter()
            .map(|o| {
                (
                    o.scheduler.clone(),
                    o.series.iter().map(|p| (p.0, f(p))).collect(),
                )
            })
            .collect()
    };
    let bars = |f: fn(&Outcome) -> f64| -> Vec<(String, f64)> {
        out.iter().map(|o| (o.scheduler.clone(), f(o))).collect()
    };
    let files = [
        (
            "imbalance-max-mean.svg",
            line_svg(
                "Load imbalance: max/mean of active connections per weight",
                "max/mean",
                &lines(|p| p.1),
            ),
        ),
        (
            "imbalance-cv.svg",
            line_svg(
                "Load imbalance: coefficient of variation of active connections per weight",
                "cv",
                &lines(|p| p.2),
            ),
        ),
        (
            "decisions-per-second.svg",
            bar_svg(
                "Decisions per second (with connection accounting)",
                "",
                &bars(|o| o.decisions_per_sec),
            ),
        ),
        (
            "moved-on-leave.svg",
            bar_svg(
                "Clients moved when a server leaves (%)",
                "%",
                &bars(|o| o.moved_on_leave.unwrap_or(0.0) * 100.0),
            ),
        ),
        (
            "moved-on-join.svg",
            bar_svg(
                "Clients moved when a server joins (%)",
                "%",
                &bars(|o| o.moved_on_join.unwrap_or(0.0) * 100.0),
            ),
        ),
        (
            "persistence-hits.svg",
            bar_svg(
                "Returning clients sent to the same server (%)",
                "%",
                &bars(|o| o.persistence_hits * 100.0),
            ),
        ),
    ];
    let mut written = Vec::new();
    for (name, svg) in files {
        let p = dir.join(name);
        std::fs::write(&p, svg).with_context(|| format!("write {}", p.display()))?;
        written.push(p);
    }
    Ok(written)
}

impl Args {
    /// Run the benchmark.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        if self.servers == 0 {
            bail!("--servers must be at least 1");
        }
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let weights = weights(self.servers, &mut rng);
        let (name, arrivals) = match &self.csv {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let shown = path.display().to_string();
                let arrivals = parse_csv(&shown, &text, self.targets)?;
                (
                    format!("workload: {shown}, {} connections", arrivals.len()),
                    arrivals,
                )
            }
            None => {
                let arrivals = synthetic(&self, &mut rng)?;
                (
                    format!(
                        "workload: synthetic, {} connections, Poisson {}/s, Pareto(1.5) durations mean {} s, {} clients",
                        self.conns, self.rate, self.mean_duration, self.clients
                    ),
                    arrivals,
                )
            }
        };
        let span = arrivals.last().map_or(0, |a| a.t_ns);
        let failure =
            (!self.no_failure && self.servers > 1).then(|| (span / 10 * 4, span / 10 * 7));
        let mut name = format!(
            "{name}; {} servers, weights {:?}{}{}; seed {}",
            self.servers,
            weights,
            if failure.is_some() {
                "; server 0 fails at 40% and returns at 70%"
            } else {
                ""
            },
            if self.persistence > 0 {
                format!("; persistence {} s", self.persistence)
            } else {
                String::new()
            },
            self.seed
        );
        if self.targets > 1 {
            let _ = write!(name, "; {} target addresses", self.targets);
        }
        let w = Workload {
            name,
            arrivals,
            weights,
            failure,
        };
        let algs = if self.schedulers.is_empty() {
            Algorithm::ALL.to_vec()
        } else {
            self.schedulers.clone()
        };
        let total = (w.arrivals.len() * algs.len()) as u64;
        let bar = if std::io::stderr().is_terminal() && total >= 200_000 {
            let b = indicatif::ProgressBar::new(total);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{msg:>6} [{bar:40}] {pos}/{len} decisions, {eta} left",
            ) {
                b.set_style(style.progress_chars("=> "));
            }
            b
        } else {
            indicatif::ProgressBar::hidden()
        };
        let mut out = Vec::new();
        for alg in algs {
            bar.set_message(alg.to_string());
            out.push(simulate(alg, &w, &self, &bar));
        }
        bar.finish_and_clear();
        if self.json {
            let v = serde_json::json!({ "workload": w.name, "results": out });
            println!("{}", serde_json::to_string_pretty(&v)?);
        } else {
            print!("{}", table(&w, &out));
        }
        if let Some(dir) = &self.svg {
            for p in write_svgs(dir, &out)? {
                eprintln!("wrote {}", p.display());
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_errors_name_the_line() {
        let e = parse_csv("c.csv", "time,client,duration\n0,a,1\n1,b\n", 1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "c.csv:3: expected 3 fields (time,client,duration), found 2"
        );
        let e = parse_csv("c.csv", "0,a,1\n0.5,b,x\n", 1).unwrap_err();
        assert!(e.to_string().starts_with("c.csv:2: duration \"x\""), "{e}");
        let e = parse_csv("c.csv", "2,a,1\n1,b,1\n", 1).unwrap_err();
        assert!(
            e.to_string().starts_with("c.csv:2: time 1 is before"),
            "{e}"
        );
        let e = parse_csv("c.csv", "time,client,duration\n", 1).unwrap_err();
        assert!(e.to_string().contains("no connections"), "{e}");
        let ok = parse_csv("c.csv", "# comment\n0,10.0.0.1,1.5\n\n0.25,alice,0\n", 1).unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[0].client, "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(ok[1].t_ns, 250_000_000);
        assert_eq!(ok[1].client, name_addr("alice"));
    }

    #[test]
    fn imbalance_of_an_even_spread_is_one() {
        let mut s = Scheduler::new(SchedConfig::new(Algorithm::Rr)).unwrap();
        let a = s.add_dest(server_spec(0, 1)).unwrap();
        let b = s.add_dest(server_spec(1, 2)).unwrap();
        s.on_conn_open(a).unwrap();
        s.on_conn_open(b).unwrap();
        s.on_conn_open(b).unwrap();
        let (_, max_mean, cv) = sample(&s, 0);
        assert!((max_mean - 1.0).abs() < 1e-12 && cv.abs() < 1e-12);
        s.on_conn_open(a).unwrap();
        // a: 2/1, b: 2/2; total 4 over weight 3: max/mean = 2 / (4/3) = 1.5.
        let (_, max_mean, _) = sample(&s, 0);
        assert!((max_mean - 1.5).abs() < 1e-12);
    }
}
