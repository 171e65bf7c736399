//! Mixed pairs on the legacy wire: the real original Piranha 0.8.6 `pulse` (built from the
//! peer sources by tests/peers/build-original.sh) next to `piranha pulse --no-ipvs`, in network
//! namespaces (tests/netns_support), both role assignments. Each run goes through a cold start
//! (the primary ends active, exactly one VIP holder), kill -9 of the active, the return of the
//! killed router (it stays standby: the legacy wire has no fail-back), SIGTERM of the active and
//! the return of that one. VIP ownership is read from `ip addr` in each router namespace and
//! from the client namespace's ARP cache.
//!
//! The original adds VIPs with `/sbin/ifconfig` and announces them with `/usr/sbin/send_arp`,
//! both paths compiled in. Each original runs under `unshare --mount` with an overlay on
//! `/usr/sbin` that adds the freshly built `send_arp`: the host is not touched. It runs without
//! `--test-start` (which never takes VIPs down), with `--lvsd` naming a stand-in that only
//! sleeps: lvsd and IPVS are not what is tested here. After a kill -9 of the original the test
//! deletes its VIP before restarting it (what a reboot does): the original never removes VIPs
//! at start; piranha does it itself (checked).
//!
//! Needs root, iproute2, util-linux (`unshare`), overlayfs, net-tools (`ifconfig`), gcc and
//! libpopt-dev; skips (fails under CI) without them.

mod netns_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use netns_support::{Router, Topology, BACKUP, CLIENT, PRIMARY, SERIAL, VIP};

/// keepalive 1 s, deadtime 3 s: the original takes whole seconds only.
const DEADTIME: Duration = Duration::from_secs(3);

/// Any takeover or ARP move: deadtime plus the original's loop granularity and slack.
const SETTLE: Duration = Duration::from_secs(10);

fn lock() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn skip_reason() -> Option<String> {
    if let Err(why) = netns_support::available() {
        return Some(why);
    }
    for (tool, args) in [
        ("unshare", &["--version"][..]),
        ("ifconfig", &["lo"][..]),
        ("gcc", &["--version"][..]),
    ] {
        let ok = Command::new(tool)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Some(format!(
                "`{tool}` not runnable (apt-get install net-tools gcc)"
            ));
        }
    }
    if !Path::new("/sbin/ifconfig").exists() {
        return Some("/sbin/ifconfig missing (the original calls it by that path)".into());
    }
    // The overlay that adds send_arp to /usr/sbin in a private mount namespace.
    let probe = std::env::temp_dir().join(format!("prcp_overlay_{}", std::process::id()));
    let _ = std::fs::create_dir_all(&probe);
    if std::fs::write(probe.join("prcp-probe"), "").is_err() {
        return Some(format!("cannot write {}", probe.display()));
    }
    let ok = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "mount -t overlay overlay -o lowerdir={}:/usr/sbin /usr/sbin && test -e /usr/sbin/prcp-probe",
            probe.display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let _ = std::fs::remove_dir_all(&probe);
    if !ok {
        return Some("cannot mount an overlay on /usr/sbin in a private mount namespace".into());
    }
    None
}

fn skip() -> bool {
    // Once per binary: the tests run on parallel threads, and the probes create namespaces
    // and mounts with names of this process.
    static REASON: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    match REASON.get_or_init(skip_reason).clone() {
        None => false,
        Some(why) => {
            println!("SKIPPED: {why}");
            if std::env::var_os("CI").is_some() {
                panic!("SKIPPED: {why} (CI is set: the mixed-pair tests must run)");
            }
            true
        }
    }
}

/// The original's binaries, built (once, cached) by the shared script.
fn original_bin() -> Option<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/build-original.sh");
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .expect("run tests/peers/build-original.sh");
    if out.status.code() == Some(2) {
        let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
        println!("SKIPPED: {why}");
        if std::env::var_os("CI").is_some() {
            panic!("SKIPPED: {why} (CI is set: the original must build)");
        }
        return None;
    }
    assert!(
        out.status.success(),
        "building the original failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let dir = PathBuf::from(stdout.lines().last().expect("a directory").trim());
    assert!(dir.join("pulse").is_file() && dir.join("send_arp").is_file());
    Some(dir)
}

