//! Unit tests: every key, every kind of error, the writer's fixed point.

use super::*;
use crate::sched::Algorithm;
use crate::time::Duration;
use core::net::IpAddr;

const HEAD: &str = "primary = 10.0.0.1\n";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Parse `HEAD + src`; panics with the diagnostics when invalid.
fn ok(src: &str) -> LvsConfig {
    let text = format!("{HEAD}{src}");
    match parse("t.cf", text.as_bytes()) {
        Ok(p) => p.config,
        Err(d) => panic!("{text}\n{d}"),
    }
}

/// A virtual server `v` with an address and the extra lines.
fn virt(lines: &str) -> VirtualServer {
    ok(&format!(
        "virtual v {{\n address = 10.0.0.10 eth0\n{lines}}}\n"
    ))
    .virtuals
    .remove(0)
}

/// A server `s` in such a virtual.
fn server(lines: &str) -> RealServer {
    virt(&format!(" server s {{\n  address = 10.1.0.1\n{lines} }}\n"))
        .servers
        .remove(0)
}

/// Every diagnostic line of `src` (no HEAD added).
fn diags(src: &str) -> Vec<String> {
    match parse("t.cf", src.as_bytes()) {
        Ok(p) => p.warnings.iter().map(|d| d.to_string()).collect(),
        Err(d) => d.0.iter().map(|d| d.to_string()).collect(),
    }
}

/// The single error of `HEAD + src`.
fn error(src: &str) -> String {
    let all = diags(&format!("{HEAD}{src}"));
    let errors: Vec<_> = all.iter().filter(|d| d.contains(": error: ")).collect();
    assert_eq!(errors.len(), 1, "{all:#?}");
    errors[0].clone()
}

#[test]
fn defaults_of_an_almost_empty_file() {
    let c = ok("");
    assert_eq!(c.primary, Some(ip("10.0.0.1")));
    assert_eq!(c.service, ServiceKind::Lvs);
    assert!(!c.backup_active);
    assert_eq!(c.heartbeat_port, 539);
    assert_eq!(c.keepalive, Duration::from_secs(2));
    assert_eq!(c.deadtime, Duration::from_secs(5));
    assert_eq!(c.network, Network::Nat);
    assert_eq!(c.syncd_iface, "eth0");
    assert!(c.hard_shutdown);
    assert_eq!(c.rsh_command, "rsh");
    assert_eq!(c.effective_heartbeat_protocol(), HeartbeatProtocol::Piranha);
    assert!(!c.failback);
    assert_eq!(c.arp_count, 5);
    assert_eq!(c.arp_interval, Duration::from_secs(1));
    assert_eq!(c.arp_refresh, Duration::ZERO);
    assert_eq!(c.reconcile_interval, Duration::from_secs(5));
    let v = virt("");
    assert!(!v.active);
    assert_eq!(v.port, 80);
    assert_eq!(v.scheduler, Algorithm::Wlc);
    assert_eq!(v.protocol, Protocol::Tcp);
    assert_eq!(v.timeout, Duration::from_secs(10));
    assert_eq!(v.reentry, Duration::from_secs(180));
    assert_eq!(v.load_monitor, LoadMonitor::None);
    assert_eq!(v.persistent, Duration::ZERO);
    let s = server("");
    assert_eq!(s.weight, 1);
    assert!(!s.active);
    assert_eq!(s.port, None);
}

#[test]
fn global_keys() {
    let c = ok("serial_no = 0x2a\nprimary_private = 10.1.0.1\nservice = lvs\nbackup_active = 1\n\
        backup = 10.0.0.2\nbackup_private = 10.1.0.2\nheartbeat_port = 0x21b\nkeepalive = 0.1\n\
        deadtime = 0.5\nnetwork = direct\nnat_router = 10.1.0.254 eth1:1\nnat_nmask = 255.255.255.0\n\
        monitor_links = 1\nsyncdaemon = 1\nsyncd_iface = eth1\nsyncd_id = 7\ntcp_timeout = 900\n\
        tcpfin_timeout = 120\nudp_timeout = 300\nhard_shutdown = 0\nrsh_command = ssh\n\
        active_cmd = /usr/local/bin/up now\ninactive_cmd = \"/bin/down\"\n");
    assert_eq!(c.serial_no, 42);
    assert_eq!(c.primary_private, Some(ip("10.1.0.1")));
    assert!(c.backup_active);
    assert_eq!(c.backup, Some(ip("10.0.0.2")));
    assert_eq!(c.backup_private, Some(ip("10.1.0.2")));
    assert_eq!(c.heartbeat_port, 539);
    assert_eq!(c.keepalive, Duration::from_millis(100));
    assert_eq!(c.deadtime, Duration::from_millis(500));
    assert_eq!(c.network, Network::Direct);
    assert_eq!(
        c.nat_router,
        Some(Vip {
            ip: ip("10.1.0.254"),
            device: "eth1:1".into()
        })
    );
    assert_eq!(c.nat_nmask, Some(ip("255.255.255.0")));
    assert!(c.monitor_links && c.syncdaemon && !c.hard_shutdown);
    assert_eq!((c.syncd_iface.as_str(), c.syncd_id), ("eth1", 7));
    assert_eq!(c.tcp_timeout, Duration::from_secs(900));
    assert_eq!(c.tcpfin_timeout, Duration::from_secs(120));
    assert_eq!(c.udp_timeout, Duration::from_secs(300));
    assert_eq!(c.rsh_command, "ssh");
    assert_eq!(c.active_cmd.as_deref(), Some("/usr/local/bin/up now"));
    assert_eq!(c.inactive_cmd.as_deref(), Some("/bin/down"));
    let c = ok("service = fos\nnetwork = tunnel\nheartbeat_port = heartbeat\nfailover f {\n address = 10.0.0.5 eth0\n}\n");
    assert_eq!(c.service, ServiceKind::Fos);
    assert_eq!(c.network, Network::Tunnel);
    assert_eq!(c.heartbeat_port, 539);
}

