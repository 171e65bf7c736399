//! The grammar as data: one row per key (name, value kind, default, when it is written, doc,
//! setter, getter), one table per block. Adding a key is adding a row (and its model field).
//! Table order is the order the canonical writer uses: the GUI's order, new keys last.

use core::net::IpAddr;

use super::model::{
    ConflictAction, Failover, HeartbeatProtocol, LoadMonitor, LvsConfig, Network, Protocol,
    RealServer, ScaleOut, ServiceKind, Vip, VirtualServer,
};
use super::value::{names, Kind, Named, Value};

/// When the canonical writer writes a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Emit {
    /// Always: the GUI writes it in every file, so operators expect it.
    Always,
    /// When set to something other than the default (or carrying a comment).
    IfChanged,
}

/// One key of one block.
pub(crate) struct Key<T: 'static> {
    pub name: &'static str,
    pub kind: Kind,
    /// The default as documentation (`-` for none).
    pub default: &'static str,
    pub emit: Emit,
    /// Ignored by the original: accepted with a warning.
    pub ignored: bool,
    /// Read by the original for a feature piranha does not have: accepted with this warning
    /// (and kept when the file is rewritten).
    pub unsupported: Option<&'static str>,
    pub doc: &'static str,
    pub set: fn(&mut T, Value),
    /// The current value; `None` when unset (only for keys without a default).
    pub get: fn(&T) -> Option<Value>,
}

use Emit::{Always, IfChanged};

const BOOL: Kind = Kind::Bool;
const DUR: Kind = Kind::Duration;
const IP: Kind = Kind::Ip;
const MASK: Kind = Kind::Netmask;
const PORT: Kind = Kind::Port;
const TEXT: Kind = Kind::Text { quote: true };
const WORD: Kind = Kind::Text { quote: false };
const HOST: Kind = Kind::Host;

const SCSI: &str =
    "shared-SCSI reservation (Piranha's `reserve` tool) is not supported: the key has no effect";

macro_rules! key {
    ($name:literal, $kind:expr, $default:literal, $emit:expr, $doc:literal,
     |$c:ident, $v:ident| $set:expr, |$g:ident| $get:expr) => {
        key!(@ $name, $kind, $default, $emit, false, $doc, |$c, $v| $set, |$g| $get)
    };
    (! $name:literal, $kind:expr, $default:literal, $why:expr, $doc:literal,
     |$c:ident, $v:ident| $set:expr, |$g:ident| $get:expr) => {
        Key {
            unsupported: Some($why),
            ..key!(@ $name, $kind, $default, IfChanged, false, $doc, |$c, $v| $set, |$g| $get)
        }
    };
    (@ $name:literal, $kind:expr, $default:literal, $emit:expr, $ignored:expr, $doc:literal,
     |$c:ident, $v:ident| $set:expr, |$g:ident| $get:expr) => {
        Key {
            name: $name,
            kind: $kind,
            default: $default,
            emit: $emit,
            ignored: $ignored,
            unsupported: None,
            doc: $doc,
            set: |$c, $v| $set,
            get: |$g| $get,
        }
    };
}

fn ip(v: Option<core::net::IpAddr>) -> Option<Value> {
    v.map(Value::Ip)
}
fn word_of<T: Named>(v: T) -> &'static str {
    v.name()
}
fn text(v: &Option<String>) -> Option<Value> {
    v.clone().map(Value::Text)
}
/// Set an address key that may hold a host name: the address, or no address and the name.
fn set_host(ip_slot: &mut Option<IpAddr>, name_slot: &mut Option<String>, v: Value) {
    match v {
        Value::Host(name) => {
            *ip_slot = None;
            *name_slot = Some(name);
        }
        v => {
            *ip_slot = v.ip();
            *name_slot = None;
        }
    }
}
/// The value of such a key: the name as written, else the address.
fn get_host(ip_slot: Option<IpAddr>, name_slot: &Option<String>) -> Option<Value> {
    match name_slot {
        Some(name) => Some(Value::Host(name.clone())),
        None => ip(ip_slot),
    }
}
/// Set an `IP DEVICE` key that may hold a host name: the address is 0.0.0.0 until resolved.
fn set_host_dev(slot: &mut Option<Vip>, name_slot: &mut Option<String>, v: Value) {
    match v {
        Value::HostDev(name, device) => {
            *slot = Some(Vip {
                ip: IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED),
                device,
            });
            *name_slot = Some(name);
        }
        v => {
            *slot = v.vip();
            *name_slot = None;
        }
    }
}
fn get_host_dev(slot: &Option<Vip>, name_slot: &Option<String>) -> Option<Value> {
    match (slot, name_slot) {
        (Some(vip), Some(name)) => Some(Value::HostDev(name.clone(), vip.device.clone())),
        (slot, _) => slot.clone().map(Value::Vip),
    }
}

