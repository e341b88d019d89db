//! The command line: clap definitions and one module per command.

mod completions;
mod output;
mod schedule;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

pub use output::Output;

/// orc: scheduled tasks as code.
#[derive(Debug, Parser)]
#[command(
    name = "orc",
    version,
    about = "Scheduled tasks as code: plan and apply tasks.toml to Task Scheduler, cron or orc's own scheduler",
    long_about = "orc keeps scheduled tasks in tasks.toml files under version control. `orc plan` \
shows what would change in the live scheduler, `orc apply` makes it so, and the scheduler \
calls `orc run NAME` to run each task with its dependencies, timeout and retries.",
    after_help = "Examples:\n  orc validate --config tasks.toml\n  orc schedule next \"0 6 * * 1-5\" --count 3 --tz Europe/Berlin\n  orc schedule explain \"30 2 * * *\"\n  orc completions bash > /etc/bash_completion.d/orc"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes, before or after the command name.
#[derive(Debug, Args, Clone)]
pub struct Global {
    /// tasks.toml, or a folder whose *.toml files are read together
    #[arg(
        long,
        global = true,
        env = "ORC_CONFIG",
        value_name = "PATH",
        default_value = "tasks.toml"
    )]
    pub config: PathBuf,
    /// The state database (default: per platform, see README)
    #[arg(long, global = true, env = "ORC_STATE", value_name = "PATH")]
    pub state: Option<PathBuf>,
    /// Override settings.backend: auto, windows, cron or embedded
    #[arg(long, global = true, value_name = "BACKEND")]
    pub backend: Option<String>,
    /// Machine-readable JSON output (stable, documented in README.md)
    #[arg(long, global = true)]
    pub json: bool,
    /// Print only errors
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check tasks.toml: syntax, keys, schedules, durations, names and dependencies
    #[command(
        after_help = "Every problem is reported with its file, line, column and task; \
the exit code is 1 if there is any error. Warnings (such as a fixed time that falls into a \
daylight-saving gap) do not fail validation."
    )]
    Validate,
    /// Work with schedule expressions
    #[command(subcommand)]
    Schedule(schedule::ScheduleCommand),
    /// Print a shell completion script
    #[command(
        after_help = "Example: orc completions bash > ~/.local/share/bash-completion/completions/orc"
    )]
    Completions(completions::CompletionsArgs),
}

/// Run a parsed command line; the exit code follows Terraform (0 ok, 1 error).
pub fn run(cli: Cli) -> ExitCode {
    let out = Output::new(&cli.global);
    let result = match cli.command {
        Command::Validate => validate::run(&cli.global, &out),
        Command::Schedule(cmd) => schedule::run(cmd, &out),
        Command::Completions(args) => completions::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            out.error(&format!("{e:#}"));
            ExitCode::FAILURE
        }
    }
}
