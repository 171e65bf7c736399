//! `piranha traffic` (hidden): the client and real server of the end-to-end failover harness
//! (tests/e2e_vm.rs, tests/kernel/e2e-guest.sh). Not an operator's tool: it measures what a
//! client sees while the directors fail, with one monotonic clock for the load and the fault
//! marks (busybox's `/proc/uptime` has 10 ms steps, and a process spawn per mark under
//! emulation costs more than that).
//!
//! - `traffic serve --listen ADDR --name NAME`: a real server. A connection whose first bytes
//!   are `GET ` gets one HTTP/1.0 answer (`200`, body NAME) and is closed; any other connection
//!   is echoed byte for byte until the peer closes (the long-lived connections). A health check
//!   that only connects and closes sees an accepting port.
//! - `traffic client --target VIP:PORT`: back-to-back short HTTP requests (`--workers` loops,
//!   each request bounded by `--timeout-ms`), plus `--long` connections that send 8 bytes every
//!   `--interval-ms` and expect them echoed. Commands on stdin, one a line: `fault NAME` opens a
//!   window at the instant it is read, `end` closes it and prints one `FAULT` line with its
//!   figures, `quit` exits. A long-lived connection that fails (reset, EOF, or no echo within
//!   `--stall-ms`) is counted dead and replaced by a new one.
//!
//! The `FAULT` line: `FAULT <name> outage_ms=<fault to the end of the first successful request
//! that started after the last failed one started: when a client arriving then is served again;
//! 0 without failures> recover_ms=<fault to the first success after the end of the window's
//! last failure: a request hung until its bound (a SYN lost while the VIP moved) stretches it to
//! at least that bound, although the other loops were served meanwhile> failed=<requests that
//! failed in the window>
//! ok=<that succeeded> last_fail_ms=<fault to the end of the last failure; -1 without>
//! long=<survived>/<open at the fault> stalled=<failures not counted> refused=<failures by
//! refusal or reset> last_refused_ms=<fault to the last of those; -1 without>`. A long-lived connection
//! survives when it is still open at `end` and exchanged bytes after the fault.
//!
//! Stalls: a loop of the same requests to a server of the client's own on loopback runs
//! alongside. A failure through the VIP whose interval overlaps a failed loopback request is
//! the machine stalling (an emulated VM on a busy host stops for hundreds of milliseconds at a
//! time), not the directors: it is counted as `stalled`, not as failed.

use std::io::{BufRead as _, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// A real server: HTTP/1.0 answers to `GET `, echo for anything else.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "0.0.0.0:80")]
        listen: SocketAddr,
        /// The body of every HTTP answer (which real server answered).
        #[arg(long, default_value = "rs")]
        name: String,
    },
    /// The measuring client; commands on stdin (`fault NAME`, `end`, `quit`).
    Client {
        /// The virtual service.
        #[arg(long)]
        target: SocketAddr,
        /// Concurrent loops of short requests.
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// Bound on one short request (connect, send, answer), milliseconds.
        #[arg(long, default_value_t = 200)]
        timeout_ms: u64,
        /// Long-lived connections kept open.
        #[arg(long, default_value_t = 10)]
        long: usize,
        /// Milliseconds between the long-lived connections' exchanges.
        #[arg(long, default_value_t = 50)]
        interval_ms: u64,
        /// A long-lived connection without an echo for this long is dead, milliseconds.
        #[arg(long, default_value_t = 5000)]
        stall_ms: u64,
        /// After each `FAULT` line, one `TRACE` line per failed request of the window (its
        /// end, milliseconds after the fault, and the error).
        #[arg(long)]
        trace: bool,
    },
}

impl Command {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            Command::Serve { listen, name } => serve(listen, &name),
            Command::Client {
                target,
                workers,
                timeout_ms,
                long,
                interval_ms,
                stall_ms,
                trace,
            } => client(
                target,
                workers,
                Duration::from_millis(timeout_ms),
                long,
                Duration::from_millis(interval_ms),
                Duration::from_millis(stall_ms),
                trace,
            ),
        }
    }
}

