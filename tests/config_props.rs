//! Properties of the lvs.cf parser and writer:
//! - any valid model survives `format` then `parse` unchanged, and `format` is a fixed point;
//! - any bytes (random, or a valid file mutated) parse without a panic, and whatever parses
//!   keeps its meaning through `format` and formats to a fixed point.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::collections::BTreeSet;

use piranha_engine::config::{
    format, parse, Failover, HeartbeatProtocol, LoadMonitor, LvsConfig, Network, Protocol,
    RealServer, SchedulerFlag, ServiceKind, Vip, VirtualServer,
};
use piranha_engine::sched::Algorithm;
use piranha_engine::time::Duration;
use proptest::prelude::*;

fn v4() -> impl Strategy<Value = IpAddr> {
    any::<[u8; 4]>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b)))
}
fn v6() -> impl Strategy<Value = IpAddr> {
    any::<[u16; 8]>().prop_map(|s| IpAddr::V6(Ipv6Addr::from(s)))
}
fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![3 => v4(), 1 => v6()]
}
fn mask() -> impl Strategy<Value = IpAddr> {
    (0u32..=32).prop_map(|n| IpAddr::V4(Ipv4Addr::from(u32::MAX.checked_shl(32 - n).unwrap_or(0))))
}
fn device() -> impl Strategy<Value = String> {
    "[a-z]{1,5}[0-9]{1,2}(:[0-9]{1,3})?"
}
fn vip(ip: impl Strategy<Value = IpAddr>) -> impl Strategy<Value = Vip> {
    (ip, device()).prop_map(|(ip, device)| Vip { ip, device })
}
/// Seconds with up to 9 decimals, within the accepted range.
fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (0u64..100_000).prop_map(Duration::from_secs),
        (0u64..1_000_000_000_000).prop_map(Duration::from_nanos),
    ]
}
fn positive_duration() -> impl Strategy<Value = Duration> {
    duration().prop_map(|d| d + Duration::from_millis(1))
}
/// Any text: quotes, backslashes, blanks, control characters, non-ASCII.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,20}",
        "[a-z\\\\\"' \t\r\n#=%{}.]{0,20}",
        "\\PC{0,10}",
        any::<String>().prop_map(|s| s.chars().take(12).collect()),
    ]
}
fn word() -> impl Strategy<Value = String> {
    prop_oneof!["[a-zA-Z0-9/_.-]{1,16}", text()]
}
fn name() -> impl Strategy<Value = String> {
    prop_oneof![4 => "[a-z][a-z0-9_.-]{0,10}", 1 => text()]
}

fn real_server(family_v4: bool) -> impl Strategy<Value = RealServer> {
    let addr = if family_v4 {
        v4().boxed()
    } else {
        v6().boxed()
    };
    (
        name(),
        addr,
        any::<bool>(),
        0u32..=65535,
        proptest::option::of(any::<u16>()),
        // Sometimes a host name instead of the address (kept, resolved at load).
        proptest::option::weighted(0.2, "[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,5})?"),
    )
        .prop_map(|(name, a, active, weight, port, host)| RealServer {
            address: if host.is_some() { None } else { Some(a) },
            address_name: host,
            active,
            weight,
            port,
            ..RealServer::new(name)
        })
}

