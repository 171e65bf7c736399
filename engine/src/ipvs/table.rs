//! The whole table and the kernel's rules for changing it: [`Table::apply`] accepts and refuses
//! [`Op`]s as `ip_vs_ctl.c` does, with the errno the kernel would return, so the simulator can
//! use it as its in-memory kernel.

use core::fmt;
use std::collections::BTreeMap;

use super::model::{
    Dest, DestConns, DestKey, Family, Forwarding, Service, ServiceFlags, ServiceKey,
};

/// One service and its destinations.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServiceEntry {
    /// The service.
    pub service: Service,
    /// Its destinations, in ipvsadm's order (address, port).
    pub dests: BTreeMap<DestKey, Dest>,
}

/// A whole IPVS table (one network namespace), in deterministic order.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Table {
    /// Services by key, in ipvsadm's listing order.
    pub services: BTreeMap<ServiceKey, ServiceEntry>,
}

/// One change to the table: exactly one netlink request.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Op {
    /// `IPVS_CMD_NEW_SERVICE`.
    AddService(Service),
    /// `IPVS_CMD_SET_SERVICE`: scheduler, flags, timeout, netmask, pe.
    EditService(Service),
    /// `IPVS_CMD_DEL_SERVICE` (deletes its destinations too).
    DelService(ServiceKey),
    /// `IPVS_CMD_NEW_DEST`.
    AddDest {
        /// The service it belongs to.
        service: ServiceKey,
        /// The destination.
        dest: Dest,
    },
    /// `IPVS_CMD_SET_DEST`: weight, forwarding, thresholds, tunnel.
    EditDest {
        /// The service it belongs to.
        service: ServiceKey,
        /// The destination's new configuration.
        dest: Dest,
    },
    /// `IPVS_CMD_DEL_DEST`.
    DelDest {
        /// The service it belongs to.
        service: ServiceKey,
        /// The destination.
        dest: DestKey,
    },
}

impl fmt::Display for Op {
    /// ipvsadm-like: `-A TCP 10.0.0.1:80 wlc`, `-e TCP 10.0.0.1:80 -r 10.1.1.1:80 w=3`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::AddService(s) => write!(f, "-A {} {}", s.key, s.scheduler),
            Op::EditService(s) => write!(f, "-E {} {}", s.key, s.scheduler),
            Op::DelService(k) => write!(f, "-D {k}"),
            Op::AddDest { service, dest } => {
                write!(f, "-a {service} -r {} w={}", dest.key(), dest.weight)
            }
            Op::EditDest { service, dest } => {
                write!(f, "-e {service} -r {} w={}", dest.key(), dest.weight)
            }
            Op::DelDest { service, dest } => write!(f, "-d {service} -r {dest}"),
        }
    }
}

/// Why the kernel refuses an [`Op`]; [`ApplyError::errno`] is what netlink would return.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// `NEW_SERVICE` for a key that exists (EEXIST).
    #[error("service {0} already exists")]
    ServiceExists(ServiceKey),
    /// Any other op naming a service that does not exist (ESRCH, as `ip_vs_genl_set_cmd`).
    #[error("no such service {0}")]
    NoSuchService(ServiceKey),
    /// `NEW_DEST` for a destination that exists (EEXIST).
    #[error("destination {dest} of {service} already exists")]
    DestExists {
        /// The service.
        service: ServiceKey,
        /// The destination.
        dest: DestKey,
    },
    /// `SET_DEST`/`DEL_DEST` for a destination that does not exist (ENOENT).
    #[error("no destination {dest} in {service}")]
    NoSuchDest {
        /// The service.
        service: ServiceKey,
        /// The destination.
        dest: DestKey,
    },
    /// Weight above `i32::MAX` (negative for the kernel) or lower threshold above the upper
    /// (ERANGE).
    #[error("destination {0} out of range (weight or thresholds)")]
    OutOfRange(DestKey),
    /// IPv6 netmask outside 1..=128, a fwmark of 0, or a destination of another family than
    /// its service without tunnelling (EINVAL).
    #[error("invalid argument: {0}")]
    Invalid(&'static str),
    /// A persistence engine the kernel does not know (only `sip` exists) (ENOENT).
    #[error("unknown persistence engine {0:?}")]
    UnknownPe(String),
}

