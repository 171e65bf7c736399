//! Slow and idle clients against the real listener of `piranha gui` on loopback (plain HTTP
//! and TLS): slowloris connections trickling their headers are closed within the header
//! timeout while a normal request still succeeds; connections beyond the per-address cap are
//! closed at once; a TLS client that never finishes its handshake is closed too. Bounded:
//! at most 20 connections, every wait under 10 s.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use piranha_daemon::gui::{self, auth, GuiConfig, Limits};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const PASSWORD: &str = "slow client test";

fn limits() -> Limits {
    Limits {
        header_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(3),
        max_connections: 64,
        max_connections_per_source: 24,
        ..Limits::default()
    }
}

struct Server {
    port: u16,
    task: tokio::task::JoinHandle<Result<(), String>>,
    /// The self-signed certificate (TLS).
    cert: Option<rustls::pki_types::CertificateDer<'static>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start(name: &str, limits: Limits, tls: bool) -> Server {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("gui_slow")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("lvs.cf"),
        include_str!("corpus/gui_two_routers.cf"),
    )
    .unwrap();
    std::fs::write(
        dir.join("passwd"),
        format!("piranha:{}\n", auth::hash_password(PASSWORD).unwrap()),
    )
    .unwrap();
    let mut cert = None;
    let tls = tls.then(|| {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        std::fs::write(dir.join("cert.pem"), ck.cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), ck.signing_key.serialize_pem()).unwrap();
        cert = Some(ck.cert.der().clone());
        (dir.join("cert.pem"), dir.join("key.pem"))
    });
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen: SocketAddr = ([127, 0, 0, 1], port).into();
    let task = tokio::spawn(gui::serve(GuiConfig {
        config_path: dir.join("lvs.cf"),
        passwd_file: dir.join("passwd"),
        listen,
        control_socket: dir.join("none.sock"),
        tls,
        limits,
        allowed_hosts: Vec::new(),
        edit_commands: false,
    }));
    let start = Instant::now();
    while TcpStream::connect(listen).await.is_err() {
        assert!(!task.is_finished(), "the server stopped");
        assert!(start.elapsed() < Duration::from_secs(10), "no listener");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // That probe connection is closed by the server within the header timeout; wait it out.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    Server { port, task, cert }
}

/// A whole plain-HTTP exchange: the status line.
async fn get_login(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(b"GET /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .expect("an answer within 5 s")
        .unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    text.lines().next().unwrap_or_default().to_string()
}

/// Send the start of a request, then one byte every 200 ms, until the server closes the
/// connection (or 8 s pass): how long the server kept it.
async fn slowloris(port: u16) -> Duration {
    let start = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let _ = s
        .write_all(b"GET /login HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .await;
    let mut buf = [0u8; 512];
    while start.elapsed() < Duration::from_secs(8) {
        tokio::select! {
            r = s.read(&mut buf) => match r {
                Ok(0) | Err(_) => return start.elapsed(),
                Ok(_) => {}
            },
            _ = tokio::time::sleep(Duration::from_millis(200)) => {
                if s.write_all(b"x").await.is_err() {
                    return start.elapsed();
                }
            }
        }
    }
    start.elapsed()
}

/// Wait for the server to close an idle connection: how long it took (at most `max`).
async fn closed_after(mut s: impl tokio::io::AsyncRead + Unpin, max: Duration) -> Duration {
    let start = Instant::now();
    let mut buf = [0u8; 512];
    loop {
        match tokio::time::timeout(max.saturating_sub(start.elapsed()), s.read(&mut buf)).await {
            Err(_) => return start.elapsed(),
            Ok(Ok(0)) | Ok(Err(_)) => return start.elapsed(),
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn slowloris_connections_are_closed_and_do_not_block_others() {
    let server = start("slowloris", limits(), false).await;
    let port = server.port;
    let slow: Vec<_> = (0..16).map(|_| tokio::spawn(slowloris(port))).collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // 16 slow connections are open: a normal request is still answered.
    assert_eq!(get_login(port).await, "HTTP/1.1 200 OK");
    for s in slow {
        let kept = s.await.unwrap();
        // Header timeout 1 s; generous slack for a loaded machine, far below the 8 s cap.
        assert!(
            kept >= Duration::from_millis(900) && kept < Duration::from_secs(4),
            "a slow connection was kept {kept:?}"
        );
    }
    // A connection that sends nothing at all is closed as well.
    let idle = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let t = closed_after(idle, Duration::from_secs(8)).await;
    assert!(
        t < Duration::from_secs(4),
        "an idle connection was kept {t:?}"
    );
    drop(server);
}

#[tokio::test]
async fn connections_beyond_the_per_address_cap_are_closed_at_once() {
    let server = start(
        "cap",
        Limits {
            max_connections_per_source: 4,
            ..limits()
        },
        false,
    )
    .await;
    let port = server.port;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(("127.0.0.1", port)).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let extra = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let t = closed_after(extra, Duration::from_secs(8)).await;
    assert!(
        t < Duration::from_millis(800),
        "the fifth connection was kept {t:?}"
    );
    // The held ones time out (header timeout), and then the address is served again.
    for h in held {
        let t = closed_after(h, Duration::from_secs(8)).await;
        assert!(t < Duration::from_secs(4), "{t:?}");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(get_login(port).await, "HTTP/1.1 200 OK");
    drop(server);
}

#[tokio::test]
async fn tls_clients_that_stall_are_closed() {
    let server = start("tls", limits(), true).await;
    let port = server.port;
    // No ClientHello at all.
    let raw = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let t = closed_after(raw, Duration::from_secs(8)).await;
    assert!(
        t < Duration::from_secs(4),
        "a silent TLS client was kept {t:?}"
    );
    // A finished handshake, then half a request header, trickled.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(server.cert.clone().unwrap()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let config = Arc::new(config);
    let connector = tokio_rustls::TlsConnector::from(config.clone());
    let start = Instant::now();
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(b"GET /login HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    tls.flush().await.unwrap();
    let t = closed_after(tls, Duration::from_secs(8)).await;
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "a TLS slowloris was kept {t:?}"
    );
    // HTTP/2 (ALPN h2), then silence: closed by the idle timeout (3 s here), not kept alive.
    let mut h2 = rustls::ClientConfig::clone(&config);
    h2.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(h2));
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let start = Instant::now();
    let tls = connector.connect(name, tcp).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let t = closed_after(tls, Duration::from_secs(10)).await;
    assert!(
        t >= Duration::from_millis(2500) && start.elapsed() < Duration::from_secs(7),
        "an idle HTTP/2 connection was closed after {t:?}"
    );
    drop(server);
}
