//! What a health check is, what the backend must do to run one, and how its outcome is judged.
//!
//! The judging is pure and shared: the real backend's probe and the simulator's fake servers
//! both report a [`ProbeResult`], and [`probe_passed`] / [`check_response`] decide, so both
//! agree byte for byte with Piranha's nanny.

use std::net::IpAddr;

use crate::time::Duration;

/// Transport of a connect check (lvs.cf `protocol`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum CheckProtocol {
    /// TCP: connect, optionally send and read.
    Tcp,
    /// UDP: a connected socket; a datagram is always sent (`send`, or an empty one) so that
    /// a closed port answers with ICMP port unreachable.
    Udp,
}

/// What the reply must look like (lvs.cf `expect`, `use_regex`).
#[derive(Clone, Debug)]
pub enum Expect {
    /// The first `len` bytes read must equal these (nanny reads exactly `len(expect)` bytes).
    Prefix(Vec<u8>),
    /// `expect = "*"`: any answer, even none when the server closes at once (Piranha's nanny
    /// reads one byte and passes whatever `read` returned, 0 included).
    AnyByte,
    /// `use_regex = 1`: up to [`REGEX_READ_MAX`] bytes, cut at the first NUL (nanny handed
    /// them to `regexec` as a C string), must match this extended regular expression.
    Regex(regex::bytes::Regex),
}

/// How many bytes nanny reads for a regex check (its buffer less the terminating NUL).
pub const REGEX_READ_MAX: usize = 254;

impl PartialEq for Expect {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Expect::Prefix(a), Expect::Prefix(b)) => a == b,
            (Expect::AnyByte, Expect::AnyByte) => true,
            (Expect::Regex(a), Expect::Regex(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}
impl Eq for Expect {}

/// A health check (the virtual server's `send`/`expect`/`use_regex`/`send_program`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// Connect, optionally send, optionally read and compare.
    Connect {
        /// TCP or UDP.
        protocol: CheckProtocol,
        /// Bytes written after connecting.
        send: Option<Vec<u8>>,
        /// What the reply must look like; `None`: connecting (TCP) or no ICMP error (UDP) is
        /// enough.
        expect: Option<Expect>,
    },
    /// `send_program`: run a command (no shell); an argument that is exactly `%h` or `%p`
    /// becomes the real server's address or port (nanny's rule: `--port=%p` stays as is).
    Program {
        /// The command split on blanks, before substitution.
        argv: Vec<String>,
        /// Required stdout (one trailing newline removed); `None`: exit status 0 is enough.
        expect: Option<String>,
    },
}

/// Why a check cannot be built from the configured values.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// `use_regex = 1` with an expression the regex engine rejects.
    #[error("expect is not a valid regular expression: {0}")]
    BadRegex(String),
    /// `send_program` is empty.
    #[error("send_program is empty")]
    EmptyProgram,
}

impl Check {
    /// Piranha's default for port 80 with nothing configured.
    pub const HTTP_DEFAULT_SEND: &'static [u8] = b"GET / HTTP/1.0\r\n\r\n";
    /// What the port-80 default expects.
    pub const HTTP_DEFAULT_EXPECT: &'static [u8] = b"HTTP";

    /// Build the check from a virtual server's values the way nanny interprets them:
    /// `send_program` wins over `send`; `expect = "*"` is any byte; with `use_regex` the expect
    /// is a regular expression; a TCP check on port 80 with neither `send` nor `expect` becomes
    /// `GET / HTTP/1.0\r\n\r\n` expecting `HTTP`.
    pub fn from_config(
        protocol: CheckProtocol,
        port: u16,
        send: Option<&[u8]>,
        expect: Option<&[u8]>,
        use_regex: bool,
        send_program: Option<&str>,
    ) -> Result<Check, CheckError> {
        if let Some(program) = send_program {
            let argv: Vec<String> = program.split_whitespace().map(str::to_string).collect();
            if argv.is_empty() {
                return Err(CheckError::EmptyProgram);
            }
            return Ok(Check::Program {
                argv,
                expect: expect.map(|e| String::from_utf8_lossy(e).into_owned()),
            });
        }
        if protocol == CheckProtocol::Tcp && port == 80 && send.is_none() && expect.is_none() {
            return Ok(Check::Connect {
                protocol,
                send: Some(Check::HTTP_DEFAULT_SEND.to_vec()),
                expect: Some(Expect::Prefix(Check::HTTP_DEFAULT_EXPECT.to_vec())),
            });
        }
        let expect = match expect {
            None => None,
            Some(b"*") => Some(Expect::AnyByte),
            Some(e) if use_regex => {
                let text = String::from_utf8_lossy(e);
                let re = regex::bytes::Regex::new(&text)
                    .map_err(|err| CheckError::BadRegex(err.to_string()))?;
                Some(Expect::Regex(re))
            }
            Some(e) => Some(Expect::Prefix(e.to_vec())),
        };
        Ok(Check::Connect {
            protocol,
            send: send.map(<[u8]>::to_vec),
            expect,
        })
    }
}

