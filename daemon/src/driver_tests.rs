//! Two drivers on in-memory ports under tokio's paused clock: the production loop, its output
//! ordering and its shutdown, deterministic and in milliseconds of real time.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use piranha_engine::config;
use piranha_engine::director::DirectorConfig;
use piranha_engine::nanny::{ProbeFailure, ProbeResult, ProbeSpec};
use piranha_engine::ports::{
    ArpStyle, CommandExit, Commands, HeartbeatRecv, HeartbeatTransport, PortError, Prober, VipAddr,
    Vips,
};
use piranha_engine::pulse::{Path, Role};
use piranha_engine::time::Duration;
use tokio::sync::{mpsc, oneshot};

use crate::control::{Request, Response};
use crate::driver::{Control, Driver, DriverOptions, Identity, Loader, Ports};
use crate::no_ipvs::MemoryIpvs;

const LVS_CF: &str = "serial_no = 7\nprimary = 10.0.0.1\nbackup = 10.0.0.2\nservice = lvs\n\
backup_active = 1\nkeepalive = 0.1\ndeadtime = 0.3\nnetwork = direct\n\
virtual web {\n active = 1\n address = 10.0.0.50 eth0:1\n port = 80\n timeout = 1\n\
 server s1 {\n  address = 10.0.1.1\n  active = 1\n }\n}\n";

fn director_config() -> DirectorConfig {
    let parsed = config::parse("lvs.cf", LVS_CF.as_bytes()).expect("valid");
    DirectorConfig::from_lvs_cf(&parsed.config, None).expect("maps")
}

/// One end of a heartbeat wire.
struct Wire {
    tx: mpsc::Sender<Vec<u8>>,
    rx: tokio::sync::Mutex<mpsc::Receiver<Vec<u8>>>,
    partner: SocketAddr,
}

fn wires() -> (Wire, Wire) {
    let (a_tx, a_rx) = mpsc::channel(1024);
    let (b_tx, b_rx) = mpsc::channel(1024);
    (
        Wire {
            tx: a_tx,
            rx: tokio::sync::Mutex::new(b_rx),
            partner: "10.0.0.2:539".parse().unwrap(),
        },
        Wire {
            tx: b_tx,
            rx: tokio::sync::Mutex::new(a_rx),
            partner: "10.0.0.1:539".parse().unwrap(),
        },
    )
}

#[async_trait]
impl HeartbeatTransport for Wire {
    async fn send(&self, _path: Path, bytes: &[u8]) -> Result<(), PortError> {
        let _ = self.tx.try_send(bytes.to_vec());
        Ok(())
    }
    async fn recv(&self) -> Result<HeartbeatRecv, PortError> {
        let mut rx = self.rx.lock().await;
        match rx.recv().await {
            Some(bytes) => Ok(HeartbeatRecv::Datagram {
                path: Path::Public,
                from: self.partner,
                bytes,
            }),
            // The partner is gone: stay silent, as a dead peer does.
            None => std::future::pending().await,
        }
    }
}

/// Records every VIP call in order.
#[derive(Default)]
struct Journal(Mutex<Vec<String>>);

#[async_trait]
impl Vips for Journal {
    async fn add(&self, vip: &VipAddr) -> Result<(), PortError> {
        self.0.lock().unwrap().push(format!("add {}", vip.ip));
        Ok(())
    }
    async fn remove(&self, vip: &VipAddr) -> Result<(), PortError> {
        self.0.lock().unwrap().push(format!("remove {}", vip.ip));
        Ok(())
    }
    async fn announce(&self, vip: &VipAddr, _style: ArpStyle) -> Result<(), PortError> {
        self.0.lock().unwrap().push(format!("announce {}", vip.ip));
        Ok(())
    }
}

struct Refusing;

#[async_trait]
impl Prober for Refusing {
    async fn probe(&self, _spec: &ProbeSpec) -> ProbeResult {
        ProbeResult::Failed(ProbeFailure::Refused)
    }
}

struct NoCommands;

#[async_trait]
impl Commands for NoCommands {
    async fn run(&self, _argv: &[String], _t: Duration) -> Result<CommandExit, PortError> {
        Ok(CommandExit { code: Some(0) })
    }
}

struct Node {
    control: mpsc::Sender<Control>,
    journal: Arc<Journal>,
    task: tokio::task::JoinHandle<Result<(), crate::driver::DriverError>>,
}

fn node(role: Role, wire: Wire) -> Node {
    node_with(role, wire, Arc::new(|| Ok(director_config())), None)
}

