//! Health probes with tokio: TCP/UDP connect-send-expect, external programs (no shell), and
//! load fetches. Every probe is a task with its own deadline and bounded reads, so one process
//! checks 10,000 real servers; a semaphore bounds how many run at once (file descriptors).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::process::Stdio;
use std::sync::Arc;

use async_trait::async_trait;
use piranha_engine::nanny::{
    CheckProtocol, LoadMonitor, ProbeFailure, ProbeResult, ProbeSpec, ReadPlan,
};
use piranha_engine::ports::Prober;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::time::{timeout_at, Instant};

/// Probes running at once (each holds a socket or a child process).
pub const DEFAULT_CONCURRENCY: usize = 512;
/// Most bytes read from a program's stdout.
pub const MAX_PROGRAM_OUTPUT_BYTES: usize = 64 << 10;
/// Most bytes any network read plan may ask for.
pub const MAX_READ_BYTES: usize = 64 << 10;

const EHOSTUNREACH: i32 = 113;
const ENETUNREACH: i32 = 101;

/// The real [`Prober`].
#[derive(Debug, Clone)]
pub struct TokioProber {
    permits: Arc<Semaphore>,
    rsh_command: String,
}

impl TokioProber {
    /// A prober running at most `concurrency` probes at once; `rsh_command` is lvs.cf's (`rsh`
    /// or `ssh`) for `load_monitor = uptime`.
    pub fn new(concurrency: usize, rsh_command: &str) -> TokioProber {
        assert!(concurrency > 0);
        TokioProber {
            permits: Arc::new(Semaphore::new(concurrency)),
            rsh_command: rsh_command.to_string(),
        }
    }
}

fn failure(e: &io::Error) -> ProbeFailure {
    match (e.kind(), e.raw_os_error()) {
        (io::ErrorKind::ConnectionRefused, _) => ProbeFailure::Refused,
        (io::ErrorKind::TimedOut, _) => ProbeFailure::TimedOut,
        (_, Some(EHOSTUNREACH | ENETUNREACH)) => ProbeFailure::Unreachable,
        _ => ProbeFailure::Other(e.to_string()),
    }
}

async fn tcp(
    addr: SocketAddr,
    send: Option<&[u8]>,
    read: ReadPlan,
    deadline: Instant,
) -> ProbeResult {
    let mut stream = match timeout_at(deadline, TcpStream::connect(addr)).await {
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
    let (want, once) = match read {
        ReadPlan::Nothing => return ProbeResult::Reply(Vec::new()),
        ReadPlan::Exactly(n) => (n.min(MAX_READ_BYTES), false),
        ReadPlan::UpTo(n) => (n.min(MAX_READ_BYTES), true),
    };
    let mut buf = vec![0u8; want];
    let mut got = 0;
    let mut closed = false;
    // Bounded: every iteration reads at least one byte or ends. A reply split over segments
    // is gathered up to the plan (Piranha's nanny made one read() and failed it as too short).
    while got < want {
        match timeout_at(deadline, stream.read(&mut buf[got..])).await {
            Err(_) => break,
            Ok(Ok(0)) => {
                closed = true;
                break;
            }
            Ok(Ok(n)) => {
                got += n;
                if once {
                    break;
                }
            }
            Ok(Err(e)) if got == 0 => return ProbeResult::Failed(failure(&e)),
            Ok(Err(_)) => break,
        }
    }
    if got == 0 && !closed {
        return ProbeResult::NoReply;
    }
    // Closed at once is an (empty) answer, not silence: nanny's read() returned 0 and
    // `expect = "*"` passed on it.
    buf.truncate(got);
    ProbeResult::Reply(buf)
}

async fn udp(
    addr: SocketAddr,
    send: Option<&[u8]>,
    read: ReadPlan,
    deadline: Instant,
) -> ProbeResult {
    let local: SocketAddr = match addr.ip() {
        IpAddr::V4(_) => "0.0.0.0:0".parse().expect("literal"),
        IpAddr::V6(_) => "[::]:0".parse().expect("literal"),
    };
    let socket = match UdpSocket::bind(local).await {
        Ok(s) => s,
        Err(e) => return ProbeResult::Failed(failure(&e)),
    };
    if let Err(e) = socket.connect(addr).await {
        return ProbeResult::Failed(failure(&e));
    }
    if let Err(e) = socket.send(send.unwrap_or(&[])).await {
        return ProbeResult::Failed(failure(&e));
    }
    let want = match read {
        ReadPlan::Nothing => 1,
        ReadPlan::Exactly(n) | ReadPlan::UpTo(n) => n.clamp(1, MAX_READ_BYTES),
    };
    let mut buf = vec![0u8; want];
    match timeout_at(deadline, socket.recv(&mut buf)).await {
        Err(_) => ProbeResult::NoReply,
        Ok(Err(e)) => ProbeResult::Failed(failure(&e)),
        Ok(Ok(_)) if read == ReadPlan::Nothing => ProbeResult::Reply(Vec::new()),
        Ok(Ok(n)) => {
            buf.truncate(n);
            ProbeResult::Reply(buf)
        }
    }
}

/// Run `argv` (no shell) until it exits or `deadline`; stdout read up to
/// [`MAX_PROGRAM_OUTPUT_BYTES`]. A program still running at the deadline is killed.
pub async fn run_program(argv: &[String], deadline: Instant) -> io::Result<(Option<i32>, Vec<u8>)> {
    let Some((program, args)) = argv.split_first() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty command"));
    };
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let mut stdout = child.stdout.take().expect("piped");
    let mut out = Vec::new();
    let mut chunk = vec![0u8; 4096];
    // Bounded: stops at EOF, at the size cap or at the deadline.
    loop {
        match timeout_at(deadline, stdout.read(&mut chunk)).await {
            Ok(Ok(0)) | Err(_) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                let room = MAX_PROGRAM_OUTPUT_BYTES - out.len();
                out.extend_from_slice(&chunk[..n.min(room)]);
                if out.len() >= MAX_PROGRAM_OUTPUT_BYTES {
                    break;
                }
            }
        }
    }
    drop(stdout);
    match timeout_at(deadline, child.wait()).await {
        Ok(Ok(status)) => Ok((status.code(), out)),
        Ok(Err(e)) => Err(e),
        Err(_) => {
            let _ = child.kill().await;
            Ok((None, out))
        }
    }
}