/// How much the backend reads after connecting and sending.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ReadPlan {
    /// Read nothing: connecting (and sending) is the check.
    Nothing,
    /// Read until exactly this many bytes arrived, the peer closed, or the timeout.
    Exactly(usize),
    /// Read once (TCP: one `read`; UDP: one datagram), at most this many bytes.
    UpTo(usize),
}

/// How the real server's load is fetched (lvs.cf `load_monitor`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum LoadMonitor {
    /// No load monitoring.
    #[default]
    None,
    /// `rsh_command HOST uptime` (rsh or ssh), the 1-minute load from its output.
    Uptime,
    /// `rup HOST`.
    Rup,
    /// `ruptime HOST`.
    Ruptime,
}

/// One unit of work for the backend (a task, not a process, except for programs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeSpec {
    /// Connect to the real server, send, read per the plan; all within `timeout`.
    Connect {
        /// TCP or UDP.
        protocol: CheckProtocol,
        /// Real server address.
        addr: IpAddr,
        /// Real server port.
        port: u16,
        /// Bytes to send after connecting (always `Some` for UDP).
        send: Option<Vec<u8>>,
        /// How much to read.
        read: ReadPlan,
        /// Overall deadline of the probe.
        timeout: Duration,
    },
    /// Run a program (no shell) and capture its stdout; kill it after `timeout`.
    Program {
        /// The command with `%h`/`%p` substituted.
        argv: Vec<String>,
        /// Deadline.
        timeout: Duration,
    },
    /// Fetch the real server's 1-minute load average.
    FetchLoad {
        /// How.
        method: LoadMonitor,
        /// Real server address.
        addr: IpAddr,
        /// Deadline.
        timeout: Duration,
    },
}

/// Why a probe failed before any reply could be judged.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ProbeFailure {
    /// Connection refused (TCP RST, or ICMP port unreachable on a connected UDP socket).
    Refused,
    /// The connect (or the whole probe) did not finish in time.
    TimedOut,
    /// No route / host unreachable.
    Unreachable,
    /// Anything else the backend saw, for the log.
    Other(String),
}

/// What the backend reports for a [`ProbeSpec`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ProbeResult {
    /// Connected and sent; these bytes were read per the plan (fewer if the peer closed, empty
    /// with [`ReadPlan::Nothing`]).
    Reply(Vec<u8>),
    /// Connected and sent, but nothing arrived before the timeout (for UDP: no ICMP error).
    NoReply,
    /// The probe failed.
    Failed(ProbeFailure),
    /// The program ended: exit code (`None` = killed by a signal or the timeout) and stdout.
    Exited {
        /// Exit status.
        code: Option<i32>,
        /// Captured standard output.
        stdout: Vec<u8>,
    },
    /// The 1-minute load average of the real server.
    Load(f64),
    /// The load could not be fetched.
    LoadUnavailable,
}

/// Whether the bytes read satisfy `expect`: prefix compare, `*` = any answer (even an empty
/// one: the server closed), or regex over at most [`REGEX_READ_MAX`] bytes cut at the first NUL.
pub fn check_response(expect: &Expect, bytes: &[u8]) -> bool {
    match expect {
        Expect::Prefix(p) => bytes.len() >= p.len() && bytes[..p.len()] == p[..],
        Expect::AnyByte => true,
        Expect::Regex(re) => {
            let window = &bytes[..bytes.len().min(REGEX_READ_MAX)];
            let text = match window.iter().position(|&b| b == 0) {
                Some(nul) => &window[..nul],
                None => window,
            };
            re.is_match(text)
        }
    }
}

