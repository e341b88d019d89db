//! `orc backfill NAME --from DATE --to DATE`: run the past fires of a range, in order,
//! each as if scheduled then (`orc run NAME --trigger backfill --scheduled-for FIRE`,
//! in a process of its own), skipping those that already succeeded.

use std::collections::VecDeque;
use std::process::{Child, ExitCode, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use jiff::Timestamp;
use serde_json::{Value, json};

use super::{Global, Output};
use crate::state::{RunStatus, State};

/// More fires than this in one backfill is a range to narrow, not a job to start.
const MAX_FIRES: usize = 10_000;

#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// The task, as last applied
    pub name: String,
    /// The first day (YYYY-MM-DD, in the task's time zone) or instant (RFC 3339)
    #[arg(long, value_name = "DATE")]
    pub from: String,
    /// The last day, included (YYYY-MM-DD), or instant (RFC 3339)
    #[arg(long, value_name = "DATE")]
    pub to: String,
    /// How many fires run at once (in order of their times)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallel: u16,
    /// Run again the fires that already succeeded
    #[arg(long)]
    pub rerun: bool,
    /// A value for one of the task's parameters, for every fire (repeatable)
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = super::run::param)]
    pub params: Vec<(String, String)>,
    /// The task's folder, when several configs have a task of this name
    #[arg(long, value_name = "FOLDER")]
    pub folder: Option<String>,
    /// Only list the fires and what would be done with each
    #[arg(long)]
    pub dry_run: bool,
}

/// One fire of the range, and what became of it.
struct Fire {
    at: Timestamp,
    /// Why it is not run (it already succeeded).
    skip: Option<String>,
    /// The first fire of a blackout window with `blackout_policy = "defer"`: it runs
    /// (its window ended long ago), and the window's later fires are skipped.
    deferred: bool,
    outcome: Option<Value>,
}

