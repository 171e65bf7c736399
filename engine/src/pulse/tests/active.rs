//! Transcripts: active.

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
        .all(|t| v2::Repr::parse_bytes(&t.bytes, &key()).unwrap().message == v2::Message::Stopped));
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
