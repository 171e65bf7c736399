//! Transcript tests, grouped by the state the router is in.

use super::*;
use crate::time::Duration;
use crate::wire::v2::{self, Flags, Key};

const PRIMARY_PUB: &str = "192.168.26.9";
const PRIMARY_PRIV: &str = "10.11.12.9";
const BACKUP_PUB: &str = "192.168.26.8";
const BACKUP_PRIV: &str = "10.11.12.8";
const WITNESS: &str = "192.168.26.3:5390";

fn key() -> Key {
    Key::new(b"transcript key").unwrap()
}

fn secs(s: u64) -> Instant {
    Instant::ZERO + Duration::from_secs(s)
}

fn ms(m: u64) -> Instant {
    Instant::ZERO + Duration::from_millis(m)
}

fn base() -> PulseConfig {
    let mut c = PulseConfig::new(
        RouterAddrs {
            public: PRIMARY_PUB.parse().unwrap(),
            private: Some(PRIMARY_PRIV.parse().unwrap()),
        },
        RouterAddrs {
            public: BACKUP_PUB.parse().unwrap(),
            private: Some(BACKUP_PRIV.parse().unwrap()),
        },
    );
    c.syncdaemon = true;
    c.addresses = vec![
        Address::NatRouter,
        Address::Vip(0),
        Address::Vip(0),
        Address::Vip(1),
    ];
    c
}

fn v2() -> PulseConfig {
    let mut c = base();
    c.protocol = HeartbeatProtocol::V2(key());
    c
}

fn from(ip: &str) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), 539)
}

fn drain(p: &mut Pulse) -> Vec<Output> {
    let mut v = Vec::new();
    while let Some(o) = p.poll_output() {
        v.push(o);
        assert!(v.len() < 10_000);
    }
    v
}

fn events(out: &[Output]) -> Vec<Event> {
    out.iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(*e),
            _ => None,
        })
        .collect()
}

fn actions(out: &[Output]) -> Vec<Action> {
    out.iter()
        .filter_map(|o| match o {
            Output::Action(a) => Some(*a),
            _ => None,
        })
        .collect()
}

fn transmits(out: &[Output]) -> Vec<Transmit> {
    out.iter()
        .filter_map(|o| match o {
            Output::Transmit(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

/// Run timers up to and including `until`; returns everything output on the way.
fn run_until(p: &mut Pulse, until: Instant) -> Vec<Output> {
    let mut out = Vec::new();
    for _ in 0..10_000 {
        match p.poll_timeout() {
            Some((t, _)) if t <= until => {
                p.handle_timeout(t);
                out.extend(drain(p));
            }
            _ => return out,
        }
    }
    panic!("timer loop did not settle");
}

/// A v2 beat from node `node` (2 = backup, 1 = primary).
struct Peer {
    node: u32,
    incarnation: u64,
    sequence: u64,
    /// The router's incarnation it echoes (the tests start routers with incarnation 1).
    echo: u64,
}

impl Peer {
    fn new(node: u32) -> Peer {
        Peer {
            node,
            incarnation: 100,
            sequence: 0,
            echo: 1,
        }
    }
    fn beat(&mut self, message: v2::Message, flags: Flags) -> Vec<u8> {
        self.sequence += 1;
        v2::Repr {
            echo: self.echo,
            ..v2::Repr::heartbeat(
                message,
                flags,
                NodeId(self.node),
                self.incarnation,
                self.sequence,
                0,
            )
        }
        .to_bytes(&key())
        .to_vec()
    }
    fn standby(&mut self) -> Vec<u8> {
        self.beat(v2::Message::Running, Flags::empty())
    }
    fn active(&mut self) -> Vec<u8> {
        self.beat(v2::Message::Running, Flags::ACTIVE)
    }
    fn stopped(&mut self) -> Vec<u8> {
        self.beat(v2::Message::Stopped, Flags::empty())
    }
}

const TAKEOVER_ACTIONS: [Action; 9] = [
    Action::RunActiveCmd,
    Action::StartLvs,
    Action::SyncDaemonMaster,
    Action::AddressUp(Address::NatRouter),
    Action::AddressUp(Address::Vip(0)),
    Action::AddressUp(Address::Vip(1)),
    Action::Announce(Address::NatRouter),
    Action::Announce(Address::Vip(0)),
    Action::Announce(Address::Vip(1)),
];

const GIVEUP_ACTIONS: [Action; 6] = [
    Action::RunInactiveCmd,
    Action::SyncDaemonBackup,
    Action::StopLvs,
    Action::AddressDown(Address::NatRouter),
    Action::AddressDown(Address::Vip(0)),
    Action::AddressDown(Address::Vip(1)),
];

mod active;
mod inactive;
mod lease;
mod legacy;
mod rejecting;
mod starting;
