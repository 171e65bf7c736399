//! The probe client: what a client sees across faults. Every [`PROBE_INTERVAL`] one more client
//! host on the public segment (its own ARP cache, fed the same gratuitous ARP frames as client 0,
//! its own seeded picks, so the other clients' runs are unchanged) asks every VIP whether a
//! request would succeed now: it reaches the router its cache names, that router is up,
//! reachable and holds the VIP, its kernel table has a destination of weight > 0 whose real
//! server serves, and none of weight > 0 whose real server fails (a request could land there).
//!
//! A run of failed probes is an **outage**; it is charged to the last fault edge (start or end)
//! at or before its first failed probe, and a fault's outage is the time from that edge to the
//! first success after it (summed over the outages charged to the fault). The run's
//! [`FaultOutage`]s give the per-class p50/p99/max that `piranha sim` prints.
//!
//! The `outage-bounded` invariant judges the faults whose effect is known in isolation (the
//! issue's goals): stopping, killing or crashing the active router, and a real server failing,
//! when nothing else is going on (see [`Probe::judge_start`]).

use std::net::{IpAddr, Ipv4Addr};

use piranha_engine::time::{Duration, Instant};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use crate::clients::{Client, LOCKTIME, REACHABLE};
use crate::faults::{Fault, FaultKind};
use crate::world::World;

/// How often the probe client asks (50 requests per second per VIP).
pub const PROBE_INTERVAL: Duration = Duration::from_millis(20);

/// One fault's client-visible outage.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FaultOutage {
    /// The fault class (`crash`, `stop`...; `startup` for the cold start of both routers).
    pub class: &'static str,
    /// The fault as the schedule prints it.
    pub fault: String,
    /// When it started, nanoseconds since the start of the run.
    pub at_ns: u64,
    /// Fault to first success after it, summed over the outages charged to it (0: none seen).
    pub outage_ns: u64,
    /// The bound `outage-bounded` held it to (None: not judged, e.g. other faults around).
    pub bound_ns: Option<u64>,
}

/// A fault edge an outage may be charged to.
#[derive(Clone, Copy, Debug)]
struct Edge {
    at: Instant,
    /// Index into [`Probe::outages`].
    record: usize,
}

/// The bound a judged fault is held to.
#[derive(Clone, Copy, Debug)]
struct Judged {
    record: usize,
    at: Instant,
    bound: Duration,
    /// Until when no other fault edge may happen for the judgement to stand.
    quiet_until: Instant,
}

pub(crate) struct Probe {
    client: Client,
    rng: ChaCha8Rng,
    /// Failing since (the first failed probe of the current outage) and the edge it is charged
    /// to, with whether that edge was already charged (only its first outage counts from it).
    failing: Option<(Instant, Option<usize>)>,
    edges: Vec<Edge>,
    charged: Vec<bool>,
    pub outages: Vec<FaultOutage>,
    judged: Vec<Judged>,
    /// The last fault edge of any fault (judgements need quiet around them).
    last_edge: Instant,
    /// Per schedule index, its record in `outages` (once started).
    fault_records: Vec<Option<usize>>,
    /// Something in the world may have changed since the last evaluation (a step ran, an ARP
    /// frame arrived); else the last answer stands until an ARP entry expires.
    pub dirty: bool,
    /// When the probe host's first ARP entry expires (re-resolution may pick another router).
    fresh_until: Instant,
    /// The last evaluation's answer.
    last_ok: bool,
    /// The next round.
    pub next_at: Instant,
}

