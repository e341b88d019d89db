//! `orc history` and `orc logs`: what ran, how it went, what it printed.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use serde_json::json;

use super::{Global, Output};
use crate::state::{RunFilter, RunStatus, State};

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only this task
    pub name: Option<String>,
    /// Only runs with this status: success, warning, failed, timeout, skipped,
    /// interrupted, running, missed, duplicate
    #[arg(long)]
    pub status: Option<crate::state::RunStatus>,
    /// Only runs started within this long ago (e.g. "24h", "7d")
    #[arg(long, value_name = "DURATION", value_parser = crate::config::parse_duration)]
    pub since: Option<std::time::Duration>,
    /// At most this many runs, newest first
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Only runs of tasks in this folder (settings.folder)
    #[arg(long, value_name = "FOLDER")]
    pub folder: Option<String>,
    /// Every host's runs, from the fleet database ([fleet]; see Fleet mode)
    #[arg(long)]
    pub all_hosts: bool,
    /// Only this host's runs, from the fleet database
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  orc logs nightly_etl\n  orc logs nightly_etl --run 1234\n  orc logs nightly_etl --follow     # a running run, until it ends"
)]
pub struct LogsArgs {
    pub name: String,
    /// The task's folder, when configs of more than one folder have a task of this name
    #[arg(long, value_name = "FOLDER")]
    pub folder: Option<String>,
    /// A run id from `orc history` (default: the task's latest run with a log;
    /// with --follow, its latest run)
    #[arg(long)]
    pub run: Option<i64>,
    /// Keep printing what the run writes until it ends, as `tail -f` does
    #[arg(long, short = 'f')]
    pub follow: bool,
}

fn open(global: &Global) -> anyhow::Result<Option<State>> {
    let path = global
        .state
        .clone()
        .unwrap_or_else(crate::state::default_path);
    if path.exists() {
        let state = State::open(&path)?;
        // Runs whose orc was killed say so before they are shown.
        crate::exec::recover_abandoned(&state, &crate::host::host_name());
        Ok(Some(state))
    } else {
        Ok(None)
    }
}

