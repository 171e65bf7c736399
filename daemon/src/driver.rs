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

use crate::control::{ReloadReport, Request, Response};
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
/// It runs on the driver's loop unless [`Driver::load_off_loop`] moves it to a blocking thread.
pub type Loader = Arc<dyn Fn() -> Result<DirectorConfig, String> + Send + Sync>;

/// Systemd's watchdog: how often to pet it, and how.
pub type Watchdog = (std::time::Duration, Arc<dyn Fn() + Send + Sync>);

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
    /// Reloads: where the loader runs, and who waits for the one in flight.
    reloads: Reloads,
    /// The outcome of the last reload, for `piranha status`.
    last_reload: Option<ReloadReport>,
    /// Systemd's watchdog, petted from this loop (so a stalled loop stops petting it).
    watchdog: Option<Watchdog>,
}

/// A reload off the loop: at most one in flight; requests that arrive meanwhile wait for the
/// next one (they must see the file as it is after they asked).
struct Reloads {
    /// `Some(limit)`: the loader runs on a blocking thread and is refused past `limit`.
    off_loop: Option<std::time::Duration>,
    in_flight: bool,
    /// Answered when the load in flight finishes.
    waiting: Vec<Option<oneshot::Sender<Response>>>,
    /// Arrived during the load in flight: answered by the next one.
    next: Vec<Option<oneshot::Sender<Response>>>,
    done_tx: mpsc::Sender<Result<DirectorConfig, String>>,
    done_rx: mpsc::Receiver<Result<DirectorConfig, String>>,
}