/// Class name of a fault kind (the `--faults` words).
pub(crate) fn class_of(kind: &FaultKind) -> &'static str {
    match kind {
        FaultKind::Crash(_) => "crash",
        FaultKind::DaemonCrash(_) => "daemon-crash",
        FaultKind::Stop(_) => "stop",
        FaultKind::Pause(_) => "pause",
        FaultKind::Partition { from: None, .. } => "partition",
        FaultKind::Partition { from: Some(_), .. } => "asymmetric",
        FaultKind::Isolate(_) => "isolate",
        FaultKind::Loss(_) => "loss",
        FaultKind::Delay(_) => "delay",
        FaultKind::Duplicate(_) => "duplicate",
        FaultKind::Reorder(_) => "reorder",
        FaultKind::Drift { .. } => "drift",
        FaultKind::ServerFail(_) => "server-fail",
        FaultKind::ServerSlow(_) => "server-slow",
        FaultKind::ServerFlap { .. } => "server-flap",
        FaultKind::WitnessFail => "witness-fail",
        FaultKind::Reload(_) => "reload",
        FaultKind::IpvsEdit(_) => "ipvs-edit",
    }
}

impl Probe {
    pub(crate) fn new(seed: u64) -> Probe {
        Probe {
            client: Client::default(),
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x0b5e_7a11_c11e_0000),
            failing: None,
            // Both routers' cold start is the first edge.
            edges: vec![Edge {
                at: Instant::ZERO,
                record: 0,
            }],
            charged: vec![false],
            outages: vec![FaultOutage {
                class: "startup",
                fault: "startup".to_string(),
                at_ns: 0,
                outage_ns: 0,
                bound_ns: None,
            }],
            judged: Vec::new(),
            last_edge: Instant::ZERO,
            fault_records: Vec::new(),
            dirty: true,
            fresh_until: Instant::ZERO,
            last_ok: false,
            next_at: Instant::ZERO + PROBE_INTERVAL,
        }
    }

    /// The run ends: an outage still going is charged up to `now`.
    pub(crate) fn finish(&mut self, now: Instant) -> Vec<FaultOutage> {
        self.close(now);
        std::mem::take(&mut self.outages)
    }

    /// The probe succeeds again at `now`: charge the outage to its edge.
    fn close(&mut self, now: Instant) {
        let Some((since, edge)) = self.failing.take() else {
            return;
        };
        if let Some(e) = edge {
            let Edge { at, record } = self.edges[e];
            let from = if self.charged[e] { since } else { at };
            self.charged[e] = true;
            self.outages[record].outage_ns += now.saturating_duration_since(from).as_nanos();
        }
    }

    /// A gratuitous ARP frame reached client 0: the probe host sees it too.
    pub(crate) fn learn(&mut self, now: Instant, frame: &[u8]) {
        let _ = self.client.learn(now, frame);
        self.dirty = true;
    }

    /// A fault starts (`record` = Some(bound) when it is judged) or ends.
    fn edge(&mut self, now: Instant, record: usize) {
        // Another edge inside a judged fault's window (its own end included: the heal may
        // cut a fault short): the outage is no longer the fault's alone.
        for j in &self.judged {
            if now < j.quiet_until {
                self.outages[j.record].bound_ns = None;
            }
        }
        self.judged.clear();
        self.dirty = true;
        self.edges.push(Edge { at: now, record });
        self.charged.push(false);
        self.last_edge = now;
    }
}

impl World {
    /// A fault edge (called before the edge changes the world).
    pub(crate) fn probe_fault_edge(&mut self, idx: usize, start: bool) {
        let now = self.now;
        if !start {
            let record = self.probe.fault_records.get(idx).copied().flatten();
            if let Some(record) = record {
                self.probe.edge(now, record);
            }
            return;
        }
        let f = self.schedule.0[idx].clone();
        let record = self.probe.outages.len();
        let bound = self.outage_bound(&f);
        self.probe.outages.push(FaultOutage {
            class: class_of(&f.kind),
            fault: f.kind.to_string(),
            at_ns: now.as_nanos(),
            outage_ns: 0,
            bound_ns: None,
        });
        if self.probe.fault_records.len() <= idx {
            self.probe.fault_records.resize(idx + 1, None);
        }
        self.probe.fault_records[idx] = Some(record);
        let quiet_before = now.saturating_duration_since(self.probe.last_edge);
        self.probe.edge(now, record);
        if let Some(bound) = bound {
            if quiet_before >= self.settle_time() && f.len >= bound + PROBE_INTERVAL {
                self.probe.outages[record].bound_ns = Some(bound.as_nanos());
                self.probe.judged.retain(|j| j.record != record);
                self.probe.judged.push(Judged {
                    record,
                    at: now,
                    bound,
                    quiet_until: now + bound + PROBE_INTERVAL,
                });
            }
        }
    }

