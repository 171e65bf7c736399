//! Heartbeats over tokio UDP: one connected socket per path, bound to this node's own address
//! on that path, so the kernel filters foreign sources and an ICMP port unreachable from the
//! partner's host (its daemon is gone, the host is up) surfaces as `ECONNREFUSED`, reported as
//! [`HeartbeatRecv::Refused`].

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use async_trait::async_trait;
use piranha_engine::ports::{HeartbeatRecv, HeartbeatTransport, PortError};
use piranha_engine::pulse::Path;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, Mutex};

/// Largest heartbeat datagram read (v2 beats are well under this).
const MAX_DATAGRAM_BYTES: usize = 2048;
/// Bound on received datagrams waiting for the driver.
const QUEUE_DEPTH: usize = 1024;

/// One path: where to bind and whom to talk to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathAddrs {
    /// Which path.
    pub path: Path,
    /// Our address on it (`ip:port`; port 0 for an ephemeral one, e.g. towards the witness).
    pub local: SocketAddr,
    /// The partner's (or the witness's) address.
    pub remote: SocketAddr,
}

/// The UDP heartbeat transport.
pub struct UdpHeartbeat {
    sockets: Vec<(Path, Arc<UdpSocket>)>,
    refused_tx: mpsc::Sender<HeartbeatRecv>,
    rx: Mutex<mpsc::Receiver<Result<HeartbeatRecv, PortError>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for UdpHeartbeat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpHeartbeat")
            .field(
                "paths",
                &self.sockets.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
            )
            .finish()
    }
}

fn port_error(what: String, e: &io::Error) -> PortError {
    PortError {
        what,
        reason: e.to_string(),
        errno: e.raw_os_error(),
    }
}

impl UdpHeartbeat {
    /// Bind and connect one socket per path; spawn one reader task per socket (needs a tokio
    /// runtime).
    pub async fn bind(paths: &[PathAddrs]) -> Result<UdpHeartbeat, PortError> {
        assert!(
            paths.len() <= 3,
            "at most public, private and arbiter paths"
        );
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let (refused_tx, mut refused_rx) = mpsc::channel::<HeartbeatRecv>(QUEUE_DEPTH);
        let mut sockets = Vec::new();
        let mut tasks = Vec::new();
        for p in paths {
            let socket = UdpSocket::bind(p.local)
                .await
                .map_err(|e| port_error(format!("bind heartbeat socket {}", p.local), &e))?;
            socket
                .connect(p.remote)
                .await
                .map_err(|e| port_error(format!("connect heartbeat socket to {}", p.remote), &e))?;
            let socket = Arc::new(socket);
            sockets.push((p.path, socket.clone()));
            tasks.push(tokio::spawn(read_loop(
                p.path,
                p.remote,
                socket,
                tx.clone(),
            )));
        }
        // Refusals seen on send join the same queue as those seen on receive.
        let tx2 = tx.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(r) = refused_rx.recv().await {
                if tx2.send(Ok(r)).await.is_err() {
                    return;
                }
            }
        }));
        Ok(UdpHeartbeat {
            sockets,
            refused_tx,
            rx: Mutex::new(rx),
            tasks,
        })
    }

    /// The local address of a path's socket.
    pub fn local_addr(&self, path: Path) -> Option<SocketAddr> {
        self.sockets
            .iter()
            .find(|(p, _)| *p == path)
            .and_then(|(_, s)| s.local_addr().ok())
    }
}

impl Drop for UdpHeartbeat {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn read_loop(
    path: Path,
    remote: SocketAddr,
    socket: Arc<UdpSocket>,
    tx: mpsc::Sender<Result<HeartbeatRecv, PortError>>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM_BYTES];
    loop {
        let item = match socket.recv(&mut buf).await {
            Ok(n) => Ok(HeartbeatRecv::Datagram {
                path,
                from: remote,
                bytes: buf[..n].to_vec(),
            }),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                Ok(HeartbeatRecv::Refused { path })
            }
            Err(e) => {
                // Transient (e.g. host unreachable while a link is down): report, keep reading,
                // but do not spin.
                let r = Err(port_error(format!("receive heartbeat from {remote}"), &e));
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                r
            }
        };
        if tx.send(item).await.is_err() {
            return;
        }
    }
}

