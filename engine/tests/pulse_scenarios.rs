//! Two routers (and optionally a witness) on a tiny in-test network, driven to the next
//! wakeup like quinn-proto's `Pair`. Each scenario asserts who is active and when.
//!
//! Network: one-way latency per datagram, a drop switch per path (public, private, each
//! router's link to the witness), hosts that can crash (datagrams vanish) or lose only their
//! daemon (datagrams are answered by ICMP port unreachable, reported to the sender's pulse
//! after one more latency).

#[path = "pulse/pair.rs"]
mod pair;

use core::net::SocketAddr;
use pair::*;
use piranha_engine::pulse::{Event, GiveupReason, Path, PeerDeadReason, TakeoverReason};
use piranha_engine::time::Duration;
use piranha_engine::wire::v2::{self, Flags, Key, NodeId};
use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

// ----- clean start ---------------------------------------------------------------------

#[test]
fn clean_start_of_both_makes_exactly_the_primary_active() {
    for proto in [Proto::V2, Proto::Legacy] {
        let mut pair = Pair::start_both(config(proto));
        pair.run_until(ms(60_000));
        assert!(!pair.ever_dual_active());
        assert!(pair.active(P) && !pair.active(B));
        // v2: the primary listens for deadtime, then takes over from a standby backup. Legacy:
        // an inactive router says STOPPED (as Piranha's), the primary keeps quiet until it
        // hears the backup and takes over on the backup's first STOPPED (1 ms latency).
        let expected = if proto == Proto::V2 {
            (ms(5_000), TakeoverReason::PeerStandby)
        } else {
            (ms(1), TakeoverReason::PeerStopped)
        };
        assert_eq!(pair.takeovers(P), vec![expected]);
        assert!(pair.takeovers(B).is_empty());
    }
}

#[test]
fn staggered_starts_never_make_both_active() {
    // Every start offset from -12 s to +12 s in 250 ms steps, both protocols.
    for proto in [Proto::V2, Proto::Legacy] {
        for step in 0..=96u64 {
            let offset = step * 250;
            for first in [P, B] {
                let mut pair = Pair::new(config(proto));
                pair.start(first);
                pair.run_until(ms(offset));
                pair.start(1 - first);
                pair.run_until(ms(offset + 60_000));
                assert!(
                    !pair.ever_dual_active(),
                    "dual active: {:?} first={first} offset={offset}ms",
                    proto == Proto::V2
                );
                assert!(pair.active(P) ^ pair.active(B), "exactly one active");
            }
        }
    }
}

// ----- crash and graceful stop ---------------------------------------------------------

#[test]
fn crash_of_active_backup_takes_over_after_deadtime() {
    let mut pair = Pair::start_both(config(Proto::V2));
    pair.run_until(ms(20_000));
    assert!(pair.active(P));
    // The primary beat at 19 s (5 s takeover, then every 2 s); the backup heard it at 19.001.
    pair.crash_host(P);
    pair.run_until(ms(24_000));
    assert!(!pair.active(B));
    pair.run_until(ms(30_000));
    assert_eq!(
        pair.takeovers(B),
        vec![(
            ms(24_001),
            TakeoverReason::PeerDead(PeerDeadReason::Deadtime)
        )]
    );
}

#[test]
fn graceful_stop_hands_over_in_under_a_millisecond() {
    for proto in [Proto::V2, Proto::Legacy] {
        let mut pair = Pair::start_both(config(proto));
        pair.run_until(ms(20_500));
        pair.stop_gracefully(P);
        pair.run_until(ms(30_000));
        // STOPPED left at 20.500 and arrived at 20.501; the takeover happened on arrival.
        assert_eq!(
            pair.takeovers(B),
            vec![(ms(20_501), TakeoverReason::PeerStopped)]
        );
        assert!(pair.active(B));
        assert!(!pair.ever_dual_active());
    }
}

