//! Client traffic: every few hundred milliseconds a client opens a connection to a VIP; the
//! router its ARP cache names places it (or not), and the checker sees every placement.

use std::net::IpAddr;

use piranha_engine::ipvs::ServiceKey;
use rand_core::Rng;

use crate::world::World;

impl World {
    /// A client opens a connection to a VIP: the router its ARP cache names places it.
    pub(crate) fn connect(&mut self, k: u64) {
        if self.setup.services.is_empty() {
            return;
        }
        let client = (k % self.clients.len() as u64) as usize;
        let (service, vip) = self.setup.services[(k % self.setup.services.len() as u64) as usize];
        let holders: Vec<usize> = (0..2)
            .filter(|&r| {
                let x = &self.routers[r];
                x.host_up && !x.paused && !self.isolated(r) && x.vips.contains(&IpAddr::V4(vip))
            })
            .collect();
        let pick = self.rng.next_u64();
        let macs = [self.routers[0].mac, self.routers[1].mac];
        let mac = self.clients[client].resolve(self.now, vip, &holders, &macs, pick);
        let target = mac.and_then(|m| macs.iter().position(|x| *x == m));
        let faulty = self.active_faults.iter().any(|a| *a);
        let ok = match target {
            Some(r) => self.place(r, service, client),
            None => false,
        };
        self.stats.count_connection(ok, faulty);
    }

    fn place(&mut self, r: usize, service: ServiceKey, client: usize) -> bool {
        let x = &self.routers[r];
        if !x.host_up || x.paused || self.isolated(r) {
            return false;
        }
        let Some(addr) = service_addr(&service) else {
            return false;
        };
        if !x.vips.contains(&addr) {
            return false;
        }
        let Some(entry) = x.kernel.get(&service) else {
            return false;
        };
        // Clients live in 203.0.113.0/24 (TEST-NET-3); each connection a new source port.
        let client = (
            IpAddr::V4(std::net::Ipv4Addr::new(
                203,
                0,
                113,
                10 + (client % 200) as u8,
            )),
            (1024 + self.connects % 60_000) as u16,
        );
        let Some(dest) = self.placer.place(self.now, r, &service, entry, client) else {
            return false;
        };
        let (_, failing_since) = crate::servers::behaviour(self, dest.addr, self.now);
        self.checker.connection_placed(
            self.now,
            r,
            &service,
            dest,
            failing_since,
            &self.setup,
            &mut self.rec,
        );
        crate::servers::serving(self, dest)
    }
}

pub(crate) fn service_addr(key: &ServiceKey) -> Option<IpAddr> {
    match key {
        ServiceKey::Addr { addr, .. } => Some(*addr),
        ServiceKey::Fwmark { .. } => None,
    }
}
