//! `piranha check [-c FILE]`: validate lvs.cf.

use std::process::ExitCode;

use piranha_engine::config::{LvsConfig, Network, ServiceKind};

use super::{plural, ConfigFile};

/// Validate lvs.cf and print a one-line summary (exit 0), or every error (exit 1).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    file: ConfigFile,
}

impl Args {
    /// Run the check.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let Some(parsed) = self.file.load()? else {
            return Ok(ExitCode::FAILURE);
        };
        println!(
            "{}: ok: {}",
            self.file.path.display(),
            summary(&parsed.config)
        );
        Ok(ExitCode::SUCCESS)
    }
}

/// `2 virtual servers, 5 real servers, network nat` (FOS: `service fos, 2 failover services`).
pub fn summary(cfg: &LvsConfig) -> String {
    match cfg.service {
        ServiceKind::Fos => format!(
            "service fos, {}",
            plural(cfg.failovers.len(), "failover service", "failover services")
        ),
        ServiceKind::Lvs => {
            let network = match cfg.network {
                Network::Direct => "direct",
                Network::Nat => "nat",
                Network::Tunnel => "tunnel",
            };
            format!(
                "{}, {}, network {network}",
                plural(cfg.virtuals.len(), "virtual server", "virtual servers"),
                plural(cfg.real_server_count(), "real server", "real servers"),
            )
        }
    }
}