/// At most one log line per second for each kind of rejected heartbeat (a wrong key rejects
/// ten beats a second at keepalive 0.1). The count since the last line comes from pulse's own
/// counters: pulse reports a reason at most once per keepalive, so counting its events would
/// undercount a flood by orders of magnitude.
struct RejectedLog {
    path: Option<Path>,
    why: RejectReason,
    last: tokio::time::Instant,
    /// Pulse's counter for `why` when the last line was written.
    counted: u64,
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
        let (done_tx, done_rx) = mpsc::channel(1);
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
            reloads: Reloads {
                off_loop: None,
                in_flight: false,
                waiting: Vec::new(),
                next: Vec::new(),
                done_tx,
                done_rx,
            },
            last_reload: None,
            watchdog: None,
            metrics: Metrics::new(),
        })
    }

    /// Run the loader on a blocking thread, refused after `limit`: reading and parsing lvs.cf
    /// (a huge file, a FIFO, a hung NFS mount) must never stall heartbeats. Without this the
    /// loader runs on the loop, which keeps tests under turmoil deterministic.
    pub fn load_off_loop(mut self, limit: std::time::Duration) -> Driver {
        self.reloads.off_loop = Some(limit);
        self
    }

    /// Pet systemd's watchdog every `interval` from the loop itself: a loop stuck for longer
    /// than `WatchdogSec` stops petting, and systemd restarts the daemon (`ExecStopPost` then
    /// removes the VIPs it held).
    pub fn with_watchdog(mut self, watchdog: Watchdog) -> Driver {
        self.watchdog = Some(watchdog);
        self
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
        let mut pet_at = tokio::time::Instant::now();
        // Each turn handles one input; the loop ends only on shutdown (or a dead transport).
        loop {
            if let Some((interval, pet)) = &self.watchdog {
                let now = tokio::time::Instant::now();
                if now >= pet_at {
                    pet();
                    pet_at = now + *interval;
                }
            }
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
            if self.watchdog.is_some() {
                wake = wake.min(pet_at);
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
                Some(loaded) = self.reloads.done_rx.recv() => {
                    let now = self.now();
                    self.reload_done(now, loaded);
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
            Control::Reload(reply) => self.reload(now, reply),
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
                    Request::Reload => return self.reload(now, Some(reply)),
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
        .with_last_reload(self.last_reload.clone())
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

    /// Re-read lvs.cf (on the loop, or on a blocking thread with [`Driver::load_off_loop`]),
    /// then answer `reply`.
    fn reload(&mut self, now: Instant, reply: Option<oneshot::Sender<Response>>) {
        let Some(limit) = self.reloads.off_loop else {
            let loaded = (self.loader)();
            let r = self.apply_reload(now, loaded);
            if let Some(reply) = reply {
                let _ = reply.send(r);
            }
            return;
        };
        if self.reloads.in_flight {
            self.reloads.next.push(reply);
            return;
        }
        self.reloads.waiting.push(reply);
        self.reloads.in_flight = true;
        let loader = self.loader.clone();
        let done = self.reloads.done_tx.clone();
        tokio::spawn(async move {
            let loaded =
                match tokio::time::timeout(limit, tokio::task::spawn_blocking(move || loader()))
                    .await
                {
                    Ok(Ok(loaded)) => loaded,
                    Ok(Err(e)) => Err(format!("reading lvs.cf failed: {e}")),
                    Err(_) => Err(format!(
                        "reading and parsing lvs.cf took longer than {} s; is it on a hung mount?",
                        limit.as_secs_f64()
                    )),
                };
            let _ = done.send(loaded).await;
        });
    }

    /// A load that ran off the loop finished: apply it, answer who waited, start the next.
    fn reload_done(&mut self, now: Instant, loaded: Result<DirectorConfig, String>) {
        let r = self.apply_reload(now, loaded);
        for reply in std::mem::take(&mut self.reloads.waiting)
            .into_iter()
            .flatten()
        {
            let _ = reply.send(r.clone());
        }
        self.reloads.in_flight = false;
        let next = std::mem::take(&mut self.reloads.next);
        if !next.is_empty() {
            // Every request that came in meanwhile shares one fresh load.
            let mut next = next.into_iter();
            self.reload(now, next.next().flatten());
            self.reloads.waiting.extend(next);
        }
    }

    /// Hand a loaded configuration to the director (or refuse it), warn about what looks like
    /// a mistake, and remember the outcome for `piranha status`.
    fn apply_reload(&mut self, now: Instant, loaded: Result<DirectorConfig, String>) -> Response {
        let at_s = now.saturating_duration_since(Instant::ZERO).as_secs_f64();
        match loaded {
            Ok(cfg) => {
                info!(
                    "reloading {} (serial_no {})",
                    self.options.config_file, cfg.pulse.serial_no
                );
                let warnings = reload_warnings(self.director.config(), &cfg);
                for w in &warnings {
                    warn!("reload: {w}");
                }
                let serial_no = cfg.pulse.serial_no;
                self.serial_no = serial_no;
                self.director.handle_reload(now, cfg);
                let mut message = format!("reloaded {}", self.options.config_file);
                for w in &warnings {
                    message.push_str("\nwarning: ");
                    message.push_str(w);
                }
                self.last_reload = Some(ReloadReport {
                    at_s,
                    ok: true,
                    serial_no: Some(serial_no),
                    message: message.clone(),
                    warnings,
                });
                self.metrics.reload(true);
                Response::Ok { message }
            }
            Err(why) => {
                error!("reload refused, keeping the running configuration:\n{why}");
                self.last_reload = Some(ReloadReport {
                    at_s,
                    ok: false,
                    serial_no: None,
                    message: why.clone(),
                    warnings: Vec::new(),
                });
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
        let counted = self.director.pulse().counters().of(why);
        match self
            .rejected_log
            .iter_mut()
            .find(|r| r.path == path && r.why == why)
        {
            Some(r) if now.duration_since(r.last) < REJECTED_LOG_INTERVAL => {}
            Some(r) => {
                // Pulse counts per reason, not per path: the count covers every path.
                warn!(
                    "heartbeat rejected on {path:?}: {why:?} ({} more since the last report)",
                    counted.saturating_sub(r.counted + 1)
                );
                r.last = now;
                r.counted = counted;
            }
            None => {
                warn!("heartbeat rejected on {path:?}: {why:?}");
                if self.rejected_log.len() < MAX_REJECTED_KINDS {
                    self.rejected_log.push(RejectedLog {
                        path,
                        why,
                        last: now,
                        counted,
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

/// What in a reload that parsed and validated still looks like a mistake: a file cut short
/// (every virtual server or VIP gone, or most of them), an older `serial_no` (an old copy put
/// back). The reload is taken all the same (it is a valid file); the operator is told.
pub fn reload_warnings(old: &DirectorConfig, new: &DirectorConfig) -> Vec<String> {
    let mut w = Vec::new();
    let (was, now) = (old.virtuals.len(), new.virtuals.len());
    if was > 0 && now == 0 {
        w.push(format!(
            "the new lvs.cf has no virtual server (the running one had {was}): every VIP and \
             IPVS service goes; is the file truncated?"
        ));
    } else if was >= 4 && now * 2 < was {
        w.push(format!(
            "the new lvs.cf has {now} virtual servers, the running one {was}: is the file truncated?"
        ));
    }
    if !old.vips.is_empty() && new.vips.is_empty() && now > 0 {
        w.push(format!(
            "the new lvs.cf brings up no VIP (the running one held {})",
            old.vips.len()
        ));
    }
    let (a, b) = (old.pulse.serial_no, new.pulse.serial_no);
    if b < a {
        w.push(format!(
            "serial_no goes backwards ({a} -> {b}): an older copy of lvs.cf? (the partner compares serials)"
        ));
    }
    w
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
            P::HoldingWithoutLease => warn!(
                "witness lease expired (witness unreachable): keeping the VIPs while the \
                 partner is heard standby"
            ),
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
