//! Unit tests of the simulator's own parts: clocks, ARP caches, placement, schedules.

use std::net::Ipv4Addr;

use piranha_engine::ipvs::{Dest, Forwarding, Protocol, Service, ServiceEntry, ServiceKey};
use piranha_engine::sched::Algorithm;
use piranha_engine::time::{Duration, Instant};
use piranha_engine::wire::arp::{self, Mac};

use crate::clients::{Client, KernelPlacer, Placer, WeightedRoundRobin, LOCKTIME, REACHABLE};
use crate::faults::{parse_duration, Fault};
use crate::world::Clock;

#[test]
fn a_drifting_clock_never_fires_early_and_stays_continuous() {
    let mut c = Clock::default();
    let t = Instant::ZERO + Duration::from_secs(10);
    c.set_ppm(t, 1000);
    assert_eq!(c.local(t), t, "continuous at the rate change");
    let later = Instant::ZERO + Duration::from_secs(20);
    assert_eq!(c.local(later), later + Duration::from_millis(10));
    for ns in [1u64, 999, 1_000_001, 7_777_777_777] {
        let local = Instant::ZERO + Duration::from_nanos(ns) + Duration::from_secs(10);
        let s = c.sim_of(local);
        assert!(c.local(s) >= local, "fires at or after the deadline");
        assert!(s == Instant::ZERO || c.local(Instant::from_nanos(s.as_nanos() - 1)) < local);
    }
    c.set_ppm(later, -1000);
    let end = later + Duration::from_secs(10);
    assert_eq!(
        c.local(end),
        later + Duration::from_millis(10) + Duration::from_millis(9_990)
    );
}

#[test]
fn clients_follow_gratuitous_arp_as_linux_does() {
    let vip = Ipv4Addr::new(192, 168, 26, 10);
    let mac = Mac([2, 0, 0, 0, 0, 1]);
    let other = Mac([2, 0, 0, 0, 0, 2]);
    let mut c = Client::default();
    let t0 = Instant::ZERO + Duration::from_secs(1);
    let garp = |m: Mac| arp::Repr::send_arp_reply(vip, m).to_bytes();
    // arp_accept = 0: an announcement for an address never resolved creates nothing.
    assert!(c.learn(t0, &garp(mac)).is_none());
    assert_eq!(c.fresh(t0, vip), None);
    assert_eq!(c.resolve(t0, vip, &[0], &[mac, other], 0), Some(mac));
    // Within locktime of the last update another MAC is ignored; after it, it wins.
    assert!(c
        .learn(t0 + Duration::from_millis(500), &garp(other))
        .is_none());
    assert_eq!(c.fresh(t0, vip), Some(mac));
    let t1 = t0 + LOCKTIME;
    assert!(c.learn(t1, &garp(other)).is_some());
    assert_eq!(c.fresh(t1, vip), Some(other));
    assert!(
        c.learn(t1, &garp(other)).is_none(),
        "no change, no trace line"
    );
    // A request for someone else's address teaches nothing.
    let mut req = arp::Repr::announce_request(vip, mac);
    req.target_ip = Ipv4Addr::new(192, 168, 26, 1);
    let mut buf = [0u8; arp::FRAME_LEN];
    req.emit(&mut arp::Packet::new_unchecked(&mut buf[..]));
    assert!(c.learn(t1 + LOCKTIME, &buf).is_none());
    assert_eq!(c.fresh(t1, vip), Some(other));
    // Stale after REACHABLE: re-resolved among the holders.
    let later = t1 + REACHABLE;
    assert_eq!(c.fresh(later, vip), None);
    assert_eq!(c.resolve(later, vip, &[0], &[mac, other], 0), Some(mac));
    assert_eq!(
        c.resolve(later, vip, &[], &[mac, other], 0),
        Some(mac),
        "fresh again"
    );
}

#[test]
fn weighted_round_robin_follows_weights_and_skips_quiesced() {
    let key = ServiceKey::Addr {
        protocol: Protocol::Tcp,
        addr: "192.168.26.10".parse().unwrap(),
        port: 80,
    };
    let mut entry = ServiceEntry {
        service: Service::new(key, Algorithm::Wlc),
        dests: Default::default(),
    };
    for (ip, w) in [("10.0.0.1", 1), ("10.0.0.2", 2), ("10.0.0.3", 0)] {
        let d = Dest::new(ip.parse().unwrap(), 80, Forwarding::Masq, w);
        entry.dests.insert(d.key(), d);
    }
    let client = ("203.0.113.10".parse().unwrap(), 40000);
    let mut p = WeightedRoundRobin::default();
    let picks: Vec<String> = (0..6)
        .map(|_| {
            p.place(Instant::ZERO, 0, &key, &entry, client)
                .unwrap()
                .addr
                .to_string()
        })
        .collect();
    assert_eq!(picks.iter().filter(|a| *a == "10.0.0.1").count(), 2);
    assert_eq!(picks.iter().filter(|a| *a == "10.0.0.2").count(), 4);
    // The kernel's wlc with every connection still open keeps active/weight level: 1:2, and
    // the quiesced destination gets nothing.
    let mut k = KernelPlacer::new(1);
    let picks: Vec<String> = (0..30)
        .map(|_| {
            k.place(Instant::ZERO, 0, &key, &entry, client)
                .unwrap()
                .addr
                .to_string()
        })
        .collect();
    assert_eq!(picks.iter().filter(|a| *a == "10.0.0.1").count(), 10);
    assert_eq!(picks.iter().filter(|a| *a == "10.0.0.2").count(), 20);
    for d in entry.dests.values_mut() {
        d.weight = 0;
    }
    assert_eq!(
        p.place(Instant::ZERO, 0, &key, &entry, client),
        None,
        "all quiesced: no destination"
    );
    assert_eq!(
        k.place(Instant::ZERO, 0, &key, &entry, client),
        None,
        "all quiesced: no destination"
    );
}

#[test]
fn fault_text_round_trips() {
    for s in [
        "crash:r0@72.5s+30s",
        "asymmetric:private:r1@1s+2.25s",
        "drift:r1:-250@0s+600s",
        "server-flap:10.11.12.1:5s@100s+40s",
        "delay:1.5s@10s+10s",
    ] {
        let f: Fault = s.parse().unwrap();
        assert_eq!(f.to_string(), s);
    }
    assert!("crash:r2@1s+1s".parse::<Fault>().is_err());
    assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
    assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
}
