//! `reconcile(desired, actual)`: the minimal ordered list of [`Op`]s that turns the kernel's
//! actual table (a dump) into the desired one.
//!
//! # What is compared
//! Services by [`ServiceKey`], destinations by [`DestKey`](super::model::DestKey) within their service. HASHED and the
//! connection counters are ignored ([`Service::same_config`](super::model::Service::same_config), [`Dest::same_config`](super::model::Dest::same_config)).
//!
//! # Minimality
//! Every difference costs exactly one op, and nothing else costs any:
//! - a service only in `actual`: one `DelService` (its destinations go with it) — only when
//!   the scope is [`Ownership::WholeTable`]; with [`Ownership::AllowForeign`] it is foreign and
//!   left alone;
//! - a service only in `desired`: one `AddService` plus one `AddDest` per destination;
//! - a service in both whose editable fields differ (scheduler, flags but HASHED, timeout,
//!   netmask, pe): one `EditService` (`SET_SERVICE`), never delete + re-add;
//! - in a service in both, a destination only in `actual`: one `DelDest`; only in `desired`: one
//!   `AddDest`; in both with different weight, forwarding, thresholds or tunnel parameters:
//!   one `EditDest` (`SET_DEST` changes all of these in place, see `ip_vs_edit_dest`).
//!
//! So `reconcile(x, x)` is empty and one changed destination is one op. A service inside the
//! desired set is owned whole: foreign destinations inside it are deleted.
//!
//! # Order
//! Deletes first (services, then destinations), so the kernel frees entries before new ones are
//! allocated and a table near a limit does not fail half-way; then edits (services, then
//! destinations); then adds: each new service immediately followed by its destinations (the
//! kernel refuses a destination of a missing service with ESRCH), then destinations added to
//! existing services. Within each group, ipvsadm's order. Applying the ops in order to `actual`
//! with [`Table::apply`] never fails if `desired` is itself valid for the kernel.

use core::cmp::Ordering;
use std::collections::BTreeMap;

use super::model::ServiceKey;
use super::table::{Op, Table};

/// Which services reconcile may touch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Ownership {
    /// Only services present in `desired`; services the kernel holds that `desired` does not
    /// name belong to someone else (another tool, a hand edit we must not fight) and are kept.
    AllowForeign,
    /// The whole table: services not in `desired` are deleted.
    WholeTable,
}

/// The minimal ordered list of ops turning `actual` into `desired` (see the module docs).
///
/// One ordered merge over both tables: O(services + destinations), no lookups.
pub fn reconcile(desired: &Table, actual: &Table, scope: Ownership) -> Vec<Op> {
    let mut del_services: Vec<Op> = Vec::new();
    let mut del_dests: Vec<Op> = Vec::new();
    let mut edit_services: Vec<Op> = Vec::new();
    let mut edit_dests: Vec<Op> = Vec::new();
    let mut add_services: Vec<Op> = Vec::new();
    let mut add_dests: Vec<Op> = Vec::new();

    merge(&desired.services, &actual.services, |key, want, have| {
        let service: ServiceKey = *key;
        match (want, have) {
            (None, Some(_)) => {
                if scope == Ownership::WholeTable {
                    del_services.push(Op::DelService(service));
                }
            }
            (Some(want), None) => {
                add_services.push(Op::AddService(want.service.clone()));
                add_services.extend(want.dests.values().map(|d| Op::AddDest {
                    service,
                    dest: d.clone(),
                }));
            }
            (Some(want), Some(have)) => {
                if !want.service.same_config(&have.service) {
                    edit_services.push(Op::EditService(want.service.clone()));
                }
                merge(&want.dests, &have.dests, |dkey, w, h| match (w, h) {
                    (None, Some(_)) => del_dests.push(Op::DelDest {
                        service,
                        dest: *dkey,
                    }),
                    (Some(w), None) => add_dests.push(Op::AddDest {
                        service,
                        dest: w.clone(),
                    }),
                    (Some(w), Some(h)) if !h.same_config(w) => edit_dests.push(Op::EditDest {
                        service,
                        dest: w.clone(),
                    }),
                    _ => {}
                });
            }
            (None, None) => unreachable!("merge yields keys present on one side at least"),
        }
    });

    let mut ops = del_services;
    ops.append(&mut del_dests);
    ops.append(&mut edit_services);
    ops.append(&mut edit_dests);
    ops.append(&mut add_services);
    ops.append(&mut add_dests);
    ops
}

