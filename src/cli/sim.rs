//! `piranha sim`: the seeded simulator — two routers, real servers and clients on a simulated
//! network, faults drawn from the seed, invariants judged every step.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant as WallInstant;

use anyhow::Context as _;
use piranha_sim::faults::{fmt_secs, parse_duration};
use piranha_sim::{FaultMode, Outcome, Schedule, SimConfig};

/// `piranha sim`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The lvs.cf to simulate.
    #[arg(
        short = 'c',
        long = "config",
        value_name = "FILE",
        default_value = "examples/lvs.cf"
    )]
    config: PathBuf,
    /// Run this one seed.
    #[arg(long, conflicts_with = "seeds")]
    seed: Option<u64>,
    /// Run seeds 0..N on all cores.
    #[arg(long, value_name = "N")]
    seeds: Option<u64>,
    /// Simulated length of the safety phase (a liveness phase follows).
    #[arg(long, default_value = "10m", value_parser = parse_duration_arg)]
    duration: piranha_engine::time::Duration,
    /// swarm (each seed picks its own fault mix), none, or a comma-separated list of classes.
    #[arg(long, default_value = "swarm")]
    faults: String,
    /// Run exactly this fault schedule (as printed after a failure), with --seed.
    #[arg(long, conflicts_with = "seeds")]
    schedule: Option<String>,
    /// Print the timeline, one line per event.
    #[arg(long)]
    trace: bool,
    /// Print the outcome(s) as JSON.
    #[arg(long)]
    json: bool,
    /// Write an SVG timeline of the (single) seed.
    #[arg(long, value_name = "FILE", conflicts_with = "seeds")]
    timeline: Option<PathBuf>,
    /// Worker threads for --seeds (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

fn parse_duration_arg(s: &str) -> Result<piranha_engine::time::Duration, String> {
    parse_duration(s)
}

impl Args {
    fn reproduce(&self, seed: u64, schedule: Option<&str>) -> String {
        let mut s = format!(
            "piranha sim -c {} --seed {seed} --duration {} --faults {}",
            self.config.display(),
            fmt_secs(self.duration),
            self.faults
        );
        if let Some(sched) = schedule {
            s.push_str(&format!(" --schedule '{sched}'"));
        }
        s
    }

