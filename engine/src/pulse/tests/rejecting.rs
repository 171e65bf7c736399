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
    // A flood: every packet counted, one event per reason per keepalive (2 s).
    for k in 0..1000 {
        p.handle_heartbeat(ms(40 + k), from(PRIMARY_PUB), &stopped);
    }
    assert_eq!(rejected(&mut p), vec![]);
    p.handle_heartbeat(ms(2_030), from(PRIMARY_PUB), &stopped);
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
        (2, 1, 1, 1, 1, 1, 1002)
    );
    assert_eq!(c.rejected(), 1009);
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
        v2::Repr::heartbeat(
            v2::Message::Running,
            Flags::ACTIVE,
            NodeId(1),
            100,
            a.sequence,
            serial,
        )
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
