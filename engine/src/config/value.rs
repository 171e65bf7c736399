//! Value kinds: how the text after `=` becomes a typed value, and back.

use core::net::{IpAddr, SocketAddr};
use std::collections::BTreeSet;

use super::lex::{unescape, Token};
use super::model::{
    ConflictAction, HeartbeatProtocol, LoadMonitor, Network, Protocol, ScaleOut, SchedulerFlag,
    ServiceKind, Vip, DEFAULT_ARBITER_PORT,
};
use super::services;
use crate::sched::Algorithm;
use crate::time::Duration;

/// The longest duration a key accepts, in seconds (about 31 years): keeps values exact.
pub(crate) const MAX_DURATION_SECS: u64 = 1_000_000_000;

/// What a key's value looks like.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    /// Exactly `0` or `1`.
    Bool,
    /// An unsigned number up to `max` (strtol base 0: `0x` hex, leading `0` octal).
    Uint { max: u64 },
    /// A port number or a service name from the built-in table.
    Port,
    /// Seconds, fractions allowed (`0.1`).
    Duration,
    /// An IPv4 or IPv6 address.
    Ip,
    /// A netmask written as an address (`255.255.255.0`).
    Netmask,
    /// One of a fixed set of words.
    Word(fn() -> Vec<&'static str>),
    /// A scheduler name.
    Scheduler,
    /// A comma-separated list of scheduler flags.
    Flags,
    /// `IP` or `IP:PORT`.
    Arbiter,
    /// Free text, the rest of the line unless quoted; written quoted when `quote`.
    Text { quote: bool },
    /// An IP address or a host name (resolved by the CLI/daemon at load, as the original's
    /// gethostbyname did).
    Host,
    /// `IP DEVICE` or `HOSTNAME DEVICE`.
    HostDev,
    /// Any integer (strtol base 0, negative too); non-zero means on (`monitor_links`).
    Flag,
    /// `[ word word … ]` (`dirs`).
    List,
    /// A known load monitor word, or any other program name (kept, unused).
    LoadMonitor,
}

/// A typed value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Value {
    Bool(bool),
    Uint(u64),
    Duration(Duration),
    Ip(IpAddr),
    Vip(Vip),
    Word(&'static str),
    Scheduler(Algorithm),
    Flags(BTreeSet<SchedulerFlag>),
    Socket(SocketAddr),
    Text(String),
    /// A host name where an address goes.
    Host(String),
    /// `HOSTNAME DEVICE`.
    HostDev(String, String),
    List(Vec<String>),
}

impl Value {
    pub(crate) fn bool(&self) -> bool {
        debug_assert!(matches!(self, Value::Bool(_)), "{self:?}");
        matches!(self, Value::Bool(true))
    }
    pub(crate) fn uint(&self) -> u64 {
        debug_assert!(matches!(self, Value::Uint(_)), "{self:?}");
        match self {
            Value::Uint(n) => *n,
            _ => 0,
        }
    }
    pub(crate) fn u32(&self) -> u32 {
        u32::try_from(self.uint()).unwrap_or(u32::MAX)
    }
    pub(crate) fn u16(&self) -> u16 {
        u16::try_from(self.uint()).unwrap_or(u16::MAX)
    }
    pub(crate) fn u8(&self) -> u8 {
        u8::try_from(self.uint()).unwrap_or(u8::MAX)
    }
    pub(crate) fn duration(&self) -> Duration {
        debug_assert!(matches!(self, Value::Duration(_)), "{self:?}");
        match self {
            Value::Duration(d) => *d,
            _ => Duration::ZERO,
        }
    }
    pub(crate) fn ip(&self) -> Option<IpAddr> {
        debug_assert!(matches!(self, Value::Ip(_)), "{self:?}");
        match self {
            Value::Ip(ip) => Some(*ip),
            _ => None,
        }
    }
    pub(crate) fn vip(self) -> Option<Vip> {
        debug_assert!(matches!(self, Value::Vip(_)), "{self:?}");
        match self {
            Value::Vip(v) => Some(v),
            _ => None,
        }
    }
    pub(crate) fn word<T: Named>(&self) -> T {
        debug_assert!(matches!(self, Value::Word(_)), "{self:?}");
        let w = match self {
            Value::Word(w) => *w,
            _ => "",
        };
        T::NAMES
            .iter()
            .find(|(n, _)| *n == w)
            .map_or(T::NAMES[0].1, |&(_, v)| v)
    }
    pub(crate) fn scheduler(&self) -> Algorithm {
        match self {
            Value::Scheduler(a) => *a,
            _ => Algorithm::Wlc,
        }
    }
    pub(crate) fn flags(self) -> BTreeSet<SchedulerFlag> {
        match self {
            Value::Flags(f) => f,
            _ => BTreeSet::new(),
        }
    }
    pub(crate) fn socket(&self) -> Option<SocketAddr> {
        match self {
            Value::Socket(s) => Some(*s),
            _ => None,
        }
    }
    pub(crate) fn list(self) -> Vec<String> {
        match self {
            Value::List(l) => l,
            _ => Vec::new(),
        }
    }
    pub(crate) fn text(self) -> String {
        debug_assert!(matches!(self, Value::Text(_)), "{self:?}");
        match self {
            Value::Text(s) => s,
            _ => String::new(),
        }
    }
}