#[async_trait]
impl HeartbeatTransport for UdpHeartbeat {
    async fn send(&self, path: Path, bytes: &[u8]) -> Result<(), PortError> {
        let Some((_, socket)) = self.sockets.iter().find(|(p, _)| *p == path) else {
            // A path this router has no partner on (a lone router, `backup_active = 0`):
            // the datagram has nowhere to go.
            return Ok(());
        };
        match socket.send(bytes).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                // The pending ICMP error of an earlier send: the partner's port is closed.
                let _ = self.refused_tx.try_send(HeartbeatRecv::Refused { path });
                Ok(())
            }
            Err(e) => Err(port_error(format!("send heartbeat on {path:?}"), &e)),
        }
    }

    async fn recv(&self) -> Result<HeartbeatRecv, PortError> {
        let mut rx = self.rx.lock().await;
        match rx.recv().await {
            Some(r) => r,
            None => Err(PortError {
                what: "receive heartbeat".into(),
                reason: "all heartbeat sockets closed".into(),
                errno: None,
            }),
        }
    }
}

/// The heartbeat paths of a router: public always, private when both sides have one, and the
/// witness when configured (from our public address, ephemeral port). A lone router (lvs.cf
/// without `backup`: the partner's address is our own) gets no partner paths: it would only
/// hear its own beats.
pub fn heartbeat_paths(
    ours: (IpAddr, Option<IpAddr>),
    partner: (IpAddr, Option<IpAddr>),
    port: u16,
    arbiter: Option<SocketAddr>,
) -> Vec<PathAddrs> {
    let lone = ours.0 == partner.0;
    let mut v = Vec::new();
    if !lone {
        v.push(PathAddrs {
            path: Path::Public,
            local: SocketAddr::new(ours.0, port),
            remote: SocketAddr::new(partner.0, port),
        });
    }
    if let (Some(a), Some(b), false) = (ours.1, partner.1, lone) {
        v.push(PathAddrs {
            path: Path::Private,
            local: SocketAddr::new(a, port),
            remote: SocketAddr::new(b, port),
        });
    }
    if let Some(w) = arbiter {
        v.push(PathAddrs {
            path: Path::Arbiter,
            local: SocketAddr::new(ours.0, 0),
            remote: w,
        });
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn datagram_then_refusal_on_loopback() {
        // Two "routers" on 127.0.0.1 with ephemeral ports: bind B first to learn its port.
        let b_sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b_addr = b_sock.local_addr().unwrap();
        let a = UdpHeartbeat::bind(&[PathAddrs {
            path: Path::Public,
            local: "127.0.0.1:0".parse().unwrap(),
            remote: b_addr,
        }])
        .await
        .unwrap();
        let a_addr = a.local_addr(Path::Public).unwrap();
        b_sock.send_to(b"\xda\xdb\xad\xbd", a_addr).unwrap();
        let got = tokio::time::timeout(std::time::Duration::from_secs(2), a.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            got,
            HeartbeatRecv::Datagram {
                path: Path::Public,
                from: b_addr,
                bytes: vec![0xda, 0xdb, 0xad, 0xbd]
            }
        );
        // B's daemon dies: its port closes, the next sends draw ICMP port unreachable.
        drop(b_sock);
        let mut refused = false;
        for _ in 0..20 {
            a.send(Path::Public, b"beat").await.unwrap();
            if let Ok(Ok(r)) =
                tokio::time::timeout(std::time::Duration::from_millis(50), a.recv()).await
            {
                assert_eq!(r, HeartbeatRecv::Refused { path: Path::Public });
                refused = true;
                break;
            }
        }
        assert!(refused, "ICMP port unreachable never surfaced");
    }

    #[test]
    fn paths_follow_the_configuration() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let p = heartbeat_paths(
            (ip("10.0.0.1"), None),
            (ip("10.0.0.2"), Some(ip("10.1.0.2"))),
            539,
            None,
        );
        assert_eq!(p.len(), 1, "private needs both sides");
        let p = heartbeat_paths(
            (ip("10.0.0.1"), Some(ip("10.1.0.1"))),
            (ip("10.0.0.2"), Some(ip("10.1.0.2"))),
            539,
            Some("10.0.0.9:540".parse().unwrap()),
        );
        assert_eq!(p.len(), 3);
        assert_eq!(p[1].remote, "10.1.0.2:539".parse().unwrap());
        assert_eq!(p[2].local.port(), 0);
        let lone = heartbeat_paths((ip("10.0.0.1"), None), (ip("10.0.0.1"), None), 539, None);
        assert!(lone.is_empty(), "a lone router must not hear itself");
    }
}
