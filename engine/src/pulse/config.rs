//! What pulse needs to know, independent of lvs.cf syntax (the config layer maps lvs.cf onto
//! [`PulseConfig`]).

use crate::time::Duration;
use crate::wire::v2::{Key, NodeId};
use core::net::{IpAddr, SocketAddr};

/// Which of the two routers this node is (from lvs.cf `primary`/`backup` and the node's own
/// addresses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// The `primary` router: wins every dual-active tie and, with `failback`, takes back.
    Primary,
    /// The `backup` router.
    Backup,
}

impl Role {
    /// The other router.
    pub const fn partner(self) -> Role {
        match self {
            Role::Primary => Role::Backup,
            Role::Backup => Role::Primary,
        }
    }
    /// The node id this role uses in v2 packets (primary 1, backup 2).
    pub const fn node_id(self) -> NodeId {
        match self {
            Role::Primary => NodeId(1),
            Role::Backup => NodeId(2),
        }
    }
}

/// The node id of the witness in v2 packets.
pub const WITNESS_NODE_ID: NodeId = NodeId(3);

/// One router's heartbeat addresses (lvs.cf `primary`/`primary_private` or
/// `backup`/`backup_private`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouterAddrs {
    /// Public address (always a heartbeat path).
    pub public: IpAddr,
    /// Private address (second heartbeat path), if configured.
    pub private: Option<IpAddr>,
}

/// The heartbeat wire protocol.
#[derive(Debug, Clone)]
pub enum HeartbeatProtocol {
    /// Piranha's 4-byte magic (`heartbeat_protocol = piranha`): unauthenticated, for pairing
    /// with an old pulse.
    Legacy,
    /// Authenticated v2 with the shared key from `heartbeat_key_file`. Legacy packets are
    /// never accepted under a key.
    V2(Key),
}

/// An address pulse brings up and announces on takeover (opaque to pulse: the driver maps it
/// to `IP dev`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Address {
    /// lvs.cf `nat_router`.
    NatRouter,
    /// A virtual server's VIP, by an id the caller chooses (e.g. the index of the first
    /// virtual server with that `address`).
    Vip(u32),
}

/// The optional witness (lvs.cf `arbiter = IP[:PORT]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArbiterConfig {
    /// Where the witness listens.
    pub address: SocketAddr,
    /// Lease duration to ask for.
    pub lease: Duration,
    /// Subtracted from every lease on the holder's side (clock-rate drift and scheduling
    /// delay between "lease expired" and "VIPs down").
    pub safety_margin: Duration,
}

/// Gratuitous ARP after takeover: `count` announcements `interval` apart (Piranha: 5 × 1 s),
/// then, if `refresh` is set, one round every `refresh` while active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpConfig {
    /// Announcements per takeover (0 = none).
    pub count: u32,
    /// Gap between them.
    pub interval: Duration,
    /// Periodic re-announcement while active.
    pub refresh: Option<Duration>,
}

impl Default for ArpConfig {
    fn default() -> Self {
        ArpConfig {
            count: 5,
            interval: Duration::from_secs(1),
            refresh: None,
        }
    }
}

/// Everything pulse decides from.
#[derive(Debug, Clone)]
pub struct PulseConfig {
    /// The primary router's addresses.
    pub primary: RouterAddrs,
    /// The backup router's addresses.
    pub backup: RouterAddrs,
    /// UDP port of heartbeats on both routers (`heartbeat_port`, 539).
    pub heartbeat_port: u16,
    /// Interval between heartbeats (`keepalive`).
    pub keepalive: Duration,
    /// Silence on every path before the partner is declared dead (`deadtime`).
    pub deadtime: Duration,
    /// Wire protocol.
    pub protocol: HeartbeatProtocol,
    /// lvs.cf `serial_no`, sent in v2 beats so a mismatch shows.
    pub serial_no: u64,
    /// `failback = 1`: the primary takes the VIPs back once healthy for `deadtime` (v2 only).
    pub failback: bool,
    /// The witness, if any (v2 only).
    pub arbiter: Option<ArbiterConfig>,
    /// Gratuitous ARP schedule.
    pub arp: ArpConfig,
    /// `syncdaemon = 1`: start the IPVS sync daemon as master/backup on takeover/giveup.
    pub syncdaemon: bool,
    /// Addresses brought up and announced on takeover, in order; duplicates are ignored.
    pub addresses: Vec<Address>,
    /// No partner (`backup_active = 0`, or `backup = 0.0.0.0` as the original GUI writes when
    /// redundancy is off): no heartbeat is sent, every datagram from the "partner" address is
    /// foreign, and the primary becomes active after `deadtime`, as Piranha's does.
    pub no_partner: bool,
}

