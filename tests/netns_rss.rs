//! Memory of one `piranha pulse` running 1,000 virtual servers × 10 real servers under health
//! checks (the issue's figure: ≤ 50 MB). The real servers are loopback addresses on closed
//! ports (127.1.x.y:port, connection refused at once), so 10,000 checks run for real.
//!
//! `sudo cargo test --release --test netns_rss -- --ignored --nocapture`
//! (SECONDS=N to run longer than the default 20 s).

mod netns_support;

use std::process::{Command, Stdio};
use std::time::Duration;

use netns_support::skip;

fn config(virtuals: usize, reals: usize) -> String {
    let mut s = String::from(
        "serial_no = 1\nprimary = 10.79.0.1\nservice = lvs\nbackup_active = 0\n\
         keepalive = 0.1\ndeadtime = 0.3\nnetwork = direct\n",
    );
    for v in 0..virtuals {
        s += &format!(
            "virtual v{v} {{\n    active = 1\n    address = 10.79.0.50 eth0\n    port = {}\n    protocol = tcp\n    timeout = 6\n    send = \"PING\\r\\n\"\n    expect = \"PONG\"\n",
            1000 + v
        );
        for r in 0..reals {
            s += &format!(
                "    server r{r} {{\n        address = 127.{}.{}.{}\n        active = 1\n        weight = 10\n    }}\n",
                1 + r,
                v / 250,
                v % 250 + 1
            );
        }
        s += "}\n";
    }
    s
}

fn status_field(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// utime + stime in clock ticks (100 per second).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    fields
        .get(11)
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0)
        + fields
            .get(12)
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0)
}

#[test]
#[ignore]
fn rss_with_1000_virtuals_times_10_real_servers() {
    if skip() {
        return;
    }
    let _g = netns_support::SERIAL
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let secs: u64 = std::env::var("SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let t = netns_support::Topology::new("netns_rss");
    let ns = t.ns("r1");
    let cf = t.dir.join("lvs.cf");
    std::fs::write(&cf, config(1000, 10)).unwrap();
    let ok = Command::new("ip")
        .args(["-n", &ns, "addr", "add", "10.79.0.1/24", "dev", "eth0"])
        .status()
        .unwrap();
    assert!(ok.success());
    let log = std::fs::File::create(t.dir.join("pulse.log")).unwrap();
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns])
        .arg(env!("CARGO_BIN_EXE_piranha"))
        .args(["pulse", "--no-ipvs", "-c"])
        .arg(&cf)
        .args(["--role", "primary", "--control-socket"])
        .arg(t.dir.join("rss.sock"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut samples = Vec::new();
    let mut ticks_half = 0;
    for i in 0..secs {
        if i == secs / 2 {
            ticks_half = cpu_ticks(pid);
        }
        std::thread::sleep(Duration::from_secs(1));
        if let Some(rss) = status_field(pid, "VmRSS:") {
            samples.push(rss);
        }
    }
    let hwm = status_field(pid, "VmHWM:").unwrap_or(0);
    let ticks = cpu_ticks(pid);
    let late = secs - secs / 2;
    let status = netns_support::control_request(&t.dir.join("rss.sock"), r#"{"cmd":"status"}"#);
    let down = status.matches(r#""health":"down""#).count();
    let _ = child.kill();
    let _ = child.wait();
    println!(
        "1000 virtuals x 10 real servers, {secs} s: VmRSS last {} KiB, VmHWM {hwm} KiB, CPU {:.1} s ({:.0}% overall, {:.0}% in the last {late} s), real servers down (refused): {down}",
        samples.last().copied().unwrap_or(0),
        ticks as f64 / 100.0,
        ticks as f64 / secs as f64,
        (ticks - ticks_half) as f64 / late as f64
    );
    assert!(down >= 9000, "health checks did not run: {down} down");
    assert!(hwm > 0 && hwm < 200 << 10);
}
