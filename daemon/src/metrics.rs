//! Prometheus metrics (`piranha pulse --metrics-listen [ADDR]`), in the OpenMetrics text
//! format Prometheus scrapes (prometheus-client).
//!
//! The engine does no I/O and knows nothing of Prometheus: the driver feeds [`Metrics`] from
//! what it sees anyway — the director's events (takeovers, give-ups, IPVS ops by cause), the
//! results of the outputs it executes (IPVS ops applied or refused, reloads), and the engine's
//! receive counters around each heartbeat datagram (their difference, attributed to the path
//! the datagram arrived on). Gauges (role, per-server health, weight, connections from the
//! last IPVS dump) are set from the status report at scrape time, so a scrape sees exactly
//! what `piranha status` would, and a server removed by a reload disappears.
//!
//! The HTTP side ([`serve`]) never touches the director: a scrape sends
//! [`crate::driver::Control::Metrics`] to the driver's loop and waits (bounded) for the text.
//! Metric names and meanings: docs/OPERATIONS.md.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use piranha_engine::director::{Event, IpvsCause};
use piranha_engine::pulse::{Counters, Event as PulseEvent, Path, RejectReason};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::{mpsc, oneshot};

use crate::control::StatusReport;
use crate::driver::Control;

/// The port `--metrics-listen` uses when given no address, or an address without a port.
pub const DEFAULT_PORT: u16 = 9539;
/// Where `--metrics-listen` listens when given no address: loopback only.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_PORT);
/// How long a scrape waits for the driver's loop.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);
/// The content type of the OpenMetrics text format.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `--metrics-listen` value: `IP:PORT`, `[IPv6]:PORT`, a bare IP (default port) or `:PORT`
/// (loopback).
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = s.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, DEFAULT_PORT));
    }
    if let Some(port) = s.strip_prefix(':') {
        if let Ok(p) = port.parse::<u16>() {
            return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), p));
        }
    }
    Err(format!("`{s}` is not IP:PORT, [IPv6]:PORT, an IP or :PORT"))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PathLabel {
    path: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PathReasonLabel {
    path: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CauseLabel {
    cause: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RoleLabel {
    role: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartnerLabel {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceLabels {
    virtual_server: String,
    service: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RealLabels {
    virtual_server: String,
    server: String,
    address: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HealthLabels {
    virtual_server: String,
    server: String,
    address: String,
    health: &'static str,
}

/// Every metric the daemon exports, and the registry that encodes them.
pub struct Metrics {
    registry: Registry,
    role: Family<RoleLabel, Gauge>,
    active: Gauge,
    partner: Family<PartnerLabel, Gauge>,
    serial_no: Gauge,
    takeovers: Family<ReasonLabel, Counter>,
    giveups: Family<ReasonLabel, Counter>,
    heartbeats_accepted: Family<PathLabel, Counter>,
    heartbeats_rejected: Family<PathReasonLabel, Counter>,
    heartbeat_send_refused: Counter,
    virtual_active: Family<ServiceLabels, Gauge>,
    real_health: Family<HealthLabels, Gauge>,
    real_weight: Family<RealLabels, Gauge>,
    real_in_table: Family<RealLabels, Gauge>,
    real_active_conns: Family<RealLabels, Gauge>,
    real_inactive_conns: Family<RealLabels, Gauge>,
    ipvs_ops_sent: Family<CauseLabel, Counter>,
    ipvs_ops_applied: Counter,
    ipvs_ops_refused: Counter,
    reconcile_repairs: Counter,
    reloads: Family<ResultLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// `PeerDead(Deadtime)` → `peer_dead_deadtime`: a Debug rendering as a label value.
fn snake(debug: &str) -> String {
    let mut out = String::with_capacity(debug.len() + 4);
    for c in debug.chars() {
        if c.is_ascii_uppercase() {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

fn path_name(p: Option<Path>) -> &'static str {
    match p {
        Some(Path::Public) => "public",
        Some(Path::Private) => "private",
        Some(Path::Arbiter) => "arbiter",
        None => "unknown",
    }
}

/// Every reject reason with its label and its count in [`Counters`].
fn reject_counts(c: &Counters) -> [(&'static str, u64); RejectReason::COUNT] {
    [
        ("foreign_source", c.foreign_source),
        ("length", c.bad_length),
        ("magic", c.bad_magic),
        ("version", c.bad_version),
        ("unauthenticated", c.unauthenticated),
        ("malformed", c.malformed),
        ("legacy_refused", c.legacy_refused),
        ("wrong_node", c.wrong_node),
        ("stale_incarnation", c.stale),
        ("replayed", c.replayed),
        ("unexpected_reply", c.unexpected_reply),
        ("unconfirmed", c.unconfirmed),
    ]
}

impl Metrics {
    /// All metrics at zero, registered under the `piranha_` prefix.
    pub fn new() -> Metrics {
        let mut r = Registry::with_prefix("piranha");
        macro_rules! reg {
            ($name:literal, $help:literal, $m:expr) => {{
                let m = $m;
                r.register($name, $help, m.clone());
                m
            }};
        }
        Metrics {
            role: reg!(
                "role",
                "This router's role (label), always 1",
                Family::default()
            ),
            active: reg!(
                "active",
                "1 while this router holds the VIPs",
                Gauge::default()
            ),
            partner: reg!(
                "partner",
                "What this router believes of its partner (label), always 1",
                Family::default()
            ),
            serial_no: reg!(
                "config_serial_no",
                "serial_no of the lvs.cf running",
                Gauge::default()
            ),
            takeovers: reg!(
                "takeovers",
                "Times this router became active, by reason",
                Family::default()
            ),
            giveups: reg!(
                "giveups",
                "Times this router stopped being active, by reason",
                Family::default()
            ),
            heartbeats_accepted: reg!(
                "heartbeats_accepted",
                "Valid heartbeats (and witness replies) received, by path",
                Family::default()
            ),
            heartbeats_rejected: reg!(
                "heartbeats_rejected",
                "Heartbeat datagrams dropped, by path and reason",
                Family::default()
            ),
            heartbeat_send_refused: reg!(
                "heartbeat_send_refused",
                "Heartbeat sends answered with ICMP port unreachable",
                Counter::default()
            ),
            virtual_active: reg!(
                "virtual_server_active",
                "1 when the virtual server is active in lvs.cf",
                Family::default()
            ),
            real_health: reg!(
                "real_server_health",
                "1 for the real server's current health (label: up, down, unknown, inactive)",
                Family::default()
            ),
            real_weight: reg!(
                "real_server_weight",
                "The real server's weight as the director sets it (0 when down or drained)",
                Family::default()
            ),
            real_in_table: reg!(
                "real_server_in_table",
                "1 when the real server is in the IPVS table",
                Family::default()
            ),
            real_active_conns: reg!(
                "real_server_active_connections",
                "ActiveConn of the real server in the last IPVS dump",
                Family::default()
            ),
            real_inactive_conns: reg!(
                "real_server_inactive_connections",
                "InActConn of the real server in the last IPVS dump",
                Family::default()
            ),
            ipvs_ops_sent: reg!(
                "ipvs_ops",
                "IPVS ops the director issued, by cause (change, drift)",
                Family::default()
            ),
            ipvs_ops_applied: reg!(
                "ipvs_ops_applied",
                "IPVS ops the kernel (or --no-ipvs table) applied",
                Counter::default()
            ),
            ipvs_ops_refused: reg!(
                "ipvs_ops_refused",
                "IPVS ops the kernel refused",
                Counter::default()
            ),
            reconcile_repairs: reg!(
                "reconcile_repairs",
                "IPVS ops issued to repair drift between the kernel's table and the director's",
                Counter::default()
            ),
            reloads: reg!(
                "reloads",
                "lvs.cf reloads, by result (ok, refused)",
                Family::default()
            ),
            registry: r,
        }
    }

    /// A director event.
    pub fn event(&self, e: &Event) {
        match e {
            Event::Pulse(PulseEvent::TookOver { why }) => {
                self.takeovers
                    .get_or_create(&ReasonLabel {
                        reason: snake(&format!("{why:?}")),
                    })
                    .inc();
            }
            Event::Pulse(PulseEvent::GaveUp { why }) => {
                self.giveups
                    .get_or_create(&ReasonLabel {
                        reason: snake(&format!("{why:?}")),
                    })
                    .inc();
            }
            Event::IpvsOps { count, cause } => {
                let n = *count as u64;
                let cause = match cause {
                    IpvsCause::Change => "change",
                    IpvsCause::Drift => {
                        self.reconcile_repairs.inc_by(n);
                        "drift"
                    }
                };
                self.ipvs_ops_sent
                    .get_or_create(&CauseLabel { cause })
                    .inc_by(n);
            }
            _ => {}
        }
    }

    /// The engine's receive counters before and after one datagram that arrived on `path`.
    pub fn received(&self, path: Path, before: &Counters, after: &Counters) {
        let path = path_name(Some(path));
        let accepted = (after.accepted + after.witness_replies)
            .saturating_sub(before.accepted + before.witness_replies);
        if accepted > 0 {
            self.heartbeats_accepted
                .get_or_create(&PathLabel { path })
                .inc_by(accepted);
        }
        for ((reason, b), (_, a)) in reject_counts(before).into_iter().zip(reject_counts(after)) {
            if a > b {
                self.heartbeats_rejected
                    .get_or_create(&PathReasonLabel { path, reason })
                    .inc_by(a - b);
            }
        }
    }

    /// A heartbeat send was refused (ICMP port unreachable).
    pub fn send_refused(&self) {
        self.heartbeat_send_refused.inc();
    }

    /// The outcome of one `ApplyIpvs` batch of `total` ops.
    pub fn ipvs_applied(&self, total: usize, result: &Result<(), usize>) {
        match result {
            Ok(()) => {
                self.ipvs_ops_applied.inc_by(total as u64);
            }
            Err(done) => {
                self.ipvs_ops_applied.inc_by(*done as u64);
                self.ipvs_ops_refused.inc();
            }
        }
    }

    /// A reload was taken (`true`) or refused.
    pub fn reload(&self, ok: bool) {
        self.reloads
            .get_or_create(&ResultLabel {
                result: if ok { "ok" } else { "refused" },
            })
            .inc();
    }

    /// Set the gauges from the status report and encode everything.
    pub fn render(&self, report: &StatusReport) -> String {
        self.role.clear();
        self.role
            .get_or_create(&RoleLabel {
                role: report.role.clone(),
            })
            .set(1);
        self.active.set(i64::from(report.active));
        self.partner.clear();
        self.partner
            .get_or_create(&PartnerLabel {
                state: report.peer.clone(),
            })
            .set(1);
        self.serial_no
            .set(i64::try_from(report.serial_no).unwrap_or(i64::MAX));
        for f in [
            &self.real_weight,
            &self.real_in_table,
            &self.real_active_conns,
            &self.real_inactive_conns,
        ] {
            f.clear();
        }
        self.real_health.clear();
        self.virtual_active.clear();
        for v in &report.virtuals {
            self.virtual_active
                .get_or_create(&ServiceLabels {
                    virtual_server: v.name.clone(),
                    service: v.service.clone(),
                })
                .set(i64::from(v.active));
            for s in &v.servers {
                let l = RealLabels {
                    virtual_server: v.name.clone(),
                    server: s.name.clone(),
                    address: s.address.clone(),
                };
                let health = match s.health.as_str() {
                    "up" => "up",
                    "down" => "down",
                    "unknown" => "unknown",
                    _ => "inactive",
                };
                self.real_health
                    .get_or_create(&HealthLabels {
                        virtual_server: l.virtual_server.clone(),
                        server: l.server.clone(),
                        address: l.address.clone(),
                        health,
                    })
                    .set(1);
                self.real_weight.get_or_create(&l).set(i64::from(s.weight));
                self.real_in_table
                    .get_or_create(&l)
                    .set(i64::from(s.in_table));
                self.real_active_conns
                    .get_or_create(&l)
                    .set(i64::from(s.active_conns));
                self.real_inactive_conns
                    .get_or_create(&l)
                    .set(i64::from(s.inactive_conns));
            }
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Serve `GET /metrics` on `listener` until the driver is gone; each scrape asks the driver.
pub async fn serve(listener: tokio::net::TcpListener, to_driver: mpsc::Sender<Control>) {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let to_driver = to_driver.clone();
            async move {
                let (tx, rx) = oneshot::channel();
                if to_driver.send(Control::Metrics(tx)).await.is_err() {
                    return (StatusCode::SERVICE_UNAVAILABLE, "the director stopped\n")
                        .into_response();
                }
                match tokio::time::timeout(SCRAPE_TIMEOUT, rx).await {
                    Ok(Ok(text)) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
                    _ => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "the director did not answer\n",
                    )
                        .into_response(),
                }
            }
        }),
    );
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!("metrics endpoint stopped: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_read_as_labels() {
        assert_eq!(snake("PeerDead(Deadtime)"), "peer_dead_deadtime");
        assert_eq!(snake("PrimaryWins"), "primary_wins");
        assert_eq!(snake("PeerStopped"), "peer_stopped");
    }

    #[test]
    fn listen_forms() {
        assert_eq!(parse_listen("0.0.0.0:9100").unwrap().port(), 9100);
        assert_eq!(parse_listen("10.0.0.1").unwrap().port(), DEFAULT_PORT);
        assert_eq!(
            parse_listen("[::1]").unwrap(),
            SocketAddr::new("::1".parse().unwrap(), DEFAULT_PORT)
        );
        assert_eq!(
            parse_listen(":9999").unwrap(),
            "127.0.0.1:9999".parse().unwrap()
        );
        assert!(parse_listen("nope").is_err());
    }

    #[test]
    fn counts_follow_what_happens() {
        use piranha_engine::pulse::{GiveupReason, TakeoverReason};
        let m = Metrics::new();
        m.event(&Event::Pulse(PulseEvent::TookOver {
            why: TakeoverReason::PeerStopped,
        }));
        m.event(&Event::Pulse(PulseEvent::GaveUp {
            why: GiveupReason::PrimaryWins,
        }));
        m.event(&Event::IpvsOps {
            count: 3,
            cause: IpvsCause::Drift,
        });
        m.ipvs_applied(3, &Ok(()));
        m.ipvs_applied(4, &Err(1));
        m.reload(false);
        let before = Counters::default();
        let after = Counters {
            accepted: 1,
            unauthenticated: 2,
            ..Counters::default()
        };
        m.received(Path::Private, &before, &after);
        let text = m.render(&StatusReport {
            role: "backup".into(),
            active: true,
            peer: "dead".into(),
            last_change: None,
            config_file: "lvs.cf".into(),
            serial_no: 7,
            uptime_s: 1.0,
            heartbeats_accepted: 1,
            heartbeats_rejected: 2,
            hot_standby: false,
            last_reload: None,
            virtuals: vec![crate::control::VirtualReport {
                name: "web".into(),
                service: "tcp 10.0.0.50:80".into(),
                active: true,
                servers: vec![crate::control::RealReport {
                    name: "s1".into(),
                    address: "10.0.0.1".into(),
                    health: "up".into(),
                    drained: false,
                    in_table: true,
                    weight: 5,
                    active_conns: 11,
                    inactive_conns: 2,
                }],
            }],
        });
        for line in [
            "piranha_takeovers_total{reason=\"peer_stopped\"} 1",
            "piranha_giveups_total{reason=\"primary_wins\"} 1",
            "piranha_reconcile_repairs_total 3",
            "piranha_ipvs_ops_total{cause=\"drift\"} 3",
            "piranha_ipvs_ops_applied_total 4",
            "piranha_ipvs_ops_refused_total 1",
            "piranha_reloads_total{result=\"refused\"} 1",
            "piranha_heartbeats_accepted_total{path=\"private\"} 1",
            "piranha_heartbeats_rejected_total{path=\"private\",reason=\"unauthenticated\"} 2",
            "piranha_role{role=\"backup\"} 1",
            "piranha_active 1",
            "piranha_partner{state=\"dead\"} 1",
            "piranha_config_serial_no 7",
            "piranha_real_server_health{virtual_server=\"web\",server=\"s1\",address=\"10.0.0.1\",health=\"up\"} 1",
            "piranha_real_server_weight{virtual_server=\"web\",server=\"s1\",address=\"10.0.0.1\"} 5",
            "piranha_real_server_active_connections{virtual_server=\"web\",server=\"s1\",address=\"10.0.0.1\"} 11",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }
}