/// An enum written as one word in lvs.cf. `NAMES[0]` is only a fallback for table bugs.
pub(crate) trait Named: Copy + 'static {
    const NAMES: &'static [(&'static str, Self)];
    fn name(self) -> &'static str;
}

/// The words of a [`Named`] enum, for [`Kind::Word`].
pub(crate) fn names<T: Named>() -> Vec<&'static str> {
    T::NAMES.iter().map(|(n, _)| *n).collect()
}

macro_rules! named {
    ($t:ty: $($name:literal => $v:expr),+ $(,)?) => {
        impl Named for $t {
            const NAMES: &'static [(&'static str, Self)] = &[$(($name, $v)),+];
            fn name(self) -> &'static str {
                Self::NAMES.iter().find(|(_, v)| *v == self).map_or("", |(n, _)| n)
            }
        }
    };
}
named!(Network: "direct" => Network::Direct, "nat" => Network::Nat, "tunnel" => Network::Tunnel);
named!(ScaleOut: "none" => ScaleOut::None, "bgp" => ScaleOut::Bgp);
named!(Protocol: "tcp" => Protocol::Tcp, "udp" => Protocol::Udp);
named!(ServiceKind: "lvs" => ServiceKind::Lvs, "fos" => ServiceKind::Fos);
named!(HeartbeatProtocol: "piranha" => HeartbeatProtocol::Piranha, "v2" => HeartbeatProtocol::V2);
named!(LoadMonitor:
    "none" => LoadMonitor::None,
    "uptime" => LoadMonitor::Uptime,
    "rup" => LoadMonitor::Rup,
    "ruptime" => LoadMonitor::Ruptime,
    "ssh" => LoadMonitor::Ssh,
    "rsh" => LoadMonitor::Rsh,
);
named!(ConflictAction: "nothing" => ConflictAction::Nothing, "preempt" => ConflictAction::Preempt);

/// A value problem: the token it is about (index into the value tokens) and the message.
pub(crate) type ValueError = (usize, String);

