//! The pages' fields: which lvs.cf keys each page edits, with the original GUI's labels, and
//! each key's default and meaning taken from the engine's key table (so they never drift).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use piranha_engine::config::reference_table;

/// A page of the tool that edits lvs.cf keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Page {
    /// GLOBAL SETTINGS.
    Global,
    /// REDUNDANCY.
    Redundancy,
    /// VIRTUAL SERVER (one `virtual` block).
    Virtual,
    /// MONITORING SCRIPTS (the health-check keys of one `virtual` block).
    Scripts,
    /// REAL SERVER (one `server` block).
    Server,
}

impl Page {
    /// The name used in forms.
    pub fn as_str(self) -> &'static str {
        match self {
            Page::Global => "global",
            Page::Redundancy => "redundancy",
            Page::Virtual => "virtual",
            Page::Scripts => "scripts",
            Page::Server => "server",
        }
    }

    /// From a form value.
    pub fn from_name(s: &str) -> Option<Page> {
        [
            Page::Global,
            Page::Redundancy,
            Page::Virtual,
            Page::Scripts,
            Page::Server,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }

    /// The block of lvs.cf the page edits (for the key table).
    pub fn block(self) -> &'static str {
        match self {
            Page::Global | Page::Redundancy => "global",
            Page::Virtual | Page::Scripts => "virtual",
            Page::Server => "server",
        }
    }

    /// The page's fields, in display order.
    pub fn fields(self) -> &'static [Field] {
        match self {
            Page::Global => GLOBAL,
            Page::Redundancy => REDUNDANCY,
            Page::Virtual => VIRTUAL,
            Page::Scripts => SCRIPTS,
            Page::Server => SERVER,
        }
    }
}

/// How a field is shown and written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// A text box; the value is written as typed (addresses, numbers, names).
    Plain,
    /// A text box; the value is written quoted (`send`, commands); `\n`-style escapes as in lvs.cf.
    Quoted,
    /// A checkbox: `1` or `0`.
    Bool,
    /// A choice; `""` (if listed) means "not set: the default".
    Choice(&'static [&'static str]),
}

/// One form field = one lvs.cf key (or the block's name, key `name`).
#[derive(Clone, Copy, Debug)]
pub struct Field {
    /// The lvs.cf key (or `name` for the block name).
    pub key: &'static str,
    /// The label, in the original GUI's words.
    pub label: &'static str,
    /// How it is shown and written.
    pub input: Input,
}

const fn f(key: &'static str, label: &'static str, input: Input) -> Field {
    Field { key, label, input }
}

use Input::{Bool, Choice, Plain, Quoted};

/// The keys whose values the daemon runs as root (commands, remote shells, check programs).
/// The tool shows them read-only unless started with `--edit-commands`: otherwise a web
/// login would be a root shell on the director. (`start_cmd`/`stop_cmd` of `failover`
/// blocks are on no page, so the tool cannot change them at all.)
pub const COMMAND_KEYS: &[&str] = &[
    "rsh_command",
    "active_cmd",
    "inactive_cmd",
    "send_program",
    "start_cmd",
    "stop_cmd",
    // Not run by piranha (kept for Piranha files), but a program path all the same.
    "client_monitor",
];

/// Whether the daemon runs `key`'s value.
pub fn is_command(key: &str) -> bool {
    COMMAND_KEYS.contains(&key)
}

/// Longest value accepted in any field, in bytes.
pub const MAX_VALUE_BYTES: usize = 1024;

/// A character that is invisible or reorders text (bidirectional controls, zero-width
/// characters, tags, variation selectors...): a value holding one does not read as what it
/// does (`rm -rf /` shown reversed, a hidden argument), so no field accepts it.
pub fn is_invisible(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x2028..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F
        | 0xFEFF | 0xFFA0 | 0xFFF9..=0xFFFB | 0x1D173..=0x1D17A | 0xE0000..=0xE0FFF)
}

/// The block name pseudo-field.
pub const NAME: &str = "name";

const SCHEDULERS: &[&str] = &[
    "wlc", "lc", "rr", "wrr", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos",
];

static GLOBAL: &[Field] = &[
    f("primary", "Primary server public IP", Plain),
    f("primary_private", "Primary server private IP", Plain),
    f("service", "Service (lvs or fos)", Choice(&["lvs", "fos"])),
    f(
        "network",
        "Use network type",
        Choice(&["nat", "direct", "tunnel"]),
    ),
    f("nat_router", "NAT router IP and device", Plain),
    f("nat_nmask", "NAT router netmask", Plain),
    f("tcp_timeout", "TCP timeout", Plain),
    f("tcpfin_timeout", "TCP FIN timeout", Plain),
    f("udp_timeout", "UDP timeout", Plain),
    f("hard_shutdown", "Hard shutdown", Bool),
    f("rsh_command", "Remote shell command", Quoted),
    f("active_cmd", "Command on takeover", Quoted),
    f("inactive_cmd", "Command on giveup", Quoted),
    f("reconcile_interval", "IPVS reconcile interval", Plain),
    f(
        "hot_standby",
        "Hot standby (inactive router keeps IPVS programmed)",
        Bool,
    ),
];

