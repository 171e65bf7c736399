//! Network-namespace topology for the failover tests: a switch namespace holding a bridge,
//! two router namespaces (public `eth0` on the bridge, private `eth1` back to back) and a client
//! namespace on the bridge. Every router runs the real `piranha pulse --no-ipvs`; the client's
//! kernel ARP cache tells who owns the VIP.
//!
//! Everything is named `<test>_<pid>_<node>` and torn down by the [`Topology`]'s `Drop` (daemons
//! killed by PID, namespaces deleted by name), even when the test panics. Every wait is bounded.

#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const PRIMARY: &str = "10.77.0.1";
pub const BACKUP: &str = "10.77.0.2";
pub const PRIMARY_PRIVATE: &str = "10.78.0.1";
pub const BACKUP_PRIVATE: &str = "10.78.0.2";
pub const CLIENT: &str = "10.77.0.100";
pub const VIP: &str = "10.77.0.50";

/// Serialises the tests of one binary: timings are measured, and two topologies at once on
/// two shared cores would only measure each other.
pub static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `Err(why)` when this machine cannot run the tests (not root, no `ip netns`).
pub fn available() -> Result<(), String> {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| format!("id -u: {e}"))?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err("not root (network namespaces need CAP_SYS_ADMIN)".into());
    }
    let name = format!("piranha_probe_{}", std::process::id());
    let ok = Command::new("ip")
        .args(["netns", "add", &name])
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("ip (iproute2) not runnable: {e}"))?
        .success();
    let _ = Command::new("ip").args(["netns", "del", &name]).status();
    if !ok {
        return Err("`ip netns add` failed".into());
    }
    Ok(())
}

/// Returns `true` when the test must be skipped (and says why); panics in CI.
pub fn skip() -> bool {
    static AVAILABLE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    match AVAILABLE.get_or_init(available).clone() {
        Ok(()) => false,
        Err(why) => {
            println!("SKIPPED: {why}");
            if std::env::var_os("CI").is_some() {
                panic!("SKIPPED: {why} (CI is set: netns tests must run)");
            }
            true
        }
    }
}

fn run(args: &[&str]) -> Result<String, String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn must(args: &[&str]) -> String {
    run(args).unwrap_or_else(|e| panic!("{e}"))
}

/// Which router.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Router {
    Primary,
    Backup,
}

impl Router {
    fn node(self) -> &'static str {
        match self {
            Router::Primary => "r1",
            Router::Backup => "r2",
        }
    }
    fn role(self) -> &'static str {
        match self {
            Router::Primary => "primary",
            Router::Backup => "backup",
        }
    }
}

pub struct Topology {
    prefix: String,
    pub dir: PathBuf,
    daemons: [Option<Child>; 2],
    monitor: Option<Child>,
    others: Vec<Child>,
    neigh_rx: Option<mpsc::Receiver<(Instant, String)>>,
    runs: [u32; 2],
}

