//! `piranha completions SHELL`: the shell completion script on stdout (clap_complete), e.g.
//! `piranha completions bash > /usr/share/bash-completion/completions/piranha`.

use std::process::ExitCode;

use clap::CommandFactory as _;
use clap_complete::Shell;

/// Print a completion script for a shell.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell: bash, zsh, fish, elvish or powershell.
    #[arg(value_enum)]
    shell: Shell,
}

impl Args {
    /// Write the script to stdout.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let mut cmd = super::Cli::command();
        clap_complete::generate(self.shell, &mut cmd, "piranha", &mut std::io::stdout());
        Ok(ExitCode::SUCCESS)
    }
}