fn node_with(
    role: Role,
    wire: Wire,
    loader: Loader,
    off_loop: Option<std::time::Duration>,
) -> Node {
    let journal = Arc::new(Journal::default());
    let ports = Ports {
        ipvs: Arc::new(MemoryIpvs::new()),
        vips: journal.clone(),
        heartbeat: Arc::new(wire),
        prober: Arc::new(Refusing),
        commands: Arc::new(NoCommands),
    };
    let (control, rx) = mpsc::channel(8);
    let mut driver = Driver::new(
        director_config(),
        Identity {
            role,
            incarnation: 1,
            seed: 1,
        },
        ports,
        rx,
        loader,
        DriverOptions {
            config_file: "lvs.cf".into(),
            arp_style: ArpStyle::GratuitousReply,
        },
    )
    .unwrap();
    if let Some(limit) = off_loop {
        driver = driver.load_off_loop(limit);
    }
    Node {
        control,
        journal,
        task: tokio::spawn(driver.run()),
    }
}

async fn status(n: &Node) -> crate::control::StatusReport {
    let (tx, rx) = oneshot::channel();
    n.control
        .send(Control::Request(Request::Status, tx))
        .await
        .unwrap();
    match rx.await.unwrap() {
        Response::Status(s) => s,
        other => panic!("{other:?}"),
    }
}

fn journal(n: &Node) -> Vec<String> {
    n.journal.0.lock().unwrap().clone()
}

#[tokio::test(start_paused = true)]
async fn primary_takes_the_vip_and_hands_it_over_on_shutdown() {
    let (a, b) = wires();
    let primary = node(Role::Primary, a);
    let backup = node(Role::Backup, b);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let p = status(&primary).await;
    assert!(p.active);
    assert_eq!(p.peer, "standby");
    assert_eq!(p.serial_no, 7);
    assert_eq!(p.virtuals[0].servers[0].health, "down", "refused probes");
    assert!(!status(&backup).await.active);
    // Start-up removes stale VIPs first, then the takeover brings the VIP up and announces it.
    let j = journal(&primary);
    assert_eq!(j[0], "remove 10.0.0.50");
    assert_eq!(j[1], "add 10.0.0.50");
    assert_eq!(j[2], "announce 10.0.0.50");
    assert_eq!(journal(&backup), vec!["remove 10.0.0.50"]);

    primary.control.send(Control::Shutdown).await.unwrap();
    let Node {
        journal: pj, task, ..
    } = primary;
    let done = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
    assert!(matches!(done, Ok(Ok(Ok(())))), "{done:?}");
    assert_eq!(pj.0.lock().unwrap().last().unwrap(), "remove 10.0.0.50");
    // STOPPED reached the backup: it takes over well before deadtime.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let s = status(&backup).await;
    assert!(s.active);
    assert_eq!(s.last_change.unwrap().why, "took over: PeerStopped");
    assert!(journal(&backup).contains(&"add 10.0.0.50".to_string()));
}

#[tokio::test(start_paused = true)]
async fn drain_and_reload_through_the_control_channel() {
    let (a, _b) = wires();
    let primary = node(Role::Primary, a);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let (tx, rx) = oneshot::channel();
    let req = Request::Drain {
        virtual_name: "web".into(),
        server: "s1".into(),
    };
    primary
        .control
        .send(Control::Request(req, tx))
        .await
        .unwrap();
    assert!(matches!(rx.await.unwrap(), Response::Ok { .. }));
    assert!(status(&primary).await.virtuals[0].servers[0].drained);
    let (tx, rx) = oneshot::channel();
    let req = Request::Drain {
        virtual_name: "web".into(),
        server: "nope".into(),
    };
    primary
        .control
        .send(Control::Request(req, tx))
        .await
        .unwrap();
    assert!(matches!(rx.await.unwrap(), Response::Error { .. }));
    let (tx, rx) = oneshot::channel();
    primary
        .control
        .send(Control::Reload(Some(tx)))
        .await
        .unwrap();
    assert!(matches!(rx.await.unwrap(), Response::Ok { .. }));
    // A lone primary (the backup's wire is gone) is active after deadtime.
    assert!(status(&primary).await.active);
}

async fn reload(n: &Node) -> Response {
    let (tx, rx) = oneshot::channel();
    n.control.send(Control::Reload(Some(tx))).await.unwrap();
    rx.await.unwrap()
}

