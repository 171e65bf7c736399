//! Property tests of `ipvs::reconcile`: applying its ops to the actual table with the kernel's
//! semantics never fails and yields the desired table, with exactly one op per difference.

use std::net::IpAddr;

use piranha_engine::ipvs::{
    reconcile, Dest, DestConns, Family, Forwarding, Op, Ownership, Protocol, Service, ServiceFlags,
    ServiceKey, Table, TunnelParams, TunnelType,
};
use piranha_engine::sched::Algorithm;
use proptest::prelude::*;

/// Few distinct keys, so desired and actual overlap often.
fn service_key() -> impl Strategy<Value = ServiceKey> {
    prop_oneof![
        (0u8..3, prop::sample::select(vec![80u16, 443])).prop_map(|(v, port)| ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: IpAddr::from([192, 168, 26, 10 + v]),
            port,
        }),
        Just(ServiceKey::Addr {
            protocol: Protocol::Udp,
            addr: IpAddr::from([192, 168, 26, 10]),
            port: 53,
        }),
        Just(ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: "2001:db8::10".parse().unwrap(),
            port: 80,
        }),
        (1u32..3).prop_map(|mark| ServiceKey::Fwmark {
            family: Family::Inet,
            mark
        }),
    ]
}

fn service(key: ServiceKey) -> impl Strategy<Value = Service> {
    (
        prop::sample::select(vec![Algorithm::Wlc, Algorithm::Rr, Algorithm::Sh]),
        any::<bool>(),
        prop::sample::select(vec![0u32, 300]),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(move |(scheduler, persistent, timeout_s, narrow, sip)| {
            let mut s = Service::new(key, scheduler);
            if persistent {
                s.flags = ServiceFlags::PERSISTENT;
            }
            s.timeout_s = timeout_s;
            if narrow {
                s.netmask = match key.family() {
                    Family::Inet => 0xffff_ff00,
                    Family::Inet6 => 64,
                };
            }
            if sip {
                s.pe_name = Some("sip".into());
            }
            s
        })
}

fn dest(family: Family) -> impl Strategy<Value = Dest> {
    (
        1u8..5,
        prop::sample::select(vec![80u16, 8080]),
        prop::sample::select(vec![
            Forwarding::Masq,
            Forwarding::DirectRoute,
            Forwarding::Tunnel,
        ]),
        0u32..4,
        prop::sample::select(vec![(0u32, 0u32), (100, 10)]),
        any::<bool>(),
        any::<u32>(),
    )
        .prop_map(move |(host, port, fwd, weight, (u, l), gue, conns)| {
            let addr = match family {
                Family::Inet => IpAddr::from([10, 11, 12, host]),
                Family::Inet6 => IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 1, u16::from(host)]),
            };
            let mut d = Dest::new(addr, port, fwd, weight);
            d.u_threshold = u;
            d.l_threshold = l;
            if gue && fwd == Forwarding::Tunnel {
                d.tunnel = TunnelParams {
                    kind: TunnelType::Gue,
                    port: 6080,
                    flags: 0,
                };
            }
            d.conns = DestConns {
                active: conns % 7,
                inactive: conns % 11,
                persistent: 0,
            };
            d
        })
}

/// A kernel-valid table; `kernel` sets HASHED as a dump would show it.
fn table(kernel: bool) -> impl Strategy<Value = Table> {
    prop::collection::vec(service_key(), 0..6)
        .prop_flat_map(|keys| {
            keys.into_iter()
                .map(|k| (service(k), prop::collection::vec(dest(k.family()), 0..5)))
                .collect::<Vec<_>>()
        })
        .prop_map(move |entries| {
            let mut t = Table::new();
            for (mut svc, dests) in entries {
                if kernel {
                    svc.flags = svc.flags.with(ServiceFlags::HASHED);
                }
                let key = svc.key;
                t.upsert_service(svc);
                for d in dests {
                    t.upsert_dest(&key, d);
                }
            }
            t
        })
}

/// The number of differences, counted independently of `reconcile`.
fn differences(desired: &Table, actual: &Table, scope: Ownership) -> usize {
    let mut n = 0;
    for (k, want) in &desired.services {
        match actual.services.get(k) {
            None => n += 1 + want.dests.len(),
            Some(have) => {
                n += usize::from(!want.service.same_config(&have.service));
                n += have
                    .dests
                    .keys()
                    .filter(|d| !want.dests.contains_key(d))
                    .count();
                for (dk, d) in &want.dests {
                    match have.dests.get(dk) {
                        None => n += 1,
                        Some(h) => n += usize::from(!h.same_config(d)),
                    }
                }
            }
        }
    }
    if scope == Ownership::WholeTable {
        n += actual
            .services
            .keys()
            .filter(|k| !desired.services.contains_key(k))
            .count();
    }
    n
}

fn scope() -> impl Strategy<Value = Ownership> {
    prop::sample::select(vec![Ownership::AllowForeign, Ownership::WholeTable])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn applying_reconcile_yields_desired(desired in table(false), actual in table(true), scope in scope()) {
        let ops = reconcile(&desired, &actual, scope);
        let mut t = actual.clone();
        for op in &ops {
            prop_assert!(t.apply(op).is_ok(), "{op} refused on {t:?}");
        }
        match scope {
            Ownership::WholeTable => prop_assert!(t.same_config(&desired)),
            Ownership::AllowForeign => {
                // Desired services are exact; foreign ones are untouched.
                let mut expected = desired.clone();
                for (k, e) in &actual.services {
                    if !desired.services.contains_key(k) {
                        expected.services.insert(*k, e.clone());
                    }
                }
                prop_assert!(t.same_config(&expected));
            }
        }
        prop_assert!(reconcile(&desired, &t, scope).is_empty());
        prop_assert_eq!(ops.len(), differences(&desired, &actual, scope));
    }

    #[test]
    fn reconcile_of_a_table_with_itself_is_empty(t in table(true), scope in scope()) {
        prop_assert!(reconcile(&t, &t, scope).is_empty());
    }

    #[test]
    fn one_changed_dest_is_one_op(t in table(false), pick in any::<prop::sample::Index>(), w in 4u32..100) {
        let with_dests: Vec<_> = t.services.iter().filter(|(_, e)| !e.dests.is_empty()).collect();
        prop_assume!(!with_dests.is_empty());
        let (key, entry) = with_dests[pick.index(with_dests.len())];
        let mut d = entry.dests.values().next().unwrap().clone();
        d.weight = w; // generated weights are < 4, so this is a change
        let mut desired = t.clone();
        desired.upsert_dest(key, d.clone());
        let ops = reconcile(&desired, &t, Ownership::WholeTable);
        prop_assert_eq!(ops, vec![Op::EditDest { service: *key, dest: d }]);
    }
}