pub fn history(args: HistoryArgs, global: &Global, out: &Output) -> anyhow::Result<ExitCode> {
    let since = match &args.since {
        Some(ago) => {
            let at = jiff::Timestamp::now().checked_sub(jiff::SignedDuration::try_from(*ago)?)?;
            Some(crate::state::timestamp(at))
        }
        None => None,
    };
    if args.all_hosts || args.host.is_some() {
        return fleet_history(&args, since, global, out);
    }
    let state = open(global)?;
    let runs = match &state {
        Some(state) => state.runs(&RunFilter {
            task: args.name.clone(),
            folder: args.folder.clone(),
            status: args.status,
            since,
            before: None,
            limit: args.limit,
        })?,
        None => Vec::new(),
    };
    // The folder is a column only where configs of more than one folder share the state.
    let folders = match &state {
        Some(state) => crate::ops::status::folder_count(state)?,
        None => 0,
    };
    if out.json {
        out.print_json(&json!(runs));
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        out.info("No runs recorded.");
        return Ok(ExitCode::SUCCESS);
    }
    let folder_column = |folder: &str| {
        if folders > 1 {
            format!("{folder:<16}  ")
        } else {
            String::new()
        }
    };
    println!(
        "{}",
        out.paint(
            "1",
            &format!(
                "{:>6}  {}{:<24}  {:<11}  {:<10}  {:<24}  {:>9}  REASON",
                "RUN",
                folder_column("FOLDER"),
                "TASK",
                "STATUS",
                "TRIGGER",
                "STARTED",
                "DURATION"
            )
        )
    );
    for r in runs {
        let duration = crate::cli::output::run_duration(r.duration_ms);
        println!(
            "{:>6}  {}{:<24}  {:<11}  {:<10}  {:<24}  {:>9}  {}",
            r.id,
            folder_column(r.folder.as_deref().unwrap_or("-")),
            r.task,
            r.status,
            r.trigger.map_or("-", |t| t.as_str()),
            r.started_at,
            duration,
            reason_with_flag(&r)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `orc history --all-hosts | --host H`: the fleet database's runs, with their host.
fn fleet_history(
    args: &HistoryArgs,
    since: Option<String>,
    global: &Global,
    out: &Output,
) -> anyhow::Result<ExitCode> {
    let state_path = crate::workspace::state_path(global.state.as_deref());
    let settings = match open(global)? {
        Some(state) => state.fleet_settings()?,
        None => None,
    };
    let Some(settings) = settings else {
        bail!(
            "no [fleet] is applied to {}: --all-hosts and --host read the fleet database (see Fleet mode)",
            state_path.display()
        );
    };
    let mut fleet =
        crate::ops::fleet::connect(&settings, &state_path, std::time::Duration::from_secs(10))?;
    let runs = fleet.runs(&crate::fleet::RunQuery {
        host: args.host.clone(),
        folder: args.folder.clone(),
        task: args.name.clone(),
        status: args.status.map(|s| s.as_str().to_string()),
        since,
        before: None,
        limit: i64::try_from(args.limit).unwrap_or(i64::MAX),
    })?;
    if out.json {
        out.print_json(&json!(runs));
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        out.info(&match &args.host {
            Some(host) => format!("No runs of {host} in the fleet database."),
            None => "No runs in the fleet database.".to_string(),
        });
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{}",
        out.paint(
            "1",
            &format!(
                "{:<16}  {:>6}  {:<24}  {:<11}  {:<10}  {:<24}  {:>9}  REASON",
                "HOST", "RUN", "TASK", "STATUS", "TRIGGER", "STARTED", "DURATION"
            )
        )
    );
    for r in runs {
        let duration = crate::cli::output::run_duration(r.duration_ms);
        println!(
            "{:<16}  {:>6}  {:<24}  {:<11}  {:<10}  {:<24}  {:>9}  {}",
            r.host,
            r.run_id,
            r.task,
            r.status,
            r.trigger.as_deref().unwrap_or("-"),
            r.started_at,
            duration,
            r.reason.as_deref().unwrap_or("")
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn logs(args: LogsArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let Some(state) = open(global)? else {
        bail!("no state database; nothing has run yet");
    };
    let run = match args.run {
        Some(id) => state.run(id)?.filter(|r| {
            r.task == args.name
                && args
                    .folder
                    .as_ref()
                    .is_none_or(|f| r.folder.as_ref() == Some(f))
        }),
        None => {
            let runs = state.runs(&RunFilter {
                task: Some(args.name.clone()),
                folder: match &args.folder {
                    Some(f) => Some(f.clone()),
                    // A name two folders have: say which, rather than show either.
                    None => state.find_task(&args.name, None, None)?.map(|t| t.folder),
                },
                limit: 100,
                ..RunFilter::default()
            })?;
            let with_log = runs.iter().position(|r| {
                r.log_path.is_some()
                    || (args.follow && r.status == RunStatus::Running)
                    || (r.status == RunStatus::Interrupted && r.attempts > 0)
            });
            // Newer runs that ran no command: said, so that an older run's log is not
            // taken for theirs.
            if let Some(n) = with_log
                && n > 0
            {
                let latest = &runs[0];
                eprintln!(
                    "orc: run {} ({}{}) has no log; showing run {}, the latest with one",
                    latest.id,
                    latest.status.as_str(),
                    latest
                        .reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default(),
                    runs[n].id
                );
            }
            with_log.map(|n| runs[n].clone())
        }
    };
    let Some(run) = run else {
        bail!(
            "no run of \"{}\" with a log{}",
            args.name,
            args.run
                .map(|id| format!(" has id {id}"))
                .unwrap_or_default()
        );
    };
    // A running run has no log path recorded yet, nor one whose orc was killed: it is
    // where `orc run` writes it.
    let path = match (&run.log_path, run.status) {
        (Some(path), _) => PathBuf::from(path),
        (None, RunStatus::Running | RunStatus::Interrupted) => {
            crate::exec::run_log_path(&state, run.folder.as_deref(), &run.task, run.id)?
        }
        (None, status) => bail!(
            "run {} of \"{}\" has no log: it ran no command ({}{})",
            run.id,
            run.task,
            status.as_str(),
            run.reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ),
    };
    let mut stdout = std::io::stdout().lock();
    if !args.follow {
        let text = std::fs::read(&path).with_context(|| {
            format!(
                "cannot read the log {} (log_retention may have removed it)",
                path.display()
            )
        })?;
        stdout.write_all(&text)?;
        return Ok(ExitCode::SUCCESS);
    }
    follow(&state, run.id, &path, &mut stdout)?;
    Ok(ExitCode::SUCCESS)
}

/// Print the log as it grows until the run ends. The status is read before the file,
/// so the last read after the run ended has everything.
fn follow(state: &State, id: i64, path: &Path, out: &mut impl Write) -> anyhow::Result<()> {
    let mut offset = 0u64;
    let host = crate::host::host_name();
    loop {
        // A run whose orc was killed would otherwise be followed for ever.
        crate::exec::recover_abandoned(state, &host);
        let running = state
            .run(id)?
            .is_some_and(|r| r.status == RunStatus::Running);
        if let Ok(mut file) = std::fs::File::open(path) {
            let len = file.metadata()?.len();
            if len < offset {
                // The log reached max_log_size and was rewritten with its newest half.
                writeln!(out, "[orc logs: the log was trimmed to its newest part]")?;
                offset = 0;
            }
            file.seek(SeekFrom::Start(offset))?;
            offset += std::io::copy(&mut file, out)?;
            out.flush()?;
        }
        if !running {
            return Ok(());
        }
        std::thread::sleep(FOLLOW_POLL);
    }
}

/// How often `orc logs --follow` looks for more output.
const FOLLOW_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// The run's reason, after what its duration was alerted for.
fn reason_with_flag(r: &crate::state::RunRecord) -> String {
    let flag = match r.duration_flag {
        Some(crate::state::DurationFlag::Slow) => "slow: ran past max_duration",
        Some(crate::state::DurationFlag::TooFast) => "too fast: under min_duration",
        None => return r.reason.clone().unwrap_or_default(),
    };
    match r.reason.as_deref() {
        Some(reason) if !reason.is_empty() => format!("{flag}; {reason}"),
        _ => flag.to_string(),
    }
}