/// Global keys (outside any block).
#[rustfmt::skip]
pub(crate) static GLOBAL: &[Key<LvsConfig>] = &[
    key!("serial_no", Kind::Uint { max: u64::MAX }, "0", Always, "Incremented by the GUI on every write.",
        |c, v| c.serial_no = v.uint(), |c| Some(Value::Uint(c.serial_no))),
    key!("primary", HOST, "-", Always, "Public IP (or host name) of the primary router (required).",
        |c, v| set_host(&mut c.primary, &mut c.host_names.primary, v), |c| get_host(c.primary, &c.host_names.primary)),
    key!("primary_private", HOST, "-", IfChanged, "The primary's address on a second heartbeat path.",
        |c, v| set_host(&mut c.primary_private, &mut c.host_names.primary_private, v), |c| get_host(c.primary_private, &c.host_names.primary_private)),
    key!(! "primary_shared", WORD, "-", SCSI, "The primary's shared-SCSI device (unsupported; kept as written).",
        |c, v| c.primary_shared = Some(v.text()), |c| text(&c.primary_shared)),
    key!("service", Kind::Word(names::<ServiceKind>), "lvs", Always, "`lvs` (IPVS) or `fos` (failover services).",
        |c, v| c.service = v.word(), |c| Some(Value::Word(word_of(c.service)))),
    key!("backup_active", BOOL, "0", Always, "1 when a backup router runs.",
        |c, v| c.backup_active = v.bool(), |c| Some(Value::Bool(c.backup_active))),
    key!("backup", HOST, "-", IfChanged, "Public IP (or host name) of the backup router.",
        |c, v| set_host(&mut c.backup, &mut c.host_names.backup, v), |c| get_host(c.backup, &c.host_names.backup)),
    key!("backup_private", HOST, "-", IfChanged, "The backup's address on a second heartbeat path.",
        |c, v| set_host(&mut c.backup_private, &mut c.host_names.backup_private, v), |c| get_host(c.backup_private, &c.host_names.backup_private)),
    key!(! "backup_shared", WORD, "-", SCSI, "The backup's shared-SCSI device (unsupported; kept as written).",
        |c, v| c.backup_shared = Some(v.text()), |c| text(&c.backup_shared)),
    key!(! "reservation_conflict_action", Kind::Word(names::<ConflictAction>), "-", SCSI, "`nothing` or `preempt` on a shared-SCSI conflict (unsupported; kept).",
        |c, v| c.reservation_conflict_action = Some(v.word()), |c| c.reservation_conflict_action.map(|a| Value::Word(word_of(a)))),
    key!(@ "heartbeat", WORD, "-", IfChanged, true, "Ignored by the original; kept as written.",
        |c, v| c.heartbeat = Some(v.text()), |c| text(&c.heartbeat)),
    key!("heartbeat_port", PORT, "539", Always, "UDP port of the heartbeats (number or service name).",
        |c, v| c.heartbeat_port = v.u16(), |c| Some(Value::Uint(c.heartbeat_port.into()))),
    key!("keepalive", DUR, "2", Always, "Seconds between heartbeats (fractions allowed).",
        |c, v| c.keepalive = v.duration(), |c| Some(Value::Duration(c.keepalive))),
    key!("deadtime", DUR, "5", Always, "Seconds of silence before the partner is declared dead.",
        |c, v| c.deadtime = v.duration(), |c| Some(Value::Duration(c.deadtime))),
    key!("network", Kind::Word(names::<Network>), "nat", Always, "Forwarding method: direct, nat or tunnel.",
        |c, v| c.network = v.word(), |c| Some(Value::Word(word_of(c.network)))),
    key!("nat_router", Kind::HostDev, "-", IfChanged, "`IP DEVICE` of the NAT gateway the active router brings up.",
        |c, v| set_host_dev(&mut c.nat_router, &mut c.host_names.nat_router, v), |c| get_host_dev(&c.nat_router, &c.host_names.nat_router)),
    key!("nat_nmask", MASK, "-", IfChanged, "Netmask of the NAT router address.",
        |c, v| c.nat_nmask = v.ip(), |c| ip(c.nat_nmask)),
    key!(@ "debug_level", WORD, "-", IfChanged, true, "Ignored by the original; kept as written.",
        |c, v| c.debug_level = Some(v.text()), |c| text(&c.debug_level)),
    key!("monitor_links", Kind::Flag, "0", Always, "A link down on a VIP interface is a fault (any non-zero number: on).",
        |c, v| c.monitor_links = v.bool(), |c| Some(Value::Bool(c.monitor_links))),
    key!("syncdaemon", BOOL, "0", Always, "Run the IPVS connection sync daemon.",
        |c, v| c.syncdaemon = v.bool(), |c| Some(Value::Bool(c.syncdaemon))),
    key!(@ "sync", BOOL, "0", IfChanged, true, "Ignored by the original (file sync); kept as written.",
        |c, v| c.sync = v.bool(), |c| Some(Value::Bool(c.sync))),
    key!("syncd_iface", WORD, "eth0", IfChanged, "Interface of the sync daemon.",
        |c, v| c.syncd_iface = v.text(), |c| Some(Value::Text(c.syncd_iface.clone()))),
    key!("syncd_id", Kind::Uint { max: 255 }, "0", IfChanged, "Sync daemon id (0-255).",
        |c, v| c.syncd_id = v.u8(), |c| Some(Value::Uint(c.syncd_id.into()))),
    key!("tcp_timeout", DUR, "0", IfChanged, "IPVS TCP timeout (0: kernel default).",
        |c, v| c.tcp_timeout = v.duration(), |c| Some(Value::Duration(c.tcp_timeout))),
    key!("tcpfin_timeout", DUR, "0", IfChanged, "IPVS TCP FIN timeout (0: kernel default).",
        |c, v| c.tcpfin_timeout = v.duration(), |c| Some(Value::Duration(c.tcpfin_timeout))),
    key!("udp_timeout", DUR, "0", IfChanged, "IPVS UDP timeout (0: kernel default).",
        |c, v| c.udp_timeout = v.duration(), |c| Some(Value::Duration(c.udp_timeout))),
    key!("hard_shutdown", BOOL, "1", IfChanged, "A dead health checker stops the director.",
        |c, v| c.hard_shutdown = v.bool(), |c| Some(Value::Bool(c.hard_shutdown))),
    key!("rsh_command", WORD, "rsh", IfChanged, "Remote shell for `load_monitor = uptime`.",
        |c, v| c.rsh_command = v.text(), |c| Some(Value::Text(c.rsh_command.clone()))),
    key!("active_cmd", TEXT, "-", IfChanged, "Command run on takeover.",
        |c, v| c.active_cmd = Some(v.text()), |c| text(&c.active_cmd)),
    key!("inactive_cmd", TEXT, "-", IfChanged, "Command run on giveup.",
        |c, v| c.inactive_cmd = Some(v.text()), |c| text(&c.inactive_cmd)),
    key!(@ "ipvsadm", WORD, "-", IfChanged, true, "Path of ipvsadm; unused (netlink); kept as written.",
        |c, v| c.ipvsadm = Some(v.text()), |c| text(&c.ipvsadm)),
    key!("heartbeat_protocol", Kind::Word(names::<HeartbeatProtocol>), "v2 with a key file, else piranha", IfChanged, "(new) Heartbeat format: `piranha` (legacy 4 bytes) or `v2` (authenticated).",
        |c, v| c.heartbeat_protocol = Some(v.word()), |c| c.heartbeat_protocol.map(|p| Value::Word(word_of(p)))),
    key!("heartbeat_key_file", WORD, "-", IfChanged, "(new) File holding the shared heartbeat key.",
        |c, v| c.heartbeat_key_file = Some(v.text()), |c| text(&c.heartbeat_key_file)),
    key!("failback", BOOL, "0", IfChanged, "(new) A returning primary takes the VIPs back.",
        |c, v| c.failback = v.bool(), |c| Some(Value::Bool(c.failback))),
    key!("arbiter", Kind::Arbiter, "-", IfChanged, "(new) `IP[:PORT]` a router must reach before taking over (port 5390).",
        |c, v| c.arbiter = v.socket(), |c| c.arbiter.map(Value::Socket)),
    key!("arp_count", Kind::Uint { max: 1000 }, "5", IfChanged, "(new) Gratuitous ARPs per VIP on takeover.",
        |c, v| c.arp_count = v.u32(), |c| Some(Value::Uint(c.arp_count.into()))),
    key!("arp_interval", DUR, "1", IfChanged, "(new) Seconds between those ARPs.",
        |c, v| c.arp_interval = v.duration(), |c| Some(Value::Duration(c.arp_interval))),
    key!("arp_refresh", DUR, "0", IfChanged, "(new) Re-announce VIPs this often while active (0: off).",
        |c, v| c.arp_refresh = v.duration(), |c| Some(Value::Duration(c.arp_refresh))),
    key!("reconcile_interval", DUR, "5", IfChanged, "(new) Seconds between comparisons with the kernel's IPVS table.",
        |c, v| c.reconcile_interval = v.duration(), |c| Some(Value::Duration(c.reconcile_interval))),
    key!("hot_standby", BOOL, "1", IfChanged, "(new) The inactive router health-checks and keeps its IPVS table programmed (no VIPs), so a takeover serves at once.",
        |c, v| c.hot_standby = v.bool(), |c| Some(Value::Bool(c.hot_standby))),
    key!("scale_out", Kind::Word(names::<ScaleOut>), "none", IfChanged, "(new) `none` (one active router) or `bgp`: every director active, each VIP announced over BGP by BIRD while this director is healthy, holds it and has a real server up (docs/SCALE-OUT.md).",
        |c, v| c.scale_out = v.word(), |c| Some(Value::Word(word_of(c.scale_out)))),
    key!("bird_socket", WORD, "/run/bird/bird.ctl", IfChanged, "(new) BIRD's control socket (`scale_out = bgp`).",
        |c, v| c.bird_socket = v.text(), |c| Some(Value::Text(c.bird_socket.clone()))),
    key!("drain_timeout", DUR, "30", IfChanged, "(new) Seconds to wait for connections to finish after a withdrawal on drain or shutdown (`scale_out = bgp`).",
        |c, v| c.drain_timeout = v.duration(), |c| Some(Value::Duration(c.drain_timeout))),
];

