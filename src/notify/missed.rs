//! Missed runs: fire times at which a task should have started but has no run in the
//! history (the scheduler was off, the Task Scheduler task was disabled by hand, the
//! machine slept). Each fire is examined once: a watermark per task remembers how far
//! the check has looked, so a miss is recorded and alerted exactly once.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use maud::{DOCTYPE, html};

use crate::config::NotifyEvent;
use crate::state::MailEvent;
use crate::state::Result;
use crate::state::{State, timestamp};

/// How long after a fire time its run may take to start (a busy machine, a scheduler
/// that fires late) before the fire counts as missed.
pub const GRACE: Duration = Duration::from_secs(180);
/// The most fire times examined per task in one check (a task every minute, a
/// scheduler off for a week: the count is what matters, not each one).
const MAX_FIRES: usize = 20_000;

/// Fires of one task that have no run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Missed {
    pub task: String,
    pub count: usize,
    pub first: String,
    pub last: String,
}

/// Up to when a task's fires were checked (per folder: names repeat across folders).
fn watermark_key(folder: &str, task: &str) -> String {
    format!("missed_checked:{folder}/{task}")
}

/// The key before states were scoped by folder, still read once after an upgrade.
fn old_watermark_key(task: &str) -> String {
    format!("missed_checked:{task}")
}

fn parse(ts: &str) -> Option<Timestamp> {
    ts.parse().ok()
}

/// Look for missed fires of every applied task up to `now` (less the grace), record
/// each task's misses as one `missed` history row, and queue its `missed` alerts.
pub fn check(state: &State, now: Timestamp, host: &str) -> Result<Vec<Missed>> {
    let mut found = Vec::new();
    // A task run once across a pool is missed only when no host of the pool ran
    // the fire: the fleet's sweep asks the claims (ops::fleet), not each host.
    let pooled = state.fleet_settings()?.is_some_and(|f| f.pool.is_some());
    for recorded in state.tasks()? {
        let folder = recorded.folder.as_str();
        let Ok(task) = recorded.task() else {
            continue;
        };
        if pooled && task.run_on == crate::config::RunOn::One {
            continue;
        }
        let (Some(schedule), true) = (&task.schedule, task.enabled) else {
            continue;
        };
        if schedule.cron().is_none() {
            continue; // @reboot has no fire times to miss
        }
        let slack = slack_of(&task);
        let until = now - SignedDuration::try_from(slack).unwrap_or_default();
        let key = watermark_key(folder, &task.name);
        let checked = match state.setting(&key)? {
            Some(at) => Some(at),
            None => state.setting(&old_watermark_key(&task.name))?,
        };
        let since = checked
            .as_deref()
            .and_then(parse)
            .into_iter()
            .chain(parse(&recorded.applied_at))
            .max();
        let Some(since) = since else { continue };
        if since >= until {
            continue;
        }
        let fires = fires_between(&task, since, until);
        state.set_setting(&key, &timestamp(until))?;
        if fires.is_empty() {
            continue;
        }
        let window_end = until + SignedDuration::try_from(slack).unwrap_or_default();
        let runs = state.runs_between(
            (folder, &task.name),
            &timestamp(fires[0] - SignedDuration::from_secs(60)),
            &timestamp(window_end),
        )?;
        let starts: Vec<Timestamp> = runs.iter().filter_map(|(_, s, _)| parse(s)).collect();
        let scheduled: Vec<Timestamp> = runs
            .iter()
            .filter_map(|(f, _, _)| f.as_deref().and_then(parse))
            .collect();
        let slack = SignedDuration::try_from(slack).unwrap_or_default();
        // The daemon records fires it missed itself: one row at the last of them.
        let reported_until = runs
            .iter()
            .filter(|(_, _, status)| *status == crate::state::RunStatus::Missed)
            .filter_map(|(f, _, _)| f.as_deref().and_then(parse))
            .max();
        // A run belongs to the latest fire at or before its start (a second early is
        // fine), if it started within the slack of it: one run covers one fire, so a
        // late run of a task due every minute does not hide the next minute's miss.
        let mut covered = std::collections::BTreeSet::new();
        for start in &starts {
            let i = fires.partition_point(|f| *f <= *start + SignedDuration::from_secs(1));
            if let Some(f) = i.checked_sub(1).map(|i| fires[i])
                && *start - f <= slack
            {
                covered.insert(f);
            }
        }
        let missed: Vec<Timestamp> = fires
            .into_iter()
            .filter(|f| {
                let ran = reported_until.is_some_and(|r| *f <= r)
                    || scheduled.contains(f)
                    || covered.contains(f);
                !ran
            })
            .collect();
        let (Some(first), Some(last)) = (missed.first(), missed.last()) else {
            continue;
        };
        let m = Missed {
            task: task.name.clone(),
            count: missed.len(),
            first: timestamp(*first),
            last: timestamp(*last),
        };
        let reason = if m.count == 1 {
            format!("missed: no run for the fire at {}", m.first)
        } else {
            format!(
                "missed: no run for {} fires from {} to {}",
                m.count, m.first, m.last
            )
        };
        record(state, &recorded, &m, &reason, host)?;
        found.push(m);
    }
    Ok(found)
}

