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
//!     "lvs.cf:1:11: error: primary: expected an IPv4 or IPv6 address, found `10.0.0.300`\n\
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
    Comments, Failover, HeartbeatProtocol, LoadMonitor, LvsConfig, Network, Protocol, RealServer,
    SchedulerFlag, ServiceKind, Vip, VirtualServer, DEFAULT_ARBITER_PORT,
};
pub use services::{port_of as service_port, Transport, SERVICES};
pub use validate::{Place, Problem};
pub use write::format;

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
pub fn parse(file_name: &str, src: &[u8]) -> Result<Parsed, Diagnostics> {
    let (config, spans, mut diags) = parse::parse_source(file_name, src);
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
        diags.push(Diagnostic {
            file: file_name.to_string(),
            pos: Some(pos),
            severity: problem.severity,
            message: problem.message,
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

/// The position of a place in the parsed file: the key's value, else the block's name, else 1:1.
fn position(spans: &Spans, place: Place) -> Pos {
    let key_pos = |keys: &std::collections::BTreeMap<&'static str, KeySpan>, key: Option<&str>| {
        key.and_then(|k| keys.get(k)).map(|s| s.value)
    };
    match place {
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
