//! The simulated world: two routers' directors (and a witness), their in-memory kernels, real
//! servers, clients with ARP caches on the public segment, and a seeded network — driven by
//! one event queue keyed by (simulated time, sequence number), single-threaded.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use piranha_engine::director::{Director, DirectorConfig, Input, Output};
use piranha_engine::ipvs::{DestKey, ServiceKey, Table};
use piranha_engine::pulse::witness::{Witness, WitnessConfig};
use piranha_engine::pulse::{self, HeartbeatProtocol, Role};
use piranha_engine::time::{Duration, Instant};
use piranha_engine::wire::arp::{self, Mac};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use crate::check::Checker;
use crate::clients::{Client, KernelPlacer, Placer};
use crate::faults::Schedule;
use crate::outage::{Probe, PROBE_INTERVAL};
use crate::report::{Recorder, Stats};
use crate::SimConfig;

/// Every step at one instant beyond this means a timer that never clears.
const MAX_STEPS_PER_INSTANT: u32 = 100_000;
/// Latency of the in-memory kernel (netlink round trip) and of a healthy probe.
pub(crate) const LOCAL_LATENCY: Duration = Duration::from_micros(100);
/// Base one-way network delay; the seed adds up to as much again.
pub(crate) const BASE_DELAY: Duration = Duration::from_micros(200);
/// Clients open one connection this often.
pub(crate) const CONNECT_INTERVAL: Duration = Duration::from_millis(250);
/// Retry interval of a liveness checkpoint that finds no single active router.
const LIVENESS_RETRY: Duration = Duration::from_millis(100);
/// Number of client hosts on the public segment.
const CLIENTS: usize = 3;

/// A router's clock: `local = anchor_local + (sim - anchor_sim) * (1 + ppm / 1e6)`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Clock {
    anchor_sim: u64,
    anchor_local: u64,
    ppm: i64,
}

impl Clock {
    pub(crate) fn local(&self, sim: Instant) -> Instant {
        let dt = sim.as_nanos().saturating_sub(self.anchor_sim) as i128;
        let scaled = dt * (1_000_000 + self.ppm as i128) / 1_000_000;
        Instant::from_nanos(self.anchor_local + scaled.max(0) as u64)
    }
    /// The first simulated instant at which the local clock reads at least `local`.
    pub(crate) fn sim_of(&self, local: Instant) -> Instant {
        let Some(dl) = local.as_nanos().checked_sub(self.anchor_local) else {
            return Instant::from_nanos(self.anchor_sim);
        };
        let rate = 1_000_000 + self.ppm as i128;
        let dt = (dl as i128 * 1_000_000 + rate - 1) / rate;
        let mut s = self
            .anchor_sim
            .saturating_add(u64::try_from(dt).unwrap_or(u64::MAX / 2));
        // Rounding: never fire before the deadline (bounded: at most two nudges).
        for _ in 0..2 {
            if self.local(Instant::from_nanos(s)) < local {
                s += 1;
            }
        }
        Instant::from_nanos(s)
    }
    pub(crate) fn set_ppm(&mut self, sim: Instant, ppm: i64) {
        let local = self.local(sim);
        *self = Clock {
            anchor_sim: sim.as_nanos(),
            anchor_local: local.as_nanos(),
            ppm,
        };
    }
}

/// One router host.
pub(crate) struct Router {
    pub role: Role,
    /// The daemon (None: not running).
    pub director: Option<Director>,
    /// The host runs (a crashed host answers nothing and loses its kernel state).
    pub host_up: bool,
    pub paused: bool,
    pub kernel: Table,
    pub vips: BTreeSet<IpAddr>,
    pub mac: Mac,
    /// Bumped at every daemon start and crash: results for an older daemon are dropped.
    pub generation: u64,
    pub clock: Clock,
    /// When the running daemon started (simulated time).
    pub started_at: Instant,
    pub resumed_at: Instant,
    /// Local results (kernel, probes) that arrived while paused.
    pub held: Vec<Input>,
    /// The daemon is handing over (SIGTERM): what it sends now says STOPPED.
    pub stopping: bool,
}

