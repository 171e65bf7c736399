//! Who may use the tool: the password file (argon2), sessions (random 256-bit tokens in
//! HttpOnly SameSite=Strict cookies, idle and absolute expiry), CSRF tokens and login rate
//! limiting. Nothing here knows about pages.

use std::collections::HashMap;
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
    /// Failed logins from all addresses per minute before every login waits for the next.
    pub global_failures_per_minute: u32,
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
}

/// Login throttling: per client address (free failures, then a doubling wait) and global
/// (a budget of failures per minute over all addresses). Bounded memory.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    by_ip: HashMap<IpAddr, Offender>,
    window_start: Option<Instant>,
    window_failures: u32,
}

/// Most addresses remembered by the limiter.
const MAX_TRACKED_ADDRESSES: usize = 10_000;

impl LoginLimiter {
    /// `Err(wait)` when `ip` must not try now.
    pub fn check(&mut self, ip: IpAddr, limits: &Limits, now: Instant) -> Result<(), Duration> {
        if let Some(start) = self.window_start {
            let window_end = start + Duration::from_secs(60);
            if now >= window_end {
                self.window_start = None;
                self.window_failures = 0;
            } else if self.window_failures >= limits.global_failures_per_minute {
                return Err(window_end - now);
            }
        }
        match self.by_ip.get(&ip) {
            Some(o) if o.not_before > now => Err(o.not_before - now),
            _ => Ok(()),
        }
    }

    /// Count a failed login from `ip`.
    pub fn failed(&mut self, ip: IpAddr, limits: &Limits, now: Instant) {
        if self.window_start.is_none() {
            self.window_start = Some(now);
        }
        self.window_failures = self.window_failures.saturating_add(1);
        if self.by_ip.len() >= MAX_TRACKED_ADDRESSES && !self.by_ip.contains_key(&ip) {
            self.by_ip.retain(|_, o| o.not_before > now);
            if self.by_ip.len() >= MAX_TRACKED_ADDRESSES {
                // Still full of waiting addresses: the global budget protects us.
                return;
            }
        }
        let o = self.by_ip.entry(ip).or_insert(Offender {
            failures: 0,
            not_before: now,
        });
        o.failures = o.failures.saturating_add(1);
        if o.failures > limits.free_failures {
            let doublings = (o.failures - limits.free_failures - 1).min(20);
            let wait = Duration::from_secs(1u64 << doublings).min(limits.max_backoff);
            o.not_before = now + wait;
        }
    }

    /// A successful login from `ip` forgives its failures.
    pub fn succeeded(&mut self, ip: IpAddr) {
        self.by_ip.remove(&ip);
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

    #[test]
    fn limiter_backs_off_per_address_and_globally() {
        let limits = Limits {
            free_failures: 2,
            global_failures_per_minute: 10,
            ..Limits::default()
        };
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let mut l = LoginLimiter::default();
        l.failed(a, &limits, t0);
        l.failed(a, &limits, t0);
        assert!(l.check(a, &limits, t0).is_ok());
        l.failed(a, &limits, t0);
        assert_eq!(l.check(a, &limits, t0), Err(Duration::from_secs(1)));
        l.failed(a, &limits, t0);
        assert_eq!(l.check(a, &limits, t0), Err(Duration::from_secs(2)));
        assert!(l.check(b, &limits, t0).is_ok());
        for _ in 0..6 {
            l.failed(b, &limits, t0);
        }
        // 10 failures this minute: everyone waits for the window's end.
        let c: IpAddr = "192.0.2.3".parse().unwrap();
        assert_eq!(l.check(c, &limits, t0), Err(Duration::from_secs(60)));
        assert!(l.check(c, &limits, t0 + Duration::from_secs(60)).is_ok());
        l.succeeded(a);
        assert!(l.check(a, &limits, t0 + Duration::from_secs(61)).is_ok());
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