/// The 1-minute load from `uptime`, `rup` or `ruptime` output: the first number after
/// `load average:` (uptime, rup) or `load` (ruptime).
pub fn parse_load(text: &str) -> Option<f64> {
    let at = text
        .find("load average:")
        .map(|i| i + "load average:".len())
        .or_else(|| text.find("load").map(|i| i + "load".len()))?;
    let rest = text[at..].trim_start_matches([' ', ':']);
    let num: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    num.parse().ok()
}

impl TokioProber {
    async fn fetch_load(
        &self,
        method: LoadMonitor,
        addr: IpAddr,
        deadline: Instant,
    ) -> ProbeResult {
        let host = addr.to_string();
        let argv: Vec<String> = match method {
            LoadMonitor::None => return ProbeResult::LoadUnavailable,
            LoadMonitor::Uptime => {
                let mut v: Vec<String> = self
                    .rsh_command
                    .split_whitespace()
                    .map(String::from)
                    .collect();
                v.push(host);
                v.push("uptime".into());
                v
            }
            LoadMonitor::Rup => vec!["rup".into(), host],
            LoadMonitor::Ruptime => vec!["ruptime".into(), host],
        };
        match run_program(&argv, deadline).await {
            Ok((Some(0), out)) => match parse_load(&String::from_utf8_lossy(&out)) {
                Some(l) => ProbeResult::Load(l),
                None => ProbeResult::LoadUnavailable,
            },
            _ => ProbeResult::LoadUnavailable,
        }
    }
}

#[async_trait]
impl Prober for TokioProber {
    async fn probe(&self, spec: &ProbeSpec) -> ProbeResult {
        let Ok(_permit) = self.permits.acquire().await else {
            return ProbeResult::Failed(ProbeFailure::Other("prober closed".into()));
        };
        match spec {
            ProbeSpec::Connect {
                protocol,
                addr,
                port,
                send,
                read,
                timeout,
            } => {
                let deadline = Instant::now() + timeout.to_std();
                let to = SocketAddr::new(*addr, *port);
                match protocol {
                    CheckProtocol::Tcp => tcp(to, send.as_deref(), *read, deadline).await,
                    CheckProtocol::Udp => udp(to, send.as_deref(), *read, deadline).await,
                }
            }
            ProbeSpec::Program { argv, timeout } => {
                let deadline = Instant::now() + timeout.to_std();
                match run_program(argv, deadline).await {
                    Ok((code, stdout)) => ProbeResult::Exited { code, stdout },
                    Err(e) => ProbeResult::Failed(ProbeFailure::Other(format!(
                        "cannot run {:?}: {e}",
                        argv.first().map(String::as_str).unwrap_or("")
                    ))),
                }
            }
            ProbeSpec::FetchLoad {
                method,
                addr,
                timeout,
            } => {
                let deadline = Instant::now() + timeout.to_std();
                self.fetch_load(*method, *addr, deadline).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use piranha_engine::time::Duration;
    use tokio::net::TcpListener;

    fn connect(port: u16, send: Option<&[u8]>, read: ReadPlan, ms: u64) -> ProbeSpec {
        ProbeSpec::Connect {
            protocol: CheckProtocol::Tcp,
            addr: "127.0.0.1".parse().unwrap(),
            port,
            send: send.map(<[u8]>::to_vec),
            read,
            timeout: Duration::from_millis(ms),
        }
    }

    #[tokio::test]
    async fn tcp_send_expect_reads_exactly_the_plan() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut req = [0u8; 18];
            s.read_exact(&mut req).await.unwrap();
            assert_eq!(&req, b"GET / HTTP/1.0\r\n\r\n");
            s.write_all(b"HTTP/1.0 200 OK\r\n\r\nbody").await.unwrap();
        });
        let p = TokioProber::new(4, "rsh");
        let r = p
            .probe(&connect(
                port,
                Some(b"GET / HTTP/1.0\r\n\r\n"),
                ReadPlan::Exactly(4),
                2000,
            ))
            .await;
        assert_eq!(r, ProbeResult::Reply(b"HTTP".to_vec()));
    }

