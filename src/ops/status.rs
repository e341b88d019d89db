//! What orc applied and how it last ran: one [`TaskStatus`] per task, for `orc
//! status`, `GET /api/tasks` and the dashboard's grid.

use serde::Serialize;

use crate::config::TaskType;
use crate::state::{LastRun, RecordedTask, State};

/// One applied task: where it lives, when it runs next, how it last ran. Serialised
/// as `orc status --json` and the API give it.
#[derive(Debug, Clone, Serialize)]
pub struct TaskStatus {
    // In the order of their names, as `orc status --json` (a sorted map) gives them.
    pub backend: String,
    pub enabled: bool,
    pub folder: String,
    pub last_duration_ms: Option<i64>,
    /// The last run's status.
    pub last_result: Option<crate::state::RunStatus>,
    pub last_run: Option<String>,
    pub name: String,
    /// The next scheduled start, `YYYY-MM-DD HH:MM ±HH:MM` in the task's zone.
    pub next_run: Option<String>,
    /// The schedule as written; None for a task run only on demand.
    pub schedule: Option<String>,
    /// The schedule in plain words.
    pub schedule_words: Option<String>,
    #[serde(rename = "type")]
    pub kind: TaskType,
}

/// Every applied task's status.
pub fn tasks(state: &State) -> crate::state::Result<Vec<TaskStatus>> {
    let last_runs = state.last_runs()?;
    let now = jiff::Timestamp::now();
    state
        .tasks()?
        .iter()
        .map(|recorded| {
            let key = (recorded.folder.clone(), recorded.name.clone());
            status_of(recorded, last_runs.get(&key), now)
        })
        .collect()
}

/// One task's status, as in [`tasks`]; None when no such task is applied.
pub fn task(state: &State, name: &str) -> crate::state::Result<Option<TaskStatus>> {
    let Some(recorded) = state.task(name)? else {
        return Ok(None);
    };
    let last = state.last_run(&recorded.folder, name)?;
    status_of(&recorded, last.as_ref(), jiff::Timestamp::now()).map(Some)
}

/// How many folders hold applied tasks (status and history show a folder column
/// when more than one does).
pub fn folder_count(state: &State) -> crate::state::Result<usize> {
    let scopes = state.scopes()?;
    let folders: std::collections::BTreeSet<&str> =
        scopes.iter().map(|s| s.folder.as_str()).collect();
    Ok(folders.len())
}

fn status_of(
    recorded: &RecordedTask,
    last: Option<&LastRun>,
    now: jiff::Timestamp,
) -> crate::state::Result<TaskStatus> {
    let task = recorded.task()?;
    let next_run = match (&task.schedule, task.enabled) {
        // Calendars and blackout windows applied: the next fire that runs.
        (Some(_), true) => task.next_run_after(now).map(|t| {
            t.to_zoned_datetime(task.timezone.tz().clone())
                .strftime("%Y-%m-%d %H:%M %:z")
                .to_string()
        }),
        _ => None,
    };
    Ok(TaskStatus {
        schedule: task.schedule.as_ref().map(|s| s.source().to_string()),
        schedule_words: task.schedule.as_ref().map(|s| s.explain()),
        name: task.name,
        folder: recorded.folder.clone(),
        backend: recorded.backend.clone(),
        kind: task.kind,
        enabled: task.enabled,
        next_run,
        last_result: last.map(|l| l.status),
        last_run: last.map(|l| l.at.clone()),
        last_duration_ms: last.and_then(|l| l.duration_ms),
    })
}
