//! lvs: the desired table from specs and nanny states, the sorry server, reload.

use super::*;
use crate::ipvs::{reconcile, DestKey, Op, Ownership, Protocol};
use crate::nanny::{
    CheckProtocol, Health, Nanny, NannyEvent, NannyOutput, ProbeId, ProbeResult, ProbeSpec,
};
use crate::time::Instant;

fn http_key() -> ServiceKey {
    ServiceKey::Addr {
        protocol: Protocol::Tcp,
        addr: [192, 168, 26, 10].into(),
        port: 80,
    }
}

fn real(name: &str, last: u8, weight: u32) -> RealSpec {
    RealSpec {
        name: name.into(),
        addr: [10, 11, 12, last].into(),
        port: 80,
        weight,
        active: true,
    }
}

/// The reference's example `virtual http` (quiesce off so removal is visible).
fn http() -> VirtualSpec {
    VirtualSpec {
        name: "http".into(),
        active: true,
        key: http_key(),
        scheduler: Algorithm::Wlc,
        flags: ServiceFlags::NONE,
        persistence_s: 300,
        netmask: Some(0xffff_ff00),
        forwarding: Forwarding::Masq,
        sorry_server: Some(([10, 11, 12, 99].into(), 80)),
        health: HealthSpec {
            timeout: Duration::from_secs(6),
            reentry: Duration::from_secs(15),
            retries: 0,
            quiesce_server: false,
            load_monitor: LoadMonitor::None,
            check: Check::from_config(CheckProtocol::Tcp, 80, None, None, false, None).unwrap(),
        },
        servers: vec![real("web1", 1, 1), real("web2", 2, 2)],
    }
}

fn up(weight: u32) -> RealState {
    RealState {
        health: Health::Up,
        drained: false,
        in_table: true,
        weight,
    }
}
fn down(quiesced: bool) -> RealState {
    RealState {
        health: Health::Down,
        drained: false,
        in_table: quiesced,
        weight: 0,
    }
}

fn id(virt: &VirtualSpec, last: u8) -> RealId {
    RealId {
        service: virt.key,
        addr: [10, 11, 12, last].into(),
        port: 80,
    }
}

fn dests(t: &Table) -> Vec<(String, u32)> {
    t.services
        .values()
        .flat_map(|e| e.dests.values())
        .map(|d| (d.key().to_string(), d.weight))
        .collect()
}

fn states(list: &[(RealId, RealState)]) -> BTreeMap<RealId, RealState> {
    list.iter().copied().collect()
}

#[test]
fn service_carries_scheduler_persistence_and_pmask() {
    let t = desired_table(&[http()], |_| None);
    let svc = &t.get(&http_key()).unwrap().service;
    assert_eq!(svc.scheduler, Algorithm::Wlc);
    assert_eq!(svc.flags, ServiceFlags::PERSISTENT);
    assert_eq!((svc.timeout_s, svc.netmask), (300, 0xffff_ff00));
    let mut plain = http();
    plain.persistence_s = 0;
    plain.netmask = None;
    let t = desired_table(&[plain], |_| None);
    let svc = &t.get(&http_key()).unwrap().service;
    assert_eq!((svc.flags, svc.netmask), (ServiceFlags::NONE, u32::MAX));
}

#[test]
fn only_active_virtuals_and_active_real_servers_with_state() {
    let mut v = http();
    v.servers.push(RealSpec {
        active: false,
        ..real("web3", 3, 5)
    });
    let mut off = http();
    off.name = "off".into();
    off.active = false;
    off.key = ServiceKey::Fwmark {
        family: crate::ipvs::Family::Inet,
        mark: 9,
    };
    let st = states(&[(id(&v, 1), up(1)), (id(&v, 2), up(2)), (id(&v, 3), up(5))]);
    let t = desired_table(&[v, off], |i| st.get(i).copied());
    assert_eq!(t.service_count(), 1);
    assert_eq!(
        dests(&t),
        [
            ("10.11.12.1:80".to_string(), 1),
            ("10.11.12.2:80".to_string(), 2)
        ]
    );
    let d = &t.get(&http_key()).unwrap().dests[&DestKey {
        addr: [10, 11, 12, 1].into(),
        port: 80,
    }];
    assert_eq!(d.fwd, Forwarding::Masq);
}

