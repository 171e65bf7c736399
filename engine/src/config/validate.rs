//! Validation beyond syntax: what the original (or the kernel) would reject or misbehave on.

use core::fmt;
use std::collections::BTreeMap;

use super::diagnostics::Severity;
use super::model::{
    HeartbeatProtocol, LoadMonitor, LvsConfig, Network, ServiceKind, VirtualServer,
};
use super::write::fmt_duration;

/// Below this a keepalive is taken but warned about (a unit mistake, or a flood of beats).
pub const MIN_SANE_KEEPALIVE: crate::time::Duration = crate::time::Duration::from_millis(10);
/// Above this a keepalive is taken but warned about (a failure goes unnoticed for minutes).
pub const MAX_SANE_KEEPALIVE: crate::time::Duration = crate::time::Duration::from_secs(60);
/// Above this a deadtime is taken but warned about (that long an outage before a takeover).
pub const MAX_SANE_DEADTIME: crate::time::Duration = crate::time::Duration::from_secs(300);

/// Where a [`Problem`] is, in model terms (block indexes and key names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// A global key, or the file as a whole (`key: None`).
    Global {
        /// The key, if one is to blame.
        key: Option<&'static str>,
    },
    /// A virtual server (by index in [`LvsConfig::virtuals`]), or one of its keys.
    Virtual {
        /// Index of the virtual server.
        index: usize,
        /// The key, if one is to blame.
        key: Option<&'static str>,
    },
    /// A real server, or one of its keys.
    Server {
        /// Index of its virtual server.
        virtual_index: usize,
        /// Index in [`VirtualServer::servers`].
        index: usize,
        /// The key, if one is to blame.
        key: Option<&'static str>,
    },
    /// A failover block, or one of its keys.
    Failover {
        /// Index in [`LvsConfig::failovers`].
        index: usize,
        /// The key, if one is to blame.
        key: Option<&'static str>,
    },
}

/// A problem of a model: it says which block or key, not which line (see
/// [`parse`](super::parse) for positions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Error (the config is refused) or warning.
    pub severity: Severity,
    /// What it is about.
    pub place: Place,
    /// What is wrong and what was expected.
    pub message: String,
    /// The error is that something required is missing (no `primary`, a block without
    /// `address`): a file still being written, which `config fmt` and the web tool load.
    pub incomplete: bool,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.severity, self.message)
    }
}

struct Out(Vec<Problem>);

impl Out {
    fn error(&mut self, place: Place, message: String) {
        self.0.push(Problem {
            severity: Severity::Error,
            place,
            message,
            incomplete: false,
        });
    }
    fn missing(&mut self, place: Place, message: String) {
        self.0.push(Problem {
            severity: Severity::Error,
            place,
            message,
            incomplete: true,
        });
    }
    fn warning(&mut self, place: Place, message: String) {
        self.0.push(Problem {
            severity: Severity::Warning,
            place,
            message,
            incomplete: false,
        });
    }
}

fn g(key: &'static str) -> Place {
    Place::Global { key: Some(key) }
}

impl LvsConfig {
    /// Check the meaning of the whole configuration. Returns every problem, errors and
    /// warnings; the configuration is usable when none is a [`Severity::Error`].
    pub fn validate(&self) -> Vec<Problem> {
        let mut out = Out(Vec::new());
        self.validate_globals(&mut out);
        for (i, v) in self.virtuals.iter().enumerate() {
            validate_virtual(self, i, v, &mut out);
        }
        self.validate_duplicate_services(&mut out);
        self.validate_failovers(&mut out);
        out.0
    }

