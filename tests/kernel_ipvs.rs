//! Kernel IPVS, for real: boots Debian's stock kernel under qemu (tests/kernel/run.sh) with the
//! built `piranha` binary and the real `ipvsadm` inside, and runs the cases of
//! tests/kernel/guest.sh: `ipvs apply` of a config as seen by `ipvsadm -Ln`, `ipvs list -n`
//! byte-identical to `ipvsadm -Ln`, tables written by ipvsadm read back, hand edits repaired
//! with one op, a second apply doing nothing, timeouts and the sync daemon, IPv6, a refusal
//! explained, and the 1,000 × 10 apply-vs-`ipvsadm -R` measurement (printed, not asserted).
//!
//! When the host cannot run the VM (no qemu and no way to install it, no apt access) the test
//! prints `SKIPPED: <why>`; with the `CI` environment variable set, that is a failure.
//! Cache: `$PIRANHA_VM_CACHE`, default `target/tmp/kernel-vm` (about 500 MB once populated).

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

/// Every case guest.sh reports; each must be present and pass.
const CASES: &[&str] = &[
    "apply-exit-0",
    "apply-counts-ops",
    "apply-table",
    "list-equals-ipvsadm",
    "timeouts-set",
    "timeouts-read-back",
    "daemon-set",
    "daemon-read-back",
    "second-apply-noop",
    "repair-deleted-dest",
    "repair-edited-weight",
    "foreign-service-kept",
    "repaired-table",
    "daemon-switch-to-backup",
    "daemon-backup-read-back",
    "daemon-backup-to-master",
    "daemon-stop",
    "refusal-explained",
    "read-ipvsadm-table",
    "counters-read",
    "list-json",
    "stats-read",
    "zero",
    "tunnel-params-read",
    "flush",
    "bench-apply-ops",
    "bench-same-table",
    "bench-list-equals-ipvsadm",
    "bench-second-apply-noop",
];

fn skip(why: &str) {
    println!("SKIPPED: {why}");
    if std::env::var_os("CI").is_some() {
        panic!("SKIPPED: {why} (CI is set: the kernel VM test must run here)");
    }
}

#[test]
fn kernel_ipvs_in_a_vm() {
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
    let started = Instant::now();
    let out = Command::new("bash")
        .arg(format!("{root}/tests/kernel/run.sh"))
        .arg("-b")
        .arg(env!("CARGO_BIN_EXE_piranha"))
        .env("PIRANHA_VM_CACHE", &cache)
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
    // Kernel log lines ("[    1.234] ...") are noise here.
    let log: Vec<&str> = stdout.lines().filter(|l| !l.starts_with('[')).collect();
    let report = format!(
        "exit {:?} after {:.1?}\n--- guest output\n{}\n--- stderr\n{stderr}",
        out.status.code(),
        started.elapsed(),
        log.join("\n")
    );
    let case = |name: &str| {
        log.iter().find_map(|l| {
            let rest = l.strip_prefix("CASE ")?.strip_prefix(name)?;
            Some(rest.trim().to_string())
        })
    };
    let failed: Vec<String> = CASES
        .iter()
        .filter_map(|&name| match case(name).as_deref() {
            Some("PASS") => None,
            Some(other) => Some(format!("{name}: {other}")),
            None => Some(format!("{name}: not run")),
        })
        .collect();
    assert!(failed.is_empty(), "failed cases {failed:?}\n{report}");
    assert!(out.status.success(), "{report}");
    let bench = log
        .iter()
        .find(|l| l.starts_with("BENCH "))
        .unwrap_or_else(|| panic!("no BENCH line\n{report}"));
    println!("{bench} (debug build of piranha, under TCG; figures: docs/BENCHMARKS.md)");
    println!("kernel VM run took {:.1?}", started.elapsed());
}
