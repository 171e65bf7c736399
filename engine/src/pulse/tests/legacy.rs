//! Transcripts: the legacy wire as Piranha 0.8.6's pulse speaks it (pulse.c): an inactive
//! router says STOPPED every keepalive, an active one RUNNING; a router takes over on the
//! partner's STOPPED; a child failure clears at the partner's next RUNNING.

use super::*;
use crate::wire::legacy;

const RUNNING: [u8; 4] = legacy::magic::RUNNING.to_le_bytes();
const STOPPED: [u8; 4] = legacy::magic::STOPPED.to_le_bytes();

fn legacy_messages(out: &[Output]) -> Vec<(Path, legacy::Message)> {
    transmits(out)
        .iter()
        .map(|t| {
            let r = legacy::Repr::parse_bytes(&t.bytes).expect("a 4-byte legacy beat");
            (t.path, r.message)
        })
        .collect()
}

fn both(m: legacy::Message) -> Vec<(Path, legacy::Message)> {
    vec![(Path::Public, m), (Path::Private, m)]
}

fn took_over(out: &[Output]) -> Vec<TakeoverReason> {
    events(out)
        .into_iter()
        .filter_map(|e| match e {
            Event::TookOver { why } => Some(why),
            _ => None,
        })
        .collect()
}

#[test]
fn inactive_backup_says_stopped_at_once_and_every_keepalive_never_an_empty_probe() {
    let mut p = Pulse::new(base(), Role::Backup, 1, Instant::ZERO).unwrap();
    let out = drain(&mut p);
    assert_eq!(legacy_messages(&out), both(legacy::Message::Stopped));
    assert_eq!(transmits(&out)[0].bytes, STOPPED, "x86 byte order, 4 bytes");
    let out = run_until(&mut p, secs(6));
    let tx = transmits(&out);
    assert_eq!(tx.len(), 6, "beats at 2, 4, 6 s on both paths");
    assert!(tx.iter().all(|t| t.bytes == STOPPED), "{tx:?}");
    assert!(!p.is_active());
}

#[test]
fn primary_keeps_quiet_until_it_hears_the_backup_then_takes_over_on_its_stopped() {
    let mut p = Pulse::new(base(), Role::Primary, 1, Instant::ZERO).unwrap();
    let out = drain(&mut p);
    assert!(
        transmits(&out).is_empty(),
        "a STOPPED now would make an old backup take over"
    );
    let out = run_until(&mut p, ms(2_500));
    assert!(transmits(&out).is_empty());
    // The backup's STOPPED: it is inactive; take over at once, as Piranha's primary does
    // ("backup inactive: activating lvs"), and say RUNNING at once.
    p.handle_heartbeat(ms(3_000), from(BACKUP_PUB), &STOPPED);
    let out = drain(&mut p);
    assert!(p.is_active());
    assert_eq!(took_over(&out), vec![TakeoverReason::PeerStopped]);
    assert_eq!(actions(&out), TAKEOVER_ACTIONS.to_vec());
    assert_eq!(legacy_messages(&out), both(legacy::Message::Running));
}

#[test]
fn a_primary_that_heard_an_active_backup_beats_stopped_and_stays_standby() {
    let mut p = Pulse::new(base(), Role::Primary, 1, Instant::ZERO).unwrap();
    drain(&mut p);
    p.handle_heartbeat(ms(100), from(BACKUP_PUB), &RUNNING);
    p.handle_heartbeat(ms(100), from(BACKUP_PRIV), &RUNNING);
    drain(&mut p);
    for s in 1..=10 {
        p.handle_heartbeat(secs(2 * s), from(BACKUP_PUB), &RUNNING);
        p.handle_heartbeat(secs(2 * s), from(BACKUP_PRIV), &RUNNING);
    }
    let out = run_until(&mut p, secs(20));
    assert!(!p.is_active(), "no fail-back on the legacy wire");
    assert!(!legacy_messages(&out).is_empty());
    assert!(legacy_messages(&out)
        .iter()
        .all(|(_, m)| *m == legacy::Message::Stopped));
}

#[test]
fn backup_answers_a_cold_primarys_stopped_and_lets_it_take_over() {
    let mut p = Pulse::new(base(), Role::Backup, 1, Instant::ZERO).unwrap();
    drain(&mut p);
    // An old primary, inactive since its start, says STOPPED at its first keepalive. An old
    // backup would take over at once and the primary would stay standby for good; we answer
    // STOPPED at once so the primary takes over.
    p.handle_heartbeat(ms(1_000), from(PRIMARY_PUB), &STOPPED);
    let out = drain(&mut p);
    assert!(!p.is_active());
    assert_eq!(legacy_messages(&out), both(legacy::Message::Stopped));
    assert_eq!(
        p.peer_state(),
        PeerState::Standby,
        "every inactive router says STOPPED on this wire"
    );
    // It did: RUNNING at its next beat.
    p.handle_heartbeat(ms(2_000), from(PRIMARY_PUB), &RUNNING);
    p.handle_heartbeat(ms(2_000), from(PRIMARY_PRIV), &RUNNING);
    for s in 2..=10 {
        p.handle_heartbeat(secs(2 * s), from(PRIMARY_PUB), &RUNNING);
    }
    let out = run_until(&mut p, secs(20));
    assert!(!p.is_active());
    assert!(took_over(&out).is_empty());
}