/// A pair: one router runs the original, the other piranha.
struct Mixed {
    t: Topology,
    bin: PathBuf,
    cf: PathBuf,
    original: Router,
    child: Option<Child>,
    runs: u32,
}

impl Mixed {
    fn new(test: &str, original: Router, bin: PathBuf) -> Mixed {
        let t = Topology::new(test);
        // One file for both, as an operator would copy it; the legacy wire (no key file).
        let cf = t.dir.join("lvs.cf");
        std::fs::write(
            &cf,
            format!(
                "serial_no = 1\nprimary = {PRIMARY}\nservice = lvs\nbackup_active = 1\n\
                 backup = {BACKUP}\nheartbeat = 1\nheartbeat_port = 539\nkeepalive = 1\n\
                 deadtime = 3\nnetwork = direct\n\
                 virtual web {{\n    active = 1\n    address = {VIP} eth0:1\n\
                 \x20   vip_nmask = 255.255.255.0\n    port = 80\n    protocol = tcp\n\
                 \x20   server s1 {{\n        address = {CLIENT}\n        active = 1\n\
                 \x20       weight = 1\n    }}\n}}\n"
            ),
        )
        .unwrap();
        // Only send_arp is added to /usr/sbin (an overlay: everything else stays visible).
        let extra = t.dir.join("usr-sbin");
        std::fs::create_dir_all(&extra).unwrap();
        std::fs::copy(bin.join("send_arp"), extra.join("send_arp")).unwrap();
        // lvsd stand-in: the original forks it on takeover and SIGTERMs it on giveup.
        let lvsd = t.dir.join("lvsd");
        std::fs::write(&lvsd, "#!/bin/sh\nexec sleep 600\n").unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&lvsd, std::fs::Permissions::from_mode(0o755)).unwrap();
        Mixed {
            t,
            bin,
            cf,
            original,
            child: None,
            runs: 0,
        }
    }

    fn piranha(&self) -> Router {
        other(self.original)
    }

    fn node(r: Router) -> &'static str {
        match r {
            Router::Primary => "r1",
            Router::Backup => "r2",
        }
    }

    fn original_log_path(&self) -> PathBuf {
        self.t.dir.join(format!("original.{}.log", self.runs))
    }

    fn start_original(&mut self) {
        assert!(self.child.is_none());
        self.runs += 1;
        let log = std::fs::File::create(self.original_log_path()).unwrap();
        let extra = self.t.dir.join("usr-sbin");
        let script = format!(
            "mount -t overlay overlay -o lowerdir={}:/usr/sbin /usr/sbin && exec {} -c {} -n -v --lvsd={}",
            extra.display(),
            self.bin.join("pulse").display(),
            self.cf.display(),
            self.t.dir.join("lvsd").display()
        );
        let child = Command::new("ip")
            .args(["netns", "exec", &self.t.ns(Self::node(self.original))])
            .args(["unshare", "--mount", "--propagation", "private", "sh", "-c"])
            .arg(script)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn the original pulse");
        self.child = Some(child);
    }

    fn start(&mut self, r: Router) {
        if r == self.original {
            self.start_original();
        } else {
            self.t.start(r, &self.cf.clone());
        }
    }

    fn kill9(&mut self, r: Router) {
        if r == self.original {
            if let Some(mut c) = self.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
            self.reap_namespace(r);
        } else {
            self.t.kill(r);
        }
    }

    /// SIGTERM and a bounded wait for the exit.
    fn sigterm(&mut self, r: Router) {
        if r != self.original {
            assert_eq!(self.t.terminate(r), Some(0), "piranha exits 0 on SIGTERM");
            return;
        }
        let mut c = self.child.take().expect("original running");
        netns_support::signal(c.id(), nix::sys::signal::Signal::SIGTERM);
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(_)) = c.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        panic!("the original pulse did not exit on SIGTERM");
    }

    /// Kill what the original left behind in its namespace (its lvsd stand-in, send_arp), by PID.
    fn reap_namespace(&self, r: Router) {
        let out = Command::new("ip")
            .args(["netns", "pids", &self.t.ns(Self::node(r))])
            .output()
            .unwrap();
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            if let Ok(pid) = pid.parse::<i32>() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }

    /// What a reboot does to a killed original: its VIP alias is gone.
    fn forget_vip(&self, r: Router) {
        let _ = Command::new("ip")
            .args(["-n", &self.t.ns(Self::node(r)), "addr", "del"])
            .arg(format!("{VIP}/24"))
            .args(["dev", "eth0"])
            .status();
    }

    fn original_log(&self) -> String {
        (1..=self.runs)
            .map(|i| {
                std::fs::read_to_string(self.t.dir.join(format!("original.{i}.log")))
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("\n----- restart -----\n")
    }

    fn logs(&self) -> String {
        format!(
            "--- original ({:?}):\n{}\n--- piranha ({:?}):\n{}",
            self.original,
            self.original_log(),
            self.piranha(),
            self.t.log(self.piranha())
        )
    }

    fn holders(&self) -> Vec<Router> {
        [Router::Primary, Router::Backup]
            .into_iter()
            .filter(|&r| self.t.holds_vip(r))
            .collect()
    }

    /// Wait until `r` is the only VIP holder and stays so for two keepalives; returns the
    /// moment it first was.
    fn settle_on(&self, r: Router, what: &str) -> Instant {
        let ok = self.t.wait_for(SETTLE, |_| self.holders() == vec![r]);
        let at = Instant::now();
        assert!(
            ok,
            "{what}: holders {:?}, want [{r:?}]\n{}",
            self.holders(),
            self.logs()
        );
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(
            self.holders(),
            vec![r],
            "{what}: not stable\n{}",
            self.logs()
        );
        at
    }

    /// The client resolves the VIP to `r`'s MAC (asking fresh if need be).
    fn client_sees(&self, r: Router, what: &str) {
        let mac = self.t.mac(r);
        let ok = self.t.wait_for(SETTLE, |t| {
            if t.client_vip_mac().as_deref() == Some(mac.as_str()) {
                return true;
            }
            t.client_learns_vip();
            false
        });
        assert!(
            ok,
            "{what}: client ARP says {:?}, want {r:?} {mac}\n{}",
            self.t.client_vip_mac(),
            self.logs()
        );
    }

    /// After a move: the client's cache entry follows by gratuitous ARP alone.
    fn client_follows(&self, r: Router, what: &str) {
        let mac = self.t.mac(r);
        let moved = self.t.vip_moved_to(&mac, SETTLE).is_some()
            || self.t.client_vip_mac().as_deref() == Some(mac.as_str());
        assert!(
            moved,
            "{what}: client ARP never moved to {r:?}\n{}",
            self.logs()
        );
    }

    fn assert_wire_clean(&self) {
        let log = self.original_log();
        assert!(!log.contains("bad heartbeat packet"), "{}", self.logs());
        assert!(!log.contains("Incompatible heartbeat"), "{}", self.logs());
        assert!(!log.contains("Unexpected heartbeat"), "{}", self.logs());
        let plog = self.t.log(self.piranha());
        assert!(!plog.contains("heartbeat rejected"), "{}", self.logs());
    }
}

impl Drop for Mixed {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.reap_namespace(self.original);
        // The Topology's own Drop then kills piranha and deletes the namespaces.
    }
}