fn virtual_server() -> impl Strategy<Value = VirtualServer> {
    let head = (
        name(),
        any::<bool>(),
        prop_oneof![vip(v4()), vip(v6())],
        proptest::option::of(mask()),
        proptest::option::of(ip()),
        proptest::option::of(any::<u32>()),
        any::<u16>(),
        duration(),
        proptest::option::of(mask()),
    );
    let checks = (
        proptest::option::of(text()),
        proptest::option::of(text()),
        any::<bool>(),
        proptest::option::of(text()),
        prop_oneof![
            Just(LoadMonitor::None),
            Just(LoadMonitor::Uptime),
            Just(LoadMonitor::Rup),
            Just(LoadMonitor::Ruptime)
        ],
        proptest::sample::select(Algorithm::ALL.to_vec()),
        prop_oneof![Just(Protocol::Tcp), Just(Protocol::Udp)],
        positive_duration(),
        duration(),
        any::<bool>(),
        0u32..=100,
        proptest::collection::btree_set(
            proptest::sample::select(SchedulerFlag::ALL.to_vec()),
            0..3,
        ),
    );
    (head, checks)
        .prop_flat_map(|(head, checks)| {
            let v4 = head.2.ip.is_ipv4();
            let servers = proptest::collection::vec(real_server(v4), 0..4);
            (Just(head), Just(checks), servers)
        })
        .prop_map(|(h, c, servers)| {
            let (name, active, address, vip_nmask, sorry_server, fwmark, port, persistent, pmask) =
                h;
            let (
                send,
                expect,
                use_regex,
                send_program,
                load_monitor,
                scheduler,
                protocol,
                timeout,
                extra,
                quiesce,
                retries,
                flags,
            ) = c;
            let mut v = VirtualServer {
                active,
                address: Some(address),
                vip_nmask,
                sorry_server,
                fwmark,
                port,
                persistent,
                pmask,
                send,
                expect,
                use_regex,
                send_program,
                load_monitor,
                scheduler,
                protocol,
                timeout,
                reentry: timeout + extra,
                quiesce_server: quiesce,
                retries,
                scheduler_flags: flags,
                servers,
                ..VirtualServer::new(name)
            };
            // Make it valid: flags of its scheduler only, a literal regex, expect for a program.
            v.scheduler_flags.retain(|f| f.scheduler() == v.scheduler);
            if v.use_regex {
                v.expect = v
                    .expect
                    .take()
                    .map(|e| e.chars().filter(char::is_ascii_alphanumeric).collect());
            }
            if v.send_program.is_some() && v.expect.is_none() {
                v.expect = Some("OK".into());
            }
            v
        })
}

fn failover() -> impl Strategy<Value = Failover> {
    (
        name(),
        proptest::option::of(vip(ip())),
        any::<bool>(),
        any::<u16>(),
        proptest::option::of(text()),
        proptest::option::of(text()),
        positive_duration(),
        proptest::option::of(text()),
        proptest::option::of(text()),
    )
        .prop_map(
            |(name, address, active, port, send, expect, timeout, start_cmd, stop_cmd)| Failover {
                address,
                active,
                port,
                send,
                expect,
                timeout,
                start_cmd,
                stop_cmd,
                ..Failover::new(name)
            },
        )
}

