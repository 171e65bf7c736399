//! Operations around the daemon (issue 16): Prometheus metrics scraped from a real
//! `piranha pulse --no-ipvs` pair in network namespaces, `piranha status --watch` output, man
//! pages and shell completions. The namespace tests need root (see tests/netns_support) and
//! print `SKIPPED: why` without it (a failure when `CI` is set); namespaces are named
//! `pr-ops-*`.

mod netns_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use netns_support::{skip, Router, Topology, SERIAL};

fn lock() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn piranha(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_piranha"))
        .args(args)
        .output()
        .expect("run piranha")
}

fn node(r: Router) -> &'static str {
    match r {
        Router::Primary => "r1",
        Router::Backup => "r2",
    }
}

/// Start `piranha pulse --no-ipvs --metrics-listen` (loopback, default port) in the router's
/// namespace, logging to `DIR/NODE.metrics.log`; returns its PID (the topology kills it).
fn start_with_metrics(t: &mut Topology, r: Router, cf: &Path, extra: &[&str]) -> u32 {
    let role = if r == Router::Primary {
        "primary"
    } else {
        "backup"
    };
    let log = std::fs::File::create(log_path(t, r)).unwrap();
    let child = Command::new("ip")
        .args(["netns", "exec", &t.ns(node(r))])
        .arg(env!("CARGO_BIN_EXE_piranha"))
        .args(["pulse", "--no-ipvs", "--role", role, "-c"])
        .arg(cf)
        .arg("--control-socket")
        .arg(t.control_socket(r))
        .args(extra)
        .arg("--metrics-listen")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("spawn piranha pulse");
    let pid = child.id();
    t.adopt(child);
    pid
}

fn log_path(t: &Topology, r: Router) -> PathBuf {
    t.dir.join(format!("{}.metrics.log", node(r)))
}

fn log(t: &Topology, r: Router) -> String {
    std::fs::read_to_string(log_path(t, r)).unwrap_or_default()
}

/// One `GET /metrics` from inside the router's namespace (bash's /dev/tcp, HTTP/1.0: the
/// server closes after the answer; `timeout` bounds it). The body, or "" when nobody answers.
fn scrape(t: &Topology, r: Router) -> String {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &t.ns(node(r)),
            "timeout",
            "5",
            "bash",
            "-c",
        ])
        .arg(
            "exec 3<>/dev/tcp/127.0.0.1/9539 && \
             printf 'GET /metrics HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && cat <&3",
        )
        .output()
        .expect("bash");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    match text.split_once("\r\n\r\n") {
        Some((head, body)) => {
            assert!(head.starts_with("HTTP/1.0 200"), "{head}");
            assert!(head.contains("application/openmetrics-text"), "{head}");
            body.to_string()
        }
        None => String::new(),
    }
}

/// The value of the sample `name{labels}` (exact label text), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let (s, v) = l.rsplit_once(' ')?;
        (s == series).then(|| v.parse().ok())?
    })
}

/// The sum of every sample of metric `name` whose labels contain `part`.
fn sum(text: &str, name: &str, part: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(s, _)| (s == &name || s.starts_with(&format!("{name}{{"))) && s.contains(part))
        .filter_map(|(_, v)| v.parse::<f64>().ok())
        .sum()
}