#[test]
fn daemon_killed_host_up_is_detected_by_port_unreachable() {
    let mut c = config(Proto::V2);
    c.keepalive = Duration::from_secs(1);
    c.deadtime = Duration::from_secs(10);
    let mut pair = Pair::start_both(c);
    pair.run_until(ms(20_500));
    assert!(pair.active(P));
    pair.kill_daemon(P);
    pair.run_until(ms(40_000));
    // The backup beats at 21.001 s and 22.001 s (its beat timer restarted at 0.001 s, when
    // it answered the primary's first beat with one echoing the primary's incarnation); each
    // is refused on both paths one RTT later.
    assert_eq!(
        pair.takeovers(B),
        vec![(
            ms(22_003),
            TakeoverReason::PeerDead(PeerDeadReason::PortUnreachable)
        )]
    );
    assert!(ms(22_003) - ms(20_500) <= Duration::from_secs(2));
}

// ----- the primary returns -------------------------------------------------------------

#[test]
fn returning_primary_does_not_fail_back_by_default() {
    let mut pair = Pair::start_both(config(Proto::V2));
    pair.run_until(ms(20_000));
    pair.crash_host(P);
    pair.run_until(ms(40_000));
    assert!(pair.active(B));
    pair.start(P);
    pair.run_until(ms(200_000));
    assert!(pair.active(B) && !pair.active(P));
    assert_eq!(
        pair.takeovers(P),
        vec![(ms(5_000), TakeoverReason::PeerStandby)]
    );
    assert!(!pair.ever_dual_active());
}

#[test]
fn failback_hands_back_without_dual_active() {
    let mut c = config(Proto::V2);
    c.failback = true;
    let mut pair = Pair::start_both(c);
    pair.run_until(ms(20_000));
    pair.crash_host(P);
    pair.run_until(ms(40_000));
    assert!(pair.active(B));
    pair.start(P);
    pair.run_until(ms(100_000));
    assert!(pair.active(P) && !pair.active(B));
    assert!(!pair.ever_dual_active());
    // Backup beats at 24.001 + 2k s; the primary first hears it at 40.002, has been up and
    // hearing it for deadtime at 45.002, and asks on its next beat (46 s); the backup
    // takes its VIPs down on arrival (46.001) and its STOPPED makes the primary active at
    // 46.002.
    assert_eq!(pair.giveups(B), vec![(ms(46_001), GiveupReason::HandBack)]);
    assert_eq!(
        pair.takeovers(P),
        vec![
            (ms(5_000), TakeoverReason::PeerStandby),
            (ms(46_002), TakeoverReason::PeerStopped)
        ]
    );
}

// ----- partial and full partitions -----------------------------------------------------

#[test]
fn losing_one_path_never_causes_a_takeover() {
    for lose_public in [true, false] {
        let mut pair = Pair::start_both(config(Proto::V2));
        pair.run_until(ms(20_000));
        if lose_public {
            pair.public_up = false;
        } else {
            pair.private_up = false;
        }
        pair.run_until(ms(200_000));
        assert!(pair.active(P) && !pair.active(B));
        assert!(pair.takeovers(B).is_empty());
        let lost = if lose_public {
            Path::Public
        } else {
            Path::Private
        };
        let silent: Vec<_> = pair
            .events_of(B)
            .into_iter()
            .filter(|(_, e)| matches!(e, Event::PathSilent { .. }))
            .collect();
        assert_eq!(silent, vec![(ms(24_001), Event::PathSilent { path: lost })]);
    }
}

#[test]
fn symmetric_partition_without_arbiter_is_dual_active_until_healed() {
    let mut pair = Pair::start_both(config(Proto::V2));
    pair.run_until(ms(20_000));
    pair.public_up = false;
    pair.private_up = false;
    pair.run_until(ms(40_000));
    // Piranha's behaviour: both active.
    assert!(pair.active(P) && pair.active(B));
    assert_eq!(pair.takeovers(B)[0].0, ms(24_001));
    pair.public_up = true;
    pair.private_up = true;
    pair.run_until(ms(60_000));
    assert!(pair.active(P) && !pair.active(B));
    let (t, why) = pair.giveups(B)[0];
    assert_eq!(why, GiveupReason::PrimaryWins);
    assert!(
        t >= ms(40_000) && t <= ms(42_001),
        "resolved within one keepalive: {t}"
    );
    assert_eq!(pair.dual_active, t - ms(24_001));
    // The primary re-announced over the backup's ARP.
    assert!(pair
        .events_of(P)
        .iter()
        .any(|&(at, e)| e == Event::Reannounced && at >= t));
}