impl Topology {
    /// Build the namespaces, links and addresses. `test` names everything.
    pub fn new(test: &str) -> Topology {
        let prefix = format!("{test}_{}", std::process::id());
        let dir = std::env::temp_dir().join(&prefix);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let t = Topology {
            prefix,
            dir,
            daemons: [None, None],
            monitor: None,
            others: Vec::new(),
            neigh_rx: None,
            runs: [0, 0],
        };
        for n in ["sw", "r1", "r2", "cl"] {
            must(&["ip", "netns", "add", &t.ns(n)]);
            must(&["ip", "-n", &t.ns(n), "link", "set", "lo", "up"]);
        }
        let sw = t.ns("sw");
        must(&["ip", "-n", &sw, "link", "add", "br0", "type", "bridge"]);
        must(&["ip", "-n", &sw, "link", "set", "br0", "up"]);
        for n in ["r1", "r2", "cl"] {
            let ns = t.ns(n);
            must(&[
                "ip", "-n", &sw, "link", "add", n, "type", "veth", "peer", "name", "eth0", "netns",
                &ns,
            ]);
            must(&["ip", "-n", &sw, "link", "set", n, "master", "br0", "up"]);
            must(&["ip", "-n", &ns, "link", "set", "eth0", "up"]);
        }
        let (r1, r2, cl) = (t.ns("r1"), t.ns("r2"), t.ns("cl"));
        must(&[
            "ip", "-n", &r1, "link", "add", "eth1", "type", "veth", "peer", "name", "eth1",
            "netns", &r2,
        ]);
        for (ns, public, private) in [
            (&r1, PRIMARY, PRIMARY_PRIVATE),
            (&r2, BACKUP, BACKUP_PRIVATE),
        ] {
            must(&["ip", "-n", ns, "link", "set", "eth1", "up"]);
            must(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("{public}/24"),
                "dev",
                "eth0",
            ]);
            must(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("{private}/24"),
                "dev",
                "eth1",
            ]);
        }
        must(&[
            "ip",
            "-n",
            &cl,
            "addr",
            "add",
            &format!("{CLIENT}/24"),
            "dev",
            "eth0",
        ]);
        t
    }

    pub fn ns(&self, node: &str) -> String {
        format!("{}_{node}", self.prefix)
    }

    /// Write an lvs.cf for the pair (keepalive 0.1 s, deadtime 0.3 s) plus `extra` global lines.
    pub fn write_config(&self, name: &str, extra: &str) -> PathBuf {
        let cf = format!(
            "serial_no = 1\nprimary = {PRIMARY}\nprimary_private = {PRIMARY_PRIVATE}\n\
             backup = {BACKUP}\nbackup_private = {BACKUP_PRIVATE}\nservice = lvs\n\
             backup_active = 1\nheartbeat_port = 539\nkeepalive = 0.1\ndeadtime = 0.3\n\
             network = direct\n{extra}\
             virtual web {{\n    active = 1\n    address = {VIP} eth0:1\n    vip_nmask = 255.255.255.0\n\
             \x20   port = 80\n    protocol = tcp\n    timeout = 1\n\
             \x20   server s1 {{\n        address = {CLIENT}\n        active = 1\n        weight = 1\n    }}\n}}\n"
        );
        let path = self.dir.join(name);
        std::fs::write(&path, cf).unwrap();
        path
    }

    pub fn log_path(&self, r: Router) -> PathBuf {
        self.dir
            .join(format!("{}.{}.log", r.node(), self.runs[r as usize]))
    }

    pub fn control_socket(&self, r: Router) -> PathBuf {
        self.dir.join(format!("{}.sock", r.node()))
    }

    /// Start `piranha pulse --no-ipvs` in the router's namespace.
    pub fn start(&mut self, r: Router, config: &std::path::Path) {
        self.start_with(r, config, true)
    }

    /// Start it, with or without `--role` (without: the role comes from the addresses).
    pub fn start_with(&mut self, r: Router, config: &std::path::Path, force_role: bool) {
        assert!(self.daemons[r as usize].is_none(), "{r:?} already running");
        self.runs[r as usize] += 1;
        let log = std::fs::File::create(self.log_path(r)).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(r.node())])
            .arg(env!("CARGO_BIN_EXE_piranha"))
            .args(["pulse", "--no-ipvs", "-c"])
            .arg(config)
            .args(if force_role {
                vec!["--role", r.role()]
            } else {
                vec![]
            })
            .arg("--control-socket")
            .arg(self.control_socket(r))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn piranha pulse");
        self.daemons[r as usize] = Some(child);
    }

    /// The daemon's PID.
    pub fn pid(&self, r: Router) -> u32 {
        self.daemons[r as usize].as_ref().expect("running").id()
    }

    /// Another process to kill on teardown.
    pub fn adopt(&mut self, child: Child) {
        self.others.push(child);
    }

    /// SIGKILL (the daemon dies, its host stays up).
    pub fn kill(&mut self, r: Router) {
        if let Some(mut c) = self.daemons[r as usize].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then wait (bounded) for a clean exit; returns the exit status code.
    pub fn terminate(&mut self, r: Router) -> Option<i32> {
        let mut c = self.daemons[r as usize].take()?;
        signal(c.id(), nix::sys::signal::Signal::SIGTERM);
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if let Ok(Some(status)) = c.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = c.kill();
        let _ = c.wait();
        None
    }

    /// The whole router host vanishes: its links go down, then its daemon dies.
    pub fn pull_plug(&mut self, r: Router) {
        let ns = self.ns(r.node());
        must(&["ip", "-n", &ns, "link", "set", "eth0", "down"]);
        must(&["ip", "-n", &ns, "link", "set", "eth1", "down"]);
        self.kill(r);
    }

    pub fn set_link(&self, r: Router, dev: &str, up: bool) {
        let ns = self.ns(r.node());
        must(&[
            "ip",
            "-n",
            &ns,
            "link",
            "set",
            dev,
            if up { "up" } else { "down" },
        ]);
    }

    pub fn mac(&self, r: Router) -> String {
        let out = must(&["ip", "-n", &self.ns(r.node()), "-o", "link", "show", "eth0"]);
        let mut words = out.split_whitespace();
        while let Some(w) = words.next() {
            if w == "link/ether" {
                return words.next().unwrap().to_string();
            }
        }
        panic!("no MAC in {out}");
    }

    pub fn holds_vip(&self, r: Router) -> bool {
        let out = must(&[
            "ip",
            "-n",
            &self.ns(r.node()),
            "-o",
            "-4",
            "addr",
            "show",
            "dev",
            "eth0",
        ]);
        out.contains(&format!("inet {VIP}/"))
    }

    /// The `ip -o addr` line of the VIP (without its lifetime part), e.g. `... eth0:1`.
    pub fn vip_line(&self, r: Router) -> String {
        let out = must(&[
            "ip",
            "-n",
            &self.ns(r.node()),
            "-o",
            "-4",
            "addr",
            "show",
            "dev",
            "eth0",
        ]);
        out.lines()
            .find(|l| l.contains(&format!("inet {VIP}/")))
            .map(|l| l.split('\\').next().unwrap_or(l).trim().to_string())
            .unwrap_or_default()
    }

    /// Wait (bounded) until `cond` holds; returns whether it did.
    pub fn wait_for(&self, timeout: Duration, mut cond: impl FnMut(&Self) -> bool) -> bool {
        let until = Instant::now() + timeout;
        loop {
            if cond(self) {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The client's ARP entry for the VIP: its MAC, if any.
    pub fn client_vip_mac(&self) -> Option<String> {
        let out = must(&["ip", "-n", &self.ns("cl"), "neigh", "show", VIP]);
        let mut words = out.split_whitespace();
        while let Some(w) = words.next() {
            if w == "lladdr" {
                return words.next().map(str::to_string);
            }
        }
        None
    }

    /// Make the client resolve the VIP by sending it one UDP datagram (bash's /dev/udp).
    pub fn client_learns_vip(&self) {
        let _ = Command::new("ip")
            .args(["netns", "exec", &self.ns("cl"), "bash", "-c"])
            .arg(format!("echo x > /dev/udp/{VIP}/9"))
            .status();
    }

    /// Start watching the client's neighbour table (`ip monitor neigh`) with timestamps.
    pub fn watch_client(&mut self) {
        let mut child = Command::new("ip")
            .args(["-n", &self.ns("cl"), "monitor", "neigh"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("ip monitor");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send((Instant::now(), line)).is_err() {
                    return;
                }
            }
        });
        self.monitor = Some(child);
        self.neigh_rx = Some(rx);
        // `ip monitor` subscribes right after start: give it a moment.
        std::thread::sleep(Duration::from_millis(200));
        self.drain_monitor();
    }

    fn drain_monitor(&self) {
        if let Some(rx) = &self.neigh_rx {
            while rx.try_recv().is_ok() {}
        }
    }

    /// Wait (bounded) for the client's VIP entry to name `mac`; the moment it changed.
    pub fn vip_moved_to(&self, mac: &str, timeout: Duration) -> Option<Instant> {
        let rx = self.neigh_rx.as_ref().expect("watch_client first");
        let until = Instant::now() + timeout;
        let prefix = format!("{VIP} ");
        loop {
            let left = until.checked_duration_since(Instant::now())?;
            let (at, line) = rx.recv_timeout(left).ok()?;
            if line.starts_with(&prefix) && line.contains(mac) {
                return Some(at);
            }
        }
    }

    pub fn log(&self, r: Router) -> String {
        std::fs::read_to_string(self.log_path(r)).unwrap_or_default()
    }

    /// Both routers up, the primary active, the client's ARP entry on the primary's MAC.
    pub fn steady_pair(&mut self, config: &std::path::Path) {
        self.start(Router::Primary, config);
        self.start(Router::Backup, config);
        assert!(
            self.wait_for(Duration::from_secs(5), |t| t.holds_vip(Router::Primary)),
            "primary never took the VIP:\n{}",
            self.log(Router::Primary)
        );
        let primary_mac = self.mac(Router::Primary);
        assert!(
            self.wait_for(Duration::from_secs(5), |t| {
                t.client_learns_vip();
                t.client_vip_mac().as_deref() == Some(primary_mac.as_str())
            }),
            "client never resolved the VIP to the primary"
        );
        assert!(!self.holds_vip(Router::Backup));
        self.watch_client();
    }

    /// Ask a daemon's control socket (status as JSON, via the real CLI).
    pub fn status_json(&self, r: Router) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_piranha"))
            .args(["status", "--json", "--control-socket"])
            .arg(self.control_socket(r))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for mut c in self.others.drain(..) {
            let _ = c.kill();
            let _ = c.wait();
        }
        for c in self
            .daemons
            .iter_mut()
            .chain(std::iter::once(&mut self.monitor))
        {
            if let Some(mut c) = c.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        for n in ["cl", "r1", "r2", "sw"] {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.ns(n)])
                .status();
        }
    }
}

/// Milliseconds between two instants.
pub fn ms(from: Instant, to: Instant) -> f64 {
    to.saturating_duration_since(from).as_secs_f64() * 1000.0
}

/// One raw request line to a control socket; the answer line.
pub fn control_request(socket: &std::path::Path, line: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut s = std::os::unix::net::UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(line.as_bytes()).unwrap();
    s.write_all(b"\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// Send `sig` to `pid`.
pub fn signal(pid: u32, sig: nix::sys::signal::Signal) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).expect("pid fits"));
    nix::sys::signal::kill(pid, sig).expect("kill");
}
