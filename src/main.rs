//! The `orc` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // `orc run` is short-lived; see small_pages_for_this_process. Decided before
    // anything is parsed, so that even the command line lands in small pages.
    if std::env::args_os().skip(1).any(|a| a == "run") {
        orc::exec::small_pages_for_this_process();
    }
    // A closed stdout (`orc schedule next ... | head -1`) ends the command quietly, as
    // it does other command-line tools, instead of a panic. Not for the long-running
    // commands, which serve sockets and run tasks and must not die of a peer's hang-up.
    #[cfg(unix)]
    {
        const LONG_RUNNING: [&str; 5] = ["serve", "up", "daemon", "watch", "run"];
        if !std::env::args()
            .skip(1)
            .any(|a| LONG_RUNNING.contains(&a.as_str()))
        {
            // SAFETY: restores the default action of one signal before any thread starts.
            unsafe {
                libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            }
        }
    }
    // An empty ORC_STATE or ORC_CONFIG means "not set", as an empty variable does for
    // other tools (clap would take it for a missing value, even beside --state).
    for name in ["ORC_STATE", "ORC_CONFIG"] {
        if std::env::var_os(name).is_some_and(|v| v.is_empty()) {
            // SAFETY: no other thread exists yet to read the environment.
            unsafe { std::env::remove_var(name) };
        }
    }
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
