//! The production driver: a thin tokio loop around [`Director`].
//!
//! Each turn: read the clock (tokio's, so turmoil can drive it), feed one input (a heartbeat, a
//! probe result, a control request, a signal, or the timer), execute every output **in order**
//! through the ports, feed back what the outputs produced (IPVS applied/dumped), and re-arm one
//! timer at [`Director::poll_timeout`]. Probes and operator commands run as spawned tasks and
//! report back through channels (10,000 real servers from one process: tasks, not processes).
//! The ports are trait objects, so the simulator's turmoil level can hand in simulated ones.

use std::collections::VecDeque;
use std::sync::Arc;

use piranha_engine::director::{Director, DirectorConfig, Event, Input, Output};
use piranha_engine::ipvs::Table;
use piranha_engine::nanny::ProbeResult;
use piranha_engine::ports::{
    ArpStyle, Commands, HeartbeatRecv, HeartbeatTransport, Ipvs, Prober, Vips,
};
use piranha_engine::pulse::{Event as PulseEvent, Path, RejectReason, Role};
use piranha_engine::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

use crate::control::{Request, Response};
use crate::metrics::Metrics;
use crate::status;

/// Bound on results of probes and commands waiting to be fed.
const RESULT_QUEUE_DEPTH: usize = 16 << 10;
/// Bound on feed-back rounds after one input (each round executes a drained batch).
const MAX_ROUNDS_PER_INPUT: usize = 64;
/// How long an `active_cmd`/`inactive_cmd` may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// Retry delay of a failed IPVS dump.
const DUMP_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// The five ports the director's outputs go through.
#[derive(Clone)]
pub struct Ports {
    /// The IPVS table (netlink, or in memory with `--no-ipvs`).
    pub ipvs: Arc<dyn Ipvs>,
    /// VIP addresses and their ARP announcements.
    pub vips: Arc<dyn Vips>,
    /// Heartbeat datagrams.
    pub heartbeat: Arc<dyn HeartbeatTransport>,
    /// Health probes.
    pub prober: Arc<dyn Prober>,
    /// `active_cmd` / `inactive_cmd`.
    pub commands: Arc<dyn Commands>,
}

/// Re-reads lvs.cf: the new configuration, or every error (FILE:LINE:COL) as one message.
pub type Loader = Arc<dyn Fn() -> Result<DirectorConfig, String> + Send + Sync>;

/// What the outside world (signal handlers, the control socket) asks of the driver.
#[derive(Debug)]
pub enum Control {
    /// SIGHUP, or a control-socket `reload` (then answered on the channel).
    Reload(Option<oneshot::Sender<Response>>),
    /// SIGTERM/SIGINT: hand over, clean up, return.
    Shutdown,
    /// A control-socket request, answered on the channel.
    Request(Request, oneshot::Sender<Response>),
    /// `monitor_links`: the VIP interfaces' links went down (`false`) or are all up again.
    Links(bool),
    /// A Prometheus scrape: the metrics as OpenMetrics text (see [`crate::metrics`]).
    Metrics(oneshot::Sender<String>),
}

/// Settings of the driver itself (not of the director).
#[derive(Debug, Clone)]
pub struct DriverOptions {
    /// The lvs.cf path, for status.
    pub config_file: String,
    /// How VIPs are announced.
    pub arp_style: ArpStyle,
}

/// Who this router is.
#[derive(Debug, Clone, Copy)]
pub struct Identity {
    /// Primary or backup.
    pub role: Role,
    /// Grows at every start (wall-clock milliseconds do).
    pub incarnation: u64,
    /// Spreads the first health checks.
    pub seed: u64,
}

/// The running daemon. Build with [`Driver::new`], then [`Driver::run`] until shutdown.
pub struct Driver {
    director: Director,
    ports: Ports,
    start: tokio::time::Instant,
    results_tx: mpsc::Sender<Input>,
    results_rx: mpsc::Receiver<Input>,
    control_rx: mpsc::Receiver<Control>,
    loader: Loader,
    options: DriverOptions,
    last_dump: Option<Table>,
    dump_retry_at: Option<tokio::time::Instant>,
    pending: VecDeque<Input>,
    last_send_error: Option<String>,
    /// `serial_no` of the lvs.cf last loaded (pulse keeps the one it started with).
    serial_no: u64,
    /// Rejected-heartbeat log limiter: per (path, reason), last report and drops since.
    rejected_log: Vec<RejectedLog>,
    /// Prometheus metrics, fed from the outputs and events below.
    metrics: Metrics,
}