static REDUNDANCY: &[Field] = &[
    f("backup_active", "Redundant server (backup) active", Bool),
    f("backup", "Redundant server public IP", Plain),
    f("backup_private", "Redundant server private IP", Plain),
    f("heartbeat_port", "Heartbeat runs on port", Plain),
    f("keepalive", "Heartbeat interval (seconds)", Plain),
    f("deadtime", "Assume dead after (seconds)", Plain),
    f("monitor_links", "Monitor NIC links for failures", Bool),
    f("syncdaemon", "Use sync daemon", Bool),
    f("syncd_iface", "Sync daemon interface", Plain),
    f("syncd_id", "Sync daemon id", Plain),
    f(
        "heartbeat_protocol",
        "Heartbeat protocol",
        Choice(&["", "piranha", "v2"]),
    ),
    f("heartbeat_key_file", "Heartbeat key file", Quoted),
    f("failback", "Fail back to the primary", Bool),
    f("arbiter", "Arbiter (IP or IP:PORT)", Plain),
    f("arp_count", "Gratuitous ARPs on takeover", Plain),
    f("arp_interval", "Seconds between ARPs", Plain),
    f("arp_refresh", "Re-announce VIPs every (seconds)", Plain),
];

static VIRTUAL: &[Field] = &[
    f(NAME, "Name", Plain),
    f("active", "Active", Bool),
    f("address", "Virtual IP address and device", Plain),
    f("vip_nmask", "Virtual IP network mask", Plain),
    f("sorry_server", "Sorry server", Plain),
    f("fwmark", "Firewall mark", Plain),
    f("port", "Application port", Plain),
    f("protocol", "Protocol", Choice(&["tcp", "udp"])),
    f("scheduler", "Scheduling", Choice(SCHEDULERS)),
    f("scheduler_flags", "Scheduler flags", Plain),
    f("persistent", "Persistence (seconds)", Plain),
    f("pmask", "Persistence network mask", Plain),
    f("timeout", "Service timeout (seconds)", Plain),
    f("reentry", "Re-entry time (seconds)", Plain),
    f("retries", "Retries before removal", Plain),
    f("quiesce_server", "Quiesce server", Bool),
    f(
        "load_monitor",
        "Load monitoring tool",
        Choice(&["none", "uptime", "rup", "ruptime"]),
    ),
];

static SCRIPTS: &[Field] = &[
    f("send_program", "Sending program", Quoted),
    f("send", "Send", Quoted),
    f("expect", "Expect", Quoted),
    f(
        "use_regex",
        "Treat expect string as a regular expression",
        Bool,
    ),
];

static SERVER: &[Field] = &[
    f(NAME, "Name", Plain),
    f("address", "Address", Plain),
    f("port", "Port", Plain),
    f("weight", "Weight", Plain),
    f("active", "Active", Bool),
];

/// Default and meaning of one key, from the engine's key table.
#[derive(Clone, Debug, Default)]
pub struct KeyDoc {
    /// The default as the table shows it (`none` when there is none).
    pub default: String,
    /// What the key means.
    pub doc: String,
}

static DOCS: LazyLock<BTreeMap<(String, String), KeyDoc>> = LazyLock::new(|| {
    let mut out = BTreeMap::new();
    for line in reference_table().lines().skip(2) {
        let cells: Vec<&str> = line
            .trim_matches('|')
            .splitn(4, " | ")
            .map(str::trim)
            .collect();
        if let [block, key, default, doc] = cells[..] {
            out.insert(
                (block.to_string(), key.trim_matches('`').to_string()),
                KeyDoc {
                    default: default.to_string(),
                    doc: doc.replace("\\|", "|").replace('`', ""),
                },
            );
        }
    }
    out
});

/// Default and meaning of `key` in `block` (`global`, `virtual`, `server`).
pub fn key_doc(block: &str, key: &str) -> KeyDoc {
    DOCS.get(&(block.to_string(), key.to_string()))
        .cloned()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_a_documented_key() {
        for page in [
            Page::Global,
            Page::Redundancy,
            Page::Virtual,
            Page::Scripts,
            Page::Server,
        ] {
            for field in page.fields().iter().filter(|f| f.key != NAME) {
                let d = key_doc(page.block(), field.key);
                assert!(!d.doc.is_empty(), "{} {}", page.block(), field.key);
            }
        }
        assert_eq!(key_doc("global", "keepalive").default, "2");
        assert_eq!(key_doc("virtual", "scheduler").default, "wlc");
    }

    /// Every key of the engine's table that runs something is on the read-only list: a new
    /// command key cannot slip into the tool editable.
    #[test]
    fn every_executed_key_is_a_command_key() {
        for line in reference_table().lines().skip(2) {
            let cells: Vec<&str> = line
                .trim_matches('|')
                .splitn(4, " | ")
                .map(str::trim)
                .collect();
            let [_, key, _, doc] = cells[..] else {
                continue;
            };
            let key = key.trim_matches('`');
            let doc = doc.to_ascii_lowercase();
            // Whole words: "programmed" (an IPVS table) runs nothing.
            let runs = doc.split(|c: char| !c.is_ascii_alphanumeric()).any(|w| {
                [
                    "command", "commands", "program", "programs", "shell", "script", "scripts",
                ]
                .contains(&w)
            }) || key.ends_with("_cmd");
            // `load_monitor` names one of the built-in load probes, which run through
            // `rsh_command` (itself read-only); another program name is kept, never run.
            if runs && key != "load_monitor" {
                assert!(is_command(key), "{key}: {doc}");
            }
        }
        for k in COMMAND_KEYS {
            assert!(
                !key_doc("global", k).doc.is_empty()
                    || !key_doc("virtual", k).doc.is_empty()
                    || !key_doc("failover", k).doc.is_empty(),
                "{k}"
            );
        }
    }

    #[test]
    fn bidi_and_zero_width_characters_are_invisible() {
        for c in [
            '\u{202E}',
            '\u{2066}',
            '\u{200B}',
            '\u{FEFF}',
            '\u{E0041}',
            '\u{00AD}',
        ] {
            assert!(is_invisible(c), "{c:?}");
        }
        for c in ['a', ' ', '/', 'é', '→'] {
            assert!(!is_invisible(c), "{c:?}");
        }
    }
}
