//! The command line: clap definitions and one module per command.

mod apply;
mod completions;
mod daemon;
mod doctor;
mod export;
mod history;
mod import;
mod notify;
mod output;
mod plan;
mod report;
mod run;
mod schedule;
mod secret;
mod serve;
pub(crate) mod status;
mod validate;
mod watch;

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
    /// tasks.toml, or a folder whose *.toml files are read together [default: tasks.toml]
    #[arg(long, global = true, env = "ORC_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
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

impl Global {
    /// `--config`, or `tasks.toml` in the current folder.
    pub fn config_path(&self) -> PathBuf {
        self.config
            .clone()
            .unwrap_or_else(|| PathBuf::from("tasks.toml"))
    }
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
    /// Show what apply would change in the live scheduler
    #[command(
        after_help = "Examples:\n  orc plan\n  orc plan --detailed-exitcode   # in CI: exit 2 when there are changes\n  orc plan -o reviewed.plan && orc apply reviewed.plan\n  orc plan --json | jq '.summary'"
    )]
    Plan(plan::PlanArgs),
    /// Make the live scheduler match tasks.toml
    #[command(
        after_help = "Examples:\n  orc apply                      # shows the plan and asks\n  orc apply --auto-approve       # in CI or scripts\n  orc apply reviewed.plan        # exactly a saved plan; refused if anything changed since\n  orc apply --target daily_report"
    )]
    Apply(apply::ApplyArgs),
    /// Remove every task orc manages in this folder (the state keeps the history)
    Destroy(apply::CommonArgs),
    /// Adopt unmanaged tasks (from orc's scheduler folder or Task Scheduler XML) into tasks.toml
    Import(import::ImportArgs),
    /// Applied tasks: schedule, next run, last result
    Status,
    /// Run an applied task now (the scheduler calls this)
    #[command(
        after_help = "Exit code: 0 success; the command's own code on failure; 124 timeout; 75 skipped \
(a dependency was not met, or the task is already running).\n\nExamples:\n  orc run daily_report\n  orc run daily_report --json"
    )]
    Run(run::RunArgs),
    /// Run the embedded scheduler in the foreground
    #[command(
        after_help = "The daemon sleeps until the next fire time, starts `orc run NAME` for each \
due task, and picks up every apply without a restart. Ctrl-C or SIGTERM stops it: running tasks \
get --grace to finish, then are stopped and recorded as interrupted."
    )]
    Daemon(daemon::DaemonArgs),
    /// Apply to the embedded scheduler and run it in the foreground, with dashboard and watcher
    #[command(
        after_help = "Also serves the dashboard and API on http://127.0.0.1:7878 (--listen \
to move it, --no-dashboard to leave it out) and applies every saved edit of the config, as \
orc watch does (--no-watch to leave that out).\n\nExample: orc up --config examples/quickstart"
    )]
    Up(daemon::UpArgs),
    /// Past runs, newest first
    History(history::HistoryArgs),
    /// Print the log of a task's latest run (or of --run ID)
    Logs(history::LogsArgs),
    /// Work with schedule expressions
    #[command(subcommand)]
    Schedule(schedule::ScheduleCommand),
    /// Print a shell completion script
    #[command(
        after_help = "Example: orc completions bash > ~/.local/share/bash-completion/completions/orc"
    )]
    Completions(completions::CompletionsArgs),
    /// Print the Task Scheduler XML orc would register for a task (on any platform)
    Export(export::ExportArgs),
    /// Encrypted credentials: init, set, get, list, rm, rekey, import
    #[command(subcommand)]
    Secret(secret::SecretCommand),
    /// Alert mail: send a test mail to a group, or the alerts waiting for a retry
    #[command(subcommand)]
    Notify(notify::NotifyCommand),
    /// How the runs of a period went: HTML, text or JSON; to a file or by mail
    Report(report::ReportArgs),
    /// Apply every saved edit of the config within seconds; repair drift every --interval
    #[command(
        after_help = "After an edit settles (an editor's save, ten quick saves or a git pull of \
many files are one change) orc watch validates, plans and applies, printing the plan and the \
result. A config with errors is reported with file:line:col (and mailed to the notification \
groups that want failures); nothing is applied, and the last good config stays live. Every \
--interval it plans again and puts back tasks changed or deleted in the scheduler by hand.\n\n\
Examples:\n  orc watch\n  orc watch --config /etc/orc --interval 1m"
    )]
    Watch(watch::WatchArgs),
    /// Serve the dashboard and the REST API over HTTP (loopback by default)
    Serve(serve::ServeArgs),
    /// Find scheduled fires that have no run; record and alert each once
    #[command(
        after_help = "A fire counts as missed when no run started within 3 minutes \
(plus the task's jitter) of it: the scheduler was off, the task was disabled outside orc, the \
machine slept. `orc run` of any task also checks, every five minutes at most."
    )]
    CheckMissed,
    /// Check the setup and say what to fix: config, state, scheduler, vault, mail, logs
    #[command(
        after_help = "One line per check: ok, warn, FAIL or skip (a check that does not apply \
here, with the reason), and under each problem a line saying what to do. Checks: the config \
loads; the state database opens, takes writes and is owner-only; the scheduler answers \
(`crontab -l`, Task Scheduler, or the embedded registry and its daemon); the vault's key \
file or ORC_PASSPHRASE opens the vault and every secret decrypts; the [smtp] server answers \
and accepts the login (nothing is sent); the log folder is writable; the orc that scheduled \
tasks call is this one and not in a temporary or build folder. Nothing is changed.\n\n\
Exit code: 1 when a check fails; warnings do not fail.\n\n\
Examples:\n  orc doctor\n  orc doctor --config /etc/orc --state /var/lib/orc/state.db\n  \
orc doctor --json | jq '.[] | select(.status == \"fail\")'"
    )]
    Doctor,
}