#[test]
fn symmetric_partition_with_arbiter_never_dual_active() {
    let mut pair = Pair::start_both(with_arbiter(config(Proto::V2)));
    pair.run_until(ms(20_000));
    // The witness refuses everyone for its first lease (8 s); the primary asks from 5 s
    // and every 2 s, so it is granted at 9 s.
    assert_eq!(
        pair.takeovers(P),
        vec![(ms(9_002), TakeoverReason::PeerStandby)]
    );
    pair.public_up = false;
    pair.private_up = false;
    pair.run_until(ms(60_000));
    assert!(pair.active(P) && !pair.active(B));
    assert!(pair.events_of(B).iter().any(|(_, e)| matches!(
        e,
        Event::LeaseDenied { holder } if *holder == NodeId(1)
    )));
    pair.public_up = true;
    pair.private_up = true;
    pair.run_until(ms(80_000));
    assert!(pair.active(P) && !pair.active(B));
    assert!(!pair.ever_dual_active());
}

#[test]
fn isolated_active_router_gives_up_before_the_other_takes_over() {
    let mut pair = Pair::start_both(with_arbiter(config(Proto::V2)));
    pair.run_until(ms(20_000));
    assert!(pair.active(P));
    // The primary loses everything: peer and witness.
    pair.public_up = false;
    pair.private_up = false;
    pair.witness_link_up[P] = false;
    pair.run_until(ms(60_000));
    assert!(!pair.active(P) && pair.active(B));
    assert!(!pair.ever_dual_active());
    let (lost, why) = pair.giveups(P)[0];
    assert_eq!(why, GiveupReason::LeaseLost);
    let (won, _) = pair.takeovers(B)[0];
    assert!(
        lost < won,
        "primary gave up at {lost}, backup took over at {won}"
    );
}

#[test]
fn router_seeing_neither_peer_nor_witness_does_not_take_over() {
    let mut pair = Pair::start_both(with_arbiter(config(Proto::V2)));
    pair.run_until(ms(20_000));
    pair.public_up = false;
    pair.private_up = false;
    pair.witness_link_up[B] = false;
    pair.run_until(ms(120_000));
    assert!(pair.active(P) && !pair.active(B));
    assert!(pair
        .events_of(B)
        .iter()
        .any(|(_, e)| matches!(e, Event::TakeoverAwaitingLease { .. })));
}

// ----- attacks -------------------------------------------------------------------------