/// At most one log line per second for each kind of rejected heartbeat (a wrong key rejects
/// ten beats a second at keepalive 0.1).
struct RejectedLog {
    path: Option<Path>,
    why: RejectReason,
    last: tokio::time::Instant,
    suppressed: u64,
}

const REJECTED_LOG_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);
/// Bound on distinct (path, reason) pairs tracked (3 paths + none, 11 reasons).
const MAX_REJECTED_KINDS: usize = 64;

/// Why the driver could not start or stopped early.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The director refused the configuration.
    #[error("{0}")]
    Director(#[from] piranha_engine::director::DirectorError),
    /// The heartbeat transport failed for good.
    #[error("heartbeat transport: {0}")]
    Heartbeat(piranha_engine::ports::PortError),
}

impl Driver {
    /// A driver for this router. Call inside a tokio runtime.
    pub fn new(
        config: DirectorConfig,
        identity: Identity,
        ports: Ports,
        control_rx: mpsc::Receiver<Control>,
        loader: Loader,
        options: DriverOptions,
    ) -> Result<Driver, DriverError> {
        let start = tokio::time::Instant::now();
        let serial_no = config.pulse.serial_no;
        let director = Director::new(
            config,
            identity.role,
            identity.incarnation,
            identity.seed,
            Instant::ZERO,
        )?;
        let (results_tx, results_rx) = mpsc::channel(RESULT_QUEUE_DEPTH);
        Ok(Driver {
            director,
            ports,
            start,
            results_tx,
            results_rx,
            control_rx,
            loader,
            options,
            last_dump: None,
            dump_retry_at: None,
            pending: VecDeque::new(),
            last_send_error: None,
            serial_no,
            rejected_log: Vec::new(),
            metrics: Metrics::new(),
        })
    }

    /// The director (read-only), e.g. for tests.
    pub fn director(&self) -> &Director {
        &self.director
    }