#[test]
fn metrics_follow_takeover_rejects_and_reload() {
    if skip() {
        return;
    }
    let _g = lock();
    let mut t = Topology::new("pr-ops-metrics");
    let key = t.dir.join("key");
    std::fs::write(&key, "the shared heartbeat key\n").unwrap();
    let keyed = format!("heartbeat_key_file = {}\n", key.display());
    let cf = t.write_config("lvs.cf", &keyed);
    let primary = start_with_metrics(&mut t, Router::Primary, &cf, &[]);
    start_with_metrics(&mut t, Router::Backup, &cf, &[]);
    assert!(
        t.wait_for(Duration::from_secs(5), |t| t.holds_vip(Router::Primary)),
        "primary never took the VIP:\n{}",
        log(&t, Router::Primary)
    );
    // Steady: the backup hears beats on both paths, is not active, took over nothing.
    assert!(
        t.wait_for(Duration::from_secs(5), |t| {
            let m = scrape(t, Router::Backup);
            sum(&m, "piranha_heartbeats_accepted_total", "path=\"public\"") > 0.0
                && sum(&m, "piranha_heartbeats_accepted_total", "path=\"private\"") > 0.0
        }),
        "no heartbeats counted:\n{}\n{}",
        scrape(&t, Router::Backup),
        log(&t, Router::Backup)
    );
    let m = scrape(&t, Router::Backup);
    assert_eq!(sample(&m, "piranha_active"), Some(0.0), "{m}");
    assert_eq!(
        sample(&m, "piranha_role{role=\"backup\"}"),
        Some(1.0),
        "{m}"
    );
    assert_eq!(sum(&m, "piranha_takeovers_total", ""), 0.0, "{m}");
    let m = scrape(&t, Router::Primary);
    assert_eq!(sample(&m, "piranha_active"), Some(1.0), "{m}");
    assert!(sum(&m, "piranha_takeovers_total", "") >= 1.0, "{m}");
    assert!(sum(&m, "piranha_ipvs_ops_applied_total", "") > 0.0, "{m}");
    assert!(
        m.contains(
            "piranha_real_server_weight{virtual_server=\"web\",server=\"s1\",address=\"10.77.0.100"
        ),
        "{m}"
    );

    // The primary dies: the backup's takeover counter and state follow.
    netns_support::signal(primary, nix::sys::signal::Signal::SIGKILL);
    assert!(
        t.wait_for(Duration::from_secs(5), |t| t.holds_vip(Router::Backup)),
        "backup never took over:\n{}",
        log(&t, Router::Backup)
    );
    assert!(
        t.wait_for(Duration::from_secs(3), |t| {
            let m = scrape(t, Router::Backup);
            sample(&m, "piranha_active") == Some(1.0)
                && sum(&m, "piranha_takeovers_total", "reason=\"peer_dead") == 1.0
        }),
        "takeover not counted:\n{}",
        scrape(&t, Router::Backup)
    );
    let m = scrape(&t, Router::Backup);
    assert!(sum(&m, "piranha_ipvs_ops_applied_total", "") > 0.0, "{m}");
    assert!(
        sum(&m, "piranha_ipvs_ops_total", "cause=\"change\"") > 0.0,
        "{m}"
    );
    assert_eq!(sum(&m, "piranha_ipvs_ops_refused_total", ""), 0.0, "{m}");

    // A broken lvs.cf is refused on reload, a good one taken: both counted.
    std::fs::write(&cf, "serial_no = 1\nprimary = nonsense\n").unwrap();
    netns_support::control_request(&t.control_socket(Router::Backup), r#"{"cmd":"reload"}"#);
    let m = scrape(&t, Router::Backup);
    assert_eq!(
        sample(&m, "piranha_reloads_total{result=\"refused\"}"),
        Some(1.0),
        "{m}"
    );
    let cf2 = t.write_config("lvs.cf", &keyed);
    assert_eq!(cf2, cf);
    netns_support::control_request(&t.control_socket(Router::Backup), r#"{"cmd":"reload"}"#);
    let m = scrape(&t, Router::Backup);
    assert_eq!(
        sample(&m, "piranha_reloads_total{result=\"ok\"}"),
        Some(1.0),
        "{m}"
    );
    assert!(m.ends_with("# EOF\n"), "{m}");

    // status --watch, not on a terminal: one frame per refresh, each after its header.
    let out = piranha(&[
        "status",
        "--watch",
        "--interval",
        "0.2",
        "--count",
        "2",
        "--control-socket",
        t.control_socket(Router::Backup).to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains('\x1b'),
        "no escape codes off a terminal: {text:?}"
    );
    assert_eq!(
        text.matches("Every 0.2s: piranha status").count(),
        2,
        "{text}"
    );
    assert!(
        text.contains("] [1]\n") || text.contains(") [1]\n"),
        "{text}"
    );
    assert_eq!(text.matches("role backup (active)").count(), 2, "{text}");

    // The primary comes back with another key: its beats are refused, counted by path and
    // reason on the backup.
    let other = t.dir.join("other-key");
    std::fs::write(&other, "not the same key\n").unwrap();
    let wrong = t.write_config(
        "wrong-key.cf",
        &format!("heartbeat_key_file = {}\n", other.display()),
    );
    start_with_metrics(&mut t, Router::Primary, &wrong, &[]);
    assert!(
        t.wait_for(Duration::from_secs(5), |t| {
            let m = scrape(t, Router::Backup);
            sum(
                &m,
                "piranha_heartbeats_rejected_total",
                "path=\"public\",reason=\"unauthenticated\"",
            ) > 0.0
                && sum(
                    &m,
                    "piranha_heartbeats_rejected_total",
                    "path=\"private\",reason=\"unauthenticated\"",
                ) > 0.0
        }),
        "refused beats not counted:\n{}\n{}",
        scrape(&t, Router::Backup),
        log(&t, Router::Primary)
    );
}

#[test]
fn status_watch_reports_an_absent_daemon_and_stops_at_count() {
    let out = piranha(&[
        "status",
        "--watch",
        "--interval",
        "0.1",
        "--count",
        "3",
        "--control-socket",
        "/nonexistent/pr-ops.sock",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.matches("cannot reach piranha pulse").count(),
        3,
        "{text}"
    );
    assert!(text.contains("[3]\n"), "{text}");
    let bad = piranha(&["status", "--watch", "--interval", "0.01"]);
    assert_eq!(
        bad.status.code(),
        Some(2),
        "an interval under 0.1 s is a usage error"
    );
    let bad = piranha(&["status", "--interval", "1"]);
    assert_eq!(bad.status.code(), Some(2), "--interval needs --watch");
}

#[test]
fn man_pages_cover_every_subcommand_and_every_lvs_cf_key() {
    let dir = std::env::temp_dir().join(format!("pr-ops-man-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = piranha(&["man", "--dir", dir.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let main = std::fs::read_to_string(dir.join("piranha.8")).unwrap();
    assert!(
        main.starts_with(".ie") || main.contains(".TH piranha 8"),
        "{main}"
    );
    for sub in [
        "check",
        "config",
        "pulse",
        "status",
        "drain",
        "enable",
        "send-arp",
        "witness",
        "gui",
        "passwd",
        "ipvs",
        "sim",
        "completions",
    ] {
        let page = dir.join(format!("piranha-{sub}.8"));
        let text = std::fs::read_to_string(&page).unwrap_or_else(|_| panic!("{page:?}"));
        assert!(text.contains(&format!(".TH piranha-{sub} 8")), "{sub}");
        let listed = format!("piranha\\-{}(8)", sub.replace('-', "\\-"));
        assert!(main.contains(&listed), "piranha(8) lists {sub}");
    }
    assert!(
        !dir.join("piranha-man.8").exists(),
        "the hidden man command has no page"
    );
    let cf = std::fs::read_to_string(dir.join("lvs.cf.5")).unwrap();
    assert!(cf.starts_with(".TH LVS.CF 5"));
    let keys = piranha_engine::config::key_docs();
    assert!(keys.len() > 50, "{}", keys.len());
    for k in &keys {
        let entry = format!(".TP\n.B {}\n", k.name.replace('-', "\\-"));
        assert!(
            cf.contains(&entry),
            "lvs.cf(5) lacks {} ({})",
            k.name,
            k.block
        );
    }
    // Every entry is a key of the table: nothing stale or invented.
    assert_eq!(cf.matches(".TP\n.B ").count(), keys.len());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn completions_for_each_shell() {
    for (shell, marker) in [
        ("bash", "_piranha()"),
        ("zsh", "#compdef piranha"),
        ("fish", "complete -c piranha"),
    ] {
        let out = piranha(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(marker), "{shell}: {text}");
        for sub in ["check", "pulse", "status", "send-arp"] {
            assert!(text.contains(sub), "{shell} completes {sub}");
        }
    }
    assert_eq!(piranha(&["completions", "tcsh"]).status.code(), Some(2));
}

const VIP6: &str = "fd00:77::50";

fn ip6_neigh_mac(t: &Topology, addr: &str) -> Option<String> {
    let out = Command::new("ip")
        .args(["-n", &t.ns("cl"), "-6", "neigh", "show", addr])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut words = text.split_whitespace();
    while let Some(w) = words.next() {
        if w == "lladdr" {
            return words.next().map(str::to_string);
        }
    }
    None
}

fn holds_vip6(t: &Topology, r: Router) -> bool {
    let out = Command::new("ip")
        .args([
            "-n",
            &t.ns(node(r)),
            "-6",
            "-o",
            "addr",
            "show",
            "dev",
            "eth0",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).contains(&format!("inet6 {VIP6}/"))
}

fn must(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An IPv6 VIP follows a takeover: the client's neighbour entry for it moves to the backup's
/// MAC, which only the backup's unsolicited neighbour advertisement can do (the kernel sends
/// none of its own on address add: `ndisc_notify` is off, and the VIP goes up `nodad`).
#[test]
fn ipv6_vip_neighbour_entry_follows_takeover() {
    if skip() {
        return;
    }
    let _g = lock();
    let mut t = Topology::new("pr-ops-ndp");
    for (n, a) in [
        ("r1", "fd00:77::1"),
        ("r2", "fd00:77::2"),
        ("cl", "fd00:77::100"),
    ] {
        must(&[
            "ip",
            "-n",
            &t.ns(n),
            "addr",
            "add",
            &format!("{a}/64"),
            "dev",
            "eth0",
            "nodad",
        ]);
    }
    let cf = t.dir.join("v6.cf");
    std::fs::write(
        &cf,
        format!(
            "serial_no = 1\nprimary = {p}\nprimary_private = {pp}\nbackup = {b}\n\
             backup_private = {bp}\nservice = lvs\nbackup_active = 1\nkeepalive = 0.1\n\
             deadtime = 0.3\nnetwork = direct\narp_count = 3\narp_interval = 0.2\n\
             virtual web6 {{\n    active = 1\n    address = {VIP6} eth0\n    vip_nmask = ffff:ffff:ffff:ffff::\n\
             \x20   port = 80\n    protocol = tcp\n    server s1 {{\n        address = fd00:77::100\n\
             \x20       active = 1\n        weight = 1\n    }}\n}}\n",
            p = netns_support::PRIMARY,
            pp = netns_support::PRIMARY_PRIVATE,
            b = netns_support::BACKUP,
            bp = netns_support::BACKUP_PRIVATE,
        ),
    )
    .unwrap();
    let primary = start_with_metrics(&mut t, Router::Primary, &cf, &[]);
    start_with_metrics(&mut t, Router::Backup, &cf, &[]);
    assert!(
        t.wait_for(Duration::from_secs(5), |t| holds_vip6(t, Router::Primary)),
        "primary never took the IPv6 VIP:\n{}",
        log(&t, Router::Primary)
    );
    let r2 = t.ns("r2");
    assert_eq!(
        must(&[
            "ip",
            "netns",
            "exec",
            &r2,
            "sysctl",
            "-n",
            "net.ipv6.conf.eth0.ndisc_notify"
        ])
        .trim(),
        "0"
    );
    let primary_mac = t.mac(Router::Primary);
    let backup_mac = t.mac(Router::Backup);
    assert!(
        t.wait_for(Duration::from_secs(5), |t| {
            let _ = Command::new("ip")
                .args(["netns", "exec", &t.ns("cl"), "bash", "-c"])
                .arg(format!("echo x > /dev/udp/{VIP6}/9"))
                .status();
            ip6_neigh_mac(t, VIP6).as_deref() == Some(primary_mac.as_str())
        }),
        "client never resolved {VIP6} to the primary: {:?}",
        ip6_neigh_mac(&t, VIP6)
    );
    let m = scrape(&t, Router::Backup);
    assert_eq!(sample(&m, "piranha_active"), Some(0.0), "{m}");

    let t0 = std::time::Instant::now();
    netns_support::signal(primary, nix::sys::signal::Signal::SIGKILL);
    assert!(
        t.wait_for(Duration::from_secs(5), |t| ip6_neigh_mac(t, VIP6)
            .as_deref()
            == Some(backup_mac.as_str())),
        "client's neighbour entry stayed {:?} (backup {backup_mac}):\n{}",
        ip6_neigh_mac(&t, VIP6),
        log(&t, Router::Backup)
    );
    println!(
        "SIGKILL -> client IPv6 neighbour entry on the backup: {:.1} ms",
        t0.elapsed().as_secs_f64() * 1000.0
    );
    assert!(holds_vip6(&t, Router::Backup));
    let addr = must(&["ip", "-n", &r2, "-6", "-o", "addr", "show", "dev", "eth0"]);
    let line = addr.lines().find(|l| l.contains(VIP6)).unwrap_or_default();
    assert!(
        line.contains(&format!("{VIP6}/64")) && line.contains("nodad"),
        "{line}"
    );
    assert!(!line.contains("tentative"), "{line}");
}

/// Ctrl-C (SIGINT) ends a watch promptly with status 0, between refreshes.
#[test]
fn status_watch_ends_cleanly_on_sigint() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_piranha"))
        .args([
            "status",
            "--watch",
            "--interval",
            "60",
            "--control-socket",
            "/nonexistent/pr-ops.sock",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait (bounded) for the first frame, so the signal lands while it sleeps.
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 5];
    std::io::Read::read_exact(&mut out, &mut first).unwrap();
    assert_eq!(&first, b"Every");
    netns_support::signal(child.id(), nix::sys::signal::Signal::SIGINT);
    let until = std::time::Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running 5 s after SIGINT");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(0));
}