impl ApplyError {
    /// The (positive) errno the kernel returns for this refusal.
    pub const fn errno(&self) -> i32 {
        match self {
            ApplyError::ServiceExists(_) | ApplyError::DestExists { .. } => 17, // EEXIST
            ApplyError::NoSuchService(_) => 3,                                  // ESRCH
            ApplyError::NoSuchDest { .. } | ApplyError::UnknownPe(_) => 2,      // ENOENT
            ApplyError::OutOfRange(_) => 34,                                    // ERANGE
            ApplyError::Invalid(_) => 22,                                       // EINVAL
        }
    }
}

impl Table {
    /// An empty table.
    pub fn new() -> Table {
        Table::default()
    }

    /// Number of services.
    pub fn service_count(&self) -> usize {
        self.services.len()
    }

    /// Number of destinations over all services.
    pub fn dest_count(&self) -> usize {
        self.services.values().map(|e| e.dests.len()).sum()
    }

    /// The entry of a service.
    pub fn get(&self, key: &ServiceKey) -> Option<&ServiceEntry> {
        self.services.get(key)
    }

    /// Insert or replace a service, keeping its destinations if it existed (builder for tests
    /// and for `lvs`; no kernel checks).
    pub fn upsert_service(&mut self, service: Service) {
        match self.services.get_mut(&service.key) {
            Some(entry) => entry.service = service,
            None => {
                self.services.insert(
                    service.key,
                    ServiceEntry {
                        service,
                        dests: BTreeMap::new(),
                    },
                );
            }
        }
    }

    /// Insert or replace a destination of an existing service (builder; no kernel checks).
    /// Returns false if the service does not exist.
    pub fn upsert_dest(&mut self, service: &ServiceKey, dest: Dest) -> bool {
        match self.services.get_mut(service) {
            Some(entry) => {
                entry.dests.insert(dest.key(), dest);
                true
            }
            None => false,
        }
    }

    /// Whether both tables hold the same configuration: same services and destinations, with
    /// HASHED and connection counters ignored.
    pub fn same_config(&self, other: &Table) -> bool {
        self.services.len() == other.services.len()
            && self
                .services
                .iter()
                .zip(other.services.iter())
                .all(|((ka, a), (kb, b))| {
                    ka == kb
                        && a.service.same_config(&b.service)
                        && a.dests.len() == b.dests.len()
                        && a.dests
                            .iter()
                            .zip(b.dests.iter())
                            .all(|((da, x), (db, y))| da == db && x.same_config(y))
                })
    }

    /// `IPVS_CMD_FLUSH`: delete every service and destination.
    pub fn flush(&mut self) {
        self.services.clear();
    }

    /// Whether the kernel would accept this table as desired state: every service and
    /// destination passes the checks [`Table::apply`] makes (ranges, families, netmask, pe).
    /// Returns the first refusal in table order.
    pub fn validate(&self) -> Result<(), ApplyError> {
        for entry in self.services.values() {
            check_service(&entry.service)?;
            for dest in entry.dests.values() {
                check_dest(&entry.service.key, dest)?;
            }
        }
        Ok(())
    }

    /// Apply one op with the kernel's semantics; on error the table is unchanged.
    ///
    /// The kernel sets HASHED on every service it holds, so services added or edited here
    /// carry it too (as a dump would show). Counters start at zero on add and are kept on edit.
    pub fn apply(&mut self, op: &Op) -> Result<(), ApplyError> {
        match op {
            Op::AddService(svc) => {
                check_service(svc)?;
                if self.services.contains_key(&svc.key) {
                    return Err(ApplyError::ServiceExists(svc.key));
                }
                let mut svc = svc.clone();
                svc.flags = svc.flags.with(ServiceFlags::HASHED);
                self.services.insert(
                    svc.key,
                    ServiceEntry {
                        service: svc,
                        dests: BTreeMap::new(),
                    },
                );
            }
            Op::EditService(svc) => {
                let entry = self
                    .services
                    .get_mut(&svc.key)
                    .ok_or(ApplyError::NoSuchService(svc.key))?;
                check_service(svc)?;
                let mut svc = svc.clone();
                svc.flags = svc.flags.with(ServiceFlags::HASHED);
                entry.service = svc;
            }
            Op::DelService(key) => {
                self.services
                    .remove(key)
                    .ok_or(ApplyError::NoSuchService(*key))?;
            }
            Op::AddDest { service, dest } => {
                let entry = self
                    .services
                    .get_mut(service)
                    .ok_or(ApplyError::NoSuchService(*service))?;
                check_dest(service, dest)?;
                if entry.dests.contains_key(&dest.key()) {
                    return Err(ApplyError::DestExists {
                        service: *service,
                        dest: dest.key(),
                    });
                }
                let mut dest = dest.clone();
                dest.conns = DestConns::default();
                entry.dests.insert(dest.key(), dest);
            }
            Op::EditDest { service, dest } => {
                let entry = self
                    .services
                    .get_mut(service)
                    .ok_or(ApplyError::NoSuchService(*service))?;
                check_dest(service, dest)?;
                let slot = entry
                    .dests
                    .get_mut(&dest.key())
                    .ok_or(ApplyError::NoSuchDest {
                        service: *service,
                        dest: dest.key(),
                    })?;
                let conns = slot.conns;
                *slot = dest.clone();
                slot.conns = conns;
            }
            Op::DelDest { service, dest } => {
                let entry = self
                    .services
                    .get_mut(service)
                    .ok_or(ApplyError::NoSuchService(*service))?;
                entry.dests.remove(dest).ok_or(ApplyError::NoSuchDest {
                    service: *service,
                    dest: *dest,
                })?;
            }
        }
        Ok(())
    }
}

