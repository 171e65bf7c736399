//! The two-router harness of `pulse_scenarios.rs`: two Pulses, an optional witness and a
//! tiny network, driven to the next wakeup.
#![allow(dead_code)]

use core::net::{IpAddr, SocketAddr};
use piranha_engine::pulse::witness::{Witness, WitnessConfig};
use piranha_engine::pulse::{
    Address, ArbiterConfig, Event, GiveupReason, HeartbeatProtocol, Output, Path, Pulse,
    PulseConfig, Role, RouterAddrs, TakeoverReason,
};
use piranha_engine::time::{Duration, Instant};
use piranha_engine::wire::v2::{Key, NodeId};
use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub const PRIMARY_PUB: [u8; 4] = [192, 168, 26, 9];
pub const PRIMARY_PRIV: [u8; 4] = [10, 11, 12, 9];
pub const BACKUP_PUB: [u8; 4] = [192, 168, 26, 8];
pub const BACKUP_PRIV: [u8; 4] = [10, 11, 12, 8];
pub const WITNESS_ADDR: ([u8; 4], u16) = ([192, 168, 26, 3], 5390);
pub const PORT: u16 = 539;
pub const MAX_STEPS: usize = 200_000;

pub fn ms(m: u64) -> Instant {
    Instant::ZERO + Duration::from_millis(m)
}

pub fn key() -> Key {
    Key::new(b"scenario key").unwrap()
}

pub fn ip(a: [u8; 4]) -> IpAddr {
    IpAddr::from(a)
}

