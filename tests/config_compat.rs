//! lvs.cf compatibility with the original Piranha 0.8.6 parser (lvsconfig.c).
//!
//! Three sets of files under tests/corpus/:
//! - `published/`: written in the styles operators published (Red Hat's examples, the GUI's
//!   output, hand-written files, failover blocks, fwmark, old keys). The original runs every
//!   one; `piranha check` must accept every one (warnings allowed).
//! - `original_refuses/`: files the original refuses; piranha refuses them too, with an error
//!   on the same line.
//! - `differences/`: where the verdicts differ on purpose, one file per difference, listed in
//!   [`DIFFERENCES`] and in docs/LVS_CF.md ("Differences from Piranha's parser").
//!
//! `corpus_snapshots` checks our side without any external program (insta snapshots of the
//! warnings and canonical form, or of the errors). `differential_against_the_original` builds
//! the real original (tests/peers/build-original.sh: gcc, libpopt-dev) and asks its pulse
//! about every file (`pulse -c FILE -n -t`, in a network namespace of its own, killed after
//! 2 s), then asks `piranha check` the same: the verdicts must be the ones above.

mod config_support;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use piranha_engine::config::{parse_with, Options};

/// Where the verdicts differ on purpose: (file in differences/, the original's verdict,
/// whether `piranha check` accepts it).
const DIFFERENCES: &[(&str, Original, bool)] = &[
    // Lenient where the original was strict.
    ("no_blanks_around_equals.cf", Original::Refuses(5), true),
    ("trailing_comment.cf", Original::Refuses(5), true),
    (
        "unquoted_program_with_blanks.cf",
        Original::Refuses(9),
        true,
    ),
    ("brace_touching_name.cf", Original::Refuses(5), true),
    ("empty_value.cf", Original::Refuses(5), true),
    ("ipv6_vip.cf", Original::Refuses(7), true),
    ("fractional_keepalive.cf", Original::Refuses(5), true),
    // The original read only the first line of a CRLF file (then found no active service).
    ("crlf_line_endings.cf", Original::NoActiveService, true),
    // The original pulse would not start without an active service; check accepts the file.
    ("no_active_service.cf", Original::NoActiveService, true),
    // Strict where the original let nonsense through.
    ("duplicate_virtual_names.cf", Original::Loads, false),
    ("noncontiguous_netmask.cf", Original::Loads, false),
    ("garbage_pmask.cf", Original::Loads, false),
    ("negative_weight.cf", Original::Loads, false),
    ("zero_keepalive.cf", Original::Loads, false),
];

/// What the original's pulse said about a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Original {
    /// Parsed, and pulse went on to start.
    Loads,
    /// `pulse: error parsing FILE at line N: …`.
    Refuses(u32),
    /// Parsed, but `pulse: no active lvs|fos services defined in FILE`.
    NoActiveService,
}

fn corpus(set: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(set);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cf"))
        .collect();
    files.sort();
    files
}

/// The resolver of the snapshot test: fixed, so snapshots do not depend on the machine.
fn table(name: &str) -> Result<IpAddr, String> {
    match name {
        "localhost" => Ok("127.0.0.1".parse().unwrap()),
        _ => Err("not in the test's host table".to_string()),
    }
}

#[test]
fn corpus_snapshots() {
    let opts = Options {
        resolve: Some(&table),
        allow_incomplete: false,
    };
    let published = corpus("published");
    assert!(published.len() >= 16, "{} published files", published.len());
    let listed: Vec<&str> = DIFFERENCES.iter().map(|d| d.0).collect();
    let differences = corpus("differences");
    for p in &differences {
        let f = p.file_name().unwrap().to_str().unwrap();
        assert!(listed.contains(&f), "{f} is not in DIFFERENCES");
    }
    for set in ["published", "original_refuses", "differences"] {
        for path in corpus(set) {
            let file = path.file_name().unwrap().to_string_lossy().to_string();
            let name = format!("{set}/{file}");
            let bytes = std::fs::read(&path).unwrap();
            let expect_ok = match set {
                "published" => true,
                "original_refuses" => false,
                _ => DIFFERENCES.iter().find(|d| d.0 == file).unwrap().2,
            };
            let out =
                config_support::snapshot(&name, parse_with(&name, &bytes, &opts), expect_ok, |b| {
                    parse_with(&name, b, &opts)
                });
            insta::assert_snapshot!(format!("compat@{set}__{file}"), out);
        }
    }
}