/// The kernel's service argument checks (`ip_vs_genl_parse_service`, `ip_vs_add_service`).
fn check_service(svc: &Service) -> Result<(), ApplyError> {
    match svc.key {
        ServiceKey::Fwmark { mark: 0, .. } => return Err(ApplyError::Invalid("fwmark 0")),
        ServiceKey::Fwmark { .. } | ServiceKey::Addr { .. } => {}
    }
    if svc.key.family() == Family::Inet6 && !(1..=128).contains(&svc.netmask) {
        return Err(ApplyError::Invalid(
            "IPv6 netmask must be a prefix length 1..=128",
        ));
    }
    match svc.pe_name.as_deref() {
        None | Some("sip") => Ok(()),
        Some(other) => Err(ApplyError::UnknownPe(other.to_string())),
    }
}

/// The kernel's destination checks (`ip_vs_genl_set_cmd`, `ip_vs_add_dest`/`ip_vs_edit_dest`).
fn check_dest(service: &ServiceKey, dest: &Dest) -> Result<(), ApplyError> {
    if i32::try_from(dest.weight).is_err() || dest.l_threshold > dest.u_threshold {
        return Err(ApplyError::OutOfRange(dest.key()));
    }
    if Family::of(&dest.addr) != service.family() && dest.fwd != Forwarding::Tunnel {
        return Err(ApplyError::Invalid(
            "a destination of another address family needs tunnel forwarding",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::model::Protocol;
    use crate::sched::Algorithm;

    fn tcp(addr: &str, port: u16) -> ServiceKey {
        ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: addr.parse().unwrap(),
            port,
        }
    }

    fn dest(addr: &str, port: u16, weight: u32) -> Dest {
        Dest::new(addr.parse().unwrap(), port, Forwarding::Masq, weight)
    }

    #[test]
    fn add_twice_is_eexist_and_missing_is_esrch_or_enoent() {
        let k = tcp("10.0.0.1", 80);
        let mut t = Table::new();
        t.apply(&Op::AddService(Service::new(k, Algorithm::Wlc)))
            .unwrap();
        let e = t
            .apply(&Op::AddService(Service::new(k, Algorithm::Rr)))
            .unwrap_err();
        assert_eq!(e, ApplyError::ServiceExists(k));
        assert_eq!(e.errno(), 17);
        assert_eq!(t.get(&k).unwrap().service.scheduler, Algorithm::Wlc);

        let other = tcp("10.0.0.2", 80);
        let e = t.apply(&Op::DelService(other)).unwrap_err();
        assert_eq!(e.errno(), 3);
        let d = dest("10.1.0.1", 80, 1);
        let e = t
            .apply(&Op::EditDest {
                service: k,
                dest: d.clone(),
            })
            .unwrap_err();
        assert_eq!(e.errno(), 2);
        t.apply(&Op::AddDest {
            service: k,
            dest: d.clone(),
        })
        .unwrap();
        let e = t
            .apply(&Op::AddDest {
                service: k,
                dest: d.clone(),
            })
            .unwrap_err();
        assert_eq!(e.errno(), 17);
        assert_eq!(t.dest_count(), 1);
    }

    #[test]
    fn kernel_sets_hashed_and_comparison_ignores_it() {
        let k = tcp("10.0.0.1", 80);
        let svc = Service::new(k, Algorithm::Wlc);
        let mut t = Table::new();
        t.apply(&Op::AddService(svc.clone())).unwrap();
        let stored = &t.get(&k).unwrap().service;
        assert_eq!(stored.flags, ServiceFlags::HASHED);
        assert_ne!(stored, &svc);
        assert!(stored.same_config(&svc));
    }

    #[test]
    fn deleting_a_service_deletes_its_dests() {
        let k = tcp("10.0.0.1", 80);
        let mut t = Table::new();
        t.apply(&Op::AddService(Service::new(k, Algorithm::Rr)))
            .unwrap();
        for i in 1..=3 {
            t.apply(&Op::AddDest {
                service: k,
                dest: dest(&format!("10.1.0.{i}"), 80, i),
            })
            .unwrap();
        }
        assert_eq!(t.dest_count(), 3);
        t.apply(&Op::DelService(k)).unwrap();
        assert_eq!(t.dest_count(), 0);
        // Re-adding starts empty.
        t.apply(&Op::AddService(Service::new(k, Algorithm::Rr)))
            .unwrap();
        assert_eq!(t.dest_count(), 0);
    }

    #[test]
    fn range_and_family_checks() {
        let k = tcp("10.0.0.1", 80);
        let mut t = Table::new();
        t.apply(&Op::AddService(Service::new(k, Algorithm::Rr)))
            .unwrap();
        let mut d = dest("10.1.0.1", 80, 1);
        d.weight = 1 << 31;
        assert_eq!(
            t.apply(&Op::AddDest {
                service: k,
                dest: d.clone()
            })
            .unwrap_err()
            .errno(),
            34
        );
        d.weight = 1;
        d.l_threshold = 5;
        d.u_threshold = 4;
        assert_eq!(
            t.apply(&Op::AddDest {
                service: k,
                dest: d.clone()
            })
            .unwrap_err()
            .errno(),
            34
        );
        let v6 = dest("2001:db8::1", 80, 1);
        assert_eq!(
            t.apply(&Op::AddDest {
                service: k,
                dest: v6.clone()
            })
            .unwrap_err()
            .errno(),
            22
        );
        let mut tun = v6;
        tun.fwd = Forwarding::Tunnel;
        t.apply(&Op::AddDest {
            service: k,
            dest: tun,
        })
        .unwrap();
        let mut bad6 = Service::new(
            ServiceKey::Fwmark {
                family: Family::Inet6,
                mark: 3,
            },
            Algorithm::Rr,
        );
        bad6.netmask = 129;
        assert_eq!(t.apply(&Op::AddService(bad6)).unwrap_err().errno(), 22);
    }

    #[test]
    fn validate_finds_what_apply_would_refuse() {
        let k = tcp("10.0.0.1", 80);
        let mut t = Table::new();
        t.upsert_service(Service::new(k, Algorithm::Wlc));
        t.upsert_dest(&k, dest("10.1.0.1", 80, 1));
        assert_eq!(t.validate(), Ok(()));
        let mut bad = dest("10.1.0.2", 80, 1);
        bad.l_threshold = 1;
        t.upsert_dest(&k, bad.clone());
        assert_eq!(t.validate(), Err(ApplyError::OutOfRange(bad.key())));
        t.flush();
        assert_eq!((t.service_count(), t.validate()), (0, Ok(())));
    }

    #[test]
    fn edit_dest_keeps_counters() {
        let k = tcp("10.0.0.1", 80);
        let mut t = Table::new();
        t.apply(&Op::AddService(Service::new(k, Algorithm::Wlc)))
            .unwrap();
        let d = dest("10.1.0.1", 80, 1);
        t.apply(&Op::AddDest {
            service: k,
            dest: d.clone(),
        })
        .unwrap();
        t.services
            .get_mut(&k)
            .unwrap()
            .dests
            .get_mut(&d.key())
            .unwrap()
            .conns
            .active = 7;
        let mut d2 = d.clone();
        d2.weight = 5;
        t.apply(&Op::EditDest {
            service: k,
            dest: d2,
        })
        .unwrap();
        let got = &t.get(&k).unwrap().dests[&d.key()];
        assert_eq!((got.weight, got.conns.active), (5, 7));
    }
}
