//! `piranha pulse [-c FILE] [--no-ipvs] [--role primary|backup] [--control-socket PATH]
//! [--metrics-listen [ADDR]]`: the
//! director daemon, in the foreground (systemd supervises it: Type=notify, READY=1 once the
//! heartbeat sockets and the control socket are bound).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context as _};
use piranha_backends::commands::ProcessCommands;
use piranha_backends::heartbeat::{heartbeat_paths, UdpHeartbeat};
use piranha_backends::probe::{TokioProber, DEFAULT_CONCURRENCY};
use piranha_backends::vip::{local_addresses, NetlinkVips};
use piranha_daemon::control::DEFAULT_SOCKET;
use piranha_daemon::driver::{Control, Driver, DriverOptions, Identity, Loader, Ports};
use piranha_daemon::no_ipvs::MemoryIpvs;
use piranha_daemon::{control_server, signals};
use piranha_engine::config::LvsConfig;
use piranha_engine::director::{role_for, DirectorConfig};
use piranha_engine::ports::{ArpStyle, Ipvs};
use piranha_engine::pulse::Role;
use tracing::{error, info, warn};

use super::ConfigFile;

/// The longest a reload may take to read and parse lvs.cf (off the heartbeat loop) before it
/// is refused and the running configuration kept.
const RELOAD_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Run the director: heartbeats, failover, VIPs, ARP, health checks and the IPVS table.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    file: ConfigFile,
    /// Keep the IPVS table in memory (hosts without IPVS, tests): heartbeats, VIPs, ARP and
    /// health checks stay real.
    #[arg(long)]
    no_ipvs: bool,
    /// This node's role; by default the one whose address (primary/backup) an interface holds.
    #[arg(long, value_enum)]
    role: Option<RoleArg>,
    /// The control socket (`piranha status`, `drain`, `enable`).
    #[arg(long, value_name = "PATH", default_value = DEFAULT_SOCKET)]
    control_socket: PathBuf,
    /// Announce VIPs with gratuitous ARP requests instead of Piranha's replies.
    #[arg(long)]
    arp_request: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics (off by default; without ADDR,
    /// 127.0.0.1:9539). ADDR is IP:PORT, [IPv6]:PORT, an IP (port 9539) or :PORT (loopback).
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:9539",
          value_parser = piranha_daemon::metrics::parse_listen)]
    metrics_listen: Option<std::net::SocketAddr>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum RoleArg {
    Primary,
    Backup,
}

/// The kernel's IPVS over generic netlink.
fn kernel_ipvs() -> anyhow::Result<Arc<dyn Ipvs>> {
    let client = piranha_backends::ipvs::IpvsClient::connect()
        .context("cannot open the kernel's IPVS (generic netlink family \"IPVS\"; is ip_vs loaded? --no-ipvs runs heartbeats, VIPs and ARP only)")?;
    expire_quiescent_templates();
    Ok(Arc::new(client))
}

/// With `persistent` set, the kernel keeps sending a client to the real server its persistence
/// template names even after `quiesce_server` set that server's weight to 0 — unless this sysctl
/// is on. The simulator found the consequence (new connections to a real server its nanny
/// declared down) once it scheduled with the kernel's own algorithms, so the director turns the
/// sysctl on, as Red Hat's documentation advises for quiesce_server.
fn expire_quiescent_templates() {
    const SYSCTL: &str = "/proc/sys/net/ipv4/vs/expire_quiescent_template";
    if let Err(e) = std::fs::write(SYSCTL, "1\n") {
        tracing::warn!(
            "cannot set {SYSCTL} to 1 ({e}): persistent clients may stay on quiesced real servers"
        );
    }
}

/// Logging for daemons: plain lines on stderr (journald adds its own metadata), colours only
/// on a terminal; `RUST_LOG` overrides the default `info`.
pub(crate) fn init_logging() {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

/// The shared heartbeat key from `heartbeat_key_file` (trailing whitespace, e.g. the newline an
/// editor adds, is not part of the key).
pub(crate) fn read_key(path: &Path) -> anyhow::Result<Vec<u8>> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut bytes =
        std::fs::read(path).with_context(|| format!("cannot read key file {}", path.display()))?;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            warn!(
                "key file {} has mode {mode:04o}: anyone who can read it can forge heartbeats \
                 (chmod 600 it)",
                path.display()
            );
        }
    }
    while bytes.last().is_some_and(u8::is_ascii_whitespace) {
        bytes.pop();
    }
    if bytes.is_empty() {
        bail!("key file {} is empty", path.display());
    }
    Ok(bytes)
}

/// Parse lvs.cf and map it to the director's configuration; every error as one message.
fn load_director_config(path: &Path) -> Result<(LvsConfig, DirectorConfig), String> {
    let bytes = piranha_daemon::config_file::read(path)?;
    let name = path.display().to_string();
    // Host names are resolved here, at every load (start and reload), never by the engine.
    let parsed = super::parse_for(&name, &bytes, super::Load::Run).map_err(|d| d.to_string())?;
    for w in &parsed.warnings {
        warn!("{w}");
    }
    let key = match &parsed.config.heartbeat_key_file {
        Some(k) => Some(read_key(Path::new(k)).map_err(|e| format!("{e:#}"))?),
        None => None,
    };
    let dc = DirectorConfig::from_lvs_cf(&parsed.config, key.as_deref())
        .map_err(|e| format!("{name}: {e}"))?;
    Ok((parsed.config, dc))
}

