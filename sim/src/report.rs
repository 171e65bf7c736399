//! What a run leaves behind: counters, the trace (one line per event, deterministic), the
//! timeline data and its SVG rendering.

use std::fmt::Write as _;

use piranha_engine::time::{Duration, Instant};

use crate::check::Violation;
use crate::faults::Schedule;

/// Counters of one run.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Steps of the event loop (events + timers).
    pub steps: u64,
    /// Director timers fired.
    pub timers: u64,
    /// Director inputs delivered.
    pub inputs: u64,
    /// Director outputs executed.
    pub outputs: u64,
    /// Heartbeat and witness datagrams sent.
    pub datagrams: u64,
    /// Takeovers (either router).
    pub takeovers: u64,
    /// Client connections served.
    pub connections_ok: u64,
    /// Client connections that failed or were reset.
    pub connections_failed: u64,
    /// Of those, failed while a fault was active.
    pub connections_failed_during_faults: u64,
}

impl Stats {
    pub(crate) fn count_connection(&mut self, ok: bool, faulty: bool) {
        if ok {
            self.connections_ok += 1;
        } else {
            self.connections_failed += 1;
            if faulty {
                self.connections_failed_during_faults += 1;
            }
        }
    }

    /// Engine events: every director input, timer and output.
    pub fn engine_events(&self) -> u64 {
        self.inputs + self.timers + self.outputs
    }
}

/// The result of one seed.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Outcome {
    /// The seed.
    pub seed: u64,
    /// The fault schedule that ran (the `--schedule` text).
    pub schedule: String,
    /// Broken invariants (the run stops at the first).
    pub violations: Vec<Violation>,
    /// Counters.
    pub stats: Stats,
    /// Every fault's client-visible outage (the probe client's view), in start order.
    pub outages: Vec<crate::outage::FaultOutage>,
    /// Simulated time covered, nanoseconds.
    pub sim_time_ns: u64,
    /// The trace, when asked for.
    #[serde(skip)]
    pub trace: Vec<String>,
    /// The timeline, when asked for.
    #[serde(skip)]
    pub timeline: Option<Timeline>,
}

/// Router lanes, client view, faults and verdicts over time.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    /// (time, state of r0 and r1: A active, B backup, D down, P paused).
    pub states: Vec<(Instant, [char; 2])>,
    /// (time, router client0 reaches the first VIP at).
    pub seen: Vec<(Instant, Option<usize>)>,
    /// (start, end, fault text).
    pub faults: Vec<(Instant, Option<Instant>, String)>,
    /// (time, router, real server, up).
    pub verdicts: Vec<(Instant, usize, String, bool)>,
    /// End of the run.
    pub end: Instant,
    /// When the heal happened.
    pub heal: Option<Instant>,
}

pub(crate) struct Recorder {
    trace: Option<Vec<String>>,
    timeline: Option<Timeline>,
    fault_text: Vec<String>,
}

impl Recorder {
    pub(crate) fn new(trace: bool, timeline: bool) -> Recorder {
        Recorder {
            trace: trace.then(Vec::new),
            timeline: timeline.then(Timeline::default),
            fault_text: Vec::new(),
        }
    }

    pub(crate) fn set_schedule(&mut self, s: &Schedule) {
        self.fault_text = s.0.iter().map(|f| f.kind.to_string()).collect();
    }

    /// Record one trace line (built only when tracing).
    pub(crate) fn trace(&mut self, at: Instant, line: impl FnOnce() -> String) {
        if let Some(t) = self.trace.as_mut() {
            let ns = at.as_nanos();
            t.push(format!(
                "{:>5}.{:06} {}",
                ns / 1_000_000_000,
                (ns % 1_000_000_000) / 1000,
                line()
            ));
        }
    }

    pub(crate) fn timeline_on(&self) -> bool {
        self.timeline.is_some()
    }