#[test]
fn new_global_keys() {
    let c = ok(
        "heartbeat_key_file = /etc/piranha/key\nfailback = 1\narbiter = 10.0.0.254\n\
        arp_count = 3\narp_interval = 0.2\narp_refresh = 30\nreconcile_interval = 1.5\n",
    );
    assert_eq!(c.effective_heartbeat_protocol(), HeartbeatProtocol::V2);
    assert_eq!(c.heartbeat_key_file.as_deref(), Some("/etc/piranha/key"));
    assert!(c.failback);
    assert_eq!(c.arbiter, Some("10.0.0.254:5390".parse().unwrap()));
    assert_eq!(c.arp_count, 3);
    assert_eq!(c.arp_interval, Duration::from_millis(200));
    assert_eq!(c.arp_refresh, Duration::from_secs(30));
    assert_eq!(c.reconcile_interval, Duration::from_millis(1500));
    let c = ok("heartbeat_key_file = k\nheartbeat_protocol = piranha\narbiter = [fd00::1]:99\n");
    assert_eq!(c.effective_heartbeat_protocol(), HeartbeatProtocol::Piranha);
    assert_eq!(c.arbiter, Some("[fd00::1]:99".parse().unwrap()));
}

#[test]
fn virtual_keys() {
    let v = virt(" active = 1\n vip_nmask = 255.255.255.0\n sorry_server = 10.1.0.99\n fwmark = 0x10\n\
        port = https\n persistent = 300\n pmask = 255.255.255.0\n send = \"GET / HTTP/1.0\\r\\n\\r\\n\"\n\
        expect = 'HTTP'\n use_regex = 0\n load_monitor = ruptime\n scheduler = mh\n protocol = udp\n\
        timeout = 6\n reentry = 15\n quiesce_server = 1\n retries = 2\n scheduler_flags = mh-port,mh-fallback\n");
    assert!(v.active && v.quiesce_server && !v.use_regex);
    assert_eq!(
        v.address,
        Some(Vip {
            ip: ip("10.0.0.10"),
            device: "eth0".into()
        })
    );
    assert_eq!(v.vip_nmask, Some(ip("255.255.255.0")));
    assert_eq!(v.sorry_server, Some(ip("10.1.0.99")));
    assert_eq!(v.fwmark, Some(16));
    assert_eq!(v.port, 443);
    assert_eq!(v.persistent, Duration::from_secs(300));
    assert_eq!(v.pmask, Some(ip("255.255.255.0")));
    assert_eq!(v.send.as_deref(), Some("GET / HTTP/1.0\r\n\r\n"));
    assert_eq!(v.expect.as_deref(), Some("HTTP"));
    assert_eq!(v.load_monitor, LoadMonitor::Ruptime);
    assert_eq!(v.scheduler, Algorithm::Mh);
    assert_eq!(v.protocol, Protocol::Udp);
    assert_eq!(v.timeout, Duration::from_secs(6));
    assert_eq!(v.reentry, Duration::from_secs(15));
    assert_eq!(v.retries, 2);
    assert_eq!(
        v.scheduler_flags.iter().copied().collect::<Vec<_>>(),
        [SchedulerFlag::MhFallback, SchedulerFlag::MhPort]
    );
    let v = virt(" send_program = /usr/local/bin/check %h %p\n expect = \"OK\"\n use_regex = 1\n load_monitor = uptime\n");
    assert_eq!(
        v.send_program.as_deref(),
        Some("/usr/local/bin/check %h %p")
    );
    assert!(v.use_regex);
    assert_eq!(v.load_monitor, LoadMonitor::Uptime);
    for a in Algorithm::ALL {
        assert_eq!(virt(&format!(" scheduler = {a}\n")).scheduler, a);
    }
}

#[test]
fn server_keys() {
    let s = server("  active = 1\n  weight = 0x10\n  port = 8080\n");
    assert_eq!(s.address, Some(ip("10.1.0.1")));
    assert!(s.active);
    assert_eq!(s.weight, 16);
    assert_eq!(s.port, Some(8080));
    assert_eq!(s.port_or(&VirtualServer::new("x")), 8080);
    assert_eq!(server("").port_or(&VirtualServer::new("x")), 80);
}