#[test]
fn replayed_and_forged_heartbeats_are_ignored_and_counted() {
    let mut pair = Pair::start_both(config(Proto::V2));
    pair.run_until(ms(10_000));
    assert!(pair.active(P));
    // Capture a STOPPED the primary really sent (a child failure at 10 s), then recover.
    let now = pair.local_now(P);
    pair.routers[P]
        .pulse
        .as_mut()
        .unwrap()
        .handle_child_failed(now);
    pair.drain(P);
    let stopped: Vec<u8> = pair
        .sent
        .iter()
        .rev()
        .find(|(_, i, path, b)| {
            *i == P && *path == Path::Public && {
                v2::Repr::parse_bytes(b, &key()).is_ok_and(|r| r.message == v2::Message::Stopped)
            }
        })
        .map(|(_, _, _, b)| b.clone())
        .unwrap();
    pair.run_until(ms(10_001));
    assert!(pair.active(B));
    // Hand back by hand: the backup stops gracefully, restarts; the primary recovers.
    let now = pair.local_now(P);
    pair.routers[P]
        .pulse
        .as_mut()
        .unwrap()
        .handle_fault_cleared(now, piranha_engine::pulse::Fault::ChildFailed);
    pair.drain(P);
    pair.stop_gracefully(B);
    pair.run_until(ms(12_000));
    pair.start(B);
    pair.run_until(ms(30_000));
    assert!(pair.active(P) && !pair.active(B));
    let before = *pair.pulse(B).counters();
    // The attacker replays the captured STOPPED and forges others.
    let from = SocketAddr::new(ip(PRIMARY_PUB), PORT);
    let forged_other_key = v2::Repr::heartbeat(
        v2::Message::Stopped,
        Flags::empty(),
        NodeId(1),
        u64::MAX,
        1,
        0,
    )
    .to_bytes(&Key::new(b"guessed key").unwrap());
    let mut flipped = stopped.clone();
    flipped[30] ^= 1; // incarnation bit: tag no longer matches
    let b = pair.routers[B].pulse.as_mut().unwrap();
    for _ in 0..10 {
        b.handle_heartbeat(ms(30_000), from, &stopped);
        b.handle_heartbeat(ms(30_000), from, &forged_other_key);
        b.handle_heartbeat(ms(30_000), from, &flipped);
        b.handle_heartbeat(ms(30_000), from, &[0xbd, 0xda, 0xbd, 0xad]);
        b.handle_heartbeat(
            ms(30_000),
            SocketAddr::new(ip([192, 168, 26, 66]), PORT),
            &stopped,
        );
    }
    pair.drain(B);
    pair.run_until(ms(60_000));
    assert!(pair.active(P) && !pair.active(B));
    assert!(!pair.ever_dual_active());
    let c = *pair.pulse(B).counters();
    // The primary's STOPPED is from its current incarnation, but it was sent to the backup's
    // previous run (it echoes that incarnation): refused as unconfirmed, before the replay
    // window is even consulted.
    assert_eq!(c.unconfirmed - before.unconfirmed, 10);
    assert_eq!(c.replayed - before.replayed, 0);
    assert_eq!(c.unauthenticated - before.unauthenticated, 20);
    assert_eq!(c.legacy_refused - before.legacy_refused, 10);
    assert_eq!(c.foreign_source - before.foreign_source, 10);
}

#[test]
fn legacy_mode_is_unauthenticated_a_forged_stopped_moves_the_vips() {
    // Why v2 exists: the same forged STOPPED works against a legacy pair.
    let mut pair = Pair::start_both(config(Proto::Legacy));
    pair.run_until(ms(10_000));
    assert!(pair.active(P) && !pair.active(B));
    let from = SocketAddr::new(ip(PRIMARY_PUB), PORT);
    let b = pair.routers[B].pulse.as_mut().unwrap();
    b.handle_heartbeat(ms(10_000), from, &[0xbd, 0xda, 0xbd, 0xad]);
    pair.drain(B);
    assert!(pair.active(B));
}

#[test]
fn witness_restart_does_not_interrupt_the_active_router() {
    let mut pair = Pair::start_both(with_arbiter(config(Proto::V2)));
    pair.run_until(ms(30_000));
    assert!(pair.active(P));
    pair.restart_witness();
    pair.run_until(ms(120_000));
    assert!(pair.active(P) && !pair.active(B));
    assert_eq!(pair.giveups(P), vec![]);
    // Renewals during the witness's grace (30 s to 38 s) were granted (GRACE grants).
    let renewed_in_grace = pair
        .events_of(P)
        .iter()
        .filter(|(t, e)| {
            matches!(e, Event::LeaseGranted { .. }) && *t > ms(30_000) && *t < ms(38_000)
        })
        .count();
    assert_eq!(renewed_in_grace, 4, "one renewal every lease/4 = 2 s");
    // After the grace the witness knows the primary again.
    let holder = pair.witness.as_ref().unwrap().holder(pair.now).map(|h| h.0);
    assert_eq!(holder, Some(NodeId(1)));
    assert!(!pair.ever_dual_active());
}