pub fn witness_addr() -> SocketAddr {
    SocketAddr::new(ip(WITNESS_ADDR.0), WITNESS_ADDR.1)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Proto {
    Legacy,
    V2,
}

pub fn config(proto: Proto) -> PulseConfig {
    let mut c = PulseConfig::new(
        RouterAddrs {
            public: ip(PRIMARY_PUB),
            private: Some(ip(PRIMARY_PRIV)),
        },
        RouterAddrs {
            public: ip(BACKUP_PUB),
            private: Some(ip(BACKUP_PRIV)),
        },
    );
    c.addresses = vec![Address::Vip(0)];
    if proto == Proto::V2 {
        c.protocol = HeartbeatProtocol::V2(key());
    }
    c
}

pub fn with_arbiter(mut c: PulseConfig) -> PulseConfig {
    c.arbiter = Some(ArbiterConfig {
        address: witness_addr(),
        lease: Duration::from_secs(8),
        safety_margin: Duration::from_millis(500),
    });
    c
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    Router(usize),
    Witness,
}

#[derive(Debug, Clone)]
pub enum Delivery {
    Datagram {
        from: SocketAddr,
        from_node: usize,
        path: Path,
        bytes: Vec<u8>,
    },
    Refused {
        path: Path,
    },
}

#[derive(Debug, Clone)]
pub struct InFlight {
    pub at: Instant,
    pub order: u64,
    pub to: Node,
    pub what: Delivery,
}

pub struct Router {
    pub role: Role,
    pub config: PulseConfig,
    pub pulse: Option<Pulse>,
    pub host_up: bool,
    pub incarnation: u64,
    /// Clock rate error of this router against the network's clock, in parts per million
    /// (the witness keeps true time). Its pulse sees only its own clock.
    pub rate_ppm: i64,
}

/// The pair of routers, the witness and the network.
pub struct Pair {
    pub now: Instant,
    pub routers: [Router; 2],
    pub witness: Option<Witness>,
    pub latency: Duration,
    pub public_up: bool,
    pub private_up: bool,
    pub witness_link_up: [bool; 2],
    pub queue: Vec<InFlight>,
    pub order: u64,
    /// (time, router, event).
    pub log: Vec<(Instant, usize, Event)>,
    /// Every datagram a router sent (time, router, path, bytes) for replay attacks.
    pub sent: Vec<(Instant, usize, Path, Vec<u8>)>,
    pub dual_active: Duration,
    pub dual_active_since: Option<Instant>,
    pub witness_incarnation: u64,
    /// Extra random one-way delay per datagram (0 = none), from `rng`.
    pub jitter_ms_max: u64,
    pub rng: ChaCha8Rng,
}

pub const P: usize = 0;
pub const B: usize = 1;

impl Pair {
    pub fn new(config: PulseConfig) -> Pair {
        let router = |role| Router {
            role,
            config: config.clone(),
            pulse: None,
            host_up: false,
            incarnation: 0,
            rate_ppm: 0,
        };
        let witness = config.arbiter.map(|a| {
            Witness::new(
                WitnessConfig {
                    key: key(),
                    max_lease: a.lease,
                    routers: [NodeId(1), NodeId(2)],
                },
                1,
                Instant::ZERO,
            )
        });
        Pair {
            now: Instant::ZERO,
            routers: [router(Role::Primary), router(Role::Backup)],
            witness,
            latency: Duration::from_millis(1),
            public_up: true,
            private_up: true,
            witness_link_up: [true, true],
            queue: Vec::new(),
            order: 0,
            log: Vec::new(),
            sent: Vec::new(),
            dual_active: Duration::ZERO,
            dual_active_since: None,
            witness_incarnation: 1,
            jitter_ms_max: 0,
            rng: ChaCha8Rng::seed_from_u64(0),
        }
    }

    /// Both routers start now.
    pub fn start_both(config: PulseConfig) -> Pair {
        let mut pair = Pair::new(config);
        pair.start(P);
        pair.start(B);
        pair
    }

    /// Router `i`'s clock reading at network time `t`.
    pub fn local(&self, i: usize, t: Instant) -> Instant {
        let ppm = i128::from(self.routers[i].rate_ppm);
        let g = i128::from(t.as_nanos());
        Instant::from_nanos(u64::try_from(g + g * ppm / 1_000_000).unwrap())
    }

    /// The earliest network time at which router `i`'s clock reads at least `l`.
    pub fn global(&self, i: usize, l: Instant) -> Instant {
        let ppm = i128::from(self.routers[i].rate_ppm);
        let l = i128::from(l.as_nanos());
        let mut g = (l * 1_000_000 + (1_000_000 + ppm) - 1) / (1_000_000 + ppm);
        while self
            .local(i, Instant::from_nanos(u64::try_from(g).unwrap()))
            .as_nanos()
            < l as u64
        {
            g += 1;
        }
        Instant::from_nanos(u64::try_from(g).unwrap())
    }

    /// Router `i`'s clock now.
    pub fn local_now(&self, i: usize) -> Instant {
        self.local(i, self.now)
    }

    pub fn start(&mut self, i: usize) {
        let now = self.local_now(i);
        let r = &mut self.routers[i];
        r.incarnation += 1;
        r.host_up = true;
        r.pulse = Some(Pulse::new(r.config.clone(), r.role, r.incarnation, now).unwrap());
        self.drain(i);
    }

    /// Host gone: datagrams to it vanish.
    pub fn crash_host(&mut self, i: usize) {
        self.routers[i].pulse = None;
        self.routers[i].host_up = false;
        self.check();
    }

    /// Daemon killed, host up: datagrams to it are answered with port unreachable.
    pub fn kill_daemon(&mut self, i: usize) {
        self.routers[i].pulse = None;
        self.check();
    }

    /// SIGTERM: graceful stop, then the daemon is gone (host up).
    pub fn stop_gracefully(&mut self, i: usize) {
        let now = self.local_now(i);
        if let Some(p) = self.routers[i].pulse.as_mut() {
            p.handle_shutdown(now);
        }
        self.drain(i);
        self.routers[i].pulse = None;
        self.check();
    }

    /// The witness restarts: it forgets the holder.
    pub fn restart_witness(&mut self) {
        let Some(a) = self.routers[P].config.arbiter else {
            return;
        };
        self.witness_incarnation += 1;
        self.witness = Some(Witness::new(
            WitnessConfig {
                key: key(),
                max_lease: a.lease,
                routers: [NodeId(1), NodeId(2)],
            },
            self.witness_incarnation,
            self.now,
        ));
    }

    pub fn delay(&mut self) -> Duration {
        let jitter = if self.jitter_ms_max == 0 {
            0
        } else {
            self.rng.next_u64() % (self.jitter_ms_max * 1000)
        };
        self.latency + Duration::from_micros(jitter)
    }

    pub fn active(&self, i: usize) -> bool {
        self.routers[i]
            .pulse
            .as_ref()
            .is_some_and(|p| p.is_active())
    }

    pub fn pulse(&self, i: usize) -> &Pulse {
        self.routers[i].pulse.as_ref().unwrap()
    }

    pub fn addrs(&self, i: usize) -> RouterAddrs {
        let c = &self.routers[i].config;
        if i == P {
            c.primary
        } else {
            c.backup
        }
    }

    pub fn link_up(&self, from: usize, path: Path) -> bool {
        match path {
            Path::Public => self.public_up,
            Path::Private => self.private_up,
            Path::Arbiter => self.witness_link_up[from],
        }
    }

    pub fn enqueue(&mut self, at: Instant, to: Node, what: Delivery) {
        self.order += 1;
        assert!(self.queue.len() < 10_000, "network queue unbounded");
        self.queue.push(InFlight {
            at,
            order: self.order,
            to,
            what,
        });
    }

    pub fn drain(&mut self, i: usize) {
        let mut outs = Vec::new();
        if let Some(p) = self.routers[i].pulse.as_mut() {
            while let Some(o) = p.poll_output() {
                outs.push(o);
                assert!(outs.len() < 10_000);
            }
        }
        for o in outs {
            match o {
                Output::Event(e) => self.log.push((self.now, i, e)),
                Output::Action(_) => {}
                Output::Transmit(t) => {
                    self.sent.push((self.now, i, t.path, t.bytes.clone()));
                    if !self.link_up(i, t.path) {
                        continue;
                    }
                    let to = if t.path == Path::Arbiter {
                        Node::Witness
                    } else {
                        Node::Router(1 - i)
                    };
                    let from_ip = match t.path {
                        Path::Private => self.addrs(i).private.unwrap(),
                        _ => self.addrs(i).public,
                    };
                    let at = self.now + self.delay();
                    self.enqueue(
                        at,
                        to,
                        Delivery::Datagram {
                            from: SocketAddr::new(from_ip, PORT),
                            from_node: i,
                            path: t.path,
                            bytes: t.bytes,
                        },
                    );
                }
            }
        }
        self.check();
    }

    /// The safety oracle: accumulate time both routers were active.
    pub fn check(&mut self) {
        let both = self.active(P) && self.active(B);
        match (both, self.dual_active_since) {
            (true, None) => self.dual_active_since = Some(self.now),
            (false, Some(since)) => {
                self.dual_active += self.now - since;
                self.dual_active_since = None;
            }
            _ => {}
        }
    }

    pub fn ever_dual_active(&self) -> bool {
        self.dual_active > Duration::ZERO || self.dual_active_since.is_some()
    }

    pub fn deliver(&mut self, f: InFlight) {
        match (f.to, f.what) {
            (
                Node::Witness,
                Delivery::Datagram {
                    from,
                    from_node,
                    bytes,
                    ..
                },
            ) => {
                let Some(w) = self.witness.as_mut() else {
                    return;
                };
                let (reply, _) = w.handle_request(self.now, from, &bytes);
                if let (Some(reply), true) = (reply, self.witness_link_up[from_node]) {
                    let at = self.now + self.delay();
                    self.enqueue(
                        at,
                        Node::Router(from_node),
                        Delivery::Datagram {
                            from: witness_addr(),
                            from_node: usize::MAX,
                            path: Path::Arbiter,
                            bytes: reply,
                        },
                    );
                }
            }
            (
                Node::Router(j),
                Delivery::Datagram {
                    from,
                    from_node,
                    path,
                    bytes,
                },
            ) => {
                if !self.routers[j].host_up {
                    return;
                }
                let back_up = from_node < 2 && self.link_up(from_node, path);
                let now = self.local_now(j);
                match self.routers[j].pulse.as_mut() {
                    Some(p) => {
                        p.handle_heartbeat(now, from, &bytes);
                        self.drain(j);
                    }
                    None if back_up => {
                        let at = self.now + self.delay();
                        self.enqueue(at, Node::Router(from_node), Delivery::Refused { path });
                    }
                    None => {}
                }
            }
            (Node::Router(j), Delivery::Refused { path }) => {
                let now = self.local_now(j);
                if let Some(p) = self.routers[j].pulse.as_mut() {
                    p.handle_send_refused(now, path);
                    self.drain(j);
                }
            }
            (Node::Witness, Delivery::Refused { .. }) => {}
        }
    }

    /// Run every delivery and timer up to `until` (inclusive), then set the clock there.
    pub fn run_until(&mut self, until: Instant) {
        for _ in 0..MAX_STEPS {
            let next_packet = self
                .queue
                .iter()
                .enumerate()
                .min_by_key(|(_, f)| (f.at, f.order))
                .map(|(k, f)| (f.at, k));
            let next_timer = (0..2)
                .filter_map(|i| {
                    self.routers[i]
                        .pulse
                        .as_ref()
                        .and_then(|p| p.poll_timeout())
                        .map(|(t, _)| (self.global(i, t), i))
                })
                .min();
            match (next_packet, next_timer) {
                (Some((t, k)), timer)
                    if t <= until && !matches!(timer, Some((tt, _)) if t > tt) =>
                {
                    self.now = self.now.max(t);
                    let f = self.queue.swap_remove(k);
                    self.deliver(f);
                }
                (_, Some((t, i))) if t <= until => {
                    self.now = self.now.max(t);
                    let now = self.local_now(i);
                    self.routers[i].pulse.as_mut().unwrap().handle_timeout(now);
                    self.drain(i);
                }
                _ => {
                    self.now = self.now.max(until);
                    self.check();
                    return;
                }
            }
        }
        panic!("scenario did not settle in {MAX_STEPS} steps");
    }

    pub fn events_of(&self, i: usize) -> Vec<(Instant, Event)> {
        self.log
            .iter()
            .filter(|(_, r, _)| *r == i)
            .map(|(t, _, e)| (*t, *e))
            .collect()
    }

    pub fn takeovers(&self, i: usize) -> Vec<(Instant, TakeoverReason)> {
        self.events_of(i)
            .into_iter()
            .filter_map(|(t, e)| match e {
                Event::TookOver { why } => Some((t, why)),
                _ => None,
            })
            .collect()
    }

    pub fn giveups(&self, i: usize) -> Vec<(Instant, GiveupReason)> {
        self.events_of(i)
            .into_iter()
            .filter_map(|(t, e)| match e {
                Event::GaveUp { why } => Some((t, why)),
                _ => None,
            })
            .collect()
    }
}
