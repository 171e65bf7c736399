//! `piranha config fmt|json [-c FILE]`: the canonical text or the model as JSON.

use std::process::ExitCode;

use piranha_engine::config;

use super::ConfigFile;

/// Rewrite or export lvs.cf.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print the canonical form (the GUI's layout, a fixed point) on stdout.
    Fmt {
        #[command(flatten)]
        file: ConfigFile,
    },
    /// Print the parsed model as pretty JSON (stable key order) on stdout.
    Json {
        #[command(flatten)]
        file: ConfigFile,
    },
}

impl Command {
    /// Run the subcommand.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let (Command::Fmt { file } | Command::Json { file }) = &self;
        let Some(parsed) = file.load_for_edit()? else {
            return Ok(ExitCode::FAILURE);
        };
        match self {
            Command::Fmt { .. } => print!("{}", config::format(&parsed.config)),
            Command::Json { .. } => {
                println!("{}", serde_json::to_string_pretty(&parsed.config)?);
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