/// Keys of `virtual NAME { }`.
#[rustfmt::skip]
pub(crate) static VIRTUAL: &[Key<VirtualServer>] = &[
    key!("active", BOOL, "0", Always, "1 when the virtual server is installed.",
        |c, v| c.active = v.bool(), |c| Some(Value::Bool(c.active))),
    key!("address", Kind::HostDev, "-", Always, "`VIP DEVICE` (required; an alias such as eth0:1 is fine; a host name is resolved at load).",
        |c, v| set_host_dev(&mut c.address, &mut c.address_name, v), |c| get_host_dev(&c.address, &c.address_name)),
    key!("vip_nmask", MASK, "-", IfChanged, "Netmask of the VIP.",
        |c, v| c.vip_nmask = v.ip(), |c| ip(c.vip_nmask)),
    key!("sorry_server", IP, "-", IfChanged, "Used when no real server is up.",
        |c, v| c.sorry_server = v.ip(), |c| ip(c.sorry_server)),
    key!("fwmark", Kind::Uint { max: u32::MAX as u64 }, "-", IfChanged, "Firewall mark that selects the service instead of VIP:port.",
        |c, v| c.fwmark = Some(v.u32()), |c| c.fwmark.map(|m| Value::Uint(m.into()))),
    key!("port", PORT, "80", Always, "Port (number or service name).",
        |c, v| c.port = v.u16(), |c| Some(Value::Uint(c.port.into()))),
    key!("persistent", DUR, "0", IfChanged, "Persistence timeout in seconds (0: off).",
        |c, v| c.persistent = v.duration(), |c| Some(Value::Duration(c.persistent))),
    key!("pmask", MASK, "-", IfChanged, "Persistence netmask.",
        |c, v| c.pmask = v.ip(), |c| ip(c.pmask)),
    key!("send", TEXT, "-", IfChanged, "What the health check sends (escapes \\r \\n \\t ...).",
        |c, v| c.send = Some(v.text()), |c| text(&c.send)),
    key!("expect", TEXT, "-", IfChanged, "The reply prefix (or regex, or `*`) the check expects.",
        |c, v| c.expect = Some(v.text()), |c| text(&c.expect)),
    key!("use_regex", BOOL, "0", Always, "`expect` is a POSIX extended regular expression.",
        |c, v| c.use_regex = v.bool(), |c| Some(Value::Bool(c.use_regex))),
    key!("send_program", TEXT, "-", IfChanged, "External check command; %h host, %p port; needs `expect`.",
        |c, v| c.send_program = Some(v.text()), |c| text(&c.send_program)),
    key!("load_monitor", Kind::LoadMonitor, "none", Always, "none, uptime, rup, ruptime, ssh, rsh (any other program: kept, unused).",
        |c, v| match v {
            Value::Text(program) => {
                c.load_monitor = LoadMonitor::None;
                c.load_monitor_program = Some(program);
            }
            v => {
                c.load_monitor = v.word();
                c.load_monitor_program = None;
            }
        },
        |c| Some(match &c.load_monitor_program {
            Some(p) => Value::Text(p.clone()),
            None => Value::Word(word_of(c.load_monitor)),
        })),
    key!("scheduler", Kind::Scheduler, "wlc", Always, "rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos.",
        |c, v| c.scheduler = v.scheduler(), |c| Some(Value::Scheduler(c.scheduler))),
    key!("protocol", Kind::Word(names::<Protocol>), "tcp", Always, "tcp or udp.",
        |c, v| c.protocol = v.word(), |c| Some(Value::Word(word_of(c.protocol)))),
    key!("timeout", DUR, "10", Always, "Check timeout and interval between checks, seconds.",
        |c, v| c.timeout = v.duration(), |c| Some(Value::Duration(c.timeout))),
    key!("reentry", DUR, "180", Always, "Seconds a failed server must pass checks before readmission.",
        |c, v| c.reentry = v.duration(), |c| Some(Value::Duration(c.reentry))),
    key!("quiesce_server", BOOL, "0", Always, "A failed server keeps its entry with weight 0.",
        |c, v| c.quiesce_server = v.bool(), |c| Some(Value::Bool(c.quiesce_server))),
    key!("retries", Kind::Uint { max: 100 }, "0", IfChanged, "(new) Extra failed checks in a row before a server is removed.",
        |c, v| c.retries = v.u32(), |c| Some(Value::Uint(c.retries.into()))),
    key!("scheduler_flags", Kind::Flags, "-", IfChanged, "(new) Comma list: sh-fallback, sh-port (sh), mh-fallback, mh-port (mh).",
        |c, v| c.scheduler_flags = v.flags(), |c| (!c.scheduler_flags.is_empty()).then(|| Value::Flags(c.scheduler_flags.clone()))),
    key!(! "client_monitor", WORD, "-", "piranha's health checks are built in: the program is not run", "The original's health checker program (/usr/sbin/nanny); kept, not run.",
        |c, v| c.client_monitor = Some(v.text()), |c| text(&c.client_monitor)),
    key!(@ "start_cmd", TEXT, "-", IfChanged, true, "Used by the original only in `failover` blocks; kept as written.",
        |c, v| c.start_cmd = Some(v.text()), |c| text(&c.start_cmd)),
    key!(@ "stop_cmd", TEXT, "-", IfChanged, true, "Used by the original only in `failover` blocks; kept as written.",
        |c, v| c.stop_cmd = Some(v.text()), |c| text(&c.stop_cmd)),
    key!(@ "master", HOST, "-", IfChanged, true, "The original's failover-service master host; kept as written.",
        |c, v| c.master = Some(match v { Value::Host(n) => n, v => v.ip().map(|i| i.to_string()).unwrap_or_default() }),
        |c| c.master.clone().map(Value::Host)),
    key!(@ "dirs", Kind::List, "-", IfChanged, true, "`[ dir dir ]`: the original's failover-service directories; kept as written.",
        |c, v| c.dirs = v.list(), |c| (!c.dirs.is_empty()).then(|| Value::List(c.dirs.clone()))),
];

