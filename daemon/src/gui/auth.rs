//! Who may use the tool: the password file (argon2), sessions (random 256-bit tokens in
//! HttpOnly SameSite=Strict cookies, idle and absolute expiry), CSRF tokens and login rate
//! limiting. Nothing here knows about pages.

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use sha2::{Digest, Sha256};

/// The one user name the tool knows, as in the original.
pub const USER: &str = "piranha";

/// Name of the session cookie.
pub const COOKIE: &str = "piranha_session";

/// Shortest password `piranha passwd` accepts.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Hash a password for the password file (argon2id, random salt, PHC string).
pub fn hash_password(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Whether `password` matches the PHC string `hash`. Slow on purpose (argon2).
pub fn verify_password(hash: &str, password: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

type VerifyJob = (String, String, tokio::sync::oneshot::Sender<bool>);

/// A fixed pool of threads that verify passwords, fed through a bounded queue. Each argon2
/// verify takes 19 MiB; a fixed set of threads (not tokio's blocking pool, which grows a
/// thread, and with it a malloc arena that keeps its 19 MiB, whenever its threads are busy)
/// bounds the tool's memory whatever the number of parallel logins. The threads end when the
/// pool is dropped.
#[derive(Debug)]
pub struct Verifier {
    tx: std::sync::mpsc::SyncSender<VerifyJob>,
}

impl Verifier {
    /// `threads` verifying threads, at most `queue` verifies waiting.
    pub fn new(threads: usize, queue: usize) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel::<VerifyJob>(queue);
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("gui-verify-{i}"))
                .spawn(move || {
                    let mut memory = Vec::new();
                    loop {
                        let job = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => return,
                        };
                        let Ok((hash, password, reply)) = job else {
                            return;
                        };
                        let _ = reply.send(verify_password_in(&hash, &password, &mut memory));
                    }
                })
                .expect("cannot start a password verify thread");
        }
        Verifier { tx }
    }

    /// Queue a verify; `None` when the queue is full (answer "busy", count nothing).
    pub fn submit(
        &self,
        hash: String,
        password: String,
    ) -> Option<tokio::sync::oneshot::Receiver<bool>> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.tx.try_send((hash, password, reply)).ok()?;
        Some(answer)
    }
}

/// [`verify_password`] in `memory`: argon2's working blocks, kept between calls (grown when a
/// hash asks for more, never shrunk), so that a verify thread allocates its 19 MiB once and
/// the allocator never piles up freed copies.
pub fn verify_password_in(hash: &str, password: &str, memory: &mut Vec<argon2::Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(params) = argon2::Params::try_from(&parsed) else {
        return false;
    };
    let Ok(algorithm) = argon2::Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version.map(argon2::Version::try_from) {
        None => argon2::Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, argon2::Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    let ok = Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(
            password.as_bytes(),
            salt.as_ref(),
            &mut out,
            &mut memory[..blocks],
        )
        .is_ok();
    ok && constant_time_eq(&out, expected.as_ref())
}

/// Write the password file: `piranha:<argon2 PHC string>`, mode 0600, atomically.
pub fn write_password_file(path: &Path, password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "password too short: at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    let hash = hash_password(password)?;
    let line = format!("{USER}:{hash}\n");
    super::store::write_atomically(path, line.as_bytes(), 0o600)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Read the password file and return its hash. The error says how to create one.
pub fn read_password_file(path: &Path) -> Result<String, String> {
    let how = format!(
        "set a password first: piranha passwd --passwd-file {}",
        path.display()
    );
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read password file {}: {e}; {how}", path.display()))?;
    let line = text.lines().next().unwrap_or("").trim();
    let hash = line.strip_prefix("piranha:").unwrap_or("");
    if PasswordHash::new(hash).is_err() {
        return Err(format!("{}: no password hash in it; {how}", path.display()));
    }
    Ok(hash.to_string())
}

/// What identifies one version of a file on disk: a rewrite (`piranha passwd` renames a new
/// file into place), an edit in place or a `touch` changes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt as _;
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        dev: m.dev(),
        ino: m.ino(),
        size: m.size(),
        mtime: (m.mtime(), m.mtime_nsec()),
        ctime: (m.ctime(), m.ctime_nsec()),
    })
}