impl Router {
    pub(crate) fn running(&self) -> Option<&Director> {
        if self.paused || !self.host_up {
            return None;
        }
        self.director.as_ref()
    }
    pub(crate) fn is_active(&self) -> bool {
        self.running().is_some_and(Director::is_active)
    }
}

pub(crate) struct WitnessSim {
    pub machine: Option<Witness>,
    pub config: WitnessConfig,
    pub address: SocketAddr,
    pub incarnation: u64,
}

pub(crate) enum Ev {
    /// A datagram for a router's heartbeat socket.
    Beat {
        to: usize,
        from: SocketAddr,
        bytes: Vec<u8>,
        /// The sending router (None: the witness) and whether it was handing over.
        sender: Option<(usize, bool)>,
    },
    /// A refusal (ICMP port unreachable) for a send on `path`.
    Refused {
        to: usize,
        generation: u64,
        path: pulse::Path,
    },
    /// A kernel or probe result for a router's daemon.
    Local {
        to: usize,
        generation: u64,
        input: Input,
    },
    /// A request for the witness.
    ToWitness {
        from_router: usize,
        from: SocketAddr,
        bytes: Vec<u8>,
    },
    /// A gratuitous ARP frame reaches a client.
    Arp {
        client: usize,
        frame: [u8; arp::FRAME_LEN],
    },
    FaultStart(usize),
    FaultEnd(usize),
    Connect,
    /// A liveness checkpoint.
    /// A liveness checkpoint (number, retries left while no single router is active).
    Liveness(u8, u8),
}

/// Facts derived from the configuration, fixed for the run.
pub(crate) struct Setup {
    pub config: DirectorConfig,
    pub reloaded: DirectorConfig,
    pub keepalive: Duration,
    pub deadtime: Duration,
    pub arbiter: bool,
    pub servers: Vec<IpAddr>,
    /// (service, VIP) of every active virtual server with an address.
    pub services: Vec<(ServiceKey, Ipv4Addr)>,
    pub vips: Vec<IpAddr>,
}

/// The world of one run.
pub struct World {
    pub(crate) now: Instant,
    pub(crate) setup: Setup,
    pub(crate) routers: [Router; 2],
    pub(crate) witness: Option<WitnessSim>,
    pub(crate) queue: BTreeMap<(Instant, u64), Ev>,
    seq: u64,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) schedule: Schedule,
    pub(crate) active_faults: Vec<bool>,
    pub(crate) clients: Vec<Client>,
    pub(crate) placer: Box<dyn Placer>,
    pub(crate) checker: Checker,
    pub(crate) rec: Recorder,
    pub(crate) stats: Stats,
    pub(crate) probe: Probe,
    pub(crate) healed: bool,
    incarnation: u64,
    seed: u64,
    pub(crate) connects: u64,
    pub(crate) dirty: [bool; 2],
    #[cfg(feature = "mutations")]
    mutation: Option<piranha_engine::mutation::Mutation>,
}