/// Keys of `server NAME { }`.
#[rustfmt::skip]
pub(crate) static SERVER: &[Key<RealServer>] = &[
    key!("address", HOST, "-", Always, "Address (or host name) of the real server (required).",
        |c, v| set_host(&mut c.address, &mut c.address_name, v), |c| get_host(c.address, &c.address_name)),
    key!("active", BOOL, "0", Always, "1 when the real server takes part.",
        |c, v| c.active = v.bool(), |c| Some(Value::Bool(c.active))),
    key!("port", PORT, "the virtual server's", IfChanged, "Port on the real server (number or service name).",
        |c, v| c.port = Some(v.u16()), |c| c.port.map(|p| Value::Uint(p.into()))),
    key!("weight", Kind::Uint { max: 65535 }, "1", Always, "IPVS weight (0-65535).",
        |c, v| c.weight = v.u32(), |c| Some(Value::Uint(c.weight.into()))),
];

/// Keys of `failover NAME { }` (FOS mode).
#[rustfmt::skip]
pub(crate) static FAILOVER: &[Key<Failover>] = &[
    key!("active", BOOL, "0", Always, "1 when the service is managed.",
        |c, v| c.active = v.bool(), |c| Some(Value::Bool(c.active))),
    key!("address", Kind::HostDev, "-", Always, "`IP DEVICE` of the service (a host name is resolved at load).",
        |c, v| set_host_dev(&mut c.address, &mut c.address_name, v), |c| get_host_dev(&c.address, &c.address_name)),
    key!("port", PORT, "0", Always, "Port checked (number or service name).",
        |c, v| c.port = v.u16(), |c| Some(Value::Uint(c.port.into()))),
    key!("send", TEXT, "-", IfChanged, "What the check sends.",
        |c, v| c.send = Some(v.text()), |c| text(&c.send)),
    key!("expect", TEXT, "-", IfChanged, "What the check expects.",
        |c, v| c.expect = Some(v.text()), |c| text(&c.expect)),
    key!("use_regex", BOOL, "0", IfChanged, "`expect` is a regular expression.",
        |c, v| c.use_regex = v.bool(), |c| Some(Value::Bool(c.use_regex))),
    key!("send_program", TEXT, "-", IfChanged, "External check command.",
        |c, v| c.send_program = Some(v.text()), |c| text(&c.send_program)),
    key!("timeout", DUR, "10", Always, "Check timeout, seconds.",
        |c, v| c.timeout = v.duration(), |c| Some(Value::Duration(c.timeout))),
    key!("start_cmd", TEXT, "-", IfChanged, "Starts the service on takeover.",
        |c, v| c.start_cmd = Some(v.text()), |c| text(&c.start_cmd)),
    key!("stop_cmd", TEXT, "-", IfChanged, "Stops the service on giveup.",
        |c, v| c.stop_cmd = Some(v.text()), |c| text(&c.stop_cmd)),
];

