//! End to end, as a client sees it: in the kernel VM (tests/kernel/run.sh -e), two directors
//! run `piranha pulse` on their network namespace's real IPVS, a client namespace sends short
//! HTTP requests and keeps long-lived connections to the VIP, two real-server namespaces answer
//! (`piranha traffic`), in a NAT and a direct-routing topology; the active director is
//! stopped (SIGTERM), killed (SIGKILL), unplugged (host gone), a real server goes down and
//! back, the configuration is reloaded. Then the same run with Debian's keepalived 2.2.7 on
//! the same topologies, for the side-by-side figures. The cases: tests/kernel/e2e-guest.sh.
//!
//! Per fault the client (three loops of short requests) reports the outage (fault to the end of
//! the first success among requests started after the last failed one started: when an arriving
//! client is served again), `recover` (fault to the first success after the last failure
//! *ended*, which one request hung until its 500 ms bound stretches), the failed requests and the long-lived connections that survived; they are printed as a
//! table in every case. Asserted, for piranha: every fault ran and requests succeeded in its
//! window; the dead real server stops being scheduled within timeout × (retries + 1) + 100 ms
//! plus a margin for software emulation ([`MARGIN_MS`], `E2E_MARGIN_MS` overrides). No request
//! refused or reset across a graceful handover (hot standby), after a real server's return or
//! a reload, and the outage bounds of issue 11's goals (plus the margin), are
//! printed as met/missed, and asserted with `E2E_STRICT=1` (a quiet host, or KVM).
//! `E2E_PIRANHA=target/release/piranha` runs a release build instead of the test's debug one
//! (the figures in docs/BENCHMARKS.md).
//!
//! When the host cannot run the VM (no qemu, no apt access) the test prints `SKIPPED: <why>`;
//! with the `CI` environment variable set, that is a failure. Cache: as tests/kernel_ipvs.rs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

/// The faults of one implementation on one topology, in the order they run.
const FAULTS: &[&str] = &["sigterm", "sigkill", "hostgone", "rsdown", "rsup", "reload"];
const TOPOLOGIES: &[&str] = &["nat", "dr"];
const IMPLS: &[&str] = &["piranha", "keepalived"];

/// The configuration of tests/kernel/e2e-guest.sh, milliseconds.
const KEEPALIVE: f64 = 200.0;
const DEADTIME: f64 = 600.0;
const CHECK_TIMEOUT: f64 = 1000.0;
const RETRIES: f64 = 0.0;

/// Slack on every time bound: the VM is emulated (TCG) on a shared machine, where a 200 ms
/// heartbeat already arrives late now and then.
const MARGIN_MS: f64 = 1500.0;

#[derive(Debug, Clone, Copy)]
struct Figures {
    outage_ms: f64,
    recover_ms: f64,
    failed: u64,
    ok: u64,
    last_fail_ms: f64,
    survived: u64,
    long: u64,
    /// Failures during a stall of the VM itself (the client's loopback control failed too).
    stalled: u64,
    /// Failures by refusal or reset (which a stall cannot cause), and the last one.
    refused: u64,
    last_refused_ms: f64,
}

fn parse(line: &str) -> Option<((String, String, String), Figures)> {
    let mut words = line.strip_prefix("E2E ")?.split_whitespace();
    let key = (
        words.next()?.to_string(),
        words.next()?.to_string(),
        words.next()?.to_string(),
    );
    let mut kv = BTreeMap::new();
    for w in words {
        let (k, v) = w.split_once('=')?;
        kv.insert(k, v);
    }
    let num = |k: &str| kv.get(k)?.parse::<f64>().ok();
    let (survived, long) = kv.get("long")?.split_once('/')?;
    Some((
        key,
        Figures {
            outage_ms: num("outage_ms")?,
            recover_ms: num("recover_ms")?,
            failed: num("failed")? as u64,
            ok: num("ok")? as u64,
            last_fail_ms: num("last_fail_ms")?,
            survived: survived.parse().ok()?,
            long: long.parse().ok()?,
            stalled: num("stalled")? as u64,
            refused: num("refused")? as u64,
            last_refused_ms: num("last_refused_ms")?,
        },
    ))
}

fn skip(why: &str) {
    println!("SKIPPED: {why}");
    if std::env::var_os("CI").is_some() {
        panic!("SKIPPED: {why} (CI is set: the end-to-end VM test must run here)");
    }
}

