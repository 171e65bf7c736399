//! `piranha ipvs list|apply|flush|zero|sync-daemon`: the kernel's IPVS table over netlink,
//! without ipvsadm.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Context as _;
use piranha_backends::ipvs::{
    consts, daemons_for, timeouts_s, DaemonState, DestDump, IpvsClient, ServiceDump,
};
use piranha_engine::director::DirectorConfig;
use piranha_engine::ipvs::listing::{self, ListingInfo};
use piranha_engine::ipvs::{reconcile, Ownership};
use piranha_engine::lvs::{desired_table, RealId};
use piranha_engine::nanny::{Health, RealState};
use piranha_engine::ports::SyncDaemon;

use super::ConfigFile;

/// The IPVS subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print the kernel's table exactly as `ipvsadm -Ln` does.
    List(ListArgs),
    /// Make the kernel's table equal lvs.cf with every active real server up at full weight
    /// (no health checks); print the ops done. Also sets the global timeouts and, with
    /// `syncdaemon = 1`, starts the master sync daemon.
    Apply(ApplyArgs),
    /// Delete every virtual service.
    Flush,
    /// Zero the packet, byte and connection counters (`ipvsadm -Z`).
    Zero,
    /// Start, switch or stop the connection-synchronisation daemon (what pulse does when the
    /// router becomes active or inactive; `ipvsadm --start-daemon/--stop-daemon`).
    #[command(subcommand)]
    SyncDaemon(SyncCommand),
}

/// The sync daemon's wanted state.
#[derive(Debug, clap::Subcommand)]
pub enum SyncCommand {
    /// Run as master on IFACE (stopping a backup).
    Master {
        /// Multicast interface (lvs.cf `syncd_iface`).
        iface: String,
        /// Sync id (lvs.cf `syncd_id`).
        #[arg(default_value_t = 0)]
        sync_id: u8,
    },
    /// Run as backup on IFACE (stopping a master).
    Backup {
        /// Multicast interface (lvs.cf `syncd_iface`).
        iface: String,
        /// Sync id (lvs.cf `syncd_id`).
        #[arg(default_value_t = 0)]
        sync_id: u8,
    },
    /// Stop both.
    Stop,
}

/// `piranha ipvs list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Numeric output (the only kind: accepted for ipvsadm's muscle memory).
    #[arg(short = 'n', long = "numeric")]
    numeric: bool,
    /// The table as JSON, with connection and traffic counters.
    #[arg(long, conflicts_with_all = ["timeout", "daemon"])]
    json: bool,
    /// The global timeouts, as `ipvsadm -L --timeout`.
    #[arg(long, conflicts_with = "daemon")]
    timeout: bool,
    /// The sync daemons, as `ipvsadm -L --daemon`.
    #[arg(long)]
    daemon: bool,
}

/// `piranha ipvs apply`.
#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    file: ConfigFile,
}

