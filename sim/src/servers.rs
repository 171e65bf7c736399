//! Real servers: healthy, failing, slow or flapping, as the fault schedule says; they answer
//! the nannies' probes and take (or refuse) client connections.

use std::net::IpAddr;

use piranha_engine::ipvs::DestKey;
use piranha_engine::nanny::{Check, Expect, ProbeFailure, ProbeResult, ProbeSpec};
use piranha_engine::time::{Duration, Instant};

use crate::faults::FaultKind;
use crate::world::{World, LOCAL_LATENCY};

/// How a real server behaves right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Behaviour {
    Healthy,
    Failing,
    Slow,
}

/// The behaviour of `server` at `now`, and since when it has been failing or slow (None when
/// healthy).
pub(crate) fn behaviour(w: &World, server: IpAddr, now: Instant) -> (Behaviour, Option<Instant>) {
    let mut worst = (Behaviour::Healthy, None::<Instant>);
    for (idx, f) in w.schedule.0.iter().enumerate() {
        if !w.active_faults[idx] {
            continue;
        }
        let start = Instant::ZERO + f.at;
        let b = match &f.kind {
            FaultKind::ServerFail(a) if *a == server => (Behaviour::Failing, start),
            FaultKind::ServerSlow(a) if *a == server => (Behaviour::Slow, start),
            FaultKind::ServerFlap { server: a, period } if *a == server => {
                let half = period.div(2).as_nanos().max(1);
                let n = (now - start).as_nanos() / half;
                if n.is_multiple_of(2) {
                    continue;
                }
                (Behaviour::Failing, start + Duration::from_nanos(n * half))
            }
            _ => continue,
        };
        if worst.0 == Behaviour::Healthy || worst.1.is_some_and(|t| b.1 < t) {
            worst = (b.0, Some(b.1));
        }
    }
    worst
}

/// What a healthy server answers to this check.
fn healthy_reply(check: Option<&Check>) -> ProbeResult {
    match check {
        Some(Check::Connect {
            expect: Some(Expect::Prefix(p)),
            ..
        }) => ProbeResult::Reply(p.clone()),
        Some(Check::Connect {
            expect: Some(Expect::AnyByte),
            ..
        }) => ProbeResult::Reply(b"x".to_vec()),
        Some(Check::Connect { expect: None, .. }) => ProbeResult::Reply(Vec::new()),
        _ => ProbeResult::Reply(b"HTTP/1.0 200 OK\r\n\r\n".to_vec()),
    }
}

/// Run a nanny's probe from router `r`: how long it takes and what it sees.
pub(crate) fn probe(w: &World, r: usize, spec: &ProbeSpec) -> (Duration, ProbeResult) {
    let (addr, port, timeout) = match spec {
        ProbeSpec::Connect {
            addr,
            port,
            timeout,
            ..
        } => (*addr, Some(*port), *timeout),
        ProbeSpec::FetchLoad { addr, timeout, .. } => (*addr, None, *timeout),
        ProbeSpec::Program { argv, .. } => {
            let ok = ProbeResult::Exited {
                code: Some(0),
                stdout: argv.last().cloned().unwrap_or_default().into_bytes(),
            };
            return (LOCAL_LATENCY, ok);
        }
    };
    if !w.reaches_servers(r) {
        return (timeout, ProbeResult::Failed(ProbeFailure::TimedOut));
    }
    let (b, _) = behaviour(w, addr, w.now);
    let check = port.and_then(|port| {
        w.setup
            .config
            .virtuals
            .iter()
            .find(|v| v.servers.iter().any(|s| s.addr == addr && s.port == port))
            .map(|v| &v.health.check)
    });
    match (b, port) {
        (Behaviour::Healthy, Some(_)) => (LOCAL_LATENCY, healthy_reply(check)),
        (Behaviour::Healthy, None) => (LOCAL_LATENCY, ProbeResult::Load(0.25)),
        (Behaviour::Failing, Some(_)) => {
            (LOCAL_LATENCY, ProbeResult::Failed(ProbeFailure::Refused))
        }
        (Behaviour::Failing, None) => (LOCAL_LATENCY, ProbeResult::LoadUnavailable),
        (Behaviour::Slow, _) => (timeout, ProbeResult::Failed(ProbeFailure::TimedOut)),
    }
}

/// Whether the real server behind `dest` serves a new connection now.
pub(crate) fn serving(w: &World, dest: DestKey) -> bool {
    if !w.setup.servers.contains(&dest.addr) {
        // The sorry server: always there.
        return true;
    }
    behaviour(w, dest.addr, w.now).0 == Behaviour::Healthy
}