/// Skip (or, under CI, fail) with a reason.
fn skip(why: &str) {
    assert!(std::env::var_os("CI").is_none(), "CI: {why}");
    println!("SKIPPED: {why}");
}

/// Build the original (tests/peers/build-original.sh) and return its directory.
fn build_original() -> Result<PathBuf, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("bash")
        .arg(root.join("tests/peers/build-original.sh"))
        .output()
        .map_err(|e| format!("cannot run build-original.sh: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("the original does not build: {}", stderr.trim()));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let dir = stdout.lines().last().unwrap_or("").trim().to_string();
    Ok(PathBuf::from(dir))
}

/// Ask the original's pulse about `file`: run it (foreground, verbose, no lvsd) in a fresh
/// network namespace so it can talk to nothing, for at most 2 s.
fn ask_original(pulse: &Path, file: &Path) -> (Original, String) {
    let out = Command::new("timeout")
        .args(["-s", "KILL", "2", "unshare", "--net", "--"])
        .arg(pulse)
        .arg("-c")
        .arg(file)
        .args(["-n", "-v", "-t"])
        .output()
        .expect("run timeout/unshare/pulse");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let verdict = if let Some(rest) = text.split("error parsing ").nth(1) {
        let line = rest
            .split(" at line ")
            .nth(1)
            .and_then(|r| r.split(':').next())
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        Original::Refuses(line)
    } else if text.contains("no active lvs services") || text.contains("no active fos services") {
        Original::NoActiveService
    } else {
        Original::Loads
    };
    (verdict, text)
}

/// `piranha check -c FILE`: accepted, and the line of the first error.
fn ask_piranha(file: &Path) -> (bool, Option<u32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_piranha"))
        .arg("check")
        .arg("-c")
        .arg(file)
        .output()
        .expect("run piranha check");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let first_error = stderr
        .lines()
        .find(|l| l.contains(": error: "))
        .and_then(|l| {
            let mut parts = l.rsplit(": error: ").nth(1)?.rsplitn(3, ':');
            let _col = parts.next()?;
            parts.next()?.parse().ok()
        });
    (out.status.success(), first_error, stderr)
}

#[test]
fn differential_against_the_original() {
    let dir = match build_original() {
        Ok(d) => d,
        Err(e) => return skip(&e),
    };
    let unshare_ok = Command::new("unshare")
        .args(["--net", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !unshare_ok {
        return skip("`unshare --net` does not work here (needs root): the original pulse must not reach a real network");
    }
    let pulse = dir.join("pulse");
    let mut cases: Vec<(PathBuf, Original, bool)> = Vec::new();
    for f in corpus("published") {
        cases.push((f, Original::Loads, true));
    }
    for f in corpus("original_refuses") {
        cases.push((f, Original::Refuses(0), false));
    }
    for (file, original, ours) in DIFFERENCES {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/corpus/differences")
            .join(file);
        cases.push((path, *original, *ours));
    }
    // Every case takes up to 2 s in the original: ask in parallel, a few at a time.
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .chunks(cases.len().div_ceil(8))
            .map(|chunk| {
                let pulse = &pulse;
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|(f, o, ours)| {
                            (f.clone(), *o, *ours, ask_original(pulse, f), ask_piranha(f))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let mut failures = Vec::new();
    for (file, want_original, want_ours, (original, otext), (ours, our_line, ptext)) in &results {
        let name = file
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap_or(file)
            .display();
        let original_ok = match (want_original, original) {
            // For the refused set, any line: compared with ours below.
            (Original::Refuses(0), Original::Refuses(_)) => true,
            (w, o) => w == o,
        };
        if !original_ok {
            failures.push(format!(
                "{name}: the original: {original:?}, expected {want_original:?}\n{otext}"
            ));
        }
        if ours != want_ours {
            failures.push(format!(
                "{name}: piranha check accepts: {ours}, expected {want_ours}\n{ptext}"
            ));
        }
        // Both refuse: on the same line.
        if let (Original::Refuses(0), Original::Refuses(line)) = (want_original, original) {
            if our_line != &Some(*line) {
                failures.push(format!(
                    "{name}: the original refuses line {line}, piranha {our_line:?}\n{ptext}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    println!("{} files: the original and piranha agree", results.len());
}