#[test]
fn failover_keys() {
    let c = ok("service = fos\nfailover ftp {\n active = 1\n address = 10.0.0.7 eth0:3\n port = ftp\n\
        send = \"\\n\"\n expect = \"220\"\n use_regex = 0\n timeout = 4\n start_cmd = /etc/init.d/vsftpd start\n\
        stop_cmd = \"/etc/init.d/vsftpd stop\"\n}\n");
    let f = &c.failovers[0];
    assert_eq!(f.name, "ftp");
    assert!(f.active);
    assert_eq!(
        f.address.as_ref().map(|a| a.device.as_str()),
        Some("eth0:3")
    );
    assert_eq!(f.port, 21);
    assert_eq!(f.send.as_deref(), Some("\n"));
    assert_eq!(f.timeout, Duration::from_secs(4));
    assert_eq!(f.start_cmd.as_deref(), Some("/etc/init.d/vsftpd start"));
    assert_eq!(f.stop_cmd.as_deref(), Some("/etc/init.d/vsftpd stop"));
}

#[test]
fn ipv6_addresses() {
    let c = ok("backup = fd00::2\nvirtual v6 {\n address = 2001:db8::10 eth0\n server s {\n  address = 2001:db8:1::1\n }\n}\n");
    assert_eq!(c.backup, Some(ip("fd00::2")));
    assert_eq!(
        c.virtuals[0].address.as_ref().unwrap().ip,
        ip("2001:db8::10")
    );
    assert_eq!(c.virtuals[0].servers[0].address, Some(ip("2001:db8:1::1")));
}

#[test]
fn lexical_forms_are_equivalent() {
    let a = ok("keepalive = 3\nvirtual v {\n address = 10.0.0.10 eth0\n port = 80\n}\n");
    let b = ok("keepalive=3\r\n  # a comment\r\nvirtual v{\r\n\taddress=10.0.0.10 eth0\r\n\tport='80'\r\n}\r\n");
    let c = ok("keepalive = 0x3\nvirtual \"v\" {  # trailing\n address = \"10.0.0.10\" eth0\n port = http\n}");
    assert_eq!(a, b);
    assert_eq!(a, c);
}

#[test]
fn ignored_keys_warn_and_are_kept() {
    let p = parse(
        "t.cf",
        b"primary = 10.0.0.1\nheartbeat = 1\ndebug_level = NONE\nipvsadm = /sbin/ipvsadm\n",
    )
    .unwrap();
    let w: Vec<_> = p.warnings.iter().map(|d| d.to_string()).collect();
    assert_eq!(w.len(), 3, "{w:#?}");
    assert!(
        w[0].starts_with("t.cf:2:1: warning: `heartbeat` is ignored"),
        "{}",
        w[0]
    );
    assert!(w[1].starts_with("t.cf:3:1: warning: `debug_level` is ignored"));
    assert!(w[2].starts_with("t.cf:4:1: warning: `ipvsadm` is ignored"));
    let text = format(&p.config);
    assert!(
        text.contains("heartbeat = 1\n") && text.contains("debug_level = NONE\n"),
        "{text}"
    );
    assert!(text.contains("ipvsadm = /sbin/ipvsadm\n"));
}

// ---- errors, one kind each; the position points at the offending token ----

#[test]
fn unknown_key_suggests() {
    assert_eq!(
        error("keepalvie = 6\n"),
        "t.cf:2:1: error: unknown global key `keepalvie`: did you mean `keepalive`?"
    );
    assert_eq!(
        error("virtual v {\n address = 10.0.0.10 eth0\n   shceduler = rr\n}\n"),
        "t.cf:4:4: error: unknown key in a `virtual` block `shceduler`: did you mean `scheduler`?"
    );
    assert_eq!(
        error("frobnicate = 1\n"),
        "t.cf:2:1: error: unknown global key `frobnicate`"
    );
    assert_eq!(
        error("weight = 1\n"),
        "t.cf:2:1: error: `weight` is not a global key: it is a server key and goes inside `server NAME { }`"
    );
}

#[test]
fn bad_values() {
    assert_eq!(
        error("backup = 10.0.0.256\n"),
        "t.cf:2:10: error: backup: expected an IPv4 or IPv6 address (or a host name), found `10.0.0.256`"
    );
    assert_eq!(
        error("heartbeat_port = 65536\n"),
        "t.cf:2:18: error: heartbeat_port: 65536 is out of range: expected a port from 0 to 65535"
    );
    assert_eq!(error("heartbeat_port = hartbeat\n"), "t.cf:2:18: error: heartbeat_port: unknown service name `hartbeat`: expected a port number or a name such as http, https, smtp");
    assert_eq!(
        error("backup_active = yes\n"),
        "t.cf:2:17: error: backup_active: expected 0 or 1, found `yes`"
    );
    assert_eq!(
        error("backup_active = 2\n"),
        "t.cf:2:17: error: backup_active: expected 0 or 1, found `2`"
    );
    assert_eq!(
        error("network = NAT\n"),
        "t.cf:2:11: error: network: expected one of direct nat tunnel, found `NAT`"
    );
    assert_eq!(
        error("keepalive = 1e3\n"),
        "t.cf:2:13: error: keepalive: expected seconds such as 6 or 0.5, found `1e3`"
    );
    assert_eq!(
        error("syncd_id = 256\n"),
        "t.cf:2:12: error: syncd_id: 256 is out of range: expected 0 to 255"
    );
    assert_eq!(error("serial_no = 08\n"), "t.cf:2:13: error: serial_no: expected an octal number (a leading 0 means octal, as in the original), found `08`");
    assert_eq!(error("nat_nmask = 255.0.255.0\n"), "t.cf:2:13: error: nat_nmask: `255.0.255.0` is not a netmask: its one bits must be contiguous");
    assert_eq!(error("backup = 10.0.0.2 10.0.0.3\n"), "t.cf:2:19: error: backup: unexpected `10.0.0.3` after the value: expected an IP address or a host name (quote a value that contains blanks)");
}

