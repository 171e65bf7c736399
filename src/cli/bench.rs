//! `piranha bench`: measurements for people choosing a scheduler (`bench sched`), and the
//! hidden guest-side driver of the kernel differential test (`bench kernel-sched`).

use std::process::ExitCode;

#[path = "bench_kernel.rs"]
mod kernel;
#[path = "bench_sched.rs"]
mod sched;

/// `piranha bench ...`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Compare the IPVS schedulers on a synthetic workload or a CSV of connections.
    Sched(sched::Args),
    /// Drive the real kernel's schedulers and print a transcript (tests/kernel_sched.rs).
    #[command(hide = true)]
    KernelSched(kernel::Args),
}

impl Command {
    /// Run the subcommand.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            Command::Sched(args) => args.run(),
            Command::KernelSched(args) => args.run(),
        }
    }
}
