//! The simulated ports: in-memory IPVS and VIPs recording into [`Shared`], recorded commands,
//! heartbeats over turmoil UDP, probes over turmoil TCP, and the real servers' HTTP answer.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use piranha_engine::ipvs::{Op, Table};
use piranha_engine::nanny::{CheckProtocol, ProbeFailure, ProbeResult, ProbeSpec, ReadPlan};
use piranha_engine::ports::{
    ArpStyle, CommandExit, Commands, HeartbeatRecv, HeartbeatTransport, Ipvs, IpvsTimeouts,
    PortError, Prober, SyncDaemon, VipAddr, Vips,
};
use piranha_engine::pulse::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::timeout_at;

use super::{Shared, VipChange, VipEvent, HEARTBEAT_PORT};

fn now() -> Duration {
    turmoil::sim_elapsed().unwrap_or_default()
}

/// In-memory IPVS: the router's kernel table, with the kernel's refusals.
pub struct SharedIpvs {
    pub(super) shared: Arc<Shared>,
    pub(super) router: usize,
}

#[async_trait]
impl Ipvs for SharedIpvs {
    async fn apply(&self, ops: &[Op]) -> Result<(), (usize, PortError)> {
        let mut r = self.shared.routers[self.router].lock().unwrap();
        for (i, op) in ops.iter().enumerate() {
            r.table.apply(op).map_err(|e| {
                (
                    i,
                    PortError {
                        what: format!("{op:?}"),
                        reason: e.to_string(),
                        errno: Some(e.errno()),
                    },
                )
            })?;
        }
        Ok(())
    }
    async fn dump(&self) -> Result<Table, PortError> {
        Ok(self.shared.routers[self.router]
            .lock()
            .unwrap()
            .table
            .clone())
    }
    async fn set_timeouts(&self, _t: IpvsTimeouts) -> Result<(), PortError> {
        Ok(())
    }
    async fn set_sync_daemon(&self, _s: SyncDaemon) -> Result<(), PortError> {
        Ok(())
    }
}

/// In-memory VIPs with a timestamped journal.
pub struct SharedVips {
    pub(super) shared: Arc<Shared>,
    pub(super) router: usize,
}

impl SharedVips {
    fn record(&self, change: VipChange, ip: IpAddr) {
        self.shared.journal.lock().unwrap().push(VipEvent {
            at: now(),
            router: self.router,
            change,
            ip,
        });
    }
}

#[async_trait]
impl Vips for SharedVips {
    async fn add(&self, vip: &VipAddr) -> Result<(), PortError> {
        self.shared.routers[self.router]
            .lock()
            .unwrap()
            .vips
            .insert(vip.ip);
        self.record(VipChange::Add, vip.ip);
        Ok(())
    }
    async fn remove(&self, vip: &VipAddr) -> Result<(), PortError> {
        self.shared.routers[self.router]
            .lock()
            .unwrap()
            .vips
            .remove(&vip.ip);
        self.record(VipChange::Remove, vip.ip);
        Ok(())
    }
    async fn announce(&self, vip: &VipAddr, _style: ArpStyle) -> Result<(), PortError> {
        self.record(VipChange::Announce, vip.ip);
        Ok(())
    }
}

/// `active_cmd`/`inactive_cmd`: recorded, never run.
pub struct NoCommands {
    pub(super) shared: Arc<Shared>,
    pub(super) router: usize,
}

#[async_trait]
impl Commands for NoCommands {
    async fn run(
        &self,
        argv: &[String],
        _timeout: piranha_engine::time::Duration,
    ) -> Result<CommandExit, PortError> {
        self.shared.routers[self.router]
            .lock()
            .unwrap()
            .commands
            .push(argv.to_vec());
        Ok(CommandExit { code: Some(0) })
    }
}

/// Bound on received heartbeats waiting for the driver.
const HEARTBEAT_QUEUE_DEPTH: usize = 1024;
/// Largest heartbeat read.
const MAX_DATAGRAM_BYTES: usize = 2048;

/// Heartbeats over turmoil UDP: one socket on `0.0.0.0:heartbeat_port` (turmoil binds only the
/// unspecified address; sends leave from the host's address), the public path only (a turmoil
/// host has one address, so there is no private network). A reader task feeds a bounded
/// queue, so the driver's `select!` may drop `recv` at any time without losing a datagram.
/// Never reports `Refused`: turmoil has no ICMP.
pub struct TurmoilHeartbeat {
    socket: Arc<turmoil::net::UdpSocket>,
    partner: SocketAddr,
    rx: tokio::sync::Mutex<mpsc::Receiver<(SocketAddr, Vec<u8>)>>,
    reader: tokio::task::JoinHandle<()>,
}