/// Whether a probe's outcome is a passed health check.
pub fn probe_passed(check: &Check, result: &ProbeResult) -> bool {
    match (check, result) {
        (Check::Connect { expect, .. }, ProbeResult::Reply(bytes)) => {
            expect.as_ref().is_none_or(|e| check_response(e, bytes))
        }
        (
            Check::Connect {
                protocol, expect, ..
            },
            ProbeResult::NoReply,
        ) => *protocol == CheckProtocol::Udp && expect.is_none(),
        (
            Check::Program { expect, .. },
            ProbeResult::Exited {
                code: Some(0),
                stdout,
            },
        ) => match expect {
            None => true,
            Some(want) => {
                let out = stdout.strip_suffix(b"\n").unwrap_or(stdout);
                out == want.as_bytes()
            }
        },
        _ => false,
    }
}

/// The probe that runs `check` against `addr:port`.
pub fn probe_spec(check: &Check, addr: IpAddr, port: u16, timeout: Duration) -> ProbeSpec {
    match check {
        Check::Connect {
            protocol,
            send,
            expect,
        } => {
            let read = match expect {
                Some(Expect::Prefix(p)) => ReadPlan::Exactly(p.len()),
                Some(Expect::AnyByte) => ReadPlan::Exactly(1),
                Some(Expect::Regex(_)) => ReadPlan::UpTo(REGEX_READ_MAX),
                None if *protocol == CheckProtocol::Udp => ReadPlan::UpTo(REGEX_READ_MAX),
                None => ReadPlan::Nothing,
            };
            let send = match (protocol, send) {
                (CheckProtocol::Udp, None) => Some(Vec::new()),
                (_, s) => s.clone(),
            };
            ProbeSpec::Connect {
                protocol: *protocol,
                addr,
                port,
                send,
                read,
                timeout,
            }
        }
        Check::Program { argv, .. } => ProbeSpec::Program {
            argv: argv
                .iter()
                .map(|a| match a.as_str() {
                    "%h" => addr.to_string(),
                    "%p" => port.to_string(),
                    _ => a.clone(),
                })
                .collect(),
            timeout,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(send: Option<&[u8]>, expect: Option<&[u8]>, regex: bool) -> Check {
        Check::from_config(CheckProtocol::Tcp, 8080, send, expect, regex, None).unwrap()
    }

    #[test]
    fn port_80_default_is_http_get() {
        let c = Check::from_config(CheckProtocol::Tcp, 80, None, None, false, None).unwrap();
        let spec = probe_spec(&c, [10, 0, 0, 1].into(), 80, Duration::from_secs(6));
        assert_eq!(
            spec,
            ProbeSpec::Connect {
                protocol: CheckProtocol::Tcp,
                addr: [10, 0, 0, 1].into(),
                port: 80,
                send: Some(b"GET / HTTP/1.0\r\n\r\n".to_vec()),
                read: ReadPlan::Exactly(4),
                timeout: Duration::from_secs(6),
            }
        );
        assert!(probe_passed(&c, &ProbeResult::Reply(b"HTTP".to_vec())));
        assert!(!probe_passed(&c, &ProbeResult::Reply(b"HTT".to_vec())));
        assert!(!probe_passed(&c, &ProbeResult::Reply(b"SSH-".to_vec())));
        // Only with neither send nor expect (nor send_program).
        let only_expect =
            Check::from_config(CheckProtocol::Tcp, 80, None, Some(b"2"), false, None).unwrap();
        assert_eq!(
            only_expect,
            Check::Connect {
                protocol: CheckProtocol::Tcp,
                send: None,
                expect: Some(Expect::Prefix(b"2".to_vec()))
            }
        );
        // UDP on 80 gets none (nanny sent the GET over UDP too: never an answer).
        let udp80 = Check::from_config(CheckProtocol::Udp, 80, None, None, false, None).unwrap();
        assert_eq!(
            udp80,
            Check::Connect {
                protocol: CheckProtocol::Udp,
                send: None,
                expect: None
            }
        );
        // Other ports get no default.
        let plain = tcp(None, None, false);
        assert_eq!(
            plain,
            Check::Connect {
                protocol: CheckProtocol::Tcp,
                send: None,
                expect: None
            }
        );
        assert!(probe_passed(&plain, &ProbeResult::Reply(Vec::new())));
        assert!(!probe_passed(
            &plain,
            &ProbeResult::Failed(ProbeFailure::Refused)
        ));
    }

    #[test]
    fn prefix_star_and_regex() {
        let p = Expect::Prefix(b"220 ".to_vec());
        assert!(check_response(&p, b"220 mail ESMTP"));
        assert!(!check_response(&p, b"220"));
        assert!(!check_response(&p, b"421 busy"));
        assert!(check_response(&Expect::AnyByte, b"\0"));
        // The server closed without a byte: nanny's read returned 0 and "*" passed.
        assert!(check_response(&Expect::AnyByte, b""));

        let c = tcp(Some(b"GET /health\r\n"), Some(b"^HTTP/1\\.[01] 200"), true);
        let Check::Connect {
            expect: Some(re), ..
        } = &c
        else {
            panic!("{c:?}")
        };
        assert!(check_response(re, b"HTTP/1.1 200 OK\r\n"));
        assert!(!check_response(re, b"HTTP/1.1 503 Busy\r\n"));
        // A NUL ends the string regexec saw, and only 254 bytes are read.
        let re_ok = Expect::Regex(regex::bytes::Regex::new("OK").unwrap());
        assert!(!check_response(&re_ok, b"junk\0OK"));
        let mut long = vec![b'x'; 254];
        long.extend_from_slice(b"OK");
        assert!(!check_response(&re_ok, &long));
        long.drain(..2);
        assert!(check_response(&re_ok, &long));

        assert!(matches!(
            Check::from_config(CheckProtocol::Tcp, 1, None, Some(b"(("), true, None),
            Err(CheckError::BadRegex(_))
        ));
        assert_eq!(
            tcp(None, Some(b"*"), true),
            Check::Connect {
                protocol: CheckProtocol::Tcp,
                send: None,
                expect: Some(Expect::AnyByte)
            }
        );
    }

    #[test]
    fn udp_silence_passes_only_without_expect() {
        let c = Check::from_config(CheckProtocol::Udp, 53, None, None, false, None).unwrap();
        let spec = probe_spec(&c, [10, 0, 0, 1].into(), 53, Duration::from_secs(1));
        let ProbeSpec::Connect { send, read, .. } = spec else {
            panic!()
        };
        assert_eq!(send, Some(Vec::new()));
        assert_eq!(read, ReadPlan::UpTo(254));
        assert!(probe_passed(&c, &ProbeResult::NoReply));
        assert!(probe_passed(&c, &ProbeResult::Reply(b"x".to_vec())));
        assert!(!probe_passed(
            &c,
            &ProbeResult::Failed(ProbeFailure::Refused)
        ));
        let with = Check::from_config(CheckProtocol::Udp, 53, Some(b"q"), Some(b"a"), false, None)
            .unwrap();
        assert!(!probe_passed(&with, &ProbeResult::NoReply));
        assert!(probe_passed(&with, &ProbeResult::Reply(b"abc".to_vec())));
        // TCP silence is a failure.
        assert!(!probe_passed(
            &tcp(None, Some(b"+OK"), false),
            &ProbeResult::NoReply
        ));
    }

    #[test]
    fn send_program_substitutes_and_compares_stdout() {
        let c = Check::from_config(
            CheckProtocol::Tcp,
            80,
            Some(b"ignored"),
            Some(b"OK"),
            false,
            Some("/usr/local/bin/check --host %h %p --port=%p x%h"),
        )
        .unwrap();
        let spec = probe_spec(&c, [10, 11, 12, 1].into(), 8080, Duration::from_secs(3));
        // Whole arguments only, as nanny's strcmp(token, "%h").
        assert_eq!(
            spec,
            ProbeSpec::Program {
                argv: vec![
                    "/usr/local/bin/check".into(),
                    "--host".into(),
                    "10.11.12.1".into(),
                    "8080".into(),
                    "--port=%p".into(),
                    "x%h".into()
                ],
                timeout: Duration::from_secs(3)
            }
        );
        let ok = |code, out: &[u8]| ProbeResult::Exited {
            code,
            stdout: out.to_vec(),
        };
        assert!(probe_passed(&c, &ok(Some(0), b"OK\n")));
        assert!(probe_passed(&c, &ok(Some(0), b"OK")));
        assert!(!probe_passed(&c, &ok(Some(0), b"OK\n\n")));
        // Piranha's nanny passed a program that exited non-zero or timed out whenever an
        // expect was set ("didn't get anything back" returned 0: a bug). We fail it.
        assert!(!probe_passed(&c, &ok(Some(1), b"OK\n")));
        assert!(!probe_passed(&c, &ok(Some(1), b"")));
        assert!(!probe_passed(&c, &ok(None, b"OK\n")));
        assert!(!probe_passed(&c, &ok(None, b"")));
        assert!(!probe_passed(
            &c,
            &ProbeResult::Failed(ProbeFailure::Other("no such file".into()))
        ));
        assert_eq!(
            Check::from_config(CheckProtocol::Tcp, 80, None, None, false, Some("  ")),
            Err(CheckError::EmptyProgram)
        );
    }
}