#[test]
fn bad_scheduler() {
    assert_eq!(
        error("virtual v {\n address = 10.0.0.10 eth0\n scheduler = wlcc\n}\n"),
        "t.cf:4:14: error: scheduler: unknown scheduler \"wlcc\" (expected one of rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos)"
    );
}

#[test]
fn statement_syntax() {
    assert_eq!(
        error("keepalive 6\n"),
        "t.cf:2:11: error: expected `=` after `keepalive`, found `6`"
    );
    assert_eq!(
        error("keepalive\n"),
        "t.cf:2:10: error: expected `= VALUE` after `keepalive`"
    );
    assert_eq!(error("= 6\n"), "t.cf:2:1: error: expected a key before `=`");
    assert_eq!(
        error("}\n"),
        "t.cf:2:1: error: unexpected `}`: no block is open here"
    );
    assert_eq!(
        error("send = 'abc\n"),
        "t.cf:2:8: error: unterminated quote: expected a closing ' before the end of the line"
    );
}

#[test]
fn blocks() {
    // The original closed an open block at the end of the file: a warning.
    let d = diags(&format!("{HEAD}virtual v {{\n address = 10.0.0.10 eth0\n"));
    assert_eq!(
        d,
        ["t.cf:4:1: warning: `virtual v` opened at t.cf:2:1 is not closed with `}`: it ends with the file (as in the original)"]
    );
    assert_eq!(
        error("server s {\n address = 10.0.0.1\n}\n"),
        "t.cf:2:1: error: `server` outside a `virtual` block: a real server belongs inside `virtual NAME { }`"
    );
    assert_eq!(
        error("virtual {\n}\n"),
        "t.cf:2:9: error: expected a name after `virtual`, e.g. `virtual web {`"
    );
    assert_eq!(
        error("virtual v\n address = 10.0.0.10 eth0\n}\n"),
        "t.cf:2:10: error: expected `{` after `virtual v`"
    );
    // A forgotten `}` is reported where the next block starts, then parsing goes on.
    assert_eq!(
        error("virtual a {\n address = 10.0.0.10 eth0\nvirtual b {\n address = 10.0.0.11 eth0\n}\n"),
        "t.cf:4:1: error: expected `}` to close `virtual a` opened at t.cf:2:1 before this `virtual`"
    );
    // Keys inside a misplaced block are not reported again.
    assert_eq!(
        diags("primary = 10.0.0.1\nserver s {\n nonsense = 1\n}\n").len(),
        1
    );
}

#[test]
fn duplicates() {
    assert_eq!(
        error("virtual a {\n address = 10.0.0.10 eth0\n}\nvirtual a {\n address = 10.0.0.11 eth0\n}\n"),
        "t.cf:5:9: error: duplicate virtual server name `a`: first defined at t.cf:2:9"
    );
    assert_eq!(
        error("virtual a {\n address = 10.0.0.10 eth0\n server s {\n  address = 10.1.0.1\n }\n server s {\n  address = 10.1.0.2\n }\n}\n"),
        "t.cf:7:9: error: duplicate real server name `s` in `virtual a`: first defined at t.cf:4:9"
    );
    // A repeated key: the last one wins, as in the original, with a warning naming both.
    let p = parse(
        "t.cf",
        format!("{HEAD}keepalive = 1\nkeepalive = 2\ndeadtime = 9\n").as_bytes(),
    )
    .unwrap();
    assert_eq!(p.config.keepalive, Duration::from_secs(2));
    assert_eq!(
        p.warnings[0].to_string(),
        "t.cf:3:1: warning: `keepalive` is set again: this value replaces the one at t.cf:2:1 (the last one wins, as in the original)"
    );
    assert_eq!(
        error("virtual a {\n active = 1\n address = 10.0.0.10 eth0\n}\nvirtual b {\n active = 1\n address = 10.0.0.10 eth0\n}\n"),
        "t.cf:6:9: error: virtual server `b` is the same IPVS service as `a` (same VIP, protocol and port): the kernel holds one"
    );
}