    fn now(&self) -> Instant {
        let nanos = self.start.elapsed().as_nanos();
        Instant::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    fn to_tokio(&self, at: Instant) -> tokio::time::Instant {
        self.start + std::time::Duration::from_nanos(at.as_nanos())
    }

    /// Run until shutdown: returns once STOPPED has been sent, the VIPs removed and our
    /// services deleted.
    pub async fn run(mut self) -> Result<(), DriverError> {
        self.execute().await;
        let far = std::time::Duration::from_secs(3600);
        // Each turn handles one input; the loop ends only on shutdown (or a dead transport).
        loop {
            if self.director.is_shut_down() {
                info!("shut down: STOPPED sent, addresses and services removed");
                return Ok(());
            }
            let mut wake = match self.director.poll_timeout() {
                Some((at, _)) => self.to_tokio(at),
                None => tokio::time::Instant::now() + far,
            };
            if let Some(retry) = self.dump_retry_at {
                wake = wake.min(retry);
            }
            let heartbeat = self.ports.heartbeat.clone();
            tokio::select! {
                // Due timers first: a flood of datagrams (or of probe results) must never
                // delay our own heartbeats or the partner's deadline.
                biased;
                _ = tokio::time::sleep_until(wake) => {
                    let now = self.now();
                    if self.dump_retry_at.is_some_and(|t| t <= tokio::time::Instant::now()) {
                        self.dump_retry_at = None;
                        self.dump().await;
                    }
                    self.director.handle_timeout(now);
                }
                c = self.control_rx.recv() => match c {
                    Some(c) => self.control(c),
                    None => {
                        // Nobody can ask us to stop any more: stop now, cleanly.
                        let now = self.now();
                        self.feed(now, Input::Shutdown);
                    }
                },
                r = heartbeat.recv() => match r {
                    Ok(HeartbeatRecv::Datagram { from, bytes, path }) => {
                        let now = self.now();
                        let before = *self.director.pulse().counters();
                        self.feed(now, Input::Heartbeat { from, bytes });
                        self.metrics.received(path, &before, self.director.pulse().counters());
                    }
                    Ok(HeartbeatRecv::Refused { path }) => {
                        let now = self.now();
                        self.metrics.send_refused();
                        self.feed(now, Input::SendRefused(path));
                    }
                    Err(e) if e.reason.contains("closed") => return Err(DriverError::Heartbeat(e)),
                    Err(e) => debug!("heartbeat receive: {e}"),
                },
                Some(input) = self.results_rx.recv() => {
                    let now = self.now();
                    self.feed(now, input);
                }
            }
            self.execute().await;
        }
    }

    fn feed(&mut self, now: Instant, input: Input) {
        if let Err(e) = self.director.handle_input(now, input) {
            // A probe answering after its nanny was stopped (giveup, reload): harmless.
            debug!("input not taken: {e}");
        }
    }

    fn control(&mut self, c: Control) {
        let now = self.now();
        match c {
            Control::Shutdown => {
                info!("shutting down: handing over to the partner");
                self.feed(now, Input::Shutdown);
            }
            Control::Links(up) => {
                if up {
                    info!("monitored links up again");
                    self.feed(now, Input::LinkUp);
                } else {
                    warn!("a monitored link is down");
                    self.feed(now, Input::LinkDown);
                }
            }
            Control::Reload(reply) => {
                let r = self.reload(now);
                if let Some(reply) = reply {
                    let _ = reply.send(r);
                }
            }
            Control::Metrics(reply) => {
                let report = self.status_report(now);
                let _ = reply.send(self.metrics.render(&report));
            }
            Control::Request(req, reply) => {
                let r = match req {
                    Request::Status => Response::Status(self.status_report(now)),
                    Request::Drain {
                        virtual_name,
                        server,
                    } => self.override_(now, &virtual_name, &server, true),
                    Request::Enable {
                        virtual_name,
                        server,
                    } => self.override_(now, &virtual_name, &server, false),
                    Request::Reload => self.reload(now),
                };
                let _ = reply.send(r);
            }
        }
    }

    fn status_report(&self, now: Instant) -> crate::control::StatusReport {
        status::report(
            &self.director,
            self.last_dump.as_ref(),
            &self.options.config_file,
            self.serial_no,
            now,
        )
    }

    fn override_(&mut self, now: Instant, v: &str, s: &str, drained: bool) -> Response {
        match self.director.handle_override(now, v, s, drained) {
            Ok(()) => Response::Ok {
                message: format!(
                    "{} real server {s} of virtual server {v}",
                    if drained { "drained" } else { "enabled" }
                ),
            },
            Err(e) => Response::Error {
                message: e.to_string(),
            },
        }
    }

    fn reload(&mut self, now: Instant) -> Response {
        match (self.loader)() {
            Ok(cfg) => {
                info!(
                    "reloading {} (serial_no {})",
                    self.options.config_file, cfg.pulse.serial_no
                );
                self.serial_no = cfg.pulse.serial_no;
                self.director.handle_reload(now, cfg);
                self.metrics.reload(true);
                Response::Ok {
                    message: format!("reloaded {}", self.options.config_file),
                }
            }
            Err(why) => {
                error!("reload refused, keeping the running configuration:\n{why}");
                self.metrics.reload(false);
                Response::Error { message: why }
            }
        }
    }

    async fn dump(&mut self) {
        match self.ports.ipvs.dump().await {
            Ok(table) => {
                self.last_dump = Some(table.clone());
                self.pending.push_back(Input::IpvsDumped(table));
            }
            Err(e) => {
                warn!("IPVS dump failed, retrying in {DUMP_RETRY:?}: {e}");
                self.dump_retry_at = Some(tokio::time::Instant::now() + DUMP_RETRY);
            }
        }
    }

    /// Execute every output in order; feed back what they produced; repeat until quiet.
    async fn execute(&mut self) {
        for _ in 0..MAX_ROUNDS_PER_INPUT {
            let mut any = false;
            while let Some(out) = self.director.poll_output() {
                any = true;
                self.output(out).await;
            }
            let now = self.now();
            while let Some(input) = self.pending.pop_front() {
                any = true;
                self.feed(now, input);
            }
            if !any {
                return;
            }
        }
        warn!("outputs still pending after {MAX_ROUNDS_PER_INPUT} rounds; continuing next turn");
    }

    fn log_rejected(&mut self, path: Option<Path>, why: RejectReason) {
        let now = tokio::time::Instant::now();
        match self
            .rejected_log
            .iter_mut()
            .find(|r| r.path == path && r.why == why)
        {
            Some(r) if now.duration_since(r.last) < REJECTED_LOG_INTERVAL => r.suppressed += 1,
            Some(r) => {
                warn!(
                    "heartbeat rejected on {path:?}: {why:?} ({} more since the last report)",
                    r.suppressed
                );
                r.last = now;
                r.suppressed = 0;
            }
            None => {
                warn!("heartbeat rejected on {path:?}: {why:?}");
                if self.rejected_log.len() < MAX_REJECTED_KINDS {
                    self.rejected_log.push(RejectedLog {
                        path,
                        why,
                        last: now,
                        suppressed: 0,
                    });
                }
            }
        }
    }

    async fn output(&mut self, out: Output) {
        match out {
            Output::Transmit(t) => match self.ports.heartbeat.send(t.path, &t.bytes).await {
                Ok(()) => self.last_send_error = None,
                Err(e) => {
                    let msg = e.to_string();
                    if self.last_send_error.as_deref() != Some(&msg) {
                        warn!("heartbeat to {} not sent: {msg}", t.destination);
                        self.last_send_error = Some(msg);
                    }
                }
            },
            Output::ApplyIpvs(ops) => {
                let r = self.ports.ipvs.apply(&ops).await;
                if let Err((done, e)) = &r {
                    error!("IPVS refused op {} of {}: {e}", done + 1, ops.len());
                }
                self.metrics
                    .ipvs_applied(ops.len(), &r.as_ref().map(|_| ()).map_err(|(n, _)| *n));
                self.pending
                    .push_back(Input::IpvsApplied(r.map_err(|(n, e)| (n, e.to_string()))));
            }
            Output::DumpIpvs => self.dump().await,
            Output::SetIpvsTimeouts(t) => {
                if let Err(e) = self.ports.ipvs.set_timeouts(t).await {
                    error!("IPVS timeouts not set: {e}");
                }
            }
            Output::SetSyncDaemon(s) => {
                if let Err(e) = self.ports.ipvs.set_sync_daemon(s.clone()).await {
                    error!("sync daemon {s:?} not set: {e}");
                }
            }
            Output::AddVip(vip) => match self.ports.vips.add(&vip).await {
                Ok(()) => info!("address {}/{} up on {}", vip.ip, vip.prefix_len, vip.device),
                Err(e) => error!("{e}"),
            },
            Output::RemoveVip(vip) => match self.ports.vips.remove(&vip).await {
                Ok(()) => debug!("address {} down on {}", vip.ip, vip.device),
                Err(e) => error!("{e}"),
            },
            Output::Announce(vip) => {
                match self.ports.vips.announce(&vip, self.options.arp_style).await {
                    Ok(()) => debug!("announced {} on {}", vip.ip, vip.interface()),
                    Err(e) => warn!("{e}"),
                }
            }
            Output::RunCommand(argv) => {
                let commands = self.ports.commands.clone();
                tokio::spawn(async move {
                    match commands.run(&argv, COMMAND_TIMEOUT).await {
                        Ok(exit) if exit.code == Some(0) => info!("ran {}", argv.join(" ")),
                        Ok(exit) => warn!("{} exited with {:?}", argv.join(" "), exit.code),
                        Err(e) => error!("{e}"),
                    }
                });
            }
            Output::StartProbe { ticket, spec } => {
                let prober = self.ports.prober.clone();
                let tx = self.results_tx.clone();
                tokio::spawn(async move {
                    let result: ProbeResult = prober.probe(&spec).await;
                    let _ = tx.send(Input::ProbeDone { ticket, result }).await;
                });
            }
            Output::Event(Event::Pulse(PulseEvent::HeartbeatRejected { path, why })) => {
                self.log_rejected(path, why)
            }
            Output::Event(e) => {
                self.metrics.event(&e);
                log_event(&e);
            }
        }
    }
}

/// Every decision goes to the log: takeovers and giveups at `info`/`warn`, rejected
/// heartbeats at `warn`, routine ones at `debug`.
pub fn log_event(e: &Event) {
    use piranha_engine::nanny::NannyEvent;
    use piranha_engine::pulse::Event as P;
    match e {
        Event::Pulse(p) => match p {
            P::TookOver { why } => warn!("took over: {why:?}"),
            P::GaveUp { why } => warn!("gave up: {why:?}"),
            P::PeerDead { reason } => warn!("partner dead: {reason:?}"),
            P::HeartbeatRejected { path, why } => {
                warn!("heartbeat rejected on {path:?}: {why:?}")
            }
            P::PathSilent { path } => warn!("heartbeat path {path:?} silent"),
            P::SerialMismatch { ours, theirs } => {
                warn!("partner runs lvs.cf serial_no {theirs}, we run {ours}")
            }
            other => info!("{other:?}"),
        },
        Event::Real {
            virtual_name,
            server,
            event,
        } => match event {
            NannyEvent::Down { .. } => {
                warn!("real server {server} of {virtual_name}: {event:?}")
            }
            NannyEvent::CheckFailed { .. } | NannyEvent::WeightChanged { .. } => {
                debug!("real server {server} of {virtual_name}: {event:?}")
            }
            _ => info!("real server {server} of {virtual_name}: {event:?}"),
        },
        Event::IpvsOps { count, cause } => debug!("{count} IPVS ops ({cause:?})"),
        Event::IpvsRefused { reason } => error!("IPVS refused: {reason}"),
        Event::ReloadNeedsRestart { what } => {
            warn!("reload: {what} changed; takes effect at the next restart")
        }
        other => info!("{other:?}"),
    }
}