/// Parse the value tokens of a key (everything after `=`, at least one token). `line` is the
/// line's text, for values that take the rest of the line.
pub(crate) fn parse_value(kind: Kind, toks: &[Token], line: &str) -> Result<Value, ValueError> {
    debug_assert!(!toks.is_empty());
    let single = |what: &str| -> Result<&Token, ValueError> {
        match toks {
            [t] => Ok(t),
            [_, extra, ..] => Err((
                1,
                format!(
                    "unexpected `{}` after the value: expected {what} (quote a value that contains blanks)",
                    extra.text
                ),
            )),
            [] => Err((0, format!("expected {what}"))),
        }
    };
    match kind {
        Kind::Bool => {
            // As the original's getBoolean: strtol base 0, then exactly 0 or 1 (`01`, `0x1`).
            let t = single("0 or 1")?;
            match parse_int(&t.text) {
                Ok(0) => Ok(Value::Bool(false)),
                Ok(1) => Ok(Value::Bool(true)),
                _ => Err((0, format!("expected 0 or 1, found `{}`", t.text))),
            }
        }
        Kind::Flag => {
            let t = single("a number (0: off)")?;
            parse_int(&t.text)
                .map(|n| Value::Bool(n != 0))
                .map_err(|e| (0, e))
        }
        Kind::List => {
            let open = toks.first().filter(|t| t.text == "[" && !t.quoted);
            let close = toks.iter().rposition(|t| t.text == "]" && !t.quoted);
            match (open, close) {
                (Some(_), Some(end)) if end > 0 => {
                    if let Some(extra) = toks.get(end + 1) {
                        return Err((end + 1, format!("unexpected `{}` after `]`", extra.text)));
                    }
                    Ok(Value::List(
                        toks[1..end].iter().map(|t| t.text.clone()).collect(),
                    ))
                }
                _ => Err((0, "expected a list: `[ item item … ]`".to_string())),
            }
        }
        Kind::LoadMonitor => {
            let t = single("a load monitor (none, uptime, rup, ruptime, ssh, rsh) or a program")?;
            match LoadMonitor::NAMES.iter().find(|(n, _)| *n == t.text) {
                Some((n, _)) => Ok(Value::Word(n)),
                None => {
                    check_word(&t.text).map_err(|e| (0, e))?;
                    Ok(Value::Text(t.text.clone()))
                }
            }
        }
        Kind::Host => {
            let t = single("an IP address or a host name")?;
            parse_host(&t.text).map_err(|e| (0, e))
        }
        Kind::HostDev => match toks {
            [ip] => {
                parse_host(&ip.text).map_err(|e| (0, e))?;
                Err((
                    0,
                    format!(
                        "missing device: expected `IP DEVICE`, e.g. `{} eth0:1`",
                        ip.text
                    ),
                ))
            }
            [ip, dev] => {
                let host = parse_host(&ip.text).map_err(|e| (0, e))?;
                check_device(&dev.text).map_err(|e| (1, e))?;
                Ok(match host {
                    Value::Ip(ip) => Value::Vip(Vip {
                        ip,
                        device: dev.text.clone(),
                    }),
                    _ => Value::HostDev(ip.text.clone(), dev.text.clone()),
                })
            }
            [_, _, extra, ..] => Err((
                2,
                format!("unexpected `{}`: expected `IP DEVICE`", extra.text),
            )),
            [] => Err((0, "expected `IP DEVICE`".to_string())),
        },
        Kind::Uint { max } => {
            let t = single("a number")?;
            let n = parse_uint(&t.text).map_err(|e| (0, e))?;
            if n > max {
                return Err((0, format!("{n} is out of range: expected 0 to {max}")));
            }
            Ok(Value::Uint(n))
        }
        Kind::Port => {
            let t = single("a port number or service name")?;
            parse_port(&t.text)
                .map(|p| Value::Uint(u64::from(p)))
                .map_err(|e| (0, e))
        }
        Kind::Duration => {
            let t = single("seconds")?;
            parse_duration(&t.text)
                .map(Value::Duration)
                .map_err(|e| (0, e))
        }
        Kind::Ip => {
            let t = single("an IP address")?;
            parse_ip(&t.text).map(Value::Ip).map_err(|e| (0, e))
        }
        Kind::Netmask => {
            let t = single("a netmask such as 255.255.255.0")?;
            parse_netmask(&t.text).map(Value::Ip).map_err(|e| (0, e))
        }
        Kind::Word(names) => {
            let all = names();
            let t = single(&format!("one of {}", all.join(" ")))?;
            match all.iter().find(|n| **n == t.text) {
                Some(n) => Ok(Value::Word(n)),
                None => Err((
                    0,
                    format!("expected one of {}, found `{}`", all.join(" "), t.text),
                )),
            }
        }
        Kind::Scheduler => {
            let t = single("a scheduler name")?;
            t.text
                .parse::<Algorithm>()
                .map(Value::Scheduler)
                .map_err(|e| (0, e.to_string()))
        }
        Kind::Flags => {
            let mut set = BTreeSet::new();
            let parts = toks.iter().flat_map(|t| t.text.split(','));
            for part in parts.map(str::trim).filter(|p| !p.is_empty()) {
                match SchedulerFlag::ALL.iter().find(|f| f.as_str() == part) {
                    Some(f) => {
                        set.insert(*f);
                    }
                    None => {
                        return Err((
                            0,
                            format!(
                                "unknown scheduler flag `{part}`: expected sh-fallback, sh-port, mh-fallback or mh-port"
                            ),
                        ))
                    }
                }
            }
            Ok(Value::Flags(set))
        }
        Kind::Arbiter => {
            let t = single("`IP` or `IP:PORT`")?;
            parse_arbiter(&t.text)
                .map(Value::Socket)
                .map_err(|e| (0, e))
        }
        Kind::Text { .. } => match toks {
            [t] => Ok(Value::Text(t.text.clone())),
            _ => {
                if let Some(i) = toks.iter().position(|t| t.quoted) {
                    return Err((
                        i,
                        "a quoted value must be the whole value: quote all of it".to_string(),
                    ));
                }
                let (start, end) = (toks[0].span.0, toks[toks.len() - 1].span.1);
                let raw = line.get(start..end).unwrap_or("");
                Ok(Value::Text(unescape(raw)))
            }
        },
    }
}