/// A reload that blocks (lvs.cf on a hung mount; a FIFO is refused before this) runs off the
/// heartbeat loop: the loop keeps answering and beating, the reload is refused at its limit,
/// and the running configuration stays. Real time: the loader blocks a real thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_reload_never_stalls_the_heartbeat_loop() {
    let (a, b) = wires();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let loader: Loader = Arc::new(move || {
        // Stuck until the test lets go (bounded, so a failing test cannot hang).
        let _ = release_rx
            .lock()
            .unwrap()
            .recv_timeout(std::time::Duration::from_secs(10));
        Ok(director_config())
    });
    let limit = std::time::Duration::from_millis(800);
    let primary = node_with(Role::Primary, a, loader, Some(limit));
    let backup = node(Role::Backup, b);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(status(&primary).await.active);
    let before = status(&backup).await.heartbeats_accepted;
    let started = std::time::Instant::now();
    let (tx, pending) = oneshot::channel();
    primary
        .control
        .send(Control::Reload(Some(tx)))
        .await
        .unwrap();
    // While the load is stuck, the loop answers at once and the backup keeps hearing beats.
    for _ in 0..3 {
        let asked = std::time::Instant::now();
        let s = status(&primary).await;
        assert!(s.active);
        assert!(asked.elapsed() < std::time::Duration::from_millis(200));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let r = pending.await.unwrap();
    let took = started.elapsed();
    let Response::Error { message } = r else {
        panic!("{r:?}")
    };
    assert!(message.contains("took longer than 0.8 s"), "{message}");
    assert!(took >= limit && took < limit * 4, "{took:?}");
    assert!(status(&backup).await.heartbeats_accepted >= before + 4);
    let s = status(&primary).await;
    assert!(s.active, "the running configuration stays");
    let last = s.last_reload.expect("recorded");
    assert!(!last.ok);
    let _ = release_tx.send(());
}

/// A valid reload that looks like a mistake is taken, warned about, and shown in status.
#[tokio::test(start_paused = true)]
async fn a_truncated_or_older_reload_is_taken_with_warnings() {
    let (a, _b) = wires();
    let globals_only = "serial_no = 3\nprimary = 10.0.0.1\nbackup = 10.0.0.2\nservice = lvs\n\
        backup_active = 1\nkeepalive = 0.1\ndeadtime = 0.3\nnetwork = direct\n";
    let loader: Loader = Arc::new(move || {
        let parsed = config::parse("lvs.cf", globals_only.as_bytes()).expect("valid");
        DirectorConfig::from_lvs_cf(&parsed.config, None).map_err(|e| e.to_string())
    });
    let primary = node_with(Role::Primary, a, loader, None);
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let Response::Ok { message } = reload(&primary).await else {
        panic!("a valid file is taken")
    };
    assert!(message.contains("no virtual server"), "{message}");
    assert!(
        message.contains("serial_no goes backwards (7 -> 3)"),
        "{message}"
    );
    let s = status(&primary).await;
    assert_eq!(s.serial_no, 3);
    let last = s.last_reload.clone().expect("recorded");
    assert!(last.ok);
    assert_eq!(last.serial_no, Some(3));
    assert_eq!(last.warnings.len(), 2, "{:?}", last.warnings);
    let text = crate::status::render(&s);
    assert!(text.contains("last reload at"), "{text}");
    assert!(text.contains("warning: serial_no goes backwards"), "{text}");
}

/// Under a flood of bad datagrams, the log's "N more since the last report" counts every
/// dropped datagram (pulse's counters), not pulse's rate-limited events.
#[test]
fn rejected_heartbeat_counts_cover_a_flood() {
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    const SENT: usize = 3000;
    tracing::subscriber::with_default(subscriber, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let (a, b) = wires();
            let primary = node(Role::Primary, a);
            // 3,000 datagrams of a wrong length over 2.5 s, from the partner's address.
            for _ in 0..SENT / 30 {
                for _ in 0..30 {
                    b.tx.send(vec![1, 2, 3]).await.unwrap();
                }
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
            b.tx.send(vec![1, 2, 3]).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            drop(primary);
        });
    });
    let log = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    let mut reported = 0;
    for line in log.lines().filter(|l| l.contains("heartbeat rejected")) {
        reported += 1;
        if let Some(rest) = line.split(" (").nth(1) {
            let n: usize = rest.split(' ').next().unwrap().parse().unwrap();
            reported += n;
        }
    }
    // Every datagram is accounted for: each line is one, plus the ones it says it skipped.
    assert_eq!(reported, SENT + 1, "{log}");
}