    pub(crate) fn sample(&mut self, at: Instant, states: [char; 2], seen: Option<usize>) {
        if let Some(t) = self.timeline.as_mut() {
            if t.states.last().is_none_or(|(_, s)| *s != states) {
                t.states.push((at, states));
            }
            if t.seen.last().is_none_or(|(_, s)| *s != seen) {
                t.seen.push((at, seen));
            }
        }
    }

    pub(crate) fn fault_edge(&mut self, at: Instant, idx: usize, start: bool) {
        let text = self.fault_text.get(idx).cloned().unwrap_or_default();
        if let Some(t) = self.timeline.as_mut() {
            if start {
                t.faults.push((at, None, text));
            } else if let Some(f) = t
                .faults
                .iter_mut()
                .rev()
                .find(|f| f.1.is_none() && f.2 == text)
            {
                f.1 = Some(at);
            }
        }
    }

    pub(crate) fn verdict(&mut self, at: Instant, r: usize, server: &str, up: bool) {
        if let Some(t) = self.timeline.as_mut() {
            t.verdicts.push((at, r, server.to_string(), up));
        }
    }

    pub(crate) fn finish(
        &mut self,
        end: Instant,
        heal: Instant,
    ) -> (Vec<String>, Option<Timeline>) {
        if let Some(t) = self.timeline.as_mut() {
            t.end = end;
            t.heal = Some(heal);
        }
        (self.trace.take().unwrap_or_default(), self.timeline.take())
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Draw the timeline as an SVG: one lane per router (active / backup / down / paused), the VIP
/// as client0 reaches it, one lane per fault, real-server verdicts of each router.
pub fn svg(t: &Timeline, title: &str) -> String {
    const W: f64 = 1200.0;
    const LEFT: f64 = 150.0;
    const LANE: f64 = 22.0;
    let end = t.end.as_nanos().max(1) as f64;
    let x = |i: Instant| LEFT + (W - LEFT - 10.0) * (i.as_nanos() as f64 / end);
    let mut servers: Vec<String> = t.verdicts.iter().map(|v| v.2.clone()).collect();
    servers.sort();
    servers.dedup();
    let lanes = 3 + t.faults.len() + servers.len() * 2;
    let h = 40.0 + LANE * lanes as f64 + 30.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h}" font-family="monospace" font-size="11">"#
    );
    let _ = writeln!(s, r#"<text x="4" y="14">{}</text>"#, xml_escape(title));
    let mut y = 30.0;
    let label = |s: &mut String, y: f64, text: &str| {
        let _ = writeln!(
            s,
            r#"<text x="4" y="{}">{}</text>"#,
            y + 14.0,
            xml_escape(text)
        );
    };
    let rect = |s: &mut String, x0: f64, x1: f64, y: f64, color: &str, tip: &str| {
        let _ = writeln!(
            s,
            r#"<rect x="{x0:.1}" y="{y:.1}" width="{:.1}" height="{}" fill="{color}"><title>{}</title></rect>"#,
            (x1 - x0).max(0.5),
            LANE - 4.0,
            xml_escape(tip)
        );
    };
    for r in 0..2 {
        label(&mut s, y, &format!("r{r} {}", ["primary", "backup"][r]));
        for (k, (at, st)) in t.states.iter().enumerate() {
            let next = t.states.get(k + 1).map_or(t.end, |n| n.0);
            let (color, name) = match st[r] {
                'A' => ("#2a9d4b", "active"),
                'B' => ("#9db8d9", "backup"),
                'P' => ("#e0a030", "paused"),
                _ => ("#c33", "down"),
            };
            rect(
                &mut s,
                x(*at),
                x(next),
                y,
                color,
                &format!("r{r} {name} from {at}"),
            );
        }
        y += LANE;
    }
    label(&mut s, y, "VIP via client0");
    for (k, (at, seen)) in t.seen.iter().enumerate() {
        let next = t.seen.get(k + 1).map_or(t.end, |n| n.0);
        let (color, name) = match seen {
            Some(0) => ("#2a9d4b", "r0"),
            Some(_) => ("#6a4c93", "r1"),
            None => ("#ddd", "unresolved"),
        };
        rect(
            &mut s,
            x(*at),
            x(next),
            y,
            color,
            &format!("client0 → {name} from {at}"),
        );
    }
    y += LANE;
    for (start, stop, text) in &t.faults {
        label(&mut s, y, text);
        let stop = stop.unwrap_or(t.end);
        rect(
            &mut s,
            x(*start),
            x(stop).max(x(*start) + 2.0),
            y,
            "#f28c28",
            &format!("{text} {start}..{stop}"),
        );
        y += LANE;
    }
    for server in &servers {
        for r in 0..2 {
            label(&mut s, y, &format!("{server} @r{r}"));
            let mine: Vec<_> = t
                .verdicts
                .iter()
                .filter(|v| v.1 == r && &v.2 == server)
                .collect();
            for (k, v) in mine.iter().enumerate() {
                let next = mine.get(k + 1).map_or(t.end, |n| n.0);
                let color = if v.3 { "#2a9d4b" } else { "#c33" };
                rect(
                    &mut s,
                    x(v.0),
                    x(next),
                    y,
                    color,
                    &format!("{server} {} at {}", if v.3 { "up" } else { "down" }, v.0),
                );
            }
            y += LANE;
        }
    }
    if let Some(heal) = t.heal {
        let hx = x(heal);
        let _ = writeln!(
            s,
            r#"<line x1="{hx:.1}" y1="24" x2="{hx:.1}" y2="{y}" stroke="black" stroke-dasharray="4"/><text x="{:.1}" y="{}">heal</text>"#,
            hx + 2.0,
            y + 12.0
        );
    }
    let secs = Duration::from_nanos(t.end.as_nanos()).as_secs();
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="{}">0s … {secs}s</text>"#,
        y + 26.0
    );
    s.push_str("</svg>\n");
    s
}