    /// Run and report; exit 1 on any violation.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let Some(parsed) = super::load(&self.config, super::Load::Literal)? else {
            return Ok(ExitCode::FAILURE);
        };
        let names = parsed.config.unresolved_host_names();
        if !names.is_empty() {
            anyhow::bail!(
                "{}: the simulator needs literal IP addresses, not host names (it resolves nothing): {}",
                self.config.display(),
                names.join(", ")
            );
        }
        let mut cfg = SimConfig::from_lvs_cf(&parsed.config)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("{} cannot drive a director", self.config.display()))?;
        cfg.duration = self.duration;
        cfg.faults = FaultMode::parse(&self.faults).map_err(anyhow::Error::msg)?;
        if let Some(s) = &self.schedule {
            let schedule: Schedule = s.parse().map_err(anyhow::Error::msg)?;
            cfg.faults = FaultMode::Exact(schedule);
        }
        piranha_sim::validate(&cfg).map_err(anyhow::Error::msg)?;
        let wall = WallInstant::now();
        let (outcomes, n) = match self.seeds {
            Some(n) => {
                let threads = self
                    .threads
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |p| p.get()));
                (piranha_sim::run_seeds(&cfg, 0..n, threads), n)
            }
            None => {
                cfg.trace = self.trace;
                cfg.timeline = self.timeline.is_some();
                let seed = self.seed.unwrap_or(0);
                (vec![piranha_sim::run_seed(&cfg, seed)], 1)
            }
        };
        let wall = wall.elapsed();
        if self.trace {
            for o in &outcomes {
                for line in &o.trace {
                    println!("{line}");
                }
            }
        }
        if let (Some(path), Some(o)) = (&self.timeline, outcomes.first()) {
            if let Some(t) = &o.timeline {
                let title = format!("piranha sim -c {} --seed {}", self.config.display(), o.seed);
                std::fs::write(path, piranha_sim::svg(t, &title))
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
        }
        let outage = piranha_sim::outage_summary(&outcomes);
        if self.json {
            let doc = serde_json::json!({ "outcomes": outcomes, "outage": outage });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        let failing: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| !o.violations.is_empty())
            .collect();
        let sim_ns: u64 = outcomes.iter().map(|o| o.sim_time_ns).sum();
        let events: u64 = outcomes.iter().map(|o| o.stats.engine_events()).sum();
        if !self.json {
            if n == 1 {
                let o = &outcomes[0];
                let s = &o.stats;
                println!(
                    "seed {}: {} simulated, {} takeovers, {} engine events; connections {} ok, {} failed ({} during faults)",
                    o.seed,
                    fmt_secs(piranha_engine::time::Duration::from_nanos(o.sim_time_ns)),
                    s.takeovers,
                    s.engine_events(),
                    s.connections_ok,
                    s.connections_failed,
                    s.connections_failed_during_faults
                );
                println!("faults: {}", o.schedule);
                for f in o.outages.iter().filter(|f| f.outage_ns > 0) {
                    println!(
                        "outage {} after {} at {}",
                        fmt_secs(piranha_engine::time::Duration::from_nanos(f.outage_ns)),
                        f.fault,
                        fmt_secs(piranha_engine::time::Duration::from_nanos(f.at_ns)),
                    );
                }
            } else {
                let failed: u64 = outcomes.iter().map(|o| o.stats.connections_failed).sum();
                let ok: u64 = outcomes.iter().map(|o| o.stats.connections_ok).sum();
                println!(
                    "{events} engine events ({:.0}/s wall); connections {ok} ok, {failed} failed",
                    events as f64 / wall.as_secs_f64().max(1e-9)
                );
            }
        }
        if !self.json && n > 1 {
            print!("{}", outage_table(&outage));
        }
        for o in &failing {
            let v = &o.violations[0];
            eprintln!(
                "seed {}: violation {} at {}: {}",
                o.seed,
                v.invariant,
                fmt_secs(piranha_engine::time::Duration::from_nanos(v.at_ns)),
                v.detail
            );
            eprintln!(
                "reproduce: {}",
                self.reproduce(o.seed, self.schedule.as_deref())
            );
        }
        if let Some(o) = failing.first() {
            let (schedule, shrunk) = piranha_sim::shrink(&cfg, o, 200);
            if let Some(v) = shrunk.violations.first() {
                eprintln!(
                    "shrunk seed {}: {} fault(s), {} at {}: {schedule}",
                    o.seed,
                    schedule.0.len(),
                    v.invariant,
                    fmt_secs(piranha_engine::time::Duration::from_nanos(v.at_ns)),
                );
                eprintln!(
                    "reproduce: {}",
                    self.reproduce(o.seed, Some(&schedule.to_string()))
                );
            }
        }
        let summary = format!(
            "sim: seeds={n} violations={} sim_time={} wall={:.2}s",
            failing.len(),
            fmt_secs(piranha_engine::time::Duration::from_nanos(sim_ns)),
            wall.as_secs_f64()
        );
        // With --json, stdout is the JSON document alone.
        if self.json {
            eprintln!("{summary}");
        } else {
            println!("{summary}");
        }
        if failing.is_empty() {
            Ok(ExitCode::SUCCESS)
        } else {
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The per-class outage table (`piranha sim --seeds N`).
fn outage_table(rows: &[piranha_sim::ClassOutage]) -> String {
    use std::fmt::Write as _;
    let ms = |ns: u64| format!("{:.0}", ns as f64 / 1e6);
    let mut s = format!(
        "client-visible outage per fault (simulated; probe every {} ms, fault to first success):\n",
        piranha_sim::outage::PROBE_INTERVAL.as_millis()
    );
    let _ = writeln!(
        s,
        "  {:<13} {:>6} {:>7} {:>9} {:>9} {:>9} {:>7} {:>9}",
        "class", "faults", "outage", "p50 ms", "p99 ms", "max ms", "judged", "bound ms"
    );
    for r in rows {
        let _ = writeln!(
            s,
            "  {:<13} {:>6} {:>7} {:>9} {:>9} {:>9} {:>7} {:>9}",
            r.class,
            r.faults,
            r.with_outage,
            ms(r.p50_ns),
            ms(r.p99_ns),
            ms(r.max_ns),
            r.judged,
            r.max_bound_ns.map_or_else(|| "-".to_string(), ms)
        );
    }
    s
}
