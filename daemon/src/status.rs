//! [`StatusReport`] from the director's snapshot, its counters and the last IPVS dump.

use piranha_engine::director::Director;
use piranha_engine::ipvs::{DestKey, Table};
use piranha_engine::nanny::Health;
use piranha_engine::time::Instant;

use crate::control::{LastChange, RealReport, StatusReport, VirtualReport};

/// Build the report `piranha status` shows.
pub fn report(
    director: &Director,
    last_dump: Option<&Table>,
    config_file: &str,
    serial_no: u64,
    now: Instant,
) -> StatusReport {
    let s = director.status();
    let counters = director.pulse().counters();
    let virtuals = s
        .virtuals
        .iter()
        .zip(&director.config().virtuals)
        .map(|(v, spec)| VirtualReport {
            name: v.name.clone(),
            service: v.service.clone(),
            active: spec.active,
            servers: v
                .servers
                .iter()
                .zip(&spec.servers)
                .map(|(r, rs)| {
                    let key = DestKey {
                        addr: rs.addr,
                        port: rs.port,
                    };
                    let dumped = last_dump
                        .and_then(|t| t.get(&spec.key))
                        .and_then(|e| e.dests.get(&key));
                    let health = match r.state.map(|st| st.health) {
                        None => "inactive",
                        Some(Health::Unknown) => "unknown",
                        Some(Health::Up) => "up",
                        Some(Health::Down) => "down",
                    };
                    RealReport {
                        name: r.name.clone(),
                        address: r.address.clone(),
                        health: health.to_string(),
                        drained: r.state.is_some_and(|st| st.drained),
                        in_table: r.state.is_some_and(|st| st.in_table),
                        weight: r.state.map_or(0, |st| st.weight),
                        active_conns: dumped.map_or(0, |d| d.conns.active),
                        inactive_conns: dumped.map_or(0, |d| d.conns.inactive),
                    }
                })
                .collect(),
        })
        .collect();
    StatusReport {
        role: s.role,
        active: s.active,
        hot_standby: s.lvs_running && !s.active,
        peer: s.peer.to_lowercase(),
        last_change: s.last_change.map(|(at, why)| LastChange {
            at_s: at.saturating_duration_since(Instant::ZERO).as_secs_f64(),
            why,
        }),
        config_file: config_file.to_string(),
        serial_no,
        uptime_s: now.saturating_duration_since(Instant::ZERO).as_secs_f64(),
        heartbeats_accepted: counters.accepted,
        heartbeats_rejected: counters.rejected(),
        virtuals,
        last_reload: None,
    }
}

/// The report as a table for a person.
pub fn render(r: &StatusReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "role {} ({}), partner {}, lvs.cf {} serial {}, up {:.1} s",
        r.role,
        if r.active {
            "active"
        } else if r.hot_standby {
            "backup, hot standby"
        } else {
            "backup, inactive"
        },
        r.peer,
        r.config_file,
        r.serial_no,
        r.uptime_s
    );
    match &r.last_change {
        Some(c) => {
            let _ = writeln!(out, "last change at {:.3} s: {}", c.at_s, c.why);
        }
        None => {
            let _ = writeln!(out, "last change: none");
        }
    }
    let _ = writeln!(
        out,
        "heartbeats: {} accepted, {} rejected",
        r.heartbeats_accepted, r.heartbeats_rejected
    );
    if let Some(l) = &r.last_reload {
        let first = l.message.lines().next().unwrap_or("");
        if l.ok {
            let _ = writeln!(
                out,
                "last reload at {:.3} s: taken (serial {})",
                l.at_s,
                l.serial_no.unwrap_or_default()
            );
            for w in &l.warnings {
                let _ = writeln!(out, "  warning: {w}");
            }
        } else {
            let _ = writeln!(
                out,
                "last reload at {:.3} s: REFUSED, running the previous lvs.cf: {first}",
                l.at_s
            );
        }
    }
    for v in &r.virtuals {
        let _ = writeln!(
            out,
            "\nvirtual {} {}{}",
            v.name,
            v.service,
            if v.active { "" } else { " (inactive)" }
        );
        let _ = writeln!(
            out,
            "  {:<16} {:<24} {:<9} {:>6} {:>8} {:>10} {:>9}",
            "server", "address", "health", "weight", "in table", "ActiveConn", "InActConn"
        );
        for s in &v.servers {
            let health = if s.drained {
                format!("{} drained", s.health)
            } else {
                s.health.clone()
            };
            let _ = writeln!(
                out,
                "  {:<16} {:<24} {:<9} {:>6} {:>8} {:>10} {:>9}",
                s.name,
                s.address,
                health,
                s.weight,
                if s.in_table { "yes" } else { "no" },
                s.active_conns,
                s.inactive_conns
            );
        }
    }
    out
}