/// The password file of a running tool, re-read when it changes on disk (checked on every
/// request: one `stat`), so `piranha passwd` takes effect without a restart.
#[derive(Debug)]
pub struct PasswordFile {
    path: std::path::PathBuf,
    stamp: Option<Stamp>,
    /// The hash, or why there is none (then every login is refused).
    hash: Result<String, String>,
}

impl PasswordFile {
    /// Read it (the error says how to create one).
    pub fn open(path: &Path) -> Result<Self, String> {
        let stamp = stamp(path);
        let hash = read_password_file(path)?;
        Ok(PasswordFile {
            path: path.to_path_buf(),
            stamp,
            hash: Ok(hash),
        })
    }

    /// Re-read the file if it changed since the last look. `true` when the password itself
    /// changed (or the file became unusable): the caller ends every session.
    pub fn refresh(&mut self) -> bool {
        let now = stamp(&self.path);
        if now == self.stamp && now.is_some() {
            return false;
        }
        self.stamp = now;
        let new = read_password_file(&self.path);
        let changed = match (&self.hash, &new) {
            (Ok(a), Ok(b)) => a != b,
            (Err(_), Err(_)) => false,
            _ => true,
        };
        if changed {
            match &new {
                Ok(_) => tracing::warn!(
                    "{}: the password changed; every session ends",
                    self.path.display()
                ),
                Err(e) => tracing::warn!("{e}; every session ends and logins are refused"),
            }
        }
        self.hash = new;
        changed
    }

    /// The hash logins are checked against, if the file is usable.
    pub fn hash(&self) -> Option<&str> {
        self.hash.as_deref().ok()
    }
}

/// Read a new password: from the terminal (asked twice) when stdin is one, else one line
/// from stdin.
pub fn read_new_password() -> Result<String, String> {
    use std::io::IsTerminal as _;
    if std::io::stdin().is_terminal() {
        let a =
            rpassword::prompt_password("New password for piranha: ").map_err(|e| e.to_string())?;
        let b = rpassword::prompt_password("Again: ").map_err(|e| e.to_string())?;
        if a != b {
            return Err("the two passwords differ".into());
        }
        Ok(a)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        let _ = std::io::stderr().flush();
        Ok(line.trim_end_matches(['\n', '\r']).to_string())
    }
}

/// `n` random bytes from the operating system, as lowercase hex.
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).expect("the operating system's random source failed");
    hex(&buf)
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compare two secrets in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Session and login limits.
#[derive(Clone, Debug)]
pub struct Limits {
    /// A session unused this long ends.
    pub session_idle: Duration,
    /// A session ends this long after login, used or not.
    pub session_max: Duration,
    /// Most sessions at once (the oldest is dropped beyond).
    pub max_sessions: usize,
    /// Failed logins from one address before it must wait.
    pub free_failures: u32,
    /// Longest wait imposed on one address (the wait doubles per failure).
    pub max_backoff: Duration,
    /// Failed logins from all sources per minute before only sources without failures (and
    /// sources that logged in before) are verified, until the minute ends.
    pub global_failures_per_minute: u32,
    /// Password verifies running at once: threads of the verify pool (each argon2 verify
    /// takes 19 MiB).
    pub concurrent_verifies: usize,
    /// Logins waiting for a verify beyond which a login is answered 503 at once.
    pub queued_verifies: usize,
    /// Longest time to receive a request's headers (HTTP/1.1; also the keep-alive idle time)
    /// and to finish a TLS handshake.
    pub header_timeout: Duration,
    /// Longest time to receive a POST body.
    pub body_timeout: Duration,
    /// A connection that moves no byte either way this long is closed.
    pub idle_timeout: Duration,
    /// An HTTP/2 connection is shut down gracefully this long after it was opened.
    pub max_connection_age: Duration,
    /// Most open connections (beyond, a new one is closed at once).
    pub max_connections: usize,
    /// Most open connections from one client address.
    pub max_connections_per_source: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            session_idle: Duration::from_secs(30 * 60),
            session_max: Duration::from_secs(12 * 3600),
            max_sessions: 64,
            free_failures: 3,
            max_backoff: Duration::from_secs(300),
            global_failures_per_minute: 30,
            concurrent_verifies: 2,
            queued_verifies: 32,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connection_age: Duration::from_secs(600),
            max_connections: 128,
            max_connections_per_source: 32,
        }
    }
}