impl World {
    pub(crate) fn new(cfg: &SimConfig, seed: u64, schedule: Schedule, setup: Setup) -> World {
        let router = |role: Role, last: u8| Router {
            role,
            director: None,
            host_up: true,
            paused: false,
            kernel: Table::new(),
            vips: BTreeSet::new(),
            mac: Mac([0x02, 0, 0, 0, 0, last]),
            generation: 0,
            clock: Clock {
                anchor_sim: 0,
                anchor_local: 0,
                ppm: 0,
            },
            started_at: Instant::ZERO,
            resumed_at: Instant::ZERO,
            held: Vec::new(),
            stopping: false,
        };
        let witness = match (&setup.config.pulse.arbiter, &setup.config.pulse.protocol) {
            (Some(a), HeartbeatProtocol::V2(key)) => {
                let config = WitnessConfig {
                    key: key.clone(),
                    max_lease: a.lease,
                    routers: [Role::Primary.node_id(), Role::Backup.node_id()],
                };
                Some(WitnessSim {
                    machine: Some(Witness::new(config.clone(), 1, Instant::ZERO)),
                    config,
                    address: a.address,
                    incarnation: 1,
                })
            }
            _ => None,
        };
        let n = schedule.0.len();
        let mut w = World {
            now: Instant::ZERO,
            routers: [router(Role::Primary, 1), router(Role::Backup, 2)],
            witness,
            queue: BTreeMap::new(),
            seq: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
            schedule,
            active_faults: vec![false; n],
            clients: (0..CLIENTS).map(|_| Client::default()).collect(),
            placer: Box::new(KernelPlacer::new(seed)),
            checker: Checker::new(&setup),
            rec: Recorder::new(cfg.trace, cfg.timeline),
            stats: Stats::default(),
            probe: Probe::new(seed),
            healed: false,
            incarnation: 0,
            seed,
            connects: 0,
            dirty: [true; 2],
            setup,
            #[cfg(feature = "mutations")]
            mutation: cfg.mutation,
        };
        for i in 0..w.schedule.0.len() {
            let f = &w.schedule.0[i];
            let (start, end) = (Instant::ZERO + f.at, Instant::ZERO + f.at + f.len);
            w.push(start, Ev::FaultStart(i));
            w.push(end, Ev::FaultEnd(i));
        }
        w.push(Instant::ZERO + CONNECT_INTERVAL, Ev::Connect);
        w.start_daemon(0);
        w.start_daemon(1);
        w
    }

    pub(crate) fn push(&mut self, at: Instant, ev: Ev) {
        self.seq += 1;
        self.queue.insert((at.max(self.now), self.seq), ev);
    }

    /// Start (or restart) router `i`'s daemon.
    pub(crate) fn start_daemon(&mut self, i: usize) {
        self.incarnation += 1;
        let r = &mut self.routers[i];
        r.generation += 1;
        r.started_at = self.now;
        r.stopping = false;
        r.held.clear();
        let local = r.clock.local(self.now);
        let config = self.setup.config.clone();
        let seed = self.seed.wrapping_mul(31).wrapping_add(i as u64);
        #[cfg(feature = "mutations")]
        let d =
            Director::with_mutation(config, r.role, self.incarnation, seed, local, self.mutation);
        #[cfg(not(feature = "mutations"))]
        let d = Director::new(config, r.role, self.incarnation, seed, local);
        r.director = Some(d.expect("the configuration was validated"));
        self.rec
            .trace(self.now, || format!("r{i}       daemon started"));
        self.drain(i);
    }

    pub(crate) fn stop_daemon(&mut self, i: usize, why: &str) {
        let r = &mut self.routers[i];
        r.director = None;
        r.generation += 1;
        r.held.clear();
        r.stopping = false;
        self.dirty[i] = true;
        self.rec.trace(self.now, || format!("r{i}       {why}"));
    }

    /// Execute router `i`'s outputs, in order.
    pub(crate) fn drain(&mut self, i: usize) {
        self.dirty[i] = true;
        // Bounded: a director emits a finite burst per input.
        for _ in 0..1_000_000 {
            let Some(out) = self.routers[i]
                .director
                .as_mut()
                .and_then(Director::poll_output)
            else {
                return;
            };
            self.stats.outputs += 1;
            self.execute(i, out);
        }
        panic!("router {i} emitted an unbounded burst of outputs");
    }

