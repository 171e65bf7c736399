//! `piranha`: the one binary of the piranha director stack (Red Hat's Piranha rebuilt).
//! Every subcommand lives in its own file under `cli/`.
#![forbid(unsafe_code)]

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