#[test]
fn missing_things() {
    let d = diags("keepalive = 6\ndeadtime = 18\n");
    assert_eq!(
        d,
        ["t.cf:1:1: error: `primary` is required: the public IP address of the primary router (the file is incomplete: a director cannot run it)"]
    );
    assert_eq!(
        error("virtual web {\n port = 80\n}\n"),
        "t.cf:2:9: error: virtual server `web` has no `address`: expected `address = VIP DEVICE` (the file is incomplete: a director cannot run it)"
    );
    assert_eq!(
        error("virtual web {\n address = 10.0.0.10\n}\n"),
        "t.cf:3:12: error: address: missing device: expected `IP DEVICE`, e.g. `10.0.0.10 eth0:1`"
    );
    assert_eq!(
        error("virtual v {\n address = 10.0.0.10 eth0\n server s {\n  weight = 1\n }\n}\n"),
        "t.cf:4:9: error: real server `s` has no `address`: expected `address = IP` (the file is incomplete: a director cannot run it)"
    );
}

#[test]
fn validation() {
    // Piranha ran these: warnings that say what happens.
    let w = |src: &str| -> Vec<String> {
        let p = parse("t.cf", format!("{HEAD}{src}").as_bytes()).unwrap();
        p.warnings.iter().map(|d| d.to_string()).collect()
    };
    assert_eq!(
        w("keepalive = 6\ndeadtime = 6\n"),
        ["t.cf:3:12: warning: deadtime (6) is not greater than keepalive (6): a partner that is alive is declared dead between two of its heartbeats, and the backup takes over while the primary still serves (Piranha ran such files too); make deadtime several keepalives"]
    );
    let v = "virtual v {\n address = 10.0.0.10 eth0\n";
    assert_eq!(
        w(&format!("{v} timeout = 10\n reentry = 9.5\n}}\n")),
        ["t.cf:5:12: warning: reentry (9.5) is less than timeout (10): a failed real server is readmitted after its first successful check (Piranha ran such files too)"]
    );
    assert_eq!(
        error(&format!("{v} send_program = /bin/check %h\n}}\n")),
        "t.cf:4:17: error: send_program needs `expect` (the output it must print)"
    );
    assert_eq!(
        error(&format!(
            "{v} scheduler = rr\n scheduler_flags = sh-port\n}}\n"
        )),
        "t.cf:5:20: error: scheduler flag `sh-port` only applies to scheduler sh, not rr"
    );
    assert!(error(&format!(
        "{v} expect = \"HTTP/1\\.[01\"\n use_regex = 1\n}}\n"
    ))
    .starts_with("t.cf:4:11: error: expect is not a valid regular expression"));
    assert_eq!(
        error("heartbeat_protocol = v2\n"),
        "t.cf:2:22: error: heartbeat_protocol = v2 needs `heartbeat_key_file` (the shared key)"
    );
    assert_eq!(
        error(&format!("{v} server s {{\n  address = fd00::1\n }}\n}}\n")),
        "t.cf:5:13: error: real server fd00::1 and VIP 10.0.0.10 are of different IP families: only network = tunnel allows that"
    );
    // Rejected statements are not reported a second time by validation.
    assert_eq!(diags("primary = 10.0.0\n").len(), 1);
}

#[test]
fn an_empty_value_keeps_the_default_with_a_warning() {
    let p = parse("t.cf", b"primary = 10.0.0.1\nkeepalive =\nbackup=\n").unwrap();
    assert_eq!(p.config.keepalive, Duration::from_secs(2));
    assert_eq!(p.config.backup, None);
    let w: Vec<_> = p.warnings.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        w,
        [
            "t.cf:2:12: warning: `keepalive` has no value: it keeps its default (2)",
            "t.cf:3:8: warning: `backup` has no value: it stays unset",
        ]
    );
    // Still a statement: a second one replaces it.
    let p = parse("t.cf", b"primary = 10.0.0.1\nkeepalive =\nkeepalive = 1\n").unwrap();
    assert!(
        p.warnings[1].message.contains("is set again"),
        "{:?}",
        p.warnings
    );
}

#[test]
fn warnings_do_not_reject() {
    let p = parse("t.cf", b"primary = 10.0.0.1\nbackup_active = 1\nvirtual v {\n address = 10.0.0.10 eth0\n pmask = 255.255.255.0\n}\n").unwrap();
    let w: Vec<_> = p.warnings.iter().map(|d| d.to_string()).collect();
    assert_eq!(w, [
        "t.cf:2:17: warning: backup_active = 1 but no `backup` address: heartbeats have nowhere to go",
        "t.cf:5:10: warning: pmask has no effect without `persistent`",
    ]);
}

#[test]
fn absurd_timing_is_warned_about_not_refused() {
    let w = |src: &str| -> Vec<String> {
        let p = parse("t.cf", src.as_bytes()).unwrap();
        p.warnings.iter().map(|d| d.to_string()).collect()
    };
    let fast = w("primary = 10.0.0.1\nkeepalive = 0.005\ndeadtime = 0.05\n");
    assert_eq!(fast.len(), 1, "{fast:?}");
    assert!(
        fast[0].starts_with("t.cf:2:13: warning: keepalive (0.005) is below 0.01"),
        "{fast:?}"
    );
    let slow = w("primary = 10.0.0.1\nkeepalive = 120\ndeadtime = 600\n");
    assert_eq!(slow.len(), 2, "{slow:?}");
    assert!(slow[0].contains("keepalive (120) is above 60"), "{slow:?}");
    assert!(slow[1].contains("deadtime (600) is above 300"), "{slow:?}");
    // The edges and the usual values pass quietly.
    assert!(w("primary = 10.0.0.1\nkeepalive = 0.01\ndeadtime = 300\n").is_empty());
    assert!(w("primary = 10.0.0.1\nkeepalive = 60\ndeadtime = 300\n").is_empty());
    assert!(w("primary = 10.0.0.1\nkeepalive = 6\ndeadtime = 18\n").is_empty());
}