    fn execute(&mut self, i: usize, out: Output) {
        let now = self.now;
        let generation = self.routers[i].generation;
        match out {
            Output::Transmit(t) => self.send(i, t),
            Output::ApplyIpvs(ops) => {
                let r = &mut self.routers[i];
                let mut result = Ok(());
                for (n, op) in ops.iter().enumerate() {
                    if let Err(e) = r.kernel.apply(op) {
                        result = Err((n, e.to_string()));
                        break;
                    }
                }
                self.push(
                    now + LOCAL_LATENCY,
                    Ev::Local {
                        to: i,
                        generation,
                        input: Input::IpvsApplied(result),
                    },
                );
            }
            Output::DumpIpvs => {
                let table = self.routers[i].kernel.clone();
                self.push(
                    now + LOCAL_LATENCY,
                    Ev::Local {
                        to: i,
                        generation,
                        input: Input::IpvsDumped(table),
                    },
                );
            }
            Output::AddVip(v) => {
                self.routers[i].vips.insert(v.ip);
            }
            Output::RemoveVip(v) => {
                self.routers[i].vips.remove(&v.ip);
            }
            Output::Announce(v) => {
                let IpAddr::V4(ip) = v.ip else { return };
                let frame = arp::Repr::send_arp_reply(ip, self.routers[i].mac).to_bytes();
                for client in 0..self.clients.len() {
                    if let Some(delay) = self.arp_delay(i) {
                        self.push(now + delay, Ev::Arp { client, frame });
                    }
                }
            }
            Output::StartProbe { ticket, spec } => {
                let (delay, result) = crate::servers::probe(self, i, &spec);
                self.push(
                    now + delay,
                    Ev::Local {
                        to: i,
                        generation,
                        input: Input::ProbeDone { ticket, result },
                    },
                );
            }
            Output::Event(e) => self.on_event(i, e),
            Output::SetIpvsTimeouts(_) | Output::SetSyncDaemon(_) | Output::RunCommand(_) => {}
        }
    }

    /// The next simulated instant at which router `i`'s daemon wants a timer.
    fn timer_of(&self, i: usize) -> Option<Instant> {
        let r = &self.routers[i];
        let (t, _) = r.running()?.poll_timeout()?;
        Some(r.clock.sim_of(t).max(self.now))
    }

    /// Run until `end` (simulated). Returns false when the run had to stop (stuck).
    pub(crate) fn run_until(&mut self, end: Instant) -> bool {
        let mut same_instant = 0u32;
        loop {
            let ev_at = self.queue.first_key_value().map(|(k, _)| k.0);
            let mut timer: Option<(Instant, usize)> = None;
            for i in 0..2 {
                if let Some(t) = self.timer_of(i) {
                    if timer.is_none_or(|(b, _)| t < b) {
                        timer = Some((t, i));
                    }
                }
            }
            let next = match (ev_at, timer) {
                (Some(e), Some((t, _))) => e.min(t),
                (Some(e), None) => e,
                (None, Some((t, _))) => t,
                (None, None) => end,
            };
            // The probe client's rounds up to the next step (it only looks, so it needs no
            // place in the queue; at a tie it sees the world before the step).
            while self.probe.next_at <= next.min(end) {
                self.now = self.now.max(self.probe.next_at);
                self.probe.next_at += PROBE_INTERVAL;
                self.probe_tick();
                if self.checker.stop {
                    return false;
                }
            }
            if next > end {
                self.now = end;
                return true;
            }
            if next == self.now {
                same_instant += 1;
                if same_instant > MAX_STEPS_PER_INSTANT {
                    self.checker.violate(
                        &mut self.rec,
                        "progress",
                        self.now,
                        "a timer fires again and again without time advancing".into(),
                    );
                    return false;
                }
            } else {
                same_instant = 0;
            }
            self.now = next;
            match (ev_at, timer) {
                (Some(e), _) if e == next => {
                    let (_, ev) = self.queue.pop_first().expect("peeked");
                    self.handle(ev);
                }
                (_, Some((_, i))) => {
                    let local = self.routers[i].clock.local(self.now);
                    self.stats.timers += 1;
                    if let Some(d) = self.routers[i].director.as_mut() {
                        d.handle_timeout(local);
                    }
                    self.drain(i);
                }
                _ => {
                    if next >= end {
                        return true;
                    }
                }
            }
            self.stats.steps += 1;
            self.after_step();
            if self.checker.stop {
                return false;
            }
        }
    }