/// strtol(…, 0) without its leniency: `0x1F` hex, `017` octal, `15` decimal, nothing trailing.
pub(crate) fn parse_uint(s: &str) -> Result<u64, String> {
    let digits = s.strip_prefix('+').unwrap_or(s);
    if digits.starts_with('-') {
        return Err(format!("expected a number of 0 or more, found `{s}`"));
    }
    let (radix, body, what) = if let Some(h) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        (16, h, "a hexadecimal number")
    } else if digits.len() > 1 && digits.starts_with('0') {
        (
            8,
            &digits[1..],
            "an octal number (a leading 0 means octal, as in the original)",
        )
    } else {
        (10, digits, "a number")
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return Err(format!("expected {what}, found `{s}`"));
    }
    u64::from_str_radix(body, radix).map_err(|_| format!("`{s}` is too large"))
}

/// A signed integer as strtol(…, 0) reads a whole token: `-1`, `0x10`, `010` (octal).
pub(crate) fn parse_int(s: &str) -> Result<i64, String> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if body.starts_with(['-', '+']) {
        return Err(format!("expected a number, found `{s}`"));
    }
    let n = parse_uint(body).map_err(|e| e.replace(&format!("`{body}`"), &format!("`{s}`")))?;
    let n = i64::try_from(n).map_err(|_| format!("`{s}` is too large"))?;
    Ok(if neg { -n } else { n })
}

/// An IP address, or a host name as the original's gethostbyname took it (letters, digits,
/// `-`, `_` and `.`, not all digits and dots: `10.0.0.300` is a bad address, not a name).
pub(crate) fn parse_host(s: &str) -> Result<Value, String> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(Value::Ip(ip));
    }
    let name_chars = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    let looks_numeric = s.chars().all(|c| c.is_ascii_digit() || c == '.') || s.contains(':');
    if s.is_empty() || s.len() > 253 || !name_chars || looks_numeric || s.starts_with(['-', '.']) {
        return Err(format!(
            "expected an IPv4 or IPv6 address (or a host name), found `{s}`"
        ));
    }
    Ok(Value::Host(s.to_string()))
}

/// A program name or path in one word (`load_monitor = /usr/local/bin/getload`).
fn check_word(s: &str) -> Result<(), String> {
    if s.is_empty() || s.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "expected none, uptime, rup, ruptime, ssh, rsh or a program name, found `{s}`"
        ));
    }
    Ok(())
}

/// A port number (1…65535 or 0) or a service name.
pub(crate) fn parse_port(s: &str) -> Result<u16, String> {
    if s.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+') {
        let n = parse_uint(s)?;
        return u16::try_from(n)
            .map_err(|_| format!("{n} is out of range: expected a port from 0 to 65535"));
    }
    services::port_of(s).ok_or_else(|| {
        format!("unknown service name `{s}`: expected a port number or a name such as http, https, smtp")
    })
}

/// Seconds: an integer (strtol base 0) or a decimal fraction with up to 9 decimals.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = if let Some((int, frac)) = s.split_once('.') {
        let ok = |p: &str| p.chars().all(|c| c.is_ascii_digit());
        if (int.is_empty() && frac.is_empty()) || !ok(int) || !ok(frac) {
            return Err(format!("expected seconds such as 6 or 0.5, found `{s}`"));
        }
        if frac.len() > 9 {
            return Err(format!("`{s}` has more than 9 decimals"));
        }
        let secs: u64 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| format!("`{s}` is too large"))?
        };
        let nanos: u64 = format!("{frac:0<9}").parse().unwrap_or(0);
        if secs >= MAX_DURATION_SECS && (secs > MAX_DURATION_SECS || nanos > 0) {
            return Err(too_long(s));
        }
        Duration::from_nanos(secs * 1_000_000_000 + nanos)
    } else {
        let secs =
            parse_uint(s).map_err(|_| format!("expected seconds such as 6 or 0.5, found `{s}`"))?;
        if secs > MAX_DURATION_SECS {
            return Err(too_long(s));
        }
        Duration::from_secs(secs)
    };
    Ok(d)
}