/// How long after a fire `task`'s run may start before the fire counts as missed.
pub fn slack_of(task: &crate::config::Task) -> Duration {
    GRACE + task.jitter.unwrap_or_default()
}

/// `task`'s fire times in `(since, until]` that its calendars and blackout windows
/// let run straight away (at most [`MAX_FIRES`]).
pub fn fires_between(
    task: &crate::config::Task,
    since: Timestamp,
    until: Timestamp,
) -> Vec<Timestamp> {
    let Some(schedule) = &task.schedule else {
        return Vec::new();
    };
    let tz = task.timezone.tz();
    let mut fires = Vec::new();
    let mut at = since;
    while let Some(next) = schedule.next_after(tz, at) {
        let next = next.timestamp();
        if next > until || fires.len() >= MAX_FIRES {
            break;
        }
        // A fire its calendars skip was never due; one deferred to a window's end
        // is recorded then, as that fire.
        if task.verdict(next) == crate::config::Verdict::Run {
            fires.push(next);
        }
        at = next;
    }
    fires
}

/// Record `m`, the missed fires of `recorded`'s task, as one `missed` history row
/// with `reason`, and queue its `missed` alerts.
pub fn record(
    state: &State,
    recorded: &crate::state::RecordedTask,
    m: &Missed,
    reason: &str,
    host: &str,
) -> Result<()> {
    let Ok(task) = recorded.task() else {
        return Ok(());
    };
    let folder = recorded.folder.as_str();
    state.record_missed((folder, &task.name), &m.last, reason, host)?;
    let scope = recorded.scope();
    let settings = state.notify_settings(Some(&scope))?;
    tracing::warn!("task {}: {reason}", task.name);
    for group_name in &task.notify {
        let Some(group) = settings.notify.get(group_name) else {
            continue;
        };
        if !group.on.contains(&NotifyEvent::Missed) {
            continue;
        }
        let subject = format!("[orc] {} MISSED on {host}", task.name);
        let text = format!(
            "{} should have run but did not.\n\n{reason}.\n\nThe scheduler may have been off, the task disabled outside orc, or the machine asleep. `orc plan` shows drift; `orc history {}` the runs.\n",
            task.name, task.name
        );
        let html = html! {
            (DOCTYPE)
            html {
                body style="font-family:Segoe UI,Arial,sans-serif" {
                    h2 style="color:#cf222e" { (task.name) " MISSED" }
                    p { (reason) "." }
                    p {
                        "The scheduler may have been off, the task disabled outside orc, or the machine asleep. "
                        code { "orc plan" } " shows drift."
                    }
                }
            }
        }
        .into_string();
        let facts = super::hooks::Facts {
            event: MailEvent::Missed.as_str().to_string(),
            task: Some(task.name.clone()),
            host: host.to_string(),
            folder: Some(folder.to_string()),
            status: Some("missed".to_string()),
            reason: Some(reason.to_string()),
            title: subject.clone(),
            text: text.clone(),
            ..super::hooks::Facts::default()
        };
        super::queue_alert(
            state,
            group_name,
            group,
            &super::Alert {
                task: Some(&task.name),
                run_id: None,
                event: MailEvent::Missed,
                subject,
                text,
                html,
                facts,
                scope: Some(&scope),
            },
        )?;
    }
    Ok(())
}

/// [`check`] at most every five minutes per state (whichever orc process gets there
/// first), for `orc run`: cheap when it is not time.
pub fn maybe_check(state: &State, host: &str) -> Result<Vec<Missed>> {
    if !state.claim("missed_check_ran_at", Duration::from_secs(300))? {
        return Ok(Vec::new());
    }
    check(state, Timestamp::now(), host)
}