#[test]
fn backup_takes_over_when_a_never_active_primary_keeps_saying_stopped() {
    let mut p = Pulse::new(base(), Role::Backup, 1, Instant::ZERO).unwrap();
    drain(&mut p);
    p.handle_heartbeat(ms(1_000), from(PRIMARY_PUB), &STOPPED);
    drain(&mut p);
    p.handle_heartbeat(ms(3_000), from(PRIMARY_PUB), &STOPPED);
    assert!(
        !p.is_active(),
        "grace: keepalive and a half after the first STOPPED"
    );
    drain(&mut p);
    // Faulted (its child died, a link is down): it stays STOPPED. 1 s + 3 s.
    let out = run_until(&mut p, ms(4_000));
    assert!(p.is_active());
    assert_eq!(took_over(&out), vec![TakeoverReason::PeerStopped]);
}

#[test]
fn backup_takes_over_at_once_when_an_active_primary_says_stopped() {
    let mut p = Pulse::new(base(), Role::Backup, 1, Instant::ZERO).unwrap();
    drain(&mut p);
    p.handle_heartbeat(ms(1_000), from(PRIMARY_PUB), &RUNNING);
    drain(&mut p);
    // It gave up (SIGTERM of piranha, a failed child of either): no grace.
    p.handle_heartbeat(ms(3_000), from(PRIMARY_PUB), &STOPPED);
    let out = drain(&mut p);
    assert!(p.is_active());
    assert_eq!(took_over(&out), vec![TakeoverReason::PeerStopped]);
}

#[test]
fn an_active_backup_gives_way_to_a_running_primary_with_one_last_running() {
    let mut p = Pulse::new(base(), Role::Backup, 1, Instant::ZERO).unwrap();
    drain(&mut p);
    run_until(&mut p, secs(8));
    assert!(p.is_active(), "partner dead");
    p.handle_heartbeat(secs(9), from(PRIMARY_PUB), &RUNNING);
    let out = drain(&mut p);
    assert!(!p.is_active());
    let m = legacy_messages(&out);
    assert_eq!(&m[..2], &both(legacy::Message::Running)[..], "{m:?}");
}

#[test]
fn a_child_failure_clears_at_the_partners_next_running() {
    let mut p = Pulse::new(base(), Role::Backup, 1, Instant::ZERO).unwrap();
    drain(&mut p);
    run_until(&mut p, secs(8));
    assert!(p.is_active());
    // One refused IPVS op with hard_shutdown, or lvs died: give up, say STOPPED.
    p.handle_child_failed(secs(9));
    let out = drain(&mut p);
    assert!(!p.is_active());
    assert_eq!(legacy_messages(&out), both(legacy::Message::Stopped));
    // The primary took over on it.
    p.handle_heartbeat(secs(10), from(PRIMARY_PUB), &RUNNING);
    let out = drain(&mut p);
    assert_eq!(p.faults(), vec![]);
    assert!(events(&out).contains(&Event::FaultCleared {
        fault: Fault::ChildFailed
    }));
    // A standby again: when the primary dies we take over.
    p.handle_heartbeat(secs(10), from(PRIMARY_PRIV), &RUNNING);
    let out = run_until(&mut p, secs(20));
    assert!(p.is_active());
    assert_eq!(
        took_over(&out),
        vec![TakeoverReason::PeerDead(PeerDeadReason::Deadtime)]
    );
}

#[test]
fn a_link_fault_does_not_clear_on_running() {
    let mut p = Pulse::new(base(), Role::Backup, 1, Instant::ZERO).unwrap();
    drain(&mut p);
    p.handle_link_down(ms(10));
    p.handle_heartbeat(ms(20), from(PRIMARY_PUB), &RUNNING);
    assert_eq!(p.faults(), vec![Fault::LinkDown]);
}

fn lone() -> PulseConfig {
    let mut c = base();
    c.backup = c.primary;
    c.no_partner = true;
    c
}

#[test]
fn no_partner_sends_no_heartbeat_and_takes_over_after_deadtime() {
    let mut p = Pulse::new(lone(), Role::Primary, 1, Instant::ZERO).unwrap();
    let mut out = drain(&mut p);
    out.extend(run_until(&mut p, secs(30)));
    assert!(transmits(&out).is_empty(), "{:?}", transmits(&out));
    assert!(p.is_active());
    assert_eq!(
        took_over(&out),
        vec![TakeoverReason::PeerDead(PeerDeadReason::Deadtime)]
    );
}

#[test]
fn our_own_datagrams_are_never_a_partner() {
    // A lone router whose "partner" address is its own: what it hears from there is its own.
    let mut p = Pulse::new(lone(), Role::Primary, 1, Instant::ZERO).unwrap();
    drain(&mut p);
    for s in 0..30 {
        p.handle_heartbeat(secs(s), from(PRIMARY_PUB), &RUNNING);
        run_until(&mut p, secs(s));
    }
    assert!(p.is_active(), "RUNNING from ourselves kept nobody alive");
    assert_eq!(p.counters().accepted, 0);
    // And with a partner configured, a datagram from our own address is foreign too.
    let mut p = Pulse::new(base(), Role::Backup, 1, Instant::ZERO).unwrap();
    drain(&mut p);
    p.handle_heartbeat(ms(10), from(BACKUP_PUB), &STOPPED);
    assert_eq!(p.counters().foreign_source, 1);
    assert_eq!(p.peer_state(), PeerState::Unknown);
}