fn serve(listen: SocketAddr, name: &str) -> anyhow::Result<ExitCode> {
    let listener = TcpListener::bind(listen).with_context(|| format!("bind {listen}"))?;
    let body: Arc<str> = format!("{name}\n").into();
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        let body = Arc::clone(&body);
        std::thread::spawn(move || {
            let _ = serve_one(conn, &body);
        });
    }
    Ok(ExitCode::SUCCESS)
}

fn serve_one(mut conn: TcpStream, body: &str) -> std::io::Result<()> {
    conn.set_nodelay(true)?;
    let mut buf = [0u8; 4096];
    let mut seen = Vec::new();
    // Enough bytes to tell a request from an echo stream.
    while seen.len() < 4 {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        seen.extend_from_slice(&buf[..n]);
    }
    if seen.starts_with(b"GET ") {
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") && seen.len() < 16384 {
            let n = conn.read(&mut buf)?;
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        let answer = format!(
            "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        return conn.write_all(answer.as_bytes());
    }
    conn.write_all(&seen)?;
    loop {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        conn.write_all(&buf[..n])?;
    }
}

/// One short request's outcome: when it started and ended, whether it succeeded.
#[derive(Clone, Copy)]
struct Request {
    start: Instant,
    end: Instant,
    ok: bool,
    /// Why it failed (`ErrorKind`'s name), for `--trace`.
    error: Option<std::io::ErrorKind>,
}

/// One long-lived connection.
struct Long {
    opened: Instant,
    last_ok: Instant,
    died: Option<Instant>,
    /// Why it died, for `--trace`.
    error: Option<std::io::ErrorKind>,
}

#[derive(Default)]
struct Record {
    requests: Vec<Request>,
    longs: Vec<Long>,
    /// The failed requests of the control loop (to this process's own loopback server): when
    /// the machine itself stalls (an emulated VM on a busy host), they fail too.
    stalls: Vec<(Instant, Instant)>,
}

impl Record {
    /// A failure through the VIP that overlaps a failed control request: the machine stalled,
    /// the directors did not fail the client.
    fn stalled(&self, q: &Request) -> bool {
        self.stalls.iter().any(|&(s, e)| s <= q.end && q.start <= e)
    }
}

fn client(
    target: SocketAddr,
    workers: usize,
    timeout: Duration,
    long: usize,
    interval: Duration,
    stall: Duration,
    trace: bool,
) -> anyhow::Result<ExitCode> {
    let record = Arc::new(Mutex::new(Record::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for w in 0..workers {
        let (record, stop) = (Arc::clone(&record), Arc::clone(&stop));
        threads.push(std::thread::spawn(move || {
            // Stagger the loops so their requests sample different instants.
            std::thread::sleep(timeout / (workers as u32 + 1) * w as u32);
            while !stop.load(Ordering::Relaxed) {
                let start = Instant::now();
                let result = request(target, timeout);
                let end = Instant::now();
                let ok = result.is_ok();
                let error = result.err().map(|e| e.kind());
                record.lock().unwrap().requests.push(Request {
                    start,
                    end,
                    ok,
                    error,
                });
                if !ok {
                    // A refused connection fails at once: do not spin on it.
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }));
    }
    // The control loop: the same requests to a server of this process on loopback.
    let control = TcpListener::bind("127.0.0.1:0").context("bind the control server")?;
    let control_addr = control.local_addr()?;
    std::thread::spawn(move || {
        for conn in control.incoming().flatten() {
            std::thread::spawn(move || serve_one(conn, "control\n"));
        }
    });
    {
        let (record, stop) = (Arc::clone(&record), Arc::clone(&stop));
        threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let start = Instant::now();
                if request(control_addr, timeout).is_err() {
                    let end = Instant::now();
                    record.lock().unwrap().stalls.push((start, end));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }));
    }
    for _ in 0..long {
        let (record, stop) = (Arc::clone(&record), Arc::clone(&stop));
        threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                long_lived(target, interval, stall, &record, &stop);
                std::thread::sleep(Duration::from_millis(100));
            }
        }));
    }

    let mut window: Option<(String, Instant)> = None;
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let line = line.context("read stdin")?;
        let now = Instant::now();
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("fault"), Some(name)) => window = Some((name.to_string(), now)),
            (Some("end"), _) => {
                if let Some((name, at)) = window.take() {
                    let r = record.lock().unwrap();
                    println!("{}", figures(&name, at, now, &r));
                    if trace {
                        for q in r.requests.iter().filter(|q| q.end >= at && q.end <= now) {
                            if let Some(e) = q.error {
                                let stall = if r.stalled(q) { " (stalled)" } else { "" };
                                println!("TRACE {name} {:.0} {e:?}{stall}", ms(at, q.end));
                            }
                        }
                        for l in &r.longs {
                            if let (Some(d), Some(e)) = (l.died, l.error) {
                                if d >= at && d <= now {
                                    println!("TRACE {name} {:.0} long-lived: {e:?}", ms(at, d));
                                }
                            }
                        }
                    }
                }
            }
            (Some("stats"), _) => {
                let r = record.lock().unwrap();
                let ok = r.requests.iter().filter(|q| q.ok).count();
                let open = r.longs.iter().filter(|l| l.died.is_none()).count();
                println!(
                    "STATS requests={} ok={ok} long_open={open} long_total={}",
                    r.requests.len(),
                    r.longs.len()
                );
            }
            (Some("quit"), _) => break,
            (None, _) => {}
            _ => eprintln!("traffic client: unknown command {line:?}"),
        }
        std::io::stdout().flush()?;
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    Ok(ExitCode::SUCCESS)
}