    /// How long the world must have been free of fault edges before a fault is judged: every
    /// router restarted by the last edge is running, has heard its partner and checked its real
    /// servers.
    fn settle_time(&self) -> Duration {
        let timeout = self
            .setup
            .config
            .virtuals
            .iter()
            .filter(|v| v.active)
            .map(|v| v.health.timeout)
            .max()
            .unwrap_or(Duration::ZERO);
        self.setup.deadtime
            + self.setup.keepalive.saturating_mul(2)
            + timeout.saturating_mul(2)
            + Duration::from_secs(1)
    }

    /// The outage a fault may cause on its own (the goals), if it is one this
    /// invariant judges and the world is in the state the bound assumes: exactly one router
    /// active (the one a router fault hits), the other running, unfaulted and (with a hot
    /// standby) running lvs, no other fault active, and the probe succeeding.
    fn outage_bound(&self, f: &Fault) -> Option<Duration> {
        if self.healed || self.probe.failing.is_some() {
            return None;
        }
        // With an arbiter only the witness's own loss is judged: the others wait for leases.
        if self.setup.arbiter && !matches!(f.kind, FaultKind::WitnessFail) {
            return None;
        }
        if self.active_faults.iter().any(|a| *a) {
            return None;
        }
        let active: Vec<usize> = (0..2).filter(|&i| self.routers[i].is_active()).collect();
        let [a] = active[..] else { return None };
        let b = 1 - a;
        let standby = self.routers[b].running()?;
        if standby.is_shut_down() || !standby.pulse().faults().is_empty() {
            return None;
        }
        let keepalive = self.setup.keepalive;
        let slack = Duration::from_millis(100);
        // A client whose ARP entry changed within locktime ignores the takeover's first
        // announcement and takes the next one, one arp_interval later (Linux's rule).
        let arp = self.setup.config.pulse.arp;
        let window = self.setup.deadtime + keepalive + LOCKTIME;
        let locked = self.setup.services.iter().any(|(_, vip)| {
            self.probe.client.age(self.now, *vip).is_some_and(|age| {
                // Updated within locktime before the fault, or expiring (and so re-resolved)
                // before the announcement.
                age < LOCKTIME || age + window > REACHABLE
            })
        });
        if locked && arp.count < 2 {
            return None;
        }
        let arp_extra = if locked { arp.interval } else { Duration::ZERO };
        let takeover = |base: Duration| Some(base + slack + arp_extra);
        match &f.kind {
            // Both routers up and hearing each other: the active one keeps the VIPs while
            // the witness is gone (it cannot be arbitrated, and nobody else may take them).
            // When the witness returns, the lease may go to the partner: a STOPPED hand-over.
            FaultKind::WitnessFail => takeover(keepalive),
            FaultKind::Stop(r) if *r == a => takeover(keepalive.saturating_mul(2)),
            FaultKind::DaemonCrash(r) if *r == a => takeover(keepalive.saturating_mul(2)),
            FaultKind::Crash(r) if *r == a => takeover(self.setup.deadtime + keepalive),
            FaultKind::ServerFail(addr) => {
                // Judged only where another real server (or the sorry server) can take the
                // requests: otherwise the service is down until the server is back.
                let covered = self
                    .setup
                    .config
                    .virtuals
                    .iter()
                    .filter(|v| v.active)
                    .all(|v| {
                        let holds = v.active_servers().any(|s| s.addr == *addr);
                        !holds
                            || v.sorry_server.is_some()
                            || v.active_servers().any(|s| s.addr != *addr && s.weight > 0)
                    });
                if !covered {
                    return None;
                }
                let worst = self
                    .setup
                    .config
                    .virtuals
                    .iter()
                    .filter(|v| v.active && v.active_servers().any(|s| s.addr == *addr))
                    .map(|v| {
                        v.health
                            .timeout
                            .saturating_mul(u64::from(v.health.retries) + 1)
                    })
                    .max()?;
                Some(worst + slack)
            }
            _ => None,
        }
    }