#[test]
fn sorry_server_in_and_out() {
    let v = http();
    let specs = [v.clone()];
    let sorry = ("10.11.12.99:80".to_string(), 1);

    // Nothing known yet: sorry server only.
    let t0 = desired_table(&specs, |_| None);
    assert_eq!(dests(&t0), std::slice::from_ref(&sorry));

    // web2 comes up: sorry server leaves in the same reconcile as web2 arrives.
    let st = states(&[(id(&v, 1), down(false)), (id(&v, 2), up(1))]);
    let t1 = desired_table(&specs, |i| st.get(i).copied());
    assert_eq!(dests(&t1), [("10.11.12.2:80".to_string(), 1)]);
    let ops = reconcile(&t1, &t0, Ownership::WholeTable);
    let shown: Vec<String> = ops.iter().map(Op::to_string).collect();
    assert_eq!(
        shown,
        [
            "-d TCP 192.168.26.10:80 -r 10.11.12.99:80",
            "-a TCP 192.168.26.10:80 -r 10.11.12.2:80 w=1"
        ]
    );

    // Both down: sorry server back.
    let st = states(&[(id(&v, 1), down(false)), (id(&v, 2), down(false))]);
    let t2 = desired_table(&specs, |i| st.get(i).copied());
    assert_eq!(dests(&t2), std::slice::from_ref(&sorry));

    // Quiesced servers stay at weight 0 but do not serve: sorry server beside them.
    let st = states(&[(id(&v, 1), down(true)), (id(&v, 2), down(true))]);
    let t3 = desired_table(&specs, |i| st.get(i).copied());
    assert_eq!(
        dests(&t3),
        [
            ("10.11.12.1:80".to_string(), 0),
            ("10.11.12.2:80".to_string(), 0),
            sorry
        ]
    );

    // No sorry server configured: an empty service.
    let mut bare = v.clone();
    bare.sorry_server = None;
    let t4 = desired_table(&[bare], |i| st.get(i).copied().filter(|_| false));
    assert_eq!(t4.dest_count(), 0);
    assert_eq!(t4.service_count(), 1);
}

/// A director in miniature: nannies per plan, each answered by a scripted server health.
struct Rig {
    nannies: BTreeMap<RealId, Nanny>,
    healthy: BTreeMap<RealId, bool>,
    now: Instant,
}

impl Rig {
    fn new(specs: &[VirtualSpec]) -> Rig {
        let mut rig = Rig {
            nannies: BTreeMap::new(),
            healthy: BTreeMap::new(),
            now: Instant::ZERO,
        };
        let plan = reload_plan(&[], specs);
        assert!(plan.keep.is_empty() && plan.stop.is_empty());
        rig.start(plan.start);
        rig
    }

    fn start(&mut self, list: Vec<(RealId, NannyConfig)>) {
        for (rid, cfg) in list {
            let seed = rid.nanny_seed(42);
            let n = Nanny::new(cfg, rid.addr, rid.port, seed, self.now).unwrap();
            self.nannies.insert(rid, n);
        }
    }

    /// Run every nanny until `until`, answering probes per `healthy` (default healthy).
    fn run_until(&mut self, until: Instant) -> Vec<(RealId, NannyEvent)> {
        let mut events = Vec::new();
        for _ in 0..100_000 {
            let next = self
                .nannies
                .iter()
                .filter_map(|(rid, n)| n.poll_timeout().map(|(t, _)| (t, *rid)))
                .min();
            let Some((t, rid)) = next.filter(|(t, _)| *t <= until) else {
                self.now = until;
                return events;
            };
            self.now = t;
            let healthy = self.healthy.get(&rid).copied().unwrap_or(true);
            let n = self.nannies.get_mut(&rid).unwrap();
            n.handle_timeout(t);
            let mut probes: Vec<ProbeId> = Vec::new();
            while let Some(out) = n.poll_output() {
                match out {
                    NannyOutput::StartProbe { id, spec } => {
                        assert!(matches!(spec, ProbeSpec::Connect { .. }));
                        probes.push(id);
                    }
                    NannyOutput::Event(e) => events.push((rid, e)),
                }
            }
            for pid in probes {
                let result = if healthy {
                    ProbeResult::Reply(b"HTTP/1.0 200 OK".to_vec())
                } else {
                    ProbeResult::Failed(crate::nanny::ProbeFailure::Refused)
                };
                n.handle_probe_result(t, pid, &result).unwrap();
                while let Some(out) = n.poll_output() {
                    if let NannyOutput::Event(e) = out {
                        events.push((rid, e));
                    }
                }
            }
        }
        panic!("too many wakeups");
    }

    fn table(&self, specs: &[VirtualSpec]) -> Table {
        desired_table(specs, |i| self.nannies.get(i).map(Nanny::real_state))
    }
}

