//! lvs.cf, the one file every Piranha component reads: a typed model, a parser that reports
//! every problem as `FILE:LINE:COL: error: message`, a validator and a canonical writer.
//!
//! ```
//! use piranha_engine::config;
//!
//! let src = b"primary = 10.0.0.1\nvirtual web {\n     address = 10.0.0.10 eth0:1\n     port = http\n}\n";
//! let parsed = config::parse("lvs.cf", src).expect("valid");
//! assert_eq!(parsed.config.virtuals[0].port, 80);
//! let text = config::format(&parsed.config);
//! assert_eq!(config::parse("lvs.cf", text.as_bytes()).unwrap().config, parsed.config);
//!
//! let err = config::parse("lvs.cf", b"primary = 10.0.0.300\nkeepalvie = 6\n").unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "lvs.cf:1:11: error: primary: expected an IPv4 or IPv6 address (or a host name), found `10.0.0.300`\n\
//!      lvs.cf:2:1: error: unknown global key `keepalvie`: did you mean `keepalive`?\n"
//! );
//! ```
//!
//! The grammar is the original's (see docs/LVS_CF.md): one `key = value` per line (`key=value`
//! too), `#` comments, `"…"`/`'…'` quoting with `\n \r \t \\ \' \"`, CRLF, numbers as strtol
//! base 0 (`0x1f` hex, a leading `0` octal), ports by number or built-in service name, and the
//! blocks `virtual NAME {`, `server NAME {` (inside a virtual), `failover NAME {`, `}`. New keys
//! (heartbeat protocol, fail-back, arbiter, ARP and reconcile timing, retries, scheduler flags)
//! default to the original's behaviour. The key table is in `keys.rs`: one row per key.

mod diagnostics;
mod keys;
mod lex;
mod model;
mod parse;
mod services;
mod target;
mod validate;
mod value;
mod write;

pub use diagnostics::{Diagnostic, Diagnostics, Pos, Severity};
pub use keys::reference_table;
pub use keys::{key_docs, KeyDoc};
pub use model::{
    Comments, ConflictAction, Failover, HeartbeatProtocol, HostNames, LoadMonitor, LvsConfig,
    Network, Protocol, RealServer, ScaleOut, SchedulerFlag, ServiceKind, Vip, VirtualServer,
    DEFAULT_ARBITER_PORT,
};
pub use services::{port_of as service_port, Transport, SERVICES};
pub use validate::{Place, Problem};
pub use write::format;

use core::net::IpAddr;

use parse::{KeySpan, Spans};

/// The default location of the file, as in Piranha.
pub const DEFAULT_PATH: &str = "/etc/sysconfig/ha/lvs.cf";

/// A file that parsed and validated: the model and the warnings about it.
#[derive(Clone, Debug)]
pub struct Parsed {
    /// The configuration.
    pub config: LvsConfig,
    /// Warnings (ignored keys, keys without effect...), sorted by position.
    pub warnings: Vec<Diagnostic>,
}

/// Parse and validate lvs.cf. `file_name` is only used in messages. Any bytes are accepted
/// as input: problems (including invalid UTF-8) are diagnostics, never panics. On error the
/// result holds every error and warning found, sorted by position.
///
/// Host names in address fields are kept unresolved (their addresses stay unset); use
/// [`parse_with`] and a resolver to run a file, as `piranha check` and `pulse` do.
pub fn parse(file_name: &str, src: &[u8]) -> Result<Parsed, Diagnostics> {
    parse_with(file_name, src, &Options::default())
}

/// Resolves a host name of lvs.cf to an address (the CLI/daemon passes getaddrinfo; the
/// engine never resolves by itself).
pub type Resolver<'a> = &'a dyn Fn(&str) -> Result<IpAddr, String>;

/// How [`parse_with`] treats host names and incomplete files.
#[derive(Clone, Copy, Default)]
pub struct Options<'a> {
    /// Resolve host names in address fields (`primary`, `backup`, the privates, `nat_router`,
    /// virtual and real server `address`); a name that does not resolve is an error at its
    /// position. `None`: names are kept unresolved.
    pub resolve: Option<Resolver<'a>>,
    /// Accept a file that lacks what a running director needs (no `primary`, a block without
    /// `address`): those errors become warnings. For `config fmt` and the web tool, which
    /// edit files still being written; `check` and `pulse` refuse such files.
    pub allow_incomplete: bool,
}

impl core::fmt::Debug for Options<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Options")
            .field("resolve", &self.resolve.is_some())
            .field("allow_incomplete", &self.allow_incomplete)
            .finish()
    }
}

/// [`parse`] with [`Options`].
pub fn parse_with(file_name: &str, src: &[u8], opts: &Options<'_>) -> Result<Parsed, Diagnostics> {
    let (mut config, spans, mut diags) = parse::parse_source(file_name, src);
    if let Some(resolve) = opts.resolve {
        for (place, name, err) in resolve_hosts(&mut config, resolve) {
            diags.push(Diagnostic::error(
                file_name,
                position(&spans, place),
                format!("cannot resolve host name `{name}`: {err}"),
            ));
        }
    }
    let problems = if diags.len() > parse::MAX_DIAGNOSTICS {
        Vec::new()
    } else {
        config.validate()
    };
    for problem in problems {
        // A key whose statement was rejected has been reported already: stay quiet about it.
        if spans.rejected.contains(&problem.place) {
            continue;
        }
        let pos = position(&spans, problem.place);
        let (severity, message) = if problem.incomplete && opts.allow_incomplete {
            let msg = format!(
                "{} (the file is incomplete: `piranha check` and `pulse` refuse it)",
                problem.message
            );
            (Severity::Warning, msg)
        } else if problem.incomplete {
            let msg = format!(
                "{} (the file is incomplete: a director cannot run it)",
                problem.message
            );
            (problem.severity, msg)
        } else {
            (problem.severity, problem.message)
        };
        diags.push(Diagnostic {
            file: file_name.to_string(),
            pos: Some(pos),
            severity,
            message,
        });
    }
    let mut diags = Diagnostics(diags);
    diags.sort();
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok(Parsed {
            config,
            warnings: diags.0,
        })
    }
}

