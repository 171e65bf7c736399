//! The lvs half of the director: starting and stopping lvs, the nannies, and keeping the kernel's
//! table equal to the desired one (diff against our belief, dumps to learn the truth).

use crate::ipvs::{reconcile, Op, Ownership, ServiceKey, Table};
use crate::lvs::{self, RealId};
use std::collections::BTreeMap;

use crate::nanny::{Nanny, NannyConfig, NannyEvent, NannyOutput};
use crate::ports::IpvsTimeouts;
use crate::time::Instant;

use super::{Director, Event, IpvsCause, Output, Slot};

impl Director {
    pub(super) fn start_lvs(&mut self, now: Instant) {
        if self.lvs_running {
            return;
        }
        self.lvs_running = true;
        if self.config.timeouts != IpvsTimeouts::default() {
            self.push(Output::SetIpvsTimeouts(self.config.timeouts));
        }
        let names = self.real_server_names();
        let mut started = 0;
        for (id, config) in lvs::nanny_configs(&self.config.virtuals) {
            if let Some(names) = names.get(&id) {
                started += usize::from(self.start_nanny(now, id, config, names.clone()));
            }
        }
        self.push(Output::Event(Event::LvsStarted { nannies: started }));
        // Learn what the kernel holds before the first diff: a restart after a crash finds our
        // old services there, and reconciling against the truth keeps them instead of failing
        // on "already exists".
        self.next_reconcile = Some(now + self.config.reconcile_interval);
        self.awaiting_first_dump = true;
        self.request_dump();
    }

    pub(super) fn stop_lvs(&mut self, _now: Instant) {
        if !self.lvs_running {
            return;
        }
        self.lvs_running = false;
        let ids: Vec<RealId> = self.nannies.keys().copied().collect();
        for id in &ids {
            self.stop_nanny(id);
        }
        debug_assert!(self.schedule.is_empty() && self.nannies.is_empty());
        self.tickets.clear();
        let ops: Vec<Op> = self
            .owned
            .iter()
            .filter(|k| self.believed.get(k).is_some())
            .map(|k| Op::DelService(*k))
            .collect();
        self.owned.clear();
        self.next_reconcile = None;
        self.awaiting_first_dump = false;
        self.emit_ops(ops, IpvsCause::Change);
        self.push(Output::Event(Event::LvsStopped));
    }

    /// The lvs.cf names (virtual server, real server) of every active real server, first of each
    /// identity as everywhere else: built once per lvs start or reload, so starting N nannies
    /// costs O(N), not a search of the configuration per nanny.
    pub(super) fn real_server_names(&self) -> BTreeMap<RealId, (String, String)> {
        let mut names = BTreeMap::new();
        for v in lvs::active_virtuals(&self.config.virtuals) {
            for r in v.active_servers() {
                names
                    .entry(v.real_id(r))
                    .or_insert_with(|| (v.name.clone(), r.name.clone()));
            }
        }
        names
    }

    /// Start the nanny of `id` with `config`, known to the operator by `names`. Returns whether
    /// one started.
    pub(super) fn start_nanny(
        &mut self,
        now: Instant,
        id: RealId,
        config: NannyConfig,
        names: (String, String),
    ) -> bool {
        let seed = id.nanny_seed(self.seed);
        let Ok(mut nanny) = Nanny::new(config, id.addr, id.port, seed, now) else {
            // Zero timeout or absurd weight: the validator refuses those; never panic here.
            return false;
        };
        #[cfg(feature = "mutations")] // MUTATION: failed checks never acted on
        nanny.set_ignore_failures(
            self.mutation == Some(crate::mutation::Mutation::NannyIgnoresFailure),
        );
        if self.drained.contains(&names) {
            nanny.handle_drain(now);
        }
        let (virtual_name, server) = names;
        self.nannies.insert(
            id,
            Slot {
                nanny,
                virtual_name,
                server,
            },
        );
        self.drain_nanny(id);
        true
    }

    pub(super) fn stop_nanny(&mut self, id: &RealId) {
        self.nannies.remove(id);
        if let Some(at) = self.scheduled_at.remove(id) {
            self.schedule.remove(&(at, *id));
        }
        self.tickets.retain(|_, (rid, _)| rid != id);
    }

