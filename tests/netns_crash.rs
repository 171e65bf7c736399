//! What a crashed or stuck daemon leaves behind, on real networking (network namespaces):
//! systemd's watchdog is petted from the heartbeat loop (and no longer once the loop stops), and
//! `piranha release` (the unit's `ExecStopPost`) removes the VIPs a killed daemon left up, but
//! never while a daemon answers on the control socket.

mod netns_support;

use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use netns_support::{signal, skip, Router, Topology, SERIAL};

/// Kills the daemon if the test fails half-way.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Every notification that arrives within `window`.
fn notifications(sock: &UnixDatagram, window: Duration) -> Vec<(Instant, String)> {
    let until = Instant::now() + window;
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while Instant::now() < until {
        sock.set_read_timeout(Some(
            until
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
        ))
        .unwrap();
        if let Ok(n) = sock.recv(&mut buf) {
            got.push((
                Instant::now(),
                String::from_utf8_lossy(&buf[..n]).into_owned(),
            ));
        }
    }
    got
}

#[test]
fn watchdog_stops_with_the_loop_and_release_cleans_up_after_a_kill() {
    if skip() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t = Topology::new("netns_crash");
    let cf = t.write_config("lvs.cf", "");
    let notify_path = t.dir.join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    let sock = t.control_socket(Router::Primary);
    let log = std::fs::File::create(t.dir.join("primary.log")).unwrap();
    let mut daemon = Daemon(
        Command::new("ip")
            .args(["netns", "exec", &t.ns("r1")])
            .arg(env!("CARGO_BIN_EXE_piranha"))
            .args(["pulse", "--no-ipvs", "--role", "primary", "-c"])
            .arg(&cf)
            .arg("--control-socket")
            .arg(&sock)
            .env("NOTIFY_SOCKET", &notify_path)
            .env("WATCHDOG_USEC", "300000")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let pid = daemon.0.id();

    // READY=1, then WATCHDOG=1 every 100 ms (a third of 300 ms) from the loop.
    let got = notifications(&notify, Duration::from_millis(1500));
    assert!(got.iter().any(|(_, m)| m.contains("READY=1")), "{got:?}");
    let pets: Vec<Instant> = got
        .iter()
        .filter(|(_, m)| m.contains("WATCHDOG=1"))
        .map(|(at, _)| *at)
        .collect();
    assert!(pets.len() >= 5, "{got:?}");
    let widest = pets.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(
        widest < Duration::from_millis(300),
        "a gap of {widest:?} would trip the watchdog"
    );

    // A lone primary is active after deadtime: it holds the VIP.
    assert!(t.wait_for(Duration::from_secs(5), |t| t.holds_vip(Router::Primary)));
    let release = |force: bool| {
        Command::new("ip")
            .args(["netns", "exec", &t.ns("r1")])
            .arg(env!("CARGO_BIN_EXE_piranha"))
            .args(["release", "-c"])
            .arg(&cf)
            .arg("--control-socket")
            .arg(&sock)
            .args(if force { vec!["--force"] } else { vec![] })
            .output()
            .unwrap()
    };
    // While the daemon answers, release refuses and the VIP stays.
    let out = release(false);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("a daemon answers"),
        "{out:?}"
    );
    assert!(t.holds_vip(Router::Primary));

    // A stopped loop (SIGSTOP stands in for a stuck one) stops petting the watchdog.
    signal(pid, nix::sys::signal::Signal::SIGSTOP);
    let _ = notifications(&notify, Duration::from_millis(150));
    let quiet = notifications(&notify, Duration::from_millis(600));
    assert!(
        quiet.iter().all(|(_, m)| !m.contains("WATCHDOG")),
        "{quiet:?}"
    );
    signal(pid, nix::sys::signal::Signal::SIGCONT);

    // SIGKILL: the daemon cannot clean up; the kernel keeps the VIP (and answers ARP for it).
    let _ = daemon.0.kill();
    let _ = daemon.0.wait();
    assert!(
        t.holds_vip(Router::Primary),
        "a killed daemon leaves its VIP"
    );
    // ExecStopPost: the socket file is left but nobody answers, so release goes ahead.
    let out = release(false);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("released 10.77.0.50"),
        "{out:?}"
    );
    assert!(!t.holds_vip(Router::Primary));
    // Idempotent: nothing left to remove is not an error.
    assert!(release(false).status.success());
}
