//! Hand-computed kernel decisions, one small transcript per scheduler, each run against
//! both implementations. Remember the kernel's list is newest first: adding a, b, c gives
//! the list c, b, a.

use core::net::{IpAddr, Ipv4Addr};

use super::*;

/// Replays scripted "random" numbers (twos), then zeros.
struct Script(Vec<u32>);

impl RandomSource for Script {
    fn next_random_u32(&mut self) -> u32 {
        if self.0.is_empty() {
            0
        } else {
            self.0.remove(0)
        }
    }
}

fn ip(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn both(alg: Algorithm) -> [Scheduler; 2] {
    both_with(SchedConfig::new(alg))
}

fn both_with(cfg: SchedConfig) -> [Scheduler; 2] {
    [
        Scheduler::new(cfg.with_implementation(Implementation::Scan)).unwrap(),
        Scheduler::new(cfg.with_implementation(Implementation::Indexed)).unwrap(),
    ]
}

fn add(s: &mut Scheduler, n: u8, weight: u32) -> DestId {
    s.add_dest(DestSpec {
        addr: ip(10, 0, 0, n),
        port: 80,
        weight,
    })
    .unwrap()
}

/// Adds a, b, c (weights given) and returns their ids.
fn abc(s: &mut Scheduler, w: [u32; 3]) -> [DestId; 3] {
    [add(s, 1, w[0]), add(s, 2, w[1]), add(s, 3, w[2])]
}

fn pkt_to(dst: IpAddr) -> Packet {
    Packet::new(ip(192, 168, 1, 1), 40000, dst, 80)
}

fn pick(s: &mut Scheduler) -> Option<DestId> {
    s.schedule(Instant::ZERO, &pkt_to(ip(10, 9, 9, 9)), &mut Script(vec![]))
}

fn pick_open(s: &mut Scheduler) -> DestId {
    let d = pick(s).expect("a destination");
    s.on_conn_open(d).unwrap();
    d
}

#[test]
fn rr_cycles_in_list_order_skips_quiesced_and_moves_cursor_on_delete() {
    for mut s in both(Algorithm::Rr) {
        let [a, b, c] = abc(&mut s, [1, 1, 1]);
        let picks: Vec<_> = (0..4).map(|_| pick(&mut s).unwrap()).collect();
        assert_eq!(picks, vec![c, b, a, c]);
        s.set_weight(b, 0).unwrap();
        assert_eq!(pick(&mut s), Some(a));
        assert_eq!(pick(&mut s), Some(c));
        // The cursor was on c, the head's first: it moves to the head.
        s.remove_dest(c).unwrap();
        assert_eq!(pick(&mut s), Some(a));
        s.set_overloaded(a, true).unwrap();
        assert_eq!(pick(&mut s), None);
        assert_eq!(s.dests().collect::<Vec<_>>(), vec![b, a]);
    }
}

#[test]
fn wrr_follows_cw_passes_from_gcd_and_max_weight() {
    for mut s in both(Algorithm::Wrr) {
        // After the adds cw stays 1 (dest_changed keeps a non-zero cw <= mw when di == 1).
        let [a, b, c] = abc(&mut s, [1, 2, 3]);
        let picks: Vec<_> = (0..10).map(|_| pick(&mut s).unwrap()).collect();
        assert_eq!(picks, vec![c, b, a, c, c, b, c, b, a, c]);
    }
    for mut s in both(Algorithm::Wrr) {
        // gcd 2: weights 2, 4 → di 2, mw = 4 - 1 = 3; passes cw = 3, 1.
        let a = add(&mut s, 1, 2);
        let b = add(&mut s, 2, 4);
        let picks: Vec<_> = (0..6).map(|_| pick(&mut s).unwrap()).collect();
        // cw was 2 (from the first add: mw = 2 - 1 = 1 → cw 1; second add: cw 1 <= 3, di 2
        // → cw = (1 / 2) * 2 + 1 = 1). Pass cw=1: b, a; then cw=3: b; cw=1: b, a; ...
        assert_eq!(picks, vec![b, a, b, b, a, b]);
        s.set_overloaded(b, true).unwrap();
        assert_eq!(pick(&mut s), Some(a));
        s.set_overloaded(a, true).unwrap();
        assert_eq!(pick(&mut s), None);
    }
}

#[test]
fn wlc_cross_multiplies_and_ties_go_to_the_earlier() {
    for mut s in both(Algorithm::Wlc) {
        let [a, b, c] = abc(&mut s, [1, 2, 3]);
        let picks: Vec<_> = (0..5).map(|_| pick_open(&mut s)).collect();
        // idle: c; c 256/3 vs b 0 → b; c 256/3, b 256/2, a 0 → a; c 85 < b 128 < a 256 → c;
        // c 512/3 vs b 256/2: 512*2 > 256*3 → b, a 256/1 loses to b.
        assert_eq!(picks, vec![c, b, a, c, b]);
        // c's two connections go inactive: overhead 2 → c is far the least loaded.
        s.on_conn_inactive(c).unwrap();
        s.on_conn_inactive(c).unwrap();
        assert_eq!(s.dest(c).unwrap().overhead(), 2);
        assert_eq!(pick(&mut s), Some(c));
        s.on_conn_close(c, false).unwrap();
        s.on_conn_close(c, false).unwrap();
        s.set_overloaded(c, true).unwrap();
        // b 512/2 = a 256/1 exactly: the earlier (b) keeps it.
        assert_eq!(pick(&mut s), Some(b));
        s.set_weight(b, 0).unwrap();
        assert_eq!(pick(&mut s), Some(a));
        s.set_overloaded(a, true).unwrap();
        assert_eq!(pick(&mut s), None);
    }
}

#[test]
fn lc_counts_connections_and_skips_quiesced() {
    for mut s in both(Algorithm::Lc) {
        let [a, b, c] = abc(&mut s, [1, 5, 1]);
        let picks: Vec<_> = (0..4).map(|_| pick_open(&mut s)).collect();
        assert_eq!(picks, vec![c, b, a, c]);
        s.on_conn_inactive(c).unwrap();
        // c: 256 + 1 = 257, b 256, a 256 → b (first of the least).
        assert_eq!(pick(&mut s), Some(b));
        s.set_weight(b, 0).unwrap();
        assert_eq!(pick(&mut s), Some(a));
    }
}

#[test]
fn sed_uses_active_plus_one() {
    for mut s in both(Algorithm::Sed) {
        let a = add(&mut s, 1, 1);
        let b = add(&mut s, 2, 3);
        // (0+1)/3 < 1/1 → b; 2/3 < 1 → b; 3/3 = 1/1 → b (earlier); 4/3 > 1 → a.
        let picks: Vec<_> = (0..4).map(|_| pick_open(&mut s)).collect();
        assert_eq!(picks, vec![b, b, b, a]);
    }
}

#[test]
fn nq_returns_the_first_idle_server_at_once() {
    for mut s in both(Algorithm::Nq) {
        let a = add(&mut s, 1, 1);
        let b = add(&mut s, 2, 3);
        assert_eq!(pick_open(&mut s), b);
        // b busy, a idle → a although b's (1+1)/3 < (0+1)/1.
        assert_eq!(pick_open(&mut s), a);
        // b 2/3 < a 2/1 → b.
        assert_eq!(pick_open(&mut s), b);
        s.on_conn_close(a, true).unwrap();
        assert_eq!(pick(&mut s), Some(a));
        s.set_weight(a, 0).unwrap();
        assert_eq!(pick(&mut s), Some(b));
    }
}

#[test]
fn fo_takes_the_first_heaviest_non_overloaded() {
    for mut s in both(Algorithm::Fo) {
        let [a, b, c] = abc(&mut s, [5, 10, 10]);
        assert_eq!(pick(&mut s), Some(c));
        s.set_overloaded(c, true).unwrap();
        assert_eq!(pick(&mut s), Some(b));
        s.set_weight(b, 0).unwrap();
        assert_eq!(pick(&mut s), Some(a));
    }
}

#[test]
fn ovf_overflows_when_active_exceeds_weight() {
    for mut s in both(Algorithm::Ovf) {
        let a = add(&mut s, 1, 2);
        let b = add(&mut s, 2, 1);
        assert_eq!(pick_open(&mut s), a);
        assert_eq!(pick_open(&mut s), a);
        // a has 2 active = weight: still eligible (the kernel skips only active > weight).
        assert_eq!(pick_open(&mut s), a);
        assert_eq!(pick_open(&mut s), b);
        assert_eq!(pick_open(&mut s), b);
        assert_eq!(pick(&mut s), None);
    }
}

#[test]
fn lblc_caches_per_destination_ip_and_reassigns_when_overloaded() {
    for mut s in both(Algorithm::Lblc) {
        let a = add(&mut s, 1, 1);
        let b = add(&mut s, 2, 1);
        let x = pkt_to(ip(172, 16, 0, 1));
        let y = pkt_to(ip(172, 16, 0, 2));
        let mut r = Script(vec![]);
        let t0 = Instant::ZERO;
        assert_eq!(s.schedule(t0, &x, &mut r), Some(b));
        s.on_conn_open(b).unwrap();
        // 1 active is not > weight 1: cache hit.
        assert_eq!(s.schedule(t0, &x, &mut r), Some(b));
        s.on_conn_open(b).unwrap();
        // 2 > 1 and a has 0 * 2 < 1: overloaded → wlc → a, entry repointed.
        assert_eq!(s.schedule(t0, &x, &mut r), Some(a));
        // y is a miss: wlc picks a (0 load).
        assert_eq!(s.schedule(t0, &y, &mut r), Some(a));
        s.on_conn_open(a).unwrap();
        // a has 1 active: a*2 < 1 fails, b fails too: b would no longer count as overloaded.
        s.on_conn_open(a).unwrap();
        assert_eq!(s.schedule(t0, &y, &mut r), Some(a));
        // Cached a is fine even when quiesced? No: weight 0 invalidates; wlc → b.
        s.set_weight(a, 0).unwrap();
        assert_eq!(s.schedule(t0, &x, &mut r), Some(b));
        // An entry unused for the expiration (24 h) is gone.
        s.set_weight(a, 5).unwrap();
        let later = t0 + Duration::from_secs(24 * 3600);
        assert_eq!(s.schedule(later, &x, &mut r), Some(a));
    }
}

#[test]
fn lblcr_grows_the_set_and_drops_the_most_loaded_after_expiration() {
    for mut s in both(Algorithm::Lblcr) {
        let a = add(&mut s, 1, 1);
        let b = add(&mut s, 2, 1);
        let x = pkt_to(ip(172, 16, 0, 1));
        let mut r = Script(vec![]);
        let t0 = Instant::ZERO;
        assert_eq!(s.schedule(t0, &x, &mut r), Some(b));
        s.on_conn_open(b).unwrap();
        s.on_conn_open(b).unwrap();
        // set {b}: b is_overloaded (2 > 1, a underloaded) → wlc → a joins: {a, b}.
        assert_eq!(s.schedule(t0, &x, &mut r), Some(a));
        // set_min over {a, b}: a.
        assert_eq!(s.schedule(t0, &x, &mut r), Some(a));
        s.on_conn_open(a).unwrap();
        s.on_conn_open(a).unwrap();
        s.on_conn_open(a).unwrap();
        // a 768 > b 512: set_min = b; b is overloaded but no one is underloaded now → b.
        assert_eq!(s.schedule(t0, &x, &mut r), Some(b));
        // After the expiration since lastmod, the most loaded (a) leaves the set; the min
        // was taken first (b).
        let later = t0 + Duration::from_secs(24 * 3600) + Duration::from_secs(1);
        let t1 = t0 + Duration::from_secs(3600);
        assert_eq!(s.schedule(t1, &x, &mut r), Some(b));
        assert_eq!(s.schedule(later, &x, &mut r), Some(b));
        for _ in 0..3 {
            s.on_conn_close(a, true).unwrap();
        }
        // a is idle again but no longer in the set: {b} → b (no one underloaded? a: 0 < 1
        // is underloaded now, so b (2 > 1) is overloaded → wlc → a).
        assert_eq!(s.schedule(later, &x, &mut r), Some(a));
    }
}

#[test]
fn dh_deals_buckets_round_robin_and_hashes_the_destination() {
    for mut s in both(Algorithm::Dh) {
        let [a, _b, c] = abc(&mut s, [1, 7, 1]);
        let mut r = Script(vec![]);
        // 10.0.0.1 hashes to bucket 0xb1 = 177; 177 % 3 = 0 → list[0] = c.
        let p = pkt_to(ip(10, 0, 0, 1));
        assert_eq!(s.schedule(Instant::ZERO, &p, &mut r), Some(c));
        s.set_overloaded(c, true).unwrap();
        assert_eq!(s.schedule(Instant::ZERO, &p, &mut r), None);
        s.remove_dest(c).unwrap();
        // Two left: 177 % 2 = 1 → list[1] = a.
        assert_eq!(s.schedule(Instant::ZERO, &p, &mut r), Some(a));
    }
}

#[test]
fn sh_weights_consecutive_buckets_and_port_and_fallback_flags() {
    let mut cfg = SchedConfig::new(Algorithm::Sh);
    for flags in [(false, false), (true, true)] {
        cfg.flags = SchedFlags {
            fallback: flags.0,
            port: flags.1,
        };
        for mut s in both_with(cfg) {
            let a = add(&mut s, 1, 1);
            let b = add(&mut s, 2, 2);
            let mut r = Script(vec![]);
            let p = Packet::new(ip(10, 0, 0, 1), 1, ip(10, 9, 9, 9), 80);
            // Table b, b, a, b, b, a, ...; without port: bucket 177, 177 % 3 = 0 → b.
            // With port 1: bucket 0x62 = 98, 98 % 3 = 2 → a.
            let want = if cfg.flags.port { a } else { b };
            assert_eq!(s.schedule(Instant::ZERO, &p, &mut r), Some(want));
            if cfg.flags.port {
                // Quiescing a keeps its bucket (weight 0 still takes one bucket per round),
                // so fallback probes: roffset 98 → (98 + 98) & 255 = 196, 196 % 3 = 1 → b.
                s.set_weight(a, 0).unwrap();
                assert_eq!(s.schedule(Instant::ZERO, &p, &mut r), Some(b));
            } else {
                s.set_overloaded(b, true).unwrap();
                assert_eq!(s.schedule(Instant::ZERO, &p, &mut r), None);
            }
        }
    }
}

#[test]
fn mh_fills_the_table_by_weight_and_survives_quiesce() {
    let mut cfg = SchedConfig::new(Algorithm::Mh);
    cfg.mh_table_size = 251;
    let mut s = Scheduler::new(cfg).unwrap();
    let a = add(&mut s, 1, 1);
    let b = add(&mut s, 2, 3);
    let table = s.mh_table().unwrap();
    assert_eq!(table.len(), 251);
    let na = table.iter().filter(|&&e| e == Some(a)).count();
    let nb = table.iter().filter(|&&e| e == Some(b)).count();
    assert_eq!(na + nb, 251);
    // Rounds of 1 entry for a, 3 for b (b first in the list): b gets 189 (63 rounds of 3),
    // then a: 63 ... minus the last partial round: 251 = 62*4 + 3 → b 62*3+3 = 189, a 62.
    assert_eq!((na, nb), (62, 189));
    // Quiescing does not rebuild the table (last_weight), only hides the server.
    s.set_weight(a, 0).unwrap();
    assert_eq!(s.mh_table().unwrap(), table);
    let mut r = Script(vec![]);
    let mut hit_a = 0;
    for i in 0..200u8 {
        let p = Packet::new(ip(10, 1, i, 7), 0, ip(10, 9, 9, 9), 80);
        match s.schedule(Instant::ZERO, &p, &mut r) {
            None => hit_a += 1,
            Some(d) => assert_eq!(d, b),
        }
    }
    assert!(
        hit_a > 20 && hit_a < 90,
        "about a quarter of clients hash to a: {hit_a}"
    );
    // With mh-fallback those clients go to b instead.
    cfg.flags.fallback = true;
    let mut f = Scheduler::new(cfg).unwrap();
    let fa = add(&mut f, 1, 1);
    let fb = add(&mut f, 2, 3);
    f.set_weight(fa, 0).unwrap();
    for i in 0..50u8 {
        let p = Packet::new(ip(10, 1, i, 7), 0, ip(10, 9, 9, 9), 80);
        assert_eq!(f.schedule(Instant::ZERO, &p, &mut r), Some(fb));
    }
}

#[test]
fn mh_removal_moves_about_one_nth() {
    let mut s = Scheduler::new(SchedConfig::new(Algorithm::Mh)).unwrap();
    let ids: Vec<DestId> = (0..10).map(|i| add(&mut s, i, 1)).collect();
    let before = s.mh_table().unwrap();
    s.remove_dest(ids[4]).unwrap();
    let after = s.mh_table().unwrap();
    let moved = before.iter().zip(&after).filter(|(x, y)| x != y).count();
    let owned = before.iter().filter(|&&e| e == Some(ids[4])).count();
    assert!(moved >= owned, "at least the removed server's entries move");
    let frac = moved as f64 / before.len() as f64;
    assert!(frac > 0.08 && frac < 0.2, "disruption {frac}");
}

#[test]
fn twos_picks_by_cumulative_weight_and_prefers_the_lighter() {
    for mut s in both(Algorithm::Twos) {
        let [_a, b, c] = abc(&mut s, [1, 2, 3]);
        // total 6 + 1 = 7. r1 = 0 → c (first); r2 = 4: c leaves 1, b leaves -1 → b.
        // Both idle: 2 * 0 > 3 * 0 is false → c.
        let mut r = Script(vec![0, 4]);
        let p = pkt_to(ip(1, 1, 1, 1));
        assert_eq!(s.schedule(Instant::ZERO, &p, &mut r), Some(c));
        s.on_conn_open(c).unwrap();
        // c now 256: 2 * 256 > 3 * 0 → b.
        let mut r = Script(vec![7, 11]); // 7 % 7 = 0 → c, 11 % 7 = 4 → b
        assert_eq!(s.schedule(Instant::ZERO, &p, &mut r), Some(b));
        s.set_overloaded(c, true).unwrap();
        // total 3 + 1 = 4: r = 3 → b leaves 1, a leaves 0 → a; r = 2 → b.
        let mut r = Script(vec![3, 2]);
        let got = s.schedule(Instant::ZERO, &p, &mut r);
        // a idle (weight 1), b idle: 2 * 0 > 1 * 0 false → choice1 = a.
        assert_eq!(got, Some(_a));
    }
}

#[test]
fn persistence_sends_a_client_network_back_to_its_server() {
    let mut cfg = SchedConfig::new(Algorithm::Wlc);
    let mut pc = PersistenceConfig::new(Duration::from_secs(300));
    pc.netmask.v4 = Ipv4Addr::new(255, 255, 255, 0);
    cfg.persistence = Some(pc);
    for mut s in both_with(cfg) {
        let [_a, b, c] = abc(&mut s, [1, 1, 1]);
        let mut r = Script(vec![]);
        let t0 = Instant::ZERO;
        let p1 = Packet::new(ip(1, 2, 3, 4), 1000, ip(10, 9, 9, 9), 80);
        let p2 = Packet::new(ip(1, 2, 3, 99), 1000, ip(10, 9, 9, 9), 80);
        let other = Packet::new(ip(1, 2, 4, 4), 1000, ip(10, 9, 9, 9), 80);
        assert_eq!(s.schedule(t0, &p1, &mut r), Some(c));
        s.on_conn_open(c).unwrap();
        assert_eq!(s.schedule(t0, &p2, &mut r), Some(c), "same /24");
        assert_eq!(s.schedule(t0, &other, &mut r), Some(b), "other /24: wlc");
        // Quiesced: persistent clients still go there (expire_quiescent_template off).
        s.set_weight(c, 0).unwrap();
        assert_eq!(s.schedule(t0, &p1, &mut r), Some(c));
        // Removed: the template is invalid.
        s.remove_dest(c).unwrap();
        assert_eq!(s.schedule(t0, &p1, &mut r), Some(b));
        // Expired after the timeout without use.
        let late = t0 + Duration::from_secs(301);
        s.on_conn_open(b).unwrap();
        assert_eq!(s.schedule(late, &p1, &mut r), Some(_a));
    }
}

#[test]
fn thresholds_drive_the_overload_flag_like_bind_and_unbind() {
    for mut s in both(Algorithm::Rr) {
        let a = add(&mut s, 1, 1);
        let b = add(&mut s, 2, 1);
        s.set_thresholds(b, 2, 0).unwrap();
        // List b, a. rr: b, a, b: b reaches 2 connections = upper → overloaded.
        assert_eq!(pick_open(&mut s), b);
        assert_eq!(pick_open(&mut s), a);
        assert_eq!(pick_open(&mut s), b);
        assert!(s.dest(b).unwrap().overloaded);
        assert_eq!(pick_open(&mut s), a);
        assert_eq!(pick_open(&mut s), a, "b is skipped while overloaded");
        // No lower threshold: cleared below 3/4 of upper, i.e. total * 4 < 6 → total 1.
        s.on_conn_close(b, true).unwrap();
        assert!(!s.dest(b).unwrap().overloaded);
        assert_eq!(pick(&mut s), Some(b));
        // A lower threshold of 1 clears only at 0.
        s.on_conn_open(b).unwrap();
        s.set_thresholds(b, 2, 1).unwrap();
        assert!(s.dest(b).unwrap().overloaded);
        s.on_conn_inactive(b).unwrap();
        s.on_conn_close(b, false).unwrap();
        assert!(s.dest(b).unwrap().overloaded, "total 1 is not < lower 1");
        // Changed thresholds re-evaluate the flag at once (as the 6.1 kernel measured by
        // tests/kernel_sched.rs): a higher upper one keeps it down to the lower bound...
        s.set_thresholds(b, 5, 1).unwrap();
        assert!(
            s.dest(b).unwrap().overloaded,
            "total 1 is not below lower 1"
        );
        // ...a lower bound above the connections clears it, no upper one clears it...
        s.set_thresholds(b, 5, 2).unwrap();
        assert!(!s.dest(b).unwrap().overloaded);
        s.set_thresholds(b, 1, 0).unwrap();
        assert!(
            s.dest(b).unwrap().overloaded,
            "1 connection reaches upper 1 at once"
        );
        s.set_thresholds(b, 0, 0).unwrap();
        assert!(!s.dest(b).unwrap().overloaded);
        // ...and unchanged thresholds (a weight-only edit) leave it alone.
        s.set_thresholds(b, 1, 0).unwrap();
        s.set_overloaded(b, false).unwrap();
        s.set_thresholds(b, 1, 0).unwrap();
        assert!(!s.dest(b).unwrap().overloaded);
    }
}

#[test]
fn misuse_is_a_typed_error() {
    let mut s = Scheduler::new(SchedConfig::new(Algorithm::Wlc)).unwrap();
    let a = add(&mut s, 1, 1);
    assert_eq!(
        s.on_conn_close(a, true),
        Err(SchedError::NoSuchConnection(a, "active"))
    );
    assert_eq!(
        s.on_conn_inactive(a),
        Err(SchedError::NoSuchConnection(a, "active"))
    );
    assert_eq!(
        s.set_weight(DestId(9), 1),
        Err(SchedError::UnknownDest(DestId(9)))
    );
    s.on_conn_open(a).unwrap();
    s.remove_dest(a).unwrap();
    assert_eq!(s.set_weight(a, 1), Err(SchedError::RemovedDest(a)));
    // Connections to a removed server still end.
    s.on_conn_close(a, true).unwrap();
    assert_eq!(pick(&mut s), None);
    assert!(matches!(
        s.add_dest(DestSpec {
            addr: ip(1, 1, 1, 1),
            port: 1,
            weight: u32::MAX
        }),
        Err(SchedError::WeightTooLarge(_))
    ));
    let mut cfg = SchedConfig::new(Algorithm::Mh);
    cfg.mh_table_size = 4096;
    assert!(matches!(
        Scheduler::new(cfg),
        Err(SchedError::TableSizeNotPrime(4096))
    ));
}