/// Find a key by name.
pub(crate) fn find<T>(table: &'static [Key<T>], name: &str) -> Option<&'static Key<T>> {
    table.iter().find(|k| k.name == name)
}

/// A Markdown table of every key (for docs/LVS_CF.md; a test keeps the doc in sync).
pub fn reference_table() -> String {
    let mut out = String::new();
    fn rows<T>(out: &mut String, block: &str, table: &[Key<T>]) {
        for k in table {
            out.push_str(&format!(
                "| {block} | `{}` | {} | {} |\n",
                k.name,
                if k.default == "-" { "none" } else { k.default },
                k.doc.replace('|', "\\|")
            ));
        }
    }
    out.push_str("| block | key | default | meaning |\n|---|---|---|---|\n");
    rows(&mut out, "global", GLOBAL);
    rows(&mut out, "virtual", VIRTUAL);
    rows(&mut out, "server", SERVER);
    rows(&mut out, "failover", FAILOVER);
    out
}

/// One key as documentation: its block, name, default (`-` for none) and meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyDoc {
    /// `global`, `virtual`, `server` or `failover`.
    pub block: &'static str,
    /// The key.
    pub name: &'static str,
    /// The default as written in lvs.cf (`-`: none).
    pub default: &'static str,
    /// What it means.
    pub doc: &'static str,
    /// Accepted for compatibility, ignored (with a warning).
    pub ignored: bool,
}

