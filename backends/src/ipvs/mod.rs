//! IPVS over generic netlink (family "IPVS"), on neli.
//!
//! - [`consts`]: the numbers of `include/uapi/linux/ip_vs.h`.
//! - [`codec`]: requests to bytes (pure, unit-tested with [`decode`]).
//! - [`decode`]: the kernel's replies to the engine's types.
//! - [`client`]: the socket: batched table changes, dumps, timeouts, sync daemon, info.
//! - [`error`]: typed refusals (`add service TCP 10.0.0.1:80: already exists (EEXIST)`).
//!
//! [`IpvsClient`] implements the engine's [`Ipvs`] port.

pub mod client;
pub mod codec;
pub mod consts;
pub mod decode;
pub mod error;

use async_trait::async_trait;
use piranha_engine::ipvs::{Op, Table, Timeouts};
use piranha_engine::ports::{Ipvs, IpvsTimeouts, PortError, SyncDaemon};

pub use client::IpvsClient;
pub use codec::DaemonState;
pub use decode::{DestDump, ServiceDump, Stats};
pub use error::IpvsError;

/// The engine's timeouts in whole seconds (what the kernel takes).
pub fn timeouts_s(t: IpvsTimeouts) -> Timeouts {
    let s = |d: piranha_engine::time::Duration| u32::try_from(d.as_secs()).unwrap_or(u32::MAX);
    Timeouts {
        tcp_s: s(t.tcp),
        tcpfin_s: s(t.tcp_fin),
        udp_s: s(t.udp),
    }
}

/// The sync threads that realise `state`.
pub fn daemons_for(state: &SyncDaemon) -> Vec<DaemonState> {
    match state {
        SyncDaemon::Stopped => Vec::new(),
        SyncDaemon::Master { iface, sync_id } => vec![DaemonState::new(
            consts::daemon::STATE_MASTER,
            iface,
            u32::from(*sync_id),
        )],
        SyncDaemon::Backup { iface, sync_id } => vec![DaemonState::new(
            consts::daemon::STATE_BACKUP,
            iface,
            u32::from(*sync_id),
        )],
        SyncDaemon::Both { iface, sync_id } => vec![
            DaemonState::new(consts::daemon::STATE_MASTER, iface, u32::from(*sync_id)),
            DaemonState::new(consts::daemon::STATE_BACKUP, iface, u32::from(*sync_id)),
        ],
    }
}

/// The calls are synchronous system calls that complete in the kernel (microseconds per
/// request); they run under the client's lock without a blocking-thread hop.
#[async_trait]
impl Ipvs for IpvsClient {
    async fn apply(&self, ops: &[Op]) -> Result<(), (usize, PortError)> {
        IpvsClient::apply(self, ops).map_err(|(i, e)| (i, e.into()))
    }

    async fn dump(&self) -> Result<Table, PortError> {
        self.table().map_err(Into::into)
    }

    async fn set_timeouts(&self, timeouts: IpvsTimeouts) -> Result<(), PortError> {
        IpvsClient::set_timeouts(self, timeouts_s(timeouts)).map_err(Into::into)
    }

    async fn set_sync_daemon(&self, state: SyncDaemon) -> Result<(), PortError> {
        self.set_daemons(&daemons_for(&state)).map_err(Into::into)
    }
}