/// One logged-in browser.
#[derive(Clone, Debug)]
pub struct Session {
    /// The CSRF token every POST of this session must carry.
    pub csrf: String,
    created: Instant,
    last_seen: Instant,
    /// A one-shot message for the next page.
    pub flash: Option<String>,
}

/// The session store. Keys are SHA-256 of the token, so the map never holds a usable token.
#[derive(Debug, Default)]
pub struct Sessions {
    by_hash: HashMap<String, Session>,
}

fn token_key(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

impl Sessions {
    /// Start a session; returns its token (for the cookie).
    pub fn create(&mut self, limits: &Limits, now: Instant) -> String {
        self.expire(limits, now);
        while self.by_hash.len() >= limits.max_sessions.max(1) {
            let oldest = self
                .by_hash
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => self.by_hash.remove(&k),
                None => break,
            };
        }
        let token = random_hex(32);
        self.by_hash.insert(
            token_key(&token),
            Session {
                csrf: random_hex(32),
                created: now,
                last_seen: now,
                flash: None,
            },
        );
        token
    }

    /// The live session of `token`, touched (idle timer restarted).
    pub fn get(&mut self, token: &str, limits: &Limits, now: Instant) -> Option<&mut Session> {
        self.expire(limits, now);
        let s = self.by_hash.get_mut(&token_key(token))?;
        s.last_seen = now;
        Some(s)
    }

    /// End a session.
    pub fn remove(&mut self, token: &str) {
        self.by_hash.remove(&token_key(token));
    }

    /// End every session.
    pub fn clear(&mut self) {
        self.by_hash.clear();
    }

    /// Number of live sessions.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether no session is live.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    fn expire(&mut self, limits: &Limits, now: Instant) {
        self.by_hash.retain(|_, s| {
            now.saturating_duration_since(s.last_seen) < limits.session_idle
                && now.saturating_duration_since(s.created) < limits.session_max
        });
    }
}

/// The session token in a `Cookie` header, if any.
pub fn token_from_cookies(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The `Set-Cookie` value for a new session.
pub fn session_cookie(token: &str, secure: bool, max_age: Duration) -> String {
    format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        max_age.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that clears the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

#[derive(Debug)]
struct Offender {
    failures: u32,
    not_before: Instant,
    /// A verify of this source is running (its outcome is not known yet).
    in_flight: bool,
}

/// Login throttling, decided *before* the password is verified (an attempt is reserved, and
/// counted as a failure until it succeeds), so parallel requests cannot all get through:
///
/// - per source (an IPv4 address, or an IPv6 /64): one attempt at a time, `free_failures`
///   failures, then a wait doubling from 1 s to `max_backoff`;
/// - globally: `global_failures_per_minute`. Once spent, until the minute ends, only sources
///   with no failure on record and sources that logged in successfully since the tool started
///   are let through: a flood of wrong passwords does not lock out an operator who types the
///   right one.
///
/// Memory is bounded (at most [`MAX_TRACKED_ADDRESSES`] sources and [`MAX_TRUSTED`] trusted
/// ones). CPU and memory of the verifies themselves are bounded by the caller's semaphore.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    by_source: HashMap<IpAddr, Offender>,
    trusted: HashSet<IpAddr>,
    window_start: Option<Instant>,
    window_failures: u32,
}

/// Most sources remembered by the limiter.
pub const MAX_TRACKED_ADDRESSES: usize = 10_000;

/// Most sources remembered as having logged in successfully.
pub const MAX_TRUSTED: usize = 256;

/// The wait after `failures` failures: none within the free ones, then doubling from 1 s.
fn backoff(failures: u32, limits: &Limits) -> Duration {
    if failures <= limits.free_failures {
        return Duration::ZERO;
    }
    let doublings = (failures - limits.free_failures - 1).min(20);
    Duration::from_secs(1u64 << doublings).min(limits.max_backoff)
}

/// What the limiter counts: an IPv4 address (IPv4-mapped IPv6 included), or an IPv6 /64
/// (one site's usual share, so rotating the low bits gains nothing).
pub fn login_source(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(
                u128::from(a) & !((1u128 << 64) - 1),
            )),
        },
    }
}

