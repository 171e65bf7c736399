//! `scale_out = bgp`: the announce decision per VIP, pure and clock-free.
//!
//! Every director is active for its VIPs (no pulse election); routers spread flows over the
//! directors by ECMP. A VIP is announced only while this director is healthy, holds the VIP
//! locally and has at least one real server up for it. Failure withdraws at once; drain and
//! shutdown withdraw, then wait for connections to finish up to `drain_timeout`, and shutdown
//! then stops. A driver turns `Announce`/`Withdraw` into BIRD routes.

use core::net::IpAddr;
use std::collections::{BTreeMap, VecDeque};

use crate::time::{Duration, Instant};

/// What the announcer asks the driver to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Announce this VIP's /32 (/128).
    Announce(IpAddr),
    /// Withdraw it.
    Withdraw(IpAddr),
    /// Shutdown: every route withdrawn and connections drained (or the bound passed): stop.
    Stop,
}

/// Why [`Announcer::poll_timeout`] wants to be woken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timeout {
    /// The drain bound of a drain or shutdown.
    DrainBound,
}

/// Where the director is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Serving: VIPs announced as their state allows.
    Serving,
    /// Drained by the operator: nothing announced, existing connections finish.
    Draining,
    /// Shutting down: nothing announced; stops when drained or at the bound.
    ShuttingDown,
    /// Stopped.
    Stopped,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct VipState {
    held: bool,
    servers_up: usize,
    announced: bool,
}

/// The announce machine of one director.
#[derive(Debug)]
pub struct Announcer {
    healthy: bool,
    phase: Phase,
    drain_timeout: Duration,
    drain_deadline: Option<Instant>,
    connections: u64,
    vips: BTreeMap<IpAddr, VipState>,
    out: VecDeque<Output>,
}

impl Announcer {
    /// A healthy, serving director with no VIPs yet.
    pub fn new(drain_timeout: Duration) -> Self {
        Announcer {
            healthy: true,
            phase: Phase::Serving,
            drain_timeout,
            drain_deadline: None,
            connections: 0,
            vips: BTreeMap::new(),
            out: VecDeque::new(),
        }
    }

    /// The phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Whether `vip` is announced now.
    pub fn is_announced(&self, vip: IpAddr) -> bool {
        self.vips.get(&vip).is_some_and(|v| v.announced)
    }

    /// This director's own health (links, health checker alive, …).
    pub fn set_healthy(&mut self, _now: Instant, healthy: bool) {
        self.healthy = healthy;
        self.refresh();
    }

    /// A VIP's local state: whether the address is held here and how many real servers are up.
    pub fn set_vip(&mut self, _now: Instant, vip: IpAddr, held: bool, servers_up: usize) {
        let v = self.vips.entry(vip).or_default();
        v.held = held;
        v.servers_up = servers_up;
        self.refresh();
    }

    /// A VIP removed from the configuration: withdrawn if announced, then forgotten.
    pub fn remove_vip(&mut self, _now: Instant, vip: IpAddr) {
        if let Some(v) = self.vips.remove(&vip) {
            if v.announced {
                self.out.push_back(Output::Withdraw(vip));
            }
        }
    }

    /// The number of connections still open through this director (from the IPVS table).
    pub fn set_connections(&mut self, now: Instant, connections: u64) {
        self.connections = connections;
        self.check_stop(now);
    }

    /// Operator drain: withdraw everything, keep serving existing connections.
    pub fn drain(&mut self, now: Instant) {
        if self.phase == Phase::Serving {
            self.phase = Phase::Draining;
            self.drain_deadline = Some(now + self.drain_timeout);
            self.refresh();
        }
    }

    /// Undo a drain.
    pub fn undrain(&mut self, _now: Instant) {
        if self.phase == Phase::Draining {
            self.phase = Phase::Serving;
            self.drain_deadline = None;
            self.refresh();
        }
    }

    /// Graceful shutdown: withdraw, wait for connections up to the bound, then [`Output::Stop`].
    pub fn shutdown(&mut self, now: Instant) {
        match self.phase {
            Phase::Serving => self.drain_deadline = Some(now + self.drain_timeout),
            Phase::Draining => {}
            Phase::ShuttingDown | Phase::Stopped => return,
        }
        self.phase = Phase::ShuttingDown;
        self.refresh();
        self.check_stop(now);
    }