/// Every key of every block, in table order (for lvs.cf(5)).
pub fn key_docs() -> Vec<KeyDoc> {
    fn rows<T>(out: &mut Vec<KeyDoc>, block: &'static str, table: &[Key<T>]) {
        out.extend(table.iter().map(|k| KeyDoc {
            block,
            name: k.name,
            default: k.default,
            doc: k.doc,
            ignored: k.ignored,
        }));
    }
    let mut out = Vec::new();
    rows(&mut out, "global", GLOBAL);
    rows(&mut out, "virtual", VIRTUAL);
    rows(&mut out, "server", SERVER);
    rows(&mut out, "failover", FAILOVER);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::write::fmt_value;

    fn check_defaults<T>(table: &[Key<T>], dflt: &T) {
        for (i, k) in table.iter().enumerate() {
            assert!(
                table[i + 1..].iter().all(|o| o.name != k.name),
                "{} twice",
                k.name
            );
            match (get_default(k, dflt), k.default) {
                (None, d) => assert!(
                    d == "-" || d.contains(' '),
                    "{}: no default value but doc says {d}",
                    k.name
                ),
                (Some(v), d) => assert_eq!(fmt_value(k.kind, &v), d, "{}", k.name),
            }
        }
    }
    fn get_default<T>(k: &Key<T>, d: &T) -> Option<Value> {
        (k.get)(d)
    }

    #[test]
    fn documented_defaults_are_the_model_defaults() {
        let g = LvsConfig::default();
        check_defaults(GLOBAL, &g);
        check_defaults(VIRTUAL, &VirtualServer::new("v"));
        check_defaults(SERVER, &RealServer::new("s"));
        check_defaults(FAILOVER, &Failover::new("f"));
    }

    #[test]
    fn setters_and_getters_agree() {
        // Every key: get(set(default, get(default))) is unchanged where a default exists.
        let mut c = LvsConfig::default();
        for k in GLOBAL {
            if let Some(v) = (k.get)(&LvsConfig::default()) {
                (k.set)(&mut c, v.clone());
                assert_eq!((k.get)(&c), Some(v), "{}", k.name);
            }
        }
        assert_eq!(c, LvsConfig::default());
    }

    #[test]
    fn the_reference_mentions_every_key() {
        let t = reference_table();
        for name in GLOBAL
            .iter()
            .map(|k| k.name)
            .chain(VIRTUAL.iter().map(|k| k.name))
        {
            assert!(t.contains(&format!("`{name}`")), "{name}");
        }
    }

    #[test]
    fn key_docs_cover_every_table() {
        let docs = key_docs();
        assert_eq!(
            docs.len(),
            GLOBAL.len() + VIRTUAL.len() + SERVER.len() + FAILOVER.len()
        );
        for k in GLOBAL {
            assert!(docs.iter().any(|d| d.block == "global" && d.name == k.name));
        }
    }
}
