//! `piranha witness [--listen ADDR] --key-file FILE [--max-lease SECONDS]`: the optional
//! split-brain arbiter (lvs.cf `arbiter = IP[:PORT]`), running engine::pulse::witness over UDP.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use piranha_engine::pulse::witness::{Witness, WitnessConfig, WitnessEvent};
use piranha_engine::pulse::Role;
use piranha_engine::time::{Duration, Instant};
use piranha_engine::wire::v2::Key;
use tracing::{debug, info, warn};

/// Grant a time-bounded lease to at most one router.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address and port to listen on (lvs.cf `arbiter` points here).
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:5390")]
    listen: SocketAddr,
    /// The routers' shared heartbeat key (their `heartbeat_key_file`).
    #[arg(long, value_name = "FILE")]
    key_file: PathBuf,
    /// Longest lease granted, in seconds; also the silent period after a (re)start.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    max_lease: f64,
}

impl Args {
    /// Serve until killed.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        super::pulse::init_logging();
        let key_bytes = super::pulse::read_key(&self.key_file)?;
        let key = Key::new(&key_bytes).map_err(|_| anyhow::anyhow!("empty key"))?;
        if !(self.max_lease > 0.0 && self.max_lease <= 3600.0) {
            anyhow::bail!("--max-lease must be in (0, 3600] seconds");
        }
        let config = WitnessConfig {
            key,
            max_lease: Duration::from_secs_f64(self.max_lease),
            routers: [Role::Primary.node_id(), Role::Backup.node_id()],
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(serve(self.listen, config))
    }
}

async fn serve(listen: SocketAddr, config: WitnessConfig) -> anyhow::Result<ExitCode> {
    let socket = tokio::net::UdpSocket::bind(listen).await?;
    let start = tokio::time::Instant::now();
    let incarnation = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_millis() as u64);
    let mut witness = Witness::new(config, incarnation, Instant::ZERO);
    info!("witness listening on {listen}");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    let mut buf = vec![0u8; 2048];
    let mut last_holder = None;
    // One datagram per turn, until killed.
    loop {
        let (n, from) = match socket.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                debug!("receive: {e}");
                continue;
            }
        };
        let now = Instant::from_nanos(start.elapsed().as_nanos() as u64);
        let (reply, event) = witness.handle_request(now, from, &buf[..n]);
        match event {
            WitnessEvent::Granted { node, .. } if last_holder != Some(node) => {
                info!("lease granted to node {} ({from})", node.0);
                last_holder = Some(node);
            }
            WitnessEvent::Granted { .. } => debug!("lease renewed ({from})"),
            WitnessEvent::Denied { node, holder } => {
                info!(
                    "lease denied to node {} ({from}): held by {}",
                    node.0, holder.0
                )
            }
            WitnessEvent::Released { node } => {
                info!("lease released by node {}", node.0);
                last_holder = None;
            }
            WitnessEvent::Rejected { why } => warn!("datagram from {from} rejected: {why:?}"),
        }
        if let Some(reply) = reply {
            if let Err(e) = socket.send_to(&reply, from).await {
                debug!("reply to {from}: {e}");
            }
        }
    }
}
