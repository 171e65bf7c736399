//! The fault model: what goes wrong, to whom, when and for how long — every choice drawn from
//! the seed before the run starts, so a run is (seed, schedule) and a schedule can be printed,
//! shrunk and replayed.

use std::fmt;
use std::net::IpAddr;

use piranha_engine::time::Duration;
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// Which heartbeat path(s) a partition cuts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathSel {
    /// The public path.
    Public,
    /// The private path.
    Private,
    /// Both.
    Both,
}

/// One fault. Router indices: 0 = primary, 1 = backup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// The whole host goes down (kernel table and VIPs lost); it boots again at the end.
    Crash(usize),
    /// Only the daemon dies (host up: heartbeats to it are refused); restarted at the end.
    DaemonCrash(usize),
    /// SIGTERM: the daemon hands over and exits; restarted at the end.
    Stop(usize),
    /// The VM stalls: nothing in, no timers; it resumes at the end with a time jump.
    Pause(usize),
    /// Heartbeats between the routers are cut on these paths; `from: Some(r)` cuts only what
    /// `r` sends (asymmetric).
    Partition {
        /// Paths cut.
        paths: PathSel,
        /// Only this router's outbound datagrams (asymmetric), or both directions.
        from: Option<usize>,
    },
    /// The router reaches nothing (partner, witness, clients, real servers).
    Isolate(usize),
    /// Datagram loss on every path, per mille.
    Loss(u32),
    /// Extra one-way delay on every path.
    Delay(Duration),
    /// Datagram duplication, per mille.
    Duplicate(u32),
    /// Reordering: this per mille of datagrams is held back up to two keepalives.
    Reorder(u32),
    /// The router's clock runs fast or slow by this many parts per million.
    Drift {
        /// Router.
        router: usize,
        /// Rate error.
        ppm: i64,
    },
    /// The real server refuses connections.
    ServerFail(IpAddr),
    /// The real server answers only after the check's timeout.
    ServerSlow(IpAddr),
    /// The real server fails and recovers every `period / 2`.
    ServerFlap {
        /// The real server.
        server: IpAddr,
        /// A full fail + recover cycle.
        period: Duration,
    },
    /// The witness is down (restarted, with a new incarnation, at the end).
    WitnessFail,
    /// A slightly changed lvs.cf is reloaded (a weight changes); the original comes back at the
    /// end.
    Reload(usize),
    /// An operator deletes a destination from this router's kernel table by hand.
    IpvsEdit(usize),
}

/// A fault with its start and length (from the start of the run).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// When it starts.
    pub at: Duration,
    /// How long it lasts (zero for point faults).
    pub len: Duration,
    /// What it is.
    pub kind: FaultKind,
}

/// The whole fault schedule of a run, sorted by start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Schedule(pub Vec<Fault>);

/// Fault classes for `--faults LIST`.
pub const CLASSES: [&str; 18] = [
    "crash",
    "daemon-crash",
    "stop",
    "pause",
    "partition",
    "asymmetric",
    "isolate",
    "loss",
    "delay",
    "duplicate",
    "reorder",
    "drift",
    "server-fail",
    "server-slow",
    "server-flap",
    "witness-fail",
    "reload",
    "ipvs-edit",
];

/// Which faults a run draws from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultMode {
    /// No faults: the clean run.
    None,
    /// Each seed picks its own classes and rates (VOPR's swarm testing).
    Swarm,
    /// Only these classes (names from [`CLASSES`]), all of them.
    List(Vec<String>),
    /// Exactly this schedule (a reproduction or a shrunk case).
    Exact(Schedule),
}