impl PulseConfig {
    /// A config with Piranha's defaults (keepalive 2 s, deadtime 5 s, port 539, legacy
    /// wire, no fail-back, no arbiter, ARP 5 × 1 s) for the given addresses.
    pub fn new(primary: RouterAddrs, backup: RouterAddrs) -> PulseConfig {
        PulseConfig {
            primary,
            backup,
            heartbeat_port: 539,
            keepalive: Duration::from_secs(2),
            deadtime: Duration::from_secs(5),
            protocol: HeartbeatProtocol::Legacy,
            serial_no: 0,
            failback: false,
            arbiter: None,
            arp: ArpConfig::default(),
            syncdaemon: false,
            addresses: Vec::new(),
            no_partner: false,
        }
    }

    /// The addresses of `role`.
    pub fn addrs(&self, role: Role) -> RouterAddrs {
        match role {
            Role::Primary => self.primary,
            Role::Backup => self.backup,
        }
    }

    /// Check the combination is usable.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.keepalive == Duration::ZERO {
            return Err(ConfigError::ZeroKeepalive);
        }
        if self.deadtime == Duration::ZERO {
            return Err(ConfigError::ZeroDeadtime);
        }
        if self.arp.count > 1 && self.arp.interval == Duration::ZERO {
            return Err(ConfigError::ZeroArpInterval);
        }
        if self.arp.refresh == Some(Duration::ZERO) {
            return Err(ConfigError::ZeroArpInterval);
        }
        let v2 = matches!(self.protocol, HeartbeatProtocol::V2(_));
        if self.failback && !v2 {
            return Err(ConfigError::NeedsV2("failback"));
        }
        if let Some(a) = self.arbiter {
            if !v2 {
                return Err(ConfigError::NeedsV2("arbiter"));
            }
            if a.lease <= a.safety_margin.saturating_mul(2) {
                return Err(ConfigError::LeaseTooShort);
            }
            if a.lease.as_millis() > u64::from(u32::MAX) {
                return Err(ConfigError::LeaseTooShort);
            }
        }
        if self.primary.private.is_some() != self.backup.private.is_some() {
            return Err(ConfigError::HalfPrivatePath);
        }
        Ok(())
    }
}

/// A [`PulseConfig`] pulse cannot run with (caller misuse).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `keepalive` is zero.
    #[error("keepalive must be greater than zero")]
    ZeroKeepalive,
    /// `deadtime` is zero.
    #[error("deadtime must be greater than zero")]
    ZeroDeadtime,
    /// ARP interval or refresh is zero.
    #[error("ARP interval and refresh must be greater than zero")]
    ZeroArpInterval,
    /// A feature that needs the authenticated protocol was asked for with legacy heartbeats.
    #[error("{0} needs heartbeat_protocol = v2 (a heartbeat key)")]
    NeedsV2(&'static str),
    /// The arbiter lease is not longer than twice the safety margin (or does not fit in ms).
    #[error("arbiter lease must exceed twice the safety margin and fit in u32 milliseconds")]
    LeaseTooShort,
    /// Only one of `primary_private` / `backup_private` is set.
    #[error("primary_private and backup_private must be set together")]
    HalfPrivatePath,
}