/// One short HTTP/1.0 request, all of it within `timeout`.
fn request(target: SocketAddr, timeout: Duration) -> std::io::Result<()> {
    let deadline = Instant::now() + timeout;
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::TimedOut))
    };
    let mut conn = TcpStream::connect_timeout(&target, timeout)?;
    conn.set_nodelay(true)?;
    conn.set_write_timeout(Some(left()?))?;
    conn.write_all(b"GET / HTTP/1.0\r\nHost: vip\r\n\r\n")?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        conn.set_read_timeout(Some(left()?))?;
        let n = conn.read(&mut buf)?;
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    if answer.starts_with(b"HTTP/1.0 200") || answer.starts_with(b"HTTP/1.1 200") {
        Ok(())
    } else {
        Err(std::io::Error::other("not a 200 answer"))
    }
}

/// Open one long-lived connection and exchange 8 bytes every `interval` until it fails or the
/// client stops. Its fate goes into the record.
fn long_lived(
    target: SocketAddr,
    interval: Duration,
    stall: Duration,
    record: &Mutex<Record>,
    stop: &AtomicBool,
) {
    let Ok(mut conn) = TcpStream::connect_timeout(&target, Duration::from_millis(500)) else {
        return;
    };
    let exchange = |conn: &mut TcpStream, seq: u64| -> std::io::Result<()> {
        let out = seq.to_be_bytes();
        conn.write_all(&out)?;
        let mut back = [0u8; 8];
        conn.read_exact(&mut back)?;
        if back == out {
            Ok(())
        } else {
            Err(std::io::Error::other("echo differs"))
        }
    };
    if conn.set_nodelay(true).is_err()
        || conn.set_read_timeout(Some(stall)).is_err()
        || conn.set_write_timeout(Some(stall)).is_err()
        || exchange(&mut conn, 0).is_err()
    {
        return;
    }
    let idx = {
        let mut r = record.lock().unwrap();
        let now = Instant::now();
        r.longs.push(Long {
            opened: now,
            last_ok: now,
            died: None,
            error: None,
        });
        r.longs.len() - 1
    };
    let mut seq = 1;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(interval);
        let result = exchange(&mut conn, seq);
        let now = Instant::now();
        let mut r = record.lock().unwrap();
        match result {
            Ok(()) => r.longs[idx].last_ok = now,
            Err(e) => {
                r.longs[idx].died = Some(now);
                r.longs[idx].error = Some(e.kind());
                return;
            }
        }
        seq += 1;
    }
}