#[test]
fn client_traffic_across_failover_in_a_vm() {
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        return skip("the kernel VM needs an x86_64 Linux host");
    }
    if Command::new("bash").arg("-c").arg("true").status().is_err() {
        return skip("no bash to run tests/kernel/run.sh");
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let cache = std::env::var_os("PIRANHA_VM_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("kernel-vm"));
    let margin = std::env::var("E2E_MARGIN_MS")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(MARGIN_MS);
    let started = Instant::now();
    let out = Command::new("bash")
        .arg(format!("{root}/tests/kernel/run.sh"))
        .arg("-e")
        .arg("-b")
        .arg(
            std::env::var_os("E2E_PIRANHA").unwrap_or_else(|| env!("CARGO_BIN_EXE_piranha").into()),
        )
        .arg("-s")
        .arg(format!("{root}/tests/kernel/e2e-guest.sh"))
        .env("PIRANHA_VM_CACHE", &cache)
        .env("VM_TIMEOUT", "900")
        .env("VM_MEM", "1024")
        .output()
        .expect("run tests/kernel/run.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(77) {
        let why = stderr
            .lines()
            .find_map(|l| l.strip_prefix("SKIPPED: "))
            .unwrap_or("tests/kernel/run.sh reported a missing capability");
        return skip(why);
    }
    let log: Vec<&str> = stdout.lines().filter(|l| !l.starts_with('[')).collect();
    let report = format!(
        "exit {:?} after {:.1?}\n--- guest output\n{}\n--- stderr\n{stderr}",
        out.status.code(),
        started.elapsed(),
        log.join("\n")
    );
    let figures: BTreeMap<_, _> = log.iter().filter_map(|l| parse(l)).collect();

    // The table, in every case.
    println!(
        "{:<11} {:<4} {:<9} {:>10} {:>11} {:>7} {:>6} {:>13} {:>8} {:>8} {:>8} {:>16}",
        "impl",
        "topo",
        "fault",
        "outage ms",
        "recover ms",
        "failed",
        "ok",
        "last fail ms",
        "long",
        "stalled",
        "refused",
        "last refused ms"
    );
    for (key, f) in &figures {
        println!(
            "{:<11} {:<4} {:<9} {:>10} {:>11} {:>7} {:>6} {:>13} {:>8} {:>8} {:>8} {:>16}",
            key.0,
            key.1,
            key.2,
            f.outage_ms,
            f.recover_ms,
            f.failed,
            f.ok,
            f.last_fail_ms,
            format!("{}/{}", f.survived, f.long),
            f.stalled,
            f.refused,
            f.last_refused_ms
        );
    }
    println!("kernel VM run took {:.1?}, under TCG", started.elapsed());

    let errors: Vec<&&str> = log.iter().filter(|l| l.starts_with("E2E-ERROR")).collect();
    assert!(errors.is_empty(), "harness errors {errors:?}\n{report}");
    let mut missing = Vec::new();
    for i in IMPLS {
        for t in TOPOLOGIES {
            for f in FAULTS {
                if !figures.contains_key(&(i.to_string(), t.to_string(), f.to_string())) {
                    missing.push(format!("{i} {t} {f}"));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "faults not measured {missing:?}\n{report}"
    );

    // Piranha. Always: every window served requests, and the dead real server stopped being
    // scheduled in time (a refusal or reset, which a stall of the emulated machine cannot fake:
    // a director answered with a dead real server behind the VIP). With E2E_STRICT set (a
    // release build on a quiet host or KVM) also issue 11's outage goals + the margin, and no
    // refusal across a graceful handover, a real server's return or a reload: the debug build
    // under TCG on a busy host misses 0.6 s deadtimes and health-check timeouts now and then,
    // and a flapping director refuses for reasons that are the host's (figures printed always).
    let strict = std::env::var_os("E2E_STRICT").is_some();
    let mut broken = Vec::new();
    for t in TOPOLOGIES {
        let get = |f: &str| figures[&("piranha".to_string(), t.to_string(), f.to_string())];
        let mut check = |what: String, ok: bool| {
            if !ok {
                broken.push(format!("piranha {t}: {what}"));
            }
        };
        for f in FAULTS {
            let g = get(f);
            check(format!("{f}: no request succeeded ({g:?})"), g.ok > 0);
        }
        let g = get("rsdown");
        let limit = CHECK_TIMEOUT * (RETRIES + 1.0) + 100.0 + margin;
        check(
            format!(
                "rsdown: the dead real server was still scheduled {} ms after the fault (bound: timeout x (retries + 1) + 100 ms + margin = {limit} ms)",
                g.last_refused_ms
            ),
            g.last_refused_ms <= limit,
        );
        if strict {
            // Hot standby: the new active serves from the first packet, the old one took its
            // VIPs down before its table.
            let g = get("sigterm");
            check(
                format!(
                    "sigterm: {} requests refused or reset across the handover",
                    g.refused
                ),
                g.refused == 0,
            );
            for f in ["rsup", "reload"] {
                let g = get(f);
                check(
                    format!("{f}: {} requests refused or reset", g.refused),
                    g.refused == 0,
                );
            }
        }
        let bound = |name: &str, goal: f64| (name.to_string(), goal + margin);
        for (f, (goal, limit)) in [
            ("sigterm", bound("2 x keepalive", 2.0 * KEEPALIVE)),
            (
                "sigkill",
                bound("2 x keepalive + 100 ms", 2.0 * KEEPALIVE + 100.0),
            ),
            (
                "hostgone",
                bound(
                    "deadtime + keepalive + 100 ms",
                    DEADTIME + KEEPALIVE + 100.0,
                ),
            ),
        ] {
            let g = get(f);
            let met = g.outage_ms >= 0.0 && g.outage_ms <= limit;
            println!(
                "piranha {t} {f}: outage {} ms, goal {goal} ({limit} ms with the margin): {}",
                g.outage_ms,
                if met { "met" } else { "missed" }
            );
            if strict {
                check(format!("{f}: outage {} ms > {limit} ms", g.outage_ms), met);
            }
        }
    }
    for t in TOPOLOGIES {
        let key = |i: &str| (i.to_string(), t.to_string(), "sigterm".to_string());
        let (p, k) = (figures[&key("piranha")], figures[&key("keepalived")]);
        println!(
            "{t}: graceful handover outage piranha {} ms, keepalived {} ms (goal: at most half)",
            p.outage_ms, k.outage_ms
        );
    }
    assert!(broken.is_empty(), "{broken:#?}\n{report}");
    assert!(out.status.success(), "{report}");
}