/// Walk two sorted maps together, calling `f` once per key with the value on each side.
fn merge<'a, K: Ord, A, B>(
    left: &'a BTreeMap<K, A>,
    right: &'a BTreeMap<K, B>,
    mut f: impl FnMut(&'a K, Option<&'a A>, Option<&'a B>),
) {
    let mut l = left.iter().peekable();
    let mut r = right.iter().peekable();
    loop {
        let order = match (l.peek(), r.peek()) {
            (None, None) => return,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((lk, _)), Some((rk, _))) => lk.cmp(rk),
        };
        match order {
            Ordering::Less => {
                let (k, a) = l.next().expect("peeked");
                f(k, Some(a), None);
            }
            Ordering::Greater => {
                let (k, b) = r.next().expect("peeked");
                f(k, None, Some(b));
            }
            Ordering::Equal => {
                let (k, a) = l.next().expect("peeked");
                let (_, b) = r.next().expect("peeked");
                f(k, Some(a), Some(b));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::model::{
        Dest, Forwarding, Protocol, Service, ServiceFlags, ServiceKey, TunnelType,
    };
    use crate::sched::Algorithm;

    fn tcp(last: u8, port: u16) -> ServiceKey {
        ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: [192, 168, 26, last].into(),
            port,
        }
    }

    fn dest(last: u8, weight: u32) -> Dest {
        Dest::new([10, 11, 12, last].into(), 80, Forwarding::Masq, weight)
    }

    fn table() -> Table {
        let mut t = Table::new();
        for v in [10u8, 11] {
            let k = tcp(v, 80);
            t.upsert_service(Service::new(k, Algorithm::Wlc));
            for r in 1..=3u8 {
                t.upsert_dest(&k, dest(r, u32::from(r)));
            }
        }
        t
    }

    fn applied(actual: &Table, ops: &[Op]) -> Table {
        let mut t = actual.clone();
        for op in ops {
            t.apply(op).unwrap_or_else(|e| panic!("{op}: {e}"));
        }
        t
    }

    #[test]
    fn identical_tables_need_nothing_even_with_hashed_and_counters() {
        let desired = table();
        let mut actual = applied(
            &Table::new(),
            &reconcile(&desired, &Table::new(), Ownership::WholeTable),
        );
        for e in actual.services.values_mut() {
            assert!(e.service.flags.contains(ServiceFlags::HASHED));
            for d in e.dests.values_mut() {
                d.conns.active = 42;
            }
        }
        assert!(reconcile(&desired, &actual, Ownership::WholeTable).is_empty());
        assert!(reconcile(&desired, &desired, Ownership::AllowForeign).is_empty());
    }

    #[test]
    fn one_changed_weight_is_one_edit() {
        let actual = table();
        let mut desired = actual.clone();
        let k = tcp(11, 80);
        desired.upsert_dest(&k, dest(2, 9));
        let ops = reconcile(&desired, &actual, Ownership::WholeTable);
        assert_eq!(
            ops,
            [Op::EditDest {
                service: k,
                dest: dest(2, 9)
            }]
        );
    }

    #[test]
    fn every_editable_dest_field_is_an_edit_and_a_new_port_is_a_new_dest() {
        let actual = table();
        let k = tcp(10, 80);
        let base = dest(1, 1);
        let variants = {
            let mut v = Vec::new();
            let mut d = base.clone();
            d.fwd = Forwarding::DirectRoute;
            v.push(d);
            let mut d = base.clone();
            d.u_threshold = 100;
            d.l_threshold = 50;
            v.push(d);
            let mut d = base.clone();
            d.fwd = Forwarding::Tunnel;
            d.tunnel.kind = TunnelType::Gue;
            d.tunnel.port = 6080;
            v.push(d);
            v
        };
        for d in variants {
            let mut desired = actual.clone();
            desired.upsert_dest(&k, d.clone());
            let ops = reconcile(&desired, &actual, Ownership::WholeTable);
            assert_eq!(
                ops,
                [Op::EditDest {
                    service: k,
                    dest: d
                }]
            );
        }
        let mut desired = actual.clone();
        let entry = desired.services.get_mut(&k).unwrap();
        entry.dests.remove(&base.key());
        let mut moved = base.clone();
        moved.port = 8080;
        entry.dests.insert(moved.key(), moved.clone());
        let ops = reconcile(&desired, &actual, Ownership::WholeTable);
        assert_eq!(
            ops,
            [
                Op::DelDest {
                    service: k,
                    dest: base.key()
                },
                Op::AddDest {
                    service: k,
                    dest: moved
                }
            ]
        );
    }

    #[test]
    fn scheduler_and_persistence_are_edited_in_place() {
        let actual = table();
        let mut desired = actual.clone();
        let k = tcp(10, 80);
        let mut svc = desired.get(&k).unwrap().service.clone();
        svc.scheduler = Algorithm::Sh;
        svc.flags = ServiceFlags::PERSISTENT.with(ServiceFlags::SCHED1);
        svc.timeout_s = 300;
        svc.netmask = 0xffff_ff00;
        desired.upsert_service(svc.clone());
        let ops = reconcile(&desired, &actual, Ownership::WholeTable);
        assert_eq!(ops, [Op::EditService(svc)]);
        assert!(applied(&actual, &ops).same_config(&desired));
    }

    #[test]
    fn foreign_services_survive_unless_we_own_the_table() {
        let mut actual = table();
        let foreign = tcp(99, 443);
        actual.upsert_service(Service::new(foreign, Algorithm::Rr));
        actual.upsert_dest(&foreign, dest(9, 1));
        let desired = table();
        assert!(reconcile(&desired, &actual, Ownership::AllowForeign).is_empty());
        assert_eq!(
            reconcile(&desired, &actual, Ownership::WholeTable),
            [Op::DelService(foreign)]
        );
    }

    #[test]
    fn order_deletes_then_edits_then_adds_with_services_before_their_dests() {
        let actual = table();
        let mut desired = Table::new();
        // Keep service .10 with one dest removed, one edited, one added; drop .11; add .12.
        let k10 = tcp(10, 80);
        desired.upsert_service(Service::new(k10, Algorithm::Rr));
        desired.upsert_dest(&k10, dest(1, 1));
        desired.upsert_dest(&k10, dest(2, 7));
        desired.upsert_dest(&k10, dest(4, 1));
        let k12 = tcp(12, 80);
        desired.upsert_service(Service::new(k12, Algorithm::Wlc));
        desired.upsert_dest(&k12, dest(5, 1));
        let ops = reconcile(&desired, &actual, Ownership::WholeTable);
        let shown: Vec<String> = ops.iter().map(|o| o.to_string()).collect();
        assert_eq!(
            shown,
            [
                "-D TCP 192.168.26.11:80",
                "-d TCP 192.168.26.10:80 -r 10.11.12.3:80",
                "-E TCP 192.168.26.10:80 rr",
                "-e TCP 192.168.26.10:80 -r 10.11.12.2:80 w=7",
                "-A TCP 192.168.26.12:80 wlc",
                "-a TCP 192.168.26.12:80 -r 10.11.12.5:80 w=1",
                "-a TCP 192.168.26.10:80 -r 10.11.12.4:80 w=1",
            ]
        );
        assert!(applied(&actual, &ops).same_config(&desired));
    }
}