impl LoginLimiter {
    fn roll_window(&mut self, now: Instant) -> Option<Instant> {
        let start = self.window_start?;
        let end = start + Duration::from_secs(60);
        if now >= end {
            self.window_start = None;
            self.window_failures = 0;
            None
        } else {
            Some(end)
        }
    }

    /// Reserve a login attempt of `ip`, to be verified now: `Err(wait)` when it must not try.
    /// A reserved attempt counts as a failure until [`LoginLimiter::finished`] says otherwise.
    pub fn reserve(&mut self, ip: IpAddr, limits: &Limits, now: Instant) -> Result<(), Duration> {
        let src = login_source(ip);
        let window_end = self.roll_window(now);
        let exhausted = self.window_failures >= limits.global_failures_per_minute;
        if let Some(o) = self.by_source.get(&src) {
            if o.in_flight {
                return Err(Duration::from_secs(1));
            }
            if o.not_before > now {
                return Err(o.not_before - now);
            }
            if exhausted && o.failures > 0 && !self.trusted.contains(&src) {
                return Err(window_end.map_or(Duration::from_secs(1), |e| e - now));
            }
        }
        if self.by_source.len() >= MAX_TRACKED_ADDRESSES && !self.by_source.contains_key(&src) {
            self.by_source
                .retain(|_, o| o.in_flight || o.not_before > now);
            if self.by_source.len() >= MAX_TRACKED_ADDRESSES {
                return Err(Duration::from_secs(1));
            }
        }
        if self.window_start.is_none() {
            self.window_start = Some(now);
        }
        self.window_failures = self.window_failures.saturating_add(1);
        let o = self.by_source.entry(src).or_insert(Offender {
            failures: 0,
            not_before: now,
            in_flight: false,
        });
        o.in_flight = true;
        o.failures = o.failures.saturating_add(1);
        o.not_before = now + backoff(o.failures, limits);
        Ok(())
    }

    /// The verify of a reserved attempt is over (at `now`). Success forgives the source's
    /// failures, gives the reservation back to the global budget and trusts the source; a
    /// failure's wait runs from now (the verify itself takes time).
    pub fn finished(&mut self, ip: IpAddr, success: bool, limits: &Limits, now: Instant) {
        let src = login_source(ip);
        if success {
            self.by_source.remove(&src);
            self.window_failures = self.window_failures.saturating_sub(1);
            if self.trusted.len() >= MAX_TRUSTED {
                self.trusted.clear();
            }
            self.trusted.insert(src);
        } else if let Some(o) = self.by_source.get_mut(&src) {
            o.in_flight = false;
            o.not_before = now + backoff(o.failures, limits);
        }
    }

    /// Take back a reservation that was never verified (the verify queue was full).
    pub fn cancel(&mut self, ip: IpAddr, limits: &Limits, now: Instant) {
        let src = login_source(ip);
        self.window_failures = self.window_failures.saturating_sub(1);
        if let Some(o) = self.by_source.get_mut(&src) {
            o.in_flight = false;
            o.failures = o.failures.saturating_sub(1);
            o.not_before = now + backoff(o.failures, limits);
            if o.failures == 0 {
                self.by_source.remove(&src);
            }
        }
    }

