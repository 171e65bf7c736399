//! The other real-networking behaviours: `send-arp` moves a client's ARP entry, the control
//! socket drains/enables and reloads, SIGHUP with a broken lvs.cf keeps the old one, and a
//! witness-arbitrated pair still fails over. Same topology as netns_failover.

mod netns_support;

use std::process::{Command, Stdio};
use std::time::Duration;

use netns_support::{skip, Router, Topology, CLIENT, SERIAL, VIP};

fn lock() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn piranha(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_piranha"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn send_arp_rewrites_the_clients_entry() {
    if skip() {
        return;
    }
    let _g = lock();
    let t = Topology::new("netns_tools_arp");
    let cl = t.ns("cl");
    let ip = "10.77.0.77";
    let ok = Command::new("ip")
        .args([
            "-n",
            &cl,
            "neigh",
            "add",
            ip,
            "lladdr",
            "02:00:00:00:00:01",
            "dev",
            "eth0",
        ])
        .args(["nud", "stale"])
        .status()
        .unwrap();
    assert!(ok.success());
    let status = Command::new("ip")
        .args(["netns", "exec", &t.ns("r1")])
        .arg(env!("CARGO_BIN_EXE_piranha"))
        .args([
            "send-arp",
            "-i",
            "eth0",
            ip,
            "020000000002",
            "10.77.0.255",
            "ffffffffffff",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        t.wait_for(Duration::from_secs(2), |t| {
            let out = Command::new("ip")
                .args(["-n", &t.ns("cl"), "neigh", "show", ip])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).contains("02:00:00:00:00:02")
        }),
        "the client did not take the gratuitous reply"
    );
    // Arguments are checked before anything is sent.
    let bad = piranha(&["send-arp", ip, "nothex", ip, "ffffffffffff"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn drain_enable_reload_and_a_broken_sighup() {
    if skip() {
        return;
    }
    let _g = lock();
    let mut t = Topology::new("netns_tools_ctl");
    let cf = t.write_config("lvs.cf", "");
    t.steady_pair(&cf);
    let sock = t.control_socket(Router::Primary);
    let sock = sock.to_str().unwrap();
    let out = piranha(&["drain", "web", "s1", "--control-socket", sock]);
    assert!(out.status.success(), "{out:?}");
    let status = t.status_json(Router::Primary);
    assert!(status.contains(r#""drained":true"#), "{status}");
    let out = piranha(&["drain", "web", "nope", "--control-socket", sock]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no real server"));
    let out = piranha(&["enable", "web", "s1", "--control-socket", sock]);
    assert!(out.status.success());
    assert!(t
        .status_json(Router::Primary)
        .contains(r#""drained":false"#));
    // The human table names the real server.
    let table = piranha(&["status", "--control-socket", sock]);
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    assert!(table.contains("role primary (active)"), "{table}");
    assert!(table.contains(&format!("{CLIENT}:80")), "{table}");

    // A broken file on SIGHUP: logged with its position, the old configuration keeps running.
    std::fs::write(&cf, "serial_no = 2\nprimary = nonsense\n").unwrap();
    let pid = t.pid(Router::Primary);
    netns_support::signal(pid, nix::sys::signal::Signal::SIGHUP);
    assert!(t.wait_for(Duration::from_secs(3), |t| t
        .log(Router::Primary)
        .contains("reload refused")));
    let log = t.log(Router::Primary);
    assert!(log.contains("lvs.cf:2:"), "no FILE:LINE:COL in\n{log}");
    assert!(t.holds_vip(Router::Primary));
    assert!(t.status_json(Router::Primary).contains(r#""serial_no":1"#));
    // A valid file through the control socket: a second virtual server appears.
    let extra = "virtual dns {\n    active = 1\n    address = 10.77.0.53 eth0:2\n    port = 53\n    protocol = udp\n    timeout = 1\n    server d1 {\n        address = 10.77.0.100\n        active = 1\n    }\n}\n";
    let good = std::fs::read_to_string(t.write_config("lvs2.cf", ""))
        .unwrap()
        .replace("serial_no = 1", "serial_no = 2")
        + extra;
    std::fs::write(&cf, good).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_piranha"))
        .args(["status", "--json", "--control-socket", sock])
        .output()
        .unwrap();
    assert!(out.status.success());
    let reply =
        netns_support::control_request(&t.control_socket(Router::Primary), r#"{"cmd":"reload"}"#);
    assert!(reply.contains(r#""result":"ok""#), "{reply}");
    let status = t.status_json(Router::Primary);
    assert!(status.contains(r#""serial_no":2"#), "{status}");
    assert!(status.contains(r#""name":"dns""#), "{status}");
    assert!(
        t.wait_for(Duration::from_secs(2), |t| {
            let out = Command::new("ip")
                .args(["-n", &t.ns("r1"), "-o", "addr", "show", "dev", "eth0"])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).contains("10.77.0.53/")
        }),
        "the new VIP did not come up"
    );
}

#[test]
fn witness_arbitrated_pair_fails_over() {
    if skip() {
        return;
    }
    let _g = lock();
    let mut t = Topology::new("netns_tools_wit");
    let key = t.dir.join("key");
    std::fs::write(&key, "witness test key\n").unwrap();
    let log = std::fs::File::create(t.dir.join("witness.log")).unwrap();
    let witness = Command::new("ip")
        .args(["netns", "exec", &t.ns("cl")])
        .arg(env!("CARGO_BIN_EXE_piranha"))
        .args([
            "witness",
            "--listen",
            &format!("{CLIENT}:5390"),
            "--max-lease",
            "0.5",
            "--key-file",
        ])
        .arg(&key)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    t.adopt(witness);
    let cf = t.write_config(
        "lvs.cf",
        &format!(
            "heartbeat_key_file = {}\narbiter = {CLIENT}:5390\n",
            key.display()
        ),
    );
    std::thread::sleep(Duration::from_millis(600));
    t.steady_pair(&cf);
    let backup_mac = t.mac(Router::Backup);
    t.kill(Router::Primary);
    assert!(
        t.vip_moved_to(&backup_mac, Duration::from_secs(5))
            .is_some(),
        "{}",
        t.log(Router::Backup)
    );
    let wlog = std::fs::read_to_string(t.dir.join("witness.log")).unwrap();
    assert!(wlog.contains("lease granted to node 1"), "{wlog}");
    assert!(wlog.contains("lease granted to node 2"), "{wlog}");
    let _ = VIP;
}

#[test]
fn role_comes_from_the_nodes_addresses() {
    if skip() {
        return;
    }
    let _g = lock();
    let mut t = Topology::new("netns_tools_role");
    let cf = t.write_config("lvs.cf", "");
    t.start_with(Router::Primary, &cf, false);
    t.start_with(Router::Backup, &cf, false);
    assert!(t.wait_for(Duration::from_secs(5), |t| t.holds_vip(Router::Primary)));
    assert!(t.log(Router::Primary).contains("pulse started as Primary"));
    assert!(t.log(Router::Backup).contains("pulse started as Backup"));
    // The client holds neither address: it refuses to guess.
    let out = Command::new("ip")
        .args(["netns", "exec", &t.ns("cl")])
        .arg(env!("CARGO_BIN_EXE_piranha"))
        .args(["pulse", "--no-ipvs", "-c"])
        .arg(&cf)
        .arg("--control-socket")
        .arg(t.dir.join("cl.sock"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("neither the primary nor the backup"), "{err}");
}

#[test]
fn lone_router_takes_over_after_deadtime_without_hearing_itself() {
    if skip() {
        return;
    }
    let _g = lock();
    let mut t = Topology::new("netns_tools_lone");
    let cf = t.dir.join("lone.cf");
    let pair = std::fs::read_to_string(t.write_config("pair.cf", "")).unwrap();
    let lone: String = pair
        .lines()
        .filter(|l| {
            !(l.starts_with("backup") || l.starts_with("primary_private"))
                || l.starts_with("backup_active")
        })
        .map(|l| {
            if l.starts_with("backup_active") {
                "backup_active = 0\n".to_string()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert!(!lone.contains("backup ="), "{lone}");
    std::fs::write(&cf, lone).unwrap();
    t.start(Router::Primary, &cf);
    assert!(t.wait_for(Duration::from_secs(5), |t| t.holds_vip(Router::Primary)));
    let log = t.log(Router::Primary);
    assert!(log.contains("took over: PeerDead(Deadtime)"), "{log}");
    assert!(!log.contains("heartbeat rejected"), "{log}");
}