#[test]
fn legacy_pair_crash_one_path_and_partition_behave_like_v2() {
    // Crash: takeover exactly deadtime after the last RUNNING arrived.
    let mut pair = Pair::start_both(config(Proto::Legacy));
    pair.run_until(ms(20_000));
    pair.crash_host(P);
    pair.run_until(ms(30_000));
    assert_eq!(
        pair.takeovers(B),
        vec![(
            // Active from 1 ms, beats every 2 s: the last RUNNING arrived at 18.002 s.
            ms(23_002),
            TakeoverReason::PeerDead(PeerDeadReason::Deadtime)
        )]
    );
    // One path lost: nothing happens.
    for lose_public in [true, false] {
        let mut pair = Pair::start_both(config(Proto::Legacy));
        pair.run_until(ms(20_000));
        if lose_public {
            pair.public_up = false;
        } else {
            pair.private_up = false;
        }
        pair.run_until(ms(100_000));
        assert!(pair.active(P) && !pair.active(B) && !pair.ever_dual_active());
    }
    // Partition: both active, then the RUNNING tie-break within one keepalive of healing.
    let mut pair = Pair::start_both(config(Proto::Legacy));
    pair.run_until(ms(20_000));
    pair.public_up = false;
    pair.private_up = false;
    pair.run_until(ms(40_000));
    assert!(pair.active(P) && pair.active(B));
    pair.public_up = true;
    pair.private_up = true;
    pair.run_until(ms(60_000));
    assert!(pair.active(P) && !pair.active(B));
    let (t, why) = pair.giveups(B)[0];
    assert_eq!(why, GiveupReason::PrimaryWins);
    assert!(t <= ms(42_001), "{t}");
}

// ----- seeded fault swarm --------------------------------------------------------------

/// One random fault, applied at the current time.
fn random_fault(pair: &mut Pair, rng: &mut ChaCha8Rng, restarts: &mut u32) {
    let i = (rng.next_u64() % 2) as usize;
    match rng.next_u64() % 10 {
        0 => pair.public_up = !pair.public_up,
        1 => pair.private_up = !pair.private_up,
        2 => pair.witness_link_up[i] = !pair.witness_link_up[i],
        3 if pair.routers[i].pulse.is_some() => pair.crash_host(i),
        4 if pair.routers[i].pulse.is_some() => pair.kill_daemon(i),
        5 if pair.routers[i].pulse.is_some() => pair.stop_gracefully(i),
        3..=5 if *restarts < 50 => {
            *restarts += 1;
            pair.start(i);
        }
        6 => pair.restart_witness(),
        7 => {
            let now = pair.local_now(i);
            if let Some(p) = pair.routers[i].pulse.as_mut() {
                if p.faults().is_empty() {
                    p.handle_child_failed(now);
                } else {
                    p.handle_fault_cleared(now, piranha_engine::pulse::Fault::ChildFailed);
                }
                pair.drain(i);
            }
        }
        _ => {}
    }
}

/// Heal everything: links up, both daemons running and fault-free.
fn heal(pair: &mut Pair) {
    pair.public_up = true;
    pair.private_up = true;
    pair.witness_link_up = [true, true];
    for i in [P, B] {
        let now = pair.local_now(i);
        match pair.routers[i].pulse.as_mut() {
            None => pair.start(i),
            Some(p) => {
                p.handle_fault_cleared(now, piranha_engine::pulse::Fault::ChildFailed);
                pair.drain(i);
            }
        }
    }
}