impl FaultMode {
    /// Parse `swarm`, `none` or a comma-separated list of classes.
    pub fn parse(s: &str) -> Result<FaultMode, String> {
        match s {
            "swarm" => Ok(FaultMode::Swarm),
            "none" => Ok(FaultMode::None),
            list => {
                let mut v = Vec::new();
                for c in list.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                    if !CLASSES.contains(&c) {
                        return Err(format!(
                            "unknown fault class {c:?} (known: swarm, none, {})",
                            CLASSES.join(", ")
                        ));
                    }
                    v.push(c.to_string());
                }
                Ok(FaultMode::List(v))
            }
        }
    }
}

/// What the generator needs to know about the world.
#[derive(Clone, Debug)]
pub struct WorldFacts {
    /// Safety-phase length.
    pub duration: Duration,
    /// `keepalive`.
    pub keepalive: Duration,
    /// `deadtime`.
    pub deadtime: Duration,
    /// Whether an arbiter is configured.
    pub arbiter: bool,
    /// Whether a private heartbeat path is configured.
    pub private_path: bool,
    /// The real servers' addresses.
    pub servers: Vec<IpAddr>,
}

fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    if n == 0 {
        0
    } else {
        rng.next_u64() % n
    }
}

fn between(rng: &mut ChaCha8Rng, lo: Duration, hi: Duration) -> Duration {
    let span = hi.saturating_sub(lo).as_millis();
    lo + Duration::from_millis(below(rng, span + 1))
}

/// Draw the schedule of `seed`.
pub fn generate(seed: u64, mode: &FaultMode, facts: &WorldFacts) -> Schedule {
    let classes: Vec<&str> = match mode {
        FaultMode::None => return Schedule::default(),
        FaultMode::Exact(s) => return s.clone(),
        FaultMode::List(l) => l.iter().map(String::as_str).collect(),
        FaultMode::Swarm => Vec::new(),
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_fa17_0000_0000);
    let classes: Vec<&str> = if matches!(mode, FaultMode::Swarm) {
        // Swarm: each class in with probability 1/2, at least one.
        let mut picked: Vec<&str> = CLASSES
            .iter()
            .copied()
            .filter(|_| rng.next_u64() & 1 == 1)
            .collect();
        if picked.is_empty() {
            picked.push(CLASSES[below(&mut rng, CLASSES.len() as u64) as usize]);
        }
        picked
    } else {
        classes
    };
    let classes: Vec<&str> = classes
        .into_iter()
        .filter(|c| *c != "witness-fail" || facts.arbiter)
        .filter(|c| !c.starts_with("server") || !facts.servers.is_empty())
        .collect();
    if classes.is_empty() {
        return Schedule::default();
    }
    // Per-seed rates (swarm): how lossy, how slow.
    let loss = 20 + below(&mut rng, 280) as u32;
    let dup = 20 + below(&mut rng, 200) as u32;
    let reorder = 20 + below(&mut rng, 200) as u32;
    let extra = Duration::from_millis(1 + below(&mut rng, facts.keepalive.as_millis().max(1)));
    let per_10min = 2 + below(&mut rng, 14);
    let count = (per_10min * facts.duration.as_millis() / 600_000).clamp(1, 64);
    let start_min = facts.deadtime + facts.keepalive.saturating_mul(2);
    let end_max = facts.duration.saturating_sub(Duration::from_secs(1));
    let longest = facts.deadtime.saturating_mul(3) + Duration::from_secs(10);
    let mut faults = Vec::with_capacity(count as usize);
    for _ in 0..count {
        if end_max <= start_min {
            break;
        }
        let class = classes[below(&mut rng, classes.len() as u64) as usize];
        let at = between(&mut rng, start_min, end_max);
        let mut len = between(&mut rng, Duration::from_secs(1), longest);
        let router = below(&mut rng, 2) as usize;
        let server = facts
            .servers
            .get(below(&mut rng, facts.servers.len() as u64) as usize)
            .copied();
        let paths = match below(&mut rng, if facts.private_path { 3 } else { 1 }) {
            0 => PathSel::Public,
            1 => PathSel::Private,
            _ => PathSel::Both,
        };
        let kind = match class {
            "crash" => FaultKind::Crash(router),
            "daemon-crash" => FaultKind::DaemonCrash(router),
            "stop" => FaultKind::Stop(router),
            "pause" => {
                // A stall longer than deadtime, most of the time.
                len = between(
                    &mut rng,
                    facts.deadtime.div(2),
                    facts.deadtime.saturating_mul(3),
                );
                FaultKind::Pause(router)
            }
            "partition" => FaultKind::Partition { paths, from: None },
            "asymmetric" => FaultKind::Partition {
                paths,
                from: Some(router),
            },
            "isolate" => FaultKind::Isolate(router),
            "loss" => FaultKind::Loss(loss),
            "delay" => FaultKind::Delay(extra),
            "duplicate" => FaultKind::Duplicate(dup),
            "reorder" => FaultKind::Reorder(reorder),
            "drift" => {
                let ppm = below(&mut rng, 2001) as i64 - 1000;
                len = facts.duration;
                FaultKind::Drift { router, ppm }
            }
            "server-fail" => FaultKind::ServerFail(server.expect("servers checked")),
            "server-slow" => FaultKind::ServerSlow(server.expect("servers checked")),
            "server-flap" => FaultKind::ServerFlap {
                server: server.expect("servers checked"),
                period: between(&mut rng, Duration::from_secs(2), longest),
            },
            "witness-fail" => FaultKind::WitnessFail,
            "reload" => FaultKind::Reload(router),
            "ipvs-edit" => {
                len = Duration::ZERO;
                FaultKind::IpvsEdit(router)
            }
            other => unreachable!("class {other} is listed in CLASSES"),
        };
        faults.push(Fault { at, len, kind });
    }
    faults.sort_by_key(|f| f.at);
    Schedule(faults)
}