fn ms(from: Instant, to: Instant) -> f64 {
    to.saturating_duration_since(from).as_secs_f64() * 1000.0
}

/// The `FAULT` line of the window [`at`, `end`].
fn figures(name: &str, at: Instant, end: Instant, r: &Record) -> String {
    let (in_window, stalled): (Vec<Request>, Vec<Request>) = r
        .requests
        .iter()
        .copied()
        .filter(|q| q.end >= at && q.end <= end)
        .partition(|q| q.ok || !r.stalled(q));
    let failed = in_window.iter().filter(|q| !q.ok).count();
    // Refused or reset: a director (or the real server behind it) answered "no", which a stall
    // cannot cause: the VIP without a real server, a real server down, a table removed.
    let refused: Vec<Instant> = in_window
        .iter()
        .filter(|q| {
            matches!(
                q.error,
                Some(std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset)
            )
        })
        .map(|q| q.end)
        .collect();
    let last_refused = refused.iter().max().copied();
    let last_fail = in_window.iter().filter(|q| !q.ok).map(|q| q.end).max();
    let recover = match last_fail {
        None => Some(0.0),
        Some(lf) => in_window
            .iter()
            .filter(|q| q.ok && q.end > lf)
            .map(|q| q.end)
            .min()
            .map(|s| ms(at, s)),
    };
    let outage = outage_ms(at, &in_window);
    let open_at_fault: Vec<&Long> = r
        .longs
        .iter()
        .filter(|l| l.opened <= at && l.died.is_none_or(|d| d > at))
        .collect();
    let survived = open_at_fault
        .iter()
        .filter(|l| l.died.is_none_or(|d| d > end) && l.last_ok > at)
        .count();
    format!(
        "FAULT {name} outage_ms={} recover_ms={} failed={failed} ok={} last_fail_ms={} long={survived}/{} stalled={} refused={} last_refused_ms={}",
        outage.map_or("-1".to_string(), |o| format!("{o:.0}")),
        recover.map_or("-1".to_string(), |o| format!("{o:.0}")),
        in_window.len() - failed,
        last_fail.map_or("-1".to_string(), |l| format!("{:.0}", ms(at, l))),
        open_at_fault.len(),
        stalled.len(),
        refused.len(),
        last_refused.map_or("-1".to_string(), |l| format!("{:.0}", ms(at, l)))
    )
}

/// The outage a client arriving during the fault sees: from the fault to the end of the first
/// successful request that *started* after the last failed one started (by start time, so a
/// request hung until its bound does not hide the requests the other loops had served
/// meanwhile). `Some(0)` without failures, `None` when nothing succeeded after the last failure.
fn outage_ms(at: Instant, requests: &[Request]) -> Option<f64> {
    let Some(last_failed_start) = requests.iter().filter(|q| !q.ok).map(|q| q.start).max() else {
        return Some(0.0);
    };
    requests
        .iter()
        .filter(|q| q.ok && q.start > last_failed_start)
        .map(|q| q.end)
        .min()
        .map(|e| ms(at, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(at: Instant, start: u64, end: u64, ok: bool) -> Request {
        Request {
            start: at + Duration::from_millis(start),
            end: at + Duration::from_millis(end),
            ok,
            error: None,
        }
    }

    #[test]
    fn a_hung_request_does_not_stretch_the_outage_to_its_bound() {
        let at = Instant::now();
        // Fails quickly at 10-40 ms; one SYN lost at 50 ms hangs until its 500 ms bound; the
        // other loops' requests from 60 ms on succeed in 5 ms.
        let mut reqs = vec![
            q(at, 10, 12, false),
            q(at, 40, 41, false),
            q(at, 50, 550, false),
        ];
        reqs.extend((60..600).step_by(10).map(|s| q(at, s, s + 5, true)));
        assert_eq!(outage_ms(at, &reqs), Some(65.0));
        // No failure: no outage. Nothing after the last failure: unbounded.
        assert_eq!(outage_ms(at, &reqs[3..]), Some(0.0));
        assert_eq!(outage_ms(at, &reqs[..3]), None);
    }
}