    fn validate_globals(&self, out: &mut Out) {
        if self.primary.is_none() && self.host_names.primary.is_none() {
            out.missing(
                g("primary"),
                "`primary` is required: the public IP address of the primary router".into(),
            );
        }
        for (key, addr) in [
            ("primary", self.primary),
            ("primary_private", self.primary_private),
            ("backup_private", self.backup_private),
        ] {
            if addr.is_some_and(|a| a.is_unspecified()) {
                out.error(
                    g(key),
                    format!("`{key}` cannot be {}: it must be the router's own address (the original refused it too)", addr.map_or_else(String::new, |a| a.to_string())),
                );
            }
        }
        if self.keepalive.as_nanos() == 0 {
            out.error(g("keepalive"), "keepalive must be greater than 0".into());
        }
        // Accepted but almost certainly a typo (milliseconds read as seconds or the reverse):
        // a beat every few milliseconds floods the link and the loop; a keepalive of minutes,
        // or a deadtime of many minutes, leaves a dead active undetected that long.
        if self.keepalive.as_nanos() != 0 && self.keepalive < MIN_SANE_KEEPALIVE {
            out.warning(
                g("keepalive"),
                format!(
                    "keepalive ({}) is below {}: that many heartbeats a second on every path is load, not safety; is the unit wrong (keepalive is in seconds)?",
                    fmt_duration(self.keepalive),
                    fmt_duration(MIN_SANE_KEEPALIVE)
                ),
            );
        } else if self.keepalive > MAX_SANE_KEEPALIVE {
            out.warning(
                g("keepalive"),
                format!(
                    "keepalive ({}) is above {}: a failed partner goes unnoticed for minutes; is the unit wrong (keepalive is in seconds)?",
                    fmt_duration(self.keepalive),
                    fmt_duration(MAX_SANE_KEEPALIVE)
                ),
            );
        }
        if self.deadtime > MAX_SANE_DEADTIME {
            out.warning(
                g("deadtime"),
                format!(
                    "deadtime ({}) is above {}: the service is down that long before the standby takes over; is the unit wrong (deadtime is in seconds)?",
                    fmt_duration(self.deadtime),
                    fmt_duration(MAX_SANE_DEADTIME)
                ),
            );
        }
        if self.deadtime <= self.keepalive {
            out.warning(
                g("deadtime"),
                format!(
                    "deadtime ({}) is not greater than keepalive ({}): a partner that is alive is declared dead between two of its heartbeats, and the backup takes over while the primary still serves (Piranha ran such files too); make deadtime several keepalives",
                    fmt_duration(self.deadtime),
                    fmt_duration(self.keepalive)
                ),
            );
        }
        if self.backup_active && self.backup.is_none() && self.host_names.backup.is_none() {
            out.warning(
                g("backup_active"),
                "backup_active = 1 but no `backup` address: heartbeats have nowhere to go".into(),
            );
        }
        let has_primary_private =
            self.primary_private.is_some() || self.host_names.primary_private.is_some();
        let has_backup_private =
            self.backup_private.is_some() || self.host_names.backup_private.is_some();
        if has_primary_private != has_backup_private {
            let key = if has_primary_private {
                "primary_private"
            } else {
                "backup_private"
            };
            out.warning(
                g(key),
                format!("`{key}` alone is unused: the private heartbeat path needs both `primary_private` and `backup_private`, so heartbeats use the public addresses only (the original also ignored a `backup_private` without `primary_private`)"),
            );
        }
        if self.heartbeat_protocol == Some(HeartbeatProtocol::V2)
            && self.heartbeat_key_file.is_none()
        {
            out.error(
                g("heartbeat_protocol"),
                "heartbeat_protocol = v2 needs `heartbeat_key_file` (the shared key)".into(),
            );
        }
        if self.reconcile_interval.as_nanos() == 0 {
            out.error(
                g("reconcile_interval"),
                "reconcile_interval must be greater than 0".into(),
            );
        }
        match self.service {
            ServiceKind::Lvs if !self.failovers.is_empty() => out.warning(
                g("service"),
                "`failover` blocks are ignored with service = lvs".into(),
            ),
            ServiceKind::Fos if self.failovers.is_empty() => out.warning(
                g("service"),
                "service = fos but there is no `failover` block".into(),
            ),
            _ => {}
        }
    }

    fn validate_duplicate_services(&self, out: &mut Out) {
        let mut seen = BTreeMap::new();
        for (i, v) in self.virtuals.iter().enumerate().filter(|(_, v)| v.active) {
            let id = match (v.fwmark, &v.address) {
                (Some(m), _) => format!("fwmark {m}"),
                // A host name not resolved yet: its address is unknown.
                (None, Some(_))
                    if v.address_name.is_some()
                        && v.address.as_ref().is_some_and(|a| a.ip.is_unspecified()) =>
                {
                    continue
                }
                (None, Some(a)) => format!("{} {:?} port {}", a.ip, v.protocol, v.port),
                (None, None) => continue,
            };
            if let Some(first) = seen.insert(id, i) {
                let other = &self.virtuals[first].name;
                out.error(
                    Place::Virtual { index: i, key: None },
                    format!(
                        "virtual server `{}` is the same IPVS service as `{other}` (same {}): the kernel holds one",
                        v.name,
                        if v.fwmark.is_some() { "fwmark" } else { "VIP, protocol and port" }
                    ),
                );
            }
        }
    }