    /// One probe round: ask every VIP, update the outage and judge the bounds.
    pub(crate) fn probe_tick(&mut self) {
        let now = self.now;
        // A flapping real server changes state with no step: always look then.
        let flapping =
            self.schedule.0.iter().enumerate().any(|(i, f)| {
                self.active_faults[i] && matches!(f.kind, FaultKind::ServerFlap { .. })
            });
        let ok = if self.probe.dirty || flapping || now >= self.probe.fresh_until {
            self.probe.dirty = false;
            let mut ok = true;
            for k in 0..self.setup.services.len() {
                let (service, vip) = self.setup.services[k];
                if !self.probe_one(service, vip) {
                    ok = false;
                    break;
                }
            }
            self.probe.fresh_until = if ok {
                let oldest = self
                    .setup
                    .services
                    .iter()
                    .filter_map(|(_, vip)| self.probe.client.age(now, *vip))
                    .max()
                    .unwrap_or(REACHABLE);
                now + REACHABLE.saturating_sub(oldest)
            } else {
                now
            };
            self.probe.last_ok = ok;
            ok
        } else {
            self.probe.last_ok
        };
        match (ok, self.probe.failing) {
            (false, None) => {
                let edge = self.probe.edges.len().checked_sub(1);
                self.probe.failing = Some((now, edge));
            }
            (true, Some(_)) => self.probe.close(now),
            _ => {}
        }
        // Judge: an outage that began inside a judged fault's bound and outlasts it.
        if let Some((since, Some(e))) = self.probe.failing {
            let record = self.probe.edges[e].record;
            let over = self.probe.judged.iter().find(|j| {
                j.record == record
                    && self.probe.outages[record].bound_ns.is_some()
                    && since <= j.at + j.bound
                    && now > j.at + j.bound + PROBE_INTERVAL
            });
            if let Some(j) = over.copied() {
                let detail = format!(
                    "clients failed for {} after {} (bound {})",
                    now - j.at,
                    self.probe.outages[record].fault,
                    j.bound
                );
                self.checker
                    .violate(&mut self.rec, "outage-bounded", now, detail);
            }
        }
    }

    /// Whether a request to `vip` for `service` succeeds now.
    fn probe_one(&mut self, service: piranha_engine::ipvs::ServiceKey, vip: Ipv4Addr) -> bool {
        let addr = IpAddr::V4(vip);
        let (mut holders, mut n) = ([0usize; 2], 0);
        for r in 0..2 {
            let x = &self.routers[r];
            if x.host_up && !x.paused && !self.isolated(r) && x.vips.contains(&addr) {
                holders[n] = r;
                n += 1;
            }
        }
        let pick = self.probe.rng.next_u64();
        let macs = [self.routers[0].mac, self.routers[1].mac];
        let Some(mac) = self
            .probe
            .client
            .resolve(self.now, vip, &holders[..n], &macs, pick)
        else {
            return false;
        };
        let Some(r) = macs.iter().position(|m| *m == mac) else {
            return false;
        };
        let x = &self.routers[r];
        if !x.host_up || x.paused || self.isolated(r) || !x.vips.contains(&addr) {
            return false;
        }
        let Some(entry) = x.kernel.get(&service) else {
            return false;
        };
        let mut serving = false;
        for d in entry.dests.values().filter(|d| d.weight > 0) {
            if !crate::servers::serving(self, d.key()) {
                return false;
            }
            serving = true;
        }
        serving
    }
}
