//! `piranha pulse --no-ipvs`: an [`Ipvs`] that keeps the table in memory with the kernel's
//! rules ([`Table::apply`]), so the director runs unchanged on hosts without IPVS (and in the
//! network-namespace tests): heartbeats, VIPs, ARP and health checks are real, the table is not.

use std::sync::Mutex;

use async_trait::async_trait;
use piranha_engine::ipvs::{Op, Table};
use piranha_engine::ports::{Ipvs, IpvsTimeouts, PortError, SyncDaemon};

/// The in-memory IPVS table.
#[derive(Debug, Default)]
pub struct MemoryIpvs {
    table: Mutex<Table>,
}

impl MemoryIpvs {
    /// An empty table.
    pub fn new() -> MemoryIpvs {
        MemoryIpvs::default()
    }
}

#[async_trait]
impl Ipvs for MemoryIpvs {
    async fn apply(&self, ops: &[Op]) -> Result<(), (usize, PortError)> {
        let mut table = self.table.lock().expect("table lock");
        for (i, op) in ops.iter().enumerate() {
            table.apply(op).map_err(|e| {
                (
                    i,
                    PortError {
                        what: format!("{op:?}"),
                        reason: e.to_string(),
                        errno: Some(e.errno()),
                    },
                )
            })?;
        }
        Ok(())
    }

    async fn dump(&self) -> Result<Table, PortError> {
        Ok(self.table.lock().expect("table lock").clone())
    }

    async fn set_timeouts(&self, _timeouts: IpvsTimeouts) -> Result<(), PortError> {
        Ok(())
    }

    async fn set_sync_daemon(&self, _state: SyncDaemon) -> Result<(), PortError> {
        Ok(())
    }
}