fn swarm(seed: u64, arbiter: bool, proto: Proto) {
    let mut c = config(proto);
    c.keepalive = Duration::from_millis(500);
    c.deadtime = Duration::from_secs(2);
    let mut c = if arbiter { with_arbiter(c) } else { c };
    c.failback = proto == Proto::V2 && seed & 1 == 0;
    let mut pair = Pair::new(c);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Each router's clock runs up to 1% fast or slow (the witness keeps true time); the
    // 0.5 s margin on an 8 s lease covers about 6%.
    for i in [P, B] {
        pair.routers[i].rate_ppm = (rng.next_u64() % 20_001) as i64 - 10_000;
    }
    pair.start(P);
    pair.start(B);
    pair.rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    pair.jitter_ms_max = 50;
    let mut restarts = 0;
    // Safety phase: 10 minutes of faults, one every 0.1 to 10 s.
    let mut t = 0;
    while t < 600_000 {
        t += 100 + rng.next_u64() % 9_900;
        pair.run_until(ms(t));
        random_fault(&mut pair, &mut rng, &mut restarts);
        if arbiter {
            assert!(
                !pair.ever_dual_active(),
                "dual active with an arbiter at {}: reproduce with seed={seed}",
                pair.now
            );
        }
    }
    // Liveness phase: everything heals; within 30 s exactly one router is active, for good.
    heal(&mut pair);
    pair.run_until(ms(t + 30_000));
    for step in 0..60u64 {
        pair.run_until(ms(t + 30_000 + step * 500));
        assert!(
            pair.active(P) ^ pair.active(B),
            "not exactly one active after healing (P {}, B {}) at {}: reproduce with seed={seed} arbiter={arbiter}",
            pair.active(P),
            pair.active(B),
            pair.now
        );
    }
    if arbiter {
        assert!(!pair.ever_dual_active(), "reproduce with seed={seed}");
    }
}

