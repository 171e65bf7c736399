//! Transcript tests, grouped by the state the router is in.

use super::*;
use crate::time::Duration;
use crate::wire::v2::Key;

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
}

impl Peer {
    fn new(node: u32) -> Peer {
        Peer {
            node,
            incarnation: 100,
            sequence: 0,
        }
    }
    fn beat(&mut self, message: v2::Message, flags: Flags) -> Vec<u8> {
        self.sequence += 1;
        v2::Repr::heartbeat(
            message,
            flags,
            NodeId(self.node),
            self.incarnation,
            self.sequence,
            0,
        )
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

const TAKEOVER_ACTIONS: [Action; 10] = [
    Action::RunActiveCmd,
    Action::StartLvs,
    Action::SyncDaemonMaster,
    Action::AddressUp(Address::NatRouter),
    Action::AddressUp(Address::Vip(0)),
    Action::AddressUp(Address::Vip(1)),
    Action::Announce(Address::NatRouter),
    Action::Announce(Address::Vip(0)),
    Action::Announce(Address::Vip(1)),
    // sentinel slot so the array length documents the count of the first burst + 1
    Action::RemoveStaleVips,
];

const GIVEUP_ACTIONS: [Action; 6] = [
    Action::RunInactiveCmd,
    Action::SyncDaemonBackup,
    Action::StopLvs,
    Action::AddressDown(Address::NatRouter),
    Action::AddressDown(Address::Vip(0)),
    Action::AddressDown(Address::Vip(1)),
];

mod starting {
    use super::*;

    #[test]
    fn start_is_inactive_removes_stale_vips_and_beats_on_both_paths() {
        let mut p = Pulse::new(v2(), Role::Backup, 7, Instant::ZERO).unwrap();
        let out = drain(&mut p);
        assert_eq!(events(&out), vec![Event::Started { role: Role::Backup }]);
        assert_eq!(actions(&out), vec![Action::RemoveStaleVips]);
        let tx = transmits(&out);
        assert_eq!(tx.len(), 2);
        assert_eq!(tx[0].path, Path::Public);
        assert_eq!(tx[0].destination, from(PRIMARY_PUB));
        assert_eq!(tx[1].destination, from(PRIMARY_PRIV));
        let r = v2::Repr::parse_bytes(&tx[0].bytes, &key()).unwrap();
        assert_eq!(
            (r.message, r.flags, r.node_id, r.incarnation, r.sequence),
            (v2::Message::Running, Flags::empty(), NodeId(2), 7, 1)
        );
        let r = v2::Repr::parse_bytes(&tx[1].bytes, &key()).unwrap();
        assert_eq!(r.sequence, 2, "each path gets its own sequence");
        assert!(!p.is_active());
        assert_eq!(p.poll_timeout(), Some((secs(2), TimerReason::Heartbeat)));
    }

    #[test]
    fn legacy_inactive_router_sends_empty_probes() {
        let mut p = Pulse::new(base(), Role::Primary, 1, Instant::ZERO).unwrap();
        let tx = transmits(&drain(&mut p));
        assert_eq!(tx.len(), 2);
        assert!(tx.iter().all(|t| t.bytes.is_empty()));
    }

    #[test]
    fn lone_primary_takes_over_after_deadtime_in_the_original_order() {
        let mut p = Pulse::new(v2(), Role::Primary, 1, Instant::ZERO).unwrap();
        drain(&mut p);
        let out = run_until(&mut p, ms(4_999));
        assert!(!p.is_active());
        assert!(actions(&out).is_empty());
        let out = run_until(&mut p, secs(5));
        assert!(p.is_active());
        assert_eq!(
            events(&out),
            vec![
                Event::PathSilent { path: Path::Public },
                Event::PathSilent {
                    path: Path::Private
                },
                Event::PeerDead {
                    reason: PeerDeadReason::Deadtime
                },
                Event::TookOver {
                    why: TakeoverReason::PeerDead(PeerDeadReason::Deadtime)
                },
            ]
        );
        assert_eq!(actions(&out), TAKEOVER_ACTIONS[..9].to_vec());
        // The takeover beat says ACTIVE at once.
        let tx = transmits(&out);
        let last = v2::Repr::parse_bytes(&tx.last().unwrap().bytes, &key()).unwrap();
        assert!(last.flags.contains(Flags::ACTIVE));
    }

    #[test]
    fn lone_backup_waits_deadtime_plus_keepalive() {
        let mut p = Pulse::new(v2(), Role::Backup, 1, Instant::ZERO).unwrap();
        drain(&mut p);
        run_until(&mut p, ms(6_999));
        assert!(!p.is_active());
        run_until(&mut p, secs(7));
        assert!(p.is_active());
    }

    #[test]
    fn primary_hearing_a_standby_backup_takes_over_at_end_of_listen() {
        let mut p = Pulse::new(v2(), Role::Primary, 1, Instant::ZERO).unwrap();
        let mut b = Peer::new(2);
        p.handle_heartbeat(ms(1), from(BACKUP_PUB), &b.standby());
        p.handle_heartbeat(ms(1), from(BACKUP_PRIV), &b.standby());
        p.handle_heartbeat(ms(2_001), from(BACKUP_PUB), &b.standby());
        p.handle_heartbeat(ms(4_001), from(BACKUP_PUB), &b.standby());
        drain(&mut p);
        run_until(&mut p, ms(4_999));
        assert!(!p.is_active());
        let out = run_until(&mut p, secs(5));
        assert!(p.is_active());
        assert!(events(&out).contains(&Event::TookOver {
            why: TakeoverReason::PeerStandby
        }));
        assert_eq!(p.peer_state(), PeerState::Standby);
    }

    #[test]
    fn returning_primary_stays_inactive_while_backup_is_active() {
        let mut p = Pulse::new(v2(), Role::Primary, 1, Instant::ZERO).unwrap();
        let mut b = Peer::new(2);
        for s in 0..10 {
            p.handle_heartbeat(
                secs(2 * s) + Duration::from_millis(1),
                from(BACKUP_PUB),
                &b.active(),
            );
            run_until(&mut p, secs(2 * s + 2));
        }
        assert!(!p.is_active());
        assert_eq!(p.peer_state(), PeerState::Active);
        assert_eq!(p.counters().accepted, 10);
    }

    #[test]
    fn bad_configs_are_errors() {
        let mut c = base();
        c.failback = true;
        assert_eq!(
            Pulse::new(c, Role::Primary, 1, Instant::ZERO).unwrap_err(),
            ConfigError::NeedsV2("failback")
        );
        let mut c = v2();
        c.keepalive = Duration::ZERO;
        assert_eq!(
            Pulse::new(c, Role::Primary, 1, Instant::ZERO).unwrap_err(),
            ConfigError::ZeroKeepalive
        );
        let mut c = v2();
        c.backup.private = None;
        assert_eq!(
            Pulse::new(c, Role::Primary, 1, Instant::ZERO).unwrap_err(),
            ConfigError::HalfPrivatePath
        );
    }
}

mod inactive {
    use super::*;

    fn backup_hearing_active_primary() -> (Pulse, Peer) {
        let mut p = Pulse::new(v2(), Role::Backup, 1, Instant::ZERO).unwrap();
        let mut a = Peer::new(1);
        p.handle_heartbeat(ms(1), from(PRIMARY_PUB), &a.active());
        p.handle_heartbeat(ms(1), from(PRIMARY_PRIV), &a.active());
        drain(&mut p);
        (p, a)
    }

    #[test]
    fn stopped_means_take_over_in_the_same_instant() {
        let (mut p, mut a) = backup_hearing_active_primary();
        p.handle_heartbeat(ms(1_500), from(PRIMARY_PUB), &a.stopped());
        let out = drain(&mut p);
        assert!(p.is_active());
        assert_eq!(
            events(&out),
            vec![Event::TookOver {
                why: TakeoverReason::PeerStopped
            }]
        );
    }

    #[test]
    fn one_live_path_keeps_the_peer_alive() {
        let (mut p, mut a) = backup_hearing_active_primary();
        // Private path goes quiet; public keeps beating every 2 s.
        for s in 1..=20 {
            p.handle_heartbeat(secs(2 * s), from(PRIMARY_PUB), &a.active());
            let out = run_until(&mut p, secs(2 * s + 1));
            assert!(!events(&out)
                .iter()
                .any(|e| matches!(e, Event::PeerDead { .. })));
        }
        assert!(!p.is_active());
        assert_eq!(p.peer_state(), PeerState::Active);
    }

    #[test]
    fn every_path_silent_for_deadtime_means_takeover() {
        let (mut p, _) = backup_hearing_active_primary();
        run_until(&mut p, ms(5_000));
        assert!(!p.is_active());
        let out = run_until(&mut p, ms(5_001));
        assert!(p.is_active());
        assert!(events(&out).contains(&Event::PeerDead {
            reason: PeerDeadReason::Deadtime
        }));
    }

    #[test]
    fn port_unreachable_twice_on_every_path_is_a_dead_daemon() {
        let (mut p, _) = backup_hearing_active_primary();
        p.handle_send_refused(ms(100), Path::Public);
        p.handle_send_refused(ms(100), Path::Private);
        p.handle_send_refused(ms(2_100), Path::Public);
        assert!(!p.is_active(), "the private path has refused once only");
        p.handle_send_refused(ms(2_100), Path::Private);
        let out = drain(&mut p);
        assert!(p.is_active());
        assert_eq!(
            events(&out)[..2],
            [
                Event::PeerDead {
                    reason: PeerDeadReason::PortUnreachable
                },
                Event::TookOver {
                    why: TakeoverReason::PeerDead(PeerDeadReason::PortUnreachable)
                },
            ]
        );
    }

    #[test]
    fn a_valid_beat_between_refusals_resets_the_count() {
        let (mut p, mut a) = backup_hearing_active_primary();
        for path in [Path::Public, Path::Private] {
            p.handle_send_refused(ms(100), path);
        }
        p.handle_heartbeat(ms(1_000), from(PRIMARY_PUB), &a.active());
        p.handle_heartbeat(ms(1_000), from(PRIMARY_PRIV), &a.active());
        for path in [Path::Public, Path::Private] {
            p.handle_send_refused(ms(2_100), path);
        }
        assert!(!p.is_active());
        assert_eq!(p.counters().send_refused, 4);
    }

    #[test]
    fn a_faulted_router_never_takes_over() {
        let (mut p, mut a) = backup_hearing_active_primary();
        p.handle_child_failed(ms(10));
        let out = drain(&mut p);
        // STOPPED told to the partner right away.
        let tx = transmits(&out);
        assert_eq!(tx.len(), 2);
        let r = v2::Repr::parse_bytes(&tx[0].bytes, &key()).unwrap();
        assert_eq!(r.message, v2::Message::Stopped);
        assert!(r.flags.contains(Flags::FAULT));
        p.handle_heartbeat(ms(20), from(PRIMARY_PUB), &a.stopped());
        run_until(&mut p, secs(30));
        assert!(!p.is_active());
        assert_eq!(p.faults(), vec![Fault::ChildFailed]);
        // Fault cleared: the partner is long dead, take over at once.
        p.handle_fault_cleared(secs(30), Fault::ChildFailed);
        assert!(p.is_active());
    }
}

mod active {
    use super::*;

    fn active_router(role: Role) -> (Pulse, Peer) {
        let mut p = Pulse::new(v2(), role, 1, Instant::ZERO).unwrap();
        let mut peer = Peer::new(role.partner().node_id().0);
        p.handle_heartbeat(
            ms(1),
            from(if role == Role::Primary {
                BACKUP_PUB
            } else {
                PRIMARY_PUB
            }),
            &peer.stopped(),
        );
        assert!(p.is_active());
        drain(&mut p);
        (p, peer)
    }

    #[test]
    fn backup_yields_to_an_active_primary_after_one_last_beat() {
        let (mut p, mut a) = active_router(Role::Backup);
        p.handle_heartbeat(ms(500), from(PRIMARY_PUB), &a.active());
        let out = drain(&mut p);
        assert!(!p.is_active());
        // Last beat (ACTIVE) on both paths precedes the give-up actions.
        let Output::Transmit(first) = &out[0] else {
            panic!("{out:?}")
        };
        let r = v2::Repr::parse_bytes(&first.bytes, &key()).unwrap();
        assert!(r.flags.contains(Flags::ACTIVE));
        assert!(matches!(out[1], Output::Transmit(_)));
        assert_eq!(
            out[2],
            Output::Event(Event::GaveUp {
                why: GiveupReason::PrimaryWins
            })
        );
        assert_eq!(actions(&out), GIVEUP_ACTIONS.to_vec());
    }

    #[test]
    fn primary_reannounces_when_the_backup_claims_active() {
        let (mut p, mut b) = active_router(Role::Primary);
        p.handle_heartbeat(ms(500), from(BACKUP_PUB), &b.active());
        let out = drain(&mut p);
        assert!(p.is_active());
        assert_eq!(events(&out), vec![Event::Reannounced]);
        assert_eq!(
            actions(&out),
            vec![
                Action::RunActiveCmd,
                Action::Announce(Address::NatRouter),
                Action::Announce(Address::Vip(0)),
                Action::Announce(Address::Vip(1)),
            ]
        );
    }

    #[test]
    fn arp_burst_five_times_one_second_apart_then_refresh() {
        let mut c = v2();
        c.arp.refresh = Some(Duration::from_secs(30));
        let mut p = Pulse::new(c, Role::Backup, 1, Instant::ZERO).unwrap();
        let mut a = Peer::new(1);
        p.handle_heartbeat(ms(1), from(PRIMARY_PUB), &a.stopped());
        let mut rounds = vec![ms(1)];
        drain(&mut p);
        for _ in 0..200 {
            let Some((t, _)) = p.poll_timeout() else {
                break;
            };
            if t > secs(70) {
                break;
            }
            p.handle_timeout(t);
            let out = drain(&mut p);
            if actions(&out).contains(&Action::Announce(Address::Vip(1))) {
                rounds.push(t);
            }
        }
        assert_eq!(
            rounds,
            vec![
                ms(1),
                ms(1_001),
                ms(2_001),
                ms(3_001),
                ms(4_001),
                ms(34_001),
                ms(64_001)
            ]
        );
    }

    #[test]
    fn child_failure_gives_up_and_says_stopped() {
        let (mut p, _) = active_router(Role::Primary);
        p.handle_child_failed(secs(1));
        let out = drain(&mut p);
        assert!(!p.is_active());
        assert_eq!(
            events(&out),
            vec![Event::GaveUp {
                why: GiveupReason::ChildFailed
            }]
        );
        assert_eq!(actions(&out), GIVEUP_ACTIONS.to_vec());
        let tx = transmits(&out);
        assert_eq!(tx.len(), 2);
        assert!(tx
            .iter()
            .all(|t| v2::Repr::parse_bytes(&t.bytes, &key()).unwrap().message
                == v2::Message::Stopped));
        // Legacy STOPPED is the x86 magic.
        let mut l = Pulse::new(base(), Role::Backup, 1, Instant::ZERO).unwrap();
        drain(&mut l);
        l.handle_link_down(ms(1));
        let tx = transmits(&drain(&mut l));
        assert_eq!(tx[1].bytes, vec![0xbd, 0xda, 0xbd, 0xad]);
    }

    #[test]
    fn shutdown_gives_up_says_stopped_and_goes_quiet() {
        let (mut p, mut b) = active_router(Role::Backup);
        p.handle_shutdown(secs(1));
        let out = drain(&mut p);
        assert!(!p.is_active() && p.is_shut_down());
        assert_eq!(
            events(&out),
            vec![
                Event::GaveUp {
                    why: GiveupReason::Shutdown
                },
                Event::ShutDown
            ]
        );
        assert_eq!(transmits(&out).len(), 2);
        assert_eq!(p.poll_timeout(), None);
        p.handle_heartbeat(secs(2), from(PRIMARY_PUB), &b.stopped());
        p.handle_timeout(secs(100));
        assert!(drain(&mut p).is_empty());
    }

    #[test]
    fn failback_backup_hands_over_vips_down_before_stopped() {
        let mut c = v2();
        c.failback = true;
        let mut p = Pulse::new(c, Role::Backup, 1, Instant::ZERO).unwrap();
        let mut a = Peer::new(1);
        p.handle_heartbeat(ms(1), from(PRIMARY_PUB), &a.stopped());
        assert!(p.is_active());
        drain(&mut p);
        p.handle_heartbeat(
            secs(1),
            from(PRIMARY_PUB),
            &a.beat(v2::Message::Running, Flags::TAKEBACK),
        );
        let out = drain(&mut p);
        assert!(!p.is_active());
        let last_down = out
            .iter()
            .rposition(|o| matches!(o, Output::Action(Action::AddressDown(_))))
            .unwrap();
        let first_tx = out
            .iter()
            .position(|o| matches!(o, Output::Transmit(_)))
            .unwrap();
        assert!(last_down < first_tx);
        let Output::Transmit(t) = &out[first_tx] else {
            unreachable!()
        };
        assert_eq!(
            v2::Repr::parse_bytes(&t.bytes, &key()).unwrap().message,
            v2::Message::Stopped
        );
        assert_eq!(
            events(&out),
            vec![Event::GaveUp {
                why: GiveupReason::HandBack
            }]
        );
    }
}

mod rejecting {
    use super::*;

    fn listening_backup() -> (Pulse, Peer) {
        let mut p = Pulse::new(v2(), Role::Backup, 1, Instant::ZERO).unwrap();
        let mut a = Peer::new(1);
        p.handle_heartbeat(ms(1), from(PRIMARY_PUB), &a.active());
        drain(&mut p);
        (p, a)
    }

    fn rejected(p: &mut Pulse) -> Vec<RejectReason> {
        events(&drain(p))
            .into_iter()
            .filter_map(|e| match e {
                Event::HeartbeatRejected { why, .. } => Some(why),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn forged_replayed_stale_foreign_legacy_and_wrong_node_never_act() {
        let (mut p, mut a) = listening_backup();
        let stopped = a.stopped();
        let mut forged = stopped.clone();
        forged[70] ^= 0x80;
        p.handle_heartbeat(ms(10), from(PRIMARY_PUB), &forged);
        let other_key =
            v2::Repr::heartbeat(v2::Message::Stopped, Flags::empty(), NodeId(1), 100, 50, 0)
                .to_bytes(&Key::new(b"not our key").unwrap());
        p.handle_heartbeat(ms(11), from(PRIMARY_PUB), &other_key);
        p.handle_heartbeat(ms(12), from("192.168.26.66"), &stopped);
        p.handle_heartbeat(ms(13), from(PRIMARY_PUB), &[0xbd, 0xda, 0xbd, 0xad]);
        let mut me = Peer::new(2);
        p.handle_heartbeat(ms(14), from(PRIMARY_PUB), &me.stopped());
        let mut old = Peer {
            incarnation: 99,
            ..Peer::new(1)
        };
        p.handle_heartbeat(ms(15), from(PRIMARY_PUB), &old.stopped());
        p.handle_heartbeat(ms(16), from(PRIMARY_PUB), &[1, 2, 3]);
        assert!(!p.is_active());
        assert_eq!(
            rejected(&mut p),
            vec![
                RejectReason::Unauthenticated,
                RejectReason::Unauthenticated,
                RejectReason::ForeignSource,
                RejectReason::LegacyRefused,
                RejectReason::WrongNode,
                RejectReason::StaleIncarnation,
                RejectReason::Length,
            ]
        );
        // The genuine STOPPED still works once; its replay is refused.
        p.handle_heartbeat(ms(20), from(PRIMARY_PUB), &stopped);
        assert!(p.is_active());
        drain(&mut p);
        p.handle_heartbeat(ms(30), from(PRIMARY_PRIV), &stopped);
        assert_eq!(rejected(&mut p), vec![RejectReason::Replayed]);
        let c = *p.counters();
        assert_eq!(
            (
                c.unauthenticated,
                c.foreign_source,
                c.legacy_refused,
                c.wrong_node,
                c.stale,
                c.bad_length,
                c.replayed
            ),
            (2, 1, 1, 1, 1, 1, 1)
        );
        assert_eq!(c.rejected(), 8);
        assert_eq!(c.accepted, 2);
    }

    #[test]
    fn legacy_mode_accepts_either_byte_order_but_not_fos() {
        let mut p = Pulse::new(base(), Role::Backup, 1, Instant::ZERO).unwrap();
        p.handle_heartbeat(ms(1), from(PRIMARY_PUB), &[0xbe, 0xef, 0xba, 0xbe]);
        assert_eq!(rejected(&mut p), vec![RejectReason::Malformed]);
        p.handle_heartbeat(ms(2), from(PRIMARY_PUB), &0xbdad_dbda_u32.to_be_bytes());
        assert_eq!(p.peer_state(), PeerState::Active);
        p.handle_heartbeat(ms(3), from(PRIMARY_PRIV), &[0xbd, 0xda, 0xbd, 0xad]);
        assert!(p.is_active());
    }
}

mod lease {
    use super::*;

    fn with_arbiter() -> PulseConfig {
        let mut c = v2();
        c.arbiter = Some(ArbiterConfig {
            address: WITNESS.parse().unwrap(),
            lease: Duration::from_secs(8),
            safety_margin: Duration::from_millis(500),
        });
        c
    }

    fn reply(message: v2::Message, holder: u32, echo: u64, seq: u64) -> Vec<u8> {
        v2::Repr {
            lease_holder: NodeId(holder),
            lease_ms: 8_000,
            echo,
            ..v2::Repr::heartbeat(message, Flags::empty(), WITNESS_NODE_ID, 1, seq, 0)
        }
        .to_bytes(&key())
        .to_vec()
    }

    #[test]
    fn takeover_waits_for_the_grant_and_ends_with_the_lease() {
        let mut p = Pulse::new(with_arbiter(), Role::Backup, 1, Instant::ZERO).unwrap();
        let mut a = Peer::new(1);
        drain(&mut p);
        p.handle_heartbeat(ms(1), from(PRIMARY_PUB), &a.stopped());
        let out = drain(&mut p);
        assert!(!p.is_active());
        assert_eq!(
            events(&out),
            vec![
                Event::PathAlive { path: Path::Public },
                Event::TakeoverAwaitingLease {
                    why: TakeoverReason::PeerStopped
                }
            ]
        );
        let tx = transmits(&out);
        assert_eq!(tx.len(), 1);
        assert_eq!(tx[0].path, Path::Arbiter);
        let req = v2::Repr::parse_bytes(&tx[0].bytes, &key()).unwrap();
        assert_eq!(
            (req.message, req.lease_ms),
            (v2::Message::LeaseRequest, 8_000)
        );
        // A denial keeps us inactive.
        p.handle_heartbeat(
            ms(3),
            WITNESS.parse().unwrap(),
            &reply(v2::Message::LeaseDeny, 1, req.sequence, 1),
        );
        assert!(!p.is_active());
        assert_eq!(
            events(&drain(&mut p)),
            vec![Event::LeaseDenied { holder: NodeId(1) }]
        );
        // The retry (keepalive = 2 s) gets a grant 1 s late; the lease counts from the ask.
        let out = run_until(&mut p, ms(2_001));
        let req = v2::Repr::parse_bytes(&transmits(&out).last().unwrap().bytes, &key()).unwrap();
        assert_eq!(req.message, v2::Message::LeaseRequest);
        p.handle_heartbeat(
            ms(3_001),
            WITNESS.parse().unwrap(),
            &reply(v2::Message::LeaseGrant, 2, req.sequence, 2),
        );
        assert!(p.is_active());
        assert_eq!(p.lease_valid_until(), Some(ms(9_501)));
        // Nothing renews it (the witness is gone): give up exactly at expiry.
        let out = run_until(&mut p, ms(9_500));
        assert!(p.is_active());
        assert_eq!(
            transmits(&out)
                .iter()
                .filter(|t| t.path == Path::Arbiter)
                .count(),
            3,
            "renewals every lease/4"
        );
        let out = run_until(&mut p, ms(9_501));
        assert!(!p.is_active());
        assert!(events(&out).contains(&Event::GaveUp {
            why: GiveupReason::LeaseLost
        }));
    }

    #[test]
    fn replies_that_answer_nothing_are_rejected() {
        let mut p = Pulse::new(with_arbiter(), Role::Backup, 1, Instant::ZERO).unwrap();
        p.handle_heartbeat(
            ms(1),
            WITNESS.parse().unwrap(),
            &reply(v2::Message::LeaseGrant, 2, 77, 1),
        );
        assert!(!p.is_active());
        assert_eq!(p.counters().unexpected_reply, 1);
        assert_eq!(p.lease_valid_until(), None);
    }
}
