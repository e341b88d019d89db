//! `orc report`: how the runs of a period went, as numbers (JSON), text, or one
//! self-contained HTML file that reads well in a mail client.

pub(crate) mod html;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::state::{DurationFlag, Result, RunFilter, RunRecord, RunStatus, State};

pub use html::render_html;

/// Durations kept per task for its trend line.
const TREND_RUNS: usize = 20;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub host: String,
    pub since: String,
    pub until: String,
    pub totals: BTreeMap<String, u64>,
    pub runs: u64,
    /// Successes (warnings included) over runs that finished (success, warning,
    /// failed, timeout, interrupted); `None` without any.
    pub success_rate: Option<f64>,
    pub problems: Vec<Problem>,
    /// Runs that ended with one of their task's `warning_exit_codes`.
    pub warnings: Vec<Problem>,
    pub missed: Vec<Problem>,
    /// Runs alerted for their duration: past `max_duration`, or a success under
    /// `min_duration`.
    pub duration_alerts: Vec<DurationAlert>,
    pub slowest: Vec<Slow>,
    pub tasks: Vec<TaskTrend>,
    pub drift: Option<Drift>,
}

/// A failed, timed-out, interrupted or missed run.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub task: String,
    pub run: i64,
    pub at: String,
    pub status: RunStatus,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
}

/// A run alerted for its duration.
#[derive(Debug, Clone, Serialize)]
pub struct DurationAlert {
    pub task: String,
    pub run: i64,
    pub at: String,
    pub flag: DurationFlag,
    pub status: RunStatus,
    pub duration_ms: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Slow {
    pub task: String,
    pub runs: u64,
    pub max_ms: i64,
    pub mean_ms: i64,
}

/// One task's runs in the period and its latest durations, oldest first.
#[derive(Debug, Clone, Serialize)]
pub struct TaskTrend {
    pub task: String,
    pub runs: u64,
    pub failures: u64,
    pub durations_ms: Vec<i64>,
}

/// What the last apply found changed outside orc.
#[derive(Debug, Clone, Serialize)]
pub struct Drift {
    pub at: String,
    pub tasks: Vec<(String, String)>,
}

fn is_finished_outcome(status: RunStatus) -> bool {
    matches!(status, RunStatus::Success | RunStatus::Warning) || status.is_failure()
}

/// The report of the runs started in `[since, until]`.
pub fn build(
    state: &State,
    since: jiff::Timestamp,
    until: jiff::Timestamp,
    host: &str,
) -> Result<Report> {
    let runs = state.runs(&RunFilter {
        since: Some(crate::state::timestamp(since)),
        limit: usize::MAX >> 1,
        ..RunFilter::default()
    })?;
    Ok(summarise(runs, (since, until), host, last_drift(state)?))
}

/// The report of `runs`, those started in `[since, until]` (the others are left
/// out), as seen from `host`.
pub fn summarise(
    runs: Vec<RunRecord>,
    (since, until): (jiff::Timestamp, jiff::Timestamp),
    host: &str,
    drift: Option<Drift>,
) -> Report {
    let since_text = crate::state::timestamp(since);
    let until_text = crate::state::timestamp(until);
    let runs: Vec<RunRecord> = runs
        .into_iter()
        // A run still going (the report's own, for one) has no result yet; one that
        // ran on another host of the pool is that host's.
        .filter(|r| {
            r.started_at
                .parse::<jiff::Timestamp>()
                .is_ok_and(|at| since <= at && at <= until)
                && r.status != RunStatus::Running
                && r.status != RunStatus::Duplicate
        })
        .collect();
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    for r in &runs {
        *totals.entry(r.status.as_str().to_string()).or_default() += 1;
    }
    let finished: u64 = totals
        .iter()
        .filter(|(s, _)| s.parse().is_ok_and(is_finished_outcome))
        .map(|(_, n)| n)
        .sum();
    let succeeded = ["success", "warning"]
        .iter()
        .map(|s| *totals.get(*s).unwrap_or(&0))
        .sum::<u64>();
    let success_rate = (finished > 0).then(|| succeeded as f64 / finished as f64);
    let problem = |r: &RunRecord| Problem {
        task: r.task.clone(),
        run: r.id,
        at: r
            .scheduled_for
            .clone()
            .unwrap_or_else(|| r.started_at.clone()),
        status: r.status,
        exit_code: r.exit_code,
        reason: r.reason.clone(),
    };
    let mut problems: Vec<Problem> = runs
        .iter()
        .filter(|r| r.status.is_failure())
        .map(problem)
        .collect();
    problems.sort_by(|a, b| a.at.cmp(&b.at));
    let mut warnings: Vec<Problem> = runs
        .iter()
        .filter(|r| r.status == RunStatus::Warning)
        .map(problem)
        .collect();
    warnings.sort_by(|a, b| a.at.cmp(&b.at));
    let mut missed: Vec<Problem> = runs
        .iter()
        .filter(|r| r.status == RunStatus::Missed)
        .map(problem)
        .collect();
    missed.sort_by(|a, b| a.at.cmp(&b.at));
    let mut duration_alerts: Vec<DurationAlert> = runs
        .iter()
        .filter_map(|r| {
            Some(DurationAlert {
                task: r.task.clone(),
                run: r.id,
                at: r.started_at.clone(),
                flag: r.duration_flag?,
                status: r.status,
                duration_ms: r.duration_ms,
            })
        })
        .collect();
    duration_alerts.sort_by(|a, b| a.at.cmp(&b.at));

    let mut by_task: BTreeMap<&str, Vec<&RunRecord>> = BTreeMap::new();
    for r in &runs {
        by_task.entry(&r.task).or_default().push(r);
    }
    // Durations are those of runs that ran: a skipped run took no time of its task.
    let ran = |r: &&&RunRecord| is_finished_outcome(r.status);
    let mut slowest: Vec<Slow> = by_task
        .iter()
        .filter_map(|(task, rs)| {
            let durations: Vec<i64> = rs
                .iter()
                .filter(ran)
                .filter_map(|r| r.duration_ms)
                .collect();
            let max = *durations.iter().max()?;
            Some(Slow {
                task: task.to_string(),
                runs: durations.len() as u64,
                max_ms: max,
                mean_ms: durations.iter().sum::<i64>() / durations.len() as i64,
            })
        })
        .collect();
    slowest.sort_by(|a, b| b.max_ms.cmp(&a.max_ms).then(a.task.cmp(&b.task)));
    slowest.truncate(5);
    let tasks = by_task
        .iter()
        .map(|(task, rs)| {
            let mut timed: Vec<&&RunRecord> = rs
                .iter()
                .filter(ran)
                .filter(|r| r.duration_ms.is_some())
                .collect();
            timed.sort_by_key(|r| r.id);
            let start = timed.len().saturating_sub(TREND_RUNS);
            TaskTrend {
                task: task.to_string(),
                runs: rs.iter().filter(|r| is_finished_outcome(r.status)).count() as u64,
                failures: rs.iter().filter(|r| r.status.is_failure()).count() as u64,
                durations_ms: timed[start..]
                    .iter()
                    .filter_map(|r| r.duration_ms)
                    .collect(),
            }
        })
        .collect();
    Report {
        host: host.to_string(),
        since: since_text,
        until: until_text,
        runs: runs.len() as u64,
        totals,
        success_rate,
        problems,
        warnings,
        duration_alerts,
        missed,
        slowest,
        tasks,
        drift,
    }
}

/// Tasks the last apply found changed or deleted outside orc.
fn last_drift(state: &State) -> Result<Option<Drift>> {
    let Some((at, plan)) = state.last_apply_plan()? else {
        return Ok(None);
    };
    let plan: serde_json::Value = serde_json::from_str(&plan).unwrap_or_default();
    let tasks: Vec<(String, String)> = plan["changes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            Some((
                c["name"].as_str()?.to_string(),
                c["drift"].as_str()?.replace('_', " "),
            ))
        })
        .collect();
    Ok(Some(Drift { at, tasks }))
}