pub fn run(args: BackfillArgs, global: &Global, out: &Output) -> anyhow::Result<ExitCode> {
    let path = super::run::applied_state(global)?;
    let state = State::open(&path)?;
    let recorded = crate::exec::find(&state, &args.name, args.folder.as_deref(), None)?;
    let task = recorded.task()?;
    let Some(schedule) = &task.schedule else {
        bail!(
            "task \"{}\" has no schedule: it has no fires to backfill",
            task.name
        );
    };
    if !task.enabled {
        bail!(
            "task \"{}\" is disabled (enabled = false): enable it to backfill it",
            task.name
        );
    }
    super::run::params_by_name(args.params.clone())?;
    if let Some((unknown, _)) = args
        .params
        .iter()
        .find(|(k, _)| !task.params.contains_key(k))
    {
        bail!(
            "--param {unknown}: task \"{}\" has no such parameter",
            task.name
        );
    }
    let tz = task.timezone.tz();
    let from = bound(&args.from, tz, false).with_context(|| format!("--from \"{}\"", args.from))?;
    let to = bound(&args.to, tz, true).with_context(|| format!("--to \"{}\"", args.to))?;
    if to < from {
        bail!("--to {} is before --from {}", args.to, args.from);
    }
    // A range that reaches today (or later) stops at now: a backfill runs fires
    // that have passed.
    let now = Timestamp::now();
    if from > now {
        bail!(
            "--from {} is in the future: a backfill runs fires that have passed",
            args.from
        );
    }
    let to = to.min(now);
    let mut fires = Vec::new();
    let mut at = from - jiff::SignedDuration::from_secs(1);
    while let Some(next) = schedule.next_after(tz, at).map(|z| z.timestamp()) {
        if next > to {
            break;
        }
        if fires.len() == MAX_FIRES {
            bail!(
                "more than {MAX_FIRES} fires from {} to {}: backfill a shorter range at a time",
                args.from,
                args.to
            );
        }
        let done = state.fire_outcome(
            (&recorded.folder, &task.name),
            &crate::state::timestamp(next),
        )?;
        let verdict = task.verdict(next);
        let skip = match done {
            Some(RunStatus::Success) if !args.rerun => {
                Some("already succeeded; --rerun runs it again".to_string())
            }
            Some(RunStatus::Warning) if !args.rerun => {
                Some("already succeeded with a warning; --rerun runs it again".to_string())
            }
            // Its calendars or windows keep it from running: said, not run.
            _ => match &verdict {
                crate::config::Verdict::Skip(why) => Some(why.clone()),
                _ => None,
            },
        };
        fires.push(Fire {
            at: next,
            deferred: skip.is_none() && matches!(verdict, crate::config::Verdict::Defer { .. }),
            skip,
            outcome: None,
        });
        at = next;
    }
    let local = |t: Timestamp| {
        t.to_zoned_datetime(tz.clone())
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string()
    };
    if !out.json {
        let to_run = fires.iter().filter(|f| f.skip.is_none()).count();
        out.info(&format!(
            "{} {} from {} to {}: {} fires, {to_run} to run{}",
            if args.dry_run {
                "Would backfill"
            } else {
                "Backfilling"
            },
            task.name,
            local(from),
            local(to),
            fires.len(),
            if args.parallel > 1 {
                format!(", {} at a time", args.parallel)
            } else {
                String::new()
            }
        ));
    }
    if !args.dry_run {
        run_fires(&args, &path, &recorded, &mut fires, out, &local)?;
    } else if !out.json {
        for f in &fires {
            match &f.skip {
                Some(why) => println!("  {}  skipped: {why}", local(f.at)),
                None => println!("  {}  would run{}", local(f.at), deferred_note(f)),
            }
        }
    }
    let status_of = |f: &Fire| {
        f.outcome
            .as_ref()
            .and_then(|o| o["status"].as_str())
            .map(str::to_string)
    };
    let failed = fires
        .iter()
        .filter(|f| {
            matches!(
                status_of(f).as_deref(),
                Some("failed" | "timeout" | "interrupted" | "oom")
            ) || f.outcome.as_ref().is_some_and(|o| o["error"].is_string())
        })
        .count();
    let ran = fires.iter().filter(|f| f.outcome.is_some()).count();
    let stopped = fires
        .iter()
        .filter(|f| f.skip.is_none() && f.outcome.is_none() && !args.dry_run)
        .count();
    if out.json {
        out.print_json(&json!({
            "task": task.name,
            "from": crate::state::timestamp(from),
            "to": crate::state::timestamp(to),
            "dry_run": args.dry_run,
            "fires": fires.iter().map(|f| json!({
                "scheduled_for": crate::state::timestamp(f.at),
                "skipped": f.skip,
                "deferred": f.deferred,
                "run": f.outcome,
            })).collect::<Vec<_>>(),
            "ran": ran,
            "failed": failed,
            "not_run": stopped,
        }));
    } else if !args.dry_run {
        out.info(&format!(
            "Backfill of {}: {} fires, {ran} run, {failed} failed, {} skipped{}.",
            task.name,
            fires.len(),
            fires.iter().filter(|f| f.skip.is_some()).count(),
            if stopped > 0 {
                format!(", {stopped} not run: the backfill was stopped")
            } else {
                String::new()
            }
        ));
    }
    Ok(if stopped > 0 {
        ExitCode::from(crate::exec::EXIT_INTERRUPTED as u8)
    } else if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// A `--from` or `--to`: a day in `tz` (its first second, or with `end` its last), or
/// an RFC 3339 instant.
fn bound(text: &str, tz: &jiff::tz::TimeZone, end: bool) -> anyhow::Result<Timestamp> {
    let at = bound_as_written(text, tz, end)?;
    // Before any scheduler ran: a typo, and the edge of what the clock can count.
    if at < Timestamp::UNIX_EPOCH {
        bail!("before 1970: a backfill runs fires a schedule could have had");
    }
    Ok(at)
}

fn bound_as_written(text: &str, tz: &jiff::tz::TimeZone, end: bool) -> anyhow::Result<Timestamp> {
    if let Ok(at) = text.parse::<Timestamp>() {
        return Ok(at);
    }
    let day: jiff::civil::Date = text
        .parse()
        .map_err(|_| anyhow::anyhow!("not a date like 2026-12-01 nor an RFC 3339 instant"))?;
    let day = if end { day.tomorrow()? } else { day };
    let start = tz.to_timestamp(day.to_datetime(jiff::civil::Time::midnight()))?;
    Ok(if end {
        start.checked_sub(jiff::SignedDuration::from_secs(1))?
    } else {
        start
    })
}

/// Run the fires to run, `--parallel` at a time, started in order, each told as it
/// ends.
fn run_fires(
    args: &BackfillArgs,
    state: &std::path::Path,
    recorded: &crate::state::RecordedTask,
    fires: &mut [Fire],
    out: &Output,
    local: &dyn Fn(Timestamp) -> String,
) -> anyhow::Result<()> {
    let orc = std::env::current_exe().context("cannot find orc's own executable")?;
    // SIGTERM or Ctrl-C: no fire more is started, the runs going are asked to stop
    // (and recorded interrupted), and the summary says what was not run.
    crate::exec::stop_on_signals()?;
    let mut told = false;
    let mut waiting: VecDeque<usize> = (0..fires.len())
        .filter(|i| fires[*i].skip.is_none())
        .collect();
    let mut running: Vec<(usize, Child)> = Vec::new();
    // The skipped fires are told in their place among the others: those before the
    // fire about to start, and at the end the rest.
    let mut told_up_to = 0;
    let mut tell_skips = |before: usize, fires: &[Fire]| {
        for f in &fires[told_up_to.min(before)..before] {
            if let (Some(why), false) = (&f.skip, out.json) {
                println!("  {}  skipped: {why}", local(f.at));
            }
        }
        told_up_to = told_up_to.max(before);
    };
    while !waiting.is_empty() || !running.is_empty() {
        if crate::exec::stop_requested() {
            waiting.clear();
            if !told {
                told = true;
                for (_, child) in &mut running {
                    stop(child);
                }
            }
        }
        while running.len() < usize::from(args.parallel)
            && let Some(i) = waiting.pop_front()
        {
            tell_skips(i, fires);
            let mut command =
                crate::ops::chain::run_command(&orc, state, recorded, &args.name, "backfill");
            command
                .args(["--json", "--scheduled-for"])
                .arg(crate::state::timestamp(fires[i].at))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            if args.parallel > 1 {
                command.arg("--side-by-side");
            }
            for (k, v) in &args.params {
                command.arg(format!("--param={k}={v}"));
            }
            running.push((i, command.spawn().context("cannot start orc run")?));
        }
        let mut ended = None;
        for (n, (_, child)) in running.iter_mut().enumerate() {
            if child.try_wait()?.is_some() {
                ended = Some(n);
                break;
            }
        }
        let Some(n) = ended else {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        let (i, child) = running.swap_remove(n);
        let output = child.wait_with_output()?;
        let outcome = serde_json::from_slice::<Value>(&output.stdout).unwrap_or_else(
            |_| json!({ "error": String::from_utf8_lossy(&output.stderr).trim().to_string() }),
        );
        if !out.json {
            let what = match (outcome["status"].as_str(), outcome["id"].as_i64()) {
                (Some(status), Some(id)) => format!(
                    "{status} (run {id}){}",
                    outcome["reason"]
                        .as_str()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                ),
                _ => format!("not run: {}", outcome["error"].as_str().unwrap_or("?")),
            };
            println!(
                "  {}  {what}{}",
                local(fires[i].at),
                deferred_note(&fires[i])
            );
        }
        fires[i].outcome = Some(outcome);
    }
    tell_skips(fires.len(), fires);
    Ok(())
}

/// Said of the fire a blackout window deferred.
fn deferred_note(fire: &Fire) -> &'static str {
    if fire.deferred {
        " (the first fire of its blackout window, deferred to its end; the later ones are skipped)"
    } else {
        ""
    }
}

/// Ask a fire's `orc run` to stop, as SIGTERM does: it stops its task's tree and
/// records the run as interrupted.
fn stop(child: &mut Child) {
    #[cfg(unix)]
    // SAFETY: signals our own child, whose pid is not reaped yet.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    #[cfg(not(unix))]
    let _ = child.kill();
}