/// Client-visible outage of one fault class over many runs (see [`crate::outage`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ClassOutage {
    /// The fault class (`startup` for both routers' cold start).
    pub class: &'static str,
    /// Faults of this class that ran.
    pub faults: usize,
    /// Of those, with any failed probe.
    pub with_outage: usize,
    /// Median outage, nanoseconds (nearest rank).
    pub p50_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// Worst.
    pub max_ns: u64,
    /// Faults `outage-bounded` judged (isolated, in a known state).
    pub judged: usize,
    /// The largest bound it held them to.
    pub max_bound_ns: Option<u64>,
}

fn rank(sorted: &[u64], pct: u64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let n = sorted.len() as u64;
    // Nearest rank: the smallest value with at least pct % of the values at or below it.
    let k = (pct * n).div_ceil(100).clamp(1, n);
    sorted[(k - 1) as usize]
}

/// Per-class p50/p99/max of the outages of `outcomes`, classes in [`crate::faults::CLASSES`]
/// order (startup first), only the classes that ran.
pub fn outage_summary(outcomes: &[Outcome]) -> Vec<ClassOutage> {
    let classes = std::iter::once("startup").chain(crate::faults::CLASSES.iter().copied());
    classes
        .filter_map(|class| {
            let mine: Vec<&crate::outage::FaultOutage> = outcomes
                .iter()
                .flat_map(|o| o.outages.iter())
                .filter(|f| f.class == class)
                .collect();
            if mine.is_empty() {
                return None;
            }
            let mut v: Vec<u64> = mine.iter().map(|f| f.outage_ns).collect();
            v.sort_unstable();
            Some(ClassOutage {
                class,
                faults: v.len(),
                with_outage: v.iter().filter(|x| **x > 0).count(),
                p50_ns: rank(&v, 50),
                p99_ns: rank(&v, 99),
                max_ns: v.last().copied().unwrap_or(0),
                judged: mine.iter().filter(|f| f.bound_ns.is_some()).count(),
                max_bound_ns: mine.iter().filter_map(|f| f.bound_ns).max(),
            })
        })
        .collect()
}