fn too_long(s: &str) -> String {
    format!("`{s}` seconds is out of range: expected at most {MAX_DURATION_SECS}")
}

/// An IPv4 or IPv6 address.
pub(crate) fn parse_ip(s: &str) -> Result<IpAddr, String> {
    s.parse::<IpAddr>()
        .map_err(|_| format!("expected an IPv4 or IPv6 address, found `{s}`"))
}

/// A netmask: an address whose one bits are contiguous.
pub(crate) fn parse_netmask(s: &str) -> Result<IpAddr, String> {
    let ip = parse_ip(s)
        .map_err(|_| format!("expected a netmask such as 255.255.255.0, found `{s}`"))?;
    let contiguous = match ip {
        IpAddr::V4(v4) => {
            let m = u32::from(v4);
            m.leading_ones() + m.trailing_zeros() == 32
        }
        IpAddr::V6(v6) => {
            let m = u128::from(v6);
            m.leading_ones() + m.trailing_zeros() == 128
        }
    };
    if contiguous {
        Ok(ip)
    } else {
        Err(format!(
            "`{s}` is not a netmask: its one bits must be contiguous"
        ))
    }
}

/// A network device name as the kernel allows it (an alias `eth0:1` is fine).
pub(crate) fn check_device(s: &str) -> Result<(), String> {
    let odd = |c: char| c == '/' || c == '"' || c == '\'' || c == '\\' || c.is_whitespace();
    if s.is_empty()
        || s.len() > 15
        || s == "."
        || s == ".."
        || s.starts_with('#')
        || s.contains(odd)
    {
        return Err(format!(
            "`{s}` is not a device name: expected 1 to 15 characters without `/`, e.g. eth0 or eth0:1"
        ));
    }
    Ok(())
}