impl Command {
    /// Run the subcommand.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            Command::List(a) => a.run(),
            Command::Apply(a) => a.run(),
            Command::Flush => {
                connect()?.flush()?;
                Ok(ExitCode::SUCCESS)
            }
            Command::Zero => {
                connect()?.zero(None)?;
                Ok(ExitCode::SUCCESS)
            }
            Command::SyncDaemon(cmd) => {
                let state = match cmd {
                    SyncCommand::Master { iface, sync_id } => SyncDaemon::Master { iface, sync_id },
                    SyncCommand::Backup { iface, sync_id } => SyncDaemon::Backup { iface, sync_id },
                    SyncCommand::Stop => SyncDaemon::Stopped,
                };
                connect()?.set_daemons(&daemons_for(&state))?;
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

fn connect() -> anyhow::Result<IpvsClient> {
    IpvsClient::connect().context("cannot talk to the kernel's IPVS")
}

impl ListArgs {
    fn run(self) -> anyhow::Result<ExitCode> {
        let _ = self.numeric;
        let client = connect()?;
        if self.timeout {
            print!("{}", listing::render_timeouts(&client.timeouts()?));
            return Ok(ExitCode::SUCCESS);
        }
        if self.daemon {
            print!("{}", render_daemons(&client.daemons()?));
            return Ok(ExitCode::SUCCESS);
        }
        let info = client.info()?;
        if self.json {
            let services = client.detailed()?;
            let json = table_json(&info, &services);
            println!("{}", serde_json::to_string_pretty(&json)?);
        } else {
            print!("{}", listing::render(&client.table()?, &info));
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// `ipvsadm -L --daemon`: one line per running sync thread.
fn render_daemons(daemons: &[DaemonState]) -> String {
    let mut out = String::new();
    for d in daemons {
        let role = if d.state == consts::daemon::STATE_MASTER {
            "master"
        } else {
            "backup"
        };
        out.push_str(&format!(
            "{role} sync daemon (mcast={}, syncid={}",
            d.iface, d.sync_id
        ));
        if d.maxlen != 0 {
            out.push_str(&format!(", maxlen={}", d.maxlen));
        }
        if let Some(group) = d.group {
            out.push_str(&format!(", group={group}"));
        }
        if d.port != 0 {
            out.push_str(&format!(", port={}", d.port));
        }
        if d.ttl != 0 {
            out.push_str(&format!(", ttl={}", d.ttl));
        }
        out.push_str(")\n");
    }
    out
}

fn table_json(info: &ListingInfo, services: &[(ServiceDump, Vec<DestDump>)]) -> serde_json::Value {
    let services: Vec<serde_json::Value> = services
        .iter()
        .map(|(s, dests)| {
            let dests: Vec<serde_json::Value> = dests
                .iter()
                .map(|d| serde_json::json!({ "dest": d.dest, "stats": d.stats }))
                .collect();
            serde_json::json!({ "service": s.service, "stats": s.stats, "dests": dests })
        })
        .collect();
    serde_json::json!({ "info": info, "services": services })
}

/// lvs.cf mapped for a tool that sends no heartbeat (`ipvs apply`, `release`): the heartbeat
/// key only matters to pulse, so a v2 file maps without reading `heartbeat_key_file`.
pub(crate) fn without_key(
    cfg: &piranha_engine::config::LvsConfig,
) -> Result<DirectorConfig, piranha_engine::director::MapError> {
    match DirectorConfig::from_lvs_cf(cfg, None) {
        // Any key will do: the mapping's heartbeat settings are not used.
        Err(piranha_engine::director::MapError::NoKey) => {
            DirectorConfig::from_lvs_cf(cfg, Some(&[0x5a; 32]))
        }
        other => other,
    }
}

impl ApplyArgs {
    fn run(self) -> anyhow::Result<ExitCode> {
        let Some(parsed) = self.file.load()? else {
            return Ok(ExitCode::FAILURE);
        };
        let director = without_key(&parsed.config)
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.file.path.display()))?;

        let mut weights: BTreeMap<RealId, u32> = BTreeMap::new();
        for v in &director.virtuals {
            for r in &v.servers {
                weights.insert(v.real_id(r), r.weight);
            }
        }
        let desired = desired_table(&director.virtuals, |id| {
            weights.get(id).map(|&weight| RealState {
                health: Health::Up,
                drained: false,
                in_table: true,
                weight,
            })
        });

        let client = connect()?;
        let actual = client.table()?;
        let ops = reconcile(&desired, &actual, Ownership::AllowForeign);
        let result = client.apply(&ops);
        let done = match &result {
            Ok(()) => ops.len(),
            Err((i, _)) => *i,
        };
        for op in &ops[..done] {
            println!("{op}");
        }
        println!("{done} ops");
        if let Err((_, e)) = result {
            return Err(e.into());
        }
        client.set_timeouts(timeouts_s(director.timeouts))?;
        if let Some(state) = director.sync_daemon_state(true) {
            client.set_daemons(&daemons_for(&state))?;
        }
        Ok(ExitCode::SUCCESS)
    }
}
