//! nanny, differentially: the real original Piranha 0.8.6 `nanny` (built by
//! tests/peers/build-original.sh) and piranha's check (the engine's `Check` judged on what the
//! real `TokioProber` read) look at the same scripted server on loopback. The original's
//! verdict is read from the `ipvsadm` calls it makes (a stand-in that records its arguments:
//! `-a` = the real server is added). Each case states what the original does and what piranha
//! does; where they differ, docs/OPERATIONS.md's migration table says why.
//!
//! Needs root (the original opens a raw ICMP socket), gcc and libpopt-dev; skips (fails under
//! CI) without them.

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use piranha_backends::probe::TokioProber;
use piranha_engine::nanny::{probe_passed, probe_spec, Check, CheckProtocol};
use piranha_engine::ports::Prober as _;

fn skip(why: &str) -> bool {
    println!("SKIPPED: {why}");
    if std::env::var_os("CI").is_some() {
        panic!("SKIPPED: {why} (CI is set: the nanny differential must run)");
    }
    true
}

fn original_bin() -> Option<PathBuf> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        skip("not root (the original nanny opens a raw ICMP socket)");
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/build-original.sh");
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .expect("run build-original.sh");
    if out.status.code() == Some(2) {
        skip(String::from_utf8_lossy(&out.stderr).trim());
        return None;
    }
    assert!(
        out.status.success(),
        "building the original failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).lines().last()?.trim());
    assert!(dir.join("nanny").is_file());
    Some(dir)
}

/// How the scripted real server answers each connection.
#[derive(Clone, Copy, Debug)]
enum Server {
    /// Accept and close at once, without a byte.
    CloseAtOnce,
    /// "HT", a pause, then "TP/1.0 200 OK" (two segments).
    SplitReply,
    /// "HTTP/1.0 200 OK" at once.
    Http,
    /// Nothing listens (TCP: refused).
    Closed,
    /// A UDP socket that reads and never answers.
    UdpSilent,
}

/// Serve `kind` on 127.0.0.1 until `until`; returns the port.
fn serve(kind: Server, until: Instant) -> u16 {
    match kind {
        Server::Closed => {
            // Bound for the rest of the process but never listening: the
            // kernel resets every SYN, and no other test can be given the port.
            let held = tokio::net::TcpSocket::new_v4().unwrap();
            held.bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let port = held.local_addr().unwrap().port();
            std::mem::forget(held);
            return port;
        }
        Server::UdpSilent => {
            let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let port = u.local_addr().unwrap().port();
            u.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            std::thread::spawn(move || {
                let mut buf = [0u8; 512];
                while Instant::now() < until {
                    let _ = u.recv(&mut buf);
                }
            });
            return port;
        }
        _ => {}
    }
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        while Instant::now() < until {
            let Ok((mut s, _)) = l.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            std::thread::spawn(move || {
                let _ = s.set_nodelay(true);
                let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
                let mut buf = [0u8; 64];
                let _ = s.read(&mut buf);
                match kind {
                    Server::CloseAtOnce => {}
                    Server::SplitReply => {
                        let _ = s.write_all(b"HT");
                        std::thread::sleep(Duration::from_millis(300));
                        let _ = s.write_all(b"TP/1.0 200 OK\r\n");
                    }
                    Server::Http => {
                        let _ = s.write_all(b"HTTP/1.0 200 OK\r\n");
                    }
                    Server::Closed | Server::UdpSilent => unreachable!(),
                }
                std::thread::sleep(Duration::from_millis(100));
            });
        }
    });
    port
}

struct Case {
    name: &'static str,
    server: Server,
    udp: bool,
    /// nanny `-w`.
    weight: u32,
    /// nanny `-q`.
    quiesce: bool,
    send: Option<&'static str>,
    expect: Option<&'static str>,
    send_program: Option<&'static str>,
    original_up: bool,
    piranha_up: bool,
}