/// Run a parsed command line; the exit code follows Terraform (0 ok, 1 error).
pub fn run(cli: Cli) -> ExitCode {
    let out = Output::new(&cli.global);
    let result = match cli.command {
        Command::Validate => validate::run(&cli.global, &out),
        Command::Plan(args) => plan::run(args, &cli.global, &out),
        Command::Apply(args) => apply::run(args, &cli.global, &out, false),
        Command::Destroy(args) => apply::run_destroy(args, &cli.global, &out),
        Command::Import(args) => import::run(args, &cli.global, &out),
        Command::Status => status::run(&cli.global, &out),
        Command::Run(args) => run::run(args, &cli.global, &out),
        Command::Daemon(args) => daemon::run_daemon(args, &cli.global, &out),
        Command::Up(args) => daemon::run_up(args, &cli.global, &out),
        Command::History(args) => history::history(args, &cli.global, &out),
        Command::Logs(args) => history::logs(args, &cli.global),
        Command::Schedule(cmd) => schedule::run(cmd, &out),
        Command::Completions(args) => completions::run(args),
        Command::Export(args) => export::run(args, &cli.global, &out),
        Command::Secret(cmd) => secret::run(cmd, &cli.global, &out),
        Command::Notify(cmd) => notify::run(cmd, &cli.global, &out),
        Command::CheckMissed => notify::check_missed(&cli.global, &out),
        Command::Report(args) => report::run(args, &cli.global, &out),
        Command::Serve(args) => serve::run(args, &cli.global, &out),
        Command::Watch(args) => watch::run(args, &cli.global, &out),
        Command::Doctor => doctor::run(&cli.global, &out),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            out.error(&format!("{e:#}"));
            ExitCode::FAILURE
        }
    }
}

/// Load the config for a command that acts on it; on errors, print them and return
/// `None` so the command exits 1 having changed nothing.
fn load_workspace(global: &Global, out: &Output) -> Option<crate::workspace::Workspace> {
    match crate::workspace::Workspace::load(
        &global.config_path(),
        global.state.as_deref(),
        global.backend.as_deref(),
    ) {
        Ok(mut ws) => {
            // On Task Scheduler, a task it cannot run exactly is a config error, and a
            // fire inside a daylight-saving change a warning.
            if matches!(ws.backend_kind(), Ok(crate::config::BackendKind::Windows)) {
                let (desired, _) = ws.desired();
                let found = validate::windows_diagnostics(&ws.config, desired.values().copied());
                if found.iter().any(|d| d.is_error()) {
                    return refuse(&found, global, out);
                }
                ws.warnings.extend(found);
            }
            Some(ws)
        }
        Err(diags) => refuse(&diags.0, global, out),
    }
}

/// Print a config's errors and say that nothing changed.
fn refuse(
    diagnostics: &[crate::config::Diagnostic],
    global: &Global,
    out: &Output,
) -> Option<crate::workspace::Workspace> {
    validate::print_diagnostics(diagnostics, out);
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    eprintln!(
        "{errors} error{} in {}; nothing was changed",
        if errors == 1 { "" } else { "s" },
        global.config_path().display()
    );
    None
}
