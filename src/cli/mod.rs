//! The command line: clap definitions and one module per command.

mod apply;
mod ask;
mod backfill;
mod completions;
mod daemon;
mod doctor;
mod export;
mod fleet;
mod history;
mod import;
mod init;
mod menu;
mod new;
mod notify;
mod output;
mod plan;
mod report;
mod run;
mod schedule;
mod secret;
mod serve;
pub(crate) mod service;
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
    after_help = "Without a command, on a terminal, orc shows a menu of the everyday commands.\n\nExamples:\n  orc init\n  orc new\n  orc validate --config tasks.toml\n  orc schedule next \"0 6 * * 1-5\" --count 3 --tz Europe/Berlin\n  orc schedule explain \"30 2 * * *\"\n  orc completions bash > /etc/bash_completion.d/orc"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    /// None: the menu on a terminal, else the help (exit 1)
    #[command(subcommand)]
    pub command: Option<Command>,
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
    #[arg(long, global = true, value_name = "BACKEND", value_enum)]
    pub backend: Option<crate::config::BackendKind>,
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
    /// Set up: tasks.toml with comments and an example task, the state, optionally the vault and alert mail
    #[command(
        after_help = "Asks for the scheduler (proposing this platform's), the time zone, \
whether to create the secrets vault and whether to send alert mail; then writes the config \
(--config, default tasks.toml), creates the state database and shows the plan. An existing \
config file is never replaced without --force. Every question has a flag; --yes takes the \
defaults for the rest and asks nothing.\n\ncron fires in the system time zone and Task \
Scheduler in the machine's zone (or UTC): with those backends a --timezone they cannot \
honour is refused before anything is written; the embedded scheduler runs any zone.\n\nExamples:\n  orc init\n  orc init --yes\n  \
orc init --yes --backend embedded --timezone Europe/Berlin --vault key-file\n  \
orc init --yes --backend cron\n  \
orc init --yes --smtp-server smtp.example.com --smtp-from orc@example.com \\\n      \
--alert-email ops@example.com --smtp-login"
    )]
    Init(init::InitArgs),
    /// Add a task to tasks.toml by answering questions (or by flags), then show the plan
    #[command(
        after_help = "Asks for the name, type, command, schedule (shown in words with its \
next 5 fire times while you type), timeout, retries, dependencies and notification groups, \
and appends [tasks.NAME] to the config file (or, with includes, the one you pick), keeping \
its comments and layout. Every question has a flag; without a terminal (or with --yes) \
nothing is asked and --name, --command and --schedule (or --on-demand) are required.\n\n\
Examples:\n  orc new\n  orc new --name nightly_backup --command \"restic backup /srv\" \\\n      \
--schedule \"30 2 * * *\" --timeout 2h --retries 2\n  \
orc new --name export --command \"python export.py\" --schedule 06:00 \\\n      \
--depends-on nightly_backup --depends-on file:/data/ready.flag \\\n      --notify ops"
    )]
    New(new::NewArgs),
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
        after_help = "Examples:\n  orc apply                      # shows the plan and asks\n  orc apply --auto-approve       # in CI or scripts\n  orc apply reviewed.plan        # exactly a saved plan, refused if stale\n  orc apply --target daily_report"
    )]
    Apply(apply::ApplyArgs),
    /// Remove every task orc manages in this folder (the state keeps the history)
    Destroy(apply::CommonArgs),
    /// Adopt unmanaged tasks (from orc's scheduler folder or Task Scheduler XML) into tasks.toml
    Import(import::ImportArgs),
    /// Applied tasks: schedule, next run, last result
    Status(status::StatusArgs),
    /// Run an applied task now (the scheduler calls this)
    #[command(
        after_help = "Exit code: 0 success; the command's own code on failure; 124 timeout; 75 skipped \
(a dependency was not met, or the task is already running); 143 interrupted (SIGTERM or \
Ctrl-C stopped the run); 1 when orc cannot run the task (not applied, no state).\n\nExamples:\n  \
orc run daily_report\n  orc run daily_report --folder Sales --json"
    )]
    Run(run::RunArgs),
    /// Run the past fires of a task from one date to another, as if scheduled then
    #[command(
        after_help = "Each fire of the range runs as `orc run NAME --trigger backfill \
--scheduled-for FIRE`, in order of the fires (with --parallel N, up to N at once, whatever \
`overlap` says), each with its own scheduled_for for the task's {{ scheduled_for }} and \
ORC_PARAM_* values; calendars and blackout windows apply as to any scheduled fire. Fires \
that already succeeded (or warned) are skipped unless --rerun. Dates are days in the \
task's time zone, --to included; an RFC 3339 instant is taken as it is.\n\nExit code: 0 when \
every fire run succeeded; 1 when one failed or could not be run.\n\nExamples:\n  \
orc backfill daily_export --from 2026-12-01 --to 2026-12-10\n  \
orc backfill daily_export --from 2026-12-01 --to 2026-12-10 --parallel 3 --rerun\n  \
orc backfill daily_export --from 2026-12-01 --to 2026-12-10 --dry-run"
    )]
    Backfill(backfill::BackfillArgs),
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
    /// Alerts: test every target of a group, or send the alerts waiting for a retry
    #[command(subcommand)]
    Notify(notify::NotifyCommand),
    /// orc as an OS service (systemd, launchd, Windows): install, uninstall, status, start, stop
    #[command(subcommand)]
    Service(service::ServiceCommand),
    /// The fleet's PostgreSQL database ([fleet]): init, status, hosts, sync
    #[command(subcommand)]
    Fleet(fleet::FleetCommand),
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
tasks call is this one and not in a temporary or build folder. Nothing is changed (a state \
made by an older orc has its schema upgraded, as by every command).\n\n\
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
        Some(command) => dispatch(command, &cli.global, &out),
        None => no_command(&cli.global, &out),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            out.error(&format!("{e:#}"));
            ExitCode::FAILURE
        }
    }
}

