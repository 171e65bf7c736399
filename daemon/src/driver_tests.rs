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
    let journal = Arc::new(Journal::default());
    let ports = Ports {
        ipvs: Arc::new(MemoryIpvs::new()),
        vips: journal.clone(),
        heartbeat: Arc::new(wire),
        prober: Arc::new(Refusing),
        commands: Arc::new(NoCommands),
    };
    let (control, rx) = mpsc::channel(8);
    let loader: Loader = Arc::new(|| Ok(director_config()));
    let driver = Driver::new(
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