/// `IP`, `IP:PORT`, `[IPv6]:PORT`; the port defaults to [`DEFAULT_ARBITER_PORT`].
pub(crate) fn parse_arbiter(s: &str) -> Result<SocketAddr, String> {
    let bad = || format!("expected `IP` or `IP:PORT` (IPv6 as `[IP]:PORT`), found `{s}`");
    let sock = if let Ok(ip) = s.parse::<IpAddr>() {
        SocketAddr::new(ip, DEFAULT_ARBITER_PORT)
    } else {
        s.parse::<SocketAddr>().map_err(|_| bad())?
    };
    if sock.port() == 0 {
        return Err(format!(
            "arbiter port 0 is out of range: expected 1 to 65535 in `{s}`"
        ));
    }
    Ok(sock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::lex::split_line;
    use crate::config::write::{fmt_duration, fmt_value, quote};

    fn val(kind: Kind, text: &str) -> Result<Value, ValueError> {
        let line = format!("k = {text}");
        let l = split_line(&line, 1);
        parse_value(kind, &l.tokens[2..], &line)
    }

    #[test]
    fn numbers_like_strtol_base_0() {
        assert_eq!(parse_uint("42"), Ok(42));
        assert_eq!(parse_uint("0x1F"), Ok(31));
        assert_eq!(parse_uint("0X1f"), Ok(31));
        assert_eq!(parse_uint("017"), Ok(15));
        assert_eq!(parse_uint("0"), Ok(0));
        assert_eq!(parse_uint("+5"), Ok(5));
        assert!(parse_uint("09").unwrap_err().contains("octal"));
        assert!(parse_uint("-1").is_err());
        assert!(parse_uint("0x").is_err());
        assert!(parse_uint("12a").is_err());
        assert!(parse_uint("99999999999999999999999")
            .unwrap_err()
            .contains("too large"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("6"), Ok(Duration::from_secs(6)));
        assert_eq!(parse_duration("0.1"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration(".5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2."), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("0x10"), Ok(Duration::from_secs(16)));
        assert_eq!(
            parse_duration("1.000000001"),
            Ok(Duration::from_nanos(1_000_000_001))
        );
        assert!(parse_duration("1.0000000001").is_err());
        assert!(parse_duration(".").is_err());
        assert!(parse_duration("1e3").is_err());
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("1000000001").is_err());
        assert_eq!(fmt_duration(Duration::from_millis(100)), "0.1");
        assert_eq!(fmt_duration(Duration::from_secs(18)), "18");
        assert_eq!(
            fmt_duration(Duration::from_nanos(1_000_000_001)),
            "1.000000001"
        );
    }

    #[test]
    fn ports() {
        assert_eq!(parse_port("80"), Ok(80));
        assert_eq!(parse_port("0x50"), Ok(80));
        assert_eq!(parse_port("https"), Ok(443));
        assert!(parse_port("65536").unwrap_err().contains("out of range"));
        assert!(parse_port("htp").unwrap_err().contains("unknown service"));
    }

    #[test]
    fn addresses() {
        assert!(parse_ip("10.0.0.1").is_ok());
        assert!(parse_ip("fe80::1").is_ok());
        assert!(parse_ip("10.0.0.256").is_err());
        assert!(parse_netmask("255.255.255.0").is_ok());
        assert!(parse_netmask("255.0.255.0")
            .unwrap_err()
            .contains("contiguous"));
        assert!(parse_netmask("ffff:ffff::").is_ok());
        let a = parse_arbiter("10.0.0.1").unwrap();
        assert_eq!(a.port(), 5390);
        assert_eq!(parse_arbiter("10.0.0.1:99").unwrap().port(), 99);
        assert_eq!(parse_arbiter("[::1]:7").unwrap().port(), 7);
        assert_eq!(parse_arbiter("::1").unwrap().port(), 5390);
        assert!(parse_arbiter("10.0.0.1:0").is_err());
        assert!(parse_arbiter("host:1").is_err());
    }

    #[test]
    fn vip_and_device() {
        let v = val(Kind::HostDev, "1.2.3.4 eth0:1").unwrap().vip().unwrap();
        assert_eq!(v.device, "eth0:1");
        let (i, e) = val(Kind::HostDev, "1.2.3.4").unwrap_err();
        assert_eq!(i, 0);
        assert!(e.contains("missing device"), "{e}");
        assert_eq!(val(Kind::HostDev, "1.2.3.4 eth0 x").unwrap_err().0, 2);
        assert_eq!(
            val(Kind::HostDev, "1.2.3.4 averyveryverylongname")
                .unwrap_err()
                .0,
            1
        );
    }

    #[test]
    fn booleans_words_flags() {
        assert_eq!(val(Kind::Bool, "1"), Ok(Value::Bool(true)));
        assert!(val(Kind::Bool, "yes")
            .unwrap_err()
            .1
            .contains("expected 0 or 1"));
        // As the original's getBoolean (strtol, then 0 or 1).
        assert_eq!(val(Kind::Bool, "01"), Ok(Value::Bool(true)));
        assert_eq!(val(Kind::Bool, "0x0"), Ok(Value::Bool(false)));
        assert!(val(Kind::Bool, "2").is_err());
        assert_eq!(val(Kind::Flag, "-3"), Ok(Value::Bool(true)));
        assert_eq!(val(Kind::Flag, "0"), Ok(Value::Bool(false)));
        assert!(val(Kind::Flag, "x").is_err());
        let w = val(Kind::Word(names::<Network>), "tunnel").unwrap();
        assert_eq!(w.word::<Network>(), Network::Tunnel);
        assert!(val(Kind::Word(names::<Network>), "NAT").is_err());
        let f = val(Kind::Flags, "sh-port, sh-fallback").unwrap().flags();
        assert_eq!(f.len(), 2);
        assert!(val(Kind::Flags, "sh-porr").is_err());
        assert!(val(Kind::Scheduler, "wlcc")
            .unwrap_err()
            .1
            .contains("unknown scheduler"));
    }

    #[test]
    fn text_rest_of_line_and_quotes() {
        let t = val(Kind::Text { quote: true }, "/bin/check  %h %p")
            .unwrap()
            .text();
        assert_eq!(t, "/bin/check  %h %p");
        let t = val(Kind::Text { quote: true }, r#""a b""#).unwrap().text();
        assert_eq!(t, "a b");
        assert!(val(Kind::Text { quote: true }, r#""a" b"#).is_err());
        assert_eq!(quote("a\"b\\\r\n\t"), r#""a\"b\\\r\n\t""#);
        assert_eq!(quote(r"1\.[01]\"), r#""1\.[01]\\""#);
        assert_eq!(quote(r"\n\\"), r#""\\n\\\\""#);
        assert_eq!(
            fmt_value(Kind::Text { quote: false }, &Value::Text("rsh".into())),
            "rsh"
        );
        assert_eq!(
            fmt_value(Kind::Text { quote: false }, &Value::Text("ssh -x".into())),
            "\"ssh -x\""
        );
        assert_eq!(
            fmt_value(Kind::Text { quote: false }, &Value::Text(String::new())),
            "\"\""
        );
    }
}
