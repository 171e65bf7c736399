//! Transcripts: starting.

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
    assert_eq!(actions(&out), TAKEOVER_ACTIONS.to_vec());
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