/// The original nanny's verdict: did it add the real server within a few checks? And every
/// `ipvsadm` call it made.
fn original_verdict(bin: &Path, dir: &Path, case: &Case, port: u16) -> (bool, String) {
    let log = dir.join(format!("{}.ipvsadm", case.name));
    let ipvsadm = dir.join("ipvsadm");
    std::fs::write(
        &ipvsadm,
        format!("#!/bin/sh\necho \"$@\" >> {}\n", log.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&ipvsadm, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = Command::new(bin.join("nanny"));
    cmd.args(["-c", "-n", "--lvs", "-h", "127.0.0.1", "-V", "10.0.0.1"])
        .args(["-p", &port.to_string(), "-t", "1", "-a", "1", "-M", "g"])
        .args(["-w", &case.weight.to_string()])
        .arg("-I")
        .arg(&ipvsadm);
    if case.udp {
        cmd.arg("-u");
    }
    if case.quiesce {
        cmd.arg("-q");
    }
    if let Some(s) = case.send {
        cmd.args(["-s", s]);
    }
    if let Some(x) = case.expect {
        cmd.args(["-x", x]);
    }
    if let Some(e) = case.send_program {
        cmd.args(["-e", e]);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the original nanny");
    // Interval 1 s, reentry 1 s: the first passing check adds it. Three checks' worth.
    let until = Instant::now() + Duration::from_millis(2500);
    let mut added = false;
    while Instant::now() < until && !added {
        std::thread::sleep(Duration::from_millis(50));
        added =
            std::fs::read_to_string(&log).is_ok_and(|l| l.lines().any(|l| l.starts_with("-a ")));
    }
    let _ = child.kill();
    let _ = child.wait();
    (added, std::fs::read_to_string(&log).unwrap_or_default())
}

fn piranha_verdict(rt: &tokio::runtime::Runtime, case: &Case, port: u16) -> bool {
    let check = Check::from_config(
        if case.udp {
            CheckProtocol::Udp
        } else {
            CheckProtocol::Tcp
        },
        port,
        case.send.map(str::as_bytes),
        case.expect.map(str::as_bytes),
        false,
        case.send_program,
    )
    .unwrap();
    let addr: IpAddr = "127.0.0.1".parse().unwrap();
    let spec = probe_spec(
        &check,
        addr,
        port,
        piranha_engine::time::Duration::from_secs(1),
    );
    let result = rt.block_on(TokioProber::new(4, "rsh").probe(&spec));
    probe_passed(&check, &result)
}

#[test]
fn nanny_details_against_the_original() {
    let Some(bin) = original_bin() else { return };
    let dir = std::env::temp_dir().join(format!("prcp_nanny_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cases = [
        Case {
            udp: false,
            weight: 1,
            quiesce: false,
            name: "star_on_empty_answer",
            server: Server::CloseAtOnce,
            send: None,
            expect: Some("*"),
            send_program: None,
            original_up: true,
            piranha_up: true,
        },
        Case {
            udp: false,
            weight: 1,
            quiesce: false,
            name: "prefix_on_empty_answer",
            server: Server::CloseAtOnce,
            send: None,
            expect: Some("HTTP"),
            send_program: None,
            original_up: false,
            piranha_up: false,
        },
        Case {
            udp: false,
            weight: 1,
            quiesce: false,
            name: "reply_split_over_segments",
            server: Server::SplitReply,
            send: Some("hello"),
            expect: Some("HTTP"),
            send_program: None,
            // One read() of 2 bytes: "too short". piranha gathers up to 4 bytes.
            original_up: false,
            piranha_up: true,
        },
        Case {
            udp: false,
            weight: 1,
            quiesce: false,
            name: "plain_http",
            server: Server::Http,
            send: Some("hello"),
            expect: Some("HTTP"),
            send_program: None,
            original_up: true,
            piranha_up: true,
        },
        Case {
            udp: false,
            weight: 1,
            quiesce: false,
            name: "program_fails_with_expect",
            server: Server::Http,
            send: None,
            expect: Some("OK"),
            send_program: Some("/bin/false"),
            // The original's bug: no output from a failed program counts as success.
            original_up: true,
            piranha_up: false,
        },
        Case {
            udp: false,
            weight: 1,
            quiesce: false,
            name: "program_without_expect",
            server: Server::Http,
            send: None,
            expect: None,
            send_program: Some("/bin/echo OK"),
            // The original fails every program without expect ("non-NULL result").
            original_up: false,
            piranha_up: true,
        },
        Case {
            udp: false,
            weight: 1,
            quiesce: false,
            name: "percent_h_whole_token",
            server: Server::Http,
            send: None,
            expect: Some("127.0.0.1"),
            send_program: Some("/bin/echo %h"),
            original_up: true,
            piranha_up: true,
        },
        Case {
            udp: false,
            weight: 1,
            quiesce: false,
            name: "percent_h_inside_a_token_stays",
            server: Server::Http,
            send: None,
            expect: Some("h=%h"),
            send_program: Some("/bin/echo h=%h"),
            original_up: true,
            piranha_up: true,
        },
        Case {
            udp: true,
            weight: 1,
            quiesce: false,
            name: "udp_without_send_silent_server",
            server: Server::UdpSilent,
            send: None,
            expect: None,
            send_program: None,
            // The original sends nothing and waits for a datagram; piranha sends an empty one
            // and takes silence (no ICMP port unreachable) as up.
            original_up: false,
            piranha_up: true,
        },
        Case {
            udp: false,
            weight: 0,
            quiesce: false,
            name: "weight_zero",
            server: Server::Http,
            send: Some("hello"),
            expect: Some("HTTP"),
            send_program: None,
            original_up: true,
            piranha_up: true,
        },
        Case {
            udp: false,
            weight: 1,
            quiesce: true,
            name: "quiesce_never_up",
            server: Server::Closed,
            send: None,
            expect: None,
            send_program: None,
            original_up: false,
            piranha_up: false,
        },
    ];
    let mut report = Vec::new();
    let mut wrong = 0;
    for case in &cases {
        let port = serve(case.server, Instant::now() + Duration::from_secs(4));
        let (original, calls) = original_verdict(&bin, &dir, case, port);
        match case.name {
            // `weight >> 5`, at least 1: a weight-0 server is added at weight 1 (piranha's
            // nanny: engine/src/nanny/tests.rs, weight_zero).
            "weight_zero" => assert!(calls.contains(" -w 1"), "{calls}"),
            // Never up: quiesce has nothing to keep, no ipvsadm call at all (piranha: quiesce
            // tests in engine/src/nanny/tests.rs).
            "quiesce_never_up" => assert_eq!(calls, "", "{calls}"),
            _ => {}
        }
        let piranha = piranha_verdict(&rt, case, port);
        let ok = original == case.original_up && piranha == case.piranha_up;
        wrong += usize::from(!ok);
        report.push(format!(
            "{} {:32} original up: {original:5} (expected {:5})  piranha up: {piranha:5} (expected {:5})",
            if ok { "  " } else { "!!" },
            case.name,
            case.original_up,
            case.piranha_up
        ));
        println!("{}", report.last().unwrap());
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(wrong, 0, "\n{}", report.join("\n"));
}