impl Args {
    /// Run until SIGTERM/SIGINT.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        init_logging();
        let (lvs, dc) = match load_director_config(&self.file.path) {
            Ok(c) => c,
            Err(why) => {
                error!("{why}");
                return Ok(ExitCode::FAILURE);
            }
        };
        let role = match self.role {
            Some(RoleArg::Primary) => Role::Primary,
            Some(RoleArg::Backup) => Role::Backup,
            None => {
                let local: Vec<IpAddr> = local_addresses();
                role_for(&lvs, &local).context(
                    "this node holds neither the primary nor the backup address of lvs.cf \
                     (use --role to force one)",
                )?
            }
        };
        if role == Role::Backup && !lvs.backup_active {
            info!("backup_active = 0: nothing to do on the backup node");
            return Ok(ExitCode::SUCCESS);
        }
        let ipvs: Arc<dyn Ipvs> = if self.no_ipvs {
            Arc::new(MemoryIpvs::new())
        } else {
            kernel_ipvs()?
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        runtime.block_on(self.serve(lvs, dc, role, ipvs))
    }

    async fn serve(
        self,
        lvs: LvsConfig,
        dc: DirectorConfig,
        role: Role,
        ipvs: Arc<dyn Ipvs>,
    ) -> anyhow::Result<ExitCode> {
        let ours = dc.pulse.addrs(role);
        let partner = dc.pulse.addrs(role.partner());
        let paths = heartbeat_paths(
            (ours.public, ours.private),
            (partner.public, partner.private),
            dc.pulse.heartbeat_port,
            dc.pulse.arbiter.map(|a| a.address),
        );
        let heartbeat = UdpHeartbeat::bind(&paths).await?;
        let ports = Ports {
            ipvs,
            vips: Arc::new(NetlinkVips::new()),
            heartbeat: Arc::new(heartbeat),
            prober: Arc::new(TokioProber::new(DEFAULT_CONCURRENCY, &lvs.rsh_command)),
            commands: Arc::new(ProcessCommands),
        };
        let (tx, rx) = tokio::sync::mpsc::channel::<Control>(64);
        signals::forward(tx.clone())?;
        // Without a partner, as Piranha: quasi-up beats nothing up.
        if lvs.monitor_links && !dc.pulse.no_partner {
            let mut devices: Vec<String> = dc
                .vips
                .iter()
                .chain(dc.nat_router.as_ref())
                .map(|v| v.interface().to_string())
                .collect();
            devices.sort();
            devices.dedup();
            // As Piranha: the interfaces holding our heartbeat addresses; plus the VIPs'.
            let watched = piranha_backends::link::Watched {
                addresses: [Some(ours.public), ours.private]
                    .into_iter()
                    .flatten()
                    .collect(),
                devices,
            };
            let interval =
                (dc.pulse.keepalive.to_std() / 2).max(std::time::Duration::from_millis(20));
            let (link_tx, mut link_rx) = tokio::sync::mpsc::channel(8);
            tokio::spawn(piranha_backends::link::watch(watched, interval, link_tx));
            let to_driver = tx.clone();
            tokio::spawn(async move {
                while let Some(up) = link_rx.recv().await {
                    if to_driver.send(Control::Links(up)).await.is_err() {
                        return;
                    }
                }
            });
        }
        let listener = control_server::bind(&self.control_socket).with_context(|| {
            format!(
                "cannot bind control socket {}",
                self.control_socket.display()
            )
        })?;
        let bound = std::fs::symlink_metadata(&self.control_socket)?;
        if let Some(addr) = self.metrics_listen {
            let metrics = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen for metrics on {addr}"))?;
            info!("metrics on http://{addr}/metrics");
            tokio::spawn(piranha_daemon::metrics::serve(metrics, tx.clone()));
        }
        tokio::spawn(control_server::serve(
            listener,
            tx,
            self.control_socket.clone(),
        ));
        let path = self.file.path.clone();
        let loader: Loader = Arc::new(move || load_director_config(&path).map(|(_, dc)| dc));
        let incarnation = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_millis() as u64);
        let identity = Identity {
            role,
            incarnation,
            seed: incarnation ^ u64::from(std::process::id()),
        };
        let options = DriverOptions {
            config_file: self.file.path.display().to_string(),
            arp_style: if self.arp_request {
                ArpStyle::GratuitousRequest
            } else {
                ArpStyle::GratuitousReply
            },
        };
        let mut driver =
            Driver::new(dc, identity, ports, rx, loader, options)?.load_off_loop(RELOAD_LIMIT);
        if let Some(limit) = sd_notify::watchdog_enabled() {
            // Pet at a third of WatchdogSec, from the loop itself.
            let pet: Arc<dyn Fn() + Send + Sync> = Arc::new(|| {
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
            });
            driver = driver.with_watchdog((limit / 3, pet));
            info!("systemd watchdog: {} s", limit.as_secs_f64());
        }
        info!(
            "pulse started as {:?} (incarnation {incarnation}), heartbeats on {:?}",
            role,
            paths.iter().map(|p| p.local).collect::<Vec<_>>()
        );
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
        let result = driver.run().await;
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
        control_server::unlink_if_ours(&self.control_socket, &bound);
        result?;
        Ok(ExitCode::SUCCESS)
    }
}