    pub(super) fn drain_nanny(&mut self, id: RealId) {
        let mut changed = false;
        while let Some(out) = self
            .nannies
            .get_mut(&id)
            .and_then(|s| s.nanny.poll_output())
        {
            match out {
                NannyOutput::StartProbe { id: probe, spec } => {
                    let ticket = self.next_ticket;
                    self.next_ticket += 1;
                    self.tickets.insert(ticket, (id, probe));
                    self.push(Output::StartProbe { ticket, spec });
                }
                NannyOutput::Event(event) => {
                    changed |= !matches!(event, NannyEvent::CheckFailed { .. });
                    let slot = &self.nannies[&id];
                    let ev = Event::Real {
                        virtual_name: slot.virtual_name.clone(),
                        server: slot.server.clone(),
                        event,
                    };
                    self.push(Output::Event(ev));
                }
            }
        }
        // Re-file the nanny's wakeup.
        if let Some(at) = self.scheduled_at.remove(&id) {
            self.schedule.remove(&(at, id));
        }
        if let Some((at, _)) = self.nannies.get(&id).and_then(|s| s.nanny.poll_timeout()) {
            self.schedule.insert((at, id));
            self.scheduled_at.insert(id, at);
        }
        if changed {
            self.sync_service(id.service);
        }
    }

    pub(super) fn request_dump(&mut self) {
        if !self.dump_in_flight {
            self.dump_in_flight = true;
            self.ops_after_dump.clear();
            self.push(Output::DumpIpvs);
        }
    }

    /// Diff the desired table against our belief of the kernel's and emit the difference.
    pub(super) fn sync_table(&mut self, _now: Instant, cause: IpvsCause) {
        if !self.lvs_running || self.awaiting_first_dump {
            return;
        }
        let desired = self.desired_table();
        let mut ops: Vec<Op> = self
            .owned
            .iter()
            .filter(|k| desired.get(k).is_none() && self.believed.get(k).is_some())
            .map(|k| Op::DelService(*k))
            .collect();
        ops.extend(reconcile(&desired, &self.believed, Ownership::AllowForeign));
        self.owned = desired.services.keys().copied().collect();
        self.emit_ops(ops, cause);
    }

    /// [`Director::sync_table`] for one service, in time proportional to its real servers: a
    /// nanny verdict changes only its own virtual server, and diffing the whole table per verdict
    /// would make a cold start with thousands of real servers quadratic.
    pub(super) fn sync_service(&mut self, key: ServiceKey) {
        if !self.lvs_running || self.awaiting_first_dump {
            return;
        }
        let Some(spec) = lvs::active_virtuals(&self.config.virtuals).find(|v| v.key == key) else {
            return;
        };
        let desired = lvs::desired_table(std::slice::from_ref(spec), |id| {
            self.nannies.get(id).map(|s| s.nanny.real_state())
        });
        let mut actual = Table::new();
        if let Some(entry) = self.believed.get(&key) {
            actual.services.insert(key, entry.clone());
        }
        let ops = reconcile(&desired, &actual, Ownership::AllowForeign);
        self.owned.insert(key);
        self.emit_ops(ops, IpvsCause::Change);
    }

    pub(super) fn emit_ops(&mut self, ops: Vec<Op>, cause: IpvsCause) {
        #[cfg(feature = "mutations")] // MUTATION: weight-only changes never sent
        let ops: Vec<Op> = match self.mutation {
            Some(crate::mutation::Mutation::ReconcileIgnoresWeight) => ops
                .into_iter()
                .filter(|op| !matches!(op, Op::EditDest { .. }))
                .collect(),
            _ => ops,
        };
        if ops.is_empty() {
            return;
        }
        for op in &ops {
            // Our belief follows what we asked for; a refusal triggers a dump that corrects it.
            let _ = self.believed.apply(op);
        }
        if self.dump_in_flight {
            self.ops_after_dump.extend(ops.iter().cloned());
        }
        self.push(Output::Event(Event::IpvsOps {
            count: ops.len(),
            cause,
        }));
        // One entry per ApplyIpvs batch, which always queues (IpvsApplied pops it).
        self.batch_epochs.push_back(self.dumps_seen);
        self.push(Output::ApplyIpvs(ops));
    }
}