#[test]
fn invalid_utf8_is_a_positioned_error() {
    let d = diags("primary = 10.0.0.1\nbackup = 10.0\u{e9}.0.2\n");
    assert!(
        d.is_empty() || d[0].contains("address"),
        "valid UTF-8 is not the problem: {d:?}"
    );
    let src = b"primary = 10.0.0.1\nbackup = ab\xff\xfe\n";
    let e = parse("t.cf", src).unwrap_err();
    assert_eq!(e.to_string(), "t.cf:2:12: error: invalid UTF-8: lvs.cf must be text (ASCII or UTF-8); this line is skipped\n");
}

#[test]
fn all_errors_are_reported_in_order() {
    let e = parse(
        "t.cf",
        b"primary = x!\nkeepalive = y\nvirtual v {\n port = 99999\n}\n",
    )
    .unwrap_err();
    let lines: Vec<_> = e
        .to_string()
        .lines()
        .map(|l| l.split(": error").next().unwrap().to_string())
        .collect();
    assert_eq!(lines, ["t.cf:1:11", "t.cf:2:13", "t.cf:3:9", "t.cf:4:9"]);
}

#[test]
fn garbage_is_bounded() {
    let src = "zz = 1\n".repeat(10_000);
    let e = parse("t.cf", src.as_bytes()).unwrap_err();
    assert_eq!(e.0.len(), parse::MAX_DIAGNOSTICS + 1);
    assert!(e.0.last().unwrap().message.contains("too many"));
}

// ---- the writer ----

#[test]
fn format_is_a_fixed_point_and_keeps_meaning() {
    let src = "# the routers\nprimary=10.0.0.1\r\nkeepalive = 0.25\ndeadtime = 1 # quick\n\
        virtual web { # main site\n address = 10.0.0.10 eth0:1\n\t# check the page\n send = \"GET /\\r\\n\"\n\
        expect = HTTP\n server a {\n  address = 10.1.0.1\n  # spare\n }\n # end of web\n}\n# bye\n";
    let first = parse("t.cf", src.as_bytes()).unwrap().config;
    let text = format(&first);
    let second = parse("t.cf", text.as_bytes()).unwrap().config;
    assert_eq!(first, second);
    assert_eq!(format(&second), text);
    assert_eq!(
        text,
        "# the routers\nserial_no = 0\nprimary = 10.0.0.1\nservice = lvs\nbackup_active = 0\nheartbeat_port = 539\n\
         keepalive = 0.25\n# quick\ndeadtime = 1\nnetwork = nat\nmonitor_links = 0\nsyncdaemon = 0\n# main site\nvirtual web {\n     active = 0\n\
         \x20    address = 10.0.0.10 eth0:1\n     port = 80\n     # check the page\n     send = \"GET /\\r\\n\"\n\
         \x20    expect = \"HTTP\"\n     use_regex = 0\n     load_monitor = none\n     scheduler = wlc\n\
         \x20    protocol = tcp\n     timeout = 10\n     reentry = 180\n     quiesce_server = 0\n     server a {\n         address = 10.1.0.1\n\
         \x20        active = 0\n         weight = 1\n         # spare\n     }\n     # end of web\n}\n# bye\n"
    );
}

#[test]
fn a_key_set_to_its_default_is_dropped_unless_essential_or_commented() {
    let c = ok("syncd_id = 0\n# keep me\nhard_shutdown = 1\n");
    let text = format(&c);
    assert!(!text.contains("syncd_id"), "{text}");
    assert!(text.contains("# keep me\nhard_shutdown = 1\n"), "{text}");
}

#[test]
fn odd_strings_and_names_round_trip() {
    let mut c = LvsConfig {
        primary: Some(ip("10.0.0.1")),
        ..LvsConfig::default()
    };
    let mut v = VirtualServer::new("we b{}=\"'\\");
    v.address = Some(Vip {
        ip: ip("10.0.0.10"),
        device: "eth0".into(),
    });
    v.send = Some("a\"b'c\\d\r\n\t #x".into());
    v.expect = Some(String::new());
    c.virtuals.push(v);
    c.rsh_command = "ssh -o BatchMode=yes".into();
    let text = format(&c);
    let back = parse("t.cf", text.as_bytes())
        .unwrap_or_else(|e| panic!("{text}\n{e}"))
        .config;
    assert_eq!(back, c);
    assert_eq!(format(&back), text);
}

#[test]
fn the_reference_example_parses() {
    let src = include_str!("../../../examples/lvs.cf");
    let p = parse("examples/lvs.cf", src.as_bytes()).unwrap();
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    assert_eq!(p.config.virtuals.len(), 2);
    assert_eq!(p.config.real_server_count(), 5);
    assert_eq!(format(&p.config), src, "the example is in canonical form");
}

// ---- what the original's lvsconfig.c accepts ----