/// `72.5s`, `0.001s`.
pub fn fmt_secs(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        let s = format!("{}.{:03}", ms / 1000, ms % 1000);
        format!("{}s", s.trim_end_matches('0'))
    }
}

/// Parse `10m`, `90s`, `1.5s`, `250ms`, `1h`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, scale_ms) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3_600_000.0)
    } else {
        (s, 1000.0)
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("bad duration {s:?} (e.g. 10m, 90s, 250ms)"))?;
    if !(0.0..1e12).contains(&v) {
        return Err(format!("duration out of range: {s:?}"));
    }
    Ok(Duration::from_millis((v * scale_ms).round() as u64))
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = |p: &PathSel| match p {
            PathSel::Public => "public",
            PathSel::Private => "private",
            PathSel::Both => "both",
        };
        match self {
            FaultKind::Crash(r) => write!(f, "crash:r{r}"),
            FaultKind::DaemonCrash(r) => write!(f, "daemon-crash:r{r}"),
            FaultKind::Stop(r) => write!(f, "stop:r{r}"),
            FaultKind::Pause(r) => write!(f, "pause:r{r}"),
            FaultKind::Partition { paths, from: None } => write!(f, "partition:{}", p(paths)),
            FaultKind::Partition {
                paths,
                from: Some(r),
            } => write!(f, "asymmetric:{}:r{r}", p(paths)),
            FaultKind::Isolate(r) => write!(f, "isolate:r{r}"),
            FaultKind::Loss(pm) => write!(f, "loss:{pm}"),
            FaultKind::Delay(d) => write!(f, "delay:{}", fmt_secs(*d)),
            FaultKind::Duplicate(pm) => write!(f, "duplicate:{pm}"),
            FaultKind::Reorder(pm) => write!(f, "reorder:{pm}"),
            FaultKind::Drift { router, ppm } => write!(f, "drift:r{router}:{ppm}"),
            FaultKind::ServerFail(a) => write!(f, "server-fail:{a}"),
            FaultKind::ServerSlow(a) => write!(f, "server-slow:{a}"),
            FaultKind::ServerFlap { server, period } => {
                write!(f, "server-flap:{server}:{}", fmt_secs(*period))
            }
            FaultKind::WitnessFail => write!(f, "witness-fail"),
            FaultKind::Reload(r) => write!(f, "reload:r{r}"),
            FaultKind::IpvsEdit(r) => write!(f, "ipvs-edit:r{r}"),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}@{}+{}",
            self.kind,
            fmt_secs(self.at),
            fmt_secs(self.len)
        )
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        for (i, fault) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{fault}")?;
        }
        Ok(())
    }
}