fn other(r: Router) -> Router {
    match r {
        Router::Primary => Router::Backup,
        Router::Backup => Router::Primary,
    }
}

/// The whole life of one mixed pair; `original` is the role the original plays.
fn mixed_pair_lifecycle(test: &str, original: Router) {
    let Some(bin) = original_bin() else { return };
    let mut m = Mixed::new(test, original, bin);

    // Cold start, both at once: the primary ends active, exactly one holder.
    let t0 = Instant::now();
    m.start(Router::Primary);
    m.start(Router::Backup);
    let at = m.settle_on(Router::Primary, "cold start");
    println!(
        "{test}: cold start -> primary alone holds the VIP: {:?}",
        at - t0
    );
    m.client_sees(Router::Primary, "cold start");
    m.assert_wire_clean();
    // And the backup never held the VIP on the way (two originals race here: whichever hears
    // the other's STOPPED first activates, and the backup can end active).
    if original == Router::Backup {
        assert!(!m.original_log().contains("activating lvs"), "{}", m.logs());
    } else {
        assert!(
            !m.t.log(Router::Backup).contains("took over"),
            "{}",
            m.logs()
        );
    }
    m.t.watch_client();

    // kill -9 of the active primary: the backup takes over after deadtime.
    let t0 = Instant::now();
    m.kill9(Router::Primary);
    // The killed daemon's VIP stays (a crash of the daemon alone): wait for the backup's.
    assert!(
        m.t.wait_for(SETTLE, |t| t.holds_vip(Router::Backup)),
        "{}",
        m.logs()
    );
    // piranha notices sooner than deadtime by ICMP port unreachable; the original waits it out.
    let took = t0.elapsed();
    assert!(
        took < SETTLE,
        "kill -9 -> backup holds the VIP after {took:?}\n{}",
        m.logs()
    );
    m.client_follows(Router::Backup, "kill -9 of the primary");
    println!("{test}: kill -9 of the primary -> backup holds the VIP: {took:?}");

    // Return of the killed primary: it stays standby (no fail-back on the legacy wire).
    if original == Router::Primary {
        m.forget_vip(Router::Primary);
    }
    m.start(Router::Primary);
    std::thread::sleep(2 * DEADTIME);
    m.settle_on(Router::Backup, "return of the killed primary");
    m.client_sees(Router::Backup, "return of the killed primary");
    if original == Router::Backup {
        let log = m.t.log(Router::Primary);
        assert!(!log.contains("took over"), "{}", m.logs());
    }
    m.assert_wire_clean();

    // SIGTERM of the active backup: the primary takes over (at once on piranha's STOPPED,
    // after deadtime when the original stops: it says nothing on SIGTERM).
    let t0 = Instant::now();
    m.sigterm(Router::Backup);
    let at = m.settle_on(Router::Primary, "SIGTERM of the active backup");
    println!(
        "{test}: SIGTERM of the backup -> primary alone holds the VIP: {:?}",
        at - t0
    );
    m.client_follows(Router::Primary, "SIGTERM of the backup");

    // Return of the stopped backup: standby.
    m.start(Router::Backup);
    std::thread::sleep(2 * DEADTIME);
    m.settle_on(Router::Primary, "return of the stopped backup");
    m.client_sees(Router::Primary, "return of the stopped backup");
    m.assert_wire_clean();

    // SIGTERM of the active primary, then its return: the backup serves, the primary stays
    // standby.
    let t0 = Instant::now();
    m.sigterm(Router::Primary);
    let at = m.settle_on(Router::Backup, "SIGTERM of the active primary");
    println!(
        "{test}: SIGTERM of the primary -> backup alone holds the VIP: {:?}",
        at - t0
    );
    m.client_follows(Router::Backup, "SIGTERM of the primary");
    m.start(Router::Primary);
    std::thread::sleep(2 * DEADTIME);
    m.settle_on(Router::Backup, "return of the stopped primary");
    m.assert_wire_clean();
}

#[test]
fn original_primary_with_piranha_backup() {
    if skip() {
        return;
    }
    let _g = lock();
    mixed_pair_lifecycle("prcp_mixed_op", Router::Primary);
}

#[test]
fn piranha_primary_with_original_backup() {
    if skip() {
        return;
    }
    let _g = lock();
    mixed_pair_lifecycle("prcp_mixed_ob", Router::Backup);
}