#[test]
fn keys_of_the_original_are_accepted_and_round_trip() {
    let src = "primary_shared = /dev/sdb1\nbackup_shared = /dev/sdb1\nreservation_conflict_action = preempt\nsync = 0x1\nmonitor_links = 2\n\
               virtual v {\n address = 10.0.0.10 eth0\n client_monitor = /usr/sbin/nanny\n start_cmd = \"/etc/init.d/httpd start\"\n stop_cmd = /bin/true\n master = lvs1\n dirs = [ /var/www /etc/httpd ]\n load_monitor = ssh\n}\n";
    let c = ok(src);
    assert_eq!(c.primary_shared.as_deref(), Some("/dev/sdb1"));
    assert_eq!(c.reservation_conflict_action, Some(ConflictAction::Preempt));
    assert!(c.sync && c.monitor_links);
    let v = &c.virtuals[0];
    assert_eq!(v.client_monitor.as_deref(), Some("/usr/sbin/nanny"));
    assert_eq!(v.start_cmd.as_deref(), Some("/etc/init.d/httpd start"));
    assert_eq!(v.master.as_deref(), Some("lvs1"));
    assert_eq!(v.dirs, ["/var/www", "/etc/httpd"]);
    assert_eq!(v.load_monitor, LoadMonitor::Ssh);
    let text = format(&c);
    for k in [
        "primary_shared",
        "reservation_conflict_action = preempt",
        "sync = 1",
        "dirs = [ /var/www /etc/httpd ]",
        "master = lvs1",
    ] {
        assert!(text.contains(k), "{k}\n{text}");
    }
    assert_eq!(parse("t.cf", text.as_bytes()).unwrap().config, c);
    let p = parse("t.cf", format!("{HEAD}{src}").as_bytes()).unwrap();
    let w: Vec<_> = p.warnings.iter().map(|d| d.message.clone()).collect();
    assert!(
        w.iter()
            .any(|m| m.contains("`monitor_links = 2` is taken as 1")),
        "{w:#?}"
    );
    assert!(
        w.iter().any(|m| m.contains("set `rsh_command = ssh`")),
        "{w:#?}"
    );
    assert!(
        w.iter()
            .any(|m| m.starts_with("`primary_shared` is accepted")),
        "{w:#?}"
    );
    // Still refused as by the original.
    assert!(
        error("reservation_conflict_action = maybe\n").contains("expected one of nothing preempt")
    );
    assert!(
        error("virtual v {\n address = 10.0.0.10 eth0\n dirs = /var/www\n}\n")
            .contains("expected a list")
    );
}

#[test]
fn any_load_monitor_word_is_kept() {
    let v = virt(" load_monitor = /usr/local/bin/getload\n");
    assert_eq!(v.load_monitor, LoadMonitor::None);
    assert_eq!(
        v.load_monitor_program.as_deref(),
        Some("/usr/local/bin/getload")
    );
    let mut c = ok("");
    c.virtuals.push(v);
    let text = format(&c);
    assert!(
        text.contains("load_monitor = /usr/local/bin/getload\n"),
        "{text}"
    );
    assert_eq!(parse("t.cf", text.as_bytes()).unwrap().config, c);
}

#[test]
fn failover_blocks_take_every_virtual_key() {
    let src = "service = fos\nfailover ftp {\n active = 1\n address = 10.0.0.20 eth0:2\n vip_nmask = 255.255.255.0\n reentry = 60\n scheduler = rr\n port = 21\n}\n";
    let p = parse("t.cf", format!("{HEAD}{src}").as_bytes()).unwrap();
    let f = &p.config.failovers[0];
    assert_eq!(
        f.extra.get("vip_nmask").map(String::as_str),
        Some("255.255.255.0")
    );
    assert_eq!(f.extra.get("reentry").map(String::as_str), Some("60"));
    assert!(p.warnings.iter().any(|d| d
        .message
        .starts_with("`reentry` has no effect in a `failover` block")));
    let text = format(&p.config);
    assert!(
        text.contains("     vip_nmask = 255.255.255.0\n     scheduler = rr\n     reentry = 60\n"),
        "{text}"
    );
    let back = parse("t.cf", text.as_bytes()).unwrap().config;
    assert_eq!(back, p.config);
    assert_eq!(format(&back), text);
    // With service = lvs too, and values are still checked.
    assert!(error("failover f {\n reentry = soon\n}\n").contains("reentry: expected seconds"));
}

