//! `piranha release [-c FILE] [--control-socket PATH] [--force]`: remove from this host every
//! address lvs.cf lets a router hold (the VIPs of active virtual servers and the NAT router
//! address). For systemd's `ExecStopPost`: a daemon that crashed or was killed by the watchdog
//! leaves its VIPs up, and the host keeps answering ARP for them while the partner takes over;
//! removing them makes the partner's gratuitous ARP the only claim. Idempotent: an address that
//! is not there is fine. Refused while a daemon answers on the control socket (it holds the
//! addresses on purpose), unless `--force`.

use std::path::PathBuf;
use std::process::ExitCode;

use piranha_daemon::control::DEFAULT_SOCKET;

use super::ConfigFile;

/// Remove lvs.cf's VIPs and NAT router address from this host (after a crash).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    file: ConfigFile,
    /// The daemon's control socket: while a daemon answers there, nothing is removed.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_SOCKET)]
    control_socket: PathBuf,
    /// Remove the addresses even if a daemon is running.
    #[arg(long)]
    force: bool,
}

impl Args {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        if !self.force && std::os::unix::net::UnixStream::connect(&self.control_socket).is_ok() {
            eprintln!(
                "a daemon answers on {}: it holds its addresses on purpose; nothing removed \
                 (--force removes them anyway)",
                self.control_socket.display()
            );
            return Ok(ExitCode::FAILURE);
        }
        let Some(parsed) = self.file.load()? else {
            return Ok(ExitCode::FAILURE);
        };
        let director = super::ipvs::without_key(&parsed.config)
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.file.path.display()))?;
        let mut failed = 0;
        // Every address a router of this lvs.cf may hold.
        for vip in director.held_addresses() {
            match piranha_backends::vip::remove_blocking(&vip) {
                Ok(()) => println!("released {} on {}", vip.ip, vip.device),
                Err(e) => {
                    eprintln!("{} on {}: {e}", vip.ip, vip.device);
                    failed += 1;
                }
            }
        }
        Ok(if failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}
