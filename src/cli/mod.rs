//! The command line: one clap `Subcommand` enum, one file per subcommand. A subcommand is
//! an `Args` struct with `fn run(self) -> anyhow::Result<ExitCode>`; adding one is a new file,
//! a `mod` line and a variant here.
//!
//! Exit codes: 0 ok, 1 a failure the command reports (invalid config...), 2 usage (clap).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use piranha_engine::config::{self, Parsed};

mod bench;
mod check;
mod completions;
mod config_cmd;
mod drain;
mod gui;
mod ipvs;
mod man;
mod passwd;
mod pulse;
mod release;
mod send_arp;
mod sim;
mod status;
mod traffic;
mod watch;
mod witness;

const EXAMPLES: &str = "\
Examples:
  piranha check                          validate /etc/sysconfig/ha/lvs.cf
  piranha check -c examples/lvs.cf       validate another file
  piranha config fmt -c lvs.cf > new.cf  rewrite it in the canonical (GUI) layout
  piranha config json -c lvs.cf          the parsed model as JSON
  piranha sim -c lvs.cf --seeds 1000     failover under 1,000 seeded fault schedules

Exit status: 0 ok, 1 failure reported (e.g. an invalid lvs.cf), 2 usage error.";

/// Piranha (Red Hat's LVS director stack) rebuilt: heartbeat failover, IPVS, health checks.
#[derive(Debug, Parser)]
#[command(name = "piranha", version, about, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate lvs.cf: a one-line summary, or every error as FILE:LINE:COL.
    Check(check::Args),
    /// Rewrite or export lvs.cf.
    #[command(subcommand)]
    Config(config_cmd::Command),
    /// The director daemon (foreground): heartbeats, failover, VIPs, health checks, IPVS.
    Pulse(pulse::Args),
    /// Ask the running daemon for its state (control socket).
    Status(status::Args),
    /// Remove lvs.cf's VIPs from this host after a crash (systemd's ExecStopPost).
    Release(release::Args),
    /// Take a real server out of scheduling (weight 0) without editing lvs.cf.
    Drain(drain::Args),
    /// Undo `drain`: the real server's health decides again.
    Enable(drain::Args),
    /// Piranha's send_arp: one gratuitous ARP reply.
    SendArp(send_arp::Args),
    /// The optional split-brain arbiter (lvs.cf `arbiter`).
    Witness(witness::Args),
    /// Serve the web tool (Piranha Configuration Tool) on 127.0.0.1:3636.
    Gui(gui::Args),
    /// Set the web tool's password.
    Passwd(passwd::Args),
    /// The kernel's IPVS table: list (as ipvsadm -Ln), apply lvs.cf, flush.
    #[command(subcommand)]
    Ipvs(ipvs::Command),
    /// Simulate two routers under seeded faults and check the failover invariants.
    Sim(sim::Args),
    /// Benchmarks: compare the IPVS schedulers on a workload (`bench sched`).
    #[command(subcommand)]
    Bench(bench::Command),
    /// The end-to-end harness's client and real server (tests/kernel/e2e-guest.sh).
    #[command(subcommand, hide = true)]
    Traffic(traffic::Command),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::Args),
    /// Write the manual pages piranha(8), piranha-*(8) and lvs.cf(5) into a directory.
    #[command(hide = true)]
    Man(man::Args),
}

/// The `-c FILE` option shared by every subcommand that reads lvs.cf.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigFile {
    /// The lvs.cf to read.
    #[arg(short = 'c', long = "config", value_name = "FILE", default_value = config::DEFAULT_PATH)]
    pub path: PathBuf,
}

impl ConfigFile {
    /// Read and parse the file to run it: host names resolved, an incomplete file refused.
    /// Warnings go to stderr. `Ok(None)` when the file is invalid (its errors have been
    /// printed to stderr).
    pub fn load(&self) -> anyhow::Result<Option<Parsed>> {
        load(&self.path, Load::Run)
    }

    /// Read and parse the file to rewrite it (`config fmt|json`): host names kept as
    /// written and not resolved, an incomplete file (no `primary`...) accepted with warnings.
    pub fn load_for_edit(&self) -> anyhow::Result<Option<Parsed>> {
        load(&self.path, Load::Edit)
    }
}

/// What a loaded lvs.cf is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Load {
    /// Running it: host names resolved (as the original's gethostbyname), complete.
    Run,
    /// Rewriting it: names kept unresolved, an incomplete file accepted.
    Edit,
    /// Simulating it: complete, and host names are refused (the simulator needs literal IPs).
    Literal,
}

/// Resolve an lvs.cf host name with the system resolver (getaddrinfo: /etc/hosts, DNS), an
/// IPv4 address first, as the original's gethostbyname returned.
pub fn resolve_host(name: &str) -> Result<std::net::IpAddr, String> {
    use std::net::ToSocketAddrs as _;
    let addrs: Vec<_> = (name, 0)
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .map(|a| a.ip())
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| "no address".to_string())
}

/// Parse lvs.cf bytes for `mode` (see [`Load`]).
pub fn parse_for(name: &str, bytes: &[u8], mode: Load) -> Result<Parsed, config::Diagnostics> {
    let opts = config::Options {
        resolve: (mode == Load::Run).then_some(&resolve_host as config::Resolver<'_>),
        allow_incomplete: mode == Load::Edit,
    };
    config::parse_with(name, bytes, &opts)
}

fn load(path: &Path, mode: Load) -> anyhow::Result<Option<Parsed>> {
    let bytes = piranha_daemon::config_file::read(path).map_err(anyhow::Error::msg)?;
    let name = path.display().to_string();
    match parse_for(&name, &bytes, mode) {
        Ok(parsed) => {
            for w in &parsed.warnings {
                eprintln!("{w}");
            }
            Ok(Some(parsed))
        }
        Err(diags) => {
            eprint!("{diags}");
            let errors = diags.errors().count();
            let warnings = diags.warnings().count();
            eprintln!(
                "{name}: {} and {}: not accepted",
                plural(errors, "error", "errors"),
                plural(warnings, "warning", "warnings")
            );
            Ok(None)
        }
    }
}

/// `1 real server`, `5 real servers`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Parse the command line and run it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => args.run(),
        Command::Config(cmd) => cmd.run(),
        Command::Pulse(args) => args.run(),
        Command::Status(args) => args.run(),
        Command::Release(args) => args.run(),
        Command::Drain(args) => args.run(true),
        Command::Enable(args) => args.run(false),
        Command::SendArp(args) => args.run(),
        Command::Witness(args) => args.run(),
        Command::Gui(args) => args.run(),
        Command::Passwd(args) => args.run(),
        Command::Ipvs(cmd) => cmd.run(),
        Command::Sim(args) => args.run(),
        Command::Bench(cmd) => cmd.run(),
        Command::Traffic(cmd) => cmd.run(),
        Command::Completions(args) => args.run(),
        Command::Man(args) => args.run(),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("piranha: {e:#}");
            ExitCode::FAILURE
        }
    }
}
