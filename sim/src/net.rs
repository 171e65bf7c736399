//! The simulated network: which datagrams get through, how late, how often — every choice
//! drawn from the seed — and the witness at the other end of the arbiter path.

use std::net::SocketAddr;

use piranha_engine::pulse::{self, Transmit};
use piranha_engine::time::Duration;
use rand_core::Rng;

use crate::faults::{FaultKind, PathSel};
use crate::world::{Ev, World, BASE_DELAY};

impl World {
    pub(crate) fn source(&self, i: usize, path: pulse::Path) -> SocketAddr {
        let addrs = self.setup.config.pulse.addrs(self.routers[i].role);
        let ip = match path {
            pulse::Path::Private => addrs.private.unwrap_or(addrs.public),
            _ => addrs.public,
        };
        SocketAddr::new(ip, self.setup.config.pulse.heartbeat_port)
    }

    /// Whether router `from` reaches the other router on `path`, and with what impairments.
    fn link(&self, from: usize, path: Option<pulse::Path>) -> Option<Impair> {
        let mut imp = Impair::default();
        for (idx, f) in self.schedule.0.iter().enumerate() {
            if !self.active_faults[idx] {
                continue;
            }
            match &f.kind {
                FaultKind::Isolate(r) if *r == from || (path.is_some() && *r == 1 - from) => {
                    return None
                }
                FaultKind::Partition { paths, from: dir } => {
                    let hits = match (paths, path) {
                        (_, None) => false,
                        (PathSel::Both, Some(_)) => true,
                        (PathSel::Public, Some(p)) => p == pulse::Path::Public,
                        (PathSel::Private, Some(p)) => p == pulse::Path::Private,
                    };
                    if hits && dir.is_none_or(|d| d == from) {
                        return None;
                    }
                }
                FaultKind::Loss(pm) => imp.loss = imp.loss.max(*pm),
                FaultKind::Delay(d) => imp.extra = imp.extra.max(*d),
                FaultKind::Duplicate(pm) => imp.dup = imp.dup.max(*pm),
                FaultKind::Reorder(pm) => imp.reorder = imp.reorder.max(*pm),
                _ => {}
            }
        }
        Some(imp)
    }

    pub(crate) fn isolated(&self, r: usize) -> bool {
        self.schedule.0.iter().enumerate().any(|(idx, f)| {
            self.active_faults[idx] && matches!(f.kind, FaultKind::Isolate(x) if x == r)
        })
    }

    pub(crate) fn reaches_servers(&self, r: usize) -> bool {
        !self.isolated(r)
    }

    /// Delays for one datagram over `imp` (empty: lost; two: duplicated).
    fn delays(&mut self, imp: Impair) -> Vec<Duration> {
        let mut out = Vec::with_capacity(2);
        if imp.loss > 0 && self.rng.next_u64() % 1000 < u64::from(imp.loss) {
            return out;
        }
        let jitter = Duration::from_nanos(self.rng.next_u64() % BASE_DELAY.as_nanos());
        let mut d = BASE_DELAY + jitter + imp.extra;
        if imp.reorder > 0 && self.rng.next_u64() % 1000 < u64::from(imp.reorder) {
            let span = self.setup.keepalive.saturating_mul(2).as_nanos().max(1);
            d += Duration::from_nanos(self.rng.next_u64() % span);
        }
        out.push(d);
        if imp.dup > 0 && self.rng.next_u64() % 1000 < u64::from(imp.dup) {
            let span = self.setup.keepalive.as_nanos().max(1);
            out.push(d + Duration::from_nanos(self.rng.next_u64() % span));
        }
        out
    }

    pub(crate) fn arp_delay(&mut self, from: usize) -> Option<Duration> {
        if self.isolated(from) {
            return None;
        }
        let imp = self.link(from, None)?;
        let imp = Impair {
            dup: 0,
            reorder: 0,
            ..imp
        };
        self.delays(imp).first().copied()
    }

    pub(crate) fn send(&mut self, i: usize, t: Transmit) {
        let now = self.now;
        self.stats.datagrams += 1;
        match t.path {
            pulse::Path::Arbiter => {
                if self.witness.is_none() || self.isolated(i) {
                    return;
                }
                let Some(imp) = self.link(i, None) else {
                    return;
                };
                let from = self.source(i, pulse::Path::Public);
                for d in self.delays(imp) {
                    self.push(
                        now + d,
                        Ev::ToWitness {
                            from_router: i,
                            from,
                            bytes: t.bytes.clone(),
                        },
                    );
                }
            }
            path => {
                let to = 1 - i;
                if self.isolated(to) {
                    return;
                }
                let Some(imp) = self.link(i, Some(path)) else {
                    return;
                };
                let from = self.source(i, path);
                let stopping = self.routers[i].stopping;
                for d in self.delays(imp) {
                    self.push(
                        now + d,
                        Ev::Beat {
                            to,
                            from,
                            bytes: t.bytes.clone(),
                            sender: Some((i, stopping)),
                        },
                    );
                }
            }
        }
    }

    pub(crate) fn witness_request(&mut self, from_router: usize, from: SocketAddr, bytes: Vec<u8>) {
        let now = self.now;
        let Some(w) = self.witness.as_mut() else {
            return;
        };
        let address = w.address;
        let Some(machine) = w.machine.as_mut() else {
            return;
        };
        let (reply, event) = machine.handle_request(now, from, &bytes);
        self.rec.trace(now, || format!("witness  {event:?}"));
        let Some(reply) = reply else { return };
        if self.isolated(from_router) {
            return;
        }
        let Some(imp) = self.link(from_router, None) else {
            return;
        };
        for d in self.delays(imp) {
            self.push(
                now + d,
                Ev::Beat {
                    to: from_router,
                    from: address,
                    bytes: reply.clone(),
                    sender: None,
                },
            );
        }
    }
}

/// Impairments of one path.
#[derive(Clone, Copy, Debug, Default)]
struct Impair {
    loss: u32,
    extra: Duration,
    dup: u32,
    reorder: u32,
}