impl TurmoilHeartbeat {
    /// Bind and start the reader (inside a turmoil host).
    pub async fn bind(partner: IpAddr) -> std::io::Result<TurmoilHeartbeat> {
        let socket =
            Arc::new(turmoil::net::UdpSocket::bind(("0.0.0.0", HEARTBEAT_PORT).to_owned()).await?);
        let partner = SocketAddr::new(partner, HEARTBEAT_PORT);
        let (tx, rx) = mpsc::channel(HEARTBEAT_QUEUE_DEPTH);
        let reader = tokio::spawn({
            let socket = socket.clone();
            async move {
                let mut buf = vec![0u8; MAX_DATAGRAM_BYTES];
                loop {
                    let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    };
                    // A connected socket: the kernel drops foreign sources; so do we.
                    if from.ip() != partner.ip() {
                        continue;
                    }
                    if tx.send((from, buf[..n].to_vec())).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(TurmoilHeartbeat {
            socket,
            partner,
            rx: tokio::sync::Mutex::new(rx),
            reader,
        })
    }
}

impl Drop for TurmoilHeartbeat {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

#[async_trait]
impl HeartbeatTransport for TurmoilHeartbeat {
    async fn send(&self, path: Path, bytes: &[u8]) -> Result<(), PortError> {
        if path != Path::Public {
            return Ok(());
        }
        self.socket
            .send_to(bytes, self.partner)
            .await
            .map(|_| ())
            .map_err(|e| PortError {
                what: format!("send heartbeat on {path:?}"),
                reason: e.to_string(),
                errno: None,
            })
    }

    async fn recv(&self) -> Result<HeartbeatRecv, PortError> {
        let mut rx = self.rx.lock().await;
        match rx.recv().await {
            Some((from, bytes)) => Ok(HeartbeatRecv::Datagram {
                path: Path::Public,
                from,
                bytes,
            }),
            None => Err(PortError {
                what: "receive heartbeat".into(),
                reason: "heartbeat socket closed".into(),
                errno: None,
            }),
        }
    }
}

/// Most bytes a probe reads.
const MAX_READ_BYTES: usize = 64 << 10;

/// Health probes over turmoil TCP: connect, send, read per the plan, all before the probe's
/// deadline. UDP, programs and load fetches are not simulated (reported as `Other`).
pub struct TurmoilProber;

fn failure(e: &std::io::Error) -> ProbeFailure {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => ProbeFailure::Refused,
        std::io::ErrorKind::TimedOut => ProbeFailure::TimedOut,
        _ => ProbeFailure::Other(e.to_string()),
    }
}

#[async_trait]
impl Prober for TurmoilProber {
    async fn probe(&self, spec: &ProbeSpec) -> ProbeResult {
        let ProbeSpec::Connect {
            protocol: CheckProtocol::Tcp,
            addr,
            port,
            send,
            read,
            timeout,
        } = spec
        else {
            return ProbeResult::Failed(ProbeFailure::Other("not simulated".into()));
        };
        let deadline =
            tokio::time::Instant::now() + std::time::Duration::from_nanos(timeout.as_nanos());
        let connect = turmoil::net::TcpStream::connect(SocketAddr::new(*addr, *port));
        let mut stream = match timeout_at(deadline, connect).await {
            Err(_) => return ProbeResult::Failed(ProbeFailure::TimedOut),
            Ok(Err(e)) => return ProbeResult::Failed(failure(&e)),
            Ok(Ok(s)) => s,
        };
        if let Some(bytes) = send {
            match timeout_at(deadline, stream.write_all(bytes)).await {
                Err(_) => return ProbeResult::Failed(ProbeFailure::TimedOut),
                Ok(Err(e)) => return ProbeResult::Failed(failure(&e)),
                Ok(Ok(())) => {}
            }
        }
        let (want, once) = match *read {
            ReadPlan::Nothing => return ProbeResult::Reply(Vec::new()),
            ReadPlan::Exactly(n) => (n.min(MAX_READ_BYTES), false),
            ReadPlan::UpTo(n) => (n.min(MAX_READ_BYTES), true),
        };
        let mut buf = vec![0u8; want];
        let mut got = 0;
        while got < want {
            match timeout_at(deadline, stream.read(&mut buf[got..])).await {
                Err(_) if got == 0 => return ProbeResult::NoReply,
                Err(_) => break,
                Ok(Err(e)) => return ProbeResult::Failed(failure(&e)),
                Ok(Ok(0)) => break,
                Ok(Ok(n)) => got += n,
            }
            if once {
                break;
            }
        }
        if got == 0 {
            return ProbeResult::NoReply;
        }
        buf.truncate(got);
        ProbeResult::Reply(buf)
    }
}

/// A real server: answers every connection on port 80 with `HTTP/1.0 200 OK` after one read.
pub async fn http_server() -> turmoil::Result {
    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", 80)).await?;
    loop {
        let (mut stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf).await;
            let _ = stream
                .write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
                .await;
        });
    }
}