#[test]
fn host_names_are_kept_and_resolved_only_when_asked() {
    let src = b"primary = lvs1.example.com\nbackup = lvs2\nbackup_active = 1\nvirtual v {\n active = 1\n address = www.example.com eth0:1\n server s {\n  address = web1\n  active = 1\n }\n}\n";
    let p = parse("t.cf", src).unwrap();
    assert_eq!(p.config.primary, None);
    assert_eq!(
        p.config.host_names.primary.as_deref(),
        Some("lvs1.example.com")
    );
    assert_eq!(p.config.unresolved_host_names().len(), 4);
    let text = format(&p.config);
    assert!(
        text.contains("primary = lvs1.example.com\n")
            && text.contains("address = www.example.com eth0:1\n")
            && text.contains("address = web1\n"),
        "{text}"
    );
    let table = |n: &str| -> Result<IpAddr, String> {
        match n {
            "lvs1.example.com" => Ok(ip("192.168.0.1")),
            "lvs2" => Ok(ip("192.168.0.2")),
            "www.example.com" => Ok(ip("192.168.0.10")),
            "web1" => Ok(ip("10.1.0.1")),
            _ => Err("Name or service not known".into()),
        }
    };
    let opts = Options {
        resolve: Some(&table),
        allow_incomplete: false,
    };
    let r = parse_with("t.cf", src, &opts).unwrap().config;
    assert_eq!(r.primary, Some(ip("192.168.0.1")));
    assert_eq!(
        r.virtuals[0].address.as_ref().unwrap().ip,
        ip("192.168.0.10")
    );
    assert_eq!(r.virtuals[0].servers[0].address, Some(ip("10.1.0.1")));
    assert!(r.unresolved_host_names().is_empty());
    // The writer keeps the names.
    assert_eq!(format(&r), text);
    let e = parse_with("t.cf", b"primary = nowhere\n", &opts).unwrap_err();
    assert_eq!(
        e.to_string(),
        "t.cf:1:11: error: cannot resolve host name `nowhere`: Name or service not known\n"
    );
    // sorry_server took an address only, in the original too.
    assert!(
        error("virtual v {\n address = 10.0.0.10 eth0\n sorry_server = web9\n}\n")
            .contains("expected an IPv4 or IPv6 address")
    );
}

#[test]
fn incomplete_files_load_for_editing_only() {
    let src = b"keepalive = 1\nvirtual web {\n port = 80\n server a {\n  weight = 2\n }\n}\n";
    assert!(parse("t.cf", src).is_err());
    let opts = Options {
        resolve: None,
        allow_incomplete: true,
    };
    let p = parse_with("t.cf", src, &opts).unwrap();
    let w: Vec<_> = p.warnings.iter().map(|d| d.to_string()).collect();
    assert_eq!(w.len(), 3, "{w:#?}");
    assert!(
        w[0].starts_with("t.cf:1:1: warning: `primary` is required")
            && w[0].ends_with("(the file is incomplete: `piranha check` and `pulse` refuse it)"),
        "{w:#?}"
    );
    let text = format(&p.config);
    assert_eq!(
        parse_with("t.cf", text.as_bytes(), &opts).unwrap().config,
        p.config
    );
}

#[test]
fn a_private_path_with_one_address_is_a_warning() {
    let p = parse(
        "t.cf",
        b"primary = 10.0.0.1\nbackup = 10.0.0.2\nbackup_private = 10.9.0.2\n",
    )
    .unwrap();
    assert!(
        p.warnings[0]
            .message
            .starts_with("`backup_private` alone is unused"),
        "{:?}",
        p.warnings
    );
}

#[test]
fn check_and_pulse_agree_on_a_lone_backup_private() {
    // check warns that the private path is unused; pulse runs without it (no error).
    let src = b"primary = 10.0.0.1\nbackup = 10.0.0.2\nbackup_active = 1\nbackup_private = 10.9.0.2\nvirtual v {\n active = 1\n address = 10.0.0.10 eth0\n}\n";
    let p = parse("t.cf", src).unwrap();
    assert!(p
        .warnings
        .iter()
        .any(|w| w.message.contains("alone is unused")));
    let dc = crate::director::DirectorConfig::from_lvs_cf(&p.config, None);
    assert!(dc.is_ok(), "{dc:?}");
}

#[test]
fn server_blocks_in_a_failover_block_are_kept() {
    let src = b"primary = 10.0.0.1\nservice = fos\nfailover f {\n active = 1\n address = 10.0.0.10 eth0\n server a {\n  address = web1\n  weight = 2\n }\n}\n";
    let p = parse("t.cf", src).unwrap();
    let f = &p.config.failovers[0];
    assert_eq!(f.servers.len(), 1);
    assert_eq!(f.servers[0].weight, 2);
    assert!(p.warnings.iter().any(|w| w
        .message
        .starts_with("a `server` block has no effect in a `failover` block")));
    let text = format(&p.config);
    assert!(
        text.contains("     server a {\n         address = web1\n"),
        "{text}"
    );
    let back = parse("t.cf", text.as_bytes()).unwrap().config;
    assert_eq!(back, p.config);
    assert_eq!(format(&back), text);
}

#[test]
fn scale_out_keys_default_off_and_parse() {
    let c = ok("");
    assert_eq!(c.scale_out, ScaleOut::None);
    assert_eq!(c.bird_socket, "/run/bird/bird.ctl");
    assert_eq!(c.drain_timeout, Duration::from_secs(30));
    let c = ok("scale_out = bgp\nbird_socket = /run/bird/d1.ctl\ndrain_timeout = 2.5\n");
    assert_eq!(c.scale_out, ScaleOut::Bgp);
    assert_eq!(c.bird_socket, "/run/bird/d1.ctl");
    assert_eq!(c.drain_timeout, Duration::from_millis(2500));
    assert_eq!(
        error("scale_out = ospf\n"),
        "t.cf:2:13: error: scale_out: expected one of none bgp, found `ospf`"
    );
}
