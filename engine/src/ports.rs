//! The ports: the small async traits every backend implements.
//!
//! The engine itself never calls these — it is sans-IO and only *describes* work in its outputs.
//! A driver (the production tokio driver in `piranha-daemon`, or the turmoil level of the
//! simulator) executes each output through one of these traits and feeds the result back in as an
//! input. Keeping them here, next to the types they carry, means the real backend
//! (`piranha-backends`: netlink, rtnetlink, raw ARP, UDP, TCP) and the simulated one
//! (`piranha-sim`: in-memory IPVS with kernel errors, a simulated L2 segment) implement exactly the
//! same surface, and a behaviour difference between them is a bug in one of them.
//!
//! Each trait is deliberately small. Errors are [`PortError`]: what was refused and why, in the
//! operator's words, plus the errno where there is one, so the driver can log it and the engine can
//! be told (a refused IPVS op becomes an input, never a panic).

use std::net::{IpAddr, SocketAddr};

use async_trait::async_trait;

use crate::ipvs::{Op, Table};
use crate::nanny::{ProbeResult, ProbeSpec};
use crate::pulse::Path;
use crate::time::Duration;

/// A failure reported by a backend.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {reason}{}", errno.map(|e| format!(" (errno {e})")).unwrap_or_default())]
pub struct PortError {
    /// What was attempted, e.g. `add destination 10.0.0.2:80 to TCP 192.168.1.10:80`.
    pub what: String,
    /// Why it was refused, e.g. `already exists`.
    pub reason: String,
    /// The kernel's errno, when the refusal came from a system call.
    pub errno: Option<i32>,
}

/// The kernel's global IPVS connection timeouts (`ipvsadm --set tcp tcpfin udp`); zero keeps
/// the kernel's current value, as in lvs.cf.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IpvsTimeouts {
    /// Established TCP connections.
    pub tcp: Duration,
    /// TCP connections after FIN.
    pub tcp_fin: Duration,
    /// UDP "connections".
    pub udp: Duration,
}

/// The role of the IPVS connection-synchronisation daemon (lvs.cf `syncdaemon`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SyncDaemon {
    /// Not running.
    Stopped,
    /// Master (on the active router): multicasts connection state on `iface`.
    Master {
        /// lvs.cf `syncd_iface`.
        iface: String,
        /// lvs.cf `syncd_id`.
        sync_id: u8,
    },
    /// Backup (on the inactive router): receives connection state on `iface`.
    Backup {
        /// lvs.cf `syncd_iface`.
        iface: String,
        /// lvs.cf `syncd_id`.
        sync_id: u8,
    },
    /// Master and backup threads at once (the kernel runs both since 2.6): what `piranha
    /// pulse` runs on both routers, from start to exit, whatever the role. Stopping a master
    /// thread discards the connection updates it has not sent yet (it flushes every 2 s), so
    /// a role switch at a graceful hand-over lost the newest connections; with both threads
    /// always running nothing is stopped, and the old active's last updates still go out.
    Both {
        /// lvs.cf `syncd_iface`.
        iface: String,
        /// lvs.cf `syncd_id`.
        sync_id: u8,
    },
}

/// The kernel's IPVS table (one network namespace's).
#[async_trait]
pub trait Ipvs: Send + Sync {
    /// Apply `ops` in order; stop at the first refusal and report how many were applied with it.
    async fn apply(&self, ops: &[Op]) -> Result<(), (usize, PortError)>;
    /// Read the whole table (services, destinations, their connection counters).
    async fn dump(&self) -> Result<Table, PortError>;
    /// Set the global connection timeouts.
    async fn set_timeouts(&self, timeouts: IpvsTimeouts) -> Result<(), PortError>;
    /// Start, stop or switch the connection-synchronisation daemon.
    async fn set_sync_daemon(&self, state: SyncDaemon) -> Result<(), PortError>;
}

