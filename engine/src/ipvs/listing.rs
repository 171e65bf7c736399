//! The table rendered exactly as `ipvsadm -Ln` prints it (ipvsadm's `list_all` with
//! `FMT_NUMERIC`), so operators and scripts that read ipvsadm's output keep working.
//!
//! Layout facts (from ipvsadm's print code): the service column is `PROT  ADDR:PORT` (two
//! blanks), cut at 33 characters for IPv4; destination lines are
//! `  -> %-28s %-7s %-6d %-10u %-10u` (address cut at 28 characters for IPv4, trailing blanks
//! kept); forwarding words `Masq`, `Local`, `Tunnel`, `Route`; service words in this order:
//! scheduler, `(sched flags)`, `persistent N`, `mask M` (only when not the full mask), `pe NAME`
//! (inside the persistent part), `ops`. Scheduler flags are named per scheduler: `sh-fallback`,
//! `sh-port` for sh, `mh-fallback`, `mh-port` for mh, `flag-1..3` otherwise.

use core::fmt::Write as _;
use std::net::Ipv4Addr;

use super::model::{
    fmt_addr_port, Dest, Family, Forwarding, Service, ServiceFlags, ServiceKey, Timeouts,
};
use super::table::Table;
use crate::sched::Algorithm;

/// What the header line shows (from `IPVS_CMD_GET_INFO`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ListingInfo {
    /// IPVS version (major, minor, patch); every kernel since 2.6.x reports 1.2.1.
    pub version: (u8, u8, u8),
    /// Connection hash table size (`ip_vs_conn_tab_size`, 4096 by default).
    pub conn_tab_size: u32,
}

impl Default for ListingInfo {
    fn default() -> Self {
        ListingInfo {
            version: (1, 2, 1),
            conn_tab_size: 4096,
        }
    }
}

/// The whole table as `ipvsadm -Ln` prints it, newline-terminated lines.
pub fn render(table: &Table, info: &ListingInfo) -> String {
    let mut out = String::new();
    let (a, b, c) = info.version;
    let _ = writeln!(
        out,
        "IP Virtual Server version {a}.{b}.{c} (size={})",
        info.conn_tab_size
    );
    out.push_str("Prot LocalAddress:Port Scheduler Flags\n");
    out.push_str("  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n");
    for entry in table.services.values() {
        out.push_str(&service_line(&entry.service));
        out.push('\n');
        for dest in entry.dests.values() {
            out.push_str(&dest_line(entry.service.key.family(), dest));
            out.push('\n');
        }
    }
    out
}

/// `ipvsadm -L --timeout`: `Timeout (tcp tcpfin udp): 900 120 300`, with the newline.
pub fn render_timeouts(t: &Timeouts) -> String {
    format!(
        "Timeout (tcp tcpfin udp): {} {} {}\n",
        t.tcp_s, t.tcpfin_s, t.udp_s
    )
}

/// One service line, without the newline.
pub fn service_line(svc: &Service) -> String {
    let mut line = match svc.key {
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => {
            let mut name = format!("{}  {}", protocol.as_str(), fmt_addr_port(&addr, port));
            if addr.is_ipv4() {
                name.truncate(33);
            }
            name
        }
        ServiceKey::Fwmark { family, mark } => match family {
            Family::Inet => format!("FWM  {mark}"),
            Family::Inet6 => format!("FWM  {mark} IPv6"),
        },
    };
    let _ = write!(line, " {}", svc.scheduler);
    let sched_flags = sched_flag_words(svc.scheduler, svc.flags);
    if !sched_flags.is_empty() {
        let _ = write!(line, " ({})", sched_flags.join(","));
    }
    if svc.flags.contains(ServiceFlags::PERSISTENT) {
        let _ = write!(line, " persistent {}", svc.timeout_s);
        let family = svc.key.family();
        if svc.netmask != family.full_netmask() {
            match family {
                Family::Inet => {
                    let _ = write!(line, " mask {}", Ipv4Addr::from(svc.netmask));
                }
                Family::Inet6 => {
                    let _ = write!(line, " mask {}", svc.netmask);
                }
            }
        }
        if let Some(pe) = svc.pe_name.as_deref().filter(|p| !p.is_empty()) {
            let _ = write!(line, " pe {pe}");
        }
    }
    if svc.flags.contains(ServiceFlags::ONEPACKET) {
        line.push_str(" ops");
    }
    line
}

fn sched_flag_words(scheduler: Algorithm, flags: ServiceFlags) -> Vec<&'static str> {
    let names: [&'static str; 3] = match scheduler {
        Algorithm::Sh => ["sh-fallback", "sh-port", "flag-3"],
        Algorithm::Mh => ["mh-fallback", "mh-port", "flag-3"],
        _ => ["flag-1", "flag-2", "flag-3"],
    };
    [
        ServiceFlags::SCHED1,
        ServiceFlags::SCHED2,
        ServiceFlags::SCHED3,
    ]
    .into_iter()
    .zip(names)
    .filter(|(f, _)| flags.contains(*f))
    .map(|(_, n)| n)
    .collect()
}

/// The forwarding word in the Forward column.
pub const fn forwarding_word(fwd: Forwarding) -> &'static str {
    match fwd {
        Forwarding::Masq => "Masq",
        Forwarding::Local => "Local",
        Forwarding::Tunnel => "Tunnel",
        Forwarding::DirectRoute => "Route",
        // ipvsadm has no word for it (it would print "(null)"); ipvsadm cannot create it.
        Forwarding::Bypass => "Bypass",
    }
}