#[test]
fn reload_keeps_nanny_state_and_reapplies_scheduler_and_persistence() {
    let old = vec![http()];
    let mut rig = Rig::new(&old);
    let web1 = id(&old[0], 1);
    let web2 = id(&old[0], 2);
    rig.healthy.insert(web2, false);
    rig.run_until(Instant::ZERO + Duration::from_secs(60));
    assert_eq!(rig.nannies[&web1].real_state().health, Health::Up);
    assert_eq!(rig.nannies[&web2].real_state().health, Health::Down);
    let kernel = rig.table(&old);

    // New config: scheduler and persistence changed, web2's weight changed, web3 added.
    let mut new = http();
    new.scheduler = Algorithm::Rr;
    new.persistence_s = 600;
    new.servers[1].weight = 5;
    new.servers.push(real("web3", 3, 1));
    let plan = reload_plan(&old, std::slice::from_ref(&new));
    assert_eq!(plan.keep, [web1]);
    assert_eq!(plan.reweight, [(web2, 5)]);
    assert_eq!(plan.stop, []);
    let web3 = id(&new, 3);
    assert_eq!(plan.start.len(), 1);
    assert_eq!(plan.start[0].0, web3);

    for (rid, w) in &plan.reweight {
        rig.nannies
            .get_mut(rid)
            .unwrap()
            .handle_set_weight(rig.now, *w)
            .unwrap();
    }
    rig.start(plan.start);
    let new_specs = [new];
    // Right after the reload: web1 still up (not re-checked from scratch), web2 still down,
    // web3 not yet known; the kernel gets exactly one SET_SERVICE.
    assert_eq!(rig.nannies[&web1].real_state(), up(1));
    assert_eq!(rig.nannies[&web2].real_state().health, Health::Down);
    let ops = reconcile(&rig.table(&new_specs), &kernel, Ownership::WholeTable);
    assert_eq!(ops.len(), 1, "{ops:?}");
    let Op::EditService(svc) = &ops[0] else {
        panic!("{ops:?}")
    };
    assert_eq!((svc.scheduler, svc.timeout_s), (Algorithm::Rr, 600));
}

#[test]
fn reload_restarts_nannies_whose_check_changed_and_stops_removed_ones() {
    let old = vec![http()];
    let mut new = http();
    new.health.timeout = Duration::from_secs(3);
    new.servers.remove(0);
    let plan = reload_plan(&old, std::slice::from_ref(&new));
    let web1 = id(&old[0], 1);
    let web2 = id(&old[0], 2);
    assert!(plan.keep.is_empty() && plan.reweight.is_empty());
    assert_eq!(plan.stop, [web1, web2]);
    assert_eq!(plan.start.len(), 1);
    assert_eq!(plan.start[0].0, web2);
    assert_eq!(plan.start[0].1.timeout, Duration::from_secs(3));

    // Deactivating the virtual stops everything; an identical reload is a no-op.
    let mut off = http();
    off.active = false;
    assert_eq!(reload_plan(&old, &[off]).stop, [web1, web2]);
    assert!(reload_plan(&old, &old).is_noop());
}

#[test]
fn flapping_server_moves_sorry_server_through_nannies() {
    let mut v = http();
    v.servers.truncate(1);
    let specs = vec![v];
    let mut rig = Rig::new(&specs);
    let web1 = id(&specs[0], 1);
    rig.run_until(Instant::ZERO + Duration::from_secs(10));
    assert_eq!(
        dests(&rig.table(&specs)),
        [("10.11.12.1:80".to_string(), 1)]
    );
    rig.healthy.insert(web1, false);
    let events = rig.run_until(Instant::ZERO + Duration::from_secs(20));
    assert!(events.contains(&(web1, NannyEvent::Down { quiesced: false })));
    assert_eq!(
        dests(&rig.table(&specs)),
        [("10.11.12.99:80".to_string(), 1)]
    );
    // Back: reentry 15 / timeout 6 = 2 successes, 6 s apart.
    rig.healthy.insert(web1, true);
    rig.run_until(rig.now + Duration::from_secs(7));
    assert_eq!(
        dests(&rig.table(&specs)),
        [("10.11.12.99:80".to_string(), 1)]
    );
    rig.run_until(rig.now + Duration::from_secs(6));
    assert_eq!(
        dests(&rig.table(&specs)),
        [("10.11.12.1:80".to_string(), 1)]
    );
}

#[test]
fn nanny_seeds_differ_per_real_server_and_follow_the_base_seed() {
    let v = http();
    let a = id(&v, 1);
    let b = id(&v, 2);
    assert_eq!(a.nanny_seed(1), a.nanny_seed(1));
    assert_ne!(a.nanny_seed(1), b.nanny_seed(1));
    assert_ne!(a.nanny_seed(1), a.nanny_seed(2));
}