    /// Failures counted in the current minute, over all sources.
    pub fn global_failures(&self) -> u32 {
        self.window_failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hash_round_trip() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "correct horsf"));
        assert!(!verify_password("garbage", "correct horse"));
        let mut mem = Vec::new();
        assert!(verify_password_in(&h, "correct horse", &mut mem));
        assert!(!verify_password_in(&h, "correct horsf", &mut mem));
        assert!(!verify_password_in("garbage", "correct horse", &mut mem));
        assert_eq!(
            mem.len(),
            19 * 1024,
            "argon2's default 19 MiB, in 1 KiB blocks"
        );
    }

    #[test]
    fn sessions_expire_when_idle_and_absolutely() {
        let limits = Limits {
            session_idle: Duration::from_secs(10),
            session_max: Duration::from_secs(25),
            ..Limits::default()
        };
        let t0 = Instant::now();
        let mut s = Sessions::default();
        let tok = s.create(&limits, t0);
        assert_eq!(tok.len(), 64);
        assert!(s.get(&tok, &limits, t0 + Duration::from_secs(9)).is_some());
        assert!(s.get(&tok, &limits, t0 + Duration::from_secs(18)).is_some());
        // Used every 9 s, but the absolute limit still ends it.
        assert!(s.get(&tok, &limits, t0 + Duration::from_secs(26)).is_none());
        let tok2 = s.create(&limits, t0);
        assert!(s
            .get(&tok2, &limits, t0 + Duration::from_secs(11))
            .is_none());
        assert!(s.is_empty());
    }

    #[test]
    fn session_count_is_bounded() {
        let limits = Limits {
            max_sessions: 3,
            ..Limits::default()
        };
        let t0 = Instant::now();
        let mut s = Sessions::default();
        let first = s.create(&limits, t0);
        for i in 1..10 {
            s.create(&limits, t0 + Duration::from_millis(i));
        }
        assert_eq!(s.len(), 3);
        assert!(s.get(&first, &limits, t0).is_none());
    }

    fn attempt(l: &mut LoginLimiter, ip: IpAddr, limits: &Limits, now: Instant, ok: bool) {
        l.reserve(ip, limits, now).expect("allowed");
        l.finished(ip, ok, limits, now);
    }

    #[test]
    fn limiter_backs_off_per_address() {
        let limits = Limits {
            free_failures: 2,
            ..Limits::default()
        };
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let mut l = LoginLimiter::default();
        attempt(&mut l, a, &limits, t0, false);
        attempt(&mut l, a, &limits, t0, false);
        attempt(&mut l, a, &limits, t0, false);
        assert_eq!(l.reserve(a, &limits, t0), Err(Duration::from_secs(1)));
        attempt(&mut l, a, &limits, t0 + Duration::from_secs(1), false);
        assert_eq!(
            l.reserve(a, &limits, t0 + Duration::from_secs(1)),
            Err(Duration::from_secs(2))
        );
        assert!(l.reserve(b, &limits, t0).is_ok());
        l.finished(b, true, &limits, t0);
        attempt(&mut l, a, &limits, t0 + Duration::from_secs(3), true);
        assert!(l.reserve(a, &limits, t0 + Duration::from_secs(3)).is_ok());
    }

    #[test]
    fn a_reserved_attempt_blocks_parallel_ones_of_its_source() {
        let limits = Limits::default();
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let mut l = LoginLimiter::default();
        assert!(l.reserve(a, &limits, t0).is_ok());
        for _ in 0..79 {
            assert!(l.reserve(a, &limits, t0).is_err(), "verified in parallel");
        }
        // Another address of the same IPv6 /64 is the same source.
        let v6a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8:1:2:ffff::7".parse().unwrap();
        assert!(l.reserve(v6a, &limits, t0).is_ok());
        assert!(l.reserve(v6b, &limits, t0).is_err());
        l.finished(v6b, false, &limits, t0);
        assert!(l.reserve(v6a, &limits, t0).is_ok());
    }

    #[test]
    fn the_global_budget_does_not_lock_the_operator_out() {
        let limits = Limits {
            free_failures: 3,
            global_failures_per_minute: 10,
            ..Limits::default()
        };
        let t0 = Instant::now();
        let mut l = LoginLimiter::default();
        let operator: IpAddr = "198.51.100.9".parse().unwrap();
        let returning: IpAddr = "198.51.100.10".parse().unwrap();
        attempt(&mut l, returning, &limits, t0, true);
        // Ten attackers, one failure each: the budget is spent.
        for i in 0..10u8 {
            attempt(&mut l, IpAddr::from([203, 0, 113, i]), &limits, t0, false);
        }
        assert_eq!(l.global_failures(), 10);
        // Each attacker, under its free failures, now waits for the minute's end...
        let wait = l.reserve(IpAddr::from([203, 0, 113, 0]), &limits, t0);
        assert_eq!(wait, Err(Duration::from_secs(60)));
        // ...but an address with no failure on record is still verified,
        assert!(l.reserve(operator, &limits, t0).is_ok());
        l.finished(operator, true, &limits, t0);
        // and so is one that logged in before, even after a typo.
        attempt(&mut l, returning, &limits, t0, false);
        assert!(l.reserve(returning, &limits, t0).is_ok());
        l.finished(returning, true, &limits, t0);
        // A new minute, a new budget.
        let t1 = t0 + Duration::from_secs(60);
        assert!(l
            .reserve(IpAddr::from([203, 0, 113, 0]), &limits, t1)
            .is_ok());
    }

    #[test]
    fn the_verify_pool_answers_and_refuses_beyond_its_queue() {
        let h = hash_password("correct horse").unwrap();
        let pool = Verifier::new(1, 1);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let good = pool.submit(h.clone(), "correct horse".into()).unwrap();
        assert!(rt.block_on(good).unwrap());
        let bad = pool.submit(h.clone(), "wrong".into()).unwrap();
        assert!(!rt.block_on(bad).unwrap());
        // One thread busy, one job queued: the next is refused, not queued without bound.
        let mut answers = Vec::new();
        let mut refused = 0;
        for _ in 0..5 {
            match pool.submit(h.clone(), "wrong".into()) {
                Some(a) => answers.push(a),
                None => refused += 1,
            }
        }
        assert!(refused >= 3, "refused {refused}");
        for a in answers {
            assert!(!rt.block_on(a).unwrap());
        }
    }

    #[test]
    fn a_cancelled_reservation_counts_nothing() {
        let limits = Limits {
            free_failures: 0,
            ..Limits::default()
        };
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let mut l = LoginLimiter::default();
        l.reserve(a, &limits, t0).unwrap();
        l.cancel(a, &limits, t0);
        assert_eq!(l.global_failures(), 0);
        assert!(l.reserve(a, &limits, t0).is_ok());
    }

    #[test]
    fn limiter_memory_is_bounded() {
        let limits = Limits {
            global_failures_per_minute: u32::MAX,
            ..Limits::default()
        };
        let t0 = Instant::now();
        let mut l = LoginLimiter::default();
        for i in 0..(MAX_TRACKED_ADDRESSES as u32 + 500) {
            let ip = IpAddr::from(i.to_be_bytes());
            if l.reserve(ip, &limits, t0).is_ok() {
                l.finished(ip, false, &limits, t0);
            }
        }
        assert!(l.by_source.len() <= MAX_TRACKED_ADDRESSES);
    }

    #[test]
    fn cookie_parsing_takes_only_well_formed_tokens() {
        let t = "a".repeat(64);
        assert_eq!(
            token_from_cookies(&format!("x=1; piranha_session={t}")),
            Some(t.as_str())
        );
        assert_eq!(token_from_cookies("piranha_session=zz"), None);
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