/// One destination line, without the newline. `family` is the service's.
pub fn dest_line(family: Family, dest: &Dest) -> String {
    let mut name = fmt_addr_port(&dest.addr, dest.port);
    if family == Family::Inet {
        name.truncate(28);
    }
    format!(
        "  -> {:<28} {:<7} {:<6} {:<10} {:<10}",
        name,
        forwarding_word(dest.fwd),
        dest.weight,
        dest.conns.active,
        dest.conns.inactive
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::model::{DestConns, Protocol};

    fn sample() -> Table {
        let mut t = Table::new();
        let http = ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: [192, 168, 26, 10].into(),
            port: 80,
        };
        let mut s = Service::new(http, Algorithm::Wlc);
        s.flags = ServiceFlags::PERSISTENT.with(ServiceFlags::HASHED);
        s.timeout_s = 300;
        s.netmask = 0xffff_ff00;
        t.upsert_service(s);
        let mut d = Dest::new([10, 11, 12, 1].into(), 80, Forwarding::Masq, 1);
        d.conns = DestConns {
            active: 12,
            inactive: 345,
            persistent: 0,
        };
        t.upsert_dest(&http, d);
        t.upsert_dest(
            &http,
            Dest::new([10, 11, 12, 2].into(), 80, Forwarding::Masq, 2),
        );

        let dns = ServiceKey::Addr {
            protocol: Protocol::Udp,
            addr: [192, 168, 26, 11].into(),
            port: 53,
        };
        let mut s = Service::new(dns, Algorithm::Sh);
        s.flags = ServiceFlags::SCHED1
            .with(ServiceFlags::SCHED2)
            .with(ServiceFlags::ONEPACKET);
        t.upsert_service(s);
        t.upsert_dest(
            &dns,
            Dest::new([10, 11, 12, 3].into(), 53, Forwarding::DirectRoute, 100),
        );

        let v6 = ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: "2001:db8::10".parse().unwrap(),
            port: 443,
        };
        let mut s = Service::new(v6, Algorithm::Rr);
        s.flags = ServiceFlags::PERSISTENT;
        s.timeout_s = 60;
        s.netmask = 64;
        t.upsert_service(s);
        t.upsert_dest(
            &v6,
            Dest::new("2001:db8::1:1".parse().unwrap(), 443, Forwarding::Tunnel, 5),
        );

        let fw = ServiceKey::Fwmark {
            family: Family::Inet,
            mark: 7,
        };
        let mut s = Service::new(fw, Algorithm::Sh);
        s.flags = ServiceFlags::PERSISTENT;
        s.timeout_s = 360;
        s.pe_name = Some("sip".into());
        t.upsert_service(s);
        t.upsert_dest(
            &fw,
            Dest::new([10, 11, 12, 4].into(), 0, Forwarding::DirectRoute, 0),
        );
        t
    }

    #[test]
    fn lines_match_ipvsadm_byte_for_byte() {
        let text = render(&sample(), &ListingInfo::default());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "IP Virtual Server version 1.2.1 (size=4096)");
        assert_eq!(lines[1], "Prot LocalAddress:Port Scheduler Flags");
        assert_eq!(
            lines[2],
            "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn"
        );
        assert_eq!(
            lines[3],
            "TCP  192.168.26.10:80 wlc persistent 300 mask 255.255.255.0"
        );
        assert_eq!(
            lines[4],
            "  -> 10.11.12.1:80                Masq    1      12         345       "
        );
        assert_eq!(
            lines[6],
            "UDP  192.168.26.11:53 sh (sh-fallback,sh-port) ops"
        );
        assert_eq!(
            lines[7],
            "  -> 10.11.12.3:53                Route   100    0          0         "
        );
        assert_eq!(lines[8], "TCP  [2001:db8::10]:443 rr persistent 60 mask 64");
        assert_eq!(lines[10], "FWM  7 sh persistent 360 pe sip");
        assert_eq!(lines.len(), 12);
    }

    #[test]
    fn other_schedulers_name_flags_by_number() {
        let key = ServiceKey::Fwmark {
            family: Family::Inet6,
            mark: 1,
        };
        let mut s = Service::new(key, Algorithm::Wrr);
        s.flags = ServiceFlags::SCHED1.with(ServiceFlags::SCHED3);
        assert_eq!(service_line(&s), "FWM  1 IPv6 wrr (flag-1,flag-3)");
    }

    #[test]
    fn timeouts_line_and_zero_keeps_the_kernels_value() {
        let kernel = Timeouts {
            tcp_s: 900,
            tcpfin_s: 120,
            udp_s: 300,
        };
        assert_eq!(
            render_timeouts(&kernel),
            "Timeout (tcp tcpfin udp): 900 120 300\n"
        );
        let lvs_cf = Timeouts {
            tcp_s: 0,
            tcpfin_s: 30,
            udp_s: 0,
        };
        assert_eq!(
            lvs_cf.applied_to(kernel),
            Timeouts {
                tcp_s: 900,
                tcpfin_s: 30,
                udp_s: 300
            }
        );
    }

    #[test]
    fn listing_snapshot() {
        insta::assert_snapshot!(render(&sample(), &ListingInfo::default()));
    }
}
