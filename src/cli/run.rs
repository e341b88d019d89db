//! `orc run NAME`: what the scheduler calls; also the way to run a task by hand.

use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde_json::json;

use super::{Global, Output};
use crate::exec::{self, Trigger};
use crate::host::host_name;
use crate::ops::run::{RunOptions, RunOutcome};
use crate::state::State;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TriggerArg {
    Scheduled,
    Manual,
    CatchUp,
    /// Started by another task's run (on_success, on_failure, after)
    Chain,
    /// A past fire, run by `orc backfill` (with --scheduled-for)
    Backfill,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The task, as last applied
    pub name: String,
    /// The task's folder, when configs with different folders each have a task of
    /// this name (the scheduler entries orc writes pass it)
    #[arg(long, value_name = "FOLDER")]
    pub folder: Option<String>,
    /// Who asked: the scheduler passes "scheduled"
    #[arg(long, value_enum, default_value = "manual")]
    pub trigger: TriggerArg,
    /// Run only if now is one of the task's fire times (for schedulers whose
    /// triggers fire on a superset of them); otherwise exit 0 and record nothing
    #[arg(long)]
    pub if_due: bool,
    /// The fire time this run is for (RFC 3339), recorded in the history; the
    /// embedded scheduler passes it
    #[arg(long, value_name = "TIME")]
    pub scheduled_for: Option<jiff::Timestamp>,
    /// The scheduler may start the task more than once for one fire time (two
    /// triggers matching the same minute): record the fire this start belongs to, and
    /// let only the first start for it run
    #[arg(long)]
    pub once_per_fire: bool,
    /// Do not wait for the task's `jitter` (the caller already did)
    #[arg(long, hide = true)]
    pub no_jitter: bool,
    /// The run that started this one, recorded on its row (orc passes it to the
    /// tasks a run chains to)
    #[arg(long, value_name = "RUN_ID")]
    pub upstream: Option<i64>,
    /// A value for one of the task's parameters, over its default (repeatable):
    /// --param region=us
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = param)]
    pub params: Vec<(String, String)>,
    /// Run beside other runs of the task whatever its `overlap` (orc backfill
    /// --parallel passes it)
    #[arg(long, hide = true)]
    pub side_by_side: bool,
}

/// `--param` values by name; a name given twice is refused (which would win?).
pub fn params_by_name(
    given: Vec<(String, String)>,
) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    let mut params = std::collections::BTreeMap::new();
    for (name, value) in given {
        crate::config::params::check_value(&name, &value).map_err(|e| anyhow::anyhow!(e))?;
        if params.insert(name.clone(), value).is_some() {
            anyhow::bail!("--param {name} is given twice");
        }
    }
    Ok(params)
}

/// `NAME=VALUE`.
pub fn param(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_string(), value.to_string()))
        }
        _ => Err(format!("\"{text}\" is not NAME=VALUE")),
    }
}

/// The state `--state` names (or the default one), which must exist: runs are of
/// tasks applied.
pub fn applied_state(global: &Global) -> anyhow::Result<std::path::PathBuf> {
    let path = global
        .state
        .clone()
        .unwrap_or_else(crate::state::default_path);
    if !path.exists() {
        anyhow::bail!(
            "no state database at {}; run `orc apply` first",
            path.display()
        );
    }
    Ok(path)
}

pub fn run(args: RunArgs, global: &Global, out: &Output) -> anyhow::Result<ExitCode> {
    let path = applied_state(global)?;
    let state = State::open(&path)?;
    let _log = crate::orclog::init(&path, "run");
    // `--backend` narrows the search like `--folder` (for one folder on two backends).
    let backend = global
        .backend
        .filter(|b| *b != crate::config::BackendKind::Auto)
        .map(crate::workspace::backend_name);
    let trigger = match args.trigger {
        TriggerArg::Scheduled => Trigger::Scheduled,
        TriggerArg::Manual => Trigger::Manual,
        TriggerArg::CatchUp => Trigger::CatchUp,
        TriggerArg::Chain => Trigger::Chain,
        TriggerArg::Backfill => Trigger::Backfill,
    };
    let outcome = crate::ops::run::run(
        &state,
        &RunOptions {
            name: &args.name,
            folder: args.folder.as_deref(),
            backend,
            trigger,
            if_due: args.if_due,
            scheduled_for: args.scheduled_for,
            once_per_fire: args.once_per_fire,
            // Scheduled runs wait for the task's jitter, unless the caller did.
            jitter: matches!(trigger, Trigger::Scheduled) && !args.no_jitter,
            host: &host_name(),
            upstream: args.upstream,
            params: params_by_name(args.params)?,
            side_by_side: args.side_by_side,
        },
    )?;
    let RunOutcome::Ran(report) = outcome else {
        return Ok(ExitCode::SUCCESS);
    };
    if out.json {
        out.print_json(&json!(report));
    } else {
        let status = match report.status {
            exec::Status::Success => out.paint("32", "success"),
            exec::Status::Skipped => out.paint("33", "skipped"),
            exec::Status::Duplicate => out.paint("33", "duplicate"),
            exec::Status::Warning => out.paint("33", "warning"),
            other => out.paint("31", other.as_str()),
        };
        let mut line = format!("run {} of {}: {status}", report.id, report.task);
        if report.attempts > 1 {
            line.push_str(&format!(" after {} attempts", report.attempts));
        }
        if let Some(reason) = &report.reason {
            line.push_str(&format!(" ({reason})"));
        }
        if let Some(log) = &report.log_path {
            line.push_str(&format!("\nlog: {}", log.display()));
        }
        if matches!(
            report.status,
            exec::Status::Success | exec::Status::Duplicate
        ) {
            out.info(&line);
        } else {
            eprintln!("{line}");
        }
    }
    Ok(ExitCode::from(
        u8::try_from(report.process_exit_code()).unwrap_or(1),
    ))
}