fn router(s: &str) -> Result<usize, String> {
    match s {
        "r0" => Ok(0),
        "r1" => Ok(1),
        _ => Err(format!("bad router {s:?} (r0 or r1)")),
    }
}

fn paths(s: &str) -> Result<PathSel, String> {
    match s {
        "public" => Ok(PathSel::Public),
        "private" => Ok(PathSel::Private),
        "both" => Ok(PathSel::Both),
        _ => Err(format!("bad path {s:?}")),
    }
}

fn num<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("bad number {s:?}"))
}

impl std::str::FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> Result<Fault, String> {
        let (kind, when) = s
            .split_once('@')
            .ok_or_else(|| format!("{s:?}: expected KIND@START+LEN"))?;
        let (at, len) = when
            .split_once('+')
            .ok_or_else(|| format!("{s:?}: expected KIND@START+LEN"))?;
        let parts: Vec<&str> = kind.split(':').collect();
        let arg = |i: usize| {
            parts
                .get(i)
                .copied()
                .ok_or_else(|| format!("{kind:?}: missing argument"))
        };
        let kind = match parts[0] {
            "crash" => FaultKind::Crash(router(arg(1)?)?),
            "daemon-crash" => FaultKind::DaemonCrash(router(arg(1)?)?),
            "stop" => FaultKind::Stop(router(arg(1)?)?),
            "pause" => FaultKind::Pause(router(arg(1)?)?),
            "partition" => FaultKind::Partition {
                paths: paths(arg(1)?)?,
                from: None,
            },
            "asymmetric" => FaultKind::Partition {
                paths: paths(arg(1)?)?,
                from: Some(router(arg(2)?)?),
            },
            "isolate" => FaultKind::Isolate(router(arg(1)?)?),
            "loss" => FaultKind::Loss(num(arg(1)?)?),
            "delay" => FaultKind::Delay(parse_duration(arg(1)?)?),
            "duplicate" => FaultKind::Duplicate(num(arg(1)?)?),
            "reorder" => FaultKind::Reorder(num(arg(1)?)?),
            "drift" => FaultKind::Drift {
                router: router(arg(1)?)?,
                ppm: num(arg(2)?)?,
            },
            "server-fail" => FaultKind::ServerFail(num(arg(1)?)?),
            "server-slow" => FaultKind::ServerSlow(num(arg(1)?)?),
            "server-flap" => FaultKind::ServerFlap {
                server: num(arg(1)?)?,
                period: parse_duration(arg(2)?)?,
            },
            "witness-fail" => FaultKind::WitnessFail,
            "reload" => FaultKind::Reload(router(arg(1)?)?),
            "ipvs-edit" => FaultKind::IpvsEdit(router(arg(1)?)?),
            other => return Err(format!("unknown fault {other:?}")),
        };
        Ok(Fault {
            at: parse_duration(at)?,
            len: parse_duration(len)?,
            kind,
        })
    }
}

impl std::str::FromStr for Schedule {
    type Err = String;
    fn from_str(s: &str) -> Result<Schedule, String> {
        if s.trim() == "none" {
            return Ok(Schedule::default());
        }
        let mut v: Vec<Fault> = s
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|p| p.trim().parse())
            .collect::<Result<_, _>>()?;
        v.sort_by_key(|f| f.at);
        Ok(Schedule(v))
    }
}
