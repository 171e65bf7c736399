//! Transcripts: inactive.

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
fn own_stall_past_deadtime_is_not_the_partners_death() {
    // Found by the simulator (pause fault): a backup stalled past deadtime must not take over
    // on resume before the live primary had a keepalive to be heard.
    let (mut p, mut a) = backup_hearing_active_primary();
    run_until(&mut p, ms(1_000));
    // Stalled from 1 s to 30 s (deadtime 5 s, keepalive 2 s): resume.
    p.handle_timeout(secs(30));
    let out = drain(&mut p);
    assert!(!p.is_active(), "no takeover on resume: {:?}", events(&out));
    for t in [31, 33, 35, 37, 39] {
        p.handle_heartbeat(secs(t), from(PRIMARY_PUB), &a.active());
        let out = run_until(&mut p, secs(t + 2));
        assert!(!p.is_active(), "{:?}", events(&out));
    }
    // A partner that is really gone is declared dead a keepalive and a half after resume.
    let (mut p, _) = backup_hearing_active_primary();
    run_until(&mut p, ms(1_000));
    p.handle_timeout(secs(30));
    drain(&mut p);
    run_until(&mut p, ms(32_999));
    assert!(!p.is_active());
    run_until(&mut p, secs(33));
    assert!(p.is_active());
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
