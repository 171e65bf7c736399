//! Typed errors of the IPVS client: what was refused and why, in the operator's words.

use std::io;

use piranha_engine::ipvs::Op;
use piranha_engine::ports::PortError;

use super::codec::CodecError;

/// A failure of the IPVS client.
#[derive(Debug, thiserror::Error)]
pub enum IpvsError {
    /// The kernel has no "IPVS" generic netlink family.
    #[error("IPVS is not available in this kernel (is the ip_vs module loaded?)")]
    Unavailable,
    /// The kernel refused a request.
    #[error("{what}: {reason} ({})", errno_name(*errno))]
    Refused {
        /// What was asked, e.g. `add service TCP 10.0.0.1:80`.
        what: String,
        /// Why it was refused, e.g. `already exists`.
        reason: String,
        /// The positive errno.
        errno: i32,
    },
    /// The netlink socket failed.
    #[error("netlink socket: {0}")]
    Io(#[from] io::Error),
    /// A request could not be encoded or a reply decoded.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The conversation with the kernel went wrong (missing ACKs...).
    #[error("netlink: {0}")]
    Protocol(String),
}

impl IpvsError {
    /// A refusal of `what` with a generic reason for `errno`.
    pub fn refused(what: &str, errno: i32) -> IpvsError {
        IpvsError::Refused {
            what: what.to_string(),
            reason: generic_reason(errno).to_string(),
            errno,
        }
    }

    /// A refusal of a table op, with the reason the kernel means for that command.
    pub fn refused_op(what: &str, op: &Op, errno: i32) -> IpvsError {
        let reason = match (op, errno) {
            (Op::AddService(_) | Op::AddDest { .. }, 17) => "already exists",
            (Op::AddService(_) | Op::EditService(_), 2) => {
                "unknown scheduler or persistence engine"
            }
            (_, 3) => "no such service",
            (Op::EditDest { .. } | Op::DelDest { .. }, 2) => "no such destination",
            (Op::AddDest { .. } | Op::EditDest { .. }, 34) => "weight or thresholds out of range",
            (Op::AddDest { .. } | Op::EditDest { .. }, 22) => {
                "invalid destination (not a unicast address, or another family without tunnelling)"
            }
            (_, e) => generic_reason(e),
        };
        IpvsError::Refused {
            what: what.to_string(),
            reason: reason.to_string(),
            errno,
        }
    }

    /// The errno, for a refusal or a socket error.
    pub fn errno(&self) -> Option<i32> {
        match self {
            IpvsError::Refused { errno, .. } => Some(*errno),
            IpvsError::Io(e) => e.raw_os_error(),
            _ => None,
        }
    }
}

impl From<IpvsError> for PortError {
    fn from(e: IpvsError) -> PortError {
        match e {
            IpvsError::Refused {
                what,
                reason,
                errno,
            } => PortError {
                what,
                reason: format!("{reason} ({})", errno_name(errno)),
                errno: Some(errno),
            },
            other => PortError {
                what: "IPVS netlink".to_string(),
                errno: other.errno(),
                reason: other.to_string(),
            },
        }
    }
}

/// `add service TCP 10.0.0.1:80`, `add destination 10.0.0.2:80 to TCP 10.0.0.1:80`...
pub fn describe_op(op: &Op) -> String {
    match op {
        Op::AddService(s) => format!("add service {}", s.key),
        Op::EditService(s) => format!("edit service {}", s.key),
        Op::DelService(k) => format!("delete service {k}"),
        Op::AddDest { service, dest } => {
            format!("add destination {} to {service}", dest.key())
        }
        Op::EditDest { service, dest } => {
            format!("edit destination {} of {service}", dest.key())
        }
        Op::DelDest { service, dest } => format!("delete destination {dest} from {service}"),
    }
}

fn generic_reason(errno: i32) -> &'static str {
    match errno {
        1 => "operation not permitted (needs CAP_NET_ADMIN)",
        2 => "not found",
        3 => "no such service",
        12 => "out of memory",
        16 => "busy",
        17 => "already exists",
        22 => "invalid argument",
        34 => "out of range",
        95 => "not supported",
        97 => "address family not supported",
        105 => "no buffer space (receive buffer overrun)",
        _ => "refused",
    }
}

/// The symbolic name of an errno (`EEXIST`).
pub fn errno_name(errno: i32) -> String {
    let name = match errno {
        1 => "EPERM",
        2 => "ENOENT",
        3 => "ESRCH",
        12 => "ENOMEM",
        16 => "EBUSY",
        17 => "EEXIST",
        19 => "ENODEV",
        22 => "EINVAL",
        34 => "ERANGE",
        95 => "EOPNOTSUPP",
        97 => "EAFNOSUPPORT",
        105 => "ENOBUFS",
        other => return format!("errno {other}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use piranha_engine::ipvs::{Dest, DestKey, Forwarding, Protocol, Service, ServiceKey};
    use piranha_engine::sched::Algorithm;

    fn http() -> ServiceKey {
        ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: [10, 0, 0, 1].into(),
            port: 80,
        }
    }

    #[test]
    fn refusals_say_what_and_why() {
        let op = Op::AddService(Service::new(http(), Algorithm::Wlc));
        let e = IpvsError::refused_op(&describe_op(&op), &op, 17);
        assert_eq!(
            e.to_string(),
            "add service TCP 10.0.0.1:80: already exists (EEXIST)"
        );
        let op = Op::DelDest {
            service: http(),
            dest: DestKey {
                addr: [10, 0, 0, 2].into(),
                port: 80,
            },
        };
        let e = IpvsError::refused_op(&describe_op(&op), &op, 2);
        assert_eq!(
            e.to_string(),
            "delete destination 10.0.0.2:80 from TCP 10.0.0.1:80: no such destination (ENOENT)"
        );
        let op = Op::AddDest {
            service: http(),
            dest: Dest::new([10, 0, 0, 2].into(), 80, Forwarding::Masq, 1),
        };
        let e = IpvsError::refused_op(&describe_op(&op), &op, 3);
        assert_eq!(
            e.to_string(),
            "add destination 10.0.0.2:80 to TCP 10.0.0.1:80: no such service (ESRCH)"
        );
        let p: PortError = e.into();
        assert_eq!(p.errno, Some(3));
        assert_eq!(p.what, "add destination 10.0.0.2:80 to TCP 10.0.0.1:80");
        assert_eq!(p.reason, "no such service (ESRCH)");
    }

    #[test]
    fn unknown_errno_is_numbered() {
        let e = IpvsError::refused("flush the table", 200);
        assert_eq!(e.to_string(), "flush the table: refused (errno 200)");
        assert_eq!(e.errno(), Some(200));
    }
}
