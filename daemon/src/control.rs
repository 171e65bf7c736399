//! The control protocol: what `piranha status|drain|enable`, the web tool and the running
//! `piranha pulse` say to each other over the control socket.
//!
//! Transport: a unix stream socket (default [`DEFAULT_SOCKET`], mode 0600, root only). One
//! request per connection: the client writes one JSON [`Request`] on one line, the daemon answers
//! with one JSON [`Response`] on one line and closes. Lines are at most [`MAX_LINE_BYTES`].
//! The JSON shapes are the contract (tests pin them); fields may be added, never renamed.

use serde::{Deserialize, Serialize};

/// Where `piranha pulse` listens unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/run/piranha/control.sock";

/// Longest request or response line accepted (a status of 10,000 real servers fits).
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// A request to the daemon.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// The director's state.
    Status,
    /// Take a real server out of scheduling (weight 0) without editing lvs.cf.
    Drain {
        /// lvs.cf virtual server name.
        #[serde(rename = "virtual")]
        virtual_name: String,
        /// lvs.cf real server name.
        server: String,
    },
    /// Undo a drain: the real server's health decides again.
    Enable {
        /// lvs.cf virtual server name.
        #[serde(rename = "virtual")]
        virtual_name: String,
        /// lvs.cf real server name.
        server: String,
    },
    /// Re-read lvs.cf (as SIGHUP does); the answer says whether the new file was taken.
    Reload,
}

/// The daemon's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
// One answer per request, serialized at once: the size of the status variant costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Response {
    /// Answer to [`Request::Status`].
    Status(StatusReport),
    /// The request was carried out.
    Ok {
        /// What was done, for a person.
        message: String,
    },
    /// The request was refused.
    Error {
        /// Why, for a person (e.g. an lvs.cf error with FILE:LINE:COL).
        message: String,
    },
}

/// The director's state as `piranha status --json` prints it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// `primary` or `backup`.
    pub role: String,
    /// Whether this router holds the VIPs and runs the IPVS table.
    pub active: bool,
    /// Whether this router runs its own health checks and IPVS table while inactive
    /// (`hot_standby`): the real servers' health below is then this router's own view.
    #[serde(default)]
    pub hot_standby: bool,
    /// What this router believes of its partner (`unknown`, `active`, `standby`, `stopped`,
    /// `dead`...).
    pub peer: String,
    /// The last takeover or giveup, if any.
    pub last_change: Option<LastChange>,
    /// The lvs.cf in force.
    pub config_file: String,
    /// Its `serial_no`.
    pub serial_no: u64,
    /// Seconds since the daemon started.
    pub uptime_s: f64,
    /// Heartbeats accepted and rejected (all reasons).
    pub heartbeats_accepted: u64,
    /// Heartbeats dropped: unauthenticated, replayed, malformed, foreign.
    pub heartbeats_rejected: u64,
    /// Every virtual server in lvs.cf.
    pub virtuals: Vec<VirtualReport>,
    /// The last reload (SIGHUP or `reload` request) since start, if any.
    #[serde(default)]
    pub last_reload: Option<ReloadReport>,
}

impl StatusReport {
    /// The report with the driver's last reload outcome.
    pub fn with_last_reload(mut self, last: Option<ReloadReport>) -> StatusReport {
        self.last_reload = last;
        self
    }
}

/// How the last reload went.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReloadReport {
    /// Seconds since the daemon started.
    pub at_s: f64,
    /// Taken (`true`) or refused, the running configuration kept (`false`).
    pub ok: bool,
    /// The `serial_no` it loaded, when taken.
    pub serial_no: Option<u64>,
    /// What the operator was told (for a refusal: every error, FILE:LINE:COL).
    pub message: String,
    /// What looked like a mistake in a taken reload (a truncated file, an older serial_no).
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// When and why the role last changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LastChange {
    /// Seconds since the daemon started.
    pub at_s: f64,
    /// e.g. `took over: PeerDead(Deadtime)`.
    pub why: String,
}

/// One virtual server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VirtualReport {
    /// lvs.cf name.
    pub name: String,
    /// The IPVS service, e.g. `TCP 192.168.26.10:80`.
    pub service: String,
    /// Its `active` setting.
    pub active: bool,
    /// The real servers.
    pub servers: Vec<RealReport>,
}

/// One real server of one virtual server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RealReport {
    /// lvs.cf name.
    pub name: String,
    /// `addr:port`.
    pub address: String,
    /// `up`, `down`, `unknown` (no verdict yet), or `inactive` (lvs not running here).
    pub health: String,
    /// Drained by an operator.
    pub drained: bool,
    /// In the kernel's table.
    pub in_table: bool,
    /// Weight in the table now (ramp, load monitor, quiesce, drain).
    pub weight: u32,
    /// From the last IPVS dump.
    pub active_conns: u32,
    /// From the last IPVS dump.
    pub inactive_conns: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_json_is_the_contract() {
        let r = Request::Drain {
            virtual_name: "http".into(),
            server: "web1".into(),
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"cmd":"drain","virtual":"http","server":"web1"}"#
        );
        assert_eq!(
            serde_json::to_string(&Request::Status).unwrap(),
            r#"{"cmd":"status"}"#
        );
        let back: Request =
            serde_json::from_str(r#"{"cmd":"enable","virtual":"v","server":"s"}"#).unwrap();
        assert_eq!(
            back,
            Request::Enable {
                virtual_name: "v".into(),
                server: "s".into()
            }
        );
    }

    #[test]
    fn response_json_is_the_contract() {
        let r = Response::Error {
            message: "no real server".into(),
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"result":"error","message":"no real server"}"#
        );
    }
}