    /// Wake-up at [`Announcer::poll_timeout`].
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.drain_deadline.is_some_and(|d| now >= d) {
            self.drain_deadline = None;
            if self.phase == Phase::ShuttingDown {
                self.stop();
            }
        }
    }

    /// The earliest deadline and why.
    pub fn poll_timeout(&self) -> Option<(Instant, Timeout)> {
        self.drain_deadline.map(|d| (d, Timeout::DrainBound))
    }

    /// The next output, until `None`.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    fn check_stop(&mut self, _now: Instant) {
        if self.phase == Phase::ShuttingDown && self.connections == 0 {
            self.stop();
        }
    }

    fn stop(&mut self) {
        self.phase = Phase::Stopped;
        self.drain_deadline = None;
        self.out.push_back(Output::Stop);
    }

    fn refresh(&mut self) {
        let serving = self.healthy && self.phase == Phase::Serving;
        for (&vip, v) in &mut self.vips {
            let want = serving && v.held && v.servers_up > 0;
            if want != v.announced {
                v.announced = want;
                self.out.push_back(if want {
                    Output::Announce(vip)
                } else {
                    Output::Withdraw(vip)
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VIP: IpAddr = IpAddr::V4(core::net::Ipv4Addr::new(192, 0, 2, 10));
    const VIP2: IpAddr = IpAddr::V4(core::net::Ipv4Addr::new(192, 0, 2, 11));

    fn at(s: u64) -> Instant {
        Instant::ZERO + Duration::from_secs(s)
    }

    fn drain_out(a: &mut Announcer) -> Vec<Output> {
        core::iter::from_fn(|| a.poll_output()).collect()
    }

    #[test]
    fn announces_only_when_held_and_a_server_is_up() {
        let mut a = Announcer::new(Duration::from_secs(30));
        a.set_vip(at(0), VIP, true, 0);
        assert_eq!(drain_out(&mut a), []);
        a.set_vip(at(0), VIP, false, 2);
        assert_eq!(drain_out(&mut a), []);
        a.set_vip(at(1), VIP, true, 2);
        assert_eq!(drain_out(&mut a), [Output::Announce(VIP)]);
        a.set_vip(at(2), VIP, true, 1);
        assert_eq!(drain_out(&mut a), [], "no repeat while still announceable");
        a.set_vip(at(3), VIP, true, 0);
        assert_eq!(drain_out(&mut a), [Output::Withdraw(VIP)]);
    }

    #[test]
    fn failure_withdraws_every_vip_and_recovery_announces_again() {
        let mut a = Announcer::new(Duration::from_secs(30));
        a.set_vip(at(0), VIP, true, 1);
        a.set_vip(at(0), VIP2, true, 1);
        drain_out(&mut a);
        a.set_healthy(at(1), false);
        assert_eq!(
            drain_out(&mut a),
            [Output::Withdraw(VIP), Output::Withdraw(VIP2)]
        );
        a.set_vip(at(2), VIP, true, 3);
        assert_eq!(drain_out(&mut a), [], "unhealthy: nothing announced");
        a.set_healthy(at(3), true);
        assert_eq!(
            drain_out(&mut a),
            [Output::Announce(VIP), Output::Announce(VIP2)]
        );
    }

    #[test]
    fn drain_withdraws_and_undrain_announces() {
        let mut a = Announcer::new(Duration::from_secs(30));
        a.set_vip(at(0), VIP, true, 1);
        drain_out(&mut a);
        a.drain(at(5));
        assert_eq!(drain_out(&mut a), [Output::Withdraw(VIP)]);
        assert_eq!(a.phase(), Phase::Draining);
        a.set_vip(at(6), VIP, true, 2);
        assert_eq!(
            drain_out(&mut a),
            [],
            "a drained director announces nothing"
        );
        a.undrain(at(7));
        assert_eq!(drain_out(&mut a), [Output::Announce(VIP)]);
    }

    #[test]
    fn shutdown_withdraws_then_stops_when_connections_end() {
        let mut a = Announcer::new(Duration::from_secs(30));
        a.set_vip(at(0), VIP, true, 1);
        a.set_connections(at(0), 4);
        drain_out(&mut a);
        a.shutdown(at(10));
        assert_eq!(drain_out(&mut a), [Output::Withdraw(VIP)]);
        assert_eq!(a.poll_timeout(), Some((at(40), Timeout::DrainBound)));
        a.set_connections(at(12), 1);
        assert_eq!(drain_out(&mut a), []);
        a.set_connections(at(13), 0);
        assert_eq!(drain_out(&mut a), [Output::Stop]);
        assert_eq!(a.phase(), Phase::Stopped);
        assert_eq!(a.poll_timeout(), None);
    }

    #[test]
    fn shutdown_stops_at_the_drain_bound() {
        let mut a = Announcer::new(Duration::from_secs(30));
        a.set_vip(at(0), VIP, true, 1);
        a.set_connections(at(0), 9);
        drain_out(&mut a);
        a.shutdown(at(10));
        drain_out(&mut a);
        a.handle_timeout(at(39));
        assert_eq!(drain_out(&mut a), []);
        a.handle_timeout(at(40));
        assert_eq!(drain_out(&mut a), [Output::Stop]);
    }

    #[test]
    fn shutdown_without_connections_stops_at_once_and_removed_vips_are_withdrawn() {
        let mut a = Announcer::new(Duration::from_secs(30));
        a.set_vip(at(0), VIP, true, 1);
        drain_out(&mut a);
        a.remove_vip(at(1), VIP);
        assert_eq!(drain_out(&mut a), [Output::Withdraw(VIP)]);
        a.set_vip(at(2), VIP2, true, 1);
        drain_out(&mut a);
        a.shutdown(at(3));
        assert_eq!(drain_out(&mut a), [Output::Withdraw(VIP2), Output::Stop]);
    }
}