    fn deliver(&mut self, to: usize, input: Input) {
        let r = &mut self.routers[to];
        if r.running().is_none() {
            return;
        }
        let local = r.clock.local(self.now);
        self.stats.inputs += 1;
        if let Some(d) = r.director.as_mut() {
            // The simulator only ever sends well-formed inputs.
            let _ = d.handle_input(local, input);
        }
        self.drain(to);
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Beat {
                to,
                from,
                bytes,
                sender,
            } => {
                let r = &self.routers[to];
                if !r.host_up || r.paused {
                    return;
                }
                if r.director.is_none() {
                    // Host up, daemon gone: ICMP port unreachable back to the sender.
                    if let Some((s, _)) = sender {
                        let path = if Some(from.ip())
                            == self.setup.config.pulse.addrs(self.routers[s].role).private
                        {
                            pulse::Path::Private
                        } else {
                            pulse::Path::Public
                        };
                        let generation = self.routers[s].generation;
                        let back = self.now + BASE_DELAY;
                        self.push(
                            back,
                            Ev::Refused {
                                to: s,
                                generation,
                                path,
                            },
                        );
                    }
                    return;
                }
                if let Some((s, stopping)) = sender {
                    self.checker
                        .beat_delivered(self.now, to, s, stopping, &self.routers);
                }
                self.deliver(to, Input::Heartbeat { from, bytes });
            }
            Ev::Refused {
                to,
                generation,
                path,
            } => {
                if self.routers[to].generation == generation {
                    self.deliver(to, Input::SendRefused(path));
                }
            }
            Ev::Local {
                to,
                generation,
                input,
            } => {
                let r = &mut self.routers[to];
                if r.generation != generation || !r.host_up {
                    return;
                }
                if r.paused {
                    r.held.push(input);
                    return;
                }
                self.deliver(to, input);
            }
            Ev::ToWitness {
                from_router,
                from,
                bytes,
            } => self.witness_request(from_router, from, bytes),
            Ev::Arp { client, frame } => {
                let now = self.now;
                if client == 0 {
                    self.probe.learn(now, &frame);
                }
                if let Some(changed) = self.clients[client].learn(now, &frame) {
                    self.rec.trace(now, || format!("client{client}  {changed}"));
                }
            }
            Ev::FaultStart(idx) => self.fault_edge(idx, true),
            Ev::FaultEnd(idx) => self.fault_edge(idx, false),
            Ev::Connect => {
                self.connects += 1;
                let k = self.connects;
                self.connect(k);
                self.push(self.now + CONNECT_INTERVAL, Ev::Connect);
            }
            Ev::Liveness(n, tries) => {
                // A fail-back hand-over leaves nobody active for one network delay: look
                // again a little later before judging.
                let single = (0..2).filter(|&i| self.routers[i].is_active()).count() == 1;
                if !single && tries > 0 {
                    self.push(self.now + LIVENESS_RETRY, Ev::Liveness(n, tries - 1));
                    return;
                }
                self.checker.liveness(
                    n,
                    self.now,
                    &self.routers,
                    &self.setup,
                    &self.clients,
                    &mut self.rec,
                )
            }
        }
    }

    pub(crate) fn heal(&mut self) {
        for idx in 0..self.active_faults.len() {
            if self.active_faults[idx] {
                self.fault_edge(idx, false);
            }
        }
        // Faults that had not started yet never will.
        self.queue
            .retain(|_, ev| !matches!(ev, Ev::FaultStart(_) | Ev::FaultEnd(_)));
        self.healed = true;
        self.rec
            .trace(self.now, || "sim      heal: every fault ends".to_string());
    }

    pub(crate) fn seed(&self) -> u64 {
        self.seed
    }

    pub(crate) fn release_held(&mut self, i: usize) {
        let held = std::mem::take(&mut self.routers[i].held);
        for input in held {
            self.deliver(i, input);
        }
    }

    pub(crate) fn mark_resumed(&mut self, i: usize) {
        self.routers[i].resumed_at = self.now;
        self.dirty[i] = true;
        self.checker.resumed(i, self.now);
    }

    /// Hand edit: delete the first destination of the first service in router `i`'s kernel.
    pub(crate) fn hand_edit(&mut self, i: usize) {
        let r = &mut self.routers[i];
        let victim: Option<(ServiceKey, DestKey)> = r
            .kernel
            .services
            .iter()
            .find_map(|(k, e)| e.dests.keys().next().map(|d| (*k, *d)));
        if let Some((service, dest)) = victim {
            let _ = r
                .kernel
                .apply(&piranha_engine::ipvs::Op::DelDest { service, dest });
            self.dirty[i] = true;
            self.checker.hand_edit(self.now, i);
        }
    }
}