/// Resolve every host name of `cfg` whose address is not known yet; the failures.
fn resolve_hosts(cfg: &mut LvsConfig, resolve: Resolver<'_>) -> Vec<(Place, String, String)> {
    let mut failed = Vec::new();
    let mut one = |place: Place, name: &Option<String>, slot: &mut Option<IpAddr>| {
        if let Some(name) = name {
            match resolve(name) {
                Ok(ip) => *slot = Some(ip),
                Err(e) => failed.push((place, name.clone(), e)),
            }
        }
    };
    let g = |key| Place::Global { key: Some(key) };
    let names = cfg.host_names.clone();
    one(g("primary"), &names.primary, &mut cfg.primary);
    one(
        g("primary_private"),
        &names.primary_private,
        &mut cfg.primary_private,
    );
    one(g("backup"), &names.backup, &mut cfg.backup);
    one(
        g("backup_private"),
        &names.backup_private,
        &mut cfg.backup_private,
    );
    if let Some(vip) = cfg.nat_router.as_mut() {
        let mut ip = None;
        one(g("nat_router"), &names.nat_router, &mut ip);
        vip.ip = ip.unwrap_or(vip.ip);
    }
    for (index, v) in cfg.virtuals.iter_mut().enumerate() {
        if let Some(vip) = v.address.as_mut() {
            let mut ip = None;
            let place = Place::Virtual {
                index,
                key: Some("address"),
            };
            one(place, &v.address_name, &mut ip);
            vip.ip = ip.unwrap_or(vip.ip);
        }
        for (j, s) in v.servers.iter_mut().enumerate() {
            let place = Place::Server {
                virtual_index: index,
                index: j,
                key: Some("address"),
            };
            one(place, &s.address_name, &mut s.address);
        }
    }
    for (index, f) in cfg.failovers.iter_mut().enumerate() {
        if let Some(vip) = f.address.as_mut() {
            let mut ip = None;
            let place = Place::Failover {
                index,
                key: Some("address"),
            };
            one(place, &f.address_name, &mut ip);
            vip.ip = ip.unwrap_or(vip.ip);
        }
    }
    failed
}

impl LvsConfig {
    /// The host names whose addresses are not known (the file was parsed without a
    /// resolver), as `key = name`: the simulator, which needs literal addresses, refuses them.
    pub fn unresolved_host_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        let n = &self.host_names;
        for (key, name, known) in [
            ("primary", &n.primary, self.primary.is_some()),
            (
                "primary_private",
                &n.primary_private,
                self.primary_private.is_some(),
            ),
            ("backup", &n.backup, self.backup.is_some()),
            (
                "backup_private",
                &n.backup_private,
                self.backup_private.is_some(),
            ),
            (
                "nat_router",
                &n.nat_router,
                self.nat_router
                    .as_ref()
                    .is_some_and(|v| !v.ip.is_unspecified()),
            ),
        ] {
            if let (Some(name), false) = (name, known) {
                out.push(format!("{key} = {name}"));
            }
        }
        for v in &self.virtuals {
            let known = v.address.as_ref().is_some_and(|a| !a.ip.is_unspecified());
            if let (Some(name), false) = (&v.address_name, known) {
                out.push(format!("virtual {}: address = {name}", v.name));
            }
            for s in &v.servers {
                if let (Some(name), None) = (&s.address_name, s.address) {
                    out.push(format!(
                        "virtual {} server {}: address = {name}",
                        v.name, s.name
                    ));
                }
            }
        }
        for f in &self.failovers {
            let known = f.address.as_ref().is_some_and(|a| !a.ip.is_unspecified());
            if let (Some(name), false) = (&f.address_name, known) {
                out.push(format!("failover {}: address = {name}", f.name));
            }
        }
        out
    }
}

/// The position of a place in the parsed file: the key's value, else the block's name, else 1:1.
fn position(spans: &Spans, place: Place) -> Pos {
    let key_pos = |keys: &std::collections::BTreeMap<&'static str, KeySpan>, key: Option<&str>| {
        key.and_then(|k| keys.get(k)).map(|s| s.value)
    };
    match place {
        // A deadtime left at its default is compared with the keepalive that was set.
        Place::Global {
            key: Some("deadtime"),
        } => key_pos(&spans.global, Some("deadtime"))
            .or_else(|| key_pos(&spans.global, Some("keepalive"))),
        Place::Global { key } => key_pos(&spans.global, key),
        Place::Virtual { index, key } => spans
            .virtuals
            .get(index)
            .map(|b| key_pos(&b.keys, key).unwrap_or(b.header)),
        Place::Server {
            virtual_index,
            index,
            key,
        } => spans
            .virtuals
            .get(virtual_index)
            .and_then(|v| v.servers.get(index))
            .map(|b| key_pos(&b.keys, key).unwrap_or(b.header)),
        Place::Failover { index, key } => spans
            .failovers
            .get(index)
            .map(|b| key_pos(&b.keys, key).unwrap_or(b.header)),
    }
    .unwrap_or(Pos::START)
}

#[cfg(test)]
mod tests;
