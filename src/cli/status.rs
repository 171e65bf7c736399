//! `piranha status [--json] [--control-socket PATH] [--watch [--interval SECS] [--count N]]`:
//! ask the running `piranha pulse` (once, or refreshed in place: see [`super::watch`]).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use piranha_daemon::control::{Request, Response, DEFAULT_SOCKET};
use piranha_daemon::control_client;

/// Show the director's state: role, partner, last failover, every real server's health.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the JSON report (the control protocol's shape) instead of a table.
    #[arg(long)]
    json: bool,
    /// The daemon's control socket.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_SOCKET)]
    control_socket: PathBuf,
    /// Refresh in place until Ctrl-C (like `watch ipvsadm -Ln`).
    #[arg(short = 'w', long)]
    watch: bool,
    /// Seconds between refreshes with --watch (decimals allowed, at least 0.1).
    #[arg(long, value_name = "SECS", default_value = "2", value_parser = super::watch::parse_interval, requires = "watch")]
    interval: std::time::Duration,
    /// Stop after this many refreshes with --watch.
    #[arg(long, value_name = "N", requires = "watch")]
    count: Option<u64>,
}

/// How long the CLI waits for the daemon (a reload re-reads and re-validates lvs.cf).
const CLI_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Send one request and return the answer (errors say which socket).
pub fn ask(socket: &std::path::Path, request: &Request) -> anyhow::Result<Response> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime
        .block_on(control_client::call_within(socket, request, CLI_TIMEOUT))
        .map_err(anyhow::Error::msg)
        .with_context(|| {
            format!(
                "cannot reach piranha pulse at {} (is it running? are you root?)",
                socket.display()
            )
        })
}

impl Args {
    /// Run the command.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        if self.watch {
            return super::watch::run(&self.control_socket, self.json, self.interval, self.count);
        }
        match ask(&self.control_socket, &Request::Status)? {
            Response::Status(report) => {
                if self.json {
                    println!("{}", serde_json::to_string(&report)?);
                } else {
                    print!("{}", piranha_daemon::status::render(&report));
                }
                Ok(ExitCode::SUCCESS)
            }
            Response::Error { message } => {
                eprintln!("piranha: {message}");
                Ok(ExitCode::FAILURE)
            }
            Response::Ok { message } => {
                println!("{message}");
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}
