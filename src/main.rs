//! The `orc` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match orc::cli::Cli::try_parse() {
        Ok(cli) => orc::cli::run(cli),
        Err(e) => {
            let _ = e.print();
            // Usage errors exit 1, not clap's 2: with `--detailed-exitcode`, 2 means
            // "changes present", and a typo must never look like that to a CI script.
            if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}

/// mimalloc: config loading and planning allocate many small objects, and the
/// system allocator made them markedly slower.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