/// `orc` alone: the menu on a terminal; elsewhere the help on stderr and exit 1, as
/// for any usage error (a script that runs `orc` without a command has a bug, and
/// exit 2 is kept for `plan --detailed-exitcode`).
fn no_command(global: &Global, out: &Output) -> anyhow::Result<ExitCode> {
    use std::io::{IsTerminal, Write};
    if std::io::stdout().is_terminal() && ask::can_ask() {
        return menu::run(global, out);
    }
    let help = <Cli as clap::CommandFactory>::command().render_help();
    // Not eprintln!: a closed stderr (`orc 2>&1 | head -1`) must not panic.
    let _ = writeln!(std::io::stderr(), "{help}");
    Ok(ExitCode::FAILURE)
}

/// Run one command.
fn dispatch(command: Command, global: &Global, out: &Output) -> anyhow::Result<ExitCode> {
    match command {
        Command::Init(args) => init::run(args, global, out),
        Command::New(args) => new::run(args, global, out),
        Command::Validate => validate::run(global, out),
        Command::Plan(args) => plan::run(args, global, out),
        Command::Apply(args) => apply::run(args, global, out, false),
        Command::Destroy(args) => apply::run_destroy(args, global, out),
        Command::Import(args) => import::run(args, global, out),
        Command::Status(args) => status::run(&args, global, out),
        Command::Run(args) => run::run(args, global, out),
        Command::Backfill(args) => backfill::run(args, global, out),
        Command::Daemon(args) => daemon::run_daemon(args, global, out),
        Command::Up(args) => daemon::run_up(args, global, out),
        Command::History(args) => history::history(args, global, out),
        Command::Logs(args) => history::logs(args, global),
        Command::Schedule(cmd) => schedule::run(cmd, global, out),
        Command::Completions(args) => completions::run(args),
        Command::Export(args) => export::run(args, global, out),
        Command::Secret(cmd) => secret::run(cmd, global, out),
        Command::Notify(cmd) => notify::run(cmd, global, out),
        Command::Service(cmd) => service::run(cmd, global, out),
        Command::Fleet(cmd) => fleet::run(cmd, global, out),
        Command::CheckMissed => notify::check_missed(global, out),
        Command::Report(args) => report::run(args, global, out),
        Command::Serve(args) => serve::run(args, global, out),
        Command::Watch(args) => watch::run(args, global, out),
        Command::Doctor => doctor::run(global, out),
    }
}

/// Load the config for a command that acts on it; on errors, print them and return
/// `None` so the command exits 1 having changed nothing.
/// The checked workspace, or `None` (after printing why) when the config has errors:
/// the same checks `orc validate` runs, so plan and apply refuse exactly what it
/// reports, at the same file, line, column and task.
fn load_workspace(
    global: &Global,
    out: &Output,
) -> anyhow::Result<Option<crate::workspace::Workspace>> {
    let validate::Checked {
        diagnostics,
        workspace,
    } = validate::check(global)?;
    Ok(match workspace {
        Some(mut ws) => {
            ws.warnings = diagnostics;
            Some(ws)
        }
        None => refuse(&diagnostics, global, out),
    })
}

/// Print a config's errors and say that nothing changed.
fn refuse(
    diagnostics: &[crate::config::Diagnostic],
    global: &Global,
    out: &Output,
) -> Option<crate::workspace::Workspace> {
    // With --json, the document `orc validate --json` prints, for scripts to read.
    if out.json {
        out.print_json(&validate::report_json(diagnostics, None));
    } else {
        validate::print_diagnostics(diagnostics, out);
    }
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    eprintln!(
        "{errors} error{} in {}; nothing was changed",
        if errors == 1 { "" } else { "s" },
        global.config_path().display()
    );
    None
}