    #[tokio::test]
    async fn tcp_closed_port_is_refused_and_silence_is_no_reply() {
        let p = TokioProber::new(4, "rsh");
        // A port nobody listens on: bound (so no other test in this process
        // can be given it while we probe) but never listening, so the kernel
        // answers the SYN with a reset.
        let held = tokio::net::TcpSocket::new_v4().unwrap();
        held.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = held.local_addr().unwrap().port();
        let r = p.probe(&connect(port, None, ReadPlan::Nothing, 1000)).await;
        drop(held);
        assert_eq!(r, ProbeResult::Failed(ProbeFailure::Refused));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let r = p
            .probe(&connect(port, Some(b"x"), ReadPlan::Exactly(4), 200))
            .await;
        assert_eq!(r, ProbeResult::NoReply);
        drop(listener);
    }

    #[tokio::test]
    async fn tcp_reply_split_over_segments_is_gathered() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            s.set_nodelay(true).unwrap();
            s.write_all(b"HT").await.unwrap();
            s.flush().await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(150)).await;
            s.write_all(b"TP/1.0 200 OK\r\n").await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        });
        let p = TokioProber::new(4, "rsh");
        let r = p
            .probe(&connect(port, None, ReadPlan::Exactly(4), 2000))
            .await;
        assert_eq!(r, ProbeResult::Reply(b"HTTP".to_vec()));
    }

    #[tokio::test]
    async fn tcp_server_closing_at_once_is_an_empty_reply_not_silence() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            drop(s);
        });
        let p = TokioProber::new(4, "rsh");
        let r = p
            .probe(&connect(port, None, ReadPlan::Exactly(1), 2000))
            .await;
        assert_eq!(r, ProbeResult::Reply(Vec::new()));
        // ...which `expect = "*"` accepts, as Piranha's nanny did.
        let star = piranha_engine::nanny::Check::from_config(
            CheckProtocol::Tcp,
            8080,
            None,
            Some(b"*"),
            false,
            None,
        )
        .unwrap();
        assert!(piranha_engine::nanny::probe_passed(&star, &r));
    }

    #[tokio::test]
    async fn udp_closed_port_is_refused() {
        let p = TokioProber::new(4, "rsh");
        let port = {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            s.local_addr().unwrap().port()
        };
        let spec = ProbeSpec::Connect {
            protocol: CheckProtocol::Udp,
            addr: "127.0.0.1".parse().unwrap(),
            port,
            send: Some(b"ping".to_vec()),
            read: ReadPlan::UpTo(4),
            timeout: Duration::from_millis(1000),
        };
        assert_eq!(
            p.probe(&spec).await,
            ProbeResult::Failed(ProbeFailure::Refused)
        );
    }

    #[tokio::test]
    async fn program_output_and_timeout() {
        let p = TokioProber::new(4, "rsh");
        let spec = ProbeSpec::Program {
            argv: vec!["echo".into(), "ok".into()],
            timeout: Duration::from_millis(2000),
        };
        assert_eq!(
            p.probe(&spec).await,
            ProbeResult::Exited {
                code: Some(0),
                stdout: b"ok\n".to_vec()
            }
        );
        let spec = ProbeSpec::Program {
            argv: vec!["sleep".into(), "5".into()],
            timeout: Duration::from_millis(100),
        };
        let t = std::time::Instant::now();
        assert_eq!(
            p.probe(&spec).await,
            ProbeResult::Exited {
                code: None,
                stdout: vec![]
            }
        );
        assert!(t.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn load_from_uptime_rup_ruptime() {
        assert_eq!(
            parse_load(" 10:01:02 up 3 days,  2 users,  load average: 0.52, 0.40, 0.33"),
            Some(0.52)
        );
        assert_eq!(
            parse_load("web1   up  3 days, 2:01,  load average: 1.25, 0.40, 0.33"),
            Some(1.25)
        );
        assert_eq!(
            parse_load("web1  up 3+02:01, 2 users, load 2.00, 1.00, 0.50"),
            Some(2.0)
        );
        assert_eq!(parse_load("garbage"), None);
    }
}