/// A virtual IP address on one of this router's interfaces (lvs.cf `address = VIP dev`,
/// `nat_router = IP dev`).
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct VipAddr {
    /// The address.
    pub ip: IpAddr,
    /// Prefix length (from `vip_nmask` / `nat_nmask`; 32 or 128 when unset).
    pub prefix_len: u8,
    /// The device as written in lvs.cf, alias included (`eth0:1`): the part before `:` is the
    /// interface, the whole string is the address label.
    pub device: String,
}

impl VipAddr {
    /// The interface part of the device (`eth0` for `eth0:1`).
    pub fn interface(&self) -> &str {
        self.device.split(':').next().unwrap_or(&self.device)
    }
}

/// How to announce a VIP after it moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ArpStyle {
    /// Piranha's send_arp: an ARP reply with sender = target = the VIP, to broadcast.
    GratuitousReply,
    /// A gratuitous ARP request (some switches only learn from requests).
    GratuitousRequest,
}

/// Addresses on interfaces, and their announcement.
#[async_trait]
pub trait Vips: Send + Sync {
    /// Bring the address up (idempotent: already present is success).
    async fn add(&self, vip: &VipAddr) -> Result<(), PortError>;
    /// Take the address down (idempotent: already absent is success).
    async fn remove(&self, vip: &VipAddr) -> Result<(), PortError>;
    /// Send one gratuitous ARP for the address from its interface's hardware address.
    async fn announce(&self, vip: &VipAddr, style: ArpStyle) -> Result<(), PortError>;
}

/// What the heartbeat transport received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeartbeatRecv {
    /// A datagram from `from` on `path`.
    Datagram {
        /// The path it arrived on.
        path: Path,
        /// The sender.
        from: SocketAddr,
        /// The payload, at most one datagram.
        bytes: Vec<u8>,
    },
    /// The partner's port answered a send on `path` with ICMP port unreachable
    /// (ECONNREFUSED on a connected UDP socket): its host is up but its daemon is not.
    Refused {
        /// The path whose send was refused.
        path: Path,
    },
}

/// The UDP heartbeat transport: one connected socket per path (public, private, and the
/// arbiter's), bound to this node's address.
#[async_trait]
pub trait HeartbeatTransport: Send + Sync {
    /// Send one heartbeat datagram to the partner on `path`.
    async fn send(&self, path: Path, bytes: &[u8]) -> Result<(), PortError>;
    /// Wait for the next datagram or refusal on any path.
    async fn recv(&self) -> Result<HeartbeatRecv, PortError>;
}

/// Health probes of real servers: TCP/UDP connect-send-expect, external programs, load fetches.
/// Implementations run thousands concurrently (tasks, not processes) and bound every read.
#[async_trait]
pub trait Prober: Send + Sync {
    /// Run one probe to completion within its own deadline; never fails: trouble is a
    /// [`ProbeResult`].
    async fn probe(&self, spec: &ProbeSpec) -> ProbeResult;
}

/// The exit of a command the director ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandExit {
    /// Exit code, `None` when killed by a signal or the timeout.
    pub code: Option<i32>,
}

/// `active_cmd` / `inactive_cmd`: run an operator's command without a shell.
#[async_trait]
pub trait Commands: Send + Sync {
    /// Run `argv` (already split; no shell), waiting at most `timeout`.
    async fn run(&self, argv: &[String], timeout: Duration) -> Result<CommandExit, PortError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_error_says_what_and_why() {
        let e = PortError {
            what: "add service TCP 10.0.0.1:80".into(),
            reason: "already exists".into(),
            errno: Some(17),
        };
        assert_eq!(
            e.to_string(),
            "add service TCP 10.0.0.1:80: already exists (errno 17)"
        );
        let e = PortError { errno: None, ..e };
        assert_eq!(e.to_string(), "add service TCP 10.0.0.1:80: already exists");
    }

    #[test]
    fn vip_interface_strips_alias() {
        let vip = VipAddr {
            ip: "192.168.26.10".parse().unwrap(),
            prefix_len: 24,
            device: "eth0:1".into(),
        };
        assert_eq!(vip.interface(), "eth0");
        let vip = VipAddr {
            device: "eth1".into(),
            ..vip
        };
        assert_eq!(vip.interface(), "eth1");
    }
}
