//! `piranha passwd --passwd-file FILE`: set the web tool's password (argon2 hash, mode 0600).

use std::path::PathBuf;
use std::process::ExitCode;

use piranha_daemon::gui::auth;

/// Set the password of the web tool's user `piranha`: asked twice on a terminal, else read
/// as one line from stdin.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The password file to write.
    #[arg(long, value_name = "FILE")]
    passwd_file: PathBuf,
}

impl Args {
    /// Read the new password and write its hash.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let password = auth::read_new_password().map_err(anyhow::Error::msg)?;
        auth::write_password_file(&self.passwd_file, &password).map_err(anyhow::Error::msg)?;
        eprintln!(
            "password for user piranha written to {} (a running piranha gui uses it at once \
             and ends its sessions)",
            self.passwd_file.display()
        );
        Ok(ExitCode::SUCCESS)
    }
}
