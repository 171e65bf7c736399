//! Transcripts: rejecting.

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
            // The second unauthenticated packet is counted but not reported again.
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
    // A flood: every packet counted, one event per path and reason per keepalive (2 s):
    // the flood on the public path is reported once, the private path's report stands.
    for k in 0..1000 {
        p.handle_heartbeat(ms(40 + k), from(PRIMARY_PUB), &stopped);
        p.handle_heartbeat(ms(40 + k), from(PRIMARY_PRIV), &stopped);
    }
    assert_eq!(rejected(&mut p), vec![RejectReason::Replayed]);
    // A keepalive after the private path's report (30 ms), it is reported again.
    p.handle_heartbeat(ms(2_030), from(PRIMARY_PRIV), &stopped);
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
        (2, 1, 1, 1, 1, 1, 2002)
    );
    assert_eq!(c.rejected(), 2009);
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

#[test]
fn serial_mismatch_is_reported_once_per_value() {
    let (mut p, mut a) = listening_backup();
    let beat = |a: &mut Peer, serial| {
        a.sequence += 1;
        v2::Repr {
            echo: a.echo,
            ..v2::Repr::heartbeat(
                v2::Message::Running,
                Flags::ACTIVE,
                NodeId(1),
                100,
                a.sequence,
                serial,
            )
        }
        .to_bytes(&key())
    };
    for serial in [5, 5, 5, 6, 0] {
        p.handle_heartbeat(ms(100), from(PRIMARY_PUB), &beat(&mut a, serial));
    }
    let mismatches: Vec<Event> = events(&drain(&mut p))
        .into_iter()
        .filter(|e| matches!(e, Event::SerialMismatch { .. }))
        .collect();
    assert_eq!(
        mismatches,
        vec![
            Event::SerialMismatch { ours: 0, theirs: 5 },
            Event::SerialMismatch { ours: 0, theirs: 6 },
        ]
    );
}

proptest::proptest! {
    /// Arbitrary datagrams from the partner's own address never panic, never count as
    /// accepted and never change a decision (v2: nothing unauthenticated is acted on).
    #[test]
    fn arbitrary_bytes_from_the_partner_change_nothing(
        packets in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..100), 1..20),
        private in proptest::prelude::any::<bool>(),
    ) {
        let (mut p, _) = listening_backup();
        let source = if private { PRIMARY_PRIV } else { PRIMARY_PUB };
        for (k, bytes) in packets.iter().enumerate() {
            p.handle_heartbeat(ms(10 + k as u64), from(source), bytes);
        }
        proptest::prop_assert!(!p.is_active());
        proptest::prop_assert_eq!(p.counters().accepted, 1);
        proptest::prop_assert_eq!(p.counters().rejected(), packets.len() as u64);
        proptest::prop_assert_eq!(p.peer_state(), PeerState::Active);
    }

    /// Legacy mode: any bytes at all never panic.
    #[test]
    fn legacy_parser_in_pulse_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..100)) {
        let mut p = Pulse::new(base(), Role::Primary, 1, Instant::ZERO).unwrap();
        p.handle_heartbeat(ms(1), from(BACKUP_PUB), &bytes);
        while p.poll_output().is_some() {}
    }
}

#[test]
fn beats_recorded_before_a_restart_are_refused_after_it() {
    // An attacker recorded the primary's beats while this backup ran as incarnation 1 (they
    // echo 1): a RUNNING stream and a STOPPED. The backup restarts as incarnation 2 while
    // the primary is dead, and the recording is played back to it.
    let mut recorder = Peer::new(1);
    let recorded_active: Vec<Vec<u8>> = (0..40).map(|_| recorder.active()).collect();
    let recorded_stopped = recorder.stopped();
    let mut p = Pulse::new(v2(), Role::Backup, 2, Instant::ZERO).unwrap();
    drain(&mut p);
    // The replayed STOPPED does not make it take over while the primary may hold the VIPs...
    p.handle_heartbeat(ms(5), from(PRIMARY_PUB), &recorded_stopped);
    assert!(!p.is_active());
    // ...and the replayed RUNNING beats do not keep it passive: the primary is declared dead
    // after deadtime + keepalive (v2(): keepalive 2 s, deadtime 6 s), as if nothing came.
    let mut out = Vec::new();
    for (i, beat) in recorded_active.iter().enumerate() {
        let at = ms(10 + 250 * i as u64);
        out.extend(run_until(&mut p, at));
        p.handle_heartbeat(at, from(PRIMARY_PUB), beat);
    }
    out.extend(run_until(&mut p, secs(10)));
    assert!(p.is_active());
    assert!(events(&out).contains(&Event::TookOver {
        why: TakeoverReason::PeerDead(PeerDeadReason::Deadtime)
    }));
    assert_eq!(p.counters().accepted, 0);
    assert_eq!(p.counters().unconfirmed, 41);
    // The same replay once this run has heard the partner is refused and reported.
    let mut live = Peer {
        echo: 2,
        incarnation: 200,
        ..Peer::new(1)
    };
    p.handle_heartbeat(secs(11), from(PRIMARY_PUB), &live.standby());
    assert_eq!(p.counters().accepted, 1);
    drain(&mut p);
    let mut stale = Peer {
        echo: 1,
        incarnation: 201,
        ..Peer::new(1)
    };
    p.handle_heartbeat(secs(11), from(PRIMARY_PUB), &stale.stopped());
    assert_eq!(rejected(&mut p), vec![RejectReason::Unconfirmed]);
    assert!(p.is_active());
}

#[test]
fn our_beats_echo_the_partners_newest_incarnation() {
    let mut p = Pulse::new(v2(), Role::Backup, 1, Instant::ZERO).unwrap();
    let out = drain(&mut p);
    let first = v2::Repr::parse_bytes(&transmits(&out)[0].bytes, &key()).unwrap();
    assert_eq!(first.echo, 0, "nothing heard yet");
    // An authentic beat that does not echo us yet still teaches us the partner's run.
    let mut a = Peer {
        echo: 0,
        ..Peer::new(1)
    };
    p.handle_heartbeat(ms(1), from(PRIMARY_PUB), &a.standby());
    assert_eq!(p.counters().accepted, 0);
    // It is answered at once (not at the next keepalive) with a beat that echoes it.
    let out = drain(&mut p);
    let reply = v2::Repr::parse_bytes(&transmits(&out)[0].bytes, &key()).unwrap();
    assert_eq!(reply.echo, 100);
    // Only a new run is answered early: the same one again waits for the keepalive.
    p.handle_heartbeat(ms(2), from(PRIMARY_PUB), &a.standby());
    assert!(transmits(&drain(&mut p)).is_empty());
}
