//! `orc status`: the tasks orc applied, when they run next, how they last ran.

use std::process::ExitCode;

use serde_json::json;

use super::{Global, Output};
use crate::config::Task;
use crate::schedule::resolve_zone;
use crate::state::State;

pub fn run(global: &Global, out: &Output) -> anyhow::Result<ExitCode> {
    let path = global
        .state
        .clone()
        .unwrap_or_else(crate::state::default_path);
    if !path.exists() {
        if out.json {
            out.print_json(&json!([]));
        } else {
            out.info(&format!(
                "No tasks applied yet ({} does not exist). Run `orc apply`.",
                path.display()
            ));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let state = State::open(&path)?;
    // Runs whose orc was killed say so before they are shown.
    crate::exec::recover_abandoned(&state, &crate::workspace::host_name());
    let mut rows = task_rows(&state)?;
    if out.json {
        out.print_json(&json!(rows));
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        out.info("No tasks applied yet. Run `orc apply`.");
        return Ok(ExitCode::SUCCESS);
    }
    let cell = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Bool(b) => if *b { "yes" } else { "no" }.to_string(),
        serde_json::Value::Null => "-".to_string(),
        other => other.to_string(),
    };
    let mut headers = vec![
        "NAME",
        "TYPE",
        "SCHEDULE",
        "ENABLED",
        "NEXT RUN",
        "LAST RESULT",
        "LAST DURATION",
    ];
    let mut keys = vec![
        "name",
        "type",
        "schedule",
        "enabled",
        "next_run",
        "last_result",
        "last_duration",
    ];
    // The folder is a column only where configs of more than one folder share the state.
    let folders = folder_count(&state)?;
    if folders > 1 {
        headers.insert(0, "FOLDER");
        keys.insert(0, "folder");
    }
    // And the backend, where one folder is on two backends.
    if state.scopes()?.len() > folders {
        headers.insert(0, "BACKEND");
        keys.insert(0, "backend");
    }
    for row in &mut rows {
        let duration = row["last_duration_ms"]
            .as_i64()
            .map(|ms| format!("{:.1}s", ms as f64 / 1000.0));
        row["last_duration"] = json!(duration);
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| keys.iter().map(|k| cell(&r[*k])).collect())
        .collect();
    let widths: Vec<usize> = (0..headers.len())
        .map(|i| {
            table
                .iter()
                .map(|row| row[i].chars().count())
                .chain([headers[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let headers: Vec<String> = headers.into_iter().map(String::from).collect();
    println!("{}", out.paint("1", &line(&headers)));
    for row in &table {
        println!("{}", line(row));
    }
    let mail = state.mail_summary()?;
    if mail.waiting + mail.given_up > 0 {
        let mut text = format!(
            "\nAlert mail: {} sent, {} waiting to be retried, {} given up",
            mail.sent, mail.waiting, mail.given_up
        );
        if let Some(e) = &mail.last_error {
            text.push_str(&format!(
                "\n  last error: {e}\n  `orc notify flush` retries now"
            ));
        }
        println!("{}", out.paint("33", &text));
    }
    Ok(ExitCode::SUCCESS)
}

/// One JSON object per applied task: schedule, next run, last result. `orc status
/// --json` prints them; the dashboard's API serves them.
pub fn task_rows(state: &State) -> anyhow::Result<Vec<serde_json::Value>> {
    let last_runs = state.last_runs()?;
    let now = jiff::Timestamp::now();
    state
        .tasks()?
        .iter()
        .map(|recorded| {
            let key = (recorded.folder.clone(), recorded.name.clone());
            task_row_of(recorded, last_runs.get(&key), now)
        })
        .collect()
}

/// How many folders hold applied tasks (status and history show a folder column
/// when more than one does).
pub fn folder_count(state: &State) -> anyhow::Result<usize> {
    let scopes = state.scopes()?;
    let folders: std::collections::BTreeSet<&str> =
        scopes.iter().map(|s| s.folder.as_str()).collect();
    Ok(folders.len())
}

/// One task's row, as in [`task_rows`]; None when no such task is applied.
pub fn task_row(state: &State, name: &str) -> anyhow::Result<Option<serde_json::Value>> {
    let Some(recorded) = state.task(name)? else {
        return Ok(None);
    };
    let last = state.last_run(&recorded.folder, name)?;
    task_row_of(&recorded, last.as_ref(), jiff::Timestamp::now()).map(Some)
}

fn task_row_of(
    recorded: &crate::state::RecordedTask,
    last: Option<&crate::state::LastRun>,
    now: jiff::Timestamp,
) -> anyhow::Result<serde_json::Value> {
    let task = Task::from_definition(&recorded.definition)?;
    let next = match (&task.schedule, task.enabled) {
        (Some(s), true) => resolve_zone(&task.timezone)
            .ok()
            .and_then(|tz| s.next_after(&tz, now))
            .map(|t| t.strftime("%Y-%m-%d %H:%M %:z").to_string()),
        _ => None,
    };
    Ok(json!({
        "name": task.name,
        "folder": recorded.folder,
        "backend": recorded.backend,
        "type": task.kind,
        "schedule": task.schedule.as_ref().map(|s| s.source().to_string()),
        "schedule_words": task.schedule.as_ref().map(|s| s.explain()),
        "enabled": task.enabled,
        "next_run": next,
        "last_result": last.map(|l| l.status.clone()),
        "last_run": last.map(|l| l.at.clone()),
        "last_duration_ms": last.and_then(|l| l.duration_ms),
    }))
}