fn config() -> impl Strategy<Value = LvsConfig> {
    let a = (
        any::<u64>(),
        ip(),
        proptest::option::of(ip()),
        any::<bool>(),
        proptest::option::of(ip()),
        proptest::option::of(ip()),
        proptest::option::of(word()),
        any::<u16>(),
        positive_duration(),
        positive_duration(),
        prop_oneof![
            Just(Network::Direct),
            Just(Network::Nat),
            Just(Network::Tunnel)
        ],
        proptest::option::of(vip(ip())),
    );
    let b = (
        proptest::option::of(mask()),
        proptest::option::of(word()),
        any::<[bool; 4]>(),
        word(),
        any::<u8>(),
        [duration(), duration(), duration()],
        word(),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(word()),
    );
    let c = (
        proptest::option::of(prop_oneof![
            Just(HeartbeatProtocol::Piranha),
            Just(HeartbeatProtocol::V2)
        ]),
        proptest::option::of(word()),
        proptest::option::of((ip(), 1u16..).prop_map(|(ip, p)| SocketAddr::new(ip, p))),
        0u32..=1000,
        [duration(), duration()],
        positive_duration(),
        proptest::collection::vec(virtual_server(), 0..4),
        proptest::collection::vec(failover(), 0..2),
        any::<bool>(),
    );
    (a, b, c).prop_map(|(a, b, c)| {
        let (
            serial_no,
            primary,
            primary_private,
            backup_active,
            backup,
            backup_private,
            heartbeat,
            heartbeat_port,
            keepalive,
            dead_extra,
            network,
            nat_router,
        ) = a;
        let (
            nat_nmask,
            debug_level,
            flags,
            syncd_iface,
            syncd_id,
            [t1, t2, t3],
            rsh_command,
            active_cmd,
            inactive_cmd,
            ipvsadm,
        ) = b;
        let (
            heartbeat_protocol,
            heartbeat_key_file,
            arbiter,
            arp_count,
            [arp_interval, arp_refresh],
            reconcile_interval,
            mut virtuals,
            mut failovers,
            fos,
        ) = c;
        // Names are unique within their kind.
        for (i, v) in virtuals.iter_mut().enumerate() {
            v.name = format!("{}{i}", v.name);
            // Distinct services: the same VIP twice is fine, the same service is not.
            v.fwmark = v.fwmark.map(|m| m.wrapping_add(i as u32 * 7919));
            v.port = v.port.wrapping_add(i as u16);
            for (j, s) in v.servers.iter_mut().enumerate() {
                s.name = format!("{}{j}", s.name);
            }
        }
        for (i, f) in failovers.iter_mut().enumerate() {
            f.name = format!("{}{i}", f.name);
        }
        let mut cfg = LvsConfig {
            serial_no,
            primary: Some(primary),
            primary_private,
            service: if fos {
                ServiceKind::Fos
            } else {
                ServiceKind::Lvs
            },
            backup_active,
            backup,
            backup_private,
            heartbeat,
            heartbeat_port,
            keepalive,
            deadtime: keepalive + dead_extra,
            network,
            nat_router,
            nat_nmask,
            debug_level,
            monitor_links: flags[0],
            syncdaemon: flags[1],
            syncd_iface,
            syncd_id,
            tcp_timeout: t1,
            tcpfin_timeout: t2,
            udp_timeout: t3,
            hard_shutdown: flags[2],
            rsh_command,
            active_cmd,
            inactive_cmd,
            ipvsadm,
            heartbeat_protocol,
            heartbeat_key_file,
            failback: flags[3],
            arbiter,
            arp_count,
            arp_interval,
            arp_refresh,
            reconcile_interval,
            virtuals,
            failovers,
            ..LvsConfig::default()
        };
        if cfg.heartbeat_protocol == Some(HeartbeatProtocol::V2) && cfg.heartbeat_key_file.is_none()
        {
            cfg.heartbeat_key_file = Some("/etc/key".into());
        }
        // Same VIP+protocol+port or fwmark among active virtuals: keep only the first active.
        let mut seen = BTreeSet::new();
        for v in &mut cfg.virtuals {
            let id = (
                v.fwmark,
                v.fwmark
                    .is_none()
                    .then(|| (v.address.clone(), v.protocol, v.port)),
            );
            if v.active && !seen.insert(id) {
                v.active = false;
            }
        }
        if cfg.service == ServiceKind::Fos {
            for f in &mut cfg.failovers {
                f.address.get_or_insert(Vip {
                    ip: primary,
                    device: "eth0".into(),
                });
            }
        }
        for f in &mut cfg.failovers {
            if f.send_program.is_some() && f.expect.is_none() {
                f.expect = Some("OK".into());
            }
        }
        cfg
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn model_round_trips(cfg in config()) {
        let text = format(&cfg);
        let parsed = parse("gen.cf", text.as_bytes())
            .unwrap_or_else(|e| panic!("generated config rejected:\n{e}\n{text}"));
        prop_assert_eq!(&parsed.config, &cfg, "{}", text);
        prop_assert_eq!(format(&parsed.config), text);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        check_bytes(&bytes)?;
    }

    #[test]
    fn mutated_files_never_panic(edits in proptest::collection::vec(edit(), 1..12)) {
        let mut bytes = include_bytes!("../examples/lvs.cf").to_vec();
        for e in edits {
            e.apply(&mut bytes);
        }
        check_bytes(&bytes)?;
    }

    #[test]
    fn line_soup_never_panics(lines in proptest::collection::vec(line(), 0..40)) {
        check_bytes(lines.concat().as_bytes())?;
        // With `primary` first, more of the soup parses and exercises the writer.
        check_bytes(format!("primary = 10.0.0.1\n{}", lines.concat()).as_bytes())?;
    }
}

/// Whatever parses keeps its meaning through `format`, which is a fixed point.
fn check_bytes(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(parsed) = parse("fuzz.cf", bytes) {
        let text = format(&parsed.config);
        let again = parse("fuzz.cf", text.as_bytes());
        prop_assert!(
            again.is_ok(),
            "canonical form rejected: {:?}\n{}",
            again.err(),
            text
        );
        let again = again.unwrap_or_else(|_| unreachable!());
        prop_assert_eq!(&again.config, &parsed.config);
        prop_assert_eq!(format(&again.config), text);
    }
    Ok(())
}

#[derive(Clone, Debug)]
enum Edit {
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Replace(usize, u8),
}

impl Edit {
    fn apply(self, b: &mut Vec<u8>) {
        let at = |i: usize, b: &Vec<u8>| if b.is_empty() { 0 } else { i % (b.len() + 1) };
        match self {
            Edit::Insert(i, s) => {
                let i = at(i, b);
                b.splice(i..i, s);
            }
            Edit::Delete(i, n) => {
                let i = at(i, b);
                let end = (i + n).min(b.len());
                b.drain(i..end);
            }
            Edit::Replace(i, c) => {
                if !b.is_empty() {
                    let i = i % b.len();
                    b[i] = c;
                }
            }
        }
    }
}

fn edit() -> impl Strategy<Value = Edit> {
    let piece = prop_oneof![
        Just(b"{".to_vec()),
        Just(b"}".to_vec()),
        Just(b"\n}\n".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"'".to_vec()),
        Just(b"=".to_vec()),
        Just(b"#".to_vec()),
        Just(b"\\".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\nserver x {\n".to_vec()),
        Just(b"\nvirtual y {\n".to_vec()),
        Just(b"\nfailover z {\n".to_vec()),
        Just(b" 0x".to_vec()),
        Just(vec![0xff]),
        proptest::collection::vec(any::<u8>(), 1..8),
    ];
    prop_oneof![
        (any::<usize>(), piece).prop_map(|(i, s)| Edit::Insert(i, s)),
        (any::<usize>(), 1usize..20).prop_map(|(i, n)| Edit::Delete(i, n)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, c)| Edit::Replace(i, c)),
    ]
}

/// Plausible lines: keys of every block with plausible and implausible values.
fn line() -> impl Strategy<Value = String> {
    let key = proptest::sample::select(vec![
        "primary",
        "backup",
        "keepalive",
        "deadtime",
        "network",
        "nat_router",
        "service",
        "address",
        "port",
        "weight",
        "scheduler",
        "send",
        "expect",
        "use_regex",
        "send_program",
        "timeout",
        "reentry",
        "active",
        "fwmark",
        "scheduler_flags",
        "arbiter",
        "heartbeat_protocol",
        "heartbeat",
        "start_cmd",
        "serial_no",
        "persistent",
        "pmask",
        "bogus",
    ]);
    let value = prop_oneof![
        Just("10.0.0.1".to_string()),
        Just("10.0.0.2 eth0:1".to_string()),
        Just("fd00::1".to_string()),
        Just("1".to_string()),
        Just("0.5".to_string()),
        Just("0x10".to_string()),
        Just("http".to_string()),
        Just("sh".to_string()),
        Just("sh-port,mh-port".to_string()),
        Just("v2".to_string()),
        Just("\"a \\\"b\\\" \\\\ c\"".to_string()),
        Just("'x".to_string()),
        "[ -~]{0,12}",
    ];
    prop_oneof![
        4 => (key, value, prop_oneof![Just(" = "), Just("="), Just(" ")]).prop_map(|(k, v, eq)| format!("{k}{eq}{v}\n")),
        1 => "(virtual|server|failover) [a-z]{1,3} \\{\n",
        1 => Just("}\n".to_string()),
        1 => "#[ -~]{0,10}\r?\n",
    ]
}