pub(crate) fn seconds(ms: i64) -> String {
    if ms >= 60_000 {
        format!("{}m{:02}s", ms / 60_000, (ms % 60_000) / 1000)
    } else {
        format!("{:.1}s", ms as f64 / 1000.0)
    }
}

/// What a duration flag means, in a report's words.
pub(crate) fn duration_flag_words(flag: DurationFlag) -> &'static str {
    match flag {
        DurationFlag::Slow => "ran past its max_duration",
        DurationFlag::TooFast => "succeeded under its min_duration",
    }
}

/// The report as plain text.
pub fn render_text(r: &Report) -> String {
    let mut out = format!(
        "orc report for {} from {} to {}\n\n",
        r.host, r.since, r.until
    );
    let rate = r
        .success_rate
        .map_or("-".to_string(), |x| format!("{:.1}%", x * 100.0));
    out.push_str(&format!("Runs: {}   success rate: {rate}\n", r.runs));
    for (status, n) in &r.totals {
        out.push_str(&format!("  {status:<12} {n}\n"));
    }
    if !r.problems.is_empty() {
        out.push_str("\nFailures and timeouts:\n");
        for p in &r.problems {
            out.push_str(&format!(
                "  {} {} {} (run {}){}\n",
                p.at,
                p.task,
                p.status,
                p.run,
                p.reason
                    .as_deref()
                    .map(|x| format!(": {x}"))
                    .unwrap_or_default()
            ));
        }
    }
    if !r.warnings.is_empty() {
        out.push_str("\nWarnings:\n");
        for p in &r.warnings {
            out.push_str(&format!(
                "  {} {} exit {} (run {})\n",
                p.at,
                p.task,
                p.exit_code.map_or("-".to_string(), |c| c.to_string()),
                p.run,
            ));
        }
    }
    if !r.missed.is_empty() {
        out.push_str("\nMissed:\n");
        for p in &r.missed {
            out.push_str(&format!(
                "  {} {}: {}\n",
                p.at,
                p.task,
                p.reason.as_deref().unwrap_or("missed")
            ));
        }
    }
    if !r.duration_alerts.is_empty() {
        out.push_str("\nDuration alerts:\n");
        for d in &r.duration_alerts {
            out.push_str(&format!(
                "  {} {} {} (run {}, {}, {})\n",
                d.at,
                d.task,
                duration_flag_words(d.flag),
                d.run,
                d.status,
                d.duration_ms.map_or("-".to_string(), seconds)
            ));
        }
    }
    if !r.slowest.is_empty() {
        out.push_str("\nSlowest tasks:\n");
        for s in &r.slowest {
            out.push_str(&format!(
                "  {:<24} max {:>8}  mean {:>8}  ({} runs)\n",
                s.task,
                seconds(s.max_ms),
                seconds(s.mean_ms),
                s.runs
            ));
        }
    }
    if let Some(d) = &r.drift
        && !d.tasks.is_empty()
    {
        out.push_str(&format!("\nDrift found by the last apply ({}):\n", d.at));
        for (task, what) in &d.tasks {
            out.push_str(&format!("  {task}: {what}\n"));
        }
    }
    out
}
