//! The command line: one clap `Subcommand` enum, one file per subcommand. A subcommand is
//! an `Args` struct with `fn run(self) -> anyhow::Result<ExitCode>`; adding one is a new file,
//! a `mod` line and a variant here.
//!
//! Exit codes: 0 ok, 1 a failure the command reports (invalid config...), 2 usage (clap).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use piranha_engine::config::{self, Parsed};

mod check;
mod completions;
mod config_cmd;
mod drain;
mod gui;
mod ipvs;
mod man;
mod passwd;
mod pulse;
mod send_arp;
mod sim;
mod status;
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
    /// Read and parse the file. Warnings go to stderr. `Ok(None)` when the file is invalid
    /// (its errors have been printed to stderr).
    pub fn load(&self) -> anyhow::Result<Option<Parsed>> {
        load(&self.path)
    }
}

fn load(path: &Path) -> anyhow::Result<Option<Parsed>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let name = path.display().to_string();
    match config::parse(&name, &bytes) {
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
        Command::Drain(args) => args.run(true),
        Command::Enable(args) => args.run(false),
        Command::SendArp(args) => args.run(),
        Command::Witness(args) => args.run(),
        Command::Gui(args) => args.run(),
        Command::Passwd(args) => args.run(),
        Command::Ipvs(cmd) => cmd.run(),
        Command::Sim(args) => args.run(),
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
