//! The `orc` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    orc::cli::run(orc::cli::Cli::parse())
}
