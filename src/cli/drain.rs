//! `piranha drain|enable VIRTUAL SERVER [--control-socket PATH]`: runtime override of one real
//! server (weight 0 without editing lvs.cf, and back).

use std::path::PathBuf;
use std::process::ExitCode;

use piranha_daemon::control::{Request, Response, DEFAULT_SOCKET};

/// One real server, by its lvs.cf names.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The virtual server's name in lvs.cf.
    #[arg(value_name = "VIRTUAL")]
    virtual_name: String,
    /// The real server's name in lvs.cf.
    server: String,
    /// The daemon's control socket.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_SOCKET)]
    control_socket: PathBuf,
}

impl Args {
    /// Drain (`drained = true`) or enable.
    pub fn run(self, drained: bool) -> anyhow::Result<ExitCode> {
        let request = if drained {
            Request::Drain {
                virtual_name: self.virtual_name,
                server: self.server,
            }
        } else {
            Request::Enable {
                virtual_name: self.virtual_name,
                server: self.server,
            }
        };
        match super::status::ask(&self.control_socket, &request)? {
            Response::Ok { message } => {
                println!("{message}");
                Ok(ExitCode::SUCCESS)
            }
            Response::Error { message } => {
                eprintln!("piranha: {message}");
                Ok(ExitCode::FAILURE)
            }
            Response::Status(_) => {
                eprintln!("piranha: unexpected answer");
                Ok(ExitCode::FAILURE)
            }
        }
    }
}
