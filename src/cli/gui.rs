//! `piranha gui`: the Piranha Configuration Tool (web), see docs/GUI.md.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use piranha_daemon::control::DEFAULT_SOCKET;
use piranha_daemon::gui::{self, GuiConfig, Limits};

use super::ConfigFile;

/// Serve the web tool: monitor the director, edit lvs.cf, drain/enable real servers.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    file: ConfigFile,
    /// The password file written by `piranha passwd` (required: there is no default password).
    #[arg(long, value_name = "FILE")]
    passwd_file: PathBuf,
    /// Address and port to listen on. Anything but loopback wants --tls-cert/--tls-key.
    #[arg(long, value_name = "ADDR", default_value = gui::DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// The running daemon's control socket.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_SOCKET)]
    control_socket: PathBuf,
    /// TLS certificate chain (PEM); serve HTTPS with --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Also answer to this host name (repeatable). Always answered: IP addresses, localhost,
    /// this machine's host name, the TLS certificate's names; other names are refused
    /// (DNS rebinding).
    #[arg(long, value_name = "NAME")]
    allow_host: Vec<String>,
    /// Let the tool change the keys the daemon runs as root (active_cmd, inactive_cmd,
    /// rsh_command, send_program): without it they are read-only, so a web login is not a
    /// root shell.
    #[arg(long)]
    edit_commands: bool,
}

impl Args {
    /// Serve until killed.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let cfg = GuiConfig {
            config_path: self.file.path,
            passwd_file: self.passwd_file,
            listen: self.listen,
            control_socket: self.control_socket,
            tls: self.tls_cert.zip(self.tls_key),
            limits: Limits::default(),
            allowed_hosts: self.allow_host,
            edit_commands: self.edit_commands,
        };
        gui::run(cfg).map_err(anyhow::Error::msg)?;
        Ok(ExitCode::SUCCESS)
    }
}
