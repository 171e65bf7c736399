//! reconcile at the design's scale: 10,000 services × 10 destinations.
//!
//! Timing figure (not asserted, machines differ):
//! `cargo test -p piranha-engine --release --test reconcile_scale -- --nocapture`

use std::net::IpAddr;

use piranha_engine::ipvs::{
    reconcile, Dest, Forwarding, Op, Ownership, Protocol, Service, ServiceFlags, ServiceKey, Table,
};
use piranha_engine::sched::Algorithm;

fn big_table(services: u32, dests: u8) -> Table {
    let mut t = Table::new();
    for s in 0..services {
        let key = ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: IpAddr::from((0x0a00_0000u32 + s).to_be_bytes()),
            port: 80,
        };
        t.upsert_service(Service::new(key, Algorithm::Wlc));
        for d in 0..dests {
            let addr = IpAddr::from([172, 16, (s % 256) as u8, d]);
            t.upsert_dest(&key, Dest::new(addr, 8080, Forwarding::Masq, 1));
        }
    }
    t
}

#[allow(clippy::disallowed_methods)] // a wall-clock figure for the report, outside the engine
fn timed<T>(f: impl FnOnce() -> T) -> (T, std::time::Duration) {
    let start = std::time::Instant::now();
    let out = f();
    (out, start.elapsed())
}

#[test]
fn ten_thousand_services_one_changed_dest_is_one_op() {
    let desired = big_table(10_000, 10);
    let mut actual = desired.clone();
    for e in actual.services.values_mut() {
        e.service.flags = e.service.flags.with(ServiceFlags::HASHED);
    }
    let key = *actual.services.keys().nth(4_321).unwrap();
    let entry = actual.services.get_mut(&key).unwrap();
    let dkey = *entry.dests.keys().nth(3).unwrap();
    entry.dests.get_mut(&dkey).unwrap().weight = 9;

    let (ops, took) = timed(|| reconcile(&desired, &actual, Ownership::WholeTable));
    println!("reconcile 10000 services x 10 dests, one change: {took:?}");
    assert_eq!(ops.len(), 1);
    let Op::EditDest { service, dest } = &ops[0] else {
        panic!("{ops:?}")
    };
    assert_eq!((*service, dest.key(), dest.weight), (key, dkey, 1));

    let (ops, took) = timed(|| reconcile(&desired, &Table::new(), Ownership::WholeTable));
    println!("reconcile 10000 services x 10 dests from empty: {took:?}");
    assert_eq!(ops.len(), 110_000);
}