    fn validate_failovers(&self, out: &mut Out) {
        for (i, f) in self.failovers.iter().enumerate() {
            let at = |key| Place::Failover { index: i, key };
            if f.address.is_none() && self.service == ServiceKind::Fos {
                out.missing(
                    at(Some("address")),
                    format!(
                        "failover `{}` has no `address`: expected `address = IP DEVICE`",
                        f.name
                    ),
                );
            }
            if f.send_program.is_some() && f.expect.is_none() {
                out.error(
                    at(Some("send_program")),
                    "send_program needs `expect` (the output it must print)".into(),
                );
            }
            if f.timeout.as_nanos() == 0 {
                out.error(at(Some("timeout")), "timeout must be greater than 0".into());
            }
        }
    }
}

fn validate_virtual(cfg: &LvsConfig, i: usize, v: &VirtualServer, out: &mut Out) {
    let at = |key| Place::Virtual { index: i, key };
    if v.address.is_none() {
        out.missing(
            at(Some("address")),
            format!(
                "virtual server `{}` has no `address`: expected `address = VIP DEVICE`",
                v.name
            ),
        );
    }
    if v.timeout.as_nanos() == 0 {
        out.error(at(Some("timeout")), "timeout must be greater than 0".into());
    }
    if v.reentry < v.timeout {
        out.warning(
            at(Some("reentry")),
            format!(
                "reentry ({}) is less than timeout ({}): a failed real server is readmitted after its first successful check (Piranha ran such files too)",
                fmt_duration(v.reentry),
                fmt_duration(v.timeout)
            ),
        );
    }
    match (v.load_monitor, &v.load_monitor_program) {
        (_, Some(program)) => out.warning(
            at(Some("load_monitor")),
            format!("load_monitor `{program}` is not a load monitor piranha knows (none, uptime, rup, ruptime, ssh, rsh): weights are not adjusted by load (the original ran `{program} HOST`)"),
        ),
        (LoadMonitor::Ssh | LoadMonitor::Rsh, None) => {
            let word = if v.load_monitor == LoadMonitor::Ssh { "ssh" } else { "rsh" };
            if cfg.rsh_command != word {
                out.warning(
                    at(Some("load_monitor")),
                    format!("load_monitor = {word} runs `rsh_command HOST uptime`, and rsh_command is `{}`: set `rsh_command = {word}` to run {word} as the original did", cfg.rsh_command),
                );
            }
        }
        _ => {}
    }
    if v.send_program.is_some() && v.expect.is_none() {
        out.error(
            at(Some("send_program")),
            "send_program needs `expect` (the output it must print)".into(),
        );
    }
    if let (true, Some(expect)) = (v.use_regex, &v.expect) {
        if let Err(e) = regex::RegexBuilder::new(expect).size_limit(1 << 20).build() {
            let text = e.to_string();
            let last = text.lines().last().unwrap_or("").trim();
            let first = last.strip_prefix("error: ").unwrap_or(last);
            out.error(
                at(Some("expect")),
                format!("expect is not a valid regular expression: {first}"),
            );
        }
    }
    for flag in &v.scheduler_flags {
        if flag.scheduler() != v.scheduler {
            out.error(
                at(Some("scheduler_flags")),
                format!(
                    "scheduler flag `{}` only applies to scheduler {}, not {}",
                    flag.as_str(),
                    flag.scheduler(),
                    v.scheduler
                ),
            );
        }
    }
    if v.pmask.is_some() && v.persistent.as_nanos() == 0 {
        out.warning(
            at(Some("pmask")),
            "pmask has no effect without `persistent`".into(),
        );
    }
    for (j, s) in v.servers.iter().enumerate() {
        let sat = |key| Place::Server {
            virtual_index: i,
            index: j,
            key,
        };
        if s.address.is_none() && s.address_name.is_some() {
            continue; // a host name, resolved at load
        }
        let Some(addr) = s.address else {
            out.missing(
                sat(Some("address")),
                format!(
                    "real server `{}` has no `address`: expected `address = IP`",
                    s.name
                ),
            );
            continue;
        };
        if let Some(vip) = v.address.as_ref().filter(|a| !a.ip.is_unspecified()) {
            if vip.ip.is_ipv4() != addr.is_ipv4() && cfg.network != Network::Tunnel {
                out.error(
                    sat(Some("address")),
                    format!(
                        "real server {addr} and VIP {} are of different IP families: only network = tunnel allows that",
                        vip.ip
                    ),
                );
            }
        }
    }
}
