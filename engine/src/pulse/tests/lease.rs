//! Transcripts: lease.

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

#[test]
fn a_grace_grant_without_a_valid_lease_is_refused_and_released() {
    let mut p = Pulse::new(with_arbiter(), Role::Backup, 1, Instant::ZERO).unwrap();
    drain(&mut p);
    let mut a = Peer::new(1);
    p.handle_heartbeat(ms(1), from(PRIMARY_PUB), &a.stopped());
    let out = drain(&mut p);
    let req = v2::Repr::parse_bytes(&transmits(&out)[0].bytes, &key()).unwrap();
    let grace = v2::Repr {
        flags: Flags::GRACE,
        ..v2::Repr::parse_bytes(&reply(v2::Message::LeaseGrant, 2, req.sequence, 1), &key())
            .unwrap()
    }
    .to_bytes(&key());
    p.handle_heartbeat(ms(2), WITNESS.parse().unwrap(), &grace);
    let out = drain(&mut p);
    assert!(!p.is_active());
    assert_eq!(events(&out), vec![Event::GraceGrantRefused]);
    let tx = transmits(&out);
    assert_eq!(tx.len(), 1);
    let release = v2::Repr::parse_bytes(&tx[0].bytes, &key()).unwrap();
    assert_eq!(release.message, v2::Message::LeaseRelease);
    // Still wanting the takeover, it keeps asking.
    let out = run_until(&mut p, ms(2_001));
    let asks = transmits(&out)
        .iter()
        .filter(|t| t.path == Path::Arbiter)
        .count();
    assert_eq!(asks, 1);
}