/// Seeds per swarm test: 24 by default, `PULSE_SWARM_SEEDS=N` for a longer hunt.
fn swarm_seeds() -> u64 {
    std::env::var("PULSE_SWARM_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24)
}

#[test]
fn swarm_with_arbiter_never_dual_active_and_converges() {
    for seed in 0..swarm_seeds() {
        swarm(seed, true, Proto::V2);
    }
}

#[test]
fn swarm_without_arbiter_converges_after_healing() {
    let n = swarm_seeds();
    for seed in 0..n {
        swarm(1_000_000 + seed, false, Proto::V2);
        swarm(2_000_000 + seed, false, Proto::Legacy);
    }
}

// ----- a timeline a person reads -------------------------------------------------------

fn timeline(pair: &Pair) -> String {
    let mut s = String::new();
    for (t, i, e) in &pair.log {
        let who = if *i == P { "primary" } else { "backup " };
        s.push_str(&format!("{t} {who} {e:?}\n"));
    }
    s
}

#[test]
fn failback_timeline_snapshot() {
    let mut c = config(Proto::V2);
    c.failback = true;
    let mut pair = Pair::start_both(c);
    pair.run_until(ms(20_000));
    pair.crash_host(P);
    pair.run_until(ms(40_000));
    pair.start(P);
    pair.run_until(ms(50_000));
    insta::assert_snapshot!(timeline(&pair));
}

#[test]
fn active_router_cut_from_the_witness_only_hands_over_to_the_other() {
    let mut pair = Pair::start_both(with_arbiter(config(Proto::V2)));
    pair.run_until(ms(20_000));
    assert!(pair.active(P));
    pair.witness_link_up[P] = false;
    pair.run_until(ms(60_000));
    assert!(!pair.ever_dual_active());
    assert!(!pair.active(P) && pair.active(B), "{}", timeline(&pair));
    let (lost, why) = pair.giveups(P)[0];
    assert_eq!(why, GiveupReason::LeaseLost);
    let (won, reason) = pair.takeovers(B)[0];
    assert_eq!(reason, TakeoverReason::PeerStopped);
    // The primary's lease runs out at 26.502 s (judged conservatively: send time of the last
    // renewal plus the lease minus the 0.5 s margin). It hears the backup standby, so it holds
    // the VIPs (HoldingWithoutLease) and says so in its beats; the backup asks the witness,
    // is told the old lease has 499 ms left, asks again right then, gets it at 27.006 s and
    // asks for the VIPs (RELIEVE): the primary gives up and sends STOPPED, and the backup is
    // active one network hop later. Without the hold, half a second had no active router.
    assert!(pair
        .events_of(P)
        .iter()
        .any(|(t, e)| *t == ms(26_502) && *e == Event::HoldingWithoutLease));
    assert_eq!(lost, ms(27_007));
    assert_eq!(won, ms(27_008));
}

#[test]
fn losing_only_the_witness_keeps_the_service_and_the_lease_comes_back() {
    let mut pair = Pair::start_both(with_arbiter(config(Proto::V2)));
    pair.run_until(ms(20_000));
    assert!(pair.active(P));
    // The witness is gone for both routers; they still hear each other.
    pair.witness_link_up = [false, false];
    pair.run_until(ms(120_000));
    assert!(pair.active(P) && !pair.active(B), "{}", timeline(&pair));
    assert!(pair.giveups(P).is_empty(), "{}", timeline(&pair));
    assert!(pair
        .events_of(P)
        .iter()
        .any(|(_, e)| *e == Event::HoldingWithoutLease));
    // The witness returns: the pair is arbitrated again. Whichever router's request reaches
    // it first gets the lease: the holder renewing, or the backup asking to relieve it (then
    // the VIPs move in a handover: the primary gives up, STOPPED, the backup takes over one
    // hop later). Either way exactly one router is active, with a lease.
    pair.witness_link_up = [true, true];
    pair.run_until(ms(140_000));
    let holder = if pair.active(P) { P } else { B };
    assert!(!pair.active(1 - holder), "{}", timeline(&pair));
    assert!(pair.pulse(holder).lease_valid_until().is_some());
    if holder == B {
        let (lost, _) = pair.giveups(P)[0];
        let (won, _) = pair.takeovers(B)[0];
        assert!(won.saturating_duration_since(lost) <= Duration::from_millis(5));
    }
    assert!(!pair.ever_dual_active());
}

#[test]
fn holding_without_a_lease_ends_before_a_partitioned_partner_may_take_over() {
    let mut pair = Pair::start_both(with_arbiter(config(Proto::V2)));
    pair.run_until(ms(20_000));
    pair.witness_link_up = [false, false];
    pair.run_until(ms(60_000));
    assert!(pair.active(P));
    // Now the routers lose each other too: the primary stops holding within its window
    // (two keepalives), long before the backup could declare it dead (deadtime). The witness
    // comes back for the backup only, which then takes over with a lease: never both active.
    pair.public_up = false;
    pair.private_up = false;
    pair.witness_link_up = [false, true];
    pair.run_until(ms(100_000));
    assert!(!pair.active(P) && pair.active(B), "{}", timeline(&pair));
    assert!(!pair.ever_dual_active(), "{}", timeline(&pair));
    let (lost, why) = pair.giveups(P)[0];
    assert_eq!(why, GiveupReason::LeaseLost);
    let (won, _) = pair.takeovers(B)[0];
    assert!(lost < won, "{}", timeline(&pair));
}

#[test]
fn the_arbiters_cost_no_witness_and_a_dead_active_means_no_takeover() {
    // What an arbiter costs, stated as a test: with the witness unreachable, the backup may
    // not take over from a primary it cannot hear (it cannot tell a dead primary from a
    // partition), so a crash while the witness is down leaves nobody active.
    let mut pair = Pair::start_both(with_arbiter(config(Proto::V2)));
    pair.run_until(ms(20_000));
    pair.witness_link_up = [false, false];
    pair.run_until(ms(40_000));
    pair.crash_host(P);
    pair.run_until(ms(80_000));
    assert!(!pair.active(B));
    assert!(pair
        .events_of(B)
        .iter()
        .any(|(_, e)| matches!(e, Event::TakeoverAwaitingLease { .. })));
    // The witness returns: the backup takes over.
    pair.witness_link_up = [true, true];
    pair.run_until(ms(100_000));
    assert!(pair.active(B));
}
